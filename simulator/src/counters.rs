//! Call counters: how often each operation was called, failed calls included.

use std::collections::BTreeMap;

use super::operation_names::OPERATIONS;

/// Calls per operation name; every known operation starts at 0.
pub(super) struct Counters(BTreeMap<String, u64>);

impl Default for Counters {
    fn default() -> Self {
        Counters(OPERATIONS.iter().map(|op| (op.to_string(), 0)).collect())
    }
}

impl Counters {
    pub(super) fn count(&mut self, operation: &str) {
        *self.0.entry(operation.to_string()).or_default() += 1;
    }

    pub(super) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.clone()
    }

    pub(super) fn reset(&mut self) {
        self.0.values_mut().for_each(|n| *n = 0);
    }
}

//! What discovery knows without asking ARM: a Network Watcher and its region, ARM's region comparison, and the
//! per-subscription cache of watcher lists that the client holds. A leaf: the calls that fill the cache are in
//! `discovery.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::id::ResourceId;

/// A Network Watcher and its region (as Azure spells it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkWatcher {
    pub id: ResourceId,
    pub location: String,
}

/// `westeurope` for `West Europe`, `westeurope`, `WestEurope`: ARM region names compared as ARM does.
pub fn normalize_region(region: &str) -> String {
    region.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

pub fn same_region(a: &str, b: &str) -> bool {
    normalize_region(a) == normalize_region(b)
}

pub(super) struct Cached {
    pub fetched: Instant,
    pub watchers: Vec<NetworkWatcher>,
}

pub(super) type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Per-subscription watcher lists. One list request at a time per subscription: concurrent callers wait
/// for it and share its answer.
pub(super) struct WatcherCache {
    ttl: Duration,
    subscriptions: std::sync::Mutex<HashMap<String, Slot>>,
}

impl WatcherCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self { ttl, subscriptions: std::sync::Mutex::new(HashMap::new()) }
    }

    pub(super) fn slot(&self, subscription: &str) -> Slot {
        let mut subscriptions = self.subscriptions.lock().expect("not poisoned");
        subscriptions.entry(subscription.to_ascii_lowercase()).or_default().clone()
    }

    pub(super) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Drops the cached list of a subscription.
    pub(super) fn forget(&self, subscription: &str) {
        self.subscriptions.lock().expect("not poisoned").remove(&subscription.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_compare_ignoring_case_and_spaces() {
        assert!(same_region("West Europe", "westeurope"));
        assert!(same_region("westeurope", "WestEurope"));
        assert!(same_region("  East US 2", "eastus2"));
        assert!(!same_region("eastus", "eastus2"));
        assert_eq!(normalize_region("North Europe"), "northeurope");
    }
}

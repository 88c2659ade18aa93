//! The write log: every change to the flow-log store, in the order it happened, for tests that check the order of
//! writes ("no traffic unlogged in between"), and every write request the simulator accepted, for tests that count
//! them ("no write applied twice": a write that sets what Azure already has changes nothing, but is still a write).
//! Off until asked for; then each access to the state compares the store with what the log saw last, so a change
//! shows up at the next access after it (in order: the state is behind one lock).

use std::collections::BTreeMap;
use std::time::Instant;

use super::flow_log_store::StoredFlowLog;

/// One change to one flow log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLogChange {
    /// 1, 2, ...: the order of the changes.
    pub seq: u64,
    /// Milliseconds since the log was switched on.
    pub at_ms: u64,
    /// The target's ID (inventory casing).
    pub target: String,
    /// The flow log's name.
    pub name: String,
    /// `enabled` before (`None`: the flow log did not exist).
    pub before: Option<bool>,
    /// `enabled` after (`None`: deleted).
    pub after: Option<bool>,
}

/// One write request the simulator accepted (it passed every check and was applied, whatever became of its
/// long-running operation afterwards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedWrite {
    /// Milliseconds since the log was switched on.
    pub at_ms: u64,
    /// `configureFlowLog`, `flowLogsCreateOrUpdate` or `flowLogsDelete`.
    pub operation: String,
    /// The target's ID (inventory casing).
    pub target: String,
}

pub(super) struct WriteLog {
    started: Instant,
    /// Per flow log (watcher, lower-case name): its target, `enabled` and settings as last seen.
    seen: BTreeMap<(usize, String), (String, bool, String)>,
    pub(super) changes: Vec<FlowLogChange>,
    pub(super) accepted: Vec<AcceptedWrite>,
}

fn fingerprint(f: &StoredFlowLog) -> (String, bool, String) {
    (f.target.clone(), f.settings.properties.enabled, format!("{:?}", f.settings))
}

impl WriteLog {
    pub(super) fn new(flow_logs: &[StoredFlowLog]) -> WriteLog {
        let seen = flow_logs.iter().map(|f| ((f.watcher, f.name.to_ascii_lowercase()), fingerprint(f))).collect();
        WriteLog { started: Instant::now(), seen, changes: Vec::new(), accepted: Vec::new() }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records write requests the state accepted since the last call.
    pub(super) fn accepted(&mut self, writes: Vec<(&'static str, String)>) {
        let at_ms = self.now_ms();
        self.accepted.extend(writes.into_iter().map(|(operation, target)| AcceptedWrite {
            at_ms,
            operation: operation.into(),
            target,
        }));
    }

    /// Records what changed in `flow_logs` since the last call.
    pub(super) fn catch_up(&mut self, flow_logs: &[StoredFlowLog]) {
        let now: BTreeMap<(usize, String), (String, bool, String)> =
            flow_logs.iter().map(|f| ((f.watcher, f.name.to_ascii_lowercase()), fingerprint(f))).collect();
        if now == self.seen {
            return;
        }
        let at_ms = self.now_ms();
        let names: BTreeMap<(usize, String), String> =
            flow_logs.iter().map(|f| ((f.watcher, f.name.to_ascii_lowercase()), f.name.clone())).collect();
        let mut push = |target: &str, name: &str, before: Option<bool>, after: Option<bool>| {
            let seq = self.changes.len() as u64 + 1;
            self.changes.push(FlowLogChange { seq, at_ms, target: target.into(), name: name.into(), before, after });
        };
        for (key, (target, enabled, settings)) in &now {
            match self.seen.get(key) {
                Some((_, was, old)) if old == settings => {}
                Some((_, was, _)) => push(target, &names[key], Some(*was), Some(*enabled)),
                None => push(target, &names[key], None, Some(*enabled)),
            }
        }
        for (key, (target, was, _)) in &self.seen {
            if !now.contains_key(key) {
                push(target, &key.1, Some(*was), None);
            }
        }
        self.seen = now;
    }
}

//! Observe by watcher, not by target: one paged `GET .../networkWatchers/{nw}/flowLogs` answers for every flow log
//! of the watcher's region (NSG flow logs are `flowLogs` resources too), so the checks of all policies on one
//! watcher share it. A snapshot is reused while it is younger than the asking policy's interval; the first check
//! after that refreshes it (one refresh at a time per watcher: the others wait for it rather than list again).
//! A target missing from a complete list has no flow log. After a read of one flow log or a write, the snapshot
//! holds Azure's latest answer for that target.
//!
//! Policies in a steady state **subscribe** to their watcher: [`FlowLogIndex::refresh`] lists a watcher whose
//! snapshot is older than its period and answers which targets changed since the list before, so that only their
//! policies need to be checked again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::azure::id::ResourceId;
use crate::azure::model::FlowLog;
use crate::azure::{ArmClient, ArmError};

/// Snapshots of the watchers in use, per credential scope.
#[derive(Default)]
pub struct FlowLogIndex {
    watchers: Mutex<HashMap<(u64, String), Arc<Watcher>>>,
}

struct Watcher {
    id: ResourceId,
    /// Held while listing: one list per watcher at a time.
    refresh: tokio::sync::Mutex<()>,
    snapshot: Mutex<Option<Snapshot>>,
    /// Last asked for (a watcher nobody asks about for long is dropped).
    used: Mutex<Option<Instant>>,
    /// The client and period of the policies that subscribed: the shortest period wins.
    subscription: Mutex<Option<(ArmClient, Duration)>>,
    /// When the refresher's last list failed.
    failed: Mutex<Option<Instant>>,
}

struct Snapshot {
    listed: Instant,
    /// By lower-cased target ID, each flow log [`pack`]ed.
    by_target: HashMap<Box<str>, Packed>,
}

/// What the index knows about one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// The target's flow log; `None` when the list does not show one.
    pub flow_log: Option<FlowLog>,
    /// Whether this look-up listed the watcher (a fresh answer) or used a snapshot.
    pub listed: bool,
}

/// Watchers nobody asked about for this long are forgotten (their policies are gone or moved).
const UNUSED: Duration = Duration::from_secs(3 * 3600);

fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

impl FlowLogIndex {
    /// The watcher's entry, created on first use; a policy's look-up, record or subscription counts as use (the
    /// refresher's own lists do not, so that a watcher whose policies are gone is dropped).
    fn watcher(&self, arm: &ArmClient, watcher: &ResourceId) -> Arc<Watcher> {
        self.entry(arm, watcher, true)
    }

    fn entry(&self, arm: &ArmClient, watcher: &ResourceId, used: bool) -> Arc<Watcher> {
        let now = Instant::now();
        let mut watchers = self.watchers.lock().expect("not poisoned");
        let entry = watchers
            .entry((arm.scope(), key(watcher.as_str())))
            .or_insert_with(|| {
                Arc::new(Watcher {
                    id: watcher.clone(),
                    refresh: tokio::sync::Mutex::new(()),
                    snapshot: Mutex::new(None),
                    used: Mutex::new(None),
                    subscription: Mutex::new(None),
                    failed: Mutex::new(None),
                })
            })
            .clone();
        if used {
            *entry.used.lock().expect("not poisoned") = Some(now);
        }
        if watchers.len() > 1 {
            watchers
                .retain(|_, w| w.used.lock().expect("not poisoned").is_some_and(|t| now.duration_since(t) < UNUSED));
        }
        entry
    }

    /// The target's flow log from a snapshot of its watcher no older than `max_age`, listing the watcher (every
    /// page) when there is none.
    pub async fn look_up(
        &self,
        arm: &ArmClient,
        watcher: &ResourceId,
        target: &ResourceId,
        max_age: Duration,
    ) -> Result<Seen, ArmError> {
        let entry = self.watcher(arm, watcher);
        let target = key(target.as_str());
        let fresh = |entry: &Watcher| -> Option<Option<Packed>> {
            let snapshot = entry.snapshot.lock().expect("not poisoned");
            let snapshot = snapshot.as_ref().filter(|s| s.listed.elapsed() < max_age)?;
            Some(snapshot.by_target.get(target.as_str()).cloned())
        };
        if let Some(packed) = fresh(&entry) {
            return Ok(Seen { flow_log: packed.as_ref().map(unpack).transpose()?, listed: false });
        }
        let _listing = entry.refresh.lock().await;
        // Another check may have listed while this one waited.
        if let Some(packed) = fresh(&entry) {
            return Ok(Seen { flow_log: packed.as_ref().map(unpack).transpose()?, listed: false });
        }
        let snapshot = list(&entry, arm).await?;
        let flow_log = snapshot.by_target.get(target.as_str()).map(unpack).transpose()?;
        *entry.snapshot.lock().expect("not poisoned") = Some(snapshot);
        Ok(Seen { flow_log, listed: true })
    }

    /// Subscribes a policy in a steady state to its watcher: [`FlowLogIndex::refresh`] lists the watcher at least
    /// every `period` (the shortest of its subscribers').
    pub fn subscribe(&self, arm: &ArmClient, watcher: &ResourceId, period: Duration) {
        let entry = self.watcher(arm, watcher);
        let mut subscription = entry.subscription.lock().expect("not poisoned");
        let period = subscription.as_ref().map_or(period, |(_, p)| period.min(*p));
        *subscription = Some((arm.clone(), period));
    }

    /// The subscribed watchers whose snapshot is older than their period (or missing), with a client for each.
    pub fn due(&self) -> Vec<(ArmClient, ResourceId)> {
        let watchers: Vec<Arc<Watcher>> = self.watchers.lock().expect("not poisoned").values().cloned().collect();
        watchers
            .into_iter()
            .filter_map(|w| {
                let (arm, period) = w.subscription.lock().expect("not poisoned").clone()?;
                let failed = w.failed.lock().expect("not poisoned").is_some_and(|t| t.elapsed() < period);
                let age = w.snapshot.lock().expect("not poisoned").as_ref().map(|s| s.listed.elapsed());
                (!failed && age.is_none_or(|age| age >= period)).then(|| (arm, w.id.clone()))
            })
            .collect()
    }

    /// Lists the watcher again and answers the targets (lower-cased IDs) whose flow log appeared, changed or went
    /// since the list before; none when there was no list before.
    pub async fn refresh(&self, arm: &ArmClient, watcher: &ResourceId) -> Result<Vec<String>, ArmError> {
        let entry = self.entry(arm, watcher, false);
        let _listing = entry.refresh.lock().await;
        let now = match list(&entry, arm).await {
            Ok(now) => now,
            Err(e) => {
                // Not again before another period: a failing watcher is not listed in a loop.
                *entry.failed.lock().expect("not poisoned") = Some(Instant::now());
                return Err(e);
            }
        };
        *entry.failed.lock().expect("not poisoned") = None;
        let mut snapshot = entry.snapshot.lock().expect("not poisoned");
        let before = snapshot.replace(now);
        let (Some(before), Some(now)) = (before, snapshot.as_ref()) else { return Ok(vec![]) };
        let mut changed: Vec<String> = now
            .by_target
            .iter()
            .filter(|(target, log)| before.by_target.get(*target) != Some(log))
            .map(|(target, _)| target.to_string())
            .collect();
        changed.extend(before.by_target.keys().filter(|t| !now.by_target.contains_key(*t)).map(|t| t.to_string()));
        Ok(changed)
    }

    /// Records Azure's latest answer for a target (after a read of it or a write): `None` when it has no flow log.
    pub fn record(&self, arm: &ArmClient, watcher: &ResourceId, target: &str, flow_log: Option<FlowLog>) {
        let entry = self.watcher(arm, watcher);
        let mut snapshot = entry.snapshot.lock().expect("not poisoned");
        if let Some(snapshot) = snapshot.as_mut() {
            match flow_log {
                Some(mut log) => {
                    // A legacy answer has no name, ID or region: keep those the list showed.
                    if let Some(Ok(listed)) = snapshot.by_target.get(key(target).as_str()).map(unpack) {
                        log.name = log.name.or(listed.name);
                        log.id = log.id.or(listed.id);
                        log.location = log.location.or(listed.location);
                    }
                    snapshot.by_target.insert(key(target).into(), pack(log))
                }
                None => snapshot.by_target.remove(key(target).as_str()),
            };
        }
    }

    /// Drops the watcher's snapshot: the next check lists it again (after a write Azure refused, which may mean
    /// that the snapshot missed a change).
    pub fn invalidate(&self, arm: &ArmClient, watcher: &ResourceId) {
        *self.watcher(arm, watcher).snapshot.lock().expect("not poisoned") = None;
    }
}

/// Lists a watcher, every page.
async fn list(entry: &Watcher, arm: &ArmClient) -> Result<Snapshot, ArmError> {
    let listed = Instant::now();
    let logs = arm.list_flow_logs(&entry.id).await?;
    let mut by_target: HashMap<Box<str>, Packed> =
        logs.into_iter().map(|log| (key(&log.properties.target_resource_id).into(), pack(log))).collect();
    by_target.shrink_to_fit();
    Ok(Snapshot { listed, by_target })
}

/// A flow log as a snapshot keeps it: what planning needs (not its tags, etag or type) as compact JSON, about half
/// the memory of the parsed value with its dozen separately allocated strings. A look-up parses it again (a few
/// microseconds, once per check); comparing two lists compares bytes.
type Packed = Box<[u8]>;

fn pack(mut log: FlowLog) -> Packed {
    log.tags = None;
    log.etag = None;
    log.resource_type = None;
    serde_json::to_vec(&log).unwrap_or_default().into_boxed_slice()
}

fn unpack(packed: &Packed) -> Result<FlowLog, ArmError> {
    // What `pack` wrote parses back; were it ever not to, the check fails (and is retried) rather than misread it.
    serde_json::from_slice(packed).map_err(|e| ArmError::InvalidResponse(format!("a listed flow log, kept: {e}")))
}

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

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::azure::id::ResourceId;
use crate::azure::model::FlowLog;
use crate::azure::{ArmClient, ArmError};
use crate::packed;

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
    /// By target ID (compared as ARM compares IDs), each flow log [`Packed`].
    by_target: HashMap<TargetKey, Packed>,
    /// The storage accounts and regions the flow logs name, each kept once (thousands of flow logs share a few).
    strings: HashSet<Arc<str>>,
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

/// A target's ID as a snapshot keys it: its own spelling (which a packed flow log leaves out), compared as ARM
/// compares IDs (case-insensitive, a trailing slash meaning nothing).
#[derive(Clone, Debug)]
struct TargetKey(Box<str>);

impl TargetKey {
    fn trimmed(&self) -> &str {
        self.0.trim_end_matches('/')
    }
}

impl PartialEq for TargetKey {
    fn eq(&self, other: &Self) -> bool {
        self.trimmed().eq_ignore_ascii_case(other.trimmed())
    }
}

impl Eq for TargetKey {}

impl Hash for TargetKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let trimmed = self.trimmed();
        state.write_usize(trimmed.len());
        for b in trimmed.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
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
        let target = TargetKey(target.as_str().into());
        let fresh = |entry: &Watcher| -> Option<Result<Option<FlowLog>, ArmError>> {
            let snapshot = entry.snapshot.lock().expect("not poisoned");
            let snapshot = snapshot.as_ref().filter(|s| s.listed.elapsed() < max_age)?;
            Some(snapshot.get(&entry.id, &target).transpose())
        };
        if let Some(found) = fresh(&entry) {
            return Ok(Seen { flow_log: found?, listed: false });
        }
        let _listing = entry.refresh.lock().await;
        // Another check may have listed while this one waited.
        if let Some(found) = fresh(&entry) {
            return Ok(Seen { flow_log: found?, listed: false });
        }
        let snapshot = list(&entry, arm).await?;
        let flow_log = snapshot.get(&entry.id, &target).transpose()?;
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
        // The same flow log: packed the same under the same spelling, or else read back the same.
        let id = &entry.id;
        let same = |target: &TargetKey, log: &Packed, other: Option<(&TargetKey, &Packed)>| {
            other.is_some_and(|(t, l)| {
                (t.0 == target.0 && l == log)
                    || matches!((log.unpack(id, target), l.unpack(id, t)), (Ok(a), Ok(b)) if a == b)
            })
        };
        let mut changed: Vec<String> = now
            .by_target
            .iter()
            .filter(|(target, log)| !same(target, log, before.by_target.get_key_value(*target)))
            .map(|(target, _)| key(&target.0))
            .collect();
        changed.extend(before.by_target.keys().filter(|t| !now.by_target.contains_key(*t)).map(|t| key(&t.0)));
        Ok(changed)
    }

    /// Records Azure's latest answer for a target (after a read of it or a write): `None` when it has no flow log.
    pub fn record(&self, arm: &ArmClient, watcher: &ResourceId, target: &str, flow_log: Option<FlowLog>) {
        let entry = self.watcher(arm, watcher);
        let mut snapshot = entry.snapshot.lock().expect("not poisoned");
        if let Some(snapshot) = snapshot.as_mut() {
            let target = TargetKey(target.into());
            // The entry goes in any case: the new answer is kept under its own spelling of the target.
            let listed = snapshot.by_target.remove_entry(&target);
            if let Some(mut log) = flow_log {
                // A legacy answer has no name, ID or region: keep those the list showed.
                if let Some(Ok(listed)) = listed.map(|(key, packed)| packed.unpack(&entry.id, &key)) {
                    log.name = log.name.or(listed.name);
                    log.id = log.id.or(listed.id);
                    log.location = log.location.or(listed.location);
                }
                let packed = snapshot.pack(&entry.id, &target, log);
                snapshot.by_target.insert(target, packed);
            }
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
    let mut snapshot = Snapshot { listed, by_target: HashMap::with_capacity(logs.len()), strings: HashSet::new() };
    for log in logs {
        let target = TargetKey(log.properties.target_resource_id.as_str().into());
        let packed = snapshot.pack(&entry.id, &target, log);
        // Azure has one flow log per target; were a list to show two, the last one counts, as before.
        snapshot.by_target.remove(&target);
        snapshot.by_target.insert(target, packed);
    }
    snapshot.by_target.shrink_to_fit();
    Ok(snapshot)
}

impl Snapshot {
    /// The target's flow log, if the snapshot has one.
    fn get(&self, watcher: &ResourceId, target: &TargetKey) -> Option<Result<FlowLog, ArmError>> {
        let (key, packed) = self.by_target.get_key_value(target)?;
        Some(packed.unpack(watcher, key))
    }

    /// A flow log as the snapshot keeps it under `target` (a new entry: the snapshot has none equal to it).
    fn pack(&mut self, watcher: &ResourceId, target: &TargetKey, mut log: FlowLog) -> Packed {
        log.tags = None;
        log.etag = None;
        log.resource_type = None;
        let keyed_target = *log.properties.target_resource_id == *target.0;
        if keyed_target {
            log.properties.target_resource_id = String::new();
        }
        let own_id = log.name.as_ref().map(|name| own_id(watcher, name));
        let derived_id = log.id.is_some() && log.id == own_id;
        if derived_id {
            log.id = None;
        }
        let mut shared = |text: String| -> Arc<str> {
            match self.strings.get(text.as_str()) {
                Some(kept) => kept.clone(),
                None => {
                    let kept: Arc<str> = text.into();
                    self.strings.insert(kept.clone());
                    kept
                }
            }
        };
        let storage_id =
            (!log.properties.storage_id.is_empty()).then(|| shared(std::mem::take(&mut log.properties.storage_id)));
        let location = log.location.take().map(&mut shared);
        let json = packed::pack(&log, &packed::FLOW_LOG);
        Packed { json, storage_id, location, derived_id, keyed_target }
    }
}

/// The ID a flow log of `watcher` named `name` has.
fn own_id(watcher: &ResourceId, name: &str) -> String {
    format!("{}/flowLogs/{name}", watcher.as_str().trim_end_matches('/'))
}

/// A flow log as a snapshot keeps it: what planning needs (not its tags, etag or type) [`packed`], a fraction of
/// the memory of the parsed value with its dozen separately allocated strings. What thousands of flow logs repeat
/// is kept apart: the target ID is the snapshot's key, the storage account and region are shared strings, and an ID
/// that is the watcher's ID and the flow log's name is rebuilt from them. A look-up reads it back (a few
/// microseconds, once per check); comparing two lists compares bytes.
#[derive(Clone, Debug, PartialEq)]
struct Packed {
    /// The rest, [`packed`].
    json: Box<[u8]>,
    storage_id: Option<Arc<str>>,
    location: Option<Arc<str>>,
    /// The ID is `{watcher}/flowLogs/{name}`.
    derived_id: bool,
    /// The target ID is spelled as the snapshot's key.
    keyed_target: bool,
}

impl Packed {
    fn unpack(&self, watcher: &ResourceId, target: &TargetKey) -> Result<FlowLog, ArmError> {
        // What `pack` wrote parses back; were it ever not to, the check fails (and is retried) rather than misread it.
        let mut log: FlowLog = packed::unpack(&self.json, &packed::FLOW_LOG)
            .map_err(|e| ArmError::InvalidResponse(format!("a listed flow log, kept: {e}")))?;
        if self.keyed_target {
            log.properties.target_resource_id = target.0.to_string();
        }
        if let Some(storage_id) = &self.storage_id {
            log.properties.storage_id = storage_id.to_string();
        }
        log.location = self.location.as_deref().map(str::to_string);
        if self.derived_id {
            log.id = log.name.as_deref().map(|name| own_id(watcher, name));
        }
        Ok(log)
    }
}

//! The delivery checker (`--check-log-delivery`): once per interval, one listing of each storage account's flow-log
//! container serves every policy whose flow log writes there; the newest blob of each flow log is found in it, and
//! what the pure core ([`crate::reconcile::delivery`]) concludes is applied: `status.logs` and the `LogsDelivered`
//! condition (by server-side apply under a field manager of their own, so the reconcile's status writes and these
//! never take each other's fields), an event on a transition, and the age metric.
//!
//! It costs ARM nothing: what it checks comes from the cache (each policy's observed flow log: enabled, storage
//! account; its flow log's ID), and the blob endpoint is built from the account's name. Storage requests have their
//! own budget per account (`--storage-read-budget`), apart from ARM's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

use super::Context;
use super::cached::CachedPolicy;
use super::report::publish;
use crate::api::{FlowLogPolicy, FlowLogPolicyStatus};
use crate::azure::id::{NSG_TYPE, ResourceId};
use crate::azure::storage::{BlobEntry, BlobReader};
use crate::azure::{ArmError, BucketSettings, KeyedBudget};
use crate::logs::{Owners, Source};
use crate::reconcile::delivery::{self, Assessment, Found, LOGS_DELIVERED, Place};

/// The field manager of `status.logs` and the `LogsDelivered` condition.
pub const LOGS_MANAGER: &str = "flowlog-operator-logs";

/// What `--check-log-delivery` and its flags configure.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Lists containers with the operator's credentials for the storage audience.
    pub reader: BlobReader,
    /// How often each storage account's containers are listed.
    pub every: Duration,
    /// How long without a new blob write before `LogsDelivered` turns False.
    pub silence: Duration,
    /// Storage requests per account.
    pub budget: BucketSettings,
}

/// A policy whose flow log is checked.
struct Watched {
    policy: FlowLogPolicy,
    status: FlowLogPolicyStatus,
    storage_id: String,
    source: Source,
}

/// Runs the checks as long as the controller runs (forever when delivery is not checked).
pub(super) async fn run(ctx: Arc<Context>, store: Store<CachedPolicy>) {
    let Some(settings) = ctx.settings.delivery.clone() else { return futures::future::pending().await };
    let budget = KeyedBudget::new(settings.budget);
    // What this process last wrote per policy UID (the cache may not show it yet).
    let mut written: HashMap<String, FlowLogPolicyStatus> = HashMap::new();
    while !ctx.health.cache_synced.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    info!(every = ?settings.every, silence = ?settings.silence, "checking flow-log delivery");
    loop {
        let started = Instant::now();
        check(&ctx, &settings, &store, &budget, &mut written).await;
        let took = started.elapsed();
        debug!(took = ?took, "delivery checked");
        tokio::time::sleep(settings.every.saturating_sub(took).max(settings.every / 4)).await;
    }
}

/// One check of every policy in the cache.
async fn check(
    ctx: &Context,
    settings: &DeliverySettings,
    store: &Store<CachedPolicy>,
    budget: &KeyedBudget,
    written: &mut HashMap<String, FlowLogPolicyStatus>,
) {
    let mut watched = Vec::new();
    let mut cleared = Vec::new();
    for cached in store.state() {
        let policy = cached.policy();
        if policy.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let uid = policy.uid().unwrap_or_default();
        let status = with_written(policy.status.clone().unwrap_or_default(), written.get(&uid));
        match watched_of(&policy) {
            Some((storage_id, source)) => watched.push(Watched { policy, status, storage_id, source }),
            None if status.logs.is_some() || status.conditions.iter().any(|c| c.type_ == LOGS_DELIVERED) => {
                cleared.push(policy);
            }
            None => {}
        }
    }
    let keep: HashSet<String> = watched.iter().map(|w| w.policy.uid().unwrap_or_default()).collect();
    written.retain(|uid, _| keep.contains(uid));
    ctx.metrics.logs_retain(
        &watched.iter().map(|w| (w.policy.namespace().unwrap_or_default(), w.policy.name_any())).collect(),
    );

    let groups = listings(watched.iter().map(|w| (w.storage_id.as_str(), w.source.container())));
    let mut found: Vec<Option<Found>> = vec![None; watched.len()];
    for ((storage_id, container), members) in &groups {
        let listed = list(ctx, &settings.reader, budget, storage_id, container).await;
        let results = match listed {
            Ok(blobs) => newest(&blobs, members.iter().map(|&i| (i, watched[i].source.clone()))),
            Err(unreadable) => members.iter().map(|&i| (i, unreadable.clone())).collect(),
        };
        for (i, f) in results {
            found[i] = Some(f);
        }
    }

    let now = Timestamp::now();
    for (w, found) in watched.iter().zip(found) {
        let Some(found) = found else { continue };
        let place = Place { storage_id: &w.storage_id, container: w.source.container() };
        let Some(assessment) = delivery::assess(Some(&w.status), place, &found, now, settings.silence) else {
            continue;
        };
        let (namespace, name) = (w.policy.namespace().unwrap_or_default(), w.policy.name_any());
        let last = assessment.logs.last_write.as_ref().map(|t| t.0.as_second());
        ctx.metrics.logs_last_write(&namespace, &name, last);
        if !delivery::needs_write(Some(&w.status), &assessment, ctx.settings.status_heartbeat) {
            continue;
        }
        match apply(ctx, &w.policy, Some(&assessment)).await {
            Ok(()) => {
                if let Some((kind, reason, note)) = delivery::event(Some(&w.status), &assessment.condition) {
                    publish(ctx, &w.policy, kind, &reason, note).await;
                }
                written.insert(w.policy.uid().unwrap_or_default(), with_assessment(w.status.clone(), &assessment));
            }
            Err(e) => warn!(policy = %format!("{namespace}/{name}"), "writing the delivery status: {e}"),
        }
    }
    for policy in cleared {
        if let Err(e) = apply(ctx, &policy, None).await {
            warn!(policy = %format!("{}/{}", policy.namespace().unwrap_or_default(), policy.name_any()), "clearing the delivery status: {e}");
        }
    }
}

/// One listing per storage account (its ID in any case) and container: the indexes of the flow logs it serves.
fn listings<'a>(places: impl Iterator<Item = (&'a str, &'static str)>) -> BTreeMap<(String, &'static str), Vec<usize>> {
    let mut groups: BTreeMap<(String, &'static str), Vec<usize>> = BTreeMap::new();
    for (i, (storage_id, container)) in places.enumerate() {
        groups.entry((storage_id.to_ascii_lowercase(), container)).or_default().push(i);
    }
    groups
}

/// The storage account and the blobs' source of a policy whose flow log is enabled in Azure as the spec wants.
fn watched_of(policy: &FlowLogPolicy) -> Option<(String, Source)> {
    let status = policy.status.as_ref()?;
    let observed = status.observed.as_ref()?;
    if !policy.spec.flow_log.enabled || !observed.enabled || observed.storage_id.is_empty() {
        return None;
    }
    let target = ResourceId::parse(&policy.spec.target.resource_id).ok()?;
    let source = if target.is_type(NSG_TYPE) {
        Source::Nsg { nsg: target }
    } else {
        Source::Vnet { flow_log: ResourceId::parse(status.flow_log_id.as_deref()?).ok()? }
    };
    Some((observed.storage_id.clone(), source))
}

/// The container's blobs, or what each of its flow logs is found as when it cannot be listed.
async fn list(
    ctx: &Context,
    reader: &BlobReader,
    budget: &KeyedBudget,
    storage_id: &str,
    container: &str,
) -> Result<Vec<BlobEntry>, Found> {
    let account = delivery::account_name(storage_id);
    let endpoint =
        reader.account_endpoint(account).map_err(|e| Found::Unreadable { message: e.to_string(), transient: false })?;
    let mut requests = 0_u32;
    let pace = || {
        requests += 1;
        async {
            let waited = budget.take(account).await;
            if !waited.is_zero() {
                debug!(account, waited = ?waited, "storage budget");
            }
        }
    };
    let listed = reader.list_paced(&endpoint, container, "", pace).await;
    let answered = match &listed {
        Ok(_) => requests,
        Err(_) => requests.saturating_sub(1),
    };
    for _ in 0..answered {
        ctx.metrics.storage_request(200);
    }
    match listed {
        Ok(blobs) => Ok(blobs),
        Err(e) => {
            let status = e.status().unwrap_or(0);
            ctx.metrics.storage_request(status);
            match status {
                // No container yet: Network Watcher creates it with the first blob.
                404 => Ok(Vec::new()),
                401 | 403 => Err(Found::Unreadable { message: e.to_string(), transient: false }),
                _ if matches!(e, ArmError::Config(_) | ArmError::UrlRefused { .. }) => {
                    Err(Found::Unreadable { message: e.to_string(), transient: false })
                }
                _ => {
                    warn!(account, container, "listing flow-log blobs: {e}");
                    Err(Found::Unreadable { message: e.to_string(), transient: true })
                }
            }
        }
    }
}

/// Each source's newest blob (by last write) in one listing.
fn newest<K: Clone + Eq + std::hash::Hash>(
    blobs: &[BlobEntry],
    sources: impl IntoIterator<Item = (K, Source)>,
) -> Vec<(K, Found)> {
    let sources: Vec<(K, Source)> = sources.into_iter().collect();
    let owners = Owners::new(sources.iter().cloned());
    let mut best: HashMap<K, (i64, &str)> = HashMap::new();
    for blob in blobs {
        let (Some(modified), Some(owner)) = (blob.modified, owners.owner(&blob.name)) else { continue };
        let entry = best.entry(owner.clone()).or_insert((modified, &blob.name));
        if (modified, blob.name.as_str()) > *entry {
            *entry = (modified, &blob.name);
        }
    }
    sources
        .into_iter()
        .map(|(k, _)| {
            let found = match best.get(&k).and_then(|(m, name)| Some((Timestamp::from_second(*m).ok()?, *name))) {
                Some((modified, name)) => Found::Newest { name: name.to_string(), modified },
                None => Found::Nothing,
            };
            (k, found)
        })
        .collect()
}

/// Applies `status.logs` and `LogsDelivered` (or, with `None`, removes them) under [`LOGS_MANAGER`].
async fn apply(ctx: &Context, policy: &FlowLogPolicy, assessment: Option<&Assessment>) -> Result<(), kube::Error> {
    let api: Api<FlowLogPolicy> = Api::namespaced(ctx.client.clone(), &policy.namespace().unwrap_or_default());
    let status = match assessment {
        Some(a) => json!({ "logs": a.logs, "conditions": [a.condition] }),
        None => json!({}),
    };
    let patch = json!({ "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy", "status": status });
    api.patch_status(&policy.name_any(), &PatchParams::apply(LOGS_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// The cached status with what this process wrote since (the cache may lag behind).
fn with_written(mut status: FlowLogPolicyStatus, written: Option<&FlowLogPolicyStatus>) -> FlowLogPolicyStatus {
    let Some(written) = written else { return status };
    status.logs = written.logs.clone();
    status.conditions.retain(|c| c.type_ != LOGS_DELIVERED);
    status.conditions.extend(written.conditions.iter().filter(|c| c.type_ == LOGS_DELIVERED).cloned());
    status
}

fn with_assessment(mut status: FlowLogPolicyStatus, assessment: &Assessment) -> FlowLogPolicyStatus {
    status.logs = Some(assessment.logs.clone());
    status.conditions.retain(|c| c.type_ != LOGS_DELIVERED);
    status.conditions.push(assessment.condition.clone());
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(name: &str, modified: i64) -> BlobEntry {
        BlobEntry { name: name.into(), last_modified: None, modified: Some(modified), size: None }
    }

    #[test]
    fn flow_logs_share_one_listing_per_account_and_container() {
        let (a, b) = (
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
            "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/b",
        );
        let (nsg, vnet) = (crate::logs::select::NSG_CONTAINER, crate::logs::select::VNET_CONTAINER);
        let upper = a.to_ascii_uppercase();
        let groups = listings([(a, nsg), (b, nsg), (upper.as_str(), nsg), (a, vnet), (a, vnet)].into_iter());
        let got: Vec<(&str, Vec<usize>)> = groups
            .iter()
            .map(|((id, c), i)| {
                (if id.ends_with("/a") { if *c == nsg { "a nsg" } else { "a vnet" } } else { "b nsg" }, i.clone())
            })
            .collect();
        assert_eq!(
            got,
            [("a vnet", vec![3, 4]), ("a nsg", vec![0, 2]), ("b nsg", vec![1])],
            "3 listings for 5 flow logs"
        );
    }

    #[test]
    fn one_listing_gives_each_flow_log_its_newest_blob() {
        let nsg = |n: &str| {
            ResourceId::parse(&format!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/{n}"
            ))
            .unwrap()
        };
        let path = |n: &str, h: u32| {
            format!(
                "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{n}/y=2026/m=12/d=02/h={h:02}/m=00/macAddress=1/PT1H.json"
            )
        };
        let blobs =
            [blob(&path("A", 8), 100), blob(&path("A", 9), 300), blob(&path("B", 9), 50), blob(&path("C2", 9), 999)];
        let found = newest(
            &blobs,
            [
                (1, Source::Nsg { nsg: nsg("a") }),
                (2, Source::Nsg { nsg: nsg("b") }),
                (3, Source::Nsg { nsg: nsg("c") }),
            ],
        );
        let at = |s| Timestamp::from_second(s).unwrap();
        assert_eq!(found[0], (1, Found::Newest { name: path("A", 9), modified: at(300) }));
        assert_eq!(found[1], (2, Found::Newest { name: path("B", 9), modified: at(50) }));
        assert_eq!(found[2], (3, Found::Nothing), "C2's blobs are not C's");
    }
}

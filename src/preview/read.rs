//! The preview's reads of Azure: GETs only (the watchers' flow-log lists, targets, NSGs, discovery), through the
//! controller's own steps, and the [`Preview`] built from them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt as _;

use super::intents::{Manifests, compare, expand, hand_over_warnings, held_back};
use super::{
    Change, Intent, Preview, Read, Row, StorageSeen, change, conflicts, needs_creation, removal, storage_refusal,
    switched_off,
};
use crate::api::{FlowLogPolicySet, FlowLogPolicySpec, FlowLogSettings};
use crate::azure::ArmClient;
use crate::azure::id::{NSG_TYPE, ResourceId};
use crate::reconcile::set::Selection;
use crate::reconcile::{PolicyKey, owner_of};
use crate::sync::{FlowLogIndex, Step, SyncError, discover, locate, observe};

/// How many targets are read at once (each read is mostly answered by its watcher's one list).
const READS_AT_ONCE: usize = 8;
/// One list per watcher for the whole preview.
const SNAPSHOT_AGE: Duration = Duration::from_secs(3600);

/// A preview and the policy behind each of its rows (`intents[i]` made `preview.changes[i]`).
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub preview: Preview,
    pub intents: Vec<Intent>,
}

/// Reads Azure for the manifests now (`after`) and before the change (`before`, empty without `--before`), and
/// says what applying them would change. `progress` is told how many targets have been read.
pub async fn plan(
    arm: &ArmClient,
    after: Manifests,
    before: Option<Manifests>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Planned {
    let mut preview = Preview {
        invalid: after.invalid.clone(),
        ignored: after.ignored.clone(),
        errors: after.errors.clone(),
        ..Default::default()
    };
    let after_sets = expand_sets(arm, &after, &mut preview.errors).await;
    let before_sets = match &before {
        Some(before) => expand_sets(arm, before, &mut preview.errors).await,
        None => BTreeMap::new(),
    };
    let mut after_intents = after.policies.clone();
    for (key, (set, selection, intents)) in &after_sets {
        after_intents.extend(intents.iter().cloned());
        if let Some((_, _, generated_before)) = before_sets.get(key) {
            let (kept, warning) = held_back(set, selection, generated_before);
            after_intents.extend(kept.into_iter().map(|i| Intent { existed: true, ..i }));
            preview.warnings.extend(warning);
        }
    }
    let mut before_intents = before.as_ref().map(|b| b.policies.clone()).unwrap_or_default();
    before_intents.extend(before_sets.into_values().flat_map(|(_, _, intents)| intents));
    let intents = compare(after_intents, before_intents);
    preview.warnings.extend(hand_over_warnings(&intents));
    let owners = conflicts(&intents);
    let index = FlowLogIndex::default();
    let total = intents.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let storages = Mutex::new(HashMap::new());
    let rows: Vec<Row> = futures::stream::iter(intents.iter().zip(owners).enumerate())
        .map(|(i, (intent, owner))| {
            let (index, intents, done, storages) = (&index, &intents, &done, &storages);
            async move {
                let change = match owner {
                    Some(owner) => Change::Conflict { owner },
                    None if intent.removed => {
                        let read = read(arm, index, &intent.spec, &switched_off(&intent.spec)).await;
                        removal(&intent.spec, owned_before(intents, i), read)
                    }
                    None => {
                        let read = read(arm, index, &intent.spec, &intent.spec.flow_log).await;
                        let advice = match &read {
                            Read::Found { exists, nsg, .. } if needs_creation(*nsg, *exists, &intent.spec.flow_log) => {
                                match ResourceId::parse(&intent.spec.target.resource_id) {
                                    Ok(nsg) => Some(crate::sync::blocked_advice(arm, &nsg).await),
                                    Err(_) => None,
                                }
                            }
                            _ => None,
                        };
                        let region = match &read {
                            Read::Found { region, .. } => region.clone(),
                            Read::Failed { .. } => None,
                        };
                        let change = change(intent.spec.mode, &intent.spec.flow_log, read, advice.as_deref());
                        // Only a storage account the flow log does not use yet can be refused for it.
                        let new_storage = match &change {
                            Change::Create { .. } => true,
                            Change::Update { differences } => differences.iter().any(|d| d.field == "storageId"),
                            _ => false,
                        };
                        match new_storage {
                            true => storage_check(arm, storages, &intent.spec, region).await.unwrap_or(change),
                            false => change,
                        }
                    }
                };
                progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, total);
                Row {
                    target: intent.spec.target.resource_id.clone(),
                    policy: intent.policy(),
                    origin: intent.origin.clone(),
                    change,
                }
            }
        })
        .buffered(READS_AT_ONCE)
        .collect()
        .await;
    preview.changes = rows;
    Planned { preview, intents }
}

/// Each set of the manifests (by namespace/name) with its selection and the policies it generates from what
/// discovery finds now (targets the manifests' own policies manage left to them). A set whose discovery fails or is
/// incomplete is left out, and says so in `errors` (never a plan built on half a discovery).
async fn expand_sets(arm: &ArmClient, manifests: &Manifests, errors: &mut Vec<String>) -> BTreeMap<String, Expanded> {
    let mut out = BTreeMap::new();
    for (set, origin) in &manifests.sets {
        let key = format!(
            "{}/{}",
            set.metadata.namespace.as_deref().unwrap_or_default(),
            set.metadata.name.as_deref().unwrap_or_default()
        );
        match discover(arm, &set.spec.selector).await {
            Ok(discovery) if discovery.complete() => {
                let (selection, intents) = expand(set, origin, &discovery, &manifests.policies);
                out.insert(key, (set.clone(), selection, intents));
            }
            Ok(discovery) => errors.push(format!(
                "FlowLogPolicySet {key} ({origin}): discovery incomplete ({}); nothing is planned for the set",
                discovery.error().unwrap_or_default()
            )),
            Err(e) => errors.push(format!(
                "FlowLogPolicySet {key} ({origin}): discovery failed: {e}; nothing is planned for the set"
            )),
        }
    }
    out
}

/// A set, its selection, and the policies it generates.
type Expanded = (FlowLogPolicySet, Selection, Vec<Intent>);

/// A write's storage account against Azure's rules ([`storage_refusal`]): one GET per account (remembered in
/// `storages`), and the target's region when the read did not learn it.
async fn storage_check(
    arm: &ArmClient,
    storages: &Mutex<HashMap<String, StorageSeen>>,
    spec: &FlowLogPolicySpec,
    region: Option<String>,
) -> Option<Change> {
    let id = spec.flow_log.storage_id.as_deref().filter(|_| spec.flow_log.enabled)?;
    let key = id.trim_end_matches('/').to_ascii_lowercase();
    let known = storages.lock().expect("not poisoned").get(&key).cloned();
    let seen = match known {
        Some(seen) => seen,
        None => {
            let seen = match ResourceId::parse(id) {
                Ok(account) => match arm.resource_location(&account).await {
                    Ok(location) => StorageSeen::In(location),
                    Err(e) if e.status() == Some(404) => StorageSeen::Missing,
                    Err(_) => StorageSeen::Unknown,
                },
                Err(_) => StorageSeen::Unknown,
            };
            storages.lock().expect("not poisoned").insert(key, seen.clone());
            seen
        }
    };
    if seen == StorageSeen::Unknown {
        return None;
    }
    let region = match region.filter(|r| !r.is_empty()) {
        Some(region) => region,
        None => arm.resource_location(&ResourceId::parse(&spec.target.resource_id).ok()?).await.ok()?,
    };
    storage_refusal(&spec.flow_log, &seen, &region)
}

/// Whether a removed policy kept its target before the change (else deleting it leaves Azure alone).
fn owned_before(intents: &[Intent], i: usize) -> bool {
    let key = |intent: &Intent| PolicyKey {
        namespace: intent.namespace.clone(),
        name: intent.name.clone(),
        created: None,
        target: intent.spec.target.resource_id.clone(),
        deleting: false,
    };
    let before: Vec<PolicyKey> = intents.iter().filter(|p| p.existed).map(key).collect();
    owner_of(&key(&intents[i]), &before).is_none()
}

/// A target's flow log as the controller reads it (its watcher's list; a target's region only for a create),
/// planned against `desired`.
pub async fn read(arm: &ArmClient, index: &FlowLogIndex, spec: &FlowLogPolicySpec, desired: &FlowLogSettings) -> Read {
    let failed = |e: SyncError| Read::Failed { code: e.code().to_string(), message: e.to_string() };
    let located = match locate(arm, spec, None).await {
        Ok(located) => located,
        Err(e) => return failed(e),
    };
    let (watcher, target) = (located.watcher.clone(), located.target.clone());
    let observation = match observe(arm, index, located, desired, SNAPSHOT_AGE).await {
        Ok(Step::Observed(observation)) => observation,
        Ok(Step::Confirming(..)) => unreachable!("observe reads only; confirming is a separate step"),
        Err(e) => return failed(e),
    };
    // The list shows the target's flow log (NSG flow logs too, with their region); the legacy view of a missing one
    // reads as disabled. Answered from the snapshot observe just took.
    let listed = match index.look_up(arm, &watcher, &target, SNAPSHOT_AGE).await {
        Ok(seen) => seen.flow_log,
        Err(e) => return failed(e.into()),
    };
    let exists = listed.is_some();
    let region = listed.and_then(|log| log.location).or_else(|| observation.located().region.clone());
    Read::Found { found: observation.found(), exists, nsg: target.is_type(NSG_TYPE), region }
}

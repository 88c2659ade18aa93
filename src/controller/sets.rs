//! The FlowLogPolicySet controller: discovery every `discoveryInterval`, one generated FlowLogPolicy per selected
//! target (server-side apply, owned by the set, labelled with its name), pruning behind the guard, and the set's
//! status from its policies' own. The decisions are the pure core's ([`crate::reconcile::set`]); this fetches,
//! applies and publishes. The generated policies do the Azure work like any other policy.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::{CachedPolicy, Context, Error};
use crate::api::{DiscoveryStatus, FlowLogPolicy, FlowLogPolicySet, FlowLogPolicySetStatus};
use crate::reconcile::set::{
    CONFIRM_PRUNE_ANNOTATION, Child, PolicyState, REDISCOVER_ANNOTATION, SET_LABEL, carry_over, changes, child_name,
    select, set_status,
};
use crate::sync::{Discovery, discover};

/// The field manager of the generated policies' specs (their status is the policy controller's).
const SET_MANAGER: &str = "flowlog-operator-sets";

/// A failed discovery is tried again after this long (or the interval, if shorter).
const DISCOVERY_RETRY: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Discovered {
    generation: Option<i64>,
    /// The [`REDISCOVER_ANNOTATION`]'s value it ran under.
    asked: Option<String>,
    at: Instant,
    time: Time,
    result: Result<Discovery, String>,
}

struct SetContext {
    ctx: Arc<Context>,
    policies: Store<CachedPolicy>,
    /// The sets themselves (the controller's cache): what `discoveries` and `counted` may keep.
    sets: Store<FlowLogPolicySet>,
    /// The last discovery of each set (by UID), kept until the next is due.
    discoveries: Mutex<HashMap<String, Discovered>>,
    /// When each set (by UID) was last counted, and under which generation and annotations: its policies' changes
    /// re-run it, and while thousands of them converge it is counted at most every [`RECOUNT_EVERY`].
    counted: Mutex<HashMap<String, Counted>>,
}

impl SetContext {
    /// Drops what is remembered of sets that are gone (a deleted set is never reconciled again; its discovery may
    /// hold thousands of resources).
    fn forget_deleted(&self) {
        let live: std::collections::HashSet<String> = self.sets.state().iter().filter_map(|s| s.uid()).collect();
        self.discoveries.lock().expect("not poisoned").retain(|uid, _| live.contains(uid));
        self.counted.lock().expect("not poisoned").retain(|uid, _| live.contains(uid));
    }
}

/// When a set was last counted, under which generation and annotations (hashed).
#[derive(Clone, Copy)]
struct Counted {
    at: Instant,
    generation: Option<i64>,
    annotations: u64,
}

/// How soon a set is counted again while its policies are still being created, pruned or applied.
const SETTLING_RECOUNT: Duration = Duration::from_secs(5);

/// How often a set whose spec did not change is counted again while its policies change.
const RECOUNT_EVERY: Duration = Duration::from_secs(2);

/// Runs the set controller until `shutdown` resolves.
pub(super) async fn run(
    ctx: Arc<Context>,
    policies: Store<CachedPolicy>,
    shutdown: futures::future::Shared<futures::future::BoxFuture<'static, ()>>,
) {
    let (sets, children): (Api<FlowLogPolicySet>, Api<PartialObjectMeta<FlowLogPolicy>>) = match &ctx.settings.namespace
    {
        Some(ns) => (Api::namespaced(ctx.client.clone(), ns), Api::namespaced(ctx.client.clone(), ns)),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = &ctx.settings.selector {
        config = config.labels(&selector.to_string());
    }
    // A generated policy's change (its status, mostly) re-counts its set; metadata is enough to find the owner.
    let owned = watcher(children, watcher::Config::default().labels(SET_LABEL)).default_backoff().touched_objects();
    let controller = Controller::new(sets, config);
    let store = controller.store();
    let _ = ctx.health.sets.set(store.clone());
    let sctx =
        Arc::new(SetContext { ctx, policies, sets: store, discoveries: Mutex::default(), counted: Mutex::default() });
    controller
        .owns_stream(owned)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, sctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!("reconciling a FlowLogPolicySet failed: {e}");
            }
        })
        .await;
}

fn error_policy(_: Arc<FlowLogPolicySet>, error: &Error, _: Arc<SetContext>) -> Action {
    warn!("FlowLogPolicySet: {error}");
    Action::requeue(Duration::from_secs(30))
}

async fn reconcile(set: Arc<FlowLogPolicySet>, sctx: Arc<SetContext>) -> Result<Action, Error> {
    let ctx = &sctx.ctx;
    let namespace = set.namespace().ok_or(Error::NoNamespace)?;
    let name = set.name_any();
    if set.metadata.deletion_timestamp.is_some() {
        // The policies go with the set (their owner); each carries out its deletion policy.
        return Ok(Action::await_change());
    }
    sctx.forget_deleted();
    let interval = parse_interval(&set.spec.discovery_interval);
    let uid = set.uid().unwrap_or_default();
    let asked = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        set.annotations().hash(&mut h);
        h.finish()
    };
    let last = sctx.counted.lock().expect("not poisoned").get(&uid).copied();
    if let Some(last) = last {
        let same = last.generation == set.metadata.generation && last.annotations == asked;
        if same && last.at.elapsed() < RECOUNT_EVERY {
            // A policy changed moments after the last count: count again shortly, once, with whatever changed since.
            return Ok(Action::requeue(RECOUNT_EVERY - last.at.elapsed()));
        }
    }
    let now = Counted { at: Instant::now(), generation: set.metadata.generation, annotations: asked };
    sctx.counted.lock().expect("not poisoned").insert(uid, now);
    let discovered = discovery(&sctx, &set, &namespace, interval).await;

    // The set's policies, from the policy controller's cache.
    let children: Vec<Arc<CachedPolicy>> = sctx
        .policies
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()) && p.labels().get(SET_LABEL) == Some(&name))
        .collect();
    let views: Vec<Child> = children
        .iter()
        .map(|p| {
            let spec = p.spec();
            Child { name: p.name_any(), target: spec.target.resource_id.clone(), spec }
        })
        .collect();
    let managed_elsewhere = |target: &str| -> Option<String> {
        let ours = child_name(&name, target);
        let targets = ctx.targets.lock().expect("not poisoned");
        targets
            .of_target(target)
            .into_iter()
            .find(|(ns, policy)| !(*ns == namespace && *policy == ours))
            .map(|(ns, policy)| format!("FlowLogPolicy {ns}/{policy}"))
    };
    let complete = discovered.result.as_ref().is_ok_and(Discovery::complete);
    let selection = discovered.result.as_ref().ok().map(|d| {
        let mut selection = select(&set, &d.found, &managed_elsewhere);
        if !complete {
            carry_over(&mut selection, &views);
        }
        selection
    });
    let confirmed = set.annotations().get(CONFIRM_PRUNE_ANNOTATION).map(String::as_str);
    let planned = changes(selection.as_ref(), complete, &views, set.spec.pruning.max_prune_percent, confirmed);

    let api: Api<FlowLogPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let owner = set.controller_owner_ref(&()).expect("a set read from the apiserver has a name and UID");
    let mut labels = set.spec.template.labels.clone();
    labels.insert(SET_LABEL.to_string(), name.clone());
    for (child, spec) in &planned.apply {
        let manifest = json!({
            "apiVersion": "flowlog.dev/v1alpha1",
            "kind": "FlowLogPolicy",
            "metadata": {"name": child, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
            "spec": spec,
        });
        api.patch(child, &PatchParams::apply(SET_MANAGER).force(), &Patch::Apply(&manifest)).await?;
    }
    for child in &planned.prune {
        info!(set = %name, policy = %child, "pruning: its target left the selection");
        match api.delete(child, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }

    let states: BTreeMap<String, PolicyState> = children
        .iter()
        .map(|p| (p.name_any(), PolicyState::from_status(p.status().as_ref(), p.meta().generation)))
        .collect();
    let discovery_status = match &discovered.result {
        Ok(d) => DiscoveryStatus {
            time: Some(discovered.time.clone()),
            complete: d.complete(),
            found: i32::try_from(d.found.len()).unwrap_or(i32::MAX),
            error: d.error(),
        },
        Err(e) => {
            DiscoveryStatus { time: Some(discovered.time.clone()), complete: false, found: 0, error: Some(e.clone()) }
        }
    };
    let now = Time(Timestamp::now());
    let previous = set.status.as_ref();
    let status =
        set_status(previous, set.metadata.generation, selection.as_ref(), discovery_status, &planned, &states, &now);
    // The discovery's time alone is rewritten only as often as the policies' lastSyncTime heartbeat.
    let heartbeat_due = previous
        .and_then(|p| p.discovery.as_ref()?.time.clone())
        .is_none_or(|t| now.0.duration_since(t.0).unsigned_abs() >= ctx.settings.status_heartbeat);
    // While policies are created, pruned or applying, count again soon: the policy cache this reads may lag behind
    // the change that triggered this count, and no later event may come.
    let settling = status.applying > 0 || !planned.apply.is_empty() || !planned.prune.is_empty();
    if worth_writing(previous, &status) || (heartbeat_due && previous != Some(&status)) {
        let sets: Api<FlowLogPolicySet> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = json!({ "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicySet", "status": status });
        sets.patch_status(&name, &PatchParams::apply(SET_MANAGER).force(), &Patch::Apply(&patch)).await?;
    }
    // The next discovery (a failed one sooner); the policies' own changes re-run this in between.
    let retry = if discovered.result.as_ref().is_ok_and(Discovery::complete) {
        interval
    } else {
        interval.min(DISCOVERY_RETRY)
    };
    let next = retry.saturating_sub(discovered.at.elapsed()).max(Duration::from_secs(1));
    Ok(Action::requeue(if settling { next.min(SETTLING_RECOUNT) } else { next }))
}

/// The set's discovery: the last one while it is due neither by time nor by a new generation, else a new one.
async fn discovery(sctx: &SetContext, set: &FlowLogPolicySet, namespace: &str, interval: Duration) -> Discovered {
    let uid = set.uid().unwrap_or_default();
    let generation = set.metadata.generation;
    let asked = set.annotations().get(REDISCOVER_ANNOTATION).cloned();
    let cached = sctx.discoveries.lock().expect("not poisoned").get(&uid).cloned();
    if let Some(last) = cached {
        let valid_for =
            if last.result.as_ref().is_ok_and(Discovery::complete) { interval } else { interval.min(DISCOVERY_RETRY) };
        if last.generation == generation && last.asked == asked && last.at.elapsed() < valid_for {
            return last;
        }
    }
    let result = match sctx.ctx.arm_for_ref(namespace, set.spec.credentials_ref.as_ref()).await {
        Ok(arm) => discover(&arm, &set.spec.selector).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = &result {
        warn!(set = %set.name_any(), "discovery failed: {e}");
    }
    let discovered = Discovered { generation, asked, at: Instant::now(), time: Time(Timestamp::now()), result };
    sctx.discoveries.lock().expect("not poisoned").insert(uid, discovered.clone());
    discovered
}

fn parse_interval(text: &str) -> Duration {
    text.parse::<kube::core::Duration>().ok().map(Duration::from).unwrap_or(Duration::from_secs(600))
}

/// Whether anything but the discovery's time changed (the time alone is not worth a watch event each interval).
fn worth_writing(previous: Option<&FlowLogPolicySetStatus>, next: &FlowLogPolicySetStatus) -> bool {
    let strip = |s: &FlowLogPolicySetStatus| {
        let mut s = s.clone();
        if let Some(d) = s.discovery.as_mut() {
            d.time = None;
        }
        s
    };
    previous.is_none_or(|p| strip(p) != strip(next))
}

//! The Kubernetes edge: watches `FlowLogPolicy` objects, runs the Azure sync for each, writes the outcome into
//! status by server-side apply, publishes events on transitions, and carries out the deletion policy behind a
//! finalizer.

mod cached;
mod cleanup;
mod context;
mod delivery;
mod events;
pub mod metrics;
mod rechecks;
mod refresh;
mod report;
pub mod selector;
pub mod server;
mod sets;
mod tokens;
mod trigger;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalized, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use crate::azure::{ArmError, OperationKind};
use crate::sync::{self, Applied, Resumed, Step, SyncError, apply, locate, locate_and_observe, resume};
pub use cached::CachedPolicy;
pub use context::{Context, Settings};
pub use delivery::{DeliverySettings, LOGS_MANAGER};
use rechecks::{recheck, requeue};
use report::{Place, write_status};

use crate::api::{FlowLogPolicy, FlowLogPolicySpec, FlowLogPolicyStatus, LastError, PendingOperation};
use crate::reconcile::refusal::{self, RETRY_ANNOTATION, Refusal};
use crate::reconcile::schedule;
use crate::reconcile::{Decision, Difference, Outcome, PolicyKey, TargetIndex, decide, is_drift, ready_reason};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// How old a watcher's flow-log list may be when a new spec (a generation not yet applied) is planned against it.
const NEW_SPEC_MAX_AGE: Duration = Duration::from_secs(5);

/// The finalizer that makes deletion carry out `spec.deletionPolicy` before the object goes.
pub const FINALIZER: &str = "flowlog.dev/cleanup";

/// Errors that end one reconcile with a retry; Azure errors during normal sync end up in status instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("object has no namespace")]
    NoNamespace,
    #[error("deletion waits for Azure: {message}")]
    DeletionBlocked { message: String, retry_in: Duration },
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// Counts one running reconcile while it lives (also when the reconcile is abandoned: dropped mid-way).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How the controller stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Reconciles still running when the grace ended, dropped where they were waiting. A long-running operation
    /// they started keeps running in Azure; the next reconcile of the policy re-reads Azure before writing.
    pub abandoned: usize,
}

/// Runs the controller until the future is dropped (embedders and tests).
pub async fn run(ctx: Arc<Context>) {
    run_until(ctx, futures::future::pending(), Duration::ZERO).await;
}

/// Runs the controller until `shutdown` resolves; then starts no reconcile, gives those in flight `grace` to
/// finish, and abandons the rest.
pub async fn run_until(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Stopped {
    let shutdown = shutdown.boxed().shared();
    let mut running = Box::pin(controller(ctx.clone(), shutdown.clone()));
    tokio::select! {
        () = &mut running => return Stopped::default(),
        () = shutdown => {}
    }
    if tokio::time::timeout(grace, &mut running).await.is_ok() {
        return Stopped::default();
    }
    let abandoned = ctx.in_flight.load(Ordering::Relaxed);
    // Dropping the controller's stream aborts the reconciles it spawned, at their next await. Wait (briefly) until
    // they are gone, so that none still writes once the caller hands over (releases the Lease).
    drop(running);
    let gone = async {
        while ctx.in_flight.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(1), gone).await.is_err() {
        warn!(still = ctx.in_flight.load(Ordering::Relaxed), "abandoned reconciles did not stop within 1s");
    }
    Stopped { abandoned }
}

/// The controller's run: ends once `shutdown` has resolved and the reconciles in flight have finished.
async fn controller(ctx: Arc<Context>, shutdown: futures::future::Shared<futures::future::BoxFuture<'static, ()>>) {
    // The watch reads whole policies and the cache keeps them trimmed (`CachedPolicy`).
    let api: Api<CachedPolicy> = match &ctx.settings.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (reader, writer) = reflector::store();
    let reader_for_sets = reader.clone();
    let reader_for_delivery = reader.clone();
    let _ = ctx.health.store.set(reader.clone());
    let health = ctx.health.clone();
    let index = ctx.clone();
    let mut relist = TargetIndex::default();
    let mut changes = trigger::Changes::default();
    let mut config = watcher::Config::default();
    if let Some(selector) = &ctx.settings.selector {
        // A policy whose labels stop matching leaves the watch as a deletion: it is this shard's no longer.
        config = config.labels(&selector.to_string());
    }
    let trigger = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        // The target index follows the cache: updated before the reconcile the event triggers.
        .filter_map(move |event| {
            let triggered = match event {
                Ok(watcher::Event::Apply(p)) => {
                    index.targets.lock().expect("not poisoned").upsert(policy_key(p.meta(), &p.spec()));
                    index.caught_up(&p.uid().unwrap_or_default(), p.status().as_ref());
                    changes.applied(&p).then(|| Ok(trigger::trigger(p)))
                }
                Ok(watcher::Event::Delete(p)) => {
                    let (namespace, name) = (p.namespace().unwrap_or_default(), p.name_any());
                    index.targets.lock().expect("not poisoned").remove(&namespace, &name);
                    index.rechecks.cancel(&namespace, &name);
                    changes.deleted(&p);
                    None
                }
                Ok(watcher::Event::Init) => {
                    relist = TargetIndex::default();
                    changes.relist_started();
                    None
                }
                Ok(watcher::Event::InitApply(p)) => {
                    relist.upsert(policy_key(p.meta(), &p.spec()));
                    changes.applied(&p).then(|| Ok(trigger::trigger(p)))
                }
                Ok(watcher::Event::InitDone) => {
                    *index.targets.lock().expect("not poisoned") = std::mem::take(&mut relist);
                    changes.relist_done();
                    // Readiness: the first complete list has reached the cache.
                    health.cache_synced.store(true, Ordering::Relaxed);
                    None
                }
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(triggered)
        });
    let retrigger = ctx.retrigger_rx.lock().expect("not poisoned").take().expect("run is called once per context");
    let mut controller = Controller::for_stream(trigger, reader.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(ctx.settings.concurrency))
        .reconcile_on(retrigger);
    if ctx.settings.allow_credentials_ref {
        // A changed credentials Secret re-runs the policies that use it. Only metadata is watched: the operator
        // never caches Secret data.
        let apis: Vec<Api<PartialObjectMeta<Secret>>> =
            match (&ctx.settings.namespace, ctx.settings.credentials_namespaces.as_slice()) {
                (Some(ns), _) => vec![Api::namespaced(ctx.client.clone(), ns)],
                (None, []) => vec![Api::all(ctx.client.clone())],
                (None, namespaces) => namespaces.iter().map(|ns| Api::namespaced(ctx.client.clone(), ns)).collect(),
            };
        let changed = futures::stream::select_all(
            apis.into_iter()
                .map(|api| watcher(api, watcher::Config::default()).default_backoff().touched_objects().boxed()),
        );
        let secret_cache = ctx.clone();
        controller = controller.watches_stream(changed, move |secret| {
            let (namespace, name) = (secret.metadata.namespace.clone(), secret.metadata.name.clone());
            // A changed or deleted Secret's client goes: the next use builds one from what the Secret holds then.
            let key = (namespace.clone().unwrap_or_default(), name.clone().unwrap_or_default());
            secret_cache.secret_clients.lock().expect("not poisoned").remove(&key);
            reader
                .state()
                .into_iter()
                .filter(|p| {
                    p.namespace() == namespace && p.spec().credentials_ref.is_some_and(|r| Some(r.name) == name)
                })
                .map(|p| ObjectRef::new(&p.name_any()).within(&namespace.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
        });
    }
    let refresher = refresh::refresh_watchers(ctx.clone());
    let delivery = delivery::run(ctx.clone(), reader_for_delivery);
    let sets = sets::run(ctx.clone(), reader_for_sets, shutdown.clone());
    let running =
        controller.graceful_shutdown_on(shutdown).run(reconcile, error_policy, ctx).for_each(|result| async move {
            if let Err(e) = result {
                warn!("reconcile failed: {e}");
            }
        });
    // The refresher, the delivery checks and the set controller run as long as the policy controller does.
    tokio::select! {
        _ = futures::future::join(running, sets) => {}
        () = refresher => {}
        () = delivery => {}
    }
}

/// A policy in a steady state is checked by its watcher's refresher; it checks itself only this often besides (a
/// safety net, and the `lastSyncTime` heartbeat): ten intervals, at most an hour, at least one interval.
fn steady(interval: Duration) -> Duration {
    (interval * 10).min(Duration::from_secs(3600)).max(interval)
}

async fn reconcile(policy: Arc<CachedPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _in_flight = InFlight::enter(&ctx.in_flight);
    let namespace = policy.namespace().ok_or(Error::NoNamespace)?;
    let span = info_span!("reconcile", policy = %format!("{namespace}/{}", policy.name_any()));
    let api: Api<CachedPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, policy, |event| async {
        match event {
            Finalized::Apply(policy) => enforce(&policy.policy(), &ctx).await,
            Finalized::Cleanup(policy) => cleanup::cleanup(&policy.policy(), &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(policy: Arc<CachedPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    let retry_in = match error {
        Error::Finalizer(e) => match e.as_ref() {
            kube::runtime::finalizer::Error::CleanupFailed(Error::DeletionBlocked { retry_in, .. }) => Some(*retry_in),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or(Duration::from_secs(15));
    warn!("{error}; retrying in {}s", retry_in.as_secs());
    requeue(&ctx, policy.meta(), retry_in)
}

fn policy_key(metadata: &ObjectMeta, spec: &FlowLogPolicySpec) -> PolicyKey {
    PolicyKey {
        namespace: metadata.namespace.clone().unwrap_or_default(),
        name: metadata.name.clone().unwrap_or_default(),
        created: metadata.creation_timestamp.as_ref().map(|t| t.0),
        target: spec.target.resource_id.clone(),
        deleting: metadata.deletion_timestamp.is_some(),
    }
}

/// The policy that keeps this one's target, if another one does.
fn conflicting_owner(policy: &FlowLogPolicy, ctx: &Context) -> Option<String> {
    let me = policy_key(&policy.metadata, &policy.spec);
    ctx.targets.lock().expect("not poisoned").owner_of(&me).map(|owner| owner.display())
}

/// Apply: make Azure match the spec (or, in Audit mode, report how it differs).
async fn enforce(policy: &FlowLogPolicy, ctx: &Context) -> Result<Action, Error> {
    let started = Instant::now();
    let uid = policy.uid().unwrap_or_default();
    // The status this process last wrote, when the cache does not show it yet: never build on an older one.
    let latest = ctx.latest_status(policy);
    let previous = latest.as_ref();
    let interval = match policy.spec.interval.parse::<kube::core::Duration>() {
        Ok(d) => Duration::from(d),
        Err(e) => {
            // The CRD rejects such intervals; this only guards against an object stored before that rule.
            let error = LastError { code: "InvalidSpec".into(), message: format!("interval: {e}"), request_id: None };
            write_status(policy, previous, ctx, &Outcome::Failed { error, retry_in: None }, None).await?;
            ctx.metrics.reconciled("invalid_spec", started);
            return Ok(Action::await_change());
        }
    };

    if let Some(owner) = conflicting_owner(policy, ctx) {
        write_status(policy, previous, ctx, &Outcome::Conflict { owner }, None).await?;
        ctx.metrics.reconciled("conflict", started);
        return Ok(requeue(ctx, &policy.metadata, recheck(&uid, interval)));
    }

    let mut place: Option<Place> = None;
    let result = check(policy, previous, ctx, interval, &mut place).await;
    let unreported = ctx.unreported.lock().expect("not poisoned").remove(&uid);
    let (outcome, next, result_label) = match result {
        Ok((outcome, Some(wait))) => {
            // An operation in flight: poll it at Azure's Retry-After; the worker is free meanwhile.
            let label = if matches!(outcome, Outcome::Checking { .. }) { "confirming" } else { "applying" };
            (outcome, schedule::poll_in(wait), label)
        }
        Ok((outcome, None)) => {
            ctx.forget(&uid);
            let (label, next) = match &outcome {
                Outcome::Corrected { drift: true, .. } => ("drift_corrected", recheck(&uid, steady(interval))),
                Outcome::Corrected { .. } => ("applied", recheck(&uid, steady(interval))),
                Outcome::Drifted { .. } => ("drifted", recheck(&uid, steady(interval))),
                _ => ("in_sync", recheck(&uid, steady(interval))),
            };
            (outcome, next, label)
        }
        Err(Failure::Refused(error)) => {
            write_status(policy, previous, ctx, &Outcome::Failed { error, retry_in: None }, place.as_ref()).await?;
            ctx.metrics.reconciled("still_refused", started);
            return Ok(requeue(ctx, &policy.metadata, recheck(&uid, steady(interval))));
        }
        // Kubernetes refused the status write: retry the whole reconcile (error_policy), not an Azure error.
        Err(Failure::Kubernetes(e)) => return Err(e),
        Err(Failure::Azure(SyncError::Azure(ArmError::Throttled { retry_after, .. }))) => {
            // The operator's own ARM budget is spent: a place in the queue, not a failure of the policy.
            ctx.metrics.reconciled("budget_wait", started);
            return Ok(requeue(ctx, &policy.metadata, retry_after + Duration::from_millis(fastrand::u64(0..250))));
        }
        Err(Failure::Azure(e)) => {
            warn!(code = e.code(), request_id = e.request_id().unwrap_or(""), "sync failed: {e}");
            let error = last_error(&e);
            if e.is_transient() {
                let retry_in = ctx.backoff(&uid, e.retry_after());
                (Outcome::Failed { error, retry_in: Some(retry_in) }, retry_in, "transient_error")
            } else {
                // Terminal: retrying cannot help until the spec (or Azure) changes; a spec change triggers at
                // once, and the interval catches changes made in Azure.
                (Outcome::Failed { error, retry_in: None }, recheck(&uid, interval), "terminal_error")
            }
        }
    };
    // A repair whose report was lost (the status write failed) is reported by the next check that finds Azure in sync.
    let outcome = match (outcome, unreported) {
        (Outcome::InSync { observed }, Some(Outcome::Corrected { differences, drift, .. })) => {
            Outcome::Corrected { observed, differences, drift }
        }
        (outcome, _) => outcome,
    };
    if let Err(e) = write_status(policy, previous, ctx, &outcome, place.as_ref()).await {
        match &outcome {
            Outcome::Corrected { .. } => {
                ctx.unreported.lock().expect("not poisoned").insert(uid, outcome);
            }
            // The operation's token is kept in memory too: Azure's work goes on at its pace, the report follows.
            Outcome::Checking { .. } | Outcome::Applying { .. } => {
                warn!("writing status: {e}; polling the operation all the same");
                ctx.metrics.reconciled(result_label, started);
                return Ok(requeue(ctx, &policy.metadata, next));
            }
            _ => {}
        }
        return Err(e);
    }
    ctx.metrics.reconciled(result_label, started);
    Ok(requeue(ctx, &policy.metadata, next))
}

/// One check of a policy against Azure: resume the operation in flight, if any; else observe, and write when
/// Azure differs. Returns the outcome and, while an operation runs, when to poll it.
async fn check(
    policy: &FlowLogPolicy,
    previous: Option<&FlowLogPolicyStatus>,
    ctx: &Context,
    interval: Duration,
    place: &mut Option<Place>,
) -> Result<(Outcome, Option<Duration>), Failure> {
    let uid = policy.uid().unwrap_or_default();
    let generation = policy.metadata.generation;
    let desired = &policy.spec.flow_log;
    let known_watcher = previous.and_then(|s| s.network_watcher_id.as_deref());
    let arm = ctx.arm_for(policy).await?;
    let remember = |token: &PendingOperation, differences: Vec<Difference>| {
        ctx.operations.lock().expect("not poisoned").insert(uid.clone(), (token.clone(), differences));
    };
    let forget = || ctx.operations.lock().expect("not poisoned").remove(&uid);

    // An operation in flight (this process's memory first: the cache may lag behind the status it wrote).
    let pending = ctx
        .operations
        .lock()
        .expect("not poisoned")
        .get(&uid)
        .cloned()
        .or_else(|| previous.and_then(|s| s.operation.clone()).map(|t| (t, vec![])));
    let mut step = None;
    if let Some((token, differences)) = pending {
        forget();
        match sync::operation(&token) {
            None => warn!(kind = token.kind, "status names an operation that cannot be resumed; reading Azure again"),
            Some(operation) => {
                let located = locate(&arm, &policy.spec, known_watcher).await?;
                *place = Some(Place { watcher_id: located.watcher.to_string(), flow_log_id: None });
                let located_watcher = located.watcher.clone();
                match resume(&arm, &ctx.index, located, desired, operation).await {
                    Ok(Resumed::Running(operation, wait)) => {
                        let token = sync::token(&operation, token.drift);
                        remember(&token, differences.clone());
                        let outcome = match operation.kind {
                            OperationKind::QueryFlowLogStatus => Outcome::Checking { operation: token },
                            _ => Outcome::Applying { differences, drift: token.drift, operation: token },
                        };
                        return Ok((outcome, Some(wait)));
                    }
                    Ok(Resumed::Observed(observation)) => step = Some(Step::Observed(observation)),
                    Ok(Resumed::Synced(synced)) => {
                        if token.drift {
                            ctx.metrics.drift_corrected.inc();
                        }
                        if let Some(p) = place.as_mut() {
                            p.flow_log_id = synced.flow_log_id.clone();
                        }
                        info!(drift = token.drift, operation = token.kind, "configured flow log");
                        ctx.index.subscribe(&arm, &located_watcher, interval);
                        let outcome = Outcome::Corrected { observed: synced.observed, differences, drift: token.drift };
                        return Ok((outcome, None));
                    }
                    // Azure no longer knows the operation, or the spec changed while it ran: read, then decide.
                    Err(SyncError::Azure(e)) if e.status() == Some(404) => {
                        info!(kind = token.kind, "Azure no longer knows the operation; reading the flow log again");
                    }
                    // A token whose URLs the client does not follow (another origin: a status written elsewhere or
                    // tampered with) is no operation of ours to poll: dropped, and Azure read again.
                    Err(SyncError::Azure(e @ ArmError::UrlRefused { .. })) => {
                        warn!(kind = token.kind, "dropping the operation in status: {e}; reading the flow log again");
                    }
                    // Reading the operation failed (429, 5xx, the connection), not the operation: it goes on in
                    // Azure. Keep it, and poll it again after a backoff; planning afresh now could write again.
                    Err(SyncError::Azure(e)) if e.is_retryable_request() => {
                        warn!(kind = token.kind, "polling the operation failed: {e}; polling it again later");
                        let wait = ctx.backoff(&uid, e.retry_after());
                        remember(&token, differences.clone());
                        let outcome = match OperationKind::parse(&token.kind) {
                            Some(OperationKind::QueryFlowLogStatus) => Outcome::Checking { operation: token },
                            _ => Outcome::Applying { differences, drift: token.drift, operation: token },
                        };
                        return Ok((outcome, Some(wait)));
                    }
                    Err(SyncError::NotConverged(_)) if previous.and_then(|s| s.observed_generation) != generation => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    let step = match step {
        Some(step) => step,
        None => {
            // A re-check may use the watcher's list of this interval; a new spec is planned against one no older
            // than a few seconds (which the other new policies of a GitOps sync share).
            let new_spec = previous.and_then(|s| s.observed_generation) != generation;
            let max_age = if new_spec { interval.min(NEW_SPEC_MAX_AGE) } else { interval };
            locate_and_observe(&arm, &ctx.index, &policy.spec, known_watcher, max_age).await?
        }
    };
    let drift = is_drift(previous, generation);
    let confirming = |located: &sync::Located, operation: &crate::azure::Operation| {
        let token = sync::token(operation, drift);
        remember(&token, vec![]);
        (Place { watcher_id: located.watcher.to_string(), flow_log_id: None }, Outcome::Checking { operation: token })
    };
    let observation = match step {
        Step::Observed(observation) => observation,
        Step::Confirming(located, operation, wait) => {
            let (at, outcome) = confirming(&located, &operation);
            *place = Some(at);
            return Ok((outcome, Some(wait)));
        }
    };
    *place =
        Some(Place { watcher_id: observation.located().watcher.to_string(), flow_log_id: observation.flow_log_id() });
    let under = |observation: &sync::Observation| refusal::Conditions {
        generation,
        observed: observation.observed(),
        credentials: ctx.credentials_version(policy),
        retry: policy.annotations().get(RETRY_ANNOTATION).cloned(),
    };
    let refusal = ctx.refusals.lock().expect("not poisoned").get(&uid).cloned();
    let reason = ready_reason(previous);
    let decision = |observation: &sync::Observation| {
        decide(policy.spec.mode, reason.as_deref(), drift, observation.found(), refusal.as_ref(), &under(observation))
    };
    let mut observation = observation;
    let (differences, under) = loop {
        match decision(&observation) {
            Decision::Report { outcome, new_drift } => {
                if new_drift {
                    ctx.metrics.drift_detected.inc();
                }
                // Steady: the watcher's refresher checks the target from now on.
                ctx.index.subscribe(&arm, &observation.located().watcher, interval);
                return Ok((outcome, None));
            }
            // Azure refused this very write and nothing has changed since: stay Stalled without asking again.
            Decision::StillRefused(error) => {
                ctx.index.subscribe(&arm, &observation.located().watcher, interval);
                return Err(Failure::Refused(error));
            }
            Decision::Confirm => match sync::confirm(&arm, &ctx.index, observation, desired).await? {
                Step::Observed(confirmed) => observation = confirmed,
                Step::Confirming(located, operation, wait) => {
                    let (at, outcome) = confirming(&located, &operation);
                    *place = Some(at);
                    return Ok((outcome, Some(wait)));
                }
            },
            Decision::Write { differences, .. } => break (differences, under(&observation)),
        }
    };
    if drift {
        ctx.metrics.drift_detected.inc();
    }
    let watcher = observation.located().watcher.clone();
    let synced = match apply(&arm, &ctx.index, &ctx.insights, observation, desired).await {
        Ok(Applied::Done(synced)) => synced,
        Ok(Applied::Writing(operation, wait)) => {
            let token = sync::token(&operation, drift);
            remember(&token, differences.clone());
            return Ok((Outcome::Applying { differences, drift, operation: token }, Some(wait)));
        }
        Err(e) if !e.is_transient() => {
            let error = last_error(&e);
            ctx.refusals.lock().expect("not poisoned").insert(uid.clone(), Refusal { error, under });
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if drift {
        ctx.metrics.drift_corrected.inc();
    }
    if let Some(p) = place.as_mut() {
        p.flow_log_id = synced.flow_log_id.clone().or(p.flow_log_id.take());
    }
    info!(drift, changes = ?synced.corrected.iter().map(ToString::to_string).collect::<Vec<_>>(), "configured flow log");
    ctx.index.subscribe(&arm, &watcher, interval);
    Ok((Outcome::Corrected { observed: synced.observed, differences: synced.corrected, drift }, None))
}

/// Why one sync stopped: Azure (reported in status) or Kubernetes (the reconcile is retried).
enum Failure {
    Azure(SyncError),
    Kubernetes(Error),
    /// The write Azure refused before, under the same conditions: not sent again.
    Refused(LastError),
}

/// The error as status reports it.
fn last_error(e: &SyncError) -> LastError {
    LastError { code: e.code().to_string(), message: e.to_string(), request_id: e.request_id().map(str::to_string) }
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        Failure::Azure(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Kubernetes(e)
    }
}

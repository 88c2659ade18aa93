//! The Kubernetes edge: watches `FlowLogPolicy` objects, runs [`sync`] for each, and writes the outcome
//! into status by server-side apply.

mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

pub use sync::{SyncError, Synced, network_watcher_id, sync};

use crate::api::{FlowLogPolicy, LastError, MANAGER};
use crate::azure::ArmClient;
use crate::reconcile::{Outcome, is_drift, next_status};

/// Errors that stop one reconcile; Azure errors are not among them (they end up in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status: {0}")]
    Kube(#[from] kube::Error),
    #[error("object has no namespace")]
    NoNamespace,
}

pub struct Context {
    pub client: Client,
    pub arm: ArmClient,
    /// Consecutive transient failures per object UID, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, arm: ArmClient) -> Arc<Self> {
        Arc::new(Self { client, arm, failures: Mutex::default() })
    }
}

/// Where the controller watches.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Only this namespace; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Policies reconciled at once.
    pub concurrency: u16,
    /// Stop gracefully on SIGINT/SIGTERM (the binary); embedders and tests stop by dropping the future.
    pub handle_signals: bool,
}

/// Runs the controller until a shutdown signal.
pub async fn run(ctx: Arc<Context>, settings: Settings) {
    let api: Api<FlowLogPolicy> = match &settings.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (reader, writer) = reflector::store();
    // Status writes bump resourceVersion but not generation: filtering on generation keeps our own
    // status updates from triggering another round of Azure calls. Drift checks run on the requeue timer.
    let trigger = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let mut controller = Controller::for_stream(trigger, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency));
    if settings.handle_signals {
        controller = controller.shutdown_on_signal();
    }
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!("reconcile failed: {e}");
            }
        })
        .await;
}

async fn reconcile(policy: Arc<FlowLogPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = policy.namespace().ok_or(Error::NoNamespace)?;
    let name = policy.name_any();
    let uid = policy.uid().unwrap_or_default();
    let generation = policy.metadata.generation;
    let previous = policy.status.as_ref();

    let interval = policy.spec.interval.parse::<kube::core::Duration>().map(Duration::from);
    let (outcome, requeue) = match (interval, sync(&ctx.arm, &policy.spec).await) {
        (Err(e), _) => {
            let error = LastError { code: "InvalidSpec".into(), message: format!("interval: {e}"), request_id: None };
            (Outcome::Failed { error }, None)
        }
        (Ok(interval), Ok(synced)) => {
            ctx.failures.lock().expect("not poisoned").remove(&uid);
            let outcome = if synced.corrected.is_empty() {
                Outcome::InSync { observed: synced.observed }
            } else {
                let drift = is_drift(previous, generation);
                info!(policy = %format!("{namespace}/{name}"), drift, changes = ?synced.corrected.iter().map(ToString::to_string).collect::<Vec<_>>(), "configured flow log");
                Outcome::Corrected { observed: synced.observed, differences: synced.corrected, drift }
            };
            (outcome, Some(jitter(interval)))
        }
        (Ok(interval), Err(e)) => {
            warn!(policy = %format!("{namespace}/{name}"), code = e.code(), "sync failed: {e}");
            let retry = if e.is_transient() {
                let mut failures = ctx.failures.lock().expect("not poisoned");
                let n = failures.entry(uid.clone()).or_insert(0);
                *n += 1;
                let backoff = transient_backoff(*n);
                let server_says = match &e {
                    SyncError::Azure(arm) => arm.retry_after(),
                    _ => None,
                };
                backoff.max(server_says.unwrap_or_default())
            } else {
                // Terminal: retrying cannot help until the spec (or Azure) changes; a spec change
                // triggers at once, and the interval catches changes made in Azure.
                jitter(interval)
            };
            let error = LastError {
                code: e.code().to_string(),
                message: e.to_string(),
                request_id: match &e {
                    SyncError::Azure(arm) => arm.request_id().map(str::to_string),
                    _ => None,
                },
            };
            (Outcome::Failed { error }, Some(retry))
        }
    };

    let status = next_status(previous, generation, &outcome, &Time(Timestamp::now()));
    if previous != Some(&status) {
        let api: Api<FlowLogPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = json!({ "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy", "status": status });
        api.patch_status(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
    }
    Ok(requeue.map(Action::requeue).unwrap_or_else(Action::await_change))
}

fn error_policy(_policy: Arc<FlowLogPolicy>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!("{error}; retrying in 15s");
    Action::requeue(Duration::from_secs(15))
}

/// ±10 % so that policies created together do not hit ARM together forever.
fn jitter(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + fastrand::f64() * 0.2)
}

/// 5 s, 10 s, 20 s, … capped at 5 min, with jitter.
fn transient_backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(5).saturating_mul(1u32 << failures.saturating_sub(1).min(6));
    jitter(base.min(Duration::from_secs(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let secs = |n| transient_backoff(n).as_secs_f64();
        assert!((4.5..=5.5).contains(&secs(1)));
        assert!((9.0..=11.0).contains(&secs(2)));
        assert!((270.0..=330.0).contains(&secs(20)));
    }
}

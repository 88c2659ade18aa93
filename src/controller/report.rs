//! Applies a reconcile's outcome to Kubernetes: the status by server-side apply (only when it changed), and the
//! event the core chose for the transition (if any), with its note cut to what the API allows.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::warn;

use super::{Context, Error};
use crate::api::{FlowLogPolicy, FlowLogPolicyStatus, MANAGER};
use crate::reconcile::delivery::LOGS_DELIVERED;
use crate::reconcile::{Outcome, event_for, needs_write, next_status};

/// Where the flow log was found: recorded in status so that later reconciles skip discovery (the target is
/// immutable) and read the flow log by name.
pub(super) struct Place {
    pub watcher_id: String,
    pub flow_log_id: Option<String>,
}

/// Writes the status for `outcome` when it changed, and publishes an event when a condition transition
/// deserves one (events on transitions only: a stuck policy does not spam the namespace).
pub(super) async fn write_status(
    policy: &FlowLogPolicy,
    previous: Option<&FlowLogPolicyStatus>,
    ctx: &Context,
    outcome: &Outcome,
    place: Option<&Place>,
) -> Result<FlowLogPolicyStatus, Error> {
    let now = Time(Timestamp::now());
    let mut status = next_status(previous, policy.metadata.generation, outcome, &now);
    if let Some(place) = place {
        status.network_watcher_id = Some(place.watcher_id.clone());
        status.flow_log_id = place.flow_log_id.clone().or(status.flow_log_id.take());
    }
    if needs_write(previous, &status, &now, ctx.settings.status_heartbeat) {
        let api: Api<FlowLogPolicy> =
            Api::namespaced(ctx.client.clone(), &policy.namespace().ok_or(Error::NoNamespace)?);
        // `logs` and `LogsDelivered` are the delivery checker's (its own field manager): not applied here.
        let mut applied = status.clone();
        applied.logs = None;
        applied.conditions.retain(|c| c.type_ != LOGS_DELIVERED);
        let patch = json!({ "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy", "status": applied });
        let (name, apply) = (policy.name_any(), PatchParams::apply(MANAGER).force());
        match api.patch_status(&name, &apply, &Patch::Apply(&patch)).await {
            // An apply that leaves a field out removes only what this manager owns: the fields of `operation`,
            // `lastError` or `observed` that someone else wrote stay, and a half object is refused (422). Clear
            // the fields this status leaves out, whoever wrote them, and apply again.
            Err(kube::Error::Api(e)) if e.code == 422 => {
                let gone: serde_json::Map<String, serde_json::Value> = ["operation", "lastError", "observed"]
                    .into_iter()
                    .filter(|k| patch["status"].get(k).is_none_or(serde_json::Value::is_null))
                    .map(|k| (k.to_string(), serde_json::Value::Null))
                    .collect();
                if gone.is_empty() {
                    return Err(kube::Error::Api(e).into());
                }
                warn!("status refused ({}); clearing {:?} written by another manager", e.message, gone.keys());
                let clear = json!({ "status": gone });
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&clear)).await?;
                api.patch_status(&name, &apply, &Patch::Apply(&patch)).await?;
            }
            result => {
                result?;
            }
        }
        ctx.wrote_status(&policy.uid().unwrap_or_default(), policy.status.as_ref(), &status);
    }
    if let Some((kind, reason, note)) = event_for(previous, &status, outcome) {
        publish(ctx, policy, kind, &reason, note).await;
    }
    Ok(status)
}

/// Events carry the cause chain in `note`, truncated to the 1 KiB the API allows.
pub(super) async fn publish(ctx: &Context, policy: &FlowLogPolicy, type_: EventType, reason: &str, note: String) {
    let mut note = note;
    if note.len() > 1000 {
        let mut cut = 997;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    if let Err(e) = ctx.events.publish(&policy.object_ref(&()), type_, reason, "Reconcile", &note).await {
        warn!("publishing event {reason}: {e}");
    }
}

//! Deleting a policy: its deletion policy carried out in Azure (behind the finalizer), then the policies that
//! waited for its target re-run.

use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::report::{publish, write_status};
use super::{CachedPolicy, Context, Error, conflicting_owner, last_error, policy_key};
use crate::api::{DeletionPolicy, FlowLogPolicy, Mode};
use crate::reconcile::{Outcome, schedule};
use crate::sync::retire;

/// Cleanup: carry out the deletion policy, then let the finalizer go.
pub(super) async fn cleanup(policy: &FlowLogPolicy, ctx: &Context) -> Result<Action, Error> {
    let started = Instant::now();
    let others = same_target(policy, ctx);
    let owned = conflicting_owner(policy, ctx).is_none();
    // A policy that never owned its target (conflict) or only audits it must not change Azure on deletion.
    let leave_azure =
        !owned || policy.spec.mode == Mode::Audit || policy.spec.deletion_policy == DeletionPolicy::Orphan;
    if !leave_azure {
        let what = match policy.spec.deletion_policy {
            DeletionPolicy::Delete => "deleting the flow log in Azure (deletionPolicy Delete)",
            _ => "switching the flow log off in Azure (deletionPolicy Disable)",
        };
        let latest =
            write_status(policy, policy.status.as_ref(), ctx, &Outcome::Deleting { what: what.into() }, None).await?;
        let status = policy.status.as_ref();
        let known_watcher = status.and_then(|s| s.network_watcher_id.as_deref());
        let max_age = policy.spec.interval.parse::<kube::core::Duration>().map(Duration::from).unwrap_or_default();
        let result = match ctx.arm_for(policy).await {
            Ok(arm) => {
                retire(&arm, &ctx.index, &policy.spec, policy.spec.deletion_policy, known_watcher, max_age).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let retry_in = if e.is_transient() {
                schedule::backoff(2, e.retry_after(), fastrand::f64())
            } else {
                Duration::from_secs(60)
            };
            let error = last_error(&e);
            write_status(policy, Some(&latest), ctx, &Outcome::DeletionBlocked { error, retry_in }, None).await?;
            ctx.metrics.reconciled("deletion_blocked", started);
            return Err(Error::DeletionBlocked { message: e.to_string(), retry_in });
        }
        let (reason, note) = match policy.spec.deletion_policy {
            DeletionPolicy::Delete => ("Deleted", "Deleted the flow log in Azure before deletion."),
            _ => ("Disabled", "Switched the flow log off in Azure before deletion."),
        };
        publish(ctx, policy, EventType::Normal, reason, note.into()).await;
    }
    for other in others {
        let _ = ctx.retrigger.unbounded_send(other);
    }
    ctx.forget(&policy.uid().unwrap_or_default());
    ctx.metrics.reconciled("deleted", started);
    Ok(Action::await_change())
}

fn same_target(policy: &FlowLogPolicy, ctx: &Context) -> Vec<ObjectRef<CachedPolicy>> {
    let me = policy_key(&policy.metadata, &policy.spec);
    let targets = ctx.targets.lock().expect("not poisoned");
    targets.others(&me).map(|p| ObjectRef::new(&p.name).within(&p.namespace)).collect()
}

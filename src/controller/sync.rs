//! One drift check against Azure: query → plan → configure only on drift → verify. Shared by the
//! Kubernetes controller and the `demo` command so that both run exactly the same logic.

use crate::api::{FlowLogPolicySpec, ObservedFlowLog};
use crate::azure::id::{NSG_TYPE, ResourceId};
use crate::azure::{ArmClient, ArmError};
use crate::reconcile::{Difference, Plan, plan};

/// What a successful sync found and did.
#[derive(Clone, Debug, PartialEq)]
pub struct Synced {
    /// The flow log as Azure reports it after the sync.
    pub observed: ObservedFlowLog,
    /// What was repaired; empty when Azure already matched (no write was made).
    pub corrected: Vec<Difference>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Azure(#[from] ArmError),
    #[error("{0}")]
    InvalidSpec(String),
    /// Azure accepted the write but still reports a different configuration.
    #[error("Azure accepted the change but still differs from the spec: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NotConverged(Vec<Difference>),
}

impl SyncError {
    pub fn code(&self) -> &str {
        match self {
            SyncError::Azure(e) => e.code(),
            SyncError::InvalidSpec(_) => "InvalidSpec",
            SyncError::NotConverged(_) => "NotConverged",
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Azure(e) if e.is_transient())
    }
}

/// The Network Watcher named by the spec, in the target's subscription.
pub fn network_watcher_id(spec: &FlowLogPolicySpec) -> Result<(ResourceId, ResourceId), SyncError> {
    let target = ResourceId::parse(&spec.target.resource_id).map_err(|e| SyncError::InvalidSpec(e.to_string()))?;
    if !target.is_type(NSG_TYPE) {
        return Err(SyncError::InvalidSpec(format!("target {target} is not a network security group")));
    }
    let watcher = ResourceId::network_watcher(
        &target.subscription,
        &spec.network_watcher.resource_group,
        &spec.network_watcher.name,
    );
    Ok((target, watcher))
}

pub async fn sync(arm: &ArmClient, spec: &FlowLogPolicySpec) -> Result<Synced, SyncError> {
    let (target, watcher) = network_watcher_id(spec)?;
    let current = arm.query_flow_log_status(&watcher, target.as_str()).await?;
    match plan(target.as_str(), &spec.flow_log, &current) {
        Plan::InSync => Ok(Synced { observed: ObservedFlowLog::from(&current), corrected: vec![] }),
        Plan::Configure { request, differences } => {
            let applied = arm.configure_flow_log(&watcher, &request).await?;
            // Trust but verify: a write that Azure acknowledges but does not apply must not look like success.
            if let Plan::Configure { differences: left, .. } = plan(target.as_str(), &spec.flow_log, &applied) {
                return Err(SyncError::NotConverged(left));
            }
            Ok(Synced { observed: ObservedFlowLog::from(&applied), corrected: differences })
        }
    }
}

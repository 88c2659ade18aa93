//! One drift check against Azure, in two steps so that the controller can report `Applying` before a
//! long-running write: [`observe`] (query → plan) and [`apply`] (configure → verify). [`sync`] runs both, for
//! the `demo` command; [`disable`] carries out the `Disable` deletion policy.

use crate::api::{FlowLogPolicySpec, FlowLogSettings, ObservedFlowLog};
use crate::azure::id::{NSG_TYPE, ResourceId};
use crate::azure::model::FlowLogInformation;
use crate::azure::{ArmClient, ArmError};
use crate::reconcile::{Difference, Plan, plan};

/// What Azure holds and what would make it match the spec.
#[derive(Clone, Debug)]
pub struct Observation {
    pub target: ResourceId,
    pub watcher: ResourceId,
    pub current: FlowLogInformation,
    pub plan: Plan,
}

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

    pub fn request_id(&self) -> Option<&str> {
        match self {
            SyncError::Azure(e) => e.request_id(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Azure(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// The target and the Network Watcher named by the spec (in the target's subscription).
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

/// Reads the flow log from Azure and plans what would make it match `desired`.
pub async fn observe(
    arm: &ArmClient,
    spec: &FlowLogPolicySpec,
    desired: &FlowLogSettings,
) -> Result<Observation, SyncError> {
    let (target, watcher) = network_watcher_id(spec)?;
    let current = arm.query_flow_log_status(&watcher, target.as_str()).await?;
    let plan = plan(target.as_str(), desired, &current);
    Ok(Observation { target, watcher, current, plan })
}

/// Carries out the observation's plan and checks that Azure now reports `desired`: a write that Azure
/// acknowledges but does not apply must not look like success.
pub async fn apply(arm: &ArmClient, observation: Observation, desired: &FlowLogSettings) -> Result<Synced, SyncError> {
    match observation.plan {
        Plan::InSync => Ok(Synced { observed: ObservedFlowLog::from(&observation.current), corrected: vec![] }),
        Plan::Configure { request, differences } => {
            let applied = arm.configure_flow_log(&observation.watcher, &request).await?;
            if let Plan::Configure { differences: left, .. } = plan(observation.target.as_str(), desired, &applied) {
                return Err(SyncError::NotConverged(left));
            }
            Ok(Synced { observed: ObservedFlowLog::from(&applied), corrected: differences })
        }
    }
}

/// Observe and, on drift, repair.
pub async fn sync(arm: &ArmClient, spec: &FlowLogPolicySpec) -> Result<Synced, SyncError> {
    let observation = observe(arm, spec, &spec.flow_log).await?;
    apply(arm, observation, &spec.flow_log).await
}

/// Switches the flow log off (the `Disable` deletion policy). Returns whether a write was needed.
pub async fn disable(arm: &ArmClient, spec: &FlowLogPolicySpec) -> Result<bool, SyncError> {
    let off = FlowLogSettings { enabled: false, ..spec.flow_log.clone() };
    let observation = observe(arm, spec, &off).await?;
    let wrote = matches!(observation.plan, Plan::Configure { .. });
    apply(arm, observation, &off).await?;
    Ok(wrote)
}

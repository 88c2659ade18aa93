//! One check carried to its end, waiting for Azure: locate → observe → confirm a suspected NSG drift → write →
//! verify. For callers that may wait on Azure (the command line's `apply`); the controller never parks on an
//! operation and drives the same steps one at a time.

use std::time::Duration;

use super::{
    FlowLogIndex, Insights, Located, Step, SyncError, Synced, apply, confirm, finish, locate, observe, settle,
};
use crate::api::FlowLogPolicySpec;
use crate::azure::ArmClient;

/// Makes Azure match `spec`, waiting for every long-running
/// operation. `Synced::corrected` is empty when Azure already matched and nothing was written.
pub async fn converge(
    arm: &ArmClient,
    index: &FlowLogIndex,
    insights: &Insights,
    spec: &FlowLogPolicySpec,
    max_age: Duration,
) -> Result<(Located, Synced), SyncError> {
    let desired = &spec.flow_log;
    let located = locate(arm, spec, None).await?;
    let step = match observe(arm, index, located, desired, max_age).await? {
        Step::Observed(observation) => confirm(arm, index, observation, desired).await?,
        confirming => confirming,
    };
    let observation = settle(arm, index, step, desired).await?;
    let located = observation.located().clone();
    let differences = observation.differences().map(<[_]>::to_vec).unwrap_or_default();
    let applied = apply(arm, index, insights, observation, desired).await?;
    let synced = finish(arm, index, located.clone(), applied, desired, differences).await?;
    Ok((located, synced))
}

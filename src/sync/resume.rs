//! Operations in flight: [`resume`] polls one started by [`confirm`](super::confirm) or [`apply`](super::apply) (its
//! token may come from status, after a restart); [`settle`] and [`finish`] wait for one (CLI, deletion); [`token`]
//! and [`operation`] convert between the client's [`Operation`] and the token kept in status.

use std::time::Duration;

use super::{Applied, FlowLogIndex, Located, Observation, Step, SyncError, Synced, configured, confirmed, put};
use crate::api::{FlowLogSettings, ObservedFlowLog, PendingOperation};
use crate::azure::{ArmClient, ArmError, Operation, OperationKind, Progress};
use crate::reconcile::Difference;

/// Where an operation stands after one more poll.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one short-lived value per reconcile
pub enum Resumed {
    /// Still running: poll again after the wait (the token may have changed: Azure can move `Location`).
    Running(Operation, Duration),
    /// A confirmation (`queryFlowLogStatus`) ended: plan against Azure's answer.
    Observed(Observation),
    /// A write ended and Azure matches `desired` (what was repaired is not known here: empty).
    Synced(Synced),
}

/// Polls an operation started by [`observe`] or [`apply`] once (the token may come from status, after a restart).
/// An error whose HTTP status is 404 means that Azure no longer knows the operation: re-read, then decide.
pub async fn resume(
    arm: &ArmClient,
    index: &FlowLogIndex,
    located: Located,
    desired: &FlowLogSettings,
    operation: Operation,
) -> Result<Resumed, SyncError> {
    let kind = operation.kind;
    let name = operation
        .resource_url
        .as_ref()
        .and_then(|u| u.path_segments()?.next_back().map(str::to_string))
        .unwrap_or_default();
    let bytes = match arm.resume(operation).await {
        Ok(Progress::Running(operation, wait)) => return Ok(Resumed::Running(operation, wait)),
        Ok(Progress::Done(Some(bytes))) => bytes,
        Ok(Progress::Done(None)) => {
            // Succeeded with nothing to read: the next check reads Azure afresh.
            index.invalidate(arm, &located.watcher);
            return Err(SyncError::Azure(ArmError::InvalidResponse(format!(
                "{} ended without a result to read",
                kind.as_str()
            ))));
        }
        Err(e) => {
            if !e.is_transient() {
                index.invalidate(arm, &located.watcher);
            }
            return Err(e.into());
        }
    };
    match kind {
        OperationKind::QueryFlowLogStatus => Ok(Resumed::Observed(confirmed(index, arm, located, desired, &bytes)?)),
        OperationKind::ConfigureFlowLog => {
            Ok(Resumed::Synced(configured(arm, index, &located, desired, &bytes, vec![])?))
        }
        OperationKind::PutFlowLog => Ok(Resumed::Synced(put(arm, index, &located, &name, desired, &bytes, vec![])?)),
        OperationKind::DeleteFlowLog => {
            index.record(arm, &located.watcher, located.target.as_str(), None);
            Ok(Resumed::Synced(Synced { observed: ObservedFlowLog::default(), corrected: vec![], flow_log_id: None }))
        }
    }
}

/// Waits for a confirmation in flight to end (for callers that may wait: CLI, deletion).
pub async fn settle(
    arm: &ArmClient,
    index: &FlowLogIndex,
    mut step: Step,
    desired: &FlowLogSettings,
) -> Result<Observation, SyncError> {
    loop {
        match step {
            Step::Observed(observation) => return Ok(observation),
            Step::Confirming(located, operation, wait) => {
                tokio::time::sleep(wait).await;
                step = match resume(arm, index, located.clone(), desired, operation).await? {
                    Resumed::Running(operation, wait) => Step::Confirming(located, operation, wait),
                    Resumed::Observed(observation) => Step::Observed(observation),
                    Resumed::Synced(_) => {
                        return Err(SyncError::Azure(ArmError::InvalidResponse(
                            "a confirmation ended as a write".into(),
                        )));
                    }
                };
            }
        }
    }
}

/// Waits for a write in flight to end (for callers that may wait: CLI, deletion). `differences` are what the write
/// repairs (the observation's), reported in the result.
pub async fn finish(
    arm: &ArmClient,
    index: &FlowLogIndex,
    located: Located,
    mut applied: Applied,
    desired: &FlowLogSettings,
    differences: Vec<Difference>,
) -> Result<Synced, SyncError> {
    loop {
        match applied {
            Applied::Done(synced) if synced.corrected.is_empty() => {
                return Ok(Synced { corrected: differences, ..synced });
            }
            Applied::Done(synced) => return Ok(synced),
            Applied::Writing(operation, wait) => {
                tokio::time::sleep(wait).await;
                applied = match resume(arm, index, located.clone(), desired, operation).await? {
                    Resumed::Running(operation, wait) => Applied::Writing(operation, wait),
                    Resumed::Synced(synced) => Applied::Done(synced),
                    Resumed::Observed(_) => {
                        return Err(SyncError::Azure(ArmError::InvalidResponse("a write ended as a read".into())));
                    }
                };
            }
        }
    }
}

/// The resume token kept in status for an operation in flight.
pub fn token(operation: &Operation, drift: bool) -> PendingOperation {
    let timestamp = k8s_openapi::jiff::Timestamp::try_from(operation.started)
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now());
    PendingOperation {
        kind: operation.kind.as_str().to_string(),
        status_url: operation.status_url.as_ref().map(ToString::to_string),
        result_url: operation.result_url.as_ref().map(ToString::to_string),
        resource_url: operation.resource_url.as_ref().map(ToString::to_string),
        request_id: operation.request_id.clone(),
        started_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(timestamp),
        retry_after_seconds: operation.poll_every.map(|d| d.as_secs().min(u64::from(u32::MAX)) as u32),
        drift,
    }
}

/// The operation a resume token names; `None` when it cannot be read (an unknown kind, a URL that is not one).
pub fn operation(token: &PendingOperation) -> Option<Operation> {
    let url = |u: &Option<String>| -> Result<Option<url::Url>, ()> {
        u.as_deref().map(|u| url::Url::parse(u).map_err(|_| ())).transpose()
    };
    Some(Operation {
        kind: OperationKind::parse(&token.kind)?,
        status_url: url(&token.status_url).ok()?,
        result_url: url(&token.result_url).ok()?,
        resource_url: url(&token.resource_url).ok()?,
        request_id: token.request_id.clone(),
        started: std::time::SystemTime::from(token.started_at.0),
        poll_every: token.retry_after_seconds.map(|s| Duration::from_secs(u64::from(s))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_tokens_round_trip_and_unreadable_ones_are_refused() {
        let op = Operation {
            kind: OperationKind::PutFlowLog,
            status_url: Some(url::Url::parse("https://management.azure.com/subscriptions/s/providers/Microsoft.Network/locations/weu/operations/1?api-version=1").unwrap()),
            result_url: None,
            resource_url: Some(url::Url::parse("https://management.azure.com/x/flowLogs/fl?api-version=1").unwrap()),
            request_id: Some("1".into()),
            started: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            poll_every: Some(Duration::from_secs(10)),
        };
        let token = token(&op, true);
        assert_eq!(token.kind, "putFlowLog");
        assert!(token.drift);
        assert_eq!(operation(&token), Some(op));
        assert_eq!(operation(&PendingOperation { kind: "reboot".into(), ..token.clone() }), None);
        assert_eq!(operation(&PendingOperation { status_url: Some("not a url".into()), ..token }), None);
    }
}

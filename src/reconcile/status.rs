//! Outcome of a reconcile → status, following the kstatus conventions Flux and Argo CD read:
//! `Ready` says whether Azure matches the spec, `Reconciling=True` means work is under way (Flux waits),
//! `Stalled=True` means the operator cannot make progress without a change by the user (Flux fails fast).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::Difference;
use crate::api::{FlowLogPolicyStatus, LastError, ObservedFlowLog, PendingOperation};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Stable condition reasons (part of the API: alerts and dashboards match on them).
pub mod reason {
    pub const IN_SYNC: &str = "InSync";
    pub const APPLIED: &str = "Applied";
    pub const DRIFT_CORRECTED: &str = "DriftCorrected";
    pub const APPLYING: &str = "Applying";
    pub const DRIFTED: &str = "Drifted";
    pub const RETRYING: &str = "Retrying";
    pub const THROTTLED: &str = "Throttled";
    pub const CONFLICT: &str = "Conflict";
    pub const DELETING: &str = "Deleting";
    pub const DELETION_BLOCKED: &str = "DeletionBlocked";
}

/// What one reconcile found and did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Azure matched the spec; nothing was written.
    InSync { observed: ObservedFlowLog },
    /// Azure accepted a write and is carrying it out (a long-running operation, polled at its `Retry-After`).
    Applying { differences: Vec<Difference>, drift: bool, operation: PendingOperation },
    /// Azure is confirming a suspected drift (`queryFlowLogStatus`): conditions stay as they are.
    Checking { operation: PendingOperation },
    /// The operator wrote to Azure and Azure now matches.
    Corrected { observed: ObservedFlowLog, differences: Vec<Difference>, drift: bool },
    /// Audit mode: Azure differs and the operator did not write.
    Drifted { observed: ObservedFlowLog, differences: Vec<Difference> },
    /// Reading or writing failed. `retry_in` is set for transient failures (the operator retries by itself);
    /// `None` means the failure is terminal until the spec, the credentials or Azure change.
    Failed { error: LastError, retry_in: Option<Duration> },
    /// Another policy manages the same Azure resource and keeps it.
    Conflict { owner: String },
    /// The policy is being deleted and the deletion policy is being carried out.
    Deleting { what: String },
    /// Carrying out the deletion policy failed; the deletion waits and retries.
    DeletionBlocked { error: LastError, retry_in: Duration },
}

/// Whether a write needed now repairs drift (Azure changed after the spec was applied and seen in sync)
/// rather than applying a new spec.
pub fn is_drift(previous: Option<&FlowLogPolicyStatus>, generation: Option<i64>) -> bool {
    previous.is_some_and(|s| {
        s.observed_generation.is_some()
            && s.observed_generation == generation
            && s.conditions.iter().any(|c| c.type_ == READY && c.status == "True")
    })
}

/// The status after `outcome`, derived from the previous one. Pure: `now` is passed in.
pub fn next_status(
    previous: Option<&FlowLogPolicyStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    now: &Time,
) -> FlowLogPolicyStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.operation = match outcome {
        Outcome::Applying { operation, .. } | Outcome::Checking { operation } => Some(operation.clone()),
        _ => None,
    };
    if let Outcome::Checking { .. } = outcome {
        return status;
    }
    status.observed_generation = generation;
    let c = |type_: &str, value: bool, reason: &str, message: String| Condition {
        type_: type_.to_string(),
        status: if value { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: truncate(message, 32 * 1024),
        observed_generation: generation,
        last_transition_time: now.clone(),
    };
    let conditions = match outcome {
        Outcome::InSync { observed } => {
            synced(&mut status, observed, now);
            let ready = previous_condition(previous, READY);
            if ready.is_some_and(|r| {
                r.status == "True"
                    && r.observed_generation == generation
                    && [reason::APPLIED, reason::DRIFT_CORRECTED].contains(&r.reason.as_str())
            }) {
                // Azure is as the last write left it: that write's report stands (no rewrite, no watch event).
                return status;
            }
            let message = "The flow log in Azure matches the spec.".to_string();
            [
                c(READY, true, reason::IN_SYNC, message.clone()),
                c(RECONCILING, false, reason::IN_SYNC, message.clone()),
                c(STALLED, false, reason::IN_SYNC, message),
            ]
        }
        Outcome::Checking { .. } => unreachable!("returned above"),
        Outcome::Applying { differences, drift, .. } => {
            let what = if *drift { "Repairing drift in Azure" } else { "Applying the spec to Azure" };
            let message = format!("{what}{}.", list(differences));
            // Repairing drift keeps Ready as it was (the spec was applied; Azure moved). A new spec is not Ready
            // until Azure has it: Ready=True stamped with a generation not yet applied would tell GitOps tools that
            // it is.
            let ready = previous_condition(previous, READY)
                .filter(|_| *drift)
                .map(|r| Condition { observed_generation: generation, ..r.clone() })
                .unwrap_or_else(|| c(READY, false, reason::APPLYING, message.clone()));
            [
                ready,
                c(RECONCILING, true, reason::APPLYING, message.clone()),
                c(STALLED, false, reason::APPLYING, message),
            ]
        }
        Outcome::Corrected { observed, differences, drift } => {
            synced(&mut status, observed, now);
            let (why, what) = if *drift {
                status.drift_corrections += 1;
                (reason::DRIFT_CORRECTED, "Repaired drift in Azure")
            } else {
                (reason::APPLIED, "Applied the spec to Azure")
            };
            let message = format!("{what}{}.", list(differences));
            [
                c(READY, true, why, message.clone()),
                c(RECONCILING, false, why, message.clone()),
                c(STALLED, false, why, message),
            ]
        }
        Outcome::Drifted { observed, differences } => {
            synced(&mut status, observed, now);
            let message = format!("Audit mode, Azure differs from the spec (not repaired){}.", list(differences));
            [
                c(READY, false, reason::DRIFTED, message.clone()),
                c(RECONCILING, false, reason::DRIFTED, message.clone()),
                c(STALLED, false, reason::DRIFTED, message),
            ]
        }
        Outcome::Failed { error, retry_in: Some(retry_in) } => {
            status.last_error = Some(error.clone());
            let why = if error.code.contains("Throttled") { reason::THROTTLED } else { reason::RETRYING };
            let message = format!("{}; retrying in {}s.", error.message, retry_in.as_secs().max(1));
            [
                c(READY, false, &condition_reason(&error.code), error.message.clone()),
                c(RECONCILING, true, why, message.clone()),
                c(STALLED, false, why, message),
            ]
        }
        Outcome::Failed { error, retry_in: None } => {
            status.last_error = Some(error.clone());
            let why = condition_reason(&error.code);
            [
                c(READY, false, &why, error.message.clone()),
                c(RECONCILING, false, &why, error.message.clone()),
                c(STALLED, true, &why, error.message.clone()),
            ]
        }
        Outcome::Conflict { owner } => {
            let message = format!(
                "{owner} already manages this target; this policy is ignored until that one is deleted or retargeted."
            );
            status.last_error =
                Some(LastError { code: reason::CONFLICT.into(), message: message.clone(), request_id: None });
            [
                c(READY, false, reason::CONFLICT, message.clone()),
                c(RECONCILING, false, reason::CONFLICT, message.clone()),
                c(STALLED, true, reason::CONFLICT, message),
            ]
        }
        Outcome::Deleting { what } => {
            let message = format!("Deleting: {what}.");
            let ready = previous_condition(previous, READY)
                .cloned()
                .unwrap_or_else(|| c(READY, false, reason::DELETING, message.clone()));
            [
                ready,
                c(RECONCILING, true, reason::DELETING, message.clone()),
                c(STALLED, false, reason::DELETING, message),
            ]
        }
        Outcome::DeletionBlocked { error, retry_in } => {
            status.last_error = Some(error.clone());
            let message = format!(
                "Deletion waits: {}; retrying in {}s. To leave Azure as it is and finish the deletion, set spec.deletionPolicy to Orphan.",
                error.message,
                retry_in.as_secs().max(1)
            );
            [
                c(READY, false, reason::DELETION_BLOCKED, message.clone()),
                c(RECONCILING, true, reason::DELETION_BLOCKED, message.clone()),
                c(STALLED, false, reason::DELETION_BLOCKED, message),
            ]
        }
    };
    for condition in conditions {
        set_condition(&mut status.conditions, condition);
    }
    status
}

fn synced(status: &mut FlowLogPolicyStatus, observed: &ObservedFlowLog, now: &Time) {
    status.observed = Some(observed.clone());
    status.last_sync_time = Some(now.clone());
    status.last_error = None;
}

fn previous_condition<'a>(previous: Option<&'a FlowLogPolicyStatus>, type_: &str) -> Option<&'a Condition> {
    previous?.conditions.iter().find(|c| c.type_ == type_)
}

/// `: a; b` for the end of a sentence, or nothing (after a restart the operator no longer knows what an operation
/// it resumed repairs).
fn list(differences: &[Difference]) -> String {
    if differences.is_empty() {
        return String::new();
    }
    format!(": {}", differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
}

/// Whether `new` must be written. A status that did not change is not rewritten (no watch-event churn for
/// GitOps tools); `lastSyncTime` alone is refreshed only once it is older than `heartbeat`.
pub fn needs_write(
    previous: Option<&FlowLogPolicyStatus>,
    new: &FlowLogPolicyStatus,
    now: &Time,
    heartbeat: Duration,
) -> bool {
    let Some(previous) = previous else { return true };
    if previous == new {
        return false;
    }
    let same_but_sync_time =
        FlowLogPolicyStatus { last_sync_time: previous.last_sync_time.clone(), ..new.clone() } == *previous;
    if !same_but_sync_time {
        return true;
    }
    let age =
        previous.last_sync_time.as_ref().map(|t| now.0.duration_since(t.0).unsigned_abs()).unwrap_or(Duration::MAX);
    age >= heartbeat
}

/// Sets `new` in `conditions`, keeping the existing `lastTransitionTime` unless the status flips, so
/// that the time says when the condition last changed, not when it was last written.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// Condition reasons must match `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`; ARM codes usually do,
/// anything else is reduced to the allowed characters.
pub fn condition_reason(code: &str) -> String {
    let cleaned: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    match cleaned.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => cleaned,
        _ => format!("Error{cleaned}"),
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn observed() -> ObservedFlowLog {
        ObservedFlowLog { enabled: true, ..Default::default() }
    }

    fn cond<'a>(s: &'a FlowLogPolicyStatus, type_: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    fn states(s: &FlowLogPolicyStatus) -> (&str, &str, &str) {
        (cond(s, READY).status.as_str(), cond(s, RECONCILING).status.as_str(), cond(s, STALLED).status.as_str())
    }

    fn error(code: &str) -> LastError {
        LastError { code: code.into(), message: "m".into(), request_id: Some("r".into()) }
    }

    #[test]
    fn transition_time_changes_only_when_status_flips() {
        let s1 = next_status(None, Some(1), &Outcome::InSync { observed: observed() }, &at(100));
        let s2 = next_status(Some(&s1), Some(1), &Outcome::InSync { observed: observed() }, &at(200));
        assert_eq!(cond(&s2, READY).last_transition_time, at(100));
        assert_eq!(s2.last_sync_time, Some(at(200)));
        let s3 = next_status(
            Some(&s2),
            Some(1),
            &Outcome::Failed { error: error("NsgFlowLogCreationBlocked"), retry_in: None },
            &at(300),
        );
        assert_eq!(cond(&s3, READY).reason, "NsgFlowLogCreationBlocked");
        assert_eq!(cond(&s3, READY).last_transition_time, at(300));
        assert_eq!(cond(&s3, RECONCILING).last_transition_time, at(100), "Reconciling stayed False");
        assert_eq!(s3.last_sync_time, Some(at(200)), "a failure is not a sync");
        let s4 = next_status(Some(&s3), Some(1), &Outcome::InSync { observed: observed() }, &at(400));
        assert_eq!(s4.last_error, None);
        assert_eq!(cond(&s4, READY).last_transition_time, at(400));
    }

    #[test]
    fn kstatus_states_for_each_outcome() {
        let o = observed();
        let d = vec![Difference { field: "enabled", desired: "true".into(), observed: "false".into() }];
        let cases: Vec<(Outcome, (&str, &str, &str), &str)> = vec![
            (Outcome::InSync { observed: o.clone() }, ("True", "False", "False"), "InSync"),
            (
                Outcome::Corrected { observed: o.clone(), differences: d.clone(), drift: false },
                ("True", "False", "False"),
                "Applied",
            ),
            (Outcome::Drifted { observed: o.clone(), differences: d.clone() }, ("False", "False", "False"), "Drifted"),
            (
                Outcome::Applying { differences: d.clone(), drift: false, operation: token("putFlowLog") },
                ("False", "True", "False"),
                "Applying",
            ),
            (
                Outcome::Failed { error: error("InternalServerError"), retry_in: Some(Duration::from_secs(5)) },
                ("False", "True", "False"),
                "InternalServerError",
            ),
            (
                Outcome::Failed { error: error("InvalidResourceReference"), retry_in: None },
                ("False", "False", "True"),
                "InvalidResourceReference",
            ),
            (Outcome::Conflict { owner: "ns/other".into() }, ("False", "False", "True"), "Conflict"),
            (Outcome::Deleting { what: "disabling".into() }, ("False", "True", "False"), "Deleting"),
            (
                Outcome::DeletionBlocked { error: error("AzureUnreachable"), retry_in: Duration::from_secs(5) },
                ("False", "True", "False"),
                "DeletionBlocked",
            ),
        ];
        for (outcome, expected, ready_reason) in cases {
            let s = next_status(None, Some(3), &outcome, &at(1));
            assert_eq!(states(&s), expected, "{outcome:?}");
            assert_eq!(cond(&s, READY).reason, ready_reason, "{outcome:?}");
            assert!(s.conditions.iter().all(|c| c.observed_generation == Some(3)));
        }
    }

    #[test]
    fn throttling_is_a_reason_of_its_own() {
        let s = next_status(
            None,
            Some(1),
            &Outcome::Failed { error: error("SubscriptionRequestsThrottled"), retry_in: Some(Duration::from_secs(30)) },
            &at(1),
        );
        assert_eq!(cond(&s, RECONCILING).reason, "Throttled");
        assert!(cond(&s, RECONCILING).message.contains("retrying in 30s"));
    }

    fn token(kind: &str) -> PendingOperation {
        PendingOperation {
            kind: kind.into(),
            status_url: Some("https://management.azure.com/op".into()),
            result_url: None,
            resource_url: None,
            request_id: None,
            started_at: at(1),
            retry_after_seconds: None,
            drift: false,
        }
    }

    #[test]
    fn an_operation_in_flight_is_kept_until_an_outcome_ends_it() {
        let s1 = next_status(None, Some(1), &Outcome::InSync { observed: observed() }, &at(1));
        let checking = Outcome::Checking { operation: token("queryFlowLogStatus") };
        let s2 = next_status(Some(&s1), Some(2), &checking, &at(2));
        assert_eq!(s2.operation, Some(token("queryFlowLogStatus")));
        assert_eq!(s2.conditions, s1.conditions, "a confirmation changes no condition");
        assert_eq!(s2.observed_generation, Some(1), "nor the generation the status describes");
        let d = vec![Difference { field: "enabled", desired: "true".into(), observed: "false".into() }];
        let applying = Outcome::Applying { differences: d, drift: true, operation: token("configureFlowLog") };
        let s3 = next_status(Some(&s2), Some(2), &applying, &at(3));
        assert_eq!(s3.operation.as_ref().map(|o| o.kind.as_str()), Some("configureFlowLog"));
        let done = Outcome::Corrected { observed: observed(), differences: vec![], drift: true };
        let s4 = next_status(Some(&s3), Some(2), &done, &at(4));
        assert_eq!(s4.operation, None);
        assert_eq!(cond(&s4, READY).message, "Repaired drift in Azure.", "what was repaired is not always known");
    }

    #[test]
    fn a_write_reported_stands_while_azure_stays_as_it_left_it() {
        let done = Outcome::Corrected { observed: observed(), differences: vec![], drift: false };
        let s1 = next_status(None, Some(1), &done, &at(1));
        let s2 = next_status(Some(&s1), Some(1), &Outcome::InSync { observed: observed() }, &at(60));
        assert_eq!(cond(&s2, READY).reason, "Applied");
        assert!(!needs_write(Some(&s1), &s2, &at(60), Duration::from_secs(3600)), "nothing to rewrite");
        // A new generation found in sync is reported as such.
        let s3 = next_status(Some(&s1), Some(2), &Outcome::InSync { observed: observed() }, &at(61));
        assert_eq!(cond(&s3, READY).reason, "InSync");
    }

    #[test]
    fn applying_keeps_ready_from_before() {
        let s1 = next_status(None, Some(1), &Outcome::InSync { observed: observed() }, &at(1));
        let d = vec![Difference { field: "enabled", desired: "true".into(), observed: "false".into() }];
        let s2 = next_status(
            Some(&s1),
            Some(1),
            &Outcome::Applying { differences: d, drift: true, operation: token("configureFlowLog") },
            &at(2),
        );
        assert_eq!(states(&s2), ("True", "True", "False"));
        assert!(cond(&s2, RECONCILING).message.starts_with("Repairing drift"));
        let d = vec![Difference { field: "enabled", desired: "false".into(), observed: "true".into() }];
        let new_spec = Outcome::Applying { differences: d, drift: false, operation: token("configureFlowLog") };
        let s3 = next_status(Some(&s1), Some(2), &new_spec, &at(3));
        assert_eq!(states(&s3), ("False", "True", "False"), "a new generation is not Ready until Azure has it");
        assert_eq!(cond(&s3, READY).reason, "Applying");
    }

    #[test]
    fn only_drift_on_an_applied_generation_counts() {
        let applied = Outcome::Corrected { observed: observed(), differences: vec![], drift: false };
        let s1 = next_status(None, Some(1), &applied, &at(1));
        assert_eq!(s1.drift_corrections, 0);
        assert!(is_drift(Some(&s1), Some(1)));
        assert!(!is_drift(Some(&s1), Some(2)), "a new generation is applied, not repaired");
        assert!(!is_drift(None, Some(1)));
        let drift = Outcome::Corrected { observed: observed(), differences: vec![], drift: true };
        let s2 = next_status(Some(&s1), Some(1), &drift, &at(2));
        assert_eq!(s2.drift_corrections, 1);
        assert_eq!(cond(&s2, READY).reason, "DriftCorrected");
        let failed = next_status(None, Some(1), &Outcome::Failed { error: error("X"), retry_in: None }, &at(1));
        assert!(!is_drift(Some(&failed), Some(1)));
    }

    #[test]
    fn unchanged_status_is_not_rewritten_and_sync_time_has_a_heartbeat() {
        let hour = Duration::from_secs(3600);
        let s1 = next_status(None, Some(1), &Outcome::InSync { observed: observed() }, &at(0));
        assert!(needs_write(None, &s1, &at(0), hour));
        let s2 = next_status(Some(&s1), Some(1), &Outcome::InSync { observed: observed() }, &at(600));
        assert!(!needs_write(Some(&s1), &s2, &at(600), hour), "only lastSyncTime moved");
        let s3 = next_status(Some(&s1), Some(1), &Outcome::InSync { observed: observed() }, &at(3600));
        assert!(needs_write(Some(&s1), &s3, &at(3600), hour), "heartbeat due");
        let changed = ObservedFlowLog { enabled: false, ..observed() };
        let s4 = next_status(Some(&s1), Some(1), &Outcome::InSync { observed: changed }, &at(601));
        assert!(needs_write(Some(&s1), &s4, &at(601), hour));
        assert!(!needs_write(Some(&s1), &s1, &at(99999), hour));
    }

    #[test]
    fn reasons_are_valid_condition_reasons() {
        assert_eq!(condition_reason("AnotherOperationInProgress"), "AnotherOperationInProgress");
        assert_eq!(condition_reason("429"), "Error429");
        assert_eq!(condition_reason("bad-code.x"), "badcodex");
        assert_eq!(condition_reason(""), "Error");
    }
}

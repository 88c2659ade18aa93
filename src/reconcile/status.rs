use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::Difference;
use crate::api::{FlowLogPolicyStatus, LastError, ObservedFlowLog};

/// The condition type that says Azure matches the spec.
pub const READY: &str = "Ready";

/// What one reconcile found and did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Azure matched the spec; nothing was written.
    InSync { observed: ObservedFlowLog },
    /// The operator wrote to Azure and Azure now matches.
    Corrected { observed: ObservedFlowLog, differences: Vec<Difference>, drift: bool },
    /// Reading or writing failed.
    Failed { error: LastError },
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
    status.observed_generation = generation;
    let ready = match outcome {
        Outcome::InSync { observed } => {
            status.observed = Some(observed.clone());
            status.last_sync_time = Some(now.clone());
            status.last_error = None;
            ready_condition("True", "InSync", "The flow log in Azure matches the spec.".to_string(), generation, now)
        }
        Outcome::Corrected { observed, differences, drift } => {
            status.observed = Some(observed.clone());
            status.last_sync_time = Some(now.clone());
            status.last_error = None;
            let changed = differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            let (reason, what) = if *drift {
                status.drift_corrections += 1;
                ("DriftCorrected", "Repaired drift in Azure")
            } else {
                ("Applied", "Applied the spec to Azure")
            };
            ready_condition("True", reason, format!("{what}: {changed}."), generation, now)
        }
        Outcome::Failed { error } => {
            status.last_error = Some(error.clone());
            ready_condition("False", &condition_reason(&error.code), error.message.clone(), generation, now)
        }
    };
    set_condition(&mut status.conditions, ready);
    status
}

fn ready_condition(status: &str, reason: &str, message: String, generation: Option<i64>, now: &Time) -> Condition {
    Condition {
        type_: READY.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: truncate(message, 32 * 1024),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
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
fn condition_reason(code: &str) -> String {
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

    fn ready(s: &FlowLogPolicyStatus) -> &Condition {
        s.conditions.iter().find(|c| c.type_ == READY).unwrap()
    }

    #[test]
    fn transition_time_changes_only_when_status_flips() {
        let s1 = next_status(None, Some(1), &Outcome::InSync { observed: observed() }, &at(100));
        let s2 = next_status(Some(&s1), Some(1), &Outcome::InSync { observed: observed() }, &at(200));
        assert_eq!(ready(&s2).last_transition_time, at(100));
        assert_eq!(s2.last_sync_time, Some(at(200)));
        let err = LastError {
            code: "NsgFlowLogCreationBlocked".into(),
            message: "blocked".into(),
            request_id: Some("r".into()),
        };
        let s3 = next_status(Some(&s2), Some(1), &Outcome::Failed { error: err }, &at(300));
        assert_eq!(ready(&s3).status, "False");
        assert_eq!(ready(&s3).reason, "NsgFlowLogCreationBlocked");
        assert_eq!(ready(&s3).last_transition_time, at(300));
        assert_eq!(s3.last_sync_time, Some(at(200)), "a failure is not a sync");
        let s4 = next_status(Some(&s3), Some(1), &Outcome::InSync { observed: observed() }, &at(400));
        assert_eq!(s4.last_error, None);
        assert_eq!(ready(&s4).last_transition_time, at(400));
    }

    #[test]
    fn only_drift_on_an_applied_generation_counts() {
        let applied = Outcome::Corrected { observed: observed(), differences: vec![], drift: false };
        let s1 = next_status(None, Some(1), &applied, &at(1));
        assert_eq!(s1.drift_corrections, 0);
        assert_eq!(ready(&s1).reason, "Applied");
        assert!(is_drift(Some(&s1), Some(1)));
        assert!(!is_drift(Some(&s1), Some(2)), "a new generation is applied, not repaired");
        assert!(!is_drift(None, Some(1)));
        let drift = Outcome::Corrected { observed: observed(), differences: vec![], drift: true };
        let s2 = next_status(Some(&s1), Some(1), &drift, &at(2));
        assert_eq!(s2.drift_corrections, 1);
        assert_eq!(ready(&s2).reason, "DriftCorrected");
    }

    #[test]
    fn failed_generation_is_not_drift() {
        let err = LastError { code: "X".into(), message: "m".into(), request_id: None };
        let s = next_status(None, Some(1), &Outcome::Failed { error: err }, &at(1));
        assert!(!is_drift(Some(&s), Some(1)));
    }

    #[test]
    fn reasons_are_valid_condition_reasons() {
        assert_eq!(condition_reason("AnotherOperationInProgress"), "AnotherOperationInProgress");
        assert_eq!(condition_reason("429"), "Error429");
        assert_eq!(condition_reason("bad-code.x"), "badcodex");
        assert_eq!(condition_reason(""), "Error");
    }
}

//! Which event a status transition deserves: events on transitions only, so that a stuck policy does not spam
//! its namespace. Pure: the controller publishes what this returns.

use kube::runtime::events::EventType;

use super::status::{Outcome, READY, STALLED, reason};
use crate::api::FlowLogPolicyStatus;

/// The reason of the `Ready` condition, if any.
pub fn ready_reason(status: Option<&FlowLogPolicyStatus>) -> Option<String> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY)).map(|c| c.reason.clone())
}

/// The event (type, reason, note) for going from `previous` to `new` through `outcome`, if it deserves one.
pub fn event_for(
    previous: Option<&FlowLogPolicyStatus>,
    new: &FlowLogPolicyStatus,
    outcome: &Outcome,
) -> Option<(EventType, String, String)> {
    let stalled = |s: Option<&FlowLogPolicyStatus>| {
        s.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == STALLED && c.status == "True"))
    };
    let message = |s: &FlowLogPolicyStatus, type_: &str| {
        s.conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone()).unwrap_or_default()
    };
    match outcome {
        Outcome::Corrected { drift: true, .. } => {
            Some((EventType::Normal, reason::DRIFT_CORRECTED.into(), message(new, READY)))
        }
        Outcome::Corrected { drift: false, .. } => {
            Some((EventType::Normal, reason::APPLIED.into(), message(new, READY)))
        }
        Outcome::Drifted { .. } if ready_reason(previous).as_deref() != Some(reason::DRIFTED) => {
            Some((EventType::Warning, reason::DRIFTED.into(), message(new, READY)))
        }
        Outcome::Failed { .. } | Outcome::Conflict { .. } if stalled(Some(new)) && !stalled(previous) => {
            let why = new.conditions.iter().find(|c| c.type_ == STALLED).map(|c| c.reason.clone()).unwrap_or_default();
            Some((EventType::Warning, why, message(new, STALLED)))
        }
        Outcome::DeletionBlocked { .. } if ready_reason(previous).as_deref() != Some(reason::DELETION_BLOCKED) => {
            Some((EventType::Warning, reason::DELETION_BLOCKED.into(), message(new, READY)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::api::{LastError, ObservedFlowLog};
    use crate::reconcile::next_status;

    fn step(previous: Option<&FlowLogPolicyStatus>, outcome: &Outcome) -> (FlowLogPolicyStatus, Option<String>) {
        let now = Time(Timestamp::from_second(1_000).unwrap());
        let status = next_status(previous, Some(1), outcome, &now);
        let event = event_for(previous, &status, outcome).map(|(kind, reason, _)| format!("{kind:?} {reason}"));
        (status, event)
    }

    #[test]
    fn events_mark_transitions_not_repeats() {
        let observed = ObservedFlowLog { enabled: true, ..Default::default() };
        let blocked = Outcome::Failed {
            error: LastError { code: "NsgFlowLogCreationBlocked".into(), message: "m".into(), request_id: None },
            retry_in: None,
        };
        let drifted = Outcome::Drifted { observed: observed.clone(), differences: vec![] };

        let (s1, e1) = step(None, &blocked);
        assert_eq!(e1.as_deref(), Some("Warning NsgFlowLogCreationBlocked"), "stalling is announced");
        let (s2, e2) = step(Some(&s1), &blocked);
        assert_eq!(e2, None, "staying stalled is not announced again");
        let (s3, e3) = step(Some(&s2), &Outcome::InSync { observed: observed.clone() });
        assert_eq!(e3, None, "being in sync is quiet");
        let (s4, e4) = step(Some(&s3), &drifted);
        assert_eq!(e4.as_deref(), Some("Warning Drifted"));
        let (_, e5) = step(Some(&s4), &drifted);
        assert_eq!(e5, None, "still drifted: no new event");
        let (_, e6) = step(Some(&s4), &Outcome::Corrected { observed, differences: vec![], drift: true });
        assert_eq!(e6.as_deref(), Some("Normal DriftCorrected"));
        assert_eq!(ready_reason(Some(&s4)).as_deref(), Some(reason::DRIFTED));
    }
}

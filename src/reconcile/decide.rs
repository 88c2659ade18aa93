//! What a check does once Azure has been read: report, stay stalled, confirm, or write. Pure: the controller fetches
//! what this needs and carries out what it answers.

use super::refusal::{Conditions, Refusal};
use super::{Difference, Outcome, reason};
use crate::api::{LastError, Mode, ObservedFlowLog};

/// What a check found in Azure.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// What a write would repair; `None` when Azure matches the spec.
    pub differences: Option<Vec<Difference>>,
    pub observed: ObservedFlowLog,
    /// Read from a watcher's list for an NSG: its drift is confirmed by the legacy API before it is written.
    pub unconfirmed: bool,
}

/// The decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Nothing to write: report this. `new_drift` says whether Audit mode found drift it had not reported before
    /// (counted once, not at every check that finds it again).
    Report { outcome: Outcome, new_drift: bool },
    /// Azure refused this very write and nothing it was refused under has changed: stay Stalled, send nothing.
    StillRefused(LastError),
    /// Confirm the drift the list shows (`queryFlowLogStatus`), then decide again.
    Confirm,
    /// Write to repair `differences`; `drift` when they undo a change made in Azure to an applied spec.
    Write { differences: Vec<Difference>, drift: bool },
}

/// Decides for a policy in `mode` whose status last reported `ready_reason`: `drift` says whether the spec was
/// applied and seen in sync before (a difference now is drift, not a new spec), `refusal` is the last write Azure
/// refused for it and `under` the conditions a write would be sent under now.
pub fn decide(
    mode: Mode,
    ready_reason: Option<&str>,
    drift: bool,
    found: Found,
    refusal: Option<&Refusal>,
    under: &Conditions,
) -> Decision {
    let Some(differences) = found.differences else {
        return Decision::Report { outcome: Outcome::InSync { observed: found.observed }, new_drift: false };
    };
    if mode == Mode::Audit {
        let new_drift = ready_reason != Some(reason::DRIFTED);
        return Decision::Report { outcome: Outcome::Drifted { observed: found.observed, differences }, new_drift };
    }
    if let Some(refusal) = refusal.filter(|r| r.repeats(under)) {
        return Decision::StillRefused(refusal.error.clone());
    }
    // A new spec needs a write anyway, and its list is fresh: only drift is confirmed.
    if found.unconfirmed && drift {
        return Decision::Confirm;
    }
    Decision::Write { differences, drift }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(differs: bool, unconfirmed: bool) -> Found {
        let differences =
            differs.then(|| vec![Difference { field: "enabled", desired: "true".into(), observed: "false".into() }]);
        Found { differences, observed: ObservedFlowLog::default(), unconfirmed }
    }

    fn under(generation: i64) -> Conditions {
        Conditions {
            generation: Some(generation),
            observed: ObservedFlowLog::default(),
            credentials: None,
            retry: None,
        }
    }

    fn refusal() -> Refusal {
        let error = LastError { code: "NsgFlowLogCreationBlocked".into(), message: "m".into(), request_id: None };
        Refusal { error, under: under(1) }
    }

    fn kind(d: &Decision) -> String {
        match d {
            Decision::Report { outcome: Outcome::InSync { .. }, .. } => "in sync".into(),
            Decision::Report { outcome: Outcome::Drifted { .. }, new_drift } => format!("drifted (new: {new_drift})"),
            Decision::Report { outcome, .. } => format!("{outcome:?}"),
            Decision::StillRefused(_) => "still refused".into(),
            Decision::Confirm => "confirm".into(),
            Decision::Write { drift, .. } => format!("write (drift: {drift})"),
        }
    }

    #[test]
    fn every_case_has_its_decision() {
        let e = Mode::Enforce;
        let cases: Vec<(Decision, &str)> = vec![
            (decide(e, None, false, found(false, true), None, &under(1)), "in sync"),
            (decide(e, Some("InSync"), true, found(false, false), Some(&refusal()), &under(1)), "in sync"),
            (decide(Mode::Audit, Some("InSync"), true, found(true, true), None, &under(1)), "drifted (new: true)"),
            (decide(Mode::Audit, Some("Drifted"), false, found(true, true), None, &under(1)), "drifted (new: false)"),
            (decide(e, None, false, found(true, true), Some(&refusal()), &under(1)), "still refused"),
            (decide(e, None, false, found(true, true), Some(&refusal()), &under(2)), "write (drift: false)"),
            (decide(e, Some("InSync"), true, found(true, true), None, &under(1)), "confirm"),
            (decide(e, Some("InSync"), true, found(true, false), None, &under(1)), "write (drift: true)"),
            (decide(e, None, false, found(true, true), None, &under(1)), "write (drift: false)"),
        ];
        for (i, (decision, expected)) in cases.iter().enumerate() {
            assert_eq!(kind(decision), *expected, "case {i}");
        }
    }
}

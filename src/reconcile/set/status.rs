//! A set's status, pure: its targets counted by state (from the selection and its policies' own status), the first
//! non-compliant ones with why, and the set's Ready/Reconciling/Stalled conditions.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::{Changes, Coverage, Selection};
use crate::api::{DiscoveryStatus, FlowLogPolicy, FlowLogPolicySetStatus, FlowLogPolicyStatus, NonCompliantTarget};
use crate::reconcile::{READY, RECONCILING, STALLED, set_condition};

/// How many non-compliant targets status names (the report lists them all).
pub const NON_COMPLIANT_LISTED: usize = 20;

/// The set's condition reasons.
pub mod reason {
    pub const COMPLIANT: &str = "Compliant";
    pub const NOT_COMPLIANT: &str = "NotCompliant";
    pub const APPLYING: &str = "Applying";
    pub const DISCOVERY_FAILED: &str = "DiscoveryFailed";
    pub const PRUNE_BLOCKED: &str = "PruneBlocked";
}

/// What a generated policy reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyState {
    /// Its Ready condition's status is `True`.
    pub ready: bool,
    /// Its Ready condition's reason (empty before its first status).
    pub reason: String,
    pub message: String,
    /// Whether its status describes its current spec (observedGeneration = generation).
    pub current: bool,
}

impl PolicyState {
    /// What a FlowLogPolicy's status says about it.
    pub fn of(policy: &FlowLogPolicy) -> PolicyState {
        PolicyState::from_status(policy.status.as_ref(), policy.metadata.generation)
    }

    /// What a policy's status says about it, under the policy's `metadata.generation`.
    pub fn from_status(status: Option<&FlowLogPolicyStatus>, generation: Option<i64>) -> PolicyState {
        let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
        let current = status.and_then(|s| s.observed_generation) == generation;
        PolicyState {
            ready: ready.is_some_and(|c| c.status == "True"),
            reason: ready.map(|c| c.reason.clone()).unwrap_or_default(),
            message: ready.map(|c| c.message.clone()).unwrap_or_default(),
            current: current && ready.is_some(),
        }
    }
}

/// Where a target stands (the set's status counts targets by it; the compliance report lists them by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetState {
    /// Its policy is Ready: Azure matches the spec.
    Compliant,
    /// Its flow log differs and is not repaired (Audit mode).
    Drifted,
    /// Its policy is applying a change, or has not reported on its current spec yet.
    Applying,
    /// Its policy failed or is stalled.
    Failing,
    /// It has no policy (a set's reason says why).
    NotCovered,
}

/// The state of a target that has a policy (`None`: not created yet), with the reason and message to report.
/// `pending`: a new spec is about to be applied to it.
pub fn policy_target_state(state: Option<&PolicyState>, pending: bool) -> (TargetState, String, String) {
    match state {
        Some(s) if !pending && s.current => {
            if s.ready {
                (TargetState::Compliant, s.reason.clone(), String::new())
            } else if s.reason == "Drifted" {
                (TargetState::Drifted, s.reason.clone(), s.message.clone())
            } else if s.reason == "Applying" {
                (TargetState::Applying, s.reason.clone(), s.message.clone())
            } else {
                (TargetState::Failing, s.reason.clone(), s.message.clone())
            }
        }
        _ => (TargetState::Applying, reason::APPLYING.to_string(), String::new()),
    }
}

/// The set's status after a discovery (or a failed one: `selection` is `None` and `discovery.error` says why)
/// and its policies' states by name; `previous` keeps the conditions' transition times.
pub fn set_status(
    previous: Option<&FlowLogPolicySetStatus>,
    generation: Option<i64>,
    selection: Option<&Selection>,
    discovery: DiscoveryStatus,
    changes: &Changes,
    policies: &BTreeMap<String, PolicyState>,
    now: &Time,
) -> FlowLogPolicySetStatus {
    let mut status = FlowLogPolicySetStatus {
        observed_generation: generation,
        conditions: previous.map(|p| p.conditions.clone()).unwrap_or_default(),
        discovery: Some(discovery.clone()),
        prune_blocked: changes.blocked.clone(),
        ..Default::default()
    };
    // Without a selection (the first discovery failed), the counts stay as the last one left them.
    let Some(selection) = selection else {
        if let Some(p) = previous {
            status.targets = p.targets;
            status.compliant = p.compliant;
            status.drifted = p.drifted;
            status.applying = p.applying;
            status.failing = p.failing;
            status.not_covered = p.not_covered;
            status.excluded = p.excluded;
            status.non_compliant = p.non_compliant.clone();
        }
        let message =
            format!("Discovery failed; nothing was created or pruned: {}", discovery.error.unwrap_or_default());
        conditions(&mut status, generation, (false, reason::DISCOVERY_FAILED, message), false, now);
        return status;
    };
    let changing: std::collections::BTreeSet<&str> = changes.apply.iter().map(|(n, _)| n.as_str()).collect();
    let mut non_compliant = Vec::new();
    for (target, coverage) in &selection.targets {
        let (state, policy, why, message) = match coverage {
            Coverage::NotCovered { reason, message } => {
                (TargetState::NotCovered, None, reason.to_string(), message.clone())
            }
            Coverage::Policy { name, .. } => {
                let (state, why, message) = policy_target_state(policies.get(name), changing.contains(name.as_str()));
                (state, Some(name), why, message)
            }
        };
        match state {
            TargetState::Compliant => status.compliant += 1,
            TargetState::Drifted => status.drifted += 1,
            TargetState::Applying => status.applying += 1,
            TargetState::Failing => status.failing += 1,
            TargetState::NotCovered => status.not_covered += 1,
        }
        if state != TargetState::Compliant && non_compliant.len() < NON_COMPLIANT_LISTED {
            non_compliant.push(NonCompliantTarget {
                target_resource_id: target.clone(),
                policy: policy.cloned(),
                reason: why,
                message,
            });
        }
    }
    status.targets = count(selection.targets.len());
    status.excluded = count(selection.excluded);
    status.non_compliant = non_compliant;
    let (targets, compliant) = (status.targets, status.compliant);
    let ready = if let Some(blocked) = &changes.blocked {
        let message = format!(
            "Discovery would prune {} of {} policies, more than spec.pruning.maxPrunePercent allows: nothing is \
             pruned until the annotation flowlog.dev/confirm-prune is set to {:?} (check first that discovery sees \
             what it should: permissions, selector)",
            blocked.would_prune, blocked.policies, blocked.confirm_with
        );
        (false, reason::PRUNE_BLOCKED, message)
    } else if compliant == targets {
        (true, reason::COMPLIANT, format!("All {targets} targets are compliant."))
    } else if status.failing + status.drifted + status.not_covered > 0 {
        let message = format!(
            "{compliant} of {targets} targets are compliant: {} failing, {} drifted, {} without a policy, {} applying.",
            status.failing, status.drifted, status.not_covered, status.applying
        );
        (false, reason::NOT_COMPLIANT, message)
    } else {
        (
            false,
            reason::APPLYING,
            format!("{compliant} of {targets} targets are compliant; {} applying.", status.applying),
        )
    };
    let applying = status.applying > 0 || !changes.prune.is_empty();
    conditions(&mut status, generation, ready, applying, now);
    status
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Ready as given; Reconciling while policies are being applied or pruned; Stalled while pruning is blocked.
fn conditions(
    status: &mut FlowLogPolicySetStatus,
    generation: Option<i64>,
    (ready, why, message): (bool, &str, String),
    applying: bool,
    now: &Time,
) {
    let c = |type_: &str, value: bool, reason: &str| Condition {
        type_: type_.to_string(),
        status: if value { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.clone(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    };
    let stalled = why == reason::PRUNE_BLOCKED;
    let reconciling_reason = if applying { reason::APPLYING } else { why };
    set_condition(&mut status.conditions, c(READY, ready, why));
    set_condition(&mut status.conditions, c(RECONCILING, applying && !stalled, reconciling_reason));
    set_condition(&mut status.conditions, c(STALLED, stalled, why));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PruneBlocked;
    use k8s_openapi::jiff::Timestamp;

    fn at(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    fn selection(targets: &[(&str, Option<&str>)]) -> Selection {
        let mut s = Selection { excluded: 1, ..Default::default() };
        for (target, policy) in targets {
            let coverage = match policy {
                Some(name) => Coverage::Policy { name: name.to_string(), spec: Box::new(spec()) },
                None => {
                    Coverage::NotCovered { reason: super::super::reason::NO_STORAGE_FOR_REGION, message: "no".into() }
                }
            };
            s.targets.insert(target.to_string(), coverage);
        }
        s
    }

    fn spec() -> crate::api::FlowLogPolicySpec {
        serde_json::from_value(serde_json::json!({"target": {"resourceId": "/t"}, "flowLog": {"enabled": false}}))
            .unwrap()
    }

    fn state(ready: bool, reason: &str) -> PolicyState {
        PolicyState { ready, reason: reason.into(), message: format!("{reason}!"), current: true }
    }

    fn discovery() -> DiscoveryStatus {
        DiscoveryStatus { time: Some(at(100)), complete: true, found: 6, error: None }
    }

    fn cond<'a>(s: &'a FlowLogPolicySetStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn targets_are_counted_by_state_and_the_non_compliant_named() {
        let sel = selection(&[
            ("/t/a", Some("a")),
            ("/t/b", Some("b")),
            ("/t/c", Some("c")),
            ("/t/d", Some("d")),
            ("/t/e", None),
            ("/t/f", Some("f")),
        ]);
        let policies: BTreeMap<String, PolicyState> = [
            ("a", state(true, "InSync")),
            ("b", state(false, "Drifted")),
            ("c", state(false, "NsgFlowLogCreationBlocked")),
            ("d", PolicyState { current: false, ..state(true, "InSync") }),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        let s = set_status(None, Some(3), Some(&sel), discovery(), &Changes::default(), &policies, &at(100));
        assert_eq!(
            (s.targets, s.compliant, s.drifted, s.failing, s.applying, s.not_covered, s.excluded),
            (6, 1, 1, 1, 2, 1, 1),
            "d's status is for an older spec and f has none yet: both applying"
        );
        let named: Vec<(&str, &str)> =
            s.non_compliant.iter().map(|n| (n.target_resource_id.as_str(), n.reason.as_str())).collect();
        assert_eq!(
            named,
            [
                ("/t/b", "Drifted"),
                ("/t/c", "NsgFlowLogCreationBlocked"),
                ("/t/d", "Applying"),
                ("/t/e", "NoStorageForRegion"),
                ("/t/f", "Applying")
            ]
        );
        assert_eq!(cond(&s, READY).status, "False");
        assert_eq!(cond(&s, READY).reason, reason::NOT_COMPLIANT);
        assert_eq!(cond(&s, RECONCILING).status, "True");
        assert_eq!(cond(&s, STALLED).status, "False");
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn all_compliant_is_ready_and_transition_times_hold() {
        let sel = selection(&[("/t/a", Some("a"))]);
        let policies = [("a".to_string(), state(true, "Applied"))].into();
        let first = set_status(None, Some(1), Some(&sel), discovery(), &Changes::default(), &policies, &at(100));
        assert_eq!((cond(&first, READY).status.as_str(), cond(&first, READY).reason.as_str()), ("True", "Compliant"));
        let again =
            set_status(Some(&first), Some(1), Some(&sel), discovery(), &Changes::default(), &policies, &at(200));
        assert_eq!(cond(&again, READY).last_transition_time, at(100));
        assert!(again.non_compliant.is_empty());
    }

    #[test]
    fn a_blocked_prune_stalls_and_a_failed_discovery_keeps_the_counts() {
        let sel = selection(&[("/t/a", Some("a"))]);
        let policies = [("a".to_string(), state(true, "InSync"))].into();
        let blocked = Changes {
            blocked: Some(PruneBlocked { would_prune: 8, policies: 9, confirm_with: "prune-8-x".into() }),
            ..Default::default()
        };
        let s = set_status(None, Some(1), Some(&sel), discovery(), &blocked, &policies, &at(100));
        assert_eq!(cond(&s, STALLED).status, "True");
        assert_eq!(cond(&s, STALLED).reason, reason::PRUNE_BLOCKED);
        assert!(cond(&s, READY).message.contains("prune-8-x"), "{}", cond(&s, READY).message);
        assert_eq!(s.prune_blocked.as_ref().map(|b| b.would_prune), Some(8));

        let ok = set_status(None, Some(1), Some(&sel), discovery(), &Changes::default(), &policies, &at(100));
        let failed = DiscoveryStatus { complete: false, error: Some("403 AuthorizationFailed".into()), ..discovery() };
        let s = set_status(Some(&ok), Some(1), None, failed, &Changes::default(), &policies, &at(200));
        assert_eq!((s.targets, s.compliant), (1, 1), "the last counts stand");
        assert_eq!(cond(&s, READY).reason, reason::DISCOVERY_FAILED);
        assert!(cond(&s, READY).message.contains("403 AuthorizationFailed"));
        assert_eq!(s.discovery.as_ref().and_then(|d| d.error.as_deref()), Some("403 AuthorizationFailed"));
    }
}

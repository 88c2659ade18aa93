//! What `migrate apply` did, kept in the cluster so that it can resume and `migrate rollback` can undo exactly that
//! (a ConfigMap holds it as JSON), and what to do next given the policies' states (pure).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::analysis::NsgAction;
use super::manifests::policy_name;
use super::{Existing, Plan};
use crate::api::{FlowLogPolicySpec, FlowLogSettings};

/// The record's format version.
pub const VERSION: u32 = 1;

/// The ConfigMap key that holds the record.
pub const RECORD_KEY: &str = "record.json";

/// A migration applied to a cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub version: u32,
    pub phase: Phase,
    /// When apply started (RFC 3339).
    pub started: String,
    /// The `spec.interval` of the policies it writes.
    pub interval: String,
    /// The policies of step 1, one per new flow log.
    pub create: Vec<CreateEntry>,
    /// The NSG flow logs to switch off, each once the flow logs taking over its traffic are Ready.
    pub disable: Vec<DisableEntry>,
    /// NSG flow logs the plan left on, with why (for `migrate status`).
    pub blocked: Vec<BlockedEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Step 1 and 2 under way (apply resumes it).
    Applying,
    /// Every NSG flow log it could switch off is off.
    Applied,
    /// Rollback under way (rollback resumes it).
    RollingBack,
    /// Undone: the NSG flow logs are back as they were, the new flow logs deleted.
    RolledBack,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Applying => "Applying",
            Phase::Applied => "Applied",
            Phase::RollingBack => "RollingBack",
            Phase::RolledBack => "RolledBack",
        }
    }
}

/// A new flow log's policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateEntry {
    pub policy: String,
    pub spec: FlowLogPolicySpec,
    /// The NSG flow logs whose traffic it takes over.
    pub from: Vec<String>,
}

/// An NSG flow log to switch off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisableEntry {
    /// ARM ID of the flow log.
    pub flow_log: String,
    pub nsg: String,
    /// Its settings before the migration (what rollback restores).
    pub original: FlowLogSettings,
    /// The step-1 policies that must be Ready first (empty: existing flow logs cover it, or its NSG is attached to
    /// nothing).
    pub after: Vec<String>,
    /// The policy that switches it off: the migration's own, or a FlowLogPolicy that already managed the NSG.
    pub policy: String,
    pub namespace: String,
    /// That policy existed before (its spec then, for rollback); `None`: the migration created it.
    pub existing_spec: Option<FlowLogPolicySpec>,
    /// The switch-off was applied to the policy.
    pub switched_off: bool,
    /// A rollback can switch it back on: false when its storage account cannot serve its region (Azure would refuse
    /// its own settings); a rollback then leaves it off and keeps the flow logs that took over its traffic.
    #[serde(default = "yes")]
    pub restorable: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockedEntry {
    pub flow_log: String,
    pub nsg: String,
    pub reasons: Vec<String>,
}

impl Record {
    /// The record of a plan about to be applied in `namespace`.
    pub fn new(plan: &Plan, namespace: &str, existing: &Existing, interval: &str, started: String) -> Record {
        let options =
            super::manifests::Options { namespace: Some(namespace.to_string()), interval: Some(interval.to_string()) };
        let create = plan
            .regions
            .iter()
            .flat_map(|r| &r.create)
            .map(|c| CreateEntry {
                policy: policy_name(&c.target),
                spec: super::manifests::create_spec(c, &options),
                from: c.from.clone(),
            })
            .collect::<Vec<_>>();
        let mut disable = Vec::new();
        let mut blocked = Vec::new();
        for log in plan.regions.iter().flat_map(|r| &r.nsg_flow_logs) {
            match log.action {
                NsgAction::Disable | NsgAction::DisableOnly => {
                    let after = create.iter().filter(|c| c.from.contains(&log.id)).map(|c| c.policy.clone()).collect();
                    let (namespace, policy, existing_spec) = match existing.get(&log.nsg.to_ascii_lowercase()) {
                        Some((ns, name, spec)) => (ns.clone(), name.clone(), Some(spec.clone())),
                        None => (namespace.to_string(), policy_name(&log.nsg), None),
                    };
                    disable.push(DisableEntry {
                        flow_log: log.id.clone(),
                        nsg: log.nsg.clone(),
                        original: log.settings.clone(),
                        after,
                        policy,
                        namespace,
                        existing_spec,
                        switched_off: false,
                        restorable: !log.storage_replaced,
                    });
                }
                NsgAction::Blocked => blocked.push(BlockedEntry {
                    flow_log: log.id.clone(),
                    nsg: log.nsg.clone(),
                    reasons: log.reasons.clone(),
                }),
                NsgAction::AlreadyOff => {}
            }
        }
        Record {
            version: VERSION,
            phase: Phase::Applying,
            started,
            interval: interval.to_string(),
            create,
            disable,
            blocked,
        }
    }
}

/// Where a policy stands, as apply and rollback read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Ready on its current spec.
    pub ready: bool,
    /// Stalled on its current spec: it will not get Ready without a change (its reason and message).
    pub stalled: Option<String>,
}

/// What apply does next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Next {
    /// Indexes into `record.disable` to switch off now: every policy they wait for is Ready.
    pub switch_off: Vec<usize>,
    /// Entries still waiting, with the policies they wait for that are stalled (empty: just not Ready yet).
    pub waiting: Vec<(usize, Vec<String>)>,
    /// Every entry is switched off and its policy Ready.
    pub done: bool,
}

/// Given the policies' states by `namespace/name`, which NSG flow logs can be switched off now.
pub fn next(record: &Record, namespace: &str, seen: &BTreeMap<String, Seen>) -> Next {
    let key = |ns: &str, name: &str| format!("{ns}/{name}");
    let mut next = Next::default();
    let mut all_done = true;
    for (i, entry) in record.disable.iter().enumerate() {
        if entry.switched_off {
            if !seen.get(&key(&entry.namespace, &entry.policy)).is_some_and(|s| s.ready) {
                all_done = false;
            }
            continue;
        }
        all_done = false;
        let states: Vec<(&String, Option<&Seen>)> =
            entry.after.iter().map(|p| (p, seen.get(&key(namespace, p)))).collect();
        if states.iter().all(|(_, s)| s.is_some_and(|s| s.ready)) {
            next.switch_off.push(i);
        } else {
            let stalled =
                states.iter().filter_map(|(p, s)| Some(format!("{p}: {}", s.as_ref()?.stalled.as_ref()?))).collect();
            next.waiting.push((i, stalled));
        }
    }
    next.done = all_done;
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(after: &[&str], switched_off: bool) -> DisableEntry {
        DisableEntry {
            flow_log: "/fl".into(),
            nsg: "/nsg".into(),
            original: FlowLogSettings::default(),
            after: after.iter().map(|s| s.to_string()).collect(),
            policy: "off".into(),
            namespace: "ns".into(),
            existing_spec: None,
            switched_off,
            restorable: true,
        }
    }

    fn record(disable: Vec<DisableEntry>) -> Record {
        Record {
            version: VERSION,
            phase: Phase::Applying,
            started: String::new(),
            interval: "10m".into(),
            create: vec![],
            disable,
            blocked: vec![],
        }
    }

    fn ready() -> Seen {
        Seen { ready: true, stalled: None }
    }

    #[test]
    fn an_nsg_flow_log_is_switched_off_only_once_everything_taking_over_is_ready() {
        let r = record(vec![entry(&["a", "b"], false), entry(&[], false)]);
        let mut seen = BTreeMap::from([("ns/a".to_string(), ready())]);
        let n = next(&r, "ns", &seen);
        assert_eq!(n.switch_off, [1], "the one waiting for nothing goes at once");
        assert_eq!(n.waiting, [(0, vec![])]);
        assert!(!n.done);
        seen.insert("ns/b".into(), Seen { ready: false, stalled: Some("NsgFlowLogCreationBlocked".into()) });
        assert_eq!(next(&r, "ns", &seen).waiting, [(0, vec!["b: NsgFlowLogCreationBlocked".to_string()])]);
        seen.insert("ns/b".into(), ready());
        assert_eq!(next(&r, "ns", &seen).switch_off, [0, 1]);
    }

    #[test]
    fn done_when_every_switch_off_is_ready() {
        let r = record(vec![entry(&["a"], true)]);
        let mut seen = BTreeMap::from([("ns/a".to_string(), ready())]);
        assert!(!next(&r, "ns", &seen).done, "its policy has not applied the switch-off yet");
        seen.insert("ns/off".into(), ready());
        let n = next(&r, "ns", &seen);
        assert!(n.done && n.switch_off.is_empty() && n.waiting.is_empty());
    }
}

/// Where one NSG flow log of a migration stands (`migrate status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    pub nsg: String,
    pub flow_log: String,
    pub state: MigrationState,
    /// What it waits for or why it is blocked.
    pub detail: String,
    /// The targets of the flow logs that take over its traffic (the step-1 policies' targets).
    pub covered_by: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MigrationState {
    /// Switched off, and its policy Ready.
    Migrated,
    /// Switched off in its policy, not Ready yet.
    SwitchingOff,
    /// On, waiting for the flow logs that take over its traffic.
    Pending,
    /// On: the plan found a problem (see detail).
    Blocked,
    /// Switched back on by a rollback.
    RolledBack,
}

impl MigrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Migrated => "Migrated",
            MigrationState::SwitchingOff => "SwitchingOff",
            MigrationState::Pending => "Pending",
            MigrationState::Blocked => "Blocked",
            MigrationState::RolledBack => "RolledBack",
        }
    }
}

/// Every NSG flow log of the record with where it stands, given the policies' states by `namespace/name`.
pub fn status(record: &Record, namespace: &str, seen: &BTreeMap<String, Seen>) -> Vec<StatusRow> {
    let target_of =
        |policy: &String| record.create.iter().find(|c| &c.policy == policy).map(|c| c.spec.target.resource_id.clone());
    let mut rows: Vec<StatusRow> = record
        .disable
        .iter()
        .map(|d| {
            let own = seen.get(&format!("{}/{}", d.namespace, d.policy));
            let waiting: Vec<String> = d
                .after
                .iter()
                .filter(|p| !seen.get(&format!("{namespace}/{p}")).is_some_and(|s| s.ready))
                .map(|p| match seen.get(&format!("{namespace}/{p}")).and_then(|s| s.stalled.as_ref()) {
                    Some(why) => format!("{p} (stalled: {why})"),
                    None => p.clone(),
                })
                .collect();
            let (state, detail) = if record.phase == Phase::RolledBack {
                (MigrationState::RolledBack, String::new())
            } else if d.switched_off && own.is_some_and(|s| s.ready) {
                (MigrationState::Migrated, String::new())
            } else if d.switched_off {
                (MigrationState::SwitchingOff, format!("policy {}/{}", d.namespace, d.policy))
            } else {
                (MigrationState::Pending, format!("waiting for {}", waiting.join(", ")))
            };
            StatusRow {
                nsg: d.nsg.clone(),
                flow_log: d.flow_log.clone(),
                state,
                detail,
                covered_by: d.after.iter().filter_map(target_of).collect(),
            }
        })
        .collect();
    rows.extend(record.blocked.iter().map(|b| StatusRow {
        nsg: b.nsg.clone(),
        flow_log: b.flow_log.clone(),
        state: MigrationState::Blocked,
        detail: b.reasons.join("; "),
        covered_by: vec![],
    }));
    rows
}

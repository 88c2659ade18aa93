//! The GitOps health-check cases: one FlowLogPolicy or FlowLogPolicySet per row of the README's status tables, its
//! status written by the reconcile core, with the verdict of each shipped health check. `argocd_health` runs Argo CD's
//! Lua scripts (deploy/argocd/) on them, `flux_health` Flux's healthCheckExprs (deploy/flux/).

use std::collections::BTreeMap;
use std::time::Duration;

use flowlog_operator::api::{
    DiscoveryStatus, FlowLogPolicy, FlowLogPolicySet, FlowLogPolicySetStatus, FlowLogPolicySpec, LastError,
    ObservedFlowLog, PendingOperation, PruneBlocked,
};
use flowlog_operator::reconcile::set::{Changes, Coverage, PolicyState, Selection, reason, set_status};
use flowlog_operator::reconcile::{Difference, Outcome, next_status};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// One object and what each tool makes of it.
pub struct Case {
    pub name: &'static str,
    pub object: Value,
    /// Argo CD: the health status, and words its message contains.
    pub argocd: (&'static str, &'static [&'static str]),
    /// Flux with deploy/flux/health-check-exprs.yaml: `Current`, `InProgress`, `Failed`, or `Unknown` when the
    /// expressions cannot be evaluated (an object without status; Flux keeps polling it, as for `InProgress`).
    pub flux: &'static str,
    /// Flux without them: kstatus's generic rules (`Terminating` while a deletion timestamp is set).
    pub flux_kstatus: &'static str,
}

/// `case(name, object, Argo CD status, words of its message, Flux, Flux without the expressions)`.
fn case(
    name: &'static str,
    object: Value,
    argocd: &'static str,
    message: &'static [&'static str],
    flux: &'static str,
    flux_kstatus: &'static str,
) -> Case {
    Case { name, object, argocd: (argocd, message), flux, flux_kstatus }
}

fn now() -> Time {
    Time(Timestamp::from_second(1_700_000_000).unwrap())
}

// ------------------------------------------------------------------------------------------------------ policies

/// A policy at `generation` whose status the core wrote after each `(observed generation, outcome)` in turn (none:
/// no status yet).
fn policy(generation: i64, outcomes: &[(i64, Outcome)]) -> Value {
    let mut value = json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicy",
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": {"target": {"resourceId": "/x"}, "networkWatcher": {"resourceGroup": "rg", "name": "nw"}, "flowLog": {"enabled": false}},
    });
    let mut status = None;
    for (observed_generation, outcome) in outcomes {
        status = Some(next_status(status.as_ref(), Some(*observed_generation), outcome, &now()));
    }
    if let Some(status) = status {
        value["status"] = serde_json::to_value(status).unwrap();
    }
    // What the operator writes must also be what the CRD type reads back.
    serde_json::from_value::<FlowLogPolicy>(value.clone()).expect("a valid FlowLogPolicy");
    value
}

/// The object as the apiserver shows it once deleted: a deletion timestamp, the finalizer still there.
fn deleted(mut object: Value) -> Value {
    object["metadata"]["deletionTimestamp"] = json!("2023-11-14T22:13:20Z");
    object["metadata"]["finalizers"] = json!(["flowlog.dev/cleanup"]);
    object
}

fn error(code: &str) -> LastError {
    LastError { code: code.into(), message: format!("{code} happened"), request_id: None }
}

fn operation(drift: bool) -> PendingOperation {
    PendingOperation {
        kind: "putFlowLog".into(),
        status_url: Some("https://management.azure.com/operations/1".into()),
        result_url: None,
        resource_url: None,
        request_id: None,
        started_at: Time(Timestamp::from_second(1).unwrap()),
        retry_after_seconds: None,
        drift,
    }
}

/// The README's policy table, row by row, and the states just before the first report.
pub fn policy_cases() -> Vec<Case> {
    let diff = || vec![Difference { field: "enabled", desired: "true".into(), observed: "false".into() }];
    let observed = || ObservedFlowLog { enabled: true, ..Default::default() };
    let in_sync = || Outcome::InSync { observed: observed() };
    let applying = |drift| Outcome::Applying { differences: diff(), drift, operation: operation(drift) };
    let corrected = |drift| Outcome::Corrected { observed: observed(), differences: diff(), drift };
    vec![
        case("no status yet", policy(1, &[]), "Progressing", &["Waiting", "policy"], "Unknown", "Current"),
        case(
            "a status without observedGeneration or conditions (an operation's resume token only)",
            policy(1, &[(1, Outcome::Checking { operation: operation(true) })]),
            "Progressing",
            &["Waiting", "policy"],
            "InProgress",
            "Current",
        ),
        case("Azure matches", policy(2, &[(2, in_sync())]), "Healthy", &["InSync"], "Current", "Current"),
        case(
            "generation not observed yet",
            policy(3, &[(2, in_sync())]),
            "Progressing",
            &["generation 3"],
            "InProgress",
            "InProgress",
        ),
        case(
            "a new spec was just written",
            policy(1, &[(1, corrected(false))]),
            "Healthy",
            &["Applied"],
            "Current",
            "Current",
        ),
        case(
            "drift was repaired",
            policy(1, &[(1, in_sync()), (1, corrected(true))]),
            "Healthy",
            &["DriftCorrected"],
            "Current",
            "Current",
        ),
        case(
            "a write of a new spec in progress",
            policy(1, &[(1, applying(false))]),
            "Progressing",
            &["Applying"],
            "InProgress",
            "InProgress",
        ),
        case(
            "a drift repair in progress (Ready stays True)",
            policy(1, &[(1, in_sync()), (1, applying(true))]),
            "Progressing",
            &["Applying", "Repairing drift"],
            "InProgress",
            "InProgress",
        ),
        case(
            "Audit mode and Azure differs",
            policy(1, &[(1, Outcome::Drifted { observed: observed(), differences: diff() })]),
            "Degraded",
            &["Drifted"],
            "Failed",
            "InProgress",
        ),
        case(
            "transient failure",
            policy(
                1,
                &[(1, Outcome::Failed { error: error("InternalServerError"), retry_in: Some(Duration::from_secs(5)) })],
            ),
            "Progressing",
            &["Retrying"],
            "InProgress",
            "InProgress",
        ),
        case(
            "transient failure: throttled",
            policy(
                1,
                &[(
                    1,
                    Outcome::Failed {
                        error: error("SubscriptionRequestsThrottled"),
                        retry_in: Some(Duration::from_secs(30)),
                    },
                )],
            ),
            "Progressing",
            &["Throttled"],
            "InProgress",
            "InProgress",
        ),
        case(
            "terminal failure",
            policy(1, &[(1, Outcome::Failed { error: error("NsgFlowLogCreationBlocked"), retry_in: None })]),
            "Degraded",
            &["NsgFlowLogCreationBlocked"],
            "Failed",
            "Failed",
        ),
        case(
            "another policy manages the same target",
            policy(1, &[(1, Outcome::Conflict { owner: "FlowLogPolicy ns/older".into() })]),
            "Degraded",
            &["Conflict", "ns/older"],
            "Failed",
            "Failed",
        ),
        case(
            "deletion under way",
            deleted(policy(1, &[(1, in_sync()), (1, Outcome::Deleting { what: "disabling".into() })])),
            "Progressing",
            &["Deleting"],
            "InProgress",
            "Terminating",
        ),
        case(
            "deletion waiting for Azure",
            deleted(policy(
                1,
                &[(1, Outcome::DeletionBlocked { error: error("AzureUnreachable"), retry_in: Duration::from_secs(5) })],
            )),
            "Progressing",
            &["DeletionBlocked", "Orphan"],
            "InProgress",
            "Terminating",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------------------- sets

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn vnet(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{name}")
}

fn generated_spec(target: &str) -> FlowLogPolicySpec {
    serde_json::from_value(json!({"target": {"resourceId": target}, "flowLog": {"enabled": true}})).unwrap()
}

/// A selection of VNets: `Some(policy)` gets a generated policy of that name, `None` none (no storage for its region).
fn selection(targets: &[(&str, Option<&str>)]) -> Selection {
    let mut s = Selection::default();
    for (name, policy) in targets {
        let coverage = match policy {
            Some(policy) => Coverage::Policy { name: policy.to_string(), spec: Box::new(generated_spec(&vnet(name))) },
            None => Coverage::NotCovered {
                reason: reason::NO_STORAGE_FOR_REGION,
                message: "no destination names a storage account in swedencentral".into(),
            },
        };
        s.targets.insert(vnet(name), coverage);
    }
    s
}

fn policy_state(ready: bool, reason: &str) -> PolicyState {
    PolicyState { ready, reason: reason.into(), message: format!("{reason} happened"), current: true }
}

/// The status the set core writes for `observed_generation` after a discovery (`None`: it failed).
fn set_status_of(
    observed_generation: i64,
    selection: Option<&Selection>,
    changes: &Changes,
    policies: &[(&str, PolicyState)],
) -> FlowLogPolicySetStatus {
    let discovery = match selection {
        Some(s) => DiscoveryStatus { time: Some(now()), complete: true, found: s.targets.len() as i32, error: None },
        None => DiscoveryStatus {
            time: Some(now()),
            complete: false,
            found: 0,
            error: Some("AuthorizationFailed: the client may not list virtual networks".into()),
        },
    };
    let policies: BTreeMap<String, PolicyState> = policies.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
    set_status(None, Some(observed_generation), selection, discovery, changes, &policies, &now())
}

fn set(generation: i64, status: Option<FlowLogPolicySetStatus>) -> Value {
    let mut value = json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicySet",
        "metadata": {"name": "all-vnets", "namespace": "ns", "generation": generation},
        "spec": {
            "selector": {"subscriptions": [SUB], "kind": "VirtualNetwork"},
            "destinations": [{"region": "westeurope", "storageId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/flowlogs")}],
            "template": {"flowLog": {"enabled": true}},
        },
    });
    if let Some(status) = status {
        value["status"] = serde_json::to_value(status).unwrap();
    }
    // What the operator writes must also be what the CRD type reads back.
    serde_json::from_value::<FlowLogPolicySet>(value.clone()).expect("a valid FlowLogPolicySet");
    value
}

/// The README's set table, row by row, and the states just before the first report.
pub fn set_cases() -> Vec<Case> {
    let two = selection(&[("a", Some("all-vnets-a")), ("b", Some("all-vnets-b"))]);
    let none = Changes::default();
    let creating = Changes { apply: vec![("all-vnets-b".into(), generated_spec(&vnet("b")))], ..Default::default() };
    let pruning = Changes { prune: vec!["all-vnets-gone".into()], ..Default::default() };
    let blocked = Changes {
        blocked: Some(PruneBlocked { would_prune: 8, policies: 10, confirm_with: "prune-8-0badcafe".into() }),
        ..Default::default()
    };
    let in_sync = || policy_state(true, "InSync");
    let refused = || policy_state(false, "NsgFlowLogCreationBlocked");
    let both_in_sync = || [("all-vnets-a", in_sync()), ("all-vnets-b", in_sync())];
    vec![
        case("no status yet", set(1, None), "Progressing", &["Waiting", "set"], "Unknown", "Current"),
        case(
            "generation not observed yet",
            set(3, Some(set_status_of(2, Some(&two), &none, &both_in_sync()))),
            "Progressing",
            &["generation 3"],
            "InProgress",
            "InProgress",
        ),
        case(
            "every selected target's policy is Ready",
            set(2, Some(set_status_of(2, Some(&two), &none, &both_in_sync()))),
            "Healthy",
            &["Compliant", "All 2 targets are compliant"],
            "Current",
            "Current",
        ),
        case(
            "a generated policy being created",
            set(1, Some(set_status_of(1, Some(&two), &creating, &[("all-vnets-a", in_sync())]))),
            "Progressing",
            &["Applying", "1 of 2 targets are compliant"],
            "InProgress",
            "InProgress",
        ),
        case(
            "a generated policy applying its change in Azure",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync()), ("all-vnets-b", policy_state(false, "Applying"))],
                )),
            ),
            "Progressing",
            &["Applying"],
            "InProgress",
            "InProgress",
        ),
        case(
            "one target failing while another is still being created: wait for the outcome",
            set(1, Some(set_status_of(1, Some(&two), &creating, &[("all-vnets-a", refused())]))),
            "Progressing",
            &["Applying", "1 failing"],
            "InProgress",
            "InProgress",
        ),
        case(
            "every target compliant, a pruned policy still going",
            set(1, Some(set_status_of(1, Some(&two), &pruning, &both_in_sync()))),
            "Progressing",
            &["Applying"],
            "InProgress",
            "InProgress",
        ),
        case(
            "one target failing, nothing under way",
            set(
                1,
                Some(set_status_of(1, Some(&two), &none, &[("all-vnets-a", in_sync()), ("all-vnets-b", refused())])),
            ),
            "Degraded",
            &["NotCompliant", "1 failing", "virtualNetworks/b", "NsgFlowLogCreationBlocked"],
            "Failed",
            "InProgress",
        ),
        case(
            "Audit mode found drift",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync()), ("all-vnets-b", policy_state(false, "Drifted"))],
                )),
            ),
            "Degraded",
            &["NotCompliant", "1 drifted", "Drifted"],
            "Failed",
            "InProgress",
        ),
        case(
            "a target without a destination for its region",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&selection(&[("a", Some("all-vnets-a")), ("c", None)])),
                    &none,
                    &[("all-vnets-a", in_sync())],
                )),
            ),
            "Degraded",
            &["NotCompliant", "1 without a policy", "virtualNetworks/c", "NoStorageForRegion", "swedencentral"],
            "Failed",
            "InProgress",
        ),
        case(
            "discovery failed",
            set(1, Some(set_status_of(1, None, &none, &[]))),
            "Degraded",
            &["DiscoveryFailed", "AuthorizationFailed"],
            "Failed",
            "InProgress",
        ),
        case(
            "a prune larger than maxPrunePercent waits for confirmation",
            set(1, Some(set_status_of(1, Some(&two), &blocked, &both_in_sync()))),
            "Degraded",
            &["PruneBlocked", "prune-8-0badcafe"],
            "Failed",
            "Failed",
        ),
    ]
}

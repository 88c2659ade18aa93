//! The Argo CD health checks (deploy/argocd/health.lua for FlowLogPolicy, deploy/argocd/health-set.lua for
//! FlowLogPolicySet) run by a real Lua 5.1 interpreter (Argo CD's gopher-lua implements 5.1) on objects whose status
//! the reconcile core produced for each outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use flowlog_operator::api::{
    DiscoveryStatus, FlowLogPolicy, FlowLogPolicySet, FlowLogPolicySetStatus, FlowLogPolicySpec, LastError,
    ObservedFlowLog, PendingOperation,
};
use flowlog_operator::reconcile::set::{Changes, Coverage, PolicyState, Selection, reason, set_status};
use flowlog_operator::reconcile::{Difference, Outcome, next_status};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use mlua::{Lua, LuaSerdeExt};

const SCRIPT: &str = include_str!("../deploy/argocd/health.lua");
const SET_SCRIPT: &str = include_str!("../deploy/argocd/health-set.lua");

fn run(script: &str, object: &serde_json::Value) -> (String, String) {
    let lua = Lua::new();
    lua.globals().set("obj", lua.to_value(object).unwrap()).unwrap();
    let result: mlua::Table = lua.load(script).eval().expect("the script runs");
    (result.get("status").unwrap(), result.get("message").unwrap())
}

fn health(object: &serde_json::Value) -> (String, String) {
    run(SCRIPT, object)
}

fn policy(generation: i64, outcome: Option<(i64, Outcome)>) -> serde_json::Value {
    let mut value = serde_json::json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicy",
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": serde_json::from_str::<serde_json::Value>(r#"{"target":{"resourceId":"/x"},"networkWatcher":{"resourceGroup":"rg","name":"nw"},"flowLog":{"enabled":false}}"#).unwrap(),
    });
    if let Some((observed_generation, outcome)) = outcome {
        let now = Time(Timestamp::from_second(1_700_000_000).unwrap());
        let status = next_status(None, Some(observed_generation), &outcome, &now);
        value["status"] = serde_json::to_value(status).unwrap();
    }
    // What the operator writes must also be what the CRD type reads back.
    serde_json::from_value::<FlowLogPolicy>(value.clone()).expect("a valid FlowLogPolicy");
    value
}

fn error(code: &str) -> LastError {
    LastError { code: code.into(), message: format!("{code} happened"), request_id: None }
}

#[test]
fn health_follows_the_conditions() {
    let diff = vec![Difference { field: "enabled", desired: "true".into(), observed: "false".into() }];
    let observed = ObservedFlowLog { enabled: true, ..Default::default() };
    let cases: Vec<(&str, serde_json::Value, &str, &str)> = vec![
        ("no status yet", policy(1, None), "Progressing", "Waiting"),
        ("in sync", policy(2, Some((2, Outcome::InSync { observed: observed.clone() }))), "Healthy", "InSync"),
        (
            "generation not observed yet",
            policy(3, Some((2, Outcome::InSync { observed: observed.clone() }))),
            "Progressing",
            "generation 3",
        ),
        (
            "applying",
            policy(
                1,
                Some((
                    1,
                    Outcome::Applying {
                        differences: diff.clone(),
                        drift: false,
                        operation: PendingOperation {
                            kind: "putFlowLog".into(),
                            status_url: Some("https://management.azure.com/operations/1".into()),
                            result_url: None,
                            resource_url: None,
                            request_id: None,
                            started_at: Time(Timestamp::from_second(1).unwrap()),
                            retry_after_seconds: None,
                            drift: false,
                        },
                    },
                )),
            ),
            "Progressing",
            "Applying",
        ),
        (
            "applied",
            policy(
                1,
                Some((1, Outcome::Corrected { observed: observed.clone(), differences: diff.clone(), drift: false })),
            ),
            "Healthy",
            "Applied",
        ),
        (
            "audit drift",
            policy(1, Some((1, Outcome::Drifted { observed: observed.clone(), differences: diff.clone() }))),
            "Degraded",
            "Drifted",
        ),
        (
            "transient error",
            policy(
                1,
                Some((
                    1,
                    Outcome::Failed { error: error("InternalServerError"), retry_in: Some(Duration::from_secs(5)) },
                )),
            ),
            "Progressing",
            "Retrying",
        ),
        (
            "terminal error",
            policy(1, Some((1, Outcome::Failed { error: error("NsgFlowLogCreationBlocked"), retry_in: None }))),
            "Degraded",
            "NsgFlowLogCreationBlocked",
        ),
        (
            "conflict",
            policy(1, Some((1, Outcome::Conflict { owner: "FlowLogPolicy ns/older".into() }))),
            "Degraded",
            "ns/older",
        ),
        ("deleting", policy(1, Some((1, Outcome::Deleting { what: "disabling".into() }))), "Progressing", "Deleting"),
    ];
    for (case, object, status, message_part) in cases {
        let (got, message) = health(&object);
        assert_eq!(got, status, "{case}: {message}");
        assert!(message.contains(message_part), "{case}: {message:?} lacks {message_part:?}");
    }
}

// ------------------------------------------------------------------------------------------------ sets

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn vnet(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{name}")
}

fn generated_spec(target: &str) -> FlowLogPolicySpec {
    serde_json::from_value(serde_json::json!({"target": {"resourceId": target}, "flowLog": {"enabled": true}})).unwrap()
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
    let now = Time(Timestamp::from_second(1_700_000_000).unwrap());
    let discovery = match selection {
        Some(s) => {
            DiscoveryStatus { time: Some(now.clone()), complete: true, found: s.targets.len() as i32, error: None }
        }
        None => DiscoveryStatus {
            time: Some(now.clone()),
            complete: false,
            found: 0,
            error: Some("AuthorizationFailed: the client may not list virtual networks".into()),
        },
    };
    let policies: BTreeMap<String, PolicyState> = policies.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
    set_status(None, Some(observed_generation), selection, discovery, changes, &policies, &now)
}

fn set(generation: i64, status: Option<FlowLogPolicySetStatus>) -> serde_json::Value {
    let mut value = serde_json::json!({
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

#[test]
fn set_health_follows_the_conditions() {
    let two = selection(&[("a", Some("all-vnets-a")), ("b", Some("all-vnets-b"))]);
    let none = Changes::default();
    let creating = Changes { apply: vec![("all-vnets-b".into(), generated_spec(&vnet("b")))], ..Default::default() };
    let pruning = Changes { prune: vec!["all-vnets-gone".into()], ..Default::default() };
    let blocked = Changes {
        blocked: Some(flowlog_operator::api::PruneBlocked {
            would_prune: 8,
            policies: 10,
            confirm_with: "prune-8-0badcafe".into(),
        }),
        ..Default::default()
    };
    let in_sync = policy_state(true, "InSync");
    let refused = policy_state(false, "NsgFlowLogCreationBlocked");
    let cases: Vec<(&str, serde_json::Value, &str, &[&str])> = vec![
        ("no status yet", set(1, None), "Progressing", &["Waiting", "set"]),
        (
            "generation not observed yet",
            set(
                3,
                Some(set_status_of(
                    2,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", in_sync.clone())],
                )),
            ),
            "Progressing",
            &["generation 3"],
        ),
        (
            "every target compliant",
            set(
                2,
                Some(set_status_of(
                    2,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", in_sync.clone())],
                )),
            ),
            "Healthy",
            &["Compliant", "All 2 targets are compliant"],
        ),
        (
            "a generated policy being created",
            set(1, Some(set_status_of(1, Some(&two), &creating, &[("all-vnets-a", in_sync.clone())]))),
            "Progressing",
            &["Applying", "1 of 2 targets are compliant"],
        ),
        (
            "a generated policy applying its change in Azure",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", policy_state(false, "Applying"))],
                )),
            ),
            "Progressing",
            &["Applying"],
        ),
        (
            "one target failing while another is still being created: wait for the outcome",
            set(1, Some(set_status_of(1, Some(&two), &creating, &[("all-vnets-a", refused.clone())]))),
            "Progressing",
            &["Applying", "1 failing"],
        ),
        (
            "one target failing, nothing under way",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", refused.clone())],
                )),
            ),
            "Degraded",
            &["NotCompliant", "1 failing", "virtualNetworks/b", "NsgFlowLogCreationBlocked"],
        ),
        (
            "Audit mode found drift",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &none,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", policy_state(false, "Drifted"))],
                )),
            ),
            "Degraded",
            &["NotCompliant", "1 drifted", "Drifted"],
        ),
        (
            "a target without a destination for its region",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&selection(&[("a", Some("all-vnets-a")), ("c", None)])),
                    &none,
                    &[("all-vnets-a", in_sync.clone())],
                )),
            ),
            "Degraded",
            &["NotCompliant", "1 without a policy", "virtualNetworks/c", "NoStorageForRegion", "swedencentral"],
        ),
        (
            "discovery failed",
            set(1, Some(set_status_of(1, None, &none, &[]))),
            "Degraded",
            &["DiscoveryFailed", "AuthorizationFailed"],
        ),
        (
            "a prune larger than maxPrunePercent waits for confirmation",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &blocked,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", in_sync.clone())],
                )),
            ),
            "Degraded",
            &["PruneBlocked", "prune-8-0badcafe"],
        ),
        (
            "every target compliant, a pruned policy still going",
            set(
                1,
                Some(set_status_of(
                    1,
                    Some(&two),
                    &pruning,
                    &[("all-vnets-a", in_sync.clone()), ("all-vnets-b", in_sync.clone())],
                )),
            ),
            "Progressing",
            &["Applying"],
        ),
    ];
    for (case, object, status, message_parts) in cases {
        let (got, message) = run(SET_SCRIPT, &object);
        assert_eq!(got, status, "{case}: {message}");
        for part in message_parts {
            assert!(message.contains(part), "{case}: {message:?} lacks {part:?}");
        }
    }
}

#[test]
fn the_configmap_snippet_carries_the_same_scripts() {
    let patch =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/argocd-cm-patch.yaml")).unwrap();
    #[derive(serde::Deserialize)]
    struct Patch {
        data: BTreeMap<String, String>,
    }
    let parsed: Patch = serde_saphyr::from_str(&patch).unwrap();
    for (key, expected) in [
        ("resource.customizations.health.flowlog.dev_FlowLogPolicy", SCRIPT),
        ("resource.customizations.health.flowlog.dev_FlowLogPolicySet", SET_SCRIPT),
    ] {
        let script = parsed.data.get(key).unwrap_or_else(|| panic!("deploy/argocd/argocd-cm-patch.yaml lacks {key}"));
        assert_eq!(script.trim_end(), expected.trim_end(), "deploy/argocd/argocd-cm-patch.yaml is out of date ({key})");
    }
    assert_eq!(parsed.data.len(), 2, "one health check per kind: {:?}", parsed.data.keys());
}

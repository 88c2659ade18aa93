//! The Argo CD health check (deploy/argocd/health.lua) run by a real Lua 5.1 interpreter (Argo CD's
//! gopher-lua implements 5.1) on policies whose status the reconcile core produced for each outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use flowlog_operator::api::{FlowLogPolicy, LastError, ObservedFlowLog, PendingOperation};
use flowlog_operator::reconcile::{Difference, Outcome, next_status};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use mlua::{Lua, LuaSerdeExt};

const SCRIPT: &str = include_str!("../deploy/argocd/health.lua");

fn health(object: &serde_json::Value) -> (String, String) {
    let lua = Lua::new();
    lua.globals().set("obj", lua.to_value(object).unwrap()).unwrap();
    let result: mlua::Table = lua.load(SCRIPT).eval().expect("the script runs");
    (result.get("status").unwrap(), result.get("message").unwrap())
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

#[test]
fn the_configmap_snippet_carries_the_same_script() {
    let patch =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/argocd-cm-patch.yaml")).unwrap();
    #[derive(serde::Deserialize)]
    struct Patch {
        data: BTreeMap<String, String>,
    }
    let parsed: Patch = serde_saphyr::from_str(&patch).unwrap();
    let script = &parsed.data["resource.customizations.health.flowlog.dev_FlowLogPolicy"];
    assert_eq!(script.trim_end(), SCRIPT.trim_end(), "deploy/argocd/argocd-cm-patch.yaml is out of date");
}

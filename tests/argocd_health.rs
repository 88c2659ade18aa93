//! The Argo CD health checks (deploy/argocd/health.lua for FlowLogPolicy, deploy/argocd/health-set.lua for
//! FlowLogPolicySet) run by a real Lua 5.1 interpreter (Argo CD's gopher-lua implements 5.1) on objects whose status
//! the reconcile core produced for each outcome: the cases of `common::health`, one per row of the README's tables.

mod common;

use std::collections::BTreeMap;

use common::health::{Case, policy_cases, set_cases};
use mlua::{Lua, LuaSerdeExt};

const SCRIPT: &str = include_str!("../deploy/argocd/health.lua");
const SET_SCRIPT: &str = include_str!("../deploy/argocd/health-set.lua");

fn run(script: &str, object: &serde_json::Value) -> (String, String) {
    let lua = Lua::new();
    lua.globals().set("obj", lua.to_value(object).unwrap()).unwrap();
    let result: mlua::Table = lua.load(script).eval().expect("the script runs");
    (result.get("status").unwrap(), result.get("message").unwrap())
}

fn check(script: &str, cases: Vec<Case>) {
    for Case { name, object, argocd: (status, message_parts), .. } in cases {
        let (got, message) = run(script, &object);
        assert_eq!(got, status, "{name}: {message}");
        for part in message_parts {
            assert!(message.contains(part), "{name}: {message:?} lacks {part:?}");
        }
    }
}

#[test]
fn health_follows_the_conditions() {
    check(SCRIPT, policy_cases());
}

#[test]
fn set_health_follows_the_conditions() {
    check(SET_SCRIPT, set_cases());
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

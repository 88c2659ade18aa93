//! The Flux health checks (deploy/flux/health-check-exprs.yaml: kustomize-controller's `healthCheckExprs` for
//! FlowLogPolicy and FlowLogPolicySet) evaluated by Flux's own code on objects whose status the reconcile core
//! produced: the cases of `common::health`, one per row of the README's tables. The same objects also go through
//! Flux without the expressions (kstatus's generic rules), the verdicts the README gives as the reason to ship them.
//!
//! The evaluator is `tests/tools/flux-health`, a small Go program around `cel.NewStatusReader` of
//! github.com/fluxcd/pkg/runtime (the function kustomize-controller calls for `healthCheckExprs`) and kstatus's
//! status readers, put together as kustomize-controller's status poller does; built once from the Go module proxy
//! and cached by `tests/tools/install-flux-health.sh`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::health::{Case, policy_cases, set_cases};
use flowlog_operator::api::{FlowLogPolicy, FlowLogPolicySet};
use kube::Resource;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EXPRS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/flux/health-check-exprs.yaml");

/// The evaluator, built once and cached outside the repo.
fn flux_health() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let out = Command::new(format!("{ROOT}/tests/tools/install-flux-health.sh"))
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "tests/tools/install-flux-health.sh failed");
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("install-flux-health.sh prints the binary path").trim())
    })
}

#[derive(Debug, serde::Deserialize)]
struct Verdict {
    status: String,
    message: String,
    error: String,
}

/// What Flux makes of each object with the health checks of `kustomization` (`None`: without health checks).
fn evaluate(kustomization: Option<&Path>, objects: &[&Value]) -> Vec<Verdict> {
    let mut child = Command::new(flux_health())
        .arg(kustomization.map_or("--kstatus".as_ref(), Path::as_os_str))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(objects).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "flux-health failed: {}", String::from_utf8_lossy(&out.stderr));
    let verdicts: Vec<Verdict> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdicts.len(), objects.len(), "one verdict per object");
    verdicts
}

fn check(cases: Vec<Case>) {
    let objects: Vec<&Value> = cases.iter().map(|c| &c.object).collect();
    for (case, verdict) in cases.iter().zip(evaluate(Some(Path::new(EXPRS)), &objects)) {
        assert_eq!(verdict.status, case.flux, "{}: {verdict:?}", case.name);
        // kstatus carries no message for a status computed from CEL; Flux names the object and its status.
        assert_eq!(verdict.message, "", "{}", case.name);
        if case.flux == "Unknown" {
            // No status at all: `status` itself is absent, which no CEL expression can test for.
            assert!(verdict.error.contains("no such attribute(s): status."), "{}: {verdict:?}", case.name);
        } else {
            assert_eq!(verdict.error, "", "{}: an expression failed to evaluate", case.name);
        }
    }
}

/// Without the expressions: kstatus decides on the generation, `Reconciling`, `Stalled`, then `Ready`, and takes an
/// object without conditions for Current.
fn check_without_expressions(cases: Vec<Case>) {
    let objects: Vec<&Value> = cases.iter().map(|c| &c.object).collect();
    for (case, verdict) in cases.iter().zip(evaluate(None, &objects)) {
        assert_eq!(verdict.status, case.flux_kstatus, "{}: {verdict:?}", case.name);
        assert_eq!(verdict.error, "", "{}", case.name);
    }
}

#[test]
fn policy_health_follows_the_conditions() {
    check(policy_cases());
    check_without_expressions(policy_cases());
}

#[test]
fn set_health_follows_the_conditions() {
    check(set_cases());
    check_without_expressions(set_cases());
}

/// The file is a Kustomization that waits for its objects, with the three expressions for each of the two kinds
/// (at the CRDs' group and version).
#[test]
fn the_snippet_is_a_kustomization_with_both_kinds() {
    let snippet: Value = serde_saphyr::from_str(&std::fs::read_to_string(EXPRS).unwrap()).unwrap();
    assert_eq!(snippet["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(snippet["kind"], "Kustomization");
    assert_eq!(snippet["spec"]["wait"], true, "healthCheckExprs are evaluated only with wait (or healthChecks)");
    let checks = snippet["spec"]["healthCheckExprs"].as_array().expect("spec.healthCheckExprs");
    let expected = [
        (FlowLogPolicy::api_version(&()), FlowLogPolicy::kind(&())),
        (FlowLogPolicySet::api_version(&()), FlowLogPolicySet::kind(&())),
    ];
    assert_eq!(checks.len(), expected.len(), "one entry per kind: {checks:?}");
    for (check, (api_version, kind)) in checks.iter().zip(expected) {
        assert_eq!(check["apiVersion"], api_version.as_ref());
        assert_eq!(check["kind"], kind.as_ref());
        for expression in ["inProgress", "failed", "current"] {
            assert!(check[expression].as_str().is_some_and(|e| !e.is_empty()), "{kind} lacks {expression}");
        }
    }
}

/// The evaluator refuses what kustomize-controller would not read as intended: a misspelt key (the apiserver would
/// drop or refuse it, leaving that verdict out) and an expression that does not parse.
#[test]
fn the_evaluator_refuses_a_malformed_snippet() {
    let snippet = std::fs::read_to_string(EXPRS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (what, broken) in [
        ("a misspelt key", snippet.replacen("inProgress:", "inprogress:", 1)),
        (
            "an expression that does not parse",
            snippet.replacen("status.conditions.exists(", "status.conditions.exists((", 1),
        ),
    ] {
        assert_ne!(broken, snippet);
        let path = dir.path().join("kustomization.yaml");
        std::fs::write(&path, broken).unwrap();
        let out = Command::new(flux_health()).arg(&path).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "{what} is accepted");
    }
}

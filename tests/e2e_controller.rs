//! End to end for what GitOps tools and on-call engineers see: conditions through a life cycle, events,
//! audit mode, deletion policies, conflicts, metrics. Real kube-apiserver (tests/run.sh), simulator,
//! in-process controller.

mod common;

use std::time::Duration;

use common::*;
use flowlog_operator::api::{DeletionPolicy, Mode};
use flowlog_operator::azure::model::RetentionPolicyParameters;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

fn retention(h: &Harness, target: &str) -> (bool, i32) {
    let r = h.sim.flow_log_status(target).unwrap().properties.retention_policy.unwrap_or_default();
    (r.enabled, r.days)
}

fn conditions(p: &flowlog_operator::api::FlowLogPolicy) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = p
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
        .collect();
    out.sort();
    out
}

fn kstatus(ready: &str, reason: &str, reconciling: &str, stalled: &str) -> Vec<(String, String, String)> {
    let mut out = vec![
        ("Ready".to_string(), ready.to_string(), reason.to_string()),
        ("Reconciling".to_string(), reconciling.to_string(), String::new()),
        ("Stalled".to_string(), stalled.to_string(), String::new()),
    ];
    out.sort();
    out
}

/// Compares type and status of all three conditions, and the Ready reason.
fn assert_kstatus(
    p: &flowlog_operator::api::FlowLogPolicy,
    ready: &str,
    reason: &str,
    reconciling: &str,
    stalled: &str,
) {
    let got: Vec<_> = conditions(p)
        .into_iter()
        .map(|(t, s, r)| if t == "Ready" { (t, s, r) } else { (t, s, String::new()) })
        .collect();
    assert_eq!(got, kstatus(ready, reason, reconciling, stalled), "{:#?}", p.status);
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn conditions_and_events_follow_the_life_cycle() {
    let h = Harness::start("lifecycle").await;
    let spec = web_nsg_spec(30, "2s");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;

    // applying → ready
    let p = h.wait_ready("web", "True").await;
    assert_kstatus(&p, "True", "Applied", "False", "False");

    // drift → repaired
    let mut drifted = h.sim.flow_log_status(&target).unwrap();
    drifted.properties.retention_policy = Some(RetentionPolicyParameters { enabled: true, days: 1 });
    h.sim.set_flow_log(drifted).unwrap();
    let p = wait_for("drift repaired", Duration::from_secs(15), || async {
        let p = h.get("web").await;
        (p.status.as_ref()?.drift_corrections == 1).then_some(p)
    })
    .await;
    assert_kstatus(&p, "True", "DriftCorrected", "False", "False");
    assert_eq!(retention(&h, &target), (true, 30));

    // terminal error → stalled
    let missing = storage("nosuchaccount");
    let patch = json!({"spec": {"flowLog": {"storageId": missing}}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let p = h.wait_ready("web", "False").await;
    assert_kstatus(&p, "False", "InvalidResourceReference", "False", "True");
    let (_, stalled_reason, stalled_message) = h.condition("web", "Stalled").await.unwrap();
    assert_eq!(stalled_reason, "InvalidResourceReference");
    assert!(stalled_message.contains("nosuchaccount"), "{stalled_message}");
    assert_eq!(p.status.as_ref().unwrap().last_error.as_ref().unwrap().code, "InvalidResourceReference");

    // fixing the spec clears it
    let patch = json!({"spec": {"flowLog": {"storageId": storage("flowlogsweu001")}}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let p = h.wait_ready("web", "True").await;
    assert_kstatus(&p, "True", "InSync", "False", "False");
    assert_eq!(p.status.unwrap().last_error, None);

    // Events on transitions only: one each, in order.
    let reasons = wait_for("events recorded", Duration::from_secs(10), || async {
        let reasons = h.event_reasons("web").await;
        (reasons.len() >= 3).then_some(reasons)
    })
    .await;
    let expected: Vec<(String, String)> =
        [("Normal", "Applied"), ("Normal", "DriftCorrected"), ("Warning", "InvalidResourceReference")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(reasons, expected);
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn audit_mode_reports_drift_and_never_writes() {
    let h = Harness::start("audit").await;
    let mut spec = web_nsg_spec(30, "1s"); // Azure has 7 days
    spec.mode = Mode::Audit;
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;

    let p = h.wait_ready("web", "False").await;
    assert_kstatus(&p, "False", "Drifted", "False", "False");
    let (_, _, message) = h.condition("web", "Ready").await.unwrap();
    assert!(message.contains("retentionPolicy: 7 days (Azure) → 30 days (spec)"), "{message}");
    assert_eq!(p.status.unwrap().observed.unwrap().retention_policy.unwrap().days, 7, "status shows what Azure has");

    tokio::time::sleep(Duration::from_secs(4)).await; // several drift checks
    assert_eq!(count(&h.sim, "configureFlowLog"), 0, "audit mode made an ARM write");
    // Audit reads the watcher's flow-log list at each check and confirms nothing (queryFlowLogStatus is a POST).
    assert!(count(&h.sim, "flowLogsList") >= 3, "{} lists", count(&h.sim, "flowLogsList"));
    assert_eq!(count(&h.sim, "queryFlowLogStatus"), 0);
    assert_eq!(retention(&h, &target), (true, 7));
    assert_eq!(
        h.event_reasons("web").await,
        vec![("Warning".to_string(), "Drifted".to_string())],
        "one event per transition"
    );
    let metrics = h.metrics_text().await;
    assert!(metrics.contains("flowlog_drift_detected_total 1"), "{metrics}");
    assert!(metrics.contains(r#"flowlog_reconciles_total{result="drifted"}"#), "{metrics}");
    assert!(metrics.contains(r#"flowlog_policies{condition="Ready",status="False"} 1"#), "{metrics}");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn deletion_policy_disable_switches_the_flow_log_off() {
    let h = Harness::start("deldisable").await;
    let spec = web_nsg_spec(30, "10m");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;
    let p = h.wait_ready("web", "True").await;
    assert!(p.metadata.finalizers.unwrap_or_default().contains(&"flowlog.dev/cleanup".to_string()));

    h.delete_and_wait(&["web"], Duration::from_secs(15)).await;
    assert!(!h.sim.flow_log_status(&target).unwrap().properties.enabled, "the flow log was switched off");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn deletion_policy_orphan_leaves_azure_as_it_is() {
    let h = Harness::start("delorphan").await;
    let mut spec = web_nsg_spec(30, "10m");
    spec.deletion_policy = DeletionPolicy::Orphan;
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;
    h.wait_ready("web", "True").await;
    let writes = count(&h.sim, "configureFlowLog");

    h.delete_and_wait(&["web"], Duration::from_secs(15)).await;
    assert!(h.sim.flow_log_status(&target).unwrap().properties.enabled);
    assert_eq!(retention(&h, &target), (true, 30));
    assert_eq!(count(&h.sim, "configureFlowLog"), writes, "no write on deletion");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn conflicting_policies_settle_without_flapping() {
    let h = Harness::start("conflict").await;
    let older = web_nsg_spec(30, "1s");
    let target = older.target.resource_id.clone();
    h.apply("older", older).await;
    h.wait_ready("older", "True").await;
    // Creation timestamps have one-second resolution: make sure the second one is younger.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut newer = web_nsg_spec(60, "1s");
    newer.target.resource_id = target.to_uppercase(); // same resource, other spelling
    newer.deletion_policy = DeletionPolicy::Orphan;
    h.apply("newer", newer).await;

    let p = h.wait_ready("newer", "False").await;
    assert_kstatus(&p, "False", "Conflict", "False", "True");
    let (_, _, message) = h.condition("newer", "Stalled").await.unwrap();
    assert!(message.contains(&format!("FlowLogPolicy {}/older", h.namespace)), "{message}");

    // Several intervals: the older keeps the target, the newer never writes, nothing flips.
    let writes = count(&h.sim, "configureFlowLog");
    let before = (h.get("older").await.status, h.get("newer").await.status);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(count(&h.sim, "configureFlowLog"), writes);
    assert_eq!(retention(&h, &target), (true, 30));
    let after = (h.get("older").await.status, h.get("newer").await.status);
    assert_eq!(before.0.unwrap().conditions, after.0.unwrap().conditions, "older's conditions flapped");
    assert_eq!(before.1.unwrap().conditions, after.1.unwrap().conditions, "newer's conditions flapped");

    // The older one goes: the newer takes over at once.
    let mut orphan = h.get("older").await;
    orphan.spec.deletion_policy = DeletionPolicy::Orphan;
    h.api.replace("older", &Default::default(), &orphan).await.unwrap();
    h.api.delete("older", &DeleteParams::default()).await.unwrap();
    let p = h.wait_ready("newer", "True").await;
    assert_kstatus(&p, "True", "Applied", "False", "False");
    assert_eq!(retention(&h, &target), (true, 60));
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn metrics_endpoint_exposes_real_values() {
    let h = Harness::start("metrics").await;
    let spec = web_nsg_spec(30, "1s");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;
    h.wait_ready("web", "True").await;
    let mut drifted = h.sim.flow_log_status(&target).unwrap();
    drifted.properties.enabled = false;
    h.sim.set_flow_log(drifted).unwrap();
    wait_for("drift repaired", Duration::from_secs(15), || async {
        (h.get("web").await.status?.drift_corrections == 1).then_some(())
    })
    .await;

    let text = h.metrics_text().await;
    for expected in [
        r#"flowlog_reconciles_total{result="applied"} 1"#,
        r#"flowlog_reconciles_total{result="drift_corrected"} 1"#,
        "flowlog_drift_detected_total 1",
        "flowlog_drift_corrected_total 1",
        r#"flowlog_policies{condition="Ready",status="True"} 1"#,
        "flowlog_reconcile_duration_seconds_count",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The next drift check finds nothing to do.
    wait_for("an in-sync reconcile", Duration::from_secs(5), || async {
        h.metrics_text().await.contains(r#"flowlog_reconciles_total{result="in_sync"}"#).then_some(())
    })
    .await;
}

/// An operator that dies in the middle of a long-running write and restarts re-reads Azure first: the write is
/// neither lost nor applied twice.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_restart_in_the_middle_of_a_write_neither_loses_nor_repeats_it() {
    let mut inventory = flowlog_simulator::Inventory::builtin();
    inventory.behaviour.lro.retry_after_seconds = 1;
    inventory.behaviour.lro.duration_ms = 4000; // each operation takes 4 s, polled or not
    let mut h = Harness::start_with("restart", inventory).await;
    let spec = web_nsg_spec(30, "10m");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;

    wait_for("the write started", Duration::from_secs(30), || async {
        let (status, reason, _) = h.condition("web", "Reconciling").await?;
        (status == "True" && reason == "Applying").then_some(())
    })
    .await;
    assert_eq!(count(&h.sim, "configureFlowLog"), 1);
    h.restart_controller();

    let p = h.wait_ready("web", "True").await;
    assert_eq!(retention(&h, &target), (true, 30));
    assert_eq!(count(&h.sim, "configureFlowLog"), 1, "the restarted operator wrote again");
    assert_eq!(p.status.unwrap().drift_corrections, 0);
}

/// Polls of a write's operation that fail (502s past the client's own three attempts) are a failed read, not a failed
/// write: the operator keeps the operation and polls it again later, instead of planning afresh against what it
/// read before the write and writing a second time.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn polls_that_fail_keep_the_operation_and_nothing_is_written_twice() {
    let mut inventory = flowlog_simulator::Inventory::builtin();
    inventory.behaviour.lro.retry_after_seconds = 1;
    inventory.behaviour.lro.duration_ms = 2000;
    let h = Harness::start_with("failing-polls", inventory).await;
    let bad_gateway =
        |op: &str| json!({"operation": op, "count": 3, "effect": {"error": {"status": 502, "code": "BadGateway"}}});
    let faults = json!([bad_gateway("operationStatus"), bad_gateway("operationResult")]);
    h.sim.set_faults(serde_json::from_value(faults).unwrap()).unwrap();
    let spec = web_nsg_spec(30, "10m");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;
    wait_for("every failing poll answered", Duration::from_secs(60), || async {
        h.sim.faults().iter().all(|f| f.count == Some(0)).then_some(())
    })
    .await;
    let p = h.wait_ready("web", "True").await;
    assert_eq!(p.status.unwrap().operation, None);
    assert_eq!(retention(&h, &target), (true, 30));
    assert_eq!(count(&h.sim, "configureFlowLog"), 1, "the operation went on in Azure: no second write");
}

/// A resume token in status whose URLs the client refuses to follow (another origin than the ARM endpoint, as a
/// tampered or migrated status would hold) is dropped, and Azure read again: the policy converges without a second
/// write instead of failing on the token for good.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_resume_token_the_url_boundary_refuses_is_dropped_and_azure_read_again() {
    let mut inventory = flowlog_simulator::Inventory::builtin();
    inventory.behaviour.lro.retry_after_seconds = 1;
    inventory.behaviour.lro.duration_ms = 3000;
    let mut h = Harness::start_with("refused-token", inventory).await;
    let spec = web_nsg_spec(30, "10m");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;
    let operation = wait_for("the write's operation in status", Duration::from_secs(30), || async {
        h.get("web").await.status?.operation
    })
    .await;

    // The operator stops; the token in status now points at another origin.
    h.controller.abort();
    let elsewhere = |u: Option<String>| u.map(|u| u.replace(&h.sim_url, "http://127.0.0.1:9"));
    let mut token = serde_json::to_value(&operation).unwrap();
    for key in ["statusUrl", "resultUrl", "resourceUrl"] {
        let url = token.get(key).and_then(|v| v.as_str()).map(str::to_string);
        if let Some(moved) = elsewhere(url) {
            token[key] = json!(moved);
        }
    }
    assert!(token.to_string().contains("127.0.0.1:9"), "{token}");
    let patch = json!({"status": {"operation": token}});
    h.api.patch_status("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();

    h.restart_controller();
    let p = h.wait_ready("web", "True").await;
    let status = p.status.unwrap();
    assert_eq!((status.operation, status.last_error), (None, None));
    assert_eq!(retention(&h, &target), (true, 30));
    assert_eq!(count(&h.sim, "configureFlowLog"), 1, "Azure already had the spec: no second write");
}

/// A repair whose status write fails is not lost: Azure is repaired (and not repaired twice), and once the apiserver
/// takes status writes again the policy reports `DriftCorrected`, counted once, with one event. The apiserver refuses
/// the writes through a ValidatingAdmissionPolicy on the status subresource, switched on by an annotation.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_repair_whose_status_write_fails_is_reported_later() {
    use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
    use kube::Api;
    use kube::api::PostParams;

    let h = Harness::start("lostreport").await;
    let spec = web_nsg_spec(30, "1s");
    h.apply("web", spec.clone()).await;
    h.wait_ready("web", "True").await;

    const DENY: &str = "test.flowlog.dev/deny-status";
    let name = format!("deny-status-{}", h.namespace);
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["flowlog.dev"], "apiVersions": ["*"], "operations": ["UPDATE"],
                "resources": ["flowlogpolicies/status"]
            }]},
            "validations": [{
                "expression": format!("!has(object.metadata.annotations) || !('{DENY}' in object.metadata.annotations)"),
                "message": "status writes are refused while the test says so"
            }]
        }
    }))
    .unwrap();
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": h.namespace}}}
        }
    }))
    .unwrap();
    Api::<ValidatingAdmissionPolicy>::all(h.client.clone()).create(&PostParams::default(), &policy).await.unwrap();
    Api::<ValidatingAdmissionPolicyBinding>::all(h.client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let deny = json!({"metadata": {"annotations": {DENY: "1"}}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&deny)).await.unwrap();
    // The policy takes effect within a moment: wait until a status write is refused.
    wait_for("status writes refused", Duration::from_secs(20), || async {
        let probe = json!({"status": {"driftCorrections": 0}});
        h.api.patch_status("web", &PatchParams::default(), &Patch::Merge(&probe)).await.err().map(|_| ())
    })
    .await;

    // Drift; the operator repairs it, and cannot say so.
    let configured = count(&h.sim, "configureFlowLog");
    let mut drifted = h.sim.flow_log_status(&spec.target.resource_id).unwrap();
    drifted.properties.retention_policy = Some(RetentionPolicyParameters { enabled: true, days: 1 });
    h.sim.set_flow_log(drifted).unwrap();
    wait_for("drift repaired in Azure", Duration::from_secs(20), || async {
        (retention(&h, &spec.target.resource_id) == (true, 30)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.get("web").await.status.unwrap().drift_corrections, 0, "the status write was refused");

    // Status writes allowed again: the repair is reported, once.
    let allow = json!({"metadata": {"annotations": {DENY: null}}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&allow)).await.unwrap();
    // The refused write is retried by the controller's error policy (every 15 s).
    let p = wait_for("the repair reported", Duration::from_secs(30), || async {
        let p = h.get("web").await;
        (p.status.as_ref()?.drift_corrections == 1).then_some(p)
    })
    .await;
    let ready = p.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "DriftCorrected"), "{}", ready.message);
    assert_eq!(count(&h.sim, "configureFlowLog"), configured + 1, "repaired once, not once per refused report");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.get("web").await.status.unwrap().drift_corrections, 1, "counted once");
    assert_eq!(h.event_count("web", "DriftCorrected").await, 1, "one event for the repair");
    Api::<ValidatingAdmissionPolicyBinding>::all(h.client.clone()).delete(&name, &Default::default()).await.unwrap();
    Api::<ValidatingAdmissionPolicy>::all(h.client.clone()).delete(&name, &Default::default()).await.unwrap();
}

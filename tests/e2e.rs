//! End to end against a real kube-apiserver + etcd (started by `tests/run.sh`), the Network Watcher
//! simulator and the controller: the walking skeleton's loop.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flowlog_operator::api::FlowLogPolicy;
use flowlog_operator::azure::id::same_id;
use flowlog_operator::azure::model::FlowLogInformation;
use flowlog_simulator as simulator;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn applied_policy_converges_and_reports_ready() {
    let h = Harness::start("converge").await;
    let spec = web_nsg_spec(30, "10m");
    let created = h.apply("web", spec.clone()).await;

    let ready = h.wait_ready("web", "True").await;
    assert_eq!(ready.status.as_ref().unwrap().observed_generation, created.metadata.generation);
    let azure = h.sim.flow_log_status(&spec.target.resource_id).unwrap();
    assert_matches_spec(&azure, &spec);
    let status = ready.status.unwrap();
    let observed = status.observed.expect("observed state in status");
    assert!(observed.enabled);
    assert_eq!(observed.retention_policy.map(|r| r.days), Some(30));
    assert_eq!(status.drift_corrections, 0, "applying a new spec is not drift");
    assert!(status.last_sync_time.is_some());
    assert_eq!(count(&h.sim, "configureFlowLog"), 1);
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn drift_is_repaired_within_the_interval() {
    let h = Harness::start("drift").await;
    let spec = web_nsg_spec(30, "2s");
    h.apply("web", spec.clone()).await;
    h.wait_ready("web", "True").await;

    let mut drifted = h.sim.flow_log_status(&spec.target.resource_id).unwrap();
    drifted.properties.retention_policy =
        Some(flowlog_operator::azure::model::RetentionPolicyParameters { enabled: true, days: 1 });
    h.sim.set_flow_log(drifted).unwrap();
    let drifted_at = Instant::now();

    let repaired = wait_for("drift repaired", Duration::from_secs(15), || async {
        let p = h.get("web").await;
        (p.status.as_ref()?.drift_corrections == 1).then_some(p)
    })
    .await;
    // interval 2 s ± 10 % jitter, plus the calls themselves
    assert!(drifted_at.elapsed() < Duration::from_secs(5), "repaired after {:?}", drifted_at.elapsed());
    assert_matches_spec(&h.sim.flow_log_status(&spec.target.resource_id).unwrap(), &spec);
    let ready = repaired.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "DriftCorrected"));
    assert!(ready.message.contains("retentionPolicy"), "{}", ready.message);
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn spec_change_is_applied_at_once() {
    let h = Harness::start("specchange").await;
    let spec = web_nsg_spec(5, "1h");
    h.apply("web", spec.clone()).await;
    h.wait_ready("web", "True").await;
    assert_eq!(h.sim.flow_log_status(&spec.target.resource_id).unwrap().properties.retention_policy.unwrap().days, 5);

    let changed_at = Instant::now();
    let patch = json!({"spec": {"flowLog": {"retentionPolicy": {"enabled": true, "days": 30}}}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let p = wait_for("generation 2 applied", Duration::from_secs(15), || async {
        let p = h.get("web").await;
        let status = p.status.as_ref()?;
        // Not Applying (which keeps Ready from before, with Reconciling=True): the write has ended.
        let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Applied");
        (p.metadata.generation == Some(2) && status.observed_generation == Some(2) && ready).then_some(p)
    })
    .await;
    // Watch-driven: far sooner than the one-hour interval.
    assert!(changed_at.elapsed() < Duration::from_secs(10));
    assert_eq!(h.sim.flow_log_status(&spec.target.resource_id).unwrap().properties.retention_policy.unwrap().days, 30);
    let status = p.status.unwrap();
    assert_eq!(status.observed.unwrap().retention_policy.unwrap().days, 30);
    assert_eq!(status.drift_corrections, 0);
    assert_eq!(status.conditions.iter().find(|c| c.type_ == "Ready").unwrap().reason, "Applied");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn steady_state_makes_no_writes() {
    let h = Harness::start("steady").await;
    let spec = web_nsg_spec(30, "1s");
    h.apply("web", spec).await;
    h.wait_ready("web", "True").await;
    // From the write on, the watcher's refresher watches the target (its first list, which finds Azure as the write
    // left it, may re-check the policy once: let it pass).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reconciles = |text: String| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("flowlog_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };

    h.sim.reset_counters();
    let before = reconciles(h.metrics_text().await);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let checks = reconciles(h.metrics_text().await) - before;
    let (lists, queries, writes) =
        (count(&h.sim, "flowLogsList"), count(&h.sim, "queryFlowLogStatus"), count(&h.sim, "configureFlowLog"));
    eprintln!(
        "steady state over 6 s at a 1 s interval: {lists} flowLogsList, {queries} queryFlowLogStatus, {writes} configureFlowLog, {checks} reconciles"
    );
    assert!(lists >= 4, "the watcher's flow logs were read at each interval ({lists} lists)");
    // The list said nothing changed: the policy was left alone (but for its safety re-check every 10 intervals).
    assert!(checks <= 1.0, "{checks} reconciles of a policy whose flow log did not change");
    assert_eq!(queries, 0, "no drift, so no queryFlowLogStatus (a POST, which ARM counts as a write)");
    assert_eq!(writes, 0, "no drift, so no ARM writes");
}

/// A write Azure refused for good is not sent again while nothing it was refused under changes: the policy stays
/// Stalled (no flip to Applying, no status rewrite, no new event) though Azure is still read at each interval. A
/// retry annotation or a spec change sends it once more.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_refused_write_stays_stalled_until_something_changes() {
    let h = Harness::start("blocked").await;
    let mut spec = web_nsg_spec(7, "1s");
    spec.target.resource_id = nsg("app-prod-rg", "new-nsg");
    h.apply("new", spec).await;
    let p = h.wait_reason("new", "NsgFlowLogCreationBlocked").await;
    let status = p.status.clone().unwrap();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "NsgFlowLogCreationBlocked"));
    let error = status.last_error.unwrap();
    assert_eq!(error.code, "NsgFlowLogCreationBlocked");
    assert!(error.request_id.is_some(), "the ARM request id reaches status");

    let (lists, queries) = (count(&h.sim, "flowLogsList"), count(&h.sim, "queryFlowLogStatus"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(count(&h.sim, "flowLogsList") >= lists + 3, "Azure is still read at each 1 s interval");
    assert_eq!(count(&h.sim, "queryFlowLogStatus"), queries, "the refused write is not confirmed again");
    assert_eq!(count(&h.sim, "configureFlowLog"), 1, "the refused write is not sent again");
    let now = h.get("new").await;
    assert_eq!(now.metadata.resource_version, p.metadata.resource_version, "the status is not rewritten");
    assert_eq!(h.event_count("new", "NsgFlowLogCreationBlocked").await, 1, "one Warning event for the refusal");

    // After fixing a cause outside the flow log, the user asks for a retry.
    let retry = json!({"metadata": {"annotations": {"flowlog.dev/retry": "1"}}});
    h.api.patch("new", &PatchParams::default(), &Patch::Merge(&retry)).await.unwrap();
    wait_for("a second write", Duration::from_secs(20), || async {
        (count(&h.sim, "configureFlowLog") == 2).then_some(())
    })
    .await;
    // A spec change sends it again too, once.
    let change = json!({"spec": {"flowLog": {"retentionPolicy": {"days": 8}}}});
    let changed = h.api.patch("new", &PatchParams::default(), &Patch::Merge(&change)).await.unwrap();
    let p = h.wait_reason("new", "NsgFlowLogCreationBlocked").await;
    assert_eq!(p.status.unwrap().observed_generation, changed.metadata.generation);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(&h.sim, "configureFlowLog"), 3, "one write per change, none in between");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn invalid_manifests_are_rejected_by_the_apiserver() {
    let h = Harness::start("invalid").await;
    let good = serde_json::to_value(FlowLogPolicy::new("x", web_nsg_spec(30, "10m"))).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "malformed target",
            json!({"target": {"resourceId": "/subscriptions/nope/nsg"}}),
            "resourceId must be the ARM ID of a network security group",
        ),
        (
            "target of another type",
            json!({"target": {"resourceId": storage("flowlogsweu001")}}),
            "resourceId must be the ARM ID of a network security group",
        ),
        (
            "retention over 365 days",
            json!({"flowLog": {"retentionPolicy": {"enabled": true, "days": 400}}}),
            "spec.flowLog.retentionPolicy.days",
        ),
        (
            "negative retention",
            json!({"flowLog": {"retentionPolicy": {"enabled": true, "days": -1}}}),
            "spec.flowLog.retentionPolicy.days",
        ),
        (
            "format version 3",
            json!({"flowLog": {"format": {"type": "JSON", "version": 3}}}),
            "spec.flowLog.format.version",
        ),
        ("format type CSV", json!({"flowLog": {"format": {"type": "CSV", "version": 2}}}), "spec.flowLog.format.type"),
        (
            "storage that is not a storage account",
            json!({"flowLog": {"storageId": nsg("rg", "nsg")}}),
            "storageId must be the ARM ID of a storage account",
        ),
        (
            "enabled without storage",
            json!({"flowLog": {"storageId": null}}),
            "storageId is required when enabled is true",
        ),
        ("interval that is not a duration", json!({"interval": "often"}), "interval must be a duration"),
        ("interval under a second", json!({"interval": "100ms"}), "interval must be a duration"),
    ];
    let dynamic: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), &h.namespace, &kube::api::ApiResource::erase::<FlowLogPolicy>(&()));
    for (i, (case, spec_patch, expected)) in cases.into_iter().enumerate() {
        let mut manifest = good.clone();
        manifest["metadata"]["name"] = json!(format!("bad-{i}"));
        json_merge(&mut manifest["spec"], &spec_patch);
        let object: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
        match dynamic.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{case}: {status:?}");
                assert!(status.message.contains(expected), "{case}: expected {expected:?} in {:?}", status.message);
            }
            other => panic!("{case}: the apiserver accepted it: {other:?}"),
        }
    }
    // The unmodified manifest is accepted: the rules reject the bad, not everything.
    let object: kube::api::DynamicObject = serde_json::from_value(good).unwrap();
    dynamic.create(&PostParams::default(), &object).await.expect("the valid manifest is accepted");
}

/// The shipped binary end to end: `flowlog-operator sim` and `flowlog-operator run` as processes, configured
/// only through flags and environment, as a user would run them.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn operator_and_simulator_binaries_work_together() {
    let (client, namespace) = cluster("binaries").await;
    let (_sim, url) = spawn_simulator_binary().await;
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("operator.log");
    let mut operator = operator_command(&url, &namespace, &log_path)
        .args(["--lease-namespace", &namespace, "--metrics-addr", "127.0.0.1:0"])
        .spawn()
        .unwrap();

    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    let spec = web_nsg_spec(30, "10m");
    api.create(&PostParams::default(), &FlowLogPolicy::new("web", spec.clone())).await.unwrap();
    wait_for("Ready=True", Duration::from_secs(60), || async {
        let p = api.get("web").await.ok()?;
        let s = p.status?;
        s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
    })
    .await;

    let http = reqwest::Client::new();
    let flow_logs: Vec<FlowLogInformation> =
        http.get(format!("{url}/_sim/flowLogs")).send().await.unwrap().json().await.unwrap();
    let web = flow_logs.iter().find(|f| same_id(&f.target_resource_id, &spec.target.resource_id)).unwrap();
    assert_matches_spec(web, &spec);
    let counters: std::collections::BTreeMap<String, u64> =
        http.get(format!("{url}/_sim/counters")).send().await.unwrap().json().await.unwrap();
    assert_eq!(counters.get("configureFlowLog"), Some(&1), "{counters:?}");

    // SIGTERM stops it gracefully.
    let pid = operator.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit =
        tokio::time::timeout(Duration::from_secs(15), operator.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(exit.success(), "{exit:?}");

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("configured flow log"), "the write is logged:\n{log}");
    // Every line about an ARM call names the policy (from the reconcile span) and the ARM request id.
    let calls: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "ARM call" && l["fields"]["operation"] == "configureFlowLog")
        .collect();
    assert!(!calls.is_empty(), "no ARM call lines in:\n{log}");
    for line in &calls {
        assert_eq!(line["span"]["policy"], format!("{namespace}/web"), "{line}");
        assert!(line["fields"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{line}");
    }
    assert!(!log.contains(simulator::DEFAULT_CLIENT_SECRET), "the client secret leaked into the logs");
    assert!(!log.to_lowercase().contains("bearer "), "a bearer token leaked into the logs");
}

/// Every example policy in deploy/examples/ is a valid manifest for the real apiserver.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_example_policies_are_accepted_by_the_apiserver() {
    let (client, namespace) = cluster("examples").await;
    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let policy: FlowLogPolicy = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let params = PostParams { dry_run: true, ..Default::default() };
        api.create(&params, &policy).await.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 5, "found only {seen} examples");
    // The example sets, likewise.
    let sets: Api<flowlog_operator::api::FlowLogPolicySet> = Api::namespaced(api.into_client(), &namespace);
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{dir}/sets")).unwrap() {
        let path = entry.unwrap().path();
        let set: flowlog_operator::api::FlowLogPolicySet =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let params = PostParams { dry_run: true, ..Default::default() };
        sets.create(&params, &set).await.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 1, "no example set");
}

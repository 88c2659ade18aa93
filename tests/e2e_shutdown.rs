//! Shutdown of the shipped binary in the middle of slow long-running writes: SIGTERM ends it at once and cleanly
//! (exit 0, the Lease released, no reconcile abandoned: none waits on an operation), and the next operator resumes
//! the operations kept in status and converges every policy without writing anything twice.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use flowlog_operator::api::{FlowLogFormat, FlowLogPolicy, FormatType, NetworkWatcherRef, RetentionPolicy, Target};
use flowlog_operator::azure::id::same_id;
use flowlog_operator::azure::model::FlowLogInformation;
use flowlog_simulator::Inventory;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// Longer than the shutdown grace (5 s by default): an operator that waited on operations would need all of it.
const RETRY_AFTER_SECONDS: u32 = 8;

async fn counters(url: &str) -> BTreeMap<String, u64> {
    reqwest::get(format!("{url}/_sim/counters")).await.unwrap().json().await.unwrap()
}

/// The three NSGs of the built-in inventory that have a flow log, each asked for a change: one write each.
fn policies() -> Vec<(&'static str, flowlog_operator::api::FlowLogPolicySpec)> {
    let web = web_nsg_spec(30, "10m");
    let mut db = web_nsg_spec(30, "10m");
    db.target = Target { resource_id: nsg("app-prod-rg", "db-nsg") };
    let mut dr = web_nsg_spec(14, "10m");
    dr.target = Target { resource_id: nsg("app-dr-rg", "web-dr-nsg") };
    dr.network_watcher = Some(NetworkWatcherRef {
        resource_group: "NetworkWatcherRG".into(),
        name: "NetworkWatcher_northeurope".into(),
    });
    dr.flow_log.storage_id = Some(storage("flowlogsneu001"));
    dr.flow_log.retention_policy = Some(RetentionPolicy { enabled: true, days: 14 });
    dr.flow_log.format = Some(FlowLogFormat { format_type: FormatType::Json, version: 2 });
    vec![("web", web), ("db", db), ("dr", dr)]
}

fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn sigterm_during_slow_writes_exits_promptly_and_the_next_operator_converges() {
    let (client, namespace) = cluster("shutdown").await;
    // Every long-running operation answers Retry-After: 8; reads (queryFlowLogStatus) are done at once.
    let mut inventory = Inventory::builtin();
    inventory.behaviour.lro.retry_after_seconds = RETRY_AFTER_SECONDS;
    inventory.behaviour.lro.duration_ms = 0;
    let dir = tempfile::tempdir().unwrap();
    let inventory_file = dir.path().join("inventory.yaml");
    std::fs::write(&inventory_file, inventory.to_yaml()).unwrap();
    let (_sim, url) = spawn_simulator_binary_with(&["--inventory", inventory_file.to_str().unwrap()]).await;
    // The writes are accepted (applied in Azure at once) but their operations stay InProgress for 20 s (polled at
    // Retry-After 8 s): longer than the first operator lives.
    let http = reqwest::Client::new();
    let faults = json!([{"operation": "configureFlowLog", "effect": {"lro": {"durationMs": 20_000}}}]);
    let answer = http.put(format!("{url}/_sim/faults")).json(&faults).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());

    let operator = |name: &str| {
        let mut command = operator_command(&url, &namespace, &dir.path().join(format!("{name}.log")));
        command.args(["--lease-namespace", &namespace, "--metrics-addr", "127.0.0.1:0"]);
        command.spawn().unwrap()
    };
    let mut first = operator("first");
    let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &namespace);
    let policies = policies();
    for (name, spec) in &policies {
        api.create(&PostParams::default(), &FlowLogPolicy::new(name, spec.clone())).await.unwrap();
    }
    wait_for("every write sent and waiting on its operation", Duration::from_secs(60), || async {
        let counters = counters(&url).await;
        (counters["configureFlowLog"] == policies.len() as u64).then_some(())
    })
    .await;

    // SIGTERM while every write's operation is in flight.
    let pid = first.id().unwrap().to_string();
    let signalled = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(10), first.wait())
        .await
        .expect("the operator exits within 10 s of SIGTERM")
        .unwrap();
    let took = signalled.elapsed();
    eprintln!("exited {took:?} after SIGTERM (shutdown grace 5 s, Retry-After {RETRY_AFTER_SECONDS} s)");
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
    assert!(took < Duration::from_secs(4), "nothing waited on an operation, so nothing used the grace: {took:?}");

    // One line when the shutdown starts, one when it ends, with the reconciles it abandoned.
    let lines = log_lines(&dir.path().join("first.log"));
    let message = |l: &serde_json::Value| {
        let ours = l["target"].as_str().is_some_and(|t| t.starts_with("flowlog_operator"));
        if ours { l["fields"]["message"].as_str().unwrap_or("").to_string() } else { String::new() }
    };
    let started: Vec<_> = lines.iter().filter(|l| message(l).starts_with("shutting down")).collect();
    assert_eq!(started.len(), 1, "one line when the shutdown starts: {started:?}");
    let ended: Vec<_> = lines.iter().filter(|l| message(l).starts_with("shut down")).collect();
    assert_eq!(ended.len(), 1, "one line when the shutdown ends: {ended:?}");
    // No reconcile waits on an operation: each keeps its operation in status and is requeued at Retry-After.
    assert_eq!(ended[0]["fields"]["abandoned"], 0, "{}", ended[0]);
    assert_eq!(ended[0]["fields"]["released_lease"], true, "{}", ended[0]);

    // The Lease is free: the next leader need not wait for it to expire.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let lease = leases.get("flowlog-operator").await.unwrap();
    assert_eq!(lease.spec.and_then(|s| s.holder_identity), None, "the Lease was not released");

    // Nothing was written twice, and the operations go on in Azure.
    assert_eq!(counters(&url).await["configureFlowLog"], policies.len() as u64);
    http.delete(format!("{url}/_sim/faults")).send().await.unwrap();

    // A new operator resumes each operation from status, reports its end, and writes nothing again.
    let started = Instant::now();
    let mut second = operator("second");
    for (name, _) in &policies {
        wait_for(&format!("{name} Ready=True"), Duration::from_secs(90), || async {
            let p = api.get(name).await.ok()?;
            let s = p.status?;
            (s.observed_generation == p.metadata.generation
                && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            .then_some(())
        })
        .await;
    }
    eprintln!("the next operator converged {:?} after it started", started.elapsed());
    let flow_logs: Vec<FlowLogInformation> =
        http.get(format!("{url}/_sim/flowLogs")).send().await.unwrap().json().await.unwrap();
    for (name, spec) in &policies {
        let found = flow_logs.iter().find(|f| same_id(&f.target_resource_id, &spec.target.resource_id));
        let found = found.unwrap_or_else(|| panic!("{name}: no flow log in Azure"));
        assert_matches_spec(found, spec);
    }
    let counters = counters(&url).await;
    assert_eq!(counters["configureFlowLog"], policies.len() as u64, "a write was applied twice: {counters:?}");

    // Idle (every policy waiting for its next check), it stops without waiting for the grace.
    let pid = second.id().unwrap().to_string();
    let signalled = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(10), second.wait()).await.expect("exits").unwrap();
    eprintln!("the idle operator exited {:?} after SIGTERM", signalled.elapsed());
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(4), "an idle operator waited for the grace");
}

//! Two shards (the shipped binary twice, with different `--selector`s, each electing its own leader) against the
//! real apiserver and the simulator binary: every policy is reconciled by its shard and by no other, and a policy
//! no shard selects is left alone.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::fleet::{nsg_with_flow_log, sim_counters};
use common::*;
use flowlog_operator::api::FlowLogPolicy;
use flowlog_simulator::Inventory;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

const POLICIES: usize = 10;

async fn metric(port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?.text().await.ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

fn policy(name: &str, nsg_name: &str, shard: Option<&str>) -> FlowLogPolicy {
    let mut spec = web_nsg_spec(30, "2s");
    spec.target.resource_id = nsg("shard-rg", nsg_name);
    let mut p = FlowLogPolicy::new(name, spec);
    if let Some(shard) = shard {
        p.labels_mut().insert("flowlog.dev/shard".into(), shard.into());
    }
    p
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn each_policy_is_reconciled_by_exactly_one_shard() {
    let (client, namespace) = cluster("shards").await;
    // One NSG per policy, each with a flow log at 7 days; every policy asks for 30: exactly one write each.
    let mut inventory = Inventory::builtin();
    common::sim::quick_operations(&mut inventory);
    let nsgs = &mut inventory.subscriptions[0].network_security_groups;
    nsgs.extend(
        (0..POLICIES)
            .map(|i| nsg_with_flow_log(&format!("shard-nsg-{i}"), "shard-rg", "westeurope", "flowlogsweu001", 7)),
    );
    nsgs.push(nsg_with_flow_log("stray-nsg", "shard-rg", "westeurope", "flowlogsweu001", 7));
    let dir = tempfile::tempdir().unwrap();
    let inventory_file = dir.path().join("inventory.yaml");
    std::fs::write(&inventory_file, inventory.to_yaml()).unwrap();
    let (_sim, url) = spawn_simulator_binary_with(&["--inventory", inventory_file.to_str().unwrap()]).await;

    // Two shards, each with leader election and no --lease-name: the Lease is derived from the selector.
    let shard = |index: usize, port: u16| {
        let log = dir.path().join(format!("shard-{index}.log"));
        let mut command = operator_command(&url, &namespace, &log);
        command
            .env("RUST_LOG", "info")
            .env("FLOWLOG_SELECTOR", format!("flowlog.dev/shard={index}"))
            .args(["--lease-namespace", &namespace, "--lease-duration", "3s", "--lease-grace", "1s"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
        (command.spawn().unwrap(), log)
    };
    let ports = [free_port(), free_port()];
    let (_a, log_a) = shard(0, ports[0]);
    let (_b, log_b) = shard(1, ports[1]);
    for port in ports {
        wait_for("both shards lead their own Lease", Duration::from_secs(30), || async {
            (metric(port, "flowlog_leader").await? == 1.0).then_some(())
        })
        .await;
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let lease_names: BTreeSet<String> =
        leases.list(&Default::default()).await.unwrap().iter().map(|l| l.name_any()).collect();
    assert_eq!(lease_names.len(), 2, "one Lease per shard: {lease_names:?}");
    assert!(lease_names.iter().all(|n| n.starts_with("flowlog-operator-")), "{lease_names:?}");

    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    let shard_of = |i: usize| i % 2;
    for i in 0..POLICIES {
        let p = policy(&format!("p{i}"), &format!("shard-nsg-{i}"), Some(&shard_of(i).to_string()));
        api.create(&PostParams::default(), &p).await.unwrap();
    }
    // No shard selects this one: no label matches (shard 7 of 2).
    api.create(&PostParams::default(), &policy("stray", "stray-nsg", Some("7"))).await.unwrap();

    wait_for("every sharded policy Ready", Duration::from_secs(60), || {
        let api = api.clone();
        async move {
            let items = api.list(&Default::default()).await.ok()?.items;
            let ready = items
                .iter()
                .filter(|p| {
                    p.status.as_ref().is_some_and(|s| {
                        s.observed_generation == p.metadata.generation
                            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                })
                .count();
            (ready == POLICIES).then_some(())
        }
    })
    .await;
    // A few drift checks at the 2 s interval, then the figures.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let counts = sim_counters(&url).await;
    assert_eq!(
        counts.get("configureFlowLog"),
        Some(&(POLICIES as u64)),
        "one write per policy, none doubled: {counts:?}"
    );

    // Each shard reconciled its own policies and no other's.
    let logs = [std::fs::read_to_string(&log_a).unwrap(), std::fs::read_to_string(&log_b).unwrap()];
    let reconciled = |log: &str, name: &str| log.contains(&format!("\"policy\":\"{namespace}/{name}\""));
    for i in 0..POLICIES {
        let name = format!("p{i}");
        let mine = shard_of(i);
        assert!(reconciled(&logs[mine], &name), "shard {mine} did not reconcile {name}");
        assert!(!reconciled(&logs[1 - mine], &name), "shard {} reconciled {name}, which is shard {mine}'s", 1 - mine);
    }
    for (index, port) in ports.iter().enumerate() {
        assert!(metric(*port, "flowlog_reconciles_total").await.unwrap() >= (POLICIES / 2) as f64, "shard {index}");
        assert!(!reconciled(&logs[index], "stray"), "shard {index} reconciled the stray policy");
    }

    // The policy no shard selects is left alone: no finalizer, no status, its flow log untouched.
    let stray = api.get("stray").await.unwrap();
    assert!(stray.finalizers().is_empty(), "{:?}", stray.finalizers());
    assert!(stray.status.is_none(), "{:?}", stray.status);
    let statuses: Vec<serde_json::Value> =
        reqwest::get(format!("{url}/_sim/flowLogs")).await.unwrap().json().await.unwrap();
    let days = |nsg_name: &str| {
        let id = nsg("shard-rg", nsg_name).to_lowercase();
        let status = statuses
            .iter()
            .find(|s| s["targetResourceId"].as_str().is_some_and(|t| t.to_lowercase() == id))
            .unwrap_or_else(|| panic!("no flow log status for {nsg_name}"));
        status["properties"]["retentionPolicy"]["days"].as_i64()
    };
    assert_eq!(days("stray-nsg"), Some(7), "the stray policy's flow log was changed");
    for i in 0..POLICIES {
        assert_eq!(days(&format!("shard-nsg-{i}")), Some(30), "shard-nsg-{i}");
    }
}

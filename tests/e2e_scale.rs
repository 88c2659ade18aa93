//! A scale run, not a timed unit test: N policies against the shipped binaries (operator and simulator as
//! processes) and the real apiserver. It asserts what must hold at any speed (every policy converges with exactly
//! one write; the steady state makes no writes) and prints the figures: time to converge, ARM requests, the
//! operator's memory.

mod common;

use std::time::{Duration, Instant};

use common::fleet::{nsg_with_flow_log, proc_status_kib, sim_counters};
use common::*;
use flowlog_operator::api::FlowLogPolicy;
use flowlog_simulator::Inventory;
use futures::StreamExt;
use kube::Api;
use kube::api::PostParams;

const POLICIES: usize = 200;

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn two_hundred_policies_converge_and_settle() {
    let (client, namespace) = cluster("scale").await;
    // N NSGs, each with an existing flow log (7 days retention); every policy asks for 30 days: one write each.
    let mut inventory = Inventory::builtin();
    common::sim::quick_operations(&mut inventory);
    inventory.behaviour.throttling.enabled = false;
    inventory.behaviour.page_size = 100;
    for i in 0..POLICIES {
        let nsg = nsg_with_flow_log(&format!("scale-nsg-{i:03}"), "scale-rg", "westeurope", "flowlogsweu001", 7);
        inventory.subscriptions[0].network_security_groups.push(nsg);
    }
    let dir = tempfile::tempdir().unwrap();
    let inventory_file = dir.path().join("inventory.yaml");
    std::fs::write(&inventory_file, inventory.to_yaml()).unwrap();
    let (_sim, url) = spawn_simulator_binary_with(&["--inventory", inventory_file.to_str().unwrap()]).await;
    let metrics_port = free_port();
    let mut operator = operator_command(&url, &namespace, &dir.path().join("operator.log"))
        .env("RUST_LOG", "info")
        .args(["--leader-elect", "false", "--concurrency", "8", "--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        // Measure the operator, not ARM's limits (tests/bench_fleet.rs runs with them).
        .args(["--arm-read-budget", "100000/10000", "--arm-write-budget", "100000/10000"])
        .spawn()
        .unwrap();
    let pid = operator.id().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = proc_status_kib(pid, "VmRSS:");

    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    let started = Instant::now();
    futures::stream::iter(0..POLICIES)
        .for_each_concurrent(16, |i| {
            let api = api.clone();
            async move {
                let mut spec = web_nsg_spec(30, "15s");
                spec.target.resource_id = nsg("scale-rg", &format!("scale-nsg-{i:03}"));
                api.create(&PostParams::default(), &FlowLogPolicy::new(&format!("p{i:03}"), spec)).await.unwrap();
            }
        })
        .await;
    let created = started.elapsed();
    let mut last_report = Instant::now();
    wait_for("every policy Ready", Duration::from_secs(180), || {
        let report = last_report.elapsed() > Duration::from_secs(10);
        if report {
            last_report = Instant::now();
        }
        let api = api.clone();
        async move {
            let items = api.list(&Default::default()).await.ok()?.items;
            let mut reasons = std::collections::BTreeMap::<String, usize>::new();
            for p in &items {
                let ready = p.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
                let key = ready.map(|c| format!("{}/{}", c.status, c.reason)).unwrap_or_else(|| "none".into());
                *reasons.entry(key).or_default() += 1;
            }
            if report {
                eprintln!("progress: {reasons:?}");
            }
            (reasons.get("True/Applied").copied().unwrap_or(0) + reasons.get("True/InSync").copied().unwrap_or(0)
                == POLICIES)
                .then_some(())
        }
    })
    .await;
    let converged = started.elapsed();
    let busy = sim_counters(&url).await;
    assert_eq!(busy.get("configureFlowLog"), Some(&(POLICIES as u64)), "exactly one write per policy");

    // Steady state: one full interval (15 s ± 10 %) and a little more.
    reqwest::Client::new().post(format!("{url}/_sim/counters/reset")).send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(18)).await;
    let steady = sim_counters(&url).await;
    let (rss, peak) = (proc_status_kib(pid, "VmRSS:"), proc_status_kib(pid, "VmHWM:"));
    let reads = steady.get("flowLogsList").copied().unwrap_or(0);
    let queries = steady.get("queryFlowLogStatus").copied().unwrap_or(0);
    // The watcher's flow logs (these 200 and the built-in ones) in pages: one list per interval answers for all.
    let pages = (POLICIES + 10).div_ceil(inventory.behaviour.page_size) as u64;
    let all: u64 = steady.values().sum();
    eprintln!(
        "scale run, {POLICIES} policies, concurrency 8: created in {:.1} s, all Ready after {:.1} s; \
         converging: {} configureFlowLog, {} ARM requests in all; \
         steady state over 18 s at a 15 s interval: {reads} flowLogsList pages, {queries} queryFlowLogStatus, {} configureFlowLog, {all} requests; \
         operator RSS {} MiB idle, {} MiB after, peak {} MiB",
        created.as_secs_f64(),
        converged.as_secs_f64(),
        busy.get("configureFlowLog").copied().unwrap_or(0),
        busy.values().sum::<u64>(),
        steady.get("configureFlowLog").copied().unwrap_or(0),
        idle_rss / 1024,
        rss / 1024,
        peak / 1024
    );
    assert_eq!(steady.get("configureFlowLog").copied().unwrap_or(0), 0, "no writes in the steady state");
    assert_eq!(queries, 0, "no drift, so no queryFlowLogStatus (a POST: ARM counts it as a write)");
    assert!(reads >= pages, "the watcher was listed again within the interval ({reads} pages)");
    assert!(reads <= 2 * pages, "one list per watcher and interval, not one read per policy ({reads} pages)");
    operator.start_kill().unwrap();
}

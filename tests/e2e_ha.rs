//! Two operator replicas (the shipped binary) against the real apiserver: only the leader writes; the standby
//! takes over when the leader dies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flowlog_operator::api::FlowLogPolicy;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

async fn metric(port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?.text().await.ok()?;
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Some(total)
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn only_the_leader_writes_and_the_standby_takes_over() {
    let (client, namespace) = cluster("ha").await;
    let (_sim, url) = spawn_simulator_binary().await;
    let logs = tempfile::tempdir().unwrap();
    let replica = |name: &str, port: u16| {
        let mut command = operator_command(&url, &namespace, &logs.path().join(format!("{name}.log")));
        command.args([
            "--lease-namespace",
            namespace.as_str(),
            "--lease-name",
            "flowlog-operator",
            "--lease-duration",
            "3s",
            "--lease-grace",
            "1s",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ]);
        command.spawn().unwrap()
    };
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = replica("a", port_a);
    wait_for("replica a leads", Duration::from_secs(30), || async {
        (metric(port_a, "flowlog_leader").await? == 1.0).then_some(())
    })
    .await;
    let _b = replica("b", port_b);
    wait_for("replica b is up", Duration::from_secs(30), || async {
        metric(port_b, "flowlog_leader").await.map(|_| ())
    })
    .await;

    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    api.create(&PostParams::default(), &FlowLogPolicy::new("web", web_nsg_spec(30, "1s"))).await.unwrap();
    let ready_at = |generation: i64| {
        let api = api.clone();
        async move {
            let p = api.get("web").await.ok()?;
            let s = p.status?;
            (s.observed_generation == Some(generation)
                && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            .then_some(())
        }
    };
    wait_for("applied by the leader", Duration::from_secs(30), || ready_at(1)).await;
    // A few drift checks at a 1 s interval (each takes ~2 s: the simulator's operations say Retry-After: 1).
    wait_for("drift checks on the leader", Duration::from_secs(20), || async {
        (metric(port_a, "flowlog_reconciles_total").await? >= 3.0).then_some(())
    })
    .await;
    // Both replicas are healthy and ready: the standby is idle, not broken.
    for port in [port_a, port_b] {
        for probe in ["healthz", "readyz"] {
            let answer = reqwest::get(format!("http://127.0.0.1:{port}/{probe}")).await.unwrap();
            let status = answer.status();
            let leader = if port == port_a { "leader" } else { "standby" };
            assert_eq!(status, 200, "{probe} on the {leader}: {}", answer.text().await.unwrap_or_default());
        }
    }
    assert_eq!(metric(port_b, "flowlog_leader").await, Some(0.0));
    assert_eq!(metric(port_b, "flowlog_reconciles_total").await, Some(0.0), "the standby reconciled");
    assert_eq!(metric(port_b, "flowlog_arm_requests_total").await, Some(0.0), "the standby called ARM");

    // The leader dies without releasing its lease; the standby takes over once the lease expires.
    a.start_kill().unwrap();
    a.wait().await.unwrap();
    let killed = Instant::now();
    wait_for("replica b leads", Duration::from_secs(20), || async {
        (metric(port_b, "flowlog_leader").await? == 1.0).then_some(())
    })
    .await;
    eprintln!("takeover after {:?} (lease 3 s)", killed.elapsed());
    let patch = json!({"spec": {"flowLog": {"retentionPolicy": {"enabled": true, "days": 60}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_for("applied by the new leader", Duration::from_secs(30), || ready_at(2)).await;
    assert!(metric(port_b, "flowlog_reconciles_total").await.unwrap() >= 1.0);

    let counters: std::collections::BTreeMap<String, u64> =
        reqwest::get(format!("{url}/_sim/counters")).await.unwrap().json().await.unwrap();
    assert_eq!(counters.get("configureFlowLog"), Some(&2), "one write per spec generation, none doubled: {counters:?}");
}

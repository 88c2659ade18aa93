//! The fault campaign: a fleet of policies reconciled by two replicas of the shipped binary (leader election) under a
//! seeded random schedule of faults, then the invariants once the faults stop. An instrument with checks, not a
//! timed unit test: it prints its figures, and fails only when an invariant breaks.
//!
//! Faults (`tests/common/campaign.rs` draws them from the seed): 429 storms with `Retry-After`, 5xx bursts, slow and
//! failing long-running operations, connection resets, request timeouts (polls that answer after the client's
//! 60 s), token endpoint outages (with a replica restarted inside), the simulator restarted with its state kept, the
//! apiserver restarted (a private etcd + apiserver: the suite's shared one serves other tests), the leader SIGKILLed
//! just after writes were sent, a leader change by SIGTERM, and status written by another field manager while a
//! write runs. Spec changes during the campaign give the kills writes to interrupt.
//!
//! Invariants, once the faults stop: every policy converges (Ready for its generation, and Azure, read from the
//! simulator, equals its spec); no write applied twice and none lost (the simulator's accepted writes = the writes
//! needed + those whose operation a fault failed, per target at least the needed ones); ARM's budgets (reads
//! 250 / 25 per s, writes 200 / 10 per s; one subscription, so per subscription and region at most that) held over
//! the counters sampled every 0.5 s; no hot loop (requests per policy and minute bounded) and a steady window with
//! no write of any kind; no event storm (events per policy bounded); and neither client secret nor any token the
//! simulator issued appears in the operators' logs, the events, any policy's status or the metrics endpoints.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `FLOWLOG_CAMPAIGN_POLICIES` | 240 | policies (half NSGs with a flow log, half VNets without) |
//! | `FLOWLOG_CAMPAIGN_SECONDS` | 90 | how long faults are injected; the number of faults grows with it |
//! | `FLOWLOG_CAMPAIGN_SEED` | 1 | the schedule's seed |
//! | `FLOWLOG_CAMPAIGN_CONVERGE_SECONDS` | 240 | how long convergence may take after the last fault |
//! | `FLOWLOG_CAMPAIGN_KEEP_LOGS` | unset | set: keep the operators' logs (their folder is printed) |
//!
//! The larger run: `FLOWLOG_CAMPAIGN_POLICIES=2000 FLOWLOG_CAMPAIGN_SECONDS=600 tests/run.sh --test e2e_campaign`.

mod common;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::campaign::{self, FaultKind, Planned};
use common::control_plane::ControlPlane;
use common::replicas::{Operators, Replica, metrics_text};
use common::sim_server::SimServer;
use common::*;
use flowlog_operator::api::FlowLogPolicy;
use flowlog_operator::azure::id::same_id;
use flowlog_simulator::{self as simulator, FaultRule, Simulator};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

const NAMESPACE: &str = "campaign";
const INTERVAL: Duration = Duration::from_secs(20);

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// What the campaign wants of each policy now, and the writes that takes.
struct Fleet {
    targets: Vec<campaign::CampaignTarget>,
    days: Vec<i32>,
    changes: Vec<u32>,
}

impl Fleet {
    fn name(i: usize) -> String {
        format!("p-{i:05}")
    }

    fn needed_writes(&self) -> u64 {
        self.changes.iter().map(|c| 1 + u64::from(*c)).sum()
    }
}

fn ready(p: &FlowLogPolicy) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.observed_generation == p.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Changes the retention of up to `k` policies that are Ready (so that each change takes exactly one write);
/// returns their names.
async fn change_specs(
    api: &Api<FlowLogPolicy>,
    fleet: &mut Fleet,
    rng: &mut fastrand::Rng,
    k: u32,
    nsgs_only: bool,
) -> Vec<String> {
    let policies = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    let mut candidates: Vec<usize> = policies
        .iter()
        .filter(|p| ready(p))
        .filter_map(|p| p.name_any().strip_prefix("p-")?.parse().ok())
        .filter(|i: &usize| fleet.changes[*i] < 3 && (!nsgs_only || fleet.targets[*i].nsg))
        .collect();
    rng.shuffle(&mut candidates);
    let mut changed = Vec::new();
    for i in candidates.into_iter().take(k as usize) {
        let days = fleet.days[i] + 5;
        let patch = json!({"spec": {"flowLog": {"retentionPolicy": {"enabled": true, "days": days}}}});
        if api.patch(&Fleet::name(i), &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok() {
            fleet.days[i] = days;
            fleet.changes[i] += 1;
            changed.push(Fleet::name(i));
        }
    }
    changed
}

/// (policies Ready for their generation, policies whose flow log in Azure equals their spec).
async fn convergence(api: &Api<FlowLogPolicy>, sim: &Simulator, fleet: &Fleet) -> Option<(usize, usize)> {
    let policies = api.list(&ListParams::default()).await.ok()?.items;
    let ready = policies.iter().filter(|p| ready(p)).count();
    let azure = sim.flow_log_resources();
    let matching = fleet
        .targets
        .iter()
        .zip(&fleet.days)
        .filter(|(t, days)| {
            azure.iter().any(|f| {
                let p = &f.properties;
                same_id(&p.target_resource_id, &t.id)
                    && p.enabled == Some(true)
                    && same_id(&p.storage_id, &campaign::storage_id(t.region))
                    && p.retention_policy.is_some_and(|r| r.enabled && r.days == **days)
                    && p.format.as_ref().is_some_and(|f| f.version == 2)
            })
        })
        .count();
    Some((ready, matching))
}

/// The fault rules installed, each with the planned fault it belongs to and its count when installed; what each
/// rule fired on is kept per planned fault.
#[derive(Default)]
struct Rules {
    active: Vec<(usize, u32, FaultRule)>,
    fired: BTreeMap<usize, u32>,
}

impl Rules {
    /// Reads the counts left, so that `fired` is current and re-installing keeps them.
    fn catch_up(&mut self, sim: &Simulator) {
        for ((planned, initial, rule), now) in self.active.iter_mut().zip(sim.faults()) {
            self.fired.insert(*planned, *initial - now.count.unwrap_or(0));
            *rule = now;
        }
    }

    fn set(&mut self, sim: &Simulator, change: impl FnOnce(&mut Vec<(usize, u32, FaultRule)>)) {
        self.catch_up(sim);
        change(&mut self.active);
        sim.set_faults(self.active.iter().map(|(_, _, r)| r.clone()).collect()).expect("valid rules");
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Start(usize),
    EndRule(usize),
    SimulatorBack,
    ReplicaBack(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn fault_campaign() {
    let n: usize = env("FLOWLOG_CAMPAIGN_POLICIES", 240);
    let span = Duration::from_secs(env("FLOWLOG_CAMPAIGN_SECONDS", 90));
    let seed: u64 = env("FLOWLOG_CAMPAIGN_SEED", 1);
    let converge_limit = Duration::from_secs(env("FLOWLOG_CAMPAIGN_CONVERGE_SECONDS", 240));
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let operator_secret = format!("campaign-operator-secret-{:016x}", rng.u64(..));
    let team_secret = format!("campaign-team-secret-{:016x}", rng.u64(..));
    let plan = campaign::schedule(seed, span);
    say(&format!("campaign: seed {seed}, {n} policies, {} faults over {span:?}", plan.len()));

    // A private control plane (its apiserver gets restarted), the simulator in this process (restarted too).
    let mut control_plane = ControlPlane::start();
    let client: Client = control_plane.client().await;
    install_crd(&client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": campaign::TEAM_SECRET_NAME},
        "stringData": {"tenantId": simulator::DEFAULT_TENANT_ID, "clientId": campaign::TEAM_CLIENT_ID,
                       "clientSecret": team_secret},
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let (inventory, targets) = campaign::fleet(n, &operator_secret, &team_secret);
    let sim = Simulator::new(inventory);
    sim.record_writes();
    let mut server = SimServer::start(sim.clone());
    let started = Instant::now();

    // The simulator's counters every 0.5 s: (seconds, reads, writes) for the budgets and the hot-loop figure.
    let samples: Arc<Mutex<Vec<(f64, u64, u64)>>> = Arc::default();
    let sampler = {
        let (sim, samples) = (sim.clone(), samples.clone());
        tokio::spawn(async move {
            loop {
                let classes = campaign::by_class(&sim.counters());
                let at = started.elapsed().as_secs_f64();
                samples.lock().unwrap().push((at, classes["read"], classes["write"]));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let keep = std::env::var_os("FLOWLOG_CAMPAIGN_KEEP_LOGS").is_some();
    let logs = tempfile::Builder::new().prefix("flowlog-campaign-logs.").disable_cleanup(keep).tempdir().unwrap();
    say(&format!("operator logs in {}", logs.path().display()));
    let replica = |name| Replica { port: free_port(), child: None, runs: 0, name };
    let mut operators = Operators {
        replicas: [replica("a"), replica("b")],
        namespace: NAMESPACE.into(),
        sim_url: server.url.clone(),
        kubeconfig: control_plane.kubeconfig(),
        logs: logs.path().to_path_buf(),
        secret: operator_secret.clone(),
        metrics: Arc::default(),
        runs: Arc::default(),
        exited: 0,
    };
    operators.start(0);
    operators.start(1);
    // Each replica's metrics every 2 s, kept per run (a killed run keeps its last scrape).
    let scraper = {
        let ports = [operators.replicas[0].port, operators.replicas[1].port];
        let metrics = operators.metrics.clone();
        let scraper_runs = operators.runs.clone();
        tokio::spawn(async move {
            loop {
                for (r, port) in ports.iter().enumerate() {
                    if let Some(text) = metrics_text(*port).await {
                        let run = scraper_runs.lock().unwrap()[r];
                        metrics.lock().unwrap().insert((r, run), text);
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };

    // The fleet, created at once (faults start after 3 s).
    let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), NAMESPACE);
    let mut fleet = Fleet { days: vec![30; n], changes: vec![0; n], targets };
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let policy = FlowLogPolicy::new(&Fleet::name(i), campaign::spec(i, &fleet.targets[i], 30, INTERVAL));
            async move { api.create(&PostParams::default(), &policy).await.expect("policy created") }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    say(&format!("{n} policies created after {:.1} s", started.elapsed().as_secs_f64()));

    // The schedule, as a timeline of actions (faults start; rule windows, outages and restarts end).
    let mut timeline: BinaryHeap<Reverse<(Duration, Action)>> =
        plan.iter().enumerate().map(|(i, p)| Reverse((p.at, Action::Start(i)))).collect();
    let mut rules = Rules::default();
    let mut injected: BTreeMap<FaultKind, u32> = BTreeMap::new();
    let mut skipped: BTreeMap<FaultKind, u32> = BTreeMap::new();
    let mut apiserver_down = Duration::ZERO;
    let mut executed: Vec<(f64, FaultKind)> = Vec::new();
    while let Some(Reverse((at, action))) = timeline.pop() {
        while let Some(wait) = at.checked_sub(started.elapsed()) {
            operators.reap();
            tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
        }
        operators.reap();
        let now = started.elapsed();
        match action {
            Action::EndRule(i) => rules.set(&sim, |active| active.retain(|(p, _, _)| *p != i)),
            Action::SimulatorBack => server.restart().await,
            Action::ReplicaBack(r) if operators.replicas[r].child.is_none() => operators.start(r),
            Action::ReplicaBack(_) => {}
            Action::Start(i) => {
                let planned: &Planned = &plan[i];
                let mut done = true;
                if let Some(rule) = campaign::rule(planned, rng.usize(..2)) {
                    let count = rule.count.unwrap_or(0);
                    rules.set(&sim, |active| active.push((i, count, rule)));
                    timeline.push(Reverse((now + planned.lasts, Action::EndRule(i))));
                }
                match planned.kind {
                    FaultKind::TokenOutage => {
                        // A replica that starts during the outage needs a token: restart the standby inside it.
                        if let Some(leader) = operators.leader().await {
                            operators.signal(1 - leader, true).await;
                            timeline.push(Reverse((now + Duration::from_secs(1), Action::ReplicaBack(1 - leader))));
                        }
                    }
                    FaultKind::Timeouts => {
                        // NSG writes, whose operations are polled at their `Location` while the rule waits.
                        done = !change_specs(&api, &mut fleet, &mut rng, 4, true).await.is_empty();
                    }
                    FaultKind::SimulatorRestart if server.running() => {
                        server.stop();
                        timeline.push(Reverse((now + planned.lasts, Action::SimulatorBack)));
                    }
                    FaultKind::ApiserverRestart => {
                        apiserver_down += control_plane.restart_apiserver(planned.lasts).await;
                    }
                    FaultKind::OperatorKilled => {
                        // Writes sent, then the leader dies before it can record or finish them.
                        let before = sim.accepted_writes().len();
                        let changed = change_specs(&api, &mut fleet, &mut rng, planned.size, false).await;
                        let sent = Instant::now();
                        while sim.accepted_writes().len() == before && sent.elapsed() < Duration::from_secs(5) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        match operators.leader().await {
                            Some(leader) if !changed.is_empty() => {
                                operators.signal(leader, true).await;
                                timeline.push(Reverse((
                                    started.elapsed() + Duration::from_secs(2),
                                    Action::ReplicaBack(leader),
                                )));
                            }
                            _ => done = false,
                        }
                    }
                    FaultKind::LeaderChange => match operators.leader().await {
                        Some(leader) => {
                            operators.signal(leader, false).await;
                            timeline.push(Reverse((
                                started.elapsed() + Duration::from_secs(1),
                                Action::ReplicaBack(leader),
                            )));
                        }
                        None => done = false,
                    },
                    FaultKind::StatusConflict => {
                        // Another field manager takes the Ready condition while the operator applies a change.
                        let changed = change_specs(&api, &mut fleet, &mut rng, planned.size, false).await;
                        for name in &changed {
                            let status = json!({"apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy",
                                "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "ExternalWrite",
                                    "message": "written by another manager",
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                            let params = PatchParams::apply("campaign-intruder").force();
                            let _ = api.patch_status(name, &params, &Patch::Apply(&status)).await;
                        }
                        done = !changed.is_empty();
                    }
                    _ => {}
                }
                *(if done { &mut injected } else { &mut skipped }).entry(planned.kind).or_insert(0) += 1;
                if done {
                    executed.push((now.as_secs_f64(), planned.kind));
                }
            }
        }
    }
    rules.set(&sim, Vec::clear);
    let last_fault = started.elapsed();
    assert!(server.running() && operators.replicas.iter().all(|r| r.child.is_some()));
    say(&format!("faults over after {:.1} s", last_fault.as_secs_f64()));

    // Convergence: every policy Ready for its generation, and Azure equal to every spec.
    let mut progress = (0, 0);
    loop {
        operators.reap();
        if let Some(now) = convergence(&api, &sim, &fleet).await {
            progress = now;
        }
        if progress == (n, n) {
            break;
        }
        let waited = started.elapsed() - last_fault;
        assert!(
            waited < converge_limit,
            "not converged {waited:?} after the last fault: {} of {n} Ready, {} of {n} match in Azure",
            progress.0,
            progress.1
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged_after = started.elapsed() - last_fault;

    // The steady window: 1.2 intervals without a write of any kind.
    let steady_from = (sim.accepted_writes().len(), campaign::by_class(&sim.counters()));
    tokio::time::sleep(INTERVAL.mul_f64(1.2)).await;
    let steady_to = (sim.accepted_writes().len(), campaign::by_class(&sim.counters()));
    sampler.abort();
    scraper.abort();
    for (r, replica) in operators.replicas.iter().enumerate() {
        if let Some(text) = metrics_text(replica.port).await {
            operators.metrics.lock().unwrap().insert((r, replica.runs), text);
        }
    }

    // ---- figures and invariants ----
    let accepted = sim.accepted_writes();
    let failed_operations: u32 =
        rules.fired.iter().filter(|(p, _)| plan[**p].kind == FaultKind::FailingOperations).map(|(_, n)| n).sum();
    let needed = fleet.needed_writes();
    let mut per_target: BTreeMap<String, u64> = BTreeMap::new();
    for w in &accepted {
        *per_target.entry(w.target.to_ascii_lowercase()).or_insert(0) += 1;
    }
    let lost: Vec<&str> = fleet
        .targets
        .iter()
        .zip(&fleet.changes)
        .filter(|(t, c)| per_target.get(&t.id.to_ascii_lowercase()).copied().unwrap_or(0) < 1 + u64::from(**c))
        .map(|(t, _)| t.id.as_str())
        .collect();
    let counters = sim.counters();
    let classes = campaign::by_class(&counters);
    let total: u64 = classes.values().sum();
    let samples = samples.lock().unwrap().clone();
    let reads: Vec<(f64, u64)> = samples.iter().map(|(t, r, _)| (*t, *r)).collect();
    let writes: Vec<(f64, u64)> = samples.iter().map(|(t, _, w)| (*t, *w)).collect();
    let read_budget = campaign::worst_window(&reads, 250.0, 25.0);
    let write_budget = campaign::worst_window(&writes, 200.0, 10.0);
    let all: Vec<(f64, u64)> = samples.iter().map(|(t, r, w)| (*t, r + w)).collect();
    let busiest_minute = campaign::busiest_window(&all, 60.0);
    let minutes = samples.last().map_or(1.0, |s| s.0 / 60.0);
    let fired_429: u32 =
        rules.fired.iter().filter(|(p, _)| plan[**p].kind == FaultKind::Throttling429).map(|(_, n)| n).sum();
    let metrics = operators.metrics.lock().unwrap().clone();
    let received_429: f64 = metrics
        .values()
        .flat_map(|t| t.lines())
        .filter(|l| l.starts_with("flowlog_arm_requests_total{") && l.contains("code=\"429\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let events: Api<Event> = Api::namespaced(client.clone(), NAMESPACE);
    let events = events.list(&ListParams::default()).await.unwrap().items;
    let mut per_policy: BTreeMap<String, i32> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, i32> = BTreeMap::new();
    for e in &events {
        let count = e.series.as_ref().map_or(1, |s| s.count);
        let name = e.regarding.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
        *per_policy.entry(name).or_insert(0) += count;
        *by_reason.entry(e.reason.clone().unwrap_or_default()).or_insert(0) += count;
    }
    let most_events = per_policy.values().copied().max().unwrap_or(0);

    say("\nFAULT CAMPAIGN");
    say(&format!(
        "  seed {seed}; {n} policies ({} with the team's credentials Secret); faults for {span:?}",
        n.div_ceil(campaign::TEAM_EVERY)
    ));
    for kind in FaultKind::ALL {
        let calls: u32 = rules.fired.iter().filter(|(p, _)| plan[**p].kind == kind).map(|(_, n)| n).sum();
        let calls = if campaign::rule(&plan.iter().find(|p| p.kind == kind).unwrap().clone(), 0).is_some() {
            format!(", fired on {calls} calls")
        } else {
            String::new()
        };
        let skipped =
            skipped.get(&kind).map(|s| format!(" ({s} skipped: no leader or nothing to change)")).unwrap_or_default();
        say(&format!("  {:<36} {}{calls}{skipped}", kind.label(), injected.get(&kind).copied().unwrap_or(0)));
    }
    say(&format!(
        "  apiserver unreachable {:.1} s in all; spec changes during the campaign: {}; operator processes that exited on their own (restarted): {}",
        apiserver_down.as_secs_f64(),
        needed - n as u64,
        operators.exited
    ));
    say(&format!(
        "  converged {:.1} s after the last fault ({:.1} s into the run)",
        converged_after.as_secs_f64(),
        (last_fault + converged_after).as_secs_f64()
    ));
    say(&format!(
        "  ARM requests {total} ({} reads, {} writes) and {} token requests; {:.2} per policy per minute over {minutes:.1} min, busiest minute {:.2} per policy (at {:.0} s)",
        classes["read"],
        classes["write"],
        counters["token"],
        total as f64 / n as f64 / minutes,
        busiest_minute.0 as f64 / n as f64,
        busiest_minute.1
    ));
    say(&format!(
        "  429s: {fired_429} injected; {received_429:.0} received by the operators (their metrics, summed over processes)"
    ));
    say(&format!(
        "  budgets: reads at most {:.0} over 250 + 25/s (worst window {:.1}–{:.1} s), writes at most {:.0} over 200 + 10/s (worst {:.1}–{:.1} s); negative = within",
        read_budget.0, read_budget.1, read_budget.2, write_budget.0, write_budget.1, write_budget.2
    ));
    say(&format!(
        "  writes accepted {} = needed {needed} + {failed_operations} whose operation a fault failed? {}; targets short of their needed writes: {}",
        accepted.len(),
        accepted.len() as u64 == needed + u64::from(failed_operations),
        lost.len()
    ));
    say(&format!(
        "  steady window ({:.0} s): {} writes accepted, {} write requests, {} reads",
        INTERVAL.mul_f64(1.2).as_secs_f64(),
        steady_to.0 - steady_from.0,
        steady_to.1["write"] - steady_from.1["write"],
        steady_to.1["read"] - steady_from.1["read"]
    ));
    say(&format!(
        "  events: {} in all, at most {most_events} per policy; by reason {by_reason:?}",
        per_policy.values().sum::<i32>()
    ));

    if accepted.len() as u64 != needed + u64::from(failed_operations) {
        say(&format!("  faults: {executed:?}"));
        for (t, c) in fleet.targets.iter().zip(&fleet.changes) {
            let writes: Vec<(f64, &str)> = accepted
                .iter()
                .filter(|w| w.target.eq_ignore_ascii_case(&t.id))
                .map(|w| (w.at_ms as f64 / 1000.0, w.operation.as_str()))
                .collect();
            if writes.len() as u64 > 1 + u64::from(*c) {
                say(&format!("  {} ({c} changes): writes {writes:?}", t.id));
            }
        }
    }
    assert!(lost.is_empty(), "targets short of their needed writes: {lost:?}");
    assert_eq!(accepted.len() as u64, needed + u64::from(failed_operations), "writes accepted vs. needed + failed");
    assert!(read_budget.0 <= 0.0 && write_budget.0 <= 0.0, "ARM budget exceeded: {read_budget:?} {write_budget:?}");
    assert!(busiest_minute.0 as f64 / n as f64 <= 15.0, "hot loop: {busiest_minute:?} requests in a minute");
    assert_eq!(steady_to.0, steady_from.0, "writes in the steady window");
    assert_eq!(steady_to.1["write"], steady_from.1["write"], "write requests in the steady window");
    assert!(most_events <= 8, "event storm: {per_policy:?}");

    // No secret and no token anywhere the operator writes.
    let mut haystacks: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(logs.path()).unwrap() {
        let path = entry.unwrap().path();
        haystacks.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap_or_default()));
    }
    haystacks.push(("events".into(), serde_json::to_string(&events).unwrap()));
    let policies = api.list(&ListParams::default()).await.unwrap().items;
    let statuses: Vec<_> = policies.iter().map(|p| &p.status).collect();
    haystacks.push(("status".into(), serde_json::to_string(&statuses).unwrap()));
    for ((r, run), text) in &metrics {
        haystacks.push((format!("metrics of replica {r} run {run}"), text.clone()));
    }
    let tokens = sim.issued_tokens();
    let bytes: usize = haystacks.iter().map(|(_, h)| h.len()).sum();
    say(&format!(
        "  secret grep: 2 client secrets and {} tokens in {} sources ({:.1} MB): ",
        tokens.len(),
        haystacks.len(),
        bytes as f64 / 1e6
    ));
    let needles: Vec<&str> =
        [operator_secret.as_str(), team_secret.as_str()].into_iter().chain(tokens.iter().map(String::as_str)).collect();
    let found: Vec<String> = haystacks
        .iter()
        .flat_map(|(source, text)| needles.iter().filter(|n| text.contains(**n)).map(move |_| source.clone()))
        .collect();
    say(&format!("    found in {} places", found.len()));
    assert!(found.is_empty(), "a secret or token leaked into {found:?}");
    assert!(logs.path().read_dir().unwrap().count() >= 3, "the operators' logs are there");
    drop(server);
    drop(control_plane);
}

// The campaign's pure parts (no control plane needed).

#[test]
fn the_schedule_follows_the_seed() {
    let span = Duration::from_secs(90);
    assert_eq!(campaign::schedule(7, span), campaign::schedule(7, span));
    assert_ne!(campaign::schedule(7, span), campaign::schedule(8, span));
    let plan = campaign::schedule(7, span);
    assert!(FaultKind::ALL.iter().all(|k| plan.iter().any(|p| p.kind == *k)), "every kind: {plan:?}");
    assert!(plan.iter().all(|p| p.at >= Duration::from_secs(3) && p.at <= span));
    assert!(plan.iter().all(|p| campaign::rule(p, 0).is_none_or(|r| r.validate().is_ok())));
    assert!(campaign::schedule(7, span * 4).len() > plan.len() * 3);
}

#[test]
fn windows_find_a_burst_beyond_the_bucket() {
    // 10 per second for 10 s is within 5 + 10/s; 40 in one second on top is not.
    let mut samples: Vec<(f64, u64)> = (0..=10).map(|s| (s as f64, s * 10)).collect();
    assert!(campaign::worst_window(&samples, 5.0, 10.0).0 <= 0.0);
    samples.push((11.0, 140));
    let (excess, _, to) = campaign::worst_window(&samples, 5.0, 10.0);
    assert_eq!((excess, to), (25.0, 11.0));
    assert_eq!(campaign::busiest_window(&samples, 1.0), (40, 10.0));
}

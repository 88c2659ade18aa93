//! The fleet benchmark: an instrument, not a timed unit test. It asserts only that the run completed and printed its
//! figures, never a speed. (One file past ~600 lines on purpose: the inventory generator, the operator run, the
//! walkthrough and the report read best together; nothing here is shared with other tests.)
//!
//! Two runs on the simulator binary (`flowlog-sim`) with ARM's published limits on (reads 250 / 25 per s, writes
//! 200 / 10 per s per subscription and principal), flow-log lists in pages of 100 (Azure does not publish its page
//! size) and long-running operations that take 1 s (Retry-After 1 s):
//!
//! 1. **operator**: a generated inventory of N targets across 2 subscriptions and 3 regions (a Network Watcher and a
//!    storage account per subscription and region): NSGs with an existing flow log (7 days retention) and virtual
//!    networks, subnets and NICs without one, in turn. N policies (30 days retention, watcher found by region) are
//!    created through the real apiserver; the shipped `flowlog-operator run` converges them. Printed: time to
//!    50/90/100 % Ready, the slowest policy's time to Ready (from its own creation), or how many are not Ready when
//!    the time limit ends the run; the write floor (the writes the fleet needs in its busiest subscription ÷ ARM's 10
//!    writes per s, plus one operation) and the convergence time as a multiple of it; ARM requests by operation while
//!    converging and over one steady interval afterwards (writes of any kind, and the list pages the watchers take);
//!    429s the operator received and the time it waited for its own budgets; its RSS and CPU seconds.
//! 2. **baseline**: the REST walkthrough scripted sequentially on a fresh simulator with M NSGs (the same layout,
//!    every target an NSG with a flow log): one token, then for each NSG `queryFlowLogStatus` and, when Azure
//!    differs, `configureFlowLog`, following each long-running operation to the end (`Azure-AsyncOperation` until
//!    done, then `Location`) and honouring `Retry-After`. Printed the same way, with its time per NSG carried over to
//!    the operator run's NSGs (the script handles one NSG after the other, so its time is linear in them) and the
//!    speed-up.
//!
//! Without settings it runs what the test command runs: 1,000 NSG policies, and the script on 20 NSGs (about
//! 5 minutes in all). Settings:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `FLOWLOG_BENCH_TARGETS` | 1000 | N, the operator run's targets and policies (0 skips the run) |
//! | `FLOWLOG_BENCH_NSG_SHARE` | 1.0 | share of N that are NSGs with a flow log; the rest are VNets, subnets, NICs |
//! | `FLOWLOG_BENCH_BASELINE_NSGS` | 20 | M, the baseline's NSGs (0 skips it) |
//! | `FLOWLOG_BENCH_MINUTES` | 10 | time limit of each run; partial figures are printed |
//! | `FLOWLOG_BENCH_INTERVAL` | `60s` | the policies' `spec.interval`; the steady window is 1.2 × it |
//! | `FLOWLOG_BENCH_PAGE_SIZE` | 100 | flow logs per list page |
//! | `FLOWLOG_BENCH_LRO_DURATION_MS` | 1000 | how long the simulator's long-running operations take |
//! | `FLOWLOG_BENCH_LRO_RETRY_AFTER` | 1 | their `Retry-After`, seconds |
//! | `FLOWLOG_BENCH_CONCURRENCY` | the operator's default (4) | `--concurrency` |
//! | `FLOWLOG_BENCH_SET` | 0 | 1: one FlowLogPolicySet over N virtual networks instead of N policies (NSG share ignored); prints when the set is Ready and the apiserver's RSS |
//! | `FLOWLOG_BENCH_OPERATOR_WRAPPER` | none | a command to run the operator under, e.g. `heaptrack -o /tmp/operator` (its RSS and CPU are then the wrapper's) |
//!
//! The fleet of the issue (10,000 targets: 2,000 NSGs with flow logs and 8,000 VNets, subnets and NICs):
//!
//! ```sh
//! FLOWLOG_BENCH_TARGETS=10000 FLOWLOG_BENCH_NSG_SHARE=0.2 FLOWLOG_BENCH_MINUTES=30 \
//!   tests/run.sh --test bench_fleet -- --nocapture
//! ```
//!
//! One set of 5,000 virtual networks (2 subscriptions × 3 regions):
//!
//! ```sh
//! FLOWLOG_BENCH_SET=1 FLOWLOG_BENCH_TARGETS=5000 FLOWLOG_BENCH_BASELINE_NSGS=0 FLOWLOG_BENCH_MINUTES=20 \
//!   tests/run.sh --release --test bench_fleet -- --nocapture
//! ```

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fleet::{nsg_with_flow_log, proc_status_kib, regional_subscription, reset_sim_counters, sim_counters};
use common::*;
use flowlog_operator::api::{
    DeletionPolicy, FlowLogFormat, FlowLogPolicy, FlowLogPolicySet, FlowLogPolicySpec, FlowLogSettings, FormatType,
    Mode, RetentionPolicy, Target,
};
use flowlog_simulator::inventory::{NetworkInterface, Subnet, SubnetRef, Subscription, VirtualNetwork};
use flowlog_simulator::{self as simulator, Inventory};
use futures::StreamExt;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

const SUBSCRIPTIONS: [&str; 2] = ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-0000000000b2"];
const REGIONS: [(&str, &str); 3] = [("westeurope", "weu"), ("northeurope", "neu"), ("eastus", "eus")];
const API_VERSION: &str = "2025-07-01";

// ------------------------------------------------------------------------------------------------------ settings

struct Settings {
    targets: usize,
    nsg_share: f64,
    baseline_nsgs: usize,
    limit: Duration,
    interval: Duration,
    page_size: usize,
    lro_retry_after: u32,
    lro_duration_ms: u64,
    concurrency: Option<String>,
    /// One FlowLogPolicySet over the fleet's virtual networks instead of one policy per target.
    set: bool,
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{name}={value:?} is not valid")))
}

impl Settings {
    fn from_env() -> Settings {
        let nsg_share: f64 = env("FLOWLOG_BENCH_NSG_SHARE").unwrap_or(1.0);
        assert!((0.0..=1.0).contains(&nsg_share), "FLOWLOG_BENCH_NSG_SHARE must lie in 0..=1");
        let interval: String = env("FLOWLOG_BENCH_INTERVAL").unwrap_or_else(|| "60s".into());
        let interval =
            Duration::from_secs(interval.trim_end_matches('s').parse().expect("an interval in seconds: 60s"));
        Settings {
            targets: env("FLOWLOG_BENCH_TARGETS").unwrap_or(1000),
            nsg_share,
            baseline_nsgs: env("FLOWLOG_BENCH_BASELINE_NSGS").unwrap_or(20),
            limit: Duration::from_secs_f64(60.0 * env::<f64>("FLOWLOG_BENCH_MINUTES").unwrap_or(10.0)),
            interval,
            page_size: env("FLOWLOG_BENCH_PAGE_SIZE").unwrap_or(100),
            lro_retry_after: env("FLOWLOG_BENCH_LRO_RETRY_AFTER").unwrap_or(1),
            lro_duration_ms: env("FLOWLOG_BENCH_LRO_DURATION_MS").unwrap_or(1000),
            concurrency: env("FLOWLOG_BENCH_CONCURRENCY"),
            set: env::<u8>("FLOWLOG_BENCH_SET").unwrap_or(0) == 1,
        }
    }
}

// ------------------------------------------------------------------------------------------------------- the fleet

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Nsg,
    VirtualNetwork,
    Subnet,
    Nic,
}

struct FleetTarget {
    id: String,
    kind: Kind,
    subscription: &'static str,
    region: &'static str,
}

fn storage_name(subscription: usize, short: &str) -> String {
    format!("flbench{}{short}", subscription + 1)
}

fn storage_id(subscription: &str, region: &str) -> String {
    let s = SUBSCRIPTIONS.iter().position(|x| *x == subscription).unwrap();
    let short = REGIONS.iter().find(|(r, _)| *r == region).unwrap().1;
    format!(
        "/subscriptions/{subscription}/resourceGroups/fleet-logging-rg/providers/Microsoft.Storage/storageAccounts/{}",
        storage_name(s, short)
    )
}

fn watcher_id(subscription: &str, region: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_{region}"
    )
}

/// `n` targets spread evenly over the subscriptions and regions; NSGs (`nsg_share` of them, interleaved) each with
/// an enabled flow log of 7 days retention, the others virtual networks, subnets and NICs in turn, without one.
fn fleet(n: usize, nsg_share: f64, settings: &Settings) -> (Inventory, Vec<FleetTarget>) {
    // A set covers one kind: its fleet is virtual networks only.
    let nsg_share = if settings.set { 0.0 } else { nsg_share };
    let builtin = Inventory::builtin();
    let mut inventory = Inventory { subscriptions: vec![], ..builtin.clone() };
    inventory.behaviour.page_size = settings.page_size;
    inventory.behaviour.lro.retry_after_seconds = settings.lro_retry_after;
    inventory.behaviour.lro.duration_ms = settings.lro_duration_ms;
    inventory.behaviour.lro.in_progress_polls = None;
    // ARM's published limits: the simulator's default, stated here so that the benchmark never runs without them.
    let defaults = Inventory::builtin().behaviour.throttling;
    assert!(defaults.enabled, "the simulator throttles by default");
    inventory.behaviour.throttling = defaults;
    for (s, id) in SUBSCRIPTIONS.iter().enumerate() {
        let template = Subscription { id: id.to_string(), ..builtin.subscriptions[0].clone() };
        let mut sub = regional_subscription(&template, &REGIONS, |short| storage_name(s, short), "fleet-logging-rg");
        for (region, short) in REGIONS {
            // The NICs' network: one per subscription and region (tagged: a set leaves it out).
            sub.virtual_networks.push(VirtualNetwork {
                name: format!("nic-vnet-{short}"),
                resource_group: format!("fleet-{short}-rg"),
                location: region.into(),
                tags: [("role".to_string(), "nics".to_string())].into(),
                address_prefixes: vec!["10.200.0.0/16".into()],
                subnets: vec![Subnet {
                    name: "nics".into(),
                    address_prefix: "10.200.0.0/16".into(),
                    network_security_group: None,
                    network_security_group_resource_group: None,
                }],
            });
        }
        inventory.subscriptions.push(sub);
    }
    let mut targets = Vec::with_capacity(n);
    let mut others = 0;
    for i in 0..n {
        let s = i % SUBSCRIPTIONS.len();
        let (region, short) = REGIONS[(i / SUBSCRIPTIONS.len()) % REGIONS.len()];
        let subscription = SUBSCRIPTIONS[s];
        let rg = format!("fleet-{short}-rg");
        let sub = &mut inventory.subscriptions[s];
        let prefix = |i: usize| format!("10.{}.{}.0", (i / 256) % 200, i % 256);
        let is_nsg = ((i + 1) as f64 * nsg_share).floor() > (i as f64 * nsg_share).floor();
        let rg_path = format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.Network");
        let (kind, id) = if is_nsg {
            let name = format!("nsg-{i:05}");
            sub.network_security_groups.push(nsg_with_flow_log(&name, &rg, region, &storage_name(s, short), 7));
            (Kind::Nsg, format!("{rg_path}/networkSecurityGroups/{name}"))
        } else {
            others += 1;
            match if settings.set { 1 } else { others % 3 } {
                1 | 2 => {
                    let name = format!("vnet-{i:05}");
                    sub.virtual_networks.push(VirtualNetwork {
                        name: name.clone(),
                        resource_group: rg.clone(),
                        location: region.into(),
                        tags: Default::default(),
                        address_prefixes: vec![format!("{}/24", prefix(i))],
                        subnets: vec![Subnet {
                            name: "app".into(),
                            address_prefix: format!("{}/26", prefix(i)),
                            network_security_group: None,
                            network_security_group_resource_group: None,
                        }],
                    });
                    if settings.set || others % 3 == 1 {
                        (Kind::VirtualNetwork, format!("{rg_path}/virtualNetworks/{name}"))
                    } else {
                        (Kind::Subnet, format!("{rg_path}/virtualNetworks/{name}/subnets/app"))
                    }
                }
                _ => {
                    let name = format!("nic-{i:05}");
                    sub.network_interfaces.push(NetworkInterface {
                        name: name.clone(),
                        resource_group: rg.clone(),
                        location: region.into(),
                        tags: Default::default(),
                        subnet: Some(SubnetRef {
                            virtual_network: format!("nic-vnet-{short}"),
                            name: "nics".into(),
                            resource_group: None,
                        }),
                        private_ip_address: None,
                        network_security_group: None,
                        network_security_group_resource_group: None,
                    });
                    (Kind::Nic, format!("{rg_path}/networkInterfaces/{name}"))
                }
            }
        };
        targets.push(FleetTarget { id, kind, subscription, region });
    }
    (inventory, targets)
}

/// What every policy asks for: enabled, the region's storage account, 30 days, JSON v2; the watcher found by region.
fn spec(target: &FleetTarget, interval: Duration) -> FlowLogPolicySpec {
    FlowLogPolicySpec {
        target: Target { resource_id: target.id.clone() },
        network_watcher: None,
        credentials_ref: None,
        flow_log: FlowLogSettings {
            enabled: true,
            storage_id: Some(storage_id(target.subscription, target.region)),
            retention_policy: Some(RetentionPolicy { enabled: true, days: 30 }),
            format: Some(FlowLogFormat { format_type: FormatType::Json, version: 2 }),
            ..Default::default()
        },
        mode: Mode::Enforce,
        deletion_policy: DeletionPolicy::Orphan,
        interval: format!("{}s", interval.as_secs()),
    }
}

/// The set of `FLOWLOG_BENCH_SET=1`: every virtual network of both subscriptions but the NICs' (tagged), with the
/// policies' settings, each region's storage account of the first subscription.
fn fleet_set(interval: Duration) -> FlowLogPolicySet {
    serde_json::from_value(json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicySet",
        "metadata": {"name": "fleet"},
        "spec": {
            "selector": {"subscriptions": SUBSCRIPTIONS, "kind": "VirtualNetwork", "excludeTags": {"role": "nics"}},
            "destinations": REGIONS.iter().map(|(region, _)| json!({
                "region": region, "storageId": storage_id(SUBSCRIPTIONS[0], region)
            })).collect::<Vec<_>>(),
            "template": {
                "flowLog": {"enabled": true, "retentionPolicy": {"enabled": true, "days": 30}, "format": {"type": "JSON", "version": 2}},
                "deletionPolicy": "Orphan",
                "interval": format!("{}s", interval.as_secs())
            },
            "discoveryInterval": "10m"
        }
    }))
    .unwrap()
}

/// The kube-apiserver's process (the test control plane's), for its memory.
fn apiserver_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split('\0').next().is_some_and(|exe| exe.ends_with("kube-apiserver")))
    })
}

// ----------------------------------------------------------------------------------------------------- measuring

/// The figures go to stderr past the test harness's capture: the test command shows them without `--nocapture`.
fn print_uncaptured(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The operations that were called, with their counts, and the total.
fn requests(counters: &BTreeMap<String, u64>) -> String {
    let total: u64 = counters.iter().filter(|(op, _)| *op != "token").map(|(_, n)| n).sum();
    let parts: Vec<String> =
        counters.iter().filter(|(op, n)| **n > 0 && *op != "token").map(|(op, n)| format!("{op} {n}")).collect();
    let tokens = counters.get("token").copied().unwrap_or(0);
    format!("{total} ARM requests ({}) and {tokens} token requests", parts.join(", "))
}

/// User + system CPU seconds of a process (`/proc/PID/stat` fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    let rest: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|i| rest.get(*i)?.parse::<u64>().ok()).sum();
    let per_second = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks as f64 / per_second
}

/// Sums the samples of `metric` in the operator's OpenMetrics text whose labels contain `label` (all when empty).
fn metric_sum(text: &str, metric: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// Times to done (from the run's start) → "50 % after …, 90 % after …, 100 % after …" or how many are left.
fn percentiles(done: &[Duration], total: usize) -> String {
    let mut sorted = done.to_vec();
    sorted.sort();
    let parts: Vec<String> = [50, 90, 100]
        .iter()
        .map(|p| {
            let needed = (total * p).div_ceil(100).max(1);
            match sorted.get(needed - 1) {
                Some(t) => format!("{p} % after {:.1} s", t.as_secs_f64()),
                None => format!("{p} % not reached"),
            }
        })
        .collect();
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------- the operator run

struct Progress {
    /// Per policy: when it was created (from the run's start) and when it was first seen Ready=True.
    created: HashMap<String, Duration>,
    ready: HashMap<String, Duration>,
    /// The last Ready condition seen per policy, as `status/reason`.
    last: HashMap<String, String>,
}

/// What the comparison with the naive script needs from the operator run.
struct OperatorRun {
    nsgs: usize,
    /// Time to 100 % Ready, when reached.
    converged: Option<Duration>,
}

/// ARM writes the fleet needs, per subscription: one per target (an NSG: `configureFlowLog`, a POST that ARM counts
/// as a write; a VNet, subnet or NIC: a PUT). New policies need no `queryFlowLogStatus`: only drift is confirmed.
fn writes_needed(targets: &[FleetTarget]) -> BTreeMap<&'static str, usize> {
    let mut writes = BTreeMap::new();
    for t in targets {
        *writes.entry(t.subscription).or_default() += 1;
    }
    writes
}

/// List pages per interval once converged: each watcher's flow logs (one per target) in pages.
fn list_pages(targets: &[FleetTarget], page_size: usize) -> usize {
    let mut per_watcher = BTreeMap::<(&str, &str), usize>::new();
    for t in targets {
        *per_watcher.entry((t.subscription, t.region)).or_default() += 1;
    }
    per_watcher.values().map(|n| n.div_ceil(page_size.max(1))).sum()
}

async fn operator_run(settings: &Settings) -> OperatorRun {
    let n = settings.targets;
    let (client, namespace) = cluster("bench").await;
    let (inventory, targets) = fleet(n, settings.nsg_share, settings);
    let dir = tempfile::tempdir().unwrap();
    let inventory_file = dir.path().join("inventory.yaml");
    std::fs::write(&inventory_file, inventory.to_yaml()).unwrap();
    let started_sim = Instant::now();
    let (_sim, url) = spawn_simulator_binary_with(&["--inventory", inventory_file.to_str().unwrap()]).await;
    let sim_start = started_sim.elapsed();
    let metrics_port = free_port();
    let mut command = operator_command(&url, &namespace, &dir.path().join("operator.log"));
    command.env("RUST_LOG", "info").args([
        "--leader-elect",
        "false",
        "--metrics-addr",
        &format!("127.0.0.1:{metrics_port}"),
    ]);
    if let Some(c) = &settings.concurrency {
        command.args(["--concurrency", c]);
    }
    if let Some(wrapper) = std::env::var("FLOWLOG_BENCH_OPERATOR_WRAPPER").ok().filter(|w| !w.trim().is_empty()) {
        // A profiler around the operator (e.g. `heaptrack -o /tmp/operator`); RSS and CPU are then the wrapper's.
        let inner = command.as_std();
        let mut words = wrapper.split_whitespace();
        let mut wrapped = tokio::process::Command::new(words.next().unwrap());
        wrapped.args(words).arg(inner.get_program()).args(inner.get_args()).kill_on_drop(true);
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        wrapped.stderr(std::fs::File::create(dir.path().join("operator.log")).unwrap());
        // Its own process group: the end of the run stops the wrapper and the operator under it together.
        wrapped.process_group(0);
        command = wrapped;
    }
    let mut operator = command.spawn().unwrap();
    let pid = operator.id().unwrap();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    wait_for("the operator's metrics", Duration::from_secs(30), || async {
        reqwest::get(&metrics_url).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    let idle_rss = proc_status_kib(pid, "VmRSS:");
    let (idle_anon, idle_file) = (proc_status_kib(pid, "RssAnon:"), proc_status_kib(pid, "RssFile:"));
    eprintln!(
        "[bench] operator idle: RSS {} MiB ({} MiB anonymous, {} MiB of mapped files)",
        idle_rss / 1024,
        idle_anon / 1024,
        idle_file / 1024
    );
    let idle_heap =
        metric_sum(&reqwest::get(&metrics_url).await.unwrap().text().await.unwrap(), "flowlog_heap_bytes", "");
    let idle_cpu = cpu_seconds(pid);
    reset_sim_counters(&url).await;

    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    let progress =
        Arc::new(Mutex::new(Progress { created: HashMap::new(), ready: HashMap::new(), last: HashMap::new() }));
    let started = Instant::now();
    // Ready times come from a watch, so they are exact to the event, not to a polling period.
    let watch = {
        let (api, progress) = (api.clone(), progress.clone());
        tokio::spawn(async move {
            let mut events =
                std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff().applied_objects());
            while let Some(event) = events.next().await {
                let Ok(p) = event else { continue };
                let name = p.metadata.name.clone().unwrap_or_default();
                // A set's policies are created by the operator: each counts from when it appears.
                progress.lock().unwrap().created.entry(name.clone()).or_insert_with(|| started.elapsed());
                let Some(status) = p.status.as_ref() else { continue };
                let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") else { continue };
                let mut progress = progress.lock().unwrap();
                progress.last.insert(name.clone(), format!("{}/{}", ready.status, ready.reason));
                if ready.status == "True" && status.observed_generation == p.metadata.generation {
                    progress.ready.entry(name).or_insert_with(|| started.elapsed());
                }
            }
        })
    };
    let sets: Api<FlowLogPolicySet> = Api::namespaced(api.clone().into_client(), &namespace);
    if settings.set {
        sets.create(&PostParams::default(), &fleet_set(settings.interval)).await.unwrap();
    }
    futures::stream::iter(targets.iter().enumerate().filter(|_| !settings.set))
        .for_each_concurrent(16, |(i, target)| {
            let (api, progress) = (api.clone(), progress.clone());
            async move {
                let name = format!("p{i:05}");
                api.create(&PostParams::default(), &FlowLogPolicy::new(&name, spec(target, settings.interval)))
                    .await
                    .unwrap();
                progress.lock().unwrap().created.insert(name, started.elapsed());
            }
        })
        .await;
    let created = started.elapsed();
    let mut peak_rss = 0;
    let mut last_report = Instant::now();
    loop {
        peak_rss = peak_rss.max(proc_status_kib(pid, "VmRSS:"));
        let ready = progress.lock().unwrap().ready.len();
        if ready == n || started.elapsed() >= settings.limit {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            let counters = sim_counters(&url).await;
            let line = format!(
                "[bench] {:>5.0} s: {ready}/{n} Ready; {}",
                started.elapsed().as_secs_f64(),
                requests(&counters)
            );
            print_uncaptured(&line);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converging = started.elapsed();
    // A set: when its own status says every target is compliant.
    let mut set_compliant = None;
    while settings.set && set_compliant.is_none() && started.elapsed() < settings.limit + Duration::from_secs(60) {
        let set = sets.get("fleet").await.unwrap();
        let ready = set.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned());
        if ready.is_some_and(|c| c.status == "True") {
            set_compliant = Some((started.elapsed(), set.status.clone().unwrap_or_default()));
        } else {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let busy = sim_counters(&url).await;
    let busy_metrics = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
    let busy_cpu = cpu_seconds(pid) - idle_cpu;
    let (ready_times, slowest, not_ready) = {
        let progress = progress.lock().unwrap();
        let ready_times: Vec<Duration> = progress.ready.values().copied().collect();
        let slowest = progress
            .ready
            .iter()
            .map(|(name, at)| at.saturating_sub(progress.created.get(name).copied().unwrap_or_default()))
            .max()
            .unwrap_or_default();
        let mut not_ready = BTreeMap::<String, usize>::new();
        for name in progress.created.keys().filter(|name| !progress.ready.contains_key(*name)) {
            *not_ready.entry(progress.last.get(name).cloned().unwrap_or_else(|| "no status".into())).or_default() += 1;
        }
        (ready_times, slowest, not_ready)
    };

    // One steady interval (1.2 × spec.interval: the interval and its jitter) from here.
    reset_sim_counters(&url).await;
    let steady_cpu_start = cpu_seconds(pid);
    let steady_window = settings.interval.mul_f64(1.2);
    let steady_started = Instant::now();
    while steady_started.elapsed() < steady_window {
        peak_rss = peak_rss.max(proc_status_kib(pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let steady = sim_counters(&url).await;
    let steady_cpu = cpu_seconds(pid) - steady_cpu_start;
    let metrics = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
    let (rss, hwm) = (proc_status_kib(pid, "VmRSS:"), proc_status_kib(pid, "VmHWM:"));
    let (rss_anon, rss_file) = (proc_status_kib(pid, "RssAnon:"), proc_status_kib(pid, "RssFile:"));
    let apiserver_rss = apiserver_pid().map(|p| proc_status_kib(p, "VmRSS:") / 1024);

    // A spec change of one policy of each kind: the time from the apiserver's answer to the write reaching Azure
    // (the simulator applies a write when it accepts it and counts it then). A set's policies follow its template.
    let mut spec_changes = Vec::new();
    for kind in [Kind::Nsg, Kind::VirtualNetwork, Kind::Subnet, Kind::Nic].into_iter().filter(|_| !settings.set) {
        let Some(i) = targets.iter().position(|t| t.kind == kind) else { continue };
        let operation = if kind == Kind::Nsg { "configureFlowLog" } else { "flowLogsCreateOrUpdate" };
        let before = sim_counters(&url).await.get(operation).copied().unwrap_or(0);
        let patch = serde_json::json!({"spec": {"flowLog": {"retentionPolicy": {"enabled": true, "days": 31}}}});
        api.patch(&format!("p{i:05}"), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
        let changed = Instant::now();
        let reached = loop {
            if sim_counters(&url).await.get(operation).copied().unwrap_or(0) > before {
                break Some(changed.elapsed());
            }
            if changed.elapsed() > Duration::from_secs(30) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        spec_changes.push(match reached {
            Some(took) => format!("{kind:?} {:.0} ms", took.as_secs_f64() * 1000.0),
            None => format!("{kind:?} not within 30 s"),
        });
    }
    let ready_after_steady = progress.lock().unwrap().ready.len();
    watch.abort();
    // The operator, and a wrapper's whole process group (the wrapper alone would leave the operator running).
    #[cfg(target_os = "linux")]
    if std::env::var("FLOWLOG_BENCH_OPERATOR_WRAPPER").is_ok_and(|w| !w.trim().is_empty()) {
        // SAFETY: kill(2) on the process group this test started; no memory is involved.
        unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
    }
    operator.start_kill().unwrap();

    let mut kinds = BTreeMap::<String, usize>::new();
    for t in &targets {
        *kinds.entry(format!("{:?}", t.kind)).or_default() += 1;
    }
    let throttled_busy = metric_sum(&busy_metrics, "flowlog_arm_requests_total", "code=\"429\"") as u64;
    let throttled_all = metric_sum(&metrics, "flowlog_arm_requests_total", "code=\"429\"") as u64;
    let waited = metric_sum(&busy_metrics, "flowlog_arm_throttle_wait_seconds_total", "");
    let outcome = if ready_times.len() == n {
        format!(
            "all {n} Ready after {:.1} s; slowest policy Ready {:.1} s after its creation",
            converging.as_secs_f64(),
            slowest.as_secs_f64()
        )
    } else {
        format!(
            "time limit ({:.0} s) reached with {} of {n} not Ready ({not_ready:?}); slowest Ready policy {:.1} s after its creation",
            settings.limit.as_secs_f64(),
            n - ready_times.len(),
            slowest.as_secs_f64()
        )
    };
    let writes = writes_needed(&targets);
    let most = writes.values().copied().max().unwrap_or(0);
    let operation = Duration::from_millis(settings.lro_duration_ms);
    let floor = Duration::from_secs_f64(most as f64 / 10.0) + operation;
    // ARM's bucket also lets a burst of 200 through at once: the floor a client can actually reach.
    let burst_floor = Duration::from_secs_f64(most.saturating_sub(200) as f64 / 10.0) + operation;
    let floor_line = match (ready_times.len() == n).then_some(converging) {
        Some(took) => format!(
            "  write floor {:.1} s ({most} writes in the busiest subscription ÷ 10 per s + one {:.1} s operation): \
             converged in {:.2} × the floor; {:.2} × the {:.1} s it takes with ARM's burst of 200 spent first",
            floor.as_secs_f64(),
            operation.as_secs_f64(),
            took.as_secs_f64() / floor.as_secs_f64(),
            took.as_secs_f64() / burst_floor.as_secs_f64(),
            burst_floor.as_secs_f64()
        ),
        None => format!("  write floor {:.1} s; not converged", floor.as_secs_f64()),
    };
    let steady_writes: u64 = steady
        .iter()
        .filter(|(op, _)| {
            ["configureFlowLog", "queryFlowLogStatus", "flowLogsCreateOrUpdate", "flowLogsDelete"]
                .contains(&op.as_str())
        })
        .map(|(_, n)| n)
        .sum();
    let set_line = match &set_compliant {
        _ if !settings.set => None,
        Some((at, status)) => Some(format!(
            "  the set: Ready (all {} targets compliant, {} excluded) after {:.1} s, its {} policies created by the \
             operator; the apiserver's RSS at the end: {} MiB",
            status.targets,
            status.excluded,
            at.as_secs_f64(),
            ready_times.len(),
            apiserver_rss.map_or("?".into(), |m| m.to_string())
        )),
        None => Some("  the set: not Ready within the time limit".into()),
    };
    let mut report = vec![
        format!(
            "operator: {n} targets ({kinds:?}) in 2 subscriptions × 3 regions; ARM's limits on (reads 250/25 per s, \
             writes 200/10 per s per subscription), flow-log list pages of {}, long-running operations of {} ms with \
             Retry-After {} s; concurrency {}; spec.interval {} s; simulator started in {:.1} s",
            settings.page_size,
            settings.lro_duration_ms,
            settings.lro_retry_after,
            settings.concurrency.as_deref().unwrap_or("4 (default)"),
            settings.interval.as_secs(),
            sim_start.as_secs_f64()
        ),
        if settings.set {
            // The operator generates the set's policies: the last one appeared then.
            let generated = progress.lock().unwrap().created.values().max().copied().unwrap_or_default();
            format!(
                "  one set created; its policies generated by the operator within {:.1} s; {outcome}",
                generated.as_secs_f64()
            )
        } else {
            format!("  policies created in {:.1} s; {outcome}", created.as_secs_f64())
        },
        format!("  Ready: {}", percentiles(&ready_times, n)),
        floor_line,
        format!("  while converging ({:.1} s): {}", converging.as_secs_f64(), requests(&busy)),
        format!(
            "  429s received: {throttled_busy} while converging, {} in the steady window; waited {waited:.1} s for the operator's own budgets",
            throttled_all - throttled_busy
        ),
        format!(
            "  steady window ({:.0} s = 1.2 × interval, {ready_after_steady}/{n} Ready at its end): {}; writes of any \
             kind {steady_writes}; the watchers' list pages per interval: {}",
            steady_window.as_secs_f64(),
            requests(&steady),
            list_pages(&targets, settings.page_size)
        ),
        if settings.set {
            "  a spec change: not measured (a set's policies follow its template)".to_string()
        } else {
            format!("  a spec change reached Azure after: {}", spec_changes.join(", "))
        },
        format!(
            "  operator: RSS {} MiB idle, {} MiB at the end, peak {} MiB (VmHWM {} MiB); CPU {busy_cpu:.1} s while converging, {steady_cpu:.1} s in the steady window",
            idle_rss / 1024,
            rss / 1024,
            peak_rss.max(rss) / 1024,
            hwm / 1024
        ),
        {
            // What the operator holds (its counting allocator), apart from what the allocator keeps cached.
            let heap = metric_sum(&metrics, "flowlog_heap_bytes", "");
            format!(
                "  operator heap: {:.1} MiB idle, {:.1} MiB at the end: {:.0} bytes per policy; RSS at the end: {} MiB \
                 anonymous, {} MiB of mapped files (the binary's code)",
                idle_heap / 1048576.0,
                heap / 1048576.0,
                (heap - idle_heap) / n as f64,
                rss_anon / 1024,
                rss_file / 1024
            )
        },
    ];
    report.extend(set_line);
    report.insert(0, "==== fleet benchmark: the operator ====".into());
    print_uncaptured(&report.join("\n"));
    assert!(!busy.is_empty() && !steady.is_empty(), "the run completed and printed its figures");
    let nsgs = targets.iter().filter(|t| t.kind == Kind::Nsg).count();
    OperatorRun { nsgs, converged: (ready_times.len() == n).then_some(converging) }
}

// ---------------------------------------------------------------------------------------------- the naive script

/// The sequential REST walkthrough: a plain HTTP client, one token, each long-running operation followed to its end.
struct Walkthrough {
    http: reqwest::Client,
    base: String,
    token: String,
    sent: BTreeMap<&'static str, u64>,
    throttled: u64,
    waited: Duration,
}

impl Walkthrough {
    async fn send(
        &mut self,
        op: &'static str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        loop {
            let mut request = self.http.request(method.clone(), url).bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(body);
            }
            *self.sent.entry(op).or_default() += 1;
            let response = request.send().await.unwrap();
            if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                return response;
            }
            self.throttled += 1;
            let wait = Duration::from_secs(retry_after(&response).unwrap_or(1));
            self.waited += wait;
            tokio::time::sleep(wait).await;
        }
    }

    /// A long-running action: POST, then (on 202) the `Azure-AsyncOperation` URL until it is no longer in progress,
    /// then the `Location` URL for the result.
    async fn action(&mut self, op: &'static str, url: &str, body: &Value) -> Value {
        let response = self.send(op, reqwest::Method::POST, url, Some(body)).await;
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            return response.json().await.unwrap();
        }
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{op}: {}", response.text().await.unwrap());
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (operation, location) = (header("azure-asyncoperation").unwrap(), header("location").unwrap());
        let mut wait = retry_after(&response).unwrap_or(10);
        loop {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let poll = self.send("operationStatus", reqwest::Method::GET, &operation, None).await;
            wait = retry_after(&poll).unwrap_or(10);
            let state: Value = poll.json().await.unwrap();
            match state["status"].as_str() {
                Some("InProgress") => continue,
                Some("Succeeded") => break,
                other => panic!("{op} ended {other:?}: {state}"),
            }
        }
        let result = self.send("operationResult", reqwest::Method::GET, &location, None).await;
        assert_eq!(result.status(), reqwest::StatusCode::OK, "{op} result");
        result.json().await.unwrap()
    }
}

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

/// Does Azure's answer already say what the walkthrough asks for (enabled, the storage account, 30 days)?
fn matches(current: &Value, wanted: &Value) -> bool {
    let (c, w) = (&current["properties"], &wanted["properties"]);
    c["enabled"] == w["enabled"]
        && c["storageId"].as_str().unwrap_or_default().eq_ignore_ascii_case(w["storageId"].as_str().unwrap())
        && c["retentionPolicy"] == w["retentionPolicy"]
}

async fn baseline_run(settings: &Settings, operator: Option<&OperatorRun>) {
    let m = settings.baseline_nsgs;
    let (inventory, targets) = fleet(m, 1.0, settings);
    let dir = tempfile::tempdir().unwrap();
    let inventory_file = dir.path().join("inventory.yaml");
    std::fs::write(&inventory_file, inventory.to_yaml()).unwrap();
    let (_sim, url) = spawn_simulator_binary_with(&["--inventory", inventory_file.to_str().unwrap()]).await;
    let started = Instant::now();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{url}/{}/oauth2/v2.0/token", simulator::DEFAULT_TENANT_ID))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", simulator::DEFAULT_CLIENT_ID),
            ("client_secret", simulator::DEFAULT_CLIENT_SECRET),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_string();
    let mut walk =
        Walkthrough { http, base: url.clone(), token, sent: BTreeMap::new(), throttled: 0, waited: Duration::ZERO };
    let mut done = Vec::with_capacity(m);
    let mut slowest = Duration::ZERO;
    let mut configured = 0;
    for target in &targets {
        if started.elapsed() >= settings.limit {
            break;
        }
        let begun = Instant::now();
        let watcher = format!("{}{}", walk.base, watcher_id(target.subscription, target.region));
        let query = format!("{watcher}/queryFlowLogStatus?api-version={API_VERSION}");
        let current = walk.action("queryFlowLogStatus", &query, &json!({"targetResourceId": target.id})).await;
        let wanted = json!({
            "targetResourceId": target.id,
            "properties": {
                "storageId": storage_id(target.subscription, target.region),
                "enabled": true,
                "retentionPolicy": {"days": 30, "enabled": true},
                "format": {"type": "JSON", "version": 2}
            }
        });
        if !matches(&current, &wanted) {
            let configure = format!("{watcher}/configureFlowLog?api-version={API_VERSION}");
            let applied = walk.action("configureFlowLog", &configure, &wanted).await;
            assert!(matches(&applied, &wanted), "Azure applied the change: {applied}");
            configured += 1;
        }
        slowest = slowest.max(begun.elapsed());
        done.push(started.elapsed());
    }
    let elapsed = started.elapsed();
    let counters = sim_counters(&url).await;
    let outcome = if done.len() == m {
        format!("all {m} done after {:.1} s ({configured} configured)", elapsed.as_secs_f64())
    } else {
        format!(
            "time limit ({:.0} s) reached with {} of {m} not done ({configured} configured)",
            settings.limit.as_secs_f64(),
            m - done.len()
        )
    };
    // The script handles one NSG after the other, each the same way: its time grows linearly with the NSGs.
    let per_nsg = if done.is_empty() { None } else { Some(elapsed.as_secs_f64() / done.len() as f64) };
    let comparison = match (per_nsg, operator) {
        (Some(per_nsg), Some(OperatorRun { nsgs, converged: Some(took) })) if *nsgs > 0 => format!(
            "  {per_nsg:.2} s per NSG → {:.0} s for the operator run's {nsgs} NSGs; the operator took {:.1} s for \
             its whole fleet: {:.0} × faster",
            per_nsg * *nsgs as f64,
            took.as_secs_f64(),
            per_nsg * *nsgs as f64 / took.as_secs_f64()
        ),
        (Some(per_nsg), _) => format!("  {per_nsg:.2} s per NSG → {:.0} s at 1,000 NSGs", per_nsg * 1000.0),
        (None, _) => "  no NSG done".into(),
    };
    let report = [
        "==== fleet benchmark: the naive walkthrough (sequential REST) ====".to_string(),
        format!(
            "baseline: {m} NSGs with a flow log (7 days → 30) in 2 subscriptions × 3 regions, same simulator settings \
             (ARM's limits on, long-running operations of {} ms with Retry-After {} s)",
            settings.lro_duration_ms, settings.lro_retry_after
        ),
        format!("  {outcome}; slowest NSG took {:.1} s", slowest.as_secs_f64()),
        format!("  done: {}", percentiles(&done, m)),
        format!("  {}", requests(&counters)),
        format!("  429s received: {}; waited {:.1} s for them", walk.throttled, walk.waited.as_secs_f64()),
        comparison,
    ];
    print_uncaptured(&report.join("\n"));
    let sent: u64 = walk.sent.values().sum();
    assert_eq!(
        sent,
        counters.iter().filter(|(op, _)| *op != "token").map(|(_, n)| n).sum::<u64>(),
        "every request counted"
    );
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn fleet_benchmark() {
    let settings = Settings::from_env();
    let operator = if settings.targets > 0 { Some(operator_run(&settings).await) } else { None };
    if settings.baseline_nsgs > 0 {
        baseline_run(&settings, operator.as_ref()).await;
    }
}

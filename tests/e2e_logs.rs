//! `flowlog-operator logs` end to end: the simulator delivers flow-log blobs into Azurite (which `tests/run.sh`
//! starts: HTTPS with a test CA, OAuth), and the binary finds the flow log through ARM, its storage account's blob
//! endpoint, lists and downloads the blobs with a storage token from the simulator's authority, and prints the
//! flows. What it prints is checked against the tuples the simulator reports it wrote, read here by splitting the
//! tuple text (not with the operator's parser), for a time range and each filter; a policy in the real apiserver
//! names the target; the storage token goes nowhere it was not allowed to.

mod common;

use std::process::Output;

use common::{SUB, cluster, nsg, web_nsg_spec};
use flowlog_operator::api::FlowLogPolicy;
use flowlog_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, DeliveryReport, Inventory, Simulator,
};
use kube::Api;
use kube::api::PostParams;
use serde_json::Value;

/// 2025-03-04T05:00:00Z: an hour of its own (the simulator's delivery tests write to December 2026).
const HOUR: u64 = 1_741_064_400;

struct Scene {
    sim: Simulator,
    base: String,
    azurite: String,
    ca: String,
    report: DeliveryReport,
}

/// The built-in inventory delivering to Azurite, `minutes` minutes from `from` written.
async fn scene(seed: u64, from: u64, minutes: u32) -> Scene {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let azurite = std::env::var("FLOWLOG_AZURITE_ENDPOINT").expect("FLOWLOG_AZURITE_ENDPOINT (run tests/run.sh)");
    let ca = std::env::var("FLOWLOG_AZURITE_CA").expect("FLOWLOG_AZURITE_CA (run tests/run.sh)");
    let sim = Simulator::new(Inventory::builtin());
    let pem = std::fs::read(&ca).unwrap();
    sim.set_storage_endpoint(azurite.parse().unwrap(), Some(&pem), seed).await.unwrap();
    let base = sim.clone().spawn_local().await.unwrap();
    let report = sim.deliver(from, minutes).await.unwrap();
    Scene { sim, base, azurite, ca, report }
}

impl Scene {
    /// `flowlog-operator logs ARGS` against the simulator and Azurite.
    fn logs<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
            .arg("logs")
            .args(args)
            .args(["--arm-endpoint", &self.base, "--authority-host", &self.base])
            .args(["--storage-origin", &self.azurite, "--extra-ca-file", &self.ca])
            .env("AZURE_TENANT_ID", DEFAULT_TENANT_ID)
            .env("AZURE_CLIENT_ID", DEFAULT_CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
            .output()
            .unwrap()
    }

    /// The tuples the simulator wrote for the flow log whose blobs contain `needle`.
    fn written(&self, needle: &str) -> Vec<Tuple> {
        written(&self.report, needle)
    }
}

/// The tuples `report` says were written for the flow log whose blobs contain `needle`, as the test reads them.
fn written(report: &DeliveryReport, needle: &str) -> Vec<Tuple> {
    let mut out = Vec::new();
    for w in report.written.iter().filter(|w| w.blob.contains(needle)) {
        let record = &w.record;
        let mut lists: Vec<&Value> = Vec::new();
        if let Some(flows) = record["properties"]["flows"].as_array() {
            for rule in flows {
                lists.extend(rule["flows"].as_array().unwrap().iter().map(|m| &m["flowTuples"]));
            }
        } else {
            for acl in record["flowRecords"]["flows"].as_array().unwrap() {
                lists.extend(acl["flowGroups"].as_array().unwrap().iter().map(|g| &g["flowTuples"]));
            }
        }
        for list in lists {
            out.extend(list.as_array().unwrap().iter().map(|t| Tuple::of(t.as_str().unwrap())));
        }
    }
    out
}

/// What the test compares: time (ms), source, destination, ports, and whether the flow was denied.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tuple {
    time_ms: u64,
    src: String,
    src_port: u16,
    dst: String,
    dst_port: u16,
    protocol: String,
    inbound: bool,
    denied: bool,
}

impl Tuple {
    /// From the tuple text: NSG (seconds, `T`/`U`, decision in field 8) or VNet (milliseconds, IANA number, state `D`).
    fn of(text: &str) -> Tuple {
        let f: Vec<&str> = text.split(',').collect();
        let time: u64 = f[0].parse().unwrap();
        let vnet = time > 100_000_000_000;
        Tuple {
            time_ms: if vnet { time } else { time * 1000 },
            src: f[1].into(),
            src_port: f[3].parse().unwrap(),
            dst: f[2].into(),
            dst_port: f[4].parse().unwrap(),
            protocol: match f[5] {
                "T" | "6" => "tcp".into(),
                "U" | "17" => "udp".into(),
                other => other.into(),
            },
            inbound: f[6] == "I",
            denied: f[7] == "D",
        }
    }

    /// From a JSON line of the command.
    fn of_line(v: &Value) -> Tuple {
        let time: k8s_openapi::jiff::Timestamp = v["time"].as_str().unwrap().parse().unwrap();
        Tuple {
            time_ms: time.as_millisecond() as u64,
            src: v["srcIp"].as_str().unwrap().into(),
            src_port: v["srcPort"].as_u64().unwrap() as u16,
            dst: v["dstIp"].as_str().unwrap().into(),
            dst_port: v["dstPort"].as_u64().unwrap() as u16,
            protocol: v["protocol"].as_str().unwrap().into(),
            inbound: v["direction"] == "inbound",
            denied: v["decision"] == "deny",
        }
    }
}

fn lines(out: &Output) -> Vec<Tuple> {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(out.status.success(), "logs failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(|l| Tuple::of_line(&serde_json::from_str(l).unwrap())).collect()
}

fn sorted(mut v: Vec<Tuple>) -> Vec<Tuple> {
    v.sort();
    v
}

fn at(secs: u64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(secs as i64).unwrap().to_string()
}

const WEB: &str = "/NETWORKSECURITYGROUPS/WEB-NSG/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the binary runs while this thread waits for it
#[ignore = "needs Azurite: run tests/run.sh"]
async fn prints_what_the_simulator_wrote_for_a_time_range_and_filters() {
    let s = scene(21, HOUR, 6).await;
    let target = nsg("app-prod-rg", "web-nsg");
    let all = s.written(WEB);
    assert!(all.len() >= 6, "one record a minute, 1 to 4 tuples each: {all:?}");
    let (since, until) = (at(HOUR), at(HOUR + 360));
    let base = ["--target", target.as_str(), "--since", since.as_str(), "--until", until.as_str(), "-o", "jsonl"];

    // Everything of the six minutes, in time order.
    let out = s.logs(&base);
    let printed = lines(&out);
    assert_eq!(sorted(printed.clone()), sorted(all.clone()));
    assert!(printed.windows(2).all(|w| w[0].time_ms <= w[1].time_ms), "in time order");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The other tests write other hours of the same blobs' flow log: only this hour is in the range.
    assert!(stderr.contains("blobs of the flow log, 1 in the time range"), "{stderr}");
    assert!(!stderr.contains(DEFAULT_CLIENT_SECRET), "no secret in the progress");

    // A narrower range: minutes 2 and 3 only.
    let (from, to) = (at(HOUR + 120), at(HOUR + 240));
    let narrow: Vec<&str> =
        ["--target", target.as_str(), "--since", from.as_str(), "--until", to.as_str(), "-o", "jsonl"].to_vec();
    let expected: Vec<Tuple> =
        all.iter().filter(|t| (HOUR + 120) * 1000 <= t.time_ms && t.time_ms < (HOUR + 240) * 1000).cloned().collect();
    assert_eq!(sorted(lines(&s.logs(&narrow))), sorted(expected));

    // Each filter against the same selection made here.
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        sorted(lines(&s.logs(&args)))
    };
    let pick = |keep: &dyn Fn(&Tuple) -> bool| sorted(all.iter().filter(|t| keep(t)).cloned().collect());
    assert_eq!(with(&["--denied"]), pick(&|t| t.denied));
    assert_eq!(with(&["--direction", "outbound"]), pick(&|t| !t.inbound));
    assert_eq!(with(&["--protocol", "udp"]), pick(&|t| t.protocol == "udp"));
    assert_eq!(
        with(&["--port", "443", "--port", "22"]),
        pick(&|t| [443, 22].contains(&t.dst_port) || [443, 22].contains(&t.src_port))
    );
    let ip = all[0].src.clone();
    assert_eq!(with(&["--ip", &ip]), pick(&|t| t.src == ip || t.dst == ip));
    assert_eq!(
        with(&["--ip", "192.0.2.0/24"]),
        pick(&|t| t.src.starts_with("192.0.2.") || t.dst.starts_with("192.0.2."))
    );

    // CSV and the table carry the same flows.
    let mut csv_args = base.to_vec();
    *csv_args.last_mut().unwrap() = "csv";
    let csv = String::from_utf8(s.logs(&csv_args).stdout).unwrap();
    assert_eq!(csv.lines().count(), all.len() + 1);
    assert!(csv.starts_with("time,srcIp,srcPort,dstIp,dstPort,protocol,direction,decision,state,"), "{csv}");
    let mut table_args = base.to_vec();
    *table_args.last_mut().unwrap() = "table";
    assert_eq!(String::from_utf8(s.logs(&table_args).stdout).unwrap().lines().count(), all.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the binary runs while this thread waits for it
#[ignore = "needs Azurite: run tests/run.sh"]
async fn reads_vnet_flow_logs_as_they_grow_and_a_policys_target() {
    // Two hours of their own; the first minute of each is written.
    let first = HOUR + 2 * 3600;
    let s = scene(22, first, 1).await;
    let shared = format!(
        "/subscriptions/{SUB}/resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet"
    );
    let (since, until) = (at(first), at(first + 2 * 3600));
    let jsonl = |target: &str| -> Vec<String> {
        ["--target", target, "--since", &since, "--until", &until, "-o", "jsonl"].map(String::from).to_vec()
    };
    let vnet = s.written("/FLOWLOGS/SHARED-VNET-FLOWLOG/");
    assert!(!vnet.is_empty());
    assert_eq!(sorted(lines(&s.logs(&jsonl(&shared)))), sorted(vnet.clone()));

    // The next hour gets two minutes: the reader sees each blob as last committed, records of both hours.
    let later = s.sim.deliver(first + 3600, 2).await.unwrap();
    assert_eq!(later.written.len(), 6, "three enabled flow logs, two minutes");
    let more = written(&later, "/FLOWLOGS/SHARED-VNET-FLOWLOG/");
    assert_eq!(sorted(lines(&s.logs(&jsonl(&shared)))), sorted([vnet, more].concat()));

    // A policy in the cluster names the target (and its watcher).
    let (client, namespace) = cluster("logs").await;
    let api: Api<FlowLogPolicy> = Api::namespaced(client, &namespace);
    api.create(&PostParams::default(), &FlowLogPolicy::new("web", web_nsg_spec(7, "10m"))).await.unwrap();
    let policy = format!("{namespace}/web");
    let out = s.logs(&["--policy", &policy, "--since", &since, "--until", &until, "-o", "jsonl"]);
    assert_eq!(sorted(lines(&out)), sorted([s.written(WEB), written(&later, WEB)].concat()));
    let missing = s.logs(&["--policy", &format!("{namespace}/nope"), "--since", &since]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains(&format!("reading FlowLogPolicy {namespace}/nope")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the binary runs while this thread waits for it
#[ignore = "needs Azurite: run tests/run.sh"]
async fn refuses_blob_endpoints_it_was_not_told_to_trust_and_says_why_when_nothing_matches() {
    let s = scene(23, HOUR + 5 * 3600, 1).await;
    let target = nsg("app-prod-rg", "web-nsg");
    // Without --storage-origin the simulator's blob endpoint (Azurite's) is not a cloud endpoint: refused, no token
    // sent.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
        .args(["logs", "--target", &target, "--since", "1h"])
        .args(["--arm-endpoint", &s.base, "--authority-host", &s.base, "--extra-ca-file", &s.ca])
        .env("AZURE_TENANT_ID", DEFAULT_TENANT_ID)
        .env("AZURE_CLIENT_ID", DEFAULT_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
        .env_remove("FLOWLOG_STORAGE_ORIGIN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused to follow blob endpoint"), "{stderr}");
    assert!(stderr.contains("--storage-origin"), "{stderr}");

    // Without the CA, TLS fails (the CA is what makes Azurite's certificate trusted).
    let untrusted = std::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
        .args(["logs", "--target", &target, "--since", "1h"])
        .args(["--arm-endpoint", &s.base, "--authority-host", &s.base, "--storage-origin", &s.azurite])
        .env("AZURE_TENANT_ID", DEFAULT_TENANT_ID)
        .env("AZURE_CLIENT_ID", DEFAULT_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
        .output()
        .unwrap();
    assert!(!untrusted.status.success(), "{}", String::from_utf8_lossy(&untrusted.stdout));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("invalid peer certificate"), "the cause is named: {stderr}");

    // A target without a flow log says so; a range with no blobs prints no flows.
    let none = s.logs(&["--target", &nsg("app-prod-rg", "new-nsg"), "--since", "1h"]);
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("has no flow log"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let (since, until) = (at(HOUR + 9 * 3600), at(HOUR + 10 * 3600));
    let empty = s.logs(&["--target", &target, "--since", &since, "--until", &until, "-o", "jsonl"]);
    assert_eq!(lines(&empty), Vec::<Tuple>::new());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("0 in the time range"));
}

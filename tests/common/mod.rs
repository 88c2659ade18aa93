//! What the tests share. This file: the harness of the end-to-end tests, a client of the test control plane
//! (`tests/run.sh` starts it), a fresh namespace, the simulator and an in-process controller per test. Beside it:
//! - [`chart`]: the Helm chart, the pinned helm and kubectl, and `helm template`'s objects;
//! - [`arm_script`]: a scripted ARM server for the answers the simulator does not give on demand;
//! - [`credentials`]: the operator's credentials for the simulator's principal and for managed identity;
//! - [`recorder`]: an `ArmObserver` that records what the client reports;
//! - [`sim`]: the simulator in-process, or over HTTP with a token; its principal's tokens; service-account tokens;
//! - [`examples`]: Azure's official request/response examples, their requests sent to the simulator, and the
//!   simulator inventories that hold what each example names;
//! - [`health`]: the GitOps health-check cases, one object per row of the README's status tables;
//! - [`campaign`], [`control_plane`], [`replicas`], [`sim_server`]: the fault campaign's fleet, schedule and checks,
//!   a private control plane whose apiserver can be restarted, two operator replicas it kills and restarts, and the
//!   simulator served on a port it can be restarted on.
#![allow(dead_code)] // each test binary uses its own part of what is shared here

pub mod arm_script;
pub mod campaign;
pub mod chart;
pub mod control_plane;
pub mod credentials;
pub mod examples;
pub mod fleet;
pub mod health;
pub mod recorder;
pub mod replicas;
pub mod sim;
pub mod sim_server;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlog_operator::api::{
    DeletionPolicy, FlowLogFormat, FlowLogPolicy, FlowLogPolicySpec, FlowLogSettings, FormatType, Mode,
    NetworkWatcherRef, RetentionPolicy, Target,
};
use flowlog_operator::azure::credential::CachedCredential;
use flowlog_operator::azure::id::same_id;
use flowlog_operator::azure::model::FlowLogInformation;
use flowlog_operator::azure::{ArmClient, Cloud, PollSettings};
use flowlog_operator::controller::metrics::Metrics;
use flowlog_operator::controller::server::Health;
use flowlog_operator::controller::{self, Context, Settings};
use flowlog_simulator::{self as simulator, Inventory, Simulator};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use serde_json::json;

pub const SUB: &str = simulator::DEFAULT_SUBSCRIPTION_ID;

pub fn nsg(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

pub fn storage(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
}

/// web-nsg in westeurope: in the built-in inventory it has an enabled flow log with 7 days retention.
pub fn web_nsg_spec(days: i32, interval: &str) -> FlowLogPolicySpec {
    FlowLogPolicySpec {
        target: Target { resource_id: nsg("app-prod-rg", "web-nsg") },
        network_watcher: Some(NetworkWatcherRef {
            resource_group: "NetworkWatcherRG".into(),
            name: "NetworkWatcher_westeurope".into(),
        }),
        credentials_ref: None,
        flow_log: FlowLogSettings {
            enabled: true,
            // Lower-case on purpose: ARM IDs are case-insensitive and must not cause writes.
            storage_id: Some(storage("flowlogsweu001").to_lowercase()),
            retention_policy: Some(RetentionPolicy { enabled: true, days }),
            format: Some(FlowLogFormat { format_type: FormatType::Json, version: 2 }),
            ..Default::default()
        },
        mode: Mode::Enforce,
        deletion_policy: DeletionPolicy::Disable,
        interval: interval.into(),
    }
}

pub struct Harness {
    pub client: Client,
    pub namespace: String,
    pub sim: Simulator,
    pub api: Api<FlowLogPolicy>,
    pub controller: tokio::task::JoinHandle<()>,
    pub metrics: Arc<Metrics>,
    pub metrics_url: String,
    pub sim_url: String,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.controller.abort();
    }
}

impl Harness {
    pub async fn start(test: &str) -> Harness {
        let mut inventory = Inventory::builtin();
        sim::quick_operations(&mut inventory);
        Harness::start_with(test, inventory).await
    }

    /// Starts with this simulator inventory.
    pub async fn start_with(test: &str, inventory: Inventory) -> Harness {
        let (client, namespace) = cluster(test).await;
        Harness::start_in(client, namespace, inventory).await
    }

    /// Starts in a namespace made with [`cluster`] (for inventories that name it).
    pub async fn start_in(client: Client, namespace: String, inventory: Inventory) -> Harness {
        let sim = Simulator::new(inventory);
        let url = sim.clone().spawn_local().await.expect("simulator starts");
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::default());
        let (metrics_addr, _) = flowlog_operator::controller::server::serve(
            "127.0.0.1:0".parse().unwrap(),
            metrics.clone(),
            health.clone(),
        )
        .await
        .expect("metrics server starts");
        let controller = spawn_controller(&client, &namespace, &url, metrics.clone(), health);
        let api = Api::namespaced(client.clone(), &namespace);
        Harness {
            client,
            namespace,
            sim,
            api,
            controller,
            metrics,
            metrics_url: format!("http://{metrics_addr}/metrics"),
            sim_url: url,
        }
    }

    /// Kills the controller abruptly (as a crash would, in the middle of whatever it does) and starts a new one.
    pub fn restart_controller(&mut self) {
        self.controller.abort();
        self.controller = spawn_controller(
            &self.client,
            &self.namespace,
            &self.sim_url,
            self.metrics.clone(),
            Arc::new(Health::default()),
        );
    }

    pub async fn apply(&self, name: &str, spec: FlowLogPolicySpec) -> FlowLogPolicy {
        let policy = FlowLogPolicy::new(name, spec);
        self.api.create(&PostParams::default(), &policy).await.expect("policy accepted")
    }

    /// The events about `name`, oldest first.
    pub async fn events(&self, name: &str) -> Vec<k8s_openapi::api::events::v1::Event> {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut list: Vec<_> = events
            .list(&Default::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect();
        list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        list
    }

    /// The `reason`s of the events about `name`, oldest first.
    pub async fn event_reasons(&self, name: &str) -> Vec<(String, String)> {
        let events = self.events(name).await;
        events.into_iter().map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default())).collect()
    }

    /// How many times an event with `reason` was reported about `name` (the recorder folds repeats into one event
    /// with a series count).
    pub async fn event_count(&self, name: &str, reason: &str) -> i32 {
        let events = self.events(name).await;
        events
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .map(|e| e.series.map_or(1, |s| s.count))
            .sum()
    }

    /// The condition `type_` of `name` as (status, reason, message).
    pub async fn condition(&self, name: &str, type_: &str) -> Option<(String, String, String)> {
        let p = self.get(name).await;
        let c = p.status?.conditions.into_iter().find(|c| c.type_ == type_)?;
        Some((c.status, c.reason, c.message))
    }

    pub async fn metrics_text(&self) -> String {
        reqwest::get(&self.metrics_url).await.expect("metrics answer").text().await.unwrap()
    }

    pub async fn get(&self, name: &str) -> FlowLogPolicy {
        self.api.get(name).await.expect("policy exists")
    }

    /// Waits until the policy's Ready condition has `status` for its current generation.
    pub async fn wait_ready(&self, name: &str, status: &str) -> FlowLogPolicy {
        self.wait_ready_where(name, &format!("Ready={status}"), |ready| ready.status == status).await
    }

    /// Waits until `Ready` has `reason` for the current generation (a write under way reads `Ready=False` too, with
    /// reason `Applying`: waiting for `False` alone can catch that instead of the outcome).
    pub async fn wait_reason(&self, name: &str, reason: &str) -> FlowLogPolicy {
        self.wait_ready_where(name, &format!("Ready reason {reason}"), |ready| ready.reason == reason).await
    }

    /// Waits until the policy's Ready condition for its current generation is as `wanted` says (`what` names it).
    async fn wait_ready_where(&self, name: &str, what: &str, wanted: impl Fn(&Condition) -> bool) -> FlowLogPolicy {
        wait_for(&format!("{name} {what}"), Duration::from_secs(30), || async {
            let p = self.get(name).await;
            let s = p.status.as_ref()?;
            let ready = s.conditions.iter().find(|c| c.type_ == "Ready")?;
            (wanted(ready) && s.observed_generation == p.metadata.generation).then_some(p)
        })
        .await
    }

    /// Deletes the policies `names`, then waits up to `timeout` for each to be gone.
    pub async fn delete_and_wait(&self, names: &[&str], timeout: Duration) {
        for name in names {
            self.api.delete(name, &DeleteParams::default()).await.expect("policy deleted");
        }
        for name in names {
            self.wait_gone(name, timeout).await;
        }
    }

    /// Waits up to `timeout` until the policy `name` is gone (its finalizer has run).
    pub async fn wait_gone(&self, name: &str, timeout: Duration) {
        wait_for(&format!("{name} gone"), timeout, || async {
            self.api.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await
    }
}

/// An in-process controller for `namespace`, talking to the simulator at `sim_url`.
pub fn spawn_controller(
    client: &Client,
    namespace: &str,
    sim_url: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> tokio::task::JoinHandle<()> {
    spawn_controller_with(client, namespace, sim_url, metrics, health, |_| {})
}

/// [`spawn_controller`] with its settings changed by `adjust` first.
pub fn spawn_controller_with(
    client: &Client,
    namespace: &str,
    sim_url: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    adjust: impl FnOnce(&mut Settings),
) -> tokio::task::JoinHandle<()> {
    let base = url::Url::parse(&format!("{sim_url}/")).unwrap();
    let http = reqwest::Client::new();
    let credential = flowlog_operator::cli::built_in_credential(http.clone(), &base).unwrap();
    let poll = PollSettings { default_interval: Duration::from_millis(200), ..Default::default() };
    let arm = ArmClient::builder(http, base.clone(), CachedCredential::new(credential))
        .poll(poll)
        .observer(metrics.clone())
        .build();
    let cloud = Cloud::custom(base.clone(), base, Some("https://management.azure.com/"));
    let mut settings = Settings {
        namespace: Some(namespace.to_string()),
        concurrency: 4,
        allow_credentials_ref: true,
        ..Default::default()
    };
    adjust(&mut settings);
    let ctx = Context::new(client.clone(), arm, cloud, metrics, health, settings);
    tokio::spawn(controller::run(ctx))
}

/// A client of the test control plane, the CRD installed, and a fresh namespace for one test.
pub async fn cluster(test: &str) -> (Client, String) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = Client::try_default().await.expect("KUBECONFIG points at the test control plane (run tests/run.sh)");
    install_crd(&client).await;
    let namespace = format!("{test}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.expect("create namespace");
    (client, namespace)
}

/// Installs the operator's CRDs (FlowLogPolicy and FlowLogPolicySet) and waits until the apiserver serves them.
pub async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [FlowLogPolicy::crd(), flowlog_operator::api::FlowLogPolicySet::crd()] {
        let name = crd.name_any();
        crds.patch(&name, &PatchParams::apply("e2e-tests").force(), &Patch::Apply(&crd)).await.expect("CRD applies");
        wait_for("CRD established", Duration::from_secs(30), || async {
            let crd = crds.get(&name).await.ok()?;
            let established = crd.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        })
        .await;
    }
}

pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn assert_matches_spec(azure: &FlowLogInformation, spec: &FlowLogPolicySpec) {
    let p = &azure.properties;
    let want = &spec.flow_log;
    assert_eq!(p.enabled, want.enabled);
    assert!(
        same_id(&p.storage_id, want.storage_id.as_deref().unwrap()),
        "storage {} vs {:?}",
        p.storage_id,
        want.storage_id
    );
    let retention = p.retention_policy.expect("retention reported");
    let wanted = want.retention_policy.unwrap();
    assert_eq!((retention.enabled, retention.days), (wanted.enabled, wanted.days));
    let format = p.format.as_ref().expect("format reported");
    let wanted = want.format.as_ref().unwrap();
    assert_eq!((format.format_type.as_deref(), format.version), (Some("JSON"), wanted.version));
}

pub fn count(sim: &Simulator, op: &str) -> u64 {
    sim.counters().get(op).copied().unwrap_or(0)
}

/// The simulator's binary (`flowlog-sim`, package `flowlog-simulator`): `$FLOWLOG_SIM_BIN`, or the one cargo built
/// beside this test binary (`cargo test --workspace` builds it; `tests/run.sh --test X` builds it first).
pub fn simulator_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("FLOWLOG_SIM_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/flowlog-sim
    let path = exe.parent().and_then(|deps| deps.parent()).expect("a target directory").join("flowlog-sim");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p flowlog-simulator` (tests/run.sh does) or set FLOWLOG_SIM_BIN",
        path.display()
    );
    path
}

/// `flowlog-sim` as a process on a free port; returns it and its base URL.
pub async fn spawn_simulator_binary() -> (tokio::process::Child, String) {
    spawn_simulator_binary_with(&[]).await
}

/// `flowlog-sim` with extra arguments (for example `--inventory FILE`).
pub async fn spawn_simulator_binary_with(extra: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut sim = tokio::process::Command::new(simulator_binary())
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(sim.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next_line().await.unwrap().expect("the simulator prints its address");
        if let Some(at) = line.split("listening on ").nth(1) {
            break at.trim().to_string();
        }
    };
    // Keep draining its stderr: a closed pipe would break its logging.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (sim, url)
}

/// `flowlog-operator run` as a process against the simulator at `sim_url`, configured as a user would.
pub fn operator_command(sim_url: &str, namespace: &str, log: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"));
    command
        .args(["run", "--namespace", namespace, "--log-format", "json"])
        .env("FLOWLOG_ARM_ENDPOINT", sim_url)
        .env("AZURE_AUTHORITY_HOST", format!("{sim_url}/"))
        .env("AZURE_TENANT_ID", simulator::DEFAULT_TENANT_ID)
        .env("AZURE_CLIENT_ID", simulator::DEFAULT_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", simulator::DEFAULT_CLIENT_SECRET)
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true);
    command
}

/// `flowlog-operator ARGS...` (`plan`, `apply`) against the simulator at `sim_url` with its built-in principal's
/// credentials; returns the exit code, stdout and stderr.
pub async fn preview_command(sim_url: &str, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
        .args(args)
        .args(["--arm-endpoint", &format!("{sim_url}/"), "--authority-host", &format!("{sim_url}/")])
        .env("AZURE_TENANT_ID", simulator::DEFAULT_TENANT_ID)
        .env("AZURE_CLIENT_ID", simulator::DEFAULT_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", simulator::DEFAULT_CLIENT_SECRET)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("flowlog-operator runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// A free TCP port on loopback (bound and released; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// JSON merge patch (RFC 7386) of `patch` into `target`.
pub fn json_merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    json_merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

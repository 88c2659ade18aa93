use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};

use super::azure::AzureArgs;
use crate::azure::credential::TokenCredential;
use crate::controller::metrics::Metrics;
use crate::controller::selector::LabelSelector;
use crate::controller::server::{self, Health};
use crate::controller::{self, Context, Settings};

/// Operator settings. Every flag can also be given by the environment variable shown.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub azure: AzureArgs,
    /// Honour `spec.credentialsRef`: read Secrets named by policies in their own namespace, and watch Secret
    /// metadata to re-run policies when their Secret changes. Needs RBAC on Secrets.
    #[arg(long, env = "FLOWLOG_ALLOW_CREDENTIALS_REF", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_credentials_ref: bool,
    /// With --allow-credentials-ref: only policies in these namespaces (comma-separated) may use
    /// `credentialsRef`, and Secrets are read and watched only there (so RBAC can be per namespace). Empty: all.
    #[arg(long, env = "FLOWLOG_CREDENTIALS_NAMESPACES", value_delimiter = ',')]
    pub credentials_namespaces: Vec<String>,
    /// Register the `Microsoft.Insights` resource provider where flow logs need it and it is not registered
    /// (needs `Microsoft.Insights/register/action`); otherwise such policies report `ProviderNotRegistered`.
    #[arg(long, env = "FLOWLOG_REGISTER_PROVIDERS", default_value_t = false, action = clap::ArgAction::Set)]
    pub register_providers: bool,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "FLOWLOG_NAMESPACE")]
    pub namespace: Option<String>,
    /// Watch only the FlowLogPolicies matching this label selector (Kubernetes syntax, e.g. `flowlog.dev/shard=1`),
    /// filtered by the apiserver: one shard of the policies, for running several operators (default: all).
    #[arg(long, env = "FLOWLOG_SELECTOR")]
    pub selector: Option<String>,
    /// Policies reconciled at the same time.
    #[arg(long, env = "FLOWLOG_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, env = "FLOWLOG_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader with a Lease so that several replicas can run and only one writes to Azure and status.
    #[arg(long, env = "FLOWLOG_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the leader-election Lease (default: `flowlog-operator`; with --selector, `flowlog-operator-` and a
    /// stable digest of the selector, so that each shard elects its own leader).
    #[arg(long, env = "FLOWLOG_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// Namespace of the leader-election Lease (in a pod: its own namespace via POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// How long a leader's Lease is valid without renewal; a standby takes over after it expires.
    #[arg(long, env = "FLOWLOG_LEASE_DURATION", default_value = "15s", value_parser = super::parse_duration)]
    pub lease_duration: Duration,
    /// How long before expiry the leader renews its Lease (also the clock skew tolerated between nodes).
    #[arg(long, env = "FLOWLOG_LEASE_GRACE", default_value = "5s", value_parser = super::parse_duration)]
    pub lease_grace: Duration,
    /// `lastSyncTime` alone is rewritten at most this often (every status write is a watch event for
    /// every GitOps tool watching the resource).
    #[arg(long, env = "FLOWLOG_STATUS_HEARTBEAT", default_value = "1h", value_parser = super::parse_duration)]
    pub status_heartbeat: Duration,
    /// On SIGTERM or SIGINT, reconciles in flight get this long to finish; those still waiting (for example on
    /// a long-running ARM operation, which goes on in Azure) are then abandoned, and the next leader re-reads
    /// Azure. Keep it well below the pod's terminationGracePeriodSeconds.
    #[arg(long, env = "FLOWLOG_SHUTDOWN_GRACE", default_value = "5s", value_parser = super::parse_duration)]
    pub shutdown_grace: Duration,
    /// Check that enabled flow logs' blobs keep arriving: list each storage account's flow-log container every
    /// --log-check-interval and report `status.logs`, the `LogsDelivered` condition, an event on each transition
    /// and the metric `flowlog_logs_last_write_age_seconds`. Needs the Storage Blob Data Reader role on the storage
    /// accounts; costs no ARM request.
    #[arg(long, env = "FLOWLOG_CHECK_LOG_DELIVERY", default_value_t = false, action = clap::ArgAction::Set)]
    pub check_log_delivery: bool,
    /// With --check-log-delivery: how long a flow log may write no blob before `LogsDelivered` turns False
    /// (reason `NoRecentLogs`). Network Watcher appends to the hour's blob every minute while there is traffic.
    #[arg(long, env = "FLOWLOG_LOG_SILENCE", default_value = "2h", value_parser = super::parse_duration)]
    pub log_silence: Duration,
    /// With --check-log-delivery: how often each storage account's flow-log containers are listed (one listing
    /// per account and container serves all its flow logs).
    #[arg(long, env = "FLOWLOG_LOG_CHECK_INTERVAL", default_value = "10m", value_parser = super::parse_duration)]
    pub log_check_interval: Duration,
    /// With --check-log-delivery: storage requests per storage account, `BURST/PER_SECOND`, apart from the ARM
    /// budgets (a listing is one request per 5,000 blobs).
    #[arg(long, env = "FLOWLOG_STORAGE_READ_BUDGET", default_value = "100/10")]
    pub storage_read_budget: crate::azure::BucketSettings,
    /// With --check-log-delivery: a Blob service origin to reach storage accounts on, path-style
    /// (`{origin}/{account}/`: Azure Stack Hub, Azurite), instead of the cloud's `https://{account}.blob.core.…/`.
    #[arg(long, env = "FLOWLOG_STORAGE_ORIGIN")]
    pub storage_origin: Option<url::Url>,
}

/// The default Lease name, without a selector.
pub const DEFAULT_LEASE_NAME: &str = "flowlog-operator";

impl Args {
    /// The shard's selector, checked (a bad one fails start-up, not every watch).
    pub fn selector(&self) -> anyhow::Result<Option<LabelSelector>> {
        self.selector
            .as_deref()
            .map(|s| s.parse::<LabelSelector>().map_err(|e| anyhow::anyhow!("invalid --selector {s:?}: {e}")))
            .transpose()
    }

    /// The Lease: `--lease-name`, else one per selector (shards never share a leader), else the default.
    /// Refuses settings that parse but cannot work (each error names the flag and its environment variable).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 {
            bail!("--concurrency (FLOWLOG_CONCURRENCY) must be at least 1");
        }
        if self.leader_elect && (self.lease_duration.is_zero() || self.lease_grace >= self.lease_duration) {
            bail!(
                "--lease-grace (FLOWLOG_LEASE_GRACE) must be shorter than --lease-duration (FLOWLOG_LEASE_DURATION), \
                 which must not be zero"
            );
        }
        if self.status_heartbeat < Duration::from_secs(60) {
            bail!(
                "--status-heartbeat (FLOWLOG_STATUS_HEARTBEAT) must be at least 1m: every status write is a watch \
                 event for every GitOps tool"
            );
        }
        if self.credentials_namespaces.iter().any(|n| n.trim().is_empty()) {
            bail!("--credentials-namespaces (FLOWLOG_CREDENTIALS_NAMESPACES) names an empty namespace");
        }
        if self.check_log_delivery {
            if self.log_check_interval < Duration::from_secs(1) {
                bail!("--log-check-interval (FLOWLOG_LOG_CHECK_INTERVAL) must be at least 1s");
            }
            if self.log_silence <= self.log_check_interval {
                bail!(
                    "--log-silence (FLOWLOG_LOG_SILENCE) must be longer than --log-check-interval \
                     (FLOWLOG_LOG_CHECK_INTERVAL): a silence is seen only by a check"
                );
            }
        }
        if let Some(origin) = &self.storage_origin
            && (origin.scheme() != "https" || origin.host_str().is_none() || !origin.username().is_empty())
        {
            bail!("--storage-origin (FLOWLOG_STORAGE_ORIGIN) must be an https URL of a host, without user info");
        }
        Ok(())
    }

    pub fn lease_name(&self, selector: Option<&LabelSelector>) -> String {
        match (self.lease_name.as_deref().filter(|n| !n.is_empty()), selector) {
            (Some(name), _) => name.to_string(),
            (None, Some(selector)) => format!("{DEFAULT_LEASE_NAME}-{}", selector.digest()),
            (None, None) => DEFAULT_LEASE_NAME.to_string(),
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    // Handle signals from the start: once handled, the default action (exit at once) no longer applies.
    let shutdown = Shutdown::listen()?;
    args.check()?;
    args.azure.check()?;
    let selector = args.selector()?;
    let lease_name = args.lease_name(selector.as_ref());
    let metrics = Arc::new(Metrics::default());
    let (cloud, credential, arm) = args.azure.arm_client(metrics.clone())?;
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let health = Arc::new(Health::default());
    let (addr, server) = server::serve(args.metrics_addr, metrics.clone(), health.clone())
        .await
        .with_context(|| format!("listening on {} for metrics and probes", args.metrics_addr))?;
    info!(metrics = %addr, arm = %cloud.arm_endpoint, namespace = args.namespace.as_deref().unwrap_or("<all>"), selector = selector.as_ref().map_or("<none>".to_string(), ToString::to_string), "flowlog-operator starting");
    tokio::spawn(check_token(credential, health.clone()));

    let settings = Settings {
        namespace: args.namespace.clone(),
        selector,
        concurrency: args.concurrency,
        status_heartbeat: args.status_heartbeat,
        allow_credentials_ref: args.allow_credentials_ref,
        credentials_namespaces: args
            .credentials_namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
        register_providers: args.register_providers,
        delivery: match args.check_log_delivery {
            true => Some(controller::DeliverySettings {
                reader: args.azure.blob_reader(&cloud, args.storage_origin.clone())?,
                every: args.log_check_interval,
                silence: args.log_silence,
                budget: args.storage_read_budget,
            }),
            false => None,
        },
    };
    let ctx = Context::new(client.clone(), arm, cloud, metrics.clone(), health.clone(), settings);
    let grace = args.shutdown_grace;
    if !args.leader_elect {
        health.leading.store(true, Ordering::Relaxed);
        metrics.leader.set(1);
        let stopped = controller::run_until(ctx, shutdown.requested(), grace).await;
        server.abort();
        let _ = server.await;
        shutdown.done(stopped.abandoned, false);
        return Ok(());
    }

    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|host| format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    let building = LeaseManagerBuilder::new(client, &lease_name)
        .with_namespace(&args.lease_namespace)
        .with_identity(&identity)
        .with_duration(args.lease_duration.as_secs().max(1))
        .with_grace(args.lease_grace.as_secs().max(1))
        .build();
    let manager = tokio::select! {
        manager = building => manager.context("setting up leader election")?,
        () = shutdown.requested() => {
            server.abort();
            let _ = server.await;
            shutdown.done(0, false);
            return Ok(());
        }
    };
    let (mut leader, lease_task) = manager.watch().await;
    info!(lease = %format!("{}/{}", args.lease_namespace, lease_name), %identity, "waiting to become leader");
    tokio::select! {
        became = async { leader.wait_for(|is_leader| *is_leader).await.map(|_| ()) } => {
            became.context("leader election stopped")?;
        }
        () = shutdown.requested() => {
            // A standby holds nothing: dropping the watch ends its lease task, which releases only what it holds.
            drop(leader);
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, lease_task).await;
            server.abort();
            let _ = server.await;
            shutdown.done(0, false);
            return Ok(());
        }
    }
    info!(%identity, "became leader");
    health.leading.store(true, Ordering::Relaxed);
    metrics.leader.set(1);
    // Only the leader writes to Azure and to status. If the lease is lost or its task dies, exit at once: a
    // new leader re-reads Azure before writing, so nothing is lost, but two writers must never overlap.
    let stopped = tokio::select! {
        stopped = controller::run_until(ctx, shutdown.requested(), grace) => stopped,
        _ = async { leader.wait_for(|is_leader| !*is_leader).await.map(|_| ()) } => {
            bail!("lost the leader lease; exiting so that only one replica writes")
        }
    };
    // Nothing writes any more: release the Lease so that a standby need not wait for it to expire. Dropping the
    // watch makes the lease task release it and end; a stuck API server must not hold the exit up.
    drop(leader);
    health.leading.store(false, Ordering::Relaxed);
    metrics.leader.set(0);
    let released = match tokio::time::timeout(RELEASE_TIMEOUT, lease_task).await {
        Ok(Ok(Ok(_manager))) => true,
        Ok(Ok(Err(e))) => {
            warn!("releasing the lease: {e}");
            false
        }
        Ok(Err(e)) => {
            warn!("releasing the lease: {e}");
            false
        }
        Err(_) => {
            warn!("releasing the lease took over {}s; leaving it to expire", RELEASE_TIMEOUT.as_secs());
            false
        }
    };
    server.abort();
    let _ = server.await;
    shutdown.done(stopped.abandoned, released);
    Ok(())
}

/// How long releasing the Lease may take at shutdown before it is left to expire.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(3);

/// SIGTERM and SIGINT: the first starts a graceful shutdown, a second one exits at once.
struct Shutdown {
    requested: tokio::sync::watch::Receiver<Option<Instant>>,
}

impl Shutdown {
    fn listen() -> anyhow::Result<Shutdown> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let (tx, requested) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                if first {
                    info!(signal = name, "shutting down: no new reconciles, in-flight ones get the shutdown grace");
                    let _ = tx.send(Some(Instant::now()));
                    first = false;
                } else {
                    warn!(signal = name, "second signal: exiting at once");
                    std::process::exit(if name == "SIGINT" { 130 } else { 143 });
                }
            }
        });
        Ok(Shutdown { requested })
    }

    /// Resolves once a shutdown was requested.
    fn requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut requested = self.requested.clone();
        async move {
            // The sender lives as long as the process: an error cannot happen, but would mean "never".
            if requested.wait_for(Option::is_some).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Logs the end of a shutdown (if one was requested).
    fn done(&self, abandoned: usize, released_lease: bool) {
        if let Some(started) = *self.requested.borrow() {
            info!(
                abandoned,
                released_lease,
                took_ms = started.elapsed().as_millis() as u64,
                "shut down: {abandoned} reconcile(s) abandoned"
            );
        }
    }
}

/// Tries the operator-wide credential until it produces a token; readiness waits for it.
async fn check_token(credential: Arc<dyn TokenCredential>, health: Arc<Health>) {
    let mut wait = Duration::from_secs(1);
    loop {
        match credential.token().await {
            Ok(_) => {
                health.token_ok.store(true, Ordering::Relaxed);
                info!("Azure credentials produced a token");
                return;
            }
            Err(e) => {
                warn!("Azure credentials did not produce a token yet: {e}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};
use url::Url;

use crate::azure::credential::{CachedCredential, ClientSecretCredential, Secret, TokenCredential};
use crate::azure::{ArmClient, PollSettings};
use crate::controller::metrics::Metrics;
use crate::controller::server::{self, Health};
use crate::controller::{self, Context, Settings};

/// Operator settings. Every flag can also be given by the environment variable shown.
#[derive(clap::Args)]
pub struct Args {
    /// ARM endpoint (Azure public cloud by default; the simulator's URL to try it out).
    #[arg(long, env = "FLOWLOG_ARM_ENDPOINT", default_value = "https://management.azure.com/")]
    pub arm_endpoint: Url,
    /// Microsoft Entra authority host; the token URL is `{host}{tenant}/oauth2/v2.0/token`.
    #[arg(long, env = "AZURE_AUTHORITY_HOST", default_value = "https://login.microsoftonline.com/")]
    pub authority_host: Url,
    /// Entra tenant of the service principal.
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub tenant_id: String,
    /// Application (client) ID of the service principal.
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub client_id: String,
    /// File holding the client secret. Without it the secret is read from AZURE_CLIENT_SECRET
    /// (there is deliberately no flag for the secret itself: flags show in process listings).
    #[arg(long, env = "AZURE_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// OAuth scope of the ARM token.
    #[arg(long, env = "FLOWLOG_TOKEN_SCOPE", default_value = "https://management.azure.com/.default")]
    pub token_scope: String,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "FLOWLOG_NAMESPACE")]
    pub namespace: Option<String>,
    /// Policies reconciled at the same time.
    #[arg(long, env = "FLOWLOG_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Poll interval for long-running ARM operations when Azure sends no Retry-After.
    #[arg(long, env = "FLOWLOG_LRO_POLL_INTERVAL", default_value = "10s", value_parser = super::parse_duration)]
    pub lro_poll_interval: Duration,
    /// Give up on a long-running ARM operation after this long.
    #[arg(long, env = "FLOWLOG_LRO_TIMEOUT", default_value = "10m", value_parser = super::parse_duration)]
    pub lro_timeout: Duration,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, env = "FLOWLOG_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader with a Lease so that several replicas can run and only one writes to Azure and status.
    #[arg(long, env = "FLOWLOG_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, env = "FLOWLOG_LEASE_NAME", default_value = "flowlog-operator")]
    pub lease_name: String,
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
}

impl Args {
    /// The operator-wide credential and an ARM client using it.
    pub fn arm_client(&self) -> anyhow::Result<(Arc<dyn TokenCredential>, ArmClient)> {
        let secret = match &self.client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the client secret from {}", path.display()))?
                .trim()
                .to_string(),
            None => std::env::var("AZURE_CLIENT_SECRET")
                .context("no client secret: set AZURE_CLIENT_SECRET or --client-secret-file")?,
        };
        let http = http_client()?;
        let credential: Arc<dyn TokenCredential> = CachedCredential::new(ClientSecretCredential::new(
            http.clone(),
            &self.authority_host,
            &self.tenant_id,
            &self.client_id,
            Secret::new(secret),
            &self.token_scope,
        )?);
        let poll =
            PollSettings { default_interval: self.lro_poll_interval, timeout: self.lro_timeout, ..Default::default() };
        Ok((credential.clone(), ArmClient::new(http, self.arm_endpoint.clone(), credential, poll)))
    }
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("flowlog-operator/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (credential, arm) = args.arm_client()?;
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let (addr, _server) = server::serve(args.metrics_addr, metrics.clone(), health.clone())
        .await
        .with_context(|| format!("listening on {} for metrics and probes", args.metrics_addr))?;
    info!(metrics = %addr, arm = %args.arm_endpoint, namespace = args.namespace.as_deref().unwrap_or("<all>"), "flowlog-operator starting");
    tokio::spawn(check_token(credential, health.clone()));

    let settings = Settings {
        namespace: args.namespace.clone(),
        concurrency: args.concurrency,
        handle_signals: true,
        status_heartbeat: args.status_heartbeat,
    };
    let ctx = Context::new(client.clone(), arm, metrics.clone(), health.clone(), settings);
    if !args.leader_elect {
        health.leading.store(true, Ordering::Relaxed);
        metrics.leader.set(1);
        controller::run(ctx).await;
        return Ok(());
    }

    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|host| format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    let manager = LeaseManagerBuilder::new(client, &args.lease_name)
        .with_namespace(&args.lease_namespace)
        .with_identity(&identity)
        .with_duration(args.lease_duration.as_secs().max(1))
        .with_grace(args.lease_grace.as_secs().max(1))
        .build()
        .await
        .context("setting up leader election")?;
    let (mut leader, lease_task) = manager.watch().await;
    info!(lease = %format!("{}/{}", args.lease_namespace, args.lease_name), %identity, "waiting to become leader");
    tokio::select! {
        became = async { leader.wait_for(|is_leader| *is_leader).await.map(|_| ()) } => {
            became.context("leader election stopped")?;
        }
        _ = shutdown_signal() => {
            info!("shutting down before becoming leader");
            return Ok(());
        }
    }
    info!(%identity, "became leader");
    health.leading.store(true, Ordering::Relaxed);
    metrics.leader.set(1);
    // Only the leader writes to Azure and to status. If the lease is lost or its task dies, exit at once: a
    // new leader re-reads Azure before writing, so nothing is lost, but two writers must never overlap.
    tokio::select! {
        _ = controller::run(ctx) => {
            info!("controller stopped; releasing the lease");
            drop(leader);
            if let Ok(Ok(manager)) = lease_task.await {
                if let Err(e) = manager.release().await {
                    warn!("releasing the lease: {e}");
                }
            }
            Ok(())
        }
        _ = async { leader.wait_for(|is_leader| !*is_leader).await.map(|_| ()) } => {
            bail!("lost the leader lease; exiting so that only one replica writes")
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

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

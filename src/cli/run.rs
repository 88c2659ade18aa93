use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use url::Url;

use crate::azure::credential::{CachedCredential, ClientSecretCredential, Secret};
use crate::azure::{ArmClient, PollSettings};
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
}

impl Args {
    pub fn arm_client(&self) -> anyhow::Result<ArmClient> {
        let secret = match &self.client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the client secret from {}", path.display()))?
                .trim()
                .to_string(),
            None => std::env::var("AZURE_CLIENT_SECRET")
                .context("no client secret: set AZURE_CLIENT_SECRET or --client-secret-file")?,
        };
        let http = http_client()?;
        let credential = ClientSecretCredential::new(
            http.clone(),
            &self.authority_host,
            &self.tenant_id,
            &self.client_id,
            Secret::new(secret),
            &self.token_scope,
        )?;
        let poll =
            PollSettings { default_interval: self.lro_poll_interval, timeout: self.lro_timeout, ..Default::default() };
        Ok(ArmClient::new(http, self.arm_endpoint.clone(), CachedCredential::new(credential), poll))
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
    let arm = args.arm_client()?;
    let client = kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    tracing::info!(arm = %args.arm_endpoint, namespace = args.namespace.as_deref().unwrap_or("<all>"), "starting controller");
    controller::run(
        Context::new(client, arm),
        Settings { namespace: args.namespace, concurrency: args.concurrency, handle_signals: true },
    )
    .await;
    Ok(())
}

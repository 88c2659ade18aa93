//! The Azure flags every command that talks to ARM shares: cloud, endpoints, credentials, ARM budgets and
//! long-running operations. Each can also be given by the environment variable shown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tracing::info;
use url::Url;

use crate::azure::credential::TokenCredential;
use crate::azure::storage::BlobReader;
use crate::azure::{
    ArmClient, ArmObserver, BucketSettings, Cloud, CredentialConfig, CredentialKind, PollSettings, ThrottleSettings,
};

/// Azure settings.
#[derive(clap::Args)]
pub struct AzureArgs {
    /// Azure cloud: `public`, `usgovernment` or `china` (sets the authority host, ARM endpoint and token
    /// audience; --arm-endpoint and --authority-host override single endpoints).
    #[arg(long, env = "FLOWLOG_CLOUD", default_value = "public")]
    pub cloud: String,
    /// ARM endpoint (default: the cloud's; the simulator's URL to try the operator out).
    #[arg(long, env = "FLOWLOG_ARM_ENDPOINT")]
    pub arm_endpoint: Option<Url>,
    /// Microsoft Entra authority host (default: the cloud's); the token URL is `{host}{tenant}/oauth2/v2.0/token`.
    #[arg(long, env = "AZURE_AUTHORITY_HOST")]
    pub authority_host: Option<Url>,
    /// OAuth scope of ARM tokens (default: the cloud's, e.g. `https://management.azure.com/.default`), for
    /// custom clouds whose token audience is not their ARM endpoint.
    #[arg(long, env = "FLOWLOG_TOKEN_SCOPE")]
    pub token_scope: Option<String>,
    /// How the operator authenticates: `client-secret`, `workload-identity` or `managed-identity`. Default: a
    /// client secret when one is configured, else workload identity when AZURE_FEDERATED_TOKEN_FILE is set,
    /// else managed identity.
    #[arg(long, env = "FLOWLOG_AUTH")]
    pub auth: Option<CredentialKind>,
    /// Entra tenant of the service principal (client secret, workload identity).
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub tenant_id: Option<String>,
    /// Application (client) ID: of the service principal, or of a user-assigned managed identity.
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub client_id: Option<String>,
    /// File holding the client secret. Without it the secret is read from AZURE_CLIENT_SECRET
    /// (there is deliberately no flag for the secret itself: flags show in process listings).
    #[arg(long, env = "AZURE_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Workload identity: the projected service-account token file (the AKS webhook sets it).
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub federated_token_file: Option<PathBuf>,
    /// Managed identity: the instance metadata service's base URL.
    #[arg(long, env = "FLOWLOG_IMDS_ENDPOINT")]
    pub imds_endpoint: Option<Url>,
    /// ARM read budget per subscription, `BURST/PER_SECOND` (ARM's published limit: 250/25).
    #[arg(long, env = "FLOWLOG_ARM_READ_BUDGET", default_value = "250/25")]
    pub arm_read_budget: BucketSettings,
    /// ARM write budget per subscription, `BURST/PER_SECOND` (ARM's published limit: 200/10).
    #[arg(long, env = "FLOWLOG_ARM_WRITE_BUDGET", default_value = "200/10")]
    pub arm_write_budget: BucketSettings,
    /// ARM delete budget per subscription, `BURST/PER_SECOND` (ARM's published limit: 200/10).
    #[arg(long, env = "FLOWLOG_ARM_DELETE_BUDGET", default_value = "200/10")]
    pub arm_delete_budget: BucketSettings,
    /// Poll interval for long-running ARM operations when Azure sends no Retry-After.
    #[arg(long, env = "FLOWLOG_LRO_POLL_INTERVAL", default_value = "10s", value_parser = super::parse_duration)]
    pub lro_poll_interval: Duration,
    /// Give up on a long-running ARM operation after this long.
    #[arg(long, env = "FLOWLOG_LRO_TIMEOUT", default_value = "10m", value_parser = super::parse_duration)]
    pub lro_timeout: Duration,
    /// PEM file of CA certificates to trust besides the system's, for every Azure request (a private cloud's or a
    /// TLS-inspecting proxy's CA).
    #[arg(long, env = "FLOWLOG_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,
}

impl AzureArgs {
    /// The cloud, with any endpoint overrides.
    pub fn cloud(&self) -> anyhow::Result<Cloud> {
        let mut cloud = Cloud::from_name(&self.cloud)?;
        if let Some(arm) = &self.arm_endpoint {
            cloud.arm_endpoint = arm.clone();
        }
        if let Some(host) = &self.authority_host {
            cloud.authority_host = host.clone();
        }
        if let Some(scope) = &self.token_scope {
            cloud.token_scope = scope.clone();
        }
        Ok(cloud)
    }

    /// Refuses values that parse but cannot work: endpoints that are not plain HTTP(S) URLs of a host (user info
    /// would put a password in every log line), a poll interval that would hot-loop or never poll, a timeout of
    /// nothing. Each error names the flag and its environment variable.
    pub fn check(&self) -> anyhow::Result<()> {
        let endpoints = [
            ("--arm-endpoint", "FLOWLOG_ARM_ENDPOINT", &self.arm_endpoint),
            ("--authority-host", "AZURE_AUTHORITY_HOST", &self.authority_host),
            ("--imds-endpoint", "FLOWLOG_IMDS_ENDPOINT", &self.imds_endpoint),
        ];
        for (flag, env, url) in endpoints {
            let Some(url) = url else { continue };
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
                anyhow::bail!("{flag} ({env}) must be an http:// or https:// URL of a host");
            }
            if !url.username().is_empty() || url.password().is_some() {
                anyhow::bail!("{flag} ({env}) must not carry a user name or password");
            }
        }
        let between = |flag: &str, env: &str, value: Duration, min: Duration, max: Duration| {
            if value < min || value > max {
                anyhow::bail!("{flag} ({env}) must be between {min:?} and {max:?}");
            }
            Ok(())
        };
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
        between("--lro-poll-interval", "FLOWLOG_LRO_POLL_INTERVAL", self.lro_poll_interval, ms(100), s(3600))?;
        between("--lro-timeout", "FLOWLOG_LRO_TIMEOUT", self.lro_timeout, s(1), s(24 * 3600))
    }

    /// The HTTP client of every Azure request: [`crate::azure::http_client`], trusting `--extra-ca-file`.
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        let pem = match &self.extra_ca_file {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading --extra-ca-file {}", path.display()))?)
            }
            None => None,
        };
        crate::azure::http_client_trusting(pem.as_deref()).context("--extra-ca-file")
    }

    /// The credential and an ARM client using it, reporting each request to `observer`.
    pub fn arm_client(
        &self,
        observer: Arc<dyn ArmObserver>,
    ) -> anyhow::Result<(Cloud, Arc<dyn TokenCredential>, ArmClient)> {
        self.check()?;
        let cloud = self.cloud()?;
        let config = self.credential_config()?;
        let http = self.http_client()?;
        let credential = config.build(http.clone(), &cloud).context("Azure credentials")?;
        let poll =
            PollSettings { default_interval: self.lro_poll_interval, timeout: self.lro_timeout, ..Default::default() };
        let throttle = ThrottleSettings {
            reads: self.arm_read_budget,
            writes: self.arm_write_budget,
            deletes: self.arm_delete_budget,
            ..Default::default()
        };
        let arm = ArmClient::builder(http, cloud.arm_endpoint.clone(), credential.clone())
            .poll(poll)
            .throttle(throttle)
            .observer(observer)
            .build();
        info!(cloud = %cloud.name, auth = %config.kind(), "Azure credentials configured");
        Ok((cloud, credential, arm))
    }

    /// A blob reader with the same credentials, for the storage audience, trusting blob endpoints of the cloud and
    /// those on `storage_origin`.
    pub fn blob_reader(&self, cloud: &Cloud, storage_origin: Option<Url>) -> anyhow::Result<BlobReader> {
        let http = self.http_client()?;
        let credential =
            self.credential_config()?.build(http.clone(), &cloud.for_storage()).context("Azure credentials")?;
        Ok(BlobReader::new(http, credential, cloud, storage_origin))
    }

    /// The credential configuration from flags and the environment.
    fn credential_config(&self) -> anyhow::Result<CredentialConfig> {
        // Flags win over the environment; what has no flag comes from the environment.
        let flag = |name: &str| -> Option<String> {
            let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
            match name {
                "AZURE_TENANT_ID" => self.tenant_id.clone(),
                "AZURE_CLIENT_ID" => self.client_id.clone(),
                "AZURE_CLIENT_SECRET_FILE" => path(&self.client_secret_file),
                "AZURE_FEDERATED_TOKEN_FILE" => path(&self.federated_token_file),
                "AZURE_AUTHORITY_HOST" => self.authority_host.as_ref().map(Url::to_string),
                "FLOWLOG_IMDS_ENDPOINT" => self.imds_endpoint.as_ref().map(Url::to_string),
                _ => None,
            }
            .or_else(|| std::env::var(name).ok())
        };
        // A tenant without a federated token file means a service principal with a client secret (managed
        // identities have no tenant to name): fail with what is missing rather than fall back to IMDS.
        let kind = self.auth.or_else(|| {
            (flag("AZURE_TENANT_ID").is_some() && flag("AZURE_FEDERATED_TOKEN_FILE").is_none())
                .then_some(CredentialKind::ClientSecret)
        });
        CredentialConfig::from_lookup(kind, flag).context("Azure credentials")
    }
}

/// The HTTP client of every ARM and token request ([`crate::azure::http_client`]: redirects only within the origin
/// asked).
#[cfg(feature = "demo")]
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(crate::azure::http_client()?)
}

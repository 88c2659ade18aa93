//! The operator's credentials as the tests build them: the simulator's built-in service principal (against the
//! simulator or a scripted ARM), and managed identity with fast retries.

use std::sync::Arc;
use std::time::Duration;

use flowlog_operator::azure::credential::{
    CachedCredential, ClientSecretCredential, ImdsRetry, ManagedIdentityCredential, ManagedIdentityId, Secret,
    TokenCredential,
};
use flowlog_simulator as simulator;
use url::Url;

use super::sim::ARM_SCOPE;

/// `base` as the ARM endpoint and authority host of a client: with one trailing slash.
pub fn endpoint(base: &str) -> Url {
    Url::parse(&format!("{}/", base.trim_end_matches('/'))).unwrap()
}

/// The operator's credential for the built-in service principal with `secret` (the right one is
/// [`simulator::DEFAULT_CLIENT_SECRET`]), getting its tokens from `base`.
pub fn secret_credential(base: &str, secret: &str) -> Arc<dyn TokenCredential> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    CachedCredential::new(
        ClientSecretCredential::new(
            reqwest::Client::new(),
            &endpoint(base),
            simulator::DEFAULT_TENANT_ID,
            simulator::DEFAULT_CLIENT_ID,
            Secret::new(secret),
            ARM_SCOPE,
        )
        .unwrap(),
    )
}

/// A managed-identity credential for `identity` against the IMDS at `base`, retrying within milliseconds.
pub fn imds_credential(base: &Url, identity: ManagedIdentityId) -> ManagedIdentityCredential {
    let retry = ImdsRetry {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    ManagedIdentityCredential::new(reqwest::Client::new(), base, identity, "https://management.azure.com/")
        .unwrap()
        .with_retry(retry)
}

//! Managed identity through the instance metadata service (IMDS):
//! `GET {endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…[&client_id=…]` with the
//! header `Metadata: true`. IMDS answers 404 (identity not yet available), 429 and 5xx transiently; those are
//! retried here with exponential backoff and jitter, a bounded number of times.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use url::Url;

use super::{AccessToken, Secret, TokenCredential};
use crate::azure::error::ArmError;
use crate::azure::model::{ImdsTokenResponse, TokenErrorResponse};
use crate::azure::observer::{ArmObserver, NoopObserver};

/// The IMDS address on every Azure VM (and AKS node).
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";

const IMDS_API_VERSION: &str = "2018-02-01";

/// Which managed identity to ask for. `System` is the VM's system-assigned identity (or the only
/// user-assigned one); the others pick a user-assigned identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ManagedIdentityId {
    #[default]
    System,
    ClientId(String),
    ObjectId(String),
    /// The identity's ARM resource ID (`mi_res_id`).
    ResourceId(String),
}

/// Retries of IMDS's transient answers (404, 429, 5xx).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdsRetry {
    /// Requests in all, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled before each further one.
    pub initial_backoff: Duration,
    /// Upper bound on one wait (a longer `Retry-After` is cut to this).
    pub max_backoff: Duration,
}

impl Default for ImdsRetry {
    fn default() -> Self {
        Self { max_attempts: 5, initial_backoff: Duration::from_millis(500), max_backoff: Duration::from_secs(8) }
    }
}

pub struct ManagedIdentityCredential {
    http: reqwest::Client,
    token_url: Url,
    identity: ManagedIdentityId,
    resource: String,
    retry: ImdsRetry,
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityCredential")
            .field("token_url", &self.token_url.as_str())
            .field("identity", &self.identity)
            .field("resource", &self.resource)
            .finish()
    }
}

impl ManagedIdentityCredential {
    /// `endpoint` is the IMDS base URL ([`DEFAULT_IMDS_ENDPOINT`] on Azure); `resource` the ARM audience in
    /// resource form (`https://management.azure.com/`, see [`crate::azure::Cloud::imds_resource`]).
    pub fn new(
        http: reqwest::Client,
        endpoint: &Url,
        identity: ManagedIdentityId,
        resource: &str,
    ) -> Result<Self, ArmError> {
        match &identity {
            ManagedIdentityId::ClientId(id) => super::check_client_id(id, "the managed identity's client ID")?,
            ManagedIdentityId::ObjectId(id) if !super::is_guid(id) => {
                return Err(ArmError::Config("the managed identity's object ID is not a GUID".into()));
            }
            _ => {}
        }
        let mut token_url = super::with_trailing_slash(endpoint)
            .join("metadata/identity/oauth2/token")
            .map_err(|e| ArmError::Config(format!("IMDS endpoint {endpoint}: {e}")))?;
        {
            let mut query = token_url.query_pairs_mut();
            query.append_pair("api-version", IMDS_API_VERSION).append_pair("resource", resource);
            match &identity {
                ManagedIdentityId::System => {}
                ManagedIdentityId::ClientId(id) => {
                    query.append_pair("client_id", id);
                }
                ManagedIdentityId::ObjectId(id) => {
                    query.append_pair("object_id", id);
                }
                ManagedIdentityId::ResourceId(id) => {
                    query.append_pair("mi_res_id", id);
                }
            }
        }
        Ok(Self { http, token_url, identity, resource: resource.to_string(), retry: ImdsRetry::default() })
    }

    pub fn with_retry(mut self, retry: ImdsRetry) -> Self {
        self.retry = retry;
        self
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    async fn attempt(&self, observer: &dyn ArmObserver) -> Result<AccessToken, (ArmError, Option<Duration>)> {
        let started = Instant::now();
        let response = match self.http.get(self.token_url.clone()).header("Metadata", "true").send().await {
            Ok(response) => response,
            Err(e) => {
                observer.request("token", 0, started.elapsed());
                return Err((ArmError::transport(e), None));
            }
        };
        let status = response.status();
        observer.request("token", status.as_u16(), started.elapsed());
        crate::azure::boundary::answered_by(&self.token_url, &response, "IMDS token").map_err(|e| (e, None))?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = crate::azure::boundary::body(response, crate::azure::boundary::MAX_TOKEN_BODY)
            .await
            .map_err(|e| (e, None))?;
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<TokenErrorResponse>(&body) {
                Ok(e) => (e.error, e.error_description),
                Err(_) => {
                    ("imds_request_failed".to_string(), String::from_utf8_lossy(&body).chars().take(512).collect())
                }
            };
            let message = format!("managed identity (IMDS): {message}");
            return Err((ArmError::Authentication { status: status.as_u16(), code, message }, retry_after));
        }
        let parsed: ImdsTokenResponse = serde_json::from_slice(&body)
            .map_err(|e| (ArmError::InvalidResponse(format!("IMDS answered an unreadable token body: {e}")), None))?;
        let expires_in = parsed.expires_in.trim().parse::<u64>().map_err(|_| {
            (ArmError::InvalidResponse(format!("IMDS answered expires_in {:?}, not seconds", parsed.expires_in)), None)
        })?;
        Ok(AccessToken {
            token: Secret::new(parsed.access_token),
            expires_at: started + Duration::from_secs(expires_in),
        })
    }
}

/// IMDS's documented transient answers.
fn retryable(error: &ArmError) -> bool {
    matches!(error, ArmError::Authentication { status, .. } if *status == 404 || *status == 429 || *status >= 500)
}

#[async_trait]
impl TokenCredential for ManagedIdentityCredential {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        self.token_with(&NoopObserver).await
    }

    async fn token_with(&self, observer: &dyn ArmObserver) -> Result<AccessToken, ArmError> {
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(observer).await {
                Ok(token) => return Ok(token),
                Err((error, retry_after)) => {
                    if !retryable(&error) || attempt >= self.retry.max_attempts.max(1) {
                        return Err(error);
                    }
                    let jitter = backoff.mul_f64(fastrand::f64() * 0.2);
                    let wait = retry_after.unwrap_or(backoff + jitter).min(self.retry.max_backoff);
                    tracing::debug!(attempt, ?wait, "IMDS answered transiently; retrying: {error}");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_carries_api_version_resource_and_identity() {
        let endpoint = Url::parse(DEFAULT_IMDS_ENDPOINT).unwrap();
        let http = reqwest::Client::new();
        let system = ManagedIdentityCredential::new(
            http.clone(),
            &endpoint,
            ManagedIdentityId::System,
            "https://management.azure.com/",
        )
        .unwrap();
        assert_eq!(
            system.token_url().as_str(),
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
        );
        let user = ManagedIdentityCredential::new(
            http.clone(),
            &endpoint,
            ManagedIdentityId::ClientId(CLIENT.into()),
            "https://management.azure.com/",
        )
        .unwrap();
        assert!(user.token_url().as_str().ends_with(&format!("&client_id={CLIENT}")), "{}", user.token_url());
        for (identity, what) in [
            (ManagedIdentityId::ClientId("abc&resource=https://evil.example/".into()), "not a client ID"),
            (ManagedIdentityId::ClientId(String::new()), "not a client ID"),
            (ManagedIdentityId::ObjectId("abc".into()), "not a GUID"),
        ] {
            let err = ManagedIdentityCredential::new(http.clone(), &endpoint, identity, "r").unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    const CLIENT: &str = "33333333-3333-3333-3333-333333333333";
}

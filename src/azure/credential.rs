//! Access tokens for ARM. One trait ([`TokenCredential`]), one cache ([`CachedCredential`]) and three sources:
//! the client-credentials flow with a client secret ([`ClientSecretCredential`]) or with a federated token
//! file (workload identity, [`WorkloadIdentityCredential`]), and the instance metadata service (managed
//! identity, [`ManagedIdentityCredential`]). [`CredentialConfig`] builds one from the environment or flags,
//! [`credential_from_secret_data`] from a Kubernetes Secret.

mod config;
mod ids;
mod managed_identity;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use url::Url;

use super::error::{ArmError, shown_url};
use super::model::{TokenErrorResponse, TokenResponse};
use super::observer::{ArmObserver, NoopObserver};

pub use config::{
    CredentialConfig, CredentialKind, SECRET_KEY_CLIENT_ID, SECRET_KEY_CLIENT_SECRET, SECRET_KEY_SERVICE_ACCOUNT,
    SECRET_KEY_TENANT_ID, credential_from_secret_data,
};
pub use ids::{check_client_id, check_tenant_id, is_guid};
pub use managed_identity::{DEFAULT_IMDS_ENDPOINT, ImdsRetry, ManagedIdentityCredential, ManagedIdentityId};

/// A value that must never reach logs, events, status or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The only way to read the value: call sites that do are easy to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A bearer token and when it stops being usable.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: Secret,
    pub expires_at: Instant,
}

/// Something that produces ARM access tokens.
///
/// Implementations that make HTTP requests override [`TokenCredential::token_with`] to report them to the
/// client's [`ArmObserver`] (operation `token`); `token()` is what everything else calls.
#[async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    async fn token(&self) -> Result<AccessToken, ArmError>;

    /// Like [`TokenCredential::token`], reporting every HTTP request made to `observer`.
    async fn token_with(&self, observer: &dyn ArmObserver) -> Result<AccessToken, ArmError> {
        let _ = observer;
        self.token().await
    }
}

/// Refresh this long before expiry so that a token never expires in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Wraps a credential with a cache: the token is reused until shortly before it expires (five minutes, or
/// half its lifetime for short-lived tokens), and only one refresh runs at a time (callers wait on the lock
/// instead of stampeding the token endpoint).
#[derive(Debug)]
pub struct CachedCredential<C> {
    inner: C,
    cached: Mutex<Option<AccessToken>>,
}

impl<C: TokenCredential> CachedCredential<C> {
    pub fn new(inner: C) -> Arc<Self> {
        Arc::new(Self { inner, cached: Mutex::new(None) })
    }

    /// The wrapped credential.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

#[async_trait]
impl<C: TokenCredential> TokenCredential for CachedCredential<C> {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        self.token_with(&NoopObserver).await
    }

    async fn token_with(&self, observer: &dyn ArmObserver) -> Result<AccessToken, ArmError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            let lifetime_left = token.expires_at.saturating_duration_since(Instant::now());
            if lifetime_left > REFRESH_MARGIN.min(lifetime_left / 2 + Duration::from_secs(1)) {
                return Ok(token.clone());
            }
        }
        let fresh = self.inner.token_with(observer).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

/// `{authority_host}{tenant}/oauth2/v2.0/token`, whether or not the host ends with `/`. The tenant must be a tenant
/// ID ([`check_tenant_id`]); and, in depth, the URL built must still be on the authority host (same scheme, host and
/// port) and under its path, so that no tenant value can send the client secret anywhere else.
pub fn token_url(authority_host: &Url, tenant_id: &str) -> Result<Url, ArmError> {
    check_tenant_id(tenant_id, "the tenant ID")?;
    let base = with_trailing_slash(authority_host);
    let url = base.join(&format!("{tenant_id}/oauth2/v2.0/token")).map_err(|e| {
        ArmError::Config(format!("authority host {} with the tenant ID: {e}", shown_url(authority_host)))
    })?;
    if !under(&base, &url) {
        return Err(ArmError::Config(format!(
            "the token URL would leave the authority host {}; refusing it",
            shown_url(authority_host)
        )));
    }
    Ok(url)
}

/// Whether `url` is on `base`'s scheme, host and port, and under its path.
fn under(base: &Url, url: &Url) -> bool {
    url.origin() == base.origin() && url.path().starts_with(base.path())
}

pub(crate) fn with_trailing_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// The OAuth 2.0 client-credentials flow with a client secret against
/// `{authority_host}{tenant}/oauth2/v2.0/token`.
pub struct ClientSecretCredential {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scope: String,
}

impl fmt::Debug for ClientSecretCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .finish()
    }
}

impl ClientSecretCredential {
    pub fn new(
        http: reqwest::Client,
        authority_host: &Url,
        tenant_id: &str,
        client_id: &str,
        client_secret: Secret,
        scope: &str,
    ) -> Result<Self, ArmError> {
        let token_url = token_url(authority_host, tenant_id)?;
        check_client_id(client_id, "the client ID")?;
        Ok(Self { http, token_url, client_id: client_id.to_string(), client_secret, scope: scope.to_string() })
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }
}

#[async_trait]
impl TokenCredential for ClientSecretCredential {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        self.token_with(&NoopObserver).await
    }

    async fn token_with(&self, observer: &dyn ArmObserver) -> Result<AccessToken, ArmError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        request_token(&self.http, &self.token_url, &form, &self.client_secret, observer).await
    }
}

/// The `client_assertion_type` of a federated (workload identity) token.
pub const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Workload identity: the client-credentials flow with the Kubernetes service-account token that the
/// workload identity webhook projects into the pod (`AZURE_FEDERATED_TOKEN_FILE`) as `client_assertion`.
/// The kubelet rotates that file, so it is read again on every refresh.
pub struct WorkloadIdentityCredential {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    assertions: Arc<dyn AssertionSource>,
    scope: String,
}

/// Where workload identity's client assertion (a Kubernetes service-account token) comes from, asked at every token
/// refresh: a projected token file ([`TokenFile`], re-read because kubelet rotates it), or the TokenRequest API for a
/// ServiceAccount of a credentials Secret's namespace (the controller's).
#[async_trait]
pub trait AssertionSource: Send + Sync + fmt::Debug {
    async fn assertion(&self) -> Result<Secret, ArmError>;
}

/// A projected service-account token file (the AKS webhook mounts one).
#[derive(Clone, Debug)]
pub struct TokenFile(pub PathBuf);

#[async_trait]
impl AssertionSource for TokenFile {
    async fn assertion(&self) -> Result<Secret, ArmError> {
        let text = tokio::fs::read_to_string(&self.0)
            .await
            .map_err(|e| ArmError::Config(format!("reading the federated token file {}: {e}", self.0.display())))?;
        let assertion = text.trim();
        if assertion.is_empty() {
            return Err(ArmError::Config(format!("the federated token file {} is empty", self.0.display())));
        }
        Ok(Secret::new(assertion))
    }
}

impl fmt::Debug for WorkloadIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentityCredential")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("assertions", &self.assertions)
            .field("scope", &self.scope)
            .finish()
    }
}

impl WorkloadIdentityCredential {
    /// With the token file `token_file`.
    pub fn new(
        http: reqwest::Client,
        authority_host: &Url,
        tenant_id: &str,
        client_id: &str,
        token_file: impl Into<PathBuf>,
        scope: &str,
    ) -> Result<Self, ArmError> {
        let assertions = Arc::new(TokenFile(token_file.into()));
        Self::with_assertions(http, authority_host, tenant_id, client_id, assertions, scope)
    }

    /// With the assertions of `assertions`.
    pub fn with_assertions(
        http: reqwest::Client,
        authority_host: &Url,
        tenant_id: &str,
        client_id: &str,
        assertions: Arc<dyn AssertionSource>,
        scope: &str,
    ) -> Result<Self, ArmError> {
        let token_url = token_url(authority_host, tenant_id)?;
        check_client_id(client_id, "the client ID")?;
        Ok(Self { http, token_url, client_id: client_id.to_string(), assertions, scope: scope.to_string() })
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    async fn assertion(&self) -> Result<Secret, ArmError> {
        self.assertions.assertion().await
    }
}

#[async_trait]
impl TokenCredential for WorkloadIdentityCredential {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        self.token_with(&NoopObserver).await
    }

    async fn token_with(&self, observer: &dyn ArmObserver) -> Result<AccessToken, ArmError> {
        let assertion = self.assertion().await?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion.expose()),
            ("scope", self.scope.as_str()),
        ];
        request_token(&self.http, &self.token_url, &form, &assertion, observer).await
    }
}

/// One request to an Entra token endpoint. `secret` is scrubbed from anything that reaches an error.
async fn request_token(
    http: &reqwest::Client,
    token_url: &Url,
    form: &[(&str, &str)],
    secret: &Secret,
    observer: &dyn ArmObserver,
) -> Result<AccessToken, ArmError> {
    let started = Instant::now();
    let response = match http.post(token_url.clone()).form(form).send().await {
        Ok(response) => response,
        Err(e) => {
            observer.request("token", 0, started.elapsed());
            return Err(redact_error(ArmError::transport(e), secret));
        }
    };
    let status = response.status();
    observer.request("token", status.as_u16(), started.elapsed());
    super::boundary::answered_by(token_url, &response, "token")?;
    let body =
        super::boundary::body(response, super::boundary::MAX_TOKEN_BODY).await.map_err(|e| redact_error(e, secret))?;
    if !status.is_success() {
        // Entra's error body names the cause (AADSTS code); a body that is not Entra's is shown trimmed, and
        // scrubbed in case something between us and Entra echoes the request.
        let (code, message) = match serde_json::from_slice::<TokenErrorResponse>(&body) {
            Ok(e) => (e.error, e.error_description),
            Err(_) => ("token_request_failed".to_string(), String::from_utf8_lossy(&body).chars().take(512).collect()),
        };
        return Err(ArmError::Authentication {
            status: status.as_u16(),
            code: redact(&code, secret),
            message: redact(&message, secret),
        });
    }
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| ArmError::InvalidResponse(format!("token endpoint answered an unreadable body: {e}")))?;
    Ok(AccessToken {
        token: Secret::new(parsed.access_token),
        expires_at: started + Duration::from_secs(parsed.expires_in),
    })
}

/// Replaces every occurrence of the secret (and its URL-encoded form) by `[redacted]`.
pub(crate) fn redact(text: &str, secret: &Secret) -> String {
    let value = secret.expose();
    if value.is_empty() {
        return text.to_string();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    text.replace(value, "[redacted]").replace(&encoded, "[redacted]")
}

fn redact_error(error: ArmError, secret: &Secret) -> ArmError {
    match error {
        ArmError::Transport(message) => ArmError::Transport(redact(&message, secret)),
        other => other,
    }
}

#[cfg(test)]
mod tests;

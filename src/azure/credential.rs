//! Access tokens for ARM. One trait, one cache; the client-credentials flow with a client secret is the
//! first source (workload identity and managed identity plug in behind the same trait).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use url::Url;

use super::error::ArmError;
use super::model::{TokenErrorResponse, TokenResponse};

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
#[async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    async fn token(&self) -> Result<AccessToken, ArmError>;
}

/// Refresh this long before expiry so that a token never expires in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Wraps a credential with a cache: the token is reused until shortly before it expires, and only one
/// refresh runs at a time (callers wait on the lock instead of stampeding the token endpoint).
#[derive(Debug)]
pub struct CachedCredential<C> {
    inner: C,
    cached: Mutex<Option<AccessToken>>,
}

impl<C: TokenCredential> CachedCredential<C> {
    pub fn new(inner: C) -> Arc<Self> {
        Arc::new(Self { inner, cached: Mutex::new(None) })
    }
}

#[async_trait]
impl<C: TokenCredential> TokenCredential for CachedCredential<C> {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            let lifetime_left = token.expires_at.saturating_duration_since(Instant::now());
            if lifetime_left > REFRESH_MARGIN.min(lifetime_left / 2 + Duration::from_secs(1)) {
                return Ok(token.clone());
            }
        }
        let fresh = self.inner.token().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

/// The OAuth 2.0 client-credentials flow with a client secret against
/// `{authority_host}/{tenant}/oauth2/v2.0/token`.
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
        let token_url = authority_host
            .join(&format!("{tenant_id}/oauth2/v2.0/token"))
            .map_err(|e| ArmError::Config(format!("authority host {authority_host} with tenant {tenant_id:?}: {e}")))?;
        Ok(Self { http, token_url, client_id: client_id.to_string(), client_secret, scope: scope.to_string() })
    }
}

#[async_trait]
impl TokenCredential for ClientSecretCredential {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        let started = Instant::now();
        let response = self.http.post(self.token_url.clone()).form(&form).send().await.map_err(ArmError::transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(ArmError::transport)?;
        if !status.is_success() {
            // AAD's error body names the cause (AADSTS code) without echoing the secret.
            let (code, message) = match serde_json::from_slice::<TokenErrorResponse>(&body) {
                Ok(e) => (e.error, e.error_description),
                Err(_) => {
                    ("token_request_failed".to_string(), String::from_utf8_lossy(&body).chars().take(512).collect())
                }
            };
            return Err(ArmError::Authentication { status: status.as_u16(), code, message });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| ArmError::InvalidResponse(format!("token endpoint answered an unreadable body: {e}")))?;
        Ok(AccessToken {
            token: Secret::new(parsed.access_token),
            expires_at: started + Duration::from_secs(parsed.expires_in),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicU32,
        lifetime: Duration,
    }

    #[async_trait]
    impl TokenCredential for Counting {
        async fn token(&self) -> Result<AccessToken, ArmError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(AccessToken { token: Secret::new(format!("t{n}")), expires_at: Instant::now() + self.lifetime })
        }
    }

    #[tokio::test]
    async fn reuses_a_fresh_token_and_refreshes_once_for_concurrent_callers() {
        let cred = CachedCredential::new(Counting { lifetime: Duration::from_secs(3600), ..Default::default() });
        let tokens = futures::future::join_all((0..8).map(|_| cred.token())).await;
        assert!(tokens.iter().all(|t| t.as_ref().unwrap().token.expose() == "t0"));
        assert_eq!(cred.inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_a_token_close_to_expiry() {
        let cred = CachedCredential::new(Counting { lifetime: Duration::from_millis(500), ..Default::default() });
        cred.token().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cred.token().await.unwrap().token.expose(), "t1");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let cred = ClientSecretCredential::new(
            reqwest::Client::new(),
            &Url::parse("https://login.example/").unwrap(),
            "tenant",
            "client",
            Secret::new("hunter2"),
            "https://management.azure.com/.default",
        )
        .unwrap();
        let shown = format!("{cred:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("client"));
    }
}

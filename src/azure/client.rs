//! The ARM client: authenticated requests with a per-subscription budget, bounded retries of transient
//! failures, long-running operations, and a per-target lock around every write. The calls themselves are in
//! `calls.rs` (Network Watcher, flow logs, resources, providers) and `discovery.rs`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use reqwest::{Method, Response, header::HeaderMap};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use super::credential::TokenCredential;
use super::error::ArmError;
use super::model::ErrorResponse;
use super::observer::{ArmObserver, NoopObserver};
use super::throttle::{Budgets, RequestClass, ThrottleSettings};
use super::watchers::WatcherCache;

/// How long-running operations are polled.
#[derive(Clone, Debug)]
pub struct PollSettings {
    /// Wait between polls when Azure sends no `Retry-After`.
    pub default_interval: Duration,
    /// Upper bound on one wait, whatever `Retry-After` says.
    pub max_interval: Duration,
    /// Give up on an operation after this long.
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(10),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(600),
        }
    }
}

/// In-client retries of one HTTP request that failed transiently (429, 5xx, 408, connection trouble,
/// `AnotherOperationInProgress`, `RetryableErrorDueToAnotherOperation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    /// Requests in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Backoff before the first retry when the server sends no `Retry-After`; doubled each time, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff.
    pub max_backoff: Duration,
    /// The longest the client sleeps at once, for a `Retry-After` or its own budget. A longer wait is not
    /// slept: the error is returned with [`ArmError::retry_after`] so that the caller can requeue instead of
    /// holding a worker.
    pub max_wait: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            max_wait: Duration::from_secs(10),
        }
    }
}

/// What clients derived from one another share: connections, budgets, the watcher cache, the write locks.
pub(super) struct Shared {
    pub(super) http: reqwest::Client,
    pub(super) endpoint: Url,
    pub(super) poll: PollSettings,
    pub(super) retry: RetrySettings,
    pub(super) budgets: Budgets,
    pub(super) discovery: WatcherCache,
    locks: WriteLocks,
    pub(super) observer: Arc<dyn ArmObserver>,
}

/// The calls the operator makes against one ARM endpoint. Cloning is cheap and shares everything;
/// [`ArmClient::with_credential`] shares everything but the credential.
#[derive(Clone)]
pub struct ArmClient {
    pub(super) shared: Arc<Shared>,
    pub(super) credential: Arc<dyn TokenCredential>,
    /// Unique per credential in this process: what one credential read must not be served to another.
    scope: u64,
}

/// The next [`ArmClient::scope`].
fn next_scope() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.shared.endpoint.as_str())
            .field("credential", &self.credential)
            .field("poll", &self.shared.poll)
            .field("retry", &self.shared.retry)
            .finish_non_exhaustive()
    }
}

/// Builds an [`ArmClient`]; every setting has a default.
pub struct ArmClientBuilder {
    http: reqwest::Client,
    endpoint: Url,
    credential: Arc<dyn TokenCredential>,
    poll: PollSettings,
    retry: RetrySettings,
    throttle: ThrottleSettings,
    observer: Arc<dyn ArmObserver>,
    discovery_ttl: Duration,
}

impl ArmClientBuilder {
    pub fn poll(mut self, poll: PollSettings) -> Self {
        self.poll = poll;
        self
    }
    pub fn retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }
    pub fn throttle(mut self, throttle: ThrottleSettings) -> Self {
        self.throttle = throttle;
        self
    }
    pub fn observer(mut self, observer: Arc<dyn ArmObserver>) -> Self {
        self.observer = observer;
        self
    }
    /// How long the list of a subscription's Network Watchers is reused (default 10 minutes).
    pub fn discovery_ttl(mut self, ttl: Duration) -> Self {
        self.discovery_ttl = ttl;
        self
    }
    pub fn build(self) -> ArmClient {
        ArmClient {
            shared: Arc::new(Shared {
                http: self.http,
                endpoint: super::credential::with_trailing_slash(&self.endpoint),
                poll: self.poll,
                retry: self.retry,
                budgets: Budgets::new(self.throttle),
                discovery: WatcherCache::new(self.discovery_ttl),
                locks: WriteLocks::default(),
                observer: self.observer,
            }),
            credential: self.credential,
            scope: next_scope(),
        }
    }
}

impl ArmClient {
    /// A client with default retry, throttle and discovery settings and no observer.
    pub fn new(http: reqwest::Client, endpoint: Url, credential: Arc<dyn TokenCredential>, poll: PollSettings) -> Self {
        Self::builder(http, endpoint, credential).poll(poll).build()
    }

    pub fn builder(http: reqwest::Client, endpoint: Url, credential: Arc<dyn TokenCredential>) -> ArmClientBuilder {
        ArmClientBuilder {
            http,
            endpoint,
            credential,
            poll: PollSettings::default(),
            retry: RetrySettings::default(),
            throttle: ThrottleSettings::default(),
            observer: Arc::new(NoopObserver),
            discovery_ttl: Duration::from_secs(600),
        }
    }

    /// The same client with another credential (a policy's `credentialsRef`): it shares the HTTP client,
    /// request budgets, Network Watcher cache and per-target write locks with `self`.
    pub fn with_credential(&self, credential: Arc<dyn TokenCredential>) -> ArmClient {
        ArmClient { shared: self.shared.clone(), credential, scope: next_scope() }
    }

    /// This client's credential scope: the same for clones, another for [`ArmClient::with_credential`]. Caches of
    /// what Azure answered are kept per scope (two credentials may not see the same resources).
    pub fn scope(&self) -> u64 {
        self.scope
    }

    pub fn credential(&self) -> &Arc<dyn TokenCredential> {
        &self.credential
    }

    pub fn endpoint(&self) -> &Url {
        &self.shared.endpoint
    }

    /// The HTTP client (timeouts, user agent) this client uses, for credentials built alongside it.
    pub fn http(&self) -> &reqwest::Client {
        &self.shared.http
    }

    /// Holds the process-wide write lock of a target (keyed by its lower-cased ARM ID) while `write` runs:
    /// never two writes to one target at once, whichever client or task makes them.
    pub(super) async fn lock_target(&self, target_resource_id: &str) -> OwnedMutexGuard<()> {
        self.shared.locks.lock(target_resource_id).await
    }

    /// `{endpoint}{path}?api-version=…`, each segment of `path` (an ARM ID or route) percent-encoded as needed.
    pub(super) fn url<'a>(
        &self,
        path: &str,
        extra: impl IntoIterator<Item = &'a str>,
        api_version: &str,
    ) -> Result<Url, ArmError> {
        let mut url = self.shared.endpoint.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| ArmError::Config(format!("ARM endpoint {} cannot take a path", self.shared.endpoint)))?;
            segments.pop_if_empty();
            segments.extend(path.trim_matches('/').split('/').filter(|s| !s.is_empty()));
            segments.extend(extra);
        }
        url.query_pairs_mut().append_pair("api-version", api_version);
        Ok(url)
    }

    /// A URL that Azure handed us (`Location`, `Azure-AsyncOperation`, `nextLink`, a resume token from status). The
    /// bearer token goes only to the ARM endpoint's origin, wherever a response points.
    pub(super) fn followable(&self, what: &str, value: &str) -> Result<Url, ArmError> {
        super::boundary::followable(&self.shared.endpoint, what, value)
    }

    pub(super) fn header_url(&self, headers: &HeaderMap, name: &str) -> Result<Option<Url>, ArmError> {
        header(headers, name).map(|v| self.followable(name, &v)).transpose()
    }

    /// One ARM request with the client's retries: transient failures are retried up to
    /// `retry.max_attempts` times, after the server's `Retry-After` or an exponential backoff with jitter;
    /// a wait longer than `retry.max_wait` is not slept but returned in the error.
    pub(super) async fn send<B: Serialize + ?Sized>(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<&B>,
    ) -> Result<Response, ArmError> {
        let subscription = subscription_of(url);
        let retry = &self.shared.retry;
        let mut backoff = retry.initial_backoff.min(retry.max_backoff);
        let mut attempt = 1;
        loop {
            let error = match self.send_once(operation, &method, url, body, &subscription).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            if !error.is_retryable_request() || attempt >= retry.max_attempts.max(1) {
                return Err(error);
            }
            let wait = match error.retry_after() {
                Some(wait) => wait,
                None => backoff.mul_f64(0.5 + fastrand::f64() * 0.5),
            };
            if wait > retry.max_wait {
                debug!(operation, ?wait, "not sleeping through a long Retry-After; returning it to the caller");
                return Err(match error {
                    ArmError::Api { retry_after: None, status, code, message, request_id } => {
                        ArmError::Api { status, code, message, request_id, retry_after: Some(wait) }
                    }
                    other => other,
                });
            }
            if error.status() == Some(429) {
                self.shared.observer.throttled(&subscription, wait);
            }
            debug!(operation, attempt, ?wait, "transient ARM failure; retrying: {error}");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(retry.max_backoff);
            attempt += 1;
        }
    }

    async fn send_once<B: Serialize + ?Sized>(
        &self,
        operation: &'static str,
        method: &Method,
        url: &Url,
        body: Option<&B>,
        subscription: &str,
    ) -> Result<Response, ArmError> {
        let shared = &self.shared;
        let class = RequestClass::of(method);
        match shared.budgets.reserve(subscription, class, shared.retry.max_wait) {
            Ok(wait) if wait.is_zero() => {}
            Ok(wait) => {
                shared.observer.throttled(subscription, wait);
                debug!(operation, subscription, ?wait, "waiting for the ARM request budget");
                tokio::time::sleep(wait).await;
            }
            Err(retry_after) => {
                return Err(ArmError::Throttled { subscription: subscription.to_string(), retry_after });
            }
        }
        let token = self.credential.token_with(shared.observer.as_ref()).await?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut request = shared
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.token.expose())
            .header("x-ms-client-request-id", &client_request_id);
        if let Some(body) = body {
            request = request.json(body);
        } else if *method != Method::GET && *method != Method::DELETE {
            // ARM answers 411 to a POST without Content-Length.
            request = request.header(reqwest::header::CONTENT_LENGTH, "0");
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                shared.observer.request(operation, 0, started.elapsed());
                debug!(operation, %method, path = url.path(), "ARM call failed: {e}");
                return Err(ArmError::transport(e));
            }
        };
        let status = response.status();
        shared.observer.request(operation, status.as_u16(), started.elapsed());
        super::boundary::answered_by(url, &response, operation)?;
        shared.budgets.observe(subscription, class, response.headers());
        let request_id = header(response.headers(), "x-ms-request-id");
        debug!(operation, %method, path = url.path(), status = status.as_u16(), request_id = request_id.as_deref().unwrap_or(""), "ARM call");
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = parse_retry_after(response.headers());
        let bytes = super::boundary::body(response, super::boundary::MAX_ARM_BODY).await?;
        let (code, message) = match serde_json::from_slice::<ErrorResponse>(&bytes) {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => (
                status.canonical_reason().unwrap_or("HttpError").replace(' ', ""),
                String::from_utf8_lossy(&bytes).chars().take(1024).collect(),
            ),
        };
        Err(ArmError::Api { status: status.as_u16(), code, message, request_id, retry_after })
    }
}

pub(super) async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ArmError> {
    let bytes = super::boundary::body(response, super::boundary::MAX_ARM_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| ArmError::InvalidResponse(format!("unreadable body: {e}")))
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `Retry-After` in delta-seconds (what ARM sends), or Azure's `retry-after-ms` / `x-ms-retry-after-ms`.
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| header(headers, name).and_then(|v| v.trim().parse::<u64>().ok());
    number("retry-after-ms")
        .or_else(|| number("x-ms-retry-after-ms"))
        .map(Duration::from_millis)
        .or_else(|| number("retry-after").map(Duration::from_secs))
}

/// The subscription a URL addresses (lower-cased), the key of the request budget.
fn subscription_of(url: &Url) -> String {
    let mut segments = url.path_segments().into_iter().flatten();
    while let Some(segment) = segments.next() {
        if segment.eq_ignore_ascii_case("subscriptions") {
            return segments.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

/// One async mutex per target, created on demand and dropped when nobody holds or waits for it.
#[derive(Default)]
struct WriteLocks {
    locks: std::sync::Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl WriteLocks {
    async fn lock(&self, target: &str) -> OwnedMutexGuard<()> {
        let key = target.trim_end_matches('/').to_ascii_lowercase();
        let lock = {
            let mut locks = self.locks.lock().expect("not poisoned");
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    locks.retain(|_, weak| weak.strong_count() > 0);
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_subscription_of_a_url() {
        let url = Url::parse("https://management.azure.com/subscriptions/ABC/resourceGroups/rg?api-version=1").unwrap();
        assert_eq!(subscription_of(&url), "abc");
        let url = Url::parse("http://127.0.0.1/prefix/SUBSCRIPTIONS/x/providers/y").unwrap();
        assert_eq!(subscription_of(&url), "x");
        assert_eq!(subscription_of(&Url::parse("https://h/providers/x").unwrap()), "");
    }

    #[test]
    fn reads_retry_after_in_seconds_or_milliseconds() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
    }

    #[tokio::test]
    async fn write_locks_serialise_one_target_and_ignore_case() {
        let locks = Arc::new(WriteLocks::default());
        let held = locks.lock("/subscriptions/S/x/NSG").await;
        // Another target is free.
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("/subscriptions/s/x/other")).await;
        assert!(other.is_ok());
        // The same target in other casing waits.
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("/subscriptions/s/x/nsg/")).await;
        assert!(same.is_err(), "a second writer got the lock of a held target");
        drop(held);
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("/subscriptions/s/x/nsg")).await;
        assert!(same.is_ok());
    }

    #[tokio::test]
    async fn unused_locks_are_forgotten() {
        let locks = WriteLocks::default();
        for i in 0..10 {
            drop(locks.lock(&format!("/t/{i}")).await);
        }
        let _held = locks.lock("/t/held").await;
        assert_eq!(locks.locks.lock().unwrap().len(), 1);
    }
}

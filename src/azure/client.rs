use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode, header::HeaderMap};
use serde::{Serialize, de::DeserializeOwned};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use super::credential::TokenCredential;
use super::error::ArmError;
use super::id::ResourceId;
use super::model::{API_VERSION, AsyncOperationResult, ErrorResponse, FlowLogInformation, FlowLogStatusParameters};

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

/// The Network Watcher calls the operator makes against one ARM endpoint.
#[derive(Clone, Debug)]
pub struct ArmClient {
    http: reqwest::Client,
    endpoint: Url,
    credential: Arc<dyn TokenCredential>,
    poll: PollSettings,
}

impl ArmClient {
    pub fn new(http: reqwest::Client, endpoint: Url, credential: Arc<dyn TokenCredential>, poll: PollSettings) -> Self {
        Self { http, endpoint, credential, poll }
    }

    /// `POST .../networkWatchers/{nw}/queryFlowLogStatus` (long-running).
    pub async fn query_flow_log_status(
        &self,
        watcher: &ResourceId,
        target_resource_id: &str,
    ) -> Result<FlowLogInformation, ArmError> {
        let body = FlowLogStatusParameters { target_resource_id: target_resource_id.to_string() };
        self.post_long_running(&self.action_url(watcher, "queryFlowLogStatus")?, &body).await
    }

    /// `POST .../networkWatchers/{nw}/configureFlowLog` (long-running). Returns the configuration Azure
    /// reports once the operation finished.
    pub async fn configure_flow_log(
        &self,
        watcher: &ResourceId,
        info: &FlowLogInformation,
    ) -> Result<FlowLogInformation, ArmError> {
        self.post_long_running(&self.action_url(watcher, "configureFlowLog")?, info).await
    }

    fn action_url(&self, resource: &ResourceId, action: &str) -> Result<Url, ArmError> {
        let base = self.endpoint.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}{resource}/{action}"))
            .map_err(|e| ArmError::Config(format!("ARM endpoint {base}: {e}")))?;
        url.query_pairs_mut().append_pair("api-version", API_VERSION);
        Ok(url)
    }

    /// ARM's long-running POST: 200 with the result, or 202 then poll `Azure-AsyncOperation` (status) and
    /// `Location` (result), honouring `Retry-After` (final-state-via: location, per the spec).
    async fn post_long_running<B: Serialize, T: DeserializeOwned>(&self, url: &Url, body: &B) -> Result<T, ArmError> {
        let response = self.send(Method::POST, url.clone(), Some(body)).await?;
        match response.status() {
            StatusCode::OK => read_json(response).await,
            StatusCode::CREATED | StatusCode::ACCEPTED => self.poll(response).await,
            other => Err(ArmError::InvalidResponse(format!("HTTP {other} from {}", url.path()))),
        }
    }

    async fn poll<T: DeserializeOwned>(&self, accepted: Response) -> Result<T, ArmError> {
        let deadline = Instant::now() + self.poll.timeout;
        let headers = accepted.headers().clone();
        let status_url = header_url(&headers, "azure-asyncoperation")?;
        let mut location = header_url(&headers, "location")?;
        let mut wait = self.retry_after(&headers);
        let request_id = header(&headers, "x-ms-request-id");

        if let Some(status_url) = status_url {
            loop {
                self.sleep_until_due(wait, deadline).await?;
                let response = self.send::<()>(Method::GET, status_url.clone(), None).await?;
                wait = self.retry_after(response.headers());
                let operation: AsyncOperationResult = read_json(response).await?;
                match operation.status.as_str() {
                    "Succeeded" => break,
                    "Failed" | "Canceled" => {
                        let error = operation.error.unwrap_or_else(|| super::model::ErrorDetails {
                            code: operation.status.clone(),
                            message: "the operation ended without an error body".into(),
                            target: None,
                            details: vec![],
                        });
                        return Err(ArmError::OperationFailed {
                            status: operation.status,
                            code: error.code,
                            message: error.message,
                            request_id: request_id.clone(),
                        });
                    }
                    _ => {}
                }
            }
            if location.is_none() {
                // No result URL: the 202 body is the best description of the outcome.
                return read_json(accepted).await;
            }
            wait = Duration::ZERO;
        }
        let Some(mut url) = location.take() else {
            return Err(ArmError::InvalidResponse(
                "202 Accepted without Azure-AsyncOperation or Location header".into(),
            ));
        };
        loop {
            self.sleep_until_due(wait, deadline).await?;
            let response = self.send::<()>(Method::GET, url.clone(), None).await?;
            match response.status() {
                StatusCode::OK => return read_json(response).await,
                StatusCode::ACCEPTED => {
                    wait = self.retry_after(response.headers());
                    if let Some(next) = header_url(response.headers(), "location")? {
                        url = next;
                    }
                }
                other => {
                    return Err(ArmError::InvalidResponse(format!("HTTP {other} while polling {}", url.path())));
                }
            }
        }
    }

    async fn sleep_until_due(&self, wait: Duration, deadline: Instant) -> Result<(), ArmError> {
        if Instant::now() + wait > deadline {
            return Err(ArmError::Timeout(self.poll.timeout));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn retry_after(&self, headers: &HeaderMap) -> Duration {
        parse_retry_after(headers).unwrap_or(self.poll.default_interval).min(self.poll.max_interval)
    }

    /// One authenticated ARM request; non-success answers become [`ArmError::Api`].
    async fn send<B: Serialize>(&self, method: Method, url: Url, body: Option<&B>) -> Result<Response, ArmError> {
        let token = self.credential.token().await?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.token.expose())
            .header("x-ms-client-request-id", &client_request_id);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(ArmError::transport)?;
        let status = response.status();
        let request_id = header(response.headers(), "x-ms-request-id");
        debug!(%method, path = url.path(), status = status.as_u16(), request_id = request_id.as_deref().unwrap_or(""), "ARM call");
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = parse_retry_after(response.headers());
        let bytes = response.bytes().await.map_err(ArmError::transport)?;
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

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ArmError> {
    let bytes = response.bytes().await.map_err(ArmError::transport)?;
    serde_json::from_slice(&bytes).map_err(|e| ArmError::InvalidResponse(format!("unreadable body: {e}")))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn header_url(headers: &HeaderMap, name: &str) -> Result<Option<Url>, ArmError> {
    header(headers, name)
        .map(|v| Url::parse(&v).map_err(|e| ArmError::InvalidResponse(format!("{name} header {v:?}: {e}"))))
        .transpose()
}

/// `Retry-After` in delta-seconds (what ARM sends).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    header(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

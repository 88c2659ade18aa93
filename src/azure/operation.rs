//! ARM's long-running operations as a resumable state machine: [`ArmClient::begin`] sends the request and answers
//! either the result or an [`Operation`] (a resume token: the URLs to poll and what is read at the end), and
//! [`ArmClient::advance`] makes one step of polling. Nothing here sleeps, so a caller can keep the token (the
//! controller keeps it in status), do other work, and come back at `Retry-After` — even from another process after
//! a restart. [`ArmClient::run_to_end`] is the blocking loop for callers that want to wait (CLI, deletion).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use super::client::{ArmClient, header, parse_retry_after, read_json};
use super::error::ArmError;
use super::model::{AsyncOperationResult, ErrorDetails};

/// Which call started an operation (it decides how its result is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    QueryFlowLogStatus,
    ConfigureFlowLog,
    PutFlowLog,
    DeleteFlowLog,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::QueryFlowLogStatus => "queryFlowLogStatus",
            OperationKind::ConfigureFlowLog => "configureFlowLog",
            OperationKind::PutFlowLog => "putFlowLog",
            OperationKind::DeleteFlowLog => "deleteFlowLog",
        }
    }

    pub fn parse(s: &str) -> Option<OperationKind> {
        [Self::QueryFlowLogStatus, Self::ConfigureFlowLog, Self::PutFlowLog, Self::DeleteFlowLog]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    /// PUT reads the resource at its own URL at the end (`final-state-via: azure-async-operation`, then GET);
    /// POST actions and DELETE read the `Location` URL.
    fn reads_resource(self) -> bool {
        self == OperationKind::PutFlowLog
    }
}

/// A long-running operation in flight: everything needed to poll it to its end, from any process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub kind: OperationKind,
    /// `Azure-AsyncOperation`: polled until `Succeeded`; cleared then.
    pub status_url: Option<Url>,
    /// `Location`: polled while it answers 202; then its answer is the result (POST, DELETE).
    pub result_url: Option<Url>,
    /// The resource written (PUT): read at the end until its `provisioningState` is terminal.
    pub resource_url: Option<Url>,
    /// `x-ms-request-id` of the request that started it.
    pub request_id: Option<String>,
    /// When the request was accepted (the poll timeout counts from here).
    pub started: SystemTime,
    /// The `Retry-After` Azure gave when it accepted the request: the poll period where a poll answers none (a
    /// resource's GET).
    pub poll_every: Option<Duration>,
}

/// What [`ArmClient::begin`] answered.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one short-lived value per call
pub enum Began {
    /// Azure answered at once: the body of the final answer (empty for 204).
    Done(Bytes),
    /// Accepted: poll it with [`ArmClient::advance`] after the wait.
    Pending(Operation, Duration),
}

/// One step of an operation.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one short-lived value per call
pub enum Progress {
    /// Still running: poll again after the wait.
    Running(Operation, Duration),
    /// Finished: the final answer's body, or `None` when Azure has nothing more to say (succeeded, read the
    /// resource to see it).
    Done(Option<Bytes>),
}

const TERMINAL: [&str; 3] = ["Succeeded", "Failed", "Canceled"];

impl ArmClient {
    /// Sends the request that starts a long-running operation. 200/204 without `Azure-AsyncOperation` is the
    /// result; 201/202 (or 200 with `Azure-AsyncOperation`, or a PUT answered with a non-terminal
    /// `provisioningState`) is an [`Operation`] to poll.
    pub(super) async fn begin<B: Serialize + ?Sized>(
        &self,
        kind: OperationKind,
        method: Method,
        url: &Url,
        body: Option<&B>,
    ) -> Result<Began, ArmError> {
        let first = self.send(kind.as_str(), method, url, body).await?;
        let started = SystemTime::now();
        let headers = first.headers().clone();
        let status = first.status();
        let status_url = self.header_url(&headers, "azure-asyncoperation")?;
        let location = self.header_url(&headers, "location")?;
        let accepted = matches!(status, StatusCode::CREATED | StatusCode::ACCEPTED);
        let wait = self.poll_wait(&headers);
        let request_id = header(&headers, "x-ms-request-id");
        let bytes = super::boundary::body(first, super::boundary::MAX_ARM_BODY).await?;
        let poll_every = parse_retry_after(&headers);
        let pending = |status_url, result_url, resource_url| {
            let operation = Operation { kind, status_url, result_url, resource_url, request_id, started, poll_every };
            Ok(Began::Pending(operation, wait))
        };
        if kind.reads_resource() {
            if status_url.is_some() {
                return pending(status_url, None, Some(url.clone()));
            }
            if accepted && let Some(location) = location {
                return pending(None, Some(location), Some(url.clone()));
            }
            // A 201/200 with the resource and no URL to poll: its provisioningState tells the rest.
            if provisioning_state(&bytes).is_some_and(|s| !is_terminal(&s)) {
                return pending(None, None, Some(url.clone()));
            }
            return Ok(Began::Done(bytes));
        }
        if !accepted && status_url.is_none() {
            return Ok(Began::Done(bytes));
        }
        if status_url.is_none() && location.is_none() {
            return Err(ArmError::InvalidResponse(format!(
                "HTTP {status} without Azure-AsyncOperation or Location header from {}",
                url.path()
            )));
        }
        pending(status_url, location, None)
    }

    /// One step of polling: one read while the operation runs. Of the URLs Azure gives, the one that answers with
    /// the result is polled: the `Location` of an action or a delete (202 while running, then the result), the
    /// resource itself after a PUT (its `provisioningState`). The `Azure-AsyncOperation` URL is read only when there
    /// is nothing else to poll, or to learn why an operation failed.
    pub(super) async fn advance(&self, mut op: Operation) -> Result<Progress, ArmError> {
        let elapsed = op.started.elapsed().unwrap_or_default();
        if elapsed > self.shared.poll.timeout {
            return Err(ArmError::Timeout(self.shared.poll.timeout));
        }
        // A resume token may come from status, which users can edit: follow it only to the ARM endpoint.
        for url in [&op.status_url, &op.result_url, &op.resource_url].into_iter().flatten() {
            self.followable("operation URL", url.as_str())?;
        }
        if !op.kind.reads_resource()
            && let Some(result_url) = op.result_url.clone()
        {
            let response = match self.send::<()>("operationResult", Method::GET, &result_url, None).await {
                Ok(response) => response,
                Err(e @ ArmError::Api { status, .. }) if status != 429 && op.status_url.is_some() => {
                    // The operation failed: its status says how.
                    return Err(self.failure(&op).await?.unwrap_or(e));
                }
                Err(e) => return Err(e),
            };
            if response.status() == StatusCode::ACCEPTED {
                let wait = self.poll_wait(response.headers());
                if let Some(next) = self.header_url(response.headers(), "location")? {
                    op.result_url = Some(next);
                }
                return Ok(Progress::Running(op, wait));
            }
            return Ok(Progress::Done(Some(super::boundary::body(response, super::boundary::MAX_ARM_BODY).await?)));
        }
        if op.kind.reads_resource()
            && let Some(resource_url) = op.resource_url.clone()
        {
            let response = self.send::<()>("getFlowLog", Method::GET, &resource_url, None).await?;
            let bytes = super::boundary::body(response, super::boundary::MAX_ARM_BODY).await?;
            match provisioning_state(&bytes) {
                Some(state) if !is_terminal(&state) => {
                    let poll = &self.shared.poll;
                    let wait = op.poll_every.unwrap_or(poll.default_interval).min(poll.max_interval);
                    return Ok(Progress::Running(op, wait));
                }
                Some(state) if !state.eq_ignore_ascii_case("Succeeded") && op.status_url.is_some() => {
                    if let Some(failure) = self.failure(&op).await? {
                        return Err(failure);
                    }
                }
                _ => {}
            }
            return Ok(Progress::Done(Some(bytes)));
        }
        if let Some(status_url) = op.status_url.clone() {
            let response = self.send::<()>("operationStatus", Method::GET, &status_url, None).await?;
            let wait = self.poll_wait(response.headers());
            let status: AsyncOperationResult = read_json(response).await?;
            if let Some(failure) = failed(&status, &op) {
                return Err(failure);
            }
            if !status.status.eq_ignore_ascii_case("Succeeded") {
                return Ok(Progress::Running(op, wait));
            }
        }
        Ok(Progress::Done(None))
    }

    /// Why an operation failed, from its `Azure-AsyncOperation` URL (`None` when that does not say it failed).
    async fn failure(&self, op: &Operation) -> Result<Option<ArmError>, ArmError> {
        let Some(status_url) = &op.status_url else { return Ok(None) };
        let response = self.send::<()>("operationStatus", Method::GET, status_url, None).await?;
        let status: AsyncOperationResult = read_json(response).await?;
        Ok(failed(&status, op))
    }

    /// Starts an operation and polls it to its end, sleeping through each `Retry-After` within `poll.timeout`.
    /// Returns the final body; empty when Azure ends with nothing more to say.
    pub(super) async fn run_to_end<B: Serialize + ?Sized>(
        &self,
        kind: OperationKind,
        method: Method,
        url: &Url,
        body: Option<&B>,
    ) -> Result<Bytes, ArmError> {
        let deadline = Instant::now() + self.shared.poll.timeout;
        let (mut op, mut wait) = match self.begin(kind, method, url, body).await? {
            Began::Done(bytes) => return Ok(bytes),
            Began::Pending(op, wait) => (op, wait),
        };
        loop {
            if Instant::now() + wait > deadline {
                return Err(ArmError::Timeout(self.shared.poll.timeout));
            }
            tokio::time::sleep(wait).await;
            match self.advance(op).await? {
                Progress::Running(next, next_wait) => (op, wait) = (next, next_wait),
                Progress::Done(bytes) => return Ok(bytes.unwrap_or_default()),
            }
        }
    }

    /// The wait before the next poll: Azure's `Retry-After`, else the default, capped.
    pub(super) fn poll_wait(&self, headers: &HeaderMap) -> Duration {
        let poll = &self.shared.poll;
        parse_retry_after(headers).unwrap_or(poll.default_interval).min(poll.max_interval)
    }
}

/// The error of an operation whose status is `Failed` or `Canceled`.
fn failed(status: &AsyncOperationResult, op: &Operation) -> Option<ArmError> {
    let ended = ["Failed", "Canceled"].iter().any(|s| s.eq_ignore_ascii_case(&status.status));
    if !ended {
        return None;
    }
    let error = status.error.clone().unwrap_or_else(|| ErrorDetails {
        code: status.status.clone(),
        message: "the operation ended without an error body".into(),
        target: None,
        details: vec![],
    });
    Some(ArmError::OperationFailed {
        status: status.status.clone(),
        code: error.code,
        message: error.message,
        request_id: op.request_id.clone(),
    })
}

/// `properties.provisioningState` of a resource body, when it has one.
fn provisioning_state(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("properties")?.get("provisioningState")?.as_str().map(str::to_string)
}

fn is_terminal(state: &str) -> bool {
    TERMINAL.iter().any(|t| t.eq_ignore_ascii_case(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [
            OperationKind::QueryFlowLogStatus,
            OperationKind::ConfigureFlowLog,
            OperationKind::PutFlowLog,
            OperationKind::DeleteFlowLog,
        ] {
            assert_eq!(OperationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OperationKind::parse("PUTFLOWLOG"), Some(OperationKind::PutFlowLog));
        assert_eq!(OperationKind::parse("other"), None);
    }

    #[test]
    fn reads_the_provisioning_state_of_a_body() {
        assert_eq!(
            provisioning_state(br#"{"properties":{"provisioningState":"Updating"}}"#).as_deref(),
            Some("Updating")
        );
        assert_eq!(provisioning_state(b"{}"), None);
        assert_eq!(provisioning_state(b""), None);
        assert!(is_terminal("succeeded") && !is_terminal("Updating"));
    }
}

//! Long-running operations: registered when a write is accepted, then `InProgress` for some polls (of either
//! operation URL, or of the flow log's GET), then done; a fault may stretch them or end them `Failed`/`Canceled`,
//! which undoes their change to the flow-log store. No clocks: only polls move them on.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::json;

use super::faults::{Faults, LroEnd, LroFault};
use super::flow_log_store::StoredFlowLog;
use super::inventory::{Lro, LroMode};
use super::reply::{ErrorReply, Reply};
use super::request::RequestContext;
use flowlog_wire::model::{AsyncOperationResult, ErrorDetails, FlowLog, FlowLogInformation};

/// What the `Location` URL answers once an operation succeeded.
#[derive(Clone, Debug)]
pub(super) enum OpResult {
    Info(Box<FlowLogInformation>),
    Resource(Box<FlowLog>),
    NoContent,
}

/// A long-running operation about to start.
pub(super) struct NewOperation {
    pub subscription: String,
    pub location: String,
    pub lock: Option<String>,
    pub flow_log: Option<(usize, String)>,
    pub deleting: bool,
    pub result: OpResult,
    pub undo: Option<(usize, String, Option<StoredFlowLog>)>,
}

struct OperationFailure {
    end: LroEnd,
    error: ErrorDetails,
    http: StatusCode,
}

struct Operation {
    subscription: String,
    location: String,
    /// Lower-cased ID of the target a write holds.
    lock: Option<String>,
    /// The flow log whose `provisioningState` it drives: (watcher, lower-cased name).
    flow_log: Option<(usize, String)>,
    deleting: bool,
    /// Polls that will still answer "InProgress".
    remaining: u32,
    retry_after: u32,
    status_url: String,
    location_url: String,
    result: OpResult,
    failure: Option<OperationFailure>,
    /// The flow log as it was before, restored if the operation fails.
    undo: Option<(usize, String, Option<StoredFlowLog>)>,
}

/// The operations by lower-cased ID (the `x-ms-request-id` of the request that started them).
#[derive(Default)]
pub(super) struct Operations(HashMap<String, Operation>);

impl Operations {
    /// Registers an operation; answers its status URL, result URL and Retry-After. One with no polls to wait for
    /// ends at once, applying its end to `flow_logs`.
    pub(super) fn start(
        &mut self,
        flow_logs: &mut Vec<StoredFlowLog>,
        lro: &Lro,
        ctx: &RequestContext,
        op: NewOperation,
        fault: Option<LroFault>,
    ) -> (String, String, u32) {
        let url = |kind: &str| {
            format!(
                "{}/subscriptions/{}/providers/Microsoft.Network/locations/{}/{kind}/{}?api-version={}",
                ctx.base, op.subscription, op.location, ctx.request_id, ctx.api_version
            )
        };
        let (status_url, location_url) = (url("operations"), url("operationResults"));
        let retry_after = lro.retry_after_seconds;
        let remaining = fault.as_ref().and_then(|f| f.in_progress_polls).unwrap_or(lro.in_progress_polls);
        let id = ctx.request_id.to_ascii_lowercase();
        self.0.insert(
            id.clone(),
            Operation {
                subscription: op.subscription,
                location: op.location,
                lock: op.lock,
                flow_log: op.flow_log,
                deleting: op.deleting,
                remaining,
                retry_after,
                status_url: status_url.clone(),
                location_url: location_url.clone(),
                result: op.result,
                failure: fault.as_ref().and_then(failure),
                undo: op.undo,
            },
        );
        if remaining == 0 {
            self.finish(flow_logs, &id);
        }
        (status_url, location_url, retry_after)
    }

    /// One poll of either operation URL. Each poll of an operation in progress answers "InProgress" and moves it
    /// one step on; after that many polls it is done.
    pub(super) fn poll(
        &mut self,
        flow_logs: &mut Vec<StoredFlowLog>,
        subscription: &str,
        location: &str,
        operation_id: &str,
        result: bool,
    ) -> Result<Reply, ErrorReply> {
        let key = operation_id.to_ascii_lowercase();
        let op = self.0.get(&key).filter(|op| {
            op.subscription.eq_ignore_ascii_case(subscription) && op.location.eq_ignore_ascii_case(location)
        });
        let Some(op) = op else {
            // invented: Azure's code for this is not published
            return Err(ErrorReply::new(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                format!(
                    "Operation {operation_id} was not found in subscription '{subscription}', location '{location}'."
                ),
            ));
        };
        if op.remaining > 0 {
            let (location_url, retry_after) = (op.location_url.clone(), op.retry_after);
            self.step(flow_logs, &key);
            let mut reply = if result {
                let mut reply = Reply::empty(StatusCode::ACCEPTED);
                reply.location = Some(location_url);
                reply
            } else {
                Reply::json(StatusCode::OK, &AsyncOperationResult { status: "InProgress".into(), error: None })
            };
            // Network RP status URLs carry Retry-After too; without it clients fall back to long defaults.
            reply.retry_after = Some(retry_after);
            return Ok(reply);
        }
        Ok(match (&op.failure, result) {
            (Some(f), false) => Reply::json(
                StatusCode::OK,
                &AsyncOperationResult { status: format!("{:?}", f.end), error: Some(f.error.clone()) },
            ),
            (Some(f), true) => Reply::json(f.http, &json!({"error": f.error})),
            (None, false) => {
                Reply::json(StatusCode::OK, &AsyncOperationResult { status: "Succeeded".into(), error: None })
            }
            (None, true) => match &op.result {
                OpResult::Info(info) => Reply::json(StatusCode::OK, info),
                OpResult::Resource(fl) => Reply::json(StatusCode::OK, fl),
                OpResult::NoContent => Reply::empty(StatusCode::NO_CONTENT),
            },
        })
    }

    /// 409 while another write to the same target (its lower-cased ID) is in flight.
    pub(super) fn check_lock(&self, lock: &str) -> Result<(), ErrorReply> {
        match self.0.values().find(|op| op.remaining > 0 && op.lock.as_deref() == Some(lock)) {
            Some(op) => Err(ErrorReply::new(
                StatusCode::CONFLICT,
                "AnotherOperationInProgress",
                format!(
                    "Another operation on this or dependent resource is in progress. To retrieve status of the \
                     operation use uri: {}",
                    op.status_url
                ),
            )),
            None => Ok(()),
        }
    }

    /// `Updating` or `Deleting` while an operation on the flow log is in flight, else `Succeeded`.
    pub(super) fn provisioning_state(&self, fl: &StoredFlowLog) -> &'static str {
        match self.in_flight(fl) {
            Some((_, op)) if op.deleting => "Deleting",
            Some(_) => "Updating",
            None => "Succeeded",
        }
    }

    /// Moves the operation in flight on flow log `fl` one step on, as a poll would.
    pub(super) fn advance(&mut self, flow_logs: &mut Vec<StoredFlowLog>, fl: usize) {
        if let Some((id, _)) = self.in_flight(&flow_logs[fl]) {
            let id = id.clone();
            self.step(flow_logs, &id);
        }
    }

    fn in_flight(&self, fl: &StoredFlowLog) -> Option<(&String, &Operation)> {
        self.0.iter().find(|(_, op)| op.remaining > 0 && op.flow_log.as_ref().is_some_and(|(w, name)| fl.is(*w, name)))
    }

    fn step(&mut self, flow_logs: &mut Vec<StoredFlowLog>, id: &str) {
        let Some(op) = self.0.get_mut(id) else { return };
        op.remaining = op.remaining.saturating_sub(1);
        if op.remaining == 0 {
            self.finish(flow_logs, id);
        }
    }

    /// Applies the end of an operation: undo on failure, removal after a delete.
    fn finish(&mut self, flow_logs: &mut Vec<StoredFlowLog>, id: &str) {
        let Some(op) = self.0.get_mut(id) else { return };
        let (failed, deleting) = (op.failure.is_some(), op.deleting);
        let undo = op.undo.take();
        let flow_log = op.flow_log.clone();
        if failed {
            if let Some((w, name, before)) = undo {
                flow_logs.retain(|f| !f.is(w, &name));
                flow_logs.extend(before);
            }
        } else if deleting && let Some((w, name)) = flow_log {
            flow_logs.retain(|f| !f.is(w, &name));
        }
    }
}

/// The `lro` fault for `operation`, which is starting now; in `sync` mode one that fails the operation fails the
/// request.
pub(super) fn lro_fault(faults: &mut Faults, mode: LroMode, operation: &str) -> Result<Option<LroFault>, ErrorReply> {
    let fault = faults.lro(operation);
    if mode == LroMode::Sync
        && let Some(f) = fault.as_ref().and_then(failure)
    {
        let mut e = ErrorReply::new(f.http, &f.error.code, f.error.message);
        e.error.details = f.error.details;
        return Err(e);
    }
    Ok(fault)
}

fn failure(fault: &LroFault) -> Option<OperationFailure> {
    let end = fault.end?;
    Some(OperationFailure {
        end,
        error: ErrorDetails {
            code: fault.code.clone().unwrap_or_else(|| "InternalServerError".into()),
            // The Network RP's text for an internal error.
            message: fault.message.clone().unwrap_or_else(|| "An error occurred.".into()),
            target: None,
            details: vec![],
        },
        http: fault.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    })
}

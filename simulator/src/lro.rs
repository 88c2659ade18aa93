//! Long-running operations: registered when a write is accepted, then `InProgress` until they are done, which ends
//! them `Succeeded` or, when a fault says so, `Failed`/`Canceled` (undoing their change to the flow-log store).
//!
//! An operation is *timed* (in progress for `behaviour.lro.durationMs` of wall-clock time after it was accepted,
//! polled or not: [`Operations::catch_up`] applies the ends that are due, in deadline order, before each request
//! reads the state) or *poll-counted* (`inProgressPolls` set: each poll of either operation URL, or a GET of the flow
//! log, moves it one step on; deterministic, for unit tests). In-flight operations are indexed by flow log and by
//! the target they lock, so that provisioning states and 409 checks cost O(1) whatever the number of operations;
//! finished ones are forgotten [`RETENTION`] after they ended (their URLs then answer 404 `OperationNotFound`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

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

/// How long the URLs of a finished operation still answer; then it is forgotten (404 `OperationNotFound`).
pub(super) const RETENTION: Duration = Duration::from_secs(15 * 60);

struct OperationFailure {
    end: LroEnd,
    error: ErrorDetails,
    http: StatusCode,
}

/// Where an operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// Poll-counted: polls that will still answer "InProgress" (at least 1).
    Polls(u32),
    /// Timed: in progress until then, polled or not.
    Until(Instant),
    /// Done (its end applied) at that moment.
    Ended(Instant),
}

struct Operation {
    /// Tells this operation apart from an earlier one with the same ID in the queues.
    seq: u64,
    subscription: String,
    location: String,
    /// Lower-cased ID of the target a write holds.
    lock: Option<String>,
    /// The flow log whose `provisioningState` it drives: (watcher, lower-cased name).
    flow_log: Option<(usize, String)>,
    deleting: bool,
    progress: Progress,
    retry_after: u32,
    status_url: String,
    location_url: String,
    result: OpResult,
    failure: Option<OperationFailure>,
    /// The flow log as it was before, restored if the operation fails.
    undo: Option<(usize, String, Option<StoredFlowLog>)>,
}

impl Operation {
    fn in_flight(&self) -> bool {
        !matches!(self.progress, Progress::Ended(_))
    }
}

/// A moment, the operation's sequence number and its ID: a min-heap entry (soonest first).
type Due = Reverse<(Instant, u64, String)>;

/// The operations by lower-cased ID (the `x-ms-request-id` of the request that started them), with the in-flight
/// ones indexed by flow log and by lock, the timed ones queued by deadline and the finished ones by when they are
/// forgotten.
pub(super) struct Operations {
    ops: HashMap<String, Operation>,
    /// IDs of the operations in flight on a flow log (watcher, lower-cased name), oldest first.
    by_flow_log: HashMap<(usize, String), Vec<String>>,
    /// IDs of the operations in flight holding a lock (a lower-cased target ID), oldest first.
    by_lock: HashMap<String, Vec<String>>,
    /// Timed operations in flight, soonest deadline first.
    deadlines: BinaryHeap<Due>,
    /// Finished operations, soonest forgotten first.
    expiries: BinaryHeap<Due>,
    retention: Duration,
    next_seq: u64,
}

impl Default for Operations {
    fn default() -> Self {
        Operations::new(RETENTION)
    }
}

impl Operations {
    /// Finished operations are forgotten `retention` after they ended.
    pub(super) fn new(retention: Duration) -> Operations {
        Operations {
            ops: HashMap::new(),
            by_flow_log: HashMap::new(),
            by_lock: HashMap::new(),
            deadlines: BinaryHeap::new(),
            expiries: BinaryHeap::new(),
            retention,
            next_seq: 0,
        }
    }

    /// Registers an operation accepted at `now`; answers its status URL, result URL and Retry-After. One with
    /// nothing to wait for (no polls, no duration) ends at once, applying its end to `flow_logs`.
    pub(super) fn start(
        &mut self,
        flow_logs: &mut Vec<StoredFlowLog>,
        lro: &Lro,
        ctx: &RequestContext,
        op: NewOperation,
        fault: Option<LroFault>,
        now: Instant,
    ) -> (String, String, u32) {
        let url = |kind: &str| {
            format!(
                "{}/subscriptions/{}/providers/Microsoft.Network/locations/{}/{kind}/{}?api-version={}",
                ctx.base, op.subscription, op.location, ctx.request_id, ctx.api_version
            )
        };
        let (status_url, location_url) = (url("operations"), url("operationResults"));
        let retry_after = lro.retry_after_seconds;
        let fault_polls = fault.as_ref().and_then(|f| f.in_progress_polls);
        let fault_duration = fault.as_ref().and_then(|f| f.duration_ms);
        let progress = match (fault_polls, fault_duration, lro.in_progress_polls) {
            (Some(polls), _, _) | (None, None, Some(polls)) => Progress::Polls(polls),
            (None, Some(ms), _) => Progress::Until(deadline(now, ms)),
            (None, None, None) => Progress::Until(deadline(now, lro.duration_ms)),
        };
        let id = ctx.request_id.to_ascii_lowercase();
        if let Some(replaced) = self.ops.remove(&id) {
            self.unindex(&id, &replaced);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let operation = Operation {
            seq,
            subscription: op.subscription,
            location: op.location,
            lock: op.lock.map(|l| l.to_ascii_lowercase()),
            flow_log: op.flow_log.map(|(w, name)| (w, name.to_ascii_lowercase())),
            deleting: op.deleting,
            progress,
            retry_after,
            status_url: status_url.clone(),
            location_url: location_url.clone(),
            result: op.result,
            failure: fault.as_ref().and_then(failure),
            undo: op.undo,
        };
        if let Some(key) = &operation.flow_log {
            self.by_flow_log.entry(key.clone()).or_default().push(id.clone());
        }
        if let Some(lock) = &operation.lock {
            self.by_lock.entry(lock.clone()).or_default().push(id.clone());
        }
        self.ops.insert(id.clone(), operation);
        match progress {
            Progress::Polls(0) => self.finish(flow_logs, &id, now),
            Progress::Until(at) if at <= now => self.finish(flow_logs, &id, now),
            Progress::Until(at) => self.deadlines.push(Reverse((at, seq, id))),
            _ => {}
        }
        (status_url, location_url, retry_after)
    }

    /// Applies what is due at `now`: the ends of timed operations whose deadline passed (in deadline order, each at
    /// its deadline), then forgets the operations that ended more than the retention ago. Costs O(log n) per
    /// operation ended or forgotten, nothing when nothing is due.
    pub(super) fn catch_up(&mut self, flow_logs: &mut Vec<StoredFlowLog>, now: Instant) {
        while self.deadlines.peek().is_some_and(|due| due.0.0 <= now) {
            let Some(Reverse((at, seq, id))) = self.deadlines.pop() else { break };
            if self.ops.get(&id).is_some_and(|op| op.seq == seq && op.progress == Progress::Until(at)) {
                self.finish(flow_logs, &id, at);
            }
        }
        while self.expiries.peek().is_some_and(|due| due.0.0 <= now) {
            let Some(Reverse((_, seq, id))) = self.expiries.pop() else { break };
            if self.ops.get(&id).is_some_and(|op| op.seq == seq && !op.in_flight()) {
                self.ops.remove(&id);
            }
        }
    }

    /// One poll of either operation URL at `now`. A poll of a poll-counted operation in progress answers
    /// "InProgress" and moves it one step on (after that many polls it is done); a timed one is not moved.
    pub(super) fn poll(
        &mut self,
        flow_logs: &mut Vec<StoredFlowLog>,
        subscription: &str,
        location: &str,
        operation_id: &str,
        result: bool,
        now: Instant,
    ) -> Result<Reply, ErrorReply> {
        let key = operation_id.to_ascii_lowercase();
        let op = self.ops.get(&key).filter(|op| {
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
        if op.in_flight() {
            let (location_url, retry_after) = (op.location_url.clone(), op.retry_after);
            self.step(flow_logs, &key, now);
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
        let holder = self.by_lock.get(lock).and_then(|ids| ids.first()).and_then(|id| self.ops.get(id));
        match holder {
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

    /// Moves the poll-counted operation in flight on flow log `fl` one step on, as a poll would.
    pub(super) fn advance(&mut self, flow_logs: &mut Vec<StoredFlowLog>, fl: usize, now: Instant) {
        if let Some((id, _)) = self.in_flight(&flow_logs[fl]) {
            let id = id.to_string();
            self.step(flow_logs, &id, now);
        }
    }

    /// The oldest operation in flight on this flow log.
    fn in_flight(&self, fl: &StoredFlowLog) -> Option<(&str, &Operation)> {
        let id = self.by_flow_log.get(&(fl.watcher, fl.name.to_ascii_lowercase()))?.first()?;
        Some((id.as_str(), self.ops.get(id)?))
    }

    /// One poll's step of a poll-counted operation; timed ones end by the clock only.
    fn step(&mut self, flow_logs: &mut Vec<StoredFlowLog>, id: &str, now: Instant) {
        let Some(op) = self.ops.get_mut(id) else { return };
        if let Progress::Polls(remaining) = op.progress {
            op.progress = Progress::Polls(remaining.saturating_sub(1));
            if remaining <= 1 {
                self.finish(flow_logs, id, now);
            }
        }
    }

    /// Ends an operation at `at`: undo on failure, removal after a delete; its lock and flow log are free again.
    fn finish(&mut self, flow_logs: &mut Vec<StoredFlowLog>, id: &str, at: Instant) {
        let Some(mut op) = self.ops.remove(id) else { return };
        self.unindex(id, &op);
        op.progress = Progress::Ended(at);
        let undo = op.undo.take();
        if op.failure.is_some() {
            if let Some((w, name, before)) = undo {
                flow_logs.retain(|f| !f.is(w, &name));
                flow_logs.extend(before);
            }
        } else if op.deleting
            && let Some((w, name)) = &op.flow_log
        {
            flow_logs.retain(|f| !f.is(*w, name));
        }
        self.expiries.push(Reverse((at.checked_add(self.retention).unwrap_or(at), op.seq, id.to_string())));
        self.ops.insert(id.to_string(), op);
    }

    /// Takes an operation out of the in-flight indexes.
    fn unindex(&mut self, id: &str, op: &Operation) {
        fn remove<K: std::hash::Hash + Eq>(index: &mut HashMap<K, Vec<String>>, key: &K, id: &str) {
            if let Some(ids) = index.get_mut(key) {
                ids.retain(|x| x != id);
                if ids.is_empty() {
                    index.remove(key);
                }
            }
        }
        if let Some(key) = &op.flow_log {
            remove(&mut self.by_flow_log, key, id);
        }
        if let Some(lock) = &op.lock {
            remove(&mut self.by_lock, lock, id);
        }
    }
}

/// `now` plus `ms` milliseconds (far in the future if that overflows the clock).
fn deadline(now: Instant, ms: u64) -> Instant {
    let far = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(Duration::from_millis(ms)).or_else(|| now.checked_add(far)).unwrap_or(now)
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::http::StatusCode;

    use super::*;
    use crate::flow_log_store::FlowLogConfig;
    use crate::operation_names::FLOW_LOGS_CREATE_OR_UPDATE;
    use crate::test_fixtures::code;

    const MS: Duration = Duration::from_millis(1);

    fn flow_log(name: &str) -> StoredFlowLog {
        let settings = FlowLogConfig { properties: Default::default(), traffic_analytics: None, identity: None };
        StoredFlowLog::new(0, name.into(), "westeurope".into(), format!("/targets/{name}"), None, settings)
    }

    fn timed(duration_ms: u64) -> Lro {
        Lro { duration_ms, ..Lro::default() }
    }

    /// A write to flow log `name` (`before`: the flow log as it was), as operation `id`.
    fn write(name: &str, before: Option<StoredFlowLog>, deleting: bool) -> NewOperation {
        NewOperation {
            subscription: "sub".into(),
            location: "westeurope".into(),
            lock: Some(format!("/targets/{name}")),
            flow_log: Some((0, name.to_ascii_uppercase())),
            deleting,
            result: if deleting { OpResult::NoContent } else { OpResult::Resource(Box::default()) },
            undo: Some((0, name.to_ascii_lowercase(), before)),
        }
    }

    fn start(
        ops: &mut Operations,
        flow_logs: &mut Vec<StoredFlowLog>,
        lro: &Lro,
        id: &str,
        op: NewOperation,
        fault: Option<LroFault>,
        now: Instant,
    ) {
        let ctx = RequestContext {
            base: "http://sim",
            api_version: "2025-07-01",
            request_id: id,
            operation: FLOW_LOGS_CREATE_OR_UPDATE,
        };
        ops.start(flow_logs, lro, &ctx, op, fault, now);
    }

    fn status(ops: &mut Operations, flow_logs: &mut Vec<StoredFlowLog>, id: &str, now: Instant) -> String {
        let reply = ops.poll(flow_logs, "sub", "westeurope", id, false, now).unwrap();
        reply.body.unwrap()["status"].as_str().unwrap().to_string()
    }

    fn failing(end: LroEnd) -> LroFault {
        LroFault { in_progress_polls: None, duration_ms: None, end: Some(end), code: None, message: None, status: None }
    }

    #[test]
    fn a_timed_operation_is_done_after_its_duration_polled_or_not() {
        let (mut ops, mut flow_logs, t0) = (Operations::default(), vec![flow_log("a"), flow_log("b")], Instant::now());
        let lro = timed(1000);
        start(&mut ops, &mut flow_logs, &lro, "polled", write("a", None, false), None, t0);
        start(&mut ops, &mut flow_logs, &lro, "unpolled", write("b", None, false), None, t0 + MS);
        for ms in [0, 500, 999] {
            let now = t0 + ms * MS;
            ops.catch_up(&mut flow_logs, now);
            assert_eq!(status(&mut ops, &mut flow_logs, "polled", now), "InProgress", "polls do not move it on");
        }
        assert_eq!(ops.provisioning_state(&flow_logs[1]), "Updating");
        assert_eq!(code(ops.check_lock("/targets/b")), (409, "AnotherOperationInProgress".into()));

        ops.catch_up(&mut flow_logs, t0 + 1000 * MS);
        assert_eq!(status(&mut ops, &mut flow_logs, "polled", t0 + 1000 * MS), "Succeeded");
        assert_eq!(ops.provisioning_state(&flow_logs[1]), "Updating", "due a millisecond later");
        ops.catch_up(&mut flow_logs, t0 + 1001 * MS);
        assert_eq!(ops.provisioning_state(&flow_logs[1]), "Succeeded", "done without a single poll");
        assert!(ops.check_lock("/targets/b").is_ok());
        assert_eq!(status(&mut ops, &mut flow_logs, "unpolled", t0 + 2000 * MS), "Succeeded");
        assert!(ops.deadlines.is_empty() && ops.by_flow_log.is_empty() && ops.by_lock.is_empty());
    }

    #[test]
    fn a_timed_failure_or_delete_takes_effect_at_its_deadline() {
        let (mut ops, t0) = (Operations::default(), Instant::now());
        let before = flow_log("a");
        let mut changed = before.clone();
        changed.settings.properties.enabled = true;
        let mut flow_logs = vec![changed, flow_log("b"), flow_log("c")];
        let lro = timed(100);
        start(
            &mut ops,
            &mut flow_logs,
            &lro,
            "fail",
            write("a", Some(before.clone()), false),
            Some(failing(LroEnd::Failed)),
            t0,
        );
        start(&mut ops, &mut flow_logs, &lro, "create", write("b", None, false), Some(failing(LroEnd::Canceled)), t0);
        start(&mut ops, &mut flow_logs, &lro, "delete", write("c", Some(flow_log("c")), true), None, t0);
        assert_eq!(ops.provisioning_state(&flow_logs[2]), "Deleting");
        ops.catch_up(&mut flow_logs, t0 + 99 * MS);
        assert_eq!(flow_logs.len(), 3, "nothing ends early");
        assert!(flow_logs[0].settings.properties.enabled);

        ops.catch_up(&mut flow_logs, t0 + 100 * MS);
        assert_eq!(flow_logs, [before], "the failure restored a, the canceled create left no b, the delete removed c");
        assert_eq!(status(&mut ops, &mut flow_logs, "fail", t0 + 100 * MS), "Failed");
        assert_eq!(status(&mut ops, &mut flow_logs, "create", t0 + 100 * MS), "Canceled");
        let deleted = ops.poll(&mut flow_logs, "sub", "westeurope", "delete", true, t0 + 100 * MS).unwrap();
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    }

    #[test]
    fn fault_settings_choose_polls_or_duration_per_operation() {
        let (mut ops, mut flow_logs, t0) = (Operations::default(), vec![flow_log("a"), flow_log("b")], Instant::now());
        let polls = Lro { in_progress_polls: Some(1), ..timed(10) };
        let slow = LroFault { duration_ms: Some(60_000), end: None, ..failing(LroEnd::Failed) };
        start(&mut ops, &mut flow_logs, &polls, "slow", write("a", None, false), Some(slow), t0);
        let counted = LroFault { in_progress_polls: Some(2), end: None, ..failing(LroEnd::Failed) };
        start(&mut ops, &mut flow_logs, &timed(10), "counted", write("b", None, false), Some(counted), t0);

        let later = t0 + 30_000 * MS;
        ops.catch_up(&mut flow_logs, later);
        assert_eq!(status(&mut ops, &mut flow_logs, "counted", later), "InProgress");
        ops.advance(&mut flow_logs, 1, later);
        assert_eq!(status(&mut ops, &mut flow_logs, "counted", later), "Succeeded", "a GET of the flow log counts");
        for _ in 0..3 {
            assert_eq!(status(&mut ops, &mut flow_logs, "slow", later), "InProgress", "timed in poll mode");
        }
        ops.catch_up(&mut flow_logs, t0 + 60_000 * MS);
        assert_eq!(status(&mut ops, &mut flow_logs, "slow", t0 + 60_000 * MS), "Succeeded");
    }

    #[test]
    fn finished_operations_are_forgotten_after_the_retention() {
        let (mut ops, mut flow_logs, t0) = (Operations::new(1000 * MS), vec![flow_log("a")], Instant::now());
        start(&mut ops, &mut flow_logs, &timed(100), "timed", write("a", None, false), None, t0);
        let polls = Lro { in_progress_polls: Some(1), ..Lro::default() };
        start(&mut ops, &mut flow_logs, &polls, "counted", write("b", None, false), None, t0);
        assert_eq!(status(&mut ops, &mut flow_logs, "counted", t0 + 500 * MS), "InProgress");
        assert_eq!(status(&mut ops, &mut flow_logs, "counted", t0 + 500 * MS), "Succeeded", "ended at 500 ms");

        ops.catch_up(&mut flow_logs, t0 + 1099 * MS);
        assert_eq!(status(&mut ops, &mut flow_logs, "timed", t0 + 1099 * MS), "Succeeded", "ended at 100 ms");
        ops.catch_up(&mut flow_logs, t0 + 1100 * MS);
        let gone = ops.poll(&mut flow_logs, "sub", "westeurope", "timed", true, t0 + 1100 * MS);
        assert_eq!(code(gone), (404, "OperationNotFound".into()));
        assert_eq!(status(&mut ops, &mut flow_logs, "counted", t0 + 1499 * MS), "Succeeded");
        ops.catch_up(&mut flow_logs, t0 + 1500 * MS);
        assert!(ops.ops.is_empty() && ops.expiries.is_empty(), "nothing is kept");
        assert_eq!(RETENTION, Duration::from_secs(900));
    }

    #[test]
    fn thousands_of_operations_cost_lookups_by_key_and_catch_up_by_deadline() {
        let (mut ops, t0) = (Operations::default(), Instant::now());
        let mut flow_logs: Vec<StoredFlowLog> = (0..10_000).map(|i| flow_log(&format!("fl-{i}"))).collect();
        for i in 0..20_000u64 {
            let name = format!("fl-{}", i % 10_000);
            start(&mut ops, &mut flow_logs, &timed(1000 + i), &format!("op-{i}"), write(&name, None, false), None, t0);
        }
        assert_eq!((ops.by_flow_log.len(), ops.by_lock.len(), ops.deadlines.len()), (10_000, 10_000, 20_000));
        let started = Instant::now();
        for _ in 0..10 {
            assert!(flow_logs.iter().all(|f| ops.provisioning_state(f) == "Updating"));
            assert!(flow_logs.iter().all(|f| ops.check_lock(&f.target.to_ascii_lowercase()).is_err()));
        }
        ops.catch_up(&mut flow_logs, t0 + 10_999 * MS);
        assert_eq!(ops.deadlines.len(), 10_000, "the first 10,000 ended");
        assert_eq!(ops.by_flow_log.values().map(Vec::len).sum::<usize>(), 10_000);
        ops.catch_up(&mut flow_logs, t0 + 21_000 * MS);
        assert!(ops.deadlines.is_empty() && ops.by_flow_log.is_empty() && ops.by_lock.is_empty());
        assert!(flow_logs.iter().all(|f| ops.provisioning_state(f) == "Succeeded"));
        ops.catch_up(&mut flow_logs, t0 + RETENTION + 21_000 * MS);
        assert!(ops.ops.is_empty() && ops.expiries.is_empty());
        // Scans of every operation per flow log would take minutes here.
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    }
}

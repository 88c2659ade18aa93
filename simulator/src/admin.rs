//! The admin API under `/_sim/`: counters, drift of flow logs, fault rules, throttling and the inventory, for tests
//! and demos. Its routes are in `http.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;

use super::faults::FaultRule;
use super::handle::Simulator;
use super::inventory::Throttling;
use super::reply::json_response;
use flowlog_wire::model::{FlowLog, FlowLogInformation};

fn text_response(status: StatusCode, text: String) -> Response {
    (status, text).into_response()
}

pub(super) async fn admin_counters(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.counters())
}

pub(super) async fn admin_reset_counters(State(sim): State<Simulator>) -> StatusCode {
    sim.reset_counters();
    StatusCode::NO_CONTENT
}

pub(super) async fn admin_flow_logs(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.lock().all_flow_log_statuses())
}

pub(super) async fn admin_set_flow_log(State(sim): State<Simulator>, body: Bytes) -> Response {
    let info: FlowLogInformation = match serde_json::from_slice(&body) {
        Ok(info) => info,
        Err(e) => {
            return text_response(StatusCode::BAD_REQUEST, format!("the body is not a FlowLogInformation: {e}\n"));
        }
    };
    let target = info.target_resource_id.clone();
    if let Err(e) = sim.set_flow_log(info) {
        return text_response(StatusCode::BAD_REQUEST, format!("{e}\n"));
    }
    json_response(StatusCode::OK, &sim.flow_log_status(&target))
}

pub(super) async fn admin_flow_log_resources(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.flow_log_resources())
}

pub(super) async fn admin_set_flow_log_resource(State(sim): State<Simulator>, body: Bytes) -> Response {
    let flow_log: FlowLog = match serde_json::from_slice(&body) {
        Ok(flow_log) => flow_log,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("the body is not a FlowLog: {e}\n")),
    };
    let id = flow_log.id.clone().unwrap_or_default();
    if let Err(e) = sim.set_flow_log_resource(flow_log) {
        return text_response(StatusCode::BAD_REQUEST, format!("{e}\n"));
    }
    let stored =
        sim.flow_log_resources().into_iter().find(|f| f.id.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(&id)));
    json_response(StatusCode::OK, &stored)
}

pub(super) async fn admin_faults(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.faults())
}

pub(super) async fn admin_set_faults(State(sim): State<Simulator>, body: Bytes) -> Response {
    let rules: Vec<FaultRule> = match serde_json::from_slice(&body) {
        Ok(rules) => rules,
        Err(e) => {
            return text_response(StatusCode::BAD_REQUEST, format!("the body is not a list of fault rules: {e}\n"));
        }
    };
    match sim.set_faults(rules) {
        Ok(()) => json_response(StatusCode::OK, &sim.faults()),
        Err(e) => text_response(StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

pub(super) async fn admin_clear_faults(State(sim): State<Simulator>) -> StatusCode {
    let _ = sim.set_faults(vec![]);
    StatusCode::NO_CONTENT
}

pub(super) async fn admin_throttling(State(sim): State<Simulator>) -> Response {
    let mut state = sim.lock();
    let buckets = state.throttle.buckets(Instant::now());
    json_response(StatusCode::OK, &json!({"config": state.throttle.config(), "buckets": buckets}))
}

pub(super) async fn admin_set_throttling(State(sim): State<Simulator>, body: Bytes) -> Response {
    let config: Throttling = match serde_json::from_slice(&body) {
        Ok(config) => config,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("the body is not a throttling config: {e}\n")),
    };
    match sim.set_throttling(config) {
        Ok(()) => admin_throttling(State(sim)).await,
        Err(e) => text_response(StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

pub(super) async fn admin_reset_throttling(State(sim): State<Simulator>) -> StatusCode {
    sim.reset_throttling();
    StatusCode::NO_CONTENT
}

pub(super) async fn admin_inventory(State(sim): State<Simulator>) -> Response {
    let yaml = sim.lock().inventory.to_yaml();
    ([(CONTENT_TYPE, "application/yaml")], yaml).into_response()
}

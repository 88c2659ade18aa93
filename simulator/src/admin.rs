//! The admin API under `/_sim/`: counters, drift of flow logs, fault rules, throttling, the inventory, and virtual
//! networks, NICs and NSGs added and removed at run time, for tests and demos. Its routes are in `http.rs`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Instant;

use super::faults::FaultRule;
use super::handle::Simulator;
use super::inventory::Throttling;
use super::reply::json_response;
use super::resources::{Applied, ResourceError, RuntimeResource};
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
    // An object only: serde would also read a struct from an array of its fields in order.
    let config: Throttling = match serde_json::from_slice::<Value>(&body) {
        Ok(value @ Value::Object(_)) => match serde_json::from_value(value) {
            Ok(config) => config,
            Err(e) => {
                return text_response(StatusCode::BAD_REQUEST, format!("the body is not a throttling config: {e}\n"));
            }
        },
        Ok(_) => {
            return text_response(
                StatusCode::BAD_REQUEST,
                "the body is not a throttling config (a JSON object)\n".into(),
            );
        }
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}\n")),
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

/// `PUT /_sim/{virtualNetworks|networkInterfaces|networkSecurityGroups}`: the resource as the inventory describes it
/// (JSON), plus `subscription`. 201 when created, 200 when it replaced one, with the resource as GET answers it; 400
/// with a message when the body or the change is wrong (nothing changes then).
pub(super) async fn admin_put_resource<R: RuntimeResource + DeserializeOwned>(
    State(sim): State<Simulator>,
    body: Bytes,
) -> Response {
    let (subscription, resource) = match with_subscription::<R>(&body) {
        Ok(parsed) => parsed,
        Err(why) => return text_response(StatusCode::BAD_REQUEST, format!("{why}\n")),
    };
    let (name, resource_group) = (resource.key().0.to_string(), resource.key().1.to_string());
    let mut state = sim.lock();
    match state.put_resource(&subscription, resource) {
        Ok(applied) => {
            let status = if applied == Applied::Created { StatusCode::CREATED } else { StatusCode::OK };
            json_response(status, &state.runtime_resource_json::<R>(&subscription, &resource_group, &name))
        }
        Err(e) => text_response(StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

/// `DELETE /_sim/{…}/{subscription}/{resourceGroup}/{name}`: 204; 404 when there is no such resource; 400 when
/// something still uses it.
pub(super) async fn admin_remove_resource<R: RuntimeResource>(
    State(sim): State<Simulator>,
    Path((subscription, resource_group, name)): Path<(String, String, String)>,
) -> Response {
    match sim.lock().remove_resource::<R>(&subscription, &resource_group, &name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e @ ResourceError::NotFound(_)) => text_response(StatusCode::NOT_FOUND, format!("{e}\n")),
        Err(e @ ResourceError::Invalid(_)) => text_response(StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

/// A body that is an `R` as the inventory describes it plus a `subscription` string.
fn with_subscription<R: RuntimeResource + DeserializeOwned>(body: &[u8]) -> Result<(String, R), String> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let object = value.as_object_mut().ok_or_else(|| format!("the body is not a {} (a JSON object)", R::KIND))?;
    let subscription = match object.remove("subscription") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(_) => return Err("subscription must be a non-empty string".into()),
        None => return Err(format!("the body names no subscription (the {}'s, beside its fields)", R::KIND)),
    };
    let resource = serde_json::from_value(value).map_err(|e| format!("the body is not a {}: {e}", R::KIND))?;
    Ok((subscription, resource))
}

/// `GET /_sim/delivery`: where flow logs are delivered and what is paused.
pub(super) async fn admin_delivery(State(sim): State<Simulator>) -> Response {
    let endpoint = sim.lock().world.blob_endpoint.clone();
    json_response(StatusCode::OK, &json!({"endpoint": endpoint, "paused": sim.delivery_paused().await}))
}

/// `PUT /_sim/delivery`: `{"paused": bool, "storageAccount": name}` or `{"paused": bool, "flowLog": id}` pauses or
/// resumes delivery; 200 with what `GET` answers.
pub(super) async fn admin_pause_delivery(State(sim): State<Simulator>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Pause {
        paused: bool,
        storage_account: Option<String>,
        flow_log: Option<String>,
    }
    let pause: Pause = match serde_json::from_slice(&body) {
        Ok(pause) => pause,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("the body is not a pause: {e}\n")),
    };
    if pause.storage_account.is_none() == pause.flow_log.is_none() {
        return text_response(StatusCode::BAD_REQUEST, "name one of storageAccount and flowLog\n".into());
    }
    sim.pause_delivery(pause.storage_account.as_deref(), pause.flow_log.as_deref(), pause.paused).await;
    admin_delivery(State(sim)).await
}

/// `POST /_sim/delivery/deliver`: `{"from": unix seconds (default: this minute), "minutes": n (default 1)}` writes
/// those minutes' records of every enabled flow log; 200 with `{written: [...], skipped: [...]}`; 400 when the body
/// is wrong, 502 when storage refused a write.
pub(super) async fn admin_deliver(State(sim): State<Simulator>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Deliver {
        from: Option<u64>,
        minutes: Option<u32>,
    }
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let ask: Deliver = match serde_json::from_slice(body) {
        Ok(ask) => ask,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("the body is not a delivery: {e}\n")),
    };
    let minutes = ask.minutes.unwrap_or(1);
    if !(1..=24 * 60).contains(&minutes) {
        return text_response(StatusCode::BAD_REQUEST, "minutes must be 1..=1440\n".into());
    }
    match sim.deliver(ask.from.unwrap_or_else(super::delivery::this_minute), minutes).await {
        Ok(report) => json_response(StatusCode::OK, &report),
        Err(e) => text_response(StatusCode::BAD_GATEWAY, format!("{e}\n")),
    }
}

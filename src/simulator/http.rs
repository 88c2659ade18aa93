//! HTTP: the token endpoint, the ARM routes with their common headers, and the admin API.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::Simulator;
use super::state::{
    ArmError, CONFIGURE_FLOW_LOG, Ctx, OPERATION_RESULT, OPERATION_STATUS, Outcome, Poll, QUERY_FLOW_LOG_STATUS,
    State as SimState, TOKEN, WatcherRef,
};
use crate::azure::model::{AsyncOperationResult, ErrorResponse, FlowLogInformation};

const JSON: &str = "application/json; charset=utf-8";

pub(super) fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/_sim/counters", get(admin_counters))
        .route("/_sim/counters/reset", post(admin_reset_counters))
        .route("/_sim/flowLogs", get(admin_flow_logs).put(admin_set_flow_log))
        .route("/_sim/inventory", get(admin_inventory))
        .fallback(arm)
        .with_state(sim)
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let body = serde_json::to_vec(body).expect("wire types always serialize to JSON");
    (status, [(CONTENT_TYPE, JSON)], body).into_response()
}

fn text_response(status: StatusCode, text: String) -> Response {
    (status, text).into_response()
}

async fn token(State(sim): State<Simulator>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let result = {
        let mut state = sim.lock();
        state.count(TOKEN);
        state.issue_token(&tenant, &form)
    };
    match result {
        Ok(token) => {
            tracing::debug!(tenant, "token issued");
            json_response(StatusCode::OK, &token)
        }
        Err(e) => {
            tracing::debug!(tenant, error = e.error, code = e.code, "token refused");
            let body = json!({
                "error": e.error,
                "error_description": e.description,
                "error_codes": [e.code],
                "trace_id": Uuid::new_v4().to_string(),
                "correlation_id": Uuid::new_v4().to_string(),
                "error_uri": format!("https://login.microsoftonline.com/error?code={}", e.code),
            });
            json_response(e.status, &body)
        }
    }
}

/// The ARM routes the simulator implements, matched case-insensitively as ARM does.
enum Route<'a> {
    /// `POST /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{nw}/{action}`
    Action { at: WatcherRef<'a>, configure: bool },
    /// `GET /subscriptions/{s}/providers/Microsoft.Network/locations/{l}/{operations|operationResults}/{id}`
    Operation { subscription: &'a str, location: &'a str, id: &'a str, result: bool },
}

impl<'a> Route<'a> {
    fn parse(method: &Method, path: &'a str) -> Option<Route<'a>> {
        let s: Vec<&str> = path.trim_matches('/').split('/').collect();
        let is = |i: usize, literal: &str| s[i].eq_ignore_ascii_case(literal);
        if *method == Method::POST
            && s.len() == 9
            && is(0, "subscriptions")
            && is(2, "resourceGroups")
            && is(4, "providers")
            && is(5, "Microsoft.Network")
            && is(6, "networkWatchers")
            && (is(8, "configureFlowLog") || is(8, "queryFlowLogStatus"))
        {
            let at = WatcherRef { subscription: s[1], resource_group: s[3], name: s[7] };
            return Some(Route::Action { at, configure: is(8, "configureFlowLog") });
        }
        if *method == Method::GET
            && s.len() == 8
            && is(0, "subscriptions")
            && is(2, "providers")
            && is(3, "Microsoft.Network")
            && is(4, "locations")
            && (is(6, "operations") || is(6, "operationResults"))
        {
            return Some(Route::Operation {
                subscription: s[1],
                location: s[5],
                id: s[7],
                result: is(6, "operationResults"),
            });
        }
        None
    }

    fn operation(&self) -> &'static str {
        match self {
            Route::Action { configure: true, .. } => CONFIGURE_FLOW_LOG,
            Route::Action { configure: false, .. } => QUERY_FLOW_LOG_STATUS,
            Route::Operation { result: false, .. } => OPERATION_STATUS,
            Route::Operation { result: true, .. } => OPERATION_RESULT,
        }
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        json_response(self.status, &ErrorResponse { error: self.error })
    }
}

/// Every ARM request: route, count, authenticate, check api-version, serve; then the ARM headers.
async fn arm(State(sim): State<Simulator>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = Uuid::new_v4().to_string();
    let correlation_id = headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        .unwrap_or_else(|| header_value(&Uuid::new_v4().to_string()));
    let write = method != Method::GET;
    let (mut response, remaining) = {
        let mut state = sim.lock();
        let response = serve_arm(&mut state, &method, &uri, &headers, &body, &request_id);
        (response, state.rate_limit_remaining(write))
    };
    tracing::debug!(%method, path = uri.path(), status = response.status().as_u16(), "ARM request");
    let h = response.headers_mut();
    h.insert("x-ms-request-id", header_value(&request_id));
    h.insert("x-ms-correlation-request-id", correlation_id);
    let limit = if write {
        "x-ms-ratelimit-remaining-subscription-writes"
    } else {
        "x-ms-ratelimit-remaining-subscription-reads"
    };
    h.insert(HeaderName::from_static(limit), header_value(&remaining.to_string()));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

fn serve_arm(
    state: &mut SimState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let Some(route) = Route::parse(method, uri.path()) else {
        // invented: not an Azure error; the simulator covers only the flow-log actions.
        let message = format!("The simulator does not implement {method} {}.", uri.path());
        return ArmError::new(StatusCode::NOT_FOUND, "NotFound", message).into_response();
    };
    state.count(route.operation());
    let base = base_url(uri, headers);
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Err(e) = state.check_bearer(authorization) {
        let challenge = format!(
            "Bearer authorization_uri=\"{base}/\", error=\"invalid_token\", error_description=\"{}\"",
            e.error.message.replace('"', "'")
        );
        let mut response = e.into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, header_value(&challenge));
        return response;
    }
    let api_version = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, v)| k.eq_ignore_ascii_case("api-version") && !v.is_empty())
        .map(|(_, v)| v.into_owned());
    let Some(api_version) = api_version else {
        return ArmError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
        .into_response();
    };
    let ctx = Ctx { base: &base, api_version: &api_version, request_id };
    match route {
        Route::Action { at, configure } => {
            let outcome = if configure { state.configure(&ctx, &at, body) } else { state.query(&ctx, &at, body) };
            match outcome {
                Ok(Outcome::Done(info)) => json_response(StatusCode::OK, &info),
                Ok(Outcome::Accepted { body, location_url, status_url, retry_after }) => {
                    let mut response = json_response(StatusCode::ACCEPTED, &body);
                    let h = response.headers_mut();
                    h.insert(LOCATION, header_value(&location_url));
                    h.insert("azure-asyncoperation", header_value(&status_url));
                    h.insert(RETRY_AFTER, header_value(&retry_after.to_string()));
                    response
                }
                Err(e) => e.into_response(),
            }
        }
        Route::Operation { subscription, location, id, result } => match state.poll(subscription, location, id) {
            Ok(Poll::InProgress { location_url, retry_after }) if result => {
                let mut response = StatusCode::ACCEPTED.into_response();
                let h = response.headers_mut();
                h.insert(LOCATION, header_value(&location_url));
                h.insert(RETRY_AFTER, header_value(&retry_after.to_string()));
                response
            }
            Ok(Poll::InProgress { retry_after, .. }) => {
                // Network RP status URLs carry Retry-After too; without it clients fall back to long defaults.
                let mut response = json_response(StatusCode::OK, &status("InProgress"));
                response.headers_mut().insert(RETRY_AFTER, header_value(&retry_after.to_string()));
                response
            }
            Ok(Poll::Done(info)) if result => json_response(StatusCode::OK, &info),
            Ok(Poll::Done(_)) => json_response(StatusCode::OK, &status("Succeeded")),
            Err(e) => e.into_response(),
        },
    }
}

fn status(status: &str) -> AsyncOperationResult {
    AsyncOperationResult { status: status.into(), error: None }
}

/// Values built from request input may hold bytes a header cannot; those become empty rather than panic.
fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The URL the client used to reach the simulator, for operation URLs it can follow.
fn base_url(uri: &Uri, headers: &HeaderMap) -> String {
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    format!("http://{host}")
}

async fn admin_counters(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.counters())
}

async fn admin_reset_counters(State(sim): State<Simulator>) -> StatusCode {
    sim.reset_counters();
    StatusCode::NO_CONTENT
}

async fn admin_flow_logs(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.lock().all_flow_log_statuses())
}

async fn admin_set_flow_log(State(sim): State<Simulator>, body: Bytes) -> Response {
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

async fn admin_inventory(State(sim): State<Simulator>) -> Response {
    let yaml = sim.lock().inventory().to_yaml();
    ([(CONTENT_TYPE, "application/yaml")], yaml).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_case_insensitively() {
        let path = "/SUBSCRIPTIONS/s/resourcegroups/rg/PROVIDERS/microsoft.network/NetworkWatchers/nw/configureflowlog";
        let Some(Route::Action { at, configure: true }) = Route::parse(&Method::POST, path) else { panic!("no match") };
        assert_eq!((at.subscription, at.resource_group, at.name), ("s", "rg", "nw"));
        let path = "/subscriptions/s/providers/Microsoft.Network/locations/westeurope/operationresults/id";
        assert!(matches!(Route::parse(&Method::GET, path), Some(Route::Operation { result: true, id: "id", .. })));
        for (method, path) in [
            (
                Method::GET,
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkWatchers/nw/configureFlowLog",
            ),
            (Method::POST, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkWatchers/nw/other"),
            (
                Method::POST,
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/networkWatchers/nw/queryFlowLogStatus",
            ),
            (Method::GET, "/subscriptions/s/providers/Microsoft.Network/locations/l/operations"),
            (Method::GET, "/"),
        ] {
            assert!(Route::parse(&method, path).is_none(), "{method} {path}");
        }
    }
}

//! HTTP: the token and IMDS endpoints, the ARM routes with their common headers, throttling and faults, the admin
//! API, and a listener whose connections a fault can close without an answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use super::Simulator;
use super::faults::{ErrorFault, FaultEffect, FaultRule};
use super::inventory::Throttling;
use super::rate_limit::Kind;
use super::state::{self as ops, ErrorReply, Reply, RequestContext, State as SimState, WatcherRef};
use super::world::{NIC_TYPE, NSG_TYPE, ResourcePath, VNET_TYPE, WORKSPACE_TYPE};
use flowlog_wire::model::{ErrorResponse, FlowLog, FlowLogInformation};

const JSON: &str = "application/json; charset=utf-8";

pub(super) fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/metadata/identity/oauth2/token", get(imds))
        .route("/_sim/counters", get(admin_counters))
        .route("/_sim/counters/reset", post(admin_reset_counters))
        .route("/_sim/flowLogs", get(admin_flow_logs).put(admin_set_flow_log))
        .route("/_sim/flowLogResources", get(admin_flow_log_resources).put(admin_set_flow_log_resource))
        .route("/_sim/faults", get(admin_faults).put(admin_set_faults).delete(admin_clear_faults))
        .route("/_sim/throttling", get(admin_throttling).put(admin_set_throttling))
        .route("/_sim/throttling/reset", post(admin_reset_throttling))
        .route("/_sim/inventory", get(admin_inventory))
        .fallback(arm)
        .with_state(sim)
}

/// Serves `router` on `listener` with connections that a `drop` fault can close.
pub(super) async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    axum::serve(DropListener(listener), router.into_make_service_with_connect_info::<Dropper>()).await
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let body = serde_json::to_vec(body).expect("wire types always serialize to JSON");
    (status, [(CONTENT_TYPE, JSON)], body).into_response()
}

fn text_response(status: StatusCode, text: String) -> Response {
    (status, text).into_response()
}

/// Values built from request input may hold bytes a header cannot; those become empty rather than panic.
fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(s) = seconds {
        response.headers_mut().insert(RETRY_AFTER, header_value(&s.to_string()));
    }
    response
}

/// The error, latency or drop a fault rule decides for this call; `None` means: serve it (after any latency).
async fn apply_fault(sim: &Simulator, conn: &Conn, operation: &str) -> Option<Result<ErrorFault, Response>> {
    let effect = {
        let mut state = sim.lock();
        state.count(operation);
        state.faults.before(operation)
    };
    match effect? {
        FaultEffect::Error(e) => Some(Ok(e)),
        FaultEffect::LatencyMs(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        FaultEffect::Drop => Some(Err(conn.drop_connection())),
        FaultEffect::Lro(_) => None,
    }
}

fn fault_status(e: &ErrorFault) -> StatusCode {
    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// "The simulator injected this error." unless the rule gives a message.
fn fault_message(e: &ErrorFault) -> String {
    e.message.clone().unwrap_or_else(|| "The simulator injected this error.".into())
}

async fn token(State(sim): State<Simulator>, conn: Conn, Path(tenant): Path<String>, body: Bytes) -> Response {
    let entra_error = |status: StatusCode, error: &str, description: String, codes: Vec<u64>| {
        let body = json!({
            "error": error,
            "error_description": description,
            "error_codes": codes,
            "trace_id": Uuid::new_v4().to_string(),
            "correlation_id": Uuid::new_v4().to_string(),
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", codes.first().unwrap_or(&0)),
        });
        json_response(status, &body)
    };
    match apply_fault(&sim, &conn, ops::TOKEN).await {
        Some(Ok(e)) => {
            let response = entra_error(fault_status(&e), &e.code, fault_message(&e), vec![]);
            return with_retry_after(response, e.retry_after_seconds.map(u64::from));
        }
        Some(Err(dropped)) => return dropped,
        None => {}
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let result = {
        let mut state = sim.lock();
        let SimState { tokens, inventory, .. } = &mut *state;
        tokens.client_credentials(inventory, &tenant, &form, SystemTime::now())
    };
    match result {
        Ok(token) => {
            tracing::debug!(tenant, "token issued");
            json_response(StatusCode::OK, &token)
        }
        Err(e) => {
            tracing::debug!(tenant, error = e.error, code = e.code, "token refused");
            entra_error(e.status, e.error, e.description, vec![e.code])
        }
    }
}

async fn imds(State(sim): State<Simulator>, conn: Conn, uri: Uri, headers: HeaderMap) -> Response {
    match apply_fault(&sim, &conn, ops::IMDS).await {
        Some(Ok(e)) => {
            let body = json!({"error": e.code, "error_description": fault_message(&e)});
            return with_retry_after(json_response(fault_status(&e), &body), e.retry_after_seconds.map(u64::from));
        }
        Some(Err(dropped)) => return dropped,
        None => {}
    }
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok());
    let result = {
        let mut state = sim.lock();
        let SimState { tokens, inventory, .. } = &mut *state;
        tokens.imds(inventory, metadata, &query, SystemTime::now())
    };
    match result {
        Ok(token) => json_response(StatusCode::OK, &token),
        Err(e) => json_response(e.status, &json!({"error": e.error, "error_description": e.description})),
    }
}

#[derive(Clone, Copy)]
enum FlowLogMethod {
    Get,
    Put,
    Patch,
    Delete,
}

/// The ARM routes the simulator implements, matched case-insensitively as ARM does.
enum Route<'a> {
    /// `POST /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{nw}/{action}`
    Action {
        at: WatcherRef<'a>,
        configure: bool,
    },
    /// `GET /subscriptions/{s}/providers/Microsoft.Network/locations/{l}/{operations|operationResults}/{id}`
    Operation {
        subscription: &'a str,
        location: &'a str,
        id: &'a str,
        result: bool,
    },
    Watchers {
        subscription: &'a str,
        resource_group: Option<&'a str>,
    },
    Watcher(WatcherRef<'a>),
    FlowLogs(WatcherRef<'a>),
    FlowLog {
        at: WatcherRef<'a>,
        name: &'a str,
        method: FlowLogMethod,
    },
    Nsgs {
        subscription: &'a str,
        resource_group: Option<&'a str>,
    },
    Nsg(ResourcePath<'a>),
    Vnet(ResourcePath<'a>),
    Subnet {
        at: ResourcePath<'a>,
        vnet: &'a str,
        subnet: &'a str,
    },
    Nic(ResourcePath<'a>),
    Workspace(ResourcePath<'a>),
    Provider {
        subscription: &'a str,
        namespace: &'a str,
        register: bool,
    },
}

impl<'a> Route<'a> {
    fn parse(method: &Method, path: &'a str) -> Option<Route<'a>> {
        let s: Vec<&str> = path.trim_matches('/').split('/').collect();
        let is = |i: usize, literal: &str| s.get(i).is_some_and(|x| x.eq_ignore_ascii_case(literal));
        let get = *method == Method::GET;
        if !is(0, "subscriptions") || s.len() < 4 {
            return None;
        }
        let sub = s[1];
        // /subscriptions/{s}/providers/...
        if is(2, "providers") {
            return match s.len() {
                4 if get => Some(Route::Provider { subscription: sub, namespace: s[3], register: false }),
                5 if *method == Method::POST && is(4, "register") => {
                    Some(Route::Provider { subscription: sub, namespace: s[3], register: true })
                }
                5 if get && is(3, "Microsoft.Network") && is(4, "networkWatchers") => {
                    Some(Route::Watchers { subscription: sub, resource_group: None })
                }
                5 if get && is(3, "Microsoft.Network") && is(4, "networkSecurityGroups") => {
                    Some(Route::Nsgs { subscription: sub, resource_group: None })
                }
                8 if get
                    && is(3, "Microsoft.Network")
                    && is(4, "locations")
                    && (is(6, "operations") || is(6, "operationResults")) =>
                {
                    Some(Route::Operation {
                        subscription: sub,
                        location: s[5],
                        id: s[7],
                        result: is(6, "operationResults"),
                    })
                }
                _ => None,
            };
        }
        // /subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}[/{name}[/...]]
        if s.len() < 7 || !is(2, "resourceGroups") || !is(4, "providers") {
            return None;
        }
        let rg = s[3];
        let path = |resource_type: &str, name: &'a str| ResourcePath {
            subscription: sub,
            resource_group: rg,
            resource_type: resource_type.into(),
            name,
        };
        let watcher = |name: &'a str| WatcherRef { subscription: sub, resource_group: rg, name };
        if is(5, "Microsoft.OperationalInsights") {
            return (get && s.len() == 8 && is(6, "workspaces")).then(|| Route::Workspace(path(WORKSPACE_TYPE, s[7])));
        }
        if !is(5, "Microsoft.Network") {
            return None;
        }
        match s.len() {
            7 if get && is(6, "networkWatchers") => {
                Some(Route::Watchers { subscription: sub, resource_group: Some(rg) })
            }
            7 if get && is(6, "networkSecurityGroups") => {
                Some(Route::Nsgs { subscription: sub, resource_group: Some(rg) })
            }
            8 if get && is(6, "networkWatchers") => Some(Route::Watcher(watcher(s[7]))),
            8 if get && is(6, "networkSecurityGroups") => Some(Route::Nsg(path(NSG_TYPE, s[7]))),
            8 if get && is(6, "virtualNetworks") => Some(Route::Vnet(path(VNET_TYPE, s[7]))),
            8 if get && is(6, "networkInterfaces") => Some(Route::Nic(path(NIC_TYPE, s[7]))),
            9 if *method == Method::POST
                && is(6, "networkWatchers")
                && (is(8, "configureFlowLog") || is(8, "queryFlowLogStatus")) =>
            {
                Some(Route::Action { at: watcher(s[7]), configure: is(8, "configureFlowLog") })
            }
            9 if get && is(6, "networkWatchers") && is(8, "flowLogs") => Some(Route::FlowLogs(watcher(s[7]))),
            10 if is(6, "networkWatchers") && is(8, "flowLogs") => {
                let method = match *method {
                    Method::GET => FlowLogMethod::Get,
                    Method::PUT => FlowLogMethod::Put,
                    Method::PATCH => FlowLogMethod::Patch,
                    Method::DELETE => FlowLogMethod::Delete,
                    _ => return None,
                };
                Some(Route::FlowLog { at: watcher(s[7]), name: s[9], method })
            }
            10 if get && is(6, "virtualNetworks") && is(8, "subnets") => Some(Route::Subnet {
                at: path(&format!("{VNET_TYPE}/{}/subnets", s[7]), s[9]),
                vnet: s[7],
                subnet: s[9],
            }),
            _ => None,
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Route::Action { configure: true, .. } => ops::CONFIGURE_FLOW_LOG,
            Route::Action { configure: false, .. } => ops::QUERY_FLOW_LOG_STATUS,
            Route::Operation { result: false, .. } => ops::OPERATION_STATUS,
            Route::Operation { result: true, .. } => ops::OPERATION_RESULT,
            Route::Watchers { resource_group: Some(_), .. } => ops::NETWORK_WATCHERS_LIST,
            Route::Watchers { resource_group: None, .. } => ops::NETWORK_WATCHERS_LIST_ALL,
            Route::Watcher(_) => ops::NETWORK_WATCHERS_GET,
            Route::FlowLogs(_) => ops::FLOW_LOGS_LIST,
            Route::FlowLog { method: FlowLogMethod::Get, .. } => ops::FLOW_LOGS_GET,
            Route::FlowLog { method: FlowLogMethod::Put, .. } => ops::FLOW_LOGS_CREATE_OR_UPDATE,
            Route::FlowLog { method: FlowLogMethod::Patch, .. } => ops::FLOW_LOGS_UPDATE_TAGS,
            Route::FlowLog { method: FlowLogMethod::Delete, .. } => ops::FLOW_LOGS_DELETE,
            Route::Nsgs { resource_group: Some(_), .. } => ops::NSGS_LIST,
            Route::Nsgs { resource_group: None, .. } => ops::NSGS_LIST_ALL,
            Route::Nsg(_) => ops::NSGS_GET,
            Route::Vnet(_) => ops::VIRTUAL_NETWORKS_GET,
            Route::Subnet { .. } => ops::SUBNETS_GET,
            Route::Nic(_) => ops::NETWORK_INTERFACES_GET,
            Route::Workspace(_) => ops::WORKSPACES_GET,
            Route::Provider { register: false, .. } => ops::PROVIDERS_GET,
            Route::Provider { register: true, .. } => ops::PROVIDERS_REGISTER,
        }
    }

    fn subscription(&self) -> &'a str {
        match self {
            Route::Action { at, .. } | Route::Watcher(at) | Route::FlowLogs(at) | Route::FlowLog { at, .. } => {
                at.subscription
            }
            Route::Nsg(p) | Route::Vnet(p) | Route::Nic(p) | Route::Workspace(p) | Route::Subnet { at: p, .. } => {
                p.subscription
            }
            Route::Operation { subscription, .. }
            | Route::Watchers { subscription, .. }
            | Route::Nsgs { subscription, .. }
            | Route::Provider { subscription, .. } => subscription,
        }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        with_retry_after(json_response(self.status, &ErrorResponse { error: self.error }), retry_after)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match &self.body {
            Some(body) => json_response(self.status, body),
            None => self.status.into_response(),
        };
        let h = response.headers_mut();
        if let Some(url) = &self.location {
            h.insert(LOCATION, header_value(url));
        }
        if let Some(url) = &self.async_operation {
            h.insert("azure-asyncoperation", header_value(url));
        }
        if let Some(seconds) = self.retry_after {
            h.insert(RETRY_AFTER, header_value(&seconds.to_string()));
        }
        response
    }
}

/// Every ARM request: route, count, faults, authenticate, check api-version, throttle, serve; then the ARM headers.
async fn arm(
    State(sim): State<Simulator>,
    conn: Conn,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = Uuid::new_v4().to_string();
    let correlation_id = headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        .unwrap_or_else(|| header_value(&Uuid::new_v4().to_string()));
    let with_headers = |mut response: Response, remaining: Option<(Kind, u64)>| {
        let h = response.headers_mut();
        h.insert("x-ms-request-id", header_value(&request_id));
        h.insert("x-ms-correlation-request-id", correlation_id.clone());
        if let Some((kind, remaining)) = remaining {
            h.insert(HeaderName::from_static(kind.header()), header_value(&remaining.to_string()));
        }
        h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    };
    let Some(route) = Route::parse(&method, uri.path()) else {
        // invented: not an Azure error; the simulator covers only the operations above.
        let message = format!("The simulator does not implement {method} {}.", uri.path());
        return with_headers(ErrorReply::new(StatusCode::NOT_FOUND, "NotFound", message).into_response(), None);
    };
    match apply_fault(&sim, &conn, route.operation()).await {
        Some(Ok(e)) => {
            let mut error = ErrorReply::new(fault_status(&e), &e.code, fault_message(&e));
            error.retry_after = e.retry_after_seconds.map(u64::from);
            return with_headers(error.into_response(), None);
        }
        Some(Err(dropped)) => return dropped,
        None => {}
    }
    let (response, remaining) = {
        let mut state = sim.lock();
        serve_arm(&mut state, &route, &method, &uri, &headers, &body, &request_id)
    };
    tracing::debug!(%method, path = uri.path(), status = response.status().as_u16(), "ARM request");
    with_headers(response, remaining)
}

fn serve_arm(
    state: &mut SimState,
    route: &Route,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> (Response, Option<(Kind, u64)>) {
    let base = base_url(uri, headers);
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let actor =
        match state.tokens.check_bearer(authorization, &state.inventory.behaviour.arm_audiences, SystemTime::now()) {
            Ok(actor) => actor,
            Err(e) => {
                let challenge = format!(
                    "Bearer authorization_uri=\"{base}/\", error=\"invalid_token\", error_description=\"{}\"",
                    e.error.message.replace('"', "'")
                );
                let mut response = e.into_response();
                response.headers_mut().insert(WWW_AUTHENTICATE, header_value(&challenge));
                return (response, None);
            }
        };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_empty()).map(|(_, v)| v);
    let Some(api_version) = param("api-version") else {
        let e = ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
        return (e.into_response(), None);
    };
    let kind = match *method {
        Method::GET => Kind::Reads,
        Method::DELETE => Kind::Deletes,
        _ => Kind::Writes,
    };
    let subscription = route.subscription();
    let remaining = match state.throttle.take(subscription, &actor, kind, Instant::now()) {
        Ok(remaining) => remaining,
        Err(wait) => {
            let mut e = ErrorReply::new(
                StatusCode::TOO_MANY_REQUESTS,
                "SubscriptionRequestsThrottled",
                format!(
                    "Number of '{}' requests for subscription '{subscription}' actor '{actor}' exceeded. Please try \
                     again after '{wait}' seconds after the additional tokens are available. Refer to \
                     https://aka.ms/arm-throttling",
                    kind.singular()
                ),
            );
            e.retry_after = Some(wait);
            return (e.into_response(), Some((kind, 0)));
        }
    };
    let ctx = RequestContext { base: &base, api_version, request_id, operation: route.operation() };
    let result = match route {
        Route::Action { at, configure: true } => state.configure(&ctx, at, body),
        Route::Action { at, configure: false } => state.query(&ctx, at, body),
        Route::Operation { subscription, location, id, result } => state.poll(subscription, location, id, *result),
        Route::Watchers { subscription, resource_group } => state.list_watchers(subscription, *resource_group),
        Route::Watcher(at) => state.get_watcher(at),
        Route::FlowLogs(at) => state.list_flow_logs(&ctx, at, param("$skipToken").map(String::as_str)),
        Route::FlowLog { at, name, method } => match method {
            FlowLogMethod::Get => state.get_flow_log(&ctx, at, name),
            FlowLogMethod::Put => state.put_flow_log(&ctx, at, name, body),
            FlowLogMethod::Patch => state.patch_flow_log(&ctx, at, name, body),
            FlowLogMethod::Delete => state.delete_flow_log(&ctx, at, name),
        },
        Route::Nsgs { subscription, resource_group } => state.list_nsgs(subscription, *resource_group),
        Route::Nsg(at) => state.get_nsg(at),
        Route::Vnet(at) => state.get_vnet(at),
        Route::Subnet { at, vnet, subnet } => state.get_subnet(at, vnet, subnet),
        Route::Nic(at) => state.get_nic(at),
        Route::Workspace(at) => state.get_workspace(at),
        Route::Provider { subscription, namespace, register } => state.provider(subscription, namespace, *register),
    };
    let response = match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    };
    (response, Some((kind, remaining)))
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

// ---- admin API ------------------------------------------------------------------------------------------------

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

async fn admin_flow_log_resources(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.flow_log_resources())
}

async fn admin_set_flow_log_resource(State(sim): State<Simulator>, body: Bytes) -> Response {
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

async fn admin_faults(State(sim): State<Simulator>) -> Response {
    json_response(StatusCode::OK, &sim.faults())
}

async fn admin_set_faults(State(sim): State<Simulator>, body: Bytes) -> Response {
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

async fn admin_clear_faults(State(sim): State<Simulator>) -> StatusCode {
    let _ = sim.set_faults(vec![]);
    StatusCode::NO_CONTENT
}

async fn admin_throttling(State(sim): State<Simulator>) -> Response {
    let mut state = sim.lock();
    let buckets = state.throttle.buckets(Instant::now());
    json_response(StatusCode::OK, &json!({"config": state.throttle.config(), "buckets": buckets}))
}

async fn admin_set_throttling(State(sim): State<Simulator>, body: Bytes) -> Response {
    let config: Throttling = match serde_json::from_slice(&body) {
        Ok(config) => config,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("the body is not a throttling config: {e}\n")),
    };
    match sim.set_throttling(config) {
        Ok(()) => admin_throttling(State(sim)).await,
        Err(e) => text_response(StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

async fn admin_reset_throttling(State(sim): State<Simulator>) -> StatusCode {
    sim.reset_throttling();
    StatusCode::NO_CONTENT
}

async fn admin_inventory(State(sim): State<Simulator>) -> Response {
    let yaml = sim.lock().inventory.to_yaml();
    ([(CONTENT_TYPE, "application/yaml")], yaml).into_response()
}

// ---- connections a fault can drop -----------------------------------------------------------------------------

/// A TCP listener whose connections carry a switch that makes them fail, so that a request can end without answer.
struct DropListener(TcpListener);

impl Listener for DropListener {
    type Io = DroppableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        (DroppableStream { stream, dropped: Arc::default() }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

struct DroppableStream {
    stream: TcpStream,
    dropped: Arc<AtomicBool>,
}

impl DroppableStream {
    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl AsyncRead for DroppableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.dropped() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.dropped() {
            // The answer is never written; the server then closes the connection.
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The switch of the connection a request came on.
#[derive(Clone)]
struct Dropper(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, DropListener>> for Dropper {
    fn connect_info(stream: IncomingStream<'_, DropListener>) -> Self {
        Dropper(stream.io().dropped.clone())
    }
}

/// Extracts the connection's switch; absent when the router is served some other way.
struct Conn(Option<Dropper>);

impl<S: Send + Sync> FromRequestParts<S> for Conn {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Conn(parts.extensions.get::<ConnectInfo<Dropper>>().map(|c| c.0.clone())))
    }
}

impl Conn {
    /// Closes the connection without an answer; without a switch, breaks off the answer's body instead.
    fn drop_connection(&self) -> Response {
        match &self.0 {
            Some(dropper) => {
                dropper.0.store(true, Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            None => {
                let failing =
                    futures::stream::once(async { Err::<Bytes, io::Error>(io::ErrorKind::ConnectionAborted.into()) });
                (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(failing)).into_response()
            }
        }
    }
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
        let rg = "/subscriptions/s/resourceGroups/rg/providers";
        for (method, path, operation) in [
            (Method::GET, "/subscriptions/s/providers/Microsoft.Insights".to_string(), ops::PROVIDERS_GET),
            (Method::POST, "/subscriptions/s/providers/microsoft.insights/REGISTER".into(), ops::PROVIDERS_REGISTER),
            (
                Method::GET,
                "/subscriptions/s/providers/Microsoft.Network/networkWatchers".into(),
                ops::NETWORK_WATCHERS_LIST_ALL,
            ),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers"), ops::NETWORK_WATCHERS_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw"), ops::NETWORK_WATCHERS_GET),
            (
                Method::GET,
                "/subscriptions/s/providers/Microsoft.Network/networkSecurityGroups".into(),
                ops::NSGS_LIST_ALL,
            ),
            (Method::GET, format!("{rg}/Microsoft.Network/networkSecurityGroups"), ops::NSGS_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/networkSecurityGroups/n"), ops::NSGS_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/virtualNetworks/v"), ops::VIRTUAL_NETWORKS_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/virtualNetworks/v/subnets/s"), ops::SUBNETS_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/networkInterfaces/n"), ops::NETWORK_INTERFACES_GET),
            (Method::GET, format!("{rg}/Microsoft.OperationalInsights/workspaces/w"), ops::WORKSPACES_GET),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs"), ops::FLOW_LOGS_LIST),
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw/FlowLogs/f"), ops::FLOW_LOGS_GET),
            (
                Method::PUT,
                format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f"),
                ops::FLOW_LOGS_CREATE_OR_UPDATE,
            ),
            (
                Method::PATCH,
                format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f"),
                ops::FLOW_LOGS_UPDATE_TAGS,
            ),
            (Method::DELETE, format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f"), ops::FLOW_LOGS_DELETE),
        ] {
            let route = Route::parse(&method, &path).unwrap_or_else(|| panic!("{method} {path} does not match"));
            assert_eq!(route.operation(), operation, "{method} {path}");
            assert_eq!(route.subscription(), "s");
        }
        for (method, path) in [
            (Method::GET, format!("{rg}/Microsoft.Network/networkWatchers/nw/configureFlowLog")),
            (Method::POST, format!("{rg}/Microsoft.Network/networkWatchers/nw/other")),
            (Method::POST, format!("{rg}/Microsoft.Compute/networkWatchers/nw/queryFlowLogStatus")),
            (Method::POST, format!("{rg}/Microsoft.Network/networkWatchers/nw/flowLogs/f")),
            (Method::DELETE, format!("{rg}/Microsoft.Network/networkSecurityGroups/n")),
            (Method::GET, "/subscriptions/s/providers/Microsoft.Network/locations/l/operations".into()),
            (Method::GET, "/subscriptions/s".into()),
            (Method::GET, "/".into()),
        ] {
            assert!(Route::parse(&method, &path).is_none(), "{method} {path}");
        }
    }
}

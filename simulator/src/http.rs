//! HTTP: the router (token, IMDS, the admin API, and every other path to ARM), the token and IMDS endpoints, and
//! the ARM pipeline — route, count, faults, authenticate, check api-version, throttle, serve, then ARM's common
//! headers. ARM routes are parsed in `routes.rs`, the admin API is in `admin.rs`, droppable connections in
//! `connections.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::json;
use uuid::Uuid;

use super::admin::{
    admin_clear_faults, admin_counters, admin_deliver, admin_delivery, admin_faults, admin_flow_log_resources,
    admin_flow_logs, admin_inventory, admin_pause_delivery, admin_put_resource, admin_remove_resource,
    admin_reset_counters, admin_reset_throttling, admin_set_faults, admin_set_flow_log, admin_set_flow_log_resource,
    admin_set_throttling, admin_throttling,
};
use super::connections::Conn;
use super::faults::{ErrorFault, FaultEffect};
use super::handle::Simulator;
use super::inventory::{NetworkInterface as Nic, NetworkSecurityGroup as Nsg, VirtualNetwork as Vnet};
use super::operation_names as ops;
use super::rate_limit::{Kind, Scope};
use super::reply::{ErrorReply, JSON, header_value, json_response, with_retry_after};
use super::request::RequestContext;
use super::routes::{FlowLogMethod, Route};
use super::state::State as SimState;

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
        .route("/_sim/delivery", get(admin_delivery).put(admin_pause_delivery))
        .route("/_sim/delivery/deliver", post(admin_deliver))
        .route("/_sim/virtualNetworks", put(admin_put_resource::<Vnet>))
        .route("/_sim/virtualNetworks/{subscription}/{resourceGroup}/{name}", delete(admin_remove_resource::<Vnet>))
        .route("/_sim/networkInterfaces", put(admin_put_resource::<Nic>))
        .route("/_sim/networkInterfaces/{subscription}/{resourceGroup}/{name}", delete(admin_remove_resource::<Nic>))
        .route("/_sim/networkSecurityGroups", put(admin_put_resource::<Nsg>))
        .route(
            "/_sim/networkSecurityGroups/{subscription}/{resourceGroup}/{name}",
            delete(admin_remove_resource::<Nsg>),
        )
        .fallback(arm)
        .with_state(sim)
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
    let with_headers = |mut response: Response, remaining: Option<(Scope, Kind, u64)>| {
        let h = response.headers_mut();
        h.insert("x-ms-request-id", header_value(&request_id));
        h.insert("x-ms-correlation-request-id", correlation_id.clone());
        if let Some((scope, kind, remaining)) = remaining {
            h.insert(HeaderName::from_static(kind.header(scope)), header_value(&remaining.to_string()));
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
) -> (Response, Option<(Scope, Kind, u64)>) {
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
    // A request that names no subscription (tenant-level) spends its tenant's bucket, as ARM's do.
    let (scope, id) = match route.subscription() {
        Some(subscription) => (Scope::Subscription, subscription),
        None => (Scope::Tenant, state.world.tenant.as_str()),
    };
    let remaining = match state.throttle.take((scope, id), &actor, kind, Instant::now()) {
        Ok(remaining) => remaining,
        Err(wait) => {
            let code = match scope {
                Scope::Subscription => "SubscriptionRequestsThrottled",
                // ARM's code for the tenant's bucket; its message is assumed to be the subscription one's.
                Scope::Tenant => "TenantRequestsThrottled",
            };
            let mut e = ErrorReply::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!(
                    "Number of '{}' requests for {} '{id}' actor '{actor}' exceeded. Please try again after '{wait}' \
                     seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling",
                    kind.singular(),
                    scope.word(),
                ),
            );
            e.retry_after = Some(wait);
            return (e.into_response(), Some((scope, kind, 0)));
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
        Route::List { listed, subscription, resource_group } => state.list_resources(
            &ctx,
            *listed,
            (subscription, *resource_group),
            param("$skipToken").map(String::as_str),
        ),
        Route::Subscriptions => Ok(state.list_subscriptions(&ctx, param("$skipToken").map(String::as_str))),
        Route::Nsg(at) => state.get_nsg(at),
        Route::Vnet(at) => state.get_vnet(at),
        Route::Subnet { at, vnet, subnet } => state.get_subnet(at, vnet, subnet),
        Route::Nic(at) => state.get_nic(at),
        Route::Workspace(at) => state.get_workspace(at),
        Route::StorageAccount(at) => state.get_storage_account(at),
        Route::Provider { subscription, namespace, register } => state.provider(subscription, namespace, *register),
    };
    let response = match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    };
    (response, Some((scope, kind, remaining)))
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

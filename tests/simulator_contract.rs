//! The simulator against the published contract: replays every official example of what it serves
//! (`shared/azure-api/examples/*.json`) over HTTP, each against an inventory built to match it, and compares status
//! codes and bodies field by field. Values the server generates are checked for their format and then ignored:
//! ETags (`W/"<guid>"`), `targetResourceGuid` and `resourceGuid` (GUIDs), and the `provisioningState` of an
//! operation still in flight. Identities' `clientId`/`principalId` are not ignored: the inventories declare the
//! examples' identities with the examples' IDs.
//!
//! The examples are one table, [`replays!`]: a row per request, a test per row.

mod common;

use common::examples::{
    Example, ZERO_SUB, create_inventory, flow_log_delete_inventory, flow_log_update_tags_inventory,
    flow_logs_inventory, legacy_inventory, nsg_get_inventory, nsg_list_inventory, vnet_get_inventory,
    watchers_inventory,
};
use common::sim::{ARM_SCOPE, Answer, SimHttp, secret_form, token};
use flowlog_simulator::Inventory;
use futures::future::LocalBoxFuture;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CONFIGURE: &str = "NetworkWatcherFlowLogConfigure.json";
const STATUS_QUERY: &str = "NetworkWatcherFlowLogStatusQuery.json";
const NSG2: &str = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg2";

// ---------------------------------------------------------------------------------------------------------
// A row of the table.

/// How a value the server generates must look.
type Format = fn(&Value) -> bool;

/// One example replayed: a simulator with `inventory`, the example's request, its answer against the example's.
struct Replay {
    /// The file in `shared/azure-api/examples/`.
    example: &'static str,
    /// The simulator's resources and behaviour for it.
    inventory: fn() -> Inventory,
    /// The request: `method` on the resource the example's parameters name, then `tail`; the example's
    /// `parameters.parameters` as body.
    method: Method,
    tail: &'static str,
    /// The status the simulator must answer; the answer's body must be the example's body for this status.
    status: StatusCode,
    /// Headers the answer must carry, with these values.
    headers: &'static [(&'static str, &'static str)],
    /// Values the server generates (JSON pointers; `*` stands for every item of the example's list): checked for
    /// their format, then taken from the example so that the rest compares exactly.
    generated: &'static [(&'static str, Format)],
    /// Changes to the example's body where the simulator answers otherwise on purpose (each says why).
    fix: fn(&mut Value),
    /// What follows on the same simulator, if anything: polling the operation, reading the result back.
    then: Option<fn(Replayed) -> LocalBoxFuture<'static, ()>>,
}

impl Replay {
    const DEFAULT: Replay = Replay {
        example: "",
        inventory: Inventory::builtin,
        method: Method::GET,
        tail: "",
        status: StatusCode::OK,
        headers: &[],
        generated: &[],
        fix: |_| {},
        then: None,
    };
}

/// A replayed example, for what follows.
struct Replayed {
    example: Example,
    h: SimHttp,
    /// The answer, its generated values taken from the example.
    answer: Answer,
    /// The example's body, fixed.
    want: Value,
}

/// One test per row: `test_name: Replay { .. }`.
macro_rules! replays {
    ($($test:ident: $row:expr,)+) => {
        $(
            #[tokio::test]
            async fn $test() {
                replay($row).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------------------
// The table: a row per example request.

replays! {
    replays_flow_log_configure_in_sync_mode: Replay {
        example: CONFIGURE,
        inventory: || legacy_inventory("sync"),
        method: Method::POST,
        tail: "/configureFlowLog",
        headers: &[("content-type", "application/json; charset=utf-8")],
        ..Replay::DEFAULT
    },
    replays_flow_log_status_query_in_sync_mode: Replay {
        example: STATUS_QUERY,
        inventory: || legacy_inventory("sync"),
        method: Method::POST,
        tail: "/queryFlowLogStatus",
        headers: &[("content-type", "application/json; charset=utf-8")],
        ..Replay::DEFAULT
    },
    replays_flow_log_configure_in_async_mode: Replay {
        example: CONFIGURE,
        inventory: || legacy_inventory("async"),
        method: Method::POST,
        tail: "/configureFlowLog",
        status: StatusCode::ACCEPTED,
        headers: &[("retry-after", "0")],
        then: Some(|r| Box::pin(the_legacy_operation_is_polled_to_the_examples_answer(r))),
        ..Replay::DEFAULT
    },
    replays_flow_log_status_query_in_async_mode: Replay {
        example: STATUS_QUERY,
        inventory: || legacy_inventory("async"),
        method: Method::POST,
        tail: "/queryFlowLogStatus",
        status: StatusCode::ACCEPTED,
        headers: &[("retry-after", "0")],
        then: Some(|r| Box::pin(the_legacy_operation_is_polled_to_the_examples_answer(r))),
        ..Replay::DEFAULT
    },
    replays_flow_log_create_in_sync_mode: Replay {
        example: "NetworkWatcherFlowLogCreate.json",
        inventory: || create_inventory("sync"),
        method: Method::PUT,
        status: StatusCode::CREATED,
        generated: FLOW_LOG,
        fix: create_fix,
        then: Some(|r| Box::pin(a_second_put_updates_in_place(r))),
        ..Replay::DEFAULT
    },
    replays_flow_log_create_as_a_long_running_operation: Replay {
        example: "NetworkWatcherFlowLogCreate.json",
        inventory: || create_inventory("async"),
        method: Method::PUT,
        status: StatusCode::CREATED,
        headers: &[("retry-after", "0")],
        generated: &[
            ("/etag", is_etag),
            ("/properties/targetResourceGuid", is_guid),
            ("/properties/provisioningState", is_updating),
        ],
        fix: create_fix,
        then: Some(|r| Box::pin(the_creation_is_polled_then_updated(r))),
        ..Replay::DEFAULT
    },
    replays_flow_log_get: Replay {
        example: "NetworkWatcherFlowLogGet.json",
        inventory: || flow_logs_inventory("subid"),
        generated: FLOW_LOG,
        // The example's ID names watcher "тц1"; the request names nw1.
        fix: |want| want["id"] = json!(want["id"].as_str().unwrap().replace("/тц1/", "/nw1/")),
        then: Some(|r| Box::pin(a_missing_flow_log_is_not_found(r))),
        ..Replay::DEFAULT
    },
    // One page of two: no nextLink.
    replays_flow_log_list: Replay {
        example: "NetworkWatcherFlowLogList.json",
        inventory: || flow_logs_inventory(ZERO_SUB),
        tail: "/flowLogs",
        generated: FLOW_LOGS,
        // Both flow logs are listed from watcher nw1 of rg1: the example's IDs name watcher "тц1", and another
        // subscription's NetworkWatcher_centraluseuap for flowLog2.
        fix: |want| {
            let watcher =
                format!("/subscriptions/{ZERO_SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkWatchers/nw1");
            want["value"][0]["id"] = json!(format!("{watcher}/FlowLogs/flowLog1"));
            want["value"][1]["id"] = json!(format!("{watcher}/FlowLogs/flowLog2"));
        },
        ..Replay::DEFAULT
    },
    // 202 without a body, as in the example.
    replays_flow_log_delete: Replay {
        example: "NetworkWatcherFlowLogDelete.json",
        inventory: flow_log_delete_inventory,
        method: Method::DELETE,
        status: StatusCode::ACCEPTED,
        headers: &[("retry-after", "0")],
        then: Some(|r| Box::pin(the_deletion_is_polled_to_its_end(r))),
        ..Replay::DEFAULT
    },
    replays_flow_log_update_tags: Replay {
        example: "NetworkWatcherFlowLogUpdateTags.json",
        inventory: flow_log_update_tags_inventory,
        method: Method::PATCH,
        generated: FLOW_LOG,
        // As in FlowLogCreate, the example's name is not the last segment of its ID.
        fix: |want| want["name"] = json!("fl"),
        then: Some(|r| Box::pin(the_tags_are_stored(r))),
        ..Replay::DEFAULT
    },
    replays_network_watcher_get: Replay {
        example: "NetworkWatcherGet.json",
        inventory: watchers_inventory,
        generated: &[("/etag", is_etag)],
        ..Replay::DEFAULT
    },
    replays_network_watcher_list: Replay {
        example: "NetworkWatcherList.json",
        inventory: watchers_inventory,
        tail: "/networkWatchers",
        generated: &[("/value/*/etag", is_etag)],
        // The example lists two watchers in eastus, which Azure refuses (NetworkWatcherCountLimitReached: one
        // watcher per subscription and region); the inventory has nw2 in westus.
        fix: |want| want["value"][1]["location"] = json!("westus"),
        ..Replay::DEFAULT
    },
    replays_network_watcher_list_all: Replay {
        example: "NetworkWatcherListAll.json",
        inventory: watchers_inventory,
        tail: "/networkWatchers",
        generated: &[("/value/*/etag", is_etag)],
        ..Replay::DEFAULT
    },
    replays_network_security_group_get: Replay {
        example: "NetworkSecurityGroupGet.json",
        inventory: nsg_get_inventory,
        generated: RESOURCE_GUID,
        ..Replay::DEFAULT
    },
    replays_network_security_group_list: Replay {
        example: "NetworkSecurityGroupList.json",
        inventory: || nsg_list_inventory("subid", "rg1"),
        tail: "/networkSecurityGroups",
        generated: &[("/value/*/properties/resourceGuid", is_guid)],
        ..Replay::DEFAULT
    },
    replays_network_security_group_list_all: Replay {
        example: "NetworkSecurityGroupListAll.json",
        inventory: || nsg_list_inventory(ZERO_SUB, "rg2"),
        tail: "/networkSecurityGroups",
        generated: &[("/value/*/properties/resourceGuid", is_guid)],
        ..Replay::DEFAULT
    },
    replays_the_virtual_network_example: Replay {
        example: "VirtualNetworkGet.json",
        inventory: vnet_get_inventory,
        generated: RESOURCE_GUID,
        // Not modelled: the subnet's load-balancer IP configuration and the VNet's NAT gateway.
        fix: |want| {
            want["properties"]["subnets"][0]["properties"].as_object_mut().unwrap().remove("ipConfigurations");
            want["properties"].as_object_mut().unwrap().remove("defaultPublicNatGateway");
        },
        ..Replay::DEFAULT
    },
}

/// The example's answer with its inconsistencies fixed as the spec says: the request names watcher `nw1` and flow
/// log `fl`, so `id` is `.../networkWatchers/nw1/FlowLogs/fl` (the example says `nw`) and `name` is `fl`, the last
/// segment of the ID (the example shows the name `configureFlowLog` would give).
fn create_fix(want: &mut Value) {
    want["id"] = json!(want["id"].as_str().unwrap().replace("/networkWatchers/nw/", "/networkWatchers/nw1/"));
    want["name"] = json!("fl");
}

// ---------------------------------------------------------------------------------------------------------
// Replaying a row.

async fn replay(row: Replay) {
    let ex = Example::load(row.example);
    let h = SimHttp::start((row.inventory)()).await;
    let mut answer = ex.send(&h, row.method, row.tail, row.status).await;
    for (name, value) in row.headers {
        assert_eq!(answer.header(name), *value, "{}: header {name}", ex.file);
    }
    let mut want = ex.answer(row.status.as_str());
    (row.fix)(&mut want);
    for (pointer, format) in row.generated {
        generated(&mut answer.body, &want, pointer, *format);
    }
    assert_eq!(answer.body, want, "{}: not the example's {} answer", ex.file, row.status.as_str());
    if let Some(then) = row.then {
        then(Replayed { example: ex, h, answer, want }).await;
    }
}

fn is_guid(value: &Value) -> bool {
    value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

fn is_etag(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|s| s.strip_prefix("W/\""))
        .and_then(|s| s.strip_suffix('"'))
        .is_some_and(|g| uuid::Uuid::parse_str(g).is_ok())
}

/// The provisioning state of an operation still in flight.
fn is_updating(value: &Value) -> bool {
    value == "Updating"
}

/// The flow-log fields the server generates.
const FLOW_LOG: &[(&str, Format)] = &[("/etag", is_etag), ("/properties/targetResourceGuid", is_guid)];
const FLOW_LOGS: &[(&str, Format)] = &[("/value/*/etag", is_etag), ("/value/*/properties/targetResourceGuid", is_guid)];
/// What NSG and VNet answers carry that the examples leave out.
const RESOURCE_GUID: &[(&str, Format)] = &[("/properties/resourceGuid", is_guid)];

/// A value the server generates at `pointer` (`*`: every item of the example's list there): checks its format in
/// `actual`, then takes the example's value (or drops it when the example has none) so that the rest compares
/// exactly.
fn generated(actual: &mut Value, expected: &Value, pointer: &str, format: Format) {
    if let Some((list, rest)) = pointer.split_once("/*") {
        let items = expected.pointer(list).and_then(Value::as_array).unwrap_or_else(|| panic!("no list at {list}"));
        for i in 0..items.len() {
            generated(actual, expected, &format!("{list}/{i}{rest}"), format);
        }
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let found = actual.pointer(pointer).unwrap_or_else(|| panic!("{pointer} missing in {actual}")).clone();
    assert!(format(&found), "{pointer} = {found} is not in the generated format");
    let slot = actual.pointer_mut(parent).and_then(Value::as_object_mut).unwrap();
    match expected.pointer(pointer) {
        Some(value) => slot.insert(key.to_string(), value.clone()),
        None => slot.remove(key),
    };
}

fn header(headers: &HeaderMap, name: &str) -> String {
    let value = headers.get(name).unwrap_or_else(|| panic!("no {name} header"));
    value.to_str().unwrap().to_string()
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string() && error["details"].is_array(), "not an ARM error: {body}");
    (status, body["error"]["code"].as_str().unwrap().to_string(), body)
}

// ---------------------------------------------------------------------------------------------------------
// What follows a replay on the same simulator.

async fn the_legacy_operation_is_polled_to_the_examples_answer(r: Replayed) {
    let (h, name) = (&r.h, r.example.file);
    let request_id = r.answer.header("x-ms-request-id");
    let location = r.answer.header("location").to_string();
    let status_url = r.answer.header("azure-asyncoperation");
    // The example's Location (`https:/management.azure.com/.../configureFlowLog`) is malformed; the simulator
    // answers with the Network RP's operation URLs instead.
    assert_eq!(
        location,
        format!(
            "{}/subscriptions/subid/providers/Microsoft.Network/locations/westus/operationResults/{request_id}?api-version=2025-07-01",
            h.base
        )
    );
    assert_eq!(status_url, location.replace("/operationResults/", "/operations/"));

    // inProgressPolls: 2, counted over both URLs.
    let poll = h.get(status_url).await;
    assert_eq!(poll.status(), StatusCode::OK);
    assert_eq!(poll.json::<Value>().await.unwrap(), json!({"status": "InProgress"}));
    let poll = h.get(&location).await;
    assert_eq!(poll.status(), StatusCode::ACCEPTED);
    assert_eq!(header(poll.headers(), "location"), location);
    assert_eq!(header(poll.headers(), "retry-after"), "0");
    let done = h.get(&location).await;
    assert_eq!(done.status(), StatusCode::OK, "{name}");
    assert_eq!(done.json::<Value>().await.unwrap(), r.example.answer("200"), "{name}");
    let status = h.get(status_url).await.json::<Value>().await.unwrap();
    assert_eq!(status, json!({"status": "Succeeded"}));
}

async fn a_second_put_updates_in_place(r: Replayed) {
    let mut updated = r.example.send(&r.h, Method::PUT, "", StatusCode::OK).await.body;
    let mut want = r.example.answer("200");
    create_fix(&mut want);
    generated_flow_log(&mut updated, &want);
    // Synchronously done: Succeeded, where the example's 200 shows the in-flight "Updating".
    want["properties"]["provisioningState"] = json!("Succeeded");
    assert_eq!(updated, want);
}

async fn the_creation_is_polled_then_updated(r: Replayed) {
    let (h, ex) = (&r.h, &r.example);
    let status_url = r.answer.header("azure-asyncoperation");
    assert!(
        status_url.starts_with(&format!(
            "{}/subscriptions/{ZERO_SUB}/providers/Microsoft.Network/locations/centraluseuap/operations/",
            h.base
        )),
        "{status_url}"
    );
    assert_eq!(h.get(status_url).await.json::<Value>().await.unwrap(), json!({"status": "InProgress"}));
    assert_eq!(h.get(status_url).await.json::<Value>().await.unwrap(), json!({"status": "Succeeded"}));
    // final-state-via azure-async-operation: the client reads the resource.
    let mut read = ex.send(h, Method::GET, "", StatusCode::OK).await.body;
    generated_flow_log(&mut read, &r.want);
    assert_eq!(read, r.want, "Succeeded once the operation is");

    let mut updated = ex.send(h, Method::PUT, "", StatusCode::OK).await.body;
    let mut want = ex.answer("200");
    create_fix(&mut want);
    generated_flow_log(&mut updated, &want);
    assert_eq!(updated, want, "the example's 200 shows the in-flight Updating");
}

async fn a_missing_flow_log_is_not_found(r: Replayed) {
    let missing = r.h.get(&r.example.url(&r.h.base, "").replace("flowLog1", "nope")).await;
    let (status, code, error) = error_code(missing).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "ResourceNotFound"));
    assert_eq!(
        error["error"]["message"],
        "The Resource 'Microsoft.Network/networkWatchers/nw1/flowLogs/nope' under resource group 'rg1' was not found. \
         For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
}

async fn the_deletion_is_polled_to_its_end(r: Replayed) {
    let (h, ex) = (&r.h, &r.example);
    // The example's Location is an operation URL under the watcher; the simulator uses the Network RP's regional
    // operationResults URL, which follows the same protocol.
    let location = r.answer.header("location").to_string();
    assert!(location.contains("/providers/Microsoft.Network/locations/westus/operationResults/"), "{location}");
    assert!(location.ends_with("?api-version=2025-07-01"), "{location}");
    let poll = h.get(&location).await;
    assert_eq!((poll.status(), header(poll.headers(), "location")), (StatusCode::ACCEPTED, location.clone()));
    let done = h.get(&location).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.get(&ex.url(&h.base, "")).await.status(), StatusCode::NOT_FOUND, "gone");
    // The example's other answer: 204 when there is nothing to delete.
    ex.send(h, Method::DELETE, "", StatusCode::NO_CONTENT).await;
}

async fn the_tags_are_stored(r: Replayed) {
    let mut read = r.example.send(&r.h, Method::GET, "", StatusCode::OK).await.body;
    generated_flow_log(&mut read, &r.want);
    assert_eq!(read, r.want, "the tags are stored");
}

fn generated_flow_log(actual: &mut Value, want: &Value) {
    for (pointer, format) in FLOW_LOG {
        generated(actual, want, pointer, *format);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Beyond the examples.

#[tokio::test]
async fn requires_a_valid_token_and_an_api_version() {
    let h = SimHttp::start(legacy_inventory("sync")).await;
    let ex = Example::load(STATUS_QUERY);
    let url = ex.url(&h.base, "/queryFlowLogStatus");
    let body = ex.request();

    let response = h.http.post(&url).json(body).send().await.unwrap();
    assert!(header(response.headers(), "www-authenticate").starts_with("Bearer "));
    assert_eq!(error_code(response).await.0, StatusCode::UNAUTHORIZED);
    let response = h.http.post(&url).json(body).send().await.unwrap();
    assert_eq!(error_code(response).await.1, "AuthenticationFailed");
    let response = h.http.post(&url).bearer_auth("forged").json(body).send().await.unwrap();
    let (status, code, _) = error_code(response).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"));

    let without_version = url.split('?').next().unwrap();
    let (status, code, body) = error_code(h.post(without_version, body).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "MissingApiVersionParameter"));
    assert_eq!(
        body["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );

    let (status, body) = token(&h.http, &h.base, &secret_form("wrong", ARM_SCOPE)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!((body["error"].as_str(), &body["error_codes"]), (Some("invalid_client"), &json!([7000215])));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS7000215: Invalid client secret provided."));
}

#[tokio::test]
async fn blocks_creating_nsg_flow_logs() {
    let h = SimHttp::start(legacy_inventory("sync")).await;
    let ex = Example::load(CONFIGURE);
    let mut body = ex.request().clone();
    body["targetResourceId"] = json!(NSG2);
    let (status, code, error) = error_code(h.post(&ex.url(&h.base, "/configureFlowLog"), &body).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "NsgFlowLogCreationBlocked"));
    assert_eq!(error["error"]["details"], json!([]));

    body["properties"]["enabled"] = json!(false);
    let response = h.post(&ex.url(&h.base, "/configureFlowLog"), &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let expected = json!({
        "targetResourceId": NSG2,
        "properties": {"storageId": "", "enabled": false, "retentionPolicy": {"days": 0, "enabled": false}},
    });
    assert_eq!(response.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn refuses_a_write_while_another_is_in_progress() {
    let h = SimHttp::start(legacy_inventory("async")).await;
    let ex = Example::load(CONFIGURE);
    let url = ex.url(&h.base, "/configureFlowLog");
    let body = ex.request();
    let first = h.post(&url, body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let status_url = header(first.headers(), "azure-asyncoperation");

    let (status, code, error) = error_code(h.post(&url, body).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "AnotherOperationInProgress"));
    assert_eq!(
        error["error"]["message"].as_str().unwrap(),
        format!(
            "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {status_url}"
        )
    );

    h.get(&status_url).await;
    h.get(&status_url).await;
    assert_eq!(h.post(&url, body).await.status(), StatusCode::ACCEPTED, "free once the operation is done");
}

#[tokio::test]
async fn counts_every_call_and_serves_the_admin_api() {
    let h = SimHttp::start(legacy_inventory("sync")).await;
    let ex = Example::load(STATUS_QUERY);
    let url = ex.url(&h.base, "/queryFlowLogStatus");
    let body = ex.request();
    assert_eq!(h.sim.counters()["token"], 1);

    let reset = h.http.post(format!("{}/_sim/counters/reset", h.base)).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let first_write = std::time::Instant::now();
    h.post(&url, body).await;
    h.http.post(&url).json(body).send().await.unwrap(); // 401, counted all the same
    let response = h
        .http
        .post(ex.url(&h.base, "/configureFlowLog"))
        .bearer_auth(&h.token)
        .header("x-ms-correlation-request-id", "corr-1")
        .json(Example::load(CONFIGURE).request())
        .send()
        .await
        .unwrap();
    assert_eq!(header(response.headers(), "x-ms-correlation-request-id"), "corr-1");
    assert!(uuid::Uuid::parse_str(&header(response.headers(), "x-ms-request-id")).is_ok());
    let writes: u64 = header(response.headers(), "x-ms-ratelimit-remaining-subscription-writes").parse().unwrap();
    // The bucket refills 10 per second (real time): on a busy machine a token may come back between the two writes.
    let refilled = ((first_write.elapsed().as_secs_f64() * 10.0).floor() as u64).min(1);
    assert!(
        (198..=198 + refilled).contains(&writes),
        "ARM's write bucket holds 200; both actions are writes (POST): {writes} left, {refilled} refilled"
    );

    let served: Value = h.http.get(format!("{}/_sim/counters", h.base)).send().await.unwrap().json().await.unwrap();
    let served = served.as_object().unwrap();
    assert_eq!(served.len(), 29, "every operation is listed");
    for (operation, count) in served {
        let want = match operation.as_str() {
            "configureFlowLog" => 1,
            "queryFlowLogStatus" => 2,
            _ => 0,
        };
        assert_eq!(count, want, "{operation}");
    }
    assert_eq!(serde_json::to_value(h.sim.counters()).unwrap(), Value::Object(served.clone()));

    // Drift through the admin API shows in what the ARM API answers.
    let drift = json!({"targetResourceId": NSG2.to_uppercase(), "properties": {"storageId": "", "enabled": false}});
    let response = h.http.put(format!("{}/_sim/flowLogs", h.base)).json(&drift).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = h.post(&url, &json!({"targetResourceId": NSG2})).await;
    assert_eq!(response.json::<Value>().await.unwrap()["targetResourceId"], NSG2);
    let unknown = json!({"targetResourceId": NSG2.replace("nsg2", "nope"), "properties": {}});
    let response = h.http.put(format!("{}/_sim/flowLogs", h.base)).json(&unknown).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("no network security group"));

    let all: Value = h.http.get(format!("{}/_sim/flowLogs", h.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(
        all[0],
        serde_json::to_value(h.sim.flow_log_status(&ex.request()["targetResourceId"].as_str().unwrap().to_uppercase()))
            .unwrap()
    );

    let yaml = h.http.get(format!("{}/_sim/inventory", h.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(Inventory::from_yaml(&yaml).unwrap(), legacy_inventory("sync"));
    assert_eq!(h.sim.counters()["queryFlowLogStatus"], 3, "the admin API is not counted");
}

//! Network Watcher discovery, provider registration, generic resource reads and the `flowLogs` resource API
//! (long-running PUT and DELETE, paging), against a scripted ARM that produces the exact shapes of the
//! contract (`shared/notes/azure-api.md` sections 3, 5, 8).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use common::arm_script::{ArmScript, REQUEST_ID, Request, reply};
use common::credentials::{endpoint, secret_credential};
use common::recorder::Recorder;
use flowlog_operator::azure::id::ResourceId;
use flowlog_operator::azure::model::{FlowLog, FlowLogPropertiesFormat};
use flowlog_operator::azure::{ArmClient, ArmError, PollSettings, RegistrationState, RetrySettings};
use serde_json::{Value, json};

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn not_found(what: &str) -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": {"code": "ResourceNotFound", "message": format!("The Resource '{what}' was not found."), "details": []}}),
        &[],
    )
}

/// A client of the scripted ARM at `base`.
fn client(base: &str, observer: Arc<Recorder>, discovery_ttl: Duration) -> ArmClient {
    ArmClient::builder(reqwest::Client::new(), endpoint(base), secret_credential(base, "s"))
        .poll(PollSettings {
            default_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            ..Default::default()
        })
        .retry(RetrySettings { max_attempts: 1, ..Default::default() })
        .observer(observer)
        .discovery_ttl(discovery_ttl)
        .build()
}

fn id(path: &str) -> ResourceId {
    ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/{path}")).unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Discovery.

fn resource(id: &str, location: Option<&str>) -> Value {
    let name = id.rsplit('/').next().unwrap();
    let mut value = json!({"id": id, "name": name, "type": "Microsoft.Network/x", "properties": {}});
    if let Some(location) = location {
        value["location"] = json!(location);
    }
    value
}

fn watcher_json(rg: &str, name: &str, location: &str) -> Value {
    // IDs come back in Azure's casing, not the request's.
    resource(
        &format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{name}"),
        Some(location),
    )
}

async fn discovery_arm() -> ArmScript {
    ArmScript::start(|s| {
        let path = s.path.to_ascii_lowercase();
        let list = format!("/subscriptions/{SUB}/providers/microsoft.network/networkwatchers");
        if path == list {
            return if s.query.contains_key("$skiptoken") {
                reply(StatusCode::OK, json!({"value": [watcher_json("NetworkWatcherRG", "NetworkWatcher_northeurope", "northeurope")]}), &[])
            } else {
                reply(
                    StatusCode::OK,
                    json!({
                        "value": [
                            watcher_json("networkwatcherrg", "NetworkWatcher_westeurope", "westeurope"),
                            // A watcher without a location is skipped, not fatal.
                            {"id": "/bogus", "name": "x", "type": "Microsoft.Network/networkWatchers"}
                        ],
                        "nextLink": format!("{}/subscriptions/{SUB}/providers/Microsoft.Network/networkWatchers?api-version=2025-07-01&$skiptoken=2", s.base)
                    }),
                    &[],
                )
            };
        }
        let full = s.path.clone();
        match path.rsplit('/').next().unwrap() {
            "nsg1" => reply(StatusCode::OK, resource(&full, Some("West Europe")), &[]),
            "vnet1" => reply(StatusCode::OK, resource(&full, Some("westeurope")), &[]),
            "nic1" => reply(StatusCode::OK, resource(&full, Some("North Europe")), &[]),
            "nic-far" => reply(StatusCode::OK, resource(&full, Some("eastus")), &[]),
            "default" => reply(StatusCode::OK, resource(&full, None), &[]),
            _ => not_found(&full),
        }
    })
    .await
}

#[tokio::test]
async fn discovery_finds_the_watcher_of_the_targets_region() {
    let arm_server = discovery_arm().await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&arm_server.base, recorder.clone(), Duration::from_secs(600));

    let nsg = id("app-rg/providers/Microsoft.Network/networkSecurityGroups/nsg1");
    let found = arm.network_watcher_for(&nsg).await.unwrap().unwrap();
    assert_eq!(found.id.name(), "NetworkWatcher_westeurope");
    assert_eq!(found.location, "westeurope");

    // A subnet has no location: its virtual network's counts, and the subnet itself is not read.
    let subnet = id("app-rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default");
    assert_eq!(arm.network_watcher_for(&subnet).await.unwrap().unwrap().id.name(), "NetworkWatcher_westeurope");
    assert_eq!(arm_server.count(Method::GET, subnet.as_str()), 0);

    // The NIC's watcher is on the second page of the list.
    let nic = id("app-rg/providers/Microsoft.Network/networkInterfaces/nic1");
    assert_eq!(arm.network_watcher_for(&nic).await.unwrap().unwrap().id.name(), "NetworkWatcher_northeurope");

    // No watcher in the NIC's region: None, and still no new list.
    let far = id("app-rg/providers/Microsoft.Network/networkInterfaces/nic-far");
    assert_eq!(arm.network_watcher_for(&far).await.unwrap(), None);
    assert_eq!(arm.network_watcher_in(SUB, "East US").await.unwrap(), None);
    assert_eq!(
        arm.network_watcher_in(&SUB.to_uppercase(), "North Europe").await.unwrap().unwrap().location,
        "northeurope"
    );

    let lists: Vec<Request> = arm_server.arm().into_iter().filter(|s| s.path.ends_with("networkWatchers")).collect();
    assert_eq!(lists.len(), 2, "one list (two pages) for every lookup: {lists:?}");
    assert!(lists.iter().all(|s| s.query["api-version"] == "2025-07-01"));
    let ops = recorder.operations();
    assert_eq!(ops.iter().filter(|op| *op == "listNetworkWatchers").count(), 2);
    assert_eq!(ops.iter().filter(|op| *op == "getResource").count(), 4);

    // A missing target is an error the controller can show.
    let missing = id("app-rg/providers/Microsoft.Network/networkSecurityGroups/gone");
    let err = arm.network_watcher_for(&missing).await.unwrap_err();
    assert_eq!((err.code(), err.request_id()), ("ResourceNotFound", Some(REQUEST_ID)));
}

#[tokio::test]
async fn the_watcher_list_is_cached_for_its_ttl_and_can_be_forgotten() {
    let arm_server = discovery_arm().await;
    let arm = client(&arm_server.base, Arc::default(), Duration::from_millis(200));
    let lists = || arm_server.arm().iter().filter(|s| s.path.ends_with("networkWatchers")).count();
    // Ten concurrent lookups share one list.
    let lookups = futures::future::join_all((0..10).map(|_| arm.network_watcher_in(SUB, "westeurope"))).await;
    assert!(lookups.iter().all(|r| r.as_ref().unwrap().is_some()));
    assert_eq!(lists(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    arm.network_watcher_in(SUB, "eastus").await.unwrap();
    assert_eq!(lists(), 4, "the expired list was read again");
    arm.forget_network_watchers(SUB);
    arm.network_watcher_in(SUB, "eastus").await.unwrap();
    assert_eq!(lists(), 6);
    // Clients with other credentials share the cache.
    let other = arm.with_credential(arm.credential().clone());
    other.network_watcher_in(SUB, "westeurope").await.unwrap();
    assert_eq!(lists(), 6);
}

#[tokio::test]
async fn next_links_away_from_the_arm_endpoint_are_not_followed() {
    let arm_server = ArmScript::start(|_| {
        reply(StatusCode::OK, json!({"value": [], "nextLink": "https://attacker.example/steal?api-version=1"}), &[])
    })
    .await;
    let arm = client(&arm_server.base, Arc::default(), Duration::from_secs(600));
    let err = arm.network_watchers(SUB).await.unwrap_err();
    assert!(matches!(&err, ArmError::UrlRefused { url, .. } if url.contains("attacker.example")), "{err:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Providers and resources.

#[tokio::test]
async fn provider_registration_is_read_and_requested() {
    let registered = Arc::new(Mutex::new(false));
    let r = registered.clone();
    let arm_server = ArmScript::start(move |s| {
        let body = |state: &str| json!({"id": format!("/subscriptions/{SUB}/providers/Microsoft.Insights"), "namespace": "Microsoft.Insights", "registrationState": state});
        if s.method == Method::POST {
            *r.lock().unwrap() = true;
            return reply(StatusCode::OK, body("Registering"), &[]);
        }
        reply(StatusCode::OK, body(if *r.lock().unwrap() { "Registered" } else { "NotRegistered" }), &[])
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&arm_server.base, recorder.clone(), Duration::from_secs(600));
    assert_eq!(
        arm.provider_registration_state(SUB, "Microsoft.Insights").await.unwrap(),
        RegistrationState::NotRegistered
    );
    let provider = arm.register_provider(SUB, "Microsoft.Insights").await.unwrap();
    assert_eq!(provider.registration_state.as_deref(), Some("Registering"));
    assert!(arm.provider_registration_state(SUB, "Microsoft.Insights").await.unwrap().is_registered());

    let seen = arm_server.arm();
    assert_eq!(seen[0].path, format!("/subscriptions/{SUB}/providers/Microsoft.Insights"));
    assert_eq!(seen[1].path, format!("/subscriptions/{SUB}/providers/Microsoft.Insights/register"));
    assert_eq!(seen[1].method, Method::POST);
    assert!(seen.iter().all(|s| s.query["api-version"] == "2021-04-01"));
    assert_eq!(recorder.operations(), vec!["getProvider", "registerProvider", "getProvider"]);
}

#[tokio::test]
async fn resources_are_read_with_their_namespaces_api_version() {
    let arm_server = ArmScript::start(|s| reply(StatusCode::OK, resource(&s.path, Some("westeurope")), &[])).await;
    let arm = client(&arm_server.base, Arc::default(), Duration::from_secs(600));
    let workspace = id("logs-rg/providers/Microsoft.OperationalInsights/workspaces/ws1");
    let read = arm.get_resource(&workspace).await.unwrap();
    assert_eq!((read.name.as_str(), read.location.as_deref()), ("ws1", Some("westeurope")));
    arm.get_resource(&id("rg/providers/Microsoft.Network/virtualNetworks/v")).await.unwrap();
    let versions: Vec<String> = arm_server.arm().iter().map(|s| s.query["api-version"].clone()).collect();
    assert_eq!(versions, vec!["2023-09-01", "2025-07-01"]);
    let err = arm.get_resource(&id("rg/providers/Microsoft.Compute/virtualMachines/vm")).await.unwrap_err();
    assert!(matches!(err, ArmError::Config(_)), "{err:?}");
    arm.get_resource_with_api_version(&id("rg/providers/Microsoft.Compute/virtualMachines/vm"), "2024-07-01")
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------------------
// The flowLogs resource.

fn watcher() -> ResourceId {
    ResourceId::network_watcher(SUB, "NetworkWatcherRG", "NetworkWatcher_westeurope")
}

fn flow_log_path(name: &str) -> String {
    format!("{}/flowLogs/{name}", watcher())
}

fn vnet() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/app-rg/providers/Microsoft.Network/virtualNetworks/vnet1")
}

fn flow_log_json(name: &str, state: &str) -> Value {
    json!({
        "id": format!("{}/FlowLogs/{name}", watcher()),
        "name": name,
        "type": "Microsoft.Network/networkWatchers/FlowLogs",
        "location": "westeurope",
        "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
        "properties": {
            "targetResourceId": vnet(),
            "targetResourceGuid": "guid",
            "storageId": "/subscriptions/s/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/st",
            "enabled": true,
            "retentionPolicy": {"days": 0, "enabled": false},
            "format": {"type": "JSON", "version": 2},
            "flowAnalyticsConfiguration": {},
            "provisioningState": state
        }
    })
}

fn desired() -> FlowLog {
    FlowLog {
        location: Some("westeurope".into()),
        properties: FlowLogPropertiesFormat {
            target_resource_id: vnet(),
            storage_id: "/subscriptions/s/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/st"
                .into(),
            enabled: Some(true),
            // Read-only: must not be sent.
            provisioning_state: Some("Succeeded".into()),
            ..Default::default()
        },
        // Read-only: must not be sent.
        id: Some("/x".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn get_and_list_flow_logs() {
    let arm_server = ArmScript::start(|s| {
        let path = s.path.to_ascii_lowercase();
        if path.ends_with("/flowlogs/fl1") {
            return reply(StatusCode::OK, flow_log_json("fl1", "Succeeded"), &[]);
        }
        if path.ends_with("/flowlogs") {
            return if s.query.contains_key("$skiptoken") {
                reply(StatusCode::OK, json!({"value": [flow_log_json("fl3", "Succeeded")]}), &[])
            } else {
                let next = format!("{}{}?api-version=2025-07-01&$skiptoken=abc", s.base, s.path);
                reply(StatusCode::OK, json!({"value": [flow_log_json("fl1", "Succeeded"), flow_log_json("fl2", "Succeeded")], "nextLink": next}), &[])
            };
        }
        not_found(&s.path)
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&arm_server.base, recorder.clone(), Duration::from_secs(600));
    let fl1 = arm.get_flow_log(&watcher(), "fl1").await.unwrap().unwrap();
    assert_eq!(fl1.properties.target_resource_id, vnet());
    assert_eq!(fl1.properties.format.unwrap().version, 2);
    assert_eq!(arm.get_flow_log(&watcher(), "missing").await.unwrap(), None);
    let names: Vec<String> =
        arm.list_flow_logs(&watcher()).await.unwrap().into_iter().map(|f| f.name.unwrap()).collect();
    assert_eq!(names, vec!["fl1", "fl2", "fl3"]);
    assert_eq!(recorder.operations(), vec!["getFlowLog", "getFlowLog", "listFlowLogs", "listFlowLogs"]);
    assert!(arm_server.arm().iter().all(|s| s.query["api-version"] == "2025-07-01"));
}

/// A flowLogs PUT as the contract describes it: 201 + `Azure-AsyncOperation` + `Retry-After`; the operation runs for
/// `polls` requests (of either URL: it goes on whether or not anyone asks), then ends with `outcome`. Meanwhile the
/// status URL says `InProgress` and the flow log reads `Updating`; then the status URL says how it ended and the flow
/// log's `provisioningState` shows it.
async fn put_arm(polls: usize, outcome: &'static str) -> ArmScript {
    let seen = Arc::new(Mutex::new(0usize));
    ArmScript::start(move |s| {
        if s.method == Method::PUT {
            let status_url = format!("{}/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operations/op1?api-version=2025-07-01", s.base);
            return reply(
                StatusCode::CREATED,
                flow_log_json("fl1", "Updating"),
                &[("azure-asyncoperation", &status_url), ("retry-after", "0")],
            );
        }
        let done = {
            let mut seen = seen.lock().unwrap();
            *seen += 1;
            *seen > polls
        };
        if s.path.contains("/operations/") {
            return match (done, outcome) {
                (false, _) => reply(StatusCode::OK, json!({"status": "InProgress"}), &[("retry-after", "0")]),
                (true, "Succeeded") => reply(StatusCode::OK, json!({"status": "Succeeded"}), &[]),
                (true, _) => reply(
                    StatusCode::OK,
                    json!({"status": outcome, "error": {"code": "InvalidResourceReference", "message": "Resource st referenced by resource fl1 was not found."}}),
                    &[],
                ),
            };
        }
        let state = match (done, outcome) {
            (false, _) => "Updating",
            (true, "Succeeded") => "Succeeded",
            (true, _) => "Failed",
        };
        reply(StatusCode::OK, flow_log_json("fl1", state), &[])
    })
    .await
}

#[tokio::test]
async fn put_flow_log_polls_the_flow_log_until_it_is_provisioned() {
    let arm_server = put_arm(2, "Succeeded").await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&arm_server.base, recorder.clone(), Duration::from_secs(600));
    let created = arm.put_flow_log(&watcher(), "fl1", &desired()).await.unwrap();
    assert_eq!(created.properties.provisioning_state.as_deref(), Some("Succeeded"));
    assert_eq!(created.id.unwrap(), format!("{}/FlowLogs/fl1", watcher()));
    // One read per poll: the flow log itself (its provisioningState), not the status URL and then the flow log.
    assert_eq!(recorder.operations(), vec!["putFlowLog", "getFlowLog", "getFlowLog", "getFlowLog"]);
    let put = arm_server.arm().into_iter().find(|s| s.method == Method::PUT).unwrap();
    assert_eq!(put.path, flow_log_path("fl1"));
    assert_eq!(put.query["api-version"], "2025-07-01");
    assert_eq!(put.body["location"], "westeurope");
    assert_eq!(put.body["properties"]["targetResourceId"], vnet());
    assert!(put.body.get("id").is_none() && put.body["properties"].get("provisioningState").is_none(), "{}", put.body);
}

#[tokio::test]
async fn a_failed_put_surfaces_the_operations_error() {
    let arm_server = put_arm(1, "Failed").await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&arm_server.base, recorder.clone(), Duration::from_secs(600));
    let err = arm.put_flow_log(&watcher(), "fl1", &desired()).await.unwrap_err();
    match &err {
        ArmError::OperationFailed { status, code, request_id, .. } => {
            assert_eq!((status.as_str(), code.as_str()), ("Failed", "InvalidResourceReference"));
            assert_eq!(request_id.as_deref(), Some(REQUEST_ID));
        }
        other => panic!("expected OperationFailed, got {other:?}"),
    }
    assert!(!err.is_transient());
    // The flow log said Failed; the status URL, read once, said why.
    assert_eq!(recorder.operations(), vec!["putFlowLog", "getFlowLog", "getFlowLog", "operationStatus"]);
}

#[tokio::test]
async fn a_put_without_status_url_is_followed_through_provisioning_state() {
    // 200 with provisioningState Updating and no Azure-AsyncOperation: the flow log is read until Succeeded.
    let arm_server = ArmScript::start(|s| {
        if s.method == Method::PUT {
            return reply(StatusCode::OK, flow_log_json("fl1", "Updating"), &[]);
        }
        reply(StatusCode::OK, flow_log_json("fl1", if s.path_count < 3 { "Updating" } else { "Succeeded" }), &[])
    })
    .await;
    let arm = client(&arm_server.base, Arc::default(), Duration::from_secs(600));
    let updated = arm.put_flow_log(&watcher(), "fl1", &desired()).await.unwrap();
    assert_eq!(updated.properties.provisioning_state.as_deref(), Some("Succeeded"));
    assert_eq!(arm_server.count(Method::GET, &flow_log_path("fl1")), 3);

    // 200 already Succeeded: nothing more to do.
    let arm_server = ArmScript::start(|_| reply(StatusCode::OK, flow_log_json("fl1", "Succeeded"), &[])).await;
    let arm = client(&arm_server.base, Arc::default(), Duration::from_secs(600));
    arm.put_flow_log(&watcher(), "fl1", &desired()).await.unwrap();
    assert_eq!(arm_server.arm().len(), 1);

    // Without a location the PUT is refused before anything is sent.
    let mut no_location = desired();
    no_location.location = None;
    assert!(matches!(arm.put_flow_log(&watcher(), "fl1", &no_location).await, Err(ArmError::Config(_))));
    assert_eq!(arm_server.arm().len(), 1);
}

#[tokio::test]
async fn delete_flow_log_polls_location_until_204() {
    let deleted = Arc::new(Mutex::new(false));
    let d = deleted.clone();
    let arm_server = ArmScript::start(move |s| {
        if s.path.contains("/operationResults/") {
            return if s.path_count < 2 {
                reply(
                    StatusCode::ACCEPTED,
                    Value::Null,
                    &[("location", &format!("{}{}?api-version=2025-07-01", s.base, s.path)), ("retry-after", "0")],
                )
            } else {
                *d.lock().unwrap() = true;
                reply(StatusCode::NO_CONTENT, Value::Null, &[])
            };
        }
        match s.method {
            Method::DELETE => reply(
                StatusCode::ACCEPTED,
                Value::Null,
                &[
                    ("location", &format!("{}{}/operationResults/del1?api-version=2025-07-01", s.base, watcher())),
                    ("retry-after", "0"),
                ],
            ),
            _ if *d.lock().unwrap() => not_found(&s.path),
            _ => reply(StatusCode::OK, flow_log_json("fl1", "Succeeded"), &[]),
        }
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&arm_server.base, recorder.clone(), Duration::from_secs(600));
    assert!(arm.delete_flow_log(&watcher(), "fl1").await.unwrap());
    assert!(*deleted.lock().unwrap());
    assert_eq!(recorder.operations(), vec!["getFlowLog", "deleteFlowLog", "operationResult", "operationResult"]);
    assert_eq!(arm_server.count(Method::DELETE, &flow_log_path("fl1")), 1);

    // Already gone: nothing to delete, no DELETE sent.
    assert!(!arm.delete_flow_log(&watcher(), "fl1").await.unwrap());
    assert_eq!(arm_server.count(Method::DELETE, &flow_log_path("fl1")), 1);
}

#[tokio::test]
async fn operation_urls_away_from_the_arm_endpoint_are_not_followed() {
    let arm_server = ArmScript::start(|s| match s.method {
        Method::DELETE => reply(StatusCode::ACCEPTED, Value::Null, &[("location", "https://attacker.example/op")]),
        _ => reply(StatusCode::OK, flow_log_json("fl1", "Succeeded"), &[]),
    })
    .await;
    let arm = client(&arm_server.base, Arc::default(), Duration::from_secs(600));
    let err = arm.delete_flow_log(&watcher(), "fl1").await.unwrap_err();
    assert!(matches!(&err, ArmError::UrlRefused { url, .. } if url.contains("attacker.example")), "{err:?}");
}

//! The simulator's `flowLogs` resource and the reads around it, over HTTP against the built-in inventory: VNet,
//! subnet and NIC flow logs through their whole life, validation with Azure's codes, paging, one store shared with
//! the legacy actions, operations that end in wall-clock time, the resources a controller reads (with NSG
//! associations), and provider registration.

mod common;

use std::time::Duration;

use common::sim::{Answer, SimHttp};
use flowlog_operator::azure::model::FlowLog;
use flowlog_simulator::inventory::LroMode;
use flowlog_simulator::{DEFAULT_SUBSCRIPTION_ID as SUB, Inventory, SECOND_SUBSCRIPTION_ID};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const V: &str = "api-version=2025-07-01";
const WEU_WATCHER: &str =
    "resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope";

fn id(rg: &str, resource: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/{resource}")
}

fn vnet(name: &str) -> String {
    let rg = if name == "shared-vnet" { "shared-net-rg" } else { "app-prod-rg" };
    id(rg, &format!("Microsoft.Network/virtualNetworks/{name}"))
}

fn storage(name: &str) -> String {
    id("logging-rg", &format!("Microsoft.Storage/storageAccounts/{name}"))
}

fn workspace(name: &str) -> String {
    id("logging-rg", &format!("Microsoft.OperationalInsights/workspaces/{name}"))
}

fn storage_identity() -> String {
    id("logging-rg", "Microsoft.ManagedIdentity/userAssignedIdentities/flowlog-storage-writer")
}

/// The simulator over HTTP, with paths relative to the built-in subscription.
struct Harness(SimHttp);

impl std::ops::Deref for Harness {
    type Target = SimHttp;
    fn deref(&self) -> &SimHttp {
        &self.0
    }
}

impl Harness {
    async fn start(change: impl FnOnce(&mut Inventory)) -> Harness {
        let mut inventory = Inventory::builtin();
        inventory.behaviour.lro.retry_after_seconds = 0;
        change(&mut inventory);
        inventory.validate().unwrap();
        Harness(SimHttp::start(inventory).await)
    }

    /// `path` is either absolute (`http://...`, as operation URLs are) or relative to the subscription.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{}/subscriptions/{SUB}/{path}{sep}{V}", self.base)
        };
        self.0.call(method, &url, body.as_ref()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn put(&self, name: &str, body: Value) -> Answer {
        self.call(Method::PUT, &format!("{WEU_WATCHER}/flowLogs/{name}"), Some(body)).await
    }

    async fn flow_log(&self, name: &str) -> Answer {
        self.get(&format!("{WEU_WATCHER}/flowLogs/{name}")).await
    }
}

/// A VNet flow-log PUT body for the westeurope watcher.
fn vnet_flow_log(target: &str) -> Value {
    json!({
        "location": "westeurope",
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {storage_identity(): {}}},
        "properties": {
            "targetResourceId": target,
            "storageId": storage("flowlogsweu001"),
            "enabled": true,
            "recordTypes": "B,C,E,D",
            "enabledFilteringCriteria": "dstPort=443",
            "retentionPolicy": {"days": 14, "enabled": true},
            "format": {"type": "JSON", "version": 2},
            "flowAnalyticsConfiguration": {"networkWatcherFlowAnalyticsConfiguration": {
                "enabled": true,
                "workspaceResourceId": workspace("flowlogs-law-weu"),
                "trafficAnalyticsInterval": 10,
            }},
        },
    })
}

#[tokio::test]
async fn a_vnet_flow_log_lives_through_create_read_update_tag_and_delete() {
    let h = Harness::start(|i| i.behaviour.lro.in_progress_polls = Some(2)).await;
    let created = h.put("app-vnet-flowlog", vnet_flow_log(&vnet("app-vnet"))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("retry-after"), "0");
    let status_url = created.header("azure-asyncoperation").to_string();
    let body = &created.body;
    assert_eq!(body["properties"]["provisioningState"], "Updating");
    let flow_log_id = format!(
        "/subscriptions/{SUB}/resourceGroups/NETWORKWATCHERRG/providers/Microsoft.Network/networkWatchers/\
         NetworkWatcher_westeurope/FlowLogs/app-vnet-flowlog"
    );
    assert_eq!(body["id"], flow_log_id, "FlowLogs, and the resource group upper-cased as Azure does");
    assert_eq!(body["name"], "app-vnet-flowlog");
    assert_eq!(body["type"], "Microsoft.Network/networkWatchers/FlowLogs");
    assert_eq!(body["location"], "westeurope");
    assert_eq!(body["properties"]["targetResourceId"], vnet("app-vnet").replace("app-prod-rg", "APP-PROD-RG"));
    assert_eq!(body["properties"]["storageId"], storage("flowlogsweu001"));
    assert_eq!(
        body["properties"]["flowAnalyticsConfiguration"],
        json!({"networkWatcherFlowAnalyticsConfiguration": {
            "enabled": true, "workspaceId": "55555555-5555-5555-5555-555555555551", "workspaceRegion": "westeurope",
            "workspaceResourceId": workspace("flowlogs-law-weu"), "trafficAnalyticsInterval": 10}})
    );
    assert_eq!(
        body["identity"]["userAssignedIdentities"][storage_identity()],
        json!({"clientId": "33333333-3333-3333-3333-333333333334", "principalId": "44444444-4444-4444-4444-444444444444"})
    );
    for field in ["recordTypes", "enabledFilteringCriteria", "retentionPolicy", "format"] {
        assert_eq!(body["properties"][field], vnet_flow_log("")["properties"][field], "{field}");
    }

    // A second write to the same target while the first is in flight.
    let conflict = h.put("app-vnet-flowlog", vnet_flow_log(&vnet("app-vnet"))).await;
    assert_eq!(conflict.code(), (409, "AnotherOperationInProgress"));
    assert!(conflict.body["error"]["message"].as_str().unwrap().ends_with(&format!("use uri: {status_url}")));

    // inProgressPolls: 2; a read of the flow log counts as a poll.
    assert_eq!(h.get(&status_url).await.body, json!({"status": "InProgress"}));
    assert_eq!(h.flow_log("APP-VNET-FLOWLOG").await.body["properties"]["provisioningState"], "Updating");
    assert_eq!(h.get(&status_url).await.body, json!({"status": "Succeeded"}));
    let read = h.flow_log("app-vnet-flowlog").await;
    assert_eq!(read.body["properties"]["provisioningState"], "Succeeded");
    let vnet_read = h.get(&vnet("app-vnet").replacen(&format!("/subscriptions/{SUB}/"), "", 1)).await;
    assert_eq!(vnet_read.body["properties"]["flowLogs"], json!([{"id": flow_log_id}]));

    let tagged = h
        .call(
            Method::PATCH,
            &format!("{WEU_WATCHER}/flowLogs/app-vnet-flowlog"),
            Some(json!({"tags": {"team": "net"}})),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK);
    assert_eq!(tagged.body["tags"], json!({"team": "net"}));
    assert_ne!(tagged.body["etag"], read.body["etag"], "a change makes a new ETag");

    let mut update = vnet_flow_log(&vnet("app-vnet"));
    update["properties"]["enabled"] = json!(false);
    let updated = h.put("app-vnet-flowlog", update).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["properties"]["storageId"], "", "disabled: no storage, as Azure reports it");
    assert_eq!(updated.body["properties"]["retentionPolicy"], json!({"days": 0, "enabled": false}));
    assert!(updated.body.get("tags").is_none(), "a PUT replaces the tags too");
    h.get(updated.header("azure-asyncoperation")).await;
    h.get(updated.header("azure-asyncoperation")).await;

    let deleted = h.call(Method::DELETE, &format!("{WEU_WATCHER}/flowLogs/app-vnet-flowlog"), None).await;
    assert_eq!((deleted.status, &deleted.body), (StatusCode::ACCEPTED, &Value::Null));
    assert_eq!(deleted.header("retry-after"), "0");
    let location = deleted.header("location").to_string();
    assert!(location.contains("/locations/westeurope/operationResults/"), "{location}");
    assert!(deleted.headers.contains_key("x-ms-ratelimit-remaining-subscription-deletes"));
    assert_eq!(h.flow_log("app-vnet-flowlog").await.body["properties"]["provisioningState"], "Deleting");
    assert_eq!(h.get(&location).await.status, StatusCode::ACCEPTED);
    assert_eq!(h.get(&location).await.status, StatusCode::NO_CONTENT);
    assert_eq!(h.flow_log("app-vnet-flowlog").await.code(), (404, "ResourceNotFound"));
    let again = h.call(Method::DELETE, &format!("{WEU_WATCHER}/flowLogs/app-vnet-flowlog"), None).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    assert!(
        h.get(&vnet("app-vnet").replacen(&format!("/subscriptions/{SUB}/"), "", 1)).await.body["properties"]
            .get("flowLogs")
            .is_none()
    );
}

/// Azure's operations end in their own time: nobody needs to poll them, and polling does not hurry them.
#[tokio::test]
async fn operations_end_on_time_whether_or_not_anyone_polls() {
    const DURATION: Duration = Duration::from_millis(500);
    let h = Harness::start(|i| i.behaviour.lro.duration_ms = DURATION.as_millis() as u64).await;
    let path = format!("{WEU_WATCHER}/flowLogs/app-vnet-flowlog");

    // A create: Updating and its target locked until its time is up, however often it is polled.
    let created = h.put("app-vnet-flowlog", vnet_flow_log(&vnet("app-vnet"))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let status_url = created.header("azure-asyncoperation").to_string();
    for _ in 0..3 {
        let poll = h.get(&status_url).await;
        assert_eq!((&poll.body, poll.header("retry-after")), (&json!({"status": "InProgress"}), "0"));
    }
    assert_eq!(h.flow_log("app-vnet-flowlog").await.body["properties"]["provisioningState"], "Updating");
    let conflict = h.put("app-vnet-flowlog", vnet_flow_log(&vnet("app-vnet"))).await;
    assert_eq!(conflict.code(), (409, "AnotherOperationInProgress"));
    tokio::time::sleep(DURATION + Duration::from_millis(100)).await;
    assert_eq!(h.flow_log("app-vnet-flowlog").await.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(h.get(&status_url).await.body, json!({"status": "Succeeded"}));

    // A delete nobody polls: the flow log is gone once its time is up.
    let deleted = h.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(h.flow_log("app-vnet-flowlog").await.body["properties"]["provisioningState"], "Deleting");
    tokio::time::sleep(DURATION + Duration::from_millis(100)).await;
    assert_eq!(h.flow_log("app-vnet-flowlog").await.code(), (404, "ResourceNotFound"));
    assert_eq!(h.get(deleted.header("location")).await.status, StatusCode::NO_CONTENT);

    // A create a fault fails after 100 ms, never polled: it leaves nothing once its time is up.
    let faults = json!([{"operation": "flowLogsCreateOrUpdate", "count": 1,
                         "effect": {"lro": {"durationMs": 100, "end": "Failed"}}}]);
    let answer = h.http.put(format!("{}/_sim/faults", h.base)).json(&faults).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let failing = h.put("app-vnet-flowlog", vnet_flow_log(&vnet("app-vnet"))).await;
    assert_eq!(failing.status, StatusCode::CREATED);
    assert_eq!(h.flow_log("app-vnet-flowlog").await.status, StatusCode::OK, "applied while it runs");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.flow_log("app-vnet-flowlog").await.code(), (404, "ResourceNotFound"));
    assert_eq!(h.get(failing.header("azure-asyncoperation")).await.body["status"], "Failed");
}

#[tokio::test]
async fn subnet_and_nic_flow_logs_can_be_created_and_listed_in_pages() {
    let h = Harness::start(|i| i.behaviour.lro.mode = LroMode::Sync).await;
    let subnet = format!("{}/subnets/db", vnet("app-vnet"));
    let nic = id("app-prod-rg", "Microsoft.Network/networkInterfaces/web-vm-nic");
    for (name, target) in [("db-subnet", &subnet), ("web-nic", &nic)] {
        let created = h.put(name, vnet_flow_log(target)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["properties"]["provisioningState"], "Succeeded", "sync mode");
        assert!(!created.headers.contains_key("azure-asyncoperation"));
    }
    // Built in: two NSG flow logs and shared-vnet's; two added: pages of two, by name.
    let mut names = Vec::new();
    let mut next = format!("{WEU_WATCHER}/flowLogs");
    let mut pages = 0;
    loop {
        let page = h.get(&next).await;
        assert_eq!(page.status, StatusCode::OK);
        pages += 1;
        let value = page.body["value"].as_array().unwrap();
        assert!(value.len() <= 2);
        names.extend(value.iter().map(|f| f["name"].as_str().unwrap().to_string()));
        match page.body["nextLink"].as_str() {
            Some(link) => {
                assert!(
                    link.starts_with(&format!("{}/subscriptions/{SUB}/{WEU_WATCHER}/flowLogs?{V}&$skipToken=", h.base))
                );
                next = link.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        [
            "db-subnet",
            "Microsoft.Networkapp-prod-rgdb-nsg",
            "Microsoft.Networkapp-prod-rgweb-nsg",
            "shared-vnet-flowlog",
            "web-nic"
        ]
    );
    let northeurope = h
        .get("resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_northeurope/flowLogs")
        .await;
    assert_eq!(northeurope.body["value"].as_array().unwrap().len(), 1, "web-dr-nsg's");
    assert!(northeurope.body.get("nextLink").is_none());
}

#[tokio::test]
async fn flow_log_writes_are_validated_with_azures_codes() {
    let h = Harness::start(|_| {}).await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = vnet_flow_log(&vnet("app-vnet"));
        f(&mut body);
        body
    };
    let analytics = |config: Value| {
        with(&|b| {
            b["properties"]["flowAnalyticsConfiguration"]["networkWatcherFlowAnalyticsConfiguration"] = config.clone()
        })
    };
    let cases: Vec<(&str, &str, Value, (u16, &str))> = vec![
        (
            "no location",
            "f",
            with(&|b| {
                b.as_object_mut().unwrap().remove("location");
            }),
            (400, "LocationRequired"),
        ),
        (
            "no target",
            "f",
            with(&|b| {
                b["properties"].as_object_mut().unwrap().remove("targetResourceId");
            }),
            (400, "InvalidRequestFormat"),
        ),
        (
            "no storage",
            "f",
            with(&|b| {
                b["properties"].as_object_mut().unwrap().remove("storageId");
            }),
            (400, "InvalidRequestFormat"),
        ),
        ("not JSON", "f", json!("x"), (400, "InvalidRequestFormat")),
        (
            "other location",
            "f",
            with(&|b| b["location"] = json!("northeurope")),
            (400, "NetworkWatcherLocationMismatch"),
        ),
        ("unknown target", "f", vnet_flow_log(&vnet("nope")), (400, "InvalidResourceReference")),
        (
            "target in another region",
            "f",
            vnet_flow_log(&id("app-dr-rg", "Microsoft.Network/virtualNetworks/dr-vnet")),
            (400, "NetworkWatcherLocationMismatch"),
        ),
        (
            "new NSG flow log",
            "f",
            vnet_flow_log(&id("app-prod-rg", "Microsoft.Network/networkSecurityGroups/new-nsg")),
            (400, "NsgFlowLogCreationBlocked"),
        ),
        (
            "second flow log for a target",
            "f",
            vnet_flow_log(&vnet("shared-vnet")),
            (400, "FlowLogAlreadyExistsForTarget"),
        ),
        (
            "target changed",
            "shared-vnet-flowlog",
            vnet_flow_log(&vnet("app-vnet")),
            (400, "FlowLogTargetChangeNotAllowed"),
        ),
        ("record types", "f", with(&|b| b["properties"]["recordTypes"] = json!("B,Z")), (400, "InvalidRecordTypes")),
        (
            "storage in another region",
            "f",
            with(&|b| b["properties"]["storageId"] = json!(storage("flowlogsneu001"))),
            (400, "StorageAccountLocationMismatch"),
        ),
        (
            "unknown storage",
            "f",
            with(&|b| b["properties"]["storageId"] = json!(storage("nope"))),
            (400, "InvalidResourceReference"),
        ),
        (
            "interval",
            "f",
            analytics(
                json!({"enabled": true, "workspaceResourceId": workspace("flowlogs-law-weu"), "trafficAnalyticsInterval": 5}),
            ),
            (400, "InvalidTrafficAnalyticsInterval"),
        ),
        (
            "workspace region",
            "f",
            analytics(json!({"enabled": true, "workspaceResourceId": workspace("flowlogs-law-neu")})),
            (400, "InvalidTAWorkspaceRegion"),
        ),
        (
            "retention",
            "f",
            with(&|b| b["properties"]["retentionPolicy"]["days"] = json!(400)),
            (400, "InvalidRetentionPolicy"),
        ),
        ("format", "f", with(&|b| b["properties"]["format"]["version"] = json!(9)), (400, "InvalidFlowLogFormat")),
    ];
    for (what, name, body, expected) in cases {
        assert_eq!(h.put(name, body).await.code(), expected, "{what}");
    }
    assert_eq!(h.flow_log("f").await.code(), (404, "ResourceNotFound"), "nothing was created");

    let old = h.call(Method::GET, &format!("{WEU_WATCHER}/flowLogs?api-version=2019-06-01"), None).await;
    assert_eq!(old.code(), (400, "NoRegisteredProviderFound"));
    let first = h.call(Method::GET, &format!("{WEU_WATCHER}/flowLogs?api-version=2019-07-01"), None).await;
    assert_eq!(first.status, StatusCode::OK, "flowLogs exist since 2019-07-01");
    let created = h
        .call(
            Method::PUT,
            &format!("{WEU_WATCHER}/flowLogs/f?api-version=2024-05-01"),
            Some(vnet_flow_log(&vnet("app-vnet"))),
        )
        .await;
    assert!(created.header("azure-asyncoperation").ends_with("?api-version=2024-05-01"), "echoed in operation URLs");
}

#[tokio::test]
async fn both_apis_share_one_store() {
    let h = Harness::start(|i| i.behaviour.lro.mode = LroMode::Sync).await;
    let web_nsg = id("app-prod-rg", "Microsoft.Network/networkSecurityGroups/web-nsg");
    let legacy_name = "Microsoft.Networkapp-prod-rgweb-nsg";
    let configure = json!({
        "targetResourceId": web_nsg,
        "properties": {"storageId": storage("flowlogsweu001"), "enabled": true, "retentionPolicy": {"days": 45, "enabled": true}},
    });
    let configured = h.call(Method::POST, &format!("{WEU_WATCHER}/configureFlowLog"), Some(configure)).await;
    assert_eq!(configured.status, StatusCode::OK);
    let resource = h.flow_log(legacy_name).await;
    assert_eq!(resource.body["properties"]["retentionPolicy"], json!({"days": 45, "enabled": true}));
    assert_eq!(resource.body["properties"]["targetResourceId"], web_nsg.replace("app-prod-rg", "APP-PROD-RG"));

    let mut put: Value =
        serde_json::to_value(serde_json::from_value::<FlowLog>(resource.body.clone()).unwrap()).unwrap();
    put["properties"]["retentionPolicy"]["days"] = json!(3);
    put["properties"]["recordTypes"] = json!("D");
    assert_eq!(h.put(legacy_name, put).await.status, StatusCode::OK);
    let status = h
        .call(Method::POST, &format!("{WEU_WATCHER}/queryFlowLogStatus"), Some(json!({"targetResourceId": web_nsg})))
        .await;
    assert_eq!(status.body["properties"]["retentionPolicy"], json!({"days": 3, "enabled": true}));
    assert_eq!(status.body["properties"]["recordTypes"], "D");
    assert_eq!(
        h.sim.flow_log_status(&web_nsg).unwrap().properties.retention_policy.unwrap().days,
        3,
        "and the Rust API sees it"
    );

    let nsg = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg").await;
    assert_eq!(
        nsg.body["properties"]["flowLogs"],
        json!([{"id": format!("/subscriptions/{SUB}/resourceGroups/NETWORKWATCHERRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope/FlowLogs/{legacy_name}")}])
    );
    // Deleting the resource leaves the NSG without flow log, which the retirement then keeps that way.
    assert_eq!(
        h.call(Method::DELETE, &format!("{WEU_WATCHER}/flowLogs/{legacy_name}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    let mut enable =
        json!({"targetResourceId": web_nsg, "properties": {"storageId": storage("flowlogsweu001"), "enabled": true}});
    let blocked = h.call(Method::POST, &format!("{WEU_WATCHER}/configureFlowLog"), Some(enable.clone())).await;
    assert_eq!(blocked.code(), (400, "NsgFlowLogCreationBlocked"));
    enable["properties"]["enabled"] = json!(false);
    assert_eq!(
        h.call(Method::POST, &format!("{WEU_WATCHER}/configureFlowLog"), Some(enable)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn drift_of_flow_log_resources_through_the_admin_api() {
    let h = Harness::start(|_| {}).await;
    let all: Vec<FlowLog> =
        h.http.get(format!("{}/_sim/flowLogResources", h.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(all.len(), 5, "web-nsg, db-nsg, shared-vnet, web-dr-nsg and the second subscription's edge-nsg");
    assert_eq!(all, h.sim.flow_log_resources());
    let mut shared = all.into_iter().find(|f| f.name.as_deref() == Some("shared-vnet-flowlog")).unwrap();
    assert_eq!(
        shared
            .properties
            .flow_analytics_configuration
            .as_ref()
            .unwrap()
            .network_watcher_flow_analytics_configuration
            .as_ref()
            .unwrap()
            .enabled,
        Some(true)
    );
    shared.properties.enabled = Some(false);
    let response = h.http.put(format!("{}/_sim/flowLogResources", h.base)).json(&shared).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let read = h.flow_log("shared-vnet-flowlog").await;
    assert_eq!(read.body["properties"]["enabled"], false);

    shared.properties.target_resource_id = vnet("app-vnet");
    shared.id = Some(shared.id.unwrap().replace("shared-vnet-flowlog", "drifted"));
    h.sim.set_flow_log_resource(shared.clone()).unwrap();
    assert_eq!(h.flow_log("drifted").await.status, StatusCode::OK, "created behind the API's back");
    shared.id = Some(shared.id.unwrap().replace("drifted", "another"));
    let refused = h.http.put(format!("{}/_sim/flowLogResources", h.base)).json(&shared).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("already has flow log"));
    shared.id = Some("/subscriptions/x/flowLogs/y".into());
    assert!(h.sim.set_flow_log_resource(shared).unwrap_err().contains("not the ID of a flow log"));
}

#[tokio::test]
async fn serves_the_resources_a_controller_reads() {
    let h = Harness::start(|_| {}).await;
    let all = h.get("providers/Microsoft.Network/networkWatchers").await;
    let names: Vec<&str> = all.body["value"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["NetworkWatcher_westeurope", "NetworkWatcher_northeurope"]);
    assert_eq!(all.body.as_object().unwrap().len(), 1, "value only");
    assert_eq!(all.body["value"][0]["location"], "westeurope");
    let in_rg = h.get("resourceGroups/networkwatcherrg/providers/Microsoft.Network/networkWatchers").await;
    assert_eq!(in_rg.body["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/networkWatchers").await.body,
        json!({"value": []})
    );
    let one = h.get(WEU_WATCHER).await;
    assert_eq!(one.body["id"], format!("/subscriptions/{SUB}/{WEU_WATCHER}"));
    assert_eq!(one.body["properties"]["provisioningState"], "Succeeded");

    let nsgs = h.get("providers/Microsoft.Network/networkSecurityGroups").await;
    assert_eq!(nsgs.body["value"].as_array().unwrap().len(), 2, "a page of pageSize (2) of the 5");
    assert!(nsgs.body["nextLink"].is_string(), "paged: {}", nsgs.body);
    let nsgs = h.get("resourceGroups/app-dr-rg/providers/Microsoft.Network/networkSecurityGroups").await;
    assert_eq!(nsgs.body["value"].as_array().unwrap().len(), 2);
    let db = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/db-nsg").await;
    assert!(uuid::Uuid::parse_str(db.body["properties"]["resourceGuid"].as_str().unwrap()).is_ok());
    assert_eq!(db.body["properties"]["flowLogs"].as_array().unwrap().len(), 1, "disabled, but it exists");
    assert_eq!(db.body["properties"]["defaultSecurityRules"].as_array().unwrap().len(), 6);
    let new = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/new-nsg").await;
    assert!(new.body["properties"].get("flowLogs").is_none());

    let app = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet").await;
    let subnets: Vec<&str> =
        app.body["properties"]["subnets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(subnets, ["web", "db"]);
    assert!(app.body["properties"].get("flowLogs").is_none(), "app-vnet has no flow log");
    let web =
        h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/web").await;
    let nic = id("app-prod-rg", "Microsoft.Network/networkInterfaces/web-vm-nic");
    assert_eq!(web.body["type"], "Microsoft.Network/virtualNetworks/subnets");
    assert_eq!(
        web.body["properties"]["ipConfigurations"],
        json!([{"id": format!("{nic}/ipConfigurations/ipconfig1")}])
    );
    let nic_read = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/networkInterfaces/WEB-VM-NIC").await;
    assert_eq!(nic_read.body["location"], "westeurope");
    assert_eq!(
        nic_read.body["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"],
        format!("{}/subnets/web", vnet("app-vnet"))
    );
    assert_eq!(nic_read.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"], "10.1.1.4");
    let dr = h.get("resourceGroups/app-dr-rg/providers/Microsoft.Network/virtualNetworks/dr-vnet").await;
    assert_eq!(dr.body["location"], "northeurope");
    let shared = h.get("resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet").await;
    assert_eq!(shared.body["properties"]["flowLogs"].as_array().unwrap().len(), 1);
    let law =
        h.get("resourceGroups/logging-rg/providers/Microsoft.OperationalInsights/workspaces/flowlogs-law-neu").await;
    assert_eq!(
        (law.body["location"].as_str(), law.body["properties"]["customerId"].as_str()),
        (Some("northeurope"), Some("55555555-5555-5555-5555-555555555552"))
    );

    for (path, expected) in [
        (
            "resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/nope",
            "The Resource 'Microsoft.Network/virtualNetworks/nope' under resource group 'app-prod-rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        ),
        (
            "resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/nope",
            "The Resource 'Microsoft.Network/virtualNetworks/app-vnet/subnets/nope' under resource group 'app-prod-rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        ),
        (
            "resourceGroups/nope-rg/providers/Microsoft.Network/networkInterfaces/web-vm-nic",
            "Resource group 'nope-rg' could not be found.",
        ),
    ] {
        let answer = h.get(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body["error"]["message"], expected);
    }
    let other = h
        .call(
            Method::GET,
            &format!("{}/subscriptions/nope/providers/Microsoft.Network/networkWatchers?{V}", h.base),
            None,
        )
        .await;
    assert_eq!(other.code(), (404, "SubscriptionNotFound"));
    let unknown = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Compute/virtualMachines/vm").await;
    assert_eq!(unknown.code(), (404, "NotFound"));
}

#[tokio::test]
async fn nsg_associations_show_on_both_sides() {
    // Besides the built-in associations, web-nsg (app-prod-rg) guards subnet `shared` of shared-vnet
    // (shared-net-rg): an NSG of another resource group.
    let h = Harness::start(|i| {
        i.behaviour.page_size = 10; // the NSG lists below in one page
        let shared = &mut i.subscriptions[0].virtual_networks[1].subnets[0];
        assert_eq!(shared.name, "shared");
        shared.network_security_group = Some("web-nsg".into());
        shared.network_security_group_resource_group = Some("app-prod-rg".into());
    })
    .await;
    let nsg_id = |rg: &str, name: &str| id(rg, &format!("Microsoft.Network/networkSecurityGroups/{name}"));
    let nsg_path =
        |rg: &str, name: &str| format!("resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}");
    let web_subnet = format!("{}/subnets/web", vnet("app-vnet"));
    let dr_subnet = id("app-dr-rg", "Microsoft.Network/virtualNetworks/dr-vnet/subnets/app");
    let shared_subnet = format!("{}/subnets/shared", vnet("shared-vnet"));
    let nic = id("app-prod-rg", "Microsoft.Network/networkInterfaces/web-vm-nic");

    // The NSG side: read-only references, present only when there is an association.
    let new = h.get(&nsg_path("app-prod-rg", "new-nsg")).await;
    assert_eq!(new.body["properties"]["subnets"], json!([{"id": web_subnet}]));
    assert!(new.body["properties"].get("networkInterfaces").is_none(), "{}", new.body);
    let web = h.get(&nsg_path("APP-PROD-RG", "WEB-NSG")).await;
    assert_eq!(web.body["properties"]["networkInterfaces"], json!([{"id": nic}]));
    assert_eq!(web.body["properties"]["subnets"], json!([{"id": shared_subnet}]));
    assert_eq!(web.body["properties"]["flowLogs"].as_array().unwrap().len(), 1, "flow logs are still listed");
    let batch = h.get(&nsg_path("app-dr-rg", "batch-nsg")).await;
    assert_eq!(batch.body["properties"]["subnets"], json!([{"id": dr_subnet}]));
    let db = h.get(&nsg_path("app-prod-rg", "db-nsg")).await;
    assert!(db.body["properties"].get("subnets").is_none() && db.body["properties"].get("networkInterfaces").is_none());
    // Lists carry them too.
    for path in [
        "providers/Microsoft.Network/networkSecurityGroups",
        "resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups",
    ] {
        let list = h.get(path).await;
        let new_in_list = list.body["value"].as_array().unwrap().iter().find(|n| n["name"] == "new-nsg").unwrap();
        assert_eq!(new_in_list["properties"]["subnets"], json!([{"id": web_subnet}]), "{path}");
    }

    // The subnet and NIC side: `networkSecurityGroup: {id}`.
    let subnet =
        h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/web").await;
    assert_eq!(subnet.body["properties"]["networkSecurityGroup"], json!({"id": nsg_id("app-prod-rg", "new-nsg")}));
    let app = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet").await;
    let subnets = &app.body["properties"]["subnets"];
    assert_eq!(subnets[0]["properties"]["networkSecurityGroup"], json!({"id": nsg_id("app-prod-rg", "new-nsg")}));
    assert!(subnets[1]["properties"].get("networkSecurityGroup").is_none(), "db has none: {subnets}");
    let dr = h.get("resourceGroups/app-dr-rg/providers/Microsoft.Network/virtualNetworks/dr-vnet/subnets/app").await;
    assert_eq!(dr.body["properties"]["networkSecurityGroup"], json!({"id": nsg_id("app-dr-rg", "batch-nsg")}));
    let shared = h
        .get("resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet/subnets/shared")
        .await;
    assert_eq!(shared.body["properties"]["networkSecurityGroup"], json!({"id": nsg_id("app-prod-rg", "web-nsg")}));
    let nic_read = h.get("resourceGroups/app-prod-rg/providers/Microsoft.Network/networkInterfaces/web-vm-nic").await;
    assert_eq!(nic_read.body["properties"]["networkSecurityGroup"], json!({"id": nsg_id("app-prod-rg", "web-nsg")}));
}

#[tokio::test]
async fn microsoft_insights_can_be_registered_where_it_is_not() {
    let h = Harness::start(|i| i.behaviour.lro.mode = LroMode::Sync).await;
    let sub2 = format!("{}/subscriptions/{SECOND_SUBSCRIPTION_ID}", h.base);
    let provider = format!("{sub2}/providers/Microsoft.Insights?api-version=2021-04-01");
    let read = h.call(Method::GET, &provider, None).await;
    assert_eq!(
        read.body,
        json!({"id": format!("/subscriptions/{SECOND_SUBSCRIPTION_ID}/providers/Microsoft.Insights"),
               "namespace": "Microsoft.Insights", "registrationState": "NotRegistered"})
    );
    let registered_here = h.get("providers/microsoft.insights?api-version=2021-04-01").await;
    assert_eq!(registered_here.body["registrationState"], "Registered");
    assert_eq!(h.get("providers/Microsoft.Nope").await.code(), (404, "InvalidResourceNamespace"));

    let configure = format!(
        "{sub2}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope/configureFlowLog?{V}"
    );
    let body = json!({
        "targetResourceId": format!("/subscriptions/{SECOND_SUBSCRIPTION_ID}/resourceGroups/edge-rg/providers/Microsoft.Network/networkSecurityGroups/edge-nsg"),
        "properties": {"enabled": true, "storageId": format!("/subscriptions/{SECOND_SUBSCRIPTION_ID}/resourceGroups/edge-logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsweu002")},
    });
    assert_eq!(
        h.call(Method::POST, &configure, Some(body.clone())).await.code(),
        (409, "MissingSubscriptionRegistration")
    );

    let register = h
        .call(Method::POST, &format!("{sub2}/providers/Microsoft.Insights/register?api-version=2021-04-01"), None)
        .await;
    assert_eq!((register.status, register.body["registrationState"].as_str()), (StatusCode::OK, Some("Registering")));
    assert!(register.headers.contains_key("x-ms-ratelimit-remaining-subscription-writes"));
    let states: Vec<Value> = futures_states(&h, &provider).await;
    assert_eq!(states, ["Registering", "Registering", "Registered"]);
    let enabled = h.call(Method::POST, &configure, Some(body)).await;
    assert_eq!((enabled.status, &enabled.body["properties"]["enabled"]), (StatusCode::OK, &json!(true)));
    assert_eq!(h.sim.counters()["providersGet"], 6);
    assert_eq!(h.sim.counters()["providersRegister"], 1);
}

async fn futures_states(h: &Harness, provider: &str) -> Vec<Value> {
    let mut states = Vec::new();
    for _ in 0..3 {
        states.push(h.call(Method::GET, provider, None).await.body["registrationState"].clone());
    }
    states
}

//! The simulator against the published contract: replays every official example of what it serves
//! (`shared/azure-api/examples/*.json`) over HTTP, each against an inventory built to match it, and compares status
//! codes and bodies field by field. Values the server generates are checked for their format and then ignored:
//! ETags (`W/"<guid>"`), `targetResourceGuid` and `resourceGuid` (GUIDs), and the `provisioningState` of an
//! operation still in flight. Identities' `clientId`/`principalId` are not ignored: the inventories declare the
//! examples' identities with the examples' IDs.

mod common;

use std::path::PathBuf;

use flowlog_simulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, Inventory, Simulator};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CONFIGURE: &str = "NetworkWatcherFlowLogConfigure.json";
const STATUS_QUERY: &str = "NetworkWatcherFlowLogStatusQuery.json";
const NSG2: &str = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg2";
/// The user-assigned identity of the examples, with the IDs they report for it.
const ID1_CLIENT: &str = "c16d15e1-f60a-40e4-8a05-df3d3f655c14";
const ID1_PRINCIPAL: &str = "e3858881-e40c-43bd-9cde-88da39c05023";
const ZERO_SUB: &str = "00000000-0000-0000-0000-000000000000";

/// An inventory for the examples: the principal, the identity `id1` of `subscription`, and `rest` (YAML lines of
/// `subscriptions:` and `behaviour:` entries). Azure's quirks that the examples do not show are off.
fn inventory(subscription: &str, rest: &str, behaviour: &str) -> Inventory {
    let quirks = if behaviour.contains("quirks:") { "" } else { "  quirks: { upperCaseResourceGroups: false }\n" };
    Inventory::from_yaml(&format!(
        r#"
servicePrincipals:
  - {{ tenantId: {DEFAULT_TENANT_ID}, clientId: {DEFAULT_CLIENT_ID}, clientSecret: {DEFAULT_CLIENT_SECRET} }}
managedIdentities:
  - clientId: {ID1_CLIENT}
    principalId: {ID1_PRINCIPAL}
    resourceId: /subscriptions/{subscription}/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1
subscriptions:
{rest}
behaviour:
{quirks}{behaviour}
"#
    ))
    .unwrap_or_else(|e| panic!("the test inventory is valid: {e}"))
}

/// The resources the legacy-action examples name, with nsg1's flow log as the status-query example reports it.
fn legacy_inventory(mode: &str) -> Inventory {
    inventory(
        "subid",
        r#"
  - id: subid
    locations: [westus]
    networkWatchers: [{ name: nw1, resourceGroup: rg1, location: westus }]
    storageAccounts: [{ name: st1, resourceGroup: rg1, location: westus }]
    networkSecurityGroups:
      - name: nsg1
        resourceGroup: rg1
        location: westus
        flowLog:
          enabled: true
          storageAccount: st1
          userAssignedIdentities:
            - /subscriptions/subid/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1
      - { name: nsg2, resourceGroup: rg1, location: westus }"#,
        &format!("  lro: {{ mode: {mode}, retryAfterSeconds: 0, inProgressPolls: 2 }}"),
    )
}

/// `shared/` sits next to the repository root.
fn example(name: &str) -> Value {
    let path: PathBuf = common::azure_examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

struct Harness {
    sim: Simulator,
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn start(inventory: Inventory) -> Harness {
        let sim = Simulator::new(inventory);
        let base = sim.clone().spawn_local().await.expect("simulator starts");
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
                ("scope", "https://management.azure.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("Bearer"), Some(3599)));
        let token = body["access_token"].as_str().expect("access_token").to_string();
        Harness { sim, base, http, token }
    }

    /// The example's request URL on the simulator: the watcher (and flow log) its parameters name, plus `tail`.
    fn url(&self, example: &Value, tail: &str) -> String {
        let p = &example["parameters"];
        let mut path = format!("/subscriptions/{}", p["subscriptionId"].as_str().unwrap());
        if let Some(rg) = p["resourceGroupName"].as_str() {
            path.push_str(&format!("/resourceGroups/{rg}"));
        }
        path.push_str("/providers/Microsoft.Network");
        if let Some(nsg) = p["networkSecurityGroupName"].as_str() {
            path.push_str(&format!("/networkSecurityGroups/{nsg}"));
        }
        if let Some(vnet) = p["virtualNetworkName"].as_str() {
            path.push_str(&format!("/virtualNetworks/{vnet}"));
        }
        if let Some(nw) = p["networkWatcherName"].as_str() {
            path.push_str(&format!("/networkWatchers/{nw}"));
        }
        if let Some(fl) = p["flowLogName"].as_str() {
            path.push_str(&format!("/flowLogs/{fl}"));
        }
        format!("{}{path}{tail}?api-version={}", self.base, p["api-version"].as_str().unwrap())
    }

    async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> reqwest::Response {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    async fn post(&self, url: &str, body: &Value) -> reqwest::Response {
        self.send(Method::POST, url, Some(body)).await
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.send(Method::GET, url, None).await
    }

    /// Sends the example's request (its `parameters.parameters` as body), checks the status, answers headers and
    /// body.
    async fn replay(&self, method: Method, example: &Value, tail: &str, status: StatusCode) -> (HeaderMap, Value) {
        let body = example["parameters"].get("parameters");
        let response = self.send(method, &self.url(example, tail), body).await;
        assert_eq!(response.status(), status, "{}", example["title"]);
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (headers, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    let value = headers.get(name).unwrap_or_else(|| panic!("no {name} header"));
    value.to_str().unwrap().to_string()
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

/// A value the server generates: checks its format in `actual`, then takes the example's value (or drops it when
/// the example has none) so that the rest compares exactly.
fn generated(actual: &mut Value, expected: &Value, pointer: &str, format: fn(&Value) -> bool) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let found = actual.pointer(pointer).unwrap_or_else(|| panic!("{pointer} missing in {actual}")).clone();
    assert!(format(&found), "{pointer} = {found} is not in the generated format");
    let slot = actual.pointer_mut(parent).and_then(Value::as_object_mut).unwrap();
    match expected.pointer(pointer) {
        Some(value) => slot.insert(key.to_string(), value.clone()),
        None => slot.remove(key),
    };
}

/// The flow-log fields the server generates.
fn flow_log_generated(actual: &mut Value, expected: &Value) {
    generated(actual, expected, "/etag", is_etag);
    generated(actual, expected, "/properties/targetResourceGuid", is_guid);
}

fn expected(example: &Value, status: &str) -> Value {
    example["responses"][status]["body"].clone()
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string() && error["details"].is_array(), "not an ARM error: {body}");
    (status, body["error"]["code"].as_str().unwrap().to_string(), body)
}

#[tokio::test]
async fn replays_the_legacy_action_examples_in_sync_mode() {
    let h = Harness::start(legacy_inventory("sync")).await;
    for (name, action) in [(CONFIGURE, "/configureFlowLog"), (STATUS_QUERY, "/queryFlowLogStatus")] {
        let ex = example(name);
        let (response, body) = h.replay(Method::POST, &ex, action, StatusCode::OK).await;
        assert_eq!(header(&response, "content-type"), "application/json; charset=utf-8");
        assert_eq!(body, expected(&ex, "200"), "{name}");
    }
}

#[tokio::test]
async fn replays_the_legacy_action_examples_in_async_mode() {
    let h = Harness::start(legacy_inventory("async")).await;
    for (name, action) in [(CONFIGURE, "/configureFlowLog"), (STATUS_QUERY, "/queryFlowLogStatus")] {
        let ex = example(name);
        let (response, body) = h.replay(Method::POST, &ex, action, StatusCode::ACCEPTED).await;
        let request_id = header(&response, "x-ms-request-id");
        let location = header(&response, "location");
        let status_url = header(&response, "azure-asyncoperation");
        assert_eq!(header(&response, "retry-after"), "0");
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
        assert_eq!(body, expected(&ex, "202"), "{name}");

        // inProgressPolls: 2, counted over both URLs.
        let poll = h.get(&status_url).await;
        assert_eq!(poll.status(), StatusCode::OK);
        assert_eq!(poll.json::<Value>().await.unwrap(), json!({"status": "InProgress"}));
        let poll = h.get(&location).await;
        assert_eq!(poll.status(), StatusCode::ACCEPTED);
        assert_eq!(header(poll.headers(), "location"), location);
        assert_eq!(header(poll.headers(), "retry-after"), "0");
        let done = h.get(&location).await;
        assert_eq!(done.status(), StatusCode::OK, "{name}");
        assert_eq!(done.json::<Value>().await.unwrap(), expected(&ex, "200"), "{name}");
        let status = h.get(&status_url).await.json::<Value>().await.unwrap();
        assert_eq!(status, json!({"status": "Succeeded"}));
    }
}

fn create_inventory(mode: &str) -> Inventory {
    inventory(
        ZERO_SUB,
        &format!(
            r#"
  - id: {ZERO_SUB}
    locations: [centraluseuap]
    networkWatchers: [{{ name: nw1, resourceGroup: rg1, location: centraluseuap }}]
    storageAccounts: [{{ name: nwtest1mgvbfmqsigdxe, resourceGroup: rg1, location: centraluseuap }}]
    networkSecurityGroups: [{{ name: desmondcentral-nsg, resourceGroup: rg1, location: centraluseuap }}]"#
        ),
        // The example creates an NSG flow log, which Azure blocks since 2025-06-30.
        &format!(
            "  lro: {{ mode: {mode}, retryAfterSeconds: 0, inProgressPolls: 1 }}\n  quirks: {{ upperCaseResourceGroups: false, nsgFlowLogCreationBlocked: false }}"
        ),
    )
}

/// The example's answer with its inconsistencies fixed as the spec says: the request names watcher `nw1` and flow
/// log `fl`, so `id` is `.../networkWatchers/nw1/FlowLogs/fl` (the example says `nw`) and `name` is `fl`, the last
/// segment of the ID (the example shows the name `configureFlowLog` would give).
fn create_expected(ex: &Value, status: &str) -> Value {
    let mut body = expected(ex, status);
    body["id"] = json!(body["id"].as_str().unwrap().replace("/networkWatchers/nw/", "/networkWatchers/nw1/"));
    body["name"] = json!("fl");
    body
}

#[tokio::test]
async fn replays_flow_log_create_in_sync_mode() {
    let ex = example("NetworkWatcherFlowLogCreate.json");
    let h = Harness::start(create_inventory("sync")).await;
    let (_, mut created) = h.replay(Method::PUT, &ex, "", StatusCode::CREATED).await;
    let want = create_expected(&ex, "201");
    flow_log_generated(&mut created, &want);
    assert_eq!(created, want);

    let (_, mut updated) = h.replay(Method::PUT, &ex, "", StatusCode::OK).await;
    let mut want = create_expected(&ex, "200");
    flow_log_generated(&mut updated, &want);
    // Synchronously done: Succeeded, where the example's 200 shows the in-flight "Updating".
    want["properties"]["provisioningState"] = json!("Succeeded");
    assert_eq!(updated, want);
}

#[tokio::test]
async fn replays_flow_log_create_as_a_long_running_operation() {
    let ex = example("NetworkWatcherFlowLogCreate.json");
    let h = Harness::start(create_inventory("async")).await;
    let (response, mut created) = h.replay(Method::PUT, &ex, "", StatusCode::CREATED).await;
    let want = create_expected(&ex, "201");
    flow_log_generated(&mut created, &want);
    generated(&mut created, &want, "/properties/provisioningState", |v| v == "Updating");
    assert_eq!(created, want);
    let status_url = header(&response, "azure-asyncoperation");
    assert_eq!(header(&response, "retry-after"), "0");
    assert!(
        status_url.starts_with(&format!(
            "{}/subscriptions/{ZERO_SUB}/providers/Microsoft.Network/locations/centraluseuap/operations/",
            h.base
        )),
        "{status_url}"
    );
    assert_eq!(h.get(&status_url).await.json::<Value>().await.unwrap(), json!({"status": "InProgress"}));
    assert_eq!(h.get(&status_url).await.json::<Value>().await.unwrap(), json!({"status": "Succeeded"}));
    // final-state-via azure-async-operation: the client reads the resource.
    let (_, mut read) = h.replay(Method::GET, &ex, "", StatusCode::OK).await;
    flow_log_generated(&mut read, &want);
    assert_eq!(read, want, "Succeeded once the operation is");

    let (_, mut updated) = h.replay(Method::PUT, &ex, "", StatusCode::OK).await;
    let want = create_expected(&ex, "200");
    flow_log_generated(&mut updated, &want);
    assert_eq!(updated, want, "the example's 200 shows the in-flight Updating");
}

#[tokio::test]
async fn replays_flow_log_get() {
    let ex = example("NetworkWatcherFlowLogGet.json");
    let h = Harness::start(inventory(
        "subid",
        r#"
  - id: subid
    locations: [centraluseuap]
    networkWatchers:
      - name: nw1
        resourceGroup: rg1
        location: centraluseuap
        flowLogs:
          - name: flowLog1
            targetResourceId: /subscriptions/subid/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/vm5-nsg
            enabled: true
            storageAccount: wzstorage002
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: { type: JSON, version: 2 }
            trafficAnalytics: { enabled: false, intervalMinutes: 60 }
            userAssignedIdentities:
              - /subscriptions/subid/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1
    storageAccounts: [{ name: wzstorage002, resourceGroup: rg, location: centraluseuap }]
    networkSecurityGroups: [{ name: vm5-nsg, resourceGroup: rg, location: centraluseuap }]"#,
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::GET, &ex, "", StatusCode::OK).await;
    let mut want = expected(&ex, "200");
    // The example's ID names watcher "тц1"; the request names nw1.
    want["id"] = json!(want["id"].as_str().unwrap().replace("/тц1/", "/nw1/"));
    flow_log_generated(&mut body, &want);
    assert_eq!(body, want);

    let missing = h.get(&h.url(&ex, "").replace("flowLog1", "nope")).await;
    let (status, code, error) = error_code(missing).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "ResourceNotFound"));
    assert_eq!(
        error["error"]["message"],
        "The Resource 'Microsoft.Network/networkWatchers/nw1/flowLogs/nope' under resource group 'rg1' was not found. \
         For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
}

#[tokio::test]
async fn replays_flow_log_list() {
    let ex = example("NetworkWatcherFlowLogList.json");
    let id1 = format!(
        "/subscriptions/{ZERO_SUB}/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
    );
    let nsg = |name: &str| {
        format!("/subscriptions/{ZERO_SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/{name}")
    };
    let h = Harness::start(inventory(
        ZERO_SUB,
        &format!(
            r#"
  - id: {ZERO_SUB}
    locations: [centraluseuap]
    networkWatchers:
      - name: nw1
        resourceGroup: rg1
        location: centraluseuap
        flowLogs:
          - name: flowLog1
            targetResourceId: {}
            enabled: true
            storageAccount: wzstorage002
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: {{ type: JSON, version: 2 }}
            trafficAnalytics: {{ enabled: false }}
            userAssignedIdentities: [{id1}]
          - name: flowLog2
            targetResourceId: {}
            enabled: true
            storageAccount: iraflowlogtest2diag
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: {{ type: JSON, version: 2 }}
            userAssignedIdentities: [{id1}]
    storageAccounts:
      - {{ name: wzstorage002, resourceGroup: rg, location: centraluseuap }}
      - {{ name: iraflowlogtest2diag, resourceGroup: rg, location: centraluseuap }}
    networkSecurityGroups:
      - {{ name: vm5-nsg, resourceGroup: rg, location: centraluseuap }}
      - {{ name: DSCP-test-vm1-nsg, resourceGroup: rg, location: centraluseuap }}"#,
            nsg("vm5-nsg"),
            nsg("DSCP-test-vm1-nsg")
        ),
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::GET, &ex, "/flowLogs", StatusCode::OK).await;
    let mut want = expected(&ex, "200");
    // Both flow logs are listed from watcher nw1 of rg1: the example's IDs name watcher "тц1", and another
    // subscription's NetworkWatcher_centraluseuap for flowLog2.
    let watcher =
        format!("/subscriptions/{ZERO_SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkWatchers/nw1");
    want["value"][0]["id"] = json!(format!("{watcher}/FlowLogs/flowLog1"));
    want["value"][1]["id"] = json!(format!("{watcher}/FlowLogs/flowLog2"));
    for i in 0..2 {
        flow_log_generated(&mut body["value"][i], &want["value"][i]);
    }
    assert_eq!(body, want, "one page of two: no nextLink");
}

#[tokio::test]
async fn replays_flow_log_delete() {
    let ex = example("NetworkWatcherFlowLogDelete.json");
    let h = Harness::start(inventory(
        ZERO_SUB,
        &format!(
            r#"
  - id: {ZERO_SUB}
    locations: [westus]
    networkWatchers:
      - name: nw1
        resourceGroup: rg1
        location: westus
        flowLogs:
          - {{ name: fl, targetResourceId: /subscriptions/{ZERO_SUB}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1, enabled: false }}
    virtualNetworks: [{{ name: vnet1, resourceGroup: rg1, location: westus, addressPrefixes: [10.0.0.0/16] }}]"#
        ),
        "  lro: { retryAfterSeconds: 0, inProgressPolls: 1 }",
    ))
    .await;
    let (accepted, body) = h.replay(Method::DELETE, &ex, "", StatusCode::ACCEPTED).await;
    assert_eq!(body, Value::Null, "202 has no body");
    // The example's Location is an operation URL under the watcher; the simulator uses the Network RP's regional
    // operationResults URL, which follows the same protocol.
    let location = header(&accepted, "location");
    assert!(location.contains("/providers/Microsoft.Network/locations/westus/operationResults/"), "{location}");
    assert!(location.ends_with("?api-version=2025-07-01"), "{location}");
    assert_eq!(header(&accepted, "retry-after"), "0");
    let poll = h.get(&location).await;
    assert_eq!((poll.status(), header(poll.headers(), "location")), (StatusCode::ACCEPTED, location.clone()));
    let done = h.get(&location).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.get(&h.url(&ex, "")).await.status(), StatusCode::NOT_FOUND, "gone");
    // The example's other answer: 204 when there is nothing to delete.
    h.replay(Method::DELETE, &ex, "", StatusCode::NO_CONTENT).await;
}

#[tokio::test]
async fn replays_flow_log_update_tags() {
    let ex = example("NetworkWatcherFlowLogUpdateTags.json");
    let h = Harness::start(inventory(
        ZERO_SUB,
        &format!(
            r#"
  - id: {ZERO_SUB}
    locations: [centralus]
    networkWatchers:
      - name: nw
        resourceGroup: rg1
        location: centralus
        flowLogs:
          - name: fl
            targetResourceId: /subscriptions/{ZERO_SUB}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/desmondcentral-nsg
            enabled: true
            storageAccount: nwtest1mgvbfmqsigdxe
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: {{ type: JSON, version: 1 }}
            userAssignedIdentities:
              - /subscriptions/{ZERO_SUB}/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1
    storageAccounts: [{{ name: nwtest1mgvbfmqsigdxe, resourceGroup: rg1, location: centralus }}]
    networkSecurityGroups: [{{ name: desmondcentral-nsg, resourceGroup: rg1, location: centralus }}]"#
        ),
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::PATCH, &ex, "", StatusCode::OK).await;
    let mut want = expected(&ex, "200");
    // As in FlowLogCreate, the example's name is not the last segment of its ID.
    want["name"] = json!("fl");
    flow_log_generated(&mut body, &want);
    assert_eq!(body, want);
    let (_, mut read) = h.replay(Method::GET, &ex, "", StatusCode::OK).await;
    flow_log_generated(&mut read, &want);
    assert_eq!(read, want, "the tags are stored");
}

fn watchers_inventory() -> Inventory {
    inventory(
        "subid",
        r#"
  - id: subid
    locations: [eastus, westus]
    networkWatchers:
      - { name: nw1, resourceGroup: rg1, location: eastus }
      - { name: nw2, resourceGroup: rg1, location: westus }"#,
        "",
    )
}

#[tokio::test]
async fn replays_the_network_watcher_examples() {
    let h = Harness::start(watchers_inventory()).await;
    let ex = example("NetworkWatcherGet.json");
    let (_, mut body) = h.replay(Method::GET, &ex, "", StatusCode::OK).await;
    let want = expected(&ex, "200");
    generated(&mut body, &want, "/etag", is_etag);
    assert_eq!(body, want);

    for (name, tail) in
        [("NetworkWatcherList.json", "/networkWatchers"), ("NetworkWatcherListAll.json", "/networkWatchers")]
    {
        let ex = example(name);
        let (_, mut body) = h.replay(Method::GET, &ex, tail, StatusCode::OK).await;
        let mut want = expected(&ex, "200");
        if name == "NetworkWatcherList.json" {
            // The example lists two watchers in eastus, which Azure refuses (NetworkWatcherCountLimitReached: one
            // watcher per subscription and region); the inventory has nw2 in westus.
            want["value"][1]["location"] = json!("westus");
        }
        for i in 0..2 {
            generated(&mut body["value"][i], &want["value"][i], "/etag", is_etag);
        }
        assert_eq!(body, want, "{name}");
    }
}

/// NSG answers carry a `resourceGuid` the examples leave out.
fn nsg_generated(nsg: &mut Value, want: &Value) {
    generated(nsg, want, "/properties/resourceGuid", is_guid);
}

#[tokio::test]
async fn replays_the_network_security_group_examples() {
    let ex = example("NetworkSecurityGroupGet.json");
    let h = Harness::start(inventory(
        "subid",
        r#"
  - id: subid
    locations: [westus]
    networkSecurityGroups:
      - name: testnsg
        resourceGroup: rg1
        location: westus
        securityRules:
          - { name: rule1, priority: 130, direction: Inbound, access: Allow, destinationPortRange: "80" }"#,
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::GET, &ex, "", StatusCode::OK).await;
    let want = expected(&ex, "200");
    nsg_generated(&mut body, &want);
    assert_eq!(body, want);

    let ex = example("NetworkSecurityGroupList.json");
    let h = Harness::start(inventory(
        "subid",
        r#"
  - id: subid
    locations: [westus]
    networkSecurityGroups:
      - { name: nsg1, resourceGroup: rg1, location: westus }
      - { name: nsg3, resourceGroup: rg1, location: westus }"#,
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::GET, &ex, "/networkSecurityGroups", StatusCode::OK).await;
    let want = expected(&ex, "200");
    for i in 0..2 {
        nsg_generated(&mut body["value"][i], &want["value"][i]);
    }
    assert_eq!(body, want);

    let ex = example("NetworkSecurityGroupListAll.json");
    let h = Harness::start(inventory(
        ZERO_SUB,
        &format!(
            r#"
  - id: {ZERO_SUB}
    locations: [westus]
    networkSecurityGroups:
      - {{ name: nsg1, resourceGroup: rg1, location: westus }}
      - {{ name: nsg3, resourceGroup: rg2, location: westus }}"#
        ),
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::GET, &ex, "/networkSecurityGroups", StatusCode::OK).await;
    let want = expected(&ex, "200");
    for i in 0..2 {
        nsg_generated(&mut body["value"][i], &want["value"][i]);
    }
    assert_eq!(body, want);
}

#[tokio::test]
async fn replays_the_virtual_network_example() {
    let ex = example("VirtualNetworkGet.json");
    let h = Harness::start(inventory(
        "subid",
        r#"
  - id: subid
    locations: [westus]
    virtualNetworks:
      - name: test-vnet
        resourceGroup: rg1
        location: westus
        addressPrefixes: [10.0.0.0/16]
        subnets: [{ name: subnet1, addressPrefix: 10.0.1.0/24 }]"#,
        "",
    ))
    .await;
    let (_, mut body) = h.replay(Method::GET, &ex, "", StatusCode::OK).await;
    let mut want = expected(&ex, "200");
    // Not modelled: the subnet's load-balancer IP configuration and the VNet's NAT gateway.
    want["properties"]["subnets"][0]["properties"].as_object_mut().unwrap().remove("ipConfigurations");
    want["properties"].as_object_mut().unwrap().remove("defaultPublicNatGateway");
    generated(&mut body, &want, "/properties/resourceGuid", is_guid);
    assert_eq!(body, want);
}

#[tokio::test]
async fn requires_a_valid_token_and_an_api_version() {
    let h = Harness::start(legacy_inventory("sync")).await;
    let ex = example(STATUS_QUERY);
    let url = h.url(&ex, "/queryFlowLogStatus");
    let body = &ex["parameters"]["parameters"];

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

    let response = h
        .http
        .post(format!("{}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token", h.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["error"].as_str(), &body["error_codes"]), (Some("invalid_client"), &json!([7000215])));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS7000215: Invalid client secret provided."));
}

#[tokio::test]
async fn blocks_creating_nsg_flow_logs() {
    let h = Harness::start(legacy_inventory("sync")).await;
    let ex = example(CONFIGURE);
    let mut body = ex["parameters"]["parameters"].clone();
    body["targetResourceId"] = json!(NSG2);
    let (status, code, error) = error_code(h.post(&h.url(&ex, "/configureFlowLog"), &body).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "NsgFlowLogCreationBlocked"));
    assert_eq!(error["error"]["details"], json!([]));

    body["properties"]["enabled"] = json!(false);
    let response = h.post(&h.url(&ex, "/configureFlowLog"), &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let expected = json!({
        "targetResourceId": NSG2,
        "properties": {"storageId": "", "enabled": false, "retentionPolicy": {"days": 0, "enabled": false}},
    });
    assert_eq!(response.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn refuses_a_write_while_another_is_in_progress() {
    let h = Harness::start(legacy_inventory("async")).await;
    let ex = example(CONFIGURE);
    let url = h.url(&ex, "/configureFlowLog");
    let body = &ex["parameters"]["parameters"];
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
    let h = Harness::start(legacy_inventory("sync")).await;
    let ex = example(STATUS_QUERY);
    let url = h.url(&ex, "/queryFlowLogStatus");
    let body = &ex["parameters"]["parameters"];
    assert_eq!(h.sim.counters()["token"], 1);

    let reset = h.http.post(format!("{}/_sim/counters/reset", h.base)).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    h.post(&url, body).await;
    h.http.post(&url).json(body).send().await.unwrap(); // 401, counted all the same
    let response = h
        .http
        .post(h.url(&ex, "/configureFlowLog"))
        .bearer_auth(&h.token)
        .header("x-ms-correlation-request-id", "corr-1")
        .json(&example(CONFIGURE)["parameters"]["parameters"])
        .send()
        .await
        .unwrap();
    assert_eq!(header(response.headers(), "x-ms-correlation-request-id"), "corr-1");
    assert!(uuid::Uuid::parse_str(&header(response.headers(), "x-ms-request-id")).is_ok());
    let writes: u64 = header(response.headers(), "x-ms-ratelimit-remaining-subscription-writes").parse().unwrap();
    assert_eq!(writes, 198, "ARM's write bucket holds 200; both actions are writes (POST)");

    let served: Value = h.http.get(format!("{}/_sim/counters", h.base)).send().await.unwrap().json().await.unwrap();
    let served = served.as_object().unwrap();
    assert_eq!(served.len(), 23, "every operation is listed");
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
        serde_json::to_value(
            h.sim.flow_log_status(&ex["parameters"]["parameters"]["targetResourceId"].as_str().unwrap().to_uppercase())
        )
        .unwrap()
    );

    let yaml = h.http.get(format!("{}/_sim/inventory", h.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(Inventory::from_yaml(&yaml).unwrap(), legacy_inventory("sync"));
    assert_eq!(h.sim.counters()["queryFlowLogStatus"], 3, "the admin API is not counted");
}

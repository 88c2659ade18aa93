//! The simulator against the published contract: replays the official examples
//! (`shared/azure-api/examples/NetworkWatcherFlowLog{Configure,StatusQuery}.json`) over HTTP, in sync and async mode,
//! and checks authentication, errors, headers, counters and the admin API.

use std::path::PathBuf;

use flowlog_operator::simulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, Inventory, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONFIGURE: &str = "NetworkWatcherFlowLogConfigure.json";
const STATUS_QUERY: &str = "NetworkWatcherFlowLogStatusQuery.json";
const NSG2: &str = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg2";

/// The resources the official examples name, with nsg1's flow log as the status-query example reports it.
fn inventory(mode: &str) -> Inventory {
    Inventory::from_yaml(&format!(
        r#"
servicePrincipals:
  - {{ tenantId: {DEFAULT_TENANT_ID}, clientId: {DEFAULT_CLIENT_ID}, clientSecret: {DEFAULT_CLIENT_SECRET} }}
subscriptions:
  - id: subid
    locations: [westus]
    networkWatchers: [{{ name: nw1, resourceGroup: rg1, location: westus }}]
    storageAccounts: [{{ name: st1, resourceGroup: rg1, location: westus }}]
    networkSecurityGroups:
      - name: nsg1
        resourceGroup: rg1
        location: westus
        flowLog:
          enabled: true
          storageAccount: st1
          userAssignedIdentities:
            - /subscriptions/subid/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1
      - {{ name: nsg2, resourceGroup: rg1, location: westus }}
behaviour:
  lro: {{ mode: {mode}, retryAfterSeconds: 0, inProgressPolls: 2 }}
"#
    ))
    .expect("the test inventory is valid")
}

/// `shared/` sits next to the repository root.
fn example(name: &str) -> Value {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "shared", "azure-api", "examples", name].iter().collect();
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
    async fn start(mode: &str) -> Harness {
        let sim = Simulator::new(inventory(mode));
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

    /// The example's request URL, on the simulator.
    fn url(&self, example: &Value, action: &str) -> String {
        let p = &example["parameters"];
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkWatchers/{}/{action}?api-version={}",
            self.base,
            p["subscriptionId"].as_str().unwrap(),
            p["resourceGroupName"].as_str().unwrap(),
            p["networkWatcherName"].as_str().unwrap(),
            p["api-version"].as_str().unwrap(),
        )
    }

    async fn post(&self, url: &str, body: &Value) -> reqwest::Response {
        self.http.post(url).bearer_auth(&self.token).json(body).send().await.unwrap()
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).bearer_auth(&self.token).send().await.unwrap()
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    let value = response.headers().get(name).unwrap_or_else(|| panic!("no {name} header"));
    value.to_str().unwrap().to_string()
}

/// Replaces generated identity GUIDs (checking that they are GUIDs) so bodies compare with the examples.
fn mask_generated_ids(mut body: Value) -> Value {
    if let Some(identities) = body.pointer_mut("/identity/userAssignedIdentities").and_then(Value::as_object_mut) {
        for identity in identities.values_mut() {
            for field in ["clientId", "principalId"] {
                let value = identity[field].as_str().unwrap_or_else(|| panic!("{field} missing in {identity}"));
                assert!(uuid::Uuid::parse_str(value).is_ok(), "{field} {value} is not a GUID");
                identity[field] = json!("<generated>");
            }
        }
    }
    body
}

fn expected(example: &Value, status: &str) -> Value {
    mask_generated_ids(example["responses"][status]["body"].clone())
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string() && error["details"].is_array(), "not an ARM error: {body}");
    (status, body["error"]["code"].as_str().unwrap().to_string(), body)
}

#[tokio::test]
async fn replays_the_official_examples_in_sync_mode() {
    let h = Harness::start("sync").await;
    for (name, action) in [(CONFIGURE, "configureFlowLog"), (STATUS_QUERY, "queryFlowLogStatus")] {
        let ex = example(name);
        let response = h.post(&h.url(&ex, action), &ex["parameters"]["parameters"]).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(header(&response, "content-type"), "application/json; charset=utf-8");
        let body: Value = response.json().await.unwrap();
        assert_eq!(mask_generated_ids(body), expected(&ex, "200"), "{name}");
    }
}

#[tokio::test]
async fn replays_the_official_examples_in_async_mode() {
    let h = Harness::start("async").await;
    for (name, action) in [(CONFIGURE, "configureFlowLog"), (STATUS_QUERY, "queryFlowLogStatus")] {
        let ex = example(name);
        let response = h.post(&h.url(&ex, action), &ex["parameters"]["parameters"]).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{name}");
        let request_id = header(&response, "x-ms-request-id");
        let location = header(&response, "location");
        let status_url = header(&response, "azure-asyncoperation");
        assert_eq!(header(&response, "retry-after"), "0");
        assert_eq!(
            location,
            format!(
                "{}/subscriptions/subid/providers/Microsoft.Network/locations/westus/operationResults/{request_id}?api-version=2025-07-01",
                h.base
            )
        );
        assert_eq!(status_url, location.replace("/operationResults/", "/operations/"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(mask_generated_ids(body), expected(&ex, "202"), "{name}");

        // inProgressPolls: 2, counted over both URLs.
        let poll = h.get(&status_url).await;
        assert_eq!(poll.status(), StatusCode::OK);
        assert_eq!(poll.json::<Value>().await.unwrap(), json!({"status": "InProgress"}));
        let poll = h.get(&location).await;
        assert_eq!(poll.status(), StatusCode::ACCEPTED);
        assert_eq!(header(&poll, "location"), location);
        assert_eq!(header(&poll, "retry-after"), "0");
        let done = h.get(&location).await;
        assert_eq!(done.status(), StatusCode::OK, "{name}");
        assert_eq!(mask_generated_ids(done.json().await.unwrap()), expected(&ex, "200"), "{name}");
        let status = h.get(&status_url).await.json::<Value>().await.unwrap();
        assert_eq!(status, json!({"status": "Succeeded"}));
    }
}

#[tokio::test]
async fn requires_a_valid_token_and_an_api_version() {
    let h = Harness::start("sync").await;
    let ex = example(STATUS_QUERY);
    let url = h.url(&ex, "queryFlowLogStatus");
    let body = &ex["parameters"]["parameters"];

    let response = h.http.post(&url).json(body).send().await.unwrap();
    assert!(header(&response, "www-authenticate").starts_with("Bearer "));
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
    let h = Harness::start("sync").await;
    let ex = example(CONFIGURE);
    let mut body = ex["parameters"]["parameters"].clone();
    body["targetResourceId"] = json!(NSG2);
    let (status, code, error) = error_code(h.post(&h.url(&ex, "configureFlowLog"), &body).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "NsgFlowLogCreationBlocked"));
    assert_eq!(error["error"]["details"], json!([]));

    body["properties"]["enabled"] = json!(false);
    let response = h.post(&h.url(&ex, "configureFlowLog"), &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let expected = json!({
        "targetResourceId": NSG2,
        "properties": {"storageId": "", "enabled": false, "retentionPolicy": {"days": 0, "enabled": false}},
    });
    assert_eq!(response.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn refuses_a_write_while_another_is_in_progress() {
    let h = Harness::start("async").await;
    let ex = example(CONFIGURE);
    let url = h.url(&ex, "configureFlowLog");
    let body = &ex["parameters"]["parameters"];
    let first = h.post(&url, body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let status_url = header(&first, "azure-asyncoperation");

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
    let h = Harness::start("sync").await;
    let ex = example(STATUS_QUERY);
    let url = h.url(&ex, "queryFlowLogStatus");
    let body = &ex["parameters"]["parameters"];
    assert_eq!(h.sim.counters()["token"], 1);

    let reset = h.http.post(format!("{}/_sim/counters/reset", h.base)).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    h.post(&url, body).await;
    h.http.post(&url).json(body).send().await.unwrap(); // 401, counted all the same
    let response = h
        .http
        .post(h.url(&ex, "configureFlowLog"))
        .bearer_auth(&h.token)
        .header("x-ms-correlation-request-id", "corr-1")
        .json(&example(CONFIGURE)["parameters"]["parameters"])
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "x-ms-correlation-request-id"), "corr-1");
    assert!(uuid::Uuid::parse_str(&header(&response, "x-ms-request-id")).is_ok());
    let writes: u64 = header(&response, "x-ms-ratelimit-remaining-subscription-writes").parse().unwrap();
    assert!(writes < 1200);

    let expected =
        json!({"configureFlowLog": 1, "operationResult": 0, "operationStatus": 0, "queryFlowLogStatus": 2, "token": 0});
    let served: Value = h.http.get(format!("{}/_sim/counters", h.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, expected);
    assert_eq!(serde_json::to_value(h.sim.counters()).unwrap(), expected);

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
    assert_eq!(Inventory::from_yaml(&yaml).unwrap(), inventory("sync"));
    assert_eq!(h.sim.counters()["queryFlowLogStatus"], 3, "the admin API is not counted");
}

//! What a client must survive, over HTTP: workload-identity and IMDS tokens, ARM's token checks, throttling with
//! token buckets, and injected faults (errors, latency, dropped connections, slow or failing operations).

mod common;

use std::time::{Duration, Instant};

use common::sim::{ARM_SCOPE, secret_form, secret_token, service_account_token, token};
use flowlog_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_SUBJECT, DEFAULT_MANAGED_IDENTITY_CLIENT_ID,
    DEFAULT_SUBSCRIPTION_ID as SUB, Inventory, Simulator,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WATCHER: &str =
    "resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope";

async fn start(inventory: Inventory) -> (Simulator, String, reqwest::Client) {
    inventory.validate().unwrap();
    let (sim, base) = common::sim::start(inventory).await;
    (sim, base, reqwest::Client::new())
}

fn arm_url(base: &str, path: &str) -> String {
    format!("{base}/subscriptions/{SUB}/{path}?api-version=2025-07-01")
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn workload_identity_tokens_come_from_federated_credentials() {
    let (_sim, base, http) = start(Inventory::builtin()).await;
    let exchange = |assertion: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("scope", ARM_SCOPE),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ];
            token(&http, &base, &form).await
        }
    };
    let (status, body) = exchange(service_account_token(DEFAULT_FEDERATED_SUBJECT, 3600)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = get(&http, &arm_url(&base, WATCHER), body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "the exchanged token works on ARM");

    let (status, body) = exchange(service_account_token("system:serviceaccount:default:other", 3600)).await;
    assert_eq!(
        (status, &body["error"], &body["error_codes"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"), &json!([70021]))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Assertion Subject: 'system:serviceaccount:default:other'")
    );
    let (status, body) = exchange(service_account_token(DEFAULT_FEDERATED_SUBJECT, -10)).await;
    assert_eq!((status, &body["error_codes"]), (StatusCode::UNAUTHORIZED, &json!([700024])));
    let (status, body) = exchange("eyJhbGciOiJub25lIn0".into()).await;
    assert_eq!((status, &body["error_codes"]), (StatusCode::BAD_REQUEST, &json!([50027])));
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
}

#[tokio::test]
async fn imds_hands_out_managed_identity_tokens() {
    let (sim, base, http) = start(Inventory::builtin()).await;
    let imds = |query: &str, metadata: bool| {
        let mut request = http.get(format!("{base}/metadata/identity/oauth2/token?{query}"));
        if metadata {
            request = request.header("Metadata", "true");
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (status, retry_after, response.json::<Value>().await.unwrap())
        }
    };
    let query = "api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F";
    let (status, _, body) = imds(query, false).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "bad_request_102", "error_description": "Required metadata header not specified"})
        )
    );
    let (status, _, body) = imds(query, true).await;
    assert_eq!(status, StatusCode::OK);
    for field in ["access_token", "refresh_token", "expires_in", "expires_on", "not_before", "resource", "token_type"] {
        assert!(body[field].is_string(), "{field} is a string in {body}");
    }
    assert_eq!(
        (body["expires_in"].as_str(), body["resource"].as_str()),
        (Some("3599"), Some("https://management.azure.com/"))
    );
    let (status, _, _) = get(&http, &arm_url(&base, WATCHER), body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = imds(&format!("{query}&client_id=99999999-9999-9999-9999-999999999999"), true).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_request", "error_description": "Identity not found"}))
    );
    let (status, _, _) = imds(&format!("{query}&client_id={DEFAULT_MANAGED_IDENTITY_CLIENT_ID}"), true).await;
    assert_eq!(status, StatusCode::OK);

    // IMDS's documented transient answers, for the client's retries.
    sim.set_faults(serde_json::from_value(json!([
        {"operation": "imds", "count": 1, "effect": {"error": {"status": 429, "code": "too_many_requests", "message": "IMDS Throttle limit reached", "retryAfterSeconds": 2}}},
        {"operation": "imds", "count": 1, "effect": {"error": {"status": 503, "code": "service_unavailable"}}},
        {"operation": "imds", "count": 1, "effect": {"error": {"status": 500, "code": "unknown", "message": "Failed to retrieve token from the Active directory."}}},
    ])).unwrap())
    .unwrap();
    let (status, retry_after, body) = imds(query, true).await;
    assert_eq!((status, retry_after.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("2")));
    assert_eq!(body, json!({"error": "too_many_requests", "error_description": "IMDS Throttle limit reached"}));
    assert_eq!(imds(query, true).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(imds(query, true).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(imds(query, true).await.0, StatusCode::OK, "then it answers");
    assert_eq!(sim.counters()["imds"], 8);
}

#[tokio::test]
async fn arm_refuses_tokens_for_other_audiences_and_expired_ones() {
    let (_sim, base, http) = start(Inventory::builtin()).await;
    let storage = secret_token(&http, &base, "https://storage.azure.com/.default").await;
    let (status, headers, body) = get(&http, &arm_url(&base, WATCHER), &storage).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("InvalidAuthenticationTokenAudience"))
    );
    assert!(headers["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));

    let mut inventory = Inventory::builtin();
    inventory.behaviour.token_lifetime_seconds = 0;
    let (_sim, base, http) = start(inventory).await;
    let expired = secret_token(&http, &base, ARM_SCOPE).await;
    let (status, _, body) = get(&http, &arm_url(&base, WATCHER), &expired).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("ExpiredAuthenticationToken"))
    );
    assert!(body["error"]["message"].as_str().unwrap().starts_with("The access token expiry UTC time '"));
}

#[tokio::test]
async fn throttles_with_token_buckets_per_subscription_principal_and_kind() {
    let mut inventory = Inventory::builtin();
    inventory.behaviour.throttling.reads.size = 2;
    inventory.behaviour.throttling.reads.refill_per_second = 2.0;
    let (sim, base, http) = start(inventory).await;
    let token = secret_token(&http, &base, ARM_SCOPE).await;
    let url = arm_url(&base, WATCHER);
    let remaining = |headers: &reqwest::header::HeaderMap| {
        headers["x-ms-ratelimit-remaining-subscription-reads"].to_str().unwrap().to_string()
    };
    let (_, headers, _) = get(&http, &url, &token).await;
    assert_eq!(remaining(&headers), "1");
    let (_, headers, _) = get(&http, &url, &token).await;
    assert_eq!(remaining(&headers), "0");
    let (status, headers, body) = get(&http, &url, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!((headers["retry-after"].to_str().unwrap(), remaining(&headers).as_str()), ("1", "0"));
    assert_eq!(
        body["error"],
        json!({"code": "SubscriptionRequestsThrottled", "details": [], "message": format!(
            "Number of 'read' requests for subscription '{SUB}' actor '{DEFAULT_CLIENT_ID}' exceeded. Please try again \
             after '1' seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling")})
    );
    // Writes have their own bucket.
    let query = http
        .post(arm_url(&base, &format!("{WATCHER}/queryFlowLogStatus")))
        .bearer_auth(&token)
        .json(&json!({"targetResourceId": format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg")}))
        .send()
        .await
        .unwrap();
    assert_eq!(query.headers()["x-ms-ratelimit-remaining-subscription-writes"], "199");

    let admin: Value = http.get(format!("{base}/_sim/throttling")).send().await.unwrap().json().await.unwrap();
    assert_eq!(admin["config"]["reads"], json!({"size": 2, "refillPerSecond": 2.0}));
    let reads = admin["buckets"].as_array().unwrap().iter().find(|b| b["kind"] == "reads").unwrap();
    assert_eq!((reads["subscription"].as_str(), reads["actor"].as_str()), (Some(SUB), Some(DEFAULT_CLIENT_ID)));

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(get(&http, &url, &token).await.0, StatusCode::OK, "a token came back");
    assert_eq!(
        http.post(format!("{base}/_sim/throttling/reset")).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let (_, headers, _) = get(&http, &url, &token).await;
    assert_eq!(remaining(&headers), "1", "full again");

    let off = json!({"enabled": false, "reads": {"size": 1, "refillPerSecond": 1}});
    assert_eq!(http.put(format!("{base}/_sim/throttling")).json(&off).send().await.unwrap().status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(get(&http, &url, &token).await.0, StatusCode::OK);
    }
    let bad = json!({"reads": {"size": 0, "refillPerSecond": 1}});
    let refused = http.put(format!("{base}/_sim/throttling")).json(&bad).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("throttling.reads needs size"));
    assert_eq!(sim.counters()["networkWatchersGet"], 8, "throttled calls are counted");
}

#[tokio::test]
async fn faults_are_managed_through_the_admin_api() {
    let (sim, base, http) = start(Inventory::builtin()).await;
    let faults = format!("{base}/_sim/faults");
    assert_eq!(http.get(&faults).send().await.unwrap().json::<Value>().await.unwrap(), json!([]));
    let invalid = json!([{"operation": "flowLogsGet", "count": 1, "effect": {"lro": {"end": "Failed"}}}]);
    let refused = http.put(&faults).json(&invalid).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("fault 1: flowLogsGet is not long-running"));
    let not_rules = http.put(&faults).json(&json!({"rules": []})).send().await.unwrap();
    assert_eq!(not_rules.status(), StatusCode::BAD_REQUEST);

    let rules = json!([
        {"operation": "networkWatchersGet", "count": 1,
         "effect": {"error": {"status": 503, "code": "ServiceUnavailable", "message": "Try later.", "retryAfterSeconds": 7}}},
        {"operation": "networkWatchersGet", "count": 1, "effect": {"latencyMs": 300}},
        {"operation": "networkWatchersGet", "count": 1, "effect": "drop"},
    ]);
    let set = http.put(&faults).json(&rules).send().await.unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(set.json::<Value>().await.unwrap(), rules);
    let token = secret_token(&http, &base, ARM_SCOPE).await;
    let url = arm_url(&base, WATCHER);

    let (status, headers, body) = get(&http, &url, &token).await;
    assert_eq!((status, headers["retry-after"].to_str().unwrap()), (StatusCode::SERVICE_UNAVAILABLE, "7"));
    assert_eq!(body, json!({"error": {"code": "ServiceUnavailable", "message": "Try later.", "details": []}}));
    assert!(headers.contains_key("x-ms-request-id"));
    let started = Instant::now();
    assert_eq!(get(&http, &url, &token).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300), "slowed down");
    let dropped = http.get(&url).bearer_auth(&token).send().await;
    let e = dropped.expect_err("the connection closes without an answer");
    assert!(!e.is_status() && !e.is_timeout(), "{e:?}");
    assert_eq!(get(&http, &url, &token).await.0, StatusCode::OK, "rules with counts run out");
    assert_eq!(sim.counters()["networkWatchersGet"], 4, "every call counts, failed and dropped ones too");

    let left: Value = http.get(&faults).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        left.as_array().unwrap().iter().map(|r| r["count"].clone()).collect::<Vec<_>>(),
        [json!(0), json!(0), json!(0)]
    );
    assert_eq!(http.delete(&faults).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(sim.faults().is_empty());
}

#[tokio::test]
async fn fault_rates_repeat_with_their_seed() {
    let rule = json!([{"operation": "*", "rate": 0.5, "seed": 42, "effect": {"error": {"status": 500, "code": "InternalServerError"}}}]);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sim, base, http) = start(Inventory::builtin()).await;
        let token = secret_token(&http, &base, ARM_SCOPE).await;
        sim.set_faults(serde_json::from_value(rule.clone()).unwrap()).unwrap();
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(get(&http, &arm_url(&base, WATCHER), &token).await.0.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    let failed = runs[0].iter().filter(|s| **s == 500).count();
    assert!((3..=17).contains(&failed), "{failed} of 20 failed: {:?}", runs[0]);
}

#[tokio::test]
async fn operations_can_be_made_slow_or_failing() {
    let mut inventory = Inventory::builtin();
    inventory.behaviour.lro.retry_after_seconds = 0;
    inventory.behaviour.faults = serde_json::from_value(json!([
        {"operation": "flowLogsCreateOrUpdate", "count": 1,
         "effect": {"lro": {"inProgressPolls": 2, "end": "Failed", "code": "InternalServerError", "message": "An error occurred."}}},
        {"operation": "token", "count": 1, "effect": {"error": {"status": 503, "code": "temporarily_unavailable"}}},
    ]))
    .unwrap();
    let (_sim, base, http) = start(inventory).await;
    let (status, body) = token(&http, &base, &secret_form(DEFAULT_CLIENT_SECRET, ARM_SCOPE)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("temporarily_unavailable")),
        "faults from the inventory"
    );
    let token = secret_token(&http, &base, ARM_SCOPE).await;

    let flow_log = arm_url(&base, &format!("{WATCHER}/flowLogs/app-vnet-flowlog"));
    let body = json!({"location": "westeurope", "properties": {
        "targetResourceId": format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet"),
        "storageId": format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsweu001"),
        "enabled": true}});
    let created = http.put(&flow_log).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let status_url = created.headers()["azure-asyncoperation"].to_str().unwrap().to_string();
    let poll = |url: String| {
        let (http, token) = (http.clone(), token.clone());
        async move { get(&http, &url, &token).await.2 }
    };
    assert_eq!(poll(status_url.clone()).await, json!({"status": "InProgress"}));
    assert_eq!(poll(status_url.clone()).await, json!({"status": "InProgress"}));
    assert_eq!(
        poll(status_url.clone()).await,
        json!({"status": "Failed", "error": {"code": "InternalServerError", "message": "An error occurred.", "details": []}})
    );
    assert_eq!(get(&http, &flow_log, &token).await.0, StatusCode::NOT_FOUND, "a failed create leaves nothing");
    let retried = http.put(&flow_log).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(retried.status(), StatusCode::CREATED, "the fault ran out");
}

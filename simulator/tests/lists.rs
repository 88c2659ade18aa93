//! The ARM lists over HTTP: virtual networks, NICs, NSGs and subscriptions, with the pipeline every ARM route goes
//! through (token, api-version, counters, throttling, faults) and `nextLink`s a client follows as given.

mod common;

use common::{API, SUB, Sim};
use flowlog_simulator::inventory::{BucketLimits, Throttling};
use flowlog_simulator::{DEFAULT_TENANT_ID, FaultRule, SECOND_SUBSCRIPTION_ID};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NETWORK: &str = "providers/Microsoft.Network";

#[tokio::test]
async fn lists_page_through_next_links_and_scope_by_resource_group() {
    let s = Sim::builtin().await;
    let all = |kind: &str| format!("/subscriptions/{SUB}/{NETWORK}/{kind}");
    let in_group = |rg: &str, kind: &str| format!("/subscriptions/{SUB}/resourceGroups/{rg}/{NETWORK}/{kind}");
    assert_eq!(
        s.list_all(&all("virtualNetworks")).await,
        (vec!["app-vnet".into(), "dr-vnet".into(), "shared-vnet".into()], 2)
    );
    assert_eq!(s.counter("virtualNetworksListAll").await, 2, "each page is one call");
    let (nsgs, pages) = s.list_all(&all("networkSecurityGroups")).await;
    assert_eq!(
        (nsgs, pages),
        (["batch-nsg", "db-nsg", "new-nsg", "web-dr-nsg", "web-nsg"].map(String::from).to_vec(), 3)
    );
    assert_eq!(s.list_all(&all("networkInterfaces")).await, (vec!["web-vm-nic".into()], 1));
    assert_eq!(s.list_all(&in_group("app-prod-rg", "virtualNetworks")).await.0, ["app-vnet"]);
    assert_eq!(s.list_all(&in_group("app-dr-rg", "networkInterfaces")).await.0, Vec::<String>::new());
    assert_eq!(s.counter("virtualNetworksList").await, 1);
    assert_eq!(s.counter("networkInterfacesList").await, 1);
    assert_eq!(s.counter("networkInterfacesListAll").await, 1);
    assert_eq!(s.counter("networkSecurityGroupsListAll").await, 3);

    // Case-insensitive routes; the answer's items are the GETs' answers, tags included.
    let page = s
        .get(&format!(
            "/SUBSCRIPTIONS/{SUB}/resourcegroups/app-prod-rg/PROVIDERS/microsoft.network/NETWORKINTERFACES?{API}"
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let nic = s
        .get(&format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/{NETWORK}/networkInterfaces/web-vm-nic?{API}"))
        .await;
    assert_eq!(page.body["value"][0], nic.body);
    assert_eq!(nic.body["tags"], json!({"env": "prod", "role": "web"}));
    assert_eq!(page.header("content-type"), "application/json; charset=utf-8");
    assert!(!page.header("x-ms-request-id").is_empty());
    assert!(page.header("x-ms-ratelimit-remaining-subscription-reads").parse::<u64>().is_ok());

    // ARM's 404s.
    let missing = s.get(&format!("{}?{API}", in_group("nope-rg", "virtualNetworks"))).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "ResourceGroupNotFound"));
    let missing = s.get(&format!("/subscriptions/nope/{NETWORK}/networkInterfaces?{API}")).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "SubscriptionNotFound"));
}

#[tokio::test]
async fn subscriptions_are_listed_with_a_token_and_an_api_version() {
    let s = Sim::builtin().await;
    let listed = s.get("/subscriptions?api-version=2022-12-01").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let ids: Vec<&str> =
        listed.body["value"].as_array().unwrap().iter().map(|v| v["subscriptionId"].as_str().unwrap()).collect();
    assert_eq!(ids, [SUB, SECOND_SUBSCRIPTION_ID]);
    assert_eq!(listed.body["value"][0]["id"], format!("/subscriptions/{SUB}"));
    assert_eq!(listed.body["value"][0]["tenantId"], DEFAULT_TENANT_ID);
    assert_eq!(listed.body["value"][1]["displayName"], "Edge");
    assert!(listed.header("x-ms-ratelimit-remaining-tenant-reads").parse::<u64>().is_ok(), "{:?}", listed.headers);
    assert!(listed.headers.get("x-ms-ratelimit-remaining-subscription-reads").is_none());

    let no_token = s.call(Method::GET, "/subscriptions?api-version=2022-12-01", None, None).await;
    assert_eq!((no_token.status, no_token.code()), (StatusCode::UNAUTHORIZED, "AuthenticationFailed"));
    assert!(no_token.header("www-authenticate").starts_with("Bearer authorization_uri="));
    let forged = s.call(Method::GET, "/subscriptions?api-version=2022-12-01", Some("forged"), None).await;
    assert_eq!((forged.status, forged.code()), (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"));
    let unversioned = s.get("/subscriptions").await;
    assert_eq!((unversioned.status, unversioned.code()), (StatusCode::BAD_REQUEST, "MissingApiVersionParameter"));
    let unversioned = s.get(&format!("/subscriptions/{SUB}/{NETWORK}/virtualNetworks")).await;
    assert_eq!((unversioned.status, unversioned.code()), (StatusCode::BAD_REQUEST, "MissingApiVersionParameter"));
    assert_eq!(s.counter("subscriptionsList").await, 4, "refused calls are counted");
    assert_eq!(s.counter("virtualNetworksListAll").await, 1);

    // One subscription a page: the nextLink leads to the second.
    let mut inventory = flowlog_simulator::Inventory::builtin();
    inventory.behaviour.page_size = 1;
    let s = Sim::start(inventory).await;
    let first = s.get("/subscriptions?api-version=2022-12-01").await;
    let next = first.body["nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{}/subscriptions?api-version=2022-12-01&$skipToken=", s.base)), "{next}");
    let second = s.get(next).await;
    assert_eq!(second.body["value"][0]["subscriptionId"], SECOND_SUBSCRIPTION_ID);
    assert!(second.body.get("nextLink").is_none());
}

fn throttling(reads: u32) -> Throttling {
    Throttling { reads: BucketLimits { size: reads, refill_per_second: 0.01 }, ..Throttling::default() }
}

#[tokio::test]
async fn lists_are_reads_throttled_per_subscription_and_the_subscriptions_list_per_tenant() {
    let s = Sim::builtin().await;
    s.sim.set_throttling(throttling(3)).unwrap();
    let vnets = format!("/subscriptions/{SUB}/{NETWORK}/virtualNetworks?{API}");
    let nics = format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/{NETWORK}/networkInterfaces?{API}");
    let nsgs = format!("/subscriptions/{SUB}/{NETWORK}/networkSecurityGroups?{API}");
    let remaining = |a: &common::Answer| a.header("x-ms-ratelimit-remaining-subscription-reads").to_string();
    assert_eq!(remaining(&s.get(&vnets).await), "2");
    assert_eq!(remaining(&s.get(&nics).await), "1");
    assert_eq!(remaining(&s.get(&nsgs).await), "0");
    let throttled = s.get(&vnets).await;
    assert_eq!((throttled.status, throttled.code()), (StatusCode::TOO_MANY_REQUESTS, "SubscriptionRequestsThrottled"));
    assert!(throttled.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(remaining(&throttled), "0");

    // The subscriptions list spends the tenant's bucket, not the subscription's.
    let subscriptions = "/subscriptions?api-version=2022-12-01";
    for left in ["2", "1", "0"] {
        let listed = s.get(subscriptions).await;
        assert_eq!((listed.status, listed.header("x-ms-ratelimit-remaining-tenant-reads")), (StatusCode::OK, left));
    }
    let throttled = s.get(subscriptions).await;
    assert_eq!((throttled.status, throttled.code()), (StatusCode::TOO_MANY_REQUESTS, "TenantRequestsThrottled"));
    let message = throttled.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("Number of 'read' requests for tenant '{DEFAULT_TENANT_ID}' actor")),
        "{message}"
    );
    let buckets: Value = s.http.get(format!("{}/_sim/throttling", s.base)).send().await.unwrap().json().await.unwrap();
    let buckets = buckets["buckets"].as_array().unwrap();
    assert!(buckets.iter().any(|b| b["tenant"] == DEFAULT_TENANT_ID && b["remaining"] == 0), "{buckets:?}");
    assert!(buckets.iter().any(|b| b["subscription"] == SUB.to_lowercase() && b["remaining"] == 0), "{buckets:?}");
}

#[tokio::test]
async fn fault_rules_name_the_list_operations() {
    let s = Sim::builtin().await;
    let rules: Vec<FaultRule> = serde_json::from_value(json!([
        {"operation": "virtualNetworksList", "count": 1,
         "effect": {"error": {"status": 503, "code": "ServiceUnavailable", "retryAfterSeconds": 2}}},
        {"operation": "subscriptionsList", "count": 1, "effect": {"error": {"status": 500, "code": "InternalServerError"}}},
    ]))
    .unwrap();
    s.sim.set_faults(rules).unwrap();
    let vnets = format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/{NETWORK}/virtualNetworks?{API}");
    let failed = s.get(&vnets).await;
    assert_eq!(
        (failed.status, failed.code(), failed.header("retry-after")),
        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "2")
    );
    // Other list operations are not hit; the rule fired once.
    assert_eq!(s.get(&format!("/subscriptions/{SUB}/{NETWORK}/virtualNetworks?{API}")).await.status, StatusCode::OK);
    assert_eq!(s.get(&vnets).await.status, StatusCode::OK);
    assert_eq!(s.get("/subscriptions?api-version=2022-12-01").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(s.get("/subscriptions?api-version=2022-12-01").await.status, StatusCode::OK);
}

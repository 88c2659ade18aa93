//! Reads of single resources over HTTP: storage accounts (through the pipeline every ARM read goes through: token,
//! api-version, counters, faults, throttling), and scale sets' NICs as Azure shows them — in their subnet and NSG,
//! not in the NIC lists, and no flow-log target.

mod common;

use common::{API, SUB, Sim};
use flowlog_simulator::inventory::{BucketLimits, SubnetRef, Throttling, VirtualMachineScaleSet};
use flowlog_simulator::{FaultRule, Inventory};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STORAGE_API: &str = "api-version=2023-05-01";

fn storage(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}")
}

#[tokio::test]
async fn a_storage_account_is_read_like_other_tracked_resources() {
    let s = Sim::builtin().await;
    let read = s.get(&format!("{}?{STORAGE_API}", storage("logging-rg", "flowlogsneu001"))).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(
        read.body,
        json!({
            "id": storage("logging-rg", "flowlogsneu001"),
            "name": "flowlogsneu001",
            "type": "Microsoft.Storage/storageAccounts",
            "location": "northeurope",
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "properties": {
                "provisioningState": "Succeeded",
                "primaryLocation": "northeurope",
                "statusOfPrimary": "available",
                "primaryEndpoints": {
                    "blob": "https://flowlogsneu001.blob.core.windows.net/",
                    "dfs": "https://flowlogsneu001.dfs.core.windows.net/",
                    "file": "https://flowlogsneu001.file.core.windows.net/",
                    "queue": "https://flowlogsneu001.queue.core.windows.net/",
                    "table": "https://flowlogsneu001.table.core.windows.net/",
                },
                "accessTier": "Hot",
                "supportsHttpsTrafficOnly": true,
                "minimumTlsVersion": "TLS1_2",
            },
        })
    );
    assert!(read.header("x-ms-ratelimit-remaining-subscription-reads").parse::<u64>().is_ok());
    // Case-insensitive, as ARM matches; the answer keeps the inventory's casing.
    let shouted = s
        .get(&format!(
            "/SUBSCRIPTIONS/{SUB}/resourcegroups/LOGGING-RG/providers/microsoft.storage/STORAGEACCOUNTS/FlowLogsWEU001?{STORAGE_API}"
        ))
        .await;
    assert_eq!((shouted.status, shouted.body["name"].as_str()), (StatusCode::OK, Some("flowlogsweu001")));

    // ARM's 404s, as for the other resources.
    let missing = s.get(&format!("{}?{STORAGE_API}", storage("logging-rg", "deleted001"))).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "ResourceNotFound"));
    assert_eq!(
        missing.body["error"]["message"],
        "The Resource 'Microsoft.Storage/storageAccounts/deleted001' under resource group 'logging-rg' was not found. \
         For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
    let elsewhere = s.get(&format!("{}?{STORAGE_API}", storage("app-prod-rg", "flowlogsweu001"))).await;
    assert_eq!(elsewhere.code(), "ResourceNotFound", "an account is found in its own resource group only");
    let no_group = s.get(&format!("{}?{STORAGE_API}", storage("nope-rg", "flowlogsweu001"))).await;
    assert_eq!((no_group.status, no_group.code()), (StatusCode::NOT_FOUND, "ResourceGroupNotFound"));
    let unversioned = s.get(&storage("logging-rg", "flowlogsweu001")).await;
    assert_eq!((unversioned.status, unversioned.code()), (StatusCode::BAD_REQUEST, "MissingApiVersionParameter"));
    let no_token = s.call(Method::GET, &format!("{}?{API}", storage("logging-rg", "x")), None, None).await;
    assert_eq!((no_token.status, no_token.code()), (StatusCode::UNAUTHORIZED, "AuthenticationFailed"));
    // Only GET: other methods and the account's children are not served.
    let put = s.call(Method::PUT, &format!("{}?{STORAGE_API}", storage("logging-rg", "x")), Some(&s.token), None).await;
    assert_eq!((put.status, put.code()), (StatusCode::NOT_FOUND, "NotFound"));
    assert_eq!(s.counter("storageAccountsGet").await, 7, "every read is counted, refused ones included");
}

#[tokio::test]
async fn storage_reads_take_faults_and_throttling() {
    let s = Sim::builtin().await;
    let rules: Vec<FaultRule> = serde_json::from_value(json!([
        {"operation": "storageAccountsGet", "count": 1,
         "effect": {"error": {"status": 503, "code": "ServiceUnavailable", "retryAfterSeconds": 4}}},
    ]))
    .unwrap();
    s.sim.set_faults(rules).unwrap();
    let url = format!("{}?{STORAGE_API}", storage("logging-rg", "flowlogsweu001"));
    let failed = s.get(&url).await;
    assert_eq!(
        (failed.status, failed.code(), failed.header("retry-after")),
        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "4")
    );
    assert_eq!(s.get(&url).await.status, StatusCode::OK, "the rule fired once");

    s.sim
        .set_throttling(Throttling {
            reads: BucketLimits { size: 1, refill_per_second: 0.01 },
            ..Throttling::default()
        })
        .unwrap();
    assert_eq!(s.get(&url).await.header("x-ms-ratelimit-remaining-subscription-reads"), "0");
    let throttled = s.get(&url).await;
    assert_eq!((throttled.status, throttled.code()), (StatusCode::TOO_MANY_REQUESTS, "SubscriptionRequestsThrottled"));
}

/// The built-in inventory with scale set `pool-vmss` (3 instances, `db-nsg`) in subnet `app-vnet/db`.
fn with_scale_set() -> Inventory {
    let mut inventory = Inventory::builtin();
    inventory.subscriptions[0].virtual_machine_scale_sets.push(VirtualMachineScaleSet {
        name: "pool-vmss".into(),
        resource_group: "pool-rg".into(),
        location: "westeurope".into(),
        subnet: SubnetRef {
            virtual_network: "app-vnet".into(),
            name: "db".into(),
            resource_group: Some("app-prod-rg".into()),
        },
        network_security_group: Some("db-nsg".into()),
        network_security_group_resource_group: Some("app-prod-rg".into()),
        instances: 3,
    });
    Inventory::from_yaml(&inventory.to_yaml()).unwrap()
}

fn scale_set_nic(i: u32) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/pool-rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool-vmss/\
         virtualMachines/{i}/networkInterfaces/pool-vmss-nic"
    )
}

fn ids(references: &Value) -> Vec<String> {
    references
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {references}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn scale_set_nics_show_in_their_subnet_and_nsg_but_not_in_the_nic_lists() {
    let s = Sim::start(with_scale_set()).await;
    let network = format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network");
    let configurations: Vec<String> =
        (0..3).map(|i| format!("{}/ipConfigurations/pool-vmss-ipconfig", scale_set_nic(i))).collect();

    let subnet = s.get(&format!("{network}/virtualNetworks/app-vnet/subnets/db?{API}")).await;
    assert_eq!(subnet.status, StatusCode::OK, "{}", subnet.body);
    assert_eq!(ids(&subnet.body["properties"]["ipConfigurations"]), configurations);
    // Inside the VNet, in its GET and in the list: the same subnet.
    let vnet = s.get(&format!("{network}/virtualNetworks/app-vnet?{API}")).await;
    let db = &vnet.body["properties"]["subnets"][1];
    assert_eq!(ids(&db["properties"]["ipConfigurations"]), configurations);
    let listed = s.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks?{API}")).await;
    assert_eq!(listed.body["value"][0], vnet.body, "app-vnet comes first");
    // The NIC subnet web holds keeps its own configuration.
    let web = s.get(&format!("{network}/virtualNetworks/app-vnet/subnets/web?{API}")).await;
    assert_eq!(ids(&web.body["properties"]["ipConfigurations"]).len(), 1);

    let nsg = s.get(&format!("{network}/networkSecurityGroups/db-nsg?{API}")).await;
    assert_eq!(ids(&nsg.body["properties"]["networkInterfaces"]), (0..3).map(scale_set_nic).collect::<Vec<_>>());
    assert!(nsg.body["properties"].get("subnets").is_none(), "db-nsg is attached to no subnet: {}", nsg.body);

    // Not in the NIC lists (Azure lists them per scale set), and not readable as a NIC.
    assert_eq!(
        s.list_all(&format!("/subscriptions/{SUB}/providers/Microsoft.Network/networkInterfaces")).await.0,
        ["web-vm-nic"]
    );
    let read = s.get(&format!("{}?{API}", scale_set_nic(0))).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_scale_set_nic_is_no_flow_log_target() {
    let s = Sim::start(with_scale_set()).await;
    let watcher = format!(
        "/subscriptions/{SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/\
         NetworkWatcher_westeurope"
    );
    let body = json!({
        "location": "westeurope",
        "properties": {"targetResourceId": scale_set_nic(1), "storageId": storage("logging-rg", "flowlogsweu001"),
                       "enabled": true},
    });
    let refused = s
        .call(Method::PUT, &format!("{watcher}/flowLogs/vmss-nic?{API}"), Some(&s.token), Some(body.to_string()))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "InvalidResourceReference"),
        "{}",
        refused.body
    );
    assert!(refused.body["error"]["message"].as_str().unwrap().starts_with(&format!("Resource {}", scale_set_nic(1))));
    assert_eq!(refused.body["error"]["details"][0]["code"], "NotFound");
    // Its subnet is one.
    let mut body = body;
    body["properties"]["targetResourceId"] = json!(format!(
        "/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/db"
    ));
    let created = s
        .call(Method::PUT, &format!("{watcher}/flowLogs/db-subnet?{API}"), Some(&s.token), Some(body.to_string()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // The admin API's drift refuses it too.
    let drift = json!({
        "id": format!("{watcher}/flowLogs/vmss-drift"),
        "properties": {"targetResourceId": scale_set_nic(0), "storageId": "", "enabled": false},
    });
    let drift = s.call(Method::PUT, "/_sim/flowLogResources", None, Some(drift.to_string())).await;
    assert_eq!(drift.status, StatusCode::BAD_REQUEST, "{}", drift.body);
}

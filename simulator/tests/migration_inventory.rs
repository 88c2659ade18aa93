//! `inventories/migration.yaml`, the NSG → VNet migration inventory: it loads (also with `flowlog-sim
//! --inventory`), holds NSG flow logs over two subscriptions and two regions, and the ARM reads a migration plan makes
//! show what its cases need: NSGs' attachments, scale sets' NICs in their subnets and NSGs (and not in the NIC
//! lists), existing subnet flow logs, and storage accounts that exist or not.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{API, SUB, Sim};
use flowlog_simulator::inventory::LroMode;
use flowlog_simulator::{Inventory, SECOND_SUBSCRIPTION_ID};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn migration() -> Inventory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/migration.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    Inventory::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn network(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network")
}

fn watcher(sub: &str, region: &str) -> String {
    format!("{}/networkWatchers/NetworkWatcher_{region}", network(sub, "NetworkWatcherRG"))
}

fn ids(references: &Value) -> Vec<String> {
    let list = references.as_array().unwrap_or_else(|| panic!("not a list: {references}"));
    list.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

fn scale_set_nics(rg: &str, vmss: &str, instances: u32) -> Vec<String> {
    (0..instances)
        .map(|i| {
            format!(
                "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/\
                 virtualMachines/{i}/networkInterfaces/{vmss}-nic"
            )
        })
        .collect()
}

#[test]
fn it_holds_nsg_flow_logs_over_two_subscriptions_and_two_regions() {
    let inventory = migration();
    let logged: Vec<(&str, &str, bool)> = inventory
        .subscriptions
        .iter()
        .flat_map(|s| {
            s.network_security_groups
                .iter()
                .filter_map(move |n| Some((s.id.as_str(), n.location.as_str(), n.flow_log.as_ref()?.enabled)))
        })
        .collect();
    assert!(logged.len() >= 22, "only {} NSG flow logs", logged.len());
    assert_eq!(logged.iter().filter(|(_, _, on)| !on).count(), 2, "case i: two are off");
    let places: BTreeSet<(&str, &str)> = logged.iter().map(|(s, l, _)| (*s, *l)).collect();
    for sub in [SUB, SECOND_SUBSCRIPTION_ID] {
        for region in ["westeurope", "northeurope"] {
            assert!(places.contains(&(sub, region)), "no NSG flow log in {sub} {region}: {places:?}");
        }
    }
    // The built-in principal and identities, so the same credentials work.
    let builtin = Inventory::builtin();
    assert_eq!(inventory.service_principals, builtin.service_principals);
    assert_eq!(inventory.managed_identities, builtin.managed_identities);
    assert!(inventory.subscriptions[1].registered_providers.iter().any(|p| p == "Microsoft.Insights"));
}

#[test]
fn flowlog_sim_loads_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/migration.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_flowlog-sim"))
        .arg("--inventory")
        .arg(&path)
        .arg("--print-inventory")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Inventory::from_yaml(&String::from_utf8(out.stdout).unwrap()).unwrap(), migration());
}

#[tokio::test]
async fn reads_show_what_the_migration_cases_need() {
    let s = Sim::start(migration()).await;

    // Every NSG flow log is a `flowLogs` resource of its region's watcher, beside the existing subnet flow logs.
    let mut nsg_logs = 0;
    for (sub, region) in [
        (SUB, "westeurope"),
        (SUB, "northeurope"),
        (SECOND_SUBSCRIPTION_ID, "westeurope"),
        (SECOND_SUBSCRIPTION_ID, "northeurope"),
    ] {
        let (names, _) = s.list_all(&format!("{}/flowLogs", watcher(sub, region))).await;
        assert!(!names.is_empty(), "{sub} {region}");
        nsg_logs += names.iter().filter(|n| n.starts_with("Microsoft.Network")).count();
        if (sub, region) == (SUB, "westeurope") {
            assert!(
                names.contains(&"covered-subnet-flowlog".to_string())
                    && names.contains(&"differs-subnet-flowlog".into())
            );
        }
    }
    assert_eq!(nsg_logs, 23);

    // a, l: NSGs attached to NICs and subnets.
    let app = s.get(&format!("{}/networkSecurityGroups/app-1-nsg?{API}", network(SUB, "mig-app-rg"))).await;
    assert_eq!(
        ids(&app.body["properties"]["networkInterfaces"]),
        [format!("{}/networkInterfaces/app-1", network(SUB, "mig-app-rg"))]
    );
    let front = s.get(&format!("{}/networkSecurityGroups/front-nsg?{API}", network(SUB, "mig-app-rg"))).await;
    assert_eq!(
        ids(&front.body["properties"]["subnets"]),
        [format!("{}/virtualNetworks/mig-app-vnet/subnets/front", network(SUB, "mig-app-rg"))]
    );
    let orphan = s.get(&format!("{}/networkSecurityGroups/orphan-nsg?{API}", network(SUB, "mig-misc-rg"))).await;
    assert!(
        orphan.body["properties"].get("subnets").is_none()
            && orphan.body["properties"].get("networkInterfaces").is_none()
    );

    // d, e: scale sets' NICs in their subnet (GET and the VNet list's embedded subnets) and their NSG, not in the NIC
    // list.
    let pool = format!("{}/virtualNetworks/mig-vmss-vnet/subnets/pool", network(SUB, "mig-vmss-rg"));
    let configurations: Vec<String> = scale_set_nics("mig-vmss-rg", "pool-vmss", 3)
        .iter()
        .map(|nic| format!("{nic}/ipConfigurations/pool-vmss-ipconfig"))
        .collect();
    let subnet = s.get(&format!("{pool}?{API}")).await;
    assert_eq!(ids(&subnet.body["properties"]["ipConfigurations"]), configurations);
    assert!(subnet.body["properties"].get("networkSecurityGroup").is_none(), "pool has no NSG of its own");
    let mut listed = s.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks?{API}")).await;
    let vmss_vnet = loop {
        let found = listed.body["value"].as_array().unwrap().iter().find(|v| v["name"] == "mig-vmss-vnet").cloned();
        if let Some(v) = found {
            break v;
        }
        let next = listed.body["nextLink"].as_str().expect("mig-vmss-vnet is listed").to_string();
        listed = s.get(&next).await;
    };
    assert_eq!(ids(&vmss_vnet["properties"]["subnets"][0]["properties"]["ipConfigurations"]), configurations);
    let pool_nsg = s.get(&format!("{}/networkSecurityGroups/pool-nsg?{API}", network(SUB, "mig-vmss-rg"))).await;
    assert_eq!(ids(&pool_nsg.body["properties"]["networkInterfaces"]), scale_set_nics("mig-vmss-rg", "pool-vmss", 3));
    let clash =
        s.get(&format!("{}/virtualNetworks/mig-clash-vnet/subnets/clash?{API}", network(SUB, "mig-clash-rg"))).await;
    assert_eq!(ids(&clash.body["properties"]["ipConfigurations"]).len(), 2);
    assert!(clash.body["properties"]["networkSecurityGroup"]["id"].as_str().unwrap().ends_with("/clash-subnet-nsg"));
    let clash_nsg =
        s.get(&format!("{}/networkSecurityGroups/clash-vmss-nsg?{API}", network(SUB, "mig-clash-rg"))).await;
    assert_eq!(
        ids(&clash_nsg.body["properties"]["networkInterfaces"]),
        scale_set_nics("mig-clash-rg", "clash-vmss", 2)
    );
    let (nics, _) = s.list_all(&format!("/subscriptions/{SUB}/providers/Microsoft.Network/networkInterfaces")).await;
    assert_eq!(nics, ["app-1", "app-2", "app-3", "both-1", "mix-1", "mix-2", "part-1", "part-2"]);

    // k: storage accounts, read as the plan reads them: one in another region, one gone.
    let storage = |name: &str| {
        format!(
            "/subscriptions/{SUB}/resourceGroups/mig-logging-rg/providers/Microsoft.Storage/storageAccounts/{name}\
             ?api-version=2023-05-01"
        )
    };
    let weu = s.get(&storage("migflowlogsweu001")).await;
    assert_eq!((weu.status, weu.body["location"].as_str()), (StatusCode::OK, Some("westeurope")));
    let gone = s.get(&storage("migflowlogsneu000")).await;
    assert_eq!((gone.status, gone.code()), (StatusCode::NOT_FOUND, "ResourceNotFound"));
    let neu = format!("{}/flowLogs", watcher(SUB, "northeurope"));
    let app_log = s.get(&format!("{neu}/Microsoft.Networkmig-neu-rgneu-app-nsg?{API}")).await;
    assert!(app_log.body["properties"]["storageId"].as_str().unwrap().ends_with("/storageAccounts/migflowlogsweu001"));
    let db_log = s.get(&format!("{neu}/Microsoft.Networkmig-neu-rgneu-db-nsg?{API}")).await;
    assert!(db_log.body["properties"]["storageId"].as_str().unwrap().ends_with("/storageAccounts/migflowlogsneu000"));

    // j: traffic analytics as the flow log carries it.
    let ta = s.get(&format!("{}/flowLogs/Microsoft.Networkmig-ta-rgta-nsg?{API}", watcher(SUB, "westeurope"))).await;
    let ta = &ta.body["properties"]["flowAnalyticsConfiguration"]["networkWatcherFlowAnalyticsConfiguration"];
    assert_eq!((ta["enabled"].as_bool(), ta["trafficAnalyticsInterval"].as_i64()), (Some(true), Some(10)));
    assert_eq!(ta["workspaceId"], "55555555-5555-5555-5555-555555555561");
}

/// The legacy storage states of case k are the inventory's: writes still refuse them when they enable the flow log,
/// and accept switching it off (step 2 of a migration).
#[tokio::test]
async fn writes_refuse_the_legacy_storage_but_may_switch_the_flow_log_off() {
    let mut inventory = migration();
    inventory.behaviour.lro.mode = LroMode::Sync;
    let s = Sim::start(inventory).await;
    let configure = format!("{}/configureFlowLog?{API}", watcher(SUB, "northeurope"));
    let nsg = |name: &str| format!("{}/networkSecurityGroups/{name}", network(SUB, "mig-neu-rg"));
    let storage = |name: &str| {
        format!("/subscriptions/{SUB}/resourceGroups/mig-logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
    };
    for (name, account, code) in [
        ("neu-app-nsg", "migflowlogsweu001", "StorageAccountLocationMismatch"),
        ("neu-db-nsg", "migflowlogsneu000", "InvalidResourceReference"),
    ] {
        let mut body = json!({"targetResourceId": nsg(name), "properties": {"storageId": storage(account), "enabled": true,
                              "retentionPolicy": {"days": 30, "enabled": true}, "format": {"type": "JSON", "version": 2}}});
        let refused = s.call(Method::POST, &configure, Some(&s.token), Some(body.to_string())).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{name}: {}", refused.body);
        body["properties"]["enabled"] = json!(false);
        let off = s.call(Method::POST, &configure, Some(&s.token), Some(body.to_string())).await;
        assert_eq!((off.status, off.body["properties"]["enabled"].as_bool()), (StatusCode::OK, Some(false)), "{name}");
    }
}

//! Virtual networks, NICs and NSGs added, replaced and removed under a running simulator through the admin API (and
//! the `Simulator` handle), seen by the ARM reads and lists; refused changes change nothing.

mod common;

use common::{API, Answer, SUB, Sim};
use flowlog_simulator::inventory::VirtualNetwork;
use flowlog_simulator::{Applied, ResourceError};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NETWORK: &str = "providers/Microsoft.Network";

impl Sim {
    async fn admin(&self, method: Method, path: &str, body: Value) -> Answer {
        let body = (!body.is_null()).then(|| body.to_string());
        self.call(method, &format!("/_sim/{path}"), None, body).await
    }

    /// The names every ARM list of the subscription holds, kind by kind.
    async fn world(&self) -> Vec<Vec<String>> {
        let mut all = vec![];
        for kind in ["virtualNetworks", "networkInterfaces", "networkSecurityGroups"] {
            all.push(self.list_all(&format!("/subscriptions/{SUB}/{NETWORK}/{kind}")).await.0);
        }
        all
    }
}

fn new_vnet(tags: Value) -> Value {
    json!({
        "subscription": SUB,
        "name": "new-vnet",
        "resourceGroup": "app-prod-rg",
        "location": "westeurope",
        "tags": tags,
        "addressPrefixes": ["10.9.0.0/16"],
        "subnets": [{"name": "web", "addressPrefix": "10.9.1.0/24", "networkSecurityGroup": "new-nsg"}],
    })
}

#[tokio::test]
async fn a_virtual_network_put_shows_in_gets_and_lists_until_it_is_deleted() {
    let s = Sim::builtin().await;
    let get = format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/{NETWORK}/virtualNetworks/new-vnet?{API}");
    let in_group = format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/{NETWORK}/virtualNetworks");
    assert_eq!(s.get(&get).await.code(), "ResourceNotFound");

    let created = s.admin(Method::PUT, "virtualNetworks", new_vnet(json!({"env": "prod"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let read = s.get(&get).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(created.body, read.body, "the admin API answers what GET answers");
    assert_eq!(read.body["tags"], json!({"env": "prod"}));
    assert_eq!(read.body["properties"]["subnets"][0]["name"], "web");
    assert_eq!(s.list_all(&in_group).await.0, ["app-vnet", "new-vnet"]);
    let subnet = s.get(&format!("{}/subnets/web?{API}", get.split('?').next().unwrap())).await;
    assert_eq!(subnet.status, StatusCode::OK);

    // Replaced: now exempt.
    let replaced = s.admin(Method::PUT, "virtualNetworks", new_vnet(json!({"flowlogs": "exempt"}))).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(s.get(&get).await.body["tags"], json!({"flowlogs": "exempt"}));

    let path = format!("virtualNetworks/{SUB}/app-prod-rg/NEW-VNET");
    assert_eq!(s.admin(Method::DELETE, &path, Value::Null).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&get).await.code(), "ResourceNotFound");
    assert_eq!(s.list_all(&in_group).await.0, ["app-vnet"]);
    let again = s.admin(Method::DELETE, &path, Value::Null).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.as_str().unwrap().contains("no virtual network NEW-VNET in resource group app-prod-rg"));
    assert_eq!(s.counter("virtualNetworksGet").await, 4, "the admin API is not counted");
}

#[tokio::test]
async fn nics_and_nsgs_come_and_go_and_the_handle_does_the_same() {
    let s = Sim::builtin().await;
    let nsg = json!({"subscription": SUB, "name": "late-nsg", "resourceGroup": "late-rg", "location": "northeurope",
                     "tags": {"team": "late"}, "securityRules": [
                         {"name": "ssh", "priority": 200, "direction": "Inbound", "access": "Deny", "destinationPortRange": "22"}]});
    assert_eq!(s.admin(Method::PUT, "networkSecurityGroups", nsg).await.status, StatusCode::CREATED);
    let nic = json!({"subscription": SUB, "name": "late-nic", "resourceGroup": "late-rg", "location": "northeurope",
                     "subnet": {"virtualNetwork": "dr-vnet", "name": "app", "resourceGroup": "app-dr-rg"},
                     "networkSecurityGroup": "late-nsg"});
    let created = s.admin(Method::PUT, "networkInterfaces", nic).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body["properties"]["networkSecurityGroup"]["id"].as_str().unwrap().ends_with("/late-nsg"));
    let nsgs =
        s.list_all(&format!("/subscriptions/{SUB}/resourceGroups/late-rg/{NETWORK}/networkSecurityGroups")).await;
    assert_eq!(nsgs.0, ["late-nsg"]);
    let nsg = s
        .get(&format!("/subscriptions/{SUB}/resourceGroups/late-rg/{NETWORK}/networkSecurityGroups/late-nsg?{API}"))
        .await;
    assert_eq!(nsg.body["tags"], json!({"team": "late"}));
    assert!(nsg.body["properties"]["networkInterfaces"][0]["id"].as_str().unwrap().ends_with("/late-nic"));

    let in_use = s.admin(Method::DELETE, &format!("networkSecurityGroups/{SUB}/late-rg/late-nsg"), Value::Null).await;
    assert_eq!(in_use.status, StatusCode::BAD_REQUEST);
    assert!(in_use.body.as_str().unwrap().contains("it is in use by network interface late-nic;"), "{}", in_use.body);
    let gone = s.admin(Method::DELETE, &format!("networkInterfaces/{SUB}/late-rg/late-nic"), Value::Null).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.admin(Method::DELETE, &format!("networkSecurityGroups/{SUB}/late-rg/late-nsg"), Value::Null).await.status,
        StatusCode::NO_CONTENT
    );
    // The resource group stays: its lists answer, empty.
    let nsgs =
        s.list_all(&format!("/subscriptions/{SUB}/resourceGroups/late-rg/{NETWORK}/networkSecurityGroups")).await;
    assert_eq!(nsgs.0, Vec::<String>::new());

    // In process, through the handle.
    let vnet = VirtualNetwork {
        name: "handle-vnet".into(),
        resource_group: "app-dr-rg".into(),
        location: "northeurope".into(),
        ..Default::default()
    };
    assert_eq!(s.sim.put_virtual_network(SUB, vnet.clone()), Ok(Applied::Created));
    assert_eq!(s.sim.put_virtual_network(SUB, vnet), Ok(Applied::Replaced));
    let vnets = format!("/subscriptions/{SUB}/resourceGroups/app-dr-rg/{NETWORK}/virtualNetworks");
    assert_eq!(s.list_all(&vnets).await.0, ["dr-vnet", "handle-vnet"]);
    assert_eq!(s.sim.remove_virtual_network(SUB, "app-dr-rg", "handle-vnet"), Ok(()));
    assert!(matches!(s.sim.remove_virtual_network(SUB, "app-dr-rg", "handle-vnet"), Err(ResourceError::NotFound(_))));
    assert!(matches!(
        s.sim.remove_network_security_group(SUB, "app-prod-rg", "web-nsg"),
        Err(ResourceError::Invalid(_))
    ));
    assert_eq!(s.list_all(&vnets).await.0, ["dr-vnet"]);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_message_and_changes_nothing() {
    let s = Sim::builtin().await;
    let before = s.world().await;
    let without = |field: &str| {
        let mut body = new_vnet(json!({}));
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let mut unknown_field = new_vnet(json!({}));
    unknown_field["adressPrefixes"] = json!([]);
    let mut far = new_vnet(json!({}));
    far["location"] = json!("eastus");
    let mut bad_tag = new_vnet(json!({"a/b": "x"}));
    bad_tag["subnets"][0]["addressPrefix"] = json!("10.9.1.0/99");
    let mut other_sub = new_vnet(json!({}));
    other_sub["subscription"] = json!("nope");
    for (path, body, expected) in [
        ("virtualNetworks", json!("not an object"), "the body is not a virtual network (a JSON object)"),
        ("virtualNetworks", without("subscription"), "the body names no subscription"),
        ("virtualNetworks", without("location"), "the body is not a virtual network: missing field `location`"),
        ("virtualNetworks", unknown_field, "unknown field `adressPrefixes`"),
        ("virtualNetworks", far, "virtual network new-vnet is in location \"eastus\", which subscription"),
        ("virtualNetworks", bad_tag.clone(), "tag names have 1 to 512 characters"),
        ("virtualNetworks", bad_tag, "address prefix of subnet new-vnet/web \"10.9.1.0/99\" is not a CIDR prefix"),
        ("virtualNetworks", other_sub, "no subscription nope in the inventory"),
        (
            "networkInterfaces",
            json!({"subscription": SUB, "name": "n", "resourceGroup": "app-prod-rg", "location": "westeurope",
                   "subnet": {"virtualNetwork": "app-vnet", "name": "nope"}}),
            "network interface n refers to unknown subnet app-vnet/nope",
        ),
        (
            "networkSecurityGroups",
            json!({"subscription": SUB, "name": "n", "resourceGroup": "rg", "location": "westeurope", "flowLog": {"enabled": false}}),
            "has a flowLog",
        ),
    ] {
        let refused = s.admin(Method::PUT, path, body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{expected}: {}", refused.body);
        let message = refused.body.as_str().unwrap_or_else(|| panic!("not a text message: {}", refused.body));
        assert!(message.contains(expected), "missing {expected:?} in {message:?}");
    }
    let not_json = s.call(Method::PUT, "/_sim/virtualNetworks", None, Some("{".into())).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(not_json.body.as_str().unwrap().starts_with("the body is not JSON"));
    for (path, status, expected) in [
        (
            format!("virtualNetworks/{SUB}/app-prod-rg/app-vnet"),
            StatusCode::BAD_REQUEST,
            "network interface web-vm-nic (in subnet web)",
        ),
        (
            format!("networkSecurityGroups/{SUB}/app-prod-rg/web-nsg"),
            StatusCode::BAD_REQUEST,
            "it is in use by network interface web-vm-nic;",
        ),
        (format!("networkInterfaces/{SUB}/app-prod-rg/nope"), StatusCode::NOT_FOUND, "no network interface nope"),
        ("networkInterfaces/nope/app-prod-rg/web-vm-nic".into(), StatusCode::NOT_FOUND, "no subscription nope"),
    ] {
        let refused = s.admin(Method::DELETE, &path, Value::Null).await;
        assert_eq!(refused.status, status, "{path}: {}", refused.body);
        assert!(refused.body.as_str().unwrap().contains(expected), "missing {expected:?} in {}", refused.body);
    }
    assert_eq!(s.world().await, before, "nothing changed");
}

#[tokio::test]
async fn a_subnet_or_nsg_a_scale_set_uses_cannot_be_removed() {
    let mut inventory = flowlog_simulator::Inventory::builtin();
    let scale_set = json!({"name": "pool-vmss", "resourceGroup": "app-dr-rg", "location": "northeurope",
                           "subnet": {"virtualNetwork": "dr-vnet", "name": "app"}, "networkSecurityGroup": "web-dr-nsg",
                           "instances": 2});
    inventory.subscriptions[0].virtual_machine_scale_sets.push(serde_json::from_value(scale_set).unwrap());
    let s = Sim::start(flowlog_simulator::Inventory::from_yaml(&inventory.to_yaml()).unwrap()).await;
    let before = s.world().await;
    let vnet = s.admin(Method::DELETE, &format!("virtualNetworks/{SUB}/app-dr-rg/dr-vnet"), Value::Null).await;
    assert_eq!(vnet.status, StatusCode::BAD_REQUEST);
    assert!(
        vnet.body.as_str().unwrap().contains("it is in use by virtual machine scale set pool-vmss (in subnet app);"),
        "{}",
        vnet.body
    );
    let nsg = s.admin(Method::DELETE, &format!("networkSecurityGroups/{SUB}/app-dr-rg/web-dr-nsg"), Value::Null).await;
    assert_eq!(nsg.status, StatusCode::BAD_REQUEST);
    assert!(nsg.body.as_str().unwrap().contains("in use by virtual machine scale set pool-vmss;"), "{}", nsg.body);
    // A replacement of the VNet without the scale set's subnet is refused too.
    let without = json!({"subscription": SUB, "name": "dr-vnet", "resourceGroup": "app-dr-rg", "location": "northeurope",
                         "addressPrefixes": ["10.3.0.0/16"]});
    let replaced = s.admin(Method::PUT, "virtualNetworks", without).await;
    assert_eq!(replaced.status, StatusCode::BAD_REQUEST);
    assert!(
        replaced
            .body
            .as_str()
            .unwrap()
            .contains("virtual machine scale set pool-vmss refers to unknown subnet dr-vnet/app"),
        "{}",
        replaced.body
    );
    assert_eq!(s.world().await, before, "nothing changed");
}

/// Azure keeps a flow log whose subnet is gone but refuses to delete it (`SubnetNotFoundForFlowLog`,
/// Azure/azure-cli#31506); with the subnet back, the delete goes through.
#[tokio::test]
async fn a_flow_log_whose_subnet_is_gone_cannot_be_deleted() {
    let s = Sim::builtin().await;
    let rg = format!("/subscriptions/{SUB}/resourceGroups");
    let watcher = format!("{rg}/NetworkWatcherRG/{NETWORK}/networkWatchers/NetworkWatcher_northeurope");
    let subnet = format!("{rg}/app-dr-rg/{NETWORK}/virtualNetworks/dr-vnet/subnets/app");
    let storage = format!("{rg}/logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsneu001");
    let flow_log = json!({"id": format!("{watcher}/flowLogs/dr-app-flowlog"),
                          "properties": {"targetResourceId": subnet, "storageId": storage, "enabled": true}});
    assert_eq!(s.admin(Method::PUT, "flowLogResources", flow_log).await.status, StatusCode::OK);
    let delete = format!("{watcher}/flowLogs/dr-app-flowlog?{API}");

    let dr_vnet = s.get(&format!("{rg}/app-dr-rg/{NETWORK}/virtualNetworks/dr-vnet?{API}")).await.body;
    let body = json!({"subscription": SUB, "name": "dr-vnet", "resourceGroup": "app-dr-rg", "location": "northeurope",
                      "tags": dr_vnet["tags"], "addressPrefixes": ["10.3.0.0/16"],
                      "subnets": [{"name": "app", "addressPrefix": "10.3.1.0/24", "networkSecurityGroup": "batch-nsg"}]});
    // The subnet goes with its VNet; so does it when a replacement of the VNet drops it.
    for gone in [s.admin(Method::DELETE, &format!("virtualNetworks/{SUB}/app-dr-rg/dr-vnet"), Value::Null).await, {
        s.admin(Method::PUT, "virtualNetworks", body.clone()).await;
        let mut without = body.clone();
        without["subnets"] = json!([{"name": "other", "addressPrefix": "10.3.2.0/24"}]);
        s.admin(Method::PUT, "virtualNetworks", without).await
    }] {
        assert!(gone.status.is_success(), "{}", gone.body);
        let refused = s.call(Method::DELETE, &delete, Some(&s.token), None).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "SubnetNotFoundForFlowLog"));
        assert_eq!(
            refused.body["error"]["message"],
            format!("Subnet resource {subnet} passed for the flow log does not exist.")
        );
        let kept = s.get(&delete).await;
        assert_eq!(kept.status, StatusCode::OK, "the flow log stays: {}", kept.body);
    }
    // Back again: deleted as usual.
    assert_eq!(s.admin(Method::PUT, "virtualNetworks", body).await.status, StatusCode::OK);
    let deleted = s.call(Method::DELETE, &delete, Some(&s.token), None).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{}", deleted.body);
}

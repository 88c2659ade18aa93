//! Azure's official request/response examples (`shared/azure-api/examples/*.json`): reading them, sending their
//! requests to the simulator, and the simulator inventories that hold what each example names.

use std::path::PathBuf;

use flowlog_simulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, Inventory};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::sim::{Answer, SimHttp};

/// The user-assigned identity of the examples, with the IDs they report for it.
const ID1_CLIENT: &str = "c16d15e1-f60a-40e4-8a05-df3d3f655c14";
const ID1_PRINCIPAL: &str = "e3858881-e40c-43bd-9cde-88da39c05023";
/// The subscription of most examples that do not say `subid`.
pub const ZERO_SUB: &str = "00000000-0000-0000-0000-000000000000";

/// `shared/azure-api/examples`: Azure's official request/response examples. The shared folder normally sits
/// beside the repository (`../shared`); `FLOWLOG_SHARED_DIR` points elsewhere (a clone in another place).
pub fn azure_examples_dir() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = std::env::var_os("FLOWLOG_SHARED_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(manifest.ancestors().skip(1).map(|a| a.join("shared")))
        .chain([PathBuf::from("/work/shared")]);
    for shared in candidates {
        let examples = shared.join("azure-api/examples");
        if examples.is_dir() {
            return examples;
        }
    }
    panic!("no shared/azure-api/examples beside the repository: set FLOWLOG_SHARED_DIR to the shared folder");
}

/// The example `name` (a file in [`azure_examples_dir`]) as JSON.
pub fn example(name: &str) -> Value {
    let path = azure_examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// An example file and its JSON.
pub struct Example {
    pub file: &'static str,
    pub json: Value,
}

impl Example {
    pub fn load(file: &'static str) -> Example {
        Example { file, json: example(file) }
    }

    /// The example's request URL on the simulator at `base`: the resource its parameters name, plus `tail`.
    pub fn url(&self, base: &str, tail: &str) -> String {
        let p = &self.json["parameters"];
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
        format!("{base}{path}{tail}?api-version={}", p["api-version"].as_str().unwrap())
    }

    /// The request's body: the example's `parameters.parameters`.
    pub fn request(&self) -> &Value {
        &self.json["parameters"]["parameters"]
    }

    /// The example's answer with `status`.
    pub fn answer(&self, status: &str) -> Value {
        self.json["responses"][status]["body"].clone()
    }

    /// Sends the example's request (with its body, if it has one) and checks the status of the answer.
    pub async fn send(&self, h: &SimHttp, method: Method, tail: &str, status: StatusCode) -> Answer {
        let answer = h.call(method.clone(), &self.url(&h.base, tail), self.json["parameters"].get("parameters")).await;
        let title = self.json["title"].as_str().unwrap_or_default();
        assert_eq!(answer.status, status, "{} ({title}): {method} {tail}: {}", self.file, answer.body);
        answer
    }
}

// ---------------------------------------------------------------------------------------------------------
// The simulator inventories of the examples.

/// An inventory for the examples: the principal, the identity `id1`, one subscription with `locations` and
/// `resources` (YAML lines of its entry, where `{sub}` stands for its ID and `{id1}` for the identity's resource ID),
/// and `behaviour` (YAML lines). Azure's quirks that the examples do not show are off.
pub fn inventory(subscription: &str, locations: &str, resources: &str, behaviour: &str) -> Inventory {
    let id1 = format!(
        "/subscriptions/{subscription}/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
    );
    let resources = resources.replace("{id1}", &id1).replace("{sub}", subscription);
    let quirks = if behaviour.contains("quirks:") { "" } else { "  quirks: { upperCaseResourceGroups: false }\n" };
    Inventory::from_yaml(&format!(
        r#"
servicePrincipals:
  - {{ tenantId: {DEFAULT_TENANT_ID}, clientId: {DEFAULT_CLIENT_ID}, clientSecret: {DEFAULT_CLIENT_SECRET} }}
managedIdentities:
  - {{ clientId: {ID1_CLIENT}, principalId: {ID1_PRINCIPAL}, resourceId: {id1} }}
subscriptions:
  - id: {subscription}
    locations: [{locations}]
{resources}
behaviour:
{quirks}{behaviour}
"#
    ))
    .unwrap_or_else(|e| panic!("the test inventory is valid: {e}"))
}

/// The resources the legacy-action examples name, with nsg1's flow log as the status-query example reports it.
pub fn legacy_inventory(mode: &str) -> Inventory {
    let resources = r#"
    networkWatchers: [{ name: nw1, resourceGroup: rg1, location: westus }]
    storageAccounts: [{ name: st1, resourceGroup: rg1, location: westus }]
    networkSecurityGroups:
      - name: nsg1
        resourceGroup: rg1
        location: westus
        flowLog: { enabled: true, storageAccount: st1, userAssignedIdentities: [{id1}] }
      - { name: nsg2, resourceGroup: rg1, location: westus }"#;
    let behaviour = format!("  lro: {{ mode: {mode}, retryAfterSeconds: 0, inProgressPolls: 2 }}");
    inventory("subid", "westus", resources, &behaviour)
}

/// The resources the flow-log create example names.
pub fn create_inventory(mode: &str) -> Inventory {
    let resources = r#"
    networkWatchers: [{ name: nw1, resourceGroup: rg1, location: centraluseuap }]
    storageAccounts: [{ name: nwtest1mgvbfmqsigdxe, resourceGroup: rg1, location: centraluseuap }]
    networkSecurityGroups: [{ name: desmondcentral-nsg, resourceGroup: rg1, location: centraluseuap }]"#;
    // The example creates an NSG flow log, which Azure blocks since 2025-06-30.
    let behaviour = format!(
        "  lro: {{ mode: {mode}, retryAfterSeconds: 0, inProgressPolls: 1 }}\n  quirks: {{ upperCaseResourceGroups: false, nsgFlowLogCreationBlocked: false }}"
    );
    inventory(ZERO_SUB, "centraluseuap", resources, &behaviour)
}

/// The flow logs the get and list examples name, in `subscription`.
pub fn flow_logs_inventory(subscription: &str) -> Inventory {
    let resources = r#"
    networkWatchers:
      - name: nw1
        resourceGroup: rg1
        location: centraluseuap
        flowLogs:
          - name: flowLog1
            targetResourceId: /subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/vm5-nsg
            enabled: true
            storageAccount: wzstorage002
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: { type: JSON, version: 2 }
            trafficAnalytics: { enabled: false, intervalMinutes: 60 }
            userAssignedIdentities: [{id1}]
          - name: flowLog2
            targetResourceId: /subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/DSCP-test-vm1-nsg
            enabled: true
            storageAccount: iraflowlogtest2diag
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: { type: JSON, version: 2 }
            userAssignedIdentities: [{id1}]
    storageAccounts:
      - { name: wzstorage002, resourceGroup: rg, location: centraluseuap }
      - { name: iraflowlogtest2diag, resourceGroup: rg, location: centraluseuap }
    networkSecurityGroups:
      - { name: vm5-nsg, resourceGroup: rg, location: centraluseuap }
      - { name: DSCP-test-vm1-nsg, resourceGroup: rg, location: centraluseuap }"#;
    inventory(subscription, "centraluseuap", resources, "")
}

/// The flow log the delete example deletes.
pub fn flow_log_delete_inventory() -> Inventory {
    let resources = r#"
    networkWatchers:
      - name: nw1
        resourceGroup: rg1
        location: westus
        flowLogs:
          - { name: fl, targetResourceId: /subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1, enabled: false }
    virtualNetworks: [{ name: vnet1, resourceGroup: rg1, location: westus, addressPrefixes: [10.0.0.0/16] }]"#;
    inventory(ZERO_SUB, "westus", resources, "  lro: { retryAfterSeconds: 0, inProgressPolls: 1 }")
}

/// The flow log whose tags the update-tags example sets.
pub fn flow_log_update_tags_inventory() -> Inventory {
    let resources = r#"
    networkWatchers:
      - name: nw
        resourceGroup: rg1
        location: centralus
        flowLogs:
          - name: fl
            targetResourceId: /subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/desmondcentral-nsg
            enabled: true
            storageAccount: nwtest1mgvbfmqsigdxe
            enabledFilteringCriteria: "srcIP=158.255.7.8 || dstPort=56891"
            recordTypes: "B,E"
            format: { type: JSON, version: 1 }
            userAssignedIdentities: [{id1}]
    storageAccounts: [{ name: nwtest1mgvbfmqsigdxe, resourceGroup: rg1, location: centralus }]
    networkSecurityGroups: [{ name: desmondcentral-nsg, resourceGroup: rg1, location: centralus }]"#;
    inventory(ZERO_SUB, "centralus", resources, "")
}

/// The watchers the network watcher examples read.
pub fn watchers_inventory() -> Inventory {
    let resources = r#"
    networkWatchers:
      - { name: nw1, resourceGroup: rg1, location: eastus }
      - { name: nw2, resourceGroup: rg1, location: westus }"#;
    inventory("subid", "eastus, westus", resources, "")
}

/// The network security group the get example reads.
pub fn nsg_get_inventory() -> Inventory {
    let resources = r#"
    networkSecurityGroups:
      - name: testnsg
        resourceGroup: rg1
        location: westus
        securityRules:
          - { name: rule1, priority: 130, direction: Inbound, access: Allow, destinationPortRange: "80" }"#;
    inventory("subid", "westus", resources, "")
}

/// The network security groups the list examples list: nsg1 in rg1 and nsg3 in `nsg3_group`, of `subscription`.
pub fn nsg_list_inventory(subscription: &str, nsg3_group: &str) -> Inventory {
    let resources = format!(
        r#"
    networkSecurityGroups:
      - {{ name: nsg1, resourceGroup: rg1, location: westus }}
      - {{ name: nsg3, resourceGroup: {nsg3_group}, location: westus }}"#
    );
    inventory(subscription, "westus", &resources, "")
}

/// The virtual network the get example reads.
pub fn vnet_get_inventory() -> Inventory {
    let resources = r#"
    virtualNetworks:
      - name: test-vnet
        resourceGroup: rg1
        location: westus
        addressPrefixes: [10.0.0.0/16]
        subnets: [{ name: subnet1, addressPrefix: 10.0.1.0/24 }]"#;
    inventory("subid", "westus", resources, "")
}

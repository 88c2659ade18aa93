//! The JSON the read operations answer with for the resources of the [`World`]: watchers, NSGs (with their
//! security rules and Azure's default rules), virtual networks, subnets (with the IP configurations of their NICs and
//! scale sets' NICs), NICs, storage accounts, workspaces and subscriptions, shaped as the official examples show
//! them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::guid::{derived_guid, resource_guid};
use super::inventory::STORAGE_TYPE;
use super::world::{NIC_TYPE, NSG_TYPE, VNET_TYPE, WATCHER_TYPE, WORKSPACE_TYPE, World};

impl World {
    pub(super) fn watcher_json(&self, i: usize) -> Value {
        let w = &self.watchers[i];
        json!({
            "name": w.name,
            "id": w.id,
            "etag": etag_of(&w.id),
            "type": WATCHER_TYPE,
            "location": w.location,
            "tags": w.tags,
            "properties": {"provisioningState": "Succeeded"},
        })
    }

    /// `flow_logs`: references to the flow logs of this NSG (their IDs). The subnets and NICs it is attached to are
    /// listed as references (`subnets`, `networkInterfaces`), each only when there is one, as Azure does.
    pub(super) fn nsg_json(&self, i: usize, flow_logs: Vec<String>) -> Value {
        let n = &self.nsgs[i];
        let rules: Vec<Value> = n
            .rules
            .iter()
            .map(|r| {
                rule_json(
                    &n.id,
                    "securityRules",
                    &r.name,
                    &RuleText {
                        description: None,
                        protocol: &r.protocol,
                        source_port_range: &r.source_port_range,
                        destination_port_range: &r.destination_port_range,
                        source_address_prefix: &r.source_address_prefix,
                        destination_address_prefix: &r.destination_address_prefix,
                        access: &r.access,
                        priority: r.priority,
                        direction: &r.direction,
                    },
                )
            })
            .collect();
        let defaults: Vec<Value> = DEFAULT_RULES
            .iter()
            .map(|(name, description, source, destination, access, priority, direction)| {
                rule_json(
                    &n.id,
                    "defaultSecurityRules",
                    name,
                    &RuleText {
                        description: Some(description),
                        protocol: "*",
                        source_port_range: "*",
                        destination_port_range: "*",
                        source_address_prefix: source,
                        destination_address_prefix: destination,
                        access,
                        priority: *priority,
                        direction,
                    },
                )
            })
            .collect();
        let mut properties = json!({
            "provisioningState": "Succeeded",
            "resourceGuid": resource_guid(&n.id),
            "securityRules": rules,
            "defaultSecurityRules": defaults,
        });
        let nics: Vec<Value> = self
            .nics
            .iter()
            .filter(|nic| nic.nsg == Some(i))
            .map(|nic| json!({"id": nic.id}))
            .chain(self.scale_set_nics.iter().filter(|nic| nic.nsg == Some(i)).map(|nic| json!({"id": nic.id})))
            .collect();
        if !nics.is_empty() {
            properties["networkInterfaces"] = json!(nics);
        }
        let subnets: Vec<Value> =
            self.subnets.iter().filter(|s| s.nsg == Some(i)).map(|s| json!({"id": s.id})).collect();
        if !subnets.is_empty() {
            properties["subnets"] = json!(subnets);
        }
        with_flow_logs(&mut properties, flow_logs);
        let nsg =
            json!({"name": n.name, "id": n.id, "type": NSG_TYPE, "location": n.location, "properties": properties});
        with_tags(nsg, &n.tags)
    }

    pub(super) fn vnet_json(&self, i: usize, flow_logs: Vec<String>) -> Value {
        let v = &self.vnets[i];
        let subnets: Vec<Value> = v.subnets.iter().map(|s| self.subnet_json(*s, false)).collect();
        let mut properties = json!({
            "provisioningState": "Succeeded",
            "resourceGuid": resource_guid(&v.id),
            "addressSpace": {"addressPrefixes": v.prefixes},
            "subnets": subnets,
            "virtualNetworkPeerings": [],
        });
        with_flow_logs(&mut properties, flow_logs);
        let vnet =
            json!({"name": v.name, "id": v.id, "type": VNET_TYPE, "location": v.location, "properties": properties});
        with_tags(vnet, &v.tags)
    }

    /// A subnet as `GET .../subnets/{name}` answers it (`typed`) or as embedded in its virtual network.
    pub(super) fn subnet_json(&self, i: usize, typed: bool) -> Value {
        let s = &self.subnets[i];
        let mut properties = json!({"provisioningState": "Succeeded", "addressPrefix": s.prefix});
        let configurations: Vec<Value> = self
            .nics
            .iter()
            .filter(|n| n.subnet == Some(i))
            .map(|n| json!({"id": format!("{}/ipConfigurations/ipconfig1", n.id)}))
            .chain(
                self.scale_set_nics
                    .iter()
                    .filter(|n| n.subnet == i)
                    .map(|n| json!({"id": format!("{}/ipConfigurations/{}", n.id, n.ip_configuration)})),
            )
            .collect();
        if !configurations.is_empty() {
            properties["ipConfigurations"] = json!(configurations);
        }
        if let Some(nsg) = s.nsg {
            properties["networkSecurityGroup"] = json!({"id": self.nsgs[nsg].id});
        }
        let mut subnet = json!({"name": s.name, "id": s.id, "properties": properties});
        if typed {
            subnet["type"] = json!(format!("{VNET_TYPE}/subnets"));
        }
        subnet
    }

    pub(super) fn nic_json(&self, i: usize) -> Value {
        let n = &self.nics[i];
        let mut configuration = json!({
            "provisioningState": "Succeeded",
            "privateIPAllocationMethod": "Dynamic",
            "primary": true,
        });
        if let Some(ip) = &n.private_ip {
            configuration["privateIPAddress"] = json!(ip);
        }
        if let Some(s) = n.subnet {
            configuration["subnet"] = json!({"id": self.subnets[s].id});
        }
        let mut properties = json!({
            "provisioningState": "Succeeded",
            "resourceGuid": resource_guid(&n.id),
            "ipConfigurations": [{
                "name": "ipconfig1",
                "id": format!("{}/ipConfigurations/ipconfig1", n.id),
                "type": format!("{NIC_TYPE}/ipConfigurations"),
                "properties": configuration,
            }],
        });
        if let Some(nsg) = n.nsg {
            properties["networkSecurityGroup"] = json!({"id": self.nsgs[nsg].id});
        }
        let nic =
            json!({"name": n.name, "id": n.id, "type": NIC_TYPE, "location": n.location, "properties": properties});
        with_tags(nic, &n.tags)
    }

    /// A storage account as `GET .../storageAccounts/{name}` answers it (Microsoft.Storage 2023-05-01): a general
    /// purpose v2 account (the kind flow logs need), locally redundant, available in its region.
    pub(super) fn storage_account_json(&self, i: usize) -> Value {
        let s = &self.storage[i];
        let endpoint = |service: &str| match &self.blob_endpoint {
            Some(blob) if service == "blob" => format!("{blob}{}/", s.name),
            _ => format!("https://{}.{service}.core.windows.net/", s.name),
        };
        json!({
            "id": s.id,
            "name": s.name,
            "type": STORAGE_TYPE,
            "location": s.location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "properties": {
                "provisioningState": "Succeeded",
                "primaryLocation": s.location,
                "statusOfPrimary": "available",
                "primaryEndpoints": {
                    "blob": endpoint("blob"),
                    "dfs": endpoint("dfs"),
                    "file": endpoint("file"),
                    "queue": endpoint("queue"),
                    "table": endpoint("table"),
                },
                "accessTier": "Hot",
                "supportsHttpsTrafficOnly": true,
                "minimumTlsVersion": "TLS1_2",
            },
        })
    }

    pub(super) fn workspace_json(&self, i: usize) -> Value {
        let w = &self.workspaces[i];
        json!({
            "id": w.id,
            "name": w.name,
            "type": WORKSPACE_TYPE,
            "location": w.location,
            "properties": {
                "customerId": w.customer_id,
                "provisioningState": "Succeeded",
                "sku": {"name": "PerGB2018"},
                "retentionInDays": 30,
            },
        })
    }

    /// A subscription as `GET /subscriptions` lists it (Subscriptions_List, `subscriptions.json` 2022-12-01): the
    /// policies of a pay-as-you-go subscription in the public cloud, authorized by role.
    pub(super) fn subscription_json(&self, i: usize) -> Value {
        let s = &self.subs[i];
        json!({
            "id": format!("/subscriptions/{}", s.id),
            "subscriptionId": s.id,
            "tenantId": self.tenant,
            "displayName": s.display_name,
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
        })
    }
}

/// `tags` after `location`, only when there are any, as ARM answers.
fn with_tags(mut resource: Value, tags: &BTreeMap<String, String>) -> Value {
    if !tags.is_empty() {
        resource["tags"] = json!(tags);
    }
    resource
}

fn with_flow_logs(properties: &mut Value, flow_logs: Vec<String>) {
    if !flow_logs.is_empty() {
        let refs: Vec<Value> = flow_logs.into_iter().map(|id| json!({"id": id})).collect();
        properties["flowLogs"] = json!(refs);
    }
}

/// A stable weak ETag for a resource that never changes.
fn etag_of(id: &str) -> String {
    format!("W/\"{}\"", derived_guid(&format!("etag:{}", id.to_ascii_lowercase())))
}

struct RuleText<'a> {
    description: Option<&'a str>,
    protocol: &'a str,
    source_port_range: &'a str,
    destination_port_range: &'a str,
    source_address_prefix: &'a str,
    destination_address_prefix: &'a str,
    access: &'a str,
    priority: u32,
    direction: &'a str,
}

fn rule_json(nsg_id: &str, collection: &str, name: &str, r: &RuleText) -> Value {
    let mut properties = json!({
        "provisioningState": "Succeeded",
        "protocol": r.protocol,
        "sourcePortRange": r.source_port_range,
        "destinationPortRange": r.destination_port_range,
        "sourceAddressPrefix": r.source_address_prefix,
        "destinationAddressPrefix": r.destination_address_prefix,
        "access": r.access,
        "priority": r.priority,
        "direction": r.direction,
    });
    if let Some(d) = r.description {
        properties["description"] = json!(d);
    }
    json!({"name": name, "id": format!("{nsg_id}/{collection}/{name}"), "properties": properties})
}

/// Azure's six default rules: name, description, source, destination, access, priority, direction.
type DefaultRule = (&'static str, &'static str, &'static str, &'static str, &'static str, u32, &'static str);
const DEFAULT_RULES: [DefaultRule; 6] = [
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
];

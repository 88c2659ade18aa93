//! The simulator's inventory: which principals, identities, subscriptions and resources exist when it starts (the
//! types here) and how it behaves (`behaviour.rs`). [`Inventory::from_yaml`] reads and validates one
//! (`validate.rs`); the built-in inventory is `builtin.yaml` beside this file. The YAML format is described in the
//! [crate documentation](crate).

mod behaviour;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use behaviour::{Behaviour, BucketLimits, Lro, LroMode, Quirks, Throttling};
use flowlog_wire::model::{FlowLogFormatParameters, RetentionPolicyParameters};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_principals: Vec<ServicePrincipal>,
    /// Identities the IMDS endpoint hands out tokens for; the first is the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_identities: Vec<ManagedIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub behaviour: Behaviour,
}

/// An app registration that may use the client-credentials flow, with a secret, federated credentials or both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    /// Empty: no secret, only federated credentials.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_credentials: Vec<FederatedCredential>,
}

/// Trust in tokens of an external issuer (workload identity federation); the audience is always
/// `api://AzureADTokenExchange`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
}

/// A managed identity: served by IMDS, and echoed with these IDs when a flow log names its `resourceId`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedIdentity {
    pub client_id: String,
    pub principal_id: String,
    /// The ARM ID of a user-assigned identity (`Microsoft.ManagedIdentity/userAssignedIdentities`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    /// Any string ARM accepts as a path segment; the official examples use `subid`.
    pub id: String,
    /// What `GET /subscriptions` answers as `displayName`; defaults to the ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The regions resources of this subscription may live in.
    pub locations: Vec<String>,
    /// Resource providers registered in the subscription; the others are `NotRegistered`.
    #[serde(default = "default_registered_providers")]
    pub registered_providers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_watchers: Vec<InventoryWatcher>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_accounts: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_security_groups: Vec<NetworkSecurityGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_networks: Vec<VirtualNetwork>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
    /// Scale sets, each with one NIC per instance in its subnet (not in the `networkInterfaces` lists, as in Azure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_machine_scale_sets: Vec<VirtualMachineScaleSet>,
    /// Log Analytics workspaces (traffic analytics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<Workspace>,
}

pub const MICROSOFT_NETWORK: &str = "Microsoft.Network";
/// ARM's type of storage accounts.
pub(crate) const STORAGE_TYPE: &str = "Microsoft.Storage/storageAccounts";
pub const MICROSOFT_INSIGHTS: &str = "Microsoft.Insights";

fn default_registered_providers() -> Vec<String> {
    vec![MICROSOFT_NETWORK.into(), MICROSOFT_INSIGHTS.into()]
}

/// A storage account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resource {
    pub name: String,
    pub resource_group: String,
    pub location: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryWatcher {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `flowLogs` resources that already exist (any target); each needs `name` and `targetResourceId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_logs: Vec<InventoryFlowLog>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSecurityGroup {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    /// Shown in GET and list answers when not empty, as ARM does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_rules: Vec<SecurityRule>,
    /// The NSG flow log that already exists, held by the watcher of the NSG's region under the name
    /// `Microsoft.Network{resourceGroup}{name}`; none means new ones cannot be created (retirement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_log: Option<InventoryFlowLog>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityRule {
    pub name: String,
    /// 100..=4096
    pub priority: u32,
    /// `Inbound` or `Outbound`.
    pub direction: String,
    /// `Allow` or `Deny`.
    pub access: String,
    #[serde(default = "any")]
    pub protocol: String,
    #[serde(default = "any")]
    pub source_port_range: String,
    #[serde(default = "any")]
    pub destination_port_range: String,
    #[serde(default = "any")]
    pub source_address_prefix: String,
    #[serde(default = "any")]
    pub destination_address_prefix: String,
}

fn any() -> String {
    "*".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualNetwork {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    /// Shown in GET and list answers when not empty, as ARM does (subnets have none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Subnet>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subnet {
    pub name: String,
    pub address_prefix: String,
    /// Name of the network security group attached to the subnet (same subscription and region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<String>,
    /// Resource group of `networkSecurityGroup`; defaults to the virtual network's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group_resource_group: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkInterface {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    /// Shown in GET and list answers when not empty, as ARM does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubnetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    /// Name of the network security group attached to the NIC (same subscription and region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<String>,
    /// Resource group of `networkSecurityGroup`; defaults to the NIC's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group_resource_group: Option<String>,
}

/// A virtual machine scale set: `instances` VMs, each with one NIC from the scale set's network configuration,
/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}/
/// virtualMachines/{i}/networkInterfaces/{name}-nic` with IP configuration `{name}-ipconfig`. Azure shows these NICs
/// in their subnet's `ipConfigurations` and their NSG's `networkInterfaces`, but not in the `networkInterfaces` lists,
/// and they cannot be flow-log targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualMachineScaleSet {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    /// The subnet every instance's NIC is in (same subscription and region).
    pub subnet: SubnetRef,
    /// Name of the network security group of the NIC configuration (same subscription and region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<String>,
    /// Resource group of `networkSecurityGroup`; defaults to the scale set's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group_resource_group: Option<String>,
    /// How many VMs it runs (0..=1000), numbered from 0.
    pub instances: u32,
}

/// A subnet of a virtual network in the same subscription (and, unless given, the same resource group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetRef {
    pub virtual_network: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workspace {
    /// Unique across the inventory, so that flow logs can name it.
    pub name: String,
    pub resource_group: String,
    pub location: String,
    /// The workspace GUID traffic analytics reports as `workspaceId`.
    pub customer_id: String,
}

/// A flow log that exists when the simulator starts: either an NSG's `flowLog` or one of a watcher's `flowLogs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryFlowLog {
    /// Required in a watcher's `flowLogs`; an NSG's `flowLog` defaults to `Microsoft.Network{rg}{nsg}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ARM ID of an NSG, virtual network, subnet or network interface of the inventory; required in a watcher's
    /// `flowLogs`, not allowed in an NSG's `flowLog` (the target is the NSG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resource_id: Option<String>,
    pub enabled: bool,
    /// Name of a storage account of this inventory (names are globally unique, as in Azure), or the ARM ID of a
    /// storage account, which need not exist (one deleted since the flow log was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicyParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FlowLogFormatParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_filtering_criteria: Option<String>,
    /// Comma list of `B`, `C`, `E`, `D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_types: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_analytics: Option<InventoryTrafficAnalytics>,
    /// ARM IDs of user-assigned identities; reported with the `managedIdentities` entry's IDs, or generated ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_assigned_identities: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryTrafficAnalytics {
    pub enabled: bool,
    /// Name of a workspace of this inventory; required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// 10 or 60.
    #[serde(default = "default_interval")]
    pub interval_minutes: i32,
}

fn default_interval() -> i32 {
    60
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    #[error("cannot parse the inventory: {0}")]
    Parse(String),
    #[error("invalid inventory: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The GUID of the built-in user-assigned identity that flow logs use for storage access.
pub const STORAGE_IDENTITY_CLIENT_ID: &str = "33333333-3333-3333-3333-333333333334";

/// The built-in inventory, compiled in.
const BUILTIN_YAML: &str = include_str!("builtin.yaml");

impl Inventory {
    /// The built-in inventory (`builtin.yaml`; see the crate documentation).
    pub fn builtin() -> Inventory {
        Inventory::from_yaml(BUILTIN_YAML)
            .expect("the built-in inventory (simulator/src/inventory/builtin.yaml) is valid")
    }

    /// Parses and validates an inventory; every problem found is reported, not only the first.
    pub fn from_yaml(text: &str) -> Result<Inventory, InventoryError> {
        let inventory: Inventory = serde_saphyr::from_str(text).map_err(|e| InventoryError::Parse(e.to_string()))?;
        inventory.validate()?;
        Ok(inventory)
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("plain structs always serialize to YAML")
    }
}

/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{type}/{name}` for a top-level resource type.
pub(super) fn arm_id(sub: &str, rg: &str, resource_type: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{resource_type}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ISSUER, DEFAULT_FEDERATED_SUBJECT,
        DEFAULT_MANAGED_IDENTITY_CLIENT_ID, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, SECOND_SUBSCRIPTION_ID,
    };

    #[test]
    fn builtin_yaml_parses_validates_and_round_trips() {
        let builtin = Inventory::from_yaml(BUILTIN_YAML).unwrap_or_else(|e| panic!("builtin.yaml: {e}"));
        assert_eq!(builtin, Inventory::builtin());
        assert_eq!(Inventory::from_yaml(&builtin.to_yaml()).unwrap(), builtin);
    }

    #[test]
    fn builtin_matches_the_crate_constants() {
        let builtin = Inventory::builtin();
        let principal = &builtin.service_principals[0];
        assert_eq!(
            (principal.tenant_id.as_str(), principal.client_id.as_str(), principal.client_secret.as_str()),
            (DEFAULT_TENANT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        );
        assert_eq!(
            principal.federated_credentials,
            [FederatedCredential {
                issuer: DEFAULT_FEDERATED_ISSUER.into(),
                subject: DEFAULT_FEDERATED_SUBJECT.into()
            }]
        );
        let identities: Vec<&str> = builtin.managed_identities.iter().map(|m| m.client_id.as_str()).collect();
        assert_eq!(identities, [DEFAULT_MANAGED_IDENTITY_CLIENT_ID, STORAGE_IDENTITY_CLIENT_ID]);
        let subscriptions: Vec<&str> = builtin.subscriptions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(subscriptions, [DEFAULT_SUBSCRIPTION_ID, SECOND_SUBSCRIPTION_ID]);
        assert_eq!(builtin.subscriptions[0].registered_providers, [MICROSOFT_NETWORK, MICROSOFT_INSIGHTS]);
        assert_eq!(builtin.subscriptions[1].registered_providers, [MICROSOFT_NETWORK]);
        assert_eq!(builtin.behaviour, Behaviour::default());
    }

    #[test]
    fn builtin_round_trips_through_yaml() {
        let builtin = Inventory::builtin();
        builtin.validate().unwrap();
        let yaml = builtin.to_yaml();
        assert!(yaml.contains("networkSecurityGroups:"), "{yaml}");
        assert!(yaml.contains("retryAfterSeconds: 1"), "{yaml}");
        assert!(yaml.contains("upperCaseResourceGroups: true"), "{yaml}");
        assert_eq!(Inventory::from_yaml(&yaml).unwrap(), builtin);
    }

    #[test]
    fn builtin_attaches_nsgs_to_subnets_and_a_nic() {
        let builtin = Inventory::builtin();
        let sub = &builtin.subscriptions[0];
        let attached: Vec<(&str, &str)> = sub
            .virtual_networks
            .iter()
            .flat_map(|v| &v.subnets)
            .filter_map(|s| Some((s.name.as_str(), s.network_security_group.as_deref()?)))
            .chain(
                sub.network_interfaces
                    .iter()
                    .filter_map(|n| Some((n.name.as_str(), n.network_security_group.as_deref()?))),
            )
            .collect();
        assert_eq!(attached, [("web", "new-nsg"), ("app", "batch-nsg"), ("web-vm-nic", "web-nsg")]);
        assert!(builtin.to_yaml().contains("networkSecurityGroup: new-nsg"));
    }

    #[test]
    fn rejects_unknown_fields_and_bad_yaml() {
        assert!(matches!(Inventory::from_yaml("subscriptions: []\nbehavior: {}\n"), Err(InventoryError::Parse(_))));
        assert!(matches!(Inventory::from_yaml("subscriptions: [\n"), Err(InventoryError::Parse(_))));
        assert!(matches!(
            Inventory::from_yaml("behaviour: { quirks: { nope: true } }\n"),
            Err(InventoryError::Parse(_))
        ));
    }
}

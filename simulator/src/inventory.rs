//! The simulator's inventory: which principals, identities, subscriptions and resources exist when it starts,
//! and how it behaves. The YAML format is described in the [module documentation](super).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::defaults::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ISSUER, DEFAULT_FEDERATED_SUBJECT,
    DEFAULT_MANAGED_IDENTITY_CLIENT_ID, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, SECOND_SUBSCRIPTION_ID,
};
use super::faults::FaultRule;
use flowlog_wire::id::ResourceId;
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
    /// Log Analytics workspaces (traffic analytics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<Workspace>,
}

pub const MICROSOFT_NETWORK: &str = "Microsoft.Network";
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSecurityGroup {
    pub name: String,
    pub resource_group: String,
    pub location: String,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualNetwork {
    pub name: String,
    pub resource_group: String,
    pub location: String,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkInterface {
    pub name: String,
    pub resource_group: String,
    pub location: String,
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

/// A subnet of a virtual network in the same subscription (and, unless given, the same resource group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Name of a storage account of this inventory (names are globally unique, as in Azure).
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

const MAX_TOKEN_LIFETIME: u64 = 365 * 86_400;

fn default_interval() -> i32 {
    60
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behaviour {
    pub lro: Lro,
    pub throttling: Throttling,
    /// Fault rules active from the start (the admin API replaces them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
    pub quirks: Quirks,
    /// Items per page of `flowLogs` lists.
    pub page_size: usize,
    /// Lifetime of issued access tokens (Entra ID and IMDS); 0 issues expired tokens.
    pub token_lifetime_seconds: u64,
    /// After `register`, reads of the provider that still answer `Registering`.
    pub provider_registration_reads: u32,
    /// Token audiences ARM accepts (public cloud by default).
    pub arm_audiences: Vec<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            lro: Lro::default(),
            throttling: Throttling::default(),
            faults: vec![],
            quirks: Quirks::default(),
            page_size: 2,
            token_lifetime_seconds: 3599,
            provider_registration_reads: 2,
            arm_audiences: [
                "https://management.core.windows.net/",
                "https://management.core.windows.net",
                "https://management.azure.com/",
                "https://management.azure.com",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lro {
    #[serde(default)]
    pub mode: LroMode,
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u32,
    #[serde(default = "default_in_progress_polls")]
    pub in_progress_polls: u32,
}

impl Default for Lro {
    fn default() -> Self {
        Lro {
            mode: LroMode::Async,
            retry_after_seconds: default_retry_after(),
            in_progress_polls: default_in_progress_polls(),
        }
    }
}

fn default_retry_after() -> u32 {
    1
}

fn default_in_progress_polls() -> u32 {
    1
}

/// `async`: long-running actions answer 202 and are polled; `sync`: they answer 200 at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LroMode {
    #[default]
    Async,
    Sync,
}

/// ARM's token buckets per subscription, principal and kind of request; defaults are ARM's published limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Throttling {
    pub enabled: bool,
    pub reads: BucketLimits,
    pub writes: BucketLimits,
    pub deletes: BucketLimits,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            enabled: true,
            reads: BucketLimits { size: 250, refill_per_second: 25.0 },
            writes: BucketLimits { size: 200, refill_per_second: 10.0 },
            deletes: BucketLimits { size: 200, refill_per_second: 10.0 },
        }
    }
}

impl Throttling {
    pub fn validate(&self) -> Result<(), String> {
        for (kind, bucket) in [("reads", self.reads), ("writes", self.writes), ("deletes", self.deletes)] {
            if bucket.size == 0 || !(bucket.refill_per_second.is_finite() && bucket.refill_per_second > 0.0) {
                return Err(format!("throttling.{kind} needs size ≥ 1 and refillPerSecond > 0"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketLimits {
    pub size: u32,
    pub refill_per_second: f64,
}

/// Behaviour of real Azure that a client must cope with; each can be switched off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Quirks {
    /// `targetResourceId`s and flow-log IDs answer with the resource group upper-cased (`NETWORKWATCHERRG`).
    pub upper_case_resource_groups: bool,
    /// A disabled flow log reports `storageId: ""` and `retentionPolicy: {"days":0,"enabled":false}`.
    pub disabled_flow_log_defaults: bool,
    /// A write to a target while another write to it is in flight: 409 `AnotherOperationInProgress`.
    pub another_operation_in_progress: bool,
    /// No new NSG flow logs (400 `NsgFlowLogCreationBlocked`), as since 2025-06-30.
    pub nsg_flow_log_creation_blocked: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            upper_case_resource_groups: true,
            disabled_flow_log_defaults: true,
            another_operation_in_progress: true,
            nsg_flow_log_creation_blocked: true,
        }
    }
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

impl Inventory {
    /// The default inventory (see the module documentation).
    pub fn builtin() -> Inventory {
        let sub = DEFAULT_SUBSCRIPTION_ID;
        let res = |name: &str, rg: &str, location: &str| Resource {
            name: name.into(),
            resource_group: rg.into(),
            location: location.into(),
        };
        let watcher = |location: &str, flow_logs| InventoryWatcher {
            name: format!("NetworkWatcher_{location}"),
            resource_group: "NetworkWatcherRG".into(),
            location: location.into(),
            tags: BTreeMap::new(),
            flow_logs,
        };
        let nsg = |name: &str, rg: &str, location: &str, flow_log| NetworkSecurityGroup {
            name: name.into(),
            resource_group: rg.into(),
            location: location.into(),
            security_rules: vec![],
            flow_log,
        };
        // Subnets: name, prefix and the attached NSG (in the virtual network's resource group).
        let vnet = |name: &str, rg: &str, location: &str, prefix: &str, subnets: &[(&str, &str, Option<&str>)]| {
            VirtualNetwork {
                name: name.into(),
                resource_group: rg.into(),
                location: location.into(),
                address_prefixes: vec![prefix.into()],
                subnets: subnets
                    .iter()
                    .map(|(name, prefix, nsg)| Subnet {
                        name: (*name).into(),
                        address_prefix: (*prefix).into(),
                        network_security_group: nsg.map(String::from),
                        network_security_group_resource_group: None,
                    })
                    .collect(),
            }
        };
        let workspace = |name: &str, location: &str, customer_id: &str| Workspace {
            name: name.into(),
            resource_group: "logging-rg".into(),
            location: location.into(),
            customer_id: customer_id.into(),
        };
        let json = |version| Some(FlowLogFormatParameters { format_type: Some("JSON".into()), version });
        let storage_identity = format!(
            "/subscriptions/{sub}/resourceGroups/logging-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/flowlog-storage-writer"
        );
        let shared_vnet_flow_log = InventoryFlowLog {
            name: Some("shared-vnet-flowlog".into()),
            target_resource_id: Some(format!(
                "/subscriptions/{sub}/resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet"
            )),
            enabled: true,
            storage_account: Some("flowlogsweu001".into()),
            retention_policy: Some(RetentionPolicyParameters { days: 30, enabled: true }),
            format: json(2),
            traffic_analytics: Some(InventoryTrafficAnalytics {
                enabled: true,
                workspace: Some("flowlogs-law-weu".into()),
                interval_minutes: 60,
            }),
            user_assigned_identities: vec![storage_identity.clone()],
            ..InventoryFlowLog::default()
        };
        Inventory {
            service_principals: vec![ServicePrincipal {
                tenant_id: DEFAULT_TENANT_ID.into(),
                client_id: DEFAULT_CLIENT_ID.into(),
                client_secret: DEFAULT_CLIENT_SECRET.into(),
                federated_credentials: vec![FederatedCredential {
                    issuer: DEFAULT_FEDERATED_ISSUER.into(),
                    subject: DEFAULT_FEDERATED_SUBJECT.into(),
                }],
            }],
            managed_identities: vec![
                ManagedIdentity {
                    client_id: DEFAULT_MANAGED_IDENTITY_CLIENT_ID.into(),
                    principal_id: "44444444-4444-4444-4444-444444444443".into(),
                    resource_id: Some(format!(
                        "/subscriptions/{sub}/resourceGroups/platform-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/flowlog-operator"
                    )),
                },
                ManagedIdentity {
                    client_id: STORAGE_IDENTITY_CLIENT_ID.into(),
                    principal_id: "44444444-4444-4444-4444-444444444444".into(),
                    resource_id: Some(storage_identity),
                },
            ],
            subscriptions: vec![
                Subscription {
                    id: sub.into(),
                    locations: vec!["westeurope".into(), "northeurope".into()],
                    registered_providers: default_registered_providers(),
                    network_watchers: vec![
                        watcher("westeurope", vec![shared_vnet_flow_log]),
                        watcher("northeurope", vec![]),
                    ],
                    storage_accounts: vec![
                        res("flowlogsweu001", "logging-rg", "westeurope"),
                        res("flowlogsneu001", "logging-rg", "northeurope"),
                    ],
                    network_security_groups: vec![
                        nsg(
                            "web-nsg",
                            "app-prod-rg",
                            "westeurope",
                            Some(InventoryFlowLog {
                                enabled: true,
                                storage_account: Some("flowlogsweu001".into()),
                                retention_policy: Some(RetentionPolicyParameters { days: 7, enabled: true }),
                                format: json(2),
                                ..InventoryFlowLog::default()
                            }),
                        ),
                        nsg("db-nsg", "app-prod-rg", "westeurope", Some(InventoryFlowLog::default())),
                        nsg("new-nsg", "app-prod-rg", "westeurope", None),
                        nsg(
                            "web-dr-nsg",
                            "app-dr-rg",
                            "northeurope",
                            Some(InventoryFlowLog {
                                enabled: true,
                                storage_account: Some("flowlogsneu001".into()),
                                retention_policy: Some(RetentionPolicyParameters { days: 0, enabled: false }),
                                format: json(1),
                                ..InventoryFlowLog::default()
                            }),
                        ),
                        nsg("batch-nsg", "app-dr-rg", "northeurope", None),
                    ],
                    virtual_networks: vec![
                        vnet(
                            "app-vnet",
                            "app-prod-rg",
                            "westeurope",
                            "10.1.0.0/16",
                            &[("web", "10.1.1.0/24", Some("new-nsg")), ("db", "10.1.2.0/24", None)],
                        ),
                        vnet(
                            "shared-vnet",
                            "shared-net-rg",
                            "westeurope",
                            "10.2.0.0/16",
                            &[("shared", "10.2.1.0/24", None)],
                        ),
                        vnet(
                            "dr-vnet",
                            "app-dr-rg",
                            "northeurope",
                            "10.3.0.0/16",
                            &[("app", "10.3.1.0/24", Some("batch-nsg"))],
                        ),
                    ],
                    network_interfaces: vec![NetworkInterface {
                        name: "web-vm-nic".into(),
                        resource_group: "app-prod-rg".into(),
                        location: "westeurope".into(),
                        subnet: Some(SubnetRef {
                            virtual_network: "app-vnet".into(),
                            name: "web".into(),
                            resource_group: None,
                        }),
                        private_ip_address: Some("10.1.1.4".into()),
                        network_security_group: Some("web-nsg".into()),
                        network_security_group_resource_group: None,
                    }],
                    workspaces: vec![
                        workspace("flowlogs-law-weu", "westeurope", "55555555-5555-5555-5555-555555555551"),
                        workspace("flowlogs-law-neu", "northeurope", "55555555-5555-5555-5555-555555555552"),
                    ],
                },
                // Microsoft.Insights is not registered here: flow logs cannot be enabled until it is.
                Subscription {
                    id: SECOND_SUBSCRIPTION_ID.into(),
                    locations: vec!["westeurope".into()],
                    registered_providers: vec![MICROSOFT_NETWORK.into()],
                    network_watchers: vec![watcher("westeurope", vec![])],
                    storage_accounts: vec![res("flowlogsweu002", "edge-logging-rg", "westeurope")],
                    network_security_groups: vec![nsg(
                        "edge-nsg",
                        "edge-rg",
                        "westeurope",
                        Some(InventoryFlowLog::default()),
                    )],
                    virtual_networks: vec![],
                    network_interfaces: vec![],
                    workspaces: vec![],
                },
            ],
            behaviour: Behaviour::default(),
        }
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

    pub fn validate(&self) -> Result<(), InventoryError> {
        let mut v = Validator { inventory: self, problems: Vec::new(), seen: Seen::default() };
        v.principals();
        for sub in &self.subscriptions {
            v.subscription(sub);
        }
        v.flow_logs();
        v.behaviour(&self.behaviour);
        if v.problems.is_empty() { Ok(()) } else { Err(InventoryError::Invalid(v.problems)) }
    }
}

struct Validator<'a> {
    inventory: &'a Inventory,
    problems: Vec<String>,
    seen: Seen,
}

/// A flow-log target of the inventory: ID and location.
struct TargetInfo {
    id: String,
    location: String,
    nsg: bool,
}

impl Validator<'_> {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    fn principals(&mut self) {
        for sp in &self.inventory.service_principals {
            self.segment("service principal tenantId", &sp.tenant_id);
            self.segment("service principal clientId", &sp.client_id);
            if sp.client_secret.is_empty() && sp.federated_credentials.is_empty() {
                self.problem(format!(
                    "service principal {} has neither a clientSecret nor federatedCredentials",
                    sp.client_id
                ));
            }
            for fc in &sp.federated_credentials {
                if fc.issuer.is_empty() || fc.subject.is_empty() {
                    self.problem(format!(
                        "a federated credential of service principal {} lacks issuer or subject",
                        sp.client_id
                    ));
                }
            }
            self.seen.once(&mut self.problems, "service principal", format!("{}/{}", sp.tenant_id, sp.client_id));
        }
        for mi in &self.inventory.managed_identities {
            for (what, value) in [("clientId", &mi.client_id), ("principalId", &mi.principal_id)] {
                if uuid::Uuid::parse_str(value).is_err() {
                    self.problem(format!("managed identity {what} {value:?} is not a GUID"));
                }
            }
            self.seen.once(&mut self.problems, "managed identity clientId", mi.client_id.clone());
            if let Some(id) = &mi.resource_id {
                match ResourceId::parse(id) {
                    Ok(id) if id.is_type("Microsoft.ManagedIdentity/userAssignedIdentities") => {
                        self.seen.once(&mut self.problems, "managed identity resourceId", id.key());
                    }
                    _ => self.problem(format!(
                        "managed identity resourceId {id:?} is not the ID of a user-assigned identity \
                         (.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/{{name}})"
                    )),
                }
            }
        }
    }

    fn subscription(&mut self, sub: &Subscription) {
        self.segment("subscription id", &sub.id);
        self.seen.once(&mut self.problems, "subscription", sub.id.clone());
        if sub.locations.is_empty() {
            self.problem(format!("subscription {} lists no locations", sub.id));
        }
        for p in &sub.registered_providers {
            self.segment(&format!("registered provider of subscription {}", sub.id), p);
        }
        for w in &sub.network_watchers {
            self.grouped_resource(sub, "network watcher", &w.name, &w.resource_group, &w.location);
            // Azure allows one watcher per subscription and region (NetworkWatcherCountLimitReached).
            self.seen.once(&mut self.problems, "network watcher in location", format!("{}/{}", sub.id, w.location));
        }
        for s in &sub.storage_accounts {
            self.resource(sub, "storage account", &s.name, &s.resource_group, &s.location);
            self.seen.once(&mut self.problems, "storage account", s.name.clone());
        }
        for n in &sub.network_security_groups {
            self.grouped_resource(sub, "network security group", &n.name, &n.resource_group, &n.location);
            let mut rules = Seen::default();
            for r in &n.security_rules {
                self.segment(&format!("security rule name of {}", n.name), &r.name);
                rules.once(&mut self.problems, &format!("security rule of {}", n.name), r.name.clone());
                if !(100..=4096).contains(&r.priority) {
                    self.problem(format!(
                        "security rule {} of {} has priority {} outside 100..=4096",
                        r.name, n.name, r.priority
                    ));
                }
                if !matches!(r.direction.as_str(), "Inbound" | "Outbound")
                    || !matches!(r.access.as_str(), "Allow" | "Deny")
                {
                    self.problem(format!(
                        "security rule {} of {} needs direction Inbound|Outbound and access Allow|Deny",
                        r.name, n.name
                    ));
                }
            }
        }
        for v in &sub.virtual_networks {
            self.grouped_resource(sub, "virtual network", &v.name, &v.resource_group, &v.location);
            for prefix in &v.address_prefixes {
                self.prefix(&format!("address prefix of virtual network {}", v.name), prefix);
            }
            let mut subnets = Seen::default();
            for s in &v.subnets {
                self.segment(&format!("subnet name in virtual network {}", v.name), &s.name);
                subnets.once(&mut self.problems, &format!("subnet of {}", v.name), s.name.clone());
                self.prefix(&format!("address prefix of subnet {}/{}", v.name, s.name), &s.address_prefix);
                self.nsg_reference(
                    sub,
                    &format!("subnet {} of virtual network {}", s.name, v.name),
                    &v.location,
                    (s.network_security_group.as_deref(), s.network_security_group_resource_group.as_deref()),
                    &v.resource_group,
                );
            }
        }
        for nic in &sub.network_interfaces {
            self.grouped_resource(sub, "network interface", &nic.name, &nic.resource_group, &nic.location);
            if let Some(r) = &nic.subnet {
                let rg = r.resource_group.as_deref().unwrap_or(&nic.resource_group);
                let vnet = sub.virtual_networks.iter().find(|v| {
                    v.name.eq_ignore_ascii_case(&r.virtual_network) && v.resource_group.eq_ignore_ascii_case(rg)
                });
                match vnet {
                    Some(v) if v.subnets.iter().any(|s| s.name.eq_ignore_ascii_case(&r.name)) => {
                        if !v.location.eq_ignore_ascii_case(&nic.location) {
                            self.problem(format!(
                                "network interface {} is in {}, but its virtual network {} is in {}",
                                nic.name, nic.location, v.name, v.location
                            ));
                        }
                    }
                    _ => self.problem(format!(
                        "network interface {} refers to unknown subnet {}/{} in resource group {rg}",
                        nic.name, r.virtual_network, r.name
                    )),
                }
            }
            if let Some(ip) = &nic.private_ip_address
                && ip.parse::<IpAddr>().is_err()
            {
                self.problem(format!("network interface {} has privateIpAddress {ip:?}, not an IP address", nic.name));
            }
            self.nsg_reference(
                sub,
                &format!("network interface {}", nic.name),
                &nic.location,
                (nic.network_security_group.as_deref(), nic.network_security_group_resource_group.as_deref()),
                &nic.resource_group,
            );
        }
        for w in &sub.workspaces {
            self.resource(sub, "workspace", &w.name, &w.resource_group, &w.location);
            self.seen.once(&mut self.problems, "workspace", w.name.clone());
            if uuid::Uuid::parse_str(&w.customer_id).is_err() {
                self.problem(format!("workspace {} has customerId {:?}, not a GUID", w.name, w.customer_id));
            }
        }
    }

    /// The network security group a subnet or NIC (`what`, in `location`) is attached to: `(name, resource group)`,
    /// the group defaulting to `default_rg`. Azure requires it in the same subscription and region.
    fn nsg_reference(
        &mut self,
        sub: &Subscription,
        what: &str,
        location: &str,
        (name, rg): (Option<&str>, Option<&str>),
        default_rg: &str,
    ) {
        let Some(name) = name else {
            if rg.is_some() {
                self.problem(format!("{what} has a networkSecurityGroupResourceGroup but no networkSecurityGroup"));
            }
            return;
        };
        let rg = rg.unwrap_or(default_rg);
        let nsg = sub
            .network_security_groups
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(name) && n.resource_group.eq_ignore_ascii_case(rg));
        match nsg {
            None => self.problem(format!(
                "{what} refers to unknown network security group {name:?} in resource group {rg:?} of subscription {}",
                sub.id
            )),
            Some(n) if !n.location.eq_ignore_ascii_case(location) => self.problem(format!(
                "{what} is in {location}, but its network security group {} is in {}",
                n.name, n.location
            )),
            Some(_) => {}
        }
    }

    /// Every flow log, NSG `flowLog`s and watcher `flowLogs` alike: references, regions, one per target.
    fn flow_logs(&mut self) {
        let mut per_target = Seen::default();
        for sub in &self.inventory.subscriptions {
            for n in &sub.network_security_groups {
                let Some(fl) = &n.flow_log else { continue };
                let at = format!("flow log of network security group {}", n.name);
                if fl.target_resource_id.is_some() {
                    self.problem(format!("{at}: targetResourceId is not allowed here (the target is the NSG)"));
                }
                if !sub.network_watchers.iter().any(|w| w.location.eq_ignore_ascii_case(&n.location)) {
                    self.problem(format!(
                        "{at}: subscription {} has no network watcher in {} to hold it",
                        sub.id, n.location
                    ));
                }
                let id = arm_id(&sub.id, &n.resource_group, "Microsoft.Network/networkSecurityGroups", &n.name);
                per_target.once(&mut self.problems, "flow log for target", id);
                self.flow_log_settings(&at, fl, &n.location);
            }
            for w in &sub.network_watchers {
                let mut names = Seen::default();
                for fl in &w.flow_logs {
                    let at = format!("flow log {} of network watcher {}", fl.name.as_deref().unwrap_or("?"), w.name);
                    match &fl.name {
                        Some(name) => {
                            self.segment(&format!("name of {at}"), name);
                            names.once(
                                &mut self.problems,
                                &format!("flow log of network watcher {}", w.name),
                                name.clone(),
                            );
                        }
                        None => self.problem(format!("{at}: name is required")),
                    }
                    match fl.target_resource_id.as_deref().map(|t| (t, self.target(t))) {
                        None => self.problem(format!("{at}: targetResourceId is required")),
                        Some((t, None)) => self.problem(format!(
                            "{at}: targetResourceId {t:?} is not a network security group, virtual network, subnet or \
                             network interface of the inventory"
                        )),
                        Some((_, Some(target))) => {
                            if !target.location.eq_ignore_ascii_case(&w.location) {
                                self.problem(format!(
                                    "{at}: the target is in {}, but the watcher is in {}",
                                    target.location, w.location
                                ));
                            }
                            if target.nsg
                                && self
                                    .inventory
                                    .subscriptions
                                    .iter()
                                    .flat_map(|s| {
                                        s.network_security_groups.iter().filter(|n| n.flow_log.is_some()).map(|n| {
                                            arm_id(
                                                &s.id,
                                                &n.resource_group,
                                                "Microsoft.Network/networkSecurityGroups",
                                                &n.name,
                                            )
                                        })
                                    })
                                    .any(|id| id.eq_ignore_ascii_case(&target.id))
                            {
                                self.problem(format!("{at}: its NSG already has a flowLog"));
                            } else {
                                per_target.once(&mut self.problems, "flow log for target", target.id.clone());
                            }
                        }
                    }
                    self.flow_log_settings(&at, fl, &w.location);
                }
            }
        }
    }

    fn flow_log_settings(&mut self, at: &str, fl: &InventoryFlowLog, location: &str) {
        let inventory = self.inventory;
        match &fl.storage_account {
            None if fl.enabled => self.problem(format!("{at} is enabled but names no storageAccount")),
            None => {}
            Some(name) => {
                let mut storage = inventory.subscriptions.iter().flat_map(|s| &s.storage_accounts);
                let found = storage.find(|s| s.name.eq_ignore_ascii_case(name)).map(|s| s.location.as_str());
                self.named_reference(at, "storage account", name, found, location);
            }
        }
        if let Some(why) = fl.retention_policy.as_ref().and_then(super::rules::retention_problem) {
            self.problem(format!("{at}: {why}"));
        }
        if let Some(why) = fl.format.as_ref().and_then(super::rules::format_problem) {
            self.problem(format!("{at}: {why}"));
        }
        if let Some(why) = fl.record_types.as_deref().and_then(super::rules::record_types_problem) {
            self.problem(format!("{at}: {why}"));
        }
        if let Some(ta) = &fl.traffic_analytics {
            if !matches!(ta.interval_minutes, 10 | 60) {
                self.problem(format!("{at}: traffic analytics intervalMinutes must be 10 or 60"));
            }
            match &ta.workspace {
                None if ta.enabled => {
                    self.problem(format!("{at}: traffic analytics is enabled but names no workspace"))
                }
                None => {}
                Some(name) => {
                    let mut workspaces = inventory.subscriptions.iter().flat_map(|s| &s.workspaces);
                    let found = workspaces.find(|w| w.name.eq_ignore_ascii_case(name)).map(|w| w.location.as_str());
                    self.named_reference(at, "workspace", name, found, location);
                }
            }
        }
        for id in &fl.user_assigned_identities {
            if ResourceId::parse(id).is_err() {
                self.problem(format!("{at}: {id:?} is not an ARM resource ID"));
            }
        }
    }

    /// A flow log's reference by name to a storage account or workspace (`kind`), `found` in the inventory at that
    /// location: it must exist, in the target's `location`.
    fn named_reference(&mut self, at: &str, kind: &str, name: &str, found: Option<&str>, location: &str) {
        match found {
            None => self.problem(format!("{at} refers to unknown {kind} {name:?}")),
            Some(l) if !l.eq_ignore_ascii_case(location) => {
                self.problem(format!("{at} uses {kind} {name} in {l}, but the target is in {location}"))
            }
            Some(_) => {}
        }
    }

    fn target(&self, id: &str) -> Option<TargetInfo> {
        let mut found = None;
        for sub in &self.inventory.subscriptions {
            let mut check = |rid: String, location: &str, nsg: bool| {
                if rid.eq_ignore_ascii_case(id) {
                    found = Some(TargetInfo { id: rid, location: location.to_string(), nsg });
                }
            };
            for n in &sub.network_security_groups {
                check(
                    arm_id(&sub.id, &n.resource_group, "Microsoft.Network/networkSecurityGroups", &n.name),
                    &n.location,
                    true,
                );
            }
            for v in &sub.virtual_networks {
                let vnet_id = arm_id(&sub.id, &v.resource_group, "Microsoft.Network/virtualNetworks", &v.name);
                for s in &v.subnets {
                    check(format!("{vnet_id}/subnets/{}", s.name), &v.location, false);
                }
                check(vnet_id, &v.location, false);
            }
            for nic in &sub.network_interfaces {
                check(
                    arm_id(&sub.id, &nic.resource_group, "Microsoft.Network/networkInterfaces", &nic.name),
                    &nic.location,
                    false,
                );
            }
        }
        found
    }

    fn behaviour(&mut self, b: &Behaviour) {
        if let Err(why) = b.throttling.validate() {
            self.problem(why);
        }
        if b.token_lifetime_seconds > MAX_TOKEN_LIFETIME {
            self.problem(format!("tokenLifetimeSeconds must be at most {MAX_TOKEN_LIFETIME} (one year)"));
        }
        if b.page_size == 0 {
            self.problem("pageSize must be at least 1".into());
        }
        if b.arm_audiences.is_empty() {
            self.problem("armAudiences lists no audience".into());
        }
        for (i, rule) in b.faults.iter().enumerate() {
            if let Err(why) = rule.validate() {
                self.problem(format!("fault {}: {why}", i + 1));
            }
        }
    }

    /// A resource whose name is unique within its resource group (most kinds; storage accounts and workspaces are
    /// named uniquely across the inventory).
    fn grouped_resource(&mut self, sub: &Subscription, kind: &str, name: &str, rg: &str, location: &str) {
        self.resource(sub, kind, name, rg, location);
        self.seen.once(&mut self.problems, kind, format!("{}/{rg}/{name}", sub.id));
    }

    fn resource(&mut self, sub: &Subscription, kind: &str, name: &str, rg: &str, location: &str) {
        self.segment(&format!("{kind} name"), name);
        self.segment(&format!("resource group of {kind} {name}"), rg);
        if !sub.locations.iter().any(|l| l.eq_ignore_ascii_case(location)) {
            self.problem(format!(
                "{kind} {name} is in location {location:?}, which subscription {} does not list",
                sub.id
            ));
        }
    }

    /// A name must be usable as one segment of an ARM ID.
    fn segment(&mut self, what: &str, value: &str) {
        if value.is_empty() || value.contains(['/', '?', '#']) || value.chars().any(char::is_whitespace) {
            self.problem(format!("{what} {value:?} is not a valid ARM ID segment"));
        }
    }

    fn prefix(&mut self, what: &str, value: &str) {
        let valid = value.split_once('/').is_some_and(|(ip, len)| match (ip.parse::<IpAddr>(), len.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(len)) => len <= 32,
            (Ok(IpAddr::V6(_)), Ok(len)) => len <= 128,
            _ => false,
        });
        if !valid {
            self.problem(format!("{what} {value:?} is not a CIDR prefix"));
        }
    }
}

/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{type}/{name}` for a top-level resource type.
pub(super) fn arm_id(sub: &str, rg: &str, resource_type: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{resource_type}/{name}")
}

/// Detects duplicates, comparing case-insensitively as ARM does.
#[derive(Default)]
struct Seen(std::collections::HashSet<String>);

impl Seen {
    fn once(&mut self, problems: &mut Vec<String>, kind: &str, key: String) {
        if !self.0.insert(format!("{kind}:{}", key.to_ascii_lowercase())) {
            problems.push(format!("duplicate {kind} {key}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn defaults_apply_to_a_minimal_inventory() {
        let inv = Inventory::from_yaml("subscriptions:\n  - id: subid\n    locations: [westus]\n").unwrap();
        assert_eq!(inv.behaviour.lro, Lro { mode: LroMode::Async, retry_after_seconds: 1, in_progress_polls: 1 });
        assert_eq!(inv.behaviour, Behaviour::default());
        assert_eq!(inv.behaviour.throttling.reads, BucketLimits { size: 250, refill_per_second: 25.0 });
        assert_eq!(inv.behaviour.page_size, 2);
        assert!(inv.behaviour.quirks.nsg_flow_log_creation_blocked);
        assert_eq!(inv.subscriptions[0].registered_providers, ["Microsoft.Network", "Microsoft.Insights"]);
        assert!(inv.service_principals.is_empty());
    }

    #[test]
    fn partial_behaviour_keeps_the_other_defaults() {
        let yaml = "behaviour:\n  throttling:\n    reads: { size: 2, refillPerSecond: 0.5 }\n  quirks:\n    upperCaseResourceGroups: false\n";
        let inv = Inventory::from_yaml(yaml).unwrap();
        assert_eq!(inv.behaviour.throttling.reads, BucketLimits { size: 2, refill_per_second: 0.5 });
        assert_eq!(inv.behaviour.throttling.writes, Throttling::default().writes);
        assert!(!inv.behaviour.quirks.upper_case_resource_groups);
        assert!(inv.behaviour.quirks.disabled_flow_log_defaults);
    }

    #[test]
    fn reports_every_problem() {
        let yaml = r#"
servicePrincipals:
  - { tenantId: t, clientId: c }
managedIdentities:
  - { clientId: not-a-guid, principalId: 44444444-4444-4444-4444-444444444444, resourceId: /subscriptions/s1 }
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkWatchers:
      - { name: nw1, resourceGroup: rg, location: westeurope }
      - { name: NW1, resourceGroup: RG, location: westeurope }
      - name: nw2
        resourceGroup: rg
        location: northeurope
        flowLogs:
          - { name: a, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1, enabled: false }
          - { name: b, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/nope, enabled: false }
          - { targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v2, enabled: false, recordTypes: "B,X" }
          - name: c
            targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v2/subnets/s1
            enabled: false
            trafficAnalytics: { enabled: true, intervalMinutes: 30 }
    storageAccounts:
      - { name: st1, resourceGroup: rg, location: northeurope }
    networkSecurityGroups:
      - name: nsg1
        resourceGroup: rg
        location: westeurope
        flowLog: { enabled: true, storageAccount: missing }
        securityRules:
          - { name: r1, priority: 50, direction: Sideways, access: Allow }
      - name: nsg2
        resourceGroup: rg
        location: eastus
        flowLog: { enabled: true, storageAccount: st1 }
      - name: "bad/name"
        resourceGroup: rg
        location: westeurope
        flowLog: { enabled: true, retentionPolicy: { days: 400, enabled: true }, format: { type: CSV, version: 1 } }
    virtualNetworks:
      - { name: v1, resourceGroup: rg, location: westeurope, addressPrefixes: [10.0.0.0/33] }
      - name: v2
        resourceGroup: rg
        location: northeurope
        subnets: [{ name: s1, addressPrefix: 10.0.1.0/24 }, { name: S1, addressPrefix: x }]
    networkInterfaces:
      - { name: nic1, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v2, name: nope }, privateIpAddress: 10.0.0.300 }
    workspaces:
      - { name: law, resourceGroup: rg, location: westeurope, customerId: nope }
behaviour:
  pageSize: 0
  tokenLifetimeSeconds: 99999999999
  throttling: { reads: { size: 0, refillPerSecond: 1 } }
  faults:
    - { operation: nope, effect: drop }
"#;
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "service principal c has neither a clientSecret nor federatedCredentials",
            "managed identity clientId \"not-a-guid\" is not a GUID",
            "is not the ID of a user-assigned identity",
            "duplicate network watcher s1/RG/NW1",
            "duplicate network watcher in location",
            "network security group nsg2 is in location \"eastus\", which subscription s1 does not list",
            "uses storage account st1 in northeurope, but the target is in eastus",
            "unknown storage account \"missing\"",
            "network security group name \"bad/name\" is not a valid ARM ID segment",
            "is enabled but names no storageAccount",
            "Retention policy days must be between 0 and 365; got 400",
            "format type 'CSV' is not supported",
            "security rule r1 of nsg1 has priority 50",
            "needs direction Inbound|Outbound",
            "flow log a of network watcher nw2: the target is in westeurope, but the watcher is in northeurope",
            "virtualNetworks/nope\" is not a network security group, virtual network, subnet or network interface",
            "flow log ? of network watcher nw2: name is required",
            "Record types 'B,X' are not supported",
            "traffic analytics intervalMinutes must be 10 or 60",
            "traffic analytics is enabled but names no workspace",
            "address prefix of virtual network v1 \"10.0.0.0/33\" is not a CIDR prefix",
            "duplicate subnet of v2 S1",
            "network interface nic1 refers to unknown subnet v2/nope",
            "not an IP address",
            "workspace law has customerId \"nope\", not a GUID",
            "pageSize must be at least 1",
            "tokenLifetimeSeconds must be at most 31536000",
            "throttling.reads needs size ≥ 1",
            "fault 1: unknown operation \"nope\"",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn one_flow_log_per_target_and_nsg_flow_logs_need_a_watcher() {
        let nsg = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1";
        let yaml = format!(
            r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkWatchers:
      - name: nw1
        resourceGroup: rg
        location: westeurope
        flowLogs:
          - {{ name: a, targetResourceId: {nsg}, enabled: false }}
          - {{ name: b, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg2, enabled: false }}
          - {{ name: B, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg3, enabled: false }}
          - {{ name: c, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/NSG3, enabled: false }}
    networkSecurityGroups:
      - {{ name: nsg1, resourceGroup: rg, location: westeurope, flowLog: {{ enabled: false }} }}
      - {{ name: nsg2, resourceGroup: rg, location: westeurope }}
      - {{ name: nsg3, resourceGroup: rg, location: westeurope }}
      - {{ name: nsg4, resourceGroup: rg, location: northeurope, flowLog: {{ enabled: false }} }}
"#
        );
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(&yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "flow log a of network watcher nw1: its NSG already has a flowLog",
            "duplicate flow log of network watcher nw1 B",
            "duplicate flow log for target /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg3",
            "flow log of network security group nsg4: subscription s1 has no network watcher in northeurope",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert!(!all.contains("nsg2"), "{all}");
    }

    #[test]
    fn nsg_associations_must_name_an_nsg_of_the_subscription_and_region() {
        let yaml = r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkSecurityGroups:
      - { name: nsg1, resourceGroup: rg, location: westeurope }
      - { name: nsg2, resourceGroup: other-rg, location: westeurope }
      - { name: nsg3, resourceGroup: rg, location: northeurope }
    virtualNetworks:
      - name: v1
        resourceGroup: rg
        location: westeurope
        subnets:
          - { name: ok, addressPrefix: 10.0.1.0/24, networkSecurityGroup: NSG1 }
          - { name: other-group, addressPrefix: 10.0.2.0/24, networkSecurityGroup: nsg2,
              networkSecurityGroupResourceGroup: other-rg }
          - { name: unknown, addressPrefix: 10.0.3.0/24, networkSecurityGroup: nope }
          - { name: wrong-group, addressPrefix: 10.0.4.0/24, networkSecurityGroup: nsg2 }
          - { name: wrong-region, addressPrefix: 10.0.5.0/24, networkSecurityGroup: nsg3 }
          - { name: group-only, addressPrefix: 10.0.6.0/24, networkSecurityGroupResourceGroup: rg }
    networkInterfaces:
      - { name: nic-ok, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg1 }
      - { name: nic-unknown, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg9 }
      - { name: nic-far, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg3 }
      - { name: nic-other-sub, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg4 }
  - id: s2
    locations: [westeurope]
    networkSecurityGroups:
      - { name: nsg4, resourceGroup: rg, location: westeurope }
"#;
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "subnet unknown of virtual network v1 refers to unknown network security group \"nope\" in resource group \"rg\" of subscription s1",
            "subnet wrong-group of virtual network v1 refers to unknown network security group \"nsg2\" in resource group \"rg\"",
            "subnet wrong-region of virtual network v1 is in westeurope, but its network security group nsg3 is in northeurope",
            "subnet group-only of virtual network v1 has a networkSecurityGroupResourceGroup but no networkSecurityGroup",
            "network interface nic-unknown refers to unknown network security group \"nsg9\"",
            "network interface nic-far is in westeurope, but its network security group nsg3 is in northeurope",
            "network interface nic-other-sub refers to unknown network security group \"nsg4\" in resource group \"rg\" of subscription s1",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 7, "{all}");
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

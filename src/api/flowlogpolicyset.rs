//! `FlowLogPolicySet`: every target a selector finds in Azure gets a generated `FlowLogPolicy`, with the storage
//! account (and traffic-analytics workspace) of its region.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::flowlogpolicy::{default_interval, default_ta_interval, duration_schema, ta_interval_schema};
use super::{DeletionPolicy, FlowLogFormat, FlowLogIdentity, Mode, RetentionPolicy, SecretRef};

/// Desired flow logs of every Azure target a selector finds.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    doc = "FlowLogPolicySet declares the flow logs of every Azure target its selector finds (for example every virtual network of some subscriptions). The operator discovers the targets through ARM's list APIs every interval and keeps one generated FlowLogPolicy per target; status counts the targets by state and names those that are not compliant.",
    group = "flowlog.dev",
    version = "v1alpha1",
    kind = "FlowLogPolicySet",
    plural = "flowlogpolicysets",
    shortname = "flps",
    namespaced,
    status = "FlowLogPolicySetStatus",
    validation = Rule::new("size(self.metadata.name) <= 63").message("a FlowLogPolicySet's name has at most 63 characters: it is the value of its policies' flowlog.dev/set label"),
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.selector.kind"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.template.mode"}"#,
    printcolumn = r#"{"name":"Targets","type":"integer","jsonPath":".status.targets"}"#,
    printcolumn = r#"{"name":"Compliant","type":"integer","jsonPath":".status.compliant"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("size(self.destinations) > 0").message("destinations must name the storage account of at least one region"))]
#[serde(rename_all = "camelCase")]
pub struct FlowLogPolicySetSpec {
    /// Which Azure resources the set covers.
    pub selector: TargetSelector,
    /// Where the flow logs of each region go: a flow log's storage account (and traffic-analytics workspace) must be
    /// in its target's region. A selected target in a region not listed here gets no policy and is reported
    /// (`NoStorageForRegion`), never given another region's account.
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["region"]))]
    pub destinations: Vec<RegionDestination>,
    /// The policies generated for the targets.
    pub template: PolicyTemplate,
    /// Azure credentials for discovery and for the generated policies: a Secret in the set's namespace, as a
    /// FlowLogPolicy's `credentialsRef`. Omitted: the operator's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<SecretRef>,
    /// How often the operator lists Azure again to find new and removed targets, as a Go duration (for example
    /// `10m`, `1h`). At least `1m`.
    #[serde(default = "default_interval")]
    #[schemars(schema_with = "discovery_interval_schema")]
    pub discovery_interval: String,
    /// Protection against a discovery that suddenly finds far fewer targets (lost permissions, an API outage, a wrong
    /// selector edit): no policy is pruned, and the set is `Stalled` with reason `PruneBlocked`, until a person
    /// confirms.
    #[serde(default)]
    pub pruning: Pruning,
}

fn discovery_interval_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(
        "How often the operator lists Azure again to find new and removed targets, as a Go duration (for example `10m`, `1h`). At least `1m`.",
        "1m",
        "discoveryInterval must be a duration of at least 1m, such as 10m or 1h",
    )
}

/// Which Azure resources a set covers. Every condition given must hold; a target matching any exclusion is left
/// out (and counted as excluded).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.allSubscriptions != (size(self.subscriptions) > 0)").message("selector needs either subscriptions (a list of subscription IDs) or allSubscriptions: true, not both"))]
pub struct TargetSelector {
    /// Subscription IDs (GUIDs) to search.
    #[serde(default)]
    #[schemars(length(max = 256), inner(length(max = 36)))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'))").message("subscriptions must be subscription IDs (GUIDs)"))]
    pub subscriptions: Vec<String>,
    /// Search every subscription the credentials can see (ARM's subscription list), instead of a list.
    #[serde(default)]
    pub all_subscriptions: bool,
    /// The kind of target: `VirtualNetwork`, `Subnet` or `NetworkInterface` (VNet flow logs), or
    /// `NetworkSecurityGroup` — only to adopt NSG flow logs that exist (Azure no longer creates them), so an NSG
    /// without one is not selected.
    pub kind: TargetKind,
    /// Regions to cover, for example `westeurope` (compared ignoring case and spaces). Empty: every region.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    #[x_kube(validation = Rule::new("self.all(r, r.matches('^[A-Za-z0-9 ]{2,64}$'))").message("regions must be Azure region names, such as westeurope"))]
    pub regions: Vec<String>,
    /// Resource groups to cover (compared ignoring case). Empty: every resource group.
    #[serde(default)]
    #[schemars(length(max = 256), inner(length(min = 1, max = 90)))]
    pub resource_groups: Vec<String>,
    /// Tags a target must carry, all of them, with these values (a subnet is matched by its virtual network's
    /// tags, since subnets have none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub match_tags: BTreeMap<String, String>,
    /// Tags that exclude a target: one of them, with this value, is enough (for example `flowlogs: exempt`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub exclude_tags: BTreeMap<String, String>,
    /// ARM IDs of targets to leave out (compared as ARM IDs are, ignoring case).
    #[serde(default)]
    #[schemars(length(max = 256), inner(length(max = 512)))]
    #[x_kube(validation = Rule::new("self.all(i, i.startsWith('/subscriptions/'))").message("excludeIds must be ARM resource IDs (/subscriptions/...)"))]
    pub exclude_ids: Vec<String>,
}

/// The kind of target a set covers.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// Virtual networks (one VNet flow log each).
    VirtualNetwork,
    /// The subnets of the virtual networks found (one VNet flow log each).
    Subnet,
    /// Network interfaces (one VNet flow log each).
    NetworkInterface,
    /// Network security groups that already have a flow log (adopted; Azure no longer creates NSG flow logs).
    NetworkSecurityGroup,
}

/// Where the flow logs of one region go.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegionDestination {
    /// The region, for example `westeurope` (compared ignoring case and spaces).
    #[schemars(length(min = 2, max = 64))]
    pub region: String,
    /// ARM ID of the storage account, in this region, that receives the region's flow logs.
    #[x_kube(validation = Rule::new(concat!("self.matches('", arm_prefix!(), r"Microsoft\\.Storage/storageAccounts/[a-z0-9]{3,24}$')"))
        .message("storageId must be the ARM ID of a storage account: /subscriptions/<subscription GUID>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<3-24 lower-case letters and digits>"))]
    #[schemars(length(max = 512))]
    pub storage_id: String,
    /// The Log Analytics workspace, in this region, for traffic analytics (needed when the template enables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<RegionWorkspace>,
}

/// A region's Log Analytics workspace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegionWorkspace {
    /// ARM ID of the workspace.
    #[x_kube(validation = Rule::new(concat!("self.matches('", arm_prefix!(), r"Microsoft\\.OperationalInsights/workspaces/[^/]{4,63}$')"))
        .message("workspaceResourceId must be the ARM ID of a Log Analytics workspace"))]
    #[schemars(length(max = 512))]
    pub workspace_resource_id: String,
    /// The workspace's ID (a GUID, "customer ID" in the portal).
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    pub workspace_id: String,
}

/// What each generated FlowLogPolicy declares (its storage and workspace come from `destinations`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTemplate {
    /// Labels given to each generated policy (for example the label an operator shard selects on). The set's own
    /// label, `flowlog.dev/set`, is always added.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = Rule::new("!('flowlog.dev/set' in self)").message("labels must not set flowlog.dev/set: the operator sets it to the set's name"))]
    pub labels: BTreeMap<String, String>,
    /// The flow-log settings of every target.
    pub flow_log: TemplateFlowLog,
    /// `Enforce` (default) repairs drift; `Audit` never writes to Azure and only reports drift.
    #[serde(default)]
    pub mode: Mode,
    /// What happens in Azure when a generated policy goes — when its target leaves the selection (pruning) or the
    /// set is deleted: `Disable` (default) switches the flow log off, `Orphan` leaves it, `Delete` deletes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// How often each generated policy re-reads Azure to detect and repair drift, as a Go duration. At least `1s`.
    #[serde(default = "default_interval")]
    #[schemars(schema_with = "policy_interval_schema")]
    pub interval: String,
}

fn policy_interval_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(
        "How often each generated policy re-reads Azure to detect and repair drift, as a Go duration. At least `1s`.",
        "1s",
        "interval must be a duration of at least 1s, such as 30s, 10m or 1h",
    )
}

/// A FlowLogPolicy's flow-log settings without the storage account and workspace (per region, in `destinations`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFlowLog {
    /// Whether flow logging is on. `false` keeps existing flow logs but switches them off.
    pub enabled: bool,
    /// How long Azure keeps the log blobs. Omitted: retention off (logs are kept forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,
    /// Log record format. Omitted: whatever Azure has is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FlowLogFormat>,
    /// Traffic analytics, in the workspace of each target's region (`destinations[].workspace`). Omitted: whatever
    /// Azure has is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_analytics: Option<TemplateTrafficAnalytics>,
    /// Only log flows matching this filter (Azure's syntax; see FlowLogPolicy). Omitted: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub enabled_filtering_criteria: Option<String>,
    /// Only log these flow states, a comma list of `B`, `C`, `E`, `D`. Omitted: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[BCED](,[BCED]){0,3}$"))]
    pub record_types: Option<String>,
    /// User-assigned managed identity the flow logs use to write to storage. Omitted: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<FlowLogIdentity>,
}

/// Traffic analytics for every target, each in its region's workspace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateTrafficAnalytics {
    /// Whether traffic analytics processes the flow logs. A target whose region has no workspace in `destinations`
    /// is then reported (`NoWorkspaceForRegion`) and gets no policy.
    pub enabled: bool,
    /// How often traffic analytics processes the logs, in minutes: 10 or 60.
    #[serde(default = "default_ta_interval")]
    #[schemars(schema_with = "ta_interval_schema")]
    pub interval_minutes: i32,
}

/// The pruning guard.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pruning {
    /// The largest share of the set's policies, in percent, that one discovery may prune without confirmation.
    /// A discovery that would prune more blocks (`PruneBlocked`) until the annotation `flowlog.dev/confirm-prune`
    /// is set to the value `status.pruneBlocked.confirmWith` shows. 100 never blocks.
    #[serde(default = "default_max_prune_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub max_prune_percent: i32,
}

impl Default for Pruning {
    fn default() -> Self {
        Self { max_prune_percent: default_max_prune_percent() }
    }
}

fn default_max_prune_percent() -> i32 {
    50
}

/// What the operator found and did for a set.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogPolicySetStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (every selected target is compliant), `Reconciling` (discovery or policies under way) and `Stalled`
    /// (progress needs a person, for example `PruneBlocked`), as kstatus and Flux read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Targets the last discovery selected (excluded ones not counted).
    #[serde(default)]
    pub targets: i32,
    /// Targets whose flow log matches the template (their policy is Ready).
    #[serde(default)]
    pub compliant: i32,
    /// Targets whose flow log differs and is not repaired (Audit mode).
    #[serde(default)]
    pub drifted: i32,
    /// Targets whose policy is applying a change or has not reported yet.
    #[serde(default)]
    pub applying: i32,
    /// Targets whose policy failed or is stalled (Azure refused, a conflict, ...).
    #[serde(default)]
    pub failing: i32,
    /// Targets that got no policy: no storage account or workspace named for their region, or an independent
    /// FlowLogPolicy manages them.
    #[serde(default)]
    pub not_covered: i32,
    /// Targets left out by `excludeTags` or `excludeIds`.
    #[serde(default)]
    pub excluded: i32,
    /// The last discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryStatus>,
    /// The first targets (at most 20, ordered by ID) that are not compliant, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_compliant: Vec<NonCompliantTarget>,
    /// Set while a discovery would prune more than `spec.pruning.maxPrunePercent` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_blocked: Option<PruneBlocked>,
}

/// The last discovery of a set.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryStatus {
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// Whether it listed everything (only a complete discovery prunes).
    #[serde(default)]
    pub complete: bool,
    /// Resources it found before the selector's conditions (a sudden drop hints at lost permissions).
    #[serde(default)]
    pub found: i32,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A target that is not compliant.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NonCompliantTarget {
    /// ARM ID of the target.
    pub target_resource_id: String,
    /// The generated FlowLogPolicy, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Why, as a stable reason: the policy's Ready reason (`Drifted`, `Applying`, `NsgFlowLogCreationBlocked`, ...)
    /// or the set's (`NoStorageForRegion`, `NoWorkspaceForRegion`, `ManagedElsewhere`).
    pub reason: String,
    /// The details.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A prune that waits for confirmation.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PruneBlocked {
    /// Policies the discovery would prune.
    pub would_prune: i32,
    /// Policies the set has.
    pub policies: i32,
    /// The value to set the annotation `flowlog.dev/confirm-prune` to, to let this prune (and only this one) happen.
    pub confirm_with: String,
}

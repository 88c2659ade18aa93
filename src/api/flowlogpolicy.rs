use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Desired state of the Network Watcher flow log of one Azure target.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    doc = "FlowLogPolicy declares the Azure Network Watcher flow log one target must have. The operator keeps Azure in that state and reports what it saw and did in status.",
    group = "flowlog.dev",
    version = "v1alpha1",
    kind = "FlowLogPolicy",
    plural = "flowlogpolicies",
    shortname = "flp",
    namespaced,
    status = "FlowLogPolicyStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.target.resourceId","priority":1}"#,
    printcolumn = r#"{"name":"Enabled","type":"boolean","jsonPath":".spec.flowLog.enabled"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogPolicySpec {
    /// The Azure resource whose flow log this policy manages.
    pub target: Target,
    /// The Network Watcher that owns the flow log, in the target's subscription and region (Azure creates it
    /// as `NetworkWatcher_<region>` in resource group `NetworkWatcherRG`). Omitted: the operator finds the
    /// watcher of the target's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_watcher: Option<NetworkWatcherRef>,
    /// Azure credentials for this policy: a Secret in the policy's own namespace with keys `tenantId`,
    /// `clientId` and `clientSecret`; without `clientSecret`, the app `clientId` is signed in to with the
    /// operator's own federated token (workload identity). Omitted: the operator's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<SecretRef>,
    /// The flow-log settings to keep in Azure.
    pub flow_log: FlowLogSettings,
    /// `Enforce` (default) repairs drift; `Audit` never writes to Azure and only reports drift (status
    /// `Ready=False` with reason `Drifted`, a Warning event and the drift metric).
    #[serde(default)]
    pub mode: Mode,
    /// What happens in Azure when this policy is deleted: `Disable` (default) switches the flow log off,
    /// `Orphan` leaves Azure as it is, `Delete` deletes the flow log resource. Changing it to `Orphan` while a
    /// deletion waits for an unreachable Azure lets the deletion finish.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// How often the operator re-reads Azure to detect and repair drift, as a Go duration
    /// (for example `30s`, `10m`, `1h`). At least `1s`. Spec changes are applied at once, whatever the interval.
    #[serde(default = "default_interval")]
    #[schemars(schema_with = "interval_schema")]
    pub interval: String,
}

pub(super) fn default_interval() -> String {
    "10m".to_string()
}

fn interval_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(
        "How often the operator re-reads Azure to detect and repair drift, as a Go duration (for example `30s`, `10m`, `1h`). At least `1s`. Spec changes are applied at once, whatever the interval.",
        "1s",
        "interval must be a duration of at least 1s, such as 30s, 10m or 1h",
    )
}

/// A duration string (default `10m`) checked by the apiserver's own parser (CEL `duration()`), so that what is
/// accepted is exactly what Kubernetes understands, and at least `min`.
pub(super) fn duration_schema(description: &str, min: &str, message: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "default": "10m",
        "maxLength": 32,
        "description": description,
        "x-kubernetes-validations": [{
            "rule": format!("self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('{min}')"),
            "message": message
        }]
    })
}

/// Whether the operator repairs drift or only reports it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Repair drift with the smallest write.
    #[default]
    Enforce,
    /// Never write to Azure; report drift.
    Audit,
}

/// What deleting the policy does in Azure.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Switch the flow log off (it stays in Azure, disabled).
    #[default]
    Disable,
    /// Leave the flow log in Azure as it is.
    Orphan,
    /// Delete the flow log resource. Careful with NSG targets: Azure no longer creates NSG flow logs, so a
    /// deleted one cannot come back.
    Delete,
}

/// The Azure resource whose flow log is managed. Immutable: to manage another resource, create another
/// policy (changing the target in place would leave the old one configured and unmanaged).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.resourceId == oldSelf.resourceId").message("target is immutable: create a new FlowLogPolicy for another resource"))]
pub struct Target {
    /// ARM ID of the resource whose traffic is logged: a network security group (NSG flow log; Azure no longer
    /// creates new ones, existing ones can be managed until their retirement on 2027-09-30), or a virtual
    /// network, subnet or network interface (VNet flow log), for example
    /// `/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>`.
    #[x_kube(validation = Rule::new(concat!("self.matches('", arm_prefix!(), r"Microsoft\\.Network/(networkSecurityGroups/[^/]{1,80}|virtualNetworks/[^/]{2,64}(/subnets/[^/]{1,80})?|networkInterfaces/[^/]{1,80})$')"))
        .message("resourceId must be the ARM ID of a network security group, virtual network, subnet or network interface: /subscriptions/<subscription GUID>/resourceGroups/<rg>/providers/Microsoft.Network/(networkSecurityGroups/<name>|virtualNetworks/<name>[/subnets/<name>]|networkInterfaces/<name>)"))]
    #[schemars(length(max = 512))]
    pub resource_id: String,
}

/// A Secret in the policy's namespace (policies never read Secrets of other namespaces).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Reference to the Network Watcher in the target's subscription and region.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkWatcherRef {
    /// Resource group of the Network Watcher (Azure's default is `NetworkWatcherRG`).
    #[schemars(length(min = 1, max = 90))]
    pub resource_group: String,
    /// Name of the Network Watcher (Azure's default is `NetworkWatcher_<region>`).
    #[schemars(length(min = 1, max = 80))]
    pub name: String,
}

/// Flow-log settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || has(self.storageId)").message("storageId is required when enabled is true"))]
pub struct FlowLogSettings {
    /// Whether flow logging is on. `false` keeps an existing flow log but switches it off.
    pub enabled: bool,
    /// ARM ID of the storage account that receives the logs
    /// (`/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>`).
    /// Must be in the target's region. Required when `enabled` is true; ignored when it is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(concat!("self.matches('", arm_prefix!(), r"Microsoft\\.Storage/storageAccounts/[a-z0-9]{3,24}$')"))
        .message("storageId must be the ARM ID of a storage account: /subscriptions/<subscription GUID>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<3-24 lower-case letters and digits>"))]
    #[schemars(length(max = 512))]
    pub storage_id: Option<String>,
    /// How long Azure keeps the log blobs. Omitted: retention off (logs are kept forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,
    /// Log record format. Omitted: whatever Azure has is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FlowLogFormat>,
    /// Traffic analytics in a Log Analytics workspace. Omitted: whatever Azure has is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_analytics: Option<TrafficAnalytics>,
    /// Only log flows matching this filter, in Azure's syntax over SrcIP, SrcPort, DstIP, DstPort, Protocol,
    /// Encryption, Direction and Action, for example `srcIP=10.0.0.4 || dstPort=443`. Omitted: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub enabled_filtering_criteria: Option<String>,
    /// Only log these flow states, a comma list of `B` (begin), `C` (continue), `E` (end), `D` (deny), for
    /// example `B,E`. Omitted: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[BCED](,[BCED]){0,3}$"))]
    pub record_types: Option<String>,
    /// User-assigned managed identity the flow log uses to write to storage. Omitted: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<FlowLogIdentity>,
}

/// Traffic analytics settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || (has(self.workspaceResourceId) && has(self.workspaceId) && has(self.workspaceRegion))").message("traffic analytics needs workspaceResourceId, workspaceId and workspaceRegion when enabled"))]
pub struct TrafficAnalytics {
    /// Whether traffic analytics processes the flow logs.
    pub enabled: bool,
    /// ARM ID of the Log Analytics workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(concat!("self.matches('", arm_prefix!(), r"Microsoft\\.OperationalInsights/workspaces/[^/]{4,63}$')"))
        .message("workspaceResourceId must be the ARM ID of a Log Analytics workspace"))]
    #[schemars(length(max = 512))]
    pub workspace_resource_id: Option<String>,
    /// The workspace's ID (a GUID, "customer ID" in the portal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    pub workspace_id: Option<String>,
    /// The workspace's region, for example `westeurope`. Azure requires it to match the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub workspace_region: Option<String>,
    /// How often traffic analytics processes the logs, in minutes: 10 or 60.
    #[serde(default = "default_ta_interval")]
    #[schemars(schema_with = "ta_interval_schema")]
    pub interval_minutes: i32,
}

pub(super) fn default_ta_interval() -> i32 {
    60
}

pub(super) fn ta_interval_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "format": "int32",
        "enum": [10, 60],
        "default": 60,
        "description": "How often traffic analytics processes the logs, in minutes: 10 or 60."
    })
}

/// The identity a flow log uses for storage access.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogIdentity {
    /// ARM ID of a user-assigned managed identity.
    #[x_kube(validation = Rule::new(concat!("self.matches('", arm_prefix!(), r"Microsoft\\.ManagedIdentity/userAssignedIdentities/[^/]{3,128}$')"))
        .message("userAssignedIdentityId must be the ARM ID of a user-assigned managed identity"))]
    #[schemars(length(max = 512))]
    pub user_assigned_identity_id: String,
}

/// Retention of flow-log blobs in the storage account.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Whether Azure deletes blobs older than `days`.
    pub enabled: bool,
    /// Days to keep blobs, 0 to 365; 0 keeps them forever. Ignored when `enabled` is false.
    #[serde(default)]
    #[schemars(range(min = 0, max = 365))]
    pub days: i32,
}

/// Flow-log record format.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogFormat {
    /// File type; Azure supports only `JSON`.
    #[serde(default, rename = "type")]
    pub format_type: FormatType,
    /// Format version: 1, or 2 (adds flow state and byte/packet counts).
    #[schemars(range(min = 1, max = 2))]
    pub version: i32,
}

/// File type of flow-log records.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FormatType {
    #[default]
    #[serde(rename = "JSON")]
    Json,
}

impl FormatType {
    pub fn as_arm(&self) -> &'static str {
        match self {
            FormatType::Json => "JSON",
        }
    }
}

/// What the operator last saw and did.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogPolicyStatus {
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions. `Ready` is True when Azure matches the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The flow log as last read from Azure (after any correction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedFlowLog>,
    /// The Network Watcher the flow log belongs to (named in the spec or found by the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_watcher_id: Option<String>,
    /// ARM ID of the `flowLogs` resource (VNet, subnet and NIC targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_log_id: Option<String>,
    /// When the operator last compared Azure with the spec successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// How many times the operator rewrote the flow log because Azure drifted from a spec it had
    /// already applied (changes made to apply a new spec are not counted).
    #[serde(default)]
    pub drift_corrections: i64,
    /// The last error from Azure, cleared on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// A long-running operation Azure is carrying out for this policy: the operator polls it at Azure's
    /// `Retry-After` (also after a restart) instead of writing again. Cleared when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<PendingOperation>,
    /// Where the flow log's blobs are and when the newest was last written (with `--check-log-delivery`; the
    /// `LogsDelivered` condition says whether they keep arriving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsStatus>,
}

/// A flow log's blobs as the operator last found them in its storage account.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogsStatus {
    /// The storage account's ARM ID.
    pub storage_id: String,
    /// The container Network Watcher writes to (`insights-logs-networksecuritygroupflowevent` for NSG flow
    /// logs, `insights-logs-flowlogflowevent` for VNet flow logs).
    pub container: String,
    /// The flow log's folder in the container: the newest blob's name up to its `y=` segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// When the newest blob was last written, rewritten at most once per status heartbeat while logs keep
    /// arriving (the metric `flowlog_logs_last_write_age_seconds` follows every check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_write: Option<Time>,
}

/// A long-running ARM operation in flight (a resume token).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// The call that started it: `queryFlowLogStatus` (confirming a suspected NSG drift), `configureFlowLog` or
    /// `putFlowLog`.
    pub kind: String,
    /// The `Azure-AsyncOperation` URL, polled until the operation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    /// The `Location` URL, whose answer is the result (POST actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// The resource written, read at the end (PUT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_url: Option<String>,
    /// `x-ms-request-id` of the request that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When Azure accepted it.
    pub started_at: Time,
    /// The `Retry-After` (seconds) Azure answered when it accepted it: how often it is polled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
    /// Whether the write repairs drift (counted in `driftCorrections` when it ends).
    #[serde(default)]
    pub drift: bool,
}

/// The flow log as Azure reports it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFlowLog {
    /// Whether flow logging is on.
    pub enabled: bool,
    /// Storage account ARM ID as Azure returned it (empty when disabled).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_id: String,
    /// Retention as Azure returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<ObservedRetention>,
    /// Format as Azure returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ObservedFormat>,
    /// Traffic analytics as Azure returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_analytics: Option<ObservedTrafficAnalytics>,
}

/// Traffic analytics as Azure returned it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTrafficAnalytics {
    /// Whether traffic analytics is on.
    #[serde(default)]
    pub enabled: bool,
    /// The workspace's ARM ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_resource_id: Option<String>,
    /// Processing interval in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_minutes: Option<i32>,
}

/// Retention as Azure returned it (unconstrained: status must be able to show any drift).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRetention {
    /// Whether retention is on.
    #[serde(default)]
    pub enabled: bool,
    /// Days blobs are kept (0: forever).
    #[serde(default)]
    pub days: i32,
}

/// Flow-log format as Azure returned it (free-form: Azure may report values the spec does not allow).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFormat {
    /// File type.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub format_type: String,
    /// Version.
    #[serde(default)]
    pub version: i32,
}

/// An error reported by Azure or met on the way to it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// The ARM error code (for example `NsgFlowLogCreationBlocked`), or the operator's own code for
    /// errors that did not come from ARM.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// The `x-ms-request-id` of the failing ARM call, to quote to Azure support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

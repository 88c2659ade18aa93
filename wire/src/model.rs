//! ARM wire types for the Network Watcher flow-log operations, shaped after the published spec
//! (`../shared/azure-api/spec/networkWatcher.json`, api-version 2025-07-01). The client and the simulator
//! share them so that both speak exactly one dialect.

use serde::{Deserialize, Serialize};

/// The api-version the client sends and the simulator echoes in its operation URLs.
pub const API_VERSION: &str = "2025-07-01";

/// The api-version of Microsoft.Resources calls (`/subscriptions/{sub}/providers/{namespace}`).
pub const PROVIDERS_API_VERSION: &str = "2021-04-01";

/// `FlowLogStatusParameters`: body of `queryFlowLogStatus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogStatusParameters {
    pub target_resource_id: String,
}

/// `FlowLogInformation`: body of `configureFlowLog` and the result of both legacy actions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogInformation {
    pub target_resource_id: String,
    pub properties: FlowLogProperties,
    /// Traffic analytics sits beside `properties` here (inside them on the `flowLogs` resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_analytics_configuration: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<serde_json::Value>,
}

/// `FlowLogProperties`. `storageId` and `enabled` are required by the spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogProperties {
    /// Azure reports `""` here for a disabled flow log.
    #[serde(default)]
    pub storage_id: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_filtering_criteria: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_types: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicyParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FlowLogFormatParameters>,
}

/// `RetentionPolicyParameters`; spec defaults `days: 0` (keep forever), `enabled: false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicyParameters {
    #[serde(default)]
    pub days: i32,
    #[serde(default)]
    pub enabled: bool,
}

/// `FlowLogFormatParameters`; `type` is the modelAsString enum `FlowLogFormatType` (`JSON`), `version`
/// defaults to 0 in the spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogFormatParameters {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub format_type: Option<String>,
    #[serde(default)]
    pub version: i32,
}

/// `ErrorResponse` = `{"error": ErrorDetails}`; real Network RP bodies carry `details: []`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetails {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub details: Vec<ErrorDetails>,
}

/// Body of an `Azure-AsyncOperation` status URL (`AzureAsyncOperationResult`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AsyncOperationResult {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetails>,
}

/// Token endpoint success body (client-credentials flow). `Debug` leaves the access token out.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default)]
    pub ext_expires_in: Option<u64>,
    pub access_token: String,
}

/// IMDS token body: like [`TokenResponse`], but every field is a string (`"expires_in": "3599"`). `Debug` leaves the
/// access token out.
#[derive(Clone, Serialize, Deserialize)]
pub struct ImdsTokenResponse {
    pub access_token: String,
    #[serde(deserialize_with = "string_or_number")]
    pub expires_in: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub expires_on: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub token_type: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("ext_expires_in", &self.ext_expires_in)
            .field("access_token", &"[redacted]")
            .finish()
    }
}

impl std::fmt::Debug for ImdsTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImdsTokenResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("expires_on", &self.expires_on)
            .field("resource", &self.resource)
            .field("token_type", &self.token_type)
            .finish()
    }
}

/// Accepts `"3599"` as IMDS sends it, and `3599` as some IMDS look-alikes do.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string or a number, got {other}"))),
    }
}

/// Token endpoint error body (`AADSTS…` codes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenErrorResponse {
    pub error: String,
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

/// `FlowLog`: the `flowLogs` child resource of a Network Watcher (VNet, subnet, NIC and NSG flow logs).
/// `PUT`/`GET`/`DELETE .../networkWatchers/{nw}/flowLogs/{name}`; the returned `id` spells `FlowLogs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowLog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Required on PUT: the target's (and watcher's) region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    pub properties: FlowLogPropertiesFormat,
}

/// `FlowLogPropertiesFormat`. Unlike `FlowLogInformation`, traffic analytics sits inside the properties.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogPropertiesFormat {
    pub target_resource_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resource_guid: Option<String>,
    #[serde(default)]
    pub storage_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_filtering_criteria: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_types: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicyParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FlowLogFormatParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_analytics_configuration: Option<TrafficAnalyticsProperties>,
    /// `Succeeded | Updating | Deleting | Failed` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
}

/// `TrafficAnalyticsProperties`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficAnalyticsProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_watcher_flow_analytics_configuration: Option<TrafficAnalyticsConfigurationProperties>,
}

/// `TrafficAnalyticsConfigurationProperties`. Azure reports a disabled configuration with
/// `workspaceId: "-"` and `workspaceRegion: "-"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficAnalyticsConfigurationProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The workspace's GUID (customer ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_resource_id: Option<String>,
    /// Minutes: 10 or 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_analytics_interval: Option<i32>,
}

/// `ManagedServiceIdentity`. Requests send `{}` per user-assigned identity; responses fill the IDs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedServiceIdentity {
    /// `SystemAssigned | UserAssigned | "SystemAssigned, UserAssigned" | None`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identities: Option<std::collections::BTreeMap<String, UserAssignedIdentity>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAssignedIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// A page of an ARM list operation; follow `nextLink` until it is absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResult<T> {
    pub value: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// The common ARM envelope of tracked resources the operator only reads (network watchers, NSGs, virtual
/// networks, subnets, NICs, workspaces): identity and region, properties kept as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmResource {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Absent on child resources such as subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub properties: serde_json::Value,
}

/// `GET /subscriptions/{sub}/providers/{namespace}` (Resource Manager `Provider`, trimmed to what is read).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub namespace: String,
    /// `NotRegistered | Registering | Registered | Unregistering`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_state: Option<String>,
}

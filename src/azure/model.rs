//! ARM wire types for the Network Watcher flow-log operations, shaped after the published spec
//! (`../shared/azure-api/spec/networkWatcher.json`, api-version 2025-07-01). The client and the simulator
//! share them so that both speak exactly one dialect.

use serde::{Deserialize, Serialize};

/// The api-version the client sends and the simulator echoes in its operation URLs.
pub const API_VERSION: &str = "2025-07-01";

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

/// Token endpoint success body (client-credentials flow).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default)]
    pub ext_expires_in: Option<u64>,
    pub access_token: String,
}

/// Token endpoint error body (`AADSTS…` codes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenErrorResponse {
    pub error: String,
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

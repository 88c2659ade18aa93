//! Desired (spec) vs observed (Azure) → what to write. Both Azure APIs are planned here: the legacy NSG actions
//! (`configureFlowLog` with a `FlowLogInformation`) and the `flowLogs` resource (`PUT` of a `FlowLog`). They
//! carry the same settings in different envelopes, so both are compared through one normalised view.

use std::collections::BTreeMap;

use crate::api::{
    FlowLogSettings, ObservedFlowLog, ObservedFormat, ObservedRetention, ObservedTrafficAnalytics, TrafficAnalytics,
};
use crate::azure::id::same_id;
use crate::azure::model::{
    FlowLog, FlowLogFormatParameters, FlowLogInformation, FlowLogProperties, FlowLogPropertiesFormat,
    ManagedServiceIdentity, RetentionPolicyParameters, TrafficAnalyticsConfigurationProperties,
    TrafficAnalyticsProperties, UserAssignedIdentity,
};

/// What has to happen to make Azure match the spec (legacy NSG path).
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Azure already matches: no write.
    InSync,
    /// Send this `configureFlowLog` body to repair `differences`.
    Configure { request: Box<FlowLogInformation>, differences: Vec<Difference> },
}

/// What has to happen to make Azure match the spec (`flowLogs` resource path).
#[derive(Clone, Debug, PartialEq)]
pub enum ResourcePlan {
    /// Azure already matches (or there is no flow log and none is wanted): no write.
    InSync,
    /// `PUT` this body (create or replace) to repair `differences`.
    Put { body: Box<FlowLog>, differences: Vec<Difference> },
}

/// One field where Azure differs from the spec, for status messages and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub field: &'static str,
    pub desired: String,
    pub observed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (Azure) → {} (spec)", self.field, self.observed, self.desired)
    }
}

/// The settings both APIs share, as Azure reports them.
#[derive(Clone, Debug, Default, PartialEq)]
struct Current {
    enabled: bool,
    storage_id: String,
    retention: Option<RetentionPolicyParameters>,
    format: Option<FlowLogFormatParameters>,
    traffic_analytics: Option<TrafficAnalyticsProperties>,
    filtering: Option<String>,
    record_types: Option<String>,
    identity: Option<ManagedServiceIdentity>,
}

impl From<&FlowLogInformation> for Current {
    fn from(info: &FlowLogInformation) -> Self {
        let p = &info.properties;
        Current {
            enabled: p.enabled,
            storage_id: p.storage_id.clone(),
            retention: p.retention_policy,
            format: p.format.clone(),
            // Unreadable JSON here is Azure's business; treat it as "not set" rather than fail the comparison.
            traffic_analytics: info.flow_analytics_configuration.clone().and_then(|v| serde_json::from_value(v).ok()),
            filtering: p.enabled_filtering_criteria.clone(),
            record_types: p.record_types.clone(),
            identity: info.identity.clone().and_then(|v| serde_json::from_value(v).ok()),
        }
    }
}

impl From<&FlowLog> for Current {
    fn from(log: &FlowLog) -> Self {
        let p = &log.properties;
        Current {
            // The spec defaults `enabled` to true on the resource.
            enabled: p.enabled.unwrap_or(true),
            storage_id: p.storage_id.clone(),
            retention: p.retention_policy,
            format: p.format.clone(),
            traffic_analytics: p.flow_analytics_configuration.clone(),
            filtering: p.enabled_filtering_criteria.clone(),
            record_types: p.record_types.clone(),
            identity: log.identity.clone(),
        }
    }
}

/// Plans the legacy path: compares the spec with what `queryFlowLogStatus` returned.
///
/// Comparison is normalised so that the steady state makes no writes: ARM IDs are compared
/// case-insensitively; a disabled flow log is only checked for being disabled (Azure reports
/// `storageId: ""` and default retention for it); retention that is off is equal whatever its days;
/// fields the spec leaves out are not compared, and a write carries over what Azure has for them.
pub fn plan(target_resource_id: &str, desired: &FlowLogSettings, observed: &FlowLogInformation) -> Plan {
    let current = Current::from(observed);
    let differences = differences(desired, &current);
    if differences.is_empty() {
        return Plan::InSync;
    }
    let merged = merge(desired, &current);
    let request = FlowLogInformation {
        target_resource_id: target_resource_id.to_string(),
        properties: FlowLogProperties {
            storage_id: merged.storage_id,
            enabled: merged.enabled,
            enabled_filtering_criteria: merged.filtering,
            record_types: merged.record_types,
            retention_policy: merged.retention,
            format: merged.format,
        },
        flow_analytics_configuration: merged
            .traffic_analytics
            .map(|ta| serde_json::to_value(ta).expect("serialisable")),
        identity: merged.identity.map(|id| serde_json::to_value(id).expect("serialisable")),
    };
    Plan::Configure { request: Box::new(request), differences }
}

/// Plans the `flowLogs` resource path. `existing` is the flow log Azure has for the target (found by target,
/// whatever its name); `location` is the target's region (required when creating).
pub fn plan_resource(
    target_resource_id: &str,
    location: &str,
    desired: &FlowLogSettings,
    existing: Option<&FlowLog>,
) -> ResourcePlan {
    let current = match existing {
        Some(log) => Current::from(log),
        // No flow log: nothing to do unless one is wanted.
        None if !desired.enabled => return ResourcePlan::InSync,
        None => Current::default(),
    };
    let differences = match existing {
        Some(_) => differences(desired, &current),
        None => vec![Difference { field: "flowLog", desired: "present".into(), observed: "none".into() }],
    };
    if differences.is_empty() {
        return ResourcePlan::InSync;
    }
    let merged = merge(desired, &current);
    let body = FlowLog {
        location: existing.and_then(|l| l.location.clone()).or_else(|| Some(location.to_string())),
        tags: existing.and_then(|l| l.tags.clone()),
        identity: merged.identity,
        properties: FlowLogPropertiesFormat {
            target_resource_id: target_resource_id.to_string(),
            storage_id: merged.storage_id,
            enabled: Some(merged.enabled),
            enabled_filtering_criteria: merged.filtering,
            record_types: merged.record_types,
            retention_policy: merged.retention,
            format: merged.format,
            flow_analytics_configuration: merged.traffic_analytics,
            ..Default::default()
        },
        ..Default::default()
    };
    ResourcePlan::Put { body: Box::new(body), differences }
}

fn differences(desired: &FlowLogSettings, observed: &Current) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ =
        |field: &'static str, desired: String, observed: String| out.push(Difference { field, desired, observed });
    if desired.enabled != observed.enabled {
        differ("enabled", desired.enabled.to_string(), observed.enabled.to_string());
    }
    if !desired.enabled {
        // Everything else of a disabled flow log is Azure's placeholder, not state.
        return out;
    }
    let desired_storage = desired.storage_id.as_deref().unwrap_or_default();
    if !same_id(desired_storage, &observed.storage_id) {
        differ("storageId", desired_storage.to_string(), or_none(&observed.storage_id));
    }
    let desired_retention = normalise_retention(desired.retention_policy.map(|r| (r.enabled, r.days)));
    let observed_retention = normalise_retention(observed.retention.map(|r| (r.enabled, r.days)));
    if desired_retention != observed_retention {
        differ("retentionPolicy", retention_text(desired_retention), retention_text(observed_retention));
    }
    if let Some(format) = &desired.format {
        let observed_format = observed.format.clone().unwrap_or_default();
        let type_matches =
            observed_format.format_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(format.format_type.as_arm()));
        if !type_matches || observed_format.version != format.version {
            let seen = match observed_format.format_type {
                Some(t) => format!("{t} v{}", observed_format.version),
                None => "none".to_string(),
            };
            differ("format", format!("{} v{}", format.format_type.as_arm(), format.version), seen);
        }
    }
    if let Some(ta) = &desired.traffic_analytics {
        let seen =
            observed.traffic_analytics.as_ref().and_then(|t| t.network_watcher_flow_analytics_configuration.as_ref());
        if !traffic_analytics_matches(ta, seen) {
            differ("trafficAnalytics", ta_text_desired(ta), ta_text_observed(seen));
        }
    }
    if let Some(filter) = &desired.enabled_filtering_criteria {
        let seen = observed.filtering.as_deref().unwrap_or_default();
        if filter.trim() != seen.trim() {
            differ("enabledFilteringCriteria", filter.clone(), or_none(seen));
        }
    }
    if let Some(types) = &desired.record_types {
        let seen = observed.record_types.as_deref().unwrap_or_default();
        if record_type_set(types) != record_type_set(seen) {
            differ("recordTypes", types.clone(), or_none(seen));
        }
    }
    if let Some(identity) = &desired.identity {
        let seen: Vec<&String> = observed
            .identity
            .as_ref()
            .and_then(|i| i.user_assigned_identities.as_ref())
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        if seen.len() != 1 || !same_id(seen[0], &identity.user_assigned_identity_id) {
            let seen = if seen.is_empty() {
                "none".to_string()
            } else {
                seen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            };
            differ("identity", identity.user_assigned_identity_id.clone(), seen);
        }
    }
    out
}

/// Azure reports a disabled configuration with `workspaceId: "-"` placeholders; regions compare without case
/// or spaces (`West Europe` is `westeurope`).
fn traffic_analytics_matches(
    desired: &TrafficAnalytics,
    observed: Option<&TrafficAnalyticsConfigurationProperties>,
) -> bool {
    let observed_enabled = observed.and_then(|o| o.enabled).unwrap_or(false);
    if !desired.enabled {
        return !observed_enabled;
    }
    let Some(o) = observed.filter(|_| observed_enabled) else { return false };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    same_id(&text(&desired.workspace_resource_id), &text(&o.workspace_resource_id))
        && text(&desired.workspace_id).eq_ignore_ascii_case(&text(&o.workspace_id))
        && crate::azure::same_region(&text(&desired.workspace_region), &text(&o.workspace_region))
        && o.traffic_analytics_interval == Some(desired.interval_minutes)
}

fn ta_text_desired(ta: &TrafficAnalytics) -> String {
    if !ta.enabled {
        return "off".into();
    }
    format!("on, every {} min → {}", ta.interval_minutes, ta.workspace_resource_id.as_deref().unwrap_or_default())
}

fn ta_text_observed(ta: Option<&TrafficAnalyticsConfigurationProperties>) -> String {
    match ta {
        Some(t) if t.enabled == Some(true) => format!(
            "on, every {} min → {}",
            t.traffic_analytics_interval.unwrap_or_default(),
            t.workspace_resource_id.as_deref().unwrap_or("?")
        ),
        _ => "off".into(),
    }
}

fn record_type_set(types: &str) -> std::collections::BTreeSet<String> {
    types.split(',').map(|t| t.trim().to_ascii_uppercase()).filter(|t| !t.is_empty()).collect()
}

/// Retention that is off keeps blobs forever whatever `days` says, so it normalises to `(false, 0)`;
/// an absent policy is Azure's default, also `(false, 0)`.
fn normalise_retention(policy: Option<(bool, i32)>) -> (bool, i32) {
    match policy {
        Some((true, days)) => (true, days),
        _ => (false, 0),
    }
}

fn retention_text((enabled, days): (bool, i32)) -> String {
    if enabled { format!("{days} days") } else { "off".to_string() }
}

fn or_none(s: &str) -> String {
    if s.is_empty() { "none".to_string() } else { s.to_string() }
}

/// The configuration to write: the spec's settings, and for everything the spec leaves out, what Azure has
/// (a write never silently resets settings the user did not ask us to manage).
fn merge(desired: &FlowLogSettings, current: &Current) -> Current {
    if !desired.enabled {
        // Disabling keeps the rest of the existing configuration; storageId is required by the API.
        return Current { enabled: false, ..current.clone() };
    }
    Current {
        enabled: true,
        storage_id: desired.storage_id.clone().unwrap_or_default(),
        retention: Some(
            desired
                .retention_policy
                .map(|r| RetentionPolicyParameters { enabled: r.enabled, days: if r.enabled { r.days } else { 0 } })
                .unwrap_or_default(),
        ),
        format: match &desired.format {
            Some(f) => Some(FlowLogFormatParameters {
                format_type: Some(f.format_type.as_arm().to_string()),
                version: f.version,
            }),
            None => current.format.clone(),
        },
        traffic_analytics: match &desired.traffic_analytics {
            Some(ta) => Some(TrafficAnalyticsProperties {
                network_watcher_flow_analytics_configuration: Some(TrafficAnalyticsConfigurationProperties {
                    enabled: Some(ta.enabled),
                    workspace_id: ta.workspace_id.clone(),
                    workspace_region: ta.workspace_region.clone(),
                    workspace_resource_id: ta.workspace_resource_id.clone(),
                    traffic_analytics_interval: Some(ta.interval_minutes),
                }),
            }),
            None => current.traffic_analytics.clone(),
        },
        filtering: desired.enabled_filtering_criteria.clone().or_else(|| current.filtering.clone()),
        record_types: desired.record_types.clone().or_else(|| current.record_types.clone()),
        identity: match &desired.identity {
            Some(id) => Some(ManagedServiceIdentity {
                identity_type: Some("UserAssigned".into()),
                user_assigned_identities: Some(BTreeMap::from([(
                    id.user_assigned_identity_id.clone(),
                    UserAssignedIdentity::default(),
                )])),
                ..Default::default()
            }),
            None => current.identity.clone(),
        },
    }
}

/// A `flowLogs` resource (as a watcher's list shows it) in the legacy envelope `queryFlowLogStatus` answers for an
/// NSG: the same settings; no flow log reads as a disabled one, as Azure reports it.
pub fn legacy_view(target_resource_id: &str, log: Option<&FlowLog>) -> FlowLogInformation {
    let Some(log) = log else {
        return FlowLogInformation { target_resource_id: target_resource_id.to_string(), ..Default::default() };
    };
    let p = &log.properties;
    FlowLogInformation {
        target_resource_id: target_resource_id.to_string(),
        properties: FlowLogProperties {
            storage_id: p.storage_id.clone(),
            enabled: p.enabled.unwrap_or(true),
            enabled_filtering_criteria: p.enabled_filtering_criteria.clone(),
            record_types: p.record_types.clone(),
            retention_policy: p.retention_policy,
            format: p.format.clone(),
        },
        flow_analytics_configuration: p
            .flow_analytics_configuration
            .as_ref()
            .map(|ta| serde_json::to_value(ta).expect("serialisable")),
        identity: log.identity.as_ref().map(|id| serde_json::to_value(id).expect("serialisable")),
    }
}

/// The legacy envelope's settings as a `flowLogs` resource (for the watcher index after a legacy read or write).
pub fn resource_view(info: &FlowLogInformation) -> FlowLog {
    let current = Current::from(info);
    FlowLog {
        identity: current.identity,
        properties: FlowLogPropertiesFormat {
            target_resource_id: info.target_resource_id.clone(),
            storage_id: current.storage_id,
            enabled: Some(current.enabled),
            enabled_filtering_criteria: current.filtering,
            record_types: current.record_types,
            retention_policy: current.retention,
            format: current.format,
            flow_analytics_configuration: current.traffic_analytics,
            ..Default::default()
        },
        ..Default::default()
    }
}

impl From<&Current> for ObservedFlowLog {
    fn from(c: &Current) -> Self {
        let ta = c.traffic_analytics.as_ref().and_then(|t| t.network_watcher_flow_analytics_configuration.as_ref());
        ObservedFlowLog {
            enabled: c.enabled,
            storage_id: c.storage_id.clone(),
            retention_policy: c.retention.map(|r| ObservedRetention { enabled: r.enabled, days: r.days }),
            format: c
                .format
                .as_ref()
                .map(|f| ObservedFormat { format_type: f.format_type.clone().unwrap_or_default(), version: f.version }),
            traffic_analytics: ta.map(|t| ObservedTrafficAnalytics {
                enabled: t.enabled.unwrap_or(false),
                workspace_resource_id: t.workspace_resource_id.clone().filter(|w| w != "-"),
                interval_minutes: t.traffic_analytics_interval,
            }),
        }
    }
}

impl From<&FlowLogInformation> for ObservedFlowLog {
    fn from(info: &FlowLogInformation) -> Self {
        ObservedFlowLog::from(&Current::from(info))
    }
}

impl From<&FlowLog> for ObservedFlowLog {
    fn from(log: &FlowLog) -> Self {
        ObservedFlowLog::from(&Current::from(log))
    }
}

#[cfg(test)]
mod tests;

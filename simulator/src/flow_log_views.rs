//! How stored flow logs appear in answers: found by target, their IDs (with the upper-cased resource-group quirk),
//! the legacy actions' `FlowLogInformation` and the `flowLogs` resource's `FlowLog`.

use serde_json::json;

use super::flow_log_store::StoredFlowLog;
use super::guid::resource_guid;
use super::state::State;
use super::world::WATCHER_TYPE;
use flowlog_wire::id::same_id;
use flowlog_wire::model::{
    FlowLog, FlowLogInformation, FlowLogProperties, FlowLogPropertiesFormat, RetentionPolicyParameters,
    TrafficAnalyticsConfigurationProperties, TrafficAnalyticsProperties,
};

impl State {
    pub(super) fn flow_log_of_target(&self, target: &str) -> Option<usize> {
        self.flow_logs.iter().position(|f| same_id(&f.target, target))
    }

    /// `{watcher}/FlowLogs/{name}`, with the resource-group quirk.
    pub(super) fn flow_log_id(&self, fl: &StoredFlowLog) -> String {
        self.reference_id(&format!("{}/FlowLogs/{}", self.world.watchers[fl.watcher].id, fl.name))
    }

    /// IDs of the flow logs targeting `target`, as NSGs and virtual networks list them.
    pub(super) fn flow_log_refs(&self, target: &str) -> Vec<String> {
        self.flow_logs.iter().filter(|f| same_id(&f.target, target)).map(|f| self.flow_log_id(f)).collect()
    }

    /// An ID as answers carry it: with the resource group upper-cased when that quirk is on.
    pub(super) fn reference_id(&self, id: &str) -> String {
        if !self.inventory.behaviour.quirks.upper_case_resource_groups {
            return id.to_string();
        }
        let mut parts: Vec<String> = id.split('/').map(str::to_owned).collect();
        if let Some(i) = parts.iter().position(|p| p.eq_ignore_ascii_case("resourceGroups"))
            && let Some(rg) = parts.get_mut(i + 1)
        {
            *rg = rg.to_ascii_uppercase();
        }
        parts.join("/")
    }

    /// A flow log as the `flowLogs` resource answers it.
    pub(super) fn resource_view(&self, fl: &StoredFlowLog, provisioning_state: &str) -> FlowLog {
        let legacy = self.legacy_view(fl);
        let settings = &fl.settings;
        let guid = resource_guid(&fl.target);
        FlowLog {
            id: Some(self.flow_log_id(fl)),
            name: Some(fl.name.clone()),
            resource_type: Some(format!("{WATCHER_TYPE}/FlowLogs")),
            location: Some(fl.location.clone()),
            tags: fl.tags.clone(),
            etag: Some(fl.etag.clone()),
            identity: settings.identity.clone(),
            properties: FlowLogPropertiesFormat {
                target_resource_id: legacy.target_resource_id,
                target_resource_guid: Some(guid),
                storage_id: legacy.properties.storage_id,
                enabled: Some(settings.properties.enabled),
                enabled_filtering_criteria: settings.properties.enabled_filtering_criteria.clone(),
                record_types: settings.properties.record_types.clone(),
                retention_policy: Some(legacy.properties.retention_policy.unwrap_or_default()),
                format: settings.properties.format.clone(),
                flow_analytics_configuration: Some(TrafficAnalyticsProperties {
                    network_watcher_flow_analytics_configuration: settings
                        .traffic_analytics
                        .as_ref()
                        .map(traffic_analytics_view),
                }),
                provisioning_state: Some(provisioning_state.into()),
            },
        }
    }

    /// What queryFlowLogStatus answers for an NSG: its flow log, or the disabled shape when it has none.
    pub(super) fn legacy_status(&self, nsg: usize) -> FlowLogInformation {
        let id = &self.world.nsgs[nsg].id;
        match self.flow_log_of_target(id) {
            Some(i) => self.legacy_view(&self.flow_logs[i]),
            // Assumption: Azure reports an NSG without flow log like a disabled one.
            None => FlowLogInformation {
                target_resource_id: self.reference_id(id),
                properties: FlowLogProperties {
                    retention_policy: Some(RetentionPolicyParameters::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        }
    }

    /// A flow log as the legacy actions answer it.
    pub(super) fn legacy_view(&self, fl: &StoredFlowLog) -> FlowLogInformation {
        let mut properties = fl.settings.properties.clone();
        if !properties.enabled && self.inventory.behaviour.quirks.disabled_flow_log_defaults {
            properties.storage_id.clear();
            properties.retention_policy = Some(RetentionPolicyParameters::default());
        }
        FlowLogInformation {
            target_resource_id: self.reference_id(&fl.target),
            properties,
            flow_analytics_configuration: fl
                .settings
                .traffic_analytics
                .as_ref()
                .map(|ta| json!({"networkWatcherFlowAnalyticsConfiguration": traffic_analytics_view(ta)})),
            identity: fl.settings.identity.as_ref().map(|i| serde_json::to_value(i).expect("plain struct")),
        }
    }
}

/// Traffic analytics as answers carry it: a disabled configuration shows `-` for the workspace.
fn traffic_analytics_view(ta: &TrafficAnalyticsConfigurationProperties) -> TrafficAnalyticsConfigurationProperties {
    if ta.enabled == Some(true) {
        return ta.clone();
    }
    TrafficAnalyticsConfigurationProperties {
        enabled: Some(false),
        workspace_id: Some("-".into()),
        workspace_region: Some("-".into()),
        workspace_resource_id: None,
        traffic_analytics_interval: ta.traffic_analytics_interval,
    }
}

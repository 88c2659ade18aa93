//! The flow-log store's records: a [`StoredFlowLog`] per `flowLogs` resource (both APIs read and write these), the
//! [`FlowLogConfig`] a write replaces, the flow logs the inventory starts with, and the identities they echo.

use std::collections::BTreeMap;

use super::guid::{derived_guid, new_etag};
use super::inventory::{Inventory, InventoryFlowLog, arm_id};
use super::rules::flow_log_name;
use super::world::{NSG_TYPE, WATCHER_TYPE, World};
use flowlog_wire::id::same_id;
use flowlog_wire::model::{
    FlowLogProperties, FlowLogPropertiesFormat, ManagedServiceIdentity, TrafficAnalyticsConfigurationProperties,
    TrafficAnalyticsProperties, UserAssignedIdentity,
};

/// A flow-log resource: held by a watcher, targeting an NSG, virtual network, subnet or NIC. Both APIs read and
/// write these.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StoredFlowLog {
    pub watcher: usize,
    pub name: String,
    pub location: String,
    pub tags: Option<BTreeMap<String, String>>,
    pub etag: String,
    /// The target's ID in the inventory's casing.
    pub target: String,
    pub settings: FlowLogConfig,
}

impl StoredFlowLog {
    /// A flow log as written now (a new etag).
    pub(super) fn new(
        watcher: usize,
        name: String,
        location: String,
        target: String,
        tags: Option<BTreeMap<String, String>>,
        settings: FlowLogConfig,
    ) -> StoredFlowLog {
        StoredFlowLog { watcher, name, location, tags, etag: new_etag(), target, settings }
    }

    pub(super) fn is(&self, watcher: usize, name: &str) -> bool {
        self.watcher == watcher && self.name.eq_ignore_ascii_case(name)
    }
}

/// The configuration a write replaces; name, location and tags stay.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct FlowLogConfig {
    /// As the legacy actions carry them.
    pub properties: FlowLogProperties,
    /// As validated: workspace GUID, region and ID filled in when enabled.
    pub traffic_analytics: Option<TrafficAnalyticsConfigurationProperties>,
    pub identity: Option<ManagedServiceIdentity>,
}

impl FlowLogConfig {
    /// The settings of a legacy action's request, traffic analytics and identity as given.
    pub(super) fn new(
        properties: FlowLogProperties,
        analytics: Option<TrafficAnalyticsProperties>,
        identity: Option<ManagedServiceIdentity>,
    ) -> FlowLogConfig {
        FlowLogConfig {
            properties,
            traffic_analytics: analytics.and_then(|a| a.network_watcher_flow_analytics_configuration),
            identity,
        }
    }

    /// The settings of a `flowLogs` resource as sent (`enabled` defaults to false).
    pub(super) fn of_resource(
        props: FlowLogPropertiesFormat,
        identity: Option<ManagedServiceIdentity>,
    ) -> FlowLogConfig {
        let properties = FlowLogProperties {
            storage_id: props.storage_id,
            enabled: props.enabled.unwrap_or(false),
            enabled_filtering_criteria: props.enabled_filtering_criteria,
            record_types: props.record_types,
            retention_policy: props.retention_policy,
            format: props.format,
        };
        FlowLogConfig::new(properties, props.flow_analytics_configuration, identity)
    }

    pub(super) fn apply(&self, fl: &mut StoredFlowLog) {
        fl.settings = self.clone();
        fl.etag = new_etag();
    }
}

/// The flow logs of the inventory: NSGs' `flowLog`s and watchers' `flowLogs`. The inventory must be valid
/// ([`Inventory::validate`]); invalid references are skipped.
pub(super) fn load(inventory: &Inventory, world: &World) -> Vec<StoredFlowLog> {
    let mut flow_logs = Vec::new();
    let mut add = |watcher: usize, name: String, target: String, fl: &InventoryFlowLog| {
        // A name of the inventory's accounts, or an ID (of one of them, or of an account that no longer exists).
        let storage_id = match fl.storage_account.as_deref() {
            Some(id) if id.starts_with('/') => {
                world.storage.iter().find(|s| same_id(&s.id, id)).map_or_else(|| id.to_string(), |s| s.id.clone())
            }
            Some(name) => world
                .storage
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .map(|s| s.id.clone())
                .unwrap_or_default(),
            None => String::new(),
        };
        let traffic_analytics = fl.traffic_analytics.as_ref().map(|ta| {
            let ws = ta
                .workspace
                .as_ref()
                .and_then(|name| world.workspaces.iter().find(|w| w.name.eq_ignore_ascii_case(name)));
            TrafficAnalyticsConfigurationProperties {
                enabled: Some(ta.enabled),
                workspace_id: ws.map(|w| w.customer_id.clone()),
                workspace_region: ws.map(|w| w.location.clone()),
                workspace_resource_id: ws.map(|w| w.id.clone()),
                traffic_analytics_interval: Some(ta.interval_minutes),
            }
        });
        let identity = (!fl.user_assigned_identities.is_empty()).then(|| {
            let mut identity = ManagedServiceIdentity {
                identity_type: Some("UserAssigned".into()),
                user_assigned_identities: Some(
                    fl.user_assigned_identities
                        .iter()
                        .map(|id| (id.clone(), UserAssignedIdentity::default()))
                        .collect(),
                ),
                ..Default::default()
            };
            fill_identity(inventory, &mut identity);
            identity
        });
        let properties = FlowLogProperties {
            storage_id,
            enabled: fl.enabled,
            enabled_filtering_criteria: fl.enabled_filtering_criteria.clone(),
            record_types: fl.record_types.clone(),
            retention_policy: fl.retention_policy,
            format: fl.format.clone(),
        };
        let location = world.watchers[watcher].location.clone();
        let tags = (!fl.tags.is_empty()).then(|| fl.tags.clone());
        let settings = FlowLogConfig { properties, traffic_analytics, identity };
        flow_logs.push(StoredFlowLog::new(watcher, name, location, target, tags, settings));
    };
    for sub in &inventory.subscriptions {
        for n in &sub.network_security_groups {
            let Some(fl) = &n.flow_log else { continue };
            let watcher = world.watchers.iter().position(|w| {
                w.subscription.eq_ignore_ascii_case(&sub.id) && w.location.eq_ignore_ascii_case(&n.location)
            });
            let target = world.target(&arm_id(&sub.id, &n.resource_group, NSG_TYPE, &n.name));
            if let (Some(watcher), Some(target)) = (watcher, target) {
                let name = fl.name.clone().unwrap_or_else(|| flow_log_name(&n.resource_group, &n.name));
                let target = target.id.to_string();
                add(watcher, name, target, fl);
            }
        }
        for w in &sub.network_watchers {
            let id = arm_id(&sub.id, &w.resource_group, WATCHER_TYPE, &w.name);
            let Some(watcher) = world.watchers.iter().position(|x| same_id(&x.id, &id)) else { continue };
            for fl in &w.flow_logs {
                let target = fl.target_resource_id.as_deref().and_then(|t| world.target(t)).map(|t| t.id.to_string());
                if let (Some(name), Some(target)) = (fl.name.clone(), target) {
                    add(watcher, name, target, fl);
                }
            }
        }
    }
    flow_logs
}

/// Fills `clientId`/`principalId` of each user-assigned identity, as Azure's responses do: the inventory's
/// managed identity with that resource ID, or GUIDs derived from the ID so that every answer is the same.
pub(super) fn fill_identity(inventory: &Inventory, identity: &mut ManagedServiceIdentity) {
    for (id, value) in identity.user_assigned_identities.iter_mut().flatten() {
        let known =
            inventory.managed_identities.iter().find(|m| m.resource_id.as_deref().is_some_and(|r| same_id(r, id)));
        let lower = id.to_ascii_lowercase();
        *value = UserAssignedIdentity {
            client_id: Some(known.map_or_else(|| derived_guid(&format!("clientId:{lower}")), |m| m.client_id.clone())),
            principal_id: Some(
                known.map_or_else(|| derived_guid(&format!("principalId:{lower}")), |m| m.principal_id.clone()),
            ),
        };
    }
}

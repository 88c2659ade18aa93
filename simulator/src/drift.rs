//! Drift, for the admin API and tests: what the store holds, as the APIs would answer it, and changes to it behind
//! the APIs' back, without their checks.

use super::flow_log_store::{FlowLogConfig, StoredFlowLog, fill_identity};
use super::rules::flow_log_name;
use super::state::State;
use flowlog_wire::id::{ResourceId, same_id};
use flowlog_wire::model::{FlowLog, FlowLogInformation, ManagedServiceIdentity, TrafficAnalyticsProperties};

impl State {
    /// What queryFlowLogStatus would answer for this NSG now.
    pub(super) fn flow_log_status(&self, target_resource_id: &str) -> Option<FlowLogInformation> {
        self.world.nsgs.iter().position(|n| same_id(&n.id, target_resource_id)).map(|i| self.legacy_status(i))
    }

    pub(super) fn all_flow_log_statuses(&self) -> Vec<FlowLogInformation> {
        (0..self.world.nsgs.len()).map(|i| self.legacy_status(i)).collect()
    }

    /// Drift: stores `info` as the NSG's flow log, creating one if needed, without the API's checks.
    pub(super) fn set_flow_log(&mut self, info: FlowLogInformation) -> Result<(), String> {
        let nsg = self
            .world
            .nsgs
            .iter()
            .position(|n| same_id(&n.id, &info.target_resource_id))
            .ok_or_else(|| format!("no network security group {:?} in the inventory", info.target_resource_id))?;
        let mut identity = match info.identity {
            Some(v) => Some(serde_json::from_value::<ManagedServiceIdentity>(v).map_err(|e| format!("identity: {e}"))?),
            None => None,
        };
        if let Some(i) = identity.as_mut() {
            fill_identity(&self.inventory, i);
        }
        let analytics = match info.flow_analytics_configuration {
            Some(v) => Some(
                serde_json::from_value::<TrafficAnalyticsProperties>(v)
                    .map_err(|e| format!("flowAnalyticsConfiguration: {e}"))?,
            ),
            None => None,
        };
        let settings = FlowLogConfig::new(info.properties, analytics, identity);
        let n = &self.world.nsgs[nsg];
        let target = n.id.clone();
        match self.flow_log_of_target(&target) {
            Some(i) => settings.apply(&mut self.flow_logs[i]),
            None => {
                let w = self
                    .world
                    .watchers
                    .iter()
                    .position(|w| {
                        ResourceId::parse(&target).is_ok_and(|t| w.subscription.eq_ignore_ascii_case(&t.subscription))
                            && w.location.eq_ignore_ascii_case(&n.location)
                    })
                    .ok_or_else(|| format!("no network watcher in {} to hold a flow log of {target}", n.location))?;
                let name = flow_log_name(&n.resource_group, &n.name);
                if self.flow_logs.iter().any(|f| f.is(w, &name)) {
                    return Err(format!("flow log {name} of the watcher in {} targets another resource", n.location));
                }
                let location = self.world.watchers[w].location.clone();
                self.flow_logs.push(StoredFlowLog::new(w, name, location, target, None, settings));
            }
        }
        Ok(())
    }

    /// Every flow-log resource, as `GET .../flowLogs/{name}` would answer it.
    pub(super) fn flow_log_resources(&self) -> Vec<FlowLog> {
        self.flow_logs.iter().map(|f| self.resource_view(f, self.provisioning_state(f))).collect()
    }

    /// Drift: stores a flow-log resource (named by its `id`) as given, creating it if needed, without the API's
    /// checks beyond an existing watcher and target and one flow log per target.
    pub(super) fn set_flow_log_resource(&mut self, flow_log: FlowLog) -> Result<(), String> {
        let id = flow_log.id.as_deref().ok_or("the flow log has no id")?;
        let (w, name) = self
            .world
            .watchers
            .iter()
            .enumerate()
            .find_map(|(w, watcher)| {
                let prefix = format!("{}/flowLogs/", watcher.id);
                let name = id.get(prefix.len()..).filter(|n| !n.is_empty() && !n.contains('/'))?;
                id[..prefix.len()].eq_ignore_ascii_case(&prefix).then(|| (w, name.to_string()))
            })
            .ok_or_else(|| format!("{id:?} is not the ID of a flow log of a network watcher of the inventory"))?;
        let props = flow_log.properties;
        let target = self
            .world
            .target(&props.target_resource_id)
            .ok_or_else(|| format!("no flow-log target {:?} in the inventory", props.target_resource_id))?
            .id
            .to_string();
        if let Some(other) = self.flow_log_of_target(&target).filter(|j| !self.flow_logs[*j].is(w, &name)) {
            return Err(format!("{target} already has flow log {}", self.flow_log_id(&self.flow_logs[other])));
        }
        let mut settings = FlowLogConfig::of_resource(props, flow_log.identity);
        if let Some(s) = self.world.storage.iter().find(|s| same_id(&s.id, &settings.properties.storage_id)) {
            settings.properties.storage_id = s.id.clone();
        }
        if let Some(i) = settings.identity.as_mut() {
            fill_identity(&self.inventory, i);
        }
        self.write_flow_log(w, &name, target, flow_log.tags, settings);
        Ok(())
    }
}

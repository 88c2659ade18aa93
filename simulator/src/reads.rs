//! The read operations of the resources around flow logs: network watchers (get, list, list all), NSGs (get, list,
//! list all), virtual networks, subnets, NICs and Log Analytics workspaces, with the flow logs that target them.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::reply::{ErrorReply, Reply};
use super::request::WatcherRef;
use super::state::State;
use super::world::{ResourcePath, VNET_TYPE};

impl State {
    pub(super) fn get_watcher(&self, at: &WatcherRef) -> Result<Reply, ErrorReply> {
        let w = self.world.watcher_index(&at.path())?;
        Ok(Reply::json(StatusCode::OK, &self.world.watcher_json(w)))
    }

    /// NetworkWatchers_List (`resource_group`) and _ListAll: one page, `value` only, as the examples show.
    pub(super) fn list_watchers(&self, subscription: &str, resource_group: Option<&str>) -> Result<Reply, ErrorReply> {
        let ids = self.world.watchers.iter().map(|w| w.id.as_str());
        self.list_in_scope(subscription, resource_group, ids, |w| self.world.watcher_json(w))
    }

    pub(super) fn get_nsg(&self, at: &ResourcePath) -> Result<Reply, ErrorReply> {
        let (i, nsg) = self.world.find(&self.world.nsgs, |n| &n.id, at)?;
        Ok(Reply::json(StatusCode::OK, &self.world.nsg_json(i, self.flow_log_refs(&nsg.id))))
    }

    pub(super) fn list_nsgs(&self, subscription: &str, resource_group: Option<&str>) -> Result<Reply, ErrorReply> {
        let ids = self.world.nsgs.iter().map(|n| n.id.as_str());
        self.list_in_scope(subscription, resource_group, ids, |i| {
            self.world.nsg_json(i, self.flow_log_refs(&self.world.nsgs[i].id))
        })
    }

    pub(super) fn get_vnet(&self, at: &ResourcePath) -> Result<Reply, ErrorReply> {
        let (i, vnet) = self.world.find(&self.world.vnets, |v| &v.id, at)?;
        Ok(Reply::json(StatusCode::OK, &self.world.vnet_json(i, self.flow_log_refs(&vnet.id))))
    }

    /// `at.name` is `{vnet}/subnets/{subnet}`, the virtual network's own 404 first.
    pub(super) fn get_subnet(&self, at: &ResourcePath, vnet: &str, subnet: &str) -> Result<Reply, ErrorReply> {
        let vnet_path = ResourcePath { resource_type: VNET_TYPE.into(), name: vnet, ..*at };
        let (v, _) = self.world.find(&self.world.vnets, |v| &v.id, &vnet_path)?;
        let i = self.world.vnets[v]
            .subnets
            .iter()
            .copied()
            .find(|s| self.world.subnets[*s].name.eq_ignore_ascii_case(subnet))
            .ok_or_else(|| at.not_found())?;
        Ok(Reply::json(StatusCode::OK, &self.world.subnet_json(i, true)))
    }

    pub(super) fn get_nic(&self, at: &ResourcePath) -> Result<Reply, ErrorReply> {
        let (i, _) = self.world.find(&self.world.nics, |n| &n.id, at)?;
        Ok(Reply::json(StatusCode::OK, &self.world.nic_json(i)))
    }

    pub(super) fn get_workspace(&self, at: &ResourcePath) -> Result<Reply, ErrorReply> {
        let (i, _) = self.world.find(&self.world.workspaces, |w| &w.id, at)?;
        Ok(Reply::json(StatusCode::OK, &self.world.workspace_json(i)))
    }

    /// A list of the resources (by their `ids`, in order) in the subscription (and resource group), after ARM's
    /// checks of both: one page, `value` only, as the examples show; `json_of` renders the resource at an index.
    fn list_in_scope<'a>(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
        ids: impl Iterator<Item = &'a str>,
        json_of: impl Fn(usize) -> Value,
    ) -> Result<Reply, ErrorReply> {
        match resource_group {
            Some(rg) => self.world.resource_group(subscription, rg)?,
            None => _ = self.world.sub(subscription)?,
        }
        let value: Vec<Value> = ids
            .enumerate()
            .filter(|(_, id)| in_scope(id, subscription, resource_group))
            .map(|(i, _)| json_of(i))
            .collect();
        Ok(Reply::json(StatusCode::OK, &json!({"value": value})))
    }
}

/// Whether `id` lies in the subscription (and resource group).
fn in_scope(id: &str, subscription: &str, resource_group: Option<&str>) -> bool {
    let prefix = match resource_group {
        Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}/"),
        None => format!("/subscriptions/{subscription}/"),
    };
    id.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
}

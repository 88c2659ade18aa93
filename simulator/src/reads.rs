//! The reads of single resources around flow logs: network watchers, NSGs, virtual networks, subnets, NICs, storage
//! accounts and Log Analytics workspaces, with the flow logs that target them. Their lists are in `lists.rs`.

use axum::http::StatusCode;

use super::reply::{ErrorReply, Reply};
use super::request::WatcherRef;
use super::state::State;
use super::world::{ResourcePath, VNET_TYPE};

impl State {
    pub(super) fn get_watcher(&self, at: &WatcherRef) -> Result<Reply, ErrorReply> {
        let w = self.world.watcher_index(&at.path())?;
        Ok(Reply::json(StatusCode::OK, &self.world.watcher_json(w)))
    }

    pub(super) fn get_nsg(&self, at: &ResourcePath) -> Result<Reply, ErrorReply> {
        let (i, nsg) = self.world.find(&self.world.nsgs, |n| &n.id, at)?;
        Ok(Reply::json(StatusCode::OK, &self.world.nsg_json(i, self.flow_log_refs(&nsg.id))))
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

    pub(super) fn get_storage_account(&self, at: &ResourcePath) -> Result<Reply, ErrorReply> {
        let (i, _) = self.world.find(&self.world.storage, |s| &s.id, at)?;
        Ok(Reply::json(StatusCode::OK, &self.world.storage_account_json(i)))
    }
}

//! [`Simulator`], the handle on a running simulator's shared state: what tests, the demo and the admin API read and
//! change. Serving it (`router`, `serve`, `spawn_local`) is in the crate root, above the HTTP layer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::delivery::{Delivery, DeliveryReport, Paused};
use super::faults::{FaultRule, Faults};
use super::inventory::{Inventory, NetworkInterface, NetworkSecurityGroup, Throttling, VirtualNetwork};
use super::resources::{Applied, ResourceError};
use super::state::State;
use super::write_log::{AcceptedWrite, FlowLogChange, WriteLog};
use flowlog_wire::model::{FlowLog, FlowLogInformation};

/// A running simulator's shared state; clones share it.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
    /// The write log, once [`Simulator::record_writes`] switched it on.
    log: Arc<Mutex<Option<WriteLog>>>,
    /// Flow-log delivery to storage (held across awaits, hence tokio's mutex).
    delivery: Arc<tokio::sync::Mutex<Delivery>>,
}

impl Simulator {
    /// Serves `inventory` as given; use [`Inventory::from_yaml`] or [`Inventory::validate`] to check it first.
    pub fn new(inventory: Inventory) -> Simulator {
        let state = State::new(inventory);
        let delivery = Delivery::new(state.world.tenant.clone());
        Simulator {
            state: Arc::new(Mutex::new(state)),
            log: Arc::default(),
            delivery: Arc::new(tokio::sync::Mutex::new(delivery)),
        }
    }

    /// Delivers enabled flow logs' records to the Blob service at `endpoint` (path-style, https; Azurite in the
    /// tests), trusting the PEM certificates `ca_pem` besides the system's, with records from `seed`. Storage
    /// accounts then show `{endpoint}{name}/` as their blob endpoint. Nothing is written until
    /// [`Simulator::deliver`] is called.
    pub async fn set_storage_endpoint(
        &self,
        endpoint: url::Url,
        ca_pem: Option<&[u8]>,
        seed: u64,
    ) -> Result<(), String> {
        let mut delivery = self.delivery.lock().await;
        delivery.configure(endpoint.clone(), ca_pem)?;
        delivery.seed = seed;
        self.lock().world.blob_endpoint = delivery.endpoint.as_ref().map(url::Url::to_string);
        Ok(())
    }

    /// Writes the records of `minutes` minutes from `from` (Unix seconds; rounded down to a minute) of every
    /// enabled flow log to its storage account, as Network Watcher does, skipping paused ones and minutes already
    /// written.
    pub async fn deliver(&self, from: u64, minutes: u32) -> Result<DeliveryReport, String> {
        let flow_logs = self.flow_log_resources();
        self.delivery.lock().await.deliver(&flow_logs, from, minutes).await
    }

    /// What [`Simulator::deliver`] would write for those minutes with `seed`, written nowhere (no storage endpoint
    /// needed).
    pub fn preview_delivery(&self, from: u64, minutes: u32, seed: u64) -> Vec<super::delivery::Delivered> {
        super::delivery::preview(&self.flow_log_resources(), from, minutes, seed)
    }

    /// What delivery skips.
    pub async fn delivery_paused(&self) -> Paused {
        self.delivery.lock().await.paused.clone()
    }

    /// Pauses (or resumes, `paused: false`) delivery to a storage account (by name) or of a flow log (by ID).
    pub async fn pause_delivery(&self, storage_account: Option<&str>, flow_log: Option<&str>, paused: bool) {
        let mut delivery = self.delivery.lock().await;
        let set = |set: &mut std::collections::BTreeSet<String>, value: Option<&str>| {
            if let Some(value) = value {
                if paused {
                    set.insert(value.to_ascii_lowercase());
                } else {
                    set.remove(&value.to_ascii_lowercase());
                }
            }
        };
        set(&mut delivery.paused.storage_accounts, storage_account);
        set(&mut delivery.paused.flow_logs, flow_log);
    }

    /// Calls per operation name, failed ones included.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.lock().counters()
    }

    pub fn reset_counters(&self) {
        self.lock().reset_counters();
    }

    /// What queryFlowLogStatus would answer for this NSG now (None if the NSG is unknown).
    pub fn flow_log_status(&self, target_resource_id: &str) -> Option<FlowLogInformation> {
        self.lock().flow_log_status(target_resource_id)
    }

    /// Change an NSG's flow log behind the operator's back (drift); creates it if none exists.
    pub fn set_flow_log(&self, info: FlowLogInformation) -> Result<(), String> {
        self.lock().set_flow_log(info)
    }

    /// Every `flowLogs` resource (NSG, VNet, subnet and NIC flow logs), as `GET .../flowLogs/{name}` answers it.
    pub fn flow_log_resources(&self) -> Vec<FlowLog> {
        self.lock().flow_log_resources()
    }

    /// Drift of a `flowLogs` resource named by its `id`: replaces or creates it without the API's checks.
    pub fn set_flow_log_resource(&self, flow_log: FlowLog) -> Result<(), String> {
        self.lock().set_flow_log_resource(flow_log)
    }

    /// The fault rules, counts as they stand.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.lock().faults.rules()
    }

    /// Replaces the fault rules (all validated first; none is taken if one is invalid).
    pub fn set_faults(&self, rules: Vec<FaultRule>) -> Result<(), String> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate().map_err(|why| format!("fault {}: {why}", i + 1))?;
        }
        self.lock().faults = Faults::new(rules);
        Ok(())
    }

    /// New throttling limits; every bucket starts full.
    pub fn set_throttling(&self, config: Throttling) -> Result<(), String> {
        config.validate()?;
        self.lock().throttle.configure(config);
        Ok(())
    }

    /// Fills every throttling bucket.
    pub fn reset_throttling(&self) {
        self.lock().throttle.reset();
    }

    /// Adds a virtual network (with its subnets) to `subscription`, or replaces the one of that name and resource
    /// group (keeping its name's casing), as the inventory describes it. Checked like the inventory (names,
    /// region, prefixes, tags, the NSGs its subnets name, the NICs in the subnets it would drop); on an error
    /// nothing changes.
    pub fn put_virtual_network(&self, subscription: &str, vnet: VirtualNetwork) -> Result<Applied, ResourceError> {
        self.lock().put_resource(subscription, vnet)
    }

    /// Removes a virtual network and its subnets; refused while NICs are in its subnets. Flow logs that target
    /// it or its subnets stay (see `resources.rs`).
    pub fn remove_virtual_network(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        self.lock().remove_resource::<VirtualNetwork>(subscription, resource_group, name)
    }

    /// Adds a network interface to `subscription` or replaces the one of that name and resource group, as
    /// [`Simulator::put_virtual_network`] does.
    pub fn put_network_interface(&self, subscription: &str, nic: NetworkInterface) -> Result<Applied, ResourceError> {
        self.lock().put_resource(subscription, nic)
    }

    /// Removes a network interface; flow logs that target it stay.
    pub fn remove_network_interface(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        self.lock().remove_resource::<NetworkInterface>(subscription, resource_group, name)
    }

    /// Adds a network security group to `subscription` or replaces the one of that name and resource group, as
    /// [`Simulator::put_virtual_network`] does; without `flowLog` (flow logs come from the APIs or drift).
    pub fn put_network_security_group(
        &self,
        subscription: &str,
        nsg: NetworkSecurityGroup,
    ) -> Result<Applied, ResourceError> {
        self.lock().put_resource(subscription, nsg)
    }

    /// Removes a network security group; refused while it is attached to a subnet or NIC. Its flow log stays.
    pub fn remove_network_security_group(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        self.lock().remove_resource::<NetworkSecurityGroup>(subscription, resource_group, name)
    }

    /// Starts recording every change to the flow logs (or starts over): see [`Simulator::writes`].
    pub fn record_writes(&self) {
        let state = self.lock();
        *self.log.lock().unwrap_or_else(PoisonError::into_inner) = Some(WriteLog::new(&state.flow_logs));
    }

    /// Every change to the flow logs since [`Simulator::record_writes`], oldest first (empty when not recording).
    pub fn writes(&self) -> Vec<FlowLogChange> {
        drop(self.lock());
        self.log.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|l| l.changes.clone()).unwrap_or_default()
    }

    /// Every write request accepted since [`Simulator::record_writes`] (`configureFlowLog`, `flowLogs` PUT and
    /// DELETE that passed their checks), oldest first, whether or not it changed anything (empty when not recording).
    pub fn accepted_writes(&self) -> Vec<AcceptedWrite> {
        drop(self.lock());
        self.log.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|l| l.accepted.clone()).unwrap_or_default()
    }

    /// The access tokens the simulator issued that it still knows (for tests that check none leaked anywhere).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.issued().map(str::to_string).collect()
    }

    /// The state, caught up with the clock (timed operations whose time is up are done), so that whatever reads
    /// it next sees their end. No code path panics while holding the lock, but a poisoned lock still holds
    /// consistent state.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.catch_up();
        // What the previous holder changed is logged before the next one changes more.
        let accepted = std::mem::take(&mut state.accepted_writes);
        if let Some(log) = self.log.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            log.accepted(accepted);
            log.catch_up(&state.flow_logs);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::test_fixtures::{SUB, WEU, ctx, enable, nsg_id};

    /// The built-in inventory with operations of 200 ms (wall clock) and IDs in stored casing.
    fn simulator() -> Simulator {
        let mut inventory = Inventory::builtin();
        inventory.behaviour.lro.duration_ms = 200;
        inventory.behaviour.quirks.upper_case_resource_groups = false;
        Simulator::new(inventory)
    }

    fn provisioning_state(sim: &Simulator, target: &str) -> String {
        let resources = sim.flow_log_resources();
        let fl = resources.iter().find(|f| f.properties.target_resource_id == target).unwrap();
        fl.properties.provisioning_state.clone().unwrap()
    }

    #[test]
    fn an_operation_nobody_polls_ends_after_its_duration() {
        let sim = simulator();
        let web = nsg_id("app-prod-rg", "web-nsg");
        let body = enable("web-nsg", "flowlogsweu001").to_string();
        sim.lock().configure(&ctx("op-1"), &WEU, body.as_bytes()).unwrap();
        assert_eq!(provisioning_state(&sim, &web), "Updating");
        assert_eq!(
            sim.lock().configure(&ctx("op-2"), &WEU, body.as_bytes()).unwrap_err().error.code,
            "AnotherOperationInProgress"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(provisioning_state(&sim, &web), "Succeeded", "done without a poll");
        let done = sim.lock().poll(SUB, "westeurope", "op-1", false).unwrap();
        assert_eq!(done.body.unwrap(), json!({"status": "Succeeded"}));
        assert!(sim.lock().configure(&ctx("op-3"), &WEU, body.as_bytes()).is_ok(), "the lock is free");
    }

    #[test]
    fn the_write_log_has_every_change_in_order_and_nothing_else() {
        let sim = simulator();
        let web = nsg_id("app-prod-rg", "web-nsg");
        let db = nsg_id("app-prod-rg", "db-nsg");
        assert!(sim.writes().is_empty(), "off until asked for");
        sim.record_writes();
        let mut disable = enable("web-nsg", "flowlogsweu001");
        disable["properties"]["enabled"] = json!(false);
        sim.lock().configure(&ctx("off"), &WEU, disable.to_string().as_bytes()).unwrap();
        sim.lock().configure(&ctx("on"), &WEU, enable("db-nsg", "flowlogsweu001").to_string().as_bytes()).unwrap();
        let _ = sim.flow_log_resources(); // reads change nothing
        let writes = sim.writes();
        let seen: Vec<(u64, &str, Option<bool>, Option<bool>)> =
            writes.iter().map(|w| (w.seq, w.target.as_str(), w.before, w.after)).collect();
        assert_eq!(seen, [(1, web.as_str(), Some(true), Some(false)), (2, db.as_str(), Some(false), Some(true))]);
        // A write that sets what the flow log already has changes nothing, but is a write all the same.
        std::thread::sleep(Duration::from_millis(250)); // the first write's operation ends
        sim.lock().configure(&ctx("again"), &WEU, disable.to_string().as_bytes()).unwrap();
        assert_eq!(sim.writes().len(), 2);
        let accepted: Vec<(String, String)> =
            sim.accepted_writes().into_iter().map(|w| (w.operation, w.target)).collect();
        let configure = |t: &str| ("configureFlowLog".to_string(), t.to_string());
        assert_eq!(accepted, [configure(&web), configure(&db), configure(&web)]);
    }

    #[test]
    fn a_failure_nobody_polls_restores_the_flow_log_at_its_deadline() {
        let sim = simulator();
        let web = nsg_id("app-prod-rg", "web-nsg");
        let before = sim.flow_log_status(&web).unwrap();
        let faults = json!([{"operation": "configureFlowLog", "count": 1, "effect": {"lro": {"end": "Failed"}}}]);
        sim.set_faults(serde_json::from_value(faults).unwrap()).unwrap();
        let mut body = enable("web-nsg", "flowlogsweu001");
        body["properties"]["retentionPolicy"] = json!({"days": 90, "enabled": true});
        sim.lock().configure(&ctx("failing"), &WEU, body.to_string().as_bytes()).unwrap();
        assert_ne!(sim.flow_log_status(&web).unwrap(), before, "applied while running");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(sim.flow_log_status(&web).unwrap(), before, "undone at the deadline, polled or not");
    }
}

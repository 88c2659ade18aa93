//! [`Simulator`], the handle on a running simulator's shared state: what tests, the demo and the admin API read and
//! change. Serving it (`router`, `serve`, `spawn_local`) is in the crate root, above the HTTP layer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::faults::{FaultRule, Faults};
use super::inventory::{Inventory, Throttling};
use super::state::State;
use flowlog_wire::model::{FlowLog, FlowLogInformation};

/// A running simulator's shared state; clones share it.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
}

impl Simulator {
    /// Serves `inventory` as given; use [`Inventory::from_yaml`] or [`Inventory::validate`] to check it first.
    pub fn new(inventory: Inventory) -> Simulator {
        Simulator { state: Arc::new(Mutex::new(State::new(inventory))) }
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

    /// No code path panics while holding the lock, but a poisoned lock still holds consistent state.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! [`State`]: everything the simulator holds, the one struct behind the `Simulator`'s mutex, kept free of HTTP so
//! unit tests can drive it. This file holds the struct and the entry points to parts that need more than one of its
//! fields. The parts live in their own files: the resources around flow logs in `world.rs` (their JSON in
//! `resource_views.rs`), the flow-log store's records in `flow_log_store.rs`, long-running operations in `lro.rs`,
//! provider registration in `providers.rs`, call counters in `counters.rs`, tokens in `auth.rs`, throttling in
//! `rate_limit.rs`, faults in `faults.rs`. The operations on it are `impl State` blocks, one file per concern: how
//! flow logs are answered in `flow_log_views.rs`, the checks of a write in `write_checks.rs`, the `flowLogs` resource
//! in `flowlogs.rs`, the legacy actions in `legacy.rs`, the other reads in `reads.rs` and `lists.rs`, the admin API's
//! drift in `drift.rs`, and the resources it adds and removes in `resources.rs`.

use std::collections::BTreeMap;
use std::time::Instant;

use super::auth::Tokens;
use super::counters::Counters;
use super::faults::{Faults, LroFault};
use super::flow_log_store::{self, StoredFlowLog};
use super::inventory::Inventory;
use super::lro::{self, NewOperation, Operations};
use super::providers::Providers;
use super::rate_limit::RateLimiter;
use super::reply::{ErrorReply, Reply};
use super::request::RequestContext;
use super::world::World;

pub(super) struct State {
    /// As the simulator started: its behaviour, principals and identities; served by `GET /_sim/inventory`.
    pub inventory: Inventory,
    /// The inventory's resources as they stand: as started, with the changes of `resources.rs`, without flow logs
    /// (once started, those live in `flow_logs`). `world` is built from it.
    pub resources: Inventory,
    pub world: World,
    /// The one flow-log store behind both APIs.
    pub flow_logs: Vec<StoredFlowLog>,
    pub operations: Operations,
    pub providers: Providers,
    pub tokens: Tokens,
    pub counters: Counters,
    pub throttle: RateLimiter,
    pub faults: Faults,
    /// Writes accepted since the handle last looked, as (operation, target ID in inventory casing): the handle moves
    /// them to the write log (or drops them when it is off).
    pub accepted_writes: Vec<(&'static str, String)>,
}

impl State {
    /// The inventory must be valid ([`Inventory::validate`]); invalid references are skipped.
    pub(super) fn new(inventory: Inventory) -> State {
        let mut resources = inventory.clone();
        for sub in &mut resources.subscriptions {
            sub.network_watchers.iter_mut().for_each(|w| w.flow_logs.clear());
            sub.network_security_groups.iter_mut().for_each(|n| n.flow_log = None);
        }
        let world = World::new(&resources);
        State {
            resources,
            flow_logs: flow_log_store::load(&inventory, &world),
            providers: Providers::new(&inventory),
            throttle: RateLimiter::new(inventory.behaviour.throttling.clone()),
            faults: Faults::new(inventory.behaviour.faults.clone()),
            world,
            operations: Operations::default(),
            tokens: Tokens::default(),
            counters: Counters::default(),
            accepted_writes: Vec::new(),
            inventory,
        }
    }

    // ---- counters ----------------------------------------------------------------------------------------------

    pub(super) fn count(&mut self, operation: &str) {
        self.counters.count(operation);
    }

    pub(super) fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.snapshot()
    }

    pub(super) fn reset_counters(&mut self) {
        self.counters.reset();
    }

    /// A write (`configureFlowLog`, a `flowLogs` PUT or DELETE) on `target` passed every check and is applied now.
    pub(super) fn accept_write(&mut self, ctx: &RequestContext, target: &str) {
        self.accepted_writes.push((ctx.operation, target.to_string()));
    }

    // ---- long-running operations -------------------------------------------------------------------------------

    /// The `lro` fault for the operation starting now; in `sync` mode one that fails the operation fails the request.
    pub(super) fn lro_fault(&mut self, ctx: &RequestContext) -> Result<Option<LroFault>, ErrorReply> {
        lro::lro_fault(&mut self.faults, self.inventory.behaviour.lro.mode, ctx.operation)
    }

    /// Applies what the clock made due: the ends of timed operations whose time is up, and forgetting finished
    /// ones after their retention. The handle calls it whenever it locks the state, so every request sees them.
    pub(super) fn catch_up(&mut self) {
        self.operations.catch_up(&mut self.flow_logs, Instant::now());
    }

    /// Registers an operation; answers its status URL, result URL and Retry-After.
    pub(super) fn start(
        &mut self,
        ctx: &RequestContext,
        op: NewOperation,
        fault: Option<LroFault>,
    ) -> (String, String, u32) {
        self.operations.start(&mut self.flow_logs, &self.inventory.behaviour.lro, ctx, op, fault, Instant::now())
    }

    /// One poll of either operation URL (`result`: the `Location` one).
    pub(super) fn poll(
        &mut self,
        subscription: &str,
        location: &str,
        operation_id: &str,
        result: bool,
    ) -> Result<Reply, ErrorReply> {
        self.operations.poll(&mut self.flow_logs, subscription, location, operation_id, result, Instant::now())
    }

    /// `Updating` or `Deleting` while an operation on the flow log is in flight, else `Succeeded`.
    pub(super) fn provisioning_state(&self, fl: &StoredFlowLog) -> &'static str {
        self.operations.provisioning_state(fl)
    }

    /// Moves the poll-counted operation in flight on this flow log one step on, as a poll would.
    pub(super) fn advance_flow_log_operation(&mut self, fl: usize) {
        self.operations.advance(&mut self.flow_logs, fl, Instant::now());
    }

    // ---- provider registration ---------------------------------------------------------------------------------

    /// `GET /subscriptions/{sub}/providers/{namespace}` (`register: false`) or `POST .../register`.
    pub(super) fn provider(
        &mut self,
        subscription: &str,
        namespace: &str,
        register: bool,
    ) -> Result<Reply, ErrorReply> {
        let sub = self.world.sub(subscription)?.id.clone();
        self.providers.answer(&sub, namespace, register, self.inventory.behaviour.provider_registration_reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation_names::{CONFIGURE_FLOW_LOG, OPERATIONS, TOKEN};

    #[test]
    fn counts_calls() {
        let mut state = State::new(Inventory::builtin());
        state.count(CONFIGURE_FLOW_LOG);
        state.count(CONFIGURE_FLOW_LOG);
        assert_eq!(state.counters()[CONFIGURE_FLOW_LOG], 2);
        assert_eq!(state.counters()[TOKEN], 0);
        assert_eq!(state.counters().len(), OPERATIONS.len());
        state.reset_counters();
        assert!(state.counters().values().all(|n| *n == 0));
    }
}

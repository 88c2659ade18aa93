//! Fixtures of the unit tests that drive [`State`]: the built-in inventory's IDs, a state in either LRO mode, and
//! requests to the legacy actions.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::faults::{FaultRule, Faults};
use super::inventory::{Inventory, LroMode};
use super::operation_names::CONFIGURE_FLOW_LOG;
use super::reply::ErrorReply;
use super::request::{RequestContext, WatcherRef};
use super::state::State;

pub(super) use super::defaults::{DEFAULT_SUBSCRIPTION_ID as SUB, SECOND_SUBSCRIPTION_ID};

pub(super) const WEU: WatcherRef =
    WatcherRef { subscription: SUB, resource_group: "NetworkWatcherRG", name: "NetworkWatcher_westeurope" };

pub(super) fn nsg_id(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

pub(super) fn storage_id(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
}

/// The built-in inventory with IDs answered in stored casing, and poll-counted operations (`in_progress_polls`
/// polls answered "InProgress") so that the tests need no clock.
pub(super) fn state(mode: LroMode, in_progress_polls: u32) -> State {
    let mut inventory = Inventory::builtin();
    inventory.behaviour.lro.mode = mode;
    inventory.behaviour.lro.in_progress_polls = Some(in_progress_polls);
    inventory.behaviour.quirks.upper_case_resource_groups = false;
    State::new(inventory)
}

pub(super) fn ctx(request_id: &str) -> RequestContext<'_> {
    RequestContext { base: "http://sim", api_version: "2025-07-01", request_id, operation: CONFIGURE_FLOW_LOG }
}

/// configureFlowLog in sync mode.
pub(super) fn configure(state: &mut State, at: &WatcherRef, body: Value) -> Result<Value, ErrorReply> {
    let reply = state.configure(&ctx("op"), at, body.to_string().as_bytes())?;
    assert_eq!(reply.status, StatusCode::OK, "sync mode answers 200");
    Ok(reply.body.unwrap())
}

pub(super) fn status(state: &State, rg: &str, nsg: &str) -> Value {
    serde_json::to_value(state.flow_log_status(&nsg_id(rg, nsg)).unwrap()).unwrap()
}

pub(super) fn enable(nsg: &str, storage: &str) -> Value {
    json!({
        "targetResourceId": nsg_id("app-prod-rg", nsg),
        "properties": {"storageId": storage_id(storage), "enabled": true},
    })
}

pub(super) fn disabled_shape(target: &str) -> Value {
    json!({
        "targetResourceId": target,
        "properties": {"storageId": "", "enabled": false, "retentionPolicy": {"days": 0, "enabled": false}},
    })
}

pub(super) fn code<T: std::fmt::Debug>(result: Result<T, ErrorReply>) -> (u16, String) {
    let e = result.expect_err("must fail");
    (e.status.as_u16(), e.error.code)
}

pub(super) fn faults(state: &mut State, rules: Value) {
    let rules: Vec<FaultRule> = serde_json::from_value(rules).unwrap();
    state.faults = Faults::new(rules);
}

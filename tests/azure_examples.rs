//! Every official example body in `../shared/azure-api/examples/` that the client reads or writes round-trips
//! through the client's wire types unchanged: nothing Azure sends is lost, nothing is invented on the way back.

mod common;

use common::examples::example;
use flowlog_operator::azure::model::{ArmResource, FlowLog, FlowLogInformation, FlowLogStatusParameters, ListResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A body that must round-trip: the example file, the body's JSON pointer in it, the wire type it goes through.
type Body = (&'static str, &'static str, fn(&str, &Value));

const REQUEST: &str = "/parameters/parameters";
const OK: &str = "/responses/200/body";
const CREATED: &str = "/responses/201/body";
const ACCEPTED: &str = "/responses/202/body";

const LEGACY_ACTIONS: &[Body] = &[
    ("NetworkWatcherFlowLogConfigure.json", REQUEST, round_trip::<FlowLogInformation>),
    ("NetworkWatcherFlowLogConfigure.json", OK, round_trip::<FlowLogInformation>),
    ("NetworkWatcherFlowLogConfigure.json", ACCEPTED, round_trip::<FlowLogInformation>),
    ("NetworkWatcherFlowLogStatusQuery.json", REQUEST, round_trip::<FlowLogStatusParameters>),
    ("NetworkWatcherFlowLogStatusQuery.json", OK, round_trip::<FlowLogInformation>),
    ("NetworkWatcherFlowLogStatusQuery.json", ACCEPTED, round_trip::<FlowLogInformation>),
];

const FLOW_LOG_RESOURCES: &[Body] = &[
    ("NetworkWatcherFlowLogCreate.json", REQUEST, round_trip::<FlowLog>),
    ("NetworkWatcherFlowLogCreate.json", OK, round_trip::<FlowLog>),
    ("NetworkWatcherFlowLogCreate.json", CREATED, round_trip::<FlowLog>),
    ("NetworkWatcherFlowLogGet.json", OK, round_trip::<FlowLog>),
    ("NetworkWatcherFlowLogList.json", OK, round_trip::<ListResult<FlowLog>>),
];

const TRACKED_RESOURCES: &[Body] = &[
    ("NetworkWatcherGet.json", OK, round_trip::<ArmResource>),
    ("NetworkWatcherList.json", OK, round_trip::<ListResult<ArmResource>>),
    ("NetworkWatcherListAll.json", OK, round_trip::<ListResult<ArmResource>>),
    ("NetworkSecurityGroupList.json", OK, round_trip::<ListResult<ArmResource>>),
    ("NetworkSecurityGroupListAll.json", OK, round_trip::<ListResult<ArmResource>>),
    ("NetworkSecurityGroupGet.json", OK, round_trip::<ArmResource>),
    ("VirtualNetworkGet.json", OK, round_trip::<ArmResource>),
];

fn round_trip_all(bodies: &[Body]) {
    for (file, pointer, round_trip) in bodies {
        let what = format!("{file} {pointer}");
        round_trip(&what, example(file).pointer(pointer).unwrap_or(&Value::Null));
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(what: &str, body: &Value) {
    assert!(!body.is_null(), "{what}: no such body in the example");
    let typed: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, body, "{what}: the body changed on its way through {}", std::any::type_name::<T>());
}

#[test]
fn legacy_action_bodies_round_trip() {
    round_trip_all(LEGACY_ACTIONS);
}

#[test]
fn flow_log_resource_bodies_round_trip() {
    round_trip_all(FLOW_LOG_RESOURCES);
}

#[test]
fn tracked_resource_reads_round_trip() {
    round_trip_all(TRACKED_RESOURCES);
}

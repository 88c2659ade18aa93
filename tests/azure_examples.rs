//! Every official example body in `../shared/azure-api/examples/` that the client reads or writes round-trips
//! through the client's wire types unchanged: nothing Azure sends is lost, nothing is invented on the way back.

mod common;

use flowlog_operator::azure::model::{ArmResource, FlowLog, FlowLogInformation, FlowLogStatusParameters, ListResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn example(name: &str) -> Value {
    let path = common::azure_examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn round_trip<T: DeserializeOwned + Serialize>(what: &str, body: &Value) {
    assert!(!body.is_null(), "{what}: no such body in the example");
    let typed: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, body, "{what}: the body changed on its way through {}", std::any::type_name::<T>());
}

#[test]
fn legacy_action_bodies_round_trip() {
    let configure = example("NetworkWatcherFlowLogConfigure.json");
    round_trip::<FlowLogInformation>("configure request", &configure["parameters"]["parameters"]);
    round_trip::<FlowLogInformation>("configure 200", &configure["responses"]["200"]["body"]);
    round_trip::<FlowLogInformation>("configure 202", &configure["responses"]["202"]["body"]);
    let query = example("NetworkWatcherFlowLogStatusQuery.json");
    round_trip::<FlowLogStatusParameters>("query request", &query["parameters"]["parameters"]);
    round_trip::<FlowLogInformation>("query 200", &query["responses"]["200"]["body"]);
    round_trip::<FlowLogInformation>("query 202", &query["responses"]["202"]["body"]);
}

#[test]
fn flow_log_resource_bodies_round_trip() {
    let create = example("NetworkWatcherFlowLogCreate.json");
    round_trip::<FlowLog>("create request", &create["parameters"]["parameters"]);
    for status in ["200", "201"] {
        if !create["responses"][status]["body"].is_null() {
            round_trip::<FlowLog>(&format!("create {status}"), &create["responses"][status]["body"]);
        }
    }
    round_trip::<FlowLog>("get 200", &example("NetworkWatcherFlowLogGet.json")["responses"]["200"]["body"]);
    round_trip::<ListResult<FlowLog>>(
        "list 200",
        &example("NetworkWatcherFlowLogList.json")["responses"]["200"]["body"],
    );
}

#[test]
fn tracked_resource_reads_round_trip() {
    round_trip::<ArmResource>("watcher get", &example("NetworkWatcherGet.json")["responses"]["200"]["body"]);
    for list in [
        "NetworkWatcherList.json",
        "NetworkWatcherListAll.json",
        "NetworkSecurityGroupList.json",
        "NetworkSecurityGroupListAll.json",
    ] {
        round_trip::<ListResult<ArmResource>>(list, &example(list)["responses"]["200"]["body"]);
    }
    round_trip::<ArmResource>("nsg get", &example("NetworkSecurityGroupGet.json")["responses"]["200"]["body"]);
    round_trip::<ArmResource>("vnet get", &example("VirtualNetworkGet.json")["responses"]["200"]["body"]);
}

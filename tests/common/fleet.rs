//! Helpers of the runs with the shipped binaries (scale run, shards, fleet benchmark): NSGs with an existing flow log
//! for generated inventories, the simulator's counters over its admin API, and a process's memory from /proc.

use std::collections::BTreeMap;

use flowlog_operator::azure::model::RetentionPolicyParameters;
use flowlog_simulator::inventory::{InventoryFlowLog, InventoryWatcher, NetworkSecurityGroup, Resource, Subscription};

/// An NSG whose flow log exists and is on, writing to `storage_account` with `days` of retention.
pub fn nsg_with_flow_log(
    name: &str,
    resource_group: &str,
    location: &str,
    storage_account: &str,
    days: i32,
) -> NetworkSecurityGroup {
    NetworkSecurityGroup {
        name: name.into(),
        resource_group: resource_group.into(),
        location: location.into(),
        tags: Default::default(),
        security_rules: vec![],
        flow_log: Some(InventoryFlowLog {
            enabled: true,
            storage_account: Some(storage_account.into()),
            retention_policy: Some(RetentionPolicyParameters { enabled: true, days }),
            ..Default::default()
        }),
    }
}

/// `template` emptied of resources, in `regions` (name, short name), with Network Watcher's watcher and one storage
/// account (`storage(short)`, in `storage_group`) in each: the start of a generated fleet.
pub fn regional_subscription(
    template: &Subscription,
    regions: &[(&str, &str)],
    storage: impl Fn(&str) -> String,
    storage_group: &str,
) -> Subscription {
    let mut sub = template.clone();
    sub.locations = regions.iter().map(|(r, _)| r.to_string()).collect();
    sub.network_watchers.clear();
    sub.storage_accounts.clear();
    sub.network_security_groups.clear();
    sub.virtual_networks.clear();
    sub.network_interfaces.clear();
    sub.virtual_machine_scale_sets.clear();
    sub.workspaces.clear();
    for (region, short) in regions {
        sub.network_watchers.push(InventoryWatcher {
            name: format!("NetworkWatcher_{region}"),
            resource_group: "NetworkWatcherRG".into(),
            location: region.to_string(),
            tags: Default::default(),
            flow_logs: vec![],
        });
        sub.storage_accounts.push(Resource {
            name: storage(short),
            resource_group: storage_group.into(),
            location: region.to_string(),
        });
    }
    sub
}

/// Calls per operation of the simulator at `url` (`GET /_sim/counters`).
pub async fn sim_counters(url: &str) -> BTreeMap<String, u64> {
    reqwest::get(format!("{url}/_sim/counters")).await.unwrap().json().await.unwrap()
}

/// Sets the simulator's counters to zero (`POST /_sim/counters/reset`).
pub async fn reset_sim_counters(url: &str) {
    reqwest::Client::new().post(format!("{url}/_sim/counters/reset")).send().await.unwrap();
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`), 0 when unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

use super::*;
use crate::azure::model::{
    FlowLogFormatParameters, FlowLogPropertiesFormat, RetentionPolicyParameters,
    TrafficAnalyticsConfigurationProperties, TrafficAnalyticsProperties,
};

const SUB: &str = "/subscriptions/s/resourceGroups/rg/providers";

fn vnet(name: &str) -> String {
    format!("{SUB}/Microsoft.Network/virtualNetworks/{name}")
}
fn subnet(v: &str, name: &str) -> String {
    format!("{}/subnets/{name}", vnet(v))
}
fn nic(name: &str) -> String {
    format!("{SUB}/Microsoft.Network/networkInterfaces/{name}")
}
fn vmss_nic(vmss: &str, i: u32) -> String {
    format!("{SUB}/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{i}/networkInterfaces/{vmss}-nic")
}
fn nsg(name: &str) -> String {
    format!("{SUB}/Microsoft.Network/networkSecurityGroups/{name}")
}
fn storage(name: &str) -> String {
    format!("{SUB}/Microsoft.Storage/storageAccounts/{name}")
}

/// A flow log on `target` with `days` of retention to `account`.
fn log(name: &str, target: &str, enabled: bool, account: &str, days: i32) -> FlowLog {
    FlowLog {
        id: Some(format!("{SUB}/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope/flowLogs/{name}")),
        name: Some(name.into()),
        location: Some("westeurope".into()),
        properties: FlowLogPropertiesFormat {
            target_resource_id: target.into(),
            storage_id: storage(account),
            enabled: Some(enabled),
            retention_policy: Some(RetentionPolicyParameters { days, enabled: true }),
            format: Some(FlowLogFormatParameters { format_type: Some("JSON".into()), version: 2 }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn nsg_log(name: &str, days: i32) -> FlowLog {
    log(&format!("Microsoft.Networkrg{name}"), &nsg(name), true, "weu", days)
}

fn attached(name: &str, subnets: &[String], nics: &[String]) -> Nsg {
    Nsg { id: nsg(name), subnets: subnets.to_vec(), network_interfaces: nics.to_vec() }
}

/// VNet `app` with subnets `web` (NICs web-1, web-2) and `db` (NIC db-1); VNet `batch` with subnet `pool` holding
/// two scale-set NICs.
fn inventory() -> RegionInventory {
    RegionInventory {
        subscription: "s".into(),
        region: "westeurope".into(),
        flow_logs: vec![],
        nsgs: vec![],
        vnets: vec![
            Vnet {
                id: vnet("app"),
                subnets: vec![
                    SubnetInfo { id: subnet("app", "web"), network_interfaces: vec![nic("web-1"), nic("web-2")] },
                    SubnetInfo { id: subnet("app", "db"), network_interfaces: vec![nic("db-1")] },
                ],
            },
            Vnet {
                id: vnet("batch"),
                subnets: vec![SubnetInfo {
                    id: subnet("batch", "pool"),
                    network_interfaces: vec![vmss_nic("pool", 0), vmss_nic("pool", 1)],
                }],
            },
        ],
        storage: BTreeMap::from([(storage("weu").to_ascii_lowercase(), Some("westeurope".into()))]),
    }
}

fn targets(plan: &RegionPlan) -> Vec<(TargetKind, String, usize)> {
    plan.create.iter().map(|c| (c.kind, c.target.clone(), c.aggregates.len())).collect()
}

fn action(plan: &RegionPlan, nsg_name: &str) -> NsgAction {
    plan.nsg_flow_logs.iter().find(|l| l.nsg == nsg(nsg_name)).unwrap().action
}

#[test]
fn every_nic_of_a_subnet_alike_becomes_one_subnet_flow_log_and_every_subnet_alike_one_vnet_flow_log() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("web", &[], &[nic("web-1"), nic("web-2")]), attached("db", &[subnet("app", "db")], &[])];
    inv.flow_logs = vec![nsg_log("web", 30), nsg_log("db", 30)];

    let per_target = analyse(&inv, Mode::PerTarget, None);
    assert_eq!(
        targets(&per_target),
        [
            (TargetKind::NetworkInterface, nic("web-1"), 0),
            (TargetKind::NetworkInterface, nic("web-2"), 0),
            (TargetKind::Subnet, subnet("app", "db"), 0),
        ]
    );
    let aggregated = analyse(&inv, Mode::Aggregated, None);
    assert_eq!(targets(&aggregated), [(TargetKind::VirtualNetwork, vnet("app"), 3)]);
    assert_eq!(aggregated.create[0].aggregates, [nic("web-1"), nic("web-2"), subnet("app", "db")]);
    assert_eq!(aggregated.create[0].from.len(), 2, "it takes over both NSG flow logs");
    for plan in [&per_target, &aggregated] {
        assert_eq!(action(plan, "web"), NsgAction::Disable);
        assert_eq!(action(plan, "db"), NsgAction::Disable);
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    }
    // The new flow log copies the NSG flow log's settings.
    let settings = &aggregated.create[0].settings;
    assert_eq!((settings.enabled, settings.storage_id.as_deref()), (true, Some(storage("weu").as_str())));
    assert_eq!(settings.retention_policy, Some(RetentionPolicy { enabled: true, days: 30 }));
    assert_eq!(settings.format.as_ref().map(|f| f.version), Some(2));
}

#[test]
fn settings_that_differ_inside_a_subnet_keep_one_flow_log_per_nic() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("web-a", &[], &[nic("web-1")]), attached("web-b", &[], &[nic("web-2")])];
    inv.flow_logs = vec![nsg_log("web-a", 30), nsg_log("web-b", 7)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert_eq!(
        targets(&plan),
        [(TargetKind::NetworkInterface, nic("web-1"), 0), (TargetKind::NetworkInterface, nic("web-2"), 0)]
    );
    assert_eq!(plan.create[1].settings.retention_policy.map(|r| r.days), Some(7));
}

#[test]
fn a_subnet_with_an_unlogged_nic_is_not_aggregated() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("web", &[], &[nic("web-1")])];
    inv.flow_logs = vec![nsg_log("web", 30)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert_eq!(targets(&plan), [(TargetKind::NetworkInterface, nic("web-1"), 0)], "web-2 was never logged");
}

#[test]
fn a_scale_set_nic_counts_as_its_subnet() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("pool", &[], &[vmss_nic("pool", 0), vmss_nic("pool", 1)])];
    inv.flow_logs = vec![nsg_log("pool", 30)];
    let per_target = analyse(&inv, Mode::PerTarget, None);
    assert_eq!(targets(&per_target), [(TargetKind::Subnet, subnet("batch", "pool"), 0)]);
    // batch has one subnet: aggregated, the whole VNet.
    let aggregated = analyse(&inv, Mode::Aggregated, None);
    assert_eq!(targets(&aggregated), [(TargetKind::VirtualNetwork, vnet("batch"), 1)]);
    assert_eq!(action(&aggregated, "pool"), NsgAction::Disable);
}

#[test]
fn a_scale_set_nic_in_no_known_subnet_blocks_its_nsg_log() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("pool", &[], &[vmss_nic("other", 0)])];
    inv.flow_logs = vec![nsg_log("pool", 30)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert!(plan.create.is_empty());
    assert_eq!(plan.problems[0].reason, ProblemReason::NicSubnetNotFound);
    assert_eq!(action(&plan, "pool"), NsgAction::Blocked);
}

#[test]
fn nsg_logs_that_disagree_on_a_subnet_block_each_other() {
    let mut inv = inventory();
    // The subnet's NSG keeps 30 days; the scale-set NSG in it 7: one subnet, two settings.
    inv.nsgs = vec![attached("subnet", &[subnet("batch", "pool")], &[]), attached("vmss", &[], &[vmss_nic("pool", 0)])];
    inv.flow_logs = vec![nsg_log("subnet", 30), nsg_log("vmss", 7)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert!(plan.create.is_empty());
    assert_eq!(plan.problems.len(), 1);
    assert_eq!(plan.problems[0].reason, ProblemReason::ConflictingSettings);
    assert_eq!(plan.problems[0].nsg_flow_logs.len(), 2);
    assert_eq!((action(&plan, "subnet"), action(&plan, "vmss")), (NsgAction::Blocked, NsgAction::Blocked));
    let blocked = plan.nsg_flow_logs.iter().find(|l| l.nsg == nsg("subnet")).unwrap();
    assert!(blocked.reasons[0].contains("ConflictingSettings"), "{:?}", blocked.reasons);
}

#[test]
fn an_existing_flow_log_with_the_same_settings_covers_its_target() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("db", &[subnet("app", "db")], &[])];
    inv.flow_logs = vec![nsg_log("db", 30), log("app-vnet", &vnet("app"), true, "weu", 30)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert!(plan.create.is_empty(), "{:?}", plan.create);
    assert_eq!(plan.covered.len(), 1);
    assert!(plan.covered[0].flow_log.ends_with("/app-vnet"));
    assert_eq!(action(&plan, "db"), NsgAction::Disable);
    assert_eq!(plan.nsg_flow_logs[0].covered_by, [subnet("app", "db")]);
}

#[test]
fn an_existing_flow_log_with_other_settings_blocks_and_says_so() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("db", &[subnet("app", "db")], &[])];
    inv.flow_logs = vec![nsg_log("db", 30), log("db-subnet", &subnet("app", "db"), true, "weu", 7)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert!(plan.create.is_empty());
    assert_eq!(plan.problems[0].reason, ProblemReason::ExistingFlowLogDiffers);
    assert!(plan.problems[0].message.contains("/flowLogs/db-subnet"), "{}", plan.problems[0].message);
    assert_eq!(action(&plan, "db"), NsgAction::Blocked);
}

#[test]
fn a_vnet_flow_log_with_other_settings_does_not_stop_a_subnet_flow_log() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("db", &[subnet("app", "db")], &[])];
    inv.flow_logs = vec![nsg_log("db", 30), log("app-vnet", &vnet("app"), true, "weu", 7)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert_eq!(targets(&plan), [(TargetKind::Subnet, subnet("app", "db"), 0)], "the more specific log takes over");
}

#[test]
fn an_nsg_attached_to_nothing_is_only_disabled_and_one_already_off_is_left() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("lonely", &[], &[])];
    inv.flow_logs = vec![nsg_log("lonely", 30), log("Microsoft.Networkrgoff", &nsg("off"), false, "weu", 0)];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert!(plan.create.is_empty() && plan.problems.is_empty());
    assert_eq!((action(&plan, "lonely"), action(&plan, "off")), (NsgAction::DisableOnly, NsgAction::AlreadyOff));
}

#[test]
fn a_subnet_that_no_longer_exists_blocks_instead_of_failing_in_azure() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("web", &[subnet("app", "gone"), subnet("app", "db")], &[])];
    inv.flow_logs = vec![nsg_log("web", 30)];
    let plan = analyse(&inv, Mode::PerTarget, None);
    assert_eq!(targets(&plan), [(TargetKind::Subnet, subnet("app", "db"), 0)]);
    assert_eq!(plan.problems[0].reason, ProblemReason::SubnetNotFound);
    assert!(plan.problems[0].message.contains("SubnetNotFoundForFlowLog"));
    assert_eq!(action(&plan, "web"), NsgAction::Blocked, "half its traffic would be left unlogged");
}

#[test]
fn storage_in_another_region_blocks_unless_one_is_named() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("db", &[subnet("app", "db")], &[])];
    inv.flow_logs = vec![nsg_log("db", 30)];
    inv.storage.insert(storage("weu").to_ascii_lowercase(), Some("North Europe".into()));
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert!(plan.create.is_empty());
    assert_eq!(plan.problems[0].reason, ProblemReason::NoStorageForRegion);
    assert!(plan.problems[0].message.contains("--storage westeurope="), "{}", plan.problems[0].message);
    let named = storage("weu2");
    let plan = analyse(&inv, Mode::Aggregated, Some(&named));
    assert_eq!(plan.create[0].settings.storage_id.as_deref(), Some(named.as_str()));
    assert_eq!(action(&plan, "db"), NsgAction::Disable);
}

#[test]
fn traffic_analytics_is_carried_over() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("db", &[subnet("app", "db")], &[])];
    let mut with_ta = nsg_log("db", 30);
    with_ta.properties.flow_analytics_configuration = Some(TrafficAnalyticsProperties {
        network_watcher_flow_analytics_configuration: Some(TrafficAnalyticsConfigurationProperties {
            enabled: Some(true),
            workspace_id: Some("55555555-5555-5555-5555-555555555551".into()),
            workspace_region: Some("westeurope".into()),
            workspace_resource_id: Some(format!("{SUB}/Microsoft.OperationalInsights/workspaces/law")),
            traffic_analytics_interval: Some(10),
        }),
    });
    inv.flow_logs = vec![with_ta];
    let plan = analyse(&inv, Mode::PerTarget, None);
    let ta = plan.create[0].settings.traffic_analytics.clone().unwrap();
    assert_eq!((ta.enabled, ta.interval_minutes, ta.workspace_region.as_deref()), (true, 10, Some("westeurope")));
}

#[test]
fn ids_and_retention_off_compare_as_azure_does() {
    let mut inv = inventory();
    inv.nsgs = vec![attached("web-a", &[], &[nic("web-1")]), attached("web-b", &[], &[nic("WEB-2")])];
    let mut a = nsg_log("web-a", 0);
    a.properties.retention_policy = Some(RetentionPolicyParameters { days: 5, enabled: false });
    let mut b = nsg_log("web-b", 0);
    b.properties.retention_policy = None;
    b.properties.storage_id = b.properties.storage_id.to_uppercase();
    inv.flow_logs = vec![a, b];
    let plan = analyse(&inv, Mode::Aggregated, None);
    assert_eq!(targets(&plan), [(TargetKind::Subnet, subnet("app", "web"), 2)]);
}

//! NSG → VNet flow-log migration: the analysis of a region (pure, [`analysis`]), its reads of ARM ([`read`]), the
//! manifests it writes for a Git repository ([`manifests`]) and the plan it prints ([`format`]).

pub mod analysis;
pub mod format;
pub mod manifests;
pub mod read;

use std::collections::BTreeMap;

use serde::Serialize;

use analysis::{Mode, NsgAction, RegionInventory, RegionPlan, TargetKind, analyse};

/// Policies that already manage an NSG: lower-case NSG ID → (namespace, name, spec).
pub type Existing = BTreeMap<String, (String, String, crate::api::FlowLogPolicySpec)>;

/// Keeps only the NSG flow logs of these NSGs (lower-case IDs); the other flow logs stay, as what may cover a target.
pub fn only_nsgs(inventories: &mut [RegionInventory], nsgs: &std::collections::BTreeSet<String>) {
    for inventory in inventories {
        inventory.flow_logs.retain(|l| {
            let target = l.properties.target_resource_id.to_ascii_lowercase();
            !target.contains("/microsoft.network/networksecuritygroups/") || nsgs.contains(&target)
        });
    }
}

/// The plan of every region in scope.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub mode: Mode,
    pub summary: Summary,
    pub regions: Vec<RegionPlan>,
}

/// The plan's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub regions: usize,
    pub nsg_flow_logs: usize,
    /// NSG flow logs switched off in step 2 ...
    pub disable: usize,
    /// ... and those among them whose NSG is attached to nothing.
    pub disable_only: usize,
    pub already_off: usize,
    pub blocked: usize,
    /// New flow logs in the plan's mode, and by kind.
    pub create: usize,
    pub create_vnets: usize,
    pub create_subnets: usize,
    pub create_nics: usize,
    /// New flow logs in each mode (the plan shows both, so the choice is informed).
    pub per_target: usize,
    pub aggregated: usize,
    pub covered: usize,
    pub problems: usize,
}

/// Analyses every region in `mode`, counting the other mode's flow logs too. `storage` names, per region
/// (normalised), the storage account of the new flow logs there.
pub fn plan(inventories: &[RegionInventory], mode: Mode, storage: &BTreeMap<String, String>) -> Plan {
    let storage_for =
        |inv: &RegionInventory| storage.get(&crate::azure::normalize_region(&inv.region)).map(String::as_str);
    let regions: Vec<RegionPlan> = inventories.iter().map(|inv| analyse(inv, mode, storage_for(inv))).collect();
    let other = match mode {
        Mode::Aggregated => Mode::PerTarget,
        Mode::PerTarget => Mode::Aggregated,
    };
    let other_creates: usize = inventories.iter().map(|inv| analyse(inv, other, storage_for(inv)).create.len()).sum();
    let logs = regions.iter().flat_map(|r| &r.nsg_flow_logs);
    let count = |action: NsgAction| logs.clone().filter(|l| l.action == action).count();
    let creates = regions.iter().flat_map(|r| &r.create);
    let of_kind = |kind: TargetKind| creates.clone().filter(|c| c.kind == kind).count();
    let create = creates.clone().count();
    let summary = Summary {
        regions: regions.len(),
        nsg_flow_logs: logs.clone().count(),
        disable: count(NsgAction::Disable),
        disable_only: count(NsgAction::DisableOnly),
        already_off: count(NsgAction::AlreadyOff),
        blocked: count(NsgAction::Blocked),
        create,
        create_vnets: of_kind(TargetKind::VirtualNetwork),
        create_subnets: of_kind(TargetKind::Subnet),
        create_nics: of_kind(TargetKind::NetworkInterface),
        per_target: if mode == Mode::PerTarget { create } else { other_creates },
        aggregated: if mode == Mode::Aggregated { create } else { other_creates },
        covered: regions.iter().map(|r| r.covered.len()).sum(),
        problems: regions.iter().map(|r| r.problems.len()).sum(),
    };
    Plan { mode, summary, regions }
}
pub mod apply;
pub mod record;

//! The migration analysis (pure): one region's flow logs and topology in, what to create and what to disable out.
//!
//! An enabled NSG flow log covers the subnets and NICs its NSG is attached to; each becomes a candidate target for
//! a VNet flow log with the NSG log's settings (a scale-set NIC counts as its subnet). Candidates for one target from
//! several NSG logs must agree. A target that already has a flow log keeps it: with the same settings it counts as
//! covered, with others it is a problem a person resolves. In the aggregated mode the NICs of a subnet become one
//! subnet flow log when every NIC of the subnet is a candidate with the same settings, and the subnets of a VNet one
//! VNet flow log when every subnet is. An NSG flow log is disabled only when every one of its targets is created or
//! covered; anything else blocks it, so that no traffic is left unlogged.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::api::{FlowLogFormat, FlowLogIdentity, FlowLogSettings, FormatType, RetentionPolicy, TrafficAnalytics};
use crate::azure::id::ResourceId;
use crate::azure::model::FlowLog;

const NSG_TYPE: &str = "Microsoft.Network/networkSecurityGroups";

/// What ARM shows of one subscription and region.
#[derive(Clone, Debug, Default)]
pub struct RegionInventory {
    pub subscription: String,
    pub region: String,
    /// Every flow log of the region's watcher (NSG and VNet flow logs alike).
    pub flow_logs: Vec<FlowLog>,
    pub nsgs: Vec<Nsg>,
    pub vnets: Vec<Vnet>,
    /// The region of each storage account the flow logs name (lower-case ID → region); `None`: it does not exist.
    pub storage: BTreeMap<String, Option<String>>,
}

/// A network security group and what it is attached to (IDs as ARM lists them).
#[derive(Clone, Debug, Default)]
pub struct Nsg {
    pub id: String,
    pub subnets: Vec<String>,
    pub network_interfaces: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Vnet {
    pub id: String,
    pub subnets: Vec<SubnetInfo>,
}

/// A subnet and the NICs in it (from its IP configurations; scale-set NICs included).
#[derive(Clone, Debug, Default)]
pub struct SubnetInfo {
    pub id: String,
    pub network_interfaces: Vec<String>,
}

/// How new flow logs are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// One subnet flow log for a subnet whose NICs all have the same settings, one VNet flow log for a VNet whose
    /// subnets all do (Microsoft's recommended mode).
    #[default]
    Aggregated,
    /// One flow log per subnet and NIC the NSGs are attached to.
    PerTarget,
}

/// The kind of a flow-log target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TargetKind {
    VirtualNetwork,
    Subnet,
    NetworkInterface,
}

impl TargetKind {
    fn of(id: &str) -> Option<TargetKind> {
        let parsed = ResourceId::parse(id).ok()?;
        [
            ("Microsoft.Network/virtualNetworks", TargetKind::VirtualNetwork),
            ("Microsoft.Network/virtualNetworks/subnets", TargetKind::Subnet),
            ("Microsoft.Network/networkInterfaces", TargetKind::NetworkInterface),
        ]
        .into_iter()
        .find(|(t, _)| parsed.is_type(t))
        .map(|(_, kind)| kind)
    }
}

/// The analysis of one region.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionPlan {
    pub subscription: String,
    pub region: String,
    /// Every NSG flow log of the region and what becomes of it, ordered by ID.
    pub nsg_flow_logs: Vec<NsgFlowLog>,
    /// The VNet flow logs to create (step 1), ordered by target.
    pub create: Vec<NewFlowLog>,
    /// Targets whose existing flow log already does the job, ordered by target.
    pub covered: Vec<Covered>,
    /// What stops a target from being migrated, ordered by target.
    pub problems: Vec<Problem>,
}

/// An NSG flow log and what becomes of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsgFlowLog {
    /// ARM ID of the flow log.
    pub id: String,
    pub nsg: String,
    pub enabled: bool,
    /// Its settings, as a FlowLogPolicy would state them.
    pub settings: FlowLogSettings,
    pub action: NsgAction,
    /// The targets whose flow logs take over its traffic (new or existing).
    pub covered_by: Vec<String>,
    /// Why it is blocked (empty otherwise).
    pub reasons: Vec<String>,
    /// Its storage account cannot serve its region, and the new flow logs write to the one `--storage` named: Azure
    /// would refuse to switch it back on with its own settings, so a rollback cannot restore it.
    pub storage_replaced: bool,
}

/// What happens to an NSG flow log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NsgAction {
    /// Disabled in step 2, once the flow logs that take over its traffic are Ready.
    Disable,
    /// Its NSG is attached to nothing: it logs no traffic and is only disabled.
    DisableOnly,
    /// Already off: nothing to migrate.
    AlreadyOff,
    /// Left on: a problem stops one of its targets (see `reasons`).
    Blocked,
}

impl NsgAction {
    pub fn as_str(self) -> &'static str {
        match self {
            NsgAction::Disable => "Disable",
            NsgAction::DisableOnly => "DisableOnly",
            NsgAction::AlreadyOff => "AlreadyOff",
            NsgAction::Blocked => "Blocked",
        }
    }
}

/// A VNet flow log to create.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewFlowLog {
    pub target: String,
    pub kind: TargetKind,
    pub settings: FlowLogSettings,
    /// The NSG flow logs whose traffic it takes over.
    pub from: Vec<String>,
    /// The NIC and subnet targets it stands for, which per target would have flow logs of their own (aggregated
    /// mode; empty when it is one of them).
    pub aggregates: Vec<String>,
}

/// A target whose existing flow log (on it or on its VNet) has the settings it would get.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Covered {
    pub target: String,
    /// The existing flow log's ARM ID.
    pub flow_log: String,
    /// The NSG flow logs whose traffic it takes over.
    pub nsg_flow_logs: Vec<String>,
}

/// Why a target cannot be migrated as planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub target: String,
    pub reason: ProblemReason,
    pub message: String,
    /// The NSG flow logs it blocks.
    pub nsg_flow_logs: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ProblemReason {
    /// NSG flow logs with different settings cover the same target (for example a subnet's NSG and the NSG of a
    /// scale-set NIC in it).
    ConflictingSettings,
    /// The target already has a flow log with other settings (Azure allows one per target).
    ExistingFlowLogDiffers,
    /// The NSG names a subnet that no longer exists (Azure refuses flow logs for it: `SubnetNotFoundForFlowLog`).
    SubnetNotFound,
    /// A scale-set NIC whose subnet is not among the region's VNets.
    NicSubnetNotFound,
    /// The NSG flow log's storage account is in another region than the target, or gone; `--storage` names one.
    NoStorageForRegion,
}

impl ProblemReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemReason::ConflictingSettings => "ConflictingSettings",
            ProblemReason::ExistingFlowLogDiffers => "ExistingFlowLogDiffers",
            ProblemReason::SubnetNotFound => "SubnetNotFound",
            ProblemReason::NicSubnetNotFound => "NicSubnetNotFound",
            ProblemReason::NoStorageForRegion => "NoStorageForRegion",
        }
    }
}

/// A flow log's settings as a FlowLogPolicy states them (filters and record types stay unmanaged: NSG flow logs have
/// none).
pub fn settings_of(log: &FlowLog) -> FlowLogSettings {
    let p = &log.properties;
    let ta =
        p.flow_analytics_configuration.as_ref().and_then(|c| c.network_watcher_flow_analytics_configuration.as_ref());
    FlowLogSettings {
        enabled: p.enabled.unwrap_or(false),
        storage_id: (!p.storage_id.is_empty()).then(|| p.storage_id.clone()),
        retention_policy: p.retention_policy.as_ref().map(|r| RetentionPolicy { enabled: r.enabled, days: r.days }),
        format: p
            .format
            .as_ref()
            .filter(|f| f.version > 0)
            .map(|f| FlowLogFormat { format_type: FormatType::Json, version: f.version }),
        traffic_analytics: ta.filter(|t| t.enabled == Some(true)).map(|t| TrafficAnalytics {
            enabled: true,
            workspace_resource_id: t.workspace_resource_id.clone(),
            workspace_id: t.workspace_id.clone(),
            workspace_region: t.workspace_region.clone(),
            interval_minutes: t.traffic_analytics_interval.unwrap_or(60),
        }),
        enabled_filtering_criteria: None,
        record_types: None,
        identity: log
            .identity
            .as_ref()
            .and_then(|i| i.user_assigned_identities.as_ref()?.keys().next().cloned())
            .map(|id| FlowLogIdentity { user_assigned_identity_id: id }),
    }
}

/// Settings compared as Azure compares IDs: case-insensitively. Retention off compares equal whatever its days.
fn comparable(s: &FlowLogSettings) -> FlowLogSettings {
    let lower = |v: &Option<String>| v.as_ref().map(|x| x.to_ascii_lowercase());
    let mut s = s.clone();
    s.storage_id = lower(&s.storage_id);
    if let Some(r) = s.retention_policy.as_mut().filter(|r| !r.enabled) {
        r.days = 0;
    }
    if s.retention_policy == Some(RetentionPolicy { enabled: false, days: 0 }) {
        s.retention_policy = None;
    }
    if let Some(ta) = s.traffic_analytics.as_mut() {
        ta.workspace_resource_id = lower(&ta.workspace_resource_id);
        ta.workspace_id = lower(&ta.workspace_id);
        ta.workspace_region = ta.workspace_region.as_ref().map(|r| r.to_ascii_lowercase().replace(' ', ""));
    }
    if let Some(i) = s.identity.as_mut() {
        i.user_assigned_identity_id = i.user_assigned_identity_id.to_ascii_lowercase();
    }
    s
}

/// A target the NSG flow logs ask for, before existing flow logs and aggregation are considered.
#[derive(Clone, Debug)]
struct Candidate {
    target: String,
    settings: FlowLogSettings,
    from: BTreeSet<String>,
    aggregates: Vec<String>,
    /// An NSG flow log asked for this target itself (not only through aggregation).
    origin: bool,
}

/// A scale-set VM's NIC (`.../Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{i}/networkInterfaces/
/// {nic}`): it cannot be a flow-log target of its own, its subnet stands for it.
fn is_scale_set_nic(id: &str) -> bool {
    id.to_ascii_lowercase().contains("/microsoft.compute/virtualmachinescalesets/")
}

fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// Analyses one region. `storage_for` overrides the storage account of the new flow logs in this region (the
/// `--storage` flag), for NSG flow logs whose own account cannot be used.
pub fn analyse(inventory: &RegionInventory, mode: Mode, storage_for: Option<&str>) -> RegionPlan {
    let mut plan = RegionPlan {
        subscription: inventory.subscription.clone(),
        region: inventory.region.clone(),
        ..Default::default()
    };
    let region = inventory.region.to_ascii_lowercase().replace(' ', "");

    // Where things are: existing flow logs by target, subnets by ID with their VNet, each NIC's subnet.
    let existing: BTreeMap<String, &FlowLog> =
        inventory.flow_logs.iter().map(|l| (key(&l.properties.target_resource_id), l)).collect();
    let mut subnet_vnet: BTreeMap<String, &Vnet> = BTreeMap::new();
    let mut subnet_nics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut nic_subnet: BTreeMap<String, String> = BTreeMap::new();
    for vnet in &inventory.vnets {
        for subnet in &vnet.subnets {
            subnet_vnet.insert(key(&subnet.id), vnet);
            subnet_nics.insert(key(&subnet.id), subnet.network_interfaces.iter().map(|n| key(n)).collect());
            for nic in &subnet.network_interfaces {
                nic_subnet.insert(key(nic), subnet.id.clone());
            }
        }
    }
    let nsgs: BTreeMap<String, &Nsg> = inventory.nsgs.iter().map(|n| (key(&n.id), n)).collect();

    // Every NSG flow log's candidate targets; problems found on the way.
    let mut nsg_logs: Vec<&FlowLog> = inventory
        .flow_logs
        .iter()
        .filter(|l| ResourceId::parse(&l.properties.target_resource_id).is_ok_and(|t| t.is_type(NSG_TYPE)))
        .collect();
    nsg_logs.sort_by_key(|l| key(l.id.as_deref().unwrap_or_default()));
    let mut candidates: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut actions: Vec<NsgFlowLog> = Vec::new();
    for log in nsg_logs {
        let id = log.id.clone().unwrap_or_default();
        let mut settings = settings_of(log);
        let mut entry = NsgFlowLog {
            id: id.clone(),
            nsg: log.properties.target_resource_id.clone(),
            enabled: settings.enabled,
            settings: settings.clone(),
            action: NsgAction::Disable,
            covered_by: Vec::new(),
            reasons: Vec::new(),
            storage_replaced: false,
        };
        if !settings.enabled {
            entry.action = NsgAction::AlreadyOff;
            actions.push(entry);
            continue;
        }
        let attached = nsgs.get(&key(&entry.nsg));
        let (subnets, nics) =
            attached.map(|n| (n.subnets.as_slice(), n.network_interfaces.as_slice())).unwrap_or_default();
        if subnets.is_empty() && nics.is_empty() {
            if attached.is_none() {
                entry.reasons.push(format!("NSG {} was not found in the region: its flow log logs nothing", entry.nsg));
            }
            entry.action = NsgAction::DisableOnly;
            actions.push(entry);
            continue;
        }
        let mut storage_problem = match settings.storage_id.as_ref().map(|s| inventory.storage.get(&key(s))) {
            Some(Some(Some(r))) if r.to_ascii_lowercase().replace(' ', "") != region => Some(format!(
                "its storage account is in {r}, not in {}: name one with --storage {}=<storage account ID>",
                inventory.region, inventory.region
            )),
            Some(Some(None)) => Some(format!(
                "its storage account {} no longer exists: name one with --storage {}=<storage account ID>",
                settings.storage_id.as_deref().unwrap_or_default(),
                inventory.region
            )),
            _ => None,
        };
        // The account named for the region takes the place of one that cannot serve it.
        if let (Some(_), Some(storage)) = (&storage_problem, storage_for) {
            settings.storage_id = Some(storage.to_string());
            storage_problem = None;
            entry.storage_replaced = true;
        }
        let mut push = |target: String, aggregates: Vec<String>| {
            candidates.entry(key(&target)).or_default().push(Candidate {
                target,
                settings: settings.clone(),
                from: BTreeSet::from([id.clone()]),
                aggregates,
                origin: true,
            })
        };
        let mut targets = Vec::new();
        for subnet in subnets {
            if subnet_vnet.contains_key(&key(subnet)) {
                targets.push(subnet.clone());
            } else {
                problems.push(Problem {
                    target: subnet.clone(),
                    reason: ProblemReason::SubnetNotFound,
                    message: format!("NSG {} names subnet {subnet}, which does not exist: Azure refuses flow logs for it (SubnetNotFoundForFlowLog); detach the NSG from it or recreate the subnet, then plan again", entry.nsg),
                    nsg_flow_logs: vec![id.clone()],
                });
            }
        }
        for nic in nics {
            if is_scale_set_nic(nic) {
                match nic_subnet.get(&key(nic)) {
                    Some(subnet) => targets.push(subnet.clone()),
                    None => problems.push(Problem {
                        target: nic.clone(),
                        reason: ProblemReason::NicSubnetNotFound,
                        message: format!("scale-set NIC {nic} (NSG {}) is in no subnet of the region's virtual networks; a scale-set NIC is logged through its subnet", entry.nsg),
                        nsg_flow_logs: vec![id.clone()],
                    }),
                }
            } else {
                targets.push(nic.clone());
            }
        }
        for target in targets {
            if let Some(message) = &storage_problem {
                problems.push(Problem {
                    target: target.clone(),
                    reason: ProblemReason::NoStorageForRegion,
                    message: format!("NSG flow log {id}: {message}"),
                    nsg_flow_logs: vec![id.clone()],
                });
            } else {
                push(target, Vec::new());
            }
        }
        actions.push(entry);
    }

    // One candidate per target: NSG logs that disagree on a target block each other.
    let mut wanted: BTreeMap<String, Candidate> = BTreeMap::new();
    for (k, list) in candidates {
        let first = list[0].clone();
        let same = list.iter().all(|c| comparable(&c.settings) == comparable(&first.settings));
        if same {
            let mut merged = first;
            merged.from = list.iter().flat_map(|c| c.from.iter().cloned()).collect();
            wanted.insert(k, merged);
        } else {
            let from: BTreeSet<String> = list.iter().flat_map(|c| c.from.iter().cloned()).collect();
            problems.push(Problem {
                target: first.target.clone(),
                reason: ProblemReason::ConflictingSettings,
                message: format!(
                    "NSG flow logs with different settings cover this target ({}): Azure allows one flow log per target; give them the same settings, or write its FlowLogPolicy by hand",
                    from.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                nsg_flow_logs: from.into_iter().collect(),
            });
        }
    }

    // Existing flow logs: on the target itself, or on the VNet of a subnet or NIC.
    let existing_for = |target: &str| -> Vec<&FlowLog> {
        let mut found = Vec::new();
        let mut at = Some(target.to_string());
        while let Some(id) = at {
            if let Some(log) = existing.get(&key(&id)) {
                found.push(*log);
            }
            at = match TargetKind::of(&id) {
                Some(TargetKind::NetworkInterface) => nic_subnet.get(&key(&id)).cloned(),
                Some(TargetKind::Subnet) => ResourceId::parse(&id).ok().and_then(|p| p.parent()).map(|p| p.to_string()),
                _ => None,
            };
        }
        found
    };
    let mut covered: Vec<Covered> = Vec::new();
    let mut free: BTreeMap<String, Candidate> = BTreeMap::new();
    for (k, candidate) in wanted {
        let found = existing_for(&candidate.target);
        let own = existing.get(&k);
        let matching = found.iter().find(|l| comparable(&settings_of(l)) == comparable(&candidate.settings));
        match (own, matching) {
            (_, Some(log)) => covered.push(Covered {
                target: candidate.target.clone(),
                flow_log: log.id.clone().unwrap_or_default(),
                nsg_flow_logs: candidate.from.iter().cloned().collect(),
            }),
            (Some(log), None) => problems.push(Problem {
                target: candidate.target.clone(),
                reason: ProblemReason::ExistingFlowLogDiffers,
                message: format!(
                    "it already has flow log {} with other settings than the NSG flow log's: Azure allows one flow log per target; align its settings (or manage it with a FlowLogPolicy) and plan again",
                    log.id.as_deref().unwrap_or_default()
                ),
                nsg_flow_logs: candidate.from.iter().cloned().collect(),
            }),
            (None, None) => {
                free.insert(k, candidate);
            }
        }
    }

    if mode == Mode::Aggregated {
        aggregate(&mut free, &inventory.vnets, &subnet_nics, &existing);
    }

    // Which NSG flow logs can be disabled: those whose every target is created or covered.
    let blocked: BTreeMap<String, Vec<String>> = problems.iter().fold(BTreeMap::new(), |mut m, p| {
        for log in &p.nsg_flow_logs {
            m.entry(key(log)).or_default().push(format!("{}: {} ({})", p.target, p.reason.as_str(), p.message));
        }
        m
    });
    for entry in &mut actions {
        if entry.action != NsgAction::Disable {
            continue;
        }
        if let Some(reasons) = blocked.get(&key(&entry.id)) {
            entry.action = NsgAction::Blocked;
            entry.reasons = reasons.clone();
        }
        let mut by: Vec<String> = free
            .values()
            .filter(|c| c.from.contains(&entry.id))
            .map(|c| c.target.clone())
            .chain(covered.iter().filter(|c| c.nsg_flow_logs.contains(&entry.id)).map(|c| c.target.clone()))
            .collect();
        by.sort_by_key(|t| key(t));
        entry.covered_by = by;
    }
    plan.nsg_flow_logs = actions;
    plan.create = free
        .into_values()
        .map(|c| NewFlowLog {
            kind: TargetKind::of(&c.target).unwrap_or(TargetKind::NetworkInterface),
            target: c.target,
            settings: c.settings,
            from: c.from.into_iter().collect(),
            aggregates: c.aggregates,
        })
        .collect();
    plan.create.sort_by_key(|c| key(&c.target));
    covered.sort_by_key(|c| key(&c.target));
    plan.covered = covered;
    problems.sort_by(|a, b| key(&a.target).cmp(&key(&b.target)).then(a.reason.cmp(&b.reason)));
    plan.problems = problems;
    plan
}

/// Aggregated mode: NICs into their subnet, then subnets into their VNet, where every member wants the same settings
/// and the wider target has no flow log of its own.
fn aggregate(
    free: &mut BTreeMap<String, Candidate>,
    vnets: &[Vnet],
    subnet_nics: &BTreeMap<String, Vec<String>>,
    existing: &BTreeMap<String, &FlowLog>,
) {
    let merge = |free: &mut BTreeMap<String, Candidate>, wide: &str, members: &[String]| {
        if members.is_empty() || existing.contains_key(&key(wide)) {
            return;
        }
        // The wider target itself may be a candidate already (a subnet's own NSG, or the NSG of a scale-set NIC in
        // it, which is logged through its subnet): then every member must agree with it.
        let own = free.get(&key(wide));
        let Some(first) = own.or_else(|| members.iter().find_map(|m| free.get(m))) else { return };
        let settings = comparable(&first.settings);
        let agrees = |m: &String| free.get(m).is_some_and(|c| comparable(&c.settings) == settings);
        let all = members.iter().all(|m| agrees(m) || (own.is_some() && is_scale_set_nic(m)));
        if !all {
            return;
        }
        let first = first.clone();
        let mut merged = own.cloned().unwrap_or_else(|| Candidate {
            target: wide.to_string(),
            settings: first.settings.clone(),
            from: BTreeSet::new(),
            aggregates: Vec::new(),
            origin: false,
        });
        for m in members {
            let Some(member) = free.remove(m) else { continue };
            merged.from.extend(member.from);
            merged.aggregates.extend(member.aggregates);
            if member.origin {
                merged.aggregates.push(member.target);
            }
        }
        merged.aggregates.sort_by_key(|t| key(t));
        free.insert(key(wide), merged);
    };
    for vnet in vnets {
        for subnet in &vnet.subnets {
            let nics = subnet_nics.get(&key(&subnet.id)).cloned().unwrap_or_default();
            merge(free, &subnet.id, &nics);
        }
    }
    for vnet in vnets {
        let subnets: Vec<String> = vnet.subnets.iter().map(|s| key(&s.id)).collect();
        merge(free, &vnet.id, &subnets);
    }
}

#[cfg(test)]
mod tests;

//! A FlowLogPolicySet's plan, pure: what discovery found → the targets the selector selects → one generated
//! FlowLogPolicy each (or why none), the policies to prune, and whether the pruning guard holds them back.
//!
//! Safety rules, all decided here so that they are tested in one place:
//! - a failed discovery changes nothing, and an incomplete one (a subscription could not be listed) prunes nothing;
//! - a target that an independent FlowLogPolicy manages stays with it (`ManagedElsewhere`);
//! - a target whose region has no destination (or no workspace when traffic analytics is on) gets no policy and is
//!   reported, never given another region's storage;
//! - pruning more than `maxPrunePercent` of the set's policies at once waits for a confirmation that names exactly
//!   that prune.

mod status;

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{
    FlowLogPolicySet, FlowLogPolicySpec, FlowLogSettings, PruneBlocked, RegionDestination, Target, TargetKind,
    TrafficAnalytics,
};
use crate::azure::id::{ResourceId, same_id};
use crate::azure::same_region;

pub use status::{NON_COMPLIANT_LISTED, PolicyState, TargetState, policy_target_state, set_status};

/// The label naming a generated policy's set.
pub const SET_LABEL: &str = "flowlog.dev/set";
/// Setting this annotation (to any new value) runs the set's discovery now rather than at its interval.
pub const REDISCOVER_ANNOTATION: &str = "flowlog.dev/rediscover";
/// The annotation that confirms a blocked prune (its value: `status.pruneBlocked.confirmWith`).
pub const CONFIRM_PRUNE_ANNOTATION: &str = "flowlog.dev/confirm-prune";

/// Why a selected target has no generated policy (stable reasons: reports and alerts match on them).
pub mod reason {
    pub const NO_STORAGE_FOR_REGION: &str = "NoStorageForRegion";
    pub const NO_WORKSPACE_FOR_REGION: &str = "NoWorkspaceForRegion";
    pub const MANAGED_ELSEWHERE: &str = "ManagedElsewhere";
}

/// A resource discovery found, before the selector's conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// ARM ID as Azure spells it.
    pub id: String,
    pub kind: TargetKind,
    pub region: String,
    /// Its tags; a subnet's are its virtual network's.
    pub tags: BTreeMap<String, String>,
    /// Whether it has a flow log (NSGs are only selected to adopt an existing one).
    pub has_flow_log: bool,
}

/// A selected target and what the set does for it.
#[derive(Clone, Debug, PartialEq)]
pub enum Coverage {
    /// A generated policy with this name and spec.
    Policy { name: String, spec: Box<FlowLogPolicySpec> },
    /// No policy, for this reason.
    NotCovered { reason: &'static str, message: String },
}

/// The selector's verdict on the resources found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// By target ID, ordered.
    pub targets: BTreeMap<String, Coverage>,
    /// Resources of the kind and scope that an exclusion left out.
    pub excluded: usize,
}

/// A generated policy as the set sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    pub name: String,
    pub target: String,
    pub spec: FlowLogPolicySpec,
}

/// What to do with the generated policies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Policies to create or update (name, spec): only those missing or whose spec differs.
    pub apply: Vec<(String, FlowLogPolicySpec)>,
    /// Policies to delete (their deletion policy says what happens in Azure).
    pub prune: Vec<String>,
    /// Set when the guard holds the prune back.
    pub blocked: Option<PruneBlocked>,
}

/// Applies the selector to what discovery found. `managed_elsewhere` answers the FlowLogPolicy (not one of this
/// set's) that manages a target, if any.
pub fn select(
    set: &FlowLogPolicySet,
    found: &[Discovered],
    managed_elsewhere: &dyn Fn(&str) -> Option<String>,
) -> Selection {
    let selector = &set.spec.selector;
    let mut selection = Selection::default();
    for resource in found {
        if resource.kind != selector.kind
            || (resource.kind == TargetKind::NetworkSecurityGroup && !resource.has_flow_log)
        {
            continue;
        }
        if !selector.regions.is_empty() && !selector.regions.iter().any(|r| same_region(r, &resource.region)) {
            continue;
        }
        let Ok(id) = ResourceId::parse(&resource.id) else { continue };
        if !selector.resource_groups.is_empty()
            && !selector.resource_groups.iter().any(|g| g.eq_ignore_ascii_case(&id.resource_group))
        {
            continue;
        }
        if !selector.match_tags.iter().all(|(k, v)| resource.tags.get(k) == Some(v)) {
            continue;
        }
        let excluded_by_tag = selector.exclude_tags.iter().any(|(k, v)| resource.tags.get(k) == Some(v));
        if excluded_by_tag || selector.exclude_ids.iter().any(|x| same_id(x, &resource.id)) {
            selection.excluded += 1;
            continue;
        }
        selection.targets.insert(resource.id.clone(), coverage(set, resource, managed_elsewhere));
    }
    selection
}

fn coverage(
    set: &FlowLogPolicySet,
    target: &Discovered,
    managed_elsewhere: &dyn Fn(&str) -> Option<String>,
) -> Coverage {
    if let Some(owner) = managed_elsewhere(&target.id) {
        return Coverage::NotCovered {
            reason: reason::MANAGED_ELSEWHERE,
            message: format!("{owner} manages this target; the set leaves it alone"),
        };
    }
    let Some(destination) = set.spec.destinations.iter().find(|d| same_region(&d.region, &target.region)) else {
        return Coverage::NotCovered {
            reason: reason::NO_STORAGE_FOR_REGION,
            message: format!("{NO_STORAGE_BEFORE}{}{NO_STORAGE_AFTER}", target.region),
        };
    };
    match policy_spec(set, target, destination) {
        Ok(spec) => Coverage::Policy { name: child_name(&set_name(set), &target.id), spec: Box::new(spec) },
        Err(not_covered) => not_covered,
    }
}

// The messages of the reasons that concern a region, around the region's name: [`region_not_covered`] reads it back.
const NO_STORAGE_BEFORE: &str = "the target is in ";
const NO_STORAGE_AFTER: &str = ", and spec.destinations names no storage account there (a flow log's storage account \
                                must be in its target's region)";
const NO_WORKSPACE_BEFORE: &str = "traffic analytics is on, and spec.destinations names no workspace for ";
const NO_WORKSPACE_AFTER: &str = " (the workspace must be in the flow log's region)";

/// The region a not-covered target's reason and message name (`NoStorageForRegion`, `NoWorkspaceForRegion`), as
/// the set's status lists it: the compliance report's region for a target without a policy.
pub fn region_not_covered(reason: &str, message: &str) -> Option<String> {
    let (before, after) = match reason {
        reason::NO_STORAGE_FOR_REGION => (NO_STORAGE_BEFORE, NO_STORAGE_AFTER),
        reason::NO_WORKSPACE_FOR_REGION => (NO_WORKSPACE_BEFORE, NO_WORKSPACE_AFTER),
        _ => return None,
    };
    let region = message.strip_prefix(before)?.strip_suffix(after)?;
    (!region.is_empty()).then(|| region.to_string())
}

fn set_name(set: &FlowLogPolicySet) -> String {
    set.metadata.name.clone().unwrap_or_default()
}

/// The generated policy's spec for a target, with its region's storage (and workspace).
fn policy_spec(
    set: &FlowLogPolicySet,
    target: &Discovered,
    destination: &RegionDestination,
) -> Result<FlowLogPolicySpec, Coverage> {
    let template = &set.spec.template;
    let traffic_analytics = match &template.flow_log.traffic_analytics {
        None => None,
        Some(ta) if !ta.enabled => Some(TrafficAnalytics {
            enabled: false,
            workspace_resource_id: None,
            workspace_id: None,
            workspace_region: None,
            interval_minutes: ta.interval_minutes,
        }),
        Some(ta) => {
            let Some(workspace) = &destination.workspace else {
                return Err(Coverage::NotCovered {
                    reason: reason::NO_WORKSPACE_FOR_REGION,
                    message: format!("{NO_WORKSPACE_BEFORE}{}{NO_WORKSPACE_AFTER}", target.region),
                });
            };
            Some(TrafficAnalytics {
                enabled: true,
                workspace_resource_id: Some(workspace.workspace_resource_id.clone()),
                workspace_id: Some(workspace.workspace_id.clone()),
                workspace_region: Some(destination.region.clone()),
                interval_minutes: ta.interval_minutes,
            })
        }
    };
    let flow_log = &template.flow_log;
    Ok(FlowLogPolicySpec {
        target: Target { resource_id: target.id.clone() },
        network_watcher: None,
        credentials_ref: set.spec.credentials_ref.clone(),
        flow_log: FlowLogSettings {
            enabled: flow_log.enabled,
            storage_id: Some(destination.storage_id.clone()),
            retention_policy: flow_log.retention_policy,
            format: flow_log.format.clone(),
            traffic_analytics,
            enabled_filtering_criteria: flow_log.enabled_filtering_criteria.clone(),
            record_types: flow_log.record_types.clone(),
            identity: flow_log.identity.clone(),
        },
        mode: template.mode,
        deletion_policy: template.deletion_policy,
        interval: template.interval.clone(),
    })
}

/// After an incomplete discovery (a subscription could not be listed), the policies whose target it did not see
/// stay selected as they are: counted, reported, and neither changed nor pruned until a complete discovery.
pub fn carry_over(selection: &mut Selection, children: &[Child]) {
    for child in children {
        if !selection.targets.keys().any(|t| same_id(t, &child.target)) {
            let coverage = Coverage::Policy { name: child.name.clone(), spec: Box::new(child.spec.clone()) };
            selection.targets.insert(child.target.clone(), coverage);
        }
    }
}

/// The generated policy's name: the set's, the target's own name (readable), and a hash of the target's ID
/// (unique: two targets may share a name in different groups or subscriptions). Deterministic, at most 253
/// characters, a DNS subdomain.
pub fn child_name(set: &str, target: &str) -> String {
    let id = target.trim_end_matches('/').to_ascii_lowercase();
    let readable = match ResourceId::parse(&id) {
        // A subnet reads `vnet-subnet`; other targets their name.
        Ok(parsed) => parsed.segments.iter().map(|(_, name)| name.as_str()).collect::<Vec<_>>().join("-"),
        Err(_) => String::new(),
    };
    let mut readable: String =
        readable.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
    while readable.contains("--") {
        readable = readable.replace("--", "-");
    }
    let readable = readable.trim_matches('-');
    let readable: String = readable.chars().take(100).collect();
    let readable = readable.trim_end_matches('-');
    let hash = fnv1a(id.as_bytes());
    if readable.is_empty() { format!("{set}-{hash:016x}") } else { format!("{set}-{readable}-{:08x}", hash >> 32) }
}

/// FNV-1a, 64 bits: stable across releases and platforms (std's hasher is not), so names never change.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// What to create, update and prune, given the selection of a discovery (`None` when it failed: then nothing
/// changes) and the set's generated policies now. An incomplete discovery (a subscription could not be listed)
/// creates and updates what it found but prunes nothing. `confirmed` is the value of the
/// [`CONFIRM_PRUNE_ANNOTATION`], if set.
pub fn changes(
    selection: Option<&Selection>,
    complete: bool,
    children: &[Child],
    max_prune_percent: i32,
    confirmed: Option<&str>,
) -> Changes {
    let Some(selection) = selection else { return Changes::default() };
    let mut changes = Changes::default();
    let existing: BTreeMap<&str, &Child> = children.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut wanted = BTreeSet::new();
    for coverage in selection.targets.values() {
        if let Coverage::Policy { name, spec } = coverage {
            wanted.insert(name.as_str());
            if existing.get(name.as_str()).is_none_or(|c| c.spec != **spec) {
                changes.apply.push((name.clone(), (**spec).clone()));
            }
        }
    }
    let prune: Vec<String> = existing.keys().filter(|n| !wanted.contains(*n)).map(|n| n.to_string()).collect();
    if prune.is_empty() || !complete {
        return changes;
    }
    let limit = i64::from(max_prune_percent.clamp(0, 100));
    let over = prune.len() as i64 * 100 > limit * children.len() as i64;
    let token = confirm_token(&prune);
    if over && confirmed != Some(token.as_str()) {
        changes.blocked = Some(PruneBlocked {
            would_prune: i32::try_from(prune.len()).unwrap_or(i32::MAX),
            policies: i32::try_from(children.len()).unwrap_or(i32::MAX),
            confirm_with: token,
        });
    } else {
        changes.prune = prune;
    }
    changes
}

/// The confirmation of one prune: how many and a hash of which, so that it lets this prune happen and no other.
fn confirm_token(prune: &[String]) -> String {
    let joined = prune.join("\n");
    format!("prune-{}-{:08x}", prune.len(), fnv1a(joined.as_bytes()) >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        FlowLogPolicySetSpec, PolicyTemplate, Pruning, RegionWorkspace, TargetSelector, TemplateFlowLog,
        TemplateTrafficAnalytics,
    };

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn vnet(rg: &str, name: &str, region: &str, tags: &[(&str, &str)]) -> Discovered {
        Discovered {
            id: format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}"),
            kind: TargetKind::VirtualNetwork,
            region: region.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            has_flow_log: false,
        }
    }

    fn storage(name: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
    }

    fn set() -> FlowLogPolicySet {
        FlowLogPolicySet::new(
            "all-vnets",
            FlowLogPolicySetSpec {
                selector: TargetSelector {
                    subscriptions: vec![SUB.into()],
                    all_subscriptions: false,
                    kind: TargetKind::VirtualNetwork,
                    regions: vec![],
                    resource_groups: vec![],
                    match_tags: BTreeMap::new(),
                    exclude_tags: [("flowlogs".to_string(), "exempt".to_string())].into(),
                    exclude_ids: vec![],
                },
                destinations: vec![RegionDestination {
                    region: "westeurope".into(),
                    storage_id: storage("weu"),
                    workspace: None,
                }],
                template: PolicyTemplate {
                    labels: BTreeMap::new(),
                    flow_log: TemplateFlowLog { enabled: true, ..Default::default() },
                    mode: Default::default(),
                    deletion_policy: Default::default(),
                    interval: "10m".into(),
                },
                credentials_ref: None,
                discovery_interval: "10m".into(),
                pruning: Pruning::default(),
            },
        )
    }

    fn nobody(_: &str) -> Option<String> {
        None
    }

    fn policy_names(selection: &Selection) -> Vec<String> {
        selection
            .targets
            .values()
            .filter_map(|c| match c {
                Coverage::Policy { name, .. } => Some(name.clone()),
                Coverage::NotCovered { .. } => None,
            })
            .collect()
    }

    #[test]
    fn the_selector_keeps_its_kind_scope_and_tags_and_counts_exclusions() {
        let mut s = set();
        s.spec.selector.regions = vec!["West Europe".into()];
        s.spec.selector.resource_groups = vec!["NET-RG".into()];
        s.spec.selector.match_tags = [("env".to_string(), "prod".to_string())].into();
        let mut nic = vnet("net-rg", "nic", "westeurope", &[("env", "prod")]);
        nic.kind = TargetKind::NetworkInterface;
        let found = vec![
            vnet("net-rg", "a", "westeurope", &[("env", "prod")]),
            vnet("net-rg", "b", "northeurope", &[("env", "prod")]),
            vnet("other-rg", "c", "westeurope", &[("env", "prod")]),
            vnet("net-rg", "d", "westeurope", &[("env", "dev")]),
            vnet("net-rg", "e", "westeurope", &[("env", "prod"), ("flowlogs", "exempt")]),
            nic,
        ];
        let selection = select(&s, &found, &nobody);
        assert_eq!(selection.targets.keys().cloned().collect::<Vec<_>>(), [found[0].id.clone()]);
        assert_eq!(selection.excluded, 1, "e is excluded by its tag; the others are simply out of scope");

        s.spec.selector.exclude_ids = vec![found[0].id.to_uppercase()];
        let selection = select(&s, &found, &nobody);
        assert!(selection.targets.is_empty());
        assert_eq!(selection.excluded, 2, "IDs compare as ARM IDs do, ignoring case");
    }

    #[test]
    fn a_policy_per_target_with_its_regions_storage_or_a_reason() {
        let mut s = set();
        let found = vec![vnet("rg", "a", "westeurope", &[]), vnet("rg", "b", "northeurope", &[])];
        let selection = select(&s, &found, &nobody);
        match &selection.targets[&found[0].id] {
            Coverage::Policy { name, spec } => {
                assert_eq!(name, &child_name("all-vnets", &found[0].id));
                assert_eq!(spec.target.resource_id, found[0].id);
                assert_eq!(spec.flow_log.storage_id.as_deref(), Some(storage("weu").as_str()));
                assert!(spec.flow_log.enabled);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &selection.targets[&found[1].id],
            Coverage::NotCovered { reason: reason::NO_STORAGE_FOR_REGION, .. }
        ));

        // Traffic analytics needs the region's workspace: none named, no policy (not another region's).
        s.spec.template.flow_log.traffic_analytics =
            Some(TemplateTrafficAnalytics { enabled: true, interval_minutes: 10 });
        let selection = select(&s, &found, &nobody);
        assert!(matches!(
            &selection.targets[&found[0].id],
            Coverage::NotCovered { reason: reason::NO_WORKSPACE_FOR_REGION, .. }
        ));
        s.spec.destinations[0].workspace = Some(RegionWorkspace {
            workspace_resource_id:
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law".into(),
            workspace_id: "55555555-5555-5555-5555-555555555551".into(),
        });
        let selection = select(&s, &found, &nobody);
        let Coverage::Policy { spec, .. } = &selection.targets[&found[0].id] else { panic!() };
        let ta = spec.flow_log.traffic_analytics.as_ref().unwrap();
        assert_eq!((ta.enabled, ta.interval_minutes, ta.workspace_region.as_deref()), (true, 10, Some("westeurope")));
    }

    #[test]
    fn the_region_of_a_target_without_a_policy_reads_back_from_its_message() {
        let mut s = set();
        s.spec.template.flow_log.traffic_analytics =
            Some(TemplateTrafficAnalytics { enabled: true, interval_minutes: 10 });
        let found = vec![vnet("rg", "a", "westeurope", &[]), vnet("rg", "b", "North Europe", &[])];
        let selection = select(&s, &found, &nobody);
        let region = |id: &str| match &selection.targets[id] {
            Coverage::NotCovered { reason, message } => region_not_covered(reason, message),
            other => panic!("{other:?}"),
        };
        assert_eq!(region(&found[0].id).as_deref(), Some("westeurope"), "no workspace");
        assert_eq!(region(&found[1].id).as_deref(), Some("North Europe"), "no storage");
        assert_eq!(region_not_covered(reason::MANAGED_ELSEWHERE, "FlowLogPolicy a/b manages this target"), None);
        assert_eq!(region_not_covered(reason::NO_STORAGE_FOR_REGION, "something else"), None);
    }

    #[test]
    fn a_target_another_policy_manages_stays_with_it() {
        let found = vec![vnet("rg", "a", "westeurope", &[])];
        let elsewhere = |id: &str| same_id(id, &found[0].id).then(|| "FlowLogPolicy team/a".to_string());
        let selection = select(&set(), &found, &elsewhere);
        match &selection.targets[&found[0].id] {
            Coverage::NotCovered { reason, message } => {
                assert_eq!(*reason, reason::MANAGED_ELSEWHERE);
                assert!(message.contains("FlowLogPolicy team/a"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nsgs_are_selected_only_to_adopt_an_existing_flow_log() {
        let mut s = set();
        s.spec.selector.kind = TargetKind::NetworkSecurityGroup;
        let nsg = |name: &str, has_flow_log| Discovered {
            id: format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/{name}"
            ),
            kind: TargetKind::NetworkSecurityGroup,
            region: "westeurope".into(),
            tags: BTreeMap::new(),
            has_flow_log,
        };
        let selection = select(&s, &[nsg("with", true), nsg("without", false)], &nobody);
        assert_eq!(selection.targets.len(), 1);
        assert!(selection.targets.keys().next().unwrap().ends_with("/with"));
    }

    #[test]
    fn names_are_deterministic_readable_unique_and_valid() {
        let subnet = format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/Hub_VNet/subnets/GatewaySubnet"
        );
        let name = child_name("all", &subnet);
        assert_eq!(name, child_name("all", &subnet.to_uppercase()), "IDs compare ignoring case");
        assert!(name.starts_with("all-hub-vnet-gatewaysubnet-"), "{name}");
        let other_rg = subnet.replace("/rg/", "/rg2/");
        assert_ne!(name, child_name("all", &other_rg), "same names in another group differ");
        let long = format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/{}",
            "n".repeat(80)
        );
        for name in [name, child_name(&"s".repeat(63), &long)] {
            assert!(name.len() <= 253, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
        }
    }

    fn child(s: &FlowLogPolicySet, target: &Discovered) -> Child {
        let Coverage::Policy { name, spec } = coverage(s, target, &nobody) else { panic!() };
        Child { name, target: target.id.clone(), spec: *spec }
    }

    #[test]
    fn only_missing_or_changed_policies_are_applied_and_gone_targets_pruned() {
        let mut s = set();
        let (a, b, c) = (
            vnet("rg", "a", "westeurope", &[]),
            vnet("rg", "b", "westeurope", &[]),
            vnet("rg", "c", "westeurope", &[]),
        );
        let children = vec![child(&s, &a), child(&s, &b)];
        s.spec.pruning.max_prune_percent = 100;
        let selection = select(&s, &[a.clone(), c.clone()], &nobody);
        let changes = changes(Some(&selection), true, &children, 100, None);
        assert_eq!(changes.apply.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), [child(&s, &c).name]);
        assert_eq!(changes.prune, [children[1].name.clone()]);
        assert_eq!(changes.blocked, None);

        // A template change updates every policy; an unchanged set changes nothing.
        s.spec.template.interval = "1h".into();
        let selection = select(&s, &[a.clone(), b.clone()], &nobody);
        assert_eq!(super::changes(Some(&selection), true, &children, 50, None).apply.len(), 2);
        assert_eq!(policy_names(&selection).len(), 2);
        let unchanged = select(&set(), &[a, b], &nobody);
        assert_eq!(super::changes(Some(&unchanged), true, &children, 50, None), Changes::default());
    }

    #[test]
    fn a_failed_discovery_creates_and_prunes_nothing() {
        let s = set();
        let children = vec![child(&s, &vnet("rg", "a", "westeurope", &[]))];
        assert_eq!(changes(None, true, &children, 100, None), Changes::default());
        // Incomplete (a subscription could not be listed): what was found is created, nothing is pruned.
        let b = vnet("rg", "b", "westeurope", &[]);
        let selection = select(&s, std::slice::from_ref(&b), &nobody);
        let partial = changes(Some(&selection), false, &children, 100, None);
        assert_eq!(partial.apply.len(), 1);
        assert!(partial.prune.is_empty() && partial.blocked.is_none());
        // ... and what it did not see stays as it is, counted.
        let mut carried = selection.clone();
        carry_over(&mut carried, &children);
        assert_eq!(carried.targets.len(), 2);
        assert_eq!(changes(Some(&carried), false, &children, 100, None).apply.len(), 1, "a's policy is unchanged");
        assert_eq!(changes(Some(&selection), true, &children, 100, None).prune.len(), 1);
    }

    #[test]
    fn a_sudden_drop_waits_for_a_confirmation_of_exactly_that_prune() {
        let s = set();
        let targets: Vec<Discovered> = (0..10).map(|i| vnet("rg", &format!("v{i}"), "westeurope", &[])).collect();
        let children: Vec<Child> = targets.iter().map(|t| child(&s, t)).collect();
        // Lost permissions: discovery finds 2 of 10.
        let selection = select(&s, &targets[..2], &nobody);
        let blocked = changes(Some(&selection), true, &children, 50, None);
        assert!(blocked.prune.is_empty(), "nothing is pruned");
        let guard = blocked.blocked.clone().expect("the guard trips");
        assert_eq!((guard.would_prune, guard.policies), (8, 10));
        // A confirmation of another prune does not count; of this one, it does.
        assert!(changes(Some(&selection), true, &children, 50, Some("prune-8-00000000")).prune.is_empty());
        let confirmed = changes(Some(&selection), true, &children, 50, Some(&guard.confirm_with));
        assert_eq!(confirmed.prune.len(), 8);
        assert_eq!(confirmed.blocked, None);
        // Within the share, no confirmation is needed; 0 % blocks any prune; 100 % none.
        let selection = select(&s, &targets[..6], &nobody);
        assert_eq!(changes(Some(&selection), true, &children, 50, None).prune.len(), 4);
        assert!(changes(Some(&selection), true, &children, 0, None).blocked.is_some());
        let selection = select(&s, &[], &nobody);
        assert_eq!(changes(Some(&selection), true, &children, 100, None).prune.len(), 10);
    }
}

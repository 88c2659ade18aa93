//! The Azure use cases, without Kubernetes: [`locate`] a target's Network Watcher, [`observe`] its flow log
//! (locate → read → plan), [`apply`] the plan (write → verify), [`resume`] a long-running operation, and [`retire`]
//! a flow log by a deletion policy.
//!
//! Reads go through the [`FlowLogIndex`]: one paged list per watcher and interval answers for all its targets. An
//! NSG target whose listed flow log differs from the spec is confirmed with `queryFlowLogStatus` (the legacy API's
//! authoritative read) before `configureFlowLog` writes it, so only drifted NSGs pay for that POST (ARM counts it
//! as a write). Writes and that confirmation are long-running: they answer either at once or with an
//! [`Operation`] that the caller keeps and polls with [`resume`] later; nothing here waits for Azure's
//! `Retry-After`, except [`retire`].

mod converge;
mod discover;
mod error;
mod index;
mod insights;
mod resume;

use std::time::Duration;

pub use converge::converge;
pub use discover::{Discovery, discover};
pub use error::SyncError;
pub use index::{FlowLogIndex, Seen};
pub use insights::Insights;
pub use resume::{Resumed, finish, operation, resume, settle, token};

use crate::api::{DeletionPolicy, FlowLogPolicySpec, FlowLogSettings, ObservedFlowLog};
use crate::azure::id::{NSG_TYPE, ResourceId};
use crate::azure::model::{FlowLog, FlowLogInformation};
use crate::azure::{ArmClient, ArmError, Began, Operation, parse, provisioned};
use crate::reconcile::{Difference, Plan, ResourcePlan, legacy_view, plan, plan_resource, resource_view};

/// Where the flow log lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub target: ResourceId,
    pub watcher: ResourceId,
    /// The watcher's region when discovery found it (saves a read when creating a flow log).
    pub region: Option<String>,
}

/// What Azure holds and what would make it match the spec.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one short-lived value per reconcile: boxing would buy nothing
pub enum Observation {
    /// NSG target, legacy actions. `current` comes from the watcher's list until `confirmed` by
    /// `queryFlowLogStatus` (see [`confirm`]).
    Legacy { located: Located, current: FlowLogInformation, plan: Plan, confirmed: bool },
    /// VNet, subnet or NIC target, `flowLogs` resource named `name` (adopted, or derived for a new one).
    Resource { located: Located, name: String, existing: Option<FlowLog>, plan: ResourcePlan },
}

impl Observation {
    pub fn located(&self) -> &Located {
        match self {
            Observation::Legacy { located, .. } | Observation::Resource { located, .. } => located,
        }
    }

    /// What a write would repair; `None` when Azure already matches.
    pub fn differences(&self) -> Option<&[Difference]> {
        match self {
            Observation::Legacy { plan: Plan::Configure { differences, .. }, .. }
            | Observation::Resource { plan: ResourcePlan::Put { differences, .. }, .. } => Some(differences),
            _ => None,
        }
    }

    /// The flow log as Azure reports it now (absent flow logs read as disabled).
    pub fn observed(&self) -> ObservedFlowLog {
        match self {
            Observation::Legacy { current, .. } => current.into(),
            Observation::Resource { existing: Some(log), .. } => log.into(),
            Observation::Resource { existing: None, .. } => ObservedFlowLog::default(),
        }
    }

    /// What the core decides on (see [`crate::reconcile::decide`]).
    pub fn found(&self) -> crate::reconcile::Found {
        crate::reconcile::Found {
            differences: self.differences().map(<[_]>::to_vec),
            observed: self.observed(),
            unconfirmed: matches!(self, Observation::Legacy { confirmed: false, .. }),
        }
    }

    /// The `flowLogs` resource's ID, once it exists.
    pub fn flow_log_id(&self) -> Option<String> {
        match self {
            Observation::Resource { existing: Some(log), located, name, .. } => {
                log.id.clone().or_else(|| Some(format!("{}/flowLogs/{name}", located.watcher)))
            }
            _ => None,
        }
    }
}

/// What a successful sync found and did.
#[derive(Clone, Debug, PartialEq)]
pub struct Synced {
    /// The flow log as Azure reports it after the sync.
    pub observed: ObservedFlowLog,
    /// What was repaired; empty when Azure already matched (no write was made).
    pub corrected: Vec<Difference>,
    pub flow_log_id: Option<String>,
}

const SUPPORTED: [&str; 4] = [
    NSG_TYPE,
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/virtualNetworks/subnets",
    "Microsoft.Network/networkInterfaces",
];

/// The target and its Network Watcher: the one named in the spec, the one found before (`known`, from
/// status: the target is immutable), or the one discovery finds for the target's region.
pub async fn locate(arm: &ArmClient, spec: &FlowLogPolicySpec, known: Option<&str>) -> Result<Located, SyncError> {
    let target = ResourceId::parse(&spec.target.resource_id).map_err(|e| SyncError::InvalidSpec(e.to_string()))?;
    if !SUPPORTED.iter().any(|t| target.is_type(t)) {
        return Err(SyncError::InvalidSpec(format!(
            "target {target} is not a network security group, virtual network, subnet or network interface"
        )));
    }
    if let Some(named) = &spec.network_watcher {
        let watcher = ResourceId::network_watcher(&target.subscription, &named.resource_group, &named.name);
        return Ok(Located { target, watcher, region: None });
    }
    if let Some(watcher) = known.and_then(|k| ResourceId::parse(k).ok()) {
        return Ok(Located { target, watcher, region: None });
    }
    match arm.network_watcher_for(&target).await? {
        Some(found) => Ok(Located { target, watcher: found.id, region: Some(found.location) }),
        None => {
            let region = arm.resource_location(&target).await?;
            Err(SyncError::NoNetworkWatcher { subscription: target.subscription.clone(), region })
        }
    }
}

/// Where a check stands after a read.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one short-lived value per reconcile
pub enum Step {
    /// Azure's state is known: plan against it.
    Observed(Observation),
    /// `queryFlowLogStatus` is confirming a suspected NSG drift: [`resume`] it after the wait.
    Confirming(Located, Operation, Duration),
}

impl Step {
    pub fn located(&self) -> &Located {
        match self {
            Step::Observed(observation) => observation.located(),
            Step::Confirming(located, ..) => located,
        }
    }
}

/// [`locate`], then [`observe`]. A watcher remembered from an earlier check (`known_watcher`, from status) that
/// Azure answers 404 for may be gone, or recreated under another name: it is looked up again, once, rather than
/// failing every check from then on.
pub async fn locate_and_observe(
    arm: &ArmClient,
    index: &FlowLogIndex,
    spec: &FlowLogPolicySpec,
    known_watcher: Option<&str>,
    max_age: Duration,
) -> Result<Step, SyncError> {
    let located = locate(arm, spec, known_watcher).await?;
    let remembered = known_watcher.is_some() && spec.network_watcher.is_none();
    let (subscription, watcher) = (located.target.subscription.clone(), located.watcher.clone());
    match observe(arm, index, located, &spec.flow_log, max_age).await {
        Err(SyncError::Azure(e)) if remembered && e.status() == Some(404) => {
            arm.forget_network_watchers(&subscription);
            let located = locate(arm, spec, None).await?;
            if located.watcher.eq_ignore_case(&watcher) {
                return Err(SyncError::Azure(e));
            }
            tracing::info!(was = %watcher, now = %located.watcher, "the remembered Network Watcher is gone; found the region's watcher again");
            observe(arm, index, located, &spec.flow_log, max_age).await
        }
        other => other,
    }
}

/// Reads the target's flow log from its watcher's snapshot (no older than `max_age`) and plans what would make
/// it match `desired`. An NSG whose listed flow log differs is confirmed with `queryFlowLogStatus` first.
pub async fn observe(
    arm: &ArmClient,
    index: &FlowLogIndex,
    located: Located,
    desired: &FlowLogSettings,
    max_age: Duration,
) -> Result<Step, SyncError> {
    let target = located.target.as_str().to_string();
    let seen = index.look_up(arm, &located.watcher, &located.target, max_age).await?;
    if located.target.is_type(NSG_TYPE) {
        let current = legacy_view(&target, seen.flow_log.as_ref());
        let plan = plan(&target, desired, &current);
        return Ok(Step::Observed(Observation::Legacy { located, current, plan, confirmed: false }));
    }
    let existing = seen.flow_log;
    let name = existing.as_ref().and_then(|l| l.name.clone()).unwrap_or_else(|| derived_name(&located.target));
    let region = match (&existing, &located.region) {
        (Some(log), _) => log.location.clone().unwrap_or_default(),
        (None, Some(region)) => region.clone(),
        // Only a create needs the region; read it then.
        (None, None) if desired.enabled => arm.resource_location(&located.target).await?,
        (None, None) => String::new(),
    };
    let plan = plan_resource(&target, &region, desired, existing.as_ref());
    Ok(Step::Observed(Observation::Resource { located, name, existing, plan }))
}

/// Before an NSG flow log is written, the drift the list showed is confirmed with `queryFlowLogStatus`, the legacy
/// API's authoritative read (a POST, which ARM counts as a write: only drifted NSGs pay for it). Anything else is
/// returned as it is.
pub async fn confirm(
    arm: &ArmClient,
    index: &FlowLogIndex,
    observation: Observation,
    desired: &FlowLogSettings,
) -> Result<Step, SyncError> {
    match observation {
        Observation::Legacy { located, confirmed: false, plan: Plan::Configure { .. }, .. } => {
            match arm.begin_query_flow_log_status(&located.watcher, located.target.as_str()).await? {
                Began::Done(bytes) => Ok(Step::Observed(confirmed(index, arm, located, desired, &bytes)?)),
                Began::Pending(operation, wait) => Ok(Step::Confirming(located, operation, wait)),
            }
        }
        other => Ok(Step::Observed(other)),
    }
}

/// The answer of `queryFlowLogStatus`, recorded in the index and planned.
fn confirmed(
    index: &FlowLogIndex,
    arm: &ArmClient,
    located: Located,
    desired: &FlowLogSettings,
    bytes: &[u8],
) -> Result<Observation, SyncError> {
    let current: FlowLogInformation = parse(bytes)?;
    index.record(arm, &located.watcher, located.target.as_str(), Some(resource_view(&current)));
    let plan = plan(located.target.as_str(), desired, &current);
    Ok(Observation::Legacy { located, current, plan, confirmed: true })
}

/// The name of a flow log the operator creates: `flowlog-<rg>-<name>[-<subnet>]`, lower-case, at most 80
/// characters (longer names are cut and end in a hash of the target ID, so they stay unique).
pub fn derived_name(target: &ResourceId) -> String {
    let mut name = format!("flowlog-{}", target.resource_group);
    for (_, segment) in &target.segments {
        name.push('-');
        name.push_str(segment);
    }
    let mut name: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect();
    if name.len() > 80 {
        let hash = target
            .as_str()
            .to_ascii_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        name.truncate(71);
        name.push_str(&format!("-{:08x}", hash as u32));
    }
    name
}

/// What a write did.
#[derive(Debug)]
pub enum Applied {
    /// Azure answered at once (or nothing had to be written).
    Done(Synced),
    /// Azure accepted the write: [`resume`] it after the wait.
    Writing(Operation, Duration),
}

/// Carries out the observation's plan and checks that Azure now reports `desired`: a write that Azure
/// acknowledges but does not apply must not look like success. A write Azure refuses drops the watcher's snapshot
/// (it may have missed a change), so that the next check lists it again.
pub async fn apply(
    arm: &ArmClient,
    index: &FlowLogIndex,
    insights: &Insights,
    observation: Observation,
    desired: &FlowLogSettings,
) -> Result<Applied, SyncError> {
    if observation.differences().is_some() && desired.enabled {
        insights.ensure(arm, &observation.located().target.subscription).await?;
    }
    let watcher = observation.located().watcher.clone();
    let result = write(arm, index, observation, desired).await;
    if let Err(e) = &result
        && !e.is_transient()
    {
        index.invalidate(arm, &watcher);
    }
    result
}

async fn write(
    arm: &ArmClient,
    index: &FlowLogIndex,
    observation: Observation,
    desired: &FlowLogSettings,
) -> Result<Applied, SyncError> {
    match observation {
        Observation::Legacy { plan: Plan::InSync, current, .. } => {
            Ok(Applied::Done(Synced { observed: (&current).into(), corrected: vec![], flow_log_id: None }))
        }
        Observation::Legacy { located, plan: Plan::Configure { request, differences }, .. } => {
            let began = match arm.begin_configure_flow_log(&located.watcher, &request).await {
                Ok(began) => began,
                Err(e) if e.code() == "NsgFlowLogCreationBlocked" => {
                    return Err(creation_blocked(arm, &located.target, e).await);
                }
                Err(e) => return Err(e.into()),
            };
            match began {
                Began::Done(bytes) => configured(arm, index, &located, desired, &bytes, differences).map(Applied::Done),
                Began::Pending(operation, wait) => Ok(Applied::Writing(operation, wait)),
            }
        }
        Observation::Resource { plan: ResourcePlan::InSync, .. } => {
            let observed = observation.observed();
            let flow_log_id = observation.flow_log_id();
            Ok(Applied::Done(Synced { observed, corrected: vec![], flow_log_id }))
        }
        Observation::Resource { located, name, plan: ResourcePlan::Put { body, differences }, .. } => {
            match arm.begin_put_flow_log(&located.watcher, &name, &body).await? {
                Began::Done(bytes) => put(arm, index, &located, &name, desired, &bytes, differences).map(Applied::Done),
                Began::Pending(operation, wait) => Ok(Applied::Writing(operation, wait)),
            }
        }
    }
}

/// The end of `configureFlowLog`: recorded, then verified.
fn configured(
    arm: &ArmClient,
    index: &FlowLogIndex,
    located: &Located,
    desired: &FlowLogSettings,
    bytes: &[u8],
    differences: Vec<Difference>,
) -> Result<Synced, SyncError> {
    let applied: FlowLogInformation = parse(bytes)?;
    index.record(arm, &located.watcher, located.target.as_str(), Some(resource_view(&applied)));
    if let Plan::Configure { differences: left, .. } = plan(located.target.as_str(), desired, &applied) {
        return Err(SyncError::NotConverged(left));
    }
    Ok(Synced { observed: (&applied).into(), corrected: differences, flow_log_id: None })
}

/// The end of a flow log's PUT: recorded, then verified.
fn put(
    arm: &ArmClient,
    index: &FlowLogIndex,
    located: &Located,
    name: &str,
    desired: &FlowLogSettings,
    bytes: &[u8],
    differences: Vec<Difference>,
) -> Result<Synced, SyncError> {
    let applied = provisioned(parse(bytes)?, name, &located.watcher)?;
    index.record(arm, &located.watcher, located.target.as_str(), Some(applied.clone()));
    let region = applied.location.clone().unwrap_or_default();
    if let ResourcePlan::Put { differences: left, .. } =
        plan_resource(located.target.as_str(), &region, desired, Some(&applied))
    {
        return Err(SyncError::NotConverged(left));
    }
    let flow_log_id = applied.id.clone().or_else(|| Some(format!("{}/flowLogs/{name}", located.watcher)));
    Ok(Synced { observed: (&applied).into(), corrected: differences, flow_log_id })
}

/// Azure refuses new NSG flow logs since 2025-06-30: say what to target instead, from the NSG's own
/// associations (the subnets, else the NICs it protects).
async fn creation_blocked(arm: &ArmClient, nsg: &ResourceId, error: ArmError) -> SyncError {
    let ArmError::Api { status, code, message, request_id, retry_after } = error else { return error.into() };
    let advice = blocked_advice(arm, nsg).await;
    SyncError::Azure(ArmError::Api { status, code, message: format!("{message} {advice}"), request_id, retry_after })
}

/// What to target instead of an NSG whose flow log Azure will not create: the subnets the NSG protects, else its
/// network interfaces, read from the NSG (one GET; a failed read gives the general advice).
pub async fn blocked_advice(arm: &ArmClient, nsg: &ResourceId) -> String {
    let ids = |props: &serde_json::Value, key: &str| -> Vec<String> {
        props[key].as_array().into_iter().flatten().filter_map(|v| v["id"].as_str().map(str::to_string)).collect()
    };
    match arm.get_resource(nsg).await {
        Ok(resource) => {
            let subnets = ids(&resource.properties, "subnets");
            let nics = ids(&resource.properties, "networkInterfaces");
            if !subnets.is_empty() {
                format!(
                    "Use a VNet flow log instead: create a FlowLogPolicy whose target is the subnet this NSG protects: {}",
                    subnets.join(", ")
                )
            } else if !nics.is_empty() {
                format!(
                    "Use a VNet flow log instead: create a FlowLogPolicy whose target is a network interface this NSG protects: {}",
                    nics.join(", ")
                )
            } else {
                "Use a VNet flow log instead: this NSG is attached to no subnet or network interface; target the virtual network whose traffic it should cover.".to_string()
            }
        }
        Err(_) => {
            "Use a VNet flow log instead: target the virtual network, subnet or network interface this NSG protects."
                .to_string()
        }
    }
}

/// Carries out a deletion policy, waiting for Azure (deletions are rare: this one call holds its caller).
/// Returns whether Azure was changed.
pub async fn retire(
    arm: &ArmClient,
    index: &FlowLogIndex,
    spec: &FlowLogPolicySpec,
    policy: DeletionPolicy,
    known_watcher: Option<&str>,
    max_age: Duration,
) -> Result<bool, SyncError> {
    match policy {
        DeletionPolicy::Orphan => Ok(false),
        DeletionPolicy::Disable => match disable(arm, index, spec, known_watcher, max_age).await {
            // Azure keeps the flow log of a deleted target but refuses to change it; nothing flows through it, so
            // there is nothing left to switch off.
            Err(SyncError::Azure(e)) if refers_to_missing(&e) && target_gone(arm, spec).await => Ok(false),
            other => other,
        },
        DeletionPolicy::Delete => {
            let located = locate(arm, spec, known_watcher).await?;
            // NSG flow logs are `flowLogs` resources too; find whichever exists for the target.
            let mut seen = index.look_up(arm, &located.watcher, &located.target, max_age).await?;
            if seen.flow_log.as_ref().is_some_and(|log| log.name.is_none()) {
                // Known only from a legacy answer (a flow log `configureFlowLog` created): the list names it.
                index.invalidate(arm, &located.watcher);
                seen = index.look_up(arm, &located.watcher, &located.target, max_age).await?;
            }
            match seen.flow_log.and_then(|log| log.name) {
                Some(name) => {
                    let deleted = arm.delete_flow_log(&located.watcher, &name).await?;
                    index.record(arm, &located.watcher, located.target.as_str(), None);
                    Ok(deleted)
                }
                None => Ok(false),
            }
        }
    }
}

/// Switches the target's flow log off (the `Disable` deletion policy); answers whether it wrote.
async fn disable(
    arm: &ArmClient,
    index: &FlowLogIndex,
    spec: &FlowLogPolicySpec,
    known_watcher: Option<&str>,
    max_age: Duration,
) -> Result<bool, SyncError> {
    let off = FlowLogSettings { enabled: false, ..spec.flow_log.clone() };
    let located = locate(arm, spec, known_watcher).await?;
    let observation = match observe(arm, index, located, &off, max_age).await? {
        Step::Observed(observation) => confirm(arm, index, observation, &off).await?,
        confirming => confirming,
    };
    let observation = settle(arm, index, observation, &off).await?;
    let wrote = observation.differences().is_some();
    let located = observation.located().clone();
    let differences = observation.differences().map(<[_]>::to_vec).unwrap_or_default();
    let applied = apply(arm, index, &Insights::new(false), observation, &off).await?;
    finish(arm, index, located, applied, &off, differences).await?;
    Ok(wrote)
}

/// Azure's answer when a request names a resource that does not exist.
fn refers_to_missing(e: &ArmError) -> bool {
    e.status() == Some(404) || matches!(e.code(), "InvalidResourceReference" | "ResourceNotFound" | "NotFound")
}

/// Whether the target itself is gone (a read of it answers 404).
async fn target_gone(arm: &ArmClient, spec: &FlowLogPolicySpec) -> bool {
    let Ok(target) = ResourceId::parse(&spec.target.resource_id) else { return false };
    matches!(arm.get_resource(&target).await, Err(e) if e.status() == Some(404))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_predictable_and_bounded() {
        let subnet = ResourceId::parse(
            "/subscriptions/s/resourceGroups/App-RG/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/web",
        )
        .unwrap();
        assert_eq!(derived_name(&subnet), "flowlog-app-rg-app-vnet-web");
        let long = "x".repeat(70);
        let nic = ResourceId::parse(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/{long}"
        ))
        .unwrap();
        let other = ResourceId::parse(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/{long}y"
        ))
        .unwrap();
        assert_eq!(derived_name(&nic).len(), 80);
        assert_ne!(derived_name(&nic), derived_name(&other), "cut names stay unique");
    }
}

//! One drift check against Azure, in two steps so that the controller can report `Applying` before a
//! long-running write: [`observe`] (locate → read → plan) and [`apply`] (write → verify). NSG targets use the
//! legacy actions (`queryFlowLogStatus` / `configureFlowLog`); virtual network, subnet and NIC targets use the
//! `flowLogs` resource. [`retire`] carries out a deletion policy.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::api::{DeletionPolicy, FlowLogPolicySpec, FlowLogSettings, ObservedFlowLog};
use crate::azure::id::{NSG_TYPE, ResourceId, same_id};
use crate::azure::model::{FlowLog, FlowLogInformation};
use crate::azure::{ArmClient, ArmError};
use crate::reconcile::{Difference, Plan, ResourcePlan, plan, plan_resource};

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
    /// NSG target, legacy actions.
    Legacy { located: Located, current: FlowLogInformation, plan: Plan },
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

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Azure(#[from] ArmError),
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{0}")]
    Credentials(String),
    /// Azure accepted the write but still reports a different configuration.
    #[error("Azure accepted the change but still differs from the spec: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NotConverged(Vec<Difference>),
    #[error(
        "no Network Watcher in region {region} of subscription {subscription}: enable Network Watcher there (Azure creates NetworkWatcher_{region} in NetworkWatcherRG) or name one in spec.networkWatcher"
    )]
    NoNetworkWatcher { subscription: String, region: String },
    #[error(
        "resource provider Microsoft.Insights is not registered in subscription {0}, and flow logs need it: register it (az provider register --namespace Microsoft.Insights) or let the operator do it (--register-providers)"
    )]
    ProviderNotRegistered(String),
    #[error(
        "registering resource provider Microsoft.Insights in subscription {0}; flow logs can be configured once it is registered"
    )]
    ProviderRegistering(String),
}

impl SyncError {
    /// The code shown in status (`lastError.code` and condition reasons).
    pub fn code(&self) -> &str {
        match self {
            SyncError::Azure(ArmError::Authentication { .. }) | SyncError::Credentials(_) => "CredentialsInvalid",
            SyncError::Azure(ArmError::Throttled { .. }) => "Throttled",
            SyncError::Azure(e) => e.code(),
            SyncError::InvalidSpec(_) => "InvalidSpec",
            SyncError::NotConverged(_) => "NotConverged",
            SyncError::NoNetworkWatcher { .. } => "NetworkWatcherNotFound",
            SyncError::ProviderNotRegistered(_) => "ProviderNotRegistered",
            SyncError::ProviderRegistering(_) => "ProviderRegistering",
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Azure(e) => e.is_transient(),
            SyncError::ProviderRegistering(_) => true,
            _ => false,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            SyncError::Azure(e) => e.request_id(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Azure(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// `Microsoft.Insights` must be registered in a subscription before flow logs can be enabled there. Positive
/// answers are remembered for the life of the process (registration is not undone in practice).
#[derive(Debug, Default)]
pub struct Insights {
    /// Register the provider when it is not (needs `Microsoft.Insights/register/action`).
    pub allow_register: bool,
    registered: Mutex<HashSet<String>>,
}

impl Insights {
    pub fn new(allow_register: bool) -> Self {
        Self { allow_register, registered: Mutex::default() }
    }

    async fn ensure(&self, arm: &ArmClient, subscription: &str) -> Result<(), SyncError> {
        let key = subscription.to_ascii_lowercase();
        if self.registered.lock().expect("not poisoned").contains(&key) {
            return Ok(());
        }
        const NAMESPACE: &str = "Microsoft.Insights";
        if arm.provider_registration_state(subscription, NAMESPACE).await?.is_registered() {
            self.registered.lock().expect("not poisoned").insert(key);
            return Ok(());
        }
        if !self.allow_register {
            return Err(SyncError::ProviderNotRegistered(subscription.to_string()));
        }
        let provider = arm.register_provider(subscription, NAMESPACE).await?;
        if provider.registration_state.as_deref() == Some("Registered") {
            self.registered.lock().expect("not poisoned").insert(key);
            return Ok(());
        }
        Err(SyncError::ProviderRegistering(subscription.to_string()))
    }
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

/// [`locate`], then [`observe`]. A watcher remembered from an earlier check (`known_watcher`, from status) that
/// Azure answers 404 for may be gone, or recreated under another name: it is looked up again, once, rather than
/// failing every check from then on.
pub async fn locate_and_observe(
    arm: &ArmClient,
    spec: &FlowLogPolicySpec,
    known_watcher: Option<&str>,
    known_name: Option<&str>,
) -> Result<Observation, SyncError> {
    let located = locate(arm, spec, known_watcher).await?;
    let remembered = known_watcher.is_some() && spec.network_watcher.is_none();
    let (subscription, watcher) = (located.target.subscription.clone(), located.watcher.clone());
    match observe(arm, located, &spec.flow_log, known_name).await {
        Err(SyncError::Azure(e)) if remembered && e.status() == Some(404) => {
            arm.forget_network_watchers(&subscription);
            let located = locate(arm, spec, None).await?;
            if located.watcher.eq_ignore_case(&watcher) {
                return Err(SyncError::Azure(e));
            }
            tracing::info!(was = %watcher, now = %located.watcher, "the remembered Network Watcher is gone; found the region's watcher again");
            observe(arm, located, &spec.flow_log, None).await
        }
        other => other,
    }
}

/// Reads the flow log from Azure and plans what would make it match `desired`. `known_name` is the
/// `flowLogs` resource found before (from status), to read it directly instead of listing.
pub async fn observe(
    arm: &ArmClient,
    located: Located,
    desired: &FlowLogSettings,
    known_name: Option<&str>,
) -> Result<Observation, SyncError> {
    let target = located.target.as_str().to_string();
    if located.target.is_type(NSG_TYPE) {
        let current = arm.query_flow_log_status(&located.watcher, &target).await?;
        let plan = plan(&target, desired, &current);
        return Ok(Observation::Legacy { located, current, plan });
    }
    let existing = find_flow_log(arm, &located, known_name).await?;
    let name = existing.as_ref().and_then(|l| l.name.clone()).unwrap_or_else(|| derived_name(&located.target));
    let region = match (&existing, &located.region) {
        (Some(log), _) => log.location.clone().unwrap_or_default(),
        (None, Some(region)) => region.clone(),
        // Only a create needs the region; read it then.
        (None, None) if desired.enabled => arm.resource_location(&located.target).await?,
        (None, None) => String::new(),
    };
    let plan = plan_resource(&target, &region, desired, existing.as_ref());
    Ok(Observation::Resource { located, name, existing, plan })
}

/// Azure allows one flow log per target: adopt the one that exists, whatever its name.
async fn find_flow_log(
    arm: &ArmClient,
    located: &Located,
    known_name: Option<&str>,
) -> Result<Option<FlowLog>, SyncError> {
    let targets_ours = |log: &FlowLog| same_id(&log.properties.target_resource_id, located.target.as_str());
    if let Some(name) = known_name
        && let Some(log) = arm.get_flow_log(&located.watcher, name).await?
        && targets_ours(&log)
    {
        return Ok(Some(log));
    }
    Ok(arm.list_flow_logs(&located.watcher).await?.into_iter().find(targets_ours))
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

/// Carries out the observation's plan and checks that Azure now reports `desired`: a write that Azure
/// acknowledges but does not apply must not look like success.
pub async fn apply(
    arm: &ArmClient,
    insights: &Insights,
    observation: Observation,
    desired: &FlowLogSettings,
) -> Result<Synced, SyncError> {
    if observation.differences().is_some() && desired.enabled {
        insights.ensure(arm, &observation.located().target.subscription).await?;
    }
    match observation {
        Observation::Legacy { plan: Plan::InSync, current, .. } => {
            Ok(Synced { observed: (&current).into(), corrected: vec![], flow_log_id: None })
        }
        Observation::Legacy { located, plan: Plan::Configure { request, differences }, .. } => {
            let applied = match arm.configure_flow_log(&located.watcher, &request).await {
                Ok(applied) => applied,
                Err(e) if e.code() == "NsgFlowLogCreationBlocked" => {
                    return Err(creation_blocked(arm, &located.target, e).await);
                }
                Err(e) => return Err(e.into()),
            };
            if let Plan::Configure { differences: left, .. } = plan(located.target.as_str(), desired, &applied) {
                return Err(SyncError::NotConverged(left));
            }
            Ok(Synced { observed: (&applied).into(), corrected: differences, flow_log_id: None })
        }
        Observation::Resource { plan: ResourcePlan::InSync, .. } => {
            let observed = observation.observed();
            let flow_log_id = observation.flow_log_id();
            Ok(Synced { observed, corrected: vec![], flow_log_id })
        }
        Observation::Resource { located, name, plan: ResourcePlan::Put { body, differences }, .. } => {
            let applied = arm.put_flow_log(&located.watcher, &name, &body).await?;
            let region = applied.location.clone().unwrap_or_default();
            if let ResourcePlan::Put { differences: left, .. } =
                plan_resource(located.target.as_str(), &region, desired, Some(&applied))
            {
                return Err(SyncError::NotConverged(left));
            }
            let flow_log_id = applied.id.clone().or_else(|| Some(format!("{}/flowLogs/{name}", located.watcher)));
            Ok(Synced { observed: (&applied).into(), corrected: differences, flow_log_id })
        }
    }
}

/// Azure refuses new NSG flow logs since 2025-06-30: say what to target instead, from the NSG's own
/// associations (the subnets, else the NICs it protects).
async fn creation_blocked(arm: &ArmClient, nsg: &ResourceId, error: ArmError) -> SyncError {
    let ArmError::Api { status, code, message, request_id, retry_after } = error else { return error.into() };
    let ids = |props: &serde_json::Value, key: &str| -> Vec<String> {
        props[key].as_array().into_iter().flatten().filter_map(|v| v["id"].as_str().map(str::to_string)).collect()
    };
    let advice = match arm.get_resource(nsg).await {
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
    };
    SyncError::Azure(ArmError::Api { status, code, message: format!("{message} {advice}"), request_id, retry_after })
}

/// Carries out a deletion policy. Returns whether Azure was changed.
pub async fn retire(
    arm: &ArmClient,
    spec: &FlowLogPolicySpec,
    policy: DeletionPolicy,
    known_watcher: Option<&str>,
    known_name: Option<&str>,
) -> Result<bool, SyncError> {
    match policy {
        DeletionPolicy::Orphan => Ok(false),
        DeletionPolicy::Disable => {
            let off = FlowLogSettings { enabled: false, ..spec.flow_log.clone() };
            let located = locate(arm, spec, known_watcher).await?;
            let observation = observe(arm, located, &off, known_name).await?;
            let wrote = observation.differences().is_some();
            apply(arm, &Insights::new(false), observation, &off).await?;
            Ok(wrote)
        }
        DeletionPolicy::Delete => {
            let located = locate(arm, spec, known_watcher).await?;
            // NSG flow logs are `flowLogs` resources too; find whichever exists for the target.
            match find_flow_log(arm, &located, known_name).await? {
                Some(log) => {
                    let name = log.name.unwrap_or_default();
                    Ok(arm.delete_flow_log(&located.watcher, &name).await?)
                }
                None => Ok(false),
            }
        }
    }
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

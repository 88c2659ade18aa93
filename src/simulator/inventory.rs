//! The simulator's inventory: which principals, subscriptions and resources exist when it starts.
//! The YAML format is described in the [module documentation](super).

use serde::{Deserialize, Serialize};

use super::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID};
use crate::azure::model::{FlowLogFormatParameters, RetentionPolicyParameters};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_principals: Vec<ServicePrincipal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub behaviour: Behaviour,
}

/// An app registration that may use the client-credentials flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    /// Any string ARM accepts as a path segment; the official examples use `subid`.
    pub id: String,
    /// The regions resources of this subscription may live in.
    pub locations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_watchers: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_accounts: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_security_groups: Vec<NetworkSecurityGroup>,
}

/// A network watcher or a storage account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resource {
    pub name: String,
    pub resource_group: String,
    pub location: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSecurityGroup {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    /// The NSG flow log that already exists; none means new ones cannot be created (retirement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_log: Option<FlowLog>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowLog {
    pub enabled: bool,
    /// Name of a storage account of this inventory (names are globally unique, as in Azure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicyParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FlowLogFormatParameters>,
    /// ARM IDs of user-assigned identities; reported with generated `clientId`/`principalId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_assigned_identities: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behaviour {
    #[serde(default)]
    pub lro: Lro,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lro {
    #[serde(default)]
    pub mode: LroMode,
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u32,
    #[serde(default = "default_in_progress_polls")]
    pub in_progress_polls: u32,
}

impl Default for Lro {
    fn default() -> Self {
        Lro {
            mode: LroMode::Async,
            retry_after_seconds: default_retry_after(),
            in_progress_polls: default_in_progress_polls(),
        }
    }
}

fn default_retry_after() -> u32 {
    1
}

fn default_in_progress_polls() -> u32 {
    1
}

/// `async`: long-running actions answer 202 and are polled; `sync`: they answer 200 at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LroMode {
    #[default]
    Async,
    Sync,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    #[error("cannot parse the inventory: {0}")]
    Parse(String),
    #[error("invalid inventory: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Inventory {
    /// The default inventory (see the module documentation).
    pub fn builtin() -> Inventory {
        let sub = DEFAULT_SUBSCRIPTION_ID;
        let res = |name: &str, rg: &str, location: &str| Resource {
            name: name.into(),
            resource_group: rg.into(),
            location: location.into(),
        };
        let nsg = |name: &str, rg: &str, location: &str, flow_log| NetworkSecurityGroup {
            name: name.into(),
            resource_group: rg.into(),
            location: location.into(),
            flow_log,
        };
        let json = |version| Some(FlowLogFormatParameters { format_type: Some("JSON".into()), version });
        Inventory {
            service_principals: vec![ServicePrincipal {
                tenant_id: DEFAULT_TENANT_ID.into(),
                client_id: DEFAULT_CLIENT_ID.into(),
                client_secret: DEFAULT_CLIENT_SECRET.into(),
            }],
            subscriptions: vec![Subscription {
                id: sub.into(),
                locations: vec!["westeurope".into(), "northeurope".into()],
                network_watchers: vec![
                    res("NetworkWatcher_westeurope", "NetworkWatcherRG", "westeurope"),
                    res("NetworkWatcher_northeurope", "NetworkWatcherRG", "northeurope"),
                ],
                storage_accounts: vec![
                    res("flowlogsweu001", "logging-rg", "westeurope"),
                    res("flowlogsneu001", "logging-rg", "northeurope"),
                ],
                network_security_groups: vec![
                    nsg(
                        "web-nsg",
                        "app-prod-rg",
                        "westeurope",
                        Some(FlowLog {
                            enabled: true,
                            storage_account: Some("flowlogsweu001".into()),
                            retention_policy: Some(RetentionPolicyParameters { days: 7, enabled: true }),
                            format: json(2),
                            user_assigned_identities: vec![],
                        }),
                    ),
                    nsg(
                        "db-nsg",
                        "app-prod-rg",
                        "westeurope",
                        Some(FlowLog {
                            enabled: false,
                            storage_account: None,
                            retention_policy: None,
                            format: None,
                            user_assigned_identities: vec![],
                        }),
                    ),
                    nsg("new-nsg", "app-prod-rg", "westeurope", None),
                    nsg(
                        "web-dr-nsg",
                        "app-dr-rg",
                        "northeurope",
                        Some(FlowLog {
                            enabled: true,
                            storage_account: Some("flowlogsneu001".into()),
                            retention_policy: Some(RetentionPolicyParameters { days: 0, enabled: false }),
                            format: json(1),
                            user_assigned_identities: vec![],
                        }),
                    ),
                    nsg("batch-nsg", "app-dr-rg", "northeurope", None),
                ],
            }],
            behaviour: Behaviour::default(),
        }
    }

    /// Parses and validates an inventory; every problem found is reported, not only the first.
    pub fn from_yaml(text: &str) -> Result<Inventory, InventoryError> {
        let inventory: Inventory = serde_saphyr::from_str(text).map_err(|e| InventoryError::Parse(e.to_string()))?;
        inventory.validate()?;
        Ok(inventory)
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("plain structs always serialize to YAML")
    }

    pub fn validate(&self) -> Result<(), InventoryError> {
        let mut problems = Vec::new();
        let mut seen = Seen::default();
        for sp in &self.service_principals {
            check_segment(&mut problems, "service principal tenantId", &sp.tenant_id);
            check_segment(&mut problems, "service principal clientId", &sp.client_id);
            if sp.client_secret.is_empty() {
                problems.push(format!("service principal {} has an empty clientSecret", sp.client_id));
            }
            seen.once(&mut problems, "service principal", format!("{}/{}", sp.tenant_id, sp.client_id));
        }
        // Storage account names are global in Azure, so flow logs may refer to any subscription's.
        let storage: Vec<&Resource> = self.subscriptions.iter().flat_map(|s| &s.storage_accounts).collect();
        for sub in &self.subscriptions {
            check_segment(&mut problems, "subscription id", &sub.id);
            seen.once(&mut problems, "subscription", sub.id.clone());
            if sub.locations.is_empty() {
                problems.push(format!("subscription {} lists no locations", sub.id));
            }
            for w in &sub.network_watchers {
                check_resource(&mut problems, sub, "network watcher", &w.name, &w.resource_group, &w.location);
                seen.once(&mut problems, "network watcher", format!("{}/{}/{}", sub.id, w.resource_group, w.name));
                // Azure allows one watcher per subscription and region (NetworkWatcherCountLimitReached).
                seen.once(&mut problems, "network watcher in location", format!("{}/{}", sub.id, w.location));
            }
            for s in &sub.storage_accounts {
                check_resource(&mut problems, sub, "storage account", &s.name, &s.resource_group, &s.location);
                seen.once(&mut problems, "storage account", s.name.clone());
            }
            for n in &sub.network_security_groups {
                check_resource(&mut problems, sub, "network security group", &n.name, &n.resource_group, &n.location);
                seen.once(
                    &mut problems,
                    "network security group",
                    format!("{}/{}/{}", sub.id, n.resource_group, n.name),
                );
                if let Some(fl) = &n.flow_log {
                    check_flow_log(&mut problems, n, fl, &storage);
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(InventoryError::Invalid(problems)) }
    }
}

fn check_resource(problems: &mut Vec<String>, sub: &Subscription, kind: &str, name: &str, rg: &str, location: &str) {
    check_segment(problems, &format!("{kind} name"), name);
    check_segment(problems, &format!("resource group of {kind} {name}"), rg);
    if !sub.locations.iter().any(|l| l.eq_ignore_ascii_case(location)) {
        problems
            .push(format!("{kind} {name} is in location {location:?}, which subscription {} does not list", sub.id));
    }
}

fn check_flow_log(problems: &mut Vec<String>, nsg: &NetworkSecurityGroup, fl: &FlowLog, storage: &[&Resource]) {
    let at = format!("flow log of network security group {}", nsg.name);
    match &fl.storage_account {
        None if fl.enabled => problems.push(format!("{at} is enabled but names no storageAccount")),
        None => {}
        Some(name) => match storage.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
            None => problems.push(format!("{at} refers to unknown storage account {name:?}")),
            Some(s) if !s.location.eq_ignore_ascii_case(&nsg.location) => problems.push(format!(
                "{at} uses storage account {name} in {}, but the NSG is in {}",
                s.location, nsg.location
            )),
            Some(_) => {}
        },
    }
    if let Some(why) = fl.retention_policy.as_ref().and_then(super::state::retention_problem) {
        problems.push(format!("{at}: {why}"));
    }
    if let Some(why) = fl.format.as_ref().and_then(super::state::format_problem) {
        problems.push(format!("{at}: {why}"));
    }
    for id in &fl.user_assigned_identities {
        if crate::azure::id::ResourceId::parse(id).is_err() {
            problems.push(format!("{at}: {id:?} is not an ARM resource ID"));
        }
    }
}

/// A name must be usable as one segment of an ARM ID.
fn check_segment(problems: &mut Vec<String>, what: &str, value: &str) {
    if value.is_empty() || value.contains(['/', '?', '#']) || value.chars().any(char::is_whitespace) {
        problems.push(format!("{what} {value:?} is not a valid ARM ID segment"));
    }
}

/// Detects duplicates, comparing case-insensitively as ARM does.
#[derive(Default)]
struct Seen(std::collections::HashSet<String>);

impl Seen {
    fn once(&mut self, problems: &mut Vec<String>, kind: &str, key: String) {
        if !self.0.insert(format!("{kind}:{}", key.to_ascii_lowercase())) {
            problems.push(format!("duplicate {kind} {key}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_round_trips_through_yaml() {
        let builtin = Inventory::builtin();
        builtin.validate().unwrap();
        let yaml = builtin.to_yaml();
        assert!(yaml.contains("networkSecurityGroups:"), "{yaml}");
        assert!(yaml.contains("retryAfterSeconds: 1"), "{yaml}");
        assert_eq!(Inventory::from_yaml(&yaml).unwrap(), builtin);
    }

    #[test]
    fn defaults_apply_to_a_minimal_inventory() {
        let inv = Inventory::from_yaml("subscriptions:\n  - id: subid\n    locations: [westus]\n").unwrap();
        assert_eq!(inv.behaviour.lro, Lro { mode: LroMode::Async, retry_after_seconds: 1, in_progress_polls: 1 });
        assert!(inv.service_principals.is_empty());
    }

    #[test]
    fn reports_every_problem() {
        let yaml = r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkWatchers:
      - { name: nw1, resourceGroup: rg, location: westeurope }
      - { name: NW1, resourceGroup: RG, location: westeurope }
    storageAccounts:
      - { name: st1, resourceGroup: rg, location: northeurope }
    networkSecurityGroups:
      - name: nsg1
        resourceGroup: rg
        location: westeurope
        flowLog: { enabled: true, storageAccount: missing }
      - name: nsg2
        resourceGroup: rg
        location: eastus
        flowLog: { enabled: true, storageAccount: st1 }
      - name: "bad/name"
        resourceGroup: rg
        location: westeurope
        flowLog: { enabled: true, retentionPolicy: { days: 400, enabled: true }, format: { type: CSV, version: 1 } }
"#;
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "duplicate network watcher s1/RG/NW1",
            "duplicate network watcher in location",
            "network security group nsg2 is in location \"eastus\", which subscription s1 does not list",
            "uses storage account st1 in northeurope, but the NSG is in eastus",
            "unknown storage account \"missing\"",
            "network security group name \"bad/name\" is not a valid ARM ID segment",
            "is enabled but names no storageAccount",
            "Retention policy days must be between 0 and 365; got 400",
            "format type 'CSV' is not supported",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn rejects_unknown_fields_and_bad_yaml() {
        assert!(matches!(Inventory::from_yaml("subscriptions: []\nbehavior: {}\n"), Err(InventoryError::Parse(_))));
        assert!(matches!(Inventory::from_yaml("subscriptions: [\n"), Err(InventoryError::Parse(_))));
    }
}

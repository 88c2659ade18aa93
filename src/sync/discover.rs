//! A FlowLogPolicySet's discovery: the resources of its kind in its subscriptions, as the set's core reads them
//! ([`Discovered`]). One list per subscription and kind (every page); a subscription that cannot be listed is
//! named in [`Discovery::failed`] and makes the discovery incomplete (an incomplete discovery never prunes).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::{TargetKind, TargetSelector};
use crate::azure::model::ArmResource;
use crate::azure::{ArmClient, ArmError};
use crate::reconcile::set::Discovered;

/// What one discovery found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovery {
    /// The resources of the selector's kind in the subscriptions that could be listed.
    pub found: Vec<Discovered>,
    /// Subscriptions listed.
    pub subscriptions: usize,
    /// Subscriptions that could not be listed, with why.
    pub failed: Vec<(String, String)>,
}

impl Discovery {
    /// Whether every subscription was listed.
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// Why it is incomplete, in one line.
    pub fn error(&self) -> Option<String> {
        (!self.failed.is_empty()).then(|| {
            let each: Vec<String> = self.failed.iter().map(|(s, why)| format!("subscription {s}: {why}")).collect();
            each.join("; ")
        })
    }
}

/// Lists the selector's subscriptions (or every one the credentials see) for resources of its kind. Fails only
/// when the subscription list itself cannot be read; a subscription that cannot be listed is recorded.
pub async fn discover(arm: &ArmClient, selector: &TargetSelector) -> Result<Discovery, ArmError> {
    let subscriptions: Vec<String> = if selector.all_subscriptions {
        arm.list_subscriptions().await?.into_iter().filter(|s| s.usable()).map(|s| s.subscription_id).collect()
    } else {
        selector.subscriptions.clone()
    };
    let mut discovery = Discovery::default();
    for subscription in subscriptions {
        let listed = match selector.kind {
            TargetKind::VirtualNetwork | TargetKind::Subnet => arm.list_virtual_networks(&subscription).await,
            TargetKind::NetworkInterface => arm.list_network_interfaces(&subscription).await,
            TargetKind::NetworkSecurityGroup => arm.list_network_security_groups(&subscription).await,
        };
        match listed {
            Ok(resources) => {
                discovery.subscriptions += 1;
                discovery.found.extend(resources.into_iter().flat_map(|r| targets(selector.kind, r)));
            }
            Err(e) => discovery.failed.push((subscription, e.to_string())),
        }
    }
    Ok(discovery)
}

/// The targets of `kind` a listed resource holds: itself, or for subnets, its virtual network's subnets (which
/// have the network's region and tags).
fn targets(kind: TargetKind, resource: ArmResource) -> Vec<Discovered> {
    let region = resource.location.clone().unwrap_or_default();
    let tags: BTreeMap<String, String> = resource.tags.clone().unwrap_or_default();
    let has_flow_log = resource.properties.get("flowLogs").and_then(Value::as_array).is_some_and(|l| !l.is_empty());
    match kind {
        TargetKind::Subnet => resource
            .properties
            .get("subnets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|subnet| subnet.get("id").and_then(Value::as_str))
            .map(|id| Discovered {
                id: id.to_string(),
                kind,
                region: region.clone(),
                tags: tags.clone(),
                has_flow_log: false,
            })
            .collect(),
        _ => vec![Discovered { id: resource.id, kind, region, tags, has_flow_log }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_virtual_network_yields_itself_or_its_subnets_with_its_region_and_tags() {
        let vnet: ArmResource = serde_json::from_value(json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
            "name": "v", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
            "tags": {"env": "prod"},
            "properties": {"subnets": [
                {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a", "name": "a"},
                {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/b", "name": "b"}
            ]}
        }))
        .unwrap();
        let itself = targets(TargetKind::VirtualNetwork, vnet.clone());
        assert_eq!(itself.len(), 1);
        assert_eq!((itself[0].id.as_str(), itself[0].region.as_str()), (vnet.id.as_str(), "westeurope"));
        let subnets = targets(TargetKind::Subnet, vnet);
        assert_eq!(subnets.len(), 2);
        assert!(
            subnets.iter().all(|s| s.region == "westeurope" && s.tags.get("env").map(String::as_str) == Some("prod"))
        );
        assert!(subnets[1].id.ends_with("/subnets/b"));
    }

    #[test]
    fn an_nsg_says_whether_it_has_a_flow_log() {
        let nsg = |flow_logs: Value| -> ArmResource {
            serde_json::from_value(json!({
                "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
                "name": "n", "type": "Microsoft.Network/networkSecurityGroups", "location": "westeurope",
                "properties": {"flowLogs": flow_logs}
            }))
            .unwrap()
        };
        assert!(targets(TargetKind::NetworkSecurityGroup, nsg(json!([{"id": "/x"}])))[0].has_flow_log);
        assert!(!targets(TargetKind::NetworkSecurityGroup, nsg(json!([])))[0].has_flow_log);
        assert!(!targets(TargetKind::NetworkSecurityGroup, nsg(Value::Null))[0].has_flow_log);
    }

    #[test]
    fn an_incomplete_discovery_says_which_subscriptions_failed() {
        let d = Discovery {
            failed: vec![("s2".into(), "403 AuthorizationFailed".into())],
            subscriptions: 1,
            ..Default::default()
        };
        assert!(!d.complete());
        assert_eq!(d.error().unwrap(), "subscription s2: 403 AuthorizationFailed");
        assert!(Discovery::default().complete());
    }
}

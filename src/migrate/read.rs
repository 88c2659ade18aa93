//! What the migration analysis needs from ARM, read-only: per subscription, the watchers, NSGs and virtual networks
//! (one paged list each), and per region with a watcher its flow logs (one paged list) and the storage accounts they
//! name (one GET each).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::analysis::{Nsg, RegionInventory, SubnetInfo, Vnet};
use crate::azure::id::ResourceId;
use crate::azure::model::ArmResource;
use crate::azure::{ArmClient, ArmError, normalize_region, same_region};

/// Which subscriptions and regions to read.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Empty: every subscription the credentials can see.
    pub subscriptions: Vec<String>,
    /// Empty: every region with a Network Watcher.
    pub regions: Vec<String>,
    /// A subscription these credentials cannot see (ARM answers 404 or 403) is left out with a progress line
    /// instead of failing the read: for subscriptions taken from policies, which may name any.
    pub skip_unreadable: bool,
}

/// Reads every region in scope. `progress` hears one line per step (the command prints them on stderr).
pub async fn read(
    arm: &ArmClient,
    scope: &Scope,
    mut progress: impl FnMut(&str),
) -> Result<Vec<RegionInventory>, ArmError> {
    let subscriptions = if scope.subscriptions.is_empty() {
        progress("listing subscriptions");
        arm.list_subscriptions().await?.into_iter().filter(|s| s.usable()).map(|s| s.subscription_id).collect()
    } else {
        scope.subscriptions.clone()
    };
    let mut regions = Vec::new();
    for subscription in &subscriptions {
        progress(&format!("subscription {subscription}: listing network watchers"));
        let watchers = match arm.network_watchers(subscription).await {
            Ok(watchers) => watchers,
            Err(e) if scope.skip_unreadable && matches!(e.status(), Some(403 | 404)) => {
                progress(&format!("subscription {subscription}: not readable with these credentials, left out ({e})"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let watchers: Vec<_> = watchers
            .into_iter()
            .filter(|w| scope.regions.is_empty() || scope.regions.iter().any(|r| same_region(r, &w.location)))
            .collect();
        if watchers.is_empty() {
            continue;
        }
        progress(&format!("subscription {subscription}: listing network security groups"));
        let nsgs = arm.list_network_security_groups(subscription).await?;
        progress(&format!("subscription {subscription}: listing virtual networks"));
        let vnets = arm.list_virtual_networks(subscription).await?;
        for watcher in watchers {
            let region = normalize_region(&watcher.location);
            progress(&format!("subscription {subscription}, {region}: listing flow logs of {}", watcher.id.name()));
            let flow_logs = arm.list_flow_logs(&watcher.id).await?;
            let mut storage = BTreeMap::new();
            progress(&format!(
                "subscription {subscription}, {region}: reading the storage accounts the flow logs name"
            ));
            let named: BTreeSet<String> = flow_logs
                .iter()
                .map(|l| l.properties.storage_id.clone())
                .filter(|s| !s.is_empty())
                .map(|s| s.trim_end_matches('/').to_ascii_lowercase())
                .collect();
            for id in named {
                let Ok(parsed) = ResourceId::parse(&id) else {
                    storage.insert(id, None);
                    continue;
                };
                // Gone (404) blocks the NSG flow logs that name it; unreadable (no rights on another subscription's
                // account, say) is left unchecked, as Azure checks the region when the flow log is created.
                match arm.resource_location(&parsed).await {
                    Ok(location) => {
                        storage.insert(id, Some(location));
                    }
                    Err(e) if e.status() == Some(404) => {
                        storage.insert(id, None);
                    }
                    Err(e) => progress(&format!("storage account {id}: its region is not readable ({e}); not checked")),
                }
            }
            regions.push(RegionInventory {
                subscription: subscription.clone(),
                region: region.clone(),
                flow_logs,
                nsgs: nsgs.iter().filter(|n| in_region(n, &region)).map(nsg).collect(),
                vnets: vnets.iter().filter(|v| in_region(v, &region)).map(vnet).collect(),
                storage,
            });
        }
    }
    Ok(regions)
}

fn in_region(resource: &ArmResource, region: &str) -> bool {
    resource.location.as_deref().is_some_and(|l| same_region(l, region))
}

/// The IDs in a list of `{"id": ...}` references.
fn ids(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|r| r["id"].as_str().map(str::to_string)).collect()
}

fn nsg(resource: &ArmResource) -> Nsg {
    Nsg {
        id: resource.id.clone(),
        subnets: ids(&resource.properties["subnets"]),
        network_interfaces: ids(&resource.properties["networkInterfaces"]),
    }
}

/// A virtual network with its subnets, each with the NICs of its IP configurations
/// (`{nic}/ipConfigurations/{name}` → `{nic}`).
fn vnet(resource: &ArmResource) -> Vnet {
    let subnets = resource.properties["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let id = s["id"].as_str()?.to_string();
            let mut nics: Vec<String> = ids(&s["properties"]["ipConfigurations"])
                .into_iter()
                .filter_map(|c| {
                    let lower = c.to_ascii_lowercase();
                    let at = lower.find("/ipconfigurations/")?;
                    lower.contains("/networkinterfaces/").then(|| c[..at].to_string())
                })
                .collect();
            nics.dedup();
            Some(SubnetInfo { id, network_interfaces: nics })
        })
        .collect();
    Vnet { id: resource.id.clone(), subnets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnets_nics_come_from_its_ip_configurations() {
        let resource: ArmResource = serde_json::from_value(serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
            "name": "v", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
            "properties": {"subnets": [
                {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a",
                 "properties": {"ipConfigurations": [
                    {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n1/ipConfigurations/ipconfig1"},
                    {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n1/ipConfigurations/ipconfig2"},
                    {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/n/ipConfigurations/c"},
                    {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/g/gatewayIPConfigurations/c"}
                 ]}},
                {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/b"}
            ]}
        }))
        .unwrap();
        let v = vnet(&resource);
        assert_eq!(v.subnets.len(), 2);
        assert_eq!(
            v.subnets[0].network_interfaces,
            [
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n1",
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/n",
            ]
        );
        assert!(v.subnets[1].network_interfaces.is_empty());
    }
}

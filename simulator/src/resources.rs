//! Virtual networks, network interfaces and network security groups added, replaced and removed while the simulator
//! runs, for the admin API and tests: "a new VNet appears", "a NIC is deleted". A change is checked whole, with the
//! inventory's own validation, before anything changes; then the world is rebuilt from the changed resources.
//!
//! What a change leaves alone: flow logs. A flow log whose target is removed stays, as Azure keeps a flow log when
//! its target is deleted (it is a child of the watcher, not of the target): it is still read, listed and deleted as
//! usual (but for one whose subnet is gone: 400 `SubnetNotFoundForFlowLog`, as in Azure), while a write to it fails
//! the target check (400 `InvalidResourceReference`). The target's resource group stays too, as in Azure. Removing
//! what is in use is refused, as Azure refuses it: an NSG attached to a subnet, NIC or scale set, a virtual network
//! whose subnets hold NICs or scale sets' NICs. (Scale sets themselves come from the inventory only.)

use serde_json::Value;

use super::inventory::{
    Inventory, InventoryError, NetworkInterface, NetworkSecurityGroup, SubnetRef, Subscription, VirtualNetwork, arm_id,
};
use super::state::State;
use super::world::{NIC_TYPE, NSG_TYPE, VNET_TYPE};
use flowlog_wire::id::same_id;

/// What a PUT of a resource did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    /// A resource of that name and resource group existed; the new one took its place (and its name's casing).
    Replaced,
}

/// Why a change of resources was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// No such subscription, or no such resource to remove.
    #[error("{0}")]
    NotFound(String),
    /// The change breaks a rule of the inventory, or removes what is in use.
    #[error("{0}")]
    Invalid(String),
}

/// A kind of resource the simulator adds, replaces and removes at run time.
pub(super) trait RuntimeResource: Clone {
    /// As messages name it: "virtual network".
    const KIND: &'static str;
    /// ARM's resource type.
    const TYPE: &'static str;
    /// The resource with this ID as GET answers it, if there is one.
    fn view(state: &State, id: &str) -> Option<Value>;
    fn all(sub: &mut Subscription) -> &mut Vec<Self>;
    /// Name and resource group.
    fn key(&self) -> (&str, &str);
    fn set_key(&mut self, name: String, resource_group: String);
    /// What must go before `self` can be removed from `sub` (as messages name them).
    fn used_by(&self, sub: &Subscription) -> Vec<String>;
    /// A problem of a resource added at run time that the inventory's validation does not see.
    fn refused(&self) -> Option<String> {
        None
    }
}

impl RuntimeResource for VirtualNetwork {
    const KIND: &'static str = "virtual network";
    const TYPE: &'static str = VNET_TYPE;

    fn view(state: &State, id: &str) -> Option<Value> {
        let i = state.world.vnets.iter().position(|v| same_id(&v.id, id))?;
        Some(state.world.vnet_json(i, state.flow_log_refs(&state.world.vnets[i].id)))
    }

    fn all(sub: &mut Subscription) -> &mut Vec<Self> {
        &mut sub.virtual_networks
    }

    fn key(&self) -> (&str, &str) {
        (&self.name, &self.resource_group)
    }

    fn set_key(&mut self, name: String, resource_group: String) {
        (self.name, self.resource_group) = (name, resource_group);
    }

    /// The NICs and scale sets in its subnets (Azure: `InUseSubnetCannotBeDeleted`).
    fn used_by(&self, sub: &Subscription) -> Vec<String> {
        let in_this = |s: &SubnetRef, default_rg: &str| {
            s.virtual_network.eq_ignore_ascii_case(&self.name)
                && s.resource_group.as_deref().unwrap_or(default_rg).eq_ignore_ascii_case(&self.resource_group)
        };
        let nics = sub.network_interfaces.iter().filter_map(|nic| {
            let s = nic.subnet.as_ref().filter(|s| in_this(s, &nic.resource_group))?;
            Some(format!("network interface {} (in subnet {})", nic.name, s.name))
        });
        let scale_sets = sub
            .virtual_machine_scale_sets
            .iter()
            .filter(|v| in_this(&v.subnet, &v.resource_group))
            .map(|v| format!("virtual machine scale set {} (in subnet {})", v.name, v.subnet.name));
        nics.chain(scale_sets).collect()
    }
}

impl RuntimeResource for NetworkInterface {
    const KIND: &'static str = "network interface";
    const TYPE: &'static str = NIC_TYPE;

    fn view(state: &State, id: &str) -> Option<Value> {
        state.world.nics.iter().position(|n| same_id(&n.id, id)).map(|i| state.world.nic_json(i))
    }

    fn all(sub: &mut Subscription) -> &mut Vec<Self> {
        &mut sub.network_interfaces
    }

    fn key(&self) -> (&str, &str) {
        (&self.name, &self.resource_group)
    }

    fn set_key(&mut self, name: String, resource_group: String) {
        (self.name, self.resource_group) = (name, resource_group);
    }

    fn used_by(&self, _: &Subscription) -> Vec<String> {
        vec![]
    }
}

impl RuntimeResource for NetworkSecurityGroup {
    const KIND: &'static str = "network security group";
    const TYPE: &'static str = NSG_TYPE;

    fn view(state: &State, id: &str) -> Option<Value> {
        let i = state.world.nsgs.iter().position(|n| same_id(&n.id, id))?;
        Some(state.world.nsg_json(i, state.flow_log_refs(&state.world.nsgs[i].id)))
    }

    fn all(sub: &mut Subscription) -> &mut Vec<Self> {
        &mut sub.network_security_groups
    }

    fn key(&self) -> (&str, &str) {
        (&self.name, &self.resource_group)
    }

    fn set_key(&mut self, name: String, resource_group: String) {
        (self.name, self.resource_group) = (name, resource_group);
    }

    /// The subnets, NICs and scale sets it is attached to (Azure: `InUseNetworkSecurityGroupCannotBeDeleted`).
    fn used_by(&self, sub: &Subscription) -> Vec<String> {
        let is_this = |name: Option<&String>, rg: Option<&String>, default_rg: &str| {
            name.is_some_and(|n| n.eq_ignore_ascii_case(&self.name))
                && rg.map_or(default_rg, String::as_str).eq_ignore_ascii_case(&self.resource_group)
        };
        let subnets = sub.virtual_networks.iter().flat_map(|v| {
            v.subnets
                .iter()
                .filter(|s| {
                    is_this(
                        s.network_security_group.as_ref(),
                        s.network_security_group_resource_group.as_ref(),
                        &v.resource_group,
                    )
                })
                .map(|s| format!("subnet {}/{}", v.name, s.name))
        });
        let nics = sub
            .network_interfaces
            .iter()
            .filter(|n| {
                is_this(
                    n.network_security_group.as_ref(),
                    n.network_security_group_resource_group.as_ref(),
                    &n.resource_group,
                )
            })
            .map(|n| format!("network interface {}", n.name));
        let scale_sets = sub
            .virtual_machine_scale_sets
            .iter()
            .filter(|v| {
                is_this(
                    v.network_security_group.as_ref(),
                    v.network_security_group_resource_group.as_ref(),
                    &v.resource_group,
                )
            })
            .map(|v| format!("virtual machine scale set {}", v.name));
        subnets.chain(nics).chain(scale_sets).collect()
    }

    /// Flow logs are created through the APIs (or `PUT /_sim/flowLogResources`), not with the NSG.
    fn refused(&self) -> Option<String> {
        self.flow_log.is_some().then(|| {
            format!(
                "network security group {} has a flowLog, which is only taken from the inventory at the start; create \
                 flow logs through the API or PUT /_sim/flowLogResources",
                self.name
            )
        })
    }
}

impl State {
    /// Adds `resource` to `subscription`, or replaces the one of the same name and resource group.
    pub(super) fn put_resource<R: RuntimeResource>(
        &mut self,
        subscription: &str,
        mut resource: R,
    ) -> Result<Applied, ResourceError> {
        if let Some(why) = resource.refused() {
            return Err(ResourceError::Invalid(why));
        }
        let mut candidate = self.resources.clone();
        let sub = subscription_mut(&mut candidate, subscription)?;
        let (name, rg) = (resource.key().0.to_string(), resource.key().1.to_string());
        let all = R::all(sub);
        let applied = match all.iter().position(|r| same_key(r, &name, &rg)) {
            Some(i) => {
                let (old_name, old_rg) = all[i].key();
                resource.set_key(old_name.to_string(), old_rg.to_string());
                all[i] = resource;
                Applied::Replaced
            }
            None => {
                all.push(resource);
                Applied::Created
            }
        };
        self.commit(candidate, &format!("cannot add or replace {} {name}", R::KIND))?;
        tracing::info!(subscription, resource_group = %rg, name = %name, kind = R::KIND, ?applied, "resource put");
        Ok(applied)
    }

    /// Removes a resource, unless something still uses it.
    pub(super) fn remove_resource<R: RuntimeResource>(
        &mut self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        let mut candidate = self.resources.clone();
        let sub = subscription_mut(&mut candidate, subscription)?;
        let i = R::all(sub).iter().position(|r| same_key(r, name, resource_group)).ok_or_else(|| {
            ResourceError::NotFound(format!(
                "no {} {name} in resource group {resource_group} of subscription {subscription}",
                R::KIND
            ))
        })?;
        let removed = R::all(sub).remove(i);
        let users = removed.used_by(sub);
        if !users.is_empty() {
            return Err(ResourceError::Invalid(format!(
                "cannot remove {} {name}: it is in use by {}; change or remove those first (Azure refuses to delete \
                 what is in use)",
                R::KIND,
                users.join(", ")
            )));
        }
        self.commit(candidate, &format!("cannot remove {} {name}", R::KIND))?;
        tracing::info!(subscription, resource_group, name, kind = R::KIND, "resource removed");
        Ok(())
    }

    /// The resource as GET answers it, if there is one.
    pub(super) fn runtime_resource_json<R: RuntimeResource>(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> Option<Value> {
        R::view(self, &arm_id(subscription, resource_group, R::TYPE, name))
    }

    /// Takes `candidate` as the resources, and rebuilds the world from it, if it adds no problem to those the
    /// resources already have (an inventory served unvalidated may have some).
    fn commit(&mut self, candidate: Inventory, refused: &str) -> Result<(), ResourceError> {
        let before = problems(&self.resources);
        let new: Vec<String> = problems(&candidate).into_iter().filter(|p| !before.contains(p)).collect();
        if !new.is_empty() {
            return Err(ResourceError::Invalid(format!("{refused}: {}", new.join("; "))));
        }
        self.world = self.world.rebuilt(&candidate);
        self.resources = candidate;
        Ok(())
    }
}

fn subscription_mut<'a>(inventory: &'a mut Inventory, id: &str) -> Result<&'a mut Subscription, ResourceError> {
    inventory.subscriptions.iter_mut().find(|s| s.id.eq_ignore_ascii_case(id)).ok_or_else(|| {
        ResourceError::NotFound(format!(
            "no subscription {id} in the inventory (resources can be added to its subscriptions only)"
        ))
    })
}

fn same_key<R: RuntimeResource>(r: &R, name: &str, resource_group: &str) -> bool {
    let (n, g) = r.key();
    n.eq_ignore_ascii_case(name) && g.eq_ignore_ascii_case(resource_group)
}

fn problems(inventory: &Inventory) -> Vec<String> {
    match inventory.validate() {
        Ok(()) => vec![],
        Err(InventoryError::Invalid(problems)) => problems,
        Err(e @ InventoryError::Parse(_)) => vec![e.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::inventory::{LroMode, Subnet, SubnetRef};
    use crate::reply::ErrorReply;
    use crate::test_fixtures::{SUB, WEU, code, ctx, nsg_id, state, storage_id};
    use crate::world::ResourcePath;

    fn path<'a>(rg: &'a str, resource_type: &str, name: &'a str) -> ResourcePath<'a> {
        ResourcePath { subscription: SUB, resource_group: rg, resource_type: resource_type.into(), name }
    }

    fn vnet(name: &str, tags: &[(&str, &str)]) -> VirtualNetwork {
        VirtualNetwork {
            name: name.into(),
            resource_group: "new-rg".into(),
            location: "westeurope".into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            address_prefixes: vec!["10.9.0.0/16".into()],
            subnets: vec![Subnet {
                name: "one".into(),
                address_prefix: "10.9.1.0/24".into(),
                network_security_group: Some("new-nsg".into()),
                network_security_group_resource_group: Some("app-prod-rg".into()),
            }],
        }
    }

    fn invalid<T: std::fmt::Debug>(result: Result<T, ResourceError>) -> String {
        match result {
            Err(ResourceError::Invalid(why)) => why,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn not_found(result: Result<impl std::fmt::Debug, ErrorReply>) -> String {
        let (status, code) = code(result);
        assert_eq!(status, 404);
        code
    }

    #[test]
    fn a_virtual_network_is_added_replaced_and_removed_with_its_subnets() {
        let mut state = state(LroMode::Sync, 0);
        assert_eq!(state.put_resource(SUB, vnet("new-vnet", &[("team", "a")])), Ok(Applied::Created));
        let got = state.get_vnet(&path("NEW-RG", VNET_TYPE, "new-vnet")).unwrap().body.unwrap();
        assert_eq!(got["tags"], json!({"team": "a"}));
        assert_eq!(
            got["properties"]["subnets"][0]["properties"]["networkSecurityGroup"]["id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next(),
            Some("new-nsg")
        );
        let subnet = path("new-rg", &format!("{VNET_TYPE}/new-vnet/subnets"), "one");
        assert!(state.get_subnet(&subnet, "new-vnet", "one").is_ok());
        // The NSG lists the new subnet among those it is attached to.
        let nsg = state.get_nsg(&path("app-prod-rg", NSG_TYPE, "new-nsg")).unwrap().body.unwrap();
        let attached: Vec<&str> =
            nsg["properties"]["subnets"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert!(attached.iter().any(|id| id.ends_with("/new-vnet/subnets/one")), "{attached:?}");

        // Replaced: new tags, the stored casing of its name stays.
        assert_eq!(state.put_resource(SUB, vnet("NEW-VNET", &[("flowlogs", "exempt")])), Ok(Applied::Replaced));
        let got = state.get_vnet(&path("new-rg", VNET_TYPE, "new-vnet")).unwrap().body.unwrap();
        assert_eq!((got["name"].as_str(), &got["tags"]), (Some("new-vnet"), &json!({"flowlogs": "exempt"})));
        assert_eq!(
            state.resources.subscriptions[0].virtual_networks.iter().filter(|v| v.name == "new-vnet").count(),
            1
        );

        assert_eq!(state.remove_resource::<VirtualNetwork>(SUB, "new-rg", "New-VNet"), Ok(()));
        assert_eq!(not_found(state.get_vnet(&path("new-rg", VNET_TYPE, "new-vnet"))), "ResourceNotFound");
        assert_eq!(
            not_found(state.get_subnet(&subnet, "new-vnet", "one")),
            "ResourceNotFound",
            "its subnets go with it"
        );
        let nsg = state.get_nsg(&path("app-prod-rg", NSG_TYPE, "new-nsg")).unwrap().body.unwrap();
        assert_eq!(nsg["properties"]["subnets"].as_array().unwrap().len(), 1, "only app-vnet/web is left: {nsg}");
        // The resource group stays, as in Azure.
        assert!(state.world.resource_group(SUB, "new-rg").is_ok());
        assert!(matches!(
            state.remove_resource::<VirtualNetwork>(SUB, "new-rg", "new-vnet"),
            Err(ResourceError::NotFound(why)) if why.contains("no virtual network new-vnet in resource group new-rg")
        ));
    }

    #[test]
    fn nics_and_nsgs_are_added_and_removed() {
        let mut state = state(LroMode::Sync, 0);
        state.put_resource(SUB, vnet("new-vnet", &[])).unwrap();
        let nic = NetworkInterface {
            name: "new-nic".into(),
            resource_group: "new-rg".into(),
            location: "westeurope".into(),
            tags: BTreeMap::from([("role".to_string(), "db".to_string())]),
            subnet: Some(SubnetRef { virtual_network: "new-vnet".into(), name: "one".into(), resource_group: None }),
            private_ip_address: Some("10.9.1.4".into()),
            network_security_group: Some("lonely-nsg".into()),
            network_security_group_resource_group: Some("nsg-rg".into()),
        };
        let unknown_nsg = invalid(state.put_resource(SUB, nic.clone()));
        assert!(
            unknown_nsg.contains("network interface new-nic refers to unknown network security group \"lonely-nsg\""),
            "{unknown_nsg}"
        );
        let nsg = NetworkSecurityGroup {
            name: "lonely-nsg".into(),
            resource_group: "nsg-rg".into(),
            location: "westeurope".into(),
            ..Default::default()
        };
        assert_eq!(state.put_resource(SUB, nsg), Ok(Applied::Created));
        assert_eq!(state.put_resource(SUB, nic), Ok(Applied::Created));
        let got = state.get_nic(&path("new-rg", NIC_TYPE, "new-nic")).unwrap().body.unwrap();
        assert_eq!(got["tags"], json!({"role": "db"}));
        assert!(
            got["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
                .as_str()
                .unwrap()
                .ends_with("/new-vnet/subnets/one")
        );

        // In use: the NSG by the NIC, the VNet by the NIC in its subnet; nothing changes.
        let before = state.resources.clone();
        let why = invalid(state.remove_resource::<NetworkSecurityGroup>(SUB, "nsg-rg", "lonely-nsg"));
        assert!(
            why.contains("cannot remove network security group lonely-nsg: it is in use by network interface new-nic;"),
            "{why}"
        );
        let why = invalid(state.remove_resource::<NetworkSecurityGroup>(SUB, "app-prod-rg", "new-nsg"));
        assert!(why.contains("subnet app-vnet/web, subnet new-vnet/one"), "{why}");
        let why = invalid(state.remove_resource::<VirtualNetwork>(SUB, "new-rg", "new-vnet"));
        assert!(why.contains("network interface new-nic (in subnet one)"), "{why}");
        // Replacing the VNet without the NIC's subnet is refused too.
        let mut without = vnet("new-vnet", &[]);
        without.subnets.clear();
        let why = invalid(state.put_resource(SUB, without));
        assert!(why.contains("network interface new-nic refers to unknown subnet new-vnet/one"), "{why}");
        assert_eq!(state.resources, before, "nothing changed");

        state.remove_resource::<NetworkInterface>(SUB, "new-rg", "new-nic").unwrap();
        assert_eq!(not_found(state.get_nic(&path("new-rg", NIC_TYPE, "new-nic"))), "ResourceNotFound");
        state.remove_resource::<NetworkSecurityGroup>(SUB, "nsg-rg", "lonely-nsg").unwrap();
        state.remove_resource::<VirtualNetwork>(SUB, "new-rg", "new-vnet").unwrap();
        assert_eq!(not_found(state.get_nsg(&path("nsg-rg", NSG_TYPE, "lonely-nsg"))), "ResourceNotFound");
    }

    #[test]
    fn bad_resources_are_refused_with_every_problem_and_nothing_changes() {
        let mut state = state(LroMode::Sync, 0);
        let before = state.resources.clone();
        let mut bad = vnet("bad/name", &[("", "x"), ("a", &"v".repeat(257))]);
        bad.location = "eastus".into();
        bad.address_prefixes = vec!["10.0.0.0/33".into()];
        bad.subnets[0].network_security_group = Some("nope".into());
        let why = invalid(state.put_resource(SUB, bad));
        for expected in [
            "cannot add or replace virtual network bad/name: ",
            "virtual network name \"bad/name\" is not a valid ARM ID segment",
            "is in location \"eastus\", which subscription",
            "\"10.0.0.0/33\" is not a CIDR prefix",
            "refers to unknown network security group \"nope\"",
            "has tag name \"\": tag names have 1 to 512 characters",
            "has a value of tag \"a\" longer than 256 characters",
        ] {
            assert!(why.contains(expected), "missing {expected:?} in {why}");
        }
        let mut duplicate_tags = vnet("dup", &[("Env", "a"), ("env", "b")]);
        duplicate_tags.subnets.clear();
        assert!(
            invalid(state.put_resource(SUB, duplicate_tags)).contains("duplicate tag name of virtual network dup env")
        );
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("t{i}"), String::new())).collect();
        let mut crowded = vnet("crowded", &[]);
        crowded.tags = many.into_iter().collect();
        assert!(invalid(state.put_resource(SUB, crowded)).contains("has 51 tags; ARM allows at most 50"));
        let with_flow_log = NetworkSecurityGroup {
            name: "n".into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            flow_log: Some(Default::default()),
            ..Default::default()
        };
        assert!(invalid(state.put_resource(SUB, with_flow_log)).contains("has a flowLog"));
        assert!(matches!(
            state.put_resource("nope", vnet("v", &[])),
            Err(ResourceError::NotFound(why)) if why.contains("no subscription nope in the inventory")
        ));
        assert_eq!(state.resources, before, "nothing changed");
        assert_eq!(state.world.vnets.len(), 3);
    }

    #[test]
    fn flow_logs_of_a_removed_target_stay_and_can_be_deleted() {
        let mut state = state(LroMode::Sync, 0);
        let shared = arm_id(SUB, "shared-net-rg", VNET_TYPE, "shared-vnet");
        state.remove_resource::<VirtualNetwork>(SUB, "shared-net-rg", "shared-vnet").unwrap();
        let kept: Vec<_> =
            state.flow_log_resources().into_iter().filter(|f| f.properties.target_resource_id == *shared).collect();
        assert_eq!(kept.len(), 1, "the flow log stays");
        assert!(state.get_flow_log(&ctx("get"), &WEU, "shared-vnet-flowlog").is_ok());
        // A write needs the target: refused.
        let body = json!({
            "location": "westeurope",
            "properties": {"targetResourceId": shared, "storageId": storage_id("flowlogsweu001"), "enabled": false},
        });
        let refused = state.put_flow_log(&ctx("put"), &WEU, "shared-vnet-flowlog", body.to_string().as_bytes());
        assert_eq!(code(refused), (400, "InvalidResourceReference".into()));
        // Back again under the same ID: the flow log targets it again.
        let vnets = &state.inventory.subscriptions[0].virtual_networks;
        let again = vnets.iter().find(|v| v.name == "shared-vnet").unwrap().clone();
        state.put_resource(SUB, again).unwrap();
        let vnet = state.get_vnet(&path("shared-net-rg", VNET_TYPE, "shared-vnet")).unwrap().body.unwrap();
        assert_eq!(vnet["properties"]["flowLogs"].as_array().unwrap().len(), 1);
        state.remove_resource::<VirtualNetwork>(SUB, "shared-net-rg", "shared-vnet").unwrap();
        let deleted = state.delete_flow_log(&ctx("delete"), &WEU, "shared-vnet-flowlog").unwrap();
        assert_eq!(deleted.status.as_u16(), 204);
        assert!(state.flow_log_resources().iter().all(|f| f.properties.target_resource_id != *shared));

        // An NSG's flow log stays too, but the legacy status, which is per NSG, has none to report.
        let web = nsg_id("app-dr-rg", "web-dr-nsg");
        assert!(state.flow_log_status(&web).is_some());
        state.remove_resource::<NetworkSecurityGroup>(SUB, "app-dr-rg", "web-dr-nsg").unwrap();
        assert!(state.flow_log_status(&web).is_none());
        assert!(state.flow_log_resources().iter().any(|f| f.properties.target_resource_id == web));
    }
}

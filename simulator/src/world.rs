//! The resources around flow logs (subscriptions, watchers, storage accounts, NSGs, virtual networks, subnets, NICs,
//! scale sets' NICs, workspaces), built from the inventory — at the start, and again when the admin API adds or
//! removes virtual networks, NICs or NSGs (`resources.rs`) —: their lookups and the ARM 404s. The JSON the read
//! operations answer with is in `resource_views.rs`; flow logs, which the APIs change, are in `flow_log_store.rs`.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;

use super::defaults::DEFAULT_TENANT_ID;
use super::inventory::{Inventory, STORAGE_TYPE, SecurityRule, SubnetRef, arm_id};
use super::reply::ErrorReply;
use flowlog_wire::id::same_id;

/// A network watcher of the inventory.
pub(super) struct KnownWatcher {
    pub id: String,
    pub subscription: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
}

/// A storage account of the inventory.
pub(super) struct KnownStorageAccount {
    pub id: String,
    pub name: String,
    pub location: String,
}

/// A network security group of the inventory.
pub(super) struct KnownNsg {
    pub id: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub rules: Vec<SecurityRule>,
}

/// A virtual network of the inventory.
pub(super) struct KnownVnet {
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub prefixes: Vec<String>,
    /// Indexes into `World::subnets`.
    pub subnets: Vec<usize>,
}

/// A subnet of a virtual network of the inventory.
pub(super) struct KnownSubnet {
    pub id: String,
    pub name: String,
    pub vnet: usize,
    pub prefix: String,
    /// Index into `World::nsgs` of the attached network security group.
    pub nsg: Option<usize>,
}

/// A network interface of the inventory.
pub(super) struct KnownNic {
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub subnet: Option<usize>,
    pub private_ip: Option<String>,
    /// Index into `World::nsgs` of the attached network security group.
    pub nsg: Option<usize>,
}

/// The NIC of one instance of a scale set of the inventory: in its subnet's `ipConfigurations` and its NSG's
/// `networkInterfaces`, but not listed with the NICs nor a flow-log target, as in Azure.
pub(super) struct KnownScaleSetNic {
    /// `.../Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/{i}/networkInterfaces/{vmss}-nic`
    pub id: String,
    /// `{vmss}-ipconfig`
    pub ip_configuration: String,
    /// Index into `World::subnets`.
    pub subnet: usize,
    /// Index into `World::nsgs` of the network security group of the scale set's NIC configuration.
    pub nsg: Option<usize>,
}

/// A Log Analytics workspace of the inventory.
pub(super) struct KnownWorkspace {
    pub id: String,
    pub name: String,
    pub location: String,
    pub customer_id: String,
}

/// A subscription of the inventory.
pub(super) struct KnownSubscription {
    pub id: String,
    pub display_name: String,
    /// Lower-cased names of the resource groups that hold something, or held something since the start.
    pub resource_groups: BTreeSet<String>,
}

/// What a flow log may target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TargetKind {
    Nsg(usize),
    Vnet(usize),
    Subnet(usize),
    Nic(usize),
}

/// A resource a flow log may target, found by its ID.
pub(super) struct FlowLogTarget<'a> {
    pub kind: TargetKind,
    pub id: &'a str,
    pub location: &'a str,
}

/// Every resource of the inventory but flow logs; resources refer to each other by index. Rebuilt whole when the
/// admin API changes a resource: watchers never change, so their indexes (which flow logs hold) stay valid.
#[derive(Default)]
pub(super) struct World {
    /// The tenant of every subscription: the first service principal's, else [`DEFAULT_TENANT_ID`].
    pub tenant: String,
    pub subs: Vec<KnownSubscription>,
    pub watchers: Vec<KnownWatcher>,
    pub storage: Vec<KnownStorageAccount>,
    pub nsgs: Vec<KnownNsg>,
    pub vnets: Vec<KnownVnet>,
    pub subnets: Vec<KnownSubnet>,
    pub nics: Vec<KnownNic>,
    pub scale_set_nics: Vec<KnownScaleSetNic>,
    pub workspaces: Vec<KnownWorkspace>,
    /// Where flow logs are delivered (`flowlog-sim --storage-endpoint`, path-style): storage accounts then show
    /// `{blob_endpoint}{name}/` as their blob endpoint instead of `https://{name}.blob.core.windows.net/`.
    pub blob_endpoint: Option<String>,
}

pub(super) const NSG_TYPE: &str = "Microsoft.Network/networkSecurityGroups";
pub(super) const VNET_TYPE: &str = "Microsoft.Network/virtualNetworks";
pub(super) const NIC_TYPE: &str = "Microsoft.Network/networkInterfaces";
pub(super) const WATCHER_TYPE: &str = "Microsoft.Network/networkWatchers";
pub(super) const WORKSPACE_TYPE: &str = "Microsoft.OperationalInsights/workspaces";
pub(super) const SCALE_SET_TYPE: &str = "Microsoft.Compute/virtualMachineScaleSets";

impl World {
    pub(super) fn new(inventory: &Inventory) -> World {
        let tenant = inventory.service_principals.first().map_or(DEFAULT_TENANT_ID, |p| &p.tenant_id).to_string();
        let mut w = World { tenant, ..World::default() };
        for sub in &inventory.subscriptions {
            let mut groups = BTreeSet::new();
            let mut group = |rg: &str| groups.insert(rg.to_ascii_lowercase());
            for nw in &sub.network_watchers {
                group(&nw.resource_group);
                w.watchers.push(KnownWatcher {
                    id: arm_id(&sub.id, &nw.resource_group, WATCHER_TYPE, &nw.name),
                    subscription: sub.id.clone(),
                    name: nw.name.clone(),
                    location: nw.location.clone(),
                    tags: nw.tags.clone(),
                });
            }
            for s in &sub.storage_accounts {
                group(&s.resource_group);
                w.storage.push(KnownStorageAccount {
                    id: arm_id(&sub.id, &s.resource_group, STORAGE_TYPE, &s.name),
                    name: s.name.clone(),
                    location: s.location.clone(),
                });
            }
            for n in &sub.network_security_groups {
                group(&n.resource_group);
                w.nsgs.push(KnownNsg {
                    id: arm_id(&sub.id, &n.resource_group, NSG_TYPE, &n.name),
                    resource_group: n.resource_group.clone(),
                    name: n.name.clone(),
                    location: n.location.clone(),
                    tags: n.tags.clone(),
                    rules: n.security_rules.clone(),
                });
            }
            // The NSG a subnet or NIC is attached to: its name and group (default: the resource's group).
            let attached = |w: &World, name: Option<&String>, rg: Option<&String>, default_rg: &str| {
                let id = arm_id(&sub.id, rg.map_or(default_rg, String::as_str), NSG_TYPE, name?);
                w.nsgs.iter().position(|n| same_id(&n.id, &id))
            };
            for v in &sub.virtual_networks {
                group(&v.resource_group);
                let id = arm_id(&sub.id, &v.resource_group, VNET_TYPE, &v.name);
                let vnet = w.vnets.len();
                let mut subnets = Vec::new();
                for s in &v.subnets {
                    subnets.push(w.subnets.len());
                    let nsg = attached(
                        &w,
                        s.network_security_group.as_ref(),
                        s.network_security_group_resource_group.as_ref(),
                        &v.resource_group,
                    );
                    w.subnets.push(KnownSubnet {
                        id: format!("{id}/subnets/{}", s.name),
                        name: s.name.clone(),
                        vnet,
                        prefix: s.address_prefix.clone(),
                        nsg,
                    });
                }
                w.vnets.push(KnownVnet {
                    id,
                    name: v.name.clone(),
                    location: v.location.clone(),
                    tags: v.tags.clone(),
                    prefixes: v.address_prefixes.clone(),
                    subnets,
                });
            }
            // The subnet a NIC or scale set is in (its virtual network's group defaulting to the resource's).
            let subnet_of = |w: &World, r: &SubnetRef, default_rg: &str| {
                let rg = r.resource_group.as_deref().unwrap_or(default_rg);
                let id = format!("{}/subnets/{}", arm_id(&sub.id, rg, VNET_TYPE, &r.virtual_network), r.name);
                w.subnets.iter().position(|s| same_id(&s.id, &id))
            };
            for nic in &sub.network_interfaces {
                group(&nic.resource_group);
                let subnet = nic.subnet.as_ref().and_then(|r| subnet_of(&w, r, &nic.resource_group));
                let nsg = attached(
                    &w,
                    nic.network_security_group.as_ref(),
                    nic.network_security_group_resource_group.as_ref(),
                    &nic.resource_group,
                );
                w.nics.push(KnownNic {
                    id: arm_id(&sub.id, &nic.resource_group, NIC_TYPE, &nic.name),
                    name: nic.name.clone(),
                    location: nic.location.clone(),
                    tags: nic.tags.clone(),
                    subnet,
                    private_ip: nic.private_ip_address.clone(),
                    nsg,
                });
            }
            for vmss in &sub.virtual_machine_scale_sets {
                group(&vmss.resource_group);
                let Some(subnet) = subnet_of(&w, &vmss.subnet, &vmss.resource_group) else { continue };
                let nsg = attached(
                    &w,
                    vmss.network_security_group.as_ref(),
                    vmss.network_security_group_resource_group.as_ref(),
                    &vmss.resource_group,
                );
                let scale_set = arm_id(&sub.id, &vmss.resource_group, SCALE_SET_TYPE, &vmss.name);
                for i in 0..vmss.instances {
                    w.scale_set_nics.push(KnownScaleSetNic {
                        id: format!("{scale_set}/virtualMachines/{i}/networkInterfaces/{}-nic", vmss.name),
                        ip_configuration: format!("{}-ipconfig", vmss.name),
                        subnet,
                        nsg,
                    });
                }
            }
            for ws in &sub.workspaces {
                group(&ws.resource_group);
                w.workspaces.push(KnownWorkspace {
                    id: arm_id(&sub.id, &ws.resource_group, WORKSPACE_TYPE, &ws.name),
                    name: ws.name.clone(),
                    location: ws.location.clone(),
                    customer_id: ws.customer_id.clone(),
                });
            }
            for mi in &inventory.managed_identities {
                if let Some(id) = mi.resource_id.as_deref().and_then(|id| flowlog_wire::id::ResourceId::parse(id).ok())
                    && id.subscription.eq_ignore_ascii_case(&sub.id)
                {
                    group(&id.resource_group);
                }
            }
            w.subs.push(KnownSubscription {
                id: sub.id.clone(),
                display_name: sub.display_name.clone().unwrap_or_else(|| sub.id.clone()),
                resource_groups: groups,
            });
        }
        w
    }

    /// The world of `inventory`, which holds the same subscriptions and watchers as this one's, keeping this one's
    /// resource groups: as in Azure, removing a group's last resource leaves the group.
    pub(super) fn rebuilt(&self, inventory: &Inventory) -> World {
        let mut w = World::new(inventory);
        w.blob_endpoint.clone_from(&self.blob_endpoint);
        for (new, old) in w.subs.iter_mut().zip(&self.subs) {
            new.resource_groups.extend(old.resource_groups.iter().cloned());
        }
        w
    }

    /// The subscription, or ARM's 404.
    pub(super) fn sub(&self, subscription: &str) -> Result<&KnownSubscription, ErrorReply> {
        self.subs.iter().find(|s| s.id.eq_ignore_ascii_case(subscription)).ok_or_else(|| {
            ErrorReply::new(
                StatusCode::NOT_FOUND,
                "SubscriptionNotFound",
                format!("The subscription '{subscription}' could not be found."),
            )
        })
    }

    /// Checks subscription and resource group, as ARM does before the resource.
    pub(super) fn resource_group(&self, subscription: &str, rg: &str) -> Result<(), ErrorReply> {
        if self.sub(subscription)?.resource_groups.contains(&rg.to_ascii_lowercase()) {
            Ok(())
        } else {
            Err(ErrorReply::new(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            ))
        }
    }

    /// Finds a resource by the ID built from the request path, after the subscription and group checks.
    pub(super) fn find<'a, T>(
        &self,
        items: &'a [T],
        id_of: impl Fn(&T) -> &str,
        at: &ResourcePath,
    ) -> Result<(usize, &'a T), ErrorReply> {
        self.resource_group(at.subscription, at.resource_group)?;
        let id = at.id();
        items.iter().enumerate().find(|(_, r)| same_id(id_of(r), &id)).ok_or_else(|| at.not_found())
    }

    pub(super) fn watcher_index(&self, at: &ResourcePath) -> Result<usize, ErrorReply> {
        self.find(&self.watchers, |w| &w.id, at).map(|(i, _)| i)
    }

    /// A flow-log target by ID (case-insensitive).
    pub(super) fn target(&self, id: &str) -> Option<FlowLogTarget<'_>> {
        if let Some(i) = self.nsgs.iter().position(|n| same_id(&n.id, id)) {
            let n = &self.nsgs[i];
            return Some(FlowLogTarget { kind: TargetKind::Nsg(i), id: &n.id, location: &n.location });
        }
        if let Some(i) = self.vnets.iter().position(|v| same_id(&v.id, id)) {
            let v = &self.vnets[i];
            return Some(FlowLogTarget { kind: TargetKind::Vnet(i), id: &v.id, location: &v.location });
        }
        if let Some(i) = self.subnets.iter().position(|s| same_id(&s.id, id)) {
            let s = &self.subnets[i];
            return Some(FlowLogTarget {
                kind: TargetKind::Subnet(i),
                id: &s.id,
                location: &self.vnets[s.vnet].location,
            });
        }
        let i = self.nics.iter().position(|n| same_id(&n.id, id))?;
        let n = &self.nics[i];
        Some(FlowLogTarget { kind: TargetKind::Nic(i), id: &n.id, location: &n.location })
    }
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/{type}/{name}` as the request spelled it; `resource_type`
/// may have child segments (`Microsoft.Network/networkWatchers/nw1/flowLogs`).
pub(super) struct ResourcePath<'a> {
    pub subscription: &'a str,
    pub resource_group: &'a str,
    pub resource_type: String,
    pub name: &'a str,
}

impl ResourcePath<'_> {
    pub(super) fn id(&self) -> String {
        arm_id(self.subscription, self.resource_group, &self.resource_type, self.name)
    }

    /// ARM's 404 for a resource that does not exist.
    pub(super) fn not_found(&self) -> ErrorReply {
        ErrorReply::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource '{}/{}' under resource group '{}' was not found. For more details please go to \
                 https://aka.ms/ARMResourceNotFoundFix",
                self.resource_type, self.name, self.resource_group
            ),
        )
    }
}

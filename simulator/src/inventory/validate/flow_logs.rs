//! Validation of the inventory's flow logs, NSG `flowLog`s and watcher `flowLogs` alike: names, targets, regions,
//! one flow log per target, and the storage accounts, workspaces and settings they name.

use super::{Seen, Validator};
use crate::inventory::{InventoryFlowLog, STORAGE_TYPE, arm_id};
use crate::rules::{format_problem, record_types_problem, retention_problem};
use flowlog_wire::id::ResourceId;

/// A flow-log target of the inventory: ID and location.
struct TargetInfo {
    id: String,
    location: String,
    nsg: bool,
}

impl Validator<'_> {
    /// Every flow log, NSG `flowLog`s and watcher `flowLogs` alike: references, regions, one per target.
    pub(super) fn flow_logs(&mut self) {
        let mut per_target = Seen::default();
        for sub in &self.inventory.subscriptions {
            for n in &sub.network_security_groups {
                let Some(fl) = &n.flow_log else { continue };
                let at = format!("flow log of network security group {}", n.name);
                if fl.target_resource_id.is_some() {
                    self.problem(format!("{at}: targetResourceId is not allowed here (the target is the NSG)"));
                }
                if !sub.network_watchers.iter().any(|w| w.location.eq_ignore_ascii_case(&n.location)) {
                    self.problem(format!(
                        "{at}: subscription {} has no network watcher in {} to hold it",
                        sub.id, n.location
                    ));
                }
                let id = arm_id(&sub.id, &n.resource_group, "Microsoft.Network/networkSecurityGroups", &n.name);
                per_target.once(&mut self.problems, "flow log for target", id);
                self.flow_log_settings(&at, fl, &n.location);
            }
            for w in &sub.network_watchers {
                let mut names = Seen::default();
                for fl in &w.flow_logs {
                    let at = format!("flow log {} of network watcher {}", fl.name.as_deref().unwrap_or("?"), w.name);
                    match &fl.name {
                        Some(name) => {
                            self.segment(&format!("name of {at}"), name);
                            names.once(
                                &mut self.problems,
                                &format!("flow log of network watcher {}", w.name),
                                name.clone(),
                            );
                        }
                        None => self.problem(format!("{at}: name is required")),
                    }
                    match fl.target_resource_id.as_deref().map(|t| (t, self.target(t))) {
                        None => self.problem(format!("{at}: targetResourceId is required")),
                        Some((t, None)) => self.problem(format!(
                            "{at}: targetResourceId {t:?} is not a network security group, virtual network, subnet or \
                             network interface of the inventory"
                        )),
                        Some((_, Some(target))) => {
                            if !target.location.eq_ignore_ascii_case(&w.location) {
                                self.problem(format!(
                                    "{at}: the target is in {}, but the watcher is in {}",
                                    target.location, w.location
                                ));
                            }
                            if target.nsg
                                && self
                                    .inventory
                                    .subscriptions
                                    .iter()
                                    .flat_map(|s| {
                                        s.network_security_groups.iter().filter(|n| n.flow_log.is_some()).map(|n| {
                                            arm_id(
                                                &s.id,
                                                &n.resource_group,
                                                "Microsoft.Network/networkSecurityGroups",
                                                &n.name,
                                            )
                                        })
                                    })
                                    .any(|id| id.eq_ignore_ascii_case(&target.id))
                            {
                                self.problem(format!("{at}: its NSG already has a flowLog"));
                            } else {
                                per_target.once(&mut self.problems, "flow log for target", target.id.clone());
                            }
                        }
                    }
                    self.flow_log_settings(&at, fl, &w.location);
                }
            }
        }
    }

    fn flow_log_settings(&mut self, at: &str, fl: &InventoryFlowLog, location: &str) {
        let inventory = self.inventory;
        self.tags(at, &fl.tags);
        // The storage account is not checked as a write checks it (it exists, in the target's region): an inventory
        // holds flow logs as they are now, and an old flow log may outlive that. Azure checked the region when the
        // flow log was written, but storage accounts get deleted (and their names taken again, elsewhere) while the
        // flow logs that name them stay. So any account of the inventory may be named, in any region, and an ARM ID
        // may name one that does not exist; a bare name must still be one of the inventory's (a typo is not a state).
        // Writes still refuse such accounts (`write_checks.rs`).
        match fl.storage_account.as_deref() {
            None if fl.enabled => self.problem(format!("{at} is enabled but names no storageAccount")),
            None => {}
            Some(id) if id.starts_with('/') && !ResourceId::parse(id).is_ok_and(|r| r.is_type(STORAGE_TYPE)) => {
                self.problem(format!(
                    "{at}: storageAccount {id:?} is neither a storage account name nor the ID of one \
                     (.../providers/{STORAGE_TYPE}/{{name}})"
                ));
            }
            // An ID: of an account of the inventory, or of one that no longer exists.
            Some(id) if id.starts_with('/') => {}
            Some(name) => {
                let mut storage = inventory.subscriptions.iter().flat_map(|s| &s.storage_accounts);
                if !storage.any(|s| s.name.eq_ignore_ascii_case(name)) {
                    self.problem(format!(
                        "{at} refers to unknown storage account {name:?} (name a deleted one by its ARM ID)"
                    ));
                }
            }
        }
        if let Some(why) = fl.retention_policy.as_ref().and_then(retention_problem) {
            self.problem(format!("{at}: {why}"));
        }
        if let Some(why) = fl.format.as_ref().and_then(format_problem) {
            self.problem(format!("{at}: {why}"));
        }
        if let Some(why) = fl.record_types.as_deref().and_then(record_types_problem) {
            self.problem(format!("{at}: {why}"));
        }
        if let Some(ta) = &fl.traffic_analytics {
            if !matches!(ta.interval_minutes, 10 | 60) {
                self.problem(format!("{at}: traffic analytics intervalMinutes must be 10 or 60"));
            }
            match &ta.workspace {
                None if ta.enabled => {
                    self.problem(format!("{at}: traffic analytics is enabled but names no workspace"))
                }
                None => {}
                Some(name) => {
                    let mut workspaces = inventory.subscriptions.iter().flat_map(|s| &s.workspaces);
                    let found = workspaces.find(|w| w.name.eq_ignore_ascii_case(name)).map(|w| w.location.as_str());
                    self.named_reference(at, "workspace", name, found, location);
                }
            }
        }
        for id in &fl.user_assigned_identities {
            if ResourceId::parse(id).is_err() {
                self.problem(format!("{at}: {id:?} is not an ARM resource ID"));
            }
        }
    }

    /// A flow log's reference by name to a workspace (`kind`), `found` in the inventory at that location: it must
    /// exist, in the target's `location`.
    fn named_reference(&mut self, at: &str, kind: &str, name: &str, found: Option<&str>, location: &str) {
        match found {
            None => self.problem(format!("{at} refers to unknown {kind} {name:?}")),
            Some(l) if !l.eq_ignore_ascii_case(location) => {
                self.problem(format!("{at} uses {kind} {name} in {l}, but the target is in {location}"))
            }
            Some(_) => {}
        }
    }

    fn target(&self, id: &str) -> Option<TargetInfo> {
        let mut found = None;
        for sub in &self.inventory.subscriptions {
            let mut check = |rid: String, location: &str, nsg: bool| {
                if rid.eq_ignore_ascii_case(id) {
                    found = Some(TargetInfo { id: rid, location: location.to_string(), nsg });
                }
            };
            for n in &sub.network_security_groups {
                check(
                    arm_id(&sub.id, &n.resource_group, "Microsoft.Network/networkSecurityGroups", &n.name),
                    &n.location,
                    true,
                );
            }
            for v in &sub.virtual_networks {
                let vnet_id = arm_id(&sub.id, &v.resource_group, "Microsoft.Network/virtualNetworks", &v.name);
                for s in &v.subnets {
                    check(format!("{vnet_id}/subnets/{}", s.name), &v.location, false);
                }
                check(vnet_id, &v.location, false);
            }
            for nic in &sub.network_interfaces {
                check(
                    arm_id(&sub.id, &nic.resource_group, "Microsoft.Network/networkInterfaces", &nic.name),
                    &nic.location,
                    false,
                );
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use crate::inventory::{Inventory, InventoryError};

    #[test]
    fn one_flow_log_per_target_and_nsg_flow_logs_need_a_watcher() {
        let nsg = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1";
        let yaml = format!(
            r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkWatchers:
      - name: nw1
        resourceGroup: rg
        location: westeurope
        flowLogs:
          - {{ name: a, targetResourceId: {nsg}, enabled: false }}
          - {{ name: b, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg2, enabled: false }}
          - {{ name: B, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg3, enabled: false }}
          - {{ name: c, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/NSG3, enabled: false }}
    networkSecurityGroups:
      - {{ name: nsg1, resourceGroup: rg, location: westeurope, flowLog: {{ enabled: false }} }}
      - {{ name: nsg2, resourceGroup: rg, location: westeurope }}
      - {{ name: nsg3, resourceGroup: rg, location: westeurope }}
      - {{ name: nsg4, resourceGroup: rg, location: northeurope, flowLog: {{ enabled: false }} }}
"#
        );
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(&yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "flow log a of network watcher nw1: its NSG already has a flowLog",
            "duplicate flow log of network watcher nw1 B",
            "duplicate flow log for target /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg3",
            "flow log of network security group nsg4: subscription s1 has no network watcher in northeurope",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert!(!all.contains("nsg2"), "{all}");
    }
}

//! Validation of an inventory: every problem is reported, not only the first. Checks of flow logs (targets,
//! references, settings) are in [`flow_logs`].

mod flow_logs;

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::behaviour::MAX_TOKEN_LIFETIME;
use super::{Behaviour, Inventory, InventoryError, SubnetRef, Subscription};
use crate::faults::MAX_LRO_DURATION_MS;
use flowlog_wire::id::ResourceId;

/// ARM's limit of tags per resource.
const MAX_TAGS: usize = 50;
/// Azure's limit of VMs in a scale set.
const MAX_SCALE_SET_INSTANCES: u32 = 1000;

impl Inventory {
    /// Checks references, names, regions and settings; every problem found is reported, not only the first.
    pub fn validate(&self) -> Result<(), InventoryError> {
        let mut v = Validator { inventory: self, problems: Vec::new(), seen: Seen::default() };
        v.principals();
        for sub in &self.subscriptions {
            v.subscription(sub);
        }
        v.flow_logs();
        v.behaviour(&self.behaviour);
        if v.problems.is_empty() { Ok(()) } else { Err(InventoryError::Invalid(v.problems)) }
    }
}

/// Collects the problems of one inventory.
struct Validator<'a> {
    inventory: &'a Inventory,
    problems: Vec<String>,
    seen: Seen,
}

impl Validator<'_> {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    fn principals(&mut self) {
        for sp in &self.inventory.service_principals {
            self.segment("service principal tenantId", &sp.tenant_id);
            self.segment("service principal clientId", &sp.client_id);
            if sp.client_secret.is_empty() && sp.federated_credentials.is_empty() {
                self.problem(format!(
                    "service principal {} has neither a clientSecret nor federatedCredentials",
                    sp.client_id
                ));
            }
            for fc in &sp.federated_credentials {
                if fc.issuer.is_empty() || fc.subject.is_empty() {
                    self.problem(format!(
                        "a federated credential of service principal {} lacks issuer or subject",
                        sp.client_id
                    ));
                }
            }
            self.seen.once(&mut self.problems, "service principal", format!("{}/{}", sp.tenant_id, sp.client_id));
        }
        for mi in &self.inventory.managed_identities {
            for (what, value) in [("clientId", &mi.client_id), ("principalId", &mi.principal_id)] {
                if uuid::Uuid::parse_str(value).is_err() {
                    self.problem(format!("managed identity {what} {value:?} is not a GUID"));
                }
            }
            self.seen.once(&mut self.problems, "managed identity clientId", mi.client_id.clone());
            if let Some(id) = &mi.resource_id {
                match ResourceId::parse(id) {
                    Ok(id) if id.is_type("Microsoft.ManagedIdentity/userAssignedIdentities") => {
                        self.seen.once(&mut self.problems, "managed identity resourceId", id.key());
                    }
                    _ => self.problem(format!(
                        "managed identity resourceId {id:?} is not the ID of a user-assigned identity \
                         (.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/{{name}})"
                    )),
                }
            }
        }
    }

    fn subscription(&mut self, sub: &Subscription) {
        self.segment("subscription id", &sub.id);
        self.seen.once(&mut self.problems, "subscription", sub.id.clone());
        if sub.display_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.problem(format!("subscription {} has an empty displayName", sub.id));
        }
        if sub.locations.is_empty() {
            self.problem(format!("subscription {} lists no locations", sub.id));
        }
        for p in &sub.registered_providers {
            self.segment(&format!("registered provider of subscription {}", sub.id), p);
        }
        for w in &sub.network_watchers {
            self.grouped_resource(sub, "network watcher", &w.name, &w.resource_group, &w.location);
            self.tags(&format!("network watcher {}", w.name), &w.tags);
            // Azure allows one watcher per subscription and region (NetworkWatcherCountLimitReached).
            self.seen.once(&mut self.problems, "network watcher in location", format!("{}/{}", sub.id, w.location));
        }
        for s in &sub.storage_accounts {
            self.resource(sub, "storage account", &s.name, &s.resource_group, &s.location);
            self.seen.once(&mut self.problems, "storage account", s.name.clone());
        }
        for n in &sub.network_security_groups {
            self.grouped_resource(sub, "network security group", &n.name, &n.resource_group, &n.location);
            self.tags(&format!("network security group {}", n.name), &n.tags);
            let mut rules = Seen::default();
            for r in &n.security_rules {
                self.segment(&format!("security rule name of {}", n.name), &r.name);
                rules.once(&mut self.problems, &format!("security rule of {}", n.name), r.name.clone());
                if !(100..=4096).contains(&r.priority) {
                    self.problem(format!(
                        "security rule {} of {} has priority {} outside 100..=4096",
                        r.name, n.name, r.priority
                    ));
                }
                if !matches!(r.direction.as_str(), "Inbound" | "Outbound")
                    || !matches!(r.access.as_str(), "Allow" | "Deny")
                {
                    self.problem(format!(
                        "security rule {} of {} needs direction Inbound|Outbound and access Allow|Deny",
                        r.name, n.name
                    ));
                }
            }
        }
        for v in &sub.virtual_networks {
            self.grouped_resource(sub, "virtual network", &v.name, &v.resource_group, &v.location);
            self.tags(&format!("virtual network {}", v.name), &v.tags);
            for prefix in &v.address_prefixes {
                self.prefix(&format!("address prefix of virtual network {}", v.name), prefix);
            }
            let mut subnets = Seen::default();
            for s in &v.subnets {
                self.segment(&format!("subnet name in virtual network {}", v.name), &s.name);
                subnets.once(&mut self.problems, &format!("subnet of {}", v.name), s.name.clone());
                self.prefix(&format!("address prefix of subnet {}/{}", v.name, s.name), &s.address_prefix);
                self.nsg_reference(
                    sub,
                    &format!("subnet {} of virtual network {}", s.name, v.name),
                    &v.location,
                    (s.network_security_group.as_deref(), s.network_security_group_resource_group.as_deref()),
                    &v.resource_group,
                );
            }
        }
        for nic in &sub.network_interfaces {
            self.grouped_resource(sub, "network interface", &nic.name, &nic.resource_group, &nic.location);
            self.tags(&format!("network interface {}", nic.name), &nic.tags);
            if let Some(r) = &nic.subnet {
                let what = format!("network interface {}", nic.name);
                self.subnet_reference(sub, &what, &nic.location, r, &nic.resource_group);
            }
            if let Some(ip) = &nic.private_ip_address
                && ip.parse::<IpAddr>().is_err()
            {
                self.problem(format!("network interface {} has privateIpAddress {ip:?}, not an IP address", nic.name));
            }
            self.nsg_reference(
                sub,
                &format!("network interface {}", nic.name),
                &nic.location,
                (nic.network_security_group.as_deref(), nic.network_security_group_resource_group.as_deref()),
                &nic.resource_group,
            );
        }
        for vmss in &sub.virtual_machine_scale_sets {
            let what = format!("virtual machine scale set {}", vmss.name);
            self.grouped_resource(sub, "virtual machine scale set", &vmss.name, &vmss.resource_group, &vmss.location);
            self.subnet_reference(sub, &what, &vmss.location, &vmss.subnet, &vmss.resource_group);
            self.nsg_reference(
                sub,
                &what,
                &vmss.location,
                (vmss.network_security_group.as_deref(), vmss.network_security_group_resource_group.as_deref()),
                &vmss.resource_group,
            );
            if vmss.instances > MAX_SCALE_SET_INSTANCES {
                self.problem(format!(
                    "{what} has {} instances; Azure allows at most {MAX_SCALE_SET_INSTANCES}",
                    vmss.instances
                ));
            }
        }
        for w in &sub.workspaces {
            self.resource(sub, "workspace", &w.name, &w.resource_group, &w.location);
            self.seen.once(&mut self.problems, "workspace", w.name.clone());
            if uuid::Uuid::parse_str(&w.customer_id).is_err() {
                self.problem(format!("workspace {} has customerId {:?}, not a GUID", w.name, w.customer_id));
            }
        }
    }

    /// The subnet a NIC or scale set (`what`, in `location`) is in: it must exist, in the same region; its virtual
    /// network's resource group defaults to `default_rg`.
    fn subnet_reference(&mut self, sub: &Subscription, what: &str, location: &str, r: &SubnetRef, default_rg: &str) {
        let rg = r.resource_group.as_deref().unwrap_or(default_rg);
        let vnet = sub
            .virtual_networks
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(&r.virtual_network) && v.resource_group.eq_ignore_ascii_case(rg));
        match vnet {
            Some(v) if v.subnets.iter().any(|s| s.name.eq_ignore_ascii_case(&r.name)) => {
                if !v.location.eq_ignore_ascii_case(location) {
                    self.problem(format!(
                        "{what} is in {location}, but its virtual network {} is in {}",
                        v.name, v.location
                    ));
                }
            }
            _ => self.problem(format!(
                "{what} refers to unknown subnet {}/{} in resource group {rg}",
                r.virtual_network, r.name
            )),
        }
    }

    /// The network security group a subnet, NIC or scale set (`what`, in `location`) is attached to: `(name,
    /// resource group)`, the group defaulting to `default_rg`. Azure requires it in the same subscription and region.
    fn nsg_reference(
        &mut self,
        sub: &Subscription,
        what: &str,
        location: &str,
        (name, rg): (Option<&str>, Option<&str>),
        default_rg: &str,
    ) {
        let Some(name) = name else {
            if rg.is_some() {
                self.problem(format!("{what} has a networkSecurityGroupResourceGroup but no networkSecurityGroup"));
            }
            return;
        };
        let rg = rg.unwrap_or(default_rg);
        let nsg = sub
            .network_security_groups
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(name) && n.resource_group.eq_ignore_ascii_case(rg));
        match nsg {
            None => self.problem(format!(
                "{what} refers to unknown network security group {name:?} in resource group {rg:?} of subscription {}",
                sub.id
            )),
            Some(n) if !n.location.eq_ignore_ascii_case(location) => self.problem(format!(
                "{what} is in {location}, but its network security group {} is in {}",
                n.name, n.location
            )),
            Some(_) => {}
        }
    }

    fn behaviour(&mut self, b: &Behaviour) {
        if let Err(why) = b.throttling.validate() {
            self.problem(why);
        }
        if b.token_lifetime_seconds > MAX_TOKEN_LIFETIME {
            self.problem(format!("tokenLifetimeSeconds must be at most {MAX_TOKEN_LIFETIME} (one year)"));
        }
        if b.lro.duration_ms > MAX_LRO_DURATION_MS {
            self.problem(format!("lro.durationMs must be at most {MAX_LRO_DURATION_MS} (one year)"));
        }
        if b.page_size == 0 {
            self.problem("pageSize must be at least 1".into());
        }
        if b.arm_audiences.is_empty() {
            self.problem("armAudiences lists no audience".into());
        }
        for (i, rule) in b.faults.iter().enumerate() {
            if let Err(why) = rule.validate() {
                self.problem(format!("fault {}: {why}", i + 1));
            }
        }
    }

    /// A resource whose name is unique within its resource group (most kinds; storage accounts and workspaces are
    /// named uniquely across the inventory).
    fn grouped_resource(&mut self, sub: &Subscription, kind: &str, name: &str, rg: &str, location: &str) {
        self.resource(sub, kind, name, rg, location);
        self.seen.once(&mut self.problems, kind, format!("{}/{rg}/{name}", sub.id));
    }

    fn resource(&mut self, sub: &Subscription, kind: &str, name: &str, rg: &str, location: &str) {
        self.segment(&format!("{kind} name"), name);
        self.segment(&format!("resource group of {kind} {name}"), rg);
        if !sub.locations.iter().any(|l| l.eq_ignore_ascii_case(location)) {
            self.problem(format!(
                "{kind} {name} is in location {location:?}, which subscription {} does not list",
                sub.id
            ));
        }
    }

    /// ARM's limits on tags: at most 50 per resource; names of 1 to 512 characters without `<`, `>`, `%`, `&`,
    /// `\`, `?` or `/`, unique case-insensitively (ARM compares them so); values of at most 256 characters.
    fn tags(&mut self, what: &str, tags: &BTreeMap<String, String>) {
        if tags.len() > MAX_TAGS {
            self.problem(format!("{what} has {} tags; ARM allows at most {MAX_TAGS}", tags.len()));
        }
        let mut names = Seen::default();
        for (name, value) in tags {
            if name.is_empty() || name.chars().count() > 512 || name.contains(['<', '>', '%', '&', '\\', '?', '/']) {
                self.problem(format!(
                    "{what} has tag name {name:?}: tag names have 1 to 512 characters, none of < > % & \\ ? /"
                ));
            }
            if value.chars().count() > 256 {
                self.problem(format!("{what} has a value of tag {name:?} longer than 256 characters"));
            }
            names.once(&mut self.problems, &format!("tag name of {what}"), name.clone());
        }
    }

    /// A name must be usable as one segment of an ARM ID.
    fn segment(&mut self, what: &str, value: &str) {
        if value.is_empty() || value.contains(['/', '?', '#']) || value.chars().any(char::is_whitespace) {
            self.problem(format!("{what} {value:?} is not a valid ARM ID segment"));
        }
    }

    fn prefix(&mut self, what: &str, value: &str) {
        let valid = value.split_once('/').is_some_and(|(ip, len)| match (ip.parse::<IpAddr>(), len.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(len)) => len <= 32,
            (Ok(IpAddr::V6(_)), Ok(len)) => len <= 128,
            _ => false,
        });
        if !valid {
            self.problem(format!("{what} {value:?} is not a CIDR prefix"));
        }
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
    use crate::inventory::{Inventory, InventoryError};

    #[test]
    fn reports_every_problem() {
        let yaml = r#"
servicePrincipals:
  - { tenantId: t, clientId: c }
managedIdentities:
  - { clientId: not-a-guid, principalId: 44444444-4444-4444-4444-444444444444, resourceId: /subscriptions/s1 }
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkWatchers:
      - { name: nw1, resourceGroup: rg, location: westeurope }
      - { name: NW1, resourceGroup: RG, location: westeurope }
      - name: nw2
        resourceGroup: rg
        location: northeurope
        flowLogs:
          - { name: a, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1, enabled: false }
          - { name: b, targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/nope, enabled: false }
          - { targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v2, enabled: false, recordTypes: "B,X" }
          - name: c
            targetResourceId: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v2/subnets/s1
            enabled: false
            trafficAnalytics: { enabled: true, intervalMinutes: 30 }
    storageAccounts:
      - { name: st1, resourceGroup: rg, location: northeurope }
    networkSecurityGroups:
      - name: nsg1
        resourceGroup: rg
        location: westeurope
        flowLog: { enabled: true, storageAccount: missing }
        securityRules:
          - { name: r1, priority: 50, direction: Sideways, access: Allow }
      - name: nsg2
        resourceGroup: rg
        location: eastus
        flowLog: { enabled: true, storageAccount: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1 }
      - name: "bad/name"
        resourceGroup: rg
        location: westeurope
        flowLog: { enabled: true, retentionPolicy: { days: 400, enabled: true }, format: { type: CSV, version: 1 } }
    virtualNetworks:
      - { name: v1, resourceGroup: rg, location: westeurope, addressPrefixes: [10.0.0.0/33] }
      - name: v2
        resourceGroup: rg
        location: northeurope
        subnets: [{ name: s1, addressPrefix: 10.0.1.0/24 }, { name: S1, addressPrefix: x }]
    networkInterfaces:
      - { name: nic1, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v2, name: nope }, privateIpAddress: 10.0.0.300 }
    workspaces:
      - { name: law, resourceGroup: rg, location: westeurope, customerId: nope }
behaviour:
  pageSize: 0
  tokenLifetimeSeconds: 99999999999
  lro: { durationMs: 99999999999999 }
  throttling: { reads: { size: 0, refillPerSecond: 1 } }
  faults:
    - { operation: nope, effect: drop }
"#;
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "service principal c has neither a clientSecret nor federatedCredentials",
            "managed identity clientId \"not-a-guid\" is not a GUID",
            "is not the ID of a user-assigned identity",
            "duplicate network watcher s1/RG/NW1",
            "duplicate network watcher in location",
            "network security group nsg2 is in location \"eastus\", which subscription s1 does not list",
            "storageAccount \"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1\" is \
             neither a storage account name nor the ID of one",
            "unknown storage account \"missing\" (name a deleted one by its ARM ID)",
            "network security group name \"bad/name\" is not a valid ARM ID segment",
            "is enabled but names no storageAccount",
            "Retention policy days must be between 0 and 365; got 400",
            "format type 'CSV' is not supported",
            "security rule r1 of nsg1 has priority 50",
            "needs direction Inbound|Outbound",
            "flow log a of network watcher nw2: the target is in westeurope, but the watcher is in northeurope",
            "virtualNetworks/nope\" is not a network security group, virtual network, subnet or network interface",
            "flow log ? of network watcher nw2: name is required",
            "Record types 'B,X' are not supported",
            "traffic analytics intervalMinutes must be 10 or 60",
            "traffic analytics is enabled but names no workspace",
            "address prefix of virtual network v1 \"10.0.0.0/33\" is not a CIDR prefix",
            "duplicate subnet of v2 S1",
            "network interface nic1 refers to unknown subnet v2/nope",
            "not an IP address",
            "workspace law has customerId \"nope\", not a GUID",
            "pageSize must be at least 1",
            "tokenLifetimeSeconds must be at most 31536000",
            "lro.durationMs must be at most 31536000000 (one year)",
            "throttling.reads needs size ≥ 1",
            "fault 1: unknown operation \"nope\"",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn nsg_associations_must_name_an_nsg_of_the_subscription_and_region() {
        let yaml = r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkSecurityGroups:
      - { name: nsg1, resourceGroup: rg, location: westeurope }
      - { name: nsg2, resourceGroup: other-rg, location: westeurope }
      - { name: nsg3, resourceGroup: rg, location: northeurope }
    virtualNetworks:
      - name: v1
        resourceGroup: rg
        location: westeurope
        subnets:
          - { name: ok, addressPrefix: 10.0.1.0/24, networkSecurityGroup: NSG1 }
          - { name: other-group, addressPrefix: 10.0.2.0/24, networkSecurityGroup: nsg2,
              networkSecurityGroupResourceGroup: other-rg }
          - { name: unknown, addressPrefix: 10.0.3.0/24, networkSecurityGroup: nope }
          - { name: wrong-group, addressPrefix: 10.0.4.0/24, networkSecurityGroup: nsg2 }
          - { name: wrong-region, addressPrefix: 10.0.5.0/24, networkSecurityGroup: nsg3 }
          - { name: group-only, addressPrefix: 10.0.6.0/24, networkSecurityGroupResourceGroup: rg }
    networkInterfaces:
      - { name: nic-ok, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg1 }
      - { name: nic-unknown, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg9 }
      - { name: nic-far, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg3 }
      - { name: nic-other-sub, resourceGroup: rg, location: westeurope, networkSecurityGroup: nsg4 }
  - id: s2
    locations: [westeurope]
    networkSecurityGroups:
      - { name: nsg4, resourceGroup: rg, location: westeurope }
"#;
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "subnet unknown of virtual network v1 refers to unknown network security group \"nope\" in resource group \"rg\" of subscription s1",
            "subnet wrong-group of virtual network v1 refers to unknown network security group \"nsg2\" in resource group \"rg\"",
            "subnet wrong-region of virtual network v1 is in westeurope, but its network security group nsg3 is in northeurope",
            "subnet group-only of virtual network v1 has a networkSecurityGroupResourceGroup but no networkSecurityGroup",
            "network interface nic-unknown refers to unknown network security group \"nsg9\"",
            "network interface nic-far is in westeurope, but its network security group nsg3 is in northeurope",
            "network interface nic-other-sub refers to unknown network security group \"nsg4\" in resource group \"rg\" of subscription s1",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 7, "{all}");
    }

    #[test]
    fn scale_sets_need_a_subnet_and_nsg_of_their_subscription_and_region() {
        let yaml = r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkSecurityGroups:
      - { name: nsg1, resourceGroup: rg, location: westeurope }
      - { name: nsg3, resourceGroup: rg, location: northeurope }
    virtualNetworks:
      - { name: v1, resourceGroup: rg, location: westeurope, subnets: [{ name: pool, addressPrefix: 10.0.1.0/24 }] }
      - { name: v2, resourceGroup: rg, location: northeurope, subnets: [{ name: pool, addressPrefix: 10.1.1.0/24 }] }
    virtualMachineScaleSets:
      - { name: ok, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v1, name: pool },
          networkSecurityGroup: nsg1, instances: 3 }
      - { name: other-group, resourceGroup: vmss-rg, location: westeurope,
          subnet: { virtualNetwork: v1, name: pool, resourceGroup: rg }, networkSecurityGroup: nsg1,
          networkSecurityGroupResourceGroup: rg, instances: 0 }
      - { name: no-subnet, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v1, name: nope }, instances: 1 }
      - { name: far-subnet, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v2, name: pool }, instances: 1 }
      - { name: far-nsg, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v1, name: pool },
          networkSecurityGroup: nsg3, instances: 1 }
      - { name: huge, resourceGroup: rg, location: westeurope, subnet: { virtualNetwork: v1, name: pool }, instances: 1001 }
      - { name: OK, resourceGroup: RG, location: westeurope, subnet: { virtualNetwork: v1, name: pool }, instances: 1 }
"#;
        let Err(InventoryError::Invalid(problems)) = Inventory::from_yaml(yaml) else { panic!("must be invalid") };
        let all = problems.join("\n");
        for expected in [
            "virtual machine scale set no-subnet refers to unknown subnet v1/nope in resource group rg",
            "virtual machine scale set far-subnet is in westeurope, but its virtual network v2 is in northeurope",
            "virtual machine scale set far-nsg is in westeurope, but its network security group nsg3 is in northeurope",
            "virtual machine scale set huge has 1001 instances; Azure allows at most 1000",
            "duplicate virtual machine scale set s1/RG/OK",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 5, "{all}");
        let missing = "subscriptions: [{ id: s, locations: [westeurope], virtualMachineScaleSets: [{ name: v, \
                       resourceGroup: rg, location: westeurope, instances: 1 }] }]";
        assert!(matches!(Inventory::from_yaml(missing), Err(InventoryError::Parse(e)) if e.contains("subnet")));
    }

    /// Flow logs as an inventory may find them: storage in another region, or deleted (named by its ID). Writes
    /// refuse both; the inventory holds them.
    #[test]
    fn inventory_flow_logs_may_name_storage_elsewhere_or_gone() {
        let yaml = r#"
subscriptions:
  - id: s1
    locations: [westeurope, northeurope]
    networkWatchers:
      - { name: nw, resourceGroup: rg, location: northeurope }
    storageAccounts:
      - { name: weu1, resourceGroup: rg, location: westeurope }
    networkSecurityGroups:
      - { name: far, resourceGroup: rg, location: northeurope, flowLog: { enabled: true, storageAccount: weu1 } }
      - name: gone
        resourceGroup: rg
        location: northeurope
        flowLog:
          enabled: true
          storageAccount: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/deleted1
"#;
        Inventory::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    }
}

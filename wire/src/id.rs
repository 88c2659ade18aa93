//! ARM resource IDs. ARM compares them case-insensitively and returns them in whatever casing it stored,
//! so every comparison goes through [`ResourceId::eq_ignore_case`] or [`same_id`].

use std::fmt;

/// A parsed ARM resource ID of the form
/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{childType}/{childName}]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    raw: String,
    pub subscription: String,
    pub resource_group: String,
    pub namespace: String,
    /// `(type, name)` pairs after the namespace, e.g. `[("networkSecurityGroups", "nsg1")]`.
    pub segments: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed ARM resource ID {id:?}: {why}")]
pub struct ParseIdError {
    pub id: String,
    pub why: &'static str,
}

impl ResourceId {
    pub fn parse(id: &str) -> Result<Self, ParseIdError> {
        let err = |why| ParseIdError { id: id.to_string(), why };
        let rest = id.strip_prefix('/').ok_or_else(|| err("must start with '/'"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("empty path segment"));
        }
        if parts.len() < 8 || !parts.len().is_multiple_of(2) {
            return Err(err("expected /subscriptions/{id}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}"));
        }
        if !parts[0].eq_ignore_ascii_case("subscriptions")
            || !parts[2].eq_ignore_ascii_case("resourceGroups")
            || !parts[4].eq_ignore_ascii_case("providers")
        {
            return Err(err("expected /subscriptions/{id}/resourceGroups/{rg}/providers/..."));
        }
        let segments = parts[6..].chunks(2).map(|c| (c[0].to_string(), c[1].to_string())).collect();
        Ok(Self {
            raw: id.to_string(),
            subscription: parts[1].to_string(),
            resource_group: parts[3].to_string(),
            namespace: parts[5].to_string(),
            segments,
        })
    }

    /// `Microsoft.Network/networkSecurityGroups` for a top-level resource (child types appended with `/`).
    pub fn resource_type(&self) -> String {
        let mut t = self.namespace.clone();
        for (ty, _) in &self.segments {
            t.push('/');
            t.push_str(ty);
        }
        t
    }

    /// Whether this ID names a resource of `resource_type` (case-insensitive).
    pub fn is_type(&self, resource_type: &str) -> bool {
        self.resource_type().eq_ignore_ascii_case(resource_type)
    }

    /// The last name segment.
    pub fn name(&self) -> &str {
        &self.segments.last().expect("parse guarantees one segment").1
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn eq_ignore_case(&self, other: &ResourceId) -> bool {
        self.raw.eq_ignore_ascii_case(&other.raw)
    }

    /// A lower-cased key for maps indexed by ID.
    pub fn key(&self) -> String {
        self.raw.to_ascii_lowercase()
    }

    /// The resource a child resource belongs to (a subnet's virtual network); `None` for top-level resources.
    pub fn parent(&self) -> Option<ResourceId> {
        if self.segments.len() < 2 {
            return None;
        }
        let parts: Vec<&str> = self.raw.split('/').collect();
        ResourceId::parse(&parts[..parts.len() - 2].join("/")).ok()
    }

    /// The ID of a Network Watcher in this ID's subscription.
    pub fn network_watcher(subscription: &str, resource_group: &str, name: &str) -> ResourceId {
        let raw = format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network/networkWatchers/{name}"
        );
        ResourceId::parse(&raw).expect("well-formed by construction")
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Compares two ARM IDs as ARM does: case-insensitively, ignoring a trailing slash.
pub fn same_id(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

pub const NSG_TYPE: &str = "Microsoft.Network/networkSecurityGroups";
pub const STORAGE_ACCOUNT_TYPE: &str = "Microsoft.Storage/storageAccounts";
pub const NETWORK_WATCHER_TYPE: &str = "Microsoft.Network/networkWatchers";
pub const VIRTUAL_NETWORK_TYPE: &str = "Microsoft.Network/virtualNetworks";
pub const SUBNET_TYPE: &str = "Microsoft.Network/virtualNetworks/subnets";
pub const NETWORK_INTERFACE_TYPE: &str = "Microsoft.Network/networkInterfaces";
/// The `flowLogs` child resource; Azure spells it `FlowLogs` in the IDs it returns.
pub const FLOW_LOG_TYPE: &str = "Microsoft.Network/networkWatchers/flowLogs";
pub const WORKSPACE_TYPE: &str = "Microsoft.OperationalInsights/workspaces";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nsg_id() {
        let id = ResourceId::parse(
            "/subscriptions/sub/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1",
        )
        .unwrap();
        assert_eq!(id.subscription, "sub");
        assert_eq!(id.resource_group, "rg1");
        assert_eq!(id.name(), "nsg1");
        assert!(id.is_type("microsoft.network/NETWORKSECURITYGROUPS"));
        assert!(!id.is_type(STORAGE_ACCOUNT_TYPE));
    }

    #[test]
    fn parses_child_resource() {
        let id = ResourceId::parse(
            "/subscriptions/s/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/nw/FlowLogs/fl",
        )
        .unwrap();
        assert_eq!(id.resource_type(), "Microsoft.Network/networkWatchers/FlowLogs");
        assert_eq!(id.name(), "fl");
    }

    #[test]
    fn finds_the_parent_of_a_child_resource() {
        let subnet = ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default",
        )
        .unwrap();
        assert!(subnet.is_type(SUBNET_TYPE));
        let vnet = subnet.parent().unwrap();
        assert_eq!(
            vnet.as_str(),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1"
        );
        assert!(vnet.is_type(VIRTUAL_NETWORK_TYPE));
        assert_eq!(vnet.parent(), None);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups",
            "/subscriptions/s/resourceGroups//providers/Microsoft.Network/networkSecurityGroups/n",
            "/subs/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn compares_case_insensitively() {
        assert!(same_id("/subscriptions/A/resourceGroups/RG", "/SUBSCRIPTIONS/a/resourcegroups/rg/"));
        assert!(!same_id("/subscriptions/a/resourceGroups/rg1", "/subscriptions/a/resourceGroups/rg2"));
    }
}

//! Network Watcher discovery: the watcher of a target's region, found by location (auto-created watchers are
//! usually `NetworkWatcher_<region>` in `NetworkWatcherRG`, but nothing guarantees it). A subscription's
//! watcher list is cached with a TTL, misses included, so that a region without a watcher costs one list per
//! TTL, not one per reconcile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::client::ArmClient;
use super::error::ArmError;
use super::id::{ResourceId, SUBNET_TYPE};
use super::model::{API_VERSION, ArmResource};

/// A Network Watcher and its region (as Azure spells it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkWatcher {
    pub id: ResourceId,
    pub location: String,
}

/// `westeurope` for `West Europe`, `westeurope`, `WestEurope`: ARM region names compared as ARM does.
pub fn normalize_region(region: &str) -> String {
    region.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

pub fn same_region(a: &str, b: &str) -> bool {
    normalize_region(a) == normalize_region(b)
}

struct Cached {
    fetched: Instant,
    watchers: Vec<NetworkWatcher>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Per-subscription watcher lists. One list request at a time per subscription: concurrent callers wait
/// for it and share its answer.
pub(super) struct Discovery {
    ttl: Duration,
    subscriptions: std::sync::Mutex<HashMap<String, Slot>>,
}

impl Discovery {
    pub(super) fn new(ttl: Duration) -> Self {
        Self { ttl, subscriptions: std::sync::Mutex::new(HashMap::new()) }
    }

    fn slot(&self, subscription: &str) -> Slot {
        let mut subscriptions = self.subscriptions.lock().expect("not poisoned");
        subscriptions.entry(subscription.to_ascii_lowercase()).or_default().clone()
    }
}

impl ArmClient {
    /// The region of a resource: its `location`, or for a subnet (which has none) its virtual network's.
    pub async fn resource_location(&self, id: &ResourceId) -> Result<String, ArmError> {
        let mut current = if id.is_type(SUBNET_TYPE) { id.parent().unwrap_or_else(|| id.clone()) } else { id.clone() };
        loop {
            let resource = self.get_resource(&current).await?;
            if let Some(location) = resource.location.filter(|l| !l.is_empty()) {
                return Ok(location);
            }
            current = current.parent().ok_or_else(|| {
                ArmError::InvalidResponse(format!("Azure reports no location for {current} or a parent of it"))
            })?;
        }
    }

    /// Every Network Watcher of the subscription (`GET /subscriptions/{sub}/providers/Microsoft.Network/
    /// networkWatchers`, every page), from the cache while it is fresh.
    pub async fn network_watchers(&self, subscription: &str) -> Result<Vec<NetworkWatcher>, ArmError> {
        let discovery = &self.shared.discovery;
        let slot = discovery.slot(subscription);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.fetched.elapsed() < discovery.ttl) {
            return Ok(c.watchers.clone());
        }
        let url = self.url(
            &format!("subscriptions/{subscription}/providers/Microsoft.Network"),
            ["networkWatchers"],
            API_VERSION,
        )?;
        let resources: Vec<ArmResource> = self.list_all("listNetworkWatchers", url).await?;
        let watchers: Vec<NetworkWatcher> = resources
            .into_iter()
            .filter_map(|r| {
                let id = ResourceId::parse(&r.id).ok()?;
                Some(NetworkWatcher { id, location: r.location.filter(|l| !l.is_empty())? })
            })
            .collect();
        *cached = Some(Cached { fetched: Instant::now(), watchers: watchers.clone() });
        Ok(watchers)
    }

    /// The subscription's Network Watcher in `region` (compared ignoring case and spaces), or `None` when the
    /// subscription has none there.
    pub async fn network_watcher_in(
        &self,
        subscription: &str,
        region: &str,
    ) -> Result<Option<NetworkWatcher>, ArmError> {
        let watchers = self.network_watchers(subscription).await?;
        Ok(watchers.into_iter().find(|w| same_region(&w.location, region)))
    }

    /// The Network Watcher of the target's region in the target's subscription, or `None` when there is none:
    /// reads the target's location (a subnet's is its virtual network's), then the cached watcher list.
    pub async fn network_watcher_for(&self, target: &ResourceId) -> Result<Option<NetworkWatcher>, ArmError> {
        let location = self.resource_location(target).await?;
        self.network_watcher_in(&target.subscription, &location).await
    }

    /// Drops the cached watcher list of a subscription (e.g. after the watcher answered 404).
    pub fn forget_network_watchers(&self, subscription: &str) {
        let discovery = &self.shared.discovery;
        discovery.subscriptions.lock().expect("not poisoned").remove(&subscription.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_compare_ignoring_case_and_spaces() {
        assert!(same_region("West Europe", "westeurope"));
        assert!(same_region("westeurope", "WestEurope"));
        assert!(same_region("  East US 2", "eastus2"));
        assert!(!same_region("eastus", "eastus2"));
        assert_eq!(normalize_region("North Europe"), "northeurope");
    }
}

//! Network Watcher discovery: the watcher of a target's region, found by location (auto-created watchers are
//! usually `NetworkWatcher_<region>` in `NetworkWatcherRG`, but nothing guarantees it). A subscription's
//! watcher list is cached with a TTL, misses included, so that a region without a watcher costs one list per
//! TTL, not one per reconcile.

use tokio::time::Instant;

use super::client::ArmClient;
use super::error::ArmError;
use super::id::{ResourceId, SUBNET_TYPE};
use super::model::{API_VERSION, ArmResource};
use super::watchers::{Cached, NetworkWatcher, same_region};

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
        if let Some(c) = cached.as_ref().filter(|c| c.fetched.elapsed() < discovery.ttl()) {
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
        self.shared.discovery.forget(subscription);
    }
}

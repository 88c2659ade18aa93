//! The resources a FlowLogPolicySet may cover, listed through ARM's list APIs (every page, each page a read within
//! the subscription's read budget): the subscriptions the credentials can see, and per subscription its virtual
//! networks (with their subnets inline), network interfaces and network security groups.

use serde::Deserialize;

use super::client::ArmClient;
use super::error::ArmError;
use super::model::{API_VERSION, ArmResource};

/// `Subscriptions_List` api-version (Microsoft.Resources).
const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";

/// A subscription of ARM's subscription list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `Enabled | Warned | PastDue | Disabled | Deleted`.
    #[serde(default)]
    pub state: Option<String>,
}

impl Subscription {
    /// Whether its resources can be read and written (`Disabled` and `Deleted` ones are read-only or gone).
    pub fn usable(&self) -> bool {
        !matches!(self.state.as_deref(), Some("Disabled" | "Deleted"))
    }
}

impl ArmClient {
    /// `GET /subscriptions`: every subscription the credentials can see (every page).
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ArmError> {
        let url = self.url("subscriptions", [], SUBSCRIPTIONS_API_VERSION)?;
        self.list_all("listSubscriptions", url).await
    }

    /// `GET /subscriptions/{s}/providers/Microsoft.Network/virtualNetworks`: the subscription's virtual networks,
    /// each with its subnets in `properties.subnets`.
    pub async fn list_virtual_networks(&self, subscription: &str) -> Result<Vec<ArmResource>, ArmError> {
        self.list_network(subscription, "virtualNetworks", "listVirtualNetworks").await
    }

    /// `GET /subscriptions/{s}/providers/Microsoft.Network/networkInterfaces`.
    pub async fn list_network_interfaces(&self, subscription: &str) -> Result<Vec<ArmResource>, ArmError> {
        self.list_network(subscription, "networkInterfaces", "listNetworkInterfaces").await
    }

    /// `GET /subscriptions/{s}/providers/Microsoft.Network/networkSecurityGroups`, each with the read-only
    /// `properties.flowLogs` references of the flow logs that target it.
    pub async fn list_network_security_groups(&self, subscription: &str) -> Result<Vec<ArmResource>, ArmError> {
        self.list_network(subscription, "networkSecurityGroups", "listNetworkSecurityGroups").await
    }

    async fn list_network(
        &self,
        subscription: &str,
        resource_type: &str,
        operation: &'static str,
    ) -> Result<Vec<ArmResource>, ArmError> {
        let url = self.url(
            &format!("subscriptions/{subscription}/providers/Microsoft.Network"),
            [resource_type],
            API_VERSION,
        )?;
        self.list_all(operation, url).await
    }
}

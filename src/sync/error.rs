//! How an Azure use case fails, classified for status: transient (retried by itself) or terminal (waits for a
//! change).

use crate::azure::ArmError;
use crate::reconcile::Difference;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Azure(#[from] ArmError),
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{0}")]
    Credentials(String),
    /// Azure accepted the write but still reports a different configuration.
    #[error("Azure accepted the change but still differs from the spec: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NotConverged(Vec<Difference>),
    #[error(
        "no Network Watcher in region {region} of subscription {subscription}: enable Network Watcher there (Azure creates NetworkWatcher_{region} in NetworkWatcherRG) or name one in spec.networkWatcher"
    )]
    NoNetworkWatcher { subscription: String, region: String },
    #[error(
        "resource provider Microsoft.Insights is not registered in subscription {0}, and flow logs need it: register it (az provider register --namespace Microsoft.Insights) or let the operator do it (--register-providers)"
    )]
    ProviderNotRegistered(String),
    #[error(
        "registering resource provider Microsoft.Insights in subscription {0}; flow logs can be configured once it is registered"
    )]
    ProviderRegistering(String),
}

impl SyncError {
    /// The code shown in status (`lastError.code` and condition reasons).
    pub fn code(&self) -> &str {
        match self {
            SyncError::Azure(ArmError::Authentication { .. }) | SyncError::Credentials(_) => "CredentialsInvalid",
            SyncError::Azure(ArmError::Throttled { .. }) => "Throttled",
            SyncError::Azure(e) => e.code(),
            SyncError::InvalidSpec(_) => "InvalidSpec",
            SyncError::NotConverged(_) => "NotConverged",
            SyncError::NoNetworkWatcher { .. } => "NetworkWatcherNotFound",
            SyncError::ProviderNotRegistered(_) => "ProviderNotRegistered",
            SyncError::ProviderRegistering(_) => "ProviderRegistering",
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Azure(e) => e.is_transient(),
            SyncError::ProviderRegistering(_) => true,
            _ => false,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            SyncError::Azure(e) => e.request_id(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Azure(e) => e.retry_after(),
            _ => None,
        }
    }
}

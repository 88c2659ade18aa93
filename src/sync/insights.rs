//! `Microsoft.Insights` must be registered in a subscription before flow logs can be enabled there.

use std::collections::HashSet;
use std::sync::Mutex;

use super::SyncError;
use crate::azure::ArmClient;

/// `Microsoft.Insights` must be registered in a subscription before flow logs can be enabled there. Positive
/// answers are remembered for the life of the process (registration is not undone in practice).
#[derive(Debug, Default)]
pub struct Insights {
    /// Register the provider when it is not (needs `Microsoft.Insights/register/action`).
    pub allow_register: bool,
    registered: Mutex<HashSet<String>>,
}

impl Insights {
    pub fn new(allow_register: bool) -> Self {
        Self { allow_register, registered: Mutex::default() }
    }

    pub(super) async fn ensure(&self, arm: &ArmClient, subscription: &str) -> Result<(), SyncError> {
        let key = subscription.to_ascii_lowercase();
        if self.registered.lock().expect("not poisoned").contains(&key) {
            return Ok(());
        }
        const NAMESPACE: &str = "Microsoft.Insights";
        if arm.provider_registration_state(subscription, NAMESPACE).await?.is_registered() {
            self.registered.lock().expect("not poisoned").insert(key);
            return Ok(());
        }
        if !self.allow_register {
            return Err(SyncError::ProviderNotRegistered(subscription.to_string()));
        }
        let provider = arm.register_provider(subscription, NAMESPACE).await?;
        if provider.registration_state.as_deref() == Some("Registered") {
            self.registered.lock().expect("not poisoned").insert(key);
            return Ok(());
        }
        Err(SyncError::ProviderRegistering(subscription.to_string()))
    }
}

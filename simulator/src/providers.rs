//! Resource-provider registration per subscription: `GET /providers/{namespace}`, `POST .../register` (Registering,
//! then Registered after some reads), and the `Microsoft.Insights` registration that enabling a flow log needs.

use std::collections::BTreeMap;

use axum::http::StatusCode;

use super::inventory::{Inventory, MICROSOFT_INSIGHTS, MICROSOFT_NETWORK};
use super::reply::{ErrorReply, Reply};
use flowlog_wire::model::Provider;

/// Namespaces the simulator knows; others are 404 `InvalidResourceNamespace`.
const KNOWN_NAMESPACES: [&str; 5] = [
    MICROSOFT_NETWORK,
    MICROSOFT_INSIGHTS,
    "Microsoft.Storage",
    "Microsoft.OperationalInsights",
    "Microsoft.ManagedIdentity",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Registration {
    NotRegistered,
    /// Reads that will still answer "Registering".
    Registering(u32),
    Registered,
}

/// (lower-cased subscription, lower-cased namespace) → canonical namespace and state.
pub(super) struct Providers(BTreeMap<(String, String), (String, Registration)>);

impl Providers {
    /// The known namespaces and those the inventory registers, in each subscription of the inventory.
    pub(super) fn new(inventory: &Inventory) -> Providers {
        let mut providers = BTreeMap::new();
        for sub in &inventory.subscriptions {
            for ns in KNOWN_NAMESPACES.iter().copied().chain(sub.registered_providers.iter().map(String::as_str)) {
                let registered = sub.registered_providers.iter().any(|p| p.eq_ignore_ascii_case(ns));
                let state = if registered { Registration::Registered } else { Registration::NotRegistered };
                providers
                    .entry((sub.id.to_ascii_lowercase(), ns.to_ascii_lowercase()))
                    .or_insert((ns.to_string(), state));
            }
        }
        Providers(providers)
    }

    /// A read (`register: false`) or registration of `namespace` in subscription `sub` (which exists, spelled as
    /// the inventory does); a registration completes after `reads` further reads.
    pub(super) fn answer(
        &mut self,
        sub: &str,
        namespace: &str,
        register: bool,
        reads: u32,
    ) -> Result<Reply, ErrorReply> {
        let key = (sub.to_ascii_lowercase(), namespace.to_ascii_lowercase());
        let Some((canonical, state)) = self.0.get_mut(&key) else {
            // Real ARM code; the message as far as known.
            return Err(ErrorReply::new(
                StatusCode::NOT_FOUND,
                "InvalidResourceNamespace",
                format!("The resource namespace '{namespace}' is invalid."),
            ));
        };
        let shown = match (*state, register) {
            (Registration::NotRegistered, true) => {
                *state = Registration::Registering(reads);
                "Registering"
            }
            (Registration::Registering(_), true) => "Registering",
            (Registration::Registering(0), false) => {
                *state = Registration::Registered;
                "Registered"
            }
            (Registration::Registering(n), false) => {
                *state = Registration::Registering(n - 1);
                "Registering"
            }
            (Registration::NotRegistered, false) => "NotRegistered",
            (Registration::Registered, _) => "Registered",
        };
        if register && shown == "Registering" {
            tracing::info!(subscription = %sub, namespace = %canonical, "provider registering");
        }
        Ok(Reply::json(
            StatusCode::OK,
            &Provider {
                id: Some(format!("/subscriptions/{sub}/providers/{canonical}")),
                namespace: canonical.clone(),
                registration_state: Some(shown.into()),
            },
        ))
    }

    /// Enabling a flow log needs Microsoft.Insights in the watcher's subscription.
    pub(super) fn check_insights_registered(&self, subscription: &str) -> Result<(), ErrorReply> {
        let key = (subscription.to_ascii_lowercase(), MICROSOFT_INSIGHTS.to_ascii_lowercase());
        match self.0.get(&key) {
            Some((_, Registration::Registered)) => Ok(()),
            // Assumption: ARM's code and message for an unregistered namespace; Azure's docs only say flow logs fail.
            _ => Err(ErrorReply::new(
                StatusCode::CONFLICT,
                "MissingSubscriptionRegistration",
                format!(
                    "The subscription is not registered to use namespace '{MICROSOFT_INSIGHTS}'. See \
                     https://aka.ms/rps-not-found for how to register subscriptions."
                ),
            )),
        }
    }
}

//! The inventory's `behaviour`: long-running operations, throttling, fault rules active from the start, quirks of
//! real Azure, paging and token lifetimes, with their defaults.

use serde::{Deserialize, Serialize};

use crate::faults::FaultRule;

/// The longest `tokenLifetimeSeconds` an inventory may ask for (one year).
pub(super) const MAX_TOKEN_LIFETIME: u64 = 365 * 86_400;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behaviour {
    pub lro: Lro,
    pub throttling: Throttling,
    /// Fault rules active from the start (the admin API replaces them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
    pub quirks: Quirks,
    /// Items per page of the paged lists: `flowLogs`, NSGs, virtual networks, NICs and subscriptions.
    pub page_size: usize,
    /// Lifetime of issued access tokens (Entra ID and IMDS); 0 issues expired tokens.
    pub token_lifetime_seconds: u64,
    /// After `register`, reads of the provider that still answer `Registering`.
    pub provider_registration_reads: u32,
    /// Token audiences ARM accepts (public cloud by default).
    pub arm_audiences: Vec<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            lro: Lro::default(),
            throttling: Throttling::default(),
            faults: vec![],
            quirks: Quirks::default(),
            page_size: 2,
            token_lifetime_seconds: 3599,
            provider_registration_reads: 2,
            arm_audiences: [
                "https://management.core.windows.net/",
                "https://management.core.windows.net",
                "https://management.azure.com/",
                "https://management.azure.com",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lro {
    #[serde(default)]
    pub mode: LroMode,
    /// The `Retry-After` of the 202s and of the operation URLs while in progress.
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u32,
    /// How long an operation stays `InProgress` after it was accepted, polled or not (wall clock).
    #[serde(default = "default_duration_ms")]
    pub duration_ms: u64,
    /// When set, operations are poll-counted instead: this many polls answer `InProgress` (each poll of either
    /// operation URL, or GET of the flow log, moves one on), and `duration_ms` is ignored. Deterministic, for tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress_polls: Option<u32>,
}

impl Default for Lro {
    fn default() -> Self {
        Lro {
            mode: LroMode::Async,
            retry_after_seconds: default_retry_after(),
            duration_ms: default_duration_ms(),
            in_progress_polls: None,
        }
    }
}

fn default_retry_after() -> u32 {
    1
}

fn default_duration_ms() -> u64 {
    1000
}

/// `async`: long-running actions answer 202 and are polled; `sync`: they answer 200 at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LroMode {
    #[default]
    Async,
    Sync,
}

/// ARM's token buckets per subscription, principal and kind of request; defaults are ARM's published limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Throttling {
    pub enabled: bool,
    pub reads: BucketLimits,
    pub writes: BucketLimits,
    pub deletes: BucketLimits,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            enabled: true,
            reads: BucketLimits { size: 250, refill_per_second: 25.0 },
            writes: BucketLimits { size: 200, refill_per_second: 10.0 },
            deletes: BucketLimits { size: 200, refill_per_second: 10.0 },
        }
    }
}

impl Throttling {
    pub fn validate(&self) -> Result<(), String> {
        for (kind, bucket) in [("reads", self.reads), ("writes", self.writes), ("deletes", self.deletes)] {
            if bucket.size == 0 || !(bucket.refill_per_second.is_finite() && bucket.refill_per_second > 0.0) {
                return Err(format!("throttling.{kind} needs size ≥ 1 and refillPerSecond > 0"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketLimits {
    pub size: u32,
    pub refill_per_second: f64,
}

/// Behaviour of real Azure that a client must cope with; each can be switched off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Quirks {
    /// `targetResourceId`s and flow-log IDs answer with the resource group upper-cased (`NETWORKWATCHERRG`).
    pub upper_case_resource_groups: bool,
    /// A disabled flow log reports `storageId: ""` and `retentionPolicy: {"days":0,"enabled":false}`.
    pub disabled_flow_log_defaults: bool,
    /// A write to a target while another write to it is in flight: 409 `AnotherOperationInProgress`.
    pub another_operation_in_progress: bool,
    /// No new NSG flow logs (400 `NsgFlowLogCreationBlocked`), as since 2025-06-30.
    pub nsg_flow_log_creation_blocked: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            upper_case_resource_groups: true,
            disabled_flow_log_defaults: true,
            another_operation_in_progress: true,
            nsg_flow_log_creation_blocked: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    #[test]
    fn defaults_apply_to_a_minimal_inventory() {
        let inv = Inventory::from_yaml("subscriptions:\n  - id: subid\n    locations: [westus]\n").unwrap();
        assert_eq!(
            inv.behaviour.lro,
            Lro { mode: LroMode::Async, retry_after_seconds: 1, duration_ms: 1000, in_progress_polls: None }
        );
        assert_eq!(inv.behaviour, Behaviour::default());
        assert_eq!(inv.behaviour.throttling.reads, BucketLimits { size: 250, refill_per_second: 25.0 });
        assert_eq!(inv.behaviour.page_size, 2);
        assert!(inv.behaviour.quirks.nsg_flow_log_creation_blocked);
        assert_eq!(inv.subscriptions[0].registered_providers, ["Microsoft.Network", "Microsoft.Insights"]);
        assert!(inv.service_principals.is_empty());
    }

    #[test]
    fn partial_behaviour_keeps_the_other_defaults() {
        let yaml = "behaviour:\n  throttling:\n    reads: { size: 2, refillPerSecond: 0.5 }\n  quirks:\n    upperCaseResourceGroups: false\n";
        let inv = Inventory::from_yaml(yaml).unwrap();
        assert_eq!(inv.behaviour.throttling.reads, BucketLimits { size: 2, refill_per_second: 0.5 });
        assert_eq!(inv.behaviour.throttling.writes, Throttling::default().writes);
        assert!(!inv.behaviour.quirks.upper_case_resource_groups);
        assert!(inv.behaviour.quirks.disabled_flow_log_defaults);
    }
}

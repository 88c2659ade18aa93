//! Network Watcher's rules that need nothing but their input: retention, format and record types of a flow log,
//! the name `configureFlowLog` gives the flow log it creates, and the message of the NSG flow-log creation block.
//! The inventory's checks and the API's both use them.

use flowlog_wire::model::{FlowLogFormatParameters, RetentionPolicyParameters};

/// Azure's message for `NsgFlowLogCreationBlocked` (quoted in Azure/bicep-registry-modules PR #6049).
pub(super) const NSG_FLOW_LOG_CREATION_BLOCKED: &str = "On September 30, 2027, Network Security Group (NSG) flow logs \
will be retired. As part of this retirement, creation of new NSG flow logs is blocked starting June 30, 2025, but you \
will be able to continue using and modifying settings for existing NSG flow logs that are previously \
deployed/configured until Sept 30th 2027. We recommend migrating to virtual network flow logs, which overcome the \
limitations of NSG flow logs. For migration, please refer to \
https://learn.microsoft.com/en-us/azure/network-watcher/nsg-flow-logs-migrate.";

/// The name Azure gives the flow-log resource `configureFlowLog` materialises.
pub(super) fn flow_log_name(resource_group: &str, nsg: &str) -> String {
    format!("Microsoft.Network{resource_group}{nsg}")
}

pub(super) fn retention_problem(retention: &RetentionPolicyParameters) -> Option<String> {
    (!(0..=365).contains(&retention.days))
        .then(|| format!("Retention policy days must be between 0 and 365; got {}.", retention.days))
}

pub(super) fn format_problem(format: &FlowLogFormatParameters) -> Option<String> {
    if let Some(t) = format.format_type.as_deref().filter(|t| !t.eq_ignore_ascii_case("JSON")) {
        return Some(format!("Flow log format type '{t}' is not supported; the only type is 'JSON'."));
    }
    (!matches!(format.version, 1 | 2))
        .then(|| format!("Flow log format version {} is not supported; use 1 or 2.", format.version))
}

pub(super) fn record_types_problem(record_types: &str) -> Option<String> {
    let valid = record_types.split(',').all(|t| matches!(t.trim(), "B" | "C" | "E" | "D"));
    (!valid).then(|| {
        format!("Record types '{record_types}' are not supported; use a comma-separated list of B, C, E and D.")
    })
}

use crate::api::{FlowLogSettings, ObservedFlowLog, ObservedFormat, ObservedRetention};
use crate::azure::id::same_id;
use crate::azure::model::{FlowLogFormatParameters, FlowLogInformation, FlowLogProperties, RetentionPolicyParameters};

/// What has to happen to make Azure match the spec.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Azure already matches: no write.
    InSync,
    /// Send this `configureFlowLog` body to repair `differences`.
    Configure { request: Box<FlowLogInformation>, differences: Vec<Difference> },
}

/// One field where Azure differs from the spec, for status messages and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub field: &'static str,
    pub desired: String,
    pub observed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (Azure) → {} (spec)", self.field, self.observed, self.desired)
    }
}

/// Compares the spec with what `queryFlowLogStatus` returned and decides whether to write.
///
/// Comparison is normalised so that the steady state makes no writes: ARM IDs are compared
/// case-insensitively; a disabled flow log is only checked for being disabled (Azure reports
/// `storageId: ""` and default retention for it); retention that is off is equal whatever its days;
/// fields the spec leaves out are not compared.
pub fn plan(target_resource_id: &str, desired: &FlowLogSettings, observed: &FlowLogInformation) -> Plan {
    let differences = differences(desired, &observed.properties);
    if differences.is_empty() {
        return Plan::InSync;
    }
    Plan::Configure { request: Box::new(request(target_resource_id, desired, observed)), differences }
}

fn differences(desired: &FlowLogSettings, observed: &FlowLogProperties) -> Vec<Difference> {
    let mut out = Vec::new();
    if desired.enabled != observed.enabled {
        out.push(Difference {
            field: "enabled",
            desired: desired.enabled.to_string(),
            observed: observed.enabled.to_string(),
        });
    }
    if !desired.enabled {
        // Everything else of a disabled flow log is Azure's placeholder, not state.
        return out;
    }
    let desired_storage = desired.storage_id.as_deref().unwrap_or_default();
    if !same_id(desired_storage, &observed.storage_id) {
        out.push(Difference {
            field: "storageId",
            desired: desired_storage.to_string(),
            observed: display_or_none(&observed.storage_id),
        });
    }
    let desired_retention = normalise_retention(desired.retention_policy.map(|r| (r.enabled, r.days)));
    let observed_retention = normalise_retention(observed.retention_policy.map(|r| (r.enabled, r.days)));
    if desired_retention != observed_retention {
        out.push(Difference {
            field: "retentionPolicy",
            desired: retention_text(desired_retention),
            observed: retention_text(observed_retention),
        });
    }
    if let Some(format) = &desired.format {
        let observed_format = observed.format.clone().unwrap_or_default();
        let type_matches =
            observed_format.format_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(format.format_type.as_arm()));
        if !type_matches || observed_format.version != format.version {
            out.push(Difference {
                field: "format",
                desired: format!("{} v{}", format.format_type.as_arm(), format.version),
                observed: match observed_format.format_type {
                    Some(t) => format!("{t} v{}", observed_format.version),
                    None => "none".to_string(),
                },
            });
        }
    }
    out
}

/// Retention that is off keeps blobs forever whatever `days` says, so it normalises to `(false, 0)`;
/// an absent policy is Azure's default, also `(false, 0)`.
fn normalise_retention(policy: Option<(bool, i32)>) -> (bool, i32) {
    match policy {
        Some((true, days)) => (true, days),
        _ => (false, 0),
    }
}

fn retention_text((enabled, days): (bool, i32)) -> String {
    if enabled { format!("{days} days") } else { "off".to_string() }
}

fn display_or_none(s: &str) -> String {
    if s.is_empty() { "none".to_string() } else { s.to_string() }
}

/// The `configureFlowLog` body. Settings the spec does not manage (traffic analytics, identity, filters,
/// an unspecified format) are carried over from what Azure has, so a write never silently resets them.
fn request(target_resource_id: &str, desired: &FlowLogSettings, observed: &FlowLogInformation) -> FlowLogInformation {
    let properties = if desired.enabled {
        FlowLogProperties {
            storage_id: desired.storage_id.clone().unwrap_or_default(),
            enabled: true,
            retention_policy: Some(
                desired
                    .retention_policy
                    .map(|r| RetentionPolicyParameters { enabled: r.enabled, days: if r.enabled { r.days } else { 0 } })
                    .unwrap_or_default(),
            ),
            format: match &desired.format {
                Some(f) => Some(FlowLogFormatParameters {
                    format_type: Some(f.format_type.as_arm().to_string()),
                    version: f.version,
                }),
                None => observed.properties.format.clone(),
            },
            ..observed.properties.clone()
        }
    } else {
        // Disabling keeps the rest of the existing configuration; storageId is required by the API.
        FlowLogProperties { enabled: false, ..observed.properties.clone() }
    };
    FlowLogInformation {
        target_resource_id: target_resource_id.to_string(),
        properties,
        flow_analytics_configuration: observed.flow_analytics_configuration.clone(),
        identity: observed.identity.clone(),
    }
}

impl From<&FlowLogInformation> for ObservedFlowLog {
    fn from(info: &FlowLogInformation) -> Self {
        let p = &info.properties;
        ObservedFlowLog {
            enabled: p.enabled,
            storage_id: p.storage_id.clone(),
            retention_policy: p.retention_policy.map(|r| ObservedRetention { enabled: r.enabled, days: r.days }),
            format: p
                .format
                .as_ref()
                .map(|f| ObservedFormat { format_type: f.format_type.clone().unwrap_or_default(), version: f.version }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FlowLogFormat, FormatType, RetentionPolicy};

    const NSG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg";
    const ST: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/st1";

    fn desired(enabled: bool) -> FlowLogSettings {
        FlowLogSettings {
            enabled,
            storage_id: Some(ST.to_string()),
            retention_policy: Some(RetentionPolicy { enabled: true, days: 5 }),
            format: Some(FlowLogFormat { format_type: FormatType::Json, version: 2 }),
        }
    }

    fn observed(
        enabled: bool,
        storage: &str,
        retention: Option<(bool, i32)>,
        format: Option<(&str, i32)>,
    ) -> FlowLogInformation {
        FlowLogInformation {
            target_resource_id: NSG.to_string(),
            properties: FlowLogProperties {
                storage_id: storage.to_string(),
                enabled,
                retention_policy: retention.map(|(enabled, days)| RetentionPolicyParameters { enabled, days }),
                format: format
                    .map(|(t, version)| FlowLogFormatParameters { format_type: Some(t.to_string()), version }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn matching_state_is_in_sync() {
        let obs = observed(true, ST, Some((true, 5)), Some(("JSON", 2)));
        assert_eq!(plan(NSG, &desired(true), &obs), Plan::InSync);
    }

    #[test]
    fn ids_compare_case_insensitively() {
        let obs = observed(true, &ST.to_uppercase(), Some((true, 5)), Some(("json", 2)));
        assert_eq!(plan(NSG, &desired(true), &obs), Plan::InSync);
    }

    #[test]
    fn disabled_log_with_azure_placeholders_is_in_sync() {
        // Azure answers a disabled log with storageId "" and default retention.
        let obs = observed(false, "", Some((false, 0)), None);
        assert_eq!(plan(NSG, &desired(false), &obs), Plan::InSync);
    }

    #[test]
    fn retention_off_ignores_days() {
        let mut want = desired(true);
        want.retention_policy = Some(RetentionPolicy { enabled: false, days: 30 });
        let obs = observed(true, ST, Some((false, 0)), Some(("JSON", 2)));
        assert_eq!(plan(NSG, &want, &obs), Plan::InSync);
        want.retention_policy = None;
        let obs = observed(true, ST, None, Some(("JSON", 2)));
        assert_eq!(plan(NSG, &want, &obs), Plan::InSync);
    }

    #[test]
    fn unspecified_format_is_not_compared_and_is_carried_over() {
        let mut want = desired(true);
        want.format = None;
        let obs = observed(true, ST, Some((true, 1)), Some(("JSON", 1)));
        let Plan::Configure { request, differences } = plan(NSG, &want, &obs) else { panic!("expected a write") };
        assert_eq!(differences.iter().map(|d| d.field).collect::<Vec<_>>(), ["retentionPolicy"]);
        assert_eq!(request.properties.format, obs.properties.format);
    }

    #[test]
    fn every_drifted_field_is_reported_and_repaired() {
        let other = ST.replace("st1", "st2");
        let obs = observed(true, &other, Some((true, 30)), Some(("JSON", 1)));
        let Plan::Configure { request, differences } = plan(NSG, &desired(true), &obs) else {
            panic!("expected a write")
        };
        let fields: Vec<_> = differences.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["storageId", "retentionPolicy", "format"]);
        assert_eq!(request.target_resource_id, NSG);
        assert!(request.properties.enabled);
        assert_eq!(request.properties.storage_id, ST);
        assert_eq!(request.properties.retention_policy, Some(RetentionPolicyParameters { enabled: true, days: 5 }));
        assert_eq!(
            request.properties.format,
            Some(FlowLogFormatParameters { format_type: Some("JSON".into()), version: 2 })
        );
    }

    #[test]
    fn enabling_a_disabled_log_sets_every_field() {
        // Azure's placeholders for a disabled log differ from any enabled spec in every field.
        let obs = observed(false, "", Some((false, 0)), None);
        let Plan::Configure { differences, .. } = plan(NSG, &desired(true), &obs) else { panic!("expected a write") };
        let fields: Vec<_> = differences.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["enabled", "storageId", "retentionPolicy", "format"]);
    }

    #[test]
    fn disabling_keeps_existing_storage_and_unmanaged_settings() {
        let mut obs = observed(true, ST, Some((true, 5)), Some(("JSON", 2)));
        let analytics = serde_json::json!({"networkWatcherFlowAnalyticsConfiguration": {"enabled": true}});
        obs.flow_analytics_configuration = Some(analytics.clone());
        let Plan::Configure { request, differences } = plan(NSG, &desired(false), &obs) else {
            panic!("expected a write")
        };
        assert_eq!(differences.len(), 1);
        assert!(!request.properties.enabled);
        assert_eq!(request.properties.storage_id, ST);
        assert_eq!(request.flow_analytics_configuration, Some(analytics));
    }

    #[test]
    fn applying_the_request_converges() {
        // Whatever Azure holds, the state after applying the planned request is in sync.
        let cases = [
            observed(false, "", None, None),
            observed(true, ST, Some((true, 400)), Some(("JSON", 1))),
            observed(true, "/x", Some((false, 0)), None),
        ];
        for want in [desired(true), desired(false)] {
            for obs in &cases {
                if let Plan::Configure { request, .. } = plan(NSG, &want, obs) {
                    assert_eq!(plan(NSG, &want, &request), Plan::InSync, "{want:?} from {obs:?}");
                }
            }
        }
    }
}

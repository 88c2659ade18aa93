//! The planner's tests: both Azure APIs, normalisation of what Azure answers, and every field compared.
use super::*;
use crate::api::{FlowLogFormat, FlowLogIdentity, FormatType, RetentionPolicy};

const NSG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg";
const VNET: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet";
const ST: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/st1";
const LAW: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/logging-rg/providers/Microsoft.OperationalInsights/workspaces/law";
const UAI: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/id-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/flowlogs";

fn desired(enabled: bool) -> FlowLogSettings {
    FlowLogSettings {
        enabled,
        storage_id: Some(ST.to_string()),
        retention_policy: Some(RetentionPolicy { enabled: true, days: 5 }),
        format: Some(FlowLogFormat { format_type: FormatType::Json, version: 2 }),
        ..Default::default()
    }
}

fn ta(enabled: bool) -> TrafficAnalytics {
    TrafficAnalytics {
        enabled,
        workspace_resource_id: Some(LAW.into()),
        workspace_id: Some("aaaaaaaa-0000-0000-0000-000000000001".into()),
        workspace_region: Some("westeurope".into()),
        interval_minutes: 10,
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
            format: format.map(|(t, version)| FlowLogFormatParameters { format_type: Some(t.to_string()), version }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fields(differences: &[Difference]) -> Vec<&'static str> {
    differences.iter().map(|d| d.field).collect()
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
    assert_eq!(fields(&differences), ["retentionPolicy"]);
    assert_eq!(request.properties.format, obs.properties.format);
}

#[test]
fn every_drifted_field_is_reported_and_repaired() {
    let other = ST.replace("st1", "st2");
    let obs = observed(true, &other, Some((true, 30)), Some(("JSON", 1)));
    let Plan::Configure { request, differences } = plan(NSG, &desired(true), &obs) else { panic!("expected a write") };
    assert_eq!(fields(&differences), ["storageId", "retentionPolicy", "format"]);
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
    assert_eq!(fields(&differences), ["enabled", "storageId", "retentionPolicy", "format"]);
}

#[test]
fn disabling_keeps_existing_storage_and_unmanaged_settings() {
    let mut obs = observed(true, ST, Some((true, 5)), Some(("JSON", 2)));
    let analytics = serde_json::json!({"networkWatcherFlowAnalyticsConfiguration": {"enabled": true}});
    obs.flow_analytics_configuration = Some(analytics.clone());
    let Plan::Configure { request, differences } = plan(NSG, &desired(false), &obs) else { panic!("expected a write") };
    assert_eq!(differences.len(), 1);
    assert!(!request.properties.enabled);
    assert_eq!(request.properties.storage_id, ST);
    assert_eq!(request.flow_analytics_configuration, Some(analytics));
}

#[test]
fn traffic_analytics_is_compared_with_azure_placeholders_in_mind() {
    let mut want = desired(true);
    want.traffic_analytics = Some(ta(false));
    let mut obs = observed(true, ST, Some((true, 5)), Some(("JSON", 2)));
    // Azure's shapes for "never set" and for "disabled".
    for disabled in [
        serde_json::json!({}),
        serde_json::json!({"networkWatcherFlowAnalyticsConfiguration": {"enabled": false, "workspaceId": "-", "workspaceRegion": "-", "trafficAnalyticsInterval": 60}}),
    ] {
        obs.flow_analytics_configuration = Some(disabled);
        assert_eq!(plan(NSG, &want, &obs), Plan::InSync);
    }
    want.traffic_analytics = Some(ta(true));
    let Plan::Configure { request, differences } = plan(NSG, &want, &obs) else { panic!("expected a write") };
    assert_eq!(fields(&differences), ["trafficAnalytics"]);
    // The write, once applied, is in sync, including a region and an ID Azure spells differently.
    let mut applied = (*request).clone();
    let mut config = applied.flow_analytics_configuration.take().unwrap();
    config["networkWatcherFlowAnalyticsConfiguration"]["workspaceRegion"] = "West Europe".into();
    config["networkWatcherFlowAnalyticsConfiguration"]["workspaceResourceId"] = LAW.to_uppercase().into();
    applied.flow_analytics_configuration = Some(config);
    assert_eq!(plan(NSG, &want, &applied), Plan::InSync);
    // Another interval is drift.
    let mut other = want.clone();
    other.traffic_analytics.as_mut().unwrap().interval_minutes = 60;
    assert!(matches!(plan(NSG, &other, &applied), Plan::Configure { .. }));
}

#[test]
fn record_types_filters_and_identity_are_managed_when_given() {
    let mut want = desired(true);
    want.record_types = Some("B,E".into());
    want.enabled_filtering_criteria = Some("dstPort=443".into());
    want.identity = Some(FlowLogIdentity { user_assigned_identity_id: UAI.into() });
    let mut obs = observed(true, ST, Some((true, 5)), Some(("JSON", 2)));
    let Plan::Configure { request, differences } = plan(NSG, &want, &obs) else { panic!("expected a write") };
    assert_eq!(fields(&differences), ["enabledFilteringCriteria", "recordTypes", "identity"]);
    assert_eq!(plan(NSG, &want, &request), Plan::InSync);
    // Same set in another order, identity in other casing, with the IDs Azure fills in.
    obs.properties.record_types = Some("E,B".into());
    obs.properties.enabled_filtering_criteria = Some(" dstPort=443".into());
    obs.identity = Some(
        serde_json::json!({"type": "UserAssigned", "userAssignedIdentities": {UAI.to_lowercase(): {"clientId": "c", "principalId": "p"}}}),
    );
    assert_eq!(plan(NSG, &want, &obs), Plan::InSync);
}

#[test]
fn applying_the_request_converges() {
    // Whatever Azure holds, the state after applying the planned request is in sync.
    let cases = [
        observed(false, "", None, None),
        observed(true, ST, Some((true, 400)), Some(("JSON", 1))),
        observed(true, "/x", Some((false, 0)), None),
    ];
    let mut with_ta = desired(true);
    with_ta.traffic_analytics = Some(ta(true));
    for want in [desired(true), desired(false), with_ta] {
        for obs in &cases {
            if let Plan::Configure { request, .. } = plan(NSG, &want, obs) {
                assert_eq!(plan(NSG, &want, &request), Plan::InSync, "{want:?} from {obs:?}");
            }
        }
    }
}

fn resource(enabled: Option<bool>) -> FlowLog {
    FlowLog {
        id: Some(format!("{VNET}/x")),
        name: Some("existing".into()),
        location: Some("westeurope".into()),
        tags: Some(BTreeMap::from([("team".to_string(), "net".to_string())])),
        properties: FlowLogPropertiesFormat {
            target_resource_id: VNET.into(),
            storage_id: ST.into(),
            enabled,
            retention_policy: Some(RetentionPolicyParameters { enabled: true, days: 5 }),
            format: Some(FlowLogFormatParameters { format_type: Some("JSON".into()), version: 2 }),
            provisioning_state: Some("Succeeded".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn resource_path_creates_only_when_wanted() {
    assert_eq!(plan_resource(VNET, "westeurope", &desired(false), None), ResourcePlan::InSync);
    let ResourcePlan::Put { body, differences } = plan_resource(VNET, "westeurope", &desired(true), None) else {
        panic!("expected a create")
    };
    assert_eq!(fields(&differences), ["flowLog"]);
    assert_eq!(body.location.as_deref(), Some("westeurope"));
    assert_eq!(body.properties.target_resource_id, VNET);
    assert_eq!(body.properties.enabled, Some(true));
    let created = FlowLog { name: Some("n".into()), ..*body };
    assert_eq!(plan_resource(VNET, "westeurope", &desired(true), Some(&created)), ResourcePlan::InSync);
}

#[test]
fn resource_path_adopts_and_keeps_unmanaged_settings() {
    let existing = resource(None); // `enabled` absent means enabled (spec default true)
    assert_eq!(plan_resource(VNET, "westeurope", &desired(true), Some(&existing)), ResourcePlan::InSync);
    let mut want = desired(true);
    want.traffic_analytics = Some(ta(true));
    let ResourcePlan::Put { body, differences } = plan_resource(VNET, "northeurope", &want, Some(&existing)) else {
        panic!("expected a write")
    };
    assert_eq!(fields(&differences), ["trafficAnalytics"]);
    assert_eq!(body.location.as_deref(), Some("westeurope"), "the existing location wins");
    assert_eq!(body.tags, existing.tags, "tags survive the PUT");
    let ResourcePlan::Put { body, .. } = plan_resource(VNET, "westeurope", &desired(false), Some(&existing)) else {
        panic!("expected a write")
    };
    assert_eq!(body.properties.enabled, Some(false));
    assert_eq!(body.properties.storage_id, ST, "storageId is required even when disabling");
}

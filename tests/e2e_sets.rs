//! FlowLogPolicySet against a real kube-apiserver + etcd (started by `tests/run.sh`).

mod common;

use common::*;
use flowlog_operator::api::FlowLogPolicySet;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use serde_json::json;

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn storage(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
}

fn workspace(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.OperationalInsights/workspaces/{name}")
}

/// A set as a compliance team would write it: every VNet of one subscription in two regions, except the exempt.
fn good_set(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicySet",
        "metadata": {"name": name},
        "spec": {
            "selector": {
                "subscriptions": [SUB],
                "kind": "VirtualNetwork",
                "regions": ["westeurope", "northeurope"],
                "excludeTags": {"flowlogs": "exempt"}
            },
            "destinations": [
                {"region": "westeurope", "storageId": storage("flowlogsweu001"),
                 "workspace": {"workspaceResourceId": workspace("flowlogs-law-weu"),
                               "workspaceId": "55555555-5555-5555-5555-555555555551"}},
                {"region": "northeurope", "storageId": storage("flowlogsneu001")}
            ],
            "template": {
                "flowLog": {
                    "enabled": true,
                    "retentionPolicy": {"enabled": true, "days": 90},
                    "format": {"type": "JSON", "version": 2},
                    "trafficAnalytics": {"enabled": true, "intervalMinutes": 10}
                },
                "mode": "Enforce",
                "deletionPolicy": "Disable",
                "interval": "10m"
            }
        }
    })
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn set_manifests_are_validated_by_the_apiserver() {
    let (client, namespace) = cluster("set-invalid").await;
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "no subscriptions",
            json!({"selector": {"subscriptions": null}}),
            "selector needs either subscriptions (a list of subscription IDs) or allSubscriptions: true",
        ),
        (
            "subscriptions and allSubscriptions",
            json!({"selector": {"allSubscriptions": true}}),
            "selector needs either subscriptions (a list of subscription IDs) or allSubscriptions: true",
        ),
        (
            "a subscription that is not an ID",
            json!({"selector": {"subscriptions": ["production"]}}),
            "subscriptions must be subscription IDs (GUIDs)",
        ),
        ("an unknown kind", json!({"selector": {"kind": "Firewall"}}), "spec.selector.kind"),
        (
            "a region that is not a region name",
            json!({"selector": {"regions": ["west_europe!"]}}),
            "regions must be Azure region names",
        ),
        (
            "an exclusion that is not an ARM ID",
            json!({"selector": {"excludeIds": ["vnet-1"]}}),
            "excludeIds must be ARM resource IDs",
        ),
        (
            "no destinations",
            json!({"destinations": []}),
            "destinations must name the storage account of at least one region",
        ),
        (
            "a destination that is not a storage account",
            json!({"destinations": [{"region": "westeurope", "storageId": workspace("flowlogs-law-weu")}]}),
            "storageId must be the ARM ID of a storage account",
        ),
        (
            "two destinations for one region",
            json!({"destinations": [
                {"region": "westeurope", "storageId": storage("flowlogsweu001")},
                {"region": "westeurope", "storageId": storage("flowlogsweu002")}
            ]}),
            "Duplicate value",
        ),
        (
            "a workspace ID that is not a GUID",
            json!({"destinations": [{"region": "westeurope", "storageId": storage("flowlogsweu001"),
                "workspace": {"workspaceResourceId": workspace("flowlogs-law-weu"), "workspaceId": "law"}}]}),
            "workspaceId",
        ),
        (
            "the set's own label in the template",
            json!({"template": {"labels": {"flowlog.dev/set": "other"}}}),
            "labels must not set flowlog.dev/set",
        ),
        (
            "a traffic-analytics interval Azure does not offer",
            json!({"template": {"flowLog": {"trafficAnalytics": {"enabled": true, "intervalMinutes": 15}}}}),
            "spec.template.flowLog.trafficAnalytics.intervalMinutes",
        ),
        (
            "retention over 365 days",
            json!({"template": {"flowLog": {"retentionPolicy": {"enabled": true, "days": 400}}}}),
            "spec.template.flowLog.retentionPolicy.days",
        ),
        (
            "a policy interval that is not a duration",
            json!({"template": {"interval": "often"}}),
            "interval must be a duration",
        ),
        (
            "discovery more often than every minute",
            json!({"discoveryInterval": "30s"}),
            "discoveryInterval must be a duration of at least 1m",
        ),
        ("a prune share over 100 %", json!({"pruning": {"maxPrunePercent": 150}}), "spec.pruning.maxPrunePercent"),
    ];
    let sets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &ApiResource::erase::<FlowLogPolicySet>(&()));
    for (i, (case, spec_patch, expected)) in cases.into_iter().enumerate() {
        let mut manifest = good_set(&format!("bad-{i}"));
        json_merge(&mut manifest["spec"], &spec_patch);
        let object: DynamicObject = serde_json::from_value(manifest).unwrap();
        match sets.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{case}: {status:?}");
                assert!(status.message.contains(expected), "{case}: expected {expected:?} in {:?}", status.message);
            }
            other => panic!("{case}: the apiserver accepted it: {other:?}"),
        }
    }
    // A name too long to be a label value.
    let object: DynamicObject = serde_json::from_value(good_set(&"a".repeat(64))).unwrap();
    match sets.create(&PostParams::default(), &object).await {
        Err(kube::Error::Api(status)) => assert!(status.message.contains("at most 63 characters"), "{status:?}"),
        other => panic!("a 64-character name was accepted: {other:?}"),
    }
    // The unmodified manifest is accepted, with the defaults filled in, and reads back as the typed resource.
    let object: DynamicObject = serde_json::from_value(good_set("good")).unwrap();
    sets.create(&PostParams::default(), &object).await.expect("the valid manifest is accepted");
    let typed: Api<FlowLogPolicySet> = Api::namespaced(client, &namespace);
    let set = typed.get("good").await.unwrap();
    assert_eq!(set.spec.discovery_interval, "10m");
    assert_eq!(set.spec.pruning.max_prune_percent, 50);
    assert_eq!(set.spec.destinations.len(), 2);
}

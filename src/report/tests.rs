//! The report's figures from sets and policies as the apiserver returns them.

use serde_json::{Value, json};

use super::*;

const SUB1: &str = "00000000-0000-0000-0000-000000000001";
const SUB2: &str = "00000000-0000-0000-0000-00000000000B";

fn vnet(sub: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{name}")
}

fn storage(name: &str) -> String {
    format!("/subscriptions/{SUB1}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
}

fn at() -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap()
}

/// A set in `namespace` with destinations (region, storage account) and `status` as JSON.
fn set(namespace: &str, name: &str, destinations: &[(&str, &str)], status: Option<Value>) -> FlowLogPolicySet {
    let destinations: Vec<Value> =
        destinations.iter().map(|(r, s)| json!({"region": r, "storageId": storage(s)})).collect();
    let mut manifest = json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicySet",
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {
            "selector": {"subscriptions": [SUB1], "kind": "VirtualNetwork"},
            "destinations": destinations,
            "template": {"flowLog": {"enabled": true}}
        }
    });
    if let Some(status) = status {
        manifest["status"] = status;
    }
    serde_json::from_value(manifest).unwrap()
}

/// A policy; `set` labels it as generated; `ready` is (status, reason, message), `None`: no status yet.
fn policy(
    namespace: &str,
    name: &str,
    set: Option<&str>,
    target: &str,
    storage_account: &str,
    ready: Option<(&str, &str, &str)>,
) -> FlowLogPolicy {
    let mut manifest = json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicy",
        "metadata": {"name": name, "namespace": namespace, "generation": 2, "labels": {}},
        "spec": {"target": {"resourceId": target}, "flowLog": {"enabled": true, "storageId": storage(storage_account)}}
    });
    if let Some(set) = set {
        manifest["metadata"]["labels"][SET_LABEL] = json!(set);
    }
    if let Some((status, reason, message)) = ready {
        manifest["status"] = json!({
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message,
                            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2}]
        });
    }
    serde_json::from_value(manifest).unwrap()
}

fn not_covered(target: &str, reason: &str, message: &str) -> Value {
    json!({"targetResourceId": target, "reason": reason, "message": message})
}

fn ready_true(reason: &str) -> Option<(&'static str, &str, &'static str)> {
    Some(("True", reason, "fine"))
}

fn region_row<'a>(set: &'a SetCoverage, sub: &str, region: &str) -> &'a RegionCoverage {
    set.regions
        .iter()
        .find(|r| r.subscription == sub && r.region == region)
        .unwrap_or_else(|| panic!("no row {sub}/{region} in {:#?}", set.regions))
}

fn counts(targets: u32, compliant: u32, drifted: u32, applying: u32, failing: u32, not_covered: u32) -> Counts {
    Counts { targets, compliant, drifted, applying, failing, not_covered }
}

#[test]
fn a_set_is_counted_per_subscription_and_region_from_its_policies_and_its_status() {
    let sub2 = SUB2.to_ascii_lowercase();
    let east = vnet(SUB1, "east");
    let shared = vnet(SUB1, "shared");
    let vnets = set(
        "team-a",
        "vnets",
        &[("West Europe", "weu"), ("northeurope", "neu")],
        Some(json!({
            "observedGeneration": 1,
            "targets": 8, "compliant": 2, "drifted": 1, "applying": 1, "failing": 1, "notCovered": 3, "excluded": 4,
            "conditions": [{"type": "Ready", "status": "False", "reason": "NotCompliant", "message": "2 of 8",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "discovery": {"complete": true, "found": 12},
            "nonCompliant": [
                // A target with a policy: its live state counts, not this entry.
                {"targetResourceId": vnet(SUB1, "b"), "policy": "vnets-b", "reason": "Drifted"},
                not_covered(&east, "NoStorageForRegion",
                    "the target is in East US, and spec.destinations names no storage account there (a flow log's \
                     storage account must be in its target's region)"),
                not_covered(&shared, "ManagedElsewhere", "FlowLogPolicy team-a/shared manages this target; the set \
                     leaves it alone"),
            ]
        })),
    );
    let policies = vec![
        policy("team-a", "vnets-a", Some("vnets"), &vnet(SUB1, "a"), "weu", ready_true("InSync")),
        policy("team-a", "vnets-b", Some("vnets"), &vnet(SUB1, "b"), "neu", Some(("False", "Drifted", "retention"))),
        policy("team-a", "vnets-c", Some("vnets"), &vnet(SUB2, "c"), "weu", None),
        policy(
            "team-a",
            "vnets-d",
            Some("vnets"),
            &vnet(SUB1, "d"),
            "weu",
            Some(("False", "AuthorizationFailed", "403 | denied")),
        ),
        policy("team-a", "vnets-e", Some("vnets"), &vnet(SUB1, "e"), "WEU", ready_true("Applied")),
        // The independent policy that manages `shared`, with the set's west-europe storage account.
        policy("team-a", "shared", None, &shared, "weu", ready_true("InSync")),
    ];
    let report = build(&[vnets], &policies, Scope::default(), at());

    assert_eq!(report.generated_at, "2026-01-01T00:00:00Z");
    assert_eq!(report.sets.len(), 2, "{:#?}", report.sets);
    let s = &report.sets[0];
    assert_eq!((s.namespace.as_str(), s.set.as_str(), s.source), ("team-a", "vnets", Source::FlowLogPolicySet));
    assert_eq!(s.counts, counts(8, 2, 1, 1, 1, 3), "5 policies, 2 listed without a policy, 1 unlisted");
    assert_eq!((s.excluded, s.not_covered_unlisted, s.compliant_percent), (4, 1, Some(25.0)));
    assert_eq!(s.ready.as_ref().map(|r| (r.status.as_str(), r.reason.as_str())), Some(("False", "NotCompliant")));
    assert!(s.discovery.as_ref().is_some_and(|d| d.complete && d.found == 12));
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(s.notes[0].contains("3 targets have no policy") && s.notes[0].contains("1 of them"), "{}", s.notes[0]);

    // Regions from the destination whose storage account the policy names (case and spaces aside).
    assert_eq!(region_row(s, SUB1, "westeurope").counts, counts(4, 2, 0, 0, 1, 1), "a, e, d; shared");
    assert_eq!(region_row(s, SUB1, "northeurope").counts, counts(1, 0, 1, 0, 0, 0));
    assert_eq!(region_row(s, &sub2, "westeurope").counts, counts(1, 0, 0, 1, 0, 0), "no status yet: applying");
    assert_eq!(region_row(s, SUB1, "eastus").counts, counts(1, 0, 0, 0, 0, 1), "the region its message names");
    let places: Vec<(&str, &str)> = s.regions.iter().map(|r| (r.subscription.as_str(), r.region.as_str())).collect();
    assert_eq!(
        places,
        [(SUB1, "eastus"), (SUB1, "northeurope"), (SUB1, "westeurope"), (sub2.as_str(), "westeurope")],
        "ordered by subscription and region"
    );
    let listed: u32 = s.regions.iter().map(|r| r.counts.targets).sum();
    assert_eq!(listed + s.not_covered_unlisted, s.counts.targets, "the rows add up to the set");

    // The independent policy is the namespace's pseudo-set, after the sets.
    let p = &report.sets[1];
    assert_eq!((p.set.as_str(), p.source, p.counts), (POLICIES, Source::FlowLogPolicy, counts(1, 1, 0, 0, 0, 0)));
    assert_eq!((p.excluded, p.ready.is_none(), p.notes.is_empty()), (0, true, true));
    assert_eq!(region_row(p, SUB1, "westeurope").counts.compliant, 1);

    assert_eq!(report.summary.sets, 2);
    assert_eq!(report.summary.counts, counts(9, 3, 1, 1, 1, 3));
    assert_eq!((report.summary.excluded, report.summary.compliant_percent), (4, Some(33.3)));
    assert!(!report.all_compliant());

    // Every non-compliant target, ordered by target ID within the set, with what a ticket needs.
    let listed: Vec<(&str, &str, State, &str, Option<&str>)> = report
        .non_compliant
        .iter()
        .map(|t| (t.target_resource_id.as_str(), t.region.as_str(), t.state, t.reason.as_str(), t.policy.as_deref()))
        .collect();
    let (b, c, d) = (vnet(SUB1, "b"), vnet(SUB2, "c"), vnet(SUB1, "d"));
    assert_eq!(
        listed,
        [
            (b.as_str(), "northeurope", State::Drifted, "Drifted", Some("vnets-b")),
            (d.as_str(), "westeurope", State::Failing, "AuthorizationFailed", Some("vnets-d")),
            (east.as_str(), "eastus", State::NotCovered, "NoStorageForRegion", None),
            (shared.as_str(), "westeurope", State::NotCovered, "ManagedElsewhere", None),
            (c.as_str(), "westeurope", State::Applying, "Applying", Some("vnets-c")),
        ]
    );
    let d_row = &report.non_compliant[1];
    assert_eq!((d_row.set.as_str(), d_row.namespace.as_str()), ("vnets", "team-a"));
    assert_eq!((d_row.subscription.as_str(), d_row.message.as_str()), (SUB1, "403 | denied"));
    assert_eq!(report.non_compliant[4].subscription, sub2, "subscriptions are lower-cased");
}

#[test]
fn a_policys_region_comes_from_a_destination_else_its_watchers_name_else_it_is_unknown() {
    // Another set's destination names the storage account: that is its region.
    let other = set("team-b", "nics", &[("northeurope", "neu")], None);
    let mut by_status = policy("team-a", "by-status", None, &vnet(SUB1, "s"), "elsewhere", ready_true("InSync"));
    by_status.status.as_mut().unwrap().network_watcher_id = Some(format!(
        "/subscriptions/{SUB1}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_WestUS2"
    ));
    let mut by_spec = policy("team-a", "by-spec", None, &vnet(SUB1, "p"), "elsewhere", None);
    by_spec.spec.network_watcher = Some(crate::api::NetworkWatcherRef {
        resource_group: "NetworkWatcherRG".into(),
        name: "networkwatcher_eastus".into(),
    });
    let mut custom = policy("team-a", "custom", None, &vnet(SUB1, "q"), "elsewhere", None);
    custom.spec.network_watcher =
        Some(crate::api::NetworkWatcherRef { resource_group: "net".into(), name: "hub-watcher".into() });
    let policies = vec![
        policy("team-a", "by-storage", None, &vnet(SUB1, "r"), "neu", Some(("False", "Drifted", ""))),
        by_status,
        by_spec,
        custom,
        policy("team-a", "nothing", None, &vnet(SUB1, "z"), "elsewhere", None),
    ];
    let report = build(&[other], &policies, Scope::default(), at());
    let region = |name: &str| {
        let row = report.non_compliant.iter().find(|t| t.policy.as_deref() == Some(name));
        row.map(|t| t.region.clone()).unwrap_or_else(|| {
            let ps = report.sets.iter().find(|s| s.set == POLICIES).unwrap();
            assert_eq!(name, "by-status");
            ps.regions.iter().find(|r| r.counts.compliant == 1).unwrap().region.clone()
        })
    };
    assert_eq!(region("by-storage"), "northeurope");
    assert_eq!(region("by-status"), "westus2");
    assert_eq!(region("by-spec"), "eastus");
    assert_eq!(region("custom"), "", "a watcher named otherwise says nothing");
    assert_eq!(region("nothing"), "");
    let ps = report.sets.iter().find(|s| s.set == POLICIES).unwrap();
    assert_eq!(ps.regions.last().map(|r| r.region.as_str()), Some(""), "unknown regions last");
    assert_eq!(ps.regions.last().map(|r| r.counts.targets), Some(2));
}

#[test]
fn without_status_deleting_or_orphaned_policies_and_one_set_only() {
    let fresh = set("team-a", "fresh", &[("westeurope", "weu")], None);
    let mut deleting = policy("team-a", "fresh-x", Some("fresh"), &vnet(SUB1, "x"), "weu", ready_true("InSync"));
    deleting.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at()));
    let policies = vec![
        policy("team-a", "fresh-a", Some("fresh"), &vnet(SUB1, "a"), "weu", ready_true("InSync")),
        deleting,
        // Labelled for a set that is not there (the set was deleted, the policy orphaned): independent now.
        policy("team-a", "gone-b", Some("gone"), &vnet(SUB1, "b"), "weu", ready_true("InSync")),
        // Same set name, other namespace: not this set's.
        policy("team-b", "fresh-c", Some("fresh"), &vnet(SUB1, "c"), "weu", ready_true("InSync")),
    ];
    let report = build(std::slice::from_ref(&fresh), &policies, Scope::default(), at());
    let names: Vec<(&str, &str, u32)> =
        report.sets.iter().map(|s| (s.namespace.as_str(), s.set.as_str(), s.counts.targets)).collect();
    assert_eq!(names, [("team-a", "fresh", 1), ("team-a", POLICIES, 1), ("team-b", POLICIES, 1)]);
    assert!(report.sets[0].notes[0].contains("no status"), "{:?}", report.sets[0].notes);
    assert!(report.all_compliant());
    assert_eq!(report.summary.compliant_percent, Some(100.0));

    // One set: no pseudo-set.
    let scope = Scope { namespace: Some("team-a".into()), set: Some("fresh".into()) };
    let report = build(&[fresh], &policies[..2], scope.clone(), at());
    assert_eq!(report.sets.len(), 1);
    assert_eq!(report.scope, scope);
}

#[test]
fn notes_say_when_the_sets_figures_are_not_the_latest() {
    let mut s = set(
        "team-a",
        "vnets",
        &[("westeurope", "weu")],
        Some(json!({
            "observedGeneration": 1,
            "discovery": {"complete": false, "found": 3, "error": "403 AuthorizationFailed"},
            "pruneBlocked": {"wouldPrune": 8, "policies": 9, "confirmWith": "prune-8-abc"}
        })),
    );
    s.metadata.generation = Some(2);
    let report = build(&[s], &[], Scope::default(), at());
    let notes = report.sets[0].notes.join("\n");
    for expected in ["generation 1", "now at 2", "403 AuthorizationFailed", "flowlog.dev/confirm-prune=prune-8-abc"] {
        assert!(notes.contains(expected), "missing {expected:?} in {notes}");
    }
    assert_eq!(report.sets[0].compliant_percent, None, "no targets, no percentage");
    assert!(report.all_compliant(), "no targets: nothing is non-compliant");
}

#[test]
fn sets_and_targets_are_ordered_by_namespace_then_name() {
    let sets = vec![set("b", "zeta", &[], None), set("b", "alpha", &[], None), set("a", "zeta", &[], None)];
    let policies = vec![
        policy("b", "p2", None, &vnet(SUB1, "B"), "weu", None),
        policy("b", "p1", None, &vnet(SUB1, "a"), "weu", None),
        policy("b", "alpha-1", Some("alpha"), &vnet(SUB1, "c"), "weu", None),
        policy("a", "p0", None, &vnet(SUB1, "z"), "weu", None),
    ];
    let report = build(&sets, &policies, Scope::default(), at());
    let order: Vec<String> = report.sets.iter().map(|s| format!("{}/{}", s.namespace, s.set)).collect();
    assert_eq!(order, ["a/zeta", "a/(policies)", "b/alpha", "b/zeta", "b/(policies)"]);
    let order: Vec<String> =
        report.non_compliant.iter().map(|t| format!("{}/{}", t.namespace, t.policy.clone().unwrap())).collect();
    assert_eq!(order, ["a/p0", "b/alpha-1", "b/p1", "b/p2"], "IDs compare without case: .../a before .../B");
}

#[test]
fn percentages_round_down_so_that_100_means_all() {
    let c = |compliant, targets| Counts { targets, compliant, ..Default::default() }.compliant_percent();
    assert_eq!(c(2, 3), Some(66.6));
    assert_eq!(c(999, 1000), Some(99.9));
    assert_eq!(c(9999, 10000), Some(99.9));
    assert_eq!(c(5, 5), Some(100.0));
    assert_eq!(c(0, 0), None);
}

#[test]
fn with_one_set_the_other_policies_only_lend_their_region() {
    let shared = vnet(SUB1, "shared");
    let vnets = set(
        "team-a",
        "vnets",
        &[("westeurope", "weu")],
        Some(json!({
            "notCovered": 1,
            "nonCompliant": [not_covered(&shared, "ManagedElsewhere", "FlowLogPolicy team-a/shared manages this target")]
        })),
    );
    let mut independent = policy("team-a", "shared", None, &shared, "unnamed", Some(("False", "Throttled", "")));
    independent.spec.network_watcher = Some(crate::api::NetworkWatcherRef {
        resource_group: "NetworkWatcherRG".into(),
        name: "NetworkWatcher_uksouth".into(),
    });
    let scope = Scope { namespace: Some("team-a".into()), set: Some("vnets".into()) };
    let report = build(&[vnets], &[independent], scope, at());
    assert_eq!(report.sets.len(), 1, "no (policies) row");
    assert_eq!(report.sets[0].counts, counts(1, 0, 0, 0, 0, 1));
    let listed: Vec<(&str, &str, State)> =
        report.non_compliant.iter().map(|t| (t.target_resource_id.as_str(), t.region.as_str(), t.state)).collect();
    assert_eq!(
        listed,
        [(shared.as_str(), "uksouth", State::NotCovered)],
        "the failing independent policy is not listed"
    );
}

//! The validator on each schema constraint and each CEL rule of the generated CRDs; the messages are the ones a
//! real apiserver gave (tests/e2e_validate.rs checks them against one on the whole corpus).

use serde_json::{Value, json};

use super::stream::validate_stream;
use super::*;

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn storage() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs1")
}

fn policy() -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": "FlowLogPolicy", "metadata": {"name": "web", "namespace": "team"},
        "spec": {
            "target": {"resourceId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet")},
            "flowLog": {"enabled": true, "storageId": storage()}
        }
    })
}

fn set() -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": "FlowLogPolicySet", "metadata": {"name": "all"},
        "spec": {
            "selector": {"kind": "VirtualNetwork", "subscriptions": [SUB]},
            "destinations": [{"region": "westeurope", "storageId": storage()}],
            "template": {"flowLog": {"enabled": true}}
        }
    })
}

/// `manifest` with the JSON value at `pointer` replaced (or removed, for `None`).
fn with(mut manifest: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let parent = manifest.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(v) => _ = parent.insert(last.to_string(), v),
        None => _ = parent.remove(last),
    }
    manifest
}

/// The errors as the apiserver's causes list them: `field: message`.
fn errors(manifest: &Value) -> Vec<String> {
    validate(manifest).errors().iter().map(ToString::to_string).collect()
}

const BLOCKED: &str = "<nil>: Invalid value: null: some validation rules were not checked because the object was \
                       invalid; correct the existing errors to complete validation";

#[test]
fn good_manifests_are_accepted_with_their_defaults() {
    let Verdict::Accepted(p) = validate(&policy()) else { panic!("{:?}", errors(&policy())) };
    assert_eq!(p["spec"]["interval"], "10m");
    assert_eq!(p["spec"]["mode"], "Enforce");
    assert_eq!(p["spec"]["deletionPolicy"], "Disable");
    let Verdict::Accepted(s) = validate(&set()) else { panic!("{:?}", errors(&set())) };
    assert_eq!(s["spec"]["pruning"], json!({"maxPrunePercent": 50}));
    assert_eq!(s["spec"]["selector"]["allSubscriptions"], false);
    assert_eq!(s["spec"]["template"]["mode"], "Enforce");
}

#[test]
fn nested_defaults_and_nulls() {
    let p = with(policy(), "/spec/flowLog/trafficAnalytics", Some(json!({"enabled": false})));
    let p = with(p, "/spec/mode", Some(Value::Null));
    let Verdict::Accepted(p) = validate(&p) else { panic!() };
    assert_eq!(p["spec"]["flowLog"]["trafficAnalytics"]["intervalMinutes"], 60);
    assert_eq!(p["spec"]["mode"], "Enforce", "a non-nullable null gets the default");
    // A non-nullable null without a default is pruned: the field is then missing.
    let p = with(policy(), "/spec/target/resourceId", Some(Value::Null));
    assert_eq!(errors(&p), ["spec.target.resourceId: Required value", BLOCKED]);
}

#[test]
fn unknown_fields_are_reported_alone() {
    let p = with(policy(), "/spec/bogus", Some(json!(1)));
    let p = with(p, "/metadata/foo", Some(json!(1)));
    let p = with(p, "/spec/interval", Some(json!("0s")));
    assert_eq!(
        errors(&p),
        [r#"metadata.foo: unknown field "metadata.foo""#, r#"spec.bogus: unknown field "spec.bogus""#]
    );
    let s = with(set(), "/spec/destinations", Some(json!([{"region": "x", "storageId": storage(), "extra": 1}])));
    assert_eq!(errors(&s), [r#"spec.destinations[0].extra: unknown field "spec.destinations[0].extra""#]);
    // Labels are a map: any key is known.
    let s = with(set(), "/spec/template/labels", Some(json!({"anything": "x"})));
    assert!(errors(&s).is_empty());
}

#[test]
fn schema_constraints() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            with(policy(), "/spec/deletionPolicy", Some(json!("Nope"))),
            vec![
                r#"spec.deletionPolicy: Unsupported value: "Nope": supported values: "Disable", "Orphan", "Delete""#,
                BLOCKED,
            ],
        ),
        (
            with(policy(), "/spec/flowLog/recordTypes", Some(json!("X"))),
            vec![
                r#"spec.flowLog.recordTypes: Invalid value: "X": spec.flowLog.recordTypes in body should match '^[BCED](,[BCED]){0,3}$'"#,
            ],
        ),
        (
            with(policy(), "/spec/flowLog/retentionPolicy", Some(json!({"enabled": true, "days": 400}))),
            vec![
                "spec.flowLog.retentionPolicy.days: Invalid value: 400: spec.flowLog.retentionPolicy.days in body should be less than or equal to 365",
            ],
        ),
        (
            with(policy(), "/spec/flowLog/format", Some(json!({"version": 0}))),
            vec![
                "spec.flowLog.format.version: Invalid value: 0: spec.flowLog.format.version in body should be greater than or equal to 1",
            ],
        ),
        (
            with(policy(), "/spec/flowLog/trafficAnalytics", Some(json!({"enabled": false, "intervalMinutes": 30}))),
            vec![
                r#"spec.flowLog.trafficAnalytics.intervalMinutes: Unsupported value: 30: supported values: "10", "60""#,
                BLOCKED,
            ],
        ),
        (
            with(policy(), "/spec/credentialsRef", Some(json!({"name": ""}))),
            vec![
                r#"spec.credentialsRef.name: Invalid value: "": spec.credentialsRef.name in body should be at least 1 chars long"#,
            ],
        ),
        (
            with(policy(), "/spec/flowLog/enabledFilteringCriteria", Some(json!("y".repeat(1025)))),
            vec!["spec.flowLog.enabledFilteringCriteria: Too long: may not be more than 1024 bytes", BLOCKED],
        ),
        (
            with(policy(), "/spec/flowLog/enabled", Some(json!("yes"))),
            vec![
                r#"spec.flowLog.enabled: Invalid value: "string": spec.flowLog.enabled in body must be of type boolean: "string""#,
                BLOCKED,
            ],
        ),
        (with(policy(), "/spec/flowLog", None), vec!["spec.flowLog: Required value", BLOCKED]),
        (
            with(
                set(),
                "/spec/selector/matchTags",
                Some(Value::Object((0..51).map(|i| (format!("k{i}"), json!("v"))).collect())),
            ),
            vec!["spec.selector.matchTags: Too many: 51: must have at most 50 items", BLOCKED],
        ),
        (
            with(
                set(),
                "/spec/destinations",
                Some(
                    json!([{"region": "westeurope", "storageId": storage()}, {"region": "westeurope", "storageId": storage()}]),
                ),
            ),
            vec![r#"spec.destinations[1]: Duplicate value: {"region":"westeurope"}"#],
        ),
    ];
    for (manifest, expected) in cases {
        assert_eq!(errors(&manifest), expected, "{manifest}");
    }
}

#[test]
fn metadata_name() {
    let p = with(policy(), "/metadata/name", Some(json!("Bad_Name")));
    assert_eq!(errors(&p).len(), 1);
    assert!(errors(&p)[0].starts_with(r#"metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#));
    let p = with(policy(), "/metadata/name", None);
    assert_eq!(errors(&p), ["metadata.name: Required value: name or generateName is required", BLOCKED]);
}

#[test]
fn every_cel_rule_of_the_policy() {
    let ws =
        format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law-weu");
    let cases: Vec<(Value, &str)> = vec![
        (
            with(policy(), "/spec/interval", Some(json!("0s"))),
            r#"spec.interval: Invalid value: "0s": interval must be a duration of at least 1s, such as 30s, 10m or 1h"#,
        ),
        (
            with(policy(), "/spec/interval", Some(json!("10 minutes"))),
            r#"spec.interval: Invalid value: "10 minutes": interval must be a duration of at least 1s, such as 30s, 10m or 1h"#,
        ),
        (
            with(policy(), "/spec/flowLog/storageId", None),
            "spec.flowLog: Invalid value: storageId is required when enabled is true",
        ),
        (
            with(policy(), "/spec/flowLog/storageId", Some(Value::Null)),
            "spec.flowLog: Invalid value: storageId is required when enabled is true",
        ),
        (
            with(policy(), "/spec/flowLog/storageId", Some(json!("/x"))),
            r#"spec.flowLog.storageId: Invalid value: "/x": storageId must be the ARM ID of a storage account: /subscriptions/<subscription GUID>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<3-24 lower-case letters and digits>"#,
        ),
        (
            with(policy(), "/spec/target/resourceId", Some(json!("/x"))),
            r#"spec.target.resourceId: Invalid value: "/x": resourceId must be the ARM ID of a network security group, virtual network, subnet or network interface: /subscriptions/<subscription GUID>/resourceGroups/<rg>/providers/Microsoft.Network/(networkSecurityGroups/<name>|virtualNetworks/<name>[/subnets/<name>]|networkInterfaces/<name>)"#,
        ),
        (
            with(policy(), "/spec/flowLog/identity", Some(json!({"userAssignedIdentityId": "x"}))),
            r#"spec.flowLog.identity.userAssignedIdentityId: Invalid value: "x": userAssignedIdentityId must be the ARM ID of a user-assigned managed identity"#,
        ),
        (
            with(
                policy(),
                "/spec/flowLog/trafficAnalytics",
                Some(json!({"enabled": true, "workspaceResourceId": ws, "workspaceId": SUB})),
            ),
            "spec.flowLog.trafficAnalytics: Invalid value: traffic analytics needs workspaceResourceId, workspaceId and workspaceRegion when enabled",
        ),
        (
            with(
                policy(),
                "/spec/flowLog/trafficAnalytics",
                Some(json!({"enabled": false, "workspaceResourceId": "/y"})),
            ),
            r#"spec.flowLog.trafficAnalytics.workspaceResourceId: Invalid value: "/y": workspaceResourceId must be the ARM ID of a Log Analytics workspace"#,
        ),
    ];
    for (manifest, expected) in cases {
        assert_eq!(errors(&manifest), [expected], "{manifest}");
    }
    // Upper-case hex and resource types match through `(?i)`; a NIC and a subnet are targets too.
    let upper = format!(
        "/SUBSCRIPTIONS/{}/resourceGroups/rg/providers/microsoft.network/virtualNetworks/hub/subnets/s",
        SUB.to_uppercase()
    );
    assert!(errors(&with(policy(), "/spec/target/resourceId", Some(json!(upper)))).is_empty());
    for good in ["1s", "1.5h", "1h30m", "500ms500ms"] {
        assert!(errors(&with(policy(), "/spec/interval", Some(json!(good)))).is_empty(), "{good}");
    }
    assert!(!errors(&with(policy(), "/spec/interval", Some(json!("999ms")))).is_empty());
    // The transition rule (target immutable) does not apply to a create.
    assert!(Kind::Policy.schema().to_string().contains("oldSelf"));
}

#[test]
fn every_cel_rule_of_the_set() {
    let cases: Vec<(Value, &str)> = vec![
        (
            with(set(), "/metadata/name", Some(json!("a".repeat(64)))),
            "<nil>: Invalid value: a FlowLogPolicySet's name has at most 63 characters: it is the value of its policies' flowlog.dev/set label",
        ),
        (
            with(set(), "/spec/destinations", Some(json!([]))),
            "spec: Invalid value: destinations must name the storage account of at least one region",
        ),
        (
            with(set(), "/spec/selector/regions", Some(json!(["west-europe"]))),
            "spec.selector.regions: Invalid value: regions must be Azure region names, such as westeurope",
        ),
        (
            with(set(), "/spec/selector/subscriptions", Some(json!(["y"]))),
            "spec.selector.subscriptions: Invalid value: subscriptions must be subscription IDs (GUIDs)",
        ),
        (
            with(set(), "/spec/selector/excludeIds", Some(json!(["x"]))),
            "spec.selector.excludeIds: Invalid value: excludeIds must be ARM resource IDs (/subscriptions/...)",
        ),
        (
            with(set(), "/spec/selector/allSubscriptions", Some(json!(true))),
            "spec.selector: Invalid value: selector needs either subscriptions (a list of subscription IDs) or allSubscriptions: true, not both",
        ),
        (
            with(set(), "/spec/selector/subscriptions", None),
            "spec.selector: Invalid value: selector needs either subscriptions (a list of subscription IDs) or allSubscriptions: true, not both",
        ),
        (
            with(set(), "/spec/template/labels", Some(json!({"flowlog.dev/set": "x"}))),
            "spec.template.labels: Invalid value: labels must not set flowlog.dev/set: the operator sets it to the set's name",
        ),
        (
            with(set(), "/spec/discoveryInterval", Some(json!("30s"))),
            r#"spec.discoveryInterval: Invalid value: "30s": discoveryInterval must be a duration of at least 1m, such as 10m or 1h"#,
        ),
        (
            with(set(), "/spec/template/interval", Some(json!("0.5s"))),
            r#"spec.template.interval: Invalid value: "0.5s": interval must be a duration of at least 1s, such as 30s, 10m or 1h"#,
        ),
    ];
    for (manifest, expected) in cases {
        assert_eq!(errors(&manifest), [expected], "{manifest}");
    }
}

#[test]
fn a_stream_gives_each_document_its_verdict_and_never_panics() {
    let good = serde_saphyr::to_string(&policy()).unwrap();
    let bad = serde_saphyr::to_string(&with(policy(), "/spec/interval", Some(json!("0s")))).unwrap();
    let text = format!("# comment\n---\n{good}---\n{bad}---\nkind: [unclosed\n---\n- a list\n---\n\n");
    let docs = validate_stream("in.yaml", &text);
    assert_eq!(docs.len(), 4);
    assert!(docs[0].accepted());
    assert_eq!(docs[0].to_string(), "in.yaml#0 FlowLogPolicy team/web: accepted");
    assert!(
        docs[1].to_string().starts_with("in.yaml#1 FlowLogPolicy team/web: rejected\n  spec.interval: Invalid value")
    );
    assert!(docs[2].verdict.is_err() && docs[2].to_string().contains("not a manifest"));
    assert_eq!(docs[3].verdict, Err("a manifest must be a YAML mapping".to_string()));
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_eq!(errors(&other), [r#"kind: Invalid value: "ConfigMap": kind must be FlowLogPolicy or FlowLogPolicySet"#]);
}

#[test]
fn wrong_types_enums_maps_and_metadata_decoding() {
    let p = with(policy(), "/spec/deletionPolicy", Some(json!(5)));
    assert_eq!(
        errors(&p),
        [
            r#"spec.deletionPolicy: Invalid value: "integer": spec.deletionPolicy in body must be of type string: "integer""#,
            r#"spec.deletionPolicy: Unsupported value: 5: supported values: "Disable", "Orphan", "Delete""#,
            BLOCKED
        ]
    );
    let s = with(set(), "/spec/selector/excludeTags", Some(json!({"flowlogs": false})));
    assert_eq!(
        errors(&s),
        [
            r#"spec.selector.excludeTags.flowlogs: Invalid value: "boolean": spec.selector.excludeTags.flowlogs in body must be of type string: "boolean""#,
            BLOCKED
        ]
    );
    let p = with(policy(), "/metadata/labels", Some(json!({"a": 1})));
    let p = with(p, "/spec/bogus", Some(json!(1)));
    assert_eq!(
        errors(&p),
        ["metadata.labels: json: cannot unmarshal number into Go struct field ObjectMeta.labels of type string"]
    );
}

#[test]
fn folders_are_read_recursively_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let good = serde_saphyr::to_string(&policy()).unwrap();
    std::fs::write(dir.path().join("b.yaml"), format!("{good}---\n{good}")).unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/set.yml"), serde_saphyr::to_string(&set()).unwrap()).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let docs = super::stream::validate_paths(&[dir.path().to_path_buf()]).unwrap();
    let seen: Vec<(String, usize, bool)> = docs
        .iter()
        .map(|d| (d.source.strip_prefix(&*dir.path().to_string_lossy()).unwrap().to_string(), d.index, d.accepted()))
        .collect();
    assert_eq!(seen, [("/a/set.yml".into(), 0, true), ("/b.yaml".into(), 0, true), ("/b.yaml".into(), 1, true)]);
    let missing = super::stream::validate_paths(&[dir.path().join("nope.yaml")]).unwrap_err();
    assert!(missing.to_string().contains("nope.yaml"), "{missing}");
}

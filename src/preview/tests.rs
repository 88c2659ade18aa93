use super::format::{Format, render};
use super::intents::{collect, compare, hand_over_warnings};
use super::*;
use crate::api::{FlowLogPolicySpec, ObservedFlowLog};
use crate::validate::stream::validate_stream;

const NSG: &str = "/subscriptions/6f1c2b3a-0000-4000-8000-00000000000a/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg";
const VNET: &str = "/subscriptions/6f1c2b3a-0000-4000-8000-00000000000a/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/app-vnet";
const STORAGE: &str = "/subscriptions/6f1c2b3a-0000-4000-8000-00000000000a/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs";

fn spec(target: &str, extra: &str) -> FlowLogPolicySpec {
    let yaml = format!(
        "target: {{resourceId: {target}}}\nflowLog: {{enabled: true, storageId: {STORAGE}, retentionPolicy: {{enabled: true, days: 30}}}}\n{extra}"
    );
    serde_saphyr::from_str(&yaml).expect("a valid spec")
}

fn difference(field: &'static str, observed: &str, desired: &str) -> Difference {
    Difference { field, desired: desired.into(), observed: observed.into() }
}

fn found(differences: Option<Vec<Difference>>, exists: bool, nsg: bool) -> Read {
    let found = Found { differences, observed: ObservedFlowLog::default(), unconfirmed: nsg };
    Read::Found { found, exists, nsg, region: None }
}

fn retention() -> Option<Vec<Difference>> {
    Some(vec![difference("retentionPolicy", "7 days", "30 days")])
}

#[test]
fn each_finding_becomes_its_change() {
    let on = spec(VNET, "").flow_log;
    let off = FlowLogSettings { enabled: false, ..on.clone() };
    let enforce = Mode::Enforce;
    assert!(matches!(change(enforce, &on, found(None, true, false), None), Change::Unchanged { .. }));
    let update = change(enforce, &on, found(retention(), true, true), None);
    assert_eq!(update.action(), "update");
    assert_eq!(
        update.differences(),
        [Field { field: "retentionPolicy".into(), before: "7 days".into(), after: "30 days".into() }]
    );
    let disable = change(enforce, &off, found(Some(vec![difference("enabled", "true", "false")]), true, false), None);
    assert_eq!(disable.action(), "disable");
    // A new VNet flow log lists the settings it is created with.
    let create = change(enforce, &on, found(Some(vec![difference("flowLog", "none", "present")]), false, false), None);
    let fields: Vec<&str> = create.differences().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(create.action(), "create");
    assert_eq!(fields, ["flowLog", "storageId", "retentionPolicy"]);
    assert_eq!(create.differences()[2].after, "30 days");
    // Audit mode reports and never writes.
    let drift = change(Mode::Audit, &on, found(retention(), true, false), None);
    assert_eq!((drift.action(), drift.writes()), ("drift", false));
    let failed = Read::Failed { code: "NoNetworkWatcher".into(), message: "none in westeurope".into() };
    assert_eq!(change(enforce, &on, failed, None).action(), "failed");
}

#[test]
fn a_new_nsg_flow_log_is_refused_with_advice_and_switching_one_off_that_is_not_there_is_not() {
    let on = spec(NSG, "").flow_log;
    let refused = change(
        Mode::Enforce,
        &on,
        found(Some(vec![difference("enabled", "false", "true")]), false, true),
        Some("Use the subnet s1."),
    );
    let Change::Refused { code, message } = &refused else { panic!("refused expected, got {refused:?}") };
    assert_eq!(code, CREATION_BLOCKED);
    assert!(message.contains("2025-06-30") && message.ends_with("Use the subnet s1."), "{message}");
    assert!(refused.is_problem() && !refused.writes());
    // An NSG flow log that exists may be changed.
    let update = change(Mode::Enforce, &on, found(retention(), true, true), None);
    assert_eq!(update.action(), "update");
    assert!(!needs_creation(true, false, &FlowLogSettings { enabled: false, ..on.clone() }));
    assert!(needs_creation(true, false, &on) && !needs_creation(false, false, &on) && !needs_creation(true, true, &on));
}

#[test]
fn a_removed_policy_carries_out_its_deletion_policy_only_when_it_kept_its_target() {
    let off_differs = || found(Some(vec![difference("enabled", "true", "false")]), true, false);
    let disable = spec(VNET, "");
    assert_eq!(removal(&disable, true, off_differs()).action(), "disable");
    assert_eq!(removal(&disable, true, found(None, true, false)).action(), "unchanged", "already off");
    assert_eq!(removal(&disable, false, off_differs()).action(), "orphan", "a policy in conflict never wrote");
    assert_eq!(removal(&spec(VNET, "mode: Audit"), true, off_differs()).action(), "orphan");
    assert_eq!(removal(&spec(VNET, "deletionPolicy: Orphan"), true, off_differs()).action(), "orphan");
    let delete = spec(VNET, "deletionPolicy: Delete");
    assert_eq!(removal(&delete, true, found(None, true, false)).action(), "delete");
    assert_eq!(removal(&delete, true, found(None, false, false)).action(), "unchanged", "nothing to delete");
    assert!(!switched_off(&delete).enabled);
}

#[test]
fn a_storage_account_elsewhere_or_gone_is_refused_as_azure_would() {
    let on = spec(VNET, "").flow_log;
    let elsewhere = storage_refusal(&on, &StorageSeen::In("northeurope".into()), "westeurope").unwrap();
    let Change::Refused { code, message } = &elsewhere else { panic!("{elsewhere:?}") };
    assert_eq!(code, "StorageAccountLocationMismatch");
    assert!(message.contains("is in northeurope and the target in westeurope"), "{message}");
    let gone = storage_refusal(&on, &StorageSeen::Missing, "westeurope").unwrap();
    assert_eq!(gone.action(), "refused");
    // Regions compare as Azure writes them either way; unreadable accounts and switched-off flow logs pass.
    assert_eq!(storage_refusal(&on, &StorageSeen::In("West Europe".into()), "westeurope"), None);
    assert_eq!(storage_refusal(&on, &StorageSeen::Unknown, "westeurope"), None);
    let off = FlowLogSettings { enabled: false, ..on };
    assert_eq!(storage_refusal(&off, &StorageSeen::Missing, "westeurope"), None);
}

fn intent(namespace: &str, name: &str, target: &str) -> Intent {
    Intent {
        namespace: namespace.into(),
        name: name.into(),
        spec: spec(target, ""),
        origin: format!("{name}.yaml#0"),
        existed: false,
        removed: false,
    }
}

#[test]
fn conflicts_follow_the_controllers_rule() {
    let upper = VNET.to_ascii_uppercase();
    // Applied together: namespace/name decides (ARM IDs compare without case).
    let owners = conflicts(&[intent("b", "x", VNET), intent("a", "y", &upper), intent("a", "z", NSG)]);
    assert_eq!(owners, [Some("FlowLogPolicy a/y".to_string()), None, None]);
    // A policy that exists already keeps its target against a new one, whatever their names.
    let old = Intent { existed: true, ..intent("z", "old", VNET) };
    assert_eq!(conflicts(&[intent("a", "new", VNET), old.clone()]), [Some("FlowLogPolicy z/old".to_string()), None]);
    // A removed policy gives its target up.
    let gone = Intent { removed: true, ..old };
    assert_eq!(conflicts(&[intent("a", "new", VNET), gone]), [None, None]);
}

#[test]
fn the_change_since_before_marks_kept_and_removed_policies() {
    let before = vec![intent("t", "kept", VNET), intent("t", "gone", NSG)];
    let after = vec![intent("t", "kept", VNET), intent("t", "new", NSG)];
    let compared = compare(after, before);
    let flags: Vec<(&str, bool, bool)> = compared.iter().map(|i| (i.name.as_str(), i.existed, i.removed)).collect();
    assert_eq!(flags, [("kept", true, false), ("new", false, false), ("gone", true, true)]);
    let warnings = hand_over_warnings(&compared);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("t/gone is removed and t/new names the same target"), "{}", warnings[0]);
}

#[test]
fn manifests_are_read_as_the_apiserver_would_take_them() {
    let text = format!(
        "apiVersion: flowlog.dev/v1alpha1\nkind: FlowLogPolicy\nmetadata: {{name: web}}\nspec:\n  target: {{resourceId: {NSG}}}\n  flowLog: {{enabled: false}}\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other}}\n\
         ---\napiVersion: flowlog.dev/v1alpha1\nkind: FlowLogPolicy\nmetadata: {{name: bad, namespace: team}}\nspec:\n  target: {{resourceId: {NSG}}}\n  flowLog: {{enabled: true}}\n\
         ---\napiVersion: flowlog.dev/v1alpha1\nkind: FlowLogPolicy\nmetadata: {{name: web, namespace: default}}\nspec:\n  target: {{resourceId: {VNET}}}\n  flowLog: {{enabled: false}}\n"
    );
    let manifests = collect(&validate_stream("in.yaml", &text), "default");
    assert_eq!(manifests.policies.len(), 1);
    let web = &manifests.policies[0];
    assert_eq!((web.policy().as_str(), web.origin.as_str()), ("default/web", "in.yaml#0"));
    assert_eq!(web.spec.interval, "10m", "the schema's defaults are applied");
    assert_eq!(manifests.ignored, ["in.yaml#1 ConfigMap other"]);
    assert_eq!(manifests.invalid.len(), 1);
    assert_eq!(manifests.invalid[0].document, "in.yaml#2 FlowLogPolicy team/bad");
    assert!(manifests.invalid[0].errors.iter().any(|e| e.contains("storageId")), "{:?}", manifests.invalid[0].errors);
    assert_eq!(manifests.errors.len(), 1, "the same object twice: {:?}", manifests.errors);
    assert!(manifests.errors[0].contains("in.yaml#0 and in.yaml#3"), "{}", manifests.errors[0]);
}

fn preview() -> Preview {
    let row = |target: &str, policy: &str, change: Change| Row {
        target: target.into(),
        policy: policy.into(),
        origin: "p.yaml#0".into(),
        change,
    };
    let field = Field { field: "retentionPolicy".into(), before: "7 days".into(), after: "30 days".into() };
    Preview {
        changes: vec![
            row(NSG, "t/web", Change::Update { differences: vec![field] }),
            row(VNET, "t/vnet", Change::Unchanged { observed: ObservedFlowLog::default() }),
            row(VNET, "t/second", Change::Conflict { owner: "FlowLogPolicy t/vnet".into() }),
        ],
        ..Default::default()
    }
}

#[test]
fn the_three_formats_say_the_same() {
    let p = preview();
    assert!(p.has_changes() && p.has_problems());
    let text = render(&p, Format::Text, false);
    assert!(text.contains("~ update rg/web-nsg (t/web, p.yaml#0)\n    retentionPolicy: 7 days → 30 days\n"), "{text}");
    assert!(!text.contains("t/vnet,"), "unchanged rows are listed only on request:\n{text}");
    assert!(render(&p, Format::Text, true).contains("= unchanged rg/app-vnet (t/vnet, p.yaml#0)"));
    assert!(
        text.ends_with("Plan: 0 to create, 1 to update, 0 to disable, 0 to delete; 1 unchanged; 1 in conflict.\n"),
        "{text}"
    );
    let md = render(&p, Format::Markdown, false);
    assert!(
        md.contains("| ~ | update | `rg/web-nsg` | t/web (p.yaml\\#0) | retentionPolicy: 7 days → 30 days |"),
        "{md}"
    );
    assert!(md.contains("FlowLogPolicy t/vnet keeps this target"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&render(&p, Format::Json, false)).expect("JSON");
    assert_eq!(json["summary"]["update"], 1);
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(3), "JSON lists every row");
    assert_eq!(json["changes"][0]["action"], "update");
    assert_eq!(json["changes"][0]["differences"][0]["after"], "30 days");
    assert_eq!(json["changes"][2]["owner"], "FlowLogPolicy t/vnet");
}

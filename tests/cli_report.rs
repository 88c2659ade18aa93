//! `flowlog-operator report` against a real kube-apiserver + etcd (started by `tests/run.sh`), the simulator and the
//! controller: a set with a compliant VNet, one in a region without storage and one an independent policy manages,
//! plus an independent policy in Audit mode that has drifted. The report's figures come from the library function
//! and from the binary (JSON, CSV, Markdown, exit codes), and the binary needs no more than get and list.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use flowlog_operator::api::{FlowLogPolicySet, Mode};
use flowlog_operator::reconcile::set::child_name;
use flowlog_operator::report::read::{ReadError, read};
use flowlog_operator::report::{Counts, POLICIES, Report, Scope, Source, State};
use flowlog_simulator::inventory::{Subnet, VirtualNetwork};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

fn vnet_id(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}")
}

/// Every VNet of the subscription, in any region, except the exempt (dr-vnet); storage for westeurope only.
fn west_only_set(name: &str) -> FlowLogPolicySet {
    serde_json::from_value(json!({
        "apiVersion": "flowlog.dev/v1alpha1",
        "kind": "FlowLogPolicySet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"subscriptions": [SUB], "kind": "VirtualNetwork", "excludeTags": {"flowlogs": "exempt"}},
            "destinations": [{"region": "westeurope", "storageId": storage("flowlogsweu001")}],
            "template": {"flowLog": {"enabled": true, "retentionPolicy": {"enabled": true, "days": 90}}}
        }
    }))
    .unwrap()
}

fn counts(targets: u32, compliant: u32, drifted: u32, applying: u32, failing: u32, not_covered: u32) -> Counts {
    Counts { targets, compliant, drifted, applying, failing, not_covered }
}

/// The scene, settled: returns the harness and the target IDs (app, shared, north, web NSG).
async fn scene(test: &str) -> (Harness, [String; 4]) {
    let h = Harness::start(test).await;
    // A VNet in northeurope, where the set names no storage account.
    h.sim
        .put_virtual_network(
            SUB,
            VirtualNetwork {
                name: "north-vnet".into(),
                resource_group: "app-dr-rg".into(),
                location: "northeurope".into(),
                tags: Default::default(),
                address_prefixes: vec!["10.8.0.0/16".into()],
                subnets: vec![Subnet {
                    name: "default".into(),
                    address_prefix: "10.8.0.0/24".into(),
                    network_security_group: None,
                    network_security_group_resource_group: None,
                }],
            },
        )
        .unwrap();
    let (app, shared, north) = (
        vnet_id("app-prod-rg", "app-vnet"),
        vnet_id("shared-net-rg", "shared-vnet"),
        vnet_id("app-dr-rg", "north-vnet"),
    );
    // An independent policy manages shared-vnet (watcher found by region); another audits web-nsg, which keeps 7
    // days where the policy wants 30: drifted.
    let mut shared_spec = web_nsg_spec(30, "10m");
    shared_spec.target.resource_id = shared.clone();
    shared_spec.network_watcher = None;
    shared_spec.flow_log.format = None;
    h.apply("shared", shared_spec).await;
    let mut web_spec = web_nsg_spec(30, "10m");
    web_spec.mode = Mode::Audit;
    let web = web_spec.target.resource_id.clone();
    h.apply("web", web_spec).await;
    h.wait_ready("shared", "True").await;
    h.wait_reason("web", "Drifted").await;

    let sets: Api<FlowLogPolicySet> = Api::namespaced(h.client.clone(), &h.namespace);
    sets.create(&PostParams::default(), &west_only_set("vnets")).await.unwrap();
    // Settled: app-vnet's policy is Ready (compliant), the other two have none, and the set's status says so.
    wait_for("the set's status settled", Duration::from_secs(60), || async {
        let s = sets.get("vnets").await.ok()?.status?;
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready")?;
        ((s.targets, s.compliant, s.not_covered, s.excluded) == (3, 1, 2, 1) && ready.reason == "NotCompliant")
            .then_some(())
    })
    .await;
    let policy = h.get(&child_name("vnets", &app)).await;
    assert_eq!(policy.spec.flow_log.storage_id.as_deref(), Some(storage("flowlogsweu001").as_str()));
    (h, [app, shared, north, web])
}

fn namespace_scope(h: &Harness) -> Scope {
    Scope { namespace: Some(h.namespace.clone()), set: None }
}

/// The figures every format must show, checked on the report itself.
fn assert_figures(report: &Report, h: &Harness, [app, shared, north, web]: &[String; 4]) {
    assert_eq!(report.sets.len(), 2, "{:#?}", report.sets);
    let set = &report.sets[0];
    assert_eq!(
        (set.namespace.as_str(), set.set.as_str(), set.source),
        (h.namespace.as_str(), "vnets", Source::FlowLogPolicySet)
    );
    assert_eq!(set.counts, counts(3, 1, 0, 0, 0, 2));
    assert_eq!((set.excluded, set.not_covered_unlisted, set.compliant_percent), (1, 0, Some(33.3)));
    assert_eq!(set.ready.as_ref().map(|r| r.reason.as_str()), Some("NotCompliant"));
    assert!(set.discovery.as_ref().is_some_and(|d| d.complete), "{:?}", set.discovery);
    assert!(set.notes.is_empty(), "{:?}", set.notes);
    let regions: Vec<(&str, &str, Counts)> =
        set.regions.iter().map(|r| (r.subscription.as_str(), r.region.as_str(), r.counts)).collect();
    assert_eq!(
        regions,
        [(SUB, "northeurope", counts(1, 0, 0, 0, 0, 1)), (SUB, "westeurope", counts(2, 1, 0, 0, 0, 1)),],
        "north-vnet's region from its reason; app-vnet's from its storage account; shared-vnet's from the policy \
         that manages it"
    );
    let policies = &report.sets[1];
    assert_eq!((policies.set.as_str(), policies.source), (POLICIES, Source::FlowLogPolicy));
    assert_eq!(policies.counts, counts(2, 1, 1, 0, 0, 0));
    assert_eq!(policies.regions.len(), 1);
    assert_eq!((policies.regions[0].region.as_str(), policies.regions[0].counts.targets), ("westeurope", 2));
    assert_eq!(report.summary.counts, counts(5, 2, 1, 0, 0, 2));
    assert_eq!((report.summary.sets, report.summary.excluded), (2, 1));
    assert!(!report.all_compliant());

    let listed: Vec<(&str, &str, State, &str, Option<&str>)> = report
        .non_compliant
        .iter()
        .map(|t| (t.set.as_str(), t.target_resource_id.as_str(), t.state, t.reason.as_str(), t.policy.as_deref()))
        .collect();
    assert_eq!(
        listed,
        [
            ("vnets", north.as_str(), State::NotCovered, "NoStorageForRegion", None),
            ("vnets", shared.as_str(), State::NotCovered, "ManagedElsewhere", None),
            (POLICIES, web.as_str(), State::Drifted, "Drifted", Some("web")),
        ],
        "app-vnet ({app}) is compliant, so not listed"
    );
    let north_row = &report.non_compliant[0];
    assert_eq!((north_row.subscription.as_str(), north_row.region.as_str()), (SUB, "northeurope"));
    assert!(north_row.message.contains("northeurope"), "{}", north_row.message);
    assert!(report.non_compliant[1].message.contains(&format!("{}/shared", h.namespace)), "names the owner");
    assert!(report.non_compliant.iter().all(|t| t.namespace == h.namespace));
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_report_counts_a_set_and_the_independent_policies_and_lists_what_is_not_compliant() {
    let (h, targets) = scene("report").await;

    // The library function.
    let report = read(&h.client, namespace_scope(&h)).await.unwrap();
    assert_figures(&report, &h, &targets);
    // One set: its figures alone, no independent policies.
    let one = Scope { namespace: Some(h.namespace.clone()), set: Some("vnets".into()) };
    let report = read(&h.client, one.clone()).await.unwrap();
    assert_eq!(report.sets.len(), 1);
    assert_eq!(report.sets[0].counts, counts(3, 1, 0, 0, 0, 2));
    assert_eq!(report.non_compliant.len(), 2);
    assert_eq!(report.non_compliant[1].region, "westeurope", "from the independent policy, out of the set's rows");
    assert_eq!(report.scope, one);
    let missing = Scope { namespace: Some(h.namespace.clone()), set: Some("nope".into()) };
    assert!(matches!(read(&h.client, missing).await, Err(ReadError::SetNotFound { .. })));

    // The binary, with KUBECONFIG from the environment: JSON, and exit 2 for CI.
    let out = report_command(&["--namespace", &h.namespace, "--output", "json", "--fail-on-noncompliant"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let parsed: Report = serde_json::from_slice(&out.stdout).expect("the JSON reads back as the report");
    let generated = parsed.generated_at.parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    assert_eq!(generated.subsec_nanosecond(), 0, "to the second: {}", parsed.generated_at);
    assert_figures(&parsed, &h, &targets);
    let raw: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(raw["summary"]["notCovered"], 2);
    assert_eq!(raw["sets"][0]["regions"][0]["region"], "northeurope");
    assert_eq!(raw["nonCompliant"][2]["state"], "drifted");
    assert_eq!(raw["nonCompliant"][2]["targetResourceId"], targets[3].as_str());

    // CSV: the non-compliant targets, then the coverage rows.
    let out = report_command(&["--namespace", &h.namespace, "-o", "csv"]);
    assert_eq!(out.status.code(), Some(0), "without --fail-on-noncompliant: {}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines[0], "set,namespace,targetResourceId,subscription,region,state,reason,message,policy");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[1].starts_with(&format!(
            "vnets,{},{},{SUB},northeurope,notCovered,NoStorageForRegion,\"",
            h.namespace, targets[2]
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].starts_with(&format!("(policies),{},{},{SUB},westeurope,drifted,Drifted,", h.namespace, targets[3])),
        "{}",
        lines[3]
    );
    assert!(lines[3].ends_with(",web"), "{}", lines[3]);
    let out = report_command(&["--namespace", &h.namespace, "-o", "csv", "--csv-rows", "coverage"]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let ns = &h.namespace;
    assert_eq!(
        csv.split_terminator("\r\n").collect::<Vec<_>>(),
        [
            "level,namespace,set,subscription,region,targets,compliant,drifted,applying,failing,notCovered,excluded,compliantPercent",
            &format!("set,{ns},vnets,,,3,1,0,0,0,2,1,33.3"),
            &format!("region,{ns},vnets,{SUB},northeurope,1,0,0,0,0,1,,0.0"),
            &format!("region,{ns},vnets,{SUB},westeurope,2,1,0,0,0,1,,50.0"),
            &format!("set,{ns},(policies),,,2,1,1,0,0,0,0,50.0"),
            &format!("region,{ns},(policies),{SUB},westeurope,2,1,1,0,0,0,,50.0"),
        ]
    );

    // Markdown for a ticket; the table for a terminal.
    let out = report_command(&["--namespace", &h.namespace, "--set", "vnets", "--output", "markdown"]);
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with(&format!("## Flow-log compliance report\n\nSet {ns}/vnets, generated ")), "{md}");
    assert!(md.contains("**1 of 3 targets compliant (33.3%)**"), "{md}");
    assert!(md.contains(&format!("| {ns} | **vnets** | (all) | (all) | 3 | 1 | 0 | 0 | 0 | 2 | 1 | 33.3% |")), "{md}");
    assert!(
        md.contains(&format!("| {ns} | vnets | `{SUB}` | westeurope | 2 | 1 | 0 | 0 | 0 | 1 | - | 50.0% |")),
        "{md}"
    );
    assert!(md.contains("### Not compliant (2)"), "{md}");
    assert!(
        md.contains(&format!(
            "| vnets | {ns} | `{}` | `{SUB}` | northeurope | notCovered | NoStorageForRegion |",
            targets[2]
        )),
        "{md}"
    );
    let out = report_command(&["--namespace", &h.namespace]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table
            .contains("2 of 5 targets compliant (40.0%); 1 drifted, 0 applying, 0 failing, 2 not covered; 1 excluded."),
        "{table}"
    );
    assert!(table.contains("Not compliant (3):"), "{table}");

    // Errors exit 1 and say why.
    let out = report_command(&["--namespace", &h.namespace, "--set", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("FlowLogPolicySet {ns}/nope not found")), "{stderr}");
    let out = report_command(&["--set", "vnets"]);
    assert_eq!(out.status.code(), Some(1), "--set without --namespace is refused: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--namespace"));
}

/// Without permission the report says what it needs; with get and list on the two resources (and nothing else) it
/// works.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_report_needs_only_get_and_list() {
    let (h, targets) = scene("report-rbac").await;
    let ns = h.namespace.clone();
    let accounts: Api<ServiceAccount> = Api::namespaced(h.client.clone(), &ns);
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "auditor"}})).unwrap();
    accounts.create(&PostParams::default(), &account).await.unwrap();
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}})).unwrap();
    let token = accounts.create_token_request("auditor", &PostParams::default(), &request).await.unwrap();
    let token = token.status.expect("a token").token;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    token_kubeconfig(&token, &kubeconfig);

    let out = report_command_with(&kubeconfig, &["--namespace", &ns]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("not allowed to list flowlogpolicysets.flowlog.dev in namespace {ns}"))
            && stderr.contains("needs get and list on flowlogpolicysets and flowlogpolicies"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no half report");

    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "flowlog-report"},
        "rules": [{"apiGroups": ["flowlog.dev"], "resources": ["flowlogpolicysets", "flowlogpolicies"],
                   "verbs": ["get", "list"]}]
    }))
    .unwrap();
    Api::<Role>::namespaced(h.client.clone(), &ns).create(&PostParams::default(), &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "flowlog-report"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "flowlog-report"},
        "subjects": [{"kind": "ServiceAccount", "name": "auditor", "namespace": ns}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(h.client.clone(), &ns).create(&PostParams::default(), &binding).await.unwrap();
    // The authorizer's cache follows the new binding within moments.
    let out = wait_for("the report allowed", Duration::from_secs(20), || async {
        let out = report_command_with(&kubeconfig, &["--namespace", &ns, "-o", "json"]);
        (out.status.code() == Some(0)).then_some(out)
    })
    .await;
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_figures(&report, &h, &targets);

    // All namespaces need a ClusterRole: the namespaced grant does not stretch that far, and the message says so.
    let out = report_command_with(&kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in all namespaces"), "{out:?}");
}

/// `flowlog-operator report ARGS` with the environment's KUBECONFIG (the test control plane's admin).
fn report_command(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator")).arg("report").args(args).output().unwrap()
}

/// `flowlog-operator report ARGS` with another kubeconfig.
fn report_command_with(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
        .arg("report")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap()
}

/// A kubeconfig for the test control plane that authenticates with `token`.
fn token_kubeconfig(token: &str, path: &Path) {
    let admin = std::env::var("KUBECONFIG").expect("KUBECONFIG points at the test control plane (run tests/run.sh)");
    let admin: Value = serde_saphyr::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "envtest", "cluster": {
            "server": cluster["server"], "certificate-authority-data": cluster["certificate-authority-data"]}}],
        "users": [{"name": "auditor", "user": {"token": token}}],
        "contexts": [{"name": "auditor", "context": {"cluster": "envtest", "user": "auditor"}}],
        "current-context": "auditor",
    });
    std::fs::write(path, config.to_string()).unwrap();
}

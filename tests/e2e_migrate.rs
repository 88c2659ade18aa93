//! NSG → VNet flow-log migration on the simulator's migration inventory (`simulator/inventories/migration.yaml`: 23
//! NSG flow logs over two subscriptions and two regions, one case each, its comments say what a plan does with it):
//! the plan, target by target in both modes; its manifests applied to a real kube-apiserver + etcd (started by
//! `tests/run.sh`) with the controller running; `migrate apply` (no NSG flow log off before what takes over its traffic
//! is on, by the order of the simulator's write log), `migrate rollback` (Azure as it was), an interrupted apply run
//! again (nothing twice, then rolled back exactly), `plan --from-cluster`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use flowlog_operator::api::FlowLogPolicy;
use flowlog_operator::azure::{ArmClient, PollSettings};
use flowlog_operator::migrate::analysis::{Mode, NsgAction, ProblemReason, TargetKind};
use flowlog_operator::migrate::apply::{self as work, MIGRATION_LABEL, Target};
use flowlog_operator::migrate::manifests::{CREATE_DIR, DISABLE_DIR, Options, manifests};
use flowlog_operator::migrate::read::{Scope, read};
use flowlog_operator::migrate::record::{MigrationState, Phase, Record, status};
use flowlog_operator::migrate::{Plan, plan};
use flowlog_simulator::{Inventory, Simulator};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};

const SUB1: &str = "00000000-0000-0000-0000-000000000001";
const SUB2: &str = "00000000-0000-0000-0000-000000000002";

fn inventory() -> Inventory {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/simulator/inventories/migration.yaml"))
        .expect("the migration inventory");
    let mut inventory = Inventory::from_yaml(&text).expect("a valid inventory");
    sim::quick_operations(&mut inventory);
    inventory
}

fn prefix(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.network")
}
fn vnet(sub: &str, rg: &str, name: &str) -> String {
    format!("{}/virtualnetworks/{name}", prefix(sub, rg))
}
fn subnet(sub: &str, rg: &str, v: &str, name: &str) -> String {
    format!("{}/subnets/{name}", vnet(sub, rg, v))
}
fn nic(sub: &str, rg: &str, name: &str) -> String {
    format!("{}/networkinterfaces/{name}", prefix(sub, rg))
}
fn storage_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}")
}

fn arm(sim_url: &str) -> ArmClient {
    let base = url::Url::parse(&format!("{sim_url}/")).unwrap();
    let http = reqwest::Client::new();
    let credential = flowlog_operator::cli::built_in_credential(http.clone(), &base).unwrap();
    let poll = PollSettings { default_interval: Duration::from_millis(200), ..Default::default() };
    ArmClient::builder(http, base, flowlog_operator::azure::credential::CachedCredential::new(credential))
        .poll(poll)
        .build()
}

/// The plan of the whole inventory; northeurope's new flow logs get its own storage account when `neu_storage`.
async fn plan_of(sim_url: &str, mode: Mode, neu_storage: bool) -> Plan {
    let inventories = read(&arm(sim_url), &Scope::default(), |_| {}).await.unwrap();
    let mut storage = BTreeMap::new();
    if neu_storage {
        storage.insert("northeurope".to_string(), storage_id(SUB1, "mig-logging-rg", "migflowlogsneu001"));
    }
    plan(&inventories, mode, &storage)
}

fn creates(plan: &Plan) -> BTreeSet<(TargetKind, String, usize)> {
    plan.regions.iter().flat_map(|r| &r.create).map(|c| (c.kind, c.target.to_lowercase(), c.aggregates.len())).collect()
}

/// NSG name → what the plan does with its flow log.
fn actions(plan: &Plan) -> BTreeMap<String, NsgAction> {
    plan.regions
        .iter()
        .flat_map(|r| &r.nsg_flow_logs)
        .map(|l| (l.nsg.rsplit('/').next().unwrap().to_string(), l.action))
        .collect()
}

#[tokio::test]
async fn the_plan_finds_every_case_target_by_target_in_both_modes() {
    let (_sim, url) = sim::start(inventory()).await;
    let (a, s, n) = (TargetKind::VirtualNetwork, TargetKind::Subnet, TargetKind::NetworkInterface);
    let aggregated = plan_of(&url, Mode::Aggregated, false).await;
    let expected: BTreeSet<(TargetKind, String, usize)> = [
        (a, vnet(SUB1, "mig-app-rg", "mig-app-vnet"), 5),
        (n, nic(SUB1, "mig-mixed-rg", "mix-1"), 0),
        (n, nic(SUB1, "mig-mixed-rg", "mix-2"), 0),
        (n, nic(SUB1, "mig-partial-rg", "part-1"), 0),
        (a, vnet(SUB1, "mig-vmss-rg", "mig-vmss-vnet"), 1),
        (a, vnet(SUB1, "mig-ta-rg", "mig-ta-vnet"), 1),
        (a, vnet(SUB1, "mig-both-rg", "mig-both-vnet"), 2),
        (a, vnet(SUB2, "mig-edge-rg", "edge-vnet"), 1),
        (a, vnet(SUB2, "mig-edge-rg", "edge-weu-vnet"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(creates(&aggregated), expected);

    let per_target = plan_of(&url, Mode::PerTarget, false).await;
    let expected: BTreeSet<(TargetKind, String, usize)> = [
        (n, nic(SUB1, "mig-app-rg", "app-1"), 0),
        (n, nic(SUB1, "mig-app-rg", "app-2"), 0),
        (n, nic(SUB1, "mig-app-rg", "app-3"), 0),
        (s, subnet(SUB1, "mig-app-rg", "mig-app-vnet", "front"), 0),
        (s, subnet(SUB1, "mig-app-rg", "mig-app-vnet", "back"), 0),
        (n, nic(SUB1, "mig-mixed-rg", "mix-1"), 0),
        (n, nic(SUB1, "mig-mixed-rg", "mix-2"), 0),
        (n, nic(SUB1, "mig-partial-rg", "part-1"), 0),
        (s, subnet(SUB1, "mig-vmss-rg", "mig-vmss-vnet", "pool"), 0),
        (s, subnet(SUB1, "mig-ta-rg", "mig-ta-vnet", "ta"), 0),
        (s, subnet(SUB1, "mig-both-rg", "mig-both-vnet", "both"), 0),
        (n, nic(SUB1, "mig-both-rg", "both-1"), 0),
        (s, subnet(SUB2, "mig-edge-rg", "edge-vnet", "edge"), 0),
        (s, subnet(SUB2, "mig-edge-rg", "edge-weu-vnet", "apps"), 0),
    ]
    .into_iter()
    .collect();
    assert_eq!(creates(&per_target), expected);
    assert_eq!((aggregated.summary.aggregated, aggregated.summary.per_target), (9, 14), "both counts in the summary");

    // What becomes of each NSG flow log is the same in both modes.
    for plan in [&aggregated, &per_target] {
        let acts = actions(plan);
        assert_eq!(acts.len(), 23);
        let with = |action: NsgAction| -> BTreeSet<&str> {
            acts.iter().filter(|(_, a)| **a == action).map(|(n, _)| n.as_str()).collect()
        };
        assert_eq!(with(NsgAction::DisableOnly), BTreeSet::from(["orphan-nsg"]));
        assert_eq!(with(NsgAction::AlreadyOff), BTreeSet::from(["off-1-nsg", "off-2-nsg"]));
        assert_eq!(
            with(NsgAction::Blocked),
            BTreeSet::from(["clash-subnet-nsg", "clash-vmss-nsg", "differs-nsg", "neu-app-nsg", "neu-db-nsg"])
        );
        assert_eq!(with(NsgAction::Disable).len(), 15);
        let problems: BTreeSet<(String, ProblemReason)> =
            plan.regions.iter().flat_map(|r| &r.problems).map(|p| (p.target.to_lowercase(), p.reason)).collect();
        assert_eq!(
            problems,
            BTreeSet::from([
                (subnet(SUB1, "mig-clash-rg", "mig-clash-vnet", "clash"), ProblemReason::ConflictingSettings),
                (subnet(SUB1, "mig-differs-rg", "mig-differs-vnet", "differs"), ProblemReason::ExistingFlowLogDiffers),
                (subnet(SUB1, "mig-neu-rg", "mig-neu-vnet", "neu-app"), ProblemReason::NoStorageForRegion),
                (subnet(SUB1, "mig-neu-rg", "mig-neu-vnet", "neu-db"), ProblemReason::NoStorageForRegion),
            ])
        );
        let covered: Vec<String> =
            plan.regions.iter().flat_map(|r| &r.covered).map(|c| c.target.to_lowercase()).collect();
        assert_eq!(covered, [subnet(SUB1, "mig-covered-rg", "mig-covered-vnet", "covered")]);
    }

    // Traffic analytics carried over; the new flow logs keep the NSG logs' storage, retention and format.
    let ta = aggregated
        .regions
        .iter()
        .flat_map(|r| &r.create)
        .find(|c| c.target.to_lowercase().ends_with("/mig-ta-vnet"))
        .unwrap();
    let settings = ta.settings.traffic_analytics.clone().expect("traffic analytics carried over");
    assert_eq!((settings.enabled, settings.interval_minutes), (true, 10));
    assert!(settings.workspace_resource_id.unwrap().to_lowercase().ends_with("/mig-law-weu"));
    for c in aggregated.regions.iter().flat_map(|r| &r.create) {
        assert_eq!(c.settings.format.as_ref().map(|f| f.version), Some(2), "{}", c.target);
    }

    // Naming northeurope's account lets both of its NSG flow logs go to one VNet flow log.
    let named = plan_of(&url, Mode::Aggregated, true).await;
    assert!(creates(&named).contains(&(a, vnet(SUB1, "mig-neu-rg", "mig-neu-vnet"), 2)));
    assert_eq!(actions(&named)["neu-app-nsg"], NsgAction::Disable);
    let edge = named.regions.iter().flat_map(|r| &r.create).find(|c| c.target.ends_with("/edge-vnet")).unwrap();
    assert!(edge.settings.storage_id.as_deref().unwrap().ends_with("/migedgeneu001"), "its own account still serves");
}

/// Waits until every listed policy is Ready on its current spec.
async fn wait_all_ready(h: &Harness, names: &[String], what: &str) {
    wait_for(what, Duration::from_secs(90), || async {
        for name in names {
            let p = h.api.get(name).await.ok()?;
            let ready = p.status.as_ref().is_some_and(|s| {
                s.observed_generation == p.metadata.generation
                    && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            });
            if !ready {
                return None;
            }
        }
        Some(())
    })
    .await;
}

fn enabled_of(sim: &Simulator, target: &str) -> Vec<Option<bool>> {
    sim.flow_log_resources()
        .into_iter()
        .filter(|l| l.properties.target_resource_id.eq_ignore_ascii_case(target))
        .map(|l| l.properties.enabled)
        .collect()
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_plans_manifests_apply_to_the_apiserver_in_order_and_converge() {
    let h = Harness::start_with("mig-manifests", inventory()).await;
    let plan = plan_of(&h.sim_url, Mode::Aggregated, true).await;
    let options = Options { namespace: Some(h.namespace.clone()), interval: None };
    let files = manifests(&plan.regions, &options, &Default::default());
    let step = |dir: &str| -> Vec<FlowLogPolicy> {
        files
            .iter()
            .filter(|(path, _)| path.starts_with(&format!("{dir}/")) && !path.ends_with("/kustomization.yaml"))
            .map(|(_, text)| serde_saphyr::from_str(text).unwrap())
            .collect()
    };
    for (dir, expected) in [(CREATE_DIR, 10), (DISABLE_DIR, 18)] {
        let policies = step(dir);
        assert_eq!(policies.len(), expected, "{dir}");
        for p in &policies {
            let patch = PatchParams::apply("e2e").force();
            h.api.patch(&p.metadata.name.clone().unwrap(), &patch, &Patch::Apply(p)).await.unwrap();
        }
        let names: Vec<String> = policies.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        wait_all_ready(&h, &names, &format!("every policy of {dir} Ready")).await;
    }
    for c in plan.regions.iter().flat_map(|r| &r.create) {
        assert_eq!(enabled_of(&h.sim, &c.target), [Some(true)], "{} logged, once", c.target);
    }
    for l in plan.regions.iter().flat_map(|r| &r.nsg_flow_logs) {
        let expected = match l.action {
            NsgAction::Disable | NsgAction::DisableOnly | NsgAction::AlreadyOff => Some(false),
            NsgAction::Blocked => Some(true),
        };
        assert_eq!(enabled_of(&h.sim, &l.nsg), [expected], "{} {:?}", l.nsg, l.action);
    }
}

/// The flow logs as Azure holds them, comparable across writes (etag and provisioning state left out).
fn azure_state(sim: &Simulator) -> BTreeMap<String, serde_json::Value> {
    sim.flow_log_resources()
        .into_iter()
        .map(|mut l| {
            l.etag = None;
            l.properties.provisioning_state = None;
            (l.properties.target_resource_id.to_lowercase(), serde_json::to_value(&l).unwrap())
        })
        .collect()
}

/// A FlowLogPolicy of the team's that manages app-1-nsg's flow log as it is, Ready.
async fn app_1_policy(h: &Harness) -> FlowLogPolicy {
    let nsg = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/mig-app-rg/providers/Microsoft.Network/networkSecurityGroups/app-1-nsg";
    let spec: flowlog_operator::api::FlowLogPolicySpec = serde_json::from_value(serde_json::json!({
        "target": {"resourceId": nsg},
        "flowLog": {
            "enabled": true,
            "storageId": storage_id(SUB1, "mig-logging-rg", "migflowlogsweu001"),
            "retentionPolicy": {"enabled": true, "days": 30},
            "format": {"type": "JSON", "version": 2}
        }
    }))
    .unwrap();
    let policy = h.apply("team-app-1", spec).await;
    wait_all_ready(h, &["team-app-1".to_string()], "the team's policy Ready").await;
    policy
}

fn target(h: &Harness) -> Target {
    Target {
        namespace: h.namespace.clone(),
        name: "mig".into(),
        timeout: Duration::from_secs(120),
        poll: Duration::from_millis(200),
    }
}

async fn start_apply(h: &Harness, neu_storage: bool) -> Record {
    let plan = plan_of(&h.sim_url, Mode::Aggregated, neu_storage).await;
    // This namespace only: the other tests' simulators have the same NSGs, and their policies share this apiserver.
    let existing = work::existing_nsg_policies(&h.client, work::Search::Namespace(&h.namespace)).await.unwrap();
    let record = Record::new(&plan, &h.namespace, &existing, "10m", "2026-12-02T00:00:00Z".into());
    work::start(&h.client, &target(h), &record).await.unwrap();
    record
}

/// In the write log, no NSG flow log goes off before every flow log taking over its traffic is on; each is
/// created, and switched off, once.
fn assert_no_gap(h: &Harness, record: &Record) {
    let writes = h.sim.writes();
    let seq_of = |target: &str, before: Option<bool>, after: Option<bool>| -> Vec<u64> {
        writes
            .iter()
            .filter(|w| w.target.eq_ignore_ascii_case(target) && w.before == before && w.after == after)
            .map(|w| w.seq)
            .collect()
    };
    for d in &record.disable {
        let off = seq_of(&d.nsg, Some(true), Some(false));
        assert_eq!(off.len(), 1, "{} switched off once: {writes:#?}", d.nsg);
        for policy in &d.after {
            let c = record.create.iter().find(|c| &c.policy == policy).unwrap();
            let on = seq_of(&c.spec.target.resource_id, None, Some(true));
            assert_eq!(on.len(), 1, "{} created once", c.spec.target.resource_id);
            assert!(
                on[0] < off[0],
                "{} off (write {}) before {} on (write {})",
                d.nsg,
                off[0],
                c.spec.target.resource_id,
                on[0]
            );
        }
    }
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn apply_leaves_no_gap_and_rollback_puts_azure_back_as_it_was() {
    let h = Harness::start_with("mig-apply", inventory()).await;
    let before = azure_state(&h.sim);
    h.sim.record_writes();
    // New flow logs are slow to come (each PUT answered after 1.5 s), NSG flow logs quick to switch off: switching
    // one off before what takes over its traffic is Ready would show in the write log.
    let slow = serde_json::json!([{"operation": "flowLogsCreateOrUpdate", "effect": {"latencyMs": 1500}}]);
    h.sim.set_faults(serde_json::from_value(slow).unwrap()).unwrap();
    // A team already manages app-1-nsg's flow log with a policy: the migration switches it off through that policy.
    let team = app_1_policy(&h).await;
    let mut record = start_apply(&h, true).await;
    assert_eq!((record.create.len(), record.disable.len(), record.blocked.len()), (10, 18, 3));
    let through_team = record.disable.iter().find(|d| d.nsg.ends_with("/app-1-nsg")).unwrap();
    assert_eq!((through_team.policy.as_str(), through_team.existing_spec.as_ref()), ("team-app-1", Some(&team.spec)));
    work::apply(&h.client, &target(&h), &mut record, |_| {}).await.unwrap();
    assert_eq!(record.phase, Phase::Applied);
    assert_no_gap(&h, &record);
    let seen = work::states(&h.client, &target(&h), &record).await.unwrap();
    let rows = status(&record, &h.namespace, &seen);
    let count = |state: MigrationState| rows.iter().filter(|r| r.state == state).count();
    assert_eq!((count(MigrationState::Migrated), count(MigrationState::Blocked)), (18, 3), "{rows:#?}");

    let switched = h.api.get("team-app-1").await.unwrap();
    assert!(!switched.spec.flow_log.enabled, "the team's policy switched the NSG flow log off");
    assert_eq!(switched.spec.target, team.spec.target);

    work::rollback(&h.client, &target(&h), &mut record, |_| {}).await.unwrap();
    assert_eq!(record.phase, Phase::RolledBack);
    assert_eq!(h.api.get("team-app-1").await.unwrap().spec, team.spec, "the team's policy as it was");
    // Everything is as it was, except the two NSG flow logs whose storage account cannot serve their region: Azure
    // would refuse them back, so they stay off and the VNet flow log that took over their traffic stays.
    let mut after = azure_state(&h.sim);
    let kept = vnet(SUB1, "mig-neu-rg", "mig-neu-vnet");
    assert_eq!(after.remove(&kept).and_then(|l| l["properties"]["enabled"].as_bool()), Some(true), "{kept} kept");
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "the other new flow logs deleted");
    for (target, was) in &before {
        if target.ends_with("/neu-app-nsg") || target.ends_with("/neu-db-nsg") {
            assert_eq!(after[target]["properties"]["enabled"], false, "{target} stays off");
            continue;
        }
        assert_eq!(&after[target], was, "{target} as it was");
    }
    let left = h.api.list(&ListParams::default().labels(&format!("{MIGRATION_LABEL}=mig"))).await.unwrap();
    let mut left: Vec<String> = left
        .items
        .iter()
        .filter(|p| p.metadata.name.as_deref() != Some("team-app-1"))
        .map(|p| p.spec.target.resource_id.to_lowercase())
        .collect();
    left.sort();
    let nsg = |name: &str| format!("{}/networksecuritygroups/{name}", prefix(SUB1, "mig-neu-rg"));
    assert_eq!(left, [nsg("neu-app-nsg"), nsg("neu-db-nsg"), kept], "only the policies of what stays as migrated");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn an_interrupted_apply_run_again_finishes_without_doing_anything_twice() {
    let h = Harness::start_with("mig-resume", inventory()).await;
    let before = azure_state(&h.sim);
    h.sim.record_writes();
    // Without --storage: the two North Europe NSG flow logs stay on (blocked), and everything can be rolled back.
    let record = start_apply(&h, false).await;
    assert_eq!((record.create.len(), record.disable.len(), record.blocked.len()), (9, 16, 5));
    let (client, t) = (h.client.clone(), target(&h));
    let mut first = record.clone();
    let run = tokio::spawn(async move { work::apply(&client, &t, &mut first, |_| {}).await });
    // Stopped as a Ctrl-C would stop it: once some NSG flow logs are off, not all.
    wait_for("apply halfway", Duration::from_secs(90), || async {
        let r = work::load(&h.client, &target(&h)).await.ok()??;
        let off = r.disable.iter().filter(|d| d.switched_off).count();
        (off > 0 && off < r.disable.len()).then_some(())
    })
    .await;
    run.abort();
    let mut resumed = work::load(&h.client, &target(&h)).await.unwrap().unwrap();
    assert_eq!(resumed.phase, Phase::Applying);
    work::apply(&h.client, &target(&h), &mut resumed, |_| {}).await.unwrap();
    assert_eq!(resumed.phase, Phase::Applied);
    assert_no_gap(&h, &resumed);
    for c in &resumed.create {
        assert_eq!(enabled_of(&h.sim, &c.spec.target.resource_id), [Some(true)], "one flow log per target");
    }
    let policies: Api<FlowLogPolicy> = Api::namespaced(h.client.clone(), &h.namespace);
    let ours = policies.list(&ListParams::default().labels(&format!("{MIGRATION_LABEL}=mig"))).await.unwrap();
    assert_eq!(ours.items.len(), 9 + 16, "one policy per new flow log and per NSG flow log switched off");

    // Nothing was replaced: the rollback puts Azure back exactly as it was, and leaves none of its policies.
    work::rollback(&h.client, &target(&h), &mut resumed, |_| {}).await.unwrap();
    assert_eq!(resumed.phase, Phase::RolledBack);
    assert_eq!(azure_state(&h.sim), before, "Azure as it was before the migration");
    let ours = policies.list(&ListParams::default().labels(&format!("{MIGRATION_LABEL}=mig"))).await.unwrap();
    assert!(ours.items.is_empty(), "{:?}", ours.items.iter().map(|p| p.metadata.name.clone()).collect::<Vec<_>>());
}

/// `flowlog-operator migrate plan` with the simulator's built-in credentials.
fn plan_command(sim_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
        .args(["migrate", "plan", "--arm-endpoint", sim_url, "--authority-host", &format!("{sim_url}/")])
        .args(args)
        .env("AZURE_TENANT_ID", flowlog_simulator::DEFAULT_TENANT_ID)
        .env("AZURE_CLIENT_ID", flowlog_simulator::DEFAULT_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", flowlog_simulator::DEFAULT_CLIENT_SECRET)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_plan_command_prints_the_plan_and_writes_it_whole_or_not_at_all() {
    let (_sim, url) = sim::start(inventory()).await;
    let run = |args: Vec<String>| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                plan_command(&url, &args)
            })
            .await
            .unwrap()
        }
    };
    let out = run(vec!["-o".into(), "json".into()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["nsgFlowLogs"], 23);
    assert_eq!((json["summary"]["aggregated"].as_u64(), json["summary"]["perTarget"].as_u64()), (Some(9), Some(14)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[migrate] subscription 00000000-0000-0000-0000-000000000002: listing virtual networks"),
        "progress: {stderr}"
    );

    // The README's worked example is this output, shortened (`…`) but not edited.
    let table = run(Vec::new()).await;
    let table = String::from_utf8(table.stdout).unwrap();
    let lines: BTreeSet<&str> = table.lines().map(str::trim_end).collect();
    let readme = include_str!("../README.md");
    let example = readme.split("$ flowlog-operator migrate plan --arm-endpoint").nth(1).expect("the README's example");
    let example = &example[example.find('\n').unwrap() + 1..example.find("```").unwrap()];
    assert!(example.lines().count() > 15, "{example}");
    for line in example.lines().filter(|l| !l.is_empty() && *l != "…") {
        assert!(lines.contains(line), "README line not in the output:\n{line}\n\noutput:\n{table}");
    }

    let markdown = run(vec!["-o".into(), "markdown".into(), "--mode".into(), "per-target".into()]).await;
    let text = String::from_utf8(markdown.stdout).unwrap();
    assert!(text.contains("### Step 1: new flow logs") && text.contains("ConflictingSettings"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("migration");
    let write = |force: bool| {
        let mut args = vec!["--out".to_string(), out_dir.display().to_string(), "-n".into(), "network".into()];
        if force {
            args.push("--force".into());
        }
        run(args)
    };
    let out = write(false).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<String> = walk(&out_dir);
    files.sort();
    assert!(files.contains(&"PLAN.md".to_string()));
    for dir in [CREATE_DIR, DISABLE_DIR, "rollback"] {
        assert!(files.contains(&format!("{dir}/kustomization.yaml")), "{files:?}");
    }
    assert_eq!(files.iter().filter(|f| f.starts_with(CREATE_DIR)).count(), 9 + 1);
    assert_eq!(files.iter().filter(|f| f.starts_with(DISABLE_DIR)).count(), 16 + 1);
    // Not over a folder with something in it, unless asked; then all of it is replaced.
    std::fs::write(out_dir.join("keep.txt"), "mine").unwrap();
    let refused = write(false).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not empty"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(out_dir.join("keep.txt").exists(), "nothing touched");
    let forced = write(true).await;
    assert!(forced.status.success());
    assert!(!out_dir.join("keep.txt").exists() && out_dir.join("PLAN.md").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("migration")], "no staging folder left behind");

    let bad = run(vec![
        "--storage".into(),
        "northeurope=/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v".into(),
    ])
    .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not the ARM ID of a storage account"));
}

/// Every file under `dir`, relative.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path).into_iter().map(|f| format!("{}/{f}", path.file_name().unwrap().to_string_lossy())));
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_plan_from_the_cluster_covers_the_nsgs_its_policies_manage_and_switches_them_off_through_them() {
    let h = Harness::start_with("mig-from-cluster", inventory()).await;
    let mix = |name: &str| format!("{}/networkSecurityGroups/{name}", prefix(SUB1, "mig-mixed-rg"));
    for (name, days) in [("mix-1-nsg", 30), ("mix-2-nsg", 7)] {
        let spec: flowlog_operator::api::FlowLogPolicySpec = serde_json::from_value(serde_json::json!({
            "target": {"resourceId": mix(name)},
            "flowLog": {
                "enabled": true,
                "storageId": storage_id(SUB1, "mig-logging-rg", "migflowlogsweu001"),
                "retentionPolicy": {"enabled": true, "days": days},
                "format": {"type": "JSON", "version": 2}
            }
        }))
        .unwrap();
        h.apply(&format!("team-{name}"), spec).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("migration");
    let (url, ns, out) = (h.sim_url.clone(), h.namespace.clone(), out_dir.display().to_string());
    let output = tokio::task::spawn_blocking(move || {
        plan_command(&url, &["--from-cluster", "-n", &ns, "--out", &out, "-o", "json"])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let nsgs: BTreeSet<String> = json["regions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["nsgFlowLogs"].as_array().unwrap())
        .map(|l| l["nsg"].as_str().unwrap().to_lowercase())
        .collect();
    // Other tests' policies share the control plane: only what no policy manages must be missing.
    for name in ["mix-1-nsg", "mix-2-nsg"] {
        assert!(nsgs.contains(&mix(name).to_lowercase()), "{name} in the plan: {nsgs:?}");
    }
    for name in ["front-nsg", "orphan-nsg", "ta-nsg"] {
        assert!(!nsgs.iter().any(|n| n.ends_with(&format!("/{name}"))), "{name} is managed by no policy: {nsgs:?}");
    }
    let files = walk(&out_dir);
    for name in ["mix-1-nsg", "mix-2-nsg"] {
        let file = format!("{}.team-{name}.yaml", h.namespace);
        for dir in [DISABLE_DIR, "rollback"] {
            assert!(files.contains(&format!("{dir}/{file}")), "{dir}/{file} in {files:?}");
        }
        let off: FlowLogPolicy =
            serde_saphyr::from_str(&std::fs::read_to_string(out_dir.join(DISABLE_DIR).join(&file)).unwrap()).unwrap();
        assert_eq!(off.metadata.name.as_deref(), Some(format!("team-{name}").as_str()), "switched off through it");
        assert_eq!(off.metadata.namespace.as_deref(), Some(h.namespace.as_str()));
        assert!(!off.spec.flow_log.enabled, "{name} off");
        let back: FlowLogPolicy =
            serde_saphyr::from_str(&std::fs::read_to_string(out_dir.join("rollback").join(&file)).unwrap()).unwrap();
        let was = h.api.get(&format!("team-{name}")).await.unwrap();
        assert_eq!(back.spec, was.spec, "rollback puts the team's policy back as it was");
    }
    assert!(
        !files.iter().any(|f| f.starts_with(&format!("{DISABLE_DIR}/migrate-"))),
        "no second policy for an NSG a policy already manages: {files:?}"
    );
}

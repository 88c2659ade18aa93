//! `plan -f` against what the controller then does: the same manifests planned without a cluster, then applied to
//! the real apiserver with the controller running on the same simulator. Every row of the plan must come true:
//! the same targets written (and only those), the same differences, the same refusal, the same conflict owner, and
//! for a policy removed from the manifests the same deletion.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{Harness, preview_command, wait_for};
use flowlog_operator::api::FlowLogPolicy;
use kube::api::{Patch, PatchParams};
use serde_json::Value;

const EXAMPLES: [&str; 5] = ["web-nsg.yaml", "db-nsg.yaml", "web-dr-nsg.yaml", "app-subnet.yaml", "new-nsg.yaml"];

/// A second policy for web-nsg (loses to `web-nsg` by name) and a VNet flow log for app-vnet (a new VNet flow log).
fn extra_manifests(dir: &Path) {
    let web = std::fs::read_to_string("deploy/examples/web-nsg.yaml").unwrap();
    let second = web.replace("name: web-nsg\n", "name: web-nsg-second\n").replace("days: 30", "days: 90");
    assert_ne!(second, web);
    std::fs::write(dir.join("web-nsg-second.yaml"), second).unwrap();
    let subnet = std::fs::read_to_string("deploy/examples/app-subnet.yaml").unwrap();
    let vnet = subnet
        .replace("name: app-subnet\n", "name: app-vnet\n")
        .replace("/virtualNetworks/app-vnet/subnets/web", "/virtualNetworks/app-vnet");
    assert_ne!(vnet, subnet);
    std::fs::write(dir.join("app-vnet.yaml"), vnet.clone()).unwrap();
    // shared-vnet (West Europe) logged to North Europe's storage account: Azure refuses it.
    let shared = vnet
        .replace("name: app-vnet\n", "name: shared-vnet\n")
        .replace(
            "/resourceGroups/app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet",
            "/resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet",
        )
        .replace("storageAccounts/flowlogsweu001", "storageAccounts/flowlogsneu001");
    assert!(shared.contains("shared-vnet") && shared.contains("flowlogsneu001"), "{shared}");
    std::fs::write(dir.join("shared-vnet.yaml"), shared).unwrap();
}

/// The policies of `dir`, by name: the keeper of a contested target (the first by name) is applied first. Applied
/// the other way round, the loser would own the target alone for a moment and could write before the keeper exists.
fn policies_in(dir: &Path) -> Vec<FlowLogPolicy> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.push(serde_saphyr::from_str::<FlowLogPolicy>(&text).unwrap());
    }
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

async fn plan_json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["plan", "-o", "json"];
    all.extend_from_slice(args);
    let (_, out, err) = preview_command(url, &all).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("plan answers JSON ({e}): {out}{err}"))
}

fn name_of(row: &Value) -> String {
    row["policy"].as_str().unwrap().split_once('/').unwrap().1.to_string()
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn plans_come_true_when_the_controller_applies_the_same_manifests() {
    let h = Harness::start("plan").await;
    h.sim.record_writes();
    let dir = tempfile::tempdir().unwrap();
    for file in EXAMPLES {
        std::fs::copy(Path::new("deploy/examples").join(file), dir.path().join(file)).unwrap();
    }
    extra_manifests(dir.path());
    let path = dir.path().to_str().unwrap();
    let plan = plan_json(&h.sim_url, &["-f", path, "-n", &h.namespace]).await;
    let rows = plan["changes"].as_array().unwrap().clone();
    let action = |name: &str| {
        rows.iter().find(|r| name_of(r) == name).map(|r| r["action"].as_str().unwrap().to_string()).unwrap()
    };
    let planned: Vec<(String, String)> =
        rows.iter().map(|r| (name_of(r), r["action"].as_str().unwrap().into())).collect();
    eprintln!("plan: {planned:?}");
    assert_eq!(action("web-nsg"), "update");
    assert_eq!(action("db-nsg"), "update");
    assert_eq!(action("web-dr-nsg"), "unchanged");
    assert_eq!(action("app-subnet"), "create");
    assert_eq!(action("app-vnet"), "create");
    assert_eq!(action("new-nsg"), "refused");
    assert_eq!(action("web-nsg-second"), "conflict");
    assert_eq!(action("shared-vnet"), "refused");
    assert!(h.sim.writes().is_empty(), "planning wrote nothing");

    // The same manifests, applied to the cluster: the controller does the work.
    let params = PatchParams::apply("e2e-plan").force();
    for policy in policies_in(dir.path()) {
        let name = policy.metadata.name.clone().unwrap();
        h.api.patch(&name, &params, &Patch::Apply(&policy)).await.expect("policy applies");
    }
    for row in &rows {
        let name = name_of(row);
        match row["action"].as_str().unwrap() {
            "unchanged" => {
                let p = h.wait_reason(&name, "InSync").await;
                assert!(p.status.unwrap().last_error.is_none());
            }
            "update" | "create" => {
                let p = h.wait_reason(&name, "Applied").await;
                let ready = p.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
                for d in row["differences"].as_array().unwrap() {
                    let field = d["field"].as_str().unwrap();
                    if row["action"] == "create" {
                        continue; // a create lists the new flow log's settings; the controller says "flowLog: none → present"
                    }
                    let said = format!(
                        "{field}: {} (Azure) → {} (spec)",
                        d["before"].as_str().unwrap(),
                        d["after"].as_str().unwrap()
                    );
                    assert!(
                        ready.message.contains(&said),
                        "{name}: the controller's message {:?} lacks {said:?}",
                        ready.message
                    );
                }
            }
            "refused" => {
                let code = row["code"].as_str().unwrap().to_string();
                let p = wait_for(&format!("{name} refused"), Duration::from_secs(30), || async {
                    let p = h.get(&name).await;
                    let error = p.status.as_ref()?.last_error.as_ref()?;
                    (error.code == code).then_some(p)
                })
                .await;
                let message = p.status.unwrap().last_error.unwrap().message;
                if let Some((_, advice)) = row["message"].as_str().unwrap().split_once("2025-06-30. ") {
                    assert!(message.contains(advice), "the same advice: controller {message:?}, plan {advice:?}");
                }
            }
            "conflict" => {
                let p = h.wait_reason(&name, "Conflict").await;
                let owner = row["owner"].as_str().unwrap();
                let ready = p.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
                assert!(ready.message.contains(owner), "{name}: {:?} names {owner}", ready.message);
            }
            other => panic!("unexpected action {other} for {name}"),
        }
    }
    let written: BTreeSet<String> = h.sim.writes().iter().map(|w| w.target.to_ascii_lowercase()).collect();
    let to_write: BTreeSet<String> = rows
        .iter()
        .filter(|r| matches!(r["action"].as_str(), Some("update" | "create")))
        .map(|r| r["target"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert_eq!(written, to_write, "the controller wrote exactly the targets the plan said it would");
    let again = plan_json(&h.sim_url, &["-f", path, "-n", &h.namespace]).await;
    assert_eq!(
        again["summary"]["create"].as_u64().unwrap() + again["summary"]["update"].as_u64().unwrap(),
        0,
        "{again}"
    );

    // Removing policies from the manifests: db-nsg switches its flow log off (deletionPolicy Disable); the conflict
    // loser never kept its target and leaves Azure alone.
    let after = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        if file != "db-nsg.yaml" && file != "web-nsg-second.yaml" {
            std::fs::copy(&path, after.path().join(file)).unwrap();
        }
    }
    let removal =
        plan_json(&h.sim_url, &["-f", after.path().to_str().unwrap(), "--before", path, "-n", &h.namespace]).await;
    let removed: Vec<(String, String)> = removal["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| matches!(name_of(r).as_str(), "db-nsg" | "web-nsg-second"))
        .map(|r| (name_of(r), r["action"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        removed,
        [("db-nsg".to_string(), "disable".to_string()), ("web-nsg-second".to_string(), "orphan".to_string())]
    );
    let before = h.sim.writes().len();
    h.delete_and_wait(&["db-nsg", "web-nsg-second"], Duration::from_secs(30)).await;
    let writes = h.sim.writes()[before..].to_vec();
    assert_eq!(writes.len(), 1, "one write, db-nsg's flow log off: {writes:?}");
    assert!(writes[0].target.ends_with("/db-nsg") && writes[0].after == Some(false), "{writes:?}");
}

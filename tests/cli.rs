//! The `flowlog-operator` binary's commands that need no cluster.

use std::process::Command;

use flowlog_operator::simulator::Inventory;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
}

#[test]
fn demo_applies_repairs_drift_and_settles() {
    let out = bin().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "retentionPolicy: 7 days (Azure) → 30 days (spec)",
        "operator: in sync, no write",
        "stalled → NsgFlowLogCreationBlocked",
        "2. Drift",
        "enabled: false (Azure) → true (spec)",
        "app-subnet.yaml",
        "flowLog: none (Azure) → present (spec)",
        "traffic analytics every 10 min",
        "Use a VNet flow log instead: create a FlowLogPolicy whose target is the subnet this NSG protects",
        // Only the blocked policy writes in the steady state.
        "ARM calls: queryFlowLogStatus 4, configureFlowLog 1,",
        "flowLogs writes 0",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn printed_inventory_is_the_builtin_one_and_reads_back() {
    let out = bin().args(["sim", "--print-inventory"]).output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(Inventory::from_yaml(&printed).unwrap(), Inventory::builtin());
}

#[test]
fn a_bad_inventory_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.yaml");
    std::fs::write(&path, "subscriptions:\n  - id: s\n    locations: [westeurope]\n    storageAcounts: []\n").unwrap();
    let out = bin().args(["sim", "--inventory"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("inventory") && stderr.contains("storageAcounts"), "{stderr}");
}

/// `crds/` holds a generated artefact: it must be exactly what the code produces.
#[test]
fn crd_command_prints_the_committed_crd() {
    let out = bin().arg("crd").output().unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/flowlogpolicies.flowlog.dev.yaml")).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "crds/flowlogpolicies.flowlog.dev.yaml is stale: regenerate it with `cargo run -- crd > crds/flowlogpolicies.flowlog.dev.yaml`"
    );
}

#[test]
fn run_without_credentials_explains_what_is_missing() {
    let out = bin()
        .args(["run", "--tenant-id", "t", "--client-id", "c"])
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_SECRET_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("AZURE_CLIENT_SECRET"), "{stderr}");
}

/// Every flag of every command is documented in the README.
#[test]
fn readme_documents_every_flag() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for command in ["run", "sim", "demo"] {
        let help = bin().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let flags: Vec<&str> = help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|f| *f != "--help")
            .collect();
        assert!(!flags.is_empty() || command == "demo", "no flags found in `{command} --help`");
        for flag in flags {
            assert!(readme.contains(&format!("{flag}`")), "README.md does not document `{command} {flag}`");
        }
    }
}

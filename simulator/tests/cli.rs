//! The `flowlog-sim` binary's command line.

use std::process::Command;

use flowlog_simulator::Inventory;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowlog-sim"))
}

#[test]
fn printed_inventory_is_the_builtin_one_and_reads_back() {
    let out = bin().arg("--print-inventory").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(Inventory::from_yaml(&printed).unwrap(), Inventory::builtin());
}

#[test]
fn a_bad_inventory_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.yaml");
    std::fs::write(&path, "subscriptions:\n  - id: s\n    locations: [westeurope]\n    storageAcounts: []\n").unwrap();
    let out = bin().arg("--inventory").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("inventory") && stderr.contains("storageAcounts"), "{stderr}");
}

/// Every flag is documented in the simulator's README.
#[test]
fn readme_documents_every_flag() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let help = bin().arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|f| *f != "--help" && *f != "--version")
        .collect();
    assert!(flags.len() >= 3, "no flags found in `flowlog-sim --help`: {help}");
    for flag in flags {
        assert!(readme.contains(&format!("{flag}`")), "simulator/README.md does not document `flowlog-sim {flag}`");
    }
}

/// Delivery needs an https Blob service and a readable CA file: anything else stops start-up with the reason.
#[test]
fn delivery_settings_are_checked_at_start() {
    let out =
        bin().args(["--listen", "127.0.0.1:0", "--storage-endpoint", "http://127.0.0.1:10000/"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not https"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin()
        .args(["--listen", "127.0.0.1:0", "--storage-endpoint", "https://127.0.0.1:10000/"])
        .args(["--storage-ca-file", "/nonexistent/ca.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent/ca.pem"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "not a certificate\n").unwrap();
    let out = bin()
        .args(["--listen", "127.0.0.1:0", "--storage-endpoint", "https://127.0.0.1:10000/", "--storage-ca-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PEM"), "{}", String::from_utf8_lossy(&out.stderr));
    // Delivery flags without a storage endpoint are a usage error.
    let out = bin().args(["--deliver-every", "5"]).output().unwrap();
    assert!(!out.status.success());
}

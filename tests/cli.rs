//! The `flowlog-operator` binary's commands that need no cluster.

use std::process::Command;

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
        // The steady state makes no write: not even the refused one is sent again.
        // The NSGs are read from their watchers' flow-log lists: no queryFlowLogStatus (a POST) without drift.
        "ARM calls: queryFlowLogStatus 0, configureFlowLog 0,",
        "flowLogs writes 0",
        // The example set: two VNets selected, the exempt one left out, both logged, the set compliant.
        "4. A FlowLogPolicySet",
        "2 selected, 1 excluded by tag",
        "retentionPolicy: 30 days (Azure) → 90 days (spec)",
        "set status: 2 targets, 2 compliant, 1 excluded; Ready=True",
        // And the compliance report on it, as `report` prints it.
        "5. The compliance report",
        "2 of 2 targets compliant (100.0%); 0 drifted, 0 applying, 0 failing, 0 not covered; 1 excluded.",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    let region_row =
        stdout.lines().find(|l| l.contains("00000000-0000-0000-0000-000000000001") && l.contains("westeurope"));
    let cells: Vec<&str> = region_row.expect("a row for the subscription's region").split_whitespace().collect();
    assert_eq!(cells[cells.len() - 8..], ["2", "2", "0", "0", "0", "0", "-", "100.0%"], "{stdout}");
    // The flow logs themselves: where web-nsg's blobs are, and its flows decoded as `logs` decodes them.
    let logs = &stdout[stdout.find("6. The flow logs themselves").expect("a step on the flow logs")..];
    assert!(logs.contains("container insights-logs-networksecuritygroupflowevent"), "{logs}");
    assert!(logs.contains("/NETWORKSECURITYGROUPS/WEB-NSG/y="), "{logs}");
    assert!(logs.contains("the last 3 minutes: 3 records,"), "{logs}");
    let table: Vec<&str> = logs.lines().skip_while(|l| !l.trim_start().starts_with("time ")).take(4).collect();
    assert_eq!(table.len(), 4, "a header and three flows: {logs}");
    assert!(table[1..].iter().all(|row| row.contains("tcp") || row.contains("udp")), "{logs}");
}

/// The simulator is not in this binary; `sim` says where it is, and fails (nothing was served).
#[test]
fn sim_says_where_the_simulator_is() {
    let out = bin().args(["sim", "--listen", "127.0.0.1:0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for expected in
        ["not part of the operator's binary", "flowlog-sim", "cargo run -p flowlog-simulator", "simulator/README.md"]
    {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

/// `crds/` holds generated artefacts: each must be exactly what the code produces, and nothing else is there.
/// `crd --kind KIND` prints one file; `crd` prints them all, one after the other, as one multi-document stream (what
/// `kubectl apply -f -` installs in one go).
#[test]
fn crd_command_prints_the_committed_crds() {
    use flowlog_operator::cli::CrdKind;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let mut files: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, CrdKind::ALL.map(CrdKind::file));
    let crd = |args: &[&str]| {
        let out = bin().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let mut all = String::new();
    for (kind, name) in [(CrdKind::FlowLogPolicy, "FlowLogPolicy"), (CrdKind::FlowLogPolicySet, "FlowLogPolicySet")] {
        let committed = std::fs::read_to_string(format!("{dir}/{}", kind.file())).unwrap();
        assert!(
            crd(&["crd", "--kind", name]) == committed,
            "crds/{} is stale: regenerate it with `cargo run -- crd --kind {name} > crds/{}`",
            kind.file(),
            kind.file()
        );
        all.push_str(&committed);
    }
    let printed = crd(&["crd"]);
    assert!(printed == all, "`flowlog-operator crd` should print crds/'s files one after the other");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&printed).unwrap();
    let names: Vec<&str> = docs.iter().filter_map(|d| d["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["flowlogpolicies.flowlog.dev", "flowlogpolicysets.flowlog.dev"], "two YAML documents");
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

/// A tenant or client ID that is not one stops start-up with a message naming the flag, before any request: a
/// backslash tenant would otherwise have moved the token URL (and the client secret) to another host.
#[test]
fn run_refuses_tenant_and_client_ids_that_are_not_ids() {
    let guid = "22222222-2222-2222-2222-222222222222";
    for (tenant, client, named) in [
        ("\\\\evil.example", guid, "AZURE_TENANT_ID (--tenant-id) is not a tenant ID"),
        ("evil.example/x", guid, "AZURE_TENANT_ID (--tenant-id) is not a tenant ID"),
        ("contoso.onmicrosoft.com", "my-app", "AZURE_CLIENT_ID (--client-id) is not a client ID"),
    ] {
        let out = bin()
            .args(["run", "--tenant-id", tenant, "--client-id", client])
            .env("AZURE_CLIENT_SECRET", "s3cr3t")
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(!stderr.contains("evil") && !stderr.contains("s3cr3t") && !stderr.contains("panicked"), "{stderr}");
    }
}

/// A bad `--selector` stops start-up with a message naming it (before any cluster or Azure call), not a panic.
#[test]
fn run_with_a_bad_selector_says_what_is_wrong() {
    let out = bin().args(["run", "--selector", "flowlog.dev/shard in 1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid --selector") && stderr.contains("parentheses"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = bin().args(["run"]).env("FLOWLOG_SELECTOR", "Team_A/x=1").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid --selector") && stderr.contains("prefix"), "{stderr}");
}

/// A usage error exits 1 like any other error: 2 is `report --fail-on-noncompliant`'s "a target is not compliant".
#[test]
fn usage_errors_exit_1_and_help_0() {
    for args in [&["report", "--set", "vnets"][..], &["report", "--output", "yaml"], &["run", "--no-such-flag"]] {
        let out = bin().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
    let out = bin().args(["report", "--set", "vnets"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--namespace"), "names what is missing");
    let out = bin().args(["report", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for expected in ["table", "json", "csv", "markdown", "non-compliant", "coverage", "--fail-on-noncompliant"] {
        assert!(help.contains(expected), "missing {expected:?} in:\n{help}");
    }
}

/// A cluster that does not answer: exit 1, a message that says what the report was doing, nothing on stdout.
#[test]
fn report_without_a_cluster_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kubeconfig = dir.path().join("kubeconfig");
    let config = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": format!("http://127.0.0.1:{port}")}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "gone", "user": "u"}}],
        "current-context": "c",
    });
    std::fs::write(&kubeconfig, config.to_string()).unwrap();
    let out = bin().args(["report", "--fail-on-noncompliant"]).env("KUBECONFIG", &kubeconfig).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: listing flowlogpolicysets.flowlog.dev in all namespaces"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Every flag of every command is documented in the README.
#[test]
fn readme_documents_every_flag() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for command in [
        "run",
        "demo",
        "report",
        "plan",
        "apply",
        "logs",
        "migrate plan",
        "migrate apply",
        "migrate rollback",
        "migrate status",
    ] {
        let help = bin().args(command.split(' ').chain(["--help"])).output().unwrap();
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

/// The README's Layout section lists every folder of the repository and every module of `src/`, and only what is
/// there.
#[test]
fn readme_layout_matches_the_tree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let layout = &readme[readme.find("\n## Layout\n").expect("a Layout section")..];
    let start = layout.find("```\n").unwrap() + 4;
    let block = &layout[start..start + layout[start..].find("```").unwrap()];
    let listed: Vec<&str> =
        block.lines().filter(|l| !l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    for entry in &listed {
        assert!(root.join(entry).exists(), "the README's layout lists {entry}, which does not exist");
    }
    let entries = |dir: &std::path::Path| {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>().into_iter()
    };
    for path in entries(root).filter(|p| p.is_dir()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" || name == "src" {
            continue;
        }
        assert!(listed.contains(&format!("{name}/").as_str()), "the README's layout does not list {name}/");
    }
    for path in entries(&root.join("src")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "lib.rs" || name == "main.rs" {
            continue;
        }
        let expected = if path.is_dir() { format!("src/{name}/") } else { format!("src/{name}") };
        assert!(listed.contains(&expected.as_str()), "the README's layout does not list {expected}");
    }
}

/// Flag and environment values that parse but cannot work stop start-up with a message naming the flag (before any
/// cluster or Azure call), never a panic: a poll interval that would hot-loop, budgets that never refill, endpoints
/// with a password in them, a lease grace longer than the lease, a heartbeat that would churn status.
#[test]
fn run_refuses_flag_values_that_cannot_work() {
    // (flags, environment, what the error must say)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--lro-poll-interval", "0s"], &[], "--lro-poll-interval (FLOWLOG_LRO_POLL_INTERVAL) must be between"),
        (&[], &[("FLOWLOG_LRO_POLL_INTERVAL", "1000000h")], "--lro-poll-interval (FLOWLOG_LRO_POLL_INTERVAL)"),
        (&["--lro-timeout", "0s"], &[], "--lro-timeout (FLOWLOG_LRO_TIMEOUT) must be between"),
        (&["--concurrency", "0"], &[], "--concurrency (FLOWLOG_CONCURRENCY) must be at least 1"),
        (&[], &[("FLOWLOG_CONCURRENCY", "-1")], "invalid value '-1' for '--concurrency"),
        (
            &["--lease-duration", "1s", "--lease-grace", "5s"],
            &[],
            "--lease-grace (FLOWLOG_LEASE_GRACE) must be shorter",
        ),
        (&["--lease-duration", "0s"], &[], "--lease-grace (FLOWLOG_LEASE_GRACE) must be shorter"),
        (&["--status-heartbeat", "0s"], &[], "--status-heartbeat (FLOWLOG_STATUS_HEARTBEAT) must be at least 1m"),
        (&["--credentials-namespaces", "a,,b"], &[], "--credentials-namespaces (FLOWLOG_CREDENTIALS_NAMESPACES)"),
        (&["--arm-read-budget", "1/1e-300"], &[], "refill must be at least 0.01 per second"),
        (&[], &[("FLOWLOG_ARM_WRITE_BUDGET", "ten/1")], "capacity must be a whole number"),
        (&["--arm-read-budget", "4294967296/1"], &[], "capacity must be a whole number"),
        (&["--arm-endpoint", "ftp://example.com/"], &[], "--arm-endpoint (FLOWLOG_ARM_ENDPOINT) must be an http"),
        (
            &["--authority-host", "https://user:hunter2@login.example/"],
            &[],
            "--authority-host (AZURE_AUTHORITY_HOST) must not carry",
        ),
        (&["--imds-endpoint", "file:///etc/passwd"], &[], "--imds-endpoint (FLOWLOG_IMDS_ENDPOINT) must be an http"),
        (&["--metrics-addr", "everywhere"], &[], "--metrics-addr"),
        (&["--lease-duration", "soon"], &[], "--lease-duration"),
        (&["--cloud", "mars"], &[], "unknown Azure cloud \"mars\""),
        (
            &["--check-log-delivery", "true", "--log-silence", "5m", "--log-check-interval", "10m"],
            &[],
            "--log-silence (FLOWLOG_LOG_SILENCE) must be longer than --log-check-interval",
        ),
        (
            &["--check-log-delivery", "true", "--log-check-interval", "100ms"],
            &[],
            "--log-check-interval (FLOWLOG_LOG_CHECK_INTERVAL) must be at least 1s",
        ),
        (&[], &[("FLOWLOG_STORAGE_READ_BUDGET", "0/1")], "capacity and refill must be positive"),
        (
            &["--storage-origin", "http://azurite.local:10000"],
            &[],
            "--storage-origin (FLOWLOG_STORAGE_ORIGIN) must be an https URL",
        ),
    ];
    for (args, env, named) in cases {
        let mut command = bin();
        command
            .arg("run")
            .args(*args)
            .env("KUBECONFIG", "/nonexistent")
            .env("AZURE_TENANT_ID", "11111111-1111-1111-1111-111111111111")
            .env("AZURE_CLIENT_ID", "22222222-2222-2222-2222-222222222222")
            .env("AZURE_CLIENT_SECRET", "s3cr3t");
        for (k, v) in *env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} {env:?} should say {named:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("hunter2") && !stderr.contains("s3cr3t"), "{stderr}");
        assert!(!stderr.contains("KUBECONFIG"), "refused before the cluster is asked: {stderr}");
    }
}

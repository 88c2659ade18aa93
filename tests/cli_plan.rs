//! `flowlog-operator plan -f` and `apply -f` as a user runs them, against the simulator (no cluster): the three
//! formats, the exit codes, bad manifests refused with the apiserver's verdict and nothing written, apply converging
//! and a second plan finding nothing to do. `e2e_plan` compares plans with what the controller then does.

mod common;

use std::path::Path;

use common::{preview_command, sim};
use flowlog_simulator::Inventory;

/// The example policies of `deploy/examples/` (not the set, not new-nsg unless asked), copied into `dir`.
fn examples(dir: &Path, with_blocked_nsg: bool) {
    for file in ["web-nsg.yaml", "db-nsg.yaml", "web-dr-nsg.yaml", "app-subnet.yaml"]
        .into_iter()
        .chain(with_blocked_nsg.then_some("new-nsg.yaml"))
    {
        let text = std::fs::read_to_string(Path::new("deploy/examples").join(file)).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }
}

async fn simulator() -> (flowlog_simulator::Simulator, String) {
    let mut inventory = Inventory::builtin();
    sim::quick_operations(&mut inventory);
    let (sim, url) = sim::start(inventory).await;
    sim.record_writes();
    (sim, url)
}

#[tokio::test]
async fn plan_says_what_would_change_in_three_formats_and_exit_codes() {
    let (sim, url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    examples(dir.path(), false);
    let path = dir.path().to_str().unwrap();

    let (code, text, stderr) = preview_command(&url, &["plan", "-f", path]).await;
    assert_eq!(code, 0, "changes without --detailed-exitcode exit 0: {stderr}");
    assert!(text.contains("~ update app-prod-rg/web-nsg (default/web-nsg, "), "{text}");
    assert!(text.contains("    retentionPolicy: 7 days → 30 days\n"), "{text}");
    assert!(text.contains("+ create app-prod-rg/app-vnet/web (default/app-subnet, "), "{text}");
    assert!(text.contains("    flowLog: none → new\n"), "{text}");
    assert!(!text.contains("web-dr-nsg"), "unchanged targets are only counted:\n{text}");
    assert!(text.ends_with("Plan: 1 to create, 2 to update, 0 to disable, 0 to delete; 1 unchanged.\n"), "{text}");

    let (code, _, _) = preview_command(&url, &["plan", "-f", path, "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "changes with --detailed-exitcode");
    let (_, all, _) = preview_command(&url, &["plan", "-f", path, "--show-unchanged"]).await;
    assert!(all.contains("= unchanged app-dr-rg/web-dr-nsg (default/web-dr-nsg, "), "{all}");

    let (code, md, _) = preview_command(&url, &["plan", "-f", path, "-o", "markdown", "-n", "team-a"]).await;
    assert_eq!(code, 0);
    assert!(
        md.starts_with("## Flow-log plan\n\n**1 to create, 2 to update, 0 to disable, 0 to delete; 1 unchanged.**\n"),
        "{md}"
    );
    assert!(md.contains("| ~ | update | `app-prod-rg/web-nsg` | team-a/web-nsg ("), "{md}");

    let (code, json, _) = preview_command(&url, &["plan", "-f", path, "-o", "json"]).await;
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!((json["summary"]["create"].as_u64(), json["summary"]["update"].as_u64()), (Some(1), Some(2)));
    let actions: Vec<&str> =
        json["changes"].as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(actions.len(), 4, "JSON lists every target: {actions:?}");
    assert!(sim.writes().is_empty(), "plan never writes: {:?}", sim.writes());
    assert_eq!(
        common::count(&sim, "configureFlowLog") + common::count(&sim, "queryFlowLogStatus"),
        0,
        "not even a POST"
    );

    // A refusal is a problem: exit 1 in any mode, with Azure's reason and the advice.
    examples(dir.path(), true);
    let (code, text, _) = preview_command(&url, &["plan", "-f", path, "--detailed-exitcode"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("! refused app-prod-rg/new-nsg (default/new-nsg, "), "{text}");
    assert!(text.contains("NsgFlowLogCreationBlocked: Azure refuses to create NSG flow logs since 2025-06-30. Use a VNet flow log instead: create a FlowLogPolicy whose target is the subnet this NSG protects: "), "{text}");
}

#[tokio::test]
async fn bad_manifests_get_the_apiservers_verdict_and_nothing_is_written() {
    let (sim, url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    examples(dir.path(), false);
    let bad = std::fs::read_to_string("tests/manifests/validate/bad-policy-enabled-without-storage.yaml").unwrap();
    std::fs::write(dir.path().join("zz-bad.yaml"), bad.replace("name: web", "name: broken")).unwrap();
    let path = dir.path().to_str().unwrap();

    let (code, text, _) = preview_command(&url, &["plan", "-f", path]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("zz-bad.yaml#0 FlowLogPolicy broken: the apiserver would refuse it\n"), "{text}");
    assert!(text.contains("    spec.flowLog: Invalid value: "), "the apiserver's field and words: {text}");
    assert!(text.contains("1 invalid manifest(s)"), "{text}");

    let (code, text, stderr) = preview_command(&url, &["apply", "-f", path, "--yes"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(stderr.contains("the manifests have errors (above): nothing was changed in Azure"), "{stderr}");
    assert!(sim.writes().is_empty(), "nothing written: {:?}", sim.writes());

    // Not a manifest at all, and an unreadable path: clear errors.
    std::fs::write(dir.path().join("zz-bad.yaml"), "just: [a, list\n").unwrap();
    let (code, text, _) = preview_command(&url, &["plan", "-f", path]).await;
    assert_eq!(code, 1);
    assert!(text.contains("zz-bad.yaml#0 (no kind): the apiserver would refuse it"), "{text}");
    let (code, _, stderr) = preview_command(&url, &["plan", "-f", "/nonexistent/manifests"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("reading the manifests") && stderr.contains("/nonexistent/manifests"), "{stderr}");
}

#[tokio::test]
async fn apply_asks_first_converges_and_a_second_plan_finds_nothing() {
    let (sim, url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    examples(dir.path(), false);
    let path = dir.path().to_str().unwrap();

    let (code, _, stderr) = preview_command(&url, &["apply", "-f", path]).await;
    assert_eq!(code, 1, "without a terminal, --yes is required");
    assert!(stderr.contains("add --yes"), "{stderr}");
    assert!(sim.writes().is_empty());

    let (code, text, stderr) = preview_command(&url, &["apply", "-f", path, "--yes"]).await;
    assert_eq!(code, 0, "{text}{stderr}");
    assert!(text.contains("Applied 3 of 3 change(s) in "), "{text}");
    for n in 1..=3 {
        assert!(stderr.contains(&format!("[apply] {n}/3 ")), "progress {n}/3: {stderr}");
    }
    let written: std::collections::BTreeSet<String> =
        sim.writes().iter().map(|w| w.target.to_ascii_lowercase()).collect();
    assert_eq!(written.len(), 3, "one write per changed target: {:?}", sim.writes());
    assert!(!written.iter().any(|t| t.contains("web-dr-nsg")), "the unchanged target is not written");

    let (code, text, _) = preview_command(&url, &["plan", "-f", path, "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(text, "Plan: 0 to create, 0 to update, 0 to disable, 0 to delete; 4 unchanged.\n");
    let (code, text, _) = preview_command(&url, &["apply", "-f", path]).await;
    assert_eq!(
        (code, text.as_str()),
        (
            0,
            "Plan: 0 to create, 0 to update, 0 to disable, 0 to delete; 4 unchanged.\nNothing to apply: Azure matches the manifests.\n"
        )
    );

    // A policy removed from the manifests: its deletion policy (Disable, the default) switches its flow log off.
    let after = tempfile::tempdir().unwrap();
    examples(after.path(), false);
    std::fs::remove_file(after.path().join("db-nsg.yaml")).unwrap();
    let after = after.path().to_str().unwrap();
    let (code, text, _) = preview_command(&url, &["plan", "-f", after, "--before", path, "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("- disable app-prod-rg/db-nsg (default/db-nsg, ") && text.contains("    enabled: true → false\n"),
        "{text}"
    );
    let before = sim.writes().len();
    let (code, text, stderr) = preview_command(&url, &["apply", "-f", after, "--before", path, "--yes"]).await;
    assert_eq!(code, 0, "{text}{stderr}");
    let writes = sim.writes();
    assert_eq!(writes.len(), before + 1, "{writes:?}");
    let last = writes.last().unwrap();
    assert!(last.target.ends_with("/db-nsg") && last.after == Some(false), "{last:?}");
    let (code, text, _) = preview_command(&url, &["plan", "-f", after, "--before", path, "--detailed-exitcode"]).await;
    assert_eq!((code, text.as_str()), (0, "Plan: 0 to create, 0 to update, 0 to disable, 0 to delete; 4 unchanged.\n"));
}

/// The README's worked example is this command's real output on the built-in simulator.
#[tokio::test]
async fn the_readme_example_is_the_real_output() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let command = "$ flowlog-operator plan -f deploy/examples/ -n team-a";
    let start = readme.find(command).expect("the README shows the example");
    let block = &readme[start..];
    let block = &block[block.find('\n').unwrap() + 1..block.find("$ echo $?").expect("and its exit status")];
    let (_, url) = simulator().await;
    let (code, text, stderr) = preview_command(&url, &["plan", "-f", "deploy/examples/", "-n", "team-a"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(text, block, "README.md's example differs from the output");
    let status = &readme[start..];
    let status = &status[status.find("$ echo $?\n").unwrap() + 10..];
    assert!(status.starts_with("1\n"), "the README shows exit status 1");
}

/// `kustomize build | flowlog-operator plan -f -`: one stream on stdin, documents of other kinds left out.
#[tokio::test]
async fn plan_reads_a_stream_from_stdin() {
    use tokio::io::AsyncWriteExt as _;
    let (_, url) = simulator().await;
    let mut stream = String::from("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n");
    for file in ["web-nsg.yaml", "web-dr-nsg.yaml"] {
        stream.push_str("---\n");
        stream.push_str(&std::fs::read_to_string(Path::new("deploy/examples").join(file)).unwrap());
    }
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"))
        .args(["plan", "-f", "-", "-n", "team-a", "--arm-endpoint", &format!("{url}/"), "--authority-host"])
        .arg(format!("{url}/"))
        .env("AZURE_TENANT_ID", flowlog_simulator::DEFAULT_TENANT_ID)
        .env("AZURE_CLIENT_ID", flowlog_simulator::DEFAULT_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", flowlog_simulator::DEFAULT_CLIENT_SECRET)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream.as_bytes()).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("~ update app-prod-rg/web-nsg (team-a/web-nsg, -#1)\n"), "{text}");
    assert!(text.contains("ignored (not a flowlog.dev kind): -#0 Namespace team-a\n"), "{text}");
    assert!(text.ends_with("Plan: 0 to create, 1 to update, 0 to disable, 0 to delete; 1 unchanged.\n"), "{text}");
}

/// A set whose selection shrinks between `--before` and `-f`: the policies it drops are pruned and their deletion
/// policy runs, unless the prune is over the set's guard (`maxPrunePercent`), which holds it back as the set
/// controller does.
#[tokio::test]
async fn a_shrinking_set_prunes_within_its_guard_and_holds_back_beyond_it() {
    let (sim, url) = simulator().await;
    let set = std::fs::read_to_string("deploy/examples/sets/all-vnets.yaml").unwrap();
    let write = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("set.yaml"), text).unwrap();
        dir
    };
    let before = write(&set);
    let shared = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet";
    // One of its two VNets dropped: 50 %, within the default guard.
    let one = write(&set.replace("    excludeTags:\n", &format!("    excludeIds: [{shared}]\n    excludeTags:\n")));
    let args = |after: &tempfile::TempDir| {
        vec![
            "plan".to_string(),
            "-f".into(),
            after.path().display().to_string(),
            "--before".into(),
            before.path().display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let url = url.clone();
        async move { preview_command(&url, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let (code, text, _) = run(args(&one)).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("- disable shared-net-rg/shared-vnet (default/all-vnets-shared-vnet-"), "{text}");
    assert!(text.contains("    enabled: true → false\n"), "{text}");
    assert!(!text.contains("warning:"), "{text}");
    // Both dropped: 100 %, over the guard: nothing is pruned, and the plan says why.
    let both = write(&set.replace("regions: [westeurope, northeurope]", "regions: [northeurope]"));
    let (code, text, _) = run(args(&both)).await;
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("- disable"), "{text}");
    assert!(text.contains("warning: FlowLogPolicySet default/all-vnets: the change drops 2 of its 2 policies, more than spec.pruning.maxPrunePercent (50%)"), "{text}");
    assert!(text.contains("flowlog.dev/confirm-prune=prune-2-"), "{text}");
    assert!(sim.writes().is_empty());
}

/// `apply` spends the operator's ARM budgets: with a write budget of one request per second (and a burst of one),
/// its three writes (and the NSG drift confirmations, which ARM counts as writes) are spread a second apart.
#[tokio::test]
async fn apply_keeps_to_the_arm_write_budget() {
    let (sim, url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    examples(dir.path(), false);
    let path = dir.path().to_str().unwrap();
    let (code, text, stderr) =
        preview_command(&url, &["apply", "-f", path, "--yes", "--arm-write-budget", "1/1", "--concurrency", "4"]).await;
    assert_eq!(code, 0, "{text}{stderr}");
    let writes = sim.writes();
    assert_eq!(writes.len(), 3, "{writes:?}");
    let posts = common::count(&sim, "configureFlowLog")
        + common::count(&sim, "queryFlowLogStatus")
        + common::count(&sim, "flowLogsCreateOrUpdate");
    let spread = writes.last().unwrap().at_ms - writes.first().unwrap().at_ms;
    // n write requests at one per second after a burst of one: the last at least n - 1 seconds after the first
    // request, and the flow-log changes land within that.
    assert!(posts >= 3, "{posts} write requests");
    assert!(spread >= 1500, "three writes 1/s apart need about 2 s, took {spread} ms ({writes:?})");
}

/// A plan of a fleet reads each watcher's flow logs once (every page), not each target: 400 NSG policies cost a
/// few list pages. Prints the time and the requests.
#[tokio::test]
async fn a_plan_of_a_fleet_lists_each_watcher_once() {
    const N: usize = 400;
    let mut inventory = Inventory::builtin();
    sim::quick_operations(&mut inventory);
    let subscription = &mut inventory.subscriptions[0];
    for i in 0..N {
        let nsg =
            common::fleet::nsg_with_flow_log(&format!("fleet-{i:04}"), "fleet-rg", "westeurope", "flowlogsweu001", 7);
        subscription.network_security_groups.push(nsg);
    }
    let (sim, url) = sim::start(inventory).await;
    let dir = tempfile::tempdir().unwrap();
    let web = std::fs::read_to_string("deploy/examples/web-nsg.yaml").unwrap();
    let mut stream = String::new();
    for i in 0..N {
        stream.push_str("---\n");
        stream.push_str(&web.replace("name: web-nsg\n", &format!("name: fleet-{i:04}\n")).replace(
            "app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg",
            &format!("fleet-rg/providers/Microsoft.Network/networkSecurityGroups/fleet-{i:04}"),
        ));
    }
    std::fs::write(dir.path().join("fleet.yaml"), stream).unwrap();
    sim.reset_counters();
    let started = std::time::Instant::now();
    let (code, text, stderr) = preview_command(&url, &["plan", "-f", dir.path().to_str().unwrap(), "-o", "json"]).await;
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["summary"]["update"].as_u64(), Some(N as u64), "{}", json["summary"]);
    let counters = sim.counters();
    let requests: u64 = counters.iter().filter(|(op, _)| *op != "token").map(|(_, n)| *n).sum();
    println!("plan of {N} NSG policies: {:.1} s, {requests} ARM requests {counters:?}", took.as_secs_f64());
    assert!(stderr.contains(&format!("[plan] read {N} of {N} targets")), "progress on stderr: {stderr}");
    let lists = counters.get("flowLogsList").copied().unwrap_or(0);
    assert!(lists >= 1 && requests <= lists + 2, "only the watcher's list pages: {counters:?}");
}

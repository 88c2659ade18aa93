//! The Helm chart under test (`charts/flowlog-operator`): the pinned helm (`tests/tools/install-helm.sh`, built once
//! and cached outside the repository), kubectl (`FLOWLOG_KUBECTL`), `helm template` and the rendered objects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/flowlog-operator");
/// The test control plane's version (tests/envtest/install.sh); helm built from source otherwise assumes 1.20.
pub const KUBE_VERSION: &str = "v1.35.4";

/// The pinned helm, built once and cached outside the repo.
pub fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out =
            Command::new(format!("{ROOT}/tests/tools/install-helm.sh")).stderr(Stdio::inherit()).output().unwrap();
        assert!(out.status.success(), "tests/tools/install-helm.sh failed");
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("install-helm.sh prints the binary path").trim())
    })
}

/// kubectl matching the test control plane (`FLOWLOG_KUBECTL`), or the one on the PATH.
pub fn kubectl() -> Command {
    let mut c = Command::new(std::env::var("FLOWLOG_KUBECTL").unwrap_or_else(|_| "kubectl".into()));
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd` (feeding it `stdin`) and collects its output.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_string();
        std::thread::spawn(move || pipe.write_all(input.as_bytes()).unwrap());
    }
    child.wait_with_output().unwrap()
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and asserts success; returns stdout.
pub fn ok(cmd: Command, stdin: Option<&str>) -> String {
    let what = format!("{cmd:?}");
    let out = run(cmd, stdin);
    assert!(out.status.success(), "{what} failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// `helm template` of the chart; `values` are files relative to the chart or absolute paths.
pub fn template(release: &str, namespace: &str, values: &[&str], sets: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(helm());
    cmd.args(["template", release, CHART, "--namespace", namespace, "--kube-version", KUBE_VERSION]);
    for v in values {
        let path = if v.starts_with('/') { v.to_string() } else { format!("{CHART}/{v}") };
        cmd.args(["--values", &path]);
    }
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = run(cmd, None);
    if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) }
}

/// `helm template`, which must succeed, as its objects.
pub fn render(release: &str, namespace: &str, values: &[&str], sets: &[&str]) -> Vec<Value> {
    let yaml = template(release, namespace, values, sets).unwrap_or_else(|e| panic!("helm template failed: {e}"));
    docs(&yaml)
}

/// The objects of a multi-document YAML stream (empty documents left out).
pub fn docs(yaml: &str) -> Vec<Value> {
    let all: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("bad YAML: {e}\n{yaml}"));
    all.into_iter().filter(|d| !d.is_null()).collect()
}

/// `Kind/name` of each object.
pub fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| format!("{}/{}", d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap()))
        .collect()
}

/// The first object of `kind` (named `name`, when given); panics when there is none.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && name.is_none_or(|n| d["metadata"]["name"] == n))
        .unwrap_or_else(|| panic!("no {kind} {name:?} in {:?}", kinds(docs)))
}

/// Every object of `kind`.
pub fn all_of<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

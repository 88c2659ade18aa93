//! Installing the operator: the Helm chart (`charts/flowlog-operator`), the kustomize base and overlays
//! (`deploy/kustomize`), and the least-privilege RBAC they carry.
//!
//! Without a control plane: the chart's CRD and versions, its README, `helm lint`, the values schema, and what each
//! credential mode and cloud renders. With one (`tests/run.sh --test install_chart`): every rendering and overlay applied
//! with `kubectl apply --server-side --dry-run=server` (Pod Security "restricted" warnings count as failures),
//! `kubectl auth can-i` for the chart's ServiceAccount, and the operator binary run with a token of that ServiceAccount
//! (env taken from the rendered Deployment) reconciling a policy against the simulator.
//! helm is pinned and cached by `tests/tools/install-helm.sh`; kubectl comes from `FLOWLOG_KUBECTL`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::chart::{
    CHART, KUBE_VERSION, ROOT, all_of, docs, find, helm, kinds, kubectl, ok, render, run, template, text,
};
use common::{nsg, spawn_simulator_binary, storage, wait_for, web_nsg_spec};
use flowlog_operator::api::{FlowLogPolicy, FlowLogPolicySet};
use flowlog_simulator as simulator;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// The operator's CRDs, by name (the chart's `crds/` holds one file each, `<name>.yaml`).
const CRDS: [&str; 2] = ["flowlogpolicies.flowlog.dev", "flowlogpolicysets.flowlog.dev"];

// ------------------------------------------------------------------------------------------ the rendered pod

fn pod_spec(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", None)["spec"]["template"]["spec"]
}

fn operator_container(docs: &[Value]) -> &Value {
    let containers = pod_spec(docs)["containers"].as_array().unwrap();
    containers.iter().find(|c| c["name"] == "operator").expect("an `operator` container")
}

/// The container's env as name → entry (each name at most once).
fn env_of(container: &Value) -> BTreeMap<String, Value> {
    let mut env = BTreeMap::new();
    for e in container["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        assert!(env.insert(name.clone(), e.clone()).is_none(), "env {name} twice");
    }
    env
}

fn env_value(env: &BTreeMap<String, Value>, name: &str) -> Option<String> {
    env.get(name).map(|e| e["value"].as_str().unwrap_or_else(|| panic!("{name} is not a literal: {e}")).to_string())
}

fn values_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(format!("{CHART}/ci"))
        .unwrap()
        .map(|e| format!("ci/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with("-values.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    files
}

// ---------------------------------------------------------------------------------------------- no cluster

/// The chart and the kustomize base ship both CRDs the binary generates (the same as `crds/`), and nothing else in
/// their `crds/`; the kustomization lists both.
#[test]
fn chart_and_kustomize_crds_are_the_generated_crd() {
    let generated: Vec<(String, String)> = [
        ("FlowLogPolicy", "flowlogpolicies.flowlog.dev.yaml"),
        ("FlowLogPolicySet", "flowlogpolicysets.flowlog.dev.yaml"),
    ]
    .into_iter()
    .map(|(kind, file)| {
        let out = Command::new(env!("CARGO_BIN_EXE_flowlog-operator")).args(["crd", "--kind", kind]).output().unwrap();
        assert!(out.status.success(), "crd --kind {kind}: {}", text(&out.stderr));
        (file.to_string(), text(&out.stdout))
    })
    .collect();
    let expected_files: Vec<&str> = generated.iter().map(|(f, _)| f.as_str()).collect();
    for copy in ["charts/flowlog-operator/crds", "deploy/kustomize/base/crds"] {
        let mut files: Vec<String> = std::fs::read_dir(format!("{ROOT}/{copy}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, expected_files, "{copy} holds exactly the generated CRDs");
        for (file, yaml) in &generated {
            let shipped = std::fs::read_to_string(format!("{ROOT}/{copy}/{file}")).unwrap();
            assert!(
                shipped == *yaml,
                "{copy}/{file} differs from what `flowlog-operator crd` generates: regenerate it with charts/update-crds.sh"
            );
        }
    }
    let kustomization: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(format!("{ROOT}/deploy/kustomize/base/kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let resources: Vec<&str> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for (file, _) in &generated {
        assert!(resources.contains(&format!("crds/{file}").as_str()), "the kustomization lists crds/{file}");
    }
}

/// appVersion, the default image tag of the kustomize base and the image's version label are the crate version.
#[test]
fn chart_versions_match_the_crate() {
    let version = env!("CARGO_PKG_VERSION");
    let chart: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{CHART}/Chart.yaml")).unwrap()).unwrap();
    assert_eq!(chart["appVersion"], version, "Chart.yaml appVersion must be the crate version {version}");
    assert_eq!(chart["apiVersion"], "v2");
    let kustomization: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(format!("{ROOT}/deploy/kustomize/base/kustomization.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(kustomization["images"][0]["newTag"], version, "deploy/kustomize/base image tag");
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("ARG VERSION={version}")), "Dockerfile's ARG VERSION must be {version}");
}

/// Leaf paths of values.yaml, descending only where values.schema.json declares `properties` (elsewhere the value is
/// a Kubernetes object or list passed through as a whole).
fn value_paths(value: &Value, schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let props = schema.get("properties").and_then(Value::as_object);
    match (value.as_object(), props) {
        (Some(map), Some(props)) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                let sub = props.get(k).unwrap_or_else(|| panic!("values.yaml key {path} is not in values.schema.json"));
                value_paths(v, sub, &path, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_value_is_documented_in_the_chart_readme() {
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{CHART}/values.yaml")).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{CHART}/values.schema.json")).unwrap()).unwrap();
    let readme = std::fs::read_to_string(format!("{CHART}/README.md")).unwrap();
    let mut paths = Vec::new();
    value_paths(&values, &schema, "", &mut paths);
    assert!(paths.len() > 60, "{paths:?}");
    // The rows of the "## Values" table.
    let section = readme.split("\n## Values\n").nth(1).expect("a `## Values` section").split("\n## ").next().unwrap();
    let table: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let missing: Vec<_> = paths.iter().filter(|p| !table.contains(*p)).collect();
    assert!(missing.is_empty(), "values missing from the table in charts/flowlog-operator/README.md: {missing:?}");
    let known: BTreeSet<&String> = paths.iter().collect();
    let stale: Vec<_> = table.iter().filter(|k| !known.contains(k)).collect();
    assert!(stale.is_empty(), "charts/flowlog-operator/README.md documents values that do not exist: {stale:?}");
}

#[test]
fn helm_lint_passes_for_every_values_file() {
    for file in values_files() {
        let mut cmd = Command::new(helm());
        cmd.args(["lint", CHART, "--strict", "--kube-version", KUBE_VERSION, "--values"])
            .arg(format!("{CHART}/{file}"));
        let out = ok(cmd, None);
        assert!(out.contains("0 chart(s) failed"), "{file}: {out}");
    }
    // The files cover every credential mode and every cloud.
    let mut modes = BTreeSet::new();
    let mut clouds = BTreeSet::new();
    for file in values_files() {
        let env = env_of(operator_container(&render("lint", "ns", &[&file], &[])));
        modes.insert(env_value(&env, "FLOWLOG_AUTH").unwrap());
        clouds.insert(env_value(&env, "FLOWLOG_CLOUD").unwrap_or_else(|| "custom".into()));
    }
    assert_eq!(modes, BTreeSet::from(["client-secret", "managed-identity", "workload-identity"].map(String::from)));
    assert_eq!(clouds, BTreeSet::from(["china", "custom", "public", "usgovernment"].map(String::from)));
}

/// values.schema.json (and the chart's own checks) reject bad values at install time, naming what is wrong.
#[test]
fn bad_values_are_rejected_at_install_time() {
    let wi = &["ci/workload-identity-values.yaml"][..];
    let cs = &["ci/client-secret-values.yaml"][..];
    // The same values without the bad setting render: each failure below is caused by the setting alone.
    for base in [wi, cs] {
        template("t", "ns", base, &[]).unwrap();
    }
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&[], &[], "/azure/clientId"), // workload identity (the default mode) without a client ID
        (wi, &["azure.auth.mode=password"], "/azure/auth/mode"),
        (wi, &["azure.cloud=germany"], "/azure/cloud"),
        (wi, &["azure.clientId=not-a-guid"], "/azure/clientId"),
        (wi, &["azure.tenantId=not a tenant"], "/azure/tenantId"),
        (wi, &["azure.cloud=custom"], "/azure/armEndpoint"),
        (wi, &["azure.cloud=custom", "azure.armEndpoint=https://arm.example/"], "/azure/authorityHost"),
        (wi, &["azure.armEndpoint=management.azure.com"], "/azure/armEndpoint"),
        (cs, &["azure.tenantId="], "/azure/tenantId"),
        (cs, &["azure.auth.clientSecret.existingSecret="], "/azure/auth/clientSecret"),
        (
            cs,
            &["azure.auth.clientSecret.existingSecret=", "azure.auth.clientSecret.create=true"],
            "/azure/auth/clientSecret",
        ),
        (cs, &["azure.auth.clientSecret.create=true", "azure.auth.clientSecret.value=x"], "not both"),
        (wi, &["replicaCount=0"], "/replicaCount"),
        (wi, &["leaderElection.enabled=false"], "/replicaCount"),
        (wi, &["leaderElection.leaseDuration=15"], "/leaderElection/leaseDuration"),
        (wi, &["operator.lroTimeout=ten minutes"], "/operator/lroTimeout"),
        (wi, &["operator.lroPollInterval=0s"], "operator.lroPollInterval (0s) must be between 100ms and 1h"),
        (wi, &["operator.lroPollInterval=2h"], "operator.lroPollInterval (2h) must be between 100ms and 1h"),
        (wi, &["operator.lroTimeout=500ms"], "operator.lroTimeout (500ms) must be between 1s and 24h"),
        (wi, &["operator.statusHeartbeat=30s"], "operator.statusHeartbeat (30s) must be at least 1m"),
        (
            wi,
            &["operator.logDelivery.enabled=true", "operator.logDelivery.silence=5m"],
            "operator.logDelivery.silence (5m) must be longer than operator.logDelivery.checkInterval (10m)",
        ),
        (wi, &["operator.logDelivery.storageReadBudget=lots"], "/operator/logDelivery/storageReadBudget"),
        (wi, &["operator.logDelivery.storageOrigin=http://x"], "/operator/logDelivery/storageOrigin"),
        (
            wi,
            &["leaderElection.leaseDuration=5s"],
            "leaderElection.leaseGrace (5s) must be shorter than leaderElection.leaseDuration (5s)",
        ),
        (wi, &["operator.shutdownGrace=1m"], "operator.shutdownGrace (1m) must end at least 5s before"),
        (wi, &["operator.shutdownGrace=5 seconds"], "/operator/shutdownGrace"),
        (wi, &["operator.logFormat=xml"], "/operator/logFormat"),
        (wi, &["operator.watchNamespace=Team_A"], "/operator/watchNamespace"),
        (wi, &["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (wi, &["image.digest=latest"], "/image/digest"),
        (wi, &["metrics.port=80000"], "/metrics/port"),
        (wi, &["rbac.secrets.mode=all"], "/rbac/secrets/mode"),
        (wi, &["rbac.secrets.mode=namespaces"], "/rbac/secrets/namespaces"),
        (wi, &["rbac.secrets.mode=namespaces", "rbac.secrets.namespaces={Team_B}"], "/rbac/secrets/namespaces/0"),
        (wi, &["extraEnv[0].name=FLOWLOG_CONCURRENCY", "extraEnv[0].value=8"], "extraEnv sets FLOWLOG_CONCURRENCY"),
        (wi, &["serviceAccount.create=false"], "serviceAccount.name is required"),
        (wi, &["replicas=3"], "replicas"), // a typo: unknown keys are refused
        (wi, &["azure.clientSecret=x"], "clientSecret"),
    ];
    for (values, sets, expected) in cases {
        match template("t", "ns", values, sets) {
            Ok(_) => panic!("{values:?} {sets:?} rendered; it must be rejected"),
            Err(e) => assert!(e.contains(expected), "{values:?} {sets:?}: the error should name {expected:?}:\n{e}"),
        }
    }
}

#[test]
fn each_credential_mode_renders_its_wiring() {
    // Workload identity: ServiceAccount annotations, pod label, no secret anywhere; the webhook injects the rest.
    let d = render("fo", "flowlog-system", &["ci/workload-identity-values.yaml"], &[]);
    let sa = find(&d, "ServiceAccount", Some("fo-flowlog-operator"));
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    );
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/tenant-id"],
        "11111111-1111-1111-1111-111111111111"
    );
    assert_eq!(sa["automountServiceAccountToken"], false);
    let pod = &find(&d, "Deployment", None)["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["azure.workload.identity/use"], "true");
    assert_eq!(pod["spec"]["serviceAccountName"], "fo-flowlog-operator");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], true);
    let env = env_of(operator_container(&d));
    assert_eq!(env_value(&env, "FLOWLOG_AUTH").as_deref(), Some("workload-identity"));
    for injected in [
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_SECRET_FILE",
        "AZURE_FEDERATED_TOKEN_FILE",
    ] {
        assert!(!env.contains_key(injected), "{injected} must be left to the webhook / absent");
    }
    assert!(all_of(&d, "Secret").is_empty());

    // Client secret from an existing Secret, mounted as a file (the default): not in the environment.
    let d = render("fo", "flowlog-system", &["ci/client-secret-values.yaml"], &[]);
    let env = env_of(operator_container(&d));
    assert_eq!(env_value(&env, "FLOWLOG_AUTH").as_deref(), Some("client-secret"));
    assert_eq!(env_value(&env, "AZURE_TENANT_ID").as_deref(), Some("11111111-1111-1111-1111-111111111111"));
    assert_eq!(env_value(&env, "AZURE_CLIENT_ID").as_deref(), Some("22222222-2222-2222-2222-222222222222"));
    assert!(!env.contains_key("AZURE_CLIENT_SECRET"));
    let file = env_value(&env, "AZURE_CLIENT_SECRET_FILE").unwrap();
    let mount = &operator_container(&d)["volumeMounts"][0];
    assert_eq!(mount["readOnly"], true);
    assert_eq!(file, format!("{}/clientSecret", mount["mountPath"].as_str().unwrap()));
    let volume = &pod_spec(&d)["volumes"][0];
    assert_eq!(volume["name"], mount["name"]);
    assert_eq!(volume["secret"]["secretName"], "flowlog-operator-azure");
    assert_eq!(volume["secret"]["defaultMode"], 0o440);
    assert!(find(&d, "ServiceAccount", None)["metadata"].get("annotations").is_none());
    assert!(pod_spec(&d).get("labels").is_none());
    assert!(all_of(&d, "Secret").is_empty(), "an existing Secret is not rendered");

    // Client secret created by the chart, passed by secretKeyRef; the pods roll when it changes.
    let d = render("fo", "flowlog-system", &["ci/client-secret-env-values.yaml"], &[]);
    let secret = find(&d, "Secret", Some("fo-flowlog-operator-azure"));
    assert_eq!(secret["data"]["clientSecret"], "bm90LWEtcmVhbC1zZWNyZXQ="); // base64("not-a-real-secret")
    let env = env_of(operator_container(&d));
    assert_eq!(
        env["AZURE_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"],
        json!({"name": "fo-flowlog-operator-azure", "key": "clientSecret"})
    );
    assert!(!env.contains_key("AZURE_CLIENT_SECRET_FILE"));
    let annotations = &find(&d, "Deployment", None)["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["checksum/azure-secret"].as_str().is_some_and(|s| s.len() == 64), "{annotations}");
    let other = render(
        "fo",
        "flowlog-system",
        &["ci/client-secret-env-values.yaml"],
        &["azure.auth.clientSecret.value=rotated"],
    );
    assert_ne!(annotations, &find(&other, "Deployment", None)["spec"]["template"]["metadata"]["annotations"]);
    assert_eq!(find(&d, "Deployment", None)["spec"]["replicas"], 1);
    assert_eq!(env_value(&env, "FLOWLOG_LEADER_ELECT").as_deref(), Some("false"));

    // Managed identity: a user-assigned client ID, and the NetworkPolicy lets IMDS through.
    let d = render("fo", "flowlog-system", &["ci/managed-identity-values.yaml"], &[]);
    let env = env_of(operator_container(&d));
    assert_eq!(env_value(&env, "FLOWLOG_AUTH").as_deref(), Some("managed-identity"));
    assert_eq!(env_value(&env, "AZURE_CLIENT_ID").as_deref(), Some("44444444-4444-4444-4444-444444444444"));
    assert!(!env.contains_key("AZURE_TENANT_ID") && !env.contains_key("AZURE_CLIENT_SECRET_FILE"));
    let egress = find(&d, "NetworkPolicy", None)["spec"]["egress"].as_array().unwrap().clone();
    assert!(
        egress.iter().any(|r| r["to"][0]["ipBlock"]["cidr"] == "169.254.169.254/32" && r["ports"][0]["port"] == 80),
        "{egress:?}"
    );
    let wi_policy = render("fo", "ns", &["ci/workload-identity-values.yaml"], &["networkPolicy.enabled=true"]);
    assert!(!serde_json::to_string(find(&wi_policy, "NetworkPolicy", None)).unwrap().contains("169.254.169.254"));
    // Without a client ID: the system-assigned identity.
    let d = render("fo", "ns", &[], &["azure.auth.mode=managed-identity"]);
    assert!(!env_of(operator_container(&d)).contains_key("AZURE_CLIENT_ID"));

    // No rendering ever carries a client secret other than through the Secret object.
    for file in values_files() {
        let yaml = template("fo", "ns", &[&file], &[]).unwrap();
        let without_secret_objects: Vec<Value> = docs(&yaml).into_iter().filter(|d| d["kind"] != "Secret").collect();
        assert!(!serde_json::to_string(&without_secret_objects).unwrap().contains("not-a-real-secret"), "{file}");
    }
}

#[test]
fn each_cloud_renders_its_endpoints() {
    for (file, cloud) in [
        ("ci/workload-identity-values.yaml", "public"),
        ("ci/usgovernment-values.yaml", "usgovernment"),
        ("ci/china-values.yaml", "china"),
    ] {
        let env = env_of(operator_container(&render("fo", "ns", &[file], &[])));
        assert_eq!(env_value(&env, "FLOWLOG_CLOUD").as_deref(), Some(cloud), "{file}");
        for endpoint in ["FLOWLOG_ARM_ENDPOINT", "AZURE_AUTHORITY_HOST", "FLOWLOG_TOKEN_SCOPE"] {
            assert!(!env.contains_key(endpoint), "{file}: {endpoint} comes from the cloud preset");
        }
    }
    let env = env_of(operator_container(&render("fo", "ns", &["ci/custom-cloud-values.yaml"], &[])));
    assert!(!env.contains_key("FLOWLOG_CLOUD"));
    assert_eq!(
        env_value(&env, "FLOWLOG_ARM_ENDPOINT").as_deref(),
        Some("https://management.local.azurestack.external/")
    );
    assert_eq!(
        env_value(&env, "AZURE_AUTHORITY_HOST").as_deref(),
        Some("https://login.local.azurestack.external/adfs/")
    );
    assert_eq!(
        env_value(&env, "FLOWLOG_TOKEN_SCOPE").as_deref(),
        Some("https://management.adfs.azurestack.local/abc/.default")
    );
    assert_eq!(env_value(&env, "AZURE_TENANT_ID").as_deref(), Some("adfs"));
    // An endpoint given with a preset cloud overrides it.
    let env = env_of(operator_container(&render(
        "fo",
        "ns",
        &["ci/china-values.yaml"],
        &["azure.armEndpoint=https://arm.proxy.example/"],
    )));
    assert_eq!(env_value(&env, "FLOWLOG_CLOUD").as_deref(), Some("china"));
    assert_eq!(env_value(&env, "FLOWLOG_ARM_ENDPOINT").as_deref(), Some("https://arm.proxy.example/"));
}

/// Every rendering: restricted pod security, probes on the metrics port, leader election from the downward API.
#[test]
fn the_pod_is_locked_down_in_every_rendering() {
    for file in values_files() {
        let d = render("fo", "flowlog-system", &[&file], &[]);
        let pod = pod_spec(&d);
        let c = operator_container(&d);
        let ctx = &pod["securityContext"];
        assert_eq!(ctx["runAsNonRoot"], true, "{file}");
        assert_eq!(ctx["runAsUser"], 65532, "{file}");
        assert_eq!(ctx["seccompProfile"]["type"], "RuntimeDefault", "{file}");
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{file}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{file}");
        assert_eq!(sc["privileged"], false, "{file}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{file}");
        assert!(sc["capabilities"].get("add").is_none(), "{file}");
        assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none(), "{file}");
        assert_eq!(pod["enableServiceLinks"], false, "{file}");
        assert!(
            c["resources"]["limits"]["memory"].is_string() && c["resources"]["requests"]["cpu"].is_string(),
            "{file}"
        );

        let env = env_of(c);
        let port = c["ports"][0]["containerPort"].as_i64().unwrap();
        assert_eq!(c["ports"][0]["name"], "metrics");
        assert_eq!(env_value(&env, "FLOWLOG_METRICS_ADDR"), Some(format!("0.0.0.0:{port}")), "{file}");
        assert_eq!(c["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "metrics"}), "{file}");
        assert_eq!(c["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "metrics"}), "{file}");
        assert_eq!(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name", "{file}");
        assert_eq!(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace", "{file}");
        assert_eq!(c["args"][0], "run", "{file}");

        let service = find(&d, "Service", None);
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
        assert_eq!(service["spec"]["selector"], find(&d, "Deployment", None)["spec"]["selector"]["matchLabels"]);
        let pdb = find(&d, "PodDisruptionBudget", None);
        assert_eq!(pdb["spec"]["selector"], find(&d, "Deployment", None)["spec"]["selector"]);
        assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    }
    // Defaults: two replicas electing a leader with a Lease named after the release.
    let d = render("fo", "flowlog-system", &["ci/workload-identity-values.yaml"], &[]);
    assert_eq!(find(&d, "Deployment", None)["spec"]["replicas"], 2);
    let env = env_of(operator_container(&d));
    assert_eq!(env_value(&env, "FLOWLOG_LEADER_ELECT").as_deref(), Some("true"));
    assert_eq!(env_value(&env, "FLOWLOG_LEASE_NAME").as_deref(), Some("fo-flowlog-operator"));
    assert_eq!(env_value(&env, "FLOWLOG_CHECK_LOG_DELIVERY"), None, "delivery checks are opt-in");
    assert_eq!(
        operator_container(&d)["image"],
        format!("ghcr.io/flowlog-dev/flowlog-operator:{}", env!("CARGO_PKG_VERSION"))
    );
    let d = render("fo", "ns", &["ci/everything-values.yaml"], &[]);
    assert!(
        operator_container(&d)["image"]
            .as_str()
            .unwrap()
            .ends_with("@sha256:0000000000000000000000000000000000000000000000000000000000000000")
    );
    assert_eq!(operator_container(&d)["args"], json!(["run", "--concurrency", "8"]));
    let env = env_of(operator_container(&d));
    assert_eq!(env_value(&env, "FLOWLOG_CHECK_LOG_DELIVERY").as_deref(), Some("true"));
    assert_eq!(env_value(&env, "FLOWLOG_LOG_SILENCE").as_deref(), Some("90m"));
    assert_eq!(env_value(&env, "FLOWLOG_LOG_CHECK_INTERVAL").as_deref(), Some("5m"));
    assert_eq!(env_value(&env, "FLOWLOG_STORAGE_READ_BUDGET").as_deref(), Some("100/10"));
    assert_eq!(env_value(&env, "FLOWLOG_STORAGE_ORIGIN").as_deref(), Some("https://azurestack.example.com"));
}

/// Environment variables the chart sets that `flowlog-operator run --help` does not list yet: implemented by the
/// Azure-client work in progress (the binary ignores unknown variables, so rendering them is safe today).
const PLANNED_ENV: &[&str] = &[];

/// The chart configures the operator only through variables the binary reads: a renamed flag breaks this test.
#[test]
fn chart_env_vars_are_ones_the_binary_reads() {
    let help = Command::new(env!("CARGO_BIN_EXE_flowlog-operator")).args(["run", "--help"]).output().unwrap();
    let help = text(&help.stdout);
    let mut set = BTreeSet::new();
    for file in values_files() {
        set.extend(env_of(operator_container(&render("fo", "ns", &[&file], &[]))).into_keys());
    }
    let mut unknown = Vec::new();
    for name in &set {
        let known = help.contains(&format!("[env: {name}=")) || help.contains(&format!("[env: {name}]"));
        // Read by the code directly rather than through a flag.
        let read_directly = ["POD_NAME", "RUST_LOG", "AZURE_CLIENT_SECRET", "FLOWLOG_LOG_FORMAT", "FLOWLOG_EXTRA"]
            .contains(&name.as_str());
        if !known && !read_directly && !PLANNED_ENV.contains(&name.as_str()) {
            unknown.push(name.clone());
        }
    }
    assert!(unknown.is_empty(), "the chart sets variables `flowlog-operator run` does not read: {unknown:?}\n{help}");
    for name in [
        "FLOWLOG_LEADER_ELECT",
        "FLOWLOG_LEASE_NAME",
        "POD_NAMESPACE",
        "FLOWLOG_METRICS_ADDR",
        "AZURE_CLIENT_SECRET_FILE",
    ] {
        assert!(set.contains(name) && help.contains(&format!("[env: {name}")), "{name}");
    }
    let planned_done: Vec<_> = PLANNED_ENV.iter().filter(|n| help.contains(&format!("[env: {n}"))).collect();
    if !planned_done.is_empty() {
        eprintln!("note: now implemented as flags, remove from PLANNED_ENV: {planned_done:?}");
    }
}

/// Who gets which role, per `operator.watchNamespace` and `rbac.secrets.mode` (the can-i tests check the effect).
#[test]
fn rbac_objects_follow_watch_namespace_and_secrets_mode() {
    let rules_mention_secrets = |d: &[Value]| {
        d.iter().filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role").any(|r| {
            r["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|rule| rule["resources"].as_array().unwrap().contains(&json!("secrets")))
        })
    };
    let d = render("fo", "sys", &["ci/workload-identity-values.yaml"], &[]);
    assert!(!rules_mention_secrets(&d), "no Secret access by default");
    let cr = find(&d, "ClusterRole", Some("fo-flowlog-operator"));
    assert!(!serde_json::to_string(&cr["rules"]).unwrap().contains('*'), "no wildcards");
    let binding = find(&d, "ClusterRoleBinding", Some("fo-flowlog-operator"));
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "fo-flowlog-operator", "namespace": "sys"}])
    );
    let lease = find(&d, "Role", Some("fo-flowlog-operator-leader-election"));
    assert_eq!(lease["metadata"]["namespace"], "sys");
    assert_eq!(lease["rules"][1]["resourceNames"], json!(["fo-flowlog-operator"]));

    let d = render("fo", "sys", &["ci/everything-values.yaml"], &[]);
    assert!(all_of(&d, "ClusterRoleBinding").is_empty(), "a namespaced install binds no ClusterRole cluster-wide");
    assert_eq!(find(&d, "Role", Some("fo-flowlog-operator"))["metadata"]["namespace"], "team-a");
    let secret_bindings: BTreeSet<_> = all_of(&d, "RoleBinding")
        .into_iter()
        .filter(|b| b["roleRef"]["name"] == "fo-flowlog-operator-credentials")
        .map(|b| b["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(secret_bindings, BTreeSet::from(["team-a".to_string(), "team-b".to_string()]));

    let d = render("fo", "sys", &["ci/workload-identity-values.yaml"], &["rbac.secrets.mode=cluster"]);
    assert_eq!(
        find(&d, "ClusterRoleBinding", Some("fo-flowlog-operator-credentials"))["roleRef"]["name"],
        "fo-flowlog-operator-credentials"
    );

    let d = render(
        "fo",
        "sys",
        &["ci/workload-identity-values.yaml"],
        &["rbac.create=false", "rbac.aggregateToDefaultRoles=false"],
    );
    assert!(
        all_of(&d, "ClusterRole").is_empty() && all_of(&d, "Role").is_empty() && all_of(&d, "RoleBinding").is_empty()
    );
}

/// The rules of each kind in a rendered role: resource → verbs (a resource may appear in several rules).
fn verbs_by_resource(role: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().unwrap() {
        for resource in rule["resources"].as_array().unwrap() {
            let verbs = rule["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string());
            out.entry(resource.as_str().unwrap().to_string()).or_default().extend(verbs);
        }
    }
    out
}

/// The operator's role (ClusterRole, or Role with `operator.watchNamespace`) grants exactly what both controllers
/// use on policies and sets; the aggregated `view`/`edit` roles cover both kinds.
#[test]
fn rbac_rules_cover_policies_and_sets() {
    let set = |verbs: &[&str]| verbs.iter().map(|v| v.to_string()).collect::<BTreeSet<String>>();
    let expected: BTreeMap<String, BTreeSet<String>> = [
        // Exactly the verbs the code uses: no get (the watch cache has every object), no update (patches only).
        ("flowlogpolicies", set(&["list", "watch", "patch", "create", "delete"])),
        ("flowlogpolicies/status", set(&["patch"])),
        ("flowlogpolicysets", set(&["list", "watch"])),
        ("flowlogpolicysets/status", set(&["patch"])),
        ("events", set(&["create", "patch"])),
    ]
    .into_iter()
    .map(|(r, v)| (r.to_string(), v))
    .collect();
    let cluster = render("fo", "sys", &["ci/workload-identity-values.yaml"], &[]);
    let namespaced = render("fo", "sys", &["ci/workload-identity-values.yaml"], &["operator.watchNamespace=team"]);
    for (what, role) in [
        ("ClusterRole", find(&cluster, "ClusterRole", Some("fo-flowlog-operator"))),
        ("Role", find(&namespaced, "Role", Some("fo-flowlog-operator"))),
    ] {
        assert_eq!(verbs_by_resource(role), expected, "{what}");
        for rule in role["rules"].as_array().unwrap() {
            let group = rule["apiGroups"][0].as_str().unwrap();
            assert!(group == "flowlog.dev" || group == "events.k8s.io", "{what}: {rule}");
        }
    }
    assert!(all_of(&namespaced, "ClusterRole").iter().all(|r| r["metadata"]["name"] != "fo-flowlog-operator"));
    // The Lease: create (cannot be limited to a name), then get and patch on the named one only.
    let lease_role = find(&cluster, "Role", Some("fo-flowlog-operator-leader-election"));
    assert_eq!(lease_role["rules"][0]["verbs"], json!(["create"]));
    assert_eq!(lease_role["rules"][1]["verbs"], json!(["get", "patch"]));
    assert_eq!(lease_role["rules"][1]["resourceNames"], json!(["fo-flowlog-operator"]));

    let view = verbs_by_resource(find(&cluster, "ClusterRole", Some("fo-flowlog-operator-view")));
    let edit_role = find(&cluster, "ClusterRole", Some("fo-flowlog-operator-edit"));
    let edit = verbs_by_resource(edit_role);
    for kind in ["flowlogpolicies", "flowlogpolicysets"] {
        assert_eq!(view[kind], set(&["get", "list", "watch"]), "view: {kind}");
        assert_eq!(view[&format!("{kind}/status")], set(&["get", "list", "watch"]), "view: {kind}/status");
        assert_eq!(edit[kind], set(&["create", "update", "patch", "delete", "deletecollection"]), "edit: {kind}");
    }
    assert_eq!(view.len(), 4, "view reads the two kinds and their status, nothing else: {view:?}");
    assert_eq!(edit.len(), 2, "edit manages the two kinds, not their status: {edit:?}");
    let labels = &edit_role["metadata"]["labels"];
    assert_eq!(labels["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
    assert_eq!(labels["rbac.authorization.k8s.io/aggregate-to-admin"], "true");
    assert_eq!(
        find(&cluster, "ClusterRole", Some("fo-flowlog-operator-view"))["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );

    // The auditor role (`flowlog-operator report`): reads both kinds, nothing else, bound to nobody, aggregated
    // nowhere; a ClusterRole also when the operator watches one namespace.
    for d in [&cluster, &namespaced] {
        let auditor = find(d, "ClusterRole", Some("fo-flowlog-operator-auditor"));
        assert_eq!(
            verbs_by_resource(auditor),
            BTreeMap::from([
                ("flowlogpolicies".to_string(), set(&["get", "list", "watch"])),
                ("flowlogpolicysets".to_string(), set(&["get", "list", "watch"])),
            ])
        );
        assert_eq!(auditor["rules"][0]["apiGroups"], json!(["flowlog.dev"]));
        let labels = auditor["metadata"]["labels"].as_object().unwrap();
        assert!(labels.keys().all(|k| !k.starts_with("rbac.authorization.k8s.io/")), "{labels:?}");
        assert!(d.iter().all(|o| o["roleRef"]["name"] != "fo-flowlog-operator-auditor"), "bound to nobody");
    }
    let without = render("fo", "sys", &["ci/workload-identity-values.yaml"], &["rbac.auditor.create=false"]);
    assert!(all_of(&without, "ClusterRole").iter().all(|r| r["metadata"]["name"] != "fo-flowlog-operator-auditor"));
}

/// `shards: 3`: three Deployments, shard i watching the policies labelled `flowlog.dev/shard=<i>` with its own Lease,
/// replicas, pod labels and PodDisruptionBudget; the Role allows exactly those Leases. `shards: 1` (the default) is
/// the unsharded rendering.
#[test]
fn shards_render_one_deployment_per_shard() {
    let d = render("fo", "sys", &["ci/workload-identity-values.yaml"], &["shards=3"]);
    let deployments = all_of(&d, "Deployment");
    assert_eq!(deployments.len(), 3, "{:?}", kinds(&d));
    let mut leases = Vec::new();
    for (i, deployment) in deployments.iter().enumerate() {
        let name = format!("fo-flowlog-operator-shard-{i}");
        assert_eq!(deployment["metadata"]["name"], name.as_str());
        assert_eq!(deployment["spec"]["replicas"], 2, "{name}: each shard keeps its replicas for HA");
        let selector = &deployment["spec"]["selector"]["matchLabels"];
        assert_eq!(
            selector,
            &json!({
                "app.kubernetes.io/name": "flowlog-operator",
                "app.kubernetes.io/instance": "fo",
                "flowlog.dev/shard": i.to_string(),
            }),
            "{name}"
        );
        let template = &deployment["spec"]["template"];
        for (k, v) in selector.as_object().unwrap() {
            assert_eq!(&template["metadata"]["labels"][k], v, "{name}: pod label {k}");
        }
        let spread = &template["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"];
        assert_eq!(spread, selector, "{name}: replicas of a shard spread among themselves");
        let container = template["spec"]["containers"].as_array().unwrap().iter().find(|c| c["name"] == "operator");
        let env = env_of(container.unwrap());
        assert_eq!(env_value(&env, "FLOWLOG_SELECTOR"), Some(format!("flowlog.dev/shard={i}")), "{name}");
        assert_eq!(env_value(&env, "FLOWLOG_LEADER_ELECT").as_deref(), Some("true"), "{name}");
        let lease = env_value(&env, "FLOWLOG_LEASE_NAME").unwrap();
        assert_eq!(lease, format!("fo-flowlog-operator-shard-{i}"));
        leases.push(lease);
        let pdb = find(&d, "PodDisruptionBudget", Some(&name));
        assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector, "{name}");
    }
    assert_eq!(all_of(&d, "PodDisruptionBudget").len(), 3);
    let role = find(&d, "Role", Some("fo-flowlog-operator-leader-election"));
    assert_eq!(role["rules"][1]["resourceNames"], json!(leases));
    // One metrics Service over every shard's pods.
    let services = all_of(&d, "Service");
    assert_eq!(services.len(), 1);
    assert_eq!(
        services[0]["spec"]["selector"],
        json!({"app.kubernetes.io/name": "flowlog-operator", "app.kubernetes.io/instance": "fo"})
    );
    // A custom Lease name is the base of the shards' Leases.
    let d = render("fo", "sys", &["ci/workload-identity-values.yaml"], &["shards=2", "leaderElection.leaseName=fl"]);
    let role = find(&d, "Role", Some("fo-flowlog-operator-leader-election"));
    assert_eq!(role["rules"][1]["resourceNames"], json!(["fl-shard-0", "fl-shard-1"]));

    // One shard: the unsharded Deployment, watching every policy.
    let d = render("fo", "sys", &["ci/workload-identity-values.yaml"], &["shards=1"]);
    let deployments = all_of(&d, "Deployment");
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0]["metadata"]["name"], "fo-flowlog-operator");
    assert!(deployments[0]["spec"]["selector"]["matchLabels"].get("flowlog.dev/shard").is_none());
    assert_eq!(env_value(&env_of(operator_container(&d)), "FLOWLOG_SELECTOR"), None);

    for (sets, expected) in [
        (&["shards=0"][..], "/shards"),
        (&["shards=two"][..], "/shards"),
        (&["shards=2", "extraEnv[0].name=FLOWLOG_SELECTOR", "extraEnv[0].value=a=b"][..], "FLOWLOG_SELECTOR"),
    ] {
        let e = template("t", "ns", &["ci/workload-identity-values.yaml"], sets).expect_err("rejected");
        assert!(e.contains(expected), "{sets:?}: {e}");
    }
}

// ------------------------------------------------------------------------------------------------- cluster

fn kubeconfig() -> String {
    std::env::var("KUBECONFIG").expect("KUBECONFIG points at the test control plane (run tests/run.sh)")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
}

/// A new namespace that enforces (and warns about) the "restricted" Pod Security Standard.
fn namespace(prefix: &str) -> String {
    let name = unique(prefix);
    let manifest = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }}});
    apply(&manifest.to_string(), false);
    name
}

/// `kubectl apply --server-side` (optionally `--dry-run=server`); fails on errors and on any warning (Pod Security
/// violations, deprecated APIs). Returns stdout.
fn apply(manifests: &str, dry_run: bool) -> String {
    let mut cmd = kubectl();
    cmd.args(["apply", "--server-side", "--field-manager=install-tests", "-f", "-"]);
    if dry_run {
        cmd.arg("--dry-run=server");
    }
    let out = run(cmd, Some(manifests));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "kubectl apply failed:\n{stderr}\n{}", text(&out.stdout));
    assert!(!stderr.to_lowercase().contains("warning"), "kubectl apply warned:\n{stderr}");
    text(&out.stdout)
}

fn to_list(items: &[&Value]) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// The chart's CRDs (both), applied as a user would after a chart upgrade, and served.
fn install_crd_with_kubectl() {
    for crd in CRDS {
        apply(&std::fs::read_to_string(format!("{CHART}/crds/{crd}.yaml")).unwrap(), false);
    }
    let mut c = kubectl();
    c.args(["wait", "--for=condition=Established", "--timeout=30s"]).args(CRDS.map(|crd| format!("crd/{crd}")));
    ok(c, None);
}

/// A stand-in for the Prometheus Operator's ServiceMonitor CRD: a structural schema of the fields the chart sets
/// (unknown fields are pruned and reported), so the dry-run validates the chart's ServiceMonitor against it.
fn install_servicemonitor_crd() {
    let endpoint = json!({"type": "object", "properties": {
        "port": {"type": "string"}, "path": {"type": "string"}, "interval": {"type": "string"},
        "scrapeTimeout": {"type": "string"}, "honorLabels": {"type": "boolean"},
        "relabelings": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        "metricRelabelings": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}});
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
            "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors", "singular": "servicemonitor"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "required": ["selector", "endpoints"], "properties": {
                    "selector": {"type": "object", "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                    "namespaceSelector": {"type": "object", "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}}},
                    "endpoints": {"type": "array", "items": endpoint}}}}}}}]}});
    apply(&crd.to_string(), false);
    let mut c = kubectl();
    c.args(["wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=30s"]);
    ok(c, None);
}

/// Every values file, rendered into a fresh namespace, passes the API server's validation and admission (server-side
/// dry run), with no Pod Security warning.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn chart_renderings_apply_with_server_side_dry_run() {
    install_crd_with_kubectl();
    install_servicemonitor_crd();
    let team_a = namespace("team-a");
    let team_b = namespace("team-b");
    for file in values_files() {
        let ns = namespace("chart");
        let release = unique("dry");
        let watch = format!("operator.watchNamespace={team_a}");
        let secrets = format!("rbac.secrets.namespaces={{{team_a},{team_b}}}");
        let mut sets: Vec<&str> = vec!["metrics.serviceMonitor.enabled=true", "dashboard.enabled=true"];
        if file.contains("everything") {
            sets.extend([watch.as_str(), secrets.as_str()]);
        }
        let d = render(&release, &ns, &[&file], &sets);
        assert!(d.iter().any(|o| o["kind"] == "ServiceMonitor") && d.iter().any(|o| o["kind"] == "ConfigMap"));
        let out = apply(&to_list(&d.iter().collect::<Vec<_>>()), true);
        for object in d.iter() {
            let kind = object["kind"].as_str().unwrap().to_lowercase();
            let name = object["metadata"]["name"].as_str().unwrap();
            assert!(
                out.contains(&format!("{name} serverside-applied (server dry run)")),
                "{file}: {kind}/{name} not applied:\n{out}"
            );
        }
    }
    // A pod spec that breaks the restricted standard does warn: the check above can fail.
    let ns = namespace("chart");
    let d = render(
        "bad",
        &ns,
        &["ci/workload-identity-values.yaml"],
        &["podSecurityContext.runAsNonRoot=false", "securityContext.capabilities.drop=null"],
    );
    let mut cmd = kubectl();
    cmd.args(["apply", "--server-side", "--dry-run=server", "-f", "-"]);
    let out = run(cmd, Some(&to_list(&[find(&d, "Deployment", None)])));
    assert!(text(&out.stderr).contains("violate PodSecurity \"restricted"), "{}", text(&out.stderr));
}

/// A sharded rendering passes the same server-side dry run.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn sharded_chart_applies_with_server_side_dry_run() {
    install_crd_with_kubectl();
    let ns = namespace("chart");
    let release = unique("shards");
    let d = render(&release, &ns, &["ci/client-secret-values.yaml"], &["shards=3"]);
    assert_eq!(all_of(&d, "Deployment").len(), 3);
    let out = apply(&to_list(&d.iter().collect::<Vec<_>>()), true);
    for object in &d {
        let name = object["metadata"]["name"].as_str().unwrap();
        assert!(out.contains(&format!("{name} serverside-applied (server dry run)")), "{name} not applied:\n{out}");
    }
}

/// The kustomize overlays render with kubectl's kustomize and pass the same server-side dry run; the base carries
/// the chart's RBAC rules and pod security.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn kustomize_overlays_apply_with_server_side_dry_run() {
    install_crd_with_kubectl();
    let chart = render("flowlog-operator", "flowlog-system", &["ci/client-secret-values.yaml"], &[]);
    let mut rendered = BTreeMap::new();
    for overlay in ["workload-identity", "client-secret", "managed-identity"] {
        let mut cmd = kubectl();
        cmd.args(["kustomize", &format!("{ROOT}/deploy/kustomize/overlays/{overlay}")]);
        let d = docs(&ok(cmd, None));
        // The namespace must exist before its objects can be dry-run; apply it for real (idempotent).
        apply(&find(&d, "Namespace", Some("flowlog-system")).to_string(), false);
        let out = apply(&to_list(&d.iter().collect::<Vec<_>>()), true);
        assert_eq!(out.matches("serverside-applied (server dry run)").count(), d.len(), "{overlay}:\n{out}");
        rendered.insert(overlay, d);
    }
    for (overlay, d) in &rendered {
        // Same RBAC rules as the chart's defaults, the auditor role's included.
        for (kind, name) in [
            ("ClusterRole", "flowlog-operator"),
            ("Role", "flowlog-operator-leader-election"),
            ("ClusterRole", "flowlog-operator-auditor"),
        ] {
            assert_eq!(
                find(d, kind, Some(name))["rules"],
                find(&chart, kind, Some(name))["rules"],
                "{overlay}: {kind} {name}"
            );
        }
        let (k, c) = (operator_container(d), operator_container(&chart));
        for field in ["securityContext", "livenessProbe", "readinessProbe", "ports", "resources"] {
            assert_eq!(k[field], c[field], "{overlay}: container {field} differs from the chart's");
        }
        for field in
            ["securityContext", "automountServiceAccountToken", "enableServiceLinks", "topologySpreadConstraints"]
        {
            assert_eq!(pod_spec(d)[field], pod_spec(&chart)[field], "{overlay}: pod {field} differs from the chart's");
        }
        assert_eq!(find(d, "Deployment", None)["spec"]["replicas"], 2);
        let env = env_of(k);
        assert_eq!(env_value(&env, "FLOWLOG_AUTH").as_deref(), Some(*overlay), "{overlay}");
        assert_eq!(k["image"], format!("ghcr.io/flowlog-dev/flowlog-operator:{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(find(d, "ServiceAccount", None)["automountServiceAccountToken"], false);
        assert!(all_of(d, "Secret").is_empty(), "{overlay}: no secret in the repository");
    }
    let wi = &rendered["workload-identity"];
    assert_eq!(
        find(wi, "Deployment", None)["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    assert!(
        find(wi, "ServiceAccount", None)["metadata"]["annotations"]["azure.workload.identity/client-id"].is_string()
    );
    let cs = env_of(operator_container(&rendered["client-secret"]));
    assert_eq!(
        cs,
        env_of(operator_container(&chart)).into_iter().filter(|(k, _)| cs.contains_key(k)).collect::<BTreeMap<_, _>>(),
        "the client-secret overlay sets the same variables as the chart (AZURE_CLIENT_SECRET_FILE, ...)"
    );
    assert_eq!(pod_spec(&rendered["client-secret"])["volumes"], pod_spec(&chart)["volumes"]);
}

/// `helm install` as the README shows it, for real: the release's objects are created (the CRD already exists, so
/// Helm leaves it alone), an upgrade changes them, and `helm uninstall` removes them but keeps the CRD.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn helm_install_upgrade_and_uninstall() {
    install_crd_with_kubectl();
    let ns = unique("helm");
    let release = unique("rel");
    let helm_cmd = |args: &[&str]| {
        let mut c = Command::new(helm());
        c.args(args).args(["--namespace", &ns]);
        ok(c, None)
    };
    let notes = helm_cmd(&[
        "install",
        &release,
        CHART,
        "--create-namespace",
        "--set",
        "azure.clientId=3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    ]);
    assert!(notes.contains("STATUS: deployed") && notes.contains("system:serviceaccount:"), "{notes}");
    assert!(notes.contains(&format!("--clusterrole={release}-flowlog-operator-auditor ")), "{notes}");
    let deployment = format!("{release}-flowlog-operator");
    let get = |what: &str| {
        let mut c = kubectl();
        c.args(["get", what, "-n", &ns, "-o", "json"]);
        serde_json::from_str::<Value>(&ok(c, None)).unwrap()
    };
    let d = get(&format!("deployment/{deployment}"));
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"], "true");
    get(&format!("serviceaccount/{deployment}"));
    get(&format!("role/{deployment}-leader-election"));
    helm_cmd(&["upgrade", &release, CHART, "--reuse-values", "--set", "replicaCount=3"]);
    assert_eq!(get(&format!("deployment/{deployment}"))["spec"]["replicas"], 3);
    helm_cmd(&["uninstall", &release]);
    let mut c = kubectl();
    c.args(["get", &format!("deployment/{deployment}"), "-n", &ns]);
    assert!(!run(c, None).status.success(), "uninstall removes the Deployment");
    let mut c = kubectl();
    c.args(["get", &format!("clusterrole/{deployment}")]);
    assert!(!run(c, None).status.success(), "uninstall removes the ClusterRole");
    let mut c = kubectl();
    c.args(["get"]).args(CRDS.map(|crd| format!("crd/{crd}")));
    ok(c, None);
}

/// `kubectl auth can-i VERB RESOURCE --as=system:serviceaccount:NS:SA [-n NAMESPACE] [EXTRA...]`.
fn can_i(sa: &str, verb: &str, resource: &str, namespace: Option<&str>, extra: &[&str]) -> bool {
    let mut cmd = kubectl();
    cmd.args(["auth", "can-i", verb, resource, &format!("--as={sa}")]);
    match namespace {
        Some(ns) => cmd.args(["-n", ns]),
        None => cmd.arg("--all-namespaces"),
    };
    cmd.args(extra);
    let out = run(cmd, None);
    let answer = text(&out.stdout).trim().to_string();
    assert!(answer == "yes" || answer == "no", "can-i {verb} {resource}: {answer} {}", text(&out.stderr));
    answer == "yes"
}

/// Renders the chart and creates its ServiceAccount and RBAC for real (cluster-scoped names include the unique
/// release, so parallel tests do not collide). Returns the rendered objects and the ServiceAccount's user name.
fn install_identity(release: &str, namespace: &str, values: &[&str], sets: &[&str]) -> (Vec<Value>, String) {
    let d = render(release, namespace, values, sets);
    let identity: Vec<&Value> = d
        .iter()
        .filter(|o| {
            ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
                .contains(&o["kind"].as_str().unwrap())
        })
        .collect();
    apply(&to_list(&identity), false);
    let sa = find(&d, "ServiceAccount", None)["metadata"]["name"].as_str().unwrap().to_string();
    (d, format!("system:serviceaccount:{namespace}:{sa}"))
}

fn assert_can(sa: &str, checks: &[(&str, &str, Option<&str>, &[&str])], expected: bool) {
    let wrong: Vec<_> = checks
        .iter()
        .filter(|(verb, resource, ns, extra)| can_i(sa, verb, resource, *ns, extra) != expected)
        .map(|(verb, resource, ns, extra)| format!("{verb} {resource} in {} {extra:?}", ns.unwrap_or("all namespaces")))
        .collect();
    assert!(wrong.is_empty(), "{sa} should {}be allowed to: {wrong:#?}", if expected { "" } else { "NOT " });
}

/// The chart's ServiceAccount may do what the operator needs, and is denied what it must never do.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn service_account_may_do_what_the_operator_needs_and_nothing_else() {
    install_crd_with_kubectl();
    let sys = namespace("rbac-sys");
    let app = namespace("rbac-app");
    let release = unique("rbac");
    let (d, sa) = install_identity(&release, &sys, &["ci/client-secret-values.yaml"], &[]);
    let lease = env_value(&env_of(operator_container(&d)), "FLOWLOG_LEASE_NAME").unwrap();
    let lease_res = format!("leases.coordination.k8s.io/{lease}");
    let (s, a) = (Some(sys.as_str()), Some(app.as_str()));
    let none: &[&str] = &[];
    let status: &[&str] = &["--subresource=status"];
    let finalizers: &[&str] = &["--subresource=finalizers"];
    assert_can(
        &sa,
        &[
            ("list", "flowlogpolicies.flowlog.dev", None, none),
            ("watch", "flowlogpolicies.flowlog.dev", None, none),
            ("patch", "flowlogpolicies.flowlog.dev", a, none),
            ("patch", "flowlogpolicies.flowlog.dev", a, status),
            // The set controller: generated policies created (server-side apply) and pruned.
            ("create", "flowlogpolicies.flowlog.dev", a, none),
            ("delete", "flowlogpolicies.flowlog.dev", a, none),
            ("list", "flowlogpolicysets.flowlog.dev", None, none),
            ("watch", "flowlogpolicysets.flowlog.dev", None, none),
            ("patch", "flowlogpolicysets.flowlog.dev", a, status),
            ("create", "events.events.k8s.io", a, none),
            ("patch", "events.events.k8s.io", a, none),
            ("create", "leases.coordination.k8s.io", s, none),
            ("get", &lease_res, s, none),
            ("patch", &lease_res, s, none),
        ],
        true,
    );
    assert_can(
        &sa,
        &[
            // Verbs the code never uses: no single reads (the watch cache has every object), no replacements (patches
            // only), no owner references with blockOwnerDeletion (nothing on finalizers), the Lease only patched.
            ("get", "flowlogpolicies.flowlog.dev", a, none),
            ("update", "flowlogpolicies.flowlog.dev", a, none),
            ("get", "flowlogpolicies.flowlog.dev", a, status),
            ("update", "flowlogpolicies.flowlog.dev", a, finalizers),
            ("get", "flowlogpolicysets.flowlog.dev", a, none),
            ("get", "flowlogpolicysets.flowlog.dev", a, status),
            ("update", &lease_res, s, none),
            // Policies are deleted one by one (pruning), never in bulk; status only by patch.
            ("deletecollection", "flowlogpolicies.flowlog.dev", a, none),
            ("update", "flowlogpolicies.flowlog.dev", a, status),
            // Sets are the users': the operator only reads them and writes their status.
            ("create", "flowlogpolicysets.flowlog.dev", a, none),
            ("update", "flowlogpolicysets.flowlog.dev", a, none),
            ("patch", "flowlogpolicysets.flowlog.dev", a, none),
            ("delete", "flowlogpolicysets.flowlog.dev", a, none),
            ("deletecollection", "flowlogpolicysets.flowlog.dev", a, none),
            ("update", "flowlogpolicysets.flowlog.dev", a, status),
            ("update", "flowlogpolicysets.flowlog.dev", a, finalizers),
            // CRDs are installed by people, never by the operator.
            ("create", "customresourcedefinitions.apiextensions.k8s.io", None, none),
            ("update", "customresourcedefinitions.apiextensions.k8s.io", None, none),
            ("delete", "customresourcedefinitions.apiextensions.k8s.io", None, none),
            ("get", "customresourcedefinitions.apiextensions.k8s.io", None, none),
            // Secrets: none by default, anywhere.
            ("get", "secrets", s, none),
            ("get", "secrets", a, none),
            ("list", "secrets", None, none),
            ("watch", "secrets", a, none),
            // Other leases, and leases elsewhere.
            ("get", "leases.coordination.k8s.io/someone-else", s, none),
            ("update", "leases.coordination.k8s.io/someone-else", s, none),
            ("delete", &lease_res, s, none),
            ("create", "leases.coordination.k8s.io", a, none),
            ("list", "leases.coordination.k8s.io", s, none),
            // Core events (it uses events.k8s.io), and reading events.
            ("create", "events", a, none),
            ("list", "events.events.k8s.io", a, none),
            ("delete", "events.events.k8s.io", a, none),
            // Workloads and configuration.
            ("create", "deployments.apps", s, none),
            ("update", "deployments.apps", s, none),
            ("patch", "deployments.apps", s, none),
            ("create", "configmaps", s, none),
            ("update", "configmaps", a, none),
            ("get", "configmaps", s, none),
            ("create", "pods", s, none),
            ("create", "pods", s, &["--subresource=exec"]),
            ("list", "pods", None, none),
            ("create", "serviceaccounts", s, &["--subresource=token"]),
            ("create", "secrets", s, none),
            // Cluster administration.
            ("delete", "namespaces", None, none),
            ("create", "namespaces", None, none),
            ("list", "namespaces", None, none),
            ("get", "nodes", None, none),
            ("create", "clusterrolebindings.rbac.authorization.k8s.io", None, none),
            ("create", "rolebindings.rbac.authorization.k8s.io", s, none),
            ("escalate", "clusterroles.rbac.authorization.k8s.io", None, none),
            ("bind", "clusterroles.rbac.authorization.k8s.io", None, none),
            ("impersonate", "users", None, none),
            ("impersonate", "serviceaccounts", s, none),
            ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", None, none),
            ("*", "*", None, none),
        ],
        false,
    );
}

/// `operator.watchNamespace`: policies, sets and events in that namespace only, nothing cluster-wide.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn a_namespaced_install_reaches_only_its_namespace() {
    install_crd_with_kubectl();
    let sys = namespace("ns-sys");
    let team = namespace("ns-team");
    let other = namespace("ns-other");
    let watch = format!("operator.watchNamespace={team}");
    let (_, sa) = install_identity(&unique("nsd"), &sys, &["ci/workload-identity-values.yaml"], &[&watch]);
    let none: &[&str] = &[];
    let (t, o) = (Some(team.as_str()), Some(other.as_str()));
    assert_can(
        &sa,
        &[
            ("list", "flowlogpolicies.flowlog.dev", t, none),
            ("watch", "flowlogpolicies.flowlog.dev", t, none),
            ("patch", "flowlogpolicies.flowlog.dev", t, &["--subresource=status"]),
            ("create", "flowlogpolicies.flowlog.dev", t, none),
            ("delete", "flowlogpolicies.flowlog.dev", t, none),
            ("list", "flowlogpolicysets.flowlog.dev", t, none),
            ("watch", "flowlogpolicysets.flowlog.dev", t, none),
            ("patch", "flowlogpolicysets.flowlog.dev", t, &["--subresource=status"]),
            ("create", "events.events.k8s.io", t, none),
            ("create", "leases.coordination.k8s.io", Some(&sys), none),
        ],
        true,
    );
    assert_can(
        &sa,
        &[
            ("list", "flowlogpolicies.flowlog.dev", None, none),
            ("get", "flowlogpolicies.flowlog.dev", o, none),
            ("patch", "flowlogpolicies.flowlog.dev", Some(&sys), none),
            ("create", "flowlogpolicies.flowlog.dev", o, none),
            ("delete", "flowlogpolicies.flowlog.dev", o, none),
            ("list", "flowlogpolicysets.flowlog.dev", None, none),
            ("watch", "flowlogpolicysets.flowlog.dev", o, none),
            ("patch", "flowlogpolicysets.flowlog.dev", o, &["--subresource=status"]),
            ("patch", "flowlogpolicysets.flowlog.dev", t, none),
            ("create", "events.events.k8s.io", o, none),
            ("get", "secrets", t, none),
        ],
        false,
    );
}

/// `rbac.secrets.mode`: Secrets readable, and tokens of ServiceAccounts requested (per-namespace workload identity),
/// exactly where chosen.
#[test]
#[ignore = "needs a control plane: run tests/run.sh"]
fn secret_access_follows_rbac_secrets_mode() {
    let sys = namespace("sec-sys");
    let team = namespace("sec-team");
    let other = namespace("sec-other");
    let none: &[&str] = &[];
    let wi = &["ci/workload-identity-values.yaml"][..];
    let listed = format!("rbac.secrets.namespaces={{{team}}}");
    let (_, sa) = install_identity(&unique("secns"), &sys, wi, &["rbac.secrets.mode=namespaces", &listed]);
    let (t, o, s) = (Some(team.as_str()), Some(other.as_str()), Some(sys.as_str()));
    let token: &[&str] = &["--subresource=token"];
    assert_can(
        &sa,
        &[
            ("get", "secrets", t, none),
            ("list", "secrets", t, none),
            ("watch", "secrets", t, none),
            ("create", "serviceaccounts", t, token),
        ],
        true,
    );
    assert_can(
        &sa,
        &[
            ("create", "serviceaccounts", o, token),
            ("create", "serviceaccounts", s, token),
            ("get", "serviceaccounts", t, none),
            ("get", "secrets", o, none),
            ("get", "secrets", s, none),
            ("list", "secrets", None, none),
            ("create", "secrets", t, none),
            ("update", "secrets", t, none),
            ("delete", "secrets", t, none),
        ],
        false,
    );
    let (_, sa) = install_identity(&unique("seccl"), &sys, wi, &["rbac.secrets.mode=cluster"]);
    assert_can(
        &sa,
        &[("get", "secrets", o, none), ("list", "secrets", None, none), ("create", "serviceaccounts", o, token)],
        true,
    );
    assert_can(&sa, &[("create", "secrets", o, none), ("delete", "secrets", t, none)], false);
}

/// The chart's auditor ClusterRole, bound to a ServiceAccount of the test: it may read policies and sets
/// everywhere and do nothing else, and `flowlog-operator report` runs with that ServiceAccount's token.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_auditor_role_reads_policies_and_sets_and_nothing_else() {
    let (client, team) = common::cluster("audit").await;
    let release = unique("audit");
    let d = render(&release, "flowlog-system", &["ci/workload-identity-values.yaml"], &[]);
    let role = find(&d, "ClusterRole", Some(&format!("{release}-flowlog-operator-auditor")));
    let auditor = namespace("auditor");
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": format!("{release}-auditor")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "auditor", "namespace": auditor}]});
    let account =
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "auditor", "namespace": auditor}});
    apply(&to_list(&[role, &account, &binding]), false);
    let sa = format!("system:serviceaccount:{auditor}:auditor");
    let none: &[&str] = &[];
    let status: &[&str] = &["--subresource=status"];
    let t = Some(team.as_str());
    let mut allowed = Vec::new();
    let mut denied = Vec::new();
    for kind in ["flowlogpolicies.flowlog.dev", "flowlogpolicysets.flowlog.dev"] {
        allowed.extend([("get", kind, t, none), ("list", kind, None, none), ("watch", kind, None, none)]);
        denied.extend(["create", "update", "patch", "delete", "deletecollection"].map(|verb| (verb, kind, t, none)));
        denied.extend([("patch", kind, t, status), ("update", kind, t, status)]);
    }
    assert_can(&sa, &allowed, true);
    denied.extend([
        ("get", "secrets", t, none),
        ("list", "secrets", None, none),
        ("get", "configmaps", t, none),
        ("list", "events.events.k8s.io", t, none),
        ("list", "pods", t, none),
        ("get", "customresourcedefinitions.apiextensions.k8s.io", None, none),
        ("create", "serviceaccounts", t, &["--subresource=token"]),
        ("impersonate", "serviceaccounts", t, none),
    ]);
    assert_can(&sa, &denied, false);

    // A policy and a set to report on (no operator runs: the set has no status yet, the policy is applying).
    let policies: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &team);
    policies.create(&PostParams::default(), &FlowLogPolicy::new("web", web_nsg_spec(30, "10m"))).await.unwrap();
    let set: FlowLogPolicySet = serde_json::from_value(json!({
        "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicySet", "metadata": {"name": "vnets"},
        "spec": {"selector": {"subscriptions": [common::SUB], "kind": "VirtualNetwork"},
                 "destinations": [{"region": "westeurope", "storageId": storage("flowlogsweu001")}],
                 "template": {"flowLog": {"enabled": true}}},
    }))
    .unwrap();
    Api::<FlowLogPolicySet>::namespaced(client.clone(), &team).create(&PostParams::default(), &set).await.unwrap();

    let mut cmd = kubectl();
    cmd.args(["create", "token", "auditor", "-n", &auditor, "--duration=1h"]);
    let token = ok(cmd, None).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig_path = dir.path().join("kubeconfig");
    token_kubeconfig(&token, &kubeconfig_path);
    let report = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowlog-operator"));
        cmd.arg("report").args(args).env("KUBECONFIG", &kubeconfig_path);
        ok(cmd, None)
    };
    let json: Value = serde_json::from_str(&report(&["-n", &team, "-o", "json"])).unwrap();
    let rows: BTreeSet<String> =
        json["sets"].as_array().unwrap().iter().map(|s| s["set"].as_str().unwrap().to_string()).collect();
    assert_eq!(rows, BTreeSet::from(["(policies)".to_string(), "vnets".to_string()]), "{json}");
    // Every namespace too: the ClusterRoleBinding reaches them all.
    let all: Value = serde_json::from_str(&report(&["-o", "json"])).unwrap();
    assert!(all["sets"].as_array().unwrap().iter().any(|s| s["namespace"] == team.as_str() && s["set"] == "vnets"));
    policies.delete("web", &Default::default()).await.unwrap();
    Api::<FlowLogPolicySet>::namespaced(client, &team).delete("vnets", &Default::default()).await.unwrap();
}

// ------------------------------------------------------------------- the operator with the chart's identity

/// A kubeconfig for `token`, with the server and CA of the test control plane's admin kubeconfig.
fn token_kubeconfig(token: &str, path: &Path) {
    let admin: Value = serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig()).unwrap()).unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "envtest", "cluster": {
            "server": cluster["server"], "certificate-authority-data": cluster["certificate-authority-data"]}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "envtest", "user": "operator"}}],
        "current-context": "operator",
    });
    std::fs::write(path, config.to_string()).unwrap();
}

/// The environment a pod of the rendered Deployment would get, resolved the way the kubelet does: literals, the
/// downward API (`pod_name`, the release namespace), `secretKeyRef`s and secret volumes from `secrets` (name → key →
/// value; secret files are written under `dir` and paths rewritten to them).
fn pod_env(
    d: &[Value],
    namespace: &str,
    pod_name: &str,
    secrets: &BTreeMap<&str, BTreeMap<&str, &str>>,
    dir: &Path,
) -> Vec<(String, String)> {
    let c = operator_container(d);
    let volumes: BTreeMap<&str, &Value> = pod_spec(d)["volumes"]
        .as_array()
        .map(|v| v.iter().map(|v| (v["name"].as_str().unwrap(), v)).collect())
        .unwrap_or_default();
    let mut mounts = Vec::new();
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let volume = volumes[m["name"].as_str().unwrap()];
        let secret = volume["secret"]["secretName"].as_str().expect("only secret volumes are expected");
        let data = secrets
            .get(secret)
            .unwrap_or_else(|| panic!("the pod mounts Secret {secret}, which the test did not create"));
        let local = dir.join(m["mountPath"].as_str().unwrap().trim_start_matches('/'));
        std::fs::create_dir_all(&local).unwrap();
        for item in volume["secret"]["items"].as_array().unwrap() {
            std::fs::write(local.join(item["path"].as_str().unwrap()), data[item["key"].as_str().unwrap()]).unwrap();
        }
        mounts.push((m["mountPath"].as_str().unwrap().to_string(), local.to_string_lossy().into_owned()));
    }
    let mut env = Vec::new();
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            mounts
                .iter()
                .find(|(m, _)| v.starts_with(m.as_str()))
                .map(|(m, l)| v.replacen(m.as_str(), l, 1))
                .unwrap_or(v.into())
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.name" => pod_name.to_string(),
                "metadata.namespace" => namespace.to_string(),
                other => panic!("unexpected fieldRef {other}"),
            }
        } else if let Some(r) = e["valueFrom"].get("secretKeyRef") {
            secrets[r["name"].as_str().unwrap()][r["key"].as_str().unwrap()].to_string()
        } else {
            panic!("unexpected env entry {e}");
        };
        env.push((name, value));
    }
    env
}

/// Runs `flowlog-operator run` as the rendered Deployment would, with a token of the chart's ServiceAccount, against
/// the simulator; a policy in `policy_ns` must reach Ready=True with the flow log configured, a FlowLogPolicySet
/// there must generate its policies, report its status and prune, and the operator must never be refused by the API
/// server. With `rbac: false` the chart's RBAC is left out and the opposite must hold.
async fn operator_runs_with_the_chart_identity(test: &str, namespaced: bool, rbac: bool) {
    let (client, policy_ns) = common::cluster(test).await;
    let sys = namespace(&format!("{test}-sys"));
    let (sim, sim_url) = spawn_simulator_binary().await;
    let release = unique(test);
    let dir = tempfile::tempdir().unwrap();
    let values = json!({
        "operator": {"watchNamespace": if namespaced { policy_ns.as_str() } else { "" },
                     "logLevel": "info,flowlog_operator=debug", "logFormat": "json"},
        "azure": {
            "cloud": "custom", "armEndpoint": sim_url, "authorityHost": format!("{sim_url}/"),
            "tokenScope": "https://management.azure.com/.default",
            "tenantId": simulator::DEFAULT_TENANT_ID, "clientId": simulator::DEFAULT_CLIENT_ID,
            "auth": {"mode": "client-secret", "clientSecret": {"existingSecret": "simulator-credentials"}},
        },
        "rbac": {"create": rbac},
    });
    let values_path = dir.path().join("values.json");
    std::fs::write(&values_path, values.to_string()).unwrap();
    let (d, _) = install_identity(&release, &sys, &[values_path.to_str().unwrap()], &[]);
    // The Deployment itself passes the dry run (pods do not run on this control plane: the test plays the kubelet).
    apply(&to_list(&[find(&d, "Deployment", None)]), true);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "simulator-credentials", "namespace": sys},
        "stringData": {"clientSecret": simulator::DEFAULT_CLIENT_SECRET}});
    apply(&secret.to_string(), false);

    let sa = find(&d, "ServiceAccount", None)["metadata"]["name"].as_str().unwrap().to_string();
    let mut cmd = kubectl();
    cmd.args(["create", "token", &sa, "-n", &sys, "--duration=1h"]);
    let token = ok(cmd, None).trim().to_string();
    let kubeconfig_path = dir.path().join("kubeconfig");
    token_kubeconfig(&token, &kubeconfig_path);

    let pod_name = format!("{release}-flowlog-operator-6d5f7c9b8-x7k2p");
    let secrets = BTreeMap::from([(
        "simulator-credentials",
        BTreeMap::from([("clientSecret", simulator::DEFAULT_CLIENT_SECRET)]),
    )]);
    let env = pod_env(&d, &sys, &pod_name, &secrets, dir.path());
    let args: Vec<String> =
        operator_container(&d)["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect();
    let log_path = dir.path().join("operator.log");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowlog-operator"));
    cmd.args(&args)
        .env_clear()
        .envs(env)
        .env("KUBECONFIG", &kubeconfig_path)
        // Several operators share this control plane: a free port instead of the pod's 8080.
        .env("FLOWLOG_METRICS_ADDR", "127.0.0.1:0")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true);
    if !namespaced {
        // The RBAC is cluster-wide; other tests' policies live in other namespaces on this control plane.
        cmd.env("FLOWLOG_NAMESPACE", &policy_ns);
    }
    let mut operator = cmd.spawn().unwrap();

    let api: Api<FlowLogPolicy> = Api::namespaced(client.clone(), &policy_ns);
    let spec = web_nsg_spec(30, "10m");
    api.create(&PostParams::default(), &FlowLogPolicy::new("web", spec.clone())).await.unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    if !rbac {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let policy = api.get("web").await.unwrap();
        assert!(policy.status.is_none(), "without RBAC the operator must not reach the policy: {:?}", policy.status);
        assert!(log().to_lowercase().contains("forbidden"), "the refusal should be logged:\n{}", log());
        let counters: BTreeMap<String, u64> =
            reqwest::get(format!("{sim_url}/_sim/counters")).await.unwrap().json().await.unwrap();
        assert_eq!(counters.get("configureFlowLog").copied().unwrap_or(0), 0, "{counters:?}");
        // Let the policy go without an operator (its finalizer was never added).
        api.delete("web", &Default::default()).await.unwrap();
        return;
    }
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(p) = api.get("web").await
                && let Some(s) = p.status
                && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                && s.observed_generation == p.metadata.generation
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "the policy did not become Ready with the chart's identity; operator log:\n{}", log());

    // The write reached the simulator exactly once.
    let http = reqwest::Client::new();
    let counters: BTreeMap<String, u64> =
        http.get(format!("{sim_url}/_sim/counters")).send().await.unwrap().json().await.unwrap();
    assert_eq!(counters.get("configureFlowLog"), Some(&1), "{counters:?}");
    // Events were published (events.k8s.io create), the finalizer added (patch), the Lease taken in the release
    // namespace under the pod's name.
    wait_for("an event about the policy", Duration::from_secs(10), || async {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &policy_ns);
        let list = events.list(&Default::default()).await.ok()?;
        list.items.iter().any(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web")).then_some(())
    })
    .await;
    let policy = api.get("web").await.unwrap();
    assert!(policy.metadata.finalizers.unwrap_or_default().contains(&"flowlog.dev/cleanup".to_string()));
    let lease_name = env_value(&env_of(operator_container(&d)), "FLOWLOG_LEASE_NAME").unwrap();
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), &sys);
    let holder = leases.get(&lease_name).await.unwrap().spec.unwrap().holder_identity.unwrap_or_default();
    assert!(holder.starts_with(&pod_name), "lease holder {holder:?}");

    // Deleting the policy: the operator runs its finalizer (disable in Azure) and lets the object go.
    api.delete("web", &Default::default()).await.unwrap();
    wait_for("the policy is gone", Duration::from_secs(30), || async {
        api.get_opt("web").await.unwrap().is_none().then_some(())
    })
    .await;

    set_controller_runs_with_the_chart_identity(&client, &policy_ns, &log).await;

    let pid = operator.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit =
        tokio::time::timeout(Duration::from_secs(15), operator.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(exit.success(), "{exit:?}\n{}", log());
    let log = log();
    assert!(!log.to_lowercase().contains("forbidden"), "the API server refused the operator something:\n{log}");
    assert!(!log.contains(simulator::DEFAULT_CLIENT_SECRET), "the client secret leaked into the logs");
    drop(sim);
}

/// The set controller with the chart's identity: a FlowLogPolicySet over the simulator's NSGs with a flow log in
/// app-prod-rg (web-nsg, db-nsg) generates one policy each (server-side apply, which creates them: `create`), writes
/// the set's status (`flowlogpolicysets/status`), and prunes the policy whose target an exclusion drops (`delete`).
async fn set_controller_runs_with_the_chart_identity(
    client: &kube::Client,
    namespace: &str,
    log: &impl Fn() -> String,
) {
    let sets: Api<FlowLogPolicySet> = Api::namespaced(client.clone(), namespace);
    let policies: Api<FlowLogPolicy> = Api::namespaced(client.clone(), namespace);
    let set: FlowLogPolicySet = serde_json::from_value(json!({
        "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicySet", "metadata": {"name": "nsgs"},
        "spec": {
            "selector": {"subscriptions": [common::SUB], "kind": "NetworkSecurityGroup",
                         "regions": ["westeurope"], "resourceGroups": ["app-prod-rg"]},
            "destinations": [{"region": "westeurope", "storageId": storage("flowlogsweu001")}],
            "template": {"flowLog": {"enabled": true, "retentionPolicy": {"enabled": true, "days": 30}},
                         "deletionPolicy": "Orphan"},
        },
    }))
    .unwrap();
    let uid = sets.create(&PostParams::default(), &set).await.unwrap().uid().unwrap();
    let generated = || async {
        let list = policies.list(&ListParams::default().labels("flowlog.dev/set=nsgs")).await.unwrap();
        list.items
    };
    // Ready=True with reason Compliant for the current generation, once both generated policies are Ready.
    let settled = |targets: i32| {
        let sets = sets.clone();
        async move {
            let set = sets.get("nsgs").await.ok()?;
            let status = set.status?;
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
            (status.observed_generation == set.metadata.generation
                && status.targets == targets
                && status.compliant == targets
                && ready.status == "True"
                && ready.reason == "Compliant")
                .then_some(())
        }
    };
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while settled(2).await.is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let status = sets.get("nsgs").await.unwrap().status;
    assert!(
        ready.is_ok(),
        "the set did not become Ready with the chart's identity: {status:?}\noperator log:\n{}",
        log()
    );
    let children = generated().await;
    let mut targets: Vec<String> = children.iter().map(|p| p.spec.target.resource_id.to_lowercase()).collect();
    targets.sort();
    assert_eq!(targets, [nsg("app-prod-rg", "db-nsg"), nsg("app-prod-rg", "web-nsg")].map(|t| t.to_lowercase()));
    for child in &children {
        let owner = &child.metadata.owner_references.as_ref().expect("owned by the set")[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("FlowLogPolicySet", uid.as_str()));
    }

    // An exclusion drops db-nsg: its policy is pruned (1 of 2, within the default 50 %), web-nsg's stays.
    let exclude = json!({"spec": {"selector": {"excludeIds": [nsg("app-prod-rg", "db-nsg")]}}});
    sets.patch("nsgs", &PatchParams::default(), &Patch::Merge(&exclude)).await.unwrap();
    let pruned = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if generated().await.len() == 1 && settled(1).await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(pruned.is_ok(), "db-nsg's policy was not pruned: {:?}\noperator log:\n{}", generated().await, log());
    let left = generated().await;
    assert_eq!(left[0].spec.target.resource_id.to_lowercase(), nsg("app-prod-rg", "web-nsg").to_lowercase());

    // No garbage collector runs on this control plane: delete the set and its remaining policy by hand (the
    // operator runs the policy's finalizer; Orphan leaves Azure alone).
    sets.delete("nsgs", &Default::default()).await.unwrap();
    policies.delete(&left[0].name_any(), &Default::default()).await.unwrap();
    wait_for("the generated policies are gone", Duration::from_secs(30), || async {
        generated().await.is_empty().then_some(())
    })
    .await;
}

/// Cluster-wide RBAC (the default): proven sufficient by a real reconcile, not only by can-i.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_operator_reconciles_with_the_chart_service_account() {
    operator_runs_with_the_chart_identity("chart-sa", false, true).await;
}

/// `operator.watchNamespace`: the Role in that one namespace is enough too.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_operator_reconciles_with_a_namespaced_install() {
    operator_runs_with_the_chart_identity("chart-ns", true, true).await;
}

/// The control: the same run without the chart's RBAC is refused and never reconciles, so the two tests above
/// prove the RBAC, not a permissive control plane.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn without_the_chart_rbac_the_operator_is_refused() {
    operator_runs_with_the_chart_identity("chart-norbac", false, false).await;
}

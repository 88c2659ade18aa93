//! End to end for the Azure side: VNet, subnet and NIC flow logs through the `flowLogs` resource with traffic
//! analytics, Network Watcher discovery, NSG retirement, deletion on both paths, per-policy credentials from a
//! Secret, provider registration and an unreachable Azure during deletion. Real kube-apiserver (tests/run.sh),
//! simulator, in-process controller.

mod common;

use std::time::Duration;

use common::*;
use flowlog_operator::api::{DeletionPolicy, FlowLogPolicySpec, FlowLogSettings, SecretRef, Target, TrafficAnalytics};
use flowlog_operator::azure::id::same_id;
use flowlog_operator::azure::model::FlowLog;
use flowlog_simulator::faults::{ErrorFault, FaultEffect, FaultRule};
use flowlog_simulator::inventory::{FederatedCredential, ServicePrincipal};
use flowlog_simulator::{self as simulator, Inventory};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups";

fn id(rg: &str, tail: &str) -> String {
    format!("{RG}/{rg}/providers/{tail}")
}

fn workspace(region: &str) -> TrafficAnalytics {
    let (name, guid) = match region {
        "westeurope" => ("flowlogs-law-weu", "55555555-5555-5555-5555-555555555551"),
        _ => ("flowlogs-law-neu", "55555555-5555-5555-5555-555555555552"),
    };
    TrafficAnalytics {
        enabled: true,
        workspace_resource_id: Some(id("logging-rg", &format!("Microsoft.OperationalInsights/workspaces/{name}"))),
        workspace_id: Some(guid.into()),
        workspace_region: Some(region.into()),
        interval_minutes: 10,
    }
}

/// A VNet-flow-log policy without `networkWatcher`: the operator discovers it.
fn vnet_spec(target: String, region: &str, interval: &str) -> FlowLogPolicySpec {
    let storage_account = if region == "westeurope" { "flowlogsweu001" } else { "flowlogsneu001" };
    let mut spec = web_nsg_spec(14, interval);
    spec.target = Target { resource_id: target };
    spec.network_watcher = None;
    spec.flow_log = FlowLogSettings {
        storage_id: Some(storage(storage_account)),
        traffic_analytics: Some(workspace(region)),
        record_types: Some("B,E,D".into()),
        ..spec.flow_log
    };
    spec
}

fn flow_log_for(h: &Harness, target: &str) -> Vec<FlowLog> {
    h.sim.flow_log_resources().into_iter().filter(|l| same_id(&l.properties.target_resource_id, target)).collect()
}

fn ta_of(log: &FlowLog) -> (bool, i32, String) {
    let ta = log.properties.flow_analytics_configuration.clone().unwrap_or_default();
    let c = ta.network_watcher_flow_analytics_configuration.unwrap_or_default();
    (c.enabled.unwrap_or(false), c.traffic_analytics_interval.unwrap_or(0), c.workspace_resource_id.unwrap_or_default())
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn vnet_subnet_and_nic_flow_logs_converge_with_traffic_analytics_and_drift_is_repaired() {
    let h = Harness::start("vnetpaths").await;
    let cases = [
        (
            "vnet",
            id("app-prod-rg", "Microsoft.Network/virtualNetworks/app-vnet"),
            "westeurope",
            "NetworkWatcher_westeurope",
        ),
        (
            "subnet",
            id("app-dr-rg", "Microsoft.Network/virtualNetworks/dr-vnet/subnets/app"),
            "northeurope",
            "NetworkWatcher_northeurope",
        ),
        (
            "nic",
            id("app-prod-rg", "Microsoft.Network/networkInterfaces/web-vm-nic"),
            "westeurope",
            "NetworkWatcher_westeurope",
        ),
    ];
    for (name, target, region, _) in &cases {
        h.apply(name, vnet_spec(target.clone(), region, "2s")).await;
    }
    for (name, target, _, watcher) in &cases {
        let p = h.wait_ready(name, "True").await;
        let status = p.status.unwrap();
        let logs = flow_log_for(&h, target);
        assert_eq!(logs.len(), 1, "{name}: exactly one flow log for the target");
        let log = &logs[0];
        assert_eq!(log.properties.enabled, Some(true));
        assert!(ta_of(log).0, "{name}: traffic analytics on");
        assert_eq!(ta_of(log).1, 10);
        assert_eq!(log.properties.record_types.as_deref(), Some("B,E,D"));
        assert!(
            status.network_watcher_id.as_deref().unwrap().ends_with(watcher),
            "{name}: discovered {:?}",
            status.network_watcher_id
        );
        let flow_log_id = status.flow_log_id.expect("flowLogId in status");
        assert!(same_id(&flow_log_id, log.id.as_deref().unwrap()), "{name}: {flow_log_id} vs {:?}", log.id);
        assert!(status.observed.unwrap().traffic_analytics.unwrap().enabled);
    }

    // Drift on each: someone switches traffic analytics off.
    for (_, target, _, _) in &cases {
        let mut log = flow_log_for(&h, target).remove(0);
        let mut ta = log.properties.flow_analytics_configuration.clone().unwrap();
        ta.network_watcher_flow_analytics_configuration.as_mut().unwrap().enabled = Some(false);
        log.properties.flow_analytics_configuration = Some(ta);
        h.sim.set_flow_log_resource(log).unwrap();
    }
    for (name, target, _, _) in &cases {
        wait_for(&format!("{name} repaired"), Duration::from_secs(20), || async {
            (h.get(name).await.status?.drift_corrections == 1).then_some(())
        })
        .await;
        assert!(ta_of(&flow_log_for(&h, target)[0]).0, "{name}: traffic analytics back on");
    }

    // Steady state: no more writes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.sim.reset_counters();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let puts = count(&h.sim, "flowLogsCreateOrUpdate");
    let reads = count(&h.sim, "flowLogsGet") + count(&h.sim, "flowLogsList");
    eprintln!("steady state, 3 policies, 5 s at a 2 s interval: {reads} flow-log reads, {puts} writes");
    assert_eq!(puts, 0);
    assert!(reads >= 3);
    assert_eq!(count(&h.sim, "networkWatchersListAll"), 0, "the watcher found once is remembered");
    let metrics = h.metrics_text().await;
    assert!(metrics.contains(r#"flowlog_arm_requests_total{operation="getFlowLog",code="200"}"#), "{metrics}");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn an_existing_vnet_flow_log_is_adopted_not_duplicated() {
    let h = Harness::start("adopt").await;
    let target = id("shared-net-rg", "Microsoft.Network/virtualNetworks/shared-vnet");
    let before = flow_log_for(&h, &target);
    assert_eq!(before.len(), 1, "the built-in inventory has one");
    let mut spec = vnet_spec(target.clone(), "westeurope", "10m");
    spec.flow_log.retention_policy = Some(flowlog_operator::api::RetentionPolicy { enabled: true, days: 90 });
    h.apply("shared", spec).await;
    let p = h.wait_ready("shared", "True").await;
    let after = flow_log_for(&h, &target);
    assert_eq!(after.len(), 1, "adopted, not duplicated");
    assert_eq!(after[0].name, before[0].name);
    assert_eq!(after[0].properties.retention_policy.unwrap().days, 90);
    assert!(p.status.unwrap().flow_log_id.unwrap().ends_with(before[0].name.as_deref().unwrap()));
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_new_nsg_flow_log_stalls_with_the_retirement_reason_and_advice() {
    let h = Harness::start("retired").await;
    let mut spec = web_nsg_spec(7, "10m");
    spec.target.resource_id = nsg("app-prod-rg", "new-nsg");
    spec.network_watcher = None;
    h.apply("new", spec).await;
    let p = h.wait_ready("new", "False").await;
    let (stalled, reason, message) = h.condition("new", "Stalled").await.unwrap();
    assert_eq!((stalled.as_str(), reason.as_str()), ("True", "NsgFlowLogCreationBlocked"));
    assert!(message.contains("Use a VNet flow log instead"), "{message}");
    // new-nsg protects subnet `web` of app-vnet: the advice names it.
    assert!(message.contains("/virtualNetworks/app-vnet/subnets/web"), "{message}");
    assert_eq!(p.status.unwrap().last_error.unwrap().code, "NsgFlowLogCreationBlocked");
    assert_eq!(count(&h.sim, "flowLogsCreateOrUpdate"), 0);
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn deletion_policies_work_on_the_flow_logs_path() {
    let h = Harness::start("vnetdelete").await;
    let vnet = id("app-prod-rg", "Microsoft.Network/virtualNetworks/app-vnet");
    let subnet = id("app-dr-rg", "Microsoft.Network/virtualNetworks/dr-vnet/subnets/app");
    let mut delete = vnet_spec(vnet.clone(), "westeurope", "10m");
    delete.deletion_policy = DeletionPolicy::Delete;
    let disable = vnet_spec(subnet.clone(), "northeurope", "10m");
    h.apply("delete", delete).await;
    h.apply("disable", disable).await;
    h.wait_ready("delete", "True").await;
    h.wait_ready("disable", "True").await;

    h.delete_and_wait(&["delete", "disable"], Duration::from_secs(20)).await;
    assert!(flow_log_for(&h, &vnet).is_empty(), "deletionPolicy Delete removed the flow log");
    let disabled = flow_log_for(&h, &subnet);
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].properties.enabled, Some(false), "deletionPolicy Disable switched it off");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn credentials_come_from_a_secret_and_a_secret_change_reruns_the_policy() {
    let h = Harness::start("creds").await;
    let secrets: Api<Secret> = Api::namespaced(h.client.clone(), &h.namespace);
    let secret = |client_secret: &str| -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": "azure"},
            "stringData": {
                "tenantId": simulator::DEFAULT_TENANT_ID,
                "clientId": simulator::DEFAULT_CLIENT_ID,
                "clientSecret": client_secret,
            }
        }))
        .unwrap()
    };
    secrets.create(&PostParams::default(), &secret("wrong-secret-xyzzy")).await.unwrap();
    let mut spec = web_nsg_spec(30, "1h");
    spec.credentials_ref = Some(SecretRef { name: "azure".into() });
    h.apply("web", spec).await;

    let p = h.wait_ready("web", "False").await;
    let (stalled, reason, message) = h.condition("web", "Stalled").await.unwrap();
    assert_eq!((stalled.as_str(), reason.as_str()), ("True", "CredentialsInvalid"), "{message}");
    assert!(message.contains("AADSTS7000215"), "{message}");
    let shown = serde_json::to_string(&p).unwrap();
    assert!(!shown.contains("xyzzy"), "the secret leaked into the object: {shown}");
    for (_, event_reason) in h.event_reasons("web").await {
        assert!(!event_reason.contains("xyzzy"));
    }

    // Fixing the Secret re-runs the policy at once (its interval is an hour).
    secrets.replace("azure", &PostParams::default(), &secret(simulator::DEFAULT_CLIENT_SECRET)).await.unwrap();
    let p = h.wait_ready("web", "True").await;
    assert_eq!(p.status.unwrap().last_error, None);
}

/// Per-namespace workload identity: a credentials Secret with a tenant and a client ID and a `serviceAccountName`
/// signs the team's app in with a token of that ServiceAccount of the team's namespace (TokenRequest API), so the team
/// holds no secret and an app trusts one namespace, never the operator's identity. A Secret with neither a client
/// secret nor a ServiceAccount, or naming one of another namespace, says what is wrong; a ServiceAccount that does
/// not exist is reported; an app that trusts another ServiceAccount is refused by Entra (so the Secret's
/// ServiceAccount, not the operator's, is the one presented); the right one converges the policy.
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_secret_naming_a_service_account_signs_in_with_that_namespaces_identity() {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    const TEAM_TENANT: &str = "66666666-6666-6666-6666-666666666661";
    const TEAM_APP: &str = "66666666-6666-6666-6666-666666666662";
    let (client, namespace) = common::cluster("wi").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    for name in ["flowlogs", "other"] {
        let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        accounts.create(&PostParams::default(), &sa).await.unwrap();
    }
    // The control plane's issuer, as its tokens carry it.
    let request = TokenRequest {
        spec: TokenRequestSpec { audiences: vec!["api://AzureADTokenExchange".into()], ..Default::default() },
        ..Default::default()
    };
    let token: TokenRequest =
        accounts.create_subresource("token", "other", &PostParams::default(), &request).await.unwrap();
    let token = token.status.unwrap().token;
    let claims = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&common::sim::base64url_decode(claims)).unwrap();
    let issuer = claims["iss"].as_str().unwrap().to_string();
    // The team's app trusts the team's `flowlogs` ServiceAccount, and nothing else.
    let mut inventory = Inventory::builtin();
    common::sim::quick_operations(&mut inventory);
    inventory.service_principals.push(ServicePrincipal {
        tenant_id: TEAM_TENANT.into(),
        client_id: TEAM_APP.into(),
        client_secret: String::new(),
        federated_credentials: vec![FederatedCredential {
            issuer: issuer.clone(),
            subject: format!("system:serviceaccount:{namespace}:flowlogs"),
        }],
    });
    let h = Harness::start_in(client, namespace, inventory).await;
    let secrets: Api<Secret> = Api::namespaced(h.client.clone(), &h.namespace);
    let secret = |account: Option<&str>| -> Secret {
        let mut data = json!({"tenantId": TEAM_TENANT, "clientId": TEAM_APP});
        if let Some(account) = account {
            data["serviceAccountName"] = json!(account);
        }
        serde_json::from_value(json!({"metadata": {"name": "azure-wi"}, "stringData": data})).unwrap()
    };
    let stalled_saying = |what: &'static str| {
        let h = &h;
        async move {
            wait_for(&format!("Stalled saying {what:?}"), Duration::from_secs(30), || async {
                let (status, reason, message) = h.condition("web", "Stalled").await?;
                (status == "True" && reason == "CredentialsInvalid" && message.contains(what)).then_some(message)
            })
            .await
        }
    };
    secrets.create(&PostParams::default(), &secret(None)).await.unwrap();
    let mut spec = web_nsg_spec(30, "1h");
    spec.credentials_ref = Some(SecretRef { name: "azure-wi".into() });
    h.apply("web", spec.clone()).await;

    // Neither a client secret nor a ServiceAccount: the operator's own identity is never lent out.
    let message = stalled_saying("neither \"clientSecret\" nor \"serviceAccountName\"").await;
    assert!(message.contains("azure-wi"), "{message}");
    // A ServiceAccount of another namespace cannot be named.
    secrets.replace("azure-wi", &PostParams::default(), &secret(Some("kube-system/default"))).await.unwrap();
    stalled_saying("is not the name of a ServiceAccount").await;
    // One that does not exist: the apiserver's answer.
    secrets.replace("azure-wi", &PostParams::default(), &secret(Some("missing"))).await.unwrap();
    stalled_saying("a token of ServiceAccount").await;
    // One the app does not trust: Entra refuses the subject presented, which is that ServiceAccount's.
    secrets.replace("azure-wi", &PostParams::default(), &secret(Some("other"))).await.unwrap();
    let message = stalled_saying("AADSTS70021").await;
    assert!(message.contains(&format!("system:serviceaccount:{}:other", h.namespace)), "{message}");

    // The team's ServiceAccount: the policy converges.
    secrets.replace("azure-wi", &PostParams::default(), &secret(Some("flowlogs"))).await.unwrap();
    let p = h.wait_ready("web", "True").await;
    assert_eq!(p.status.as_ref().unwrap().last_error, None);
    assert_matches_spec(&h.sim.flow_log_status(&spec.target.resource_id).unwrap(), &spec);

    // No ServiceAccount token is in the object or its events.
    let shown = serde_json::to_string(&p).unwrap() + &serde_json::to_string(&h.events("web").await).unwrap();
    assert!(shown.contains("CredentialsInvalid"), "the refusals were reported");
    assert!(!shown.contains("eyJ"), "a token (a JWT) leaked into the object or its events: {shown}");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn an_unregistered_insights_provider_is_reported() {
    let h = Harness::start("provider").await;
    let sub2 = simulator::SECOND_SUBSCRIPTION_ID;
    let mut spec = web_nsg_spec(7, "10m");
    spec.target.resource_id = format!(
        "/subscriptions/{sub2}/resourceGroups/edge-rg/providers/Microsoft.Network/networkSecurityGroups/edge-nsg"
    );
    spec.network_watcher = None;
    spec.flow_log.storage_id = Some(format!(
        "/subscriptions/{sub2}/resourceGroups/edge-logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsweu002"
    ));
    h.apply("edge", spec).await;
    h.wait_ready("edge", "False").await;
    let (stalled, reason, message) = h.condition("edge", "Stalled").await.unwrap();
    assert_eq!((stalled.as_str(), reason.as_str()), ("True", "ProviderNotRegistered"), "{message}");
    assert!(message.contains(sub2) && message.contains("--register-providers"), "{message}");
    assert_eq!(count(&h.sim, "configureFlowLog"), 0, "no write before the provider is registered");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_region_without_network_watcher_is_reported_without_a_retry_storm() {
    let mut inventory = Inventory::builtin();
    common::sim::quick_operations(&mut inventory);
    inventory.subscriptions[0].network_watchers.retain(|w| w.location != "northeurope");
    let h = Harness::start_with("nowatcher", inventory).await;
    let subnet = id("app-dr-rg", "Microsoft.Network/virtualNetworks/dr-vnet/subnets/app");
    h.apply("dr", vnet_spec(subnet, "northeurope", "1s")).await;
    h.wait_ready("dr", "False").await;
    let (stalled, reason, message) = h.condition("dr", "Stalled").await.unwrap();
    assert_eq!((stalled.as_str(), reason.as_str()), ("True", "NetworkWatcherNotFound"), "{message}");
    assert!(message.contains("northeurope"), "{message}");
    h.sim.reset_counters();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let lists = count(&h.sim, "networkWatchersListAll");
    assert!(lists <= 1, "the watcher list is cached, misses included: {lists} lists in 4 s");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn deletion_waits_while_azure_fails_and_orphan_lets_it_finish() {
    let h = Harness::start("delblocked").await;
    let spec = web_nsg_spec(30, "10m");
    let target = spec.target.resource_id.clone();
    h.apply("web", spec).await;
    h.wait_ready("web", "True").await;

    let outage = FaultRule {
        operation: "*".into(),
        count: None,
        rate: None,
        seed: None,
        effect: FaultEffect::Error(ErrorFault {
            status: 503,
            code: "ServiceUnavailable".into(),
            message: None,
            retry_after_seconds: None,
        }),
    };
    h.sim.set_faults(vec![outage]).unwrap();
    h.api.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for("deletion blocked", Duration::from_secs(30), || async {
        let (status, reason, _) = h.condition("web", "Reconciling").await?;
        (status == "True" && reason == "DeletionBlocked").then_some(())
    })
    .await;
    let (_, _, message) = h.condition("web", "Reconciling").await.unwrap();
    assert!(message.contains("deletionPolicy to Orphan"), "{message}");
    assert!(h.api.get_opt("web").await.unwrap().is_some(), "the policy waits for Azure");
    // Events are published after the status write: wait for it rather than race it.
    wait_for("a DeletionBlocked event", Duration::from_secs(10), || async {
        let reasons = h.event_reasons("web").await;
        reasons.iter().any(|(t, r)| t == "Warning" && r == "DeletionBlocked").then_some(())
    })
    .await;

    // The documented way out: Orphan.
    let patch = json!({"spec": {"deletionPolicy": "Orphan"}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    h.wait_gone("web", Duration::from_secs(20)).await;
    h.sim.set_faults(vec![]).unwrap();
    assert!(h.sim.flow_log_status(&target).unwrap().properties.enabled, "orphaned: Azure left as it was");
}

/// Azure at its worst — 429s with Retry-After, 5xx, slow long-running operations — and the policy still
/// converges, with a bounded number of calls (the simulator's counters prove there is no retry storm).
#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_policy_converges_through_throttling_errors_and_slow_operations_without_a_retry_storm() {
    let mut inventory = Inventory::builtin();
    // Poll-counted operations, so that the number of calls the storm costs is the same in every run.
    inventory.behaviour.lro.retry_after_seconds = 0;
    inventory.behaviour.lro.in_progress_polls = Some(1);
    let h = Harness::start_with("stormy", inventory).await;
    let rule = |operation: &str, count: Option<u32>, rate: Option<f64>, effect: FaultEffect| FaultRule {
        operation: operation.into(),
        count,
        rate,
        seed: Some(7),
        effect,
    };
    let error = |status: u16, code: &str, retry_after_seconds: Option<u32>| {
        FaultEffect::Error(ErrorFault { status, code: code.into(), message: None, retry_after_seconds })
    };
    h.sim
        .set_faults(vec![
            // The first three reads (of the watcher's flow-log list) throttled, with ARM's Retry-After.
            rule("flowLogsList", Some(3), None, error(429, "SubscriptionRequestsThrottled", Some(1))),
            // One in five status polls fails with a 503 (seeded, so every run sees the same).
            rule("operationStatus", None, Some(0.2), error(503, "ServiceUnavailable", None)),
            // The first two writes fail with server errors.
            rule("configureFlowLog", Some(2), None, error(500, "InternalServerError", None)),
            // The next write's operation stays in progress for a while.
            rule(
                "configureFlowLog",
                Some(1),
                None,
                FaultEffect::Lro(flowlog_simulator::faults::LroFault {
                    in_progress_polls: Some(5),
                    duration_ms: None,
                    end: None,
                    code: None,
                    message: None,
                    status: None,
                }),
            ),
        ])
        .unwrap();
    let spec = web_nsg_spec(45, "1h");
    let target = spec.target.resource_id.clone();
    let started = std::time::Instant::now();
    h.apply("web", spec).await;
    wait_for("converged through the storm", Duration::from_secs(90), || async {
        let p = h.get("web").await;
        let s = p.status?;
        s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
    })
    .await;
    assert_eq!(h.sim.flow_log_status(&target).unwrap().properties.retention_policy.unwrap().days, 45);
    let counters = h.sim.counters();
    let get = |op: &str| counters.get(op).copied().unwrap_or(0);
    let total: u64 = counters.values().sum();
    eprintln!(
        "converged in {:.1} s: flowLogsList {}, queryFlowLogStatus {}, configureFlowLog {}, operationStatus {}, operationResult {}, token {}, all {}",
        started.elapsed().as_secs_f64(),
        get("flowLogsList"),
        get("queryFlowLogStatus"),
        get("configureFlowLog"),
        get("operationStatus"),
        get("operationResult"),
        get("token"),
        total
    );
    assert_eq!(get("configureFlowLog"), 3, "two failed writes and the one that worked, no more");
    assert!((4..=20).contains(&get("flowLogsList")), "three throttled reads, then bounded: {counters:?}");
    assert_eq!(get("queryFlowLogStatus"), 0, "a new spec is written without a confirmation: {counters:?}");
    assert!(total <= 80, "no retry storm: {counters:?}");
    assert_eq!(get("token"), 1, "one token for the whole storm");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn the_target_is_immutable() {
    let h = Harness::start("immutable").await;
    h.apply("web", web_nsg_spec(30, "10m")).await;
    let patch = json!({"spec": {"target": {"resourceId": nsg("app-prod-rg", "db-nsg")}}});
    match h.api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            assert!(status.message.contains("target is immutable"), "{}", status.message);
        }
        other => panic!("changing the target was accepted: {other:?}"),
    }
    // Other fields stay editable.
    let patch = json!({"spec": {"interval": "5m"}});
    h.api.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("a non-target change is accepted");
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn delete_on_the_nsg_path_and_orphan_on_the_flow_logs_path() {
    let h = Harness::start("bothpaths").await;
    let mut nsg_delete = web_nsg_spec(30, "10m");
    nsg_delete.deletion_policy = DeletionPolicy::Delete;
    let nsg_target = nsg_delete.target.resource_id.clone();
    let vnet = id("app-prod-rg", "Microsoft.Network/virtualNetworks/app-vnet");
    let mut vnet_orphan = vnet_spec(vnet.clone(), "westeurope", "10m");
    vnet_orphan.deletion_policy = DeletionPolicy::Orphan;
    h.apply("nsg", nsg_delete).await;
    h.apply("vnet", vnet_orphan).await;
    h.wait_ready("nsg", "True").await;
    h.wait_ready("vnet", "True").await;
    assert_eq!(flow_log_for(&h, &nsg_target).len(), 1, "an NSG flow log is a flowLogs resource too");

    h.delete_and_wait(&["nsg", "vnet"], Duration::from_secs(20)).await;
    assert!(flow_log_for(&h, &nsg_target).is_empty(), "deletionPolicy Delete removed the NSG flow log");
    let left = flow_log_for(&h, &vnet);
    assert_eq!(left.len(), 1, "deletionPolicy Orphan left the VNet flow log");
    assert_eq!(left[0].properties.enabled, Some(true));
}

#[tokio::test]
#[ignore = "needs a control plane: run tests/run.sh"]
async fn a_workspace_in_another_region_is_refused_with_azures_code() {
    let h = Harness::start("taregion").await;
    let mut spec = vnet_spec(id("app-prod-rg", "Microsoft.Network/virtualNetworks/app-vnet"), "westeurope", "10m");
    spec.flow_log.traffic_analytics.as_mut().unwrap().workspace_region = Some("northeurope".into());
    h.apply("vnet", spec).await;
    h.wait_ready("vnet", "False").await;
    let (stalled, reason, message) = h.condition("vnet", "Stalled").await.unwrap();
    assert_eq!((stalled.as_str(), reason.as_str()), ("True", "InvalidTAWorkspaceRegion"), "{message}");
}

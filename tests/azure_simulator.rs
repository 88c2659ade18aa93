//! The client against the simulator's Azure behaviours: workload identity and IMDS token endpoints, Network
//! Watcher discovery with paging, provider registration, the `flowLogs` resource, fault injection and ARM
//! throttling. The simulator's counters prove what went over the wire.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::count;
use common::credentials::{imds_credential, secret_credential};
use common::recorder::Recorder;
use common::sim::service_account_token;
use flowlog_operator::api::FlowLogPolicySpec;
use flowlog_operator::azure::credential::{
    CachedCredential, ManagedIdentityId, TokenCredential, WorkloadIdentityCredential,
};
use flowlog_operator::azure::id::ResourceId;
use flowlog_operator::azure::model::{
    FlowLog, FlowLogPropertiesFormat, RetentionPolicyParameters, TrafficAnalyticsConfigurationProperties,
    TrafficAnalyticsProperties,
};
use flowlog_operator::azure::{
    ArmClient, ArmError, BucketSettings, PollSettings, RegistrationState, RetrySettings, ThrottleSettings,
};
use flowlog_operator::sync::{FlowLogIndex, locate_and_observe};
use flowlog_simulator::faults::{ErrorFault, FaultEffect, LroEnd, LroFault};
use flowlog_simulator::inventory::{BucketLimits, LroMode, Throttling};
use flowlog_simulator::{self as simulator, FaultRule, Inventory, Simulator};
use url::Url;

const SUB: &str = simulator::DEFAULT_SUBSCRIPTION_ID;

fn id(path: &str) -> ResourceId {
    ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/{path}")).unwrap()
}

fn nsg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

fn watcher_we() -> ResourceId {
    ResourceId::network_watcher(SUB, "NetworkWatcherRG", "NetworkWatcher_westeurope")
}

async fn start(inventory: Inventory) -> (Simulator, Url) {
    let (sim, url) = common::sim::start(inventory).await;
    (sim, common::credentials::endpoint(&url))
}

/// The built-in inventory, polled fast: 202 + polling without one-second waits.
fn inventory() -> Inventory {
    common::sim::lro_inventory(LroMode::Async, 0, 1)
}

/// The operator's credential for the simulator's built-in service principal.
fn principal(base: &Url) -> Arc<dyn TokenCredential> {
    secret_credential(base.as_str(), simulator::DEFAULT_CLIENT_SECRET)
}

fn client(
    base: &Url,
    credential: Arc<dyn TokenCredential>,
    retry: RetrySettings,
    observer: Arc<Recorder>,
) -> ArmClient {
    ArmClient::builder(reqwest::Client::new(), base.clone(), credential)
        .poll(PollSettings {
            default_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(20),
            ..Default::default()
        })
        .retry(retry)
        .observer(observer)
        .build()
}

fn fast_retry() -> RetrySettings {
    RetrySettings {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Credentials.

#[tokio::test]
async fn workload_identity_gets_arm_tokens_from_the_simulator_and_rereads_the_file() {
    let (sim, base) = start(inventory()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    // A token for another service account: Entra finds no federated credential for it.
    let wrong = service_account_token("system:serviceaccount:default:someone-else", 3600);
    std::fs::write(&file, &wrong).unwrap();
    let credential = CachedCredential::new(
        WorkloadIdentityCredential::new(
            reqwest::Client::new(),
            &base,
            simulator::DEFAULT_TENANT_ID,
            simulator::DEFAULT_CLIENT_ID,
            &file,
            "https://management.azure.com/.default",
        )
        .unwrap(),
    );
    let arm = client(&base, credential, fast_retry(), Arc::default());
    let err = arm.query_flow_log_status(&watcher_we(), &nsg("web-nsg")).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("AADSTS70021") || shown.contains("No matching federated identity record"), "{shown}");
    assert!(!err.is_transient(), "{shown}");
    assert!(!shown.contains(&wrong), "the assertion leaked: {shown}");
    assert_eq!(count(&sim, "queryFlowLogStatus"), 0);

    // The kubelet rotates the file to the operator's own token: the next call reads it and succeeds.
    std::fs::write(&file, service_account_token(simulator::DEFAULT_FEDERATED_SUBJECT, 3600)).unwrap();
    let info = arm.query_flow_log_status(&watcher_we(), &nsg("web-nsg")).await.unwrap();
    assert!(info.properties.enabled);
    assert_eq!(count(&sim, "token"), 2);
}

#[tokio::test]
async fn managed_identity_gets_arm_tokens_from_the_simulators_imds() {
    let (sim, base) = start(inventory()).await;
    let imds = |identity| imds_credential(&base, identity);
    // IMDS throttles twice, then answers.
    sim.set_faults(vec![FaultRule {
        operation: "imds".into(),
        count: Some(2),
        rate: None,
        seed: None,
        effect: FaultEffect::Error(ErrorFault {
            status: 429,
            code: "TooManyRequests".into(),
            message: None,
            retry_after_seconds: Some(0),
        }),
    }])
    .unwrap();
    let arm = client(&base, CachedCredential::new(imds(ManagedIdentityId::System)), fast_retry(), Arc::default());
    arm.query_flow_log_status(&watcher_we(), &nsg("web-nsg")).await.unwrap();
    assert_eq!(count(&sim, "imds"), 3);

    // A user-assigned identity by client ID.
    let user = imds(ManagedIdentityId::ClientId("33333333-3333-3333-3333-333333333334".into()));
    arm.with_credential(CachedCredential::new(user))
        .query_flow_log_status(&watcher_we(), &nsg("web-nsg"))
        .await
        .unwrap();
    assert_eq!(count(&sim, "imds"), 4);

    // An identity the VM does not have: IMDS says 400, which is not retried.
    let unknown = imds(ManagedIdentityId::ClientId("99999999-9999-9999-9999-999999999999".into()));
    let err = unknown.token().await.unwrap_err();
    assert!(matches!(err, ArmError::Authentication { status: 400, .. }), "{err:?}");
    assert_eq!(count(&sim, "imds"), 5);
}

// ---------------------------------------------------------------------------------------------------------
// Discovery and providers.

#[tokio::test]
async fn discovery_finds_each_targets_watcher_with_one_list() {
    let (sim, base) = start(inventory()).await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&base, principal(&base), fast_retry(), recorder.clone());

    let we = arm.network_watcher_for(&ResourceId::parse(&nsg("web-nsg")).unwrap()).await.unwrap().unwrap();
    assert!(we.id.eq_ignore_case(&watcher_we()), "{:?}", we.id);
    let subnet = id("app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/web");
    assert_eq!(arm.network_watcher_for(&subnet).await.unwrap().unwrap().id, we.id);
    let nic = id("app-prod-rg/providers/Microsoft.Network/networkInterfaces/web-vm-nic");
    assert_eq!(arm.network_watcher_for(&nic).await.unwrap().unwrap().id, we.id);
    let dr = id("app-dr-rg/providers/Microsoft.Network/networkSecurityGroups/web-dr-nsg");
    assert_eq!(arm.network_watcher_for(&dr).await.unwrap().unwrap().id.name(), "NetworkWatcher_northeurope");

    // One list for all four lookups (the simulator answers it in one page, as the examples do; paging is
    // covered against a scripted ARM in azure_resources.rs).
    assert_eq!(count(&sim, "networkWatchersListAll"), 1, "{:?}", sim.counters());
    assert_eq!(count(&sim, "subnetsGet"), 0, "the subnet's region is its virtual network's");
    assert_eq!(count(&sim, "virtualNetworksGet"), 1);

    // A subscription without a watcher in the target's region.
    let mut inv = inventory();
    inv.subscriptions[0].network_watchers.retain(|w| w.location != "northeurope");
    let (sim, base) = start(inv).await;
    let arm = client(&base, principal(&base), fast_retry(), Arc::default());
    for _ in 0..5 {
        assert_eq!(arm.network_watcher_for(&dr).await.unwrap(), None);
    }
    assert_eq!(count(&sim, "networkWatchersListAll"), 1, "no list storm for a region without a watcher");
}

#[tokio::test]
async fn microsoft_insights_is_registered_on_request() {
    let (sim, base) = start(inventory()).await;
    let arm = client(&base, principal(&base), fast_retry(), Arc::default());
    let second = simulator::SECOND_SUBSCRIPTION_ID;
    assert!(arm.provider_registration_state(SUB, "Microsoft.Insights").await.unwrap().is_registered());
    assert_eq!(
        arm.provider_registration_state(second, "microsoft.insights").await.unwrap(),
        RegistrationState::NotRegistered
    );
    arm.register_provider(second, "Microsoft.Insights").await.unwrap();
    let mut states = vec![];
    for _ in 0..5 {
        let state = arm.provider_registration_state(second, "Microsoft.Insights").await.unwrap();
        states.push(state.clone());
        if state.is_registered() {
            break;
        }
    }
    assert_eq!(states.first(), Some(&RegistrationState::Registering), "{states:?}");
    assert_eq!(states.last(), Some(&RegistrationState::Registered), "{states:?}");
    assert_eq!(count(&sim, "providersRegister"), 1);
}

// ---------------------------------------------------------------------------------------------------------
// The flowLogs resource.

fn storage(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/{name}")
}

fn vnet_flow_log(target: &ResourceId, retention_days: i32) -> FlowLog {
    FlowLog {
        location: Some("westeurope".into()),
        properties: FlowLogPropertiesFormat {
            target_resource_id: target.to_string(),
            storage_id: storage("flowlogsweu001"),
            enabled: Some(true),
            retention_policy: Some(RetentionPolicyParameters { days: retention_days, enabled: true }),
            flow_analytics_configuration: Some(TrafficAnalyticsProperties {
                network_watcher_flow_analytics_configuration: Some(TrafficAnalyticsConfigurationProperties {
                    enabled: Some(true),
                    workspace_id: Some("55555555-5555-5555-5555-555555555551".into()),
                    workspace_region: Some("westeurope".into()),
                    workspace_resource_id: Some(format!(
                        "/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.OperationalInsights/workspaces/flowlogs-law-weu"
                    )),
                    traffic_analytics_interval: Some(10),
                }),
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn flow_logs_are_listed_created_updated_and_deleted() {
    let mut inv = inventory();
    inv.behaviour.lro.in_progress_polls = Some(2);
    let (sim, base) = start(inv).await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&base, principal(&base), RetrySettings { max_attempts: 1, ..fast_retry() }, recorder.clone());
    let w = watcher_we();

    let before = arm.list_flow_logs(&w).await.unwrap();
    assert!(before.iter().any(|f| f.name.as_deref() == Some("shared-vnet-flowlog")), "{before:?}");
    assert!(count(&sim, "flowLogsList") >= 2, "the list is paged (pageSize 2): {:?}", sim.counters());
    let shared = arm.get_flow_log(&w, "shared-vnet-flowlog").await.unwrap().unwrap();
    assert_eq!(shared.properties.retention_policy.unwrap().days, 30);
    assert_eq!(arm.get_flow_log(&w, "app-vnet-flowlog").await.unwrap(), None);

    // Create: 201 + Azure-AsyncOperation; the flow log itself is polled until its provisioningState is Succeeded.
    let app_vnet = id("app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet");
    let gets = recorder.statuses("getFlowLog").len();
    let created = arm.put_flow_log(&w, "app-vnet-flowlog", &vnet_flow_log(&app_vnet, 30)).await.unwrap();
    assert_eq!(created.properties.provisioning_state.as_deref(), Some("Succeeded"));
    assert!(created.id.as_deref().unwrap().contains("/FlowLogs/"), "{:?}", created.id);
    let ta =
        created.properties.flow_analytics_configuration.unwrap().network_watcher_flow_analytics_configuration.unwrap();
    assert_eq!((ta.enabled, ta.traffic_analytics_interval), (Some(true), Some(10)));
    assert_eq!(recorder.statuses("putFlowLog"), vec![201]);
    let polls = recorder.statuses("getFlowLog").len() - gets;
    assert!((2..=3).contains(&polls), "polled while Updating (each poll a step), until Succeeded: {polls}");
    assert!(recorder.statuses("operationStatus").is_empty(), "the status URL is not needed");

    // Update in place: 200, same operation protocol.
    let updated = arm.put_flow_log(&w, "app-vnet-flowlog", &vnet_flow_log(&app_vnet, 90)).await.unwrap();
    assert_eq!(updated.properties.retention_policy.unwrap().days, 90);
    assert_eq!(recorder.statuses("putFlowLog"), vec![201, 200]);
    assert_eq!(sim.flow_log_resources().iter().filter(|f| f.name.as_deref() == Some("app-vnet-flowlog")).count(), 1);

    // Delete: 202, polled to the end; then it is gone and a second delete sends nothing.
    assert!(arm.delete_flow_log(&w, "app-vnet-flowlog").await.unwrap());
    assert_eq!(arm.get_flow_log(&w, "app-vnet-flowlog").await.unwrap(), None);
    assert!(!arm.delete_flow_log(&w, "app-vnet-flowlog").await.unwrap());
    assert_eq!(count(&sim, "flowLogsDelete"), 1);
}

#[tokio::test]
async fn concurrent_puts_to_one_target_are_serialised() {
    let mut inv = inventory();
    inv.behaviour.lro.in_progress_polls = Some(3);
    let (sim, base) = start(inv).await;
    let recorder = Arc::new(Recorder::default());
    // No retries: a 409 AnotherOperationInProgress would surface.
    let arm = client(&base, principal(&base), RetrySettings { max_attempts: 1, ..fast_retry() }, recorder.clone());
    let subnet = id("app-prod-rg/providers/Microsoft.Network/virtualNetworks/app-vnet/subnets/db");
    let per_policy = arm.with_credential(principal(&base));
    let w = watcher_we();
    let bodies = [7, 14, 21].map(|days| vnet_flow_log(&subnet, days));
    let (a, b, c) = tokio::join!(
        arm.put_flow_log(&w, "db-subnet", &bodies[0]),
        per_policy.put_flow_log(&w, "db-subnet", &bodies[1]),
        arm.put_flow_log(&w, "db-subnet", &bodies[2]),
    );
    for result in [a, b, c] {
        result.unwrap();
    }
    assert_eq!(count(&sim, "flowLogsCreateOrUpdate"), 3);
    assert!(recorder.statuses("putFlowLog").iter().all(|s| *s != 409), "{:?}", recorder.statuses("putFlowLog"));
}

// ---------------------------------------------------------------------------------------------------------
// Faults and throttling.

fn error_fault(operation: &str, count: u32, status: u16, code: &str, retry_after_seconds: Option<u32>) -> FaultRule {
    FaultRule {
        operation: operation.into(),
        count: Some(count),
        rate: None,
        seed: None,
        effect: FaultEffect::Error(ErrorFault { status, code: code.into(), message: None, retry_after_seconds }),
    }
}

#[tokio::test]
async fn injected_faults_are_survived_or_reported() {
    let (sim, base) = start(inventory()).await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&base, principal(&base), fast_retry(), recorder.clone());
    let target = nsg("web-nsg");

    // Two 500s, then the answer.
    sim.set_faults(vec![error_fault("queryFlowLogStatus", 2, 500, "InternalServerError", None)]).unwrap();
    arm.query_flow_log_status(&watcher_we(), &target).await.unwrap();
    assert_eq!(count(&sim, "queryFlowLogStatus"), 3);

    // A dropped connection, then the answer.
    sim.reset_counters();
    sim.set_faults(vec![FaultRule {
        operation: "queryFlowLogStatus".into(),
        count: Some(1),
        rate: None,
        seed: None,
        effect: FaultEffect::Drop,
    }])
    .unwrap();
    arm.query_flow_log_status(&watcher_we(), &target).await.unwrap();
    assert_eq!(count(&sim, "queryFlowLogStatus"), 2);
    assert!(recorder.statuses("queryFlowLogStatus").contains(&0), "the drop is reported as status 0");

    // A 429 with Retry-After on a status poll is waited out.
    sim.reset_counters();
    sim.set_faults(vec![error_fault("operationResult", 1, 429, "SubscriptionRequestsThrottled", Some(1))]).unwrap();
    let started = std::time::Instant::now();
    arm.query_flow_log_status(&watcher_we(), &target).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert!(recorder.waits().contains(&Duration::from_secs(1)));

    // A write whose operation ends Failed: the operation's error, classified transient, not retried in-client.
    sim.reset_counters();
    let mut info = arm.query_flow_log_status(&watcher_we(), &target).await.unwrap();
    info.properties.retention_policy.as_mut().unwrap().days = 45;
    sim.set_faults(vec![FaultRule {
        operation: "configureFlowLog".into(),
        count: Some(1),
        rate: None,
        seed: None,
        effect: FaultEffect::Lro(LroFault {
            in_progress_polls: Some(1),
            duration_ms: None,
            end: Some(LroEnd::Failed),
            code: None,
            message: None,
            status: None,
        }),
    }])
    .unwrap();
    let err = arm.configure_flow_log(&watcher_we(), &info).await.unwrap_err();
    assert!(matches!(&err, ArmError::OperationFailed { code, .. } if code == "InternalServerError"), "{err:?}");
    assert!(err.is_transient() && err.request_id().is_some());
    assert_eq!(count(&sim, "configureFlowLog"), 1);

    // A terminal error is not retried.
    sim.reset_counters();
    sim.set_faults(vec![error_fault("configureFlowLog", 5, 403, "AuthorizationFailed", None)]).unwrap();
    let err = arm.configure_flow_log(&watcher_we(), &info).await.unwrap_err();
    assert_eq!((err.code(), err.is_transient()), ("AuthorizationFailed", false));
    assert_eq!(count(&sim, "configureFlowLog"), 1);
}

#[tokio::test]
async fn arm_throttling_is_honoured_and_low_remaining_headers_prevent_it() {
    let mut inv = inventory();
    inv.behaviour.throttling = Throttling {
        enabled: true,
        reads: BucketLimits { size: 3, refill_per_second: 2.0 },
        writes: BucketLimits { size: 200, refill_per_second: 10.0 },
        deletes: BucketLimits { size: 200, refill_per_second: 10.0 },
    };
    let (sim, base) = start(inv).await;
    let target = id("app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg");

    // Without the header-based slowdown the client bursts into ARM's limit, gets 429 + Retry-After, waits, and
    // every read succeeds; the 429s stay few (no retry storm).
    let recorder = Arc::new(Recorder::default());
    let eager = ThrottleSettings { low_remaining: 0, ..Default::default() };
    let arm = ArmClient::builder(reqwest::Client::new(), base.clone(), principal(&base))
        .retry(fast_retry())
        .throttle(eager)
        .observer(recorder.clone())
        .build();
    for _ in 0..6 {
        arm.get_resource(&target).await.unwrap();
    }
    let statuses = recorder.statuses("getResource");
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!((1..=3).contains(&throttled), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 6);

    // With the default settings, ARM's x-ms-ratelimit-remaining-subscription-reads (below 20 here) paces the
    // client so that ARM never has to throttle it.
    sim.reset_throttling();
    let recorder = Arc::new(Recorder::default());
    let arm = ArmClient::builder(reqwest::Client::new(), base.clone(), principal(&base))
        .retry(fast_retry())
        .throttle(ThrottleSettings { reads: BucketSettings::new(250, 25.0), ..Default::default() })
        .observer(recorder.clone())
        .build();
    for _ in 0..5 {
        arm.get_resource(&target).await.unwrap();
    }
    assert_eq!(recorder.statuses("getResource"), vec![200; 5]);
    assert!(!recorder.waits().is_empty(), "the client did not slow down");
}

/// A watcher remembered in status that Azure no longer has (deleted, or recreated under another name) is looked up
/// again instead of failing every check; a watcher that is still there is used without a lookup.
#[tokio::test]
async fn a_remembered_watcher_that_is_gone_is_found_again() {
    let (sim, base) = start(inventory()).await;
    let arm = client(&base, principal(&base), fast_retry(), Arc::new(Recorder::default()));
    let spec = FlowLogPolicySpec { network_watcher: None, ..common::web_nsg_spec(30, "10m") };
    let gone = ResourceId::network_watcher(SUB, "NetworkWatcherRG", "NetworkWatcher_gone").to_string();

    let observation = locate_and_observe(&arm, &FlowLogIndex::default(), &spec, Some(&gone), Duration::ZERO)
        .await
        .expect("found the region's watcher");
    assert!(observation.located().watcher.eq_ignore_case(&watcher_we()), "{:?}", observation.located());
    assert_eq!(count(&sim, "networkWatchersListAll"), 1, "one lookup of the subscription's watchers");

    sim.reset_counters();
    let known = watcher_we().to_string();
    let observation =
        locate_and_observe(&arm, &FlowLogIndex::default(), &spec, Some(&known), Duration::ZERO).await.unwrap();
    assert!(observation.located().watcher.eq_ignore_case(&watcher_we()));
    assert_eq!(count(&sim, "networkWatchersListAll"), 0, "a watcher that is still there needs no lookup");
}

/// The watcher index: concurrent look-ups of several targets share one list of the watcher (every page, once); a
/// snapshot younger than the asked age answers without a request; an older one is listed again; another credential
/// gets its own; `record` and `invalidate` keep it honest after a read or a write.
#[tokio::test]
async fn one_list_of_a_watcher_answers_for_all_its_targets() {
    let (sim, base) = start(inventory()).await;
    let arm = client(&base, principal(&base), fast_retry(), Arc::new(Recorder::default()));
    let index = FlowLogIndex::default();
    let w = watcher_we();
    let targets: Vec<ResourceId> = ["web-nsg", "db-nsg", "new-nsg"]
        .iter()
        .map(|n| ResourceId::parse(&nsg(n)).unwrap())
        .chain([id("shared-net-rg/providers/Microsoft.Network/virtualNetworks/shared-vnet")])
        .collect();
    let pages = {
        sim.reset_counters();
        arm.list_flow_logs(&w).await.unwrap();
        let pages = count(&sim, "flowLogsList");
        sim.reset_counters();
        pages
    };
    assert!(pages >= 2, "the built-in inventory's list is paged: {pages}");

    let minute = Duration::from_secs(60);
    let seen = futures::future::join_all(targets.iter().map(|t| index.look_up(&arm, &w, t, minute))).await;
    let seen: Vec<_> = seen.into_iter().map(Result::unwrap).collect();
    assert_eq!(count(&sim, "flowLogsList"), pages, "one list for four targets, each page once");
    assert_eq!(seen.iter().filter(|s| s.listed).count(), 1, "one of them listed, the others waited for it");
    assert!(seen[0].flow_log.as_ref().is_some_and(|l| l.properties.enabled == Some(true)), "web-nsg has one");
    assert!(seen[2].flow_log.is_none(), "new-nsg has none: missing from a complete list");
    assert!(seen[3].flow_log.as_ref().is_some_and(|l| l.name.as_deref() == Some("shared-vnet-flowlog")));

    // Young enough: no request. Too old: listed again.
    assert!(!index.look_up(&arm, &w, &targets[0], minute).await.unwrap().listed);
    assert_eq!(count(&sim, "flowLogsList"), pages);
    assert!(index.look_up(&arm, &w, &targets[0], Duration::ZERO).await.unwrap().listed);
    assert_eq!(count(&sim, "flowLogsList"), 2 * pages);

    // Another credential scope does not see this one's snapshot.
    let other = arm.with_credential(principal(&base));
    assert!(index.look_up(&other, &w, &targets[0], minute).await.unwrap().listed);

    // After a write the index holds Azure's answer; a refused write drops the snapshot.
    let mut written = seen[0].flow_log.clone().unwrap();
    written.properties.retention_policy = Some(RetentionPolicyParameters { enabled: true, days: 99 });
    index.record(&arm, &w, targets[0].as_str(), Some(written));
    let now = index.look_up(&arm, &w, &targets[0], minute).await.unwrap();
    assert_eq!(now.flow_log.unwrap().properties.retention_policy.unwrap().days, 99);
    index.invalidate(&arm, &w);
    assert!(index.look_up(&arm, &w, &targets[0], minute).await.unwrap().listed);

    // A subscribed watcher is due once its period has passed; a refresh answers the targets whose flow log changed.
    let short = Duration::from_millis(200);
    index.subscribe(&arm, &w, short);
    tokio::time::sleep(short).await;
    assert!(index.due().iter().any(|(_, due)| due.eq_ignore_case(&w)), "due after its period");
    index.refresh(&arm, &w).await.unwrap();
    assert!(index.due().is_empty(), "not due right after a list");
    assert!(index.refresh(&arm, &w).await.unwrap().is_empty(), "nothing changed in Azure");
    let mut drifted = sim.flow_log_status(&nsg("db-nsg")).unwrap();
    drifted.properties.enabled = !drifted.properties.enabled;
    sim.set_flow_log(drifted).unwrap();
    let changed = index.refresh(&arm, &w).await.unwrap();
    assert_eq!(changed, vec![nsg("db-nsg").to_ascii_lowercase()], "only the target that changed");
}

//! The ARM client against the simulator, plus a scripted server for long-running-operation shapes the
//! simulator does not produce (Location-only polling, failed operations, never-ending operations).

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::arm_script::{ArmScript, reply};
use common::count;
use common::credentials::secret_credential;
use common::sim::lro_inventory;
use flowlog_operator::azure::id::ResourceId;
use flowlog_operator::azure::model::{FlowLogInformation, FlowLogProperties};
use flowlog_operator::azure::{ArmClient, ArmError, PollSettings};
use flowlog_simulator::inventory::LroMode;
use flowlog_simulator::{self as simulator, Simulator};
use serde_json::{Value, json};

const SUB: &str = simulator::DEFAULT_SUBSCRIPTION_ID;

fn watcher() -> ResourceId {
    ResourceId::network_watcher(SUB, "NetworkWatcherRG", "NetworkWatcher_westeurope")
}

fn nsg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

fn client(base: &str, secret: &str, poll: PollSettings) -> ArmClient {
    ArmClient::new(reqwest::Client::new(), common::credentials::endpoint(base), secret_credential(base, secret), poll)
}

fn fast_poll() -> PollSettings {
    PollSettings { default_interval: Duration::from_millis(10), timeout: Duration::from_secs(5), ..Default::default() }
}

async fn simulator(mode: LroMode, retry_after_seconds: u32, in_progress_polls: u32) -> (Simulator, String) {
    common::sim::start(lro_inventory(mode, retry_after_seconds, in_progress_polls)).await
}

#[tokio::test]
async fn synchronous_answers_need_no_polling() {
    let (sim, url) = simulator(LroMode::Sync, 0, 0).await;
    let arm = client(&url, simulator::DEFAULT_CLIENT_SECRET, fast_poll());
    let info = arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap();
    assert!(info.properties.enabled);
    assert_eq!(info.properties.retention_policy.unwrap().days, 7);
    assert_eq!(count(&sim, "operationStatus") + count(&sim, "operationResult"), 0);
    assert_eq!(count(&sim, "token"), 1);
}

#[tokio::test]
async fn accepted_operations_are_polled_to_their_result() {
    let (sim, url) = simulator(LroMode::Async, 0, 3).await;
    let arm = client(&url, simulator::DEFAULT_CLIENT_SECRET, fast_poll());
    let mut wanted = arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap();
    wanted.properties.retention_policy.as_mut().unwrap().days = 30;
    let result = arm.configure_flow_log(&watcher(), &wanted).await.unwrap();
    assert_eq!(result.properties.retention_policy.unwrap().days, 30);
    assert_eq!(sim.flow_log_status(&nsg("web-nsg")).unwrap().properties.retention_policy.unwrap().days, 30);
    // One URL is polled, the one that answers with the result (`Location`): three 202s, then the result, for each
    // of the two operations; the status URL is not needed.
    assert_eq!(count(&sim, "operationResult"), 8, "{:?}", sim.counters());
    assert_eq!(count(&sim, "operationStatus"), 0, "{:?}", sim.counters());
    assert_eq!(count(&sim, "token"), 1, "the token is cached across calls");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    // Operations of 1.5 s of wall-clock time, Retry-After: 1.
    let (_sim, url) = common::sim::start(common::sim::timed_inventory(1, 1500)).await;
    let arm = client(&url, simulator::DEFAULT_CLIENT_SECRET, fast_poll());
    let started = Instant::now();
    arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap();
    // 202 says Retry-After: 1, the status (still in progress at 1 s) says it again: two waits of one second.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn arm_errors_keep_code_message_and_request_id() {
    let (_sim, url) = simulator(LroMode::Async, 0, 1).await;
    let arm = client(&url, simulator::DEFAULT_CLIENT_SECRET, fast_poll());
    let mut info = arm.query_flow_log_status(&watcher(), &nsg("new-nsg")).await.unwrap();
    info.properties = FlowLogProperties {
        enabled: true,
        storage_id: format!(
            "/subscriptions/{SUB}/resourceGroups/logging-rg/providers/Microsoft.Storage/storageAccounts/flowlogsweu001"
        ),
        ..Default::default()
    };
    let err = arm.configure_flow_log(&watcher(), &info).await.unwrap_err();
    match &err {
        ArmError::Api { status, code, message, request_id, .. } => {
            assert_eq!((*status, code.as_str()), (400, "NsgFlowLogCreationBlocked"));
            assert!(message.contains("virtual network flow logs"), "{message}");
            assert!(request_id.is_some());
        }
        other => panic!("expected an ARM error, got {other:?}"),
    }
    assert!(!err.is_transient());

    let missing = ResourceId::network_watcher(SUB, "NetworkWatcherRG", "NetworkWatcher_nowhere");
    let err = arm.query_flow_log_status(&missing, &nsg("web-nsg")).await.unwrap_err();
    assert_eq!((err.code(), err.is_transient()), ("ResourceNotFound", false), "{err}");
}

#[tokio::test]
async fn a_wrong_secret_fails_with_entra_code_and_never_shows_the_secret() {
    let (sim, url) = simulator(LroMode::Sync, 0, 0).await;
    let arm = client(&url, "not-the-secret-xyzzy", fast_poll());
    let err = arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, ArmError::Authentication { status: 401, .. }), "{shown}");
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(!shown.contains("xyzzy"), "the secret leaked: {shown}");
    assert_eq!(count(&sim, "queryFlowLogStatus"), 0, "no ARM call without a token");
}

#[derive(Clone, Copy)]
enum Script {
    /// 202 with only `Location`; two more 202s, then 200.
    LocationOnly,
    /// 202 with `Azure-AsyncOperation`, which ends `Failed`.
    Failed,
    /// 202 with `Azure-AsyncOperation`, forever `InProgress`.
    Endless,
}

fn result_body() -> Value {
    json!({"targetResourceId": nsg("web-nsg"), "properties": {"storageId": "", "enabled": false}})
}

/// A scripted ARM that answers one action with a long-running operation of this shape.
async fn scripted(script: Script) -> String {
    let server = ArmScript::start(move |request| {
        let result_url = format!("{}/results/1", request.base);
        let status_url = format!("{}/operations/1", request.base);
        let in_progress = json!({"status": "InProgress"});
        if request.method == Method::POST {
            return match script {
                Script::LocationOnly => {
                    reply(StatusCode::ACCEPTED, Value::Null, &[("location", &result_url), ("retry-after", "0")])
                }
                Script::Failed | Script::Endless => reply(
                    StatusCode::ACCEPTED,
                    Value::Null,
                    &[("azure-asyncoperation", &status_url), ("retry-after", "0")],
                ),
            };
        }
        // The polls of the operation's URL, counted from 0.
        let n = request.path_count - 1;
        match script {
            Script::LocationOnly if n < 2 => reply(StatusCode::ACCEPTED, Value::Null, &[("location", &result_url)]),
            Script::LocationOnly => reply(StatusCode::OK, result_body(), &[]),
            Script::Failed if n < 1 => reply(StatusCode::OK, in_progress, &[]),
            Script::Failed => reply(
                StatusCode::OK,
                json!({"status": "Failed", "error": {"code": "InternalServerError", "message": "An error occurred."}}),
                &[],
            ),
            Script::Endless => reply(StatusCode::OK, in_progress, &[]),
        }
    })
    .await;
    server.base
}

#[tokio::test]
async fn location_only_operations_are_polled_until_200() {
    let base = scripted(Script::LocationOnly).await;
    let arm = client(&base, "s", fast_poll());
    let info: FlowLogInformation = arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap();
    assert_eq!(info.target_resource_id, nsg("web-nsg"));
}

#[tokio::test]
async fn failed_operations_surface_their_error() {
    let base = scripted(Script::Failed).await;
    let arm = client(&base, "s", fast_poll());
    let err = arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap_err();
    assert!(matches!(&err, ArmError::OperationFailed { code, .. } if code == "InternalServerError"), "{err:?}");
    assert!(err.is_transient(), "an internal error may succeed on retry");
}

#[tokio::test]
async fn operations_that_never_finish_time_out() {
    let base = scripted(Script::Endless).await;
    let poll = PollSettings {
        default_interval: Duration::from_millis(50),
        timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let arm = client(&base, "s", poll);
    let started = Instant::now();
    let err = arm.query_flow_log_status(&watcher(), &nsg("web-nsg")).await.unwrap_err();
    assert!(matches!(err, ArmError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

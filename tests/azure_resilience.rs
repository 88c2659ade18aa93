//! Throttling, retries, error classification, per-target write locks, the observer hook and shared clients,
//! against scripted servers (faults the simulator does not produce on demand) and the simulator.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use common::arm_script::{ArmScript, REQUEST_ID, TOKEN, arm_error, reply};
use common::credentials::{endpoint, secret_credential};
use common::recorder::Recorder;
use common::sim::lro_inventory;
use flowlog_operator::azure::credential::{Secret, TokenCredential};
use flowlog_operator::azure::id::ResourceId;
use flowlog_operator::azure::model::FlowLogInformation;
use flowlog_operator::azure::{ArmClient, ArmError, BucketSettings, PollSettings, RetrySettings, ThrottleSettings};
use flowlog_simulator::inventory::LroMode;
use flowlog_simulator::{self as simulator, Simulator};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const OTHER_SUB: &str = "00000000-0000-0000-0000-000000000002";

fn watcher(sub: &str) -> ResourceId {
    ResourceId::network_watcher(sub, "NetworkWatcherRG", "NetworkWatcher_westeurope")
}

fn nsg(sub: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

fn flow_log_info(target: &str) -> serde_json::Value {
    json!({"targetResourceId": target, "properties": {"storageId": "", "enabled": false}})
}

fn fast_retry() -> RetrySettings {
    RetrySettings {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_wait: Duration::from_secs(3),
    }
}

fn fast_poll() -> PollSettings {
    PollSettings { default_interval: Duration::from_millis(10), timeout: Duration::from_secs(10), ..Default::default() }
}

/// A client of the scripted ARM at `base`.
fn client(base: &str, retry: RetrySettings, throttle: ThrottleSettings, observer: Arc<Recorder>) -> ArmClient {
    ArmClient::builder(reqwest::Client::new(), endpoint(base), secret_credential(base, "s"))
        .poll(fast_poll())
        .retry(retry)
        .throttle(throttle)
        .observer(observer)
        .build()
}

fn ok_info(target: &str) -> Response {
    reply(StatusCode::OK, flow_log_info(target), &[])
}

// ---------------------------------------------------------------------------------------------------------
// Retries.

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_retried() {
    let target = nsg(SUB, "web-nsg");
    let t = target.clone();
    let server = ArmScript::start(move |request| {
        if request.arm_count == 1 {
            arm_error(StatusCode::TOO_MANY_REQUESTS, "SubscriptionRequestsThrottled", &[("retry-after", "1")])
        } else {
            ok_info(&t)
        }
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), recorder.clone());
    let info = arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap();
    assert_eq!(info.target_resource_id, target);
    let seen = server.arm();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}, before Retry-After");
    assert_eq!(
        recorder.requests(),
        vec![("token".into(), 200), ("queryFlowLogStatus".into(), 429), ("queryFlowLogStatus".into(), 200)]
    );
    assert_eq!(recorder.throttled(), vec![(SUB.to_string(), Duration::from_secs(1))]);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_a_bounded_number_of_times() {
    let target = nsg(SUB, "web-nsg");
    let t = target.clone();
    // 500 twice, then success: three requests, one result.
    let server = ArmScript::start(move |request| {
        if request.arm_count <= 2 {
            arm_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &[])
        } else {
            ok_info(&t)
        }
    })
    .await;
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), Arc::default());
    arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap();
    assert_eq!(server.arm().len(), 3);

    // Always 503: three attempts, then the error, classified transient for the controller.
    let server = ArmScript::start(|_| arm_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &[])).await;
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), Arc::default());
    let err = arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap_err();
    assert_eq!((err.code(), err.is_transient(), err.request_id()), ("ServiceUnavailable", true, Some(REQUEST_ID)));
    assert_eq!(server.arm().len(), 3);

    // max_attempts 1: no retry at all.
    let server = ArmScript::start(|_| arm_error(StatusCode::BAD_GATEWAY, "BadGateway", &[])).await;
    let arm = client(
        &server.base,
        RetrySettings { max_attempts: 1, ..fast_retry() },
        ThrottleSettings::default(),
        Arc::default(),
    );
    arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap_err();
    assert_eq!(server.arm().len(), 1);
}

#[tokio::test]
async fn conflicting_operations_are_retried() {
    let target = nsg(SUB, "web-nsg");
    let t = target.clone();
    let server = ArmScript::start(move |request| match request.arm_count {
        1 => arm_error(StatusCode::CONFLICT, "AnotherOperationInProgress", &[]),
        2 => arm_error(StatusCode::TOO_MANY_REQUESTS, "RetryableErrorDueToAnotherOperation", &[]),
        _ => ok_info(&t),
    })
    .await;
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), Arc::default());
    let info: FlowLogInformation = serde_json::from_value(flow_log_info(&target)).unwrap();
    arm.configure_flow_log(&watcher(SUB), &info).await.unwrap();
    assert_eq!(server.count(Method::POST, &format!("{}/configureFlowLog", watcher(SUB))), 3);
}

#[tokio::test]
async fn terminal_errors_are_not_retried() {
    let target = nsg(SUB, "web-nsg");
    for (status, code) in [
        (StatusCode::BAD_REQUEST, "InvalidResourceReference"),
        (StatusCode::BAD_REQUEST, "NsgFlowLogCreationBlocked"),
        (StatusCode::NOT_FOUND, "ResourceNotFound"),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        (StatusCode::FORBIDDEN, "AuthorizationFailed"),
    ] {
        let server = ArmScript::start(move |_| arm_error(status, code, &[])).await;
        let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), Arc::default());
        let err = arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap_err();
        assert_eq!((err.code(), err.is_transient()), (code, false), "{err}");
        assert!(err.to_string().contains(REQUEST_ID), "the request ID reaches the message: {err}");
        assert_eq!(server.arm().len(), 1, "{code} was retried");
    }
}

#[tokio::test]
async fn a_long_retry_after_is_returned_to_the_caller_instead_of_slept() {
    let target = nsg(SUB, "web-nsg");
    let server = ArmScript::start(|_| {
        arm_error(StatusCode::TOO_MANY_REQUESTS, "SubscriptionRequestsThrottled", &[("retry-after", "120")])
    })
    .await;
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), Arc::default());
    let started = Instant::now();
    let err = arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30), "slept through Retry-After");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.is_transient());
    assert_eq!(server.arm().len(), 1);

    // A long exponential backoff is capped too: a 5xx without Retry-After is retried after at most max_backoff.
    let server = ArmScript::start(|_| arm_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &[])).await;
    let retry = RetrySettings { max_attempts: 2, initial_backoff: Duration::from_secs(3600), ..fast_retry() };
    let arm = client(&server.base, retry, ThrottleSettings::default(), Arc::default());
    arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap_err();
    assert_eq!(server.arm().len(), 2);
}

/// A raw HTTP/1.1 server that resets the first `resets` ARM connections, then answers.
async fn resetting_server(resets: usize, target: String) -> (String, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let arm_connections = Arc::new(Mutex::new(0usize));
    let counter = arm_connections.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body (Content-Length).
            loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let head = String::from_utf8_lossy(&request).to_string();
            let body = if head.contains("/oauth2/v2.0/token") {
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"}).to_string()
            } else {
                let n = {
                    let mut c = counter.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n <= resets {
                    stream.set_zero_linger().unwrap();
                    drop(stream);
                    continue;
                }
                flow_log_info(&target).to_string()
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (base, arm_connections)
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let target = nsg(SUB, "web-nsg");
    let (base, connections) = resetting_server(2, target.clone()).await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&base, fast_retry(), ThrottleSettings::default(), recorder.clone());
    let info = arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap();
    assert_eq!(info.target_resource_id, target);
    assert_eq!(*connections.lock().unwrap(), 3);
    let statuses: Vec<u16> =
        recorder.requests().into_iter().filter(|(op, _)| op == "queryFlowLogStatus").map(|(_, s)| s).collect();
    assert_eq!(statuses, vec![0, 0, 200], "transport failures are reported with status 0");

    // More resets than attempts: a transient transport error.
    let (base, connections) = resetting_server(10, target.clone()).await;
    let arm = client(&base, fast_retry(), ThrottleSettings::default(), Arc::default());
    let err = arm.query_flow_log_status(&watcher(SUB), &target).await.unwrap_err();
    assert!(matches!(err, ArmError::Transport(_)) && err.is_transient(), "{err:?}");
    assert_eq!(err.code(), "AzureUnreachable");
    assert_eq!(*connections.lock().unwrap(), 3);
}

// ---------------------------------------------------------------------------------------------------------
// Budgets.

fn tight(capacity: u32, per_second: f64) -> ThrottleSettings {
    ThrottleSettings {
        reads: BucketSettings::new(capacity, per_second),
        writes: BucketSettings::new(capacity, per_second),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_request_budget_paces_requests_per_subscription() {
    let server = ArmScript::start(|_| reply(StatusCode::OK, json!({"id": "/x", "name": "x", "type": "t"}), &[])).await;
    let recorder = Arc::new(Recorder::default());
    // Two reads at once, then one every 100 ms; the client may wait up to 3 s.
    let arm = client(&server.base, fast_retry(), tight(2, 10.0), recorder.clone());
    let id = ResourceId::parse(&nsg(SUB, "web-nsg")).unwrap();
    for _ in 0..4 {
        arm.get_resource(&id).await.unwrap();
    }
    let seen = server.arm();
    assert_eq!(seen.len(), 4);
    assert!(seen[3].at - seen[1].at >= Duration::from_millis(150), "the 3rd and 4th read were not paced");
    let throttled = recorder.throttled();
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    assert!(throttled.iter().all(|(sub, waited)| sub == SUB && !waited.is_zero()));

    // Another subscription has its own budget.
    let other = ResourceId::parse(&nsg(OTHER_SUB, "web-nsg")).unwrap();
    arm.get_resource(&other).await.unwrap();
    assert_eq!(recorder.throttled().len(), 2);
}

#[tokio::test]
async fn an_exhausted_budget_fails_fast_without_sending() {
    let server = ArmScript::start(|_| reply(StatusCode::OK, json!({"id": "/x", "name": "x", "type": "t"}), &[])).await;
    // One read per 10 s; the client may not wait that long.
    let arm = client(
        &server.base,
        RetrySettings { max_wait: Duration::from_millis(100), ..fast_retry() },
        tight(1, 0.1),
        Arc::default(),
    );
    let id = ResourceId::parse(&nsg(SUB, "web-nsg")).unwrap();
    arm.get_resource(&id).await.unwrap();
    let err = arm.get_resource(&id).await.unwrap_err();
    match &err {
        ArmError::Throttled { subscription, retry_after } => {
            assert_eq!(subscription, SUB);
            assert!(*retry_after > Duration::from_secs(9), "{retry_after:?}");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert!(err.is_transient() && err.retry_after().is_some());
    assert_eq!(server.arm().len(), 1, "the throttled request was sent");
}

#[tokio::test]
async fn low_rate_limit_headers_slow_the_client_down() {
    let server = ArmScript::start(|request| {
        let remaining = if request.arm_count == 1 { "2" } else { "5000" };
        reply(
            StatusCode::OK,
            json!({"id": "/x", "name": "x", "type": "t"}),
            &[("x-ms-ratelimit-remaining-subscription-reads", remaining)],
        )
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), recorder.clone());
    let id = ResourceId::parse(&nsg(SUB, "web-nsg")).unwrap();
    arm.get_resource(&id).await.unwrap();
    assert!(recorder.throttled().is_empty(), "a full budget needs no wait");
    arm.get_resource(&id).await.unwrap();
    // ARM said 2 reads left (18 below the default mark of 20): the next read waits 19 refills at 25/s.
    let throttled = recorder.throttled();
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert!(throttled[0].1 >= Duration::from_millis(700), "{throttled:?}");
    // ARM now reports plenty left; once the bucket has refilled a little, reads flow freely again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    arm.get_resource(&id).await.unwrap();
    arm.get_resource(&id).await.unwrap();
    assert_eq!(recorder.throttled().len(), 1, "plenty left again: no more waiting");
}

// ---------------------------------------------------------------------------------------------------------
// Per-target write locks, against the simulator (which answers 409 AnotherOperationInProgress to a second
// configureFlowLog on an NSG while one is in flight).

async fn simulator_in_async_mode(in_progress_polls: u32) -> (Simulator, String) {
    common::sim::start(lro_inventory(LroMode::Async, 0, in_progress_polls)).await
}

fn sim_client(url: &str, observer: Arc<Recorder>) -> ArmClient {
    ArmClient::builder(reqwest::Client::new(), endpoint(url), secret_credential(url, simulator::DEFAULT_CLIENT_SECRET))
        .poll(PollSettings { default_interval: Duration::from_millis(20), ..fast_poll() })
        // No retries: a 409 would surface instead of being papered over.
        .retry(RetrySettings { max_attempts: 1, ..fast_retry() })
        .observer(observer)
        .build()
}

#[tokio::test]
async fn concurrent_writes_to_one_target_are_serialised() {
    let (sim, url) = simulator_in_async_mode(3).await;
    let recorder = Arc::new(Recorder::default());
    let arm = sim_client(&url, recorder.clone());
    let target = nsg(simulator::DEFAULT_SUBSCRIPTION_ID, "web-nsg");
    let w = watcher(simulator::DEFAULT_SUBSCRIPTION_ID);
    let current = arm.query_flow_log_status(&w, &target).await.unwrap();
    let writes = [7, 30, 90].map(|days| {
        let mut info = current.clone();
        // The ID in another casing: still the same target.
        info.target_resource_id = if days == 30 { target.to_uppercase() } else { target.clone() };
        info.properties.retention_policy.as_mut().unwrap().days = days;
        info
    });
    // Each write is a long-running operation (3 polls): without the lock the simulator answers 409.
    let results = futures::future::join_all(writes.iter().map(|info| arm.configure_flow_log(&w, info))).await;
    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(sim.counters().get("configureFlowLog"), Some(&3));
    assert!(recorder.requests().iter().all(|(_, status)| *status != 409));

    // A client with another credential shares the locks.
    let other = arm.with_credential(secret_credential(&url, simulator::DEFAULT_CLIENT_SECRET));
    let (a, b) = tokio::join!(arm.configure_flow_log(&w, &writes[0]), other.configure_flow_log(&w, &writes[1]));
    a.unwrap();
    b.unwrap();
}

#[tokio::test]
async fn writes_to_different_targets_run_concurrently() {
    // A server whose configureFlowLog takes 300 ms; two targets written at once overlap.
    let in_flight = Arc::new(Mutex::new((0usize, 0usize)));
    let counter = in_flight.clone();
    let server = ArmScript::start_async(move |request| {
        let counter = counter.clone();
        async move {
            {
                let mut c = counter.lock().unwrap();
                c.0 += 1;
                c.1 = c.1.max(c.0);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            counter.lock().unwrap().0 -= 1;
            axum::Json(request.body).into_response()
        }
    })
    .await;
    let arm = client(&server.base, fast_retry(), ThrottleSettings::default(), Arc::default());
    let w = watcher(SUB);
    let a: FlowLogInformation = serde_json::from_value(flow_log_info(&nsg(SUB, "a"))).unwrap();
    let b: FlowLogInformation = serde_json::from_value(flow_log_info(&nsg(SUB, "b"))).unwrap();
    let a2 = a.clone();
    let (r1, r2, r3) =
        tokio::join!(arm.configure_flow_log(&w, &a), arm.configure_flow_log(&w, &b), arm.configure_flow_log(&w, &a2));
    r1.unwrap();
    r2.unwrap();
    r3.unwrap();
    // Two targets: at most two writes at once (the second write to `a` waited for the first).
    assert_eq!(in_flight.lock().unwrap().1, 2);
}

// ---------------------------------------------------------------------------------------------------------
// Observer and shared clients.

#[tokio::test]
async fn the_observer_sees_every_request_of_a_long_running_operation() {
    let (_sim, url) = simulator_in_async_mode(2).await;
    let recorder = Arc::new(Recorder::default());
    let arm = sim_client(&url, recorder.clone());
    let target = nsg(simulator::DEFAULT_SUBSCRIPTION_ID, "web-nsg");
    arm.query_flow_log_status(&watcher(simulator::DEFAULT_SUBSCRIPTION_ID), &target).await.unwrap();
    let mut by_operation: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for (op, status) in recorder.requests() {
        by_operation.entry(op).or_default().push(status);
    }
    assert_eq!(by_operation["token"], vec![200]);
    assert_eq!(by_operation["queryFlowLogStatus"], vec![202]);
    // The `Location` URL is polled: two 202s while it runs, then the result. The status URL is not needed.
    assert_eq!(by_operation["operationResult"], vec![202, 202, 200]);
    assert!(!by_operation.contains_key("operationStatus"), "{by_operation:?}");
}

#[tokio::test]
async fn clients_with_other_credentials_share_budgets_but_not_tokens() {
    let server = ArmScript::start(|request| {
        let token = request.headers.get("authorization").unwrap().to_str().unwrap().to_string();
        reply(StatusCode::OK, json!({"id": "/x", "name": token, "type": "t"}), &[])
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let arm = client(
        &server.base,
        RetrySettings { max_wait: Duration::from_millis(50), ..fast_retry() },
        tight(1, 0.1),
        recorder.clone(),
    );
    let id = ResourceId::parse(&nsg(SUB, "web-nsg")).unwrap();
    assert_eq!(arm.get_resource(&id).await.unwrap().name, format!("Bearer {TOKEN}"));

    #[derive(Debug)]
    struct Fixed;
    #[async_trait::async_trait]
    impl TokenCredential for Fixed {
        async fn token(&self) -> Result<flowlog_operator::azure::credential::AccessToken, ArmError> {
            Ok(flowlog_operator::azure::credential::AccessToken {
                token: Secret::new("policy-token"),
                expires_at: Instant::now() + Duration::from_secs(3600),
            })
        }
    }
    let per_policy = arm.with_credential(Arc::new(Fixed));
    // The budget of the subscription is spent: the derived client is throttled too.
    assert!(matches!(per_policy.get_resource(&id).await, Err(ArmError::Throttled { .. })));
    let other = ResourceId::parse(&nsg(OTHER_SUB, "web-nsg")).unwrap();
    assert_eq!(per_policy.get_resource(&other).await.unwrap().name, "Bearer policy-token");
    // The derived client reports to the same observer.
    assert!(recorder.requests().iter().filter(|(op, _)| op == "getResource").count() >= 2);
}

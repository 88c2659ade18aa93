//! The ARM client and the Azure use cases against a hostile ARM, for a bounded time: a local server that answers
//! every request (token endpoint included) with a seeded random pick of plausible answers and answers that break
//! the contract — malformed and truncated JSON, wrong types, missing fields, `null`, HTML, bytes that are not
//! UTF-8, JSON nested 100,000 deep, enormous bodies (announced, and endless ones without a length), connections
//! reset mid-body, random statuses with nonsense `Retry-After`, operations whose `Location` and
//! `Azure-AsyncOperation` point at another host or are not URLs, redirect loops and redirects away, slow answers.
//! The invariants: no panic, no call that hangs, every failure a typed error whose text carries neither the client
//! secret nor the token, and memory bounded (bodies over the limit are refused, not read). Figures printed.
//!
//! `FLOWLOG_FUZZ_SECONDS` (default 10) and `FLOWLOG_FUZZ_SEED` (default: from the clock, printed) replay a run.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use flowlog_operator::api::{DeletionPolicy, FlowLogPolicySpec, TargetSelector};
use flowlog_operator::azure::credential::{CachedCredential, ClientSecretCredential, Secret, TokenCredential};
use flowlog_operator::azure::{ArmClient, PollSettings, RetrySettings};
use flowlog_operator::sync::{FlowLogIndex, Insights, converge, discover, retire};
use serde_json::json;

const CLIENT_SECRET: &str = "fuzz-client-secret-0f3b9c";
const ACCESS_TOKEN: &str = "fuzz-access-token-7d21e4";
const SUB: &str = "6f1c2b3a-0000-4000-8000-00000000000a";
const ELSEWHERE: &str = "http://198.51.100.7";

struct Fuzz {
    seed: u64,
    base: Mutex<String>,
    requests: AtomicU64,
    answers: Mutex<BTreeMap<&'static str, u64>>,
    huge: Bytes,
}

fn json_body(status: StatusCode, value: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(value.to_string()))
        .unwrap()
}

fn raw(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder().status(status).header("content-type", content_type).body(body.into()).unwrap()
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

/// A plausible answer for the route, with random values where the contract leaves room.
fn plausible(rng: &mut fastrand::Rng, method: &Method, path: &str, base: &str) -> (&'static str, Response) {
    let nw = format!(
        "/subscriptions/{SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope"
    );
    let operation = format!("{base}/fuzz/operations/{}", rng.u32(..));
    let accepted = |rng: &mut fastrand::Rng| {
        Response::builder()
            .status(if rng.bool() { StatusCode::ACCEPTED } else { StatusCode::CREATED })
            .header("azure-asyncoperation", &operation)
            .header("location", format!("{operation}/result"))
            .header("retry-after", "0")
            .body(Body::from("{}"))
            .unwrap()
    };
    let flow_log = |rng: &mut fastrand::Rng| {
        json!({
            "id": format!("{nw}/flowLogs/fl-{}", rng.u8(..4)),
            "name": format!("fl-{}", rng.u8(..4)),
            "location": pick(rng, &["westeurope", "WestEurope", "", "mars"]),
            "properties": {
                "targetResourceId": pick(rng, &[
                    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"),
                    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"),
                    "not an id".to_string(),
                ]),
                "storageId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s{}", rng.u8(..3)),
                "enabled": rng.bool(),
                "provisioningState": pick(rng, &["Succeeded", "Updating", "Failed", "Weird"]),
                "retentionPolicy": {"days": rng.i32(-5..400), "enabled": rng.bool()},
                "format": {"type": "JSON", "version": rng.i32(0..4)},
            }
        })
    };
    if path.contains("/fuzz/operations/") {
        let status = *pick(rng, &["InProgress", "Succeeded", "Failed", "Canceled", "Weird"]);
        if path.ends_with("/result") {
            return ("operation result", json_body(StatusCode::OK, flow_log(rng)));
        }
        return (
            "operation status",
            json_body(StatusCode::OK, json!({"status": status, "error": {"code": "Boom", "message": "m"}})),
        );
    }
    if path.contains("configureFlowLog") || path.contains("queryFlowLogStatus") {
        if rng.bool() {
            return ("legacy accepted", accepted(rng));
        }
        let body = json!({"targetResourceId": "x", "properties": {"storageId": "", "enabled": rng.bool()}});
        return ("legacy answer", json_body(StatusCode::OK, body));
    }
    if *method == Method::PUT {
        return if rng.bool() {
            ("put accepted", accepted(rng))
        } else {
            ("put answer", json_body(StatusCode::OK, flow_log(rng)))
        };
    }
    if *method == Method::DELETE {
        return if rng.bool() {
            ("delete accepted", accepted(rng))
        } else {
            ("delete answer", raw(StatusCode::OK, "application/json", ""))
        };
    }
    if path.ends_with("/flowLogs") {
        let next = match rng.u8(..4) {
            0 => json!(format!("{base}/fuzz/next{path}")),
            1 => json!(format!("{ELSEWHERE}/next")),
            _ => serde_json::Value::Null,
        };
        let logs: Vec<_> = (0..rng.usize(..4)).map(|_| flow_log(rng)).collect();
        return ("flow-log page", json_body(StatusCode::OK, json!({"value": logs, "nextLink": next})));
    }
    if path.ends_with("/networkWatchers") {
        let watcher = json!({"id": nw, "name": "NetworkWatcher_westeurope", "type": "Microsoft.Network/networkWatchers", "location": pick(rng, &["westeurope", "northeurope"])});
        return ("watcher list", json_body(StatusCode::OK, json!({"value": [watcher]})));
    }
    if path.ends_with("/subscriptions") {
        return (
            "subscriptions",
            json_body(StatusCode::OK, json!({"value": [{"subscriptionId": SUB, "state": "Enabled"}]})),
        );
    }
    if path.ends_with("/virtualNetworks") {
        let vnet = json!({"name": "v", "type": "Microsoft.Network/virtualNetworks", "id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v{}", rng.u8(..3)), "location": "westeurope", "tags": {"a": 1}});
        return ("vnet list", json_body(StatusCode::OK, json!({"value": [vnet]})));
    }
    if path.contains("/providers/Microsoft.Insights") {
        return (
            "provider",
            json_body(
                StatusCode::OK,
                json!({"namespace": "Microsoft.Insights", "registrationState": pick(rng, &["Registered", "Registering", "NotRegistered"])}),
            ),
        );
    }
    let nics = if rng.u8(..4) == 0 { json!(5) } else { json!([]) };
    let resource = json!({"id": path, "name": path.rsplit('/').next(), "type": "Microsoft.Network/x", "location": "westeurope", "properties": {"subnets": [{"id": format!("{path}/subnets/a")}], "networkInterfaces": nics}});
    ("resource", json_body(StatusCode::OK, resource))
}

/// An answer that breaks the contract.
fn hostile(rng: &mut fastrand::Rng, fuzz: &Fuzz, uri: &Uri, base: &str) -> (&'static str, Response) {
    match rng.u8(..18) {
        0 => ("truncated JSON", raw(StatusCode::OK, "application/json", r#"{"value":[{"id":"/subscriptions/"#)),
        1 => (
            "wrong types",
            raw(
                StatusCode::OK,
                "application/json",
                r#"{"value":7,"id":[],"location":{},"properties":"x","status":12,"access_token":5,"expires_in":"soon"}"#,
            ),
        ),
        2 => ("empty object", raw(StatusCode::OK, "application/json", "{}")),
        3 => ("null", raw(StatusCode::OK, "application/json", "null")),
        4 => ("HTML", raw(StatusCode::OK, "text/html", "<html><body>Bad gateway</body></html>")),
        5 => ("not UTF-8", raw(StatusCode::OK, "application/json", vec![0xff, 0xfe, 0x00, 0x7b, 0xc3, 0x28])),
        6 => ("nested 100,000 deep", raw(StatusCode::OK, "application/json", "[".repeat(100_000))),
        7 => ("enormous, announced", raw(StatusCode::OK, "application/json", fuzz.huge.clone())),
        8 => {
            // No length, and no end: only a reader that stops can survive it.
            let chunk = Bytes::from(vec![b' '; 1 << 20]);
            let stream = futures::stream::iter((0..4096).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            ("enormous, endless", raw(StatusCode::OK, "application/json", Body::from_stream(stream)))
        }
        9 => {
            let stream = futures::stream::iter([
                Ok(Bytes::from_static(br#"{"value":[{"id":"#)),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")),
            ]);
            ("reset mid-body", raw(StatusCode::OK, "application/json", Body::from_stream(stream)))
        }
        10 | 11 => {
            let status = *pick(rng, &[400u16, 401, 403, 404, 409, 412, 429, 500, 502, 503, 504]);
            let retry_after = *pick(rng, &["", "-5", "abc", "0", "1", "99999999999", "Wed, 21 Oct 2015 07:28:00 GMT"]);
            let body =
                pick(rng, &[r#"{"error":{"code":"Boom","message":"no"}}"#, r#"{"error":"flat"}"#, "", "<html/>"])
                    .to_string();
            let mut response = raw(StatusCode::from_u16(status).unwrap(), "application/json", body);
            if !retry_after.is_empty() {
                response.headers_mut().insert("retry-after", retry_after.parse().unwrap());
            }
            ("random status", response)
        }
        12 => {
            let response = Response::builder()
                .status(StatusCode::ACCEPTED)
                .header("azure-asyncoperation", format!("{ELSEWHERE}/operations/1"))
                .header("location", format!("{ELSEWHERE}/operations/1/result"))
                .body(Body::empty())
                .unwrap();
            ("operation elsewhere", response)
        }
        13 => {
            let response = Response::builder()
                .status(StatusCode::ACCEPTED)
                .header("azure-asyncoperation", "::::not a url")
                .header("location", "/relative/only")
                .header("retry-after", "-1")
                .body(Body::empty())
                .unwrap();
            ("operation not a URL", response)
        }
        14 => {
            let url = format!("{base}{}", uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
            (
                "redirect loop",
                Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header("location", url)
                    .body(Body::empty())
                    .unwrap(),
            )
        }
        15 => (
            "redirect away",
            Response::builder()
                .status(StatusCode::FOUND)
                .header("location", format!("{ELSEWHERE}/x"))
                .body(Body::empty())
                .unwrap(),
        ),
        16 => ("no content", raw(StatusCode::NO_CONTENT, "application/json", "")),
        _ => ("200, empty", raw(StatusCode::OK, "application/json", "")),
    }
}

async fn answer(
    State(fuzz): State<Arc<Fuzz>>,
    method: Method,
    uri: Uri,
    _headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let n = fuzz.requests.fetch_add(1, Ordering::Relaxed);
    let mut rng = fastrand::Rng::with_seed(fuzz.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let base = fuzz.base.lock().unwrap().clone();
    let path = uri.path().to_string();
    let (kind, response) = if path.ends_with("/oauth2/v2.0/token") {
        if rng.u8(..10) < 8 {
            (
                "token",
                json_body(
                    StatusCode::OK,
                    json!({"access_token": ACCESS_TOKEN, "expires_in": rng.i64(-10..7200), "token_type": "Bearer"}),
                ),
            )
        } else {
            hostile(&mut rng, &fuzz, &uri, &base)
        }
    } else if rng.u8(..10) < 4 {
        if rng.u8(..10) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.u64(100..1500))).await;
        }
        plausible(&mut rng, &method, &path, &base)
    } else {
        hostile(&mut rng, &fuzz, &uri, &base)
    };
    *fuzz.answers.lock().unwrap().entry(kind).or_default() += 1;
    response
}

fn spec(target: &str, deletion: DeletionPolicy) -> FlowLogPolicySpec {
    let storage = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s1");
    let mut spec: FlowLogPolicySpec = serde_saphyr::from_str(&format!(
        "target: {{resourceId: {target}}}\nflowLog: {{enabled: true, storageId: {storage}, retentionPolicy: {{enabled: true, days: 30}}, format: {{type: JSON, version: 2}}}}\n"
    ))
    .unwrap();
    spec.deletion_policy = deletion;
    spec
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    kb / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_survives_a_hostile_arm() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds: u64 = std::env::var("FLOWLOG_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = std::env::var("FLOWLOG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("hostile ARM: seed {seed} (FLOWLOG_FUZZ_SEED={seed} replays it), {seconds} s");
    let fuzz = Arc::new(Fuzz {
        seed,
        base: Mutex::default(),
        requests: AtomicU64::new(0),
        answers: Mutex::default(),
        huge: Bytes::from(vec![b'['; 40 << 20]),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fuzz.base.lock().unwrap() = base.clone();
    let app = axum::Router::new().fallback(answer).with_state(fuzz.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = url::Url::parse(&format!("{base}/")).unwrap();
    let http = flowlog_operator::azure::http_client().unwrap();
    let credential = ClientSecretCredential::new(
        http.clone(),
        &url,
        "11111111-1111-1111-1111-111111111111",
        "22222222-2222-2222-2222-222222222222",
        Secret::new(CLIENT_SECRET),
        "https://management.azure.com/.default",
    )
    .unwrap();
    let credential = CachedCredential::new(credential);
    let poll = PollSettings {
        default_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        timeout: Duration::from_secs(3),
    };
    let retry = RetrySettings {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_wait: Duration::from_millis(200),
    };
    let arm = ArmClient::builder(http, url, credential.clone()).poll(poll).retry(retry).build();
    let index = Arc::new(FlowLogIndex::default());
    let insights = Arc::new(Insights::new(true));
    let nsg = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg");
    let vnet = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet");
    let selector: TargetSelector = serde_saphyr::from_str("allSubscriptions: true\nkind: VirtualNetwork\n").unwrap();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let (mut calls, mut panics, mut hangs, mut leaks) = (0u64, Vec::new(), 0u64, Vec::new());
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0u64;
    while Instant::now() < deadline || !tasks.is_empty() {
        while tasks.len() < 4 && Instant::now() < deadline {
            let (arm, index, insights, credential) = (arm.clone(), index.clone(), insights.clone(), credential.clone());
            let (nsg, vnet, selector) = (nsg.clone(), vnet.clone(), selector.clone());
            let op = next % 7;
            next += 1;
            tasks.spawn(async move {
                let max_age = Duration::from_millis(if op.is_multiple_of(2) { 0 } else { 500 });
                let run = async {
                    let result: Result<(), String> = match op {
                        0 => converge(&arm, &index, &insights, &spec(&nsg, DeletionPolicy::Disable), max_age)
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{}: {e}", e.code())),
                        1 => converge(&arm, &index, &insights, &spec(&vnet, DeletionPolicy::Delete), max_age)
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{}: {e}", e.code())),
                        2 => discover(&arm, &selector).await.map(|_| ()).map_err(|e| format!("{}: {e}", e.code())),
                        3 => retire(
                            &arm,
                            &index,
                            &spec(&vnet, DeletionPolicy::Delete),
                            DeletionPolicy::Delete,
                            None,
                            max_age,
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{}: {e}", e.code())),
                        4 => retire(
                            &arm,
                            &index,
                            &spec(&nsg, DeletionPolicy::Disable),
                            DeletionPolicy::Disable,
                            None,
                            max_age,
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{}: {e}", e.code())),
                        5 => {
                            let s = spec(&vnet, DeletionPolicy::Disable);
                            match flowlog_operator::preview::read::read(&arm, &index, &s, &s.flow_log).await {
                                flowlog_operator::preview::Read::Failed { code, message } => {
                                    Err(format!("{code}: {message}"))
                                }
                                _ => Ok(()),
                            }
                        }
                        _ => credential.token().await.map(|_| ()).map_err(|e| format!("{}: {e}", e.code())),
                    };
                    result
                };
                (op, tokio::time::timeout(Duration::from_secs(30), run).await)
            });
        }
        let Some(joined) = tasks.join_next().await else { continue };
        calls += 1;
        match joined {
            Err(e) if e.is_panic() => panics.push(format!("{e:?}")),
            Err(e) => panics.push(format!("task failed: {e}")),
            Ok((op, Err(_))) => {
                hangs += 1;
                eprintln!("operation {op} did not end within 30 s");
            }
            Ok((_, Ok(Ok(())))) => *outcomes.entry("ok".into()).or_default() += 1,
            Ok((_, Ok(Err(text)))) => {
                if text.contains(CLIENT_SECRET) || text.contains(ACCESS_TOKEN) {
                    leaks.push(text.clone());
                }
                let code = text.split(':').next().unwrap_or_default().to_string();
                assert!(!code.is_empty() && text.len() > code.len() + 2, "an error says what failed: {text:?}");
                *outcomes.entry(code).or_default() += 1;
            }
        }
    }
    let requests = fuzz.requests.load(Ordering::Relaxed);
    println!("  {calls} calls in {:.1} s, {requests} requests answered", started.elapsed().as_secs_f64());
    println!("  answers: {:?}", fuzz.answers.lock().unwrap());
    println!("  outcomes: {outcomes:?}");
    println!("  peak RSS of the test process: {} MiB", peak_rss_mib());
    assert!(panics.is_empty(), "panics: {panics:#?}");
    assert_eq!(hangs, 0, "calls that did not end");
    assert!(leaks.is_empty(), "secrets in errors: {leaks:#?}");
    assert!(calls >= 20 && requests >= 100, "the run did some work: {calls} calls, {requests} requests");
    assert!(outcomes.len() >= 4, "a variety of outcomes: {outcomes:?}");
    assert!(peak_rss_mib() < 1024, "bodies over the limit are not read into memory");
}

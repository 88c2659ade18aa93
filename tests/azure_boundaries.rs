//! Where the client's requests may go: operation URLs (`Azure-AsyncOperation`, `Location`, resume tokens from
//! status), `nextLink` and redirects are followed only within the ARM endpoint's origin (scheme, host and port), and
//! token requests are never redirected away from the authority host. Each case runs against a scripted ARM and a
//! second local server, "elsewhere" (another port: another origin), which must never be asked anything.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use common::arm_script::{ArmScript, Request, reply};
use common::credentials::{endpoint, secret_credential};
use flowlog_operator::azure::credential::{
    ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityId, Secret, TokenCredential,
};
use flowlog_operator::azure::id::ResourceId;
use flowlog_operator::azure::{ArmClient, ArmError, Operation, OperationKind, PollSettings, RetrySettings, boundary};
use serde_json::{Value, json};
use url::Url;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const CLIENT: &str = "22222222-2222-2222-2222-222222222222";

fn watcher() -> ResourceId {
    ResourceId::network_watcher(SUB, "NetworkWatcherRG", "NetworkWatcher_westeurope")
}

fn nsg() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg")
}

/// A request a [`Plain`] server received: method, path and query, body.
type Seen = (Method, String, String);

/// A plain local server that records every request and answers with `answer`: "elsewhere", or a token endpoint
/// that redirects.
#[derive(Clone)]
struct Plain {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Plain {
    async fn start(answer: impl Fn(&str) -> Response + Clone + Send + Sync + 'static) -> Plain {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, _headers: HeaderMap, body: Bytes| {
            let (record, answer) = (record.clone(), answer.clone());
            async move {
                let body = String::from_utf8_lossy(&body).into_owned();
                record.lock().unwrap().push((method, uri.to_string(), body));
                answer(uri.path())
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Plain { base, seen }
    }

    /// A server that answers 200 with an empty list (what a thief would answer) and records what it was sent.
    async fn elsewhere() -> Plain {
        Plain::start(|_| reply(StatusCode::OK, json!({"value": []}), &[])).await
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A client of the scripted ARM at `base` through `http`, without retries or waits.
fn client_with(http: reqwest::Client, base: &str) -> ArmClient {
    ArmClient::builder(http, endpoint(base), secret_credential(base, "s"))
        .poll(PollSettings {
            default_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            ..Default::default()
        })
        .retry(RetrySettings { max_attempts: 1, ..Default::default() })
        .build()
}

/// The same through the operator's own HTTP client.
fn client(base: &str) -> ArmClient {
    client_with(boundary::http_client().unwrap(), base)
}

/// `err` refused a URL of `elsewhere` as `what`, and says so without the token, the query or the user info.
fn assert_refused(err: &ArmError, what: &str, elsewhere: &Plain, arm_base: &str) {
    match err {
        ArmError::UrlRefused { what: w, url, allowed } => {
            assert!(w.contains(what), "{err}");
            assert!(url.starts_with(&elsewhere.base), "the refused URL is named: {err}");
            assert!(allowed.contains(arm_base), "the allowed origin is named: {err}");
        }
        other => panic!("expected UrlRefused for {what}, got {other:?}"),
    }
    assert!(!err.is_transient(), "a refusal is not retried: {err}");
    assert_eq!(err.code(), "UrlRefused");
    let shown = format!("{err} {err:?}");
    for hidden in ["Bearer", "sig=", "s3cr3t", "pa55"] {
        assert!(!shown.contains(hidden), "{hidden} shown: {shown}");
    }
    assert!(elsewhere.seen().is_empty(), "elsewhere was asked: {:?}", elsewhere.seen());
}

#[tokio::test]
async fn operation_urls_to_another_origin_are_refused_before_any_request() {
    let elsewhere = Plain::elsewhere().await;
    let away = format!("{}/subscriptions/{SUB}/operations/1?api-version=1&sig=s3cr3t", elsewhere.base);
    // User info does not make a URL the ARM endpoint's (the host is still elsewhere's).
    let cases: Vec<(&str, String)> = vec![
        ("azure-asyncoperation", away.clone()),
        ("location", away.clone()),
        ("location", away.replace("http://", "http://user:pa55@")),
    ];
    for (header, value) in cases {
        let (h, v) = (header.to_string(), value.clone());
        let arm_server =
            ArmScript::start(move |_| reply(StatusCode::ACCEPTED, Value::Null, &[(&h, &v), ("retry-after", "0")]))
                .await;
        let err = client(&arm_server.base).query_flow_log_status(&watcher(), &nsg()).await.unwrap_err();
        assert_refused(&err, header, &elsewhere, &arm_server.base);
        assert_eq!(arm_server.arm().len(), 1, "{header}: only the POST was sent");
    }
    let arm_server = ArmScript::start(|r| {
        let other_scheme = r.base.replace("http://", "https://");
        reply(StatusCode::ACCEPTED, Value::Null, &[("location", &format!("{other_scheme}/op")), ("retry-after", "0")])
    })
    .await;
    let err = client(&arm_server.base).query_flow_log_status(&watcher(), &nsg()).await.unwrap_err();
    assert!(matches!(&err, ArmError::UrlRefused { url, .. } if url.starts_with("https://127.0.0.1")), "{err:?}");
}

#[tokio::test]
async fn a_location_that_moves_to_another_origin_while_polling_is_refused() {
    let elsewhere = Plain::elsewhere().await;
    let away = format!("{}/results/2", elsewhere.base);
    let arm_server = ArmScript::start(move |r: &Request| match r.method {
        Method::POST => reply(
            StatusCode::ACCEPTED,
            Value::Null,
            &[("location", &format!("{}/results/1", r.base)), ("retry-after", "0")],
        ),
        _ => reply(StatusCode::ACCEPTED, Value::Null, &[("location", &away), ("retry-after", "0")]),
    })
    .await;
    let err = client(&arm_server.base).query_flow_log_status(&watcher(), &nsg()).await.unwrap_err();
    assert_refused(&err, "location", &elsewhere, &arm_server.base);
    assert_eq!(arm_server.arm().len(), 2, "the POST and one poll of the ARM endpoint's own Location");
}

#[tokio::test]
async fn a_resume_token_from_status_is_followed_only_to_the_arm_endpoint() {
    // Status is user-writable: a token edited to point elsewhere must not carry the bearer token there.
    let elsewhere = Plain::elsewhere().await;
    let arm_server = ArmScript::start(|_| reply(StatusCode::OK, json!({}), &[])).await;
    let arm = client(&arm_server.base);
    let away = Url::parse(&format!("{}/op", elsewhere.base)).unwrap();
    let mine = Url::parse(&format!("{}/op", arm_server.base)).unwrap();
    let operation = |status_url: Option<Url>, result_url: Option<Url>, resource_url: Option<Url>| Operation {
        kind: OperationKind::ConfigureFlowLog,
        status_url,
        result_url,
        resource_url,
        request_id: None,
        started: SystemTime::now(),
        poll_every: None,
    };
    for op in [
        operation(Some(away.clone()), None, None),
        operation(None, Some(away.clone()), None),
        operation(Some(mine.clone()), Some(away.clone()), None),
        operation(Some(away.clone()), Some(mine.clone()), None),
        operation(None, None, Some(away.clone())),
    ] {
        let err = arm.resume(op).await.unwrap_err();
        assert_refused(&err, "operation URL", &elsewhere, &arm_server.base);
    }
    assert!(arm_server.arm().is_empty(), "nothing was polled: {:?}", arm_server.arm().len());
}

#[tokio::test]
async fn next_links_to_another_origin_are_refused() {
    let elsewhere = Plain::elsewhere().await;
    let e = elsewhere.base.clone();
    let arm_server = ArmScript::start(move |r: &Request| {
        let link = if r.path_count == 1 {
            // The first page links to the second on the endpoint itself: followed.
            format!("{}{}?api-version=1&page=2", r.base, r.path)
        } else {
            // The second tries the user-info trick: the host is elsewhere's, whatever comes before the `@`.
            format!("http://{}@{}/page/3", r.base.trim_start_matches("http://"), e.trim_start_matches("http://"))
        };
        reply(StatusCode::OK, json!({"value": [], "nextLink": link}), &[])
    })
    .await;
    let err = client(&arm_server.base).list_flow_logs(&watcher()).await.unwrap_err();
    assert_refused(&err, "nextLink", &elsewhere, &arm_server.base);
    assert_eq!(arm_server.arm().len(), 2, "both pages of the ARM endpoint were read");
}

#[tokio::test]
async fn redirects_of_arm_requests_are_followed_only_within_the_arm_endpoint() {
    let elsewhere = Plain::elsewhere().await;
    let away = format!("{}/steal?sig=s3cr3t", elsewhere.base);
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let to = away.clone();
        let arm_server = ArmScript::start(move |_| reply(status, Value::Null, &[("location", &to)])).await;
        let err = client(&arm_server.base).list_flow_logs(&watcher()).await.unwrap_err();
        assert_refused(&err, "redirect", &elsewhere, &arm_server.base);
        assert_eq!(arm_server.arm().len(), 1, "{status}");
    }
    // Within the endpoint's origin a redirect is followed.
    let arm_server = ArmScript::start(|r: &Request| match r.path.as_str() {
        "/moved" => reply(StatusCode::OK, json!({"value": []}), &[]),
        _ => reply(StatusCode::TEMPORARY_REDIRECT, Value::Null, &[("location", &format!("{}/moved", r.base))]),
    })
    .await;
    assert!(client(&arm_server.base).list_flow_logs(&watcher()).await.unwrap().is_empty());
    // A loop ends after a few hops, as a response Azure should not give, not as a network failure to retry.
    let arm_server = ArmScript::start(|r: &Request| {
        reply(StatusCode::TEMPORARY_REDIRECT, Value::Null, &[("location", &format!("{}/again", r.base))])
    })
    .await;
    let err = client(&arm_server.base).list_flow_logs(&watcher()).await.unwrap_err();
    assert!(matches!(&err, ArmError::InvalidResponse(m) if m.contains("redirect")), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(arm_server.arm().len(), boundary::MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn an_answer_from_another_origin_is_refused_even_through_a_client_that_follows_anything() {
    // A library user's client with reqwest's default policy follows the redirect (without the Authorization
    // header); the answer from elsewhere is still not used.
    let elsewhere = Plain::elsewhere().await;
    let to = format!("{}/steal", elsewhere.base);
    let arm_server =
        ArmScript::start(move |_| reply(StatusCode::TEMPORARY_REDIRECT, Value::Null, &[("location", &to)])).await;
    let err = client_with(reqwest::Client::new(), &arm_server.base).list_flow_logs(&watcher()).await.unwrap_err();
    assert!(
        matches!(&err, ArmError::UrlRefused { what, url, .. } if what.contains("listFlowLogs") && url.starts_with(&elsewhere.base)),
        "{err:?}"
    );
    assert_eq!(elsewhere.seen().len(), 1);
}

#[tokio::test]
async fn token_requests_are_never_redirected_away_from_the_authority_host() {
    let elsewhere = Plain::elsewhere().await;
    let to = format!("{}/{TENANT}/oauth2/v2.0/token", elsewhere.base);
    for status in [StatusCode::TEMPORARY_REDIRECT, StatusCode::PERMANENT_REDIRECT, StatusCode::FOUND] {
        let to = to.clone();
        let authority = Plain::start(move |_| reply(status, Value::Null, &[("location", &to)])).await;
        let credential = ClientSecretCredential::new(
            boundary::http_client().unwrap(),
            &endpoint(&authority.base),
            TENANT,
            CLIENT,
            Secret::new("s3cr3t-client-secret"),
            "https://management.azure.com/.default",
        )
        .unwrap();
        let err = credential.token().await.unwrap_err();
        assert!(
            matches!(&err, ArmError::UrlRefused { what, url, .. } if what == "a redirect" && url.starts_with(&elsewhere.base)),
            "{err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err}");
        assert_eq!(authority.seen().len(), 1, "{status}: one request, to the authority host");
        assert!(authority.seen()[0].2.contains("s3cr3t-client-secret"), "the authority host got the form");
        assert!(elsewhere.seen().is_empty(), "{status}: the client secret went elsewhere: {:?}", elsewhere.seen());
    }
}

#[tokio::test]
async fn imds_requests_are_never_redirected_away_from_the_imds_endpoint() {
    let elsewhere = Plain::elsewhere().await;
    let to = format!("{}/metadata/identity/oauth2/token", elsewhere.base);
    let imds = Plain::start(move |_| reply(StatusCode::FOUND, Value::Null, &[("location", &to)])).await;
    let credential = ManagedIdentityCredential::new(
        boundary::http_client().unwrap(),
        &endpoint(&imds.base),
        ManagedIdentityId::System,
        "https://management.azure.com/",
    )
    .unwrap();
    let err = credential.token().await.unwrap_err();
    assert!(matches!(&err, ArmError::UrlRefused { url, .. } if url.starts_with(&elsewhere.base)), "{err:?}");
    assert_eq!(imds.seen().len(), 1, "a refusal is not one of IMDS's transient answers: no retry");
    assert!(elsewhere.seen().is_empty());
}

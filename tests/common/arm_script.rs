//! A scripted ARM: a local HTTP server that answers the token endpoint itself, records every request and lets the
//! test answer the others, for what the simulator does not produce on demand (exact faults, unusual operation
//! shapes, hostile links).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `x-ms-request-id` of every scripted answer.
pub const REQUEST_ID: &str = "req-1";

/// The access token the scripted token endpoint hands out.
pub const TOKEN: &str = "tok";

/// One request the scripted ARM received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    /// The body as JSON; `Null` when it is empty or not JSON.
    pub body: Value,
    pub at: Instant,
    /// The server's base URL, for answers that point back at it (next links, operation URLs).
    pub base: String,
    /// ARM requests so far (token requests left out), this one included.
    pub arm_count: usize,
    /// Requests with this method and path so far, this one included.
    pub path_count: usize,
}

impl Request {
    fn is_token(&self) -> bool {
        self.path.ends_with("/oauth2/v2.0/token")
    }
}

#[derive(Clone)]
pub struct ArmScript {
    pub base: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl ArmScript {
    /// A server on a free port whose ARM requests `handler` answers.
    pub async fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> ArmScript {
        ArmScript::start_async(move |request| std::future::ready(handler(&request))).await
    }

    /// The same, for answers that take their time.
    pub async fn start_async<F, Fut>(handler: F) -> ArmScript
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let state = (seen.clone(), Arc::new(handler), base.clone());
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (seen, handler, base) = state.clone();
            async move {
                let query =
                    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
                let mut request = Request {
                    method,
                    path: uri.path().to_string(),
                    query,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    at: Instant::now(),
                    base,
                    arm_count: 0,
                    path_count: 0,
                };
                {
                    let mut seen = seen.lock().unwrap();
                    seen.push(request.clone());
                    request.arm_count = seen.iter().filter(|s| !s.is_token()).count();
                    request.path_count =
                        seen.iter().filter(|s| s.method == request.method && s.path == request.path).count();
                }
                if request.is_token() {
                    return axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}))
                        .into_response();
                }
                handler(request).await
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ArmScript { base, seen }
    }

    /// The ARM requests so far (token requests left out), oldest first.
    pub fn arm(&self) -> Vec<Request> {
        self.seen.lock().unwrap().iter().filter(|s| !s.is_token()).cloned().collect()
    }

    /// How many ARM requests had this method and path (compared case-insensitively, as ARM compares IDs).
    pub fn count(&self, method: Method, path: &str) -> usize {
        self.arm().iter().filter(|s| s.method == method && s.path.eq_ignore_ascii_case(path)).count()
    }
}

/// An answer with `status`, `body` as JSON (none when it is `Null`), `headers`, and the request ID ARM always sends.
pub fn reply(status: StatusCode, body: Value, headers: &[(&str, &str)]) -> Response {
    let mut response = if body.is_null() { status.into_response() } else { (status, axum::Json(body)).into_response() };
    for (name, value) in headers {
        response.headers_mut().insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    response.headers_mut().insert("x-ms-request-id", REQUEST_ID.parse().unwrap());
    response
}

/// ARM's error answer with `code`.
pub fn arm_error(status: StatusCode, code: &str, headers: &[(&str, &str)]) -> Response {
    reply(status, json!({"error": {"code": code, "message": format!("scripted {code}"), "details": []}}), headers)
}

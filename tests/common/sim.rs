//! The simulator for client tests: started in-process, or with an HTTP client and a token ([`SimHttp`]); its
//! built-in service principal's tokens over HTTP, and the service-account tokens workload identity exchanges.

use std::time::{SystemTime, UNIX_EPOCH};

use flowlog_simulator::inventory::LroMode;
use flowlog_simulator::{self as simulator, Inventory, Simulator};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The scope of ARM tokens.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The simulator with `inventory`, in this process on a free port; returns it and its base URL.
pub async fn start(inventory: Inventory) -> (Simulator, String) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = Simulator::new(inventory);
    let url = sim.clone().spawn_local().await.expect("simulator starts");
    (sim, url)
}

/// The simulator over HTTP as a client sees it, with a token of the built-in service principal.
pub struct SimHttp {
    pub sim: Simulator,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

/// An answer of the simulator: status, headers and JSON body (`Null` when there is none).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
    }

    /// The status and the code of an ARM error.
    pub fn code(&self) -> (u16, &str) {
        (
            self.status.as_u16(),
            self.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error: {}", self.body)),
        )
    }
}

impl SimHttp {
    /// The simulator with `inventory`, and an ARM token from it (answered as Entra answers: a bearer token for
    /// 3599 seconds).
    pub async fn start(inventory: Inventory) -> SimHttp {
        let (sim, base) = start(inventory).await;
        let http = reqwest::Client::new();
        let body = secret_token_answer(&http, &base, ARM_SCOPE).await;
        assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("Bearer"), Some(3599)));
        let token = body["access_token"].as_str().expect("access_token").to_string();
        SimHttp { sim, base, http, token }
    }

    /// Sends `method` to `url` with the token, and `body` as JSON.
    pub async fn send(&self, method: Method, url: &str, body: Option<&Value>) -> reqwest::Response {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// [`SimHttp::send`], answered.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Answer {
        let response = self.send(method, url, body).await;
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        Answer { status, headers, body }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.send(Method::GET, url, None).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> reqwest::Response {
        self.send(Method::POST, url, Some(body)).await
    }
}

/// The built-in inventory with long-running operations in `mode`, `Retry-After: retry_after_seconds` and
/// poll-counted: `in_progress_polls` polls answered `InProgress`, whatever the time (for tests that count polls).
pub fn lro_inventory(mode: LroMode, retry_after_seconds: u32, in_progress_polls: u32) -> Inventory {
    let mut inventory = Inventory::builtin();
    inventory.behaviour.lro.mode = mode;
    inventory.behaviour.lro.retry_after_seconds = retry_after_seconds;
    inventory.behaviour.lro.in_progress_polls = Some(in_progress_polls);
    inventory
}

/// The built-in inventory with asynchronous long-running operations that stay `InProgress` for `duration_ms` of
/// wall-clock time, polled or not, and answer `Retry-After: retry_after_seconds`.
pub fn timed_inventory(retry_after_seconds: u32, duration_ms: u64) -> Inventory {
    let mut inventory = Inventory::builtin();
    inventory.behaviour.lro.retry_after_seconds = retry_after_seconds;
    inventory.behaviour.lro.duration_ms = duration_ms;
    inventory
}

/// How long a quick long-running operation takes ([`quick_operations`]).
pub const QUICK_OPERATION_MS: u64 = 10;

/// Keeps the 202 + polling protocol and wall-clock operations, without Azure's one-second operations and waits:
/// operations take [`QUICK_OPERATION_MS`] and answer `Retry-After: 0`, so clients poll again at once (a few polls).
pub fn quick_operations(inventory: &mut Inventory) {
    inventory.behaviour.lro.retry_after_seconds = 0;
    inventory.behaviour.lro.duration_ms = QUICK_OPERATION_MS;
}

/// The token request form of the built-in service principal with `secret`, for `scope`.
pub fn secret_form<'a>(secret: &'a str, scope: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", simulator::DEFAULT_CLIENT_ID),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

/// Posts `form` to the token endpoint of the built-in tenant at `base`: the status and the JSON answer.
pub async fn token(http: &reqwest::Client, base: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let url = format!("{base}/{}/oauth2/v2.0/token", simulator::DEFAULT_TENANT_ID);
    let response = http.post(url).form(form).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The token answer of the built-in service principal for `scope`; it must be a 200.
pub async fn secret_token_answer(http: &reqwest::Client, base: &str, scope: &str) -> Value {
    let (status, body) = token(http, base, &secret_form(simulator::DEFAULT_CLIENT_SECRET, scope)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A bearer token of the built-in service principal for `scope`.
pub async fn secret_token(http: &reqwest::Client, base: &str, scope: &str) -> String {
    let body = secret_token_answer(http, base, scope).await;
    body["access_token"].as_str().expect("access_token").to_string()
}

/// Base64url without padding, as JWTs use it.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The bytes of unpadded base64url text (a JWT's parts).
pub fn base64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let values: Vec<u32> =
        text.bytes().map(|c| ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32).collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, v)| n | v << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// A Kubernetes service-account token for `subject` as the kubelet projects it for workload identity, valid for
/// `expires_in` seconds more (negative: expired); unsigned, as the simulator checks claims, not signatures.
pub fn service_account_token(subject: &str, expires_in: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let header = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    let claims = json!({
        "iss": simulator::DEFAULT_FEDERATED_ISSUER,
        "sub": subject,
        "aud": ["api://AzureADTokenExchange"],
        "exp": now + expires_in,
        "nbf": now - 60,
        "iat": now - 60,
    });
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(b"not-a-signature")
    )
}

//! A simulator served on a local port, with a token for ARM, for the tests that go over HTTP.

#![allow(dead_code)] // each test binary uses a part

use flowlog_simulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, Inventory, Simulator};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const SUB: &str = flowlog_simulator::DEFAULT_SUBSCRIPTION_ID;
pub const API: &str = "api-version=2025-07-01";

/// What came back: status, headers and the body (JSON, or a string when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The `name`s of a list page's `value`.
    pub fn names(&self) -> Vec<String> {
        let value = self.body["value"].as_array().unwrap_or_else(|| panic!("not a list: {}", self.body));
        value.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
    }
}

pub struct Sim {
    pub sim: Simulator,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl Sim {
    /// Serves `inventory` and gets a token for ARM with the built-in principal's secret.
    pub async fn start(inventory: Inventory) -> Sim {
        let sim = Simulator::new(inventory);
        let base = sim.clone().spawn_local().await.unwrap();
        let http = reqwest::Client::new();
        let token = token(&http, &base, "https://management.azure.com/.default").await;
        Sim { sim, base, http, token }
    }

    /// A token for `scope` from the simulator's token endpoint, with the built-in principal's secret.
    pub async fn token_for(&self, scope: &str) -> String {
        token(&self.http, &self.base, scope).await
    }

    pub async fn builtin() -> Sim {
        Sim::start(Inventory::builtin()).await
    }

    /// An ARM GET of `path_and_query` (relative to the base, or an absolute URL such as a `nextLink`), with the token.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.call(Method::GET, path_and_query, Some(&self.token), None).await
    }

    pub async fn call(&self, method: Method, url: &str, token: Option<&str>, body: Option<String>) -> Answer {
        let url = if url.starts_with("http") { url.to_string() } else { format!("{}{url}", self.base) };
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, headers, body }
    }

    /// Every page of an ARM list, following `nextLink` as given: the names, and how many pages.
    pub async fn list_all(&self, path: &str) -> (Vec<String>, usize) {
        let mut page = self.get(&format!("{path}?{API}")).await;
        let (mut names, mut pages) = (vec![], 1);
        loop {
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
            names.extend(page.names());
            let Some(next) = page.body["nextLink"].as_str().map(str::to_string) else { break };
            assert!(next.starts_with(&self.base), "nextLink {next} leads away from {}", self.base);
            page = self.get(&next).await;
            pages += 1;
        }
        (names, pages)
    }

    pub async fn counter(&self, operation: &str) -> u64 {
        let counters: Value =
            self.http.get(format!("{}/_sim/counters", self.base)).send().await.unwrap().json().await.unwrap();
        counters[operation].as_u64().unwrap_or_else(|| panic!("no counter {operation}: {counters}"))
    }
}

/// A token for `scope` from the token endpoint of the simulator at `base`, with the built-in principal's secret.
async fn token(http: &reqwest::Client, base: &str, scope: &str) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("scope", scope),
    ];
    let answer = http.post(format!("{base}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token")).form(&form).send().await.unwrap();
    let answer: Value = answer.json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

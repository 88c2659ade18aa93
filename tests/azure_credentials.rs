//! Credentials end to end: workload identity (federated token file, rotated), managed identity (IMDS with
//! its transient answers), clouds, credentials from a Kubernetes Secret's data, and secrets kept out of
//! errors — against scripted token endpoints and the simulator.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::credentials::{endpoint, imds_credential};
use common::recorder::Recorder;
use flowlog_operator::azure::credential::{
    CachedCredential, ClientSecretCredential, ManagedIdentityId, Secret, TokenCredential, WorkloadIdentityCredential,
};
use flowlog_operator::azure::id::ResourceId;
use flowlog_operator::azure::{
    ArmClient, ArmError, Cloud, CredentialConfig, CredentialKind, PollSettings, credential_from_secret_data,
};
use flowlog_simulator::{self as simulator, Inventory};
use serde_json::json;
use url::Url;

/// IDs of the scripted identities: tenant and client IDs must be a GUID or a domain, and a GUID.
const TENANT: &str = "77777777-7777-7777-7777-777777777771";
const CLIENT: &str = "77777777-7777-7777-7777-777777777772";
const GOV_TENANT: &str = "contoso.onmicrosoft.us";
const GOV_CLIENT: &str = "77777777-7777-7777-7777-777777777773";
const UAMI_CLIENT: &str = "77777777-7777-7777-7777-777777777774";

/// Token-endpoint requests: tenant and form fields.
type TokenRequests = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;
/// IMDS requests: query and whether `Metadata: true` was sent.
type ImdsRequests = Arc<Mutex<Vec<(HashMap<String, String>, bool)>>>;

/// What the scripted identity endpoints saw and how they answer.
#[derive(Clone, Default)]
struct Idp {
    token_requests: TokenRequests,
    imds_requests: ImdsRequests,
    /// Status codes IMDS answers, in order; 200 once they run out.
    imds_script: Arc<Mutex<Vec<u16>>>,
    /// Token lifetime the token endpoint grants.
    expires_in: u64,
    /// Answer token requests with a non-JSON 400 that echoes the form (a misbehaving proxy).
    echo_errors: bool,
}

async fn token(State(idp): State<Idp>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let n = {
        let mut requests = idp.token_requests.lock().unwrap();
        requests.push((tenant, form));
        requests.len()
    };
    if idp.echo_errors {
        return (StatusCode::BAD_REQUEST, format!("proxy error, request was: {}", String::from_utf8_lossy(&body)))
            .into_response();
    }
    axum::Json(json!({"token_type": "Bearer", "expires_in": idp.expires_in, "access_token": format!("token-{n}")}))
        .into_response()
}

async fn imds(State(idp): State<Idp>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    idp.imds_requests.lock().unwrap().push((query, metadata));
    if !metadata {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
            ),
        )
            .into_response();
    }
    let next = {
        let mut script = idp.imds_script.lock().unwrap();
        if script.is_empty() { 200 } else { script.remove(0) }
    };
    match next {
        200 => axum::Json(json!({
            "access_token": "imds-token",
            "refresh_token": "",
            "expires_in": "3599",
            "expires_on": "1506484173",
            "not_before": "1506480273",
            "resource": "https://management.azure.com/",
            "token_type": "Bearer"
        }))
        .into_response(),
        status => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({"error": "unavailable", "error_description": format!("scripted {status}")})),
            )
                .into_response();
            if status == 429 {
                response.headers_mut().insert("retry-after", "0".parse().unwrap());
            }
            response
        }
    }
}

async fn idp(idp: Idp) -> (Idp, Url) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let app = axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/metadata/identity/oauth2/token", get(imds))
        .with_state(idp.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (idp, base)
}

// ---------------------------------------------------------------------------------------------------------
// Workload identity.

#[tokio::test]
async fn workload_identity_rereads_the_rotated_token_file_on_every_refresh() {
    // Tokens that live one second are refreshed on every call (the cache refreshes at half-life).
    let (idp, base) = idp(Idp { expires_in: 1, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "assertion-one\n").unwrap();
    let credential = CachedCredential::new(
        WorkloadIdentityCredential::new(
            reqwest::Client::new(),
            &base,
            TENANT,
            CLIENT,
            &file,
            "https://management.azure.com/.default",
        )
        .unwrap(),
    );
    assert_eq!(credential.token().await.unwrap().token.expose(), "token-1");
    // The kubelet rotates the projected token.
    std::fs::write(&file, "assertion-two").unwrap();
    assert_eq!(credential.token().await.unwrap().token.expose(), "token-2");

    let requests = idp.token_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for ((tenant, form), assertion) in requests.iter().zip(["assertion-one", "assertion-two"]) {
        assert_eq!(tenant, TENANT);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], CLIENT);
        assert_eq!(form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        assert_eq!(form["client_assertion"], assertion);
        assert_eq!(form["scope"], "https://management.azure.com/.default");
        assert!(!form.contains_key("client_secret"));
    }
}

#[tokio::test]
async fn workload_identity_from_the_webhooks_environment() {
    let (idp, base) = idp(Idp { expires_in: 3600, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "projected").unwrap();
    let env: BTreeMap<&str, String> = [
        ("AZURE_TENANT_ID", TENANT.to_string()),
        ("AZURE_CLIENT_ID", CLIENT.to_string()),
        ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
        // The webhook's authority host wins over the cloud's.
        ("AZURE_AUTHORITY_HOST", base.to_string()),
    ]
    .into();
    let config = CredentialConfig::from_lookup(None, |k| env.get(k).cloned()).unwrap();
    assert_eq!(config.kind(), CredentialKind::WorkloadIdentity);
    let credential = config.build(reqwest::Client::new(), &Cloud::azure_us_government()).unwrap();
    credential.token().await.unwrap();
    let requests = idp.token_requests.lock().unwrap().clone();
    assert_eq!(requests[0].1["client_assertion"], "projected");
    assert_eq!(requests[0].1["scope"], "https://management.usgovcloudapi.net/.default");

    // A missing token file is a configuration error naming the file.
    std::fs::remove_file(&file).unwrap();
    let fresh = config.build(reqwest::Client::new(), &Cloud::azure_public()).unwrap();
    let err = fresh.token().await.unwrap_err();
    assert!(matches!(&err, ArmError::Config(m) if m.contains("token")), "{err:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Managed identity.

#[tokio::test]
async fn managed_identity_retries_imds_throttling_and_reads_string_fields() {
    let (idp, base) = idp(Idp { imds_script: Arc::new(Mutex::new(vec![429])), ..Default::default() }).await;
    let credential = imds_credential(&base, ManagedIdentityId::ClientId(UAMI_CLIENT.into()));
    let recorder = Recorder::default();
    let token = credential.token_with(&recorder).await.unwrap();
    assert_eq!(token.token.expose(), "imds-token");
    // "expires_in": "3599" (a string) was understood.
    let left = token.expires_at.saturating_duration_since(std::time::Instant::now());
    assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3599), "{left:?}");

    let requests = idp.imds_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one 429, one success");
    for (query, metadata) in &requests {
        assert!(metadata, "Metadata: true was not sent");
        assert_eq!(query["api-version"], "2018-02-01");
        assert_eq!(query["resource"], "https://management.azure.com/");
        assert_eq!(query["client_id"], UAMI_CLIENT);
    }
    assert_eq!(recorder.requests(), vec![("token".to_string(), 429), ("token".to_string(), 200)]);
}

#[tokio::test]
async fn managed_identity_retries_are_bounded_and_only_for_transient_answers() {
    // 404 (identity not assigned yet) and 5xx are transient for IMDS: retried, then given up.
    let (idp1, base) =
        idp(Idp { imds_script: Arc::new(Mutex::new(vec![404, 500, 503, 504, 500, 500])), ..Default::default() }).await;
    let credential = imds_credential(&base, ManagedIdentityId::System);
    let err = credential.token().await.unwrap_err();
    assert!(matches!(err, ArmError::Authentication { status: 504, .. }), "{err:?}");
    assert_eq!(idp1.imds_requests.lock().unwrap().len(), 4, "max_attempts");
    assert!(!idp1.imds_requests.lock().unwrap()[0].0.contains_key("client_id"), "system identity sends no client_id");

    // 400 is not transient: one request.
    let (idp2, base) = idp(Idp { imds_script: Arc::new(Mutex::new(vec![400])), ..Default::default() }).await;
    let credential = imds_credential(&base, ManagedIdentityId::System);
    let err = credential.token().await.unwrap_err();
    assert!(matches!(err, ArmError::Authentication { status: 400, .. }), "{err:?}");
    assert_eq!(idp2.imds_requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn managed_identity_from_config_uses_the_clouds_resource() {
    let (idp, base) = idp(Idp::default()).await;
    let config = CredentialConfig::ManagedIdentity { identity: ManagedIdentityId::System, endpoint: base };
    let credential = config.build(reqwest::Client::new(), &Cloud::azure_china()).unwrap();
    credential.token().await.unwrap();
    credential.token().await.unwrap();
    let requests = idp.imds_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "the built credential caches its token");
    assert_eq!(requests[0].0["resource"], "https://management.chinacloudapi.cn/");
}

// ---------------------------------------------------------------------------------------------------------
// Clouds and Secret data.

#[tokio::test]
async fn a_cloud_preset_sets_the_token_scope_and_the_token_url() {
    // The US Government preset with its authority host pointed at the scripted endpoint.
    let (idp, base) = idp(Idp { expires_in: 3600, ..Default::default() }).await;
    let cloud = Cloud { authority_host: base.clone(), ..Cloud::azure_us_government() };
    let data: BTreeMap<String, Vec<u8>> = [
        ("tenantId".to_string(), GOV_TENANT.as_bytes().to_vec()),
        ("clientId".to_string(), GOV_CLIENT.as_bytes().to_vec()),
        ("clientSecret".to_string(), b"gov-secret".to_vec()),
    ]
    .into();
    let credential =
        credential_from_secret_data(None, &data, &no_service_accounts, &cloud, reqwest::Client::new()).unwrap();
    credential.token().await.unwrap();
    let requests = idp.token_requests.lock().unwrap().clone();
    assert_eq!(requests[0].0, GOV_TENANT);
    assert_eq!(requests[0].1["client_id"], GOV_CLIENT);
    assert_eq!(requests[0].1["client_secret"], "gov-secret");
    assert_eq!(requests[0].1["scope"], "https://management.usgovcloudapi.net/.default");

    // The preset itself targets Entra for US Government.
    let preset = ClientSecretCredential::new(
        reqwest::Client::new(),
        &Cloud::azure_us_government().authority_host,
        GOV_TENANT,
        GOV_CLIENT,
        Secret::new("s"),
        &Cloud::azure_us_government().token_scope,
    )
    .unwrap();
    assert_eq!(preset.token_url().as_str(), format!("https://login.microsoftonline.us/{GOV_TENANT}/oauth2/v2.0/token"));
}

#[tokio::test]
async fn secrets_never_reach_errors_even_when_a_proxy_echoes_the_request() {
    let (_idp, base) = idp(Idp { echo_errors: true, ..Default::default() }).await;
    let secret = "s3cr3t+value/with&specials";
    let credential = ClientSecretCredential::new(
        reqwest::Client::new(),
        &base,
        TENANT,
        CLIENT,
        Secret::new(secret),
        "https://management.azure.com/.default",
    )
    .unwrap();
    let err = credential.token().await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("proxy error") && shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "the secret leaked: {shown}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "eyJhbGciOi.federated.assertion").unwrap();
    let credential =
        WorkloadIdentityCredential::new(reqwest::Client::new(), &base, TENANT, CLIENT, &file, "scope").unwrap();
    let err = credential.token().await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("federated.assertion"), "the assertion leaked: {shown}");
}

#[tokio::test]
async fn a_per_policy_credential_from_secret_data_works_against_the_simulator() {
    let mut inventory = Inventory::builtin();
    common::sim::quick_operations(&mut inventory);
    let (_sim, url) = common::sim::start(inventory).await;
    let endpoint = endpoint(&url);
    let cloud = Cloud::custom(endpoint.clone(), endpoint.clone(), Some("https://management.azure.com/"));
    let data = |secret: &str| -> BTreeMap<String, Vec<u8>> {
        [
            ("tenantId".to_string(), simulator::DEFAULT_TENANT_ID.as_bytes().to_vec()),
            ("clientId".to_string(), simulator::DEFAULT_CLIENT_ID.as_bytes().to_vec()),
            ("clientSecret".to_string(), secret.as_bytes().to_vec()),
            ("unrelated".to_string(), b"ignored".to_vec()),
        ]
        .into()
    };
    // The operator-wide client has a credential that cannot get tokens.
    let http = reqwest::Client::new();
    let operator_wide =
        credential_from_secret_data(None, &data("wrong-operator-secret"), &no_service_accounts, &cloud, http.clone())
            .unwrap();
    let arm = ArmClient::builder(http.clone(), endpoint, operator_wide)
        .poll(PollSettings { default_interval: Duration::from_millis(10), ..Default::default() })
        .build();
    let watcher = ResourceId::network_watcher(
        simulator::DEFAULT_SUBSCRIPTION_ID,
        "NetworkWatcherRG",
        "NetworkWatcher_westeurope",
    );
    let target = format!(
        "/subscriptions/{}/resourceGroups/app-prod-rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg",
        simulator::DEFAULT_SUBSCRIPTION_ID
    );
    let err = arm.query_flow_log_status(&watcher, &target).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("AADSTS7000215") && !shown.contains("wrong-operator-secret"), "{shown}");

    // The policy's Secret holds working credentials.
    let policy = arm.with_credential(
        credential_from_secret_data(None, &data(simulator::DEFAULT_CLIENT_SECRET), &no_service_accounts, &cloud, http)
            .unwrap(),
    );
    let info = policy.query_flow_log_status(&watcher, &target).await.unwrap();
    assert!(info.properties.enabled);
}

/// For Secrets with a client secret: no ServiceAccount token may be asked for.
fn no_service_accounts(name: &str) -> std::sync::Arc<dyn flowlog_operator::azure::credential::AssertionSource> {
    panic!("a Secret with a client secret asked for ServiceAccount {name}'s token")
}

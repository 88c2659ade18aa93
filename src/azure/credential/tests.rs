use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default)]
struct Counting {
    calls: AtomicU32,
    lifetime: Duration,
}

#[async_trait]
impl TokenCredential for Counting {
    async fn token(&self) -> Result<AccessToken, ArmError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(AccessToken { token: Secret::new(format!("t{n}")), expires_at: Instant::now() + self.lifetime })
    }
}

#[tokio::test]
async fn reuses_a_fresh_token_and_refreshes_once_for_concurrent_callers() {
    let cred = CachedCredential::new(Counting { lifetime: Duration::from_secs(3600), ..Default::default() });
    let tokens = futures::future::join_all((0..8).map(|_| cred.token())).await;
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().token.expose() == "t0"));
    assert_eq!(cred.inner.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshes_a_token_close_to_expiry() {
    let cred = CachedCredential::new(Counting { lifetime: Duration::from_millis(500), ..Default::default() });
    cred.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cred.token().await.unwrap().token.expose(), "t1");
}

#[test]
fn secrets_do_not_show_in_debug() {
    let cred = ClientSecretCredential::new(
        reqwest::Client::new(),
        &Url::parse("https://login.example/").unwrap(),
        TENANT,
        CLIENT,
        Secret::new("hunter2"),
        "https://management.azure.com/.default",
    )
    .unwrap();
    let shown = format!("{cred:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(CLIENT));
    let cached = CachedCredential::new(cred);
    let shown = format!("{cached:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const CLIENT: &str = "22222222-2222-2222-2222-222222222222";

#[test]
fn token_url_tolerates_hosts_with_and_without_a_trailing_slash() {
    for host in ["https://login.microsoftonline.us", "https://login.microsoftonline.us/"] {
        let url = token_url(&Url::parse(host).unwrap(), "contoso.onmicrosoft.com").unwrap();
        assert_eq!(url.as_str(), "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token");
    }
    let url = token_url(&Url::parse("http://127.0.0.1:8480/sim").unwrap(), TENANT).unwrap();
    assert_eq!(url.as_str(), format!("http://127.0.0.1:8480/sim/{TENANT}/oauth2/v2.0/token"));
    assert!(token_url(&Url::parse("https://login.example/").unwrap(), "a/b").is_err());
    assert!(token_url(&Url::parse("https://login.example/").unwrap(), "").is_err());
}

#[test]
fn no_tenant_value_moves_the_token_url_to_another_host() {
    let host = Url::parse("https://login.microsoftonline.com/").unwrap();
    // What a bare join would have done with a backslash tenant: another host gets the client secret.
    let joined = host.join("\\\\evil.example/oauth2/v2.0/token").unwrap();
    assert_eq!(joined.host_str(), Some("evil.example"));
    assert!(!under(&host, &joined));
    let long = "a.".repeat(100_000) + "com";
    for tenant in [
        "\\\\evil.example",
        "\\evil.example",
        "//evil.example",
        "/\\evil.example",
        "%5C%5Cevil.example",
        "%2F%2Fevil.example",
        "..",
        "../..",
        "@evil.example",
        "x@evil.example",
        "evil.example:443",
        " evil.example",
        "evil.example\n",
        "evil\u{ff0e}example",
        "\u{ff3c}\u{ff3c}evil.example",
        long.as_str(),
    ] {
        let err = token_url(&host, tenant).unwrap_err();
        assert!(matches!(&err, ArmError::Config(m) if m.contains("not a tenant ID")), "{tenant:?}: {err}");
        assert!(!err.to_string().contains("evil"), "the value is not repeated: {err}");
    }
    // The check in depth: a URL off the authority host, or outside its path, is never a token URL.
    let sim = Url::parse("http://127.0.0.1:8480/sim/").unwrap();
    for other in [
        "http://127.0.0.1:8481/sim/t",
        "https://127.0.0.1:8480/sim/t",
        "http://localhost:8480/sim/t",
        "http://127.0.0.1:8480/other",
    ] {
        assert!(!under(&sim, &Url::parse(other).unwrap()), "{other}");
    }
    assert!(under(&sim, &Url::parse("http://127.0.0.1:8480/sim/t/oauth2/v2.0/token").unwrap()));
}

#[test]
fn credentials_refuse_ids_that_are_not_ids() {
    let host = Url::parse("https://login.example/").unwrap();
    let http = reqwest::Client::new();
    let secret = |tenant: &str, client: &str| {
        ClientSecretCredential::new(http.clone(), &host, tenant, client, Secret::new("s"), "scope").map(|_| ())
    };
    assert!(secret(TENANT, CLIENT).is_ok());
    assert!(secret("\\\\evil.example", CLIENT).unwrap_err().to_string().contains("not a tenant ID"));
    assert!(secret(TENANT, "client").unwrap_err().to_string().contains("not a client ID"));
    let workload = |tenant: &str, client: &str| {
        WorkloadIdentityCredential::new(http.clone(), &host, tenant, client, "/tok", "scope").map(|_| ())
    };
    assert!(workload(TENANT, CLIENT).is_ok());
    assert!(workload("evil.example/x", CLIENT).unwrap_err().to_string().contains("not a tenant ID"));
    assert!(workload(TENANT, "c&x=1").unwrap_err().to_string().contains("not a client ID"));
}

#[test]
fn redaction_covers_plain_and_url_encoded_forms() {
    let secret = Secret::new("p@ss word+1");
    let text = "client_secret=p%40ss+word%2B1&x=p@ss word+1";
    let shown = redact(text, &secret);
    assert!(!shown.contains("p@ss") && !shown.contains("p%40ss"), "{shown}");
    assert_eq!(shown.matches("[redacted]").count(), 2);
}

#[test]
fn workload_identity_debug_shows_the_file_not_its_contents() {
    let cred = WorkloadIdentityCredential::new(
        reqwest::Client::new(),
        &Url::parse("https://login.microsoftonline.com/").unwrap(),
        TENANT,
        CLIENT,
        "/var/run/secrets/azure/tokens/azure-identity-token",
        "https://management.azure.com/.default",
    )
    .unwrap();
    let shown = format!("{cred:?}");
    assert!(shown.contains("azure-identity-token") && shown.contains(CLIENT), "{shown}");
    assert_eq!(cred.token_url().as_str(), format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"));
}

/// Every type that holds a credential, a token or a token endpoint's answer, formatted with `{:?}` (as a log line,
/// a panic message or an error chain would): the secret is in none of them.
#[tokio::test]
async fn debug_output_never_shows_a_secret() {
    const MARK: &str = "s3cr3t-d3bug-mark";
    let shown = |what: &str, text: String| {
        assert!(!text.contains(MARK), "{what} shows the secret: {text}");
        assert!(!text.contains("d3bug"), "{what} shows part of the secret: {text}");
        text
    };
    shown("Secret", format!("{:?}", Secret::new(MARK)));
    let token = AccessToken { token: Secret::new(MARK), expires_at: Instant::now() + Duration::from_secs(3600) };
    shown("AccessToken", format!("{token:?}"));

    let host = Url::parse("https://login.example/").unwrap();
    let http = reqwest::Client::new();
    let secret_credential =
        ClientSecretCredential::new(http.clone(), &host, TENANT, CLIENT, Secret::new(MARK), "scope").unwrap();
    let text = shown("ClientSecretCredential", format!("{secret_credential:?}"));
    assert!(text.contains("client_secret") && text.contains("[redacted]"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, MARK).unwrap();
    let workload = WorkloadIdentityCredential::new(http.clone(), &host, TENANT, CLIENT, &file, "scope").unwrap();
    shown("WorkloadIdentityCredential", format!("{workload:?}"));
    let assertion = workload.assertion().await.unwrap();
    shown("the federated assertion", format!("{assertion:?}"));

    let managed = ManagedIdentityCredential::new(
        http.clone(),
        &Url::parse(DEFAULT_IMDS_ENDPOINT).unwrap(),
        ManagedIdentityId::ClientId(CLIENT.into()),
        "https://management.azure.com/",
    )
    .unwrap();
    shown("ManagedIdentityCredential", format!("{managed:?}"));

    // A cache holding a fresh token, alone and inside the ARM client that uses it.
    #[derive(Debug)]
    struct Fixed;
    #[async_trait]
    impl TokenCredential for Fixed {
        async fn token(&self) -> Result<AccessToken, ArmError> {
            Ok(AccessToken { token: Secret::new(MARK), expires_at: Instant::now() + Duration::from_secs(3600) })
        }
    }
    let cached = CachedCredential::new(Fixed);
    assert_eq!(cached.token().await.unwrap().token.expose(), MARK);
    let text = shown("CachedCredential", format!("{cached:?}"));
    assert!(text.contains("AccessToken"), "the cached token is in the output, redacted: {text}");
    let arm = crate::azure::ArmClient::new(
        http,
        Url::parse("https://management.azure.com/").unwrap(),
        cached,
        Default::default(),
    );
    shown("ArmClient", format!("{arm:?}"));

    for config in [
        CredentialConfig::ClientSecret {
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            client_secret: Secret::new(MARK),
            authority_host: None,
        },
        CredentialConfig::WorkloadIdentity {
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            token_file: file.clone(),
            authority_host: None,
        },
    ] {
        shown("CredentialConfig", format!("{config:?}"));
    }

    // The token endpoints' answers, before the token moves into a `Secret`.
    let body = format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{MARK}"}}"#);
    let parsed: TokenResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed.access_token, MARK);
    shown("TokenResponse", format!("{parsed:?}"));
    let body = format!(r#"{{"access_token":"{MARK}","expires_in":"3599","resource":"r","token_type":"Bearer"}}"#);
    let parsed: crate::azure::model::ImdsTokenResponse = serde_json::from_str(&body).unwrap();
    shown("ImdsTokenResponse", format!("{parsed:?}"));
}

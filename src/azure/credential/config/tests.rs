use super::*;
use crate::azure::credential::TokenFile;

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const CLIENT: &str = "22222222-2222-2222-2222-222222222222";
const MI_CLIENT: &str = "33333333-3333-3333-3333-333333333333";

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

#[test]
fn detects_the_credential_kind_from_the_environment() {
    let base = [("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)];
    let secret = CredentialConfig::from_lookup(None, env(&[base[0], base[1], ("AZURE_CLIENT_SECRET", "s")])).unwrap();
    assert_eq!(secret.kind(), CredentialKind::ClientSecret);
    let wi = CredentialConfig::from_lookup(
        None,
        env(&[
            base[0],
            base[1],
            ("AZURE_FEDERATED_TOKEN_FILE", "/tok"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
        ]),
    )
    .unwrap();
    match wi {
        CredentialConfig::WorkloadIdentity { token_file, authority_host, .. } => {
            assert_eq!(token_file, PathBuf::from("/tok"));
            assert_eq!(authority_host.unwrap().as_str(), "https://login.microsoftonline.us/");
        }
        other => panic!("{other:?}"),
    }
    let mi = CredentialConfig::from_lookup(
        None,
        env(&[("AZURE_CLIENT_ID", MI_CLIENT), ("FLOWLOG_IMDS_ENDPOINT", "http://127.0.0.1:9")]),
    )
    .unwrap();
    assert_eq!(
        mi,
        CredentialConfig::ManagedIdentity {
            identity: ManagedIdentityId::ClientId(MI_CLIENT.into()),
            endpoint: Url::parse("http://127.0.0.1:9").unwrap()
        }
    );
    let system = CredentialConfig::from_lookup(None, env(&[])).unwrap();
    assert!(matches!(system, CredentialConfig::ManagedIdentity { identity: ManagedIdentityId::System, .. }));
}

#[test]
fn kinds_parse_from_flag_values() {
    for kind in [CredentialKind::ClientSecret, CredentialKind::WorkloadIdentity, CredentialKind::ManagedIdentity] {
        assert_eq!(kind.to_string().parse::<CredentialKind>(), Ok(kind));
    }
    assert!("msi".parse::<CredentialKind>().is_err());
}

#[test]
fn names_the_missing_variable() {
    let err =
        CredentialConfig::from_lookup(None, env(&[("AZURE_CLIENT_SECRET", "s3cr3t"), ("AZURE_CLIENT_ID", CLIENT)]))
            .unwrap_err()
            .to_string();
    assert!(err.contains("AZURE_TENANT_ID") && !err.contains("s3cr3t"), "{err}");
    let err = CredentialConfig::from_lookup(
        Some(CredentialKind::WorkloadIdentity),
        env(&[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("AZURE_FEDERATED_TOKEN_FILE"), "{err}");
}

#[test]
fn ids_from_flags_and_the_environment_are_checked_for_every_kind() {
    let secret = ("AZURE_CLIENT_SECRET", "s3cr3t");
    let file = ("AZURE_FEDERATED_TOKEN_FILE", "/tok");
    for (kind, extra) in [(CredentialKind::ClientSecret, secret), (CredentialKind::WorkloadIdentity, file)] {
        let err = CredentialConfig::from_lookup(
            Some(kind),
            env(&[("AZURE_TENANT_ID", "\\\\evil.example"), ("AZURE_CLIENT_ID", CLIENT), extra]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("AZURE_TENANT_ID (--tenant-id) is not a tenant ID") && err.contains("backslash"), "{err}");
        let err = CredentialConfig::from_lookup(
            Some(kind),
            env(&[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", "my-app"), extra]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("AZURE_CLIENT_ID (--client-id) is not a client ID"), "{err}");
    }
    let err = CredentialConfig::from_lookup(
        Some(CredentialKind::ManagedIdentity),
        env(&[("AZURE_CLIENT_ID", "uami&resource=https://evil.example/")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("AZURE_CLIENT_ID (--client-id) is not a client ID") && !err.contains("evil"), "{err}");
}

#[test]
fn reads_the_client_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "from-file\n").unwrap();
    let path = path.to_str().unwrap();
    let config = CredentialConfig::from_lookup(
        None,
        env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "from-env"),
            ("AZURE_CLIENT_SECRET_FILE", path),
        ]),
    )
    .unwrap();
    match &config {
        CredentialConfig::ClientSecret { client_secret, .. } => assert_eq!(client_secret.expose(), "from-file"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{config:?}").contains("from-file"));
}

// ---------------------------------------------------------------------------------------------------------
// Credentials Secrets.

/// The secret value of the Secrets below: no error may show it.
const SECRET: &str = "hunter2-value";

fn data(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
}

fn full() -> BTreeMap<String, Vec<u8>> {
    let tenant = format!("{TENANT}\n");
    let client = format!(" {CLIENT} ");
    let secret = format!("{SECRET}\n");
    data(&[("tenantId", tenant.as_bytes()), ("clientId", client.as_bytes()), ("clientSecret", secret.as_bytes())])
}

/// `full()` with `key` set to `value` (or removed).
fn with(key: &str, value: Option<&[u8]>) -> BTreeMap<String, Vec<u8>> {
    let mut data = full();
    match value {
        Some(value) => data.insert(key.into(), value.to_vec()),
        None => data.remove(key),
    };
    data
}

/// The error of a Secret's data, shown as status would show it and as `Debug` would; it never holds the secret.
fn refused(data: &BTreeMap<String, Vec<u8>>) -> String {
    let err = CredentialConfig::from_secret_data(data).unwrap_err();
    assert!(matches!(err, ArmError::Config(_)), "{err:?}");
    let shown = format!("{} | {err:?}", err.message());
    assert!(!shown.contains("hunter2"), "the secret leaked: {shown}");
    shown
}

#[test]
fn secret_data_with_a_client_secret_is_a_service_principal() {
    let config = CredentialConfig::from_secret_data(&full()).unwrap();
    match &config {
        CredentialConfig::ClientSecret { tenant_id, client_id, client_secret, authority_host } => {
            assert_eq!((tenant_id.as_str(), client_id.as_str(), client_secret.expose()), (TENANT, CLIENT, SECRET));
            assert_eq!(*authority_host, None, "the cloud's authority host: a Secret cannot pick one");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{config:?}").contains("hunter2"));
    // A client secret is taken as it is, but for a trailing line break; a domain is a tenant ID too.
    let spaced = with("clientSecret", Some(b" a b \r\n"));
    let spaced = CredentialConfig::from_secret_data(&spaced).unwrap();
    assert!(
        matches!(&spaced, CredentialConfig::ClientSecret { client_secret, .. } if client_secret.expose() == " a b ")
    );
    let domain = with("tenantId", Some(b"contoso.onmicrosoft.com"));
    assert!(CredentialConfig::from_secret_data(&domain).is_ok());
    // Other keys are ignored, whatever they hold.
    let mut extra = full();
    extra.insert("notes".into(), vec![0xff; MAX_SECRET_VALUE_BYTES * 4]);
    assert!(CredentialConfig::from_secret_data(&extra).is_ok());
}

#[test]
fn secret_data_with_a_service_account_is_workload_identity_of_that_namespace() {
    let mut named = with("clientSecret", None);
    named.insert("serviceAccountName".into(), b" flowlogs \n".to_vec());
    let config = CredentialConfig::from_secret_data(&named).unwrap();
    assert_eq!(
        config,
        CredentialConfig::ServiceAccount {
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            service_account: "flowlogs".into()
        }
    );
    assert_eq!(config.kind(), CredentialKind::WorkloadIdentity);
    // Neither: no longer the operator's own identity (any namespace could have named any app trusting it).
    let shown = refused(&with("clientSecret", None));
    assert!(shown.contains("neither \"clientSecret\" nor \"serviceAccountName\""), "{shown}");
    assert!(shown.contains("ServiceAccount of this namespace"), "{shown}");
    // Both: ambiguous.
    let mut both = full();
    both.insert("serviceAccountName".into(), b"flowlogs".to_vec());
    assert!(refused(&both).contains("both \"clientSecret\" and \"serviceAccountName\""));
    // Only a name of this namespace: no namespace, no subject, nothing that is not a ServiceAccount's name.
    for bad in [&b"other-ns/flowlogs"[..], b"system:serviceaccount:kube-system:default", b"Flowlogs", b"-x", b"a..b"] {
        let mut data = with("clientSecret", None);
        data.insert("serviceAccountName".into(), bad.to_vec());
        let shown = refused(&data);
        assert!(shown.contains("is not the name of a ServiceAccount"), "{bad:?}: {shown}");
    }
    // An empty clientSecret is a mistake, not a request for workload identity.
    assert!(refused(&with("clientSecret", Some(b"\n"))).contains("empty"));
}

#[test]
fn secret_data_missing_keys_are_named() {
    for key in ["tenantId", "clientId"] {
        let shown = refused(&with(key, None));
        assert!(shown.contains(&format!("no key {key:?}")), "{shown}");
        assert!(shown.contains("needs tenantId, clientId, and clientSecret or serviceAccountName"), "{shown}");
    }
    let shown = refused(&BTreeMap::new());
    assert!(shown.contains("no key \"tenantId\""), "{shown}");
    // Keys are case-sensitive, as Kubernetes' are: the usual misspellings are missing keys.
    let mut misspelt = with("tenantId", None);
    misspelt.insert("tenantID".into(), TENANT.as_bytes().to_vec());
    assert!(refused(&misspelt).contains("no key \"tenantId\""));
}

#[test]
fn secret_data_that_is_not_text_or_empty_is_refused() {
    let not_utf8 = [0xff, b'h', b'u', b'n', b't', b'e', b'r', b'2'];
    for key in ["tenantId", "clientId", "clientSecret"] {
        let shown = refused(&with(key, Some(&not_utf8)));
        assert!(shown.contains(&format!("key {key:?}")) && shown.contains("not UTF-8"), "{shown}");
        for empty in [&b""[..], b"  ", b"\n"] {
            if key == "clientSecret" && empty == b"  " {
                continue; // spaces are a (strange) secret
            }
            let shown = refused(&with(key, Some(empty)));
            assert!(shown.contains(&format!("key {key:?}")) && shown.contains("empty"), "{key} {empty:?}: {shown}");
        }
    }
}

#[test]
fn secret_data_over_the_size_limit_is_refused_without_reading_it() {
    let huge = format!("{SECRET}{}", "x".repeat(MAX_SECRET_VALUE_BYTES));
    for key in ["tenantId", "clientId", "clientSecret"] {
        let shown = refused(&with(key, Some(huge.as_bytes())));
        let size = huge.len();
        assert!(shown.contains(&format!("key {key:?}")) && shown.contains(&format!("holds {size} bytes")), "{shown}");
        assert!(shown.contains("at most 16384"), "{shown}");
    }
    // A megabyte of anything: refused the same way, whatever the bytes.
    let mega = vec![0xffu8; 1 << 20];
    assert!(refused(&with("clientSecret", Some(&mega))).contains("1048576 bytes"));
    // The limit itself is accepted.
    let at_limit = "s".repeat(MAX_SECRET_VALUE_BYTES);
    assert!(CredentialConfig::from_secret_data(&with("clientSecret", Some(at_limit.as_bytes()))).is_ok());
}

#[test]
fn secret_ids_that_are_not_ids_are_refused_without_showing_them() {
    let secret_as_client = format!("{SECRET}-pasted-into-clientId");
    let cases: &[(&str, &[u8], &str)] = &[
        ("tenantId", b"\\\\evil.example", "backslash"),
        ("tenantId", b"evil.example/x", "'/'"),
        ("tenantId", b"..", "empty label"),
        ("tenantId", b"me@evil.example", "'@'"),
        ("tenantId", b"%5C%5Cevil.example", "'%'"),
        ("tenantId", b"cont oso.com", "whitespace"),
        ("tenantId", "c\u{f6}ntoso.com".as_bytes(), "non-ASCII"),
        ("tenantId", b"common", "single word"),
        ("clientId", b"my-app", "not a client ID"),
        ("clientId", b"contoso.onmicrosoft.com", "not a client ID"),
        ("clientId", secret_as_client.as_bytes(), "not a client ID"),
        ("clientId", b"22222222-2222-2222-2222-222222222222&x=1", "'&'"),
    ];
    for (key, value, why) in cases {
        let shown = refused(&with(key, Some(value)));
        assert!(shown.contains(&format!("key {key:?} of the credentials Secret is not a")), "{shown}");
        assert!(shown.contains(why), "{key} {value:?}: {shown}");
        assert!(!shown.contains("evil") && !shown.contains("pasted"), "the value is not repeated: {shown}");
    }
    let long = format!("{}.com", "a".repeat(MAX_SECRET_VALUE_BYTES - 4));
    assert!(refused(&with("tenantId", Some(long.as_bytes()))).contains("characters"));
}

#[test]
fn secret_types_of_kubernetes_itself_are_refused() {
    for ok in [None, Some(""), Some("Opaque"), Some("example.com/azure-credentials")] {
        assert!(CredentialConfig::check_secret_type(ok).is_ok(), "{ok:?}");
    }
    for bad in ["kubernetes.io/tls", "kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token"] {
        let err = CredentialConfig::check_secret_type(Some(bad)).unwrap_err().to_string();
        assert!(err.contains(bad) && err.contains("Opaque"), "{err}");
    }
    let http = reqwest::Client::new();
    let cloud = Cloud::azure_public();
    let err =
        credential_from_secret_data(Some("kubernetes.io/basic-auth"), &full(), &no_tokens, &cloud, http).unwrap_err();
    assert!(err.to_string().contains("kubernetes.io/basic-auth"), "{err}");
}

/// A Secret path that must not ask for ServiceAccount tokens.
fn no_tokens(name: &str) -> Arc<dyn AssertionSource> {
    panic!("no ServiceAccount token expected, asked for {name}")
}

#[test]
fn builds_each_kind_for_a_cloud() {
    let http = reqwest::Client::new();
    let gov = Cloud::azure_us_government();
    let secret = CredentialConfig::from_secret_data(&full()).unwrap();
    let built = format!("{:?}", secret.build(http.clone(), &gov).unwrap());
    assert!(built.contains(&format!("https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token")), "{built}");
    assert!(built.contains("https://management.usgovcloudapi.net/.default"), "{built}");
    assert!(!built.contains("hunter2"), "{built}");

    let mut named = with("clientSecret", None);
    named.insert("serviceAccountName".into(), b"flowlogs".to_vec());
    let tokens = |name: &str| -> Arc<dyn AssertionSource> { Arc::new(TokenFile(format!("/tokens/{name}").into())) };
    let built = format!("{:?}", credential_from_secret_data(None, &named, &tokens, &gov, http.clone()).unwrap());
    assert!(built.contains("WorkloadIdentityCredential") && built.contains("\"/tokens/flowlogs\""), "{built}");
    assert!(built.contains(&format!("https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token")), "{built}");

    let mi = CredentialConfig::ManagedIdentity {
        identity: ManagedIdentityId::System,
        endpoint: Url::parse(super::super::DEFAULT_IMDS_ENDPOINT).unwrap(),
    };
    let built = format!("{:?}", mi.build(http, &Cloud::azure_china()).unwrap());
    assert!(built.contains("resource=https%3A%2F%2Fmanagement.chinacloudapi.cn%2F"), "{built}");
}

//! Choosing and building a credential: from the environment (the operator-wide default) or from the data of
//! a Kubernetes Secret (a policy's `credentialsRef`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::{
    CachedCredential, ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityId, Secret, TokenCredential,
    WorkloadIdentityCredential,
};
use crate::azure::cloud::Cloud;
use crate::azure::error::ArmError;

/// Key of a credentials Secret: the Entra tenant ID (or domain) of the service principal.
pub const SECRET_KEY_TENANT_ID: &str = "tenantId";
/// Key of a credentials Secret: the application (client) ID of the service principal.
pub const SECRET_KEY_CLIENT_ID: &str = "clientId";
/// Key of a credentials Secret: the client secret of the service principal.
pub const SECRET_KEY_CLIENT_SECRET: &str = "clientSecret";

/// Which token source to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    ClientSecret,
    WorkloadIdentity,
    ManagedIdentity,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ClientSecret => "client-secret",
            CredentialKind::WorkloadIdentity => "workload-identity",
            CredentialKind::ManagedIdentity => "managed-identity",
        }
    }
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `client-secret`, `workload-identity` or `managed-identity` (the form of a `--credential` flag).
impl std::str::FromStr for CredentialKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [CredentialKind::ClientSecret, CredentialKind::WorkloadIdentity, CredentialKind::ManagedIdentity]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("{s:?}: expected client-secret, workload-identity or managed-identity"))
    }
}

/// Everything needed to build one credential. `Debug` never shows the client secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialConfig {
    /// A service principal with a client secret.
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: Secret,
        /// Overrides the cloud's authority host.
        authority_host: Option<Url>,
    },
    /// Workload identity on AKS: a federated Kubernetes service-account token, re-read on every refresh.
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
        /// Overrides the cloud's authority host (the webhook sets `AZURE_AUTHORITY_HOST`).
        authority_host: Option<Url>,
    },
    /// A managed identity through IMDS.
    ManagedIdentity { identity: ManagedIdentityId, endpoint: Url },
}

fn missing(var: &str, kind: &str) -> ArmError {
    ArmError::Config(format!("{kind} credentials need {var}"))
}

fn parse_url(var: &str, value: &str) -> Result<Url, ArmError> {
    Url::parse(value).map_err(|e| ArmError::Config(format!("{var} {value:?} is not a URL: {e}")))
}

impl CredentialConfig {
    /// From the process environment; see [`CredentialConfig::from_lookup`].
    pub fn from_env(kind: Option<CredentialKind>) -> Result<Self, ArmError> {
        Self::from_lookup(kind, |name| std::env::var(name).ok())
    }

    /// From environment variables read through `lookup` (empty values count as unset).
    ///
    /// | variable | used for |
    /// |---|---|
    /// | `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` | client secret and workload identity (required); managed identity: `AZURE_CLIENT_ID` picks a user-assigned identity |
    /// | `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_SECRET_FILE` | client secret (the file wins) |
    /// | `AZURE_FEDERATED_TOKEN_FILE` | workload identity |
    /// | `AZURE_AUTHORITY_HOST` | overrides the cloud's authority host |
    /// | `FLOWLOG_IMDS_ENDPOINT` | managed identity: IMDS base URL (default `http://169.254.169.254`) |
    ///
    /// Without `kind`: a client secret if one is set, else workload identity if the token file is set, else
    /// managed identity.
    pub fn from_lookup(
        kind: Option<CredentialKind>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ArmError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let kind = kind.unwrap_or_else(|| {
            if var("AZURE_CLIENT_SECRET").is_some() || var("AZURE_CLIENT_SECRET_FILE").is_some() {
                CredentialKind::ClientSecret
            } else if var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
                CredentialKind::WorkloadIdentity
            } else {
                CredentialKind::ManagedIdentity
            }
        });
        let authority_host = var("AZURE_AUTHORITY_HOST").map(|v| parse_url("AZURE_AUTHORITY_HOST", &v)).transpose()?;
        match kind {
            CredentialKind::ClientSecret => {
                let what = "client-secret";
                let client_secret = match var("AZURE_CLIENT_SECRET_FILE") {
                    Some(path) => {
                        let text = std::fs::read_to_string(&path).map_err(|e| {
                            ArmError::Config(format!(
                                "reading the client secret from AZURE_CLIENT_SECRET_FILE {path}: {e}"
                            ))
                        })?;
                        let text = text.trim();
                        if text.is_empty() {
                            return Err(ArmError::Config(format!("the client secret file {path} is empty")));
                        }
                        Secret::new(text)
                    }
                    // Not trimmed: whitespace is unusual in a secret but would be meaningful.
                    None => Secret::new(
                        lookup("AZURE_CLIENT_SECRET")
                            .filter(|v| !v.is_empty())
                            .ok_or_else(|| missing("AZURE_CLIENT_SECRET or AZURE_CLIENT_SECRET_FILE", what))?,
                    ),
                };
                Ok(CredentialConfig::ClientSecret {
                    tenant_id: var("AZURE_TENANT_ID").ok_or_else(|| missing("AZURE_TENANT_ID", what))?,
                    client_id: var("AZURE_CLIENT_ID").ok_or_else(|| missing("AZURE_CLIENT_ID", what))?,
                    client_secret,
                    authority_host,
                })
            }
            CredentialKind::WorkloadIdentity => {
                let what = "workload-identity";
                Ok(CredentialConfig::WorkloadIdentity {
                    tenant_id: var("AZURE_TENANT_ID").ok_or_else(|| missing("AZURE_TENANT_ID", what))?,
                    client_id: var("AZURE_CLIENT_ID").ok_or_else(|| missing("AZURE_CLIENT_ID", what))?,
                    token_file: var("AZURE_FEDERATED_TOKEN_FILE")
                        .ok_or_else(|| missing("AZURE_FEDERATED_TOKEN_FILE", what))?
                        .into(),
                    authority_host,
                })
            }
            CredentialKind::ManagedIdentity => {
                let endpoint = var("FLOWLOG_IMDS_ENDPOINT").unwrap_or_else(|| super::DEFAULT_IMDS_ENDPOINT.to_string());
                Ok(CredentialConfig::ManagedIdentity {
                    identity: var("AZURE_CLIENT_ID").map(ManagedIdentityId::ClientId).unwrap_or_default(),
                    endpoint: parse_url("FLOWLOG_IMDS_ENDPOINT", &endpoint)?,
                })
            }
        }
    }

    /// The data of a Kubernetes Secret holding a service principal: keys [`SECRET_KEY_TENANT_ID`] (`tenantId`),
    /// [`SECRET_KEY_CLIENT_ID`] (`clientId`) and [`SECRET_KEY_CLIENT_SECRET`] (`clientSecret`), UTF-8; other
    /// keys are ignored. Errors name the missing or unreadable key, never a value.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, ArmError> {
        let read = |key: &str, trim: bool| -> Result<String, ArmError> {
            let bytes = data.get(key).ok_or_else(|| {
                ArmError::Config(format!(
                    "the credentials Secret has no key {key:?} (it needs {SECRET_KEY_TENANT_ID}, {SECRET_KEY_CLIENT_ID} and {SECRET_KEY_CLIENT_SECRET})"
                ))
            })?;
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ArmError::Config(format!("key {key:?} of the credentials Secret is not UTF-8 text")))?;
            let text = if trim { text.trim() } else { text.trim_end_matches(['\n', '\r']) };
            if text.is_empty() {
                return Err(ArmError::Config(format!("key {key:?} of the credentials Secret is empty")));
            }
            Ok(text.to_string())
        };
        Ok(CredentialConfig::ClientSecret {
            tenant_id: read(SECRET_KEY_TENANT_ID, true)?,
            client_id: read(SECRET_KEY_CLIENT_ID, true)?,
            client_secret: Secret::new(read(SECRET_KEY_CLIENT_SECRET, false)?),
            authority_host: None,
        })
    }

    pub fn kind(&self) -> CredentialKind {
        match self {
            CredentialConfig::ClientSecret { .. } => CredentialKind::ClientSecret,
            CredentialConfig::WorkloadIdentity { .. } => CredentialKind::WorkloadIdentity,
            CredentialConfig::ManagedIdentity { .. } => CredentialKind::ManagedIdentity,
        }
    }

    /// The credential, cached ([`CachedCredential`]), for `cloud`'s authority host and token audience.
    pub fn build(&self, http: reqwest::Client, cloud: &Cloud) -> Result<Arc<dyn TokenCredential>, ArmError> {
        let credential: Arc<dyn TokenCredential> = match self {
            CredentialConfig::ClientSecret { tenant_id, client_id, client_secret, authority_host } => {
                CachedCredential::new(ClientSecretCredential::new(
                    http,
                    authority_host.as_ref().unwrap_or(&cloud.authority_host),
                    tenant_id,
                    client_id,
                    client_secret.clone(),
                    &cloud.token_scope,
                )?)
            }
            CredentialConfig::WorkloadIdentity { tenant_id, client_id, token_file, authority_host } => {
                CachedCredential::new(WorkloadIdentityCredential::new(
                    http,
                    authority_host.as_ref().unwrap_or(&cloud.authority_host),
                    tenant_id,
                    client_id,
                    token_file.clone(),
                    &cloud.token_scope,
                )?)
            }
            CredentialConfig::ManagedIdentity { identity, endpoint } => CachedCredential::new(
                ManagedIdentityCredential::new(http, endpoint, identity.clone(), &cloud.imds_resource)?,
            ),
        };
        Ok(credential)
    }
}

/// A cached credential from the data of a policy's `credentialsRef` Secret (see
/// [`CredentialConfig::from_secret_data`] for the keys). The caller must read the Secret from the policy's own
/// namespace, and should keep the result (keyed by the Secret's UID and resourceVersion) rather than build
/// one per reconcile: each credential caches its own token.
pub fn credential_from_secret_data(
    data: &BTreeMap<String, Vec<u8>>,
    cloud: &Cloud,
    http: reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, ArmError> {
    CredentialConfig::from_secret_data(data)?.build(http, cloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn detects_the_credential_kind_from_the_environment() {
        let base = [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")];
        let secret =
            CredentialConfig::from_lookup(None, env(&[base[0], base[1], ("AZURE_CLIENT_SECRET", "s")])).unwrap();
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
            env(&[("AZURE_CLIENT_ID", "c"), ("FLOWLOG_IMDS_ENDPOINT", "http://127.0.0.1:9")]),
        )
        .unwrap();
        assert_eq!(
            mi,
            CredentialConfig::ManagedIdentity {
                identity: ManagedIdentityId::ClientId("c".into()),
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
            CredentialConfig::from_lookup(None, env(&[("AZURE_CLIENT_SECRET", "s3cr3t"), ("AZURE_CLIENT_ID", "c")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("AZURE_TENANT_ID") && !err.contains("s3cr3t"), "{err}");
        let err = CredentialConfig::from_lookup(
            Some(CredentialKind::WorkloadIdentity),
            env(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("AZURE_FEDERATED_TOKEN_FILE"), "{err}");
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
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
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

    fn data(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
    }

    #[test]
    fn secret_data_needs_three_keys_and_errors_never_show_values() {
        let full = data(&[("tenantId", b"t\n"), ("clientId", b" c "), ("clientSecret", b"hunter2-value\n")]);
        let config = CredentialConfig::from_secret_data(&full).unwrap();
        match &config {
            CredentialConfig::ClientSecret { tenant_id, client_id, client_secret, .. } => {
                assert_eq!(
                    (tenant_id.as_str(), client_id.as_str(), client_secret.expose()),
                    ("t", "c", "hunter2-value")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{config:?}").contains("hunter2"));

        for key in ["tenantId", "clientId", "clientSecret"] {
            let mut partial = full.clone();
            partial.remove(key);
            let err = CredentialConfig::from_secret_data(&partial).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(&format!("{key:?}")), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let mut bad = full.clone();
        bad.insert("clientSecret".into(), vec![0xff, b'h', b'u', b'n', b't', b'e', b'r', b'2']);
        let shown = CredentialConfig::from_secret_data(&bad).unwrap_err().to_string();
        assert!(shown.contains("clientSecret") && shown.contains("UTF-8") && !shown.contains("hunter2"), "{shown}");
        let mut empty = full;
        empty.insert("clientId".into(), b"  ".to_vec());
        assert!(CredentialConfig::from_secret_data(&empty).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn builds_each_kind_for_a_cloud() {
        let http = reqwest::Client::new();
        let gov = Cloud::azure_us_government();
        let secret = CredentialConfig::from_secret_data(&data(&[
            ("tenantId", b"t"),
            ("clientId", b"c"),
            ("clientSecret", b"hunter2"),
        ]))
        .unwrap();
        let built = format!("{:?}", secret.build(http.clone(), &gov).unwrap());
        assert!(built.contains("https://login.microsoftonline.us/t/oauth2/v2.0/token"), "{built}");
        assert!(built.contains("https://management.usgovcloudapi.net/.default"), "{built}");
        assert!(!built.contains("hunter2"), "{built}");

        let mi = CredentialConfig::ManagedIdentity {
            identity: ManagedIdentityId::System,
            endpoint: Url::parse(super::super::DEFAULT_IMDS_ENDPOINT).unwrap(),
        };
        let built = format!("{:?}", mi.build(http, &Cloud::azure_china()).unwrap());
        assert!(built.contains("resource=https%3A%2F%2Fmanagement.chinacloudapi.cn%2F"), "{built}");
    }
}

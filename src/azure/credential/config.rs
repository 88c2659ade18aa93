//! Choosing and building a credential: from the environment (the operator-wide default) or from the data of
//! a Kubernetes Secret (a policy's `credentialsRef`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::ids::{check_client_id, check_tenant_id};
use super::{
    AssertionSource, CachedCredential, ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityId, Secret,
    TokenCredential, WorkloadIdentityCredential,
};
use crate::azure::cloud::Cloud;
use crate::azure::error::ArmError;

/// Key of a credentials Secret: the Entra tenant ID (or domain) of the service principal.
pub const SECRET_KEY_TENANT_ID: &str = "tenantId";
/// Key of a credentials Secret: the application (client) ID of the service principal.
pub const SECRET_KEY_CLIENT_ID: &str = "clientId";
/// Key of a credentials Secret: the client secret of the service principal.
pub const SECRET_KEY_CLIENT_SECRET: &str = "clientSecret";
/// Key of a credentials Secret, instead of a client secret: a ServiceAccount of the Secret's own namespace whose
/// tokens (from the TokenRequest API) sign in to the app by workload identity federation.
pub const SECRET_KEY_SERVICE_ACCOUNT: &str = "serviceAccountName";
/// The most a credentials Secret's key may hold, in bytes (IDs have at most 253 characters, client secrets about 40).
pub const MAX_SECRET_VALUE_BYTES: usize = 16 * 1024;

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
    /// Workload identity with the tokens of a ServiceAccount of a credentials Secret's namespace (only from a
    /// Secret: [`credential_from_secret_data`] builds it with the caller's TokenRequest client).
    ServiceAccount { tenant_id: String, client_id: String, service_account: String },
}

fn missing(var: &str, kind: &str) -> ArmError {
    ArmError::Config(format!("{kind} credentials need {var}"))
}

const TENANT_ID_SOURCE: &str = "AZURE_TENANT_ID (--tenant-id)";
const CLIENT_ID_SOURCE: &str = "AZURE_CLIENT_ID (--client-id)";

/// The tenant ID of the environment, required and checked.
fn tenant(value: Option<String>, kind: &str) -> Result<String, ArmError> {
    let value = value.ok_or_else(|| missing("AZURE_TENANT_ID", kind))?;
    check_tenant_id(&value, TENANT_ID_SOURCE)?;
    Ok(value)
}

/// The client ID of the environment, required and checked.
fn client(value: Option<String>, kind: &str) -> Result<String, ArmError> {
    let value = value.ok_or_else(|| missing("AZURE_CLIENT_ID", kind))?;
    check_client_id(&value, CLIENT_ID_SOURCE)?;
    Ok(value)
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
                    tenant_id: tenant(var("AZURE_TENANT_ID"), what)?,
                    client_id: client(var("AZURE_CLIENT_ID"), what)?,
                    client_secret,
                    authority_host,
                })
            }
            CredentialKind::WorkloadIdentity => {
                let what = "workload-identity";
                Ok(CredentialConfig::WorkloadIdentity {
                    tenant_id: tenant(var("AZURE_TENANT_ID"), what)?,
                    client_id: client(var("AZURE_CLIENT_ID"), what)?,
                    token_file: var("AZURE_FEDERATED_TOKEN_FILE")
                        .ok_or_else(|| missing("AZURE_FEDERATED_TOKEN_FILE", what))?
                        .into(),
                    authority_host,
                })
            }
            CredentialKind::ManagedIdentity => {
                let endpoint = var("FLOWLOG_IMDS_ENDPOINT").unwrap_or_else(|| super::DEFAULT_IMDS_ENDPOINT.to_string());
                let identity = match var("AZURE_CLIENT_ID") {
                    Some(id) => {
                        check_client_id(&id, CLIENT_ID_SOURCE)?;
                        ManagedIdentityId::ClientId(id)
                    }
                    None => ManagedIdentityId::System,
                };
                Ok(CredentialConfig::ManagedIdentity {
                    identity,
                    endpoint: parse_url("FLOWLOG_IMDS_ENDPOINT", &endpoint)?,
                })
            }
        }
    }

    /// The data of a credentials Secret (a policy's or a set's `credentialsRef`): keys [`SECRET_KEY_TENANT_ID`]
    /// (`tenantId`) and [`SECRET_KEY_CLIENT_ID`] (`clientId`), and either [`SECRET_KEY_CLIENT_SECRET`]
    /// (`clientSecret`) or [`SECRET_KEY_SERVICE_ACCOUNT`] (`serviceAccountName`: workload identity with that
    /// ServiceAccount of the Secret's namespace, so that an app trusts one namespace's ServiceAccount, never the
    /// operator's). UTF-8, at most [`MAX_SECRET_VALUE_BYTES`] each; other keys are ignored. Errors name the key and
    /// what is wrong with it, never a value.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, ArmError> {
        let needs = format!(
            "a credentials Secret needs {SECRET_KEY_TENANT_ID}, {SECRET_KEY_CLIENT_ID}, and {SECRET_KEY_CLIENT_SECRET} or {SECRET_KEY_SERVICE_ACCOUNT}"
        );
        let required = |key: &str, trim: bool| -> Result<String, ArmError> {
            secret_value(data, key, trim)?
                .ok_or_else(|| ArmError::Config(format!("the credentials Secret has no key {key:?} ({needs})")))
        };
        let tenant_id = required(SECRET_KEY_TENANT_ID, true)?;
        check_tenant_id(&tenant_id, &format!("key {SECRET_KEY_TENANT_ID:?} of the credentials Secret"))?;
        let client_id = required(SECRET_KEY_CLIENT_ID, true)?;
        check_client_id(&client_id, &format!("key {SECRET_KEY_CLIENT_ID:?} of the credentials Secret"))?;
        let client_secret = secret_value(data, SECRET_KEY_CLIENT_SECRET, false)?;
        let service_account = secret_value(data, SECRET_KEY_SERVICE_ACCOUNT, true)?;
        match (client_secret, service_account) {
            (Some(_), Some(_)) => Err(ArmError::Config(format!(
                "the credentials Secret has both {SECRET_KEY_CLIENT_SECRET:?} and {SECRET_KEY_SERVICE_ACCOUNT:?}: keep one"
            ))),
            (Some(client_secret), None) => Ok(CredentialConfig::ClientSecret {
                tenant_id,
                client_id,
                client_secret: Secret::new(client_secret),
                authority_host: None,
            }),
            (None, Some(service_account)) => {
                if !is_dns_subdomain(&service_account) {
                    return Err(ArmError::Config(format!(
                        "key {SECRET_KEY_SERVICE_ACCOUNT:?} of the credentials Secret is not the name of a ServiceAccount (a ServiceAccount of the Secret's own namespace, by name)"
                    )));
                }
                Ok(CredentialConfig::ServiceAccount { tenant_id, client_id, service_account })
            }
            (None, None) => Err(ArmError::Config(format!(
                "the credentials Secret has neither {SECRET_KEY_CLIENT_SECRET:?} nor {SECRET_KEY_SERVICE_ACCOUNT:?} ({needs}); for workload identity, name a ServiceAccount of this namespace whose subject the app's federated credential trusts"
            ))),
        }
    }

    /// Checks a credentials Secret's `type`: Kubernetes' own types (`kubernetes.io/tls`,
    /// `kubernetes.io/service-account-token`, ...) hold something else than Azure credentials.
    pub fn check_secret_type(secret_type: Option<&str>) -> Result<(), ArmError> {
        let Some(secret_type) = secret_type.filter(|t| !t.is_empty() && *t != "Opaque") else { return Ok(()) };
        if secret_type.starts_with("kubernetes.io/") || secret_type.starts_with("bootstrap.kubernetes.io/") {
            let shown: String = secret_type.chars().take(100).collect();
            return Err(ArmError::Config(format!(
                "the credentials Secret is of type {shown:?}; a credentials Secret is Opaque (kubectl create secret generic)"
            )));
        }
        Ok(())
    }

    pub fn kind(&self) -> CredentialKind {
        match self {
            CredentialConfig::ClientSecret { .. } => CredentialKind::ClientSecret,
            CredentialConfig::WorkloadIdentity { .. } | CredentialConfig::ServiceAccount { .. } => {
                CredentialKind::WorkloadIdentity
            }
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
            CredentialConfig::ServiceAccount { .. } => {
                return Err(ArmError::Config(
                    "a ServiceAccount's credentials need its tokens from the cluster (credential_from_secret_data)"
                        .into(),
                ));
            }
        };
        Ok(credential)
    }
}

/// One key of a credentials Secret: `None` when it is absent; an error when it is too large, not UTF-8 or empty.
/// `trim`: surrounding whitespace is dropped (IDs); otherwise only a trailing line break (a secret written with
/// `echo` into a file).
fn secret_value(data: &BTreeMap<String, Vec<u8>>, key: &str, trim: bool) -> Result<Option<String>, ArmError> {
    let Some(bytes) = data.get(key) else { return Ok(None) };
    if bytes.len() > MAX_SECRET_VALUE_BYTES {
        return Err(ArmError::Config(format!(
            "key {key:?} of the credentials Secret holds {} bytes; at most {MAX_SECRET_VALUE_BYTES} are read",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ArmError::Config(format!("key {key:?} of the credentials Secret is not UTF-8 text")))?;
    let text = if trim { text.trim() } else { text.trim_end_matches(['\n', '\r']) };
    if text.is_empty() {
        return Err(ArmError::Config(format!("key {key:?} of the credentials Secret is empty")));
    }
    Ok(Some(text.to_string()))
}

/// A cached credential from a policy's (or a set's) `credentialsRef` Secret: its `type` and data (see
/// [`CredentialConfig::from_secret_data`] for the keys); `service_account_tokens` gives the assertions of a named
/// ServiceAccount of the Secret's namespace (the TokenRequest API). The caller must read the Secret from the
/// policy's own namespace, and should keep the result (keyed by the Secret's UID and resourceVersion) rather than
/// build one per reconcile: each credential caches its own token.
pub fn credential_from_secret_data(
    secret_type: Option<&str>,
    data: &BTreeMap<String, Vec<u8>>,
    service_account_tokens: &dyn Fn(&str) -> Arc<dyn AssertionSource>,
    cloud: &Cloud,
    http: reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, ArmError> {
    CredentialConfig::check_secret_type(secret_type)?;
    match CredentialConfig::from_secret_data(data)? {
        CredentialConfig::ServiceAccount { tenant_id, client_id, service_account } => {
            Ok(CachedCredential::new(WorkloadIdentityCredential::with_assertions(
                http,
                &cloud.authority_host,
                &tenant_id,
                &client_id,
                service_account_tokens(&service_account),
                &cloud.token_scope,
            )?))
        }
        config => config.build(http, cloud),
    }
}

/// A Kubernetes object name: a lowercase RFC 1123 subdomain of at most 253 characters.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests;

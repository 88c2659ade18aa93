//! Per-namespace workload identity: a credentials Secret names a ServiceAccount of its own namespace, and that
//! ServiceAccount's tokens, from the TokenRequest API, are the client assertions (audience
//! `api://AzureADTokenExchange`, valid an hour, one per Azure token refresh). An app's federated credential then
//! trusts `system:serviceaccount:<namespace>:<name>`: one namespace, never the operator's own identity.

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;

use crate::azure::ArmError;
use crate::azure::credential::{AssertionSource, Secret};

/// The audience Entra ID expects of a federated token.
pub const AUDIENCE: &str = "api://AzureADTokenExchange";
/// How long a requested token is valid (the shortest the apiserver must honour is 10 minutes).
const LIFETIME_SECONDS: i64 = 3600;

/// The tokens of ServiceAccount `namespace/name`.
pub(super) struct ServiceAccountTokens {
    pub client: kube::Client,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccountTokens({}/{})", self.namespace, self.name)
    }
}

#[async_trait]
impl AssertionSource for ServiceAccountTokens {
    async fn assertion(&self) -> Result<Secret, ArmError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![AUDIENCE.to_string()],
                expiration_seconds: Some(LIFETIME_SECONDS),
                bound_object_ref: None,
            },
            ..Default::default()
        };
        let refused = |status: u16, why: String| ArmError::Authentication {
            status,
            code: "ServiceAccountTokenRefused".into(),
            message: format!("a token of ServiceAccount {}/{}: {why}", self.namespace, self.name),
        };
        let answer: TokenRequest = api
            .create_subresource("token", &self.name, &PostParams::default(), &request)
            .await
            .map_err(|e| match e {
                kube::Error::Api(status) => refused(status.code, status.message),
                other => refused(0, other.to_string()),
            })?;
        match answer.status.map(|s| s.token).filter(|t| !t.is_empty()) {
            Some(token) => Ok(Secret::new(token)),
            None => Err(refused(0, "the apiserver answered without a token".into())),
        }
    }
}

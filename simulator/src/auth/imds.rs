//! The instance metadata service (IMDS) token endpoint: tokens for the inventory's managed identities, and IMDS's
//! errors.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Tokens, unix_seconds};
use crate::DEFAULT_TENANT_ID;
use crate::inventory::{Inventory, ManagedIdentity};

/// An IMDS error: `{"error", "error_description"}`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImdsError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: &'static str,
}

impl ImdsError {
    fn bad_request(error: &'static str, description: &'static str) -> Self {
        ImdsError { status: StatusCode::BAD_REQUEST, error, description }
    }
}

impl Tokens {
    /// `GET /metadata/identity/oauth2/token`: the IMDS answer, every value a string.
    pub(crate) fn imds(
        &mut self,
        inventory: &Inventory,
        metadata_header: Option<&str>,
        query: &HashMap<String, String>,
        now: SystemTime,
    ) -> Result<Value, ImdsError> {
        if metadata_header != Some("true") {
            return Err(ImdsError::bad_request("bad_request_102", "Required metadata header not specified"));
        }
        let param = |name: &str| query.get(name).map(String::as_str).filter(|v| !v.is_empty());
        // IMDS documents this text for any missing or invalid parameter.
        let invalid = || {
            ImdsError::bad_request(
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter value, includes a \
                 parameter more than once, or is otherwise malformed.",
            )
        };
        param("api-version").ok_or_else(invalid)?;
        let resource = param("resource").ok_or_else(invalid)?;
        let identities = &inventory.managed_identities;
        let selected: Option<&ManagedIdentity> = match (param("client_id"), param("object_id"), param("mi_res_id")) {
            (Some(id), None, None) => identities.iter().find(|m| m.client_id.eq_ignore_ascii_case(id)),
            (None, Some(id), None) => identities.iter().find(|m| m.principal_id.eq_ignore_ascii_case(id)),
            (None, None, Some(id)) => {
                identities.iter().find(|m| m.resource_id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(id)))
            }
            (None, None, None) => identities.first(),
            _ => return Err(invalid()),
        };
        let identity = selected.ok_or(ImdsError::bad_request("invalid_request", "Identity not found"))?;
        let lifetime = inventory.behaviour.token_lifetime_seconds;
        let tenant = inventory.service_principals.first().map_or(DEFAULT_TENANT_ID, |p| p.tenant_id.as_str());
        let token = self.issue(lifetime, resource, &identity.client_id, tenant, now);
        let unix = unix_seconds(now);
        Ok(json!({
            "access_token": token,
            "refresh_token": "",
            "expires_in": lifetime.to_string(),
            "expires_on": (unix + lifetime).to_string(),
            "not_before": unix.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_MANAGED_IDENTITY_CLIENT_ID;
    use crate::auth::testing::{form, now};

    #[test]
    fn imds_follows_the_documented_shapes() {
        let inventory = Inventory::builtin();
        let mut tokens = Tokens::default();
        let query = |pairs: &[(&str, &str)]| {
            let mut q = form(&[("api-version", "2018-02-01"), ("resource", "https://management.azure.com/")]);
            q.extend(form(pairs));
            q
        };
        let answer = tokens.imds(&inventory, Some("true"), &query(&[]), now()).unwrap();
        let token = answer["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            answer,
            json!({"access_token": token, "refresh_token": "", "expires_in": "3599", "expires_on": "1700003599",
                   "not_before": "1700000000", "resource": "https://management.azure.com/", "token_type": "Bearer"})
        );
        let actor = tokens.check_bearer(Some(&format!("Bearer {token}")), &inventory.behaviour.arm_audiences, now());
        assert_eq!(actor.unwrap(), DEFAULT_MANAGED_IDENTITY_CLIENT_ID, "the first identity is the default");
        let storage = &inventory.managed_identities[1];
        for selector in [
            ("client_id", storage.client_id.as_str()),
            ("object_id", storage.principal_id.as_str()),
            ("mi_res_id", storage.resource_id.as_deref().unwrap()),
        ] {
            let answer = tokens.imds(&inventory, Some("true"), &query(&[selector]), now()).unwrap();
            let bearer = format!("Bearer {}", answer["access_token"].as_str().unwrap());
            assert_eq!(
                tokens.check_bearer(Some(&bearer), &inventory.behaviour.arm_audiences, now()).unwrap(),
                storage.client_id
            );
        }

        let err = |tokens: &mut Tokens, header: Option<&str>, q: HashMap<String, String>| {
            let e = tokens.imds(&inventory, header, &q, now()).unwrap_err();
            (e.status.as_u16(), e.error, e.description)
        };
        assert_eq!(
            err(&mut tokens, None, query(&[])),
            (400, "bad_request_102", "Required metadata header not specified")
        );
        assert_eq!(err(&mut tokens, Some("True "), query(&[])).1, "bad_request_102");
        assert_eq!(
            err(&mut tokens, Some("true"), query(&[("client_id", "66666666-6666-6666-6666-666666666666")])),
            (400, "invalid_request", "Identity not found")
        );
        assert_eq!(err(&mut tokens, Some("true"), query(&[("resource", "")])).1, "invalid_request");
        assert_eq!(
            err(&mut tokens, Some("true"), query(&[("client_id", "a"), ("object_id", "b")])).1,
            "invalid_request"
        );
        let mut none = Inventory::builtin();
        none.managed_identities.clear();
        let e = tokens.imds(&none, Some("true"), &query(&[]), now()).unwrap_err();
        assert_eq!(e.description, "Identity not found");
    }
}

//! The Entra ID token endpoint: the client-credentials grant with a client secret or a federated JWT assertion
//! (workload identity), and Entra ID's errors.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::Value;

use super::{Tokens, iso_time};
use crate::inventory::{FederatedCredential, Inventory};
use flowlog_wire::model::TokenResponse;

/// The `client_assertion_type` of a JWT assertion (workload identity federation, certificates).
pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience workload identity tokens are minted for.
pub(super) const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A token-endpoint (Entra ID) error.
#[derive(Debug)]
pub(crate) struct AadError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u64,
    pub description: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u64, text: String) -> Self {
        AadError { status, error, code, description: format!("AADSTS{code}: {text}") }
    }

    fn missing(parameter: &str) -> Self {
        let text = format!("The request body must contain the following parameter: '{parameter}'.");
        AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, text)
    }

    fn malformed_jwt() -> Self {
        AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 50027, "JWT token is invalid or malformed.".into())
    }
}

impl Tokens {
    /// The client-credentials grant, with a client secret or a JWT client assertion. Checks run in the order
    /// Entra ID reports them.
    pub(crate) fn client_credentials(
        &mut self,
        inventory: &Inventory,
        tenant: &str,
        form: &HashMap<String, String>,
        now: SystemTime,
    ) -> Result<TokenResponse, AadError> {
        let principals = &inventory.service_principals;
        if !principals.iter().any(|p| p.tenant_id.eq_ignore_ascii_case(tenant)) {
            let text = format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into \
                 the correct cloud. Check with your subscription administrator, this may happen if there are no active \
                 subscriptions for the tenant."
            );
            return Err(AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 90002, text));
        }
        let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let grant_type = param("grant_type").ok_or_else(|| AadError::missing("grant_type"))?;
        if grant_type != "client_credentials" {
            let text = format!("The app requested an unsupported grant type '{grant_type}'.");
            return Err(AadError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, text));
        }
        let client_id = param("client_id").ok_or_else(|| AadError::missing("client_id"))?;
        let Some(principal) = principals
            .iter()
            .find(|p| p.tenant_id.eq_ignore_ascii_case(tenant) && p.client_id.eq_ignore_ascii_case(client_id))
        else {
            let text = format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen \
                 if the application has not been installed by the administrator of the tenant or consented to by any \
                 user in the tenant. You may have sent your authentication request to the wrong tenant."
            );
            return Err(AadError::new(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, text));
        };
        let scope = param("scope").ok_or_else(|| AadError::missing("scope"))?;
        let audience = match scope.strip_suffix(".default") {
            Some(resource) if resource.ends_with('/') && !scope.contains(' ') => resource,
            _ => {
                let text = format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                );
                return Err(AadError::new(StatusCode::BAD_REQUEST, "invalid_scope", 70011, text));
            }
        };
        if let Some(assertion) = param("client_assertion") {
            if param("client_assertion_type") != Some(JWT_BEARER) {
                // Entra ID knows only the jwt-bearer type here; another value counts as missing.
                let text = "The required field 'client_assertion_type' is missing from the credential. Ensure that \
                            you have all the necessary parameters for the login request.";
                return Err(AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 90014, text.into()));
            }
            check_federated_assertion(&principal.federated_credentials, assertion, now)?;
        } else {
            let Some(secret) = param("client_secret") else {
                let text =
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
                return Err(AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, text.into()));
            };
            if principal.client_secret.is_empty() || secret != principal.client_secret {
                let text = format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
                     value, not the client secret ID, for a secret added to app '{client_id}'."
                );
                return Err(AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, text));
            }
        }
        let lifetime = inventory.behaviour.token_lifetime_seconds;
        let access_token = self.issue(lifetime, audience, &principal.client_id, &principal.tenant_id, now);
        Ok(TokenResponse {
            token_type: "Bearer".into(),
            expires_in: lifetime,
            ext_expires_in: Some(lifetime),
            access_token,
        })
    }
}

/// Workload identity federation: the assertion must be a JWT whose issuer and subject match a federated credential
/// of the principal, whose audience is `api://AzureADTokenExchange`, and that is valid now. The signature is not
/// checked: the simulator has no issuer keys.
fn check_federated_assertion(
    credentials: &[FederatedCredential],
    assertion: &str,
    now: SystemTime,
) -> Result<(), AadError> {
    let claims = jwt_claims(assertion).ok_or_else(AadError::malformed_jwt)?;
    let text = |key: &str| claims.get(key).and_then(Value::as_str).map(str::to_owned);
    let seconds = |key: &str| claims.get(key).and_then(Value::as_f64);
    let (Some(issuer), Some(subject), Some(exp)) = (text("iss"), text("sub"), seconds("exp")) else {
        return Err(AadError::malformed_jwt());
    };
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(AadError::malformed_jwt()),
    };
    // Entra ID compares issuer and subject case-sensitively.
    let trusted = credentials.iter().any(|c| c.issuer == issuer && c.subject == subject);
    if !trusted || !audiences.contains(&TOKEN_EXCHANGE_AUDIENCE) {
        let text = format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. \
             Assertion Subject: '{subject}'. Assertion Audience: '{}'. \
             https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation",
            audiences.join(",")
        );
        return Err(AadError::new(StatusCode::BAD_REQUEST, "invalid_request", 70021, text));
    }
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let nbf = seconds("nbf");
    if exp <= now_s || nbf.is_some_and(|nbf| nbf > now_s) {
        // Claims are client input: keep them within years a SystemTime can hold (up to 9999).
        let at = |s: f64| iso_time(UNIX_EPOCH + Duration::from_secs_f64(s.clamp(0.0, 253_402_300_799.0)));
        let text = format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry \
             time of assertion {}. Review the documentation at \
             https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            iso_time(now),
            at(nbf.unwrap_or(0.0)),
            at(exp)
        );
        return Err(AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 700024, text));
    }
    Ok(())
}

/// The claims of a compact JWS (`header.payload.signature`, base64url), if it is one.
fn jwt_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else { return None };
    let header: Value = serde_json::from_slice(&base64url_decode(header)?).ok()?;
    header.as_object()?;
    match serde_json::from_slice(&base64url_decode(payload)?).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// base64url without padding (trailing `=` tolerated), as JWTs use it.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character cannot encode a byte.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::testing::{ARM, form, now};
    use crate::auth::us_time;
    use crate::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ISSUER, DEFAULT_FEDERATED_SUBJECT,
        DEFAULT_TENANT_ID,
    };

    fn b64(bytes: &[u8]) -> String {
        crate::auth::base64url_encode(bytes)
    }

    fn jwt(claims: Value) -> String {
        format!("{}.{}.c2ln", b64(br#"{"alg":"RS256","typ":"JWT"}"#), b64(claims.to_string().as_bytes()))
    }

    fn claims(iss: &str, sub: &str, aud: Value, exp: u64) -> Value {
        json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp, "nbf": 1_699_999_000, "iat": 1_699_999_000})
    }

    fn assertion_form(assertion: &str) -> HashMap<String, String> {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("scope", ARM),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
    }

    #[test]
    fn decodes_base64url_and_formats_times() {
        for text in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\xfe\x00"] {
            assert_eq!(base64url_decode(&b64(text)).as_deref(), Some(text));
        }
        assert_eq!(base64url_decode("Zm9v=="), Some(b"foo".to_vec()));
        assert_eq!(base64url_decode("Zm9v+"), None);
        assert_eq!(base64url_decode("Z"), None);
        let t = UNIX_EPOCH + Duration::new(1_781_512_971, 675_516_500);
        assert_eq!(iso_time(t), "2026-06-15T08:42:51.6755165Z");
        assert_eq!(us_time(t), "6/15/2026 8:42:51 AM");
        assert_eq!(us_time(UNIX_EPOCH + Duration::from_secs(951_825_600)), "2/29/2000 12:00:00 PM");
        assert_eq!(us_time(UNIX_EPOCH), "1/1/1970 12:00:00 AM");
    }

    #[test]
    fn federated_assertions_are_checked_as_far_as_possible_without_keys() {
        let inventory = Inventory::builtin();
        let mut tokens = Tokens::default();
        let mut exchange = |assertion: &str| {
            tokens.client_credentials(&inventory, DEFAULT_TENANT_ID, &assertion_form(assertion), now())
        };
        let good =
            claims(DEFAULT_FEDERATED_ISSUER, DEFAULT_FEDERATED_SUBJECT, json!(TOKEN_EXCHANGE_AUDIENCE), 1_700_000_600);
        let token = exchange(&jwt(good.clone())).unwrap();
        assert_eq!((token.token_type.as_str(), token.expires_in), ("Bearer", 3599));
        let mut listed = good.clone();
        listed["aud"] = json!(["other", TOKEN_EXCHANGE_AUDIENCE]);
        assert!(exchange(&jwt(listed)).is_ok(), "aud may be a list");

        let refused = |e: AadError| (e.status.as_u16(), e.error, e.code);
        for bad in ["not-a-jwt", "a.b", "a.b.c", &format!("{}.{}.x", b64(b"{}"), b64(b"[1]"))] {
            assert_eq!(refused(exchange(bad).unwrap_err()), (400, "invalid_request", 50027), "{bad}");
        }
        let mut without_exp = good.clone();
        without_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(refused(exchange(&jwt(without_exp)).unwrap_err()).2, 50027);

        for (claim, value) in [
            ("iss", json!("https://evil.example")),
            ("sub", json!(DEFAULT_FEDERATED_SUBJECT.to_uppercase())),
            ("aud", json!("api://other")),
        ] {
            let mut c = good.clone();
            c[claim] = value;
            let e = exchange(&jwt(c)).unwrap_err();
            assert_eq!(refused(e).2, 70021, "{claim}");
        }
        let mut c = good.clone();
        c["sub"] = json!("system:serviceaccount:other:sa");
        let e = exchange(&jwt(c)).unwrap_err();
        assert_eq!(
            e.description,
            format!(
                "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: \
                 '{DEFAULT_FEDERATED_ISSUER}'. Assertion Subject: 'system:serviceaccount:other:sa'. Assertion Audience: \
                 'api://AzureADTokenExchange'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation"
            )
        );

        let mut expired = good.clone();
        expired["exp"] = json!(1_700_000_000);
        let e = exchange(&jwt(expired)).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error, e.code), (401, "invalid_client", 700024));
        assert!(
            e.description.starts_with(
                "AADSTS700024: Client assertion is not within its valid time range. Current time: \
                 2023-11-14T22:13:20.0000000Z, assertion valid from 2023-11-14T21:56:40.0000000Z, expiry time of \
                 assertion 2023-11-14T22:13:20.0000000Z."
            ),
            "{}",
            e.description
        );
        let mut early = good.clone();
        early["nbf"] = json!(1_700_000_100);
        assert_eq!(exchange(&jwt(early)).unwrap_err().code, 700024);
        let mut absurd = good.clone();
        absurd["nbf"] = json!(1e300);
        absurd["exp"] = json!(-1e300);
        assert_eq!(exchange(&jwt(absurd)).unwrap_err().code, 700024, "no panic on absurd times");

        let mut f = assertion_form(&jwt(good));
        f.insert("client_assertion_type".into(), "urn:other".into());
        let e = tokens.client_credentials(&inventory, DEFAULT_TENANT_ID, &f, now()).unwrap_err();
        assert_eq!(e.code, 90014);
    }

    #[test]
    fn client_secrets_and_their_errors() {
        let mut inventory = Inventory::builtin();
        let mut tokens = Tokens::default();
        let good = [
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", ARM),
        ];
        tokens.client_credentials(&inventory, DEFAULT_TENANT_ID, &form(&good), now()).unwrap();
        let mut refused = |inventory: &Inventory, tenant: &str, change: (&str, &str)| {
            let mut f = form(&good);
            f.insert(change.0.into(), change.1.into());
            let e = tokens.client_credentials(inventory, tenant, &f, now()).unwrap_err();
            (e.status.as_u16(), e.error, e.code)
        };
        assert_eq!(refused(&inventory, "other-tenant", ("x", "")), (400, "invalid_request", 90002));
        assert_eq!(refused(&inventory, DEFAULT_TENANT_ID, ("grant_type", "")), (400, "invalid_request", 900144));
        assert_eq!(
            refused(&inventory, DEFAULT_TENANT_ID, ("grant_type", "password")),
            (400, "unsupported_grant_type", 70003)
        );
        assert_eq!(
            refused(&inventory, DEFAULT_TENANT_ID, ("client_id", "someone")),
            (400, "unauthorized_client", 700016)
        );
        for scope in ["https://management.azure.com", "https://management.azure.com/.default other/.default"] {
            assert_eq!(refused(&inventory, DEFAULT_TENANT_ID, ("scope", scope)), (400, "invalid_scope", 70011));
        }
        assert_eq!(refused(&inventory, DEFAULT_TENANT_ID, ("client_secret", "")), (401, "invalid_client", 7000218));
        assert_eq!(
            refused(&inventory, DEFAULT_TENANT_ID, ("client_secret", "wrong")),
            (401, "invalid_client", 7000215)
        );
        // A principal with only federated credentials has no secret to match.
        inventory.service_principals[0].client_secret.clear();
        assert_eq!(refused(&inventory, DEFAULT_TENANT_ID, ("client_secret", "")), (401, "invalid_client", 7000218));
        assert_eq!(
            refused(&inventory, DEFAULT_TENANT_ID, ("client_secret", DEFAULT_CLIENT_SECRET)),
            (401, "invalid_client", 7000215)
        );
    }
}

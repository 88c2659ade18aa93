//! ARM's bearer-token checks: the `Authorization` header, whether the simulator issued the token, its expiry and its
//! audience, with ARM's 401 errors.

use std::time::SystemTime;

use axum::http::StatusCode;

use super::{Tokens, us_time};
use crate::reply::ErrorReply;

impl Tokens {
    /// Checks an `Authorization` header value as ARM does; answers the token's actor.
    pub(crate) fn check_bearer(
        &self,
        authorization: Option<&str>,
        audiences: &[String],
        now: SystemTime,
    ) -> Result<String, ErrorReply> {
        let Some(value) = authorization else {
            return Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ));
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty() => token.trim(),
            _ => {
                return Err(ErrorReply::new(
                    StatusCode::UNAUTHORIZED,
                    "AuthenticationFailedInvalidHeader",
                    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                ));
            }
        };
        let Some(token) = self.0.get(token) else {
            return Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            ));
        };
        if token.expires <= now {
            return Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "ExpiredAuthenticationToken",
                format!(
                    "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                    us_time(token.expires),
                    us_time(now)
                ),
            ));
        }
        if !audiences.contains(&token.audience) {
            let allowed: Vec<String> = audiences.iter().map(|a| format!("'{a}'")).collect();
            return Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenAudience",
                format!(
                    "The access token has been obtained for wrong audience or resource '{}'. It should exactly match \
                     with one of the allowed audiences {}.",
                    token.audience,
                    allowed.join(",")
                ),
            ));
        }
        Ok(token.actor.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::testing::{ARM, form, now};
    use crate::inventory::Inventory;
    use crate::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID};

    #[test]
    fn arm_checks_expiry_and_audience() {
        let mut inventory = Inventory::builtin();
        let mut tokens = Tokens::default();
        let audiences = inventory.behaviour.arm_audiences.clone();
        let get = |tokens: &mut Tokens, inventory: &Inventory, scope: &str| {
            let f = form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
                ("scope", scope),
            ]);
            format!(
                "Bearer {}",
                tokens.client_credentials(inventory, DEFAULT_TENANT_ID, &f, now()).unwrap().access_token
            )
        };
        let arm = get(&mut tokens, &inventory, ARM);
        assert_eq!(tokens.check_bearer(Some(&arm), &audiences, now()).unwrap(), DEFAULT_CLIENT_ID);
        let classic = get(&mut tokens, &inventory, "https://management.core.windows.net//.default");
        let e = tokens.check_bearer(Some(&classic), &audiences, now()).unwrap_err();
        assert_eq!(e.error.code, "InvalidAuthenticationTokenAudience", "two slashes make another audience");

        let storage = get(&mut tokens, &inventory, "https://storage.azure.com/.default");
        let e = tokens.check_bearer(Some(&storage), &audiences, now()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error.code.as_str()), (401, "InvalidAuthenticationTokenAudience"));
        assert_eq!(
            e.error.message,
            "The access token has been obtained for wrong audience or resource 'https://storage.azure.com/'. It should \
             exactly match with one of the allowed audiences 'https://management.core.windows.net/',\
             'https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
        );

        let later = now() + Duration::from_secs(3599);
        let e = tokens.check_bearer(Some(&arm), &audiences, later).unwrap_err();
        assert_eq!(e.error.code, "ExpiredAuthenticationToken");
        assert_eq!(
            e.error.message,
            "The access token expiry UTC time '11/14/2023 11:13:19 PM' is earlier than current UTC time \
             '11/14/2023 11:13:19 PM'."
        );
        inventory.behaviour.token_lifetime_seconds = 0;
        let born_expired = get(&mut tokens, &inventory, ARM);
        assert_eq!(
            tokens.check_bearer(Some(&born_expired), &audiences, now()).unwrap_err().error.code,
            "ExpiredAuthenticationToken"
        );

        let code = |value: Option<&str>| tokens.check_bearer(value, &audiences, now()).unwrap_err().error.code;
        assert_eq!(code(None), "AuthenticationFailed");
        assert_eq!(code(Some("Basic abc")), "AuthenticationFailedInvalidHeader");
        assert_eq!(code(Some("Bearer not-issued")), "InvalidAuthenticationToken");
    }
}

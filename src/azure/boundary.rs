//! Where the operator's requests may go. The bearer token goes only to the ARM endpoint's origin (scheme, host and
//! port), whatever URL Azure hands back (`Azure-AsyncOperation`, `Location`, `nextLink`, a resume token kept in
//! status); token requests go only to the authority host (see [`super::credential::token_url`]); and the HTTP client
//! follows a redirect only to the origin of the request it answers ([`http_client`]). Every refusal is an
//! [`ArmError::UrlRefused`] naming the refused URL without its user name, password, query or fragment.

use std::time::Duration;

use url::Url;

use super::error::{ArmError, RedirectRefused, shown_url, shown_url_text};

/// Redirects followed in one chain at most (each to the request's own origin).
pub const MAX_REDIRECTS: usize = 5;

/// `value` (a URL Azure handed back) as a URL to send the bearer token to: only on `endpoint`'s origin.
pub(crate) fn followable(endpoint: &Url, what: &str, value: &str) -> Result<Url, ArmError> {
    let refused = || ArmError::UrlRefused {
        what: what.to_string(),
        url: shown_url_text(value),
        allowed: format!("the ARM endpoint {}", shown_url(endpoint)),
    };
    let url = Url::parse(value).map_err(|_| refused())?;
    if url.origin() != endpoint.origin() || !url.username().is_empty() || url.password().is_some() {
        return Err(refused());
    }
    Ok(url)
}

/// What to do with a redirect to `next` after the requests `previous` (the first is the original request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    Follow,
    /// To another origin than the original request's: refused, nothing is sent there.
    Refuse,
    /// More than [`MAX_REDIRECTS`] in one chain (a loop, or a server that never answers).
    TooMany,
}

/// The redirect rule of [`http_client`]: same origin as the original request, [`MAX_REDIRECTS`] at most.
pub fn redirect(next: &Url, previous: &[Url]) -> Redirect {
    let Some(first) = previous.first() else { return Redirect::Refuse };
    if next.origin() != first.origin() || !next.username().is_empty() || next.password().is_some() {
        Redirect::Refuse
    } else if previous.len() > MAX_REDIRECTS {
        Redirect::TooMany
    } else {
        Redirect::Follow
    }
}

/// The redirect policy of [`http_client`] (see [`redirect`]).
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let decision = redirect(attempt.url(), attempt.previous());
        match decision {
            Redirect::Follow => attempt.follow(),
            Redirect::TooMany => attempt.error(format!("more than {MAX_REDIRECTS} redirects")),
            Redirect::Refuse => {
                let origin = attempt.previous().first().map(|u| u.origin().ascii_serialization()).unwrap_or_default();
                let to = shown_url(attempt.url());
                attempt.error(RedirectRefused { origin, to })
            }
        }
    })
}

/// The HTTP client of every ARM, token and IMDS request: timeouts, a user agent, and [`redirect_policy`].
pub fn http_client() -> Result<reqwest::Client, ArmError> {
    http_client_trusting(None)
}

/// [`http_client`], trusting the CA certificates of `extra_ca` (PEM) besides the system's: a private cloud's or a
/// proxy's CA, Azurite's test CA (`--extra-ca-file`).
pub fn http_client_trusting(extra_ca: Option<&[u8]>) -> Result<reqwest::Client, ArmError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .redirect(redirect_policy())
        .user_agent(concat!("flowlog-operator/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ArmError::Config(format!("the extra CA file is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ArmError::Config("the extra CA file holds no PEM certificate".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| ArmError::Config(format!("building the HTTP client: {e}")))
}

/// The largest ARM answer read (a flow-log list page of 100 flow logs is some 200 KB): a larger one is refused
/// rather than held in memory.
pub const MAX_ARM_BODY: usize = 32 << 20;
/// The largest token answer read (Entra and IMDS answer a few KB).
pub const MAX_TOKEN_BODY: usize = 1 << 20;

/// Reads an answer's body, refusing one larger than `limit` bytes: by its `Content-Length` before reading, and
/// while reading (a body without a length, or longer than announced).
pub(crate) async fn body(mut response: reqwest::Response, limit: usize) -> Result<bytes::Bytes, ArmError> {
    let too_large = || ArmError::InvalidResponse(format!("the answer is larger than {} KiB: not read", limit >> 10));
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(ArmError::transport)? {
        if out.len() + chunk.len() > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// In depth, for HTTP clients built elsewhere (whose redirect policy may follow anything): an answer must come from
/// the origin it was asked of.
pub(crate) fn answered_by(requested: &Url, response: &reqwest::Response, what: &str) -> Result<(), ArmError> {
    if response.url().origin() == requested.origin() {
        return Ok(());
    }
    Err(ArmError::UrlRefused {
        what: format!("a redirect of the {what} request"),
        url: shown_url(response.url()),
        allowed: format!("the origin of the request, {}", requested.origin().ascii_serialization()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn only_urls_on_the_arm_endpoints_origin_are_followed() {
        let endpoint = url("https://management.azure.com/");
        for ok in [
            "https://management.azure.com/subscriptions/s/operations/1?api-version=1",
            "https://MANAGEMENT.azure.com:443/x",
            "https://management.azure.com/../../x",
        ] {
            assert!(followable(&endpoint, "nextLink", ok).is_ok(), "{ok}");
        }
        for refused in [
            "https://evil.example/steal",
            "http://management.azure.com/x",
            "https://management.azure.com:8443/x",
            "https://management.azure.com.evil.example/x",
            "https://management.azure.com@evil.example/x",
            "https://user:pa55@management.azure.com/x",
            "//evil.example/x",
            "/subscriptions/s",
            "\\\\evil.example\\x",
            "https://evil.example\\@management.azure.com/",
            "https://xn--mnagement-66a.azure.com/x",
            "https://m\u{430}nagement.azure.com/x",
            "file:///etc/passwd",
            "data:text/plain,x",
            "not a url",
            "",
        ] {
            let err = followable(&endpoint, "nextLink", refused).unwrap_err();
            match &err {
                ArmError::UrlRefused { what, allowed, .. } => {
                    assert_eq!(what, "nextLink");
                    assert_eq!(allowed, "the ARM endpoint https://management.azure.com/");
                }
                other => panic!("{refused}: {other:?}"),
            }
            assert!(!err.is_transient(), "{err}");
            assert!(!err.to_string().contains("pa55"), "{err}");
        }
        // A local endpoint: the port is part of the origin.
        let local = url("http://127.0.0.1:8480/");
        assert!(followable(&local, "Location", "http://127.0.0.1:8480/op").is_ok());
        assert!(followable(&local, "Location", "http://127.0.0.1:8481/op").is_err());
        assert!(followable(&local, "Location", "http://localhost:8480/op").is_err());
    }

    #[test]
    fn refusals_show_the_url_without_credentials_or_query() {
        let err = followable(
            &url("https://management.azure.com/"),
            "Location",
            "https://u:s3cr3t@evil.example:8443/op?sig=s3cr3t#f",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "refused to follow Location to https://evil.example:8443/op: only the ARM endpoint https://management.azure.com/ is followed"
        );
    }

    #[test]
    fn redirects_are_followed_only_to_the_original_origin_and_not_forever() {
        let first = url("https://login.microsoftonline.com/t/oauth2/v2.0/token");
        assert_eq!(
            redirect(&url("https://login.microsoftonline.com/other"), std::slice::from_ref(&first)),
            Redirect::Follow
        );
        for other in [
            "https://evil.example/t/oauth2/v2.0/token",
            "http://login.microsoftonline.com/t",
            "https://login.microsoftonline.com:8443/t",
            "https://u:p@login.microsoftonline.com/t",
        ] {
            assert_eq!(redirect(&url(other), std::slice::from_ref(&first)), Redirect::Refuse, "{other}");
        }
        // A hop elsewhere later in the chain is refused too.
        let hop = url("https://evil.example/x");
        assert_eq!(redirect(&hop, &[first.clone(), url("https://login.microsoftonline.com/a")]), Redirect::Refuse);
        let chain: Vec<Url> = (0..=MAX_REDIRECTS).map(|_| first.clone()).collect();
        assert_eq!(redirect(&first, &chain[..MAX_REDIRECTS]), Redirect::Follow);
        assert_eq!(redirect(&first, &chain), Redirect::TooMany);
        assert_eq!(redirect(&first, &[]), Redirect::Refuse);
    }
}

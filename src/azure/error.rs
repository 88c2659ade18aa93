use std::fmt;
use std::time::Duration;

use url::Url;

/// Everything that can go wrong talking to Azure, classified so that the controller knows whether to
/// retry soon (transient) or wait for the user (terminal).
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with an error body.
    #[error("{code}: {message} (HTTP {status}{})", request_id.as_deref().map(|r| format!(", x-ms-request-id {r}")).unwrap_or_default())]
    Api { status: u16, code: String, message: String, request_id: Option<String>, retry_after: Option<Duration> },
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("operation {status}: {code}: {message}")]
    OperationFailed { status: String, code: String, message: String, request_id: Option<String> },
    /// The token endpoint refused us.
    #[error("authentication failed: {code}: {message} (HTTP {status})")]
    Authentication { status: u16, code: String, message: String },
    /// Connection refused/reset, DNS, TLS, or a request timeout.
    #[error("cannot reach Azure: {0}")]
    Transport(String),
    /// A long-running operation did not finish in time.
    #[error("long-running operation did not finish within {0:?}")]
    Timeout(Duration),
    /// Azure answered something we cannot read.
    #[error("unexpected response from Azure: {0}")]
    InvalidResponse(String),
    /// Azure (or something posing as it) pointed at a URL the client does not follow: an operation, paging or
    /// redirect URL away from the ARM endpoint, a redirect away from the authority host. Nothing was sent there.
    #[error("refused to follow {what} to {url}: only {allowed} is followed")]
    UrlRefused { what: String, url: String, allowed: String },
    /// The operator's own configuration is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// The client's own request budget for the subscription would make this request wait longer than the
    /// client may sleep; nothing was sent. Retry after `retry_after`.
    #[error("ARM request budget of subscription {subscription} exhausted; retry in {retry_after:?}")]
    Throttled { subscription: String, retry_after: Duration },
}

/// ARM and Network RP error codes that mean "try again shortly", whatever the HTTP status.
const TRANSIENT_CODES: [&str; 5] = [
    "AnotherOperationInProgress",
    "RetryableErrorDueToAnotherOperation",
    "RetryableError",
    "InternalServerError",
    "ServerTimeout",
];

impl ArmError {
    pub(crate) fn transport(e: reqwest::Error) -> Self {
        // The chain carries the useful part (connection refused, timed out, ...).
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<RedirectRefused>() {
                return RedirectRefused { origin: refused.origin.clone(), to: refused.to.clone() }.into_error();
            }
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        if e.is_redirect() {
            // A redirect loop, or a server that only redirects: not a network failure, and not worth a retry.
            return ArmError::InvalidResponse(message);
        }
        ArmError::Transport(message)
    }

    /// The code shown in status: the ARM code, or the operator's own for errors that did not come from ARM.
    pub fn code(&self) -> &str {
        match self {
            ArmError::Api { code, .. }
            | ArmError::OperationFailed { code, .. }
            | ArmError::Authentication { code, .. } => code,
            ArmError::Transport(_) => "AzureUnreachable",
            ArmError::Timeout(_) => "OperationTimeout",
            ArmError::InvalidResponse(_) => "InvalidAzureResponse",
            ArmError::Config(_) => "InvalidConfiguration",
            ArmError::UrlRefused { .. } => "UrlRefused",
            ArmError::Throttled { .. } => "RequestBudgetExhausted",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ArmError::Api { message, .. } | ArmError::OperationFailed { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            ArmError::Api { request_id, .. } | ArmError::OperationFailed { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Worth retrying soon without any change by the user: throttling (429), server errors (5xx), request
    /// timeouts (408), a conflicting operation in flight (`AnotherOperationInProgress`,
    /// `RetryableErrorDueToAnotherOperation`), network trouble, the client's own budget. Everything else —
    /// validation errors (`InvalidResourceReference`, `NsgFlowLogCreationBlocked`, …), not found, 401/403 —
    /// waits for a change of the spec or the credentials.
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Api { status, code, .. } => {
                *status == 429 || *status >= 500 || *status == 408 || TRANSIENT_CODES.contains(&code.as_str())
            }
            ArmError::OperationFailed { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            ArmError::Authentication { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            ArmError::Transport(_) | ArmError::Timeout(_) | ArmError::Throttled { .. } => true,
            ArmError::InvalidResponse(_) | ArmError::Config(_) | ArmError::UrlRefused { .. } => false,
        }
    }

    /// Whether the client itself may resend the request that failed so: transient, and produced by one HTTP
    /// request (not a whole operation, nor the client's own budget).
    pub(crate) fn is_retryable_request(&self) -> bool {
        self.is_transient()
            && !matches!(self, ArmError::Timeout(_) | ArmError::OperationFailed { .. } | ArmError::Throttled { .. })
    }

    /// When to try again: the server's `Retry-After` (429, 503), or the wait the client's budget asks for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ArmError::Api { retry_after, .. } => *retry_after,
            ArmError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The HTTP status Azure answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Api { status, .. } | ArmError::Authentication { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How errors show a URL: scheme, host, port and path, at most 200 characters; never a user name, password, query
/// or fragment, where credentials or signatures could be.
pub(crate) fn shown_url(url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    let shown = if origin == "null" { format!("{}:", url.scheme()) } else { origin };
    let path = if url.cannot_be_a_base() { "" } else { url.path() };
    let mut shown = format!("{shown}{path}");
    if shown.len() > 200 {
        let mut end = 200;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push_str("...");
    }
    shown
}

/// The same for text that should have been a URL and may not be one.
pub(crate) fn shown_url_text(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => shown_url(&url),
        Err(e) => format!("an unreadable URL ({e})"),
    }
}

/// The error a refused redirect ends its request with; [`ArmError::transport`] turns it into
/// [`ArmError::UrlRefused`].
#[derive(Debug)]
pub(crate) struct RedirectRefused {
    /// The origin of the original request.
    pub(crate) origin: String,
    /// The refused URL, as errors show it.
    pub(crate) to: String,
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused a redirect from {} to {}", self.origin, self.to)
    }
}

impl RedirectRefused {
    pub(crate) fn into_error(self) -> ArmError {
        ArmError::UrlRefused {
            what: "a redirect".into(),
            url: self.to,
            allowed: format!("a redirect within {}", self.origin),
        }
    }
}

impl std::error::Error for RedirectRefused {}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ArmError {
        ArmError::Api {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("rid".into()),
            retry_after: None,
        }
    }

    #[test]
    fn classifies_errors() {
        assert!(api(429, "SubscriptionRequestsThrottled").is_transient());
        assert!(api(500, "InternalServerError").is_transient());
        assert!(api(409, "AnotherOperationInProgress").is_transient());
        assert!(!api(400, "NsgFlowLogCreationBlocked").is_transient());
        assert!(!api(400, "InvalidResourceReference").is_transient());
        assert!(!api(403, "AuthorizationFailed").is_transient());
        assert!(!api(404, "ResourceNotFound").is_transient());
        assert!(ArmError::Transport("reset".into()).is_transient());
        assert!(api(429, "RetryableErrorDueToAnotherOperation").is_transient());
        assert!(api(400, "RetryableErrorDueToAnotherOperation").is_transient());
        assert!(api(503, "ServiceUnavailable").is_transient());
        assert!(api(408, "RequestTimeout").is_transient());
        assert!(!api(401, "InvalidAuthenticationToken").is_transient());
        assert!(!api(404, "SubscriptionNotFound").is_transient());
        assert!(!api(409, "Conflict").is_transient());
        let failed = |code: &str| ArmError::OperationFailed {
            status: "Failed".into(),
            code: code.into(),
            message: "m".into(),
            request_id: None,
        };
        assert!(failed("RetryableErrorDueToAnotherOperation").is_transient());
        assert!(!failed("InvalidResourceReference").is_transient());
        let throttled = ArmError::Throttled { subscription: "s".into(), retry_after: Duration::from_secs(3) };
        assert!(throttled.is_transient() && !throttled.is_retryable_request());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3)));
        assert!(api(500, "InternalServerError").is_retryable_request());
        assert!(!ArmError::Timeout(Duration::from_secs(1)).is_retryable_request());
    }

    #[test]
    fn urls_are_shown_without_credentials_queries_or_fragments() {
        let url = Url::parse("https://user:pa55@evil.example:8443/steal/it?sig=s3cr3t#frag").unwrap();
        assert_eq!(shown_url(&url), "https://evil.example:8443/steal/it");
        assert_eq!(shown_url(&Url::parse("https://h.example:443/").unwrap()), "https://h.example/");
        assert_eq!(shown_url_text("data:text/plain,s3cr3t"), "data:");
        assert!(shown_url_text("not a url").starts_with("an unreadable URL"));
        let long = shown_url(&Url::parse(&format!("https://h.example/{}", "\u{e9}".repeat(300))).unwrap());
        assert!(long.len() <= 203 && long.ends_with("..."), "{long}");
        let refused =
            ArmError::UrlRefused { what: "nextLink".into(), url: "https://evil.example/".into(), allowed: "x".into() };
        assert!(!refused.is_transient() && refused.code() == "UrlRefused", "{refused}");
    }

    #[test]
    fn message_names_code_and_request_id() {
        let shown = api(400, "NsgFlowLogCreationBlocked").to_string();
        assert!(shown.contains("NsgFlowLogCreationBlocked") && shown.contains("rid"), "{shown}");
    }
}

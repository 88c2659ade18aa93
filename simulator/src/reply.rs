//! What the ARM handlers answer: [`Reply`] (status, body and the long-running-operation headers) or [`ErrorReply`]
//! (status and ARM's error body), and how both go on the wire.

use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use flowlog_wire::model::{ErrorDetails, ErrorResponse};

/// The content type of every JSON answer.
pub(super) const JSON: &str = "application/json; charset=utf-8";

/// An ARM error: HTTP status and the `ErrorResponse` body.
#[derive(Debug)]
pub(super) struct ErrorReply {
    pub status: StatusCode,
    pub error: ErrorDetails,
    pub retry_after: Option<u64>,
}

impl ErrorReply {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ErrorReply {
            status,
            error: ErrorDetails { code: code.into(), message: message.into(), target: None, details: vec![] },
            retry_after: None,
        }
    }

    pub(super) fn invalid_request(why: impl std::fmt::Display) -> Self {
        // invented: Azure's code for this is not published
        ErrorReply::new(StatusCode::BAD_REQUEST, "InvalidRequestFormat", format!("Cannot parse the request: {why}."))
    }

    pub(super) fn invalid_reference(referenced: &str, by: &str) -> Self {
        let mut e = ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceReference",
            format!(
                "Resource {referenced} referenced by resource {by} was not found. Please make sure that the \
                 referenced resource exists, and that both resources are in the same region."
            ),
        );
        e.error.details.push(ErrorDetails {
            code: "NotFound".into(),
            message: format!("Resource {referenced} not found."),
            target: None,
            details: vec![],
        });
        e
    }
}

/// An answer of the ARM API, before the common headers.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub location: Option<String>,
    pub async_operation: Option<String>,
    pub retry_after: Option<u32>,
}

impl Reply {
    pub(super) fn json(status: StatusCode, body: &impl Serialize) -> Reply {
        let body = serde_json::to_value(body).expect("wire types always serialize to JSON");
        Reply { status, body: Some(body), location: None, async_operation: None, retry_after: None }
    }

    pub(super) fn empty(status: StatusCode) -> Reply {
        Reply { status, body: None, location: None, async_operation: None, retry_after: None }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        with_retry_after(json_response(self.status, &ErrorResponse { error: self.error }), retry_after)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match &self.body {
            Some(body) => json_response(self.status, body),
            None => self.status.into_response(),
        };
        let h = response.headers_mut();
        if let Some(url) = &self.location {
            h.insert(LOCATION, header_value(url));
        }
        if let Some(url) = &self.async_operation {
            h.insert("azure-asyncoperation", header_value(url));
        }
        if let Some(seconds) = self.retry_after {
            h.insert(RETRY_AFTER, header_value(&seconds.to_string()));
        }
        response
    }
}

pub(super) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let body = serde_json::to_vec(body).expect("wire types always serialize to JSON");
    (status, [(CONTENT_TYPE, JSON)], body).into_response()
}

/// Values built from request input may hold bytes a header cannot; those become empty rather than panic.
pub(super) fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(super) fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(s) = seconds {
        response.headers_mut().insert(RETRY_AFTER, header_value(&s.to_string()));
    }
    response
}

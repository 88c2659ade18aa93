//! What the ARM handlers know about the request being served: its [`RequestContext`], the watcher its path
//! addresses ([`WatcherRef`]), and its JSON body ([`parse_body`]).

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::reply::ErrorReply;
use super::world::{ResourcePath, WATCHER_TYPE};

/// What the request handlers know about the request being served.
pub(super) struct RequestContext<'a> {
    /// `http://host:port`, as the client addressed the simulator.
    pub base: &'a str,
    pub api_version: &'a str,
    /// `x-ms-request-id`; a long-running operation takes it as its ID.
    pub request_id: &'a str,
    /// The counter name of the operation, for `lro` faults.
    pub operation: &'static str,
}

/// `/subscriptions/{subscription}/resourceGroups/{resource_group}/.../networkWatchers/{name}` as sent.
pub(super) struct WatcherRef<'a> {
    pub subscription: &'a str,
    pub resource_group: &'a str,
    pub name: &'a str,
}

impl WatcherRef<'_> {
    pub(super) fn path(&self) -> ResourcePath<'_> {
        ResourcePath {
            subscription: self.subscription,
            resource_group: self.resource_group,
            resource_type: WATCHER_TYPE.into(),
            name: self.name,
        }
    }
}

/// Parses a JSON body after checking the properties the spec marks required (JSON pointers).
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8], required: &[&str]) -> Result<T, ErrorReply> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ErrorReply::invalid_request(format!("invalid JSON ({e})")))?;
    if let Some(missing) = required.iter().find(|p| value.pointer(p).is_none_or(Value::is_null)) {
        let path = missing.trim_start_matches('/').replace('/', ".");
        return Err(ErrorReply::invalid_request(format!("required property '{path}' is missing")));
    }
    serde_json::from_value(value).map_err(ErrorReply::invalid_request)
}

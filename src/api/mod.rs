//! The `FlowLogPolicy` custom resource: what users declare.

mod flowlogpolicy;

pub use flowlogpolicy::*;

/// The field manager the operator uses for server-side apply.
pub const MANAGER: &str = "flowlog-operator";

//! The custom resources, what users declare: `FlowLogPolicy` (one target's flow log) and `FlowLogPolicySet` (every
//! target a selector finds, one generated `FlowLogPolicy` each).

/// ARM resource-ID patterns used by the CEL rules. RE2 syntax (the apiserver evaluates them), `(?i)`
/// because ARM IDs are case-insensitive. Subscription IDs are GUIDs.
macro_rules! arm_prefix {
    () => {
        r"^(?i)/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/resourceGroups/[^/]{1,90}/providers/"
    };
}

mod flowlogpolicy;
mod flowlogpolicyset;

pub use flowlogpolicy::*;
pub use flowlogpolicyset::*;

/// The field manager the operator uses for server-side apply.
pub const MANAGER: &str = "flowlog-operator";

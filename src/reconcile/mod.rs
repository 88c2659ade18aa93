//! The pure reconcile core: desired (spec) vs observed (Azure) → plan, and outcome → status.
//! No I/O here; everything is a function of its arguments so it can be tested exhaustively.

mod conflict;
mod decide;
pub mod delivery;
mod events;
mod plan;
pub mod refusal;
pub mod schedule;
pub mod set;
mod status;

pub use conflict::{PolicyKey, TargetIndex, owner_of};
pub use decide::{Decision, Found, decide};
pub use events::{event_for, ready_reason};
pub use plan::{Difference, Plan, ResourcePlan, legacy_view, plan, plan_resource, resource_view};
pub use status::{Outcome, READY, RECONCILING, STALLED, is_drift, needs_write, next_status, reason, set_condition};

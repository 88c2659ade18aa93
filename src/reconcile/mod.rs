//! The pure reconcile core: desired (spec) vs observed (Azure) → plan, and outcome → status.
//! No I/O here; everything is a function of its arguments so it can be tested exhaustively.

mod plan;
mod status;

pub use plan::{Difference, Plan, plan};
pub use status::{Outcome, READY, is_drift, next_status, set_condition};

//! The Azure Resource Manager edge: tokens, long-running operations and the Network Watcher calls.

mod client;
pub mod credential;
mod error;
pub mod id;
pub mod model;

pub use client::{ArmClient, PollSettings};
pub use error::ArmError;

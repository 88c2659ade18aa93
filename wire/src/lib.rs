//! The wire of Azure Resource Manager as flowlog-operator speaks it: request and response bodies of Network
//! Watcher flow logs (api-version 2025-07-01), tokens, errors, list pages, and resource IDs.
//!
//! It is the one place both sides of the wire share: the operator's ARM client (`flowlog-operator`, `src/azure/`)
//! and the simulator (`flowlog-simulator`) depend on it, and on nothing of each other. It holds data and parsing
//! only: no I/O, no async, no HTTP.

pub mod id;
pub mod model;

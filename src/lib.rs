//! flowlog-operator keeps Azure Network Watcher flow logs in the state a `FlowLogPolicy` declares.
//!
//! Data flow, one module each:
//! - [`api`]: the `FlowLogPolicy` custom resource (what users write);
//! - [`reconcile`]: the pure core, desired vs observed → plan and status (no I/O);
//! - [`azure`]: the ARM edge (tokens, long-running operations, Network Watcher calls);
//! - [`controller`]: the Kubernetes edge (watch, reconcile loop, status writes);
//! - [`simulator`]: an ARM-faithful Network Watcher simulator (tests, demo, trying it out);
//! - [`cli`]: the `flowlog-operator` command line.

pub mod api;
pub mod azure;
pub mod cli;
pub mod controller;
pub mod reconcile;
pub mod simulator;

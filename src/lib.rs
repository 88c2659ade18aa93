//! flowlog-operator keeps Azure Network Watcher flow logs in the state a `FlowLogPolicy` declares.
//!
//! Data flow, one module each:
//! - [`api`]: the `FlowLogPolicy` custom resource (what users write);
//! - [`reconcile`]: the pure core, desired vs observed → plan and status (no I/O);
//! - [`azure`]: the ARM edge (tokens, long-running operations, Network Watcher calls);
//! - [`sync`]: the Azure use cases, no Kubernetes in them: locate a target's flow log, observe it against the spec,
//!   apply the plan, retire it on deletion;
//! - [`controller`]: the Kubernetes edge (watch, reconcile loop, status writes);
//! - [`report`]: the compliance report, sets and policies → coverage and non-compliant targets → table, JSON, CSV
//!   or Markdown (pure), and its reads of the cluster;
//! - [`migrate`]: NSG → VNet flow-log migration, the analysis of a region's flow logs and topology (pure), its
//!   reads of ARM and its outputs;
//! - [`validate`]: manifests → the apiserver's verdict (schema and CEL rules of the generated CRDs), without a
//!   cluster (pure);
//! - [`preview`]: what manifests would change in Azure (`plan -f`, `apply -f`): intents, conflicts and changes
//!   decided by the reconcile core (pure), and its read-only reads of ARM;
//! - [`cli`]: the `flowlog-operator` command line;
//! - [`heap`]: the binary's counting allocator (a leaf);
//! - [`packed`]: compact bytes for what the operator keeps by the thousand (a leaf).
//!
//! The ARM wire types live in the `flowlog-wire` crate (re-exported as [`azure::model`] and [`azure::id`]), shared
//! with the simulator (`flowlog-simulator`, `simulator/`), which this crate uses only in tests and, behind the
//! `demo` feature, in `flowlog-operator demo`.

pub mod api;
pub mod azure;
pub mod cli;
pub mod controller;
pub mod heap;
pub mod logs;
pub mod migrate;
pub mod packed;
pub mod preview;
pub mod reconcile;
pub mod report;
pub mod sync;
pub mod validate;

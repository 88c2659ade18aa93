//! Flow logs themselves: the `PT1H.json` blobs Network Watcher writes, read as flows (pure, unit-tested), and
//! `flowlog-operator logs`' reads of ARM and storage.
//!
//! - `tuple.rs`: one flow tuple of NSG flow logs (version 1 and 2) or VNet flow logs;
//! - `document.rs`: a blob's records, complete or still being written;
//! - `select.rs`: which container, blobs and hours belong to a flow log, and the filters;
//! - `format.rs`: table, JSON lines, CSV;
//! - `read.rs`: the edge — the flow log and its storage account from ARM, its blobs from storage.

pub mod document;
pub mod format;
pub mod read;
pub mod select;
pub mod tuple;

#[cfg(test)]
mod properties;

pub use document::{Document, Entry, parse_document};
pub use select::{Filter, IpMatch, Owners, Source};
pub use tuple::{Flow, Layout, parse_tuple};

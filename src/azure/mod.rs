//! The Azure Resource Manager edge: clouds, credentials, the client (request budgets, retries, long-running
//! operations, per-target write locks), the Network Watcher and flow-log calls, watcher discovery, provider
//! registration, and the errors they classify.

pub mod boundary;
mod calls;
mod client;
pub mod cloud;
pub mod credential;
mod discovery;
mod error;
mod inventory;
mod observer;
mod operation;
pub mod storage;
mod throttle;
mod watchers;

/// The wire types, shared with the simulator.
pub use flowlog_wire::{id, model};

pub use boundary::{http_client, http_client_trusting};
pub use calls::{RegistrationState, api_version_for, parse, provisioned};
pub use client::{ArmClient, ArmClientBuilder, PollSettings, RetrySettings};
pub use cloud::Cloud;
pub use credential::{CredentialConfig, CredentialKind, credential_from_secret_data};
pub use error::ArmError;
pub use inventory::Subscription;
pub use observer::{ArmObserver, NoopObserver};
pub use operation::{Began, Operation, OperationKind, Progress};
pub use throttle::{BucketSettings, KeyedBudget, ThrottleSettings};
pub use watchers::{NetworkWatcher, normalize_region, same_region};

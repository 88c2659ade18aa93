//! ARM-faithful Network Watcher simulator: an HTTP server that answers the token endpoint and the two legacy
//! flow-log actions (`configureFlowLog`, `queryFlowLogStatus`) the way Azure does, following the published spec
//! (`networkWatcher.json`, 2025-07-01), its official examples and the facts in `shared/notes/azure-api.md`.
//! One base URL serves both Entra ID and ARM, so the operator points its authority host and its ARM endpoint at it.
//!
//! # Routes
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: client-credentials grant (`grant_type=client_credentials`, `client_id`,
//!   `client_secret`, `scope` ending in `/.default`). Tokens live 3599 s. Client assertions (workload identity) are
//!   not supported. Errors carry Entra ID's codes: AADSTS90002 (unknown tenant), 900144 (missing parameter),
//!   70003 (grant type), 700016 (unknown client), 70011 (scope), 7000218 (no secret), 7000215 (wrong secret).
//! - `POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkWatchers/{nw}/configureFlowLog`
//!   and `.../queryFlowLogStatus`: long-running. In `async` mode they answer 202 with the `FlowLogInformation` body
//!   (as the official example does) and `Location`, `Azure-AsyncOperation` and `Retry-After` headers; in `sync`
//!   mode 200 with the body.
//! - `GET /subscriptions/{sub}/providers/Microsoft.Network/locations/{region}/operations/{id}` (always 200,
//!   `{"status":"InProgress"|"Succeeded"}`) and `.../operationResults/{id}` (202 with `Location` and `Retry-After`
//!   while in progress, then 200 with the final `FlowLogInformation`).
//!
//! Every ARM route needs `?api-version=` (any value; it is echoed in operation URLs) and a bearer token the
//! simulator issued. Subscription IDs are any string (the examples use `subid`); IDs, names and path literals
//! are compared case-insensitively, and answers carry IDs in the inventory's casing. Every ARM answer has
//! `x-ms-request-id` (a long-running operation's ID), `x-ms-correlation-request-id` (echoed or generated),
//! `x-ms-ratelimit-remaining-subscription-reads` (GET) or `-writes` (POST) and
//! `Content-Type: application/json; charset=utf-8`. Errors are `{"error":{"code","message","details":[]}}`.
//!
//! # Behaviour
//!
//! - The state change of `configureFlowLog` is applied when the request is accepted; validation errors are
//!   synchronous 4xx answers and operations always succeed. Operation results are the answer computed at that
//!   moment.
//! - An operation is in progress for `inProgressPolls` polls (of either URL; each poll answers "InProgress" and
//!   moves it one step on), then done: no clocks are involved. While a `configureFlowLog` operation on an NSG is
//!   in progress, another `configureFlowLog` on it gets 409 `AnotherOperationInProgress`.
//! - As in today's Azure, `configureFlowLog` may modify, enable or disable an NSG flow log that exists but not
//!   create one: `enabled: true` on an NSG without flow log is 400 `NsgFlowLogCreationBlocked`, while
//!   `enabled: false` there succeeds and creates nothing. The request replaces the whole configuration.
//! - A disabled flow log is reported with `storageId: ""` and `retentionPolicy: {"days":0,"enabled":false}`.
//!   Assumption: an NSG without flow log is reported like a disabled one, i.e. `{"targetResourceId":…,
//!   "properties":{"storageId":"","enabled":false,"retentionPolicy":{"days":0,"enabled":false}}}`.
//! - User-assigned identities are echoed with `clientId`/`principalId` GUIDs derived from the identity's ID.
//! - Checks, in order: subscription (404 `SubscriptionNotFound`), resource group (404 `ResourceGroupNotFound`),
//!   watcher (404 `ResourceNotFound`), body (400 `InvalidRequestFormat`), target NSG (400
//!   `InvalidResourceReference`), watcher region (400 `NetworkWatcherLocationMismatch`); then for
//!   `configureFlowLog`: operation in flight (409), creation blocked (400), retention days 0..=365 (400
//!   `InvalidRetentionPolicy`), format `JSON` version 1 or 2 (400 `InvalidFlowLogFormat`), and when enabling, the
//!   storage account (400 `InvalidResourceReference`, 400 `StorageAccountLocationMismatch`).
//!
//! Invented error codes (Azure's codes for these are not published):
//! - `InvalidRequestFormat` (400): the body is not JSON, lacks a required property or has a wrong type;
//! - `NetworkWatcherLocationMismatch` (400): the watcher is not in the target's region;
//! - `StorageAccountLocationMismatch` (400): the storage account is not in the target's region;
//! - `InvalidRetentionPolicy` (400): retention days outside 0..=365;
//! - `InvalidFlowLogFormat` (400): format type other than `JSON` or version other than 1 or 2;
//! - `OperationNotFound` (404): unknown operation ID (or wrong subscription/region in its URL);
//! - `NotFound` (404): a path the simulator does not implement.
//!
//! # Admin API
//!
//! Under `/_sim/`, without bearer token, not counted:
//! - `GET /_sim/counters`: JSON map from operation (`token`, `queryFlowLogStatus`, `configureFlowLog`,
//!   `operationStatus`, `operationResult`) to the number of requests received, failed ones included;
//! - `POST /_sim/counters/reset`: sets them to 0 (204);
//! - `GET /_sim/flowLogs`: JSON list with every NSG's status, as `queryFlowLogStatus` would answer;
//! - `PUT /_sim/flowLogs` with a `FlowLogInformation` body: drift, i.e. replaces (or creates) the NSG's flow log
//!   without the API's checks and answers 200 with the new status; 400 with a text message if the body is not a
//!   `FlowLogInformation` or the NSG is unknown;
//! - `GET /_sim/inventory`: the inventory the simulator started with, as YAML.
//!
//! # Inventory
//!
//! YAML (or JSON), camelCase; [`Inventory::builtin`] is the default:
//!
//! ```yaml
//! servicePrincipals:            # who may get tokens
//!   - tenantId: 11111111-1111-1111-1111-111111111111
//!     clientId: 22222222-2222-2222-2222-222222222222
//!     clientSecret: simulator-secret
//! subscriptions:
//!   - id: 00000000-0000-0000-0000-000000000001
//!     locations: [westeurope, northeurope]   # every resource must be in one of these
//!     networkWatchers:                       # at most one per location
//!       - { name: NetworkWatcher_westeurope, resourceGroup: NetworkWatcherRG, location: westeurope }
//!     storageAccounts:                       # names are unique across the inventory
//!       - { name: flowlogsweu001, resourceGroup: logging-rg, location: westeurope }
//!     networkSecurityGroups:
//!       - name: web-nsg
//!         resourceGroup: app-prod-rg
//!         location: westeurope
//!         flowLog:                           # optional: the flow log that already exists
//!           enabled: true
//!           storageAccount: flowlogsweu001   # required when enabled; same location as the NSG
//!           retentionPolicy: { enabled: true, days: 7 }   # optional, days 0..=365
//!           format: { type: JSON, version: 2 }            # optional, version 1 or 2
//!           userAssignedIdentities: []       # optional ARM IDs of user-assigned identities
//!       - { name: new-nsg, resourceGroup: app-prod-rg, location: westeurope }   # no flow log
//! behaviour:
//!   lro:
//!     mode: async            # async (202 + polling) or sync (200 at once)
//!     retryAfterSeconds: 1
//!     inProgressPolls: 1     # polls answered "InProgress" before an operation is done
//! ```
//!
//! A resource group exists when some resource of the inventory is in it.

mod http;
pub mod inventory;
mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use inventory::{Inventory, InventoryError};

use crate::azure::model::FlowLogInformation;

pub const DEFAULT_TENANT_ID: &str = "11111111-1111-1111-1111-111111111111";
pub const DEFAULT_CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
/// A public test credential, valid only against the simulator.
pub const DEFAULT_CLIENT_SECRET: &str = "simulator-secret";
pub const DEFAULT_SUBSCRIPTION_ID: &str = "00000000-0000-0000-0000-000000000001";

/// A running simulator's shared state; clones share it.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<Mutex<state::State>>,
}

impl Simulator {
    /// Serves `inventory` as given; use [`Inventory::from_yaml`] or [`Inventory::validate`] to check it first.
    pub fn new(inventory: Inventory) -> Simulator {
        Simulator { state: Arc::new(Mutex::new(state::State::new(inventory))) }
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Binds 127.0.0.1:0, serves in a background tokio task, returns the base URL like "http://127.0.0.1:PORT".
    pub async fn spawn_local(self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            if let Err(e) = self.serve(listener).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(base)
    }

    /// Calls per operation name, failed ones included.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.lock().counters()
    }

    pub fn reset_counters(&self) {
        self.lock().reset_counters();
    }

    /// What queryFlowLogStatus would answer for this NSG now (None if the NSG is unknown).
    pub fn flow_log_status(&self, target_resource_id: &str) -> Option<FlowLogInformation> {
        self.lock().flow_log_status(target_resource_id)
    }

    /// Change a flow log behind the operator's back (drift); creates it if none exists.
    pub fn set_flow_log(&self, info: FlowLogInformation) -> Result<(), String> {
        self.lock().set_flow_log(info)
    }

    /// No code path panics while holding the lock, but a poisoned lock still holds consistent state.
    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! What the controller holds: its settings, the clients (the operator's own and one per credentials Secret), and
//! the per-policy memory (transient failures, refused writes, the target index) that reconciles share.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, ResourceExt};

use super::cached::CachedPolicy;
use super::events::Events;
use super::metrics::Metrics;
use super::selector;
use super::server::Health;
use crate::api::{FlowLogPolicy, FlowLogPolicyStatus, MANAGER, PendingOperation};
use crate::azure::{ArmClient, Cloud, credential_from_secret_data};
use crate::reconcile::refusal::Refusal;
use crate::reconcile::{Difference, TargetIndex};
use crate::sync::{FlowLogIndex, Insights, SyncError};

/// Controller settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Only this namespace; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Only policies matching this label selector (a shard; the apiserver filters the watch, so the cache holds
    /// only them); all policies when `None`.
    pub selector: Option<selector::LabelSelector>,
    /// Policies reconciled at once.
    pub concurrency: u16,
    /// `lastSyncTime` alone is rewritten at most this often (status writes are watch events for everyone).
    pub status_heartbeat: Duration,
    /// Honour `spec.credentialsRef`: read (and watch the metadata of) Secrets in policies' namespaces.
    pub allow_credentials_ref: bool,
    /// Only these namespaces may use `credentialsRef` (RBAC then needs Secret access only there); empty: all.
    pub credentials_namespaces: Vec<String>,
    /// Register `Microsoft.Insights` where it is not registered.
    pub register_providers: bool,
    /// Check that enabled flow logs' blobs keep arriving (`--check-log-delivery`); off when `None`.
    pub delivery: Option<super::delivery::DeliverySettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: None,
            selector: None,
            concurrency: 4,
            status_heartbeat: Duration::from_secs(3600),
            allow_credentials_ref: false,
            credentials_namespaces: Vec::new(),
            register_providers: false,
            delivery: None,
        }
    }
}

/// A status this process wrote and the status it replaced.
pub(super) struct Written {
    at: std::time::Instant,
    base: Option<FlowLogPolicyStatus>,
    status: FlowLogPolicyStatus,
}

/// How long a written status is remembered: the cache shows it within milliseconds, normally.
const WRITTEN_FOR: Duration = Duration::from_secs(60);

/// A client built from a policy's credentials Secret, kept while the Secret's resourceVersion is unchanged
/// (each client caches its own token: building one per reconcile would ask Entra for a token every time).
pub(super) struct SecretClient {
    pub(super) resource_version: Option<String>,
    pub(super) arm: ArmClient,
}

pub struct Context {
    pub client: Client,
    pub arm: ArmClient,
    /// The cloud (authority host) per-policy credentials authenticate against.
    pub cloud: Cloud,
    pub(super) http: reqwest::Client,
    pub(super) insights: Insights,
    pub(super) secret_clients: Mutex<HashMap<(String, String), SecretClient>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub(super) events: Events,
    pub(super) settings: Settings,
    /// Consecutive transient failures per object UID, for exponential backoff.
    pub(super) failures: Mutex<HashMap<String, u32>>,
    /// The last terminal refusal of a write per object UID: not sent again while nothing it was refused under
    /// changes. Kept in memory: after a restart, a stalled policy's write is tried once more.
    pub(super) refusals: Mutex<HashMap<String, Refusal>>,
    /// What Azure's flow-log lists said, per watcher: the checks of all policies on one watcher share one list.
    pub index: FlowLogIndex,
    /// Operations in flight per object UID, with what they repair: status keeps the same token (for a restart),
    /// but the cache may not show it yet when the policy is checked again.
    pub(super) operations: Mutex<HashMap<String, (PendingOperation, Vec<Difference>)>>,
    /// The status last written per object UID, with the one it was built on, for a short while: until the cache
    /// shows it, a check builds on it rather than on the cache's older status.
    pub(super) written: Mutex<HashMap<String, Box<Written>>>,
    /// A repair whose status write failed, per object UID: reported by the next check (drift is never lost).
    pub(super) unreported: Mutex<HashMap<String, crate::reconcile::Outcome>>,
    /// Policies by target, kept by the watch: conflicts are looked up, not scanned for.
    pub(super) targets: Mutex<TargetIndex>,
    /// Re-run policies whose conflict may have been resolved by a deletion.
    pub(super) retrigger: mpsc::UnboundedSender<ObjectRef<CachedPolicy>>,
    pub(super) retrigger_rx: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<CachedPolicy>>>>,
    /// The re-checks planned far ahead (kube's queue holds the sooner ones).
    pub(super) rechecks: super::rechecks::Rechecks,
    /// Reconciles running now (a shutdown abandons those still running when its grace ends).
    pub(super) in_flight: AtomicUsize,
}

impl Context {
    pub fn new(
        client: Client,
        arm: ArmClient,
        cloud: Cloud,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        settings: Settings,
    ) -> Arc<Self> {
        let instance = std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok());
        let events = Events::new(client.clone(), MANAGER, instance);
        let (retrigger, rx) = mpsc::unbounded();
        let http = arm.http().clone();
        Arc::new(Self {
            client,
            arm,
            cloud,
            http,
            insights: Insights::new(settings.register_providers),
            secret_clients: Mutex::default(),
            metrics,
            health,
            events,
            settings,
            failures: Mutex::default(),
            refusals: Mutex::default(),
            index: FlowLogIndex::default(),
            written: Mutex::default(),
            unreported: Mutex::default(),
            operations: Mutex::default(),
            targets: Mutex::default(),
            rechecks: Default::default(),
            retrigger,
            retrigger_rx: Mutex::new(Some(rx)),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// The version of the credentials a policy's ARM client uses: its `credentialsRef` Secret's resourceVersion as
    /// last read, or `None` for the operator's own credentials.
    pub(super) fn credentials_version(&self, policy: &FlowLogPolicy) -> Option<String> {
        let secret = policy.spec.credentials_ref.as_ref()?;
        let key = (policy.namespace().unwrap_or_default(), secret.name.clone());
        self.secret_clients.lock().expect("not poisoned").get(&key).and_then(|c| c.resource_version.clone())
    }

    /// The policy's status: the one this process wrote last when the cache still shows the one it replaced.
    pub(super) fn latest_status(&self, policy: &FlowLogPolicy) -> Option<FlowLogPolicyStatus> {
        let uid = policy.uid().unwrap_or_default();
        let mut written = self.written.lock().expect("not poisoned");
        if let Some(w) = written.get(&uid) {
            if w.at.elapsed() < WRITTEN_FOR && w.base == policy.status {
                return Some(w.status.clone());
            }
            // The cache has caught up (or someone else wrote since): it is the latest.
            written.remove(&uid);
        }
        policy.status.clone()
    }

    /// Records a status write (see [`Context::latest_status`]).
    pub(super) fn wrote_status(&self, uid: &str, base: Option<&FlowLogPolicyStatus>, status: &FlowLogPolicyStatus) {
        let mut written = self.written.lock().expect("not poisoned");
        let entry = Box::new(Written { at: std::time::Instant::now(), base: base.cloned(), status: status.clone() });
        written.insert(uid.to_string(), entry);
    }

    /// Forgets the status written for a policy once the cache shows it (or a later one).
    pub(super) fn caught_up(&self, uid: &str, status: Option<&FlowLogPolicyStatus>) {
        let mut written = self.written.lock().expect("not poisoned");
        if written.get(uid).is_some_and(|w| w.base.as_ref() != status) {
            written.remove(uid);
        }
    }

    /// Forgets the written statuses the cache has had time to show (called every few seconds: a policy in a steady
    /// state is not checked for many minutes, and what it wrote last must not be held that long).
    pub(super) fn sweep(&self) {
        let mut written = self.written.lock().expect("not poisoned");
        written.retain(|_, w| w.at.elapsed() < WRITTEN_FOR);
        if written.capacity() > 64 && written.len() < written.capacity() / 4 {
            written.shrink_to_fit();
        }
        drop(written);
        crate::heap::give_back();
    }

    /// One more transient failure of the object: the wait before its next attempt (exponential, with jitter, at
    /// least the server's `Retry-After`).
    pub(super) fn backoff(&self, uid: &str, retry_after: Option<Duration>) -> Duration {
        let failures = {
            let mut map = self.failures.lock().expect("not poisoned");
            let n = map.entry(uid.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        crate::reconcile::schedule::backoff(failures, retry_after, fastrand::f64())
    }

    /// Forgets what was kept for an object that is gone or synced.
    pub(super) fn forget(&self, uid: &str) {
        self.failures.lock().expect("not poisoned").remove(uid);
        self.refusals.lock().expect("not poisoned").remove(uid);
        self.operations.lock().expect("not poisoned").remove(uid);
        self.unreported.lock().expect("not poisoned").remove(uid);
    }

    /// The ARM client for a policy: the operator's own, or one with the credentials of its `credentialsRef`
    /// (a Secret in the policy's namespace, never another).
    pub(super) async fn arm_for(&self, policy: &FlowLogPolicy) -> Result<ArmClient, SyncError> {
        self.arm_for_ref(&policy.namespace().unwrap_or_default(), policy.spec.credentials_ref.as_ref()).await
    }

    /// The ARM client for an object in `namespace` with an optional `credentialsRef` (a policy's or a set's).
    pub(super) async fn arm_for_ref(
        &self,
        namespace: &str,
        secret_ref: Option<&crate::api::SecretRef>,
    ) -> Result<ArmClient, SyncError> {
        let Some(secret_ref) = secret_ref else { return Ok(self.arm.clone()) };
        if !self.settings.allow_credentials_ref {
            return Err(SyncError::Credentials(
                "spec.credentialsRef is set but this operator does not read Secrets (start it with --allow-credentials-ref, or remove credentialsRef)".into(),
            ));
        }
        let namespace = namespace.to_string();
        let allowed = &self.settings.credentials_namespaces;
        if !allowed.is_empty() && !allowed.contains(&namespace) {
            return Err(SyncError::Credentials(format!(
                "spec.credentialsRef is not allowed in namespace {namespace}: this operator reads Secrets only in {}",
                allowed.join(", ")
            )));
        }
        let key = (namespace.clone(), secret_ref.name.clone());
        // The Secrets' watch drops a client when its Secret changes or goes: a cached one is current, and a check
        // costs no read of the Secret.
        if let Some(cached) = self.secret_clients.lock().expect("not poisoned").get(&key) {
            return Ok(cached.arm.clone());
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let secret = match secrets.get_opt(&secret_ref.name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                return Err(SyncError::Credentials(format!(
                    "credentials Secret {namespace}/{} not found",
                    secret_ref.name
                )));
            }
            Err(e) => {
                return Err(SyncError::Credentials(format!(
                    "reading credentials Secret {namespace}/{}: {e}",
                    secret_ref.name
                )));
            }
        };
        let version = secret.metadata.resource_version.clone();
        let data: std::collections::BTreeMap<String, Vec<u8>> =
            secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
        let secret_type = secret.type_.as_deref();
        let tokens = |name: &str| -> std::sync::Arc<dyn crate::azure::credential::AssertionSource> {
            std::sync::Arc::new(super::tokens::ServiceAccountTokens {
                client: self.client.clone(),
                namespace: namespace.clone(),
                name: name.to_string(),
            })
        };
        let credential = credential_from_secret_data(secret_type, &data, &tokens, &self.cloud, self.http.clone())
            .map_err(|e| {
                let why = match e {
                    crate::azure::ArmError::Config(why) => why,
                    other => other.message(),
                };
                SyncError::Credentials(format!("credentials Secret {namespace}/{}: {why}", secret_ref.name))
            })?;
        let arm = self.arm.with_credential(credential);
        self.secret_clients
            .lock()
            .expect("not poisoned")
            .insert(key, SecretClient { resource_version: version, arm: arm.clone() });
        Ok(arm)
    }
}

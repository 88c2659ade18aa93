//! Which watch events start a reconcile: a policy seen for the first time, and a change of its generation, its
//! finalizers or its retry annotation. Status writes bump resourceVersion but not generation: filtering them out
//! keeps the operator's own status updates from triggering another round of Azure calls (drift checks run on the
//! requeue timer). Finalizer changes pass, so that the update adding the finalizer starts the first sync.
//!
//! This is kube's predicate filter with a smaller memory per policy (the fleet's size multiplies it): what was seen
//! is kept under the policy's UID as a number, not under three strings, and forgotten when the policy goes.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use kube::{Resource, ResourceExt};

use super::CachedPolicy;
use crate::reconcile::refusal::RETRY_ANNOTATION;

/// What the watch showed last of each policy, by UID.
#[derive(Default)]
pub(super) struct Changes {
    /// The generation, finalizers and retry annotation last seen, hashed.
    seen: HashMap<u128, u64>,
    /// The policies a relist has shown so far (while one runs).
    relisted: Option<HashSet<u128>>,
}

impl Changes {
    /// A policy the watch shows (an update, or an object of a relist): whether it starts a reconcile.
    pub(super) fn applied(&mut self, policy: &CachedPolicy) -> bool {
        let Some(uid) = uid(policy) else { return true };
        if let Some(relisted) = self.relisted.as_mut() {
            relisted.insert(uid);
        }
        self.seen.insert(uid, hashed(policy)) != Some(hashed(policy))
    }

    /// A policy the watch shows deleted.
    pub(super) fn deleted(&mut self, policy: &CachedPolicy) {
        if let Some(uid) = uid(policy) {
            self.seen.remove(&uid);
        }
    }

    /// A relist begins: the policies it does not show are gone (the watch missed their deletion).
    pub(super) fn relist_started(&mut self) {
        self.relisted = Some(HashSet::new());
    }

    /// A relist ended: forget the policies it did not show.
    pub(super) fn relist_done(&mut self) {
        if let Some(relisted) = self.relisted.take() {
            self.seen.retain(|uid, _| relisted.contains(uid));
            self.seen.shrink_to_fit();
        }
    }
}

/// A policy's UID as a number; `None` when it is not a UUID (the apiserver's always are).
fn uid(policy: &CachedPolicy) -> Option<u128> {
    uuid::Uuid::parse_str(policy.meta().uid.as_deref()?).ok().map(|u| u.as_u128())
}

/// What triggers a reconcile when it changes.
fn hashed(policy: &CachedPolicy) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    policy.meta().generation.hash(&mut hasher);
    policy.finalizers().hash(&mut hasher);
    policy.annotations().get(RETRY_ANNOTATION).hash(&mut hasher);
    hasher.finish()
}

/// The policy as the controller's queue is to remember it: by namespace and name only. The queue keeps a
/// reference per policy (each re-check is scheduled), and kube copies the UID and resourceVersion into it too.
pub(super) fn trigger(mut policy: CachedPolicy) -> CachedPolicy {
    let meta = policy.meta_mut();
    meta.uid = None;
    meta.resource_version = None;
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FlowLogPolicy;
    use serde_json::json;

    fn policy(uid: &str, generation: i64, finalizers: &[&str], retry: Option<&str>, drift: i64) -> CachedPolicy {
        let mut annotations = serde_json::Map::new();
        if let Some(retry) = retry {
            annotations.insert(RETRY_ANNOTATION.into(), json!(retry));
        }
        let policy: FlowLogPolicy = serde_json::from_value(json!({
            "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy",
            "metadata": {"name": "p", "namespace": "ns", "uid": uid, "generation": generation, "resourceVersion": "7",
                         "finalizers": finalizers, "annotations": annotations},
            "spec": {"target": {"resourceId": "/t"}, "flowLog": {"enabled": false}},
            "status": {"driftCorrections": drift}
        }))
        .unwrap();
        policy.into()
    }

    const A: &str = "0b5c2a4e-94d3-4c1f-9d7e-3f1b2a4c5d6e";
    const B: &str = "1c6d3b5f-05e4-4d20-8e8f-402c3b5d6e7f";

    #[test]
    fn only_a_new_generation_finalizer_or_retry_triggers() {
        let mut changes = Changes::default();
        assert!(changes.applied(&policy(A, 1, &[], None, 0)), "first sight");
        assert!(!changes.applied(&policy(A, 1, &[], None, 3)), "a status write");
        assert!(changes.applied(&policy(A, 1, &["flowlog.dev/cleanup"], None, 3)), "the finalizer added");
        assert!(changes.applied(&policy(A, 2, &["flowlog.dev/cleanup"], None, 3)), "a new spec");
        assert!(changes.applied(&policy(A, 2, &["flowlog.dev/cleanup"], Some("1"), 3)), "a retry asked for");
        assert!(!changes.applied(&policy(A, 2, &["flowlog.dev/cleanup"], Some("1"), 4)));
        assert!(changes.applied(&policy(B, 2, &["flowlog.dev/cleanup"], Some("1"), 4)), "a new object, same name");
    }

    #[test]
    fn forgets_deleted_policies_and_those_a_relist_no_longer_shows() {
        let mut changes = Changes::default();
        changes.applied(&policy(A, 1, &[], None, 0));
        changes.applied(&policy(B, 1, &[], None, 0));
        changes.deleted(&policy(A, 1, &[], None, 0));
        assert_eq!(changes.seen.len(), 1);
        assert!(changes.applied(&policy(A, 1, &[], None, 0)), "seen again after its deletion");
        changes.relist_started();
        assert!(!changes.applied(&policy(B, 1, &[], None, 0)), "unchanged through a relist");
        changes.relist_done();
        assert_eq!(changes.seen.keys().copied().collect::<Vec<_>>(), vec![uuid::Uuid::parse_str(B).unwrap().as_u128()]);
    }

    #[test]
    fn a_trigger_names_the_policy_only() {
        let t = trigger(policy(A, 1, &[], None, 0));
        assert_eq!((t.meta().uid.as_deref(), t.meta().resource_version.as_deref()), (None, None));
        assert_eq!((t.name_any(), t.namespace()), ("p".to_string(), Some("ns".to_string())));
    }
}

//! A FlowLogPolicy as the controller's cache keeps it between reconciles: memory per policy is a design target
//! (the fleet benchmark prints it), and the cache holds every policy for as long as the operator runs.
//!
//! The watch reads whole objects; the cache keeps only what a reconcile, a set's count, the Secrets' watch and the
//! metrics read:
//! - of the metadata: name, namespace, UID, resourceVersion, generation, creation and deletion times, finalizers,
//!   the retry annotation and the set label (not the field managers' bookkeeping, `kubectl apply`'s copy of the
//!   object, owner references or any other label and annotation);
//! - the spec and the status, each [`packed`]: one allocation of a few hundred bytes instead of some forty strings
//!   and 800 bytes of mostly empty fields, read back when a reconcile, a set, the Secrets' watch or the metrics need
//!   them (a microsecond).
//!
//! A reconcile works on [`CachedPolicy::policy`], the `FlowLogPolicy` rebuilt from what is kept.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::{FlowLogPolicy, FlowLogPolicySpec, FlowLogPolicyStatus};
use crate::packed;
use crate::reconcile::refusal::RETRY_ANNOTATION;
use crate::reconcile::set::SET_LABEL;

/// The annotations a cached policy keeps (what reconciles read).
const KEPT_ANNOTATIONS: [&str; 1] = [RETRY_ANNOTATION];

/// The labels a cached policy keeps (what the set controller reads; the apiserver applies `--selector` itself).
const KEPT_LABELS: [&str; 1] = [SET_LABEL];

/// A FlowLogPolicy as the cache keeps it (see the module's documentation). The same API resource as
/// [`FlowLogPolicy`]: an `Api<CachedPolicy>` reads and patches FlowLogPolicies, and what it reads is trimmed.
#[derive(Clone, Debug)]
pub struct CachedPolicy {
    metadata: ObjectMeta,
    /// The spec, [`packed`].
    spec: Box<[u8]>,
    /// The status, [`packed`].
    status: Option<Box<[u8]>>,
}

impl CachedPolicy {
    /// The spec the cache holds.
    pub fn spec(&self) -> FlowLogPolicySpec {
        // What `From<FlowLogPolicy>` packed reads back (the same type, both ways).
        packed::unpack(&self.spec, &packed::SPEC).expect("a packed spec reads back")
    }

    /// The status the cache holds.
    pub fn status(&self) -> Option<FlowLogPolicyStatus> {
        // What `From<FlowLogPolicy>` packed reads back (the same type, both ways).
        self.status.as_ref().map(|packed| packed::unpack(packed, &packed::STATUS).expect("a packed status reads back"))
    }

    /// The policy, rebuilt from what the cache keeps.
    pub fn policy(&self) -> FlowLogPolicy {
        FlowLogPolicy { metadata: self.metadata.clone(), spec: self.spec(), status: self.status() }
    }

    /// The status's conditions as (type, status), without reading the rest of it (the metrics' policy gauge).
    pub fn condition_states(&self) -> Vec<(String, String)> {
        #[derive(Deserialize)]
        struct Conditions {
            #[serde(default)]
            conditions: Vec<TypeAndStatus>,
        }
        #[derive(Deserialize)]
        struct TypeAndStatus {
            #[serde(rename = "type")]
            type_: String,
            status: String,
        }
        let Some(packed) = &self.status else { return vec![] };
        let conditions: Conditions = packed::unpack(packed, &packed::STATUS).expect("a packed status reads back");
        conditions.conditions.into_iter().map(|c| (c.type_, c.status)).collect()
    }
}

impl From<FlowLogPolicy> for CachedPolicy {
    fn from(policy: FlowLogPolicy) -> Self {
        let FlowLogPolicy { metadata, spec, status } = policy;
        let kept = |map: Option<BTreeMap<String, String>>, keys: &[&str]| {
            let map: BTreeMap<String, String> =
                map.unwrap_or_default().into_iter().filter(|(k, _)| keys.contains(&k.as_str())).collect();
            (!map.is_empty()).then_some(map)
        };
        let metadata = ObjectMeta {
            name: metadata.name,
            namespace: metadata.namespace,
            uid: metadata.uid,
            resource_version: metadata.resource_version,
            generation: metadata.generation,
            creation_timestamp: metadata.creation_timestamp,
            deletion_timestamp: metadata.deletion_timestamp,
            finalizers: metadata.finalizers.filter(|f| !f.is_empty()),
            annotations: kept(metadata.annotations, &KEPT_ANNOTATIONS),
            labels: kept(metadata.labels, &KEPT_LABELS),
            ..ObjectMeta::default()
        };
        let (spec, status) = (packed::pack(&spec, &packed::SPEC), status.map(|s| packed::pack(&s, &packed::STATUS)));
        CachedPolicy { metadata, spec, status }
    }
}

impl Resource for CachedPolicy {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        FlowLogPolicy::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        FlowLogPolicy::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        FlowLogPolicy::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        FlowLogPolicy::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        FlowLogPolicy::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Read as a whole FlowLogPolicy, then trimmed: what the apiserver answers (watch events, patches) is cached so.
impl<'de> Deserialize<'de> for CachedPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        FlowLogPolicy::deserialize(deserializer).map(CachedPolicy::from)
    }
}

/// Written as the FlowLogPolicy it keeps.
impl Serialize for CachedPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.policy().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> FlowLogPolicy {
        serde_json::from_value(json!({
            "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicy",
            "metadata": {
                "name": "web", "namespace": "team", "uid": "0b5c", "resourceVersion": "42", "generation": 3,
                "creationTimestamp": "2026-01-02T03:04:05Z", "finalizers": ["flowlog.dev/cleanup"],
                "labels": {"app": "web", SET_LABEL: "vnets"},
                "annotations": {RETRY_ANNOTATION: "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"}],
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            },
            "spec": {
                "target": {"resourceId": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/web"},
                "flowLog": {"enabled": true, "storageId": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs"},
                "interval": "60s"
            },
            "status": {
                "observedGeneration": 3,
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "InSync", "message": "Azure matches the spec",
                     "lastTransitionTime": "2026-01-02T03:05:00Z", "observedGeneration": 3},
                    {"type": "Stalled", "status": "False", "reason": "InSync", "message": "",
                     "lastTransitionTime": "2026-01-02T03:05:00Z", "observedGeneration": 3}
                ],
                "observed": {"enabled": true, "storageId": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs"},
                "lastSyncTime": "2026-01-02T03:05:00Z",
                "driftCorrections": 2
            }
        }))
        .unwrap()
    }

    #[test]
    fn keeps_what_reconciles_read_and_drops_the_rest() {
        let full = policy();
        let cached = CachedPolicy::from(full.clone());
        let rebuilt = cached.policy();
        assert_eq!(rebuilt.spec, full.spec);
        assert_eq!(rebuilt.status, full.status, "the status reads back as it was");
        let meta = &rebuilt.metadata;
        assert_eq!(
            (meta.name.as_deref(), meta.namespace.as_deref(), meta.uid.as_deref(), meta.resource_version.as_deref()),
            (Some("web"), Some("team"), Some("0b5c"), Some("42"))
        );
        assert_eq!((meta.generation, meta.creation_timestamp.clone()), (Some(3), full.metadata.creation_timestamp));
        assert_eq!(meta.finalizers, Some(vec!["flowlog.dev/cleanup".to_string()]));
        assert_eq!(meta.labels, Some([(SET_LABEL.to_string(), "vnets".to_string())].into()));
        assert_eq!(meta.annotations, Some([(RETRY_ANNOTATION.to_string(), "1".to_string())].into()));
        assert!(meta.owner_references.is_none() && meta.managed_fields.is_none());
        assert_eq!(
            cached.condition_states(),
            vec![("Ready".to_string(), "True".to_string()), ("Stalled".to_string(), "False".to_string())]
        );
    }

    #[test]
    fn reads_from_and_writes_as_a_flow_log_policy() {
        let cached: CachedPolicy = serde_json::from_value(serde_json::to_value(policy()).unwrap()).unwrap();
        let written: FlowLogPolicy = serde_json::from_value(serde_json::to_value(&cached).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(written).unwrap(), serde_json::to_value(cached.policy()).unwrap());
        assert_eq!(CachedPolicy::plural(&()), "flowlogpolicies");
        assert_eq!(CachedPolicy::api_version(&()), "flowlog.dev/v1alpha1");
        let empty = CachedPolicy::from(FlowLogPolicy::new("p", policy().spec));
        assert_eq!((empty.status(), empty.condition_states()), (None, vec![]));
    }
}

//! Prometheus metrics, served with the probes on one port (see [`super::server`]).

use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::CachedPolicy;
use crate::api::FlowLogPolicySet;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ArmLabels {
    pub operation: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SetLabels {
    pub namespace: String,
    pub set: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub namespace: String,
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub condition: String,
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub drift_detected: Counter,
    pub drift_corrected: Counter,
    pub arm_requests: Family<ArmLabels, Counter>,
    pub arm_request_duration: Histogram,
    pub throttle_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    pub policies: Family<ConditionLabels, Gauge>,
    /// A FlowLogPolicySet's targets by state, from its status.
    pub set_targets: Family<SetLabels, Gauge>,
    /// 1 while this replica holds the leader lease (or runs without leader election).
    pub leader: Gauge,
    /// Storage (data-plane) requests of the delivery checks, by HTTP status (0: no answer).
    pub storage_requests: Family<CodeLabels, Counter>,
    /// Seconds since each checked policy's newest flow-log blob was written (computed at each scrape from the
    /// last write the delivery check found).
    logs_age: Family<PolicyLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// The newest blob's last write per policy (Unix seconds), as the delivery check last found it.
    last_writes: std::sync::Mutex<std::collections::HashMap<PolicyLabels, i64>>,
    /// Bytes on the heap now (set at each scrape; absent when the counting allocator is not installed).
    heap: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("flowlog");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        let reconcile_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register("reconcile_duration_seconds", "Duration of one reconcile", reconcile_duration.clone());
        let drift_detected = Counter::default();
        registry.register(
            "drift_detected",
            "Times Azure was found to differ from an applied spec",
            drift_detected.clone(),
        );
        let drift_corrected = Counter::default();
        registry.register("drift_corrected", "Times drift was repaired in Azure", drift_corrected.clone());
        let arm_requests = Family::<ArmLabels, Counter>::default();
        registry.register(
            "arm_requests",
            "ARM and token requests by operation and HTTP status (0: no answer)",
            arm_requests.clone(),
        );
        let arm_request_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "arm_request_duration_seconds",
            "Duration of one ARM or token request",
            arm_request_duration.clone(),
        );
        let throttle_wait_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "arm_throttle_wait_seconds",
            "Time spent waiting for ARM throttling budgets",
            throttle_wait_seconds.clone(),
        );
        let policies = Family::<ConditionLabels, Gauge>::default();
        registry.register("policies", "FlowLogPolicies by condition and status", policies.clone());
        let set_targets = Family::<SetLabels, Gauge>::default();
        registry.register(
            "set_targets",
            "FlowLogPolicySet targets by state (compliant, drifted, applying, failing, not_covered, excluded), from the \
             set's last status",
            set_targets.clone(),
        );
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica is the leader", leader.clone());
        let storage_requests = Family::<CodeLabels, Counter>::default();
        registry.register(
            "storage_requests",
            "Storage requests of the flow-log delivery checks (blob listings) by HTTP status (0: no answer)",
            storage_requests.clone(),
        );
        let logs_age = Family::<PolicyLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "logs_last_write_age_seconds",
            "Seconds since the newest flow-log blob of each policy was written (with --check-log-delivery)",
            logs_age.clone(),
        );
        let heap = Gauge::default();
        if crate::heap::held_bytes().is_some() {
            registry.register("heap_bytes", "Bytes the operator holds on its heap", heap.clone());
        }
        Self {
            heap,
            registry,
            reconciles,
            reconcile_duration,
            drift_detected,
            drift_corrected,
            arm_requests,
            arm_request_duration,
            throttle_wait_seconds,
            policies,
            set_targets,
            leader,
            storage_requests,
            logs_age,
            last_writes: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, result: &str, started: Instant) {
        self.reconciles.get_or_create(&ResultLabels { result: result.to_string() }).inc();
        self.reconcile_duration.observe(started.elapsed().as_secs_f64());
    }

    pub fn arm_request(&self, operation: &str, status: u16, elapsed: Duration) {
        let labels = ArmLabels { operation: operation.to_string(), code: status.to_string() };
        self.arm_requests.get_or_create(&labels).inc();
        self.arm_request_duration.observe(elapsed.as_secs_f64());
    }

    pub fn throttled(&self, waited: Duration) {
        self.throttle_wait_seconds.inc_by(waited.as_secs_f64());
    }

    /// The newest blob's last write of a policy (Unix seconds), or `None` to drop its series.
    pub fn logs_last_write(&self, namespace: &str, policy: &str, at: Option<i64>) {
        let labels = PolicyLabels { namespace: namespace.to_string(), policy: policy.to_string() };
        let mut writes = self.last_writes.lock().expect("not poisoned");
        match at {
            Some(at) => {
                writes.insert(labels, at);
            }
            None => {
                writes.remove(&labels);
            }
        }
    }

    /// Keeps the last-write series of these policies only.
    pub fn logs_retain(&self, keep: &std::collections::HashSet<(String, String)>) {
        self.last_writes
            .lock()
            .expect("not poisoned")
            .retain(|l, _| keep.contains(&(l.namespace.clone(), l.policy.clone())));
    }

    pub fn storage_request(&self, status: u16) {
        self.storage_requests.get_or_create(&CodeLabels { code: status.to_string() }).inc();
    }

    /// The text exposition, with the per-condition policy gauge and the per-set target gauge computed from the
    /// caches now (a deleted set's series go with it).
    pub fn render<'a>(
        &self,
        policies: impl IntoIterator<Item = &'a CachedPolicy>,
        sets: impl IntoIterator<Item = &'a FlowLogPolicySet>,
    ) -> String {
        self.set_targets.clear();
        for set in sets {
            let Some(status) = &set.status else { continue };
            let (namespace, name) = (set.metadata.namespace.clone().unwrap_or_default(), set.metadata.name.clone());
            let states = [
                ("compliant", status.compliant),
                ("drifted", status.drifted),
                ("applying", status.applying),
                ("failing", status.failing),
                ("not_covered", status.not_covered),
                ("excluded", status.excluded),
            ];
            for (state, count) in states {
                let labels = SetLabels {
                    namespace: namespace.clone(),
                    set: name.clone().unwrap_or_default(),
                    state: state.into(),
                };
                self.set_targets.get_or_create(&labels).set(i64::from(count));
            }
        }
        self.policies.clear();
        for policy in policies {
            for (condition, status) in policy.condition_states() {
                self.policies.get_or_create(&ConditionLabels { condition, status }).inc();
            }
        }
        self.logs_age.clear();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        for (labels, at) in self.last_writes.lock().expect("not poisoned").iter() {
            self.logs_age.get_or_create(labels).set((now - *at as f64).max(0.0));
        }
        if let Some(bytes) = crate::heap::held_bytes() {
            self.heap.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Every ARM and token request the client makes lands in `flowlog_arm_requests_total`.
impl crate::azure::ArmObserver for Metrics {
    fn request(&self, operation: &str, status: u16, elapsed: Duration) {
        self.arm_request(operation, status, elapsed);
    }

    fn throttled(&self, _subscription: &str, waited: Duration) {
        self.throttled(waited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_policy_gauges() {
        let m = Metrics::default();
        m.reconciled("in_sync", Instant::now());
        m.arm_request("configureFlowLog", 202, Duration::from_millis(3));
        m.drift_corrected.inc();
        let mut set: FlowLogPolicySet = serde_json::from_value(serde_json::json!({
            "apiVersion": "flowlog.dev/v1alpha1", "kind": "FlowLogPolicySet",
            "metadata": {"name": "vnets", "namespace": "team"},
            "spec": {"selector": {"subscriptions": ["00000000-0000-0000-0000-000000000001"], "kind": "VirtualNetwork"},
                     "destinations": [], "template": {"flowLog": {"enabled": true}}}
        }))
        .unwrap();
        set.status = Some(crate::api::FlowLogPolicySetStatus { compliant: 7, failing: 2, ..Default::default() });
        let text = m.render(std::iter::empty(), [&set]);
        assert!(text.contains(r#"flowlog_set_targets{namespace="team",set="vnets",state="compliant"} 7"#), "{text}");
        assert!(text.contains(r#"flowlog_set_targets{namespace="team",set="vnets",state="failing"} 2"#), "{text}");
        assert!(
            !m.render(std::iter::empty(), std::iter::empty()).contains("set=\"vnets\""),
            "a deleted set's series go"
        );
        assert!(text.contains(r#"flowlog_reconciles_total{result="in_sync"} 1"#), "{text}");
        assert!(text.contains(r#"flowlog_arm_requests_total{operation="configureFlowLog",code="202"} 1"#), "{text}");
        assert!(text.contains("flowlog_drift_corrected_total 1"), "{text}");
    }
}

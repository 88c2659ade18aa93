//! Fault injection: rules that make chosen calls fail, slow down, lose their connection, or turn a long-running
//! operation into a slow or failing one. The JSON/YAML format is described in the [module documentation](super).

use serde::{Deserialize, Serialize};

use super::operation_names::{LRO_OPERATIONS, OPERATIONS};

/// The longest `durationMs` of a long-running operation, in the inventory or a fault rule (one year).
pub const MAX_LRO_DURATION_MS: u64 = 365 * 86_400 * 1000;

/// One fault rule. `count` fires on the next N matching calls; `rate` on that fraction of them, drawn from an RNG
/// seeded with `seed` (each rule its own, so runs repeat exactly); neither fires on every matching call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// An operation name as in the counters, or `*` for every operation.
    pub operation: String,
    /// Calls it still fires on (counts down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// 0..=1
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub effect: FaultEffect,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultEffect {
    /// Answer with this error instead of serving the call.
    Error(ErrorFault),
    /// Serve the call after this many milliseconds.
    LatencyMs(u64),
    /// Close the connection without an answer.
    Drop,
    /// Accept a long-running operation normally, then keep it in progress longer or end it `Failed`/`Canceled`.
    Lro(LroFault),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorFault {
    /// 400..=599
    pub status: u16,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LroFault {
    /// Makes the operation poll-counted: this many polls answer `InProgress` (whatever `behaviour.lro` says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress_polls: Option<u32>,
    /// Makes the operation timed: `InProgress` for this long after it was accepted (whatever `behaviour.lro` says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How the operation ends; absent: `Succeeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<LroEnd>,
    /// Error of a failed or canceled operation; defaults `InternalServerError` / "An error occurred." / 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP status of the `Location` URL's final answer (and of a `sync` mode answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LroEnd {
    Failed,
    Canceled,
}

impl FaultRule {
    pub fn validate(&self) -> Result<(), String> {
        let op = self.operation.as_str();
        if op != "*" && !OPERATIONS.contains(&op) {
            return Err(format!("unknown operation {op:?}; use one of {} or \"*\"", OPERATIONS.join(", ")));
        }
        if self.count.is_some() && self.rate.is_some() {
            return Err("give either count or rate, not both".into());
        }
        if self.rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return Err("rate must be between 0 and 1".into());
        }
        match &self.effect {
            FaultEffect::Error(e) if !(400..=599).contains(&e.status) => {
                Err(format!("error status {} is not between 400 and 599", e.status))
            }
            FaultEffect::Error(e) if e.code.is_empty() => Err("error code is empty".into()),
            FaultEffect::Lro(_) if op != "*" && !LRO_OPERATIONS.contains(&op) => {
                Err(format!("{op} is not long-running; lro effects apply to {}", LRO_OPERATIONS.join(", ")))
            }
            FaultEffect::Lro(l) if l.in_progress_polls.is_none() && l.duration_ms.is_none() && l.end.is_none() => {
                Err("an lro effect needs inProgressPolls, durationMs or end".into())
            }
            FaultEffect::Lro(l) if l.in_progress_polls.is_some() && l.duration_ms.is_some() => {
                Err("give an lro effect either inProgressPolls or durationMs, not both".into())
            }
            FaultEffect::Lro(l) if l.duration_ms.is_some_and(|ms| ms > MAX_LRO_DURATION_MS) => {
                Err(format!("lro durationMs must be at most {MAX_LRO_DURATION_MS} (one year)"))
            }
            FaultEffect::Lro(l) if l.status.is_some_and(|s| !(400..=599).contains(&s)) => {
                Err("lro status must be between 400 and 599".into())
            }
            _ => Ok(()),
        }
    }
}

/// The active rules, in order; the first that fires on a call decides.
pub(super) struct Faults {
    rules: Vec<(FaultRule, fastrand::Rng)>,
}

impl Faults {
    /// Rules must have been validated.
    pub(super) fn new(rules: Vec<FaultRule>) -> Faults {
        let rules = rules
            .into_iter()
            .map(|rule| {
                let rng = fastrand::Rng::with_seed(rule.seed.unwrap_or(0));
                (rule, rng)
            })
            .collect();
        Faults { rules }
    }

    pub(super) fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|(rule, _)| rule.clone()).collect()
    }

    /// The error, latency or drop to apply to this call of `operation`, if a rule fires.
    pub(super) fn before(&mut self, operation: &str) -> Option<FaultEffect> {
        self.fire(operation, |e| !matches!(e, FaultEffect::Lro(_))).cloned()
    }

    /// The change to a long-running operation `operation` is starting, if a rule fires.
    pub(super) fn lro(&mut self, operation: &str) -> Option<LroFault> {
        match self.fire(operation, |e| matches!(e, FaultEffect::Lro(_))) {
            Some(FaultEffect::Lro(l)) => Some(l.clone()),
            _ => None,
        }
    }

    fn fire(&mut self, operation: &str, kind: impl Fn(&FaultEffect) -> bool) -> Option<&FaultEffect> {
        for (rule, rng) in &mut self.rules {
            if !(rule.operation == "*" || rule.operation == operation) || !kind(&rule.effect) {
                continue;
            }
            let fires = match (&mut rule.count, rule.rate) {
                (Some(0), _) => false,
                (Some(n), _) => {
                    *n -= 1;
                    true
                }
                (None, Some(rate)) => rng.f64() < rate,
                (None, None) => true,
            };
            if fires {
                return Some(&rule.effect);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: serde_json::Value) -> FaultRule {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn parses_and_prints_the_documented_format() {
        let rules: Vec<FaultRule> = serde_json::from_str(
            r#"[
              {"operation": "configureFlowLog", "count": 2,
               "effect": {"error": {"status": 429, "code": "TooManyRequests", "retryAfterSeconds": 3}}},
              {"operation": "*", "rate": 0.25, "seed": 7, "effect": {"latencyMs": 150}},
              {"operation": "token", "count": 1, "effect": "drop"},
              {"operation": "flowLogsCreateOrUpdate", "effect": {"lro": {"inProgressPolls": 5, "end": "Failed"}}},
              {"operation": "flowLogsDelete", "count": 1, "effect": {"lro": {"durationMs": 30000}}}
            ]"#,
        )
        .unwrap();
        assert!(rules.iter().all(|r| r.validate().is_ok()));
        assert_eq!(rules[2].effect, FaultEffect::Drop);
        assert_eq!(
            serde_json::to_value(&rules[0]).unwrap(),
            serde_json::json!({"operation": "configureFlowLog", "count": 2,
                "effect": {"error": {"status": 429, "code": "TooManyRequests", "retryAfterSeconds": 3}}})
        );
    }

    #[test]
    fn validation_explains_what_is_wrong() {
        let error = |status| serde_json::json!({"error": {"status": status, "code": "X"}});
        for (json, why) in [
            (serde_json::json!({"operation": "nope", "effect": "drop"}), "unknown operation"),
            (serde_json::json!({"operation": "token", "count": 1, "rate": 0.5, "effect": "drop"}), "not both"),
            (serde_json::json!({"operation": "token", "rate": 1.5, "effect": "drop"}), "between 0 and 1"),
            (serde_json::json!({"operation": "token", "effect": error(302)}), "not between 400 and 599"),
            (serde_json::json!({"operation": "flowLogsGet", "effect": {"lro": {"end": "Failed"}}}), "not long-running"),
            (
                serde_json::json!({"operation": "configureFlowLog", "effect": {"lro": {}}}),
                "needs inProgressPolls, durationMs or end",
            ),
            (
                serde_json::json!({"operation": "configureFlowLog",
                    "effect": {"lro": {"inProgressPolls": 1, "durationMs": 10}}}),
                "not both",
            ),
            (
                serde_json::json!({"operation": "configureFlowLog", "effect": {"lro": {"durationMs": u64::MAX}}}),
                "at most",
            ),
        ] {
            let e = rule(json.clone()).validate().unwrap_err();
            assert!(e.contains(why), "{json}: {e}");
        }
    }

    #[test]
    fn counts_down_and_leaves_other_operations_alone() {
        let mut faults = Faults::new(vec![rule(
            serde_json::json!({"operation": "flowLogsGet", "count": 2, "effect": {"latencyMs": 5}}),
        )]);
        assert_eq!(faults.before("flowLogsList"), None);
        assert_eq!(faults.before("flowLogsGet"), Some(FaultEffect::LatencyMs(5)));
        assert_eq!(faults.lro("flowLogsGet"), None, "not an lro rule");
        assert_eq!(faults.before("flowLogsGet"), Some(FaultEffect::LatencyMs(5)));
        assert_eq!(faults.before("flowLogsGet"), None);
        assert_eq!(faults.rules()[0].count, Some(0));
    }

    #[test]
    fn rates_are_deterministic_per_seed() {
        let draw = |seed: u64| {
            let mut faults = Faults::new(vec![rule(
                serde_json::json!({"operation": "*", "rate": 0.5, "seed": seed, "effect": "drop"}),
            )]);
            (0..64).map(|_| faults.before("flowLogsGet").is_some()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let fired = draw(1).iter().filter(|f| **f).count();
        assert!((16..=48).contains(&fired), "{fired} of 64");
    }

    #[test]
    fn the_first_rule_that_fires_decides() {
        let mut faults = Faults::new(vec![
            rule(
                serde_json::json!({"operation": "configureFlowLog", "count": 1, "effect": {"lro": {"end": "Canceled"}}}),
            ),
            rule(serde_json::json!({"operation": "configureFlowLog", "count": 1, "effect": "drop"})),
            rule(serde_json::json!({"operation": "*", "effect": {"latencyMs": 1}})),
        ]);
        assert_eq!(faults.before("configureFlowLog"), Some(FaultEffect::Drop));
        assert_eq!(faults.before("configureFlowLog"), Some(FaultEffect::LatencyMs(1)));
        assert_eq!(faults.lro("configureFlowLog").and_then(|l| l.end), Some(LroEnd::Canceled));
        assert_eq!(faults.lro("configureFlowLog"), None);
    }
}

//! A write Azure refused for good (`NsgFlowLogCreationBlocked`, `InvalidResourceReference`, a missing provider
//! registration or role, …) and what it was refused under. The same write is not sent again until one of those
//! changes: the spec (its generation), what Azure holds, the credentials, or the user asks for a retry with the
//! [`RETRY_ANNOTATION`]. Until then the policy stays Stalled: no write, no flip to `Applying`, no new event.

use crate::api::{LastError, ObservedFlowLog};

/// Set (to any new value, e.g. a timestamp) to try a refused write again after fixing its cause outside the flow
/// log, such as registering `Microsoft.Insights` or granting a role:
/// `kubectl annotate flp NAME flowlog.dev/retry="$(date +%s)" --overwrite`.
pub const RETRY_ANNOTATION: &str = "flowlog.dev/retry";

/// What a refused write was refused under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conditions {
    /// `metadata.generation` of the spec that asked for the write.
    pub generation: Option<i64>,
    /// What Azure held before the write (a refused write changes nothing).
    pub observed: ObservedFlowLog,
    /// The credentials' version: the `credentialsRef` Secret's resourceVersion; `None` for the operator's own.
    pub credentials: Option<String>,
    /// The value of [`RETRY_ANNOTATION`], if any.
    pub retry: Option<String>,
}

/// A terminal refusal and its conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error: LastError,
    pub under: Conditions,
}

impl Refusal {
    /// Whether a write planned now would only repeat this refusal: nothing it was refused under has changed.
    pub fn repeats(&self, now: &Conditions) -> bool {
        // A disabled flow log is only disabled, whichever read reports it (a watcher's list shows none, the legacy
        // query reports default retention and format for it).
        let seen = |c: &Conditions| if c.observed.enabled { c.observed.clone() } else { ObservedFlowLog::default() };
        Conditions { observed: seen(&self.under), ..self.under.clone() }
            == Conditions { observed: seen(now), ..now.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions() -> Conditions {
        Conditions { generation: Some(2), observed: ObservedFlowLog::default(), credentials: None, retry: None }
    }

    #[test]
    fn a_refusal_repeats_until_something_it_was_refused_under_changes() {
        let refusal = Refusal {
            error: LastError { code: "NsgFlowLogCreationBlocked".into(), message: "m".into(), request_id: None },
            under: conditions(),
        };
        assert!(refusal.repeats(&conditions()));
        let off_as_the_query_reports_it = ObservedFlowLog {
            retention_policy: Some(crate::api::ObservedRetention { enabled: false, days: 0 }),
            ..Default::default()
        };
        assert!(refusal.repeats(&Conditions { observed: off_as_the_query_reports_it, ..conditions() }));
        let changes = [
            Conditions { generation: Some(3), ..conditions() },
            Conditions { observed: ObservedFlowLog { enabled: true, ..Default::default() }, ..conditions() },
            Conditions { credentials: Some("42".into()), ..conditions() },
            Conditions { retry: Some("1764620000".into()), ..conditions() },
        ];
        for now in changes {
            assert!(!refusal.repeats(&now), "{now:?} should allow the write again");
        }
    }
}

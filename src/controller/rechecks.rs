//! The re-checks far ahead (a policy's next check at its phase of the interval, minutes away), kept here rather
//! than in kube's queue: every policy has one, and kube's queue keeps each in about 600 bytes (the request twice,
//! in a map and in a timer wheel, with four strings each), against about 150 here. When one is due, the policy is
//! sent to the controller as a re-run (`reconcile_on`). Re-checks sooner than [`FAR`] (polling an operation,
//! waiting for budget, retrying) stay with kube.
//!
//! As in kube's queue, a policy has at most one re-check, and the earlier wins: a reconcile that asks for a later
//! one keeps the one already planned. One that asks for a re-check sooner than [`FAR`] replaces this one (kube's
//! queue then holds the earlier).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::controller::Action;
use tokio::time::Instant;

use super::Context;

/// Re-checks this far ahead or more are kept here.
pub(super) const FAR: Duration = Duration::from_secs(10);

/// The planned re-checks, by policy (`namespace/name`) and by time.
#[derive(Default)]
pub(super) struct Rechecks {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    at: HashMap<Arc<str>, Instant>,
    by_time: BTreeSet<(Instant, Arc<str>)>,
}

fn object(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Rechecks {
    /// Plans a re-check of the policy at `at`, unless one is planned earlier.
    pub(super) fn plan(&self, namespace: &str, name: &str, at: Instant) {
        let key = object(namespace, name);
        let mut inner = self.inner.lock().expect("not poisoned");
        let inner = &mut *inner;
        match inner.at.get_key_value(key.as_str()) {
            Some((_, planned)) if *planned <= at => {}
            Some((kept, planned)) => {
                let kept = kept.clone();
                inner.by_time.remove(&(*planned, kept.clone()));
                inner.by_time.insert((at, kept.clone()));
                inner.at.insert(kept, at);
            }
            None => {
                let kept: Arc<str> = key.into();
                inner.by_time.insert((at, kept.clone()));
                inner.at.insert(kept, at);
            }
        }
    }

    /// Forgets the policy's re-check (it is deleted, or kube's queue holds an earlier one).
    pub(super) fn cancel(&self, namespace: &str, name: &str) {
        let mut inner = self.inner.lock().expect("not poisoned");
        if let Some((kept, planned)) = inner.at.remove_entry(object(namespace, name).as_str()) {
            inner.by_time.remove(&(planned, kept));
        }
        if inner.at.capacity() > 64 && inner.at.len() < inner.at.capacity() / 4 {
            inner.at.shrink_to_fit();
        }
    }

    /// The policies (namespace, name) due at `now`, forgotten here.
    pub(super) fn due(&self, now: Instant) -> Vec<(String, String)> {
        let mut inner = self.inner.lock().expect("not poisoned");
        let mut due = Vec::new();
        while let Some((at, kept)) = inner.by_time.first().cloned() {
            if at > now {
                break;
            }
            inner.by_time.pop_first();
            inner.at.remove(&kept);
            let (namespace, name) = kept.split_once('/').unwrap_or(("", &kept));
            due.push((namespace.to_string(), name.to_string()));
        }
        due
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().expect("not poisoned").at.len()
    }
}

/// The action for a policy's next reconcile in `after`: a re-check far ahead is planned in [`rechecks::Rechecks`],
/// a sooner one in kube's queue (which then holds the earlier of the two: the far one goes).
pub(super) fn requeue(ctx: &Context, metadata: &ObjectMeta, after: Duration) -> Action {
    let (namespace, name) =
        (metadata.namespace.as_deref().unwrap_or_default(), metadata.name.as_deref().unwrap_or_default());
    if after >= FAR {
        ctx.rechecks.plan(namespace, name, tokio::time::Instant::now() + after);
        Action::await_change()
    } else {
        ctx.rechecks.cancel(namespace, name);
        Action::requeue(after)
    }
}

/// The next re-check of a policy, at its phase of the interval.
pub(super) fn recheck(uid: &str, interval: Duration) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    crate::reconcile::schedule::recheck_in(uid, interval, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_recheck_wins_and_each_fires_once() {
        let rechecks = Rechecks::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        rechecks.plan("ns", "a", t0 + s(60));
        rechecks.plan("ns", "a", t0 + s(90));
        rechecks.plan("ns", "b", t0 + s(120));
        rechecks.plan("ns", "b", t0 + s(30));
        assert_eq!(rechecks.len(), 2);
        assert_eq!(rechecks.due(t0 + s(29)), vec![]);
        assert_eq!(rechecks.due(t0 + s(30)), vec![("ns".to_string(), "b".to_string())]);
        assert_eq!(rechecks.due(t0 + s(89)), vec![("ns".to_string(), "a".to_string())], "the earlier of a's two");
        assert_eq!(rechecks.due(t0 + s(1000)), vec![]);
        assert_eq!(rechecks.len(), 0);
    }

    #[test]
    fn a_cancelled_recheck_never_fires() {
        let rechecks = Rechecks::default();
        let t0 = Instant::now();
        rechecks.plan("ns", "a", t0 + Duration::from_secs(60));
        rechecks.cancel("ns", "a");
        rechecks.cancel("ns", "never-planned");
        assert_eq!((rechecks.due(t0 + Duration::from_secs(61)), rechecks.len()), (vec![], 0));
    }
}

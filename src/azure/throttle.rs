//! The client's own ARM request budget: token buckets per subscription and operation class, shaped after
//! ARM's published limits, tightened when ARM's `x-ms-ratelimit-remaining-subscription-*` headers run low.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// One token bucket: `capacity` requests at once, refilled at `refill_per_second`.
/// A `refill_per_second` of zero or less switches the bucket off (no limit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketSettings {
    pub capacity: u32,
    pub refill_per_second: f64,
}

impl BucketSettings {
    pub const fn new(capacity: u32, refill_per_second: f64) -> Self {
        Self { capacity, refill_per_second }
    }
}

impl fmt::Display for BucketSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.capacity, self.refill_per_second)
    }
}

/// `CAPACITY/REFILL_PER_SECOND`, e.g. `250/25` (the form of the operator's budget flags).
impl FromStr for BucketSettings {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (capacity, rate) =
            s.split_once('/').ok_or_else(|| format!("{s:?}: expected CAPACITY/PER_SECOND, e.g. 250/25"))?;
        let capacity: u32 = capacity.trim().parse().map_err(|_| format!("{s:?}: capacity must be a whole number"))?;
        let rate: f64 = rate.trim().parse().map_err(|_| format!("{s:?}: refill must be a number per second"))?;
        if capacity == 0 || !rate.is_finite() || rate <= 0.0 {
            return Err(format!("{s:?}: capacity and refill must be positive"));
        }
        if rate < 0.01 {
            return Err(format!("{s:?}: refill must be at least 0.01 per second (one request per 100 s)"));
        }
        Ok(Self { capacity, refill_per_second: rate })
    }
}

/// The client's ARM request budget, per subscription. Defaults are ARM's published per-principal,
/// per-subscription limits (request-limits-and-throttling, 2025): reads 250 + 25/s, writes 200 + 10/s,
/// deletes 200 + 10/s. POST actions (`configureFlowLog`, `queryFlowLogStatus`, provider registration) count
/// as writes, as in ARM.
#[derive(Clone, Debug, PartialEq)]
pub struct ThrottleSettings {
    pub reads: BucketSettings,
    pub writes: BucketSettings,
    pub deletes: BucketSettings,
    /// When ARM reports fewer remaining requests than this (`x-ms-ratelimit-remaining-subscription-*`), the
    /// bucket is drained so that the next requests wait: the fewer remain, the longer. 0 switches it off.
    pub low_remaining: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            reads: BucketSettings::new(250, 25.0),
            writes: BucketSettings::new(200, 10.0),
            deletes: BucketSettings::new(200, 10.0),
            low_remaining: 20,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RequestClass {
    Read,
    Write,
    Delete,
}

impl RequestClass {
    pub(crate) fn of(method: &Method) -> RequestClass {
        match *method {
            Method::GET | Method::HEAD => RequestClass::Read,
            Method::DELETE => RequestClass::Delete,
            _ => RequestClass::Write,
        }
    }

    fn remaining_headers(self) -> &'static [&'static str] {
        match self {
            RequestClass::Read => {
                &["x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-subscription-global-reads"]
            }
            RequestClass::Write => {
                &["x-ms-ratelimit-remaining-subscription-writes", "x-ms-ratelimit-remaining-subscription-global-writes"]
            }
            RequestClass::Delete => &[
                "x-ms-ratelimit-remaining-subscription-deletes",
                "x-ms-ratelimit-remaining-subscription-global-deletes",
            ],
        }
    }
}

#[derive(Debug)]
struct Bucket {
    /// May go below zero: those are reservations whose holders are waiting.
    tokens: f64,
    last: Instant,
    capacity: f64,
    rate: f64,
}

impl Bucket {
    fn new(settings: BucketSettings) -> Self {
        let capacity = f64::from(settings.capacity.max(1));
        Self { tokens: capacity, last: Instant::now(), capacity, rate: settings.refill_per_second }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
    }
}

/// The buckets of every subscription seen, shared by all clients cloned or derived from one.
#[derive(Debug)]
pub(crate) struct Budgets {
    settings: ThrottleSettings,
    buckets: Mutex<HashMap<(String, RequestClass), Bucket>>,
}

impl Budgets {
    pub(crate) fn new(settings: ThrottleSettings) -> Self {
        Self { settings, buckets: Mutex::new(HashMap::new()) }
    }

    fn settings_for(&self, class: RequestClass) -> BucketSettings {
        match class {
            RequestClass::Read => self.settings.reads,
            RequestClass::Write => self.settings.writes,
            RequestClass::Delete => self.settings.deletes,
        }
    }

    /// Reserves one request: `Ok(wait)` to sleep before sending it, or `Err(wait)` when that wait would
    /// exceed `max_wait` (then nothing is reserved).
    pub(crate) fn reserve(
        &self,
        subscription: &str,
        class: RequestClass,
        max_wait: Duration,
    ) -> Result<Duration, Duration> {
        let settings = self.settings_for(class);
        if settings.refill_per_second <= 0.0 || !settings.refill_per_second.is_finite() {
            return Ok(Duration::ZERO);
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = buckets.entry((subscription.to_string(), class)).or_insert_with(|| Bucket::new(settings));
        bucket.refill(now);
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            return Ok(Duration::ZERO);
        }
        let wait = Duration::from_secs_f64(-bucket.tokens / bucket.rate);
        if wait > max_wait {
            bucket.tokens += 1.0;
            return Err(wait);
        }
        Ok(wait)
    }

    /// Takes ARM's view into account: with fewer than `low_remaining` requests left, drain the bucket to
    /// `remaining - low_remaining` (below zero), so that the next request waits for that many refills.
    pub(crate) fn observe(&self, subscription: &str, class: RequestClass, headers: &HeaderMap) {
        let low = f64::from(self.settings.low_remaining);
        if low <= 0.0 {
            return;
        }
        let Some(remaining) = class
            .remaining_headers()
            .iter()
            .filter_map(|name| headers.get(*name)?.to_str().ok()?.trim().parse::<u64>().ok())
            .min()
        else {
            return;
        };
        let remaining = remaining as f64;
        if remaining >= low {
            return;
        }
        let settings = self.settings_for(class);
        if settings.refill_per_second <= 0.0 || !settings.refill_per_second.is_finite() {
            return;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = buckets.entry((subscription.to_string(), class)).or_insert_with(|| Bucket::new(settings));
        bucket.refill(now);
        bucket.tokens = bucket.tokens.min(remaining - low);
    }
}

/// A budget of requests per key apart from ARM's: the delivery checks' storage listings, one bucket per storage
/// account (a data-plane request spends nothing of ARM's per-subscription limits, and none of these of ARM's).
#[derive(Debug)]
pub struct KeyedBudget {
    budgets: Budgets,
}

impl KeyedBudget {
    pub fn new(per_key: BucketSettings) -> Self {
        let settings = ThrottleSettings { reads: per_key, low_remaining: 0, ..ThrottleSettings::default() };
        KeyedBudget { budgets: Budgets::new(settings) }
    }

    /// Waits for one request's place in `key`'s bucket; returns how long it waited.
    pub async fn take(&self, key: &str) -> Duration {
        let wait = self.budgets.reserve(key, RequestClass::Read, Duration::MAX).unwrap_or_else(|wait| wait);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;
    const LONG: Duration = Duration::from_secs(3600);

    fn budgets(reads: BucketSettings) -> Budgets {
        Budgets::new(ThrottleSettings { reads, ..Default::default() })
    }

    #[test]
    fn defaults_are_arms_published_limits() {
        let s = ThrottleSettings::default();
        assert_eq!((s.reads.capacity, s.reads.refill_per_second), (250, 25.0));
        assert_eq!((s.writes.capacity, s.writes.refill_per_second), (200, 10.0));
        assert_eq!((s.deletes.capacity, s.deletes.refill_per_second), (200, 10.0));
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_asks_to_wait() {
        let b = budgets(BucketSettings::new(3, 1.0));
        for _ in 0..3 {
            assert_eq!(b.reserve("s", RequestClass::Read, NO_WAIT), Ok(Duration::ZERO));
        }
        // The fourth needs one refill (about a second); it may not wait that long, so nothing is reserved.
        let wait = b.reserve("s", RequestClass::Read, NO_WAIT).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        // Allowed to wait: the fifth reservation queues behind the fourth.
        let w4 = b.reserve("s", RequestClass::Read, LONG).unwrap();
        let w5 = b.reserve("s", RequestClass::Read, LONG).unwrap();
        assert!(w5 > w4 + Duration::from_millis(900), "{w4:?} {w5:?}");
    }

    #[test]
    fn subscriptions_and_classes_have_their_own_buckets() {
        let b = budgets(BucketSettings::new(1, 1.0));
        assert_eq!(b.reserve("a", RequestClass::Read, NO_WAIT), Ok(Duration::ZERO));
        assert!(b.reserve("a", RequestClass::Read, NO_WAIT).is_err());
        assert_eq!(b.reserve("b", RequestClass::Read, NO_WAIT), Ok(Duration::ZERO));
        assert_eq!(b.reserve("a", RequestClass::Write, NO_WAIT), Ok(Duration::ZERO));
        assert_eq!(b.reserve("a", RequestClass::Delete, NO_WAIT), Ok(Duration::ZERO));
    }

    #[test]
    fn low_remaining_headers_drain_the_bucket() {
        let b = Budgets::new(ThrottleSettings { low_remaining: 10, ..Default::default() });
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-ratelimit-remaining-subscription-reads", "100".parse().unwrap());
        b.observe("s", RequestClass::Read, &headers);
        assert_eq!(b.reserve("s", RequestClass::Read, NO_WAIT), Ok(Duration::ZERO), "plenty left: no wait");
        headers.insert("x-ms-ratelimit-remaining-subscription-reads", "5".parse().unwrap());
        b.observe("s", RequestClass::Read, &headers);
        // 5 below the mark: the next read waits for 6 refills at 25/s.
        let wait = b.reserve("s", RequestClass::Read, LONG).unwrap();
        assert!(wait > Duration::from_millis(200) && wait <= Duration::from_millis(240), "{wait:?}");
        // Writes are untouched by the reads header.
        assert_eq!(b.reserve("s", RequestClass::Write, NO_WAIT), Ok(Duration::ZERO));
    }

    #[tokio::test]
    async fn a_keyed_budget_queues_each_key_apart() {
        let budget = KeyedBudget::new(BucketSettings::new(2, 20.0));
        assert_eq!(budget.take("flowlogs1").await, Duration::ZERO);
        assert_eq!(budget.take("flowlogs1").await, Duration::ZERO);
        let waited = budget.take("flowlogs1").await;
        assert!(waited > Duration::from_millis(30) && waited <= Duration::from_millis(50), "{waited:?}");
        assert_eq!(budget.take("flowlogs2").await, Duration::ZERO, "another account has its own bucket");
    }

    #[test]
    fn parses_flag_values() {
        assert_eq!("250/25".parse::<BucketSettings>(), Ok(BucketSettings::new(250, 25.0)));
        assert_eq!("10/0.5".parse::<BucketSettings>(), Ok(BucketSettings::new(10, 0.5)));
        for bad in ["250", "0/1", "1/0", "a/b", "1/-1"] {
            assert!(bad.parse::<BucketSettings>().is_err(), "{bad}");
        }
    }
}

//! ARM's token buckets: one per subscription (or, for requests that name no subscription, tenant), principal and
//! kind of request, refilled every second (real time).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::inventory::{BucketLimits, Throttling};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Kind {
    Reads,
    Writes,
    Deletes,
}

impl Kind {
    /// The word ARM's throttling message uses.
    pub(super) fn singular(self) -> &'static str {
        match self {
            Kind::Reads => "read",
            Kind::Writes => "write",
            Kind::Deletes => "delete",
        }
    }

    /// The header that carries the tokens left in the bucket of this kind in `scope`.
    pub(super) fn header(self, scope: Scope) -> &'static str {
        match (scope, self) {
            (Scope::Subscription, Kind::Reads) => "x-ms-ratelimit-remaining-subscription-reads",
            (Scope::Subscription, Kind::Writes) => "x-ms-ratelimit-remaining-subscription-writes",
            (Scope::Subscription, Kind::Deletes) => "x-ms-ratelimit-remaining-subscription-deletes",
            (Scope::Tenant, Kind::Reads) => "x-ms-ratelimit-remaining-tenant-reads",
            (Scope::Tenant, Kind::Writes) => "x-ms-ratelimit-remaining-tenant-writes",
            (Scope::Tenant, Kind::Deletes) => "x-ms-ratelimit-remaining-tenant-deletes",
        }
    }
}

/// Whose bucket a request spends: its subscription's, or (ARM's tenant-level requests, which name no subscription,
/// such as `GET /subscriptions`) its tenant's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    Subscription,
    Tenant,
}

impl Scope {
    /// The word ARM's throttling message uses.
    pub(super) fn word(self) -> &'static str {
        match self {
            Scope::Subscription => "subscription",
            Scope::Tenant => "tenant",
        }
    }
}

/// What the admin API shows of one bucket: `subscription` or (tenant-level requests) `tenant`.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BucketState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub actor: String,
    pub kind: Kind,
    pub remaining: u64,
}

struct Level {
    tokens: f64,
    at: Instant,
}

pub(super) struct RateLimiter {
    config: Throttling,
    /// Keyed by scope, lower-cased subscription (or tenant) and actor, and kind.
    levels: BTreeMap<(Scope, String, String, Kind), Level>,
}

impl RateLimiter {
    pub(super) fn new(config: Throttling) -> RateLimiter {
        RateLimiter { config, levels: BTreeMap::new() }
    }

    pub(super) fn config(&self) -> &Throttling {
        &self.config
    }

    /// New limits; every bucket starts full again.
    pub(super) fn configure(&mut self, config: Throttling) {
        self.config = config;
        self.levels.clear();
    }

    pub(super) fn reset(&mut self) {
        self.levels.clear();
    }

    fn bucket(&self, kind: Kind) -> BucketLimits {
        match kind {
            Kind::Reads => self.config.reads,
            Kind::Writes => self.config.writes,
            Kind::Deletes => self.config.deletes,
        }
    }

    /// Takes a token from the bucket of `scope` `id` (a subscription or tenant ID), `actor` and `kind`:
    /// `Ok(tokens left)`, or `Err(seconds until one is available, at least 1)`.
    pub(super) fn take(
        &mut self,
        (scope, id): (Scope, &str),
        actor: &str,
        kind: Kind,
        now: Instant,
    ) -> Result<u64, u64> {
        let bucket = self.bucket(kind);
        if !self.config.enabled {
            return Ok(u64::from(bucket.size));
        }
        let key = (scope, id.to_ascii_lowercase(), actor.to_ascii_lowercase(), kind);
        let level = self.levels.entry(key).or_insert(Level { tokens: f64::from(bucket.size), at: now });
        refill(level, bucket, now);
        if level.tokens >= 1.0 {
            level.tokens -= 1.0;
            return Ok(level.tokens as u64);
        }
        let wait = ((1.0 - level.tokens) / bucket.refill_per_second).ceil();
        Err((wait as u64).max(1))
    }

    pub(super) fn buckets(&mut self, now: Instant) -> Vec<BucketState> {
        let config = self.config.clone();
        self.levels
            .iter_mut()
            .map(|((scope, id, actor, kind), level)| {
                let bucket = match kind {
                    Kind::Reads => config.reads,
                    Kind::Writes => config.writes,
                    Kind::Deletes => config.deletes,
                };
                refill(level, bucket, now);
                BucketState {
                    subscription: (*scope == Scope::Subscription).then(|| id.clone()),
                    tenant: (*scope == Scope::Tenant).then(|| id.clone()),
                    actor: actor.clone(),
                    kind: *kind,
                    remaining: level.tokens as u64,
                }
            })
            .collect()
    }
}

fn refill(level: &mut Level, bucket: BucketLimits, now: Instant) {
    let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
    level.tokens = (level.tokens + elapsed * bucket.refill_per_second).min(f64::from(bucket.size));
    level.at = now;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sub(id: &str) -> (Scope, &str) {
        (Scope::Subscription, id)
    }

    fn small() -> Throttling {
        Throttling {
            reads: BucketLimits { size: 2, refill_per_second: 0.5 },
            writes: BucketLimits { size: 1, refill_per_second: 10.0 },
            ..Throttling::default()
        }
    }

    #[test]
    fn empties_refills_and_says_how_long_to_wait() {
        let mut t = RateLimiter::new(small());
        let start = Instant::now();
        assert_eq!(t.take(sub("S"), "a", Kind::Reads, start), Ok(1));
        assert_eq!(t.take(sub("s"), "A", Kind::Reads, start), Ok(0), "keys compare case-insensitively");
        assert_eq!(t.take(sub("s"), "a", Kind::Reads, start), Err(2), "one token takes 2 s at 0.5/s");
        assert_eq!(t.take(sub("s"), "a", Kind::Reads, start + Duration::from_millis(1500)), Err(1));
        assert_eq!(t.take(sub("s"), "a", Kind::Reads, start + Duration::from_secs(2)), Ok(0));
        // Other principals, subscriptions and kinds have their own buckets.
        assert_eq!(t.take(sub("s"), "b", Kind::Reads, start), Ok(1));
        assert_eq!(t.take(sub("s2"), "a", Kind::Reads, start), Ok(1));
        assert_eq!(t.take(sub("s"), "a", Kind::Writes, start), Ok(0));
        assert_eq!(t.take(sub("s"), "a", Kind::Writes, start), Err(1), "never less than one second");
        assert_eq!(t.take(sub("s"), "a", Kind::Deletes, start), Ok(199));
        // A tenant's bucket is not the subscription's of the same ID.
        assert_eq!(t.take((Scope::Tenant, "s"), "a", Kind::Reads, start), Ok(1));
        let tenant = t.buckets(start).into_iter().find(|b| b.tenant.is_some()).unwrap();
        assert_eq!((tenant.subscription, tenant.tenant.as_deref(), tenant.remaining), (None, Some("s"), 1));
    }

    #[test]
    fn buckets_can_be_read_reset_and_reconfigured() {
        let mut t = RateLimiter::new(small());
        let now = Instant::now();
        t.take(sub("s"), "a", Kind::Reads, now).unwrap();
        assert_eq!(
            t.buckets(now + Duration::from_secs(10)),
            [BucketState {
                subscription: Some("s".into()),
                tenant: None,
                actor: "a".into(),
                kind: Kind::Reads,
                remaining: 2
            }],
            "refilled up to the bucket size"
        );
        t.take(sub("s"), "a", Kind::Reads, now).unwrap();
        t.reset();
        assert!(t.buckets(now).is_empty());
        t.configure(Throttling { enabled: false, ..small() });
        for _ in 0..5 {
            assert_eq!(t.take(sub("s"), "a", Kind::Writes, now), Ok(1), "disabled: nothing is taken");
        }
    }
}

//! When a policy is checked next. Pure: the time and the randomness are arguments.
//!
//! Re-checks are spread over the interval by the policy's UID: each policy has its own phase in the interval, so
//! that policies created together (a GitOps sync of a thousand manifests) are not re-checked together forever, and
//! the work of an interval is even. Transient failures back off exponentially; an operation in flight is polled at
//! Azure's `Retry-After`.

use std::time::Duration;

/// The next re-check: at the policy's phase of the interval, between half an interval and one and a half from now
/// (the first after a change; every following one exactly one interval after the one before).
pub fn recheck_in(uid: &str, interval: Duration, now_since_epoch: Duration) -> Duration {
    let period = interval.as_millis().max(1);
    let phase = fnv1a(uid) as u128 % period;
    let now = now_since_epoch.as_millis() % period;
    let mut wait = (phase + period - now) % period;
    if wait < period / 2 {
        wait += period;
    }
    Duration::from_millis(wait as u64)
}

/// After `failures` transient failures in a row: 5 s, 10 s, 20 s, … capped at 5 min, ±10 % (`random` in 0..1), and
/// never sooner than Azure's `Retry-After`.
pub fn backoff(failures: u32, retry_after: Option<Duration>, random: f64) -> Duration {
    let base = Duration::from_secs(5).saturating_mul(1u32 << failures.saturating_sub(1).min(6));
    let base = base.min(Duration::from_secs(300)).mul_f64(0.9 + random.clamp(0.0, 1.0) * 0.2);
    base.max(retry_after.unwrap_or_default())
}

/// An operation in flight is polled at its `Retry-After`, within bounds that keep a missing or odd header from
/// causing a hot loop or a long stall.
pub fn poll_in(retry_after: Duration) -> Duration {
    retry_after.clamp(Duration::from_millis(200), Duration::from_secs(60))
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn rechecks_keep_a_phase_per_policy_one_interval_apart() {
        let now = Duration::from_secs(1_800_000_000);
        let first = recheck_in("uid-a", MINUTE, now);
        assert!(first >= MINUTE / 2 && first < MINUTE * 3 / 2, "{first:?}");
        // Checked at the due time, the next one is exactly one interval later.
        assert_eq!(recheck_in("uid-a", MINUTE, now + first), MINUTE);
        assert_eq!(
            recheck_in("uid-a", MINUTE, now + first + Duration::from_millis(10)),
            MINUTE - Duration::from_millis(10)
        );
    }

    #[test]
    fn policies_created_together_are_spread_over_the_interval() {
        let now = Duration::from_secs(1_800_000_000);
        let mut buckets = [0usize; 10];
        for i in 0..1000 {
            let due = (now + recheck_in(&format!("0b5c6f2e-{i:04}-4f7a-9d1e-3c2b1a0f9e8d"), MINUTE, now)).as_millis();
            buckets[(due % 60_000 / 6_000) as usize] += 1;
        }
        // Even within sampling noise: no tenth of the interval holds more than twice its share.
        assert!(buckets.iter().all(|n| (50..200).contains(n)), "{buckets:?}");
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let secs = |n, r| backoff(n, None, r).as_secs_f64();
        assert_eq!(secs(1, 0.5), 5.0);
        assert!((4.5..=5.5).contains(&secs(1, 0.0)) && (4.5..=5.5).contains(&secs(1, 1.0)));
        assert_eq!(secs(2, 0.5), 10.0);
        assert_eq!(secs(20, 0.5), 300.0);
        assert_eq!(backoff(1, Some(Duration::from_secs(42)), 0.5), Duration::from_secs(42));
    }

    #[test]
    fn polls_are_bounded() {
        assert_eq!(poll_in(Duration::ZERO), Duration::from_millis(200));
        assert_eq!(poll_in(Duration::from_secs(8)), Duration::from_secs(8));
        assert_eq!(poll_in(Duration::from_secs(3600)), Duration::from_secs(60));
    }
}

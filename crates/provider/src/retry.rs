//! When to try again and how long to wait: exponential back-off with jitter,
//! capped, honouring the server's `retry-after`; and the clock seam that lets
//! tests observe the waits without sleeping.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Time as the client sees it: what time it is, and waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A clock for tests: `sleep` returns at once and records the duration;
/// `now` advances by the slept time only.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock { start: Instant::now(), slept: Arc::default() }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let total = self.sleeps().iter().fold(Duration::ZERO, |a, d| a.saturating_add(*d));
        self.start.checked_add(total).unwrap_or(self.start)
    }

    fn sleep(&self, d: Duration) {
        if let Ok(mut s) = self.slept.lock() {
            s.push(d);
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first (at least 1).
    pub max_attempts: u32,
    /// Back-off before the first retry; doubles with each further retry.
    pub initial_delay: Duration,
    /// Cap of the back-off.
    pub max_delay: Duration,
    /// The longest `retry-after` the client will wait; a server that asks
    /// for more gets a [`crate::ProviderError::RateLimited`] back at once, so
    /// the caller (e.g. the dream scheduler) can come back later.
    pub max_retry_after: Duration,
    /// Randomize each back-off within [½, 1] of its value (so many clients
    /// do not retry in step).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The default policy with `retries` retries after the first attempt.
    pub fn with_retries(retries: u32) -> Self {
        RetryPolicy { max_attempts: retries.saturating_add(1), ..RetryPolicy::default() }
    }

    /// The wait before attempt `attempt + 1`, after `attempt` (1-based) failed.
    /// A server's `retry_after` wins over the back-off (it is not jittered).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d;
        }
        let exp = attempt.saturating_sub(1).min(30);
        let base = self.initial_delay.saturating_mul(1u32 << exp).min(self.max_delay);
        if !self.jitter {
            return base;
        }
        let half = base / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let extra = if nanos == 0 { 0 } else { random_u64() % (nanos + 1) };
        half + Duration::from_nanos(extra)
    }
}

/// A random number from the standard library's per-process hash keys (no
/// extra dependency; good enough to spread retries).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Parses `retry-after-ms` (milliseconds) or `retry-after` (seconds, maybe
/// fractional). An HTTP-date `retry-after` is ignored (the back-off applies).
pub(crate) fn parse_retry_after(retry_after_ms: Option<&str>, retry_after: Option<&str>) -> Option<Duration> {
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
    if let Some(ms) = retry_after_ms.and_then(num) {
        return Some(Duration::from_secs_f64(ms.min(86_400_000.0) / 1000.0));
    }
    retry_after.and_then(num).map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_half() {
        let p = RetryPolicy { jitter: false, ..RetryPolicy::default() };
        let d: Vec<u64> = (1..=8).map(|a| p.delay(a, None).as_millis() as u64).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        let p = RetryPolicy::default();
        for attempt in 1..=6 {
            let full = RetryPolicy { jitter: false, ..p.clone() }.delay(attempt, None);
            for _ in 0..50 {
                let d = p.delay(attempt, None);
                assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
            }
        }
    }

    #[test]
    fn server_retry_after_wins() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(parse_retry_after(None, Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some("1500"), Some("9")), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after(None, Some("0.25")), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(Some("x"), None), None);
    }

    #[test]
    fn manual_clock_records_and_advances() {
        let c = ManualClock::new();
        let t0 = c.now();
        c.sleep(Duration::from_secs(3));
        assert_eq!(c.sleeps(), vec![Duration::from_secs(3)]);
        assert_eq!(c.now() - t0, Duration::from_secs(3));
    }
}

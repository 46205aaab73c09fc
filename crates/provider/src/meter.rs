//! Usage and cost: a thread-safe accumulator the client feeds after every
//! request (successful or not).

use crate::Usage;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Pricing {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cache_read_per_mtok: f64,
    pub cache_write_per_mtok: f64,
}

impl Pricing {
    /// The cost of `usage` in US dollars.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let m = |tokens: u64, price: f64| tokens as f64 * price / 1_000_000.0;
        m(usage.input_tokens, self.input_per_mtok)
            + m(usage.output_tokens, self.output_per_mtok)
            + m(usage.cache_read, self.cache_read_per_mtok)
            + m(usage.cache_write, self.cache_write_per_mtok)
    }
}

/// What a [`Meter`] has counted.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MeterTotals {
    /// Calls made (each may take several attempts).
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// HTTP requests sent, retries included.
    pub attempts: u64,
    /// `attempts - requests`: the retries.
    pub retries: u64,
    pub usage: Usage,
    /// US dollars, from the configured prices.
    pub cost_usd: f64,
    /// Wall time spent in calls, back-off waits included.
    pub elapsed: Duration,
}

/// Accumulates usage and cost over many calls (share one across a dream's
/// requests with `Arc`).
#[derive(Debug, Default)]
pub struct Meter {
    pricing: Pricing,
    totals: Mutex<MeterTotals>,
}

impl Meter {
    pub fn new(pricing: Pricing) -> Self {
        Meter { pricing, totals: Mutex::default() }
    }

    pub fn pricing(&self) -> Pricing {
        self.pricing
    }

    /// Records one call: its usage if it succeeded, the attempts it took,
    /// and its wall time.
    pub fn record(&self, usage: Option<&Usage>, attempts: u32, elapsed: Duration) {
        let Ok(mut t) = self.totals.lock() else { return };
        t.requests += 1;
        t.attempts += u64::from(attempts);
        t.retries += u64::from(attempts.saturating_sub(1));
        match usage {
            Some(u) => {
                t.succeeded += 1;
                t.usage.add(u);
                t.cost_usd += self.pricing.cost(u);
            }
            None => t.failed += 1,
        }
        t.elapsed += elapsed;
    }

    /// The totals so far.
    pub fn totals(&self) -> MeterTotals {
        self.totals.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Input tokens so far (cache reads and writes included), to hold a
    /// dream to its `max_input_tokens`.
    pub fn input_tokens(&self) -> u64 {
        let u = self.totals().usage;
        u.input_tokens + u.cache_read + u.cache_write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_usage_cost_and_retries() {
        let m = Meter::new(Pricing {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            cache_read_per_mtok: 0.3,
            cache_write_per_mtok: 3.75,
        });
        m.record(
            Some(&Usage { input_tokens: 1000, output_tokens: 200, cache_read: 10_000, cache_write: 0 }),
            1,
            Duration::from_millis(5),
        );
        m.record(
            Some(&Usage { input_tokens: 500, output_tokens: 100, cache_read: 0, cache_write: 2000 }),
            3,
            Duration::from_millis(7),
        );
        m.record(None, 4, Duration::from_millis(1));
        let t = m.totals();
        assert_eq!((t.requests, t.succeeded, t.failed, t.attempts, t.retries), (3, 2, 1, 8, 5));
        assert_eq!(t.usage, Usage { input_tokens: 1500, output_tokens: 300, cache_read: 10_000, cache_write: 2000 });
        let want = (1500.0 * 3.0 + 300.0 * 15.0 + 10_000.0 * 0.3 + 2000.0 * 3.75) / 1e6;
        assert!((t.cost_usd - want).abs() < 1e-12, "{} vs {want}", t.cost_usd);
        assert_eq!(t.elapsed, Duration::from_millis(13));
        assert_eq!(m.input_tokens(), 13_500);
    }
}

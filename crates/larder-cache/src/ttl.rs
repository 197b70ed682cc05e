//! Time-to-live with ± percent jitter.
//!
//! Keys written together expire together; jitter spreads their expiries so
//! the database does not see a synchronized wave of reloads.

use std::time::Duration;

use rand::Rng;

/// A TTL and its jitter, as a fraction of the TTL (0.1 = ±10 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ttl {
    pub base: Duration,
    pub jitter: f64,
}

impl Ttl {
    pub fn new(base: Duration) -> Ttl {
        Ttl { base, jitter: 0.0 }
    }

    /// Jitter as a percentage, clamped to 0..=100.
    pub fn with_jitter_percent(mut self, pct: f64) -> Ttl {
        self.jitter = (pct / 100.0).clamp(0.0, 1.0);
        self
    }

    /// One draw: `base × (1 ± jitter)`, at least 1 ms.
    pub fn sample(&self) -> Duration {
        let base = self.base.as_millis() as f64;
        let ms = if self.jitter > 0.0 {
            let f = rand::rng().random_range(-self.jitter..=self.jitter);
            base * (1.0 + f)
        } else {
            base
        };
        Duration::from_millis(ms.max(1.0) as u64)
    }
}

impl From<Duration> for Ttl {
    fn from(d: Duration) -> Ttl {
        Ttl::new(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        let t = Ttl::new(Duration::from_secs(100)).with_jitter_percent(10.0);
        let draws: Vec<u128> = (0..1000).map(|_| t.sample().as_millis()).collect();
        assert!(draws.iter().all(|&d| (90_000..=110_000).contains(&d)));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100);
        assert_eq!(
            Ttl::new(Duration::from_secs(5)).sample(),
            Duration::from_secs(5)
        );
    }
}

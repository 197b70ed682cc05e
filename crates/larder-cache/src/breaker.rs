//! A circuit breaker for the cache server.
//!
//! Closed: requests flow; `threshold` consecutive failures open it. Open:
//! requests fail fast (`Error::CircuitOpen`) without touching the network
//! for `cooldown`. Then half-open: one probe is let through; its success
//! closes the breaker, its failure re-opens it. State is three atomics, so
//! the check on the hot path is one load.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// How long it stays open before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: 5,
            cooldown: Duration::from_millis(1000),
        }
    }
}

pub struct Breaker {
    cfg: BreakerConfig,
    epoch: Instant,
    failures: AtomicU32,
    /// Nanoseconds since `epoch` when the breaker may let a probe through; 0 = closed.
    open_until: AtomicU64,
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Whether a request may go to the server now.
    pub fn allow(&self) -> bool {
        let until = self.open_until.load(Acquire);
        if until == 0 {
            return true;
        }
        // Half-open: one probe at a time after the cooldown.
        self.now() >= until
            && self
                .probing
                .compare_exchange(false, true, AcqRel, Acquire)
                .is_ok()
    }

    pub fn is_open(&self) -> bool {
        self.open_until.load(Acquire) != 0
    }

    pub fn success(&self) {
        self.failures.store(0, Relaxed);
        if self.open_until.load(Relaxed) != 0 {
            self.open_until.store(0, Release);
            self.probing.store(false, Release);
        }
    }

    pub fn failure(&self) {
        let n = self.failures.fetch_add(1, AcqRel) + 1;
        if n >= self.cfg.threshold || self.open_until.load(Relaxed) != 0 {
            let until = self.now() + self.cfg.cooldown.as_nanos() as u64;
            self.open_until.store(until.max(1), Release);
            self.probing.store(false, Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes() {
        let b = Breaker::new(BreakerConfig {
            threshold: 3,
            cooldown: Duration::from_millis(30),
        });
        b.failure();
        b.failure();
        assert!(b.allow());
        b.failure();
        assert!(!b.allow(), "open after 3 failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "one probe after the cooldown");
        assert!(!b.allow(), "only one probe at a time");
        b.failure();
        assert!(!b.allow(), "failed probe re-opens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.success();
        assert!(b.allow() && b.allow() && !b.is_open());
    }
}

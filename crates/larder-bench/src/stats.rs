//! Counters and HDR latency histograms.
//!
//! Each worker thread records into its own [`Stats`] (no atomics or locks
//! per request: connections of a thread share it through a `RefCell`) and
//! merges it into the run's shared `Mutex<Stats>` every 250 ms and at the
//! end; the progress line reads the shared one. Latencies are nanoseconds
//! in an HDR histogram with 3 significant digits from 1 ns to 60 s (values
//! above are clamped), about 200 KiB per command row.

use hdrhistogram::Histogram;
use serde::Serialize;

/// The highest latency tracked, in nanoseconds.
const MAX_NS: u64 = 60_000_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("constant histogram bounds are valid")
}

/// One command's counters.
#[derive(Clone)]
pub struct CmdStats {
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub hist: Histogram<u64>,
    /// The first error reply's text, to show the user what went wrong.
    pub first_error: Option<String>,
}

#[derive(Clone)]
pub struct Stats {
    pub cmds: Vec<CmdStats>,
    /// Open loop: how late the generator sent requests after they were due
    /// and had a free slot (its own delay, included in the latencies).
    pub lag: Histogram<u64>,
}

impl Stats {
    pub fn new(commands: usize) -> Stats {
        Stats {
            cmds: (0..commands)
                .map(|_| CmdStats {
                    ops: 0,
                    hits: 0,
                    misses: 0,
                    errors: 0,
                    hist: histogram(),
                    first_error: None,
                })
                .collect(),
            lag: histogram(),
        }
    }

    #[inline]
    pub fn record(&mut self, cmd: u8, latency_ns: u64, hits: u64, misses: u64) {
        if let Some(c) = self.cmds.get_mut(usize::from(cmd)) {
            c.ops += 1;
            c.hits += hits;
            c.misses += misses;
            c.hist.saturating_record(latency_ns.max(1));
        }
    }

    pub fn record_error(&mut self, cmd: u8, latency_ns: u64, text: impl FnOnce() -> String) {
        if let Some(c) = self.cmds.get_mut(usize::from(cmd)) {
            c.ops += 1;
            c.errors += 1;
            c.hist.saturating_record(latency_ns.max(1));
            if c.first_error.is_none() {
                c.first_error = Some(text());
            }
        }
    }

    #[inline]
    pub fn record_lag(&mut self, ns: u64) {
        self.lag.saturating_record(ns.max(1));
    }

    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.cmds.iter_mut().zip(&other.cmds) {
            a.ops += b.ops;
            a.hits += b.hits;
            a.misses += b.misses;
            a.errors += b.errors;
            // Same bounds on both sides, so adding cannot fail.
            let _ = a.hist.add(&b.hist);
            if a.first_error.is_none() {
                a.first_error.clone_from(&b.first_error);
            }
        }
        let _ = self.lag.add(&other.lag);
    }

    pub fn reset(&mut self) {
        for c in &mut self.cmds {
            c.ops = 0;
            c.hits = 0;
            c.misses = 0;
            c.errors = 0;
            c.hist.reset();
            c.first_error = None;
        }
        self.lag.reset();
    }

    pub fn ops(&self) -> u64 {
        self.cmds.iter().map(|c| c.ops).sum()
    }

    /// All commands' latencies together.
    pub fn all_latencies(&self) -> Histogram<u64> {
        let mut h = histogram();
        for c in &self.cmds {
            let _ = h.add(&c.hist);
        }
        h
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        Latency {
            min: ms(h.min()),
            mean: h.mean() / 1e6,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut s = Stats::new(2);
        // 1..=10000 µs on GET, uniformly: p50 = 5 ms, p99 = 9.9 ms.
        for us in 1..=10_000u64 {
            s.record(0, us * 1000, 1, 0);
        }
        s.record(1, 0, 0, 0);
        let l = Latency::of(&s.cmds[0].hist);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 1e-6;
        assert!(close(l.min, 0.001), "{l:?}");
        assert!(close(l.p50, 5.0), "{l:?}");
        assert!(close(l.p90, 9.0), "{l:?}");
        assert!(close(l.p99, 9.9), "{l:?}");
        assert!(close(l.p999, 9.99), "{l:?}");
        assert!(close(l.max, 10.0), "{l:?}");
        assert!(close(l.mean, 5.0005), "{l:?}");
        // A zero latency is recorded as 1 ns, not lost.
        assert_eq!(s.cmds[1].hist.len(), 1);

        let mut total = Stats::new(2);
        total.merge(&s);
        total.merge(&s);
        assert_eq!(total.cmds[0].ops, 20_000);
        assert_eq!(total.cmds[0].hits, 20_000);
        assert_eq!(total.ops(), 20_002);
        assert_eq!(Latency::of(&total.cmds[0].hist), l);
        assert_eq!(total.all_latencies().len(), 20_002);
        s.record_error(0, 5, || "ERR x".into());
        s.record_error(0, 5, || unreachable!("only the first text is kept"));
        assert_eq!(s.cmds[0].first_error.as_deref(), Some("ERR x"));
        total.reset();
        assert_eq!(total.ops(), 0);
        assert!(total.cmds[0].hist.is_empty());
        // Beyond 60 s saturates instead of failing.
        total.record(0, u64::MAX, 0, 0);
        assert_eq!(total.cmds[0].hist.len(), 1);
    }
}

//! Counters of a cache, readable in code ([`Metrics::snapshot`]) and as
//! Prometheus text ([`Metrics::prometheus`]).
//!
//! Counters are relaxed atomics (one `fetch_add` each on the hot path); load
//! latencies go to an HDR histogram in microseconds (3 significant digits)
//! behind a mutex taken once per load, which is rare next to hits. A small
//! sampled space-saving table remembers the hottest keys for warm-up.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Live counters; shared by a cache and the write-behind queues built on it.
pub struct Metrics {
    pub(crate) hits: AtomicU64,
    pub(crate) near_hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale_hits: AtomicU64,
    pub(crate) stale_if_error: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) load_errors: AtomicU64,
    pub(crate) early_refreshes: AtomicU64,
    pub(crate) stampede_waits: AtomicU64,
    pub(crate) lease_contention: AtomicU64,
    pub(crate) cache_errors: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) wb_queue_depth: AtomicI64,
    pub(crate) wb_flush_batches: AtomicU64,
    pub(crate) wb_flushed_ops: AtomicU64,
    pub(crate) wb_flush_errors: AtomicU64,
    load_latency: Mutex<Histogram<u64>>,
    hot: Mutex<HotKeys>,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Fresh values served from the cache server.
    pub hits: u64,
    /// Fresh values served from the in-process near cache.
    pub near_hits: u64,
    pub misses: u64,
    /// Stale values served while a refresh runs (stale-while-revalidate).
    pub stale_hits: u64,
    /// Stale values served because the load failed (stale-if-error).
    pub stale_if_error: u64,
    /// Loader calls, and the failed ones.
    pub loads: u64,
    pub load_errors: u64,
    /// Background refreshes started early (XFetch, refresh-ahead, SWR).
    pub early_refreshes: u64,
    /// Callers that waited for another caller's load (in process or lease).
    pub stampede_waits: u64,
    /// Lease acquisitions that found the lease taken.
    pub lease_contention: u64,
    /// Cache server failures absorbed (served from the database instead).
    pub cache_errors: u64,
    pub invalidations: u64,
    pub wb_queue_depth: i64,
    pub wb_flush_batches: u64,
    pub wb_flushed_ops: u64,
    pub wb_flush_errors: u64,
    pub load_p50_us: u64,
    pub load_p95_us: u64,
    pub load_p99_us: u64,
}

impl Snapshot {
    /// (hits + near hits + stale hits) / lookups; 0 when there were none.
    pub fn hit_ratio(&self) -> f64 {
        let served = self.hits + self.near_hits + self.stale_hits;
        let total = served + self.misses;
        if total == 0 {
            0.0
        } else {
            served as f64 / total as f64
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            hits: AtomicU64::new(0),
            near_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_hits: AtomicU64::new(0),
            stale_if_error: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            load_errors: AtomicU64::new(0),
            early_refreshes: AtomicU64::new(0),
            stampede_waits: AtomicU64::new(0),
            lease_contention: AtomicU64::new(0),
            cache_errors: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            wb_queue_depth: AtomicI64::new(0),
            wb_flush_batches: AtomicU64::new(0),
            wb_flushed_ops: AtomicU64::new(0),
            wb_flush_errors: AtomicU64::new(0),
            load_latency: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid"),
            ),
            hot: Mutex::new(HotKeys::default()),
        }
    }
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Metrics {
    pub(crate) fn record_load(&self, took: Duration) {
        let us = (took.as_micros() as u64).clamp(1, 3_600_000_000);
        let _ = self.load_latency.lock().record(us);
    }

    /// Every 8th lookup feeds the hot-key table.
    pub(crate) fn touch(&self, key: &str) {
        let n = self.hits.load(Relaxed) + self.misses.load(Relaxed) + self.near_hits.load(Relaxed);
        if n % 8 == 0 {
            self.hot.lock().record(key);
        }
    }

    /// The hottest keys seen (sampled), most frequent first.
    pub fn hot_keys(&self, n: usize) -> Vec<String> {
        self.hot.lock().top(n)
    }

    pub fn snapshot(&self) -> Snapshot {
        let h = self.load_latency.lock();
        Snapshot {
            hits: self.hits.load(Relaxed),
            near_hits: self.near_hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            stale_hits: self.stale_hits.load(Relaxed),
            stale_if_error: self.stale_if_error.load(Relaxed),
            loads: self.loads.load(Relaxed),
            load_errors: self.load_errors.load(Relaxed),
            early_refreshes: self.early_refreshes.load(Relaxed),
            stampede_waits: self.stampede_waits.load(Relaxed),
            lease_contention: self.lease_contention.load(Relaxed),
            cache_errors: self.cache_errors.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            wb_queue_depth: self.wb_queue_depth.load(Relaxed),
            wb_flush_batches: self.wb_flush_batches.load(Relaxed),
            wb_flushed_ops: self.wb_flushed_ops.load(Relaxed),
            wb_flush_errors: self.wb_flush_errors.load(Relaxed),
            load_p50_us: h.value_at_quantile(0.50),
            load_p95_us: h.value_at_quantile(0.95),
            load_p99_us: h.value_at_quantile(0.99),
        }
    }

    /// Prometheus text exposition, each series labelled `namespace="..."`.
    pub fn prometheus(&self, namespace: &str) -> String {
        let s = self.snapshot();
        let mut out = String::new();
        let counters: [(&str, &str, u64); 15] = [
            (
                "hits_total",
                "Fresh values served by the cache server",
                s.hits,
            ),
            (
                "near_hits_total",
                "Fresh values served by the near cache",
                s.near_hits,
            ),
            (
                "misses_total",
                "Lookups that found no usable value",
                s.misses,
            ),
            (
                "stale_hits_total",
                "Stale values served while revalidating",
                s.stale_hits,
            ),
            (
                "stale_if_error_total",
                "Stale values served because the load failed",
                s.stale_if_error,
            ),
            ("loads_total", "Loader calls", s.loads),
            ("load_errors_total", "Failed loader calls", s.load_errors),
            (
                "early_refreshes_total",
                "Background refreshes started",
                s.early_refreshes,
            ),
            (
                "stampede_waits_total",
                "Callers that waited for another load",
                s.stampede_waits,
            ),
            (
                "lease_contention_total",
                "Lease acquisitions that found it taken",
                s.lease_contention,
            ),
            (
                "cache_errors_total",
                "Cache server failures absorbed",
                s.cache_errors,
            ),
            (
                "invalidations_total",
                "Invalidations applied",
                s.invalidations,
            ),
            (
                "writebehind_flush_batches_total",
                "Write-behind batches committed",
                s.wb_flush_batches,
            ),
            (
                "writebehind_flushed_ops_total",
                "Write-behind operations committed",
                s.wb_flushed_ops,
            ),
            (
                "writebehind_flush_errors_total",
                "Write-behind batch failures (retried)",
                s.wb_flush_errors,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP larder_cache_{name} {help}");
            let _ = writeln!(out, "# TYPE larder_cache_{name} counter");
            let _ = writeln!(out, "larder_cache_{name}{{namespace=\"{namespace}\"}} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP larder_cache_writebehind_queue_depth Operations waiting to be flushed"
        );
        let _ = writeln!(out, "# TYPE larder_cache_writebehind_queue_depth gauge");
        let _ = writeln!(
            out,
            "larder_cache_writebehind_queue_depth{{namespace=\"{namespace}\"}} {}",
            s.wb_queue_depth
        );
        let _ = writeln!(
            out,
            "# HELP larder_cache_load_seconds Loader latency quantiles"
        );
        let _ = writeln!(out, "# TYPE larder_cache_load_seconds summary");
        for (q, us) in [
            ("0.5", s.load_p50_us),
            ("0.95", s.load_p95_us),
            ("0.99", s.load_p99_us),
        ] {
            let _ = writeln!(
                out,
                "larder_cache_load_seconds{{namespace=\"{namespace}\",quantile=\"{q}\"}} {}",
                us as f64 / 1e6
            );
        }
        let _ = writeln!(
            out,
            "larder_cache_load_seconds_count{{namespace=\"{namespace}\"}} {}",
            s.loads
        );
        out
    }
}

/// Space-saving top-k over a sample of lookups: at most `CAP` counters;
/// a new key replaces the smallest counter and inherits its count.
#[derive(Default)]
struct HotKeys {
    counts: HashMap<String, u64>,
}

const HOT_CAP: usize = 256;

impl HotKeys {
    fn record(&mut self, key: &str) {
        if let Some(c) = self.counts.get_mut(key) {
            *c += 1;
            return;
        }
        let mut base = 0;
        if self.counts.len() >= HOT_CAP {
            if let Some((k, c)) = self
                .counts
                .iter()
                .min_by_key(|e| *e.1)
                .map(|(k, c)| (k.clone(), *c))
            {
                self.counts.remove(&k);
                base = c;
            }
        }
        self.counts.insert(key.to_string(), base + 1);
    }

    fn top(&self, n: usize) -> Vec<String> {
        let mut v: Vec<(&String, &u64)> = self.counts.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(n).map(|(k, _)| k.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_prometheus_and_hot_keys() {
        let m = Metrics::default();
        inc(&m.hits);
        inc(&m.misses);
        m.record_load(Duration::from_millis(3));
        let s = m.snapshot();
        assert_eq!((s.hits, s.misses), (1, 1));
        assert!(
            (2_990..=3_010).contains(&s.load_p99_us),
            "{}",
            s.load_p99_us
        );
        assert_eq!(s.hit_ratio(), 0.5);
        let text = m.prometheus("users");
        assert!(
            text.contains("larder_cache_hits_total{namespace=\"users\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("quantile=\"0.99\"} 0.003"), "{text}");
        let mut h = HotKeys::default();
        for i in 0..1000 {
            h.record(if i % 2 == 0 { "hot" } else { "warm" });
            h.record(&format!("cold{i}"));
        }
        assert_eq!(h.top(2), vec!["hot".to_string(), "warm".to_string()]);
    }
}

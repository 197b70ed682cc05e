//! Measuring phases and printing the before/after table.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies of one phase, recorded from many tasks (microseconds).
#[derive(Clone)]
pub struct Latencies(Arc<std::sync::Mutex<Histogram<u64>>>);

impl Latencies {
    pub fn new() -> Latencies {
        Latencies(Arc::new(std::sync::Mutex::new(
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("static bounds"),
        )))
    }

    pub fn record(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        if let Ok(mut h) = self.0.lock() {
            let _ = h.record(us);
        }
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0
            .lock()
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
            .unwrap_or(0.0)
    }

    pub fn count(&self) -> u64 {
        self.0.lock().map(|h| h.len()).unwrap_or(0)
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

/// One row of the table.
pub struct Row {
    pub phase: String,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub per_sec: f64,
    /// None for "database only".
    pub hit_rate: Option<f64>,
    pub db_queries: u64,
    /// A demo-specific column (e.g. loads per expiry).
    pub extra: Option<String>,
}

/// Runs `n` requests, `concurrency` at a time; `req(i)` is one request.
/// A failed request is reported on stderr and still timed. Returns the
/// latencies and the wall time.
pub async fn drive<F, Fut, E>(n: usize, concurrency: usize, req: F) -> (Latencies, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let lat = Latencies::new();
    let req = Arc::new(req);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (lat, req, next) = (lat.clone(), req.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                if let Err(e) = req(i).await {
                    eprintln!("request {i}: {e}");
                }
                lat.record(t.elapsed());
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (lat, start.elapsed())
}

impl Row {
    pub fn new(
        phase: &str,
        lat: &Latencies,
        wall: Duration,
        hit_rate: Option<f64>,
        db_queries: u64,
    ) -> Row {
        let requests = lat.count();
        Row {
            phase: phase.to_string(),
            requests,
            p50_ms: lat.quantile_ms(0.50),
            p99_ms: lat.quantile_ms(0.99),
            per_sec: requests as f64 / wall.as_secs_f64().max(1e-9),
            hit_rate,
            db_queries,
            extra: None,
        }
    }

    pub fn with_extra(mut self, s: impl Into<String>) -> Row {
        self.extra = Some(s.into());
        self
    }
}

/// Prints the table; `extra` names the demo-specific column, if any.
pub fn print_table(rows: &[Row], extra: Option<&str>) {
    let w = rows.iter().map(|r| r.phase.len()).max().unwrap_or(5).max(5);
    print!(
        "{:<w$}  {:>8}  {:>9}  {:>9}  {:>9}  {:>8}  {:>10}",
        "phase", "requests", "p50 ms", "p99 ms", "req/s", "hit rate", "DB queries"
    );
    if let Some(e) = extra {
        print!("  {e}");
    }
    println!();
    for r in rows {
        let hit = r
            .hit_rate
            .map_or("-".to_string(), |h| format!("{:.1}%", h * 100.0));
        print!(
            "{:<w$}  {:>8}  {:>9.3}  {:>9.3}  {:>9.0}  {:>8}  {:>10}",
            r.phase, r.requests, r.p50_ms, r.p99_ms, r.per_sec, hit, r.db_queries
        );
        if let Some(e) = &r.extra {
            print!("  {e}");
        }
        println!();
    }
    println!();
}

/// Prints the check's outcome; Err makes the demo exit non-zero.
pub fn check(ok: bool, what: &str) -> anyhow::Result<()> {
    if ok {
        println!("check: {what}: OK");
        Ok(())
    } else {
        println!("check: {what}: FAILED");
        anyhow::bail!("correctness check failed: {what}")
    }
}

pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

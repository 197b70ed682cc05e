//! Write-behind: batching, coalescing, backpressure, retries while the
//! database fails, flush on shutdown, and the durable queue surviving an
//! application crash.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_cache::{
    BoxError, Cache, Error, Loader, SqlStore, WriteBehind, WriteBehindConfig, WriteOp, Writer,
};

/// A SqlStore whose writes fail while `failing > 0` (each failure
/// decrements it) and can be slowed down; counts batches.
#[derive(Clone)]
struct Flaky {
    db: SqlStore,
    failing: Arc<AtomicUsize>,
    delay: Duration,
    batches: Arc<AtomicUsize>,
    ops: Arc<AtomicUsize>,
}

impl Flaky {
    async fn new(fail: usize, delay: Duration) -> Flaky {
        Flaky {
            db: common::sqlite("wb").await,
            failing: Arc::new(AtomicUsize::new(fail)),
            delay,
            batches: Arc::new(AtomicUsize::new(0)),
            ops: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn db_value(&self, key: &str) -> Option<u64> {
        self.db
            .get_raw(key)
            .await
            .unwrap()
            .map(|v| v.parse().unwrap())
    }
}

impl Loader<u64> for Flaky {
    async fn load(&self, key: &str) -> Result<u64, BoxError> {
        self.db.load(key).await
    }
}

impl Writer<u64> for Flaky {
    async fn write(&self, key: &str, v: &u64) -> Result<(), BoxError> {
        self.write_batch(&[WriteOp::Put(key.to_string(), *v)]).await
    }
    async fn delete(&self, key: &str) -> Result<(), BoxError> {
        self.write_batch(&[WriteOp::Delete(key.to_string())]).await
    }
    async fn write_batch(&self, ops: &[WriteOp<u64>]) -> Result<(), BoxError> {
        tokio::time::sleep(self.delay).await;
        if self
            .failing
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("database unavailable".into());
        }
        self.batches.fetch_add(1, SeqCst);
        self.ops.fetch_add(ops.len(), SeqCst);
        self.db.write_batch(ops).await
    }
}

fn cfg() -> WriteBehindConfig {
    WriteBehindConfig {
        batch_size: 50,
        max_delay: Duration::from_millis(20),
        capacity: 1000,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(50),
        durable: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_coalesces_and_flushes_on_shutdown() {
    for srv in common::servers() {
        let store = Flaky::new(0, Duration::ZERO).await;
        let c = Cache::builder(common::ns("wb"))
            .server(srv.url())
            .build()
            .unwrap();
        let wb = WriteBehind::new(c.clone(), store.clone(), cfg()).unwrap();
        // 1000 writes over 20 keys: acknowledged fast, visible at once.
        for i in 0..1000u64 {
            wb.write(&format!("k{}", i % 20), &i).await.unwrap();
        }
        assert_eq!(c.get::<u64>("k19").await.unwrap(), Some(999));
        assert_eq!(wb.get("k0").await.unwrap(), 980);
        wb.delete("k5").await.unwrap();
        wb.shutdown(Duration::from_secs(5)).await.unwrap();
        for k in 0..20u64 {
            let expect = if k == 5 { None } else { Some(980 + k) };
            assert_eq!(
                store.db_value(&format!("k{k}")).await,
                expect,
                "{}",
                srv.name()
            );
        }
        let flushed = store.ops.load(SeqCst);
        assert!(
            flushed < 1001,
            "coalesced: {flushed} database writes for 1001"
        );
        let m = c.metrics().snapshot();
        assert_eq!(m.wb_queue_depth, 0);
        assert_eq!(m.wb_flushed_ops, flushed as u64);
        assert!(matches!(wb.write("k", &1).await, Err(Error::Closed)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_failures_are_retried_and_nothing_acknowledged_is_lost() {
    let srv = common::larder();
    let store = Flaky::new(5, Duration::ZERO).await;
    let c = Cache::builder(common::ns("wbfail"))
        .server(srv.url())
        .build()
        .unwrap();
    let wb = WriteBehind::new(c.clone(), store.clone(), cfg()).unwrap();
    for i in 0..200u64 {
        wb.write(&format!("k{i}"), &i).await.unwrap();
    }
    wb.shutdown(Duration::from_secs(10)).await.unwrap();
    for i in 0..200u64 {
        assert_eq!(store.db_value(&format!("k{i}")).await, Some(i));
    }
    let m = c.metrics().snapshot();
    assert_eq!(m.wb_flush_errors, 5);
    assert_eq!(m.wb_flushed_ops, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_queue_applies_backpressure() {
    let srv = common::larder();
    let store = Flaky::new(0, Duration::from_millis(30)).await;
    let c = Cache::builder(common::ns("wbbp"))
        .server(srv.url())
        .build()
        .unwrap();
    let mut config = cfg();
    config.capacity = 10;
    config.batch_size = 10;
    let wb = WriteBehind::new(c.clone(), store.clone(), config).unwrap();
    let t = Instant::now();
    for i in 0..60u64 {
        wb.write(&format!("k{i}"), &i).await.unwrap();
        assert!(wb.depth() <= 20, "queue + one batch in flight");
    }
    // 60 distinct keys through a 10-key queue at 30 ms per batch: writers waited.
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );
    // try_write fails fast when full.
    let mut full = false;
    for i in 100..200u64 {
        if matches!(
            wb.try_write(&format!("k{i}"), &i).await,
            Err(Error::QueueFull)
        ) {
            full = true;
            break;
        }
    }
    assert!(full);
    wb.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(store.db_value("k59").await, Some(59));
}

/// The durable queue: writes acknowledged while the database is down, then
/// the application "crashes" (flusher aborted mid-retry, a batch stuck in
/// its processing list). A new process with the same consumer name commits
/// everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_queue_survives_an_application_crash() {
    for srv in common::servers() {
        let ns = common::ns("wbdur");
        let mut config = cfg();
        config.durable = Some("worker-1".into());
        config.batch_size = 20;
        let dead = Flaky::new(usize::MAX, Duration::ZERO).await;
        let c = Cache::builder(&ns).server(srv.url()).build().unwrap();
        let wb = WriteBehind::new(c.clone(), dead.clone(), config.clone()).unwrap();
        for i in 0..100u64 {
            wb.write(&format!("k{}", i % 70), &i).await.unwrap();
        }
        assert_eq!(c.get::<u64>("k0").await.unwrap(), Some(70));
        tokio::time::sleep(Duration::from_millis(100)).await;
        wb.abort(); // crash: nothing flushed, one batch in "processing"
        drop(wb);
        assert_eq!(dead.ops.load(SeqCst), 0);

        // Restart with a working database (same SQLite file).
        let alive = Flaky {
            failing: Arc::new(AtomicUsize::new(0)),
            ..dead.clone()
        };
        let c2 = Cache::builder(&ns).server(srv.url()).build().unwrap();
        let wb2 = WriteBehind::new(c2, alive.clone(), config).unwrap();
        wb2.shutdown(Duration::from_secs(10)).await.unwrap();
        for k in 0..70u64 {
            let expect = if k < 30 { k + 70 } else { k };
            assert_eq!(
                alive.db_value(&format!("k{k}")).await,
                Some(expect),
                "{}: k{k}",
                srv.name()
            );
        }
        // Queue and processing list are empty.
        let mut conn = redis::Client::open(srv.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        for key in [
            format!("{ns}:~wb:queue"),
            format!("{ns}:~wb:processing:worker-1"),
        ] {
            let n: i64 = redis::cmd("LLEN")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(n, 0, "{key}");
        }
    }
}

/// With the cache server gone, a durable queue cannot hold the write: it
/// is written through to the database synchronously instead, so the
/// acknowledgement still means "stored".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_write_falls_back_to_the_database_when_the_cache_is_down() {
    let mut srv = common::larder();
    let store = Flaky::new(0, Duration::ZERO).await;
    let c = Cache::builder(common::ns("wbdown"))
        .server(srv.url())
        .timeouts(Duration::from_millis(200), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut config = cfg();
    config.durable = Some("w".into());
    let wb = WriteBehind::new(c.clone(), store.clone(), config).unwrap();
    wb.write("a", &1).await.unwrap();
    srv.kill();
    wb.write("b", &2).await.unwrap();
    assert_eq!(
        store.db_value("b").await,
        Some(2),
        "written through at once"
    );
    assert_eq!(wb.get("b").await.unwrap(), 2);
    assert!(c.pending_invalidations() > 0);
}

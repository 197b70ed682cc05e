//! Write-behind test support shared by tests/write_behind.rs and
//! tests/cluster.rs: a database that fails on demand, and the durable-queue
//! crash scenario.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use larder_cache::{BoxError, Loader, SqlStore, WriteBehind, WriteBehindConfig, WriteOp, Writer};
use redis::aio::ConnectionLike;

/// A SqlStore whose writes fail while `failing > 0` (each failure
/// decrements it) and can be slowed down; counts batches.
#[derive(Clone)]
pub struct Flaky {
    pub db: SqlStore,
    pub failing: Arc<AtomicUsize>,
    pub delay: Duration,
    pub batches: Arc<AtomicUsize>,
    pub ops: Arc<AtomicUsize>,
}

impl Flaky {
    pub async fn sqlite(fail: usize, delay: Duration) -> Flaky {
        Flaky::over(super::sqlite("wb").await, fail, delay)
    }

    pub fn over(db: SqlStore, fail: usize, delay: Duration) -> Flaky {
        Flaky {
            db,
            failing: Arc::new(AtomicUsize::new(fail)),
            delay,
            batches: Arc::new(AtomicUsize::new(0)),
            ops: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub async fn db_value(&self, key: &str) -> Option<u64> {
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

pub fn cfg() -> WriteBehindConfig {
    WriteBehindConfig {
        batch_size: 50,
        max_delay: Duration::from_millis(20),
        capacity: 1000,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(50),
        durable: None,
    }
}

/// The durable queue: writes acknowledged while the database is down, then
/// the application "crashes" (flusher aborted mid-retry, a batch stuck in
/// its processing list). A new process with the same consumer name commits
/// everything, and leaves `queues` (the queue and processing list, read
/// over `conn`) empty. `builder` makes the caches of both runs (one
/// namespace).
pub async fn durable_crash_and_recovery(
    builder: impl Fn() -> larder_cache::CacheBuilder,
    store: SqlStore,
    mut conn: impl ConnectionLike + Send,
    queues: [String; 2],
    what: &str,
) {
    let mut config = cfg();
    config.durable = Some("worker-1".into());
    config.batch_size = 20;
    let dead = Flaky::over(store, usize::MAX, Duration::ZERO);
    let c = builder().build().unwrap();
    let wb = WriteBehind::new(c.clone(), dead.clone(), config.clone()).unwrap();
    for i in 0..100u64 {
        wb.write(&format!("k{}", i % 70), &i).await.unwrap();
    }
    assert_eq!(c.get::<u64>("k0").await.unwrap(), Some(70));
    tokio::time::sleep(Duration::from_millis(100)).await;
    wb.abort(); // crash: nothing flushed, one batch in "processing"
    drop(wb);
    assert_eq!(dead.ops.load(SeqCst), 0);

    // Restart with a working database (same table).
    let alive = Flaky {
        failing: Arc::new(AtomicUsize::new(0)),
        ..dead.clone()
    };
    let c2 = builder().build().unwrap();
    let wb2 = WriteBehind::new(c2, alive.clone(), config).unwrap();
    wb2.shutdown(Duration::from_secs(10)).await.unwrap();
    for k in 0..70u64 {
        let expect = if k < 30 { k + 70 } else { k };
        assert_eq!(
            alive.db_value(&format!("k{k}")).await,
            Some(expect),
            "{what}: k{k}"
        );
    }
    // Queue and processing list are empty.
    for key in queues {
        let n: i64 = redis::cmd("LLEN")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "{what}: {key}");
    }
}

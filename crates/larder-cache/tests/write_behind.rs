//! Write-behind: batching, coalescing, backpressure, retries while the
//! database fails, flush on shutdown, and the durable queue surviving an
//! application crash; on SQLite and PostgreSQL.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use common::wb::{cfg, durable_crash_and_recovery, Flaky};
use larder_cache::{Cache, Error, WriteBehind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_coalesces_and_flushes_on_shutdown() {
    for srv in common::servers() {
        for (db, store) in common::databases("wbco").await {
            coalesce_and_flush(&srv, db, Flaky::over(store, 0, Duration::ZERO)).await;
        }
    }
}

async fn coalesce_and_flush(srv: &common::Server, db: &str, store: Flaky) {
    let c = srv.builder(&common::ns("wb")).build().unwrap();
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
            "{} + {db}",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_failures_are_retried_and_nothing_acknowledged_is_lost() {
    let srv = common::larder();
    for (db, store) in common::databases("wbfail").await {
        retried_until_committed(&srv, db, Flaky::over(store, 5, Duration::ZERO)).await;
    }
}

async fn retried_until_committed(srv: &common::Server, db: &str, store: Flaky) {
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
        assert_eq!(store.db_value(&format!("k{i}")).await, Some(i), "{db}");
    }
    let m = c.metrics().snapshot();
    assert_eq!(m.wb_flush_errors, 5);
    assert_eq!(m.wb_flushed_ops, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_queue_applies_backpressure() {
    let srv = common::larder();
    let store = Flaky::sqlite(0, Duration::from_millis(30)).await;
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
        for (db, store) in common::databases("wbdur").await {
            let ns = common::ns("wbdur");
            let build = || srv.builder(&ns);
            let conn = redis::Client::open(srv.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let queues = [
                format!("{ns}:~wb:queue"),
                format!("{ns}:~wb:processing:worker-1"),
            ];
            let what = format!("{} + {db}", srv.name());
            durable_crash_and_recovery(build, store, conn, queues, &what).await;
        }
    }
}

/// Write-behind on a Redis Cluster: the in-memory queue, and the durable
/// queue (one hash tag for the queue and its processing lists) surviving an
/// application crash, on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_on_a_redis_cluster() {
    let Some(srv) = common::cluster() else { return };
    for (db, store) in common::databases("clwb").await {
        coalesce_and_flush(&srv, db, Flaky::over(store, 0, Duration::ZERO)).await;
    }
    let seeds = srv.seeds();
    for (db, store) in common::databases("cldur").await {
        let ns = common::ns("cldur");
        let build = || srv.builder(&ns);
        let conn = redis::cluster::ClusterClient::new(seeds.clone())
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        let queues = [
            format!("{{{ns}:~wb}}:queue"),
            format!("{{{ns}:~wb}}:processing:worker-1"),
        ];
        let what = format!("cluster + {db}");
        durable_crash_and_recovery(build, store, conn, queues, &what).await;
    }
}

/// With the cache server gone, a durable queue cannot hold the write: it
/// is written through to the database synchronously instead, so the
/// acknowledgement still means "stored".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_write_falls_back_to_the_database_when_the_cache_is_down() {
    let mut srv = common::larder();
    let store = Flaky::sqlite(0, Duration::ZERO).await;
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

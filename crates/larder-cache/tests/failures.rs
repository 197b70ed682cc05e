//! Degradation: the cache server dies, is unreachable, or is slow; reads
//! keep being answered from the database, nothing panics, no error reaches
//! the caller that the database could answer, and the breaker stops the
//! hammering.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_cache::{BoxError, Cache, Invalidation, ReadThrough, WriteThrough};

async fn seeded(n: u64) -> larder_cache::SqlStore {
    let store = common::sqlite("fail").await;
    let rows: Vec<_> = (0..n)
        .map(|i| (format!("k{i}"), Some(i.to_string())))
        .collect();
    store.apply(&rows).await.unwrap();
    store
}

async fn kill_mid_run(mut srv: common::Server) {
    let store = seeded(20).await;
    let c = Cache::builder(common::ns("kill"))
        .server(srv.url())
        .timeouts(Duration::from_millis(200), Duration::from_millis(200))
        .circuit_breaker(3, Duration::from_millis(300))
        .build()
        .unwrap();
    let rt = Arc::new(ReadThrough::<u64, _>::new(c.clone(), store.clone()));
    let wt = WriteThrough::<u64, _>::new(c.clone(), store.clone());
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let rt = rt.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let mut n = 0u64;
                while t.elapsed() < Duration::from_millis(1200) {
                    let k = (n * 7 + r) % 20;
                    let v = rt.get(&format!("k{k}")).await.expect("reads stay answered");
                    assert!(v == k || v == 1000 + k, "k{k} -> {v}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let name = srv.name();
    srv.kill();
    // Writes while the cache is down: committed, invalidation kept pending.
    for k in 0..5u64 {
        wt.put(&format!("k{k}"), &(1000 + k)).await.unwrap();
    }
    for r in readers {
        assert!(r.await.unwrap() > 10);
    }
    let m = c.metrics().snapshot();
    assert!(m.cache_errors > 0, "{name}: {m:?}");
    // Reads after the writes see the new values (from the database).
    for k in 0..5u64 {
        assert_eq!(rt.get(&format!("k{k}")).await.unwrap(), 1000 + k, "{name}");
    }
    // The breaker makes a dead cache cheap: 200 reads in well under the
    // time 200 connect attempts would take.
    let t = Instant::now();
    for i in 0..200u64 {
        rt.get(&format!("k{}", 5 + i % 15)).await.unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{name}: {:?}",
        t.elapsed()
    );
    assert!(c.pending_invalidations() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_killed_mid_run_reads_stay_correct() {
    kill_mid_run(common::larder()).await;
    if let Some(r) = common::redis() {
        kill_mid_run(r).await;
    }
}

/// A cache that comes back: pending invalidations are delivered before the
/// cache serves the key again, so values written during the outage are not
/// shadowed by what was cached before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invalidations_delivered_when_the_cache_returns() {
    let port = common::free_port();
    let mut srv = common::larder_on(port);
    let store = seeded(3).await;
    let c = Cache::builder(common::ns("back"))
        .server(srv.url())
        .timeouts(Duration::from_millis(200), Duration::from_millis(200))
        .circuit_breaker(2, Duration::from_millis(100))
        .build()
        .unwrap();
    let wt = WriteThrough::<u64, _>::new(c.clone(), store.clone());
    assert_eq!(wt.get("k1").await.unwrap(), 1);
    // The same data survives in the cache server across the outage: use a
    // second server process on the same port holding the old value.
    srv.kill();
    wt.put("k1", &42).await.unwrap();
    assert_eq!(c.pending_invalidations(), 1);
    assert_eq!(wt.get("k1").await.unwrap(), 42);
    let srv2 = common::larder_on(port);
    // Simulate the pre-outage value still cached there.
    let mut conn = redis::Client::open(srv2.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stale = {
        let mut e = vec![b'L', 1];
        e.extend_from_slice(&u64::MAX.to_be_bytes());
        e.extend_from_slice(&[0; 8]);
        e.extend_from_slice(b"1");
        e
    };
    let _: () = redis::cmd("SET")
        .arg(c.server_key("k1"))
        .arg(stale)
        .query_async(&mut conn)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.pending_invalidations() > 0 {
        assert!(
            wt.get("k1").await.unwrap() == 42,
            "pending key bypasses the cache"
        );
        assert!(
            Instant::now() < deadline,
            "pending invalidation never delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wt.get("k1").await.unwrap(), 42);
    drop(srv2);
}

/// Nothing listening at all, and a server that accepts but never answers:
/// reads come from the database within the timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_silent_servers() {
    let store = seeded(5).await;
    let dead = format!("redis://127.0.0.1:{}", common::free_port());
    // A listener that accepts connections and never replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let hold = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for s in silent.incoming().take(8) {
            conns.push(s);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    for url in [dead, silent_url] {
        let c = Cache::builder(common::ns("down"))
            .server(url.clone())
            .timeouts(Duration::from_millis(100), Duration::from_millis(100))
            .circuit_breaker(2, Duration::from_secs(10))
            .build()
            .unwrap();
        let rt = ReadThrough::<u64, _>::new(c.clone(), store.clone());
        let t = Instant::now();
        for i in 0..50u64 {
            assert_eq!(rt.get(&format!("k{}", i % 5)).await.unwrap(), i % 5);
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{url}: {:?}",
            t.elapsed()
        );
        assert!(
            c.get::<u64>("k1").await.is_err(),
            "explicit reads report the outage"
        );
        assert!(c.get::<u64>("k1").await.unwrap_err().is_cache_unavailable());
    }
    drop(hold);
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "not reached in 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Losing the invalidation channel (bus subscription, tracking connection)
/// stops the near cache from serving; getting it back flushes it, so no
/// entry survives a message lost in between.
async fn near_cache_survives_channel_loss(
    inv: Invalidation,
    start: fn(u16) -> Option<common::Server>,
) {
    let port = common::free_port();
    let Some(mut srv) = start(port) else { return };
    let c = Cache::builder(common::ns("reconnect"))
        .server(srv.url())
        .near_cache(1 << 20, Duration::from_secs(60))
        .invalidation(inv)
        .timeouts(Duration::from_millis(200), Duration::from_millis(200))
        .circuit_breaker(3, Duration::from_millis(100))
        .build()
        .unwrap();
    wait_until("channel up", || c.near_ready()).await;
    c.set("k", &1u32).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let load = || async { Ok::<u32, BoxError>(0) };
    assert_eq!(c.get_or_load("k", load).await.unwrap(), 1);
    assert_eq!(c.near_len(), 1, "{inv:?}");
    srv.kill();
    wait_until("channel down", || !c.near_ready()).await;
    // Served from the loader now, never from the near copy.
    assert_eq!(c.get_or_load("k", load).await.unwrap(), 0);
    let _srv2 = start(port).expect("restart");
    wait_until("channel back", || c.near_ready()).await;
    assert_eq!(c.near_len(), 0, "{inv:?}: flushed on reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_flushed_when_the_bus_reconnects() {
    near_cache_survives_channel_loss(Invalidation::Bus, |p| Some(common::larder_on(p))).await;
    if common::have_redis() {
        near_cache_survives_channel_loss(Invalidation::Bus, common::redis_on).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_flushed_when_tracking_reconnects() {
    for inv in [Invalidation::Tracking, Invalidation::TrackingRedirect] {
        near_cache_survives_channel_loss(inv, |p| Some(common::larder_on(p))).await;
        if common::have_redis() {
            near_cache_survives_channel_loss(inv, common::redis_on).await;
        }
    }
}

/// RESP2 has no disconnection message: a redirected tracking connection
/// killed on its own (its subscriber stays up, so no message says so) is
/// noticed by the liveness check, and the near cache is flushed before it
/// serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirected_tracking_connection_killed_alone() {
    for srv in common::servers() {
        let c = Cache::builder(common::ns("redir"))
            .server(srv.url())
            .near_cache(1 << 20, Duration::from_secs(60))
            .invalidation(Invalidation::TrackingRedirect)
            .build()
            .unwrap();
        wait_until("tracking up", || c.near_ready()).await;
        c.set("k", &1u32).await.unwrap();
        let load = || async { Ok::<u32, BoxError>(0) };
        assert_eq!(c.get_or_load("k", load).await.unwrap(), 1);
        assert_eq!(c.near_len(), 1, "{}", srv.name());
        let mut conn = redis::Client::open(srv.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut conn)
            .await
            .unwrap();
        // The tracking connection is the one with a redirect target.
        let tracking = list.lines().find_map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(name)?.parse::<i64>().ok())
            };
            (field("redir=")? > 0).then(|| field("id=")).flatten()
        });
        let id =
            tracking.unwrap_or_else(|| panic!("{}: no redirected client in {list}", srv.name()));
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(killed, 1);
        wait_until("flushed", || c.near_len() == 0).await;
        wait_until("tracking back", || c.near_ready()).await;
        // Tracking works again: a foreign write drops the new near copy.
        assert_eq!(c.get_or_load("k", load).await.unwrap(), 1);
        assert_eq!(c.near_len(), 1);
        let _: i64 = redis::cmd("DEL")
            .arg(c.server_key("k"))
            .query_async(&mut conn)
            .await
            .unwrap();
        wait_until("invalidated", || c.near_len() == 0).await;
    }
}

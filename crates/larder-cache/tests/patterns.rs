//! The patterns end to end: against Larder (in process) and real
//! redis-server (peer), with real SQLite stores and, where the database
//! matters, a real PostgreSQL (peer).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_cache::{
    BoxError, Cache, Error, Invalidation, Lease, ReadThrough, SqlStore, Ttl, WriteAround,
    WriteThrough,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_aside_get_set_delete_ttl() {
    for srv in common::servers() {
        cache_aside(&srv).await;
    }
}

async fn cache_aside(srv: &common::Server) {
    let c = srv
        .builder(&common::ns("aside"))
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(c.get::<String>("k").await.unwrap(), None);
    c.set("k", &"v1".to_string()).await.unwrap();
    assert_eq!(c.get::<String>("k").await.unwrap().as_deref(), Some("v1"));
    c.delete("k").await.unwrap();
    assert_eq!(c.get::<String>("k").await.unwrap(), None, "{}", srv.name());

    // get_or_load loads once, then hits.
    let loads = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let l = loads.clone();
        let v: Vec<u32> = c
            .get_or_load("list", move || async move {
                l.fetch_add(1, SeqCst);
                Ok::<_, BoxError>(vec![1, 2, 3])
            })
            .await
            .unwrap();
        assert_eq!(v, vec![1, 2, 3]);
    }
    assert_eq!(loads.load(SeqCst), 1);
    let m = c.metrics().snapshot();
    assert_eq!((m.hits, m.misses, m.loads), (2, 1, 1), "{m:?}");

    // Per-entry TTL (with jitter) beats the namespace TTL.
    c.set_with_ttl("short", &1u8, Duration::from_millis(150))
        .await
        .unwrap();
    c.set_with_ttl(
        "jit",
        &1u8,
        Ttl::new(Duration::from_millis(150)).with_jitter_percent(20.0),
    )
    .await
    .unwrap();
    assert_eq!(c.get::<u8>("short").await.unwrap(), Some(1));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(c.get::<u8>("short").await.unwrap(), None);
    assert_eq!(c.get::<u8>("jit").await.unwrap(), None);

    // A loader error reaches the caller and is not cached.
    let r: Result<u8, Error> = c
        .get_or_load("bad", || async { Err::<u8, _>("boom") })
        .await;
    assert!(matches!(r, Err(Error::Load(_))), "{r:?}");
    let text = c.prometheus();
    assert!(text.contains("larder_cache_load_errors_total"), "{text}");
}

async fn slow_counter_loader(loads: Arc<AtomicUsize>, ms: u64) -> Result<u64, BoxError> {
    let n = loads.fetch_add(1, SeqCst) as u64;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(n)
}

async fn concurrent_misses(caches: &[Cache], readers: usize, loads: &Arc<AtomicUsize>) {
    let mut tasks = Vec::new();
    for i in 0..readers {
        let c = caches[i % caches.len()].clone();
        let l = loads.clone();
        tasks.push(tokio::spawn(async move {
            c.get_or_load("hot", move || slow_counter_loader(l, 100))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_single_flight_and_lease() {
    for srv in common::servers() {
        stampede(&srv).await;
    }
}

async fn stampede(srv: &common::Server) {
    // No protection: many loads.
    let ns = common::ns("stampede");
    let plain = srv.builder(&ns).single_flight(false).build().unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    concurrent_misses(&[plain], 200, &loads).await;
    let unprotected = loads.load(SeqCst);
    assert!(unprotected > 1, "{}: {unprotected}", srv.name());

    // Single-flight: one load per process.
    let ns = common::ns("stampede");
    let sf = srv.builder(&ns).build().unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    concurrent_misses(std::slice::from_ref(&sf), 200, &loads).await;
    assert_eq!(loads.load(SeqCst), 1, "{}", srv.name());
    assert_eq!(sf.metrics().snapshot().stampede_waits, 199);

    // Four "processes" (separate caches): single-flight alone loads up
    // to four times; with the lease, once.
    let ns = common::ns("stampede");
    let procs: Vec<Cache> = (0..4)
        .map(|_| {
            srv.builder(&ns)
                .lease(Lease {
                    ttl: Duration::from_secs(5),
                    max_wait: Duration::from_secs(3),
                })
                .build()
                .unwrap()
        })
        .collect();
    let loads = Arc::new(AtomicUsize::new(0));
    concurrent_misses(&procs, 200, &loads).await;
    assert_eq!(loads.load(SeqCst), 1, "{}: lease", srv.name());
    let contention: u64 = procs
        .iter()
        .map(|c| c.metrics().snapshot().lease_contention)
        .sum();
    assert_eq!(contention, 3, "{}", srv.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_periods_and_early_refresh() {
    for srv in common::servers() {
        grace_and_early_refresh(&srv).await;
    }
}

async fn grace_and_early_refresh(srv: &common::Server) {
    // stale-while-revalidate: an expired value is served at once and
    // refreshed in background.
    let c = srv
        .builder(&common::ns("swr"))
        .ttl(Duration::from_millis(300))
        .stale_while_revalidate(Duration::from_secs(5))
        .stale_if_error(Duration::from_secs(5))
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let l = loads.clone();
    let first: u64 = c
        .get_or_load("k", move || slow_counter_loader(l, 0))
        .await
        .unwrap();
    assert_eq!(first, 0);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let l = loads.clone();
    let t = Instant::now();
    let stale: u64 = c
        .get_or_load("k", move || slow_counter_loader(l, 200))
        .await
        .unwrap();
    assert_eq!(stale, 0, "stale value served");
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let fresh: Option<u64> = c.get("k").await.unwrap();
    assert_eq!(fresh, Some(1), "{}: refreshed in background", srv.name());
    assert!(c.metrics().snapshot().stale_hits >= 1);

    // stale-if-error: past the TTL with the database failing, the
    // stale value is served; without grace, the error.
    let c = srv
        .builder(&common::ns("sie"))
        .ttl(Duration::from_millis(100))
        .stale_if_error(Duration::from_secs(5))
        .build()
        .unwrap();
    c.get_or_load("k", || async { Ok::<_, BoxError>(7u8) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let v: u8 = c
        .get_or_load("k", || async { Err::<u8, _>("db down") })
        .await
        .unwrap();
    assert_eq!(v, 7);
    assert_eq!(c.metrics().snapshot().stale_if_error, 1);

    // XFetch: a value that takes 100 ms to compute, TTL 400 ms, β = 3:
    // readers near expiry trigger a refresh before it expires, so no
    // reader sees a miss after the first load.
    let c = srv
        .builder(&common::ns("xfetch"))
        .ttl(Duration::from_millis(400))
        .xfetch(3.0)
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < deadline {
        let l = loads.clone();
        c.get_or_load("k", move || slow_counter_loader(l, 100))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let m = c.metrics().snapshot();
    assert!(m.early_refreshes >= 1, "{}: {m:?}", srv.name());
    assert!(
        m.misses <= 2,
        "{}: early refresh keeps it warm: {m:?}",
        srv.name()
    );

    // Refresh-ahead: refresh when less than half the TTL is left.
    let c = srv
        .builder(&common::ns("ahead"))
        .ttl(Duration::from_millis(300))
        .refresh_ahead(0.5)
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let l = loads.clone();
    c.get_or_load("k", move || slow_counter_loader(l, 0))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let l = loads.clone();
    let v: u64 = c
        .get_or_load("k", move || slow_counter_loader(l, 0))
        .await
        .unwrap();
    assert_eq!(v, 0, "current value returned");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(c.get::<u64>("k").await.unwrap(), Some(1), "refreshed ahead");
}

/// A reader that loaded the old row must not store it after a writer's
/// commit + invalidation (the invalidation counter refuses the fill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_beats_a_racing_fill() {
    for srv in common::servers() {
        for (db, store) in common::databases("race").await {
            racing_fill(&srv, db, store).await;
        }
    }
}

async fn racing_fill(srv: &common::Server, db: &str, store: SqlStore) {
    store
        .apply(&[("k".into(), Some("\"old\"".into()))])
        .await
        .unwrap();
    let c = srv.builder(&common::ns("race")).build().unwrap();
    let wt = WriteThrough::<String, _>::new(c.clone(), store.clone());

    let s2 = store.clone();
    let (read_tx, read_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn({
        let c = c.clone();
        async move {
            c.get_or_load("k", move || async move {
                let v: String = larder_cache::Loader::load(&s2, "k").await?;
                let _ = read_tx.send(());
                // The writer commits and invalidates during this pause.
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, BoxError>(v)
            })
            .await
            .unwrap()
        }
    });
    read_rx.await.unwrap(); // the reader holds the old row
    wt.put("k", &"new".to_string()).await.unwrap();
    assert_eq!(reader.await.unwrap(), "old", "the reader's own answer");
    let cached: Option<String> = c.get("k").await.unwrap();
    assert_ne!(
        cached.as_deref(),
        Some("old"),
        "{} + {db}: stale fill refused",
        srv.name()
    );
    assert_eq!(wt.get("k").await.unwrap(), "new");
}

/// Writers and readers hammer a few keys; after the writers stop, every
/// read returns what the database holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_readers_converge() {
    for srv in common::servers() {
        writers_and_readers(&srv).await;
    }
}

async fn writers_and_readers(srv: &common::Server) {
    let store = common::sqlite("conc").await;
    let ns = common::ns("conc");
    let keys = ["a", "b", "c", "d"];
    let rows: Vec<_> = keys
        .iter()
        .map(|k| (k.to_string(), Some("0".to_string())))
        .collect();
    store.apply(&rows).await.unwrap();
    let mk = || {
        srv.builder(&ns)
            .near_cache(1 << 20, Duration::from_secs(30))
            .invalidation(Invalidation::Bus)
            .build()
            .unwrap()
    };
    let (c1, c2) = (mk(), mk());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let wt = Arc::new(WriteAround::<u64, _>::new(
                if w == 0 { c1.clone() } else { c2.clone() },
                store.clone(),
            ));
            tokio::spawn(async move {
                for i in 0..60u64 {
                    let k = ["a", "b", "c", "d"][(i as usize + w) % 4];
                    wt.put(k, &(i * 10 + w as u64)).await.unwrap();
                }
            })
        })
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let rt = ReadThrough::<u64, _>::new(
                if r % 2 == 0 { c1.clone() } else { c2.clone() },
                store.clone(),
            );
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(SeqCst) {
                    rt.get(["a", "b", "c", "d"][n % 4]).await.unwrap();
                    n += 1;
                    // Near-cache hits never touch the runtime: yield.
                    tokio::task::yield_now().await;
                }
                n
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, SeqCst);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    // Bus messages are asynchronous: give them a moment, then compare.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for c in [&c1, &c2] {
        let rt = ReadThrough::<u64, _>::new(c.clone(), store.clone());
        for k in keys {
            let db: u64 = larder_cache::Loader::load(&store, k).await.unwrap();
            assert_eq!(rt.get(k).await.unwrap(), db, "{}: key {k}", srv.name());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_kept_coherent_by_the_bus() {
    for srv in common::servers() {
        let ns = common::ns("near");
        let mk = || {
            srv.builder(&ns)
                .near_cache(1 << 20, Duration::from_secs(30))
                .invalidation(Invalidation::Bus)
                .build()
                .unwrap()
        };
        near_bus(mk(), mk(), srv.name()).await;
    }
}

/// `a` writes, `b`'s near copy goes (the two share a namespace).
async fn near_bus(a: Cache, b: Cache, what: &str) {
    wait_until(|| a.near_ready() && b.near_ready()).await;
    a.set("k", &1u32).await.unwrap();
    // Let a's own bus message pass before b caches.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let load = || async { Ok::<u32, BoxError>(99) };
    assert_eq!(b.get_or_load("k", load).await.unwrap(), 1);
    assert_eq!(b.get_or_load("k", load).await.unwrap(), 1);
    assert_eq!(b.metrics().snapshot().near_hits, 1);
    assert_eq!(b.near_len(), 1);
    a.set("k", &2u32).await.unwrap();
    wait_until(|| b.near_len() == 0).await;
    assert_eq!(b.get_or_load("k", load).await.unwrap(), 2, "{what}");
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "condition not reached in 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CLIENT TRACKING: a write by a client that does not use the toolkit at
/// all (plain SET) drops the near copy; over RESP3 pushes and over RESP2
/// with REDIRECT to a subscribed connection. Runs on Larder and
/// redis-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_kept_coherent_by_client_tracking() {
    for srv in common::servers() {
        for mode in [Invalidation::Tracking, Invalidation::TrackingRedirect] {
            client_tracking(&srv, mode).await;
        }
    }
}

async fn client_tracking(srv: &common::Server, mode: Invalidation) {
    let client = redis::Client::open(format!("{}/?protocol=resp3", srv.url())).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let probe: redis::RedisResult<()> = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .query_async(&mut raw)
        .await;
    if probe.is_err() {
        eprintln!("SKIP: {} does not support CLIENT TRACKING yet", srv.name());
        return;
    }
    let _: redis::RedisResult<()> = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("OFF")
        .query_async(&mut raw)
        .await;
    let ns = common::ns("track");
    let c = srv
        .builder(&ns)
        .near_cache(1 << 20, Duration::from_secs(30))
        .invalidation(mode)
        .build()
        .unwrap();
    wait_until(|| c.near_ready()).await;
    c.set("k", &1u32).await.unwrap();
    let load = || async { Ok::<u32, BoxError>(99) };
    assert_eq!(c.get_or_load("k", load).await.unwrap(), 1);
    assert_eq!(c.near_len(), 1);
    assert_eq!(c.get_or_load("k", load).await.unwrap(), 1);
    assert_eq!(c.metrics().snapshot().near_hits, 1);
    // A foreign writer: the server pushes the invalidation.
    let env = {
        let mut e = vec![b'L', 1];
        e.extend_from_slice(&u64::MAX.to_be_bytes());
        e.extend_from_slice(&[0; 8]);
        e.extend_from_slice(b"5");
        e
    };
    let _: () = redis::cmd("SET")
        .arg(c.server_key("k"))
        .arg(env)
        .query_async(&mut raw)
        .await
        .unwrap();
    wait_until(|| c.near_len() == 0).await;
    assert_eq!(
        c.get_or_load("k", load).await.unwrap(),
        5,
        "{} {mode:?}",
        srv.name()
    );
    // FLUSHALL: a null invalidation flushes everything.
    assert_eq!(c.get_or_load("k", load).await.unwrap(), 5);
    assert_eq!(c.near_len(), 1);
    let _: () = redis::cmd("FLUSHALL").query_async(&mut raw).await.unwrap();
    wait_until(|| c.near_len() == 0).await;
    eprintln!("CLIENT TRACKING ({mode:?}) verified on {}", srv.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_through_and_around() {
    for srv in common::servers() {
        for (db, store) in common::databases("wt").await {
            through_and_around(&srv, db, store).await;
        }
    }
}

async fn through_and_around(srv: &common::Server, db: &str, store: SqlStore) {
    let c = srv.builder(&common::ns("wt")).build().unwrap();
    let wt = WriteThrough::<String, _>::new(c.clone(), store.clone());
    wt.put("u1", &"ada".to_string()).await.unwrap();
    // Refilled from the database after the commit: the next read hits.
    assert_eq!(c.get::<String>("u1").await.unwrap().as_deref(), Some("ada"));
    assert_eq!(wt.get("u1").await.unwrap(), "ada");
    wt.put("u1", &"grace".to_string()).await.unwrap();
    assert_eq!(wt.get("u1").await.unwrap(), "grace");
    wt.remove("u1").await.unwrap();
    assert!(matches!(wt.get("u1").await, Err(Error::Load(_))));

    let c = srv.builder(&common::ns("wa")).build().unwrap();
    let wa = WriteAround::<String, _>::new(c.clone(), store.clone());
    wa.put("u2", &"x".to_string()).await.unwrap();
    assert_eq!(
        c.get::<String>("u2").await.unwrap(),
        None,
        "not filled on write"
    );
    assert_eq!(wa.get("u2").await.unwrap(), "x");
    assert_eq!(c.get::<String>("u2").await.unwrap().as_deref(), Some("x"));
    wa.put("u2", &"y".to_string()).await.unwrap();
    assert_eq!(wa.get("u2").await.unwrap(), "y");
    let stored: Option<String> = store.get_raw("u2").await.unwrap();
    assert_eq!(stored.as_deref(), Some("\"y\""), "{} + {db}", srv.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_and_hot_keys() {
    let srv = common::larder();
    let c = srv.builder(&common::ns("warm")).build().unwrap();
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    let mut seen = Vec::new();
    let n = c
        .warm_up(
            keys,
            8,
            |k: String| async move { Ok::<_, BoxError>(k.len()) },
            |done, total| seen.push((done, total)),
        )
        .await;
    assert_eq!(n, 50);
    assert_eq!(seen.last(), Some(&(50, 50)));
    assert_eq!(c.get::<usize>("k7").await.unwrap(), Some(2));
    for _ in 0..200 {
        let _: usize = c
            .get_or_load("k1", || async { Ok::<_, BoxError>(0) })
            .await
            .unwrap();
    }
    assert_eq!(c.hot_keys(1), vec!["k1".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_over_two_servers() {
    let (a, b) = (common::larder(), common::larder());
    for sharding in [
        larder_cache::Sharding::Ketama,
        larder_cache::Sharding::Rendezvous,
    ] {
        let c = Cache::builder(common::ns("shard"))
            .server(a.url())
            .server(b.url())
            .sharding(sharding)
            .build()
            .unwrap();
        let mut per_node = [0; 2];
        for i in 0..200 {
            let k = format!("k{i}");
            c.set(&k, &i).await.unwrap();
            per_node[c.node_of(&k)] += 1;
        }
        assert!(per_node[0] > 50 && per_node[1] > 50, "{per_node:?}");
        for i in 0..200 {
            assert_eq!(c.get::<i32>(&format!("k{i}")).await.unwrap(), Some(i));
        }
        // Each key lives only on its node.
        let mut conn = redis::Client::open(a.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let on_a: usize = (0..200)
            .filter(|i| c.node_of(&format!("k{i}")) == 0)
            .count();
        let mut found = 0;
        for i in 0..200 {
            let k = c.server_key(&format!("k{i}"));
            let e: bool = redis::cmd("EXISTS")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            found += e as usize;
        }
        assert_eq!(found, on_a);
    }
}

/// The toolkit on a real Redis Cluster (three masters): the same scenarios
/// as on one server — namespaced get/set/delete, the gen-guarded fill,
/// leases, XFetch, grace periods, write-through/around on both databases,
/// the near cache over the bus — plus the keys' spread over the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_on_a_redis_cluster() {
    let Some(srv) = common::cluster() else { return };
    cache_aside(&srv).await;
    stampede(&srv).await;
    grace_and_early_refresh(&srv).await;
    for (db, store) in common::databases("clrace").await {
        racing_fill(&srv, db, store).await;
    }
    for (db, store) in common::databases("clwt").await {
        through_and_around(&srv, db, store).await;
    }
    writers_and_readers(&srv).await;

    // The bus: `a` subscribes on the first node, `b` on the last; the
    // cluster broadcasts every PUBLISH to all nodes, so both hear it.
    let ns = common::ns("clnear");
    let mk = |seeds: Vec<String>| {
        Cache::builder(&ns)
            .cluster(seeds)
            .near_cache(1 << 20, Duration::from_secs(30))
            .invalidation(Invalidation::Bus)
            .build()
            .unwrap()
    };
    let mut rotated = srv.seeds();
    rotated.rotate_left(2);
    near_bus(mk(srv.seeds()), mk(rotated), "cluster").await;

    // Values spread over the nodes; each value and its counter share a
    // hash tag, whatever the key holds (braces, nothing at all).
    let ns = common::ns("clspread");
    let c = srv.builder(&ns).build().unwrap();
    assert_eq!(c.server_key("k"), format!("{{{ns}:k}}"));
    for i in 0..100 {
        c.set(&format!("k{i}"), &i).await.unwrap();
    }
    for k in ["", "}", "{", "a}b{c", "{x}", "~"] {
        c.set(k, &k.len()).await.unwrap();
        assert_eq!(c.get::<usize>(k).await.unwrap(), Some(k.len()), "key {k:?}");
        let n: usize = c
            .get_or_load(k, || async { Ok::<_, BoxError>(0) })
            .await
            .unwrap();
        assert_eq!(n, k.len());
        c.delete(k).await.unwrap();
        assert_eq!(c.get::<usize>(k).await.unwrap(), None, "key {k:?}");
    }
    let mut holding = 0;
    for url in srv.seeds() {
        let mut node = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let n: i64 = redis::cmd("DBSIZE").query_async(&mut node).await.unwrap();
        holding += (n > 0) as usize;
    }
    assert_eq!(holding, 3, "values on every node");
    for i in 0..100 {
        assert_eq!(c.get::<i32>(&format!("k{i}")).await.unwrap(), Some(i));
    }
}

#[test]
fn build_outside_a_runtime_is_an_error_not_a_panic() {
    let r = Cache::builder("x").server("redis://127.0.0.1:1").build();
    assert!(matches!(r, Err(Error::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_rejects_bad_settings() {
    let bad = |b: larder_cache::CacheBuilder| matches!(b.build(), Err(Error::Config(_)));
    assert!(bad(Cache::builder("x")));
    assert!(bad(Cache::builder("a:b").server("redis://127.0.0.1:1")));
    assert!(bad(Cache::builder("x")
        .server("redis://127.0.0.1:1")
        .near_cache(1000, Duration::from_secs(1))));
    assert!(bad(Cache::builder("x")
        .server("redis://127.0.0.1:1")
        .cluster(["redis://127.0.0.1:2"])));
    for tracking in [Invalidation::Tracking, Invalidation::TrackingRedirect] {
        assert!(bad(Cache::builder("x")
            .cluster(["redis://127.0.0.1:1"])
            .near_cache(1000, Duration::from_secs(1))
            .invalidation(tracking)));
    }
    let _: Option<SqlStore> = None;
}

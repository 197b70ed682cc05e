//! `larder demo stampede`: a hot key expiring under 1,000 concurrent readers.
//!
//! The hot value is a real aggregate over a real table (`GROUP BY` over
//! 25,000 events: tens of milliseconds in SQLite). Each round loads it with
//! a 1 s TTL, then 1,000 readers arrive spread over ±150 ms around the
//! expiry — the moment a stampede happens. Rows: the database alone, then
//! the cache with each protection off/on; "DB loads/expiry" is the number
//! of times the aggregate was recomputed per expiry. Four cache instances
//! stand for four application processes where a row says so.
//!
//! Check: every reader got the right aggregate; with single-flight in one
//! process, and with the lease across four, exactly one load per expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use larder_cache::{BoxError, Cache, Lease};

use crate::env::{Db, Env};
use crate::report::{check, print_table, Latencies, Row};

const EVENTS: i64 = 25_000;
const READERS: usize = 1_000;
const TTL: Duration = Duration::from_secs(1);
const SPREAD_MS: u64 = 300;

type Summary = Vec<(String, i64, i64, i64)>;

async fn aggregate(db: Db) -> Result<Summary, BoxError> {
    db.tick().await;
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT kind, COUNT(*), SUM(amount), MAX(amount) FROM events GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows)
}

struct Config {
    name: &'static str,
    procs: usize,
    single_flight: bool,
    lease: bool,
    swr: bool,
    xfetch: bool,
}

pub async fn run(env: &Env, requests: usize) -> Result<()> {
    env.header("stampede: a hot key expiring under 1,000 concurrent readers");
    setup(&env.db).await?;
    let expected = aggregate(env.db.clone())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let rounds = (requests / READERS).max(1);
    println!(
        "hot value: GROUP BY over {EVENTS} rows; TTL {} ms; {READERS} readers per expiry arriving over ±{} ms; {rounds} expiries per row\n",
        TTL.as_millis(),
        SPREAD_MS / 2
    );

    let mut rows = Vec::new();
    let mut ok = true;
    // Database only (one round: it is slow).
    {
        let lat = Latencies::new();
        let q0 = env.db.queries();
        let t = Instant::now();
        let wrong = burst(&lat, Instant::now() + Duration::from_millis(10), {
            let db = env.db.clone();
            let expected = expected.clone();
            move || {
                let (db, expected) = (db.clone(), expected.clone());
                async move { aggregate(db).await.ok().as_ref() == Some(&expected) }
            }
        })
        .await;
        ok &= wrong == 0;
        rows.push(
            Row::new(
                "database only",
                &lat,
                t.elapsed(),
                None,
                env.db.queries() - q0,
            )
            .with_extra(format!("{READERS}")),
        );
    }

    let configs = [
        Config {
            name: "cache, no protection",
            procs: 1,
            single_flight: false,
            lease: false,
            swr: false,
            xfetch: false,
        },
        Config {
            name: "single-flight",
            procs: 1,
            single_flight: true,
            lease: false,
            swr: false,
            xfetch: false,
        },
        Config {
            name: "single-flight, 4 processes",
            procs: 4,
            single_flight: true,
            lease: false,
            swr: false,
            xfetch: false,
        },
        Config {
            name: "+ lease, 4 processes",
            procs: 4,
            single_flight: true,
            lease: true,
            swr: false,
            xfetch: false,
        },
        Config {
            name: "+ lease + XFetch (β=1), 4 proc.",
            procs: 4,
            single_flight: true,
            lease: true,
            swr: false,
            xfetch: true,
        },
        Config {
            name: "+ lease + stale-while-revalidate",
            procs: 4,
            single_flight: true,
            lease: true,
            swr: true,
            xfetch: false,
        },
    ];
    for (i, cfg) in configs.iter().enumerate() {
        let ns = format!("stampede{i}");
        let caches: Vec<Cache> = (0..cfg.procs)
            .map(|_| {
                let mut b = Cache::builder(&ns)
                    .server(&env.cache_url)
                    .ttl(TTL)
                    .single_flight(cfg.single_flight);
                if cfg.lease {
                    b = b.lease(Lease {
                        ttl: Duration::from_secs(5),
                        max_wait: Duration::from_secs(5),
                    });
                }
                if cfg.swr {
                    b = b.stale_while_revalidate(Duration::from_secs(10));
                }
                if cfg.xfetch {
                    b = b.xfetch(1.0);
                }
                b.build()
            })
            .collect::<Result<_, _>>()?;
        let lat = Latencies::new();
        let mut busy = Duration::ZERO;
        let mut queries = 0;
        for _ in 0..rounds {
            // A fresh value with a known expiry.
            caches[0].delete("dashboard").await?;
            let db = env.db.clone();
            caches[0]
                .get_or_load("dashboard", move || aggregate(db))
                .await?;
            let expiry = Instant::now() + TTL;
            let start = expiry - Duration::from_millis(SPREAD_MS / 2);
            tokio::time::sleep_until(start.into()).await;
            let q0 = env.db.queries();
            let t = Instant::now();
            let caches = Arc::new(caches.clone());
            let (db, expected) = (env.db.clone(), expected.clone());
            let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let wrong = burst(&lat, start, move || {
                let k = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let c = caches[k % caches.len()].clone();
                let (db, expected) = (db.clone(), expected.clone());
                async move {
                    let r: Result<Summary, _> =
                        c.get_or_load("dashboard", move || aggregate(db)).await;
                    r.ok().as_ref() == Some(&expected)
                }
            })
            .await;
            ok &= wrong == 0;
            busy += t.elapsed();
            queries += env.db.queries() - q0;
            // Let background refreshes finish before the next round.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let snaps: Vec<_> = caches.iter().map(|c| c.metrics().snapshot()).collect();
        let served: u64 = snaps.iter().map(|s| s.hits + s.stale_hits).sum();
        let lookups: u64 = served + snaps.iter().map(|s| s.misses).sum::<u64>();
        let per_expiry = queries as f64 / rounds as f64;
        if cfg.name == "single-flight" || cfg.name == "+ lease, 4 processes" {
            ok &= queries == rounds as u64;
        }
        rows.push(
            Row::new(
                cfg.name,
                &lat,
                busy,
                Some(served as f64 / lookups.max(1) as f64),
                queries,
            )
            .with_extra(format!("{per_expiry:.1}")),
        );
    }
    print_table(&rows, Some("DB loads/expiry"));
    println!("(req/s of the cached rows is set by the arrival schedule: {READERS} readers per {SPREAD_MS} ms)\n");
    check(
        ok,
        "every reader got the right aggregate; one load per expiry with single-flight (1 process) and with the lease (4 processes)",
    )
}

/// READERS requests arriving uniformly over SPREAD_MS from `start`.
/// Returns how many got a wrong answer.
async fn burst<F, Fut>(lat: &Latencies, start: Instant, req: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let mut tasks = Vec::with_capacity(READERS);
    for i in 0..READERS {
        let at = start + Duration::from_micros(i as u64 * SPREAD_MS * 1000 / READERS as u64);
        let fut = req();
        let lat = lat.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let t = Instant::now();
            let good = fut.await;
            lat.record(t.elapsed());
            good
        }));
    }
    let mut wrong = 0;
    for t in tasks {
        if !t.await.unwrap_or(false) {
            wrong += 1;
        }
    }
    wrong
}

async fn setup(db: &Db) -> Result<()> {
    sqlx::query("DROP TABLE IF EXISTS events")
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, amount INTEGER, ts INTEGER)",
    )
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?1) \
         INSERT INTO events SELECT x, x % 5000, 'kind' || (x % 7), (x * 7919) % 1000, x FROM s",
    )
    .bind(EVENTS)
    .execute(&db.pool)
    .await?;
    Ok(())
}

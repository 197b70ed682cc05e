//! `larder demo timeline`: home timelines by fan-out on write.
//!
//! Tables: 1,000 users, each following 50 others (50,000 follows), 20,000
//! posts. Database only, a timeline read is the classic join
//! `posts ⋈ follows WHERE follower = ? ORDER BY ts DESC LIMIT 20`.
//!
//! Cached: each user's timeline is a list in the cache server
//! (`tl:<user>`, newest first, trimmed to 100). A new post is inserted in
//! the database, then pushed to every follower's list in one pipeline
//! (`LPUSH` + `LTRIM` per follower) — the work moves from reads to writes.
//! Reads are one `LRANGE 0 19`. Timelines are built from the database
//! before the run (warm-up); posts are fanned out by a single writer so
//! lists stay in timestamp order.
//!
//! Mix: 90 % timeline reads, 10 % new posts.
//!
//! Check: after the run, each user's cached timeline equals the join.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::Result;

use crate::env::{Db, Env};
use crate::report::{check, drive, print_table, Row};

const USERS: i64 = 1_000;
const FOLLOWS: i64 = 50;
const POSTS: i64 = 20_000;
const CONCURRENCY: usize = 32;
const KEEP: isize = 100;

fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn setup(db: &Db) -> Result<()> {
    for sql in [
        "DROP TABLE IF EXISTS follows",
        "DROP TABLE IF EXISTS tposts",
        "CREATE TABLE follows (follower INTEGER NOT NULL, followee INTEGER NOT NULL, PRIMARY KEY (follower, followee))",
        "CREATE INDEX follows_followee ON follows (followee)",
        "CREATE TABLE tposts (id INTEGER PRIMARY KEY, author INTEGER NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL)",
        "CREATE INDEX tposts_author_ts ON tposts (author, ts)",
    ] {
        sqlx::query(sql).execute(&db.pool).await?;
    }
    let series = "WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < ?1)";
    // User u follows u+1+k*19 (mod USERS) for k in 0..FOLLOWS: distinct, not self.
    sqlx::query(&format!(
        "{series} INSERT OR IGNORE INTO follows SELECT 1 + x / {FOLLOWS}, \
         1 + ((x / {FOLLOWS}) + 1 + (x % {FOLLOWS}) * 19) % {USERS} FROM s"
    ))
    .bind(USERS * FOLLOWS - 1)
    .execute(&db.pool)
    .await?;
    sqlx::query(&format!(
        "{series} INSERT INTO tposts SELECT x + 1, 1 + (x * 7919) % {USERS}, 'post ' || (x + 1), x + 1 FROM s"
    ))
    .bind(POSTS - 1)
    .execute(&db.pool)
    .await?;
    Ok(())
}

async fn timeline_db(db: &Db, user: i64) -> Result<Vec<i64>> {
    db.tick().await;
    Ok(sqlx::query_scalar(
        "SELECT p.id FROM tposts p JOIN follows f ON p.author = f.followee \
         WHERE f.follower = ?1 ORDER BY p.ts DESC LIMIT 20",
    )
    .bind(user)
    .fetch_all(&db.pool)
    .await?)
}

async fn insert_post(db: &Db, next: &AtomicI64, author: i64) -> Result<i64> {
    let id = next.fetch_add(1, Relaxed);
    db.tick().await;
    sqlx::query("INSERT INTO tposts (id, author, body, ts) VALUES (?1, ?2, ?3, ?1)")
        .bind(id)
        .bind(author)
        .bind(format!("post {id}"))
        .execute(&db.pool)
        .await?;
    Ok(id)
}

/// Pushes post `id` to every follower of `author`, in one pipeline.
async fn fan_out(
    db: &Db,
    conn: &mut redis::aio::MultiplexedConnection,
    author: i64,
    id: i64,
) -> Result<()> {
    db.tick().await;
    let followers: Vec<i64> =
        sqlx::query_scalar("SELECT follower FROM follows WHERE followee = ?1")
            .bind(author)
            .fetch_all(&db.pool)
            .await?;
    let mut p = redis::pipe();
    for f in followers {
        let key = format!("tl:{f}");
        p.cmd("LPUSH").arg(&key).arg(id).ignore();
        p.cmd("LTRIM").arg(&key).arg(0).arg(KEEP - 1).ignore();
    }
    let _: () = p.query_async(conn).await?;
    Ok(())
}

pub async fn run(env: &Env, requests: usize) -> Result<()> {
    env.header("timeline: fan-out on write into cached lists");
    setup(&env.db).await?;
    println!("{USERS} users following {FOLLOWS} each, {POSTS} posts; 90 % reads / 10 % posts; {requests} requests per phase\n");
    let next = Arc::new(AtomicI64::new(POSTS + 1));
    let mut rows = Vec::new();

    let q0 = env.db.queries();
    let writer = Arc::new(tokio::sync::Mutex::new(()));
    let (lat, wall) = drive(requests, CONCURRENCY, {
        let (db, next) = (env.db.clone(), next.clone());
        move |i| {
            let (db, next) = (db.clone(), next.clone());
            async move {
                let user = 1 + (mix(i as u64, 1) % USERS as u64) as i64;
                if i % 10 == 0 {
                    insert_post(&db, &next, user).await.map(|_| ())
                } else {
                    timeline_db(&db, user).await.map(|_| ())
                }
            }
        }
    })
    .await;
    rows.push(Row::new(
        "database only",
        &lat,
        wall,
        None,
        env.db.queries() - q0,
    ));

    // Warm-up: build every timeline from the database.
    env.flush_cache().await?;
    let mut conn = env.redis().await?;
    for user in 1..=USERS {
        let ids = timeline_db(&env.db, user).await?;
        if !ids.is_empty() {
            let key = format!("tl:{user}");
            let _: () = redis::pipe()
                .cmd("DEL")
                .arg(&key)
                .ignore()
                .cmd("RPUSH")
                .arg(&key)
                .arg(&ids)
                .ignore()
                .query_async(&mut conn)
                .await?;
        }
    }
    let hits = Arc::new(AtomicI64::new(0));
    let q0 = env.db.queries();
    let (lat, wall) = drive(requests, CONCURRENCY, {
        let (db, next, conn, writer, hits) = (
            env.db.clone(),
            next.clone(),
            conn.clone(),
            writer.clone(),
            hits.clone(),
        );
        move |i| {
            let (db, next, mut conn, writer, hits) = (
                db.clone(),
                next.clone(),
                conn.clone(),
                writer.clone(),
                hits.clone(),
            );
            async move {
                let user = 1 + (mix(i as u64 + requests as u64, 1) % USERS as u64) as i64;
                if i % 10 == 0 {
                    // One fan-out writer: lists stay in post order.
                    let _w = writer.lock().await;
                    let id = insert_post(&db, &next, user).await?;
                    fan_out(&db, &mut conn, user, id).await?;
                } else {
                    let ids: Vec<i64> = redis::cmd("LRANGE")
                        .arg(format!("tl:{user}"))
                        .arg(0)
                        .arg(19)
                        .query_async(&mut conn)
                        .await?;
                    if !ids.is_empty() {
                        hits.fetch_add(1, Relaxed);
                    }
                }
                Ok::<(), anyhow::Error>(())
            }
        }
    })
    .await;
    let reads = requests as i64 - (requests as i64 + 9) / 10;
    rows.push(Row::new(
        "cached (fan-out on write)",
        &lat,
        wall,
        Some(hits.load(Relaxed) as f64 / reads.max(1) as f64),
        env.db.queries() - q0,
    ));
    print_table(&rows, None);

    let mut ok = true;
    for user in 1..=USERS {
        let cached: Vec<i64> = redis::cmd("LRANGE")
            .arg(format!("tl:{user}"))
            .arg(0)
            .arg(19)
            .query_async(&mut conn)
            .await?;
        let db = timeline_db(&env.db, user).await?;
        if cached != db {
            println!("user {user}: cached {cached:?}\n  database {db:?}");
            ok = false;
            break;
        }
    }
    check(ok, "every cached timeline equals the database join")
}

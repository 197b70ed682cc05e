//! `larder demo blog`: a blog's read path.
//!
//! Tables: 500 users, 5,000 posts (~1 KB bodies), 100,000 comments,
//! sessions. The request mix (skewed towards popular posts): 85 % post
//! views (post + author profile + comment count), 5 % new comments, 5 %
//! session touches, 3 % profile views, 2 % profile updates.
//!
//! Cached:
//! * posts: cache-aside, TTL 1 h (±10 % jitter);
//! * author profiles: TTL 15 min, write-around: the update commits, then
//!   invalidates (delete, don't update);
//! * comment counts: a counter in the cache, `INCR`ed by each new comment
//!   after its insert, initialized from `COUNT(*)` on a miss. A version key
//!   bumped by every comment guards the initialization (the count is stored
//!   only if no comment arrived while it was being computed);
//! * sessions: sliding TTL with `GETEX ... EX 1800` on each touch.
//!
//! Check: after the run every cached comment count equals the database's,
//! every profile read through the cache equals its row, and touched
//! sessions are alive.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use larder_cache::{BoxError, Cache, Loader, WriteAround, Writer};
use serde::{Deserialize, Serialize};

use crate::env::{Db, Env};
use crate::report::{check, drive, print_table, Row};

const USERS: i64 = 500;
const POSTS: i64 = 5_000;
const COMMENTS: i64 = 100_000;
const CONCURRENCY: usize = 32;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Post {
    id: i64,
    author: i64,
    title: String,
    body: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Profile {
    id: i64,
    name: String,
    bio: String,
}

/// Initializes the count `KEYS[1]` to `ARGV[2]` unless the version
/// `KEYS[2]` moved from `ARGV[1]` (a comment arrived meanwhile).
const INIT_COUNT: &str = "if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then \
redis.call('SET', KEYS[1], ARGV[2], 'EX', 3600, 'NX') return 1 end return 0";
/// A new comment: bump the version, `INCR` the count if it is cached.
const ADD_COMMENT: &str = "redis.call('INCR', KEYS[2]) redis.call('EXPIRE', KEYS[2], 3600) \
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end return 0";

async fn load_post(db: Db, id: i64) -> Result<Post, BoxError> {
    db.tick().await;
    let (id, author, title, body) =
        sqlx::query_as("SELECT id, author_id, title, body FROM posts WHERE id = ?1")
            .bind(id)
            .fetch_one(&db.pool)
            .await?;
    Ok(Post {
        id,
        author,
        title,
        body,
    })
}

async fn count_comments(db: &Db, post: i64) -> Result<i64> {
    db.tick().await;
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM comments WHERE post_id = ?1")
            .bind(post)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// The users table as loader and writer of profiles.
#[derive(Clone)]
struct Profiles(Db);

impl Loader<Profile> for Profiles {
    async fn load(&self, key: &str) -> Result<Profile, BoxError> {
        self.0.tick().await;
        let (id, name, bio) = sqlx::query_as("SELECT id, name, bio FROM users WHERE id = ?1")
            .bind(key.parse::<i64>()?)
            .fetch_one(&self.0.pool)
            .await?;
        Ok(Profile { id, name, bio })
    }
}

impl Writer<Profile> for Profiles {
    async fn write(&self, _key: &str, p: &Profile) -> Result<(), BoxError> {
        self.0.tick().await;
        sqlx::query("UPDATE users SET name = ?1, bio = ?2 WHERE id = ?3")
            .bind(&p.name)
            .bind(&p.bio)
            .bind(p.id)
            .execute(&self.0.pool)
            .await?;
        Ok(())
    }

    async fn delete(&self, _key: &str) -> Result<(), BoxError> {
        Err("users are not deleted in this demo".into())
    }
}

/// Deterministic per-request randomness.
fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A post id skewed towards popular ones (cubic: the top 10 % get ~46 %).
fn popular(i: u64, n: i64) -> i64 {
    let u = (mix(i, 1) >> 11) as f64 / (1u64 << 53) as f64;
    1 + ((u * u * u) * n as f64) as i64 % n
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    View,
    Comment,
    Session,
    Profile,
    UpdateProfile,
}

fn op(i: u64) -> Op {
    match mix(i, 2) % 100 {
        0..=84 => Op::View,
        85..=89 => Op::Comment,
        90..=94 => Op::Session,
        95..=97 => Op::Profile,
        _ => Op::UpdateProfile,
    }
}

async fn setup(db: &Db) -> Result<()> {
    for sql in [
        "DROP TABLE IF EXISTS comments",
        "DROP TABLE IF EXISTS posts",
        "DROP TABLE IF EXISTS users",
        "DROP TABLE IF EXISTS sessions",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bio TEXT NOT NULL)",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL)",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, author_id INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX comments_post ON comments (post_id)",
        "CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL, last_seen INTEGER NOT NULL)",
    ] {
        sqlx::query(sql).execute(&db.pool).await?;
    }
    let series = "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?1)";
    sqlx::query(&format!(
        "{series} INSERT INTO users SELECT x, 'user ' || x, 'Writes about topic ' || (x % 17) FROM s"
    ))
    .bind(USERS)
    .execute(&db.pool)
    .await?;
    sqlx::query(&format!(
        "{series} INSERT INTO posts SELECT x, 1 + x % {USERS}, 'Post number ' || x, \
         printf('%.1000c', 'x'), x FROM s"
    ))
    .bind(POSTS)
    .execute(&db.pool)
    .await?;
    sqlx::query(&format!(
        "{series} INSERT INTO comments SELECT x, 1 + (x * 7919) % {POSTS}, 1 + x % {USERS}, 'Nice post ' || x FROM s"
    ))
    .bind(COMMENTS)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn run(env: &Env, requests: usize) -> Result<()> {
    env.header("blog: posts, profiles, comment counts, sessions");
    setup(&env.db).await?;
    println!("{USERS} users, {POSTS} posts, {COMMENTS} comments; {requests} requests per phase, {CONCURRENCY} concurrent\n");
    let mut rows = Vec::new();

    // Database only.
    let q0 = env.db.queries();
    let (lat, wall) = drive(requests, CONCURRENCY, {
        let db = env.db.clone();
        move |i| {
            let db = db.clone();
            async move { db_request(&db, i as u64).await }
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

    // Cached (same mix, continuing after the database-only requests).
    env.flush_cache().await?;
    sqlx::query("DELETE FROM sessions")
        .execute(&env.db.pool)
        .await?;
    let app = Arc::new(App {
        db: env.db.clone(),
        posts: Cache::builder("post")
            .server(&env.cache_url)
            .ttl(Duration::from_secs(3600))
            .jitter_percent(10.0)
            .build()?,
        profiles: WriteAround::new(
            Cache::builder("profile")
                .server(&env.cache_url)
                .ttl(Duration::from_secs(900))
                .jitter_percent(10.0)
                .build()?,
            Profiles(env.db.clone()),
        ),
        redis: env.redis().await?,
        count_hits: AtomicU64::new(0),
        count_misses: AtomicU64::new(0),
        session_hits: AtomicU64::new(0),
        session_misses: AtomicU64::new(0),
    });
    let q0 = env.db.queries();
    let offset = requests as u64;
    let (lat, wall) = drive(requests, CONCURRENCY, {
        let app = app.clone();
        move |i| {
            let app = app.clone();
            async move { app.request(offset + i as u64).await }
        }
    })
    .await;
    let (p, f) = (
        app.posts.metrics().snapshot(),
        app.profiles.cache().metrics().snapshot(),
    );
    let hits = p.hits + f.hits + app.count_hits.load(Relaxed) + app.session_hits.load(Relaxed);
    let misses =
        p.misses + f.misses + app.count_misses.load(Relaxed) + app.session_misses.load(Relaxed);
    rows.push(Row::new(
        "cached",
        &lat,
        wall,
        Some(hits as f64 / (hits + misses).max(1) as f64),
        env.db.queries() - q0,
    ));
    print_table(&rows, None);
    println!(
        "posts: {} hits / {} misses; profiles: {} hits / {} misses, {} invalidations; comment counts: {} hits / {} misses; sessions: {} slid / {} created\n",
        p.hits, p.misses, f.hits, f.misses, f.invalidations,
        app.count_hits.load(Relaxed), app.count_misses.load(Relaxed),
        app.session_hits.load(Relaxed), app.session_misses.load(Relaxed)
    );
    check(
        app.verify().await?,
        "cached comment counts, profiles and sessions match the database",
    )
}

/// One request against the database alone.
async fn db_request(db: &Db, i: u64) -> Result<()> {
    let post = popular(i, POSTS);
    let user = 1 + (mix(i, 3) % USERS as u64) as i64;
    match op(i) {
        Op::View => {
            let p = load_post(db.clone(), post)
                .await
                .map_err(anyhow::Error::msg)?;
            Profiles(db.clone())
                .load(&p.author.to_string())
                .await
                .map_err(anyhow::Error::msg)?;
            count_comments(db, post).await?;
        }
        Op::Comment => add_comment_db(db, post, user, i).await?,
        Op::Session => {
            db.tick().await;
            let token = format!("s{user}");
            let n = sqlx::query("UPDATE sessions SET last_seen = ?1 WHERE token = ?2")
                .bind(i as i64)
                .bind(&token)
                .execute(&db.pool)
                .await?
                .rows_affected();
            if n == 0 {
                db.tick().await;
                sqlx::query("INSERT OR IGNORE INTO sessions VALUES (?1, ?2, ?3)")
                    .bind(&token)
                    .bind(user)
                    .bind(i as i64)
                    .execute(&db.pool)
                    .await?;
            }
        }
        Op::Profile => {
            Profiles(db.clone())
                .load(&user.to_string())
                .await
                .map_err(anyhow::Error::msg)?;
        }
        Op::UpdateProfile => {
            let p = updated_profile(user, i);
            Profiles(db.clone())
                .write(&user.to_string(), &p)
                .await
                .map_err(anyhow::Error::msg)?;
        }
    }
    Ok(())
}

fn updated_profile(user: i64, i: u64) -> Profile {
    Profile {
        id: user,
        name: format!("user {user} (v{i})"),
        bio: format!("Updated at request {i}"),
    }
}

async fn add_comment_db(db: &Db, post: i64, user: i64, i: u64) -> Result<()> {
    db.tick().await;
    sqlx::query("INSERT INTO comments (post_id, author_id, body) VALUES (?1, ?2, ?3)")
        .bind(post)
        .bind(user)
        .bind(format!("comment {i}"))
        .execute(&db.pool)
        .await?;
    Ok(())
}

struct App {
    db: Db,
    posts: Cache,
    profiles: WriteAround<Profile, Profiles>,
    redis: redis::aio::MultiplexedConnection,
    count_hits: AtomicU64,
    count_misses: AtomicU64,
    session_hits: AtomicU64,
    session_misses: AtomicU64,
}

impl App {
    async fn request(&self, i: u64) -> Result<()> {
        let post = popular(i, POSTS);
        let user = 1 + (mix(i, 3) % USERS as u64) as i64;
        match op(i) {
            Op::View => {
                let db = self.db.clone();
                let p: Post = self
                    .posts
                    .get_or_load(&post.to_string(), move || load_post(db, post))
                    .await?;
                self.profiles.get(&p.author.to_string()).await?;
                self.comment_count(post).await?;
            }
            Op::Comment => {
                add_comment_db(&self.db, post, user, i).await?;
                let _: i64 = redis::cmd("EVAL")
                    .arg(ADD_COMMENT)
                    .arg(2)
                    .arg(format!("blog:cc:{post}"))
                    .arg(format!("blog:ccv:{post}"))
                    .query_async(&mut self.redis.clone())
                    .await?;
            }
            Op::Session => {
                let key = format!("blog:session:s{user}");
                let mut c = self.redis.clone();
                let alive: Option<String> = redis::cmd("GETEX")
                    .arg(&key)
                    .arg("EX")
                    .arg(1800)
                    .query_async(&mut c)
                    .await?;
                if alive.is_some() {
                    self.session_hits.fetch_add(1, Relaxed);
                } else {
                    self.session_misses.fetch_add(1, Relaxed);
                    self.db.tick().await;
                    sqlx::query("INSERT OR REPLACE INTO sessions VALUES (?1, ?2, ?3)")
                        .bind(format!("s{user}"))
                        .bind(user)
                        .bind(i as i64)
                        .execute(&self.db.pool)
                        .await?;
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(user)
                        .arg("EX")
                        .arg(1800)
                        .query_async(&mut c)
                        .await?;
                }
            }
            Op::Profile => {
                self.profiles.get(&user.to_string()).await?;
            }
            Op::UpdateProfile => {
                self.profiles
                    .put(&user.to_string(), &updated_profile(user, i))
                    .await?;
            }
        }
        Ok(())
    }

    async fn comment_count(&self, post: i64) -> Result<i64> {
        let mut c = self.redis.clone();
        let (count, version): (Option<i64>, Option<String>) = redis::cmd("MGET")
            .arg(format!("blog:cc:{post}"))
            .arg(format!("blog:ccv:{post}"))
            .query_async(&mut c)
            .await?;
        if let Some(n) = count {
            self.count_hits.fetch_add(1, Relaxed);
            return Ok(n);
        }
        self.count_misses.fetch_add(1, Relaxed);
        let n = count_comments(&self.db, post).await?;
        let _: i64 = redis::cmd("EVAL")
            .arg(INIT_COUNT)
            .arg(2)
            .arg(format!("blog:cc:{post}"))
            .arg(format!("blog:ccv:{post}"))
            .arg(version.unwrap_or_default())
            .arg(n)
            .query_async(&mut c)
            .await?;
        Ok(n)
    }

    async fn verify(&self) -> Result<bool> {
        let mut ok = true;
        let mut c = self.redis.clone();
        for post in 1..=POSTS {
            let cached: Option<i64> = redis::cmd("GET")
                .arg(format!("blog:cc:{post}"))
                .query_async(&mut c)
                .await?;
            if let Some(n) = cached {
                let db = count_comments(&self.db, post).await?;
                if n != db {
                    println!("post {post}: cached comment count {n}, database {db}");
                    ok = false;
                }
            }
        }
        for user in 1..=USERS {
            let cached = self.profiles.get(&user.to_string()).await?;
            let db = Profiles(self.db.clone())
                .load(&user.to_string())
                .await
                .map_err(anyhow::Error::msg)?;
            if cached != db {
                println!("user {user}: cached {cached:?}, database {db:?}");
                ok = false;
            }
        }
        let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&self.db.pool)
            .await?;
        let mut alive = 0;
        for user in 1..=USERS {
            let ttl: i64 = redis::cmd("TTL")
                .arg(format!("blog:session:s{user}"))
                .query_async(&mut c)
                .await?;
            alive += (ttl > 0) as i64;
        }
        if alive != sessions {
            println!("{alive} sessions alive in the cache, {sessions} in the database");
            ok = false;
        }
        Ok(ok)
    }
}

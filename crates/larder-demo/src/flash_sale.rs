//! `larder demo flash-sale`: 10,000 buyers race for 100 items.
//!
//! Database only: each purchase is a transaction — `UPDATE products SET
//! stock = stock - 1 WHERE id = 1 AND stock > 0`, then the order row —
//! and SQLite serializes every one of them.
//!
//! Cached: the stock lives in the cache server and a Lua script checks and
//! decrements it atomically (no oversell even with many application
//! processes); a successful purchase is acknowledged once its order is in
//! the write-behind *durable* queue (a list on the cache server), and the
//! flusher commits orders to the database in batches (insert the order,
//! decrement the stock, one transaction per batch, idempotent on replay).
//!
//! Check: exactly 100 orders in the database, stock 0, 100 successful
//! buyers, cache stock 0 — in both phases.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use larder_cache::{BoxError, Cache, Loader, WriteBehind, WriteBehindConfig, WriteOp, Writer};
use serde::{Deserialize, Serialize};

use crate::env::{Db, Env};
use crate::report::{check, drive, print_table, Row};

const ITEMS: i64 = 100;
const CONCURRENCY: usize = 200;

/// Checks and decrements the stock atomically; -1 when sold out.
const BUY: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
if n <= 0 then return -1 end return redis.call('DECR', KEYS[1])";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Order {
    buyer: i64,
    product: i64,
}

/// Orders table as the write-behind target.
#[derive(Clone)]
struct Orders(Db);

impl Loader<Order> for Orders {
    async fn load(&self, key: &str) -> Result<Order, BoxError> {
        self.0.tick().await;
        let buyer: i64 = key.trim_start_matches("order:").parse()?;
        let (buyer, product): (i64, i64) =
            sqlx::query_as("SELECT buyer, product FROM orders WHERE buyer = ?1")
                .bind(buyer)
                .fetch_one(&self.0.pool)
                .await?;
        Ok(Order { buyer, product })
    }
}

impl Writer<Order> for Orders {
    async fn write(&self, key: &str, v: &Order) -> Result<(), BoxError> {
        self.write_batch(&[WriteOp::Put(key.to_string(), v.clone())])
            .await
    }

    async fn delete(&self, _key: &str) -> Result<(), BoxError> {
        Err("orders are never deleted".into())
    }

    /// One transaction per batch; replaying a batch changes nothing
    /// (`buyer` is unique, the stock moves only for new orders).
    async fn write_batch(&self, ops: &[WriteOp<Order>]) -> Result<(), BoxError> {
        self.0.tick().await;
        let mut tx = self.0.pool.begin().await?;
        for op in ops {
            if let WriteOp::Put(_, o) = op {
                let new = sqlx::query(
                    "INSERT INTO orders (buyer, product) VALUES (?1, ?2) ON CONFLICT (buyer) DO NOTHING",
                )
                .bind(o.buyer)
                .bind(o.product)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if new == 1 {
                    sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = ?1")
                        .bind(o.product)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn reset(db: &Db) -> Result<()> {
    for sql in [
        "DROP TABLE IF EXISTS orders",
        "DROP TABLE IF EXISTS products",
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, stock INTEGER NOT NULL)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, buyer INTEGER NOT NULL UNIQUE, product INTEGER NOT NULL, ts INTEGER NOT NULL DEFAULT (strftime('%s','now')))",
    ] {
        sqlx::query(sql).execute(&db.pool).await?;
    }
    sqlx::query("INSERT INTO products (id, name, stock) VALUES (1, 'limited sneaker', ?1)")
        .bind(ITEMS)
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn db_state(db: &Db) -> Result<(i64, i64)> {
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(&db.pool)
        .await?;
    let stock: i64 = sqlx::query_scalar("SELECT stock FROM products WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    Ok((orders, stock))
}

pub async fn run(env: &Env, buyers: usize) -> Result<()> {
    env.header(&format!("flash-sale: {buyers} buyers, {ITEMS} items"));
    let mut rows = Vec::new();
    let mut ok = true;

    // Database only.
    reset(&env.db).await?;
    let sold = Arc::new(AtomicU64::new(0));
    let q0 = env.db.queries();
    let (lat, wall) = drive(buyers, CONCURRENCY, {
        let (db, sold) = (env.db.clone(), sold.clone());
        move |i| {
            let (db, sold) = (db.clone(), sold.clone());
            async move {
                if buy_in_db(&db, i as i64).await? {
                    sold.fetch_add(1, Relaxed);
                }
                Ok::<(), anyhow::Error>(())
            }
        }
    })
    .await;
    let (orders, stock) = db_state(&env.db).await?;
    let db_ok = orders == ITEMS && stock == 0 && sold.load(Relaxed) == ITEMS as u64;
    ok &= db_ok;
    rows.push(
        Row::new("database only", &lat, wall, None, env.db.queries() - q0)
            .with_extra(format!("{} / {orders} / {stock}", sold.load(Relaxed))),
    );

    // Cached: atomic stock in the cache, orders written behind (durable).
    reset(&env.db).await?;
    env.flush_cache().await?;
    let mut conn = env.redis().await?;
    let stock_key = "flash:stock:1";
    let _: () = redis::cmd("SET")
        .arg(stock_key)
        .arg(ITEMS)
        .query_async(&mut conn)
        .await?;
    let cache = Cache::builder("flash")
        .server(&env.cache_url)
        .ttl(Duration::from_secs(3600))
        .build()?;
    let wb = Arc::new(WriteBehind::new(
        cache.clone(),
        Orders(env.db.clone()),
        WriteBehindConfig {
            batch_size: 50,
            max_delay: Duration::from_millis(20),
            durable: Some("demo".into()),
            ..Default::default()
        },
    )?);
    let sold = Arc::new(AtomicU64::new(0));
    let q0 = env.db.queries();
    let t = Instant::now();
    let (lat, wall) = drive(buyers, CONCURRENCY, {
        let (wb, sold, conn) = (wb.clone(), sold.clone(), conn.clone());
        move |i| {
            let (wb, sold, mut conn) = (wb.clone(), sold.clone(), conn.clone());
            async move {
                let left: redis::RedisResult<i64> = redis::cmd("EVAL")
                    .arg(BUY)
                    .arg(1)
                    .arg(stock_key)
                    .query_async(&mut conn)
                    .await;
                if matches!(left, Ok(n) if n >= 0) {
                    let order = Order {
                        buyer: i as i64,
                        product: 1,
                    };
                    if wb.write(&format!("order:{i}"), &order).await.is_ok() {
                        sold.fetch_add(1, Relaxed);
                    }
                }
                Ok::<(), anyhow::Error>(())
            }
        }
    })
    .await;
    wb.shutdown(Duration::from_secs(30)).await?;
    let flushed_after = t.elapsed();
    let (orders, stock) = db_state(&env.db).await?;
    let cache_stock: i64 = redis::cmd("GET")
        .arg(stock_key)
        .query_async(&mut conn)
        .await?;
    let m = cache.metrics().snapshot();
    let cached_ok =
        orders == ITEMS && stock == 0 && sold.load(Relaxed) == ITEMS as u64 && cache_stock == 0;
    ok &= cached_ok;
    rows.push(
        Row::new(
            "cache + write-behind",
            &lat,
            wall,
            Some(1.0),
            env.db.queries() - q0,
        )
        .with_extra(format!("{} / {orders} / {stock}", sold.load(Relaxed))),
    );
    print_table(&rows, Some("sold / DB orders / DB stock"));
    println!(
        "write-behind: {} orders in {} batches ({} flush errors), all committed {:.0} ms after the first buyer; cache stock {cache_stock}",
        m.wb_flushed_ops,
        m.wb_flush_batches,
        m.wb_flush_errors,
        flushed_after.as_secs_f64() * 1000.0
    );
    println!("(cached: hit rate = requests answered without waiting for the database)\n");
    check(
        ok,
        "exactly 100 orders in the database, stock 0, 100 buyers served, no oversell (both phases)",
    )
}

/// One purchase as a database transaction. True when it got an item.
async fn buy_in_db(db: &Db, buyer: i64) -> Result<bool> {
    db.tick().await;
    let mut tx = db.pool.begin().await?;
    let got = sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = 1 AND stock > 0")
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if got {
        db.tick().await;
        sqlx::query("INSERT INTO orders (buyer, product) VALUES (?1, 1)")
            .bind(buyer)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(got)
}

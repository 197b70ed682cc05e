//! `larder demo product`: a product page assembled from parts that change
//! at different rates, each cached with its own TTL.
//!
//! | part            | source                                    | cached            |
//! |-----------------|-------------------------------------------|-------------------|
//! | details         | `products` row (~2 KB description)        | 1 h               |
//! | price           | `prices` row                              | 5 min, invalidated on change |
//! | reviews summary | `COUNT`, `AVG` and the 3 latest of 100,000 reviews | 15 min   |
//! | inventory       | `inventory` row                           | never (must be exact) |
//!
//! Mix: 95 % page views (skewed), 3 % price changes (commit, then
//! invalidate the price only), 2 % purchases (inventory decrement).
//!
//! Check: every page rendered after the run shows the database's current
//! price and inventory, and the cached details/reviews match the database.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use larder_cache::{BoxError, Cache};
use serde::{Deserialize, Serialize};

use crate::env::{Db, Env};
use crate::report::{check, drive, print_table, Row};

const PRODUCTS: i64 = 2_000;
const REVIEWS: i64 = 100_000;
const CONCURRENCY: usize = 32;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Details {
    id: i64,
    name: String,
    description: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Reviews {
    count: i64,
    average: f64,
    latest: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Page {
    details: Details,
    price_cents: i64,
    reviews: Reviews,
    inventory: i64,
}

async fn details(db: Db, id: i64) -> Result<Details, BoxError> {
    db.tick().await;
    let (id, name, description) =
        sqlx::query_as("SELECT id, name, description FROM products WHERE id = ?1")
            .bind(id)
            .fetch_one(&db.pool)
            .await?;
    Ok(Details {
        id,
        name,
        description,
    })
}

async fn price(db: Db, id: i64) -> Result<i64, BoxError> {
    db.tick().await;
    Ok(
        sqlx::query_scalar("SELECT cents FROM prices WHERE product_id = ?1")
            .bind(id)
            .fetch_one(&db.pool)
            .await?,
    )
}

async fn reviews(db: Db, id: i64) -> Result<Reviews, BoxError> {
    db.tick().await;
    let (count, average): (i64, f64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(AVG(stars), 0.0) FROM reviews WHERE product_id = ?1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await?;
    db.tick().await;
    let latest: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM reviews WHERE product_id = ?1 ORDER BY id DESC LIMIT 3",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    Ok(Reviews {
        count,
        average,
        latest,
    })
}

async fn inventory(db: &Db, id: i64) -> Result<i64> {
    db.tick().await;
    Ok(
        sqlx::query_scalar("SELECT qty FROM inventory WHERE product_id = ?1")
            .bind(id)
            .fetch_one(&db.pool)
            .await?,
    )
}

fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn product_of(i: u64) -> i64 {
    let u = (mix(i, 1) >> 11) as f64 / (1u64 << 53) as f64;
    1 + ((u * u * u) * PRODUCTS as f64) as i64 % PRODUCTS
}

async fn setup(db: &Db) -> Result<()> {
    for sql in [
        "DROP TABLE IF EXISTS products",
        "DROP TABLE IF EXISTS prices",
        "DROP TABLE IF EXISTS reviews",
        "DROP TABLE IF EXISTS inventory",
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL)",
        "CREATE TABLE prices (product_id INTEGER PRIMARY KEY, cents INTEGER NOT NULL)",
        "CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, stars INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX reviews_product ON reviews (product_id)",
        "CREATE TABLE inventory (product_id INTEGER PRIMARY KEY, qty INTEGER NOT NULL)",
    ] {
        sqlx::query(sql).execute(&db.pool).await?;
    }
    let series = "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?1)";
    for sql in [
        format!("{series} INSERT INTO products SELECT x, 'Product ' || x, printf('%.2000c', 'd') FROM s"),
        format!("{series} INSERT INTO prices SELECT x, 1000 + (x * 37) % 9000 FROM s"),
        format!("{series} INSERT INTO inventory SELECT x, 1000000 FROM s"),
    ] {
        sqlx::query(&sql).bind(PRODUCTS).execute(&db.pool).await?;
    }
    sqlx::query(&format!(
        "{series} INSERT INTO reviews SELECT x, 1 + (x * 7919) % {PRODUCTS}, 1 + x % 5, 'Review ' || x FROM s"
    ))
    .bind(REVIEWS)
    .execute(&db.pool)
    .await?;
    Ok(())
}

struct Parts {
    details: Cache,
    price: Cache,
    reviews: Cache,
}

impl Parts {
    async fn page(&self, db: &Db, id: i64) -> Result<Page> {
        let key = id.to_string();
        let (d1, d2, d3) = (db.clone(), db.clone(), db.clone());
        let (details, price_cents, reviews, inventory) = tokio::try_join!(
            async {
                Ok::<_, anyhow::Error>(
                    self.details
                        .get_or_load(&key, move || details(d1, id))
                        .await?,
                )
            },
            async { Ok(self.price.get_or_load(&key, move || price(d2, id)).await?) },
            async {
                Ok(self
                    .reviews
                    .get_or_load(&key, move || reviews(d3, id))
                    .await?)
            },
            inventory(db, id),
        )?;
        Ok(Page {
            details,
            price_cents,
            reviews,
            inventory,
        })
    }
}

async fn page_from_db(db: &Db, id: i64) -> Result<Page> {
    let e = anyhow::Error::msg;
    Ok(Page {
        details: details(db.clone(), id).await.map_err(e)?,
        price_cents: price(db.clone(), id).await.map_err(e)?,
        reviews: reviews(db.clone(), id).await.map_err(e)?,
        inventory: inventory(db, id).await?,
    })
}

/// Price change: commit, then invalidate the cached price (None = no cache).
async fn change_price(db: &Db, parts: Option<&Parts>, id: i64, i: u64) -> Result<()> {
    db.tick().await;
    sqlx::query("UPDATE prices SET cents = ?1 WHERE product_id = ?2")
        .bind(1000 + (i % 9000) as i64)
        .bind(id)
        .execute(&db.pool)
        .await?;
    if let Some(p) = parts {
        // A failed invalidation is retried by the toolkit; the page stays
        // correct in this process meanwhile.
        let _ = p.price.delete(&id.to_string()).await;
    }
    Ok(())
}

async fn purchase(db: &Db, id: i64) -> Result<()> {
    db.tick().await;
    sqlx::query("UPDATE inventory SET qty = qty - 1 WHERE product_id = ?1 AND qty > 0")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn request(db: &Db, parts: Option<&Parts>, i: u64) -> Result<()> {
    let id = product_of(i);
    match mix(i, 2) % 100 {
        0..=94 => {
            match parts {
                Some(p) => p.page(db, id).await?,
                None => page_from_db(db, id).await?,
            };
        }
        95..=97 => change_price(db, parts, id, i).await?,
        _ => purchase(db, id).await?,
    }
    Ok(())
}

pub async fn run(env: &Env, requests: usize) -> Result<()> {
    env.header("product: a page from parts with different TTLs");
    setup(&env.db).await?;
    println!("{PRODUCTS} products, {REVIEWS} reviews; details 1 h, price 5 min, reviews 15 min, inventory never cached; {requests} requests per phase\n");
    let mut rows = Vec::new();

    let q0 = env.db.queries();
    let (lat, wall) = drive(requests, CONCURRENCY, {
        let db = env.db.clone();
        move |i| {
            let db = db.clone();
            async move { request(&db, None, i as u64).await }
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

    env.flush_cache().await?;
    let mk = |ns: &str, ttl: u64| {
        Cache::builder(ns)
            .server(&env.cache_url)
            .ttl(Duration::from_secs(ttl))
            .jitter_percent(10.0)
            .build()
    };
    let parts = Arc::new(Parts {
        details: mk("details", 3600)?,
        price: mk("price", 300)?,
        reviews: mk("reviews", 900)?,
    });
    let q0 = env.db.queries();
    let offset = requests as u64;
    let (lat, wall) = drive(requests, CONCURRENCY, {
        let (db, parts) = (env.db.clone(), parts.clone());
        move |i| {
            let (db, parts) = (db.clone(), parts.clone());
            async move { request(&db, Some(&parts), offset + i as u64).await }
        }
    })
    .await;
    let snaps = [&parts.details, &parts.price, &parts.reviews].map(|c| c.metrics().snapshot());
    let hits: u64 = snaps.iter().map(|s| s.hits).sum();
    let lookups: u64 = hits + snaps.iter().map(|s| s.misses).sum::<u64>();
    rows.push(Row::new(
        "cached parts",
        &lat,
        wall,
        Some(hits as f64 / lookups.max(1) as f64),
        env.db.queries() - q0,
    ));
    print_table(&rows, None);
    println!(
        "hit rates: details {:.1}%, price {:.1}% ({} invalidations), reviews {:.1}%; inventory read from the database on every page\n",
        snaps[0].hit_ratio() * 100.0,
        snaps[1].hit_ratio() * 100.0,
        snaps[1].invalidations,
        snaps[2].hit_ratio() * 100.0
    );

    let mut ok = true;
    for id in 1..=PRODUCTS {
        let cached = parts.page(&env.db, id).await?;
        let fresh = page_from_db(&env.db, id).await?;
        // Reviews may lag by design (15 min TTL) but none are written here.
        if cached != fresh {
            println!("product {id}: cached page {cached:?} differs from the database");
            ok = false;
            break;
        }
    }
    check(
        ok,
        "every page shows the database's current price, inventory, details and reviews",
    )
}

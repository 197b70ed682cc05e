//! # larder-demo: `larder demo <name>`
//!
//! Runnable demonstrations of larder-cache's patterns against a real SQLite
//! database, each printing a before/after table (database only vs cached:
//! p50/p99 latency, throughput, hit rate, database queries) and exiting
//! non-zero when its correctness check fails.
//!
//! * [`stampede`]: a hot key expiring under 1,000 concurrent readers, with
//!   each protection off and on.
//! * [`flash_sale`]: 10,000 buyers, 100 items: atomic inventory in the cache,
//!   orders written behind through a durable queue.
//! * [`blog`]: posts (cache-aside), author profiles (invalidated on update),
//!   comment counts (INCR), sessions (sliding TTL).
//! * [`product`]: a page assembled from parts with different TTLs.
//! * [`timeline`]: fan-out on write into cached lists.
//!
//! [`env`] starts what is not given: an embedded Larder server on a free
//! port, a SQLite file in a temporary directory. [`report`] prints tables.

pub mod blog;
pub mod env;
pub mod flash_sale;
pub mod product;
pub mod report;
pub mod stampede;
pub mod timeline;

use anyhow::Result;
use clap::{Args, ValueEnum};

/// `larder demo` arguments.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Which demo to run.
    #[arg(value_enum)]
    pub name: DemoName,
    /// Cache server URL (redis://host:port); default: an embedded Larder.
    #[arg(long)]
    pub cache: Option<String>,
    /// Database URL (sqlite:path); default: a SQLite file in a temp dir.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Requests per measured phase (each demo has its own default).
    #[arg(long)]
    pub requests: Option<usize>,
    /// Artificial latency added to every database query, in milliseconds
    /// (off by default; the tables say so when it is on).
    #[arg(long, default_value_t = 0)]
    pub db_latency_ms: u64,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoName {
    Blog,
    Product,
    FlashSale,
    Timeline,
    Stampede,
}

/// Runs a demo; an error means setup failed or the correctness check did.
pub fn run(args: DemoArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let env = env::Env::start(&args).await?;
        let r = match args.name {
            DemoName::Blog => blog::run(&env, args.requests.unwrap_or(20_000)).await,
            DemoName::Product => product::run(&env, args.requests.unwrap_or(20_000)).await,
            DemoName::FlashSale => flash_sale::run(&env, args.requests.unwrap_or(10_000)).await,
            DemoName::Timeline => timeline::run(&env, args.requests.unwrap_or(20_000)).await,
            DemoName::Stampede => stampede::run(&env, args.requests.unwrap_or(3_000)).await,
        };
        env.stop();
        r
    })
}

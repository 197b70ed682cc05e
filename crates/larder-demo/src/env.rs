//! What a demo runs against: the cache server (given, or an embedded Larder
//! started in this process on a free port) and the database (given, or a
//! SQLite file in a fresh temporary directory), plus a query counter.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::DemoArgs;

pub struct Env {
    /// redis:// URL of the cache server.
    pub cache_url: String,
    /// Human description of the cache server, for the table header.
    pub cache_desc: String,
    pub db: Db,
    pub db_desc: String,
    server: Option<Arc<larder_server::Shared>>,
    tmp: Option<PathBuf>,
}

impl Env {
    pub async fn start(args: &DemoArgs) -> Result<Env> {
        let (cache_url, cache_desc, server) = match &args.cache {
            Some(url) => (url.clone(), url.clone(), None),
            None => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let config = larder_server::Config {
                    port,
                    bind: vec!["127.0.0.1".into()],
                    ..Default::default()
                };
                let server = larder_server::Server::bind(config, None)
                    .await
                    .context("starting the embedded Larder server")?;
                let shared = server.shared();
                tokio::spawn(server.run());
                (
                    format!("redis://127.0.0.1:{port}"),
                    format!("embedded Larder on 127.0.0.1:{port}"),
                    Some(shared),
                )
            }
        };
        let (db_url, tmp) = match &args.database_url {
            Some(u) => (u.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "larder-demo-{}-{}",
                    std::process::id(),
                    crate::report::now_nanos()
                ));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite:{}", dir.join("demo.sqlite").display());
                (url, Some(dir))
            }
        };
        if !db_url.starts_with("sqlite:") {
            anyhow::bail!("the demos run on SQLite (sqlite:path); got '{db_url}'");
        }
        let opts: SqliteConnectOptions = db_url.parse()?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30)),
            )
            .await
            .with_context(|| format!("opening {db_url}"))?;
        let mut db_desc = format!("SQLite {db_url} (WAL, pool of 4)");
        if args.db_latency_ms > 0 {
            db_desc.push_str(&format!(
                " + ARTIFICIAL {} ms per query (--db-latency-ms)",
                args.db_latency_ms
            ));
        }
        Ok(Env {
            cache_url,
            cache_desc,
            db: Db {
                pool,
                queries: Arc::new(AtomicU64::new(0)),
                latency: Duration::from_millis(args.db_latency_ms),
            },
            db_desc,
            server,
            tmp,
        })
    }

    /// A plain connection to the cache server (for lists, counters, scripts).
    pub async fn redis(&self) -> Result<redis::aio::MultiplexedConnection> {
        Ok(redis::Client::open(self.cache_url.as_str())?
            .get_multiplexed_async_connection()
            .await?)
    }

    /// Empties the cache server's current database between phases.
    pub async fn flush_cache(&self) -> Result<()> {
        let mut c = self.redis().await?;
        let _: () = redis::cmd("FLUSHDB").query_async(&mut c).await?;
        Ok(())
    }

    pub fn stop(&self) {
        if let Some(s) = &self.server {
            s.request_shutdown();
        }
        if let Some(d) = &self.tmp {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    pub fn header(&self, title: &str) {
        println!("larder demo {title}");
        println!("  cache:    {}", self.cache_desc);
        println!("  database: {}", self.db_desc);
        println!();
    }
}

/// The database pool with a query counter (and the optional, labelled,
/// artificial latency).
#[derive(Clone)]
pub struct Db {
    pub pool: SqlitePool,
    queries: Arc<AtomicU64>,
    latency: Duration,
}

impl Db {
    /// Call before each query: counts it, adds the artificial latency if any.
    pub async fn tick(&self) {
        self.queries.fetch_add(1, Relaxed);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    pub fn queries(&self) -> u64 {
        self.queries.load(Relaxed)
    }
}

//! [`SqlStore`]: a key → JSON table in SQLite (embedded, default) or
//! PostgreSQL (feature `postgres`), usable as the [`Loader`] and [`Writer`]
//! of every pattern. Batches are one transaction of upserts/deletes
//! (idempotent, so a write-behind batch replayed after a crash is harmless).
//!
//! Table: `CREATE TABLE <name> (k TEXT PRIMARY KEY, v TEXT NOT NULL)`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{BoxError, Error, Result};
use crate::patterns::{Loader, WriteOp, Writer};

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// A key-value table behind a connection pool.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: Pool,
    get: String,
    put: String,
    del: String,
}

impl SqlStore {
    /// Connects to `url` (`sqlite:path?mode=rwc`, or `postgres://...` with
    /// the `postgres` feature) and creates `table` if missing.
    pub async fn connect(url: &str, table: &str) -> Result<SqlStore> {
        if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Config(format!("bad table name '{table}'")));
        }
        let create =
            format!("CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
        if url.starts_with("sqlite:") {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(
                    opts.create_if_missing(true)
                        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(std::time::Duration::from_secs(5)),
                )
                .await?;
            sqlx::query(&create).execute(&pool).await?;
            return Ok(SqlStore::with(Pool::Sqlite(pool), table, "?1", "?2"));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .connect(url)
                .await?;
            // Two processes creating the same table at once: PostgreSQL's
            // IF NOT EXISTS can still lose the race on its catalog (unique
            // violation, or "already exists") — the table is there then.
            if let Err(e) = sqlx::query(&create).execute(&pool).await {
                let code = e.as_database_error().and_then(|d| d.code());
                if !code.is_some_and(|c| c == "23505" || c == "42P07") {
                    return Err(e.into());
                }
            }
            return Ok(SqlStore::with(Pool::Postgres(pool), table, "$1", "$2"));
        }
        Err(Error::Config(format!(
            "unsupported database URL '{url}' (sqlite:, or postgres: with the `postgres` feature)"
        )))
    }

    fn with(pool: Pool, table: &str, p1: &str, p2: &str) -> SqlStore {
        SqlStore {
            pool,
            get: format!("SELECT v FROM {table} WHERE k = {p1}"),
            put: format!(
                "INSERT INTO {table} (k, v) VALUES ({p1}, {p2}) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
            ),
            del: format!("DELETE FROM {table} WHERE k = {p1}"),
        }
    }

    /// The SQLite pool (None for PostgreSQL).
    pub fn sqlite(&self) -> Option<&sqlx::SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => None,
        }
    }

    /// The stored JSON of `key`.
    pub async fn get_raw(&self, key: &str) -> Result<Option<String>> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_scalar(&self.get)
                    .bind(key)
                    .fetch_optional(p)
                    .await?
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                sqlx::query_scalar(&self.get)
                    .bind(key)
                    .fetch_optional(p)
                    .await?
            }
        })
    }

    /// Applies `ops` in one transaction.
    pub async fn apply(&self, ops: &[(String, Option<String>)]) -> Result<()> {
        macro_rules! run {
            ($pool:expr) => {{
                let mut tx = $pool.begin().await?;
                for (k, v) in ops {
                    match v {
                        Some(v) => {
                            sqlx::query(&self.put)
                                .bind(k)
                                .bind(v)
                                .execute(&mut *tx)
                                .await?
                        }
                        None => sqlx::query(&self.del).bind(k).execute(&mut *tx).await?,
                    };
                }
                tx.commit().await?;
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => run!(p),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => run!(p),
        }
        Ok(())
    }
}

impl<T: DeserializeOwned + Send + 'static> Loader<T> for SqlStore {
    async fn load(&self, key: &str) -> Result<T, BoxError> {
        match self.get_raw(key).await? {
            Some(v) => Ok(serde_json::from_str(&v)?),
            None => Err(Box::new(Error::NotFound(key.to_string()))),
        }
    }
}

impl<T: Serialize + Send + Sync + 'static> Writer<T> for SqlStore {
    async fn write(&self, key: &str, value: &T) -> Result<(), BoxError> {
        let v = serde_json::to_string(value)?;
        Ok(self.apply(&[(key.to_string(), Some(v))]).await?)
    }

    async fn delete(&self, key: &str) -> Result<(), BoxError> {
        Ok(self.apply(&[(key.to_string(), None)]).await?)
    }

    async fn write_batch(&self, ops: &[WriteOp<T>]) -> Result<(), BoxError> {
        let mut rows = Vec::with_capacity(ops.len());
        for op in ops {
            rows.push(match op {
                WriteOp::Put(k, v) => (k.clone(), Some(serde_json::to_string(v)?)),
                WriteOp::Delete(k) => (k.clone(), None),
            });
        }
        Ok(self.apply(&rows).await?)
    }
}

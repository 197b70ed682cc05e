//! The classic patterns as types around a [`Cache`] and the application's
//! source of truth ([`Loader`], [`Writer`]).
//!
//! | type            | read                      | write                                          |
//! |-----------------|---------------------------|------------------------------------------------|
//! | [`ReadThrough`] | cache, else the loader    | —                                              |
//! | [`WriteThrough`]| cache, else the loader    | DB (synchronously), invalidate, refill from DB |
//! | [`WriteAround`] | cache, else the loader    | DB, invalidate (the next read fills)           |
//! | [`crate::WriteBehind`] | cache, else the loader | cache now, DB later in batches         |
//!
//! **Delete, don't update.** After the database commit the cache entry is
//! *deleted* (with the invalidation counter bumped), never overwritten with
//! the value just written: two writers committing A then B can reach the
//! cache in the order B, A, and an update would leave A cached for the
//! whole TTL; a delete is idempotent and order-free. The refill of
//! [`WriteThrough`] re-reads the database *after* the commit and stores the
//! result through the counter-guarded fill, so it can only store what the
//! database held after the last invalidation. The database goes first: if
//! the cache were invalidated first, a reader could reload the old row
//! between the invalidation and the commit.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::Cache;
use crate::error::{BoxError, Result};

/// Reads a value from the source of truth.
pub trait Loader<T>: Send + Sync + 'static {
    fn load(&self, key: &str) -> impl Future<Output = Result<T, BoxError>> + Send;
}

/// One operation of a write batch.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp<T> {
    Put(String, T),
    Delete(String),
}

impl<T> WriteOp<T> {
    pub fn key(&self) -> &str {
        match self {
            WriteOp::Put(k, _) | WriteOp::Delete(k) => k,
        }
    }
}

/// Writes values to the source of truth.
pub trait Writer<T: Sync>: Send + Sync + 'static {
    fn write(&self, key: &str, value: &T) -> impl Future<Output = Result<(), BoxError>> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// A batch, ideally in one transaction (write-behind calls this); the
    /// default applies the operations one by one.
    fn write_batch(&self, ops: &[WriteOp<T>]) -> impl Future<Output = Result<(), BoxError>> + Send {
        async move {
            for op in ops {
                match op {
                    WriteOp::Put(k, v) => self.write(k, v).await?,
                    WriteOp::Delete(k) => self.delete(k).await?,
                }
            }
            Ok(())
        }
    }
}

/// A cache bound to a loader: `get(key)` is the only read call.
pub struct ReadThrough<T, L> {
    cache: Cache,
    source: Arc<L>,
    _t: PhantomData<fn() -> T>,
}

impl<T, L> Clone for ReadThrough<T, L> {
    fn clone(&self) -> Self {
        ReadThrough {
            cache: self.cache.clone(),
            source: self.source.clone(),
            _t: PhantomData,
        }
    }
}

impl<T, L> ReadThrough<T, L>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    L: Loader<T>,
{
    pub fn new(cache: Cache, source: L) -> Self {
        ReadThrough {
            cache,
            source: Arc::new(source),
            _t: PhantomData,
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn source(&self) -> &Arc<L> {
        &self.source
    }

    /// The cached value, loaded through the loader on a miss.
    pub async fn get(&self, key: &str) -> Result<T> {
        let src = self.source.clone();
        let k = key.to_string();
        self.cache
            .get_or_load(key, move || async move { src.load(&k).await })
            .await
    }

    /// Re-reads `key` from the source and stores it (counter-guarded).
    pub(crate) async fn refill(&self, key: &str) -> Result<()> {
        let src = self.source.clone();
        let k = key.to_string();
        self.cache
            .reload(key, move || async move { src.load(&k).await })
            .await
    }
}

/// Write-through: the database write happens in the caller's request; then
/// the cache entry is invalidated and refilled from the database.
pub struct WriteThrough<T, S> {
    read: ReadThrough<T, S>,
    refill: bool,
}

impl<T, S> WriteThrough<T, S>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Loader<T> + Writer<T>,
{
    pub fn new(cache: Cache, store: S) -> Self {
        WriteThrough {
            read: ReadThrough::new(cache, store),
            refill: true,
        }
    }

    pub fn cache(&self) -> &Cache {
        self.read.cache()
    }

    pub async fn get(&self, key: &str) -> Result<T> {
        self.read.get(key).await
    }

    /// Commits to the database, then invalidates and refills the cache. A
    /// database error is returned (nothing changed); a cache failure after
    /// the commit is absorbed (the invalidation is retried in background).
    pub async fn put(&self, key: &str, value: &T) -> Result<()> {
        self.read
            .source()
            .write(key, value)
            .await
            .map_err(crate::Error::load)?;
        self.invalidate(key).await;
        Ok(())
    }

    pub async fn remove(&self, key: &str) -> Result<()> {
        self.read
            .source()
            .delete(key)
            .await
            .map_err(crate::Error::load)?;
        self.invalidate(key).await;
        Ok(())
    }

    async fn invalidate(&self, key: &str) {
        if self.read.cache().delete(key).await.is_ok() && self.refill {
            if let Err(e) = self.read.refill(key).await {
                tracing::debug!(key, error = %e, "refill after write failed");
            }
        }
    }
}

/// Write-around: writes go to the database and invalidate the cache; the
/// cache fills on the next read (no refill: good for data written often and
/// read rarely, or read long after the write).
pub struct WriteAround<T, S>(WriteThrough<T, S>);

impl<T, S> WriteAround<T, S>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Loader<T> + Writer<T>,
{
    pub fn new(cache: Cache, store: S) -> Self {
        let mut w = WriteThrough::new(cache, store);
        w.refill = false;
        WriteAround(w)
    }

    pub fn cache(&self) -> &Cache {
        self.0.cache()
    }

    pub async fn get(&self, key: &str) -> Result<T> {
        self.0.get(key).await
    }

    pub async fn put(&self, key: &str, value: &T) -> Result<()> {
        self.0.put(key, value).await
    }

    pub async fn remove(&self, key: &str) -> Result<()> {
        self.0.remove(key).await
    }
}

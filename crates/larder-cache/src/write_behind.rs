//! Write-behind (write-back): a write is acknowledged once the cache holds
//! the new value and the write is queued; a background flusher commits the
//! queue to the database in batches.
//!
//! **In-memory queue.** Pending writes live in `order: VecDeque<key>` +
//! `ops: HashMap<key, op>`: a second write to a key still queued replaces
//! the op in place (coalescing: N writes to a hot counter cost one database
//! write). The queue holds at most `capacity` distinct keys; a writer that
//! finds it full waits (backpressure) — `try_write` fails instead. The
//! flusher takes up to `batch_size` ops when that many are queued or the
//! oldest has waited `max_delay`, and calls [`Writer::write_batch`], retrying
//! with exponential backoff (capped) until it succeeds: batches are applied
//! in order, one at a time, so the database sees each key's writes in order.
//! Writes to the same key are serialized by striped locks across "update the
//! cache, enqueue", so cache and queue agree on the last value.
//! [`WriteBehind::shutdown`] flushes everything before returning. A crash
//! of the process loses what was queued.
//!
//! **Durable queue** (`durable(consumer)`): the cache update and the queue
//! push are one Lua script on the server — `SET value`, bump the counter,
//! `LPUSH ns:~wb:queue entry` — so an acknowledged write is in the server's
//! list even if the application dies right after. The flusher moves up to
//! `batch_size` entries at a time with `LMOVE queue → processing:<consumer>`
//! (one script, atomic), commits them, then deletes the processing list. A
//! flusher that crashes mid-batch leaves its entries in its processing list;
//! the next start with the same consumer name commits them first. Writes
//! can thus be applied twice (at-least-once): make the writer idempotent
//! (upserts). Use one consumer per namespace to keep per-key order.
//! If the server is unreachable, a durable write falls back to a
//! synchronous database write (and a pending invalidation).
//!
//! **On a Redis Cluster** the queue and the processing lists share one hash
//! tag (`{ns:~wb}:queue`, `{ns:~wb}:processing:<consumer>`), so the move
//! between them stays one script on one node. The values live in other
//! slots, so the push and the cache update cannot be one script there: the
//! push goes first (an acknowledged write is always queued), then the
//! value is written as by [`Cache::set`]. A crash of the application
//! between the two leaves the previous value cached while the queue still
//! carries the new one to the database (stale until its TTL, never lost);
//! a cache failure there leaves a pending invalidation, as any write does.
//!
//! Reads through [`WriteBehind::get`] see queued writes of this process
//! first, so a process always reads its own writes even before the flush.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use crate::cache::{Cache, WRITE};
use crate::error::{Error, Result};
use crate::metrics::{inc, Metrics};
use crate::patterns::{Loader, WriteOp, Writer};

/// Settings of a [`WriteBehind`] queue.
#[derive(Clone, Debug)]
pub struct WriteBehindConfig {
    pub batch_size: usize,
    pub max_delay: Duration,
    /// Distinct keys queued at most (in memory) / entries (durable).
    pub capacity: usize,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Durable queue on the cache server, with this consumer name.
    pub durable: Option<String>,
}

impl Default for WriteBehindConfig {
    fn default() -> Self {
        WriteBehindConfig {
            batch_size: 100,
            max_delay: Duration::from_millis(50),
            capacity: 10_000,
            retry_base: Duration::from_millis(20),
            retry_max: Duration::from_secs(2),
            durable: None,
        }
    }
}

/// Moves up to `ARGV[1]` entries from the queue's tail to the processing list.
const TAKE: &str = "local r = {} for i = 1, tonumber(ARGV[1]) do \
local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') \
if not v then break end r[#r + 1] = v end return r";

/// Pushes `ARGV[entry]` onto the queue `KEYS[queue]` unless it holds
/// `ARGV[cap]` entries already (then returns 0); `then` runs after the push.
fn enqueue_script(queue: usize, entry: usize, cap: usize, then: &str) -> String {
    format!(
        "if redis.call('LLEN', KEYS[{queue}]) >= tonumber(ARGV[{cap}]) then return 0 end \
         redis.call('LPUSH', KEYS[{queue}], ARGV[{entry}]) {then}"
    )
}

/// The durable write on one server: the push and [`WRITE`] in one script.
/// On a cluster: the push alone (the value is written after it).
fn durable_write_script(cluster: bool) -> String {
    if cluster {
        enqueue_script(1, 1, 2, "return 1")
    } else {
        enqueue_script(3, 4, 5, WRITE)
    }
}

const STRIPES: usize = 64;

struct Queue {
    order: VecDeque<String>,
    /// `Some(payload)` = put, `None` = delete.
    ops: HashMap<String, Option<Bytes>>,
    /// The batch being committed (still visible to reads).
    inflight: HashMap<String, Option<Bytes>>,
    oldest: Option<Instant>,
}

struct Shared<T, S> {
    cache: Cache,
    store: S,
    cfg: WriteBehindConfig,
    queue: Mutex<Queue>,
    wake: Notify,
    space: Notify,
    closed: AtomicBool,
    stripes: Vec<tokio::sync::Mutex<()>>,
    script: String,
    _t: PhantomData<fn() -> T>,
}

/// A write-behind front for a store that is both [`Loader`] and [`Writer`].
pub struct WriteBehind<T, S> {
    shared: Arc<Shared<T, S>>,
    flusher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<T, S> WriteBehind<T, S>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Loader<T> + Writer<T>,
{
    /// Starts the flusher. A durable queue needs a single-server cache.
    pub fn new(cache: Cache, store: S, cfg: WriteBehindConfig) -> Result<Self> {
        if cfg.durable.is_some() && cache.inner.nodes.len() != 1 {
            return Err(Error::Config(
                "a durable write-behind queue needs a single cache server".into(),
            ));
        }
        let script = durable_write_script(cache.inner.is_cluster());
        let shared = Arc::new(Shared {
            cache,
            store,
            queue: Mutex::new(Queue {
                order: VecDeque::new(),
                ops: HashMap::new(),
                inflight: HashMap::new(),
                oldest: None,
            }),
            wake: Notify::new(),
            space: Notify::new(),
            closed: AtomicBool::new(false),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            script,
            cfg,
            _t: PhantomData,
        });
        let task = if shared.cfg.durable.is_some() {
            tokio::spawn(shared.clone().run_durable())
        } else {
            tokio::spawn(shared.clone().run_memory())
        };
        Ok(WriteBehind {
            shared,
            flusher: Mutex::new(Some(task)),
        })
    }

    pub fn cache(&self) -> &Cache {
        &self.shared.cache
    }

    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// Acknowledged when the cache holds `value` and the write is queued.
    pub async fn write(&self, key: &str, value: &T) -> Result<()> {
        let payload = Bytes::from(serde_json::to_vec(value)?);
        self.shared.submit(key, Some(payload), true).await
    }

    /// A queued delete.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.shared.submit(key, None, true).await
    }

    /// Like [`WriteBehind::write`] but fails with [`Error::QueueFull`]
    /// instead of waiting for room (in-memory queue).
    pub async fn try_write(&self, key: &str, value: &T) -> Result<()> {
        let payload = Bytes::from(serde_json::to_vec(value)?);
        self.shared.submit(key, Some(payload), false).await
    }

    /// This process's queued value if any, else the cache, else the loader.
    pub async fn get(&self, key: &str) -> Result<T> {
        let queued = {
            let q = self.shared.queue.lock();
            q.ops.get(key).or_else(|| q.inflight.get(key)).cloned()
        };
        match queued {
            Some(Some(p)) => Ok(serde_json::from_slice(&p)?),
            Some(None) => Err(Error::NotFound(key.to_string())),
            None => {
                let s = self.shared.clone();
                let k = key.to_string();
                self.shared
                    .cache
                    .get_or_load(key, move || async move { s.store.load(&k).await })
                    .await
            }
        }
    }

    /// Operations queued and not yet committed by this process.
    pub fn depth(&self) -> usize {
        let q = self.shared.queue.lock();
        q.ops.len() + q.inflight.len()
    }

    /// Stops accepting writes and flushes everything queued, waiting at most
    /// `timeout` (the database may be down). Err(Closed) on timeout: the
    /// remaining in-memory writes are lost; durable ones stay on the server.
    pub async fn shutdown(&self, timeout: Duration) -> Result<()> {
        self.shared.closed.store(true, SeqCst);
        self.shared.wake.notify_one();
        self.shared.space.notify_waiters();
        let task = self.flusher.lock().take();
        if let Some(mut t) = task {
            if tokio::time::timeout(timeout, &mut t).await.is_err() {
                t.abort();
                return Err(Error::Closed);
            }
        }
        Ok(())
    }

    /// Simulates a crash: the flusher stops at once, nothing more is flushed.
    pub fn abort(&self) {
        self.shared.closed.store(true, SeqCst);
        if let Some(t) = self.flusher.lock().take() {
            t.abort();
        }
    }
}

impl<T, S> Drop for WriteBehind<T, S> {
    fn drop(&mut self) {
        // Without shutdown() the flusher still drains the queue on its own.
        self.shared.closed.store(true, SeqCst);
        self.shared.wake.notify_one();
    }
}

impl<T, S> Shared<T, S>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Loader<T> + Writer<T>,
{
    fn metrics(&self) -> &Metrics {
        &self.cache.inner.metrics
    }

    fn stripe(&self, key: &str) -> &tokio::sync::Mutex<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.stripes[h.finish() as usize % STRIPES]
    }

    async fn submit(&self, key: &str, payload: Option<Bytes>, wait: bool) -> Result<()> {
        if self.closed.load(SeqCst) {
            return Err(Error::Closed);
        }
        let _order = self.stripe(key).lock().await;
        let inner = &self.cache.inner;
        let (encoded, px) = match &payload {
            Some(p) => {
                let (env, px) = inner.envelope(p.clone(), inner_ttl(&self.cache), 0);
                (Some(env.encode()), px)
            }
            None => (None, 0),
        };
        if self.cfg.durable.is_some() {
            return self.submit_durable(key, payload, encoded, px, wait).await;
        }
        // The cache first (the write is visible at once), then the queue.
        // A cache failure leaves a pending invalidation; the queue still
        // carries the write to the database.
        let _ = inner.write(key, encoded, px).await;
        loop {
            let room = self.space.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut q = self.queue.lock();
                if let Some(op) = q.ops.get_mut(key) {
                    *op = payload;
                    return Ok(());
                }
                if q.ops.len() < self.cfg.capacity {
                    q.order.push_back(key.to_string());
                    q.ops.insert(key.to_string(), payload);
                    q.oldest.get_or_insert_with(Instant::now);
                    self.metrics().wb_queue_depth.fetch_add(1, Relaxed);
                    if q.ops.len() >= self.cfg.batch_size {
                        self.wake.notify_one();
                    }
                    return Ok(());
                }
            }
            if !wait {
                return Err(Error::QueueFull);
            }
            if self.closed.load(SeqCst) {
                return Err(Error::Closed);
            }
            room.await;
        }
    }

    async fn submit_durable(
        &self,
        key: &str,
        payload: Option<Bytes>,
        encoded: Option<Bytes>,
        px: u64,
        wait: bool,
    ) -> Result<()> {
        let inner = &self.cache.inner;
        let entry = encode_entry(key, payload.as_deref());
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(&self.script);
        if inner.is_cluster() {
            cmd.arg(1)
                .arg(self.queue_key())
                .arg(entry.as_ref())
                .arg(self.cfg.capacity);
        } else {
            cmd.arg(3)
                .arg(inner.vkey(key))
                .arg(inner.gkey(key))
                .arg(self.queue_key())
                .arg(encoded.as_deref().unwrap_or(b""))
                .arg(px.max(1))
                .arg(inner.gen_window_ms())
                .arg(entry.as_ref())
                .arg(self.cfg.capacity);
        }
        loop {
            match inner.nodes[0].query::<i64>(&cmd).await {
                Ok(1) => {
                    if inner.is_cluster() {
                        // Queued; now the value (a failure leaves a
                        // pending invalidation, the write is not lost).
                        let _ = inner.write(key, encoded, px).await;
                    } else {
                        if let Some(n) = &inner.near {
                            n.invalidate(key);
                        }
                        let _ = inner.publish(key).await;
                    }
                    self.metrics().wb_queue_depth.fetch_add(1, Relaxed);
                    self.wake.notify_one();
                    return Ok(());
                }
                Ok(_) if wait && !self.closed.load(SeqCst) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(_) => return Err(Error::QueueFull),
                Err(e) => {
                    // No durable queue without the server: write through.
                    tracing::debug!(key, error = %e, "durable queue unreachable; writing through");
                    let op = decode_op::<T>(key, payload.as_deref())?;
                    self.store
                        .write_batch(std::slice::from_ref(&op))
                        .await
                        .map_err(Error::load)?;
                    let _ = inner.write(key, None, 0).await;
                    return Ok(());
                }
            }
        }
    }

    fn queue_key(&self) -> String {
        self.cache.inner.wb_key("queue")
    }

    fn processing_key(&self) -> String {
        let consumer = self.cfg.durable.as_deref().unwrap_or("default");
        self.cache.inner.wb_key(&format!("processing:{consumer}"))
    }

    /// Commits `ops` (retrying with backoff until it succeeds).
    async fn commit(&self, ops: &[WriteOp<T>]) {
        let mut backoff = self.cfg.retry_base;
        loop {
            match self.store.write_batch(ops).await {
                Ok(()) => {
                    inc(&self.metrics().wb_flush_batches);
                    self.metrics()
                        .wb_flushed_ops
                        .fetch_add(ops.len() as u64, Relaxed);
                    return;
                }
                Err(e) => {
                    inc(&self.metrics().wb_flush_errors);
                    tracing::warn!(error = %e, ops = ops.len(), "write-behind flush failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.retry_max);
                }
            }
        }
    }

    async fn run_memory(self: Arc<Self>) {
        loop {
            let batch: Vec<(String, Option<Bytes>)> = loop {
                let wait = {
                    let mut q = self.queue.lock();
                    let closed = self.closed.load(SeqCst);
                    let due = q.oldest.is_some_and(|t| t.elapsed() >= self.cfg.max_delay);
                    if !q.ops.is_empty() && (closed || due || q.ops.len() >= self.cfg.batch_size) {
                        let n = q.order.len().min(self.cfg.batch_size);
                        let keys: Vec<String> = q.order.drain(..n).collect();
                        let mut b = Vec::with_capacity(n);
                        for k in keys {
                            if let Some(op) = q.ops.remove(&k) {
                                q.inflight.insert(k.clone(), op.clone());
                                b.push((k, op));
                            }
                        }
                        q.oldest = (!q.ops.is_empty()).then(Instant::now);
                        break b;
                    }
                    if q.ops.is_empty() && closed {
                        return;
                    }
                    match q.oldest {
                        Some(t) => self.cfg.max_delay.saturating_sub(t.elapsed()),
                        None => Duration::from_secs(3600),
                    }
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            };
            self.space.notify_waiters();
            let ops: Vec<WriteOp<T>> = batch
                .iter()
                .filter_map(|(k, p)| decode_op(k, p.as_deref()).ok())
                .collect();
            self.commit(&ops).await;
            self.metrics()
                .wb_queue_depth
                .fetch_sub(batch.len() as i64, Relaxed);
            let mut q = self.queue.lock();
            for (k, _) in &batch {
                q.inflight.remove(k);
            }
        }
    }

    async fn run_durable(self: Arc<Self>) {
        let node = &self.cache.inner.nodes[0];
        let (queue, processing) = (self.queue_key(), self.processing_key());
        // Recovery: a batch a previous run took but did not commit.
        loop {
            let r: Result<Vec<Vec<u8>>> = node
                .query(redis::cmd("LRANGE").arg(&processing).arg(0).arg(-1))
                .await;
            match r {
                Ok(mut left) => {
                    if !left.is_empty() {
                        left.reverse();
                        tracing::info!(
                            entries = left.len(),
                            "write-behind: recovering an uncommitted batch"
                        );
                        self.commit_entries(&left).await;
                        let _ = node.query::<i64>(redis::cmd("DEL").arg(&processing)).await;
                    }
                    break;
                }
                Err(_) => tokio::time::sleep(self.cfg.retry_base).await,
            }
        }
        loop {
            let closed = self.closed.load(SeqCst);
            let mut take = redis::cmd("EVAL");
            take.arg(TAKE)
                .arg(2)
                .arg(&queue)
                .arg(&processing)
                .arg(self.cfg.batch_size);
            match node.query::<Vec<Vec<u8>>>(&take).await {
                Ok(entries) if !entries.is_empty() => {
                    self.commit_entries(&entries).await;
                    // The batch is committed: drop it from processing. If
                    // this fails the batch is re-committed on the next start.
                    let _ = node.query::<i64>(redis::cmd("DEL").arg(&processing)).await;
                    self.metrics()
                        .wb_queue_depth
                        .fetch_sub(entries.len() as i64, Relaxed);
                    if entries.len() == self.cfg.batch_size {
                        continue;
                    }
                }
                Ok(_) if closed => return,
                Ok(_) => {}
                Err(_) if closed => return,
                Err(_) => {}
            }
            tokio::select! {
                _ = self.wake.notified() => {
                    // Let a batch accumulate.
                    tokio::time::sleep(self.cfg.max_delay).await;
                }
                _ = tokio::time::sleep(self.cfg.max_delay) => {}
            }
        }
    }

    /// Decodes queue entries (oldest first), keeps the last op per key, commits.
    async fn commit_entries(&self, entries: &[Vec<u8>]) {
        let mut last: HashMap<String, usize> = HashMap::new();
        let mut decoded = Vec::with_capacity(entries.len());
        for e in entries {
            match decode_entry(e) {
                Some((k, p)) => {
                    last.insert(k.clone(), decoded.len());
                    decoded.push((k, p));
                }
                None => tracing::warn!("write-behind: skipping a malformed queue entry"),
            }
        }
        let ops: Vec<WriteOp<T>> = decoded
            .iter()
            .enumerate()
            .filter(|(i, (k, _))| last.get(k) == Some(i))
            .filter_map(|(_, (k, p))| decode_op(k, p.as_deref()).ok())
            .collect();
        self.commit(&ops).await;
    }
}

fn inner_ttl(cache: &Cache) -> crate::Ttl {
    cache.inner.default_ttl()
}

fn decode_op<T: DeserializeOwned>(key: &str, payload: Option<&[u8]>) -> Result<WriteOp<T>> {
    Ok(match payload {
        Some(p) => WriteOp::Put(key.to_string(), serde_json::from_slice(p)?),
        None => WriteOp::Delete(key.to_string()),
    })
}

/// `P|D`, key length (u16 BE), key, payload.
fn encode_entry(key: &str, payload: Option<&[u8]>) -> Bytes {
    let mut b = BytesMut::with_capacity(3 + key.len() + payload.map_or(0, <[u8]>::len));
    b.put_u8(if payload.is_some() { b'P' } else { b'D' });
    b.put_u16(key.len().min(u16::MAX as usize) as u16);
    b.put_slice(key.as_bytes());
    if let Some(p) = payload {
        b.put_slice(p);
    }
    b.freeze()
}

fn decode_entry(mut e: &[u8]) -> Option<(String, Option<Vec<u8>>)> {
    if e.len() < 3 {
        return None;
    }
    let kind = e.get_u8();
    let n = e.get_u16() as usize;
    if e.len() < n {
        return None;
    }
    let key = String::from_utf8(e[..n].to_vec()).ok()?;
    let rest = &e[n..];
    match kind {
        b'P' => Some((key, Some(rest.to_vec()))),
        b'D' => Some((key, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_entries_round_trip() {
        let e = encode_entry("user:1", Some(b"{\"n\":1}"));
        assert_eq!(
            decode_entry(&e),
            Some(("user:1".to_string(), Some(b"{\"n\":1}".to_vec())))
        );
        let d = encode_entry("user:2", None);
        assert_eq!(decode_entry(&d), Some(("user:2".to_string(), None)));
        assert_eq!(decode_entry(b"X\x00\x01k"), None);
        assert_eq!(decode_entry(b"P\x00\x09k"), None);
    }
}

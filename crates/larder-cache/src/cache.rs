//! [`Cache`]: a namespace of typed values on one or more RESP servers, with
//! cache-aside loads, stampede control, grace periods, a near cache and
//! invalidation.
//!
//! Keys on the server (`ns` = namespace, `k` = the application's key):
//!
//! | key (one server) | key (Redis Cluster) | holds                                  |
//! |------------------|---------------------|----------------------------------------|
//! | `ns:k`           | `{ns:k}`            | the value, in the [`Envelope`] format  |
//! | `ns:~gen:k`      | `{ns:k}:~gen`       | invalidation counter (INCR on every write/delete) |
//! | `ns:~lease:k`    | `{ns:k}:~lease`     | the distributed load lease (random token, PX) |
//!
//! Keys starting with `~` are reserved for the toolkit. On a cluster the
//! value, its counter and its lease share one hash tag, hence one slot, so
//! the `MGET` and the Lua scripts that touch a value and its counter
//! together are single-slot (a script may only touch keys of one slot).
//!
//! **Why the counter.** "Delete, don't update" alone leaves a race: a reader
//! misses, reads the *old* row, the writer commits and deletes the key, then
//! the reader stores the old row — stale until the TTL. Here every reader
//! fetches the value and the counter in one `MGET`, and its fill is a Lua
//! compare-and-set that stores the loaded value only if the counter has not
//! moved. Every write or delete bumps the counter (with a TTL of
//! `invalidation_window`, which must exceed the longest load), so a fill
//! that raced with an invalidation is refused.
//!
//! **Read path** of [`Cache::get_or_load`]: near cache → one `MGET` → fresh
//! value (maybe start an early refresh: XFetch or refresh-ahead) / stale
//! value inside stale-while-revalidate (serve it, refresh in background) /
//! miss → single-flight load in this process, optionally under a
//! distributed lease → gen-guarded fill. If the load fails and a stale value
//! is inside stale-if-error, the stale value is served.
//!
//! **Degradation.** Every cache call has connect/response timeouts and goes
//! through a per-node circuit breaker. When the cache fails, reads go to the
//! loader (still single-flight) and are not stored; invalidations that could
//! not be delivered are kept in a pending set, retried in the background,
//! and until delivered the key bypasses the cache in this process.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::breaker::BreakerConfig;
use crate::envelope::{now_ms, Envelope};
use crate::error::{BoxError, Error, Result};
use crate::flight::SingleFlight;
use crate::invalidation::{self, Invalidation};
use crate::metrics::{inc, Metrics};
use crate::near::NearCache;
use crate::node::{Node, Timeouts};
use crate::ring::{Ketama, NodeSpec, Rendezvous, Ring};
use crate::ttl::Ttl;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Stores `ARGV[2]` under `KEYS[1]` (PX `ARGV[3]`) only if the invalidation
/// counter `KEYS[2]` still equals `ARGV[1]` ('' = absent).
const FILL: &str = "local g = redis.call('GET', KEYS[2]) or '' \
if g == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";

/// Writes (`ARGV[1]` non-empty, PX `ARGV[2]`) or deletes `KEYS[1]`, and bumps
/// the counter `KEYS[2]` (PX `ARGV[3]`).
pub(crate) const WRITE: &str = "if ARGV[1] == '' then redis.call('DEL', KEYS[1]) \
else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end \
redis.call('INCR', KEYS[2]) redis.call('PEXPIRE', KEYS[2], ARGV[3]) return 1";

/// Deletes the lease `KEYS[1]` only if it still holds our token `ARGV[1]`.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// How the nodes are chosen when there are several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharding {
    /// libmemcached-compatible ketama.
    #[default]
    Ketama,
    /// Rendezvous (highest random weight).
    Rendezvous,
}

/// Distributed lease settings (cross-process stampede protection).
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    /// Lease lifetime: a crashed holder blocks others at most this long.
    pub ttl: Duration,
    /// How long a caller that lost the race waits for the holder's value
    /// before loading itself.
    pub max_wait: Duration,
}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            ttl: Duration::from_secs(5),
            max_wait: Duration::from_secs(2),
        }
    }
}

/// Builder of a [`Cache`].
#[derive(Clone)]
pub struct CacheBuilder {
    nodes: Vec<(String, u32)>,
    cluster: Vec<String>,
    sharding: Sharding,
    namespace: String,
    ttl: Ttl,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
    xfetch_beta: Option<f64>,
    refresh_ahead: Option<f64>,
    single_flight: bool,
    lease: Option<Lease>,
    near_bytes: usize,
    near_max_ttl: Duration,
    invalidation: Invalidation,
    invalidation_window: Duration,
    timeouts: Timeouts,
    breaker: BreakerConfig,
}

impl CacheBuilder {
    /// A cache server URL (`redis://host:port/db`); call again to shard over
    /// several servers.
    pub fn server(mut self, url: impl Into<String>) -> Self {
        self.nodes.push((url.into(), 1));
        self
    }

    /// A server with a weight (its share of the keys is proportional).
    pub fn weighted_server(mut self, url: impl Into<String>, weight: u32) -> Self {
        self.nodes.push((url.into(), weight.max(1)));
        self
    }

    /// A Redis Cluster instead of `server`s: `seeds` are some of its nodes
    /// (`redis://host:port`); the client discovers the others and routes
    /// each command to the node owning its key's slot. Keys get a hash tag
    /// (see the module notes); the invalidation bus subscribes on one seed
    /// (cluster `PUBLISH` reaches every node); CLIENT TRACKING is not
    /// available (it is per node).
    pub fn cluster<I, S>(mut self, seeds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster.extend(seeds.into_iter().map(Into::into));
        self
    }

    pub fn sharding(mut self, s: Sharding) -> Self {
        self.sharding = s;
        self
    }

    /// Default TTL of the namespace (per-entry TTLs override it).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl.base = ttl;
        self
    }

    /// ± jitter on every TTL, in percent.
    pub fn jitter_percent(mut self, pct: f64) -> Self {
        self.ttl = self.ttl.with_jitter_percent(pct);
        self
    }

    /// Serve a stale value for this long past its TTL while one caller
    /// refreshes it in the background.
    pub fn stale_while_revalidate(mut self, d: Duration) -> Self {
        self.stale_while_revalidate = d;
        self
    }

    /// Serve a stale value for this long past its TTL when the load fails.
    pub fn stale_if_error(mut self, d: Duration) -> Self {
        self.stale_if_error = d;
        self
    }

    /// Probabilistic early expiration (XFetch) with this β (1.0 is the
    /// paper's default; larger refreshes earlier).
    pub fn xfetch(mut self, beta: f64) -> Self {
        self.xfetch_beta = Some(beta.max(0.0));
        self
    }

    /// Refresh in the background once less than `fraction` of the TTL is left.
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = Some(fraction.clamp(0.0, 1.0));
        self
    }

    /// In-process single-flight (on by default).
    pub fn single_flight(mut self, on: bool) -> Self {
        self.single_flight = on;
        self
    }

    /// Cross-process stampede protection with a lease on the server.
    pub fn lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// An in-process near cache of at most `bytes`, whose entries live at
    /// most `max_ttl` (and never past the value's freshness). Needs an
    /// invalidation channel ([`CacheBuilder::invalidation`]).
    pub fn near_cache(mut self, bytes: usize, max_ttl: Duration) -> Self {
        self.near_bytes = bytes;
        self.near_max_ttl = max_ttl;
        self
    }

    pub fn invalidation(mut self, inv: Invalidation) -> Self {
        self.invalidation = inv;
        self
    }

    /// How long an invalidation counter lives; must exceed the longest load.
    pub fn invalidation_window(mut self, d: Duration) -> Self {
        self.invalidation_window = d;
        self
    }

    pub fn timeouts(mut self, connect: Duration, response: Duration) -> Self {
        self.timeouts = Timeouts { connect, response };
        self
    }

    pub fn circuit_breaker(mut self, threshold: u32, cooldown: Duration) -> Self {
        self.breaker = BreakerConfig {
            threshold: threshold.max(1),
            cooldown,
        };
        self
    }

    /// Builds the cache; starts the invalidation listener if there is one.
    /// Does not need the server to be up (the cache degrades until it is).
    /// Must be called inside a Tokio runtime (it spawns the listeners).
    pub fn build(self) -> Result<Cache> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config("Cache::build needs a Tokio runtime".into()));
        }
        if self.nodes.is_empty() && self.cluster.is_empty() {
            return Err(Error::Config("no cache server given".into()));
        }
        if !self.nodes.is_empty() && !self.cluster.is_empty() {
            return Err(Error::Config(
                "give either servers (sharded by the toolkit) or a cluster, not both".into(),
            ));
        }
        if self.namespace.is_empty() || self.namespace.contains(':') {
            return Err(Error::Config(format!(
                "namespace '{}' must be non-empty and contain no ':'",
                self.namespace
            )));
        }
        if self.near_bytes > 0 && self.invalidation == Invalidation::None {
            return Err(Error::Config(
                "a near cache needs an invalidation channel (bus or tracking)".into(),
            ));
        }
        if self.invalidation.is_tracking() && (self.nodes.len() > 1 || !self.cluster.is_empty()) {
            return Err(Error::Config(
                "CLIENT TRACKING invalidation supports one server; use the bus when sharding or on a cluster"
                    .into(),
            ));
        }
        let cluster = !self.cluster.is_empty();
        let (nodes, weights) = if cluster {
            let node = Node::cluster(&self.cluster, self.timeouts.clone(), self.breaker)?;
            (vec![node], vec![1])
        } else {
            let nodes = self
                .nodes
                .iter()
                .map(|(url, _)| Node::new(url, self.timeouts.clone(), self.breaker))
                .collect::<Result<Vec<_>>>()?;
            (nodes, self.nodes.iter().map(|(_, w)| *w).collect())
        };
        let specs: Vec<NodeSpec> = nodes
            .iter()
            .zip(weights)
            .map(|(n, weight)| NodeSpec {
                name: n.name.clone(),
                weight,
            })
            .collect();
        let ring: Box<dyn Ring> = match self.sharding {
            Sharding::Ketama => Box::new(Ketama::new(&specs)),
            Sharding::Rendezvous => Box::new(Rendezvous::new(&specs)),
        };
        let near = (self.near_bytes > 0).then(|| NearCache::new(self.near_bytes, false));
        let inner = Arc::new(Inner {
            channel: format!("larder-cache:invalidate:{}", self.namespace),
            ns: self.namespace,
            cluster,
            nodes,
            ring,
            ttl: self.ttl,
            swr: self.stale_while_revalidate,
            sie: self.stale_if_error,
            xfetch_beta: self.xfetch_beta,
            refresh_ahead: self.refresh_ahead,
            flight: self.single_flight.then(SingleFlight::default),
            lease: self.lease,
            near,
            near_max_ttl: self.near_max_ttl,
            invalidation: self.invalidation,
            gen_window_ms: self.invalidation_window.as_millis().max(1) as u64,
            metrics: Arc::new(Metrics::default()),
            pending: Mutex::new(HashSet::new()),
            pending_len: AtomicUsize::new(0),
            tracking: Mutex::new(None),
            tracking_lost: Arc::new(tokio::sync::Notify::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        let mut tasks = vec![tokio::spawn(retry_pending(weak.clone()))];
        match inner.invalidation {
            Invalidation::None => {}
            Invalidation::Bus => tasks.push(tokio::spawn(invalidation::run_bus(weak))),
            Invalidation::Tracking | Invalidation::TrackingRedirect => {
                tasks.push(tokio::spawn(invalidation::run_tracking(weak)))
            }
        }
        *inner.tasks.lock() = tasks;
        Ok(Cache { inner })
    }
}

/// A namespace of cached values. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) ns: String,
    /// Keys carry a hash tag (Redis Cluster).
    cluster: bool,
    pub(crate) channel: String,
    pub(crate) nodes: Vec<Node>,
    ring: Box<dyn Ring>,
    ttl: Ttl,
    swr: Duration,
    sie: Duration,
    xfetch_beta: Option<f64>,
    refresh_ahead: Option<f64>,
    flight: Option<SingleFlight>,
    lease: Option<Lease>,
    pub(crate) near: Option<NearCache>,
    near_max_ttl: Duration,
    pub(crate) invalidation: Invalidation,
    gen_window_ms: u64,
    pub(crate) metrics: Arc<Metrics>,
    pending: Mutex<HashSet<String>>,
    pending_len: AtomicUsize,
    /// The connection with CLIENT TRACKING on, when that mode is up.
    pub(crate) tracking: Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Told when a read over the tracking connection failed: the tracking
    /// task rebuilds it (the server forgot what that connection tracked).
    pub(crate) tracking_lost: Arc<tokio::sync::Notify>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

/// What one MGET found.
struct Fetched {
    value: Option<Envelope>,
    gen: Bytes,
}

impl Cache {
    /// A builder for namespace `namespace` (no ':' in it), TTL 5 minutes.
    pub fn builder(namespace: impl Into<String>) -> CacheBuilder {
        CacheBuilder {
            nodes: Vec::new(),
            cluster: Vec::new(),
            sharding: Sharding::default(),
            namespace: namespace.into(),
            ttl: Ttl::new(Duration::from_secs(300)),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            xfetch_beta: None,
            refresh_ahead: None,
            single_flight: true,
            lease: None,
            near_bytes: 0,
            near_max_ttl: Duration::from_secs(30),
            invalidation: Invalidation::None,
            invalidation_window: Duration::from_secs(60),
            timeouts: Timeouts::default(),
            breaker: BreakerConfig::default(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.inner.ns
    }

    /// Live counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Prometheus text of this cache's counters.
    pub fn prometheus(&self) -> String {
        self.inner.metrics.prometheus(&self.inner.ns)
    }

    /// Entries in the near cache (0 without one).
    pub fn near_len(&self) -> usize {
        self.inner.near.as_ref().map_or(0, NearCache::len)
    }

    /// Whether the near cache is serving (its invalidation channel is up).
    pub fn near_ready(&self) -> bool {
        self.inner.near.as_ref().is_some_and(NearCache::is_coherent)
    }

    /// The server key of `key`.
    pub fn server_key(&self, key: &str) -> String {
        self.inner.vkey(key)
    }

    /// The node index `key` maps to.
    pub fn node_of(&self, key: &str) -> usize {
        self.inner.ring.node_for(key.as_bytes())
    }

    /// A fresh value, or None (miss, stale, or not in this format).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let now = now_ms();
        let f = self.inner.fetch(key).await?;
        match f.value {
            Some(e) if e.is_fresh(now) => Ok(Some(serde_json::from_slice(&e.payload)?)),
            _ => Ok(None),
        }
    }

    /// Stores `value` with the namespace TTL.
    pub async fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.set_with_ttl(key, value, self.inner.ttl).await
    }

    /// Stores `value` with its own TTL (jitter applies if the TTL has one).
    pub async fn set_with_ttl<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: impl Into<Ttl>,
    ) -> Result<()> {
        let payload = Bytes::from(serde_json::to_vec(value)?);
        let (env, px) = self.inner.envelope(payload, ttl.into(), 0);
        self.inner.write(key, Some(env.encode()), px).await
    }

    /// Invalidates `key` everywhere: the server value, fills racing with
    /// this call, this process's near cache and (over the bus) the others'.
    /// When the cache server is unreachable the invalidation is kept and
    /// retried, the key bypasses the cache here until then, and the error is
    /// returned.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.inner.write(key, None, 0).await
    }

    /// Cache-aside with the namespace TTL: the cached value, or `loader`'s
    /// (stored for the next caller). See the module notes for the full path.
    pub async fn get_or_load<T, F, Fut, E>(&self, key: &str, loader: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.get_or_load_with(key, self.inner.ttl, loader).await
    }

    /// [`Cache::get_or_load`] with a per-entry TTL.
    pub async fn get_or_load_with<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: impl Into<Ttl>,
        loader: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let load: BoxFuture<Result<Bytes>> = Box::pin(async move {
            let v = loader().await.map_err(|e| Error::load(e.into()))?;
            Ok(Bytes::from(serde_json::to_vec(&v)?))
        });
        let payload = self.inner.clone().lookup(key, ttl.into(), load).await?;
        Ok(serde_json::from_slice(&payload)?)
    }

    /// Loads `key` from `loader` and stores it (gen-guarded, so a racing
    /// invalidation wins), bypassing what is cached. Used by refill after
    /// write-through and by warm-up.
    pub(crate) async fn reload<T, F, Fut, E>(&self, key: &str, loader: F) -> Result<()>
    where
        T: Serialize + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let gen = match self.inner.fetch(key).await {
            Ok(f) => Some(f.gen),
            Err(_) => None,
        };
        let load: BoxFuture<Result<Bytes>> = Box::pin(async move {
            let v = loader().await.map_err(|e| Error::load(e.into()))?;
            Ok(Bytes::from(serde_json::to_vec(&v)?))
        });
        let ok = gen.is_some();
        self.inner
            .clone()
            .flight(key, self.inner.ttl, gen.unwrap_or_default(), ok, load)
            .await
            .map(|_| ())
    }

    /// Preloads `keys` with `loader`, `concurrency` at a time, calling
    /// `progress(done, total)` after each. Returns how many loaded; failures
    /// are counted in the metrics and skipped.
    pub async fn warm_up<T, F, Fut, E>(
        &self,
        keys: Vec<String>,
        concurrency: usize,
        loader: F,
        mut progress: impl FnMut(usize, usize),
    ) -> usize
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(String) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        use futures_util::stream::{self, StreamExt};
        let total = keys.len();
        let mut done = 0;
        let mut ok = 0;
        let mut s = stream::iter(keys)
            .map(|k| {
                let l = loader.clone();
                let c = self.clone();
                async move {
                    let kk = k.clone();
                    c.get_or_load::<T, _, _, _>(&k, move || l(kk)).await.is_ok()
                }
            })
            .buffer_unordered(concurrency.max(1));
        while let Some(r) = s.next().await {
            done += 1;
            ok += r as usize;
            progress(done, total);
        }
        ok
    }

    /// The hottest keys looked up so far (sampled), for warming a new node.
    pub fn hot_keys(&self, n: usize) -> Vec<String> {
        self.inner.metrics.hot_keys(n)
    }

    /// Invalidations waiting for the cache server to come back.
    pub fn pending_invalidations(&self) -> usize {
        self.inner.pending_len.load(Relaxed)
    }
}

impl Inner {
    /// The server key of `key`'s value (`kind` "") or of the toolkit's
    /// `kind` of key beside it (see the module notes for the layout).
    fn key_of(&self, key: &str, kind: &str) -> String {
        match (self.cluster, kind) {
            (false, "") => format!("{}:{key}", self.ns),
            (false, kind) => format!("{}:~{kind}:{key}", self.ns),
            (true, "") => format!("{{{}:{key}}}", self.ns),
            (true, kind) => format!("{{{}:{key}}}:~{kind}", self.ns),
        }
    }

    pub(crate) fn vkey(&self, key: &str) -> String {
        self.key_of(key, "")
    }

    pub(crate) fn gkey(&self, key: &str) -> String {
        self.key_of(key, "gen")
    }

    fn lkey(&self, key: &str) -> String {
        self.key_of(key, "lease")
    }

    /// A key of the write-behind queue: `ns:~wb:<rest>`, or on a cluster
    /// `{ns:~wb}:<rest>` (the queue and the processing lists share a slot,
    /// so one script can move entries between them).
    pub(crate) fn wb_key(&self, rest: &str) -> String {
        if self.cluster {
            format!("{{{}:~wb}}:{rest}", self.ns)
        } else {
            format!("{}:~wb:{rest}", self.ns)
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster
    }

    pub(crate) fn node(&self, key: &str) -> &Node {
        &self.nodes[self.ring.node_for(key.as_bytes())]
    }

    /// The envelope of a new value and the key's server-side TTL in ms.
    pub(crate) fn envelope(&self, payload: Bytes, ttl: Ttl, delta_ms: u32) -> (Envelope, u64) {
        let fresh = ttl.sample().as_millis() as u64;
        let grace = self.swr.max(self.sie).as_millis() as u64;
        let env = Envelope {
            fresh_until: now_ms() + fresh,
            delta_ms,
            ttl_ms: fresh.min(u32::MAX as u64) as u32,
            payload,
        };
        (env, fresh + grace)
    }

    pub(crate) fn default_ttl(&self) -> Ttl {
        self.ttl
    }

    pub(crate) fn gen_window_ms(&self) -> u64 {
        self.gen_window_ms
    }

    /// Value and invalidation counter in one round trip (over the tracking
    /// connection when CLIENT TRACKING keeps the near cache coherent, so the
    /// server tracks exactly the keys we cache).
    async fn fetch(&self, key: &str) -> Result<Fetched> {
        let mut cmd = redis::cmd("MGET");
        cmd.arg(self.vkey(key)).arg(self.gkey(key));
        let tracked = self.tracking.lock().clone();
        let r: Vec<Option<Vec<u8>>> = match tracked {
            Some(mut c) => {
                let t = self.nodes[0].timeouts().response;
                match tokio::time::timeout(t, cmd.query_async(&mut c)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        if crate::error::is_connectivity(&e) {
                            self.tracking_lost.notify_waiters();
                        }
                        return Err(e.into());
                    }
                    Err(_) => {
                        self.tracking_lost.notify_waiters();
                        return Err(Error::Timeout);
                    }
                }
            }
            None => self.node(key).query(&cmd).await?,
        };
        let mut it = r.into_iter();
        let value = it.next().flatten().map(Bytes::from);
        let gen = it.next().flatten().map(Bytes::from).unwrap_or_default();
        let value = match value {
            Some(raw) => Some(Envelope::decode(raw).ok_or_else(|| Error::Format(key.into()))?),
            None => None,
        };
        Ok(Fetched { value, gen })
    }

    /// Writes (`Some`) or deletes (`None`) and bumps the counter; publishes
    /// on the bus; drops the near copy. On failure the key is remembered as
    /// pending so that it bypasses the cache until the retry succeeds.
    pub(crate) async fn write(&self, key: &str, encoded: Option<Bytes>, px: u64) -> Result<()> {
        inc(&self.metrics.invalidations);
        if let Some(n) = &self.near {
            n.invalidate(key);
        }
        let r = self.write_raw(key, encoded.as_deref(), px).await;
        if r.is_err() {
            if self.pending.lock().insert(key.to_string()) {
                self.pending_len.fetch_add(1, Relaxed);
            }
            inc(&self.metrics.cache_errors);
        }
        r
    }

    async fn write_raw(&self, key: &str, encoded: Option<&[u8]>, px: u64) -> Result<()> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(WRITE)
            .arg(2)
            .arg(self.vkey(key))
            .arg(self.gkey(key))
            .arg(encoded.unwrap_or(b""))
            .arg(px.max(1))
            .arg(self.gen_window_ms);
        self.node(key).query::<i64>(&cmd).await?;
        self.publish(key).await
    }

    /// Tells the other processes to drop their near copy of `key`.
    pub(crate) async fn publish(&self, key: &str) -> Result<()> {
        if self.invalidation == Invalidation::Bus {
            let mut p = redis::cmd("PUBLISH");
            p.arg(&self.channel).arg(key);
            self.nodes[0].query::<i64>(&p).await?;
        }
        Ok(())
    }

    fn is_pending(&self, key: &str) -> bool {
        self.pending_len.load(Relaxed) > 0 && self.pending.lock().contains(key)
    }

    async fn lookup(
        self: Arc<Self>,
        key: &str,
        ttl: Ttl,
        load: BoxFuture<Result<Bytes>>,
    ) -> Result<Bytes> {
        self.metrics.touch(key);
        let now = now_ms();
        if self.is_pending(key) {
            inc(&self.metrics.misses);
            return self.flight(key, ttl, Bytes::new(), false, load).await;
        }
        let seq = match &self.near {
            Some(n) => {
                if let Some(v) = n.get(key, now) {
                    inc(&self.metrics.near_hits);
                    return Ok(v);
                }
                n.seq()
            }
            None => 0,
        };
        let fetched = match self.fetch(key).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(key, error = %e, "cache read failed; loading from the source");
                inc(&self.metrics.cache_errors);
                inc(&self.metrics.misses);
                return self.flight(key, ttl, Bytes::new(), false, load).await;
            }
        };
        let gen = fetched.gen;
        match fetched.value {
            Some(env) if env.is_fresh(now) => {
                inc(&self.metrics.hits);
                if self.refresh_early(&env, now) {
                    self.spawn_refresh(key, ttl, gen, load);
                }
                self.near_insert(key, &env.payload, env.fresh_until, now, seq);
                Ok(env.payload)
            }
            Some(env) => {
                if now < env.fresh_until + self.swr.as_millis() as u64 {
                    inc(&self.metrics.stale_hits);
                    self.spawn_refresh(key, ttl, gen, load);
                    return Ok(env.payload);
                }
                inc(&self.metrics.misses);
                match self.clone().flight(key, ttl, gen, true, load).await {
                    Ok(p) => {
                        self.near_insert(key, &p, now + ttl.base.as_millis() as u64, now, seq);
                        Ok(p)
                    }
                    Err(e) if now < env.fresh_until + self.sie.as_millis() as u64 => {
                        tracing::debug!(key, error = %e, "load failed; serving stale value");
                        inc(&self.metrics.stale_if_error);
                        Ok(env.payload)
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                inc(&self.metrics.misses);
                let p = self.clone().flight(key, ttl, gen, true, load).await?;
                self.near_insert(key, &p, now + ttl.base.as_millis() as u64, now, seq);
                Ok(p)
            }
        }
    }

    fn near_insert(&self, key: &str, payload: &Bytes, fresh_until: u64, now: u64, seq: u64) {
        if let Some(n) = &self.near {
            let deadline = fresh_until.min(now + self.near_max_ttl.as_millis() as u64);
            n.insert(key, payload.clone(), deadline, seq);
        }
    }

    /// XFetch: refresh early with probability rising as expiry nears,
    /// scaled by how long the value took to compute (Vattani et al. 2015):
    /// `now − Δ·β·ln(rand()) ≥ expiry`. Refresh-ahead: less than the given
    /// fraction of the TTL left.
    fn refresh_early(&self, env: &Envelope, now: u64) -> bool {
        if let Some(f) = self.refresh_ahead {
            if now + (env.ttl_ms as f64 * f) as u64 >= env.fresh_until {
                return true;
            }
        }
        if let Some(beta) = self.xfetch_beta {
            let r: f64 = rand::rng().random_range(f64::MIN_POSITIVE..1.0);
            let gap = env.delta_ms as f64 * beta * -r.ln();
            if now as f64 + gap >= env.fresh_until as f64 {
                return true;
            }
        }
        false
    }

    fn spawn_refresh(
        self: &Arc<Self>,
        key: &str,
        ttl: Ttl,
        gen: Bytes,
        load: BoxFuture<Result<Bytes>>,
    ) {
        if self.flight.as_ref().is_some_and(|f| f.in_flight(key)) {
            return;
        }
        inc(&self.metrics.early_refreshes);
        let this = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            if let Err(e) = this.flight(&key, ttl, gen, true, load).await {
                tracing::debug!(key, error = %e, "background refresh failed");
            }
        });
    }

    /// The load, deduplicated in process when single-flight is on.
    async fn flight(
        self: Arc<Self>,
        key: &str,
        ttl: Ttl,
        gen: Bytes,
        fill: bool,
        load: BoxFuture<Result<Bytes>>,
    ) -> Result<Bytes> {
        let lead = self.clone().lead(key.to_string(), ttl, gen, fill, load);
        match &self.flight {
            Some(f) => {
                let (r, led) = f.run(key, lead).await;
                if !led {
                    inc(&self.metrics.stampede_waits);
                }
                r
            }
            None => lead.await,
        }
    }

    /// One load: under the lease (if any), then the gen-guarded fill.
    async fn lead(
        self: Arc<Self>,
        key: String,
        ttl: Ttl,
        gen: Bytes,
        fill: bool,
        load: BoxFuture<Result<Bytes>>,
    ) -> Result<Bytes> {
        let mut token = None;
        if let (true, Some(lease)) = (fill, self.lease) {
            let t = format!("{:016x}", rand::rng().random::<u64>());
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.lkey(&key))
                .arg(&t)
                .arg("NX")
                .arg("PX")
                .arg(lease.ttl.as_millis() as u64);
            match self.node(&key).query::<Option<String>>(&cmd).await {
                Ok(Some(_)) => token = Some(t),
                Ok(None) => {
                    inc(&self.metrics.lease_contention);
                    inc(&self.metrics.stampede_waits);
                    if let Some(p) = self.wait_for_fill(&key, lease.max_wait).await {
                        return Ok(p);
                    }
                }
                Err(e) => {
                    tracing::debug!(key, error = %e, "lease unavailable; loading without it");
                }
            }
        }
        let started = Instant::now();
        inc(&self.metrics.loads);
        let r = load.await;
        let took = started.elapsed();
        self.metrics.record_load(took);
        let result = match r {
            Ok(payload) => {
                if fill {
                    let delta = took.as_millis().min(u32::MAX as u128) as u32;
                    let (env, px) = self.envelope(payload.clone(), ttl, delta);
                    let mut cmd = redis::cmd("EVAL");
                    cmd.arg(FILL)
                        .arg(2)
                        .arg(self.vkey(&key))
                        .arg(self.gkey(&key))
                        .arg(gen.as_ref())
                        .arg(env.encode().as_ref())
                        .arg(px);
                    if let Err(e) = self.node(&key).query::<i64>(&cmd).await {
                        tracing::debug!(key, error = %e, "fill failed");
                        inc(&self.metrics.cache_errors);
                    }
                }
                Ok(payload)
            }
            Err(e) => {
                inc(&self.metrics.load_errors);
                Err(e)
            }
        };
        if let Some(t) = token {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(RELEASE).arg(1).arg(self.lkey(&key)).arg(t);
            let _ = self.node(&key).query::<i64>(&cmd).await;
        }
        result
    }

    /// Polls for a fresh value written by the lease holder, with growing
    /// intervals, for at most `max_wait`.
    async fn wait_for_fill(&self, key: &str, max_wait: Duration) -> Option<Bytes> {
        let deadline = Instant::now() + max_wait;
        let mut pause = Duration::from_millis(2);
        while Instant::now() < deadline {
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(50));
            match self.fetch(key).await {
                Ok(Fetched { value: Some(e), .. }) if e.is_fresh(now_ms()) => {
                    return Some(e.payload)
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Re-sends invalidations that failed while the cache server was down.
async fn retry_pending(weak: Weak<Inner>) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.pending_len.load(Relaxed) == 0 {
            continue;
        }
        let keys: Vec<String> = inner.pending.lock().iter().cloned().collect();
        for k in keys {
            if inner.write_raw(&k, None, 0).await.is_err() {
                break;
            }
            if inner.pending.lock().remove(&k) {
                inner.pending_len.fetch_sub(1, Relaxed);
            }
        }
    }
}

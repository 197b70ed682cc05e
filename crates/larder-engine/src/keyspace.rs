//! The keyspace: every database, split into shards by key hash.
//!
//! A key's hash is computed once per command ([`Key`]); its low bits pick the
//! shard, its top bits the home slot inside the shard's table, bits 16..32 the
//! slot tag. Each shard is a mutex around one [`Db`] per logical database, so
//! a command locks only the shards its keys live in — in ascending order, so
//! two multi-key commands cannot deadlock — and holds them for its whole
//! execution, which makes every command (and later MULTI/EXEC and scripts)
//! atomic with respect to other clients. Whole-database commands (FLUSHALL,
//! SWAPDB, KEYS) lock every shard. With the default 64 shards on 2 cores,
//! contention is rare and each table's rebuild touches 1/64 of the keys.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::access::now_ms;
use crate::config::EngineConfig;
use crate::db::Db;
use crate::evict::Pool;
pub(crate) use crate::hold::ShardGuard;
use crate::txn::Txn;
use crate::watch::Watched;

/// A key with its hash, computed once.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    pub bytes: &'a [u8],
    pub hash: u64,
}

/// Counters kept per shard (under its lock, so without atomics) and summed on INFO.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    /// Writes since start (Redis's `dirty`).
    pub dirty: u64,
    /// Bytes of entries (allocation sizes asked for), for the dataset estimate.
    pub entry_bytes: i64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.keyspace_hits += o.keyspace_hits;
        self.keyspace_misses += o.keyspace_misses;
        self.expired_keys += o.expired_keys;
        self.evicted_keys += o.evicted_keys;
        self.dirty += o.dirty;
        self.entry_bytes += o.entry_bytes;
    }
}

/// Aligned to its own cache lines (shards are locked by different cores).
#[repr(align(128))]
pub struct Shard {
    pub(crate) dbs: Box<[Db]>,
    pub(crate) stats: Stats,
    /// Versions of the keys of this shard that clients WATCH.
    pub(crate) watched: Watched,
    /// Clients that may cache keys of this shard (CLIENT TRACKING).
    pub(crate) tracked: crate::tracking::Tracked,
    /// The snapshot epoch this shard was last dumped in (`snapshot.rs`).
    pub(crate) snap_epoch: u64,
}

impl Shard {
    /// Counts a change to `key` of database `db` (Redis's `dirty`) and
    /// invalidates WATCHes of it and tracked copies (by the running client).
    pub(crate) fn modified(&mut self, db: usize, key: &[u8]) {
        self.changed(db, key, true);
    }

    /// [`modified`](Self::modified) for a key the server itself deleted
    /// (expired or evicted): no client made the change, so broadcast
    /// tracking's NOLOOP hides it from nobody (Redis's
    /// `signalModifiedKey(NULL, ...)`).
    pub(crate) fn removed_by_server(&mut self, db: usize, key: &[u8]) {
        self.changed(db, key, false);
    }

    fn changed(&mut self, db: usize, key: &[u8], by_client: bool) {
        self.stats.dirty += 1;
        self.signal(db, key, by_client);
    }

    /// Tells WATCH and client-side caching that `key` changed, without
    /// counting a change (see `Txn::touch`).
    pub(crate) fn signal(&mut self, db: usize, key: &[u8], by_client: bool) {
        self.watched.touch(db, key);
        self.tracked.modified(key, by_client);
    }
}

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub databases: usize,
    /// Rounded up to a power of two.
    pub shards: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            databases: 16,
            shards: 64,
        }
    }
}

/// How the server measures used memory: its allocator's count (`alloc.rs`).
#[derive(Clone, Copy)]
pub struct MemoryGauge {
    /// A cheap reading, within `slack()` bytes of the exact one.
    pub read: fn() -> usize,
    /// The exact reading (costlier).
    pub exact: fn() -> usize,
    pub slack: fn() -> usize,
}

pub struct Engine {
    /// `Arc` so a MULTI/EXEC can park guards that own their mutex (`hold.rs`).
    shards: Box<[Arc<Mutex<Shard>>]>,
    shard_mask: u64,
    hasher: foldhash::fast::FixedState,
    databases: usize,
    pub config: EngineConfig,
    gauge: Option<MemoryGauge>,
    pub(crate) pool: Mutex<Pool>,
    /// How long used memory has stayed over `maxmemory` (INFO's
    /// `*_eviction_exceeded_time`).
    pub over_limit: crate::evict::OverLimit,
    /// `allkeys-adaptive`'s shared scorer (`evict.rs`), made on first use.
    pub(crate) adaptive: parking_lot::RwLock<Option<Arc<crate::policy::adaptive::Scorer>>>,
    pub(crate) expire_cursor: AtomicUsize,
    /// Bit d set: database d may hold keys (never cleared but by a flush of
    /// every shard; databases past 63 count as always used). Lets eviction
    /// skip empty databases without locking shards.
    used_dbs: AtomicU64,
    reset_stats: Mutex<Stats>,
    /// Keyspace events (notifications), off unless the server enables them.
    pub events: crate::events::Events,
    /// Client-side caching (CLIENT TRACKING): sink and totals.
    pub tracking: Arc<crate::tracking::Tracking>,
    /// The open snapshot, if any (`snapshot.rs`).
    pub(crate) snap: Arc<crate::snapshot::SnapState>,
    /// The last memcached CAS unique handed out (`next_mc_cas`).
    mc_cas: AtomicU64,
    /// Keys a client of a writable replica gave a TTL, with a bitmap of
    /// their databases (`expire.rs`). Locked after a shard, never before.
    pub(crate) replica_expires: Mutex<indexmap::IndexMap<Box<[u8]>, u64>>,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        let n = opts.shards.max(1).next_power_of_two();
        let seed = seed();
        let tracking = Arc::new(crate::tracking::Tracking::default());
        let shards = (0..n)
            .map(|_| {
                Arc::new(Mutex::new(Shard {
                    dbs: (0..opts.databases.max(1)).map(|_| Db::default()).collect(),
                    stats: Stats::default(),
                    watched: Watched::default(),
                    tracked: crate::tracking::Tracked::new(tracking.clone()),
                    snap_epoch: 0,
                }))
            })
            .collect();
        Engine {
            shards,
            shard_mask: (n - 1) as u64,
            hasher: foldhash::fast::FixedState::with_seed(seed),
            databases: opts.databases.max(1),
            config: EngineConfig::default(),
            gauge: None,
            pool: Mutex::new(Pool::default()),
            over_limit: Default::default(),
            adaptive: parking_lot::RwLock::new(None),
            expire_cursor: AtomicUsize::new(0),
            used_dbs: AtomicU64::new(0),
            reset_stats: Mutex::new(Stats::default()),
            events: crate::events::Events::default(),
            tracking,
            snap: Arc::default(),
            // Seeded from the clock (seconds << 24): CAS uniques are not
            // persisted, and a restart must not hand out one a client
            // still holds (it would if fewer than 2^24 a second were
            // used on average before the restart).
            mc_cas: AtomicU64::new((now_ms() / 1000) << 24),
            replica_expires: Mutex::default(),
        }
    }

    /// A fresh memcached CAS unique: for items the memcached front end
    /// stores, and for trailers loaded from an RDB or AOF. 0 when CAS is
    /// disabled (memcached's `-C`).
    pub fn next_mc_cas(&self) -> u64 {
        if !self.config.mc_cas() {
            return 0;
        }
        self.mc_cas.fetch_add(1, Relaxed) + 1
    }

    /// The trailer of a memcached item loaded from an RDB or AOF: its
    /// flags and durable bits, a fresh CAS, last access now.
    pub fn restored_mc(&self, flags: u32, bits: u8) -> crate::McMeta {
        crate::McMeta {
            cas: self.next_mc_cas(),
            flags,
            atime: (now_ms() / 1000) as u32,
            bits: bits & crate::McMeta::DURABLE_BITS,
        }
    }

    /// Measures used memory for `maxmemory` (the server passes its allocator's
    /// count). Without one, the engine's own estimate of entries and slots is used.
    pub fn with_memory_gauge(mut self, gauge: MemoryGauge) -> Engine {
        self.gauge = Some(gauge);
        self
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn hash(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    pub fn key<'a>(&self, bytes: &'a [u8]) -> Key<'a> {
        Key {
            bytes,
            hash: self.hash(bytes),
        }
    }

    pub(crate) fn hash_fn(&self) -> impl Fn(&[u8]) -> u64 + '_ {
        move |b| self.hash(b)
    }

    pub(crate) fn shard_of(&self, hash: u64) -> usize {
        (hash & self.shard_mask) as usize
    }

    /// Notes that database `db` has received a key.
    pub(crate) fn mark_db_used(&self, db: usize) {
        let bit = 1u64 << db.min(63);
        if self.used_dbs.load(Relaxed) & bit == 0 {
            self.used_dbs.fetch_or(bit, Relaxed);
        }
    }

    /// Databases that may hold keys.
    pub(crate) fn used_dbs(&self) -> impl Iterator<Item = usize> + '_ {
        let mask = self.used_dbs.load(Relaxed);
        (0..self.databases).filter(move |&d| mask & (1u64 << d.min(63)) != 0)
    }

    pub(crate) fn shard_arc(&self, i: usize) -> &Arc<Mutex<Shard>> {
        &self.shards[i]
    }

    /// Locks the shard of one key.
    pub fn lock_key(&self, db: usize, key: &Key<'_>) -> Txn<'_> {
        self.lock_key_at(db, key, now_ms())
    }

    /// Locks the shard of one key, for a command whose clock reads `now` (Unix ms).
    pub fn lock_key_at(&self, db: usize, key: &Key<'_>, now: u64) -> Txn<'_> {
        let i = self.shard_of(key.hash);
        self.narrow_batch(i);
        let mut guards = SmallVec::new();
        guards.push((i, self.lock_shard(i)));
        Txn::new(self, guards, db, false, now)
    }

    /// Locks the shards of several keys, in ascending order.
    pub fn lock_keys(&self, db: usize, keys: &[Key<'_>]) -> Txn<'_> {
        self.lock_keys_at(db, keys, now_ms())
    }

    /// `lock_keys` for a command whose clock reads `now`.
    pub fn lock_keys_at(&self, db: usize, keys: &[Key<'_>], now: u64) -> Txn<'_> {
        let mut idx: SmallVec<[usize; 8]> = keys.iter().map(|k| self.shard_of(k.hash)).collect();
        idx.sort_unstable();
        idx.dedup();
        if let [i] = idx[..] {
            self.narrow_batch(i);
        }
        let guards = idx.into_iter().map(|i| (i, self.lock_shard(i))).collect();
        Txn::new(self, guards, db, false, now)
    }

    /// Locks every shard (whole-keyspace commands).
    pub fn lock_all(&self, db: usize) -> Txn<'_> {
        let guards = (0..self.shards.len())
            .map(|i| (i, self.lock_shard(i)))
            .collect();
        Txn::new(self, guards, db, true, now_ms())
    }

    /// Sums per-shard counters, minus what CONFIG RESETSTAT cleared.
    pub fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for i in 0..self.shards.len() {
            total.add(&self.lock_shard_plain(i).stats);
        }
        let base = *self.reset_stats.lock();
        total.keyspace_hits -= base.keyspace_hits;
        total.keyspace_misses -= base.keyspace_misses;
        total.expired_keys -= base.expired_keys;
        total.evicted_keys -= base.evicted_keys;
        total
    }

    /// CONFIG RESETSTAT: counters read as zero from now on.
    pub fn reset_stats(&self) {
        let mut raw = Stats::default();
        for i in 0..self.shards.len() {
            raw.add(&self.lock_shard_plain(i).stats);
        }
        *self.reset_stats.lock() = raw;
    }

    /// Keys and keys with a TTL per database, as INFO keyspace shows them.
    pub fn db_sizes(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.databases];
        for i in 0..self.shards.len() {
            let s = self.lock_shard_plain(i);
            for (o, d) in out.iter_mut().zip(s.dbs.iter()) {
                o.0 += d.len();
                o.1 += d.volatile_len();
            }
        }
        out
    }

    pub fn dbsize(&self, db: usize) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard_plain(i).dbs[db].len())
            .sum()
    }

    /// Bytes used, as `maxmemory` counts them: the exact reading, for reports
    /// (INFO, MEMORY STATS), which must not depend on which thread asks.
    pub fn used_memory(&self) -> usize {
        match &self.gauge {
            Some(g) => (g.exact)(),
            None => self.dataset_bytes(),
        }
    }

    /// Whether used memory is within `max`, deciding on the exact count when
    /// the cheap reading is too close to tell (the eviction check).
    pub fn fits_exactly(&self, max: usize) -> bool {
        let Some(g) = &self.gauge else {
            return self.dataset_bytes() <= max;
        };
        let (read, slack) = ((g.read)(), (g.slack)());
        if read.saturating_add(slack) <= max {
            true
        } else if read > max.saturating_add(slack) {
            false
        } else {
            (g.exact)() <= max
        }
    }

    /// Used memory, exactly: the allocator's count, else the engine's estimate.
    pub fn used_exact(&self) -> usize {
        self.gauge
            .map_or_else(|| self.dataset_bytes(), |g| (g.exact)())
    }

    /// The memory gauge, when the server gave one.
    pub(crate) fn gauge(&self) -> Option<MemoryGauge> {
        self.gauge
    }

    /// The engine's own estimate: entry allocations plus table slots.
    pub fn dataset_bytes(&self) -> usize {
        let mut total = 0i64;
        for i in 0..self.shards.len() {
            let s = self.lock_shard_plain(i);
            total += s.stats.entry_bytes;
            total += s.dbs.iter().map(|d| d.slot_bytes() as i64).sum::<i64>();
        }
        total.max(0) as usize
    }
}

fn seed() -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_usize(&h as *const _ as usize);
    // RandomState is randomly keyed per process.
    std::collections::hash_map::RandomState::new().hash_one(h.finish())
}

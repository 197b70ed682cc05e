//! `maxmemory` policies and the sampled eviction that serves them.
//!
//! As in Redis, no policy keeps an exact order of keys: each eviction round
//! samples `maxmemory-samples` keys per database (from a random shard; from the
//! volatile index for `volatile-*`), scores them, and merges them into a pool
//! of the 16 best candidates seen so far. The best candidate that still exists
//! is evicted. Scores: LRU = idle seconds, LFU = 255 − decayed counter, TTL =
//! closeness of expiry, FIFO = age since insertion. `*-random` skip the pool.
//! Cost per eviction: `samples` random probes plus one lock of a few shards;
//! memory: the 4-byte access word each entry already has.
//!
//! `allkeys-adaptive` (Larder's own, the default once `maxmemory` is set
//! without a policy) is the sampled W-TinyLFU of `policy::adaptive`: the
//! access word's clock counts admissions, and a shared [`Scorer`] (a count-min
//! sketch of 4 four-bit counters per key, fed by every hit and insert, plus
//! the window tuner's fixed ≤ 0.75 MB) ranks candidates: keys inside the
//! tuner's recency window last, then rarest first. It samples at least
//! [`adaptive::MIN_SAMPLES`] keys per round and re-scores a pooled candidate
//! before evicting it, as the simulator's model does. The scorer is built
//! for the resident key count seen by eviction (at least 1,024) and rebuilt
//! when that count leaves [capacity / 4, 2 × capacity]: the sketch is
//! sized to the cache, about 2 bytes per key.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::access;
use crate::policy::adaptive::{self, Scorer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    NoEviction = 0,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    AllkeysFifo,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    VolatileFifo,
    AllkeysAdaptive,
}

/// What a policy ranks keys by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    Lru,
    Lfu,
    Random,
    Ttl,
    Fifo,
    Adaptive,
}

const ALL: [Policy; 11] = [
    Policy::NoEviction,
    Policy::AllkeysLru,
    Policy::AllkeysLfu,
    Policy::AllkeysRandom,
    Policy::AllkeysFifo,
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
    Policy::VolatileFifo,
    Policy::AllkeysAdaptive,
];

impl Policy {
    pub fn from_u8(v: u8) -> Policy {
        ALL.get(v as usize).copied().unwrap_or(Policy::NoEviction)
    }

    pub fn parse(name: &[u8]) -> Option<Policy> {
        ALL.iter()
            .copied()
            .find(|p| p.name().as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::AllkeysFifo => "allkeys-fifo",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::VolatileFifo => "volatile-fifo",
            Policy::AllkeysAdaptive => "allkeys-adaptive",
        }
    }

    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
                | Policy::VolatileFifo
        )
    }

    pub fn rank(self) -> Option<Rank> {
        Some(match self {
            Policy::NoEviction => return None,
            Policy::AllkeysLru | Policy::VolatileLru => Rank::Lru,
            Policy::AllkeysLfu | Policy::VolatileLfu => Rank::Lfu,
            Policy::AllkeysRandom | Policy::VolatileRandom => Rank::Random,
            Policy::VolatileTtl => Rank::Ttl,
            Policy::AllkeysFifo | Policy::VolatileFifo => Rank::Fifo,
            Policy::AllkeysAdaptive => Rank::Adaptive,
        })
    }

    pub fn is_adaptive(self) -> bool {
        self == Policy::AllkeysAdaptive
    }

    /// Larder's policies that Redis does not have.
    pub fn is_extension(self) -> bool {
        self.is_fifo() || self.is_adaptive()
    }

    pub fn is_lfu(self) -> bool {
        self.rank() == Some(Rank::Lfu)
    }

    pub fn is_fifo(self) -> bool {
        self.rank() == Some(Rank::Fifo)
    }
}

/// The inputs a score needs, read once per round.
pub struct ScoreCtx {
    pub rank: Rank,
    pub now_ms: u64,
    pub lfu_decay_time: u32,
}

impl ScoreCtx {
    /// Higher = better to evict.
    pub fn score(&self, access: u32, expire_at: u64) -> u64 {
        match self.rank {
            Rank::Lru => u64::from(access::elapsed(
                access::lru_clock(self.now_ms),
                access::clock_of(access),
            )),
            Rank::Lfu => {
                let c = access::lfu_decayed(
                    access,
                    access::lru_clock(self.now_ms),
                    self.lfu_decay_time,
                );
                255 - u64::from(c)
            }
            Rank::Ttl => u64::MAX - expire_at,
            Rank::Fifo => u64::from(access::elapsed(
                access::fifo_clock(self.now_ms),
                access::clock_of(access),
            )),
            // Scored by `Scorer`, which needs the key (see evict_from_pool).
            Rank::Random | Rank::Adaptive => 0,
        }
    }
}

pub const POOL_SIZE: usize = 16;

pub struct Candidate {
    pub score: u64,
    pub db: usize,
    pub key: Vec<u8>,
}

/// The best eviction candidates seen so far, sorted by ascending score.
#[derive(Default)]
pub struct Pool {
    items: Vec<Candidate>,
    spare: Vec<Vec<u8>>,
    /// Resident keys of the sampled database, as a moving average of the
    /// sampled shards' sizes times the shard count (what `allkeys-adaptive`
    /// sizes its window and scorer by; one shard alone is too noisy).
    resident: usize,
}

impl Pool {
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.items.len() == POOL_SIZE && score <= self.items[0].score {
            return;
        }
        if self.items.iter().any(|c| c.db == db && c.key == key) {
            return;
        }
        let mut buf = if self.items.len() == POOL_SIZE {
            self.items.remove(0).key
        } else {
            self.spare.pop().unwrap_or_default()
        };
        buf.clear();
        buf.extend_from_slice(key);
        let at = self.items.partition_point(|c| c.score < score);
        self.items.insert(
            at,
            Candidate {
                score,
                db,
                key: buf,
            },
        );
    }

    /// The best candidate, removed from the pool.
    pub fn pop_best(&mut self) -> Option<Candidate> {
        self.items.pop()
    }

    /// Returns a candidate's buffer for reuse.
    pub fn recycle(&mut self, c: Candidate) {
        if self.spare.len() < POOL_SIZE {
            self.spare.push(c.key);
        }
    }

    pub fn clear(&mut self) {
        while let Some(c) = self.items.pop() {
            self.recycle(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for p in ALL {
            assert_eq!(Policy::parse(p.name().as_bytes()), Some(p));
            assert_eq!(Policy::from_u8(p as u8), p);
        }
        assert_eq!(Policy::parse(b"ALLKEYS-LRU"), Some(Policy::AllkeysLru));
        assert_eq!(Policy::parse(b"bogus"), None);
    }

    /// Hot-set hit ratio (%) under `policy` of a cache of ~2,000 keys in 64
    /// shards that serves rounds of 2,000 requests to 800 hot keys, each
    /// followed by a scan of 3,000 never-seen cold keys (GET, then SET on a
    /// miss). The command clock advances a second per request, ending now,
    /// so LRU's one-second idle times order every access.
    fn hot_hits_under_scans(policy: Policy) -> f64 {
        use crate::{Engine, EngineOptions, StrValue, Ttl};
        let (rounds, burst, hot, scan) = (12u64, 2000u64, 800u64, 3000u64);
        let per_key = {
            let e = Engine::new(EngineOptions::default());
            for i in 0..1000 {
                let kb = format!("cold:{i}");
                let key = e.key(kb.as_bytes());
                e.lock_key(0, &key)
                    .set(&key, StrValue::Plain(b"value"), Ttl::Clear);
            }
            e.dataset_bytes() / 1000
        };
        let e = Engine::new(EngineOptions {
            databases: 1,
            shards: 64,
        });
        e.config.set_policy(policy);
        e.config.set_maxmemory((per_key * 2000) as u64);
        let total = rounds * (burst + scan);
        let start = access::now_ms() - total * 1000;
        let mut rng = crate::policy::Rng::new(7);
        let (mut n, mut hot_reqs, mut hot_hits, mut cold) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..rounds {
            for i in 0..burst + scan {
                let kb = if i < burst {
                    format!("hot:{}", rng.below(hot as usize))
                } else {
                    cold += 1;
                    format!("cold:{cold}")
                };
                let key = e.key(kb.as_bytes());
                let now = start + n * 1000;
                n += 1;
                let hit = e.lock_key_at(0, &key, now).get(&key).is_some();
                if i < burst {
                    hot_reqs += 1;
                    hot_hits += u64::from(hit);
                }
                if !hit {
                    e.evict_until_fits().ok();
                    e.lock_key_at(0, &key, now)
                        .set(&key, StrValue::Plain(b"value"), Ttl::Clear);
                }
            }
        }
        assert!(e.stats().evicted_keys > 0);
        100.0 * hot_hits as f64 / hot_reqs as f64
    }

    #[test]
    fn adaptive_keeps_the_hot_set_through_scans() {
        let lru = hot_hits_under_scans(Policy::AllkeysLru);
        let adaptive = hot_hits_under_scans(Policy::AllkeysAdaptive);
        eprintln!("hot-set hit ratio: allkeys-lru {lru:.2}%, allkeys-adaptive {adaptive:.2}%");
        assert!(adaptive > lru + 10.0, "adaptive {adaptive} vs lru {lru}");
    }

    #[test]
    fn pool_keeps_the_best() {
        let mut pool = Pool::default();
        for i in 0..40u64 {
            pool.offer(i % 20, 0, format!("k{i}").as_bytes());
        }
        let best = pool.pop_best().unwrap();
        assert_eq!(best.score, 19);
        let mut n = 1;
        while pool.pop_best().is_some() {
            n += 1;
        }
        assert_eq!(n, POOL_SIZE);
    }
}

/// The smallest key count the adaptive scorer is sized for.
const ADAPTIVE_MIN_KEYS: u64 = 1024;

/// `maxmemory` is exceeded and the policy could not free enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("OOM command not allowed when used memory > 'maxmemory'.")]
pub struct OutOfMemory;

/// Time used memory has spent over `maxmemory`, as Redis's
/// `stat_total_eviction_exceeded_time`: a period starts when eviction
/// leaves memory still over the limit (nothing evictable, `noeviction`, or
/// its time limit reached) and ends when an eviction call finds it under.
/// One relaxed load on the common path; the lock only at the edges.
#[derive(Default)]
pub struct OverLimit {
    over: std::sync::atomic::AtomicBool,
    since: Mutex<Option<std::time::Instant>>,
    total_us: std::sync::atomic::AtomicU64,
}

impl OverLimit {
    fn enter(&self) {
        if !self.over.load(Relaxed) {
            let mut since = self.since.lock();
            since.get_or_insert_with(std::time::Instant::now);
            self.over.store(true, Relaxed);
        }
    }

    fn leave(&self) {
        if self.over.load(Relaxed) {
            let mut since = self.since.lock();
            if let Some(t) = since.take() {
                self.total_us
                    .fetch_add(t.elapsed().as_micros() as u64, Relaxed);
            }
            self.over.store(false, Relaxed);
        }
    }

    /// The open period, if memory is over the limit now.
    pub fn current(&self) -> std::time::Duration {
        self.since
            .lock()
            .map_or(Default::default(), |t| t.elapsed())
    }

    /// Every period, the open one included.
    pub fn total(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.total_us.load(Relaxed)) + self.current()
    }

    /// CONFIG RESETSTAT (an open period goes on from now).
    pub fn reset(&self) {
        self.total_us.store(0, Relaxed);
        if let Some(t) = self.since.lock().as_mut() {
            *t = std::time::Instant::now();
        }
    }
}

/// How long one call may spend evicting before it lets its command run
/// (Redis's eviction time limit at the default tenacity).
const EVICTION_TIME_LIMIT: std::time::Duration = std::time::Duration::from_micros(500);

impl crate::keyspace::Engine {
    /// Called before a command that may grow memory: evicts keys until used
    /// memory is back under `maxmemory`. Errs when over the limit and nothing
    /// can be evicted (or the policy is `noeviction`).
    pub fn evict_until_fits(&self) -> Result<(), OutOfMemory> {
        let (result, under) = self.evict_inner();
        match under {
            Some(true) => self.over_limit.leave(),
            Some(false) => self.over_limit.enter(),
            None => {}
        }
        result
    }

    /// [`Engine::evict_until_fits`], and whether memory ended under the
    /// limit (`None`: not checked, as when eviction is paused).
    fn evict_inner(&self) -> (Result<(), OutOfMemory>, Option<bool>) {
        let max = self.config.maxmemory() as usize;
        if max == 0 {
            return (Ok(()), Some(true));
        }
        let max = max + self.config.not_counted();
        let policy = self.config.policy();
        let rank = policy.rank();
        // Decided on the exact count near the limit, so what is evicted (or
        // refused, under noeviction) never depends on which thread happened
        // to read the counter: memory stays within `maxmemory`, not within
        // it plus every other thread's unpublished drift.
        let fits = self.fits_exactly(max);
        // CLIENT PAUSE holds eviction too, and a replica may ignore the
        // limit (Redis's isSafeToPerformEvictions).
        if fits {
            return (Ok(()), Some(true));
        }
        if self.config.paused(crate::access::now_ms()) || self.config.ignores_maxmemory() {
            return (Ok(()), None);
        }
        let Some(rank) = rank else {
            return (Err(OutOfMemory), Some(false));
        };
        // As Redis's performEvictions: how much to free is fixed now, and
        // what counts as freed is what the evicted keys gave back — not the
        // invalidations, keyspace events and propagation their deletion
        // queues, or each eviction would call for the next (ten tracking
        // readers per key drained a cache to a quarter).
        let to_free = self.used_exact().saturating_sub(max);
        let start = std::time::Instant::now();
        let mut freed = 0usize;
        let mut n = 0u32;
        loop {
            let evicted = if rank == Rank::Random {
                self.evict_random(policy.volatile_only())
            } else {
                self.evict_from_pool(rank, policy.volatile_only())
            };
            let Some(bytes) = evicted else {
                return (if n > 0 { Ok(()) } else { Err(OutOfMemory) }, Some(false));
            };
            freed += bytes;
            n += 1;
            if freed >= to_free || self.fits_exactly(max) {
                return (Ok(()), Some(true));
            }
            if n.is_multiple_of(16) && start.elapsed() > EVICTION_TIME_LIMIT {
                return (Ok(()), Some(false));
            }
        }
    }

    /// Evicts one random key; the bytes it gave back, `None` if none could go.
    fn evict_random(&self, volatile: bool) -> Option<usize> {
        let n = self.shard_count();
        let start = crate::rng::next() as usize;
        for db in self.used_dbs() {
            for k in 0..n {
                let i = (start + k) % n;
                let mut g = self.lock_shard(i);
                let r = crate::rng::next();
                let Some(key) = g.dbs[db].random(r, volatile).map(|e| e.key().to_vec()) else {
                    continue;
                };
                return Some(self.remove_evicted(&mut g, db, &key));
            }
        }
        None
    }

    /// Evicts the pool's best candidate, as [`Engine::evict_random`].
    fn evict_from_pool(&self, rank: Rank, volatile: bool) -> Option<usize> {
        let mut pool = self.pool.lock();
        let ctx = ScoreCtx {
            rank,
            now_ms: access::now_ms(),
            lfu_decay_time: self.config.lfu_decay_time(),
        };
        let scorer = (rank == Rank::Adaptive)
            .then(|| self.adaptive_fit(self.adaptive_scorer(), pool.resident));
        let mut samples = self.config.samples() as usize;
        if scorer.is_some() {
            samples = adaptive::samples(samples);
        }
        let n = self.shard_count();
        let mut resident = pool.resident;
        let score = |e: crate::entry::EntryRef<'_>, resident: usize| match &scorer {
            Some(s) => s.score(self.hash(e.key()), e.access(), resident),
            None => ctx.score(e.access(), e.expire_at()),
        };
        for _round in 0..4 {
            let mut sampled = false;
            for db in self.used_dbs() {
                let start = crate::rng::next() as usize;
                // A random non-empty shard of this database: eight quick
                // probes, then the shards in turn (a database with few keys
                // would otherwise look empty and its keys never go).
                for k in 0..n + 8.min(n) {
                    let i = if k < 8 { start + k * 7 } else { start + k - 8 };
                    let g = self.lock_shard(i % n);
                    let d = &g.dbs[db];
                    let size = if volatile { d.volatile_len() } else { d.len() };
                    if size == 0 {
                        continue;
                    }
                    // Moving average over the last ~256 samples.
                    resident = if resident == 0 {
                        size * n
                    } else {
                        (resident * 255 + size * n) / 256
                    };
                    pool.resident = resident;
                    for _ in 0..samples.min(size) {
                        let r = crate::rng::next();
                        if let Some(e) = g.dbs[db].random(r, volatile) {
                            pool.offer(score(e, resident), db, e.key());
                        }
                    }
                    sampled = true;
                    break;
                }
            }
            // The keys that just left the window untouched: the duel's candidates.
            if let Some(s) = &scorer {
                let hash_of = self.hash_fn();
                while let Some((hash, stamp)) = s.next_leaving(resident) {
                    let g = self.lock_shard(self.shard_of(hash));
                    for db in self.used_dbs() {
                        if let Some(e) = g.dbs[db].get_by_hash(hash, &hash_of) {
                            if e.access() == stamp && (!volatile || e.expire_at() != 0) {
                                pool.offer(score(e, resident), db, e.key());
                            }
                        }
                    }
                }
            }
            while let Some(c) = pool.pop_best() {
                let hash = self.hash(&c.key);
                let mut g = self.lock_shard(self.shard_of(hash));
                let Some(e) = g.dbs[c.db].get(hash, &c.key) else {
                    pool.recycle(c);
                    continue;
                };
                // The adaptive score moves with the sketch and the window: a
                // candidate that became less evictable since it was sampled
                // goes back with its fresh score.
                if scorer.is_some() {
                    let fresh = score(e, resident);
                    if adaptive::less_evictable(fresh, c.score) {
                        pool.offer(fresh, c.db, &c.key);
                        pool.recycle(c);
                        continue;
                    }
                }
                if !volatile || e.expire_at() != 0 {
                    let freed = self.remove_evicted(&mut g, c.db, &c.key);
                    pool.recycle(c);
                    return Some(freed);
                }
                pool.recycle(c);
            }
            if !sampled {
                return None;
            }
        }
        None
    }

    /// The adaptive policy's scorer, made on first use.
    fn adaptive_scorer(&self) -> Arc<Scorer> {
        if let Some(s) = self.adaptive.read().as_ref() {
            return s.clone();
        }
        let mut w = self.adaptive.write();
        w.get_or_insert_with(|| Arc::new(Scorer::new(ADAPTIVE_MIN_KEYS)))
            .clone()
    }

    /// The scorer `s`, or one rebuilt for `resident` keys (0 = unknown yet)
    /// when its size is off by more than a factor of 2 up or 4 down (the
    /// access words keep their clock; frequencies start afresh).
    fn adaptive_fit(&self, s: Arc<Scorer>, resident: usize) -> Arc<Scorer> {
        let want = (resident as u64).max(ADAPTIVE_MIN_KEYS);
        let cap = s.capacity();
        if resident == 0 || (want <= 2 * cap && want >= cap / 4) {
            return s;
        }
        let new = Arc::new(s.resized(want));
        *self.adaptive.write() = Some(new.clone());
        new
    }

    /// The access word for `allkeys-adaptive` of a key hit (`old` its word)
    /// or inserted (`old` None); `key` (its hash) is counted in the sketch
    /// when known.
    pub(crate) fn adaptive_access(&self, key: Option<u64>, old: Option<u32>) -> u32 {
        let guard = self.adaptive.read();
        let made;
        let s = match guard.as_ref() {
            Some(s) => s,
            None => {
                drop(guard);
                made = self.adaptive_scorer();
                &made
            }
        };
        if let Some(k) = key {
            s.record(k, 1);
        }
        match old {
            Some(a) => s.touch(a),
            None => s.admit(key),
        }
    }

    /// Deletes an evicted key; the bytes it gave back (its value's
    /// collections too, where the allocator can tell), not counting what
    /// announcing its deletion queued.
    fn remove_evicted(&self, g: &mut crate::keyspace::Shard, db: usize, key: &[u8]) -> usize {
        let hash_of = self.hash_fn();
        let Some(e) = g.dbs[db].remove(self.hash(key), key, &hash_of) else {
            return 0;
        };
        let size = e.as_ref().alloc_size();
        g.stats.entry_bytes -= size as i64;
        g.stats.evicted_keys += 1;
        g.removed_by_server(db, key);
        self.events.evicting(db, e.as_ref());
        self.events.emit(crate::events::EVICTED, "evicted", db, key);
        self.events.writes.deleted(db, key);
        match self.gauge() {
            Some(gauge) => {
                let before = (gauge.exact)();
                drop(e);
                before.saturating_sub((gauge.exact)())
            }
            None => size,
        }
    }
}

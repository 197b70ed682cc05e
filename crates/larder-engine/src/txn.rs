//! A command's view of the keyspace while it holds its shards' locks.
//!
//! Every read and write of an entry goes through here, which is where the
//! cross-cutting rules live: lazy expiry (a key past its deadline is deleted
//! when touched and counted in `expired_keys`), hit/miss counting, updating the
//! access word for LRU/LFU/FIFO, the dirty counter, and the entry-size tally.
//! The current time is read once per command, so a key cannot expire halfway
//! through one. On a replica (and under CLIENT PAUSE) an expired key is not
//! deleted but waits for the master's DEL, as in Redis.

use std::cell::Cell;

use smallvec::SmallVec;

use crate::access::{self, LFU_INIT};
use crate::entry::{Entry, EntryMut, EntryRef, McMeta, StrValue};
use crate::events;
use crate::evict::Policy;
use crate::keyspace::{Engine, Key, Shard, ShardGuard};
use crate::object::ObjType;

/// The key holds a value of another type (the server answers WRONGTYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// How a lookup counts and touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A read command: counts a hit or miss and touches the key.
    Read,
    /// A read that must not change the key's idle time (TTL, TYPE, EXISTS, OBJECT).
    ReadNoTouch,
    /// A write command's lookup: touches, no hit/miss counting.
    Write,
    /// No counting, no touching (internal use).
    Peek,
}

thread_local! {
    /// This thread applies the master's replication stream now.
    static MASTER_STREAM: Cell<bool> = const { Cell::new(false) };
}

fn master_stream() -> bool {
    MASTER_STREAM.with(Cell::get)
}

/// Runs `f` as the master's replication stream: on a replica, keys expired
/// by the local clock are live to it (see `EngineConfig::replica`).
pub fn as_master_stream<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MASTER_STREAM.with(|m| m.set(false));
        }
    }
    MASTER_STREAM.with(|m| m.set(true));
    let _reset = Reset;
    f()
}

/// What a write does with the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Drop any TTL (a plain SET).
    Clear,
    /// Keep the TTL of the key being overwritten (KEEPTTL, APPEND, INCR...).
    Keep,
    /// Expire at this Unix time in ms.
    At(u64),
}

pub struct Txn<'e> {
    engine: &'e Engine,
    guards: SmallVec<[(usize, ShardGuard<'e>); 2]>,
    all: bool,
    /// The selected database.
    pub db: usize,
    /// The command's time, in Unix ms.
    pub now: u64,
    policy: Policy,
    /// Writes made under these locks (for write propagation).
    changes: u32,
    /// Keys found expired (and deleted) by this transaction's lookups.
    lazy_expired: u32,
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        // Before the guards (fields) drop: the locks are still held.
        self.engine.events.writes.releasing(self.changes);
    }
}

impl<'e> Txn<'e> {
    pub(crate) fn new(
        engine: &'e Engine,
        guards: SmallVec<[(usize, ShardGuard<'e>); 2]>,
        db: usize,
        all: bool,
        now: u64,
    ) -> Txn<'e> {
        Txn {
            engine,
            guards,
            all,
            db,
            now,
            policy: engine.config.policy(),
            changes: 0,
            lazy_expired: 0,
        }
    }

    pub fn engine(&self) -> &'e Engine {
        self.engine
    }

    /// How many keys this transaction's lookups found expired and deleted
    /// (memcached's `get_expired`).
    pub fn lazy_expired(&self) -> u32 {
        self.lazy_expired
    }

    pub(crate) fn shard(&mut self, hash: u64) -> &mut Shard {
        let i = self.engine.shard_of(hash);
        let pos = if self.all {
            i
        } else {
            self.guards
                .iter()
                .position(|(j, _)| *j == i)
                .expect("key's shard is not locked by this command")
        };
        &mut self.guards[pos].1
    }

    /// The access word of a value stored now: `old` is the word of the value
    /// it replaces (Redis keeps its LFU counter; `allkeys-adaptive` counts
    /// an overwrite as a hit), `key` its hash when known (for the sketch).
    fn fresh_access(&self, old: Option<u32>, key: Option<u64>) -> u32 {
        if self.policy.is_adaptive() {
            return self.engine.adaptive_access(key, old);
        }
        let shard_counter = old.map(access::counter_of).filter(|_| self.policy.is_lfu());
        if self.policy.is_fifo() {
            access::pack(access::fifo_clock(self.now), 0)
        } else {
            access::pack(
                access::lru_clock(self.now),
                shard_counter.unwrap_or(LFU_INIT),
            )
        }
    }

    /// The eviction policy in force for this command (read once at lock time).
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The access word of a value created now (COPY, RESTORE): a fresh clock
    /// and, for LFU, the initial counter, as Redis's createObject.
    pub fn new_access(&self) -> u32 {
        self.fresh_access(None, None)
    }

    /// Redis's objectSetLRUOrLFU for RESTORE ... IDLETIME / FREQ: under an LFU
    /// policy `freq` sets the counter; otherwise `idle_secs` backdates the LRU
    /// clock (wrapping to half the clock range if it would go below zero).
    /// The option that does not apply to the policy is ignored, as in Redis.
    pub fn restored_access(&self, idle_secs: Option<u64>, freq: Option<u8>) -> u32 {
        let clock = access::lru_clock(self.now);
        if self.policy.is_lfu() {
            if let Some(f) = freq {
                return access::pack(clock, f);
            }
        } else if let (Some(idle), false) = (idle_secs, self.policy.is_extension()) {
            let abs = match u32::try_from(idle) {
                Ok(i) if i <= clock => clock - i,
                _ => (clock + access::CLOCK_MAX / 2) % access::CLOCK_MAX,
            };
            return access::pack(abs, LFU_INIT);
        }
        self.new_access()
    }

    /// Finds a live key, deleting it first if it has expired.
    pub fn lookup(&mut self, key: &Key<'_>, how: Lookup) -> Option<EntryMut<'_>> {
        let (db, now, policy) = (self.db, self.now, self.policy);
        let engine = self.engine;
        let shard = self.shard(key.hash);
        let expired = shard.dbs[db]
            .get(key.hash, key.bytes)
            .map(|e| e.expire_at() != 0 && e.expire_at() < now && !engine.events.writes.loading());
        // On a replica an expired key is live for the master's stream (its
        // DEL comes first if the master saw it expire); for other clients,
        // and for everyone under CLIENT PAUSE, it reads as missing but
        // stays, but for a write on a writable replica.
        let (live, held) = match expired {
            Some(true) if engine.config.replica() && master_stream() => (true, false),
            Some(true) => {
                let write = matches!(how, Lookup::Write);
                (
                    false,
                    engine.config.paused(now) || (engine.config.replica() && !write),
                )
            }
            _ => (false, false),
        };
        let expired = if live || held { Some(false) } else { expired };
        let found = match expired {
            None => false,
            Some(true) => {
                engine.remove_expired(shard, db, key.hash, key.bytes);
                false
            }
            Some(false) => !held,
        };
        if expired == Some(true) {
            self.lazy_expired += 1;
        }
        let shard = self.shard(key.hash);
        if matches!(how, Lookup::Read | Lookup::ReadNoTouch) {
            if found {
                shard.stats.keyspace_hits += 1;
            } else {
                shard.stats.keyspace_misses += 1;
                engine
                    .events
                    .emit(events::KEY_MISS, "keymiss", db, key.bytes);
            }
        }
        if !found {
            return None;
        }
        let r = if matches!(how, Lookup::Read | Lookup::Write) && !policy.is_fifo() {
            let rnd = if policy.is_lfu() {
                crate::rng::next()
            } else {
                0
            };
            let mut e = shard.dbs[db].get_mut(key.hash, key.bytes)?;
            let old = e.get().access();
            if policy.is_adaptive() {
                e.set_access(engine.adaptive_access(Some(key.hash), Some(old)));
                return Some(e);
            }
            let lru = access::lru_clock(now);
            let counter = if policy.is_lfu() {
                let decayed = access::lfu_decayed(old, lru, engine.config.lfu_decay_time());
                let unit = (rnd >> 11) as f64 / (1u64 << 53) as f64;
                access::lfu_log_incr(decayed, engine.config.lfu_log_factor(), unit)
            } else {
                access::counter_of(old)
            };
            e.set_access(access::pack(lru, counter));
            e
        } else {
            shard.dbs[db].get_mut(key.hash, key.bytes)?
        };
        Some(r)
    }

    /// A live key for a read command (counted, touched).
    pub fn get(&mut self, key: &Key<'_>) -> Option<EntryRef<'_>> {
        self.lookup(key, Lookup::Read).map(EntryMut::into_ref)
    }

    /// Whether a live key exists (no touch).
    pub fn exists(&mut self, key: &Key<'_>) -> bool {
        self.lookup(key, Lookup::ReadNoTouch).is_some()
    }

    /// Stores a string, replacing any value. Returns the entry it replaced.
    pub fn set(&mut self, key: &Key<'_>, value: StrValue<'_>, ttl: Ttl) -> Option<Entry> {
        self.replace_with(key, ttl, |expire_at, access| {
            Entry::new(key.bytes, value, expire_at, access)
        })
    }

    /// Stores a string for a memcached client, with its trailer (flags,
    /// CAS, item bits) and an absolute expiry (`expire_at`, 0 = none),
    /// replacing any value. Returns the entry it replaced.
    pub fn set_mc(
        &mut self,
        key: &Key<'_>,
        value: StrValue<'_>,
        expire_at: u64,
        mc: McMeta,
    ) -> Option<Entry> {
        self.replace_with(key, Ttl::At(expire_at), |expire_at, access| {
            Entry::new_mc(key.bytes, value, expire_at, access, mc)
        })
    }

    /// Stores a collection, replacing any value and its TTL (the *STORE
    /// commands). Returns the entry it replaced.
    pub fn set_object<T: ObjType>(&mut self, key: &Key<'_>, value: T) -> Option<Entry> {
        self.replace_with(key, Ttl::Clear, |expire_at, access| {
            Entry::new_object(key.bytes, value.wrap(), expire_at, access)
        })
    }

    /// A collection for a read: `Ok(None)` if the key is absent.
    pub fn read_obj<T: ObjType>(
        &mut self,
        key: &Key<'_>,
        how: Lookup,
    ) -> Result<Option<&T>, WrongType> {
        match self.lookup(key, how) {
            None => Ok(None),
            Some(e) => e
                .into_ref()
                .object()
                .and_then(T::of)
                .map(Some)
                .ok_or(WrongType),
        }
    }

    /// A shared view of a key this command has already looked up (so lazy
    /// expiry and counting are done): lets a multi-key command (SINTER,
    /// ZUNION...) hold several values at once. No expiry check, no touch.
    pub fn get_ref(&self, key: &Key<'_>) -> Option<EntryRef<'_>> {
        let i = self.engine.shard_of(key.hash);
        let g = if self.all {
            &self.guards[i].1
        } else {
            &self.guards.iter().find(|(j, _)| *j == i)?.1
        };
        g.dbs[self.db].get(key.hash, key.bytes)
    }

    /// [`Txn::get_ref`] as a collection of type `T`: `Ok(None)` if absent.
    pub fn obj_ref<T: ObjType>(&self, key: &Key<'_>) -> Result<Option<&T>, WrongType> {
        match self.get_ref(key) {
            None => Ok(None),
            Some(e) => e.object().and_then(T::of).map(Some).ok_or(WrongType),
        }
    }

    /// A collection for a write (looked up as a write: touched, not
    /// counted): `Ok(None)` if the key is absent.
    pub fn write_obj<T: ObjType>(&mut self, key: &Key<'_>) -> Result<Option<&mut T>, WrongType> {
        match self.lookup(key, Lookup::Write) {
            None => Ok(None),
            Some(e) => e
                .into_object_mut()
                .and_then(T::of_mut)
                .map(Some)
                .ok_or(WrongType),
        }
    }

    /// A collection for a write, created by `make` (no TTL, fresh access
    /// data) when the key is absent.
    pub fn write_obj_or_insert<T: ObjType>(
        &mut self,
        key: &Key<'_>,
        make: impl FnOnce() -> T,
    ) -> Result<&mut T, WrongType> {
        let found = match self.lookup(key, Lookup::Write) {
            None => false,
            Some(e) if e.get().object().and_then(T::of).is_some() => true,
            Some(_) => return Err(WrongType),
        };
        if !found {
            let access = self.fresh_access(None, Some(key.hash));
            let e = Entry::new_object(key.bytes, make().wrap(), 0, access);
            self.put(key, e);
        }
        let db = self.db;
        self.shard(key.hash).dbs[db]
            .get_mut(key.hash, key.bytes)
            .and_then(EntryMut::into_object_mut)
            .and_then(T::of_mut)
            .ok_or(WrongType)
    }

    /// Deletes `key` if it holds an emptied collection, as Redis does after
    /// a removal (with its `del` keyspace event). Returns the removed entry.
    pub fn remove_if_empty(&mut self, key: &Key<'_>) -> Option<Entry> {
        let empty = self
            .lookup(key, Lookup::Peek)?
            .get()
            .object()
            .is_some_and(|o| o.is_empty());
        if !empty {
            return None;
        }
        let e = self.remove(key);
        self.engine
            .events
            .emit(events::GENERIC, "del", self.db, key.bytes);
        e
    }

    /// Replaces any value of `key` by the entry `build(expire_at, access)`
    /// makes, with the TTL `ttl` asks for and Redis's access rules.
    fn replace_with(
        &mut self,
        key: &Key<'_>,
        ttl: Ttl,
        build: impl FnOnce(u64, u32) -> Entry,
    ) -> Option<Entry> {
        let old_meta = self
            .lookup(key, Lookup::Peek)
            .map(|e| (e.get().expire_at(), e.get().access()));
        let expire_at = match ttl {
            Ttl::Clear => 0,
            Ttl::Keep => old_meta.map_or(0, |m| m.0),
            Ttl::At(t) => t,
        };
        let entry = build(
            expire_at,
            self.fresh_access(old_meta.map(|m| m.1), Some(key.hash)),
        );
        // KEEPTTL (and the like) sets no expiry: as Redis, not remembered.
        if let Ttl::At(at) = ttl {
            self.note_replica_expire(key, at);
        }
        self.put_entry(key, entry)
    }

    /// Stores a ready-made entry under `key` (RENAME, COPY, MOVE, RESTORE).
    pub fn put(&mut self, key: &Key<'_>, entry: Entry) -> Option<Entry> {
        self.note_replica_expire(key, entry.as_ref().expire_at());
        self.put_entry(key, entry)
    }

    /// A TTL set by a client of a replica (not by its master's stream, nor
    /// by loading): the replica's own active expiry must reclaim the key
    /// (Redis's rememberSlaveKeyWithExpire, `expire.rs`).
    fn note_replica_expire(&self, key: &Key<'_>, at: u64) {
        let e = self.engine;
        if at != 0 && e.config.replica() && !master_stream() && !e.events.writes.loading() {
            e.remember_replica_expire(self.db, key.bytes);
        }
    }

    fn put_entry(&mut self, key: &Key<'_>, entry: Entry) -> Option<Entry> {
        debug_assert_eq!(entry.as_ref().key(), key.bytes);
        self.changes += 1;
        let db = self.db;
        let engine = self.engine;
        let hash_of = engine.hash_fn();
        engine.mark_db_used(db);
        let shard = self.shard(key.hash);
        shard.stats.entry_bytes += entry.as_ref().alloc_size() as i64;
        shard.modified(db, key.bytes);
        let old = shard.dbs[db].put(key.hash, entry, &hash_of);
        match &old {
            Some(o) => shard.stats.entry_bytes -= o.as_ref().alloc_size() as i64,
            None => engine.events.emit(events::NEW, "new", db, key.bytes),
        }
        old
    }

    /// Replaces a live key's value, keeping its TTL and access data.
    pub fn update(&mut self, key: &Key<'_>, value: StrValue<'_>) -> bool {
        let Some(e) = self.lookup(key, Lookup::Peek) else {
            return false;
        };
        let r = e.into_ref();
        let entry = Entry::new(r.key(), value, r.expire_at(), r.access());
        self.put(key, entry);
        true
    }

    /// Deletes a key; an expired key counts as absent (and is reclaimed).
    pub fn remove(&mut self, key: &Key<'_>) -> Option<Entry> {
        self.lookup(key, Lookup::Peek)?;
        let db = self.db;
        let engine = self.engine;
        let hash_of = engine.hash_fn();
        let shard = self.shard(key.hash);
        let e = shard.dbs[db].remove(key.hash, key.bytes, &hash_of)?;
        shard.stats.entry_bytes -= e.as_ref().alloc_size() as i64;
        shard.modified(db, key.bytes);
        self.changes += 1;
        Some(e)
    }

    /// Sets the expiry of a live key (`at` = 0 removes it). False if absent.
    pub fn set_expire(&mut self, key: &Key<'_>, at: u64) -> bool {
        if self.lookup(key, Lookup::Peek).is_none() {
            return false;
        }
        self.changes += 1;
        self.note_replica_expire(key, at);
        let db = self.db;
        let engine = self.engine;
        let hash_of = engine.hash_fn();
        let shard = self.shard(key.hash);
        shard.modified(db, key.bytes);
        shard.dbs[db].set_expire(key.hash, key.bytes, at, &hash_of)
    }

    /// Counts a write made in place through an `EntryMut` (e.g. INCR).
    pub fn touch_dirty(&mut self, key: &Key<'_>) {
        self.changes += 1;
        let db = self.db;
        self.shard(key.hash).modified(db, key.bytes);
    }

    /// Signals a change to `key` (WATCH, client-side caching) that the
    /// command counts once with another key's [`touch_dirty`](Self::touch_dirty),
    /// as Redis's LMOVE counts one change for its two lists.
    pub fn touch(&mut self, key: &Key<'_>) {
        let db = self.db;
        self.shard(key.hash).signal(db, key.bytes, true);
    }

    fn require_all(&self) {
        assert!(self.all, "whole-keyspace operation without lock_all");
    }

    /// Empties database `db` (all shards must be locked). Returns the entries
    /// so the caller decides where to free them (FLUSHDB ASYNC frees them on
    /// another thread).
    pub fn take_db(&mut self, db: usize) -> Vec<Entry> {
        self.require_all();
        self.engine.forget_replica_expires(db);
        let mut out = Vec::new();
        let (hash_of, now) = (self.engine.hash_fn(), self.now);
        for (_, g) in self.guards.iter_mut() {
            g.touch_watched_db(db, None, now, &hash_of);
            let taken = g.dbs[db].take_all();
            let bytes: i64 = taken.iter().map(|e| e.as_ref().alloc_size() as i64).sum();
            g.stats.entry_bytes -= bytes;
            g.stats.dirty += taken.len() as u64;
            self.changes = self.changes.saturating_add(taken.len() as u32);
            out.extend(taken);
        }
        out
    }

    /// SWAPDB (all shards must be locked).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        self.require_all();
        let (hash_of, now) = (self.engine.hash_fn(), self.now);
        for (_, g) in self.guards.iter_mut() {
            g.touch_watched_db(a, Some(b), now, &hash_of);
            g.touch_watched_db(b, Some(a), now, &hash_of);
            g.dbs.swap(a, b);
            g.stats.dirty += 1;
        }
        self.changes += 1;
    }

    /// Visits the live keys of the selected database (all shards locked).
    pub fn keys(&mut self, mut visit: impl FnMut(&[u8])) {
        self.require_all();
        let (db, now) = (self.db, self.now);
        for (_, g) in self.guards.iter() {
            for e in g.dbs[db].iter() {
                if e.expire_at() == 0 || e.expire_at() >= now {
                    visit(e.key());
                }
            }
        }
    }

    /// Visits every entry of database `db`, expired or not (all shards locked).
    pub fn entries(&self, db: usize, mut visit: impl FnMut(EntryRef<'_>)) {
        self.require_all();
        for (_, g) in self.guards.iter() {
            g.dbs[db].iter().for_each(&mut visit);
        }
    }

    /// Number of keys in the selected database (all shards locked).
    pub fn len(&self) -> usize {
        self.require_all();
        self.guards.iter().map(|(_, g)| g.dbs[self.db].len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

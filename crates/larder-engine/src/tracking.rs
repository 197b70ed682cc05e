//! Client-side caching: which clients may hold a copy of which key (the
//! engine's half of Redis's `CLIENT TRACKING`, tracking.c).
//!
//! Each shard keeps a table from key name to the ids of the clients that
//! read it while tracking ([`Tracked`]). As in Redis the table ignores the
//! database: a key name is tracked across all of them. Every change to a key
//! goes through `Shard::modified`, which takes the key's entry out of the
//! table and hands the ids to the server's [`InvalidationSink`] — so one
//! change sends one invalidation per reader, and the reader must read (and
//! be tracked) again to hear of the next change. When any client tracks in
//! broadcast mode, every changed key is also reported to the sink, which
//! matches it against the prefixes.
//!
//! Costs: when nobody tracks, a change costs an `is_empty` check on the
//! locked shard's map and one relaxed atomic load. A tracked key costs its
//! name plus 8 bytes per reader; `tracking-table-max-keys` bounds the number
//! of keys ([`Engine::limit_tracking`] forgets keys at random, invalidating
//! them, as Redis's trackingLimitUsedSlots does). A disconnected client's
//! ids are dropped lazily, when their keys change or are forgotten.
//!
//! Keys are remembered before the read command runs, under the key's shard
//! lock: a change that lands between the read and the registration can then
//! not be missed (the server runs commands on several threads at once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use smallvec::SmallVec;

use crate::keyspace::{Engine, Key};

/// Receives invalidations; installed by the server. Called while the
/// caller holds the key's shard lock: it must not lock shards.
pub trait InvalidationSink: Send + Sync {
    /// `key` changed (or was forgotten); `clients` had read it.
    fn invalidate(&self, key: &[u8], clients: &[u64]);
    /// `key` changed while broadcast mode is on: by the running client, or
    /// (`by_client` false) by the server itself, expiring or evicting it.
    fn broadcast(&self, key: &[u8], by_client: bool);
}

/// The engine-wide part: the sink, the broadcast switch and the totals.
#[derive(Default)]
pub struct Tracking {
    sink: OnceLock<Box<dyn InvalidationSink>>,
    broadcast: AtomicBool,
    keys: AtomicU64,
    items: AtomicU64,
}

impl Tracking {
    /// Installs the sink (once; later calls are ignored).
    pub fn set_sink(&self, sink: Box<dyn InvalidationSink>) {
        let _ = self.sink.set(sink);
    }

    /// Turns reporting of every change on or off (some client is in BCAST mode).
    pub fn set_broadcast(&self, on: bool) {
        self.broadcast.store(on, Relaxed);
    }

    /// Keys in the tracking table (INFO `tracking_total_keys`).
    pub fn total_keys(&self) -> u64 {
        self.keys.load(Relaxed)
    }

    /// Client ids across the table (INFO `tracking_total_items`).
    pub fn total_items(&self) -> u64 {
        self.items.load(Relaxed)
    }

    fn sink(&self) -> Option<&dyn InvalidationSink> {
        self.sink.get().map(|s| &**s)
    }
}

/// One shard's table: key name → readers.
pub(crate) struct Tracked {
    map: HashMap<Box<[u8]>, SmallVec<[u64; 2]>, foldhash::fast::RandomState>,
    hub: Arc<Tracking>,
}

impl Tracked {
    pub(crate) fn new(hub: Arc<Tracking>) -> Tracked {
        Tracked {
            map: HashMap::default(),
            hub,
        }
    }

    /// The tracking part of `Shard::modified`: invalidates `key`'s readers,
    /// and reports the change to broadcast mode.
    #[inline]
    pub(crate) fn modified(&mut self, key: &[u8], by_client: bool) {
        if !self.map.is_empty() {
            self.forget(key);
        }
        if self.hub.broadcast.load(Relaxed) {
            if let Some(s) = self.hub.sink() {
                s.broadcast(key, by_client);
            }
        }
    }

    /// Drops one key's entry and tells its readers.
    fn forget(&mut self, key: &[u8]) {
        if let Some(ids) = self.map.remove(key) {
            self.hub.keys.fetch_sub(1, Relaxed);
            self.hub.items.fetch_sub(ids.len() as u64, Relaxed);
            if let Some(s) = self.hub.sink() {
                s.invalidate(key, &ids);
            }
        }
    }

    fn remember(&mut self, key: &[u8], client: u64) {
        let ids = match self.map.get_mut(key) {
            Some(ids) => ids,
            None => {
                self.hub.keys.fetch_add(1, Relaxed);
                self.map.entry(key.into()).or_default()
            }
        };
        if !ids.contains(&client) {
            ids.push(client);
            self.hub.items.fetch_add(1, Relaxed);
        }
    }

    fn clear(&mut self) {
        let items: usize = self.map.values().map(|v| v.len()).sum();
        self.hub.keys.fetch_sub(self.map.len() as u64, Relaxed);
        self.hub.items.fetch_sub(items as u64, Relaxed);
        self.map = HashMap::default();
    }
}

impl Engine {
    /// Remembers that `client` read `keys` (Redis's trackingRememberKeys).
    pub fn track_keys(&self, client: u64, keys: &[Key<'_>]) {
        let mut txn = self.lock_keys(0, keys);
        for k in keys {
            txn.shard(k.hash).tracked.remember(k.bytes, client);
        }
    }

    /// Forgets every tracked key without invalidating (FLUSHALL/FLUSHDB:
    /// the server sends one "everything" invalidation instead).
    pub fn clear_tracking(&self) {
        for i in 0..self.shard_count() {
            self.lock_shard(i).tracked.clear();
        }
    }

    /// Forgets (and invalidates) tracked keys until at most `max` remain,
    /// visiting at most `effort` keys; `max` = 0 means no limit. Returns
    /// whether the table is within `max`.
    pub fn limit_tracking(&self, max: u64, effort: usize) -> bool {
        let t = &self.tracking;
        if max == 0 || t.total_keys() <= max {
            return true;
        }
        let n = self.shard_count();
        let start = crate::rng::next() as usize;
        let mut left = effort;
        for j in 0..n {
            let mut g = self.lock_shard((start + j) % n);
            while left > 0 && t.total_keys() > max {
                let Some(key) = g.tracked.map.keys().next().cloned() else {
                    break;
                };
                g.tracked.forget(&key);
                left -= 1;
            }
            if left == 0 || t.total_keys() <= max {
                break;
            }
        }
        t.total_keys() <= max
    }
}

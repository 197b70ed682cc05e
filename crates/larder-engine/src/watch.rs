//! WATCH: versions of the keys that clients watch.
//!
//! Each shard keeps a small map from watched key to, per database, a version
//! and the number of clients watching it. Every change to a key goes through
//! `Shard::modified` (writes, deletes, TTL changes, lazy and active expiry,
//! eviction), which bumps the version when the key is watched; FLUSHDB,
//! FLUSHALL and SWAPDB bump the watched keys that exist in the databases
//! they empty or exchange, as Redis's `touchAllWatchedKeysInDb`. A client
//! remembers the version it saw at WATCH time, and EXEC (holding the shards)
//! aborts if any differs. When nothing is watched in a shard, the cost of a
//! write is one `is_empty` check on a map in the already-locked shard.

use std::collections::HashMap;

use smallvec::SmallVec;

use crate::keyspace::{Key, Shard};
use crate::txn::{Lookup, Txn};

#[derive(Clone, Copy, Debug)]
struct Slot {
    db: usize,
    version: u64,
    watchers: u32,
}

#[derive(Default)]
pub(crate) struct Watched {
    map: HashMap<Box<[u8]>, SmallVec<[Slot; 1]>, foldhash::fast::RandomState>,
}

impl Watched {
    #[inline]
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if self.map.is_empty() {
            return;
        }
        if let Some(slots) = self.map.get_mut(key) {
            for s in slots.iter_mut().filter(|s| s.db == db) {
                s.version += 1;
            }
        }
    }

    fn version(&self, db: usize, key: &[u8]) -> u64 {
        self.map
            .get(key)
            .and_then(|v| v.iter().find(|s| s.db == db))
            .map_or(0, |s| s.version)
    }
}

impl Shard {
    /// Bumps the watched keys of database `db` that exist in `db` or, for
    /// SWAPDB, live in database `other` (Redis's `touchAllWatchedKeysInDb`).
    /// A key that is missing from `db` and only stale (past its deadline,
    /// not yet reclaimed) in `other` is no logical change: it is reclaimed
    /// here instead, so that its later deletion does not count either —
    /// unless some client watches it in `other`, where the deletion is news.
    pub(crate) fn touch_watched_db(
        &mut self,
        db: usize,
        other: Option<usize>,
        now: u64,
        hash: &dyn Fn(&[u8]) -> u64,
    ) {
        if self.watched.map.is_empty() {
            return;
        }
        let Shard {
            dbs,
            watched,
            stats,
            ..
        } = self;
        for (key, slots) in watched.map.iter_mut() {
            if !slots.iter().any(|s| s.db == db) {
                continue;
            }
            let h = hash(key);
            // None: absent; Some(live).
            let state = |d: usize| {
                dbs.get(d)
                    .and_then(|t| t.get(h, key))
                    .map(|e| e.expire_at() == 0 || e.expire_at() >= now)
            };
            let in_db = state(db).is_some();
            let in_other = other.map(|o| (o, state(o)));
            let changed = in_db
                || match in_other {
                    Some((o, Some(false))) if !slots.iter().any(|s| s.db == o) => {
                        if let Some(e) = dbs[o].remove(h, key, hash) {
                            stats.entry_bytes -= e.as_ref().alloc_size() as i64;
                            stats.expired_keys += 1;
                        }
                        false
                    }
                    Some((_, live)) => live == Some(true),
                    None => false,
                };
            if changed {
                for s in slots.iter_mut().filter(|s| s.db == db) {
                    s.version += 1;
                }
            }
        }
    }
}

impl Txn<'_> {
    /// Starts watching `key` in the selected database; returns its version.
    /// A key already past its deadline is reclaimed first, so that its later
    /// deletion does not count as a change (Redis: "WATCH stale keys should
    /// not fail EXEC").
    pub fn watch(&mut self, key: &Key<'_>) -> u64 {
        self.lookup(key, Lookup::Peek);
        let db = self.db;
        let w = &mut self.shard(key.hash).watched;
        let slots = w.map.entry(key.bytes.into()).or_default();
        match slots.iter_mut().find(|s| s.db == db) {
            Some(s) => {
                s.watchers += 1;
                s.version
            }
            None => {
                slots.push(Slot {
                    db,
                    version: 0,
                    watchers: 1,
                });
                0
            }
        }
    }

    /// Stops one client's watch of `key` in database `db`.
    pub fn unwatch(&mut self, db: usize, key: &Key<'_>) {
        let w = &mut self.shard(key.hash).watched;
        let Some(slots) = w.map.get_mut(key.bytes) else {
            return;
        };
        if let Some(i) = slots.iter().position(|s| s.db == db) {
            slots[i].watchers -= 1;
            if slots[i].watchers == 0 {
                slots.swap_remove(i);
            }
        }
        if slots.is_empty() {
            w.map.remove(key.bytes);
        }
    }

    /// Whether `key` of database `db` is unchanged since WATCH saw `version`
    /// (a key that has expired since counts as changed, as in Redis).
    pub fn watch_intact(&mut self, db: usize, key: &Key<'_>, version: u64) -> bool {
        let saved = self.db;
        self.db = db;
        self.lookup(key, Lookup::Peek);
        self.db = saved;
        self.shard(key.hash).watched.version(db, key.bytes) == version
    }
}

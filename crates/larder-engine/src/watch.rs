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
    /// SWAPDB, in database `other` (Redis's `touchAllWatchedKeysInDb`).
    pub(crate) fn touch_watched_db(
        &mut self,
        db: usize,
        other: Option<usize>,
        hash: &dyn Fn(&[u8]) -> u64,
    ) {
        if self.watched.map.is_empty() {
            return;
        }
        let dbs = &self.dbs;
        for (key, slots) in self.watched.map.iter_mut() {
            for s in slots.iter_mut().filter(|s| s.db == db) {
                let exists = |d: usize| dbs.get(d).is_some_and(|t| t.get(hash(key), key).is_some());
                if exists(db) || other.is_some_and(exists) {
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

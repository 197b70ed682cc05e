//! Active expiry: reclaiming expired keys that nobody touches.
//!
//! Redis's slow cycle, adapted to shards. Each call walks shards round-robin
//! from where the last call stopped; in each (shard, database) with volatile
//! keys it samples 20 of them and deletes the expired ones, and samples again
//! while more than 10% of a sample was expired. The call stops when its time
//! budget is spent. The server runs it 10 times a second with a 25 ms budget,
//! so active expiry takes at most 25% of one core (Redis's
//! ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC), and a shard lock is never held for
//! more than one sample of 20 keys.
//!
//! A replica expires nothing its master sent (the master's DEL does), but a
//! writable replica reclaims the keys its own clients gave a TTL, as Redis's
//! expireSlaveKeys: `Txn` remembers them (key → bitmap of databases below
//! 64, Redis's slaveKeysWithExpire; INFO's `slave_expires_tracked_keys`),
//! and each cycle checks random ones until more than 3 are not due yet or
//! the budget is spent. A key gone, or without a TTL any more, is
//! forgotten; so are all of a database's on a flush of it (a full sync).

use std::time::{Duration, Instant};

use crate::keyspace::Engine;

const SAMPLE: usize = 20;
const ACCEPTABLE_STALE_PERCENT: usize = 10;

/// What one cycle did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExpireCycle {
    pub sampled: usize,
    pub expired: usize,
    pub shards_visited: usize,
    pub timed_out: bool,
}

impl Engine {
    /// Deletes the expired `key` of database `db` from its locked shard and
    /// announces it: stats, WATCH and tracking, the `expired` event, and
    /// propagation as a DEL. Whether it was there.
    pub(crate) fn remove_expired(
        &self,
        g: &mut crate::keyspace::Shard,
        db: usize,
        hash: u64,
        key: &[u8],
    ) -> bool {
        let Some(e) = g.dbs[db].remove(hash, key, &self.hash_fn()) else {
            return false;
        };
        g.stats.entry_bytes -= e.as_ref().alloc_size() as i64;
        g.stats.expired_keys += 1;
        g.removed_by_server(db, key);
        self.events.emit(crate::events::EXPIRED, "expired", db, key);
        self.events.writes.deleted(db, key);
        true
    }

    pub fn active_expire_cycle(&self, budget: Duration) -> ExpireCycle {
        let mut out = ExpireCycle::default();
        if !self.config.active_expire() || self.config.paused(crate::access::now_ms()) {
            return out;
        }
        if self.config.replica() {
            self.expire_replica_keys(budget, &mut out);
            return out;
        }
        let start = Instant::now();
        let n = self.shard_count();
        let first = self
            .expire_cursor
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(SAMPLE);
        for step in 0..n {
            let i = (first + step) % n;
            out.shards_visited += 1;
            for db in 0..self.databases() {
                loop {
                    let mut g = self.lock_shard(i);
                    let d = &g.dbs[db];
                    if d.volatile_len() == 0 {
                        break;
                    }
                    let now = crate::access::now_ms();
                    let tries = SAMPLE.min(d.volatile_len());
                    keys.clear();
                    for _ in 0..tries {
                        let r = crate::rng::next();
                        if let Some(e) = g.dbs[db].random(r, true) {
                            if e.expire_at() < now && !keys.iter().any(|k| k == e.key()) {
                                keys.push(e.key().to_vec());
                            }
                        }
                    }
                    for k in &keys {
                        self.remove_expired(&mut g, db, self.hash(k), k);
                    }
                    drop(g);
                    out.sampled += tries;
                    out.expired += keys.len();
                    if keys.len() * 100 <= tries * ACCEPTABLE_STALE_PERCENT {
                        break;
                    }
                    if start.elapsed() >= budget {
                        out.timed_out = true;
                        break;
                    }
                }
            }
            if start.elapsed() >= budget {
                out.timed_out = true;
                self.expire_cursor
                    .store((i + 1) % n, std::sync::atomic::Ordering::Relaxed);
                return out;
            }
        }
        out
    }
}

impl Engine {
    /// Remembers that a client of this (writable) replica gave `key` of
    /// database `db` a TTL. Called under the key's shard lock.
    pub(crate) fn remember_replica_expire(&self, db: usize, key: &[u8]) {
        if db > 63 {
            return;
        }
        let mut m = self.replica_expires.lock();
        match m.get_mut(key) {
            Some(dbs) => *dbs |= 1 << db,
            None => {
                m.insert(key.into(), 1 << db);
            }
        }
    }

    /// Forgets the remembered keys of database `db` (it is being emptied;
    /// every shard is locked).
    pub(crate) fn forget_replica_expires(&self, db: usize) {
        if db > 63 {
            return;
        }
        let mut m = self.replica_expires.lock();
        if m.is_empty() {
            return;
        }
        m.retain(|_, dbs| {
            *dbs &= !(1 << db);
            *dbs != 0
        });
    }

    /// How many keys a writable replica's clients gave a TTL it tracks
    /// (INFO's `slave_expires_tracked_keys`).
    pub fn replica_expires_tracked(&self) -> usize {
        self.replica_expires.lock().len()
    }

    /// Redis's expireSlaveKeys: checks remembered keys picked at random,
    /// deleting those due, until more than 3 were not due, none are left
    /// or `budget` is spent.
    fn expire_replica_keys(&self, budget: Duration, out: &mut ExpireCycle) {
        let start = Instant::now();
        let (mut cycles, mut not_due) = (0usize, 0usize);
        loop {
            let key: Box<[u8]> = {
                let m = self.replica_expires.lock();
                if m.is_empty() {
                    break;
                }
                let i = (crate::rng::next() % m.len() as u64) as usize;
                match m.get_index(i) {
                    Some((k, _)) => k.clone(),
                    None => break,
                }
            };
            let hash = self.hash(&key);
            let mut g = self.lock_shard(self.shard_of(hash));
            // Read under the shard lock: a client changing this key's TTL
            // holds it too, so its bits cannot change meanwhile.
            let Some(dbs) = self.replica_expires.lock().get(&key).copied() else {
                continue;
            };
            let now = crate::access::now_ms();
            let mut left = 0u64;
            for db in 0..self.databases().min(64) {
                if dbs & (1 << db) == 0 {
                    continue;
                }
                let at = g.dbs[db].get(hash, &key).map_or(0, |e| e.expire_at());
                if at == 0 {
                    continue;
                }
                out.sampled += 1;
                if at >= now {
                    not_due += 1;
                    left |= 1 << db;
                    continue;
                }
                if self.remove_expired(&mut g, db, hash, &key) {
                    out.expired += 1;
                }
            }
            {
                let mut m = self.replica_expires.lock();
                if left == 0 {
                    m.swap_remove(&key);
                } else if let Some(dbs) = m.get_mut(&key) {
                    *dbs = left;
                }
            }
            drop(g);
            cycles += 1;
            if not_due > 3 {
                break;
            }
            if cycles % 64 == 0 && start.elapsed() >= budget {
                out.timed_out = true;
                break;
            }
        }
    }
}

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
    pub fn active_expire_cycle(&self, budget: Duration) -> ExpireCycle {
        let mut out = ExpireCycle::default();
        if !self.config.active_expire()
            || self.config.replica()
            || self.config.paused(crate::access::now_ms())
        {
            return out;
        }
        let start = Instant::now();
        let n = self.shard_count();
        let first = self
            .expire_cursor
            .load(std::sync::atomic::Ordering::Relaxed);
        let hash_of = self.hash_fn();
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
                        if let Some(e) = g.dbs[db].remove(self.hash(k), k, &hash_of) {
                            g.stats.entry_bytes -= e.as_ref().alloc_size() as i64;
                            g.stats.expired_keys += 1;
                            g.removed_by_server(db, k);
                            self.events.emit(crate::events::EXPIRED, "expired", db, k);
                            self.events.writes.deleted(db, k);
                        }
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

//! Walking a database across shards without locking them all: SCAN, and the
//! random picks behind RANDOMKEY.
//!
//! A SCAN cursor is `shard << CURSOR_BITS | position`, where the position is a
//! prefix of the hash space inside that shard (see `table::RawTable::scan`).
//! Each call locks one shard at a time, so a scan never stalls other clients
//! for longer than one chunk, and keeps Redis's guarantee: a key present from
//! the start to the end of a full iteration is returned at least once.

use crate::keyspace::Engine;
use crate::table::CURSOR_BITS;

impl Engine {
    /// Visits keys from `cursor` until about `count` keys were seen (at most
    /// `10 × count` homes probed, as Redis's `maxiterations`), returning the
    /// next cursor (0 when done). Expired keys are passed with their expiry so
    /// the caller can skip them as Redis does.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&[u8], u64),
    ) -> u64 {
        let count = count.max(1);
        let mask = (1u64 << CURSOR_BITS) - 1;
        let mut shard = (cursor >> CURSOR_BITS) as usize;
        let mut pos = cursor & mask;
        let mut seen = 0usize;
        let mut budget = count.saturating_mul(10);
        let hash_of = self.hash_fn();
        while shard < self.shard_count() && seen < count && budget > 0 {
            let g = self.lock_shard(shard);
            let d = &g.dbs[db];
            // Homes to visit: scale the wanted key count by the table's sparsity.
            let per_home = (d.len().max(1) as f64 / (d.slot_bytes().max(8) / 8) as f64).max(0.01);
            let homes = (((count - seen) as f64 / per_home).ceil() as usize).clamp(1, budget);
            let next = d.scan(pos, homes, &hash_of, |e| {
                seen += 1;
                visit(e.key(), e.expire_at());
            });
            budget = budget.saturating_sub(homes);
            if next >> CURSOR_BITS != 0 {
                shard += 1;
                pos = 0;
            } else {
                pos = next;
            }
        }
        if shard >= self.shard_count() {
            0
        } else {
            ((shard as u64) << CURSOR_BITS) | pos
        }
    }

    /// A random live key of `db`, if any (expired keys met on the way are reclaimed).
    pub fn random_key(&self, db: usize) -> Option<Vec<u8>> {
        let n = self.shard_count();
        let start = {
            let mut g = self.lock_shard(0);
            g.rand() as usize
        };
        // Random shards first; then a sweep, so a nearly empty keyspace still answers.
        for attempt in 0..(n * 2) {
            let i = if attempt < n {
                (start.wrapping_add(attempt.wrapping_mul(0x9e37))) % n
            } else {
                attempt - n
            };
            let mut g = self.lock_shard(i);
            let now = crate::access::now_ms();
            for _ in 0..16 {
                let r = g.rand();
                let (key, expired) = match g.dbs[db].random(r, false) {
                    None => break,
                    Some(e) => (e.key().to_vec(), e.expire_at() != 0 && e.expire_at() < now),
                };
                if !expired {
                    return Some(key);
                }
                let hash = self.hash(&key);
                let hash_of = self.hash_fn();
                if let Some(e) = g.dbs[db].remove(hash, &key, &hash_of) {
                    g.stats.entry_bytes -= e.as_ref().alloc_size() as i64;
                    g.stats.expired_keys += 1;
                }
            }
        }
        None
    }
}

//! Walking a database across shards without locking them all: SCAN, and the
//! random picks behind RANDOMKEY.
//!
//! A SCAN cursor is `shard << CURSOR_BITS | position`, where the position is a
//! prefix of the hash space inside that shard (see `table::RawTable::scan`).
//! Each call locks one shard at a time, so a scan never stalls other clients
//! for longer than one chunk, and keeps Redis's guarantee: a key present from
//! the start to the end of a full iteration is returned at least once.

use crate::entry::EntryRef;
use crate::keyspace::Engine;
use crate::table::CURSOR_BITS;

impl Engine {
    /// Visits keys from `cursor` until about `count` keys were seen (at most
    /// `10 × count` homes probed, as Redis's `maxiterations`), returning the
    /// next cursor (0 when done). Expired keys are passed too (the entry
    /// carries its expiry), so the caller skips them as Redis does; the entry
    /// also lets a TYPE filter see the value.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(EntryRef<'_>),
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
            if d.is_empty() {
                // Free of budget: a small keyspace is walked in one call, as
                // Redis walks a small dict (an empty one answers cursor 0).
                shard += 1;
                pos = 0;
                continue;
            }
            // Homes to visit: scale the wanted key count by the table's sparsity.
            let per_home = (d.len().max(1) as f64 / (d.slot_bytes().max(8) / 8) as f64).max(0.01);
            let homes = (((count - seen) as f64 / per_home).ceil() as usize).clamp(1, budget);
            let next = d.scan(pos, homes, &hash_of, |e| {
                seen += 1;
                visit(e);
            });
            // Charge the homes that exist, not those asked for: a huge COUNT
            // must not spend the whole budget on the first table.
            budget = budget.saturating_sub(homes.min(d.slot_bytes() / 8));
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
        let start = { crate::rng::next() as usize };
        // Random shards first; then a sweep, so a nearly empty keyspace still answers.
        for attempt in 0..(n * 2) {
            let i = if attempt < n {
                (start.wrapping_add(attempt.wrapping_mul(0x9e37))) % n
            } else {
                attempt - n
            };
            let now = crate::access::now_ms();
            for _ in 0..16 {
                let r = crate::rng::next();
                let picked = self.lock_shard(i).dbs[db]
                    .random(r, false)
                    .map(|e| (e.key().to_vec(), e.expire_at() != 0 && e.expire_at() < now));
                let Some((key, expired)) = picked else {
                    break;
                };
                if !expired {
                    return Some(key);
                }
                // Deleted as any lazy expiry is: counted, propagated, notified.
                let k = self.key(&key);
                self.lock_key_at(db, &k, now)
                    .lookup(&k, crate::txn::Lookup::Peek);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::entry::StrValue;
    use crate::keyspace::{Engine, EngineOptions};
    use crate::txn::Ttl;

    fn engine_with(n: usize) -> Engine {
        let e = Engine::new(EngineOptions {
            databases: 2,
            shards: 8,
        });
        for i in 0..n {
            let k = format!("k{i}");
            let key = e.key(k.as_bytes());
            let mut t = e.lock_key(1, &key);
            t.set(&key, StrValue::Auto(b"v"), Ttl::Clear);
        }
        e
    }

    fn scan_all(e: &Engine, db: usize, count: usize) -> (HashSet<Vec<u8>>, usize) {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            cursor = e.scan(db, cursor, count, |en| {
                seen.insert(en.key().to_vec());
            });
            calls += 1;
            if cursor == 0 {
                return (seen, calls);
            }
        }
    }

    #[test]
    fn full_iteration_returns_every_key_of_its_database() {
        let e = engine_with(500);
        for count in [1, 7, 10, 1000] {
            let (seen, calls) = scan_all(&e, 1, count);
            assert_eq!(seen.len(), 500, "count {count}");
            if count == 1000 {
                assert!(calls <= 2, "a large COUNT takes {calls} calls");
            }
        }
        let (other, calls) = scan_all(&e, 0, 10);
        assert!(other.is_empty());
        assert_eq!(calls, 1, "an empty database answers in one call");
        // COUNT near usize::MAX must not overflow anywhere.
        let (seen, calls) = scan_all(&e, 1, usize::MAX);
        assert_eq!((seen.len(), calls), (500, 1));
        // A cursor past the last shard ends the iteration.
        assert_eq!(e.scan(1, u64::MAX, 10, |_| {}), 0);
    }

    #[test]
    fn a_small_keyspace_is_walked_in_one_call() {
        let e = Engine::new(EngineOptions::default());
        let key = e.key(b"only");
        e.lock_key(0, &key)
            .set(&key, StrValue::Auto(b"1"), Ttl::Clear);
        let (seen, calls) = scan_all(&e, 0, 10);
        assert_eq!((seen.len(), calls), (1, 1));
    }

    #[test]
    fn random_key_skips_and_reclaims_expired_keys() {
        let e = engine_with(0);
        assert_eq!(e.random_key(1), None);
        let key = e.key(b"gone");
        let mut t = e.lock_key(1, &key);
        t.set(&key, StrValue::Auto(b"v"), Ttl::At(1));
        let live = e.key(b"live");
        drop(t);
        let mut t = e.lock_key(1, &live);
        t.set(&live, StrValue::Auto(b"v"), Ttl::Clear);
        drop(t);
        for _ in 0..20 {
            assert_eq!(e.random_key(1).as_deref(), Some(&b"live"[..]));
        }
    }
}

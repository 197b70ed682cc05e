//! Bélády's OPT (MIN): on a miss, admit the key and evict the resident key
//! whose next request is farthest away. This is demand paging, as in the
//! reference tables; `opt-bypass` may also decline a key whose own next
//! request is farther than every resident's (slightly higher ratios: caching
//! with bypass has a higher optimum).
//!
//! It needs the future, so it is not a [`CachePolicy`]: each request comes
//! with the index of the key's next request ([`next_uses`] computes them in a
//! first pass, or an oracleGeneral trace carries them). Residents are kept in
//! a map to their next use and a max-heap of (next use, key) with lazy
//! deletion (stale heap entries are skipped and the heap is rebuilt when it
//! grows past four times the residents). O(log n) per request. With unit
//! sizes this is the optimum; with byte sizes it is the usual farthest-next-
//! use heuristic (the exact problem is NP-hard).
//!
//! [`CachePolicy`]: larder_engine::policy::CachePolicy

use std::collections::{BinaryHeap, HashMap};

use crate::trace::TraceReader;

/// "Never requested again".
pub const NEVER: u64 = u64::MAX;

pub struct Opt {
    next_of: HashMap<u64, (u64, u32), foldhash::fast::FixedState>,
    heap: BinaryHeap<(u64, u64)>,
    used: u64,
    capacity: u64,
    bypass: bool,
}

impl Opt {
    pub fn new(capacity: u64, bypass: bool) -> Opt {
        Opt {
            next_of: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(3)),
            heap: BinaryHeap::new(),
            used: 0,
            capacity,
            bypass,
        }
    }

    /// The resident key used farthest in the future, with its next use.
    fn farthest(&mut self) -> Option<(u64, u64)> {
        while let Some(&(next, key)) = self.heap.peek() {
            if self.next_of.get(&key).is_some_and(|&(n, _)| n == next) {
                return Some((next, key));
            }
            self.heap.pop();
        }
        None
    }

    fn compact(&mut self) {
        if self.heap.len() > 4 * self.next_of.len() + 1024 {
            self.heap = self.next_of.iter().map(|(&k, &(n, _))| (n, k)).collect();
        }
    }

    /// One request; `next` is the index of the key's next request.
    pub fn access(&mut self, key: u64, size: u32, next: u64) -> bool {
        if let Some(e) = self.next_of.get_mut(&key) {
            e.0 = next;
            self.heap.push((next, key));
            self.compact();
            return true;
        }
        let size64 = u64::from(size);
        if size64 > self.capacity || (next == NEVER && self.bypass) {
            return false;
        }
        while self.used + size64 > self.capacity {
            let Some((far, victim)) = self.farthest() else {
                break;
            };
            if self.bypass && far <= next {
                // Every resident is needed sooner than this key: bypass it.
                return false;
            }
            self.heap.pop();
            if let Some((_, s)) = self.next_of.remove(&victim) {
                self.used -= u64::from(s);
            }
        }
        self.next_of.insert(key, (next, size));
        self.heap.push((next, key));
        self.used += size64;
        self.compact();
        false
    }
}

/// First pass for OPT: the index of each request's next request for the
/// same key (`NEVER` if none). Costs 8 bytes per request plus a map entry per
/// distinct key; every other policy streams.
pub fn next_uses(mut reader: TraceReader, limit: u64) -> anyhow::Result<Vec<u64>> {
    let mut next = Vec::new();
    let mut last: HashMap<u64, usize, foldhash::fast::FixedState> =
        HashMap::with_hasher(foldhash::fast::FixedState::with_seed(5));
    while (next.len() as u64) < limit {
        let Some(r) = reader.next_request()? else {
            break;
        };
        let i = next.len();
        next.push(NEVER);
        if let Some(prev) = last.insert(r.key, i) {
            next[prev] = i as u64;
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_keeps_what_is_needed_soonest() {
        // a b c b a c a b with room for 2.
        let keys = [1u64, 2, 3, 2, 1, 3, 1, 2];
        let next: Vec<u64> = (0..keys.len())
            .map(|i| {
                (i + 1..keys.len())
                    .find(|&j| keys[j] == keys[i])
                    .map_or(NEVER, |j| j as u64)
            })
            .collect();
        let hits = |bypass| {
            let mut opt = Opt::new(2, bypass);
            keys.iter()
                .zip(&next)
                .filter(|&(&k, &n)| opt.access(k, 1, n))
                .count()
        };
        // Demand: c evicts a (used last): hits b, c, then a misses, b hits.
        assert_eq!(hits(false), 3);
        // Bypass can do no worse.
        assert!(hits(true) >= 3);
    }
}

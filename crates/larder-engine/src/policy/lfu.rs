//! LFU with aging: evict the least frequently used key, LRU among equals.
//!
//! Keys sit in one list per access count (0..=255, saturating), most recent
//! at the head, so the victim is the tail of the lowest non-empty list (found
//! by scanning up from a lower bound: at most 256 steps, usually none). A new
//! key starts at 1. Aging: every `10 × capacity` requests all counts are
//! halved (lists 2k and 2k+1 merge into k), so keys that were popular long
//! ago lose their advantage; the halving touches every key once, O(1)
//! amortised per request. Cost: one slab node (the count lives in it) plus a
//! map slot per key.

use super::list::{List, Slab};
use super::CachePolicy;

const LEVELS: usize = 256;

pub struct Lfu {
    slab: Slab,
    levels: Vec<List>,
    /// No list below this one is non-empty.
    low: usize,
    len: usize,
    used: u64,
    capacity: u64,
    requests: u64,
    period: u64,
}

impl Lfu {
    pub fn new(capacity: u64) -> Lfu {
        Lfu {
            slab: Slab::with_capacity(capacity.min(1 << 24) as usize),
            levels: vec![List::default(); LEVELS],
            low: 0,
            len: 0,
            used: 0,
            capacity,
            requests: 0,
            period: 10 * capacity.max(1),
        }
    }

    fn age(&mut self) {
        let old = std::mem::replace(&mut self.levels, vec![List::default(); LEVELS]);
        // Oldest first, lower counts first, so the most recent of the higher
        // count ends at the head of each merged list.
        for (f, mut list) in old.into_iter().enumerate() {
            while let Some(i) = list.pop_back(&mut self.slab) {
                self.slab.node_mut(i).freq = (f / 2) as u16;
                self.levels[f / 2].push_front(&mut self.slab, i);
            }
        }
        self.low = 0;
    }

    fn evict_one(&mut self) {
        while self.low < LEVELS {
            if let Some(v) = self.levels[self.low].pop_back(&mut self.slab) {
                self.used -= u64::from(self.slab.node(v).size);
                self.len -= 1;
                self.slab.release(v);
                return;
            }
            self.low += 1;
        }
    }
}

impl CachePolicy for Lfu {
    fn access(&mut self, key: u64, size: u32) -> bool {
        self.requests += 1;
        if self.requests.is_multiple_of(self.period) {
            self.age();
        }
        if let Some(i) = self.slab.find(key) {
            let f = self.slab.node(i).freq as usize;
            let g = (f + 1).min(LEVELS - 1);
            self.levels[f].unlink(&mut self.slab, i);
            self.slab.node_mut(i).freq = g as u16;
            self.levels[g].push_front(&mut self.slab, i);
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.used + u64::from(size) > self.capacity && self.len > 0 {
            self.evict_one();
        }
        let i = self.slab.alloc(key, size, 0);
        self.slab.node_mut(i).freq = 1;
        self.levels[1].push_front(&mut self.slab, i);
        self.low = self.low.min(1);
        self.len += 1;
        self.used += u64::from(size);
        false
    }

    fn name(&self) -> String {
        "lfu".to_string()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn used(&self) -> u64 {
        self.used
    }
}

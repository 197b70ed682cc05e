//! SIEVE (Zhang et al., NSDI'24): a FIFO queue, a visited bit per key, and a
//! hand that sweeps from the tail towards the head.
//!
//! New keys go to the head; a hit only sets the visited bit. To evict, the
//! hand moves towards the head clearing visited bits until it finds a key
//! without one, evicts it, and stays where it stopped (wrapping to the tail
//! past the head). Unlike CLOCK, survivors are not moved, so new keys that
//! are never reused leave quickly. Cost: one slab node plus a map slot per
//! key; O(1) amortised.

use super::list::{List, Slab, NIL};
use super::CachePolicy;

pub struct Sieve {
    slab: Slab,
    queue: List,
    hand: u32,
    capacity: u64,
}

impl Sieve {
    pub fn new(capacity: u64) -> Sieve {
        Sieve {
            slab: Slab::with_capacity(capacity.min(1 << 24) as usize),
            queue: List::default(),
            hand: NIL,
            capacity,
        }
    }

    fn evict_one(&mut self) {
        let mut h = if self.hand != NIL {
            self.hand
        } else {
            self.queue.tail
        };
        while self.slab.node(h).bit != 0 {
            self.slab.node_mut(h).bit = 0;
            h = self.slab.node(h).prev;
            if h == NIL {
                h = self.queue.tail;
            }
        }
        self.hand = self.slab.node(h).prev;
        self.queue.unlink(&mut self.slab, h);
        self.slab.release(h);
    }
}

impl CachePolicy for Sieve {
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(i) = self.slab.find(key) {
            self.slab.node_mut(i).bit = 1;
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.queue.bytes + u64::from(size) > self.capacity && self.queue.len > 0 {
            self.evict_one();
        }
        let i = self.slab.alloc(key, size, 0);
        self.queue.push_front(&mut self.slab, i);
        false
    }

    fn name(&self) -> String {
        "sieve".to_string()
    }

    fn len(&self) -> usize {
        self.queue.len
    }

    fn used(&self) -> u64 {
        self.queue.bytes
    }
}

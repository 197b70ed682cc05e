//! LRU and FIFO: one queue of resident keys, evicted from the tail.
//!
//! LRU moves a key to the head on every hit; FIFO leaves it where it was
//! admitted (FIFO is LRU without promotion, so both share this code). Cost:
//! one slab node (24 bytes) plus a map slot per key; O(1) per request.

use super::list::{List, Slab};
use super::CachePolicy;

pub struct Lru {
    slab: Slab,
    queue: List,
    capacity: u64,
    promote: bool,
}

impl Lru {
    pub fn new(capacity: u64) -> Lru {
        Lru {
            slab: Slab::with_capacity(capacity.min(1 << 24) as usize),
            queue: List::default(),
            capacity,
            promote: true,
        }
    }

    pub fn fifo(capacity: u64) -> Lru {
        Lru {
            promote: false,
            ..Lru::new(capacity)
        }
    }
}

impl CachePolicy for Lru {
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(i) = self.slab.find(key) {
            if self.promote {
                self.queue.move_to_front(&mut self.slab, i);
            }
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.queue.bytes + u64::from(size) > self.capacity {
            let Some(v) = self.queue.pop_back(&mut self.slab) else {
                break;
            };
            self.slab.release(v);
        }
        let i = self.slab.alloc(key, size, 0);
        self.queue.push_front(&mut self.slab, i);
        false
    }

    fn name(&self) -> String {
        if self.promote { "lru" } else { "fifo" }.to_string()
    }

    fn len(&self) -> usize {
        self.queue.len
    }

    fn used(&self) -> u64 {
        self.queue.bytes
    }
}

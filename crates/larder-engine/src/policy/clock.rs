//! CLOCK: FIFO with one reference bit per key ("second chance").
//!
//! A hit sets the key's bit. To evict, look at the oldest key: if its bit is
//! set, clear it and reinsert the key at the head; otherwise evict it. This is
//! the FIFO-reinsertion form of CLOCK (same decisions as a circular buffer
//! with a hand). Cost: one slab node plus a map slot per key; a hit is a bit
//! write; an eviction is amortised O(1).

use super::list::{List, Slab};
use super::CachePolicy;

pub struct Clock {
    slab: Slab,
    queue: List,
    capacity: u64,
}

impl Clock {
    pub fn new(capacity: u64) -> Clock {
        Clock {
            slab: Slab::with_capacity(capacity.min(1 << 24) as usize),
            queue: List::default(),
            capacity,
        }
    }
}

impl CachePolicy for Clock {
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(i) = self.slab.find(key) {
            self.slab.node_mut(i).bit = 1;
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.queue.bytes + u64::from(size) > self.capacity {
            let Some(v) = self.queue.back() else { break };
            if self.slab.node(v).bit != 0 {
                self.slab.node_mut(v).bit = 0;
                self.queue.move_to_front(&mut self.slab, v);
            } else {
                self.queue.unlink(&mut self.slab, v);
                self.slab.release(v);
            }
        }
        let i = self.slab.alloc(key, size, 0);
        self.queue.push_front(&mut self.slab, i);
        false
    }

    fn name(&self) -> String {
        "clock".to_string()
    }

    fn len(&self) -> usize {
        self.queue.len
    }

    fn used(&self) -> u64 {
        self.queue.bytes
    }
}

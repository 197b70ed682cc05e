//! S3-FIFO (Yang et al., SOSP'23), as libCacheSim implements it: a small
//! FIFO (10% of the capacity), a main FIFO (the rest) and a ghost FIFO of
//! evicted keys (as large as the main queue).
//!
//! New keys enter the small queue; a hit only bumps a 2-bit counter (max 3).
//! Evicting from the small queue: a key hit at least twice there moves to the
//! main queue, the others are evicted and remembered in the ghost queue. A miss on
//! a ghost key admits it straight to the main queue. Evicting from the main
//! queue is CLOCK-like: a key with a non-zero counter is reinserted with the
//! counter decremented. The main queue is evicted from when it is over its
//! share (or the small queue is empty). One-hit wonders thus leave after a
//! short stay in the small queue. Cost: one slab node per resident key (the
//! counter lives in it) plus one per ghost key (up to 90% of the capacity in
//! keys), and their map slots; O(1) amortised.

use super::list::{List, Slab};
use super::CachePolicy;

const SMALL: u8 = 0;
const MAIN: u8 = 1;
const GHOST: u8 = 2;
/// Hits in the small queue that earn a move to the main one (libCacheSim's
/// `move_to_main_threshold`).
const MOVE_TO_MAIN: u16 = 2;

pub struct S3Fifo {
    slab: Slab,
    small: List,
    main: List,
    ghost: List,
    small_cap: u64,
    main_cap: u64,
    capacity: u64,
}

impl S3Fifo {
    pub fn new(capacity: u64) -> S3Fifo {
        let small_cap = capacity / 10;
        S3Fifo {
            slab: Slab::with_capacity((2 * capacity).min(1 << 24) as usize),
            small: List::default(),
            main: List::default(),
            ghost: List::default(),
            small_cap,
            main_cap: capacity - small_cap,
            capacity,
        }
    }

    fn evict_one(&mut self) {
        if self.main.bytes > self.main_cap || self.small.len == 0 {
            self.evict_main();
        } else {
            self.evict_small();
        }
    }

    fn evict_small(&mut self) {
        while let Some(v) = self.small.pop_back(&mut self.slab) {
            if self.slab.node(v).freq >= MOVE_TO_MAIN {
                let n = self.slab.node_mut(v);
                n.freq = 0;
                n.tag = MAIN;
                self.main.push_front(&mut self.slab, v);
            } else {
                self.slab.node_mut(v).tag = GHOST;
                self.ghost.push_front(&mut self.slab, v);
                while self.ghost.bytes > self.main_cap {
                    if let Some(g) = self.ghost.pop_back(&mut self.slab) {
                        self.slab.release(g);
                    }
                }
                return;
            }
        }
    }

    fn evict_main(&mut self) {
        while let Some(v) = self.main.pop_back(&mut self.slab) {
            let f = self.slab.node(v).freq;
            if f >= 1 {
                self.slab.node_mut(v).freq = f - 1;
                self.main.push_front(&mut self.slab, v);
            } else {
                self.slab.release(v);
                return;
            }
        }
    }
}

impl CachePolicy for S3Fifo {
    fn access(&mut self, key: u64, size: u32) -> bool {
        let found = self.slab.find(key);
        if let Some(i) = found {
            let n = self.slab.node_mut(i);
            if n.tag != GHOST {
                n.freq = (n.freq + 1).min(3);
                return true;
            }
        }
        let size64 = u64::from(size);
        if size64 > self.capacity {
            return false;
        }
        let from_ghost = found.is_some();
        if let Some(g) = found {
            self.ghost.unlink(&mut self.slab, g);
            self.slab.release(g);
        } else if size64 > self.small_cap.max(1) {
            return false;
        }
        while self.small.bytes + self.main.bytes + size64 > self.capacity {
            self.evict_one();
        }
        let (tag, list) = if from_ghost {
            (MAIN, &mut self.main)
        } else {
            (SMALL, &mut self.small)
        };
        let i = self.slab.alloc(key, size, tag);
        list.push_front(&mut self.slab, i);
        false
    }

    fn name(&self) -> String {
        "s3fifo".to_string()
    }

    fn len(&self) -> usize {
        self.small.len + self.main.len
    }

    fn used(&self) -> u64 {
        self.small.bytes + self.main.bytes
    }
}

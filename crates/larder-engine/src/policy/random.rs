//! Random eviction: evict a uniformly random resident key.
//!
//! Residents are kept in a dense vector (key and size) with a map from key to
//! position; eviction swaps the victim with the last element. Cost: 12 bytes
//! in the vector plus a map slot per key; O(1) per request.

use std::collections::HashMap;

use super::{CachePolicy, Rng};

pub struct RandomEviction {
    keys: Vec<(u64, u32)>,
    pos: HashMap<u64, u32, foldhash::fast::FixedState>,
    used: u64,
    capacity: u64,
    rng: Rng,
}

impl RandomEviction {
    pub fn new(capacity: u64, seed: u64) -> RandomEviction {
        RandomEviction {
            keys: Vec::new(),
            pos: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
            used: 0,
            capacity,
            rng: Rng::new(seed),
        }
    }
}

impl CachePolicy for RandomEviction {
    fn access(&mut self, key: u64, size: u32) -> bool {
        if self.pos.contains_key(&key) {
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.used + u64::from(size) > self.capacity && !self.keys.is_empty() {
            let v = self.rng.below(self.keys.len());
            let (k, s) = self.keys.swap_remove(v);
            self.pos.remove(&k);
            self.used -= u64::from(s);
            if let Some(&(moved, _)) = self.keys.get(v) {
                self.pos.insert(moved, v as u32);
            }
        }
        self.pos.insert(key, self.keys.len() as u32);
        self.keys.push((key, size));
        self.used += u64::from(size);
        false
    }

    fn name(&self) -> String {
        "random".to_string()
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn used(&self) -> u64 {
        self.used
    }
}

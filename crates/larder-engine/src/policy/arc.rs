//! ARC (Megiddo & Modha, FAST'03): two LRU lists of resident keys, T1 (seen
//! once recently) and T2 (seen at least twice), each with a ghost list of
//! keys it recently evicted (B1, B2), and a target size `p` for T1.
//!
//! A hit moves the key to the head of T2. A miss that finds the key in B1
//! means T1 was too small: `p` grows (by |B2|/|B1|, at least 1); found in B2,
//! `p` shrinks. To make room ("replace"), T1's tail goes to B1 when T1 is over
//! `p`, else T2's tail goes to B2. Ghost lists are trimmed so T1+B1 ≤ c and
//! the four lists ≤ 2c. Sizes generalise the counts to bytes (with unit
//! sizes this is the paper's algorithm). Cost: one slab node per resident key
//! and per ghost key (up to c ghosts), and their map slots; O(1) per request.

use super::list::{List, Slab};
use super::CachePolicy;

const T1: u8 = 0;
const T2: u8 = 1;
const B1: u8 = 2;
const B2: u8 = 3;

pub struct Arc {
    slab: Slab,
    lists: [List; 4],
    p: f64,
    capacity: u64,
}

impl Arc {
    pub fn new(capacity: u64) -> Arc {
        Arc {
            slab: Slab::with_capacity((2 * capacity).min(1 << 24) as usize),
            lists: [List::default(); 4],
            p: 0.0,
            capacity,
        }
    }

    fn bytes(&self, l: u8) -> u64 {
        self.lists[l as usize].bytes
    }

    fn move_to(&mut self, i: u32, to: u8) {
        let from = self.slab.node(i).tag;
        self.lists[from as usize].unlink(&mut self.slab, i);
        self.slab.node_mut(i).tag = to;
        self.lists[to as usize].push_front(&mut self.slab, i);
    }

    fn drop_tail(&mut self, l: u8) {
        if let Some(v) = self.lists[l as usize].pop_back(&mut self.slab) {
            self.slab.release(v);
        }
    }

    /// The paper's REPLACE: demote T1's or T2's tail to its ghost list.
    fn replace(&mut self, in_b2: bool) {
        let t1 = self.bytes(T1) as f64;
        let from_t1 = self.lists[T1 as usize].len > 0
            && ((in_b2 && t1 == self.p) || t1 > self.p || self.lists[T2 as usize].len == 0);
        let (from, to) = if from_t1 { (T1, B1) } else { (T2, B2) };
        if let Some(v) = self.lists[from as usize].back() {
            self.move_to(v, to);
        }
    }

    fn make_room(&mut self, size: u64, in_b2: bool) {
        while self.bytes(T1) + self.bytes(T2) + size > self.capacity {
            self.replace(in_b2);
        }
    }
}

impl CachePolicy for Arc {
    fn access(&mut self, key: u64, size: u32) -> bool {
        let size64 = u64::from(size);
        let c = self.capacity;
        match self.slab.find(key) {
            Some(i) if self.slab.node(i).tag <= T2 => {
                self.move_to(i, T2);
                true
            }
            Some(i) => {
                let in_b1 = self.slab.node(i).tag == B1;
                let (b1, b2) = (self.bytes(B1) as f64, self.bytes(B2) as f64);
                let s = size64 as f64;
                if in_b1 {
                    self.p = (self.p + (b2 / b1).max(1.0) * s).min(c as f64);
                } else {
                    self.p = (self.p - (b1 / b2).max(1.0) * s).max(0.0);
                }
                self.make_room(size64, !in_b1);
                self.move_to(i, T2);
                false
            }
            None => {
                if size64 > c {
                    return false;
                }
                let (t1, b1) = (self.bytes(T1), self.bytes(B1));
                let total = t1 + b1 + self.bytes(T2) + self.bytes(B2);
                if t1 + b1 + size64 > c {
                    while self.bytes(T1) + self.bytes(B1) + size64 > c
                        && self.lists[B1 as usize].len > 0
                    {
                        self.drop_tail(B1);
                    }
                    while self.bytes(T1) + self.bytes(B1) + size64 > c {
                        self.drop_tail(T1);
                    }
                } else if total + size64 > c {
                    while self.bytes(T1) + self.bytes(B1) + self.bytes(T2) + self.bytes(B2) + size64
                        > 2 * c
                        && self.lists[B2 as usize].len > 0
                    {
                        self.drop_tail(B2);
                    }
                }
                self.make_room(size64, false);
                let i = self.slab.alloc(key, size, T1);
                self.lists[T1 as usize].push_front(&mut self.slab, i);
                false
            }
        }
    }

    fn name(&self) -> String {
        "arc".to_string()
    }

    fn len(&self) -> usize {
        self.lists[T1 as usize].len + self.lists[T2 as usize].len
    }

    fn used(&self) -> u64 {
        self.bytes(T1) + self.bytes(T2)
    }
}

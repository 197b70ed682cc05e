//! The near cache: an in-process L1 in front of the cache server, bounded in
//! bytes, with LRU eviction.
//!
//! Layout: a `HashMap<key, slot>` into a slab of nodes linked in recency
//! order by `u32` indices (no allocation per hit; a freed slot is reused).
//! Each entry is charged `key + value + 64` bytes of bookkeeping. Entries
//! carry their own deadline (never later than the value's freshness), so a
//! lost invalidation can only keep a value until then.
//!
//! Coherence: every invalidation (own deletes, the bus, CLIENT TRACKING
//! pushes) bumps `seq`. A reader notes `seq` before fetching from the
//! server and inserts only if no invalidation arrived meanwhile, so a value
//! read just before an invalidation can never be cached after it.
//! While the invalidation channel is down (`coherent == false`) the near
//! cache serves nothing, and it is flushed when the channel (re)connects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

use bytes::Bytes;
use parking_lot::Mutex;

const NIL: u32 = u32::MAX;
const OVERHEAD: usize = 64;

struct Node {
    key: String,
    value: Bytes,
    deadline_ms: u64,
    prev: u32,
    next: u32,
}

struct Lru {
    map: HashMap<String, u32>,
    slab: Vec<Node>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    used: usize,
}

pub struct NearCache {
    capacity: usize,
    lru: Mutex<Lru>,
    seq: AtomicU64,
    coherent: AtomicBool,
}

impl NearCache {
    /// `coherent` starts false when an invalidation channel must connect first.
    pub fn new(capacity_bytes: usize, coherent: bool) -> NearCache {
        NearCache {
            capacity: capacity_bytes,
            lru: Mutex::new(Lru {
                map: HashMap::new(),
                slab: Vec::new(),
                free: Vec::new(),
                head: NIL,
                tail: NIL,
                used: 0,
            }),
            seq: AtomicU64::new(0),
            coherent: AtomicBool::new(coherent),
        }
    }

    /// The invalidation sequence number to pass to [`NearCache::insert`].
    pub fn seq(&self) -> u64 {
        self.seq.load(Acquire)
    }

    pub fn get(&self, key: &str, now_ms: u64) -> Option<Bytes> {
        if !self.coherent.load(Acquire) {
            return None;
        }
        let mut l = self.lru.lock();
        let idx = *l.map.get(key)?;
        if l.slab[idx as usize].deadline_ms <= now_ms {
            l.remove_idx(idx);
            return None;
        }
        l.unlink(idx);
        l.push_front(idx);
        Some(l.slab[idx as usize].value.clone())
    }

    /// Inserts unless an invalidation happened since `seq` was read.
    pub fn insert(&self, key: &str, value: Bytes, deadline_ms: u64, seq: u64) {
        let size = key.len() + value.len() + OVERHEAD;
        if size > self.capacity || !self.coherent.load(Acquire) {
            return;
        }
        let mut l = self.lru.lock();
        // Checked under the lock: invalidations bump seq under it too.
        if self.seq.load(Acquire) != seq {
            return;
        }
        if let Some(&idx) = l.map.get(key) {
            l.remove_idx(idx);
        }
        while l.used + size > self.capacity && l.tail != NIL {
            let t = l.tail;
            l.remove_idx(t);
        }
        let node = Node {
            key: key.to_string(),
            value,
            deadline_ms,
            prev: NIL,
            next: NIL,
        };
        let idx = match l.free.pop() {
            Some(i) => {
                l.slab[i as usize] = node;
                i
            }
            None => {
                l.slab.push(node);
                (l.slab.len() - 1) as u32
            }
        };
        l.map.insert(key.to_string(), idx);
        l.push_front(idx);
        l.used += size;
    }

    pub fn invalidate(&self, key: &str) {
        let mut l = self.lru.lock();
        self.seq.fetch_add(1, AcqRel);
        if let Some(&idx) = l.map.get(key) {
            l.remove_idx(idx);
        }
    }

    pub fn clear(&self) {
        let mut l = self.lru.lock();
        self.seq.fetch_add(1, AcqRel);
        l.map.clear();
        l.slab.clear();
        l.free.clear();
        l.head = NIL;
        l.tail = NIL;
        l.used = 0;
    }

    /// Marks the invalidation channel up (after flushing) or down.
    pub fn set_coherent(&self, up: bool) {
        if up {
            self.clear();
        }
        self.coherent.store(up, Release);
    }

    pub fn is_coherent(&self) -> bool {
        self.coherent.load(Acquire)
    }

    pub fn len(&self) -> usize {
        self.lru.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn used_bytes(&self) -> usize {
        self.lru.lock().used
    }
}

impl Lru {
    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let n = &self.slab[idx as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slab[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slab[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, idx: u32) {
        let old = self.head;
        {
            let n = &mut self.slab[idx as usize];
            n.prev = NIL;
            n.next = old;
        }
        match old {
            NIL => self.tail = idx,
            o => self.slab[o as usize].prev = idx,
        }
        self.head = idx;
    }

    fn remove_idx(&mut self, idx: u32) {
        self.unlink(idx);
        let n = &mut self.slab[idx as usize];
        let key = std::mem::take(&mut n.key);
        let value = std::mem::take(&mut n.value);
        self.used -= key.len() + value.len() + OVERHEAD;
        self.map.remove(&key);
        self.free.push(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn lru_eviction_by_bytes() {
        let c = NearCache::new(3 * (1 + 36 + OVERHEAD), true);
        for k in ["a", "b", "c"] {
            c.insert(k, v(36), u64::MAX, c.seq());
        }
        assert!(c.get("a", 0).is_some()); // a is now most recent
        c.insert("d", v(36), u64::MAX, c.seq());
        assert!(c.get("b", 0).is_none(), "b was least recent");
        assert!(c.get("a", 0).is_some() && c.get("c", 0).is_some() && c.get("d", 0).is_some());
        assert_eq!(c.used_bytes(), 3 * (1 + 36 + OVERHEAD));
        c.insert("big", v(10_000), u64::MAX, c.seq());
        assert!(c.get("big", 0).is_none(), "larger than the capacity");
    }

    #[test]
    fn deadlines_invalidation_race_and_coherence() {
        let c = NearCache::new(10_000, true);
        c.insert("k", v(1), 100, c.seq());
        assert!(c.get("k", 99).is_some());
        assert!(c.get("k", 100).is_none());
        let seq = c.seq();
        c.invalidate("other");
        c.insert("k", v(1), 1000, seq);
        assert!(
            c.get("k", 0).is_none(),
            "insert after an invalidation is refused"
        );
        c.insert("k", v(1), 1000, c.seq());
        c.set_coherent(false);
        assert!(c.get("k", 0).is_none());
        c.set_coherent(true);
        assert!(c.is_empty(), "flushed on reconnect");
    }
}

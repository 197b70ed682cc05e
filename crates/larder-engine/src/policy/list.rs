//! The shared machinery of the exact policies: a slab of nodes, a map from
//! key to slot, and doubly linked lists threaded through the slab by index.
//!
//! A node is 24 bytes (key, size, prev/next slot numbers, a list tag and two
//! small per-policy fields); the map costs about 16 bytes per key plus its
//! load-factor slack. Freed slots are chained through `next` and reused, so
//! after warm-up a policy allocates nothing. Every list operation is O(1).
//! Ghost entries (keys remembered after eviction, as in ARC or S3-FIFO) live in
//! the same slab with their own tag, so one lookup finds a key wherever it is.

use std::collections::HashMap;

/// "No slot": the end of a list.
pub const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub key: u64,
    pub size: u32,
    pub prev: u32,
    pub next: u32,
    /// Which list (or queue) the node is on; the meaning is the policy's.
    pub tag: u8,
    /// A small per-policy flag field (visited bit, reference bit...).
    pub bit: u8,
    /// A small per-policy counter.
    pub freq: u16,
}

type KeyMap = HashMap<u64, u32, foldhash::fast::FixedState>;

/// Nodes, indexed by slot, and the key → slot map.
pub struct Slab {
    nodes: Vec<Node>,
    free: u32,
    map: KeyMap,
}

impl Slab {
    /// A slab for caches of `n` entries: one spare slot, because a policy
    /// may insert its newcomer before evicting (without it the vector would
    /// double on the first eviction, which the server's tuner paid in
    /// `used_memory` halfway through a run).
    pub fn with_capacity(n: usize) -> Slab {
        Slab {
            nodes: Vec::with_capacity(n + 1),
            free: NIL,
            map: KeyMap::with_capacity_and_hasher(
                n + 1,
                foldhash::fast::FixedState::with_seed(0x1a2d),
            ),
        }
    }

    /// The slot of `key`, if it has one.
    pub fn find(&self, key: u64) -> Option<u32> {
        self.map.get(&key).copied()
    }

    /// A new, unlinked node for `key` (which must not have one).
    pub fn alloc(&mut self, key: u64, size: u32, tag: u8) -> u32 {
        let node = Node {
            key,
            size,
            prev: NIL,
            next: NIL,
            tag,
            bit: 0,
            freq: 0,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        self.map.insert(key, i);
        i
    }

    /// Forgets an unlinked node and its key.
    pub fn release(&mut self, i: u32) {
        let key = self.nodes[i as usize].key;
        self.map.remove(&key);
        self.nodes[i as usize].next = self.free;
        self.free = i;
    }

    pub fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    pub fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }
}

/// A doubly linked list of slab nodes: head = most recently pushed.
#[derive(Clone, Copy, Debug)]
pub struct List {
    pub head: u32,
    pub tail: u32,
    pub len: usize,
    /// Sum of the members' sizes.
    pub bytes: u64,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
            bytes: 0,
        }
    }
}

impl List {
    pub fn push_front(&mut self, s: &mut Slab, i: u32) {
        let old = self.head;
        {
            let n = s.node_mut(i);
            n.prev = NIL;
            n.next = old;
        }
        if old != NIL {
            s.node_mut(old).prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
        self.len += 1;
        self.bytes += u64::from(s.node(i).size);
    }

    pub fn unlink(&mut self, s: &mut Slab, i: u32) {
        let (prev, next, size) = {
            let n = s.node(i);
            (n.prev, n.next, n.size)
        };
        if prev != NIL {
            s.node_mut(prev).next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            s.node_mut(next).prev = prev;
        } else {
            self.tail = prev;
        }
        self.len -= 1;
        self.bytes -= u64::from(size);
    }

    pub fn move_to_front(&mut self, s: &mut Slab, i: u32) {
        if self.head != i {
            self.unlink(s, i);
            self.push_front(s, i);
        }
    }

    /// The oldest member.
    pub fn back(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    pub fn pop_back(&mut self, s: &mut Slab) -> Option<u32> {
        let i = self.back()?;
        self.unlink(s, i);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_link_and_reuse_slots() {
        let mut s = Slab::with_capacity(4);
        let mut l = List::default();
        for k in 0..4 {
            let i = s.alloc(k, 2, 0);
            l.push_front(&mut s, i);
        }
        assert_eq!((l.len, l.bytes), (4, 8));
        let i0 = s.find(0).unwrap();
        l.move_to_front(&mut s, i0);
        let back = l.pop_back(&mut s).unwrap();
        assert_eq!(s.node(back).key, 1);
        s.release(back);
        assert_eq!(s.find(1), None);
        assert_eq!(s.alloc(9, 1, 0), back);
        let order: Vec<u64> = std::iter::successors(Some(l.head), |&i| {
            let n = s.node(i).next;
            (n != NIL).then_some(n)
        })
        .map(|i| s.node(i).key)
        .collect();
        assert_eq!(order, vec![0, 3, 2]);
    }
}

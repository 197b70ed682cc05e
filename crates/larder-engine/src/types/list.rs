//! Lists: a deque of packed nodes, as Redis 7.0's quicklist.
//!
//! Every list is a `VecDeque` of [`Packed`] nodes (byte strings framed
//! back to back, see `pack.rs`) plus the total length. A node grows until
//! `list-max-listpack-size` says stop: a negative fill caps its bytes (-1 =
//! 4 KB, -2 = 8 KB (the default), ... -5 = 64 KB), a positive one its
//! entries (and 8 KB); an element that alone passes the cap gets a node of
//! its own. Pushing and popping at the ends touch one node, and move O(1)
//! bytes of it (amortized: nodes keep room at both ends, `gap.rs`, where
//! listpack moves the whole node on every push at the head); reaching index `i` walks the
//! node counts and then one node, so it costs O(nodes + node size). Inserts
//! or replacements that overfill a node split it in two; nodes left empty are
//! dropped. Redis 7.0 reports every list as `quicklist`, whatever its size.
//!
//! Memory: 2 bytes of framing per element up to 127 bytes, plus 24 bytes
//! per node of up to 8 KB (its slot, header and count), plus the room a node
//! keeps at its ends: at most a quarter of its bytes (4 KB) while it grows.

use std::collections::VecDeque;

use super::gap::GapBuf;
use super::pack::{framed_len, Packed};

/// A list node: packed entries with room at both ends.
type Node = Packed<GapBuf>;

/// Redis's quicklist byte caps for fill -1 ..= -5.
const LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// The node size cap that applies to a positive fill.
const SAFETY_LIMIT: usize = 8192;

#[derive(Clone, Debug, Default)]
pub struct List {
    inner: Box<Inner>,
}

#[derive(Clone, Debug, Default)]
struct Inner {
    nodes: VecDeque<Node>,
    len: usize,
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// Whether a node of `bytes` holding `count` entries is within `fill`.
fn fits(fill: i32, bytes: usize, count: usize) -> bool {
    if fill < 0 {
        let level = LEVELS[((-(fill as i64) - 1) as usize).min(LEVELS.len() - 1)];
        bytes <= level
    } else {
        bytes <= SAFETY_LIMIT && count <= fill as usize
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.inner.len
    }

    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Nodes in use (DEBUG-style introspection, tests).
    pub fn node_count(&self) -> usize {
        self.inner.nodes.len()
    }

    pub fn push(&mut self, end: End, item: &[u8], fill: i32) {
        let q = &mut *self.inner;
        let add = framed_len(item.len());
        let node = match end {
            End::Head => q.nodes.front_mut(),
            End::Tail => q.nodes.back_mut(),
        };
        match node {
            Some(n) if fits(fill, n.bytes() + add, n.count() + 1) => match end {
                End::Head => n.push_front(item),
                End::Tail => n.push_back(item),
            },
            _ => {
                let mut n = Node::new();
                n.push_back(item);
                match end {
                    End::Head => q.nodes.push_front(n),
                    End::Tail => q.nodes.push_back(n),
                }
            }
        }
        q.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        self.pop_with(end, <[u8]>::to_vec)
    }

    /// Pops an element, handing it to `f` before it is gone (no copy).
    pub fn pop_with<R>(&mut self, end: End, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let q = &mut *self.inner;
        let (v, empty) = {
            let n = match end {
                End::Head => q.nodes.front_mut()?,
                End::Tail => q.nodes.back_mut()?,
            };
            let pos = match end {
                End::Head => n.start(),
                End::Tail => n.last()?,
            };
            let v = f(n.get(pos).0);
            n.remove(pos, 1);
            (v, n.is_empty())
        };
        if empty {
            match end {
                End::Head => q.nodes.pop_front(),
                End::Tail => q.nodes.pop_back(),
            };
        }
        q.len -= 1;
        Some(v)
    }

    /// The element at a 0-based index from the head (negative: from the tail).
    pub fn index(&self, i: i64) -> Option<&[u8]> {
        let (n, pos) = self.locate(i)?;
        Some(self.inner.nodes[n].get(pos).0)
    }

    /// (node, byte offset) of index `i`.
    fn locate(&self, i: i64) -> Option<(usize, usize)> {
        let len = self.inner.len as i64;
        let i = if i < 0 { len + i } else { i };
        if i < 0 || i >= len {
            return None;
        }
        let mut i = i as usize;
        if i < self.inner.len / 2 {
            for (k, n) in self.inner.nodes.iter().enumerate() {
                if i < n.count() {
                    return Some((k, n.seek(i as isize)?));
                }
                i -= n.count();
            }
        } else {
            let mut back = self.inner.len - 1 - i;
            for (k, n) in self.inner.nodes.iter().enumerate().rev() {
                if back < n.count() {
                    return Some((k, n.seek(-(back as isize) - 1)?));
                }
                back -= n.count();
            }
        }
        None
    }

    /// LSET: false when the index is out of range.
    pub fn set(&mut self, i: i64, item: &[u8], fill: i32) -> bool {
        let Some((n, pos)) = self.locate(i) else {
            return false;
        };
        self.inner.nodes[n].replace(pos, item);
        self.split_if_over(n, fill);
        true
    }

    /// LINSERT: inserts next to the first element equal to `pivot`. False
    /// when there is no such element.
    pub fn insert(&mut self, pivot: &[u8], after: bool, item: &[u8], fill: i32) -> bool {
        let mut found = None;
        'outer: for (k, n) in self.inner.nodes.iter().enumerate() {
            let mut pos = n.start();
            while pos < n.end() {
                let (v, next) = n.get(pos);
                if v == pivot {
                    found = Some((k, if after { next } else { pos }));
                    break 'outer;
                }
                pos = next;
            }
        }
        let Some((k, pos)) = found else {
            return false;
        };
        self.inner.nodes[k].insert(pos, &[item]);
        self.inner.len += 1;
        self.split_if_over(k, fill);
        true
    }

    /// Splits node `k` in halves (repeatedly) while it is over the fill.
    fn split_if_over(&mut self, k: usize, fill: i32) {
        let n = &mut self.inner.nodes[k];
        if n.count() < 2 || fits(fill, n.bytes(), n.count()) {
            return;
        }
        let half = n.count() / 2;
        let Some(pos) = n.seek(half as isize) else {
            return;
        };
        let tail = n.split_off(pos, half);
        self.inner.nodes.insert(k + 1, tail);
        self.split_if_over(k + 1, fill);
        self.split_if_over(k, fill);
    }

    /// Visits elements `start..=end` (valid, normalised indexes) from the head.
    pub fn range(&self, start: usize, end: usize, mut visit: impl FnMut(&[u8])) {
        if start > end || end >= self.inner.len {
            return;
        }
        let Some((mut k, mut pos)) = self.locate(start as i64) else {
            return;
        };
        let mut left = end - start + 1;
        while left > 0 {
            let n = &self.inner.nodes[k];
            while pos < n.end() && left > 0 {
                let (v, next) = n.get(pos);
                visit(v);
                pos = next;
                left -= 1;
            }
            k += 1;
            if k == self.inner.nodes.len() {
                break;
            }
            pos = self.inner.nodes[k].start();
        }
    }

    /// Every element from the head, with its index.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.inner.nodes.iter().flat_map(|n| n.iter())
    }

    /// Every element from the tail.
    pub fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.inner.nodes.iter().rev().flat_map(|n| {
            let mut pos = n.end();
            std::iter::from_fn(move || {
                pos = n.prev(pos)?;
                Some(n.get(pos).0)
            })
        })
    }

    /// LREM: removes up to `limit` elements equal to `item` (0 = all),
    /// scanning from `from`. Returns how many were removed.
    pub fn remove(&mut self, item: &[u8], limit: usize, from: End) -> usize {
        let mut removed = 0;
        let q = &mut *self.inner;
        let order: Vec<usize> = match from {
            End::Head => (0..q.nodes.len()).collect(),
            End::Tail => (0..q.nodes.len()).rev().collect(),
        };
        for k in order {
            if limit != 0 && removed == limit {
                break;
            }
            let n = &mut q.nodes[k];
            // Offsets of matches in this node, in scan order.
            let mut hits = Vec::new();
            let mut pos = n.start();
            while pos < n.end() {
                let (v, next) = n.get(pos);
                if v == item {
                    hits.push(pos);
                }
                pos = next;
            }
            if from == End::Tail {
                hits.reverse();
            }
            if limit != 0 {
                hits.truncate(limit - removed);
            }
            // Remove from the highest offset down so offsets stay valid.
            hits.sort_unstable_by(|a, b| b.cmp(a));
            for &p in &hits {
                n.remove(p, 1);
            }
            removed += hits.len();
        }
        q.len -= removed;
        q.nodes.retain(|n| !n.is_empty());
        removed
    }

    /// LTRIM: keeps elements `start..=end` (normalised; `start > end` empties).
    pub fn trim(&mut self, start: usize, end: usize) {
        let len = self.inner.len;
        if start > end || start >= len {
            self.inner.nodes.clear();
            self.inner.len = 0;
            return;
        }
        let end = end.min(len - 1);
        self.remove_range(end + 1, len - end - 1);
        self.remove_range(0, start);
    }

    /// Removes `count` elements starting at index `start`.
    pub fn remove_range(&mut self, start: usize, count: usize) {
        let q = &mut *self.inner;
        let mut skip = start;
        let mut left = count;
        let mut k = 0;
        while left > 0 && k < q.nodes.len() {
            let n = &mut q.nodes[k];
            let c = n.count();
            if skip >= c {
                skip -= c;
                k += 1;
                continue;
            }
            let take = (c - skip).min(left);
            if skip == 0 && take == c {
                q.nodes.remove(k);
            } else {
                if let Some(pos) = n.seek(skip as isize) {
                    n.remove(pos, take);
                }
                k += 1;
            }
            q.len -= take;
            left -= take;
            skip = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn nodes_fill_to_the_cap() {
        let mut l = List::new();
        for i in 0..10_000 {
            l.push(End::Tail, format!("{i:08}").as_bytes(), -2);
        }
        assert_eq!(l.len(), 10_000);
        // 10 bytes an entry: 8 KB nodes hold ~800.
        assert!(
            l.node_count() >= 12 && l.node_count() <= 14,
            "{}",
            l.node_count()
        );
        assert_eq!(l.index(5000), Some(&b"00005000"[..]));
        assert_eq!(l.index(-1), Some(&b"00009999"[..]));
        let mut l = List::new();
        for _ in 0..10 {
            l.push(End::Head, b"x", 3);
        }
        assert_eq!(l.node_count(), 4);
        let back: Vec<Vec<u8>> = l.iter_rev().map(|v| v.to_vec()).collect();
        assert_eq!(back.len(), 10);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..9, 0u8..6, any::<i16>(), any::<i16>()), 0..120), fill in prop_oneof![Just(-1i32), Just(2), Just(5)]) {
            let mut l = List::new();
            let mut m: Vec<Vec<u8>> = Vec::new();
            for (op, v, a, b) in ops {
                let item = vec![b'a' + v; 1 + (v as usize * 300) % 900];
                match op {
                    0 => { l.push(End::Tail, &item, fill); m.push(item); }
                    1 => { l.push(End::Head, &item, fill); m.insert(0, item); }
                    2 => { prop_assert_eq!(l.pop(End::Head), (!m.is_empty()).then(|| m.remove(0))); }
                    3 => { prop_assert_eq!(l.pop(End::Tail), m.pop()); }
                    4 => {
                        let i = a as i64;
                        let ok = l.set(i, &item, fill);
                        let len = m.len() as i64;
                        let j = if i < 0 { len + i } else { i };
                        prop_assert_eq!(ok, j >= 0 && j < len);
                        if ok { m[j as usize] = item; }
                    }
                    5 => {
                        let ok = l.insert(&item, a % 2 == 0, b"new", fill);
                        match m.iter().position(|x| *x == item) {
                            Some(p) => { prop_assert!(ok); m.insert(if a % 2 == 0 { p + 1 } else { p }, b"new".to_vec()); }
                            None => prop_assert!(!ok),
                        }
                    }
                    6 => {
                        let limit = (a.unsigned_abs() % 3) as usize;
                        let from = if b % 2 == 0 { End::Head } else { End::Tail };
                        let n = l.remove(&item, limit, from);
                        let mut idx: Vec<usize> = m.iter().enumerate().filter(|(_, x)| **x == item).map(|(i, _)| i).collect();
                        if from == End::Tail { idx.reverse(); }
                        if limit != 0 { idx.truncate(limit); }
                        idx.sort_unstable_by(|a, b| b.cmp(a));
                        for i in &idx { m.remove(*i); }
                        prop_assert_eq!(n, idx.len());
                    }
                    7 => {
                        let (s, e) = ((a.unsigned_abs() % 50) as usize, (b.unsigned_abs() % 50) as usize);
                        l.trim(s, e);
                        if s > e || s >= m.len() { m.clear(); } else { let e = e.min(m.len() - 1); m = m[s..=e].to_vec(); }
                    }
                    _ => {
                        let (s, e) = ((a.unsigned_abs() % 50) as usize, (b.unsigned_abs() % 50) as usize);
                        let mut got = Vec::new();
                        l.range(s, e, |v| got.push(v.to_vec()));
                        let want: Vec<Vec<u8>> = if s > e || e >= m.len() { vec![] } else { m[s..=e].to_vec() };
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(l.len(), m.len());
                prop_assert_eq!(&items(&l), &m);
                let back: Vec<Vec<u8>> = l.iter_rev().map(|v| v.to_vec()).collect();
                let mut mr = m.clone(); mr.reverse();
                prop_assert_eq!(back, mr);
            }
        }
    }
}

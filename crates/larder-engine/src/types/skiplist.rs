//! Redis's zskiplist, ported: the ordered half of a large sorted set.
//!
//! Nodes are ordered by (score, member), members compared bytewise. Each
//! node is one allocation holding its score, its backward pointer, its
//! levels (forward pointer + span, the number of level-0 steps the forward
//! link jumps, which is what makes rank queries O(log n)) and the member
//! bytes themselves, so the member needs no allocation of its own:
//!
//! ```text
//!   score f64 | backward *Node | mlen u32 | height u32 | [forward, span] × height | member
//! ```
//!
//! A node of height 1 with a 12-byte member takes 52 bytes (jemalloc's 56
//! class); heights are random with p = 1/4 (1.33 levels on average), at
//! most 32. The algorithms are Redis's (`zslInsert`, `zslDeleteNode`,
//! `zslUpdateScore`, `zslGetRank`, `zslGetElementByRank`), with range
//! searches expressed as monotone predicates so that score and lex ranges
//! share one walk. The list owns its nodes; the sorted set's dict
//! (`dict.rs`, keyed by [`NodeKey`]) points at the same nodes to find a
//! member's score in O(1).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cmp::Ordering;
use std::mem::size_of;
use std::ptr::{self, NonNull};

use super::dict::KeyOf;

const MAX_LEVEL: usize = 32;

#[repr(C)]
struct Node {
    score: f64,
    backward: *mut Node,
    mlen: u32,
    height: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Level {
    forward: *mut Node,
    span: usize,
}

fn layout(height: usize, mlen: usize) -> Layout {
    let size = size_of::<Node>() + height * size_of::<Level>() + mlen;
    Layout::from_size_align(size, 8).expect("skiplist node layout")
}

/// # Safety
/// `n` must be a live node.
unsafe fn lv(n: *mut Node, i: usize) -> *mut Level {
    (n as *mut u8).add(size_of::<Node>()).cast::<Level>().add(i)
}

/// # Safety
/// `n` must be a live node (not the header).
unsafe fn member<'a>(n: *const Node) -> &'a [u8] {
    let h = (*n).height as usize;
    let p = (n as *const u8).add(size_of::<Node>() + h * size_of::<Level>());
    std::slice::from_raw_parts(p, (*n).mlen as usize)
}

fn new_node(height: usize, score: f64, m: &[u8]) -> *mut Node {
    let l = layout(height, m.len());
    // SAFETY: the layout is non-empty; every field is written below.
    unsafe {
        let n = alloc(l).cast::<Node>();
        if n.is_null() {
            handle_alloc_error(l);
        }
        ptr::write(
            n,
            Node {
                score,
                backward: ptr::null_mut(),
                mlen: m.len() as u32,
                height: height as u32,
            },
        );
        for i in 0..height {
            ptr::write(
                lv(n, i),
                Level {
                    forward: ptr::null_mut(),
                    span: 0,
                },
            );
        }
        let dst = (n as *mut u8).add(size_of::<Node>() + height * size_of::<Level>());
        ptr::copy_nonoverlapping(m.as_ptr(), dst, m.len());
        n
    }
}

/// # Safety
/// `n` must come from `new_node` and be unlinked.
unsafe fn free_node(n: *mut Node) {
    let l = layout((*n).height as usize, (*n).mlen as usize);
    dealloc(n.cast::<u8>(), l);
}

fn random_level() -> usize {
    let mut level = 1;
    let mut r = crate::rng::next();
    // Two random bits per level: continue with probability 1/4.
    while level < MAX_LEVEL && r & 3 == 0 {
        level += 1;
        r >>= 2;
        if r == 0 {
            r = crate::rng::next();
        }
    }
    level
}

/// (score, member) order.
fn cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

/// A handle to a node, as stored in the sorted set's dict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeRef(NonNull<u8>);

impl NodeRef {
    pub fn raw(self) -> NonNull<u8> {
        self.0
    }

    /// # Safety
    /// `p` must point at a live node.
    pub unsafe fn from_raw(p: NonNull<u8>) -> NodeRef {
        NodeRef(p)
    }

    fn node(self) -> *mut Node {
        self.0.as_ptr().cast::<Node>()
    }

    /// # Safety
    /// The node must be live for `'a`.
    pub unsafe fn score(self) -> f64 {
        (*self.node()).score
    }

    /// # Safety
    /// The node must be live for `'a`.
    pub unsafe fn member<'a>(self) -> &'a [u8] {
        member(self.node())
    }
}

/// Dict keys of sorted-set nodes: the member.
pub struct NodeKey;
impl KeyOf for NodeKey {
    unsafe fn key<'a>(p: NonNull<u8>) -> &'a [u8] {
        member(p.as_ptr().cast::<Node>())
    }
}

pub struct SkipList {
    header: *mut Node,
    tail: *mut Node,
    len: usize,
    level: usize,
}

// SAFETY: the list owns its nodes exclusively; it moves between threads
// only as a whole (inside its sorted set, under the shard lock).
unsafe impl Send for SkipList {}
unsafe impl Sync for SkipList {}

impl Default for SkipList {
    fn default() -> Self {
        SkipList {
            header: new_node(MAX_LEVEL, 0.0, &[]),
            tail: ptr::null_mut(),
            len: 0,
            level: 1,
        }
    }
}

impl Drop for SkipList {
    fn drop(&mut self) {
        // SAFETY: level 0 links every node exactly once; the header is ours.
        unsafe {
            let mut x = (*lv(self.header, 0)).forward;
            while !x.is_null() {
                let next = (*lv(x, 0)).forward;
                free_node(x);
                x = next;
            }
            free_node(self.header);
        }
    }
}

impl SkipList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The nodes before the position of (score, m), per level, with their
    /// ranks (Redis's `update[]` / `rank[]`).
    fn path(&self, score: f64, m: &[u8]) -> ([*mut Node; MAX_LEVEL], [usize; MAX_LEVEL]) {
        let mut update = [ptr::null_mut(); MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = self.header;
        // SAFETY: every pointer followed is a live node of this list.
        unsafe {
            for i in (0..self.level).rev() {
                rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
                loop {
                    let f = (*lv(x, i)).forward;
                    if f.is_null() || cmp((*f).score, member(f), score, m) != Ordering::Less {
                        break;
                    }
                    rank[i] += (*lv(x, i)).span;
                    x = f;
                }
                update[i] = x;
            }
        }
        (update, rank)
    }

    /// Links `x` (unlinked, any height) at its (score, member) position.
    fn link(&mut self, x: *mut Node) {
        // SAFETY: `x` is a live unlinked node; the path nodes are live.
        unsafe {
            let (mut update, mut rank) = self.path((*x).score, member(x));
            let height = (*x).height as usize;
            if height > self.level {
                for i in self.level..height {
                    rank[i] = 0;
                    update[i] = self.header;
                    (*lv(self.header, i)).span = self.len;
                }
                self.level = height;
            }
            for i in 0..height {
                let u = lv(update[i], i);
                (*lv(x, i)).forward = (*u).forward;
                (*u).forward = x;
                (*lv(x, i)).span = (*u).span - (rank[0] - rank[i]);
                (*u).span = (rank[0] - rank[i]) + 1;
            }
            for (i, u) in update.iter().enumerate().take(self.level).skip(height) {
                (*lv(*u, i)).span += 1;
            }
            (*x).backward = if update[0] == self.header {
                ptr::null_mut()
            } else {
                update[0]
            };
            let f = (*lv(x, 0)).forward;
            if f.is_null() {
                self.tail = x;
            } else {
                (*f).backward = x;
            }
            self.len += 1;
        }
    }

    /// Unlinks `x` given its path (Redis's `zslDeleteNode`); does not free.
    fn unlink(&mut self, x: *mut Node, update: &[*mut Node; MAX_LEVEL]) {
        // SAFETY: `x` is linked; `update` is its path.
        unsafe {
            for (i, u) in update.iter().enumerate().take(self.level) {
                let l = lv(*u, i);
                if (*l).forward == x {
                    (*l).span += (*lv(x, i)).span;
                    (*l).span -= 1;
                    (*l).forward = (*lv(x, i)).forward;
                } else {
                    (*l).span -= 1;
                }
            }
            let f = (*lv(x, 0)).forward;
            if f.is_null() {
                self.tail = (*x).backward;
            } else {
                (*f).backward = (*x).backward;
            }
            while self.level > 1 && (*lv(self.header, self.level - 1)).forward.is_null() {
                self.level -= 1;
            }
            self.len -= 1;
        }
    }

    /// Inserts a member known to be absent.
    pub fn insert(&mut self, score: f64, m: &[u8]) -> NodeRef {
        let x = new_node(random_level(), score, m);
        self.link(x);
        // SAFETY: `x` is non-null (allocated above).
        NodeRef(unsafe { NonNull::new_unchecked(x.cast::<u8>()) })
    }

    /// The linked node of (score, m) and its path, if present.
    fn find(&self, score: f64, m: &[u8]) -> Option<(*mut Node, [*mut Node; MAX_LEVEL])> {
        let (update, _) = self.path(score, m);
        // SAFETY: update[0] is a live node (or the header).
        unsafe {
            let x = (*lv(update[0], 0)).forward;
            (!x.is_null() && (*x).score == score && member(x) == m).then_some((x, update))
        }
    }

    /// Removes and frees (score, m). False if absent.
    pub fn delete(&mut self, score: f64, m: &[u8]) -> bool {
        match self.find(score, m) {
            Some((x, update)) => {
                self.unlink(x, &update);
                // SAFETY: unlinked just now; nothing else owns it.
                unsafe { free_node(x) };
                true
            }
            None => false,
        }
    }

    /// Changes the score of (cur, m), moving the node if its position
    /// changes (Redis's `zslUpdateScore`). The node keeps its address, so
    /// the dict's pointer stays valid.
    pub fn update_score(&mut self, cur: f64, m: &[u8], new: f64) {
        let Some((x, update)) = self.find(cur, m) else {
            return;
        };
        // SAFETY: `x` is linked; its neighbours are live or null.
        unsafe {
            let b = (*x).backward;
            let f = (*lv(x, 0)).forward;
            if (b.is_null() || (*b).score < new) && (f.is_null() || (*f).score > new) {
                (*x).score = new;
                return;
            }
            self.unlink(x, &update);
            (*x).score = new;
            for i in 0..(*x).height as usize {
                *lv(x, i) = Level {
                    forward: ptr::null_mut(),
                    span: 0,
                };
            }
            (*x).backward = ptr::null_mut();
        }
        self.link(x);
    }

    /// 1-based rank of (score, m); 0 if absent (Redis's `zslGetRank`).
    pub fn rank(&self, score: f64, m: &[u8]) -> usize {
        let mut x = self.header;
        let mut rank = 0;
        // SAFETY: every pointer followed is a live node of this list.
        unsafe {
            for i in (0..self.level).rev() {
                loop {
                    let f = (*lv(x, i)).forward;
                    if f.is_null() || cmp((*f).score, member(f), score, m) == Ordering::Greater {
                        break;
                    }
                    rank += (*lv(x, i)).span;
                    x = f;
                }
                if x != self.header && (*x).score == score && member(x) == m {
                    return rank;
                }
            }
        }
        0
    }

    /// The node at 1-based `rank`.
    pub fn by_rank(&self, rank: usize) -> Option<NodeRef> {
        let mut x = self.header;
        let mut traversed = 0;
        // SAFETY: as above.
        unsafe {
            for i in (0..self.level).rev() {
                loop {
                    let f = (*lv(x, i)).forward;
                    if f.is_null() || traversed + (*lv(x, i)).span > rank {
                        break;
                    }
                    traversed += (*lv(x, i)).span;
                    x = f;
                }
                if traversed == rank && x != self.header {
                    return Some(NodeRef(NonNull::new_unchecked(x.cast::<u8>())));
                }
            }
        }
        None
    }

    /// 1-based rank of the first node for which `before` is false (`before`
    /// must hold for a prefix of the list), or None.
    pub fn first_not(&self, before: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let mut x = self.header;
        let mut rank = 0;
        // SAFETY: as above.
        unsafe {
            for i in (0..self.level).rev() {
                loop {
                    let f = (*lv(x, i)).forward;
                    if f.is_null() || !before((*f).score, member(f)) {
                        break;
                    }
                    rank += (*lv(x, i)).span;
                    x = f;
                }
            }
        }
        (rank < self.len).then_some(rank + 1)
    }

    /// 1-based rank of the last node for which `within` holds (`within` must
    /// hold for a prefix of the list), or None.
    pub fn last_where(&self, within: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let mut x = self.header;
        let mut rank = 0;
        // SAFETY: as above.
        unsafe {
            for i in (0..self.level).rev() {
                loop {
                    let f = (*lv(x, i)).forward;
                    if f.is_null() || !within((*f).score, member(f)) {
                        break;
                    }
                    rank += (*lv(x, i)).span;
                    x = f;
                }
            }
        }
        (rank > 0).then_some(rank)
    }

    /// Visits nodes from 1-based rank `from`, forward or backward, while
    /// `visit` returns true.
    pub fn walk(&self, from: usize, rev: bool, mut visit: impl FnMut(NodeRef) -> bool) {
        let Some(start) = self.by_rank(from) else {
            return;
        };
        let mut x = start.node();
        // SAFETY: level-0 and backward links lead to live nodes or null.
        unsafe {
            while !x.is_null() {
                if !visit(NodeRef(NonNull::new_unchecked(x.cast::<u8>()))) {
                    return;
                }
                x = if rev {
                    (*x).backward
                } else {
                    (*lv(x, 0)).forward
                };
            }
        }
    }

    /// Deletes the nodes of 1-based ranks `start..=end`, calling `gone` for
    /// each before it is freed (Redis's `zslDeleteRangeByRank`).
    pub fn delete_rank_range(&mut self, start: usize, end: usize, mut gone: impl FnMut(NodeRef)) {
        let mut update = [ptr::null_mut(); MAX_LEVEL];
        let mut x = self.header;
        let mut traversed = 0;
        // SAFETY: as above; each deleted node is unlinked before it is freed.
        unsafe {
            for i in (0..self.level).rev() {
                loop {
                    let f = (*lv(x, i)).forward;
                    if f.is_null() || traversed + (*lv(x, i)).span >= start {
                        break;
                    }
                    traversed += (*lv(x, i)).span;
                    x = f;
                }
                update[i] = x;
            }
            traversed += 1;
            x = (*lv(x, 0)).forward;
            while !x.is_null() && traversed <= end {
                let next = (*lv(x, 0)).forward;
                self.unlink(x, &update);
                gone(NodeRef(NonNull::new_unchecked(x.cast::<u8>())));
                free_node(x);
                traversed += 1;
                x = next;
            }
        }
    }

    /// Every node in order.
    pub fn iter(&self) -> impl Iterator<Item = NodeRef> + '_ {
        // SAFETY: the header's level 0 is live.
        let mut x = unsafe { (*lv(self.header, 0)).forward };
        std::iter::from_fn(move || {
            let n = NonNull::new(x.cast::<u8>())?;
            // SAFETY: `x` is a live node.
            x = unsafe { (*lv(x, 0)).forward };
            Some(NodeRef(n))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(l: &SkipList, model: &[(f64, Vec<u8>)]) {
        let got: Vec<(f64, Vec<u8>)> = l
            .iter()
            .map(|n| unsafe { (n.score(), n.member().to_vec()) })
            .collect();
        assert_eq!(got, model);
        for (i, (s, m)) in model.iter().enumerate() {
            assert_eq!(l.rank(*s, m), i + 1);
            let n = l.by_rank(i + 1).unwrap();
            assert_eq!(unsafe { n.member() }, &m[..]);
        }
        assert!(l.by_rank(model.len() + 1).is_none());
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..4, 0u8..30, -5i8..5, -5i8..5), 0..200)) {
            let mut l = SkipList::default();
            let mut m: Vec<(f64, Vec<u8>)> = Vec::new();
            let sort = |m: &mut Vec<(f64, Vec<u8>)>| m.sort_by(|a, b| cmp(a.0, &a.1, b.0, &b.1));
            for (op, k, s, t) in ops {
                let key = format!("m{k}").into_bytes();
                let pos = m.iter().position(|(_, x)| *x == key);
                match (op, pos) {
                    (0, None) => { l.insert(s as f64, &key); m.push((s as f64, key)); sort(&mut m); }
                    (1, Some(p)) => { prop_assert!(l.delete(m[p].0, &key)); m.remove(p); }
                    (2, Some(p)) => { l.update_score(m[p].0, &key, t as f64); m[p].0 = t as f64; sort(&mut m); }
                    (3, _) if !m.is_empty() => {
                        let a = (s.unsigned_abs() as usize) % m.len();
                        let b = (a + t.unsigned_abs() as usize).min(m.len() - 1);
                        let mut gone = Vec::new();
                        l.delete_rank_range(a + 1, b + 1, |n| gone.push(unsafe { n.member().to_vec() }));
                        let removed: Vec<Vec<u8>> = m.drain(a..=b).map(|x| x.1).collect();
                        prop_assert_eq!(gone, removed);
                    }
                    _ => {}
                }
                prop_assert_eq!(l.len(), m.len());
                check(&l, &m);
                let lim = s as f64;
                let first = l.first_not(|sc, _| sc < lim);
                let want = m.iter().position(|x| x.0 >= lim).map(|p| p + 1);
                prop_assert_eq!(first, want);
                let last = l.last_where(|sc, _| sc <= lim);
                let want = m.iter().rposition(|x| x.0 <= lim).map(|p| p + 1);
                prop_assert_eq!(last, want);
            }
        }
    }
}

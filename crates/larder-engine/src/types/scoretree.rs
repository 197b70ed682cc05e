//! The ordered half of a large sorted set: a counted B+tree of member
//! records, ordered by (score, member), members compared bytewise.
//!
//! Each member lives in one allocation of its own, its *record*, whose
//! address never changes while the member is in the set (the sorted set's
//! dict, `dict.rs` keyed by [`MemberKey`], points at it to find a score in
//! O(1)):
//!
//! ```text
//!   record:  score f64 | mlen u32 | member bytes            (12 + mlen bytes)
//!            (a member of 4 GB or more: mlen = u32::MAX, then its u64 length)
//!   leaf:    len | prev | next | score × 62 | record × 62    (1016 bytes)
//!   inner:   len | max score × 31 | max record × 31 | count × 31 | child × 31
//!                                                           (1000 bytes)
//! ```
//!
//! Leaves keep each entry's score inline, so a search compares scores in
//! one contiguous array and dereferences a record only on an equal score
//! (the member tie-break). An inner node keeps, per child, the child's
//! exact maximum entry (its separator) and its entry count, which makes
//! rank and select O(log n). Leaves are linked both ways for range walks.
//! A node is searched by counting the scores below the key over the whole
//! array (no branches, the lines load in parallel), then by member among
//! equal scores; an existing member, whose record the caller has from the
//! dict, is told apart from equal scores by address, without reading them.
//!
//! Costs. A search touches the inner nodes (a 100,000-member set has about
//! a hundred, ~100 KB, which stay in cache) and one leaf, against a
//! skiplist's ~25 pointer hops to random nodes. Inserting or deleting moves
//! up to a leaf's worth of 16-byte entries. Memory per member: the record
//! (32 bytes for `element:123456`, jemalloc's class) plus 16 bytes of leaf
//! entry at the fill factor. Leaves split in half (random inserts fill them
//! to ~70%, ~23 bytes a member), except that an insert past the end of the
//! last leaf or before the start of the first leaves the full leaf full,
//! so sets built in order (RDB load, `*STORE`, copies) come out ~100% full
//! (~16.5 bytes a member). Deletion borrows from or merges with a sibling
//! when a node falls below half full (the first and last leaves may hold
//! fewer, as the in-order splits leave them), so memory stays bounded; an
//! empty tree holds no allocation.
//!
//! Sizes, measured: 62 entries in a 1 KB leaf and 31 children in a 1 KB
//! inner node fill jemalloc's 1024-byte class. Against 30-entry (512 B)
//! and 126-entry (2 KB) leaves, random updates in a 100,000-member set ran
//! as fast or faster and 1,000,000-member ranks within noise; the bigger
//! leaf saved 1 byte a member and doubles the worst move. `update_score`
//! changes a score in place when the member stays between its neighbours
//! (Redis's `zslUpdateScore`), otherwise it moves the entry and keeps the
//! record.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::{self, addr_of, addr_of_mut, NonNull};

use super::dict::KeyOf;

// Small nodes under test reach deep trees with few members.
const LEAF_CAP: usize = if cfg!(test) { 4 } else { 62 };
const LEAF_MIN: usize = LEAF_CAP / 2;
const INNER_CAP: usize = if cfg!(test) { 4 } else { 31 };
const INNER_MIN: usize = INNER_CAP / 2;
/// Deeper than any tree: every inner node but the root has INNER_MIN
/// children or more.
const MAX_DEPTH: usize = if cfg!(test) { 48 } else { 16 };

/// Record header: score at 0, member length at 8, member from 12.
const REC_HEAD: usize = 12;
/// A member of 4 GB or more (3 bytes under test, so that both forms are
/// exercised): `LONG_MLEN` at 8, its length as a u64 at 12, the member
/// from 20.
const LONG_AT: usize = if cfg!(test) { 3 } else { u32::MAX as usize };
const LONG_MLEN: u32 = u32::MAX;
const LONG_REC_HEAD: usize = REC_HEAD + 8;

fn rec_head(mlen: usize) -> usize {
    if mlen < LONG_AT {
        REC_HEAD
    } else {
        LONG_REC_HEAD
    }
}

fn rec_layout(mlen: usize) -> Layout {
    Layout::from_size_align(rec_head(mlen) + mlen, 8).expect("member record layout")
}

fn new_rec(score: f64, m: &[u8]) -> *mut u8 {
    let l = rec_layout(m.len());
    let head = rec_head(m.len());
    // SAFETY: the layout is non-empty; every byte is written below.
    unsafe {
        let r = alloc(l);
        if r.is_null() {
            handle_alloc_error(l);
        }
        r.cast::<f64>().write(score);
        if head == REC_HEAD {
            r.add(8).cast::<u32>().write(m.len() as u32);
        } else {
            r.add(8).cast::<u32>().write(LONG_MLEN);
            r.add(REC_HEAD)
                .cast::<u64>()
                .write_unaligned(m.len() as u64);
        }
        ptr::copy_nonoverlapping(m.as_ptr(), r.add(head), m.len());
        live(1, 1);
        r
    }
}

/// # Safety
/// `r` must be a live record.
unsafe fn rec_score(r: *const u8) -> f64 {
    r.cast::<f64>().read()
}

/// # Safety
/// `r` must be a live record.
unsafe fn set_rec_score(r: *mut u8, s: f64) {
    r.cast::<f64>().write(s)
}

/// # Safety
/// `r` must be a live record that outlives `'a`.
unsafe fn rec_member<'a>(r: *const u8) -> &'a [u8] {
    match r.add(8).cast::<u32>().read() {
        LONG_MLEN => {
            let n = r.add(REC_HEAD).cast::<u64>().read_unaligned() as usize;
            std::slice::from_raw_parts(r.add(LONG_REC_HEAD), n)
        }
        n => std::slice::from_raw_parts(r.add(REC_HEAD), n as usize),
    }
}

/// # Safety
/// `r` must come from `new_rec` and be in no tree.
unsafe fn free_rec(r: *mut u8) {
    live(1, -1);
    dealloc(r, rec_layout(rec_member(r).len()));
}

// Live nodes ([0]) and records ([1]), counted per thread under test (leak
// checks).
#[cfg(test)]
thread_local! {
    static LIVE: std::cell::Cell<[isize; 2]> = const { std::cell::Cell::new([0; 2]) };
}

#[inline(always)]
fn live(_kind: usize, _delta: isize) {
    #[cfg(test)]
    LIVE.with(|c| {
        let mut v = c.get();
        v[_kind] += _delta;
        c.set(v);
    });
}

/// How many of the first `n` scores are below `score`: a branch-free count
/// over the whole array, whose lines load in parallel (a binary search
/// waits for each probe, and mispredicts half of its branches).
///
/// # Safety
/// `scores` holds `n` values.
#[inline(always)]
unsafe fn count_below(scores: *const f64, n: usize, score: f64) -> usize {
    let s = std::slice::from_raw_parts(scores, n);
    s.iter().map(|&x| usize::from(x < score)).sum()
}

/// The position of record `me`, of (score, m), among `n` sorted entries:
/// the first not below it. Records are read only among equal scores (a
/// binary search by member), and `me` itself is not read.
///
/// # Safety
/// `scores` and `recs` hold `n` entries of live records.
#[inline(always)]
unsafe fn position(
    scores: *const f64,
    recs: *const *mut u8,
    n: usize,
    score: f64,
    m: &[u8],
    me: *const u8,
) -> usize {
    let lo = count_below(scores, n, score);
    if lo == n || *scores.add(lo) != score {
        return lo;
    }
    let mut hi = lo + 1;
    while hi < n && *scores.add(hi) == score {
        hi += 1;
    }
    lo + lower_bound(hi - lo, |j| {
        let r = *recs.add(lo + j);
        r.cast_const() != me && rec_member(r) < m
    })
}

/// The first index in `0..n` for which `before` is false (`before` holds
/// for a prefix).
#[inline(always)]
fn lower_bound(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[repr(C)]
struct Leaf {
    len: usize,
    prev: *mut Leaf,
    next: *mut Leaf,
    scores: [f64; LEAF_CAP],
    recs: [*mut u8; LEAF_CAP],
}

#[repr(C)]
struct Inner {
    len: usize,
    /// Per child: its maximum entry (score and record), entry count, node.
    scores: [f64; INNER_CAP],
    recs: [*mut u8; INNER_CAP],
    counts: [usize; INNER_CAP],
    kids: [*mut u8; INNER_CAP],
}

fn new_leaf() -> *mut Leaf {
    live(0, 1);
    Box::into_raw(Box::new(Leaf {
        len: 0,
        prev: ptr::null_mut(),
        next: ptr::null_mut(),
        scores: [0.0; LEAF_CAP],
        recs: [ptr::null_mut(); LEAF_CAP],
    }))
}

fn new_inner() -> *mut Inner {
    live(0, 1);
    Box::into_raw(Box::new(Inner {
        len: 0,
        scores: [0.0; INNER_CAP],
        recs: [ptr::null_mut(); INNER_CAP],
        counts: [0; INNER_CAP],
        kids: [ptr::null_mut(); INNER_CAP],
    }))
}

/// # Safety
/// `l` must come from `new_leaf` and be in no tree.
unsafe fn free_leaf(l: *mut Leaf) {
    live(0, -1);
    drop(Box::from_raw(l));
}

/// # Safety
/// `n` must come from `new_inner` and be in no tree.
unsafe fn free_inner(n: *mut Inner) {
    live(0, -1);
    drop(Box::from_raw(n));
}

/// Moves `n` items from `src[s..]` (of `sl`) into `dst` at `d` (of `dl`),
/// closing the gap in `src` and opening one in `dst`.
///
/// # Safety
/// Distinct arrays with room for the result.
#[inline(always)]
unsafe fn transfer<T, const N: usize>(
    src: *mut [T; N],
    sl: usize,
    s: usize,
    dst: *mut [T; N],
    dl: usize,
    d: usize,
    n: usize,
) {
    let (src, dst) = (src.cast::<T>(), dst.cast::<T>());
    ptr::copy(dst.add(d), dst.add(d + n), dl - d);
    ptr::copy_nonoverlapping(src.add(s), dst.add(d), n);
    ptr::copy(src.add(s + n), src.add(s), sl - s - n);
}

/// `transfer` over each named array of two nodes, then their lengths.
macro_rules! transfer_fields {
    ($src:ident[$s:ident..+$n:ident] => $dst:ident[$d:ident]: $($field:ident),+) => {{
        let (sl, dl) = ((*$src).len, (*$dst).len);
        $(transfer(addr_of_mut!((*$src).$field), sl, $s, addr_of_mut!((*$dst).$field), dl, $d, $n);)+
        (*$src).len -= $n;
        (*$dst).len += $n;
    }};
}

/// # Safety
/// Live distinct leaves, `s + n <= src.len`, `d <= dst.len`, room in `dst`.
unsafe fn leaf_transfer(src: *mut Leaf, s: usize, n: usize, dst: *mut Leaf, d: usize) {
    transfer_fields!(src[s..+n] => dst[d]: scores, recs);
}

/// # Safety
/// As `leaf_transfer`, for inner nodes.
unsafe fn inner_transfer(src: *mut Inner, s: usize, n: usize, dst: *mut Inner, d: usize) {
    transfer_fields!(src[s..+n] => dst[d]: scores, recs, counts, kids);
}

/// # Safety
/// `l` live with room, `pos <= len`.
unsafe fn leaf_insert(l: *mut Leaf, pos: usize, score: f64, rec: *mut u8) {
    let n = (*l).len;
    let s = addr_of_mut!((*l).scores).cast::<f64>();
    let r = addr_of_mut!((*l).recs).cast::<*mut u8>();
    ptr::copy(s.add(pos), s.add(pos + 1), n - pos);
    ptr::copy(r.add(pos), r.add(pos + 1), n - pos);
    *s.add(pos) = score;
    *r.add(pos) = rec;
    (*l).len = n + 1;
}

/// # Safety
/// `l` live, `pos + d <= len`.
unsafe fn leaf_remove(l: *mut Leaf, pos: usize, d: usize) {
    let n = (*l).len;
    let s = addr_of_mut!((*l).scores).cast::<f64>();
    let r = addr_of_mut!((*l).recs).cast::<*mut u8>();
    ptr::copy(s.add(pos + d), s.add(pos), n - pos - d);
    ptr::copy(r.add(pos + d), r.add(pos), n - pos - d);
    (*l).len = n - d;
}

/// Entries under the first `i` children of `p`.
///
/// # Safety
/// `p` live, `i <= len`.
unsafe fn counts_before(p: *const Inner, i: usize) -> usize {
    (0..i).map(|j| (*p).counts[j]).sum()
}

/// A child as its parent records it.
struct Slot {
    node: *mut u8,
    count: usize,
    score: f64,
    rec: *mut u8,
}

/// # Safety
/// `p` live with room, `i <= len`.
unsafe fn inner_insert(p: *mut Inner, i: usize, c: Slot) {
    let n = (*p).len;
    let s = addr_of_mut!((*p).scores).cast::<f64>();
    let r = addr_of_mut!((*p).recs).cast::<*mut u8>();
    let k = addr_of_mut!((*p).counts).cast::<usize>();
    let ch = addr_of_mut!((*p).kids).cast::<*mut u8>();
    ptr::copy(s.add(i), s.add(i + 1), n - i);
    ptr::copy(r.add(i), r.add(i + 1), n - i);
    ptr::copy(k.add(i), k.add(i + 1), n - i);
    ptr::copy(ch.add(i), ch.add(i + 1), n - i);
    *s.add(i) = c.score;
    *r.add(i) = c.rec;
    *k.add(i) = c.count;
    *ch.add(i) = c.node;
    (*p).len = n + 1;
}

/// # Safety
/// `p` live, `i < len`.
unsafe fn inner_remove(p: *mut Inner, i: usize) {
    let n = (*p).len;
    let s = addr_of_mut!((*p).scores).cast::<f64>();
    let r = addr_of_mut!((*p).recs).cast::<*mut u8>();
    let k = addr_of_mut!((*p).counts).cast::<usize>();
    let ch = addr_of_mut!((*p).kids).cast::<*mut u8>();
    ptr::copy(s.add(i + 1), s.add(i), n - i - 1);
    ptr::copy(r.add(i + 1), r.add(i), n - i - 1);
    ptr::copy(k.add(i + 1), k.add(i), n - i - 1);
    ptr::copy(ch.add(i + 1), ch.add(i), n - i - 1);
    (*p).len = n - 1;
}

/// Children of a node (`leaf` says which kind `n` is).
///
/// # Safety
/// `n` live.
unsafe fn node_len(n: *mut u8, leaf: bool) -> usize {
    if leaf {
        (*n.cast::<Leaf>()).len
    } else {
        (*n.cast::<Inner>()).len
    }
}

/// A node's slot in its parent: entry count and maximum entry.
///
/// # Safety
/// `n` live and non-empty.
unsafe fn slot_of(n: *mut u8, leaf: bool) -> Slot {
    if leaf {
        let l = n.cast::<Leaf>();
        let last = (*l).len - 1;
        Slot {
            node: n,
            count: (*l).len,
            score: (*l).scores[last],
            rec: (*l).recs[last],
        }
    } else {
        let p = n.cast::<Inner>();
        let last = (*p).len - 1;
        Slot {
            node: n,
            count: counts_before(p, last + 1),
            score: (*p).scores[last],
            rec: (*p).recs[last],
        }
    }
}

/// Refreshes child `i`'s maximum in `p`.
///
/// # Safety
/// `p` live, `i < len`, the child non-empty.
#[inline(always)]
unsafe fn set_max(p: *mut Inner, i: usize, leaf: bool) {
    let c = (*p).kids[i];
    let (s, r) = if leaf {
        let l = c.cast::<Leaf>();
        let last = (*l).len - 1;
        ((*l).scores[last], (*l).recs[last])
    } else {
        let n = c.cast::<Inner>();
        let last = (*n).len - 1;
        ((*n).scores[last], (*n).recs[last])
    };
    (*p).scores[i] = s;
    (*p).recs[i] = r;
}

/// The inner nodes a search went through, root first, with the child
/// index taken in each.
struct Path {
    n: usize,
    at: [(*mut Inner, usize); MAX_DEPTH],
}

impl Path {
    fn new() -> Path {
        Path {
            n: 0,
            at: [(ptr::null_mut(), 0); MAX_DEPTH],
        }
    }

    fn push(&mut self, p: *mut Inner, i: usize) {
        self.at[self.n] = (p, i);
        self.n += 1;
    }
}

/// A handle to a member record, as stored in the sorted set's dict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemberRef(NonNull<u8>);

impl MemberRef {
    pub fn raw(self) -> NonNull<u8> {
        self.0
    }

    /// # Safety
    /// `p` must point at a live record.
    pub unsafe fn from_raw(p: NonNull<u8>) -> MemberRef {
        MemberRef(p)
    }

    fn from_rec(r: *mut u8) -> MemberRef {
        // SAFETY: records in a tree are non-null allocations.
        MemberRef(unsafe { NonNull::new_unchecked(r) })
    }

    /// # Safety
    /// The record must be live.
    pub unsafe fn score(self) -> f64 {
        rec_score(self.0.as_ptr())
    }

    /// # Safety
    /// The record must be live for `'a`.
    pub unsafe fn member<'a>(self) -> &'a [u8] {
        rec_member(self.0.as_ptr())
    }
}

/// Dict keys of sorted-set records: the member.
pub struct MemberKey;
impl KeyOf for MemberKey {
    unsafe fn key<'a>(p: NonNull<u8>) -> &'a [u8] {
        rec_member(p.as_ptr())
    }
}

pub struct ScoreTree {
    /// A leaf when `height` is 0, else an inner node; null when empty.
    root: *mut u8,
    height: usize,
    len: usize,
}

// SAFETY: the tree owns its nodes and records exclusively; it moves between
// threads only as a whole (inside its sorted set, under the shard lock).
unsafe impl Send for ScoreTree {}
unsafe impl Sync for ScoreTree {}

impl Default for ScoreTree {
    fn default() -> Self {
        ScoreTree {
            root: ptr::null_mut(),
            height: 0,
            len: 0,
        }
    }
}

/// # Safety
/// `n` must be a live subtree of `height` levels above its leaves.
unsafe fn free_subtree(n: *mut u8, height: usize) {
    if height == 0 {
        let l = n.cast::<Leaf>();
        for j in 0..(*l).len {
            free_rec((*l).recs[j]);
        }
        free_leaf(l);
    } else {
        let p = n.cast::<Inner>();
        for j in 0..(*p).len {
            free_subtree((*p).kids[j], height - 1);
        }
        free_inner(p);
    }
}

impl Drop for ScoreTree {
    fn drop(&mut self) {
        if !self.root.is_null() {
            // SAFETY: the root holds every node and record exactly once.
            unsafe { free_subtree(self.root, self.height) };
        }
    }
}

impl ScoreTree {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The leaf where record `r` is or would go, recording the path. The
    /// tree must not be empty.
    ///
    /// # Safety
    /// `r` and every node followed are live.
    unsafe fn descend(&self, r: *const u8, path: &mut Path) -> *mut Leaf {
        let (score, m) = (rec_score(r), rec_member(r));
        let mut n = self.root;
        for _ in 0..self.height {
            let p = n.cast::<Inner>();
            let len = (*p).len;
            let i = position(
                addr_of!((*p).scores).cast::<f64>(),
                addr_of!((*p).recs).cast::<*mut u8>(),
                len,
                score,
                m,
                r,
            )
            .min(len - 1);
            path.push(p, i);
            n = (*p).kids[i];
        }
        n.cast::<Leaf>()
    }

    /// The leaf and position of record `r`, if it is in the tree,
    /// recording the path. Within the leaf, equal scores are told apart by
    /// record address, without reading their members.
    ///
    /// # Safety
    /// `r` must be live.
    unsafe fn find(&self, r: MemberRef, path: &mut Path) -> Option<(*mut Leaf, usize)> {
        if self.root.is_null() {
            return None;
        }
        let r = r.0.as_ptr();
        let l = self.descend(r, path);
        let (len, score) = ((*l).len, rec_score(r));
        let mut pos = count_below(addr_of!((*l).scores).cast::<f64>(), len, score);
        while pos < len && (*l).scores[pos] == score {
            if (*l).recs[pos] == r {
                return Some((l, pos));
            }
            pos += 1;
        }
        None
    }

    /// The leaf and position of 0-based rank `r < len`, recording the path.
    ///
    /// # Safety
    /// As `descend`.
    unsafe fn seek_rank(&self, mut r: usize, path: &mut Path) -> (*mut Leaf, usize) {
        let mut n = self.root;
        for _ in 0..self.height {
            let p = n.cast::<Inner>();
            let mut i = 0;
            while i + 1 < (*p).len && r >= (*p).counts[i] {
                r -= (*p).counts[i];
                i += 1;
            }
            path.push(p, i);
            n = (*p).kids[i];
        }
        (n.cast::<Leaf>(), r)
    }

    /// Puts record `rec` (in no tree) at its (score, member) position.
    fn link(&mut self, rec: *mut u8) {
        // SAFETY: `rec` is live; every node touched is live or made here,
        // and each split node is recorded in its parent before going up.
        unsafe {
            let score = rec_score(rec);
            self.len += 1;
            if self.root.is_null() {
                let l = new_leaf();
                leaf_insert(l, 0, score, rec);
                self.root = l.cast::<u8>();
                self.height = 0;
                return;
            }
            let mut path = Path::new();
            let l = self.descend(rec, &mut path);
            let pos = position(
                addr_of!((*l).scores).cast::<f64>(),
                addr_of!((*l).recs).cast::<*mut u8>(),
                (*l).len,
                score,
                rec_member(rec),
                rec,
            );
            let mut split = if (*l).len < LEAF_CAP {
                leaf_insert(l, pos, score, rec);
                None
            } else {
                Some(split_leaf(l, pos, score, rec))
            };
            let mut child = l.cast::<u8>();
            for d in (0..path.n).rev() {
                let (p, i) = path.at[d];
                let leaf = d + 1 == self.height;
                match split.take() {
                    None => {
                        (*p).counts[i] += 1;
                        set_max(p, i, leaf);
                    }
                    Some(right) => {
                        (*p).counts[i] = slot_of(child, leaf).count;
                        set_max(p, i, leaf);
                        let s = slot_of(right, leaf);
                        if (*p).len < INNER_CAP {
                            inner_insert(p, i + 1, s);
                        } else {
                            split = Some(split_inner(p, i + 1, s));
                        }
                    }
                }
                child = p.cast::<u8>();
            }
            if let Some(right) = split {
                let leaf = self.height == 0;
                let r = new_inner();
                inner_insert(r, 0, slot_of(child, leaf));
                inner_insert(r, 1, slot_of(right, leaf));
                self.root = r.cast::<u8>();
                self.height += 1;
            }
        }
    }

    /// Removes the `d` entries of leaf `l` from `pos` (records not freed),
    /// then restores counts, maxima and fill from the leaf up to the root.
    ///
    /// # Safety
    /// `path` and (`l`, `pos`) come from a descent of the tree as it is.
    unsafe fn unlink(&mut self, path: &Path, l: *mut Leaf, pos: usize, d: usize) {
        leaf_remove(l, pos, d);
        self.len -= d;
        let mut child = l.cast::<u8>();
        for k in (0..path.n).rev() {
            let (p, i) = path.at[k];
            let leaf = k + 1 == self.height;
            (*p).counts[i] -= d;
            let n = node_len(child, leaf);
            if n > 0 {
                set_max(p, i, leaf);
            }
            if n < if leaf { LEAF_MIN } else { INNER_MIN } {
                rebalance(p, i, leaf);
            }
            child = p.cast::<u8>();
        }
        while self.height > 0 && (*self.root.cast::<Inner>()).len == 1 {
            let p = self.root.cast::<Inner>();
            self.root = (*p).kids[0];
            self.height -= 1;
            free_inner(p);
        }
        if self.height == 0 && (*self.root.cast::<Leaf>()).len == 0 {
            free_leaf(self.root.cast::<Leaf>());
            self.root = ptr::null_mut();
        }
    }

    /// Inserts a member known to be absent.
    pub fn insert(&mut self, score: f64, m: &[u8]) -> MemberRef {
        let rec = new_rec(score, m);
        self.link(rec);
        MemberRef::from_rec(rec)
    }

    /// Removes and frees record `r`. False if it is not in the tree.
    ///
    /// # Safety
    /// `r` must be live.
    pub unsafe fn delete(&mut self, r: MemberRef) -> bool {
        let mut path = Path::new();
        // SAFETY: `r` is live (the caller's promise).
        let Some((l, pos)) = (unsafe { self.find(r, &mut path) }) else {
            return false;
        };
        // SAFETY: found just now; the record is freed once out of the tree.
        unsafe {
            self.unlink(&path, l, pos, 1);
            free_rec(r.0.as_ptr());
        }
        true
    }

    /// Changes the score of record `r` (if in the tree): in place if it
    /// stays between its neighbours (Redis's `zslUpdateScore`), else by
    /// moving the entry. The record keeps its address, so the dict's
    /// pointer stays valid.
    ///
    /// # Safety
    /// `r` must be live.
    pub unsafe fn update_score(&mut self, r: MemberRef, new: f64) {
        let mut path = Path::new();
        // SAFETY: `r` is live (the caller's promise).
        let Some((l, pos)) = (unsafe { self.find(r, &mut path) }) else {
            return;
        };
        let rec = r.0.as_ptr();
        // SAFETY: found just now; neighbouring leaves are live or null.
        unsafe {
            let len = (*l).len;
            let after_prev = if pos > 0 {
                (*l).scores[pos - 1] < new
            } else {
                let p = (*l).prev;
                p.is_null() || (*p).scores[(*p).len - 1] < new
            };
            let before_next = if pos + 1 < len {
                (*l).scores[pos + 1] > new
            } else {
                let n = (*l).next;
                n.is_null() || (*n).scores[0] > new
            };
            set_rec_score(rec, new);
            if after_prev && before_next {
                (*l).scores[pos] = new;
                if pos + 1 == len {
                    for k in (0..path.n).rev() {
                        let (p, i) = path.at[k];
                        set_max(p, i, k + 1 == self.height);
                    }
                }
                return;
            }
            self.unlink(&path, l, pos, 1);
        }
        self.link(rec);
    }

    /// 1-based rank of record `r`; 0 if it is not in the tree.
    ///
    /// # Safety
    /// `r` must be live.
    pub unsafe fn rank(&self, r: MemberRef) -> usize {
        let mut path = Path::new();
        // SAFETY: `r` is live (the caller's promise).
        let Some((_, pos)) = (unsafe { self.find(r, &mut path) }) else {
            return 0;
        };
        let before: usize = path.at[..path.n]
            .iter()
            // SAFETY: the path's nodes are live.
            .map(|&(p, i)| unsafe { counts_before(p, i) })
            .sum();
        before + pos + 1
    }

    /// The record at 1-based `rank`.
    pub fn by_rank(&self, rank: usize) -> Option<MemberRef> {
        if rank == 0 || rank > self.len {
            return None;
        }
        // SAFETY: the rank is within the (non-empty) tree.
        unsafe {
            let (l, pos) = self.seek_rank(rank - 1, &mut Path::new());
            Some(MemberRef::from_rec((*l).recs[pos]))
        }
    }

    /// How many entries, from the first, `before` holds for (it must hold
    /// for a prefix).
    fn prefix(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        if self.root.is_null() {
            return 0;
        }
        let mut n = self.root;
        let mut skipped = 0;
        // SAFETY: every node and record followed is live.
        unsafe {
            for _ in 0..self.height {
                let p = n.cast::<Inner>();
                let len = (*p).len;
                let i = lower_bound(len, |j| before((*p).scores[j], rec_member((*p).recs[j])));
                skipped += counts_before(p, i);
                if i == len {
                    return skipped;
                }
                n = (*p).kids[i];
            }
            let l = n.cast::<Leaf>();
            skipped
                + lower_bound((*l).len, |j| {
                    before((*l).scores[j], rec_member((*l).recs[j]))
                })
        }
    }

    /// 1-based rank of the first entry for which `before` is false (`before`
    /// must hold for a prefix of the tree), or None.
    pub fn first_not(&self, before: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let p = self.prefix(before);
        (p < self.len).then_some(p + 1)
    }

    /// 1-based rank of the last entry for which `within` holds (`within`
    /// must hold for a prefix of the tree), or None.
    pub fn last_where(&self, within: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let p = self.prefix(within);
        (p > 0).then_some(p)
    }

    /// Visits records from 1-based rank `from`, forward or backward, while
    /// `visit` returns true.
    pub fn walk(&self, from: usize, rev: bool, mut visit: impl FnMut(MemberRef) -> bool) {
        if from == 0 || from > self.len {
            return;
        }
        // SAFETY: leaf links lead to live leaves or null; positions stay
        // within each leaf's length.
        unsafe {
            let (mut l, mut pos) = self.seek_rank(from - 1, &mut Path::new());
            loop {
                if !visit(MemberRef::from_rec((*l).recs[pos])) {
                    return;
                }
                if rev {
                    if pos == 0 {
                        l = (*l).prev;
                        if l.is_null() {
                            return;
                        }
                        pos = (*l).len;
                    }
                    pos -= 1;
                } else {
                    pos += 1;
                    if pos == (*l).len {
                        l = (*l).next;
                        if l.is_null() {
                            return;
                        }
                        pos = 0;
                    }
                }
            }
        }
    }

    /// Deletes the records of 1-based ranks `start..=end`, calling `gone`
    /// for each before it is freed: a leaf's run at a time.
    pub fn delete_rank_range(&mut self, start: usize, end: usize, mut gone: impl FnMut(MemberRef)) {
        let start = start.max(1);
        let end = end.min(self.len);
        let mut left = (end + 1).saturating_sub(start);
        while left > 0 {
            let mut path = Path::new();
            // SAFETY: `start <= len` while `left > 0`; each record leaves
            // the tree before it is freed, and unlink reads none of them.
            unsafe {
                let (l, pos) = self.seek_rank(start - 1, &mut path);
                let d = left.min((*l).len - pos);
                for j in pos..pos + d {
                    let r = (*l).recs[j];
                    gone(MemberRef::from_rec(r));
                    free_rec(r);
                }
                self.unlink(&path, l, pos, d);
                left -= d;
            }
        }
    }

    /// Every record in order.
    pub fn iter(&self) -> impl Iterator<Item = MemberRef> + '_ {
        let mut l: *mut Leaf = ptr::null_mut();
        if !self.root.is_null() {
            let mut n = self.root;
            // SAFETY: the first child of each inner node is live.
            unsafe {
                for _ in 0..self.height {
                    n = (*n.cast::<Inner>()).kids[0];
                }
            }
            l = n.cast::<Leaf>();
        }
        let mut pos = 0;
        std::iter::from_fn(move || {
            if l.is_null() {
                return None;
            }
            // SAFETY: `l` is a live leaf, `pos` within it (leaves in a
            // tree are non-empty).
            unsafe {
                let r = (*l).recs[pos];
                pos += 1;
                if pos == (*l).len {
                    l = (*l).next;
                    pos = 0;
                }
                Some(MemberRef::from_rec(r))
            }
        })
    }
}

/// Splits the full leaf `l` while inserting (score, rec) at `pos`; returns
/// the new right sibling. An insert past the end of the last leaf (or
/// before the start of the first) leaves the full half full.
///
/// # Safety
/// `l` is a live full leaf, `pos <= LEAF_CAP`.
unsafe fn split_leaf(l: *mut Leaf, pos: usize, score: f64, rec: *mut u8) -> *mut u8 {
    let keep = if pos == LEAF_CAP && (*l).next.is_null() {
        LEAF_CAP
    } else if pos == 0 && (*l).prev.is_null() {
        1
    } else {
        LEAF_CAP.div_ceil(2)
    };
    let r = new_leaf();
    (*r).prev = l;
    (*r).next = (*l).next;
    if !(*l).next.is_null() {
        (*(*l).next).prev = r;
    }
    (*l).next = r;
    if pos < keep {
        leaf_transfer(l, keep - 1, LEAF_CAP - keep + 1, r, 0);
        leaf_insert(l, pos, score, rec);
    } else {
        leaf_transfer(l, keep, LEAF_CAP - keep, r, 0);
        leaf_insert(r, pos - keep, score, rec);
    }
    r.cast::<u8>()
}

/// Splits the full inner node `p` while inserting `s` at `i`; returns the
/// new right sibling.
///
/// # Safety
/// `p` is a live full inner node, `i <= INNER_CAP`.
unsafe fn split_inner(p: *mut Inner, i: usize, s: Slot) -> *mut u8 {
    let keep = INNER_CAP.div_ceil(2);
    let r = new_inner();
    if i < keep {
        inner_transfer(p, keep - 1, INNER_CAP - keep + 1, r, 0);
        inner_insert(p, i, s);
    } else {
        inner_transfer(p, keep, INNER_CAP - keep, r, 0);
        inner_insert(r, i - keep, s);
    }
    r.cast::<u8>()
}

/// Child `i` of `p` is under its minimum: merges it with a sibling if both
/// fit in one node, else moves entries over so both have half.
///
/// # Safety
/// `p` is live with two children or more; every child but `i` non-empty.
unsafe fn rebalance(p: *mut Inner, i: usize, leaf: bool) {
    let (a, b) = if i > 0 { (i - 1, i) } else { (i, i + 1) };
    let (x, y) = ((*p).kids[a], (*p).kids[b]);
    let (xl, yl) = (node_len(x, leaf), node_len(y, leaf));
    let cap = if leaf { LEAF_CAP } else { INNER_CAP };
    let total = (*p).counts[a] + (*p).counts[b];
    if xl + yl <= cap {
        if leaf {
            let (x, y) = (x.cast::<Leaf>(), y.cast::<Leaf>());
            leaf_transfer(y, 0, yl, x, xl);
            (*x).next = (*y).next;
            if !(*y).next.is_null() {
                (*(*y).next).prev = x;
            }
            free_leaf(y);
        } else {
            let (x, y) = (x.cast::<Inner>(), y.cast::<Inner>());
            inner_transfer(y, 0, yl, x, xl);
            free_inner(y);
        }
        inner_remove(p, b);
        (*p).counts[a] = total;
        set_max(p, a, leaf);
        return;
    }
    let half = (xl + yl) / 2;
    if leaf {
        let (x, y) = (x.cast::<Leaf>(), y.cast::<Leaf>());
        if xl < half {
            leaf_transfer(y, 0, half - xl, x, xl);
        } else {
            leaf_transfer(x, half, xl - half, y, 0);
        }
    } else {
        let (x, y) = (x.cast::<Inner>(), y.cast::<Inner>());
        if xl < half {
            inner_transfer(y, 0, half - xl, x, xl);
        } else {
            inner_transfer(x, half, xl - half, y, 0);
        }
    }
    (*p).counts[a] = slot_of(x, leaf).count;
    (*p).counts[b] = total - (*p).counts[a];
    set_max(p, a, leaf);
    set_max(p, b, leaf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    type Model = Vec<(f64, Vec<u8>)>;

    fn cmp(a: &(f64, Vec<u8>), b: &(f64, Vec<u8>)) -> Ordering {
        a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1))
    }

    fn live_counts() -> [isize; 2] {
        LIVE.with(|c| c.get())
    }

    /// Checks a subtree; returns its count and maximum, collecting leaves.
    unsafe fn check_node(
        n: *mut u8,
        height: usize,
        root: bool,
        leaves: &mut Vec<*mut Leaf>,
    ) -> (usize, f64, *mut u8) {
        if height == 0 {
            let l = n.cast::<Leaf>();
            let len = (*l).len;
            assert!((1..=LEAF_CAP).contains(&len), "leaf len {len}");
            leaves.push(l);
            return (len, (*l).scores[len - 1], (*l).recs[len - 1]);
        }
        let p = n.cast::<Inner>();
        let len = (*p).len;
        let min = if root { 2 } else { INNER_MIN };
        assert!((min..=INNER_CAP).contains(&len), "inner len {len}");
        let mut total = 0;
        for j in 0..len {
            let (c, s, r) = check_node((*p).kids[j], height - 1, false, leaves);
            assert_eq!((*p).counts[j], c, "count");
            assert_eq!((*p).scores[j], s, "separator score");
            assert_eq!((*p).recs[j], r, "separator record");
            total += c;
        }
        (total, (*p).scores[len - 1], (*p).recs[len - 1])
    }

    /// Checks every invariant; returns the number of leaves.
    fn check_tree(t: &ScoreTree) -> usize {
        if t.root.is_null() {
            assert_eq!((t.len, t.height), (0, 0));
            return 0;
        }
        let mut leaves = Vec::new();
        // SAFETY: the tree is live.
        unsafe {
            let (c, _, _) = check_node(t.root, t.height, true, &mut leaves);
            assert_eq!(c, t.len);
            for (k, &l) in leaves.iter().enumerate() {
                let prev = if k > 0 {
                    leaves[k - 1]
                } else {
                    ptr::null_mut()
                };
                let next = leaves.get(k + 1).copied().unwrap_or(ptr::null_mut());
                assert_eq!(((*l).prev, (*l).next), (prev, next), "leaf links");
                let edge = k == 0 || k + 1 == leaves.len();
                assert!(edge || (*l).len >= LEAF_MIN, "leaf under half full");
                for j in 0..(*l).len {
                    assert_eq!((*l).scores[j], rec_score((*l).recs[j]), "inline score");
                }
            }
        }
        let all: Model = t
            .iter()
            .map(|r| unsafe { (r.score(), r.member().to_vec()) })
            .collect();
        assert!(all.windows(2).all(|w| cmp(&w[0], &w[1]) == Ordering::Less));
        leaves.len()
    }

    fn check(t: &ScoreTree, model: &Model) {
        check_tree(t);
        assert_eq!(t.len(), model.len());
        let got: Model = t
            .iter()
            .map(|r| unsafe { (r.score(), r.member().to_vec()) })
            .collect();
        assert_eq!(&got, model);
        for (i, r) in t.iter().enumerate() {
            assert_eq!(unsafe { t.rank(r) }, i + 1);
            assert_eq!(t.by_rank(i + 1), Some(r));
        }
        assert!(t.by_rank(0).is_none());
        assert!(t.by_rank(model.len() + 1).is_none());
        // A record of another tree, equal to one of this one, is not in it.
        if let Some((s, m)) = model.first() {
            let mut other = ScoreTree::default();
            let r = other.insert(*s, m);
            assert_eq!(unsafe { t.rank(r) }, 0);
        }
    }

    fn rec_of(t: &ScoreTree, key: &[u8]) -> MemberRef {
        t.iter().find(|r| unsafe { r.member() } == key).unwrap()
    }

    fn walked(t: &ScoreTree, from: usize, rev: bool, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        t.walk(from, rev, |r| {
            out.push(unsafe { r.member().to_vec() });
            out.len() < n
        });
        out
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..6, 0u8..80, -6i8..6, -6i8..6), 0..400)) {
            let mut t = ScoreTree::default();
            let mut m: Model = Vec::new();
            for (op, k, s, u) in ops {
                let key = format!("m{k}").into_bytes();
                let pos = m.iter().position(|(_, x)| *x == key);
                match (op, pos) {
                    (0 | 1, None) => {
                        t.insert(s as f64, &key);
                        m.push((s as f64, key));
                        m.sort_by(cmp);
                    }
                    (2, Some(p)) => {
                        let gone = unsafe { t.delete(rec_of(&t, &key)) };
                        prop_assert!(gone);
                        m.remove(p);
                    }
                    (2, None) => {
                        let mut other = ScoreTree::default();
                        let r = other.insert(s as f64, &key);
                        let gone = unsafe { t.delete(r) };
                        prop_assert!(!gone);
                    }
                    (3, Some(p)) => {
                        unsafe { t.update_score(rec_of(&t, &key), u as f64) };
                        m[p].0 = u as f64;
                        m.sort_by(cmp);
                    }
                    (4, _) if !m.is_empty() && k % 4 == 0 => {
                        let a = (s.unsigned_abs() as usize * 7) % m.len();
                        let b = a + u.unsigned_abs() as usize * k as usize / 8;
                        let mut gone = Vec::new();
                        t.delete_rank_range(a + 1, b + 1, |r| gone.push(unsafe { r.member().to_vec() }));
                        let removed: Vec<Vec<u8>> =
                            m.drain(a..=b.min(m.len() - 1)).map(|x| x.1).collect();
                        prop_assert_eq!(gone, removed);
                    }
                    (5, _) if !m.is_empty() => {
                        let from = (k as usize) % m.len() + 1;
                        let n = u.unsigned_abs() as usize * 3 + 1;
                        let fwd: Vec<Vec<u8>> =
                            m[from - 1..].iter().take(n).map(|x| x.1.clone()).collect();
                        prop_assert_eq!(walked(&t, from, false, n), fwd);
                        let back: Vec<Vec<u8>> =
                            m[..from].iter().rev().take(n).map(|x| x.1.clone()).collect();
                        prop_assert_eq!(walked(&t, from, true, n), back);
                    }
                    _ => {}
                }
                check(&t, &m);
                let lim = s as f64;
                let want = m.iter().position(|x| x.0 >= lim).map(|p| p + 1);
                prop_assert_eq!(t.first_not(|sc, _| sc < lim), want);
                let want = m.iter().rposition(|x| x.0 <= lim).map(|p| p + 1);
                prop_assert_eq!(t.last_where(|sc, _| sc <= lim), want);
                let key = format!("m{k}").into_bytes();
                let want = m.iter().position(|x| cmp(x, &(lim, key.clone())) != Ordering::Less);
                prop_assert_eq!(t.first_not(|sc, x| cmp(&(sc, x.to_vec()), &(lim, key.clone())) == Ordering::Less), want.map(|p| p + 1));
            }
            drop(t);
            prop_assert_eq!(live_counts(), [0, 0]);
        }
    }

    /// Thousands of random operations: trees several levels deep.
    #[test]
    fn deep_random() {
        let mut rng = 0x2545f4914f6cdd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut t = ScoreTree::default();
        let mut m: Model = Vec::new();
        for step in 0..6000 {
            let key = format!("k{}", next(700)).into_bytes();
            let s = next(50) as f64;
            let pos = m.iter().position(|(_, x)| *x == key);
            match (next(10), pos) {
                (0..=5, None) => {
                    t.insert(s, &key);
                    m.push((s, key));
                    m.sort_by(cmp);
                }
                (0..=3, Some(p)) => {
                    unsafe { t.update_score(rec_of(&t, &key), s) };
                    m[p].0 = s;
                    m.sort_by(cmp);
                }
                (4..=8, Some(p)) => {
                    assert!(unsafe { t.delete(rec_of(&t, &key)) });
                    m.remove(p);
                }
                (9, _) if !m.is_empty() && step % 7 == 0 => {
                    let a = next(m.len() as u64) as usize;
                    let b = (a + next(40) as usize).min(m.len() - 1);
                    let mut n = 0;
                    t.delete_rank_range(a + 1, b + 1, |_| n += 1);
                    m.drain(a..=b);
                    assert_eq!(n, b - a + 1);
                }
                _ => {}
            }
            check_tree(&t);
            assert_eq!(t.len(), m.len());
            if step % 50 == 0 {
                check(&t, &m);
            }
        }
        check(&t, &m);
        assert!(t.height >= 3, "height {}", t.height);
    }

    /// In-order builds fill leaves; deleting everything frees everything.
    #[test]
    fn in_order_builds_and_deleting_all() {
        for rev in [false, true] {
            let mut t = ScoreTree::default();
            let n: usize = 2000;
            for i in 0..n {
                let i = if rev { n - 1 - i } else { i };
                t.insert(i as f64, format!("e{i}").as_bytes());
                check_tree(&t);
            }
            // Full leaves but the last (or first).
            assert_eq!(check_tree(&t), n.div_ceil(LEAF_CAP));
            let mut rng = 7u64;
            while !t.is_empty() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (rng >> 33) as usize % t.len() + 1;
                let x = t.by_rank(r).unwrap();
                assert!(unsafe { t.delete(x) });
                check_tree(&t);
            }
            assert!(t.root.is_null());
            assert_eq!(live_counts(), [0, 0]);
        }
        let mut t = ScoreTree::default();
        for i in 0..500 {
            t.insert((i % 13) as f64, format!("e{i}").as_bytes());
        }
        t.delete_rank_range(1, 500, |_| {});
        assert!(t.root.is_null());
        assert_eq!(live_counts(), [0, 0]);
    }
}

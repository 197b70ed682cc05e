//! Sorted sets: a packed run of (member, score) pairs in (score, member)
//! order while small (Redis's `listpack` encoding), a B+tree plus a
//! member → record dict once large (Redis calls that encoding `skiplist`,
//! and so does OBJECT ENCODING here).
//!
//! Small: members and 8-byte little-endian scores alternate in one
//! [`Packed`] buffer; every operation is a linear walk (n ≤
//! `zset-max-listpack-entries`, 128 by default). Large: a [`ScoreTree`]
//! ordering member records (score and member bytes in one allocation each)
//! and a [`Dict`] of the same records keyed by member, so a score lookup is
//! O(1) and a rank or range query O(log n). A set converts when an
//! insertion would pass `zset-max-listpack-entries` or add a member longer
//! than `zset-max-listpack-value` (Redis's `zsetAdd`), never back; results
//! built by the *STORE commands take the encoding their size calls for
//! ([`ZSet::from_sorted`], Redis's `zsetConvertToListpackIfNeeded`).
//!
//! Positions in this API are 0-based ranks in ascending order; range
//! queries take monotone predicates (`first_not`, `last_where`) so that
//! score and lex ranges share one implementation per encoding.

use std::cmp::Ordering;

use super::dict::Dict;
use super::pack::{frame, Packed};
use super::scoretree::{MemberKey, MemberRef, ScoreTree};
use crate::config::Limits;

#[derive(Debug)]
pub enum ZSet {
    Pack(Packed),
    Tree(Box<TreeSet>),
}

/// The large encoding: ordered member records plus their index by member.
#[derive(Default)]
pub struct TreeSet {
    tree: ScoreTree,
    dict: Dict<MemberKey>,
}

impl std::fmt::Debug for TreeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TreeSet({} members)", self.tree.len())
    }
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Packed::new())
    }
}

/// ZADD's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What `ZSet::add` did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddResult {
    /// Nothing (NX on an existing member, XX on a new one, GT/LT refused).
    Nop,
    Added(f64),
    Updated(f64),
    /// The member kept its score (which is the result).
    Same(f64),
}

/// The score a ZADD / ZINCRBY would produce is NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotANumber;

/// The bytes a packed set stores for a score. Redis's listpack keeps an
/// integral score (within ±2^62) as an integer, which drops the sign of
/// `-0`: so does this.
fn packed_score(s: f64) -> [u8; 8] {
    let s = if s == 0.0 { 0.0 } else { s };
    s.to_le_bytes()
}

/// Whether a listpack would hold `s` as an integer (Redis's `double2ll`):
/// ZSCAN prints such scores without an exponent.
pub fn is_packed_integer(s: f64) -> bool {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    (-LIMIT..=LIMIT).contains(&s) && s == (s as i64) as f64
}

fn score_at(p: &Packed, pos: usize) -> f64 {
    let b = p.get(pos).0;
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    f64::from_le_bytes(a)
}

/// (score, member) order, members bytewise.
fn cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// Walks a packed sorted set: (member offset, member, score) in order.
fn pack_iter(p: &Packed) -> impl Iterator<Item = (usize, &[u8], f64)> + '_ {
    let mut pos = p.start();
    std::iter::from_fn(move || {
        if pos >= p.end() {
            return None;
        }
        let (m, next) = p.get(pos);
        let at = pos;
        let s = score_at(p, next);
        pos = p.get(next).1;
        Some((at, m, s))
    })
}

fn pack_find(p: &Packed, m: &[u8]) -> Option<(usize, f64)> {
    pack_iter(p)
        .find(|(_, x, _)| *x == m)
        .map(|(at, _, s)| (at, s))
}

fn pack_insert(p: &mut Packed, m: &[u8], s: f64) {
    let at = pack_iter(p)
        .find(|(_, x, xs)| cmp(*xs, x, s, m) == Ordering::Greater)
        .map_or(p.end(), |(at, _, _)| at);
    p.insert(at, &[m, &packed_score(s)]);
}

impl TreeSet {
    fn insert(&mut self, m: &[u8], s: f64) {
        let r = self.tree.insert(s, m);
        self.dict.insert_new(r.raw());
    }

    fn record(&self, m: &[u8]) -> Option<MemberRef> {
        // SAFETY: the dict holds pointers to live records of `tree`.
        self.dict.get(m).map(|p| unsafe { MemberRef::from_raw(p) })
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// A set holding `items`, which are sorted by (score, member) with no
    /// repeated member, in the encoding their count and longest member call
    /// for.
    pub fn from_sorted(items: &[(Vec<u8>, f64)], lim: &Limits) -> ZSet {
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if items.len() <= lim.zset_max_listpack_entries && longest <= lim.zset_max_listpack_value {
            let mut f = Vec::new();
            for (m, s) in items {
                frame(&mut f, m);
                frame(&mut f, &packed_score(*s));
            }
            return ZSet::Pack(Packed::from_framed(items.len() * 2, &f));
        }
        let mut s = TreeSet {
            tree: ScoreTree::default(),
            dict: Dict::with_capacity(items.len()),
        };
        for (m, sc) in items {
            s.insert(m, *sc);
        }
        ZSet::Tree(Box::new(s))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Tree(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.count() / 2,
            ZSet::Tree(s) => s.tree.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => pack_find(p, m).map(|(_, s)| s),
            // SAFETY: the record is live while `self` is borrowed.
            ZSet::Tree(s) => s.record(m).map(|r| unsafe { r.score() }),
        }
    }

    fn convert(&mut self) {
        if let ZSet::Pack(p) = self {
            let mut s = TreeSet {
                tree: ScoreTree::default(),
                dict: Dict::with_capacity(p.count() / 2),
            };
            for (_, m, sc) in pack_iter(p) {
                s.insert(m, sc);
            }
            *self = ZSet::Tree(Box::new(s));
        }
    }

    /// Redis's `zsetAdd`: adds `m` or changes its score under `f`.
    pub fn add(
        &mut self,
        m: &[u8],
        score: f64,
        f: AddFlags,
        lim: &Limits,
    ) -> Result<AddResult, NotANumber> {
        if score.is_nan() {
            return Err(NotANumber);
        }
        let found = match self {
            ZSet::Pack(p) => pack_find(p, m).map(|(_, s)| (s, None)),
            // SAFETY: the record is live while `self` is borrowed.
            ZSet::Tree(s) => s.record(m).map(|r| (unsafe { r.score() }, Some(r))),
        };
        let Some((cur, rec)) = found else {
            if f.xx {
                return Ok(AddResult::Nop);
            }
            if let ZSet::Pack(p) = self {
                if p.count() / 2 + 1 > lim.zset_max_listpack_entries
                    || m.len() > lim.zset_max_listpack_value
                {
                    self.convert();
                }
            }
            match self {
                ZSet::Pack(p) => pack_insert(p, m, score),
                ZSet::Tree(s) => s.insert(m, score),
            }
            return Ok(AddResult::Added(score));
        };
        if f.nx {
            return Ok(AddResult::Nop);
        }
        let new = if f.incr { score + cur } else { score };
        if new.is_nan() {
            return Err(NotANumber);
        }
        if (f.lt && new >= cur) || (f.gt && new <= cur) {
            return Ok(AddResult::Nop);
        }
        if new == cur {
            return Ok(AddResult::Same(new));
        }
        match self {
            ZSet::Pack(p) => {
                if let Some((at, _)) = pack_find(p, m) {
                    p.remove(at, 2);
                }
                pack_insert(p, m, new);
            }
            ZSet::Tree(s) => {
                if let Some(r) = rec {
                    // SAFETY: the dict's record, live until removed.
                    unsafe { s.tree.update_score(r, new) };
                }
            }
        }
        Ok(AddResult::Updated(new))
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            ZSet::Pack(p) => match pack_find(p, m) {
                Some((at, _)) => {
                    p.remove(at, 2);
                    true
                }
                None => false,
            },
            ZSet::Tree(s) => {
                let Some(i) = s.dict.find(m) else {
                    return false;
                };
                // SAFETY: the dict's pointers are live records.
                let r = unsafe { MemberRef::from_raw(s.dict.ptr_at(i)) };
                s.dict.remove_at(i);
                // SAFETY: as above; the tree frees it.
                unsafe { s.tree.delete(r) };
                s.dict.maybe_shrink();
                true
            }
        }
    }

    /// 0-based rank of `m` in ascending order.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match self {
            ZSet::Pack(p) => pack_iter(p).position(|(_, x, _)| x == m),
            ZSet::Tree(s) => {
                let r = s.record(m)?;
                // SAFETY: the dict's record is live while `self` is borrowed.
                unsafe { s.tree.rank(r) }.checked_sub(1)
            }
        }
    }

    /// 0-based rank of the first element for which `before(score, member)`
    /// is false; `before` must hold for a prefix of the set.
    pub fn first_not(&self, before: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        match self {
            ZSet::Pack(p) => pack_iter(p).position(|(_, m, s)| !before(s, m)),
            ZSet::Tree(s) => s.tree.first_not(before).map(|r| r - 1),
        }
    }

    /// 0-based rank of the last element for which `within(score, member)`
    /// holds; `within` must hold for a prefix of the set.
    pub fn last_where(&self, within: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        match self {
            ZSet::Pack(p) => {
                let n = pack_iter(p).take_while(|(_, m, s)| within(*s, m)).count();
                n.checked_sub(1)
            }
            ZSet::Tree(s) => s.tree.last_where(within).map(|r| r - 1),
        }
    }

    /// Visits the elements of ranks `from..=to` (valid, `from <= to`),
    /// ascending, or descending from `to` when `rev`.
    pub fn range(&self, from: usize, to: usize, rev: bool, mut visit: impl FnMut(&[u8], f64)) {
        let n = to - from + 1;
        match self {
            ZSet::Pack(p) => {
                if rev {
                    let mut pos = p.seek(2 * to as isize + 1);
                    for _ in 0..n {
                        let Some(spos) = pos else { break };
                        let Some(mpos) = p.prev(spos) else { break };
                        visit(p.get(mpos).0, score_at(p, spos));
                        pos = p.prev(mpos);
                    }
                } else {
                    pack_iter(p)
                        .skip(from)
                        .take(n)
                        .for_each(|(_, m, s)| visit(m, s));
                }
            }
            ZSet::Tree(s) => {
                let start = if rev { to } else { from } + 1;
                let mut left = n;
                s.tree.walk(start, rev, |r| {
                    // SAFETY: records are live while `self` is borrowed.
                    unsafe { visit(r.member(), r.score()) };
                    left -= 1;
                    left > 0
                });
            }
        }
    }

    /// Removes the elements of ranks `from..=to` (valid); returns how many.
    pub fn remove_range(&mut self, from: usize, to: usize) -> usize {
        let n = to - from + 1;
        match self {
            ZSet::Pack(p) => {
                if let Some(pos) = p.seek(2 * from as isize) {
                    p.remove(pos, 2 * n);
                }
            }
            ZSet::Tree(s) => {
                let dict = &mut s.dict;
                s.tree.delete_rank_range(from + 1, to + 1, |r| {
                    // SAFETY: the record is live until after this callback.
                    if let Some(i) = dict.find(unsafe { r.member() }) {
                        dict.remove_at(i);
                    }
                });
                dict.maybe_shrink();
            }
        }
        n
    }

    /// Removes and returns the lowest (or highest) element.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let i = if max { self.len().checked_sub(1)? } else { 0 };
        let mut out = None;
        self.range(i, i, false, |m, s| out = Some((m.to_vec(), s)));
        self.remove_range(i, i);
        out
    }

    /// Every element, ascending.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Pack(p) => Box::new(pack_iter(p).map(|(_, m, s)| (m, s))),
            // SAFETY: records are live while `self` is borrowed.
            ZSet::Tree(s) => Box::new(s.tree.iter().map(|n| unsafe { (n.member(), n.score()) })),
        }
    }

    /// A random element.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let r = crate::rng::next();
        match self {
            ZSet::Pack(p) => {
                let pos = p.seek(2 * (r % n as u64) as isize)?;
                let (m, next) = p.get(pos);
                Some((m, score_at(p, next)))
            }
            ZSet::Tree(s) => {
                // SAFETY: the dict's pointers are live records.
                let rec = unsafe { MemberRef::from_raw(s.dict.random(r)?) };
                // SAFETY: as above.
                Some(unsafe { (rec.member(), rec.score()) })
            }
        }
    }

    /// ZSCAN: a packed set is returned whole with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Pack(_) => {
                self.iter().for_each(|(m, s)| visit(m, s));
                0
            }
            ZSet::Tree(s) => s.dict.scan(cursor, count, |p| {
                // SAFETY: the dict's pointers are live records.
                let n = unsafe { MemberRef::from_raw(p) };
                // SAFETY: as above.
                unsafe { visit(n.member(), n.score()) }
            }),
        }
    }
}

impl Clone for ZSet {
    fn clone(&self) -> Self {
        match self {
            ZSet::Pack(p) => ZSet::Pack(p.clone()),
            ZSet::Tree(s) => {
                let mut c = TreeSet {
                    tree: ScoreTree::default(),
                    dict: Dict::with_capacity(s.tree.len()),
                };
                for n in s.tree.iter() {
                    // SAFETY: records are live while `s` is borrowed.
                    unsafe { c.insert(n.member(), n.score()) };
                }
                ZSet::Tree(Box::new(c))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lim(entries: usize) -> Limits {
        Limits {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: 4,
            ..Limits::default()
        }
    }

    #[test]
    fn conversion_points() {
        let l = lim(2);
        let mut z = ZSet::new();
        let f = AddFlags::default();
        assert_eq!(z.add(b"a", 1.0, f, &l), Ok(AddResult::Added(1.0)));
        z.add(b"b", 2.0, f, &l).unwrap();
        assert_eq!(z.encoding(), "listpack");
        z.add(b"b", 3.0, f, &l).unwrap();
        assert_eq!(z.encoding(), "listpack");
        z.add(b"c", 0.0, f, &l).unwrap();
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new();
        z.add(b"abcde", 0.0, f, &l).unwrap();
        assert_eq!(z.encoding(), "skiplist");
        let incr = AddFlags { incr: true, ..f };
        z.add(b"abcde", f64::INFINITY, incr, &l).unwrap();
        assert_eq!(
            z.add(b"abcde", f64::NEG_INFINITY, incr, &l),
            Err(NotANumber)
        );
    }

    proptest! {
        #[test]
        fn both_encodings_agree(ops in proptest::collection::vec((0u8..5, 0u8..40, -4i8..4), 0..200)) {
            let small = lim(1000);
            let big = lim(0);
            let mut a = ZSet::new();
            let mut b = ZSet::new();
            b.add(b"x", 0.0, AddFlags::default(), &big).unwrap();
            b.remove(b"x");
            for (op, k, s) in ops {
                let m = format!("m{k}").into_bytes();
                let f = AddFlags { gt: op == 1, incr: op == 2, ..AddFlags::default() };
                match op {
                    0..=2 => prop_assert_eq!(a.add(&m, s as f64, f, &small), b.add(&m, s as f64, f, &big)),
                    3 => prop_assert_eq!(a.remove(&m), b.remove(&m)),
                    _ => {
                        let n = a.len();
                        if n > 0 {
                            let from = (k as usize) % n;
                            let to = (from + s.unsigned_abs() as usize).min(n - 1);
                            prop_assert_eq!(a.remove_range(from, to), b.remove_range(from, to));
                        }
                    }
                }
                prop_assert_eq!(a.encoding(), "listpack");
                prop_assert_eq!(b.encoding(), "skiplist");
                let ia: Vec<(Vec<u8>, f64)> = a.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                let ib: Vec<(Vec<u8>, f64)> = b.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                prop_assert_eq!(&ia, &ib);
                for (i, (m, sc)) in ia.iter().enumerate() {
                    prop_assert_eq!(a.rank(m), Some(i));
                    prop_assert_eq!(b.rank(m), Some(i));
                    prop_assert_eq!(b.score(m), Some(*sc));
                }
                if !ia.is_empty() {
                    let n = ia.len();
                    for rev in [false, true] {
                        let mut ra = Vec::new();
                        let mut rb = Vec::new();
                        a.range(n / 3, n - 1, rev, |m, s| ra.push((m.to_vec(), s)));
                        b.range(n / 3, n - 1, rev, |m, s| rb.push((m.to_vec(), s)));
                        prop_assert_eq!(&ra, &rb);
                        prop_assert_eq!(ra.len(), n - n / 3);
                    }
                    let lim0 = s as f64;
                    prop_assert_eq!(a.first_not(|x, _| x < lim0), b.first_not(|x, _| x < lim0));
                    prop_assert_eq!(a.last_where(|x, _| x <= lim0), b.last_where(|x, _| x <= lim0));
                }
            }
            let c = b.clone();
            prop_assert_eq!(c.len(), b.len());
            let built = ZSet::from_sorted(&a.iter().map(|(m, s)| (m.to_vec(), s)).collect::<Vec<_>>(), &small);
            prop_assert_eq!(built.len(), a.len());
        }
    }
}

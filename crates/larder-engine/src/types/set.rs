//! Sets: an [`IntSet`] while every member is an integer and there are at
//! most `set-max-intset-entries` of them, a [`BlobDict`] of members
//! otherwise — Redis 7.0's `intset` and `hashtable` encodings (7.0 has no
//! listpack sets). A set converts to `hashtable` when a non-integer member
//! is added or when it grows past the limit, never back; only SPOP with a
//! large count builds a fresh set, as Redis does (see `Set::new_for`).
//!
//! "Integer" means what Redis's `string2ll` accepts (canonical decimal,
//! no leading zeros or `+`), so `01` is a string member.

use super::dict::{Blob, BlobDict, MemberKey};
use super::intset::IntSet;
use crate::config::Limits;
use crate::entry::parse_canonical_i64;

#[derive(Clone, Debug)]
pub enum Set {
    Ints(IntSet),
    Table(Box<BlobDict<MemberKey>>),
}

impl Set {
    /// An empty set of the encoding Redis's `setTypeCreate` picks for a set
    /// whose first member is `first`.
    pub fn new_for(first: &[u8]) -> Set {
        match parse_canonical_i64(first) {
            Some(_) => Set::Ints(IntSet::new()),
            None => Set::Table(Box::default()),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_canonical_i64(m).is_some_and(|v| s.contains(v)),
            Set::Table(t) => t.contains(m),
        }
    }

    fn convert(&mut self, extra: usize) {
        if let Set::Ints(s) = self {
            let mut t = BlobDict::with_capacity(s.len() + extra);
            let mut buf = itoa::Buffer::new();
            for v in s.iter() {
                t.insert_new(Blob::new(&[buf.format(v).as_bytes()]));
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Adds `m`; true when it is new.
    pub fn add(&mut self, m: &[u8], lim: &Limits) -> bool {
        match self {
            Set::Ints(s) => match parse_canonical_i64(m) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() > lim.set_max_intset_entries {
                        self.convert(0);
                    }
                    true
                }
                None => {
                    self.convert(1);
                    self.add(m, lim)
                }
            },
            Set::Table(t) => {
                if t.contains(m) {
                    return false;
                }
                t.insert_new(Blob::new(&[m]));
                true
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_canonical_i64(m).is_some_and(|v| s.remove(v)),
            Set::Table(t) => t.remove(m),
        }
    }

    /// Visits every member (ascending while an intset).
    pub fn for_each(&self, mut visit: impl FnMut(&[u8])) {
        match self {
            Set::Ints(s) => {
                let mut buf = itoa::Buffer::new();
                for v in s.iter() {
                    visit(buf.format(v).as_bytes());
                }
            }
            Set::Table(t) => t.iter().for_each(visit),
        }
    }

    /// Every member, copied out.
    pub fn members(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(m.to_vec()));
        out
    }

    /// A random member, copied out.
    pub fn random(&self) -> Option<Vec<u8>> {
        match self {
            Set::Ints(s) => {
                if s.is_empty() {
                    return None;
                }
                let v = s.get((crate::rng::next() % s.len() as u64) as usize);
                Some(itoa::Buffer::new().format(v).as_bytes().to_vec())
            }
            Set::Table(t) => t.random().map(<[u8]>::to_vec),
        }
    }

    /// Removes and returns a random member.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        let m = self.random()?;
        self.remove(&m);
        Some(m)
    }

    /// SSCAN: an intset is returned whole with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Ints(_) => {
                self.for_each(visit);
                0
            }
            Set::Table(t) => t.scan(cursor, count, &mut visit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn conversion_points() {
        let l = Limits {
            set_max_intset_entries: 3,
            ..Limits::default()
        };
        let mut s = Set::new_for(b"1");
        for m in ["1", "2", "3", "3"] {
            s.add(m.as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"4", &l));
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::new_for(b"1");
        s.add(b"1", &l);
        s.add(b"01", &l);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"01"));
        assert_eq!(Set::new_for(b"x").encoding(), "hashtable");
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..3, prop_oneof![(0u16..50).prop_map(|v| v.to_string()), "[a-c]{1,2}".prop_map(String::from)]), 0..300)) {
            let l = Limits { set_max_intset_entries: 20, ..Limits::default() };
            let mut s = Set::new_for(b"0");
            let mut m = BTreeSet::new();
            for (op, v) in ops {
                let v = v.into_bytes();
                match op {
                    0 => prop_assert_eq!(s.add(&v, &l), m.insert(v)),
                    1 => prop_assert_eq!(s.remove(&v), m.remove(&v)),
                    _ => prop_assert_eq!(s.contains(&v), m.contains(&v)),
                }
                prop_assert_eq!(s.len(), m.len());
            }
            let all: BTreeSet<Vec<u8>> = s.members().into_iter().collect();
            prop_assert_eq!(all, m);
        }
    }
}

//! Hashes: a packed run of field/value pairs while small (Redis's `listpack`
//! encoding), a [`BlobDict`] of pairs once large (`hashtable`).
//!
//! Small: fields and values alternate in one [`Packed`] buffer, in insertion
//! order; lookups walk it (O(n), n ≤ `hash-max-listpack-entries`). Large:
//! each pair is one blob (`varint flen | field | value`) in the dict, about
//! 10–20 bytes of slot plus the blob per field. A hash converts, once and for
//! good, when it would pass `hash-max-listpack-entries` fields or when a
//! field or value longer than `hash-max-listpack-value` is written: the same
//! points as Redis's `hashTypeTryConversion` / `hashTypeSet`, so OBJECT
//! ENCODING agrees.

use super::dict::{split_pair, Blob, BlobDict, FieldKey};
use super::pack::Packed;
use crate::config::Limits;

#[derive(Clone, Debug)]
pub enum Hash {
    Pack(Packed),
    Table(Box<BlobDict<FieldKey>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Packed::new())
    }
}

/// Offset of `field`'s entry in a packed hash.
fn find_packed(p: &Packed, field: &[u8]) -> Option<usize> {
    let mut pos = p.start();
    while pos < p.end() {
        let (f, next) = p.get(pos);
        if f == field {
            return Some(pos);
        }
        pos = p.get(next).1;
    }
    None
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.count() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => {
                let pos = find_packed(p, field)?;
                Some(p.get(p.get(pos).1).0)
            }
            Hash::Table(t) => t.get(field).map(|b| split_pair(b).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => find_packed(p, field).is_some(),
            Hash::Table(t) => t.contains(field),
        }
    }

    /// Converts to `hashtable` if a string of `len` bytes may not be packed
    /// (Redis's `hashTypeTryConversion`).
    pub fn convert_for_len(&mut self, len: usize, lim: &Limits) {
        if matches!(self, Hash::Pack(_)) && len > lim.hash_max_listpack_value {
            self.convert();
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(p) = self {
            let mut t = BlobDict::with_capacity(p.count() / 2);
            let mut it = p.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                t.insert_new(Blob::pair(f, v));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts as
    /// Redis's `hashTypeSet` does: first for an over-long field or value,
    /// then for one field too many.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: &Limits) -> bool {
        self.convert_for_len(field.len().max(value.len()), lim);
        let new = match self {
            Hash::Pack(p) => match find_packed(p, field) {
                Some(pos) => {
                    let vpos = p.get(pos).1;
                    p.replace(vpos, value);
                    false
                }
                None => {
                    let end = p.end();
                    p.insert(end, &[field, value]);
                    true
                }
            },
            Hash::Table(t) => return t.put(Blob::pair(field, value)),
        };
        if self.len() > lim.hash_max_listpack_entries {
            self.convert();
        }
        new
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match find_packed(p, field) {
                Some(pos) => {
                    p.remove(pos, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(field),
        }
    }

    /// Every (field, value) pair (insertion order while packed).
    pub fn pairs(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Table(t) => Box::new(t.iter().map(split_pair)),
        }
    }

    /// A random pair.
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(p) => {
                let n = p.count() / 2;
                if n == 0 {
                    return None;
                }
                let i = (crate::rng::next() % n as u64) as isize;
                let pos = p.seek(2 * i)?;
                let (f, next) = p.get(pos);
                Some((f, p.get(next).0))
            }
            Hash::Table(t) => t.random().map(split_pair),
        }
    }

    /// HSCAN: a packed hash is returned whole with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Pack(_) => {
                self.pairs().for_each(|(f, v)| visit(f, v));
                0
            }
            Hash::Table(t) => t.scan(cursor, count, |b| {
                let (f, v) = split_pair(b);
                visit(f, v)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn lim(entries: usize, value: usize) -> Limits {
        Limits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..Limits::default()
        }
    }

    #[test]
    fn conversion_points() {
        let l = lim(3, 8);
        let mut h = Hash::new();
        for f in ["a", "b", "c"] {
            assert!(h.set(f.as_bytes(), b"v", &l));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.set(b"a", b"12345678", &l));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"d", b"v", &l));
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.set(b"a", b"123456789", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"123456789"[..]));
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..3, 0u8..40, 0u8..12), 0..300)) {
            let l = lim(16, 8);
            let mut h = Hash::new();
            let mut m = BTreeMap::new();
            for (op, f, vlen) in ops {
                let field = format!("f{f}").into_bytes();
                let value = vec![b'v'; vlen as usize];
                match op {
                    0 => prop_assert_eq!(h.set(&field, &value, &l), m.insert(field, value).is_none()),
                    1 => prop_assert_eq!(h.remove(&field), m.remove(&field).is_some()),
                    _ => prop_assert_eq!(h.get(&field), m.get(&field).map(|v| &v[..])),
                }
                prop_assert_eq!(h.len(), m.len());
            }
            let all: BTreeMap<Vec<u8>, Vec<u8>> = h.pairs().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(all, m);
        }
    }
}

//! Redis's intset: a sorted array of distinct integers stored at the
//! narrowest width (2, 4 or 8 bytes) that holds them all, in one
//! exactly-sized allocation.
//!
//! ```text
//!   0      width  u8   2, 4 or 8
//!   1..    values, little-endian, ascending
//! ```
//!
//! Lookup is a binary search; adding or removing moves the tail (O(n), with
//! n at most `set-max-intset-entries`, 512 by default); a value that needs a
//! wider width rewrites the whole array once ("upgrade"), as in Redis.

use super::thin::ThinBuf;

#[derive(Clone, PartialEq, Eq)]
pub struct IntSet {
    buf: ThinBuf,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet {
            buf: ThinBuf::from_slice(&[2]),
        }
    }
}

impl std::fmt::Debug for IntSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    fn width(&self) -> usize {
        self.buf[0] as usize
    }

    pub fn len(&self) -> usize {
        (self.buf.len() - 1) / self.width()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the allocation.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let s = &self.buf[1 + i * w..1 + (i + 1) * w];
        match w {
            2 => i64::from(i16::from_le_bytes([s[0], s[1]])),
            4 => i64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])),
            _ => i64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
        }
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_for(v) <= self.width() && self.search(v).is_ok()
    }

    fn encode(out: &mut Vec<u8>, v: i64, w: usize) {
        out.extend_from_slice(&v.to_le_bytes()[..w]);
    }

    /// Adds `v`; false if it was present.
    pub fn insert(&mut self, v: i64) -> bool {
        let w = self.width().max(width_for(v));
        let pos = if w > self.width() {
            // Upgrade: v is beyond every stored value, at one end.
            if v < 0 {
                0
            } else {
                self.len()
            }
        } else {
            match self.search(v) {
                Ok(_) => return false,
                Err(p) => p,
            }
        };
        let n = self.len();
        let mut out = Vec::with_capacity(1 + (n + 1) * w);
        out.push(w as u8);
        for i in 0..pos {
            Self::encode(&mut out, self.get(i), w);
        }
        Self::encode(&mut out, v, w);
        for i in pos..n {
            Self::encode(&mut out, self.get(i), w);
        }
        self.buf = ThinBuf::from_slice(&out);
        true
    }

    /// Removes `v`; false if it was absent.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_for(v) > self.width() {
            return false;
        }
        let Ok(pos) = self.search(v) else {
            return false;
        };
        let w = self.width();
        let mut out = Vec::with_capacity(self.buf.len() - w);
        out.extend_from_slice(&self.buf[..1 + pos * w]);
        out.extend_from_slice(&self.buf[1 + (pos + 1) * w..]);
        self.buf = ThinBuf::from_slice(&out);
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn widths_upgrade() {
        let mut s = IntSet::new();
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert_eq!(s.bytes(), 3);
        assert!(s.insert(-70_000));
        assert_eq!(s.bytes(), 9);
        assert!(s.insert(i64::MAX));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-70_000, 5, i64::MAX]);
        assert!(s.contains(i64::MAX));
        assert!(!s.contains(i64::MIN));
        assert!(s.remove(5));
        assert!(!s.remove(5));
        assert_eq!(s.len(), 2);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((any::<bool>(), prop_oneof![-300i64..300, any::<i64>(), -100_000i64..100_000]), 0..300)) {
            let mut s = IntSet::new();
            let mut m = BTreeSet::new();
            for (add, v) in ops {
                if add {
                    prop_assert_eq!(s.insert(v), m.insert(v));
                } else {
                    prop_assert_eq!(s.remove(v), m.remove(&v));
                }
                prop_assert_eq!(s.iter().collect::<Vec<_>>(), m.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}

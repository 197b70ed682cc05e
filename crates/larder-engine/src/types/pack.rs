//! A packed run of byte strings in one exactly-sized allocation: Larder's
//! listpack, behind the small encodings of hashes and sorted sets and the
//! nodes of lists.
//!
//! ```text
//!   0..4   count  u32 LE   number of entries
//!   4..    entries, each:  varint len | bytes | reversed varint len
//! ```
//!
//! The trailing length lets a walk run backwards from the end (RPOP, LRANGE
//! with negative indexes), as listpack's `backlen` does. An entry of up to
//! 127 bytes costs 2 bytes of framing. Entries are addressed by byte offset;
//! offsets stay valid until the next change.
//!
//! The bytes live in a [`PackBuf`]. The small encodings of hashes and sorted
//! sets use [`ThinBuf`]: every change (insert, delete, replace) reallocates
//! to the exact new size, as Redis's `lpInsert` does, so the buffer never
//! carries slack: O(size) per change, which bounds what may be stored this
//! way (the callers convert to a real structure past their
//! `*-max-listpack-*` limits). List nodes use [`GapBuf`], which keeps room at
//! both ends so that pushes and pops at either end move O(1) bytes
//! (amortized) instead of the whole node.

use std::ops::{Deref, DerefMut, Range};

use super::gap::GapBuf;
use super::thin::ThinBuf;

const HEAD: usize = 4;

pub fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut impl Extend<u8>, mut v: usize) {
    while v >= 0x80 {
        out.extend([(v as u8) | 0x80]);
        v >>= 7;
    }
    out.extend([v as u8]);
}

/// Reads a varint at `p`: (value, bytes used).
pub fn get_varint(b: &[u8], p: usize) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let c = b[p + i];
        v |= ((c & 0x7f) as usize) << shift;
        i += 1;
        if c < 0x80 {
            return (v, i);
        }
        shift += 7;
    }
}

/// Reads the reversed varint that ends just before `end`: (value, bytes).
fn get_back_varint(b: &[u8], end: usize) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let c = b[end - 1 - i];
        v |= ((c & 0x7f) as usize) << shift;
        i += 1;
        if c < 0x80 {
            return (v, i);
        }
        shift += 7;
    }
}

/// Framed entries on their way into a buffer (on the stack when small).
type Framed = smallvec::SmallVec<[u8; 96]>;

/// Appends one framed entry to `out`.
pub fn frame<V: Extend<u8> + std::ops::DerefMut<Target = [u8]>>(out: &mut V, item: &[u8]) {
    put_varint(out, item.len());
    out.extend(item.iter().copied());
    let start = out.len();
    put_varint(out, item.len());
    out[start..].reverse();
}

/// Bytes an entry of `n` bytes takes, framing included.
pub fn framed_len(n: usize) -> usize {
    n + 2 * varint_len(n)
}

/// The bytes behind a [`Packed`]: exactly sized or with room at the ends.
pub trait PackBuf: Deref<Target = [u8]> + DerefMut + Clone + Eq {
    /// A buffer of `len` bytes filled by `fill` (which must write them all).
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Self;
    /// Replaces the bytes in `range` with `insert`.
    fn splice(&mut self, range: Range<usize>, insert: &[u8]);
}

impl PackBuf for ThinBuf {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Self {
        ThinBuf::build(len, fill)
    }
    fn splice(&mut self, range: Range<usize>, insert: &[u8]) {
        ThinBuf::splice(self, range, insert)
    }
}

impl PackBuf for GapBuf {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Self {
        GapBuf::build(len, fill)
    }
    fn splice(&mut self, range: Range<usize>, insert: &[u8]) {
        GapBuf::splice(self, range, insert)
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Packed<B: PackBuf = ThinBuf> {
    buf: B,
}

impl<B: PackBuf> Default for Packed<B> {
    fn default() -> Self {
        Packed {
            buf: B::build(HEAD, |d| d.fill(0)),
        }
    }
}

impl<B: PackBuf> std::fmt::Debug for Packed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<B: PackBuf> Packed<B> {
    pub fn new() -> Self {
        Packed::default()
    }

    /// Builds from pre-framed entries (see [`frame`]).
    pub fn from_framed(count: usize, framed: &[u8]) -> Self {
        Packed {
            buf: B::build(HEAD + framed.len(), |d| {
                d[..HEAD].copy_from_slice(&(count as u32).to_le_bytes());
                d[HEAD..].copy_from_slice(framed);
            }),
        }
    }

    /// Entries stored.
    pub fn count(&self) -> usize {
        u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
    }

    fn set_count(&mut self, n: usize) {
        self.buf[..HEAD].copy_from_slice(&(n as u32).to_le_bytes());
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Bytes of the whole buffer.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the first entry (== `end()` when empty).
    pub fn start(&self) -> usize {
        HEAD
    }

    /// Offset just past the last entry.
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// The entry at `pos` and the offset of the next one.
    pub fn get(&self, pos: usize) -> (&[u8], usize) {
        let (len, n) = get_varint(&self.buf, pos);
        let s = pos + n;
        (&self.buf[s..s + len], s + len + varint_len(len))
    }

    /// Offset of the entry before `pos` (`pos` may be `end()`), if any.
    pub fn prev(&self, pos: usize) -> Option<usize> {
        if pos <= HEAD {
            return None;
        }
        let (len, n) = get_back_varint(&self.buf, pos);
        Some(pos - n - len - varint_len(len))
    }

    /// Offset of the last entry, if any.
    pub fn last(&self) -> Option<usize> {
        self.prev(self.end())
    }

    /// Offset of entry number `i` counted from the front (negative: from the back).
    pub fn seek(&self, i: isize) -> Option<usize> {
        let n = self.count() as isize;
        let i = if i < 0 { n + i } else { i };
        if i < 0 || i >= n {
            return None;
        }
        if i <= n / 2 {
            let mut p = self.start();
            for _ in 0..i {
                p = self.get(p).1;
            }
            Some(p)
        } else {
            let mut p = self.end();
            for _ in i..n {
                p = self.prev(p)?;
            }
            Some(p)
        }
    }

    pub fn iter(&self) -> Iter<'_, B> {
        Iter {
            p: self,
            pos: self.start(),
        }
    }

    /// Replaces the bytes in `range` (whole entries) with `framed` (whole
    /// framed entries), adjusting the count by `added - removed`.
    pub fn splice(&mut self, range: Range<usize>, framed: &[u8], added: usize, removed: usize) {
        let count = self.count() + added - removed;
        self.buf.splice(range, framed);
        self.set_count(count);
    }

    /// Inserts `items` as consecutive entries at offset `pos`.
    pub fn insert(&mut self, pos: usize, items: &[&[u8]]) {
        let mut f = Framed::new();
        for i in items {
            frame(&mut f, i);
        }
        self.splice(pos..pos, &f, items.len(), 0);
    }

    pub fn push_back(&mut self, item: &[u8]) {
        let end = self.end();
        self.insert(end, &[item]);
    }

    pub fn push_front(&mut self, item: &[u8]) {
        let s = self.start();
        self.insert(s, &[item]);
    }

    /// Removes `n` entries starting at `pos`; returns the offset after them
    /// (now the offset of what followed).
    pub fn remove(&mut self, pos: usize, n: usize) -> usize {
        let mut end = pos;
        for _ in 0..n {
            end = self.get(end).1;
        }
        self.splice(pos..end, &[], 0, n);
        pos
    }

    /// Replaces the entry at `pos` with `item`.
    pub fn replace(&mut self, pos: usize, item: &[u8]) {
        let end = self.get(pos).1;
        let mut f = Framed::new();
        frame(&mut f, item);
        self.splice(pos..end, &f, 1, 1);
    }

    /// Splits off the entries from `pos` on into a new buffer.
    pub fn split_off(&mut self, pos: usize, entries_before: usize) -> Self {
        let tail_count = self.count() - entries_before;
        let tail = Packed::from_framed(tail_count, &self.buf[pos..]);
        self.splice(pos..self.end(), &[], 0, tail_count);
        tail
    }

    /// Appends all of `other`'s entries.
    pub fn append(&mut self, other: &Self) {
        let end = self.end();
        self.splice(end..end, &other.buf[HEAD..], other.count(), 0);
    }
}

pub struct Iter<'a, B: PackBuf = ThinBuf> {
    p: &'a Packed<B>,
    pos: usize,
}

impl<'a, B: PackBuf> Iterator for Iter<'a, B> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.p.end() {
            return None;
        }
        let (item, next) = self.p.get(self.pos);
        self.pos = next;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn walks_both_ways() {
        walk::<ThinBuf>();
        walk::<GapBuf>();
    }

    fn walk<B: PackBuf>() {
        let mut p = Packed::<B>::new();
        let big = vec![b'x'; 300];
        p.push_back(b"a");
        p.push_back(&big);
        p.push_front(b"");
        assert_eq!(p.count(), 3);
        let items: Vec<&[u8]> = p.iter().collect();
        assert_eq!(items, vec![&b""[..], b"a", &big[..]]);
        let last = p.last().unwrap();
        assert_eq!(p.get(last).0, &big[..]);
        let mid = p.prev(last).unwrap();
        assert_eq!(p.get(mid).0, b"a");
        assert_eq!(p.seek(-1), Some(last));
        assert_eq!(p.seek(1), Some(mid));
        assert_eq!(p.seek(3), None);
        p.replace(mid, b"bb");
        assert_eq!(p.get(p.seek(1).unwrap()).0, b"bb");
        let s = p.start();
        p.remove(s, 2);
        assert_eq!(p.count(), 1);
        assert_eq!(p.iter().next(), Some(&big[..]));
    }

    proptest! {
        #[test]
        fn model(gap: bool, ops in proptest::collection::vec((0u8..4, proptest::collection::vec(any::<u8>(), 0..200), any::<u16>()), 0..60)) {
            if gap {
                model_of::<GapBuf>(ops)?;
            } else {
                model_of::<ThinBuf>(ops)?;
            }
        }
    }

    fn model_of<B: PackBuf>(ops: Vec<(u8, Vec<u8>, u16)>) -> Result<(), TestCaseError> {
        let mut p = Packed::<B>::new();
        let mut m: Vec<Vec<u8>> = Vec::new();
        for (op, item, at) in ops {
            match op {
                0 => {
                    p.push_back(&item);
                    m.push(item);
                }
                1 => {
                    p.push_front(&item);
                    m.insert(0, item);
                }
                2 if !m.is_empty() => {
                    let i = at as usize % m.len();
                    let pos = p.seek(i as isize).unwrap();
                    p.remove(pos, 1);
                    m.remove(i);
                }
                _ if !m.is_empty() => {
                    let i = at as usize % m.len();
                    let pos = p.seek(-(i as isize) - 1).unwrap();
                    p.replace(pos, &item);
                    let j = m.len() - 1 - i;
                    m[j] = item;
                }
                _ => {}
            }
            prop_assert_eq!(p.count(), m.len());
            let got: Vec<Vec<u8>> = p.iter().map(|x| x.to_vec()).collect();
            prop_assert_eq!(&got, &m);
            let mut back = Vec::new();
            let mut pos = p.end();
            while let Some(q) = p.prev(pos) {
                back.push(p.get(q).0.to_vec());
                pos = q;
            }
            back.reverse();
            prop_assert_eq!(&back, &m);
        }
        Ok(())
    }
}

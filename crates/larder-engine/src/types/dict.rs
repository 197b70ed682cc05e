//! The hash table behind large hashes, sets and sorted sets.
//!
//! An open-addressing table of thin pointers, one `u64` slot each: 0 is
//! empty, anything else a pointer (below 2^48) with 16 bits of the element's
//! hash on top, so a probe compares tags and dereferences an element only
//! when they match. What a pointer points at is the caller's business; a
//! [`KeyOf`] type tells the table where the key bytes are (a [`Blob`] for
//! sets and hashes, a member record for sorted sets).
//!
//! As in the keyspace's table (`table.rs`), an element's *home* slot comes
//! from the top bits of its hash and probing is linear, so home order equals
//! hash order at every size. That makes SCAN cursors (a prefix of the hash
//! space) valid across growth and shrinking: an element present for a whole
//! HSCAN/SSCAN/ZSCAN is returned at least once, which is Redis's guarantee.
//! Deletion shifts the following run back (no tombstones).
//!
//! Costs: 8 bytes a slot at 40–80% load, i.e. 10–20 bytes per element (a
//! Redis dict spends 8 bytes of bucket plus a 24-byte `dictEntry` per
//! element). Growing rehashes every element (the hash is not stored).
//!
//! The table does not free what it points at: [`BlobDict`] owns its blobs,
//! a sorted set's B+tree owns its records.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::OnceLock;

use super::pack::{get_varint, varint_len};

const PTR_MASK: u64 = (1 << 48) - 1;
const MIN_BITS: u32 = 2;
/// Cursors address a 2^CURSOR_BITS hash space, independent of table size.
pub const CURSOR_BITS: u32 = 40;

/// The hash of collection elements (a per-process random seed).
pub fn hash(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE
        .get_or_init(|| foldhash::fast::FixedState::with_seed(crate::rng::next()))
        .hash_one(key)
}

fn tag(hash: u64) -> u64 {
    ((hash >> 16) & 0xffff) << 48
}

/// Where the key bytes of a stored element are.
pub trait KeyOf {
    /// # Safety
    /// `p` must point at a live element of this kind that outlives `'a`.
    unsafe fn key<'a>(p: NonNull<u8>) -> &'a [u8];
}

pub struct Dict<K: KeyOf> {
    slots: Box<[u64]>,
    bits: u32,
    len: usize,
    _k: PhantomData<K>,
}

// SAFETY: the table holds plain pointers its owner manages; it is moved
// between threads only together with that owner (a collection).
unsafe impl<K: KeyOf> Send for Dict<K> {}
unsafe impl<K: KeyOf> Sync for Dict<K> {}

impl<K: KeyOf> Default for Dict<K> {
    fn default() -> Self {
        Dict {
            slots: Box::new([]),
            bits: 0,
            len: 0,
            _k: PhantomData,
        }
    }
}

fn bits_for(len: usize) -> u32 {
    // Smallest power of two keeping `len` at or under 80% load.
    (len.saturating_mul(5) / 4 + 1)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_BITS)
}

impl<K: KeyOf> Dict<K> {
    pub fn with_capacity(len: usize) -> Self {
        let bits = bits_for(len);
        Dict {
            slots: vec![0; 1 << bits].into_boxed_slice(),
            bits,
            len: 0,
            _k: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of slot memory.
    pub fn slot_bytes(&self) -> usize {
        self.slots.len() * 8
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (hash >> (64 - self.bits)) as usize
        }
    }

    fn ptr(slot: u64) -> NonNull<u8> {
        // SAFETY: only non-empty slots are unpacked; they hold a pointer.
        unsafe { NonNull::new_unchecked((slot & PTR_MASK) as *mut u8) }
    }

    fn key_at(&self, i: usize) -> &[u8] {
        // SAFETY: full slots point at live elements owned alongside the table.
        unsafe { K::key(Self::ptr(self.slots[i])) }
    }

    /// Slot index of `key`, if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_hashed(hash(key), key)
    }

    fn find_hashed(&self, h: u64, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let t = tag(h);
        let mask = self.mask();
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s & !PTR_MASK == t && self.key_at(i) == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<NonNull<u8>> {
        self.find(key).map(|i| self.ptr_at(i))
    }

    pub fn ptr_at(&self, i: usize) -> NonNull<u8> {
        Self::ptr(self.slots[i])
    }

    /// Replaces the element at `i` with another with the same key.
    pub fn replace_at(&mut self, i: usize, p: NonNull<u8>) {
        let t = self.slots[i] & !PTR_MASK;
        self.slots[i] = pack(p) | t;
    }

    /// Inserts an element whose key is known to be absent.
    pub fn insert_new(&mut self, p: NonNull<u8>) {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.rebuild(bits_for(self.len + 1).max(self.bits + 1));
        }
        // SAFETY: the caller hands us a live element.
        let h = hash(unsafe { K::key(p) });
        self.place(h, pack(p) | tag(h));
        self.len += 1;
    }

    fn place(&mut self, h: u64, slot: u64) {
        let mask = self.mask();
        let mut i = self.home(h);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn rebuild(&mut self, bits: u32) {
        let old = std::mem::replace(&mut self.slots, vec![0; 1 << bits].into_boxed_slice());
        self.bits = bits;
        for &s in old.iter().filter(|&&s| s != 0) {
            // SAFETY: full slots point at live elements.
            let h = hash(unsafe { K::key(Self::ptr(s)) });
            self.place(h, s);
        }
    }

    /// Removes the element at `i` and returns its pointer. Invalidates
    /// slot indexes (later elements may shift back).
    pub fn remove_at(&mut self, i: usize) -> NonNull<u8> {
        let p = Self::ptr(self.slots[i]);
        let mask = self.mask();
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            // SAFETY: full slots point at live elements.
            let h = self.home(hash(unsafe { K::key(Self::ptr(s)) }));
            // Move s back into the hole unless its home lies in (hole, j].
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = 0;
        self.len -= 1;
        p
    }

    /// Removes `key`'s element, returning its pointer.
    pub fn remove(&mut self, key: &[u8]) -> Option<NonNull<u8>> {
        let i = self.find(key)?;
        Some(self.remove_at(i))
    }

    /// Shrinks a table that deletions left under 10% full.
    pub fn maybe_shrink(&mut self) {
        if self.slots.len() > 16 && self.len * 10 < self.slots.len() {
            self.rebuild(bits_for(self.len));
        }
    }

    /// Every element pointer, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = NonNull<u8>> + '_ {
        self.slots
            .iter()
            .filter(|&&s| s != 0)
            .map(|&s| Self::ptr(s))
    }

    /// A uniformly random element (`r` random), if any.
    pub fn random(&self, r: u64) -> Option<NonNull<u8>> {
        crate::rng::pick_occupied(self.slots.len(), self.len, r, |i| self.slots[i] != 0)
            .map(|i| Self::ptr(self.slots[i]))
    }

    /// Visits the elements whose hash prefix lies in the range of the cursor
    /// space starting at `cursor`, covering about `count` elements, and
    /// returns the next cursor (0 when the table is done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(NonNull<u8>)) -> u64 {
        let n = self.slots.len();
        if self.len == 0 || cursor >= 1 << CURSOR_BITS {
            return 0;
        }
        let shift = CURSOR_BITS - self.bits;
        let start = (cursor >> shift) as usize;
        let homes = (count.max(1).saturating_mul(n) / self.len).clamp(1, n);
        let end = (start + homes).min(n);
        let mask = self.mask();
        let mut p = start;
        let mut walked = 0;
        // Elements homed in [start, end) sit at or after their home, before
        // the first empty slot past it (wrapping at the end of the table).
        while walked < n && (p < end || self.slots[p & mask] != 0) {
            let s = self.slots[p & mask];
            if s != 0 {
                // SAFETY: full slots point at live elements.
                let h = hash(unsafe { K::key(Self::ptr(s)) });
                let prefix = h >> (64 - CURSOR_BITS);
                let home = self.home(h);
                if home >= start && home < end && prefix >= cursor {
                    visit(Self::ptr(s));
                }
            }
            p += 1;
            walked += 1;
        }
        if end == n {
            0
        } else {
            (end as u64) << shift
        }
    }
}

fn pack(p: NonNull<u8>) -> u64 {
    let v = p.as_ptr() as u64;
    assert!(v & !PTR_MASK == 0, "element pointer above 2^48");
    v
}

// ---------------------------------------------------------------------------
// Blobs: one length-prefixed byte string per allocation
// ---------------------------------------------------------------------------

/// A thin owning pointer to `varint len | bytes`: a set member, or a hash
/// field and value (`varint flen | field | value`).
pub struct Blob(NonNull<u8>);

impl Blob {
    pub fn new(parts: &[&[u8]]) -> Blob {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let size = varint_len(n) + n;
        let layout = Layout::from_size_align(size, 1).expect("blob layout");
        // SAFETY: size > 0; every byte is written below.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            let mut off = 0;
            let mut v = n;
            while v >= 0x80 {
                *p.add(off) = (v as u8) | 0x80;
                v >>= 7;
                off += 1;
            }
            *p.add(off) = v as u8;
            off += 1;
            for part in parts {
                std::ptr::copy_nonoverlapping(part.as_ptr(), p.add(off), part.len());
                off += part.len();
            }
            Blob(NonNull::new_unchecked(p))
        }
    }

    /// A hash field and value.
    pub fn pair(field: &[u8], value: &[u8]) -> Blob {
        let mut head = [0u8; 10];
        let mut n = 0;
        let mut v = field.len();
        while v >= 0x80 {
            head[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        head[n] = v as u8;
        Blob::new(&[&head[..=n], field, value])
    }

    pub fn into_raw(self) -> NonNull<u8> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `p` must come from `into_raw` and not be owned elsewhere.
    pub unsafe fn from_raw(p: NonNull<u8>) -> Blob {
        Blob(p)
    }

    /// # Safety
    /// `p` must point at a live blob that outlives `'a`.
    pub unsafe fn bytes<'a>(p: NonNull<u8>) -> &'a [u8] {
        let (n, k) = read_varint_ptr(p.as_ptr());
        std::slice::from_raw_parts(p.as_ptr().add(k), n)
    }

    /// # Safety
    /// As [`Blob::bytes`], for a blob made by [`Blob::pair`].
    pub unsafe fn pair_of<'a>(p: NonNull<u8>) -> (&'a [u8], &'a [u8]) {
        split_pair(Blob::bytes(p))
    }
}

/// (field, value) of a pair blob's bytes.
pub fn split_pair(b: &[u8]) -> (&[u8], &[u8]) {
    let (flen, k) = get_varint(b, 0);
    (&b[k..k + flen], &b[k + flen..])
}

/// # Safety
/// `p` must point at a varint.
unsafe fn read_varint_ptr(p: *const u8) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let c = *p.add(i);
        v |= ((c & 0x7f) as usize) << shift;
        i += 1;
        if c < 0x80 {
            return (v, i);
        }
        shift += 7;
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this size and alignment 1.
        unsafe {
            let n = Blob::bytes(self.0).len();
            let size = varint_len(n) + n;
            dealloc(self.0.as_ptr(), Layout::from_size_align_unchecked(size, 1));
        }
    }
}

/// Keys of set members: the whole blob.
pub struct MemberKey;
impl KeyOf for MemberKey {
    unsafe fn key<'a>(p: NonNull<u8>) -> &'a [u8] {
        Blob::bytes(p)
    }
}

/// Keys of hash pairs: the field.
pub struct FieldKey;
impl KeyOf for FieldKey {
    unsafe fn key<'a>(p: NonNull<u8>) -> &'a [u8] {
        Blob::pair_of(p).0
    }
}

/// A table that owns its blobs (sets, hashes).
pub struct BlobDict<K: KeyOf> {
    d: Dict<K>,
}

impl<K: KeyOf> Default for BlobDict<K> {
    fn default() -> Self {
        BlobDict { d: Dict::default() }
    }
}

impl<K: KeyOf> BlobDict<K> {
    pub fn with_capacity(n: usize) -> Self {
        BlobDict {
            d: Dict::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.d.len()
    }

    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }

    pub fn dict(&self) -> &Dict<K> {
        &self.d
    }

    /// The blob bytes stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        // SAFETY: the blob lives as long as `self`.
        self.d.get(key).map(|p| unsafe { Blob::bytes(p) })
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.d.find(key).is_some()
    }

    /// Inserts `blob`, replacing (and freeing) an element with the same key.
    /// Returns true when the key is new.
    pub fn put(&mut self, blob: Blob) -> bool {
        // SAFETY: the blob is live.
        let key = unsafe { K::key(blob.0) };
        match self.d.find(key) {
            Some(i) => {
                let old = self.d.ptr_at(i);
                self.d.replace_at(i, blob.into_raw());
                // SAFETY: the table held the only owner of `old`.
                drop(unsafe { Blob::from_raw(old) });
                false
            }
            None => {
                self.d.insert_new(blob.into_raw());
                true
            }
        }
    }

    /// Inserts a blob whose key is known to be absent.
    pub fn insert_new(&mut self, blob: Blob) {
        self.d.insert_new(blob.into_raw());
    }

    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.d.remove(key) {
            Some(p) => {
                // SAFETY: removed from the table, which owned it.
                drop(unsafe { Blob::from_raw(p) });
                self.d.maybe_shrink();
                true
            }
            None => false,
        }
    }

    /// Every blob's bytes.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // SAFETY: blobs live as long as `self`.
        self.d.iter().map(|p| unsafe { Blob::bytes(p) })
    }

    /// A random element's bytes.
    pub fn random(&self) -> Option<&[u8]> {
        // SAFETY: as above.
        self.d
            .random(crate::rng::next())
            .map(|p| unsafe { Blob::bytes(p) })
    }

    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        // SAFETY: as above.
        self.d
            .scan(cursor, count, |p| visit(unsafe { Blob::bytes(p) }))
    }
}

impl<K: KeyOf> Clone for BlobDict<K> {
    fn clone(&self) -> Self {
        let mut c = BlobDict::with_capacity(self.len());
        for b in self.iter() {
            c.insert_new(Blob::new(&[b]));
        }
        c
    }
}

impl<K: KeyOf> Drop for BlobDict<K> {
    fn drop(&mut self) {
        for p in self.d.iter() {
            // SAFETY: the table owns every blob it points at.
            drop(unsafe { Blob::from_raw(p) });
        }
    }
}

impl<K: KeyOf> std::fmt::Debug for BlobDict<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobDict({} elements)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn scan_survives_growth_and_shrink() {
        let mut d: BlobDict<MemberKey> = BlobDict::default();
        for i in 0..1000 {
            d.put(Blob::new(&[format!("m{i}").as_bytes()]));
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut rounds = 0;
        loop {
            cursor = d.scan(cursor, 10, |b| {
                seen.insert(b.to_vec());
            });
            rounds += 1;
            // Grow, then shrink, in the middle of the iteration.
            if rounds == 20 {
                for i in 1000..5000 {
                    d.put(Blob::new(&[format!("m{i}").as_bytes()]));
                }
            }
            if rounds == 40 {
                for i in 1000..5000 {
                    d.remove(format!("m{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("m{i}").as_bytes()), "missed m{i}");
        }
    }

    #[test]
    fn pairs() {
        let mut d: BlobDict<FieldKey> = BlobDict::default();
        assert!(d.put(Blob::pair(b"f", b"v")));
        assert!(!d.put(Blob::pair(b"f", b"w")));
        assert_eq!(split_pair(d.get(b"f").unwrap()), (&b"f"[..], &b"w"[..]));
        let long = vec![b'x'; 200];
        d.put(Blob::pair(&long, b""));
        assert_eq!(split_pair(d.get(&long).unwrap()).1, b"");
        let c = d.clone();
        assert_eq!(c.len(), 2);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((any::<bool>(), 0u16..300), 0..2000)) {
            let mut d: BlobDict<MemberKey> = BlobDict::default();
            let mut m = BTreeSet::new();
            for (add, k) in ops {
                let key = k.to_string().into_bytes();
                if add {
                    prop_assert_eq!(d.put(Blob::new(&[&key])), m.insert(key));
                } else {
                    prop_assert_eq!(d.remove(&key), m.remove(&key));
                }
                prop_assert_eq!(d.len(), m.len());
            }
            for k in &m {
                prop_assert!(d.contains(k));
            }
            let all: BTreeSet<Vec<u8>> = d.iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(all, m);
        }
    }
}

//! An open-addressing hash table of entry pointers, built for a keyspace.
//!
//! Each slot is one `u64`: 0 is empty, 1 is a tombstone, anything else is an
//! entry pointer (8-aligned, below 2^48) with 16 bits of the key's hash in the
//! top bits, so a probe compares tags and touches an entry only when they match.
//! Probing is linear from the key's *home* slot, taken from the hash's top bits.
//! Taking the home from the top bits keeps home order equal to hash order at
//! every size: home `h` of a table of 2^b slots becomes homes `2h` and `2h+1` at
//! 2^(b+1). That gives SCAN its guarantee across resizes (see [`RawTable::scan`]).
//!
//! Costs: 8 bytes a slot; the table grows at 80% load (tombstones included) and
//! shrinks below 10%, so a key costs 10–20 bytes of slots (9–13 typically).
//! Deletion leaves a tombstone unless the next slot is empty; a rebuild at the
//! same size clears them when they pass a quarter of the slots. Resizing rehashes
//! every key (the hash is not stored), which is why the keyspace is split into
//! many shards: each table is small and its rebuild short.
//!
//! The table does not own entries: `Db` frees them. It stores pointers only.

use std::ptr::NonNull;

use crate::entry::EntryRef;

const EMPTY: u64 = 0;
const TOMB: u64 = 1;
const PTR_MASK: u64 = (1 << 48) - 1;
const MIN_BITS: u32 = 3;
/// SCAN cursors address a 2^CURSOR_BITS hash space, independent of table size.
pub const CURSOR_BITS: u32 = 40;

fn tag(hash: u64) -> u64 {
    // Bits 16..32 of the hash: independent of the home (top bits) and the shard (low bits).
    ((hash >> 16) & 0xffff) << 48
}

fn pack(hash: u64, ptr: NonNull<u8>) -> u64 {
    let p = ptr.as_ptr() as u64;
    assert!(p & !PTR_MASK == 0, "entry pointer above 2^48");
    p | tag(hash)
}

fn unpack(slot: u64) -> NonNull<u8> {
    // SAFETY: only non-empty, non-tombstone slots are unpacked; they hold a pointer.
    unsafe { NonNull::new_unchecked((slot & PTR_MASK) as *mut u8) }
}

fn is_full(slot: u64) -> bool {
    slot > TOMB
}

#[derive(Default)]
pub struct RawTable {
    slots: Box<[u64]>,
    bits: u32,
    len: usize,
    tombs: usize,
}

impl RawTable {
    pub fn new() -> RawTable {
        RawTable::default()
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
        self.slots.len() - 1
    }

    fn home(&self, hash: u64) -> usize {
        (hash >> (64 - self.bits)) as usize
    }

    /// Slot index of `key`, if present.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.probe(hash, |e| e.key() == key)
    }

    /// Slot index of an entry whose key hashes to `hash` under `hash_of`
    /// (`allkeys-adaptive` remembers recent admissions by hash only).
    pub fn find_hash(&self, hash: u64, hash_of: &dyn Fn(&[u8]) -> u64) -> Option<usize> {
        self.probe(hash, |e| hash_of(e.key()) == hash)
    }

    /// Walks `hash`'s probe sequence to the first entry with its tag that
    /// `matches`, stopping at an empty slot.
    #[inline]
    fn probe(&self, hash: u64, matches: impl Fn(EntryRef<'_>) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let t = tag(hash);
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if is_full(s) && s & !PTR_MASK == t {
                // SAFETY: full slots point at live entries.
                if matches(unsafe { EntryRef::from_ptr(unpack(s)) }) {
                    return Some(i);
                }
            }
            i = (i + 1) & mask;
        }
    }

    pub fn ptr_at(&self, idx: usize) -> NonNull<u8> {
        unpack(self.slots[idx])
    }

    /// Replaces the entry at `idx` with another one for the same key.
    pub fn replace_at(&mut self, idx: usize, hash: u64, ptr: NonNull<u8>) {
        debug_assert!(is_full(self.slots[idx]));
        self.slots[idx] = pack(hash, ptr);
    }

    /// Inserts a key known to be absent. `hash_of` rehashes keys on resize.
    pub fn insert_new(&mut self, hash: u64, ptr: NonNull<u8>, hash_of: &dyn Fn(&[u8]) -> u64) {
        if (self.len + self.tombs + 1) * 5 > self.slots.len() * 4 {
            let want = if self.len + 1 > self.slots.len() / 2 {
                self.len + 1
            } else {
                self.len // mostly tombstones: rebuild at the same size
            };
            self.rebuild(want, hash_of);
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        while is_full(self.slots[i]) {
            i = (i + 1) & mask;
        }
        if self.slots[i] == TOMB {
            self.tombs -= 1;
        }
        self.slots[i] = pack(hash, ptr);
        self.len += 1;
    }

    /// Removes the entry at `idx` and returns its pointer. Indexes stay valid.
    pub fn remove_at(&mut self, idx: usize) -> NonNull<u8> {
        let p = unpack(self.slots[idx]);
        let mask = self.mask();
        if self.slots[(idx + 1) & mask] == EMPTY {
            // No probe chain runs through here: clear it and the tombstones before it.
            self.slots[idx] = EMPTY;
            let mut j = idx.wrapping_sub(1) & mask;
            while self.slots[j] == TOMB {
                self.slots[j] = EMPTY;
                self.tombs -= 1;
                j = j.wrapping_sub(1) & mask;
            }
        } else {
            self.slots[idx] = TOMB;
            self.tombs += 1;
        }
        self.len -= 1;
        p
    }

    /// Shrinks a sparse table, or frees an empty one. Invalidates indexes.
    pub fn maybe_shrink(&mut self, hash_of: &dyn Fn(&[u8]) -> u64) {
        if self.len == 0 {
            *self = RawTable::default();
        } else if self.slots.len() > 64 && self.len * 10 < self.slots.len() {
            self.rebuild(self.len, hash_of);
        }
    }

    /// Rebuilds with room for `len` keys at under 50% load.
    fn rebuild(&mut self, len: usize, hash_of: &dyn Fn(&[u8]) -> u64) {
        let bits = (len.max(1) * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(MIN_BITS);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; 1 << bits].into_boxed_slice());
        self.bits = bits;
        self.tombs = 0;
        let mask = self.mask();
        for &s in old.iter().filter(|&&s| is_full(s)) {
            // SAFETY: full slots point at live entries.
            let hash = hash_of(unsafe { EntryRef::from_ptr(unpack(s)) }.key());
            let mut i = self.home(hash);
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// A uniformly random full slot (`r` is a random number), if any.
    pub fn random_index(&self, r: u64) -> Option<usize> {
        crate::rng::pick_occupied(self.slots.len(), self.len, r, |i| is_full(self.slots[i]))
    }

    /// Every entry pointer, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = NonNull<u8>> + '_ {
        self.slots
            .iter()
            .filter(|&&s| is_full(s))
            .map(|&s| unpack(s))
    }

    /// Slot indexes of full slots, for callers that remove while walking.
    pub fn full_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, &s)| is_full(s))
            .map(|(i, _)| i)
    }

    pub fn clear(&mut self) {
        *self = RawTable::default();
    }

    /// Visits the entries whose hash falls in the part of the cursor space
    /// starting at `cursor`, covering about `count` homes, and returns the next
    /// cursor (`1 << CURSOR_BITS` when the table is done).
    ///
    /// The cursor is a prefix of the hash space, not a slot index, so it stays
    /// meaningful when the table grows, shrinks or is rebuilt: an entry present
    /// for the whole scan is visited at least once (possibly twice across a
    /// shrink). Entries are selected by home, not position: a range's keys may
    /// sit past its end (probing continues to the next empty slot) and keys
    /// displaced into the range from earlier homes are left to their own range.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        hash_of: &dyn Fn(&[u8]) -> u64,
        mut visit: impl FnMut(EntryRef<'_>),
    ) -> u64 {
        let done = 1u64 << CURSOR_BITS;
        if self.slots.is_empty() {
            return done;
        }
        let shift = CURSOR_BITS - self.bits;
        let n = self.slots.len();
        let start = (cursor >> shift) as usize;
        if start >= n {
            return done;
        }
        let end = start.saturating_add(count.max(1)).min(n);
        let mask = self.mask();
        let mut i = start;
        let mut steps = 0;
        while steps < n {
            let s = self.slots[i];
            let past_end = steps >= end - start;
            if past_end && s == EMPTY {
                break;
            }
            if is_full(s) {
                // SAFETY: full slots point at live entries.
                let e = unsafe { EntryRef::from_ptr(unpack(s)) };
                let h = self.home(hash_of(e.key()));
                if h >= start && h < end {
                    visit(e);
                }
            }
            i = (i + 1) & mask;
            steps += 1;
        }
        if end == n {
            done
        } else {
            (end as u64) << shift
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, StrValue};
    use std::collections::HashSet;

    fn h(k: &[u8]) -> u64 {
        // A deliberately weak hash so that collisions and clustering happen.
        let mut x: u64 = 0xcbf29ce484222325;
        for &b in k {
            x ^= b as u64;
            x = x.wrapping_mul(0x100000001b3);
        }
        x
    }

    struct T {
        t: RawTable,
    }

    impl T {
        fn insert(&mut self, k: &[u8]) {
            if self.t.find(h(k), k).is_none() {
                let e = Entry::new(k, StrValue::Auto(b"v"), 0, 0);
                self.t.insert_new(h(k), e.into_raw(), &h);
            }
        }
        fn remove(&mut self, k: &[u8]) -> bool {
            match self.t.find(h(k), k) {
                Some(i) => {
                    drop(unsafe { Entry::from_raw(self.t.remove_at(i)) });
                    self.t.maybe_shrink(&h);
                    true
                }
                None => false,
            }
        }
    }

    impl Drop for T {
        fn drop(&mut self) {
            for p in self.t.iter().collect::<Vec<_>>() {
                drop(unsafe { Entry::from_raw(p) });
            }
        }
    }

    #[test]
    fn insert_find_remove_many() {
        let mut t = T { t: RawTable::new() };
        for i in 0..10_000u32 {
            t.insert(format!("k{i}").as_bytes());
        }
        assert_eq!(t.t.len(), 10_000);
        for i in (0..10_000u32).step_by(2) {
            assert!(t.remove(format!("k{i}").as_bytes()));
        }
        for i in 0..10_000u32 {
            let k = format!("k{i}");
            assert_eq!(
                t.t.find(h(k.as_bytes()), k.as_bytes()).is_some(),
                i % 2 == 1
            );
        }
        for i in 0..10_000u32 {
            t.remove(format!("k{i}").as_bytes());
        }
        assert_eq!(t.t.len(), 0);
        assert_eq!(t.t.slot_bytes(), 0);
    }

    #[test]
    fn scan_sees_every_stable_key_across_resizes() {
        let mut t = T { t: RawTable::new() };
        for i in 0..2_000u32 {
            t.insert(format!("stable{i}").as_bytes());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0u32;
        loop {
            cursor = t.t.scan(cursor, 10, &h, |e| {
                seen.insert(e.key().to_vec());
            });
            // Churn between calls: grow, then shrink the table.
            if round < 100 {
                for j in 0..100u32 {
                    t.insert(format!("churn{round}-{j}").as_bytes());
                }
            } else if round == 100 {
                for r in 0..100u32 {
                    for j in 0..100u32 {
                        t.remove(format!("churn{r}-{j}").as_bytes());
                    }
                }
            }
            round += 1;
            if cursor == 1 << CURSOR_BITS {
                break;
            }
        }
        for i in 0..2_000u32 {
            assert!(
                seen.contains(format!("stable{i}").as_bytes()),
                "missed stable{i}"
            );
        }
    }

    #[test]
    fn random_index_finds_entries() {
        let mut t = T { t: RawTable::new() };
        assert!(t.t.random_index(5).is_none());
        t.insert(b"only");
        for r in 0..50 {
            let i = t.t.random_index(r * 7919).unwrap();
            assert_eq!(unsafe { EntryRef::from_ptr(t.t.ptr_at(i)) }.key(), b"only");
        }
    }
}

//! One logical database inside one shard: the entries, plus an index of the
//! entries that carry a TTL.
//!
//! `main` owns every entry of this (shard, database) pair; `volatile` holds the
//! same pointers for the keys with an expiry, so that active expiry and the
//! `volatile-*` eviction policies sample only keys that can expire, as Redis's
//! `expires` dict does. A key with a TTL therefore costs one more slot (8 bytes
//! at under 80% load); a key without one costs nothing extra. Every mutation
//! goes through this module, which keeps both tables pointing at the same
//! allocation.

use std::ptr::NonNull;

use crate::entry::{Entry, EntryMut, EntryRef};
use crate::table::RawTable;

pub type HashFn<'a> = &'a dyn Fn(&[u8]) -> u64;

#[derive(Default)]
pub struct Db {
    main: RawTable,
    volatile: RawTable,
}

impl Db {
    pub fn len(&self) -> usize {
        self.main.len()
    }

    pub fn is_empty(&self) -> bool {
        self.main.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Bytes of table slots (not entries).
    pub fn slot_bytes(&self) -> usize {
        self.main.slot_bytes() + self.volatile.slot_bytes()
    }

    pub fn get(&self, hash: u64, key: &[u8]) -> Option<EntryRef<'_>> {
        let i = self.main.find(hash, key)?;
        // SAFETY: the entry lives as long as `self` is borrowed.
        Some(unsafe { EntryRef::from_ptr(self.main.ptr_at(i)) })
    }

    /// The entry whose key hashes to `hash`, if any (see `RawTable::find_hash`).
    pub fn get_by_hash(&self, hash: u64, hash_of: HashFn<'_>) -> Option<EntryRef<'_>> {
        let i = self.main.find_hash(hash, hash_of)?;
        // SAFETY: the entry lives as long as `self` is borrowed.
        Some(unsafe { EntryRef::from_ptr(self.main.ptr_at(i)) })
    }

    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<EntryMut<'_>> {
        let i = self.main.find(hash, key)?;
        // SAFETY: `&mut self` gives exclusive access to the entry.
        Some(unsafe { EntryMut::from_ptr(self.main.ptr_at(i)) })
    }

    /// Inserts or replaces; returns the replaced entry. The new entry's
    /// expiry decides whether the key is indexed as volatile.
    pub fn put(&mut self, hash: u64, entry: Entry, hash_of: HashFn<'_>) -> Option<Entry> {
        let expires = entry.as_ref().expire_at() != 0;
        let ptr = entry.into_raw();
        // SAFETY: `ptr` is the live entry we just released.
        let key = unsafe { EntryRef::from_ptr(ptr) }.key();
        let old = match self.main.find(hash, key) {
            Some(i) => {
                let old = self.main.ptr_at(i);
                self.main.replace_at(i, hash, ptr);
                // SAFETY: the table held the only owner of `old`.
                Some(unsafe { Entry::from_raw(old) })
            }
            None => {
                self.main.insert_new(hash, ptr, hash_of);
                None
            }
        };
        let was_volatile = old.as_ref().is_some_and(|o| o.as_ref().expire_at() != 0);
        self.reindex(hash, key, ptr, was_volatile, expires, hash_of);
        old
    }

    /// Keeps `volatile` in step after the entry for `key` became `ptr`.
    fn reindex(
        &mut self,
        hash: u64,
        key: &[u8],
        ptr: NonNull<u8>,
        was: bool,
        now: bool,
        hash_of: HashFn<'_>,
    ) {
        match (was, now) {
            (false, true) => self.volatile.insert_new(hash, ptr, hash_of),
            (true, true) => {
                if let Some(i) = self.volatile.find(hash, key) {
                    self.volatile.replace_at(i, hash, ptr);
                }
            }
            (true, false) => {
                if let Some(i) = self.volatile.find(hash, key) {
                    self.volatile.remove_at(i);
                    self.volatile.maybe_shrink(hash_of);
                }
            }
            (false, false) => {}
        }
    }

    pub fn remove(&mut self, hash: u64, key: &[u8], hash_of: HashFn<'_>) -> Option<Entry> {
        let i = self.main.find(hash, key)?;
        let ptr = self.main.remove_at(i);
        // SAFETY: removed from the owning table: we own it now.
        let entry = unsafe { Entry::from_raw(ptr) };
        if entry.as_ref().expire_at() != 0 {
            if let Some(j) = self.volatile.find(hash, key) {
                self.volatile.remove_at(j);
                self.volatile.maybe_shrink(hash_of);
            }
        }
        self.main.maybe_shrink(hash_of);
        Some(entry)
    }

    /// Sets (`at` > 0) or clears (`at` == 0) the expiry of an existing key.
    pub fn set_expire(&mut self, hash: u64, key: &[u8], at: u64, hash_of: HashFn<'_>) -> bool {
        let Some(i) = self.main.find(hash, key) else {
            return false;
        };
        let ptr = self.main.ptr_at(i);
        // SAFETY: `&mut self` gives exclusive access to the entry.
        let mut e = unsafe { EntryMut::from_ptr(ptr) };
        let was = e.get().expire_at() != 0;
        e.set_expire_at(at);
        // SAFETY: as above; the key bytes do not move.
        let key = unsafe { EntryRef::from_ptr(ptr) }.key();
        self.reindex(hash, key, ptr, was, at != 0, hash_of);
        true
    }

    /// A random entry of the whole database or of its volatile keys.
    pub fn random(&self, r: u64, volatile_only: bool) -> Option<EntryRef<'_>> {
        let t = if volatile_only {
            &self.volatile
        } else {
            &self.main
        };
        let i = t.random_index(r)?;
        // SAFETY: live entry, borrowed with `self`.
        Some(unsafe { EntryRef::from_ptr(t.ptr_at(i)) })
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        // SAFETY: live entries, borrowed with `self`.
        self.main.iter().map(|p| unsafe { EntryRef::from_ptr(p) })
    }

    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        hash_of: HashFn<'_>,
        visit: impl FnMut(EntryRef<'_>),
    ) -> u64 {
        self.main.scan(cursor, count, hash_of, visit)
    }

    /// Removes every entry, returning them so the caller chooses where to free them.
    pub fn take_all(&mut self) -> Vec<Entry> {
        let out = self
            .main
            .iter()
            // SAFETY: the tables are cleared below, so each entry gets one owner.
            .map(|p| unsafe { Entry::from_raw(p) })
            .collect();
        self.main.clear();
        self.volatile.clear();
        out
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::StrValue;

    fn h(k: &[u8]) -> u64 {
        k.iter()
            .fold(7u64, |a, &b| a.wrapping_mul(31).wrapping_add(b as u64))
            .rotate_left(40)
    }

    #[test]
    fn volatile_index_follows_entries() {
        let mut db = Db::default();
        let e = Entry::new(b"a", StrValue::Auto(b"1"), 0, 0);
        assert!(db.put(h(b"a"), e, &h).is_none());
        assert_eq!(db.volatile_len(), 0);
        assert!(db.set_expire(h(b"a"), b"a", 500, &h));
        assert_eq!(db.volatile_len(), 1);
        // Overwrite with an entry that keeps the TTL: index points at the new one.
        let e2 = db.get(h(b"a"), b"a").unwrap();
        let e2 = Entry::new(b"a", StrValue::Auto(b"two"), e2.expire_at(), 0);
        assert!(db.put(h(b"a"), e2, &h).is_some());
        let r = db.random(1, true).unwrap();
        assert_eq!(r.value(), crate::entry::StrRef::Bytes(b"two"));
        assert!(db.set_expire(h(b"a"), b"a", 0, &h));
        assert_eq!(db.volatile_len(), 0);
        assert!(db.set_expire(h(b"a"), b"a", 9, &h));
        assert!(db.remove(h(b"a"), b"a", &h).is_some());
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.len(), 0);
    }
}

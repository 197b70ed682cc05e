//! One key, its value and its metadata in a single heap allocation.
//!
//! The keyspace's tables hold one pointer per key, and the pointer leads here:
//!
//! ```text
//!   0..8    expire_at  u64   absolute Unix time in ms; 0 = no TTL
//!   8..12   access     u32   low 24 bits: a clock in seconds (last access for LRU,
//!                            insertion for FIFO); high 8 bits: the LFU counter
//!   12      kind       u8    Kind of the value below
//!   13..    varint key length, key bytes, then
//!           only if bit 7 of `kind` is set (a string stored by a memcached
//!           client), the memcached trailer, 17 bytes (`McMeta`):
//!             cas u64, client flags u32, last access u32 (Unix seconds),
//!             item bits u8 (fetched, stale, win token sent, binary key)
//!           then the payload:
//!             Embstr / Raw:  varint length + bytes
//!             Int:           i64, 8 bytes
//!             Object:        padding to 8-byte alignment, then the `Object`
//!                            itself (a collection's handle, 24 bytes)
//! ```
//!
//! The trailer sits between key and value, not after the value, so that a
//! memcached get finds key, flags and CAS in the cache line the key compare
//! already loaded: after a 1 KB value it was one more cache miss per get.
//!
//! Strings written over RESP carry no trailer: memcached sees them with
//! flags 0, and a CAS is given to them (by rebuilding the entry with a
//! trailer) the first time a memcached command reads them. Any RESP write
//! builds a new entry without the trailer (`with_value`, and the in-place
//! `set_int` / `raw_bytes_mut` refuse trailer entries so callers rebuild),
//! which is how a RESP write resets the flags and invalidates the CAS. A
//! 16-byte key and value with the trailer take 64 bytes (jemalloc's 64
//! class), 16 more than without.
//!
//! Costs: a 16-byte key with a 16-byte value takes 47 bytes, which jemalloc
//! serves from its 48-byte class; there is no separate key or value object, no
//! hash and no next pointer. Fields are read unaligned; the allocation itself
//! is 8-aligned so that a table may keep tag bits beside the pointer. Changing
//! a value's length reallocates the entry (`with_value`), which copies the key:
//! the price of having one allocation instead of three.
//!
//! Collections (lists, hashes, sets, sorted sets) keep their [`Object`]
//! handle (an enum of one or two words pointing at the collection's data)
//! inside the entry, so a small hash is the entry plus its packed buffer:
//! no separate box (which, at 24 bytes, would cost a 32-byte jemalloc class
//! per key; measured, that put 100,000 small hashes 2% above Redis's RSS).
//! The entry owns the object (dropping the entry drops the collection,
//! copying the entry deep-copies it, RENAME moves it) and the collection is
//! changed in place through [`EntryMut::object_mut`], so a write to a big
//! collection never reallocates the entry. `alloc_size` counts the entry
//! only, not the collection's data.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};

use crate::object::Object;

const OFF_EXPIRE: usize = 0;
const OFF_ACCESS: usize = 8;
const OFF_KIND: usize = 12;
const OFF_KEY: usize = 13;
const ALIGN: usize = 8;
/// Bit of the kind byte marking a memcached trailer between key and payload.
const MC_BIT: u8 = 0x80;
/// Size of the memcached trailer.
const MC_SIZE: usize = 17;

/// memcached's per-item metadata, kept only for strings a memcached client
/// stored (see the module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct McMeta {
    pub cas: u64,
    pub flags: u32,
    /// Last access, Unix seconds (memcached's `it->time`).
    pub atime: u32,
    /// `McMeta::FETCHED` | `STALE` | `TOKEN_SENT` | `BINARY_KEY`.
    pub bits: u8,
}

impl McMeta {
    /// Read since it was stored (memcached's ITEM_FETCHED, meta `h`).
    pub const FETCHED: u8 = 1;
    /// Invalidated by `md I` / a stale `ms I` (meta `X`).
    pub const STALE: u8 = 2;
    /// A recache win token was handed out (meta `W`, then `Z`).
    pub const TOKEN_SENT: u8 = 4;
    /// Stored with a base64 (`b`) key: `k` echoes it encoded.
    pub const BINARY_KEY: u8 = 8;
    /// The bits that outlive a restart (RDB, AOF); `FETCHED` is read state.
    pub const DURABLE_BITS: u8 = Self::STALE | Self::TOKEN_SENT | Self::BINARY_KEY;

    /// Whether this trailer holds what a plain string cannot express
    /// (non-zero flags, a durable bit): only then do the RDB and the AOF
    /// carry it (the CAS and last access are not kept across a restart).
    pub fn is_durable(&self) -> bool {
        self.flags != 0 || self.bits & Self::DURABLE_BITS != 0
    }
}

/// Strings up to this length are `embstr` in Redis's OBJECT ENCODING.
pub const EMBSTR_MAX: usize = 44;

/// How a string value is stored; named as Redis's OBJECT ENCODING names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Embstr = 0,
    Raw = 1,
    Int = 2,
    /// A collection; its encoding name comes from the object.
    Object = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Kind {
        match b & !MC_BIT {
            0 => Kind::Embstr,
            1 => Kind::Raw,
            2 => Kind::Int,
            _ => Kind::Object,
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            Kind::Embstr => "embstr",
            Kind::Raw => "raw",
            Kind::Int => "int",
            // Not a name Redis uses: ask `EntryRef::encoding_name` instead.
            Kind::Object => "object",
        }
    }
}

/// A string value to store, with the encoding rule Redis would apply.
#[derive(Clone, Copy, Debug)]
pub enum StrValue<'a> {
    /// SET and friends: `int` when the bytes are a canonical 64-bit integer of
    /// at most 20 characters, else `embstr`/`raw` by length.
    Auto(&'a [u8]),
    /// A freshly built string (INCRBYFLOAT): `embstr`/`raw` by length, never `int`.
    Plain(&'a [u8]),
    /// A string modified in place in Redis (APPEND, SETRANGE): always `raw`.
    Raw(&'a [u8]),
    /// An integer result (INCR family).
    Int(i64),
}

/// A view of a stored string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> StrRef<'a> {
    /// Bytes of the value, formatting an integer into `buf`.
    pub fn as_bytes<'b>(&self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            StrRef::Int(i) => buf.format(i).as_bytes(),
            StrRef::Bytes(b) => b,
        }
    }

    /// Length in bytes of the string form.
    pub fn len(&self) -> usize {
        match *self {
            StrRef::Int(i) => itoa::Buffer::new().format(i).len(),
            StrRef::Bytes(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses a canonical integer as Redis's string2ll does: no sign but `-`, no
/// leading zeros, no spaces, fits i64.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] < b'1' || digits[0] > b'9' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Where an inline `Object` starts after a key ending at `key_end`.
fn object_off(key_end: usize) -> usize {
    (key_end + ALIGN - 1) & !(ALIGN - 1)
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// # Safety
/// `p` must have room for `varint_len(v)` bytes.
unsafe fn write_varint(p: *mut u8, mut v: usize) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        *p.add(i) = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    *p.add(i) = v as u8;
    i + 1
}

/// # Safety
/// `p` must point at a varint written by `write_varint`.
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let mut v = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = *p.add(i);
        v |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b < 0x80 {
            return (v, i);
        }
        shift += 7;
    }
}

enum Payload<'a> {
    Bytes(Kind, &'a [u8]),
    Int(i64),
    Object(Object),
}

impl<'a> Payload<'a> {
    fn of(v: StrValue<'a>) -> Payload<'a> {
        let by_len = |b: &'a [u8]| {
            let kind = if b.len() <= EMBSTR_MAX {
                Kind::Embstr
            } else {
                Kind::Raw
            };
            Payload::Bytes(kind, b)
        };
        match v {
            StrValue::Auto(b) => match parse_canonical_i64(b) {
                Some(i) => Payload::Int(i),
                None => by_len(b),
            },
            StrValue::Plain(b) => by_len(b),
            StrValue::Raw(b) => Payload::Bytes(Kind::Raw, b),
            StrValue::Int(i) => Payload::Int(i),
        }
    }

    fn size(&self) -> usize {
        match self {
            Payload::Bytes(_, b) => varint_len(b.len()) + b.len(),
            Payload::Int(_) => 8,
            Payload::Object(_) => size_of::<Object>(),
        }
    }
}

/// An owned entry. Dropping it frees the allocation.
pub struct Entry {
    ptr: NonNull<u8>,
}

// SAFETY: an Entry owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

impl Entry {
    pub fn new(key: &[u8], value: StrValue<'_>, expire_at: u64, access: u32) -> Entry {
        Self::build(key, Payload::of(value), expire_at, access, None)
    }

    /// A string stored by a memcached client, with its trailer.
    pub fn new_mc(
        key: &[u8],
        value: StrValue<'_>,
        expire_at: u64,
        access: u32,
        mc: McMeta,
    ) -> Entry {
        Self::build(key, Payload::of(value), expire_at, access, Some(mc))
    }

    fn build(
        key: &[u8],
        payload: Payload<'_>,
        expire_at: u64,
        access: u32,
        mc: Option<McMeta>,
    ) -> Entry {
        let key_end = OFF_KEY + varint_len(key.len()) + key.len();
        let size = match payload {
            Payload::Object(_) => object_off(key_end) + payload.size(),
            _ => key_end + mc.map_or(0, |_| MC_SIZE) + payload.size(),
        };
        let layout = Layout::from_size_align(size, ALIGN).expect("entry layout");
        // SAFETY: size > 0; every byte up to `size` is written below.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            ptr::write_unaligned(p.add(OFF_EXPIRE) as *mut u64, expire_at);
            ptr::write_unaligned(p.add(OFF_ACCESS) as *mut u32, access);
            let mut off = OFF_KEY + write_varint(p.add(OFF_KEY), key.len());
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(off), key.len());
            off += key.len();
            let mc_bit = match mc {
                Some(m) => {
                    // Strings only: `size` counted the trailer before the payload.
                    write_mc(p.add(off), m);
                    off += MC_SIZE;
                    MC_BIT
                }
                None => 0,
            };
            match payload {
                Payload::Bytes(kind, b) => {
                    *p.add(OFF_KIND) = kind as u8 | mc_bit;
                    off += write_varint(p.add(off), b.len());
                    ptr::copy_nonoverlapping(b.as_ptr(), p.add(off), b.len());
                }
                Payload::Int(i) => {
                    *p.add(OFF_KIND) = Kind::Int as u8 | mc_bit;
                    ptr::write_unaligned(p.add(off) as *mut i64, i);
                }
                Payload::Object(o) => {
                    *p.add(OFF_KIND) = Kind::Object as u8;
                    // Aligned: the allocation is 8-aligned and so is the offset.
                    ptr::write(p.add(object_off(off)).cast::<Object>(), o);
                }
            }
            Entry {
                ptr: NonNull::new_unchecked(p),
            }
        }
    }

    /// A new entry holding a collection; the entry owns `obj` from now on.
    pub fn new_object(key: &[u8], obj: Object, expire_at: u64, access: u32) -> Entry {
        Self::build(key, Payload::Object(obj), expire_at, access, None)
    }

    /// A new entry with the same key, expiry and access data but another value.
    pub fn with_value(&self, value: StrValue<'_>) -> Entry {
        let r = self.as_ref();
        Self::build(r.key(), Payload::of(value), r.expire_at(), r.access(), None)
    }

    /// This entry under another key (RENAME): the value moves, a collection
    /// is handed over, not copied.
    pub fn into_key(self, key: &[u8]) -> Entry {
        let r = self.as_ref();
        let Some(o) = r.object_ptr() else {
            return r.copy_with_key(key);
        };
        let size = r.alloc_size();
        // SAFETY: the object is moved out exactly once; the old allocation is
        // then freed without dropping it again.
        let obj = unsafe { ptr::read(o.as_ptr()) };
        let moved = Self::build(key, Payload::Object(obj), r.expire_at(), r.access(), None);
        let old = self.ptr;
        std::mem::forget(self);
        // SAFETY: allocated in `build` with this size and alignment.
        unsafe { dealloc(old.as_ptr(), Layout::from_size_align_unchecked(size, ALIGN)) };
        moved
    }

    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            ptr: self.ptr,
            _life: PhantomData,
        }
    }

    pub fn as_mut(&mut self) -> EntryMut<'_> {
        EntryMut {
            ptr: self.ptr,
            _life: PhantomData,
        }
    }

    /// Gives up ownership; the table stores the pointer.
    pub fn into_raw(self) -> NonNull<u8> {
        let p = self.ptr;
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `ptr` must come from `into_raw` and not be owned by anything else.
    pub unsafe fn from_raw(ptr: NonNull<u8>) -> Entry {
        Entry { ptr }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(o) = self.as_ref().object_ptr() {
            // SAFETY: the entry owns the object written in `build`.
            unsafe { ptr::drop_in_place(o.as_ptr()) };
        }
        let size = self.as_ref().alloc_size();
        // SAFETY: allocated in `build` with this exact size and alignment.
        unsafe {
            dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(size, ALIGN),
            )
        }
    }
}

/// # Safety
/// `p` must have room for `MC_SIZE` bytes.
unsafe fn write_mc(p: *mut u8, m: McMeta) {
    ptr::write_unaligned(p as *mut u64, m.cas);
    ptr::write_unaligned(p.add(8) as *mut u32, m.flags);
    ptr::write_unaligned(p.add(12) as *mut u32, m.atime);
    *p.add(16) = m.bits;
}

/// A shared view of an entry owned by a table.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    ptr: NonNull<u8>,
    _life: PhantomData<&'a Entry>,
}

impl<'a> EntryRef<'a> {
    /// # Safety
    /// `ptr` must point at a live entry that outlives `'a`.
    pub unsafe fn from_ptr(ptr: NonNull<u8>) -> EntryRef<'a> {
        EntryRef {
            ptr,
            _life: PhantomData,
        }
    }

    fn p(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub fn expire_at(&self) -> u64 {
        // SAFETY: header bytes exist in every entry.
        unsafe { ptr::read_unaligned(self.p().add(OFF_EXPIRE) as *const u64) }
    }

    pub fn access(&self) -> u32 {
        // SAFETY: as above.
        unsafe { ptr::read_unaligned(self.p().add(OFF_ACCESS) as *const u32) }
    }

    pub fn kind(&self) -> Kind {
        // SAFETY: as above.
        Kind::from_byte(unsafe { *self.p().add(OFF_KIND) })
    }

    /// (offset of key bytes, key length)
    fn key_span(&self) -> (usize, usize) {
        // SAFETY: the key length varint follows the header.
        let (len, n) = unsafe { read_varint(self.p().add(OFF_KEY)) };
        (OFF_KEY + n, len)
    }

    pub fn key(&self) -> &'a [u8] {
        let (off, len) = self.key_span();
        // SAFETY: the key bytes were written at this span.
        unsafe { std::slice::from_raw_parts(self.p().add(off), len) }
    }

    /// Where the key ends (and the memcached trailer, if any, starts).
    fn key_end(&self) -> usize {
        let (off, len) = self.key_span();
        off + len
    }

    fn payload_off(&self) -> usize {
        self.key_end() + if self.has_mc() { MC_SIZE } else { 0 }
    }

    /// The string value. A collection has none and reads as an empty
    /// string: commands check the type first (the server's `str_of`).
    pub fn value(&self) -> StrRef<'a> {
        let off = self.payload_off();
        // SAFETY: the payload matches the kind byte, written in `build`.
        unsafe {
            match self.kind() {
                Kind::Int => StrRef::Int(ptr::read_unaligned(self.p().add(off) as *const i64)),
                Kind::Object => StrRef::Bytes(&[]),
                _ => {
                    let (len, n) = read_varint(self.p().add(off));
                    StrRef::Bytes(std::slice::from_raw_parts(self.p().add(off + n), len))
                }
            }
        }
    }

    fn object_ptr(&self) -> Option<NonNull<Object>> {
        if self.kind() != Kind::Object {
            return None;
        }
        let off = object_off(self.payload_off());
        // SAFETY: an Object payload was written at this aligned offset in `build`.
        Some(unsafe { NonNull::new_unchecked(self.p().add(off) as *mut Object) })
    }

    /// The collection this entry holds, if it holds one.
    pub fn object(&self) -> Option<&'a Object> {
        // SAFETY: the entry owns the object for as long as it lives ('a).
        self.object_ptr().map(|p| unsafe { &*p.as_ptr() })
    }

    /// The value's OBJECT ENCODING name (`embstr`, `int`, `listpack`, ...).
    pub fn encoding_name(&self) -> &'static str {
        match self.object() {
            Some(o) => o.encoding(),
            None => self.kind().encoding_name(),
        }
    }

    /// A new entry with this value, encoding, expiry and access data under
    /// `key` (RENAME; COPY from a table-owned entry). A collection is
    /// deep-copied.
    pub fn copy_with_key(&self, key: &[u8]) -> Entry {
        if let Some(o) = self.object() {
            return Entry::new_object(key, o.clone(), self.expire_at(), self.access());
        }
        let payload = match self.value() {
            StrRef::Int(i) => Payload::Int(i),
            StrRef::Bytes(b) => Payload::Bytes(self.kind(), b),
        };
        Entry::build(key, payload, self.expire_at(), self.access(), None)
    }

    /// This string entry with a memcached trailer added or replaced (same
    /// key, value, encoding, expiry and access data). None for a collection.
    pub fn with_mc(&self, mc: McMeta) -> Option<Entry> {
        let payload = match self.value() {
            _ if self.kind() == Kind::Object => return None,
            StrRef::Int(i) => Payload::Int(i),
            StrRef::Bytes(b) => Payload::Bytes(self.kind(), b),
        };
        Some(Entry::build(
            self.key(),
            payload,
            self.expire_at(),
            self.access(),
            Some(mc),
        ))
    }

    fn has_mc(&self) -> bool {
        // SAFETY: header bytes exist in every entry.
        unsafe { *self.p().add(OFF_KIND) & MC_BIT != 0 }
    }

    /// The memcached trailer, for strings a memcached client stored.
    pub fn mc(&self) -> Option<McMeta> {
        if !self.has_mc() {
            return None;
        }
        let p = self.p().wrapping_add(self.key_end());
        // SAFETY: `build` wrote MC_SIZE trailer bytes after the key.
        unsafe {
            Some(McMeta {
                cas: ptr::read_unaligned(p as *const u64),
                flags: ptr::read_unaligned(p.add(8) as *const u32),
                atime: ptr::read_unaligned(p.add(12) as *const u32),
                bits: *p.add(16),
            })
        }
    }

    /// Bytes this entry's allocation asked for: where its payload ends.
    pub fn alloc_size(&self) -> usize {
        let off = self.payload_off();
        match self.kind() {
            Kind::Int => off + 8,
            Kind::Object => object_off(off) + size_of::<Object>(),
            _ => {
                // SAFETY: the payload length varint starts the payload.
                let (len, n) = unsafe { read_varint(self.p().add(off)) };
                off + n + len
            }
        }
    }
}

/// An exclusive view of an entry owned by a table: metadata can change in place.
pub struct EntryMut<'a> {
    ptr: NonNull<u8>,
    _life: PhantomData<&'a mut Entry>,
}

impl<'a> EntryMut<'a> {
    /// # Safety
    /// `ptr` must point at a live entry that outlives `'a`, not otherwise borrowed.
    pub unsafe fn from_ptr(ptr: NonNull<u8>) -> EntryMut<'a> {
        EntryMut {
            ptr,
            _life: PhantomData,
        }
    }

    pub fn get(&self) -> EntryRef<'_> {
        EntryRef {
            ptr: self.ptr,
            _life: PhantomData,
        }
    }

    /// Downgrades to a shared view for the rest of `'a`.
    pub fn into_ref(self) -> EntryRef<'a> {
        EntryRef {
            ptr: self.ptr,
            _life: PhantomData,
        }
    }

    pub fn set_expire_at(&mut self, at: u64) {
        // SAFETY: header bytes exist; we hold the only reference.
        unsafe { ptr::write_unaligned(self.ptr.as_ptr().add(OFF_EXPIRE) as *mut u64, at) }
    }

    pub fn set_access(&mut self, access: u32) {
        // SAFETY: as above.
        unsafe { ptr::write_unaligned(self.ptr.as_ptr().add(OFF_ACCESS) as *mut u32, access) }
    }

    /// The collection this entry holds, for a change in place.
    pub fn object_mut(&mut self) -> Option<&mut Object> {
        // SAFETY: the entry owns the object and we hold the only reference.
        self.get().object_ptr().map(|p| unsafe { &mut *p.as_ptr() })
    }

    /// Consumes the view, keeping the collection borrowed for all of `'a`.
    pub fn into_object_mut(self) -> Option<&'a mut Object> {
        // SAFETY: as `object_mut`, for the view's whole lifetime.
        self.get().object_ptr().map(|p| unsafe { &mut *p.as_ptr() })
    }

    /// Rewrites the memcached trailer in place; false if there is none.
    pub fn set_mc(&mut self, m: McMeta) -> bool {
        let r = self.get();
        if !r.has_mc() {
            return false;
        }
        let at = r.key_end();
        // SAFETY: the trailer's MC_SIZE bytes follow the key; we hold the
        // only reference.
        unsafe { write_mc(self.ptr.as_ptr().add(at), m) };
        true
    }

    /// Overwrites an `Int` value in place. Returns false if the entry is not
    /// `Int`, or carries a memcached trailer (whose CAS the write must reset).
    pub fn set_int(&mut self, v: i64) -> bool {
        if self.get().kind() != Kind::Int || self.get().has_mc() {
            return false;
        }
        let off = self.get().payload_off();
        // SAFETY: an Int payload is 8 bytes at `off`.
        unsafe { ptr::write_unaligned(self.ptr.as_ptr().add(off) as *mut i64, v) };
        true
    }

    /// The bytes of a `Raw` string, for an edit that keeps its length
    /// (SETBIT, BITFIELD, PFADD on a dense HLL). None for other kinds: Redis
    /// turns those into `raw` strings first, which here means a new entry.
    pub fn raw_bytes_mut(&mut self) -> Option<&mut [u8]> {
        if self.get().kind() != Kind::Raw || self.get().has_mc() {
            return None;
        }
        let off = self.get().payload_off();
        // SAFETY: a Raw payload is a varint length then that many bytes, and
        // we hold the only reference to the entry.
        unsafe {
            let p = self.ptr.as_ptr().add(off);
            let (len, n) = read_varint(p);
            Some(std::slice::from_raw_parts_mut(p.add(n), len))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_encodings() {
        let e = Entry::new(
            b"key:000000000001",
            StrValue::Auto(b"value:0000000001"),
            0,
            7,
        );
        let r = e.as_ref();
        assert_eq!(r.key(), b"key:000000000001");
        assert_eq!(r.value(), StrRef::Bytes(b"value:0000000001"));
        assert_eq!(r.kind(), Kind::Embstr);
        assert_eq!(r.alloc_size(), 47);
        assert_eq!(r.access(), 7);

        let i = Entry::new(b"n", StrValue::Auto(b"-42"), 99, 0);
        assert_eq!(i.as_ref().value(), StrRef::Int(-42));
        assert_eq!(i.as_ref().expire_at(), 99);
        for s in [
            &b"042"[..],
            b"+1",
            b" 1",
            b"1 ",
            b"",
            b"-0",
            b"99999999999999999999",
        ] {
            let e = Entry::new(b"k", StrValue::Auto(s), 0, 0);
            assert_ne!(e.as_ref().kind(), Kind::Int, "{:?}", s);
        }
        let big = vec![b'x'; 45];
        assert_eq!(
            Entry::new(b"k", StrValue::Auto(&big), 0, 0).as_ref().kind(),
            Kind::Raw
        );
        assert_eq!(
            Entry::new(b"k", StrValue::Raw(b"a"), 0, 0).as_ref().kind(),
            Kind::Raw
        );
        assert_eq!(
            Entry::new(b"k", StrValue::Plain(b"12"), 0, 0)
                .as_ref()
                .kind(),
            Kind::Embstr
        );
    }

    #[test]
    fn long_keys_and_in_place_updates() {
        let key = vec![7u8; 300];
        let val = vec![9u8; 70_000];
        let mut e = Entry::new(&key, StrValue::Auto(&val), 5, 1);
        assert_eq!(e.as_ref().key(), &key[..]);
        assert_eq!(e.as_ref().value(), StrRef::Bytes(&val));
        e.as_mut().set_expire_at(123);
        e.as_mut().set_access(u32::MAX);
        assert!(!e.as_mut().set_int(3));
        let f = e.with_value(StrValue::Int(10));
        assert_eq!(f.as_ref().expire_at(), 123);
        assert_eq!(f.as_ref().key(), &key[..]);
        let mut f = f;
        assert!(f.as_mut().set_int(11));
        assert_eq!(f.as_ref().value(), StrRef::Int(11));
    }

    #[test]
    fn object_entries_own_their_collection() {
        use crate::types::list::{End, List};
        let mut l = List::new();
        l.push(End::Tail, b"x", -2);
        let e = Entry::new_object(b"key", Object::List(l), 7, 9);
        let r = e.as_ref();
        assert_eq!(r.kind(), Kind::Object);
        assert_eq!(r.encoding_name(), "quicklist");
        assert_eq!(r.object().map(Object::len), Some(1));
        assert_eq!(r.value(), StrRef::Bytes(b""));
        // 13-byte header, 1 + 3 key bytes, padding to 24, then the object.
        assert_eq!(r.alloc_size(), 24 + size_of::<Object>());
        let c = r.copy_with_key(b"copy");
        let mut m = e.into_key(b"moved-to-a-longer-key");
        assert_eq!(m.as_ref().key(), b"moved-to-a-longer-key");
        assert_eq!((m.as_ref().expire_at(), m.as_ref().access()), (7, 9));
        if let Some(Object::List(l)) = m.as_mut().object_mut() {
            l.push(End::Head, b"y", -2);
        }
        assert_eq!(m.as_ref().object().map(Object::len), Some(2));
        assert_eq!(c.as_ref().object().map(Object::len), Some(1));
        assert!(!m.as_mut().set_int(1));
        let s = m.with_value(StrValue::Auto(b"now a string"));
        assert_eq!(s.as_ref().kind(), Kind::Embstr);
    }

    #[test]
    fn memcached_trailer() {
        let m = McMeta {
            cas: 77,
            flags: 5,
            atime: 9,
            bits: McMeta::FETCHED,
        };
        let mut e = Entry::new_mc(
            b"key:000000000001",
            StrValue::Auto(b"value:0000000001"),
            0,
            3,
            m,
        );
        assert_eq!(e.as_ref().alloc_size(), 64);
        assert_eq!(e.as_ref().kind(), Kind::Embstr);
        assert_eq!(e.as_ref().value(), StrRef::Bytes(b"value:0000000001"));
        assert_eq!(e.as_ref().mc(), Some(m));
        let m2 = McMeta { cas: 78, ..m };
        assert!(e.as_mut().set_mc(m2));
        assert_eq!(e.as_ref().mc(), Some(m2));
        // A RESP write drops the trailer.
        let f = e.with_value(StrValue::Auto(b"x"));
        assert_eq!(f.as_ref().mc(), None);
        let mut i = Entry::new_mc(b"n", StrValue::Auto(b"12"), 0, 0, m);
        assert_eq!(i.as_ref().value(), StrRef::Int(12));
        assert!(!i.as_mut().set_int(13));
        let mut r = Entry::new_mc(b"r", StrValue::Raw(b"ab"), 0, 0, m);
        assert!(r.as_mut().raw_bytes_mut().is_none());
        let c = r.as_ref().copy_with_key(b"c");
        assert_eq!(c.as_ref().mc(), None);
        let u = c.as_ref().with_mc(m).unwrap();
        assert_eq!((u.as_ref().mc(), u.as_ref().kind()), (Some(m), Kind::Raw));
        assert_eq!(c.as_ref().value(), StrRef::Bytes(b"ab"));
    }

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-"), None);
    }
}

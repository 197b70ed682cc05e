//! memcached writes in the append-only file.
//!
//! The AOF is a stream of Redis commands (`propagate.rs`). A memcached
//! write is logged at once, while its key's shard is still locked (so the
//! stream keeps each key's order), as the command that rebuilds its
//! effect, with absolute times only:
//!
//! | effect | logged as |
//! |---|---|
//! | an item stored or changed (set add replace append prepend cas incr decr, ms, ma, mg `N`, md `I`, a recache win) | `SET key value [PXAT ms]` when a plain string says it all (flags 0, no durable meta bit); else `LARDER.MCSET key value flags bits expire-at-ms` |
//! | an item removed (delete, md, an exptime in the past, a refused `set`) | `DEL key` |
//! | a TTL changed (touch, gat, gats, mg `T`) | `PEXPIREAT key ms`, or `PERSIST key` |
//! | flush_all | `FLUSHDB` in database 0 (a delayed one when it runs) |
//!
//! `LARDER.MCSET` is not a client command: the AOF loader runs it here
//! ([`load_item`]), storing the item with those flags and bits (stale,
//! win token sent, binary key; `McMeta::DURABLE_BITS`) and a fresh CAS.
//! Reads are not logged, nor what they change that does not outlive a
//! restart (the fetched bit, last access); nor are CAS uniques (the counter
//! is seeded from the clock at start, so none repeats). The AOF base keeps
//! the same state: as RDB (`larder-mc` AUX fields, `rdb/mod.rs`) or, with
//! `aof-use-rdb-preamble no`, as these commands.
//!
//! Cost when the AOF is off: a relaxed load and a branch per write. When
//! on: one append to the feed per write, under the feed's mutex.

use larder_engine::{EntryRef, Key, Lookup, McMeta, StrRef, StrValue, Txn};
use larder_resp::Args;

use super::exec::Session;
use crate::shared::Shared;

/// The Larder-only AOF command for an item with flags or durable bits.
pub const MCSET: &[u8] = b"LARDER.MCSET";

/// Calls `f` with the command that recreates the string entry `e` (`SET`
/// or `LARDER.MCSET`); None for a collection.
pub fn with_item_command<R>(e: &EntryRef<'_>, f: impl FnOnce(&[&[u8]]) -> R) -> Option<R> {
    if e.object().is_some() {
        return None;
    }
    let mut vbuf = itoa::Buffer::new();
    let value = match e.value() {
        StrRef::Int(i) => vbuf.format(i).as_bytes(),
        StrRef::Bytes(b) => b,
    };
    let mut abuf = itoa::Buffer::new();
    let at = abuf.format(e.expire_at()).as_bytes();
    Some(match e.mc().filter(McMeta::is_durable) {
        Some(m) => {
            let (mut fbuf, mut bbuf) = (itoa::Buffer::new(), itoa::Buffer::new());
            let flags = fbuf.format(m.flags).as_bytes();
            let bits = bbuf.format(m.bits & McMeta::DURABLE_BITS).as_bytes();
            f(&[MCSET, e.key(), value, flags, bits, at])
        }
        None if e.expire_at() == 0 => f(&[b"SET", e.key(), value]),
        None => f(&[b"SET", e.key(), value, b"PXAT", at]),
    })
}

/// Runs a `LARDER.MCSET` read from the AOF, in database `db`.
pub fn load_item(shared: &Shared, db: usize, args: &Args<'_>) -> Result<(), &'static str> {
    fn num<T: std::str::FromStr>(a: Option<&[u8]>) -> Option<T> {
        std::str::from_utf8(a?).ok()?.parse().ok()
    }
    let (Some(key), Some(value), Some(flags), Some(bits), Some(at), 6) = (
        args.get(1),
        args.get(2),
        num::<u32>(args.get(3)),
        num::<u8>(args.get(4)),
        num::<u64>(args.get(5)),
        args.len(),
    ) else {
        return Err("malformed LARDER.MCSET");
    };
    let engine = &shared.engine;
    let key = engine.key(key);
    let mc = engine.restored_mc(flags, bits);
    engine
        .lock_key(db, &key)
        .set_mc(&key, StrValue::Auto(value), at, mc);
    Ok(())
}

impl Session<'_> {
    /// Whether writes are being logged (the AOF is on).
    fn logging(&self) -> bool {
        self.shared.engine.events.writes.on()
    }

    /// Logs `args` (a command in database 0).
    pub(super) fn log(&mut self, args: &[&[u8]]) {
        if self.logging() {
            let feed = &self.shared.propagate.feed;
            feed.append_command(0, args.iter().copied(), &mut self.aof_wait);
        }
    }

    /// Logs the item at `key` as it now is.
    pub(super) fn log_item(&mut self, txn: &mut Txn<'_>, key: &Key<'_>) {
        if !self.logging() {
            return;
        }
        let Some(e) = txn.lookup(key, Lookup::Peek) else {
            return;
        };
        let (feed, wait) = (&self.shared.propagate.feed, &mut self.aof_wait);
        with_item_command(&e.into_ref(), |args| {
            feed.append_command(0, args.iter().copied(), wait)
        });
    }

    /// Logs a new TTL of `key` (`expire_at` 0: none).
    pub(super) fn log_ttl(&mut self, key: &[u8], expire_at: u64) {
        if expire_at == 0 {
            self.log(&[b"PERSIST", key]);
        } else {
            let mut buf = itoa::Buffer::new();
            self.log(&[b"PEXPIREAT", key, buf.format(expire_at).as_bytes()]);
        }
    }
}

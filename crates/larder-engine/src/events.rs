//! Keyspace events: the engine's side of Redis's keyspace notifications.
//!
//! The server installs one [`EventSink`] at startup and mirrors
//! `notify-keyspace-events` into an atomic set of class flags (Redis's
//! `NOTIFY_*` bits). Whoever changes a key — a command, lazy or active
//! expiry, eviction — calls [`Events::emit`] with the event's class; when the
//! class is off (the default: every class) that is one relaxed atomic load and
//! a branch, so notifications cost nothing unless enabled. The sink is called
//! while the caller holds its shard locks, in the order the changes happen;
//! it must not lock shards itself.
//!
//! An optional eviction hook sees each evicted entry before it is freed
//! (memcached's `watch evictions` log line needs its metadata).
//!
//! [`Writes`] is the sibling hook for write propagation (the AOF, later
//! replicas): it is told, under the shard locks, about every key deleted by
//! lazy or active expiry or by eviction, and about every [`Txn`] that is
//! about to release its locks with how many writes it made. It is off unless
//! the server turns it on: one relaxed load and a branch per lock release.
//!
//! [`Txn`]: crate::txn::Txn

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::OnceLock;

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// `A`: every class but key-miss and new.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Receives the events of enabled classes.
pub trait EventSink: Send + Sync {
    /// `key` in database `db` had event `event` (e.g. "set", "expired");
    /// `flags` are the enabled classes (KEYSPACE and KEYEVENT say on which
    /// channels to publish it).
    fn event(&self, flags: u32, event: &str, db: usize, key: &[u8]);
}

/// Sees every evicted entry just before it is freed (memcached's `watch
/// evictions`), under the shard lock: it must not lock shards.
pub type EvictionHook = Box<dyn Fn(usize, crate::entry::EntryRef<'_>) + Send + Sync>;

#[derive(Default)]
pub struct Events {
    /// Enabled classes; 0 unless at least one of K and E is on.
    flags: AtomicU32,
    sink: OnceLock<Box<dyn EventSink>>,
    /// Write propagation (AOF, replicas).
    pub writes: Writes,
    evicted: OnceLock<EvictionHook>,
}

/// Receives the engine's side of write propagation (see the module comment).
/// Both calls happen while the caller holds the shard locks involved.
pub trait WriteSink: Send + Sync {
    /// `key` of database `db` was deleted by expiry or eviction (Redis
    /// propagates a DEL for it).
    fn deleted(&self, db: usize, key: &[u8]);
    /// A command's [`Txn`](crate::txn::Txn) is about to release its locks,
    /// after `changes` writes (0 for a read).
    fn releasing(&self, changes: u32);
}

/// The write propagation switch and sink.
#[derive(Default)]
pub struct Writes {
    on: AtomicBool,
    /// Replaying the AOF: keys do not expire lazily (Redis's `loading`).
    loading: AtomicBool,
    sink: OnceLock<Box<dyn WriteSink>>,
}

impl Writes {
    /// Installs the sink (once; later calls are ignored).
    pub fn set_sink(&self, sink: Box<dyn WriteSink>) {
        let _ = self.sink.set(sink);
    }

    pub fn set_on(&self, on: bool) {
        self.on.store(on, Relaxed);
    }

    /// Whether writes are propagated.
    #[inline]
    pub fn on(&self) -> bool {
        self.on.load(Relaxed)
    }

    pub fn set_loading(&self, loading: bool) {
        self.loading.store(loading, Relaxed);
    }

    /// Whether the keyspace is being loaded (no lazy expiry).
    pub fn loading(&self) -> bool {
        self.loading.load(Relaxed)
    }

    /// Reports a deletion by expiry or eviction, if propagation is on.
    #[inline]
    pub fn deleted(&self, db: usize, key: &[u8]) {
        if self.on() {
            if let Some(s) = self.sink.get() {
                s.deleted(db, key);
            }
        }
    }

    /// Reports a lock release, if propagation is on.
    #[inline]
    pub fn releasing(&self, changes: u32) {
        if self.on() {
            if let Some(s) = self.sink.get() {
                s.releasing(changes);
            }
        }
    }
}

impl Events {
    /// Installs the sink (once; later calls are ignored).
    pub fn set_sink(&self, sink: Box<dyn EventSink>) {
        let _ = self.sink.set(sink);
    }

    /// Installs the eviction hook (once; later calls are ignored).
    pub fn set_eviction_hook(&self, hook: EvictionHook) {
        let _ = self.evicted.set(hook);
    }

    /// Shows an evicted entry of database `db` to the eviction hook.
    pub fn evicting(&self, db: usize, e: crate::entry::EntryRef<'_>) {
        if let Some(hook) = self.evicted.get() {
            hook(db, e);
        }
    }

    /// Sets the enabled classes from Redis's flag bits.
    pub fn set_flags(&self, flags: u32) {
        let on = flags & (KEYSPACE | KEYEVENT) != 0;
        self.flags.store(if on { flags } else { 0 }, Relaxed);
    }

    /// The enabled classes (0 when notifications are off).
    pub fn flags(&self) -> u32 {
        self.flags.load(Relaxed)
    }

    /// Whether events of `class` are delivered.
    #[inline]
    pub fn wants(&self, class: u32) -> bool {
        self.flags.load(Relaxed) & class != 0
    }

    /// Reports an event if its class is enabled.
    #[inline]
    pub fn emit(&self, class: u32, event: &str, db: usize, key: &[u8]) {
        let flags = self.flags.load(Relaxed);
        if flags & class != 0 {
            if let Some(s) = self.sink.get() {
                s.event(flags, event, db, key);
            }
        }
    }
}

/// Redis's keyspaceEventsStringToFlags: `None` on an unknown letter.
pub fn parse_flags(s: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &c in s {
        flags |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Redis's keyspaceEventsFlagsToString.
pub fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis() {
        assert_eq!(
            parse_flags(b"KEA").map(flags_to_string).as_deref(),
            Some("AKE")
        );
        assert_eq!(
            parse_flags(b"Eg$x").map(flags_to_string).as_deref(),
            Some("g$xE")
        );
        assert_eq!(
            parse_flags(b"nmK").map(flags_to_string).as_deref(),
            Some("nKm")
        );
        assert_eq!(parse_flags(b""), Some(0));
        assert_eq!(parse_flags(b"Q"), None);
    }

    #[test]
    fn off_without_keyspace_or_keyevent() {
        let e = Events::default();
        e.set_flags(GENERIC);
        assert!(!e.wants(GENERIC));
        e.set_flags(GENERIC | KEYEVENT);
        assert!(e.wants(GENERIC));
        assert!(!e.wants(STRING));
    }
}

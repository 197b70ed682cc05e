//! Redis's RDB format (version 10, as Redis 7.0 writes it), for snapshot
//! files and for the DUMP / RESTORE payload.
//!
//! ```text
//!   file     "REDIS0010"  AUX*  { SELECTDB db [RESIZEDB n e] pair* }*  EOF  crc64 (u64 LE)
//!   pair     [AUX "larder-mc" "<flags> <bits>"] [EXPIRETIME_MS u64 LE] [IDLE len | FREQ u8]  type  key  value
//!   payload  type  value  version (u16 LE)  crc64 (u64 LE)        (DUMP)
//! ```
//!
//! - [`write`]: the encoders: lengths, strings (integer encodings, LZF when
//!   `rdbcompression` is on and the string is over 20 bytes), each value
//!   type, the header and one key/value pair. Types written: STRING; lists
//!   as QUICKLIST_2 of listpack nodes; small hashes / sorted sets as
//!   HASH_LISTPACK / ZSET_LISTPACK, large ones as HASH / ZSET_2; sets as
//!   SET_INTSET or SET; streams as STREAM_LISTPACKS_2 — all loadable by Redis 7.0.
//! - [`read`]: a bounded, checksumming reader over any `io::Read`, the value
//!   decoders for every type Redis 7.0 (and 7.2's SET_LISTPACK) writes, and
//!   the whole-file loader into an [`Engine`](crate::Engine).
//! - [`packed`]: the blob formats inside values: listpack (read and write),
//!   ziplist, zipmap and intset (read; intset also written).
//! - [`lzf`]: liblzf-compatible compression and decompression.
//!
//! The snapshot that produces files from a live keyspace is in
//! [`crate::snapshot`]. Every read checks lengths against the bytes that are
//! left before allocating, so a corrupt or hostile file costs at most its own
//! size in memory and ends in an [`RdbError`] naming the byte offset.

pub mod lzf;
pub mod packed;
pub mod read;
pub mod write;

pub use read::{load, load_with, LoadOptions, LoadReport};
pub use write::{RdbOptions, RdbSink, ReplAux};

/// Redis 7.0's RDB_VERSION: written into files and DUMP payloads.
pub const RDB_VERSION: u16 = 10;
/// The newest file version read (7.2 added SET_LISTPACK under version 11).
pub const RDB_VERSION_MAX_READ: u16 = 11;

/// Value types (`RDB_TYPE_*`).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// File opcodes (`RDB_OPCODE_*`).
pub mod opcodes {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// The AUX field Larder writes before a string a memcached client stored
/// with non-zero flags or meta bits (`McMeta::is_durable`): its value is
/// `"<flags> <bits>"` in decimal. Redis ignores AUX fields it does not know
/// (the RDB contract), so files stay loadable there; the field applies to
/// the next key only.
pub const MC_AUX: &[u8] = b"larder-mc";

/// Quicklist node containers in QUICKLIST_2.
pub(crate) const QUICKLIST_PLAIN: u64 = 1;
pub(crate) const QUICKLIST_PACKED: u64 = 2;

/// A refused or unreadable file or payload: what, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} (at byte offset {offset})")]
pub struct RdbError {
    /// Byte offset in the input where the problem was found.
    pub offset: u64,
    pub msg: String,
    /// An empty collection: Redis skips such a key when loading a file
    /// (and refuses it in RESTORE).
    pub empty_key: bool,
}

impl RdbError {
    pub fn new(offset: u64, msg: impl Into<String>) -> RdbError {
        RdbError {
            offset,
            msg: msg.into(),
            empty_key: false,
        }
    }
}

//! The collection types behind [`crate::object::Object`], each with a
//! compact encoding for small values and a real structure for large ones,
//! converting at the points Redis 7.0 does (so OBJECT ENCODING agrees):
//!
//! - [`thin`]: an exactly-sized byte buffer behind a thin pointer;
//! - [`gap`]: a byte buffer with room at both ends (list nodes);
//! - [`pack`]: a listpack-like run of byte strings, in an exact allocation
//!   or a [`gap`] buffer;
//! - [`intset`]: sorted integers at the narrowest width;
//! - [`dict`]: a SCAN-safe open-addressing table of thin pointers, and the
//!   blobs it holds for sets and hashes;
//! - [`scoretree`]: a counted B+tree of member records in (score, member)
//!   order;
//! - [`list`], [`hash`], [`set`], [`zset`], [`stream`]: the types themselves.

pub mod dict;
pub mod gap;
pub mod hash;
pub mod intset;
pub mod list;
pub mod pack;
pub mod scoretree;
pub mod set;
pub mod stream;
pub mod stream_rdb;
pub mod thin;
pub mod zset;

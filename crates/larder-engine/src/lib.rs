//! Larder's storage engine: the keyspace, its values, expiry, memory
//! accounting and eviction. Synchronous and protocol-free; the server locks
//! shards through [`Engine`] and works on keys through a [`Txn`].
//!
//! Map of the crate, bottom up:
//! - [`entry`]: one key + value + metadata in a single allocation;
//! - [`table`]: the open-addressing table of entry pointers (SCAN-safe);
//! - [`db`]: one database in one shard: entries plus the volatile index;
//! - [`keyspace`]: shards, hashing, locking, counters;
//! - [`hold`], [`watch`]: shard sets held across a MULTI/EXEC or script,
//!   and the per-key versions behind WATCH;
//! - [`txn`]: lookups and writes with lazy expiry and access tracking;
//! - [`scan`], [`expire`], [`evict`]: walking, active expiry, `maxmemory`;
//! - [`access`], [`config`], [`glob`]: clocks and counters, runtime settings,
//!   Redis-style pattern matching;
//! - [`bitops`], [`hll`]: bitmap arithmetic and Redis's HyperLogLog
//!   encodings over string values; [`geohash`]: GEO's encoding and cell
//!   search over sorted sets;
//! - [`events`]: keyspace events (notifications) and the sink the server installs;
//! - [`tracking`]: which clients may cache which keys (CLIENT TRACKING);
//! - [`rdb`], [`dump`]: Redis's RDB format (files, and the DUMP/RESTORE
//!   payload), and [`snapshot`]: fork-less point-in-time images of the keyspace;
//! - [`policy`]: exact and sampled replacement policies over abstract keys,
//!   for the simulator and as the reference for the server's eviction.

pub mod access;
pub mod bitops;
pub mod config;
pub mod db;
pub mod digest;
pub mod dump;
pub mod entry;
pub mod events;
pub mod evict;
pub mod expire;
pub mod geohash;
pub mod glob;
pub mod hll;
pub mod hold;
pub mod keyspace;
pub mod object;
pub mod policy;
pub mod rdb;
pub mod rng;
pub mod scan;
pub mod sizeclass;
pub mod snapshot;
pub mod table;
pub mod tracking;
pub mod txn;
pub mod types;
pub mod watch;

pub use config::Limits;
pub use entry::{Entry, EntryMut, EntryRef, Kind, McMeta, StrRef, StrValue};
pub use evict::{OutOfMemory, Policy};
pub use keyspace::{Engine, EngineOptions, Key, Stats};
pub use object::{ObjType, Object};
pub use txn::{Lookup, Ttl, Txn, WrongType};

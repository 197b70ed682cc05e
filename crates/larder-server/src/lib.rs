//! Larder's server: sockets, connections, the command table and the commands.
//!
//! - [`server`]: listeners, accept loop, cron, shutdown;
//! - [`conn`]: one connection's read–parse–run–reply loop;
//! - [`unsent`]: its replies the socket has not taken yet;
//! - [`dispatch`]: lookup, arity, auth, `maxmemory`, counters around a handler;
//! - [`acl`]: users, rules and the permission check (ACL);
//! - [`command`]: the table, flags, and the [`command::Ctx`] handlers receive;
//! - [`commands`]: one module per command family;
//! - [`client`], [`shared`], [`config`]: per-client and server-wide state;
//! - [`slowlog`], [`monitor`]: SLOWLOG and MONITOR;
//! - [`blocking`]: clients blocked on keys (BLPOP and co.);
//! - [`pubsub`], [`notify`]: channels, push queues, keyspace notifications;
//! - [`longdouble`]: software x87 `long double` for INCRBYFLOAT;
//! - [`alloc`]: the counting allocator behind `used_memory`.

pub mod acl;
pub mod admin;
pub mod alloc;
pub mod blocking;
pub mod client;
pub mod client_eviction;
pub mod command;
pub mod commands;
pub mod config;
pub mod conn;
pub mod directives;
mod directives_compat;
pub mod dispatch;
pub mod error;
pub mod idle_poll;
pub mod keyspecs;
pub mod longdouble;
pub mod memcache;
pub mod monitor;
pub mod notify;
pub mod oom;
pub mod pause;
pub mod persist;
pub mod propagate;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod shared;
pub mod signal;
pub mod slowlog;
pub mod tracking;
pub mod unsent;

pub use config::Config;
pub use server::Server;
pub use shared::Shared;

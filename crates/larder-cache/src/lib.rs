//! larder-cache: caching patterns for applications, over any RESP server
//! (Larder, Redis, Valkey) or a Redis Cluster, in front of a database.
//!
//! ```no_run
//! use std::time::Duration;
//! use larder_cache::{Cache, Invalidation};
//!
//! # async fn demo() -> larder_cache::Result<()> {
//! let users = Cache::builder("users")
//!     .server("redis://127.0.0.1:6379")
//!     .ttl(Duration::from_secs(900))
//!     .jitter_percent(10.0)
//!     .stale_while_revalidate(Duration::from_secs(30))
//!     .near_cache(16 << 20, Duration::from_secs(10))
//!     .invalidation(Invalidation::Bus)
//!     .build()?;
//! let name: String = users
//!     .get_or_load("42", || async { Ok::<_, std::io::Error>("Ada".to_string()) })
//!     .await?;
//! # let _ = name; Ok(()) }
//! ```
//!
//! See `docs/toolkit.md` for the guide: which pattern when, trade-offs,
//! measured numbers.
//!
//! Modules: [`cache`] (the read path, stampede control, invalidation
//! counter), [`patterns`] (read-through, write-through, write-around),
//! [`write_behind`], [`invalidation`] (bus, CLIENT TRACKING), [`near`]
//! (in-process L1), [`ring`] (ketama, rendezvous), [`node`] (one server or
//! a Redis Cluster), [`breaker`], [`metrics`],
//! [`store`] (SQLite/PostgreSQL via sqlx), [`envelope`] (stored format).

pub mod breaker;
pub mod cache;
pub mod envelope;
pub mod error;
mod flight;
pub mod invalidation;
pub mod metrics;
pub mod near;
pub mod node;
pub mod patterns;
pub mod ring;
pub mod store;
pub mod ttl;
pub mod write_behind;

pub use cache::{Cache, CacheBuilder, Lease, Sharding};
pub use error::{BoxError, Error, Result};
pub use invalidation::Invalidation;
pub use metrics::{Metrics, Snapshot};
pub use patterns::{Loader, ReadThrough, WriteAround, WriteOp, WriteThrough, Writer};
pub use store::SqlStore;
pub use ttl::Ttl;
pub use write_behind::{WriteBehind, WriteBehindConfig};

/// The guide's examples compile: `docs/toolkit.md` is a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/toolkit.md")]
pub struct ToolkitGuide;

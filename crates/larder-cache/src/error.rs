//! The toolkit's error type.
//!
//! Errors are `Clone` (sources are kept behind `Arc`) because one load result
//! is shared by every caller that waited on the same single-flight load.

use std::sync::Arc;

/// A boxed error from user code: loaders, writers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Result alias of the toolkit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The cache server answered with an error or the connection failed.
    #[error("cache server: {0}")]
    Cache(Arc<redis::RedisError>),
    /// The cache server did not answer within the configured timeout.
    #[error("cache server timed out")]
    Timeout,
    /// The circuit breaker is open: the cache server is considered down.
    #[error("cache server unavailable (circuit open)")]
    CircuitOpen,
    /// The database failed.
    #[error("database: {0}")]
    Db(Arc<sqlx::Error>),
    /// A loader or writer supplied by the application failed.
    #[error("load failed: {0}")]
    Load(Arc<dyn std::error::Error + Send + Sync>),
    /// A key the database does not have.
    #[error("not found: {0}")]
    NotFound(String),
    /// A value that could not be (de)serialized.
    #[error("codec: {0}")]
    Codec(Arc<serde_json::Error>),
    /// A value stored in the cache that this toolkit did not write.
    #[error("cache entry {0} is not in the toolkit's format")]
    Format(String),
    /// The write-behind queue is full (only from `try_write`).
    #[error("write-behind queue is full")]
    QueueFull,
    /// The write-behind queue was shut down.
    #[error("write-behind queue is closed")]
    Closed,
    /// Invalid builder settings.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Wraps an application error (loader, writer).
    pub fn load(e: BoxError) -> Error {
        Error::Load(Arc::from(e))
    }

    /// Whether this error means the cache server is unreachable or slow (as
    /// opposed to a server reply error or a database failure).
    pub fn is_cache_unavailable(&self) -> bool {
        match self {
            Error::Timeout | Error::CircuitOpen => true,
            Error::Cache(e) => is_connectivity(e),
            _ => false,
        }
    }
}

/// Connection-level failures (the kind that opens the circuit breaker).
pub(crate) fn is_connectivity(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        Error::Cache(Arc::new(e))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::Db(Arc::new(e))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Codec(Arc::new(e))
    }
}

//! Wire codecs: request encoders and reply *skippers* for RESP and the
//! memcached text protocol.
//!
//! A skipper does not build values: it finds where the next complete reply
//! ends in a byte buffer and classifies it ([`Outcome`]: values, nulls,
//! error), which is all a load generator needs. Both are restartable in the
//! simplest way: on `Ok(None)` (an incomplete reply) the caller reads more
//! and calls again from the reply's start. A reply is scanned in O(its
//! headers), bulk payloads are jumped over by length, so a large value that
//! arrives in many reads costs O(1) per retry.

pub mod memcache;
pub mod resp;

use serde::Serialize;

/// What one reply said, as far as hit/miss accounting goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Non-null values: 1 for a scalar reply, or the non-null elements of a
    /// top-level array (MGET) / the `VALUE` items of a memcached `get`.
    pub hits: u32,
    /// Nulls: 1 for a null reply, or the null elements of a top-level array.
    pub nulls: u32,
    /// An error reply (`-ERR ...`, `!`, `ERROR`, `CLIENT_ERROR`, ...).
    pub error: bool,
}

/// The server sent bytes that are not a reply of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed reply: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// `Ok(Some((length, outcome)))` for a complete reply at the buffer's start.
pub type Skip = Result<Option<(usize, Outcome)>, Malformed>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Redis serialization protocol (RESP2, or RESP3 with --resp3).
    Resp,
    /// The memcached text protocol (get/set).
    Memcache,
}

impl Protocol {
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Resp => 6379,
            Protocol::Memcache => 11211,
        }
    }

    pub fn skip_reply(self, buf: &[u8]) -> Skip {
        match self {
            Protocol::Resp => resp::skip_reply(buf),
            Protocol::Memcache => memcache::skip_reply(buf),
        }
    }

    /// A GET of one key, or a multi-get (`MGET` / `get k1 k2 ...`).
    pub fn encode_get<'k>(self, out: &mut Vec<u8>, keys: impl ExactSizeIterator<Item = &'k [u8]>) {
        match self {
            Protocol::Resp => resp::encode_get(out, keys),
            Protocol::Memcache => memcache::encode_get(out, keys),
        }
    }

    pub fn encode_set(self, out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
        match self {
            Protocol::Resp => resp::encode_set(out, key, value),
            Protocol::Memcache => memcache::encode_set(out, key, value),
        }
    }
}

/// The first line of a reply, for error messages.
pub fn first_line(reply: &[u8]) -> String {
    let end = memchr::memchr(b'\r', reply).unwrap_or(reply.len()).min(200);
    String::from_utf8_lossy(&reply[..end]).into_owned()
}

//! The stored form of a cached value: an 18-byte header, then the value as
//! JSON.
//!
//! ```text
//!  0     1     2              10             14             18
//!  ┌─────┬─────┬──────────────┬──────────────┬──────────────┬──────────────┐
//!  │ 'L' │ 1   │ fresh_until  │ delta_ms     │ ttl_ms       │ payload JSON │
//!  │     │ ver │ u64 BE, Unix │ u32 BE: last │ u32 BE: the  │              │
//!  │     │     │ ms           │ load's time  │ fresh period │              │
//!  └─────┴─────┴──────────────┴──────────────┴──────────────┴──────────────┘
//! ```
//!
//! `fresh_until` is the *soft* expiry: past it the value is stale but may
//! still be served during the stale-while-revalidate / stale-if-error grace
//! periods; the key's server-side TTL is the *hard* expiry (fresh period +
//! the longest grace). `delta_ms` (how long the value took to compute) feeds
//! probabilistic early expiration (XFetch); `ttl_ms` feeds refresh-ahead.

use bytes::{BufMut, Bytes, BytesMut};

const MAGIC: u8 = b'L';
const VERSION: u8 = 1;
/// Header bytes before the payload.
pub const HEADER: usize = 1 + 1 + 8 + 4 + 4;

/// A decoded entry; `payload` shares the buffer it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub fresh_until: u64,
    pub delta_ms: u32,
    pub ttl_ms: u32,
    pub payload: Bytes,
}

impl Envelope {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER + self.payload.len());
        b.put_u8(MAGIC);
        b.put_u8(VERSION);
        b.put_u64(self.fresh_until);
        b.put_u32(self.delta_ms);
        b.put_u32(self.ttl_ms);
        b.put_slice(&self.payload);
        b.freeze()
    }

    /// None when `raw` is not in this format (written by someone else).
    pub fn decode(raw: Bytes) -> Option<Envelope> {
        if raw.len() < HEADER || raw[0] != MAGIC || raw[1] != VERSION {
            return None;
        }
        let u64_at = |i: usize| u64::from_be_bytes(raw[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_be_bytes(raw[i..i + 4].try_into().unwrap_or([0; 4]));
        Some(Envelope {
            fresh_until: u64_at(2),
            delta_ms: u32_at(10),
            ttl_ms: u32_at(14),
            payload: raw.slice(HEADER..),
        })
    }

    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.fresh_until
    }
}

/// Wall-clock Unix milliseconds (shared by all processes using the cache).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_values() {
        let e = Envelope {
            fresh_until: 1_700_000_000_123,
            delta_ms: 42,
            ttl_ms: 60_000,
            payload: Bytes::from_static(b"{\"a\":1}"),
        };
        assert_eq!(Envelope::decode(e.encode()), Some(e));
        assert_eq!(Envelope::decode(Bytes::from_static(b"plain")), None);
        assert_eq!(Envelope::decode(Bytes::from_static(&[b'L'; 20])), None);
    }
}

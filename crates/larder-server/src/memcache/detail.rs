//! `stats detail on|off|dump`: memcached's per-prefix counters.
//!
//! A key's prefix is what precedes its first delimiter (`:`, memcached's
//! `-D` default); keys without one are not counted. The text protocol's
//! `get` family counts a get (and a hit), its storage commands a set (even
//! one refused as too large), `delete` a delete: the meta commands, `incr`
//! and `touch` count nothing, as in memcached.
//!
//! The table mirrors memcached's `stats_prefix.c` so `dump` lists prefixes
//! in the same order: 256 buckets by MurmurHash3 (x86, 32-bit, seed 0 —
//! memcached's default hash) of the prefix, newest first within a bucket,
//! and memcached's lookup quirk (a stored prefix matches a new key whose
//! prefix is a leading part of it, in the same bucket).
//!
//! Cost: nothing while off — the connection sees the switch in its batch's
//! copy of `McState::observe`; while on, one mutex and a short bucket walk
//! per counted key.

use parking_lot::Mutex;

/// memcached's PREFIX_HASH_SIZE.
const BUCKETS: usize = 256;
/// memcached's default prefix delimiter (`-D`).
pub const DELIMITER: u8 = b':';

#[derive(Default)]
struct Prefix {
    name: Box<[u8]>,
    gets: u64,
    hits: u64,
    sets: u64,
    deletes: u64,
}

/// What a counted command did.
#[derive(Clone, Copy)]
pub enum Op {
    Get { hit: bool },
    Set,
    Delete,
}

/// The prefix table (`McState::detail`).
pub struct Prefixes {
    buckets: Mutex<Vec<Vec<Prefix>>>,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes {
            buckets: Mutex::new((0..BUCKETS).map(|_| Vec::new()).collect()),
        }
    }
}

impl Prefixes {
    /// Counts `op` on `key`'s prefix.
    pub fn record(&self, key: &[u8], op: Op) {
        let Some(len) = key
            .iter()
            .take_while(|&&b| b != 0)
            .position(|&b| b == DELIMITER)
        else {
            return;
        };
        let prefix = &key[..len];
        let bucket = murmur3_32(prefix) as usize % BUCKETS;
        let mut buckets = self.buckets.lock();
        let list = &mut buckets[bucket];
        // memcached's strncmp(stored, key, len): newest first.
        let found = list
            .iter()
            .rposition(|p| p.name.len() >= len && &p.name[..len] == prefix);
        let at = match found {
            Some(i) => i,
            None => {
                list.push(Prefix {
                    name: prefix.into(),
                    ..Prefix::default()
                });
                list.len() - 1
            }
        };
        let p = &mut list[at];
        match op {
            Op::Get { hit } => {
                p.gets += 1;
                p.hits += u64::from(hit);
            }
            Op::Set => p.sets += 1,
            Op::Delete => p.deletes += 1,
        }
    }

    /// `stats detail dump`.
    pub fn dump(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let buckets = self.buckets.lock();
        for list in buckets.iter() {
            for p in list.iter().rev() {
                out.extend_from_slice(b"PREFIX ");
                out.extend_from_slice(&p.name);
                let _ = write!(
                    out,
                    " get {} hit {} set {} del {}\r\n",
                    p.gets, p.hits, p.sets, p.deletes
                );
            }
        }
        out.extend_from_slice(b"END\r\n");
    }

    /// `stats reset` forgets every prefix.
    pub fn clear(&self) {
        for list in self.buckets.lock().iter_mut() {
            *list = Vec::new();
        }
    }
}

/// MurmurHash3_x86_32 with seed 0, as memcached's `murmur3_hash.c`.
fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let k = u32::from_le_bytes([c[0], c[1], c[2], c[3]])
            .wrapping_mul(C1)
            .rotate_left(15)
            .wrapping_mul(C2);
        h = (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k: u32 = 0;
        for (i, &b) in tail.iter().enumerate() {
            k |= u32::from(b) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_values() {
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 0x248b_fa47);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    #[test]
    fn prefixes_count_and_dump() {
        let p = Prefixes::default();
        p.record(b"foo:1", Op::Set);
        p.record(b"foo:2", Op::Get { hit: true });
        p.record(b"foo:3", Op::Get { hit: false });
        p.record(b"nodelim", Op::Set);
        p.record(b"b:1", Op::Delete);
        let mut out = Vec::new();
        p.dump(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("PREFIX foo get 2 hit 1 set 1 del 0\r\n"));
        assert!(s.contains("PREFIX b get 0 hit 0 set 0 del 1\r\n"));
        assert!(!s.contains("nodelim"));
        p.clear();
        let mut out = Vec::new();
        p.dump(&mut out);
        assert_eq!(out, b"END\r\n");
    }
}

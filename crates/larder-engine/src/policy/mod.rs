//! Cache replacement policies, exact and sampled, over abstract `u64` keys.
//!
//! Each policy sees a stream of requests `(key, size)` and answers whether
//! the key was resident (a hit); on a miss it admits the key (or declines,
//! for policies with an admission filter) and evicts until the resident sizes
//! fit the capacity. Sizes are units of capacity: 1 per entry when the cache
//! is counted in entries, the object's bytes when counted in bytes; a key's
//! size is the one it was admitted with. An object larger than the whole
//! capacity is never admitted.
//!
//! The *exact* policies keep per-key order in index-linked lists inside a
//! [`list::Slab`] (O(1) per request, no allocation per node after warm-up).
//! The *sampled* ones ([`sampled`]) model what the server runs: no order at
//! all, only a 4-byte access word per key, and eviction by sampling keys into
//! a 16-candidate pool. The simulator (`larder-sim`) and tests replay traces
//! through them; [`build`] makes one by name.

pub mod adaptive;
pub mod arc;
pub mod clock;
pub mod lfu;
pub mod list;
pub mod lru;
pub mod random;
pub mod s3fifo;
pub mod sampled;
pub mod sieve;
pub mod sketch;
pub mod wtinylfu;

/// A cache replacement policy driven by a request stream.
pub trait CachePolicy {
    /// Serves one request; true on a hit. On a miss the key is admitted
    /// (unless the policy declines it) and others are evicted to make room.
    fn access(&mut self, key: u64, size: u32) -> bool;
    /// The policy's name, with its parameters where they matter.
    fn name(&self) -> String;
    /// Resident keys.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sum of the resident keys' sizes.
    fn used(&self) -> u64;
}

/// Settings a few policies take.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Keys sampled per eviction round by the sampled policies (`maxmemory-samples`).
    pub samples: usize,
    /// Seed of the policies that draw random numbers.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            samples: 5,
            seed: 0x5eed,
        }
    }
}

/// Policy names [`build`] accepts, canonical spelling.
pub const NAMES: &[&str] = &[
    "lru",
    "fifo",
    "lfu",
    "random",
    "clock",
    "sieve",
    "s3fifo",
    "arc",
    "wtinylfu",
    "adaptive",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-adaptive",
];

/// The policy the server runs when `maxmemory` is set and no policy is chosen.
pub const SERVER_DEFAULT: &str = "allkeys-adaptive";

/// Builds a policy by name (case-insensitive; `-` and `_` optional in the
/// exact policies' names) for a capacity in size units.
pub fn build(name: &str, capacity: u64, opts: &Options) -> Option<Box<dyn CachePolicy>> {
    let lower = name.to_ascii_lowercase();
    let squashed: String = lower.chars().filter(|c| *c != '-' && *c != '_').collect();
    let p: Box<dyn CachePolicy> = match squashed.as_str() {
        "lru" => Box::new(lru::Lru::new(capacity)),
        "fifo" => Box::new(lru::Lru::fifo(capacity)),
        "lfu" => Box::new(lfu::Lfu::new(capacity)),
        "random" => Box::new(random::RandomEviction::new(capacity, opts.seed)),
        "clock" => Box::new(clock::Clock::new(capacity)),
        "sieve" => Box::new(sieve::Sieve::new(capacity)),
        "s3fifo" => Box::new(s3fifo::S3Fifo::new(capacity)),
        "arc" => Box::new(arc::Arc::new(capacity)),
        "wtinylfu" | "tinylfu" => Box::new(wtinylfu::WTinyLfu::new(capacity)),
        "adaptive" => Box::new(adaptive::Adaptive::new(capacity)),
        "allkeyslru" | "sampledlru" => {
            Box::new(sampled::Sampled::new(capacity, sampled::Score::Lru, opts))
        }
        "allkeyslfu" | "sampledlfu" => {
            Box::new(sampled::Sampled::new(capacity, sampled::Score::Lfu, opts))
        }
        "allkeysadaptive" | "sampledadaptive" => Box::new(sampled::Sampled::new(
            capacity,
            sampled::Score::Adaptive,
            opts,
        )),
        _ => return None,
    };
    Some(p)
}

/// A small seeded xorshift64* generator, so runs are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(sketch::mix(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few invariants every policy must keep, on a skewed random stream.
    #[test]
    fn every_policy_stays_within_capacity() {
        let mut rng = Rng::new(1);
        let reqs: Vec<(u64, u32)> = (0..20_000)
            .map(|_| {
                let k = (rng.below(1000) * rng.below(1000) / 1000) as u64;
                (k, 1 + (k % 7) as u32)
            })
            .collect();
        for name in NAMES {
            for bytes in [false, true] {
                let cap = if bytes { 400 } else { 100 };
                let mut p = build(name, cap, &Options::default()).unwrap();
                let mut hits = 0;
                for &(k, s) in &reqs {
                    let size = if bytes { s } else { 1 };
                    hits += usize::from(p.access(k, size));
                    assert!(p.used() <= cap, "{name}: {} > {cap}", p.used());
                }
                assert!(hits > 0, "{name}");
                assert!(p.len() as u64 <= cap);
                assert!(!p.is_empty());
                // A key just admitted (or declined) and asked again is
                // resident for every policy but one that declined it.
                let again = p.access(5000, 1);
                assert!(!again, "{name}");
            }
        }
        assert!(build("nope", 1, &Options::default()).is_none());
        assert!(build("W-TinyLFU", 1, &Options::default()).is_some());
    }
}

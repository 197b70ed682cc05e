//! A count-min sketch of 4-bit counters with periodic halving: TinyLFU's
//! frequency estimate of every key seen recently, resident or not.
//!
//! The table is a power-of-two array of u64 words, each holding sixteen 4-bit
//! counters. A key maps to four counters (four hashes: a word each, and a
//! nibble inside it); its estimate is the smallest of the four. Counters
//! saturate at 15 and are updated conservatively (only those at the key's
//! minimum grow). After `10 × capacity` increments every counter is halved
//! (one shift-and-mask per word), so old popularity fades and the estimate
//! tracks recent frequency. Memory: `counters_per_key / 2` bytes per cache
//! entry (Caffeine uses 16 counters, 8 bytes; the adaptive policy uses 4, 2
//! bytes); the cost of an access is four word reads and, on increment, four
//! word writes.
//!
//! The words are relaxed atomics so the server can share one sketch between
//! threads through `&self` (a relaxed load or store is a plain move, so the
//! single-threaded simulator pays nothing). Two threads bumping the same
//! word at once may lose one of the increments, and a halving may race with
//! an increment: both only blur an estimate by one, which a sketch tolerates
//! by design. A counter never carries into its neighbour: each stored word
//! is computed from one loaded word.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Sketch {
    table: Box<[AtomicU64]>,
    mask: u64,
    additions: AtomicU64,
    period: u64,
}

const SEEDS: [u64; 4] = [
    0x97cb_3127_a6f1_9d6b,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0xff51_afd7_ed55_8ccd,
];

/// A 64-bit mixer (the finalizer of SplitMix64).
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Sketch {
    /// A sketch for a cache of `capacity` entries with about
    /// `counters_per_key` counters per entry, halved every `10 × capacity`
    /// increments.
    pub fn new(capacity: usize, counters_per_key: usize) -> Sketch {
        Sketch::with_counters(
            capacity.max(1) * counters_per_key.max(1),
            10 * capacity.max(1) as u64,
        )
    }

    /// A sketch of at least `counters` counters (rounded up to a power-of-two
    /// number of words, at least 8), halved every `period` increments.
    pub fn with_counters(counters: usize, period: u64) -> Sketch {
        let words = counters.div_ceil(16).next_power_of_two().max(8);
        Sketch {
            table: (0..words).map(|_| AtomicU64::new(0)).collect(),
            mask: (words - 1) as u64,
            additions: AtomicU64::new(0),
            period: period.max(1),
        }
    }

    /// Bytes of table.
    pub fn bytes(&self) -> usize {
        self.table.len() * 8
    }

    fn slots(&self, key: u64) -> [(usize, u32); 4] {
        let h = mix(key);
        std::array::from_fn(|i| {
            let x = mix(h ^ SEEDS[i]);
            ((x & self.mask) as usize, ((x >> 58) as u32 & 15) * 4)
        })
    }

    /// The estimated number of recent accesses to `key`, 0..=15.
    pub fn estimate(&self, key: u64) -> u8 {
        self.slots(key)
            .iter()
            .map(|&(w, s)| ((self.table[w].load(Relaxed) >> s) & 15) as u8)
            .min()
            .unwrap_or(0)
    }

    /// Counts one access to `key` (conservative update: only the counters at
    /// the current minimum grow, which keeps collisions from inflating
    /// estimates), halving every counter when the period ends.
    pub fn increment(&self, key: u64) {
        let slots = self.slots(key);
        let counter = |(w, s): (usize, u32)| ((self.table[w].load(Relaxed) >> s) & 15) as u8;
        let min = slots.iter().map(|&x| counter(x)).min().unwrap_or(0);
        if min < 15 {
            for (w, s) in slots {
                let word = self.table[w].load(Relaxed);
                if ((word >> s) & 15) as u8 == min {
                    self.table[w].store(word + (1 << s), Relaxed);
                }
            }
        }
        // Exactly one increment reaches the period; it halves and takes
        // the count back to half the period.
        if self.additions.fetch_add(1, Relaxed) + 1 == self.period {
            for w in self.table.iter() {
                w.store((w.load(Relaxed) >> 1) & 0x7777_7777_7777_7777, Relaxed);
            }
            self.additions
                .fetch_sub(self.period - self.period / 2, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_halve() {
        let s = Sketch::new(100, 16);
        for _ in 0..20 {
            s.increment(7);
        }
        assert_eq!(s.estimate(7), 15);
        assert_eq!(s.estimate(8), 0);
        for k in 1000..2000 {
            s.increment(k);
        }
        // 1000 increments reach the period of 10 × 100: one halving (other
        // keys may have added one to each of 7's counters before it).
        assert!(matches!(s.estimate(7), 7 | 8), "{}", s.estimate(7));
    }
}

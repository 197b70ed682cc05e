//! A per-thread xorshift64* generator: cheap randomness for sampling, where
//! quality matters little and a lock or a shared atomic would cost more than
//! the draw.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish() | 1
}

/// A random u64.
pub fn next() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// A uniformly random occupied slot of an open-addressing table of `slots`
/// slots (a power of two) holding `len` elements, `r` being a random number.
///
/// Rejection sampling: draw slots until one is occupied, so every element
/// is equally likely. (Probing forward from a random slot to the next
/// occupied one would favour elements that follow long empty runs: with
/// linear probing, clusters make that bias large.) The expected number of
/// draws is `slots / len`; after 64 misses (a table far emptier than its
/// shrink threshold) it counts its way to the i-th element, i uniform.
pub fn pick_occupied(
    slots: usize,
    len: usize,
    r: u64,
    occupied: impl Fn(usize) -> bool,
) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let mask = slots - 1;
    let mut x = r;
    for _ in 0..64 {
        let i = (x >> 7) as usize & mask;
        if occupied(i) {
            return Some(i);
        }
        x = mix(x);
    }
    let nth = (mix(x) % len as u64) as usize;
    (0..slots).filter(|&i| occupied(i)).nth(nth)
}

/// splitmix64's finalizer: a new well-mixed value from `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_occupied_is_uniform_despite_clusters() {
        // A cluster of 8 after a long empty run, and two loners.
        let full = |i: usize| i < 8 || i == 40 || i == 50;
        let mut counts = [0u32; 64];
        for _ in 0..100_000 {
            counts[pick_occupied(64, 10, next(), full).unwrap()] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            if full(i) {
                assert!((9_000..11_000).contains(&c), "slot {i}: {c}");
            } else {
                assert_eq!(c, 0);
            }
        }
        // Nearly empty: the counting fallback still finds the element.
        assert_eq!(pick_occupied(1 << 20, 1, next(), |i| i == 777), Some(777));
        assert_eq!(pick_occupied(64, 0, next(), |_| false), None);
    }
}

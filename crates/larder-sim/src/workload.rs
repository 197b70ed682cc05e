//! Synthetic request streams for policy checks beyond the reference traces:
//! Zipf popularity, a hot set interrupted by scans, and shifting popularity.
//! Deterministic for a seed; keys are scrambled so that popularity is not
//! correlated with key order or hash.

use larder_engine::policy::sketch::mix;
use larder_engine::policy::Rng;

/// Draws ranks 0..n with P(rank i) ∝ 1 / (i + 1)^s.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|i| {
                acc += 1.0 / (i as f64).powf(s);
                acc
            })
            .collect();
        for c in cdf.iter_mut() {
            *c /= acc;
        }
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// `count` requests over `n` keys with Zipf(`s`) popularity.
pub fn zipf(n: usize, s: f64, count: usize, seed: u64) -> Vec<u64> {
    let z = Zipf::new(n, s);
    let mut rng = Rng::new(seed);
    (0..count).map(|_| mix(z.sample(&mut rng) as u64)).collect()
}

/// `count` requests: Zipf(0.9) over a hot set of `hot` keys, and every
/// `period` requests a scan of `scan` keys never requested before.
pub fn hot_set_with_scans(
    hot: usize,
    period: usize,
    scan: usize,
    count: usize,
    seed: u64,
) -> Vec<u64> {
    let z = Zipf::new(hot, 0.9);
    let mut rng = Rng::new(seed);
    let mut next_cold = 1u64 << 40;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        for _ in 0..period {
            out.push(mix(z.sample(&mut rng) as u64));
        }
        for _ in 0..scan {
            out.push(mix(next_cold));
            next_cold += 1;
        }
    }
    out.truncate(count);
    out
}

/// `count` requests with Zipf(`s`) popularity over `n` keys whose ranking is
/// reshuffled (a new set of hot keys) every `phase` requests.
pub fn shifting_zipf(n: usize, s: f64, phase: usize, count: usize, seed: u64) -> Vec<u64> {
    let z = Zipf::new(n, s);
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let epoch = (i / phase.max(1)) as u64;
            mix(z.sample(&mut rng) as u64 ^ (epoch << 48))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_is_skewed() {
        let reqs = zipf(1000, 0.99, 20_000, 1);
        let top = reqs.iter().filter(|&&k| k == mix(0)).count();
        // P(rank 0) = 1 / H(1000, 0.99) ≈ 0.13.
        assert!((2000..3400).contains(&top), "{top}");
        let scans = hot_set_with_scans(10, 5, 3, 16, 1);
        assert_eq!(scans.len(), 16);
        let first_cold: Vec<u64> = (0..3).map(|i| mix((1 << 40) + i)).collect();
        assert_eq!(&scans[5..8], &first_cold[..]);
        assert_eq!(scans[13], mix((1 << 40) + 3));
        let shifting = shifting_zipf(100, 1.0, 10, 20, 2);
        assert!(shifting[..10].iter().all(|k| !shifting[10..].contains(k)));
    }
}

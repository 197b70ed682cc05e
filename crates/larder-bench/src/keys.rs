//! Key distributions: which key index (`0..keyspace`) each request uses.
//!
//! [`KeyDist`] is the immutable description (with any precomputed
//! constants) shared by all connections; [`KeySampler`] is one connection's
//! cursor over it (sequential position, scan state). Every sample is O(1):
//!
//! * `uniform`: `rng.below(n)`.
//! * `sequential`: each connection walks the key space from its own offset
//!   (`conn * n / conns`), wrapping; together the connections cover it evenly.
//! * `zipf`: rank `k` in `1..=n` with probability ∝ `1/k^θ` (θ ≥ 0; θ = 0 is
//!   uniform), key index `k - 1`, so key 0 is the hottest. Sampled by
//!   rejection-inversion (Hörmann & Derflinger 1996, as in Apache Commons
//!   `RejectionInversionZipfSampler`): constant setup, no `O(n)` zeta table,
//!   on average fewer than 1.1 iterations for any θ.
//! * `gaussian`: normal around `median` (default `n/2`) with `stddev`
//!   (default `n/6`, as memtier_benchmark), resampled when it falls outside.
//! * `hotscan`: a hot set of `hot` keys (indices `0..hot`) draws uniform
//!   requests; after every `every` hot requests the connection makes a
//!   sequential scan of `length` keys through the cold range `hot..n`,
//!   continuing where its previous scan stopped. This is the pattern that
//!   flushes an LRU cache and that scan-resistant policies survive.

use crate::rng::Rng;

#[derive(Clone, Debug)]
pub enum KeyDist {
    Uniform {
        n: u64,
    },
    Sequential {
        n: u64,
    },
    Zipf(Zipf),
    Gaussian {
        n: u64,
        median: f64,
        stddev: f64,
    },
    HotScan {
        n: u64,
        hot: u64,
        every: u64,
        length: u64,
    },
}

impl KeyDist {
    pub fn keyspace(&self) -> u64 {
        match self {
            KeyDist::Uniform { n }
            | KeyDist::Sequential { n }
            | KeyDist::Gaussian { n, .. }
            | KeyDist::HotScan { n, .. } => *n,
            KeyDist::Zipf(z) => z.n,
        }
    }
}

/// One connection's sampler.
#[derive(Clone, Debug)]
pub struct KeySampler {
    dist: KeyDist,
    /// Sequential cursor, or the scan cursor within the cold range.
    pos: u64,
    /// Hot requests since the last scan began (hotscan).
    since_scan: u64,
    /// Keys left in the current scan (hotscan).
    scan_left: u64,
}

impl KeySampler {
    /// The sampler for connection `conn` of `conns`: sequential walks and
    /// scans start at staggered offsets.
    pub fn new(dist: KeyDist, conn: usize, conns: usize) -> Self {
        let span = match &dist {
            KeyDist::HotScan { n, hot, .. } => n - hot,
            d => d.keyspace(),
        };
        let pos = (u128::from(span) * conn as u128 / conns.max(1) as u128) as u64;
        KeySampler {
            dist,
            pos,
            since_scan: 0,
            scan_left: 0,
        }
    }

    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        match &self.dist {
            KeyDist::Uniform { n } => rng.below(*n),
            KeyDist::Sequential { n } => {
                let k = self.pos;
                self.pos = if k + 1 >= *n { 0 } else { k + 1 };
                k
            }
            KeyDist::Zipf(z) => z.sample(rng) - 1,
            KeyDist::Gaussian { n, median, stddev } => loop {
                let v = median + stddev * rng.normal();
                if v >= 0.0 && v < *n as f64 {
                    break v as u64;
                }
            },
            KeyDist::HotScan {
                n,
                hot,
                every,
                length,
            } => {
                if self.scan_left > 0 {
                    self.scan_left -= 1;
                    let k = hot + self.pos;
                    self.pos = if self.pos + 1 >= n - hot {
                        0
                    } else {
                        self.pos + 1
                    };
                    return k;
                }
                self.since_scan += 1;
                if self.since_scan >= *every {
                    self.since_scan = 0;
                    self.scan_left = *length;
                }
                rng.below(*hot)
            }
        }
    }
}

/// Zipf over ranks `1..=n` with exponent `theta`, by rejection-inversion.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: u64,
    theta: f64,
    h_x1: f64,
    h_n: f64,
    s: f64,
}

impl Zipf {
    /// `n >= 1`, `theta >= 0` (checked by the argument parser).
    pub fn new(n: u64, theta: f64) -> Self {
        let mut z = Zipf {
            n,
            theta,
            h_x1: 0.0,
            h_n: 0.0,
            s: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(n as f64 + 0.5);
        z.s = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_n + rng.unit() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inv(u);
            let k = ((x + 0.5) as u64).clamp(1, self.n);
            let kf = k as f64;
            if kf - x <= self.s || u >= self.h_integral(kf + 0.5) - self.h(kf) {
                return k;
            }
        }
    }

    /// `h(x) = x^-θ`.
    fn h(&self, x: f64) -> f64 {
        (-self.theta * x.ln()).exp()
    }

    /// `H(x) = ∫ h`, written to stay exact as θ → 1.
    fn h_integral(&self, x: f64) -> f64 {
        let lx = x.ln();
        helper2((1.0 - self.theta) * lx) * lx
    }

    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.theta)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zipf_matches_theory(n: u64, theta: f64) {
        let z = Zipf::new(n, theta);
        let mut rng = Rng::new(7);
        let draws = 400_000u64;
        let mut counts = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            let k = z.sample(&mut rng);
            assert!((1..=n).contains(&k));
            counts[k as usize] += 1;
        }
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-theta)).sum();
        // The 20 most popular ranks, each within 4 standard deviations of
        // the binomial count theory predicts (and 3% relative for big ones).
        for k in 1..=20u64.min(n) {
            let p = (k as f64).powf(-theta) / norm;
            let expect = p * draws as f64;
            let sd = (draws as f64 * p * (1.0 - p)).sqrt();
            let got = counts[k as usize] as f64;
            assert!(
                (got - expect).abs() <= 4.0 * sd + 1.0,
                "n={n} θ={theta} rank {k}: got {got}, expected {expect:.0} ± {sd:.0}"
            );
        }
        // The mass of the head (top 1%) matches too.
        let head = (n / 100).max(1);
        let p_head: f64 = (1..=head).map(|k| (k as f64).powf(-theta)).sum::<f64>() / norm;
        let got_head = counts[1..=head as usize].iter().sum::<u64>() as f64 / draws as f64;
        assert!(
            (got_head - p_head).abs() < 0.01,
            "head mass {got_head} vs {p_head}"
        );
    }

    #[test]
    fn zipf_frequencies_match_theory() {
        zipf_matches_theory(1000, 0.99);
        zipf_matches_theory(10_000, 1.0);
        zipf_matches_theory(100_000, 0.7);
        zipf_matches_theory(50, 1.5);
    }

    #[test]
    fn zipf_theta_zero_is_uniform() {
        let z = Zipf::new(10, 0.0);
        let mut rng = Rng::new(3);
        let mut c = [0u32; 11];
        for _ in 0..100_000 {
            c[z.sample(&mut rng) as usize] += 1;
        }
        for &x in &c[1..] {
            assert!((9_000..11_000).contains(&x), "{c:?}");
        }
    }

    #[test]
    fn sequential_walks_from_staggered_offsets() {
        let d = KeyDist::Sequential { n: 10 };
        let mut rng = Rng::new(0);
        let mut a = KeySampler::new(d.clone(), 0, 2);
        let mut b = KeySampler::new(d, 1, 2);
        let xa: Vec<u64> = (0..12).map(|_| a.next(&mut rng)).collect();
        let xb: Vec<u64> = (0..3).map(|_| b.next(&mut rng)).collect();
        assert_eq!(xa, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        assert_eq!(xb, [5, 6, 7]);
    }

    #[test]
    fn gaussian_centres_on_the_median() {
        let n = 100_000u64;
        let d = KeyDist::Gaussian {
            n,
            median: n as f64 / 2.0,
            stddev: n as f64 / 6.0,
        };
        let mut s = KeySampler::new(d, 0, 1);
        let mut rng = Rng::new(5);
        let xs: Vec<u64> = (0..100_000).map(|_| s.next(&mut rng)).collect();
        assert!(xs.iter().all(|&k| k < n));
        let mean = xs.iter().sum::<u64>() as f64 / xs.len() as f64;
        assert!((mean - 50_000.0).abs() < 500.0, "mean {mean}");
        // About 68% within one standard deviation.
        let within = xs
            .iter()
            .filter(|&&k| (k as f64 - 50_000.0).abs() < n as f64 / 6.0);
        let frac = within.count() as f64 / xs.len() as f64;
        assert!((frac - 0.6827).abs() < 0.01, "within 1σ: {frac}");
    }

    #[test]
    fn hotscan_mixes_hot_requests_and_sequential_scans() {
        let d = KeyDist::HotScan {
            n: 1000,
            hot: 10,
            every: 5,
            length: 3,
        };
        let mut s = KeySampler::new(d, 0, 1);
        let mut rng = Rng::new(9);
        let xs: Vec<u64> = (0..24).map(|_| s.next(&mut rng)).collect();
        // 5 hot, then a scan of 3 cold keys continuing across scans.
        for (i, &k) in xs.iter().enumerate() {
            match i % 8 {
                0..=4 => assert!(k < 10, "{xs:?}"),
                j => assert_eq!(k, 10 + (i / 8) as u64 * 3 + (j - 5) as u64, "{xs:?}"),
            }
        }
        // Scans wrap around the cold range.
        let d = KeyDist::HotScan {
            n: 12,
            hot: 10,
            every: 1,
            length: 3,
        };
        let mut s = KeySampler::new(d, 0, 1);
        let xs: Vec<u64> = (0..8).map(|_| s.next(&mut rng)).collect();
        assert_eq!(&xs[1..4], &[10, 11, 10]);
        assert_eq!(&xs[5..8], &[11, 10, 11]);
    }
}

//! Value sizes for SET requests (`--data-size`).
//!
//! A spec is one of `N` (fixed), `A-B` (uniform in `A..=B`), or a weighted
//! list `S1:W1,S2:W2,...` (size `Si` with probability `Wi / ΣW`). Values are
//! slices of one shared pattern buffer as long as the largest size, so no
//! request copies or allocates a value beyond writing it to the socket.

use std::str::FromStr;

use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq)]
pub enum DataSize {
    Fixed(usize),
    Range(usize, usize),
    /// `(size, cumulative weight)`, cumulative weights ascending.
    Weighted(Vec<(usize, u64)>),
}

impl DataSize {
    pub fn max(&self) -> usize {
        match self {
            DataSize::Fixed(n) => *n,
            DataSize::Range(_, b) => *b,
            DataSize::Weighted(v) => v.iter().map(|&(s, _)| s).max().unwrap_or(0),
        }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        match self {
            DataSize::Fixed(n) => *n,
            DataSize::Range(a, b) => a + rng.below((b - a + 1) as u64) as usize,
            DataSize::Weighted(v) => {
                let total = v.last().map_or(1, |&(_, w)| w);
                let x = rng.below(total);
                v.iter().find(|&&(_, w)| x < w).map_or(0, |&(s, _)| s)
            }
        }
    }

    /// The shared bytes every value is a prefix of.
    pub fn pattern(&self) -> Vec<u8> {
        (0..self.max()).map(|i| b'a' + (i % 26) as u8).collect()
    }
}

/// The largest value accepted (memcached's default item limit is 1 MiB;
/// Redis allows 512 MB but a benchmark value that large is a mistake).
pub const MAX_VALUE: usize = 64 << 20;

impl FromStr for DataSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let num = |t: &str| -> Result<usize, String> {
            let v: usize = t
                .trim()
                .parse()
                .map_err(|_| format!("invalid size '{t}' in data size '{s}'"))?;
            if v > MAX_VALUE {
                return Err(format!("value size {v} is above {MAX_VALUE}"));
            }
            Ok(v)
        };
        if s.contains(':') {
            let mut acc = 0u64;
            let mut v = Vec::new();
            for part in s.split(',') {
                let (size, w) = part
                    .split_once(':')
                    .ok_or_else(|| format!("expected SIZE:WEIGHT in '{part}'"))?;
                let w: u64 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid weight '{w}'"))?;
                acc = acc
                    .checked_add(w)
                    .ok_or_else(|| "weights overflow".to_string())?;
                v.push((num(size)?, acc));
            }
            if acc == 0 {
                return Err(format!("data size list '{s}' has no positive weight"));
            }
            Ok(DataSize::Weighted(v))
        } else if let Some((a, b)) = s.split_once('-') {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("empty data size range '{s}'"));
            }
            Ok(DataSize::Range(a, b))
        } else {
            Ok(DataSize::Fixed(num(s)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!("100".parse(), Ok(DataSize::Fixed(100)));
        assert_eq!("10-20".parse(), Ok(DataSize::Range(10, 20)));
        assert_eq!(
            "100:3,1000:1".parse(),
            Ok(DataSize::Weighted(vec![(100, 3), (1000, 4)]))
        );
        assert!("20-10".parse::<DataSize>().is_err());
        assert!("x".parse::<DataSize>().is_err());
        assert!("10:0".parse::<DataSize>().is_err());
        assert!("99999999999".parse::<DataSize>().is_err());
    }

    #[test]
    fn samples_follow_the_spec() {
        let mut rng = Rng::new(1);
        let r = DataSize::Range(10, 12);
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let v = r.sample(&mut rng);
            assert!((10..=12).contains(&v));
            seen[v - 10] = true;
        }
        assert_eq!(seen, [true; 3]);
        let w: DataSize = "1:3,2:1".parse().unwrap();
        let ones = (0..40_000).filter(|_| w.sample(&mut rng) == 1).count();
        assert!((29_000..31_000).contains(&ones), "{ones}");
        assert_eq!(w.max(), 2);
        assert_eq!(w.pattern(), b"ab");
    }
}

//! Choosing a cache node for a key: consistent hashing.
//!
//! * [`Ketama`] is libmemcached's weighted ketama ring: each server gets
//!   `floor(weight/total × 40 × servers) × 4` points (160 for equal weights);
//!   for point group `i` the MD5 of `"host:port-i"` (just `"host-i"` when the
//!   port is memcached's default 11211) gives four 32-bit little-endian
//!   points. A key hashes to the first 4 bytes of its MD5 (little-endian) and
//!   belongs to the first point at or after it, wrapping around. Lookups are a
//!   binary search over the sorted points: O(log(160·N)), 8 bytes per point.
//! * [`Rendezvous`] (highest random weight): each key scores every node and
//!   takes the best; O(N) per lookup, no table, ideal balance, and adding a
//!   node moves exactly the keys the new node wins (≈ 1/(N+1)).

use md5::{Digest, Md5};

/// A node of a ring: its name (`host:port`) and weight.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub weight: u32,
}

/// Maps a key to a node index.
pub trait Ring: Send + Sync {
    fn node_for(&self, key: &[u8]) -> usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// libmemcached-compatible weighted ketama.
pub struct Ketama {
    /// (point, node index), sorted by point.
    points: Vec<(u32, u32)>,
    nodes: usize,
}

const POINTS_PER_SERVER: f64 = 160.0;
const POINTS_PER_HASH: usize = 4;
const MEMCACHED_DEFAULT_PORT: &str = "11211";

impl Ketama {
    pub fn new(nodes: &[NodeSpec]) -> Ketama {
        let total: u64 = nodes.iter().map(|n| n.weight.max(1) as u64).sum();
        let mut points = Vec::new();
        for (idx, n) in nodes.iter().enumerate() {
            let pct = n.weight.max(1) as f64 / total as f64;
            let groups = (pct * POINTS_PER_SERVER / POINTS_PER_HASH as f64 * nodes.len() as f64
                + 0.000_000_000_1)
                .floor() as usize;
            let label = match n.name.rsplit_once(':') {
                Some((host, MEMCACHED_DEFAULT_PORT)) => host.to_string(),
                _ => n.name.clone(),
            };
            for g in 0..groups {
                let digest = Md5::digest(format!("{label}-{g}").as_bytes());
                for x in 0..POINTS_PER_HASH {
                    let p = u32::from_le_bytes([
                        digest[x * 4],
                        digest[x * 4 + 1],
                        digest[x * 4 + 2],
                        digest[x * 4 + 3],
                    ]);
                    points.push((p, idx as u32));
                }
            }
        }
        points.sort_unstable();
        Ketama {
            points,
            nodes: nodes.len(),
        }
    }

    /// The key's position on the ring.
    pub fn hash(key: &[u8]) -> u32 {
        let d = Md5::digest(key);
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }

    /// Number of points (160 per server for equal weights).
    pub fn points(&self) -> usize {
        self.points.len()
    }
}

impl Ring for Ketama {
    fn node_for(&self, key: &[u8]) -> usize {
        if self.points.len() <= 1 {
            return self.points.first().map_or(0, |p| p.1 as usize);
        }
        let h = Ketama::hash(key);
        let i = self.points.partition_point(|p| p.0 < h);
        let i = if i == self.points.len() { 0 } else { i };
        self.points[i].1 as usize
    }

    fn len(&self) -> usize {
        self.nodes
    }
}

/// Weighted rendezvous (highest random weight) hashing.
pub struct Rendezvous {
    /// Per node: hash of its name, and weight.
    nodes: Vec<(u64, f64)>,
}

impl Rendezvous {
    pub fn new(nodes: &[NodeSpec]) -> Rendezvous {
        Rendezvous {
            nodes: nodes
                .iter()
                .map(|n| (fnv1a(n.name.as_bytes()), n.weight.max(1) as f64))
                .collect(),
        }
    }
}

impl Ring for Rendezvous {
    fn node_for(&self, key: &[u8]) -> usize {
        let kh = fnv1a(key);
        let mut best = (f64::NEG_INFINITY, 0);
        for (i, &(nh, w)) in self.nodes.iter().enumerate() {
            // A uniform draw in (0, 1) per (key, node), then the weighted
            // score −w / ln(u): larger weights win proportionally more keys.
            let u = ((mix64(kh ^ nh) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = -w / u.ln();
            if score > best.0 {
                best = (score, i);
            }
        }
        best.1
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= c as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(n: usize) -> Vec<NodeSpec> {
        (0..n)
            .map(|i| NodeSpec {
                name: format!("10.0.0.{}:6379", i + 1),
                weight: 1,
            })
            .collect()
    }

    fn moved_fraction(before: &dyn Ring, after: &dyn Ring, keys: usize) -> f64 {
        let moved = (0..keys)
            .filter(|i| {
                let k = format!("user:{i}");
                before.node_for(k.as_bytes()) != after.node_for(k.as_bytes())
            })
            .count();
        moved as f64 / keys as f64
    }

    #[test]
    fn ketama_points_and_known_hash() {
        let k = Ketama::new(&specs(4));
        assert_eq!(k.points(), 4 * 160);
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e; the first four bytes
        // read little-endian.
        assert_eq!(Ketama::hash(b""), 0xd98c_1dd4);
        // Weighted: a weight-3 server among two weight-1 servers gets 3/5 of
        // the 480 points.
        let mut w = specs(3);
        w[0].weight = 3;
        let k = Ketama::new(&w);
        assert_eq!(k.points.iter().filter(|p| p.1 == 0).count(), 288);
    }

    /// Server indices libmemcached 1.0 (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`,
    /// `memcached_generate_hash`) gives keys `user:0..40` over these four
    /// servers, the third on memcached's default port with weight 2.
    #[test]
    fn same_servers_as_libmemcached() {
        let nodes: Vec<NodeSpec> = [
            ("10.0.0.1:6379", 1),
            ("10.0.0.2:6379", 1),
            ("10.0.0.3:11211", 2),
            ("10.0.0.4:6380", 1),
        ]
        .iter()
        .map(|&(name, weight)| NodeSpec {
            name: name.into(),
            weight,
        })
        .collect();
        let libmemcached = [
            3, 0, 2, 3, 3, 1, 2, 0, 2, 2, 0, 0, 3, 1, 2, 1, 3, 0, 1, 1, 0, 2, 3, 3, 3, 2, 3, 2, 2,
            1, 2, 0, 3, 3, 2, 1, 3, 2, 2, 2,
        ];
        let k = Ketama::new(&nodes);
        let ours: Vec<usize> = (0..40)
            .map(|i| k.node_for(format!("user:{i}").as_bytes()))
            .collect();
        assert_eq!(ours, libmemcached);
    }

    #[test]
    fn adding_a_node_moves_about_one_over_n_plus_one() {
        for n in [3usize, 5, 9] {
            let expect = 1.0 / (n as f64 + 1.0);
            let f = moved_fraction(&Ketama::new(&specs(n)), &Ketama::new(&specs(n + 1)), 20_000);
            assert!(
                (f - expect).abs() < expect * 0.35,
                "ketama n={n}: moved {f:.3}, expected ≈{expect:.3}"
            );
            let f = moved_fraction(
                &Rendezvous::new(&specs(n)),
                &Rendezvous::new(&specs(n + 1)),
                20_000,
            );
            assert!(
                (f - expect).abs() < expect * 0.1,
                "rendezvous n={n}: moved {f:.3}, expected ≈{expect:.3}"
            );
        }
    }

    #[test]
    fn balance_is_reasonable() {
        for ring in [
            Box::new(Ketama::new(&specs(5))) as Box<dyn Ring>,
            Box::new(Rendezvous::new(&specs(5))),
        ] {
            let mut counts = [0usize; 5];
            for i in 0..50_000 {
                counts[ring.node_for(format!("k{i}").as_bytes())] += 1;
            }
            for c in counts {
                assert!((7_000..13_000).contains(&c), "{counts:?}");
            }
        }
    }
}

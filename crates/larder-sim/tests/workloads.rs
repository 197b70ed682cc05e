//! The adaptive policy beyond the reference traces: it must beat LRU on a
//! Zipf(0.99) workload and on a hot set interrupted by periodic scans, in
//! its exact form against exact LRU and in its sampled (server) form against
//! the server's sampled `allkeys-lru`. Shifting popularity is reported, not
//! asserted. Run with `--nocapture` to see the table (docs/eviction.md).

use larder_engine::policy::{build, Options};
use larder_sim::workload;

const POLICIES: [&str; 6] = [
    "lru",
    "arc",
    "adaptive",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-adaptive",
];

fn ratios(reqs: &[u64], capacity: u64) -> Vec<f64> {
    POLICIES
        .iter()
        .map(|name| {
            let mut p = build(name, capacity, &Options::default()).unwrap();
            let hits = reqs.iter().filter(|&&k| p.access(k, 1)).count();
            100.0 * hits as f64 / reqs.len() as f64
        })
        .collect()
}

fn report(name: &str, r: &[f64]) {
    let cells: Vec<String> = r.iter().map(|x| format!("{x:.2}")).collect();
    println!("| {name} | {} |", cells.join(" | "));
}

#[test]
fn adaptive_beats_lru_on_zipf_and_scans() {
    println!("| workload | {} |", POLICIES.join(" | "));
    let zipf = ratios(&workload::zipf(50_000, 0.99, 200_000, 7), 2_000);
    report("zipf 0.99, 50k keys, cache 2k", &zipf);
    let scans = ratios(
        &workload::hot_set_with_scans(2_000, 20_000, 5_000, 200_000, 7),
        3_000,
    );
    report("hot 2k + 5k-key scan every 20k, cache 3k", &scans);
    let shifting = ratios(
        &workload::shifting_zipf(50_000, 0.99, 50_000, 200_000, 7),
        2_000,
    );
    report("zipf 0.99 reshuffled every 50k, cache 2k", &shifting);
    for r in [&zipf, &scans] {
        assert!(r[2] > r[0], "adaptive {} <= lru {}", r[2], r[0]);
        assert!(
            r[5] > r[3],
            "allkeys-adaptive {} <= allkeys-lru {}",
            r[5],
            r[3]
        );
    }
}

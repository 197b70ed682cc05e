//! `allkeys-adaptive` end to end: it is the policy in force once `maxmemory`
//! is set without a policy (CONFIG GET and INFO say so; an explicit policy
//! still wins; CONFIG SET switches to and from it), and under a hot set
//! interleaved with scans over cold keys it keeps the hot set far better
//! than `allkeys-lru` at the same `maxmemory`.

mod common;

use common::{encode_command, scalar_payload, start_larder, RawClient};

fn config_policy(c: &mut RawClient) -> String {
    let r = c.cmd_str(&["CONFIG", "GET", "maxmemory-policy"]);
    String::from_utf8_lossy(&r)
        .lines()
        .nth(4)
        .unwrap_or("")
        .to_string()
}

fn info_field(c: &mut RawClient, name: &str) -> Option<String> {
    let raw = c.cmd_str(&["INFO", "memory"]);
    let text = String::from_utf8_lossy(&scalar_payload(&raw)?).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

#[test]
fn default_policy_once_maxmemory_is_set() {
    let server = start_larder(&[]);
    let mut c = server.client();
    assert_eq!(config_policy(&mut c), "noeviction");
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory", "100mb"]),
        b"+OK\r\n"
    );
    assert_eq!(config_policy(&mut c), "allkeys-adaptive");
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "maxmemory", "0"]), b"+OK\r\n");
    assert_eq!(config_policy(&mut c), "noeviction");

    let server = start_larder(&["--maxmemory", "100mb"]);
    let mut c = server.client();
    assert_eq!(config_policy(&mut c), "allkeys-adaptive");
    assert_eq!(
        info_field(&mut c, "maxmemory_policy").as_deref(),
        Some("allkeys-adaptive")
    );
    // An explicit choice wins, and is kept when maxmemory changes.
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        b"+OK\r\n"
    );
    assert_eq!(config_policy(&mut c), "allkeys-lru");
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "maxmemory", "0"]), b"+OK\r\n");
    assert_eq!(config_policy(&mut c), "allkeys-lru");
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "ALLKEYS-ADAPTIVE"]),
        b"+OK\r\n"
    );
    assert_eq!(config_policy(&mut c), "allkeys-adaptive");

    let server = start_larder(&["--maxmemory", "100mb", "--maxmemory-policy", "noeviction"]);
    let mut c = server.client();
    assert_eq!(config_policy(&mut c), "noeviction");
}

/// A deterministic generator for the workload.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// GETs `keys` pipelined, then SETs the ones that missed; returns the hits.
fn get_or_set(c: &mut RawClient, keys: &[String], value: &[u8]) -> Vec<bool> {
    let mut out = Vec::new();
    for k in keys {
        out.extend_from_slice(&encode_command(&[b"GET", k.as_bytes()]));
    }
    c.send_raw(&out);
    let hits: Vec<bool> = keys.iter().map(|_| c.read_reply() != b"$-1\r\n").collect();
    out.clear();
    let mut n = 0;
    for (k, hit) in keys.iter().zip(&hits) {
        if !hit {
            out.extend_from_slice(&encode_command(&[b"SET", k.as_bytes(), value]));
            n += 1;
        }
    }
    c.send_raw(&out);
    for _ in 0..n {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
    hits
}

/// Hot-set hit ratio (%) of a server started with `args`: rounds of 2,000
/// GETs over 800 hot keys, each followed by a scan of 3,000 never-seen cold
/// keys, in a cache of about 2,000 keys (less for allkeys-adaptive, whose
/// tuner's fixed ~0.4 MB grows when the scorer is resized for the cache) (GET, then SET on a miss, in
/// pipelined batches of 200). The first two rounds warm the cache up.
fn hot_hit_ratio(args: &[&str]) -> f64 {
    let server = start_larder(args);
    let mut c = server.client();
    // One write with a limit in force, so the policy's side structures
    // exist (allkeys-adaptive's sketch and tuner count in used_memory).
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory", "1gb"]),
        b"+OK\r\n"
    );
    assert_eq!(c.cmd_str(&["SET", "warm", "up"]), b"+OK\r\n");
    let used: u64 = info_field(&mut c, "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory");
    let value = vec![b'v'; 1000];
    // About 1,200 bytes per key with its entry and table slot.
    let max = (used + 2000 * 1200).to_string();
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "maxmemory", &max]), b"+OK\r\n");
    let mut rng = Lcg(42);
    let (mut reqs, mut hits, mut cold) = (0u64, 0u64, 0u64);
    for round in 0..12 {
        for _ in 0..10 {
            let keys: Vec<String> = (0..200)
                .map(|_| format!("hot:{}", rng.below(800)))
                .collect();
            let h = get_or_set(&mut c, &keys, &value);
            if round >= 2 {
                reqs += h.len() as u64;
                hits += h.iter().filter(|&&x| x).count() as u64;
            }
        }
        for _ in 0..15 {
            let keys: Vec<String> = (0..200)
                .map(|_| {
                    cold += 1;
                    format!("cold:{cold}")
                })
                .collect();
            get_or_set(&mut c, &keys, &value);
        }
    }
    let evicted: u64 = {
        let raw = c.cmd_str(&["INFO", "stats"]);
        let text = String::from_utf8_lossy(&scalar_payload(&raw).unwrap_or_default()).to_string();
        text.lines()
            .find_map(|l| l.strip_prefix("evicted_keys:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        evicted > 10_000,
        "the cache must be under pressure: {evicted} evicted"
    );
    100.0 * hits as f64 / reqs as f64
}

#[test]
fn adaptive_keeps_the_hot_set_through_scans_better_than_lru() {
    let adaptive = hot_hit_ratio(&[]);
    let lru = hot_hit_ratio(&["--maxmemory-policy", "allkeys-lru"]);
    eprintln!("hot-set hit ratio: allkeys-adaptive {adaptive:.2}%, allkeys-lru {lru:.2}%");
    assert!(
        adaptive > lru + 10.0,
        "adaptive {adaptive:.2}% vs lru {lru:.2}%"
    );
}

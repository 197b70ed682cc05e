//! `maxmemory` end to end: the limit holds for real (resident memory, not a
//! counter), each policy evicts the keys it should, and `noeviction` refuses
//! writes with Redis's OOM error while reads go on.

mod common;

use common::{encode_command, start_larder, start_redis, RawClient, ServerProc};

/// Sends `cmds` pipelined in batches and returns every reply.
fn pipeline(c: &mut RawClient, cmds: impl Iterator<Item = Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    let mut replies = Vec::new();
    let mut batch = Vec::new();
    let mut n = 0;
    let flush =
        |c: &mut RawClient, batch: &mut Vec<u8>, n: &mut usize, replies: &mut Vec<Vec<u8>>| {
            c.send_raw(batch);
            for _ in 0..*n {
                replies.push(c.read_reply());
            }
            batch.clear();
            *n = 0;
        };
    for cmd in cmds {
        let refs: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        batch.extend_from_slice(&encode_command(&refs));
        n += 1;
        if n == 256 {
            flush(c, &mut batch, &mut n, &mut replies);
        }
    }
    flush(c, &mut batch, &mut n, &mut replies);
    replies
}

fn set_cmd(key: String, value: &[u8], ttl: Option<u64>) -> Vec<Vec<u8>> {
    let mut v = vec![b"SET".to_vec(), key.into_bytes(), value.to_vec()];
    if let Some(t) = ttl {
        v.push(b"EX".to_vec());
        v.push(t.to_string().into_bytes());
    }
    v
}

fn present(c: &mut RawClient, keys: impl Iterator<Item = String>) -> usize {
    let cmds = keys.map(|k| vec![b"EXISTS".to_vec(), k.into_bytes()]);
    pipeline(c, cmds)
        .iter()
        .filter(|r| r.as_slice() == b":1\r\n")
        .count()
}

/// A numeric `INFO` field.
fn info_u64(c: &mut RawClient, section: &str, field: &str) -> u64 {
    let text = String::from_utf8_lossy(&c.cmd_str(&["INFO", section])).into_owned();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

/// Redis's "is the memory limit honoured?" (unit/maxmemory): set the limit
/// 100 KB above what is used, write small keys until `used_memory` (as INFO
/// reports it) is within 4 KB of the limit, then as many again. Returns how
/// far past the limit INFO's `used_memory` ends (negative: under).
fn overshoot_after_refill(c: &mut RawClient, policy: &str) -> i64 {
    c.cmd_str(&["FLUSHALL"]);
    let limit = info_u64(c, "memory", "used_memory") + 100 * 1024;
    c.cmd_str(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    c.cmd_str(&["CONFIG", "SET", "maxmemory-policy", policy]);
    let mut n = 0u64;
    loop {
        c.cmd_str(&["SETEX", &format!("fill:{n}"), "10000", "x"]);
        n += 1;
        if info_u64(c, "memory", "used_memory") + 4096 > limit {
            break;
        }
    }
    assert!(n > 10, "{policy}: the limit was reached after {n} keys");
    for i in 0..n {
        c.cmd_str(&["SETEX", &format!("refill:{i}"), "10000", "x"]);
    }
    info_u64(c, "memory", "used_memory") as i64 - limit as i64
}

/// INFO's `used_memory` stays within a few KB of `maxmemory` once eviction
/// runs, as Redis's does: its reading is not inflated by INFO's own text.
#[test]
fn info_used_memory_stays_at_the_limit_as_redis() {
    let Some(redis) = start_redis(&[]) else {
        return;
    };
    let larder = start_larder(&[]);
    for policy in ["allkeys-lru", "allkeys-random", "volatile-ttl"] {
        for (name, server) in [("redis", &redis), ("larder", &larder)] {
            let over = overshoot_after_refill(&mut server.client(), policy);
            assert!(over < 4096, "{name} {policy}: {over} bytes over the limit");
        }
    }
}

fn start(policy: &str, maxmemory: &str) -> ServerProc {
    start_larder(&["--maxmemory", maxmemory, "--maxmemory-policy", policy])
}

#[test]
fn writing_twice_maxmemory_keeps_rss_bounded() {
    const MAX: u64 = 32 << 20;
    let server = start("allkeys-lru", &MAX.to_string());
    let baseline = server.memory("VmRSS");
    let mut c = server.client();
    let value = vec![b'v'; 1000];
    // 2 × maxmemory of values (plus keys and metadata on top), in two halves
    // a second apart: the LRU clock, as Redis's, counts whole seconds.
    let n = (2 * MAX / 1000) as usize;
    for half in [0..n / 2, n / 2..n] {
        let replies = pipeline(
            &mut c,
            half.map(|i| set_cmd(format!("key:{i:010}"), &value, None)),
        );
        assert!(
            replies.iter().all(|r| r.as_slice() == b"+OK\r\n"),
            "every write accepted under allkeys-lru"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let rss = server.memory("VmRSS");
    let growth = rss.saturating_sub(baseline);
    eprintln!("baseline {baseline} rss {rss} growth {growth} max {MAX}");
    assert!(
        growth <= MAX + MAX / 10,
        "RSS grew {growth} bytes for maxmemory {MAX}"
    );
    // Recent keys survive, old ones were evicted.
    let recent = present(&mut c, (n - 1000..n).map(|i| format!("key:{i:010}")));
    let old = present(&mut c, (0..1000).map(|i| format!("key:{i:010}")));
    assert!(recent >= 950, "recent keys kept: {recent}/1000");
    assert!(old <= 100, "oldest keys evicted: {old}/1000 left");
}

#[test]
fn noeviction_refuses_writes_but_serves_reads() {
    let server = start("noeviction", "4mb");
    let mut c = server.client();
    let value = vec![b'x'; 1000];
    let replies = pipeline(
        &mut c,
        (0..8000).map(|i| set_cmd(format!("k{i}"), &value, None)),
    );
    let oom = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    let first_oom = replies
        .iter()
        .position(|r| r.as_slice() == oom)
        .expect("writes refused past the limit");
    assert!(first_oom > 1000, "the limit was reached early: {first_oom}");
    assert!(replies[first_oom..].iter().all(|r| r.as_slice() == oom));
    let got = c.cmd_str(&["GET", "k0"]);
    assert!(got.ends_with(b"xxxx\r\n"), "reads still served");
    assert_eq!(
        c.cmd_str(&["DEL", "k0", "k1", "k2"]),
        b":3\r\n",
        "DEL is allowed under OOM"
    );
}

#[test]
fn allkeys_lru_keeps_the_hot_set() {
    let server = start("allkeys-lru", "8mb");
    let mut c = server.client();
    let value = vec![b'h'; 500];
    let hot: Vec<String> = (0..500).map(|i| format!("hot:{i}")).collect();
    pipeline(&mut c, hot.iter().map(|k| set_cmd(k.clone(), &value, None)));
    // Cold writes, 4× the limit, while the hot set keeps being read. The LRU
    // clock has one-second resolution, as in Redis: let it tick between rounds.
    for round in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        pipeline(
            &mut c,
            hot.iter()
                .map(|k| vec![b"GET".to_vec(), k.clone().into_bytes()]),
        );
        pipeline(
            &mut c,
            (0..8000).map(|i| set_cmd(format!("cold:{round}:{i}"), &value, None)),
        );
    }
    let kept = present(&mut c, hot.iter().cloned());
    assert!(kept >= 450, "hot keys kept: {kept}/500");
}

#[test]
fn volatile_lru_evicts_only_keys_with_a_ttl() {
    let server = start("volatile-lru", "6mb");
    let mut c = server.client();
    let value = vec![b'p'; 500];
    pipeline(
        &mut c,
        (0..2000).map(|i| set_cmd(format!("persistent:{i}"), &value, None)),
    );
    let replies = pipeline(
        &mut c,
        (0..20000).map(|i| set_cmd(format!("volatile:{i}"), &value, Some(3600))),
    );
    assert!(replies.iter().all(|r| r.as_slice() == b"+OK\r\n"));
    assert_eq!(
        present(&mut c, (0..2000).map(|i| format!("persistent:{i}"))),
        2000
    );
    assert!(present(&mut c, (0..20000).map(|i| format!("volatile:{i}"))) < 20000);
    // Nothing volatile left to evict: persistent writes now fail with OOM.
    let replies = pipeline(
        &mut c,
        (0..20000).map(|i| set_cmd(format!("more:{i}"), &value, None)),
    );
    assert!(replies.iter().any(|r| r.starts_with(b"-OOM")));
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let server = start("volatile-ttl", "6mb");
    let mut c = server.client();
    let value = vec![b't'; 500];
    pipeline(
        &mut c,
        (0..2000).map(|i| set_cmd(format!("long:{i}"), &value, Some(100_000))),
    );
    pipeline(
        &mut c,
        (0..20000).map(|i| set_cmd(format!("short:{i}"), &value, Some(100 + i as u64 / 100))),
    );
    let long = present(&mut c, (0..2000).map(|i| format!("long:{i}")));
    assert!(long >= 1900, "keys with the longest TTL kept: {long}/2000");
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let server = start("allkeys-lfu", "6mb");
    let mut c = server.client();
    let value = vec![b'f'; 500];
    let hot: Vec<String> = (0..300).map(|i| format!("freq:{i}")).collect();
    pipeline(&mut c, hot.iter().map(|k| set_cmd(k.clone(), &value, None)));
    for _ in 0..20 {
        pipeline(
            &mut c,
            hot.iter()
                .map(|k| vec![b"GET".to_vec(), k.clone().into_bytes()]),
        );
    }
    pipeline(
        &mut c,
        (0..30000).map(|i| set_cmd(format!("once:{i}"), &value, None)),
    );
    let kept = present(&mut c, hot.iter().cloned());
    assert!(kept >= 270, "frequent keys kept: {kept}/300");
}

#[test]
fn fifo_and_random_policies_evict_and_accept_writes() {
    for policy in [
        "allkeys-fifo",
        "allkeys-random",
        "volatile-random",
        "volatile-fifo",
    ] {
        let server = start(policy, "4mb");
        let mut c = server.client();
        let value = vec![b'r'; 500];
        let ttl = policy.starts_with("volatile").then_some(3600);
        let replies = pipeline(
            &mut c,
            (0..20000).map(|i| set_cmd(format!("k:{i}"), &value, ttl)),
        );
        assert!(
            replies.iter().all(|r| r.as_slice() == b"+OK\r\n"),
            "{policy}: writes accepted"
        );
        let kept = present(&mut c, (0..20000).map(|i| format!("k:{i}")));
        assert!(kept > 1000 && kept < 20000, "{policy}: {kept} keys kept");
        if policy.ends_with("fifo") {
            let newest = present(&mut c, (19000..20000).map(|i| format!("k:{i}")));
            assert!(
                newest >= 900,
                "{policy}: the newest keys survive ({newest}/1000)"
            );
        }
    }
}

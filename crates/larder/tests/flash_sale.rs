//! The flash-sale check: 100 items in stock, 10,000 concurrent purchase
//! attempts from 50 connections (200 each). Every attempt is an atomic
//! check-and-decrement — once as a Lua script, once as WATCH/MULTI/EXEC with
//! retries. Exactly 100 must succeed, and the stock must end at 0, never
//! going negative. Runs against Larder (or a second redis-server with
//! `LARDER_DIFF_SELF=1`).

mod common;
use common::{esc, reply_int, start_larder, RawClient};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const STOCK: i64 = 100;
const THREADS: usize = 50;
const ATTEMPTS: usize = 200;

const BUY: &str = "local n = tonumber(redis.call('GET', KEYS[1]))
if n == nil or n <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1";

/// The integer in a bulk reply (`$1\r\n7\r\n` → 7).
fn bulk_i64(r: &[u8]) -> i64 {
    String::from_utf8_lossy(r)
        .lines()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an integer bulk: {}", esc(r)))
}

fn run(buy: fn(&mut RawClient, &str) -> bool) {
    let server = start_larder(&[]);
    let port = server.port;
    let mut c = RawClient::connect(port);
    c.cmd_str(&["SET", "stock", &STOCK.to_string()]);
    let sold = Arc::new(AtomicI64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sold = sold.clone();
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                for i in 0..ATTEMPTS {
                    if buy(&mut c, &format!("{t}:{i}")) {
                        sold.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Watch the stock while the sale runs: it never goes below zero.
    let mut watcher = RawClient::connect(port);
    while !threads.iter().all(|t| t.is_finished()) {
        let r = watcher.cmd_str(&["GET", "stock"]);
        assert!(bulk_i64(&r) >= 0, "stock went negative: {}", esc(&r));
    }
    for t in threads {
        t.join().expect("buyer thread");
    }
    assert_eq!(sold.load(Ordering::Relaxed), STOCK);
    assert_eq!(c.cmd_str(&["GET", "stock"]), b"$1\r\n0\r\n".to_vec());
    assert_eq!(reply_int(&c.cmd_str(&["LLEN", "orders"])), Some(STOCK));
}

#[test]
fn flash_sale_lua() {
    run(|c, who| {
        let r = c.cmd_str(&["EVAL", BUY, "2", "stock", "orders", who]);
        match reply_int(&r) {
            Some(n) => n == 1,
            None => panic!("unexpected reply {}", esc(&r)),
        }
    });
}

#[test]
fn flash_sale_watch_multi_exec() {
    run(|c, who| loop {
        c.cmd_str(&["WATCH", "stock"]);
        if bulk_i64(&c.cmd_str(&["GET", "stock"])) <= 0 {
            c.cmd_str(&["UNWATCH"]);
            return false;
        }
        c.cmd_str(&["MULTI"]);
        c.cmd_str(&["DECR", "stock"]);
        c.cmd_str(&["RPUSH", "orders", who]);
        let r = c.cmd_str(&["EXEC"]);
        if r.starts_with(b"*2\r\n") {
            return true;
        }
        assert_eq!(r, b"*-1\r\n".to_vec(), "EXEC: {}", esc(&r));
    });
}

//! Client eviction (`maxmemory-clients`) against a real redis-server: the
//! same scenarios run on both and must end the same way.
//!
//! - A client whose query buffer passes the limit is closed, leaves CLIENT
//!   LIST, and counts in INFO's `evicted_clients`; with CLIENT NO-EVICT on
//!   it stays.
//! - Lowering the limit evicts the largest clients first, and only until
//!   the rest fit.
//! - A client that never reads its replies is evicted once its output
//!   passes the limit, before CLIENT LIST ever shows it over.

mod common;

use std::time::{Duration, Instant};

use common::{start_larder, start_redis, RawClient, ServerProc};

/// Both servers, or `None` (skip) without redis-server.
fn servers() -> Option<[(&'static str, ServerProc); 2]> {
    let redis = start_redis(&[])?;
    Some([("redis", redis), ("larder", start_larder(&[]))])
}

fn client_list(c: &mut RawClient) -> String {
    String::from_utf8_lossy(&c.cmd_str(&["CLIENT", "LIST"])).into_owned()
}

/// A `CLIENT LIST` field of the client named `name`, if it is connected.
fn field(c: &mut RawClient, name: &str, f: &str) -> Option<u64> {
    let needle = format!(" name={name} ");
    let prefix = format!("{f}=");
    client_list(c)
        .lines()
        .find(|l| l.contains(&needle))?
        .split(' ')
        .find_map(|x| x.strip_prefix(prefix.as_str()))?
        .parse()
        .ok()
}

fn info_field(c: &mut RawClient, name: &str) -> u64 {
    let info = String::from_utf8_lossy(&c.cmd_str(&["INFO", "stats"])).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO field")
}

fn named(server: &ServerProc, name: &str) -> RawClient {
    let mut c = server.client();
    c.cmd_str(&["CLIENT", "SETNAME", name]);
    c
}

/// Starts a request whose one argument is `size` bytes, sending all of its
/// bytes but the final CRLF, so it stays in the query buffer.
fn fill_query_buffer(c: &mut RawClient, size: usize) {
    let mut req = format!("*2\r\n${size}\r\n").into_bytes();
    req.resize(req.len() + size, b'v');
    let _ = c.try_send_raw(&req);
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn query_buffer_past_the_limit_evicts_unless_no_evict() {
    let Some(servers) = servers() else {
        return;
    };
    for (name, server) in &servers {
        let mut ctl = named(server, "control");
        ctl.cmd_str(&["CLIENT", "NO-EVICT", "on"]);
        ctl.cmd_str(&["CONFIG", "SET", "maxmemory-clients", "3000000"]);
        let mut kept = named(server, "kept");
        kept.cmd_str(&["CLIENT", "NO-EVICT", "on"]);
        fill_query_buffer(&mut kept, 2_000_000);
        wait_for("the no-evict client's buffer", || {
            field(&mut ctl, "kept", "tot-mem").is_some_and(|m| m > 2_000_000)
        });
        // Past the limit together: the evictable one goes, though smaller.
        let mut big = named(server, "big");
        fill_query_buffer(&mut big, 1_500_000);
        wait_for(&format!("{name}: big evicted"), || {
            field(&mut ctl, "big", "id").is_none()
        });
        assert!(
            big.try_read_reply(Duration::from_secs(5)).is_err(),
            "{name}: the evicted client's connection is closed"
        );
        assert!(
            field(&mut ctl, "kept", "id").is_some(),
            "{name}: no-evict client kept"
        );
        assert_eq!(info_field(&mut ctl, "evicted_clients"), 1, "{name}");
        ctl.cmd_str(&["CONFIG", "SET", "maxmemory-clients", "0"]);
    }
}

#[test]
fn lowering_the_limit_evicts_largest_first_until_the_rest_fit() {
    let Some(servers) = servers() else {
        return;
    };
    for (name, server) in &servers {
        let mut ctl = named(server, "control");
        ctl.cmd_str(&["CLIENT", "NO-EVICT", "on"]);
        let sizes = [
            ("small", 100_000),
            ("medium", 600_000),
            ("large", 2_000_000),
        ];
        let mut conns = Vec::new();
        for (n, size) in sizes {
            for i in 0..2 {
                let mut c = named(server, &format!("{n}{i}"));
                fill_query_buffer(&mut c, size);
                conns.push(c);
                wait_for("a filled query buffer", || {
                    field(&mut ctl, &format!("{n}{i}"), "qbuf").is_some_and(|q| q >= size as u64)
                });
            }
        }
        let mem = |ctl: &mut RawClient, n: &str| -> u64 {
            (0..2)
                .map(|i| field(ctl, &format!("{n}{i}"), "tot-mem").unwrap())
                .sum()
        };
        let small = mem(&mut ctl, "small");
        let medium = mem(&mut ctl, "medium");
        let control = field(&mut ctl, "control", "tot-mem").unwrap();
        // Room for everything but the large ones, with some slack.
        let limit = small + medium + control + 50_000;
        ctl.cmd_str(&["CONFIG", "SET", "maxmemory-clients", &limit.to_string()]);
        let list = client_list(&mut ctl);
        for (n, _) in sizes {
            for i in 0..2 {
                let present = list.contains(&format!(" name={n}{i} "));
                assert_eq!(present, n != "large", "{name}: {n}{i} after the first cut");
            }
        }
        ctl.cmd_str(&["CONFIG", "SET", "maxmemory-clients", "0"]);
    }
}

#[test]
fn a_client_that_never_reads_is_evicted_before_it_shows_over_the_limit() {
    let Some(servers) = servers() else {
        return;
    };
    let limit = 3_000_000u64;
    for (name, server) in &servers {
        let mut ctl = named(server, "control");
        ctl.cmd_str(&["CLIENT", "NO-EVICT", "on"]);
        ctl.cmd_str(&["SETRANGE", "k", "200000", "v"]);
        ctl.cmd_str(&["CONFIG", "SET", "maxmemory-clients", &limit.to_string()]);
        let mut lazy = named(server, "lazy");
        let mut sent = 0;
        while let Some(m) = field(&mut ctl, "lazy", "tot-mem") {
            assert!(m < limit, "{name}: tot-mem {m} shown over the limit");
            assert!(sent < 1000, "{name}: never evicted");
            if lazy.try_send_raw(b"GET k\r\n").is_err() {
                break;
            }
            sent += 1;
        }
        ctl.cmd_str(&["CONFIG", "SET", "maxmemory-clients", "0"]);
        ctl.cmd_str(&["DEL", "k"]);
    }
}

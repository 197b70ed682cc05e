//! Differential tests of the gaps Redis's own TCL suite found: LATENCY
//! HISTOGRAM / GRAPH / HELP, `latency-tracking-info-percentiles`, DEBUG
//! RELOAD options, DEBUG POPULATE / LOADAOF / SET-DISABLE-DENY-SCRIPTS,
//! CLIENT INFO `qbuf`, RESP3 pushes under CLIENT REPLY OFF, a woken
//! BRPOPLPUSH meeting a wrong-type destination, cmsgpack of a big map and a
//! script returning a table that contains itself; the flags commands are
//! checked by (a subcommand's, a script's declared ones, MULTI's queue)
//! over `maxmemory` and short of replicas, MONITOR's order around EXEC,
//! EXEC's clock, tracking of expired keys in BCAST NOLOOP and of scripts'
//! keys, FLUSHALL waking a blocked XREADGROUP, CLIENT PAUSE and read-only
//! scripts in MULTI, `allow-stale` scripts' commands on a stale replica and
//! a writable replica's expiry of the keys its clients set. Latencies are
//! measured, so histogram buckets are normalised; everything else is byte
//! for byte.

mod common;
use std::time::{Duration, Instant};

use common::pair::Pair;
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

/// Waits until `c`'s INFO persistence shows every one of `fields`.
fn wait_persistence(c: &mut RawClient, fields: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let info = String::from_utf8_lossy(&c.cmd_str(&["INFO", "persistence"])).into_owned();
        if fields.iter().all(|f| info.contains(f)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("INFO persistence never showed {fields:?}");
}

/// Waits until `c`'s AOF is on and no rewrite runs.
fn wait_aof(c: &mut RawClient) {
    wait_persistence(c, &["aof_enabled:1", "aof_rewrite_in_progress:0"]);
}

/// Waits until no rewrite runs or waits to.
fn wait_rewrite(c: &mut RawClient) {
    wait_persistence(c, &["aof_rewrite_in_progress:0", "aof_rewrite_scheduled:0"]);
}

/// With the AOF off, BGREWRITEAOF writes a base alone and DEBUG LOADAOF
/// loads it: what was written after the rewrite is gone.
#[test]
fn debug_loadaof_with_the_aof_off() {
    let mut s = session!(DEBUG_ON);
    s.run(&[
        &["CONFIG", "SET", "aof-use-rdb-preamble", "no"],
        &["SET", "a", "1"],
        &["EXPIRE", "a", "1000"],
        &["BGREWRITEAOF"],
    ]);
    wait_rewrite(&mut s.larder);
    wait_rewrite(&mut s.redis);
    s.run(&[
        &["SET", "b", "2"],
        &["DEBUG", "LOADAOF"],
        &["GET", "a"],
        &["GET", "b"],
        &["DBSIZE"],
    ]);
    s.case_with(&["TTL", "a"], Cmp::IntTolerance(2));
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

const NOEVICTION: &[&str] = &[
    "--maxmemory-policy",
    "noeviction",
    "--enable-debug-command",
    "yes",
];

/// Over `maxmemory`, commands are checked by their subcommand's flags
/// (FUNCTION LOAD / RESTORE are denyoom) and by the flags a script
/// declares; inside MULTI every command but EXEC / DISCARD is refused, and
/// an EXEC of a queued denyoom command aborts.
#[test]
fn oom_checks_subcommand_script_and_multi_flags() {
    let mut s = session!(NOEVICTION);
    s.both(&["SET", "x", "value"]);
    s.run(&[
        &["CONFIG", "SET", "maxmemory", "1"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=test\nredis.register_function('f1', function() return 1 end)",
        ],
        &["FUNCTION", "RESTORE", "payload"],
        &["FUNCTION", "LIST"],
        &["EVAL", "#!lua\nreturn 1", "0"],
        &[
            "EVAL",
            "#!lua flags=allow-oom\nreturn redis.call('get', KEYS[1])",
            "1",
            "x",
        ],
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
            "1",
            "x",
        ],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "x"],
        &["MULTI"],
        &["GET", "x"],
        &["PING"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "x"],
        &["DISCARD"],
        &["CONFIG", "SET", "maxmemory", "0"],
    ]);
    let mut other = Pair::new(&s, "other client");
    for queued in [&["SET", "x", "1"][..], &["FUNCTION", "FLUSH"]] {
        s.case(&["MULTI"]);
        s.case(queued);
        s.case(&["GET", "x"]);
        other.case(&["CONFIG", "SET", "maxmemory", "1"]);
        s.case(&["EXEC"]);
        other.case(&["CONFIG", "SET", "maxmemory", "0"]);
    }
    s.case(&["MULTI"]);
    s.case(&["GET", "x"]);
    other.case(&["CONFIG", "SET", "maxmemory", "1"]);
    s.case(&["EXEC"]);
    other.case(&["CONFIG", "SET", "maxmemory", "0"]);
}

/// Short of good replicas, a script that declares flags without
/// `no-writes` is refused as a write, even queued in MULTI, and a script
/// without flags is refused at its first write.
#[test]
fn noreplicas_checks_declared_script_flags() {
    let mut s = session!(&[]);
    s.both(&["SET", "x", "some value"]);
    s.run(&[
        &["CONFIG", "SET", "min-replicas-to-write", "1"],
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
            "1",
            "x",
        ],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "x"],
        &["EVAL", "#!lua\nreturn redis.call('get', KEYS[1])", "1", "x"],
        &["EVAL", "return redis.call('set', KEYS[1], 1)", "1", "x"],
        &["EVAL", "return redis.pcall('set', KEYS[1], 1)", "1", "x"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
        ],
        &["MULTI"],
        &["EVAL", "#!lua\nreturn 1", "0"],
        &["EXEC"],
        &["GET", "x"],
        &["CONFIG", "SET", "min-replicas-to-write", "0"],
    ]);
}

/// MONITOR lines without their timestamp and client address.
fn monitor_line(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    match text.find("] ") {
        Some(i) => text[i + 2..].as_bytes().to_vec(),
        None => raw.to_vec(),
    }
}

/// MONITOR shows a command after it ran: MULTI, the commands EXEC ran,
/// then EXEC; an aborted EXEC is shown too, the refused command is not.
#[test]
fn monitor_shows_exec_after_its_commands() {
    let mut s = session!(&[]);
    let mut mon = Pair::new(&s, "monitor");
    mon.case(&["MONITOR"]);
    s.run(&[
        &["MULTI"],
        &["SET", "foo", "bar"],
        &["EXEC"],
        &["MULTI"],
        &["syntax", "error"],
        &["EXEC"],
        &["SELECT", "2"],
        &["EVAL", "redis.call('set', 'k', 'v') return 1", "0"],
        &["SELECT", "0"],
    ]);
    for i in 0..9 {
        mon.read_with(&format!("monitor line {i}"), Cmp::Normalize(monitor_line));
    }
}

/// MONITOR shows passwords as `(redacted)`: AUTH's, HELLO AUTH's and
/// MIGRATE AUTH/AUTH2's (a missing key: MIGRATE answers NOKEY at once).
#[test]
fn monitor_redacts_secrets() {
    let mut s = session!(&[]);
    let mut mon = Pair::new(&s, "monitor");
    mon.case(&["MONITOR"]);
    s.run(&[
        &["MIGRATE", "127.0.0.1", "1", "nokey", "9", "5000"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "1",
            "nokey",
            "9",
            "5000",
            "AUTH",
            "user",
        ],
        &[
            "MIGRATE",
            "127.0.0.1",
            "1",
            "nokey",
            "9",
            "5000",
            "AUTH2",
            "u",
            "p",
        ],
        &[
            "MIGRATE",
            "127.0.0.1",
            "1",
            "",
            "9",
            "5000",
            "COPY",
            "AUTH",
            "pw",
            "KEYS",
            "nokey",
        ],
        &["AUTH", "not-real"],
        &["AUTH", "not-real", "not-a-password"],
        &["HELLO", "2", "AUTH", "not-real", "not-a-password"],
    ]);
    for i in 0..7 {
        mon.read_with(&format!("monitor line {i}"), Cmp::Normalize(monitor_line));
    }
}

/// Larder's own immutable directives (which Redis's suites do not know to
/// skip) take CONFIG SET to the value in force, and refuse any other.
#[test]
fn own_immutable_directives_accept_their_value() {
    let mut s = session!(&[]);
    let c = &mut s.larder;
    for name in [
        "worker-threads",
        "idle-poll-us",
        "shards",
        "memcache-port",
        "memcache-threads",
    ] {
        let got = c.cmd_str(&["CONFIG", "GET", name]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let value = text.split("\r\n").nth(4).expect("value").to_string();
        assert_eq!(
            c.cmd_str(&["CONFIG", "SET", name, &value]),
            b"+OK\r\n",
            "{name}"
        );
        let other = c.cmd_str(&["CONFIG", "SET", name, "77"]);
        assert!(
            String::from_utf8_lossy(&other).contains("can't set immutable config"),
            "{name}"
        );
    }
}

/// Reads one reply from each of `s`'s own connections (pushes sent to
/// them) and compares them.
fn read_both(s: &mut DiffSession, what: &str) {
    let (l, r) = (s.larder.read_reply(), s.redis.read_reply());
    assert_eq!(common::esc(&l), common::esc(&r), "{what}");
}

/// BCAST with NOLOOP: a key the client set and that then expired is
/// announced — the expiry was the server's doing. EXEC's commands keep
/// EXEC's clock, so its GET still finds the key.
#[test]
fn bcast_noloop_announces_lazily_expired_keys() {
    let mut s = session!(DEBUG_ON);
    s.run(&[
        &["HELLO", "3"],
        &["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"],
        &["MULTI"],
        &["SET", "mykey", "myval", "PX", "1"],
        &["SET", "mykeyotherkey", "myval"],
        &["DEBUG", "SLEEP", "0.1"],
        &["GET", "mykey"],
        &["EXEC"],
    ]);
    read_both(&mut s, "invalidation of the expired key");
    s.case(&["PING"]);
}

/// A tracking client's script that runs a read-only command has the keys
/// it declared tracked (not those the command read); one that only writes
/// has none tracked.
#[test]
fn tracking_scripts_track_declared_keys_on_reads() {
    let mut s = session!(&[]);
    let mut other = Pair::new(&s, "writer");
    s.run(&[&["HELLO", "3"], &["CLIENT", "TRACKING", "on"]]);
    other.case(&["MSET", "key1", "1", "key2", "1"]);
    s.case(&[
        "EVAL",
        "redis.call('set', 'key3', 'bar')",
        "2",
        "key1",
        "key2",
    ]);
    other.case(&["MSET", "key2", "2", "key1", "2", "key3", "2"]);
    s.case(&["EVAL", "redis.call('get', 'key3')", "2", "key1", "key2"]);
    other.case(&["MSET", "key2", "3", "key1", "3", "key3", "3"]);
    read_both(&mut s, "invalidation of key2");
    read_both(&mut s, "invalidation of key1");
    s.case(&["EVAL_RO", "redis.call('get', 'key1')", "1", "key2"]);
    other.case(&["MSET", "key2", "4", "key1", "4"]);
    read_both(&mut s, "invalidation of key2 after EVAL_RO");
    s.case(&["PING"]);
}

const XREADGROUP: [&str; 9] = [
    "XREADGROUP",
    "GROUP",
    "mygroup",
    "Bob",
    "BLOCK",
    "0",
    "STREAMS",
    "mystream",
    ">",
];

/// FLUSHALL and FLUSHDB wake an XREADGROUP blocked on a stream they
/// deleted with an error; a blocked XREADGROUP leaves no consumer behind.
#[test]
fn flush_unblocks_xreadgroup() {
    let mut s = session!(&[]);
    let mut rd = Pair::new(&s, "blocked");
    for flush in [&["FLUSHALL"][..], &["FLUSHDB"]] {
        s.case(&["XGROUP", "CREATE", "mystream", "mygroup", "$", "MKSTREAM"]);
        rd.send(&XREADGROUP);
        std::thread::sleep(Duration::from_millis(200));
        s.case(&["XINFO", "GROUPS", "mystream"]);
        s.case(flush);
        rd.read_with("woken XREADGROUP", Cmp::Exact);
    }
    s.case(&["XGROUP", "CREATE", "mystream", "mygroup", "$", "MKSTREAM"]);
    rd.send(&XREADGROUP);
    std::thread::sleep(Duration::from_millis(200));
    s.case(&["CONFIG", "RESETSTAT"]);
    s.case(&["XGROUP", "DESTROY", "mystream", "mygroup"]);
    rd.read_with("XREADGROUP woken by XGROUP DESTROY", Cmp::Exact);
    s.case_with(&["INFO", "errorstats"], Cmp::Exact);
}

/// An EXEC of scripts declared `no-writes` is not held by CLIENT PAUSE WRITE.
#[test]
fn pause_write_lets_exec_of_read_only_scripts_run() {
    let mut s = session!(&[]);
    let mut rr = Pair::new(&s, "paused client");
    s.case(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    rr.case(&["MULTI"]);
    rr.case(&["EVAL", "#!lua flags=no-writes\nreturn 12", "0"]);
    rr.case(&["EVAL", "#!lua flags=no-writes\nreturn 13", "0"]);
    rr.case(&["EXEC"]);
    s.case(&["CLIENT", "UNPAUSE"]);
}

/// The arguments of each SLOWLOG GET entry (ids, times, durations and
/// client addresses differ).
fn slowlog_args(raw: &[u8]) -> Vec<u8> {
    let entries = common::aggregate_elements(raw).unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| common::aggregate_elements(e)?.get(3).cloned())
        .flatten()
        .collect()
}

/// A blocked command reaches SLOWLOG when it is served, with the
/// arguments it was sent with (XREAD's `$` too); a failed one counts as
/// a failed call.
#[test]
fn slowlog_logs_blocked_commands_when_served() {
    let mut s = session!(&[]);
    let mut rd = Pair::new(&s, "blocked");
    s.case(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    rd.send(&["BLPOP", "l", "0"]);
    std::thread::sleep(Duration::from_millis(200));
    s.run(&[
        &["MULTI"],
        &["LPUSH", "l", "foo"],
        &["SLOWLOG", "RESET"],
        &["EXEC"],
    ]);
    rd.read_with("BLPOP served", Cmp::Exact);
    s.case_with(&["SLOWLOG", "GET"], Cmp::Normalize(slowlog_args));
    rd.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    std::thread::sleep(Duration::from_millis(200));
    s.case(&["SLOWLOG", "RESET"]);
    s.case_with(&["XADD", "s", "1-1", "f", "v"], Cmp::Exact);
    rd.read_with("XREAD served", Cmp::Exact);
    s.case_with(&["SLOWLOG", "GET"], Cmp::Normalize(slowlog_args));
}

/// `dbfilename` and `dir` are protected: CONFIG SET refuses them unless
/// `enable-protected-configs` allows it (yes here; local takes loopback
/// clients, which these are).
#[test]
fn protected_configs_follow_enable_protected_configs() {
    {
        let mut s = session!(&[]);
        s.case(&["CONFIG", "SET", "dbfilename", "other.rdb"]);
        s.case(&["CONFIG", "GET", "dbfilename"]);
    }
    for setting in ["yes", "local"] {
        let mut s = session!(&["--enable-protected-configs", setting]);
        s.case(&["CONFIG", "SET", "dbfilename", "other.rdb"]);
        s.case(&["CONFIG", "GET", "dbfilename"]);
    }
}

/// INFO persistence's `aof_enabled`, `aof_rewrite_in_progress` and
/// `aof_rewrite_scheduled` lines only.
fn aof_state(raw: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(raw)
        .split("\r\n")
        .filter(|l| {
            l.starts_with("aof_enabled:")
                || l.starts_with("aof_rewrite_in_progress:")
                || l.starts_with("aof_rewrite_scheduled:")
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// `rdb-key-save-delay` paces background saves: a BGREWRITEAOF during a
/// BGSAVE is scheduled and runs after it; a second BGREWRITEAOF while one
/// runs is refused; CONFIG SET appendonly no abandons a running rewrite
/// (Redis kills its child) at once, not after the delay.
#[test]
fn slow_saves_schedule_and_abandon_rewrites() {
    let mut s = session!(&["--aof-use-rdb-preamble", "no"]);
    s.run(&[
        &["SET", "k", "v"],
        &["CONFIG", "SET", "rdb-key-save-delay", "1000000"],
        &["BGSAVE"],
        &["BGREWRITEAOF"],
    ]);
    s.case_with(&["INFO", "persistence"], Cmp::Normalize(aof_state));
    s.case(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    std::thread::sleep(Duration::from_millis(1500));
    wait_rewrite(&mut s.larder);
    wait_rewrite(&mut s.redis);
    s.run(&[
        &["CONFIG", "SET", "rdb-key-save-delay", "1000000"],
        &["BGREWRITEAOF"],
        &["BGREWRITEAOF"],
        &["CONFIG", "SET", "rdb-key-save-delay", "0"],
    ]);
    wait_rewrite(&mut s.larder);
    wait_rewrite(&mut s.redis);
    s.run(&[&["CONFIG", "SET", "appendonly", "yes"]]);
    wait_aof(&mut s.larder);
    wait_aof(&mut s.redis);
    s.run(&[
        &["CONFIG", "SET", "rdb-key-save-delay", "10000000"],
        &["BGREWRITEAOF"],
        &["CONFIG", "SET", "appendonly", "no"],
        &["CONFIG", "SET", "rdb-key-save-delay", "0"],
    ]);
    let t = Instant::now();
    wait_rewrite(&mut s.larder);
    wait_rewrite(&mut s.redis);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the rewrite was not abandoned"
    );
    std::thread::sleep(Duration::from_millis(300));
    s.case_with(&["INFO", "persistence"], Cmp::Normalize(aof_state));
}

/// The AOF is replayed past the checks clients get: on a read-only replica
/// (here of a master that does not answer) DEBUG LOADAOF still loads its
/// functions and keys.
#[test]
fn debug_loadaof_on_a_read_only_replica() {
    let mut s = session!(DEBUG_ON);
    s.case(&["CONFIG", "SET", "appendonly", "yes"]);
    wait_aof(&mut s.larder);
    wait_aof(&mut s.redis);
    s.run(&[
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=test\nredis.register_function('test', function() return 'hello' end)",
        ],
        &["SET", "k", "v"],
        &["CONFIG", "SET", "replica-read-only", "yes"],
        &["REPLICAOF", "127.0.0.1", "0"],
        &["DEBUG", "LOADAOF"],
        &["REPLICAOF", "NO", "ONE"],
        &["FUNCTION", "LIST"],
        &["GET", "k"],
    ]);
}

/// An invalidation queued before a command arrives goes out before that
/// command's reply (RESP3, no redirection): the write it announces came
/// first.
#[test]
fn invalidation_queued_before_a_command_precedes_its_reply() {
    let mut s = session!(&[]);
    let mut other = Pair::new(&s, "writer");
    s.run(&[&["HELLO", "3"], &["CLIENT", "TRACKING", "on"]]);
    for round in 0..20 {
        other.case(&["SET", "key1", "1"]);
        s.case(&["GET", "key1"]);
        other.case(&["INCR", "key1"]);
        s.case(&["PING"]);
        read_both(
            &mut s,
            &format!("PONG after the invalidation, round {round}"),
        );
    }
}

/// `maxmemory-clients` takes a memory value or a percentage of
/// `maxmemory`, with Redis's errors; a refused CONFIG SET changes nothing.
#[test]
fn maxmemory_clients_takes_percentages() {
    let mut s = session!(&[]);
    for v in ["10%", "0%", "100%", "1mb", "200%", "-5%", "abc%", "%", "7"] {
        s.case(&["CONFIG", "SET", "maxmemory-clients", v]);
        s.case(&["CONFIG", "GET", "maxmemory-clients"]);
    }
    s.run(&[
        &["CONFIG", "SET", "maxmemory", "10000002"],
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            "10000001",
            "maxmemory-clients",
            "200%",
            "client-query-buffer-limit",
            "invalid",
        ],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "GET", "maxmemory-clients"],
        &["CONFIG", "SET", "maxmemory", "0"],
    ]);
}

/// On a stale replica (`replica-serve-stale-data no`, its master not
/// answering) a script without `allow-stale` gets MASTERDOWN; one with it
/// runs, but the commands it calls that are not flagged `stale` are
/// refused (Redis's scriptVerifyAllowStale), in FCALL and EVAL alike.
#[test]
fn allow_stale_scripts_call_only_stale_commands() {
    let mut s = session!(&[]);
    s.run(&[
        &["SET", "x", "1"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=test\n\
             redis.register_function{function_name='f1', callback=function() return 'hello' end, flags={'no-writes'}}\n\
             redis.register_function{function_name='f2', callback=function() return 'hello' end, flags={'allow-stale', 'no-writes'}}\n\
             redis.register_function{function_name='f3', callback=function() return redis.call('get', 'x') end, flags={'allow-stale', 'no-writes'}}\n\
             redis.register_function{function_name='f4', callback=function() return redis.pcall('get', 'x') end, flags={'allow-stale', 'no-writes'}}",
        ],
        &["CONFIG", "SET", "replica-serve-stale-data", "no"],
        &["REPLICAOF", "127.0.0.1", "1"],
        &["FCALL", "f1", "0"],
        &["FCALL", "f2", "0"],
        &["FCALL", "f3", "0"],
        &["FCALL", "f4", "0"],
        &["EVAL", "#!lua flags=no-writes,allow-stale\nreturn redis.call('get', KEYS[1])", "1", "x"],
        &["EVAL", "#!lua flags=no-writes,allow-stale\nreturn redis.call('ping')", "0"],
        &["EVAL", "#!lua flags=no-writes,allow-stale\nreturn redis.call('select', '0')", "0"],
        &["EVAL", "#!lua flags=no-writes\nreturn redis.call('select', '0')", "0"],
        &["INFO", "errorstats"],
        &["REPLICAOF", "NO", "ONE"],
        &["CONFIG", "SET", "replica-serve-stale-data", "yes"],
        &["FCALL", "f3", "0"],
    ]);
}

/// INFO stats' `expired_keys` and `slave_expires_tracked_keys` lines.
fn replica_expiry_stats(raw: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(raw)
        .split("\r\n")
        .filter(|l| l.starts_with("expired_keys:") || l.starts_with("slave_expires_tracked_keys:"))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// A writable replica's active expiry reclaims the keys its own clients
/// gave a TTL (SET PX, PEXPIRE, RESTORE, in any database), not those set
/// with KEEPTTL, and forgets them on FLUSHALL (Redis's expireSlaveKeys).
#[test]
fn writable_replica_expires_keys_its_clients_set() {
    let mut s = session!(&[]);
    let stats = Cmp::Normalize(replica_expiry_stats);
    s.run(&[
        &["SET", "kept", "v", "PX", "400"],
        &["CONFIG", "SET", "replica-read-only", "no"],
        &["REPLICAOF", "127.0.0.1", "1"],
        &["SET", "kept", "w", "KEEPTTL"],
        &["SET", "short", "v", "PX", "1"],
        &["SET", "long", "v", "EX", "100"],
        &["SET", "viaexpire", "v"],
        &["PEXPIRE", "viaexpire", "1"],
        &["SELECT", "9"],
        &["SET", "short", "v", "PX", "1"],
        &["SELECT", "0"],
    ]);
    let dump = s.case(&["DUMP", "long"]);
    let payload = common::scalar_payload(&dump).expect("DUMP payload");
    s.case_bytes(&[b"RESTORE", b"restored", b"1", &payload]);
    // `kept` expired as a replica's key: it stays for its master's DEL.
    std::thread::sleep(Duration::from_millis(600));
    s.run(&[&["DBSIZE"], &["SELECT", "9"], &["DBSIZE"], &["SELECT", "0"]]);
    s.case_with(&["INFO", "stats"], stats);
    s.run(&[&["FLUSHALL"]]);
    s.case_with(&["INFO", "stats"], stats);
    s.run(&[&["REPLICAOF", "NO", "ONE"]]);
}

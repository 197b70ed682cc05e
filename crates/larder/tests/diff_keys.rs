//! Differential tests: keyspace commands (DEL, EXISTS, KEYS, SCAN, RENAME,
//! MOVE, COPY, EXPIRE family, SELECT, SWAPDB, FLUSH*, ...), against Redis 7.0.
//!
//! Time-dependent replies: TTL/EXPIRETIME are compared with a 1 s tolerance,
//! PTTL/PEXPIRETIME with 500 ms (see `common::default_cmp`); cases that would
//! depend on the exact millisecond (e.g. `EXPIRE k 100` then `EXPIRE k 100 GT`)
//! use absolute EXPIREAT times instead.

mod common;
use common::{Cmp, DiffSession};

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

const DEL_EXISTS_CASES: &[&[&str]] = &[
    &["MSET", "a", "1", "b", "2", "c", "3"],
    &["EXISTS", "a"],
    &["EXISTS", "a", "a", "a"],
    &["EXISTS", "a", "b", "nope", "c"],
    &["EXISTS", "nope"],
    &["EXISTS"],
    &["DEL", "a", "a"],
    &["DEL", "a"],
    &["DEL", "b", "c", "nope"],
    &["DEL"],
    &["MSET", "a", "1", "b", "2"],
    &["UNLINK", "a", "nope", "a"],
    &["UNLINK", "b"],
    &["UNLINK"],
    &["SET", "s", "v"],
    &["TYPE", "s"],
    &["TYPE", "nope"],
    &["TYPE"],
    &["TYPE", "a", "b"],
    &["TOUCH", "s", "s", "nope"],
    &["TOUCH"],
    &["DBSIZE"],
    &["DBSIZE", "x"],
    &["ECHO", "hello"],
    &["ECHO", ""],
    &["ECHO"],
    &["ECHO", "a", "b"],
    &["PING"],
    &["PING", "hi"],
    &["PING", ""],
    &["PING", "a", "b"],
    &["ping"],
];

const KEYS_PATTERN_KEYS: &[&str] = &[
    "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h?llo", "a[b", "a\\b", "foo:1",
    "foo:2", "foo:10", "bar", "Hello", "", "[", "]", "^", "-", "a-b", "ab", "abc", "b",
];

const KEYS_PATTERNS: &[&str] = &[
    "*",
    "h?llo",
    "h*llo",
    "h[ae]llo",
    "h[^e]llo",
    "h[a-b]llo",
    "h[b-a]llo",
    "h\\*llo",
    "h\\?llo",
    "h[*]llo",
    "a\\[b",
    "a[[]b",
    "a\\\\b",
    "foo:?",
    "foo:*",
    "foo:[0-9]",
    "foo:[0-9]*",
    "*[",
    "[",
    "]",
    "a[b",
    "\\",
    "*\\",
    "[a-",
    "[^",
    "[!a]*",
    "[^a]*",
    "hello",
    "HELLO",
    "",
    "*o",
    "*l*",
    "?",
    "??",
    "???",
    "*llo*",
    "a[-]b",
    "a[a-]b",
    "[]]",
    "[\\]]",
    "h[a-z]llo",
    "h[^a-z]llo",
    "[a-c]*",
    "\\h*",
    "h**llo",
    "**",
    "*?*",
];

const RENAME_CASES: &[&[&str]] = &[
    &["SET", "a", "1"],
    &["RENAME", "a", "b"],
    &["GET", "a"],
    &["GET", "b"],
    &["RENAME", "b", "b"],
    &["RENAME", "nope", "x"],
    &["RENAME", "nope", "nope"],
    &["RENAMENX", "nope", "x"],
    &["RENAMENX", "b", "b"],
    &["SET", "c", "3"],
    &["RENAMENX", "b", "c"],
    &["RENAMENX", "b", "d"],
    &["MGET", "b", "c", "d"],
    &["RENAME", "d", "c"],
    &["MGET", "c", "d"],
    &["SET", "t", "v", "EX", "1000"],
    &["RENAME", "t", "t2"],
    &["TTL", "t2"],
    &["SET", "t3", "v"],
    &["RENAME", "t2", "t3"],
    &["TTL", "t3"],
    &["SET", "t4", "v", "EX", "1000"],
    &["SET", "t5", "v"],
    &["RENAME", "t5", "t4"],
    &["TTL", "t4"],
    &["RENAME", "a"],
    &["RENAME", "a", "b", "c"],
    &["RENAMENX", "a"],
    &["DBSIZE"],
];

const MOVE_COPY_CASES: &[&[&str]] = &[
    &["SET", "a", "1"],
    &["MOVE", "a", "1"],
    &["EXISTS", "a"],
    &["MOVE", "a", "1"],
    &["SELECT", "1"],
    &["GET", "a"],
    &["MOVE", "a", "1"],
    &["MOVE", "a", "0"],
    &["SELECT", "0"],
    &["GET", "a"],
    &["SET", "b", "x"],
    &["SELECT", "1"],
    &["SET", "b", "y"],
    &["SELECT", "0"],
    &["MOVE", "b", "1"],
    &["GET", "b"],
    &["MOVE", "b", "16"],
    &["MOVE", "b", "-1"],
    &["MOVE", "b", "abc"],
    &["MOVE", "nope", "1"],
    &["MOVE", "b"],
    &["SET", "t", "v", "EX", "1000"],
    &["MOVE", "t", "2"],
    &["SELECT", "2"],
    &["TTL", "t"],
    &["SELECT", "0"],
    &["SET", "src", "hello"],
    &["COPY", "src", "dst"],
    &["GET", "dst"],
    &["COPY", "src", "dst"],
    &["SET", "src", "world"],
    &["COPY", "src", "dst", "REPLACE"],
    &["GET", "dst"],
    &["COPY", "src", "src"],
    &["COPY", "src", "src", "REPLACE"],
    &["COPY", "src", "src", "DB", "0"],
    &["COPY", "src", "src", "DB", "1"],
    &["SELECT", "1"],
    &["GET", "src"],
    &["SELECT", "0"],
    &["COPY", "src", "other", "DB", "1"],
    &["COPY", "src", "other", "DB", "1"],
    &["COPY", "src", "other", "DB", "1", "REPLACE"],
    &["COPY", "src", "other", "REPLACE", "DB", "1"],
    &["COPY", "src", "x", "DB", "16"],
    &["COPY", "src", "x", "DB", "-1"],
    &["COPY", "src", "x", "DB", "abc"],
    &["COPY", "src", "x", "DB"],
    &["COPY", "src", "x", "FOO"],
    &["COPY", "src", "x", "REPLACE", "REPLACE"],
    &["COPY", "nope", "x"],
    &["COPY", "nope", "x", "REPLACE"],
    &["COPY", "src"],
    &["SET", "ct", "v", "EX", "1000"],
    &["COPY", "ct", "ct2"],
    &["TTL", "ct2"],
    &["SET", "ct3", "v", "EX", "1000"],
    &["COPY", "src", "ct3", "REPLACE"],
    &["TTL", "ct3"],
    &["SET", "n", "12345"],
    &["COPY", "n", "n2"],
    &["OBJECT", "ENCODING", "n2"],
];

const EXPIRE_CASES: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["TTL", "k"],
    &["PTTL", "k"],
    &["TTL", "nope"],
    &["PTTL", "nope"],
    &["EXPIRETIME", "k"],
    &["PEXPIRETIME", "k"],
    &["EXPIRETIME", "nope"],
    &["PEXPIRETIME", "nope"],
    &["EXPIRE", "k", "1000"],
    &["TTL", "k"],
    &["PTTL", "k"],
    &["EXPIRE", "nope", "100"],
    &["PEXPIRE", "k", "2000000"],
    &["TTL", "k"],
    &["EXPIREAT", "k", "4102444800"],
    &["EXPIRETIME", "k"],
    &["PEXPIRETIME", "k"],
    &["PEXPIREAT", "k", "4102444800555"],
    &["PEXPIRETIME", "k"],
    &["EXPIRETIME", "k"],
    &["PERSIST", "k"],
    &["PERSIST", "k"],
    &["PERSIST", "nope"],
    &["TTL", "k"],
    // NX / XX / GT / LT (absolute times keep these deterministic)
    &["EXPIREAT", "k", "4102444800", "XX"],
    &["EXPIREAT", "k", "4102444800", "NX"],
    &["EXPIRETIME", "k"],
    &["EXPIREAT", "k", "4102444900", "NX"],
    &["EXPIREAT", "k", "4102444900", "XX"],
    &["EXPIRETIME", "k"],
    &["EXPIREAT", "k", "4102444900", "GT"],
    &["EXPIREAT", "k", "4102444800", "GT"],
    &["EXPIREAT", "k", "4102445000", "GT"],
    &["EXPIREAT", "k", "4102445000", "LT"],
    &["EXPIREAT", "k", "4102446000", "LT"],
    &["EXPIREAT", "k", "4102444000", "LT"],
    &["EXPIRETIME", "k"],
    &["EXPIREAT", "k", "4102444100", "XX", "GT"],
    &["EXPIREAT", "k", "4102443000", "XX", "LT"],
    &["EXPIRETIME", "k"],
    &["PERSIST", "k"],
    &["EXPIREAT", "k", "4102444800", "GT"],
    &["EXPIREAT", "k", "4102444800", "LT"],
    &["EXPIRETIME", "k"],
    &["PERSIST", "k"],
    &["EXPIRE", "k", "100", "GT"],
    &["EXPIRE", "k", "100", "LT"],
    &["TTL", "k"],
    &["PEXPIRE", "k", "1000000", "GT"],
    &["PEXPIRE", "k", "1000", "GT"],
    &["TTL", "k"],
    &["PEXPIREAT", "k", "4102444800000", "NX"],
    &["EXPIRE", "nope", "100", "NX"],
    &["EXPIRE", "nope", "100", "XX"],
    &["EXPIRE", "nope", "100", "GT"],
    &["EXPIRE", "k", "100", "NX", "XX"],
    &["EXPIRE", "k", "100", "NX", "GT"],
    &["EXPIRE", "k", "100", "NX", "LT"],
    &["EXPIRE", "k", "100", "GT", "LT"],
    &["EXPIRE", "k", "100", "XX", "GT", "LT"],
    &["EXPIRE", "k", "100", "NX", "NX"],
    &["EXPIRE", "k", "100", "GT", "GT"],
    &["EXPIRE", "k", "100", "xx", "nx"],
    &["EXPIRE", "k", "100", "FOO"],
    &["EXPIRE", "k", "100", ""],
    &["PEXPIRE", "k", "100", "NX", "XX"],
    &["EXPIREAT", "k", "100", "GT", "LT"],
    &["PEXPIREAT", "k", "100", "NX", "LT"],
    &["EXPIRE", "k", "abc"],
    &["EXPIRE", "k", "1.5"],
    &["EXPIRE", "k", ""],
    &["EXPIRE", "k"],
    &["EXPIRE"],
    &["EXPIRE", "k", "9223372036854775807"],
    &["EXPIRE", "k", "9223372036854775"],
    &["EXPIRE", "k", "9223372036854776"],
    &["EXPIRE", "k", "-9223372036854775808"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["EXPIRE", "k", "-9223372036854775"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["PEXPIRE", "k", "9223372036854775807"],
    &["PEXPIRE", "k", "9223372036854775000"],
    &["EXPIREAT", "k", "9223372036854775807"],
    &["EXPIREAT", "k", "9223372036854775"],
    &["PEXPIREAT", "k", "9223372036854775807"],
    &["EXPIRE", "k", "99999999999999999999"],
    &["TTL", "k"],
    &["EXPIRE", "k", "0"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["EXPIRE", "k", "-1"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["PEXPIRE", "k", "0"],
    &["GET", "k"],
    &["SET", "k", "v"],
    &["EXPIREAT", "k", "1000000000"],
    &["GET", "k"],
    &["SET", "k", "v"],
    &["PEXPIREAT", "k", "1"],
    &["GET", "k"],
    &["SET", "k", "v"],
    &["EXPIREAT", "k", "0"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["EXPIRE", "k", "-100", "NX"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["EXPIRE", "k", "-100", "XX"],
    &["EXISTS", "k"],
    &["SET", "k", "v", "EX", "1000"],
    &["EXPIRE", "k", "-100", "GT"],
    &["EXISTS", "k"],
    &["EXPIRE", "k", "-100", "LT"],
    &["EXISTS", "k"],
    &["TTL"],
    &["TTL", "a", "b"],
    &["PTTL"],
    &["PERSIST"],
    &["EXPIRETIME"],
    &["PEXPIRETIME", "a", "b"],
    &["SET", "k", "v", "EX", "1000"],
    &["SET", "k", "w"],
    &["TTL", "k"],
    &["SET", "k", "v", "EX", "1000"],
    &["APPEND", "k", "x"],
    &["SETRANGE", "k", "0", "y"],
    &["TTL", "k"],
    &["GETDEL", "k"],
    &["TTL", "k"],
];

const SELECT_SWAP_FLUSH_CASES: &[&[&str]] = &[
    &["SET", "a", "db0"],
    &["SELECT", "1"],
    &["GET", "a"],
    &["SET", "a", "db1"],
    &["SET", "b", "db1"],
    &["DBSIZE"],
    &["SELECT", "15"],
    &["SELECT", "16"],
    &["SELECT", "-1"],
    &["SELECT", "abc"],
    &["SELECT", ""],
    &["SELECT", "1.0"],
    &["SELECT", "01"],
    &["SELECT", "9999999999999999999999"],
    &["SELECT"],
    &["SELECT", "0", "1"],
    &["SELECT", "0"],
    &["GET", "a"],
    &["SWAPDB", "0", "1"],
    &["GET", "a"],
    &["GET", "b"],
    &["DBSIZE"],
    &["SWAPDB", "0", "0"],
    &["SWAPDB", "0", "16"],
    &["SWAPDB", "16", "0"],
    &["SWAPDB", "-1", "0"],
    &["SWAPDB", "a", "0"],
    &["SWAPDB", "0", "b"],
    &["SWAPDB", "0"],
    &["SWAPDB"],
    &["SWAPDB", "1", "0"],
    &["GET", "a"],
    &["SELECT", "1"],
    &["FLUSHDB"],
    &["DBSIZE"],
    &["SELECT", "0"],
    &["DBSIZE"],
    &["FLUSHDB", "ASYNC"],
    &["DBSIZE"],
    &["SET", "x", "1"],
    &["FLUSHDB", "SYNC"],
    &["DBSIZE"],
    &["FLUSHDB", "FOO"],
    &["FLUSHDB", "async"],
    &["FLUSHDB", "SYNC", "ASYNC"],
    &["MSET", "x", "1", "y", "2"],
    &["SELECT", "3"],
    &["SET", "z", "3"],
    &["FLUSHALL"],
    &["DBSIZE"],
    &["SELECT", "0"],
    &["DBSIZE"],
    &["SET", "x", "1"],
    &["FLUSHALL", "ASYNC"],
    &["DBSIZE"],
    &["FLUSHALL", "SYNC"],
    &["FLUSHALL", "FOO"],
    &["FLUSHALL", "SYNC", "ASYNC"],
    &["RANDOMKEY"],
];

#[test]
fn diff_del_exists_type_misc() {
    let mut d = session!();
    d.run(DEL_EXISTS_CASES);
}

#[test]
fn diff_keys_patterns() {
    let mut d = session!();
    for k in KEYS_PATTERN_KEYS {
        d.case(&["SET", k, "v"]);
    }
    d.case(&["DBSIZE"]);
    for p in KEYS_PATTERNS {
        d.case(&["KEYS", p]); // compared as sorted sets (default_cmp)
    }
    d.case(&["KEYS"]);
    d.case(&["KEYS", "a", "b"]);
    d.case(&["FLUSHALL"]);
    d.case(&["KEYS", "*"]);
}

#[test]
fn diff_scan() {
    let mut d = session!();
    // Empty database: deterministic single reply.
    d.case(&["SCAN", "0"]);
    d.case(&["SCAN", "0", "MATCH", "*", "COUNT", "100"]);
    d.scan_set(&[]);
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..300 {
        mset.push(format!("key:{i}"));
        mset.push(i.to_string());
    }
    for i in 0..50 {
        mset.push(format!("other:{i}"));
        mset.push("x".into());
    }
    let refs: Vec<&str> = mset.iter().map(|s| s.as_str()).collect();
    d.case(&refs);
    d.scan_set(&[]);
    d.scan_set(&["COUNT", "1"]);
    d.scan_set(&["COUNT", "7"]);
    d.scan_set(&["COUNT", "1000"]);
    d.scan_set(&["MATCH", "key:1*"]);
    d.scan_set(&["MATCH", "other:?"]);
    d.scan_set(&["MATCH", "nothing*"]);
    d.scan_set(&["MATCH", "key:[1-3]", "COUNT", "5"]);
    d.scan_set(&["TYPE", "string"]);
    d.scan_set(&["TYPE", "STRING"]);
    d.scan_set(&["TYPE", "list"]);
    d.scan_set(&["TYPE", "hash", "MATCH", "*"]);
    d.scan_set(&["COUNT", "10", "MATCH", "other:*", "TYPE", "string"]);
    d.scan_set(&["MATCH", "a", "MATCH", "key:*"]);
    // Errors are single replies.
    for c in [
        &["SCAN"][..],
        &["SCAN", "abc"],
        &["SCAN", "1.5"],
        &["SCAN", "0", "COUNT", "0"],
        &["SCAN", "0", "COUNT", "-1"],
        &["SCAN", "0", "COUNT", "abc"],
        &["SCAN", "0", "COUNT"],
        &["SCAN", "0", "MATCH"],
        &["SCAN", "0", "TYPE"],
        &["SCAN", "0", "FOO", "bar"],
        &["SCAN", "0", "FOO"],
        &["SCAN", "18446744073709551616"],
    ] {
        d.case(c);
    }
    // Cursors are parsed as unsigned 64-bit with strtoull semantics: 2^64-1
    // and even "-1" (wraps to 2^64-1) are valid. The keys returned depend on
    // hash order, so only compare the reply's type.
    d.case_with(&["SCAN", "18446744073709551615"], Cmp::TypeOnly);
    d.case_with(&["SCAN", "-1"], Cmp::TypeOnly);
    d.case(&["FLUSHALL"]);
    d.case(&["SET", "only", "1"]);
    d.case(&["SCAN", "0"]);
    d.case(&["SCAN", "0", "MATCH", "o*"]);
    d.case(&["SCAN", "0", "MATCH", "x*"]);
    d.case(&["SCAN", "0", "TYPE", "string"]);
    d.case(&["SCAN", "0", "TYPE", "set"]);
}

#[test]
fn diff_randomkey() {
    let mut d = session!();
    d.case_with(&["RANDOMKEY"], Cmp::Exact); // empty db -> nil
    d.case(&["SET", "only", "1"]);
    d.case_with(&["RANDOMKEY"], Cmp::Exact); // single key -> that key
    d.case_with(&["RANDOMKEY", "x"], Cmp::Exact);
    d.case(&["SET", "two", "2"]);
    d.case(&["RANDOMKEY"]); // type only
    d.case(&["FLUSHALL"]);
    d.case_with(&["RANDOMKEY"], Cmp::Exact);
}

#[test]
fn diff_rename() {
    let mut d = session!();
    d.run(RENAME_CASES);
}

#[test]
fn diff_move_copy() {
    let mut d = session!();
    d.run(MOVE_COPY_CASES);
}

#[test]
fn diff_expire_family() {
    let mut d = session!();
    d.run(EXPIRE_CASES);
}

#[test]
fn diff_select_swapdb_flush() {
    let mut d = session!();
    d.run(SELECT_SWAP_FLUSH_CASES);
    // SELECT is per connection: a new connection starts in db 0.
    d.case(&["SELECT", "2"]);
    d.case(&["SET", "c", "2"]);
    d.reconnect();
    d.case(&["GET", "c"]);
    d.case(&["SELECT", "2"]);
    d.case(&["GET", "c"]);
    // SWAPDB is visible to other connections.
    let (mut l2, mut r2) = d.new_clients();
    d.case(&["SWAPDB", "0", "2"]);
    common::diff_case(&mut l2, &mut r2, &["GET", "c"]);
    common::diff_case(&mut l2, &mut r2, &["DBSIZE"]);
}

#[test]
fn diff_short_expiry_is_honoured() {
    let mut d = session!();
    d.case(&["SET", "p", "v", "PX", "100"]);
    d.case(&["SET", "q", "v"]);
    d.case(&["PEXPIRE", "q", "100"]);
    d.case(&["SET", "r", "v"]);
    d.case(&["GETEX", "r", "PX", "100"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.case(&["GET", "p"]);
    d.case(&["EXISTS", "q"]);
    d.case(&["TTL", "r"]);
    d.case(&["KEYS", "*"]);
    d.case(&["DBSIZE"]);
}

/// SCAN and RANDOMKEY delete the expired keys they meet (DBSIZE, which
/// counts keys not yet reclaimed, tells), as Redis's lazy expiry does.
#[test]
fn diff_scan_and_randomkey_reclaim_expired_keys() {
    let Some(mut d) = DiffSession::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    d.case(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for k in ["a1", "a2", "b1"] {
        d.case(&["SET", k, "v", "PX", "20"]);
    }
    d.case(&["SET", "live", "v"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    d.case(&["DBSIZE"]);
    d.case(&["SCAN", "0", "MATCH", "a*", "COUNT", "100"]);
    d.case(&["DBSIZE"]);
    d.case(&["SCAN", "0", "TYPE", "hash", "COUNT", "100"]);
    d.case(&["DBSIZE"]);
    d.case(&["DEL", "live"]);
    d.case(&["SET", "c1", "v", "PX", "20"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    d.case(&["RANDOMKEY"]);
    d.case(&["DBSIZE"]);
    d.case(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
}

const OBJECT_CASES: &[&[&str]] = &[
    &["SET", "s", "hello"],
    &["SET", "n", "123"],
    &["SET", "big", "1234567890123"],
    &["SET", "neg", "-5"],
    &["SET", "pad", "0123"],
    &["SET", "e44", "12345678901234567890123456789012345678901234"],
    &[
        "SET",
        "r45",
        "123456789012345678901234567890123456789012345",
    ],
    &["OBJECT", "ENCODING", "s"],
    &["OBJECT", "ENCODING", "n"],
    &["OBJECT", "ENCODING", "big"],
    &["OBJECT", "ENCODING", "neg"],
    &["OBJECT", "ENCODING", "pad"],
    &["OBJECT", "ENCODING", "e44"],
    &["OBJECT", "ENCODING", "r45"],
    &["OBJECT", "ENCODING", "nope"],
    &["object", "encoding", "s"],
    &["OBJECT", "Encoding", "s"],
    &["OBJECT", "REFCOUNT", "s"],
    &["OBJECT", "REFCOUNT", "n"],
    &["OBJECT", "REFCOUNT", "big"],
    &["OBJECT", "REFCOUNT", "neg"],
    &["OBJECT", "REFCOUNT", "nope"],
    &["OBJECT", "FREQ", "s"],
    &["OBJECT", "FREQ", "nope"],
    &["OBJECT", "IDLETIME", "nope"],
    &["OBJECT"],
    &["OBJECT", "ENCODING"],
    &["OBJECT", "ENCODING", "a", "b"],
    &["OBJECT", "FREQ"],
    &["OBJECT", "HELP", "x"],
    &["OBJECT", "FOO"],
    &["OBJECT", "FOO", "bar"],
    &["OBJECT", ""],
    &["TYPE", "n"],
    &["TYPE", "r45"],
];

#[test]
fn diff_object() {
    let mut d = session!();
    d.run(OBJECT_CASES);
    d.case_with(&["OBJECT", "HELP"], Cmp::Exact);
    d.case_with(&["object", "help"], Cmp::Exact);
    d.case_with(&["OBJECT", "IDLETIME", "s"], Cmp::IntTolerance(1));
    // RESP3: a missing key is the RESP3 null.
    d.case(&["HELLO", "3"]);
    d.case(&["OBJECT", "ENCODING", "nope"]);
    d.case(&["OBJECT", "REFCOUNT", "nope"]);
    d.case(&["TYPE", "s"]);
    d.case(&["TYPE", "nope"]);
}

#[test]
fn diff_object_under_lfu() {
    let mut d = match DiffSession::start(&["--maxmemory-policy", "allkeys-lfu"]) {
        Some(s) => s,
        None => return,
    };
    // LFU counters decay by the minute (lfu-decay-time 1): stay clear of a
    // minute boundary, which the two servers could see on different sides.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        % 60;
    if secs >= 45 {
        std::thread::sleep(std::time::Duration::from_secs(61 - secs));
    }
    d.case(&["SET", "s", "hello"]);
    // A new key starts at LFU_INIT (5); the first access always increments.
    d.case_with(&["OBJECT", "FREQ", "s"], Cmp::Exact);
    d.case(&["GET", "s"]);
    d.case_with(&["OBJECT", "FREQ", "s"], Cmp::Exact);
    d.case_with(&["OBJECT", "IDLETIME", "s"], Cmp::Exact);
    d.case_with(&["OBJECT", "IDLETIME", "nope"], Cmp::Exact);
    d.case_with(&["OBJECT", "FREQ", "nope"], Cmp::Exact);
    // TTL, TYPE, EXISTS and OBJECT do not touch the key.
    d.case(&["TTL", "s"]);
    d.case(&["TYPE", "s"]);
    d.case(&["EXISTS", "s"]);
    d.case_with(&["OBJECT", "FREQ", "s"], Cmp::Exact);
    // RESTORE FREQ sets the counter; IDLETIME is ignored under LFU.
    d.case_bytes(&[b"RESTORE", b"f", b"0", BAR_PAYLOAD, b"FREQ", b"100"]);
    d.case_with(&["OBJECT", "FREQ", "f"], Cmp::Exact);
    d.case_bytes(&[b"RESTORE", b"g", b"0", BAR_PAYLOAD, b"IDLETIME", b"100"]);
    d.case_with(&["OBJECT", "FREQ", "g"], Cmp::Exact);
    // COPY makes a new object (fresh counter); RENAME keeps the counter.
    d.case(&["COPY", "f", "f2"]);
    d.case_with(&["OBJECT", "FREQ", "f2"], Cmp::Exact);
    d.case(&["RENAME", "f", "f3"]);
    d.case_with(&["OBJECT", "FREQ", "f3"], Cmp::Exact);
}

/// `SET foo bar; DUMP foo` on redis-server 7.0.15.
const BAR_PAYLOAD: &[u8] = b"\x00\x03bar\x0a\x00\xe6\xbe\x49\x60\xee\x66\xfd\x17";

/// Redis's crc64 (CRC-64/Jones, reflected), bit by bit: an oracle independent
/// of the engine's table-driven one, used to build deliberately odd payloads.
fn crc64(bytes: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in bytes {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` + RDB version + CRC64, as DUMP would frame it.
fn framed(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn diff_dump_restore() {
    let mut d = session!();
    // DUMP output is byte-identical for values Redis would not compress
    // (20 bytes or less, or not compressible).
    for v in [
        "bar",
        "",
        "0",
        "-1",
        "127",
        "128",
        "-128",
        "-129",
        "32767",
        "32768",
        "-32769",
        "2147483647",
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
        "007",
        "+1",
        "12345678901",
        "1.5",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ] {
        d.case(&["SET", "k", v]);
        d.case(&["DUMP", "k"]);
    }
    d.case(&["DUMP", "nope"]);
    d.case(&["DUMP"]);
    d.case(&["DUMP", "a", "b"]);
    // Round trips on each server.
    d.case_bytes(&[b"RESTORE", b"r", b"0", BAR_PAYLOAD]);
    d.case(&["GET", "r"]);
    d.case(&["TTL", "r"]);
    d.case(&["OBJECT", "ENCODING", "r"]);
    d.case_bytes(&[b"RESTORE", b"r", b"0", BAR_PAYLOAD]);
    d.case_bytes(&[b"RESTORE", b"r", b"0", BAR_PAYLOAD, b"REPLACE"]);
    d.case_bytes(&[b"RESTORE", b"r", b"100000", BAR_PAYLOAD, b"replace"]);
    d.case(&["PTTL", "r"]);
    d.case_bytes(&[
        b"RESTORE",
        b"r",
        b"4102444800000",
        BAR_PAYLOAD,
        b"REPLACE",
        b"ABSTTL",
    ]);
    d.case(&["PEXPIRETIME", "r"]);
    // Deadlines already past: OK, and no key (REPLACE still deletes the old one).
    d.case_bytes(&[b"RESTORE", b"r", b"1", BAR_PAYLOAD, b"REPLACE", b"ABSTTL"]);
    d.case(&["EXISTS", "r"]);
    d.case_bytes(&[b"RESTORE", b"r", b"9223372036854775807", BAR_PAYLOAD]);
    d.case(&["EXISTS", "r"]);
    d.case_bytes(&[b"RESTORE", b"r", b"0", BAR_PAYLOAD, b"ABSTTL"]);
    d.case(&["TTL", "r"]);
    d.case_bytes(&[b"RESTORE", b"i", b"0", BAR_PAYLOAD, b"IDLETIME", b"1000"]);
    d.case_bytes_with(&[b"OBJECT", b"IDLETIME", b"i"], Cmp::IntTolerance(1));
    // Errors, in Redis's order: options, BUSYKEY, TTL, payload.
    let bad_crc = {
        let mut p = BAR_PAYLOAD.to_vec();
        let n = p.len();
        p[n - 1] ^= 0xff;
        p
    };
    let v11 = framed(b"\x00\x03bar", 11);
    let v9 = framed(b"\x00\x03bar", 9);
    let bad_type = framed(b"\x7f\x03bar", 10);
    let bad_len = framed(b"\x00\x3fbar", 10);
    let lzf = framed(b"\x00\xc3\x05\x0a\x00a\xe0\x00\x00", 10);
    let bad_lzf = framed(b"\x00\xc3\x05\x0b\x00a\xe0\x00\x00", 10);
    let long_len = framed(b"\x00\x80\x00\x00\x00\x02hi", 10);
    let int8 = framed(b"\x00\xc0\xfe", 10);
    let raw_int = framed(b"\x00\x02-7", 10);
    let cases: &[&[&[u8]]] = &[
        &[b"RESTORE", b"x", b"0", &bad_crc],
        &[b"RESTORE", b"x", b"0", b"short"],
        &[b"RESTORE", b"x", b"0", b""],
        &[b"RESTORE", b"x", b"0", &v11],
        &[b"RESTORE", b"x", b"0", &bad_type],
        &[b"RESTORE", b"x", b"0", &bad_len],
        &[b"RESTORE", b"x", b"0", &bad_lzf],
        &[b"RESTORE", b"x", b"-1", BAR_PAYLOAD],
        &[b"RESTORE", b"x", b"abc", BAR_PAYLOAD],
        &[b"RESTORE", b"x", b"abc", b"junk", b"FOO"],
        &[b"RESTORE", b"x", b"0", BAR_PAYLOAD, b"IDLETIME"],
        &[b"RESTORE", b"x", b"0", BAR_PAYLOAD, b"IDLETIME", b"-1"],
        &[b"RESTORE", b"x", b"0", BAR_PAYLOAD, b"IDLETIME", b"abc"],
        &[b"RESTORE", b"x", b"0", BAR_PAYLOAD, b"FREQ", b"256"],
        &[b"RESTORE", b"x", b"0", BAR_PAYLOAD, b"FREQ", b"-1"],
        &[
            b"RESTORE",
            b"x",
            b"0",
            BAR_PAYLOAD,
            b"FREQ",
            b"1",
            b"IDLETIME",
            b"1",
        ],
        &[
            b"RESTORE",
            b"x",
            b"0",
            BAR_PAYLOAD,
            b"IDLETIME",
            b"1",
            b"FREQ",
            b"1",
        ],
        &[b"RESTORE", b"x", b"0", BAR_PAYLOAD, b"ABSTTL", b"1"],
        &[b"RESTORE", b"x", b"0"],
        &[b"RESTORE", b"i", b"abc", b"junk"],
        &[b"RESTORE", b"i", b"0", BAR_PAYLOAD, b"FREQ", b"5"],
        &[b"EXISTS", b"x"],
        &[b"RESTORE", b"v9", b"0", &v9],
        &[b"GET", b"v9"],
        &[b"RESTORE", b"lzf", b"0", &lzf],
        &[b"GET", b"lzf"],
        &[b"OBJECT", b"ENCODING", b"lzf"],
        &[b"RESTORE", b"ll", b"0", &long_len],
        &[b"GET", b"ll"],
        &[b"RESTORE", b"i8", b"0", &int8],
        &[b"GET", b"i8"],
        &[b"OBJECT", b"ENCODING", b"i8"],
        &[b"RESTORE", b"ri", b"0", &raw_int],
        &[b"OBJECT", b"ENCODING", b"ri"],
    ];
    d.run_bytes(cases);
}

/// DUMP on one server, RESTORE on the other, compared by GET / TTL / OBJECT
/// ENCODING: Redis's payloads (LZF-compressed ones included) load into Larder
/// and Larder's load into Redis.
#[test]
fn diff_dump_restore_cross() {
    let mut d = session!();
    let long_text = "abc".repeat(100);
    let binary: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let random: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let values: Vec<Vec<u8>> = vec![
        b"bar".to_vec(),
        b"".to_vec(),
        b"12345".to_vec(),
        b"-100".to_vec(),
        b"4294967296".to_vec(),
        b"9223372036854775807".to_vec(),
        b"x".repeat(44),
        b"y".repeat(45),
        long_text.into_bytes(),
        binary,
        random,
    ];
    for (i, v) in values.iter().enumerate() {
        let src = format!("src{i}");
        d.case_bytes(&[b"SET", src.as_bytes(), v, b"PX", b"500000"]);
        let from_larder = d.larder.cmd(&[b"DUMP", src.as_bytes()]);
        let from_redis = d.redis.cmd(&[b"DUMP", src.as_bytes()]);
        let pl = common::scalar_payload(&from_larder).expect("larder DUMP payload");
        let pr = common::scalar_payload(&from_redis).expect("redis DUMP payload");
        // Each server restores the other's payload, keeping the source's TTL.
        let dst = format!("dst{i}");
        for (client, payload) in [(&mut d.larder, &pr), (&mut d.redis, &pl)] {
            let r = client.cmd(&[b"RESTORE", dst.as_bytes(), b"400000", payload]);
            assert_eq!(r, b"+OK\r\n", "RESTORE {dst}: {}", common::esc(&r));
        }
        d.case(&["GET", &dst]);
        d.case(&["STRLEN", &dst]);
        d.case(&["PTTL", &dst]);
        d.case(&["OBJECT", "ENCODING", &dst]);
        d.case(&["TYPE", &dst]);
    }
}

#[test]
fn diff_expired_keys_are_invisible() {
    let mut d = session!();
    d.case(&["SET", "gone", "v", "PX", "20"]);
    d.case(&["SET", "gone2", "v", "PX", "20"]);
    d.case(&["SET", "live", "v"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    d.case(&["TYPE", "gone"]);
    d.case(&["OBJECT", "ENCODING", "gone"]);
    d.case(&["DUMP", "gone"]);
    d.case(&["TTL", "gone"]);
    d.case(&["PERSIST", "gone"]);
    d.case(&["EXPIRE", "gone", "100"]);
    d.case(&["RENAME", "gone2", "x"]);
    d.case(&["RENAMENX", "gone2", "x"]);
    d.case(&["MOVE", "gone2", "1"]);
    d.case(&["COPY", "gone2", "x"]);
    d.case(&["TOUCH", "gone2", "live"]);
    d.case(&["SCAN", "0"]);
    d.case(&["SCAN", "0", "MATCH", "g*"]);
    d.case(&["KEYS", "*"]);
    d.case_with(&["RANDOMKEY"], Cmp::Exact);
    d.case(&["SET", "dst", "v", "PX", "20"]);
    d.case(&["SET", "src", "w"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    d.case(&["RENAMENX", "src", "dst"]);
    d.case(&["GET", "dst"]);
    d.case(&["SET", "dst2", "v", "PX", "20"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    d.case(&["COPY", "dst", "dst2"]);
    d.case(&["GET", "dst2"]);
}

const KEYS_MISC_CASES: &[&[&str]] = &[
    // EXPIRE option parsing: options are read before the time, case-insensitively.
    &["SET", "k", "v"],
    &["EXPIRE", "k", "abc", "FOO"],
    &["EXPIRE", "k", "abc", "NX", "XX"],
    &["EXPIRE", "k", "100", "foo\nbar"],
    &["PEXPIREAT", "k", "9223372036854775807", "Gt"],
    &["EXPIRE", "k", "9223372036854775808"],
    &["EXPIRE", "k", "-9223372036854776"],
    &["PEXPIRE", "k", "-9223372036854775808"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["PEXPIRE", "k", "9223372036854775807", "NX"],
    &["SET", "k", "v"],
    &["EXPIREAT", "k", "-1"],
    &["EXISTS", "k"],
    // Multi-key commands across shards.
    &[
        "MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8",
        "i", "9",
    ],
    &["EXISTS", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
    &["TOUCH", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
    &["DEL", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "a"],
    &["EXISTS", "a", "i"],
    // RENAME keeps the value's encoding.
    &["SET", "num", "42"],
    &["RENAME", "num", "num2"],
    &["OBJECT", "ENCODING", "num2"],
    &[
        "SET",
        "rawv",
        "0123456789012345678901234567890123456789012345",
    ],
    &["RENAME", "rawv", "rawv2"],
    &["OBJECT", "ENCODING", "rawv2"],
    &["COPY", "rawv2", "rawv3"],
    &["OBJECT", "ENCODING", "rawv3"],
    // MOVE / COPY with the db given in odd forms.
    &["MOVE", "num2", "1.0"],
    &["MOVE", "num2", "4294967296"],
    &["MOVE", "num2", " 1"],
    &["MOVE", "num2", "0"],
    &["COPY", "num2", "x", "db", "2147483648"],
    &["COPY", "num2", "x", "REPLACE", "FOO"],
    &["COPY", "num2", "x", "DB", "0", "DB", "1"],
    &["SELECT", "1"],
    &["GET", "x"],
    &["SELECT", "0"],
    &["RANDOMKEY", "a"],
    &["SCAN", "0", "COUNT", "9223372036854775807", "MATCH", "num*"],
    &["SCAN", "0", "COUNT", "9223372036854775808"],
    &["SCAN", "", "MATCH", "num*"],
    &["SCAN", "-0", "MATCH", "num*"],
    &["SCAN", "+", "MATCH", "num*"],
    &["SCAN", " 0"],
    &["SCAN", "0 "],
    &["SCAN", "0", "type", "STRING", "match", "num*"],
    &["SCAN", "abc", "COUNT", "0"],
    &["SCAN", "0", "COUNT", "0", "FOO"],
];

#[test]
fn diff_keys_misc() {
    let mut d = session!();
    d.run(KEYS_MISC_CASES);
    d.case(&["HELLO", "3"]);
    d.case(&["SCAN", "0", "MATCH", "num*"]);
    d.case(&["KEYS", "num*"]);
    d.case(&["DUMP", "nope"]);
    d.case(&["TTL", "num2"]);
    d.case(&["FLUSHALL"]);
    d.case_with(&["RANDOMKEY"], Cmp::Exact);
}

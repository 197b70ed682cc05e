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

//! Differential tests: hash commands, byte-identical against Redis 7.0
//! (order-free where Redis's order is its hash table's; by shape where the
//! reply is random). Cases are data: add a line to a table to extend.

mod coll_common;
mod common;
use coll_common::{assert_members, diff_full_scan, flat_payloads, SHAPE};
use common::{Cmp, DiffSession};

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

const BASICS: &[&[&str]] = &[
    &["HSET", "h", "f1", "v1"],
    &["HSET", "h", "f2", "v2", "f3", "v3"],
    &["HSET", "h", "f1", "new", "f4", "v4"],
    &["HSET", "h", "f1"],
    &["HSET", "h", "f1", "v", "f2"],
    &["HSET", "h"],
    &["HMSET", "h", "f5", "v5", "f6", "v6"],
    &["HMSET", "h", "f5"],
    &["HGET", "h", "f1"],
    &["HGET", "h", "nofield"],
    &["HGET", "noh", "f1"],
    &["HMGET", "h", "f1", "nofield", "f2"],
    &["HMGET", "noh", "a", "b"],
    &["HMGET", "h"],
    &["HLEN", "h"],
    &["HLEN", "noh"],
    &["HSTRLEN", "h", "f1"],
    &["HSTRLEN", "h", "nofield"],
    &["HSTRLEN", "noh", "f1"],
    &["HEXISTS", "h", "f1"],
    &["HEXISTS", "h", "nofield"],
    &["HEXISTS", "noh", "f1"],
    &["HKEYS", "h"],
    &["HVALS", "h"],
    &["HGETALL", "h"],
    &["HKEYS", "noh"],
    &["HVALS", "noh"],
    &["HGETALL", "noh"],
    &["HSETNX", "h", "f1", "x"],
    &["HSETNX", "h", "f9", "x"],
    &["HSETNX", "new", "f", "x"],
    &["HSETNX", "h", "f1"],
    &["HGET", "h", "f9"],
    &["HDEL", "h", "f1", "f2", "nofield", "f1"],
    &["HDEL", "noh", "f1"],
    &["HDEL", "h"],
    &["HLEN", "h"],
    &["HDEL", "h", "f3", "f4", "f5", "f6", "f9", "zz"],
    &["EXISTS", "h"],
    &["TYPE", "new"],
    &["OBJECT", "ENCODING", "new"],
    &["HSET", "e", "", ""],
    &["HGET", "e", ""],
    &["HSTRLEN", "e", ""],
    &["HGETALL", "e"],
];

const INCR: &[&[&str]] = &[
    &["HINCRBY", "h", "n", "5"],
    &["HINCRBY", "h", "n", "-10"],
    &["HINCRBY", "h", "n", "x"],
    &["HINCRBY", "h", "n", "1.5"],
    &["HINCRBY", "noh", "n", "x"],
    &["EXISTS", "noh"],
    &[
        "HSET",
        "h",
        "s",
        "hello",
        "big",
        "9223372036854775807",
        "sp",
        " 1",
    ],
    &["HINCRBY", "h", "s", "1"],
    &["HINCRBY", "h", "sp", "1"],
    &["HINCRBY", "h", "big", "1"],
    &["HINCRBY", "h", "big", "-1"],
    &["HSET", "h", "small", "-9223372036854775808"],
    &["HINCRBY", "h", "small", "-1"],
    &["HINCRBY", "h", "small", "9223372036854775807"],
    &["HINCRBYFLOAT", "h", "f", "1.5"],
    &["HINCRBYFLOAT", "h", "f", "0.1"],
    &["HINCRBYFLOAT", "h", "f", "-3.6"],
    &["HINCRBYFLOAT", "h", "f", "1e3"],
    &["HINCRBYFLOAT", "h", "f", "inf"],
    &["HINCRBYFLOAT", "h", "f", "nan"],
    &["HINCRBYFLOAT", "h", "f", "abc"],
    &["HINCRBYFLOAT", "h", "f", ""],
    &["HINCRBYFLOAT", "h", "s", "1"],
    &["HINCRBYFLOAT", "h", "n", "1"],
    &["HINCRBYFLOAT", "h", "big", "1"],
    &["HSET", "h", "huge", "1.7976931348623157e308"],
    &["HINCRBYFLOAT", "h", "huge", "1.7976931348623157e308"],
    &["HINCRBYFLOAT", "h", "new", "5.0e3"],
    &["HINCRBYFLOAT", "h", "new2", "-0"],
    &["HINCRBYFLOAT", "h", "hex", "0x10"],
    &["HGETALL", "h"],
    &["HINCRBYFLOAT", "noh2", "f", "inf"],
    &["EXISTS", "noh2"],
];

const RANDFIELD_ERRORS: &[&[&str]] = &[
    &["HSET", "h", "a", "1", "b", "2", "c", "3"],
    &["HRANDFIELD", "h", "x"],
    &["HRANDFIELD", "h", "-9223372036854775808"],
    &["HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"],
    &["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"],
    &["HRANDFIELD", "h", "1", "WITHVALUE"],
    &["HRANDFIELD", "h", "1", "WITHVALUES", "x"],
    &["HRANDFIELD", "h", "0"],
    &["HRANDFIELD", "h", "0", "WITHVALUES"],
    &["HRANDFIELD", "noh"],
    &["HRANDFIELD", "noh", "5"],
    &["HRANDFIELD", "noh", "-5", "WITHVALUES"],
    &["HRANDFIELD", "noh", "x"],
];

const SCAN_CASES: &[&[&str]] = &[
    &["HSET", "h", "a", "1", "b", "2", "ab", "3"],
    &["HSCAN", "h", "0"],
    &["HSCAN", "h", "0", "MATCH", "a*"],
    &["HSCAN", "h", "0", "COUNT", "1"],
    &["HSCAN", "h", "0", "COUNT", "0"],
    &["HSCAN", "h", "0", "COUNT", "-1"],
    &["HSCAN", "h", "0", "COUNT", "x"],
    &["HSCAN", "h", "0", "TYPE", "string"],
    &["HSCAN", "h", "0", "MATCH"],
    &["HSCAN", "h", "0", "FOO", "bar"],
    &["HSCAN", "h", "x"],
    &["HSCAN", "h", "-1"],
    &["HSCAN", "h", "18446744073709551616"],
    &["HSCAN", "noh", "0"],
    &["HSCAN", "noh", "0", "COUNT", "0"],
    &["HSCAN", "noh", "x"],
    &["HSCAN", "h"],
];

const WRONGTYPE: &[&[&str]] = &[
    &["SET", "s", "v"],
    &["HSET", "s", "f", "v"],
    &["HMSET", "s", "f", "v"],
    &["HSETNX", "s", "f", "v"],
    &["HGET", "s", "f"],
    &["HMGET", "s", "f"],
    &["HDEL", "s", "f"],
    &["HLEN", "s"],
    &["HSTRLEN", "s", "f"],
    &["HEXISTS", "s", "f"],
    &["HKEYS", "s"],
    &["HVALS", "s"],
    &["HGETALL", "s"],
    &["HINCRBY", "s", "f", "1"],
    &["HINCRBY", "s", "f", "x"],
    &["HINCRBYFLOAT", "s", "f", "1"],
    &["HINCRBYFLOAT", "s", "f", "inf"],
    &["HRANDFIELD", "s"],
    &["HRANDFIELD", "s", "1"],
    &["HRANDFIELD", "s", "x"],
    &["HSCAN", "s", "0"],
    &["HSCAN", "s", "x"],
    &["HSET", "h", "f", "v"],
    &["GET", "h"],
    &["INCR", "h"],
    &["LPUSH", "h", "x"],
];

#[test]
fn diff_hash_basics() {
    let mut d = session!();
    d.run(BASICS);
}

#[test]
fn diff_hash_incr() {
    let mut d = session!();
    d.run(INCR);
}

#[test]
fn diff_hash_wrongtype() {
    let mut d = session!();
    d.run(WRONGTYPE);
}

#[test]
fn diff_hash_scan() {
    let mut d = session!();
    d.run(SCAN_CASES);
    // A hashtable-encoded hash: full iterations compared by content.
    for i in 0..1000 {
        d.case(&["HSET", "big", &format!("field:{i}"), &format!("v{i}")]);
    }
    d.case(&["OBJECT", "ENCODING", "big"]);
    diff_full_scan(&mut d, "HSCAN", "big", &[], 2);
    diff_full_scan(&mut d, "HSCAN", "big", &["COUNT", "3"], 2);
    diff_full_scan(&mut d, "HSCAN", "big", &["COUNT", "1000"], 2);
    diff_full_scan(&mut d, "HSCAN", "big", &["MATCH", "field:1*"], 2);
    diff_full_scan(
        &mut d,
        "HSCAN",
        "big",
        &["MATCH", "nomatch*", "COUNT", "50"],
        2,
    );
}

#[test]
fn diff_hash_encodings() {
    let mut d = session!();
    // Entries: 512 stay listpack, the 513th converts.
    for i in 0..512 {
        d.case(&["HSET", "h", &format!("f{i}"), "v"]);
    }
    d.case(&["OBJECT", "ENCODING", "h"]);
    d.case(&["HSET", "h", "f0", "again"]);
    d.case(&["OBJECT", "ENCODING", "h"]);
    d.case(&["HSET", "h", "one-more", "v"]);
    d.case(&["OBJECT", "ENCODING", "h"]);
    d.case(&["HDEL", "h", "one-more", "f1", "f2"]);
    d.case(&["OBJECT", "ENCODING", "h"]);
    d.case(&["HLEN", "h"]);
    // Lengths: 64 bytes stay listpack, 65 convert (field or value).
    let v64 = "x".repeat(64);
    let v65 = "x".repeat(65);
    for (k, f, v) in [
        ("a", "f", v64.as_str()),
        ("b", "f", v65.as_str()),
        ("c", v65.as_str(), "v"),
        ("d", v64.as_str(), v64.as_str()),
    ] {
        d.case(&["HSET", k, f, v]);
        d.case(&["OBJECT", "ENCODING", k]);
    }
    // A long argument converts even if its pair is not the one written.
    d.case(&["HSET", "e", "f", "v"]);
    d.case(&["HMSET", "e", "f", "v", "g", &v65]);
    d.case(&["OBJECT", "ENCODING", "e"]);
    // HSETNX on an existing field with a long value.
    d.case(&["HSET", "g", "f", "v"]);
    d.case(&["HSETNX", "g", "f", &v65]);
    d.case(&["OBJECT", "ENCODING", "g"]);
    d.case(&["HSETNX", "g", &v65, "v"]);
    d.case(&["OBJECT", "ENCODING", "g"]);
    // HINCRBY / HINCRBYFLOAT with a long field.
    d.case(&["HSET", "i", "f", "1"]);
    d.case(&["HINCRBY", "i", &v65, "1"]);
    d.case(&["OBJECT", "ENCODING", "i"]);
    d.case(&["HSET", "j", "f", "1"]);
    d.case(&["HINCRBYFLOAT", "j", &v65, "1.5"]);
    d.case(&["OBJECT", "ENCODING", "j"]);
    // Thresholds under CONFIG SET, old names included.
    d.case(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]);
    d.case(&["CONFIG", "GET", "hash-max-ziplist-entries"]);
    d.case(&["CONFIG", "SET", "hash-max-ziplist-value", "3"]);
    d.case(&["CONFIG", "GET", "hash-max-listpack-value"]);
    d.case(&["HSET", "k", "a", "1", "b", "2"]);
    d.case(&["OBJECT", "ENCODING", "k"]);
    d.case(&["HSET", "k", "c", "3"]);
    d.case(&["OBJECT", "ENCODING", "k"]);
    d.case(&["HSET", "m", "abcd", "1"]);
    d.case(&["OBJECT", "ENCODING", "m"]);
    d.case(&["CONFIG", "SET", "hash-max-listpack-value", "1kb"]);
    d.case(&["CONFIG", "GET", "hash-max-listpack-value"]);
    d.case(&["CONFIG", "SET", "hash-max-listpack-entries", "1kb"]);
    d.case(&["CONFIG", "SET", "hash-max-listpack-entries", "-1"]);
    d.case(&["CONFIG", "SET", "hash-max-listpack-entries", "512"]);
    d.case(&["CONFIG", "SET", "hash-max-listpack-value", "64"]);
    // COPY keeps the encoding; RENAME moves the hash.
    d.case(&["COPY", "a", "a2"]);
    d.case(&["OBJECT", "ENCODING", "a2"]);
    d.case(&["HGETALL", "a2"]);
    d.case(&["COPY", "h", "h2"]);
    d.case(&["HLEN", "h2"]);
    d.case(&["HDEL", "h2", "f3"]);
    d.case(&["HLEN", "h"]);
    d.case(&["RENAME", "h2", "h3"]);
    d.case(&["HLEN", "h3"]);
    d.case(&["OBJECT", "ENCODING", "h3"]);
}

#[test]
fn diff_hash_randfield() {
    let mut d = session!();
    d.run(RANDFIELD_ERRORS);
    for (key, n) in [("small", 5), ("big", 600)] {
        for i in 0..n {
            d.both(&["HSET", key, &format!("f{i}"), &format!("v{i}")]);
        }
        let fields: Vec<Vec<u8>> = (0..n).map(|i| format!("f{i}").into_bytes()).collect();
        for count in [
            "1", "3", "-3", "-20", "5", "6", "599", "600", "1000", "-1000",
        ] {
            for extra in [&[][..], &["WITHVALUES"][..]] {
                let mut args = vec!["HRANDFIELD", key, count];
                args.extend_from_slice(extra);
                let r = d.case_with(&args, SHAPE);
                if extra.is_empty() {
                    assert_members(&r, &fields, "HRANDFIELD");
                    let c: i64 = count.parse().unwrap_or(0);
                    if c > 0 {
                        let mut got = flat_payloads(&r);
                        got.sort();
                        got.dedup();
                        assert_eq!(got.len() as i64, c.min(n), "distinct fields");
                    }
                }
            }
        }
        let r = d.case_with(&["HRANDFIELD", key], SHAPE);
        assert_members(&r, &fields, "HRANDFIELD");
    }
    d.case(&["HELLO", "3"]);
    for count in ["2", "-2", "1000"] {
        d.case_with(&["HRANDFIELD", "small", count, "WITHVALUES"], SHAPE);
    }
    d.case_with(&["HRANDFIELD", "small", "5", "WITHVALUES"], Cmp::Sorted);
}

/// RESP3: HGETALL is a map, nils are `_`.
#[test]
fn diff_hashes_resp3() {
    let mut d = session!();
    d.case(&["HELLO", "3"]);
    d.run(BASICS);
    d.run(INCR);
    d.reset();
    d.run(SCAN_CASES);
}

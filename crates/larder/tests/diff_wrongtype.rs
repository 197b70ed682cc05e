//! Differential tests that need non-string values (lists, hashes, sets,
//! sorted sets): WRONGTYPE errors from string commands, TYPE, SCAN TYPE,
//! RENAME/COPY/MOVE of collections.

mod common;
use common::DiffSession;

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

const SETUP: &[&[&str]] = &[
    &["RPUSH", "list", "a", "b", "c"],
    &["HSET", "hash", "f", "v", "g", "w"],
    &["SADD", "set", "x", "y"],
    &["ZADD", "zset", "1", "one", "2", "two"],
    &["SET", "str", "v"],
];

const WRONGTYPE_CASES: &[&[&str]] = &[
    &["GET", "list"],
    &["GET", "hash"],
    &["GET", "set"],
    &["GET", "zset"],
    &["SET", "list", "x", "GET"],
    &["GETSET", "list", "x"],
    &["GETDEL", "list"],
    &["GETEX", "list", "EX", "100"],
    &["GETRANGE", "list", "0", "-1"],
    &["SUBSTR", "list", "0", "-1"],
    &["SETRANGE", "list", "0", "x"],
    &["APPEND", "list", "x"],
    &["STRLEN", "hash"],
    &["INCR", "list"],
    &["DECR", "hash"],
    &["INCRBY", "set", "1"],
    &["DECRBY", "zset", "1"],
    &["INCRBYFLOAT", "list", "1.5"],
    &["LCS", "list", "str"],
    &["LCS", "str", "hash"],
    &["MGET", "list", "str", "hash", "missing"],
    &["SETNX", "list", "x"],
    &["MSETNX", "list", "x", "new", "y"],
    &["EXISTS", "new"],
    &["TYPE", "list"],
    &["TYPE", "hash"],
    &["TYPE", "set"],
    &["TYPE", "zset"],
    &["TYPE", "str"],
    &["OBJECT", "ENCODING", "list"],
    &["OBJECT", "ENCODING", "hash"],
    &["OBJECT", "ENCODING", "set"],
    &["OBJECT", "ENCODING", "zset"],
    &["KEYS", "*"],
    &["EXPIRE", "list", "1000"],
    &["TTL", "list"],
    &["RENAME", "list", "list2"],
    &["LRANGE", "list2", "0", "-1"],
    &["RENAME", "list2", "list"],
    &["COPY", "hash", "hash2"],
    &["HGETALL", "hash2"],
    &["MOVE", "set", "1"],
    &["SELECT", "1"],
    &["SMEMBERS", "set"],
    &["SELECT", "0"],
    // A string command that overwrites regardless of type.
    &["SET", "zset", "now-a-string"],
    &["TYPE", "zset"],
    &["MSET", "hash", "x"],
    &["TYPE", "hash"],
    // Collection commands against a string.
    &["LPUSH", "str", "x"],
    &["HGET", "str", "f"],
    &["SADD", "str", "x"],
    &["ZADD", "str", "1", "x"],
    &["LPUSH"],
    &["HSET", "h", "f"],
    &["SADD", "s"],
    &["ZADD", "z", "1"],
    &["DEL", "list", "set", "str"],
    &["DBSIZE"],
];

#[test]
fn diff_wrongtype() {
    let mut d = session!();
    d.run(SETUP);
    d.run(WRONGTYPE_CASES);
}

#[test]
fn diff_scan_type_collections() {
    let mut d = session!();
    d.run(SETUP);
    for t in ["string", "list", "hash", "set", "zset", "stream", "none"] {
        d.scan_set(&["TYPE", t]);
    }
}

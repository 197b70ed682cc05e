//! Differential tests: sorted-set commands, byte-identical against Redis
//! 7.0 (random replies by shape and membership). Cases are data.

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

const ZADD_CASES: &[&[&str]] = &[
    &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
    &["ZADD", "z", "1", "a"],
    &["ZADD", "z", "5", "a"],
    &["ZADD", "z", "CH", "5", "a", "6", "b", "7", "d"],
    &["ZADD", "z", "NX", "0", "a", "0", "e"],
    &["ZADD", "z", "XX", "9", "a", "9", "f"],
    &["ZADD", "z", "XX", "CH", "10", "a", "10", "f"],
    &["ZADD", "z", "GT", "CH", "1", "a", "20", "b"],
    &["ZADD", "z", "LT", "CH", "100", "c", "1", "d"],
    &["ZADD", "z", "GT", "1", "new1"],
    &["ZADD", "z", "XX", "GT", "CH", "100", "a"],
    &["ZADD", "z", "INCR", "2.5", "a"],
    &["ZADD", "z", "INCR", "NX", "2.5", "a"],
    &["ZADD", "z", "INCR", "XX", "2.5", "nothere"],
    &["ZADD", "z", "INCR", "GT", "-1", "a"],
    &["ZADD", "z", "INCR", "LT", "-1", "a"],
    &["ZADD", "z", "INCR", "0", "a"],
    &["ZADD", "z", "INCR", "inf", "inc"],
    &["ZADD", "z", "INCR", "-inf", "inc"],
    &["ZADD", "z", "INCR", "+inf", "inc"],
    &["ZADD", "z", "NX", "XX", "1", "a"],
    &["ZADD", "z", "GT", "LT", "1", "a"],
    &["ZADD", "z", "GT", "NX", "1", "a"],
    &["ZADD", "z", "INCR", "1", "a", "2", "b"],
    &["ZADD", "z", "1"],
    &["ZADD", "z", "1", "a", "2"],
    &["ZADD", "z", "NX"],
    &["ZADD", "z", "NX", "1"],
    &["ZADD", "z", "x", "a"],
    &["ZADD", "z", "nan", "a"],
    &["ZADD", "z", "1", "a", "nan", "b"],
    &["ZADD", "z", "1e400", "a"],
    &["ZADD", "z", "1e-400", "a"],
    &["ZADD", "z", " 1", "a"],
    &["ZADD", "z", "1 ", "a"],
    &["ZADD", "z", "", "a"],
    &["ZADD", "z", "0x10", "hex"],
    &[
        "ZADD", "z", "1e3", "e3", "-0", "negzero", ".5", "half", "5.", "five",
    ],
    &[
        "ZADD",
        "z",
        "-inf",
        "ninf",
        "inf",
        "pinf",
        "1.7976931348623157e308",
        "max",
    ],
    &[
        "ZADD",
        "z",
        "0.1",
        "tenth",
        "123456789012345678",
        "big",
        "3.0000000000000004",
        "t",
    ],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZSCORE", "z", "negzero"],
    &["ZSCORE", "z", "tenth"],
    &["ZSCORE", "z", "nothere"],
    &["ZSCORE", "noz", "a"],
    &["ZMSCORE", "z", "a", "nothere", "ninf"],
    &["ZMSCORE", "noz", "a", "b"],
    &["ZMSCORE", "z"],
    &["ZCARD", "z"],
    &["ZCARD", "noz"],
    &["ZADD", "noz", "XX", "1", "a"],
    &["EXISTS", "noz"],
    &["ZADD", "noz", "XX", "INCR", "1", "a"],
    &["ZINCRBY", "z", "1.5", "a"],
    &["ZINCRBY", "z", "-1.5", "fresh"],
    &["ZINCRBY", "z", "x", "a"],
    &["ZINCRBY", "z", "nan", "a"],
    &["ZINCRBY", "z", "inf", "pinf"],
    &["ZINCRBY", "z", "-inf", "pinf"],
    &["ZINCRBY", "z", "nx", "a"],
    &["ZINCRBY", "z", "1"],
    &["ZINCRBY", "newz", "5", "m"],
    &["ZRANK", "z", "a"],
    &["ZREVRANK", "z", "a"],
    &["ZRANK", "z", "ninf"],
    &["ZREVRANK", "z", "ninf"],
    &["ZRANK", "z", "nothere"],
    &["ZRANK", "noz", "a"],
    &["ZREM", "z", "a", "nothere", "b"],
    &["ZREM", "noz", "a"],
    &["ZREM", "z"],
    &["ZCARD", "z"],
    &["TYPE", "z"],
    &["OBJECT", "ENCODING", "z"],
];

const RANGES: &[&[&str]] = &[
    &[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "5", "f", "6", "g",
    ],
    &["ZRANGE", "z", "0", "-1"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZRANGE", "z", "2", "4", "withscores"],
    &["ZRANGE", "z", "-3", "-1"],
    &["ZRANGE", "z", "-100", "100"],
    &["ZRANGE", "z", "5", "2"],
    &["ZRANGE", "z", "7", "10"],
    &["ZRANGE", "z", "0", "-1", "REV"],
    &["ZRANGE", "z", "1", "3", "REV", "WITHSCORES"],
    &["ZRANGE", "z", "x", "1"],
    &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
    &["ZRANGE", "z", "0", "1", "LIMIT", "0", "-1"],
    &["ZRANGE", "z", "0", "1", "LIMIT", "0"],
    &["ZRANGE", "z", "0", "1", "FOO"],
    &["ZRANGE", "z", "0", "1", "REV", "REV"],
    &["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"],
    &["ZRANGE", "z", "2", "5", "BYSCORE"],
    &["ZRANGE", "z", "(2", "5", "BYSCORE", "WITHSCORES"],
    &["ZRANGE", "z", "(2", "(5", "BYSCORE"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE"],
    &["ZRANGE", "z", "5", "2", "BYSCORE", "REV"],
    &["ZRANGE", "z", "5", "2", "BYSCORE"],
    &["ZRANGE", "z", "2", "5", "BYSCORE", "REV"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "3"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "0"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "3"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "6", "3"],
    &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "7", "3"],
    &[
        "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "100", "3",
    ],
    &[
        "ZRANGE",
        "z",
        "+inf",
        "-inf",
        "BYSCORE",
        "REV",
        "LIMIT",
        "1",
        "2",
        "WITHSCORES",
    ],
    &["ZRANGE", "z", "x", "1", "BYSCORE"],
    &["ZRANGE", "z", "(", "1", "BYSCORE"],
    &["ZRANGE", "z", "", "3", "BYSCORE"],
    &["ZRANGE", "z", " 1", "3", "BYSCORE"],
    &["ZRANGE", "z", "1e400", "1e500", "BYSCORE"],
    &["ZRANGE", "z", "-1e400", "(1e400", "BYSCORE"],
    &["ZRANGE", "z", "nan", "1", "BYSCORE"],
    &["ZRANGE", "z", "[a", "[c", "BYLEX"],
    &["ZRANGE", "z", "[a", "[c", "BYLEX", "WITHSCORES"],
    &["ZRANGE", "noz", "0", "-1"],
    &["ZRANGE", "noz", "x", "-1"],
    &["ZRANGE", "noz", "0", "-1", "LIMIT", "0", "1"],
    &["ZREVRANGE", "z", "0", "2"],
    &["ZREVRANGE", "z", "0", "2", "WITHSCORES"],
    &["ZREVRANGE", "z", "0", "2", "REV"],
    &["ZREVRANGE", "z", "0", "2", "BYSCORE"],
    &["ZREVRANGE", "z", "0", "2", "LIMIT", "0", "1"],
    &["ZRANGEBYSCORE", "z", "2", "5"],
    &[
        "ZRANGEBYSCORE",
        "z",
        "2",
        "5",
        "WITHSCORES",
        "LIMIT",
        "1",
        "2",
    ],
    &[
        "ZRANGEBYSCORE",
        "z",
        "2",
        "5",
        "LIMIT",
        "1",
        "2",
        "WITHSCORES",
    ],
    &["ZRANGEBYSCORE", "z", "2", "5", "LIMIT", "x", "2"],
    &["ZRANGEBYSCORE", "z", "2", "5", "LIMIT", "1"],
    &["ZRANGEBYSCORE", "z", "2", "5", "REV"],
    &["ZRANGEBYSCORE", "z", "2", "5", "BYLEX"],
    &["ZRANGEBYSCORE", "z", "(5", "(5"],
    &["ZRANGEBYSCORE", "z", "5", "5"],
    &["ZREVRANGEBYSCORE", "z", "5", "2"],
    &[
        "ZREVRANGEBYSCORE",
        "z",
        "5",
        "2",
        "WITHSCORES",
        "LIMIT",
        "0",
        "2",
    ],
    &["ZREVRANGEBYSCORE", "z", "2", "5"],
    &["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "2", "-1"],
    &["ZCOUNT", "z", "2", "5"],
    &["ZCOUNT", "z", "(2", "(5"],
    &["ZCOUNT", "z", "-inf", "+inf"],
    &["ZCOUNT", "z", "5", "2"],
    &["ZCOUNT", "z", "x", "2"],
    &["ZCOUNT", "noz", "1", "2"],
    &["ZCOUNT", "noz", "x", "2"],
    &["ZRANGESTORE", "dst", "z", "0", "2"],
    &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
    &["OBJECT", "ENCODING", "dst"],
    &[
        "ZRANGESTORE",
        "dst",
        "z",
        "5",
        "2",
        "BYSCORE",
        "REV",
        "LIMIT",
        "0",
        "2",
    ],
    &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
    &["ZRANGESTORE", "dst", "z", "0", "2", "WITHSCORES"],
    &["ZRANGESTORE", "dst", "z", "10", "20"],
    &["EXISTS", "dst"],
    &["ZRANGESTORE", "dst", "noz", "0", "-1"],
    &["ZRANGESTORE", "dst", "z", "[a", "[b", "BYLEX"],
    &["ZRANGE", "dst", "0", "-1"],
    &["SET", "str", "v"],
    &["ZRANGESTORE", "str", "z", "0", "0"],
    &["TYPE", "str"],
    &["ZRANGESTORE", "dst", "str", "0", "0"],
    &["ZREMRANGEBYRANK", "z", "0", "0"],
    &["ZREMRANGEBYRANK", "z", "-2", "-1"],
    &["ZREMRANGEBYRANK", "z", "10", "20"],
    &["ZREMRANGEBYRANK", "z", "x", "1"],
    &["ZREMRANGEBYRANK", "noz", "0", "1"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZREMRANGEBYSCORE", "z", "(2", "4"],
    &["ZREMRANGEBYSCORE", "z", "10", "20"],
    &["ZREMRANGEBYSCORE", "z", "x", "20"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"],
    &["EXISTS", "z"],
];

const LEX: &[&[&str]] = &[
    &[
        "ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "ab", "0", "",
    ],
    &["ZRANGEBYLEX", "l", "-", "+"],
    &["ZRANGEBYLEX", "l", "[a", "[c"],
    &["ZRANGEBYLEX", "l", "(a", "(c"],
    &["ZRANGEBYLEX", "l", "[", "[a"],
    &["ZRANGEBYLEX", "l", "(", "+"],
    &["ZRANGEBYLEX", "l", "-", "[b", "LIMIT", "1", "2"],
    &["ZRANGEBYLEX", "l", "+", "-"],
    &["ZRANGEBYLEX", "l", "-", "-"],
    &["ZRANGEBYLEX", "l", "+", "+"],
    &["ZRANGEBYLEX", "l", "[c", "[a"],
    &["ZRANGEBYLEX", "l", "[c", "(c"],
    &["ZRANGEBYLEX", "l", "[c", "[c"],
    &["ZRANGEBYLEX", "l", "a", "[c"],
    &["ZRANGEBYLEX", "l", "[a", "c"],
    &["ZRANGEBYLEX", "l", "++", "-"],
    &["ZRANGEBYLEX", "l", "-", "+", "WITHSCORES"],
    &["ZREVRANGEBYLEX", "l", "+", "-"],
    &["ZREVRANGEBYLEX", "l", "[c", "[a"],
    &["ZREVRANGEBYLEX", "l", "[c", "-", "LIMIT", "1", "2"],
    &["ZREVRANGEBYLEX", "l", "-", "+"],
    &["ZRANGE", "l", "[c", "-", "BYLEX", "REV"],
    &["ZRANGE", "l", "-", "+", "BYLEX", "LIMIT", "2", "-1"],
    &["ZLEXCOUNT", "l", "-", "+"],
    &["ZLEXCOUNT", "l", "[b", "(d"],
    &["ZLEXCOUNT", "l", "x", "+"],
    &["ZLEXCOUNT", "nol", "-", "+"],
    &["ZLEXCOUNT", "nol", "x", "+"],
    &["ZREMRANGEBYLEX", "l", "[b", "[c"],
    &["ZREMRANGEBYLEX", "l", "x", "[c"],
    &["ZREMRANGEBYLEX", "nol", "-", "+"],
    &["ZRANGE", "l", "0", "-1"],
    &["ZREMRANGEBYLEX", "l", "-", "+"],
    &["EXISTS", "l"],
];

const POPS: &[&[&str]] = &[
    &[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ],
    &["ZPOPMIN", "z"],
    &["ZPOPMAX", "z"],
    &["ZPOPMIN", "z", "2"],
    &["ZPOPMAX", "z", "0"],
    &["ZPOPMIN", "z", "-1"],
    &["ZPOPMIN", "z", "x"],
    &["ZPOPMIN", "z", "1", "2"],
    &["ZPOPMIN", "noz"],
    &["ZPOPMIN", "noz", "0"],
    &["ZPOPMIN", "noz", "3"],
    &["ZPOPMAX", "z", "10"],
    &["EXISTS", "z"],
    &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
    &["ZMPOP", "1", "z", "MIN"],
    &["ZMPOP", "2", "noz", "z", "MAX", "COUNT", "10"],
    &["EXISTS", "z"],
    &["ZMPOP", "1", "z", "MIN"],
    &["ZMPOP", "0", "z", "MIN"],
    &["ZMPOP", "x", "z", "MIN"],
    &["ZMPOP", "1", "z", "FOO"],
    &["ZMPOP", "2", "z", "MIN"],
    &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
    &["ZMPOP", "1", "z", "MIN", "COUNT"],
    &["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"],
    &["SET", "str", "v"],
    &["ZADD", "z", "1", "a"],
    &["ZMPOP", "2", "str", "z", "MIN"],
    &["ZMPOP", "2", "z", "str", "MIN"],
    &["ZPOPMIN", "str"],
    &["ZPOPMIN", "str", "0"],
    &["ZPOPMAX", "str", "-1"],
];

const ALGEBRA: &[&[&str]] = &[
    &["ZADD", "a", "1", "x", "2", "y", "3", "z"],
    &["ZADD", "b", "10", "y", "20", "z", "30", "w"],
    &["SADD", "s", "x", "w", "v"],
    &["ZUNION", "2", "a", "b"],
    &["ZUNION", "2", "a", "b", "WITHSCORES"],
    &["ZUNION", "3", "a", "b", "s", "WITHSCORES"],
    &["ZUNION", "2", "a", "b", "WEIGHTS", "2", "0.5", "WITHSCORES"],
    &["ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"],
    &["ZUNION", "2", "a", "b", "AGGREGATE", "max", "WITHSCORES"],
    &["ZUNION", "2", "a", "nokey", "WITHSCORES"],
    &["ZUNION", "2", "a", "b", "WEIGHTS", "1"],
    &["ZUNION", "2", "a", "b", "WEIGHTS", "1", "x"],
    &["ZUNION", "2", "a", "b", "AGGREGATE"],
    &["ZUNION", "2", "a", "b", "AGGREGATE", "AVG"],
    &["ZUNION", "2", "a", "b", "FOO"],
    &["ZUNION", "0", "a"],
    &["ZUNION", "-1", "a"],
    &["ZUNION", "x", "a"],
    &["ZUNION", "3", "a", "b"],
    &["ZINTER", "2", "a", "b", "WITHSCORES"],
    &["ZINTER", "2", "a", "s", "WITHSCORES"],
    &[
        "ZINTER",
        "2",
        "a",
        "b",
        "WEIGHTS",
        "1",
        "-1",
        "AGGREGATE",
        "SUM",
        "WITHSCORES",
    ],
    &["ZINTER", "2", "a", "b", "AGGREGATE", "MAX"],
    &["ZINTER", "2", "a", "nokey"],
    &["ZINTER", "2", "a", "a", "WITHSCORES"],
    &["ZDIFF", "2", "a", "b", "WITHSCORES"],
    &["ZDIFF", "2", "b", "s", "WITHSCORES"],
    &["ZDIFF", "1", "a"],
    &["ZDIFF", "2", "nokey", "a"],
    &["ZDIFF", "2", "a", "b", "WEIGHTS", "1", "2"],
    &["ZDIFF", "2", "a", "b", "AGGREGATE", "MIN"],
    &["ZUNIONSTORE", "d", "2", "a", "b"],
    &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    &["OBJECT", "ENCODING", "d"],
    &["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"],
    &["ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "2", "3"],
    &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    &["ZINTERSTORE", "d", "2", "a", "nokey"],
    &["EXISTS", "d"],
    &["ZDIFFSTORE", "d", "2", "a", "b"],
    &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    &["ZDIFFSTORE", "d", "1", "nokey"],
    &["EXISTS", "d"],
    &["ZUNIONSTORE", "d", "0", "a"],
    &["ZUNIONSTORE", "d", "2", "a"],
    &["SET", "str", "v"],
    &["ZUNION", "2", "a", "str"],
    &["ZUNION", "2", "str", "a", "BADOPT"],
    &["ZINTER", "2", "nokey", "str"],
    &["ZUNIONSTORE", "str", "1", "a"],
    &["TYPE", "str"],
    &["ZINTERCARD", "2", "a", "b"],
    &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"],
    &["ZINTERCARD", "2", "a", "b", "LIMIT", "0"],
    &["ZINTERCARD", "2", "a", "s"],
    &["ZINTERCARD", "2", "a", "nokey"],
    &["ZINTERCARD", "0", "a"],
    &["ZINTERCARD", "2", "a"],
    &["ZINTERCARD", "1", "a", "LIMIT", "-1"],
    &["ZINTERCARD", "1", "a", "LIMIT"],
    &["ZINTERCARD", "1", "a", "WITHSCORES"],
    &["ZINTERCARD", "1", "a", "WEIGHTS", "1"],
    &["ZADD", "inf1", "inf", "m"],
    &["ZADD", "inf2", "-inf", "m"],
    &["ZUNION", "2", "inf1", "inf2", "WITHSCORES"],
    &["ZINTER", "2", "inf1", "inf2", "WITHSCORES"],
    &["ZUNION", "1", "inf1", "WEIGHTS", "0", "WITHSCORES"],
];

const WRONGTYPE: &[&[&str]] = &[
    &["SET", "str", "v"],
    &["ZADD", "str", "1", "a"],
    &["ZADD", "str", "x", "a"],
    &["ZINCRBY", "str", "1", "a"],
    &["ZREM", "str", "a"],
    &["ZCARD", "str"],
    &["ZCOUNT", "str", "0", "1"],
    &["ZCOUNT", "str", "x", "1"],
    &["ZLEXCOUNT", "str", "-", "+"],
    &["ZSCORE", "str", "a"],
    &["ZMSCORE", "str", "a"],
    &["ZRANK", "str", "a"],
    &["ZREVRANK", "str", "a"],
    &["ZRANGE", "str", "0", "1"],
    &["ZRANGE", "str", "x", "1"],
    &["ZRANGEBYSCORE", "str", "0", "1"],
    &["ZRANGEBYLEX", "str", "-", "+"],
    &["ZREMRANGEBYRANK", "str", "0", "1"],
    &["ZREMRANGEBYSCORE", "str", "0", "1"],
    &["ZREMRANGEBYLEX", "str", "-", "+"],
    &["ZRANDMEMBER", "str"],
    &["ZRANDMEMBER", "str", "1"],
    &["ZSCAN", "str", "0"],
    &["ZADD", "z", "1", "a"],
    &["GET", "z"],
    &["SADD", "z", "a"],
    &["SINTER", "z"],
    &["ZUNION", "1", "z"],
];

const SCAN_CASES: &[&[&str]] = &[
    &[
        "ZADD",
        "z",
        "1",
        "a",
        "2.5",
        "b",
        "-0",
        "c",
        "inf",
        "d",
        "123456789012345678",
        "e",
    ],
    &["ZSCAN", "z", "0"],
    &["ZSCAN", "z", "0", "MATCH", "[ab]"],
    &["ZSCAN", "z", "0", "COUNT", "0"],
    &["ZSCAN", "z", "x"],
    &["ZSCAN", "noz", "0"],
];

const RANDMEMBER_ERRORS: &[&[&str]] = &[
    &["ZADD", "z", "1", "a", "2", "b"],
    &["ZRANDMEMBER", "z", "x"],
    &["ZRANDMEMBER", "z", "-9223372036854775808"],
    &["ZRANDMEMBER", "z", "9223372036854775807", "WITHSCORES"],
    &["ZRANDMEMBER", "z", "1", "WITHSCORE"],
    &["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"],
    &["ZRANDMEMBER", "z", "0"],
    &["ZRANDMEMBER", "z", "0", "WITHSCORES"],
    &["ZRANDMEMBER", "noz"],
    &["ZRANDMEMBER", "noz", "3"],
    &["ZRANDMEMBER", "z", "2", "WITHSCORES"],
    &["ZRANDMEMBER", "z", "5"],
];

#[test]
fn diff_zadd_and_point_reads() {
    let mut d = session!();
    d.run(ZADD_CASES);
}

#[test]
fn diff_zset_ranges() {
    let mut d = session!();
    d.run(RANGES);
}

#[test]
fn diff_zset_lex() {
    let mut d = session!();
    d.run(LEX);
}

#[test]
fn diff_zset_pops() {
    let mut d = session!();
    d.run(POPS);
}

#[test]
fn diff_zset_algebra() {
    let mut d = session!();
    d.run(ALGEBRA);
}

#[test]
fn diff_zset_wrongtype() {
    let mut d = session!();
    d.run(WRONGTYPE);
}

/// Everything again on skiplist-encoded sets (a long member forces the
/// conversion; it sorts last and is removed before comparing).
#[test]
fn diff_zsets_skiplist() {
    let mut d = session!();
    d.case(&["CONFIG", "SET", "zset-max-listpack-entries", "0"]);
    d.run(ZADD_CASES);
    d.reset();
    d.run(RANGES);
    d.reset();
    d.run(LEX);
    d.reset();
    d.run(POPS);
    d.reset();
    d.run(ALGEBRA);
}

#[test]
fn diff_zsets_resp3() {
    let mut d = session!();
    d.case(&["HELLO", "3"]);
    d.run(ZADD_CASES);
    d.reset();
    d.run(RANGES);
    d.reset();
    d.run(POPS);
    d.reset();
    d.run(ALGEBRA);
    d.reset();
    d.run(SCAN_CASES);
}

#[test]
fn diff_zset_encodings() {
    let mut d = session!();
    for i in 0..128 {
        d.case(&["ZADD", "z", &i.to_string(), &format!("m{i}")]);
    }
    d.case(&["OBJECT", "ENCODING", "z"]);
    d.case(&["ZADD", "z", "1000", "m0"]);
    d.case(&["OBJECT", "ENCODING", "z"]);
    d.case(&["ZADD", "z", "5", "one-more"]);
    d.case(&["OBJECT", "ENCODING", "z"]);
    d.case(&["ZREMRANGEBYRANK", "z", "0", "100"]);
    d.case(&["OBJECT", "ENCODING", "z"]);
    let m64 = "x".repeat(64);
    let m65 = "x".repeat(65);
    d.case(&["ZADD", "a", "1", &m64]);
    d.case(&["OBJECT", "ENCODING", "a"]);
    d.case(&["ZADD", "b", "1", &m65]);
    d.case(&["OBJECT", "ENCODING", "b"]);
    d.case(&["ZADD", "c", "1", "short", "2", &m65]);
    d.case(&["OBJECT", "ENCODING", "c"]);
    d.case(&["ZREM", "c", &m65]);
    d.case(&["OBJECT", "ENCODING", "c"]);
    // Results take the encoding their size calls for.
    d.case(&["ZUNIONSTORE", "u", "1", "c"]);
    d.case(&["OBJECT", "ENCODING", "u"]);
    d.case(&["ZRANGESTORE", "r", "c", "0", "-1"]);
    d.case(&["OBJECT", "ENCODING", "r"]);
    d.case(&["ZRANGESTORE", "r", "z", "0", "-1"]);
    d.case(&["OBJECT", "ENCODING", "r"]);
    d.case(&["ZRANGESTORE", "r", "z", "0", "5"]);
    d.case(&["OBJECT", "ENCODING", "r"]);
    d.case(&["ZRANGESTORE", "r", "b", "0", "-1"]);
    d.case(&["OBJECT", "ENCODING", "r"]);
    d.case(&["ZINTERSTORE", "i", "2", "z", "z"]);
    d.case(&["OBJECT", "ENCODING", "i"]);
    d.case(&["ZDIFFSTORE", "i", "2", "b", "a"]);
    d.case(&["OBJECT", "ENCODING", "i"]);
    d.case(&["CONFIG", "SET", "zset-max-listpack-entries", "3"]);
    d.case(&["CONFIG", "GET", "zset-max-ziplist-entries"]);
    d.case(&["CONFIG", "SET", "zset-max-ziplist-value", "4"]);
    d.case(&["CONFIG", "GET", "zset-max-listpack-value"]);
    d.case(&["ZADD", "t", "1", "a", "2", "b", "3", "c"]);
    d.case(&["OBJECT", "ENCODING", "t"]);
    d.case(&["ZINCRBY", "t", "1", "d"]);
    d.case(&["OBJECT", "ENCODING", "t"]);
    d.case(&["ZADD", "v", "1", "abcde"]);
    d.case(&["OBJECT", "ENCODING", "v"]);
    d.case(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
    d.case(&["CONFIG", "SET", "zset-max-listpack-value", "64"]);
    d.case(&["COPY", "z", "z2"]);
    d.case(&["OBJECT", "ENCODING", "z2"]);
    d.case(&["ZRANGE", "z2", "0", "-1", "WITHSCORES"]);
}

#[test]
fn diff_zset_big() {
    let mut d = session!();
    for i in 0..2000 {
        let s = ((i * 7919) % 1000) as f64 / 7.0;
        d.both(&["ZADD", "z", &s.to_string(), &format!("member:{i}")]);
    }
    d.case(&["ZCARD", "z"]);
    d.case(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
    d.case(&["ZRANGE", "z", "100", "200", "REV", "WITHSCORES"]);
    d.case(&[
        "ZRANGEBYSCORE",
        "z",
        "(10",
        "20",
        "WITHSCORES",
        "LIMIT",
        "5",
        "30",
    ]);
    d.case(&["ZREVRANGEBYSCORE", "z", "(100", "20", "LIMIT", "5", "30"]);
    d.case(&["ZCOUNT", "z", "50", "(60"]);
    for i in (0..2000).step_by(97) {
        let m = format!("member:{i}");
        d.case(&["ZRANK", "z", &m]);
        d.case(&["ZREVRANK", "z", &m]);
        d.case(&["ZSCORE", "z", &m]);
        d.case(&["ZINCRBY", "z", "3.25", &m]);
        d.case(&["ZRANK", "z", &m]);
    }
    d.case(&["ZREMRANGEBYSCORE", "z", "10", "20"]);
    d.case(&["ZREMRANGEBYRANK", "z", "100", "300"]);
    d.case(&["ZPOPMIN", "z", "5"]);
    d.case(&["ZPOPMAX", "z", "5"]);
    d.case(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
    d.case(&["ZUNIONSTORE", "u", "2", "z", "z", "WEIGHTS", "1", "2"]);
    d.case(&["ZRANGE", "u", "0", "50", "WITHSCORES"]);
    d.case(&["OBJECT", "ENCODING", "u"]);
    diff_full_scan(&mut d, "ZSCAN", "z", &[], 2);
    diff_full_scan(&mut d, "ZSCAN", "z", &["COUNT", "5"], 2);
    diff_full_scan(&mut d, "ZSCAN", "z", &["MATCH", "member:1*"], 2);
    for i in 0..300 {
        d.both(&["ZADD", "lex", "0", &format!("w{:05}", (i * 37) % 1000)]);
    }
    d.case(&["ZRANGEBYLEX", "lex", "[w00100", "(w00500"]);
    d.case(&["ZREVRANGEBYLEX", "lex", "+", "[w00900", "LIMIT", "3", "4"]);
    d.case(&["ZLEXCOUNT", "lex", "(w00100", "+"]);
    d.case(&["ZREMRANGEBYLEX", "lex", "-", "[w00500"]);
    d.case(&["ZRANGE", "lex", "0", "-1"]);
}

#[test]
fn diff_zset_random() {
    let mut d = session!();
    d.run(RANDMEMBER_ERRORS);
    for (key, n) in [("small", 5usize), ("big", 300)] {
        let members: Vec<Vec<u8>> = (0..n).map(|i| format!("m{i}").into_bytes()).collect();
        for (i, m) in members.iter().enumerate() {
            d.both(&["ZADD", key, &i.to_string(), std::str::from_utf8(m).unwrap()]);
        }
        for count in ["1", "3", "-3", "-20", "5", "6", "299", "300", "1000"] {
            for extra in [&[][..], &["WITHSCORES"][..]] {
                let mut args = vec!["ZRANDMEMBER", key, count];
                args.extend_from_slice(extra);
                let r = d.case_with(&args, SHAPE);
                if extra.is_empty() {
                    assert_members(&r, &members, "ZRANDMEMBER");
                    let c: i64 = count.parse().unwrap();
                    if c > 0 {
                        let mut got = flat_payloads(&r);
                        got.sort();
                        got.dedup();
                        assert_eq!(got.len(), (c as usize).min(n));
                    }
                }
            }
        }
        let r = d.case_with(&["ZRANDMEMBER", key], SHAPE);
        assert_members(&r, &members, "ZRANDMEMBER");
    }
    d.case(&["HELLO", "3"]);
    d.case_with(&["ZRANDMEMBER", "small", "2", "WITHSCORES"], SHAPE);
    d.case_with(&["ZRANDMEMBER", "small", "-2", "WITHSCORES"], SHAPE);
    d.case_with(&["ZRANDMEMBER", "small", "10", "WITHSCORES"], Cmp::Sorted);
}

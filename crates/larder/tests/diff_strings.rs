//! Differential tests: string commands, byte-identical against Redis 7.0.
//! Cases are data: add a line to a table to extend.

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

const SET_CASES: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["GET", "k"],
    &["GET", "missing"],
    &["SET", "k", ""],
    &["GET", "k"],
    &["STRLEN", "k"],
    &["SET", "k", "v", "NX"],
    &["SET", "k2", "v", "NX"],
    &["SET", "k2", "w", "XX"],
    &["SET", "k3", "w", "XX"],
    &["GET", "k3"],
    &["SET", "k", "v", "nx", "xx"],
    &["SET", "k", "v", "XX", "NX"],
    &["SET", "k", "v", "NX", "NX"],
    &["SET", "k", "v", "EX", "100"],
    &["TTL", "k"],
    &["SET", "k", "v", "PX", "100000"],
    &["TTL", "k"],
    &["SET", "k", "v", "EXAT", "4102444800"],
    &["EXPIRETIME", "k"],
    &["SET", "k", "v", "PXAT", "4102444800123"],
    &["PEXPIRETIME", "k"],
    &["SET", "k", "v2", "KEEPTTL"],
    &["PEXPIRETIME", "k"],
    &["SET", "k", "v3"],
    &["TTL", "k"],
    &["SET", "k", "v", "EX", "10", "PX", "10"],
    &["SET", "k", "v", "EX", "10", "EX", "10"],
    &["SET", "k", "v", "EX", "10", "KEEPTTL"],
    &["SET", "k", "v", "KEEPTTL", "PX", "10"],
    &["SET", "k", "v", "EXAT", "10", "PXAT", "10"],
    &["SET", "k", "v", "EX"],
    &["SET", "k", "v", "PX"],
    &["SET", "k", "v", "EX", "0"],
    &["SET", "k", "v", "PX", "0"],
    &["SET", "k", "v", "EXAT", "0"],
    &["SET", "k", "v", "PXAT", "0"],
    &["SET", "k", "v", "EX", "-1"],
    &["SET", "k", "v", "PX", "-1"],
    &["SET", "k", "v", "EX", "abc"],
    &["SET", "k", "v", "EX", "1.5"],
    &["SET", "k", "v", "EX", " 10"],
    &["SET", "k", "v", "EX", "10 "],
    &["SET", "k", "v", "EX", "+10"],
    &["SET", "k", "v", "EX", ""],
    &["SET", "k", "v", "EX", "99999999999999999"],
    &["SET", "k", "v", "EX", "9223372036854775807"],
    &["SET", "k", "v", "EX", "9223372036854775808"],
    &["SET", "k", "v", "PX", "9223372036854775807"],
    &["SET", "k", "v", "EX", "9223372036854775"],
    &["SET", "k", "v", "EX", "9223372036854776"],
    &["SET", "k", "v", "EXAT", "9223372036854775807"],
    &["SET", "k", "v", "PXAT", "9223372036854775807"],
    &["SET", "k", "v", "PX", "18446744073709551616"],
    &["GET", "k"],
    &["SET", "k", "v", "FOO"],
    &["SET", "k", "v", "EX", "10", "FOO"],
    &["SET", "k", "v", "GET"],
    &["SET", "newk", "v", "GET"],
    &["SET", "k", "w", "GET", "EX", "100"],
    &["TTL", "k"],
    &["SET", "k", "x", "NX", "GET"],
    &["SET", "nxg", "x", "NX", "GET"],
    &["GET", "nxg"],
    &["SET", "k", "y", "XX", "GET"],
    &["SET", "nope", "y", "XX", "GET"],
    &["EXISTS", "nope"],
    &["SET", "k", "y", "GET", "GET"],
    &["SET", "k", "y", "KEEPTTL", "KEEPTTL"],
    &["SET", "k", "y", "get", "keepttl", "xx"],
    &["SET"],
    &["SET", "k"],
    &["GET"],
    &["GET", "a", "b"],
    &["SET", "k", "v", "EX", "100", "PXAT", "1"],
    &["SET", "past", "v", "EXAT", "1000000000"],
    &["EXISTS", "past"],
    &["SET", "past", "v", "PXAT", "1"],
    &["EXISTS", "past"],
    &["SET", "pastg", "old"],
    &["SET", "pastg", "new", "EXAT", "1000000000", "GET"],
    &["EXISTS", "pastg"],
];

const SETNX_SETEX_CASES: &[&[&str]] = &[
    &["SETNX", "a", "1"],
    &["SETNX", "a", "2"],
    &["GET", "a"],
    &["SETNX", "a"],
    &["SETNX", "a", "1", "2"],
    &["SETEX", "b", "100", "v"],
    &["TTL", "b"],
    &["GET", "b"],
    &["SETEX", "b", "0", "v"],
    &["SETEX", "b", "-5", "v"],
    &["SETEX", "b", "abc", "v"],
    &["SETEX", "b", "9223372036854775807", "v"],
    &["SETEX", "b", "99999999999999999", "v"],
    &["SETEX", "b", "100"],
    &["SETEX", "b", "100", "v", "x"],
    &["PSETEX", "c", "100000", "v"],
    &["TTL", "c"],
    &["PSETEX", "c", "0", "v"],
    &["PSETEX", "c", "-1", "v"],
    &["PSETEX", "c", "1.5", "v"],
    &["PSETEX", "c", "9223372036854775807", "v"],
    &["PSETEX", "c"],
    &["GET", "c"],
];

const MULTI_KEY_CASES: &[&[&str]] = &[
    &["MSET", "a", "1", "b", "2", "c", "3"],
    &["MGET", "a", "b", "c", "d"],
    &["MGET", "a"],
    &["MGET", "nope", "nope"],
    &["MGET"],
    &["MSET", "a"],
    &["MSET", "a", "1", "b"],
    &["MSET"],
    &["MSET", "a", "x", "a", "y"],
    &["GET", "a"],
    &["MSETNX", "a", "1", "z", "2"],
    &["EXISTS", "z"],
    &["MSETNX", "y", "1", "z", "2"],
    &["MGET", "y", "z"],
    &["MSETNX", "q"],
    &["MSETNX", "q", "1", "r"],
    &["MSETNX", "dup", "1", "dup", "2"],
    &["GET", "dup"],
    &["SET", "t", "v", "EX", "100"],
    &["MSET", "t", "w"],
    &["TTL", "t"],
    &["GETSET", "a", "new"],
    &["GETSET", "fresh", "new"],
    &["GET", "fresh"],
    &["GETSET", "a"],
    &["SET", "t", "v", "EX", "100"],
    &["GETSET", "t", "w"],
    &["TTL", "t"],
    &["GETDEL", "a"],
    &["GETDEL", "a"],
    &["EXISTS", "a"],
    &["GETDEL"],
    &["GETDEL", "a", "b"],
];

const GETEX_CASES: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["GETEX", "k"],
    &["TTL", "k"],
    &["GETEX", "k", "EX", "100"],
    &["TTL", "k"],
    &["GETEX", "k", "PX", "200000"],
    &["TTL", "k"],
    &["GETEX", "k", "EXAT", "4102444800"],
    &["EXPIRETIME", "k"],
    &["GETEX", "k", "PXAT", "4102444800999"],
    &["PEXPIRETIME", "k"],
    &["GETEX", "k", "PERSIST"],
    &["TTL", "k"],
    &["GETEX", "missing", "EX", "100"],
    &["GETEX", "missing"],
    &["GETEX", "k", "EX", "10", "PX", "10"],
    &["GETEX", "k", "EX", "10", "PERSIST"],
    &["GETEX", "k", "PERSIST", "EX", "10"],
    &["GETEX", "k", "PERSIST", "PERSIST"],
    &["GETEX", "k", "EX"],
    &["GETEX", "k", "EX", "0"],
    &["GETEX", "k", "EX", "-1"],
    &["GETEX", "k", "EX", "abc"],
    &["GETEX", "k", "PX", "0"],
    &["GETEX", "k", "EXAT", "0"],
    &["GETEX", "k", "EX", "99999999999999999"],
    &["GETEX", "k", "PXAT", "9223372036854775807"],
    &["GETEX", "k", "KEEPTTL"],
    &["GETEX", "k", "NX"],
    &["GETEX", "k", "FOO"],
    &["GETEX", "k", "ex", "100"],
    &["GETEX"],
    &["TTL", "k"],
    &["GETEX", "k", "EXAT", "1000000000"],
    &["EXISTS", "k"],
    &["SET", "k", "v"],
    &["GETEX", "k", "PXAT", "1"],
    &["EXISTS", "k"],
];

const APPEND_RANGE_CASES: &[&[&str]] = &[
    &["APPEND", "k", "hello"],
    &["APPEND", "k", " world"],
    &["GET", "k"],
    &["APPEND", "k", ""],
    &["APPEND", "e", ""],
    &["EXISTS", "e"],
    &["GET", "e"],
    &["APPEND", "k"],
    &["APPEND", "k", "a", "b"],
    &["STRLEN", "k"],
    &["STRLEN", "missing"],
    &["STRLEN"],
    &["STRLEN", "a", "b"],
    &["GETRANGE", "k", "0", "4"],
    &["GETRANGE", "k", "0", "-1"],
    &["GETRANGE", "k", "-5", "-1"],
    &["GETRANGE", "k", "-1", "-5"],
    &["GETRANGE", "k", "5", "3"],
    &["GETRANGE", "k", "-100", "3"],
    &["GETRANGE", "k", "-100", "-100"],
    &["GETRANGE", "k", "0", "1000"],
    &["GETRANGE", "k", "100", "1000"],
    &["GETRANGE", "k", "10", "10"],
    &["GETRANGE", "k", "11", "11"],
    &["GETRANGE", "k", "0", "0"],
    &["GETRANGE", "k", "-1", "-1"],
    &["GETRANGE", "k", "3", "-3"],
    &[
        "GETRANGE",
        "k",
        "9223372036854775807",
        "9223372036854775807",
    ],
    &[
        "GETRANGE",
        "k",
        "-9223372036854775808",
        "9223372036854775807",
    ],
    &["GETRANGE", "k", "a", "1"],
    &["GETRANGE", "k", "0", "1.5"],
    &["GETRANGE", "k", "0", "99999999999999999999"],
    &["GETRANGE", "missing", "0", "-1"],
    &["GETRANGE", "missing", "0", "a"],
    &["GETRANGE", "k", "0"],
    &["SUBSTR", "k", "0", "2"],
    &["SET", "e", ""],
    &["GETRANGE", "e", "0", "-1"],
    &["GETRANGE", "e", "0", "0"],
    &["SETRANGE", "k", "0", "J"],
    &["GET", "k"],
    &["SETRANGE", "k", "20", "X"],
    &["GET", "k"],
    &["STRLEN", "k"],
    &["SETRANGE", "n", "5", "abc"],
    &["GET", "n"],
    &["SETRANGE", "n2", "0", ""],
    &["EXISTS", "n2"],
    &["SETRANGE", "n2", "10", ""],
    &["EXISTS", "n2"],
    &["SETRANGE", "k", "3", ""],
    &["GET", "k"],
    &["SETRANGE", "k", "-1", "x"],
    &["SETRANGE", "k", "-1", ""],
    &["SETRANGE", "k", "abc", "x"],
    &["SETRANGE", "k", "536870911", ""],
    &["SETRANGE", "k", "536870912", "x"],
    &["SETRANGE", "k", "536870912", ""],
    &["SETRANGE", "k", "9223372036854775807", "x"],
    &[
        "SETRANGE",
        "k",
        "536870900",
        "0123456789012345678901234567890",
    ],
    &["SETRANGE", "n3", "536870912", "x"],
    &["EXISTS", "n3"],
    &["SETRANGE", "k", "0"],
    &["SETRANGE", "k"],
    &["SET", "i", "12345"],
    &["SETRANGE", "i", "1", "9"],
    &["GET", "i"],
    &["APPEND", "i", "6"],
    &["GET", "i"],
];

const INCR_CASES: &[&[&str]] = &[
    &["INCR", "n"],
    &["INCR", "n"],
    &["DECR", "n"],
    &["DECR", "m"],
    &["INCRBY", "n", "10"],
    &["INCRBY", "n", "-100"],
    &["DECRBY", "n", "5"],
    &["DECRBY", "n", "-5"],
    &["GET", "n"],
    &["INCRBY", "n", "abc"],
    &["INCRBY", "n", ""],
    &["INCRBY", "n", "1.5"],
    &["INCRBY", "n", "+1"],
    &["INCRBY", "n", "01"],
    &["INCRBY", "n", " 1"],
    &["INCRBY", "n", "-0"],
    &["INCRBY", "n", "9223372036854775808"],
    &["INCRBY", "n"],
    &["INCRBY", "n", "1", "2"],
    &["INCR"],
    &["INCR", "a", "b"],
    &["DECR"],
    &["DECRBY", "n"],
    &["SET", "n", "9223372036854775807"],
    &["INCR", "n"],
    &["INCRBY", "n", "1"],
    &["GET", "n"],
    &["DECR", "n"],
    &["SET", "n", "-9223372036854775808"],
    &["DECR", "n"],
    &["INCRBY", "n", "-1"],
    &["DECRBY", "n", "1"],
    &["DECRBY", "n", "-9223372036854775808"],
    &["INCR", "n"],
    &["SET", "z", "0"],
    &["DECRBY", "z", "-9223372036854775808"],
    &["DECRBY", "z", "9223372036854775807"],
    &["INCRBY", "z", "-9223372036854775808"],
    &["GET", "z"],
    &["SET", "n", "9223372036854775808"],
    &["INCR", "n"],
    &["SET", "n", "123456789012345678901234"],
    &["INCR", "n"],
    &["SET", "n", "abc"],
    &["INCR", "n"],
    &["SET", "n", " 1"],
    &["INCR", "n"],
    &["SET", "n", "1 "],
    &["INCR", "n"],
    &["SET", "n", "+1"],
    &["INCR", "n"],
    &["SET", "n", "01"],
    &["INCR", "n"],
    &["SET", "n", "-0"],
    &["INCR", "n"],
    &["SET", "n", "1.0"],
    &["INCR", "n"],
    &["SET", "n", ""],
    &["INCR", "n"],
    &["SET", "n", "0x10"],
    &["INCR", "n"],
    &["SET", "n", "-"],
    &["INCR", "n"],
    &["SET", "n", "10"],
    &["EXPIRE", "n", "1000"],
    &["INCR", "n"],
    &["TTL", "n"],
];

const INCRBYFLOAT_CASES: &[&[&str]] = &[
    &["INCRBYFLOAT", "f", "10.5"],
    &["INCRBYFLOAT", "f", "0.1"],
    &["INCRBYFLOAT", "f", "-5"],
    &["INCRBYFLOAT", "f", "5.0e3"],
    &["INCRBYFLOAT", "f", "3.0e3"],
    &["INCRBYFLOAT", "f", "-1e-3"],
    &["GET", "f"],
    &["SET", "f", "10"],
    &["INCRBYFLOAT", "f", "0"],
    &["INCRBYFLOAT", "f", "1.0"],
    &["INCRBYFLOAT", "f", "0.5"],
    &["INCRBYFLOAT", "f", "-11.5"],
    &["INCRBYFLOAT", "f", "-0"],
    &["INCRBYFLOAT", "f", "1e308"],
    &["INCRBYFLOAT", "f", "1e308"],
    &["INCRBYFLOAT", "f", "inf"],
    &["INCRBYFLOAT", "f", "-inf"],
    &["INCRBYFLOAT", "f", "+inf"],
    &["INCRBYFLOAT", "f", "nan"],
    &["INCRBYFLOAT", "f", "abc"],
    &["INCRBYFLOAT", "f", ""],
    &["INCRBYFLOAT", "f", " 1"],
    &["INCRBYFLOAT", "f", "1 "],
    &["INCRBYFLOAT", "f", "0x10"],
    &["INCRBYFLOAT", "f", "1e400"],
    &["INCRBYFLOAT", "f", ".5"],
    &["INCRBYFLOAT", "f", "5."],
    &["INCRBYFLOAT", "f", "+1.5"],
    &["INCRBYFLOAT", "f"],
    &["INCRBYFLOAT", "f", "1", "2"],
    &["SET", "f", "abc"],
    &["INCRBYFLOAT", "f", "1"],
    &["SET", "f", "1.5e2"],
    &["INCRBYFLOAT", "f", "1"],
    &["SET", "f", "inf"],
    &["INCRBYFLOAT", "f", "1"],
    &["SET", "f", " 1.5"],
    &["INCRBYFLOAT", "f", "1"],
    &["SET", "f", "3"],
    &["INCRBYFLOAT", "f", "0.1"],
    &["INCRBYFLOAT", "f", "0.2"],
    &["INCRBYFLOAT", "f", "1.23456789012345678"],
    &["INCRBYFLOAT", "f", "100000000000000000000"],
    &["INCRBYFLOAT", "f", "-100000000000000000000"],
    &["SET", "f", "0"],
    &["INCRBYFLOAT", "f", "0.0000000000000000001"],
    &["INCRBYFLOAT", "g", "1e20"],
    &["INCRBYFLOAT", "g", "1e200"],
    &["SET", "f", "5"],
    &["EXPIRE", "f", "1000"],
    &["INCRBYFLOAT", "f", "1"],
    &["TTL", "f"],
    &["SET", "i", "9223372036854775807"],
    &["INCRBYFLOAT", "i", "1"],
];

const LCS_CASES: &[&[&str]] = &[
    &["MSET", "key1", "ohmytext", "key2", "mynewtext"],
    &["LCS", "key1", "key2"],
    &["LCS", "key1", "key2", "LEN"],
    &["LCS", "key1", "key2", "IDX"],
    &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"],
    &[
        "LCS",
        "key1",
        "key2",
        "IDX",
        "MINMATCHLEN",
        "4",
        "WITHMATCHLEN",
    ],
    &["LCS", "key1", "key2", "IDX", "WITHMATCHLEN"],
    &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "0"],
    &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "-1"],
    &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "abc"],
    &["LCS", "key1", "key2", "IDX", "MINMATCHLEN"],
    &["LCS", "key1", "key2", "LEN", "IDX"],
    &["LCS", "key1", "key2", "LEN", "MINMATCHLEN", "2"],
    &["LCS", "key1", "key2", "LEN", "WITHMATCHLEN"],
    &["LCS", "key1", "key2", "WITHMATCHLEN"],
    &["LCS", "key1", "key2", "FOO"],
    &["LCS", "key1", "missing"],
    &["LCS", "missing", "missing2"],
    &["LCS", "missing", "missing2", "LEN"],
    &["LCS", "missing", "missing2", "IDX"],
    &["LCS", "key1", "key1"],
    &["LCS", "key1", "key1", "IDX", "WITHMATCHLEN"],
    &["LCS", "key1"],
    &["LCS"],
    &["MSET", "a", "ABCBDAB", "b", "BDCABA"],
    &["LCS", "a", "b"],
    &["LCS", "a", "b", "IDX", "WITHMATCHLEN"],
    &["LCS", "b", "a", "IDX"],
    &["MSET", "e", "", "x", "abc"],
    &["LCS", "e", "x"],
    &["LCS", "e", "x", "IDX"],
    &[
        "MSET",
        "p",
        "GTTGCACGAGCATCAGCATCATAGGA",
        "q",
        "GTAGCACGAGCTTCAGCATCAAGGA",
    ],
    &["LCS", "p", "q", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "3"],
    &["LCS", "p", "q", "idx", "len"],
];

const ENCODING_CASES: &[&[&str]] = &[
    &["SET", "i", "12345"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "-12345"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "0"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "9223372036854775807"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "9223372036854775808"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "-9223372036854775808"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "01"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "+1"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "-0"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", "1.5"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "i", " 1"],
    &["OBJECT", "ENCODING", "i"],
    &["SET", "s", "abc"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", ""],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "12345678901234567890123456789012345678901234"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "123456789012345678901234567890123456789012345"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "abcdefghijabcdefghijabcdefghijabcdefghijabcd"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "abcdefghijabcdefghijabcdefghijabcdefghijabcde"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "abc"],
    &["APPEND", "s", "d"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "abc"],
    &["SETRANGE", "s", "0", "x"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "abc"],
    &["SETRANGE", "s", "0", ""],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "s", "abc"],
    &["APPEND", "s", ""],
    &["OBJECT", "ENCODING", "s"],
    &["APPEND", "new", "abc"],
    &["OBJECT", "ENCODING", "new"],
    &["SETRANGE", "new2", "0", "abc"],
    &["OBJECT", "ENCODING", "new2"],
    &["SET", "n", "10"],
    &["APPEND", "n", "1"],
    &["OBJECT", "ENCODING", "n"],
    &["INCR", "n"],
    &["OBJECT", "ENCODING", "n"],
    &["INCR", "c"],
    &["OBJECT", "ENCODING", "c"],
    &["INCRBY", "c", "100000"],
    &["OBJECT", "ENCODING", "c"],
    &["INCRBYFLOAT", "fl", "1.5"],
    &["OBJECT", "ENCODING", "fl"],
    &["INCRBYFLOAT", "fl", "1.5"],
    &["OBJECT", "ENCODING", "fl"],
    &["SET", "fl", "1"],
    &["INCRBYFLOAT", "fl", "1"],
    &["OBJECT", "ENCODING", "fl"],
    &["GETSET", "g", "123"],
    &["OBJECT", "ENCODING", "g"],
    &["MSET", "m1", "7", "m2", "seven"],
    &["OBJECT", "ENCODING", "m1"],
    &["OBJECT", "ENCODING", "m2"],
    &["SETEX", "se", "100", "42"],
    &["OBJECT", "ENCODING", "se"],
    &["SETNX", "snx", "42"],
    &["OBJECT", "ENCODING", "snx"],
    &["OBJECT", "ENCODING", "missing"],
    &["OBJECT", "ENCODING"],
    &["OBJECT", "ENCODING", "a", "b"],
    &["OBJECT", "FOO", "i"],
    &["OBJECT", "REFCOUNT", "missing"],
];

#[test]
fn diff_set_get() {
    let mut d = session!();
    d.run(SET_CASES);
}

#[test]
fn diff_setnx_setex_psetex() {
    let mut d = session!();
    d.run(SETNX_SETEX_CASES);
}

#[test]
fn diff_mget_mset_getset_getdel() {
    let mut d = session!();
    d.run(MULTI_KEY_CASES);
}

#[test]
fn diff_getex() {
    let mut d = session!();
    d.run(GETEX_CASES);
}

#[test]
fn diff_append_getrange_setrange() {
    let mut d = session!();
    d.run(APPEND_RANGE_CASES);
}

#[test]
fn diff_incr_decr() {
    let mut d = session!();
    d.run(INCR_CASES);
}

#[test]
fn diff_incrbyfloat() {
    let mut d = session!();
    d.run(INCRBYFLOAT_CASES);
}

#[test]
fn diff_lcs() {
    let mut d = session!();
    d.run(LCS_CASES);
}

#[test]
fn diff_object_encoding() {
    let mut d = session!();
    d.run(ENCODING_CASES);
}

#[test]
fn diff_big_values() {
    let mut d = session!();
    let big = "x".repeat(100_000);
    let big2 = "y".repeat(1 << 20);
    d.case(&["SET", "big", &big]);
    d.case(&["GET", "big"]);
    d.case(&["STRLEN", "big"]);
    d.case(&["APPEND", "big", &big]);
    d.case(&["STRLEN", "big"]);
    d.case(&["GETRANGE", "big", "99990", "100010"]);
    d.case(&["SET", "big2", &big2]);
    d.case(&["GET", "big2"]);
    d.case(&["SETRANGE", "big2", "2000000", "z"]);
    d.case(&["STRLEN", "big2"]);
    d.case(&["GETRANGE", "big2", "1999990", "-1"]);
    d.case(&["OBJECT", "ENCODING", "big2"]);
    d.case(&["MGET", "big", "big2", "nope"]);
    let a = "abcde".repeat(200);
    let b = "aXcYe".repeat(200);
    d.case(&["MSET", "la", &a, "lb", &b]);
    d.case(&["LCS", "la", "lb", "LEN"]);
    d.case(&["LCS", "la", "lb", "IDX", "MINMATCHLEN", "2", "WITHMATCHLEN"]);
}

// ---------------------------------------------------------------------------
// Added with the full string command set.
// ---------------------------------------------------------------------------

/// Long-double INCRBYFLOAT: digits beyond an f64, values beyond its range,
/// hexadecimal input, strtold's acceptance rules.
const INCRBYFLOAT_LONG_DOUBLE_CASES: &[&[&str]] = &[
    &["SET", "f", "3.3"],
    &["INCRBYFLOAT", "f", "1.23456789012345678"],
    &["INCRBYFLOAT", "f", "0.00000000000000001"],
    &["SET", "f", "0"],
    &["INCRBYFLOAT", "f", "1e4000"],
    &["STRLEN", "f"],
    &["INCRBYFLOAT", "f", "-1e4000"],
    &["INCRBYFLOAT", "f", "1e4933"],
    &["INCRBYFLOAT", "f", "1e-5000"],
    &["INCRBYFLOAT", "f", "1e-4940"],
    &["INCRBYFLOAT", "f", "0x1.8p3"],
    &["INCRBYFLOAT", "f", "0X10"],
    &["INCRBYFLOAT", "f", "0x"],
    &["INCRBYFLOAT", "f", "0x1p"],
    &["INCRBYFLOAT", "f", "1e"],
    &["INCRBYFLOAT", "f", "1e+"],
    &["INCRBYFLOAT", "f", "e5"],
    &["INCRBYFLOAT", "f", "."],
    &["INCRBYFLOAT", "f", "infinity"],
    &["INCRBYFLOAT", "f", "INF"],
    &["INCRBYFLOAT", "f", "infin"],
    &["INCRBYFLOAT", "f", "nan(1)"],
    &["INCRBYFLOAT", "f", "\u{b}1"],
    &["INCRBYFLOAT", "f", "\t1"],
    &["INCRBYFLOAT", "f", "000001.5"],
    &["INCRBYFLOAT", "f", "2.5e-17"],
    &["INCRBYFLOAT", "f", "-1.5e-17"],
    &["GET", "f"],
    &["OBJECT", "ENCODING", "f"],
    &["SET", "f", "0x10"],
    &["INCRBYFLOAT", "f", "1"],
    &["SET", "f", "-9223372036854775808"],
    &["INCRBYFLOAT", "f", "-1"],
    &["INCRBYFLOAT", "f", "0.5"],
    &["APPEND", "f", "1"],
    &["INCRBYFLOAT", "f", "1"],
    &[
        "SET",
        "f",
        "12345678901234567890123456789012345678901234567890",
    ],
    &["INCRBYFLOAT", "f", "0.5"],
    &["OBJECT", "ENCODING", "f"],
];

/// Values edited through several commands: encodings, TTLs, lengths.
const MIXED_CASES: &[&[&str]] = &[
    &["SET", "n", "10"],
    &["APPEND", "n", "0"],
    &["OBJECT", "ENCODING", "n"],
    &["INCR", "n"],
    &["OBJECT", "ENCODING", "n"],
    &["GETRANGE", "n", "0", "1"],
    &["SUBSTR", "n", "-2", "-1"],
    &["STRLEN", "n"],
    &["SETRANGE", "n", "3", "9"],
    &["GET", "n"],
    &["OBJECT", "ENCODING", "n"],
    &["INCRBY", "n", "-1009"],
    &["GET", "n"],
    &["APPEND", "num", "-17"],
    &["OBJECT", "ENCODING", "num"],
    &["INCR", "num"],
    &[
        "APPEND",
        "long",
        "123456789012345678901234567890123456789012345",
    ],
    &["OBJECT", "ENCODING", "long"],
    &["SET", "t", "abc", "PX", "100000"],
    &["APPEND", "t", "d"],
    &["SETRANGE", "t", "1", "X"],
    &["PTTL", "t"],
    &["INCRBYFLOAT", "t", "1"],
    &["SET", "t", "1", "EX", "100"],
    &["INCRBY", "t", "5"],
    &["INCRBYFLOAT", "t", "0.5"],
    &["TTL", "t"],
    &["GETSET", "t", "x"],
    &["TTL", "t"],
    &["SET", "t", "1", "EX", "100"],
    &["GETEX", "t", "PERSIST"],
    &["TTL", "t"],
    &["GETEX", "t", "PERSIST"],
    &["GETDEL", "t"],
    &["GETDEL", "t"],
    &["SET", "s", "hello"],
    &["SETRANGE", "s", "10", "world"],
    &["GET", "s"],
    &["GETRANGE", "s", "4", "11"],
    &["SUBSTR", "s", "0", "-1"],
    &["SUBSTR", "s"],
    &["SUBSTR", "s", "0", "x"],
    &["SETNX", "s", "x"],
    &["SETEX", "s", "100", "12"],
    &["OBJECT", "ENCODING", "s"],
    &["PSETEX", "s", "100000", "y"],
    &["PTTL", "s"],
    &["SETEX", "s", "1.5", "y"],
    &["GETEX", "s", "px", "1.5"],
    &["GETEX", "s", "EXAT", "-1"],
    &["GETEX", "s", "PX", "9223372036854775807"],
    &[
        "MSET", "x1", "1", "x2", "2", "x3", "3", "x4", "4", "x5", "5", "x6", "6", "x7", "7", "x8",
        "8", "x9", "9", "x10", "10",
    ],
    &[
        "MGET", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",
    ],
    &["MSETNX", "x1", "a", "x11", "b"],
    &["MGET", "x1", "x11"],
    &["MSETNX", "y1", "a", "y2", "b", "y3", "c"],
    &["MGET", "y1", "y2", "y3"],
    &["LCS", "x1", "x10"],
    &["SET", "i1", "123456"],
    &["SET", "i2", "-23456"],
    &["LCS", "i1", "i2", "IDX", "WITHMATCHLEN"],
    &["LCS", "i1", "i2", "LEN"],
    &["lcs", "i1", "i2", "len", "minmatchlen", "100"],
    &[
        "LCS",
        "i1",
        "i2",
        "IDX",
        "MINMATCHLEN",
        "1",
        "MINMATCHLEN",
        "5",
    ],
    &["LCS", "i1", "i2", "IDX", "IDX"],
];

/// Replies whose RESP3 shape differs: nulls and LCS IDX's map.
const RESP3_CASES: &[&[&str]] = &[
    &["HELLO", "3"],
    &["GET", "missing"],
    &["MGET", "missing", "missing2"],
    &["SET", "k", "v"],
    &["SET", "k", "v", "NX"],
    &["SET", "k", "w", "XX", "GET"],
    &["SET", "nk", "w", "NX", "GET"],
    &["SET", "nk2", "w", "XX", "GET"],
    &["GETSET", "nk3", "v"],
    &["GETDEL", "missing"],
    &["GETEX", "missing", "PERSIST"],
    &["GETRANGE", "missing", "0", "-1"],
    &["MSET", "key1", "ohmytext", "key2", "mynewtext"],
    &["LCS", "key1", "key2", "IDX"],
    &[
        "LCS",
        "key1",
        "key2",
        "IDX",
        "MINMATCHLEN",
        "4",
        "WITHMATCHLEN",
    ],
    &["LCS", "key1", "missing", "IDX"],
    &["LCS", "key1", "key2", "LEN"],
    &["INCRBYFLOAT", "fl", "1.5"],
    &["HELLO", "2"],
    &["LCS", "key1", "key2", "IDX"],
];

#[test]
fn diff_incrbyfloat_long_double() {
    let mut d = session!();
    d.run(INCRBYFLOAT_LONG_DOUBLE_CASES);
}

#[test]
fn diff_mixed() {
    let mut d = session!();
    d.run(MIXED_CASES);
}

#[test]
fn diff_resp3() {
    let mut d = session!();
    d.run(RESP3_CASES);
}

/// Size limits: proto-max-bulk-len bounds APPEND, SETRANGE and LCS's table.
#[test]
fn diff_size_limits() {
    let mut d = match DiffSession::start(&["--proto-max-bulk-len", "1048576"]) {
        Some(s) => s,
        None => return,
    };
    let half = "h".repeat(600_000);
    d.case(&["SET", "big", &half]);
    d.case(&["APPEND", "big", &half]);
    d.case(&["STRLEN", "big"]);
    d.case(&["APPEND", "big", &"x".repeat(448_576)]);
    d.case(&["STRLEN", "big"]);
    d.case(&["APPEND", "big", "y"]);
    d.case(&["SETRANGE", "big", "1048575", "z"]);
    d.case(&["SETRANGE", "big", "1048576", "z"]);
    d.case(&["SETRANGE", "big", "1048576", ""]);
    d.case(&["SETRANGE", "new", "1048575", "z"]);
    d.case(&["STRLEN", "new"]);
    d.case(&["SETRANGE", "new2", "1048576", "z"]);
    d.case(&["EXISTS", "new2"]);
    d.case(&["APPEND", "fresh", &"f".repeat(1_048_576)]);
    d.case(&["STRLEN", "fresh"]);
    // (511+1) * (511+1) * 4 = 1 MiB fits; one more byte does not.
    d.case(&["SET", "la", &"ab".repeat(255)]);
    d.case(&["APPEND", "la", "a"]);
    d.case(&["SET", "lb", &"ba".repeat(255)]);
    d.case(&["APPEND", "lb", "b"]);
    d.case(&["LCS", "la", "lb", "LEN"]);
    d.case(&["APPEND", "lb", "c"]);
    d.case(&["LCS", "la", "lb", "LEN"]);
    d.case(&["LCS", "la", "lb"]);
    d.case(&["LCS", "la", "lb", "IDX"]);
}

/// The default limit: an LCS table over 512 MiB is refused before it is built.
#[test]
fn diff_lcs_table_limit() {
    let mut d = session!();
    let a = "a".repeat(12_000);
    let b = "b".repeat(12_000);
    d.case(&["MSET", "a", &a, "b", &b]);
    d.case(&["LCS", "a", "b", "LEN"]);
    d.case(&["LCS", "a", "b"]);
    d.case(&["LCS", "a", "missing"]);
}

/// Pick name, arity, flags, key positions and ACL categories out of each
/// COMMAND INFO entry (the fields the command table defines).
fn command_info_head(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in common::aggregate_elements(raw).unwrap_or_default() {
        for field in common::aggregate_elements(&entry)
            .unwrap_or_default()
            .iter()
            .take(7)
        {
            out.extend_from_slice(field);
        }
        out.push(b'|');
    }
    out
}

/// COMMAND INFO metadata of every string command, as Redis shows it.
#[test]
fn diff_command_info_strings() {
    let mut d = session!();
    d.case_with(
        &[
            "COMMAND",
            "INFO",
            "get",
            "set",
            "setnx",
            "setex",
            "psetex",
            "mget",
            "mset",
            "msetnx",
            "getset",
            "getdel",
            "getex",
            "append",
            "strlen",
            "getrange",
            "substr",
            "setrange",
            "incr",
            "decr",
            "incrby",
            "decrby",
            "incrbyfloat",
            "lcs",
        ],
        common::Cmp::Normalize(command_info_head),
    );
}

/// MSET and MGET lock all their keys' shards together: a reader never sees
/// half of a concurrent MSET. (Larder only: a property, not a reply diff.)
#[test]
fn mset_is_atomic_for_mget() {
    if common::self_mode() {
        return;
    }
    let server = common::start_larder(&[]);
    let keys: Vec<String> = (0..16).map(|i| format!("atomic:{i}")).collect();
    let writer = {
        let mut c = server.client();
        let keys = keys.clone();
        std::thread::spawn(move || {
            for round in 0..2000 {
                let v = round.to_string();
                let mut args: Vec<&str> = vec!["MSET"];
                for k in &keys {
                    args.push(k);
                    args.push(&v);
                }
                let r = c.cmd_str(&args);
                assert_eq!(r, b"+OK\r\n");
            }
        })
    };
    let mut c = server.client();
    let mut args: Vec<&str> = vec!["MGET"];
    args.extend(keys.iter().map(|k| k.as_str()));
    for _ in 0..2000 {
        let r = c.cmd_str(&args);
        let vals = common::aggregate_elements(&r).expect("MGET array");
        assert!(
            vals.windows(2).all(|w| w[0] == w[1]),
            "MGET saw a partial MSET: {}",
            common::esc(&r)
        );
    }
    writer.join().expect("writer thread");
}

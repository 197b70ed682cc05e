//! Differential tests: set commands against Redis 7.0 (member order is
//! Redis's hash-table order, so SMEMBERS & co. compare as multisets; random
//! replies compare by shape and membership). Cases are data.

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
    &["SADD", "s", "a", "b", "c"],
    &["SADD", "s", "a", "d"],
    &["SADD", "s"],
    &["SCARD", "s"],
    &["SCARD", "nos"],
    &["SISMEMBER", "s", "a"],
    &["SISMEMBER", "s", "z"],
    &["SISMEMBER", "nos", "a"],
    &["SMISMEMBER", "s", "a", "z", "b"],
    &["SMISMEMBER", "nos", "a", "b"],
    &["SMISMEMBER", "s"],
    &["SMEMBERS", "s"],
    &["SMEMBERS", "nos"],
    &["SREM", "s", "a", "z", "a"],
    &["SREM", "nos", "a"],
    &["SREM", "s"],
    &["SMEMBERS", "s"],
    &["SREM", "s", "b", "c", "d"],
    &["EXISTS", "s"],
    &["SADD", "i", "1", "2", "3", "-5"],
    &["OBJECT", "ENCODING", "i"],
    &["SMEMBERS", "i"],
    &["SISMEMBER", "i", "1"],
    &["SISMEMBER", "i", "01"],
    &["SISMEMBER", "i", "x"],
    &["SADD", "i", "01"],
    &["OBJECT", "ENCODING", "i"],
    &["SISMEMBER", "i", "1"],
    &["SISMEMBER", "i", "01"],
    &["SREM", "i", "01", "1"],
    &["OBJECT", "ENCODING", "i"],
    &["SADD", "j", "x", "1"],
    &["OBJECT", "ENCODING", "j"],
    &[
        "SADD",
        "k",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
    ],
    &["OBJECT", "ENCODING", "k"],
    &[
        "SADD",
        "m",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
        "-0",
    ],
    &["OBJECT", "ENCODING", "m"],
    &["SADD", "n", "+1"],
    &["OBJECT", "ENCODING", "n"],
    &["SADD", "e", ""],
    &["SMEMBERS", "e"],
    &["TYPE", "e"],
];

const ALGEBRA: &[&[&str]] = &[
    &["SADD", "a", "1", "2", "3", "4", "x"],
    &["SADD", "b", "2", "3", "y"],
    &["SADD", "c", "3", "x", "z"],
    &["SADD", "ia", "1", "2", "3"],
    &["SADD", "ib", "2", "3", "4"],
    &["SINTER", "a", "b"],
    &["SINTER", "a", "b", "c"],
    &["SINTER", "a"],
    &["SINTER", "a", "nos"],
    &["SINTER", "nos", "a"],
    &["SINTER", "nos"],
    &["SUNION", "a", "b", "c"],
    &["SUNION", "a", "nos"],
    &["SUNION", "nos", "nos2"],
    &["SDIFF", "a", "b", "c"],
    &["SDIFF", "a", "nos"],
    &["SDIFF", "nos", "a"],
    &["SDIFF", "a", "a"],
    &["SINTERSTORE", "d", "a", "b"],
    &["SMEMBERS", "d"],
    &["OBJECT", "ENCODING", "d"],
    &["SINTERSTORE", "d", "ia", "ib"],
    &["OBJECT", "ENCODING", "d"],
    &["SMEMBERS", "d"],
    &["SINTERSTORE", "d", "a", "nos"],
    &["EXISTS", "d"],
    &["SUNIONSTORE", "d", "ia", "ib"],
    &["OBJECT", "ENCODING", "d"],
    &["SUNIONSTORE", "d", "a", "ib"],
    &["OBJECT", "ENCODING", "d"],
    &["SCARD", "d"],
    &["SDIFFSTORE", "d", "a", "b"],
    &["SMEMBERS", "d"],
    &["OBJECT", "ENCODING", "d"],
    &["SDIFFSTORE", "d", "ia", "ia"],
    &["EXISTS", "d"],
    &["SET", "str", "v"],
    &["EXPIRE", "a", "1000"],
    &["SUNIONSTORE", "str", "a"],
    &["TYPE", "str"],
    &["TTL", "str"],
    &["SINTERSTORE", "a", "a", "b"],
    &["TTL", "a"],
    &["SINTER", "a", "str"],
    &["SINTER", "str", "a"],
    &["SINTER", "nos", "str"],
    &["SUNION", "nos", "str"],
    &["SDIFF", "nos", "str"],
    &["SET", "str2", "v"],
    &["SINTERSTORE", "str", "str2"],
    &["SUNIONSTORE", "d", "str2", "a"],
    &["SINTERCARD", "2", "a", "b"],
    &["SINTERCARD", "1", "c"],
    &["SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"],
    &["SINTERCARD", "2", "c", "c", "LIMIT", "2"],
    &["SINTERCARD", "2", "c", "c", "LIMIT", "0"],
    &["SINTERCARD", "2", "a", "nos"],
    &["SINTERCARD", "2", "a", "str2"],
    &["SINTERCARD", "0", "a"],
    &["SINTERCARD", "-1", "a"],
    &["SINTERCARD", "x", "a"],
    &["SINTERCARD", "3", "a", "b"],
    &["SINTERCARD", "1", "a", "LIMIT", "-1"],
    &["SINTERCARD", "1", "a", "LIMIT", "x"],
    &["SINTERCARD", "1", "a", "LIMIT"],
    &["SINTERCARD", "1", "a", "FOO"],
    &["SINTERCARD", "1", "a", "LIMIT", "1", "LIMIT", "2"],
    &["SINTERCARD", "1"],
];

const MOVE: &[&[&str]] = &[
    &["SADD", "src", "a", "b", "1"],
    &["SMOVE", "src", "dst", "a"],
    &["SMOVE", "src", "dst", "zz"],
    &["SMOVE", "src", "dst", "a"],
    &["SMEMBERS", "src"],
    &["SMEMBERS", "dst"],
    &["OBJECT", "ENCODING", "dst"],
    &["SMOVE", "src", "idst", "1"],
    &["OBJECT", "ENCODING", "idst"],
    &["SMOVE", "src", "src", "b"],
    &["SMOVE", "src", "src", "zz"],
    &["SMOVE", "nos", "dst", "a"],
    &["SET", "str", "v"],
    &["SMOVE", "nos", "str", "a"],
    &["SMOVE", "str", "dst", "a"],
    &["SMOVE", "src", "str", "b"],
    &["SMOVE", "src", "dst", "b"],
    &["EXISTS", "src"],
    &["SMEMBERS", "dst"],
];

const POP_RAND_ERRORS: &[&[&str]] = &[
    &["SADD", "s", "a", "b", "c"],
    &["SPOP", "s", "-1"],
    &["SPOP", "s", "x"],
    &["SPOP", "s", "1", "2"],
    &["SPOP", "s", "0"],
    &["SPOP", "nos"],
    &["SPOP", "nos", "0"],
    &["SPOP", "nos", "5"],
    &["SRANDMEMBER", "s", "x"],
    &["SRANDMEMBER", "s", "-9223372036854775808"],
    &["SRANDMEMBER", "s", "1", "2"],
    &["SRANDMEMBER", "s", "0"],
    &["SRANDMEMBER", "nos"],
    &["SRANDMEMBER", "nos", "3"],
    &["SRANDMEMBER", "nos", "-3"],
];

/// SPOP of the whole set (random order: compared as multisets).
fn pop_all(d: &mut DiffSession) {
    d.case_with(&["SPOP", "s", "3"], Cmp::Sorted);
    d.case(&["EXISTS", "s"]);
    d.case(&["SADD", "s", "a", "b", "c"]);
    d.case_with(&["SPOP", "s", "10"], Cmp::Sorted);
    d.case(&["EXISTS", "s"]);
}

const SCAN_CASES: &[&[&str]] = &[
    &["SADD", "s", "1", "2", "3", "12"],
    &["SSCAN", "s", "0"],
    &["SSCAN", "s", "0", "MATCH", "1*"],
    &["SSCAN", "s", "0", "COUNT", "1"],
    &["SSCAN", "s", "0", "COUNT", "0"],
    &["SSCAN", "s", "0", "TYPE", "set"],
    &["SSCAN", "s", "x"],
    &["SSCAN", "nos", "0"],
    &["SSCAN", "nos", "0", "BAD"],
];

const WRONGTYPE: &[&[&str]] = &[
    &["SET", "str", "v"],
    &["SADD", "str", "a"],
    &["SREM", "str", "a"],
    &["SCARD", "str"],
    &["SISMEMBER", "str", "a"],
    &["SMISMEMBER", "str", "a"],
    &["SMEMBERS", "str"],
    &["SPOP", "str"],
    &["SPOP", "str", "2"],
    &["SPOP", "str", "-2"],
    &["SRANDMEMBER", "str"],
    &["SRANDMEMBER", "str", "2"],
    &["SSCAN", "str", "0"],
    &["SADD", "s", "a"],
    &["GET", "s"],
    &["HGET", "s", "a"],
    &["LPUSH", "s", "a"],
];

#[test]
fn diff_set_basics() {
    let mut d = session!();
    d.run(BASICS);
}

#[test]
fn diff_set_algebra() {
    let mut d = session!();
    d.run(ALGEBRA);
}

#[test]
fn diff_set_move() {
    let mut d = session!();
    d.run(MOVE);
}

#[test]
fn diff_set_wrongtype() {
    let mut d = session!();
    d.run(WRONGTYPE);
}

#[test]
fn diff_set_scan() {
    let mut d = session!();
    d.run(SCAN_CASES);
    for i in 0..1000 {
        d.both(&["SADD", "big", &format!("m{i}")]);
        d.both(&["SADD", "ints", &i.to_string()]);
    }
    d.case(&["OBJECT", "ENCODING", "big"]);
    d.case(&["OBJECT", "ENCODING", "ints"]);
    for key in ["big", "ints"] {
        diff_full_scan(&mut d, "SSCAN", key, &[], 1);
        diff_full_scan(&mut d, "SSCAN", key, &["COUNT", "7"], 1);
        diff_full_scan(&mut d, "SSCAN", key, &["MATCH", "*9*", "COUNT", "100"], 1);
    }
}

#[test]
fn diff_set_encodings() {
    let mut d = session!();
    for i in 0..512 {
        d.both(&["SADD", "s", &i.to_string()]);
    }
    d.case(&["OBJECT", "ENCODING", "s"]);
    d.case(&["SADD", "s", "511"]);
    d.case(&["OBJECT", "ENCODING", "s"]);
    d.case(&["SADD", "s", "512"]);
    d.case(&["OBJECT", "ENCODING", "s"]);
    d.case(&["SREM", "s", "512", "511"]);
    d.case(&["OBJECT", "ENCODING", "s"]);
    d.case(&["CONFIG", "SET", "set-max-intset-entries", "3"]);
    d.case(&["CONFIG", "GET", "set-max-intset-entries"]);
    d.case(&["SADD", "t", "1", "2", "3"]);
    d.case(&["OBJECT", "ENCODING", "t"]);
    d.case(&["SADD", "t", "4"]);
    d.case(&["OBJECT", "ENCODING", "t"]);
    d.case(&["SUNIONSTORE", "u", "t"]);
    d.case(&["OBJECT", "ENCODING", "u"]);
    d.case(&["SINTERSTORE", "u", "t", "t"]);
    d.case(&["OBJECT", "ENCODING", "u"]);
    d.case(&["SADD", "v", "1", "2", "3"]);
    d.case(&["SDIFFSTORE", "w", "t", "v"]);
    d.case(&["OBJECT", "ENCODING", "w"]);
    d.case(&["CONFIG", "SET", "set-max-intset-entries", "512"]);
    // SPOP's rebuild strategy turns a hashtable of integers into an intset.
    d.case(&[
        "SADD", "p", "x", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
    ]);
    d.case(&["SREM", "p", "x"]);
    d.case(&["OBJECT", "ENCODING", "p"]);
    d.case_with(&["SPOP", "p", "9"], SHAPE);
    d.case(&["SCARD", "p"]);
    d.case(&["OBJECT", "ENCODING", "p"]);
    // Few pops take the other path and keep the encoding.
    d.case(&[
        "SADD", "q", "x", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
    ]);
    d.case(&["SREM", "q", "x"]);
    d.case_with(&["SPOP", "q", "2"], SHAPE);
    d.case(&["OBJECT", "ENCODING", "q"]);
    d.case(&["COPY", "q", "q2"]);
    d.case(&["SCARD", "q2"]);
    d.case(&["OBJECT", "ENCODING", "q2"]);
}

#[test]
fn diff_set_random() {
    let mut d = session!();
    d.run(POP_RAND_ERRORS);
    pop_all(&mut d);
    for (key, n) in [("small", 5usize), ("ints", 300), ("big", 700)] {
        let members: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                if key == "ints" {
                    i.to_string()
                } else {
                    format!("m{i}")
                }
                .into_bytes()
            })
            .collect();
        for m in &members {
            d.both(&["SADD", key, std::str::from_utf8(m).unwrap()]);
        }
        for count in [
            "1", "3", "-3", "-20", "5", "6", "299", "300", "699", "700", "2000",
        ] {
            let r = d.case_with(&["SRANDMEMBER", key, count], SHAPE);
            assert_members(&r, &members, "SRANDMEMBER");
            let c: i64 = count.parse().unwrap();
            if c > 0 {
                let mut got = flat_payloads(&r);
                got.sort();
                got.dedup();
                assert_eq!(got.len(), (c as usize).min(n), "distinct members");
            }
        }
        let r = d.case_with(&["SRANDMEMBER", key], SHAPE);
        assert_members(&r, &members, "SRANDMEMBER");
        let r = d.case_with(&["SPOP", key], SHAPE);
        assert_members(&r, &members, "SPOP");
        // The popped member differs between servers: keep them in step.
        d.both(&["DEL", key]);
        for m in &members {
            d.both(&["SADD", key, std::str::from_utf8(m).unwrap()]);
        }
        for count in ["2", "50", "250"] {
            let before = d.case(&["SCARD", key]);
            let r = d.case_with(&["SPOP", key, count], SHAPE);
            assert_members(&r, &members, "SPOP");
            let mut got = flat_payloads(&r);
            got.sort();
            got.dedup();
            let left = common::reply_int(&before).unwrap() as usize;
            assert_eq!(got.len(), count.parse::<usize>().unwrap().min(left));
            d.case(&["SCARD", key]);
            // Resynchronise the two sets' contents.
            d.both(&["DEL", key]);
            for m in &members[..left.saturating_sub(got.len())] {
                d.both(&["SADD", key, std::str::from_utf8(m).unwrap()]);
            }
        }
    }
    d.case(&["HELLO", "3"]);
    d.case_with(&["SPOP", "small", "2"], SHAPE);
    d.case_with(&["SRANDMEMBER", "small", "2"], SHAPE);
    d.case_with(&["SRANDMEMBER", "small", "-2"], SHAPE);
    d.case_with(&["SPOP", "small", "100"], Cmp::Sorted);
}

/// RESP3: SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count are sets.
#[test]
fn diff_sets_resp3() {
    let mut d = session!();
    d.case(&["HELLO", "3"]);
    d.run(BASICS);
    d.reset();
    d.run(ALGEBRA);
    d.reset();
    d.run(POP_RAND_ERRORS);
    pop_all(&mut d);
    d.reset();
    d.run(SCAN_CASES);
}

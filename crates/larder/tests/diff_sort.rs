//! Differential tests: SORT and SORT_RO against Redis 7.0, on lists and
//! sets, with BY / GET patterns (strings and hash fields), LIMIT, ASC/DESC,
//! ALPHA and STORE. Sorted sets are not in Larder yet. Cases avoid what is
//! unspecified in Redis: ties under ALPHA BY with LIMIT (Redis's partial
//! quicksort is not stable) and the native order of hash-table sets.

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

const SETUP: &[&[&str]] = &[
    &[
        "RPUSH", "nums", "3", "1", "10", "2", "-5", "2.5", "1e2", "0x10", "-0",
    ],
    &[
        "RPUSH", "words", "pear", "apple", "fig", "banana", "cherry", "date",
    ],
    &["SADD", "iset", "5", "3", "9", "1", "7"],
    &["SADD", "sset", "pear", "apple", "fig", "banana"],
    &[
        "MSET", "w_pear", "3", "w_apple", "1", "w_fig", "4", "w_banana", "2",
    ],
    &["MSET", "o_pear", "P", "o_apple", "A", "o_fig", "F"],
    &["HSET", "h_pear", "rank", "30", "name", "Pear"],
    &["HSET", "h_apple", "rank", "10", "name", "Apple"],
    &["HSET", "h_fig", "rank", "40"],
    &["HSET", "h_banana", "rank", "20", "name", "Banana"],
    &["RPUSH", "mixed", "10", "abc", "2"],
    &["RPUSH", "ties", "b", "a", "c", "a2"],
    &["MSET", "t_b", "1", "t_a", "1", "t_c", "0", "t_a2", "1"],
    &[
        "ZADD", "z", "3", "pear", "1", "apple", "2", "fig", "2", "banana",
    ],
    &["ZADD", "zn", "5", "10", "1", "30", "3", "20"],
];

const CASES: &[&[&str]] = &[
    &["SORT", "nums"],
    &["SORT", "nums", "DESC"],
    &["SORT", "nums", "ASC"],
    &["SORT", "nums", "LIMIT", "0", "3"],
    &["SORT", "nums", "LIMIT", "2", "3", "DESC"],
    &["SORT", "nums", "LIMIT", "-5", "2"],
    &["SORT", "nums", "LIMIT", "100", "2"],
    &["SORT", "nums", "LIMIT", "3", "-1"],
    &["SORT", "nums", "LIMIT", "3", "0"],
    &["SORT", "nums", "LIMIT", "8", "100"],
    &["SORT", "nums", "ALPHA"],
    &["SORT", "words"],
    &["SORT", "words", "ALPHA"],
    &["SORT", "words", "ALPHA", "DESC", "LIMIT", "1", "2"],
    &["SORT", "words", "BY", "nosort"],
    &["SORT", "words", "BY", "nosort", "DESC"],
    &["SORT", "words", "BY", "nosort", "LIMIT", "1", "3"],
    &["SORT", "words", "BY", "nosort", "DESC", "LIMIT", "1", "3"],
    &["SORT", "words", "BY", "w_*"],
    &["SORT", "words", "BY", "w_*", "DESC"],
    &["SORT", "words", "BY", "w_*", "LIMIT", "0", "2"],
    &[
        "SORT",
        "words",
        "BY",
        "w_*",
        "GET",
        "#",
        "GET",
        "o_*",
        "GET",
        "h_*->name",
    ],
    &["SORT", "words", "BY", "h_*->rank", "GET", "h_*->name"],
    &[
        "SORT",
        "words",
        "BY",
        "h_*->rank",
        "DESC",
        "GET",
        "#",
        "GET",
        "h_*->rank",
    ],
    &["SORT", "words", "BY", "h_*->nofield"],
    &["SORT", "words", "BY", "o_*", "ALPHA", "GET", "o_*"],
    &[
        "SORT", "words", "ALPHA", "GET", "w_*", "GET", "nostar", "GET", "#",
    ],
    &["SORT", "words", "ALPHA", "GET", "h_*->"],
    &[
        "SORT",
        "words",
        "ALPHA",
        "GET",
        "h_*->rank",
        "GET",
        "w_*->rank",
    ],
    &["SORT", "iset"],
    &["SORT", "iset", "DESC", "LIMIT", "1", "2"],
    &["SORT", "iset", "BY", "nosort"],
    &["SORT", "iset", "BY", "nosort", "GET", "#"],
    &["SORT", "sset", "ALPHA"],
    &["SORT", "sset", "BY", "w_*", "GET", "#", "GET", "o_*"],
    &["SORT", "sset", "BY", "w_*", "DESC"],
    &["SORT", "sset"],
    &["OBJECT", "ENCODING", "z"],
    &["SORT", "z"],
    &["OBJECT", "ENCODING", "z"],
    &["SORT", "z", "ALPHA"],
    &["SORT", "z", "ALPHA", "DESC", "LIMIT", "0", "2"],
    &["SORT", "z", "BY", "nosort"],
    &["SORT", "z", "BY", "nosort", "DESC"],
    &["SORT", "z", "BY", "nosort", "LIMIT", "1", "2"],
    &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "2"],
    &["SORT", "z", "BY", "w_*", "GET", "#", "GET", "h_*->name"],
    &["SORT", "z", "BY", "nosort", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["SORT_RO", "zn"],
    &["OBJECT", "ENCODING", "zn"],
    &["SORT_RO", "zn", "DESC", "LIMIT", "1", "5"],
    &["SORT", "mixed"],
    &["SORT", "mixed", "ALPHA"],
    &["SORT", "mixed", "BY", "nosort"],
    &["SORT", "ties", "BY", "t_*"],
    &["SORT", "ties", "BY", "t_*", "DESC"],
    &["SORT", "ties", "BY", "t_*", "ALPHA"],
    &["SORT", "ties", "BY", "t_*", "ALPHA", "DESC"],
    &["SORT", "nokey"],
    &["SORT", "nokey", "BY", "nosort", "GET", "#"],
    &["SORT", "nokey", "LIMIT", "0", "1"],
    &["SORT", "nokey", "STORE", "dst"],
    &["EXISTS", "dst"],
    &["SORT", "nums", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["TYPE", "dst"],
    &["OBJECT", "ENCODING", "dst"],
    &[
        "SORT", "words", "BY", "w_*", "GET", "o_*", "GET", "#", "STORE", "dst",
    ],
    &["LRANGE", "dst", "0", "-1"],
    &["SORT", "sset", "BY", "nosort", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["SORT", "sset", "BY", "nosort", "DESC", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["SET", "strdst", "x", "EX", "100"],
    &["SORT", "nums", "LIMIT", "0", "2", "STORE", "strdst"],
    &["TTL", "strdst"],
    &["TYPE", "strdst"],
    &["SORT", "nums", "LIMIT", "0", "0", "STORE", "strdst"],
    &["EXISTS", "strdst"],
    &["SORT", "nums", "STORE", "nums"],
    &["LRANGE", "nums", "0", "-1"],
    &["SORT_RO", "words", "ALPHA"],
    &["SORT_RO", "words", "BY", "w_*", "GET", "#"],
    &["SORT_RO", "words", "STORE", "dst"],
    &["SORT_RO", "nokey"],
    // Errors, in Redis's order.
    &["SORT", "words"],
    &["SORT", "words", "BY", "o_*"],
    &["SORT", "words", "FOO"],
    &["SORT", "words", "LIMIT", "0"],
    &["SORT", "words", "LIMIT", "a", "1"],
    &["SORT", "words", "LIMIT", "0", "b"],
    &["SORT", "words", "BY"],
    &["SORT", "words", "GET"],
    &["SORT", "words", "STORE"],
    &["SORT", "w_pear"],
    &["SORT", "h_pear"],
    &["SORT", "w_pear", "FOO"],
    &["SORT", "h_pear", "LIMIT", "x", "1"],
    &["SORT"],
    &["SORT_RO"],
];

#[test]
fn sort() {
    let mut s = session!();
    for c in SETUP {
        s.both(c);
    }
    s.run(CASES);
    // Numbers as C's strtod reads them: blanks, hex, inf; junk refused.
    s.run(&[
        &[
            "RPUSH", "odd", " 5", "0x1A", "inf", "-inf", "1e1", ".5", "7.",
        ],
        &["SORT", "odd"],
        &["SORT", "odd", "DESC"],
        &["RPUSH", "bad", "1", "2x"],
        &["SORT", "bad"],
        &["SORT", "bad", "ALPHA"],
        &["RPUSH", "nan", "nan"],
        &["SORT", "nan"],
        &["RPUSH", "big", "1e400"],
        &["SORT", "big"],
        &["RPUSH", "blank", " "],
        &["SORT", "blank"],
        &["RPUSH", "empty", ""],
        &["SORT", "empty"],
        &["SORT", "words", "BY", "o_*"],
    ]);
    // A hash-table set without sorting comes back in each server's own
    // table order: compare as sets.
    s.case_with(&["SORT", "sset", "BY", "nosort"], Cmp::Sorted);
    s.case_with(&["SORT", "sset", "BY", "nosort", "GET", "o_*"], Cmp::Sorted);
    // RESP3: a missing GET is a null.
    s.run(&[
        &["HELLO", "3"],
        &["SORT", "words", "ALPHA", "GET", "o_*", "LIMIT", "0", "3"],
    ]);
}

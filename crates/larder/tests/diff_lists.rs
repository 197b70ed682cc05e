//! Differential tests: list commands, byte-identical against Redis 7.0.
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

const PUSH_POP: &[&[&str]] = &[
    &["LPUSH", "l", "a"],
    &["LPUSH", "l", "b", "c"],
    &["RPUSH", "l", "x", "y", "z"],
    &["LRANGE", "l", "0", "-1"],
    &["LLEN", "l"],
    &["LLEN", "nol"],
    &["TYPE", "l"],
    &["OBJECT", "ENCODING", "l"],
    &["LPUSHX", "nol", "a"],
    &["RPUSHX", "nol", "a", "b"],
    &["EXISTS", "nol"],
    &["LPUSHX", "l", "h1", "h2"],
    &["RPUSHX", "l", "t1"],
    &["LRANGE", "l", "0", "-1"],
    &["LPOP", "l"],
    &["RPOP", "l"],
    &["LPOP", "l", "2"],
    &["RPOP", "l", "2"],
    &["LPOP", "l", "0"],
    &["RPOP", "l", "0"],
    &["LPOP", "nol"],
    &["LPOP", "nol", "0"],
    &["LPOP", "nol", "5"],
    &["RPOP", "nol", "1"],
    &["LPOP", "l", "-1"],
    &["LPOP", "l", "x"],
    &["LPOP", "l", "1.5"],
    &["LPOP", "l", "1", "2"],
    &["RPOP", "l", "1", "2"],
    &["LPOP", "l", "100"],
    &["EXISTS", "l"],
    &["RPUSH", "l", "only"],
    &["RPOP", "l"],
    &["EXISTS", "l"],
    &["RPOP", "l"],
    &["RPUSH", "l", "a", "b"],
    &["LPOP", "l", "9223372036854775807"],
    &["EXISTS", "l"],
    &["LPUSH", "l"],
    &["RPUSH"],
    &["LPOP"],
    &["LLEN"],
    &["LLEN", "a", "b"],
    &["RPUSH", "e", ""],
    &["LRANGE", "e", "0", "-1"],
    &["LLEN", "e"],
];

const RANGE_INDEX: &[&[&str]] = &[
    &[
        "RPUSH", "l", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ],
    &["LRANGE", "l", "0", "0"],
    &["LRANGE", "l", "0", "4"],
    &["LRANGE", "l", "-3", "-1"],
    &["LRANGE", "l", "-100", "2"],
    &["LRANGE", "l", "5", "100"],
    &["LRANGE", "l", "5", "2"],
    &["LRANGE", "l", "10", "20"],
    &["LRANGE", "l", "-1", "-5"],
    &["LRANGE", "l", "-9223372036854775808", "9223372036854775807"],
    &["LRANGE", "l", "a", "1"],
    &["LRANGE", "l", "0", "b"],
    &["LRANGE", "nol", "0", "-1"],
    &["LRANGE", "nol", "x", "-1"],
    &["LRANGE", "l", "0"],
    &["LINDEX", "l", "0"],
    &["LINDEX", "l", "9"],
    &["LINDEX", "l", "10"],
    &["LINDEX", "l", "-1"],
    &["LINDEX", "l", "-10"],
    &["LINDEX", "l", "-11"],
    &["LINDEX", "l", "x"],
    &["LINDEX", "nol", "0"],
    &["LINDEX", "nol", "x"],
    &["LSET", "l", "0", "zero"],
    &["LSET", "l", "-1", "nine"],
    &["LSET", "l", "10", "x"],
    &["LSET", "l", "-11", "x"],
    &["LSET", "l", "x", "x"],
    &["LSET", "nol", "0", "x"],
    &["LSET", "nol", "x", "x"],
    &["LRANGE", "l", "0", "-1"],
    &["LTRIM", "l", "1", "-2"],
    &["LRANGE", "l", "0", "-1"],
    &["LTRIM", "l", "-3", "100"],
    &["LRANGE", "l", "0", "-1"],
    &["LTRIM", "l", "x", "1"],
    &["LTRIM", "nol", "0", "1"],
    &["LTRIM", "nol", "x", "1"],
    &["LTRIM", "l", "2", "1"],
    &["EXISTS", "l"],
    &["RPUSH", "l", "a", "b", "c"],
    &["LTRIM", "l", "5", "10"],
    &["EXISTS", "l"],
    &["RPUSH", "l", "a", "b", "c"],
    &["LTRIM", "l", "0", "-1"],
    &["LTRIM", "l", "-100", "-100"],
    &["EXISTS", "l"],
];

const INSERT_REM: &[&[&str]] = &[
    &["RPUSH", "l", "a", "b", "c", "b", "a"],
    &["LINSERT", "l", "BEFORE", "b", "x"],
    &["LINSERT", "l", "after", "b", "y"],
    &["LINSERT", "l", "AFTER", "a", "z"],
    &["LINSERT", "l", "BEFORE", "nope", "z"],
    &["LINSERT", "l", "MIDDLE", "a", "z"],
    &["LINSERT", "nol", "BEFORE", "a", "z"],
    &["LINSERT", "nol", "MIDDLE", "a", "z"],
    &["EXISTS", "nol"],
    &["LRANGE", "l", "0", "-1"],
    &["LREM", "l", "1", "b"],
    &["LRANGE", "l", "0", "-1"],
    &["LREM", "l", "-1", "a"],
    &["LRANGE", "l", "0", "-1"],
    &["RPUSH", "l", "a", "a", "a"],
    &["LREM", "l", "0", "a"],
    &["LRANGE", "l", "0", "-1"],
    &["LREM", "l", "5", "nothere"],
    &["LREM", "l", "x", "a"],
    &["LREM", "nol", "1", "a"],
    &["LREM", "nol", "x", "a"],
    &["LREM", "l", "0", "x"],
    &["LREM", "l", "0", "y"],
    &["LREM", "l", "0", "z"],
    &["LREM", "l", "0", "b"],
    &["LREM", "l", "0", "c"],
    &["LRANGE", "l", "0", "-1"],
    &["EXISTS", "l"],
];

const LPOS_CASES: &[&[&str]] = &[
    &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
    &["LPOS", "l", "a"],
    &["LPOS", "l", "c"],
    &["LPOS", "l", "x"],
    &["LPOS", "l", "c", "RANK", "2"],
    &["LPOS", "l", "c", "RANK", "-1"],
    &["LPOS", "l", "c", "RANK", "-3"],
    &["LPOS", "l", "c", "RANK", "-4"],
    &["LPOS", "l", "c", "RANK", "4"],
    &["LPOS", "l", "c", "COUNT", "0"],
    &["LPOS", "l", "c", "COUNT", "2"],
    &["LPOS", "l", "c", "COUNT", "0", "RANK", "-1"],
    &["LPOS", "l", "c", "COUNT", "0", "RANK", "2"],
    &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"],
    &["LPOS", "l", "c", "COUNT", "0", "RANK", "-1", "MAXLEN", "2"],
    &["LPOS", "l", "c", "MAXLEN", "1"],
    &["LPOS", "l", "x", "COUNT", "0"],
    &["LPOS", "l", "a", "RANK", "0"],
    &["LPOS", "l", "a", "COUNT", "-1"],
    &["LPOS", "l", "a", "MAXLEN", "-1"],
    &["LPOS", "l", "a", "RANK", "x"],
    &["LPOS", "l", "a", "RANK", "-9223372036854775808"],
    &["LPOS", "l", "c", "RANK", "9223372036854775807"],
    &["LPOS", "l", "a", "RANK"],
    &["LPOS", "l", "a", "FOO", "1"],
    &["LPOS", "nol", "a"],
    &["LPOS", "nol", "a", "COUNT", "1"],
    &["LPOS", "nol", "a", "RANK", "0"],
];

const MOVES: &[&[&str]] = &[
    &["RPUSH", "src", "a", "b", "c"],
    &["LMOVE", "src", "dst", "LEFT", "RIGHT"],
    &["LMOVE", "src", "dst", "right", "left"],
    &["LRANGE", "src", "0", "-1"],
    &["LRANGE", "dst", "0", "-1"],
    &["LMOVE", "src", "dst", "UP", "LEFT"],
    &["LMOVE", "src", "dst", "LEFT", "DOWN"],
    &["LMOVE", "nosrc", "dst", "LEFT", "LEFT"],
    &["LMOVE", "nosrc", "dst", "UP", "LEFT"],
    &["RPOPLPUSH", "dst", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["LMOVE", "src", "src", "LEFT", "RIGHT"],
    &["LRANGE", "src", "0", "-1"],
    &["RPOPLPUSH", "src", "new"],
    &["EXISTS", "src"],
    &["LRANGE", "new", "0", "-1"],
    &["RPOPLPUSH", "nosrc", "new"],
    &["SET", "str", "x"],
    &["RPOPLPUSH", "new", "str"],
    &["LRANGE", "new", "0", "-1"],
    &["RPOPLPUSH", "str", "new"],
    &["RPOPLPUSH", "nosrc", "str"],
    &["LMPOP", "1", "dst", "LEFT"],
    &["LMPOP", "2", "nol", "dst", "RIGHT", "COUNT", "10"],
    &["EXISTS", "dst"],
    &["LMPOP", "2", "nol", "dst", "RIGHT"],
    &["RPUSH", "a", "1", "2", "3"],
    &["LMPOP", "3", "nol", "str", "a", "LEFT"],
    &["LMPOP", "3", "nol", "a", "str", "LEFT", "COUNT", "2"],
    &["LMPOP", "0", "a", "LEFT"],
    &["LMPOP", "-1", "a", "LEFT"],
    &["LMPOP", "x", "a", "LEFT"],
    &["LMPOP", "1", "a", "MIDDLE"],
    &["LMPOP", "2", "a", "LEFT"],
    &["LMPOP", "9999999999999", "a", "LEFT"],
    &["LMPOP", "9223372036854775807", "a", "LEFT"],
    &["LMPOP", "1", "a", "LEFT", "COUNT"],
    &["LMPOP", "1", "a", "LEFT", "COUNT", "0"],
    &["LMPOP", "1", "a", "LEFT", "COUNT", "-1"],
    &["LMPOP", "1", "a", "LEFT", "COUNT", "x"],
    &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"],
    &["LMPOP", "1", "a", "LEFT", "FOO"],
    &["LMPOP", "1", "a"],
    &["LMPOP", "1"],
    &["LMPOP", "1", "a", "RIGHT", "COUNT", "9223372036854775807"],
    &["EXISTS", "a"],
];

const WRONGTYPE: &[&[&str]] = &[
    &["SET", "s", "v"],
    &["LPUSH", "s", "a"],
    &["RPUSH", "s", "a"],
    &["LPUSHX", "s", "a"],
    &["RPUSHX", "s", "a"],
    &["LPOP", "s"],
    &["RPOP", "s", "2"],
    &["LPOP", "s", "0"],
    &["LPOP", "s", "x"],
    &["LLEN", "s"],
    &["LRANGE", "s", "0", "1"],
    &["LRANGE", "s", "x", "1"],
    &["LINDEX", "s", "0"],
    &["LINDEX", "s", "x"],
    &["LSET", "s", "0", "x"],
    &["LSET", "s", "x", "x"],
    &["LINSERT", "s", "BEFORE", "a", "b"],
    &["LREM", "s", "0", "a"],
    &["LTRIM", "s", "0", "1"],
    &["LPOS", "s", "a"],
    &["LMOVE", "s", "d", "LEFT", "LEFT"],
    &["RPUSH", "l", "x"],
    &["LMOVE", "l", "s", "LEFT", "LEFT"],
    &["LRANGE", "l", "0", "-1"],
    &["GET", "l"],
    &["APPEND", "l", "x"],
    &["STRLEN", "l"],
];

#[test]
fn diff_push_pop() {
    let mut d = session!();
    d.run(PUSH_POP);
}

#[test]
fn diff_range_index_set_trim() {
    let mut d = session!();
    d.run(RANGE_INDEX);
}

#[test]
fn diff_insert_rem() {
    let mut d = session!();
    d.run(INSERT_REM);
}

#[test]
fn diff_lpos() {
    let mut d = session!();
    d.run(LPOS_CASES);
}

#[test]
fn diff_moves() {
    let mut d = session!();
    d.run(MOVES);
}

#[test]
fn diff_list_wrongtype() {
    let mut d = session!();
    d.run(WRONGTYPE);
}

/// RESP3: nil replies are `_` whether Redis means a null bulk or array.
#[test]
fn diff_lists_resp3() {
    let mut d = session!();
    d.case(&["HELLO", "3"]);
    d.run(PUSH_POP);
    d.run(MOVES);
    d.run(LPOS_CASES);
}

/// Long lists across many nodes (and fill settings), compared element by
/// element after pushes, inserts, removals and trims on both ends.
#[test]
fn diff_long_lists() {
    let mut d = session!();
    for fill in ["-2", "-1", "4", "1", "-5"] {
        d.case(&["FLUSHALL"]);
        d.case(&["CONFIG", "SET", "list-max-listpack-size", fill]);
        d.case(&["CONFIG", "GET", "list-max-listpack-size"]);
        d.case(&["CONFIG", "GET", "list-max-ziplist-size"]);
        let big = "v".repeat(3000);
        for i in 0..300 {
            let v = format!("item-{i}");
            d.case(&["RPUSH", "l", &v]);
            if i % 7 == 0 {
                d.case(&["LPUSH", "l", &v, &big]);
            }
            if i % 50 == 0 {
                d.case(&["LINSERT", "l", "BEFORE", "item-3", &big]);
            }
        }
        d.case(&["LLEN", "l"]);
        d.case(&["LRANGE", "l", "0", "-1"]);
        for i in (-400..400).step_by(37) {
            d.case(&["LINDEX", "l", &i.to_string()]);
            d.case(&["LSET", "l", &i.to_string(), &format!("set{i}")]);
        }
        d.case(&["LREM", "l", "3", &big]);
        d.case(&["LREM", "l", "-2", "item-0"]);
        d.case(&["LREM", "l", "0", &big]);
        d.case(&["LPOS", "l", "item-299"]);
        d.case(&["LPOS", "l", "item-9", "RANK", "-1", "COUNT", "0"]);
        d.case(&["LRANGE", "l", "100", "150"]);
        d.case(&["LTRIM", "l", "10", "-10"]);
        d.case(&["LRANGE", "l", "0", "-1"]);
        d.case(&["LPOP", "l", "20"]);
        d.case(&["RPOP", "l", "20"]);
        d.case(&["LMPOP", "1", "l", "LEFT", "COUNT", "1000"]);
        d.case(&["EXISTS", "l"]);
        d.case(&["OBJECT", "ENCODING", "l"]);
    }
    d.case(&["CONFIG", "SET", "list-max-listpack-size", "-2"]);
}

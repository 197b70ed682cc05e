//! Differential tests: error replies (unknown commands, arity, syntax),
//! case-insensitivity, empty and binary-safe arguments.

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

const UNKNOWN_CASES: &[&[&str]] = &[
    &["foo"],
    &["foo", "a"],
    &["foo", "a", "b"],
    &["FOO", "a", "b", "c"],
    &["foo", ""],
    &["foo", "", ""],
    &["foo", "it's"],
    &["foo", "a b"],
    &["foo", "a\r\nb", "c\nd"],
    &["foo\r\nbar", "x"],
    &["getx", "k"],
    &["ge", "k"],
    &["get1"],
    &[""],
    &["", "a"],
    &[" get", "k"],
    &["get ", "k"],
    &["OBJECT", "FOO"],
    &["OBJECT", "FOO", "k"],
    &["OBJECT"],
];

/// Commands with fixed arity: (name, number of arguments after the name).
const FIXED_ARITY: &[(&str, usize)] = &[
    ("GET", 1),
    ("SETNX", 2),
    ("SETEX", 3),
    ("PSETEX", 3),
    ("GETSET", 2),
    ("GETDEL", 1),
    ("APPEND", 2),
    ("STRLEN", 1),
    ("GETRANGE", 3),
    ("SUBSTR", 3),
    ("SETRANGE", 3),
    ("INCR", 1),
    ("DECR", 1),
    ("INCRBY", 2),
    ("DECRBY", 2),
    ("INCRBYFLOAT", 2),
    ("TYPE", 1),
    ("RENAME", 2),
    ("RENAMENX", 2),
    ("MOVE", 2),
    ("TTL", 1),
    ("PTTL", 1),
    ("EXPIRETIME", 1),
    ("PEXPIRETIME", 1),
    ("PERSIST", 1),
    ("KEYS", 1),
    ("SELECT", 1),
    ("SWAPDB", 2),
    ("ECHO", 1),
    ("DBSIZE", 0),
    ("RANDOMKEY", 0),
    ("TIME", 0),
    ("LASTSAVE", 0),
];

/// Commands with a minimum arity: (name, minimum args after the name).
const MIN_ARITY: &[(&str, usize)] = &[
    ("SET", 2),
    ("MGET", 1),
    ("MSET", 2),
    ("MSETNX", 2),
    ("GETEX", 1),
    ("LCS", 2),
    ("DEL", 1),
    ("UNLINK", 1),
    ("EXISTS", 1),
    ("TOUCH", 1),
    ("COPY", 2),
    ("EXPIRE", 2),
    ("PEXPIRE", 2),
    ("EXPIREAT", 2),
    ("PEXPIREAT", 2),
    ("SCAN", 1),
    ("OBJECT", 1),
    ("CONFIG", 1),
    ("CLIENT", 1),
    ("SLOWLOG", 1),
    ("LATENCY", 1),
    ("MEMORY", 1),
    ("DEBUG", 1),
];

#[test]
fn diff_unknown_commands() {
    let mut d = session!();
    d.run(UNKNOWN_CASES);
    // Long command names / arguments are truncated in the error text.
    let long = "x".repeat(300);
    let mid = "y".repeat(100);
    d.case(&[&long]);
    d.case(&[&long, "a"]);
    d.case(&["foo", &long]);
    d.case(&["foo", &mid, &mid, "z"]);
    let many: Vec<String> = (0..60).map(|i| format!("arg{i}")).collect();
    let mut cmd = vec!["foo"];
    cmd.extend(many.iter().map(|s| s.as_str()));
    d.case(&cmd);
    // Still usable after errors.
    d.case(&["SET", "k", "v"]);
    d.case(&["GET", "k"]);
}

#[test]
fn diff_arity_errors() {
    let mut d = session!();
    for &(name, n) in FIXED_ARITY {
        let too_few: Vec<&str> = std::iter::once(name).chain((1..n).map(|_| "a")).collect();
        if n > 0 {
            d.case(&too_few);
        }
        let too_many: Vec<&str> = std::iter::once(name).chain((0..=n).map(|_| "1")).collect();
        d.case(&too_many);
        d.case(&[&name.to_lowercase()]);
    }
    for &(name, n) in MIN_ARITY {
        let too_few: Vec<&str> = std::iter::once(name).chain((1..n).map(|_| "a")).collect();
        d.case(&too_few);
        d.case(&[&name.to_lowercase()]);
    }
}

#[test]
fn diff_case_insensitive_names_and_options() {
    let mut d = session!();
    d.run(&[
        &["set", "k", "v"],
        &["SeT", "k", "v2", "ex", "100"],
        &["gEt", "k"],
        &["ttl", "k"],
        &["Set", "k", "v3", "Px", "100000", "Get"],
        &["set", "k", "v4", "xx", "keepttl"],
        &["ttl", "k"],
        &["getex", "k", "persist"],
        &["expire", "k", "100", "nx"],
        &["expire", "k", "200", "gt"],
        &["ttl", "k"],
        &["incrby", "n", "5"],
        &["Incr", "n"],
        &["mset", "a", "1", "b", "2"],
        &["mget", "a", "b"],
        &["lcs", "a", "b", "len"],
        &["copy", "a", "c", "replace"],
        &["object", "encoding", "n"],
        &["OBJECT", "encoding", "n"],
        &["flushdb", "async"],
        &["dbsize"],
    ]);
}

#[test]
fn diff_empty_string_arguments() {
    let mut d = session!();
    d.run(&[
        &["SET", "", ""],
        &["GET", ""],
        &["EXISTS", ""],
        &["STRLEN", ""],
        &["APPEND", "", "x"],
        &["GET", ""],
        &["TYPE", ""],
        &["KEYS", ""],
        &["RENAME", "", "e"],
        &["GET", "e"],
        &["RENAME", "e", ""],
        &["INCR", ""],
        &["SET", "", ""],
        &["INCR", ""],
        &["INCRBY", "", ""],
        &["INCRBYFLOAT", "", ""],
        &["SETRANGE", "", "", "x"],
        &["GETRANGE", "", "", ""],
        &["EXPIRE", "", ""],
        &["MSET", "", "", "x", ""],
        &["MGET", "", "x"],
        &["DEL", ""],
        &["SET", "k", "v", ""],
        &["SET", "k", "v", "EX", ""],
        &["ECHO", ""],
        &["SELECT", ""],
        &["DBSIZE"],
    ]);
}

#[test]
fn diff_binary_safe_values() {
    let mut d = session!();
    let all: Vec<u8> = (0u8..=255).collect();
    let cases: &[&[&[u8]]] = &[
        &[b"SET", b"k\0ey", b"v\0al\r\nue"],
        &[b"GET", b"k\0ey"],
        &[b"GET", b"k"],
        &[b"STRLEN", b"k\0ey"],
        &[b"APPEND", b"k\0ey", b"\r\n\0"],
        &[b"GET", b"k\0ey"],
        &[b"SET", b"\r\n", b"*1\r\n$4\r\nPING\r\n"],
        &[b"GET", b"\r\n"],
        &[b"EXISTS", b"\r\n", b"\r", b"\n"],
        &[b"SET", b"\xff\xfe", b"\x80\x81"],
        &[b"GET", b"\xff\xfe"],
        &[b"KEYS", b"k\0*"],
        &[b"KEYS", b"\xff*"],
        &[b"SET", &all, &all],
        &[b"GET", &all],
        &[b"GETRANGE", &all, b"250", b"-1"],
        &[b"SETRANGE", &all, b"1", b"\0\0\0"],
        &[b"GETRANGE", &all, b"0", b"5"],
        &[b"LCS", &all, b"k\0ey"],
        &[b"RENAME", &all, b"\0"],
        &[b"GET", b"\0"],
        &[b"ECHO", b"\0\r\n\xff"],
        &[b"SET", b"num", b"1\0"],
        &[b"INCR", b"num"],
        &[b"INCRBYFLOAT", b"num", b"1\0"],
        &[b"SET", b"num", b"5"],
        &[b"INCRBY", b"num", b"1\0"],
        &[b"EXPIRE", b"num", b"100\0"],
        &[b"SELECT", b"0\0"],
        &[b"SET", b"k", b"v", b"EX\0", b"10"],
        &[b"GET\0", b"k"],
        &[b"\0"],
        &[b"DBSIZE"],
    ];
    d.run_bytes(cases);
}

/// Container commands: unknown subcommands and subcommand arity, named
/// `container|sub` as Redis 7.0 does.
#[test]
fn diff_subcommand_errors() {
    let mut d = session!();
    d.run(&[
        &["CONFIG", "foo"],
        &["CONFIG", "FOO", "bar"],
        &["config", "get"],
        &["CONFIG", "SET", "x"],
        &["CONFIG", "RESETSTAT", "x"],
        &["CONFIG", "REWRITE", "x"],
        &["CONFIG", "HELP", "x"],
        &["CLIENT", "foo"],
        &["CLIENT", "ID", "x"],
        &["CLIENT", "SETNAME"],
        &["CLIENT", "SETNAME", "a", "b"],
        &["CLIENT", "GETNAME", "x"],
        &["CLIENT", "INFO", "x"],
        &["CLIENT", "KILL"],
        &["CLIENT", "NO-EVICT"],
        &["CLIENT", "REPLY"],
        &["CLIENT", "HELP", "x"],
        &["COMMAND", "foo"],
        &["COMMAND", "COUNT", "x"],
        &["COMMAND", "GETKEYS"],
        &["COMMAND", "GETKEYS", "get"],
        &["COMMAND", "HELP", "x"],
        &["SLOWLOG", "foo"],
        &["SLOWLOG", "LEN", "x"],
        &["SLOWLOG", "RESET", "x"],
        &["LATENCY", "foo"],
        &["LATENCY", "LATEST", "x"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "DOCTOR", "x"],
        &["MEMORY", "foo"],
        &["MEMORY", "USAGE"],
        &["MEMORY", "STATS", "x"],
        &["MEMORY", "DOCTOR", "x"],
        &["DEBUG", "x"],
        &["FLUSHDB", "x"],
        &["FLUSHALL", "a", "b"],
        &["SWAPDB", "a", "b"],
        &["SHUTDOWN", "x"],
    ]);
    let long = "s".repeat(200);
    d.case(&["CONFIG", &long]);
    d.case(&["CLIENT", &long]);
}

//! Differential tests: stream commands, byte-identical against Redis 7.0,
//! in RESP2 and RESP3. Cases use explicit IDs and XCLAIM TIME so replies
//! are deterministic; what still depends on the clock (idle times, seen
//! and delivery times, auto IDs) is masked by `norm` before comparing.

mod common;
use common::{Cmp, DiffSession, RawClient};
use std::time::Duration;

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

/// Masks clock-dependent values: integers of 12+ digits (Unix ms times),
/// the integer after an `idle` field, the idle column of XPENDING rows,
/// and auto-generated IDs (`<13 digits>-<seq>`).
fn norm(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let prev = if i > 0 { lines[i - 1] } else { "" };
        let is_int = l.starts_with(':');
        let digits = l.trim_start_matches([':', '$']);
        let pending_row = i >= 5
            && lines[i - 5] == "*4"
            && lines[i - 4].starts_with('$')
            && lines[i - 2].starts_with('$')
            && is_int;
        if is_int && (digits.len() >= 12 || prev == "idle" || pending_row) {
            out.push(":T".into());
        } else if l.split_once('-').is_some_and(|(a, b)| {
            a.len() >= 12
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }) {
            out.push("ID".into());
            if let Some(last) = out.len().checked_sub(2) {
                if out[last].starts_with('$') {
                    out[last] = "$".into();
                }
            }
        } else {
            out.push((*l).to_string());
        }
    }
    out.join("\r\n").into_bytes()
}

const NORM: Cmp = Cmp::Normalize(norm);

fn run_norm(s: &mut DiffSession, cases: &[&[&str]]) {
    for c in cases {
        s.case_with(c, NORM);
    }
}

const BASICS: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1", "b", "2"],
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "1-0", "a", "1"],
    &["XADD", "s", "0-0", "a", "1"],
    &["XADD", "s2", "0-0", "a", "1"],
    &["EXISTS", "s2"],
    &["XADD", "s", "1-*", "a", "3", "b", "4"],
    &["XADD", "s", "2-*", "c", "5"],
    &["XADD", "s", "2", "c", "6"],
    &["XADD", "s", "3-5", "a", "x", "b", "y"],
    &["XADD", "s", "3-*", "f"],
    &["XADD", "s", "3-*"],
    &["XADD", "s"],
    &["XADD", "s", "bad", "f", "v"],
    &["XADD", "s", "1-2-3", "f", "v"],
    &["XADD", "s", "-", "f", "v"],
    &["XADD", "s", "+", "f", "v"],
    &["XADD", "s", " 9", "f", "v"],
    &["XADD", "s", "+10-1", "f", "v"],
    &["XADD", "s", "11-+1", "f", "v"],
    &["XADD", "s", "18446744073709551615-0", "f", "v"],
    &["XADD", "s", "18446744073709551616-0", "f", "v"],
    &["XADD", "nos", "NOMKSTREAM", "5-5", "f", "v"],
    &["EXISTS", "nos"],
    &["XADD", "s", "NOMKSTREAM", "20-1", "f", "v"],
    &["XLEN", "s"],
    &["XLEN", "nos"],
    &["TYPE", "s"],
    &["OBJECT", "ENCODING", "s"],
    &["XRANGE", "s", "-", "+"],
    &["XRANGE", "s", "-", "+", "COUNT", "2"],
    &["XRANGE", "s", "-", "+", "COUNT", "0"],
    &["XRANGE", "s", "-", "+", "COUNT", "-5"],
    &["XRANGE", "s", "-", "+", "COUNT"],
    &["XRANGE", "s", "-", "+", "FOO", "1"],
    &["XRANGE", "s", "2", "3"],
    &["XRANGE", "s", "(1-1", "(3-5"],
    &[
        "XRANGE",
        "s",
        "(18446744073709551615-18446744073709551615",
        "+",
    ],
    &["XRANGE", "s", "-", "(0-0"],
    &["XRANGE", "s", "(-", "+"],
    &["XRANGE", "s", "x", "+"],
    &["XRANGE", "s", "5", "1"],
    &["XRANGE", "nos", "-", "+"],
    &["XREVRANGE", "s", "+", "-"],
    &["XREVRANGE", "s", "+", "-", "COUNT", "1"],
    &["XREVRANGE", "s", "(3-5", "1"],
    &["XREVRANGE", "s", "+", "-", "COUNT", "0"],
    &["XDEL", "s", "1-1", "9-9", "1-1"],
    &["XDEL", "s", "bad"],
    &["XDEL", "s", "-"],
    &["XDEL", "nos", "1-1"],
    &["XRANGE", "s", "-", "+"],
    &["XINFO", "STREAM", "s"],
    &["XINFO", "STREAM", "nos"],
    &["XINFO", "STREAM", "s", "FULL"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT"],
    &["XINFO", "STREAM", "s", "FOO"],
    &["XINFO", "STREAM", "s", "FULL", "LIMIT", "1"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "x"],
    &["XINFO", "STREAM"],
    &["XINFO", "FOO", "s"],
    &["XINFO", "HELP"],
    &["XINFO", "HELP", "x"],
    &["XINFO", "GROUPS", "s"],
    &["XINFO", "GROUPS", "nos"],
    &["XDEL", "s", "3-5", "3-6", "20-1"],
    &["XINFO", "STREAM", "s"],
    &["XDEL", "s", "1-2", "2-0", "2-1"],
    &["XLEN", "s"],
    &["EXISTS", "s"],
    &["XINFO", "STREAM", "s"],
    &["XINFO", "STREAM", "s", "FULL"],
    &["XADD", "s", "20-1", "f", "v"],
    &["XADD", "s", "20-2", "f", "v"],
    &["SET", "str", "x"],
    &["XADD", "str", "1-1", "f", "v"],
    &["XLEN", "str"],
    &["XRANGE", "str", "-", "+"],
    &["XINFO", "STREAM", "str"],
    &["XREAD", "STREAMS", "str", "0"],
];

const TRIM: &[&[&str]] = &[
    &["XTRIM", "t", "MAXLEN", "0"],
    &["XTRIM", "t"],
    &["XTRIM", "t", "MAXLEN"],
    &["XTRIM", "t", "MAXLEN", "-1"],
    &["XTRIM", "t", "MAXLEN", "x"],
    &["XTRIM", "t", "MAXLEN", "1", "MINID", "0"],
    &["XTRIM", "t", "MAXLEN", "1", "LIMIT", "10"],
    &["XTRIM", "t", "MAXLEN", "~", "1", "LIMIT", "-1"],
    &["XTRIM", "t", "LIMIT", "10"],
    &["XTRIM", "t", "MINID", "bad"],
    &["XTRIM", "t", "FOO"],
    &["XADD", "t", "MAXLEN", "~", "x", "1-1", "f", "v"],
    &["XADD", "t", "LIMIT", "5", "1-1", "f", "v"],
    &["XADD", "t", "MAXLEN", "=", "1-1", "f", "v"],
    &["XADD", "t", "MAXLEN", "1", "MINID", "1", "1-1", "f", "v"],
    &["XADD", "t", "MAXLEN"],
];

/// 300 entries with alternating field shapes, then trims of every kind.
fn fill(s: &mut DiffSession, key: &str, n: u64) {
    for i in 1..=n {
        let id = format!("{i}-{}", i % 3);
        let v = format!("value-{i}");
        if i % 7 == 0 {
            s.both(&["XADD", key, &id, "other", &v]);
        } else {
            s.both(&["XADD", key, &id, "a", &v, "b", "12345"]);
        }
    }
}

#[test]
fn basics_and_errors() {
    let mut s = session!();
    s.run(BASICS);
    s.run(TRIM);
}

#[test]
fn trimming_and_nodes() {
    let mut s = session!();
    fill(&mut s, "t", 350);
    s.run(&[
        &["XINFO", "STREAM", "t"],
        &["XLEN", "t"],
        &["XTRIM", "t", "MAXLEN", "~", "320"],
        &["XTRIM", "t", "MAXLEN", "~", "240"],
        &["XINFO", "STREAM", "t"],
        &["XTRIM", "t", "MAXLEN", "=", "230"],
        &["XINFO", "STREAM", "t"],
        &["XTRIM", "t", "MINID", "~", "150"],
        &["XTRIM", "t", "MINID", "160-0"],
        &["XINFO", "STREAM", "t"],
        &["XTRIM", "t", "MAXLEN", "~", "10", "LIMIT", "50"],
        &["XTRIM", "t", "MAXLEN", "~", "10", "LIMIT", "150"],
        &["XINFO", "STREAM", "t"],
        &["XDEL", "t", "300-0", "301-1", "302-2", "303-0"],
        &["XRANGE", "t", "295", "310"],
        &["XREVRANGE", "t", "310", "295", "COUNT", "3"],
        &["XADD", "t", "MAXLEN", "5", "400-0", "a", "x", "b", "y"],
        &["XRANGE", "t", "-", "+"],
        &["XINFO", "STREAM", "t", "FULL"],
        &["XADD", "t", "MINID", "=", "399", "401-0", "z", "1"],
        &["XINFO", "STREAM", "t"],
        &["XTRIM", "t", "MAXLEN", "0"],
        &["XINFO", "STREAM", "t"],
        &["DUMP", "t"],
    ]);
    // Uncompressed, so the node bytes compare (the LZF coders differ).
    s.case(&["CONFIG", "SET", "rdbcompression", "no"]);
    fill(&mut s, "u", 120);
    s.run(&[&["DUMP", "u"], &["XINFO", "STREAM", "u"]]);
    // Big values close nodes by bytes.
    let big = "x".repeat(1500);
    for i in 1..=9 {
        s.case(&["XADD", "b", &format!("{i}-0"), "f", &big]);
    }
    s.run(&[&["XINFO", "STREAM", "b"], &["DUMP", "b"]]);
}

/// `stream-node-max-entries` / `stream-node-max-bytes` (0 = no limit of
/// that kind): nodes close where Redis's do (XINFO's `radix-tree-keys`,
/// DUMP's node bytes), LIMIT trims take whole nodes within the limit, and a
/// `~` trim without LIMIT takes at most 100 nodes' worth.
#[test]
fn node_limits() {
    let mut s = session!();
    s.run(&[
        &["CONFIG", "GET", "stream-node-max-*"],
        &["CONFIG", "SET", "stream-node-max-entries", "-1"],
        &["CONFIG", "SET", "stream-node-max-bytes", "x"],
        &["CONFIG", "SET", "stream-node-max-bytes", "1kb"],
        &["CONFIG", "GET", "stream-node-max-bytes"],
        &["CONFIG", "SET", "stream-node-max-bytes", "4096"],
        &["CONFIG", "SET", "stream-node-max-entries", "10"],
        &["CONFIG", "GET", "stream-node-max-entries"],
    ]);
    fill(&mut s, "n", 100);
    s.run(&[
        &["XINFO", "STREAM", "n"],
        &[
            "XADD", "n", "MAXLEN", "~", "55", "LIMIT", "30", "101-0", "a", "x",
        ],
        &["XLEN", "n"],
        &[
            "XADD", "n", "MAXLEN", "~", "55", "LIMIT", "30", "102-0", "a", "x",
        ],
        &["XLEN", "n"],
        &["XTRIM", "n", "MINID", "~", "90", "LIMIT", "9"],
        &["XTRIM", "n", "MINID", "~", "90", "LIMIT", "10"],
        &["XINFO", "STREAM", "n", "FULL"],
    ]);
    // One entry a node: the default LIMIT of `~` (100 nodes) holds the trim.
    s.case(&["CONFIG", "SET", "stream-node-max-entries", "1"]);
    fill(&mut s, "one", 250);
    s.run(&[
        &["XTRIM", "one", "MAXLEN", "~", "1"],
        &["XLEN", "one"],
        &["XINFO", "STREAM", "one"],
        &["XTRIM", "one", "MAXLEN", "1"],
        &["XLEN", "one"],
    ]);
    // Nodes by bytes only, then one node for everything.
    s.case(&["CONFIG", "SET", "rdbcompression", "no"]);
    s.case(&["CONFIG", "SET", "stream-node-max-entries", "0"]);
    s.case(&["CONFIG", "SET", "stream-node-max-bytes", "200"]);
    fill(&mut s, "b", 120);
    s.run(&[&["XINFO", "STREAM", "b"], &["DUMP", "b"]]);
    s.case(&["CONFIG", "SET", "stream-node-max-bytes", "0"]);
    fill(&mut s, "all", 300);
    let big = "x".repeat(5000);
    s.case(&["XADD", "all", "301-0", "f", &big]);
    s.run(&[
        &["XINFO", "STREAM", "all"],
        &["DUMP", "all"],
        &["XTRIM", "all", "MAXLEN", "~", "0"],
        &["XLEN", "all"],
    ]);
}

#[test]
fn groups_and_pel() {
    let mut s = session!();
    s.run(&[
        &["XGROUP", "CREATE", "g", "grp", "$"],
        &["XGROUP", "CREATE", "g", "grp", "$", "MKSTREAM"],
        &["XGROUP", "CREATE", "g", "grp", "$", "MKSTREAM"],
        &["XGROUP", "CREATE", "g", "grp2", "0", "ENTRIESREAD", "-2"],
        &["XGROUP", "CREATE", "g", "grp2", "0", "ENTRIESREAD", "x"],
        &["XGROUP", "CREATE", "g", "grp2", "0", "FOO"],
        &["XGROUP", "CREATE", "g", "grp2", "bad"],
        &["XGROUP", "CREATE", "g"],
        &["XGROUP", "FOO"],
        &["XGROUP", "HELP"],
        &["XGROUP", "SETID", "g", "nogrp", "0"],
        &["XGROUP", "SETID", "g", "grp", "0", "MKSTREAM"],
        &["XGROUP", "SETID", "g", "grp", "0", "ENTRIESREAD"],
        &["XGROUP", "DESTROY", "nokey", "grp"],
        &["XGROUP", "CREATECONSUMER", "g", "nogrp", "c"],
        &["XGROUP", "DELCONSUMER", "g", "nogrp", "c"],
        &["SET", "str", "v"],
        &["XGROUP", "CREATE", "str", "grp", "$"],
        &["XINFO", "GROUPS", "g"],
        &["XADD", "g", "1-0", "a", "1"],
        &["XADD", "g", "2-0", "a", "2"],
        &["XADD", "g", "3-0", "a", "3"],
        &["XADD", "g", "4-0", "a", "4"],
        &["XGROUP", "CREATE", "g", "early", "0"],
        &["XGROUP", "CREATE", "g", "mid", "2-0", "ENTRIESREAD", "2"],
        &["XINFO", "GROUPS", "g"],
        &[
            "XREADGROUP",
            "GROUP",
            "early",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "g",
            ">",
        ],
        &["XREADGROUP", "GROUP", "early", "bob", "STREAMS", "g", ">"],
        &["XREADGROUP", "GROUP", "early", "bob", "STREAMS", "g", ">"],
        &["XREADGROUP", "GROUP", "early", "alice", "STREAMS", "g", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "early",
            "alice",
            "STREAMS",
            "g",
            "1-0",
        ],
        &["XREADGROUP", "GROUP", "early", "carol", "STREAMS", "g", "0"],
        &["XREADGROUP", "GROUP", "nogrp", "alice", "STREAMS", "g", ">"],
        &[
            "XREADGROUP",
            "GROUP",
            "early",
            "alice",
            "STREAMS",
            "nokey",
            ">",
        ],
        &["XREADGROUP", "GROUP", "early", "alice", "STREAMS", "g", "$"],
        &["XREADGROUP", "GROUP", "early", "alice", "STREAMS", "g"],
        &["XREADGROUP", "GROUP", "early", "alice", "STREAMS", "g", "x"],
        &["XREADGROUP", "STREAMS", "g", ">"],
        &[
            "XREADGROUP",
            "GROUP",
            "early",
            "alice",
            "FOO",
            "STREAMS",
            "g",
            ">",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "mid",
            "dave",
            "NOACK",
            "STREAMS",
            "g",
            ">",
        ],
        &["XINFO", "GROUPS", "g"],
        &["XPENDING", "g", "early"],
        &["XPENDING", "g", "mid"],
        &["XPENDING", "g", "nogrp"],
        &["XPENDING", "nokey", "early"],
        &["XPENDING", "g", "early", "-", "+"],
        &["XPENDING", "g", "early", "-", "+", "x"],
        &["XPENDING", "g", "early", "IDLE", "x", "-", "+", "10"],
        &["XPENDING", "g", "early", "IDLE", "0", "-", "+"],
        &["XPENDING", "g", "early", "(1-0", "(9-9", "0"],
        &["XPENDING", "g", "early", "bad", "+", "10"],
        &["XPENDING", "g", "early", "-", "+", "10", "nobody"],
        &["XPENDING", "g", "early", "-", "+", "1", "x", "y"],
        &["XACK", "g", "early", "bad"],
        &["XACK", "g", "early", "1-0", "1-0", "9-0"],
        &["XACK", "g", "nogrp", "2-0"],
        &["XACK", "nokey", "early", "2-0"],
        &["XACK", "str", "early", "2-0"],
        &["XGROUP", "CREATECONSUMER", "g", "early", "erin"],
        &["XGROUP", "CREATECONSUMER", "g", "early", "erin"],
        &["XGROUP", "DELCONSUMER", "g", "early", "nobody"],
        &["XDEL", "g", "3-0"],
        &["XINFO", "GROUPS", "g"],
        &[
            "XCLAIM", "g", "early", "erin", "0", "2-0", "3-0", "4-0", "TIME", "1000",
        ],
        &[
            "XCLAIM",
            "g",
            "early",
            "erin",
            "0",
            "4-0",
            "JUSTID",
            "RETRYCOUNT",
            "7",
        ],
        &[
            "XCLAIM", "g", "early", "erin", "0", "1-0", "FORCE", "TIME", "2000",
        ],
        &["XCLAIM", "g", "early", "erin", "0", "9-0", "FORCE"],
        &[
            "XCLAIM", "g", "early", "erin", "0", "4-0", "LASTID", "9-9", "JUSTID",
        ],
        &["XCLAIM", "g", "early", "erin", "x", "4-0"],
        &["XCLAIM", "g", "early", "erin", "0", "4-0", "IDLE", "x"],
        &["XCLAIM", "g", "early", "erin", "0", "4-0", "TIME", "x"],
        &[
            "XCLAIM",
            "g",
            "early",
            "erin",
            "0",
            "4-0",
            "RETRYCOUNT",
            "x",
        ],
        &["XCLAIM", "g", "early", "erin", "0", "4-0", "LASTID", "x"],
        &["XCLAIM", "g", "early", "erin", "0", "4-0", "BOGUS"],
        &["XCLAIM", "g", "nogrp", "erin", "0", "4-0"],
        &["XCLAIM", "str", "nogrp", "erin", "0", "4-0"],
        &["XCLAIM", "g", "early", "erin", "100000", "4-0"],
        &["XINFO", "GROUPS", "g"],
        &["XAUTOCLAIM", "g", "early", "frank", "0", "0", "COUNT", "1"],
        &["XAUTOCLAIM", "g", "early", "frank", "0", "0"],
        &["XAUTOCLAIM", "g", "early", "frank", "0", "(1-0", "JUSTID"],
        &["XAUTOCLAIM", "g", "early", "frank", "0", "0", "COUNT", "0"],
        &["XAUTOCLAIM", "g", "early", "frank", "x", "0"],
        &["XAUTOCLAIM", "g", "early", "frank", "0", "bad"],
        &["XAUTOCLAIM", "g", "early", "frank", "0", "0", "FOO"],
        &["XAUTOCLAIM", "g", "nogrp", "frank", "0", "0"],
        &["XAUTOCLAIM", "g", "early", "frank", "100000", "0"],
        &["XGROUP", "DELCONSUMER", "g", "early", "frank"],
        &["XGROUP", "SETID", "g", "early", "$"],
        &["XGROUP", "SETID", "g", "early", "1", "ENTRIESREAD", "1"],
        &["XINFO", "GROUPS", "g"],
        &["XGROUP", "DESTROY", "g", "mid"],
        &["XGROUP", "DESTROY", "g", "mid"],
        &["XSETID", "g", "1-0"],
        &["XSETID", "g", "99-0", "ENTRIESADDED", "1"],
        &["XSETID", "g", "99-0", "ENTRIESADDED", "-1"],
        &["XSETID", "g", "99-0", "MAXDELETEDID", "100-0"],
        &["XSETID", "g", "99-0", "MAXDELETEDID", "1-0"],
        &[
            "XSETID",
            "g",
            "99-0",
            "ENTRIESADDED",
            "10",
            "MAXDELETEDID",
            "5-0",
        ],
        &["XSETID", "g", "4-0"],
        &["XSETID", "g", "99-0", "FOO"],
        &["XSETID", "nokey", "1-0"],
        &["XSETID", "str", "1-0"],
        &["XINFO", "GROUPS", "g"],
        &["XINFO", "STREAM", "g"],
        &["XADD", "g", "5-0", "a", "5"],
    ]);
    run_norm(
        &mut s,
        &[
            &["XPENDING", "g", "early", "-", "+", "10"],
            &[
                "XPENDING", "g", "early", "IDLE", "0", "-", "+", "10", "erin",
            ],
            &["XINFO", "CONSUMERS", "g", "early"],
            &["XINFO", "CONSUMERS", "g", "nogrp"],
            &["XINFO", "CONSUMERS", "nokey", "early"],
            &["XINFO", "STREAM", "g", "FULL"],
            &["XREADGROUP", "GROUP", "early", "alice", "STREAMS", "g", ">"],
            &["XREADGROUP", "GROUP", "early", "erin", "STREAMS", "g", "0"],
            &["XINFO", "STREAM", "g", "FULL"],
            &["XADD", "auto", "*", "f", "v"],
            &["XADD", "auto", "MAXLEN", "~", "5", "*", "f", "v"],
        ],
    );
    s.run(&[
        &["XINFO", "GROUPS", "g"],
        &["COPY", "g", "gcopy"],
        &["XINFO", "GROUPS", "gcopy"],
        &["RENAME", "gcopy", "g2"],
        &["XLEN", "g2"],
        &["TYPE", "g2"],
        &["XREAD", "STREAMS", "g", "g2", "3", "0"],
        &["XREAD", "COUNT", "1", "STREAMS", "g", "g2", "3", "0"],
        &["XREAD", "STREAMS", "g", "$"],
        &["XREAD", "STREAMS", "g"],
        &["XREAD", "STREAMS", "g", ">"],
        &["XREAD", "GROUP", "a", "b", "STREAMS", "g", "0"],
        &["XREAD", "NOACK", "STREAMS", "g", "0"],
        &["XREAD", "COUNT", "x", "STREAMS", "g", "0"],
        &["XREAD", "BLOCK", "x", "STREAMS", "g", "0"],
        &["XREAD", "BLOCK", "-1", "STREAMS", "g", "0"],
        &["XREAD", "STREAMS", "nokey", "0"],
        &["XREAD", "FOO", "STREAMS", "g", "0"],
        &["XREAD", "COUNT", "1"],
        &["XREAD", "BLOCK", "10", "STREAMS", "g", "$"],
        &["MULTI"],
        &["XREAD", "BLOCK", "0", "STREAMS", "g", "$"],
        &["EXEC"],
    ]);
    s.scan_set(&["TYPE", "stream"]);
    // DUMP / RESTORE across the two servers.
    s.case(&["DEL", "auto"]);
    // Delivery and seen times differ: compare by type, restore Redis's.
    let dump = s.case_with(&["DUMP", "g"], Cmp::TypeOnly);
    let payload = common::scalar_payload(&dump).expect("a payload");
    s.case_bytes(&[b"RESTORE", b"g3", b"0", &payload]);
    s.run(&[&["XINFO", "GROUPS", "g3"], &["XRANGE", "g3", "-", "+"]]);
    s.case_with(&["XINFO", "STREAM", "g3", "FULL"], NORM);
}

#[test]
fn resp3_replies() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    s.run(&[
        &["XADD", "s", "1-1", "a", "1"],
        &["XADD", "s", "2-1", "b", "2"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XREAD", "STREAMS", "s", "0"],
        &["XREAD", "STREAMS", "s", "9"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
        &["XINFO", "STREAM", "s"],
        &["XINFO", "GROUPS", "s"],
        &["XPENDING", "s", "g"],
        &["XPENDING", "s", "nog"],
        &["XRANGE", "s", "-", "+", "COUNT", "0"],
        &["XAUTOCLAIM", "s", "g", "d", "0", "0"],
        &["XREVRANGE", "s", "+", "-"],
        &["XGROUP", "HELP"],
    ]);
    run_norm(
        &mut s,
        &[
            &["XINFO", "CONSUMERS", "s", "g"],
            &["XINFO", "STREAM", "s", "FULL"],
            &["XPENDING", "s", "g", "-", "+", "5"],
        ],
    );
}

/// Sends `cmd` on both sides without reading the reply (a blocking call).
fn send_both(l: &mut RawClient, r: &mut RawClient, cmd: &[&str]) {
    l.send_str(cmd);
    r.send_str(cmd);
}

fn same_reply(l: &mut RawClient, r: &mut RawClient) -> Vec<u8> {
    let a = l.read_reply();
    let b = r.read_reply();
    assert_eq!(
        common::esc(&a),
        common::esc(&b),
        "blocked replies differ (larder, redis)"
    );
    b
}

#[test]
fn blocking_reads() {
    let mut s = session!();
    let (mut l1, mut r1) = s.new_clients();
    let (mut l2, mut r2) = s.new_clients();
    s.case(&["XADD", "s", "1-1", "a", "1"]);
    // XREAD $ is woken by XADD from another client.
    send_both(
        &mut l1,
        &mut r1,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    std::thread::sleep(Duration::from_millis(100));
    s.case(&["INFO", "clients"]);
    s.case(&["XADD", "s", "2-1", "b", "2"]);
    same_reply(&mut l1, &mut r1);
    // A timeout replies a null array.
    send_both(
        &mut l1,
        &mut r1,
        &["XREAD", "BLOCK", "100", "STREAMS", "s", "$"],
    );
    same_reply(&mut l1, &mut r1);
    // Two readers, woken by one MULTI/EXEC, with COUNT.
    send_both(
        &mut l1,
        &mut r1,
        &[
            "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "other", "2-1", "$",
        ],
    );
    send_both(
        &mut l2,
        &mut r2,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    std::thread::sleep(Duration::from_millis(100));
    s.run(&[
        &["MULTI"],
        &["XADD", "s", "3-1", "c", "3"],
        &["XADD", "s", "3-2", "d", "4"],
        &["EXEC"],
    ]);
    same_reply(&mut l1, &mut r1);
    same_reply(&mut l2, &mut r2);
    // A script wakes readers too.
    send_both(
        &mut l1,
        &mut r1,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    std::thread::sleep(Duration::from_millis(100));
    s.case(&[
        "EVAL",
        "return redis.call('XADD', KEYS[1], '4-1', 'e', '5')",
        "1",
        "s",
    ]);
    same_reply(&mut l1, &mut r1);
    // XREADGROUP >: woken by XADD, entries go to its PEL.
    s.case(&["XGROUP", "CREATE", "s", "g", "$"]);
    send_both(
        &mut l1,
        &mut r1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    s.case(&["XADD", "s", "5-1", "f", "6"]);
    same_reply(&mut l1, &mut r1);
    s.case(&["XPENDING", "s", "g"]);
    // The group destroyed, then the key deleted, under blocked readers.
    send_both(
        &mut l1,
        &mut r1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    s.case(&["XGROUP", "DESTROY", "s", "g"]);
    same_reply(&mut l1, &mut r1);
    s.case(&["XGROUP", "CREATE", "s", "g", "$"]);
    send_both(
        &mut l1,
        &mut r1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    send_both(
        &mut l2,
        &mut r2,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c2",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    s.case(&["DEL", "s"]);
    same_reply(&mut l1, &mut r1);
    same_reply(&mut l2, &mut r2);
    // CLIENT UNBLOCK, with and without ERROR.
    s.case(&["XADD", "s", "1-1", "a", "1"]);
    for how in ["TIMEOUT", "ERROR"] {
        send_both(
            &mut l1,
            &mut r1,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        );
        std::thread::sleep(Duration::from_millis(100));
        let lid = common::reply_int(&l1_id(&mut s, true)).unwrap_or(0);
        let rid = common::reply_int(&l1_id(&mut s, false)).unwrap_or(0);
        let a = s
            .larder
            .cmd_str(&["CLIENT", "UNBLOCK", &lid.to_string(), how]);
        let b = s
            .redis
            .cmd_str(&["CLIENT", "UNBLOCK", &rid.to_string(), how]);
        assert_eq!(a, b);
        same_reply(&mut l1, &mut r1);
    }
    s.case(&["INFO", "clients"]);
}

/// Blocks `l`/`r` on `cmd` and waits until both servers count it blocked.
fn block_both(s: &mut DiffSession, l: &mut RawClient, r: &mut RawClient, cmd: &[&str]) {
    send_both(l, r, cmd);
    assert!(
        common::wait_blocked(&mut s.larder, 1),
        "larder did not block"
    );
    assert!(common::wait_blocked(&mut s.redis, 1), "redis did not block");
}

/// INFO stats' `keyspace_hits` and `keyspace_misses` lines.
fn keyspace_stats(c: &mut RawClient) -> Vec<String> {
    let raw = c.cmd_str(&["INFO", "stats"]);
    String::from_utf8_lossy(&raw)
        .lines()
        .filter(|l| l.starts_with("keyspace_"))
        .map(str::to_owned)
        .collect()
}

/// A blocked XREADGROUP whose key goes away fails with UNBLOCKED: deleted,
/// overwritten by another type (SET, or DEL and SADD in one EXEC),
/// flushed, or swapped away by SWAPDB; with its group gone (destroyed, or
/// a stream without it swapped in) it fails with NOGROUP. A blocked XREAD
/// waits on through a type change. Serving a blocked client counts no
/// keyspace hit or miss.
#[test]
fn blocked_xreadgroup_loses_its_key() {
    let mut s = session!();
    let (mut l, mut r) = s.new_clients();
    let read = [
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ];
    let swapdb: &[&str] = &["SWAPDB", "4", "0"];
    let gone: &[&[&[&str]]] = &[
        &[&["DEL", "s"]],
        &[&["SET", "s", "v"]],
        &[&["MULTI"], &["DEL", "s"], &["SADD", "s", "m"], &["EXEC"]],
        &[&["FLUSHALL"]],
        &[&["XGROUP", "DESTROY", "s", "g"]],
        &[swapdb],
        &[
            &["SELECT", "4"],
            &["LPUSH", "s", "e"],
            &["SELECT", "0"],
            swapdb,
        ],
        &[
            &["SELECT", "4"],
            &["XADD", "s", "9-9", "f", "v"],
            &["SELECT", "0"],
            swapdb,
        ],
    ];
    for how in gone {
        s.run(&[
            &["FLUSHALL"],
            &["XADD", "s", "1-1", "f", "v"],
            &["XGROUP", "CREATE", "s", "g", "$"],
        ]);
        block_both(&mut s, &mut l, &mut r, &read);
        s.case(&["CONFIG", "RESETSTAT"]);
        s.run(how);
        same_reply(&mut l, &mut r);
        let redis = keyspace_stats(&mut s.redis);
        assert_eq!(keyspace_stats(&mut s.larder), redis, "after {how:?}");
        s.case(&["EXISTS", "s"]);
    }
    s.run(&[&["FLUSHALL"], &["XADD", "s", "1-1", "f", "v"]]);
    block_both(
        &mut s,
        &mut l,
        &mut r,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    s.case(&["SET", "s", "v"]);
    assert_eq!(common::blocked_clients(&mut s.larder), 1, "XREAD woken");
    s.run(&[&["DEL", "s"], &["XADD", "s", "2-1", "f", "v"]]);
    same_reply(&mut l, &mut r);
}

/// The id of the one other client blocked in XREAD (from CLIENT LIST).
fn l1_id(s: &mut DiffSession, larder: bool) -> Vec<u8> {
    let c = if larder { &mut s.larder } else { &mut s.redis };
    // Polls: the client blocks once its server has read the command.
    for _ in 0..100 {
        let list = c.cmd_str(&["CLIENT", "LIST"]);
        let text = String::from_utf8_lossy(&list);
        let id = text
            .lines()
            .find(|l| l.contains("cmd=xread") && l.contains("flags=b"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|f| f.strip_prefix("id="))
            .map(str::to_string);
        if let Some(id) = id {
            return format!(":{id}\r\n").into_bytes();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    b":0\r\n".to_vec()
}

#[test]
fn keyspace_events() {
    let mut s = session!();
    s.case(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let (mut l, mut r) = s.new_clients();
    l.cmd_str(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    r.cmd_str(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    s.run(&[
        &["XADD", "s", "MAXLEN", "1", "1-1", "a", "1"],
        &["XADD", "s", "MAXLEN", "1", "2-1", "a", "1"],
        &["XDEL", "s", "2-1"],
        &["XDEL", "s", "2-1"],
        &["XADD", "s", "3-1", "a", "1"],
        &["XTRIM", "s", "MAXLEN", "0"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "m", "g", "0", "MKSTREAM"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XGROUP", "SETID", "s", "g", "0"],
        &["XADD", "s", "4-1", "a", "1"],
        &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"],
        &["XCLAIM", "s", "g", "c3", "0", "4-1"],
        &["XGROUP", "DELCONSUMER", "s", "g", "c"],
        &["XSETID", "s", "9-9"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["DEL", "s"],
    ]);
    s.case(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    loop {
        let a = l.read_reply_timeout(Duration::from_millis(200));
        let b = r.read_reply_timeout(Duration::from_millis(200));
        assert_eq!(
            a.as_deref().map(common::esc),
            b.as_deref().map(common::esc),
            "keyspace events differ"
        );
        if a.is_none() {
            break;
        }
    }
}

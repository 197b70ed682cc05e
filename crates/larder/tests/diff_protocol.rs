//! Differential tests: raw protocol edge cases. Each case is written on a
//! fresh connection to both servers; everything they send back until they
//! close the connection (or stay quiet for a while) is compared byte for
//! byte, together with whether the connection was closed.

mod common;
use common::{esc, raw_outcome_pair, RawOutcome, ServerProc};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(250);

fn servers() -> Option<(ServerProc, ServerProc)> {
    let redis = common::start_redis(&[])?;
    let larder = common::start_larder(&[]);
    Some((larder, redis))
}

fn check(name: &str, l: &RawOutcome, r: &RawOutcome) {
    if common::verbose() {
        println!("{name}: closed={} {}", r.closed, esc(&r.bytes));
    }
    if l != r {
        panic!(
            "\nPROTOCOL MISMATCH in case {name}\n  larder: closed={} bytes={}\n  redis : closed={} bytes={}\n",
            l.closed,
            esc(&l.bytes),
            r.closed,
            esc(&r.bytes)
        );
    }
}

/// (name, bytes written in one go)
const ONE_WRITE_CASES: &[(&str, &[u8])] = &[
    ("inline ping", b"PING\r\n"),
    ("inline ping lf only", b"PING\n"),
    ("inline ping lowercase", b"ping\r\n"),
    ("inline echo", b"ECHO hello\r\n"),
    ("inline quoted", b"set a \"b c\"\r\nget a\r\n"),
    ("inline lf", b"set a x\nget a\n"),
    ("inline hex escape", b"set q \"\\x41\\x42\\n\"\r\nget q\r\n"),
    (
        "inline escapes",
        b"set q \"a\\tb\\\\c\\\"d\\re\\bf\\ag\"\r\nget q\r\n",
    ),
    (
        "inline single quotes",
        b"set q 'single quoted \\' x'\r\nget q\r\n",
    ),
    ("inline empty quoted", b"set \"\" \"\"\r\nget \"\"\r\n"),
    ("inline unbalanced double", b"set a \"b\r\nPING\r\n"),
    ("inline unbalanced single", b"set a 'b\r\nPING\r\n"),
    (
        "inline quote not followed by space",
        b"set a \"b\"c\r\nPING\r\n",
    ),
    ("inline bad hex escape", b"set q \"\\xZZ\"\r\nget q\r\n"),
    ("inline many spaces", b"  SET   a    b  \r\nGET a\r\n"),
    ("inline tabs", b"SET\ta\tb\r\nGET\ta\r\n"),
    ("inline cr inside", b"SET a b\rc\r\nGET a\r\n"),
    ("inline empty lines", b"\r\n\r\n\n   \r\nPING\r\n"),
    ("inline nul", b"PI\0NG\r\n"),
    ("inline unknown", b"FOO bar baz\r\n"),
    ("inline wrong arity", b"GET\r\n"),
    ("inline no newline", b"PING"),
    ("dollar first is inline", b"$4\r\nPING\r\n"),
    ("colon first is inline", b":1\r\n"),
    ("multibulk ping", b"*1\r\n$4\r\nPING\r\n"),
    ("multibulk -1 ignored", b"*-1\r\n*1\r\n$4\r\nPING\r\n"),
    ("multibulk 0 ignored", b"*0\r\n*1\r\n$4\r\nPING\r\n"),
    ("multibulk -2", b"*-2\r\n*1\r\n$4\r\nPING\r\n"),
    ("multibulk abc", b"*abc\r\n"),
    ("multibulk empty count", b"*\r\n"),
    ("multibulk space", b"*1 \r\n$4\r\nPING\r\n"),
    ("multibulk plus sign", b"*+1\r\n$4\r\nPING\r\n"),
    ("multibulk leading zero", b"*01\r\n$4\r\nPING\r\n"),
    ("multibulk 2^31", b"*2147483648\r\n"),
    ("multibulk 2^31-1 waits", b"*2147483647\r\n"),
    ("multibulk huge", b"*99999999999999999999\r\n"),
    ("bulk abc", b"*1\r\n$abc\r\n"),
    ("bulk empty len", b"*1\r\n$\r\n"),
    ("bulk -5", b"*1\r\n$-5\r\n"),
    ("bulk -1", b"*1\r\n$-1\r\n"),
    ("bulk leading zero", b"*1\r\n$04\r\nPING\r\n"),
    ("bulk too big", b"*1\r\n$536870913\r\n"),
    ("bulk 2^63", b"*1\r\n$9223372036854775808\r\n"),
    ("expected dollar", b"*1\r\nfoo\r\n"),
    ("expected dollar got star", b"*1\r\n*1\r\n"),
    ("expected dollar got colon", b"*2\r\n$3\r\nGET\r\n:1\r\n"),
    ("empty command name", b"*1\r\n$0\r\n\r\n"),
    (
        "bulk not followed by crlf",
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
    ),
    ("incomplete bulk waits", b"*1\r\n$4\r\nPIN"),
    ("incomplete args waits", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"),
    (
        "command before error",
        b"PING\r\n*1\r\n$4\r\nPING\r\n*abc\r\nPING\r\n",
    ),
    (
        "mixed inline and multibulk",
        b"SET a 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nGET a\r\n",
    ),
    (
        "binary in bulk",
        b"*3\r\n$3\r\nSET\r\n$3\r\n\r\n\0\r\n$2\r\n\xff\n\r\n*2\r\n$3\r\nGET\r\n$3\r\n\r\n\0\r\n",
    ),
];

#[test]
fn diff_protocol_single_writes() {
    let Some((larder, redis)) = servers() else {
        return;
    };
    for (name, bytes) in ONE_WRITE_CASES {
        let (l, r) = raw_outcome_pair(larder.port, redis.port, &[bytes], Duration::ZERO, QUIET);
        check(name, &l, &r);
    }
}

#[test]
fn diff_protocol_oversized_lines() {
    let Some((larder, redis)) = servers() else {
        return;
    };
    // 70 KB inline request without a newline.
    let inline = vec![b'a'; 70 * 1024];
    // 70 KB multibulk count / bulk length lines without a newline.
    let mut mbulk = b"*".to_vec();
    mbulk.extend_from_slice(&[b'1'; 70 * 1024]);
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend_from_slice(&[b'1'; 70 * 1024]);
    // A valid large argument (well above 32 KB) in a multibulk request.
    let big = vec![b'v'; 200 * 1024];
    let mut bigcmd = common::encode_command(&[b"SET", b"big", &big]);
    bigcmd.extend(common::encode_command(&[b"STRLEN", b"big"]));
    for (name, bytes) in [
        ("too big inline", &inline),
        ("too big mbulk count", &mbulk),
        ("too big bulk count", &bulk),
        ("big valid argument", &bigcmd),
    ] {
        let (l, r) = raw_outcome_pair(larder.port, redis.port, &[bytes], Duration::ZERO, QUIET);
        check(name, &l, &r);
    }
}

#[test]
fn diff_protocol_pipeline_100() {
    let Some((larder, redis)) = servers() else {
        return;
    };
    let mut buf = Vec::new();
    for i in 0..100 {
        let k = format!("k{}", i % 7);
        let v = format!("v{i}");
        let cmd: Vec<&[u8]> = match i % 6 {
            0 => vec![b"SET", k.as_bytes(), v.as_bytes()],
            1 => vec![b"GET", k.as_bytes()],
            2 => vec![b"INCR", b"counter"],
            3 => vec![b"APPEND", k.as_bytes(), b"+"],
            4 => vec![b"GET"],
            _ => vec![b"MGET", b"k0", b"k1", b"k2", b"counter"],
        };
        buf.extend(common::encode_command(&cmd));
    }
    // A few inline commands in the same write.
    buf.extend_from_slice(b"PING\r\nGET counter\r\n");
    let (l, r) = raw_outcome_pair(larder.port, redis.port, &[&buf], Duration::ZERO, QUIET);
    check("pipeline of 100", &l, &r);
    assert!(!r.closed);
}

#[test]
fn diff_protocol_split_writes() {
    let Some((larder, redis)) = servers() else {
        return;
    };
    let mut req = common::encode_command(&[b"SET", b"k", b"hello world"]);
    req.extend(common::encode_command(&[b"GET", b"k"]));
    req.extend_from_slice(b"APPEND k !\r\nGET k\r\n");
    req.extend(common::encode_command(&[b"STRLEN", b"k"]));
    // 1..3-byte chunks with a short pause between them.
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    let mut step = 1;
    while i < req.len() {
        let end = (i + step).min(req.len());
        chunks.push(&req[i..end]);
        i = end;
        step = step % 3 + 1;
    }
    let (l, r) = raw_outcome_pair(
        larder.port,
        redis.port,
        &chunks,
        Duration::from_millis(3),
        QUIET,
    );
    check("split writes", &l, &r);
    // A protocol error arriving in pieces.
    let bad: &[&[u8]] = &[b"*1\r", b"\n$a", b"bc\r", b"\n"];
    let (l, r) = raw_outcome_pair(
        larder.port,
        redis.port,
        bad,
        Duration::from_millis(20),
        QUIET,
    );
    check("split protocol error", &l, &r);
    // Inline command split across writes.
    let inl: &[&[u8]] = &[b"PI", b"NG", b"\r", b"\nECHO ", b"x\n"];
    let (l, r) = raw_outcome_pair(
        larder.port,
        redis.port,
        inl,
        Duration::from_millis(20),
        QUIET,
    );
    check("split inline", &l, &r);
}

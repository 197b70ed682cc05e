//! Differential tests: Redis 7 functions (FUNCTION LOAD / LIST / DELETE /
//! FLUSH / DUMP / RESTORE / STATS / KILL / HELP, FCALL, FCALL_RO) against
//! Redis 7.0: library metadata and `redis.register_function` errors, the
//! load-time sandbox, flags, RESP2 and RESP3 replies, busy functions, and
//! persistence across servers (FUNCTION DUMP payloads, RDB files both
//! ways, AOF replay and rewrite).
//!
//! Redis lists libraries (and a library's functions) in hash-table order,
//! which differs between two Redis processes, so FUNCTION LIST replies are
//! compared after sorting those lists ([`canonical`]).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{aggregate_elements, start_larder, start_redis, Cmp, DiffSession, RawClient};

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

/// A reply with every list of aggregates (libraries, functions) sorted.
fn canonical(raw: &[u8]) -> Vec<u8> {
    let Some(elems) = aggregate_elements(raw) else {
        return raw.to_vec();
    };
    let header_end = raw.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut kids: Vec<Vec<u8>> = elems.iter().map(|e| canonical(e)).collect();
    if raw[0] == b'*' && !kids.is_empty() && elems.iter().all(|e| aggregate_elements(e).is_some()) {
        kids.sort();
    }
    let mut out = raw[..header_end].to_vec();
    for k in kids {
        out.extend_from_slice(&k);
    }
    out
}

/// FUNCTION STATS while a function runs: the duration is masked.
fn mask_duration(raw: &[u8]) -> Vec<u8> {
    let tag = b"duration_ms\r\n:";
    let Some(p) = raw.windows(tag.len()).position(|w| w == tag) else {
        return raw.to_vec();
    };
    let start = p + tag.len();
    let end = raw[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(raw.len(), |e| start + e);
    [&raw[..start], b"0", &raw[end..]].concat()
}

const LIST: Cmp = Cmp::Normalize(canonical);

fn lib(name: &str, body: &str) -> String {
    format!("#!lua name={name}\n{body}")
}

/// Library bodies loaded with `FUNCTION LOAD REPLACE` (each is an error or
/// registers one function `f`, compared through FUNCTION LIST).
const BODIES: &[&str] = &[
    "return 1",
    "redis.call('ping')",
    "return string.len('a')",
    "return redis.sha1hex('a')",
    "return redis.error_reply('a')",
    "return redis.setresp(3)",
    "return redis.pcall",
    "return redis.REPL_ALL",
    "return _G",
    "return KEYS",
    "return cjson",
    "return math",
    "return pcall",
    "error('boom')",
    "local x = 'x' .. nil",
    "local x = {} .. 1",
    "x = 1",
    "redis.foo = 1",
    "return 1 +",
    "redis.log(redis.LOG_WARNING)",
    "redis.log(99, 'x')",
    "redis.log('x', 'y')",
    "redis.log()",
    "local v = redis.REDIS_VERSION .. redis.REDIS_VERSION_NUM .. redis.LOG_DEBUG",
    "redis.register_function()",
    "redis.register_function('a', function() end, 3)",
    "redis.register_function('a')",
    "redis.register_function({}, function() end)",
    "redis.register_function('a', 'b')",
    "redis.register_function({function_name='a'})",
    "redis.register_function({callback=function() end})",
    "redis.register_function({function_name='f', callback=function() end, foo=1})",
    "redis.register_function({function_name='f', callback=function() end, flags='x'})",
    "redis.register_function({function_name='f', callback=function() end, flags={'bad'}})",
    "redis.register_function({function_name='f', callback=function() end, flags={1}})",
    "redis.register_function({function_name={}, callback=function() end})",
    "redis.register_function({function_name='f', callback=1})",
    "redis.register_function({function_name='f', callback=function() end, description={}})",
    "redis.register_function({[1]='x'})",
    "redis.register_function('a-b', function() end)",
    "redis.register_function('', function() end)",
    "redis.register_function(1.5, function() end)",
    "redis.register_function('f', function() end) redis.register_function('f', function() end)",
    "redis.register_function('f', function() end) redis.register_function('g', function() end) \
     redis.register_function('g', function() end)",
    "redis.register_function('f', function() end) local x = {} .. 1",
    "redis.register_function('f', function() end)",
    "redis.register_function(7, function() end)",
    "redis.register_function({function_name='f', callback=function() end, description=12})",
    "redis.register_function{FUNCTION_NAME='f', CallBack=function() end, Description='d', \
     FLAGS={'No-Writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}",
    "redis.register_function{function_name='f', callback=function() end, flags={'no-writes', nil, 'bad'}}",
    "redis.register_function{function_name='f', callback=function() end, flags={'allow-oom', 'no-writes', 'allow-oom'}}",
    "local rf = redis.register_function rf('f', function() return rf('g', function() end) end)",
];

fn load_cases(s: &mut DiffSession) {
    let f = "redis.register_function('f', function(k, a) return 1 end)";
    for code in [
        "return 1".to_string(),
        "#!lua".to_string(),
        format!("#!lua\n{f}"),
        format!("#!foo name=x\n{f}"),
        format!("#!foo name=a-b\n{f}"),
        format!("#! name=x\n{f}"),
        format!("#! lua name=x\n{f}"),
        format!("#!\n{f}"),
        format!("#!lua name=x foo=bar\n{f}"),
        format!("#!lua name=x y\n{f}"),
        format!("#!lua name=a-b\n{f}"),
        format!("#!lua name=\n{f}"),
        format!("#!lua name=x NAME=y\n{f}"),
        format!("#!lua \"name=x y\"\n{f}"),
        format!("#!lua 'name=x\n{f}"),
    ] {
        s.case(&["FUNCTION", "LOAD", &code]);
    }
    s.case(&["FUNCTION", "LOAD", &lib("mylib", f)]);
    s.case(&["FUNCTION", "LOAD", &lib("mylib", f)]);
    s.case(&["FUNCTION", "LOAD", &lib("other", f)]);
    s.case(&["FUNCTION", "LOAD", "REPLACE", &lib("other", f)]);
    s.case(&[
        "FUNCTION",
        "LOAD",
        "REPLACE",
        &lib(
            "mylib",
            "redis.register_function('F', function() return 2 end)",
        ),
    ]);
    s.case(&["FCALL", "f", "0"]);
    s.case(&[
        "FUNCTION",
        "LOAD",
        "#!LUA  Name=Upper \n redis.register_function('up', function() return 3 end)",
    ]);
    s.case(&[
        "FUNCTION",
        "LOAD",
        &lib("MYLIB", "redis.register_function('g', function() end)"),
    ]);
    s.case_with(&["FUNCTION", "LIST"], LIST);
    s.case(&["FUNCTION", "DELETE", "MYLIB"]);
    s.case(&["FUNCTION", "DELETE", "mylib"]);
    s.case(&["FUNCTION", "DELETE", "Upper"]);
    s.run(&[
        &["FUNCTION", "LOAD"],
        &["FUNCTION", "LOAD", "REPLACE"],
        &["FUNCTION", "LOAD", "FOO", "x"],
        &["FUNCTION", "LOAD", "a", "b", "c"],
        &[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "REPLACE",
            "#!lua name=r2\nredis.register_function('r2', function() end)",
        ],
    ]);
    for body in BODIES {
        s.case(&["FUNCTION", "LOAD", "REPLACE", &lib("t", body)]);
        s.case_with(&["FUNCTION", "LIST", "LIBRARYNAME", "t"], LIST);
    }
    s.case(&[
        "FUNCTION",
        "LOAD",
        "REPLACE",
        &lib("to", "local i = 0 while true do i = i + 1 end"),
    ]);
    s.case(&["FCALL", "f", "0"]);
}

#[test]
fn load_errors_and_list_resp2() {
    let mut s = session!();
    load_cases(&mut s);
}

#[test]
fn load_errors_and_list_resp3() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    load_cases(&mut s);
}

const LIB1: &str = "#!lua name=lib1
redis.register_function('echo', function(k, a) return {k, a} end)
redis.register_function{function_name='ro', callback=function(k, a) return redis.call('get', k[1]) end, flags={'no-writes'}}
redis.register_function{function_name='w', callback=function(k, a) return redis.call('set', k[1], a[1]) end, description='writes'}
redis.register_function('unknown', function(k, a) return redis.call('nosuch') end)
redis.register_function('boom', function(k, a) error('boom') end)
redis.register_function('globals', function(k, a) return {type(KEYS), type(ARGV)} end)
redis.register_function('reg', function(k, a) return redis.register_function('z', function() end) end)
redis.register_function('gl', function(k, a) return _G.foo end)
redis.register_function('setresp', function(k, a) redis.setresp(3) return redis.call('hgetall', 'h') end)
redis.register_function('errt', function(k, a) return redis.error_reply('MY err') end)
redis.register_function('status', function(k, a) return redis.status_reply('FINE') end)
redis.register_function('types', function(k, a) return {1, 'two', 3.5, true, false, nil, {ok='x'}} end)
redis.register_function('pcall', function(k, a) return redis.pcall('incr', 'notint') end)
redis.register_function('lg', function(k, a) return redis.log(redis.LOG_WARNING, 'x') end)
redis.register_function('lgbad', function(k, a) return redis.log() end)
";

const LIB2: &str = "#!lua name=lib2
redis.register_function{function_name='nw', callback=function(k, a) return redis.call('set', 'x', 'y') end, flags={'no-writes'}}
redis.register_function{function_name='nwp', callback=function(k, a) return redis.pcall('set', 'x', 'y') end, flags={'no-writes'}}
redis.register_function{function_name='oom', callback=function(k, a) return redis.call('set', 'o', 'v') end, flags={'allow-oom'}}
redis.register_function('plain', function(k, a) return redis.call('set', 'p', 'v') end)
";

fn fcall_cases(s: &mut DiffSession) {
    s.case(&["SET", "notint", "abc"]);
    s.case(&["HSET", "h", "f", "v"]);
    s.case(&["FUNCTION", "LOAD", LIB1]);
    s.case(&["FUNCTION", "LOAD", LIB2]);
    s.run(&[
        &["FCALL", "echo", "2", "a", "b", "c", "d"],
        &["FCALL", "ECHO", "0"],
        &["FCALL", "nope", "0"],
        &["FCALL", "nope", "x"],
        &["FCALL_RO", "nope", "0"],
        &["FCALL", "echo"],
        &["FCALL", "echo", "x"],
        &["FCALL", "echo", "-1"],
        &["FCALL", "echo", "3", "a"],
        &["FCALL", "echo", "1.5", "a"],
        &["FCALL_RO", "w", "1", "k", "v"],
        &["FCALL_RO", "ro", "1", "k"],
        &["FCALL", "w", "1", "k", "v"],
        &["FCALL_RO", "ro", "1", "k"],
        &["FCALL", "ro", "1", "k"],
        &["FCALL", "w", "0", "v"],
        &["FCALL", "unknown", "0"],
        &["FCALL", "boom", "0"],
        &["FCALL", "globals", "0"],
        &["FCALL", "reg", "0"],
        &["FCALL", "gl", "0"],
        &["FCALL", "setresp", "0"],
        &["FCALL", "errt", "0"],
        &["FCALL", "status", "0"],
        &["FCALL", "types", "0"],
        &["FCALL", "pcall", "0"],
        &["FCALL", "lg", "0"],
        &["FCALL", "lgbad", "0"],
        &["FCALL", "nw", "0"],
        &["FCALL", "nwp", "0"],
        &["FCALL_RO", "nwp", "0"],
        &["FCALL", "oom", "0"],
        &["FCALL", "plain", "0"],
        &["GET", "x"],
        &["GET", "o"],
        &["MULTI"],
        &["FCALL", "w", "1", "m", "1"],
        &["FCALL", "echo", "1", "m"],
        &["EXEC"],
        &["GET", "m"],
        &["EVAL", "return redis.call('fcall', 'echo', '0')", "0"],
        &["EVAL", "return redis.register_function", "0"],
        &["EVAL", "return redis.log()", "0"],
        &["EVAL", "return redis.log('a', 'b')", "0"],
        &["EVAL", "return redis.log(-1, 'b')", "0"],
    ]);
    s.case_with(&["FUNCTION", "LIST"], LIST);
    s.case_with(&["FUNCTION", "LIST", "WITHCODE"], LIST);
    s.case_with(
        &["FUNCTION", "LIST", "LIBRARYNAME", "LIB*", "WITHCODE"],
        LIST,
    );
    s.case_with(&["FUNCTION", "LIST", "withcode", "libraryname", "*2"], LIST);
    s.case(&["FUNCTION", "STATS"]);
}

#[test]
fn fcall_resp2() {
    let mut s = session!();
    fcall_cases(&mut s);
}

#[test]
fn fcall_resp3() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    fcall_cases(&mut s);
}

fn admin_cases(s: &mut DiffSession) {
    let f = |n: &str| {
        lib(
            n,
            &format!("redis.register_function('{n}_f', function() return '{n}' end)"),
        )
    };
    s.run(&[
        &["FUNCTION"],
        &["FUNCTION", "NOPE"],
        &["FUNCTION", "HELP"],
        &["FUNCTION", "HELP", "x"],
        &["FUNCTION", "STATS"],
        &["FUNCTION", "STATS", "x"],
        &["FUNCTION", "KILL"],
        &["FUNCTION", "KILL", "x"],
        &["FUNCTION", "DUMP", "x"],
        &["FUNCTION", "DELETE"],
        &["FUNCTION", "DELETE", "nope"],
        &["FUNCTION", "DELETE", "a", "b"],
        &["FUNCTION", "FLUSH", "x"],
        &["FUNCTION", "FLUSH", "ASYNC", "SYNC"],
        &["FUNCTION", "flush", "a", "b"],
        &["FUNCTION", "LIST", "LIBRARYNAME"],
        &["FUNCTION", "LIST", "LIBRARYNAME", "a", "LIBRARYNAME", "b"],
        &["FUNCTION", "LIST", "WITHCODE", "WITHCODE"],
        &["FUNCTION", "LIST", "foo"],
        // CRLF in an echoed argument cannot inject a reply (CVE-2025-67733).
        &["FUNCTION", "LIST", "X\r\n+INJECTED"],
        &["FUNCTION", "LIST"],
        &["FUNCTION", "DUMP"],
    ]);
    s.case(&["FUNCTION", "LOAD", &f("a")]);
    s.case(&["FUNCTION", "LOAD", &f("b")]);
    s.case(&["FUNCTION", "STATS"]);
    // FLUSHALL and SCRIPT FLUSH keep functions (Redis 7.0).
    s.case(&["FLUSHALL"]);
    s.case(&["SCRIPT", "FLUSH"]);
    s.case(&["FCALL", "a_f", "0"]);
    s.case(&["FUNCTION", "DELETE", "a"]);
    s.case(&["FCALL", "a_f", "0"]);
    s.case(&["FUNCTION", "STATS"]);
    s.case(&["FUNCTION", "FLUSH"]);
    s.case(&["FCALL", "b_f", "0"]);
    s.case(&["FUNCTION", "LOAD", &f("c")]);
    s.case(&["FUNCTION", "FLUSH", "async"]);
    s.case(&["FUNCTION", "LOAD", &f("c")]);
    s.case(&["FUNCTION", "FLUSH", "SYNC"]);
    s.case(&["FUNCTION", "STATS"]);
}

#[test]
fn admin_subcommands_resp2() {
    let mut s = session!();
    admin_cases(&mut s);
}

#[test]
fn admin_subcommands_resp3() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    admin_cases(&mut s);
}

/// A library whose code compresses (exercises LZF in dumps and files).
fn long_lib(name: &str) -> String {
    lib(
        name,
        &format!(
            "-- {}\nredis.register_function('{name}_f', function(k, a) return '{name}' end)",
            "x".repeat(200)
        ),
    )
}

#[test]
fn dump_and_restore() {
    let mut s = session!();
    let f = |n: &str| {
        lib(
            n,
            &format!("redis.register_function('{n}_f', function() return '{n}' end)"),
        )
    };
    // Payloads are compared byte for byte uncompressed: Larder's LZF output
    // differs from liblzf's (both decode anywhere; see rdb/lzf.rs).
    s.case(&["CONFIG", "SET", "rdbcompression", "no"]);
    s.case(&["FUNCTION", "DUMP"]);
    s.case(&["FUNCTION", "LOAD", &f("one")]);
    let one = s.case(&["FUNCTION", "DUMP"]);
    s.case(&["FUNCTION", "LOAD", "REPLACE", &long_lib("one")]);
    s.case(&["FUNCTION", "DUMP"]);
    s.case(&["CONFIG", "SET", "rdbcompression", "yes"]);
    // A compressed payload from each server restores into the other.
    let (lp, rp) = (
        s.larder.cmd(&[b"FUNCTION", b"DUMP"]),
        s.redis.cmd(&[b"FUNCTION", b"DUMP"]),
    );
    s.case(&["FUNCTION", "FLUSH"]);
    let long = common::scalar_payload(&rp).expect("bulk");
    assert_eq!(s.larder.cmd(&[b"FUNCTION", b"RESTORE", &long]), b"+OK\r\n");
    let lp = common::scalar_payload(&lp).expect("bulk");
    assert_eq!(s.redis.cmd(&[b"FUNCTION", b"RESTORE", &lp]), b"+OK\r\n");
    s.case_with(&["FUNCTION", "LIST", "WITHCODE"], LIST);
    s.case(&["FUNCTION", "FLUSH"]);
    let one = common::scalar_payload(&one).expect("bulk");
    let mut bad_crc = one.clone();
    if let Some(b) = bad_crc.last_mut() {
        *b ^= 1;
    }
    let payload_of = |body: &[u8]| {
        let mut p = body.to_vec();
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64_jones(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    };
    let not_function = payload_of(b"\x00\x01a");
    let truncated = payload_of(b"\xf5\x40");
    let two_same = payload_of(&[&one[..one.len() - 10], &one[..one.len() - 10]].concat());
    let cases: &[&[&[u8]]] = &[
        &[b"FUNCTION", b"RESTORE"],
        &[b"FUNCTION", b"RESTORE", b"x"],
        &[b"FUNCTION", b"RESTORE", b"x", b"FOO"],
        &[b"FUNCTION", b"RESTORE", b"x", b"FLUSH", b"x"],
        &[b"FUNCTION", b"RESTORE", &bad_crc],
        &[b"FUNCTION", b"RESTORE", &not_function],
        &[b"FUNCTION", b"RESTORE", &truncated],
        &[b"FUNCTION", b"RESTORE", &two_same, b"FLUSH"],
        &[b"FUNCTION", b"RESTORE", &one],
        &[b"FUNCTION", b"RESTORE", &one, b"APPEND"],
        &[b"FUNCTION", b"RESTORE", &one, b"append"],
        &[b"FUNCTION", b"RESTORE", &one, b"REPLACE"],
        &[b"FCALL", b"one_f", b"0"],
        &[b"FUNCTION", b"RESTORE", &long, b"REPLACE"],
        &[b"FCALL", b"one_f", b"0"],
        &[
            b"FUNCTION",
            b"LOAD",
            b"#!lua name=other\nredis.register_function('one_f', function() end)",
        ],
        &[b"FUNCTION", b"DELETE", b"one"],
        &[
            b"FUNCTION",
            b"LOAD",
            b"#!lua name=other\nredis.register_function('one_f', function() end)",
        ],
        &[b"FUNCTION", b"RESTORE", &one],
        &[b"FUNCTION", b"RESTORE", &one, b"REPLACE"],
        &[b"FUNCTION", b"RESTORE", &one, b"FLUSH"],
        &[b"FCALL", b"one_f", b"0"],
        &[b"FUNCTION", b"STATS"],
    ];
    for c in cases {
        s.case_bytes(c);
    }
    s.case(&["FUNCTION", "LOAD", &f("two")]);
    s.case(&["FUNCTION", "LOAD", &long_lib("three")]);
    // A multi-library payload from one server restores into the other.
    let l = s.larder.cmd(&[b"FUNCTION", b"DUMP"]);
    let r = s.redis.cmd(&[b"FUNCTION", b"DUMP"]);
    let (l, r) = (
        common::scalar_payload(&l).expect("bulk"),
        common::scalar_payload(&r).expect("bulk"),
    );
    s.case(&["FUNCTION", "FLUSH"]);
    let a = s.larder.cmd(&[b"FUNCTION", b"RESTORE", &r]);
    let b = s.redis.cmd(&[b"FUNCTION", b"RESTORE", &l]);
    assert_eq!(common::esc(&a), "+OK\\r\\n");
    assert_eq!(common::esc(&b), "+OK\\r\\n");
    s.case_with(&["FUNCTION", "LIST", "WITHCODE"], LIST);
    s.case(&["FCALL", "three_f", "0"]);
    s.case(&["FUNCTION", "STATS"]);
}

/// CRC-64/Jones as Redis computes it (reflected, poly 0xad93d23594c935a9).
fn crc64_jones(data: &[u8]) -> u64 {
    let poly: u64 = 0x95ac_9329_ac4b_c9b5; // reflected 0xad93d23594c935a9
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A function past `busy-reply-threshold`: BUSY names FUNCTION KILL, SCRIPT
/// KILL refuses it, FUNCTION STATS shows it, FUNCTION KILL stops it; and
/// the other way round for an EVAL script.
#[test]
fn busy_function_and_function_kill() {
    let Some(mut s) = DiffSession::start(&["--busy-reply-threshold", "100"]) else {
        return;
    };
    s.case(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=busy
redis.register_function('loop', function(k, a) while true do end end)
redis.register_function('wloop', function(k, a) redis.call('set', 'y', 1) while true do end end)",
    ]);
    let (mut l2, mut r2) = s.new_clients();
    let both = |l: &mut RawClient, r: &mut RawClient, cmd: &[&str], mode: Cmp| {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let (a, b) = (l.cmd(&args), r.cmd(&args));
        if let Err(why) = common::compare_replies(mode, &a, &b) {
            panic!(
                "{cmd:?}: {why}\n larder: {}\n redis:  {}",
                common::esc(&a),
                common::esc(&b)
            );
        }
    };
    let exact = || Cmp::Exact;
    for c in [&mut s.larder, &mut s.redis] {
        c.send_str(&["FCALL", "loop", "0"]);
    }
    std::thread::sleep(Duration::from_millis(400));
    both(&mut l2, &mut r2, &["GET", "x"], exact());
    both(&mut l2, &mut r2, &["FUNCTION", "LIST"], exact());
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"], exact());
    both(
        &mut l2,
        &mut r2,
        &["FUNCTION", "STATS"],
        Cmp::Normalize(mask_duration),
    );
    both(&mut l2, &mut r2, &["HELLO", "3"], Cmp::TypeOnly);
    both(
        &mut l2,
        &mut r2,
        &["FUNCTION", "STATS"],
        Cmp::Normalize(mask_duration),
    );
    both(&mut l2, &mut r2, &["HELLO", "2"], Cmp::TypeOnly);
    both(&mut l2, &mut r2, &["FUNCTION", "KILL"], exact());
    let (a, b) = (s.larder.read_reply(), s.redis.read_reply());
    assert_eq!(common::esc(&a), common::esc(&b));
    both(&mut l2, &mut r2, &["FUNCTION", "KILL"], exact());
    // An EVAL script: FUNCTION KILL and FUNCTION STATS are refused.
    for c in [&mut s.larder, &mut s.redis] {
        c.send_str(&["EVAL", "while true do end", "0"]);
    }
    std::thread::sleep(Duration::from_millis(400));
    both(&mut l2, &mut r2, &["FUNCTION", "STATS"], exact());
    both(&mut l2, &mut r2, &["FUNCTION", "KILL"], exact());
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"], exact());
    let (a, b) = (s.larder.read_reply(), s.redis.read_reply());
    assert_eq!(common::esc(&a), common::esc(&b));
    // A function that wrote cannot be killed.
    for c in [&mut s.larder, &mut s.redis] {
        c.send_str(&["FCALL", "wloop", "0"]);
    }
    std::thread::sleep(Duration::from_millis(400));
    both(&mut l2, &mut r2, &["FUNCTION", "KILL"], exact());
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"], exact());
}

/// Over `maxmemory`, a function without `no-writes` or `allow-oom` is refused.
#[test]
fn fcall_over_maxmemory() {
    let mut s = session!();
    s.case(&["FUNCTION", "LOAD", LIB2]);
    s.case(&["FUNCTION", "LOAD", "#!lua name=r\nredis.register_function{function_name='r', callback=function() return 1 end, flags={'no-writes'}}"]);
    s.case(&["CONFIG", "SET", "maxmemory", "1"]);
    s.case(&["FCALL", "plain", "0"]);
    s.case(&["FCALL", "r", "0"]);
    s.case(&["FCALL", "oom", "0"]);
    s.case(&["CONFIG", "SET", "maxmemory", "0"]);
}

// ---------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------

const PERSIST_LIB: &str = "#!lua name=plib
redis.register_function{function_name='pf', callback=function(k, a) return 'pf:' .. a[1] end, flags={'no-writes'}, description='persisted'}
redis.register_function('pw', function(k, a) return redis.call('set', k[1], a[1]) end)";

fn list_of(c: &mut RawClient) -> Vec<u8> {
    canonical(&c.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"]))
}

fn load_both_libs(c: &mut RawClient) {
    for code in [PERSIST_LIB.to_string(), long_lib("big")] {
        let r = c.cmd(&[b"FUNCTION", b"LOAD", code.as_bytes()]);
        assert!(r.starts_with(b"$"), "{}", common::esc(&r));
    }
}

fn dir_args(dir: &Path) -> Vec<String> {
    vec!["--dir".into(), dir.display().to_string()]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn rdb_files_carry_functions_both_ways() {
    // Larder's dump.rdb loads into Redis.
    let larder = start_larder(&[]);
    let mut l = larder.client();
    load_both_libs(&mut l);
    let want = list_of(&mut l);
    assert_eq!(l.cmd(&[b"SAVE"]), b"+OK\r\n");
    let Some(redis) = start_redis(&strs(&dir_args(&larder.dir))) else {
        return;
    };
    let mut r = redis.client();
    assert_eq!(common::esc(&list_of(&mut r)), common::esc(&want));
    assert_eq!(r.cmd(&[b"FCALL", b"pf", b"0", b"x"]), b"$4\r\npf:x\r\n");
    // Redis's dump.rdb (now with a third library) loads into Larder.
    let r3 = r.cmd(&[
        b"FUNCTION",
        b"LOAD",
        lib(
            "third",
            "redis.register_function('t3', function() return 3 end)",
        )
        .as_bytes(),
    ]);
    assert_eq!(r3, b"$5\r\nthird\r\n");
    let want = list_of(&mut r);
    assert_eq!(r.cmd(&[b"SAVE"]), b"+OK\r\n");
    // (Redis runs in Larder's directory.)
    let mut args = dir_args(&larder.dir);
    args.extend(["--enable-debug-command".to_string(), "yes".to_string()]);
    let larder2 = start_larder(&strs(&args));
    let mut l2 = larder2.client();
    assert_eq!(common::esc(&list_of(&mut l2)), common::esc(&want));
    assert_eq!(l2.cmd(&[b"FCALL", b"t3", b"0"]), b":3\r\n");
    // DEBUG RELOAD keeps them.
    assert_eq!(l2.cmd(&[b"DEBUG", b"RELOAD"]), b"+OK\r\n");
    assert_eq!(common::esc(&list_of(&mut l2)), common::esc(&want));
    assert_eq!(l2.cmd(&[b"FCALL", b"pw", b"1", b"k", b"v"]), b"+OK\r\n");
}

/// Stops a server gracefully, leaving its directory in place.
fn stop_keep_dir(mut p: common::ServerProc) {
    p.terminate(Duration::from_secs(10));
    p.dir = std::path::PathBuf::new();
}

fn wait_rewrite(c: &mut RawClient) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let info = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"persistence"])).into_owned();
        if info.contains("aof_rewrite_in_progress:0") && !info.contains("aof_rewrite_scheduled:1") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("rewrite did not finish");
}

/// FUNCTION LOAD / DELETE / RESTORE / FLUSH go to the AOF; a restart replays
/// them; a rewrite (RDB preamble or commands) keeps the libraries; Redis
/// loads Larder's AOF directory.
#[test]
fn aof_replays_and_rewrites_functions() {
    for preamble in ["yes", "no"] {
        let larder = start_larder(&["--appendonly", "yes", "--aof-use-rdb-preamble", preamble]);
        let dir = larder.dir.clone();
        let mut l = larder.client();
        load_both_libs(&mut l);
        let gone = lib("gone", "redis.register_function('gone', function() end)");
        assert!(l
            .cmd(&[b"FUNCTION", b"LOAD", gone.as_bytes()])
            .starts_with(b"$"));
        let dump = l.cmd(&[b"FUNCTION", b"DUMP"]);
        let dump = common::scalar_payload(&dump).expect("bulk");
        assert_eq!(l.cmd(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
        assert_eq!(l.cmd(&[b"FUNCTION", b"RESTORE", &dump]), b"+OK\r\n");
        assert_eq!(l.cmd(&[b"FUNCTION", b"DELETE", b"gone"]), b"+OK\r\n");
        assert_eq!(l.cmd(&[b"FCALL", b"pw", b"1", b"k", b"v"]), b"+OK\r\n");
        let want = list_of(&mut l);
        drop(l);
        stop_keep_dir(larder);
        // Replay.
        let larder = start_larder(&[
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            preamble,
            "--dir",
            dir.to_str().expect("utf-8"),
        ]);
        let mut l = larder.client();
        assert_eq!(
            common::esc(&list_of(&mut l)),
            common::esc(&want),
            "replay, preamble {preamble}"
        );
        assert_eq!(l.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
        // Rewrite, then restart from the rewritten files.
        assert!(l.cmd(&[b"BGREWRITEAOF"]).starts_with(b"+"));
        wait_rewrite(&mut l);
        drop(l);
        stop_keep_dir(larder);
        let args = [
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            preamble,
            "--dir",
            dir.to_str().expect("utf-8"),
        ];
        let larder = start_larder(&args);
        let mut l = larder.client();
        assert_eq!(
            common::esc(&list_of(&mut l)),
            common::esc(&want),
            "rewrite, preamble {preamble}"
        );
        assert_eq!(l.cmd(&[b"FCALL", b"pf", b"0", b"z"]), b"$4\r\npf:z\r\n");
        drop(l);
        stop_keep_dir(larder);
        // Redis loads the rewritten directory.
        if let Some(redis) = start_redis(&args) {
            let mut r = redis.client();
            assert_eq!(
                common::esc(&list_of(&mut r)),
                common::esc(&want),
                "redis, preamble {preamble}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

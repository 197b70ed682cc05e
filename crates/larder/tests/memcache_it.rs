//! Integration tests of the memcached front end with real clients:
//! libmemcached's `memccapable` conformance suite (ASCII and binary),
//! Python's pymemcache across protocols (memcached writes seen by RESP and
//! back), and `stats`.
//! Peers missing: skipped with a notice, failures under
//! `LARDER_REQUIRE_PEERS=1`.

mod common;
mod memcache_common;

use std::process::Command;

use common::{require_peers, start_larder_memcache, RawClient};
use memcache_common::McConn;

fn peer(path: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    if require_peers() {
        panic!("{path} not found and LARDER_REQUIRE_PEERS=1");
    }
    eprintln!("NOTICE: {path} not installed; skipping");
    false
}

#[test]
fn memccapable_ascii_and_binary_pass() {
    if !peer("/usr/bin/memccapable") {
        return;
    }
    let s = start_larder_memcache(&[]);
    let out = Command::new("/usr/bin/memccapable")
        .args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "-t", "5"])
        .output()
        .expect("run memccapable");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "memccapable failed:\n{text}");
    assert!(
        !text.contains("[FAIL]"),
        "memccapable reported failures:\n{text}"
    );
    assert!(text.contains("[pass]"), "no test ran:\n{text}");
}

fn python_with_pymemcache() -> Option<&'static str> {
    let py = "/usr/bin/python3";
    let ok = Command::new(py)
        .args(["-c", "import pymemcache"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    if require_peers() {
        panic!("python3-pymemcache not installed and LARDER_REQUIRE_PEERS=1");
    }
    eprintln!("NOTICE: python3-pymemcache not installed; skipping");
    None
}

#[test]
fn pymemcache_and_resp_see_each_other() {
    let Some(py) = python_with_pymemcache() else {
        return;
    };
    let s = start_larder_memcache(&[]);
    let mut resp = RawClient::connect(s.proc.port);
    // RESP writes first: memcached must see them with flags 0.
    assert_eq!(resp.cmd_str(&["SET", "from:resp", "hello"]), b"+OK\r\n");
    assert_eq!(resp.cmd_str(&["SET", "counter", "41"]), b"+OK\r\n");
    let script = r#"
import sys
from pymemcache.client.base import Client
c = Client(("127.0.0.1", int(sys.argv[1])), default_noreply=False)
r = c.gets_many(["from:resp"])
assert r["from:resp"][0] == b"hello", r
assert c.incr("counter", 1) == 42
assert c.set("from:mc", "world", expire=100)
assert c.add("from:mc", "x") is False
assert c.cas("from:resp", "changed", r["from:resp"][1])
assert c.cas("from:resp", "again", r["from:resp"][1]) is False
assert c.get_many(["from:mc", "from:resp", "absent"]) == {"from:mc": b"world", "from:resp": b"changed"}
assert c.append("from:mc", "!")
assert c.touch("from:mc", 0)
assert c.delete("absent") is False
assert c.delete("gone-soon") is False
print("ok")
"#;
    let out = Command::new(py)
        .args(["-c", script, &s.port.to_string()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pymemcache script failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // memcached writes are plain strings to RESP.
    assert_eq!(resp.cmd_str(&["GET", "from:mc"]), b"$6\r\nworld!\r\n");
    assert_eq!(resp.cmd_str(&["GET", "counter"]), b"$2\r\n42\r\n");
    assert_eq!(resp.cmd_str(&["GET", "from:resp"]), b"$7\r\nchanged\r\n");
    assert_eq!(resp.cmd_str(&["TTL", "from:mc"]), b":-1\r\n");
    // A RESP write resets flags to 0 and changes the CAS.
    let mut mc = McConn::connect(s.port);
    let r = mc
        .exchange(b"set f 7 0 1\r\nx\r\ngets f\r\n")
        .expect("reply");
    let cas1 = memcache_common::cas_of(&r).expect("cas");
    assert_eq!(
        r[1],
        b"VALUE f 7 1 "
            .iter()
            .copied()
            .chain(cas1.to_string().bytes())
            .collect::<Vec<u8>>()
    );
    assert_eq!(resp.cmd_str(&["APPEND", "f", "y"]), b":2\r\n");
    let r = mc.exchange(b"gets f\r\n").expect("reply");
    let cas2 = memcache_common::cas_of(&r).expect("cas");
    assert_ne!(cas1, cas2);
    assert!(
        String::from_utf8_lossy(&r[0]).starts_with("VALUE f 0 2 "),
        "{r:?}"
    );
    let r = mc
        .exchange(format!("cas f 0 0 1 {cas1}\r\nz\r\n").as_bytes())
        .expect("reply");
    assert_eq!(r, vec![b"EXISTS".to_vec()]);
    // Other types are invisible to memcached reads.
    assert_eq!(resp.cmd_str(&["RPUSH", "list", "a"]), b":1\r\n");
    let r = mc
        .exchange(b"get list\r\nincr list 1\r\nadd list 0 0 1\r\nx\r\n")
        .expect("reply");
    assert_eq!(
        r,
        vec![
            b"END".to_vec(),
            b"NOT_FOUND".to_vec(),
            b"NOT_STORED".to_vec()
        ]
    );
}

/// `memcache-threads` sets how many threads serve memcached connections
/// (dealt round-robin): every connection is served whichever it lands on,
/// and `stats` / `stats settings` report the count.
#[test]
fn memcache_threads_serve_every_connection() {
    let s = start_larder_memcache(&["--memcache-threads", "3"]);
    let mut conns: Vec<McConn> = (0..7).map(|_| McConn::connect(s.port)).collect();
    for (i, mc) in conns.iter_mut().enumerate() {
        let set = format!("set k{i} 0 0 1\r\n{i}\r\n");
        assert_eq!(
            mc.exchange(set.as_bytes()).expect("set"),
            vec![b"STORED".to_vec()]
        );
    }
    for (i, mc) in conns.iter_mut().enumerate() {
        let j = (i + 1) % 7;
        let r = mc
            .exchange(format!("get k{j}\r\n").as_bytes())
            .expect("get");
        assert_eq!(r[1], format!("{j}").into_bytes(), "{r:?}");
    }
    let mut stat = |cmd: &[u8], name: &str| -> String {
        let r = conns[0].exchange(cmd).expect("stats");
        r.iter()
            .map(|l| String::from_utf8_lossy(l).to_string())
            .find_map(|l| l.strip_prefix(&format!("STAT {name} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("no STAT {name}"))
    };
    assert_eq!(stat(b"stats\r\n", "threads"), "3");
    assert_eq!(stat(b"stats settings\r\n", "num_threads"), "3");
    assert_eq!(stat(b"stats\r\n", "curr_connections"), "7");
}

#[test]
fn stats_report_memcached_names() {
    let s = start_larder_memcache(&["--maxmemory", "64mb"]);
    let mut mc = McConn::connect(s.port);
    mc.exchange(b"set a 0 0 1\r\n1\r\nget a b\r\nincr a 5\r\ndelete zz\r\n")
        .expect("reply");
    let r = mc.exchange(b"stats\r\n").expect("stats");
    let text: Vec<String> = r
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_string())
        .collect();
    let stat = |name: &str| -> String {
        text.iter()
            .find_map(|l| l.strip_prefix(&format!("STAT {name} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("no STAT {name} in {text:?}"))
    };
    for name in [
        "pid",
        "uptime",
        "time",
        "version",
        "curr_items",
        "total_items",
        "get_hits",
        "get_misses",
        "get_expired",
        "get_flushed",
        "evictions",
        "bytes",
        "limit_maxbytes",
        "curr_connections",
        "total_connections",
        "cmd_get",
        "cmd_set",
        "cmd_touch",
        "cmd_flush",
        "delete_hits",
        "delete_misses",
        "incr_hits",
        "incr_misses",
        "decr_hits",
        "decr_misses",
        "cas_hits",
        "cas_misses",
        "cas_badval",
        "touch_hits",
        "touch_misses",
        "bytes_read",
        "bytes_written",
        "threads",
    ] {
        stat(name);
    }
    assert_eq!(stat("get_hits"), "1");
    assert_eq!(stat("get_misses"), "1");
    assert_eq!(stat("cmd_get"), "2");
    assert_eq!(stat("incr_hits"), "1");
    assert_eq!(stat("delete_misses"), "1");
    assert_eq!(stat("curr_items"), "1");
    assert_eq!(stat("limit_maxbytes"), (64u64 << 20).to_string());
    assert_eq!(stat("version"), "1.6.18");
    for group in ["settings", "items", "slabs"] {
        let r = mc
            .exchange(format!("stats {group}\r\n").as_bytes())
            .expect("stats group");
        assert_eq!(r.last().map(Vec::as_slice), Some(&b"END"[..]), "{group}");
    }
    assert_eq!(
        mc.exchange(b"stats reset\r\n").expect("reset"),
        vec![b"RESET".to_vec()]
    );
    let r = mc.exchange(b"stats\r\n").expect("stats");
    assert!(r.iter().any(|l| l == b"STAT get_hits 0"));
}

#[test]
fn overlong_lines_close_and_noeviction_refuses() {
    let s = start_larder_memcache(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let mut mc = McConn::connect(s.port);
    // Fill past the limit: the store fails with memcached's text.
    let big = vec![b'v'; 100_000];
    let mut saw_oom = false;
    for i in 0..40 {
        let mut req = format!("set k{i} 0 0 {}\r\n", big.len()).into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\n");
        let r = mc.exchange(&req).expect("reply");
        if r == vec![b"SERVER_ERROR out of memory storing object".to_vec()] {
            saw_oom = true;
            break;
        }
        assert_eq!(r, vec![b"STORED".to_vec()]);
    }
    assert!(saw_oom, "never refused under noeviction");
    // A line without a newline past 2048 bytes closes the connection.
    let mut c2 = McConn::connect(s.port);
    c2.send(&[b'x'; 3000]);
    assert!(c2.read_until_mn().is_err());
}

/// One text get asking for a large item many times streams its reply:
/// the server sends as it goes instead of copying every hit first, so its
/// memory stays flat while 540 MB go out, and the request pipelined after
/// the get is answered after it, in order. (memcached sends references to
/// the item, so it does not grow either.)
#[test]
fn a_multi_get_of_large_items_streams_its_reply() {
    use std::io::{BufRead, BufReader, Read, Write};
    const LEN: usize = 900_000;
    const N: usize = 600;
    let s = start_larder_memcache(&[]);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok();
    let mut r = BufReader::new(c.try_clone().expect("clone"));
    let mut req = format!("set big 7 0 {LEN}\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'v', LEN));
    req.extend_from_slice(b"\r\n");
    c.write_all(&req).expect("set");
    let mut line = String::new();
    r.read_line(&mut line).expect("STORED");
    assert_eq!(line, "STORED\r\n");
    let before = s.proc.memory("VmHWM");
    let get = format!("get{}\r\nmn\r\n", " big".repeat(N));
    c.write_all(get.as_bytes()).expect("get");
    // The server runs as far as the socket lets it.
    std::thread::sleep(std::time::Duration::from_millis(700));
    let grown = s.proc.memory("VmHWM").saturating_sub(before);
    let mut value = vec![0u8; LEN + 2];
    for i in 0..N {
        line.clear();
        r.read_line(&mut line).expect("VALUE line");
        assert_eq!(line, format!("VALUE big 7 {LEN}\r\n"), "value {i}");
        r.read_exact(&mut value).expect("value");
        assert!(value[..LEN].iter().all(|&b| b == b'v') && value.ends_with(b"\r\n"));
    }
    let mut tail = [0u8; 9];
    r.read_exact(&mut tail).expect("END and MN");
    assert_eq!(&tail, b"END\r\nMN\r\n");
    assert!(grown < 64 << 20, "peak RSS grew {grown} bytes");
}

/// `get_expired` and `get_flushed`: commands that found their item expired
/// (active expiry off, so none is reclaimed before) or removed by
/// `flush_all` count once each; a key stored again over RESP after the
/// flush is a plain hit. (The differential flush case is in
/// diff_memcache.rs; memcached reclaims expired items in the background,
/// so its `get_expired` is not deterministic.)
#[test]
fn get_expired_and_get_flushed_count_like_memcached() {
    let s = start_larder_memcache(&["--enable-debug-command", "yes"]);
    let mut resp = RawClient::connect(s.proc.port);
    assert_eq!(
        resp.cmd_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        b"+OK\r\n"
    );
    let mut mc = McConn::connect(s.port);
    let mut batch = String::new();
    for k in ["e1", "e2", "e3", "e4", "e5", "e6", "e7"] {
        batch.push_str(&format!("set {k} 0 1 1\r\n5\r\n"));
    }
    batch.push_str("set long 0 0 1\r\nl\r\n");
    mc.exchange(batch.as_bytes()).expect("sets");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = mc
        .exchange(
            b"get e1\r\ngets e2\r\ntouch e3 10\r\nincr e4 1\r\ndelete e5\r\n\
              set e6 0 0 1\r\nx\r\nmg e7 v\r\nget e1\r\nget long\r\n",
        )
        .expect("reply");
    let text: Vec<String> = r
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert_eq!(
        text,
        [
            "END",
            "END",
            "NOT_FOUND",
            "NOT_FOUND",
            "NOT_FOUND",
            "STORED",
            "EN",
            "END",
            "VALUE long 0 1",
            "l",
            "END"
        ]
    );
    let stat = |mc: &mut McConn, name: &str| -> String {
        let r = mc.exchange(b"stats\r\n").expect("stats");
        r.iter()
            .find_map(|l| {
                String::from_utf8_lossy(l)
                    .strip_prefix(&format!("STAT {name} "))
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    assert_eq!(stat(&mut mc, "get_expired"), "7");
    assert_eq!(stat(&mut mc, "get_flushed"), "0");
    // flush_all: each removed key counts once, on any command.
    mc.exchange(b"set f1 0 0 1\r\n1\r\nset f2 0 0 1\r\n2\r\nset f3 0 0 1\r\n3\r\nflush_all\r\n")
        .expect("flush");
    assert_eq!(resp.cmd_str(&["SET", "f3", "again"]), b"+OK\r\n");
    let r = mc
        .exchange(b"get f1\r\nget f1\r\nset f2 0 0 1\r\nn\r\nget f3\r\n")
        .expect("reply");
    assert_eq!(r.len(), 6, "{r:?}");
    assert_eq!(stat(&mut mc, "get_flushed"), "2");
    assert_eq!(stat(&mut mc, "get_expired"), "7");
}

/// memcached's own `memcached-tool` (shipped with memcached) against
/// Larder: `display` (from `stats items`/`stats slabs`), `stats`,
/// `settings`, `sizes`, and `dump` (from `lru_crawler metadump all`, then a
/// `get` per key) giving back the stored items as `add` commands.
#[test]
fn memcached_tool_works() {
    let tool = "/usr/share/memcached/scripts/memcached-tool";
    if !peer(tool) {
        return;
    }
    let s = start_larder_memcache(&[]);
    let mut mc = McConn::connect(s.port);
    mc.exchange(b"set plain 0 0 3\r\nabc\r\nset with:flags 5 1000 2\r\nhi\r\n")
        .expect("stores");
    let run = |mode: &str| -> String {
        let out = Command::new("perl")
            .args([tool, &format!("127.0.0.1:{}", s.port), mode])
            .output()
            .expect("run memcached-tool");
        assert!(out.status.success(), "memcached-tool {mode} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let display = run("display");
    assert!(
        display.lines().any(|l| l.trim_start().starts_with("1 ")),
        "display shows class 1:\n{display}"
    );
    let stats = run("stats");
    assert!(
        stats.contains("curr_items") && stats.contains("version"),
        "{stats}"
    );
    let settings = run("settings");
    assert!(settings.contains("item_size_max"), "{settings}");
    let sizes = run("sizes");
    assert!(sizes.contains("sizes_status"), "{sizes}");
    let dump = run("dump");
    assert!(dump.contains("add plain 0 0 3\r\nabc\r\n"), "{dump}");
    let flagged = dump
        .split("add with:flags 5 ")
        .nth(1)
        .expect("flagged item dumped");
    let (exp, rest) = flagged.split_once(' ').expect("exptime");
    assert!(
        exp.parse::<u64>().is_ok_and(|e| e > 1_600_000_000),
        "{dump}"
    );
    assert!(rest.starts_with("2\r\nhi\r\n"), "{dump}");
}

/// Items given an exptime in the past (a store, `touch`, `gat`, meta `T`)
/// stay in place already expired, as in memcached: a memcached command
/// counts them in `get_expired` (checked against memcached in
/// diff_memcache.rs), RESP sees them absent, and active expiry reclaims
/// them untouched, so they cannot pile up.
#[test]
fn past_exptimes_are_absent_for_resp_and_reclaimed() {
    let s = start_larder_memcache(&[]);
    let mut resp = RawClient::connect(s.proc.port);
    let mut mc = McConn::connect(s.port);
    let r = mc
        .exchange(
            b"set a 0 -1 1\r\nx\r\nset b 0 0 1\r\nx\r\ntouch b -1\r\nset c 0 0 1\r\nx\r\n\
              gat -1 c\r\nms d 1 T-1\r\nx\r\nset e 0 1000000000 1\r\nx\r\n\
              ma f N0 J7\r\nma f T-1\r\n",
        )
        .expect("reply");
    assert_eq!(r.len(), 11, "{r:?}");
    for k in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(resp.cmd_str(&["GET", k]), b"$-1\r\n", "GET {k}");
        assert_eq!(resp.cmd_str(&["EXISTS", k]), b":0\r\n", "EXISTS {k}");
    }
    // Many at once: active expiry reclaims them without any access.
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend_from_slice(format!("set x{i} 0 -1 3 noreply\r\nabc\r\n").as_bytes());
    }
    mc.exchange(&batch).expect("sets");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n = resp.cmd_str(&["DBSIZE"]);
        if n == b":0\r\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expired items not reclaimed: DBSIZE {}",
            String::from_utf8_lossy(&n)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Past `maxclients` memcached connections, a new one is told why before
/// it is closed, in memcached's words.
#[test]
fn connection_over_the_limit_gets_memcached_error() {
    use std::io::Read;
    let s = start_larder_memcache(&["--maxclients", "2"]);
    // (The start-up probe's connection must be gone first.)
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut a = McConn::connect(s.port);
    let mut b = McConn::connect(s.port);
    a.exchange(b"version\r\n").expect("first connection");
    b.exchange(b"version\r\n").expect("second connection");
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("read until closed");
    assert_eq!(got, b"ERROR Too many open connections\r\n");
}

/// `timeout` closes a memcached connection that sent nothing for that
/// long (memcached's `idle_timeout`), and `stats` counts it in
/// `idle_kicks` (shown, as in memcached, only when the timeout is set).
#[test]
fn idle_connections_are_kicked_and_counted() {
    use std::io::Read;
    use std::time::Duration;
    let s = start_larder_memcache(&["--timeout", "1"]);
    // (The start-up probe's connection is kicked first.)
    std::thread::sleep(Duration::from_millis(1500));
    let mut stats = McConn::connect(s.port);
    let kicks = |c: &mut McConn| -> u64 {
        let line = memcache_common::stats_subset(c, &["idle_kicks"]);
        line[0].rsplit(' ').next().unwrap().parse().unwrap()
    };
    let before = kicks(&mut stats);
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(5))).ok();
    // A connection that keeps sending is not kicked.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        kicks(&mut stats);
    }
    let mut got = Vec::new();
    idle.read_to_end(&mut got).expect("closed, not timed out");
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(kicks(&mut stats), before + 1);

    let s = start_larder_memcache(&[]);
    let mut c = McConn::connect(s.port);
    assert!(memcache_common::stats_subset(&mut c, &["idle_kicks"]).is_empty());
}

/// `watch evictions` streams a `type=eviction` line, in memcached's format,
/// for each item the memory limit evicts.
#[test]
fn watch_evictions_logs_evicted_items() {
    use std::io::{BufRead, BufReader, Write};
    let s = start_larder_memcache(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let w = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    w.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok();
    let mut lines = BufReader::new(w.try_clone().unwrap());
    (&w).write_all(b"watch evictions\r\n").unwrap();
    let mut ok = String::new();
    lines.read_line(&mut ok).unwrap();
    assert_eq!(ok, "OK\r\n");
    let mut c = McConn::connect(s.port);
    let value = vec![b'v'; 65536];
    for i in 0..64 {
        let mut req = format!("set key{i} 0 3600 65536\r\n").into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        c.exchange(&req).expect("set");
    }
    let mut line = String::new();
    lines.read_line(&mut line).expect("an eviction line");
    let re = |l: &str| {
        let rest = l.split_once(" type=eviction key=key").map(|(_, r)| r)?;
        let (_, tail) = rest.split_once(' ')?;
        let f: Vec<&str> = tail.trim_end().split(' ').collect();
        (f.len() == 5
            && f[0] == "fetch=no"
            && f[1].strip_prefix("ttl=")?.parse::<i64>().ok()? > 3500
            && f[2].starts_with("la=")
            && f[3] == "clsid=1"
            && f[4] == "size=65536")
            .then_some(())
    };
    assert!(line.starts_with("ts=") && re(&line).is_some(), "{line}");
}

/// Requests over a unix socket's stream; the replies up to their second
/// `END` (a get's, then `stats conns`').
fn unix_exchange(path: &std::path::Path, req: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect unix socket");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.windows(5).filter(|w| w == b"END\r\n").count() < 2 {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `stats conns` names connections by fd, and its seconds depend on
/// timing: both differ between servers.
fn without_fds(text: &str, path: &std::path::Path) -> String {
    let p = path.display().to_string();
    text.lines()
        .map(|l| match l.strip_prefix("STAT ") {
            Some(r) if r.contains(":secs_since_last_cmd ") => "STAT N:secs S".to_string(),
            Some(r) => format!("STAT N{}", &r[r.find(':').unwrap_or(0)..]),
            None => l.to_string(),
        })
        .map(|l| l.replace(&p, "PATH"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// memcached's `-s` (`memcache-unixsocket`): the memcached protocols on a
/// unix socket, with memcached's permissions (0700) and its `stats conns`
/// rows (the listener `unix:<path>`, a client `?:<AF 0>` with the listener
/// as `listen_addr`), compared with a real `memcached -s`; the socket file
/// goes away when the server shuts down.
#[test]
fn unix_socket_serves_as_memcached_does() {
    use std::os::unix::fs::PermissionsExt;
    let Some(memcached) = common::memcached_path() else {
        assert!(
            !require_peers(),
            "memcached not found and LARDER_REQUIRE_PEERS=1"
        );
        return;
    };
    // A short path: memcached reads its listener's name into a buffer of
    // 26 path bytes, and a longer path would differ by that truncation.
    let dir = std::path::PathBuf::from(format!("/tmp/lmu{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (lpath, mpath) = (dir.join("l.sock"), dir.join("m.sock"));
    let larder = common::start_larder(&["--memcache-unixsocket", lpath.to_str().unwrap()]);
    let mut mc = Command::new(memcached)
        .args(["-u", "root", "-U", "0", "-s", mpath.to_str().unwrap()])
        .spawn()
        .expect("start memcached");
    for _ in 0..100 {
        if mpath.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let req = b"set foo 0 0 6\r\nfooval\r\nget foo\r\nstats conns\r\n";
    let l = unix_exchange(&lpath, req);
    let m = unix_exchange(&mpath, req);
    let _ = mc.kill();
    let _ = mc.wait();
    assert_eq!(without_fds(&l, &lpath), without_fds(&m, &mpath), "{l}\n{m}");
    assert!(
        l.contains(&format!("addr unix:{}\r\n", lpath.display())),
        "{l}"
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&lpath), 0o700);
    let settings = unix_exchange(&lpath, b"stats settings\r\nget none\r\n");
    assert!(settings.contains(&format!("STAT domain_socket {}\r\n", lpath.display())));
    assert!(settings.contains("STAT umask 700\r\n"), "{settings}");

    let mut c = RawClient::connect(larder.port);
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    for _ in 0..100 {
        if !lpath.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!lpath.exists(), "socket file left after shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

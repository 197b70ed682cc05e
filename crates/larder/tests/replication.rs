//! Replication against real Redis 7.0, both ways:
//!
//! - a `redis-server --replicaof <larder>` replicates a dataset written
//!   before and *during* its full sync (every type, TTLs, several
//!   databases), `DEBUG DIGEST` of both becomes equal, writes after the
//!   sync keep flowing, and WAIT counts the replica;
//! - Larder replicates a redis-server (and a Larder), refuses writes with
//!   `-READONLY`, and becomes writable again after `REPLICAOF NO ONE`;
//! - a raw `SYNC` reader (Redis's TCL `attach_to_replication_stream`) sees
//!   the exact command stream Redis 7.0 sends for a few writes;
//! - chains share one history (PSYNC2): a sub-replica of a Larder replica
//!   has its master's offsets, and after a promotion the old master
//!   resyncs partially;
//! - FAILOVER hands a master over to its replica, Larder to Redis and
//!   back, with partial resyncs only, and answers errors as Redis does;
//! - Redis Sentinel fails a stopped Larder master over to its Larder
//!   replica and turns the old master into a replica when it comes back.
//!
//! The "Larder" side is a second redis-server under `LARDER_DIFF_SELF=1`,
//! so every expectation here is checked against Redis itself too.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    aggregate_elements, reply_int, scalar_payload, start_larder, start_redis, start_sentinel,
    RawClient, ServerProc,
};

fn text(r: &[u8]) -> String {
    String::from_utf8_lossy(r).into_owned()
}

fn info_field(c: &mut RawClient, field: &str) -> Option<String> {
    info_in(c, "replication", field)
}

fn info_in(c: &mut RawClient, section: &str, field: &str) -> Option<String> {
    let r = c.cmd_str(&["INFO", section]);
    let body = text(&scalar_payload(&r)?);
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn digest(c: &mut RawClient) -> Vec<u8> {
    c.cmd_str(&["DEBUG", "DIGEST"])
}

/// Waits until both servers have the same `DEBUG DIGEST` (and a non-empty
/// dataset).
fn wait_same_digest(master: &mut RawClient, replica: &mut RawClient) {
    let start = Instant::now();
    loop {
        let (m, r) = (digest(master), digest(replica));
        if m == r && !m.starts_with(b"+000000") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "digests differ: master {} replica {}",
            text(&m),
            text(&r)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn link_up(replica: &mut RawClient) {
    wait_for("master_link_status:up", Duration::from_secs(15), || {
        info_field(replica, "master_link_status").as_deref() == Some("up")
    });
}

/// Every type, TTLs, and two databases.
fn write_dataset(c: &mut RawClient, tag: &str) {
    let k = |s: &str| format!("{tag}:{s}");
    let cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), k("str"), "hello".into()],
        vec!["SET".into(), k("int"), "12345".into()],
        vec![
            "SET".into(),
            k("ttl"),
            "v".into(),
            "EX".into(),
            "1000".into(),
        ],
        vec![
            "SET".into(),
            k("short"),
            "v".into(),
            "PX".into(),
            "300".into(),
        ],
        vec![
            "RPUSH".into(),
            k("list"),
            "a".into(),
            "b".into(),
            "c".into(),
        ],
        vec![
            "HSET".into(),
            k("hash"),
            "f1".into(),
            "v1".into(),
            "f2".into(),
            "2".into(),
        ],
        vec!["SADD".into(), k("set"), "x".into(), "y".into(), "1".into()],
        vec![
            "ZADD".into(),
            k("zset"),
            "1.5".into(),
            "a".into(),
            "2".into(),
            "b".into(),
        ],
        vec![
            "XADD".into(),
            k("stream"),
            "1-1".into(),
            "f".into(),
            "v".into(),
        ],
        vec!["PEXPIRE".into(), k("hash"), "5000000".into()],
        vec!["SELECT".into(), "3".into()],
        vec!["SET".into(), k("db3"), "three".into()],
        vec![
            "SADD".into(),
            k("db3set"),
            "1".into(),
            "2".into(),
            "3".into(),
        ],
        vec!["SELECT".into(), "0".into()],
    ];
    for cmd in cmds {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let r = c.cmd_str(&args);
        assert!(!r.starts_with(b"-"), "{args:?} -> {}", text(&r));
    }
}

/// Writes from another thread until `stop`: strings, lists, counters and
/// MULTI/EXEC, across two databases.
fn writer(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut c = RawClient::connect(port);
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let i = n.to_string();
            c.cmd_str(&["SET", &format!("during:{i}"), &i]);
            c.cmd_str(&["INCR", "during:counter"]);
            c.cmd_str(&["LPUSH", "during:list", &i]);
            c.cmd_str(&["MULTI"]);
            c.cmd_str(&["SELECT", "5"]);
            c.cmd_str(&["HSET", "during:h", &i, &i]);
            c.cmd_str(&["EXEC"]);
            c.cmd_str(&["SELECT", "0"]);
            n += 1;
        }
        n
    })
}

fn start_pair_master_larder() -> Option<(ServerProc, ServerProc)> {
    let larder = start_larder(&["--enable-debug-command", "yes"]);
    let mut m = larder.client();
    write_dataset(&mut m, "before");
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(larder.port, stop.clone());
    std::thread::sleep(Duration::from_millis(100));
    let port = larder.port.to_string();
    let redis = start_redis(&[
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        &port,
    ])?;
    let mut r = redis.client();
    link_up(&mut r);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let n = w.join().expect("writer");
    assert!(n > 0, "the writer made no writes");
    Some((larder, redis))
}

/// (a) redis-server replicates Larder: data before and during the sync.
#[test]
fn redis_replicates_larder() {
    let Some((larder, redis)) = start_pair_master_larder() else {
        return;
    };
    let (mut m, mut r) = (larder.client(), redis.client());
    wait_same_digest(&mut m, &mut r);
    // Every type arrived, in its database.
    assert_eq!(r.cmd_str(&["TYPE", "before:stream"]), b"+stream\r\n");
    assert_eq!(r.cmd_str(&["ZSCORE", "before:zset", "a"]), b"$3\r\n1.5\r\n");
    assert!(reply_int(&r.cmd_str(&["TTL", "before:ttl"])).is_some_and(|t| t > 900));
    r.cmd_str(&["SELECT", "3"]);
    assert_eq!(r.cmd_str(&["GET", "before:db3"]), b"$5\r\nthree\r\n");
    // The short TTL expires on the master; its DEL reaches the replica.
    wait_for("the expired key's DEL", Duration::from_secs(5), || {
        r.cmd_str(&["SELECT", "0"]);
        r.cmd_str(&["EXISTS", "before:short"]) == b":0\r\n"
    });
    // Writes after the sync flow, and WAIT counts the replica.
    m.cmd_str(&["SET", "after", "1"]);
    m.cmd_str(&["RPUSH", "before:list", "d"]);
    assert_eq!(m.cmd_str(&["WAIT", "1", "5000"]), b":1\r\n");
    assert_eq!(r.cmd_str(&["GET", "after"]), b"$1\r\n1\r\n");
    wait_same_digest(&mut m, &mut r);
    // A client that wrote nothing needs no acknowledgement; WAIT 2 times out.
    let mut fresh = larder.client();
    assert_eq!(fresh.cmd_str(&["WAIT", "1", "0"]), b":1\r\n");
    m.cmd_str(&["SET", "x", "y"]);
    assert_eq!(m.cmd_str(&["WAIT", "2", "300"]), b":1\r\n");
    // The master reports its replica.
    let slave0 = info_field(&mut m, "slave0").expect("slave0 in INFO");
    assert!(slave0.contains("state=online"), "{slave0}");
    assert_eq!(info_field(&mut m, "connected_slaves").as_deref(), Some("1"));
    let role = m.cmd_str(&["ROLE"]);
    assert!(
        role.starts_with(b"*3\r\n$6\r\nmaster\r\n:"),
        "{}",
        text(&role)
    );
    let listed = text(&m.cmd_str(&["CLIENT", "LIST", "TYPE", "replica"]));
    assert!(listed.contains(" flags=S "), "{listed}");
    // The replica refuses writes.
    assert_eq!(
        r.cmd_str(&["SET", "a", "b"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
}

/// Starts `replica` replicating `master` with REPLICAOF, then checks the
/// digest, writes after the sync, READONLY and promotion.
fn check_replica(master: &ServerProc, replica: &ServerProc) {
    let (mut m, mut r) = (master.client(), replica.client());
    write_dataset(&mut m, "m");
    let port = master.port.to_string();
    assert_eq!(r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]), b"+OK\r\n");
    assert_eq!(
        r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]),
        b"+OK Already connected to specified master\r\n"
    );
    link_up(&mut r);
    wait_same_digest(&mut m, &mut r);
    assert_eq!(info_field(&mut r, "role").as_deref(), Some("slave"));
    let role = r.cmd_str(&["ROLE"]);
    assert!(
        role.starts_with(b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:"),
        "{}",
        text(&role)
    );
    // Writes after the sync, in several databases and in a transaction.
    m.cmd_str(&["INCR", "m:int"]);
    m.cmd_str(&["SELECT", "7"]);
    m.cmd_str(&["MULTI"]);
    m.cmd_str(&["ZADD", "z7", "3", "c"]);
    m.cmd_str(&["HINCRBY", "h7", "f", "2"]);
    m.cmd_str(&["EXEC"]);
    m.cmd_str(&["SELECT", "0"]);
    m.cmd_str(&["DEL", "m:list"]);
    assert_eq!(m.cmd_str(&["WAIT", "1", "5000"]), b":1\r\n");
    wait_same_digest(&mut m, &mut r);
    // Each side lists the link with Redis's flag: S (a replica), M (the master).
    let replicas = text(&m.cmd_str(&["CLIENT", "LIST", "TYPE", "replica"]));
    assert!(replicas.contains(" flags=S "), "{replicas}");
    let masters = text(&r.cmd_str(&["CLIENT", "LIST", "TYPE", "master"]));
    assert!(masters.contains(" flags=M "), "{masters}");
    assert_eq!(
        r.cmd_str(&["SET", "a", "b"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(
        r.cmd_str(&["WAIT", "0", "0"]),
        b"-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n"
    );
    // Keys expire on the master only: the replica hides an expired key
    // until the master's DEL comes.
    m.cmd_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    m.cmd_str(&["SELECT", "9"]);
    r.cmd_str(&["SELECT", "9"]);
    m.cmd_str(&["SET", "tmp", "v", "PX", "100"]);
    wait_for("tmp on the replica", Duration::from_secs(5), || {
        r.cmd_str(&["DBSIZE"]) == b":1\r\n"
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cmd_str(&["GET", "tmp"]), b"$-1\r\n");
    assert_eq!(r.cmd_str(&["DBSIZE"]), b":1\r\n");
    assert_eq!(m.cmd_str(&["GET", "tmp"]), b"$-1\r\n");
    wait_for("the master's DEL", Duration::from_secs(5), || {
        r.cmd_str(&["DBSIZE"]) == b":0\r\n"
    });
    m.cmd_str(&["SELECT", "0"]);
    r.cmd_str(&["SELECT", "0"]);
    m.cmd_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    // A replica ignores maxmemory (replica-ignore-maxmemory yes): it stays
    // a copy instead of evicting.
    r.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    r.cmd_str(&["CONFIG", "SET", "maxmemory", "1"]);
    m.cmd_str(&["SET", "big", &"x".repeat(10_000)]);
    wait_same_digest(&mut m, &mut r);
    assert_eq!(r.cmd_str(&["STRLEN", "big"]), b":10000\r\n");
    r.cmd_str(&["CONFIG", "SET", "maxmemory", "0"]);
    // Reads work, and so does a write once promoted.
    assert_eq!(r.cmd_str(&["GET", "m:int"]), b"$5\r\n12346\r\n");
    assert_eq!(r.cmd_str(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    assert_eq!(r.cmd_str(&["SET", "a", "b"]), b"+OK\r\n");
    assert_eq!(info_field(&mut r, "role").as_deref(), Some("master"));
}

/// (b) Larder replicates a redis-server.
#[test]
fn larder_replicates_redis() {
    let Some(redis) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let larder = start_larder(&["--enable-debug-command", "yes"]);
    check_replica(&redis, &larder);
}

/// (b) Larder replicates Larder.
#[test]
fn larder_replicates_larder() {
    let master = start_larder(&["--enable-debug-command", "yes"]);
    let replica = start_larder(&["--enable-debug-command", "yes"]);
    check_replica(&master, &replica);
}

/// PUBLISH on a master reaches subscribers on its replica (Redis
/// propagates it to replicas), as does SPUBLISH.
#[test]
fn publish_reaches_replica_subscribers() {
    let master = start_larder(&[]);
    let replica = start_larder(&[]);
    let (mut m, mut r) = (master.client(), replica.client());
    let port = master.port.to_string();
    assert_eq!(r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]), b"+OK\r\n");
    link_up(&mut r);
    let mut sub = replica.client();
    assert_eq!(
        sub.cmd_str(&["SUBSCRIBE", "news"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    assert_eq!(
        sub.cmd_str(&["SSUBSCRIBE", "shard"]),
        b"*3\r\n$10\r\nssubscribe\r\n$5\r\nshard\r\n:1\r\n"
    );
    // Nobody listens on the master itself.
    assert_eq!(m.cmd_str(&["PUBLISH", "news", "hello"]), b":0\r\n");
    assert_eq!(
        sub.read_reply_timeout(Duration::from_secs(5)).as_deref(),
        Some(&b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"[..])
    );
    assert_eq!(m.cmd_str(&["SPUBLISH", "shard", "s1"]), b":0\r\n");
    assert_eq!(
        sub.read_reply_timeout(Duration::from_secs(5)).as_deref(),
        Some(&b"*3\r\n$8\r\nsmessage\r\n$5\r\nshard\r\n$2\r\ns1\r\n"[..])
    );
}

/// One RESP array of bulk strings from the stream, as words; PINGs skipped.
fn next_command(s: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<String> {
    loop {
        if let Some((cmd, used)) = parse_array(buf) {
            buf.drain(..used);
            if cmd.len() == 1 && cmd[0].eq_ignore_ascii_case("ping") {
                continue;
            }
            return cmd;
        }
        let mut tmp = [0u8; 4096];
        let n = s.read(&mut tmp).expect("read the replication stream");
        assert!(n > 0, "stream closed; buffered: {:?}", text(buf));
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn parse_array(b: &[u8]) -> Option<(Vec<String>, usize)> {
    fn line(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let p = b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&b[at..at + p], at + p + 2))
    }
    let (head, mut at) = line(b, 0)?;
    let n: usize = std::str::from_utf8(head.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (l, next) = line(b, at)?;
        let len: usize = std::str::from_utf8(l.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        let end = next + len;
        if b.len() < end + 2 {
            return None;
        }
        out.push(text(&b[next..end]));
        at = end + 2;
    }
    Some((out, at))
}

/// Matches each next command against a pattern of words, `*` matching any
/// one word; as in Redis's TCL helper, only the command name is compared
/// without case.
fn assert_stream(s: &mut TcpStream, buf: &mut Vec<u8>, patterns: &[&[&str]]) {
    for pat in patterns {
        let got = next_command(s, buf);
        let ok =
            got.len() == pat.len()
                && got.iter().zip(pat.iter()).enumerate().all(|(i, (g, p))| {
                    *p == "*" || g == p || (i == 0 && g.eq_ignore_ascii_case(p))
                });
        assert!(ok, "expected {pat:?}, got {got:?}");
    }
}

/// Attaches like Redis's TCL `attach_to_replication_stream`: SYNC, skip the
/// RDB payload, return the stream.
fn attach(port: u16) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"SYNC\r\n").expect("send SYNC");
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    let (len, start) = loop {
        let lead = buf.iter().take_while(|&&c| c == b'\n').count();
        if let Some(p) = buf[lead..].windows(2).position(|w| w == b"\r\n") {
            let head = text(&buf[lead..lead + p]);
            let len: usize = head
                .strip_prefix('$')
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| panic!("bad SYNC payload header {head:?}"));
            break (len, lead + p + 2);
        }
        let n = s.read(&mut tmp).expect("read the SYNC reply");
        assert!(n > 0, "closed during SYNC");
        buf.extend_from_slice(&tmp[..n]);
    };
    while buf.len() < start + len {
        let n = s.read(&mut tmp).expect("read the RDB");
        assert!(n > 0, "closed during the RDB");
        buf.extend_from_slice(&tmp[..n]);
    }
    assert!(buf[start..].starts_with(b"REDIS"), "not an RDB payload");
    buf.drain(..start + len);
    (s, buf)
}

/// (c) The command stream, as Redis 7.0 sends it.
#[test]
fn replication_stream_matches_redis() {
    let larder = start_larder(&["--enable-debug-command", "yes"]);
    let mut c = larder.client();
    c.cmd_str(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]);
    c.cmd_str(&["SET", "old", "1"]);
    let (mut s, mut buf) = attach(larder.port);
    c.cmd_str(&["SET", "foo", "bar", "EX", "100"]);
    c.cmd_str(&["INCR", "n"]);
    c.cmd_str(&["EXPIRE", "n", "100"]);
    c.cmd_str(&["SELECT", "2"]);
    c.cmd_str(&["GETEX", "missing", "PERSIST"]);
    c.cmd_str(&["LPUSH", "l", "a"]);
    c.cmd_str(&["MULTI"]);
    c.cmd_str(&["SET", "a", "1"]);
    c.cmd_str(&["SADD", "s", "m"]);
    c.cmd_str(&["EXEC"]);
    c.cmd_str(&["SELECT", "0"]);
    c.cmd_str(&["SET", "p", "v", "pxat", "4102444800000", "GET"]);
    c.cmd_str(&["SET", "gone", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    c.cmd_str(&["GET", "gone"]);
    c.cmd_str(&["DEL", "old"]);
    // Pops with a COUNT larger than the collection: the count popped.
    c.cmd_str(&["RPUSH", "ml", "a"]);
    c.cmd_str(&["LMPOP", "1", "ml", "LEFT", "COUNT", "10"]);
    c.cmd_str(&["ZADD", "mz", "1", "a"]);
    c.cmd_str(&["ZMPOP", "1", "mz", "MIN", "COUNT", "10"]);
    // PUBLISH goes to replicas (in its database), also inside MULTI.
    c.cmd_str(&["SELECT", "4"]);
    c.cmd_str(&["PUBLISH", "ch", "hello"]);
    c.cmd_str(&["MULTI"]);
    c.cmd_str(&["SET", "t", "1"]);
    c.cmd_str(&["PUBLISH", "ch", "in-tx"]);
    c.cmd_str(&["EXEC"]);
    c.cmd_str(&["SELECT", "0"]);
    assert_stream(
        &mut s,
        &mut buf,
        &[
            &["select", "0"],
            &["set", "foo", "bar", "PXAT", "*"],
            &["incr", "n"],
            &["pexpireat", "n", "*"],
            &["select", "2"],
            &["lpush", "l", "a"],
            &["multi"],
            &["set", "a", "1"],
            &["sadd", "s", "m"],
            &["exec"],
            &["select", "0"],
            &["set", "p", "v", "PXAT", "4102444800000"],
            &["set", "gone", "1", "PXAT", "*"],
            &["del", "gone"],
            &["del", "old"],
            &["rpush", "ml", "a"],
            &["lpop", "ml", "1"],
            &["zadd", "mz", "1", "a"],
            &["zpopmin", "mz", "1"],
            &["select", "4"],
            &["publish", "ch", "hello"],
            &["multi"],
            &["set", "t", "1"],
            &["publish", "ch", "in-tx"],
            &["exec"],
        ],
    );
    // A second attach starts with a SELECT again, at the current offset.
    let (mut s2, mut buf2) = attach(larder.port);
    c.cmd_str(&["SET", "k", "v"]);
    assert_stream(&mut s2, &mut buf2, &[&["select", "0"], &["set", "k", "v"]]);
    assert_stream(&mut s, &mut buf, &[&["select", "0"], &["set", "k", "v"]]);
}

/// Writes refused by replication settings: NOREPLICAS on a master short of
/// good replicas (also for EXEC), MASTERDOWN on a replica whose link is down
/// under `replica-serve-stale-data no`.
#[test]
fn replication_write_refusals() {
    let larder = start_larder(&[]);
    let mut c = larder.client();
    let norep = b"-NOREPLICAS Not enough good replicas to write.\r\n";
    assert_eq!(c.cmd_str(&["SET", "x", "1"]), b"+OK\r\n");
    c.cmd_str(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
    wait_for("NOREPLICAS", Duration::from_secs(3), || {
        c.cmd_str(&["SET", "x", "2"]) == norep
    });
    assert_eq!(c.cmd_str(&["GET", "x"]), b"$1\r\n1\r\n");
    assert_eq!(
        info_field(&mut c, "min_slaves_good_slaves").as_deref(),
        Some("0")
    );
    c.cmd_str(&["MULTI"]);
    assert_eq!(c.cmd_str(&["INCR", "x"]), norep);
    assert_eq!(
        c.cmd_str(&["EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    c.cmd_str(&["CONFIG", "SET", "min-replicas-to-write", "0"]);
    assert_eq!(c.cmd_str(&["SET", "x", "3"]), b"+OK\r\n");

    let masterdown =
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n";
    c.cmd_str(&["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    // Queued while a master, refused at EXEC once the link is down.
    c.cmd_str(&["MULTI"]);
    assert_eq!(c.cmd_str(&["PING"]), b"+QUEUED\r\n");
    let mut other = larder.client();
    assert_eq!(other.cmd_str(&["REPLICAOF", "127.0.0.1", "1"]), b"+OK\r\n");
    assert_eq!(
        c.cmd_str(&["EXEC"]),
        b"-EXECABORT Transaction discarded because of: MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    );
    assert_eq!(c.cmd_str(&["GET", "x"]), masterdown);
    assert!(c.cmd_str(&["INFO", "replication"]).starts_with(b"$"));
    assert_eq!(other.cmd_str(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["GET", "x"]), b"$1\r\n3\r\n");
}

fn stat(c: &mut RawClient, field: &str) -> i64 {
    info_in(c, "stats", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats {field}"))
}

fn offset(c: &mut RawClient) -> i64 {
    info_field(c, "master_repl_offset")
        .and_then(|v| v.parse().ok())
        .expect("master_repl_offset")
}

/// Waits until every server has the master's offset and data.
fn wait_in_sync(master: &mut RawClient, others: &mut [&mut RawClient]) {
    wait_for("equal offsets", Duration::from_secs(15), || {
        let m = offset(master);
        others.iter_mut().all(|o| offset(o) == m)
    });
    for o in others.iter_mut() {
        wait_same_digest(master, o);
    }
}

fn replicaof(c: &mut RawClient, master: &ServerProc) {
    let port = master.port.to_string();
    assert_eq!(c.cmd_str(&["REPLICAOF", "127.0.0.1", &port]), b"+OK\r\n");
}

fn role(c: &mut RawClient) -> String {
    info_field(c, "role").expect("role")
}

/// Redis master → Larder replica → Redis sub-replica: the sub-replica gets
/// the master's stream byte for byte (same offsets, transactions whole);
/// after promoting the Larder replica, the sub-replica and the old master
/// resync from it partially.
#[test]
fn chained_replicas_share_one_history() {
    let Some(top) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let mid = start_larder(&["--enable-debug-command", "yes"]);
    let Some(leaf) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let (mut t, mut m, mut l) = (top.client(), mid.client(), leaf.client());
    write_dataset(&mut t, "a");
    replicaof(&mut m, &top);
    link_up(&mut m);
    replicaof(&mut l, &mid);
    link_up(&mut l);
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(top.port, stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    w.join().expect("writer");
    wait_in_sync(&mut t, &mut [&mut m, &mut l]);
    assert_eq!(
        info_field(&mut l, "master_replid"),
        info_field(&mut t, "master_replid")
    );

    // Promote the middle: the leaf resyncs from it partially (to learn its
    // new replication ID), and so does the top, joining it.
    let (partial, full) = (stat(&mut m, "sync_partial_ok"), stat(&mut m, "sync_full"));
    assert_eq!(m.cmd_str(&["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    replicaof(&mut t, &mid);
    link_up(&mut t);
    write_dataset(&mut m, "b");
    wait_in_sync(&mut m, &mut [&mut t, &mut l]);
    // Two at least: a link may also drop and resume under load.
    assert!(stat(&mut m, "sync_partial_ok") >= partial + 2);
    assert_eq!(stat(&mut m, "sync_full"), full);
    assert_eq!(role(&mut t), "slave");
}

/// CLIENT KILL of a replica's master client (by address, and by TYPE
/// master) drops the link, as in Redis: the replica reconnects and
/// resumes partially, with the writes made meanwhile, in the database the
/// stream had selected (the master does not SELECT again). Against a
/// Redis master, so that its `sync_partial_ok` is the judge.
#[test]
fn killing_the_master_client_resumes_partially() {
    let Some(master) = start_redis(&[]) else {
        return;
    };
    let replica = start_larder(&[]);
    let (mut m, mut r) = (master.client(), replica.client());
    replicaof(&mut r, &master);
    link_up(&mut r);
    // (The role is the directive's value, for CONFIG GET and REWRITE.)
    let value = format!("127.0.0.1 {}", master.port);
    let expect = format!("*2\r\n$9\r\nreplicaof\r\n${}\r\n{value}\r\n", value.len());
    assert_eq!(text(&r.cmd_str(&["CONFIG", "GET", "replicaof"])), expect);
    assert_eq!(m.cmd_str(&["SELECT", "5"]), b"+OK\r\n");
    assert_eq!(m.cmd_str(&["SET", "before", "v"]), b"+OK\r\n");
    assert_eq!(r.cmd_str(&["SELECT", "5"]), b"+OK\r\n");
    let addr = format!("127.0.0.1:{}", master.port);
    let kills: [&[&str]; 2] = [
        &["CLIENT", "KILL", &addr],
        &["CLIENT", "KILL", "TYPE", "master"],
    ];
    for (i, kill) in kills.iter().enumerate() {
        let partial = stat(&mut m, "sync_partial_ok");
        let reply = r.cmd_str(kill);
        assert!(
            reply == b"+OK\r\n" || reply == b":1\r\n",
            "{}",
            text(&reply)
        );
        let key = format!("during-{i}");
        assert_eq!(m.cmd_str(&["SET", &key, "v"]), b"+OK\r\n");
        wait_for("a partial resync", Duration::from_secs(10), || {
            stat(&mut m, "sync_partial_ok") > partial
        });
        wait_in_sync(&mut m, &mut [&mut r]);
        assert_eq!(r.cmd_str(&["GET", &key]), b"$1\r\nv\r\n");
    }
    assert_eq!(stat(&mut m, "sync_full"), 1);
}

/// A replica's RDB names where it stands in its master's history (Redis's
/// `repl-stream-db`, `repl-id`, `repl-offset` AUX fields): restarted from
/// it with `replicaof`, it resumes with a partial resync, gets the writes
/// made while it was down, and applies later ones in the database the
/// stream had selected.
#[test]
fn replica_restarted_from_its_rdb_resumes_partially() {
    let Some(master) = start_redis(&[]) else {
        return;
    };
    let mut m = master.client();
    let target = format!("127.0.0.1 {}", master.port);
    let replica = start_larder(&["--replicaof", &target]);
    let mut r = replica.client();
    link_up(&mut r);
    assert_eq!(m.cmd_str(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(m.cmd_str(&["SET", "a", "1"]), b"+OK\r\n");
    wait_in_sync(&mut m, &mut [&mut r]);
    assert_eq!(r.cmd_str(&["SAVE"]), b"+OK\r\n");
    let dir = std::env::temp_dir().join(format!("larder-restart-{}", master.port));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(replica.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
    drop(r);
    drop(replica);
    let dir_s = dir.display().to_string();
    assert_eq!(m.cmd_str(&["INCR", "a"]), b":2\r\n");
    let (full, partial) = (stat(&mut m, "sync_full"), stat(&mut m, "sync_partial_ok"));
    let again = start_larder(&["--dir", &dir_s, "--replicaof", &target]);
    let mut r = again.client();
    link_up(&mut r);
    assert_eq!(m.cmd_str(&["INCR", "a"]), b":3\r\n");
    wait_in_sync(&mut m, &mut [&mut r]);
    assert_eq!(stat(&mut m, "sync_partial_ok"), partial + 1);
    assert_eq!(stat(&mut m, "sync_full"), full);
    assert_eq!(r.cmd_str(&["SELECT", "3"]), b"+OK\r\n");
    assert_eq!(r.cmd_str(&["GET", "a"]), b"$1\r\n3\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// DEBUG REPLICATE sends a command to the replicas alone; one that fails
/// there is logged and counted in `unexpected_error_replies` (the stream
/// goes on), on a Larder replica as on a Redis one.
#[test]
fn stream_errors_on_replicas_are_counted() {
    let master = start_larder(&["--enable-debug-command", "yes"]);
    let Some(redis) = start_redis(&[]) else {
        return;
    };
    let larder = start_larder(&[]);
    let mut m = master.client();
    let (mut r, mut l) = (redis.client(), larder.client());
    for c in [&mut r, &mut l] {
        replicaof(c, &master);
        link_up(c);
    }
    assert_eq!(
        m.cmd_str(&["DEBUG", "REPLICATE", "fake-command-1"]),
        b"+OK\r\n"
    );
    assert_eq!(m.cmd_str(&["SET", "foo", "bar2"]), b"+OK\r\n");
    assert_eq!(m.cmd_str(&["WAIT", "2", "5000"]), b":2\r\n");
    for c in [&mut r, &mut l] {
        assert_eq!(c.cmd_str(&["GET", "foo"]), b"$4\r\nbar2\r\n");
        assert_eq!(stat(c, "unexpected_error_replies"), 1);
    }
}

/// FAILOVER's refusals, byte for byte against Redis: without replicas, bad
/// arguments, on a replica, ABORT with none running, REPLICAOF and SYNC
/// while one waits.
#[test]
fn failover_errors_match_redis() {
    let run = |master: &ServerProc, replica: &ServerProc| -> Vec<Vec<u8>> {
        let (mut m, mut r) = (master.client(), replica.client());
        let rport = replica.port.to_string();
        let mut out = vec![
            m.cmd_str(&["FAILOVER"]),
            m.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &rport]),
            m.cmd_str(&["FAILOVER", "ABORT"]),
        ];
        replicaof(&mut r, master);
        link_up(&mut r);
        wait_for("replica online", Duration::from_secs(10), || {
            info_field(&mut m, "slave0").is_some_and(|s| s.contains("state=online"))
        });
        for args in [
            &["FAILOVER", "TO", "invalidhost", &rport][..],
            &["FAILOVER", "TO", "127.0.0.1", "invalidport"],
            &["FAILOVER", "TO", "127.0.0.1", "1"],
            &["FAILOVER", "FORCE", "TIMEOUT", "100"],
            &["FAILOVER", "TO", "127.0.0.1", &rport, "FORCE"],
            &["FAILOVER", "TIMEOUT", "0"],
            &["FAILOVER", "TIMEOUT", "-5"],
            &["FAILOVER", "TIMEOUT", "x"],
            &["FAILOVER", "TO", "127.0.0.1"],
            &["FAILOVER", "FORCE", "FORCE"],
            &["FAILOVER", "BOGUS"],
            &["FAILOVER", "ABORT", "NOW"],
        ] {
            out.push(m.cmd_str(args));
        }
        out.push(r.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &rport]));
        out.push(r.cmd_str(&["PSYNC", "0123", "1", "FAILOVER"]));
        out.push(m.cmd_str(&["PSYNC", "0123", "1", "FAILOVER"]));
        // A failover whose target is stopped (never catches up) waits.
        signal(replica, "STOP");
        out.push(m.cmd_str(&["SET", "k", "v"]));
        out.push(m.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "60000"]));
        out.push(
            info_field(&mut m, "master_failover_state")
                .unwrap()
                .into_bytes(),
        );
        out.push(m.cmd_str(&["FAILOVER"]));
        out.push(m.cmd_str(&["REPLICAOF", "127.0.0.1", "1"]));
        out.push(m.cmd_str(&["SYNC"]));
        out.push(m.cmd_str(&["GET", "k"]));
        out.push(m.cmd_str(&["FAILOVER", "ABORT"]));
        out.push(
            info_field(&mut m, "master_failover_state")
                .unwrap()
                .into_bytes(),
        );
        out.push(m.cmd_str(&["SET", "k", "w"]));
        signal(replica, "CONT");
        out
    };
    let Some(rm) = start_redis(&[]) else {
        return;
    };
    let Some(rr) = start_redis(&[]) else {
        return;
    };
    let want = run(&rm, &rr);
    let got = run(&start_larder(&[]), &start_larder(&[]));
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(text(g), text(w), "reply {i}");
    }
    assert_eq!(got.len(), want.len());
}

/// Waits until `c` reports no failover under way.
fn failover_done(c: &mut RawClient) {
    wait_for("no-failover", Duration::from_secs(15), || {
        info_field(c, "master_failover_state").as_deref() == Some("no-failover")
    });
}

/// Runs `failover` on `old`, then `meanwhile`, and checks that the `new`
/// master took over: roles, then, once `other` follows it too and all
/// three are in sync, two partial resyncs (the old master's and the
/// other's) and no full one.
fn hand_over(
    old: &mut RawClient,
    failover: &[&str],
    (new, nc): (&ServerProc, &mut RawClient),
    other: &mut RawClient,
    meanwhile: impl FnOnce(),
) {
    let (partial, full) = (stat(nc, "sync_partial_ok"), stat(nc, "sync_full"));
    assert_eq!(old.cmd_str(failover), b"+OK\r\n");
    failover_done(old);
    meanwhile();
    assert_eq!(role(old), "slave");
    assert_eq!(role(nc), "master");
    replicaof(other, new);
    link_up(old);
    link_up(other);
    wait_in_sync(nc, &mut [old, other]);
    assert_eq!(stat(nc, "sync_partial_ok"), partial + 2);
    assert_eq!(stat(nc, "sync_full"), full);
}

/// FAILOVER under load: a Larder master hands over to its Larder replica
/// (the other replica, a Redis, follows), then that one to the Redis
/// (FAILOVER with no target), then the Redis back to a Larder; every step
/// with partial resyncs only, and the data identical everywhere.
#[test]
fn failover_hands_over_between_larder_and_redis() {
    let a = start_larder(&["--enable-debug-command", "yes"]);
    let b = start_larder(&["--enable-debug-command", "yes"]);
    let Some(c) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let (mut ac, mut bc, mut cc) = (a.client(), b.client(), c.client());
    write_dataset(&mut ac, "x");
    replicaof(&mut bc, &a);
    replicaof(&mut cc, &a);
    link_up(&mut bc);
    link_up(&mut cc);
    wait_in_sync(&mut ac, &mut [&mut bc, &mut cc]);

    // a → b, with writes until the pause holds them.
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(a.port, stop.clone());
    std::thread::sleep(Duration::from_millis(200));
    let bport = b.port.to_string();
    let to_b = ["FAILOVER", "TO", "127.0.0.1", &bport];
    hand_over(&mut ac, &to_b, (&b, &mut bc), &mut cc, || {
        stop.store(true, Ordering::Relaxed);
        w.join().expect("writer");
    });
    assert_eq!(
        ac.cmd_str(&["SET", "k", "v"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );

    // b → any replica: only the Redis (c) is awake.
    signal(&a, "STOP");
    bc.cmd_str(&["SET", "case", "1"]);
    hand_over(&mut bc, &["FAILOVER"], (&c, &mut cc), &mut ac, || {
        signal(&a, "CONT")
    });

    // c (Redis) → a (Larder).
    cc.cmd_str(&["SET", "case", "2"]);
    let aport = a.port.to_string();
    let to_a = ["FAILOVER", "TO", "127.0.0.1", &aport];
    hand_over(&mut cc, &to_a, (&a, &mut ac), &mut bc, || {});
    assert_eq!(ac.cmd_str(&["GET", "case"]), b"$1\r\n2\r\n");
}

/// A FAILOVER whose target never catches up: with TIMEOUT it gives up and
/// the master goes on; FAILOVER ABORT ends one at once; with FORCE the
/// target gets it anyway once the timeout passes.
#[test]
fn failover_timeout_abort_and_force() {
    let a = start_larder(&["--enable-debug-command", "yes"]);
    let b = start_larder(&["--enable-debug-command", "yes"]);
    let (mut ac, mut bc) = (a.client(), b.client());
    write_dataset(&mut ac, "x");
    replicaof(&mut bc, &a);
    link_up(&mut bc);
    wait_in_sync(&mut ac, &mut [&mut bc]);
    let bport = b.port.to_string();

    signal(&b, "STOP");
    ac.cmd_str(&["SET", "case", "1"]);
    assert_eq!(
        ac.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &bport, "TIMEOUT", "500"]),
        b"+OK\r\n"
    );
    assert_eq!(
        info_field(&mut ac, "master_failover_state").as_deref(),
        Some("waiting-for-sync")
    );
    // Reads go on; a write waits for the pause.
    assert_eq!(ac.cmd_str(&["GET", "case"]), b"$1\r\n1\r\n");
    failover_done(&mut ac);
    assert_eq!(role(&mut ac), "master");
    assert_eq!(ac.cmd_str(&["SET", "case", "2"]), b"+OK\r\n");

    assert_eq!(
        ac.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &bport, "TIMEOUT", "60000"]),
        b"+OK\r\n"
    );
    assert_eq!(ac.cmd_str(&["FAILOVER", "ABORT"]), b"+OK\r\n");
    assert_eq!(
        info_field(&mut ac, "master_failover_state").as_deref(),
        Some("no-failover")
    );
    assert_eq!(ac.cmd_str(&["SET", "case", "3"]), b"+OK\r\n");

    assert_eq!(
        ac.cmd_str(&[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &bport,
            "TIMEOUT",
            "100",
            "FORCE"
        ]),
        b"+OK\r\n"
    );
    wait_for("failover-in-progress", Duration::from_secs(10), || {
        info_field(&mut ac, "master_failover_state").as_deref() == Some("failover-in-progress")
    });
    assert_eq!(role(&mut ac), "slave");
    signal(&b, "CONT");
    failover_done(&mut ac);
    assert_eq!(role(&mut bc), "master");
    link_up(&mut ac);
    wait_in_sync(&mut bc, &mut [&mut ac]);
    assert_eq!(bc.cmd_str(&["GET", "case"]), b"$1\r\n3\r\n");
}

/// Sends SIGSTOP or SIGCONT (`sig`) to a server.
fn signal(s: &ServerProc, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([format!("-{sig}"), s.pid().to_string()])
        .status()
        .is_ok_and(|st| st.success());
    assert!(ok, "kill -{sig}");
}

/// Redis Sentinel runs a Larder pair: it finds the replica, promotes it
/// when the master stops answering, and makes the old master its replica
/// once it is back.
#[test]
fn sentinel_fails_over_a_larder_master() {
    let master = start_larder(&[]);
    let replica = start_larder(&[]);
    let mut r = replica.client();
    master.client().cmd_str(&["SET", "before", "1"]);
    replicaof(&mut r, &master);
    link_up(&mut r);
    let conf = format!(
        "sentinel monitor mymaster 127.0.0.1 {} 1\n\
         sentinel down-after-milliseconds mymaster 1000\n\
         sentinel failover-timeout mymaster 5000\n",
        master.port
    );
    let Some(sentinel) = start_sentinel(&conf) else {
        return;
    };
    let mut s = sentinel.client();
    let master_port = |s: &mut RawClient| {
        let r = s.cmd_str(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
        aggregate_elements(&r)
            .and_then(|a| a.get(1).and_then(|p| scalar_payload(p)))
            .map(|p| text(&p))
    };
    // Sentinel learns replicas from the master's INFO, every 10 s.
    wait_for(
        "sentinel to see the replica",
        Duration::from_secs(30),
        || {
            let r = s.cmd_str(&["SENTINEL", "REPLICAS", "mymaster"]);
            aggregate_elements(&r).is_some_and(|a| !a.is_empty())
        },
    );
    signal(&master, "STOP");
    let new = replica.port.to_string();
    wait_for("the failover", Duration::from_secs(30), || {
        master_port(&mut s).as_deref() == Some(new.as_str())
    });
    // Sentinel kills the normal clients of the servers it reconfigures:
    // each check below opens a connection of its own.
    wait_for("the promotion", Duration::from_secs(10), || {
        role(&mut replica.client()) == "master"
    });
    assert_eq!(replica.client().cmd_str(&["SET", "after", "2"]), b"+OK\r\n");
    signal(&master, "CONT");
    wait_for("the old master to follow", Duration::from_secs(40), || {
        let mut m = master.client();
        role(&mut m) == "slave" && info_field(&mut m, "master_port").as_deref() == Some(&new)
    });
    let mut m = master.client();
    link_up(&mut m);
    wait_for(
        "the new write on the old master",
        Duration::from_secs(10),
        || m.cmd_str(&["GET", "after"]) == b"$1\r\n2\r\n",
    );
    assert_eq!(m.cmd_str(&["GET", "before"]), b"$1\r\n1\r\n");
}

fn used_memory(c: &mut RawClient) -> i64 {
    info_in(c, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory")
}

/// After a 32 MB value is written, replicated and deleted, neither side
/// still holds room for it: not the replica's read buffer (Redis's pending
/// query buffer, unit/pendingquerybuf), nor the master's stream buffers
/// or backlog past `repl-backlog-size`.
fn check_big_write_released(master: &ServerProc, replica: &ServerProc) {
    let (mut m, mut r) = (master.client(), replica.client());
    replicaof(&mut r, master);
    link_up(&mut r);
    let before = [used_memory(&mut m), used_memory(&mut r)];
    let big = vec![b'x'; 32 << 20];
    assert_eq!(m.cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    wait_for("the big value replicated", Duration::from_secs(20), || {
        offset(&mut r) == offset(&mut m) && r.cmd_str(&["STRLEN", "big"]) == b":33554432\r\n"
    });
    m.cmd_str(&["DEL", "big"]);
    wait_for("the delete replicated", Duration::from_secs(20), || {
        offset(&mut r) == offset(&mut m) && r.cmd_str(&["EXISTS", "big"]) == b":0\r\n"
    });
    // Lazy freeing may lag a moment.
    wait_for("memory given back", Duration::from_secs(10), || {
        let after = [used_memory(&mut m), used_memory(&mut r)];
        after.iter().zip(before).all(|(a, b)| a - b < 8 << 20)
    });
}

#[test]
fn big_write_is_not_held_after_replication() {
    let Some(redis_master) = start_redis(&[]) else {
        return;
    };
    let redis_replica = start_redis(&[]).expect("redis-server");
    check_big_write_released(&redis_master, &redis_replica);
    check_big_write_released(&start_larder(&[]), &start_larder(&[]));
}

fn info_i64(c: &mut RawClient, field: &str) -> i64 {
    info_field(c, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO replication {field}"))
}

/// CLIENT PAUSE WRITE on a replica holds its master's stream too: read
/// (`slave_read_repl_offset` reaches the master's) but not applied
/// (`slave_repl_offset` and the data stay) until the pause ends.
fn check_pause_holds_the_stream(name: &str, master: &ServerProc, replica: &ServerProc) {
    let (mut m, mut r) = (master.client(), replica.client());
    m.cmd_str(&["FLUSHALL"]);
    replicaof(&mut r, master);
    link_up(&mut r);
    m.cmd_str(&["SET", "foo", "bar"]);
    wait_for("in sync", Duration::from_secs(10), || {
        info_i64(&mut r, "slave_repl_offset") == offset(&mut m)
    });
    let applied = offset(&mut m);
    r.cmd_str(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    m.cmd_str(&["SET", "foo2", "bar2"]);
    wait_for("the write read", Duration::from_secs(10), || {
        info_i64(&mut r, "slave_read_repl_offset") == offset(&mut m)
    });
    assert_eq!(info_i64(&mut r, "slave_repl_offset"), applied, "{name}");
    assert_eq!(r.cmd_str(&["GET", "foo2"]), b"$-1\r\n", "{name}");
    r.cmd_str(&["CLIENT", "UNPAUSE"]);
    wait_for("the write applied", Duration::from_secs(10), || {
        info_i64(&mut r, "slave_repl_offset") == offset(&mut m)
    });
    assert_eq!(r.cmd_str(&["GET", "foo2"]), b"$4\r\nbar2\r\n");
}

#[test]
fn paused_replica_reads_but_does_not_apply() {
    let Some(redis_master) = start_redis(&[]) else {
        return;
    };
    let redis_replica = start_redis(&[]).expect("redis-server");
    check_pause_holds_the_stream("redis", &redis_master, &redis_replica);
    check_pause_holds_the_stream("larder of redis", &redis_master, &start_larder(&[]));
    check_pause_holds_the_stream("larder of larder", &start_larder(&[]), &start_larder(&[]));
}

/// Names of the temp files (`temp-*`) left in a server's directory.
fn temp_files(s: &ServerProc) -> Vec<String> {
    std::fs::read_dir(&s.dir)
        .expect("server dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("temp-"))
        .collect()
}

/// A full sync never holds the RDB whole in memory. 150 MB of values that
/// do not compress go: streamed as the snapshot is taken to a Larder
/// replica (which reads the EOF format into a temp file), then, under
/// `repl-diskless-sync no`, from a temp file with their length to a Redis
/// replica. The master's peak memory grows by far less than the RDB each
/// time, the replica's stays near the dataset's, the data arrive whole,
/// the replica keeps the RDB as its `dump.rdb`, and no temp file stays.
#[test]
fn full_syncs_never_hold_the_rdb_whole() {
    const KEYS: usize = 1500;
    const SIZE: usize = 100_000;
    let master = start_larder(&["--enable-debug-command", "yes"]);
    let mut m = master.client();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for batch in 0..KEYS / 50 {
        let mut pipeline = Vec::new();
        for i in 0..50 {
            let value: Vec<u8> = (0..SIZE / 8)
                .flat_map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()
                })
                .collect();
            let key = format!("big:{}", batch * 50 + i);
            pipeline.extend(common::encode_command(&[b"SET", key.as_bytes(), &value]));
        }
        m.send_raw(&pipeline);
        for _ in 0..50 {
            assert_eq!(m.read_reply(), b"+OK\r\n");
        }
    }
    let dataset = master.memory("VmRSS");
    const BOUND: u64 = 50 << 20;

    // Syncs `replica`; how much the master's peak memory grew meanwhile.
    let sync = |m: &mut RawClient, replica: &ServerProc| {
        let before = master.memory("VmHWM");
        let mut r = replica.client();
        replicaof(&mut r, &master);
        link_up(&mut r);
        wait_same_digest(m, &mut r);
        master.memory("VmHWM").saturating_sub(before)
    };

    let replica = start_larder(&["--enable-debug-command", "yes"]);
    let grown = sync(&mut m, &replica);
    assert!(
        grown < BOUND,
        "streamed: the master's peak grew {grown} bytes"
    );
    let peak = replica.memory("VmHWM");
    assert!(
        peak < dataset + BOUND,
        "the replica peaked at {peak} bytes for a dataset of {dataset}"
    );
    assert!(replica.dir.join("dump.rdb").exists());
    assert_eq!(temp_files(&replica), Vec::<String>::new());

    assert_eq!(
        m.cmd_str(&["CONFIG", "SET", "repl-diskless-sync", "no"]),
        b"+OK\r\n"
    );
    let Some(redis) = start_redis(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let grown = sync(&mut m, &redis);
    assert!(
        grown < BOUND,
        "from disk: the master's peak grew {grown} bytes"
    );
    assert_eq!(temp_files(&master), Vec::<String>::new());
    assert_eq!(stat(&mut m, "sync_full"), 2);
}

/// A replication link carries no replies: a replica that sends anything
/// but REPLCONF is dropped, with Redis's log lines, and a command that
/// touches the keyspace is refused too (Redis's CRITICAL line). A PSYNC
/// with an offset that is not a number is refused and logged.
#[test]
fn replicas_sending_commands_are_dropped() {
    let master = start_larder(&[]);
    let mut m = master.client();
    m.cmd_str(&["SET", "foo", "bar"]);
    for (cmd, name) in [
        ("PING", "ping"),
        ("GET foo", "get"),
        ("XINFO HELP", "xinfo|help"),
    ] {
        let (mut s, _) = attach(master.port);
        s.write_all(format!("{cmd}\r\n").as_bytes()).expect("send");
        let mut tmp = [0u8; 4096];
        let start = Instant::now();
        while s.read(&mut tmp).expect("read until closed") > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{cmd}: never dropped"
            );
        }
        let line = format!("Replica generated a reply to command '{name}', disconnecting it");
        wait_for(&line, Duration::from_secs(5), || {
            master.log().contains(&line)
        });
    }
    let critical = "This master is sending an error to its replica: \
                    'Replica can't interact with the keyspace'";
    assert!(master.log().contains(critical));
    assert_eq!(
        m.cmd_str(&["PSYNC", "replicationid", "offset_str"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert!(master
        .log()
        .contains("asks for synchronization but with a wrong offset"));
    assert_eq!(m.cmd_str(&["PING"]), b"+PONG\r\n");
}

/// A replica loading its master's RDB answers `-LOADING`, as Redis's do,
/// instead of holding its clients until the load ends (`key-load-delay`
/// slows the load down), then serves the data.
#[test]
fn a_replica_answers_loading_while_it_loads() {
    let master = start_larder(&["--enable-debug-command", "yes"]);
    let mut m = master.client();
    assert_eq!(m.cmd_str(&["DEBUG", "POPULATE", "2000"]), b"+OK\r\n");
    let replica = start_larder(&[
        "--key-load-delay",
        "500",
        "--loading-process-events-interval-bytes",
        "1024",
    ]);
    let mut r = replica.client();
    replicaof(&mut r, &master);
    let mut saw_loading = false;
    wait_for("the loaded data", Duration::from_secs(20), || {
        let reply = r.cmd_str(&["DBSIZE"]);
        saw_loading |= reply.starts_with(b"-LOADING");
        reply == b":2000\r\n"
    });
    assert!(saw_loading, "never answered LOADING");
}

//! Differential tests of pub/sub and keyspace notifications: the raw bytes
//! of (un)subscribe confirmations, messages and PUBSUB introspection across
//! a subscriber and a publisher, in RESP2 and RESP3; the subscribed-mode
//! rules; keyspace events for a scripted sequence including expiry; and a
//! subscriber that stops reading being cut off at
//! `client-output-buffer-limit pubsub` without hurting anyone else.

mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::pair::Pair;
use common::{encode_command, esc, Cmp, DiffSession, RawClient};

macro_rules! session {
    ($args:expr) => {
        match DiffSession::start($args) {
            Some(s) => s,
            None => return,
        }
    };
}

#[test]
fn subscribe_publish_unsubscribe_resp2() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut publ = Pair::new(&s, "publisher");

    sub.case(&["SUBSCRIBE"]);
    sub.case(&["PSUBSCRIBE"]);
    sub.case(&["SSUBSCRIBE"]);
    // Not subscribed: UNSUBSCRIBE answers a nil channel and 0.
    sub.case(&["UNSUBSCRIBE"]);
    sub.case(&["PUNSUBSCRIBE"]);
    sub.case(&["SUNSUBSCRIBE"]);
    sub.case(&["UNSUBSCRIBE", "nosuch"]);
    sub.case(&["PING"]);

    sub.case_n(&["SUBSCRIBE", "news", "sport", "news"], 3);
    // Subscribed RESP2 context: only a few commands are allowed.
    sub.case(&["GET", "x"]);
    sub.case(&["SET", "x", "1"]);
    sub.case(&["CONFIG", "GET", "maxmemory"]);
    sub.case(&["PUBSUB", "NUMSUB", "news"]);
    sub.case(&["PUBLISH", "news", "x"]);
    sub.case(&["NOSUCHCOMMAND"]);
    sub.case(&["GET"]);
    sub.case(&["PING"]);
    sub.case(&["PING", "hello"]);
    sub.case(&["PING", "a", "b"]);

    publ.case(&["PUBLISH", "news", "hello"]);
    sub.pushes(1, "message on news");
    publ.case(&["PUBLISH", "nobody", "hello"]);
    publ.case(&["PUBLISH", "sport", ""]);
    sub.pushes(1, "empty message on sport");
    publ.case(&["PUBLISH", "news", "bin\r\n\x00ary"]);
    sub.pushes(1, "binary message");

    sub.case(&["PSUBSCRIBE", "n*s"]);
    sub.case(&["PSUBSCRIBE", "n*s"]);
    // The channel's subscribers first, then the matching patterns'.
    publ.case(&["PUBLISH", "news", "both"]);
    sub.pushes(2, "message + pmessage");
    publ.case(&["PUBLISH", "nests", "pattern only"]);
    sub.pushes(1, "pmessage");

    publ.case(&["PUBSUB", "NUMSUB"]);
    publ.case(&["PUBSUB", "NUMSUB", "news", "sport", "nope", "n*s"]);
    publ.case(&["PUBSUB", "NUMPAT"]);
    publ.case_with(&["PUBSUB", "CHANNELS"], Cmp::Sorted);
    publ.case(&["PUBSUB", "CHANNELS", "n*"]);
    publ.case(&["PUBSUB", "CHANNELS", "zz*"]);
    publ.case(&["PUBSUB", "NUMPAT", "extra"]);
    publ.case(&["PUBSUB", "CHANNELS", "a", "b"]);
    publ.case(&["PUBSUB"]);
    publ.case(&["PUBSUB", "nosuch"]);
    publ.case(&["PUBSUB", "HELP"]);
    publ.case(&["PUBLISH", "news"]);

    sub.case(&["UNSUBSCRIBE", "news", "nosuch"]);
    sub.pushes(1, "second reply of UNSUBSCRIBE");
    publ.case(&["PUBLISH", "news", "pattern still"]);
    sub.pushes(1, "pmessage after unsubscribe");
    sub.case(&["UNSUBSCRIBE"]);
    sub.case(&["UNSUBSCRIBE"]);
    // Still in subscribed mode while a pattern remains.
    sub.case(&["GET", "x"]);
    sub.case(&["PUNSUBSCRIBE"]);
    sub.case(&["GET", "x"]);
    sub.case(&["PING"]);
    publ.case(&["PUBSUB", "NUMPAT"]);
    publ.case(&["PUBLISH", "news", "nobody"]);
    sub.quiet(Duration::from_millis(100));
}

#[test]
fn shard_channels() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut publ = Pair::new(&s, "publisher");
    sub.case_n(&["SSUBSCRIBE", "a", "b"], 2);
    sub.case(&["GET", "x"]);
    publ.case(&["SPUBLISH", "a", "one"]);
    sub.pushes(1, "smessage");
    // PUBLISH does not reach shard channels, nor SPUBLISH plain ones.
    publ.case(&["PUBLISH", "a", "one"]);
    publ.case(&["PUBSUB", "SHARDNUMSUB", "a", "b", "c"]);
    publ.case_with(&["PUBSUB", "SHARDCHANNELS"], Cmp::Sorted);
    publ.case(&["PUBSUB", "SHARDCHANNELS", "a*"]);
    publ.case(&["PUBSUB", "CHANNELS"]);
    sub.case(&["SUBSCRIBE", "c"]);
    publ.case(&["SPUBLISH", "c", "x"]);
    sub.case(&["SUNSUBSCRIBE", "a"]);
    sub.case(&["SUNSUBSCRIBE"]);
    sub.case(&["SUNSUBSCRIBE"]);
    sub.case(&["GET", "x"]);
    sub.case(&["UNSUBSCRIBE"]);
    sub.case(&["GET", "x"]);
    publ.case(&["PUBSUB", "SHARDNUMSUB", "a"]);
    sub.quiet(Duration::from_millis(100));
}

#[test]
fn subscribe_resp3_pushes_mixed_with_replies() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut publ = Pair::new(&s, "publisher");
    sub.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    sub.case(&["UNSUBSCRIBE"]);
    sub.case_n(&["SUBSCRIBE", "ch", "other"], 2);
    // RESP3: any command may run while subscribed.
    sub.case(&["SET", "k", "v"]);
    sub.case(&["GET", "k"]);
    sub.case(&["PING"]);
    publ.case(&["PUBLISH", "ch", "hi"]);
    sub.pushes(1, "push message");
    // A message to itself comes before PUBLISH's reply.
    sub.case(&["PUBLISH", "ch", "self"]);
    sub.pushes(1, "PUBLISH reply after the push");
    sub.case(&["PSUBSCRIBE", "c?"]);
    publ.case(&["PUBLISH", "ch", "two"]);
    sub.pushes(2, "message + pmessage");
    sub.case(&["PUBSUB", "NUMSUB", "ch"]);
    sub.case(&["UNSUBSCRIBE", "ch"]);
    sub.case(&["PUNSUBSCRIBE", "c?"]);
    sub.case(&["UNSUBSCRIBE"]);
    sub.case(&["UNSUBSCRIBE"]);
    sub.case(&["SSUBSCRIBE", "s"]);
    publ.case(&["SPUBLISH", "s", "x"]);
    sub.pushes(1, "smessage push");
    sub.case(&["SUNSUBSCRIBE"]);
    sub.quiet(Duration::from_millis(100));
}

#[test]
fn reset_and_close_drop_subscriptions() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut publ = Pair::new(&s, "publisher");
    sub.case_n(&["SUBSCRIBE", "r1"], 1);
    sub.case(&["PSUBSCRIBE", "r*"]);
    sub.case(&["RESET"]);
    sub.case(&["GET", "x"]);
    publ.case(&["PUBLISH", "r1", "x"]);
    publ.case(&["PUBSUB", "NUMPAT"]);
    publ.case(&["PUBSUB", "NUMSUB", "r1"]);
    sub.quiet(Duration::from_millis(100));

    let mut gone = Pair::new(&s, "closing subscriber");
    gone.case_n(&["SUBSCRIBE", "r2"], 1);
    gone.case(&["PSUBSCRIBE", "x*"]);
    drop(gone);
    // The close is noticed asynchronously by both servers.
    for c in [&mut publ.larder, &mut publ.redis] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.cmd_str(&["PUBLISH", "r2", "x"]) != b":0\r\n" {
            assert!(
                Instant::now() < deadline,
                "closed subscriber still receives"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    publ.case(&["PUBSUB", "NUMPAT"]);
    publ.case(&["PUBSUB", "NUMSUB", "r2"]);
}

#[test]
fn notify_keyspace_events_config() {
    let mut s = session!(&[]);
    s.case(&["CONFIG", "GET", "notify-keyspace-events"]);
    for flags in [
        "KEA",
        "AKE",
        "K",
        "E",
        "g$",
        "Elshzxetd",
        "gKEm",
        "nK",
        "A",
        "Ag$lshzxeKEtmdn",
        "",
        "Q",
        "KE ",
        "KEA1",
    ] {
        s.case(&["CONFIG", "SET", "notify-keyspace-events", flags]);
        s.case(&["CONFIG", "GET", "notify-keyspace-events"]);
    }
}

#[test]
fn keyspace_notifications_for_a_script() {
    let s = session!(&["--notify-keyspace-events", "KEA"]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut w = Pair::new(&s, "writer");
    sub.case(&["PSUBSCRIBE", "__key*@0__:*"]);
    let script: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["SET", "k", "v2", "EX", "100"],
        &["SET", "k", "v3", "KEEPTTL"],
        &["SETNX", "k", "no"],
        &["SET", "k", "v", "NX"],
        &["APPEND", "k", "xx"],
        &["APPEND", "new", "xx"],
        &["SETRANGE", "k", "1", "ZZ"],
        &["SETRANGE", "k", "1", ""],
        &["INCR", "n"],
        &["INCRBY", "n", "5"],
        &["DECR", "n"],
        &["DECRBY", "n", "2"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["GETSET", "k", "g"],
        &["MSET", "a", "1", "b", "2"],
        &["MSETNX", "a", "1", "c", "2"],
        &["MSETNX", "d", "1", "e", "2"],
        &["SETEX", "s", "100", "v"],
        &["PSETEX", "s", "100000", "v"],
        &["GETEX", "s", "PERSIST"],
        &["GETEX", "s", "EX", "100"],
        &["GETEX", "s", "PXAT", "1"],
        &["GETDEL", "a"],
        &["GETDEL", "a"],
        &["EXPIRE", "b", "100"],
        &["PERSIST", "b"],
        &["PERSIST", "b"],
        &["EXPIRE", "b", "-1"],
        &["EXPIRE", "nosuch", "10"],
        &["RENAME", "k", "k2"],
        &["RENAME", "n", "k2"],
        &["RENAMENX", "k2", "f"],
        &["RENAME", "f", "f"],
        &["DEL", "k2", "nosuch", "f", "c"],
        &["UNLINK", "d", "e"],
        &["SET", "src", "v"],
        &["COPY", "src", "dst"],
        &["MOVE", "dst", "1"],
        &["GET", "nosuch"],
        &["INCR", "k2"],
        &["SET", "big", "v"],
        &["INCRBY", "big", "1"],
    ];
    for cmd in script {
        w.case(cmd);
    }
    // Expiry: reclaimed lazily or actively, "expired" either way, once.
    // One key at a time: active expiry reclaims keys in random order.
    w.case(&["SET", "t", "v", "PX", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    w.case(&["GET", "t"]);
    w.case(&["PEXPIRE", "src", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    w.case(&["EXISTS", "src"]);
    w.case(&["SET", "end", "1"]);
    // Everything the subscriber got, in order, byte for byte.
    let (l, l_closed) = sub
        .larder
        .read_until_close_or_quiet(Duration::from_millis(300), Duration::from_secs(5));
    let (r, r_closed) = sub
        .redis
        .read_until_close_or_quiet(Duration::from_millis(300), Duration::from_secs(5));
    assert!(!l_closed && !r_closed);
    sub.check_stream("keyspace events of the script", &l, &r);
    assert!(
        r.windows(7).any(|w| w == b"expired"),
        "the script produced no expired event"
    );
}

#[test]
fn keyspace_notifications_for_collections() {
    let s = session!(&["--notify-keyspace-events", "KEAn"]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut w = Pair::new(&s, "writer");
    sub.case(&["PSUBSCRIBE", "__key*@0__:*"]);
    let script: &[&[&str]] = &[
        &["LPUSH", "l", "a", "b", "c"],
        &["RPUSH", "l", "d"],
        &["LPUSHX", "nol", "x"],
        &["RPUSHX", "l", "e"],
        &["LPOP", "l"],
        &["RPOP", "l", "2"],
        &["LPOP", "l", "0"],
        &["LSET", "l", "0", "z"],
        &["LINSERT", "l", "BEFORE", "z", "y"],
        &["LINSERT", "l", "BEFORE", "nope", "y"],
        &["LREM", "l", "1", "y"],
        &["LREM", "l", "1", "nope"],
        &["LTRIM", "l", "0", "0"],
        &["RPUSH", "l2", "1"],
        &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "l2", "l3"],
        &["LMPOP", "2", "nol", "l2", "LEFT", "COUNT", "5"],
        &["LTRIM", "l3", "5", "10"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["HMSET", "h", "f", "v"],
        &["HSETNX", "h", "f", "v"],
        &["HSETNX", "h", "n", "v"],
        &["HINCRBY", "h", "c", "1"],
        &["HINCRBYFLOAT", "h", "d", "1.5"],
        &["HDEL", "h", "f", "nope"],
        &["HDEL", "h", "nope"],
        &["HDEL", "h", "g", "n", "c", "d"],
        &["SADD", "s", "a", "b", "c"],
        &["SADD", "s", "a"],
        &["SREM", "s", "a", "z"],
        &["SREM", "s", "z"],
        &["SADD", "p", "x"],
        &["SPOP", "p"],
        &["SADD", "s2", "m"],
        &["SMOVE", "s", "s2", "b"],
        &["SMOVE", "s", "s2", "nope"],
        &["SMOVE", "s", "s3", "c"],
        &["SINTERSTORE", "d", "s2", "s2"],
        &["SUNIONSTORE", "d", "s2", "nosuch"],
        &["SDIFFSTORE", "d", "s2", "s2"],
        &["SINTERSTORE", "d", "nosuch"],
        &["SET", "str", "v"],
        &["SINTERSTORE", "str", "nosuch"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["ZADD", "z", "1", "a"],
        &["ZADD", "z", "XX", "5", "nope"],
        &["ZINCRBY", "z", "1", "a"],
        &["ZADD", "z", "INCR", "1", "b"],
        &["ZREM", "z", "a", "nope"],
        &["ZREM", "z", "nope"],
        &["ZADD", "z", "5", "e", "6", "f", "7", "g"],
        &["ZREMRANGEBYRANK", "z", "0", "0"],
        &["ZREMRANGEBYSCORE", "z", "4", "4"],
        &["ZREMRANGEBYLEX", "z", "[nope", "[nope"],
        &["ZPOPMIN", "z"],
        &["ZPOPMAX", "z", "1"],
        &["ZPOPMAX", "z", "0"],
        &["ZRANGESTORE", "zr", "z", "0", "-1"],
        &["ZRANGESTORE", "zr", "z", "5", "10"],
        &["ZUNIONSTORE", "zu", "2", "z", "nosuch"],
        &["ZINTERSTORE", "zu", "2", "z", "z"],
        &["ZDIFFSTORE", "zu", "2", "z", "z"],
        &["ZMPOP", "2", "nosuch", "z", "MIN", "COUNT", "10"],
        &["ZADD", "y", "1", "m"],
        &["ZREMRANGEBYSCORE", "y", "-inf", "+inf"],
        &["SETBIT", "bm", "7", "1"],
        &["SETBIT", "bm", "7", "1"],
        &["BITFIELD", "bm", "SET", "u8", "0", "255", "GET", "u4", "0"],
        &["BITFIELD", "bm", "GET", "u4", "0"],
        &[
            "BITFIELD", "bm", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "10",
        ],
        &["BITOP", "AND", "bd", "bm", "bm"],
        &["BITOP", "AND", "bd", "nosuch"],
        &["BITOP", "AND", "bd", "nosuch"],
        &["PFADD", "hl", "a", "b"],
        &["PFADD", "hl", "a"],
        &["PFADD", "hl2", "c"],
        &["PFMERGE", "hl3", "hl", "hl2"],
        &["RPUSH", "sl", "3", "1", "2"],
        &["SORT", "sl", "STORE", "sd"],
        &["SORT", "nosuch", "STORE", "sd"],
        &["SORT", "nosuch", "STORE", "sd"],
    ];
    for cmd in script {
        w.case(cmd);
    }
    w.case(&["SADD", "q", "1", "2"]);
    w.case_with(&["SPOP", "q", "5"], Cmp::Sorted);
    w.case(&["SET", "end", "1"]);
    let (l, _) = sub
        .larder
        .read_until_close_or_quiet(Duration::from_millis(300), Duration::from_secs(5));
    let (r, _) = sub
        .redis
        .read_until_close_or_quiet(Duration::from_millis(300), Duration::from_secs(5));
    sub.check_stream("keyspace events of collections", &l, &r);
    for ev in [
        &b"$5\r\nlpush"[..],
        b"$5\r\nltrim",
        b"$4\r\nhdel",
        b"$4\r\nspop",
        b"$3\r\nnew",
        b"$5\r\nzincr",
        b"$4\r\nzrem",
        b"$6\r\nsetbit",
        b"$5\r\npfadd",
        b"$9\r\nsortstore",
    ] {
        assert!(r.windows(ev.len()).any(|w| w == ev), "no {} event", esc(ev));
    }
}

#[test]
fn keyspace_notification_classes() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut w = Pair::new(&s, "writer");
    sub.case(&["PSUBSCRIBE", "__key*__:*"]);
    for flags in ["Eg", "K$", "En", "Em", "Kx", "g$", "E$", "A"] {
        w.case(&["CONFIG", "SET", "notify-keyspace-events", flags]);
        w.case(&["SELECT", "3"]);
        w.case(&["SET", "key", "1"]);
        w.case(&["INCR", "key"]);
        w.case(&["GET", "missing"]);
        w.case(&["EXPIRE", "key", "100"]);
        w.case(&["DEL", "key"]);
        w.case(&["SET", "key", "1", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(20));
        w.case(&["GET", "key"]);
        w.case(&["SELECT", "0"]);
        w.case(&["SET", "marker", flags]);
        let (l, _) = sub
            .larder
            .read_until_close_or_quiet(Duration::from_millis(200), Duration::from_secs(5));
        let (r, _) = sub
            .redis
            .read_until_close_or_quiet(Duration::from_millis(200), Duration::from_secs(5));
        sub.check_stream(&format!("events with flags {flags}"), &l, &r);
    }
}

// ---------------------------------------------------------------------------
// Output buffer limit for subscribers
// ---------------------------------------------------------------------------

fn info_field(c: &mut RawClient, section: &str, field: &str) -> Option<u64> {
    let reply = c.cmd_str(&["INFO", section]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
}

/// Subscribes on a raw socket with a small receive buffer, then never reads.
fn stalled_subscriber(port: u16, channel: &str) -> TcpStream {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(64 * 1024).ok();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = sock.into();
    stream
        .write_all(&encode_command(&[b"SUBSCRIBE", channel.as_bytes()]))
        .expect("subscribe");
    let mut buf = [0u8; 64];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let n = stream.read(&mut buf).expect("subscribe confirmation");
    assert!(buf[..n].starts_with(b"*3\r\n$9\r\nsubscribe"));
    stream
}

/// Whether the server closed `s` (reads and discards what is pending).
fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

fn check_slow_subscriber_cut_off(server: &common::ServerProc) {
    let port = server.port;
    let mut other = RawClient::connect(port);
    let mut stalled = stalled_subscriber(port, "flood");
    let mut reader = RawClient::connect(port);
    assert!(reader.cmd_str(&["SUBSCRIBE", "flood"]).starts_with(b"*3"));
    let mut publisher = RawClient::connect(port);
    let payload = vec![b'x'; 64 * 1024];
    let start = Instant::now();
    let mut cut_after = None;
    // 64 KB messages: the stalled subscriber must be dropped long before
    // 64 MB (1 MB hard limit plus what the kernel buffers).
    for i in 0..1000 {
        let r = publisher.cmd(&[b"PUBLISH", b"flood", &payload]);
        // The live subscriber keeps up.
        let msg = reader.read_reply();
        assert!(msg.len() > payload.len() && msg.ends_with(b"x\r\n"));
        if r == b":1\r\n" {
            cut_after = Some(i);
            break;
        }
        assert_eq!(r, b":2\r\n", "PUBLISH reply");
    }
    let cut_after = cut_after.expect("stalled subscriber never disconnected");
    assert!(cut_after < 300, "cut off only after {cut_after} messages");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "publisher was slowed down: {:?}",
        start.elapsed()
    );
    assert!(closed_by_server(&mut stalled, Duration::from_secs(5)));
    // Others are unaffected.
    assert_eq!(other.cmd_str(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        publisher.cmd_str(&["PUBSUB", "NUMSUB", "flood"]),
        b"*2\r\n$5\r\nflood\r\n:1\r\n"
    );
    assert_eq!(publisher.cmd_str(&["PUBLISH", "flood", "after"]), b":1\r\n");
    assert!(reader.read_reply().ends_with(b"$5\r\nafter\r\n"));
    let used = info_field(&mut other, "memory", "used_memory").expect("used_memory");
    assert!(used < 64 << 20, "used_memory {used} after the flood");
}

#[test]
fn slow_subscriber_is_cut_off_at_pubsub_limit() {
    let limit = ["--client-output-buffer-limit", "pubsub 1mb 512kb 1"];
    let Some(redis) = common::start_redis(&limit) else {
        return;
    };
    check_slow_subscriber_cut_off(&redis);
    let larder = common::start_larder(&limit);
    check_slow_subscriber_cut_off(&larder);
}

/// The soft limit: past 512 KB for more than 1 s, without reaching the hard limit.
fn check_soft_limit(server: &common::ServerProc) {
    let port = server.port;
    let mut stalled = stalled_subscriber(port, "soft");
    let mut publisher = RawClient::connect(port);
    let payload = vec![b'y'; 64 * 1024];
    let start = Instant::now();
    let mut cut = false;
    // ~1.3 MB/s: crosses 512 KB (once the kernel buffers are full) and
    // stays under the 100 MB hard limit for the whole run.
    while start.elapsed() < Duration::from_secs(30) {
        let r = publisher.cmd(&[b"PUBLISH", b"soft", &payload]);
        if r == b":0\r\n" {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cut, "soft limit never applied");
    assert!(closed_by_server(&mut stalled, Duration::from_secs(5)));
}

#[test]
fn slow_subscriber_soft_limit() {
    let limit = ["--client-output-buffer-limit", "pubsub 100mb 512kb 1"];
    let Some(redis) = common::start_redis(&limit) else {
        return;
    };
    check_soft_limit(&redis);
    let larder = common::start_larder(&limit);
    check_soft_limit(&larder);
}

#[test]
fn evicted_events_and_info_counts() {
    let s = session!(&[
        "--maxmemory",
        "4mb",
        "--maxmemory-policy",
        "allkeys-random",
        "--notify-keyspace-events",
        "Ee",
    ]);
    let mut sub = Pair::new(&s, "subscriber");
    sub.case(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    sub.case(&["PSUBSCRIBE", "nothing*"]);
    let mut w = Pair::new(&s, "writer");
    for (name, want) in [
        ("pubsub_channels", 1),
        ("pubsub_patterns", 1),
        ("pubsubshard_channels", 0),
    ] {
        assert_eq!(
            info_field(&mut w.larder, "stats", name),
            Some(want),
            "{name}"
        );
        assert_eq!(
            info_field(&mut w.redis, "stats", name),
            Some(want),
            "{name}"
        );
    }
    let value = "v".repeat(1024);
    for i in 0..8000 {
        let key = format!("key:{i}");
        for c in [&mut w.larder, &mut w.redis] {
            let r = c.cmd_str(&["SET", &key, &value]);
            assert!(r == b"+OK\r\n", "SET {key}: {}", esc(&r));
        }
    }
    for (name, c) in [("larder", &mut sub.larder), ("redis", &mut sub.redis)] {
        let first = c.read_reply();
        let head = b"*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted\r\n$";
        assert!(
            first.starts_with(head) && first.windows(4).any(|w| w == b"key:"),
            "{name}: {}",
            esc(&first)
        );
    }
}

/// The CLIENT LIST fields that must agree: flags, sub, psub, ssub, cmd.
fn client_fields(reply: &[u8]) -> Vec<Vec<u8>> {
    let text = common::scalar_payload(reply).unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .map(|line| {
            line.split(' ')
                .filter(|f| {
                    ["flags=", "sub=", "psub=", "ssub=", "cmd="]
                        .iter()
                        .any(|p| f.starts_with(p))
                })
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes()
        })
        .collect()
}

#[test]
fn client_list_and_kill_by_pubsub_type() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut w = Pair::new(&s, "writer");
    sub.case_n(&["SUBSCRIBE", "a", "b"], 2);
    sub.case(&["PSUBSCRIBE", "x*"]);
    sub.case(&["SSUBSCRIBE", "s"]);
    w.send(&["CLIENT", "LIST", "TYPE", "pubsub"]);
    let (l, r) = (w.larder.read_reply(), w.redis.read_reply());
    assert_eq!(
        client_fields(&l),
        client_fields(&r),
        "CLIENT LIST TYPE pubsub: {} vs {}",
        esc(&l),
        esc(&r)
    );
    assert_eq!(client_fields(&r).len(), 1);
    w.send(&["CLIENT", "LIST", "TYPE", "normal"]);
    let (l, r) = (w.larder.read_reply(), w.redis.read_reply());
    let (mut l, mut r) = (client_fields(&l), client_fields(&r));
    l.sort();
    r.sort();
    assert_eq!(l, r, "CLIENT LIST TYPE normal");
    w.case(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(sub.larder.is_closed_within(Duration::from_secs(2)));
    assert!(sub.redis.is_closed_within(Duration::from_secs(2)));
    w.case(&["PUBSUB", "NUMSUB", "a"]);
    w.case(&["CLIENT", "KILL", "TYPE", "pubsub"]);
}

#[test]
fn command_introspection_of_pubsub_commands() {
    let s = session!(&[]);
    let mut c = Pair::new(&s, "client");
    for name in [
        "subscribe",
        "unsubscribe",
        "psubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "publish",
        "spublish",
    ] {
        c.case(&["COMMAND", "INFO", name]);
    }
    c.case(&["COMMAND", "GETKEYS", "spublish", "ch", "msg"]);
    c.case(&["COMMAND", "GETKEYSANDFLAGS", "ssubscribe", "a", "b"]);
    c.case(&["COMMAND", "GETKEYS", "publish", "ch", "msg"]);
}

/// CONFIG SET maxmemory evicts at once (Redis's updateMaxmemory), also a
/// lone key in a database other than 0 (Redis's TCL "evicted events").
#[test]
fn config_set_maxmemory_evicts_at_once() {
    let mut s = session!(&[]);
    let (mut sl, mut sr) = s.new_clients();
    s.run(&[
        &["SELECT", "9"],
        &["CONFIG", "SET", "notify-keyspace-events", "Ee"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        &["FLUSHALL"],
    ]);
    for c in [&mut sl, &mut sr] {
        assert_eq!(
            c.cmd_str(&["PSUBSCRIBE", "*"]),
            b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n"
        );
    }
    s.run(&[&["SET", "foo", "bar"], &["CONFIG", "SET", "maxmemory", "1"]]);
    let want = b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$22\r\n__keyevent@9__:evicted\r\n$3\r\nfoo\r\n";
    for c in [&mut sl, &mut sr] {
        let got = c.read_reply_timeout(Duration::from_secs(5));
        assert_eq!(got.as_deref().map(esc), Some(esc(want)));
    }
    s.run(&[&["CONFIG", "SET", "maxmemory", "0"], &["DBSIZE"]]);
}

//! Client-side caching (CLIENT TRACKING), compared byte for byte with Redis:
//! invalidations in RESP3 on the same connection and in RESP2 redirected to
//! a subscriber, the tracking client's own writes (after its reply), NOLOOP,
//! BCAST with prefixes (one message per prefix after a MULTI), OPTIN/OPTOUT
//! with CLIENT CACHING, FLUSHALL's null invalidation, TRACKINGINFO, GETREDIR
//! and every option error. Larder-only: a broken redirect, the key-table
//! limit, INFO counters, and the race that matters for correctness — a
//! reader that caches what it reads while a writer hammers the key must end
//! with the final value.

mod common;
use std::time::Duration;

use common::pair::Pair;
use common::{esc, DiffSession, RawClient};

macro_rules! session {
    ($args:expr) => {
        match DiffSession::start($args) {
            Some(s) => s,
            None => return,
        }
    };
}

const QUIET: Duration = Duration::from_millis(150);

/// Each side's connection id (ids differ between the servers).
fn ids(p: &mut Pair) -> (String, String) {
    let id = |c: &mut RawClient| {
        let r = c.cmd_str(&["CLIENT", "ID"]);
        String::from_utf8_lossy(&r[1..r.len() - 2]).into_owned()
    };
    (id(&mut p.larder), id(&mut p.redis))
}

/// `CLIENT TRACKING on REDIRECT <that side's id> extra...` on both sides.
fn track_redirect(p: &mut Pair, to: &(String, String), extra: &[&str]) {
    let mut l = vec!["CLIENT", "TRACKING", "on", "REDIRECT", &to.0];
    let mut r = vec!["CLIENT", "TRACKING", "on", "REDIRECT", &to.1];
    l.extend_from_slice(extra);
    r.extend_from_slice(extra);
    let (a, b) = (p.larder.cmd_str(&l), p.redis.cmd_str(&r));
    p.check("CLIENT TRACKING on REDIRECT", common::Cmp::Exact, &a, &b);
}

#[test]
fn resp2_redirect_to_a_subscriber() {
    let s = session!(&[]);
    let mut sub = Pair::new(&s, "subscriber");
    let mut r = Pair::new(&s, "tracker");
    let mut w = Pair::new(&s, "writer");
    let sub_ids = ids(&mut sub);
    sub.case(&["SUBSCRIBE", "__redis__:invalidate"]);
    track_redirect(&mut r, &sub_ids, &[]);
    r.case(&["SET", "a", "1"]);
    r.case(&["SET", "b", "1"]);
    r.case(&["GET", "a"]);
    // b was not read: no invalidation for it.
    w.case(&["INCR", "b"]);
    w.case(&["INCR", "a"]);
    sub.pushes(1, "invalidate a");
    // Invalidated once: a second change needs a second read.
    w.case(&["INCR", "a"]);
    sub.quiet(QUIET);
    r.case(&["MGET", "a", "b", "c"]);
    w.case(&["DEL", "a", "b", "c"]);
    sub.pushes(2, "invalidate a, b (c did not exist)");
    r.case(&["GET", "x"]);
    w.case(&["SET", "x", "1"]);
    sub.pushes(1, "invalidate of a key read while missing");
    // Expiry and FLUSHALL.
    r.case(&["SET", "e", "v", "PX", "50"]);
    r.case(&["GET", "e"]);
    std::thread::sleep(Duration::from_millis(120));
    w.case(&["GET", "e"]);
    sub.pushes(1, "invalidate on expiry");
    r.case(&["GET", "f"]);
    w.case(&["FLUSHALL"]);
    sub.pushes(1, "flushall: null invalidation");
    r.case_with(&["CLIENT", "GETREDIR"], common::Cmp::TypeOnly);
    r.case(&["CLIENT", "TRACKING", "off"]);
    r.case(&["CLIENT", "GETREDIR"]);
    r.case(&["GET", "z"]);
    w.case(&["SET", "z", "1"]);
    sub.quiet(QUIET);
}

#[test]
fn resp3_same_connection_and_own_writes() {
    let s = session!(&[]);
    let mut r = Pair::new(&s, "tracker");
    let mut w = Pair::new(&s, "writer");
    r.case_with(&["HELLO", "3"], common::Cmp::TypeOnly);
    r.case(&["CLIENT", "TRACKING", "on"]);
    r.case(&["GET", "k"]);
    w.case(&["SET", "k", "1"]);
    r.pushes(1, "invalidate k");
    // The tracker's own write: the reply, then the invalidation.
    r.case(&["GET", "k"]);
    r.case(&["SET", "k", "2"]);
    r.pushes(1, "own invalidation after the reply");
    r.case(&["HGETALL", "h"]);
    r.case(&["ZUNION", "2", "z1", "z2"]);
    r.case(&["MULTI"]);
    r.case(&["HSET", "h", "f", "v"]);
    r.case(&["ZADD", "z2", "1", "m"]);
    r.case(&["EXEC"]);
    r.pushes(2, "own invalidations after EXEC");
    r.case(&["EVAL", "return redis.call('get', KEYS[1])", "1", "s"]);
    w.case(&["SET", "s", "1"]);
    r.pushes(1, "keys read by a script are tracked");
    // Moves invalidate their destination, not only their source.
    w.case(&["RPUSH", "src", "a", "b", "c"]);
    w.case(&["SADD", "ssrc", "m1", "m2"]);
    r.case(&["LRANGE", "dst", "0", "-1"]);
    w.case(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]);
    r.pushes(1, "LMOVE's destination");
    r.case(&["LRANGE", "dst", "0", "-1"]);
    w.case(&["RPOPLPUSH", "src", "dst"]);
    r.pushes(1, "RPOPLPUSH's destination");
    r.case(&["SMEMBERS", "sdst"]);
    w.case(&["SMOVE", "ssrc", "sdst", "m1"]);
    r.pushes(1, "SMOVE's destination");
    r.case(&["LRANGE", "dst", "0", "-1"]);
    r.case(&["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    r.pushes(1, "own BLMOVE: the destination after the reply");
    r.case(&["GET", "q"]);
    r.case(&["FLUSHDB"]);
    r.pushes(1, "flushdb: null invalidation after the reply");
    r.quiet(QUIET);
    r.case(&["CLIENT", "TRACKINGINFO"]);
    // NOLOOP: own writes are not reported, others' are.
    r.case(&["CLIENT", "TRACKING", "on", "NOLOOP"]);
    r.case(&["GET", "n"]);
    r.case(&["SET", "n", "1"]);
    r.quiet(QUIET);
    r.case(&["GET", "n"]);
    w.case(&["SET", "n", "2"]);
    r.pushes(1, "noloop: another client's write");
    r.case(&["CLIENT", "TRACKINGINFO"]);
    r.case(&["CLIENT", "TRACKING", "off"]);
    r.case(&["CLIENT", "TRACKINGINFO"]);
}

#[test]
fn bcast_with_prefixes() {
    let s = session!(&[]);
    let mut r = Pair::new(&s, "tracker");
    let mut w = Pair::new(&s, "writer");
    r.case_with(&["HELLO", "3"], common::Cmp::TypeOnly);
    r.case(&[
        "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "PREFIX", "b:",
    ]);
    w.case(&["MULTI"]);
    for k in ["a:2", "a:1", "b:1", "c:1", "b:2", "a:1"] {
        w.case(&["INCR", k]);
    }
    w.case(&["EXEC"]);
    r.pushes(2, "one message per prefix");
    r.quiet(QUIET);
    r.case(&["CLIENT", "TRACKINGINFO"]);
    // Adding a prefix; overlaps are refused.
    r.case(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c"]);
    r.case(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:x"]);
    r.case(&[
        "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "d", "PREFIX", "dd",
    ]);
    r.case(&["CLIENT", "TRACKINGINFO"]);
    w.case(&["SET", "c:9", "1"]);
    r.pushes(1, "new prefix");
    r.case(&["SET", "a:5", "1"]);
    r.pushes(1, "own write in bcast mode, after the reply");
    r.case(&["CLIENT", "TRACKING", "off"]);
    r.case(&["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"]);
    r.case(&["SET", "own", "1"]);
    w.case(&["SET", "other", "1"]);
    r.pushes(1, "noloop bcast: only the other client's key");
    r.case(&["CLIENT", "TRACKINGINFO"]);
    w.case(&["FLUSHALL"]);
    r.pushes(1, "flushall in bcast mode");
}

#[test]
fn optin_optout_caching() {
    let s = session!(&[]);
    let mut r = Pair::new(&s, "tracker");
    let mut w = Pair::new(&s, "writer");
    r.case_with(&["HELLO", "3"], common::Cmp::TypeOnly);
    r.case(&["CLIENT", "CACHING", "yes"]);
    r.case(&["CLIENT", "TRACKING", "on", "OPTIN"]);
    r.case(&["CLIENT", "CACHING", "no"]);
    r.case(&["CLIENT", "CACHING", "maybe"]);
    r.case(&["GET", "a"]);
    r.case(&["CLIENT", "CACHING", "yes"]);
    r.case(&["CLIENT", "TRACKINGINFO"]);
    r.case(&["GET", "b"]);
    r.case(&["CLIENT", "TRACKINGINFO"]);
    w.case(&["MSET", "a", "1", "b", "1"]);
    r.pushes(1, "optin: only the key read after CACHING yes");
    r.quiet(QUIET);
    // CACHING survives a MULTI: the whole transaction is tracked.
    r.case(&["CLIENT", "CACHING", "yes"]);
    r.case(&["MULTI"]);
    r.case(&["GET", "c"]);
    r.case(&["GET", "d"]);
    r.case(&["EXEC"]);
    w.case(&["MSET", "c", "1", "d", "1"]);
    r.pushes(2, "optin across MULTI");
    r.case(&["CLIENT", "TRACKING", "off"]);
    r.case(&["CLIENT", "TRACKING", "on", "OPTOUT"]);
    r.case(&["CLIENT", "CACHING", "no"]);
    r.case(&["GET", "e"]);
    r.case(&["GET", "f"]);
    w.case(&["MSET", "e", "1", "f", "1"]);
    r.pushes(1, "optout: every key but the one after CACHING no");
    r.quiet(QUIET);
}

#[test]
fn option_errors() {
    let s = session!(&[]);
    let mut r = Pair::new(&s, "tracker");
    for cmd in [
        &["CLIENT", "TRACKING"][..],
        &["CLIENT", "TRACKING", "maybe"],
        &["CLIENT", "TRACKING", "on", "BOGUS"],
        &["CLIENT", "TRACKING", "on", "PREFIX"],
        &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "abc"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "-1"],
        &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
        &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "on", "OPTIN"],
        &["CLIENT", "TRACKING", "on", "OPTOUT"],
        &["CLIENT", "TRACKING", "off"],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
        ],
        &["CLIENT", "TRACKING", "off", "BOGUS"],
        &["CLIENT", "CACHING", "yes"],
        &["CLIENT", "CACHING"],
        &["CLIENT", "GETREDIR", "x"],
        &["CLIENT", "TRACKINGINFO", "x"],
    ] {
        r.case(cmd);
    }
    r.case(&["CLIENT", "TRACKING", "on"]);
    r.case(&["CLIENT", "TRACKING", "on", "BCAST"]);
    r.case(&["CLIENT", "CACHING", "yes"]);
    r.case(&["CLIENT", "TRACKING", "on", "OPTOUT"]);
    r.case(&["CLIENT", "CACHING", "yes"]);
    r.case(&["CLIENT", "TRACKINGINFO"]);
    r.case(&["CLIENT", "GETREDIR"]);
    r.case(&["RESET"]);
    r.case(&["CLIENT", "TRACKINGINFO"]);
}

fn info_u64(c: &mut RawClient, field: &str) -> u64 {
    let text = String::from_utf8_lossy(&c.cmd_str(&["INFO", "all"])).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

#[test]
fn broken_redirect_table_limit_and_counters() {
    let server = common::start_larder(&[]);
    let mut r = server.client();
    let mut target = server.client();
    let mut w = server.client();
    r.cmd_str(&["HELLO", "3"]);
    let id = target.cmd_str(&["CLIENT", "ID"]);
    let id = String::from_utf8_lossy(&id[1..id.len() - 2]).into_owned();
    assert_eq!(
        r.cmd_str(&["CLIENT", "TRACKING", "on", "REDIRECT", &id]),
        b"+OK\r\n"
    );
    r.cmd_str(&["GET", "k"]);
    assert_eq!(info_u64(&mut w, "tracking_clients"), 1);
    assert_eq!(info_u64(&mut w, "tracking_total_keys"), 1);
    assert_eq!(info_u64(&mut w, "tracking_total_items"), 1);
    let list = String::from_utf8_lossy(&w.cmd_str(&["CLIENT", "LIST"])).into_owned();
    assert!(list.contains("flags=t "), "{list}");
    assert!(list.contains(&format!("redir={id}")), "{list}");
    drop(target);
    std::thread::sleep(Duration::from_millis(100));
    w.cmd_str(&["SET", "k", "1"]);
    let push = r.read_reply();
    assert_eq!(
        push,
        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{id}\r\n").into_bytes(),
        "{}",
        esc(&push)
    );
    let info = r.cmd_str(&["CLIENT", "TRACKINGINFO"]);
    assert!(esc(&info).contains("broken_redirect"), "{}", esc(&info));

    // The key table's limit: the cron forgets keys past it, invalidating them.
    let mut t = server.client();
    t.cmd_str(&["HELLO", "3"]);
    t.cmd_str(&["CLIENT", "TRACKING", "on"]);
    w.cmd_str(&["CONFIG", "SET", "tracking-table-max-keys", "2"]);
    for k in ["x1", "x2", "x3", "x4", "x5"] {
        t.send_str(&["GET", k]);
    }
    // Replies and invalidations interleave: count both.
    let (mut replies, mut forgotten) = (0, 0);
    while let Some(m) = t.read_reply_timeout(Duration::from_millis(600)) {
        if m.starts_with(b">") {
            assert!(esc(&m).contains("invalidate"), "{}", esc(&m));
            forgotten += 1;
        } else {
            replies += 1;
        }
    }
    assert_eq!(replies, 5);
    assert!(forgotten >= 3, "only {forgotten} keys forgotten");
    assert!(info_u64(&mut w, "tracking_total_keys") <= 2);
}

/// The correctness property of client-side caching under concurrency: a
/// reader that keeps what it reads until told otherwise never ends up with
/// a stale value, however its reads interleave with another client's writes.
#[test]
fn no_stale_value_survives_concurrent_writes() {
    let server = common::start_larder(&[]);
    let port = server.addr().port();
    let writer = std::thread::spawn(move || {
        let mut w = RawClient::connect(port);
        for i in 0..3000 {
            w.cmd_str(&["SET", "hot", &i.to_string()]);
        }
    });
    let mut r = server.client();
    r.cmd_str(&["HELLO", "3"]);
    r.cmd_str(&["CLIENT", "TRACKING", "on"]);
    let mut cached: Option<Vec<u8>> = None;
    let mut reads = 0;
    let handle = |reply: Vec<u8>, cached: &mut Option<Vec<u8>>| -> bool {
        if reply.starts_with(b">") {
            *cached = None;
            false
        } else {
            *cached = Some(reply);
            true
        }
    };
    while !writer.is_finished() {
        if cached.is_none() {
            r.send_str(&["GET", "hot"]);
            reads += 1;
            // Pushes may come before the reply; the reply comes once.
            loop {
                let m = r.read_reply();
                if handle(m, &mut cached) {
                    break;
                }
            }
        } else if let Some(m) = r.read_reply_timeout(Duration::from_millis(1)) {
            handle(m, &mut cached);
        }
    }
    writer.join().unwrap();
    while let Some(m) = r.read_reply_timeout(Duration::from_millis(200)) {
        handle(m, &mut cached);
    }
    let fresh = r.cmd_str(&["GET", "hot"]);
    if let Some(c) = cached {
        assert_eq!(
            esc(&c),
            esc(&fresh),
            "stale cached value after {reads} reads"
        );
    }
}

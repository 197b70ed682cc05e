//! Differential tests: transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH)
//! against Redis 7.0, in RESP2 and RESP3, including every error text and
//! WATCH invalidation by another client's writes, expiry, FLUSH* and SWAPDB.

mod common;
use common::{compare_replies, esc, fmt_cmd, Cmp, DiffSession, RawClient};
use std::time::Duration;

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

/// A second connection to each server, for the "other client" of WATCH tests.
struct Other(RawClient, RawClient);

impl Other {
    fn new(s: &DiffSession) -> Other {
        let (l, r) = s.new_clients();
        Other(l, r)
    }

    fn case(&mut self, cmd: &[&str]) {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let l = self.0.cmd(&args);
        let r = self.1.cmd(&args);
        if let Err(why) = compare_replies(Cmp::Exact, &l, &r) {
            panic!(
                "other client: {} ({why})\n  larder: {}\n  redis : {}",
                fmt_cmd(&args),
                esc(&l),
                esc(&r)
            );
        }
    }
}

const BASIC: &[&[&str]] = &[
    &["EXEC"],
    &["DISCARD"],
    &["EXEC", "x"],
    &["DISCARD", "x"],
    &["MULTI", "x"],
    &["MULTI"],
    &["EXEC"],
    &["MULTI"],
    &["SET", "a", "1"],
    &["INCR", "a"],
    &["GET", "a"],
    &["MGET", "a", "nope"],
    &["DEL", "a"],
    &["EXEC"],
    &["EXEC"],
    // Nested MULTI is refused without failing the transaction.
    &["MULTI"],
    &["MULTI"],
    &["SET", "a", "1"],
    &["WATCH", "a"],
    &["EXEC"],
    // Runtime errors do not roll back.
    &["SET", "s", "notanumber"],
    &["MULTI"],
    &["INCR", "s"],
    &["SET", "b", "2"],
    &["LPUSH", "s", "x"],
    &["INCR", "b"],
    &["EXEC"],
    &["MGET", "s", "b"],
    // Queue-time errors abort the whole transaction.
    &["MULTI"],
    &["SET", "c", "1"],
    &["GET"],
    &["SET", "d", "1"],
    &["EXEC"],
    &["EXISTS", "c", "d"],
    &["MULTI"],
    &["SET", "c", "1"],
    &["NOSUCHCOMMAND", "x", "y"],
    &["EXEC"],
    &["EXISTS", "c"],
    &["MULTI"],
    &["SHUTDOWN"],
    &["EXEC"],
    // EXEC refused for its own arity aborts with the reason.
    &["MULTI"],
    &["SET", "c", "1"],
    &["EXEC", "extra"],
    &["EXEC"],
    &["EXISTS", "c"],
    // DISCARD.
    &["MULTI"],
    &["SET", "c", "1"],
    &["DISCARD"],
    &["EXEC"],
    &["EXISTS", "c"],
    &["MULTI"],
    &["GET"],
    &["DISCARD"],
    &["DISCARD"],
    // SELECT inside a transaction changes the database for what follows.
    &["MULTI"],
    &["SELECT", "2"],
    &["SET", "indb2", "x"],
    &["SELECT", "0"],
    &["GET", "indb2"],
    &["EXEC"],
    &["SELECT", "2"],
    &["GET", "indb2"],
    &["SELECT", "0"],
    // Whole-keyspace commands inside EXEC.
    &["MSET", "k1", "1", "k2", "2"],
    &["MULTI"],
    &["DBSIZE"],
    &["EXISTS", "k1", "k2", "k3"],
    &["FLUSHDB"],
    &["DBSIZE"],
    &["SET", "k3", "3"],
    &["EXEC"],
    &["EXISTS", "k1", "k2", "k3"],
    // UNWATCH is queued; ECHO/PING replies inside EXEC.
    &["MULTI"],
    &["UNWATCH"],
    &["PING"],
    &["ECHO", "hi"],
    &["EXEC"],
    &["UNWATCH"],
    &["WATCH"],
    &["WATCH", "a", "b", "a"],
    &["UNWATCH", "x"],
];

#[test]
fn multi_exec_basics_resp2() {
    let mut s = session!();
    s.run(BASIC);
}

#[test]
fn multi_exec_basics_resp3() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    s.run(BASIC);
    s.run(&[
        &["MULTI"],
        &["SET", "x", "1"],
        &["GET", "nope"],
        &["EXISTS", "x"],
        &["EXEC"],
    ]);
}

/// A watched key changed by another client: EXEC replies a null array.
fn watch_cases(s: &mut DiffSession) {
    let mut o = Other::new(s);
    let abort_after = |s: &mut DiffSession, o: &mut Other, setup: &[&str], change: &[&str]| {
        s.case(&["FLUSHALL"]);
        if !setup.is_empty() {
            s.case(setup);
        }
        s.case(&["WATCH", "k"]);
        o.case(change);
        s.case(&["MULTI"]);
        s.case(&["SET", "out", "done"]);
        s.case(&["EXEC"]);
        s.case(&["GET", "out"]);
    };
    let set = &["SET", "k", "v"][..];
    let setx = &["SET", "k", "10", "EX", "100"][..];
    let none = &[][..];
    // Changes that invalidate.
    abort_after(s, &mut o, set, &["SET", "k", "v"]);
    abort_after(s, &mut o, set, &["APPEND", "k", "x"]);
    abort_after(s, &mut o, set, &["DEL", "k"]);
    abort_after(s, &mut o, none, &["SET", "k", "new"]);
    abort_after(s, &mut o, set, &["EXPIRE", "k", "100"]);
    abort_after(s, &mut o, setx, &["PERSIST", "k"]);
    abort_after(s, &mut o, setx, &["INCR", "k"]);
    abort_after(s, &mut o, set, &["RENAME", "k", "k2"]);
    abort_after(s, &mut o, &["SET", "k2", "v"], &["RENAME", "k2", "k"]);
    abort_after(s, &mut o, set, &["FLUSHALL"]);
    abort_after(s, &mut o, set, &["FLUSHDB"]);
    abort_after(s, &mut o, set, &["SWAPDB", "0", "1"]);
    abort_after(s, &mut o, none, &["LPUSH", "k", "a"]);
    abort_after(s, &mut o, &["RPUSH", "k", "a", "b"], &["LPOP", "k"]);
    abort_after(s, &mut o, &["SADD", "k", "a"], &["SADD", "k", "b"]);
    abort_after(s, &mut o, &["HSET", "k", "f", "v"], &["HDEL", "k", "f"]);
    // Changes that do not.
    abort_after(s, &mut o, set, &["GET", "k"]);
    abort_after(s, &mut o, set, &["SET", "other", "v"]);
    abort_after(s, &mut o, none, &["DEL", "k"]);
    abort_after(s, &mut o, set, &["PERSIST", "k"]);
    abort_after(s, &mut o, set, &["INCR", "k"]);
    abort_after(s, &mut o, none, &["FLUSHALL"]);
    abort_after(s, &mut o, none, &["SWAPDB", "0", "1"]);
    abort_after(s, &mut o, &["SADD", "k", "a"], &["SADD", "k", "a"]);
    abort_after(s, &mut o, set, &["EXISTS", "k"]);
    // The same key in another database.
    abort_after(s, &mut o, set, &["SELECT", "1"]);
    o.case(&["SET", "k", "v"]);
    s.case(&["MULTI"]);
    s.case(&["EXEC"]);
    o.case(&["SELECT", "0"]);
    // SWAPDB bringing the key in from the other database.
    s.case(&["FLUSHALL"]);
    s.case(&["SELECT", "1"]);
    s.case(&["SET", "k", "in1"]);
    s.case(&["SELECT", "0"]);
    s.case(&["WATCH", "k"]);
    o.case(&["SWAPDB", "1", "0"]);
    s.case(&["MULTI"]);
    s.case(&["PING"]);
    s.case(&["EXEC"]);
    // The client's own change before MULTI also aborts.
    s.case(&["WATCH", "k"]);
    s.case(&["SET", "k", "mine"]);
    s.case(&["MULTI"]);
    s.case(&["PING"]);
    s.case(&["EXEC"]);
    // UNWATCH, DISCARD and EXEC forget the watched keys.
    for forget in [&["UNWATCH"][..], &["MULTI"][..]] {
        s.case(&["WATCH", "k"]);
        s.case(forget);
        if forget[0] == "MULTI" {
            s.case(&["DISCARD"]);
        }
        o.case(&["SET", "k", "theirs"]);
        s.case(&["MULTI"]);
        s.case(&["PING"]);
        s.case(&["EXEC"]);
    }
    s.case(&["WATCH", "k"]);
    s.case(&["MULTI"]);
    s.case(&["EXEC"]);
    o.case(&["SET", "k", "again"]);
    s.case(&["MULTI"]);
    s.case(&["PING"]);
    s.case(&["EXEC"]);
    // An aborted (dirty) EXEC unwatches too.
    s.case(&["WATCH", "k"]);
    s.case(&["MULTI"]);
    s.case(&["GET"]);
    s.case(&["EXEC"]);
    o.case(&["SET", "k", "x"]);
    s.case(&["MULTI"]);
    s.case(&["PING"]);
    s.case(&["EXEC"]);
    // Several keys, one of them changed.
    s.case(&["WATCH", "a", "b", "c"]);
    o.case(&["SET", "c", "1"]);
    s.case(&["MULTI"]);
    s.case(&["PING"]);
    s.case(&["EXEC"]);
}

#[test]
fn watch_invalidation_resp2() {
    let mut s = session!();
    watch_cases(&mut s);
}

#[test]
fn watch_invalidation_resp3() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    watch_cases(&mut s);
}

#[test]
fn watch_and_expiry() {
    let mut s = session!();
    // A key that expires after WATCH fails the EXEC (lazily, on access).
    s.case(&["SET", "k", "1", "PX", "100"]);
    s.case(&["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(200));
    s.case(&["MULTI"]);
    s.case(&["INCR", "k"]);
    s.case(&["EXEC"]);
    // A key already expired when watched does not.
    s.case(&["SET", "k", "1", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(100));
    s.case(&["WATCH", "k"]);
    s.case(&["MULTI"]);
    s.case(&["INCR", "k"]);
    s.case(&["EXEC"]);
    // A TTL set by the client itself inside the transaction is fine.
    s.case(&["WATCH", "k"]);
    s.case(&["MULTI"]);
    s.case(&["EXPIRE", "k", "100"]);
    s.case(&["EXEC"]);
}

/// Another client never sees a transaction half done.
#[test]
fn exec_is_atomic() {
    let Some(s) = DiffSession::start(&[]) else {
        return;
    };
    let port = s.larder_proc.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.cmd_str(&["MULTI"]);
                for k in ["a", "b", "c", "d", "e", "f", "g", "h"] {
                    c.cmd_str(&["INCR", k]);
                }
                let r = c.cmd_str(&["EXEC"]);
                assert!(r.starts_with(b"*8\r\n"), "{}", esc(&r));
                n += 1;
            }
            n
        })
    };
    let mut c = RawClient::connect(port);
    for _ in 0..300 {
        let r = c.cmd_str(&["MGET", "a", "b", "c", "d", "e", "f", "g", "h"]);
        let vals = common::aggregate_elements(&r).expect("array");
        assert!(
            vals.windows(2).all(|w| w[0] == w[1]),
            "torn read: {}",
            esc(&r)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().expect("writer") > 0);
}

//! Differential tests: blocking pops (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP
//! BZPOPMIN BZPOPMAX BZMPOP) against Redis 7.0, with several connections per
//! server: one blocks, another feeds it. Covers argument and timeout errors,
//! WRONGTYPE, timeouts in RESP2 and RESP3, first-blocked-first-served,
//! wake-ups by pushes, LMOVE, ZADD, RENAME and EXEC, non-blocking behaviour
//! inside MULTI and scripts, CLIENT UNBLOCK, CLIENT LIST `b`, INFO
//! `blocked_clients`, and a blocked client's disconnect.

mod common;
use common::{compare_replies, esc, fmt_cmd, Cmp, DiffSession, RawClient};
use std::time::Duration;

/// How long a client must stay silent to count as blocked.
const QUIET: Duration = Duration::from_millis(150);

/// Connections to both servers: `c[i] = (larder, redis)`.
struct Conns {
    _s: DiffSession,
    c: Vec<(RawClient, RawClient)>,
}

impl Conns {
    fn start(n: usize) -> Option<Conns> {
        let s = DiffSession::start(&[])?;
        let c = (0..n).map(|_| s.new_clients()).collect();
        Some(Conns { _s: s, c })
    }

    fn send(&mut self, i: usize, cmd: &[&str]) {
        let (l, r) = &mut self.c[i];
        l.send_str(cmd);
        r.send_str(cmd);
    }

    /// Reads one reply from each server on connection `i` and compares them.
    fn read(&mut self, i: usize, what: &str) -> Vec<u8> {
        let (l, r) = &mut self.c[i];
        let lr = l.read_reply();
        let rr = r.read_reply();
        if let Err(why) = compare_replies(Cmp::Exact, &lr, &rr) {
            panic!(
                "conn {i}: {what} ({why})\n  larder: {}\n  redis : {}",
                esc(&lr),
                esc(&rr)
            );
        }
        rr
    }

    fn cmd(&mut self, i: usize, cmd: &[&str]) -> Vec<u8> {
        self.send(i, cmd);
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        self.read(i, &fmt_cmd(&args))
    }

    /// HELLO `proto` (its reply holds the client id, which may differ).
    fn hello(&mut self, i: usize, proto: &str) {
        let (l, r) = &mut self.c[i];
        l.cmd_str(&["hello", proto]);
        r.cmd_str(&["hello", proto]);
    }

    /// Both servers keep connection `i` waiting.
    fn quiet(&mut self, i: usize) {
        let (l, r) = &mut self.c[i];
        if let Some(x) = r.read_reply_timeout(QUIET) {
            panic!("conn {i}: redis replied while blocked: {}", esc(&x));
        }
        if let Some(x) = l.read_reply_timeout(Duration::from_millis(10)) {
            panic!("conn {i}: larder replied while blocked: {}", esc(&x));
        }
    }

    /// Blocks connection `i` on `cmd`, checking it does block.
    fn block(&mut self, i: usize, cmd: &[&str]) {
        self.send(i, cmd);
        self.quiet(i);
    }

    /// One INFO field from each server, compared.
    fn info_field(&mut self, i: usize, field: &str) {
        let (l, r) = &mut self.c[i];
        let get = |c: &mut RawClient| {
            let raw = c.cmd_str(&["info", "clients"]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            text.lines()
                .find(|x| x.starts_with(field))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let (lv, rv) = (get(l), get(r));
        assert_eq!(lv, rv, "INFO {field}");
    }
}

macro_rules! conns {
    ($n:expr) => {
        match Conns::start($n) {
            Some(c) => c,
            None => return,
        }
    };
}

#[test]
fn argument_errors_and_wrongtype() {
    let mut t = conns!(1);
    for cmd in [
        &["blpop", "k", "x"][..],
        &["blpop", "k", "-1"],
        &["blpop", "k", "nan"],
        &["blpop", "k", "inf"],
        &["blpop", "k", "1e300"],
        &["brpop", "k", "-0.5"],
        &["blpop", "k"],
        &["blmove", "a", "b", "x", "left", "0"],
        &["blmove", "a", "b", "left", "left", "abc"],
        &["brpoplpush", "a", "b", "-1"],
        &["blmpop", "0", "abc", "k", "left"],
        &["blmpop", "0", "0", "k", "left"],
        &["blmpop", "0", "1", "k", "middle"],
        &["blmpop", "x", "1", "k", "left", "count", "0"],
        &["blmpop", "x", "1", "k", "left"],
        &["blmpop", "-1", "1", "k", "left"],
        &["blmpop", "0", "2", "k", "left"],
        &["bzpopmin", "k", "x"],
        &["bzpopmax", "k", "-2"],
        &["bzmpop", "0.01", "1", "k", "left"],
        &["bzmpop", "x", "1", "k", "min"],
        &["bzmpop", "0", "1", "k", "max", "count", "-1"],
        &["set", "s", "x"],
        &["blpop", "s", "0"],
        &["blpop", "missing", "s", "0"],
        &["brpop", "s", "0"],
        &["blmove", "s", "d", "left", "left", "0"],
        &["brpoplpush", "s", "d", "0"],
        &["blmpop", "0", "1", "s", "left"],
        &["bzpopmin", "s", "0"],
        &["bzmpop", "0", "1", "s", "min"],
        &["rpush", "l", "a"],
        &["blmove", "l", "s", "left", "left", "0"],
        &["brpoplpush", "l", "s", "0"],
        &["lrange", "l", "0", "-1"],
        &["zadd", "z", "1", "m"],
        &["blpop", "z", "0"],
        &["bzpopmin", "l", "0"],
    ] {
        t.cmd(0, cmd);
    }
}

#[test]
fn immediate_pops() {
    let mut t = conns!(1);
    for proto in ["2", "3"] {
        t.hello(0, proto);
        for cmd in [
            &["rpush", "l", "a", "b", "c", "d", "e"][..],
            &["blpop", "none", "l", "0"],
            &["brpop", "l", "0"],
            &["blmove", "l", "m", "left", "right", "0"],
            &["brpoplpush", "l", "m", "0"],
            &["blmpop", "0", "2", "none", "l", "right", "count", "5"],
            &["lrange", "m", "0", "-1"],
            &["zadd", "z", "1", "a", "2", "b", "3.5", "c", "4", "d"],
            &["bzpopmin", "none", "z", "0"],
            &["bzpopmax", "z", "0"],
            &["bzmpop", "0", "1", "z", "min", "count", "10"],
            &["exists", "z", "l"],
            &["del", "m"],
        ] {
            t.cmd(0, cmd);
        }
    }
}

#[test]
fn timeouts_resp2_and_resp3() {
    let mut t = conns!(1);
    for proto in ["2", "3"] {
        t.hello(0, proto);
        for cmd in [
            &["blpop", "k", "0.1"][..],
            &["brpop", "k", "k2", "0.1"],
            &["blmove", "k", "d", "left", "left", "0.1"],
            &["brpoplpush", "k", "d", "0.1"],
            &["blmpop", "0.1", "1", "k", "left"],
            &["bzpopmin", "k", "0.1"],
            &["bzpopmax", "k", "0.1"],
            &["bzmpop", "0.1", "2", "k", "k2", "max", "count", "2"],
        ] {
            t.cmd(0, cmd);
        }
    }
}

/// Blocks connection 0 on `block`, runs `feed` on connection 1, then
/// compares what both clients got and what is left.
fn wake_case(t: &mut Conns, block: &[&str], feed: &[&[&str]], after: &[&[&str]]) {
    t.block(0, block);
    for f in feed {
        t.cmd(1, f);
    }
    t.read(0, &format!("woken {block:?}"));
    for a in after {
        t.cmd(1, a);
    }
}

#[test]
fn wakeups() {
    let mut t = conns!(2);
    for proto in ["2", "3"] {
        t.hello(0, proto);
        wake_case(
            &mut t,
            &["blpop", "a", "b", "0"],
            &[&["rpush", "b", "x", "y"]],
            &[&["lrange", "b", "0", "-1"], &["del", "b"]],
        );
        wake_case(
            &mut t,
            &["brpop", "a", "5"],
            &[&["lpush", "a", "x", "y"]],
            &[&["lrange", "a", "0", "-1"], &["del", "a"]],
        );
        wake_case(
            &mut t,
            &["blmove", "src", "dst", "right", "left", "0"],
            &[&["rpush", "src", "1", "2"]],
            &[
                &["lrange", "src", "0", "-1"],
                &["lrange", "dst", "0", "-1"],
                &["del", "src", "dst"],
            ],
        );
        wake_case(
            &mut t,
            &["brpoplpush", "src", "dst", "0"],
            &[
                &["linsert", "src", "before", "x", "y"],
                &["rpush", "other", "v"],
                &["lmove", "other", "src", "left", "left"],
            ],
            &[
                &["exists", "src", "other"],
                &["lrange", "dst", "0", "-1"],
                &["del", "dst"],
            ],
        );
        wake_case(
            &mut t,
            &["blmpop", "0", "2", "a", "b", "left", "count", "3"],
            &[&["rpush", "b", "1", "2", "3", "4"]],
            &[&["lrange", "b", "0", "-1"], &["del", "b"]],
        );
        wake_case(
            &mut t,
            &["bzpopmin", "z1", "z2", "0"],
            &[&["zadd", "z2", "2", "b", "1", "a"]],
            &[&["zrange", "z2", "0", "-1", "withscores"], &["del", "z2"]],
        );
        wake_case(
            &mut t,
            &["bzpopmax", "z1", "0"],
            &[&["zincrby", "z1", "2.5", "m"]],
            &[&["exists", "z1"]],
        );
        wake_case(
            &mut t,
            &["bzmpop", "0", "1", "z1", "max", "count", "2"],
            &[&["zadd", "z1", "1", "a", "2", "b", "3", "c"]],
            &[&["zrange", "z1", "0", "-1"], &["del", "z1"]],
        );
        // A key made a list by RENAME.
        wake_case(
            &mut t,
            &["blpop", "dst", "0"],
            &[&["rpush", "tmp", "v"], &["rename", "tmp", "dst"]],
            &[&["exists", "dst"]],
        );
        // Keys arriving from another database: MOVE, COPY ... DB, SWAPDB.
        wake_case(
            &mut t,
            &["blpop", "mv", "0"],
            &[
                &["select", "1"],
                &["rpush", "mv", "v"],
                &["move", "mv", "0"],
                &["select", "0"],
            ],
            &[&["exists", "mv"]],
        );
        wake_case(
            &mut t,
            &["bzpopmin", "cp", "0"],
            &[&["zadd", "zsrc", "1", "m"], &["copy", "zsrc", "cp"]],
            &[&["exists", "cp", "zsrc"], &["del", "zsrc"]],
        );
        t.cmd(1, &["rpush", "src2", "v"]);
        t.cmd(0, &["select", "2"]);
        t.block(0, &["blpop", "cpdb", "0"]);
        t.cmd(1, &["copy", "src2", "cpdb", "db", "2"]);
        t.read(0, "blpop served after copy ... db");
        t.cmd(0, &["select", "0"]);
        t.cmd(1, &["del", "src2"]);
        t.cmd(1, &["select", "3"]);
        t.cmd(1, &["rpush", "sw", "a", "b"]);
        t.cmd(1, &["select", "0"]);
        t.block(0, &["blpop", "sw", "nothere", "0"]);
        t.cmd(1, &["swapdb", "0", "3"]);
        t.read(0, "blpop served after swapdb");
        t.cmd(1, &["lrange", "sw", "0", "-1"]);
        t.cmd(1, &["swapdb", "0", "3"]);
        t.cmd(1, &["flushall"]);
        // A key changed to another type keeps the client waiting.
        t.block(0, &["blpop", "k", "0"]);
        t.cmd(1, &["set", "k", "str"]);
        t.quiet(0);
        t.cmd(1, &["del", "k"]);
        t.cmd(1, &["zadd", "k", "1", "m"]);
        t.quiet(0);
        t.cmd(1, &["del", "k"]);
        t.cmd(1, &["rpush", "k", "v"]);
        t.read(0, "blpop after type changes");
        // MULTI/EXEC: the waiter is served after EXEC, seeing its end state.
        t.block(0, &["blpop", "k", "0"]);
        t.cmd(1, &["multi"]);
        t.cmd(1, &["rpush", "k", "a", "b"]);
        t.cmd(1, &["lpop", "k"]);
        t.cmd(1, &["exec"]);
        t.read(0, "blpop after exec");
        t.cmd(1, &["exists", "k"]);
        t.cmd(1, &["multi"]);
        t.cmd(1, &["rpush", "k", "a"]);
        t.cmd(1, &["del", "k"]);
        t.block(0, &["blpop", "k", "0.2"]);
        t.cmd(1, &["exec"]);
        t.read(0, "blpop timed out after exec emptied the key");
    }
}

#[test]
fn fairness() {
    let mut t = conns!(4);
    // First blocked, first served; one element each.
    t.block(0, &["blpop", "k", "0"]);
    t.block(1, &["brpop", "k", "0"]);
    t.block(2, &["blpop", "other", "k", "0"]);
    t.info_field(3, "blocked_clients");
    t.cmd(3, &["rpush", "k", "1"]);
    t.read(0, "first waiter");
    t.quiet(1);
    t.cmd(3, &["rpush", "k", "2", "3"]);
    t.read(1, "second waiter");
    t.read(2, "third waiter");
    t.cmd(3, &["lrange", "k", "0", "-1"]);
    t.info_field(3, "blocked_clients");
    // One push serving several waiters on different commands.
    t.block(0, &["bzpopmin", "z", "0"]);
    t.block(1, &["bzmpop", "0", "1", "z", "max"]);
    t.cmd(3, &["zadd", "z", "1", "a", "2", "b", "3", "c"]);
    t.read(0, "bzpopmin");
    t.read(1, "bzmpop");
    t.cmd(3, &["zrange", "z", "0", "-1"]);
    // A chain: BLMOVE's push serves the waiter on its destination.
    t.block(0, &["blpop", "d", "0"]);
    t.block(1, &["blmove", "s", "d", "left", "left", "0"]);
    t.cmd(3, &["rpush", "s", "v"]);
    t.read(1, "blmove");
    t.read(0, "blpop fed by blmove");
    t.cmd(3, &["exists", "s", "d"]);
    t.info_field(3, "blocked_clients");
}

#[test]
fn no_blocking_in_multi_and_scripts() {
    let mut t = conns!(1);
    for proto in ["2", "3"] {
        t.hello(0, proto);
        t.cmd(0, &["multi"]);
        for cmd in [
            &["blpop", "k", "0"][..],
            &["brpop", "k", "0"],
            &["blmove", "k", "d", "left", "left", "0"],
            &["brpoplpush", "k", "d", "0"],
            &["blmpop", "0", "1", "k", "left"],
            &["bzpopmin", "k", "0"],
            &["bzpopmax", "k", "0"],
            &["bzmpop", "0", "1", "k", "min"],
            &["rpush", "k", "v"],
            &["blpop", "k", "0"],
        ] {
            t.cmd(0, cmd);
        }
        t.cmd(0, &["exec"]);
        t.cmd(
            0,
            &["eval", "return redis.call('blpop', KEYS[1], 0)", "1", "k"],
        );
        t.cmd(
            0,
            &[
                "eval",
                "return redis.call('blmove', KEYS[1], 'd', 'left', 'left', 0)",
                "1",
                "k",
            ],
        );
        t.cmd(
            0,
            &[
                "eval",
                "return redis.call('bzpopmax', KEYS[1], 0)",
                "1",
                "k",
            ],
        );
    }
}

#[test]
fn client_unblock_list_and_disconnect() {
    let mut t = conns!(3);
    let ids: Vec<(String, String)> = (0..2)
        .map(|i| {
            let (l, r) = &mut t.c[i];
            let id = |c: &mut RawClient| {
                let raw = c.cmd_str(&["client", "id"]);
                String::from_utf8_lossy(&raw[1..raw.len() - 2]).into_owned()
            };
            (id(l), id(r))
        })
        .collect();
    let unblock = |t: &mut Conns, who: usize, how: Option<&str>| {
        let (lid, rid) = &ids[who];
        let (l, r) = &mut t.c[2];
        let mut la = vec!["client", "unblock", lid.as_str()];
        let mut ra = vec!["client", "unblock", rid.as_str()];
        if let Some(h) = how {
            la.push(h);
            ra.push(h);
        }
        let (lr, rr) = (l.cmd_str(&la), r.cmd_str(&ra));
        assert_eq!(esc(&lr), esc(&rr), "client unblock {how:?}");
    };
    unblock(&mut t, 0, None);
    t.cmd(2, &["client", "unblock", "abc"]);
    t.cmd(2, &["client", "unblock", "1", "maybe"]);
    t.cmd(2, &["client", "unblock", "1", "timeout", "x"]);
    for proto in ["2", "3"] {
        t.hello(0, proto);
        t.block(0, &["blpop", "k", "0"]);
        // CLIENT LIST shows the blocked client's `b` flag.
        {
            let (l, r) = (&ids[0].0, &ids[0].1);
            let (lc, rc) = &mut t.c[2];
            let flags = |c: &mut RawClient, id: &str| {
                let raw = c.cmd_str(&["client", "list", "id", id]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                text.split(' ')
                    .find(|f| f.starts_with("flags="))
                    .map(str::to_owned)
            };
            assert_eq!(flags(lc, l), flags(rc, r), "CLIENT LIST flags");
        }
        unblock(&mut t, 0, None);
        t.read(0, "unblocked: timeout");
        t.block(0, &["blmove", "k", "d", "left", "left", "0"]);
        unblock(&mut t, 0, Some("error"));
        t.read(0, "unblocked: error");
        t.block(0, &["bzpopmin", "k", "0"]);
        unblock(&mut t, 0, Some("TIMEOUT"));
        t.read(0, "unblocked: timeout");
        unblock(&mut t, 0, Some("error"));
        t.cmd(0, &["ping"]);
    }
    // A blocked client that disconnects no longer waits.
    t.block(1, &["blpop", "gone", "0"]);
    t.info_field(2, "blocked_clients");
    t.c.remove(1);
    std::thread::sleep(Duration::from_millis(100));
    t.info_field(1, "blocked_clients");
    t.cmd(1, &["rpush", "gone", "v"]);
    t.cmd(1, &["llen", "gone"]);
}

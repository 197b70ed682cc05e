//! CLIENT PAUSE / UNPAUSE timing, checked the same way on Larder and on
//! Redis (both servers of a diff session must behave alike): under WRITE a
//! writer waits and a reader does not, UNPAUSE releases the waiter at
//! once, ALL holds every command (a held client counts in INFO's
//! `blocked_clients`), and an expired key reads as missing but is not
//! deleted while paused.

mod common;

use std::time::{Duration, Instant};

use common::{blocked_clients, DiffSession, ServerProc};

fn timed(c: &mut common::RawClient, args: &[&str]) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let r = c.cmd_str(args);
    (r, t.elapsed())
}

fn check(server: &ServerProc) {
    let (mut admin, mut writer, mut reader) = (server.client(), server.client(), server.client());

    // WRITE: the writer waits out the pause, the reader does not.
    assert_eq!(
        admin.cmd_str(&["CLIENT", "PAUSE", "400", "WRITE"]),
        b"+OK\r\n"
    );
    writer.send_str(&["SET", "k", "v"]);
    let (r, t) = timed(&mut reader, &["GET", "k"]);
    assert_eq!(r, b"$-1\r\n");
    assert!(t < Duration::from_millis(200), "reader waited {t:?}");
    // A script declaring `no-writes` is a reader too.
    let ro = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    let (r, t) = timed(&mut reader, &["EVAL", ro, "1", "k"]);
    assert_eq!(r, b"$-1\r\n");
    assert!(
        t < Duration::from_millis(200),
        "no-writes script waited {t:?}"
    );
    let t = Instant::now();
    assert_eq!(writer.read_reply(), b"+OK\r\n");
    assert!(
        t.elapsed() > Duration::from_millis(200),
        "writer did not wait"
    );

    // UNPAUSE releases a waiting writer at once.
    assert_eq!(
        admin.cmd_str(&["CLIENT", "PAUSE", "20000", "WRITE"]),
        b"+OK\r\n"
    );
    writer.send_str(&["DEL", "k"]);
    assert!(writer
        .read_reply_timeout(Duration::from_millis(300))
        .is_none());
    // A held client counts as blocked (Redis's BLOCKED_PAUSE), flag `b`.
    assert_eq!(blocked_clients(&mut admin), 1);
    let list = admin.cmd_str(&["CLIENT", "LIST"]);
    let flagged: Vec<String> = String::from_utf8_lossy(&list)
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("flags=")))
        .map(str::to_string)
        .collect();
    assert!(flagged.len() >= 3, "{flagged:?}");
    assert_eq!(
        flagged.iter().filter(|f| f.contains('b')).count(),
        1,
        "{flagged:?}"
    );
    assert_eq!(admin.cmd_str(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(
        writer.read_reply_timeout(Duration::from_secs(2)).as_deref(),
        Some(&b":1\r\n"[..])
    );
    assert_eq!(blocked_clients(&mut admin), 0);

    // ALL: even PING waits.
    assert_eq!(
        admin.cmd_str(&["CLIENT", "PAUSE", "300", "ALL"]),
        b"+OK\r\n"
    );
    let (r, t) = timed(&mut reader, &["PING"]);
    assert_eq!(r, b"+PONG\r\n");
    assert!(t > Duration::from_millis(150), "PING did not wait");

    // Expiry is held: the key reads as missing but stays counted.
    assert_eq!(reader.cmd_str(&["SET", "e", "v", "PX", "50"]), b"+OK\r\n");
    assert_eq!(
        admin.cmd_str(&["CLIENT", "PAUSE", "500", "WRITE"]),
        b"+OK\r\n"
    );
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(reader.cmd_str(&["GET", "e"]), b"$-1\r\n");
    assert_eq!(reader.cmd_str(&["DBSIZE"]), b":1\r\n");
    assert_eq!(admin.cmd_str(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(reader.cmd_str(&["GET", "e"]), b"$-1\r\n");
    assert_eq!(reader.cmd_str(&["DBSIZE"]), b":0\r\n");
}

#[test]
fn client_pause_timing() {
    let Some(d) = DiffSession::start(&[]) else {
        return;
    };
    check(&d.larder_proc);
    check(&d.redis_proc);
}

#[test]
fn diff_client_pause_errors() {
    let Some(mut d) = DiffSession::start(&[]) else {
        return;
    };
    d.run(&[
        &["CLIENT", "PAUSE", "abc"],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "100", "foo"],
        &["CLIENT", "PAUSE", "abc", "foo"],
        &["CLIENT", "PAUSE", "100", "WRITE", "x"],
        &["CLIENT", "PAUSE"],
        &["CLIENT", "UNPAUSE", "x"],
        &["CLIENT", "PAUSE", "99999999999999999999"],
        &["CLIENT", "PAUSE", "9223372036854775807"],
        &["CLIENT", "PAUSE", "0", "WRITE"],
        &["CLIENT", "UNPAUSE"],
    ]);
}

//! The append-only file end to end: replaying the AOF reproduces the
//! keyspace, `appendfsync always` keeps every acknowledged write across
//! kill -9, torn and corrupt files are handled as Redis does, an AOF from
//! before Redis 7 is upgraded, bad manifests are refused with Redis's
//! words, a rewrite under load loses and duplicates nothing, and the files
//! interoperate with real Redis (redis-check-aof, redis-server loading
//! Larder's directory).
//! Peer-dependent checks skip with a notice unless LARDER_REQUIRE_PEERS=1.

mod common;
mod memcache_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    reply_int, require_peers, scalar_payload, start_larder, start_larder_memcache, McServer,
    RawClient, ServerProc,
};
use memcache_common::McConn;

/// The elements of an array reply, as plain bytes.
fn aggregate_elements(raw: &[u8]) -> Option<Vec<Vec<u8>>> {
    let items = common::aggregate_elements(raw)?;
    Some(
        items
            .iter()
            .map(|i| scalar_payload(i).unwrap_or_else(|| i.clone()))
            .collect(),
    )
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("larder-aof-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn larder_aof(dir: &Path, extra: &[&str]) -> ServerProc {
    let d = dir.to_str().expect("utf-8 path");
    let mut args = vec!["--dir", d, "--appendonly", "yes"];
    args.extend_from_slice(extra);
    start_larder(&args)
}

fn cmd(c: &mut RawClient, args: &[&str]) -> Vec<u8> {
    c.send_str(args);
    c.read_reply()
}

/// Every key of databases 0..4 with its type, contents (order-independent
/// where the type is) and absolute expiry.
fn fingerprint(c: &mut RawClient) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..4 {
        cmd(c, &["SELECT", &db.to_string()]);
        let keys = aggregate_elements(&cmd(c, &["KEYS", "*"])).unwrap_or_default();
        for k in keys {
            let k = String::from_utf8_lossy(&k).into_owned();
            let ty = String::from_utf8_lossy(&cmd(c, &["TYPE", &k])).into_owned();
            let mut items = match ty.trim() {
                "+string" => vec![cmd(c, &["GET", &k])],
                "+list" => vec![cmd(c, &["LRANGE", &k, "0", "-1"])],
                "+set" => aggregate_elements(&cmd(c, &["SMEMBERS", &k])).unwrap_or_default(),
                "+hash" => aggregate_elements(&cmd(c, &["HGETALL", &k]))
                    .unwrap_or_default()
                    .chunks(2)
                    .map(|p| p.concat())
                    .collect(),
                _ => vec![cmd(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])],
            };
            items.sort();
            let at = reply_int(&cmd(c, &["PEXPIRETIME", &k]));
            out.push(format!("{db} {k} {} {:?} {at:?}", ty.trim(), items));
        }
    }
    cmd(c, &["SELECT", "0"]);
    out.sort();
    out
}

/// A script touching every family and every propagation rewrite.
const SCRIPT: &[&[&str]] = &[
    &["SET", "s1", "v", "EX", "1000"],
    &["SET", "s2", "v", "NX"],
    &["SET", "s2", "w", "NX"],
    &["SETEX", "s3", "1000", "v"],
    &["PSETEX", "s4", "1000000", "v"],
    &["SET", "s5", "10"],
    &["INCRBY", "s5", "5"],
    &["INCRBYFLOAT", "s5", "0.25"],
    &["APPEND", "s6", "abc"],
    &["SETRANGE", "s6", "5", "xy"],
    &["GETEX", "s1", "PX", "500000"],
    &["GETSET", "s7", "g"],
    &["GETDEL", "s2"],
    &["MSET", "m1", "1", "m2", "2"],
    &["EXPIRE", "m1", "1000"],
    &["PEXPIRE", "m2", "1000000"],
    &["EXPIREAT", "m2", "99999999999"],
    &["PERSIST", "m1"],
    &["SET", "gone", "x"],
    &["EXPIRE", "gone", "-1"],
    &["SETBIT", "bits", "77", "1"],
    &["PFADD", "hll", "a", "b", "c"],
    &["RPUSH", "l1", "a", "b", "c", "d", "e", "f"],
    &["LPOP", "l1"],
    &["LMPOP", "1", "l1", "RIGHT", "COUNT", "2"],
    &["BLPOP", "l1", "0"],
    &["LMOVE", "l1", "l2", "LEFT", "RIGHT"],
    &["LINSERT", "l1", "BEFORE", "e", "z"],
    &["LSET", "l1", "0", "q"],
    &["SADD", "st", "a", "b", "c", "d", "e", "f", "g", "h"],
    &["SPOP", "st"],
    &["SPOP", "st", "3"],
    &["SADD", "st2", "1", "2", "3"],
    &["SPOP", "st2", "10"],
    &["SMOVE", "st", "st3", "a"],
    &["SINTERSTORE", "st4", "st", "st"],
    &["HSET", "h", "f1", "1", "f2", "2"],
    &["HINCRBYFLOAT", "h", "f1", "1.5"],
    &["HDEL", "h", "f2"],
    &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
    &["ZINCRBY", "z", "10", "a"],
    &["ZPOPMIN", "z"],
    &["BZPOPMAX", "z", "0"],
    &["ZMPOP", "1", "z", "MIN", "COUNT", "1"],
    &["ZUNIONSTORE", "z2", "1", "z"],
    &["RENAME", "z2", "z3"],
    &["COPY", "h", "h2"],
    &["COPY", "h", "h3", "DB", "2"],
    &["MOVE", "s7", "1"],
    &["SELECT", "3"],
    &["SET", "x3", "1"],
    &["SWAPDB", "3", "1"],
    &["SELECT", "0"],
    &[
        "EVAL",
        "redis.call('set','e1','1') redis.call('rpush','e2','a','b')",
        "0",
    ],
    &["EVAL", "return redis.call('spop','st')", "0"],
    &["MULTI"],
    &["INCR", "t1"],
    &["SET", "t2", "v", "PX", "900000"],
    &["EXEC"],
    &["DEL", "nosuchkey"],
    &["UNLINK", "m2"],
];

fn run_script(c: &mut RawClient) {
    for args in SCRIPT {
        cmd(c, args);
    }
}

#[test]
fn replay_reproduces_the_keyspace_and_redis_loads_it() {
    let dir = temp_dir("replay");
    let mut s = larder_aof(&dir, &["--appendfsync", "always"]);
    let mut c = s.client();
    run_script(&mut c);
    let before = fingerprint(&mut c);
    assert!(before.len() > 20, "{before:?}");
    let _ = s.child.kill();
    let _ = s.child.wait();
    let s2 = larder_aof(&dir, &[]);
    let after = fingerprint(&mut s2.client());
    assert_eq!(before, after);
    // Rewrite, more writes, restart again.
    let mut c2 = s2.client();
    cmd(&mut c2, &["BGREWRITEAOF"]);
    wait_rewrite(&mut c2);
    cmd(&mut c2, &["SET", "after-rewrite", "1"]);
    let before = fingerprint(&mut c2);
    drop(s2);
    let s3 = larder_aof(&dir, &[]);
    assert_eq!(before, fingerprint(&mut s3.client()));
    drop(s3);
    check_aof_with_redis(&dir, &before);
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_rewrite(c: &mut RawClient) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let info = String::from_utf8_lossy(&cmd(c, &["INFO", "persistence"])).into_owned();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("rewrite did not finish");
}

/// redis-check-aof accepts the directory and redis-server loads it to the
/// same keyspace.
fn check_aof_with_redis(dir: &Path, expected: &[String]) {
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    match Command::new("redis-check-aof").arg(&manifest).output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(text.contains("are valid"), "redis-check-aof: {text}");
        }
        Err(_) if !require_peers() => println!("SKIP: redis-check-aof not found"),
        Err(e) => panic!("redis-check-aof: {e}"),
    }
    let Some(r) = common::start_redis(&["--appendonly", "yes", "--dir", dir.to_str().unwrap()])
    else {
        return;
    };
    assert_eq!(fingerprint(&mut r.client()), expected);
}

#[test]
fn larder_loads_a_redis_command_aof() {
    let dir = temp_dir("fromredis");
    let d = dir.to_str().unwrap();
    let Some(r) = common::start_redis(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--dir",
        d,
    ]) else {
        return;
    };
    let mut c = r.client();
    cmd(&mut c, &["SET", "seed", "1"]);
    cmd(&mut c, &["BGREWRITEAOF"]);
    std::thread::sleep(Duration::from_millis(500));
    run_script(&mut c);
    let expected = fingerprint(&mut c);
    drop(c);
    let mut r = r;
    let _ = r.terminate(Duration::from_secs(5));
    let s = larder_aof(&dir, &[]);
    assert_eq!(fingerprint(&mut s.client()), expected);
}

/// Writers RPUSH sequences and INCR counters, recording acknowledgements.
fn load_and_kill(s: &mut ServerProc, secs: f64, rewrite: bool) -> Vec<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let port = s.port;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut acked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v = (acked + 1).to_string();
                    c.send_str(&["RPUSH", &format!("seq{w}"), &v]);
                    match c.try_read_reply(Duration::from_secs(5)) {
                        Ok(r) if reply_int(&r) == Some(acked as i64 + 1) => acked += 1,
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    if rewrite {
        let mut c = s.client();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_secs_f64(secs / 4.0));
            cmd(&mut c, &["BGREWRITEAOF"]);
        }
    }
    std::thread::sleep(Duration::from_secs_f64(if rewrite {
        secs / 4.0
    } else {
        secs
    }));
    if !rewrite {
        let _ = s.child.kill();
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    if rewrite {
        let _ = s.child.kill();
    }
    let _ = s.child.wait();
    acked
}

fn lists(s: &ServerProc, n: usize) -> Vec<Vec<Vec<u8>>> {
    let mut c = s.client();
    (0..n)
        .map(|w| {
            aggregate_elements(&cmd(&mut c, &["LRANGE", &format!("seq{w}"), "0", "-1"]))
                .unwrap_or_default()
        })
        .collect()
}

fn is_sequence(l: &[Vec<u8>]) -> bool {
    l.iter()
        .enumerate()
        .all(|(i, v)| v == (i + 1).to_string().as_bytes())
}

/// Under `policy`, writers push while the server is killed with SIGKILL:
/// after a restart every acknowledged push is there (at most the one in
/// flight more). A reply waits until its write is in the AOF file — fsynced
/// under `always`, in the OS under `everysec` and `no`, as Redis writes the
/// AOF before it replies.
/// With `rewrite`, a BGREWRITEAOF runs under the load, so the writes also
/// race the rewrite's file switch.
fn acknowledged_writes_survive_kill9(policy: &str, rewrite: bool) {
    let dir = temp_dir(&format!("{policy}-{rewrite}"));
    let mut s = larder_aof(&dir, &["--appendfsync", policy]);
    let acked = load_and_kill(&mut s, 2.0, rewrite);
    assert!(acked.iter().sum::<u64>() > 100, "{policy}: {acked:?}");
    let s2 = larder_aof(&dir, &[]);
    for (w, l) in lists(&s2, 4).iter().enumerate() {
        assert!(is_sequence(l), "{policy}: seq{w} is not 1..n");
        assert!(
            l.len() as u64 >= acked[w] && l.len() as u64 <= acked[w] + 1,
            "{policy}: seq{w}: {} kept, {} acknowledged",
            l.len(),
            acked[w]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn always_keeps_every_acknowledged_write_across_kill9() {
    acknowledged_writes_survive_kill9("always", false);
}

#[test]
fn everysec_and_no_keep_every_acknowledged_write_across_kill9() {
    acknowledged_writes_survive_kill9("everysec", false);
    acknowledged_writes_survive_kill9("no", false);
}

/// Under `everysec` the connections write the file themselves, racing the
/// rewrite's switch; under `always` the writer thread does.
#[test]
fn rewrite_under_writes_loses_and_duplicates_nothing() {
    acknowledged_writes_survive_kill9("always", true);
    acknowledged_writes_survive_kill9("everysec", true);
}

/// What no reply waits for (here the DEL of a key active expiry reclaims)
/// still reaches the file, written by the writer thread.
#[test]
fn unawaited_writes_reach_the_file() {
    let dir = temp_dir("unawaited");
    let s = larder_aof(&dir, &[]);
    let mut c = s.client();
    cmd(&mut c, &["SET", "short", "v", "PX", "20"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read(incr_path(&dir)).unwrap();
        if text.windows(9).any(|w| w == b"$3\r\nDEL\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "no DEL in the AOF after 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn incr_path(dir: &Path) -> PathBuf {
    let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    let name = m
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string();
    dir.join("appendonlydir").join(name)
}

fn start_fails(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(common::larder_bin())
        .args([
            "server",
            "--port",
            &common::free_port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--dir", dir.to_str().unwrap(), "--appendonly", "yes"])
        .args(extra)
        .args(["--memcache-port", "0"])
        .output()
        .expect("run larder");
    assert!(!out.status.success(), "larder started on a bad AOF");
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn torn_tail_and_corrupt_middle() {
    let dir = temp_dir("torn");
    let mut s = larder_aof(&dir, &["--appendfsync", "always"]);
    let mut c = s.client();
    for i in 0..10 {
        cmd(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    drop(c);
    let _ = s.terminate(Duration::from_secs(5));
    let incr = incr_path(&dir);
    let good = std::fs::read(&incr).unwrap();
    // A torn last command.
    let mut torn = good.clone();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nk9");
    std::fs::write(&incr, &torn).unwrap();
    let msg = start_fails(&dir, &["--aof-load-truncated", "no"]);
    assert!(msg.contains("Unexpected end of file"), "{msg}");
    let s2 = larder_aof(&dir, &["--aof-load-truncated", "yes"]);
    assert_eq!(reply_int(&cmd(&mut s2.client(), &["DBSIZE"])), Some(10));
    assert!(s2.log().contains("Truncating the AOF"), "{}", s2.log());
    drop(s2);
    assert_eq!(
        std::fs::read(&incr).unwrap(),
        good,
        "file not truncated back"
    );
    // Garbage in the middle: refused, with the file and offset.
    let mut bad = good.clone();
    let at = good.len() / 2;
    bad.splice(at..at, b"garbage!".iter().copied());
    std::fs::write(&incr, &bad).unwrap();
    let msg = start_fails(&dir, &[]);
    assert!(
        msg.contains("Bad file format") && msg.contains("at offset"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A command as RESP, as an AOF holds it.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn manifest_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap()
}

/// Larder refusing to start on `dir`: its log (stdout) alone.
fn start_fails_log(dir: &Path) -> String {
    let out = Command::new(common::larder_bin())
        .args([
            "server",
            "--port",
            &common::free_port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--dir", dir.to_str().unwrap(), "--appendonly", "yes"])
        .args(["--memcache-port", "0"])
        .output()
        .expect("run larder");
    assert!(!out.status.success(), "larder started on a bad AOF");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn upgrades_an_old_single_file_aof() {
    // As Redis 6 left it: appendonly.aof in `dir`, no directory. A deadline
    // already past when loaded is kept, not a delete: the RPUSH after it
    // extends the same list, which expires once loading is over.
    let dir = temp_dir("upgrade");
    let mut old = Vec::new();
    for c in [
        &["SET", "k1", "v1"][..],
        &["RPUSH", "list", "foo"],
        &["PEXPIREAT", "list", "1000"],
        &["RPUSH", "list", "bar"],
    ] {
        old.extend(resp(c));
    }
    std::fs::write(dir.join("appendonly.aof"), &old).unwrap();
    let mut s = larder_aof(&dir, &[]);
    let mut c = s.client();
    assert_eq!(cmd(&mut c, &["GET", "k1"]), b"$2\r\nv1\r\n");
    assert_eq!(reply_int(&cmd(&mut c, &["LLEN", "list"])), Some(0));
    assert!(!dir.join("appendonly.aof").exists());
    assert_eq!(
        std::fs::read(dir.join("appendonlydir/appendonly.aof")).unwrap(),
        old
    );
    assert_eq!(
        manifest_text(&dir),
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert!(
        s.log().contains("Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."),
        "{}",
        s.log()
    );
    cmd(&mut c, &["SET", "k2", "v2"]);
    drop(c);
    let _ = s.terminate(Duration::from_secs(5));
    // Restarted, then rewritten: the old file was only ever a base.
    let s = larder_aof(&dir, &[]);
    let mut c = s.client();
    assert_eq!(
        cmd(&mut c, &["MGET", "k1", "k2"]),
        b"*2\r\n$2\r\nv1\r\n$2\r\nv2\r\n"
    );
    cmd(&mut c, &["BGREWRITEAOF"]);
    wait_rewrite(&mut c);
    assert_eq!(
        manifest_text(&dir),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    assert!(!dir.join("appendonlydir/appendonly.aof").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn upgrades_an_old_aof_with_an_rdb_preamble() {
    // An RDB (here Larder's own SAVE) followed by commands: the keys of both.
    let dir = temp_dir("preamble");
    let d = dir.to_str().unwrap();
    let mut s = start_larder(&["--dir", d, "--save", ""]);
    let mut c = s.client();
    cmd(&mut c, &["SET", "k1", "v1"]);
    cmd(&mut c, &["RPUSH", "l", "a", "b"]);
    assert_eq!(cmd(&mut c, &["SAVE"]), b"+OK\r\n");
    drop(c);
    let _ = s.terminate(Duration::from_secs(5));
    let mut old = std::fs::read(dir.join("dump.rdb")).unwrap();
    std::fs::remove_file(dir.join("dump.rdb")).unwrap();
    old.extend(resp(&["SET", "k2", "v2"]));
    old.extend(resp(&["RPUSH", "l", "c"]));
    std::fs::write(dir.join("appendonly.aof"), &old).unwrap();
    let s = larder_aof(&dir, &[]);
    let mut c = s.client();
    assert_eq!(
        cmd(&mut c, &["MGET", "k1", "k2"]),
        b"*2\r\n$2\r\nv1\r\n$2\r\nv2\r\n"
    );
    assert_eq!(reply_int(&cmd(&mut c, &["LLEN", "l"])), Some(3));
    let log = s.log();
    assert!(
        log.contains("Reading RDB preamble from AOF file..."),
        "{log}"
    );
    assert!(log.contains("Reading the remaining AOF tail..."), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_interrupted_upgrade_is_finished() {
    // The manifest was written, the file not moved yet.
    let dir = temp_dir("interrupted");
    std::fs::write(dir.join("appendonly.aof"), resp(&["SET", "k", "v"])).unwrap();
    std::fs::create_dir_all(dir.join("appendonlydir")).unwrap();
    std::fs::write(
        dir.join("appendonlydir/appendonly.aof.manifest"),
        "file appendonly.aof seq 1 type b\n",
    )
    .unwrap();
    let s = larder_aof(&dir, &[]);
    assert_eq!(cmd(&mut s.client(), &["GET", "k"]), b"$1\r\nv\r\n");
    assert!(!dir.join("appendonly.aof").exists());
    assert!(dir.join("appendonlydir/appendonly.aof").exists());
    drop(s);
    // Both there: the directory's copy is the AOF, the other is left alone.
    std::fs::write(dir.join("appendonly.aof"), resp(&["SET", "other", "x"])).unwrap();
    let s = larder_aof(&dir, &[]);
    let mut c = s.client();
    assert_eq!(cmd(&mut c, &["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(reply_int(&cmd(&mut c, &["EXISTS", "other"])), Some(0));
    assert!(dir.join("appendonly.aof").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_manifests_and_missing_files_stop_the_server() {
    let dir = temp_dir("badmanifest");
    let aofdir = dir.join("appendonlydir");
    std::fs::create_dir_all(&aofdir).unwrap();
    std::fs::write(
        aofdir.join("appendonly.aof.1.base.aof"),
        resp(&["SET", "a", "1"]),
    )
    .unwrap();
    std::fs::write(
        aofdir.join("appendonly.aof.1.incr.aof"),
        resp(&["SET", "b", "2"]),
    )
    .unwrap();
    let base = "file appendonly.aof.1.base.aof seq 1 type b\n";
    let long = format!(
        "{}\n",
        "file appendonly.aof.1.base.aof seq 1 type b ".repeat(30)
    );
    let cases: &[(String, &str)] = &[
        (
            format!("{base}\nfile appendonly.aof.1.incr.aof seq 1 type i\n"),
            "Invalid AOF manifest file format",
        ),
        (
            "filx appendonly.aof.1.base.aof seq 1 type b\n".into(),
            "Invalid AOF manifest file format",
        ),
        (
            format!("{base}file appendonly.aof.1.incr.aof type i\n"),
            "Invalid AOF manifest file format",
        ),
        (
            format!("{base}file appendonly.aof.1.incr.aof seq 1 type i newkey\n"),
            "Invalid AOF manifest file format",
        ),
        (long, "The AOF manifest file contains too long line"),
        (String::new(), "Found an empty AOF manifest"),
        (
            format!("{base}file appendonly.aof.2.incr.aof seq 2 type i\n"),
            "Unable to obtain the AOF file appendonly.aof.2.incr.aof length. stat: No such file or directory",
        ),
    ];
    for (manifest, expected) in cases {
        std::fs::write(aofdir.join("appendonly.aof.manifest"), manifest).unwrap();
        let log = start_fails_log(&dir);
        assert_eq!(log.matches(expected).count(), 1, "{manifest:?}: {log}");
    }
    // A good one loads both files.
    std::fs::write(
        aofdir.join("appendonly.aof.manifest"),
        format!("{base}file appendonly.aof.1.incr.aof seq 1 type i\n"),
    )
    .unwrap();
    let s = larder_aof(&dir, &[]);
    assert_eq!(
        cmd(&mut s.client(), &["MGET", "a", "b"]),
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// memcached writes
// ---------------------------------------------------------------------------

fn larder_mc_aof(dir: &Path, extra: &[&str]) -> McServer {
    let d = dir.to_str().expect("utf-8 path");
    let mut args = vec!["--dir", d, "--appendonly", "yes"];
    args.extend_from_slice(extra);
    start_larder_memcache(&args)
}

fn kill9(s: &mut McServer) {
    let _ = s.proc.child.kill();
    let _ = s.proc.child.wait();
}

fn lines(l: &[Vec<u8>]) -> String {
    l.iter()
        .map(|x| String::from_utf8_lossy(x).into_owned())
        .collect::<Vec<_>>()
        .join("|")
}

/// Sends memcached requests, returns the replies as one `|`-joined string.
fn mc(c: &mut McConn, req: &str) -> String {
    lines(&c.exchange(req.as_bytes()).expect("memcached reply"))
}

/// Every key of database 0 as memcached and RESP see it: the `mg` line
/// (key as stored, flags, value, stale / win-token flags) and the
/// absolute expiry.
fn mc_fingerprint(s: &McServer) -> Vec<String> {
    let mut r = s.proc.client();
    let mut m = McConn::connect(s.port);
    let mut keys = aggregate_elements(&cmd(&mut r, &["KEYS", "*"])).unwrap_or_default();
    keys.sort();
    keys.iter()
        .map(|k| {
            let k = String::from_utf8_lossy(k).into_owned();
            let at = reply_int(&cmd(&mut r, &["PEXPIRETIME", &k]));
            format!("{at:?} {}", mc(&mut m, &format!("mg {k} k f s v\r\n")))
        })
        .collect()
}

/// memcached writes of every kind (text and meta), with their replies.
fn run_mc_script(s: &McServer) {
    let mut c = McConn::connect(s.port);
    let mut r = s.proc.client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let abs = now + 5000;
    let steps: Vec<(String, &str)> = vec![
        ("set old 1 0 1\r\no\r\nflush_all\r\n".into(), "STORED|OK"),
        ("set f1 123 0 5\r\nhello\r\n".into(), "STORED"),
        ("set t1 0 1000 2\r\nt1\r\n".into(), "STORED"),
        (format!("set t2 0 {abs} 2\r\nt2\r\n"), "STORED"),
        (
            "set gone 0 0 1\r\ng\r\nset gone 0 -1 1\r\ng\r\n".into(),
            "STORED|STORED",
        ),
        (
            "add a1 7 0 2\r\na1\r\nadd a1 8 0 2\r\nzz\r\n".into(),
            "STORED|NOT_STORED",
        ),
        ("replace f1 9 500 6\r\nhello2\r\n".into(), "STORED"),
        (
            "append f1 0 0 2\r\n++\r\nprepend f1 0 0 2\r\n--\r\n".into(),
            "STORED|STORED",
        ),
        ("set i1 5 0 2\r\n42\r\nincr i1 100\r\n".into(), "STORED|142"),
        ("set i2 0 0 3\r\n100\r\ndecr i2 1\r\n".into(), "STORED|99"),
        ("set i3 0 0 1\r\n7\r\ndecr i3 1000\r\n".into(), "STORED|0"),
        (
            "set d1 0 0 1\r\nd\r\ndelete d1\r\ndelete d1\r\n".into(),
            "STORED|DELETED|NOT_FOUND",
        ),
        ("touch t1 2000\r\n".into(), "TOUCHED"),
        ("gat 3000 a1\r\n".into(), "VALUE a1 7 2|a1|END"),
        ("gat 0 t2\r\n".into(), "VALUE t2 0 2|t2|END"),
        (
            "set nr 77 0 2 noreply\r\nnr\r\nincr i1 1 noreply\r\n".into(),
            "",
        ),
        (
            "set x1 0 0 1\r\nx\r\ngat -1 x1\r\n".into(),
            "STORED|VALUE x1 0 1|x|END",
        ),
        (
            "set x2 0 0 1\r\nx\r\ntouch x2 -1\r\n".into(),
            "STORED|TOUCHED",
        ),
        ("ms m1 2 F5 T100\r\nm1\r\n".into(), "HD"),
        ("md m1 I T30\r\n".into(), "HD"),
        (
            "ma c1 N0 J10\r\nma c1 D5\r\nma c1 MD D3 v\r\n".into(),
            "HD|HD|VA 2|12",
        ),
        ("mg v1 N30 s\r\n".into(), "HD s0 W"),
        (
            "set r1 0 10 1\r\nr\r\nmg r1 R30 s\r\n".into(),
            "STORED|HD s1 W",
        ),
        ("ms Zm9v 1 b F4\r\nb\r\n".into(), "HD"),
        ("mg a1 T4000\r\n".into(), "HD"),
    ];
    for (req, want) in &steps {
        assert_eq!(mc(&mut c, req), *want, "{req:?}");
    }
    // cas: a good and a bad token.
    let got = c.exchange(b"gets f1\r\n").unwrap();
    let cas = memcache_common::cas_of(&got).expect("gets cas");
    assert_eq!(
        mc(&mut c, &format!("cas f1 11 0 3 {cas}\r\ncas\r\n")),
        "STORED"
    );
    assert_eq!(
        mc(&mut c, &format!("cas f1 12 0 3 {cas}\r\nbad\r\n")),
        "EXISTS"
    );
    // A stale set (ms I with an older CAS) keeps the item, marked stale.
    assert_eq!(mc(&mut c, "ms m2 2 F6\r\nm2\r\n"), "HD");
    let got = c.exchange(b"mg m2 c\r\n").unwrap();
    let cas = memcache_common::cas_of(&got).expect("mg c");
    assert_eq!(
        mc(&mut c, &format!("ms m2 2 C{} I F3\r\nst\r\n", cas - 1)),
        "HD"
    );
    // A RESP write, then memcached reads: no memcached state to keep.
    assert_eq!(cmd(&mut r, &["SET", "rs", "plain"]), b"+OK\r\n");
    assert_eq!(
        mc(&mut c, "gets rs\r\nmg rs v\r\n")
            .matches("plain")
            .count(),
        2
    );
}

/// What an AOF's commands are named, and that every expiry is absolute.
fn aof_commands(dir: &Path) -> Vec<String> {
    let data = std::fs::read(incr_path(dir)).unwrap();
    let mut names = Vec::new();
    for cmd in String::from_utf8_lossy(&data).split('*').skip(1) {
        let parts: Vec<&str> = cmd.split("\r\n").collect();
        let name = parts.get(2).copied().unwrap_or("").to_uppercase();
        let args: Vec<&str> = parts.iter().skip(2).step_by(2).copied().collect();
        if name == "SET" {
            assert!(
                args.len() == 3 || (args.len() == 5 && args[3] == "PXAT"),
                "{args:?}"
            );
        }
        names.push(name);
    }
    names
}

#[test]
fn memcached_writes_survive_restart_rewrite_and_rdb() {
    let dir = temp_dir("mc");
    let mut s = larder_mc_aof(&dir, &["--appendfsync", "always"]);
    run_mc_script(&s);
    // The first read hands out win tokens of stale items (a logged write);
    // the second is the stable state.
    mc_fingerprint(&s);
    let before = mc_fingerprint(&s);
    assert!(before.len() >= 15, "{before:#?}");
    for want in ["kZm9v b f4", " X", " Z", "knr f77", "kf1 f11 s3|cas"] {
        assert!(
            before.iter().any(|l| l.contains(want)),
            "{want}: {before:#?}"
        );
    }
    let mut names = aof_commands(&dir);
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "DEL",
            "FLUSHDB",
            "LARDER.MCSET",
            "PERSIST",
            "PEXPIREAT",
            "SELECT",
            "SET"
        ]
    );
    kill9(&mut s);

    // From the AOF's commands.
    let mut s = larder_mc_aof(&dir, &[]);
    assert_eq!(mc_fingerprint(&s), before);
    // From a rewrite with an RDB preamble.
    let mut r = s.proc.client();
    cmd(&mut r, &["BGREWRITEAOF"]);
    wait_rewrite(&mut r);
    kill9(&mut s);
    let mut s = larder_mc_aof(&dir, &[]);
    assert_eq!(mc_fingerprint(&s), before);
    // From a rewrite as commands (RESTORE, and LARDER.MCSET for items
    // with flags or meta bits).
    let mut r = s.proc.client();
    cmd(&mut r, &["CONFIG", "SET", "aof-use-rdb-preamble", "no"]);
    cmd(&mut r, &["BGREWRITEAOF"]);
    wait_rewrite(&mut r);
    kill9(&mut s);
    let s = larder_mc_aof(&dir, &[]);
    assert_eq!(mc_fingerprint(&s), before);
    // An RDB snapshot keeps them too, and Redis loads it (ignoring the
    // larder-mc AUX fields).
    let mut r = s.proc.client();
    assert_eq!(cmd(&mut r, &["SAVE"]), b"+OK\r\n");
    let values = |c: &mut RawClient| -> Vec<Vec<u8>> {
        let mut keys = aggregate_elements(&cmd(c, &["KEYS", "*"])).unwrap_or_default();
        keys.sort();
        keys.iter()
            .map(|k| cmd(c, &["GET", &String::from_utf8_lossy(k)]))
            .collect()
    };
    let resp_view = values(&mut r);
    drop(r);
    drop(s);
    let d = dir.to_str().unwrap();
    let s = start_larder_memcache(&["--dir", d]);
    assert_eq!(mc_fingerprint(&s), before);
    drop(s);
    if let Some(redis) = common::start_redis(&["--dir", d]) {
        assert_eq!(values(&mut redis.client()), resp_view);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn memcached_always_keeps_every_acknowledged_write_across_kill9() {
    let dir = temp_dir("mc-always");
    let mut s = larder_mc_aof(&dir, &["--appendfsync", "always"]);
    let stop = Arc::new(AtomicBool::new(false));
    let port = s.port;
    // Each writer stores item i with flags i (noreply: durable before the
    // next reply), then increments its counter and waits for the reply.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = McConn::connect(port);
                c.exchange(format!("set c{w} 0 0 1\r\n0\r\n").as_bytes())
                    .expect("set counter");
                let mut acked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let i = acked + 1;
                    let req = format!("set w{w}:{i} {i} 0 1 noreply\r\nx\r\nincr c{w} 1\r\n");
                    match c.exchange(req.as_bytes()) {
                        Ok(l)
                            if l.first().map(|x| x.as_slice())
                                == Some(i.to_string().as_bytes()) =>
                        {
                            acked = i
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    kill9(&mut s);
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(acked.iter().sum::<u64>() > 100, "{acked:?}");
    let s = larder_mc_aof(&dir, &[]);
    let mut c = McConn::connect(s.port);
    for (w, &n) in acked.iter().enumerate() {
        let got = mc(&mut c, &format!("get c{w}\r\n"));
        let count: u64 = got
            .split('|')
            .nth(1)
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        assert!(count >= n && count <= n + 1, "c{w}: {count} vs acked {n}");
        for i in 1..=n {
            assert_eq!(
                mc(&mut c, &format!("mg w{w}:{i} f v\r\n")),
                format!("VA 1 f{i}|x"),
                "w{w}:{i} lost"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// While DEBUG LOADAOF loads (here a script in the AOF that runs a while),
/// other clients get LOADING, as from Redis; the load then completes.
#[test]
fn other_clients_get_loading_while_debug_loadaof_runs() {
    let dir = temp_dir("loading");
    let s = larder_aof(
        &dir,
        &[
            "--aof-use-rdb-preamble",
            "no",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut c = s.client();
    cmd(&mut c, &["SELECT", "9"]);
    // A script as an older Redis logged it (7.0 logs its effects): slow to
    // replay. The file is in append mode: this lands whole at its end.
    let script = "redis.call('set',KEYS[1],'y'); for i=1,1500000 do redis.call('ping') end";
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(incr_path(&dir))
        .expect("the INCR file");
    let mut bytes = common::encode_command(&[b"SELECT", b"9"]);
    bytes.extend(common::encode_command(&[
        b"EVAL",
        script.as_bytes(),
        b"1",
        b"x",
    ]));
    std::io::Write::write_all(&mut file, &bytes).expect("append");
    drop(file);
    let mut loader = s.client();
    loader.send_str(&["DEBUG", "LOADAOF"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = cmd(&mut c, &["PING"]);
        if r.starts_with(b"-LOADING") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never LOADING: {}",
            String::from_utf8_lossy(&r)
        );
    }
    assert_eq!(loader.read_reply(), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &["GET", "x"]), b"$1\r\ny\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

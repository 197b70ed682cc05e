//! MIGRATE against real servers: the same script of MIGRATE calls runs with
//! Redis as the source and with Larder as the source (each into a fresh
//! redis-server, and Larder into Larder), and every reply, every key left
//! behind and every key that arrived must be the same, and so must the
//! connection caching the target and INFO see. Also DEBUG ERROR and
//! MODULE under `enable-module-command`, which clients' own suites use.

mod common;

use common::{esc, start_larder, start_redis, RawClient, ServerProc};

/// Writes the source's dataset, runs the MIGRATE script toward `dst`, and
/// returns a transcript: replies, then what each side holds.
fn scenario(src: &ServerProc, dst: &ServerProc) -> Vec<String> {
    let mut s = src.client();
    let mut d = dst.client();
    let port = dst.addr().port().to_string();
    let mut out = Vec::new();
    let mut run = |c: &mut RawClient, args: &[&str]| {
        let r = c.cmd_str(args);
        // The target's port differs between runs.
        let line = format!("{} -> {}", args.join(" "), esc(&r));
        out.push(line.replace(&port, "PORT"));
    };
    for cmd in [
        &["SET", "s1", "hello"][..],
        &["SET", "s2", "12345", "PX", "100000"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["ZADD", "z", "1", "one", "2", "two"],
        &["SADD", "set", "1", "2"],
        &["SET", "busy", "here"],
        &["SET", "c1", "copied"],
    ] {
        run(&mut s, cmd);
    }
    run(&mut d, &["SET", "busy", "there"]);
    run(&mut d, &["SELECT", "3"]);
    run(&mut d, &["SET", "s1", "target-db3"]);
    let p = port.as_str();
    // Single key, missing key, several keys, into another database.
    run(&mut s, &["MIGRATE", "127.0.0.1", p, "s1", "0", "5000"]);
    run(&mut s, &["MIGRATE", "127.0.0.1", p, "nokey", "0", "5000"]);
    run(
        &mut s,
        &[
            "MIGRATE",
            "127.0.0.1",
            p,
            "",
            "3",
            "5000",
            "KEYS",
            "l",
            "h",
            "z",
            "set",
            "missing",
        ],
    );
    // BUSYKEY, then REPLACE; COPY keeps the source key.
    run(&mut s, &["MIGRATE", "127.0.0.1", p, "busy", "0", "5000"]);
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "busy", "0", "5000", "REPLACE"],
    );
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "c1", "0", "5000", "COPY"],
    );
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "s2", "0", "0", "COPY", "REPLACE"],
    );
    // Errors: syntax, KEYS with a key argument, bad numbers, nothing listening.
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "s2", "0", "5000", "BOGUS"],
    );
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "s2", "0", "5000", "AUTH"],
    );
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "s2", "0", "5000", "KEYS", "s2"],
    );
    run(&mut s, &["MIGRATE", "127.0.0.1", p, "s2", "x", "5000"]);
    run(&mut s, &["MIGRATE", "127.0.0.1", p, "s2", "0", "1.5"]);
    // Nothing listens on port 1.
    run(&mut s, &["MIGRATE", "127.0.0.1", "1", "s2", "0", "500"]);
    // The target refuses: wrong password, then a database out of range.
    run(
        &mut s,
        &[
            "MIGRATE",
            "127.0.0.1",
            p,
            "s2",
            "0",
            "5000",
            "AUTH",
            "nopass",
        ],
    );
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "s2", "99", "5000", "REPLACE"],
    );
    // The connection is cached: the target saw SELECT only when the
    // database changed (or after its error); one the target closed is
    // replaced without the caller noticing.
    let mut seen = vec![info_lines(&mut s, "stats", &["migrate_cached_sockets"])];
    run(
        &mut d,
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    run(&mut s, &["SET", "again", "x"]);
    run(&mut s, &["MIGRATE", "127.0.0.1", p, "again", "0", "5000"]);
    run(&mut s, &["SET", "again", "y"]);
    run(
        &mut s,
        &["MIGRATE", "127.0.0.1", p, "again", "0", "5000", "REPLACE"],
    );
    seen.push(info_lines(&mut s, "stats", &["migrate_cached_sockets"]));
    seen.push(info_lines(&mut d, "clients", &["connected_clients"]));
    seen.push(info_lines(
        &mut d,
        "commandstats",
        &["cmdstat_select", "cmdstat_restore", "cmdstat_auth"],
    ));
    run(&mut s, &["DBSIZE"]);
    for k in ["s1", "s2", "l", "h", "z", "set", "busy", "c1"] {
        run(&mut s, &["EXISTS", k]);
    }
    for (db, keys) in [
        ("0", &["s1", "busy", "c1", "s2"][..]),
        ("3", &["s1", "l", "h", "z", "set"]),
    ] {
        run(&mut d, &["SELECT", db]);
        for k in keys {
            run(&mut d, &["TYPE", k]);
            run(&mut d, &["DUMP", k]);
        }
    }
    run(&mut d, &["SELECT", "0"]);
    let ttl = d.cmd_str(&["PTTL", "s2"]);
    let ttl = common::reply_int(&ttl).unwrap_or(-3);
    out.extend(seen);
    out.push(format!(
        "s2 keeps its TTL: {}",
        ttl > 90_000 && ttl <= 100_000
    ));
    out
}

/// The INFO `section` lines of `fields`, without timings (`usec`).
fn info_lines(c: &mut RawClient, section: &str, fields: &[&str]) -> String {
    let raw = c.cmd_str(&["INFO", section]);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut out: Vec<String> = text
        .split("\r\n")
        .filter(|l| fields.iter().any(|f| l.starts_with(&format!("{f}:"))))
        .map(|l| {
            l.split(',')
                .filter(|kv| !kv.starts_with("usec"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    out.sort();
    out.join(" ")
}

#[test]
fn migrate_matches_redis() {
    let Some(redis_src) = start_redis(&[]) else {
        return;
    };
    let Some(redis_dst) = start_redis(&[]) else {
        return;
    };
    let expected = scenario(&redis_src, &redis_dst);

    let larder = start_larder(&[]);
    let Some(dst) = start_redis(&[]) else { return };
    let got = scenario(&larder, &dst);
    assert_eq!(expected, got, "Larder -> Redis differs from Redis -> Redis");

    let larder = start_larder(&[]);
    let larder_dst = start_larder(&[]);
    let got = scenario(&larder, &larder_dst);
    assert_eq!(
        expected, got,
        "Larder -> Larder differs from Redis -> Redis"
    );
}

#[test]
fn migrate_is_propagated_as_del() {
    let src = start_larder(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--enable-debug-command",
        "yes",
    ]);
    let Some(dst) = start_redis(&[]) else { return };
    let mut s = src.client();
    s.cmd_str(&["SET", "a", "1"]);
    s.cmd_str(&["SET", "b", "2"]);
    let p = dst.addr().port().to_string();
    let r = s.cmd_str(&[
        "MIGRATE",
        "127.0.0.1",
        &p,
        "",
        "0",
        "5000",
        "KEYS",
        "a",
        "b",
        "c",
    ]);
    assert_eq!(r, b"+OK\r\n");
    // Restarting from the AOF must not bring the keys back.
    let r = s.cmd_str(&["DEBUG", "LOADAOF"]);
    assert_eq!(r, b"+OK\r\n", "{}", esc(&r));
    assert_eq!(s.cmd_str(&["DBSIZE"]), b":0\r\n");
}

#[test]
fn debug_error_and_module_command() {
    let Some(redis) = start_redis(&[
        "--enable-debug-command",
        "yes",
        "--enable-module-command",
        "yes",
    ]) else {
        return;
    };
    let larder = start_larder(&[
        "--enable-debug-command",
        "yes",
        "--enable-module-command",
        "yes",
    ]);
    let script: &[&[&str]] = &[
        &[
            "DEBUG",
            "ERROR",
            "READONLY You can't write against a read only replica.",
        ],
        &["DEBUG", "ERROR", "LOADING Redis is loading"],
        &["DEBUG", "ERROR", "two\r\nlines"],
        &["DEBUG", "ERROR"],
        &["MODULE", "LOAD", "/no/such/module.so"],
        &["MODULE", "LOADEX", "/no/such/module.so", "ARGS", "x"],
        &["MODULE", "UNLOAD", "nosuch"],
        &["MODULE", "LIST"],
        &["INFO", "errorstats"],
    ];
    let (mut r, mut l) = (redis.client(), larder.client());
    r.cmd_str(&["CONFIG", "RESETSTAT"]);
    l.cmd_str(&["CONFIG", "RESETSTAT"]);
    for cmd in script {
        assert_eq!(esc(&r.cmd_str(cmd)), esc(&l.cmd_str(cmd)), "{cmd:?}");
    }
    // With the default `enable-module-command no`, MODULE LOAD is refused.
    let Some(redis) = start_redis(&[]) else {
        return;
    };
    let larder = start_larder(&[]);
    let cmd = ["MODULE", "LOAD", "/x.so"];
    assert_eq!(
        esc(&redis.client().cmd_str(&cmd)),
        esc(&larder.client().cmd_str(&cmd))
    );
}

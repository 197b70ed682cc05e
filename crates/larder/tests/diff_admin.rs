//! Differential tests of the ACL, auth and admin gaps Redis's TCL suite
//! found: the keys ACL checks in MIGRATE's KEYS form, SORT's BY and GET
//! needing read access to every key, subscribers closed when
//! `allchannels` is revoked, a relative `aclfile` under `dir`, an
//! unauthenticated client that does not read its replies, INFO
//! commandstats per subcommand, `save` flags adding up, FLUSHALL's save
//! resetting the dirty counter, `oom-score-adj`, a replica's AUTH failure
//! and `bind-source-addr`, `shutdown-on-sig*` flags, and
//! `proc-title-template`'s validation.

mod common;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{start_larder, start_redis, Cmp, DiffSession, RawClient};

macro_rules! session {
    ($args:expr) => {
        match DiffSession::start($args) {
            Some(s) => s,
            None => return,
        }
    };
}

/// A connection authenticated as `user` (no password) on each server.
fn login(s: &DiffSession, user: &str) -> (RawClient, RawClient) {
    let (mut l, mut r) = s.new_clients();
    for c in [&mut l, &mut r] {
        assert_eq!(c.cmd_str(&["auth", user, "nopass"]), b"+OK\r\n");
    }
    (l, r)
}

/// The same command on the two connections, replies compared.
fn same(l: &mut RawClient, r: &mut RawClient, cmd: &[&str]) {
    let (a, b) = (l.cmd_str(cmd), r.cmd_str(cmd));
    assert_eq!(
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        "{cmd:?}"
    );
}

#[test]
fn acl_keys_of_migrate_and_sort() {
    let mut s = session!(&[]);
    s.both(&[
        "acl",
        "setuser",
        "kt",
        "+@all",
        "%R~read*",
        "%W~write*",
        "%RW~rw*",
    ]);
    let migrate: &[&[&str]] = &[
        &["rw", "0", "500"],
        &["read", "0", "500"],
        &["", "0", "5000", "KEYS", "rw"],
        &["", "0", "5000", "KEYS", "read"],
        &["", "0", "5000", "KEYS", "write"],
        &["", "0", "5000", "AUTH", "KEYS", "KEYS", "read"],
        &["", "0", "5000", "AUTH2", "KEYS", "123", "KEYS", "write"],
        &["", "0", "5000", "AUTH2", "USER", "KEYS", "KEYS", "rw"],
        &["", "0", "5000", "COPY", "REPLACE", "KEYS", "rw", "read"],
        // KEYS after a key: no keys (MIGRATE reports the syntax error).
        &["read", "0", "5000", "KEYS", "read"],
    ];
    for tail in migrate {
        let mut cmd = vec!["acl", "dryrun", "kt", "MIGRATE", "h", "1"];
        cmd.extend_from_slice(tail);
        s.case(&cmd);
    }
    s.case(&[
        "command", "getkeys", "migrate", "h", "1", "", "0", "5", "KEYS", "a", "b",
    ]);

    s.both(&["set", "v1", "1"]);
    s.both(&["lpush", "mylist", "1"]);
    for keys in [
        &["~mylist"][..],
        &["~mylist", "~v*"],
        &["~mylist", "%W~*"],
        &["~mylist", "%R~*"],
        &["allkeys"],
    ] {
        let mut rule = vec![
            "acl", "setuser", "sorter", "reset", "on", "nopass", "+sort", "+sort_ro",
        ];
        rule.extend_from_slice(keys);
        s.both(&rule);
        let (mut l, mut r) = login(&s, "sorter");
        for cmd in [
            &["sort", "mylist", "by", "v*"][..],
            &["sort", "mylist", "get", "v*"],
            &["sort", "mylist", "by", "nosort"],
            &["sort_ro", "mylist", "by", "v*", "get", "#"],
            &["sort", "mylist", "limit", "0", "1", "by", "v*"],
        ] {
            same(&mut l, &mut r, cmd);
        }
    }
    // A second selector with full read access is enough.
    s.both(&[
        "acl",
        "setuser",
        "sorter",
        "reset",
        "on",
        "nopass",
        "+sort",
        "~mylist",
        "(+sort %R~*)",
    ]);
    let (mut l, mut r) = login(&s, "sorter");
    same(&mut l, &mut r, &["sort", "mylist", "by", "v*"]);
}

#[test]
fn revoking_allchannels_closes_subscribers() {
    let mut s = session!(&[]);
    s.both(&[
        "acl",
        "setuser",
        "psuser",
        "on",
        "nopass",
        "+@all",
        "allchannels",
    ]);
    let (mut l, mut r) = login(&s, "psuser");
    for c in [&mut l, &mut r] {
        assert_eq!(c.cmd_str(&["client", "setname", "deathrow"]), b"+OK\r\n");
        c.cmd_str(&["psubscribe", "foo"]);
    }
    s.both(&["acl", "setuser", "psuser", "resetchannels"]);
    let listed = |c: &mut RawClient| {
        String::from_utf8_lossy(&c.cmd_str(&["client", "list"])).contains("deathrow")
    };
    assert_eq!(listed(&mut s.larder), listed(&mut s.redis));
    assert_eq!(
        l.is_closed_within(Duration::from_secs(2)),
        r.is_closed_within(Duration::from_secs(2))
    );
}

#[test]
fn relative_aclfile_is_under_dir() {
    let base = std::env::temp_dir().join(format!("larder-admin-acl-{}", std::process::id()));
    let (ldir, rdir) = (base.join("l"), base.join("r"));
    let users = "user default on nopass ~* &* +@all\nuser alice on (+get ~rw*)\nuser bob on (+set %W~w*) (+get %R~r*)\n";
    for d in [&ldir, &rdir] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("users.acl"), users).unwrap();
    }
    let arg = |d: &std::path::Path| {
        [
            "--dir".to_string(),
            d.display().to_string(),
            "--aclfile".into(),
            "users.acl".into(),
        ]
    };
    let (la, ra) = (arg(&ldir), arg(&rdir));
    let Some(redis_proc) = start_redis(&ra.iter().map(String::as_str).collect::<Vec<_>>()) else {
        return;
    };
    let larder_proc = start_larder(&la.iter().map(String::as_str).collect::<Vec<_>>());
    let (mut l, mut r) = (larder_proc.client(), redis_proc.client());
    same(&mut l, &mut r, &["acl", "getuser", "bob"]);
    same(
        &mut l,
        &mut r,
        &["acl", "setuser", "carol", "on", "nopass", "+ping"],
    );
    same(&mut l, &mut r, &["acl", "save"]);
    let saved = |d: &std::path::Path| std::fs::read_to_string(d.join("users.acl")).unwrap();
    assert_eq!(saved(&ldir), saved(&rdir));
    same(&mut l, &mut r, &["acl", "load"]);
    same(&mut l, &mut r, &["acl", "users"]);
    let _ = std::fs::remove_dir_all(&base);
}

/// Floods SETs without reading a reply: true when the server closes the
/// connection (a write fails) before the writes stall for 10 s.
fn closed_while_flooding(port: u16) -> bool {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let chunk = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n5\r\n".repeat(2000);
    for _ in 0..2000 {
        if let Err(e) = c.write_all(&chunk) {
            return !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            );
        }
    }
    false
}

#[test]
fn unauthenticated_client_not_reading_is_closed() {
    let s = session!(&["--requirepass", "secret"]);
    assert!(closed_while_flooding(s.redis_proc.port), "redis");
    assert!(closed_while_flooding(s.larder_proc.port), "larder");
}

/// INFO commandstats with the timings masked, lines sorted (Redis prints
/// them in its command dict's order).
fn cmdstats_norm(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| l.starts_with("cmdstat_"))
        .map(|l| {
            l.split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    lines.sort();
    lines.join("\n").into_bytes()
}

#[test]
fn commandstats_per_subcommand() {
    let mut s = session!(&[]);
    s.run(&[
        &["config", "resetstat"],
        &["xadd", "mystream", "1-1", "f", "v"],
        &[
            "xgroup",
            "createconsumer",
            "mystream",
            "mygroup",
            "consumer",
        ],
        &[
            "eval",
            "redis.pcall('XGROUP', 'CREATECONSUMER', 's1', 'mygroup', 'consumer') return",
            "0",
        ],
        &["config", "get"],
        &["config", "nosuch"],
        &["object", "encoding", "mystream"],
        &["multi"],
        &["client", "nosuch"],
        &["exec"],
    ]);
    s.case_with(&["info", "commandstats"], Cmp::Normalize(cmdstats_norm));
    s.case(&["info", "errorstats"]);
}

/// One INFO field's value.
fn info_field(c: &mut RawClient, section: &str, name: &str) -> String {
    let text = String::from_utf8_lossy(&c.cmd_str(&["info", section])).into_owned();
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn save_flags_add_up_and_flushall_saves() {
    let mut s = session!(&["--save", "900 1", "--save", "100 100"]);
    s.case(&["config", "get", "save"]);
    s.run(&[&["set", "key", "value"], &["flushall"]]);
    let field = |c: &mut RawClient| info_field(c, "persistence", "rdb_changes_since_last_save");
    assert_eq!(field(&mut s.larder), field(&mut s.redis));
}

/// The oom_score_adj of process `pid`.
fn oom_score(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn oom_score_adj_sets_the_process_score() {
    if !std::path::Path::new("/proc/self/oom_score_adj").exists() {
        return;
    }
    let mut s = session!(&[]);
    let scores = |s: &DiffSession| {
        (
            oom_score(s.larder_proc.pid()),
            oom_score(s.redis_proc.pid()),
        )
    };
    let steps: &[&[&str]] = &[
        &["config", "set", "oom-score-adj-values", "10 20 30"],
        &["config", "set", "oom-score-adj", "yes"],
        &["config", "set", "oom-score-adj-values", "15 20 30"],
        &["config", "set", "oom-score-adj", "absolute"],
        &["config", "set", "oom-score-adj-values", "-2001 0 0"],
        &["config", "set", "oom-score-adj-values", "1 2"],
        &["config", "set", "oom-score-adj-values", "+7 8 9"],
        &["config", "get", "oom-score-adj*"],
        &["config", "set", "oom-score-adj", "no"],
    ];
    for step in steps {
        s.case(step);
        let (l, r) = scores(&s);
        assert_eq!(l, r, "after {step:?}");
    }
}

/// Waits up to 10 s for `f`.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn replica_auth_failure_and_source_address() {
    let Some(master) = start_redis(&["--protected-mode", "no", "--requirepass", "pw"]) else {
        return;
    };
    let port = master.port.to_string();
    let args = [
        "--replicaof",
        "127.0.0.1",
        &port,
        "--masterauth",
        "wrong",
        "--bind-source-addr",
        "127.0.0.2",
    ];
    let Some(redis) = start_redis(&args) else {
        return;
    };
    let larder = start_larder(&args);
    for p in [&redis, &larder] {
        eventually("the AUTH failure in the log", || {
            p.log().contains("Unable to AUTH to MASTER")
        });
        assert_eq!(
            p.client().cmd_str(&["config", "set", "masterauth", "pw"]),
            b"+OK\r\n"
        );
    }
    let mut m = master.client();
    assert_eq!(m.cmd_str(&["auth", "pw"]), b"+OK\r\n");
    // Both replicas connect from 127.0.0.2.
    eventually("two online replicas from 127.0.0.2", || {
        let text = String::from_utf8_lossy(&m.cmd_str(&["info", "replication"])).into_owned();
        text.matches("ip=127.0.0.2,").count() == 2 && text.matches("state=online").count() == 2
    });
}

#[test]
fn shutdown_on_signal_flags() {
    let mut s = session!(&[]);
    for v in [
        "nosave now",
        "NOW force",
        "save nosave",
        "bogus",
        "",
        "save",
        "now default",
        "default",
    ] {
        s.case(&["config", "set", "shutdown-on-sigterm", v]);
        s.case(&["config", "get", "shutdown-on-sig*"]);
    }
    s.case(&["config", "set", "shutdown-on-sigint", "force now nosave"]);
    s.case(&["config", "get", "shutdown-on-sigint"]);
}

/// `proc-title-template` is expanded to be checked, as Redis does: unknown
/// variables, an unclosed `{` and a title that would be empty are refused.
#[test]
fn proc_title_template_is_validated() {
    let mut s = session!(&[]);
    for v in [
        "{invalid-var}",
        "TEST {title} {listen-addr} {port} {tls-port} {unixsocket} {config-file}",
        "{title} {nope",
        "{title}",
        "  {title} {server-mode} ",
        "{unixsocket}",
        "{{title}",
        "x{",
        "",
        "{}",
        "name {port}",
    ] {
        s.case(&["config", "set", "proc-title-template", v]);
        s.case(&["config", "get", "proc-title-template"]);
    }
}

/// The names of INFO's fields, in order, without the per-command,
/// per-error, per-database and latency-percentile ones.
fn info_names(c: &mut RawClient) -> Vec<String> {
    let text = String::from_utf8_lossy(&c.cmd_str(&["info", "everything"])).into_owned();
    text.split("\r\n")
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .filter(|k| {
            let per_item = ["cmdstat_", "errorstat_", "latency_percentiles_usec_"]
                .iter()
                .any(|p| k.starts_with(p));
            let per_db = k.starts_with("db") && k[2..].parse::<u32>().is_ok();
            !per_item && !per_db
        })
        .collect()
}

/// INFO has Redis's fields in Redis's order (exporters and dashboards read
/// them by name), plus Larder's version; and the counters among them count.
#[test]
fn info_fields_are_redis_fields() {
    let mut s = session!(&[]);
    s.run(&[
        &["eval", "return redis.call('set', KEYS[1], 'v')", "1", "k"],
        &[
            "function",
            "load",
            "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
        ],
    ]);
    let redis = info_names(&mut s.redis);
    let larder: Vec<String> = info_names(&mut s.larder)
        .into_iter()
        .filter(|k| k != "larder_version")
        .collect();
    assert_eq!(larder, redis);
    let c = &mut s.larder;
    let num = |c: &mut RawClient, section: &str, name: &str| -> u64 {
        info_field(c, section, name)
            .parse()
            .unwrap_or_else(|_| panic!("{name}"))
    };
    assert_eq!(num(c, "memory", "number_of_functions"), 1);
    assert_eq!(num(c, "memory", "number_of_libraries"), 1);
    assert_eq!(num(c, "memory", "number_of_cached_scripts"), 1);
    assert!(num(c, "memory", "used_memory_lua") > 10_000);
    assert!(num(c, "memory", "used_memory_scripts") > 40);
    assert!(num(c, "memory", "used_memory_startup") > 0);
    // jemalloc's own view: what it allocated fits in its active pages,
    // which fit in what it keeps resident.
    let allocated = num(c, "memory", "allocator_allocated");
    let active = num(c, "memory", "allocator_active");
    assert!(allocated > 0 && active >= allocated, "{allocated} {active}");
    assert!(num(c, "memory", "allocator_resident") >= active);
    let reads = num(c, "stats", "total_reads_processed");
    let writes = num(c, "stats", "total_writes_processed");
    assert!(reads >= 3 && writes >= 3, "{reads} {writes}");
    c.cmd_str(&["ping"]);
    assert!(num(c, "stats", "total_reads_processed") > reads);
    assert!(num(c, "stats", "total_writes_processed") > writes);
    assert_eq!(num(c, "stats", "io_threaded_reads_processed"), 0);
}

/// Under `noeviction`, a write refused for memory opens an "exceeded"
/// period that a write fitting again closes: current and total time as
/// Redis counts them.
#[test]
fn eviction_exceeded_time_is_counted() {
    let mut s = session!(&["--maxmemory-policy", "noeviction"]);
    for (who, c) in [("larder", &mut s.larder), ("redis", &mut s.redis)] {
        // 16 MB made by the server (no big query buffer to come and go).
        c.cmd_str(&["setrange", "big", "16777215", "x"]);
        c.cmd_str(&["config", "set", "maxmemory", "8mb"]);
        let refused = c.cmd_str(&["set", "k", "v"]);
        assert!(
            refused.starts_with(b"-OOM"),
            "{}",
            String::from_utf8_lossy(&refused)
        );
        std::thread::sleep(std::time::Duration::from_millis(120));
        let current: u64 = info_field(c, "stats", "current_eviction_exceeded_time")
            .parse()
            .unwrap();
        assert!(current >= 100, "{who}: current {current}");
        c.cmd_str(&["del", "big"]);
        assert_eq!(c.cmd_str(&["set", "k", "v"]), b"+OK\r\n");
        let current: u64 = info_field(c, "stats", "current_eviction_exceeded_time")
            .parse()
            .unwrap();
        let total: u64 = info_field(c, "stats", "total_eviction_exceeded_time")
            .parse()
            .unwrap();
        assert_eq!(current, 0, "{who}");
        assert!(total >= 100, "{who}: total {total}");
        c.cmd_str(&["config", "set", "maxmemory", "0"]);
    }
}

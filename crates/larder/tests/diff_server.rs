//! Differential tests of the server commands: CONFIG GET/SET/RESETSTAT,
//! DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, CLIENT, COMMAND, TIME, LASTSAVE,
//! SLOWLOG, LATENCY, MEMORY, DEBUG, SHUTDOWN and INFO — the deterministic
//! parts exactly, the rest by reply type.

mod common;
use common::{Cmp, DiffSession};

/// Both servers accept DEBUG (Redis refuses it by default).
const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes"];

macro_rules! session {
    ($args:expr) => {
        match DiffSession::start($args) {
            Some(s) => s,
            None => return,
        }
    };
}

const CONFIG_NAMES: &[&str] = &[
    "maxmemory",
    "MAXMEMORY",
    "MaxMemory-Policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "timeout",
    "tcp-keepalive",
    "tcp-backlog",
    "databases",
    "maxclients",
    "hz",
    "save",
    "appendonly",
    "appendfsync",
    "appendfilename",
    "dbfilename",
    "loglevel",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "client-output-buffer-limit",
    "client-query-buffer-limit",
    "proto-max-bulk-len",
    "lfu-log-factor",
    "lfu-decay-time",
    "protected-mode",
    "requirepass",
    "unixsocketperm",
    "daemonize",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "active-expire-effort",
    "enable-debug-command",
    "repl-ping-replica-period",
    "repl-ping-slave-period",
    "rdb-key-save-delay",
    "cluster-enabled",
    "tls-port",
    "activedefrag",
    "nosuch",
    "",
];

#[test]
fn diff_config_get_values() {
    let mut d = session!(DEBUG_ON);
    for name in CONFIG_NAMES {
        d.case(&["CONFIG", "GET", name]);
    }
    // The same directive twice is reported once.
    d.case(&["CONFIG", "GET", "maxmemory", "MAXMEMORY"]);
    d.case(&["CONFIG", "GET", "timeout", "timeout"]);
    // Patterns: compared by type (Redis orders them by hash).
    d.case(&["CONFIG", "GET", "maxmemory*"]);
    d.case(&["CONFIG", "GET", "*"]);
    d.case_with(&["CONFIG", "GET", "nosuch*"], Cmp::Exact);
    d.case(&["HELLO", "3"]);
    for name in ["maxmemory", "save", "hz", "nosuch"] {
        d.case(&["CONFIG", "GET", name]);
    }
    d.case_with(&["CONFIG", "GET", "nosuch*"], Cmp::Exact);
}

#[test]
fn diff_config_set_errors() {
    let mut d = session!(&[]);
    d.run(&[
        &["CONFIG", "SET", "foo", "bar"],
        &["CONFIG", "SET", "maxmemory", "foo"],
        &["CONFIG", "SET", "maxmemory", "-1"],
        &["CONFIG", "SET", "maxmemory", "1.5"],
        &["CONFIG", "SET", "MAXMEMORY", "x"],
        &["CONFIG", "SET", "timeout", "-1"],
        &["CONFIG", "SET", "timeout", "abc"],
        &["CONFIG", "SET", "timeout", ""],
        &["CONFIG", "SET", "databases", "3"],
        &["CONFIG", "SET", "tcp-backlog", "1"],
        &["CONFIG", "SET", "unixsocket", "x"],
        &["CONFIG", "SET", "unixsocketperm", "777"],
        &["CONFIG", "SET", "daemonize", "yes"],
        &["CONFIG", "SET", "logfile", "x"],
        &["CONFIG", "SET", "appendfilename", "x"],
        &["CONFIG", "SET", "dir", "/nonexistent"],
        &["CONFIG", "SET", "dbfilename", "a"],
        &["CONFIG", "SET", "appendonly", "maybe"],
        &["CONFIG", "SET", "maxmemory-policy", "x"],
        &["CONFIG", "SET", "loglevel", "x"],
        &["CONFIG", "SET", "appendfsync", "x"],
        &["CONFIG", "SET", "save", "1 2 3"],
        &["CONFIG", "SET", "save", "a b"],
        &["CONFIG", "SET", "save", "100"],
        &["CONFIG", "SET", "save", "0 1"],
        &["CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"],
        &["CONFIG", "SET", "client-output-buffer-limit", "foo 1 2 3"],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal x 1 1",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal -1 1 1",
        ],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1 1 -1",
        ],
        &["CONFIG", "SET", "maxmemory-samples", "0"],
        &["CONFIG", "SET", "slowlog-log-slower-than", "-5"],
        &["CONFIG", "SET", "maxclients", "0"],
        &["CONFIG", "SET", "proto-max-bulk-len", "10"],
        &["CONFIG", "SET", "tcp-keepalive", "-1"],
        &["CONFIG", "SET", "lfu-log-factor", "-1"],
        &["CONFIG", "SET", "active-expire-effort", "11"],
        &["CONFIG", "SET", "active-expire-effort", "0"],
        &["CONFIG", "SET", "maxmemory-eviction-tenacity", "101"],
        &["CONFIG", "SET", "latency-monitor-threshold", "-1"],
        &["CONFIG", "SET", "slowlog-max-len", "-1"],
        &["CONFIG", "SET", "hz", "-1"],
        &["CONFIG", "SET", "lazyfree-lazy-user-del", "x"],
        // Several pairs: the first problem found is reported.
        &["CONFIG", "SET", "maxmemory", "1", "maxmemory", "2"],
        &["CONFIG", "SET", "maxmemory", "1", "foo", "2"],
        &["CONFIG", "SET", "databases", "1", "foo", "2"],
        &["CONFIG", "SET", "foo", "2", "databases", "1"],
        &["CONFIG", "SET", "maxmemory", "1", "databases", "2"],
        &["CONFIG", "SET", "hz", "x", "maxmemory", "1"],
        // All or nothing: maxmemory is not changed by a failed SET.
        &["CONFIG", "SET", "maxmemory", "1", "hz", "x"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "GET", "hz"],
    ]);
}

#[test]
fn diff_config_set_values() {
    let mut d = session!(&[]);
    let pairs: &[(&str, &str)] = &[
        ("maxmemory", "10GB"),
        ("maxmemory", "1g"),
        ("maxmemory", "100kb"),
        ("maxmemory", ""),
        ("maxmemory", "0"),
        ("hz", "0"),
        ("hz", "1000"),
        ("hz", "10"),
        ("save", "100 10"),
        ("save", "3600 1 300 100"),
        ("save", ""),
        ("client-output-buffer-limit", "normal 1mb 2mb 3"),
        ("client-output-buffer-limit", "pubsub 4 5 6 replica 1 1 1"),
        ("client-output-buffer-limit", "normal 0 0 0"),
        ("maxmemory-policy", "ALLKEYS-LRU"),
        ("maxmemory-policy", "volatile-ttl"),
        ("maxmemory-policy", "noeviction"),
        ("maxmemory-samples", "10"),
        ("maxmemory-eviction-tenacity", "100"),
        ("timeout", "0"),
        ("loglevel", "WARNING"),
        ("loglevel", "notice"),
        ("appendfsync", "always"),
        ("slowlog-log-slower-than", "-1"),
        ("slowlog-log-slower-than", "10000"),
        ("slowlog-max-len", "5"),
        ("latency-monitor-threshold", "100"),
        ("latency-monitor-threshold", "0"),
        ("proto-max-bulk-len", "1mb"),
        ("proto-max-bulk-len", "512mb"),
        ("lfu-log-factor", "0"),
        ("lfu-decay-time", "5"),
        // Accepted for compatibility (directives_compat): Redis's checks.
        ("repl-ping-replica-period", "3600"),
        ("repl-ping-replica-period", "0"),
        ("repl-backlog-size", "10mb"),
        ("activedefrag", "maybe"),
        ("oom-score-adj", "relative"),
        ("rdb-key-save-delay", "-5"),
        ("cluster-enabled", "yes"),
        ("tls-auth-clients", "optional"),
        ("masterauth", "secret"),
        ("lazyfree-lazy-user-flush", "YES"),
        ("lazyfree-lazy-user-flush", "no"),
        ("active-expire-effort", "10"),
        ("protected-mode", "no"),
        ("maxclients", "1000"),
    ];
    for (name, value) in pairs {
        d.case(&["CONFIG", "SET", name, value]);
        d.case(&["CONFIG", "GET", name]);
    }
    d.case(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "5mb",
        "hz",
        "20",
        "timeout",
        "7",
    ]);
    for name in ["maxmemory", "hz", "timeout"] {
        d.case(&["CONFIG", "GET", name]);
    }
    d.case(&["CONFIG", "SET", "maxmemory", "0"]);
    d.case(&["CONFIG", "RESETSTAT"]);
}

#[test]
fn diff_keyspace_commands() {
    let mut d = session!(&[]);
    d.run(&[
        &["DBSIZE"],
        &["SET", "a", "1"],
        &["SET", "b", "2"],
        &["DBSIZE"],
        &["FLUSHDB", "x"],
        &["FLUSHDB", "async", "x"],
        &["FLUSHALL", "x"],
        &["FLUSHALL", "sync", "sync"],
        &["SWAPDB", "x", "1"],
        &["SWAPDB", "0", "x"],
        &["SWAPDB", "0", "99"],
        &["SWAPDB", "99", "0"],
        &["SWAPDB", "-1", "0"],
        &["SWAPDB", "99999999999", "0"],
        &["SWAPDB", "1.5", "0"],
        &["SWAPDB", "0", "0"],
        &["DBSIZE"],
        &["SWAPDB", "0", "1"],
        &["DBSIZE"],
        &["GET", "a"],
        &["SELECT", "1"],
        &["DBSIZE"],
        &["GET", "a"],
        &["SET", "c", "3", "EX", "100"],
        &["FLUSHDB"],
        &["DBSIZE"],
        &["SELECT", "0"],
        &["SET", "a", "1"],
        &["SELECT", "2"],
        &["SET", "x", "1"],
        &["FLUSHDB", "SYNC"],
        &["DBSIZE"],
        &["SET", "x", "1"],
        &["FLUSHALL", "ASYNC"],
        &["DBSIZE"],
        &["SELECT", "0"],
        &["DBSIZE"],
        &["SET", "y", "1"],
        &["FLUSHALL"],
        &["DBSIZE"],
        &["TIME"],
        &["LASTSAVE"],
        &["INFO", "nosuch"],
        &["INFO"],
        &["INFO", "all"],
        &["INFO", "server", "keyspace"],
    ]);
}

#[test]
fn diff_client_commands() {
    let mut d = session!(&[]);
    d.run(&[
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "SETNAME", "a\nb"],
        &["CLIENT", "SETNAME", "me"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", ""],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "ID"],
        &["CLIENT", "INFO"],
        &["CLIENT", "LIST"],
        &["CLIENT", "LIST", "TYPE", "normal"],
        &["CLIENT", "LIST", "TYPE", "foo"],
        &["CLIENT", "LIST", "ID", "x"],
        &["CLIENT", "LIST", "ID", "0"],
        &["CLIENT", "LIST", "ID", "99999", "99998"],
        &["CLIENT", "LIST", "foo"],
        &["CLIENT", "LIST", "TYPE"],
        &["CLIENT", "KILL", "1.2.3.4:5"],
        &["CLIENT", "KILL", "ID", "x"],
        &["CLIENT", "KILL", "ID", "0"],
        &["CLIENT", "KILL", "ID", "99999"],
        &["CLIENT", "KILL", "TYPE", "foo"],
        &["CLIENT", "KILL", "TYPE", "master"],
        &["CLIENT", "KILL", "foo", "bar"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "KILL", "USER", "nobody"],
        &["CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no"],
        &["CLIENT", "KILL", "LADDR", "x"],
        &["CLIENT", "KILL", "ID", "1", "TYPE"],
        &["CLIENT", "NO-EVICT", "maybe"],
        &["CLIENT", "NO-EVICT", "on"],
        &["CLIENT", "NO-EVICT", "OFF"],
        &["CLIENT", "REPLY", "foo"],
        &["CLIENT", "foo"],
        &["CLIENT"],
        &["CLIENT", "ID", "x"],
        &["CLIENT", "GETNAME", "x"],
        &["CLIENT", "SETNAME"],
        &["CLIENT", "KILL"],
    ]);
    // CLIENT REPLY OFF / SKIP / ON: replies suppressed, then back.
    for c in [&mut d.larder, &mut d.redis] {
        c.send_str(&["CLIENT", "REPLY", "OFF"]);
        c.send_str(&["SET", "r", "1"]);
        c.send_str(&["CLIENT", "REPLY", "SKIP"]);
        c.send_str(&["CLIENT", "REPLY", "ON"]);
        c.send_str(&["CLIENT", "REPLY", "SKIP"]);
        c.send_str(&["GET", "r"]);
        c.send_str(&["GET", "r"]);
    }
    let l = (d.larder.read_reply(), d.larder.read_reply());
    let r = (d.redis.read_reply(), d.redis.read_reply());
    assert_eq!(l, r);
    assert_eq!(r.0, b"+OK\r\n");
    assert_eq!(r.1, b"$1\r\n1\r\n");
}

#[test]
fn diff_command_introspection() {
    let mut d = session!(&[]);
    d.run(&[
        &["COMMAND", "COUNT"],
        &["COMMAND", "COUNT", "x"],
        &["COMMAND", "foo"],
        &["COMMAND", "INFO", "get"],
        &["COMMAND", "DOCS", "get"],
        &["COMMAND", "LIST"],
        &["COMMAND", "LIST", "FILTERBY"],
        &["COMMAND", "LIST", "FILTERBY", "foo", "x"],
        &["COMMAND", "LIST", "x"],
        &["COMMAND", "GETKEYS", "ping"],
        &["COMMAND", "GETKEYS", "get"],
        &["COMMAND", "GETKEYS", "set", "a"],
        &["COMMAND", "GETKEYS", "foo", "a"],
        &["COMMAND", "GETKEYS", "ping", "x"],
        &["COMMAND", "HELP", "x"],
    ]);
    for c in [
        &["COMMAND", "GETKEYS", "set", "a", "b"][..],
        &["COMMAND", "GETKEYS", "GET", "key"],
        &["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
        &["COMMAND", "GETKEYS", "del", "a", "b", "c"],
        &["COMMAND", "INFO", "nosuch"],
        &["COMMAND", "DOCS", "nosuch"],
        &["COMMAND", "LIST", "FILTERBY", "MODULE", "x"],
        &["COMMAND", "LIST", "FILTERBY", "PATTERN", "nosuch*"],
    ] {
        d.case_with(c, Cmp::Exact);
    }
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS with Redis's key specs (index,
/// keyword and keynum searches, SORT's and SET's own rules, the three
/// errors), COMMAND INFO's key specs and `movablekeys`, ROLE and LOLWUT.
#[test]
fn diff_getkeys_role_lolwut() {
    let mut d = session!(&[]);
    let getkeys: &[&[&str]] = &[
        &["set", "k", "v", "get"],
        &["set", "k", "v"],
        &["bitfield", "k", "get", "u8", "0"],
        &["bitfield", "k", "set", "u8", "0", "1"],
        &[
            "sort", "k", "by", "x", "store", "d", "limit", "0", "1", "store", "e",
        ],
        &["sort", "k", "store"],
        &["sort_ro", "k", "by", "x"],
        &["eval", "s", "0"],
        &["eval", "s", "3", "a"],
        &["eval", "s", "2", "a", "b", "c"],
        &["eval", "s", "-1", "a"],
        &["zunionstore", "d", "0", "a"],
        &["zunionstore", "d", "2", "a", "b", "weights", "1", "2"],
        &["zinter", "2", "a", "b"],
        &["lmove", "mylist1", "mylist2", "left", "left"],
        &["blmpop", "0", "2", "a", "b", "left"],
        &[
            "georadius",
            "k",
            "1",
            "2",
            "3",
            "km",
            "store",
            "s1",
            "storedist",
            "s2",
        ],
        &["georadiusbymember", "k", "m", "3", "km", "storedist", "s2"],
        &[
            "geosearchstore",
            "d",
            "s",
            "frommember",
            "m",
            "byradius",
            "1",
            "km",
        ],
        &["mset", "a", "1", "b"],
        &["config", "get", "x"],
        &["config", "foo"],
        &["config"],
        &["spublish", "c", "m"],
        &["object", "encoding", "k"],
        &["memory", "usage", "k"],
        &["rename", "a", "b"],
        &["getex", "a"],
        &["pfcount", "a", "b"],
        &["sintercard", "2", "a", "b", "limit", "3"],
        &["fcall", "f", "1", "a", "x"],
    ];
    for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
        for c in getkeys {
            let mut args = vec!["COMMAND", sub];
            args.extend_from_slice(c);
            d.case_with(&args, Cmp::Exact);
        }
    }
    let info: &[&[&str]] = &[
        &[
            "COMMAND",
            "INFO",
            "georadius",
            "geosearchstore",
            "geoadd",
            "get",
            "set",
        ],
        &["COMMAND", "INFO", "sort", "zunionstore", "lmove", "sort_ro"],
        &[
            "COMMAND",
            "INFO",
            "client|pause",
            "client|unpause",
            "role",
            "lolwut",
        ],
        &["COMMAND", "INFO", "bitfield", "spublish", "memory|usage"],
    ];
    for c in info {
        d.case_with(c, Cmp::Exact);
    }
    for c in [
        &["ROLE"][..],
        &["ROLE", "x"],
        &["LOLWUT"],
        &["LOLWUT", "VERSION", "7"],
        &["LOLWUT", "VERSION", "x"],
        &["LOLWUT", "VERSION", "5", "x"],
        &["LOLWUT", "VERSION", "6", "1", "x"],
        &["LOLWUT", "VERSION"],
        &["LOLWUT", "foo"],
    ] {
        d.case_with(c, Cmp::Exact);
    }
    d.case(&["HELLO", "3"]);
    for c in [
        &["LOLWUT"][..],
        &["ROLE"],
        &["COMMAND", "INFO", "georadius", "lmove"],
        &[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "lmove",
            "a",
            "b",
            "left",
            "left",
        ],
    ] {
        d.case_with(c, Cmp::Exact);
    }
}

#[test]
fn diff_diagnostics() {
    let mut d = session!(&[]);
    d.run(&[
        &["SLOWLOG", "RESET"],
        &["SLOWLOG", "GET", "x"],
        &["SLOWLOG", "GET", "-2"],
        &["SLOWLOG", "GET", "1", "2"],
        &["SLOWLOG", "foo"],
        &["SLOWLOG", "LEN", "x"],
        &["SLOWLOG"],
        &["SLOWLOG", "GET"],
        &["SLOWLOG", "GET", "-1"],
        &["SLOWLOG", "HELP"],
        &["LATENCY", "LATEST"],
        &["LATENCY", "RESET"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "foo"],
        &["MEMORY", "USAGE", "nosuch"],
        &["MEMORY", "USAGE", "nosuch", "SAMPLES", "5"],
        &["SET", "a", "hello"],
        &["MEMORY", "USAGE", "a"],
        &["MEMORY", "USAGE", "a", "SAMPLES"],
        &["MEMORY", "USAGE", "a", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "a", "SAMPLES", "-1"],
        &["MEMORY", "USAGE", "a", "foo", "1"],
        &["MEMORY", "USAGE"],
        &["MEMORY", "foo"],
        &["MEMORY", "STATS"],
        &["MEMORY", "DOCTOR"],
        &["MEMORY", "PURGE"],
        &["SHUTDOWN", "foo"],
        &["SHUTDOWN", "ABORT"],
        &["SHUTDOWN", "NOSAVE", "SAVE"],
        &["SHUTDOWN", "ABORT", "NOW"],
        &["MONITOR", "x"],
        &["DEBUG", "SLEEP", "0"],
        &["DEBUG", "OBJECT", "a"],
        &["CONFIG", "REWRITE"],
        &["CONFIG", "RESETSTAT", "x"],
        &["CONFIG"],
        &["CONFIG", "GET"],
        &["CONFIG", "SET"],
        &["CONFIG", "SET", "a"],
        &["CONFIG", "SET", "a", "b", "c"],
        &["CONFIG", "foo"],
        &["CONFIG", "HELP"],
    ]);
    for c in [
        &["SLOWLOG", "LEN"][..],
        &["LATENCY", "LATEST"],
        &["LATENCY", "RESET", "a", "b"],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "DOCTOR"],
    ] {
        d.case_with(c, Cmp::Exact);
    }
    // A slow-logged command: entry shape and arguments.
    d.case(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    d.case(&["SLOWLOG", "RESET"]);
    d.case(&["SET", "slow", "v"]);
    let r = d.case(&["SLOWLOG", "GET", "1"]);
    assert!(r.starts_with(b"*1\r\n*6\r\n:"), "{}", common::esc(&r));
    let l = d.larder.cmd_str(&["SLOWLOG", "GET", "1"]);
    let parts = common::aggregate_elements(&common::aggregate_elements(&l).unwrap()[0]).unwrap();
    assert_eq!(parts.len(), 6);
    assert!(parts[3].starts_with(b"*"), "{}", common::esc(&l));
}

#[test]
fn diff_debug() {
    let mut d = session!(DEBUG_ON);
    d.run(&[
        &["DEBUG"],
        &["DEBUG", "foo"],
        &["DEBUG", "OBJECT"],
        &["DEBUG", "OBJECT", "nosuch"],
        &["DEBUG", "SET-ACTIVE-EXPIRE"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        &["DEBUG", "SLEEP", "0"],
        &["DEBUG", "SLEEP", "x"],
        &["DEBUG", "SLEEP", "0.01"],
        &["SET", "s", "hello"],
        &["SET", "n", "12"],
        &["DEBUG", "OBJECT", "s"],
        &["DEBUG", "OBJECT", "n"],
        &["DEBUG", "HELP"],
    ]);
    // Everything but the address and the clock agrees.
    fn strip(r: &[u8]) -> Vec<u8> {
        let s = String::from_utf8_lossy(r);
        s.split(' ')
            .filter(|w| !w.starts_with("at:") && !w.starts_with("lru"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes()
    }
    d.case_with(&["DEBUG", "OBJECT", "s"], Cmp::Normalize(strip));
    d.case_with(&["DEBUG", "OBJECT", "n"], Cmp::Normalize(strip));
    // Redis's digests, bit for bit, over every type, TTLs and two databases.
    d.run(&[
        &["FLUSHALL"],
        &["DEBUG", "DIGEST"],
        &["SET", "s", "hello"],
        &["SET", "n", "-12345"],
        &["SET", "t", "v", "EX", "1000"],
        &["RPUSH", "l", "a", "b", "1", "2"],
        &["SADD", "si", "3", "1", "2"],
        &["SADD", "ss", "x", "y", "z"],
        &["ZADD", "zp", "1", "a", "2.5", "b", "inf", "c", "-inf", "d"],
        &["HSET", "h", "f1", "v1", "f2", "22"],
        &["CONFIG", "SET", "zset-max-listpack-entries", "1"],
        &["CONFIG", "SET", "hash-max-listpack-entries", "1"],
        &["ZADD", "zs", "1", "a", "0.1", "b", "3", "7"],
        &["HSET", "ht", "f1", "v1", "f2", "22"],
        &["SELECT", "3"],
        &["SET", "k3", "v3"],
        &["DEBUG", "DIGEST"],
        &["DEBUG", "DIGEST-VALUE", "k3", "s"],
        &["SELECT", "0"],
        &[
            "DEBUG",
            "DIGEST-VALUE",
            "s",
            "n",
            "t",
            "l",
            "si",
            "ss",
            "zp",
            "zs",
            "h",
            "ht",
            "nosuch",
        ],
        &["DEBUG", "DIGEST-VALUE"],
        &["DEBUG", "DIGEST", "extra"],
        &["DEBUG", "DIGEST"],
        &["DEBUG", "PROTOCOL", "push"],
        &["DEBUG", "PROTOCOL", "nosuch"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "x"],
    ]);
    for proto in ["2", "3"] {
        d.case(&["HELLO", proto]);
        for t in [
            "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib",
            "push", "verbatim", "true", "false", "STRING",
        ] {
            d.case(&["DEBUG", "PROTOCOL", t]);
        }
    }
}

#[test]
fn diff_debug_disabled_by_default() {
    let mut d = session!(&[]);
    d.run(&[
        &["DEBUG", "SLEEP", "0"],
        &["DEBUG", "OBJECT", "x"],
        &["DEBUG", "foo"],
        &["DEBUG"],
    ]);
}

/// Cluster, replication and module commands, answered as a standalone
/// Redis without them answers.
#[test]
fn diff_standalone_cluster_replication_module() {
    let mut d = session!(&[]);
    d.run(&[
        &["CLUSTER", "INFO"],
        &["CLUSTER", "INFO", "x"],
        &["CLUSTER", "foo"],
        &["CLUSTER", "HELP"],
        &["CLUSTER", "KEYSLOT", "foo"],
        &["CLUSTER"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        &["MODULE", "LIST"],
        &["MODULE", "HELP"],
        &["MODULE", "LOAD", "/nonexistent.so"],
        &["MODULE", "foo"],
        &["REPLICAOF", "NO", "ONE"],
        &["REPLICAOF", "no"],
        &["REPLICAOF", "no", "two"],
        &["SLAVEOF", "NO", "ONE"],
        &["WAIT", "0", "0"],
        &["WAIT", "x", "1"],
        &["WAIT", "1", "x"],
        &["WAIT", "1", "-1"],
        &["WAIT", "2", "10"],
    ]);
}

/// This host's address on its default route, if it has one (no packet is
/// sent: a UDP socket's connect only picks the source address).
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The first line a server sends a new client at `ip:port` after `hello`.
fn first_line(ip: std::net::IpAddr, port: u16, hello: &[u8]) -> String {
    use std::io::{BufRead, Write};
    let mut s = std::net::TcpStream::connect((ip, port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = s.write_all(hello);
    let mut line = String::new();
    let _ = std::io::BufReader::new(s).read_line(&mut line);
    line
}

/// Protected mode on every address (Redis's default `bind * -::*`): with
/// no password, a client from a non-loopback address gets Redis's
/// `-DENIED` and is closed, on both servers; Larder's memcached port is
/// guarded the same way. With `protected-mode no` it is served.
#[test]
fn protected_mode_refuses_non_loopback_clients() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("NOTICE: no non-loopback address; skipping");
        return;
    };
    let Some(redis) = common::start_redis(&["--bind", "*"]) else {
        return;
    };
    let larder = common::start_larder_memcache(&["--bind", "*"]);
    for (name, port) in [
        ("redis", redis.addr().port()),
        ("larder", larder.proc.addr().port()),
    ] {
        let line = first_line(ip, port, b"PING\r\n");
        assert!(
            line.starts_with("-DENIED Redis is running in protected mode"),
            "{name}: {line}"
        );
        assert_eq!(
            first_line("127.0.0.1".parse().unwrap(), port, b"PING\r\n"),
            "+PONG\r\n"
        );
    }
    let line = first_line(ip, larder.port, b"version\r\n");
    assert!(line.starts_with("SERVER_ERROR protected mode"), "{line}");
    let open = common::start_larder_memcache(&["--bind", "*", "--protected-mode", "no"]);
    assert_eq!(
        first_line(ip, open.proc.addr().port(), b"PING\r\n"),
        "+PONG\r\n"
    );
    assert!(first_line(ip, open.port, b"version\r\n").starts_with("VERSION "));
}

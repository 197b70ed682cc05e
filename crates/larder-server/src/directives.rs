//! Configuration directives under Redis's names: the one table behind
//! `larder.conf`, `--name value` flags, CONFIG GET, CONFIG SET and CONFIG
//! REWRITE. Each entry names a directive, says how CONFIG SET may treat it
//! (mutable, immutable, protected; one value or several words), and how to
//! read and write its `Config` field as text. Values are parsed and bounded
//! as Redis 7.0's `config.c` does, with its error texts, so a bad value is
//! refused with the same words whether it comes from a file, a flag or
//! CONFIG SET. Values are formatted as CONFIG GET shows them: memory as plain
//! bytes, booleans `yes`/`no`, `save` as `"3600 1 300 100"`.
//!
//! Larder differs from Redis in two deliberate ways: `port` and `bind` are
//! immutable (listeners are not rebound at runtime), and `shards` is
//! Larder's own (the number of keyspace shards). `maxmemory-policy` also
//! accepts Larder's `volatile-fifo`, `allkeys-fifo` and `allkeys-adaptive`,
//! though its error text lists Redis's values only, as Redis does; and when
//! `maxmemory` is set but no policy was ever chosen, the policy in force
//! (and shown by CONFIG GET and INFO) is `allkeys-adaptive`, not
//! `noeviction` (`Config::policy`).

use std::path::PathBuf;

use larder_engine::Policy;

use crate::config::{Config, OutputLimit};

/// How CONFIG SET treats a directive.
pub mod flags {
    /// CONFIG SET refuses it: "can't set immutable config".
    pub const IMMUTABLE: u8 = 1;
    /// CONFIG SET refuses it unless `enable-protected-configs` allows the
    /// client (yes, or local for a loopback one): "can't set protected
    /// config".
    pub const PROTECTED: u8 = 2;
    /// Takes several words (`save 3600 1 300 100`); CONFIG SET splits its
    /// value on spaces.
    pub const MULTI_ARG: u8 = 4;
    /// Redis's HIDDEN_CONFIG: CONFIG GET shows it only when asked by its
    /// exact name, never for a pattern.
    pub const HIDDEN: u8 = 8;
    /// Larder's own immutable directives: CONFIG SET to the value in force
    /// is accepted as a no-op, so that a CONFIG GET * / CONFIG SET round
    /// trip written for Redis (which knows its own immutable names) works.
    pub const SAME_OK: u8 = 16;
}

pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u8,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &[&str]) -> Result<(), String>,
}

impl Directive {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

fn one<'a>(args: &[&'a str]) -> Result<&'a str, String> {
    match args {
        [v] => Ok(v),
        _ => Err("wrong number of arguments".into()),
    }
}

/// Redis's memtoull: digits then an optional unit (`b`, `k` = 1000, `kb` =
/// 1024, `m`, `mb`, `g`, `gb`, any case). Like Redis, an empty number is 0.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    const ERR: &str = "argument must be a memory value";
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(ERR.into()),
    };
    let n: u64 = if num.is_empty() {
        0
    } else {
        num.parse().map_err(|_| ERR.to_string())?
    };
    n.checked_mul(mul).ok_or_else(|| ERR.to_string())
}

fn bounded(v: i128, lo: i128, hi: i128) -> Result<i128, String> {
    if v < lo || v > hi {
        Err(format!("argument must be between {lo} and {hi} inclusive"))
    } else {
        Ok(v)
    }
}

/// An integer directive: Redis's string2ll, then its bounds.
fn int(s: &str, lo: i128, hi: i128) -> Result<i128, String> {
    let v = larder_resp::string2ll(s.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    bounded(i128::from(v), lo, hi)
}

/// A memory directive: [`parse_memory`], then its bounds.
fn mem(s: &str, lo: i128, hi: i128) -> Result<i128, String> {
    bounded(i128::from(parse_memory(s)?), lo, hi)
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// The checks of this table, for `directives_compat`'s entries.
pub(crate) fn check_bool(s: &str) -> Result<&'static str, String> {
    parse_bool(s).map(|b| if b { "yes" } else { "no" })
}

pub(crate) fn check_int(s: &str, lo: i64, hi: i64) -> Result<i128, String> {
    int(s, lo.into(), hi.into())
}

pub(crate) fn check_mem(s: &str, lo: i64, hi: i64) -> Result<i128, String> {
    mem(s, lo.into(), hi.into())
}

pub(crate) fn check_enum(s: &str, names: &[&'static str]) -> Result<&'static str, String> {
    one_of(s, names)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// One of `names`, case-insensitively, returned as spelled in the table.
fn one_of(s: &str, names: &[&'static str]) -> Result<&'static str, String> {
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(s))
        .copied()
        .ok_or_else(|| {
            format!(
                "argument(s) must be one of the following: {}",
                names.join(", ")
            )
        })
}

const INT_MAX: i128 = i32::MAX as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LLONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;
const MB: i128 = 1024 * 1024;

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const FSYNC: &[&str] = &["everysec", "always", "no"];
const MC_PROTOCOLS: &[&str] = &["auto", "ascii", "binary"];
const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];

fn set_policy(c: &mut Config, a: &[&str]) -> Result<(), String> {
    let v = one(a)?;
    c.maxmemory_policy = Some(match Policy::parse(v.to_ascii_lowercase().as_bytes()) {
        Some(p) if p.is_extension() => p,
        _ => Policy::parse(one_of(v, POLICIES)?.as_bytes())
            .ok_or_else(|| "unknown policy".to_string())?,
    });
    Ok(())
}

/// `save <seconds> <changes> ...`; `save ""` (or no words) clears it.
fn set_save(c: &mut Config, a: &[&str]) -> Result<(), String> {
    const ERR: &str = "Invalid save parameters";
    let a: &[&str] = if a == [""] { &[] } else { a };
    if !a.len().is_multiple_of(2) {
        return Err(ERR.into());
    }
    let mut pairs = Vec::with_capacity(a.len() / 2);
    for p in a.chunks(2) {
        let secs = larder_resp::string2ll(p[0].as_bytes()).filter(|&v| v >= 1);
        let changes = larder_resp::string2ll(p[1].as_bytes()).filter(|&v| v >= 0);
        match (secs, changes) {
            (Some(s), Some(ch)) => pairs.push((s as u64, ch as u64)),
            _ => return Err(ERR.into()),
        }
    }
    c.save = pairs;
    Ok(())
}

fn get_save(c: &Config) -> String {
    c.save
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `client-output-buffer-limit <class> <hard> <soft> <seconds> ...`: every
/// class is checked before any is changed.
fn set_output_limits(c: &mut Config, a: &[&str]) -> Result<(), String> {
    if !a.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut parsed = Vec::with_capacity(a.len() / 4);
    for q in a.chunks(4) {
        let class = match q[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(q[1]).map_err(|_| bad())?;
        let soft = parse_memory(q[2]).map_err(|_| bad())?;
        let secs = larder_resp::string2ll(q[3].as_bytes())
            .filter(|&v| v >= 0)
            .ok_or_else(bad)?;
        let limit = OutputLimit {
            hard,
            soft,
            soft_seconds: secs as u64,
        };
        parsed.push((class, limit));
    }
    for (class, limit) in parsed {
        *match class {
            0 => &mut c.output_limit_normal,
            1 => &mut c.output_limit_replica,
            _ => &mut c.output_limit_pubsub,
        } = limit;
    }
    Ok(())
}

fn get_output_limits(c: &Config) -> String {
    [
        ("normal", c.output_limit_normal),
        ("slave", c.output_limit_replica),
        ("pubsub", c.output_limit_pubsub),
    ]
    .iter()
    .map(|(n, l)| format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds))
    .collect::<Vec<_>>()
    .join(" ")
}

fn set_dir(c: &mut Config, a: &[&str]) -> Result<(), String> {
    let v = one(a)?;
    let p = PathBuf::from(v);
    if !p.is_dir() {
        return Err(format!("No such directory: {v}"));
    }
    c.dir = p;
    Ok(())
}

fn get_dir(c: &Config) -> String {
    std::fs::canonicalize(&c.dir)
        .unwrap_or_else(|_| c.dir.clone())
        .display()
        .to_string()
}

/// A unix socket's permissions, in octal.
fn socket_perm(a: &[&str]) -> Result<u32, String> {
    let n = i128::from_str_radix(one(a)?, 8)
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    Ok(bounded(n, 0, 0o777)
        .map_err(|_| "argument must be between 0 and 777 inclusive".to_string())? as u32)
}

/// An integer field with Redis's bounds.
macro_rules! int_d {
    ($name:literal, $field:ident, $ty:ty, $lo:expr, $hi:expr, $flags:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c: &Config| c.$field.to_string(),
            set: |c: &mut Config, a: &[&str]| {
                c.$field = int(one(a)?, $lo, $hi)? as $ty;
                Ok(())
            },
        }
    };
}

/// A memory field (`1gb`, `100mb`, plain bytes) with Redis's bounds.
macro_rules! mem_d {
    ($name:literal, $field:ident, $lo:expr, $hi:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: 0,
            get: |c: &Config| c.$field.to_string(),
            set: |c: &mut Config, a: &[&str]| {
                c.$field = mem(one(a)?, $lo, $hi)? as u64;
                Ok(())
            },
        }
    };
}

macro_rules! bool_d {
    ($name:literal, $field:ident, $flags:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c: &Config| yes_no(c.$field),
            set: |c: &mut Config, a: &[&str]| {
                c.$field = parse_bool(one(a)?)?;
                Ok(())
            },
        }
    };
}

macro_rules! str_d {
    ($name:literal, $field:ident, $flags:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c: &Config| c.$field.clone(),
            set: |c: &mut Config, a: &[&str]| {
                c.$field = one(a)?.to_string();
                Ok(())
            },
        }
    };
}

/// A unix socket path (empty: none).
macro_rules! socket_d {
    ($name:literal, $field:ident, $flags:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c: &Config| {
                c.$field
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            },
            set: |c: &mut Config, a: &[&str]| {
                let v = one(a)?;
                c.$field = (!v.is_empty()).then(|| PathBuf::from(v));
                Ok(())
            },
        }
    };
}

/// A unix socket's permissions, in octal.
macro_rules! perm_d {
    ($name:literal, $field:ident, $flags:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c: &Config| format!("{:o}", c.$field),
            set: |c: &mut Config, a: &[&str]| {
                c.$field = socket_perm(a)?;
                Ok(())
            },
        }
    };
}

macro_rules! enum_d {
    ($name:literal, $field:ident, $names:expr, $flags:expr) => {
        Directive {
            name: $name,
            alias: None,
            flags: $flags,
            get: |c: &Config| c.$field.clone(),
            set: |c: &mut Config, a: &[&str]| {
                c.$field = one_of(one(a)?, $names)?.to_string();
                Ok(())
            },
        }
    };
}

/// A collection encoding threshold (`Config::limits`), with its old
/// `*-ziplist-*` alias if it has one; `$parse` is `int` or `mem`.
macro_rules! limit_d {
    ($name:literal, $alias:literal, $field:ident, $ty:ty, $parse:ident, $lo:expr, $hi:expr) => {
        limit_d!(@ $name, Some($alias), $field, $ty, $parse, $lo, $hi)
    };
    ($name:literal, $field:ident, $ty:ty, $parse:ident, $lo:expr, $hi:expr) => {
        limit_d!(@ $name, None, $field, $ty, $parse, $lo, $hi)
    };
    (@ $name:literal, $alias:expr, $field:ident, $ty:ty, $parse:ident, $lo:expr, $hi:expr) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: 0,
            get: |c: &Config| c.limits.$field.to_string(),
            set: |c: &mut Config, a: &[&str]| {
                c.limits.$field = $parse(one(a)?, $lo, $hi)? as $ty;
                Ok(())
            },
        }
    };
}

use flags::{IMMUTABLE, MULTI_ARG, PROTECTED, SAME_OK};

pub const DIRECTIVES: &[Directive] = &[
    int_d!("port", port, u16, 0, 65535, 0),
    // The memcached protocol (`memcache/`): its port (0 = off), its UDP
    // port (memcached's `-U`, 0 = off), `-I` item size limit (1k..1gb, as
    // memcached), `-A` (shutdown), `-F` (no flush_all), `-W` (no watch),
    // `-C` (no CAS), `-B` (protocols), `-R` (requests per event) and `-t`
    // (threads; 0 = one per core).
    Directive {
        name: "memcache-port",
        alias: None,
        flags: IMMUTABLE | SAME_OK,
        get: |c| {
            c.memcache_port
                .unwrap_or(crate::config::DEFAULT_MEMCACHE_PORT)
                .to_string()
        },
        set: |c, a| {
            c.memcache_port = Some(int(one(a)?, 0, 65535)? as u16);
            Ok(())
        },
    },
    int_d!(
        "memcache-udp-port",
        memcache_udp_port,
        u16,
        0,
        65535,
        IMMUTABLE | SAME_OK
    ),
    mem_d!(
        "memcache-max-item-size",
        memcache_max_item_size,
        1024,
        1 << 30
    ),
    bool_d!("memcache-enable-shutdown", memcache_enable_shutdown, 0),
    bool_d!("memcache-disable-flush-all", memcache_disable_flush_all, 0),
    bool_d!("memcache-disable-watch", memcache_disable_watch, 0),
    bool_d!(
        "memcache-disable-cas",
        memcache_disable_cas,
        IMMUTABLE | SAME_OK
    ),
    // memcached's `-s` (a unix socket for the memcached protocols, beside
    // `memcache-port`) and `-a` (its permissions, octal).
    socket_d!(
        "memcache-unixsocket",
        memcache_unixsocket,
        IMMUTABLE | SAME_OK
    ),
    perm_d!(
        "memcache-unixsocketperm",
        memcache_unixsocketperm,
        IMMUTABLE | SAME_OK
    ),
    enum_d!(
        "memcache-protocol",
        memcache_protocol,
        MC_PROTOCOLS,
        IMMUTABLE | SAME_OK
    ),
    int_d!(
        "memcache-reqs-per-event",
        memcache_reqs_per_event,
        u64,
        1,
        i32::MAX as i128,
        0
    ),
    int_d!(
        "memcache-threads",
        memcache_threads,
        usize,
        0,
        1024,
        IMMUTABLE | SAME_OK
    ),
    int_d!(
        "worker-threads",
        worker_threads,
        usize,
        0,
        1024,
        IMMUTABLE | SAME_OK
    ),
    int_d!(
        "idle-poll-us",
        idle_poll_us,
        u64,
        0,
        10_000,
        IMMUTABLE | SAME_OK
    ),
    Directive {
        name: "bind",
        alias: None,
        flags: MULTI_ARG,
        get: |c| c.bind.join(" "),
        set: |c, a| {
            if a.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            // `bind ""` (as CONFIG REWRITE writes an empty list) binds nothing.
            c.bind = a
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
                .collect();
            Ok(())
        },
    },
    socket_d!("unixsocket", unixsocket, IMMUTABLE),
    perm_d!("unixsocketperm", unixsocketperm, IMMUTABLE),
    bool_d!("protected-mode", protected_mode, 0),
    Directive {
        name: "requirepass",
        alias: None,
        flags: 0,
        get: |c| {
            c.requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        },
        set: |c, a| {
            let v = one(a)?;
            c.requirepass = (!v.is_empty()).then(|| v.as_bytes().to_vec());
            Ok(())
        },
    },
    str_d!("aclfile", aclfile, IMMUTABLE),
    int_d!("acllog-max-len", acllog_max_len, u64, 0, LLONG_MAX, 0),
    enum_d!(
        "acl-pubsub-default",
        acl_pubsub_default,
        &["allchannels", "resetchannels"],
        0
    ),
    int_d!("databases", databases, usize, 1, INT_MAX, IMMUTABLE),
    int_d!("timeout", timeout, u64, 0, INT_MAX, 0),
    int_d!("tcp-keepalive", tcp_keepalive, u64, 0, INT_MAX, 0),
    int_d!("tcp-backlog", tcp_backlog, u32, 0, INT_MAX, IMMUTABLE),
    int_d!("maxclients", maxclients, usize, 1, UINT_MAX, 0),
    mem_d!("maxmemory", maxmemory, 0, ULLONG_MAX),
    Directive {
        name: "maxmemory-policy",
        alias: None,
        flags: 0,
        get: |c| c.policy().name().to_string(),
        set: set_policy,
    },
    int_d!("maxmemory-samples", maxmemory_samples, u32, 1, INT_MAX, 0),
    int_d!(
        "maxmemory-eviction-tenacity",
        maxmemory_eviction_tenacity,
        u32,
        0,
        100,
        0
    ),
    int_d!("lfu-log-factor", lfu_log_factor, u32, 0, INT_MAX, 0),
    int_d!("lfu-decay-time", lfu_decay_time, u32, 0, INT_MAX, 0),
    mem_d!("proto-max-bulk-len", proto_max_bulk_len, MB, LLONG_MAX),
    mem_d!("hll-sparse-max-bytes", hll_sparse_max_bytes, 0, LLONG_MAX),
    mem_d!(
        "client-query-buffer-limit",
        client_query_buffer_limit,
        MB,
        LLONG_MAX
    ),
    Directive {
        name: "client-output-buffer-limit",
        alias: None,
        flags: MULTI_ARG,
        get: get_output_limits,
        set: set_output_limits,
    },
    Directive {
        name: "notify-keyspace-events",
        alias: None,
        flags: 0,
        get: |c| larder_engine::events::flags_to_string(c.notify_keyspace_events),
        set: |c, a| {
            c.notify_keyspace_events = larder_engine::events::parse_flags(one(a)?.as_bytes())
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
    },
    Directive {
        name: "hz",
        alias: None,
        flags: 0,
        get: |c| c.hz.to_string(),
        set: |c, a| {
            // Redis clamps hz into 1..=500 after accepting 0..=INT_MAX.
            c.hz = int(one(a)?, 0, INT_MAX)?.clamp(1, 500) as u32;
            Ok(())
        },
    },
    int_d!(
        "slowlog-log-slower-than",
        slowlog_log_slower_than,
        i64,
        -1,
        LLONG_MAX,
        0
    ),
    int_d!("slowlog-max-len", slowlog_max_len, u64, 0, LLONG_MAX, 0),
    int_d!(
        "tracking-table-max-keys",
        tracking_table_max_keys,
        u64,
        0,
        LLONG_MAX,
        0
    ),
    Directive {
        name: "busy-reply-threshold",
        alias: Some("lua-time-limit"),
        flags: 0,
        get: |c| c.busy_reply_threshold.to_string(),
        set: |c, a| {
            c.busy_reply_threshold = int(one(a)?, 0, LLONG_MAX)? as u64;
            Ok(())
        },
    },
    int_d!(
        "latency-monitor-threshold",
        latency_monitor_threshold,
        u64,
        0,
        LLONG_MAX,
        0
    ),
    enum_d!("loglevel", loglevel, LOGLEVELS, 0),
    str_d!("logfile", logfile, IMMUTABLE),
    Directive {
        name: "dir",
        alias: None,
        flags: PROTECTED,
        get: get_dir,
        set: set_dir,
    },
    str_d!("dbfilename", dbfilename, PROTECTED),
    Directive {
        name: "save",
        alias: None,
        flags: MULTI_ARG,
        get: get_save,
        set: set_save,
    },
    bool_d!("rdbcompression", rdbcompression, 0),
    bool_d!("rdbchecksum", rdbchecksum, IMMUTABLE),
    bool_d!(
        "stop-writes-on-bgsave-error",
        stop_writes_on_bgsave_error,
        0
    ),
    bool_d!("appendonly", appendonly, 0),
    str_d!("appendfilename", appendfilename, IMMUTABLE),
    enum_d!("appendfsync", appendfsync, FSYNC, 0),
    str_d!("appenddirname", appenddirname, IMMUTABLE),
    int_d!(
        "auto-aof-rewrite-percentage",
        auto_aof_rewrite_percentage,
        u64,
        0,
        INT_MAX,
        0
    ),
    mem_d!(
        "auto-aof-rewrite-min-size",
        auto_aof_rewrite_min_size,
        0,
        LLONG_MAX
    ),
    bool_d!("aof-load-truncated", aof_load_truncated, 0),
    bool_d!("aof-use-rdb-preamble", aof_use_rdb_preamble, 0),
    bool_d!("aof-timestamp-enabled", aof_timestamp_enabled, 0),
    bool_d!("no-appendfsync-on-rewrite", no_appendfsync_on_rewrite, 0),
    // Acted on by the binary before it starts (fork, pid file).
    bool_d!("daemonize", daemonize, IMMUTABLE),
    bool_d!("lazyfree-lazy-eviction", lazyfree_lazy_eviction, 0),
    bool_d!("lazyfree-lazy-expire", lazyfree_lazy_expire, 0),
    bool_d!("lazyfree-lazy-server-del", lazyfree_lazy_server_del, 0),
    bool_d!("lazyfree-lazy-user-del", lazyfree_lazy_user_del, 0),
    bool_d!("lazyfree-lazy-user-flush", lazyfree_lazy_user_flush, 0),
    enum_d!(
        "enable-debug-command",
        enable_debug_command,
        PROTECTED_ACTION,
        IMMUTABLE
    ),
    int_d!("active-expire-effort", active_expire_effort, u32, 1, 10, 0),
    int_d!("shards", shards, usize, 1, 65536, IMMUTABLE | SAME_OK),
    limit_d!(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        list_max_listpack_size,
        i32,
        int,
        i32::MIN as i128,
        INT_MAX
    ),
    int_d!(
        "list-compress-depth",
        list_compress_depth,
        u32,
        0,
        INT_MAX,
        0
    ),
    limit_d!(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        hash_max_listpack_entries,
        usize,
        int,
        0,
        LLONG_MAX
    ),
    limit_d!(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        hash_max_listpack_value,
        usize,
        mem,
        0,
        LLONG_MAX
    ),
    limit_d!(
        "set-max-intset-entries",
        set_max_intset_entries,
        usize,
        int,
        0,
        LLONG_MAX
    ),
    limit_d!(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        zset_max_listpack_entries,
        usize,
        int,
        0,
        LLONG_MAX
    ),
    limit_d!(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        zset_max_listpack_value,
        usize,
        mem,
        0,
        LLONG_MAX
    ),
    // Stream nodes (`types::stream`); 0 = no limit of that kind.
    limit_d!(
        "stream-node-max-bytes",
        stream_node_max_bytes,
        usize,
        mem,
        0,
        LLONG_MAX
    ),
    limit_d!(
        "stream-node-max-entries",
        stream_node_max_entries,
        i64,
        int,
        0,
        LLONG_MAX
    ),
];

/// Every directive: Larder's own, then those accepted for compatibility
/// only (`directives_compat`).
pub fn all() -> impl Iterator<Item = &'static Directive> {
    DIRECTIVES.iter().chain(crate::directives_compat::COMPAT)
}

pub fn find(name: &str) -> Option<&'static Directive> {
    all().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Why a setting was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ApplyError {
    Unknown,
    Invalid(String),
}

/// Applies one `name arg...` setting.
pub fn apply(config: &mut Config, name: &str, args: &[&str]) -> Result<(), ApplyError> {
    let d = find(name).ok_or(ApplyError::Unknown)?;
    (d.set)(config, args).map_err(ApplyError::Invalid)
}

/// The `save` lines read at startup. Redis reads the config file and then
/// the command line as one text, where the first `save` replaces the
/// default, later ones add to it, and an empty one clears those before.
#[derive(Default)]
struct SaveLines(Option<Vec<(u64, u64)>>);

impl SaveLines {
    /// Folds the `save` just applied to `config` into those before it.
    fn fold(&mut self, config: &mut Config) {
        let acc = self.0.get_or_insert_with(Vec::new);
        if config.save.is_empty() {
            acc.clear();
        } else {
            acc.append(&mut config.save);
        }
        config.save = acc.clone();
    }
}

/// A config error, as Redis reports one and exits.
#[derive(Debug, PartialEq)]
pub struct ConfigError {
    /// 1-based, counting the command line's lines after the file's.
    pub line: usize,
    pub text: String,
    pub msg: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\n\
             Reading the configuration file, at line {}\n>>> '{}'\n{}",
            crate::commands::connection::REDIS_COMPAT_VERSION,
            self.line,
            self.text,
            self.msg
        )
    }
}

impl std::error::Error for ConfigError {}

/// Parses a config file's text (Redis syntax: one directive a line, `#`
/// comments, quoted arguments).
pub fn parse_file(text: &str, config: &mut Config) -> Result<(), ConfigError> {
    parse_file_with(text, config, &mut SaveLines::default())
}

/// [`parse_file`], its `save` lines folded into `saves`.
fn parse_file_with(
    text: &str,
    config: &mut Config,
    saves: &mut SaveLines,
) -> Result<(), ConfigError> {
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |msg: &str| ConfigError {
            line: n + 1,
            text: line.to_string(),
            msg: msg.to_string(),
        };
        let words =
            split_args(line).ok_or_else(|| err("Unbalanced quotes in configuration line"))?;
        let Some((name, args)) = words.split_first() else {
            continue;
        };
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        if name == "user" {
            // Users are ACL rules, loaded after the config (`acl::load_at_startup`).
            config.users.push(args.join(" "));
            continue;
        }
        let d = find(name).ok_or_else(|| err("Bad directive or wrong number of arguments"))?;
        if d.has(flags::MULTI_ARG) {
            // As Redis: `save "3600 1 300 100"` is its words.
            if let [one] = args[..] {
                if !one.is_empty() {
                    args = one.split_whitespace().collect();
                }
            }
        } else if args.len() != 1 {
            return Err(err("wrong number of arguments"));
        }
        (d.set)(config, &args).map_err(|e| err(&e))?;
        if d.name == "save" {
            saves.fold(config);
        }
    }
    Ok(())
}

/// Redis-server's command line as the config lines it stands for, to be
/// read after the file's: `--port 7000 --save ""` is `port "7000"` and
/// `save ""`. As in Redis 7, each `--name` starts a line and the words
/// after it are its values, quoted; the word right after a bare `--name`
/// is its value even when it starts with `--`; one argument may hold a
/// name and its value (`"--maxmemory 700mb"`); and a `--save` with no
/// value (followed by a flag, or last) is `save ""`.
pub fn flags_text(args: &[String]) -> String {
    let mut text = String::new();
    // Redis's handled_last_config_arg: a `--word` now starts a new line.
    let mut has_value = true;
    for (j, a) in args.iter().enumerate() {
        if has_value && a.starts_with("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&a[2..]);
            text.push(' ');
            has_value = split_args(a).is_some_and(|w| w.len() != 1);
            if !has_value && a.eq_ignore_ascii_case("--save") {
                let next_is_flag = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
                if next_is_flag || j + 1 == args.len() {
                    text.push_str("\"\"");
                    has_value = true;
                }
            }
        } else {
            let mut quoted = Vec::with_capacity(a.len() + 2);
            crate::monitor::repr(&mut quoted, a.as_bytes());
            text.push_str(&String::from_utf8_lossy(&quoted));
            text.push(' ');
            has_value = true;
        }
    }
    text
}

/// Splits a config line like Redis's sdssplitargs (quotes, escapes).
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let mut p = larder_resp::RequestParser::new();
    let buf = format!("{line}\r\n");
    match p.parse(buf.as_bytes(), &larder_resp::Limits::default()) {
        Ok(larder_resp::Parse::Request { .. }) => Some(
            p.args(buf.as_bytes())
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        ),
        _ => None,
    }
}

/// Quotes a value for a config file when it needs it (empty, spaces,
/// quotes, control bytes), as Redis's sdscatrepr does.
pub fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\');
    if plain {
        return v.to_string();
    }
    let mut out = Vec::with_capacity(v.len() + 2);
    crate::monitor::repr(&mut out, v.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines a directive is written as in a config file: `save` and
/// `client-output-buffer-limit` take one line per pair or class.
pub fn config_lines(d: &Directive, c: &Config) -> Vec<String> {
    match d.name {
        "save" if c.save.is_empty() => vec!["save \"\"".into()],
        // As Redis: a master has no `replicaof` line.
        "replicaof" if (d.get)(c).is_empty() => Vec::new(),
        "save" => c
            .save
            .iter()
            .map(|(s, n)| format!("save {s} {n}"))
            .collect(),
        "client-output-buffer-limit" => {
            let words: Vec<String> = (d.get)(c).split(' ').map(String::from).collect();
            words
                .chunks(4)
                .map(|q| format!("{} {}", d.name, q.join(" ")))
                .collect()
        }
        _ if d.has(flags::MULTI_ARG) => {
            let v = (d.get)(c);
            let words: Vec<String> = v.split(' ').map(quote).collect();
            vec![format!("{} {}", d.name, words.join(" "))]
        }
        _ => vec![format!("{} {}", d.name, quote(&(d.get)(c)))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line read as Redis reads it: its config lines after the file's.
    fn parse_flags(
        flags: &[&str],
        c: &mut Config,
        saves: &mut SaveLines,
    ) -> Result<(), ConfigError> {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        parse_file_with(&format!("\n{}", flags_text(&flags)), c, saves)
    }

    #[test]
    fn flags_take_words_until_the_next_directive() {
        let mut c = Config::default();
        let args = [
            "--port", "7000", "--save", "", "--bind", "a", "b", "--hz", "20",
        ];
        parse_flags(&args, &mut c, &mut SaveLines::default()).unwrap();
        assert_eq!(c.port, 7000);
        assert!(c.save.is_empty());
        assert_eq!(c.bind, vec!["a", "b"]);
        assert_eq!(c.hz, 20);
        let e = parse_flags(&["--nosuch", "1"], &mut c, &mut SaveLines::default()).unwrap_err();
        assert_eq!(e.text, "nosuch \"1\"");
        assert_eq!(e.msg, "Bad directive or wrong number of arguments");
    }

    #[test]
    fn flags_read_as_redis_7_reads_them() {
        let text = |a: &[&str]| flags_text(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(text(&["--port", "6379", "6380"]), "port \"6379\" \"6380\" ");
        // The word after a bare flag is its value, even `--bla`.
        assert_eq!(
            text(&["--port", "--bla", "--loglevel", "verbose"]),
            "port \"--bla\" \nloglevel \"verbose\" "
        );
        assert_eq!(
            text(&["--maxmemory 700mb", "--hz", "5"]),
            "maxmemory 700mb \nhz \"5\" "
        );
        assert_eq!(text(&["--save", "--port", "1"]), "save \"\"\nport \"1\" ");
        assert_eq!(text(&["--port", "1", "--save"]), "port \"1\" \nsave \"\"");
        let mut c = Config::default();
        let e = parse_flags(
            &["--port", "6379", "6380"],
            &mut c,
            &mut SaveLines::default(),
        )
        .unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (2, "port \"6379\" \"6380\""));
        assert_eq!(e.msg, "wrong number of arguments");
        let e = parse_flags(&["--port"], &mut c, &mut SaveLines::default()).unwrap_err();
        assert_eq!(e.text, "port");
    }

    #[test]
    fn save_flags_go_on_from_the_file() {
        let mut c = Config::default();
        let mut saves = SaveLines::default();
        parse_file_with("save 900 1\n", &mut c, &mut saves).unwrap();
        parse_flags(
            &["--save", "100 100", "--user", "u1", "on"],
            &mut c,
            &mut saves,
        )
        .unwrap();
        assert_eq!(get_save(&c), "900 1 100 100");
        assert_eq!(c.users, vec!["u1 on"]);
        parse_flags(&["--save", ""], &mut c, &mut saves).unwrap();
        assert_eq!(get_save(&c), "");
    }

    #[test]
    fn file_errors_name_the_line() {
        let mut c = Config::default();
        let e = parse_file("# c\nport 7000\nfoo bar\n", &mut c).unwrap_err();
        assert_eq!((e.line, e.text.as_str()), (3, "foo bar"));
        let e = parse_file("maxmemory lots\n", &mut c).unwrap_err();
        assert!(e.line == 1 && e.msg.contains("memory value"), "{e}");
    }

    #[test]
    fn save_lines_accumulate_in_a_file() {
        let mut c = Config::default();
        parse_file("save 3600 1\nsave 300 100\n", &mut c).unwrap();
        assert_eq!(get_save(&c), "3600 1 300 100");
        parse_file("save \"\"\n", &mut c).unwrap();
        assert_eq!(get_save(&c), "");
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory("1gb"), Ok(1 << 30));
        assert_eq!(parse_memory("1G"), Ok(1_000_000_000));
        assert_eq!(parse_memory("10"), Ok(10));
        assert_eq!(parse_memory(""), Ok(0));
        assert!(parse_memory("-1").is_err());
        assert!(parse_memory("1.5").is_err());
    }

    #[test]
    fn output_limits_round_trip() {
        let mut c = Config::default();
        set_output_limits(
            &mut c,
            &["normal", "1mb", "2mb", "3", "pubsub", "4", "5", "6"],
        )
        .unwrap();
        assert_eq!(
            get_output_limits(&c),
            "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 4 5 6"
        );
        assert!(set_output_limits(&mut c, &["normal", "1", "2"]).is_err());
    }

    #[test]
    fn stream_node_limits_reach_the_engine_limits() {
        let mut c = Config::default();
        parse_file(
            "stream-node-max-bytes 1kb
stream-node-max-entries 0
",
            &mut c,
        )
        .unwrap();
        assert_eq!(c.limits.stream_node_max_bytes, 1024);
        assert_eq!(c.limits.stream_node_max_entries, 0);
        assert_eq!((find("stream-node-max-bytes").unwrap().get)(&c), "1024");
        assert!(apply(&mut c, "stream-node-max-entries", &["-1"]).is_err());
    }
}

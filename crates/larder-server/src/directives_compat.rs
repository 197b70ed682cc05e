//! Redis directives Larder accepts for compatibility but that have no
//! effect here (but for the replication ones that `replication/` reads
//! through `directives::find`: `replicaof`, `masterauth`, `masteruser`,
//! `repl-backlog-size`, `repl-ping-replica-period`, `repl-timeout`,
//! `replica-read-only`, `bind-source-addr`; `oom-score-adj` and
//! `oom-score-adj-values`, which `oom.rs` reads; `pidfile`, which the
//! binary writes; `enable-protected-configs`
//! (CONFIG SET), `lua-enable-deprecated-api` (scripting) and
//! `rdb-key-save-delay` and `key-load-delay` (persist), read where they
//! apply): cluster, TLS,
//! active defragmentation, I/O
//! threads, process-title and syslog settings, and the like. Clients,
//! config files and test suites written for Redis set them (`CONFIG SET
//! repl-ping-replica-period 10`); refusing would break them, and pretending
//! to honour them silently would mislead, so each is validated as Redis 7.0
//! validates it (same bounds, same error texts; `proc-title-template` by
//! expanding it as Redis does, though the title is never set), stored as text in
//! `Config::compat`, shown by CONFIG GET and written by CONFIG REWRITE —
//! and listed in docs/configuration.md as "accepted, no effect".
//!
//! Cost: one `BTreeMap<&'static str, String>` entry per directive that was
//! ever set; reading one is a map lookup (none is on a hot path).

use crate::config::Config;
use crate::directives::{check_bool, check_enum, check_int, check_mem, flags, Directive};

/// How a value is checked before it is stored.
pub enum Kind {
    Bool,
    /// An integer within Redis's bounds for it.
    Int(i64, i64),
    /// A memory value (`1mb`), within bounds; stored in bytes.
    Mem(i64, i64),
    /// A memory value, or a percentage (`10%`, of `maxmemory`) up to 100;
    /// stored as given (Redis's PERCENT_CONFIG).
    MemOrPercent,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// One of these words, each shown as its pair's second word (Redis
    /// prints an enum value by its first name: `relative` reads `yes`).
    EnumAs(&'static [(&'static str, &'static str)]),
    /// Any text; several words are kept as typed.
    Text,
    /// `latency-tracking-info-percentiles` (`admin.rs` reads it).
    Percentiles,
    /// `oom-score-adj-values` (`oom.rs` reads it).
    OomValues,
    /// `shutdown-on-sigint` / `shutdown-on-sigterm`: several of these flags.
    ShutdownFlags,
    /// `replicaof <host> <port>` (or `no one`), checked as Redis's loader.
    Master,
    /// `proc-title-template` ([`check_proc_title`]).
    ProcTitle,
}

const INT_MAX: i64 = i32::MAX as i64;
const LLONG_MAX: i64 = i64::MAX;
const IMM: u8 = flags::IMMUTABLE;
const HIDDEN: u8 = flags::HIDDEN;
const INT_MIN: i64 = i32::MIN as i64;
/// Redis's shutdown_on_sig_enum: names and bits, in its order.
const SHUTDOWN_ON_SIG: &[(&str, u8)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];

/// A bit-flags enum as Redis's enumConfigSet reads it (each word one of
/// the names) and prints it (configEnumGetName: the names of the bits set,
/// in table order), refusing SAVE with NOSAVE (isValidShutdownOnSigFlags).
fn check_shutdown_flags(args: &[&str]) -> Result<String, String> {
    let words: Vec<&str> = args.iter().flat_map(|a| a.split(' ')).collect();
    let bit = |w: &str| {
        SHUTDOWN_ON_SIG
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(w))
            .map(|p| p.1)
    };
    let bits = words.iter().try_fold(0, |acc, w| bit(w).map(|b| acc | b));
    let Some(bits) = bits.filter(|_| !words.is_empty()) else {
        let names: Vec<&str> = SHUTDOWN_ON_SIG.iter().map(|p| p.0).collect();
        return Err(format!(
            "argument(s) must be one of the following: {}",
            names.join(", ")
        ));
    };
    if bits & 3 == 3 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    if bits == 0 {
        return Ok("default".into());
    }
    let set: Vec<&str> = SHUTDOWN_ON_SIG
        .iter()
        .filter(|(_, b)| *b != 0 && bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    Ok(set.join(" "))
}

/// The value in force: what was set, else Redis's default.
fn get(config: &Config, name: &str, default: &str) -> String {
    config
        .compat
        .get(name)
        .map_or_else(|| default.to_string(), String::clone)
}

/// A memory value in bytes, else `N%` with N at most 100, with Redis's
/// errors (numericParseString, numericBoundaryCheck).
fn check_mem_or_percent(v: &str) -> Result<String, String> {
    if let Ok(bytes) = check_mem(v, 0, LLONG_MAX) {
        return Ok(bytes.to_string());
    }
    match v.strip_suffix('%').map(str::parse::<i64>) {
        Some(Ok(n)) if n > 100 => Err("percentage argument must be less or equal to 100".into()),
        Some(Ok(0)) => Ok("0".into()),
        Some(Ok(n)) if n > 0 => Ok(format!("{n}%")),
        _ => Err("argument must be a memory or percent value".into()),
    }
}

/// `proc-title-template`, checked as Redis's validateProcTitleTemplate:
/// expanded with an empty title by sdstemplate's rules (`{{` is a `{`; a
/// `{` without its `}`, or a variable other than Redis's, is an error), it
/// must not be empty once trimmed of spaces. `unixsocket` is the socket's
/// path, if any (the other variables never expand to nothing).
fn check_proc_title(v: &str, unixsocket: &str) -> Result<String, String> {
    const INVALID: &str = "template format is invalid or contains unknown variables";
    let mut out = String::new();
    let mut p = v;
    while !p.is_empty() {
        let Some(i) = p.find('{') else {
            out.push_str(p);
            break;
        };
        out.push_str(&p[..i]);
        let var = &p[i + 1..];
        if var.is_empty() {
            return Err(INVALID.into());
        }
        if let Some(rest) = var.strip_prefix('{') {
            out.push('{');
            p = rest;
            continue;
        }
        let Some(end) = var.find('}') else {
            return Err(INVALID.into());
        };
        out.push_str(match &var[..end] {
            "title" | "server-mode" => "",
            "unixsocket" => unixsocket,
            "listen-addr" | "config-file" | "port" | "tls-port" => "-",
            _ => return Err(INVALID.into()),
        });
        p = &var[end + 1..];
    }
    if out.trim_matches(' ').is_empty() {
        return Err(INVALID.into());
    }
    Ok(v.to_string())
}

/// Checks `args` as Redis would and stores the value.
fn set(config: &mut Config, name: &'static str, kind: Kind, args: &[&str]) -> Result<(), String> {
    let v = args.join(" ");
    let stored = match kind {
        Kind::Bool => check_bool(&v)?.to_string(),
        Kind::Int(lo, hi) => check_int(&v, lo, hi)?.to_string(),
        Kind::Mem(lo, hi) => check_mem(&v, lo, hi)?.to_string(),
        Kind::MemOrPercent => check_mem_or_percent(&v)?,
        Kind::Enum(names) => check_enum(&v, names)?.to_string(),
        Kind::EnumAs(pairs) => {
            let names: Vec<&'static str> = pairs.iter().map(|p| p.0).collect();
            let n = check_enum(&v, &names)?;
            pairs
                .iter()
                .find(|p| p.0 == n)
                .map_or(n, |p| p.1)
                .to_string()
        }
        Kind::Text => v,
        Kind::Percentiles => crate::admin::check_percentiles(&v)?,
        Kind::OomValues => crate::oom::check_values(&v)?,
        Kind::ShutdownFlags => check_shutdown_flags(args)?,
        Kind::ProcTitle => {
            let socket = config.unixsocket.as_ref().map(|p| p.to_string_lossy());
            check_proc_title(&v, socket.as_deref().unwrap_or(""))?
        }
        Kind::Master => match args {
            [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => {
                String::new()
            }
            [_, port] if port.parse::<u16>().is_err() => return Err("Invalid master port".into()),
            [_, _] => v,
            _ => return Err("Bad directive or wrong number of arguments".into()),
        },
    };
    config.compat.insert(name, stored);
    Ok(())
}

macro_rules! c {
    ($name:literal, $kind:expr, $default:literal) => {
        c!($name, None, $kind, $default, 0)
    };
    ($name:literal, $kind:expr, $default:literal, $flags:expr) => {
        c!($name, None, $kind, $default, $flags)
    };
    ($name:literal, $alias:expr, $kind:expr, $default:literal, $flags:expr) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: $flags,
            get: |c: &Config| get(c, $name, $default),
            set: |c: &mut Config, a: &[&str]| set(c, $name, $kind, a),
        }
    };
}

use Kind::{Bool, Enum, Int, Mem, MemOrPercent, Text};

pub const COMPAT: &[Directive] = &[
    // Memory management and background work Larder does its own way.
    c!("activerehashing", Bool, "yes"),
    c!("activedefrag", Bool, "no"),
    c!("active-defrag-cycle-min", Int(1, 99), "1"),
    c!("active-defrag-cycle-max", Int(1, 99), "25"),
    c!("active-defrag-ignore-bytes", Mem(1, LLONG_MAX), "104857600"),
    c!("active-defrag-max-scan-fields", Int(1, LLONG_MAX), "1000"),
    c!("active-defrag-threshold-lower", Int(0, 1000), "10"),
    c!("active-defrag-threshold-upper", Int(0, 1000), "100"),
    c!("jemalloc-bg-thread", Bool, "yes"),
    c!("dynamic-hz", Bool, "yes"),
    c!("disable-thp", Bool, "yes", IMM),
    c!("io-threads", Int(1, 128), "1", IMM),
    c!("io-threads-do-reads", Bool, "no", IMM),
    c!("server_cpulist", Text, "", IMM),
    c!("bio_cpulist", Text, "", IMM),
    c!("aof_rewrite_cpulist", Text, "", IMM),
    c!("bgsave_cpulist", Text, "", IMM),
    c!("maxmemory-clients", MemOrPercent, "0"),
    c!(
        "oom-score-adj",
        Kind::EnumAs(&[
            ("no", "no"),
            ("yes", "yes"),
            ("relative", "yes"),
            ("absolute", "absolute")
        ]),
        "no"
    ),
    c!(
        "oom-score-adj-values",
        Kind::OomValues,
        "0 200 800",
        flags::MULTI_ARG
    ),
    c!("aof-rewrite-incremental-fsync", Bool, "yes"),
    c!("rdb-save-incremental-fsync", Bool, "yes"),
    c!("aof-disable-auto-gc", Bool, "no"),
    c!("rdb-del-sync-files", Bool, "no"),
    c!(
        "sanitize-dump-payload",
        Enum(&["no", "yes", "clients"]),
        "no"
    ),
    // These two do act: `admin::apply_config` reads them (latency histograms).
    c!("latency-tracking", Bool, "yes"),
    c!(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        "50 99 99.9"
    ),
    c!(
        "propagation-error-behavior",
        Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore"
    ),
    // Process and logging.
    c!("pidfile", Text, "", IMM),
    c!(
        "supervised",
        Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        IMM
    ),
    c!("always-show-logo", Bool, "no", IMM),
    c!("set-proc-title", Bool, "yes", IMM),
    c!(
        "proc-title-template",
        Kind::ProcTitle,
        "{title} {listen-addr} {server-mode}"
    ),
    c!("syslog-enabled", Bool, "no", IMM),
    c!("syslog-ident", Text, "redis", IMM),
    c!(
        "syslog-facility",
        Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"
        ]),
        "local0",
        IMM
    ),
    c!("crash-log-enabled", Bool, "yes"),
    c!("crash-memcheck-enabled", Bool, "yes"),
    c!("ignore-warnings", Text, ""),
    c!(
        "shutdown-on-sigint",
        Kind::ShutdownFlags,
        "default",
        flags::MULTI_ARG
    ),
    c!(
        "shutdown-on-sigterm",
        Kind::ShutdownFlags,
        "default",
        flags::MULTI_ARG
    ),
    c!("shutdown-timeout", Int(0, INT_MAX), "10"),
    c!(
        "enable-protected-configs",
        Enum(&["no", "yes", "local"]),
        "no",
        IMM
    ),
    c!(
        "enable-module-command",
        Enum(&["no", "yes", "local"]),
        "no",
        IMM
    ),
    c!("socket-mark-id", Int(0, u32::MAX as i64), "0"),
    // Applied: scripts get setfenv, getfenv and newproxy (scripting.rs).
    c!("lua-enable-deprecated-api", Bool, "no", IMM | HIDDEN),
    // Redis's hidden test hooks (shown only when named exactly).
    c!("rdb-key-save-delay", Int(INT_MIN, INT_MAX), "0", HIDDEN),
    c!("key-load-delay", Int(INT_MIN, INT_MAX), "0", HIDDEN),
    c!("watchdog-period", Int(0, INT_MAX), "0", HIDDEN),
    c!("use-exit-on-panic", Bool, "no", HIDDEN),
    c!(
        "loading-process-events-interval-bytes",
        Int(1024, INT_MAX),
        "2097152",
        HIDDEN
    ),
    c!("bind-source-addr", Text, ""),
    // Replication: read by `replication/` (CONFIG GET shows what it uses).
    c!(
        "replicaof",
        Some("slaveof"),
        Kind::Master,
        "",
        IMM | flags::MULTI_ARG
    ),
    c!("masterauth", Text, ""),
    c!("masteruser", Text, ""),
    c!("repl-backlog-size", Mem(1, LLONG_MAX), "1048576"),
    c!("repl-backlog-ttl", Int(0, INT_MAX), "3600"),
    c!("repl-disable-tcp-nodelay", Bool, "no"),
    c!(
        "repl-diskless-load",
        Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled"
    ),
    c!("repl-diskless-sync", Bool, "yes"),
    c!("repl-diskless-sync-delay", Int(0, INT_MAX), "5"),
    c!("repl-diskless-sync-max-replicas", Int(0, INT_MAX), "0"),
    c!(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        Int(1, INT_MAX),
        "10",
        0
    ),
    c!("repl-timeout", Int(1, INT_MAX), "60"),
    c!(
        "replica-announce-ip",
        Some("slave-announce-ip"),
        Text,
        "",
        0
    ),
    c!(
        "replica-announce-port",
        Some("slave-announce-port"),
        Int(0, 65535),
        "0",
        0
    ),
    c!("replica-announced", Bool, "yes"),
    c!("replica-ignore-disk-write-errors", Bool, "no"),
    c!(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        Bool,
        "yes",
        0
    ),
    c!(
        "replica-lazy-flush",
        Some("slave-lazy-flush"),
        Bool,
        "no",
        0
    ),
    c!(
        "replica-priority",
        Some("slave-priority"),
        Int(0, INT_MAX),
        "100",
        0
    ),
    c!("replica-read-only", Some("slave-read-only"), Bool, "yes", 0),
    c!(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        Bool,
        "yes",
        0
    ),
    c!(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        Int(0, INT_MAX),
        "0",
        0
    ),
    c!(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        Int(0, INT_MAX),
        "10",
        0
    ),
    // Cluster: Larder does not run in cluster mode.
    c!("cluster-enabled", Bool, "no", IMM),
    c!("cluster-config-file", Text, "nodes.conf", IMM),
    c!("cluster-port", Int(0, 65535), "0", IMM),
    c!("cluster-node-timeout", Int(0, LLONG_MAX), "15000"),
    c!("cluster-migration-barrier", Int(0, INT_MAX), "1"),
    c!("cluster-require-full-coverage", Bool, "yes"),
    c!("cluster-allow-reads-when-down", Bool, "no"),
    c!("cluster-allow-pubsubshard-when-down", Bool, "yes"),
    c!("cluster-allow-replica-migration", Bool, "yes"),
    c!(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        Bool,
        "no",
        0
    ),
    c!(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        Int(0, INT_MAX),
        "10",
        0
    ),
    c!("cluster-announce-ip", Text, ""),
    c!("cluster-announce-hostname", Text, ""),
    c!("cluster-announce-port", Int(0, 65535), "0"),
    c!("cluster-announce-bus-port", Int(0, 65535), "0"),
    c!("cluster-announce-tls-port", Int(0, 65535), "0"),
    c!(
        "cluster-preferred-endpoint-type",
        Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip"
    ),
    c!("cluster-link-sendbuf-limit", Mem(0, LLONG_MAX), "0"),
    // TLS: Larder listens in plain text only.
    c!("tls-port", Int(0, 65535), "0"),
    c!("tls-cert-file", Text, ""),
    c!("tls-key-file", Text, ""),
    c!("tls-key-file-pass", Text, ""),
    c!("tls-client-cert-file", Text, ""),
    c!("tls-client-key-file", Text, ""),
    c!("tls-client-key-file-pass", Text, ""),
    c!("tls-dh-params-file", Text, ""),
    c!("tls-ca-cert-file", Text, ""),
    c!("tls-ca-cert-dir", Text, ""),
    c!("tls-protocols", Text, ""),
    c!("tls-ciphers", Text, ""),
    c!("tls-ciphersuites", Text, ""),
    c!("tls-auth-clients", Enum(&["no", "yes", "optional"]), "yes"),
    c!("tls-prefer-server-ciphers", Bool, "no"),
    c!("tls-session-caching", Bool, "yes"),
    c!("tls-session-cache-size", Int(0, INT_MAX), "20480"),
    c!("tls-session-cache-timeout", Int(0, INT_MAX), "300"),
    c!("tls-cluster", Bool, "no"),
    c!("tls-replication", Bool, "no"),
];

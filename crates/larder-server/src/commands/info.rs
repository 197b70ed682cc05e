//! INFO [section ...]: the server's state as Redis 7.0 prints it, one
//! `# Section` header and `field:value` lines per section, `\r\n` line ends,
//! sections separated by a blank line; a bulk string (RESP3: verbatim `txt`).
//!
//! Sections: server clients memory persistence stats replication cpu
//! modules errorstats cluster keyspace commandstats; `default` (no argument)
//! is every one but commandstats and modules' own, `all` adds commandstats,
//! `everything` adds modules. Unknown names are ignored, as in Redis.
//!
//! Sources: counters from `Shared::stats`, the engine's per-shard stats
//! (summed on demand: one lock per shard), the allocator's live byte count
//! for `used_memory`, `/proc/self/statm` for `used_memory_rss` and
//! `/proc/self/stat` for CPU times. INFO is not a hot command; it allocates
//! its text freely.
//!
//! Every field of Redis 7.0's INFO is here, in Redis's order; jemalloc's
//! own statistics (`allocator_*`, `rss_overhead_*`) come from the binary
//! (`alloc::set_allocator_stats`), and fields for what Larder does not do
//! (active defragmentation, I/O threads, a separate functions Lua state)
//! read 0.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::connection::REDIS_COMPAT_VERSION;
use crate::commands::server::{cmd, reply_text};
use crate::error::CmdResult;
use crate::pubsub::Kind as PsKind;
use crate::shared::Shared;

pub const COMMANDS: &[Command] = &[cmd("info", -1, LOADING | STALE, "slow dangerous", info)];

/// Canonical section order, and whether each is in `default`.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

fn info(ctx: &mut Ctx<'_>) -> CmdResult {
    // Read before INFO allocates its own text (4 KB and up), which would
    // otherwise show as used memory: Redis's reading is taken before its
    // small reply has grown, so a client checking `used_memory` against
    // `maxmemory` sees what the data and clients hold.
    let used = ctx.shared.engine.used_memory() as u64;
    let mut wanted = [false; SECTIONS.len()];
    if ctx.argc() == 1 {
        for (w, (_, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w = *default;
        }
    }
    for i in 1..ctx.argc() {
        let a = ctx.arg(i);
        let all = a.eq_ignore_ascii_case(b"all") || a.eq_ignore_ascii_case(b"everything");
        let default = a.eq_ignore_ascii_case(b"default");
        for (w, (name, in_default)) in wanted.iter_mut().zip(SECTIONS) {
            if all || (default && *in_default) || a.eq_ignore_ascii_case(name.as_bytes()) {
                *w = true;
            }
        }
    }
    let names: Vec<&str> = SECTIONS
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|((n, _), _)| *n)
        .collect();
    let text = render(ctx, &names, used);
    reply_text(ctx, &text);
    Ok(())
}

/// The text of the named sections (lowercase names, canonical order);
/// `used`: used memory as read when the command started.
fn render(ctx: &Ctx<'_>, names: &[&str], used: u64) -> String {
    let mut out = String::with_capacity(4096);
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let s = &mut out;
        match *name {
            "server" => server(ctx, s),
            "clients" => clients(ctx.shared, s),
            "memory" => memory(ctx.shared, used, s),
            "persistence" => persistence(ctx.shared, s),
            "stats" => stats(ctx.shared, s),
            "replication" => replication(ctx.shared, s),
            "cpu" => cpu(s),
            "modules" => s.push_str("# Modules\r\n"),
            "commandstats" => commandstats(ctx.shared, s),
            "errorstats" => errorstats(ctx.shared, s),
            "latencystats" => ctx.shared.commands.hist.info(s),
            "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => keyspace(ctx.shared, s),
            _ => {}
        }
    }
    out
}

/// `name:value\r\n`.
macro_rules! field {
    ($s:expr, $name:expr, $($v:tt)+) => {{
        let _ = write!($s, "{}:", $name);
        let _ = write!($s, $($v)+);
        $s.push_str("\r\n");
    }};
}

/// Redis's bytesToHuman.
pub fn human_bytes(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else if d < K * K * K * K * K * K {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{n}B")
    }
}

/// Resident set size from `/proc/self/statm` (0 where unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn os_name() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let sys = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    };
    format!("{sys} {} {}", release.trim(), std::env::consts::ARCH)
}

fn server(ctx: &Ctx<'_>, s: &mut String) {
    let sh = ctx.shared;
    let c = sh.config.read();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let uptime = sh.uptime_secs();
    s.push_str("# Server\r\n");
    field!(s, "redis_version", "{REDIS_COMPAT_VERSION}");
    field!(s, "larder_version", "{}", env!("CARGO_PKG_VERSION"));
    field!(s, "redis_git_sha1", "00000000");
    field!(s, "redis_git_dirty", "0");
    field!(s, "redis_build_id", "0");
    field!(s, "redis_mode", "standalone");
    field!(s, "os", "{}", os_name());
    field!(s, "arch_bits", "{}", usize::BITS);
    field!(s, "monotonic_clock", "POSIX clock_gettime");
    field!(s, "multiplexing_api", "epoll");
    field!(s, "atomicvar_api", "c11-builtin");
    field!(s, "gcc_version", "0.0.0");
    field!(s, "process_id", "{}", std::process::id());
    field!(s, "process_supervised", "no");
    field!(s, "run_id", "{}", sh.run_id);
    field!(s, "tcp_port", "{}", c.port);
    field!(s, "server_time_usec", "{now_us}");
    field!(s, "uptime_in_seconds", "{uptime}");
    field!(s, "uptime_in_days", "{}", uptime / 86_400);
    field!(s, "hz", "{}", c.hz);
    field!(s, "configured_hz", "{}", c.hz);
    field!(
        s,
        "lru_clock",
        "{}",
        larder_engine::access::lru_clock((now_us / 1000) as u64)
    );
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    field!(s, "executable", "{exe}");
    let file = c
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    field!(s, "config_file", "{file}");
    field!(s, "io_threads_active", "0");
}

fn clients(sh: &Shared, s: &mut String) {
    let all = sh.clients.all();
    let max_qbuf = all.iter().map(|h| h.qbuf.load(Relaxed)).max().unwrap_or(0);
    let max_omem = all.iter().map(|h| h.omem()).max().unwrap_or(0);
    s.push_str("# Clients\r\n");
    // As Redis: replicas are not counted as clients.
    let replicas = sh.repl.replicas.lock().len();
    field!(
        s,
        "connected_clients",
        "{}",
        all.len().saturating_sub(replicas)
    );
    field!(s, "cluster_connections", "0");
    field!(s, "maxclients", "{}", sh.config.read().maxclients);
    field!(s, "client_recent_max_input_buffer", "{max_qbuf}");
    field!(s, "client_recent_max_output_buffer", "{max_omem}");
    let blocked = sh.blocking.count() + sh.pause.waiting();
    field!(s, "blocked_clients", "{}", blocked);
    field!(s, "tracking_clients", "{}", sh.tracking.clients());
    field!(s, "clients_in_timeout_table", "0");
}

fn memory(sh: &Shared, used: u64, s: &mut String) {
    let peak = sh.admin.note_memory(used);
    let rss = rss_bytes();
    let dataset = (sh.engine.dataset_bytes() as u64).min(used);
    let overhead = used - dataset;
    let total = total_system_memory();
    let (maxmemory, policy) = {
        let c = sh.config.read();
        (c.maxmemory, c.policy().name())
    };
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ratio = if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    };
    s.push_str("# Memory\r\n");
    field!(s, "used_memory", "{used}");
    field!(s, "used_memory_human", "{}", human_bytes(used));
    field!(s, "used_memory_rss", "{rss}");
    field!(s, "used_memory_rss_human", "{}", human_bytes(rss));
    field!(s, "used_memory_peak", "{peak}");
    field!(s, "used_memory_peak_human", "{}", human_bytes(peak));
    field!(s, "used_memory_peak_perc", "{:.2}%", pct(used, peak));
    field!(s, "used_memory_overhead", "{overhead}");
    field!(
        s,
        "used_memory_startup",
        "{}",
        sh.admin.mem_startup.load(Relaxed)
    );
    field!(s, "used_memory_dataset", "{dataset}");
    field!(s, "used_memory_dataset_perc", "{:.2}%", pct(dataset, used));
    let alloc = crate::alloc::allocator_stats();
    if let Some(a) = alloc {
        field!(s, "allocator_allocated", "{}", a.allocated);
        field!(s, "allocator_active", "{}", a.active);
        field!(s, "allocator_resident", "{}", a.resident);
    }
    field!(s, "total_system_memory", "{total}");
    field!(s, "total_system_memory_human", "{}", human_bytes(total));
    // One Lua state per thread runs both EVAL scripts and functions: its
    // memory is reported as the eval VM's.
    let lua = crate::commands::scripting::lua_memory() as u64;
    let (scripts, scripts_bytes) = crate::commands::scripting::cached_scripts(sh);
    let (libraries, functions, functions_bytes) = sh.functions.footprint();
    field!(s, "used_memory_lua", "{lua}");
    field!(s, "used_memory_vm_eval", "{lua}");
    field!(s, "used_memory_lua_human", "{}", human_bytes(lua));
    field!(s, "used_memory_scripts_eval", "{scripts_bytes}");
    field!(s, "number_of_cached_scripts", "{scripts}");
    field!(s, "number_of_functions", "{functions}");
    field!(s, "number_of_libraries", "{libraries}");
    field!(s, "used_memory_vm_functions", "0");
    field!(s, "used_memory_vm_total", "{lua}");
    field!(s, "used_memory_vm_total_human", "{}", human_bytes(lua));
    field!(s, "used_memory_functions", "{functions_bytes}");
    let scripts_total = (scripts_bytes + functions_bytes) as u64;
    field!(s, "used_memory_scripts", "{scripts_total}");
    field!(
        s,
        "used_memory_scripts_human",
        "{}",
        human_bytes(scripts_total)
    );
    field!(s, "maxmemory", "{maxmemory}");
    field!(s, "maxmemory_human", "{}", human_bytes(maxmemory));
    field!(s, "maxmemory_policy", "{policy}");
    if let Some(a) = alloc {
        let div = |x: u64, y: u64| if y == 0 { 0.0 } else { x as f64 / y as f64 };
        let diff = |x: u64, y: u64| x as i64 - y as i64;
        field!(
            s,
            "allocator_frag_ratio",
            "{:.2}",
            div(a.active, a.allocated)
        );
        field!(s, "allocator_frag_bytes", "{}", diff(a.active, a.allocated));
        field!(s, "allocator_rss_ratio", "{:.2}", div(a.resident, a.active));
        field!(s, "allocator_rss_bytes", "{}", diff(a.resident, a.active));
        field!(s, "rss_overhead_ratio", "{:.2}", div(rss, a.resident));
        field!(s, "rss_overhead_bytes", "{}", diff(rss, a.resident));
    }
    field!(s, "mem_fragmentation_ratio", "{ratio:.2}");
    field!(s, "mem_fragmentation_bytes", "{}", rss as i64 - used as i64);
    field!(
        s,
        "mem_not_counted_for_evict",
        "{}",
        sh.engine.config.not_counted()
    );
    let backlog = sh
        .propagate
        .feed
        .lock()
        .backlog
        .as_ref()
        .map_or(0, |b| b.bytes());
    field!(s, "mem_replication_backlog", "{backlog}");
    field!(s, "mem_total_replication_buffers", "{backlog}");
    field!(s, "mem_clients_slaves", "0");
    field!(
        s,
        "mem_clients_normal",
        "{}",
        crate::client_eviction::normal_memory(sh)
    );
    field!(s, "mem_cluster_links", "0");
    field!(s, "mem_aof_buffer", "0");
    field!(s, "mem_allocator", "jemalloc-5.3.0");
    field!(s, "active_defrag_running", "0");
    let lf = &sh.admin.lazyfree;
    field!(
        s,
        "lazyfree_pending_objects",
        "{}",
        lf.pending.load(Relaxed)
    );
    field!(s, "lazyfreed_objects", "{}", lf.freed.load(Relaxed));
}

fn persistence(sh: &Shared, s: &mut String) {
    s.push_str("# Persistence\r\n");
    crate::persist::snapshot::info(sh, s);
    crate::persist::aof::info_fields(sh, s);
}

fn stats(sh: &Shared, s: &mut String) {
    let st = &sh.stats;
    let e = sh.engine.stats();
    let (ops, kbps) = {
        let r = st.rates.lock();
        let kbps = |rate: &crate::shared::Rate| rate.mean() as f64 / 1024.0;
        (
            r.ops.mean(),
            [
                kbps(&r.net_input),
                kbps(&r.net_output),
                kbps(&r.repl_input),
                kbps(&r.repl_output),
            ],
        )
    };
    s.push_str("# Stats\r\n");
    field!(
        s,
        "total_connections_received",
        "{}",
        st.total_connections_received.load(Relaxed)
    );
    field!(
        s,
        "total_commands_processed",
        "{}",
        st.total_commands_processed.load(Relaxed)
    );
    field!(s, "instantaneous_ops_per_sec", "{ops}");
    field!(
        s,
        "total_net_input_bytes",
        "{}",
        st.total_net_input_bytes.load(Relaxed)
    );
    field!(
        s,
        "total_net_output_bytes",
        "{}",
        st.total_net_output_bytes.load(Relaxed)
    );
    field!(
        s,
        "total_net_repl_input_bytes",
        "{}",
        sh.repl.net_in.load(Relaxed)
    );
    field!(
        s,
        "total_net_repl_output_bytes",
        "{}",
        sh.repl.net_out.load(Relaxed)
    );
    field!(s, "instantaneous_input_kbps", "{:.2}", kbps[0]);
    field!(s, "instantaneous_output_kbps", "{:.2}", kbps[1]);
    field!(s, "instantaneous_input_repl_kbps", "{:.2}", kbps[2]);
    field!(s, "instantaneous_output_repl_kbps", "{:.2}", kbps[3]);
    field!(
        s,
        "rejected_connections",
        "{}",
        st.rejected_connections.load(Relaxed)
    );
    field!(s, "sync_full", "{}", sh.repl.sync_full.load(Relaxed));
    field!(
        s,
        "sync_partial_ok",
        "{}",
        sh.repl.sync_partial_ok.load(Relaxed)
    );
    field!(
        s,
        "sync_partial_err",
        "{}",
        sh.repl.sync_partial_err.load(Relaxed)
    );
    field!(s, "expired_keys", "{}", e.expired_keys);
    field!(s, "expired_stale_perc", "0.00");
    field!(s, "expired_time_cap_reached_count", "0");
    field!(
        s,
        "expire_cycle_cpu_milliseconds",
        "{}",
        st.expire_cycle_us.load(Relaxed) / 1000
    );
    field!(s, "evicted_keys", "{}", e.evicted_keys);
    field!(
        s,
        "evicted_clients",
        "{}",
        sh.client_eviction.evicted.load(Relaxed)
    );
    let over = &sh.engine.over_limit;
    field!(
        s,
        "total_eviction_exceeded_time",
        "{}",
        over.total().as_millis()
    );
    field!(
        s,
        "current_eviction_exceeded_time",
        "{}",
        over.current().as_millis()
    );
    field!(s, "keyspace_hits", "{}", e.keyspace_hits);
    field!(s, "keyspace_misses", "{}", e.keyspace_misses);
    let ps = &sh.pubsub;
    field!(s, "pubsub_channels", "{}", ps.len(PsKind::Channel));
    field!(s, "pubsub_patterns", "{}", ps.len(PsKind::Pattern));
    field!(s, "pubsubshard_channels", "{}", ps.len(PsKind::Shard));
    field!(s, "latest_fork_usec", "0");
    field!(s, "total_forks", "0");
    field!(s, "migrate_cached_sockets", "{}", sh.migrate.len());
    field!(
        s,
        "slave_expires_tracked_keys",
        "{}",
        sh.engine.replica_expires_tracked()
    );
    // Larder does not defragment (jemalloc's own decay returns pages).
    for name in [
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        field!(s, name, "0");
    }
    let t = &sh.engine.tracking;
    field!(s, "tracking_total_keys", "{}", t.total_keys());
    field!(s, "tracking_total_items", "{}", t.total_items());
    field!(s, "tracking_total_prefixes", "{}", sh.tracking.prefixes());
    field!(
        s,
        "unexpected_error_replies",
        "{}",
        st.unexpected_error_replies.load(Relaxed)
    );
    field!(
        s,
        "total_error_replies",
        "{}",
        st.total_error_replies.load(Relaxed)
    );
    field!(s, "dump_payload_sanitizations", "0");
    counters(
        s,
        &[
            ("total_reads_processed", &st.total_reads_processed),
            ("total_writes_processed", &st.total_writes_processed),
        ],
    );
    // Connections read and write on the worker that runs them: no
    // separate I/O threads, as Redis with `io-threads 1`.
    field!(s, "io_threaded_reads_processed", "0");
    field!(s, "io_threaded_writes_processed", "0");
    counters(
        s,
        &[
            ("reply_buffer_shrinks", &st.reply_buffer_shrinks),
            ("reply_buffer_expands", &st.reply_buffer_expands),
        ],
    );
}

/// `name:value` lines for counters.
fn counters(s: &mut String, fields: &[(&str, &std::sync::atomic::AtomicU64)]) {
    for (name, c) in fields {
        field!(s, name, "{}", c.load(Relaxed));
    }
}

fn replication(sh: &Shared, s: &mut String) {
    crate::replication::info(sh, s);
}

/// (user, system, children user, children system) CPU seconds, from
/// `/proc/<which>/stat` (`self` or `thread-self`) in clock ticks (100 a
/// second on Linux).
fn cpu_times(which: &str) -> [f64; 4] {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse::<f64>().unwrap_or(0.0) / 100.0)
        .collect();
    let g = |i: usize| f.get(i).copied().unwrap_or(0.0);
    [g(0), g(1), g(2), g(3)]
}

fn cpu(s: &mut String) {
    let [user, sys, cuser, csys] = cpu_times("self");
    // Redis's main thread: here, the worker thread serving this INFO.
    let [tuser, tsys, ..] = cpu_times("thread-self");
    s.push_str("# CPU\r\n");
    field!(s, "used_cpu_sys", "{sys:.6}");
    field!(s, "used_cpu_user", "{user:.6}");
    field!(s, "used_cpu_sys_children", "{csys:.6}");
    field!(s, "used_cpu_user_children", "{cuser:.6}");
    field!(s, "used_cpu_sys_main_thread", "{tsys:.6}");
    field!(s, "used_cpu_user_main_thread", "{tuser:.6}");
}

fn commandstats(sh: &Shared, s: &mut String) {
    s.push_str("# Commandstats\r\n");
    let t = &sh.commands;
    for (slot, st) in t.stats.iter().enumerate() {
        let calls = st.calls.load(Relaxed);
        let rejected = st.rejected.load(Relaxed);
        let failed = st.failed.load(Relaxed);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let usec = st.usec.load(Relaxed);
        let per = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        field!(
            s,
            format_args!("cmdstat_{}", t.hist.slot_name(slot)),
            "calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}"
        );
    }
}

fn errorstats(sh: &Shared, s: &mut String) {
    s.push_str("# Errorstats\r\n");
    for (prefix, n) in sh.admin.errors() {
        field!(s, format_args!("errorstat_{prefix}"), "count={n}");
    }
}

fn keyspace(sh: &Shared, s: &mut String) {
    s.push_str("# Keyspace\r\n");
    for (db, (keys, expires)) in sh.engine.db_sizes().into_iter().enumerate() {
        if keys > 0 {
            field!(
                s,
                format_args!("db{db}"),
                "keys={keys},expires={expires},avg_ttl=0"
            );
        }
    }
}

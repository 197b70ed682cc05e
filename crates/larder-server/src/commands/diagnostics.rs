//! Diagnostics: SLOWLOG GET / LEN / RESET / HELP, LATENCY LATEST / HISTORY
//! / RESET / DOCTOR / GRAPH / HISTOGRAM / HELP and MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS
//! / PURGE / HELP.
//!
//! The slow log is filled by the dispatcher (`slowlog.rs`); latency events
//! by the dispatcher through `admin.rs` (commands slower than
//! `latency-monitor-threshold` ms, as events `command` and `fast-command`).
//!
//! MEMORY USAGE is Larder's own accounting, not Redis's: the bytes of the
//! key's entry allocation (key, value and metadata in one block, see the
//! engine's `entry.rs`) plus one table slot (an 8-byte pointer). It is
//! usually smaller than Redis's figure, which counts a dictEntry, a robj and
//! an sds header per key.

use std::sync::atomic::Ordering::Relaxed;

use larder_engine::Lookup;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::info::{human_bytes, rss_bytes};
use crate::commands::server::{cmd, container, reply_help, reply_text};
use crate::error::{truncate_lossy, CmdError, CmdResult, NOT_INTEGER, SYNTAX};

const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const ACL: &str = "admin slow dangerous";

pub const COMMANDS: &[Command] = &[
    container("slowlog", "slow", slowlog, SLOWLOG),
    container("latency", "slow", latency, LATENCY),
    container("memory", "slow", memory, MEMORY),
];

const SLOWLOG: &[Command] = &[
    cmd("slowlog|get", -2, ADMIN_SUB, ACL, slowlog_get),
    cmd("slowlog|len", 2, ADMIN_SUB, ACL, slowlog_len),
    cmd("slowlog|reset", 2, ADMIN_SUB, ACL, slowlog_reset),
    cmd("slowlog|help", 2, LOADING | STALE, "slow", slowlog_help),
];

const LATENCY: &[Command] = &[
    cmd("latency|latest", 2, ADMIN_SUB, ACL, latency_latest),
    cmd("latency|history", 3, ADMIN_SUB, ACL, latency_history),
    cmd("latency|reset", -2, ADMIN_SUB, ACL, latency_reset),
    cmd("latency|doctor", 2, ADMIN_SUB, ACL, latency_doctor),
    cmd("latency|graph", 3, ADMIN_SUB, ACL, latency_graph),
    cmd("latency|histogram", -2, ADMIN_SUB, ACL, latency_histogram),
    cmd("latency|help", 2, LOADING | STALE, "slow", latency_help),
];

const MEMORY: &[Command] = &[
    Command {
        name: "memory|usage",
        arity: -3,
        flags: READONLY,
        keys: (2, 2, 1),
        acl: "read slow",
        handler: memory_usage,
        subcommands: &[],
    },
    cmd("memory|stats", 2, READONLY, "slow", memory_stats),
    cmd("memory|doctor", 2, 0, "slow", memory_doctor),
    cmd("memory|malloc-stats", 2, 0, "slow", memory_malloc_stats),
    cmd("memory|purge", 2, 0, "slow", memory_purge),
    cmd("memory|help", 2, LOADING | STALE, "slow", memory_help),
];

fn slowlog(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("slowlog", SLOWLOG)
}

fn latency(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("latency", LATENCY)
}

fn memory(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("memory", MEMORY)
}

// ---------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------

fn slowlog_get(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            truncate_lossy(ctx.arg(1), 128)
        )));
    }
    let log = ctx.shared.slowlog.lock().clone();
    let count = if ctx.argc() == 3 {
        match ctx.i64_arg(2) {
            Ok(-1) => log.len(),
            Ok(n) if n >= 0 => n as usize,
            _ => {
                return Err(CmdError::new(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        }
    } else {
        10
    };
    let n = count.min(log.len());
    ctx.out.array(n);
    for e in log.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.peer.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx<'_>) -> CmdResult {
    let n = ctx.shared.slowlog.lock().len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.shared.slowlog.lock().clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

// ---------------------------------------------------------------------------
// LATENCY
// ---------------------------------------------------------------------------

fn latency_latest(ctx: &mut Ctx<'_>) -> CmdResult {
    let events = ctx.shared.admin.latency_events();
    ctx.out.array(events.len());
    for (name, e) in events {
        let (time, ms) = e.latest();
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(e.max_ms as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx<'_>) -> CmdResult {
    let events = ctx.shared.admin.latency_events();
    let want = ctx.arg(2);
    let found = events
        .into_iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(want));
    match found {
        None => ctx.out.array(0),
        Some((_, e)) => {
            ctx.out.array(e.history.len());
            for (t, ms) in e.history {
                ctx.out.array(2);
                ctx.out.int(t as i64);
                ctx.out.int(ms as i64);
            }
        }
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx<'_>) -> CmdResult {
    let names: Vec<&[u8]> = (2..ctx.argc()).map(|i| ctx.arg(i)).collect();
    let n = ctx.shared.admin.reset_latency(&names);
    ctx.out.int(n as i64);
    Ok(())
}

fn latency_doctor(ctx: &mut Ctx<'_>) -> CmdResult {
    let threshold = ctx.shared.admin.latency_threshold_ms.load(Relaxed);
    let events = ctx.shared.admin.latency_events();
    let text = if threshold == 0 && events.is_empty() {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".to_string()
    } else {
        let mut t = String::from("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, e)) in events.iter().enumerate() {
            let avg =
                e.history.iter().map(|(_, ms)| ms).sum::<u64>() / e.history.len().max(1) as u64;
            t.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, worst {}ms).\n",
                i + 1,
                name,
                e.history.len(),
                avg,
                e.max_ms
            ));
        }
        t.push_str("\nI have a few advices for you:\n\n- Check the slow log (SLOWLOG GET) for the commands that take long, and prefer commands that work on fewer elements.\n");
        t
    };
    reply_text(ctx, &text);
    Ok(())
}

/// LATENCY HISTOGRAM [command ...] (see `admin::Histograms`).
fn latency_histogram(ctx: &mut Ctx<'_>) -> CmdResult {
    let names: Vec<&[u8]> = (2..ctx.argc()).map(|i| ctx.arg(i)).collect();
    let table = &ctx.shared.commands;
    table.hist.reply(table, &names, &mut ctx.out);
    Ok(())
}

/// Width of LATENCY GRAPH (Redis's LATENCY_GRAPH_COLS).
const GRAPH_COLS: usize = 80;
/// Rows of the sparkline itself, above the labels.
const GRAPH_ROWS: usize = 4;

/// LATENCY GRAPH <event>: Redis's sparkline (latency.c + sparkline.c,
/// filled style), one column per sample, labelled with how long ago it was.
fn latency_graph(ctx: &mut Ctx<'_>) -> CmdResult {
    let want = ctx.arg(2);
    let found = ctx
        .shared
        .admin
        .latency_events()
        .into_iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(want));
    let Some((name, e)) = found.filter(|(_, e)| !e.history.is_empty()) else {
        return Err(CmdError::owned(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(want)
        )));
    };
    let now = crate::shared::unix_secs();
    let samples: Vec<(f64, String)> = e
        .history
        .iter()
        .map(|&(t, ms)| {
            let ago = now.saturating_sub(t);
            let label = match ago {
                0..60 => format!("{ago}s"),
                60..3600 => format!("{}m", ago / 60),
                3600..86400 => format!("{}h", ago / 3600),
                _ => format!("{}d", ago / 86400),
            };
            (ms as f64, label)
        })
        .collect();
    let (min, max) = e
        .history
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &(_, ms)| (lo.min(ms), hi.max(ms)));
    let mut g = format!(
        "{name} - high {max} ms, low {min} ms (all time high {} ms)\n",
        e.max_ms
    );
    g.push_str(&"-".repeat(GRAPH_COLS));
    g.push('\n');
    for (i, chunk) in samples.chunks(GRAPH_COLS).enumerate() {
        if i > 0 {
            g.push('\n');
        }
        sparkline(&mut g, chunk, min as f64, max as f64);
    }
    ctx.out.verbatim(b"txt", g.as_bytes());
    Ok(())
}

/// sparklineRenderRange with SPARKLINE_FILL: `GRAPH_ROWS` rows of three
/// levels each, then one blank row and the labels written downwards.
fn sparkline(out: &mut String, samples: &[(f64, String)], min: f64, max: f64) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let step = |v: f64| {
        // C: (int)(relval*steps)/relmax, truncated again to int.
        let s = (((v - min) * steps as f64) as i64 as f64 / relmax) as i64;
        s.clamp(0, steps - 1)
    };
    for row in 0..GRAPH_ROWS {
        for &(v, _) in samples {
            let idx = step(v) - ((GRAPH_ROWS - row - 1) * FILL.len()) as i64;
            out.push(match idx {
                i if i < 0 => ' ',
                i if (i as usize) < FILL.len() => FILL[i as usize],
                _ => '|',
            });
        }
        out.push('\n');
    }
    // The label margin row, then one row per label character.
    out.push_str(&" ".repeat(samples.len()));
    out.push('\n');
    let longest = samples.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for c in 0..longest {
        for (_, label) in samples {
            out.push(label.as_bytes().get(c).map_or(' ', |&b| b as char));
        }
        out.push('\n');
    }
}

fn latency_help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

// ---------------------------------------------------------------------------
// MEMORY
// ---------------------------------------------------------------------------

/// Bytes of one table slot (an entry pointer).
const SLOT_BYTES: usize = 8;

fn memory_usage(ctx: &mut Ctx<'_>) -> CmdResult {
    let mut j = 3;
    while j < ctx.argc() {
        if ctx.arg_is(j, "samples") && j + 1 < ctx.argc() {
            let n = ctx.i64_arg(j + 1).map_err(|_| NOT_INTEGER)?;
            if n < 0 {
                return Err(SYNTAX);
            }
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let key = ctx.key(2);
    let size = {
        let mut txn = ctx.lock(&key);
        txn.lookup(&key, Lookup::ReadNoTouch)
            .map(|e| e.into_ref().alloc_size() + SLOT_BYTES)
    };
    match size {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn memory_stats(ctx: &mut Ctx<'_>) -> CmdResult {
    let sh = ctx.shared;
    let used = sh.engine.used_memory() as u64;
    let peak = sh.admin.note_memory(used);
    let dataset = (sh.engine.dataset_bytes() as u64).min(used);
    let overhead = used - dataset;
    let rss = rss_bytes();
    let sizes = sh.engine.db_sizes();
    let keys: usize = sizes.iter().map(|(k, _)| k).sum();
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ints: [(&str, i64); 9] = [
        ("peak.allocated", peak as i64),
        ("total.allocated", used as i64),
        ("startup.allocated", 0),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("aof.buffer", 0),
        ("overhead.total", overhead as i64),
        ("keys.count", keys as i64),
    ];
    let used_dbs: Vec<(usize, (usize, usize))> = sizes
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, (k, _))| *k > 0)
        .collect();
    let o = &mut ctx.out;
    o.map(ints.len() + used_dbs.len() + 7);
    for (name, v) in ints {
        o.bulk(name.as_bytes());
        o.int(v);
    }
    for (db, (k, e)) in used_dbs {
        o.bulk(format!("db.{db}").as_bytes());
        o.map(2);
        o.bulk(b"overhead.hashtable.main");
        o.int((k * SLOT_BYTES) as i64);
        o.bulk(b"overhead.hashtable.expires");
        o.int((e * SLOT_BYTES) as i64);
    }
    o.bulk(b"keys.bytes-per-key");
    o.int(if keys == 0 {
        0
    } else {
        (used / keys as u64) as i64
    });
    o.bulk(b"dataset.bytes");
    o.int(dataset as i64);
    o.bulk(b"dataset.percentage");
    o.double(pct(dataset, used));
    o.bulk(b"peak.percentage");
    o.double(pct(used, peak));
    o.bulk(b"fragmentation");
    o.double(if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    });
    o.bulk(b"fragmentation.bytes");
    o.int(rss as i64 - used as i64);
    o.bulk(b"rss.human");
    o.bulk(human_bytes(rss).as_bytes());
    Ok(())
}

fn memory_doctor(ctx: &mut Ctx<'_>) -> CmdResult {
    let used = ctx.shared.engine.used_memory();
    let text = if used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    reply_text(ctx, text);
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_text(ctx, "Stats not supported for the current allocator");
    Ok(())
}

fn memory_purge(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

//! Server commands on the whole keyspace and the process: DBSIZE FLUSHDB
//! FLUSHALL SWAPDB TIME LASTSAVE SHUTDOWN MONITOR ROLE LOLWUT, plus
//! the small helpers every admin command module shares (`cmd`,
//! `container`, `reply_help`). INFO, CONFIG, COMMAND, CLIENT and the diagnostics
//! (SLOWLOG, LATENCY, MEMORY) live in their own modules.
//!
//! Whole-keyspace writes lock every shard (`Engine::lock_all`) once, so
//! FLUSHALL and SWAPDB are atomic for other clients. The entries a flush
//! takes out are freed after the locks are released: inline for SYNC, on a
//! short-lived background thread for ASYNC (counted in INFO's
//! `lazyfree_pending_objects` until freed).

use std::sync::atomic::Ordering::Relaxed;

use larder_engine::Entry;

use crate::client::After;
use crate::command::{flags::*, Command, Ctx, Handler};
use crate::error::{CmdError, CmdResult, DB_RANGE, SYNTAX};

/// A command without key arguments.
pub(crate) const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static str,
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys: (0, 0, 0),
        acl,
        handler,
        subcommands: &[],
    }
}

/// A container command (CONFIG, CLIENT, ...): arity -2, its handler runs the
/// subcommand named by the first argument.
pub(crate) const fn container(
    name: &'static str,
    acl: &'static str,
    handler: Handler,
    subcommands: &'static [Command],
) -> Command {
    Command {
        name,
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl,
        handler,
        subcommands,
    }
}

/// Redis's addReplyHelp: a header, the lines, then HELP, as status replies.
pub(crate) fn reply_help(ctx: &mut Ctx<'_>, name: &str, lines: &[&str]) -> CmdResult {
    ctx.out.array(lines.len() + 3);
    let header = format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    ctx.out.simple(header.as_bytes());
    for l in lines {
        ctx.out.simple(l.as_bytes());
    }
    ctx.out.simple(b"HELP");
    ctx.out.simple(b"    Prints this help.");
    Ok(())
}

/// A text reply (INFO, CLIENT LIST, DOCTOR reports): verbatim `txt` in
/// RESP3, a bulk string in RESP2.
pub(crate) fn reply_text(ctx: &mut Ctx<'_>, text: &str) {
    if ctx.out.proto == larder_resp::Protocol::Resp3 {
        ctx.out.verbatim(b"txt", text.as_bytes());
    } else {
        ctx.out.bulk(text.as_bytes());
    }
}

const ADMIN_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub const COMMANDS: &[Command] = &[
    cmd("dbsize", 1, READONLY | FAST, "keyspace read fast", dbsize),
    cmd(
        "flushdb",
        -1,
        WRITE,
        "keyspace write slow dangerous",
        flushdb,
    ),
    cmd(
        "flushall",
        -1,
        WRITE,
        "keyspace write slow dangerous",
        flushall,
    ),
    cmd(
        "swapdb",
        3,
        WRITE | FAST,
        "keyspace write fast dangerous",
        swapdb,
    ),
    cmd("time", 1, LOADING | STALE | FAST, "fast", time),
    cmd(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        "admin fast dangerous",
        lastsave,
    ),
    cmd(
        "shutdown",
        -1,
        ADMIN_FLAGS | NO_MULTI | ALLOW_BUSY,
        "admin slow dangerous",
        shutdown,
    ),
    cmd("monitor", 1, ADMIN_FLAGS, "admin slow dangerous", monitor),
    cmd("lolwut", -1, READONLY | FAST, "read fast", lolwut),
];

/// LOLWUT [VERSION v [arg ...]]: Redis 7.0's default output, the version
/// line (verbatim text in RESP3). Versions 5 and 6 draw random art in
/// Redis; here they check their integer arguments as Redis does and print
/// the same line.
fn lolwut(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() >= 3 && ctx.arg_is(1, "version") {
        let v = ctx.i64_arg(2)? as u32;
        // Version 5 reads three integers, version 6 two.
        let ints = match v {
            5 => 3,
            6 => 2,
            _ => 0,
        };
        for i in 3..ctx.argc().min(3 + ints) {
            ctx.i64_arg(i)?;
        }
    }
    let text = format!(
        "Redis ver. {}\n",
        crate::commands::connection::REDIS_COMPAT_VERSION
    );
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

fn dbsize(ctx: &mut Ctx<'_>) -> CmdResult {
    let n = ctx.engine().dbsize(ctx.client.db);
    ctx.out.int(n as i64);
    Ok(())
}

/// FLUSHDB / FLUSHALL's `[ASYNC|SYNC]`: Ok(true) for ASYNC.
fn flush_async(ctx: &Ctx<'_>) -> Result<bool, CmdError> {
    match ctx.argc() {
        1 => Ok(ctx.shared.config.read().lazyfree_lazy_user_flush),
        2 if ctx.arg_is(1, "async") => Ok(true),
        2 if ctx.arg_is(1, "sync") => Ok(false),
        _ => Err(SYNTAX),
    }
}

/// Frees flushed entries: here, or on a background thread.
pub(crate) fn free_entries(ctx: &Ctx<'_>, taken: Vec<Entry>, lazy: bool) {
    if !lazy || taken.is_empty() {
        drop(taken);
        return;
    }
    let n = taken.len() as u64;
    let counters = ctx.shared.admin.lazyfree.clone();
    counters.pending.fetch_add(n, Relaxed);
    let theirs = counters.clone();
    let spawned = std::thread::Builder::new()
        .name("larder-lazyfree".into())
        .spawn(move || {
            drop(taken);
            theirs.pending.fetch_sub(n, Relaxed);
            theirs.freed.fetch_add(n, Relaxed);
        });
    // No thread: the closure (and the entries) were dropped here instead.
    if spawned.is_err() {
        counters.pending.fetch_sub(n, Relaxed);
        counters.freed.fetch_add(n, Relaxed);
    }
}

fn flushdb(ctx: &mut Ctx<'_>) -> CmdResult {
    let lazy = flush_async(ctx)?;
    let db = ctx.client.db;
    // Propagated even when the database was already empty, as Redis 7.0.
    ctx.force_propagation();
    let taken = ctx.engine().lock_all(db).take_db(db);
    free_entries(ctx, taken, lazy);
    ctx.shared.tracking.flushed(&ctx.shared.engine);
    crate::blocking::signal_waited(ctx, db);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx<'_>) -> CmdResult {
    let lazy = flush_async(ctx)?;
    let engine = ctx.engine();
    ctx.force_propagation();
    let taken = {
        let mut txn = engine.lock_all(0);
        let mut all = Vec::new();
        for db in 0..engine.databases() {
            all.extend(txn.take_db(db));
        }
        all
    };
    free_entries(ctx, taken, lazy);
    ctx.shared.tracking.flushed(&ctx.shared.engine);
    for db in 0..engine.databases() {
        crate::blocking::signal_waited(ctx, db);
    }
    crate::persist::snapshot::after_flushall(ctx.shared);
    ctx.out.ok();
    Ok(())
}

/// Redis's getIntFromObjectOrReply with a custom message.
fn db_index(ctx: &Ctx<'_>, i: usize, msg: &'static str) -> Result<i64, CmdError> {
    ctx.i64_arg(i)
        .ok()
        .filter(|v| i32::try_from(*v).is_ok())
        .ok_or(CmdError::new(msg))
}

fn swapdb(ctx: &mut Ctx<'_>) -> CmdResult {
    let a = db_index(ctx, 1, "ERR invalid first DB index")?;
    let b = db_index(ctx, 2, "ERR invalid second DB index")?;
    let n = ctx.engine().databases() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(DB_RANGE);
    }
    if a != b {
        ctx.engine().lock_all(0).swap_dbs(a as usize, b as usize);
        crate::blocking::signal_waited(ctx, a as usize);
        crate::blocking::signal_waited(ctx, b as usize);
    }
    ctx.out.ok();
    Ok(())
}

fn time(ctx: &mut Ctx<'_>) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(i64::from(now.subsec_micros()));
    Ok(())
}

fn lastsave(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.int(ctx.shared.lastsave.load(Relaxed) as i64);
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: saves the RDB first when
/// asked to or when save points are configured (a failed save aborts the
/// shutdown unless FORCE/NOW), then stops; the client gets no reply.
fn shutdown(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for i in 1..ctx.argc() {
        if ctx.arg_is(i, "nosave") {
            nosave = true;
        } else if ctx.arg_is(i, "save") {
            save = true;
        } else if ctx.arg_is(i, "now") || ctx.arg_is(i, "force") {
            other = true;
        } else if ctx.arg_is(i, "abort") {
            abort = true;
        } else {
            return Err(SYNTAX);
        }
    }
    if (save && nosave) || (abort && (save || nosave || other)) {
        return Err(SYNTAX);
    }
    if abort {
        return Err(CmdError::new("ERR No shutdown in progress."));
    }
    tracing::warn!("user requested shutdown");
    let force = if save {
        Some(true)
    } else {
        nosave.then_some(false)
    };
    if !crate::persist::snapshot::save_before_shutdown(ctx.shared, force) && !other {
        return Err(CmdError::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.shared.request_shutdown();
    ctx.client.after = After::Close;
    Ok(())
}

fn monitor(ctx: &mut Ctx<'_>) -> CmdResult {
    let id = ctx.client.id;
    let pushes = ctx.client.pushes_mut();
    if pushes.monitor {
        // Redis ignores MONITOR from a client already monitoring.
        return Ok(());
    }
    pushes.monitor = true;
    {
        let mut m = ctx.shared.monitors.lock();
        m.push((id, pushes.outbox.clone()));
        ctx.shared.monitor_count.store(m.len(), Relaxed);
    }
    ctx.client.handle.monitor.store(true, Relaxed);
    ctx.out.ok();
    Ok(())
}

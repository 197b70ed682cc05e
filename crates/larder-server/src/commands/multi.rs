//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! State per client ([`TxState`]): the queue of a MULTI in progress — every
//! queued command's arguments copied into one flat buffer plus (start, end)
//! ranges, so queueing costs two amortised vector appends — a `dirty` flag
//! set when a command is refused at queue time (unknown, wrong arity,
//! `no_multi`, OOM: over `maxmemory` nothing is queued), the flags the
//! queued commands have and lack (EXEC is refused over `maxmemory`, short
//! of replicas or paused as what it queued, as Redis's `mstate.cmd_flags`
//! makes it), and the keys the client WATCHes with the version the engine
//! gave each (`larder_engine::watch`).
//!
//! EXEC is atomic with respect to every other client: it takes an
//! [`Engine::hold`](larder_engine::Engine::hold) on the shards the queued
//! commands touch (their key positions from the command table, plus the
//! watched keys' shards), or on every shard when a queued command's keys
//! cannot be derived from the table (key-less commands, which may be
//! whole-keyspace ones, and the commands whose keys move, such as SORT or
//! ZUNIONSTORE). While the hold lives, every shard lock a handler asks for is
//! lent from it, so the queued handlers run unchanged through
//! [`dispatch::call`](crate::dispatch::call). Under the hold EXEC first
//! checks the watched keys' versions (a changed or since-expired key aborts
//! with a null array), then runs the commands; a runtime error of one of them
//! is just its reply, nothing is rolled back, as in Redis.

use std::sync::atomic::Ordering::Relaxed;

use larder_resp::Args;

use crate::client::Client;
use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::shared::Shared;

/// A MULTI in progress.
#[derive(Default)]
struct Queue {
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    /// (command index, first range, number of arguments).
    cmds: Vec<(usize, usize, usize)>,
    /// A command was refused while queueing: EXEC aborts.
    dirty: bool,
    /// The flags some queued command has, and those some queued command
    /// lacks (Redis's `mstate.cmd_flags` / `cmd_inv_flags`): EXEC is
    /// checked as what it runs.
    flags: u32,
    lacking: u32,
}

struct WatchedKey {
    db: usize,
    key: Vec<u8>,
    version: u64,
}

#[derive(Default)]
pub struct TxState {
    multi: Option<Box<Queue>>,
    watched: Vec<WatchedKey>,
}

impl TxState {
    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Commands queued (-1 outside MULTI), and what the queue's arguments
    /// and the watched keys hold, as Redis counts `multi-mem`.
    pub fn usage(&self) -> (i64, u64) {
        const PER_CMD: usize = 32;
        let watched: usize = self
            .watched
            .iter()
            .map(|w| w.key.len() + std::mem::size_of::<WatchedKey>())
            .sum();
        match &self.multi {
            Some(q) => (
                q.cmds.len() as i64,
                (q.buf.len() + PER_CMD * q.cmds.len() + watched) as u64,
            ),
            None => (-1, watched as u64),
        }
    }

    /// The flags some queued command has, and those some queued command
    /// lacks (both 0 outside MULTI).
    pub fn queued_flags(&self) -> (u32, u32) {
        self.multi.as_ref().map_or((0, 0), |q| (q.flags, q.lacking))
    }
}

/// Commands that run at once even inside MULTI (Redis's processCommand list).
fn runs_in_multi(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Whether `cmd` is refused over `maxmemory` because the client is in
/// MULTI: queueing takes memory, so everything but EXEC, DISCARD, QUIT and
/// RESET is (Redis's processCommand).
pub fn refused_on_oom(client: &Client, cmd: &Command) -> bool {
    client.tx.in_multi() && !matches!(cmd.name, "exec" | "discard" | "quit" | "reset")
}

/// Commands whose key positions the table's (first, last, step) misses.
const MOVABLE_KEYS: &[&str] = &[
    "sort",
    "sort_ro",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "georadius",
    "georadiusbymember",
    "migrate",
];

/// Marks the transaction in progress, if any, as failed (a command was refused).
pub fn flag_dirty(client: &mut Client) {
    if let Some(q) = client.tx.multi.as_mut() {
        q.dirty = true;
    }
}

/// A command refused before running (arity, NOAUTH, OOM...): inside MULTI
/// the transaction is marked dirty; a refused EXEC aborts it (and, as in
/// Redis, says so even outside MULTI) with `EXECABORT Transaction discarded
/// because of: <error>`, drops the WATCHes and shows MONITOR the EXEC
/// (Redis's execCommandAbort).
pub fn rejected(
    shared: &Shared,
    client: &mut Client,
    cmd: &Command,
    args: &Args<'_>,
    e: CmdError,
) -> CmdError {
    if cmd.name != "exec" {
        flag_dirty(client);
        return e;
    }
    discard_all(shared, client);
    if shared.monitor_count.load(Relaxed) > 0 {
        crate::monitor::feed(shared, client, args);
    }
    let text = String::from_utf8_lossy(e.as_bytes());
    let text = text.strip_prefix("ERR ").unwrap_or(&text);
    CmdError::owned(format!(
        "EXECABORT Transaction discarded because of: {text}"
    ))
}

/// Queues a command of a MULTI, whose checked flags are `flags`
/// (`dispatch::command_flags`): `Ok(true)` if queued, `Ok(false)` if it
/// runs at once (EXEC, DISCARD, ...); refused (`no_multi`) marks it dirty.
pub fn queue(
    client: &mut Client,
    idx: usize,
    cmd: &Command,
    args: &Args<'_>,
    flags: u32,
) -> Result<bool, CmdError> {
    let Some(q) = client.tx.multi.as_mut() else {
        return Ok(false);
    };
    if runs_in_multi(cmd) {
        return Ok(false);
    }
    if cmd.has(NO_MULTI) {
        q.dirty = true;
        return Err(CmdError::new(
            "ERR Command not allowed inside a transaction",
        ));
    }
    let first = q.ranges.len();
    for a in args.iter() {
        let start = q.buf.len();
        q.buf.extend_from_slice(a);
        q.ranges.push((start, q.buf.len()));
    }
    q.cmds.push((idx, first, args.len()));
    q.flags |= flags;
    q.lacking |= !flags;
    Ok(true)
}

/// Drops a MULTI in progress and every WATCH (DISCARD, RESET, disconnection).
pub fn discard_all(shared: &Shared, client: &mut Client) {
    client.tx.multi = None;
    unwatch_all(shared, client);
}

fn unwatch_all(shared: &Shared, client: &mut Client) {
    let engine = &shared.engine;
    for w in client.tx.watched.drain(..) {
        let key = engine.key(&w.key);
        engine.lock_key(w.db, &key).unwatch(w.db, &key);
    }
}

const EXEC_ABORT: CmdError =
    CmdError::new("EXECABORT Transaction discarded because of previous errors.");

fn multi(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.client.tx.in_multi() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.client.tx.multi = Some(Box::default());
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx<'_>) -> CmdResult {
    if !ctx.client.tx.in_multi() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    discard_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.client.tx.in_multi() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    for i in 1..ctx.argc() {
        let bytes = ctx.arg(i);
        let tx = &mut ctx.client.tx;
        if tx.watched.iter().any(|w| w.db == db && w.key == bytes) {
            continue;
        }
        let key = ctx.key(i);
        let version = ctx.lock(&key).watch(&key);
        ctx.client.tx.watched.push(WatchedKey {
            db,
            key: bytes.to_vec(),
            version,
        });
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_>) -> CmdResult {
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// The shards a transaction must hold: `None` means all of them.
fn shards_to_hold(shared: &Shared, q: &Queue, watched: &[WatchedKey]) -> Option<Vec<usize>> {
    let engine = &shared.engine;
    let mut shards: Vec<usize> = watched
        .iter()
        .map(|w| engine.shard_index(engine.hash(&w.key)))
        .collect();
    for &(idx, first, argc) in &q.cmds {
        let cmd = shared.commands.get(idx);
        let (f, l, step) = cmd.keys;
        if f <= 0 || MOVABLE_KEYS.contains(&cmd.name) {
            return None;
        }
        let last = if l < 0 { argc as i32 + l } else { l };
        let mut i = f;
        while i <= last && (i as usize) < argc {
            let (s, e) = q.ranges[first + i as usize];
            shards.push(engine.shard_index(engine.hash(&q.buf[s..e])));
            i += step.max(1);
        }
    }
    Some(shards)
}

fn exec(ctx: &mut Ctx<'_>) -> CmdResult {
    let Some(q) = ctx.client.tx.multi.take() else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    let shared = ctx.shared;
    if q.dirty {
        unwatch_all(shared, ctx.client);
        return Err(EXEC_ABORT);
    }
    let engine = &shared.engine;
    let shards = shards_to_hold(shared, &q, &ctx.client.tx.watched);
    let _hold = engine.hold(shards.as_deref());
    // Dropped first: the batch reaches the AOF feed while the hold lasts.
    let _flush = crate::propagate::flush_on_drop(shared);
    let intact = ctx.client.tx.watched.iter().all(|w| {
        let key = engine.key(&w.key);
        engine
            .lock_key_at(w.db, &key, ctx.now_ms)
            .watch_intact(w.db, &key, w.version)
    });
    unwatch_all(shared, ctx.client);
    if !intact {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(q.cmds.len());
    let exec_idx = ctx.client.last_cmd;
    for &(idx, first, argc) in &q.cmds {
        let args = Args::from_parts(&q.buf, &q.ranges[first..first + argc]);
        // ACL rules may have changed since the command was queued.
        if !crate::acl::unrestricted(shared, ctx.client) {
            let site = crate::acl::Site::Exec;
            if let Err(e) = crate::acl::enforce(shared, ctx.client, idx, &args, site) {
                crate::dispatch::reply_error(shared, ctx.out.out, ctx.out.proto, e);
                continue;
            }
        }
        crate::dispatch::call(shared, ctx.client, idx, args, ctx.out.out);
    }
    ctx.client.last_cmd = exec_idx;
    Ok(())
}

const TXN: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "multi",
        arity: 1,
        flags: TXN,
        keys: (0, 0, 0),
        acl: "fast transaction",
        handler: multi,
        subcommands: &[],
    },
    Command {
        name: "exec",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        keys: (0, 0, 0),
        acl: "slow transaction",
        handler: exec,
        subcommands: &[],
    },
    Command {
        name: "discard",
        arity: 1,
        flags: TXN,
        keys: (0, 0, 0),
        acl: "fast transaction",
        handler: discard,
        subcommands: &[],
    },
    Command {
        name: "watch",
        arity: -2,
        flags: TXN,
        keys: (1, -1, 1),
        acl: "fast transaction",
        handler: watch,
        subcommands: &[],
    },
    Command {
        name: "unwatch",
        arity: 1,
        flags: TXN,
        keys: (0, 0, 0),
        acl: "fast transaction",
        handler: unwatch,
        subcommands: &[],
    },
];

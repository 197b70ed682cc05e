//! Running one parsed request: lookup, arity, authentication, ACL, `maxmemory`,
//! the handler, then counters, SLOWLOG and MONITOR. Inside MULTI, a command
//! that passes the checks is queued instead (`commands/multi.rs`); one that
//! fails them marks the transaction dirty. [`call`] is the part EXEC and
//! scripts reuse for their inner commands.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use larder_resp::{Args, Reply};

use crate::client::{Client, ReplyMode};
use crate::command::{flags, Command, Ctx};
use crate::error::{
    truncate_lossy, unknown_subcommand, wrong_arity, CmdError, LOADING, NOAUTH, OOM,
};
use crate::shared::Shared;

/// Redis 7.0's unknown-command text: the name and up to 128 bytes of arguments.
fn unknown_command(args: &Args<'_>) -> CmdError {
    let mut list = String::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push('\'');
        list.push_str(&truncate_lossy(a, room));
        list.push_str("' ");
    }
    CmdError::owned(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncate_lossy(&args[0], 128),
        list
    ))
}

/// Runs one request, appending its reply to `out`.
pub fn dispatch(shared: &Shared, client: &mut Client, args: Args<'_>, out: &mut Vec<u8>) {
    let reply_start = out.len();
    let mode = client.reply_mode;
    run(shared, client, args, out);
    // Client memory counted after each command, so the next one (of any
    // client) finds clients evicted before it evicts keys, as Redis's.
    if client.nesting == 0 && !crate::client_eviction::after_command(shared, client, out) {
        client.after = crate::client::After::Close;
    }
    if shared.tracking.active() {
        let name = shared
            .commands
            .commands
            .get(client.last_cmd)
            .map_or("", |c| c.name);
        shared.tracking.after_command(client, out, name);
    }
    // CLIENT REPLY ON is answered even from OFF or SKIP mode.
    if mode == ReplyMode::On || client.reply_mode == ReplyMode::On {
        return;
    }
    // Subscription confirmations are sent whatever the mode (Redis's
    // CLIENT_PUSHING); a SKIP is used up all the same.
    let pushed = match out.get(reply_start) {
        Some(b'>') => true,
        Some(b'*') => {
            crate::pubsub::confirms_subscriptions(shared.commands.get(client.last_cmd).name)
        }
        _ => false,
    };
    if !pushed {
        out.truncate(reply_start);
    }
    if mode == ReplyMode::Skip && client.reply_mode == ReplyMode::Skip {
        client.reply_mode = ReplyMode::On;
    }
}

/// The flags a command is checked by before it runs (Redis's
/// getCommandFlags): its subcommand's, `may_replicate` as
/// [`pause::may_replicate`](crate::pause::may_replicate) has it, and for
/// EVAL and FCALL of a script that declares flags, the ones it declares.
pub(crate) fn command_flags(shared: &Shared, cmd: &Command, args: &Args<'_>) -> u32 {
    let sub = cmd.resolve(args);
    let mut f = sub.flags;
    if crate::pause::may_replicate(sub) {
        f |= flags::MAY_REPLICATE;
    }
    crate::commands::scripting::declared_command_flags(shared, sub.name, args, f)
}

/// [`command_flags`] as the checks see them: the flags the command has and
/// those it lacks, EXEC's counting the commands it queued too.
/// While the dataset loads: refused unless flagged `loading`, and an EXEC
/// as what it queued (Redis's is_denyloading_command).
fn denied_while_loading(client: &Client, cmd: &Command, sub: &Command) -> bool {
    !sub.has(flags::LOADING)
        || (cmd.name == "exec" && client.tx.queued_flags().1 & flags::LOADING != 0)
}

pub(crate) fn checked_flags(
    shared: &Shared,
    client: &Client,
    cmd: &Command,
    args: &Args<'_>,
) -> (u32, u32) {
    let f = command_flags(shared, cmd, args);
    let (has, lacks) = match cmd.name {
        "exec" => client.tx.queued_flags(),
        _ => (0, 0),
    };
    (f | has, !f | lacks)
}

fn run(shared: &Shared, client: &mut Client, args: Args<'_>, out: &mut Vec<u8>) {
    let proto = client.proto;
    let fail = |out: &mut Vec<u8>, e: CmdError| reply_error(shared, out, proto, e);
    let Some(idx) = shared.commands.lookup_hinted(&args[0], client.last_cmd) else {
        crate::commands::multi::flag_dirty(client);
        return fail(out, unknown_command(&args));
    };
    let cmd = shared.commands.get(idx);
    // A container runs as the subcommand it names, checked and counted
    // as that one; an unknown one is refused uncounted, as an unknown
    // command (Redis's lookupCommand finds neither).
    let sub = cmd.resolve(&args);
    if !cmd.subcommands.is_empty() && args.len() >= 2 && std::ptr::eq(sub, cmd) {
        crate::commands::multi::flag_dirty(client);
        return fail(out, unknown_subcommand(&args[1], cmd.name));
    }
    let stats = shared.commands.stats_of(idx, &args);
    // A command refused before it runs: counted, and inside MULTI (or as
    // EXEC) handled by `multi::rejected`.
    let refuse = |client: &mut Client, out: &mut Vec<u8>, e: CmdError| {
        stats.rejected.fetch_add(1, Relaxed);
        let e = crate::commands::multi::rejected(shared, client, cmd, &args, e);
        fail(out, e)
    };
    if !sub.arity_ok(args.len()) {
        return refuse(client, out, wrong_arity(sub.name));
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) && shared.hot.requirepass.load(Relaxed) {
        return refuse(client, out, NOAUTH);
    }
    // The AOF's replay runs every command as written (Redis's AOF client
    // passes none of the admission checks below).
    let obey = client.replay;
    // ACL: one load and a branch for a user allowed everything.
    if !obey && !crate::acl::unrestricted(shared, client) {
        if let Err(e) = crate::acl::enforce(shared, client, idx, &args, crate::acl::Site::TopLevel)
        {
            return refuse(client, out, e);
        }
    }
    if !obey && shared.hot.loading.load(Relaxed) && denied_while_loading(client, cmd, sub) {
        return refuse(client, out, LOADING);
    }
    if let Some(e) = crate::commands::scripting::busy_error(shared, cmd, &args).filter(|_| !obey) {
        return refuse(client, out, e);
    }
    // The flags are only worked out when a check needs them.
    let checked = |client: &Client| checked_flags(shared, client, cmd, &args);
    if !obey
        && shared.engine.config.maxmemory() > 0
        && shared.engine.evict_until_fits().is_err()
        && (crate::commands::multi::refused_on_oom(client, cmd)
            || checked(client).0 & flags::DENYOOM != 0)
    {
        return refuse(client, out, OOM);
    }
    let tracking = shared.tracking.active();
    if tracking {
        // As Redis's processCommand: the tracking table is brought under
        // its limit before each command, not only by the cron.
        let max = shared.config.read().tracking_table_max_keys;
        shared.tracking.limit_table(&shared.engine, max);
    }
    if client.nesting == 0 && (tracking || shared.engine.config.maxmemory() > 0) {
        // Invalidations of keys evicted or forgotten just now precede the
        // reply, as Redis does both before it runs the command.
        client.handle.outbox.take_before_command(out, client.proto);
    }
    if !obey {
        let denied = crate::persist::snapshot::misconf(shared, cmd, || checked(client).0)
            .or_else(|| crate::replication::write_error(shared, client, || checked(client)));
        if let Some(e) = denied {
            return refuse(client, out, e);
        }
    }
    if client.pushes.is_some() {
        if let Some(e) = crate::pubsub::subscribed_mode_error(client, cmd, &args) {
            return refuse(client, out, e);
        }
    }
    if client.tx.in_multi() {
        let flags = command_flags(shared, cmd, &args);
        match crate::commands::multi::queue(client, idx, cmd, &args, flags) {
            Ok(true) => return Reply::new(out, proto).simple(b"QUEUED"),
            Ok(false) => {}
            Err(e) => {
                stats.rejected.fetch_add(1, Relaxed);
                return fail(out, e);
            }
        }
    }
    call(shared, client, idx, args, out);
}

/// Runs command `idx` past all checks: the handler, then its counters,
/// SLOWLOG and latency. EXEC and scripts call this for each inner command.
pub(crate) fn call(
    shared: &Shared,
    client: &mut Client,
    idx: usize,
    args: Args<'_>,
    out: &mut Vec<u8>,
) {
    let proto = client.proto;
    let cmd = shared.commands.get(idx);
    let stats = shared.commands.stats_of(idx, &args);
    client.last_cmd = idx;
    // One wall-clock read serves as the command's time and as the start of
    // its duration (Redis does the same with ustime()); in a pipeline it is
    // the previous command's end.
    let start_us = CHAIN.with(|c| match c.get() {
        Some(t) if t > 0 => t,
        _ => unix_micros(),
    });
    // The commands EXEC or a script runs keep the clock of the command
    // that runs them, so no key expires midway (Redis's fixed_time_expire).
    let now_ms = if client.nesting == 0 {
        CALL_NOW.set(start_us / 1000);
        start_us / 1000
    } else {
        CALL_NOW.get()
    };
    if shared.tracking.active() {
        shared.tracking.before_call(shared, client, cmd, &args);
    }
    client.nesting += 1;
    let propagating = crate::propagate::command_begins(shared);
    if propagating {
        crate::propagate::enter(cmd, &args, client.db);
    }
    let result = {
        let mut ctx = Ctx {
            shared,
            client: &mut *client,
            args,
            out: Reply::new(out, proto),
            now_ms,
        };
        (cmd.handler)(&mut ctx)
    };
    if propagating {
        crate::propagate::leave(shared, client);
    }
    crate::propagate::command_ends();
    client.nesting -= 1;
    let end_us = unix_micros();
    CHAIN.with(|c| {
        if c.get().is_some() {
            c.set(Some(end_us));
        }
    });
    // As Redis: after the command runs (so EXEC shows after the commands
    // it ran); admin commands are never shown; scripts feed themselves
    // (before the commands they run), so they are SKIP_MONITOR.
    if shared.monitor_count.load(Relaxed) > 0
        && !cmd.resolve(&args).has(flags::SKIP_MONITOR | flags::ADMIN)
    {
        if crate::commands::scripting::in_script() {
            crate::monitor::feed_script(shared, client.db, &args);
        } else {
            crate::monitor::feed(shared, client, &args);
        }
    }
    let micros = end_us.saturating_sub(start_us);
    stats.calls.fetch_add(1, Relaxed);
    stats.usec.fetch_add(micros, Relaxed);
    shared.stats.total_commands_processed.fetch_add(1, Relaxed);
    if let Err(e) = result {
        stats.failed.fetch_add(1, Relaxed);
        reply_error(shared, out, proto, e);
    }
    // A command that blocked goes to SLOWLOG when it ends (`blocking`).
    match client.block.as_mut() {
        Some(spec) if client.nesting == 0 => spec.set_call_us(micros),
        _ if !cmd.has(flags::SKIP_SLOWLOG) => crate::slowlog::record(shared, client, &args, micros),
        _ => {}
    }
    shared.admin.command_latency(micros, cmd.has(flags::FAST));
    shared.commands.hist.record(idx, cmd, &args, micros);
}

/// Replies an error and counts it (INFO errorstats), unless it relays one
/// counted already.
pub(crate) fn reply_error(
    shared: &Shared,
    out: &mut Vec<u8>,
    proto: larder_resp::Protocol,
    e: CmdError,
) {
    if !e.is_relayed() {
        count_error(shared, e.as_bytes());
    }
    Reply::new(out, proto).error(e.as_bytes());
}

/// Counts an error reply: `total_error_replies` and its prefix's errorstat.
pub(crate) fn count_error(shared: &Shared, text: &[u8]) {
    shared.stats.total_error_replies.fetch_add(1, Relaxed);
    shared.admin.count_error(text);
}

thread_local! {
    /// While a [`ClockChain`] lives on this thread: when the last command
    /// ended (Unix µs; 0 before the first).
    static CHAIN: Cell<Option<u64>> = const { Cell::new(None) };
    /// The time (Unix ms) of the client command running on this thread,
    /// which the commands it runs (EXEC's, a script's) see as theirs.
    static CALL_NOW: Cell<u64> = const { Cell::new(0) };
}

/// Commands run back to back, with nothing in between that can wait: each
/// one starts when the previous one ended, so a pipeline reads the clock
/// once per command instead of twice. Not `Send`: it cannot live across an
/// `.await`.
pub(crate) struct ClockChain(PhantomData<*const ()>);

impl ClockChain {
    pub(crate) fn start() -> ClockChain {
        CHAIN.with(|c| c.set(Some(0)));
        ClockChain(PhantomData)
    }
}

impl Drop for ClockChain {
    fn drop(&mut self) {
        CHAIN.with(|c| c.set(None));
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

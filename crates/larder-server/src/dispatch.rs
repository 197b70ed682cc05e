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
use crate::command::{flags, Ctx};
use crate::error::{truncate_lossy, wrong_arity, CmdError, NOAUTH, OOM};
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

fn run(shared: &Shared, client: &mut Client, args: Args<'_>, out: &mut Vec<u8>) {
    let proto = client.proto;
    let fail = |out: &mut Vec<u8>, e: CmdError| reply_error(shared, out, proto, e);
    let Some(idx) = shared.commands.lookup_hinted(&args[0], client.last_cmd) else {
        crate::commands::multi::flag_dirty(client);
        return fail(out, unknown_command(&args));
    };
    let cmd = shared.commands.get(idx);
    let stats = &shared.commands.stats[idx];
    if !cmd.arity_ok(args.len()) {
        stats.rejected.fetch_add(1, Relaxed);
        let e = crate::commands::multi::rejected(client, cmd, wrong_arity(cmd.name));
        return fail(out, e);
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) && shared.hot.requirepass.load(Relaxed) {
        stats.rejected.fetch_add(1, Relaxed);
        return fail(out, crate::commands::multi::rejected(client, cmd, NOAUTH));
    }
    // ACL: one load and a branch for a user allowed everything.
    if !crate::acl::unrestricted(shared, client) {
        if let Err(e) = crate::acl::enforce(shared, client, idx, &args, crate::acl::Site::TopLevel)
        {
            stats.rejected.fetch_add(1, Relaxed);
            return fail(out, crate::commands::multi::rejected(client, cmd, e));
        }
    }
    if let Some(e) = crate::commands::scripting::busy_error(shared, cmd, &args) {
        stats.rejected.fetch_add(1, Relaxed);
        return fail(out, crate::commands::multi::rejected(client, cmd, e));
    }
    if shared.engine.config.maxmemory() > 0
        && shared.engine.evict_until_fits().is_err()
        && cmd.has(flags::DENYOOM)
    {
        stats.rejected.fetch_add(1, Relaxed);
        return fail(out, crate::commands::multi::rejected(client, cmd, OOM));
    }
    if let Some(e) = crate::persist::snapshot::misconf(shared, cmd) {
        stats.rejected.fetch_add(1, Relaxed);
        return fail(out, crate::commands::multi::rejected(client, cmd, e));
    }
    if let Some(e) = crate::replication::write_error(shared, client, cmd) {
        stats.rejected.fetch_add(1, Relaxed);
        return fail(out, crate::commands::multi::rejected(client, cmd, e));
    }
    if client.pushes.is_some() {
        if let Some(e) = crate::pubsub::subscribed_mode_error(client, cmd, &args) {
            stats.rejected.fetch_add(1, Relaxed);
            return fail(out, crate::commands::multi::rejected(client, cmd, e));
        }
    }
    if client.tx.in_multi() {
        match crate::commands::multi::queue(client, idx, cmd, &args) {
            Ok(true) => return Reply::new(out, proto).simple(b"QUEUED"),
            Ok(false) => {}
            Err(e) => {
                stats.rejected.fetch_add(1, Relaxed);
                return fail(out, e);
            }
        }
    }
    // As Redis: admin commands are never shown; scripts feed themselves
    // (before the commands they run), so they are SKIP_MONITOR here.
    if shared.monitor_count.load(Relaxed) > 0
        && !cmd.resolve(&args).has(flags::SKIP_MONITOR | flags::ADMIN)
    {
        crate::monitor::feed(shared, client, &args);
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
    let stats = &shared.commands.stats[idx];
    client.last_cmd = idx;
    // One wall-clock read serves as the command's time and as the start of
    // its duration (Redis does the same with ustime()); in a pipeline it is
    // the previous command's end.
    let start_us = CHAIN.with(|c| match c.get() {
        Some(t) if t > 0 => t,
        _ => unix_micros(),
    });
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
            now_ms: crate::commands::scripting::script_now().unwrap_or(start_us / 1000),
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
    let micros = end_us.saturating_sub(start_us);
    stats.calls.fetch_add(1, Relaxed);
    stats.usec.fetch_add(micros, Relaxed);
    shared.stats.total_commands_processed.fetch_add(1, Relaxed);
    if let Err(e) = result {
        stats.failed.fetch_add(1, Relaxed);
        reply_error(shared, out, proto, e);
    }
    if !cmd.has(flags::SKIP_SLOWLOG) {
        crate::slowlog::record(shared, client, &args, micros);
    }
    shared.admin.command_latency(micros, cmd.has(flags::FAST));
    shared.commands.hist.record(idx, cmd, &args, micros);
}

/// Replies an error and counts it (INFO errorstats).
pub(crate) fn reply_error(
    shared: &Shared,
    out: &mut Vec<u8>,
    proto: larder_resp::Protocol,
    e: CmdError,
) {
    shared.stats.total_error_replies.fetch_add(1, Relaxed);
    shared.admin.count_error(e.as_bytes());
    Reply::new(out, proto).error(e.as_bytes());
}

thread_local! {
    /// While a [`ClockChain`] lives on this thread: when the last command
    /// ended (Unix µs; 0 before the first).
    static CHAIN: Cell<Option<u64>> = const { Cell::new(None) };
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

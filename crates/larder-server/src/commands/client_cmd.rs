//! CLIENT ID / SETNAME / GETNAME / LIST / INFO / KILL / NO-EVICT / REPLY /
//! SETINFO / UNBLOCK / PAUSE / UNPAUSE (state in `pause.rs`) / HELP, over
//! the client registry (`client.rs`); the tracking subcommands are in
//! `client_tracking.rs`.
//!
//! CLIENT LIST prints Redis 7.0's line format. `fd` and Redis's fixed
//! reply-buffer fields (`rbs`, `rbp`, `obl`, `oll`) are reported as 0 or
//! fixed sizes; `qbuf` and `qbuf-free` (the input buffer, which
//! [`resize_buffers`] has idle connections give back, with their reply
//! buffers), `argv-mem`, `multi-mem`, `omem`, `tot-mem`, `age`, `idle`,
//! `db`, `name`, `cmd`, `resp` and the flags are real. CLIENT KILL takes both the old `ip:port` form (OK, or "No such
//! client") and the filter form (ID, ADDR, LADDR, TYPE, USER, SKIPME; replies
//! with the number killed). Killing the calling client closes it after the
//! reply, as Redis does. SETINFO is Redis 7.2's (clients such as redis-rs
//! send it on connect).

use std::sync::atomic::Ordering::Relaxed;

use crate::client::{ClientHandle, ReplyMode};
use crate::command::{flags::*, Command, Ctx};
use crate::commands::client_tracking::{caching, getredir, redirect_of, tracking, trackinginfo};
use crate::commands::connection::valid_client_name;
use crate::commands::server::{cmd, container, reply_help, reply_text};
use crate::error::{subcommand_syntax, truncate_lossy, CmdError, CmdResult, SYNTAX};
use crate::shared::Shared;

const SUB: u32 = NOSCRIPT | LOADING | STALE;
const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub const COMMANDS: &[Command] = &[container("client", "slow", client, SUBCOMMANDS)];

const SUBCOMMANDS: &[Command] = &[
    cmd("client|id", 2, SUB, "slow connection", id),
    cmd("client|setname", 3, SUB, "slow connection", setname),
    cmd("client|getname", 2, SUB, "slow connection", getname),
    cmd(
        "client|list",
        -2,
        ADMIN_SUB,
        "admin slow dangerous connection",
        list,
    ),
    cmd("client|info", 2, SUB, "slow connection", info),
    cmd(
        "client|kill",
        -3,
        ADMIN_SUB,
        "admin slow dangerous connection",
        kill,
    ),
    cmd(
        "client|no-evict",
        3,
        ADMIN_SUB,
        "admin slow dangerous connection",
        no_evict,
    ),
    cmd("client|reply", 3, SUB, "slow connection", reply),
    cmd(
        "client|pause",
        -3,
        ADMIN_SUB,
        "admin slow dangerous connection",
        pause,
    ),
    cmd(
        "client|unpause",
        2,
        ADMIN_SUB,
        "admin slow dangerous connection",
        unpause,
    ),
    cmd(
        "client|unblock",
        -3,
        ADMIN_SUB,
        "admin slow dangerous connection",
        unblock,
    ),
    cmd("client|setinfo", 4, SUB, "slow connection", setinfo),
    cmd("client|tracking", -3, SUB, "slow connection", tracking),
    cmd("client|caching", 3, SUB, "slow connection", caching),
    cmd("client|getredir", 2, SUB, "slow connection", getredir),
    cmd(
        "client|trackinginfo",
        2,
        SUB,
        "slow connection",
        trackinginfo,
    ),
    cmd("client|help", 2, LOADING | STALE, "slow connection", help),
];

fn client(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("client", SUBCOMMANDS)
}

fn id(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

const BAD_NAME: CmdError =
    CmdError::new("ERR Client names cannot contain spaces, newlines or special characters.");

fn setname(ctx: &mut Ctx<'_>) -> CmdResult {
    let name = ctx.arg(2);
    if !valid_client_name(name) {
        return Err(BAD_NAME);
    }
    *ctx.client.handle.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    ctx.out.ok();
    Ok(())
}

fn getname(ctx: &mut Ctx<'_>) -> CmdResult {
    let name = ctx.client.handle.name.lock().clone();
    match name {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// A client's type, as CLIENT LIST / KILL TYPE name them: `pubsub` while
/// it has subscriptions, else `normal` (monitors count as normal, as in
/// Redis; Larder has no replicas).
fn client_type(shared: &Shared, h: &ClientHandle) -> &'static str {
    let repl = &shared.repl;
    if repl.replicas.lock().iter().any(|r| r.client_id == h.id) {
        "replica"
    } else if repl.is_replica() && repl.master_client.load(Relaxed) == h.id {
        "master"
    } else if h.subs.iter().any(|n| n.load(Relaxed) > 0) {
        "pubsub"
    } else {
        "normal"
    }
}

/// Client types as CLIENT LIST / KILL TYPE name them.
fn parse_type(t: &[u8]) -> Result<&'static str, CmdError> {
    let lower = t.to_ascii_lowercase();
    match lower.as_slice() {
        b"normal" => Ok("normal"),
        b"master" => Ok("master"),
        b"replica" | b"slave" => Ok("replica"),
        b"pubsub" => Ok("pubsub"),
        _ => Err(CmdError::owned(format!(
            "ERR Unknown client type '{}'",
            truncate_lossy(t, 128)
        ))),
    }
}

/// The `laddr` / `addr` Redis prints for a Unix socket client: `path:0`.
fn local_addr(h: &ClientHandle) -> String {
    if h.unix {
        format!("{}:0", h.laddr)
    } else {
        h.laddr.clone()
    }
}

/// One CLIENT LIST line. `own` is the calling client's (db, full command
/// name), which its handle only learns after the batch.
pub(crate) fn client_line(shared: &Shared, h: &ClientHandle, own: Option<(usize, &str)>) -> String {
    let name = h
        .name
        .lock()
        .as_ref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let mut flags = String::new();
    if h.monitor.load(Relaxed) {
        flags.push('O');
    }
    match client_type(shared, h) {
        "replica" => flags.push('S'),
        "master" => flags.push('M'),
        "pubsub" => flags.push('P'),
        _ => {}
    }
    if shared.blocking.is_blocked(h.id) || h.paused.load(Relaxed) {
        flags.push('b');
    }
    let tracking = h.tracking.load(Relaxed);
    for (bit, c) in [
        (crate::tracking::ON, 't'),
        (crate::tracking::BROKEN_REDIR, 'R'),
        (crate::tracking::BCAST, 'B'),
    ] {
        if tracking & bit != 0 {
            flags.push(c);
        }
    }
    if h.unix {
        flags.push('U');
    }
    if h.no_evict.load(Relaxed) {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (db, cmd) = match own {
        Some((db, cmd)) => (db, cmd.to_string()),
        None => {
            let i = h.last_cmd.load(Relaxed);
            let cmds = &shared.commands.commands;
            let cmd = cmds.get(i).map_or("NULL", |c| c.name).to_string();
            (h.db.load(Relaxed), cmd)
        }
    };
    format!(
        "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs=1024 rbp=0 obl=0 oll=0 \
         omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}\n",
        h.id,
        h.addr,
        local_addr(h),
        name,
        h.age_secs(),
        h.idle_secs(),
        flags,
        db,
        h.subs[0].load(Relaxed),
        h.subs[1].load(Relaxed),
        h.subs[2].load(Relaxed),
        h.multi.load(Relaxed),
        h.qbuf.load(Relaxed),
        h.qbuf_free.load(Relaxed),
        h.argv_mem.load(Relaxed),
        h.multi_mem.load(Relaxed),
        h.omem(),
        h.tot_mem(),
        cmd,
        h.user
            .lock()
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed("default"), |u| {
                String::from_utf8_lossy(&u.name)
            }),
        redirect_of(h),
        h.resp.load(Relaxed)
    )
}

fn list(ctx: &mut Ctx<'_>) -> CmdResult {
    let mut kind: Option<&str> = None;
    let mut ids: Option<Vec<u64>> = None;
    if ctx.argc() == 4 && ctx.arg_is(2, "type") {
        kind = Some(parse_type(ctx.arg(3))?);
    } else if ctx.argc() >= 4 && ctx.arg_is(2, "id") {
        let mut v = Vec::new();
        for i in 3..ctx.argc() {
            let id = ctx
                .i64_arg(i)
                .map_err(|_| CmdError::new("ERR Invalid client ID"))?;
            v.push(id as u64);
        }
        ids = Some(v);
    } else if ctx.argc() != 2 {
        return Err(SYNTAX);
    }
    // What the list shows has been through client eviction (Redis evicts
    // before any other command runs; here another worker may not have
    // counted its client's newest output yet).
    crate::client_eviction::evict(ctx.shared);
    let own = (ctx.client.db, "client|list");
    let mut text = String::new();
    for h in ctx.shared.clients.all() {
        if kind.is_some_and(|k| k != client_type(ctx.shared, &h)) {
            continue;
        }
        if ids.as_ref().is_some_and(|v| !v.contains(&h.id)) {
            continue;
        }
        let me = (h.id == ctx.client.id).then_some(own);
        text.push_str(&client_line(ctx.shared, &h, me));
    }
    reply_text(ctx, &text);
    Ok(())
}

fn info(ctx: &mut Ctx<'_>) -> CmdResult {
    let h = ctx.client.handle.clone();
    let line = client_line(ctx.shared, &h, Some((ctx.client.db, "client|info")));
    reply_text(ctx, &line);
    Ok(())
}

/// Kills `h`: the calling client closes after its reply, others at once.
fn kill_one(ctx: &mut Ctx<'_>, h: &ClientHandle) {
    if h.id == ctx.client.id {
        ctx.client.after = crate::client::After::Close;
    } else {
        h.kill();
    }
}

fn kill(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() == 3 {
        // Old form: CLIENT KILL ip:port.
        let addr = ctx.arg(2);
        let found = ctx
            .shared
            .clients
            .all()
            .into_iter()
            .find(|h| h.addr.as_bytes() == addr);
        return match found {
            Some(h) => {
                kill_one(ctx, &h);
                ctx.out.ok();
                Ok(())
            }
            None => Err(CmdError::new("ERR No such client")),
        };
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut kind: Option<&str> = None;
    let mut skipme = true;
    let mut user: Option<std::sync::Arc<crate::acl::User>> = None;
    for i in (2..ctx.argc()).step_by(2) {
        // As in Redis, an option without a value is a syntax error where met.
        if i + 1 >= ctx.argc() {
            return Err(SYNTAX);
        }
        let v = ctx.arg(i + 1);
        if ctx.arg_is(i, "id") {
            let n = ctx
                .i64_arg(i + 1)
                .ok()
                .filter(|&n| n > 0)
                .ok_or(CmdError::new("ERR client-id should be greater than 0"))?;
            id = Some(n as u64);
        } else if ctx.arg_is(i, "type") {
            kind = Some(parse_type(v)?);
        } else if ctx.arg_is(i, "addr") {
            addr = Some(v);
        } else if ctx.arg_is(i, "laddr") {
            laddr = Some(v);
        } else if ctx.arg_is(i, "user") {
            match ctx.shared.acl.get(v) {
                Some(u) => user = Some(u),
                None => {
                    return Err(CmdError::owned(format!(
                        "ERR No such user '{}'",
                        truncate_lossy(v, 128)
                    )))
                }
            }
        } else if ctx.arg_is(i, "skipme") {
            skipme = if v.eq_ignore_ascii_case(b"yes") {
                true
            } else if v.eq_ignore_ascii_case(b"no") {
                false
            } else {
                return Err(SYNTAX);
            };
        } else {
            return Err(SYNTAX);
        }
    }
    let mut killed = 0;
    for h in ctx.shared.clients.all() {
        let matches = id.is_none_or(|i| h.id == i)
            && addr.is_none_or(|a| h.addr.as_bytes() == a)
            && laddr.is_none_or(|a| local_addr(&h).as_bytes() == a)
            && kind.is_none_or(|k| k == client_type(ctx.shared, &h))
            && user.as_ref().is_none_or(|u| {
                let theirs = h.user.lock();
                match &*theirs {
                    Some(t) => std::sync::Arc::ptr_eq(t, u),
                    None => std::sync::Arc::ptr_eq(ctx.shared.acl.default_user(), u),
                }
            })
            && !(skipme && h.id == ctx.client.id);
        if matches {
            kill_one(ctx, &h);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

fn on_off(ctx: &Ctx<'_>, i: usize) -> Result<bool, CmdError> {
    if ctx.arg_is(i, "on") {
        Ok(true)
    } else if ctx.arg_is(i, "off") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

fn no_evict(ctx: &mut Ctx<'_>) -> CmdResult {
    let on = on_off(ctx, 2)?;
    ctx.client.handle.no_evict.store(on, Relaxed);
    if !on {
        crate::client_eviction::evict(ctx.shared);
    }
    ctx.out.ok();
    Ok(())
}

fn reply(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.arg_is(2, "skip") {
        // SKIP does nothing while replies are OFF, as in Redis.
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else if on_off(ctx, 2)? {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else {
        ctx.client.reply_mode = ReplyMode::Off;
    }
    Ok(())
}

fn setinfo(ctx: &mut Ctx<'_>) -> CmdResult {
    let v = ctx.arg(3);
    let slot = if ctx.arg_is(2, "lib-name") {
        &ctx.client.handle.lib_name
    } else if ctx.arg_is(2, "lib-ver") {
        &ctx.client.handle.lib_ver
    } else {
        return Err(CmdError::owned(format!(
            "ERR Unrecognized option '{}'",
            truncate_lossy(ctx.arg(2), 128)
        )));
    };
    if !valid_client_name(v) {
        return Err(CmdError::owned(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(ctx.arg(2)).to_ascii_lowercase()
        )));
    }
    *slot.lock() = (!v.is_empty()).then(|| v.to_vec());
    ctx.out.ok();
    Ok(())
}

const HELP: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attributes (LIB-NAME, LIB-VER).",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

fn help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(ctx, "CLIENT", HELP)
}

/// CLIENT PAUSE timeout [WRITE|ALL] (`pause.rs`).
fn pause(ctx: &mut Ctx<'_>) -> CmdResult {
    use crate::pause::Kind;
    if ctx.argc() > 4 {
        return Err(subcommand_syntax(ctx.arg(1), "client"));
    }
    let kind = if ctx.argc() == 3 || ctx.arg_is(3, "all") {
        Kind::All
    } else if ctx.arg_is(3, "write") {
        Kind::Write
    } else {
        return Err(CmdError::new("ERR CLIENT PAUSE mode must be WRITE or ALL"));
    };
    let ms = crate::command::parse_i64(ctx.arg(2)).ok_or(CmdError::new(
        "ERR timeout is not an integer or out of range",
    ))?;
    if ms < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    // Redis adds without an overflow check: a wrapped end is no pause.
    let end = if ms > 0 {
        ms.wrapping_add(ctx.now_ms as i64).max(0) as u64
    } else {
        0
    };
    ctx.shared
        .pause
        .pause(ctx.shared, crate::pause::Purpose::Client, kind, end);
    ctx.out.ok();
    Ok(())
}

fn unpause(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.shared
        .pause
        .unpause(ctx.shared, crate::pause::Purpose::Client);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if the client was blocked on keys.
fn unblock(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 4 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            truncate_lossy(ctx.arg(1), 128)
        )));
    }
    let error = if ctx.argc() == 4 {
        if ctx.arg_is(3, "timeout") {
            false
        } else if ctx.arg_is(3, "error") {
            true
        } else {
            return Err(CmdError::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    } else {
        false
    };
    let id = ctx.i64_arg(2)?;
    let done = u64::try_from(id).is_ok_and(|id| ctx.shared.blocking.unblock(id, error));
    ctx.out.int(i64::from(done));
    Ok(())
}

/// An empty input buffer bigger than this is shrunk (Redis's
/// PROTO_RESIZE_THRESHOLD).
const QUERY_RESIZE: u64 = 32 * 1024;

/// Server cron, once a second: asks each connection whose input buffer is
/// empty to give it back when idle for 2 s or bigger than 32 KB (Redis's
/// clientsCronResizeQueryBuffer), and one idle for 2 s with no reply
/// waiting to bring its reply buffers back to the base size (as Redis's
/// clientsCronResizeOutputBuffer: a big reply does not keep its memory);
/// the connection task does it between reads.
pub fn resize_buffers(shared: &crate::shared::Shared) {
    for h in shared.clients.all() {
        let free = h.qbuf_free.load(Relaxed);
        let idle = h.idle_secs() >= 2;
        let query = h.qbuf.load(Relaxed) == 0 && ((free > 0 && idle) || free > QUERY_RESIZE);
        let replies = idle
            && h.unsent.load(Relaxed) == 0
            && (h.reply_buf.load(Relaxed) > 0 || h.unsent_held.load(Relaxed) > 0);
        if query || replies {
            h.events.raise(crate::signal::SHRINK);
        }
    }
}

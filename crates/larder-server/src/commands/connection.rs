//! Connection commands: PING ECHO SELECT QUIT HELLO AUTH RESET.

use std::sync::atomic::Ordering::Relaxed;

use larder_resp::Protocol;

use crate::client::{After, ReplyMode};
use crate::command::{flags::*, Command, Ctx};
use crate::error::{wrong_arity, CmdError, CmdResult, DB_RANGE, SYNTAX};

pub const COMMANDS: &[Command] = &[
    Command {
        name: "ping",
        arity: -1,
        flags: FAST,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: ping,
        subcommands: &[],
    },
    Command {
        name: "echo",
        arity: 2,
        flags: FAST,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: echo,
        subcommands: &[],
    },
    Command {
        name: "select",
        arity: 2,
        flags: LOADING | STALE | FAST,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: select,
        subcommands: &[],
    },
    Command {
        name: "quit",
        arity: -1,
        flags: ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: quit,
        subcommands: &[],
    },
    Command {
        name: "hello",
        arity: -1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: hello,
        subcommands: &[],
    },
    Command {
        name: "auth",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: auth,
        subcommands: &[],
    },
    Command {
        name: "reset",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: (0, 0, 0),
        acl: "fast connection",
        handler: reset,
        subcommands: &[],
    },
];

/// The Redis version Larder answers as, for clients that gate features on it.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

const WRONGPASS: CmdError =
    CmdError::new("WRONGPASS invalid username-password pair or user is disabled.");

fn ping(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() <= 2 && ctx.client.in_pubsub() && ctx.client.proto == Protocol::Resp2 {
        // Redis answers a subscribed RESP2 client with a pong array.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(if ctx.argc() == 2 { ctx.arg(1) } else { b"" });
        return Ok(());
    }
    match ctx.argc() {
        1 => ctx.out.simple(b"PONG"),
        2 => ctx.out.bulk(ctx.arg(1)),
        _ => return Err(wrong_arity("ping")),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.bulk(ctx.arg(1));
    Ok(())
}

fn select(ctx: &mut Ctx<'_>) -> CmdResult {
    let id = ctx.i32_arg(1)?;
    if id < 0 || id as usize >= ctx.engine().databases() {
        return Err(DB_RANGE);
    }
    ctx.client.db = id as usize;
    ctx.out.ok();
    Ok(())
}

fn quit(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.ok();
    ctx.client.after = After::Close;
    Ok(())
}

/// Authenticates the client as `user` (ACL users; failures go to the ACL log).
fn credentials_ok(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> bool {
    let cmd = ctx.arg(0);
    crate::acl::auth(ctx.shared, ctx.client, user, pass, cmd)
}

fn auth(ctx: &mut Ctx<'_>) -> CmdResult {
    let (user, pass) = match ctx.argc() {
        2 => {
            if ctx.shared.acl.default_nopass() {
                return Err(CmdError::new("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (&b"default"[..], ctx.arg(1))
        }
        3 => (ctx.arg(1), ctx.arg(2)),
        _ => return Err(SYNTAX),
    };
    if credentials_ok(ctx, user, pass) {
        ctx.out.ok();
        Ok(())
    } else {
        Err(WRONGPASS)
    }
}

/// Redis's validateClientName: printable ASCII without spaces.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(ctx: &mut Ctx<'_>) -> CmdResult {
    let mut ver = 0i64;
    let mut next = 1;
    if ctx.argc() >= 2 {
        ver = crate::command::parse_i64(ctx.arg(1)).ok_or(CmdError::new(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        next = 2;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::new("NOPROTO unsupported protocol version"));
        }
    }
    let mut creds = None;
    let mut name = None;
    let mut j = next;
    while j < ctx.argc() {
        let more = ctx.argc() - 1 - j;
        if ctx.arg_is(j, "auth") && more >= 2 {
            creds = Some((ctx.arg(j + 1), ctx.arg(j + 2)));
            j += 3;
        } else if ctx.arg_is(j, "setname") && more >= 1 {
            let n = ctx.arg(j + 1);
            if !valid_client_name(n) {
                return Err(CmdError::new(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            name = Some(n);
            j += 2;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(ctx.arg(j))
            )));
        }
    }
    if let Some((user, pass)) = creds {
        if !credentials_ok(ctx, user, pass) {
            return Err(WRONGPASS);
        }
    }
    if !ctx.client.authenticated && ctx.shared.hot.requirepass.load(Relaxed) {
        return Err(CmdError::new("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        *ctx.client.handle.name.lock() = if n.is_empty() { None } else { Some(n.to_vec()) };
    }
    if ver != 0 {
        let proto = if ver == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        ctx.client.proto = proto;
        ctx.out.proto = proto;
        ctx.client.handle.resp.store(ver as u64, Relaxed);
    }
    let id = ctx.client.id as i64;
    let replica = ctx.shared.repl.is_replica();
    let o = &mut ctx.out;
    o.map(7);
    o.bulk(b"server");
    o.bulk(b"redis");
    o.bulk(b"version");
    o.bulk(REDIS_COMPAT_VERSION.as_bytes());
    o.bulk(b"proto");
    o.int(if ctx.client.proto == Protocol::Resp3 {
        3
    } else {
        2
    });
    o.bulk(b"id");
    o.int(id);
    o.bulk(b"mode");
    o.bulk(b"standalone");
    o.bulk(b"role");
    o.bulk(if replica { &b"replica"[..] } else { b"master" });
    o.bulk(b"modules");
    o.array(0);
    Ok(())
}

fn reset(ctx: &mut Ctx<'_>) -> CmdResult {
    let c = &mut *ctx.client;
    c.db = 0;
    c.proto = Protocol::Resp2;
    ctx.out.proto = Protocol::Resp2;
    c.handle.resp.store(2, Relaxed);
    c.reply_mode = ReplyMode::On;
    *c.handle.name.lock() = None;
    c.handle.no_evict.store(false, Relaxed);
    crate::pubsub::leave_all(ctx.shared, c);
    crate::commands::multi::discard_all(ctx.shared, c);
    ctx.shared.tracking.disable(&ctx.shared.engine, &c.handle);
    c.caching = false;
    crate::acl::reset_user(ctx.shared, c);
    ctx.out.simple(b"RESET");
    Ok(())
}

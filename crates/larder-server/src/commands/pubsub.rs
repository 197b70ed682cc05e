//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE
//! SSUBSCRIBE SUNSUBSCRIBE PUBLISH SPUBLISH PUBSUB, as Redis 7.0's pubsub.c.
//!
//! The registry and the push queues are in `crate::pubsub`. (Un)subscribe
//! confirmations are replies of the command (RESP3 push type `>`), one per
//! channel, each with the client's subscription count after it.

use larder_resp::Reply;

use crate::command::{flags::*, Command, Ctx, Handler};
use crate::commands::server::reply_help;
use crate::error::{truncate_lossy, CmdError, CmdResult};
use crate::pubsub::Kind;

const fn pubsub_cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    acl: &'static str,
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        acl,
        handler,
        subcommands: &[],
    }
}

const SUB_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUB_FLAGS: u32 = PUBSUB | LOADING | STALE | FAST;
const NONE: (i32, i32, i32) = (0, 0, 0);
const ALL_KEYS: (i32, i32, i32) = (1, -1, 1);

pub const COMMANDS: &[Command] = &[
    pubsub_cmd("subscribe", -2, SUB_FLAGS, NONE, "pubsub slow", subscribe),
    pubsub_cmd(
        "unsubscribe",
        -1,
        SUB_FLAGS,
        NONE,
        "pubsub slow",
        unsubscribe,
    ),
    pubsub_cmd("psubscribe", -2, SUB_FLAGS, NONE, "pubsub slow", psubscribe),
    pubsub_cmd(
        "punsubscribe",
        -1,
        SUB_FLAGS,
        NONE,
        "pubsub slow",
        punsubscribe,
    ),
    pubsub_cmd(
        "ssubscribe",
        -2,
        SUB_FLAGS,
        ALL_KEYS,
        "pubsub slow",
        ssubscribe,
    ),
    pubsub_cmd(
        "sunsubscribe",
        -1,
        SUB_FLAGS,
        ALL_KEYS,
        "pubsub slow",
        sunsubscribe,
    ),
    pubsub_cmd("publish", 3, PUB_FLAGS, NONE, "pubsub fast", publish),
    pubsub_cmd("spublish", 3, PUB_FLAGS, (1, 1, 1), "pubsub fast", spublish),
    Command {
        name: "pubsub",
        arity: -2,
        flags: 0,
        keys: NONE,
        acl: "slow",
        handler: pubsub_container,
        subcommands: PUBSUB_SUBCOMMANDS,
    },
];

const INTRO: u32 = PUBSUB | LOADING | STALE;

const PUBSUB_SUBCOMMANDS: &[Command] = &[
    pubsub_cmd("pubsub|channels", -2, INTRO, NONE, "pubsub slow", channels),
    pubsub_cmd("pubsub|numpat", 2, INTRO, NONE, "pubsub slow", numpat),
    pubsub_cmd("pubsub|numsub", -2, INTRO, NONE, "pubsub slow", numsub),
    pubsub_cmd(
        "pubsub|shardchannels",
        -2,
        INTRO,
        NONE,
        "pubsub slow",
        shardchannels,
    ),
    pubsub_cmd(
        "pubsub|shardnumsub",
        -2,
        INTRO,
        NONE,
        "pubsub slow",
        shardnumsub,
    ),
    pubsub_cmd("pubsub|help", 2, LOADING | STALE, NONE, "slow", help),
];

/// `subscribe`, `unsubscribe`, ... as the confirmation's first element.
fn verb(kind: Kind, on: bool) -> &'static [u8] {
    match (kind, on) {
        (Kind::Channel, true) => b"subscribe",
        (Kind::Channel, false) => b"unsubscribe",
        (Kind::Pattern, true) => b"psubscribe",
        (Kind::Pattern, false) => b"punsubscribe",
        (Kind::Shard, true) => b"ssubscribe",
        (Kind::Shard, false) => b"sunsubscribe",
    }
}

fn confirm(out: &mut Reply<'_>, kind: Kind, on: bool, name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(verb(kind, on));
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe_kind(ctx: &mut Ctx<'_>, kind: Kind) -> CmdResult {
    let (shared, id) = (ctx.shared, ctx.client.id);
    let subs = ctx.client.pushes_mut();
    for i in 1..ctx.args.len() {
        let name = ctx.args.get(i).unwrap_or_default();
        subs.subscribe(&shared.pubsub, id, kind, name);
        confirm(&mut ctx.out, kind, true, Some(name), subs.count(kind));
    }
    Ok(())
}

fn unsubscribe_kind(ctx: &mut Ctx<'_>, kind: Kind) -> CmdResult {
    let (shared, id) = (ctx.shared, ctx.client.id);
    let subs = ctx.client.pushes_mut();
    if ctx.args.len() > 1 {
        for i in 1..ctx.args.len() {
            let name = ctx.args.get(i).unwrap_or_default();
            subs.unsubscribe(&shared.pubsub, id, kind, name);
            confirm(&mut ctx.out, kind, false, Some(name), subs.count(kind));
        }
        return Ok(());
    }
    let names = subs.names(kind);
    if names.is_empty() {
        confirm(&mut ctx.out, kind, false, None, subs.count(kind));
    }
    for name in names {
        subs.unsubscribe(&shared.pubsub, id, kind, &name);
        confirm(&mut ctx.out, kind, false, Some(&name), subs.count(kind));
    }
    Ok(())
}

fn subscribe(ctx: &mut Ctx<'_>) -> CmdResult {
    subscribe_kind(ctx, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx<'_>) -> CmdResult {
    subscribe_kind(ctx, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx<'_>) -> CmdResult {
    subscribe_kind(ctx, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx<'_>) -> CmdResult {
    unsubscribe_kind(ctx, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx<'_>) -> CmdResult {
    unsubscribe_kind(ctx, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx<'_>) -> CmdResult {
    unsubscribe_kind(ctx, Kind::Shard)
}

fn publish(ctx: &mut Ctx<'_>) -> CmdResult {
    let n = ctx.shared.pubsub.publish(ctx.arg(1), ctx.arg(2));
    ctx.propagate_to_replicas();
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx<'_>) -> CmdResult {
    let n = ctx.shared.pubsub.spublish(ctx.arg(1), ctx.arg(2));
    ctx.propagate_to_replicas();
    ctx.out.int(n as i64);
    Ok(())
}

fn pubsub_container(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("pubsub", PUBSUB_SUBCOMMANDS)
}

fn list_names(ctx: &mut Ctx<'_>, kind: Kind) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            truncate_lossy(ctx.arg(1), 128)
        )));
    }
    let pattern = (ctx.argc() > 2).then(|| ctx.arg(2));
    let names = ctx.shared.pubsub.names(kind, pattern);
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn count_subscribers(ctx: &mut Ctx<'_>, kind: Kind) -> CmdResult {
    ctx.out.array((ctx.argc() - 2) * 2);
    for i in 2..ctx.argc() {
        let name = ctx.arg(i);
        ctx.out.bulk(name);
        ctx.out.int(ctx.shared.pubsub.count(kind, name) as i64);
    }
    Ok(())
}

fn channels(ctx: &mut Ctx<'_>) -> CmdResult {
    list_names(ctx, Kind::Channel)
}

fn shardchannels(ctx: &mut Ctx<'_>) -> CmdResult {
    list_names(ctx, Kind::Shard)
}

fn numsub(ctx: &mut Ctx<'_>) -> CmdResult {
    count_subscribers(ctx, Kind::Channel)
}

fn shardnumsub(ctx: &mut Ctx<'_>) -> CmdResult {
    count_subscribers(ctx, Kind::Shard)
}

fn numpat(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.int(ctx.shared.pubsub.len(Kind::Pattern) as i64);
    Ok(())
}

const PUBSUB_HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

fn help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(ctx, "PUBSUB", PUBSUB_HELP)
}

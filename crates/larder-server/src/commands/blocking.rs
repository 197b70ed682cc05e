//! Blocking list and sorted-set pops: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP
//! BZPOPMIN BZPOPMAX BZMPOP, with Redis 7.0's t_list.c / t_zset.c argument
//! order and replies. Each pops like its non-blocking twin (whose code it
//! shares) and, finding every key empty, hands the client to
//! [`crate::blocking`], which waits and runs the handler again when a key
//! is ready.

use larder_engine::types::list::{End, List};
use larder_engine::types::zset::ZSet;
use larder_engine::{events, Key};

use crate::blocking::{block, timeout_arg};
use crate::command::{flags::*, Command, Ctx};
use crate::commands::coll::{cmd, end_arg};
use crate::commands::{lists, zsets};
use crate::error::{CmdResult, WRONGTYPE};

const BLOCK: u32 = WRITE | BLOCKING | NOSCRIPT;
/// BLMPOP and BZMPOP may run in scripts (where they do not block).
const MBLOCK: u32 = WRITE | BLOCKING;

pub const COMMANDS: &[Command] = &[
    cmd(
        "blpop",
        -3,
        BLOCK,
        (1, -2, 1),
        "write list slow blocking",
        blpop,
    ),
    cmd(
        "brpop",
        -3,
        BLOCK,
        (1, -2, 1),
        "write list slow blocking",
        brpop,
    ),
    cmd(
        "blmove",
        6,
        BLOCK | DENYOOM,
        (1, 2, 1),
        "write list slow blocking",
        blmove,
    ),
    cmd(
        "brpoplpush",
        4,
        BLOCK | DENYOOM,
        (1, 2, 1),
        "write list slow blocking",
        brpoplpush,
    ),
    cmd(
        "blmpop",
        -5,
        BLOCK,
        (0, 0, 0),
        "write list slow blocking",
        blmpop,
    ),
    cmd(
        "bzpopmin",
        -3,
        BLOCK | FAST,
        (1, -2, 1),
        "write sortedset fast blocking",
        bzpopmin,
    ),
    cmd(
        "bzpopmax",
        -3,
        BLOCK | FAST,
        (1, -2, 1),
        "write sortedset fast blocking",
        bzpopmax,
    ),
    cmd(
        "bzmpop",
        -5,
        MBLOCK,
        (0, 0, 0),
        "write sortedset slow blocking",
        bzmpop,
    ),
];

/// BLPOP/BRPOP key [key ...] timeout: [key, element] from the first
/// non-empty list.
fn bpop(ctx: &mut Ctx<'_>, end: End) -> CmdResult {
    let last = ctx.argc() - 1;
    let timeout = timeout_arg(ctx, last)?;
    let keys: Vec<Key<'_>> = (1..last).map(|i| ctx.key(i)).collect();
    let mut txn = ctx.lock_keys(&keys);
    for key in &keys {
        let Some(list) = txn.write_obj::<List>(key)? else {
            continue;
        };
        let Some(v) = list.pop(end) else { continue };
        ctx.out.array(2);
        ctx.out.bulk(key.bytes);
        ctx.out.bulk(&v);
        ctx.notify(events::LIST, lists::pop_event(end), key.bytes);
        ctx.propagate_as([lists::pop_name(end), key.bytes]);
        txn.touch_dirty(key);
        txn.remove_if_empty(key);
        return Ok(());
    }
    drop(txn);
    block(ctx, 1..last, Some(timeout), |out| out.null_array());
    Ok(())
}

fn blpop(ctx: &mut Ctx<'_>) -> CmdResult {
    bpop(ctx, End::Head)
}

fn brpop(ctx: &mut Ctx<'_>) -> CmdResult {
    bpop(ctx, End::Tail)
}

/// BLMOVE/BRPOPLPUSH: LMOVE, or block on the source.
fn bmove(ctx: &mut Ctx<'_>, from: End, to: End, timeout_at: usize) -> CmdResult {
    let timeout = timeout_arg(ctx, timeout_at)?;
    match lists::move_generic(ctx, from, to) {
        Ok(true) => {}
        Ok(false) => block(ctx, 1..2, Some(timeout), |out| out.null()),
        // A WRONGTYPE with a source list is the destination's: replied
        // here, as a woken client's retry keeps waiting on a WRONGTYPE
        // (meant for a source whose type changed) but Redis answers this one.
        Err(e) if e.as_bytes() == WRONGTYPE.as_bytes() && source_is_list(ctx) => {
            crate::dispatch::reply_error(ctx.shared, ctx.out.out, ctx.out.proto, e);
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

fn source_is_list(ctx: &Ctx<'_>) -> bool {
    let src = ctx.key(1);
    let mut txn = ctx.lock(&src);
    txn.write_obj::<List>(&src).is_ok_and(|l| l.is_some())
}

fn blmove(ctx: &mut Ctx<'_>) -> CmdResult {
    let from = end_arg(ctx, 3)?;
    let to = end_arg(ctx, 4)?;
    bmove(ctx, from, to, 5)
}

fn brpoplpush(ctx: &mut Ctx<'_>) -> CmdResult {
    bmove(ctx, End::Tail, End::Head, 3)
}

fn blmpop(ctx: &mut Ctx<'_>) -> CmdResult {
    lists::lmpop_generic(ctx, 2)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout: [key, member, score] from the
/// first non-empty sorted set.
fn bzpop(ctx: &mut Ctx<'_>, max: bool) -> CmdResult {
    let last = ctx.argc() - 1;
    let timeout = timeout_arg(ctx, last)?;
    let keys: Vec<Key<'_>> = (1..last).map(|i| ctx.key(i)).collect();
    let mut txn = ctx.lock_keys(&keys);
    for key in &keys {
        let Some(z) = txn.write_obj::<ZSet>(key)?.filter(|z| !z.is_empty()) else {
            continue;
        };
        ctx.out.array(3);
        ctx.out.bulk(key.bytes);
        zsets::pop_into(&mut ctx.out, z, max, 1, false);
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        ctx.propagate_as([name, key.bytes]);
        ctx.notify(events::ZSET, zsets::pop_event(max), key.bytes);
        txn.touch_dirty(key);
        txn.remove_if_empty(key);
        return Ok(());
    }
    drop(txn);
    block(ctx, 1..last, Some(timeout), |out| out.null_array());
    Ok(())
}

fn bzpopmin(ctx: &mut Ctx<'_>) -> CmdResult {
    bzpop(ctx, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>) -> CmdResult {
    bzpop(ctx, true)
}

fn bzmpop(ctx: &mut Ctx<'_>) -> CmdResult {
    zsets::zmpop_generic(ctx, 2)
}

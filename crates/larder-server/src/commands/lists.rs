//! List commands, with Redis 7.0's `t_list.c` semantics: LPUSH RPUSH LPUSHX
//! RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE
//! RPOPLPUSH LMPOP.
//!
//! Every handler parses its arguments in Redis's order (some before the key
//! lookup, some after, which decides which error a bad call gets), locks its
//! key's shard once (LMOVE, RPOPLPUSH and LMPOP lock all their keys together,
//! so a move is atomic) and works on the list in place. A list emptied by a
//! pop, LREM or LTRIM is deleted, as in Redis. The list itself is a deque of
//! packed nodes (`larder_engine::types::list`); Redis 7.0 calls every list
//! `quicklist`.

use larder_engine::types::list::{End, List};
use larder_engine::{events, Key, Lookup};

use crate::command::{flags::*, Command, Ctx};
use crate::commands::coll::{cmd, end_arg, limits, mpop_args, pop_count_arg};
use crate::error::{wrong_arity, CmdError, CmdResult, NO_SUCH_KEY, SYNTAX};

const ONE: (i32, i32, i32) = (1, 1, 1);

pub const COMMANDS: &[Command] = &[
    cmd(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        "write list fast",
        lpush,
    ),
    cmd(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        "write list fast",
        rpush,
    ),
    cmd(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        "write list fast",
        lpushx,
    ),
    cmd(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        "write list fast",
        rpushx,
    ),
    cmd("lpop", -2, WRITE | FAST, ONE, "write list fast", lpop),
    cmd("rpop", -2, WRITE | FAST, ONE, "write list fast", rpop),
    cmd("llen", 2, READONLY | FAST, ONE, "read list fast", llen),
    cmd("lrange", 4, READONLY, ONE, "read list slow", lrange),
    cmd("lindex", 3, READONLY, ONE, "read list slow", lindex),
    cmd("lset", 4, WRITE | DENYOOM, ONE, "write list slow", lset),
    cmd(
        "linsert",
        5,
        WRITE | DENYOOM,
        ONE,
        "write list slow",
        linsert,
    ),
    cmd("lrem", 4, WRITE, ONE, "write list slow", lrem),
    cmd("ltrim", 4, WRITE, ONE, "write list slow", ltrim),
    cmd("lpos", -3, READONLY, ONE, "read list slow", lpos),
    cmd(
        "lmove",
        5,
        WRITE | DENYOOM,
        (1, 2, 1),
        "write list slow",
        lmove,
    ),
    cmd(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        (1, 2, 1),
        "write list slow",
        rpoplpush,
    ),
    cmd("lmpop", -4, WRITE, (0, 0, 0), "write list slow", lmpop),
];

// ---------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------

/// pushGenericCommand: `xx` = LPUSHX/RPUSHX (only onto an existing list).
fn push_generic(ctx: &mut Ctx<'_>, end: End, xx: bool) -> CmdResult {
    let key = ctx.key(1);
    let fill = limits(ctx).list_max_listpack_size;
    let mut txn = ctx.lock(&key);
    let list = if xx {
        match txn.write_obj::<List>(&key)? {
            Some(l) => l,
            None => {
                ctx.out.int(0);
                return Ok(());
            }
        }
    } else {
        txn.write_obj_or_insert(&key, List::new)?
    };
    for i in 2..ctx.argc() {
        list.push(end, ctx.arg(i), fill);
    }
    let len = list.len();
    txn.touch_dirty(&key);
    ctx.notify(events::LIST, push_event(end), key.bytes);
    drop(txn);
    ctx.out.int(len as i64);
    Ok(())
}

/// The keyspace event of a push or pop at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

pub(crate) fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

fn lpush(ctx: &mut Ctx<'_>) -> CmdResult {
    push_generic(ctx, End::Head, false)
}

fn rpush(ctx: &mut Ctx<'_>) -> CmdResult {
    push_generic(ctx, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx<'_>) -> CmdResult {
    push_generic(ctx, End::Head, true)
}

fn rpushx(ctx: &mut Ctx<'_>) -> CmdResult {
    push_generic(ctx, End::Tail, true)
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

/// Pops up to `count` elements from `key`'s list (known to exist) and
/// replies with them as an array; deletes the list if emptied.
pub(crate) fn pop_into_reply(ctx: &mut Ctx<'_>, list: &mut List, end: End, count: usize) {
    let n = count.min(list.len());
    ctx.out.array(n);
    for _ in 0..n {
        list.pop_with(end, |v| ctx.out.bulk(v));
    }
}

/// popGenericCommand: LPOP/RPOP key [count].
fn pop_generic(ctx: &mut Ctx<'_>, end: End) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(wrong_arity(if end == End::Head { "lpop" } else { "rpop" }));
    }
    let count = pop_count_arg(ctx)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(list) = txn.write_obj::<List>(&key)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    match count {
        Some(0) => {
            ctx.out.array(0);
            return Ok(());
        }
        Some(n) => pop_into_reply(ctx, list, end, n),
        None => {
            if list.pop_with(end, |v| ctx.out.bulk(v)).is_none() {
                ctx.out.null();
            }
        }
    }
    ctx.notify(events::LIST, pop_event(end), key.bytes);
    txn.touch_dirty(&key);
    txn.remove_if_empty(&key);
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_>) -> CmdResult {
    pop_generic(ctx, End::Head)
}

fn rpop(ctx: &mut Ctx<'_>) -> CmdResult {
    pop_generic(ctx, End::Tail)
}

// ---------------------------------------------------------------------------
// Reads: LLEN LRANGE LINDEX LPOS
// ---------------------------------------------------------------------------

fn llen(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn
        .read_obj::<List>(&key, Lookup::Read)?
        .map_or(0, List::len);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

/// Redis's start/end normalisation for LRANGE and LTRIM: `None` when the
/// range is empty, else `(start, end)` within `0..len`.
fn norm_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn lrange(ctx: &mut Ctx<'_>) -> CmdResult {
    let start = ctx.i64_arg(2)?;
    let end = ctx.i64_arg(3)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(list) = txn.read_obj::<List>(&key, Lookup::Read)? else {
        ctx.out.array(0);
        return Ok(());
    };
    match norm_range(start, end, list.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            list.range(s, e, |v| ctx.out.bulk(v));
        }
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(list) = txn.read_obj::<List>(&key, Lookup::Read)? else {
        ctx.out.null();
        return Ok(());
    };
    let i = ctx.i64_arg(2)?;
    match list.index(i) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mut rank, mut count, mut maxlen): (i64, Option<i64>, i64) = (1, None, 0);
    let mut j = 3;
    while j < ctx.argc() {
        let more = j + 1 < ctx.argc();
        if ctx.arg_is(j, "rank") && more {
            rank = ctx.i64_arg(j + 1)?;
            if rank == 0 {
                return Err(CmdError::new(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if ctx.arg_is(j, "count") && more {
            let c = ctx.i64_arg(j + 1)?;
            if c < 0 {
                return Err(CmdError::new("ERR COUNT can't be negative"));
            }
            count = Some(c);
        } else if ctx.arg_is(j, "maxlen") && more {
            maxlen = ctx.i64_arg(j + 1)?;
            if maxlen < 0 {
                return Err(CmdError::new("ERR MAXLEN can't be negative"));
            }
        } else {
            return Err(SYNTAX);
        }
        j += 2;
    }
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(list) = txn.read_obj::<List>(&key, Lookup::Read)? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    // A negative rank searches from the tail (Redis negates it; i64::MIN
    // stays negative there, so every match qualifies: mirrored here).
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let elem = ctx.arg(2);
    let len = list.len();
    let want = count.map_or(1, |c| if c == 0 { i64::MAX } else { c });
    let mut found: Vec<usize> = Vec::new();
    let mut matches: i64 = 0;
    let mut scan = |i: usize, v: &[u8]| -> bool {
        if maxlen != 0 && i as i64 >= maxlen {
            return false;
        }
        if v == elem {
            matches += 1;
            if matches >= rank {
                found.push(if from_tail { len - 1 - i } else { i });
                if found.len() as i64 >= want {
                    return false;
                }
            }
        }
        true
    };
    if from_tail {
        for (i, v) in list.iter_rev().enumerate() {
            if !scan(i, v) {
                break;
            }
        }
    } else {
        for (i, v) in list.iter().enumerate() {
            if !scan(i, v) {
                break;
            }
        }
    }
    drop(txn);
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for i in found {
                ctx.out.int(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => ctx.out.int(i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// In-place writes: LSET LINSERT LREM LTRIM
// ---------------------------------------------------------------------------

fn lset(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let fill = limits(ctx).list_max_listpack_size;
    let mut txn = ctx.lock(&key);
    let list = txn.write_obj::<List>(&key)?.ok_or(NO_SUCH_KEY)?;
    let i = ctx.i64_arg(2)?;
    if !list.set(i, ctx.arg(3), fill) {
        return Err(CmdError::new("ERR index out of range"));
    }
    txn.touch_dirty(&key);
    ctx.notify(events::LIST, "lset", key.bytes);
    drop(txn);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx<'_>) -> CmdResult {
    let after = if ctx.arg_is(2, "after") {
        true
    } else if ctx.arg_is(2, "before") {
        false
    } else {
        return Err(SYNTAX);
    };
    let key = ctx.key(1);
    let fill = limits(ctx).list_max_listpack_size;
    let mut txn = ctx.lock(&key);
    let Some(list) = txn.write_obj::<List>(&key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !list.insert(ctx.arg(3), after, ctx.arg(4), fill) {
        ctx.out.int(-1);
        return Ok(());
    }
    let len = list.len();
    txn.touch_dirty(&key);
    ctx.notify(events::LIST, "linsert", key.bytes);
    drop(txn);
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx<'_>) -> CmdResult {
    let count = ctx.i64_arg(2)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(list) = txn.write_obj::<List>(&key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let from = if count < 0 { End::Tail } else { End::Head };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove(ctx.arg(3), limit, from);
    if removed > 0 {
        txn.touch_dirty(&key);
        ctx.notify(events::LIST, "lrem", key.bytes);
        txn.remove_if_empty(&key);
    }
    drop(txn);
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_>) -> CmdResult {
    let start = ctx.i64_arg(2)?;
    let end = ctx.i64_arg(3)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    if let Some(list) = txn.write_obj::<List>(&key)? {
        match norm_range(start, end, list.len()) {
            Some((s, e)) => list.trim(s, e),
            None => list.trim(1, 0),
        }
        txn.touch_dirty(&key);
        ctx.notify(events::LIST, "ltrim", key.bytes);
        txn.remove_if_empty(&key);
    }
    drop(txn);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// Moves: LMOVE RPOPLPUSH LMPOP
// ---------------------------------------------------------------------------

/// The non-blocking pop of an end, as blocking pops propagate.
pub(crate) fn pop_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    }
}

/// lmoveGenericCommand: pops from `src`'s `from` end, pushes onto `dst`'s
/// `to` end (creating it), replies with the element. With nothing to move
/// it replies nothing and returns false (LMOVE then replies nil, BLMOVE blocks).
pub(crate) fn move_generic(ctx: &mut Ctx<'_>, from: End, to: End) -> Result<bool, CmdError> {
    let (src, dst) = (ctx.key(1), ctx.key(2));
    let fill = limits(ctx).list_max_listpack_size;
    let mut txn = ctx.lock_keys(&[src, dst]);
    if txn.write_obj::<List>(&src)?.is_none_or(|l| l.is_empty()) {
        return Ok(false);
    }
    // The destination's type is checked before anything moves.
    txn.write_obj::<List>(&dst)?;
    let Some(v) = txn.write_obj::<List>(&src)?.and_then(|l| l.pop(from)) else {
        return Ok(false);
    };
    txn.write_obj_or_insert(&dst, List::new)?.push(to, &v, fill);
    // The blocking forms propagate as their non-blocking twins.
    if ctx.arg_is(0, "blmove") {
        ctx.propagate_as([&b"LMOVE"[..], src.bytes, dst.bytes, ctx.arg(3), ctx.arg(4)]);
    } else if ctx.arg_is(0, "brpoplpush") {
        ctx.propagate_as([&b"RPOPLPUSH"[..], src.bytes, dst.bytes]);
    }
    ctx.notify(events::LIST, push_event(to), dst.bytes);
    ctx.notify(events::LIST, pop_event(from), src.bytes);
    txn.touch(&dst);
    txn.touch_dirty(&src);
    txn.remove_if_empty(&src);
    drop(txn);
    ctx.out.bulk(&v);
    Ok(true)
}

fn lmove(ctx: &mut Ctx<'_>) -> CmdResult {
    let from = end_arg(ctx, 3)?;
    let to = end_arg(ctx, 4)?;
    if !move_generic(ctx, from, to)? {
        ctx.out.null();
    }
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx<'_>) -> CmdResult {
    if !move_generic(ctx, End::Tail, End::Head)? {
        ctx.out.null();
    }
    Ok(())
}

fn lmpop(ctx: &mut Ctx<'_>) -> CmdResult {
    lmpop_generic(ctx, 1)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count], with `numkeys` at
/// argument `nk`; BLMPOP (`nk` = 2, its timeout at 1) blocks when every list
/// is empty.
pub(crate) fn lmpop_generic(ctx: &mut Ctx<'_>, nk: usize) -> CmdResult {
    let (end, where_idx, count) = mpop_args(ctx, nk, end_arg)?;
    let count = count.unwrap_or(1);
    let timeout = crate::blocking::timeout_if_blocking(ctx, nk)?;
    let keys: Vec<Key<'_>> = (nk + 1..where_idx).map(|i| ctx.key(i)).collect();
    let mut txn = ctx.lock_keys(&keys);
    for key in &keys {
        let Some(list) = txn.write_obj::<List>(key)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        // As Redis 7.0: propagated with the count actually popped.
        let popped = count.min(list.len());
        ctx.out.array(2);
        ctx.out.bulk(key.bytes);
        pop_into_reply(ctx, list, end, count);
        let mut b = itoa::Buffer::new();
        ctx.propagate_as([pop_name(end), key.bytes, b.format(popped).as_bytes()]);
        ctx.notify(events::LIST, pop_event(end), key.bytes);
        txn.touch_dirty(key);
        txn.remove_if_empty(key);
        return Ok(());
    }
    drop(txn);
    crate::blocking::block(ctx, nk + 1..where_idx, timeout, |out| out.null_array());
    Ok(())
}

//! Hash commands, with Redis 7.0's `t_hash.c` semantics: HSET HSETNX HGET
//! HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL HINCRBY
//! HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! A hash is `listpack` (fields and values packed in insertion order) until
//! it passes `hash-max-listpack-entries` fields or is given a field or value
//! longer than `hash-max-listpack-value`; then `hashtable`
//! (`larder_engine::types::hash`). HSET/HMSET/HSETNX check every argument's
//! length before writing, as `hashTypeTryConversion` does, so the encoding
//! changes at exactly Redis's points. HINCRBYFLOAT computes in an emulated
//! x87 `long double` and prints like Redis (`longdouble.rs`). A hash emptied
//! by HDEL is deleted.

use larder_engine::types::hash::Hash;
use larder_engine::{events, Lookup};

use crate::command::{flags::*, parse_i64, Command, Ctx};
use crate::commands::coll::{
    cmd, empty_scan, limits, rand_count_arg, scan_cursor, scan_reply, ScanOpts,
};
use crate::commands::keys::KeyList;
use crate::error::{wrong_arity, CmdError, CmdResult, NOT_FLOAT, OVERFLOW, SYNTAX};
use crate::longdouble::LongDouble;

const ONE: (i32, i32, i32) = (1, 1, 1);

pub const COMMANDS: &[Command] = &[
    cmd(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write hash fast",
        hset,
    ),
    cmd(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write hash fast",
        hmset,
    ),
    cmd(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write hash fast",
        hsetnx,
    ),
    cmd("hget", 3, READONLY | FAST, ONE, "read hash fast", hget),
    cmd("hmget", -3, READONLY | FAST, ONE, "read hash fast", hmget),
    cmd("hdel", -3, WRITE | FAST, ONE, "write hash fast", hdel),
    cmd("hlen", 2, READONLY | FAST, ONE, "read hash fast", hlen),
    cmd(
        "hstrlen",
        3,
        READONLY | FAST,
        ONE,
        "read hash fast",
        hstrlen,
    ),
    cmd(
        "hexists",
        3,
        READONLY | FAST,
        ONE,
        "read hash fast",
        hexists,
    ),
    cmd("hkeys", 2, READONLY, ONE, "read hash slow", hkeys),
    cmd("hvals", 2, READONLY, ONE, "read hash slow", hvals),
    cmd("hgetall", 2, READONLY, ONE, "read hash slow", hgetall),
    cmd(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write hash fast",
        hincrby,
    ),
    cmd(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write hash fast",
        hincrbyfloat,
    ),
    cmd(
        "hrandfield",
        -2,
        READONLY,
        ONE,
        "read hash slow",
        hrandfield,
    ),
    cmd("hscan", -3, READONLY, ONE, "read hash slow", hscan),
];

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// HSET and HMSET: `key field value [field value ...]`; returns the number
/// of new fields.
fn hset_generic(ctx: &mut Ctx<'_>, name: &str) -> Result<usize, CmdError> {
    if ctx.argc() % 2 == 1 {
        return Err(wrong_arity(name));
    }
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let h = txn.write_obj_or_insert(&key, Hash::new)?;
    let longest = (2..ctx.argc()).map(|i| ctx.arg(i).len()).max().unwrap_or(0);
    h.convert_for_len(longest, &lim);
    let mut created = 0;
    for i in (2..ctx.argc()).step_by(2) {
        created += usize::from(h.set(ctx.arg(i), ctx.arg(i + 1), &lim));
    }
    txn.touch_dirty(&key);
    ctx.notify(events::HASH, "hset", key.bytes);
    Ok(created)
}

fn hset(ctx: &mut Ctx<'_>) -> CmdResult {
    let n = hset_generic(ctx, "hset")?;
    ctx.out.int(n as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx<'_>) -> CmdResult {
    hset_generic(ctx, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let h = txn.write_obj_or_insert(&key, Hash::new)?;
    let (field, value) = (ctx.arg(2), ctx.arg(3));
    if h.contains(field) {
        ctx.out.int(0);
        return Ok(());
    }
    h.convert_for_len(field.len().max(value.len()), &lim);
    h.set(field, value, &lim);
    txn.touch_dirty(&key);
    ctx.notify(events::HASH, "hset", key.bytes);
    drop(txn);
    ctx.out.int(1);
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let mut deleted = 0;
    if let Some(h) = txn.write_obj::<Hash>(&key)? {
        for i in 2..ctx.argc() {
            if h.remove(ctx.arg(i)) {
                deleted += 1;
                if h.is_empty() {
                    break;
                }
            }
        }
        if deleted > 0 {
            txn.touch_dirty(&key);
            ctx.notify(events::HASH, "hdel", key.bytes);
            txn.remove_if_empty(&key);
        }
    }
    drop(txn);
    ctx.out.int(deleted);
    Ok(())
}

fn hincrby(ctx: &mut Ctx<'_>) -> CmdResult {
    let by = ctx.i64_arg(3)?;
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let h = txn.write_obj_or_insert(&key, Hash::new)?;
    let field = ctx.arg(2);
    let cur = match h.get(field) {
        Some(v) => parse_i64(v).ok_or(CmdError::new("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = cur.checked_add(by).ok_or(OVERFLOW)?;
    h.set(field, itoa::Buffer::new().format(new).as_bytes(), &lim);
    txn.touch_dirty(&key);
    ctx.notify(events::HASH, "hincrby", key.bytes);
    drop(txn);
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_>) -> CmdResult {
    let by = LongDouble::parse(ctx.arg(3)).ok_or(NOT_FLOAT)?;
    if by.is_infinite() {
        return Err(CmdError::new("ERR value is NaN or Infinity"));
    }
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let h = txn.write_obj_or_insert(&key, Hash::new)?;
    let field = ctx.arg(2);
    let cur = match h.get(field) {
        Some(v) => LongDouble::parse(v).ok_or(CmdError::new("ERR hash value is not a float"))?,
        None => LongDouble::ZERO,
    };
    let sum = cur
        .checked_add(by)
        .ok_or(CmdError::new("ERR increment would produce NaN or Infinity"))?;
    let mut text = Vec::with_capacity(32);
    sum.fmt_human(&mut text);
    h.set(field, &text, &lim);
    ctx.propagate_as([&b"HSET"[..], key.bytes, field, &text]);
    txn.touch_dirty(&key);
    ctx.notify(events::HASH, "hincrbyfloat", key.bytes);
    drop(txn);
    ctx.out.bulk(&text);
    Ok(())
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

fn hget(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    match txn
        .read_obj::<Hash>(&key, Lookup::Read)?
        .and_then(|h| h.get(ctx.arg(2)))
    {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let h = txn.read_obj::<Hash>(&key, Lookup::Read)?;
    ctx.out.array(ctx.argc() - 2);
    for i in 2..ctx.argc() {
        match h.and_then(|h| h.get(ctx.arg(i))) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hlen(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn
        .read_obj::<Hash>(&key, Lookup::Read)?
        .map_or(0, Hash::len);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn
        .read_obj::<Hash>(&key, Lookup::Read)?
        .and_then(|h| h.get(ctx.arg(2)))
        .map_or(0, <[u8]>::len);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let found = txn
        .read_obj::<Hash>(&key, Lookup::Read)?
        .is_some_and(|h| h.contains(ctx.arg(2)));
    drop(txn);
    ctx.out.int(i64::from(found));
    Ok(())
}

/// Which halves of each pair HKEYS / HVALS / HGETALL reply with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Keys,
    Values,
    Both,
}

fn getall_generic(ctx: &mut Ctx<'_>, parts: Parts) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let h = txn.read_obj::<Hash>(&key, Lookup::Read)?;
    let n = h.map_or(0, Hash::len);
    match parts {
        Parts::Both => ctx.out.map(n),
        _ => ctx.out.array(n),
    }
    for (f, v) in h.iter().flat_map(|h| h.pairs()) {
        if parts != Parts::Values {
            ctx.out.bulk(f);
        }
        if parts != Parts::Keys {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_>) -> CmdResult {
    getall_generic(ctx, Parts::Keys)
}

fn hvals(ctx: &mut Ctx<'_>) -> CmdResult {
    getall_generic(ctx, Parts::Values)
}

fn hgetall(ctx: &mut Ctx<'_>) -> CmdResult {
    getall_generic(ctx, Parts::Both)
}

/// HRANDFIELD key [count [WITHVALUES]] (Redis's hrandfieldWithCountCommand:
/// a negative count may repeat fields; a positive one returns distinct
/// fields, all of them when it reaches the size).
fn hrandfield(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    if ctx.argc() == 2 {
        let mut txn = ctx.lock(&key);
        match txn
            .read_obj::<Hash>(&key, Lookup::Read)?
            .and_then(Hash::random)
        {
            Some((f, _)) => ctx.out.bulk(f),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let count = rand_count_arg(ctx)?;
    let withvalues = match ctx.argc() {
        3 => false,
        4 if ctx.arg_is(3, "withvalues") => true,
        _ => return Err(SYNTAX),
    };
    if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::new("ERR value is out of range"));
    }
    let mut txn = ctx.lock(&key);
    let Some(h) = txn.read_obj::<Hash>(&key, Lookup::Read)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let resp3 = ctx.out.proto == larder_resp::Protocol::Resp3;
    let per = if withvalues && !resp3 { 2 } else { 1 };
    let emit = |out: &mut larder_resp::Reply<'_>, f: &[u8], v: &[u8]| {
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    };
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        ctx.out.array(n * per);
        for _ in 0..n {
            if ctx.reply_over_limit() {
                break;
            }
            if let Some((f, v)) = h.random() {
                emit(&mut ctx.out, f, v);
            }
        }
        return Ok(());
    }
    let count = count as usize;
    if count >= h.len() {
        ctx.out.array(h.len() * per);
        h.pairs().for_each(|(f, v)| emit(&mut ctx.out, f, v));
        return Ok(());
    }
    // Distinct fields: pick `count` of the pairs' indexes (partial shuffle).
    let mut pairs: Vec<(&[u8], &[u8])> = h.pairs().collect();
    for i in 0..count {
        let j = i + (larder_engine::rng::next() % (pairs.len() - i) as u64) as usize;
        pairs.swap(i, j);
    }
    ctx.out.array(count * per);
    for (f, v) in &pairs[..count] {
        emit(&mut ctx.out, f, v);
    }
    Ok(())
}

fn hscan(ctx: &mut Ctx<'_>) -> CmdResult {
    let cursor = scan_cursor(ctx)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(h) = txn.read_obj::<Hash>(&key, Lookup::Read)? else {
        empty_scan(ctx);
        return Ok(());
    };
    let opts = ScanOpts::parse(ctx)?;
    let mut items = KeyList::new();
    let next = h.scan(cursor, opts.count, |f, v| {
        if opts.matches(f) {
            items.push(f);
            items.push(v);
        }
    });
    drop(txn);
    scan_reply(ctx, next, &items);
    Ok(())
}

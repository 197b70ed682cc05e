//! Set commands, with Redis 7.0's `t_set.c` semantics: SADD SREM SCARD
//! SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER SMOVE SINTER SINTERCARD
//! SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.
//!
//! A set is an `intset` while all its members are integers and there are at
//! most `set-max-intset-entries`, else a `hashtable`
//! (`larder_engine::types::set`). Multi-key commands look every key up
//! first (so a WRONGTYPE anywhere is reported even when an earlier key is
//! missing, as in Redis), then hold shared views of all the sets at once
//! (`Txn::obj_ref`). Results that Redis builds as a new set (SUNION, SDIFF,
//! the *STORE commands, SPOP's "rebuild" strategy) are built the same way
//! here, so the stored encoding is the one Redis picks. Replies that Redis
//! sends as RESP3 sets (SMEMBERS, SINTER, SUNION, SDIFF, SPOP with a count)
//! are sets here too; SRANDMEMBER's is an array.

use larder_engine::types::set::Set;
use larder_engine::{events, Key, Lookup, Txn};
use larder_resp::Reply;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::coll::{
    cmd, empty_scan, limits, pop_count_arg, rand_count_arg, ranged_arg, scan_cursor, scan_reply,
    ScanOpts,
};
use crate::commands::keys::KeyList;
use crate::error::{CmdError, CmdResult, SYNTAX};

const ONE: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);

pub const COMMANDS: &[Command] = &[
    cmd(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        "write set fast",
        sadd,
    ),
    cmd("srem", -3, WRITE | FAST, ONE, "write set fast", srem),
    cmd("scard", 2, READONLY | FAST, ONE, "read set fast", scard),
    cmd(
        "sismember",
        3,
        READONLY | FAST,
        ONE,
        "read set fast",
        sismember,
    ),
    cmd(
        "smismember",
        -3,
        READONLY | FAST,
        ONE,
        "read set fast",
        smismember,
    ),
    cmd("smembers", 2, READONLY, ONE, "read set slow", smembers),
    cmd("spop", -2, WRITE | FAST, ONE, "write set fast", spop),
    cmd(
        "srandmember",
        -2,
        READONLY,
        ONE,
        "read set slow",
        srandmember,
    ),
    cmd("smove", 4, WRITE | FAST, (1, 2, 1), "write set fast", smove),
    cmd("sinter", -2, READONLY, ALL, "read set slow", sinter),
    cmd(
        "sintercard",
        -3,
        READONLY,
        (0, 0, 0),
        "read set slow",
        sintercard,
    ),
    cmd(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        ALL,
        "write set slow",
        sinterstore,
    ),
    cmd("sunion", -2, READONLY, ALL, "read set slow", sunion),
    cmd(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        ALL,
        "write set slow",
        sunionstore,
    ),
    cmd("sdiff", -2, READONLY, ALL, "read set slow", sdiff),
    cmd(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        ALL,
        "write set slow",
        sdiffstore,
    ),
    cmd("sscan", -3, READONLY, ONE, "read set slow", sscan),
];

// ---------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------

fn sadd(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let first = ctx.arg(2);
    let set = txn.write_obj_or_insert(&key, || Set::new_for(first))?;
    let mut added = 0;
    for i in 2..ctx.argc() {
        added += i64::from(set.add(ctx.arg(i), &lim));
    }
    if added > 0 {
        txn.touch_dirty(&key);
        ctx.notify(events::SET, "sadd", key.bytes);
    }
    drop(txn);
    ctx.out.int(added);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let mut removed = 0;
    if let Some(set) = txn.write_obj::<Set>(&key)? {
        for i in 2..ctx.argc() {
            if set.remove(ctx.arg(i)) {
                removed += 1;
                if set.is_empty() {
                    break;
                }
            }
        }
        if removed > 0 {
            txn.touch_dirty(&key);
            ctx.notify(events::SET, "srem", key.bytes);
            txn.remove_if_empty(&key);
        }
    }
    drop(txn);
    ctx.out.int(removed);
    Ok(())
}

fn scard(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn.read_obj::<Set>(&key, Lookup::Read)?.map_or(0, Set::len);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let found = txn
        .read_obj::<Set>(&key, Lookup::Read)?
        .is_some_and(|s| s.contains(ctx.arg(2)));
    drop(txn);
    ctx.out.int(i64::from(found));
    Ok(())
}

fn smismember(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let set = txn.read_obj::<Set>(&key, Lookup::Read)?;
    ctx.out.array(ctx.argc() - 2);
    for i in 2..ctx.argc() {
        ctx.out
            .int(i64::from(set.is_some_and(|s| s.contains(ctx.arg(i)))));
    }
    Ok(())
}

/// Writes a set's members as a RESP3 set (an array in RESP2).
fn reply_members(out: &mut Reply<'_>, set: Option<&Set>) {
    out.set(set.map_or(0, Set::len));
    if let Some(s) = set {
        s.for_each(|m| out.bulk(m));
    }
}

fn smembers(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let set = txn.read_obj::<Set>(&key, Lookup::Read)?;
    reply_members(&mut ctx.out, set);
    Ok(())
}

/// Redis's SPOP_MOVE_STRATEGY_MUL: SPOP with a count rebuilds the set from
/// the survivors when at most a fifth of it would survive.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// SPOP key [count] (spopCommand / spopWithCountCommand).
fn spop(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(SYNTAX);
    }
    let count = pop_count_arg(ctx)?;
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let Some(set) = txn.write_obj::<Set>(&key)? else {
        match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.set(0),
        }
        return Ok(());
    };
    let whole = count.is_some_and(|n| n >= set.len());
    // Redis 7.0 propagates SREM per popped member (DEL for the whole set).
    let srem = |ctx: &Ctx<'_>, m: &[u8]| ctx.also_propagate([&b"SREM"[..], key.bytes, m]);
    if count.is_some() {
        ctx.prevent_propagation();
    }
    match count {
        None => match set.pop() {
            Some(m) => {
                ctx.propagate_as([&b"SREM"[..], key.bytes, &m]);
                ctx.out.bulk(&m)
            }
            None => ctx.out.null(),
        },
        Some(0) => {
            ctx.out.set(0);
            return Ok(());
        }
        Some(_) if whole => reply_members(&mut ctx.out, Some(&*set)),
        Some(n) => {
            let remaining = set.len() - n;
            ctx.out.set(n);
            if remaining * SPOP_MOVE_STRATEGY_MUL > n {
                for _ in 0..n {
                    if let Some(m) = set.pop() {
                        srem(ctx, &m);
                        ctx.out.bulk(&m);
                    }
                }
            } else {
                // Move the survivors to a new set (whose encoding Redis's
                // setTypeCreate picks), reply with what is left behind.
                let mut fresh: Option<Set> = None;
                for _ in 0..remaining {
                    if let Some(m) = set.pop() {
                        fresh.get_or_insert_with(|| Set::new_for(&m)).add(&m, &lim);
                    }
                }
                if ctx.propagating() {
                    let mut popped = Vec::new();
                    set.for_each(|m| popped.push(m.to_vec()));
                    for m in &popped {
                        srem(ctx, m);
                    }
                }
                set.for_each(|m| ctx.out.bulk(m));
                if let Some(f) = fresh {
                    *set = f;
                }
            }
        }
    }
    txn.touch_dirty(&key);
    ctx.notify(events::SET, "spop", key.bytes);
    if whole {
        ctx.also_propagate([&b"DEL"[..], key.bytes]);
        drop(txn.remove(&key));
        ctx.notify(events::GENERIC, "del", key.bytes);
    } else {
        txn.remove_if_empty(&key);
    }
    Ok(())
}

/// SRANDMEMBER key [count] (srandmemberWithCountCommand).
fn srandmember(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    if ctx.argc() == 2 {
        let mut txn = ctx.lock(&key);
        match txn
            .read_obj::<Set>(&key, Lookup::Read)?
            .and_then(Set::random)
        {
            Some(m) => ctx.out.bulk(&m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    if ctx.argc() > 3 {
        return Err(SYNTAX);
    }
    let count = rand_count_arg(ctx)?;
    let mut txn = ctx.lock(&key);
    let Some(set) = txn.read_obj::<Set>(&key, Lookup::Read)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        ctx.out.array(n);
        for _ in 0..n {
            if ctx.reply_over_limit() {
                break;
            }
            if let Some(m) = set.random() {
                ctx.out.bulk(&m);
            }
        }
        return Ok(());
    }
    let count = count as usize;
    if count >= set.len() {
        ctx.out.array(set.len());
        set.for_each(|m| ctx.out.bulk(m));
        return Ok(());
    }
    let mut all = set.members();
    for i in 0..count {
        let j = i + (larder_engine::rng::next() % (all.len() - i) as u64) as usize;
        all.swap(i, j);
    }
    ctx.out.array(count);
    for m in &all[..count] {
        ctx.out.bulk(m);
    }
    Ok(())
}

fn smove(ctx: &mut Ctx<'_>) -> CmdResult {
    let (src, dst) = (ctx.key(1), ctx.key(2));
    let member = ctx.arg(3);
    let lim = limits(ctx);
    let mut txn = ctx.lock_keys(&[src, dst]);
    let src_exists = txn.lookup(&src, Lookup::Write).is_some();
    txn.lookup(&dst, Lookup::Write);
    if !src_exists {
        ctx.out.int(0);
        return Ok(());
    }
    txn.obj_ref::<Set>(&src)?;
    txn.obj_ref::<Set>(&dst)?;
    if src.bytes == dst.bytes {
        let found = txn
            .obj_ref::<Set>(&src)?
            .is_some_and(|s| s.contains(member));
        drop(txn);
        ctx.out.int(i64::from(found));
        return Ok(());
    }
    let removed = txn
        .write_obj::<Set>(&src)?
        .is_some_and(|s| s.remove(member));
    if !removed {
        drop(txn);
        ctx.out.int(0);
        return Ok(());
    }
    txn.touch_dirty(&src);
    ctx.notify(events::SET, "srem", src.bytes);
    txn.remove_if_empty(&src);
    let added = txn
        .write_obj_or_insert(&dst, || Set::new_for(member))?
        .add(member, &lim);
    if added {
        txn.touch_dirty(&dst);
        ctx.notify(events::SET, "sadd", dst.bytes);
    }
    drop(txn);
    ctx.out.int(1);
    Ok(())
}

fn sscan(ctx: &mut Ctx<'_>) -> CmdResult {
    let cursor = scan_cursor(ctx)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(set) = txn.read_obj::<Set>(&key, Lookup::Read)? else {
        empty_scan(ctx);
        return Ok(());
    };
    let opts = ScanOpts::parse(ctx)?;
    let mut items = KeyList::new();
    let next = set.scan(cursor, opts.count, |m| {
        if opts.matches(m) {
            items.push(m);
        }
    });
    drop(txn);
    scan_reply(ctx, next, &items);
    Ok(())
}

// ---------------------------------------------------------------------------
// Set algebra
// ---------------------------------------------------------------------------

/// Looks every key up (counting reads, expiring) and returns shared views
/// of the sets; a missing key is `None`, a key of another type WRONGTYPE.
fn load_sets<'t>(
    txn: &'t mut Txn<'_>,
    keys: &[Key<'_>],
    how: Lookup,
) -> Result<Vec<Option<&'t Set>>, CmdError> {
    for k in keys {
        txn.lookup(k, how);
    }
    let txn: &'t Txn<'_> = txn;
    keys.iter()
        .map(|k| txn.obj_ref::<Set>(k).map_err(CmdError::from))
        .collect()
}

/// Members of the intersection, streamed from the smallest set, stopping
/// after `limit` (0 = no limit). Any missing set makes it empty.
fn intersect(sets: &[Option<&Set>], limit: usize, mut found: impl FnMut(&[u8])) -> usize {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return 0;
    };
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        return 0;
    };
    let mut n = 0;
    first.for_each(|m| {
        if (limit == 0 || n < limit) && rest.iter().all(|s| s.contains(m)) {
            n += 1;
            found(m);
        }
    });
    n
}

/// An empty result set: Redis builds SINTERSTORE / SUNION / SDIFF results
/// from an empty intset, adding members one by one, so the encoding
/// follows the usual conversion rules.
fn empty_result() -> Set {
    Set::new_for(b"0")
}

/// Stores `result` under `dst` (deleting `dst` when empty) with the
/// keyspace event `event`, and replies with its size.
fn store_result(ctx: &mut Ctx<'_>, txn: &mut Txn<'_>, dst: &Key<'_>, result: Set, event: &str) {
    let n = result.len();
    let old = if n > 0 {
        let old = txn.set_object(dst, result);
        ctx.notify(events::SET, event, dst.bytes);
        old
    } else {
        let old = txn.remove(dst);
        if old.is_some() {
            ctx.notify(events::GENERIC, "del", dst.bytes);
        }
        old
    };
    drop(old);
    ctx.out.int(n as i64);
}

/// SINTER / SINTERSTORE: `dst` is the destination key for the store form.
fn sinter_generic(ctx: &mut Ctx<'_>, first_key: usize, store: bool) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let lim = limits(ctx);
    let mut txn = ctx.lock_keys(&keys);
    let sources = &keys[first_key - 1..];
    let how = if store { Lookup::Write } else { Lookup::Read };
    let sets = load_sets(&mut txn, sources, how)?;
    if !store {
        let mut list = KeyList::new();
        intersect(&sets, 0, |m| list.push(m));
        drop(sets);
        drop(txn);
        list.write_set(&mut ctx.out);
        return Ok(());
    }
    let mut result = empty_result();
    intersect(&sets, 0, |m| {
        result.add(m, &lim);
    });
    drop(sets);
    store_result(ctx, &mut txn, &keys[0], result, "sinterstore");
    Ok(())
}

fn sinter(ctx: &mut Ctx<'_>) -> CmdResult {
    sinter_generic(ctx, 1, false)
}

fn sinterstore(ctx: &mut Ctx<'_>) -> CmdResult {
    sinter_generic(ctx, 2, true)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
fn sintercard(ctx: &mut Ctx<'_>) -> CmdResult {
    let numkeys = ranged_arg(ctx, 1, 1, i64::MAX, "ERR numkeys should be greater than 0")? as usize;
    if numkeys > ctx.argc() - 2 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < ctx.argc() {
        if ctx.arg_is(j, "limit") && j + 1 < ctx.argc() {
            limit = ranged_arg(ctx, j + 1, 0, i64::MAX, "ERR LIMIT can't be negative")? as usize;
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let keys: Vec<Key<'_>> = (2..2 + numkeys).map(|i| ctx.key(i)).collect();
    let mut txn = ctx.lock_keys(&keys);
    let sets = load_sets(&mut txn, &keys, Lookup::Read)?;
    let n = intersect(&sets, limit, |_| {});
    drop(sets);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

/// SUNION / SDIFF and their STORE forms (sunionDiffGenericCommand).
fn union_diff(ctx: &mut Ctx<'_>, diff: bool, store: bool) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let lim = limits(ctx);
    let mut txn = ctx.lock_keys(&keys);
    let sources = &keys[usize::from(store)..];
    let how = if store { Lookup::Write } else { Lookup::Read };
    let sets = load_sets(&mut txn, sources, how)?;
    let result = if diff {
        let mut r = empty_result();
        if let Some(Some(first)) = sets.first() {
            first.for_each(|m| {
                if !sets[1..].iter().flatten().any(|s| s.contains(m)) {
                    r.add(m, &lim);
                }
            });
        }
        r
    } else {
        let mut r = empty_result();
        for s in sets.iter().flatten() {
            s.for_each(|m| {
                r.add(m, &lim);
            });
        }
        r
    };
    drop(sets);
    if store {
        let event = if diff { "sdiffstore" } else { "sunionstore" };
        store_result(ctx, &mut txn, &keys[0], result, event);
        return Ok(());
    }
    drop(txn);
    reply_members(&mut ctx.out, Some(&result));
    Ok(())
}

fn sunion(ctx: &mut Ctx<'_>) -> CmdResult {
    union_diff(ctx, false, false)
}

fn sunionstore(ctx: &mut Ctx<'_>) -> CmdResult {
    union_diff(ctx, false, true)
}

fn sdiff(ctx: &mut Ctx<'_>) -> CmdResult {
    union_diff(ctx, true, false)
}

fn sdiffstore(ctx: &mut Ctx<'_>) -> CmdResult {
    union_diff(ctx, true, true)
}

//! HyperLogLog commands, as Redis 7.0's `hyperloglog.c`: PFADD PFCOUNT
//! PFMERGE PFDEBUG PFSELFTEST. The representation and every algorithm are in
//! `larder_engine::hll`; HLLs are ordinary `raw` strings, so GET, DUMP and
//! RESTORE move them between Larder and Redis unchanged.
//!
//! Costs: PFADD to a dense HLL stored `raw` updates its registers in place;
//! a sparse one (at most `hll-sparse-max-bytes`) is copied, edited and
//! stored again. PFCOUNT of one key answers from the cached cardinality when
//! it is valid, else walks the registers and caches the result (a write,
//! in place when possible). PFCOUNT of several keys and PFMERGE build a
//! 16 KiB register array on the heap.

use std::sync::atomic::Ordering::Relaxed;

use larder_engine::hll::{self, Corrupt};
use larder_engine::{events, EntryRef, Key, Kind, Lookup, StrRef, StrValue, Ttl, Txn};

use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult};

use super::strings::str_of;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "pfadd",
        arity: -2,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write hyperloglog fast",
        handler: pfadd,
        subcommands: &[],
    },
    Command {
        name: "pfcount",
        arity: -2,
        flags: READONLY,
        keys: (1, -1, 1),
        acl: "read hyperloglog slow",
        handler: pfcount,
        subcommands: &[],
    },
    Command {
        name: "pfmerge",
        arity: -2,
        flags: WRITE | DENYOOM,
        keys: (1, -1, 1),
        acl: "write hyperloglog slow",
        handler: pfmerge,
        subcommands: &[],
    },
    Command {
        name: "pfdebug",
        arity: 3,
        flags: WRITE | DENYOOM | ADMIN,
        keys: (2, 2, 1),
        acl: "write hyperloglog admin slow dangerous",
        handler: pfdebug,
        subcommands: &[],
    },
    Command {
        name: "pfselftest",
        arity: 1,
        flags: ADMIN,
        keys: (0, 0, 0),
        acl: "hyperloglog admin slow dangerous",
        handler: pfselftest,
        subcommands: &[],
    },
];

const NOT_HLL: CmdError = CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.");
const INVALID: CmdError = CmdError::new("INVALIDOBJ Corrupted HLL object detected");
const NO_KEY: CmdError = CmdError::new("ERR The specified key does not exist");
const NOT_SPARSE: CmdError = CmdError::new("ERR HLL encoding is not sparse");

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> CmdError {
        INVALID
    }
}

/// The HLL bytes of an entry (Redis's `isHLLObjectOrReply`): WRONGTYPE for
/// other types, the HLL variant of it for strings that are not HLLs
/// (including `int`-encoded ones).
fn hll_of(e: EntryRef<'_>) -> Result<&[u8], CmdError> {
    match str_of(e)? {
        StrRef::Bytes(b) if hll::is_valid(b) => Ok(b),
        _ => Err(NOT_HLL),
    }
}

fn sparse_max(ctx: &Ctx<'_>) -> usize {
    let v = ctx.shared.hot.hll_sparse_max_bytes.load(Relaxed);
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Stores an edited HLL over an existing key (TTL kept), as `raw`.
fn store(txn: &mut Txn<'_>, key: &Key<'_>, v: &[u8]) {
    txn.update(key, StrValue::Raw(v));
}

fn pfadd(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let max = sparse_max(ctx);
    let mut txn = ctx.lock(&key);
    let eles = 2..ctx.argc();
    // (value, key existed, value already `raw`)
    let (mut v, existed, raw) = match txn.lookup(&key, Lookup::Write) {
        None => (hll::new_sparse(), false, false),
        Some(mut e) => {
            let dense = hll::is_dense(hll_of(e.get())?);
            let raw = e.get().kind() == Kind::Raw;
            if dense {
                // Dense registers change in place.
                if let Some(b) = e.raw_bytes_mut() {
                    let mut updated = false;
                    for i in eles {
                        updated |= hll::dense_add(b, ctx.arg(i));
                    }
                    if updated {
                        hll::invalidate_cache(b);
                        txn.touch_dirty(&key);
                        ctx.notify(events::STRING, "pfadd", key.bytes);
                    }
                    ctx.out.int(i64::from(updated));
                    return Ok(());
                }
            }
            (hll_of(e.into_ref())?.to_vec(), true, raw)
        }
    };
    // Creating the key counts as an update, as in Redis.
    let mut updated = !existed;
    let mut failed = false;
    for i in eles {
        match hll::add(&mut v, ctx.arg(i), max) {
            Ok(changed) => updated |= changed,
            Err(Corrupt) => {
                failed = true;
                break;
            }
        }
    }
    if updated && !failed {
        hll::invalidate_cache(&mut v);
    }
    if !existed {
        drop(txn.set(&key, StrValue::Raw(&v), Ttl::Clear));
    } else if updated || failed || !raw {
        // Redis unshares the value first, so even an unchanged HLL ends up `raw`.
        store(&mut txn, &key, &v);
    }
    if failed {
        return Err(INVALID);
    }
    if updated {
        ctx.notify(events::STRING, "pfadd", key.bytes);
    }
    ctx.out.int(i64::from(updated));
    Ok(())
}

fn pfcount(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 2 {
        return pfcount_union(ctx);
    }
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(mut e) = txn.lookup(&key, Lookup::Read) else {
        ctx.out.int(0);
        return Ok(());
    };
    hll_of(e.get())?;
    if let Some(b) = e.raw_bytes_mut() {
        // Already `raw`: answer from the cache, or refresh it in place.
        let card = match hll::cached_count(b) {
            Some(c) => c,
            None => {
                let c = hll::count(b)?;
                hll::set_cached_count(b, c);
                txn.touch_dirty(&key);
                c
            }
        };
        ctx.out.int(card as i64);
        return Ok(());
    }
    let mut v = hll_of(e.into_ref())?.to_vec();
    let card = match hll::cached_count(&v) {
        Some(c) => Ok(c),
        None => hll::count(&v).inspect(|&c| hll::set_cached_count(&mut v, c)),
    };
    store(&mut txn, &key, &v);
    ctx.out.int(card? as i64);
    Ok(())
}

/// Raises `max` to the registers of every existing key in `keys`, checking
/// each is an HLL; returns whether any of them was dense.
fn merge_keys(
    txn: &mut Txn<'_>,
    keys: &[Key<'_>],
    max: &mut [u8; hll::REGISTERS],
) -> Result<bool, CmdError> {
    let mut dense = false;
    for k in keys {
        if let Some(e) = txn.get(k) {
            let b = hll_of(e)?;
            dense |= hll::is_dense(b);
            hll::merge_into(max, b)?;
        }
    }
    Ok(dense)
}

fn pfcount_union(ctx: &mut Ctx<'_>) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let mut txn = ctx.lock_keys(&keys);
    let mut max = Box::new([0u8; hll::REGISTERS]);
    merge_keys(&mut txn, &keys, &mut max)?;
    ctx.out.int(hll::count_registers(&max) as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx<'_>) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let max_bytes = sparse_max(ctx);
    let mut txn = ctx.lock_keys(&keys);
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let use_dense = merge_keys(&mut txn, &keys, &mut max)?;
    let dest = &keys[0];
    let (mut v, existed) = match txn.lookup(dest, Lookup::Write) {
        None => (hll::new_sparse(), false),
        // Checked as an HLL by the merge above.
        Some(e) => (hll_of(e.into_ref())?.to_vec(), true),
    };
    let converted = if use_dense {
        hll::to_dense(&mut v).map(drop)
    } else {
        Ok(())
    };
    if converted.is_ok() {
        for (j, &m) in max.iter().enumerate() {
            if m != 0 {
                // Redis ignores a corrupt destination here, as this does.
                let _ = hll::set_register(&mut v, j, m, max_bytes);
            }
        }
        hll::invalidate_cache(&mut v);
    }
    if existed {
        store(&mut txn, dest, &v);
    } else {
        drop(txn.set(dest, StrValue::Raw(&v), Ttl::Clear));
    }
    converted?;
    ctx.notify(events::STRING, "pfadd", dest.bytes);
    ctx.out.ok();
    Ok(())
}

fn pfdebug(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let Some(e) = txn.lookup(&key, Lookup::Write) else {
        return Err(NO_KEY);
    };
    let mut v = hll_of(e.into_ref())?.to_vec();
    let result = if ctx.arg_is(1, "getreg") || ctx.arg_is(1, "todense") {
        hll::to_dense(&mut v).map_err(CmdError::from)
    } else {
        Ok(false)
    };
    // Redis unshares the value (making it `raw`) before any subcommand runs.
    store(&mut txn, &key, &v);
    let converted = result?;
    if ctx.arg_is(1, "getreg") {
        let regs = &v[hll::HDR..];
        ctx.out.array(hll::REGISTERS);
        for i in 0..hll::REGISTERS {
            ctx.out.int(i64::from(hll::dense_get(regs, i)));
        }
    } else if ctx.arg_is(1, "decode") {
        if hll::is_dense(&v) {
            return Err(NOT_SPARSE);
        }
        ctx.out.bulk(hll::decode_sparse(&v).as_bytes());
    } else if ctx.arg_is(1, "encoding") {
        ctx.out.simple(if hll::is_dense(&v) {
            b"dense"
        } else {
            b"sparse"
        });
    } else if ctx.arg_is(1, "todense") {
        ctx.out.int(i64::from(converted));
    } else {
        let sub = ctx.arg(1);
        let sub = sub.iter().position(|&b| b == 0).map_or(sub, |n| &sub[..n]);
        return Err(CmdError::owned(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

fn pfselftest(ctx: &mut Ctx<'_>) -> CmdResult {
    match hll::selftest() {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(why) => Err(CmdError::owned(format!("ERR TESTFAILED {why}"))),
    }
}

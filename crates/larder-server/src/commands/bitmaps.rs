//! Bitmap commands on string values, with Redis 7.0's `bitops.c` semantics:
//! SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO. The bit
//! arithmetic itself lives in `larder_engine::bitops`; this module parses
//! arguments in Redis's order (so the same error wins) and moves bytes in
//! and out of the keyspace.
//!
//! Writes follow Redis's `lookupStringForBitCommand`: the offset is checked
//! against `proto-max-bulk-len` before anything is allocated, a missing key
//! becomes a zero-filled string just long enough, and an existing one is
//! zero-extended. The result is always a `raw` string (as Redis's
//! `dbUnshareStringValue` leaves it). Costs: a write that fits a `raw`
//! string flips its bits in place (no allocation); growing a string, or
//! writing to an `int`/`embstr` one, builds the new value once and stores it
//! as a new entry. Reads work on the stored bytes directly (an `int` value
//! is formatted into a stack buffer first).

use std::sync::atomic::Ordering::Relaxed;

use larder_engine::bitops::{self, BitOp, Overflow};
use larder_engine::{events, Key, Lookup, StrValue, Ttl, Txn};

use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult, OOM, SYNTAX};

use super::strings::str_of;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "setbit",
        arity: 4,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write bitmap slow",
        handler: setbit,
        subcommands: &[],
    },
    Command {
        name: "getbit",
        arity: 3,
        flags: READONLY | FAST,
        keys: (1, 1, 1),
        acl: "read bitmap fast",
        handler: getbit,
        subcommands: &[],
    },
    Command {
        name: "bitcount",
        arity: -2,
        flags: READONLY,
        keys: (1, 1, 1),
        acl: "read bitmap slow",
        handler: bitcount,
        subcommands: &[],
    },
    Command {
        name: "bitpos",
        arity: -3,
        flags: READONLY,
        keys: (1, 1, 1),
        acl: "read bitmap slow",
        handler: bitpos,
        subcommands: &[],
    },
    Command {
        name: "bitop",
        arity: -4,
        flags: WRITE | DENYOOM,
        keys: (2, -1, 1),
        acl: "write bitmap slow",
        handler: bitop,
        subcommands: &[],
    },
    Command {
        name: "bitfield",
        arity: -2,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write bitmap slow",
        handler: bitfield,
        subcommands: &[],
    },
    Command {
        name: "bitfield_ro",
        arity: -2,
        flags: READONLY | FAST,
        keys: (1, 1, 1),
        acl: "read bitmap fast",
        handler: bitfield_ro,
        subcommands: &[],
    },
];

const BIT_OFFSET: CmdError = CmdError::new("ERR bit offset is not an integer or out of range");
const BIT_VALUE: CmdError = CmdError::new("ERR bit is not an integer or out of range");
const BITPOS_BIT: CmdError = CmdError::new("ERR The bit argument must be 1 or 0.");
const BITOP_NOT: CmdError = CmdError::new("ERR BITOP NOT must be called with a single source key.");
const FIELD_TYPE: CmdError = CmdError::new(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const OVERFLOW_TYPE: CmdError = CmdError::new("ERR Invalid OVERFLOW type specified");
const RO_GET_ONLY: CmdError = CmdError::new("ERR BITFIELD_RO only supports the GET subcommand");

/// A bit offset argument (`#N` = N fields of `hash_bits` when given),
/// bounded by `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx<'_>, i: usize, hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let max = ctx.shared.hot.proto_max_bulk_len.load(Relaxed);
    bitops::parse_bit_offset(ctx.arg(i), hash_bits, max).ok_or(BIT_OFFSET)
}

/// Runs `f` over the string at `key`, grown with zeros to at least
/// `min_len` bytes (created if missing), and stores it as a `raw` string
/// (Redis's `lookupStringForBitCommand` + `dbUnshareStringValue`). A `raw`
/// string that is long enough is edited in place. `f` is told whether the
/// string was created or grown (Redis's `dirty`) and returns how many
/// changes it made (Redis 7.0 counts a write only if it changed a value or
/// the string was created or grown); those are counted as writes. Returns
/// `f`'s result and the created-or-grown flag.
fn with_bits_mut<R>(
    txn: &mut Txn<'_>,
    key: &Key<'_>,
    min_len: usize,
    f: impl FnOnce(&mut [u8], bool) -> (R, u32),
) -> Result<(R, bool), CmdError> {
    let mut buf = Vec::new();
    let existed = match txn.lookup(key, Lookup::Write) {
        None => false,
        Some(mut e) => {
            if str_of(e.get())?.len() >= min_len {
                if let Some(bytes) = e.raw_bytes_mut() {
                    let (r, changes) = f(bytes, false);
                    for _ in 0..changes {
                        txn.touch_dirty(key);
                    }
                    return Ok((r, false));
                }
            }
            let v = str_of(e.into_ref())?;
            let mut ibuf = itoa::Buffer::new();
            let old = v.as_bytes(&mut ibuf);
            buf.try_reserve_exact(old.len().max(min_len))
                .map_err(|_| OOM)?;
            buf.extend_from_slice(old);
            true
        }
    };
    let grown = !existed || buf.len() < min_len;
    if buf.len() < min_len {
        buf.try_reserve_exact(min_len - buf.len())
            .map_err(|_| OOM)?;
        buf.resize(min_len, 0);
    }
    let (r, changes) = f(&mut buf, grown);
    if existed {
        txn.update(key, StrValue::Raw(&buf));
    } else {
        drop(txn.set(key, StrValue::Raw(&buf), Ttl::Clear));
    }
    for _ in 1..changes {
        txn.touch_dirty(key);
    }
    Ok((r, grown))
}

fn setbit(ctx: &mut Ctx<'_>) -> CmdResult {
    let offset = bit_offset(ctx, 2, None)?;
    let on = match ctx.i64_arg(3) {
        Ok(v @ (0 | 1)) => v == 1,
        _ => return Err(BIT_VALUE),
    };
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u32;
    let (old, grown) = with_bits_mut(&mut txn, &key, byte + 1, |p, grown| {
        let old = (p[byte] >> shift) & 1;
        p[byte] = (p[byte] & !(1 << shift)) | (u8::from(on) << shift);
        (old, u32::from(grown || (old == 1) != on))
    })?;
    // Redis 7.0 signals only a bit that changed, or a string created or grown.
    if grown || (old == 1) != on {
        ctx.notify(events::STRING, "setbit", key.bytes);
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

fn getbit(ctx: &mut Ctx<'_>) -> CmdResult {
    let offset = bit_offset(ctx, 2, None)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let bit = match txn.get(&key) {
        None => 0,
        Some(e) => {
            let v = str_of(e)?;
            let mut ibuf = itoa::Buffer::new();
            bitops::get_unsigned(v.as_bytes(&mut ibuf), offset, 1)
        }
    };
    ctx.out.int(bit as i64);
    Ok(())
}

/// `BIT` / `BYTE` at argument `i`.
fn unit_is_bit(ctx: &Ctx<'_>, i: usize) -> Result<bool, CmdError> {
    if ctx.arg_is(i, "bit") {
        Ok(true)
    } else if ctx.arg_is(i, "byte") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

fn bitcount(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    // Redis 7.0 looks the key up before it reads the range arguments.
    let Some(e) = txn.get(&key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let v = str_of(e)?;
    let mut ibuf = itoa::Buffer::new();
    let p = v.as_bytes(&mut ibuf);
    let range = match ctx.argc() {
        2 => bitops::resolve_range(0, -1, p.len(), false),
        4 | 5 => {
            let start = ctx.i64_arg(2)?;
            let end = ctx.i64_arg(3)?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let is_bit = ctx.argc() == 5 && unit_is_bit(ctx, 4)?;
            bitops::resolve_range(start, end, p.len(), is_bit)
        }
        _ => return Err(SYNTAX),
    };
    let n = if range.start > range.end {
        0
    } else {
        bitops::count_range(p, &range)
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn bitpos(ctx: &mut Ctx<'_>) -> CmdResult {
    let bit = match ctx.i64_arg(2)? {
        0 => false,
        1 => true,
        _ => return Err(BITPOS_BIT),
    };
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(e) = txn.get(&key) else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let v = str_of(e)?;
    let mut ibuf = itoa::Buffer::new();
    let p = v.as_bytes(&mut ibuf);
    let argc = ctx.argc();
    let (range, end_given) = match argc {
        3 => (bitops::resolve_range(0, -1, p.len(), false), false),
        4..=6 => {
            let start = ctx.i64_arg(3)?;
            let is_bit = argc == 6 && unit_is_bit(ctx, 5)?;
            let end = if argc >= 5 { ctx.i64_arg(4)? } else { -1 };
            (
                bitops::resolve_range(start, end, p.len(), is_bit),
                argc >= 5,
            )
        }
        _ => return Err(SYNTAX),
    };
    let pos = if range.start > range.end {
        -1
    } else {
        bitops::pos_range(p, &range, bit, end_given)
    };
    ctx.out.int(pos);
    Ok(())
}

fn bitop(ctx: &mut Ctx<'_>) -> CmdResult {
    let op = if ctx.arg_is(1, "and") {
        BitOp::And
    } else if ctx.arg_is(1, "or") {
        BitOp::Or
    } else if ctx.arg_is(1, "xor") {
        BitOp::Xor
    } else if ctx.arg_is(1, "not") {
        BitOp::Not
    } else {
        return Err(SYNTAX);
    };
    if op == BitOp::Not && ctx.argc() != 4 {
        return Err(BITOP_NOT);
    }
    let keys = ctx.keys_from(2, 1);
    let mut txn = ctx.lock_keys(&keys);
    // Operands are copied out: the destination may be one of them.
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(keys.len() - 1);
    for k in &keys[1..] {
        match txn.get(k) {
            None => srcs.push(Vec::new()),
            Some(e) => {
                let v = str_of(e)?;
                let mut ibuf = itoa::Buffer::new();
                srcs.push(v.as_bytes(&mut ibuf).to_vec());
            }
        }
    }
    let views: Vec<&[u8]> = srcs.iter().map(Vec::as_slice).collect();
    let res = bitops::bitop(op, &views);
    if res.is_empty() {
        if txn.remove(&keys[0]).is_some() {
            ctx.notify(events::GENERIC, "del", keys[0].bytes);
        }
    } else {
        drop(txn.set(&keys[0], StrValue::Raw(&res), Ttl::Clear));
        ctx.notify(events::STRING, "set", keys[0].bytes);
    }
    ctx.out.int(res.len() as i64);
    Ok(())
}

/// One parsed BITFIELD operation.
#[derive(Clone, Copy)]
struct FieldOp {
    kind: FieldKind,
    offset: u64,
    bits: u32,
    signed: bool,
    arg: i64,
    overflow: Overflow,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Get,
    Set,
    IncrBy,
}

/// Parses BITFIELD's operations in Redis's order: errors come out as the
/// arguments are read, before the key is looked at.
fn parse_field_ops(ctx: &Ctx<'_>) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let argc = ctx.argc();
    let mut j = 2;
    while j < argc {
        let rem = argc - j - 1;
        let kind = if ctx.arg_is(j, "get") && rem >= 2 {
            FieldKind::Get
        } else if ctx.arg_is(j, "set") && rem >= 3 {
            FieldKind::Set
        } else if ctx.arg_is(j, "incrby") && rem >= 3 {
            FieldKind::IncrBy
        } else if ctx.arg_is(j, "overflow") && rem >= 1 {
            overflow = if ctx.arg_is(j + 1, "wrap") {
                Overflow::Wrap
            } else if ctx.arg_is(j + 1, "sat") {
                Overflow::Sat
            } else if ctx.arg_is(j + 1, "fail") {
                Overflow::Fail
            } else {
                return Err(OVERFLOW_TYPE);
            };
            j += 2;
            continue;
        } else {
            return Err(SYNTAX);
        };
        let (signed, bits) = bitops::parse_field_type(ctx.arg(j + 1)).ok_or(FIELD_TYPE)?;
        let offset = bit_offset(ctx, j + 2, Some(bits))?;
        let arg = if kind == FieldKind::Get {
            0
        } else {
            ctx.i64_arg(j + 3)?
        };
        ops.push(FieldOp {
            kind,
            offset,
            bits,
            signed,
            arg,
            overflow,
        });
        j += if kind == FieldKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

fn field_get(p: &[u8], op: &FieldOp) -> i64 {
    if op.signed {
        bitops::get_signed(p, op.offset, op.bits)
    } else {
        bitops::get_unsigned(p, op.offset, op.bits) as i64
    }
}

fn bitfield_generic(ctx: &mut Ctx<'_>, read_only_cmd: bool) -> CmdResult {
    let ops = parse_field_ops(ctx)?;
    let highest = ops
        .iter()
        .filter(|o| o.kind != FieldKind::Get)
        .map(|o| o.offset + u64::from(o.bits) - 1)
        .max();
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(highest) = highest else {
        // Only GETs: a read; a missing key reads as zeros.
        let e = txn.get(&key);
        let v = e.map(str_of).transpose()?;
        let mut ibuf = itoa::Buffer::new();
        let p = v.as_ref().map_or(&b""[..], |v| v.as_bytes(&mut ibuf));
        ctx.out.array(ops.len());
        for op in &ops {
            ctx.out.int(field_get(p, op));
        }
        return Ok(());
    };
    if read_only_cmd {
        return Err(RO_GET_ONLY);
    }
    let out = &mut ctx.out;
    let len = (highest >> 3) as usize + 1;
    // Writes that changed a value, or any write to a created or grown
    // string (an INCRBY that overflowed under FAIL wrote nothing).
    let (changes, _) = with_bits_mut(&mut txn, &key, len, |p, grown| {
        let mut changes = 0;
        out.array(ops.len());
        for op in &ops {
            let before = (op.kind != FieldKind::Get).then(|| field_get(p, op));
            let r = match op.kind {
                FieldKind::Get => Some(field_get(p, op)),
                k => bitops::field_write(
                    p,
                    op.offset,
                    op.bits,
                    op.signed,
                    k == FieldKind::IncrBy,
                    op.arg,
                    op.overflow,
                ),
            };
            if r.is_some() && before.is_some_and(|b| grown || b != field_get(p, op)) {
                changes += 1;
            }
            match r {
                Some(v) => out.int(v),
                None => out.null(),
            }
        }
        (changes, changes)
    })?;
    if changes > 0 {
        ctx.notify(events::STRING, "setbit", key.bytes);
    }
    Ok(())
}

fn bitfield(ctx: &mut Ctx<'_>) -> CmdResult {
    bitfield_generic(ctx, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    bitfield_generic(ctx, true)
}

//! String commands, with Redis 7.0's `t_string.c` semantics: GET SET SETNX
//! SETEX PSETEX MGET MSET MSETNX GETSET GETDEL GETEX APPEND STRLEN GETRANGE
//! SUBSTR SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT LCS.
//!
//! Every command hashes its keys once, locks their shards once (multi-key
//! commands lock all of theirs together through `Engine::lock_keys`, so MSET
//! and MSETNX are atomic) and replies straight into the output buffer. Values
//! are stored with the encoding Redis would pick, so OBJECT ENCODING agrees:
//! values written as given (SET, MSET, GETSET, APPEND to a new key) go
//! through `StrValue::Auto` (`int`, `embstr` or `raw`), strings Redis edits in
//! place (APPEND, SETRANGE) become `raw`, the INCR family stores `int` and
//! INCRBYFLOAT its formatted result as `embstr`/`raw` (computed in an
//! emulated x87 `long double`, as Redis does, so the digits agree).
//!
//! Costs: GET, SET, INCR and friends allocate nothing but the entry they
//! store (INCR on an `int` entry rewrites it in place). APPEND and SETRANGE
//! build the new value in a scratch buffer and then store it as a new entry,
//! so they copy the string once more than Redis's in-place `sdscatlen` does.
//! LCS copies its two operands out and releases the locks before running the
//! O(n·m) dynamic programme; its table is bounded by `proto-max-bulk-len`
//! like Redis's.
//!
//! Type checks go through [`str_of`], which answers WRONGTYPE for a key
//! holding a collection.

use std::sync::atomic::Ordering::Relaxed;

use larder_engine::{events, EntryRef, Key, Kind, Lookup, StrRef, StrValue, Ttl, Txn};

use crate::command::{flags::*, parse_i64, Command, Ctx};
use crate::error::{
    wrong_arity, CmdError, CmdResult, NOT_FLOAT, NOT_INTEGER, OVERFLOW, STRING_TOO_LONG, SYNTAX,
    WRONGTYPE,
};
use crate::longdouble::LongDouble;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "get",
        arity: 2,
        flags: READONLY | FAST,
        keys: (1, 1, 1),
        acl: "read string fast",
        handler: get,
        subcommands: &[],
    },
    Command {
        name: "set",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write string slow",
        handler: set,
        subcommands: &[],
    },
    Command {
        name: "setnx",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: setnx,
        subcommands: &[],
    },
    Command {
        name: "setex",
        arity: 4,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write string slow",
        handler: setex,
        subcommands: &[],
    },
    Command {
        name: "psetex",
        arity: 4,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write string slow",
        handler: psetex,
        subcommands: &[],
    },
    Command {
        name: "mget",
        arity: -2,
        flags: READONLY | FAST,
        keys: (1, -1, 1),
        acl: "read string fast",
        handler: mget,
        subcommands: &[],
    },
    Command {
        name: "mset",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: (1, -1, 2),
        acl: "write string slow",
        handler: mset,
        subcommands: &[],
    },
    Command {
        name: "msetnx",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: (1, -1, 2),
        acl: "write string slow",
        handler: msetnx,
        subcommands: &[],
    },
    Command {
        name: "getset",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: getset,
        subcommands: &[],
    },
    Command {
        name: "getdel",
        arity: 2,
        flags: WRITE | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: getdel,
        subcommands: &[],
    },
    Command {
        name: "getex",
        arity: -2,
        flags: WRITE | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: getex,
        subcommands: &[],
    },
    Command {
        name: "append",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: append,
        subcommands: &[],
    },
    Command {
        name: "strlen",
        arity: 2,
        flags: READONLY | FAST,
        keys: (1, 1, 1),
        acl: "read string fast",
        handler: strlen,
        subcommands: &[],
    },
    Command {
        name: "getrange",
        arity: 4,
        flags: READONLY,
        keys: (1, 1, 1),
        acl: "read string slow",
        handler: getrange,
        subcommands: &[],
    },
    Command {
        name: "substr",
        arity: 4,
        flags: READONLY,
        keys: (1, 1, 1),
        acl: "read string slow",
        handler: getrange,
        subcommands: &[],
    },
    Command {
        name: "setrange",
        arity: 4,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write string slow",
        handler: setrange,
        subcommands: &[],
    },
    Command {
        name: "incr",
        arity: 2,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: incr,
        subcommands: &[],
    },
    Command {
        name: "decr",
        arity: 2,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: decr,
        subcommands: &[],
    },
    Command {
        name: "incrby",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: incrby,
        subcommands: &[],
    },
    Command {
        name: "decrby",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: decrby,
        subcommands: &[],
    },
    Command {
        name: "incrbyfloat",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        keys: (1, 1, 1),
        acl: "write string fast",
        handler: incrbyfloat,
        subcommands: &[],
    },
    Command {
        name: "lcs",
        arity: -3,
        flags: READONLY,
        keys: (1, 2, 1),
        acl: "read string slow",
        handler: lcs,
        subcommands: &[],
    },
];

const OFFSET_RANGE: CmdError = CmdError::new("ERR offset is out of range");
const DECR_OVERFLOW: CmdError = CmdError::new("ERR decrement would overflow");
const NAN_OR_INF: CmdError = CmdError::new("ERR increment would produce NaN or Infinity");
const LCS_TYPE: CmdError = CmdError::new("ERR The specified keys must contain string values");
const LCS_LEN_AND_IDX: CmdError =
    CmdError::new("ERR If you want both the length and indexes, please just use IDX.");
const LCS_TOO_LONG: CmdError = CmdError::new("ERR String too long for LCS");
const LCS_TABLE_TOO_BIG: CmdError =
    CmdError::new("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
const LCS_ALLOC_FAILED: CmdError =
    CmdError::new("ERR Insufficient memory, failed allocating transient memory for LCS");

/// The string held by an entry, or WRONGTYPE (Redis's `checkType(c, o,
/// OBJ_STRING)`). Every string command reads values through here; with only
/// strings in the keyspace it always succeeds.
#[inline]
pub fn str_of(e: EntryRef<'_>) -> Result<StrRef<'_>, CmdError> {
    match e.kind() {
        Kind::Object => Err(WRONGTYPE),
        _ => Ok(e.value()),
    }
}

/// Replies with a string value: an integer is formatted on the way out.
pub fn reply_str(ctx: &mut Ctx<'_>, v: StrRef<'_>) {
    match v {
        StrRef::Bytes(b) => ctx.out.bulk(b),
        StrRef::Int(i) => ctx.out.bulk_int(i),
    }
}

/// A stored string as an integer, as Redis's `getLongLongFromObject`.
fn int_value(v: StrRef<'_>) -> Result<i64, CmdError> {
    match v {
        StrRef::Int(i) => Ok(i),
        StrRef::Bytes(b) => parse_i64(b).ok_or(NOT_INTEGER),
    }
}

/// A stored string as a `long double`, as Redis's `getLongDoubleFromObject`.
fn float_value(v: StrRef<'_>) -> Result<LongDouble, CmdError> {
    match v {
        StrRef::Int(i) => Ok(LongDouble::from_i64(i)),
        StrRef::Bytes(b) => LongDouble::parse(b).ok_or(NOT_FLOAT),
    }
}

/// Redis's `checkStringLength`: `size + append` must not exceed
/// `proto-max-bulk-len` (checked before anything is allocated).
fn check_string_length(ctx: &Ctx<'_>, size: u64, append: usize) -> CmdResult {
    let max = ctx.shared.hot.proto_max_bulk_len.load(Relaxed);
    match size.checked_add(append as u64) {
        Some(total) if total <= max => Ok(()),
        _ => Err(STRING_TOO_LONG),
    }
}

/// Stores `value` under `key`, overwriting (and keeping the TTL of) a key
/// that `existed`, else creating it without a TTL (Redis's dbOverwrite /
/// dbAdd pair).
fn store(txn: &mut Txn<'_>, key: &Key<'_>, existed: bool, value: StrValue<'_>) {
    if existed {
        txn.update(key, value);
    } else {
        drop(txn.set(key, value, Ttl::Clear));
    }
}

// ---------------------------------------------------------------------------
// GET and the SET family
// ---------------------------------------------------------------------------

fn get(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    match txn.get(&key) {
        Some(e) => {
            let v = str_of(e)?;
            reply_str(ctx, v);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// The unit and base of an expire argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// Unix time in seconds.
    ExAt,
    /// Unix time in milliseconds.
    PxAt,
}

impl Unit {
    fn is_absolute(self) -> bool {
        matches!(self, Unit::ExAt | Unit::PxAt)
    }
}

/// The expiry options shared by SET and GETEX, as parsed (the time itself is
/// validated later, by [`expire_at`], where Redis does it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireOpt<'a> {
    None,
    KeepTtl,
    Persist,
    Time(Unit, &'a [u8]),
}

/// Which command is parsing (the options allowed differ).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExtKind {
    Set,
    GetEx,
}

pub struct SetOpts<'a> {
    pub nx: bool,
    pub xx: bool,
    pub get: bool,
    pub expire: ExpireOpt<'a>,
}

/// Redis's `parseExtendedStringArgumentsOrReply`: the options of SET
/// (from argument 3) or GETEX (from argument 2). Only the syntax is checked.
pub fn parse_ext<'a>(ctx: &Ctx<'a>, from: usize, kind: ExtKind) -> Result<SetOpts<'a>, CmdError> {
    let mut o = SetOpts {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOpt::None,
    };
    let (mut keepttl, mut persist) = (false, false);
    let mut unit: Option<(Unit, &'a [u8])> = None;
    let mut j = from;
    let argc = ctx.argc();
    while j < argc {
        let has_next = j + 1 < argc;
        let is = |w: &str| ctx.arg_is(j, w);
        let other_expire = |u: Unit| unit.is_some_and(|(x, _)| x != u);
        if is("nx") && !o.xx && kind == ExtKind::Set {
            o.nx = true;
        } else if is("xx") && !o.nx && kind == ExtKind::Set {
            o.xx = true;
        } else if is("get") && kind == ExtKind::Set {
            o.get = true;
        } else if is("keepttl") && !persist && unit.is_none() && kind == ExtKind::Set {
            keepttl = true;
        } else if is("persist") && kind == ExtKind::GetEx && unit.is_none() && !keepttl {
            persist = true;
        } else if has_next
            && !keepttl
            && !persist
            && ((is("ex") && !other_expire(Unit::Ex))
                || (is("px") && !other_expire(Unit::Px))
                || (is("exat") && !other_expire(Unit::ExAt))
                || (is("pxat") && !other_expire(Unit::PxAt)))
        {
            let u = if is("ex") {
                Unit::Ex
            } else if is("px") {
                Unit::Px
            } else if is("exat") {
                Unit::ExAt
            } else {
                Unit::PxAt
            };
            unit = Some((u, ctx.arg(j + 1)));
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    o.expire = match unit {
        Some((u, v)) => ExpireOpt::Time(u, v),
        None if keepttl => ExpireOpt::KeepTtl,
        None if persist => ExpireOpt::Persist,
        None => ExpireOpt::None,
    };
    Ok(o)
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry in Unix ms,
/// or `ERR invalid expire time in '<cmd>' command`.
pub fn expire_at(value: &[u8], unit: Unit, now_ms: u64, cmd: &str) -> Result<u64, CmdError> {
    let v = parse_i64(value).ok_or(NOT_INTEGER)?;
    let invalid = || CmdError::owned(format!("ERR invalid expire time in '{cmd}' command"));
    let secs = matches!(unit, Unit::Ex | Unit::ExAt);
    if v <= 0 || (secs && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if secs { v * 1000 } else { v };
    let ms = if unit.is_absolute() {
        ms
    } else {
        ms.checked_add(now_ms as i64).ok_or_else(invalid)?
    };
    Ok(ms as u64)
}

/// What `setGenericCommand` answers with: SET's `+OK` / nil, or SETNX's 1 / 0.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetReply {
    OkNull,
    OneZero,
}

/// Redis's `setGenericCommand`: the value is argument `val`; `opts` as
/// parsed; `cmd` names the command in expire errors.
fn set_generic(
    ctx: &mut Ctx<'_>,
    val: usize,
    opts: &SetOpts<'_>,
    cmd: &str,
    answer: SetReply,
) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let ttl = match opts.expire {
        ExpireOpt::Time(u, v) => Ttl::At(expire_at(v, u, txn.now, cmd)?),
        ExpireOpt::KeepTtl => Ttl::Keep,
        ExpireOpt::None | ExpireOpt::Persist => Ttl::Clear,
    };
    let how = if opts.get {
        Lookup::Read
    } else {
        Lookup::Write
    };
    let found = match txn.lookup(&key, how) {
        Some(e) => {
            if opts.get {
                let v = str_of(e.into_ref())?;
                reply_str(ctx, v);
            }
            true
        }
        None => {
            if opts.get {
                ctx.out.null();
            }
            false
        }
    };
    if (opts.nx && found) || (opts.xx && !found) {
        if !opts.get {
            match answer {
                SetReply::OkNull => ctx.out.null(),
                SetReply::OneZero => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    if ctx.propagating() {
        // Redis 7.0.15: any expire becomes `SET key value PXAT ms` (other
        // options dropped, a given PXAT upper-cased); GETSET is a SET.
        match (ttl, opts.expire) {
            (Ttl::At(at), _) => {
                let mut b = itoa::Buffer::new();
                let at = b.format(at).as_bytes();
                ctx.propagate_as([&b"SET"[..], key.bytes, ctx.arg(val), b"PXAT", at]);
            }
            _ if cmd == "getset" => ctx.propagate_as([&b"SET"[..], key.bytes, ctx.arg(val)]),
            _ => {}
        }
    }
    drop(txn.set(&key, StrValue::Auto(ctx.arg(val)), ttl));
    ctx.notify(events::STRING, "set", key.bytes);
    if matches!(opts.expire, ExpireOpt::Time(..)) {
        ctx.notify(events::GENERIC, "expire", key.bytes);
    }
    if !opts.get {
        match answer {
            SetReply::OkNull => ctx.out.ok(),
            SetReply::OneZero => ctx.out.int(1),
        }
    }
    Ok(())
}

fn set(ctx: &mut Ctx<'_>) -> CmdResult {
    let opts = parse_ext(ctx, 3, ExtKind::Set)?;
    set_generic(ctx, 2, &opts, "set", SetReply::OkNull)
}

fn setnx(ctx: &mut Ctx<'_>) -> CmdResult {
    let opts = SetOpts {
        nx: true,
        xx: false,
        get: false,
        expire: ExpireOpt::None,
    };
    set_generic(ctx, 2, &opts, "setnx", SetReply::OneZero)
}

/// SETEX / PSETEX: `key time value`.
fn set_with_expire(ctx: &mut Ctx<'_>, unit: Unit, cmd: &str) -> CmdResult {
    let opts = SetOpts {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOpt::Time(unit, ctx.arg(2)),
    };
    set_generic(ctx, 3, &opts, cmd, SetReply::OkNull)
}

fn setex(ctx: &mut Ctx<'_>) -> CmdResult {
    set_with_expire(ctx, Unit::Ex, "setex")
}

fn psetex(ctx: &mut Ctx<'_>) -> CmdResult {
    set_with_expire(ctx, Unit::Px, "psetex")
}

fn getset(ctx: &mut Ctx<'_>) -> CmdResult {
    let opts = SetOpts {
        nx: false,
        xx: false,
        get: true,
        expire: ExpireOpt::None,
    };
    set_generic(ctx, 2, &opts, "getset", SetReply::OkNull)
}

// ---------------------------------------------------------------------------
// Multi-key: MGET MSET MSETNX
// ---------------------------------------------------------------------------

fn mget(ctx: &mut Ctx<'_>) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let mut txn = ctx.lock_keys(&keys);
    ctx.out.array(keys.len());
    for key in &keys {
        // MGET answers nil for a value of another type, never WRONGTYPE.
        match txn.get(key).map(str_of) {
            Some(Ok(v)) => reply_str(ctx, v),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

/// MSET / MSETNX: pairs from argument 1, all set under one lock.
fn mset_generic(ctx: &mut Ctx<'_>, nx: bool) -> CmdResult {
    // Pairs after the name: an even argc leaves a key without a value.
    if ctx.argc() & 1 == 0 {
        return Err(wrong_arity(if nx { "msetnx" } else { "mset" }));
    }
    let keys = ctx.keys_from(1, 2);
    let mut txn = ctx.lock_keys(&keys);
    if nx && keys.iter().any(|k| txn.lookup(k, Lookup::Write).is_some()) {
        ctx.out.int(0);
        return Ok(());
    }
    for (i, key) in keys.iter().enumerate() {
        drop(txn.set(key, StrValue::Auto(ctx.arg(2 + 2 * i)), Ttl::Clear));
        ctx.notify(events::STRING, "set", key.bytes);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx<'_>) -> CmdResult {
    mset_generic(ctx, false)
}

fn msetnx(ctx: &mut Ctx<'_>) -> CmdResult {
    mset_generic(ctx, true)
}

// ---------------------------------------------------------------------------
// GETDEL GETEX
// ---------------------------------------------------------------------------

fn getdel(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    match txn.get(&key) {
        Some(e) => {
            let v = str_of(e)?;
            reply_str(ctx, v);
        }
        None => {
            ctx.out.null();
            return Ok(());
        }
    }
    ctx.propagate_as([&b"DEL"[..], key.bytes]);
    drop(txn.remove(&key));
    ctx.notify(events::GENERIC, "del", key.bytes);
    Ok(())
}

fn getex(ctx: &mut Ctx<'_>) -> CmdResult {
    let opts = parse_ext(ctx, 2, ExtKind::GetEx)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let now = txn.now;
    let Some(e) = txn.get(&key) else {
        ctx.out.null();
        return Ok(());
    };
    let had_ttl = e.expire_at() != 0;
    let v = str_of(e)?;
    // The time is validated only once the key is known to exist.
    let at = match opts.expire {
        ExpireOpt::Time(u, t) => Some((u, expire_at(t, u, now, "getex")?)),
        _ => None,
    };
    reply_str(ctx, v);
    match (at, opts.expire) {
        // An absolute time already past deletes the key.
        (Some((u, at)), _) if u.is_absolute() && at <= now => {
            ctx.propagate_as([&b"DEL"[..], key.bytes]);
            drop(txn.remove(&key));
            ctx.notify(events::GENERIC, "del", key.bytes);
        }
        (Some((_, at)), _) => {
            let mut b = itoa::Buffer::new();
            ctx.propagate_as([&b"PEXPIREAT"[..], key.bytes, b.format(at).as_bytes()]);
            txn.set_expire(&key, at);
            ctx.notify(events::GENERIC, "expire", key.bytes);
        }
        (None, ExpireOpt::Persist) if had_ttl => {
            ctx.propagate_as([&b"PERSIST"[..], key.bytes]);
            txn.set_expire(&key, 0);
            ctx.notify(events::GENERIC, "persist", key.bytes);
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// APPEND STRLEN GETRANGE SETRANGE
// ---------------------------------------------------------------------------

fn append(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let tail = ctx.arg(2);
    let mut txn = ctx.lock(&key);
    let joined = match txn.lookup(&key, Lookup::Write) {
        None => None,
        Some(e) => {
            let old = str_of(e.into_ref())?;
            check_string_length(ctx, old.len() as u64, tail.len())?;
            let mut ibuf = itoa::Buffer::new();
            let old = old.as_bytes(&mut ibuf);
            let mut v = Vec::with_capacity(old.len() + tail.len());
            v.extend_from_slice(old);
            v.extend_from_slice(tail);
            Some(v)
        }
    };
    let len = match &joined {
        // A new key stores the argument as SET would (int/embstr/raw).
        None => {
            drop(txn.set(&key, StrValue::Auto(tail), Ttl::Clear));
            tail.len()
        }
        Some(v) => {
            txn.update(&key, StrValue::Raw(v));
            v.len()
        }
    };
    ctx.notify(events::STRING, "append", key.bytes);
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = match txn.get(&key) {
        Some(e) => str_of(e)?.len(),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// The byte range GETRANGE returns for `start`/`end` over a string of
/// `len` bytes (Redis's index arithmetic, wrapping included), or None for
/// an empty reply.
fn range_of(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let n = len as i64;
    let mut start = if start < 0 {
        n.wrapping_add(start)
    } else {
        start
    };
    let mut end = if end < 0 { n.wrapping_add(end) } else { end };
    start = start.max(0);
    end = end.max(0);
    if end as u64 >= len as u64 {
        end = n - 1;
    }
    if start > end || len == 0 {
        None
    } else {
        Some((start as usize, end as usize))
    }
}

fn getrange(ctx: &mut Ctx<'_>) -> CmdResult {
    let start = ctx.i64_arg(2)?;
    let end = ctx.i64_arg(3)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(e) = txn.get(&key) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let v = str_of(e)?;
    let mut ibuf = itoa::Buffer::new();
    let s = v.as_bytes(&mut ibuf);
    match range_of(start, end, s.len()) {
        Some((a, b)) => ctx.out.bulk(&s[a..=b]),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_>) -> CmdResult {
    let offset = ctx.i64_arg(2)?;
    if offset < 0 {
        return Err(OFFSET_RANGE);
    }
    let value = ctx.arg(3);
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let existed = match txn.lookup(&key, Lookup::Write) {
        None => None,
        Some(e) => Some(str_of(e.into_ref())?),
    };
    let had = existed.is_some();
    if value.is_empty() {
        // Setting nothing: the current length, no write, no size check.
        ctx.out.int(existed.map_or(0, |v| v.len()) as i64);
        return Ok(());
    }
    // Checked before the (possibly huge) zero padding is allocated.
    check_string_length(ctx, offset as u64, value.len())?;
    let offset = offset as usize;
    let mut ibuf = itoa::Buffer::new();
    let old = existed.as_ref().map_or(&b""[..], |v| v.as_bytes(&mut ibuf));
    let new_len = old.len().max(offset + value.len());
    let mut v = Vec::with_capacity(new_len);
    v.extend_from_slice(old);
    v.resize(new_len, 0);
    v[offset..offset + value.len()].copy_from_slice(value);
    store(&mut txn, &key, had, StrValue::Raw(&v));
    ctx.notify(events::STRING, "setrange", key.bytes);
    ctx.out.int(new_len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// INCR DECR INCRBY DECRBY INCRBYFLOAT
// ---------------------------------------------------------------------------

/// Redis's `incrDecrCommand`: adds `by` to the integer at argument 1.
fn incr_by(ctx: &mut Ctx<'_>, by: i64) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let (new, existed, in_place) = match txn.lookup(&key, Lookup::Write) {
        None => (by, false, false),
        Some(mut e) => {
            let old = int_value(str_of(e.get())?)?;
            let new = old.checked_add(by).ok_or(OVERFLOW)?;
            // An `int` entry is rewritten in place, as Redis does.
            (new, true, e.set_int(new))
        }
    };
    if in_place {
        txn.touch_dirty(&key);
    } else {
        store(&mut txn, &key, existed, StrValue::Int(new));
    }
    ctx.notify(events::STRING, "incrby", key.bytes);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_>) -> CmdResult {
    incr_by(ctx, 1)
}

fn decr(ctx: &mut Ctx<'_>) -> CmdResult {
    incr_by(ctx, -1)
}

fn incrby(ctx: &mut Ctx<'_>) -> CmdResult {
    let by = ctx.i64_arg(2)?;
    incr_by(ctx, by)
}

fn decrby(ctx: &mut Ctx<'_>) -> CmdResult {
    let by = ctx.i64_arg(2)?;
    if by == i64::MIN {
        return Err(DECR_OVERFLOW);
    }
    incr_by(ctx, -by)
}

/// INCRBYFLOAT: both operands as `long double` (emulated exactly, see
/// [`crate::longdouble`]), the sum stored as the text it is printed as.
fn incrbyfloat(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let (cur, existed) = match txn.lookup(&key, Lookup::Write) {
        None => (LongDouble::ZERO, false),
        Some(e) => (float_value(str_of(e.into_ref())?)?, true),
    };
    let by = LongDouble::parse(ctx.arg(2)).ok_or(NOT_FLOAT)?;
    let sum = cur.checked_add(by).ok_or(NAN_OR_INF)?;
    let mut text = Vec::with_capacity(32);
    sum.fmt_human(&mut text);
    ctx.propagate_as([&b"SET"[..], key.bytes, &text, b"KEEPTTL"]);
    store(&mut txn, &key, existed, StrValue::Plain(&text));
    ctx.notify(events::STRING, "incrbyfloat", key.bytes);
    ctx.out.bulk(&text);
    Ok(())
}

// ---------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------

/// One matching run found by the LCS traceback: inclusive byte ranges in
/// each operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LcsRange {
    a: (u32, u32),
    b: (u32, u32),
}

impl LcsRange {
    fn len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }
}

/// Length of the longest common subsequence, in O(|b|) memory.
fn lcs_len(a: &[u8], b: &[u8]) -> u32 {
    let mut prev = vec![0u32; b.len() + 1];
    let mut cur = vec![0u32; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Redis's LCS: the full (|a|+1)x(|b|+1) table, then a traceback from the
/// end that picks the same subsequence and the same ranges as Redis
/// (ranges come out from the end of the strings backwards; those shorter
/// than `min_len` are left out). `table` must hold the table's size.
fn lcs_full(a: &[u8], b: &[u8], table: &mut Vec<u32>, min_len: u64) -> (Vec<u8>, Vec<LcsRange>) {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    table.clear();
    table.resize((alen + 1) * w, 0);
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[alen * w + blen] as usize;
    let mut lcs = vec![0u8; total];
    let mut ranges = Vec::new();
    let mut idx = total;
    // `current` is the range being extended backwards (Redis's
    // arange_start == alen sentinel is None here).
    let mut current: Option<LcsRange> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            lcs[idx - 1] = a[i - 1];
            let (pi, pj) = ((i - 1) as u32, (j - 1) as u32);
            match &mut current {
                None => {
                    current = Some(LcsRange {
                        a: (pi, pi),
                        b: (pj, pj),
                    })
                }
                Some(r) if r.a.0 == i as u32 && r.b.0 == j as u32 => {
                    r.a.0 -= 1;
                    r.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if current.is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(r) = current.take() {
                if min_len == 0 || u64::from(r.len()) >= min_len {
                    ranges.push(r);
                }
            }
        }
    }
    (lcs, ranges)
}

/// A key's string for LCS: missing keys read as "", other types refused.
fn lcs_operand(txn: &mut Txn<'_>, key: &Key<'_>) -> Result<Vec<u8>, CmdError> {
    match txn.get(key) {
        None => Ok(Vec::new()),
        Some(e) => {
            let v = str_of(e).map_err(|_| LCS_TYPE)?;
            let mut ibuf = itoa::Buffer::new();
            Ok(v.as_bytes(&mut ibuf).to_vec())
        }
    }
}

fn lcs(ctx: &mut Ctx<'_>) -> CmdResult {
    let keys = [ctx.key(1), ctx.key(2)];
    let (a, b) = {
        let mut txn = ctx.lock_keys(&keys);
        // Both keys are looked up (and counted) before either is type-checked.
        let a = lcs_operand(&mut txn, &keys[0]);
        let b = lcs_operand(&mut txn, &keys[1]);
        (a?, b?)
    };
    let (mut get_len, mut get_idx, mut with_len) = (false, false, false);
    let mut min_len = 0u64;
    let mut j = 3;
    while j < ctx.argc() {
        if ctx.arg_is(j, "idx") {
            get_idx = true;
        } else if ctx.arg_is(j, "len") {
            get_len = true;
        } else if ctx.arg_is(j, "withmatchlen") {
            with_len = true;
        } else if ctx.arg_is(j, "minmatchlen") && j + 1 < ctx.argc() {
            min_len = ctx.i64_arg(j + 1)?.max(0) as u64;
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if get_len && get_idx {
        return Err(LCS_LEN_AND_IDX);
    }
    let limit = u32::MAX as usize - 1;
    if a.len() >= limit || b.len() >= limit {
        return Err(LCS_TOO_LONG);
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    let max = ctx.shared.hot.proto_max_bulk_len.load(Relaxed);
    if cells.saturating_mul(4) > max {
        return Err(LCS_TABLE_TOO_BIG);
    }
    if get_len {
        ctx.out.int(i64::from(lcs_len(&a, &b)));
        return Ok(());
    }
    let mut table = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(LCS_ALLOC_FAILED);
    }
    let (text, ranges) = lcs_full(&a, &b, &mut table, min_len);
    if !get_idx {
        ctx.out.bulk(&text);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(ranges.len());
    for r in &ranges {
        ctx.out.array(2 + usize::from(with_len));
        for (s, e) in [r.a, r.b] {
            ctx.out.array(2);
            ctx.out.int(i64::from(s));
            ctx.out.int(i64::from(e));
        }
        if with_len {
            ctx.out.int(i64::from(r.len()));
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(text.len() as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(a: &str, b: &str, min: u64) -> (String, Vec<LcsRange>) {
        let mut t = Vec::new();
        let (s, r) = lcs_full(a.as_bytes(), b.as_bytes(), &mut t, min);
        (String::from_utf8(s).unwrap(), r)
    }

    fn range(a: (u32, u32), b: (u32, u32)) -> LcsRange {
        LcsRange { a, b }
    }

    #[test]
    fn lcs_matches_redis_docs() {
        // The example from Redis's LCS documentation.
        let (s, r) = full("ohmytext", "mynewtext", 0);
        assert_eq!(s, "mytext");
        assert_eq!(r, vec![range((4, 7), (5, 8)), range((2, 3), (0, 1))]);
        assert_eq!(r[0].len(), 4);
        let (_, r) = full("ohmytext", "mynewtext", 4);
        assert_eq!(r, vec![range((4, 7), (5, 8))]);
        assert_eq!(lcs_len(b"ohmytext", b"mynewtext"), 6);
    }

    #[test]
    fn lcs_edges() {
        assert_eq!(full("", "abc", 0), (String::new(), vec![]));
        assert_eq!(full("abc", "", 0), (String::new(), vec![]));
        assert_eq!(full("abc", "xyz", 0), (String::new(), vec![]));
        let (s, r) = full("abc", "abc", 0);
        assert_eq!(s, "abc");
        assert_eq!(r, vec![range((0, 2), (0, 2))]);
        for (a, b) in [("ABCBDAB", "BDCABA"), ("aaaa", "aa"), ("xay", "yax")] {
            let (s, _) = full(a, b, 0);
            assert_eq!(s.len() as u32, lcs_len(a.as_bytes(), b.as_bytes()));
        }
    }

    #[test]
    fn getrange_index_arithmetic() {
        assert_eq!(range_of(0, -1, 5), Some((0, 4)));
        assert_eq!(range_of(-1, -5, 5), None);
        assert_eq!(range_of(-100, 2, 5), Some((0, 2)));
        assert_eq!(range_of(3, 1000, 5), Some((3, 4)));
        assert_eq!(range_of(5, 5, 5), None);
        assert_eq!(range_of(0, 0, 0), None);
        assert_eq!(range_of(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(range_of(i64::MAX, i64::MAX, 5), None);
    }

    #[test]
    fn expire_times() {
        assert_eq!(expire_at(b"10", Unit::Ex, 1000, "set"), Ok(11_000));
        assert_eq!(expire_at(b"10", Unit::Px, 1000, "set"), Ok(1010));
        assert_eq!(expire_at(b"10", Unit::ExAt, 1000, "set"), Ok(10_000));
        assert_eq!(expire_at(b"10", Unit::PxAt, 1000, "set"), Ok(10));
        assert_eq!(expire_at(b"x", Unit::Ex, 0, "set"), Err(NOT_INTEGER));
        let bad = Err(CmdError::new("ERR invalid expire time in 'getex' command"));
        assert_eq!(expire_at(b"0", Unit::Ex, 0, "getex"), bad);
        assert_eq!(expire_at(b"9223372036854776", Unit::Ex, 0, "getex"), bad);
        assert_eq!(expire_at(b"9223372036854775807", Unit::Px, 5, "getex"), bad);
    }
}

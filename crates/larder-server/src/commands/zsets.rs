//! Sorted-set commands, with Redis 7.0's `t_zset.c` semantics: ZADD (NX XX
//! GT LT CH INCR) ZINCRBY ZREM ZCARD ZCOUNT ZLEXCOUNT ZSCORE ZMSCORE ZRANK
//! ZREVRANK ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE
//! ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX
//! ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZMPOP
//! ZRANDMEMBER ZUNION ZINTER ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE
//! ZINTERCARD ZSCAN.
//!
//! A sorted set is `listpack` while small, `skiplist` once it passes
//! `zset-max-listpack-entries` or holds a member longer than
//! `zset-max-listpack-value` (`larder_engine::types::zset`). Every range
//! command turns its range (ranks, a score interval, a lex interval) into a
//! window of ranks first, then visits that window once, so the reply length
//! is known before the first element is written and both encodings share
//! one code path. Numbers are parsed as Redis does: scores and weights with
//! `strtod` plus Redis's checks (no NaN, no overflow, no trailing bytes),
//! score ranges with bare `strtod` (where `1e400` is `inf` and an empty
//! bound is 0), and printed with `%.17g`. ZUNION/ZINTER/ZDIFF accept plain
//! sets as inputs (every member scores 1), as Redis does.

use std::collections::HashMap;

use larder_engine::types::set::Set;
use larder_engine::types::zset::{is_packed_integer, AddFlags, AddResult, ZSet};
use larder_engine::{events, Key, Lookup, Txn};
use larder_resp::{Protocol, Reply};
use smallvec::SmallVec;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::coll::{
    cmd, empty_scan, limits, mpop_args, pop_count_arg, rand_count_arg, ranged_arg, scan_cursor,
    scan_reply, ScanOpts,
};
use crate::commands::keys::KeyList;
use crate::error::{CmdError, CmdResult, NOT_FLOAT, SYNTAX, WRONGTYPE};

const ONE: (i32, i32, i32) = (1, 1, 1);
const NONE: (i32, i32, i32) = (0, 0, 0);

pub const COMMANDS: &[Command] = &[
    cmd(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write sortedset fast",
        zadd,
    ),
    cmd(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        ONE,
        "write sortedset fast",
        zincrby,
    ),
    cmd("zrem", -3, WRITE | FAST, ONE, "write sortedset fast", zrem),
    cmd(
        "zcard",
        2,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zcard,
    ),
    cmd(
        "zcount",
        4,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zcount,
    ),
    cmd(
        "zlexcount",
        4,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zlexcount,
    ),
    cmd(
        "zscore",
        3,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zscore,
    ),
    cmd(
        "zmscore",
        -3,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zmscore,
    ),
    cmd(
        "zrank",
        3,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zrank,
    ),
    cmd(
        "zrevrank",
        3,
        READONLY | FAST,
        ONE,
        "read sortedset fast",
        zrevrank,
    ),
    cmd("zrange", -4, READONLY, ONE, "read sortedset slow", zrange),
    cmd(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        "write sortedset slow",
        zrangestore,
    ),
    cmd(
        "zrevrange",
        -4,
        READONLY,
        ONE,
        "read sortedset slow",
        zrevrange,
    ),
    cmd(
        "zrangebyscore",
        -4,
        READONLY,
        ONE,
        "read sortedset slow",
        zrangebyscore,
    ),
    cmd(
        "zrevrangebyscore",
        -4,
        READONLY,
        ONE,
        "read sortedset slow",
        zrevrangebyscore,
    ),
    cmd(
        "zrangebylex",
        -4,
        READONLY,
        ONE,
        "read sortedset slow",
        zrangebylex,
    ),
    cmd(
        "zrevrangebylex",
        -4,
        READONLY,
        ONE,
        "read sortedset slow",
        zrevrangebylex,
    ),
    cmd(
        "zremrangebyrank",
        4,
        WRITE,
        ONE,
        "write sortedset slow",
        zremrangebyrank,
    ),
    cmd(
        "zremrangebyscore",
        4,
        WRITE,
        ONE,
        "write sortedset slow",
        zremrangebyscore,
    ),
    cmd(
        "zremrangebylex",
        4,
        WRITE,
        ONE,
        "write sortedset slow",
        zremrangebylex,
    ),
    cmd(
        "zpopmin",
        -2,
        WRITE | FAST,
        ONE,
        "write sortedset fast",
        zpopmin,
    ),
    cmd(
        "zpopmax",
        -2,
        WRITE | FAST,
        ONE,
        "write sortedset fast",
        zpopmax,
    ),
    cmd("zmpop", -4, WRITE, NONE, "write sortedset slow", zmpop),
    cmd(
        "zrandmember",
        -2,
        READONLY,
        ONE,
        "read sortedset slow",
        zrandmember,
    ),
    cmd("zunion", -3, READONLY, NONE, "read sortedset slow", zunion),
    cmd("zinter", -3, READONLY, NONE, "read sortedset slow", zinter),
    cmd("zdiff", -3, READONLY, NONE, "read sortedset slow", zdiff),
    cmd(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        ONE,
        "write sortedset slow",
        zunionstore,
    ),
    cmd(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        ONE,
        "write sortedset slow",
        zinterstore,
    ),
    cmd(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        ONE,
        "write sortedset slow",
        zdiffstore,
    ),
    cmd(
        "zintercard",
        -3,
        READONLY,
        NONE,
        "read sortedset slow",
        zintercard,
    ),
    cmd("zscan", -3, READONLY, ONE, "read sortedset slow", zscan),
];

const NAN_ERR: CmdError = CmdError::new("ERR resulting score is not a number (NaN)");
const RANGE_ERR: CmdError = CmdError::new("ERR min or max is not a float");
const LEX_ERR: CmdError = CmdError::new("ERR min or max not valid string range item");

// ---------------------------------------------------------------------------
// Number parsing: C's strtod and Redis's checks around it
// ---------------------------------------------------------------------------

fn is_c_space(c: u8) -> bool {
    c == b' ' || (b'\t'..=b'\r').contains(&c)
}

/// What C's `strtod` does with the C string in `s` (up to a NUL): the value,
/// the bytes consumed (0 when nothing converts) and whether it set ERANGE
/// with an infinite or zero result.
fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let body = i;
    let neg = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    let sign = if neg { -1.0 } else { 1.0 };
    if starts(b"infinity") {
        return (sign * f64::INFINITY, i + 8, false);
    }
    if starts(b"inf") {
        return (sign * f64::INFINITY, i + 3, false);
    }
    if starts(b"nan") {
        let mut n = i + 3;
        if s.get(n) == Some(&b'(') {
            if let Some(close) = s[n..].iter().position(|&c| c == b')') {
                if s[n + 1..n + close]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    n += close + 1;
                }
            }
        }
        return (f64::NAN, n, false);
    }
    if starts(b"0x")
        && rest.get(2).is_some_and(|c| {
            c.is_ascii_hexdigit() || *c == b'.' && rest.get(3).is_some_and(u8::is_ascii_hexdigit)
        })
    {
        let (v, n) = hex_float(&rest[2..]);
        let v = sign * v;
        return (v, i + 2 + n, v.is_infinite());
    }
    // Decimal: digits [. digits] [(e|E) [sign] digits]
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(i);
    let mut j = i + int;
    let mut frac = 0;
    if s.get(j) == Some(&b'.') {
        frac = digits(j + 1);
        if int + frac > 0 {
            j += 1 + frac;
        }
    }
    if int + frac == 0 {
        return (0.0, 0, false);
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let e = digits(k);
        if e > 0 {
            j = k + e;
        }
    }
    let text = std::str::from_utf8(&s[body..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    let mantissa_nonzero = s[i..j]
        .iter()
        .take_while(|c| !matches!(c, b'e' | b'E'))
        .any(|c| (b'1'..=b'9').contains(c));
    let erange = v.is_infinite() || (v == 0.0 && mantissa_nonzero);
    (v, j, erange)
}

/// A hexadecimal float body after `0x`: (value, bytes consumed).
fn hex_float(s: &[u8]) -> (f64, usize) {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut i = 0;
    let mut seen_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            if mant >> 60 == 0 {
                mant = mant << 4 | u64::from(d);
                if seen_point {
                    exp -= 4;
                }
            } else if !seen_point {
                exp += 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut k = i + 1;
        let neg = s.get(k) == Some(&b'-');
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let n = s[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            let e: i64 = std::str::from_utf8(&s[k..k + n])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(i64::MAX / 2);
            exp += if neg { -e } else { e };
            i = k + n;
        }
    }
    let v = mant as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    (v, i)
}

/// Redis's getDoubleFromObject: all of `s` is a number, no leading space,
/// not NaN, no overflow or underflow to zero.
pub(crate) fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, n, erange) = strtod(s);
    (n == s.len() && !erange && !v.is_nan()).then_some(v)
}

/// A score interval (Redis's zrangespec).
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

/// One bound of zslParseRange: `(` for exclusive, then bare strtod.
fn parse_bound(s: &[u8]) -> Option<(f64, bool)> {
    let (ex, body) = match s.first() {
        Some(b'(') => (true, &s[1..]),
        _ => (false, s),
    };
    let (v, n, _) = strtod(body);
    let cstr = body.iter().position(|&c| c == 0).unwrap_or(body.len());
    (n == cstr && !v.is_nan()).then_some((v, ex))
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let (min, minex) = parse_bound(min).ok_or(RANGE_ERR)?;
        let (max, maxex) = parse_bound(max).ok_or(RANGE_ERR)?;
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// First and last rank in range (Redis's zslFirstInRange / LastInRange).
    fn ranks(&self, z: &ZSet) -> Option<(usize, usize)> {
        if self.min > self.max || (self.min == self.max && (self.minex || self.maxex)) {
            return None;
        }
        let first = z.first_not(|s, _| !self.gte_min(s))?;
        let last = z.last_where(|s, _| self.lte_max(s))?;
        (first <= last).then_some((first, last))
    }
}

/// A lex bound: `-`, `+`, `[x` or `(x`.
#[derive(Clone, Copy)]
enum Lex<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

impl<'a> Lex<'a> {
    fn parse(s: &'a [u8]) -> Result<Lex<'a>, CmdError> {
        match s.first() {
            Some(b'+') if s.len() == 1 => Ok(Lex::Max),
            Some(b'-') if s.len() == 1 => Ok(Lex::Min),
            Some(b'(') => Ok(Lex::Excl(&s[1..])),
            Some(b'[') => Ok(Lex::Incl(&s[1..])),
            _ => Err(LEX_ERR),
        }
    }

    fn exclusive(self) -> bool {
        !matches!(self, Lex::Incl(_))
    }

    /// Redis's sdscmplex of a member against this bound.
    fn cmp_member(self, m: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            Lex::Min => Greater,
            Lex::Max => Less,
            Lex::Incl(b) | Lex::Excl(b) => m.cmp(b),
        }
    }
}

#[derive(Clone, Copy)]
struct LexRange<'a> {
    min: Lex<'a>,
    max: Lex<'a>,
}

impl<'a> LexRange<'a> {
    fn parse(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
        Ok(LexRange {
            min: Lex::parse(min)?,
            max: Lex::parse(max)?,
        })
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        let c = self.min.cmp_member(m);
        if self.min.exclusive() {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        let c = self.max.cmp_member(m);
        if self.max.exclusive() {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let c = match (self.min, self.max) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
            (Lex::Min, _) | (_, Lex::Max) => Less,
            (Lex::Max, _) | (_, Lex::Min) => Greater,
            (Lex::Incl(a) | Lex::Excl(a), Lex::Incl(b) | Lex::Excl(b)) => a.cmp(b),
        };
        c.is_gt() || (c.is_eq() && (self.min.exclusive() || self.max.exclusive()))
    }

    fn ranks(&self, z: &ZSet) -> Option<(usize, usize)> {
        if self.is_empty() {
            return None;
        }
        let first = z.first_not(|_, m| !self.gte_min(m))?;
        let last = z.last_where(|_, m| self.lte_max(m))?;
        (first <= last).then_some((first, last))
    }
}

/// Redis's rank normalisation (ZRANGE, ZREMRANGEBYRANK): `None` if empty.
fn norm_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
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

/// Writes one element of a range reply (`withscores`: RESP3 pairs are
/// nested arrays, RESP2 flat).
fn emit(out: &mut Reply<'_>, m: &[u8], s: f64, withscores: bool) {
    if withscores && out.proto == Protocol::Resp3 {
        out.array(2);
    }
    out.bulk(m);
    if withscores {
        out.double(s);
    }
}

/// The array header for `n` elements of a range reply.
fn emit_header(out: &mut Reply<'_>, n: usize, withscores: bool) {
    if withscores && out.proto == Protocol::Resp2 {
        out.array(n * 2);
    } else {
        out.array(n);
    }
}

// ---------------------------------------------------------------------------
// ZADD ZINCRBY ZREM and point reads
// ---------------------------------------------------------------------------

/// zaddGenericCommand: ZADD, and ZINCRBY (`incr` preset).
fn zadd_generic(ctx: &mut Ctx<'_>, incr: bool) -> CmdResult {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut i = 2;
    while i < ctx.argc() {
        if ctx.arg_is(i, "nx") {
            f.nx = true;
        } else if ctx.arg_is(i, "xx") {
            f.xx = true;
        } else if ctx.arg_is(i, "ch") {
            ch = true;
        } else if ctx.arg_is(i, "incr") {
            f.incr = true;
        } else if ctx.arg_is(i, "gt") {
            f.gt = true;
        } else if ctx.arg_is(i, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = ctx.argc() - i;
    if elements % 2 == 1 || elements == 0 {
        return Err(SYNTAX);
    }
    if f.nx && f.xx {
        return Err(CmdError::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements > 2 {
        return Err(CmdError::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores: SmallVec<[f64; 8]> = (i..ctx.argc())
        .step_by(2)
        .map(|j| parse_score(ctx.arg(j)).ok_or(NOT_FLOAT))
        .collect::<Result<_, _>>()?;
    zadd_apply(ctx, f, ch, &scores, (i + 1, 2))
}

/// The write half of zaddGenericCommand, shared with GEOADD: adds member
/// argument `first + k * stride` with `scores[k]` to the set at argument 1
/// under `f`, notifies, and replies as ZADD (or ZINCRBY with `f.incr`).
pub(crate) fn zadd_apply(
    ctx: &mut Ctx<'_>,
    f: AddFlags,
    ch: bool,
    scores: &[f64],
    (first, stride): (usize, usize),
) -> CmdResult {
    let key = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock(&key);
    let z = if f.xx {
        txn.write_obj::<ZSet>(&key)?
    } else {
        Some(txn.write_obj_or_insert(&key, ZSet::new)?)
    };
    let (mut added, mut updated, mut processed) = (0, 0, 0);
    let mut last = 0.0;
    if let Some(z) = z {
        for (k, &score) in scores.iter().enumerate() {
            let m = ctx.arg(first + stride * k);
            match z.add(m, score, f, &lim).map_err(|_| NAN_ERR)? {
                AddResult::Nop => {}
                AddResult::Added(s) => (added, processed, last) = (added + 1, processed + 1, s),
                AddResult::Updated(s) => {
                    (updated, processed, last) = (updated + 1, processed + 1, s)
                }
                AddResult::Same(s) => (processed, last) = (processed + 1, s),
            }
        }
        if added + updated > 0 {
            txn.touch_dirty(&key);
            ctx.notify(
                events::ZSET,
                if f.incr { "zincr" } else { "zadd" },
                key.bytes,
            );
        }
    }
    drop(txn);
    if f.incr {
        if processed > 0 {
            ctx.out.double(last);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

fn zadd(ctx: &mut Ctx<'_>) -> CmdResult {
    zadd_generic(ctx, false)
}

fn zincrby(ctx: &mut Ctx<'_>) -> CmdResult {
    zadd_generic(ctx, true)
}

fn zrem(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let mut removed = 0;
    if let Some(z) = txn.write_obj::<ZSet>(&key)? {
        for i in 2..ctx.argc() {
            if z.remove(ctx.arg(i)) {
                removed += 1;
                if z.is_empty() {
                    break;
                }
            }
        }
        if removed > 0 {
            txn.touch_dirty(&key);
            ctx.notify(events::ZSET, "zrem", key.bytes);
            txn.remove_if_empty(&key);
        }
    }
    drop(txn);
    ctx.out.int(removed);
    Ok(())
}

fn zcard(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn
        .read_obj::<ZSet>(&key, Lookup::Read)?
        .map_or(0, ZSet::len);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    match txn
        .read_obj::<ZSet>(&key, Lookup::Read)?
        .and_then(|z| z.score(ctx.arg(2)))
    {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let z = txn.read_obj::<ZSet>(&key, Lookup::Read)?;
    ctx.out.array(ctx.argc() - 2);
    for i in 2..ctx.argc() {
        match z.and_then(|z| z.score(ctx.arg(i))) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx<'_>, rev: bool) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let r = txn
        .read_obj::<ZSet>(&key, Lookup::Read)?
        .and_then(|z| Some((z.rank(ctx.arg(2))?, z.len())));
    drop(txn);
    match r {
        Some((r, n)) => ctx.out.int(if rev { n - 1 - r } else { r } as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_>) -> CmdResult {
    rank_generic(ctx, false)
}

fn zrevrank(ctx: &mut Ctx<'_>) -> CmdResult {
    rank_generic(ctx, true)
}

fn zcount(ctx: &mut Ctx<'_>) -> CmdResult {
    let range = ScoreRange::parse(ctx.arg(2), ctx.arg(3))?;
    count_generic(ctx, |z| range.ranks(z))
}

fn zlexcount(ctx: &mut Ctx<'_>) -> CmdResult {
    let range = LexRange::parse(ctx.arg(2), ctx.arg(3))?;
    count_generic(ctx, |z| range.ranks(z))
}

fn count_generic(ctx: &mut Ctx<'_>, ranks: impl Fn(&ZSet) -> Option<(usize, usize)>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn
        .read_obj::<ZSet>(&key, Lookup::Read)?
        .and_then(ranks)
        .map_or(0, |(a, b)| b - a + 1);
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// The ZRANGE family
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// A parsed range, before the key is looked up.
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// The ranks a range selects in `z`, in visiting order: `(from, to, rev)`
/// with `from <= to` ascending ranks, or None when empty.
fn window(
    z: &ZSet,
    range: &Range<'_>,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Option<(usize, usize)> {
    let len = z.len();
    let (first, last) = match range {
        Range::Rank(s, e) => {
            let (s, e) = norm_ranks(*s, *e, len)?;
            return Some(if rev {
                (len - 1 - e, len - 1 - s)
            } else {
                (s, e)
            });
        }
        Range::Score(r) => r.ranks(z)?,
        Range::Lex(r) => r.ranks(z)?,
    };
    // Redis skips `offset` elements one by one: a negative offset skips
    // everything; a negative limit means no limit.
    if offset < 0 || offset as u64 > (last - first) as u64 {
        return None;
    }
    let offset = offset as usize;
    let span = if limit < 0 {
        usize::MAX
    } else if limit == 0 {
        return None;
    } else {
        limit as usize
    };
    Some(if rev {
        let top = last - offset;
        (top.saturating_sub(span - 1).max(first), top)
    } else {
        let lo = first + offset;
        (lo, lo.saturating_add(span - 1).min(last))
    })
}

/// zrangeGenericCommand: `src` is the source key's argument index; `dst`
/// the destination's for ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    src: usize,
    store: bool,
    mut rtype: RangeType,
    mut dir: Direction,
) -> CmdResult {
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut limit_given = false;
    let mut j = src + 3;
    while j < ctx.argc() {
        let left = ctx.argc() - j - 1;
        if !store && ctx.arg_is(j, "withscores") {
            withscores = true;
        } else if ctx.arg_is(j, "limit") && left >= 2 {
            offset = ctx.i64_arg(j + 1)?;
            limit = ctx.i64_arg(j + 2)?;
            limit_given = true;
            j += 2;
        } else if dir == Direction::Auto && ctx.arg_is(j, "rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && ctx.arg_is(j, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && ctx.arg_is(j, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let rev = dir == Direction::Reverse;
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit_given && limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::new(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (src + 1, src + 2);
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let range = match rtype {
        RangeType::Score => Range::Score(ScoreRange::parse(ctx.arg(lo), ctx.arg(hi))?),
        RangeType::Lex => Range::Lex(LexRange::parse(ctx.arg(lo), ctx.arg(hi))?),
        _ => Range::Rank(ctx.i64_arg(lo)?, ctx.i64_arg(hi)?),
    };
    let key = ctx.key(src);
    if !store {
        let mut txn = ctx.lock(&key);
        let Some(z) = txn.read_obj::<ZSet>(&key, Lookup::Read)? else {
            ctx.out.array(0);
            return Ok(());
        };
        match window(z, &range, rev, offset, limit) {
            None => ctx.out.array(0),
            Some((from, to)) => {
                emit_header(&mut ctx.out, to - from + 1, withscores);
                z.range(from, to, rev, |m, s| emit(&mut ctx.out, m, s, withscores));
            }
        }
        return Ok(());
    }
    let dst = ctx.key(1);
    let lim = limits(ctx);
    let mut txn = ctx.lock_keys(&[dst, key]);
    txn.lookup(&key, Lookup::Read);
    let mut items: Vec<(Vec<u8>, f64)> = Vec::new();
    if let Some(z) = txn.obj_ref::<ZSet>(&key)? {
        // The window's ranks are ascending whichever way it was selected.
        if let Some((from, to)) = window(z, &range, rev, offset, limit) {
            z.range(from, to, false, |m, s| items.push((m.to_vec(), s)));
        }
    }
    store_result(ctx, &mut txn, &dst, &items, &lim, "zrangestore");
    Ok(())
}

/// Stores `items` (sorted) under `dst` with the keyspace event `event`, or
/// deletes `dst` when there are none; replies with the count.
pub(crate) fn store_result(
    ctx: &mut Ctx<'_>,
    txn: &mut Txn<'_>,
    dst: &Key<'_>,
    items: &[(Vec<u8>, f64)],
    lim: &larder_engine::Limits,
    event: &str,
) {
    let old = if items.is_empty() {
        let old = txn.remove(dst);
        if old.is_some() {
            ctx.notify(events::GENERIC, "del", dst.bytes);
        }
        old
    } else {
        let old = txn.set_object(dst, ZSet::from_sorted(items, lim));
        ctx.notify(events::ZSET, event, dst.bytes);
        old
    };
    drop(old);
    ctx.out.int(items.len() as i64);
}

fn zrange(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Auto, Direction::Auto)
}

fn zrangestore(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 2, true, RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Lex, Direction::Reverse)
}

/// ZREMRANGEBYRANK / BYSCORE / BYLEX (zremrangeGenericCommand).
fn zremrange_generic(ctx: &mut Ctx<'_>, range: Range<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(z) = txn.write_obj::<ZSet>(&key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = match window(z, &range, false, 0, -1) {
        Some((from, to)) => z.remove_range(from, to),
        None => 0,
    };
    if removed > 0 {
        txn.touch_dirty(&key);
        let event = match range {
            Range::Rank(..) => "zremrangebyrank",
            Range::Score(_) => "zremrangebyscore",
            Range::Lex(_) => "zremrangebylex",
        };
        ctx.notify(events::ZSET, event, key.bytes);
        txn.remove_if_empty(&key);
    }
    drop(txn);
    ctx.out.int(removed as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx<'_>) -> CmdResult {
    let range = Range::Rank(ctx.i64_arg(2)?, ctx.i64_arg(3)?);
    zremrange_generic(ctx, range)
}

fn zremrangebyscore(ctx: &mut Ctx<'_>) -> CmdResult {
    let range = Range::Score(ScoreRange::parse(ctx.arg(2), ctx.arg(3))?);
    zremrange_generic(ctx, range)
}

fn zremrangebylex(ctx: &mut Ctx<'_>) -> CmdResult {
    let range = Range::Lex(LexRange::parse(ctx.arg(2), ctx.arg(3))?);
    zremrange_generic(ctx, range)
}

// ---------------------------------------------------------------------------
// Pops and random members
// ---------------------------------------------------------------------------

/// ZPOPMIN / ZPOPMAX key [count].
fn zpop_generic(ctx: &mut Ctx<'_>, max: bool) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(SYNTAX);
    }
    let count = pop_count_arg(ctx)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(z) = txn.write_obj::<ZSet>(&key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        ctx.out.array(0);
        return Ok(());
    }
    // RESP3 with a count: nested pairs; otherwise a flat array.
    let nested = count.is_some() && ctx.out.proto == Protocol::Resp3;
    let n = count.unwrap_or(1).min(z.len());
    ctx.out.array(if nested { n } else { n * 2 });
    pop_into(&mut ctx.out, z, max, n, nested);
    txn.touch_dirty(&key);
    ctx.notify(events::ZSET, pop_event(max), key.bytes);
    txn.remove_if_empty(&key);
    Ok(())
}

/// The keyspace event of ZPOPMIN / ZPOPMAX (and ZMPOP, BZPOP*).
pub(crate) fn pop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

pub(crate) fn pop_into(out: &mut Reply<'_>, z: &mut ZSet, max: bool, n: usize, nested: bool) {
    for _ in 0..n {
        if let Some((m, s)) = z.pop(max) {
            if nested {
                out.array(2);
            }
            out.bulk(&m);
            out.double(s);
        }
    }
}

fn zpopmin(ctx: &mut Ctx<'_>) -> CmdResult {
    zpop_generic(ctx, false)
}

fn zpopmax(ctx: &mut Ctx<'_>) -> CmdResult {
    zpop_generic(ctx, true)
}

fn zmpop(ctx: &mut Ctx<'_>) -> CmdResult {
    zmpop_generic(ctx, 1)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count], with `numkeys` at
/// argument `nk`; BZMPOP (`nk` = 2, its timeout at 1) blocks when every
/// sorted set is empty.
pub(crate) fn zmpop_generic(ctx: &mut Ctx<'_>, nk: usize) -> CmdResult {
    let (max, where_idx, count) = mpop_args(ctx, nk, |ctx, i| {
        if ctx.arg_is(i, "min") {
            Ok(false)
        } else if ctx.arg_is(i, "max") {
            Ok(true)
        } else {
            Err(SYNTAX)
        }
    })?;
    let timeout = crate::blocking::timeout_if_blocking(ctx, nk)?;
    let keys: Vec<Key<'_>> = (nk + 1..where_idx).map(|i| ctx.key(i)).collect();
    let mut txn = ctx.lock_keys(&keys);
    for key in &keys {
        let Some(z) = txn.write_obj::<ZSet>(key)? else {
            continue;
        };
        let n = count.unwrap_or(1).min(z.len());
        ctx.out.array(2);
        ctx.out.bulk(key.bytes);
        ctx.out.array(n);
        pop_into(&mut ctx.out, z, max, n, true);
        let mut b = itoa::Buffer::new();
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        // As Redis 7.0: the count actually popped.
        ctx.propagate_as([name, key.bytes, b.format(n).as_bytes()]);
        txn.touch_dirty(key);
        ctx.notify(events::ZSET, pop_event(max), key.bytes);
        txn.remove_if_empty(key);
        return Ok(());
    }
    drop(txn);
    crate::blocking::block(ctx, nk + 1..where_idx, timeout, |out| out.null_array());
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]].
fn zrandmember(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    if ctx.argc() == 2 {
        let mut txn = ctx.lock(&key);
        match txn
            .read_obj::<ZSet>(&key, Lookup::Read)?
            .and_then(ZSet::random)
        {
            Some((m, _)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let count = rand_count_arg(ctx)?;
    let withscores = match ctx.argc() {
        3 => false,
        4 if ctx.arg_is(3, "withscores") => true,
        _ => return Err(SYNTAX),
    };
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::new("ERR value is out of range"));
    }
    let mut txn = ctx.lock(&key);
    let Some(z) = txn.read_obj::<ZSet>(&key, Lookup::Read)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        emit_header(&mut ctx.out, n, withscores);
        for _ in 0..n {
            if ctx.reply_over_limit() {
                break;
            }
            if let Some((m, s)) = z.random() {
                emit(&mut ctx.out, m, s, withscores);
            }
        }
        return Ok(());
    }
    let len = z.len();
    if count as usize >= len {
        // The whole set, highest first, as Redis replies.
        emit_header(&mut ctx.out, len, withscores);
        z.range(0, len - 1, true, |m, s| {
            emit(&mut ctx.out, m, s, withscores)
        });
        return Ok(());
    }
    let count = count as usize;
    let mut all: Vec<(&[u8], f64)> = z.iter().collect();
    for i in 0..count {
        let j = i + (larder_engine::rng::next() % (all.len() - i) as u64) as usize;
        all.swap(i, j);
    }
    emit_header(&mut ctx.out, count, withscores);
    for (m, s) in &all[..count] {
        emit(&mut ctx.out, m, *s, withscores);
    }
    Ok(())
}

fn zscan(ctx: &mut Ctx<'_>) -> CmdResult {
    let cursor = scan_cursor(ctx)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(z) = txn.read_obj::<ZSet>(&key, Lookup::Read)? else {
        empty_scan(ctx);
        return Ok(());
    };
    let opts = ScanOpts::parse(ctx)?;
    let mut items = KeyList::new();
    let mut num = Vec::with_capacity(24);
    // A listpack shows its scores as stored: integral ones as integers.
    let packed = matches!(z, ZSet::Pack(_));
    let next = z.scan(cursor, opts.count, |m, s| {
        if opts.matches(m) {
            items.push(m);
            num.clear();
            if packed && is_packed_integer(s) {
                num.extend_from_slice(itoa::Buffer::new().format(s as i64).as_bytes());
            } else {
                larder_resp::number::fmt_double_g17(s, &mut num);
            }
            items.push(&num);
        }
    });
    drop(txn);
    scan_reply(ctx, next, &items);
    Ok(())
}

// ---------------------------------------------------------------------------
// ZUNION ZINTER ZDIFF (+STORE) ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// zunionInterAggregate (a NaN sum becomes 0).
    fn apply(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if v < *target {
                    *target = v;
                }
            }
            Aggregate::Max => {
                if v > *target {
                    *target = v;
                }
            }
        }
    }
}

/// An input of the set operations: a sorted set, a plain set (scores 1) or
/// a missing key (empty).
#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    Set(&'a Set),
    Z(&'a ZSet),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Set(s) => s.len(),
            Src::Z(z) => z.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Set(s) => s.contains(m).then_some(1.0),
            Src::Z(z) => z.score(m),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::Set(s) => s.for_each(|m| f(m, 1.0)),
            Src::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
        }
    }
}

/// The source of `key` (already looked up by this command).
fn src_of<'t>(txn: &'t Txn<'_>, key: &Key<'_>) -> Result<Src<'t>, CmdError> {
    let Some(e) = txn.get_ref(key) else {
        return Ok(Src::Missing);
    };
    match e.object() {
        Some(larder_engine::Object::Set(s)) => Ok(Src::Set(s)),
        Some(larder_engine::Object::ZSet(z)) => Ok(Src::Z(z)),
        _ => Err(WRONGTYPE),
    }
}

/// zunionInterDiffGenericCommand. `numkeys_idx` is where numkeys is; the
/// destination (store forms) is argument 1.
fn zsetop_generic(
    ctx: &mut Ctx<'_>,
    numkeys_idx: usize,
    store: bool,
    op: SetOp,
    card: bool,
) -> CmdResult {
    let setnum = ctx.i64_arg(numkeys_idx)?;
    if setnum < 1 {
        return Err(CmdError::owned(format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(ctx.arg(0)).to_ascii_lowercase()
        )));
    }
    if setnum as u64 > (ctx.argc() - numkeys_idx - 1) as u64 {
        return Err(SYNTAX);
    }
    let setnum = setnum as usize;
    let first = numkeys_idx + 1;
    let mut keys: Vec<Key<'_>> = (first..first + setnum).map(|i| ctx.key(i)).collect();
    if store {
        keys.push(ctx.key(1));
    }
    let lim = limits(ctx);
    let mut txn = ctx.lock_keys(&keys);
    let how = if store { Lookup::Write } else { Lookup::Read };
    for k in &keys[..setnum] {
        txn.lookup(k, how);
    }
    let mut srcs: Vec<(Src<'_>, f64)> = keys[..setnum]
        .iter()
        .map(|k| src_of(&txn, k).map(|s| (s, 1.0)))
        .collect::<Result<_, _>>()?;
    // Options.
    let (mut aggregate, mut withscores, mut limit) = (Aggregate::Sum, false, 0usize);
    let mut j = first + setnum;
    while j < ctx.argc() {
        let remaining = ctx.argc() - j;
        if op != SetOp::Diff && !card && remaining > setnum && ctx.arg_is(j, "weights") {
            for (k, src) in srcs.iter_mut().enumerate() {
                src.1 = parse_score(ctx.arg(j + 1 + k))
                    .ok_or(CmdError::new("ERR weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !card && remaining >= 2 && ctx.arg_is(j, "aggregate") {
            aggregate = if ctx.arg_is(j + 1, "sum") {
                Aggregate::Sum
            } else if ctx.arg_is(j + 1, "min") {
                Aggregate::Min
            } else if ctx.arg_is(j + 1, "max") {
                Aggregate::Max
            } else {
                return Err(SYNTAX);
            };
            j += 2;
        } else if !store && !card && ctx.arg_is(j, "withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && ctx.arg_is(j, "limit") {
            limit = ranged_arg(ctx, j + 1, 0, i64::MAX, "ERR LIMIT can't be negative")? as usize;
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    if op != SetOp::Diff {
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut items: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            if let Some(((first_src, w0), rest)) = srcs.split_first() {
                let mut done = false;
                first_src.for_each(|m, s| {
                    if done {
                        return;
                    }
                    let mut score = weighted(s, *w0);
                    for (src, w) in rest {
                        match src.score(m) {
                            Some(v) => aggregate.apply(&mut score, v * w),
                            None => return,
                        }
                    }
                    if card {
                        cardinality += 1;
                        done = limit != 0 && cardinality >= limit;
                    } else {
                        items.push((m.to_vec(), score));
                    }
                });
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let v = weighted(s, *w);
                    match acc.get_mut(m) {
                        Some(t) => aggregate.apply(t, v),
                        None => {
                            acc.insert(m.to_vec(), v);
                        }
                    }
                });
            }
            items = acc.into_iter().collect();
        }
        SetOp::Diff => {
            if let Some(((first_src, _), rest)) = srcs.split_first() {
                first_src.for_each(|m, s| {
                    if rest.iter().all(|(o, _)| o.score(m).is_none()) {
                        items.push((m.to_vec(), s));
                    }
                });
            }
        }
    }
    drop(srcs);
    if card {
        drop(txn);
        ctx.out.int(cardinality as i64);
        return Ok(());
    }
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    if store {
        let dst = keys[setnum];
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        store_result(ctx, &mut txn, &dst, &items, &lim, event);
        return Ok(());
    }
    drop(txn);
    emit_header(&mut ctx.out, items.len(), withscores);
    for (m, s) in &items {
        emit(&mut ctx.out, m, *s, withscores);
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 1, false, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 1, false, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 1, false, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 2, true, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 2, true, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 2, true, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx<'_>) -> CmdResult {
    zsetop_generic(ctx, 1, false, SetOp::Inter, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_c() {
        assert_eq!(strtod(b"1.5"), (1.5, 3, false));
        assert_eq!(strtod(b"  -2e3x"), (-2000.0, 6, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b".5"), (0.5, 2, false));
        assert_eq!(strtod(b"."), (0.0, 0, false));
        assert_eq!(strtod(b""), (0.0, 0, false));
        assert_eq!(strtod(b"+inf"), (f64::INFINITY, 4, false));
        assert_eq!(strtod(b"-Infinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"0x1p4"), (16.0, 5, false));
        assert_eq!(strtod(b"0x"), (0.0, 1, false));
        assert!(strtod(b"1e400").2);
        assert!(strtod(b"1e-400").2);
        assert!(!strtod(b"0e-400").2);
        assert!(strtod(b"nan").0.is_nan());
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_bound(b"(1e400"), Some((f64::INFINITY, true)));
        assert_eq!(parse_bound(b""), Some((0.0, false)));
        assert_eq!(parse_bound(b" 5"), Some((5.0, false)));
        assert_eq!(parse_bound(b"5 "), None);
    }
}

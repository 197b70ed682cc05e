//! SORT and SORT_RO, as Redis 7.0's `sort.c`: sort the elements of a list,
//! set or sorted set (numerically, or with ALPHA byte-wise), optionally by the values
//! of other keys (`BY weight_*`, `BY h_*->field`), fetch other keys per
//! element (`GET #`, `GET obj_*`, `GET h_*->field`), window with LIMIT, and
//! reply or STORE the result as a list.
//!
//! BY and GET patterns name arbitrary keys, so the command locks every shard
//! of the database (`Engine::lock_all`) for its whole run. The elements are
//! copied out into a vector of (element, sort key) pairs and sorted with a
//! stable sort, which orders equal keys as glibc's merge-sort `qsort` does.
//! Numeric sort keys are parsed like C's `strtod` (leading blanks, hex,
//! `inf`), and ties fall back to comparing the elements, as Redis does.
//! ALPHA compares bytes (Redis's `strcoll` in the C locale).
//!
//! Lists, sets and sorted sets can be sorted; other types get WRONGTYPE.

use std::cmp::Ordering;

use larder_engine::types::list::{End, List};
use larder_engine::types::zset::ZSet;
use larder_engine::{events, Key, Limits, Lookup, Object, Txn};

use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult, SYNTAX, WRONGTYPE};

use super::coll::limits;
use super::strings::str_of;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "sort",
        arity: -2,
        flags: WRITE | DENYOOM,
        keys: (1, 1, 1),
        acl: "write set sortedset list slow dangerous",
        handler: sort,
        subcommands: &[],
    },
    Command {
        name: "sort_ro",
        arity: -2,
        flags: READONLY,
        keys: (1, 1, 1),
        acl: "read set sortedset list slow dangerous",
        handler: sort_ro,
        subcommands: &[],
    },
];

const NOT_DOUBLE: CmdError = CmdError::new("ERR One or more scores can't be converted into double");

/// The options of one SORT call, as parsed.
struct SortOpts<'a> {
    desc: bool,
    alpha: bool,
    limit: (i64, i64),
    by: Option<&'a [u8]>,
    /// BY with a pattern that has no `*`: keep the native order.
    dont_sort: bool,
    store: Option<usize>,
    gets: Vec<&'a [u8]>,
}

fn parse_opts<'a>(ctx: &Ctx<'a>, read_only: bool) -> Result<SortOpts<'a>, CmdError> {
    let mut o = SortOpts {
        desc: false,
        alpha: false,
        limit: (0, -1),
        by: None,
        dont_sort: false,
        store: None,
        gets: Vec::new(),
    };
    let argc = ctx.argc();
    // BY and GET patterns reach keys ACL key checks cannot see.
    let name = if read_only { "sort_ro" } else { "sort" };
    let full_access = crate::acl::reads_every_key(ctx.shared, ctx.client, name, &ctx.args);
    let mut j = 2;
    while j < argc {
        let left = argc - j - 1;
        if ctx.arg_is(j, "asc") {
            o.desc = false;
        } else if ctx.arg_is(j, "desc") {
            o.desc = true;
        } else if ctx.arg_is(j, "alpha") {
            o.alpha = true;
        } else if ctx.arg_is(j, "limit") && left >= 2 {
            o.limit = (ctx.i64_arg(j + 1)?, ctx.i64_arg(j + 2)?);
            j += 2;
        } else if !read_only && ctx.arg_is(j, "store") && left >= 1 {
            o.store = Some(j + 1);
            j += 1;
        } else if ctx.arg_is(j, "by") && left >= 1 {
            let p = ctx.arg(j + 1);
            o.by = Some(p);
            o.dont_sort = !c_str(p).contains(&b'*');
            if !o.dont_sort && !full_access {
                return Err(CmdError::new(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if ctx.arg_is(j, "get") && left >= 1 {
            if !full_access {
                return Err(CmdError::new(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(ctx.arg(j + 1));
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// The bytes C code sees of an argument: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the
/// first `*` is replaced by the element and the key looked up (a string, or
/// with `->field` after the `*`, a hash field). None when there is no `*`,
/// no key, or a key of the wrong type.
fn lookup_by_pattern(txn: &mut Txn<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let pat = c_str(pattern);
    if pat == b"#" {
        return Some(elem.to_vec());
    }
    let star = pat.iter().position(|&c| c == b'*')?;
    let field = pat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < pat.len());
    // The field runs to the end of the whole argument, as Redis counts it.
    let (key_tail_end, field) = match field {
        Some(i) => (i, Some(&pattern[i + 2..])),
        None => (pattern.len(), None),
    };
    let mut name = Vec::with_capacity(pattern.len() + elem.len());
    name.extend_from_slice(&pattern[..star]);
    name.extend_from_slice(elem);
    name.extend_from_slice(&pattern[star + 1..key_tail_end]);
    let key = txn.engine().key(&name);
    let e = txn.get(&key)?;
    match field {
        Some(f) => match e.object()? {
            Object::Hash(h) => h.get(f).map(<[u8]>::to_vec),
            _ => None,
        },
        None => {
            let v = str_of(e).ok()?;
            let mut ibuf = itoa::Buffer::new();
            Some(v.as_bytes(&mut ibuf).to_vec())
        }
    }
}

/// C's `strtod` as SORT uses it: the whole string (up to a NUL) must be a
/// number, with no range error and not NaN.
fn strtod_full(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    let t = s.trim_ascii_start();
    if t.is_empty() {
        // No conversion (Redis refuses the empty string too).
        return None;
    }
    let (neg, body) = match t[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == b"inf" || lower == b"infinity" {
        f64::INFINITY
    } else if lower.starts_with(b"0x") {
        parse_hex(&body[2..])?
    } else {
        parse_decimal(body)?
    };
    Some(if neg { -v } else { v })
}

/// A decimal strtod body (no sign): digits, optional fraction, optional
/// exponent; rejects what strtod would stop early on, and range errors.
fn parse_decimal(b: &[u8]) -> Option<f64> {
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    let mut i = int;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        frac = digits(i + 1);
        i += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut k = i + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let exp = digits(k);
        if exp == 0 {
            return None;
        }
        i = k + exp;
    }
    if i != b.len() {
        return None;
    }
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    let nonzero = b
        .iter()
        .take(int + frac + 1)
        .any(|c| (b'1'..=b'9').contains(c));
    if v.is_infinite() || (nonzero && (v == 0.0 || v.is_subnormal())) {
        return None;
    }
    Some(v)
}

/// A hexadecimal strtod body after `0x`: hex digits, optional fraction,
/// optional binary exponent `p[+-]N`.
fn parse_hex(b: &[u8]) -> Option<f64> {
    let mut v = 0f64;
    let mut i = 0;
    let mut scale = 0i32;
    let mut seen = false;
    let mut dot = false;
    while i < b.len() {
        let c = b[i];
        if c == b'.' && !dot {
            dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            v = v * 16.0 + f64::from(d);
            seen = true;
            if dot {
                scale -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    if matches!(b.get(i), Some(b'p' | b'P')) {
        let rest = std::str::from_utf8(&b[i + 1..]).ok()?;
        let e: i32 = rest.parse().ok()?;
        scale = scale.checked_add(e)?;
        i = b.len();
    }
    if i != b.len() {
        return None;
    }
    let v = v * 2f64.powi(scale);
    (v.is_finite()).then_some(v)
}

/// What an element is sorted by.
enum SortKey {
    None,
    Score(f64),
    Bytes(Option<Vec<u8>>),
}

struct Item {
    elem: Vec<u8>,
    key: SortKey,
}

fn compare(a: &Item, b: &Item) -> Ordering {
    match (&a.key, &b.key) {
        (SortKey::Score(x), SortKey::Score(y)) => x
            .partial_cmp(y)
            .filter(|o| o.is_ne())
            .unwrap_or_else(|| a.elem.cmp(&b.elem)),
        // ALPHA BY: missing values sort first, equal values keep their order.
        (SortKey::Bytes(x), SortKey::Bytes(y)) => x.cmp(y),
        _ => a.elem.cmp(&b.elem),
    }
}

/// The elements of the key to sort in their native order, and whether that
/// order is one DESC reverses (lists and sorted sets; a missing key is an
/// empty list); WRONGTYPE for other types. Like Redis, this turns a
/// `listpack` sorted set into a `skiplist` one.
fn elements(
    txn: &mut Txn<'_>,
    key: &Key<'_>,
    lim: &Limits,
) -> Result<(Vec<Vec<u8>>, bool), CmdError> {
    let Some(e) = txn.lookup(key, Lookup::Read) else {
        return Ok((Vec::new(), true));
    };
    match e.into_object_mut() {
        Some(Object::List(l)) => Ok((l.iter().map(<[u8]>::to_vec).collect(), true)),
        Some(Object::Set(s)) => Ok((s.members(), false)),
        Some(Object::ZSet(z)) => {
            let mut items = Vec::with_capacity(z.len());
            if !z.is_empty() {
                z.range(0, z.len() - 1, false, |m, s| items.push((m.to_vec(), s)));
            }
            if z.encoding() == "listpack" {
                let skip = Limits {
                    zset_max_listpack_entries: 0,
                    ..*lim
                };
                *z = ZSet::from_sorted(&items, &skip);
            }
            Ok((items.into_iter().map(|(m, _)| m).collect(), true))
        }
        _ => Err(WRONGTYPE),
    }
}

fn sort_generic(ctx: &mut Ctx<'_>, read_only: bool) -> CmdResult {
    let mut o = parse_opts(ctx, read_only)?;
    let mut txn = ctx.engine().lock_all(ctx.client.db);
    txn.now = ctx.now_ms;
    let key = ctx.key(1);
    let lim = limits(ctx);
    let (mut elems, ordered) = elements(&mut txn, &key, &lim)?;
    let in_script = crate::commands::scripting::in_script();
    if o.dont_sort && !ordered && (o.store.is_some() || in_script) {
        // A set has no order of its own: sort it so replicas (and scripts)
        // agree.
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elems.len() as i64;
    let start = o.limit.0.clamp(0, len);
    let count = o.limit.1.clamp(-1, len);
    let mut end = if count < 0 { len } else { start + count - 1 };
    let mut start = start;
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    if o.dont_sort && ordered && o.desc {
        elems.reverse();
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            key: SortKey::None,
        })
        .collect();
    if !o.dont_sort {
        let mut bad = false;
        for it in items.iter_mut() {
            let by = match o.by {
                Some(p) => lookup_by_pattern(&mut txn, p, &it.elem),
                None => None,
            };
            it.key = if o.alpha {
                SortKey::Bytes(by)
            } else {
                let src = match (&by, o.by) {
                    (Some(v), _) => v.as_slice(),
                    (None, Some(_)) => b"0",
                    (None, None) => it.elem.as_slice(),
                };
                match strtod_full(src) {
                    Some(v) => SortKey::Score(v),
                    None => {
                        bad = true;
                        SortKey::Score(0.0)
                    }
                }
            };
            if o.alpha && o.by.is_none() {
                it.key = SortKey::None;
            }
        }
        if o.desc {
            items.sort_by(|a, b| compare(b, a));
        } else {
            items.sort_by(compare);
        }
        if bad {
            return Err(NOT_DOUBLE);
        }
    }
    let window = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &items[..0]
    };
    let per = o.gets.len().max(1);
    let outputlen = window.len() * per;
    match o.store {
        None => {
            ctx.out.array(outputlen);
            for it in window {
                if o.gets.is_empty() {
                    ctx.out.bulk(&it.elem);
                }
                for g in &o.gets {
                    match lookup_by_pattern(&mut txn, g, &it.elem) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dst_arg) => {
            let fill = lim.list_max_listpack_size;
            let mut list = List::new();
            for it in window {
                if o.gets.is_empty() {
                    list.push(End::Tail, &it.elem, fill);
                }
                for g in &o.gets {
                    let v = lookup_by_pattern(&mut txn, g, &it.elem).unwrap_or_default();
                    list.push(End::Tail, &v, fill);
                }
            }
            let dst = ctx.key(dst_arg);
            if outputlen > 0 {
                drop(txn.set_object(&dst, list));
                ctx.notify(events::LIST, "sortstore", dst.bytes);
            } else if txn.remove(&dst).is_some() {
                ctx.notify(events::GENERIC, "del", dst.bytes);
            }
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

fn sort(ctx: &mut Ctx<'_>) -> CmdResult {
    sort_generic(ctx, false)
}

fn sort_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    sort_generic(ctx, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_c() {
        assert_eq!(strtod_full(b"1.5"), Some(1.5));
        assert_eq!(strtod_full(b"  -2e3"), Some(-2000.0));
        assert_eq!(strtod_full(b""), None);
        assert_eq!(strtod_full(b" "), None);
        assert_eq!(strtod_full(b"1 "), None);
        assert_eq!(strtod_full(b"0x10"), Some(16.0));
        assert_eq!(strtod_full(b"0x1p-2"), Some(0.25));
        assert_eq!(strtod_full(b"inf"), Some(f64::INFINITY));
        assert_eq!(strtod_full(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_full(b"nan"), None);
        assert_eq!(strtod_full(b"1e400"), None);
        assert_eq!(strtod_full(b"1e-400"), None);
        assert_eq!(strtod_full(b"0e-400"), Some(0.0));
        assert_eq!(strtod_full(b"1e"), None);
        assert_eq!(strtod_full(b"."), None);
        assert_eq!(strtod_full(b".5"), Some(0.5));
        assert_eq!(strtod_full(b"5."), Some(5.0));
        assert_eq!(strtod_full(b"12\0abc"), Some(12.0));
        assert_eq!(strtod_full(b"abc"), None);
    }
}

//! Helpers shared by the collection families (`lists.rs`, `hashes.rs`,
//! `sets.rs`, `zsets.rs`): the command-table constructor, the encoding
//! thresholds in force, the HSCAN/SSCAN/ZSCAN option parser and reply, and
//! Redis's number formats that only collections use.
//!
//! Type checks are the engine's (`Txn::read_obj` / `write_obj` return
//! `WrongType`, which converts into the WRONGTYPE error), so a handler reads
//! `txn.read_obj::<List>(&key, Lookup::Read)?` and gets `Option<&List>`.

use larder_engine::types::list::End;
use larder_engine::Limits;

use crate::command::{Command, Ctx, Handler};
use crate::commands::keys::{parse_cursor, KeyList};
use crate::error::{CmdError, SYNTAX};

/// A command-table entry for a collection command (no subcommands).
pub const fn cmd(
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

/// The encoding thresholds for this command.
pub fn limits(ctx: &Ctx<'_>) -> Limits {
    ctx.engine().config.limits()
}

/// `LEFT` / `RIGHT` (Redis's getListPositionFromObjectOrReply).
pub fn end_arg(ctx: &Ctx<'_>, i: usize) -> Result<End, CmdError> {
    if ctx.arg_is(i, "left") {
        Ok(End::Head)
    } else if ctx.arg_is(i, "right") {
        Ok(End::Tail)
    } else {
        Err(SYNTAX)
    }
}

/// Redis's getRangeLongFromObjectOrReply with a custom message: an integer
/// in `lo..=hi`, else `ERR <msg>`.
pub fn ranged_arg(
    ctx: &Ctx<'_>,
    i: usize,
    lo: i64,
    hi: i64,
    msg: &'static str,
) -> Result<i64, CmdError> {
    match crate::command::parse_i64(ctx.arg(i)) {
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(CmdError::new(msg)),
    }
}

/// The arguments of LMPOP and ZMPOP (and BLMPOP, BZMPOP): `numkeys` at
/// argument `nk`, the keys, a direction word that `dir` parses, then
/// `[COUNT count]`, checked in Redis's order. Returns the direction, the
/// index of the direction word (the keys end before it) and the count.
pub fn mpop_args<T>(
    ctx: &Ctx<'_>,
    nk: usize,
    dir: impl FnOnce(&Ctx<'_>, usize) -> Result<T, CmdError>,
) -> Result<(T, usize, Option<usize>), CmdError> {
    let numkeys = ranged_arg(ctx, nk, 1, i64::MAX, "ERR numkeys should be greater than 0")?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(nk + 1))
        .filter(|&w| w < ctx.argc())
        .ok_or(SYNTAX)?;
    let direction = dir(ctx, where_idx)?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < ctx.argc() {
        if count.is_none() && ctx.arg_is(j, "count") && j + 1 < ctx.argc() {
            let n = ranged_arg(
                ctx,
                j + 1,
                1,
                i64::MAX,
                "ERR count should be greater than 0",
            )?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok((direction, where_idx, count))
}

/// The optional `count` of LPOP/RPOP, SPOP and ZPOPMIN/ZPOPMAX at argument
/// 2: absent, or a non-negative integer.
pub fn pop_count_arg(ctx: &Ctx<'_>) -> Result<Option<usize>, CmdError> {
    if ctx.argc() < 3 {
        return Ok(None);
    }
    let n = ranged_arg(
        ctx,
        2,
        0,
        i64::MAX,
        "ERR value is out of range, must be positive",
    )?;
    Ok(Some(n as usize))
}

/// The count of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER: an integer other
/// than i64::MIN (whose negation would overflow).
pub fn rand_count_arg(ctx: &Ctx<'_>) -> Result<i64, CmdError> {
    let v = ctx.i64_arg(2)?;
    if v == i64::MIN {
        return Err(CmdError::new(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(v)
}

/// The cursor of HSCAN/SSCAN/ZSCAN (argument 2).
pub fn scan_cursor(ctx: &Ctx<'_>) -> Result<u64, CmdError> {
    parse_cursor(ctx.arg(2)).ok_or(CmdError::new("ERR invalid cursor"))
}

/// HSCAN/SSCAN/ZSCAN options from argument 3 on (Redis's
/// scanGenericCommand: COUNT ≥ 1, MATCH; no TYPE for collections).
pub struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl<'a> ScanOpts<'a> {
    pub fn parse(ctx: &Ctx<'a>) -> Result<ScanOpts<'a>, CmdError> {
        let mut o = ScanOpts {
            count: 10,
            pattern: None,
        };
        let mut i = 3;
        while i < ctx.argc() {
            let has_value = ctx.argc() - i >= 2;
            if ctx.arg_is(i, "count") && has_value {
                let n = ctx.i64_arg(i + 1)?;
                if n < 1 {
                    return Err(SYNTAX);
                }
                o.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if ctx.arg_is(i, "match") && has_value {
                let p = ctx.arg(i + 1);
                o.pattern = (p != b"*").then_some(p);
            } else {
                return Err(SYNTAX);
            }
            i += 2;
        }
        Ok(o)
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| larder_engine::glob::matches(p, s, false))
    }
}

/// Writes `[cursor, [items...]]`.
pub(crate) fn scan_reply(ctx: &mut Ctx<'_>, next: u64, items: &KeyList) {
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    items.write(&mut ctx.out);
}

/// The empty scan reply for a missing key (Redis's `shared.emptyscan`).
pub(crate) fn empty_scan(ctx: &mut Ctx<'_>) {
    scan_reply(ctx, 0, &KeyList::new());
}

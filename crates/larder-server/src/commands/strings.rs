//! String commands.

use larder_engine::{Lookup, StrRef, StrValue, Ttl};

use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult, NOT_INTEGER, SYNTAX};

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
];

/// Replies with a string value: an integer is formatted on the way out.
pub fn reply_str(ctx: &mut Ctx<'_>, v: StrRef<'_>) {
    match v {
        StrRef::Bytes(b) => ctx.out.bulk(b),
        StrRef::Int(i) => ctx.out.bulk(itoa::Buffer::new().format(i).as_bytes()),
    }
}

fn get(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    match txn.get(&key) {
        Some(e) => {
            let v = e.value();
            reply_str(ctx, v);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// The expiry options shared by SET and GETEX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireOpt {
    None,
    KeepTtl,
    Persist,
    /// Absolute Unix time in ms.
    At(u64),
}

/// Which command is parsing (the options allowed differ).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExtKind {
    Set,
    GetEx,
}

pub struct SetOpts {
    pub nx: bool,
    pub xx: bool,
    pub get: bool,
    pub expire: ExpireOpt,
}

/// Redis's parseExtendedStringArgumentsOrReply + getExpireMillisecondsOrReply.
pub fn parse_ext(
    ctx: &Ctx<'_>,
    from: usize,
    kind: ExtKind,
    now_ms: u64,
) -> Result<SetOpts, CmdError> {
    #[derive(PartialEq, Clone, Copy)]
    enum Unit {
        Ex,
        Px,
        ExAt,
        PxAt,
    }
    let mut o = SetOpts {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOpt::None,
    };
    let (mut keepttl, mut persist) = (false, false);
    let mut unit: Option<Unit> = None;
    let mut value: &[u8] = b"";
    let mut j = from;
    let argc = ctx.argc();
    while j < argc {
        let a = ctx.arg(j);
        let has_next = j + 1 < argc;
        let is = |w: &str| a.eq_ignore_ascii_case(w.as_bytes());
        let other_expire = |u: Unit| unit.is_some_and(|x| x != u);
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
            unit = Some(if is("ex") {
                Unit::Ex
            } else if is("px") {
                Unit::Px
            } else if is("exat") {
                Unit::ExAt
            } else {
                Unit::PxAt
            });
            value = ctx.arg(j + 1);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if let Some(u) = unit {
        let v = crate::command::parse_i64(value).ok_or(NOT_INTEGER)?;
        let name = if kind == ExtKind::Set { "set" } else { "getex" };
        let invalid = || CmdError::owned(format!("ERR invalid expire time in '{name}' command"));
        let secs = matches!(u, Unit::Ex | Unit::ExAt);
        if v <= 0 || (secs && v > i64::MAX / 1000) {
            return Err(invalid());
        }
        let mut ms = if secs { v * 1000 } else { v };
        if matches!(u, Unit::Ex | Unit::Px) {
            if ms > i64::MAX - now_ms as i64 {
                return Err(invalid());
            }
            ms += now_ms as i64;
        }
        o.expire = ExpireOpt::At(ms as u64);
    } else if keepttl {
        o.expire = ExpireOpt::KeepTtl;
    } else if persist {
        o.expire = ExpireOpt::Persist;
    }
    Ok(o)
}

fn set(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let now = larder_engine::access::now_ms();
    let opts = parse_ext(ctx, 3, ExtKind::Set, now)?;
    let mut txn = ctx.lock(&key);
    let found = match txn.lookup(
        &key,
        if opts.get {
            Lookup::Read
        } else {
            Lookup::Write
        },
    ) {
        Some(e) => {
            let v = e.get().value();
            if opts.get {
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
            ctx.out.null();
        }
        return Ok(());
    }
    let ttl = match opts.expire {
        ExpireOpt::At(t) => Ttl::At(t),
        ExpireOpt::KeepTtl => Ttl::Keep,
        _ => Ttl::Clear,
    };
    drop(txn.set(&key, StrValue::Auto(ctx.arg(2)), ttl));
    if !opts.get {
        ctx.out.ok();
    }
    Ok(())
}

//! Stream commands, with Redis 7.0's `t_stream.c` semantics: XADD XLEN
//! XRANGE XREVRANGE XDEL XTRIM XREAD XREADGROUP XACK XPENDING XCLAIM
//! XAUTOCLAIM XSETID XGROUP (CREATE SETID DESTROY CREATECONSUMER
//! DELCONSUMER HELP) and XINFO (STREAM GROUPS CONSUMERS HELP).
//!
//! The stream itself (listpack nodes, groups, PELs) is the engine's
//! `types::stream`. Here: argument parsing in Redis's order (so the same
//! error wins), replies, keyspace events, and propagation as Redis does it:
//! XADD with the generated ID and `~` trims rewritten to the exact bound,
//! XREADGROUP / XCLAIM / XAUTOCLAIM as one `XCLAIM ... FORCE JUSTID LASTID`
//! per entry (plus `XGROUP SETID ... ENTRIESREAD` / `XGROUP CREATECONSUMER`
//! for NOACK reads). Blocking XREAD / XREADGROUP go through
//! `crate::blocking`: the handler runs again when a key is written; XREAD's
//! `$` is resolved to the stream's last ID when the client blocks.

use larder_engine::types::stream::{
    EntryPos, Group, Stream, StreamId, Trim, ENTRIES_READ_INVALID, LISTPACK_MAX_SIZE,
};
use larder_engine::{events, Key, Lookup, Txn};
use larder_resp::{Protocol, Reply};

use crate::blocking::block_as;
use crate::command::{flags::*, parse_i64, Command, Ctx};
use crate::commands::coll::{cmd, limits};
use crate::commands::server::reply_help;
use crate::error::{truncate_lossy, wrong_arity, CmdError, CmdResult, NO_SUCH_KEY, SYNTAX};

const ONE: (i32, i32, i32) = (1, 1, 1);

pub const COMMANDS: &[Command] = &[
    cmd(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        ONE,
        "write stream fast",
        xadd,
    ),
    cmd("xlen", 2, READONLY | FAST, ONE, "read stream fast", xlen),
    cmd("xrange", -4, READONLY, ONE, "read stream slow", xrange),
    cmd(
        "xrevrange",
        -4,
        READONLY,
        ONE,
        "read stream slow",
        xrevrange,
    ),
    cmd("xdel", -3, WRITE | FAST, ONE, "write stream fast", xdel),
    cmd("xtrim", -4, WRITE, ONE, "write stream slow", xtrim),
    cmd(
        "xread",
        -4,
        READONLY | BLOCKING,
        (0, 0, 0),
        "read stream slow blocking",
        xread,
    ),
    cmd(
        "xreadgroup",
        -7,
        WRITE | BLOCKING,
        (0, 0, 0),
        "write stream slow blocking",
        xreadgroup,
    ),
    cmd("xack", -4, WRITE | FAST, ONE, "write stream fast", xack),
    cmd("xpending", -3, READONLY, ONE, "read stream slow", xpending),
    cmd("xclaim", -6, WRITE | FAST, ONE, "write stream fast", xclaim),
    cmd(
        "xautoclaim",
        -6,
        WRITE | FAST,
        ONE,
        "write stream fast",
        xautoclaim,
    ),
    cmd(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        "write stream fast",
        xsetid,
    ),
    Command {
        name: "xgroup",
        arity: -2,
        // Propagation keys on the container's flags.
        flags: WRITE,
        keys: (0, 0, 0),
        acl: "slow",
        handler: xgroup,
        subcommands: XGROUP,
    },
    Command {
        name: "xinfo",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: "slow",
        handler: xinfo,
        subcommands: XINFO,
    },
];

const GROUP_KEY: (i32, i32, i32) = (2, 2, 1);

const XGROUP: &[Command] = &[
    cmd(
        "xgroup|create",
        -5,
        WRITE | DENYOOM,
        GROUP_KEY,
        "write stream slow",
        xgroup_create,
    ),
    cmd(
        "xgroup|setid",
        -5,
        WRITE,
        GROUP_KEY,
        "write stream slow",
        xgroup_setid,
    ),
    cmd(
        "xgroup|destroy",
        4,
        WRITE,
        GROUP_KEY,
        "write stream slow",
        xgroup_destroy,
    ),
    cmd(
        "xgroup|createconsumer",
        5,
        WRITE | DENYOOM,
        GROUP_KEY,
        "write stream slow",
        xgroup_createconsumer,
    ),
    cmd(
        "xgroup|delconsumer",
        5,
        WRITE,
        GROUP_KEY,
        "write stream slow",
        xgroup_delconsumer,
    ),
    cmd(
        "xgroup|help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        "stream slow",
        xgroup_help,
    ),
];

const XINFO: &[Command] = &[
    cmd(
        "xinfo|stream",
        -3,
        READONLY,
        GROUP_KEY,
        "read stream slow",
        xinfo_stream,
    ),
    cmd(
        "xinfo|groups",
        3,
        READONLY,
        GROUP_KEY,
        "read stream slow",
        xinfo_groups,
    ),
    cmd(
        "xinfo|consumers",
        4,
        READONLY,
        GROUP_KEY,
        "read stream slow",
        xinfo_consumers,
    ),
    cmd(
        "xinfo|help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        "stream slow",
        xinfo_help,
    ),
];

const INVALID_ID: CmdError =
    CmdError::new("ERR Invalid stream ID specified as stream command argument");

// ---------------------------------------------------------------------------
// IDs
// ---------------------------------------------------------------------------

/// C's strtoull with Redis's string2ull checks: optional leading spaces and
/// sign (a minus negates, modulo 2^64), digits to the end, no overflow.
fn strtoull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// What an ID argument parsed to (streamGenericParseIDOrReply).
struct ParsedId {
    id: StreamId,
    /// False for `<ms>-*` (only where `seq_star` allows it).
    seq_given: bool,
}

fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<ParsedId, CmdError> {
    if arg.len() > 127 {
        return Err(INVALID_ID);
    }
    // A C string: up to the first NUL.
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    let given = |id| ParsedId {
        id,
        seq_given: true,
    };
    match arg {
        b"-" | b"+" if strict => return Err(INVALID_ID),
        b"-" => return Ok(given(StreamId::MIN)),
        b"+" => return Ok(given(StreamId::MAX)),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = strtoull(ms).ok_or(INVALID_ID)?;
    match seq {
        Some(b"*") if seq_star => Ok(ParsedId {
            id: StreamId::new(ms, 0),
            seq_given: false,
        }),
        Some(s) => Ok(given(StreamId::new(ms, strtoull(s).ok_or(INVALID_ID)?))),
        None => Ok(given(StreamId::new(ms, missing_seq))),
    }
}

/// streamParseStrictIDOrReply: no `-` / `+`.
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(arg, 0, true, false).map(|p| p.id)
}

/// streamParseIntervalIDOrReply with the exclusive `(` form resolved:
/// the inclusive bound, or the interval error.
fn interval_id(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_full(&arg[1..], missing_seq, true, false)?.id;
        let moved = if start { id.next() } else { id.prev() };
        moved.ok_or(if start {
            CmdError::new("ERR invalid start ID for the interval")
        } else {
            CmdError::new("ERR invalid end ID for the interval")
        })
    } else {
        parse_id_full(arg, missing_seq, false, false).map(|p| p.id)
    }
}

fn reply_id(out: &mut Reply<'_>, id: StreamId) {
    let mut b = Vec::with_capacity(41);
    id.format(&mut b);
    out.bulk(&b);
}

// ---------------------------------------------------------------------------
// Replies with entries
// ---------------------------------------------------------------------------

/// One entry: `[id, [field, value, ...]]`.
fn reply_entry(out: &mut Reply<'_>, s: &Stream, e: &EntryPos, lp: &[u8]) {
    out.array(2);
    reply_id(out, e.id);
    let mut n = 0;
    s.pairs(lp, e, |_, _| n += 1);
    out.array(n * 2);
    let (mut b1, mut b2) = (itoa::Buffer::new(), itoa::Buffer::new());
    s.pairs(lp, e, |f, v| {
        out.bulk(f.bytes(&mut b1));
        out.bulk(v.bytes(&mut b2));
    });
}

/// The live entries in `start..=end` (at most `count`, 0 = all).
fn collect(
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) -> Vec<(EntryPos, &[u8])> {
    let mut v = Vec::new();
    s.range(start, end, rev, |e, lp| {
        v.push((*e, lp));
        count == 0 || v.len() < count
    });
    v
}

fn reply_entries(out: &mut Reply<'_>, s: &Stream, list: &[(EntryPos, &[u8])]) {
    out.array(list.len());
    for (e, lp) in list {
        reply_entry(out, s, e, lp);
    }
}

/// One entry by ID, or false if it is not there.
fn reply_one(out: &mut Reply<'_>, s: &Stream, id: StreamId) -> bool {
    let found = collect(s, id, id, false, 1);
    match found.first() {
        Some((e, lp)) => {
            reply_entry(out, s, e, lp);
            true
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------
// XADD, XTRIM
// ---------------------------------------------------------------------------

/// XADD / XTRIM options (streamParseAddOrTrimArgsOrReply).
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Argument index of the MAXLEN / MINID value.
    trim_at: usize,
    nomkstream: bool,
    id: Option<ParsedId>,
    /// Index of the ID (XADD) or past the options.
    next: usize,
}

fn parse_trim_args(ctx: &Ctx<'_>, xadd: bool) -> Result<TrimArgs, CmdError> {
    let mut a = TrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        trim_at: 0,
        nomkstream: false,
        id: None,
        next: 2,
    };
    let mut limit_given = false;
    let argc = ctx.argc();
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = ctx.arg(i);
        if xadd && opt == b"*" {
            break;
        } else if (ctx.arg_is(i, "maxlen") || ctx.arg_is(i, "minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(CmdError::new(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            let maxlen = ctx.arg_is(i, "maxlen");
            a.approx = false;
            let next = ctx.arg(i + 1);
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if maxlen {
                let n = ctx.i64_arg(i + 1)?;
                if n < 0 {
                    return Err(CmdError::new("ERR The MAXLEN argument must be >= 0."));
                }
                a.trim = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim = Some(Trim::MinId(strict_id(ctx.arg(i + 1))?));
            }
            i += 1;
            a.trim_at = i;
        } else if ctx.arg_is(i, "limit") && more > 0 {
            let n = ctx.i64_arg(i + 1)?;
            if n < 0 {
                return Err(CmdError::new("ERR The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && ctx.arg_is(i, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    a.next = i;
    if a.limit > 0 && a.trim.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if ctx.engine().events.writes.loading() {
        // Replaying the AOF (Redis's mustObeyClient): the bound was
        // rewritten exactly, so no limit applies.
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(CmdError::new(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        // At most 100 nodes' worth, within bounds whatever
        // `stream-node-max-entries` is (0 or huge), as Redis caps it.
        let n = limits(ctx).stream_node_max_entries.saturating_mul(100);
        a.limit = if n <= 0 {
            10_000
        } else {
            n.min(1_000_000) as u64
        };
    } else {
        a.limit = 0;
    }
    Ok(a)
}

/// The rewrite of an approximate trim for propagation: `=` and the exact
/// bound reached (streamRewriteApproxSpecifier / streamRewriteTrimArgument).
fn propagate_trim_rewrite(ctx: &Ctx<'_>, a: &TrimArgs, s: &Stream, id_at: Option<(usize, &[u8])>) {
    if !ctx.propagating() {
        return;
    }
    let bound = match a.trim {
        Some(Trim::MaxLen(_)) => itoa::Buffer::new().format(s.length).as_bytes().to_vec(),
        _ => s.first_id.to_bytes(),
    };
    let args: Vec<&[u8]> = (0..ctx.argc())
        .map(|i| {
            if a.approx && i == a.trim_at - 1 {
                &b"="[..]
            } else if a.approx && i == a.trim_at {
                &bound[..]
            } else if id_at.is_some_and(|(at, _)| at == i) {
                id_at.map_or(&b""[..], |(_, id)| id)
            } else {
                ctx.arg(i)
            }
        })
        .collect();
    ctx.propagate_as(args);
}

fn xadd(ctx: &mut Ctx<'_>) -> CmdResult {
    let a = parse_trim_args(ctx, true)?;
    let idpos = a.next;
    let fields = idpos + 1;
    if ctx.argc() < fields + 2 || (ctx.argc() - fields) % 2 == 1 {
        return Err(wrong_arity("xadd"));
    }
    if let Some(p) = &a.id {
        if p.seq_given && p.id.is_zero() {
            return Err(CmdError::new(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let s = if a.nomkstream {
        match txn.write_obj::<Stream>(&key)? {
            Some(s) => s,
            None => {
                ctx.out.null();
                return Ok(());
            }
        }
    } else {
        txn.write_obj_or_insert(&key, Stream::new)?
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::new(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match &a.id {
        None => {
            let now = ctx.now_ms;
            if now > s.last_id.ms {
                Some(StreamId::new(now, 0))
            } else {
                s.last_id.next()
            }
        }
        Some(p) if p.seq_given => Some(p.id),
        Some(p) if p.id.ms == s.last_id.ms => {
            if s.last_id.seq == u64::MAX {
                None
            } else {
                s.last_id.next()
            }
        }
        Some(p) => Some(p.id),
    };
    let id =
        match id {
            Some(id) if id > s.last_id => id,
            _ => return Err(CmdError::new(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            )),
        };
    let pairs: Vec<&[u8]> = (fields..ctx.argc()).map(|i| ctx.arg(i)).collect();
    if pairs.iter().map(|p| p.len()).sum::<usize>() > LISTPACK_MAX_SIZE {
        return Err(CmdError::new("ERR Elements are too large to be stored"));
    }
    s.append(id, &pairs, &limits(ctx));
    let idtext = id.to_bytes();
    ctx.out.bulk(&idtext);
    ctx.notify(events::STREAM, "xadd", key.bytes);
    if let Some(t) = a.trim {
        if s.trim(t, a.approx, a.limit) > 0 {
            ctx.notify(events::STREAM, "xtrim", key.bytes);
        }
    }
    let id_rewrite = a.id.as_ref().is_none_or(|p| !p.seq_given);
    if a.approx || id_rewrite {
        propagate_trim_rewrite(ctx, &a, s, id_rewrite.then_some((idpos, &idtext[..])));
    }
    txn.touch_dirty(&key);
    Ok(())
}

fn xtrim(ctx: &mut Ctx<'_>) -> CmdResult {
    let a = parse_trim_args(ctx, false)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(s) = txn.write_obj::<Stream>(&key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = match a.trim {
        Some(t) => s.trim(t, a.approx, a.limit),
        None => 0,
    };
    if deleted > 0 {
        ctx.notify(events::STREAM, "xtrim", key.bytes);
        if a.approx {
            propagate_trim_rewrite(ctx, &a, s, None);
        }
        txn.touch_dirty(&key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XLEN, XRANGE, XREVRANGE, XDEL
// ---------------------------------------------------------------------------

fn xlen(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let n = txn
        .read_obj::<Stream>(&key, Lookup::Read)?
        .map_or(0, |s| s.length);
    ctx.out.int(n as i64);
    Ok(())
}

fn range_generic(ctx: &mut Ctx<'_>, rev: bool) -> CmdResult {
    let (sa, ea) = if rev { (3, 2) } else { (2, 3) };
    let start = interval_id(ctx.arg(sa), 0, true)?;
    let end = interval_id(ctx.arg(ea), u64::MAX, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < ctx.argc() {
        if ctx.arg_is(j, "count") && j + 1 < ctx.argc() {
            count = ctx.i64_arg(j + 1)?.max(0);
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(s) = txn.read_obj::<Stream>(&key, Lookup::Read)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let (lo, hi) = (start, end);
    let list = collect(s, lo, hi, rev, count.max(0) as usize);
    reply_entries(&mut ctx.out, s, &list);
    Ok(())
}

fn xrange(ctx: &mut Ctx<'_>) -> CmdResult {
    range_generic(ctx, false)
}

fn xrevrange(ctx: &mut Ctx<'_>) -> CmdResult {
    range_generic(ctx, true)
}

fn xdel(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(s) = txn.write_obj::<Stream>(&key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = (2..ctx.argc())
        .map(|i| strict_id(ctx.arg(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        ctx.notify(events::STREAM, "xdel", key.bytes);
        txn.touch_dirty(&key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XREAD, XREADGROUP
// ---------------------------------------------------------------------------

/// Blocked XREAD with no COUNT serves at most this many entries per key.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

fn xread(ctx: &mut Ctx<'_>) -> CmdResult {
    read_generic(ctx, false)
}

fn xreadgroup(ctx: &mut Ctx<'_>) -> CmdResult {
    read_generic(ctx, true)
}

/// What an XREAD / XREADGROUP asks for, per key.
enum Want {
    After(StreamId),
    /// `$`: after the last ID at call time.
    Last,
    /// `>`: new entries for the group.
    New,
}

fn nogroup_read(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        truncate_lossy(key, usize::MAX),
        truncate_lossy(group, usize::MAX)
    ))
}

fn read_generic(ctx: &mut Ctx<'_>, group_cmd: bool) -> CmdResult {
    let name = if group_cmd { "xreadgroup" } else { "xread" };
    let mut timeout: Option<u64> = None;
    let mut count: usize = 0;
    let mut streams_at = 0;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut noack = false;
    let argc = ctx.argc();
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        if ctx.arg_is(i, "block") && more > 0 {
            if crate::commands::scripting::in_script() {
                return Err(CmdError::owned(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(ctx.arg(0))
                )));
            }
            i += 1;
            let t = parse_i64(ctx.arg(i)).ok_or(CmdError::new(
                "ERR timeout is not an integer or out of range",
            ))?;
            if t < 0 {
                return Err(CmdError::new("ERR timeout is negative"));
            }
            timeout = Some(t as u64);
        } else if ctx.arg_is(i, "count") && more > 0 {
            i += 1;
            count = ctx.i64_arg(i)?.max(0) as usize;
        } else if ctx.arg_is(i, "streams") && more > 0 {
            streams_at = i + 1;
            if !(argc - streams_at).is_multiple_of(2) {
                let sym = if group_cmd { '>' } else { '$' };
                return Err(CmdError::owned(format!(
                    "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{sym}' must be specified."
                )));
            }
            break;
        } else if ctx.arg_is(i, "group") && more >= 2 {
            if !group_cmd {
                return Err(CmdError::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((ctx.arg(i + 1), ctx.arg(i + 2)));
            i += 2;
        } else if ctx.arg_is(i, "noack") {
            if !group_cmd {
                return Err(CmdError::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(SYNTAX);
    }
    if group_cmd && group.is_none() {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    }
    let nkeys = (argc - streams_at) / 2;
    let keys = ctx.keys_from(streams_at, 1);
    let keys = &keys[..nkeys];
    let retry = ctx.client.block.is_some();
    // A blocked client's retry counts no hit or miss and sends no keymiss
    // event, as Redis serves blocked clients (LOOKUP_NOSTATS|NONOTIFY).
    let how = if retry { Lookup::Peek } else { Lookup::Read };
    let mut txn = ctx.lock_keys(keys);
    let mut wants = Vec::with_capacity(nkeys);
    for (k, key) in keys.iter().enumerate() {
        let idarg = ctx.arg(streams_at + nkeys + k);
        let s = match txn.read_obj::<Stream>(key, how) {
            Ok(s) => s,
            Err(_) if retry && group.is_some() => {
                return Err(CmdError::new("UNBLOCKED the stream key no longer exists"))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some((g, _)) = group {
            match s {
                None if retry => {
                    return Err(CmdError::new("UNBLOCKED the stream key no longer exists"))
                }
                Some(s) if s.groups.contains_key(g) => {}
                Some(_) if retry => {
                    return Err(CmdError::new(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    ))
                }
                _ => return Err(nogroup_read(key.bytes, g)),
            }
        }
        let want = if idarg == b"$" {
            if group_cmd {
                return Err(CmdError::new("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            Want::Last
        } else if idarg == b">" {
            if !group_cmd {
                return Err(CmdError::new("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            Want::New
        } else {
            Want::After(strict_id(idarg)?)
        };
        wants.push(want);
    }
    let count = if retry && count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        count
    };
    // Serve what can be served now.
    let resp2 = ctx.out.proto == Protocol::Resp2;
    let mut served = 0;
    let mut resolved: Vec<Option<StreamId>> = Vec::with_capacity(nkeys);
    let mut body = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let mut out = Reply::new(&mut body, ctx.out.proto);
        match group {
            None => {
                let s = txn.obj_ref::<Stream>(key).ok().flatten();
                let after = match wants[k] {
                    Want::After(id) => id,
                    _ => s.map_or(StreamId::MIN, |s| s.last_id),
                };
                resolved.push(Some(after));
                let Some(s) = s else { continue };
                if s.edge_id(true).is_none_or(|top| top <= after) {
                    continue;
                }
                if resp2 {
                    out.array(2);
                }
                out.bulk(key.bytes);
                let list = match after.next() {
                    Some(start) => collect(s, start, StreamId::MAX, false, count),
                    None => Vec::new(),
                };
                reply_entries(&mut out, s, &list);
                served += 1;
            }
            Some((g, consumer)) => {
                resolved.push(None);
                let Ok(Some(s)) = txn.write_obj::<Stream>(key) else {
                    continue;
                };
                let read = GroupRead {
                    key: key.bytes,
                    group: g,
                    consumer,
                    want: &wants[k],
                    count,
                    noack,
                };
                if serve_group(ctx, s, &read, &mut out) {
                    served += 1;
                    txn.touch_dirty(key);
                }
            }
        }
    }
    if group.is_some() {
        ctx.prevent_propagation();
    }
    if served > 0 {
        if resp2 {
            ctx.out.array(served);
        } else {
            ctx.out.map(served);
        }
        ctx.out.raw(&body);
        return Ok(());
    }
    match timeout {
        Some(ms) if !retry && ctx.client.nesting <= 1 => {
            drop(txn);
            let mut args: Vec<Vec<u8>> = ctx.args.iter().map(<[u8]>::to_vec).collect();
            for (k, r) in resolved.iter().enumerate() {
                if let (Want::Last, Some(id)) = (&wants[k], r) {
                    args[streams_at + nkeys + k] = id.to_bytes();
                }
            }
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let ms = (ms > 0).then_some(ms);
            block_as(ctx, streams_at..streams_at + nkeys, ms, &refs);
        }
        Some(_) if retry => {}
        _ => ctx.out.null_array(),
    }
    Ok(())
}

/// One key of an XREADGROUP.
struct GroupRead<'a> {
    key: &'a [u8],
    group: &'a [u8],
    consumer: &'a [u8],
    want: &'a Want,
    count: usize,
    noack: bool,
}

/// XCLAIM's propagated form (streamPropagateXCLAIM).
/// `nack` is the pending entry as propagated: (consumer, delivery time,
/// delivery count).
fn propagate_xclaim(
    ctx: &Ctx<'_>,
    key: &[u8],
    group: &[u8],
    id: &[u8],
    (consumer, time, count): (&[u8], u64, u64),
    last: StreamId,
) {
    if !ctx.propagating() {
        return;
    }
    let (mut b1, mut b2) = (itoa::Buffer::new(), itoa::Buffer::new());
    let last = last.to_bytes();
    ctx.also_propagate([
        &b"XCLAIM"[..],
        key,
        group,
        consumer,
        b"0",
        id,
        b"TIME",
        b1.format(time).as_bytes(),
        b"RETRYCOUNT",
        b2.format(count).as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        &last,
    ]);
}

/// Serves one key of an XREADGROUP (the group exists): the consumer's
/// history for an ID, new entries for `>`. Returns whether the key goes
/// into the reply.
fn serve_group(ctx: &Ctx<'_>, s: &mut Stream, r: &GroupRead<'_>, out: &mut Reply<'_>) -> bool {
    let now = ctx.now_ms;
    let Some(mut g) = s.groups.remove(r.group) else {
        return false;
    };
    let (history, mut after) = match r.want {
        Want::After(id) => (true, *id),
        _ => (false, StreamId::MAX),
    };
    let mut serve = history;
    if !history && s.length > 0 && s.edge_id(true).is_some_and(|top| top > g.last_id) {
        serve = true;
        after = g.last_id;
    }
    // The consumer is created (and seen) only when it is served: a blocked
    // XREADGROUP leaves no consumer behind (Redis's xreadCommand).
    if serve {
        if g.create_consumer(r.consumer, now) {
            ctx.notify(events::STREAM, "xgroup-createconsumer", r.key);
            if r.noack {
                ctx.also_propagate([
                    &b"XGROUP"[..],
                    b"CREATECONSUMER",
                    r.key,
                    r.group,
                    r.consumer,
                ]);
            }
        }
        if let Some(c) = g.consumers.get_mut(r.consumer) {
            c.seen_time = now;
        }
        if out.proto == Protocol::Resp2 {
            out.array(2);
        }
        out.bulk(r.key);
        match after.next() {
            None => out.array(0),
            Some(start) if history => reply_history(s, &mut g, r, start, now, out),
            Some(start) => {
                let list = collect(s, start, StreamId::MAX, false, r.count);
                out.array(list.len());
                let mut advanced = false;
                for (e, lp) in &list {
                    reply_entry(out, s, e, lp);
                    if e.id > g.last_id {
                        s.advance_group(&mut g, e.id);
                        advanced = true;
                    }
                    if !r.noack {
                        g.assign(e.id, r.consumer, now, 1);
                        propagate_xclaim(
                            ctx,
                            r.key,
                            r.group,
                            &e.id.to_bytes(),
                            (r.consumer, now, 1),
                            g.last_id,
                        );
                    }
                }
                if advanced && r.noack && ctx.propagating() {
                    let last = g.last_id.to_bytes();
                    let mut b = itoa::Buffer::new();
                    ctx.also_propagate([
                        &b"XGROUP"[..],
                        b"SETID",
                        r.key,
                        r.group,
                        &last,
                        b"ENTRIESREAD",
                        b.format(g.entries_read).as_bytes(),
                    ]);
                }
            }
        }
    }
    s.groups.insert(r.group.into(), g);
    serve
}

/// streamReplyWithRangeFromConsumerPEL: the consumer's pending entries
/// from `start`, a deleted one as `[id, nil]`; each served one counts as
/// delivered again.
fn reply_history(
    s: &Stream,
    g: &mut Group,
    r: &GroupRead<'_>,
    start: StreamId,
    now: u64,
    out: &mut Reply<'_>,
) {
    let ids: Vec<StreamId> = g
        .consumers
        .get(r.consumer)
        .map(|c| {
            c.pel
                .range(start..)
                .take(if r.count == 0 { usize::MAX } else { r.count })
                .copied()
                .collect()
        })
        .unwrap_or_default();
    out.array(ids.len());
    for id in ids {
        if reply_one(out, s, id) {
            if let Some(n) = g.pel.get_mut(&id) {
                n.delivery_time = now;
                n.delivery_count += 1;
            }
        } else {
            out.array(2);
            reply_id(out, id);
            out.null_array();
        }
    }
}

// ---------------------------------------------------------------------------
// XACK, XPENDING, XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        truncate_lossy(key, usize::MAX),
        truncate_lossy(group, usize::MAX)
    ))
}

fn xack(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let g = match txn.write_obj::<Stream>(&key)? {
        Some(s) => s.groups.get_mut(ctx.arg(2)),
        None => None,
    };
    let Some(g) = g else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = (3..ctx.argc())
        .map(|i| strict_id(ctx.arg(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = ids.into_iter().filter(|&id| g.ack(id)).count();
    if acked > 0 {
        txn.touch_dirty(&key);
    }
    ctx.out.int(acked as i64);
    Ok(())
}

fn xpending(ctx: &mut Ctx<'_>) -> CmdResult {
    let argc = ctx.argc();
    let summary = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(SYNTAX);
    }
    let mut minidle = 0i64;
    let (mut start, mut end, mut count) = (StreamId::MIN, StreamId::MAX, 0i64);
    let mut consumer = None;
    if argc >= 6 {
        let mut at = 3;
        if ctx.arg_is(3, "idle") {
            minidle = ctx.i64_arg(4)?;
            if argc < 8 {
                return Err(SYNTAX);
            }
            at += 2;
        }
        count = ctx.i64_arg(at + 2)?.max(0);
        start = interval_id(ctx.arg(at), 0, true)?;
        end = interval_id(ctx.arg(at + 1), u64::MAX, false)?;
        if at + 3 < argc {
            consumer = Some(ctx.arg(at + 3));
        }
    }
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let s = txn.read_obj::<Stream>(&key, Lookup::Read)?;
    let Some(g) = s.and_then(|s| s.groups.get(ctx.arg(2))) else {
        return Err(nogroup(key.bytes, ctx.arg(2)));
    };
    let out = &mut ctx.out;
    if summary {
        out.array(4);
        out.int(g.pel.len() as i64);
        let (Some(first), Some(last)) = (g.pel.keys().next(), g.pel.keys().next_back()) else {
            out.null();
            out.null();
            out.null_array();
            return Ok(());
        };
        reply_id(out, *first);
        reply_id(out, *last);
        let with: Vec<_> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .collect();
        out.array(with.len());
        for (name, c) in with {
            out.array(2);
            out.bulk(name);
            out.bulk_int(c.pel.len() as i64);
        }
        return Ok(());
    }
    let now = ctx.now_ms as i64;
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => c.pel.range(start..).copied().collect(),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => g.pel.range(start..).map(|(id, _)| *id).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(n) = g.pel.get(&id) else { continue };
        let idle = now - n.delivery_time as i64;
        if minidle != 0 && idle < minidle {
            continue;
        }
        count -= 1;
        rows.push((id, n, idle.max(0)));
    }
    out.array(rows.len());
    for (id, n, idle) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&n.consumer);
        out.int(idle);
        out.int(n.delivery_count as i64);
    }
    Ok(())
}

fn xclaim(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let gname = ctx.arg(2);
    let cname = ctx.arg(3);
    let mut txn = ctx.lock(&key);
    let s = txn.write_obj::<Stream>(&key)?;
    let Some(s) = s.filter(|s| s.groups.contains_key(gname)) else {
        return Err(nogroup(key.bytes, gname));
    };
    let minidle = parse_i64(ctx.arg(4))
        .ok_or(CmdError::new(
            "ERR Invalid min-idle-time argument for XCLAIM",
        ))?
        .max(0);
    let argc = ctx.argc();
    let mut j = 5;
    let mut ids = Vec::new();
    while j < argc {
        match strict_id(ctx.arg(j)) {
            Ok(id) => ids.push((id, ctx.arg(j))),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now_ms as i64;
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argc {
        let more = argc - 1 - j;
        let opt_err = |what: &'static str| move |_| CmdError::new(what);
        if ctx.arg_is(j, "force") {
            force = true;
        } else if ctx.arg_is(j, "justid") {
            justid = true;
        } else if ctx.arg_is(j, "idle") && more > 0 {
            j += 1;
            let v = ctx
                .i64_arg(j)
                .map_err(opt_err("ERR Invalid IDLE option argument for XCLAIM"))?;
            deliverytime = now.wrapping_sub(v);
        } else if ctx.arg_is(j, "time") && more > 0 {
            j += 1;
            deliverytime = ctx
                .i64_arg(j)
                .map_err(opt_err("ERR Invalid TIME option argument for XCLAIM"))?;
        } else if ctx.arg_is(j, "retrycount") && more > 0 {
            j += 1;
            retrycount = ctx
                .i64_arg(j)
                .map_err(opt_err("ERR Invalid RETRYCOUNT option argument for XCLAIM"))?;
        } else if ctx.arg_is(j, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(ctx.arg(j))?;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                truncate_lossy(ctx.arg(j), usize::MAX)
            )));
        }
        j += 1;
    }
    let Some(mut g) = s.groups.remove(gname) else {
        return Err(nogroup(key.bytes, gname));
    };
    let mut propagate_last = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        propagate_last = true;
    }
    if deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let deliverytime = deliverytime as u64;
    let mut body = Vec::new();
    let mut out = Reply::new(&mut body, ctx.out.proto);
    let mut n = 0;
    let mut dirty = propagate_last;
    for (id, arg) in ids {
        let exists = s.contains(id);
        if !exists {
            if let Some(nack) = g.pel.get(&id) {
                propagate_xclaim(
                    ctx,
                    key.bytes,
                    gname,
                    arg,
                    (&nack.consumer[..], nack.delivery_time, nack.delivery_count),
                    g.last_id,
                );
                propagate_last = false;
                g.ack(id);
                dirty = true;
            }
            continue;
        }
        let (owner, time, count) = match g.pel.get(&id) {
            Some(nack) => (
                Some(nack.consumer.clone()),
                nack.delivery_time,
                nack.delivery_count,
            ),
            None if force => (None, ctx.now_ms, 1),
            None => continue,
        };
        if owner.is_some() && minidle > 0 && now - (time as i64) < minidle {
            continue;
        }
        if g.create_consumer(cname, ctx.now_ms) {
            ctx.notify(events::STREAM, "xgroup-createconsumer", key.bytes);
        }
        let count = if retrycount >= 0 {
            retrycount as u64
        } else if !justid {
            count + 1
        } else {
            count
        };
        g.assign(id, cname, deliverytime, count);
        if let Some(c) = g.consumers.get_mut(cname) {
            c.seen_time = ctx.now_ms;
        }
        if justid {
            reply_id(&mut out, id);
        } else if !reply_one(&mut out, s, id) {
            out.null();
        }
        n += 1;
        propagate_xclaim(
            ctx,
            key.bytes,
            gname,
            arg,
            (cname, deliverytime, count),
            g.last_id,
        );
        propagate_last = false;
        dirty = true;
    }
    if propagate_last && ctx.propagating() {
        let last = g.last_id.to_bytes();
        let mut b = itoa::Buffer::new();
        ctx.also_propagate([
            &b"XGROUP"[..],
            b"SETID",
            key.bytes,
            gname,
            &last,
            b"ENTRIESREAD",
            b.format(g.entries_read).as_bytes(),
        ]);
    }
    s.groups.insert(gname.into(), g);
    ctx.prevent_propagation();
    if dirty {
        txn.touch_dirty(&key);
    }
    ctx.out.array(n);
    ctx.out.raw(&body);
    Ok(())
}

fn xautoclaim(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let gname = ctx.arg(2);
    let cname = ctx.arg(3);
    let minidle = parse_i64(ctx.arg(4))
        .ok_or(CmdError::new(
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ))?
        .max(0);
    let start = interval_id(ctx.arg(5), 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < ctx.argc() {
        if ctx.arg_is(j, "count") && j + 1 < ctx.argc() {
            count = match parse_i64(ctx.arg(j + 1)) {
                Some(v) if (1..=i64::MAX / 16).contains(&v) => v,
                _ => return Err(CmdError::new("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if ctx.arg_is(j, "justid") {
            justid = true;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let mut txn = ctx.lock(&key);
    let s = txn.write_obj::<Stream>(&key)?;
    let Some(s) = s.filter(|s| s.groups.contains_key(gname)) else {
        return Err(nogroup(key.bytes, gname));
    };
    let Some(mut g) = s.groups.remove(gname) else {
        return Err(nogroup(key.bytes, gname));
    };
    let now = ctx.now_ms;
    let mut attempts = count.saturating_mul(10);
    let pending: Vec<StreamId> = g.pel.range(start..).map(|(id, _)| *id).collect();
    let mut it = pending.into_iter().peekable();
    let mut body = Vec::new();
    let mut out = Reply::new(&mut body, ctx.out.proto);
    let mut claimed = 0;
    let mut deleted = Vec::new();
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let Some(id) = it.next() else { break };
        let Some(nack) = g.pel.get(&id) else { continue };
        if !s.contains(id) {
            propagate_xclaim(
                ctx,
                key.bytes,
                gname,
                &id.to_bytes(),
                (&nack.consumer[..], nack.delivery_time, nack.delivery_count),
                g.last_id,
            );
            g.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if minidle > 0 && (now as i64 - nack.delivery_time as i64) < minidle {
            continue;
        }
        let delivered = nack.delivery_count + u64::from(!justid);
        if g.create_consumer(cname, now) {
            ctx.notify(events::STREAM, "xgroup-createconsumer", key.bytes);
        }
        g.assign(id, cname, now, delivered);
        if justid {
            reply_id(&mut out, id);
        } else {
            reply_one(&mut out, s, id);
        }
        claimed += 1;
        count -= 1;
        propagate_xclaim(
            ctx,
            key.bytes,
            gname,
            &id.to_bytes(),
            (cname, now, delivered),
            g.last_id,
        );
    }
    let cursor = it.next().unwrap_or(StreamId::MIN);
    let dirty = claimed > 0 || !deleted.is_empty();
    s.groups.insert(gname.into(), g);
    ctx.prevent_propagation();
    if dirty {
        txn.touch_dirty(&key);
    }
    let o = &mut ctx.out;
    o.array(3);
    reply_id(o, cursor);
    o.array(claimed);
    o.raw(&body);
    o.array(deleted.len());
    for id in deleted {
        reply_id(o, id);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XSETID
// ---------------------------------------------------------------------------

fn xsetid(ctx: &mut Ctx<'_>) -> CmdResult {
    let id = strict_id(ctx.arg(2))?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < ctx.argc() {
        let more = ctx.argc() - 1 - i;
        if ctx.arg_is(i, "entriesadded") && more > 0 {
            entries_added = ctx.i64_arg(i + 1)?;
            if entries_added < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
        } else if ctx.arg_is(i, "maxdeletedid") && more > 0 {
            max_xdel = strict_id(ctx.arg(i + 1))?;
            if id < max_xdel {
                return Err(CmdError::new("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let Some(s) = txn.write_obj::<Stream>(&key)? else {
        return Err(NO_SUCH_KEY);
    };
    if s.length > 0 {
        if s.edge_id(true).is_some_and(|top| id < top) {
            return Err(CmdError::new(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return Err(CmdError::new("ERR The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    txn.touch_dirty(&key);
    ctx.notify(events::STREAM, "xsetid", key.bytes);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

fn xgroup(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("xgroup", XGROUP)
}

fn subcommand_syntax(ctx: &Ctx<'_>) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        truncate_lossy(ctx.arg(1), 128),
        String::from_utf8_lossy(ctx.arg(0)).to_ascii_uppercase()
    ))
}

fn nogroup_key(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        truncate_lossy(group, usize::MAX),
        truncate_lossy(key, usize::MAX)
    ))
}

/// XGROUP's shared prologue: options from argument 5 (MKSTREAM for
/// CREATE, ENTRIESREAD for CREATE and SETID), then the key, which must
/// exist unless MKSTREAM. Returns (mkstream, entries_read).
fn xgroup_options(ctx: &Ctx<'_>) -> Result<(bool, i64), CmdError> {
    let create = ctx.arg_is(1, "create");
    let setid = ctx.arg_is(1, "setid");
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_INVALID);
    let mut i = 5;
    while i < ctx.argc() {
        if create && ctx.arg_is(i, "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && ctx.arg_is(i, "entriesread") && i + 1 < ctx.argc() {
            entries_read = ctx.i64_arg(i + 1)?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(CmdError::new(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax(ctx));
        }
    }
    Ok((mkstream, entries_read))
}

const NEEDS_KEY: CmdError = CmdError::new("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");

/// The stream of an XGROUP subcommand, which must exist (with its group
/// when `group` is set).
fn xgroup_stream<'t>(
    ctx: &Ctx<'_>,
    txn: &'t mut Txn<'_>,
    key: &Key<'_>,
    group: bool,
) -> Result<&'t mut Stream, CmdError> {
    xgroup_options(ctx)?;
    let s = txn.write_obj::<Stream>(key)?.ok_or(NEEDS_KEY)?;
    if group && !s.groups.contains_key(ctx.arg(3)) {
        return Err(nogroup_key(ctx.arg(3), key.bytes));
    }
    Ok(s)
}

fn xgroup_create(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mkstream, entries_read) = xgroup_options(ctx)?;
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let exists = txn.write_obj::<Stream>(&key)?.is_some();
    if !exists && !mkstream {
        return Err(NEEDS_KEY);
    }
    if ctx.argc() > 8 {
        return Err(subcommand_syntax(ctx));
    }
    let last = txn
        .write_obj::<Stream>(&key)?
        .map_or(StreamId::MIN, |s| s.last_id);
    let id = if ctx.arg(4) == b"$" {
        last
    } else {
        strict_id(ctx.arg(4))?
    };
    let s = txn.write_obj_or_insert(&key, Stream::new)?;
    let name = ctx.arg(3);
    if s.groups.contains_key(name) {
        return Err(CmdError::new(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    s.groups.insert(name.into(), Group::new(id, entries_read));
    txn.touch_dirty(&key);
    ctx.notify(events::STREAM, "xgroup-create", key.bytes);
    ctx.out.ok();
    Ok(())
}

fn xgroup_setid(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let (_, entries_read) = xgroup_options(ctx)?;
    let s = xgroup_stream(ctx, &mut txn, &key, true)?;
    if ctx.argc() != 5 && ctx.argc() != 7 {
        return Err(subcommand_syntax(ctx));
    }
    let id = if ctx.arg(4) == b"$" {
        s.last_id
    } else {
        parse_id_full(ctx.arg(4), 0, false, false)?.id
    };
    if let Some(g) = s.groups.get_mut(ctx.arg(3)) {
        g.last_id = id;
        g.entries_read = entries_read;
    }
    txn.touch_dirty(&key);
    ctx.notify(events::STREAM, "xgroup-setid", key.bytes);
    ctx.out.ok();
    Ok(())
}

fn xgroup_destroy(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let s = xgroup_stream(ctx, &mut txn, &key, false)?;
    if s.groups.remove(ctx.arg(3)).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    txn.touch_dirty(&key);
    ctx.notify(events::STREAM, "xgroup-destroy", key.bytes);
    ctx.out.int(1);
    Ok(())
}

fn xgroup_createconsumer(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let s = xgroup_stream(ctx, &mut txn, &key, true)?;
    let created = s
        .groups
        .get_mut(ctx.arg(3))
        .is_some_and(|g| g.create_consumer(ctx.arg(4), ctx.now_ms));
    if created {
        txn.touch_dirty(&key);
        ctx.notify(events::STREAM, "xgroup-createconsumer", key.bytes);
    }
    ctx.out.int(i64::from(created));
    Ok(())
}

fn xgroup_delconsumer(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let s = xgroup_stream(ctx, &mut txn, &key, true)?;
    let pending = s
        .groups
        .get_mut(ctx.arg(3))
        .and_then(|g| g.delete_consumer(ctx.arg(4)));
    if pending.is_some() {
        txn.touch_dirty(&key);
        ctx.notify(events::STREAM, "xgroup-delconsumer", key.bytes);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

fn xgroup_help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

// ---------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------

fn xinfo(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("xinfo", XINFO)
}

fn xinfo_help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

fn reply_lag(out: &mut Reply<'_>, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut Reply<'_>, g: &Group) {
    if g.entries_read == ENTRIES_READ_INVALID {
        out.null();
    } else {
        out.int(g.entries_read);
    }
}

fn xinfo_consumers(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let s = txn
        .read_obj::<Stream>(&key, Lookup::Read)?
        .ok_or(NO_SUCH_KEY)?;
    let Some(g) = s.groups.get(ctx.arg(3)) else {
        return Err(nogroup_key(ctx.arg(3), key.bytes));
    };
    let now = ctx.now_ms as i64;
    let out = &mut ctx.out;
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now - c.seen_time as i64).max(0));
    }
    Ok(())
}

fn xinfo_groups(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let s = txn
        .read_obj::<Stream>(&key, Lookup::Read)?
        .ok_or(NO_SUCH_KEY)?;
    let out = &mut ctx.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
    }
    Ok(())
}

fn xinfo_stream(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let s = txn
        .read_obj::<Stream>(&key, Lookup::Read)?
        .ok_or(NO_SUCH_KEY)?;
    let extra = ctx.argc() - 3;
    let mut count: i64 = 10;
    let full = match extra {
        0 => false,
        1 | 3 => {
            if !ctx.arg_is(3, "full") {
                return Err(subcommand_syntax(ctx));
            }
            if extra == 3 {
                if !ctx.arg_is(4, "count") {
                    return Err(subcommand_syntax(ctx));
                }
                count = ctx.i64_arg(5)?;
                if count < 0 {
                    count = 10;
                }
            }
            true
        }
        _ => return Err(subcommand_syntax(ctx)),
    };
    let out = &mut ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for rev in [false, true] {
            out.bulk(if rev { b"last-entry" } else { b"first-entry" });
            match collect(s, StreamId::MIN, StreamId::MAX, rev, 1).first() {
                Some((e, lp)) => reply_entry(out, s, e, lp),
                None => out.null(),
            }
        }
        return Ok(());
    }
    let count = count as usize;
    let limit = if count == 0 { usize::MAX } else { count };
    out.bulk(b"entries");
    let list = collect(s, StreamId::MIN, StreamId::MAX, false, count);
    reply_entries(out, s, &list);
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(g.pel.len().min(limit));
        for (id, n) in g.pel.iter().take(limit) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time as i64);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array(c.pel.len().min(limit));
            for id in c.pel.iter().take(limit) {
                let n = g.pel.get(id);
                out.array(3);
                reply_id(out, *id);
                out.int(n.map_or(0, |n| n.delivery_time as i64));
                out.int(n.map_or(0, |n| n.delivery_count as i64));
            }
        }
    }
    Ok(())
}

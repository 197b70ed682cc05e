//! Key commands: DEL UNLINK EXISTS TYPE TOUCH KEYS SCAN RANDOMKEY RENAME
//! RENAMENX MOVE COPY, the EXPIRE / TTL families, PERSIST, OBJECT, DUMP and
//! RESTORE.
//!
//! Each handler follows its Redis 7.0 counterpart in `db.c`, `expire.c`,
//! `object.c` and `cluster.c`, in the same order of checks, so that the first
//! error Redis would report is the one reported here. Multi-key commands lock
//! all their keys' shards at once (`Engine::lock_keys`), which makes RENAME,
//! COPY and a multi-key DEL atomic; MOVE and COPY to another database switch
//! `txn.db` under the same locks (every database of a key lives in its shard).
//! KEYS locks the whole keyspace; SCAN and RANDOMKEY lock one shard at a time.
//!
//! Replies whose length is not known up front (KEYS, SCAN) are encoded into a
//! scratch buffer first, then copied behind the array header. Entries removed
//! by DEL, UNLINK, RENAME and RESTORE are dropped after the shard locks are
//! released, so freeing never blocks other clients. DEL frees collections
//! inline (a 10M-element one takes a while, on the calling connection only);
//! UNLINK hands collections past Redis's lazy-free threshold to a background
//! thread, as FLUSHALL ASYNC does. RENAME moves a collection without copying
//! it; COPY deep-copies it.

use larder_engine::access;
use larder_engine::dump::{self, DumpError};
use larder_engine::rdb::read::entry_of;
use larder_engine::{events, glob, Entry, EntryRef, Kind, Lookup};
use larder_resp::Reply;
use smallvec::SmallVec;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::{container, free_entries, reply_help};
use crate::error::{truncate_lossy, CmdError, CmdResult, DB_RANGE, NO_SUCH_KEY, SYNTAX};

const fn key_cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    acl: &'static str,
    handler: crate::command::Handler,
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

const ONE: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);
const TWO: (i32, i32, i32) = (1, 2, 1);
const NONE: (i32, i32, i32) = (0, 0, 0);
const READ_FAST: &str = "keyspace read fast";
const WRITE_FAST: &str = "keyspace write fast";

pub const COMMANDS: &[Command] = &[
    key_cmd("del", -2, WRITE, ALL, "keyspace write slow", del),
    key_cmd("unlink", -2, WRITE | FAST, ALL, WRITE_FAST, unlink),
    key_cmd("exists", -2, READONLY | FAST, ALL, READ_FAST, exists),
    key_cmd("type", 2, READONLY | FAST, ONE, READ_FAST, type_cmd),
    key_cmd("touch", -2, READONLY | FAST, ALL, READ_FAST, touch),
    key_cmd(
        "keys",
        2,
        READONLY,
        NONE,
        "keyspace read slow dangerous",
        keys,
    ),
    key_cmd("scan", -2, READONLY, NONE, "keyspace read slow", scan),
    key_cmd(
        "randomkey",
        1,
        READONLY,
        NONE,
        "keyspace read slow",
        randomkey,
    ),
    key_cmd("rename", 3, WRITE, TWO, "keyspace write slow", rename),
    key_cmd("renamenx", 3, WRITE | FAST, TWO, WRITE_FAST, renamenx),
    key_cmd("move", 3, WRITE | FAST, ONE, WRITE_FAST, move_cmd),
    key_cmd(
        "copy",
        -3,
        WRITE | DENYOOM,
        TWO,
        "keyspace write slow",
        copy,
    ),
    key_cmd("expire", -3, WRITE | FAST, ONE, WRITE_FAST, expire),
    key_cmd("pexpire", -3, WRITE | FAST, ONE, WRITE_FAST, pexpire),
    key_cmd("expireat", -3, WRITE | FAST, ONE, WRITE_FAST, expireat),
    key_cmd("pexpireat", -3, WRITE | FAST, ONE, WRITE_FAST, pexpireat),
    key_cmd("ttl", 2, READONLY | FAST, ONE, READ_FAST, ttl),
    key_cmd("pttl", 2, READONLY | FAST, ONE, READ_FAST, pttl),
    key_cmd("expiretime", 2, READONLY | FAST, ONE, READ_FAST, expiretime),
    key_cmd(
        "pexpiretime",
        2,
        READONLY | FAST,
        ONE,
        READ_FAST,
        pexpiretime,
    ),
    key_cmd("persist", 2, WRITE | FAST, ONE, WRITE_FAST, persist),
    container("object", "slow", object, OBJECT_SUBCOMMANDS),
    key_cmd("dump", 2, READONLY, ONE, "keyspace read slow", dump_cmd),
    key_cmd(
        "restore",
        -4,
        WRITE | DENYOOM,
        ONE,
        "keyspace write slow dangerous",
        restore,
    ),
    // What MIGRATE sends in cluster mode; RESTORE outside a cluster.
    key_cmd(
        "restore-asking",
        -4,
        WRITE | DENYOOM | ASKING,
        ONE,
        "keyspace write slow dangerous",
        restore,
    ),
];

/// An OBJECT subcommand that reads the key in argument 2.
const fn object_sub(name: &'static str, handler: crate::command::Handler) -> Command {
    key_cmd(name, 3, READONLY, (2, 2, 1), "keyspace read slow", handler)
}

/// In the order Redis's COMMAND INFO lists them.
const OBJECT_SUBCOMMANDS: &[Command] = &[
    object_sub("object|idletime", object_idletime),
    object_sub("object|refcount", object_refcount),
    object_sub("object|encoding", object_encoding),
    key_cmd(
        "object|help",
        2,
        LOADING | STALE,
        NONE,
        "keyspace slow",
        object_help,
    ),
    object_sub("object|freq", object_freq),
];

const SAME_OBJECT: CmdError = CmdError::new("ERR source and destination objects are the same");

/// Redis's type name of a value (TYPE, SCAN TYPE). Every value kind must be
/// named here, so a new value type cannot be forgotten.
fn type_name(e: EntryRef<'_>) -> &'static str {
    match e.kind() {
        Kind::Embstr | Kind::Raw | Kind::Int => "string",
        Kind::Object => e.object().map_or("none", |o| o.type_name()),
    }
}

fn is_expired(e: EntryRef<'_>, now: u64) -> bool {
    e.expire_at() != 0 && e.expire_at() < now
}

/// Entries taken out of the keyspace, freed once the locks are released.
type Freed = SmallVec<[Entry; 4]>;

// ---------------------------------------------------------------------------
// DEL UNLINK EXISTS TYPE TOUCH
// ---------------------------------------------------------------------------

/// DEL and UNLINK: both count the keys removed; the entries are freed after
/// the shards are unlocked (see the module comment). DEL frees like UNLINK
/// under `lazyfree-lazy-user-del yes`, as in Redis.
fn del(ctx: &mut Ctx<'_>) -> CmdResult {
    let lazy = ctx.shared.config.read().lazyfree_lazy_user_del;
    del_generic(ctx, lazy)
}

/// UNLINK: as DEL, but collections whose freeing costs more than Redis's
/// LAZYFREE_THRESHOLD (64 nodes or elements) are freed on a background
/// thread.
fn unlink(ctx: &mut Ctx<'_>) -> CmdResult {
    del_generic(ctx, true)
}

const LAZYFREE_THRESHOLD: usize = 64;

fn del_generic(ctx: &mut Ctx<'_>, lazy: bool) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let mut freed = Freed::new();
    {
        let mut txn = ctx.lock_keys(&keys);
        for k in &keys {
            if let Some(e) = txn.remove(k) {
                freed.push(e);
                ctx.notify(events::GENERIC, "del", k.bytes);
            }
        }
    }
    ctx.out.int(freed.len() as i64);
    if lazy {
        let big = |e: &Entry| {
            e.as_ref()
                .object()
                .is_some_and(|o| o.free_effort() > LAZYFREE_THRESHOLD)
        };
        if freed.iter().any(big) {
            let (heavy, light): (Vec<Entry>, Vec<Entry>) = freed.into_iter().partition(big);
            drop(light);
            free_entries(ctx, heavy, true);
            return Ok(());
        }
    }
    drop(freed);
    Ok(())
}

/// EXISTS and TOUCH: how many of the keys (repeats counted) exist.
fn count_live(ctx: &mut Ctx<'_>, how: Lookup) -> CmdResult {
    let keys = ctx.keys_from(1, 1);
    let mut txn = ctx.lock_keys(&keys);
    let n = keys.iter().filter(|k| txn.lookup(k, how).is_some()).count();
    drop(txn);
    ctx.out.int(n as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx<'_>) -> CmdResult {
    count_live(ctx, Lookup::ReadNoTouch)
}

fn touch(ctx: &mut Ctx<'_>) -> CmdResult {
    count_live(ctx, Lookup::Read)
}

fn type_cmd(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let name = txn
        .lookup(&key, Lookup::ReadNoTouch)
        .map_or("none", |e| type_name(e.get()));
    ctx.out.simple(name.as_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------
// KEYS SCAN RANDOMKEY
// ---------------------------------------------------------------------------

/// A glob pattern, with Redis's shortcut for `*`.
struct Pattern<'a>(Option<&'a [u8]>);

impl<'a> Pattern<'a> {
    fn new(p: &'a [u8]) -> Pattern<'a> {
        Pattern((p != b"*").then_some(p))
    }

    fn matches(&self, key: &[u8]) -> bool {
        self.0.is_none_or(|p| glob::matches(p, key, false))
    }
}

/// Bulk strings collected for an array whose length is known at the end.
pub(crate) struct KeyList {
    buf: Vec<u8>,
    n: usize,
}

impl KeyList {
    pub(crate) fn new() -> KeyList {
        KeyList {
            buf: Vec::new(),
            n: 0,
        }
    }

    pub(crate) fn push(&mut self, key: &[u8]) {
        // Bulk strings encode the same in RESP2 and RESP3.
        Reply::new(&mut self.buf, larder_resp::Protocol::Resp2).bulk(key);
        self.n += 1;
    }

    pub(crate) fn write(&self, out: &mut Reply<'_>) {
        out.array(self.n);
        out.raw(&self.buf);
    }

    /// The same items as a RESP3 set (an array in RESP2).
    pub(crate) fn write_set(&self, out: &mut Reply<'_>) {
        out.set(self.n);
        out.raw(&self.buf);
    }
}

fn keys(ctx: &mut Ctx<'_>) -> CmdResult {
    let pattern = Pattern::new(ctx.arg(1));
    let mut list = KeyList::new();
    {
        let mut txn = ctx.engine().lock_all(ctx.client.db);
        txn.keys(|k| {
            if pattern.matches(k) {
                list.push(k);
            }
        });
    }
    list.write(&mut ctx.out);
    Ok(())
}

/// Redis's parseScanCursorOrReply: strtoull over the C string (up to a NUL),
/// so a sign is accepted (`-1` wraps to 2^64-1) and an empty cursor is 0;
/// leading space, trailing garbage and overflow are refused.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    const INVALID: Option<u64> = None;
    if arg
        .first()
        .is_some_and(|&c| c == b' ' || (b'\t'..=b'\r').contains(&c))
    {
        return INVALID;
    }
    let s = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        // strtoull read nothing: valid only if there was nothing to read.
        return s.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return INVALID;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

fn scan(ctx: &mut Ctx<'_>) -> CmdResult {
    let cursor = parse_cursor(ctx.arg(1)).ok_or(CmdError::new("ERR invalid cursor"))?;
    let mut count: i64 = 10;
    let mut pattern = Pattern(None);
    let mut type_filter: Option<&[u8]> = None;
    let mut i = 2;
    while i < ctx.argc() {
        let has_value = ctx.argc() - i >= 2;
        if ctx.arg_is(i, "count") && has_value {
            count = ctx.i64_arg(i + 1)?;
            if count < 1 {
                return Err(SYNTAX);
            }
        } else if ctx.arg_is(i, "match") && has_value {
            pattern = Pattern::new(ctx.arg(i + 1));
        } else if ctx.arg_is(i, "type") && has_value {
            type_filter = Some(ctx.arg(i + 1));
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let now = ctx.now_ms;
    let mut list = KeyList::new();
    let mut expired: Vec<Vec<u8>> = Vec::new();
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let next = ctx.engine().scan(ctx.client.db, cursor, count, |e| {
        if !pattern.matches(e.key()) {
        } else if is_expired(e, now) {
            expired.push(e.key().to_vec());
        } else if type_filter.is_none_or(|t| t.eq_ignore_ascii_case(type_name(e).as_bytes())) {
            list.push(e.key());
        }
    });
    // As Redis's scan filter step: an expired key that matched is deleted
    // (with its DEL propagated and its `expired` event), not just skipped.
    for key in &expired {
        let k = ctx.shared.engine.key(key);
        ctx.lock(&k).lookup(&k, Lookup::Peek);
    }
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    list.write(&mut ctx.out);
    Ok(())
}

fn randomkey(ctx: &mut Ctx<'_>) -> CmdResult {
    match ctx.engine().random_key(ctx.client.db) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// RENAME RENAMENX MOVE COPY
// ---------------------------------------------------------------------------

fn rename(ctx: &mut Ctx<'_>) -> CmdResult {
    rename_generic(ctx, false)
}

fn renamenx(ctx: &mut Ctx<'_>) -> CmdResult {
    rename_generic(ctx, true)
}

/// renameGenericCommand: the entry (value, TTL, access data) moves to the new name.
fn rename_generic(ctx: &mut Ctx<'_>, nx: bool) -> CmdResult {
    let (src, dst) = (ctx.key(1), ctx.key(2));
    let mut freed = Freed::new();
    let renamed = {
        let mut txn = ctx.lock_keys(&[src, dst]);
        if txn.lookup(&src, Lookup::Write).is_none() {
            return Err(NO_SUCH_KEY);
        }
        if src.bytes == dst.bytes {
            !nx
        } else if txn.lookup(&dst, Lookup::Write).is_some() && nx {
            false
        } else {
            let old = txn.remove(&src).ok_or(NO_SUCH_KEY)?;
            freed.extend(txn.put(&dst, old.into_key(dst.bytes)));
            ctx.notify(events::GENERIC, "rename_from", src.bytes);
            ctx.notify(events::GENERIC, "rename_to", dst.bytes);
            true
        }
    };
    match (nx, renamed) {
        (true, r) => ctx.out.int(i64::from(r)),
        (false, _) => ctx.out.ok(),
    }
    drop(freed);
    Ok(())
}

/// getIntFromObjectOrReply + selectDb's range check, for MOVE and COPY DB.
fn db_arg(ctx: &Ctx<'_>, i: usize) -> Result<usize, CmdError> {
    let id = ctx.i32_arg(i)?;
    usize::try_from(id)
        .ok()
        .filter(|&d| d < ctx.engine().databases())
        .ok_or(DB_RANGE)
}

fn move_cmd(ctx: &mut Ctx<'_>) -> CmdResult {
    let src_db = ctx.client.db;
    let dst_db = db_arg(ctx, 2)?;
    if dst_db == src_db {
        return Err(SAME_OBJECT);
    }
    let key = ctx.key(1);
    let moved = {
        let mut txn = ctx.lock(&key);
        if txn.lookup(&key, Lookup::Write).is_none() {
            false
        } else {
            txn.db = dst_db;
            if txn.lookup(&key, Lookup::Write).is_some() {
                false
            } else {
                txn.db = src_db;
                match txn.remove(&key) {
                    Some(e) => {
                        txn.db = dst_db;
                        txn.put(&key, e);
                        let ev = &ctx.engine().events;
                        ev.emit(events::GENERIC, "move_from", src_db, key.bytes);
                        ctx.notify_db(events::GENERIC, "move_to", dst_db, key.bytes);
                        true
                    }
                    None => false,
                }
            }
        }
    };
    ctx.out.int(i64::from(moved));
    Ok(())
}

/// copyCommand: the copy gets a fresh access clock (a new object in Redis)
/// and the source's TTL.
fn copy(ctx: &mut Ctx<'_>) -> CmdResult {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < ctx.argc() {
        if ctx.arg_is(j, "replace") {
            replace = true;
        } else if ctx.arg_is(j, "db") && j + 1 < ctx.argc() {
            dst_db = db_arg(ctx, j + 1)?;
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let (src, dst) = (ctx.key(1), ctx.key(2));
    if src_db == dst_db && src.bytes == dst.bytes {
        return Err(SAME_OBJECT);
    }
    let mut freed = Freed::new();
    let copied = {
        let mut txn = ctx.lock_keys(&[src, dst]);
        let fresh = txn.new_access();
        let copy = txn.lookup(&src, Lookup::Read).map(|e| {
            let mut c = e.into_ref().copy_with_key(dst.bytes);
            c.as_mut().set_access(fresh);
            c
        });
        match copy {
            None => false,
            Some(c) => {
                txn.db = dst_db;
                if !replace && txn.lookup(&dst, Lookup::Write).is_some() {
                    freed.push(c);
                    false
                } else {
                    freed.extend(txn.put(&dst, c));
                    ctx.notify_db(events::GENERIC, "copy_to", dst_db, dst.bytes);
                    true
                }
            }
        }
    };
    ctx.out.int(i64::from(copied));
    drop(freed);
    Ok(())
}

// ---------------------------------------------------------------------------
// EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct ExpireCmd {
    name: &'static str,
    seconds: bool,
    relative: bool,
}

fn expire(ctx: &mut Ctx<'_>) -> CmdResult {
    expire_generic(
        ctx,
        ExpireCmd {
            name: "expire",
            seconds: true,
            relative: true,
        },
    )
}

fn pexpire(ctx: &mut Ctx<'_>) -> CmdResult {
    expire_generic(
        ctx,
        ExpireCmd {
            name: "pexpire",
            seconds: false,
            relative: true,
        },
    )
}

fn expireat(ctx: &mut Ctx<'_>) -> CmdResult {
    expire_generic(
        ctx,
        ExpireCmd {
            name: "expireat",
            seconds: true,
            relative: false,
        },
    )
}

fn pexpireat(ctx: &mut Ctx<'_>) -> CmdResult {
    expire_generic(
        ctx,
        ExpireCmd {
            name: "pexpireat",
            seconds: false,
            relative: false,
        },
    )
}

/// NX / XX / GT / LT, as parseExtendedExpireArgumentsOrReply.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(ctx: &Ctx<'_>) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    for j in 3..ctx.argc() {
        if ctx.arg_is(j, "nx") {
            f.nx = true;
        } else if ctx.arg_is(j, "xx") {
            f.xx = true;
        } else if ctx.arg_is(j, "gt") {
            f.gt = true;
        } else if ctx.arg_is(j, "lt") {
            f.lt = true;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unsupported option {}",
                truncate_lossy(ctx.arg(j), usize::MAX)
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(CmdError::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// expireGenericCommand. A deadline at or before now deletes the key (and
/// still replies 1), as Redis does on a master, except while the AOF loads
/// (checkAlreadyExpired): the deadline is set, so that the commands after
/// it in the file still find the key, and it expires once loading is over.
fn expire_generic(ctx: &mut Ctx<'_>, cmd: ExpireCmd) -> CmdResult {
    let flags = parse_expire_flags(ctx)?;
    let invalid = || CmdError::owned(format!("ERR invalid expire time in '{}' command", cmd.name));
    let mut when = ctx.i64_arg(2)?;
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let now = txn.now as i64;
    if cmd.seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if cmd.relative {
        when = when.checked_add(now).ok_or_else(invalid)?;
    }
    let Some(e) = txn.lookup(&key, Lookup::Write) else {
        drop(txn);
        ctx.out.int(0);
        return Ok(());
    };
    // -1 = no TTL (infinite): GT never passes, LT always does.
    let current = match e.get().expire_at() {
        0 => -1,
        t => t as i64,
    };
    let refused = (flags.nx && current != -1)
        || (flags.xx && current == -1)
        || (flags.gt && (current == -1 || when <= current))
        || (flags.lt && current != -1 && when >= current);
    if refused {
        drop(txn);
        ctx.out.int(0);
        return Ok(());
    }
    if when <= now && !ctx.shared.engine.events.writes.loading() {
        ctx.propagate_as([&b"DEL"[..], key.bytes]);
        let gone = txn.remove(&key);
        ctx.notify(events::GENERIC, "del", key.bytes);
        drop(txn);
        drop(gone);
    } else {
        if cmd.name != "pexpireat" {
            let mut b = itoa::Buffer::new();
            ctx.propagate_as([&b"PEXPIREAT"[..], key.bytes, b.format(when).as_bytes()]);
        }
        // (0 is "no TTL": a deadline before 1970, loaded, is 1 ms past it.)
        txn.set_expire(&key, when.max(1) as u64);
        ctx.notify(events::GENERIC, "expire", key.bytes);
        drop(txn);
    }
    ctx.out.int(1);
    Ok(())
}

fn persist(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let had_ttl = txn
        .lookup(&key, Lookup::Write)
        .is_some_and(|e| e.get().expire_at() != 0);
    if had_ttl {
        txn.set_expire(&key, 0);
        ctx.notify(events::GENERIC, "persist", key.bytes);
    }
    drop(txn);
    ctx.out.int(i64::from(had_ttl));
    Ok(())
}

// ---------------------------------------------------------------------------
// TTL PTTL EXPIRETIME PEXPIRETIME
// ---------------------------------------------------------------------------

fn ttl(ctx: &mut Ctx<'_>) -> CmdResult {
    ttl_generic(ctx, false, false)
}

fn pttl(ctx: &mut Ctx<'_>) -> CmdResult {
    ttl_generic(ctx, true, false)
}

fn expiretime(ctx: &mut Ctx<'_>) -> CmdResult {
    ttl_generic(ctx, false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>) -> CmdResult {
    ttl_generic(ctx, true, true)
}

/// ttlGenericCommand: -2 missing, -1 no TTL, else the time left (or the
/// deadline), seconds rounded to nearest.
fn ttl_generic(ctx: &mut Ctx<'_>, ms: bool, absolute: bool) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let now = txn.now as i64;
    let reply = match txn.lookup(&key, Lookup::ReadNoTouch) {
        None => -2,
        Some(e) => match e.get().expire_at() {
            0 => -1,
            at => {
                let at = at as i64;
                let t = if absolute {
                    at
                } else {
                    at.saturating_sub(now).max(0)
                };
                if ms {
                    t
                } else {
                    t.saturating_add(500) / 1000
                }
            }
        },
    };
    drop(txn);
    ctx.out.int(reply);
    Ok(())
}

// ---------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------

fn object(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("object", OBJECT_SUBCOMMANDS)
}

/// Looks up OBJECT's key (no touch, counted as Redis's objectCommandLookup)
/// and answers from its entry; a missing key is a null reply.
fn object_reply(
    ctx: &mut Ctx<'_>,
    answer: impl FnOnce(EntryRef<'_>, &ObjectCtx) -> Result<ObjectReply, CmdError>,
) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let octx = ObjectCtx {
        now: txn.now,
        policy: txn.policy(),
        decay: ctx.engine().config.lfu_decay_time(),
        shared_ints: ctx.engine().config.maxmemory() == 0
            || !matches!(
                txn.policy().rank(),
                Some(larder_engine::evict::Rank::Lru | larder_engine::evict::Rank::Lfu)
            ),
    };
    let reply = match txn.lookup(&key, Lookup::ReadNoTouch) {
        None => None,
        Some(e) => Some(answer(e.into_ref(), &octx)?),
    };
    drop(txn);
    match reply {
        None => ctx.out.null(),
        Some(ObjectReply::Int(n)) => ctx.out.int(n),
        Some(ObjectReply::Bulk(s)) => ctx.out.bulk(s.as_bytes()),
    }
    Ok(())
}

struct ObjectCtx {
    now: u64,
    policy: larder_engine::Policy,
    decay: u32,
    /// Whether Redis would use its shared integer objects (refcount INT_MAX).
    shared_ints: bool,
}

enum ObjectReply {
    Int(i64),
    Bulk(&'static str),
}

/// Integers Redis shares instead of allocating (OBJ_SHARED_INTEGERS).
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object_encoding(ctx: &mut Ctx<'_>) -> CmdResult {
    object_reply(ctx, |e, _| Ok(ObjectReply::Bulk(e.encoding_name())))
}

fn object_refcount(ctx: &mut Ctx<'_>) -> CmdResult {
    object_reply(ctx, |e, o| {
        let shared = o.shared_ints
            && matches!(e.value(), larder_engine::StrRef::Int(i) if (0..SHARED_INTEGERS).contains(&i));
        Ok(ObjectReply::Int(if shared { SHARED_REFCOUNT } else { 1 }))
    })
}

fn object_idletime(ctx: &mut Ctx<'_>) -> CmdResult {
    object_reply(ctx, |e, o| {
        if o.policy.is_lfu() {
            return Err(CmdError::new("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        let clock = access::clock_of(e.access());
        // FIFO keeps the insertion time (16 ms ticks): report the age instead.
        let secs = if o.policy.is_fifo() {
            u64::from(access::elapsed(access::fifo_clock(o.now), clock)) * 16 / 1000
        } else {
            u64::from(access::elapsed(access::lru_clock(o.now), clock))
        };
        Ok(ObjectReply::Int(secs as i64))
    })
}

fn object_freq(ctx: &mut Ctx<'_>) -> CmdResult {
    object_reply(ctx, |e, o| {
        if !o.policy.is_lfu() {
            return Err(CmdError::new("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        let c = access::lfu_decayed(e.access(), access::lru_clock(o.now), o.decay);
        Ok(ObjectReply::Int(i64::from(c)))
    })
}

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

fn object_help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(ctx, "OBJECT", OBJECT_HELP)
}

// ---------------------------------------------------------------------------
// DUMP RESTORE
// ---------------------------------------------------------------------------

fn dump_cmd(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(1);
    let mut payload = Vec::new();
    let compress = ctx.shared.config.read().rdbcompression;
    let fill = ctx.engine().config.limits().list_max_listpack_size;
    let found = {
        let mut txn = ctx.lock(&key);
        match txn.get(&key) {
            Some(e) => {
                dump::serialize(e, compress, fill, &mut payload);
                true
            }
            None => false,
        }
    };
    if found {
        ctx.out.bulk(&payload);
    } else {
        ctx.out.null();
    }
    Ok(())
}

fn dump_error(e: DumpError) -> CmdError {
    match e {
        DumpError::VersionOrChecksum => {
            CmdError::new("ERR DUMP payload version or checksum are wrong")
        }
        DumpError::BadFormat => {
            // Redis's rdbReportCorruptRDB line (its suite looks for it).
            tracing::warn!(
                "Internal error in RDB reading offset 0, function at rdb.c:0 -> \
                 DUMP payload integrity check failed"
            );
            CmdError::new("ERR Bad data format")
        }
    }
}

/// restoreCommand: options, BUSYKEY, TTL, payload checks, in Redis's order. A
/// TTL already in the past (ABSTTL, or a relative one that overflows) replies
/// OK without creating the key, deleting the old one under REPLACE.
fn restore(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<u64>, Option<u8>) = (None, None);
    let mut j = 4;
    while j < ctx.argc() {
        let more = j + 1 < ctx.argc();
        if ctx.arg_is(j, "replace") {
            replace = true;
        } else if ctx.arg_is(j, "absttl") {
            absttl = true;
        } else if ctx.arg_is(j, "idletime") && more && freq.is_none() {
            let v = ctx.i64_arg(j + 1)?;
            idle = Some(
                u64::try_from(v)
                    .map_err(|_| CmdError::new("ERR Invalid IDLETIME value, must be >= 0"))?,
            );
            j += 1;
        } else if ctx.arg_is(j, "freq") && more && idle.is_none() {
            let v = ctx.i64_arg(j + 1)?;
            freq =
                Some(u8::try_from(v).map_err(|_| {
                    CmdError::new("ERR Invalid FREQ value, must be >= 0 and <= 255")
                })?);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let key = ctx.key(1);
    let payload = ctx.arg(3);
    let mut freed = Freed::new();
    {
        let mut txn = ctx.lock(&key);
        if !replace && txn.lookup(&key, Lookup::Write).is_some() {
            return Err(CmdError::new("BUSYKEY Target key name already exists."));
        }
        let mut ttl = ctx.i64_arg(2)?;
        if ttl < 0 {
            return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
        }
        let check_crc =
            !(ctx.shared.admin.skip_checksum).load(std::sync::atomic::Ordering::Relaxed);
        dump::verify_with(payload, check_crc).map_err(dump_error)?;
        let value =
            dump::deserialize(payload, &ctx.engine().config.limits()).map_err(dump_error)?;
        if replace {
            freed.extend(txn.remove(&key));
        }
        let now = txn.now as i64;
        if ttl != 0 && !absttl {
            // Redis adds without an overflow check; a wrapped deadline is past.
            ttl = ttl.wrapping_add(now);
        }
        if ttl == 0 || ttl > now {
            let access = txn.restored_access(idle, freq);
            if ttl != 0 && !absttl && ctx.propagating() {
                // Redis 7.0 propagates the deadline: TTL made absolute, ABSTTL.
                let mut b = itoa::Buffer::new();
                let at = b.format(ttl).as_bytes();
                let args = ctx.args.iter().enumerate();
                let args = args.map(|(i, a)| if i == 2 { at } else { a });
                ctx.propagate_as(args.chain([&b"ABSTTL"[..]]));
            }
            txn.put(&key, entry_of(key.bytes, value, ttl as u64, access));
            ctx.notify(events::GENERIC, "restore", key.bytes);
        } else if !freed.is_empty() {
            ctx.propagate_as([&b"DEL"[..], key.bytes]);
            // REPLACE with a deadline already past: the old key is deleted.
            ctx.notify(events::GENERIC, "del", key.bytes);
        }
    }
    drop(freed);
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_parse_like_strtoull() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_cursor(b"5\0x"), Some(5));
        for bad in [
            &b"18446744073709551616"[..],
            b" 5",
            b"+",
            b"-",
            b"1.5",
            b"abc",
            b"5 ",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }
}

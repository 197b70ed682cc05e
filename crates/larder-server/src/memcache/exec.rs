//! memcached commands against the engine, with memcached 1.6.18's replies.
//!
//! Each key is hashed once and locks one shard (a multi-get locks its keys
//! one at a time, as memcached does not make it atomic either). Items live
//! in database 0; their memcached metadata is the entry's trailer
//! (`McMeta`), absent on strings written over RESP (flags 0; a CAS is given
//! by rebuilding the entry with a trailer when a command needs one).
//!
//! Time: memcached's exptime is 0 (never), negative (already expired), up
//! to 30 days (relative seconds) or an absolute Unix time; [`Exp`] turns it
//! into the engine's absolute milliseconds once per request. An exptime in
//! the past (a store, `touch`, `gat`, meta `T`) leaves the item in place
//! with an expiry long gone (`Exp::Past`, 1 ms), as memcached does: the next
//! command on the key finds it expired (`get_expired`), RESP reads see it
//! absent, and active expiry or eviction reclaims it like any expired key.
//! Nothing looks the key up again in the same command (that would reclaim
//! it at once), and the AOF logs it as deleted.
//!
//! Every write is logged for the AOF under its key's lock (`aof.rs`), and
//! under `appendfsync always` the connection holds its next reply until
//! the log is on disk (`Session::aof_wait`).

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use larder_engine::{Entry, EntryRef, Key, Lookup, McMeta, StrRef, StrValue, Txn};
use larder_memcache::reply::{self, flag_key, flag_num, line, uint};
use larder_memcache::{num, Meta, MetaCmd, MetaFlags, Request, Store, StoreOp};

use super::conn::OUT_FLUSH;
use super::{detail, watch, Local};
use crate::shared::Shared;

/// What the connection does after a request.
pub enum Flow {
    Next,
    /// Next, and memcached would have sent the replies so far (a binary
    /// Noop or error): a bad magic later does not take them back.
    Sent,
    /// Skip this many bytes of input (a refused data block).
    Swallow(usize),
    Close,
    /// The connection becomes a `watch` log stream for these kinds.
    Watch(u32),
}

/// memcached's REALTIME_MAXDELTA: exptimes above are absolute Unix times.
const MAX_DELTA_SECS: i64 = 60 * 60 * 24 * 30;

/// An exptime resolved against the request's clock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Exp {
    Never,
    At(u64),
    Past,
}

impl Exp {
    /// Text and meta exptimes are signed 32-bit; binary ones unsigned
    /// (0xffffffff is a time in 2106, not "expired").
    pub(super) fn of(exptime: impl Into<i64>, now_ms: u64) -> Exp {
        let e: i64 = exptime.into();
        if e == 0 {
            Exp::Never
        } else if e < 0 {
            Exp::Past
        } else if e > MAX_DELTA_SECS {
            let at = e as u64 * 1000;
            if at <= now_ms {
                Exp::Past
            } else {
                Exp::At(at)
            }
        } else {
            Exp::At(now_ms + e as u64 * 1000)
        }
    }

    /// An item's current expiry (`expire_at` ms, 0 = none), kept.
    fn kept(expire_at: u64) -> Exp {
        if expire_at == 0 {
            Exp::Never
        } else {
            Exp::At(expire_at)
        }
    }

    pub(super) fn ms(self) -> u64 {
        match self {
            Exp::Never => 0,
            Exp::At(t) => t,
            Exp::Past => 1,
        }
    }
}

/// memcached's outcome of a store.
pub(super) enum Outcome {
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
    NoMemory,
}

/// What a storage request asks for beyond the text protocol's fields.
#[derive(Clone, Copy, Default)]
pub(super) struct StoreOpts {
    /// Compared CAS (0 = none, as memcached treats it).
    cas_in: u64,
    /// `ms ... I`: a CAS lower than the item's stores a stale value.
    stale_ok: bool,
    /// `ms ... E<cas>`: the new item's CAS.
    new_cas: Option<u64>,
    binary_key: bool,
}

/// What an incr/decr asks for beyond its delta.
#[derive(Clone, Copy, Default)]
pub(super) struct ArithOpts {
    /// Compared CAS (0 = none).
    pub(super) cas: u64,
    /// Create a missing item with this value and expiry (meta `N`/`J`,
    /// the binary protocol's initial value).
    pub(super) vivify: Option<(u64, Exp)>,
    /// A new expiry for an existing item (meta `T`); else it is kept.
    pub(super) ttl: Option<Exp>,
}

/// What a delete did.
#[derive(PartialEq, Eq)]
pub(super) enum Deleted {
    Yes,
    NotFound,
    /// The compared CAS differs.
    Exists,
}

impl StoreOpts {
    /// A text or binary store comparing `cas_in` (0 = none).
    pub(super) fn compare(cas_in: u64) -> StoreOpts {
        StoreOpts {
            cas_in,
            ..StoreOpts::default()
        }
    }
}

pub(super) enum Arith {
    /// The new value, its CAS and trailer, whether the item was created
    /// (`N`), and its expiry before the command (0 when created).
    Value(u64, u64, McMeta, bool, u64),
    NotFound,
    NonNumeric,
    Exists,
}

/// A connection's memcached state.
pub struct Session<'s> {
    pub(super) shared: &'s Shared,
    pub local: Local,
    /// The feed offset this connection's logged writes reached: under
    /// `appendfsync always` its next reply waits for it (`Feed::settle`).
    pub aof_wait: u64,
    /// The batch's clock, Unix ms.
    now: u64,
    /// Scratch for append/prepend and incr results.
    scratch: Vec<u8>,
    /// The connection's socket fd (memcached's connection id).
    fd: i32,
    /// The batch's copy of `stats detail on` and of the watched kinds.
    detail: bool,
    watching: u32,
    /// Whether requests may run: at once when the server requires no
    /// password, else after an authentication (`login`).
    pub authenticated: bool,
    /// UDP only: where each reply message starts in the output (`udp.rs`).
    /// memcached makes each key of a text get its own message.
    pub udp_marks: Option<Vec<usize>>,
    /// A text get cut short by a full output buffer (`conn::step`).
    pub(super) get_rest: Option<GetRest>,
}

/// A text get cut short once its replies passed `OUT_FLUSH`: the keys not
/// yet run, as a range of the connection's unconsumed input (the request
/// stays there until its last key has run). memcached's replies point at
/// the items instead of copying them; without this, one line of 16 MB
/// could ask for gigabytes of copies at once.
pub(super) struct GetRest {
    pub keys: std::ops::Range<usize>,
    pub with_cas: bool,
    pub touch: Option<Exp>,
    /// The whole request's length.
    pub consumed: usize,
}

const E_NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value";
const E_OOM: &[u8] = b"SERVER_ERROR out of memory storing object";

/// The string value of an entry, or None for a collection.
fn str_bytes<'a>(e: &EntryRef<'a>, buf: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
    if e.object().is_some() {
        return None;
    }
    Some(match e.value() {
        StrRef::Int(i) => buf.format(i).as_bytes(),
        StrRef::Bytes(b) => b,
    })
}

impl<'s> Session<'s> {
    pub fn new(shared: &'s Shared, fd: i32) -> Session<'s> {
        Session {
            shared,
            local: Local::default(),
            now: larder_engine::access::now_ms(),
            scratch: Vec::new(),
            aof_wait: 0,
            fd,
            detail: false,
            watching: 0,
            authenticated: !shared.acl.auth_required(),
            udp_marks: None,
            get_rest: None,
        }
    }

    /// Checks credentials as RESP's `AUTH user pass` does. The memcached
    /// protocols have no per-command permissions, so only a user allowed
    /// every command on every key and channel may use them.
    pub fn login(&mut self, user: &[u8], pass: &[u8]) -> bool {
        let ok = (self.shared.acl.authenticate(user, pass)).is_some_and(|u| u.open());
        self.local.auth_cmds += 1;
        if ok {
            self.authenticated = true;
        } else {
            self.local.auth_errors += 1;
        }
        ok
    }

    /// Reads the clock for a batch of requests, runs a due delayed flush,
    /// and looks at whether `stats detail` or a `watch` wants events.
    pub fn begin_batch(&mut self) {
        let mc = &self.shared.memcache;
        self.now = larder_engine::access::now_ms();
        mc.run_due_flush(self.shared, self.now);
        self.detail = mc.detail_on.load(Relaxed);
        self.watching = mc.logger.mask();
    }

    /// `stats detail on|off` applies from the next request.
    pub(super) fn refresh_detail(&mut self) {
        self.detail = self.shared.memcache.detail_on.load(Relaxed);
    }

    /// An exptime resolved against the batch's clock.
    pub(super) fn exp(&self, exptime: impl Into<i64>) -> Exp {
        Exp::of(exptime, self.now)
    }

    /// `stats detail`: counts a get, set or delete.
    pub(super) fn detail(&self, key: &[u8], op: detail::Op) {
        if self.detail {
            self.shared.memcache.detail.record(key, op);
        }
    }

    /// `watch fetchers`: the `item_get` of a command's key lookup.
    fn watch_get(&self, txn: &mut Txn<'_>, key: &Key<'_>) {
        if self.watching & watch::FETCHERS != 0 {
            let mut buf = itoa::Buffer::new();
            let size = txn
                .lookup(key, Lookup::Peek)
                .and_then(|e| str_bytes(&e.get(), &mut buf).map(<[u8]>::len));
            self.shared
                .memcache
                .logger
                .item_get(key.bytes, size, self.fd);
        }
    }

    /// `watch mutations`: a store's `item_store`.
    pub(super) fn watch_store(&self, key: &[u8], op: StoreOp, r: &Outcome, exp: Exp, size: usize) {
        if self.watching & watch::MUTATIONS == 0 {
            return;
        }
        let status = match r {
            Outcome::Stored(_) => "stored",
            Outcome::NotStored => "not_stored",
            Outcome::Exists => "exists",
            Outcome::NotFound => "not_found",
            Outcome::NoMemory => "no_memory",
        };
        let cmd = match op {
            StoreOp::Set => "set",
            StoreOp::Add => "add",
            StoreOp::Replace => "replace",
            StoreOp::Append => "append",
            StoreOp::Prepend => "prepend",
            StoreOp::Cas => "cas",
        };
        let ttl = match exp {
            Exp::At(t) => t.saturating_sub(self.now).div_ceil(1000),
            _ => 0,
        };
        let logger = &self.shared.memcache.logger;
        logger.item_store(key, status, cmd, ttl, self.fd, size);
    }

    /// Adds the batch's counters to the server's.
    pub fn end_batch(&mut self) {
        self.shared.memcache.counters.add(&self.local);
        self.local = Local::default();
    }

    /// The batch's clock, Unix seconds.
    pub fn secs(&self) -> u32 {
        (self.now / 1000) as u32
    }

    /// Locks `key`'s shard in database 0. A key the last `flush_all`
    /// removed and nobody has stored again counts in `get_flushed`.
    fn lock<'k>(&self, key: &Key<'k>) -> McTxn<'s> {
        let mut txn = self.shared.engine.lock_key_at(0, key, self.now);
        let mc = &self.shared.memcache;
        if mc.take_flushed(key.hash) && txn.lookup(key, Lookup::Peek).is_none() {
            mc.counters.mine().get_flushed.fetch_add(1, Relaxed);
        }
        McTxn {
            txn,
            expired: &mc.counters.mine().get_expired,
        }
    }

    fn next_cas(&self) -> u64 {
        self.shared.engine.next_mc_cas()
    }

    /// Runs one request, writing its reply to `out`.
    pub fn run(&mut self, req: Request<'_>, out: &mut Vec<u8>) -> Flow {
        match req {
            Request::Get(_) => unreachable!("conn::step runs text gets, which can stop part-way"),
            Request::Store(s) => self.text_store(&s, out),
            Request::Delete { key, noreply } => {
                let found = self.delete(key, 0) == Deleted::Yes;
                if !noreply {
                    line(out, if found { b"DELETED" } else { b"NOT_FOUND" });
                }
            }
            Request::Arith {
                incr,
                key,
                delta,
                noreply,
            } => {
                let r = self.arith(key, incr, delta, ArithOpts::default());
                if !noreply {
                    match r {
                        Arith::Value(v, ..) => {
                            uint(out, v);
                            out.extend_from_slice(b"\r\n");
                        }
                        Arith::NotFound => line(out, b"NOT_FOUND"),
                        Arith::NonNumeric => line(out, E_NON_NUMERIC),
                        // No CAS is compared by the text protocol.
                        Arith::Exists => line(out, b"EXISTS"),
                    }
                }
            }
            Request::Touch {
                key,
                exptime,
                noreply,
            } => {
                self.local.cmd_touch += 1;
                let found = self.touch(key, Exp::of(exptime, self.now));
                if found {
                    self.local.touch_hits += 1;
                } else {
                    self.local.touch_misses += 1;
                }
                if !noreply {
                    line(out, if found { b"TOUCHED" } else { b"NOT_FOUND" });
                }
            }
            Request::FlushAll { delay, noreply } => {
                let done = self.flush_all(delay.into());
                if !noreply {
                    line(
                        out,
                        if done {
                            b"OK"
                        } else {
                            b"CLIENT_ERROR flush_all not allowed"
                        },
                    );
                }
            }
            Request::Version => {
                out.extend_from_slice(b"VERSION ");
                line(out, larder_memcache::MEMCACHED_COMPAT_VERSION.as_bytes());
            }
            Request::Verbosity { level, noreply } => {
                // memcached's MAX_VERBOSITY_LEVEL.
                self.shared.memcache.tunables.lock().verbosity = level.min(2);
                if !noreply {
                    line(out, b"OK");
                }
            }
            Request::Quit => return Flow::Close,
            Request::Shutdown { invalid } => {
                if !self.shared.config.read().memcache_enable_shutdown {
                    line(out, b"ERROR: shutdown not enabled");
                } else if invalid {
                    line(out, b"CLIENT_ERROR invalid shutdown mode");
                } else {
                    self.shared.request_shutdown();
                    return Flow::Close;
                }
            }
            Request::CacheMemlimit { megabytes, noreply } => {
                let reply: &[u8] = if megabytes < 8 {
                    b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"
                } else if megabytes > 1_000_000_000 {
                    b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"
                } else {
                    self.shared.config.write().maxmemory = u64::from(megabytes) << 20;
                    self.shared.apply_config();
                    b"OK"
                };
                if !noreply {
                    line(out, reply);
                }
            }
            Request::Stats(t) => {
                super::stats::stats(self.shared, &t, out);
                self.refresh_detail();
            }
            Request::Admin(t) => return super::admin::run(self.shared, &t, out),
            Request::Meta(m) => self.meta(&m, out),
            Request::Error {
                msg,
                noreply,
                swallow,
            } => {
                if !noreply {
                    line(out, msg.as_bytes());
                }
                if swallow > 0 {
                    return Flow::Swallow(swallow);
                }
            }
            Request::TooLarge {
                key,
                unlink,
                noreply,
                swallow,
            } => {
                self.local.store_too_large += 1;
                self.detail(key, detail::Op::Set);
                if unlink {
                    self.unlink(key);
                }
                if !noreply {
                    line(out, b"SERVER_ERROR object too large for cache");
                }
                return Flow::Swallow(swallow);
            }
        }
        Flow::Next
    }

    /// `flush_all` / binary Flush: now, or in `delay` seconds (an exptime).
    /// False, and nothing flushed, under `memcache-disable-flush-all`
    /// (counted all the same, as memcached does).
    pub(super) fn flush_all(&mut self, delay: i64) -> bool {
        self.local.cmd_flush += 1;
        if self.shared.config.read().memcache_disable_flush_all {
            return false;
        }
        if delay > 0 {
            let at = Exp::of(delay, self.now).ms();
            self.shared.memcache.schedule_flush(at.max(1));
        } else {
            self.shared.memcache.schedule_flush(0);
            flush_db0(self.shared, self.now, &mut self.aof_wait);
        }
        true
    }

    // ---- text protocol -------------------------------------------------

    /// Runs a text get's `keys` (`get`, `gets`, `gat`, `gats`) until they
    /// are done and END is written (None), or until the replies pass
    /// `OUT_FLUSH` (Some: how many bytes of `keys` ran).
    pub(super) fn get_keys(
        &mut self,
        keys: &[u8],
        with_cas: bool,
        touch: Option<Exp>,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        let spaces = |s: &[u8]| s.iter().take_while(|&&b| b == b' ').count();
        let mut rest = &keys[spaces(keys)..];
        while !rest.is_empty() {
            let (k, tail) =
                rest.split_at(rest.iter().position(|&b| b == b' ').unwrap_or(rest.len()));
            rest = &tail[spaces(tail)..];
            if let Some(marks) = &mut self.udp_marks {
                marks.push(out.len());
            }
            self.fetch(k, with_cas, touch, |flags, data, cas| {
                reply::value(out, k, flags, data, cas);
            });
            // (END goes with the last key's reply: a UDP message.)
            if out.len() >= OUT_FLUSH && !rest.is_empty() {
                return Some(keys.len() - rest.len());
            }
        }
        line(out, b"END");
        None
    }

    /// One key of a get or touch (text `get`/`gets`/`gat`/`gats`, binary
    /// Get/GAT/Touch): `emit` writes the hit's reply from its flags, data
    /// and (`with_cas`) CAS. Counted as memcached does (a `gat` key as a
    /// touch only), and for `stats detail`.
    pub(super) fn fetch(
        &mut self,
        kb: &[u8],
        with_cas: bool,
        touch: Option<Exp>,
        emit: impl FnOnce(u32, &[u8], Option<u64>),
    ) -> bool {
        let key = self.shared.engine.key(kb);
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        let hit = self.get_one(&mut txn, &key, with_cas, touch, emit);
        drop(txn);
        self.detail(kb, detail::Op::Get { hit });
        self.count_get(touch.is_some(), hit);
        hit
    }

    /// Counts a fetch: a touch (`gat`, `mg ... T`) or a get, hit or miss.
    fn count_get(&mut self, touch: bool, hit: bool) {
        let l = &mut self.local;
        match (touch, hit) {
            (false, true) => l.get_hits += 1,
            (false, false) => l.get_misses += 1,
            (true, true) => l.touch_hits += 1,
            (true, false) => l.touch_misses += 1,
        }
        if touch {
            l.cmd_touch += 1;
        } else {
            l.cmd_get += 1;
        }
    }

    /// [`Self::fetch`] under the key's lock.
    fn get_one(
        &mut self,
        txn: &mut Txn<'_>,
        key: &Key<'_>,
        with_cas: bool,
        touch: Option<Exp>,
        emit: impl FnOnce(u32, &[u8], Option<u64>),
    ) -> bool {
        let now_secs = self.secs();
        let Some(mut e) = txn.lookup(key, Lookup::Read) else {
            return false;
        };
        let r = e.get();
        let mut buf = itoa::Buffer::new();
        let Some(data) = str_bytes(&r, &mut buf) else {
            return false;
        };
        let mc = r.mc();
        let cas = match (with_cas, mc) {
            (false, _) => None,
            (true, Some(m)) => Some(m.cas),
            (true, None) => Some(self.next_cas()),
        };
        emit(mc.map_or(0, |m| m.flags), data, cas);
        match mc {
            Some(m) => {
                e.set_mc(McMeta {
                    atime: now_secs,
                    bits: m.bits | McMeta::FETCHED,
                    ..m
                });
            }
            None if with_cas => {
                let meta = McMeta {
                    cas: cas.unwrap_or(0),
                    flags: 0,
                    atime: now_secs,
                    bits: McMeta::FETCHED,
                };
                if let Some(up) = e.get().with_mc(meta) {
                    txn.put(key, up);
                }
            }
            None => {}
        }
        if let Some(t) = touch {
            // The expiry changed: let the engine's volatile index know (a
            // past one: the item is returned now and found expired next).
            txn.set_expire(key, t.ms());
            self.log_exp(key.bytes, t);
        }
        true
    }

    fn text_store(&mut self, s: &Store<'_>, out: &mut Vec<u8>) {
        self.detail(s.key, detail::Op::Set);
        let opts = StoreOpts::compare(s.cas);
        let exp = Exp::of(s.exptime, self.now);
        let r = self.store(s.key, s.op, s.flags, exp, s.data, opts);
        self.watch_store(s.key, s.op, &r, exp, s.data.len());
        // memcached fails the allocation before it counts the set.
        if matches!(r, Outcome::NoMemory) {
            self.local.store_no_memory += 1;
        } else {
            self.local.cmd_set += 1;
        }
        if s.noreply {
            return;
        }
        let text: &[u8] = match r {
            Outcome::Stored(_) => b"STORED",
            Outcome::NotStored => b"NOT_STORED",
            Outcome::Exists => b"EXISTS",
            Outcome::NotFound => b"NOT_FOUND",
            Outcome::NoMemory => E_OOM,
        };
        line(out, text);
    }

    /// memcached's `do_store_item`. Out of memory, a plain set drops the
    /// old item, as memcached does.
    pub(super) fn store(
        &mut self,
        kb: &[u8],
        op: StoreOp,
        flags: u32,
        exp: Exp,
        data: &[u8],
        opts: StoreOpts,
    ) -> Outcome {
        let engine = &self.shared.engine;
        if engine.evict_until_fits().is_err() {
            if op == StoreOp::Set {
                self.unlink(kb);
            }
            return Outcome::NoMemory;
        }
        let key = engine.key(kb);
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        // (exists at all, its string value's metadata, expiry)
        // A plain set needs nothing of the old item: skip its lookup (the
        // store itself finds the slot).
        let old = if op == StoreOp::Set {
            None
        } else {
            txn.lookup(&key, Lookup::Write)
        };
        let old = old.map(|e| {
            let r = e.get();
            let is_str = r.object().is_none();
            (is_str, r.mc(), r.expire_at())
        });
        let old_str = old.filter(|o| o.0);
        let old_cas = old_str.and_then(|o| o.1).map(|m| m.cas);
        // A stale set keeps the old item's win-token bit.
        let mut stale: Option<u8> = None;
        let mut exp = exp;
        let mut flags = flags;
        let mut value = data;
        match op {
            StoreOp::Set => {}
            StoreOp::Add => {
                if old.is_some() {
                    return Outcome::NotStored;
                }
            }
            StoreOp::Replace => {
                if old_str.is_none() {
                    return Outcome::NotStored;
                }
            }
            StoreOp::Append | StoreOp::Prepend => {
                let Some((_, mc, expire_at)) = old_str else {
                    return Outcome::NotStored;
                };
                if opts.cas_in != 0 && Some(opts.cas_in) != old_cas {
                    return Outcome::Exists;
                }
                flags = mc.map_or(0, |m| m.flags);
                exp = Exp::kept(expire_at);
                let mut buf = itoa::Buffer::new();
                let Some(e) = txn.lookup(&key, Lookup::Peek) else {
                    return Outcome::NotStored;
                };
                let r = e.into_ref();
                let cur = str_bytes(&r, &mut buf).unwrap_or_default();
                // memcached allocates the joined item: past the item size
                // limit that fails, and the old item stays.
                let limits = larder_memcache::Limits {
                    item_size_max: self.shared.memcache.item_max.load(Relaxed) as usize,
                };
                if !limits.item_fits(kb.len(), flags, cur.len() + data.len()) {
                    return Outcome::NotStored;
                }
                self.scratch.clear();
                if op == StoreOp::Append {
                    self.scratch.extend_from_slice(cur);
                    self.scratch.extend_from_slice(data);
                } else {
                    self.scratch.extend_from_slice(data);
                    self.scratch.extend_from_slice(cur);
                }
                value = &self.scratch;
            }
            StoreOp::Cas => match old_str {
                None => {
                    self.local.cas_misses += 1;
                    return Outcome::NotFound;
                }
                // A CAS of 0 compares with nothing (memcached's CAS_NONE).
                Some(_) if opts.cas_in != 0 && old_cas == Some(opts.cas_in) => {
                    self.local.cas_hits += 1
                }
                Some((_, mc, expire_at))
                    if opts.stale_ok && old_cas.is_some_and(|c| opts.cas_in < c) =>
                {
                    self.local.cas_hits += 1;
                    stale = Some(mc.map_or(0, |m| m.bits & McMeta::TOKEN_SENT));
                    exp = Exp::kept(expire_at);
                }
                Some(_) => {
                    self.local.cas_badval += 1;
                    return Outcome::Exists;
                }
            },
        }
        // (`E<cas>` sets nothing when CAS is disabled, as in memcached.)
        let cas = match opts.new_cas {
            Some(c) if self.shared.engine.config.mc_cas() => c,
            _ => self.next_cas(),
        };
        self.local.total_items += 1;
        let mut bits = 0;
        if opts.binary_key {
            bits |= McMeta::BINARY_KEY;
        }
        if let Some(token) = stale {
            bits |= McMeta::STALE | token;
        }
        let mc = McMeta {
            cas,
            flags,
            atime: self.secs(),
            bits,
        };
        let old = txn.set_mc(&key, StrValue::Auto(value), exp.ms(), mc);
        if exp == Exp::Past {
            // Stored already expired, as memcached does: the next command
            // on the key finds it expired (`get_expired`), and active expiry
            // or eviction reclaims it. The log has it gone.
            self.log(&[b"DEL", kb]);
        } else {
            self.log_item(&mut txn, &key);
        }
        drop(txn);
        drop(old);
        Outcome::Stored(cas)
    }

    /// `delete` / binary Delete: removes the item if `cas` is 0 or its
    /// CAS (a mismatch is not counted, as in memcached).
    pub(super) fn delete(&mut self, kb: &[u8], cas: u64) -> Deleted {
        self.detail(kb, detail::Op::Delete);
        let key = self.shared.engine.key(kb);
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        if cas != 0 {
            let Some(e) = txn.lookup(&key, Lookup::Write) else {
                self.local.delete_misses += 1;
                return Deleted::NotFound;
            };
            if e.get().mc().map(|m| m.cas) != Some(cas) {
                return Deleted::Exists;
            }
        }
        let old = txn.remove(&key);
        drop(txn);
        if old.is_some() {
            self.local.delete_hits += 1;
            self.log(&[b"DEL", kb]);
            Deleted::Yes
        } else {
            self.local.delete_misses += 1;
            Deleted::NotFound
        }
    }

    /// Drops the item a failed set would have replaced (not counted as a
    /// delete, as in memcached).
    pub(super) fn unlink(&mut self, kb: &[u8]) {
        let key = self.shared.engine.key(kb);
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        if txn.remove(&key).is_some() {
            self.log(&[b"DEL", kb]);
        }
    }

    fn touch(&mut self, kb: &[u8], exp: Exp) -> bool {
        let key = self.shared.engine.key(kb);
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        let now_secs = self.secs();
        let Some(mut e) = txn.lookup(&key, Lookup::Write) else {
            return false;
        };
        if e.get().object().is_some() {
            return false;
        }
        // A touch counts as a fetch (meta `h`).
        if let Some(m) = e.get().mc() {
            e.set_mc(McMeta {
                atime: now_secs,
                bits: m.bits | McMeta::FETCHED,
                ..m
            });
        }
        txn.set_expire(&key, exp.ms());
        self.log_exp(kb, exp);
        true
    }

    /// memcached's `do_add_delta`, plus the CAS check, TTL update and
    /// vivify-on-miss of meta and binary requests.
    pub(super) fn arith(&mut self, kb: &[u8], incr: bool, delta: u64, opts: ArithOpts) -> Arith {
        let key = self.shared.engine.key(kb);
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        let now_secs = self.secs();
        // (the number if any, data length), trailer, expiry; a collection
        // is invisible: not found, and not replaced by a vivify either.
        let mut collection = false;
        let found = txn.lookup(&key, Lookup::Write).and_then(|e| {
            let r = e.get();
            let mut buf = itoa::Buffer::new();
            let Some(b) = str_bytes(&r, &mut buf) else {
                collection = true;
                return None;
            };
            Some(((num::item_number(b), b.len()), r.mc(), r.expire_at()))
        });
        let Some((cur, mc, expire_at)) = found else {
            let (Some((initial, exp)), false) = (opts.vivify, collection) else {
                // (A vivified miss is not counted as one, as in memcached.)
                if incr {
                    self.local.incr_misses += 1;
                } else {
                    self.local.decr_misses += 1;
                }
                return Arith::NotFound;
            };
            let cas = self.next_cas();
            let mc = McMeta {
                cas,
                flags: 0,
                atime: now_secs,
                bits: 0,
            };
            let mut b = itoa::Buffer::new();
            txn.set_mc(
                &key,
                StrValue::Auto(b.format(initial).as_bytes()),
                exp.ms(),
                mc,
            );
            self.local.total_items += 1;
            self.log_stored(&mut txn, &key, exp);
            return Arith::Value(initial, cas, mc, true, 0);
        };
        // memcached's order: empty data, then the CAS (0 = none), then the number.
        if cur.1 == 0 {
            return Arith::NonNumeric;
        }
        if opts.cas != 0 && mc.map(|m| m.cas) != Some(opts.cas) {
            return Arith::Exists;
        }
        let (Some(value), old_len) = cur else {
            return Arith::NonNumeric;
        };
        if incr {
            self.local.incr_hits += 1;
        } else {
            self.local.decr_hits += 1;
        }
        let new = if incr {
            value.wrapping_add(delta)
        } else {
            value.saturating_sub(delta)
        };
        // memcached rewrites in place, space-padded, when the new number is
        // not longer than the old data; else it makes a new item.
        self.scratch.clear();
        self.scratch
            .extend_from_slice(itoa::Buffer::new().format(new).as_bytes());
        let in_place = self.scratch.len() <= old_len;
        if in_place {
            self.scratch.resize(old_len, b' ');
        } else {
            self.local.total_items += 1;
        }
        let cas = self.next_cas();
        let m = McMeta {
            cas,
            flags: mc.map_or(0, |m| m.flags),
            atime: now_secs,
            // A new item (the number grew) starts with clear item bits.
            bits: if in_place {
                mc.map_or(0, |m| m.bits)
            } else {
                0
            },
        };
        let exp = opts.ttl.unwrap_or(Exp::kept(expire_at));
        txn.set_mc(&key, StrValue::Auto(&self.scratch), exp.ms(), m);
        self.log_stored(&mut txn, &key, exp);
        Arith::Value(new, cas, m, false, expire_at)
    }

    /// Logs an item just stored with expiry `exp`: one stored already
    /// expired is logged as gone (and not looked up again: that would
    /// reclaim it now, where memcached's next command finds it expired).
    fn log_stored(&mut self, txn: &mut Txn<'_>, key: &Key<'_>, exp: Exp) {
        if exp == Exp::Past {
            self.log(&[b"DEL", key.bytes]);
        } else {
            self.log_item(txn, key);
        }
    }

    /// Logs a TTL change to `exp` (a past one: the item is as good as gone).
    fn log_exp(&mut self, key: &[u8], exp: Exp) {
        if exp == Exp::Past {
            self.log(&[b"DEL", key]);
        } else {
            self.log_ttl(key, exp.ms());
        }
    }

    // ---- meta protocol -------------------------------------------------

    fn meta(&mut self, m: &Meta<'_>, out: &mut Vec<u8>) {
        match m.cmd {
            MetaCmd::Noop => line(out, b"MN"),
            MetaCmd::Get => self.mg(m, out),
            MetaCmd::Set => self.ms(m, out),
            MetaCmd::Delete => self.md(m, out),
            MetaCmd::Arith => self.ma(m, out),
            MetaCmd::Debug => {
                // memcached 1.6.18 counts `cmd_meta` for `me` only.
                self.local.cmd_meta += 1;
                self.me(m, out);
            }
        }
    }

    /// The `O` and `k` return flags, in request order (all a miss echoes).
    fn echo_flags(m: &Meta<'_>, binary: bool, out: &mut Vec<u8>) {
        for t in m.flags.tokens() {
            match t[0] {
                b'O' => {
                    out.push(b' ');
                    out.extend_from_slice(t);
                }
                b'k' => flag_key(out, m.key.bytes(), binary),
                _ => {}
            }
        }
    }

    fn mg(&mut self, m: &Meta<'_>, out: &mut Vec<u8>) {
        let f = &m.flags;
        let key = self.shared.engine.key(m.key.bytes());
        let now = self.now;
        let now_secs = self.secs();
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        let how = if f.no_update {
            Lookup::ReadNoTouch
        } else {
            Lookup::Read
        };
        let mut created = false;
        // None: absent; Some(false): a collection (invisible, never replaced).
        let found = txn.lookup(&key, how).map(|e| e.get().object().is_none());
        let mut hit = found == Some(true);
        if found.is_none() && f.vivify.is_some() {
            let mc = McMeta {
                cas: self.next_cas(),
                flags: 0,
                atime: now_secs,
                bits: 0,
            };
            txn.set_mc(&key, StrValue::Plain(b""), 0, mc);
            created = true;
            hit = true;
        }
        let ttl_set = f.ttl.is_some();
        if created {
            self.local.total_items += 1;
        }
        // (A miss is a get even with `T`: memcached meets `T` on a hit.)
        self.count_get(ttl_set && hit, hit);
        if !hit {
            if f.quiet {
                return;
            }
            out.extend_from_slice(b"EN");
            Self::echo_flags(m, m.key.is_binary(), out);
            out.extend_from_slice(b"\r\n");
            return;
        }
        let Some(mut e) = txn.lookup(&key, Lookup::Peek) else {
            return;
        };
        let old_bits = e.get().mc().map_or(0, |m| m.bits);
        // A RESP-written string gets its trailer (and a CAS) now.
        let mut mc = match e.get().mc() {
            Some(mc) => mc,
            None => McMeta {
                cas: self.next_cas(),
                flags: 0,
                atime: now_secs,
                bits: 0,
            },
        };
        let mut expire_at = e.get().expire_at();
        let mut won = false;
        let mut buf = itoa::Buffer::new();
        let r = e.get();
        let data = str_bytes(&r, &mut buf).unwrap_or_default();
        if f.value {
            out.extend_from_slice(b"VA ");
            uint(out, data.len() as u64);
        } else {
            out.extend_from_slice(b"HD");
        }
        for t in f.tokens() {
            match t[0] {
                b'T' => expire_at = f.ttl.map_or(0, |v| Exp::of(v, now).ms()),
                b'N' if created => {
                    expire_at = f.vivify.map_or(0, |v| Exp::of(v, now).ms());
                    won = true;
                }
                b'R' => {
                    let recache = f.recache.map_or(0, |v| Exp::of(v, now).ms());
                    if mc.bits & McMeta::TOKEN_SENT == 0
                        && !created
                        && expire_at != 0
                        && expire_at < recache
                    {
                        won = true;
                    }
                }
                b's' => flag_num(out, b's', data.len() as u64),
                b't' => {
                    if expire_at == 0 {
                        out.extend_from_slice(b" t-1");
                    } else {
                        flag_num(out, b't', expire_at.saturating_sub(now).div_ceil(1000));
                    }
                }
                b'c' => flag_num(out, b'c', mc.cas),
                b'f' => flag_num(out, b'f', u64::from(mc.flags)),
                b'l' => flag_num(out, b'l', u64::from(now_secs.saturating_sub(mc.atime))),
                b'h' => {
                    let fetched = mc.bits & McMeta::FETCHED != 0;
                    out.extend_from_slice(if fetched { b" h1" } else { b" h0" });
                }
                b'O' => {
                    out.push(b' ');
                    out.extend_from_slice(t);
                }
                b'k' => flag_key(out, m.key.bytes(), mc.bits & McMeta::BINARY_KEY != 0),
                _ => {}
            }
        }
        if mc.bits & McMeta::TOKEN_SENT != 0 {
            out.extend_from_slice(b" Z");
        }
        if mc.bits & McMeta::STALE != 0 {
            out.extend_from_slice(b" X");
            if mc.bits & McMeta::TOKEN_SENT == 0 {
                won = true;
            }
        }
        if won {
            out.extend_from_slice(b" W");
            mc.bits |= McMeta::TOKEN_SENT;
        }
        out.extend_from_slice(b"\r\n");
        if f.value {
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        if !f.no_update {
            mc.bits |= McMeta::FETCHED;
            mc.atime = now_secs;
        }
        let rebuilt = if e.get().mc().is_some() {
            e.set_mc(mc);
            None
        } else {
            e.get().with_mc(mc)
        };
        if let Some(up) = rebuilt {
            txn.put(&key, up);
        }
        let ttl_changed = expire_at
            != txn
                .lookup(&key, Lookup::Peek)
                .map_or(0, |e| e.get().expire_at());
        if ttl_changed {
            txn.set_expire(&key, expire_at);
        }
        if expire_at == Exp::Past.ms() {
            // A past TTL: the item was returned; the next command finds it
            // expired (no lookup after this one: it would reclaim it now).
            self.log(&[b"DEL", key.bytes]);
            return;
        }
        // Log what outlives a restart: a new item, a win token handed
        // out (durable bits), a TTL.
        if created || (mc.bits ^ old_bits) & McMeta::DURABLE_BITS != 0 {
            self.log_item(&mut txn, &key);
        } else if ttl_changed {
            self.log_ttl(key.bytes, expire_at);
        }
    }

    fn ms(&mut self, m: &Meta<'_>, out: &mut Vec<u8>) {
        let f = &m.flags;
        self.local.cmd_set += 1;
        let mut op = match f.mode {
            b'E' => StoreOp::Add,
            b'A' => StoreOp::Append,
            b'P' => StoreOp::Prepend,
            b'R' => StoreOp::Replace,
            _ => StoreOp::Set,
        };
        if f.compare_cas.is_some() && matches!(op, StoreOp::Set | StoreOp::Replace) {
            op = StoreOp::Cas;
        }
        let opts = StoreOpts {
            cas_in: f.compare_cas.unwrap_or(0),
            stale_ok: f.invalidate && op == StoreOp::Cas,
            new_cas: f.new_cas,
            binary_key: m.key.is_binary(),
        };
        let exp = f.ttl.map_or(Exp::Never, |t| Exp::of(t, self.now));
        let r = self.store(m.key.bytes(), op, f.client_flags, exp, m.data, opts);
        self.watch_store(m.key.bytes(), op, &r, exp, m.data.len());
        let (code, cas): (&[u8], u64) = match r {
            Outcome::Stored(cas) => (b"HD", cas),
            Outcome::NotStored => (b"NS", 0),
            Outcome::Exists => (b"EX", 0),
            Outcome::NotFound => (b"NF", 0),
            Outcome::NoMemory => {
                self.local.store_no_memory += 1;
                line(out, E_OOM);
                return;
            }
        };
        if f.quiet && code == b"HD" {
            return;
        }
        out.extend_from_slice(code);
        for t in f.tokens() {
            match t[0] {
                b'O' => {
                    out.push(b' ');
                    out.extend_from_slice(t);
                }
                b'k' => flag_key(out, m.key.bytes(), m.key.is_binary()),
                b'c' => flag_num(out, b'c', cas),
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    fn md(&mut self, m: &Meta<'_>, out: &mut Vec<u8>) {
        let f = &m.flags;
        let key = self.shared.engine.key(m.key.bytes());
        let mut txn = self.lock(&key);
        self.watch_get(&mut txn, &key);
        let found = txn
            .lookup(&key, Lookup::Write)
            .filter(|e| e.get().object().is_none())
            .map(|e| e.get().mc());
        let code: &[u8] = match found {
            None => {
                self.local.delete_misses += 1;
                b"NF"
            }
            Some(mc) if f.compare_cas.is_some() && f.compare_cas != mc.map(|m| m.cas) => {
                self.local.delete_misses += 1;
                b"EX"
            }
            Some(mc) => {
                // (Invalidating is not counted as a delete.)
                if f.invalidate {
                    let mut meta = mc.unwrap_or_default();
                    meta.bits = (meta.bits | McMeta::STALE) & !McMeta::TOKEN_SENT;
                    meta.cas = self.next_cas();
                    if let Some(e) = txn.lookup(&key, Lookup::Peek) {
                        if let Some(up) = e.get().with_mc(meta) {
                            txn.put(&key, up);
                        }
                    }
                    // A past TTL leaves it expired (set last: a lookup
                    // after would reclaim it now).
                    let exp = f.ttl.map(|t| Exp::of(t, self.now));
                    if exp != Some(Exp::Past) {
                        if let Some(exp) = exp {
                            txn.set_expire(&key, exp.ms());
                        }
                        self.log_item(&mut txn, &key);
                    } else {
                        txn.set_expire(&key, Exp::Past.ms());
                        self.log(&[b"DEL", key.bytes]);
                    }
                } else {
                    self.local.delete_hits += 1;
                    txn.remove(&key);
                    self.log(&[b"DEL", key.bytes]);
                }
                b"HD"
            }
        };
        drop(txn);
        if f.quiet && code == b"HD" {
            return;
        }
        out.extend_from_slice(code);
        Self::echo_flags(m, m.key.is_binary(), out);
        out.extend_from_slice(b"\r\n");
    }

    fn ma(&mut self, m: &Meta<'_>, out: &mut Vec<u8>) {
        let f = &m.flags;
        let incr = !matches!(f.mode, b'D' | b'-');
        let opts = ArithOpts {
            cas: f.compare_cas.unwrap_or(0),
            vivify: f.vivify.map(|_| {
                let exp = ma_ttl(f, true, self.now).unwrap_or(Exp::Never);
                (f.initial, exp)
            }),
            ttl: ma_ttl(f, false, self.now),
        };
        let r = self.arith(m.key.bytes(), incr, f.delta, opts);
        let (value, cas, mc, created, mut expire_at) = match r {
            Arith::Value(v, c, mc, created, at) => (v, c, mc, created, at),
            Arith::NotFound => {
                out.extend_from_slice(b"NF");
                Self::echo_flags(m, m.key.is_binary(), out);
                out.extend_from_slice(b"\r\n");
                return;
            }
            Arith::NonNumeric => {
                line(out, E_NON_NUMERIC);
                return;
            }
            Arith::Exists => {
                out.extend_from_slice(b"EX");
                Self::echo_flags(m, m.key.is_binary(), out);
                out.extend_from_slice(b"\r\n");
                return;
            }
        };
        // Quiet mode hides a successful update, not a vivified item.
        if f.quiet && !created {
            return;
        }
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(value).as_bytes();
        if f.value {
            out.extend_from_slice(b"VA ");
            uint(out, digits.len() as u64);
        } else {
            out.extend_from_slice(b"HD");
        }
        // `t` shows the TTL as the flags before it left it (memcached
        // applies `T`, and `N` to a vivified item, as it meets them).
        for t in f.tokens() {
            match t[0] {
                b'T' | b'N' => {
                    if let Some(e) = ma_ttl_flag(f, t[0], created) {
                        expire_at = Exp::of(e, self.now).ms();
                    }
                }
                b't' => {
                    if expire_at == 0 {
                        out.extend_from_slice(b" t-1");
                    } else {
                        flag_num(out, b't', expire_at.saturating_sub(self.now).div_ceil(1000));
                    }
                }
                b'c' => flag_num(out, b'c', cas),
                b'O' => {
                    out.push(b' ');
                    out.extend_from_slice(t);
                }
                b'k' => flag_key(
                    out,
                    m.key.bytes(),
                    mc.bits & McMeta::BINARY_KEY != 0 || m.key.is_binary(),
                ),
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
        if f.value {
            out.extend_from_slice(digits);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn me(&mut self, m: &Meta<'_>, out: &mut Vec<u8>) {
        let key = self.shared.engine.key(m.key.bytes());
        let now = self.now;
        let now_secs = self.secs();
        let mut txn = self.lock(&key);
        let Some(e) = txn.lookup(&key, Lookup::Peek) else {
            line(out, b"EN");
            return;
        };
        let r = e.get();
        if r.object().is_some() {
            line(out, b"EN");
            return;
        }
        let mc = r.mc().unwrap_or_default();
        out.extend_from_slice(b"ME ");
        if m.key.is_binary() {
            larder_memcache::base64::encode(m.key.bytes(), out);
        } else {
            out.extend_from_slice(m.key.bytes());
        }
        out.extend_from_slice(b" exp=");
        if r.expire_at() == 0 {
            out.extend_from_slice(b"-1");
        } else {
            uint(out, r.expire_at().saturating_sub(now).div_ceil(1000));
        }
        out.extend_from_slice(b" la=");
        uint(out, u64::from(now_secs.saturating_sub(mc.atime)));
        out.extend_from_slice(b" cas=");
        uint(out, mc.cas);
        out.extend_from_slice(if mc.bits & McMeta::FETCHED != 0 {
            b" fetch=yes"
        } else {
            b" fetch=no"
        });
        out.extend_from_slice(b" cls=1 size=");
        uint(out, r.alloc_size() as u64);
        out.extend_from_slice(b"\r\n");
    }
}

/// The exptime `ma`'s flag `flag` (`T`, or `N` on a vivified item) sets.
fn ma_ttl_flag(f: &MetaFlags<'_>, flag: u8, created: bool) -> Option<i32> {
    match flag {
        b'T' => f.ttl,
        b'N' if created => f.vivify,
        _ => None,
    }
}

/// The expiry `ma`'s flags leave the item with: the last of its `T` (and
/// `N` on a vivified item), in request order; None if they set none.
fn ma_ttl(f: &MetaFlags<'_>, created: bool, now_ms: u64) -> Option<Exp> {
    f.tokens()
        .iter()
        .rev()
        .find_map(|t| ma_ttl_flag(f, t[0], created))
        .map(|e| Exp::of(e, now_ms))
}

/// A memcached command's lock on its key's shard (a `Txn`). When it
/// ends, the keys its lookups found expired (and deleted) are counted in
/// `get_expired`: memcached's "found, but expired and not yet reclaimed".
struct McTxn<'s> {
    txn: Txn<'s>,
    expired: &'s AtomicU64,
}

impl<'s> Deref for McTxn<'s> {
    type Target = Txn<'s>;
    fn deref(&self) -> &Txn<'s> {
        &self.txn
    }
}

impl<'s> DerefMut for McTxn<'s> {
    fn deref_mut(&mut self) -> &mut Txn<'s> {
        &mut self.txn
    }
}

impl Drop for McTxn<'_> {
    fn drop(&mut self) {
        let n = self.txn.lazy_expired();
        if n > 0 {
            self.expired.fetch_add(u64::from(n), Relaxed);
        }
    }
}

/// `flush_all`: empties database 0 (memcached's whole cache), logs it for
/// the AOF (`wait`: see `Session::aof_wait`), and remembers the removed
/// strings for `get_flushed`.
pub fn flush_db0(shared: &Shared, now_ms: u64, wait: &mut u64) {
    let mut txn = shared.engine.lock_all(0);
    let taken: Vec<Entry> = txn.take_db(0);
    if shared.engine.events.writes.on() {
        let feed = &shared.propagate.feed;
        feed.append_command(0, [&b"FLUSHDB"[..]], wait);
    }
    // Entries are freed, and their keys hashed, after the locks go.
    drop(txn);
    let hashes: HashSet<u64> = taken
        .iter()
        .map(Entry::as_ref)
        .filter(|e| e.object().is_none())
        .take(super::FLUSHED_MAX)
        .map(|e| shared.engine.key(e.key()).hash)
        .collect();
    shared.memcache.record_flushed(hashes, now_ms);
    drop(taken);
}

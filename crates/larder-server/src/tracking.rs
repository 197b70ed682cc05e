//! Client-side caching (`CLIENT TRACKING`), the server's half of Redis's
//! tracking.c: who tracks, in which mode, and how invalidations reach them.
//!
//! **Default mode.** Before a tracking client runs a read-only command, its
//! keys are remembered in the engine's per-shard table (`larder_engine::
//! tracking`) — for a read in a script, the keys the script declared, as
//! Redis does. A change to such a key calls [`Sink::invalidate`] with the
//! readers' ids, under the key's shard lock; each reader gets
//! `invalidate [key]` — a RESP3 push, or with `REDIRECT id` a message on
//! `__redis__:invalidate` to that client (RESP2 needs it subscribed). An
//! invalidation queued while the reader runs a command goes after that
//! command's reply (`pubsub::Push::Invalidate`), so a reply computed before
//! the change is always followed by its invalidation. The client that made
//! the change gets its own invalidations right after its reply, as in Redis
//! (or never, with `NOLOOP`).
//!
//! **Broadcast mode** (`BCAST [PREFIX p]...`): no per-key table; every change
//! is matched against the registered prefixes and queued per prefix, with
//! the client that made it (none for an expiry or eviction, which NOLOOP
//! then hides from no one); the queue goes out as one `invalidate
//! [keys...]` per prefix at the end of the command that made the changes
//! (Redis: at the end of the event-loop iteration), so a MULTI/EXEC's
//! changes arrive together.
//!
//! **OPTIN / OPTOUT**: keys are remembered only after (OPTIN) or unless
//! (OPTOUT) `CLIENT CACHING yes|no` preceded the command.
//!
//! FLUSHALL/FLUSHDB send every tracking client a null invalidation
//! ("everything") and empty the table. `tracking-table-max-keys` bounds the
//! table; the cron forgets random keys past it, invalidating them.
//!
//! Costs with no tracking client: one atomic load per command.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use larder_engine::tracking::InvalidationSink;
use larder_engine::Key;
use larder_resp::{Args, Protocol, Reply};
use parking_lot::{Mutex, RwLock};

use crate::client::{Client, ClientHandle};
use crate::command::{flags, Command};
use crate::pubsub::{PubSub, Push};
use crate::shared::Shared;

/// Tracking flags, kept in `ClientHandle::tracking`.
pub const ON: u32 = 1 << 0;
pub const BCAST: u32 = 1 << 1;
pub const OPTIN: u32 = 1 << 2;
pub const OPTOUT: u32 = 1 << 3;
pub const NOLOOP: u32 = 1 << 4;
/// The redirect target has gone away.
pub const BROKEN_REDIR: u32 = 1 << 5;

/// A client's tracking settings besides its flags.
#[derive(Default)]
pub struct Settings {
    /// Client id invalidations go to (0 = this connection).
    pub redirect: u64,
    target: Weak<ClientHandle>,
    /// BCAST prefixes.
    pub prefixes: Vec<Box<[u8]>>,
}

/// An invalidation message: some keys, or `None` for "everything" (flush).
pub struct Invalidation {
    keys: Option<Vec<Box<[u8]>>>,
    /// The flush null in RESP3 form (`_`) rather than RESP2's (`$-1`): Redis
    /// picks it by the tracking client's protocol, even when redirecting.
    null_resp3: bool,
}

impl Invalidation {
    fn keys(keys: Vec<Box<[u8]>>) -> Invalidation {
        Invalidation {
            keys: Some(keys),
            null_resp3: true,
        }
    }

    fn everything(null_resp3: bool) -> Invalidation {
        Invalidation {
            keys: None,
            null_resp3,
        }
    }

    pub fn size(&self) -> usize {
        self.keys
            .as_ref()
            .map_or(0, |k| k.iter().map(|k| k.len() + 16).sum())
    }

    /// A RESP3 push, or a RESP2 pub/sub message on `__redis__:invalidate`.
    pub fn encode(&self, out: &mut Vec<u8>, proto: Protocol) {
        let mut r = Reply::new(out, proto);
        if proto == Protocol::Resp3 {
            r.push(2);
            r.bulk(b"invalidate");
        } else {
            r.array(3);
            r.bulk(b"message");
            r.bulk(b"__redis__:invalidate");
        }
        match &self.keys {
            Some(keys) => {
                r.array(keys.len());
                for k in keys {
                    r.bulk(k);
                }
            }
            None if self.null_resp3 => r.raw(b"_\r\n"),
            None => r.raw(b"$-1\r\n"),
        }
    }
}

/// A deferred invalidation: client id, and the key (`None`: a flush).
type Own = (u64, Option<Box<[u8]>>);

thread_local! {
    /// Id of the client whose command runs on this thread (0: none, e.g. cron).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// Invalidations for the client whose command runs (keys it changed and
    /// also tracks; `None`: a flush), sent after its reply — with the
    /// client's id, in case the command ran for another client (a blocked
    /// client served by this connection's task).
    static OWN: RefCell<Vec<Own>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Prefix {
    clients: Vec<Arc<ClientHandle>>,
    /// Changed keys since the last broadcast, with the id of the client
    /// that changed each last (for NOLOOP; 0 when the server expired or
    /// evicted it); sorted like Redis's rax.
    keys: BTreeMap<Box<[u8]>, u64>,
}

/// The tracking clients and broadcast prefixes.
pub struct Tracker {
    clients: RwLock<HashMap<u64, Arc<ClientHandle>>>,
    count: AtomicUsize,
    prefixes: Mutex<BTreeMap<Box<[u8]>, Prefix>>,
    bcast_pending: AtomicBool,
    pubsub: Arc<PubSub>,
    /// Consecutive cron runs that could not bring the table under its limit.
    over_limit_runs: AtomicU64,
}

struct Sink(Arc<Tracker>);

impl InvalidationSink for Sink {
    fn invalidate(&self, key: &[u8], ids: &[u64]) {
        let current = CURRENT.get();
        let clients = self.0.clients.read();
        for id in ids {
            let Some(h) = clients.get(id) else { continue };
            let f = h.tracking.load(Relaxed);
            if f & ON == 0 || f & BCAST != 0 || (f & NOLOOP != 0 && *id == current) {
                continue;
            }
            if *id == current {
                OWN.with_borrow_mut(|own| own.push((*id, Some(key.into()))));
            } else {
                self.0.send(h, Some(vec![key.into()]));
            }
        }
    }

    fn broadcast(&self, key: &[u8], by_client: bool) {
        let by = if by_client { CURRENT.get() } else { 0 };
        let mut prefixes = self.0.prefixes.lock();
        for (p, state) in prefixes.iter_mut() {
            if key.starts_with(p) {
                state.keys.insert(key.into(), by);
                self.0.bcast_pending.store(true, Relaxed);
            }
        }
    }
}

impl Tracker {
    pub fn new(pubsub: Arc<PubSub>) -> Arc<Tracker> {
        Arc::new(Tracker {
            clients: RwLock::new(HashMap::new()),
            count: AtomicUsize::new(0),
            prefixes: Mutex::new(BTreeMap::new()),
            bcast_pending: AtomicBool::new(false),
            pubsub,
            over_limit_runs: AtomicU64::new(0),
        })
    }

    /// Connects the engine's invalidations to this tracker.
    pub fn install(self: &Arc<Self>, engine: &larder_engine::Engine) {
        engine.tracking.set_sink(Box::new(Sink(self.clone())));
    }

    /// Clients with tracking on (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// Registered broadcast prefixes (INFO `tracking_total_prefixes`).
    pub fn prefixes(&self) -> usize {
        self.prefixes.lock().len()
    }

    /// Some client tracks: commands must say who runs them.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// Turns tracking on for `h` (Redis's enableTracking; options checked by the caller).
    pub fn enable(
        &self,
        engine: &larder_engine::Engine,
        h: &Arc<ClientHandle>,
        flags: u32,
        redirect: Option<Arc<ClientHandle>>,
        prefixes: Vec<Box<[u8]>>,
    ) {
        let old = h.tracking.load(Relaxed);
        {
            let mut s = h.tracking_settings.lock();
            s.redirect = redirect.as_ref().map_or(0, |t| t.id);
            s.target = redirect.as_ref().map_or_else(Weak::new, Arc::downgrade);
            if flags & BCAST != 0 {
                let mut table = self.prefixes.lock();
                let wanted: Vec<Box<[u8]>> = if prefixes.is_empty() {
                    vec![Box::from(&b""[..])]
                } else {
                    prefixes
                };
                for p in wanted {
                    if s.prefixes.contains(&p) {
                        continue;
                    }
                    table.entry(p.clone()).or_default().clients.push(h.clone());
                    s.prefixes.push(p);
                }
                engine.tracking.set_broadcast(true);
            }
        }
        h.tracking.store(ON | flags, Relaxed);
        if old & ON == 0 {
            self.clients.write().insert(h.id, h.clone());
            self.count.fetch_add(1, Relaxed);
        }
    }

    /// Turns tracking off for `h` (CLIENT TRACKING off, RESET, disconnect).
    /// Its ids left in the key table are dropped lazily.
    pub fn disable(&self, engine: &larder_engine::Engine, h: &ClientHandle) {
        if h.tracking.load(Relaxed) & ON == 0 {
            return;
        }
        let mut s = h.tracking_settings.lock();
        if !s.prefixes.is_empty() {
            let mut table = self.prefixes.lock();
            for p in s.prefixes.drain(..) {
                if let Some(state) = table.get_mut(&p) {
                    state.clients.retain(|c| c.id != h.id);
                    if state.clients.is_empty() {
                        table.remove(&p);
                    }
                }
            }
            engine.tracking.set_broadcast(!table.is_empty());
        }
        *s = Settings::default();
        drop(s);
        h.tracking.store(0, Relaxed);
        self.clients.write().remove(&h.id);
        self.count.fetch_sub(1, Relaxed);
    }

    /// Redis's sendTrackingMessage: delivers an invalidation meant for
    /// tracking client `h` to it or to its redirect target.
    fn send(&self, h: &ClientHandle, keys: Option<Vec<Box<[u8]>>>) {
        let limits = &self.pubsub.limits;
        let resp3 = |c: &ClientHandle| c.resp.load(Relaxed) == 3;
        let (to, redirected) = {
            let s = h.tracking_settings.lock();
            if s.redirect == 0 {
                drop(s);
                (None, false)
            } else {
                match s.target.upgrade().filter(|t| !t.killed.load(Relaxed)) {
                    Some(t) => (Some(t), true),
                    None => {
                        let id = s.redirect;
                        drop(s);
                        h.tracking.fetch_or(BROKEN_REDIR, Relaxed);
                        if resp3(h) {
                            let mut msg = Vec::with_capacity(48);
                            let mut r = Reply::new(&mut msg, Protocol::Resp3);
                            r.push(2);
                            r.bulk(b"tracking-redir-broken");
                            r.int(id as i64);
                            h.outbox.push(Push::Raw(msg.into()), limits);
                        }
                        return;
                    }
                }
            }
        };
        let target: &ClientHandle = to.as_deref().unwrap_or(h);
        if !(resp3(target) || (redirected && target.outbox.in_pubsub())) {
            return;
        }
        let msg = match keys {
            Some(k) => Invalidation::keys(k),
            None => Invalidation::everything(resp3(h)),
        };
        target.outbox.push(Push::Invalidate(Arc::new(msg)), limits);
    }

    /// Sends the queued broadcast invalidations, one message per prefix.
    pub fn flush_broadcasts(&self) {
        if !self.bcast_pending.swap(false, Relaxed) {
            return;
        }
        let mut out = Vec::new();
        {
            let mut table = self.prefixes.lock();
            for state in table.values_mut() {
                if state.keys.is_empty() {
                    continue;
                }
                let keys = std::mem::take(&mut state.keys);
                for c in &state.clients {
                    let noloop = c.tracking.load(Relaxed) & NOLOOP != 0;
                    let list: Vec<Box<[u8]>> = keys
                        .iter()
                        .filter(|(_, by)| !noloop || **by != c.id)
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !list.is_empty() {
                        out.push((c.clone(), list));
                    }
                }
            }
        }
        for (c, list) in out {
            self.send(&c, Some(list));
        }
    }

    /// FLUSHALL / FLUSHDB: every tracking client hears "everything
    /// changed" — the flushing client itself after its reply.
    pub fn flushed(&self, engine: &larder_engine::Engine) {
        if self.active() {
            let current = CURRENT.get();
            let clients: Vec<_> = self.clients.read().values().cloned().collect();
            for c in clients {
                if c.id == current {
                    OWN.with_borrow_mut(|own| own.push((c.id, None)));
                } else {
                    self.send(&c, None);
                }
            }
        }
        engine.clear_tracking();
    }

    /// Invalidations for `client` go straight into its own replies (RESP3, no redirect).
    fn writes_direct(&self, client: &Client) -> bool {
        client.proto == Protocol::Resp3 && client.handle.tracking_settings.lock().redirect == 0
    }

    /// Cron: keeps the key table under `tracking-table-max-keys`, with more
    /// effort each run it stays over (Redis's trackingLimitUsedSlots).
    pub fn cron(&self, engine: &larder_engine::Engine, max_keys: u64) {
        let runs = self.over_limit_runs.load(Relaxed);
        let effort = 100 * (runs as usize + 1);
        if engine.limit_tracking(max_keys, effort) {
            self.over_limit_runs.store(0, Relaxed);
        } else {
            self.over_limit_runs.store(runs + 1, Relaxed);
        }
        self.flush_broadcasts();
    }

    /// Before each command (Redis's trackingLimitUsedSlots in
    /// processCommand): forgets keys past `tracking-table-max-keys`,
    /// invalidating them; one counter read while under it.
    pub fn limit_table(&self, engine: &larder_engine::Engine, max_keys: u64) {
        engine.limit_tracking(max_keys, 100);
    }

    /// Before a command: says who runs it, and remembers the keys a
    /// read-only command of a tracking client is about to read. A command
    /// a script runs is not tracked itself: see [`script_reads`](Self::script_reads).
    pub fn before_call(&self, shared: &Shared, client: &Client, cmd: &Command, args: &Args<'_>) {
        CURRENT.set(client.id);
        if !cmd.has(flags::READONLY) || cmd.has(flags::PUBSUB) || !tracks_reads(client) {
            return;
        }
        // Read-only scripts are not tracked themselves, only what they read.
        if matches!(cmd.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
            || crate::commands::scripting::in_script()
        {
            return;
        }
        let keys = read_keys(shared, cmd, args);
        if !keys.is_empty() {
            shared.engine.track_keys(client.id, &keys);
        }
    }

    /// A script of a tracking client is about to run a read-only command:
    /// the keys the script declared are remembered, as Redis's call() does
    /// with the caller's keys.
    pub fn script_reads(&self, shared: &Shared, client: &Client, keys: &[&[u8]]) {
        if keys.is_empty() || !tracks_reads(client) {
            return;
        }
        let keys: Vec<Key<'_>> = keys.iter().map(|k| shared.engine.key(k)).collect();
        shared.engine.track_keys(client.id, &keys);
    }

    /// After a client's command (not the inner commands of EXEC or a
    /// script): its own invalidations after its reply, broadcasts, and the
    /// end of a one-command `CLIENT CACHING`.
    pub fn after_command(&self, client: &mut Client, out: &mut Vec<u8>, cmd_name: &str) {
        let own = OWN.with_borrow_mut(std::mem::take);
        for (id, key) in own {
            let keys = key.map(|k| vec![k]);
            if id == client.id && self.writes_direct(client) {
                let msg = match keys {
                    Some(k) => Invalidation::keys(k),
                    None => Invalidation::everything(true),
                };
                msg.encode(out, Protocol::Resp3);
            } else if id == client.id {
                self.send(&client.handle, keys);
            } else if let Some(h) = self.clients.read().get(&id).cloned() {
                self.send(&h, keys);
            }
        }
        self.flush_broadcasts();
        if client.caching && !client.tx.in_multi() && cmd_name != "client" {
            client.caching = false;
        }
        CURRENT.set(0);
    }
}

/// Whether `client`'s reads are remembered now: tracking on, not in BCAST
/// mode, and CLIENT CACHING as OPTIN / OPTOUT want it.
fn tracks_reads(client: &Client) -> bool {
    let f = client.handle.tracking.load(Relaxed);
    let caching_wanted = if client.caching {
        f & OPTOUT == 0
    } else {
        f & OPTIN == 0
    };
    f & ON != 0 && f & BCAST == 0 && caching_wanted
}

/// The key arguments of a read-only command, as Redis's getKeysFromCommand
/// finds them: the key spec's range, or the `numkeys`-counted keys.
fn read_keys<'a>(shared: &Shared, cmd: &Command, args: &Args<'a>) -> Vec<Key<'a>> {
    let argc = args.len();
    let positions: Vec<usize> = match cmd.name {
        "zunion" | "zinter" | "zdiff" | "sintercard" | "zintercard" => {
            let n = larder_resp::number::string2ll(args.get(1).unwrap_or_default())
                .filter(|n| *n > 0)
                .map_or(0, |n| n as usize);
            (2..argc.min(2 + n)).collect()
        }
        _ => {
            let (first, last, step) = cmd.keys;
            if first <= 0 {
                return Vec::new();
            }
            let last = if last < 0 {
                argc as i64 + i64::from(last)
            } else {
                i64::from(last)
            };
            (first as i64..=last.min(argc as i64 - 1))
                .step_by(step.max(1) as usize)
                .map(|i| i as usize)
                .collect()
        }
    };
    positions
        .into_iter()
        .filter_map(|i| args.get(i))
        .map(|k| shared.engine.key(k))
        .collect()
}

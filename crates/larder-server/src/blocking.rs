//! Blocking pops (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX
//! BZMPOP) and stream reads (XREAD, XREADGROUP with BLOCK): Redis's
//! blocked.c, for connections that are async tasks.
//!
//! A handler cannot await, so a blocking command with nothing to pop calls
//! [`block`]: it copies the command's arguments into `client.block` and
//! writes no reply. The connection then runs [`wait`]: it registers the
//! client in [`Blocking`] — per (db, key) a FIFO of waiters, plus waiters by
//! client id — runs the command once more (a key written between the
//! handler's look and the registration signalled no one), and sleeps on
//! its wake-up channel, its deadline, CLIENT
//! KILL/UNBLOCK, shutdown and the socket (to notice a disconnect; nothing it
//! sends is run while it is blocked, as in Redis).
//!
//! Waking: [`Ctx::notify`](crate::command::Ctx::notify) reports every key a
//! command changes; while any client is blocked (one atomic load otherwise)
//! a key with waiters is recorded as ready, tagged with the reporting
//! client. After that client's command — after the whole EXEC or script,
//! since the inner commands report through the same client — the connection
//! calls [`serve_ready`], which offers each ready key to its waiters in
//! blocking order: it sends the first one a wake-up and awaits its answer.
//! The woken client re-runs its command's handler under the keys' locks; if
//! it popped, it leaves every queue and the next waiter is offered the key,
//! until the key is gone; if it could not (the key is of another type, or
//! another client took the element), it keeps its place and the next waiter
//! is tried. So the first client blocked is the first served, and the
//! pushing client's reply follows the service of the waiters it fed, as in
//! Redis. A retry that meets WRONGTYPE keeps waiting, as Redis does when a
//! blocked key changes type.
//!
//! Costs: nothing on commands while no client is blocked; a mutex and a hash
//! lookup per reported key while some are; an allocation per blocking call.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use larder_engine::Lookup;
use larder_resp::{Args, Reply};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::client::Client;
use crate::command::{parse_f64, Ctx};
use crate::error::{CmdError, WRONGTYPE};
use crate::shared::Shared;

/// Bytes a blocked client may send before the connection stops reading.
const MAX_PENDING_INPUT: usize = 1 << 20;

/// A blocking command's timeout in milliseconds; `None` waits forever.
#[derive(Clone, Copy, Debug)]
pub struct Timeout(Option<u64>);

/// What a blocked client is waiting for: its command, to run again.
pub struct BlockSpec {
    db: usize,
    keys: Vec<Vec<u8>>,
    deadline: Option<Instant>,
    cmd: usize,
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    /// The arguments as the client sent them (buffer and ranges), when
    /// `block_as` was given others (SLOWLOG shows these).
    sent: Option<Flat>,
    /// How long the call that blocked took (µs): SLOWLOG counts it with
    /// the call that serves the client, as Redis's updateStatsOnUnblock.
    call_us: u64,
}

impl BlockSpec {
    /// Records how long the call that blocked took.
    pub fn set_call_us(&mut self, us: u64) {
        self.call_us = us;
    }

    /// The blocked command ends (served, failed or CLIENT UNBLOCKed) after
    /// `us` more µs: a SLOWLOG entry, if it was slow.
    fn log_slow(&self, shared: &Shared, client: &Client, us: u64) {
        if shared
            .commands
            .get(self.cmd)
            .has(crate::command::flags::SKIP_SLOWLOG)
        {
            return;
        }
        let (buf, ranges) = self
            .sent
            .as_ref()
            .map_or((&self.buf, &self.ranges), |(b, r)| (b, r));
        let args = Args::from_parts(buf, ranges);
        crate::slowlog::record(shared, client, &args, self.call_us + us);
    }
}

/// A message to a blocked connection.
enum Wake {
    /// One of its keys is ready: retry, then answer whether it popped.
    Ready(oneshot::Sender<bool>),
    /// CLIENT UNBLOCK: reply the timeout reply, or the UNBLOCKED error.
    Unblock { error: bool },
}

struct Waiter {
    id: u64,
    tx: mpsc::UnboundedSender<Wake>,
}

#[derive(Default)]
struct Inner {
    /// Per database: key → waiters, first blocked first.
    keys: HashMap<usize, HashMap<Vec<u8>, VecDeque<Arc<Waiter>>>>,
    by_id: HashMap<u64, Arc<Waiter>>,
    /// Keys with waiters changed by a command: (reporting client, db, key).
    ready: Vec<(u64, usize, Vec<u8>)>,
}

/// The server's blocked clients (`shared.blocking`).
#[derive(Default)]
pub struct Blocking {
    blocked: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Blocking {
    /// INFO `blocked_clients`.
    pub fn count(&self) -> usize {
        self.blocked.load(Relaxed)
    }

    /// CLIENT LIST flag `b`.
    pub fn is_blocked(&self, id: u64) -> bool {
        self.count() > 0 && self.inner.lock().by_id.contains_key(&id)
    }

    /// CLIENT UNBLOCK: true if `id` was blocked (it then replies and resumes).
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        let w = self.inner.lock().by_id.get(&id).cloned();
        w.is_some_and(|w| w.tx.send(Wake::Unblock { error }).is_ok())
    }

    /// Records that `client` changed `key` of `db`, if someone waits on it.
    fn key_changed(&self, client: u64, db: usize, key: &[u8]) {
        let mut inner = self.inner.lock();
        let waited = inner.keys.get(&db).is_some_and(|m| m.contains_key(key));
        let known = inner
            .ready
            .iter()
            .any(|(c, d, k)| *c == client && *d == db && k == key);
        if waited && !known {
            inner.ready.push((client, db, key.to_vec()));
        }
    }

    fn register(&self, spec: &BlockSpec, w: &Arc<Waiter>) {
        let mut inner = self.inner.lock();
        let db = inner.keys.entry(spec.db).or_default();
        for k in &spec.keys {
            let q = db.entry(k.clone()).or_default();
            if !q.iter().any(|x| x.id == w.id) {
                q.push_back(w.clone());
            }
        }
        inner.by_id.insert(w.id, w.clone());
        self.blocked.fetch_add(1, Relaxed);
    }

    fn unregister(&self, spec: &BlockSpec, id: u64) {
        let mut inner = self.inner.lock();
        if inner.by_id.remove(&id).is_none() {
            return;
        }
        self.blocked.fetch_sub(1, Relaxed);
        if let Some(db) = inner.keys.get_mut(&spec.db) {
            for k in &spec.keys {
                if let Some(q) = db.get_mut(k.as_slice()) {
                    q.retain(|w| w.id != id);
                    if q.is_empty() {
                        db.remove(k.as_slice());
                    }
                }
            }
        }
    }
}

/// Leaves the queues however the wait ends (reply, kill, dropped task).
struct Registered<'a> {
    blocking: &'a Blocking,
    spec: &'a BlockSpec,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.blocking.unregister(self.spec, self.id);
    }
}

/// Redis's getTimeoutFromObjectOrReply in seconds: a long double, times
/// 1000, truncated to milliseconds (so under 1ms means forever); C's
/// out-of-range conversion yields LLONG_MIN, hence "negative".
pub fn timeout_arg(ctx: &Ctx<'_>, i: usize) -> Result<Timeout, CmdError> {
    let secs =
        parse_f64(ctx.arg(i)).ok_or(CmdError::new("ERR timeout is not a float or out of range"))?;
    let ms = secs * 1000.0;
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ms) || ms <= -1.0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let ms = ms as i64;
    Ok(Timeout((ms > 0).then_some(ms as u64)))
}

/// BLMPOP/BZMPOP (`numkeys` at argument 2) parse their timeout (argument 1)
/// after the other arguments; LMPOP/ZMPOP have none.
pub fn timeout_if_blocking(ctx: &Ctx<'_>, numkeys_at: usize) -> Result<Option<Timeout>, CmdError> {
    if numkeys_at == 2 {
        timeout_arg(ctx, 1).map(Some)
    } else {
        Ok(None)
    }
}

/// A blocking command found nothing to pop on the keys at argument
/// positions `keys`: the client blocks (no reply now). Without a timeout
/// (the non-blocking variant) or where Redis denies blocking — inside
/// EXEC and scripts — `empty` replies at once. When the command is being
/// retried for a blocked client, it simply keeps waiting.
pub fn block(
    ctx: &mut Ctx<'_>,
    keys: Range<usize>,
    timeout: Option<Timeout>,
    empty: fn(&mut Reply<'_>),
) {
    let Some(Timeout(ms)) = timeout else {
        return empty(&mut ctx.out);
    };
    if ctx.client.block.is_some() {
        return;
    }
    if ctx.client.nesting > 1 {
        return empty(&mut ctx.out);
    }
    let args: Vec<&[u8]> = ctx.args.iter().collect();
    block_as(ctx, keys, ms, &args);
}

/// Blocks the client on the keys at positions `keys` to run `args` again
/// (a command that resolves arguments when it blocks, as XREAD's `$`),
/// for `ms` milliseconds or forever. The caller has checked that it may
/// block (see [`block`]).
pub fn block_as(ctx: &mut Ctx<'_>, keys: Range<usize>, ms: Option<u64>, args: &[&[u8]]) {
    let (buf, ranges) = flatten(args.iter().copied());
    let sent = (!ctx.args.iter().eq(args.iter().copied())).then(|| flatten(ctx.args.iter()));
    ctx.client.block = Some(Box::new(BlockSpec {
        db: ctx.client.db,
        keys: keys.map(|i| args[i].to_vec()).collect(),
        deadline: ms.and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms))),
        cmd: ctx.client.last_cmd,
        buf,
        ranges,
        sent,
        call_us: 0,
    }));
}

/// Arguments as one buffer and their ranges in it.
type Flat = (Vec<u8>, Vec<(usize, usize)>);

fn flatten<'a>(args: impl Iterator<Item = &'a [u8]>) -> Flat {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        ranges.push((buf.len(), buf.len() + a.len()));
        buf.extend_from_slice(a);
    }
    (buf, ranges)
}

/// Reports a change to `key` of database `db` to the blocking registry
/// (see the module comment).
#[inline]
pub fn signal(ctx: &Ctx<'_>, db: usize, key: &[u8]) {
    let b = &ctx.shared.blocking;
    if b.count() > 0 {
        b.key_changed(ctx.client.id, db, key);
    }
}

/// After SWAPDB, FLUSHDB and FLUSHALL: every key waited on in database
/// `db` is ready, so each blocked command runs again — it is served from a
/// key the swap brought in (Redis's scanDatabaseForReadyKeys), an
/// XREADGROUP whose stream went away fails (scanDatabaseForDeletedStreams),
/// the others wait on.
pub fn signal_waited(ctx: &Ctx<'_>, db: usize) {
    let b = &ctx.shared.blocking;
    if b.count() == 0 {
        return;
    }
    let waited: Vec<Vec<u8>> = b
        .inner
        .lock()
        .keys
        .get(&db)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for key in waited {
        b.key_changed(ctx.client.id, db, &key);
    }
}

/// Sleeps until `deadline`; forever when there is none.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Serves the waiters of the keys `client` made ready (see the module comment).
pub async fn serve_ready(shared: &Shared, client: u64) {
    loop {
        let next = {
            let mut inner = shared.blocking.inner.lock();
            let pos = inner.ready.iter().position(|(c, _, _)| *c == client);
            pos.map(|p| inner.ready.swap_remove(p))
        };
        let Some((_, db, key)) = next else { return };
        let mut tried: Vec<u64> = Vec::new();
        // A deleted key is offered to every waiter (an XREADGROUP answers
        // with an error); a key that empties while served stops the round.
        let k = shared.engine.key(&key);
        // Looks count no keyspace hit or miss, as Redis's serving of
        // blocked clients (LOOKUP_NOSTATS).
        let exists = || {
            let mut txn = shared.engine.lock_key(db, &k);
            txn.lookup(&k, Lookup::Peek).is_some()
        };
        let deleted = !exists();
        loop {
            let w = {
                let inner = shared.blocking.inner.lock();
                inner
                    .keys
                    .get(&db)
                    .and_then(|m| m.get(key.as_slice()))
                    .and_then(|q| q.iter().find(|w| !tried.contains(&w.id)).cloned())
            };
            let Some(w) = w else { break };
            let (ack, answer) = oneshot::channel();
            let popped = w.tx.send(Wake::Ready(ack)).is_ok() && answer.await.unwrap_or(false);
            if !popped {
                tried.push(w.id);
            }
            if !deleted && !exists() {
                break;
            }
        }
    }
}

/// Runs the blocked command again, as its handler (counted once, when it
/// was first called), with a spec in `client.block` that tells `block`
/// (and XREAD) this is a retry. Returns true if it replied (popped, or
/// failed other than by WRONGTYPE); then it is logged if slow.
fn retry(shared: &Shared, client: &mut Client, spec: &BlockSpec, out: &mut Vec<u8>) -> bool {
    client.block = Some(Box::new(BlockSpec {
        db: spec.db,
        keys: Vec::new(),
        deadline: None,
        cmd: spec.cmd,
        buf: Vec::new(),
        ranges: Vec::new(),
        sent: None,
        call_us: 0,
    }));
    let started = std::time::Instant::now();
    let served = run_again(shared, client, spec, out);
    client.block = None;
    if served {
        spec.log_slow(shared, client, started.elapsed().as_micros() as u64);
    }
    served
}

/// `retry`'s run of the handler and its reply.
fn run_again(shared: &Shared, client: &mut Client, spec: &BlockSpec, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let cmd = shared.commands.get(spec.cmd);
    let proto = client.proto;
    let saved_db = std::mem::replace(&mut client.db, spec.db);
    let propagating = crate::propagate::command_begins(shared);
    if propagating {
        let args = Args::from_parts(&spec.buf, &spec.ranges);
        crate::propagate::enter(cmd, &args, spec.db);
    }
    let result = {
        let mut ctx = Ctx {
            shared,
            client: &mut *client,
            args: Args::from_parts(&spec.buf, &spec.ranges),
            out: Reply::new(out, proto),
            now_ms: unix_millis(),
        };
        (cmd.handler)(&mut ctx)
    };
    if propagating {
        crate::propagate::leave(shared, client);
    }
    crate::propagate::command_ends();
    client.db = saved_db;
    match result {
        Err(e) if e.as_bytes() == WRONGTYPE.as_bytes() => false,
        // A failed call, in the error stats too (Redis's updateStatsOnUnblock).
        Err(e) => {
            shared.commands.stats[spec.cmd].failed.fetch_add(1, Relaxed);
            crate::dispatch::reply_error(shared, out, proto, e);
            true
        }
        Ok(()) => out.len() > start,
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Waits for the command in `client.block` to be served, time out, or be
/// unblocked, appending its reply to `out`. Returns false if the connection
/// must close (killed, shutdown, peer gone).
pub async fn wait<S: AsyncRead + Unpin>(
    shared: &Shared,
    client: &mut Client,
    stream: &mut S,
    input: &mut BytesMut,
    out: &mut Vec<u8>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let Some(spec) = client.block.take() else {
        return true;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let waiter = Arc::new(Waiter { id: client.id, tx });
    shared.blocking.register(&spec, &waiter);
    let reg = Registered {
        blocking: &shared.blocking,
        spec: &spec,
        id: client.id,
    };
    // A key written after the command looked at it and before the
    // registration above woke no one: one more look, or the client could
    // wait on a key that is already ready (or gone) for good.
    if retry(shared, client, &spec, out) {
        drop(reg);
        serve_ready(shared, client.id).await;
        return true;
    }
    let handle = client.handle.clone();
    let sleep = sleep_until(spec.deadline);
    tokio::pin!(sleep);
    loop {
        let room = input.len() < MAX_PENDING_INPUT;
        if room && input.capacity() == input.len() {
            input.reserve(4096);
        }
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Wake::Ready(ack)) => {
                    if retry(shared, client, &spec, out) {
                        drop(reg);
                        let _ = ack.send(true);
                        // A BLMOVE's push may feed other waiters.
                        serve_ready(shared, client.id).await;
                        return true;
                    }
                    let _ = ack.send(false);
                }
                // CLIENT UNBLOCK: a failed call either way, as in Redis 7.0.
                Some(Wake::Unblock { error }) => {
                    if error {
                        let e = CmdError::new("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                        crate::dispatch::reply_error(shared, out, client.proto, e);
                    } else {
                        Reply::new(out, client.proto).null_array();
                    }
                    shared.commands.stats[spec.cmd].failed.fetch_add(1, Relaxed);
                    spec.log_slow(shared, client, 0);
                    return true;
                }
                None => {
                    Reply::new(out, client.proto).null_array();
                    return true;
                }
            },
            _ = &mut sleep => {
                Reply::new(out, client.proto).null_array();
                return true;
            }
            _ = handle.kill.notified() => return false,
            _ = shutdown.changed() => return false,
            r = stream.read_buf(input), if room => match r {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            },
        }
        if handle.killed.load(Relaxed) || shared.stopping() {
            return false;
        }
    }
}

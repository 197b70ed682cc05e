//! Write propagation: the command stream Redis 7.0 feeds its AOF (and
//! replicas), built while each command still holds its shard locks.
//!
//! Two parts:
//!
//! - The [`Feed`]: one shared byte buffer of RESP-encoded commands, with the
//!   database the stream last SELECTed and the total bytes ever appended (its
//!   *offset*). Appending is a memcpy under a mutex. The AOF's writers
//!   (`persist/aof_writer.rs`) drain it; a client's replies wait until the
//!   file holds everything up to the offset its commands reached (fsynced,
//!   under `appendfsync always`), so an acknowledged write is in the OS and
//!   a kill -9 loses none, as in Redis, which writes before it replies. Writes made
//!   outside the command table (the memcached protocol, `memcache/exec.rs`)
//!   append their command directly, under their key's lock
//!   ([`Feed::append_command`]).
//! - A per-thread stack of *frames*, one per running command (`call` nests:
//!   EXEC and scripts call their inner commands through it). A frame holds the
//!   command's arguments encoded as RESP (write commands only), the database
//!   it runs in, and what the handler asked for: a rewrite (Redis's
//!   `rewriteClientCommandVector`: SET EX becomes SET PXAT...), extra commands
//!   (`alsoPropagate`: SPOP's SREMs), no propagation, or forced propagation,
//!   possibly to replicas only (PUBLISH: Redis's `PROPAGATE_REPL`; such a
//!   command counts only while a replication backlog exists, and its bytes
//!   go to the backlog, not the AOF). Recorded commands wait in a
//!   per-thread pending list.
//!
//! The engine calls [`WriteSink::releasing`] when a command's `Txn` is about
//! to drop its locks, with the number of writes it made. Then the top frame
//! is recorded if it wrote (or was forced), and — for an outermost command —
//! the pending list is appended to the feed, *before* the locks go: so the
//! feed's order per key is the execution order, and a multi-shard command
//! lands in it atomically. Inner commands of EXEC and scripts only record;
//! EXEC and EVAL flush once, before their hold on the shards ends
//! ([`flush_on_drop`]), wrapping the batch in MULTI/EXEC when it holds more
//! than one command (Redis 7.0's `propagatePendingCommands`). Deletions by
//! lazy/active expiry and eviction are appended at once as `DEL` (7.0
//! propagates them immediately, outside any transaction).
//!
//! Consumers: the AOF writer drains `buf` (kept only while the AOF runs,
//! `FeedInner::aof`), and the replication backlog
//! (`replication/backlog.rs`), when one exists, gets a copy of every
//! appended byte under the same lock, so replicas see exactly the AOF's
//! stream, in the same order — on a master; a replica's backlog holds its
//! master's stream instead ([`Feed::proxy`]). Propagation is on while either exists
//! ([`attach_aof`], `replication::master`).
//!
//! Turning propagation on while clients run (the first replica): a command
//! reads the switch once, when it starts ([`command_begins`]), so one that
//! started just before the switch would propagate nothing. Each thread
//! therefore publishes a *gate* counter, odd while it runs an outermost
//! command; after turning the switch on, [`quiesce`] waits until every
//! thread seen inside a command has left it (a store and a fence per
//! command pair with a fence and a load per thread here, so either the
//! command sees the switch on or `quiesce` sees the command running).
//!
//! Cost when propagation is off (no AOF, no replica): one relaxed load and a branch per
//! command in `dispatch::call` and per `Txn` drop. When on: a copy of each
//! write command's arguments, and a mutex-protected append per command.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{fence, AtomicU64};
use std::sync::Arc;

use larder_engine::events::WriteSink;
use larder_resp::Args;
use parking_lot::{Condvar, Mutex};

use crate::client::Client;
use crate::command::{flags, Command, Ctx};
use crate::shared::Shared;

/// The shared command stream (see the module comment).
#[derive(Default)]
pub struct Feed {
    inner: Mutex<FeedInner>,
    /// Wakes the consumer when it sleeps.
    ready: Condvar,
    /// Highest offset known to be fsynced (`always`) or written.
    synced: AtomicU64,
    /// Wakes clients waiting for `synced` to advance.
    synced_tx: Option<tokio::sync::watch::Sender<u64>>,
}

#[derive(Default)]
pub struct FeedInner {
    /// Bytes not yet taken by the consumer.
    pub buf: Vec<u8>,
    /// The database the stream last selected (`None`: next command SELECTs).
    pub db: Option<usize>,
    /// Bytes appended since the server started (the end of `buf`).
    pub offset: u64,
    /// The consumer is asleep on `ready`.
    pub idle: bool,
    /// The AOF writer consumes `buf` (else appends only feed the backlog).
    pub aof: bool,
    /// The replication backlog, once a replica has attached (on a
    /// replica, once it has synced).
    pub backlog: Option<crate::replication::backlog::Backlog>,
    /// This server is a replica: its backlog holds the master's stream as
    /// received ([`Feed::proxy`]), so that its own replicas share the
    /// master's history and offsets (Redis's PSYNC2); what its commands
    /// propagate goes to the AOF only.
    pub proxy: bool,
}

impl FeedInner {
    /// The replication offset (bytes ever fed to the backlog).
    pub fn repl_offset(&self) -> u64 {
        self.backlog.as_ref().map_or(0, |b| b.end())
    }
}

impl Feed {
    pub fn new() -> Feed {
        let (tx, _) = tokio::sync::watch::channel(0);
        Feed {
            synced_tx: Some(tx),
            ..Feed::default()
        }
    }

    /// The feed under its lock (the AOF writer drains `buf`; a rewrite
    /// resets `db` at its switch).
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, FeedInner> {
        self.inner.lock()
    }

    /// The feed at a snapshot's start instant (call it from the snapshot's
    /// `at_start`, with every shard locked): the AOF rewrite switches files
    /// here and a replica's full resync takes its offset here, so every
    /// write is either in the snapshot or after this point of the stream,
    /// never both. The stream's next command SELECTs its database, as a
    /// new base or a replica's empty selection needs.
    pub fn switch_point(&self) -> parking_lot::MutexGuard<'_, FeedInner> {
        let mut g = self.inner.lock();
        g.db = None;
        g
    }

    /// Sleeps until bytes are queued or `timeout` passes.
    pub fn wait_for_data<'a>(
        &self,
        g: &mut parking_lot::MutexGuard<'a, FeedInner>,
        timeout: std::time::Duration,
    ) {
        if g.buf.is_empty() {
            g.idle = true;
            self.ready.wait_for(g, timeout);
            g.idle = false;
        }
    }

    /// Sleeps until kicked or `timeout` passes: appends do not wake this
    /// sleep (the AOF writer's under `everysec`/`no`, where connections
    /// write their own commands).
    pub fn wait_for_kick(
        &self,
        g: &mut parking_lot::MutexGuard<'_, FeedInner>,
        timeout: std::time::Duration,
    ) {
        self.ready.wait_for(g, timeout);
    }

    /// Wakes the consumer now (shutdown, rewrite).
    pub fn kick(&self) {
        self.ready.notify_one();
    }

    /// Records that everything up to `offset` is on disk (or written, for
    /// `everysec`/`no`), releasing the replies waiting for it.
    pub fn set_synced(&self, offset: u64) {
        self.synced.fetch_max(offset, Relaxed);
        if let Some(tx) = &self.synced_tx {
            tx.send_if_modified(|v| {
                let changed = *v < offset;
                *v = (*v).max(offset);
                changed
            });
        }
    }

    /// Sets the synced offset (a new writer starts where the feed is).
    pub fn reset_synced(&self, offset: u64) {
        self.synced.store(offset, Relaxed);
        if let Some(tx) = &self.synced_tx {
            tx.send_replace(offset);
        }
    }

    /// The highest offset the AOF holds (see [`Feed::set_synced`]).
    pub fn synced(&self) -> u64 {
        self.synced.load(Relaxed)
    }

    /// A receiver that sees the synced offset move.
    pub fn watch_synced(&self) -> tokio::sync::watch::Receiver<u64> {
        match &self.synced_tx {
            Some(tx) => tx.subscribe(),
            None => tokio::sync::watch::channel(u64::MAX).1,
        }
    }

    /// Appends commands, each `(db, bytes, replicas only)`, SELECTing as
    /// needed; more than one is wrapped in MULTI/EXEC. A replicas-only
    /// command is dropped while no backlog exists, else its bytes go to the
    /// backlog alone (a SELECT it needs goes to both: the stream keeps one
    /// selected database). Returns the offset after them (0 when no AOF
    /// consumes the feed) and the replication offset after them.
    fn append<'b>(&self, ops: impl Iterator<Item = (usize, &'b [u8], bool)>) -> (u64, u64) {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let repl = g.backlog.is_some() && !g.proxy;
        let ops: smallvec::SmallVec<[(usize, &[u8], bool); 4]> =
            ops.filter(|op| repl || !op.2).collect();
        let n = ops.len();
        let mut first = true;
        let mut last_db = 0;
        let mut before = g.buf.len();
        for (db, bytes, repl_only) in ops {
            if first && n > 1 {
                select(g, db);
                encode(&mut g.buf, [&b"MULTI"[..]]);
            }
            first = false;
            select(g, db);
            last_db = db;
            if repl_only {
                self.appended(g, before);
                if let Some(b) = &mut g.backlog {
                    b.push(bytes);
                }
                before = g.buf.len();
            } else {
                g.buf.extend_from_slice(bytes);
            }
        }
        if n > 1 {
            select(g, last_db);
            encode(&mut g.buf, [&b"EXEC"[..]]);
        }
        let aof = g.aof;
        let offset = self.appended(g, before);
        (if aof { offset } else { 0 }, g.repl_offset())
    }

    /// Appends one command in database `db` at once, for writes made
    /// outside the command table (the memcached protocol; call it under
    /// the key's lock, so the stream keeps each key's order). With an AOF,
    /// raises `wait` to its offset (see `aof_writer::settle`).
    pub fn append_command<'b>(
        &self,
        db: usize,
        args: impl IntoIterator<Item = &'b [u8]>,
        wait: &mut u64,
    ) {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let before = g.buf.len();
        select(g, db);
        encode(&mut g.buf, args);
        let aof = g.aof;
        let offset = self.appended(g, before);
        if aof {
            *wait = (*wait).max(offset);
        }
    }

    /// Counts bytes appended since `before`, copies them to the backlog
    /// and wakes the consumers.
    fn appended(&self, g: &mut FeedInner, before: usize) -> u64 {
        g.offset += (g.buf.len() - before) as u64;
        if let Some(b) = g.backlog.as_mut().filter(|_| !g.proxy) {
            b.push(&g.buf[before..]);
        }
        if !g.aof {
            // Only the backlog wanted them; a big command's room goes too.
            g.buf.truncate(before);
            g.buf.shrink_to(RETAIN_MAX);
        } else if g.idle {
            self.ready.notify_one();
        }
        g.offset
    }

    /// Appends a command to the replication stream only, in no database
    /// (the master's PING and REPLCONF GETACK: Redis feeds them to
    /// replicas, not to the AOF, and emits no SELECT for them).
    pub fn append_replicas_only<'b>(&self, args: impl IntoIterator<Item = &'b [u8]>) {
        let mut g = self.inner.lock();
        let g = &mut *g;
        if let Some(b) = g.backlog.as_mut().filter(|_| !g.proxy) {
            let mut bytes = Vec::with_capacity(48);
            encode(&mut bytes, args);
            b.push(&bytes);
        }
    }

    /// On a replica: appends bytes of the master's stream, as received and
    /// applied, to the backlog (see [`FeedInner::proxy`]).
    pub fn proxy(&self, bytes: &[u8]) {
        if let Some(b) = &mut self.inner.lock().backlog {
            b.push(bytes);
        }
    }
}

fn select(g: &mut FeedInner, db: usize) {
    if g.db != Some(db) {
        let mut itoa = itoa::Buffer::new();
        encode(&mut g.buf, [&b"SELECT"[..], itoa.format(db).as_bytes()]);
        g.db = Some(db);
    }
}

/// Appends `args` as a RESP array of bulk strings (the AOF's format).
pub fn encode<'b>(out: &mut Vec<u8>, args: impl IntoIterator<Item = &'b [u8]>) {
    let args: smallvec::SmallVec<[&[u8]; 8]> = args.into_iter().collect();
    let mut itoa = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(itoa.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(itoa.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One running command (see the module comment).
#[derive(Default)]
struct Frame {
    db: usize,
    /// The command as RESP; empty if it does not propagate itself.
    cmd: Vec<u8>,
    /// A replacement for `cmd` (valid when `rewritten`).
    alt: Vec<u8>,
    rewritten: bool,
    recorded: bool,
    prevent: bool,
    force: bool,
    /// Propagated to replicas only (PUBLISH).
    repl_only: bool,
}

/// Reused buffers (per thread, and the feed's without an AOF) keep their
/// room for the next command, up to this: past it (a big write), they give
/// it back, or they would hold the largest command's size for good.
const RETAIN_MAX: usize = 1 << 20;

/// Empties a reused buffer, giving back room past [`RETAIN_MAX`].
fn reset(buf: &mut Vec<u8>) {
    if buf.capacity() > RETAIN_MAX {
        *buf = Vec::new();
    } else {
        buf.clear();
    }
}

#[derive(Default)]
struct Local {
    frames: Vec<Frame>,
    depth: usize,
    /// Recorded commands not yet in the feed: bytes, and (db, start, end,
    /// replicas only).
    pending: Vec<u8>,
    ops: Vec<(usize, usize, usize, bool)>,
    /// The feed offset after this thread's last append (0: no AOF).
    written: u64,
    /// The replication offset after it (WAIT's target).
    repl_written: u64,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
    /// This thread's gate (odd: inside a command) and command depth.
    static GATE: (Arc<AtomicU64>, Cell<u32>) = {
        let g = Arc::new(AtomicU64::new(0));
        GATES.lock().push(g.clone());
        (g, Cell::new(0))
    };
}

/// Every thread's gate (see the module comment).
static GATES: Mutex<Vec<Arc<AtomicU64>>> = Mutex::new(Vec::new());

/// A command starts on this thread: marks the thread busy (outermost
/// command) and returns whether its writes are propagated. Pair with
/// [`command_ends`].
#[inline]
pub(crate) fn command_begins(shared: &Shared) -> bool {
    gate_enter();
    shared.engine.events.writes.on()
}

#[inline]
fn gate_enter() {
    let _ = GATE.try_with(|(g, depth)| {
        if depth.get() == 0 {
            g.store(g.load(Relaxed) | 1, Relaxed);
            fence(SeqCst);
        }
        depth.set(depth.get() + 1);
    });
}

#[inline]
pub(crate) fn command_ends() {
    let _ = GATE.try_with(|(g, depth)| {
        depth.set(depth.get().saturating_sub(1));
        if depth.get() == 0 {
            g.store((g.load(Relaxed) | 1) + 1, Release);
        }
    });
}

/// After turning propagation on: waits until every command that may have
/// read the switch while it was off has ended.
pub async fn quiesce() {
    for (g, v) in busy_gates() {
        while g.load(Acquire) == v {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

/// [`quiesce`] for a plain thread (the AOF rewrite that turns the AOF on).
pub fn quiesce_blocking() {
    for (g, v) in busy_gates() {
        while g.load(Acquire) == v {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// The gates of the threads running a command now, with their values.
fn busy_gates() -> Vec<(Arc<AtomicU64>, u64)> {
    fence(SeqCst);
    GATES
        .lock()
        .iter()
        .filter_map(|g| {
            let v = g.load(Relaxed);
            (v & 1 == 1).then(|| (g.clone(), v))
        })
        .collect()
}

/// Runs `f`, a wait inside a command that writes nothing, with this
/// thread's gate open, so that a quiesce on another thread need not wait
/// for it (DEBUG LOADAOF waiting for the rewrite that turns the AOF on).
pub(crate) fn outside_command<T>(f: impl FnOnce() -> T) -> T {
    let gate = GATE.try_with(|(g, depth)| (depth.get() > 0).then(|| g.clone()));
    let Ok(Some(g)) = gate else {
        return f();
    };
    g.store((g.load(Relaxed) | 1) + 1, Release);
    let r = f();
    g.store(g.load(Relaxed) | 1, Relaxed);
    fence(SeqCst);
    r
}

impl Local {
    fn push_op(&mut self, db: usize, bytes: &[u8], repl_only: bool) {
        let start = self.pending.len();
        self.pending.extend_from_slice(bytes);
        self.ops.push((db, start, self.pending.len(), repl_only));
    }

    /// Records the top frame's command (or its rewrite) once.
    fn record_top(&mut self) {
        let Some(top) = self.depth.checked_sub(1) else {
            return;
        };
        let f = &mut self.frames[top];
        if f.recorded {
            return;
        }
        f.recorded = true;
        if f.prevent {
            return;
        }
        let bytes = std::mem::take(if f.rewritten { &mut f.alt } else { &mut f.cmd });
        if !bytes.is_empty() {
            let (db, repl_only) = (f.db, f.repl_only);
            self.push_op(db, &bytes, repl_only);
        }
        let f = &mut self.frames[top];
        if f.rewritten {
            f.alt = bytes;
        } else {
            f.cmd = bytes;
        }
    }

    fn flush(&mut self, feed: &Feed) {
        if self.ops.is_empty() {
            return;
        }
        let pending = &self.pending;
        (self.written, self.repl_written) = feed.append(
            self.ops
                .iter()
                .map(|&(db, s, e, r)| (db, &pending[s..e], r)),
        );
        self.ops.clear();
        reset(&mut self.pending);
    }
}

/// Starts a frame for command `cmd` (call only while propagation is on,
/// paired with [`leave`]).
pub(crate) fn enter(cmd: &Command, args: &Args<'_>, db: usize) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let d = l.depth;
        if l.frames.len() == d {
            l.frames.push(Frame::default());
        }
        let f = &mut l.frames[d];
        f.db = db;
        f.cmd.clear();
        f.rewritten = false;
        f.recorded = false;
        f.prevent = false;
        f.force = false;
        f.repl_only = false;
        if cmd.has(flags::WRITE) {
            encode(&mut f.cmd, args.iter());
        }
        l.depth = d + 1;
    });
}

/// Ends the frame [`enter`] began. An outermost command appends what is
/// still pending (commands forced without writing under a lock), and with
/// an AOF tells the client how far it must be written (synced, under
/// `appendfsync always`) before its reply may go.
pub(crate) fn leave(shared: &Shared, client: &mut Client) {
    let feed = &shared.propagate.feed;
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.depth == 0 {
            return;
        }
        if l.frames[l.depth - 1].force {
            l.record_top();
        }
        l.depth -= 1;
        // The finished frame's command is recorded by now.
        let d = l.depth;
        reset(&mut l.frames[d].cmd);
        reset(&mut l.frames[d].alt);
        if l.depth == 0 {
            l.flush(feed);
            if l.written > 0 {
                client.aof_wait = client.aof_wait.max(l.written);
            }
            if l.repl_written > 0 {
                client.repl_woff = l.repl_written;
            }
            l.written = 0;
            l.repl_written = 0;
        }
    });
}

/// Flushes the thread's pending commands when dropped: EXEC and scripts
/// hold one of these inside their shard hold, so their batch reaches the
/// feed before the hold ends.
pub(crate) struct FlushOnDrop<'a>(&'a Shared);

pub(crate) fn flush_on_drop(shared: &Shared) -> FlushOnDrop<'_> {
    FlushOnDrop(shared)
}

impl Drop for FlushOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.engine.events.writes.on() {
            let feed = &self.0.propagate.feed;
            let _ = LOCAL.try_with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    l.flush(feed);
                }
            });
        }
    }
}

/// The engine's write hook, installed by [`install`].
struct Sink(Arc<Feed>);

impl WriteSink for Sink {
    fn deleted(&self, db: usize, key: &[u8]) {
        let mut bytes = Vec::with_capacity(key.len() + 24);
        encode(&mut bytes, [&b"DEL"[..], key]);
        self.0.append(std::iter::once((db, &bytes[..], false)));
    }

    fn releasing(&self, changes: u32) {
        let _ = LOCAL.try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return;
            };
            if l.depth == 0 {
                return;
            }
            if changes > 0 || l.frames[l.depth - 1].force {
                l.record_top();
            }
            if l.depth == 1 {
                l.flush(&self.0);
            }
        });
    }
}

/// Propagation state in `Shared`.
pub struct Propagator {
    pub feed: Arc<Feed>,
}

impl Default for Propagator {
    fn default() -> Self {
        Propagator {
            feed: Arc::new(Feed::new()),
        }
    }
}

/// Attaches or detaches the AOF writer as the feed's consumer (persist/aof.rs);
/// propagation stays on while a replication backlog needs it.
pub fn attach_aof(shared: &Shared, on: bool) {
    let mut g = shared.propagate.feed.lock();
    g.aof = on;
    shared
        .engine
        .events
        .writes
        .set_on(on || g.backlog.is_some());
}

/// Connects the engine's write hook to the feed (propagation stays off
/// until the AOF or a replica turns it on).
pub fn install(shared: &Shared) {
    shared
        .engine
        .events
        .writes
        .set_sink(Box::new(Sink(shared.propagate.feed.clone())));
}

/// Runs `f` in the top frame, if a command is being propagated.
fn with_top(f: impl FnOnce(&mut Local, usize)) {
    let _ = LOCAL.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if let Some(top) = l.depth.checked_sub(1) {
                f(&mut l, top);
            }
        }
    });
}

impl Ctx<'_> {
    /// Whether this command's writes are propagated: build rewrites only then.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.shared.engine.events.writes.on()
    }

    /// Propagates `args` instead of the command (Redis's
    /// rewriteClientCommandVector). Call before the command's `Txn` drops.
    pub fn propagate_as<'b>(&self, args: impl IntoIterator<Item = &'b [u8]>) {
        if !self.propagating() {
            return;
        }
        with_top(|l, top| {
            let f = &mut l.frames[top];
            debug_assert!(!f.recorded, "rewrite after the command was recorded");
            f.alt.clear();
            encode(&mut f.alt, args);
            f.rewritten = true;
        });
    }

    /// Propagates `args` now, after what is already recorded (Redis's
    /// alsoPropagate), in the command's database.
    pub fn also_propagate<'b>(&self, args: impl IntoIterator<Item = &'b [u8]>) {
        if !self.propagating() {
            return;
        }
        let db = self.client.db;
        with_top(|l, _| {
            let start = l.pending.len();
            encode(&mut l.pending, args);
            let end = l.pending.len();
            l.ops.push((db, start, end, false));
        });
    }

    /// Propagates nothing for this command itself (Redis's
    /// preventCommandPropagation); `also_propagate` still applies.
    pub fn prevent_propagation(&self) {
        if self.propagating() {
            with_top(|l, top| l.frames[top].prevent = true);
        }
    }

    /// Propagates the command as it is to replicas only, never to the AOF
    /// (Redis's PUBLISH: `forceCommandPropagation(c, PROPAGATE_REPL)`).
    pub fn propagate_to_replicas(&self) {
        if !self.propagating() {
            return;
        }
        let args = &self.args;
        with_top(|l, top| {
            let f = &mut l.frames[top];
            f.alt.clear();
            encode(&mut f.alt, args.iter());
            f.rewritten = true;
            f.force = true;
            f.repl_only = true;
        });
    }

    /// Propagates the command even if it changed nothing (Redis's
    /// forceCommandPropagation: FLUSHDB of an empty database).
    pub fn force_propagation(&self) {
        if self.propagating() {
            with_top(|l, top| l.frames[top].force = true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiesce_waits_for_running_commands() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            gate_enter();
            gate_enter(); // nested (EXEC's inner command)
            command_ends();
            started_tx.send(()).expect("send");
            end_rx.recv().expect("recv");
            command_ends();
        });
        started_rx.recv().expect("started");
        let early = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(50), quiesce()).await
        });
        assert!(early.is_err(), "quiesce returned while a command ran");
        end_tx.send(()).expect("end");
        t.join().expect("join");
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), quiesce())
                .await
                .expect("quiesce after the command ended")
        });
    }
}

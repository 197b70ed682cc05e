//! Clients: the state a connection carries, and the registry that lets other
//! connections see and act on it (CLIENT LIST, CLIENT KILL, INFO clients).
//!
//! `Client` is owned by its connection task and touched without locks on
//! every command. The part other clients may read or change lives in an
//! `Arc<ClientHandle>` of atomics and small mutexes; the connection updates
//! it once per batch of pipelined commands, not per command.

use std::collections::BTreeMap;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed,
};
use std::sync::Arc;
use std::time::Instant;

use larder_resp::Protocol;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::signal::{self, Signal};

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
}

/// What a connection does after the current batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    /// Flush the replies, then close (QUIT, protocol error, CLIENT KILL of self).
    Close,
}

pub struct Client {
    pub id: u64,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    /// The ACL user; None = `default` (see `acl::unrestricted`).
    pub user: Option<Arc<crate::acl::User>>,
    pub reply_mode: ReplyMode,
    pub after: After,
    /// Index of the command being run, for CLIENT LIST `cmd=`.
    pub last_cmd: usize,
    pub handle: Arc<ClientHandle>,
    /// Pushes (MONITOR lines, pub/sub messages) and subscriptions, created
    /// by the first MONITOR or SUBSCRIBE (see `pubsub`).
    pub pushes: Option<Box<crate::pubsub::Subscriptions>>,
    /// MULTI queue and WATCHed keys (`commands/multi.rs`).
    pub tx: crate::commands::multi::TxState,
    /// A blocking command waiting for its keys (`blocking`).
    pub block: Option<Box<crate::blocking::BlockSpec>>,
    /// Handlers running: 1 for a client's command, more inside EXEC or a
    /// script, where blocking commands do not block.
    pub nesting: u32,
    /// `CLIENT CACHING yes|no` was given for the next command (tracking OPTIN/OPTOUT).
    pub caching: bool,
    /// `appendfsync always`: the feed offset that must be fsynced before
    /// this client's pending replies go out (0: none).
    pub aof_wait: u64,
    /// The replication offset after this client's last write (WAIT).
    pub repl_woff: u64,
    /// Replication state of a connection that spoke REPLCONF, SYNC or WAIT
    /// (`replication::ReplClient`); None for ordinary clients.
    pub repl: Option<Box<crate::replication::ReplClient>>,
    /// Replays the AOF: past ACL, OOM, READONLY, stale and MISCONF checks,
    /// as Redis's AOF client.
    pub replay: bool,
}

impl Client {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Client {
        Client {
            id: handle.id,
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            user: None,
            reply_mode: ReplyMode::On,
            after: After::Continue,
            last_cmd: usize::MAX,
            handle,
            pushes: None,
            tx: Default::default(),
            block: None,
            nesting: 0,
            caching: false,
            aof_wait: 0,
            repl_woff: 0,
            repl: None,
            replay: false,
        }
    }
}

/// The shared face of a client.
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub unix: bool,
    pub created: Instant,
    /// Milliseconds since `created` at the last command.
    pub last_active_ms: AtomicU64,
    pub db: AtomicUsize,
    pub name: Mutex<Option<Vec<u8>>>,
    pub lib_name: Mutex<Option<Vec<u8>>>,
    pub lib_ver: Mutex<Option<Vec<u8>>>,
    /// Command table index of the last command.
    pub last_cmd: AtomicUsize,
    pub resp: AtomicU64,
    pub qbuf: AtomicU64,
    /// Unused capacity of the input buffer (CLIENT LIST `qbuf-free`).
    pub qbuf_free: AtomicU64,
    /// Arguments of a request begun and not complete (CLIENT LIST `argv-mem`).
    pub argv_mem: AtomicU64,
    /// Commands queued by MULTI, -1 outside one (CLIENT LIST `multi`).
    pub multi: AtomicI64,
    /// The MULTI queue and WATCHed keys (CLIENT LIST `multi-mem`).
    pub multi_mem: AtomicU64,
    /// [`ClientHandle::tot_mem`] as last counted in the clients' total
    /// (`client_eviction`).
    pub mem_counted: AtomicU64,
    /// Replies waiting for the socket (`unsent::Unsent`), for CLIENT LIST's
    /// `omem` and the output limit checks of commands with huge replies.
    pub unsent: AtomicU64,
    /// What those replies' buffers hold, with a drained one kept for reuse
    /// (past `unsent::REPLY_ALLOWANCE`).
    pub unsent_held: AtomicU64,
    /// The room of the buffer the next batch's replies go to, past
    /// `unsent::REPLY_ALLOWANCE`.
    pub reply_buf: AtomicU64,
    /// Pushes for this client (pub/sub, MONITOR, invalidations); any task may queue.
    pub outbox: Arc<crate::pubsub::Outbox>,
    /// CLIENT TRACKING flags (`tracking::ON`, ...), read by other clients' writes.
    pub tracking: AtomicU32,
    pub tracking_settings: Mutex<crate::tracking::Settings>,
    pub tot_cmds: AtomicU64,
    pub monitor: AtomicBool,
    /// Subscriptions: channels, patterns, shard channels (CLIENT LIST).
    pub subs: [AtomicUsize; 3],
    pub no_evict: AtomicBool,
    /// The ACL user, as `Client::user` (CLIENT LIST, CLIENT KILL USER, ACL DELUSER).
    pub user: Mutex<Option<Arc<crate::acl::User>>>,
    pub killed: AtomicBool,
    /// Held by CLIENT PAUSE now (CLIENT LIST flag `b`, as Redis blocks it).
    pub paused: AtomicBool,
    /// Wakes waits outside the connection's main loop (blocked, paused, replica).
    pub kill: Notify,
    /// Wakes the connection's main loop: `signal::{STOP, PUSH, SHRINK}`.
    pub events: Signal,
}

impl ClientHandle {
    pub fn age_secs(&self) -> u64 {
        self.created.elapsed().as_secs()
    }

    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_active_ms.load(Relaxed)) / 1000
    }

    pub fn touch(&self) {
        self.last_active_ms
            .store(self.created.elapsed().as_millis() as u64, Relaxed);
    }

    /// What the connection holds for itself (CLIENT LIST `tot-mem`, what
    /// `maxmemory-clients` limits): a fixed base, the input buffer's whole
    /// allocation, a request's arguments, the MULTI state, the reply
    /// buffers (their room, as Redis counts its reply blocks) and pushes
    /// waiting, and an estimate per subscription and tracking prefix (the
    /// names are shared, as in Redis, which counts the same overheads).
    pub fn tot_mem(&self) -> u64 {
        const BASE: u64 = 1024;
        const PER_SUB: u64 = 32;
        let subs: usize = self.subs.iter().map(|n| n.load(Relaxed)).sum();
        let prefixes = if self.tracking.load(Relaxed) & crate::tracking::BCAST != 0 {
            self.tracking_settings.lock().prefixes.len()
        } else {
            0
        };
        BASE + self.qbuf.load(Relaxed)
            + self.qbuf_free.load(Relaxed)
            + self.argv_mem.load(Relaxed)
            + self.multi_mem.load(Relaxed)
            + PER_SUB * (subs + prefixes) as u64
            + self.outbox.omem()
            + self.unsent_held.load(Relaxed)
            + self.reply_buf.load(Relaxed)
    }

    /// Output waiting for the socket: replies and pushes (CLIENT LIST `omem`).
    pub fn omem(&self) -> u64 {
        self.outbox.omem() + self.unsent.load(Relaxed)
    }

    /// Asks the connection to close as soon as it can.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill.notify_one();
        self.events.raise(signal::STOP);
    }
}

#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
}

impl Registry {
    pub fn register(&self, addr: String, laddr: String, unix: bool) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let h = Arc::new_cyclic(|weak| ClientHandle {
            id,
            addr,
            laddr,
            unix,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            db: AtomicUsize::new(0),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            last_cmd: AtomicUsize::new(usize::MAX),
            resp: AtomicU64::new(2),
            qbuf: AtomicU64::new(0),
            qbuf_free: AtomicU64::new(0),
            argv_mem: AtomicU64::new(0),
            multi: AtomicI64::new(-1),
            multi_mem: AtomicU64::new(0),
            mem_counted: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            unsent_held: AtomicU64::new(0),
            reply_buf: AtomicU64::new(0),
            outbox: Arc::new(crate::pubsub::Outbox::new(weak.clone())),
            tracking: AtomicU32::new(0),
            tracking_settings: Mutex::new(Default::default()),
            tot_cmds: AtomicU64::new(0),
            monitor: AtomicBool::new(false),
            subs: Default::default(),
            no_evict: AtomicBool::new(false),
            user: Mutex::new(None),
            killed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            kill: Notify::new(),
            events: Signal::default(),
        });
        self.clients.lock().insert(id, h.clone());
        h
    }

    /// Removes a closed connection; its handle is marked killed for whoever
    /// still holds it. False if it was not registered (any more).
    pub fn unregister(&self, id: u64) -> bool {
        let removed = self.clients.lock().remove(&id);
        if let Some(h) = &removed {
            h.killed.store(true, Relaxed);
        }
        removed.is_some()
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot, in id order.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }
}

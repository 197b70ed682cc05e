//! The memcached front end: its own port (`memcache-port`, default 11211),
//! the same engine, memory limit and eviction policy as RESP.
//!
//! - [`conn`]: one connection's read–parse–run–reply loop (one write per
//!   batch of pipelined requests, data blocks refused by the parser skipped
//!   across reads);
//! - [`exec`]: the commands against the engine (text and meta), and the
//!   operations the binary protocol shares;
//! - [`binary`]: the binary protocol's commands, through `exec`'s
//!   operations;
//! - [`stats`]: `stats` and its groups;
//! - [`detail`]: `stats detail`'s per-prefix counters;
//! - [`conns`]: the connection registry behind `stats conns`;
//! - [`admin`]: `lru_crawler`, `slabs`, `lru`, `watch` and the item dumps;
//! - [`threads`]: memcached's threading model, one runtime per core that
//!   connections are dealt to;
//! - [`watch`]: the `watch` log stream;
//! - [`aof`]: how memcached writes are logged to the append-only file and
//!   loaded back.
//!
//! Authentication: when RESP clients must authenticate (`requirepass`, or
//! an ACL `default` user with passwords), memcached clients must too, with
//! the same credentials: memcached's ASCII authentication on the text port
//! (a `set` whose data is `<user> <password>`) or SASL `PLAIN` in binary
//! (`larder_memcache::auth`). Until then every other request is refused
//! (`CLIENT_ERROR unauthenticated`; binary: "Auth failure." and close).
//!
//! Keyspace mapping: memcached items are the string values of database 0.
//! An item stored by a memcached client keeps memcached's metadata (client
//! flags, CAS, last access, meta item bits) in a 17-byte trailer of its
//! entry (`larder_engine::McMeta`); strings written over RESP have none and
//! read as flags 0, and get a CAS the first time a memcached command needs
//! one. Any RESP write drops the trailer, so it resets the flags and changes
//! the CAS. Keys holding other types (lists, hashes...) are invisible to
//! memcached reads; `set` overwrites them, `add` refuses them, `delete`
//! deletes them.
//!
//! State here is small: a pending delayed `flush_all` deadline, the keys
//! the last `flush_all` removed (for `get_flushed`, below), and the
//! counters `stats` reports, which connections gather locally and add in
//! once per batch (no shared write per command; the rare `get_expired` and
//! `get_flushed` are added at once). The CAS counter is the engine's
//! (`Engine::next_mc_cas`), as RDB and AOF loading hand out CAS uniques too.
//!
//! `get_expired` / `get_flushed` count, as in memcached, the commands that
//! found their key expired / flushed but not yet reclaimed. Expired keys
//! are found by the engine's lazy expiry (`Txn::lazy_expired`). `flush_all`
//! removes database 0's items at once (RESP clients see it empty), so it
//! remembers the hashes of the strings it removed — at most
//! [`FLUSHED_MAX`], for at most [`FLUSHED_KEEP_MS`] (memcached's LRU
//! maintainer reclaims flushed items in the background too) — and a
//! memcached command on one of those keys, still absent, counts once.

pub mod admin;
pub mod aof;
pub mod binary;
pub mod conn;
pub mod conns;
pub mod detail;
pub mod exec;
pub mod stats;
pub mod threads;
pub mod udp;
pub mod watch;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use std::os::fd::AsRawFd;

use tokio::net::{TcpListener, UnixListener};

use crate::shared::Shared;

/// Defines the memcached counters once: a per-connection batch of plain
/// integers and the shared atomics they are added into.
macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Counters a connection gathers during a batch; also a sum of
        /// every stripe of [`Counters`].
        #[derive(Default, Clone, Copy)]
        pub struct Local {
            $(pub $name: u64,)*
        }

        /// One stripe of [`Counters`].
        #[derive(Default)]
        pub struct Stripe {
            $(pub $name: AtomicU64,)*
        }

        impl Stripe {
            fn add(&self, l: &Local) {
                $(if l.$name != 0 {
                    self.$name.fetch_add(l.$name, Relaxed);
                })*
            }

            fn add_to(&self, sum: &mut Local) {
                $(sum.$name += self.$name.load(Relaxed);)*
            }

            fn reset(&self) {
                $(self.$name.store(0, Relaxed);)*
            }
        }
    };
}
counters!(
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_touch,
    cmd_meta,
    get_hits,
    get_misses,
    get_expired,
    get_flushed,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    store_no_memory,
    bytes_read,
    bytes_written,
    total_items,
    total_connections,
    rejected_connections,
    idle_kicks,
    conn_yields,
    auth_cmds,
    auth_errors,
);

/// Stripes of [`Counters`]: threads beyond this many share them.
const STRIPES: usize = 8;

/// Server-wide memcached counters (`stats`), striped as memcached keeps
/// them per worker thread: each thread adds into its own cache line, so two
/// threads counting gets do not pass one line back and forth on every
/// batch. `stats` sums the stripes (a read may see one batch half added,
/// as memcached's own per-thread sums can).
#[derive(Default)]
pub struct Counters {
    stripes: [CachePadded<Stripe>; STRIPES],
}

impl Counters {
    /// The calling thread's stripe, for a single increment.
    pub fn mine(&self) -> &Stripe {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
        }
        &self.stripes[INDEX.with(|i| *i)]
    }

    /// Adds a connection's batch in.
    pub fn add(&self, l: &Local) {
        self.mine().add(l);
    }

    /// Every counter, summed over the stripes.
    pub fn sum(&self) -> Local {
        let mut sum = Local::default();
        for s in &self.stripes {
            s.add_to(&mut sum);
        }
        sum
    }

    /// `stats reset`.
    pub fn reset(&self) {
        for s in &self.stripes {
            s.reset();
        }
    }
}

/// Most keys a `flush_all` remembers for `get_flushed` (about 1 MB).
pub const FLUSHED_MAX: usize = 65_536;
/// How long it remembers them.
pub const FLUSHED_KEEP_MS: u64 = 60_000;

/// memcached state shared by its connections (`Shared::memcache`).
#[derive(Default)]
pub struct McState {
    pub counters: Counters,
    pub curr_connections: AtomicU64,
    /// A delayed `flush_all`: Unix ms when it takes effect; 0 = none.
    flush_at: AtomicU64,
    /// `memcache-max-item-size`, mirrored by `Shared::apply_config`.
    pub item_max: AtomicU64,
    /// `memcache-reqs-per-event`, mirrored the same way.
    pub reqs_per_event: AtomicU64,
    /// Key hashes the last `flush_all` removed, not looked up since.
    flushed: parking_lot::Mutex<Flushed>,
    /// `flushed` is not empty (spares the lock on every command).
    flushed_any: AtomicBool,
    /// `stats detail on` (connections copy it once per batch).
    pub detail_on: AtomicBool,
    pub detail: detail::Prefixes,
    pub logger: Arc<watch::Logger>,
    pub conns: conns::Registry,
    /// What `lru_crawler`, `slabs`, `lru`, `verbosity` and `stats
    /// sizes_enable` set.
    pub tunables: parking_lot::Mutex<admin::Tunables>,
    /// The `hash_power_level` `stats` last reported (it never shrinks).
    pub hash_power: std::sync::atomic::AtomicU32,
}

#[derive(Default)]
struct Flushed {
    hashes: HashSet<u64>,
    /// When the flush ran, Unix ms.
    at: u64,
}

impl McState {
    /// Remembers the keys a flush removed (replacing the last flush's).
    fn record_flushed(&self, hashes: HashSet<u64>, now_ms: u64) {
        let mut f = self.flushed.lock();
        self.flushed_any.store(!hashes.is_empty(), Relaxed);
        *f = Flushed { hashes, at: now_ms };
    }

    /// Whether the key of `hash` was removed by the last flush and not
    /// looked up since (it is forgotten now).
    pub fn take_flushed(&self, hash: u64) -> bool {
        if !self.flushed_any.load(Relaxed) {
            return false;
        }
        let mut f = self.flushed.lock();
        let found = f.hashes.remove(&hash);
        if f.hashes.is_empty() {
            self.flushed_any.store(false, Relaxed);
        }
        found
    }

    /// Forgets flushed keys older than [`FLUSHED_KEEP_MS`].
    fn reclaim_flushed(&self, now_ms: u64) {
        if !self.flushed_any.load(Relaxed) {
            return;
        }
        let mut f = self.flushed.lock();
        if now_ms.saturating_sub(f.at) >= FLUSHED_KEEP_MS {
            self.flushed_any.store(false, Relaxed);
            *f = Flushed::default();
        }
    }

    /// Schedules (`at` > 0) a flush of database 0.
    pub fn schedule_flush(&self, at: u64) {
        self.flush_at.store(at, Relaxed);
    }

    /// Runs a delayed `flush_all` whose time has come.
    pub fn run_due_flush(&self, shared: &Shared, now_ms: u64) {
        let at = self.flush_at.load(Relaxed);
        if at != 0
            && now_ms >= at
            && self
                .flush_at
                .compare_exchange(at, 0, Relaxed, Relaxed)
                .is_ok()
        {
            // Nobody waits for this one's fsync.
            exec::flush_db0(shared, now_ms, &mut 0);
        }
    }
}

/// The memcached protocols' listeners.
pub struct Listeners {
    pub tcp: Vec<TcpListener>,
    /// `memcache-unixsocket`'s, with its path.
    pub unix: Option<(UnixListener, String)>,
    /// `memcache-udp-port`'s sockets.
    pub udp: Vec<std::net::UdpSocket>,
}

impl Listeners {
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.unix.is_none() && self.udp.is_empty()
    }
}

/// Binds the memcached listeners: `memcache-unixsocket`, and the TCP and
/// UDP ports on the `bind` addresses.
pub fn bind(config: &crate::Config) -> std::io::Result<Listeners> {
    let unix = match &config.memcache_unixsocket {
        Some(path) => Some((
            crate::server::bind_unix(path, config.memcache_unixsocketperm)?,
            path.display().to_string(),
        )),
        None => None,
    };
    Ok(Listeners {
        tcp: bind_port(config)?,
        unix,
        udp: udp::bind(config)?,
    })
}

/// The `bind` addresses at `port`, each with whether it is optional (a
/// leading `-`: skipped when unparsable, or when it cannot be bound).
fn bind_addrs(
    config: &crate::Config,
    port: u16,
) -> std::io::Result<Vec<(bool, std::net::SocketAddr)>> {
    let mut out = Vec::new();
    for b in &config.bind {
        match crate::server::parse_bind(b, port) {
            (optional, Some(addr)) => out.push((optional, addr)),
            (true, None) => {}
            (false, None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("invalid bind address '{b}'"),
                ))
            }
        }
    }
    Ok(out)
}

/// The port's listeners on the `bind` addresses. Empty when disabled (port
/// 0), or when the default port is busy (a warning: an explicitly
/// configured port that cannot be bound is an error).
fn bind_port(config: &crate::Config) -> std::io::Result<Vec<TcpListener>> {
    let (port, explicit) = match config.memcache_port {
        Some(0) => return Ok(Vec::new()),
        Some(p) => (p, true),
        None => (crate::config::DEFAULT_MEMCACHE_PORT, false),
    };
    let mut out = Vec::new();
    for (optional, addr) in bind_addrs(config, port)? {
        let host = addr.ip();
        match crate::server::bind_tcp(addr, config.tcp_backlog) {
            Ok(l) => out.push(l),
            Err(_) if optional => {}
            Err(e) if explicit => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("could not bind memcache port {host}:{port}: {e}"),
                ))
            }
            Err(e) => {
                tracing::warn!(
                    "memcache port {host}:{port} unavailable ({e}); memcached protocol off"
                );
                return Ok(Vec::new());
            }
        }
    }
    Ok(out)
}

const PROTECTED: &[u8] = b"SERVER_ERROR protected mode: no password is set, so only \
loopback clients are accepted (set protected-mode no, or requirepass)\r\n";

/// Shows evictions of database 0 (memcached's items) to `watch evictions`.
pub fn install(shared: &Shared) {
    let logger = shared.memcache.logger.clone();
    shared
        .engine
        .events
        .set_eviction_hook(Box::new(move |db, e| {
            if db == 0 {
                logger.eviction(e);
            }
        }));
}

/// Counts an accepted client and decides whether it stays: not past
/// `maxclients`, and under protected mode (no password set) only a local
/// one, as on the RESP port. `refuse` tells a refused client why (memcached
/// does, best effort: a fresh socket's send buffer takes it at once).
fn admit(shared: &Shared, local: bool, refuse: impl Fn(&[u8])) -> bool {
    let mc = &shared.memcache;
    mc.counters.mine().total_connections.fetch_add(1, Relaxed);
    let max = shared.config.read().maxclients as u64;
    let why: &[u8] = if mc.curr_connections.load(Relaxed) >= max {
        b"ERROR Too many open connections\r\n"
    } else if !local && crate::server::protected(shared) {
        PROTECTED
    } else {
        return true;
    };
    mc.counters
        .mine()
        .rejected_connections
        .fetch_add(1, Relaxed);
    refuse(why);
    false
}

/// Accepts memcached clients on a TCP listener until the server stops.
pub async fn accept(shared: Arc<Shared>, listener: TcpListener, threads: Arc<threads::Threads>) {
    if let Ok(addr) = listener.local_addr() {
        let now = crate::shared::unix_secs() as u32;
        let addr = conns::Addr::Ip(addr);
        (shared.memcache.conns).add_listener(listener.as_raw_fd(), addr, now);
    }
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if admit(&shared, peer.ip().is_loopback(), |why| {
            let _ = stream.try_write(why);
        }) {
            let _ = stream.set_nodelay(true);
            threads.serve(shared.clone(), stream);
        }
    }
}

/// Accepts memcached clients on the unix socket at `path` until the server
/// stops.
pub async fn accept_unix(
    shared: Arc<Shared>,
    listener: UnixListener,
    path: String,
    threads: Arc<threads::Threads>,
) {
    let now = crate::shared::unix_secs() as u32;
    let addr = conns::Addr::Unix(path.clone());
    (shared.memcache.conns).add_listener(listener.as_raw_fd(), addr, now);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if admit(&shared, true, |why| {
            let _ = stream.try_write(why);
        }) {
            threads.serve_unix(shared.clone(), stream, path.clone());
        }
    }
}

/// Four times a second: a delayed `flush_all` that came due, and the
/// flushed keys to forget.
pub async fn cron(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let s = shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let now = larder_engine::access::now_ms();
            s.memcache.run_due_flush(&s, now);
            s.memcache.reclaim_flushed(now);
        })
        .await;
    }
}

//! State shared by every connection: the engine, the config, the command
//! table, the client registry and the server-wide counters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use larder_engine::Engine;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::client::Registry;
use crate::command::CommandTable;
use crate::config::Config;

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct ServerStats {
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
    /// Socket reads that brought input, and socket writes of replies.
    pub total_reads_processed: AtomicU64,
    pub total_writes_processed: AtomicU64,
    /// Idle clients' grown reply buffers given back, and reply buffers
    /// grown past their last size.
    pub reply_buffer_shrinks: AtomicU64,
    pub reply_buffer_expands: AtomicU64,
    /// Wall time of the active expiry cycles, in µs.
    pub expire_cycle_us: AtomicU64,
    /// Samples taken by the server cron for the `instantaneous_*` fields.
    pub rates: Mutex<Rates>,
}

/// The `instantaneous_*` metrics: each a rate per second over the last
/// 16 cron samples, as Redis's STATS_METRIC_SAMPLES.
#[derive(Default)]
pub struct Rates {
    pub ops: Rate,
    pub net_input: Rate,
    pub net_output: Rate,
    pub repl_input: Rate,
    pub repl_output: Rate,
}

#[derive(Default)]
pub struct Rate {
    pub last_time: Option<Instant>,
    pub last_count: u64,
    pub samples: VecDeque<u64>,
}

impl Rate {
    const LEN: usize = 16;

    /// Records a sample of the count's growth per second since the last one.
    pub fn record(&mut self, now: Instant, count: u64) {
        if let Some(t) = self.last_time {
            let ms = now.duration_since(t).as_millis().max(1) as u64;
            let ops = count.saturating_sub(self.last_count) * 1000 / ms;
            if self.samples.len() == Self::LEN {
                self.samples.pop_front();
            }
            self.samples.push_back(ops);
        }
        self.last_time = Some(now);
        self.last_count = count;
    }

    pub fn mean(&self) -> u64 {
        if self.samples.is_empty() {
            0
        } else {
            self.samples.iter().sum::<u64>() / self.samples.len() as u64
        }
    }
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

/// Config values read on the hot path, mirrored from `Config` on change.
#[derive(Default)]
pub struct Hot {
    pub requirepass: AtomicBool,
    pub proto_max_bulk_len: AtomicU64,
    pub hll_sparse_max_bytes: AtomicU64,
    pub timeout_secs: AtomicU64,
    pub output_hard_limit: AtomicU64,
    pub output_soft_limit: AtomicU64,
    pub output_soft_seconds: AtomicU64,
    pub slowlog_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// DEBUG PAUSE-CRON: the server cron skips its work.
    pub cron_paused: AtomicBool,
    /// The dataset is loading (at start, on a replica's full sync, DEBUG
    /// LOADAOF / RELOAD): other clients' commands without the `loading`
    /// flag get Redis's LOADING error. Set through [`Loading`].
    pub loading: AtomicBool,
}

/// The dataset loads while this lives (INFO `loading:1`).
pub struct Loading<'a>(&'a AtomicBool);

impl<'a> Loading<'a> {
    pub fn start(sh: &'a Shared) -> Loading<'a> {
        sh.hot.loading.store(true, Relaxed);
        Loading(&sh.hot.loading)
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

pub struct Shared {
    /// The tasks accepting RESP connections on TCP, by listening address
    /// (CONFIG SET port / bind replaces them: `server::rebind`).
    pub accepting: Mutex<Vec<crate::server::Accepting>>,
    pub engine: Engine,
    pub config: RwLock<Config>,
    pub hot: Hot,
    pub commands: CommandTable,
    /// Users and the ACL log (`acl.rs`).
    pub acl: crate::acl::Acl,
    pub clients: Registry,
    pub client_eviction: crate::client_eviction::ClientEviction,
    pub stats: ServerStats,
    pub slowlog: Mutex<VecDeque<SlowEntry>>,
    pub slowlog_next_id: AtomicU64,
    /// Connections in MONITOR mode, fed by the dispatcher.
    pub monitors: Mutex<Vec<(u64, std::sync::Arc<crate::pubsub::Outbox>)>>,
    pub monitor_count: AtomicUsize,
    /// Pub/sub channels and patterns, and the push queue limits.
    pub pubsub: std::sync::Arc<crate::pubsub::PubSub>,
    /// Scripts loaded by EVAL / SCRIPT LOAD (`commands/scripting.rs`).
    pub scripts: crate::commands::scripting::ScriptCache,
    /// Function libraries (FUNCTION LOAD, FCALL: `commands/functions.rs`).
    pub functions: crate::commands::functions::Functions,
    pub started: Instant,
    pub run_id: String,
    /// Unix time of the last successful save (LASTSAVE).
    pub lastsave: AtomicU64,
    /// Set to true to stop the server (SHUTDOWN, signals).
    pub shutdown: watch::Sender<bool>,
    /// `shutdown`'s value, for the check a connection makes per batch: a
    /// relaxed load, where the channel's `borrow` takes its read lock (a
    /// write to one cache line every connection thread shares).
    stopping: AtomicBool,
    /// Error counts, latency events, memory peak (admin commands).
    pub admin: crate::admin::AdminState,
    /// Clients blocked on keys (BLPOP and co.).
    pub blocking: crate::blocking::Blocking,
    /// Write propagation (the AOF's command stream).
    pub propagate: crate::propagate::Propagator,
    /// The append-only file (`persist/aof.rs`).
    pub aof: crate::persist::aof::AofState,
    /// RDB snapshots: SAVE/BGSAVE state (`persist/snapshot.rs`).
    pub rdb: crate::persist::snapshot::RdbState,
    /// Client-side caching: tracking clients and prefixes.
    pub tracking: std::sync::Arc<crate::tracking::Tracker>,
    /// CLIENT PAUSE state (`pause.rs`).
    pub pause: crate::pause::Pause,
    /// The memcached front end's counters and CAS clock (`memcache/`).
    pub memcache: crate::memcache::McState,
    /// Replication: IDs, replicas, the link to a master (`replication/`).
    pub repl: crate::replication::Repl,
    /// MIGRATE's cached connections (`commands/migrate.rs`).
    pub migrate: crate::commands::migrate::Sockets,
}

impl Shared {
    pub fn new(config: Config, engine: Engine, commands: CommandTable) -> Shared {
        let hot = Hot::default();
        let (shutdown, _) = watch::channel(false);
        let pubsub: std::sync::Arc<crate::pubsub::PubSub> = Default::default();
        let tracking = crate::tracking::Tracker::new(pubsub.clone());
        tracking.install(&engine);
        let acl = crate::acl::Acl::new(&commands);
        let shared = Shared {
            acl,
            engine,
            config: RwLock::new(config),
            hot,
            commands,
            clients: Registry::default(),
            client_eviction: Default::default(),
            stats: ServerStats::default(),
            slowlog: Mutex::new(VecDeque::new()),
            slowlog_next_id: AtomicU64::new(0),
            monitors: Mutex::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
            pubsub,
            memcache: Default::default(),
            scripts: Default::default(),
            functions: Default::default(),
            started: Instant::now(),
            run_id: run_id(),
            lastsave: AtomicU64::new(unix_secs()),
            shutdown,
            stopping: AtomicBool::new(false),
            admin: Default::default(),
            blocking: Default::default(),
            propagate: Default::default(),
            aof: Default::default(),
            rdb: Default::default(),
            tracking,
            pause: Default::default(),
            accepting: Default::default(),
            repl: Default::default(),
            migrate: Default::default(),
        };
        shared.apply_config();
        crate::notify::install(&shared);
        crate::memcache::install(&shared);
        crate::propagate::install(&shared);
        shared
    }

    /// Pushes config values into the engine and the hot-path mirrors. Call
    /// after any change to `config`.
    pub fn apply_config(&self) {
        let c = self.config.read();
        let e = &self.engine.config;
        e.set_maxmemory(c.maxmemory);
        e.set_policy(c.policy());
        e.set_samples(c.maxmemory_samples);
        e.set_lfu_log_factor(c.lfu_log_factor);
        e.set_lfu_decay_time(c.lfu_decay_time);
        e.set_limits(&c.limits);
        e.set_mc_cas(!c.memcache_disable_cas);
        let h = &self.hot;
        crate::acl::apply_config(self, &c);
        h.proto_max_bulk_len.store(c.proto_max_bulk_len, Relaxed);
        h.hll_sparse_max_bytes
            .store(c.hll_sparse_max_bytes, Relaxed);
        h.timeout_secs.store(c.timeout, Relaxed);
        self.memcache
            .item_max
            .store(c.memcache_max_item_size, Relaxed);
        self.memcache
            .reqs_per_event
            .store(c.memcache_reqs_per_event, Relaxed);
        h.output_hard_limit
            .store(c.output_limit_normal.hard, Relaxed);
        self.pubsub.limits.apply(&c);
        self.engine.events.set_flags(c.notify_keyspace_events);
        h.slowlog_slower_than
            .store(c.slowlog_log_slower_than, Relaxed);
        h.slowlog_max_len.store(c.slowlog_max_len, Relaxed);
        self.admin
            .latency_threshold_ms
            .store(c.latency_monitor_threshold, Relaxed);
        crate::persist::aof::apply_config(self, &c);
        crate::persist::snapshot::apply_config(self, &c);
        crate::admin::apply_config(self, &c);
        crate::replication::apply_config(self, &c);
        crate::client_eviction::apply_config(self, &c);
    }

    /// Whether `request_shutdown` has run.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    pub fn request_shutdown(&self) {
        // New connections are refused from now on, before this returns (as
        // from Redis, which exits): a client that saw SHUTDOWN's connection
        // close finds nobody listening.
        for a in self.accepting.lock().iter() {
            let _ = a.socket.shutdown(std::net::Shutdown::Both);
        }
        self.stopping.store(true, Relaxed);
        self.shutdown.send_replace(true);
        crate::commands::scripting::abort_for_shutdown(self);
        for h in self.clients.all() {
            h.events.raise(crate::signal::STOP);
        }
        self.memcache.conns.stop_all();
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    for i in 0..3u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}

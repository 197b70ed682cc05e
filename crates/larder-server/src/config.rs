//! The server's settings, under Redis's directive names.
//!
//! `Config` is plain data: defaults here, parsing of `larder.conf` and of
//! `--name value` flags, and CONFIG GET/SET/REWRITE in `directives.rs`, which
//! maps each directive name to a field. Values read on the hot path are also
//! mirrored in atomics (the engine's `EngineConfig`, and `Shared::hot`) when
//! they change, so commands never take the config lock.

use std::path::PathBuf;

use larder_engine::Policy;

/// `client-output-buffer-limit <class> <hard> <soft> <soft-seconds>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub unixsocket: Option<PathBuf>,
    pub unixsocketperm: u32,
    pub protected_mode: bool,
    pub requirepass: Option<Vec<u8>>,
    /// `aclfile`: where ACL SAVE/LOAD keep users ("" = none).
    pub aclfile: String,
    /// `acllog-max-len`: ACL LOG entries kept.
    pub acllog_max_len: u64,
    /// `acl-pubsub-default`: `resetchannels` or `allchannels` for new users.
    pub acl_pubsub_default: String,
    /// The config file's `user` lines (the words after `user`), loaded at startup.
    pub users: Vec<String>,
    pub databases: usize,
    /// Idle client timeout in seconds; 0 = never.
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub tcp_backlog: u32,
    pub maxclients: usize,
    pub maxmemory: u64,
    /// `maxmemory-policy` as chosen; None = never chosen: see [`Config::policy`].
    pub maxmemory_policy: Option<Policy>,
    pub maxmemory_samples: u32,
    /// Accepted and reported; eviction runs until memory fits whatever its value.
    pub maxmemory_eviction_tenacity: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub proto_max_bulk_len: u64,
    /// Largest sparse HyperLogLog, header included, before it turns dense.
    pub hll_sparse_max_bytes: u64,
    pub client_query_buffer_limit: u64,
    pub output_limit_normal: OutputLimit,
    pub output_limit_replica: OutputLimit,
    pub output_limit_pubsub: OutputLimit,
    /// `notify-keyspace-events` as Redis's NOTIFY_* bits (0 = off).
    pub notify_keyspace_events: u32,
    pub hz: u32,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    /// `busy-reply-threshold` (alias `lua-time-limit`), ms.
    pub busy_reply_threshold: u64,
    pub latency_monitor_threshold: u64,
    /// Most keys the client-side caching table remembers (0 = no limit).
    pub tracking_table_max_keys: u64,
    pub loglevel: String,
    pub logfile: String,
    pub dir: PathBuf,
    pub dbfilename: String,
    /// `save <seconds> <changes>` pairs (no RDB persistence yet: stored, reported).
    pub save: Vec<(u64, u64)>,
    /// `rdbcompression`, `rdbchecksum`, `stop-writes-on-bgsave-error` (`persist/snapshot.rs`).
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub stop_writes_on_bgsave_error: bool,
    pub appendonly: bool,
    pub appendfilename: String,
    pub appendfsync: String,
    /// The AOF (`persist/aof.rs`): directory, rewrite triggers, loading and format.
    pub appenddirname: String,
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    pub aof_load_truncated: bool,
    pub aof_use_rdb_preamble: bool,
    pub aof_timestamp_enabled: bool,
    pub no_appendfsync_on_rewrite: bool,
    /// Only `no` is supported: Larder does not fork into the background.
    pub daemonize: bool,
    /// `lazyfree-lazy-*`: accepted and reported (Larder frees small entries
    /// inline; FLUSHALL/FLUSHDB ASYNC free on a background thread).
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    /// `enable-debug-command`: no, yes or local (loopback and Unix clients).
    pub enable_debug_command: String,
    /// `active-expire-effort` 1..=10.
    pub active_expire_effort: u32,
    /// Larder: keyspace shards (a power of two).
    pub shards: usize,
    /// Collection encoding thresholds (`list-max-listpack-size`,
    /// `hash-max-listpack-*`, `set-max-intset-entries`, `zset-max-listpack-*`)
    /// and stream node sizes (`stream-node-max-*`), mirrored into the
    /// engine's atomics by `apply_config`.
    pub limits: larder_engine::Limits,
    /// `list-compress-depth`: accepted and reported; lists are not compressed.
    pub list_compress_depth: u32,
    /// `memcache-port`: the memcached protocol's port; None = the default
    /// (11211, skipped with a warning if busy), Some(0) = off.
    pub memcache_port: Option<u16>,
    /// `memcache-udp-port` (memcached's `-U`): the memcached protocols over
    /// UDP, on the `bind` addresses; 0 = off.
    pub memcache_udp_port: u16,
    /// `memcache-max-item-size` (memcached's `-I`): largest item, header included.
    pub memcache_max_item_size: u64,
    /// `memcache-enable-shutdown` (memcached's `-A`): the `shutdown` command works.
    pub memcache_enable_shutdown: bool,
    /// `memcache-disable-flush-all` (memcached's `-F`): `flush_all` refused.
    pub memcache_disable_flush_all: bool,
    /// `memcache-disable-watch` (memcached's `-W`): `watch` refused.
    pub memcache_disable_watch: bool,
    /// `memcache-disable-cas` (memcached's `-C`): every item's CAS is 0.
    pub memcache_disable_cas: bool,
    /// `memcache-unixsocket` (memcached's `-s`): a unix socket path for the
    /// memcached protocols, besides the port.
    pub memcache_unixsocket: Option<PathBuf>,
    /// `memcache-unixsocketperm` (memcached's `-a`): its permissions.
    pub memcache_unixsocketperm: u32,
    /// `memcache-protocol` (memcached's `-B`): `auto` (the first byte
    /// decides), `ascii` (text and meta only) or `binary`.
    pub memcache_protocol: String,
    /// `memcache-reqs-per-event` (memcached's `-R`): requests a connection
    /// runs before it yields to the others (`conn_yields`).
    pub memcache_reqs_per_event: u64,
    /// `memcache-threads` (memcached's `-t`): threads serving memcached
    /// connections; 0 = one per core.
    pub memcache_threads: usize,
    /// `worker-threads`: the threads running RESP connections and the
    /// server's tasks (tokio's workers); 0 = one per core but one
    /// ([`Config::workers`]).
    pub worker_threads: usize,
    /// `idle-poll-us`: how long a busy RESP worker polls before it sleeps
    /// (`idle_poll`); 0 = never.
    pub idle_poll_us: u64,
    /// The config file this server was started with, for CONFIG REWRITE.
    pub config_file: Option<PathBuf>,
    /// Directives accepted for compatibility only (`directives_compat`),
    /// by name, as set; unset ones read as Redis's default.
    pub compat: std::collections::BTreeMap<&'static str, String>,
}

/// memcached's own default port.
pub const DEFAULT_MEMCACHE_PORT: u16 = 11211;

impl Config {
    /// The policy in force: the one chosen, else Larder's default once
    /// `maxmemory` is set (`allkeys-adaptive`, where Redis keeps
    /// `noeviction`), else `noeviction` (no limit: nothing to evict).
    pub fn policy(&self) -> Policy {
        match self.maxmemory_policy {
            Some(p) => p,
            None if self.maxmemory > 0 => Policy::AllkeysAdaptive,
            None => Policy::NoEviction,
        }
    }

    /// tokio's worker threads: `worker-threads`, else one per core but
    /// one (at least one), as redis.conf advises for `io-threads`: the
    /// kernel's network stack, the background threads and, often, the
    /// clients need a core too. On 2 cores with redis-benchmark beside
    /// the server, two workers came out below one on every test
    /// (BENCHMARKS.md, session 14).
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            0 => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            n => n,
        }
    }

    /// `idle-poll-us` as a duration.
    pub fn idle_poll(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.idle_poll_us)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            unixsocket: None,
            unixsocketperm: 0,
            protected_mode: true,
            requirepass: None,
            aclfile: String::new(),
            acllog_max_len: 128,
            acl_pubsub_default: "resetchannels".into(),
            users: Vec::new(),
            databases: 16,
            timeout: 0,
            tcp_keepalive: 300,
            tcp_backlog: 511,
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: None,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            proto_max_bulk_len: 512 * 1024 * 1024,
            hll_sparse_max_bytes: 3000,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            output_limit_normal: OutputLimit {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            },
            output_limit_replica: OutputLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            output_limit_pubsub: OutputLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
            notify_keyspace_events: 0,
            hz: 10,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            busy_reply_threshold: 5000,
            tracking_table_max_keys: 1_000_000,
            latency_monitor_threshold: 0,
            loglevel: "notice".into(),
            logfile: String::new(),
            dir: PathBuf::from("."),
            dbfilename: "dump.rdb".into(),
            save: Vec::new(),
            rdbcompression: true,
            rdbchecksum: true,
            stop_writes_on_bgsave_error: true,
            appendonly: false,
            appendfilename: "appendonly.aof".into(),
            appendfsync: "everysec".into(),
            appenddirname: "appendonlydir".into(),
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            aof_timestamp_enabled: false,
            no_appendfsync_on_rewrite: false,
            daemonize: false,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            active_expire_effort: 1,
            enable_debug_command: "no".into(),
            shards: 64,
            limits: larder_engine::Limits::default(),
            list_compress_depth: 0,
            memcache_port: None,
            memcache_udp_port: 0,
            memcache_max_item_size: 1024 * 1024,
            memcache_enable_shutdown: false,
            memcache_disable_flush_all: false,
            memcache_disable_watch: false,
            memcache_disable_cas: false,
            memcache_unixsocket: None,
            memcache_unixsocketperm: 0o700,
            memcache_protocol: "auto".into(),
            memcache_reqs_per_event: 20,
            memcache_threads: 0,
            worker_threads: 0,
            idle_poll_us: 30,
            config_file: None,
            compat: Default::default(),
        }
    }
}

//! Engine settings that may change at runtime (CONFIG SET), kept in atomics so
//! the hot path reads them without a lock.

use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    Ordering::Relaxed,
};

use crate::evict::Policy;

pub struct EngineConfig {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    active_expire: AtomicBool,
    /// CLIENT PAUSE's end (Unix ms, 0 = none): until then keys are neither
    /// expired nor evicted, as in Redis (an expired key reads as missing).
    paused_until: AtomicU64,
    /// This server is a replica: expired keys wait for the master's DEL
    /// (they read as missing, but for the master's own stream) and active
    /// expiry stops, as Redis's replicas do (`Txn::lookup`).
    replica: AtomicBool,
    /// `replica-ignore-maxmemory`: a replica neither evicts nor refuses
    /// (its master's DELs keep it a copy).
    replica_ignores_maxmemory: AtomicBool,
    /// Memory the server holds that eviction does not count (Redis's
    /// `mem_not_counted_for_evict`): freeing keys would not give it back.
    not_counted: AtomicUsize,
    /// Collection encoding thresholds, under Redis's directive names.
    list_max_listpack_size: AtomicI32,
    hash_max_listpack_entries: AtomicUsize,
    hash_max_listpack_value: AtomicUsize,
    set_max_intset_entries: AtomicUsize,
    zset_max_listpack_entries: AtomicUsize,
    zset_max_listpack_value: AtomicUsize,
    stream_node_max_bytes: AtomicUsize,
    stream_node_max_entries: AtomicI64,
    /// memcached CAS uniques are handed out (`memcache-disable-cas no`,
    /// memcached without `-C`); off, every item's CAS is 0.
    mc_cas: AtomicBool,
}

/// The collection encoding thresholds in force for one command (read once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `list-max-listpack-size`: > 0 entries per list node, < 0 a node byte
    /// size class (-1 = 4 KB ... -5 = 64 KB).
    pub list_max_listpack_size: i32,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `stream-node-max-bytes`: a stream node takes no entry that would
    /// bring its bytes to this (0 = only the 1 GB listpack cap).
    pub stream_node_max_bytes: usize,
    /// `stream-node-max-entries`: entries (live or deleted) per stream
    /// node, 0 = no limit; also sets the default LIMIT of a `~` trim.
    pub stream_node_max_entries: i64,
}

impl Default for Limits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        Limits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(Policy::NoEviction as u8),
            samples: AtomicU32::new(5),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            active_expire: AtomicBool::new(true),
            paused_until: AtomicU64::new(0),
            replica: AtomicBool::new(false),
            replica_ignores_maxmemory: AtomicBool::new(true),
            not_counted: AtomicUsize::new(0),
            list_max_listpack_size: AtomicI32::new(Limits::default().list_max_listpack_size),
            hash_max_listpack_entries: AtomicUsize::new(512),
            hash_max_listpack_value: AtomicUsize::new(64),
            set_max_intset_entries: AtomicUsize::new(512),
            zset_max_listpack_entries: AtomicUsize::new(128),
            zset_max_listpack_value: AtomicUsize::new(64),
            stream_node_max_bytes: AtomicUsize::new(Limits::default().stream_node_max_bytes),
            stream_node_max_entries: AtomicI64::new(Limits::default().stream_node_max_entries),
            mc_cas: AtomicBool::new(true),
        }
    }
}

impl EngineConfig {
    /// `maxmemory` in bytes; 0 = no limit.
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Relaxed)
    }
    pub fn set_maxmemory(&self, v: u64) {
        self.maxmemory.store(v, Relaxed)
    }
    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Relaxed))
    }
    pub fn set_policy(&self, p: Policy) {
        self.policy.store(p as u8, Relaxed)
    }
    /// `maxmemory-samples`.
    pub fn samples(&self) -> u32 {
        self.samples.load(Relaxed)
    }
    pub fn mc_cas(&self) -> bool {
        self.mc_cas.load(Relaxed)
    }
    pub fn set_mc_cas(&self, on: bool) {
        self.mc_cas.store(on, Relaxed)
    }
    pub fn set_samples(&self, v: u32) {
        self.samples.store(v.clamp(1, 64), Relaxed)
    }
    pub fn lfu_log_factor(&self) -> u32 {
        self.lfu_log_factor.load(Relaxed)
    }
    pub fn set_lfu_log_factor(&self, v: u32) {
        self.lfu_log_factor.store(v, Relaxed)
    }
    /// `lfu-decay-time`, in minutes.
    pub fn lfu_decay_time(&self) -> u32 {
        self.lfu_decay_time.load(Relaxed)
    }
    pub fn set_lfu_decay_time(&self, v: u32) {
        self.lfu_decay_time.store(v, Relaxed)
    }
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub fn active_expire(&self) -> bool {
        self.active_expire.load(Relaxed)
    }
    pub fn set_active_expire(&self, on: bool) {
        self.active_expire.store(on, Relaxed)
    }

    /// Whether a CLIENT PAUSE holds expiry and eviction at `now_ms`.
    pub fn paused(&self, now_ms: u64) -> bool {
        let until = self.paused_until.load(Relaxed);
        until != 0 && now_ms <= until
    }
    pub fn set_paused_until(&self, until_ms: u64) {
        self.paused_until.store(until_ms, Relaxed)
    }

    /// Whether this server replicates a master (see the field).
    pub fn replica(&self) -> bool {
        self.replica.load(Relaxed)
    }
    pub fn set_replica(&self, on: bool) {
        self.replica.store(on, Relaxed)
    }
    /// Whether `maxmemory` is ignored now (a replica under
    /// `replica-ignore-maxmemory yes`).
    pub fn ignores_maxmemory(&self) -> bool {
        self.replica() && self.replica_ignores_maxmemory.load(Relaxed)
    }
    pub fn set_replica_ignores_maxmemory(&self, on: bool) {
        self.replica_ignores_maxmemory.store(on, Relaxed)
    }

    /// Memory eviction leaves out of used memory (see the field).
    pub fn not_counted(&self) -> usize {
        self.not_counted.load(Relaxed)
    }
    pub fn add_not_counted(&self, bytes: isize) {
        if bytes >= 0 {
            self.not_counted.fetch_add(bytes as usize, Relaxed);
        } else {
            self.not_counted.fetch_sub(bytes.unsigned_abs(), Relaxed);
        }
    }

    /// The collection encoding thresholds, read once per command.
    pub fn limits(&self) -> Limits {
        Limits {
            list_max_listpack_size: self.list_max_listpack_size.load(Relaxed),
            hash_max_listpack_entries: self.hash_max_listpack_entries.load(Relaxed),
            hash_max_listpack_value: self.hash_max_listpack_value.load(Relaxed),
            set_max_intset_entries: self.set_max_intset_entries.load(Relaxed),
            zset_max_listpack_entries: self.zset_max_listpack_entries.load(Relaxed),
            zset_max_listpack_value: self.zset_max_listpack_value.load(Relaxed),
            stream_node_max_bytes: self.stream_node_max_bytes.load(Relaxed),
            stream_node_max_entries: self.stream_node_max_entries.load(Relaxed),
        }
    }
    pub fn set_limits(&self, l: &Limits) {
        self.list_max_listpack_size
            .store(l.list_max_listpack_size, Relaxed);
        self.hash_max_listpack_entries
            .store(l.hash_max_listpack_entries, Relaxed);
        self.hash_max_listpack_value
            .store(l.hash_max_listpack_value, Relaxed);
        self.set_max_intset_entries
            .store(l.set_max_intset_entries, Relaxed);
        self.zset_max_listpack_entries
            .store(l.zset_max_listpack_entries, Relaxed);
        self.zset_max_listpack_value
            .store(l.zset_max_listpack_value, Relaxed);
        self.stream_node_max_bytes
            .store(l.stream_node_max_bytes, Relaxed);
        self.stream_node_max_entries
            .store(l.stream_node_max_entries, Relaxed);
    }
}

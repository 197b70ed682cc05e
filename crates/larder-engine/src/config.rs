//! Engine settings that may change at runtime (CONFIG SET), kept in atomics so
//! the hot path reads them without a lock.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

use crate::evict::Policy;

pub struct EngineConfig {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    active_expire: AtomicBool,
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
}

//! The server's eviction, simulated: no order between keys, a 4-byte access
//! word per key, and sampled eviction through a pool of 16 candidates.
//!
//! This mirrors `evict.rs`: each eviction samples `samples` random residents
//! (with replacement), offers them to the pool (sorted by score, the best 16
//! kept, duplicates ignored, scores frozen at sampling time as in Redis), and
//! evicts the best candidate; up to four rounds if the pool yields nothing.
//! The scores are the server's, from `access.rs`: LRU = idle time; LFU =
//! 255 − the decayed logarithmic counter (`lfu-log-factor` 10, new keys at 5).
//! Time is virtual: one tick per request, so idle times are exact (the server
//! counts in seconds, which only matters when many keys share a second), and
//! the LFU counter decays one step per `DECAY_REQUESTS` (Redis's one minute
//! at 1,000 requests per second). `Adaptive` is the server-side form of
//! [`super::adaptive`]: see there; for it alone a round samples at least
//! [`super::adaptive::MIN_SAMPLES`] keys, also offers the keys that just
//! left the window untouched (the duel's candidates), and a pooled candidate
//! is re-scored before eviction, as `evict.rs` does. Cost per key: the 4-byte access word
//! (plus what the adaptive score shares: a sketch and the window tuner).

use std::collections::HashMap;

use super::adaptive::Scorer;
use super::{CachePolicy, Options, Rng};
use crate::access;
use crate::evict::POOL_SIZE;

/// One step of LFU decay per this many requests.
pub const DECAY_REQUESTS: u64 = 60_000;
const LFU_LOG_FACTOR: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    Lru,
    Lfu,
    Adaptive,
}

struct Resident {
    key: u64,
    size: u32,
    access: u32,
}

pub struct Sampled {
    keys: Vec<Resident>,
    pos: HashMap<u64, u32, foldhash::fast::FixedState>,
    /// (score, key), ascending by score.
    pool: Vec<(u64, u64)>,
    kind: Score,
    scorer: Option<Scorer>,
    samples: usize,
    rng: Rng,
    now: u64,
    used: u64,
    capacity: u64,
}

impl Sampled {
    pub fn new(capacity: u64, kind: Score, opts: &Options) -> Sampled {
        Sampled {
            keys: Vec::new(),
            pos: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(11)),
            pool: Vec::with_capacity(POOL_SIZE),
            kind,
            scorer: (kind == Score::Adaptive).then(|| Scorer::new(capacity)),
            samples: opts.samples.max(1),
            rng: Rng::new(opts.seed),
            now: 0,
            used: 0,
            capacity,
        }
    }

    fn clock(&self) -> u32 {
        (self.now as u32) & access::CLOCK_MAX
    }

    /// The server's LFU clock: "minutes" of `DECAY_REQUESTS` requests, so
    /// that `lfu_decayed` with a decay time of 1 does one step per period.
    fn decay_clock(&self) -> u32 {
        ((self.now / DECAY_REQUESTS * 60) as u32) & access::CLOCK_MAX
    }

    fn touch(&mut self, slot: usize) {
        let old = self.keys[slot].access;
        self.keys[slot].access = match self.kind {
            Score::Lru => access::pack(self.clock(), access::counter_of(old)),
            Score::Lfu => {
                let now = self.decay_clock();
                let c = access::lfu_decayed(old, now, 1);
                access::pack(
                    now,
                    access::lfu_log_incr(c, LFU_LOG_FACTOR, self.rng.unit()),
                )
            }
            Score::Adaptive => match &self.scorer {
                Some(s) => s.touch(old),
                None => old,
            },
        };
    }

    fn score(&self, slot: usize) -> u64 {
        let r = &self.keys[slot];
        match self.kind {
            Score::Lru => u64::from(access::elapsed(self.clock(), access::clock_of(r.access))),
            Score::Lfu => 255 - u64::from(access::lfu_decayed(r.access, self.decay_clock(), 1)),
            Score::Adaptive => match &self.scorer {
                Some(s) => s.score(r.key, r.access, self.keys.len()),
                None => 0,
            },
        }
    }

    /// Redis's evictionPoolPopulate.
    fn offer(&mut self, score: u64, key: u64) {
        if self.pool.len() == POOL_SIZE && score <= self.pool[0].0 {
            return;
        }
        if self.pool.iter().any(|c| c.1 == key) {
            return;
        }
        if self.pool.len() == POOL_SIZE {
            self.pool.remove(0);
        }
        let at = self.pool.partition_point(|c| c.0 < score);
        self.pool.insert(at, (score, key));
    }

    fn evict_one(&mut self) -> bool {
        for _round in 0..4 {
            let samples = match self.kind {
                Score::Adaptive => super::adaptive::samples(self.samples),
                _ => self.samples,
            };
            for _ in 0..samples.min(self.keys.len()) {
                let slot = self.rng.below(self.keys.len());
                self.offer(self.score(slot), self.keys[slot].key);
            }
            while let Some((key, stamp)) = self
                .scorer
                .as_ref()
                .and_then(|s| s.next_leaving(self.keys.len()))
            {
                if let Some(&slot) = self.pos.get(&key) {
                    if self.keys[slot as usize].access == stamp {
                        self.offer(self.score(slot as usize), key);
                    }
                }
            }
            while let Some((old, key)) = self.pool.pop() {
                if let Some(&slot) = self.pos.get(&key) {
                    // The adaptive score moves with the sketch and the window:
                    // a candidate that became less evictable since it was
                    // sampled goes back with its fresh score (evict.rs too).
                    if self.kind == Score::Adaptive {
                        let fresh = self.score(slot as usize);
                        if super::adaptive::less_evictable(fresh, old) {
                            self.offer(fresh, key);
                            continue;
                        }
                    }
                    self.remove(slot as usize);
                    return true;
                }
            }
        }
        false
    }

    fn remove(&mut self, slot: usize) {
        let r = self.keys.swap_remove(slot);
        self.pos.remove(&r.key);
        self.used -= u64::from(r.size);
        if let Some(moved) = self.keys.get(slot) {
            self.pos.insert(moved.key, slot as u32);
        }
    }
}

impl CachePolicy for Sampled {
    fn access(&mut self, key: u64, size: u32) -> bool {
        self.now += 1;
        if let Some(s) = &self.scorer {
            s.record(key, size);
        }
        if let Some(&slot) = self.pos.get(&key) {
            self.touch(slot as usize);
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.used + u64::from(size) > self.capacity && !self.keys.is_empty() {
            if !self.evict_one() {
                break;
            }
        }
        let access = match self.kind {
            Score::Lru => access::pack(self.clock(), access::LFU_INIT),
            Score::Lfu => access::pack(self.decay_clock(), access::LFU_INIT),
            Score::Adaptive => match &self.scorer {
                Some(s) => s.admit(Some(key)),
                None => 0,
            },
        };
        self.pos.insert(key, self.keys.len() as u32);
        self.keys.push(Resident { key, size, access });
        self.used += u64::from(size);
        false
    }

    fn name(&self) -> String {
        let base = match self.kind {
            Score::Lru => "allkeys-lru",
            Score::Lfu => "allkeys-lfu",
            Score::Adaptive => "allkeys-adaptive",
        };
        if self.samples == 5 {
            base.to_string()
        } else {
            format!("{base}/{}", self.samples)
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn used(&self) -> u64 {
        self.used
    }
}

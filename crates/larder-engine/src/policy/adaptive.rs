//! `adaptive`: W-TinyLFU whose window size is chosen by miniature
//! simulations, in an exact form and in the sampled form the server runs.
//!
//! Why: TinyLFU admission (a newcomer must be more frequent than the victim
//! to stay) is what beats LRU on loops, scans and skewed popularity, but the
//! right size of its recency window depends on the workload: 1% is best when
//! frequency rules (database and program traces, loops), half the cache or
//! more when recency rules (file-system traces such as `sprite`, where a
//! static 1% window loses three points to plain LRU). Caffeine climbs to a
//! size by trial and error; on short or noisy traces that wanders. Here a
//! [`Tuner`] runs six miniature W-TinyLFU caches side by side (windows of 1,
//! 5, 20, 40, 60 and 80%), fed a hash-sample of the keys (all keys for caches
//! up to 2,048 entries, else one key in `capacity / 2048`, scaled down as in
//! SHARDS-style mini-simulation), keeps an exponentially decayed hit count
//! for each, and moves the real cache to the best window only when its lead
//! over the current one is statistically clear (more than two standard
//! deviations of a Poisson count), so noise does not make it thrash.
//!
//! Exact form ([`Adaptive`]): a [`WTinyLfu`] (window LRU, segmented main of
//! 85% protected, 4-bit count-min sketch of 16 counters per entry) resized by
//! the tuner. Cost: the W-TinyLFU's node and map slot per key, its sketch (8
//! bytes per entry of capacity), and the minis (six caches of at most 2,048
//! entries sharing one sketch: about 6 × 2,048 × 60 bytes ≈ 0.75 MB at most,
//! independent of the cache size; for small caches, six times the cache).
//!
//! Sampled form ([`Scorer`], used by `sampled::Score::Adaptive`): no lists.
//! Each key keeps only the server's 4-byte access word, whose 24-bit clock
//! here counts *admissions* (the cache-wide number of keys inserted so far,
//! read at the key's last access). A key whose clock is within the window's
//! size (window fraction × resident keys) of the current count counts as in
//! the window and is evicted only if every sampled key is. Outside it, a key's
//! eviction score is its sketch frequency (lower is evicted first) and,
//! between equals, the more recently used goes first: that is W-TinyLFU's
//! duel, where a candidate leaving the window loses ties to the incumbent
//! victim (it keeps loops and scans from flushing the frequent keys). The
//! window the scorer uses is the tuner's capped at `SAMPLED_WINDOW_MAX`;
//! rounds sample at least [`MIN_SAMPLES`] keys. The duel's candidate is not
//! left to chance: a ring remembers the hash of each of the last
//! `SAMPLED_WINDOW_MAX × capacity` admitted keys, indexed by admission
//! number, and each eviction round also offers to the pool the keys that have
//! just left the window untouched since their admission
//! ([`Scorer::next_leaving`]), as W-TinyLFU offers its window's LRU key
//! (random samples found such a newcomer only one time in ten at 100 keys,
//! which cost cpp@100 most of its gap to the exact form). The shared side
//! structures: a sketch of 4 counters per entry (2 bytes per entry, at least
//! 8 KiB), the ring (8 bytes per slot for a fifth of the capacity: 1.6 bytes
//! per entry) and the same tuner. Per-key cost: 4 + 2 + 1.6 = 7.6 bytes, of
//! which the 4 are the access word every entry already has; plus a fixed
//! ≤ 0.75 MB for the tuner.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;

use super::sketch::{mix, Sketch};
use super::wtinylfu::{Segments, WTinyLfu};
use super::CachePolicy;
use crate::access;

/// Window sizes the tuner tries, as fractions of the capacity.
pub const WINDOWS: [f64; 6] = [0.01, 0.05, 0.2, 0.4, 0.6, 0.8];
/// Protected share of the main area.
const PROTECTED: f64 = 0.85;
/// Largest miniature cache, in capacity units.
const MINI_MAX: u64 = 2048;
/// Decayed hit counts remember about this many mini-capacities of requests.
const MEMORY: f64 = 8.0;
/// The sampled form's sketch has 4 counters per entry but never fewer than
/// this (8 KiB): small caches would otherwise lose their frequency estimates
/// to collisions.
const SKETCH_MIN_COUNTERS: usize = 16384;
/// The sampled form's sketch halves its counters every this many times the
/// capacity in increments (the exact form's W-TinyLFU uses 10). With no
/// protected segment, the sketch is the sampled form's only long memory of
/// which keys are frequent: at 10 a hot key of `2_pools` (one request in 200)
/// fell to the estimate of a one-hit newcomer after a long gap and was
/// evicted, while 15 and beyond cost the recency trace `sprite@512` its lead
/// over LRU. A measured choice: of the periods tried on the reference
/// traces (10–15 and 20), 13 is the one that clears max(LRU, ARC) on every
/// row for each of seven seeds.
const SAMPLED_SKETCH_PERIOD: u64 = 13;
/// Standard deviations by which a window must lead to be adopted.
const CONFIDENCE: f64 = 2.0;
/// The sampled form's window never exceeds this share of the resident keys,
/// whatever the tuner picks: its main area is only as exact as its samples,
/// and a wide window left it at the edge of flushing a hot set (the server's
/// resident count is an estimate too). Measured on the reference traces, a
/// cap of 0.2 changes the mean by +0.03 and turns sprite@512 from 0.24 below
/// LRU to 0.37 above it.
const SAMPLED_WINDOW_MAX: f64 = 0.2;
/// The sampled form samples at least this many keys per eviction round: its
/// frequency-then-recency score needs a wider look than LRU's idle time to
/// find the rarest key (5 samples cost it 2.5 points on cpp@100, 10 cost 0.9).
pub const MIN_SAMPLES: usize = 10;

/// Keys the sampled form samples per round for `maxmemory-samples` = `configured`.
pub fn samples(configured: usize) -> usize {
    configured.max(MIN_SAMPLES)
}

/// Slots of the sampled form's admission ring: the widest window it uses
/// (plus one so that the newest admission never overwrites the oldest one
/// still in the window).
fn ring_len(capacity: u64) -> usize {
    (SAMPLED_WINDOW_MAX * capacity as f64) as usize + 2
}

/// The access word of admission `n`.
fn stamp(n: u64) -> u32 {
    access::pack((n as u32) & access::CLOCK_MAX, 0)
}

/// The tuner of a cache of `capacity` sees one key in this many.
fn sample_rate(capacity: u64) -> u64 {
    capacity.div_ceil(MINI_MAX).max(1)
}

/// Whether the tuner's hash-sample at one key in `rate` includes `key`.
fn sampled_key(rate: u64, key: u64) -> bool {
    rate == 1 || mix(key ^ 0x7e57).is_multiple_of(rate)
}

/// Picks the window size by running miniature caches on a sample of keys.
pub struct Tuner {
    /// One sketch serves every mini: they all see the same requests.
    sketch: Sketch,
    minis: Vec<Segments>,
    scores: Vec<f64>,
    rate: u64,
    decay: f64,
    epoch: u64,
    seen: u64,
    current: usize,
}

impl Tuner {
    pub fn new(capacity: u64) -> Tuner {
        let rate = sample_rate(capacity);
        let mini = (capacity / rate).max(1);
        Tuner {
            sketch: Sketch::new(mini as usize, 16),
            minis: WINDOWS
                .iter()
                .map(|&w| Segments::new(mini, w, PROTECTED))
                .collect(),
            scores: vec![0.0; WINDOWS.len()],
            rate,
            decay: 1.0 - 1.0 / (MEMORY * mini as f64),
            epoch: mini,
            seen: 0,
            current: 0,
        }
    }

    /// The window in force, as a fraction of the capacity.
    pub fn window(&self) -> f64 {
        WINDOWS[self.current]
    }

    /// Feeds one request; returns the new window when it changes.
    pub fn record(&mut self, key: u64, size: u32) -> Option<f64> {
        if !sampled_key(self.rate, key) {
            return None;
        }
        self.sketch.increment(key);
        for (m, s) in self.minis.iter_mut().zip(self.scores.iter_mut()) {
            let hit = m.access(key, size, &self.sketch);
            *s = *s * self.decay + f64::from(u8::from(hit));
        }
        self.seen += 1;
        if self.seen < self.epoch {
            return None;
        }
        self.seen = 0;
        let best = (0..self.scores.len())
            .max_by(|&a, &b| self.scores[a].total_cmp(&self.scores[b]))
            .unwrap_or(0);
        let (b, c) = (self.scores[best], self.scores[self.current]);
        if best != self.current && b - c > CONFIDENCE * (c + 1.0).sqrt() {
            self.current = best;
            return Some(WINDOWS[best]);
        }
        None
    }
}

/// The exact form.
pub struct Adaptive {
    main: WTinyLfu,
    tuner: Tuner,
}

impl Adaptive {
    pub fn new(capacity: u64) -> Adaptive {
        Adaptive {
            main: WTinyLfu::with_window(capacity, WINDOWS[0], PROTECTED, 16),
            tuner: Tuner::new(capacity),
        }
    }
}

impl CachePolicy for Adaptive {
    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(w) = self.tuner.record(key, size) {
            self.main.set_window(w);
        }
        self.main.access(key, size)
    }

    fn name(&self) -> String {
        "adaptive".to_string()
    }

    fn len(&self) -> usize {
        self.main.len()
    }

    fn used(&self) -> u64 {
        self.main.used()
    }
}

/// Whether a candidate scored `old` when pooled and `fresh` now has become
/// less evictable: it entered the window or its frequency rose. Mere aging
/// (which moves the recency part of the score) does not count.
pub fn less_evictable(fresh: u64, old: u64) -> bool {
    fresh >> 24 < old >> 24
}

/// The sampled form's shared state: what the server keeps beside its
/// keyspace to score eviction candidates (`evict.rs`), and what the
/// simulator's `allkeys-adaptive` uses. Shared between threads through
/// `&self`: the sketch is relaxed atomics, the admission clock an atomic
/// counter, the tuner behind a mutex taken only for the requests it samples
/// (all of them for caches up to 2,048 keys, one in `capacity / 2048` above),
/// and the window it chose is mirrored in an atomic for the scorer.
pub struct Scorer {
    capacity: u64,
    sketch: Sketch,
    tuner: Mutex<Tuner>,
    /// Index into [`WINDOWS`] of the tuner's current window.
    window: AtomicUsize,
    /// Keys admitted so far (the clock of the access words).
    admissions: AtomicU64,
    /// Hash of the key of admission `n` at `n % len` (0 = none); the last
    /// `SAMPLED_WINDOW_MAX × capacity` admissions are kept.
    ring: Box<[AtomicU64]>,
    /// The next admission [`Scorer::next_leaving`] looks at. Behind a mutex
    /// because an admission is handed out once; taken by the evicting
    /// thread only.
    leaving: Mutex<u64>,
}

impl Scorer {
    pub fn new(capacity: u64) -> Scorer {
        Scorer {
            capacity,
            sketch: Sketch::with_counters(
                (capacity.min(1 << 26) as usize * 4).max(SKETCH_MIN_COUNTERS),
                SAMPLED_SKETCH_PERIOD * capacity.max(1),
            ),
            tuner: Mutex::new(Tuner::new(capacity)),
            window: AtomicUsize::new(0),
            admissions: AtomicU64::new(0),
            ring: (0..ring_len(capacity)).map(|_| AtomicU64::new(0)).collect(),
            leaving: Mutex::new(0),
        }
    }

    /// A fresh scorer for a new capacity that continues this one's clock, so
    /// the access words already stored keep their meaning (the server
    /// regrows its scorer as the keyspace grows).
    pub fn resized(&self, capacity: u64) -> Scorer {
        let s = Scorer::new(capacity);
        let n = self.admissions.load(Relaxed);
        s.admissions.store(n, Relaxed);
        *s.leaving.lock() = n;
        s
    }

    /// The capacity, in keys, the scorer was sized for.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes of shared side structures beyond the per-key access word
    /// (the sketch and the admission ring; the tuner's fixed cost is
    /// reported by the docs).
    pub fn sketch_bytes(&self) -> usize {
        self.sketch.bytes() + self.ring.len() * 8
    }

    fn clock(&self) -> u32 {
        (self.admissions.load(Relaxed) as u32) & access::CLOCK_MAX
    }

    /// The window in force, as a fraction of the resident keys.
    pub fn window(&self) -> f64 {
        WINDOWS[self.window.load(Relaxed).min(WINDOWS.len() - 1)]
    }

    /// Counts a request (hit or miss) in the sketch and the tuner.
    pub fn record(&self, key: u64, size: u32) {
        self.sketch.increment(key);
        if !sampled_key(sample_rate(self.capacity), key) {
            return;
        }
        let mut tuner = self.tuner.lock();
        if tuner.record(key, size).is_some() {
            self.window.store(tuner.current, Relaxed);
        }
    }

    /// The access word of a key being admitted (`key`: its hash, when known,
    /// so that it can be offered for eviction as it leaves the window).
    pub fn admit(&self, key: Option<u64>) -> u32 {
        let n = self.admissions.fetch_add(1, Relaxed) + 1;
        self.ring[(n % self.ring.len() as u64) as usize].store(key.unwrap_or(0), Relaxed);
        stamp(n)
    }

    /// The next key admitted that has left the window since the last call,
    /// as (hash, the access word it was admitted with): the candidate of
    /// W-TinyLFU's duel. It is still a candidate if it is resident with that
    /// access word (not hit since its admission); the caller checks, and
    /// offers it to the pool. Admissions older than the ring are skipped.
    pub fn next_leaving(&self, resident: usize) -> Option<(u64, u32)> {
        let now = self.admissions.load(Relaxed);
        // The newest admission stays out even when the window rounds to 0.
        let window = self.window_keys(resident).max(1);
        let mut next = self.leaving.lock();
        let len = self.ring.len() as u64;
        loop {
            *next = (*next).max(now.saturating_sub(len - 1));
            if *next + window > now {
                return None;
            }
            let n = *next;
            *next += 1;
            let key = self.ring[(n % len) as usize].load(Relaxed);
            if key != 0 {
                return Some((key, stamp(n)));
            }
        }
    }

    /// The window, in keys, for `resident` keys.
    fn window_keys(&self, resident: usize) -> u64 {
        (self.window().min(SAMPLED_WINDOW_MAX) * resident as f64) as u64
    }

    /// The access word of a key just hit.
    pub fn touch(&self, old: u32) -> u32 {
        access::pack(self.clock(), access::counter_of(old))
    }

    /// Eviction score (higher = evict first) of a key with `access`, in a
    /// cache of `resident` keys.
    pub fn score(&self, key: u64, access_word: u32, resident: usize) -> u64 {
        let age = u64::from(access::elapsed(self.clock(), access::clock_of(access_word)));
        if age < self.window_keys(resident) {
            // In the window: evictable only if the whole sample is, oldest first.
            return age;
        }
        let rarity = u64::from(15 - self.sketch.estimate(key));
        let recency = u64::from(access::CLOCK_MAX) - age.min(u64::from(access::CLOCK_MAX));
        (1 << 40) | (rarity << 24) | recency
    }
}

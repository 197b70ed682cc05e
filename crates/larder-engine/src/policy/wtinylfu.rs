//! W-TinyLFU (Einziger, Friedman & Manes, 2017), the static form: a window
//! LRU of 1% of the capacity in front of a segmented LRU main area (80%
//! protected, 20% probation), with TinyLFU admission between them.
//!
//! Every request is counted in a 4-bit count-min sketch (16 counters per
//! entry of capacity, halved every `10 × capacity` requests). New keys enter
//! the window; the key pushed out of the window's tail becomes a candidate
//! for the main area and is admitted only if the sketch says it is more
//! frequent than the main area's victim (the probation tail), which is then
//! evicted; otherwise the candidate is. A probation hit promotes to the
//! protected segment, whose overflow is demoted back to probation. Cost: one
//! slab node and map slot per key, plus the sketch's 8 bytes per entry of
//! capacity; O(1) per request.

use super::list::{List, Slab};
use super::sketch::Sketch;
use super::CachePolicy;

const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;

/// The policy: its segments and its own sketch.
pub struct WTinyLfu {
    segments: Segments,
    sketch: Sketch,
}

impl WTinyLfu {
    pub fn new(capacity: u64) -> WTinyLfu {
        WTinyLfu::with_window(capacity, 0.01, 0.8, 16)
    }

    /// A window of `window` × capacity, a protected segment of `protected` ×
    /// the main area, and a sketch of `counters_per_key`.
    pub fn with_window(
        capacity: u64,
        window: f64,
        protected: f64,
        counters_per_key: usize,
    ) -> WTinyLfu {
        WTinyLfu {
            segments: Segments::new(capacity, window, protected),
            sketch: Sketch::new(capacity.min(1 << 26) as usize, counters_per_key),
        }
    }

    /// See [`Segments::set_window`].
    pub fn set_window(&mut self, window: f64) {
        self.segments.set_window(window);
    }
}

impl CachePolicy for WTinyLfu {
    fn access(&mut self, key: u64, size: u32) -> bool {
        self.sketch.increment(key);
        self.segments.access(key, size, &self.sketch)
    }

    fn name(&self) -> String {
        "wtinylfu".to_string()
    }

    fn len(&self) -> usize {
        self.segments.len()
    }

    fn used(&self) -> u64 {
        self.segments.used_bytes()
    }
}

/// Window, probation and protected lists, deciding admissions with a sketch
/// they do not own (so several caches fed the same stream can share one, as
/// the adaptive policy's miniature caches do).
pub struct Segments {
    slab: Slab,
    lists: [List; 3],
    window_cap: u64,
    protected_cap: u64,
    protected_share: f64,
    capacity: u64,
}

impl Segments {
    /// Segments for `capacity`, with a window of `window` × capacity and a
    /// protected segment of `protected` × the main area.
    pub fn new(capacity: u64, window: f64, protected: f64) -> Segments {
        let mut w = Segments {
            slab: Slab::with_capacity(capacity.min(1 << 24) as usize),
            lists: [List::default(); 3],
            window_cap: 0,
            protected_cap: 0,
            protected_share: protected,
            capacity,
        };
        w.set_window(window);
        w
    }

    /// Resizes the window to `window` × capacity (the main area takes the
    /// rest; entries move lazily, on the next misses).
    pub fn set_window(&mut self, window: f64) {
        let main = (self.capacity as f64 * (1.0 - window.clamp(0.0, 1.0))) as u64;
        self.window_cap = self.capacity - main;
        self.protected_cap = (main as f64 * self.protected_share) as u64;
        self.demote_overflow();
    }

    fn demote_overflow(&mut self) {
        while self.lists[PROTECTED as usize].bytes > self.protected_cap {
            match self.lists[PROTECTED as usize].back() {
                Some(d) => self.move_to(d, PROBATION),
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lists.iter().map(|l| l.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn used_bytes(&self) -> u64 {
        self.lists.iter().map(|l| l.bytes).sum()
    }

    fn move_to(&mut self, i: u32, to: u8) {
        let from = self.slab.node(i).tag;
        self.lists[from as usize].unlink(&mut self.slab, i);
        self.slab.node_mut(i).tag = to;
        self.lists[to as usize].push_front(&mut self.slab, i);
    }

    fn remove(&mut self, i: u32) {
        let from = self.slab.node(i).tag;
        self.lists[from as usize].unlink(&mut self.slab, i);
        self.slab.release(i);
    }

    /// Moves window overflow to probation, each time letting the candidate
    /// and the probation victim duel while the cache is over capacity.
    fn evict(&mut self, sketch: &Sketch) {
        while self.lists[WINDOW as usize].bytes > self.window_cap {
            let Some(cand) = self.lists[WINDOW as usize].back() else {
                break;
            };
            self.move_to(cand, PROBATION);
            while self.used_bytes() > self.capacity {
                let victim = match self.lists[PROBATION as usize].back() {
                    Some(v) if v != cand => v,
                    _ => {
                        self.remove(cand);
                        break;
                    }
                };
                let (ck, vk) = (self.slab.node(cand).key, self.slab.node(victim).key);
                if sketch.estimate(ck) > sketch.estimate(vk) {
                    self.remove(victim);
                } else {
                    self.remove(cand);
                    break;
                }
            }
        }
        // An object larger than the window may leave the whole cache over:
        // the main area gives way, probation first.
        while self.used_bytes() > self.capacity {
            let Some(v) = [PROBATION, PROTECTED, WINDOW]
                .iter()
                .find_map(|&l| self.lists[l as usize].back())
            else {
                break;
            };
            self.remove(v);
        }
    }

    /// One request (already counted in `sketch` by the caller).
    pub fn access(&mut self, key: u64, size: u32, sketch: &Sketch) -> bool {
        if let Some(i) = self.slab.find(key) {
            match self.slab.node(i).tag {
                PROBATION => {
                    self.move_to(i, PROTECTED);
                    self.demote_overflow();
                }
                tag => self.lists[tag as usize].move_to_front(&mut self.slab, i),
            }
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        let i = self.slab.alloc(key, size, WINDOW);
        self.lists[WINDOW as usize].push_front(&mut self.slab, i);
        self.evict(sketch);
        false
    }
}

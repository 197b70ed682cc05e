//! A global allocator wrapper that counts live heap bytes: `used_memory`.
//!
//! Like Redis's zmalloc, every allocation adds its size and every free
//! subtracts it, so `maxmemory` is checked against what the process really
//! holds (keys, values, tables, client buffers), not against an estimate.
//! To keep the hot path free of a shared read-modify-write, each thread owns
//! a cache-line-sized slot in a fixed table, accumulates its drift there
//! (a plain load and store: no other thread writes it) and publishes to the
//! global counter when the drift passes 64 KB. Two readings:
//!
//! - [`allocated`]: the global count plus the calling thread's slot. Cost: two
//!   loads. Off by at most 64 KB per other thread ([`slack`]): a task that
//!   tokio moves to another worker can see the count jump by that much.
//! - [`allocated_exact`]: the global count plus every slot. Cost: one load per
//!   thread that ever allocated. The `maxmemory` check uses it near the
//!   limit, so whether a write evicts or is refused never depends on which
//!   thread asked; INFO and the other reports always do.
//!
//! Threads past the table's size (a long run that churns through blocking
//! threads) count straight into the global counter. A thread that exits
//! leaves its slot's drift in place, still counted by the exact reading.
//!
//! Sizes are counted as the allocator's size class, not the size asked for
//! (jemalloc serves 1,030 bytes from its 1,280-byte class): counting requested
//! bytes would let resident memory overshoot `maxmemory` by up to 25%.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

use larder_engine::sizeclass::size_class;

const FLUSH: isize = 64 * 1024;
const SLOTS: usize = 128;
/// A thread that has not claimed a slot yet.
const UNCLAIMED: usize = usize::MAX;
/// A thread that found the table full: it counts into `GLOBAL` directly.
const NO_SLOT: usize = usize::MAX - 1;

static GLOBAL: AtomicIsize = AtomicIsize::new(0);

/// One thread's unpublished drift, alone on its cache line.
#[repr(align(64))]
struct Slot(AtomicIsize);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot(AtomicIsize::new(0));
static SLOT: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Slots handed out so far (may exceed `SLOTS`; only the first `SLOTS` exist).
static CLAIMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
}

/// The calling thread's slot index, claiming one on first use; `NO_SLOT` if
/// the table is full or the thread-local is already gone (thread exit).
#[inline]
fn my_slot() -> usize {
    INDEX
        .try_with(|i| {
            let mut v = i.get();
            if v == UNCLAIMED {
                let n = CLAIMED.fetch_add(1, Relaxed);
                v = if n < SLOTS { n } else { NO_SLOT };
                i.set(v);
            }
            v
        })
        .unwrap_or(NO_SLOT)
}

#[inline]
fn account(delta: isize) {
    let i = my_slot();
    let Some(slot) = SLOT.get(i) else {
        GLOBAL.fetch_add(delta, Relaxed);
        return;
    };
    let v = slot.0.load(Relaxed) + delta;
    if v.abs() >= FLUSH {
        slot.0.store(0, Relaxed);
        GLOBAL.fetch_add(v, Relaxed);
    } else {
        slot.0.store(v, Relaxed);
    }
}

/// Live heap bytes counted so far, within [`slack`] of the truth (0 if no
/// `CountingAlloc` is installed).
pub fn allocated() -> usize {
    let local = SLOT.get(my_slot()).map_or(0, |s| s.0.load(Relaxed));
    (GLOBAL.load(Relaxed) + local).max(0) as usize
}

/// Live heap bytes, with every thread's unpublished drift.
pub fn allocated_exact() -> usize {
    let live = CLAIMED.load(Relaxed).min(SLOTS);
    let drift: isize = SLOT[..live].iter().map(|s| s.0.load(Relaxed)).sum();
    (GLOBAL.load(Relaxed) + drift).max(0) as usize
}

/// How far [`allocated`] can be from [`allocated_exact`].
pub fn slack() -> usize {
    CLAIMED.load(Relaxed).min(SLOTS) * FLUSH as usize
}

/// The gauge the engine checks `maxmemory` with.
pub const GAUGE: larder_engine::keyspace::MemoryGauge = larder_engine::keyspace::MemoryGauge {
    read: allocated,
    exact: allocated_exact,
    slack,
};

/// The allocator's own view of the heap (jemalloc's `stats.allocated`,
/// `stats.active`, `stats.resident`), for INFO's `allocator_*` fields.
#[derive(Clone, Copy, Debug)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
}

static ALLOCATOR_STATS: std::sync::OnceLock<fn() -> Option<AllocatorStats>> =
    std::sync::OnceLock::new();

/// Set once by the binary that chose the allocator (the library does not
/// link one).
pub fn set_allocator_stats(read: fn() -> Option<AllocatorStats>) {
    let _ = ALLOCATOR_STATS.set(read);
}

/// The allocator's statistics, when the binary provided a way to read them.
pub fn allocator_stats() -> Option<AllocatorStats> {
    ALLOCATOR_STATS.get().and_then(|read| read())
}

/// Wraps another allocator and counts through it.
pub struct CountingAlloc<A>(pub A);

// SAFETY: delegates every call to the inner allocator unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            account(size_class(layout.size()) as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            account(size_class(layout.size()) as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        account(-(size_class(layout.size()) as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            account(size_class(new_size) as isize - size_class(layout.size()) as isize);
        }
        p
    }
}

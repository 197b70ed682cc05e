//! A global allocator wrapper that counts live heap bytes: `used_memory`.
//!
//! Like Redis's zmalloc, every allocation adds its size and every free
//! subtracts it, so `maxmemory` is checked against what the process really
//! holds (keys, values, tables, client buffers), not against an estimate.
//! To keep the hot path free of a shared atomic, each thread accumulates in a
//! thread-local and publishes to the global counter when its local drift
//! passes 64 KB. A reader sees the global count plus its own thread's drift,
//! so it is exact for the calling thread and off by at most 64 KB per other
//! thread. Cost: two thread-local adds per allocation.
//!
//! Sizes are counted as the allocator's size class, not the size asked for
//! (jemalloc serves 1,030 bytes from its 1,280-byte class): counting requested
//! bytes would let resident memory overshoot `maxmemory` by up to 25%.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

const FLUSH: isize = 64 * 1024;

static GLOBAL: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static LOCAL: Cell<isize> = const { Cell::new(0) };
}

#[inline]
fn account(delta: isize) {
    // try_with: the thread-local may already be gone while a thread exits.
    let flushed = LOCAL.try_with(|l| {
        let v = l.get() + delta;
        if v.abs() >= FLUSH {
            GLOBAL.fetch_add(v, Relaxed);
            l.set(0);
        } else {
            l.set(v);
        }
    });
    if flushed.is_err() {
        GLOBAL.fetch_add(delta, Relaxed);
    }
}

/// jemalloc's size class for `n` bytes: 8, multiples of 16 up to 128, then
/// four classes per doubling (160, 192, 224, 256, 320, ...).
pub fn size_class(n: usize) -> usize {
    if n <= 8 {
        8
    } else if n <= 128 {
        (n + 15) & !15
    } else {
        let lg = usize::BITS - (n - 1).leading_zeros();
        let step = 1usize << (lg - 3);
        (n + step - 1) & !(step - 1)
    }
}

/// Live heap bytes counted so far (0 if no `CountingAlloc` is installed).
pub fn allocated() -> usize {
    let local = LOCAL.try_with(|l| l.get()).unwrap_or(0);
    (GLOBAL.load(Relaxed) + local).max(0) as usize
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

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn jemalloc_size_classes() {
        let cases = [
            (1, 8),
            (8, 8),
            (9, 16),
            (47, 48),
            (128, 128),
            (129, 160),
            (1030, 1280),
            (4097, 5120),
            (16384, 16384),
            (16385, 20480),
        ];
        for (n, class) in cases {
            assert_eq!(size_class(n), class, "size {n}");
        }
    }
}

//! A byte buffer with spare room at both ends, behind one thin pointer: the
//! storage of list nodes.
//!
//! ```text
//!   cap u32 | start u32 | len u32 | room | len bytes | room    (cap bytes after the header)
//! ```
//!
//! List nodes change at their ends: LPUSH and LPOP at the front, RPUSH and
//! RPOP at the back. In an exactly-sized buffer (`thin.rs`, like Redis's
//! listpack) every push at the front reallocates and moves the whole node (up
//! to 8 KB) by a few bytes, and every pop at either end reallocates again.
//! [`GapBuf::splice`] instead moves whichever side of the change is shorter
//! into the room on that side — a push at the front of a packed node moves
//! the node's 4-byte count, not its entries — and reallocates only when that
//! side has no room left. It then leaves room of a quarter of the new length
//! (at most 4 KB) on the side that grew, rounded up to the allocator's size class (bytes
//! jemalloc would hold anyway), so a run of pushes reallocates O(log n) times
//! and copies each byte O(1) times on average. A removal that leaves the
//! capacity above twice the bytes kept plus 64 reallocates down to the same
//! room, so a node drained from one end gives its memory back as it goes.
//!
//! Costs: a change at either end moves O(distance to that end + change)
//! bytes, amortized (nodes are at most 64 KB, so the 4 KB cap on room keeps
//! that bound); memory is the bytes plus at most a quarter (4 KB) plus the
//! size-class rounding while a node grows, and 12 bytes of header.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut, Range};
use std::ptr::{self, NonNull};

use crate::sizeclass::size_class;

/// `cap`, `start`, `len`: u32 each.
const HEAD: usize = 12;
/// Room left on a reallocation: a quarter of the bytes, at most this much.
/// List nodes grow to 8 KB by default (64 KB at most), and an element larger
/// than that gets a node of its own that never grows: the cap keeps such a
/// node within 4 KB of its size instead of a quarter over it.
const ROOM_MAX: usize = 4096;

fn room_for(len: usize) -> usize {
    (len / 4).min(ROOM_MAX)
}

pub struct GapBuf(NonNull<u8>);

// SAFETY: the buffer owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for GapBuf {}
unsafe impl Sync for GapBuf {}

fn layout(cap: usize) -> Layout {
    Layout::from_size_align(HEAD + cap, 4).expect("buffer layout")
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).expect("list node over 4 GB")
}

impl GapBuf {
    fn header(&self) -> [usize; 3] {
        // SAFETY: every buffer starts with its three header words.
        unsafe {
            let p = self.0.as_ptr().cast::<u32>();
            [0, 1, 2].map(|i| p.add(i).read() as usize)
        }
    }

    fn set_span(&mut self, start: usize, len: usize) {
        // SAFETY: as above; start + len <= cap is the caller's invariant.
        unsafe {
            let p = self.0.as_ptr().cast::<u32>();
            p.add(1).write(u32_of(start));
            p.add(2).write(u32_of(len));
        }
    }

    fn bytes_at(&self) -> *mut u8 {
        // SAFETY: the allocation holds HEAD + cap bytes.
        unsafe { self.0.as_ptr().add(HEAD) }
    }

    /// An uninitialised buffer for `len` bytes with at least `front` and
    /// `back` bytes of room around them (the class's spare bytes go to the
    /// back, or to the front when only the front asked for room).
    fn with_room(len: usize, front: usize, back: usize) -> GapBuf {
        let cap = size_class(HEAD + front + len + back) - HEAD;
        let spare = cap - front - len - back;
        let start = if back == 0 && front > 0 {
            front + spare
        } else {
            front
        };
        let l = layout(cap);
        // SAFETY: the layout is non-empty; the header is written in full.
        unsafe {
            let p = alloc(l);
            if p.is_null() {
                handle_alloc_error(l);
            }
            p.cast::<u32>().write(u32_of(cap));
            let mut b = GapBuf(NonNull::new_unchecked(p));
            b.set_span(start, len);
            b
        }
    }

    /// A buffer of `len` bytes filled by `fill` (which must write them all).
    pub fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> GapBuf {
        let mut b = GapBuf::with_room(len, 0, 0);
        // SAFETY: `len` bytes at `start` lie within the allocation; they are
        // zeroed so `fill` sees initialised memory.
        unsafe { ptr::write_bytes(b.bytes_at().add(b.header()[1]), 0, len) };
        fill(&mut b);
        b
    }

    /// Replaces the bytes in `range` with `insert`, moving the shorter side.
    pub fn splice(&mut self, range: Range<usize>, insert: &[u8]) {
        let [cap, start, len] = self.header();
        assert!(
            range.start <= range.end && range.end <= len,
            "splice out of range"
        );
        let prefix = range.start;
        let suffix = len - range.end;
        let new_len = len - range.len() + insert.len();
        let d = self.bytes_at();
        // SAFETY: every move stays within [0, cap) of the allocation: a
        // prefix moves within the front room it was checked against, a
        // suffix within the back room; `insert` cannot alias `self`.
        unsafe {
            let new_start = if insert.len() <= range.len() {
                let shrink = range.len() - insert.len();
                if prefix <= suffix {
                    ptr::copy(d.add(start), d.add(start + shrink), prefix);
                    start + shrink
                } else {
                    let from = start + range.end;
                    ptr::copy(d.add(from), d.add(from - shrink), suffix);
                    start
                }
            } else {
                let grow = insert.len() - range.len();
                let front_ok = start >= grow;
                let back_ok = cap - start - len >= grow;
                if front_ok && (prefix <= suffix || !back_ok) {
                    ptr::copy(d.add(start), d.add(start - grow), prefix);
                    start - grow
                } else if back_ok {
                    let from = start + range.end;
                    ptr::copy(d.add(from), d.add(from + grow), suffix);
                    start
                } else {
                    let room = room_for(new_len);
                    let (front, back) = if prefix <= suffix {
                        (room, 0)
                    } else {
                        (0, room)
                    };
                    return self.rebuild(range, insert, new_len, front, back);
                }
            };
            ptr::copy_nonoverlapping(
                insert.as_ptr(),
                d.add(new_start + range.start),
                insert.len(),
            );
            self.set_span(new_start, new_len);
        }
        if cap > 2 * new_len + 64 {
            let room = room_for(new_len);
            let (front, back) = if prefix <= suffix {
                (room, 0)
            } else {
                (0, room)
            };
            self.rebuild(range.start..range.start, &[], new_len, front, back);
        }
    }

    /// Moves the bytes, with `range` replaced by `insert`, into a new
    /// allocation with the given room.
    fn rebuild(
        &mut self,
        range: Range<usize>,
        insert: &[u8],
        new_len: usize,
        front: usize,
        back: usize,
    ) {
        let new = GapBuf::with_room(new_len, front, back);
        let ns = new.header()[1];
        let old: &[u8] = self;
        let (head, tail) = (&old[..range.start], &old[range.end..]);
        // SAFETY: the new allocation holds `new_len` bytes at `ns`, which is
        // head + insert + tail; the sources are live and disjoint from it.
        unsafe {
            let q = new.bytes_at().add(ns);
            ptr::copy_nonoverlapping(head.as_ptr(), q, head.len());
            ptr::copy_nonoverlapping(insert.as_ptr(), q.add(head.len()), insert.len());
            ptr::copy_nonoverlapping(tail.as_ptr(), q.add(head.len() + insert.len()), tail.len());
        }
        *self = new;
    }
}

impl Deref for GapBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let [_, start, len] = self.header();
        // SAFETY: `len` initialised bytes live at `start`.
        unsafe { std::slice::from_raw_parts(self.bytes_at().add(start), len) }
    }
}

impl DerefMut for GapBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let [_, start, len] = self.header();
        // SAFETY: as above, and we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.bytes_at().add(start), len) }
    }
}

impl Drop for GapBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_room` with this layout.
        unsafe { dealloc(self.0.as_ptr(), layout(self.header()[0])) }
    }
}

impl Clone for GapBuf {
    fn clone(&self) -> Self {
        GapBuf::build(self.len(), |d| d.copy_from_slice(self))
    }
}

impl PartialEq for GapBuf {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}

impl Eq for GapBuf {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn room(b: &GapBuf) -> (usize, usize) {
        let [cap, start, len] = b.header();
        (start, cap - start - len)
    }

    #[test]
    fn pushes_at_the_front_move_little() {
        let mut b = GapBuf::build(4, |d| d.copy_from_slice(b"CNT!"));
        let mut reallocs = 0;
        for i in 0..2000u32 {
            let before = b.0;
            b.splice(4..4, &i.to_le_bytes());
            reallocs += usize::from(b.0 != before);
        }
        assert_eq!(b.len(), 4 + 8000);
        assert_eq!(&b[..4], b"CNT!");
        assert_eq!(&b[4..8], &1999u32.to_le_bytes());
        assert!(reallocs < 40, "{reallocs} reallocations");
        // Draining from the front gives the memory back.
        while b.len() > 4 {
            b.splice(4..8, b"");
        }
        assert!(b.header()[0] <= 100, "cap {}", b.header()[0]);
        assert_eq!(&*b, b"CNT!");
    }

    #[test]
    fn room_goes_to_the_side_that_grew() {
        // 12 + 244 bytes fill jemalloc's 256 class: no room to start with.
        let mut b = GapBuf::build(244, |d| d.fill(1));
        assert_eq!(room(&b), (0, 0));
        b.splice(244..244, b"x");
        let (front, back) = room(&b);
        assert_eq!(front, 0);
        assert!(back >= 60);
        let mut b = GapBuf::build(244, |d| d.fill(1));
        b.splice(0..0, b"x");
        let (front, back) = room(&b);
        assert!(front >= 60);
        assert_eq!(back, 0);
    }

    #[test]
    fn room_is_capped_for_big_elements() {
        let big = vec![7u8; 1 << 20];
        let mut b = GapBuf::build(4, |d| d.fill(0));
        b.splice(4..4, &big);
        let [cap, _, len] = b.header();
        assert_eq!(len, 4 + (1 << 20));
        // No more than the size class of the bytes plus ROOM_MAX (a quarter
        // of room would be a class higher).
        assert!(HEAD + cap <= size_class(HEAD + len + ROOM_MAX), "cap {cap}");
        assert_eq!(&b[4..], &big[..]);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((any::<u16>(), 0u16..40, proptest::collection::vec(any::<u8>(), 0..60)), 0..200)) {
            let mut b = GapBuf::build(0, |_| {});
            let mut m: Vec<u8> = Vec::new();
            for (at, n, ins) in ops {
                let s = at as usize % (m.len() + 1);
                let e = (s + n as usize).min(m.len());
                b.splice(s..e, &ins);
                m.splice(s..e, ins.iter().copied());
                prop_assert_eq!(&*b, &m[..]);
                let [cap, start, len] = b.header();
                prop_assert!(start + len <= cap);
                prop_assert!(cap <= 2 * len + 64 + len / 4 + 128, "cap {} len {}", cap, len);
            }
            prop_assert!(b.clone() == b);
        }
    }
}

//! An exactly-sized byte buffer behind one thin pointer:
//! `u32 length | bytes`. The compact encodings (`Packed`, `IntSet`) keep
//! their bytes here rather than in a `Box<[u8]>` so that they are one
//! machine word, which keeps a collection's `Object` at 16 bytes (one
//! jemalloc class lower than with fat pointers; it matters for many small
//! hashes). Changes go through [`ThinBuf::splice`], which reallocates in
//! place (jemalloc extends or shrinks within a size class without copying)
//! and moves only the bytes after the change, as listpack's `lpInsert` does.

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::ops::{Deref, DerefMut, Range};
use std::ptr::NonNull;

const HEAD: usize = 4;

pub struct ThinBuf(NonNull<u8>);

// SAFETY: the buffer owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for ThinBuf {}
unsafe impl Sync for ThinBuf {}

fn layout(len: usize) -> Layout {
    Layout::from_size_align(HEAD + len, 4).expect("buffer layout")
}

impl ThinBuf {
    /// A buffer of `len` bytes filled by `fill` (which must write them all).
    pub fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> ThinBuf {
        let len32 = u32::try_from(len).expect("compact buffer over 4 GB");
        let l = layout(len);
        // SAFETY: the layout is non-empty; the length is written before the
        // slice is formed, and the bytes are zeroed first so `fill` sees
        // initialised memory.
        unsafe {
            let p = alloc(l);
            if p.is_null() {
                handle_alloc_error(l);
            }
            p.cast::<u32>().write(len32);
            std::ptr::write_bytes(p.add(HEAD), 0, len);
            let mut b = ThinBuf(NonNull::new_unchecked(p));
            fill(&mut b);
            b
        }
    }

    pub fn from_slice(bytes: &[u8]) -> ThinBuf {
        ThinBuf::build(bytes.len(), |d| d.copy_from_slice(bytes))
    }

    /// Replaces the bytes in `range` with `insert`, resizing in place.
    pub fn splice(&mut self, range: Range<usize>, insert: &[u8]) {
        let old_len = self.len();
        assert!(
            range.start <= range.end && range.end <= old_len,
            "splice out of range"
        );
        let new_len = old_len - range.len() + insert.len();
        let len32 = u32::try_from(new_len).expect("compact buffer over 4 GB");
        let tail = old_len - range.end;
        let to = range.start + insert.len();
        // SAFETY: the allocation holds HEAD + len bytes (the layout used for
        // every (re)allocation); moves stay within the larger of the two
        // sizes; `insert` cannot alias `self` (it is borrowed separately).
        unsafe {
            let resize = |p: *mut u8, from: usize, to: usize| -> *mut u8 {
                let q = realloc(p, layout(from), HEAD + to);
                if q.is_null() {
                    handle_alloc_error(layout(to));
                }
                q
            };
            let mut p = self.0.as_ptr();
            if new_len > old_len {
                p = resize(p, old_len, new_len);
                std::ptr::copy(p.add(HEAD + range.end), p.add(HEAD + to), tail);
            } else {
                std::ptr::copy(p.add(HEAD + range.end), p.add(HEAD + to), tail);
                if new_len < old_len {
                    p = resize(p, old_len, new_len);
                }
            }
            std::ptr::copy_nonoverlapping(insert.as_ptr(), p.add(HEAD + range.start), insert.len());
            p.cast::<u32>().write(len32);
            self.0 = NonNull::new_unchecked(p);
        }
    }
}

impl Deref for ThinBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes follow the header, initialised in `build`.
        unsafe {
            let len = self.0.as_ptr().cast::<u32>().read() as usize;
            std::slice::from_raw_parts(self.0.as_ptr().add(HEAD), len)
        }
    }
}

impl DerefMut for ThinBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold the only reference.
        unsafe {
            let len = self.0.as_ptr().cast::<u32>().read() as usize;
            std::slice::from_raw_parts_mut(self.0.as_ptr().add(HEAD), len)
        }
    }
}

impl Drop for ThinBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `build` with this layout.
        unsafe { dealloc(self.0.as_ptr(), layout(self.len())) }
    }
}

impl Clone for ThinBuf {
    fn clone(&self) -> Self {
        ThinBuf::from_slice(self)
    }
}

impl PartialEq for ThinBuf {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}

impl Eq for ThinBuf {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = ThinBuf::from_slice(b"hello");
        assert_eq!(&*b, b"hello");
        let c = b.clone();
        assert!(b == c);
        let mut e = ThinBuf::from_slice(b"");
        assert!(e.is_empty());
        e.splice(0..0, b"world");
        e.splice(0..0, b"hello ");
        assert_eq!(&*e, b"hello world");
        e.splice(5..11, b"");
        assert_eq!(&*e, b"hello");
        e.splice(1..4, b"ELL-long-replacement");
        assert_eq!(&*e, b"hELL-long-replacemento");
        assert_eq!(std::mem::size_of::<ThinBuf>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBuf>>(), 8);
    }
}

//! An exactly-sized byte buffer behind one thin pointer:
//! `u32 length | bytes`. The compact encodings (`Packed`, `IntSet`) keep
//! their bytes here rather than in a `Box<[u8]>` so that they are one
//! machine word, which keeps a collection's `Object` at 16 bytes (one
//! jemalloc class lower than with fat pointers; it matters for many small
//! hashes). Buffers are rebuilt, not grown, on change: callers write the new
//! contents once with [`ThinBuf::build`].

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
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
        let e = ThinBuf::from_slice(b"");
        assert!(e.is_empty());
        assert_eq!(std::mem::size_of::<ThinBuf>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBuf>>(), 8);
    }
}

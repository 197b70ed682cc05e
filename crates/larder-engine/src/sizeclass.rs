//! jemalloc's size classes: the bytes an allocation of `n` really takes.
//!
//! The server's counting allocator charges allocations at their class (so
//! `used_memory` matches what jemalloc holds), and buffers that keep spare
//! room (`types::gap`) size themselves to a whole class, since the bytes up
//! to it are taken anyway. Pure arithmetic: a few instructions.

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

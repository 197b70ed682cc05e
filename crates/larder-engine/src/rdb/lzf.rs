//! LZF, the compression RDB uses for strings (liblzf's format).
//!
//! ```text
//!   000LLLLL  L+1 literal bytes follow
//!   LLLooooo oooooooo            back reference: length L+2 (L in 1..7),
//!   111ooooo LLLLLLLL oooooooo   or 9 + the extra byte; offset o+1 back
//! ```
//!
//! The compressor finds 3-byte matches through a hash table of positions
//! (one per thread, reused without clearing: a stale position is only ever
//! used after its bytes are compared, so it can only make a valid match),
//! within 8 KB back, of up to 264 bytes. Its output differs from liblzf's
//! byte for byte (so does every liblzf build's, the table being hashed
//! differently) but decodes with any LZF decompressor. The decompressor
//! refuses anything that does not produce exactly the announced length,
//! and never allocates more than 88 bytes per input byte (the format's
//! best ratio).

use std::cell::RefCell;

const HLOG: u32 = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 32;

thread_local! {
    static TABLE: RefCell<Vec<u32>> = RefCell::new(vec![0; 1 << HLOG]);
}

fn hash(b: &[u8]) -> usize {
    let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HLOG)) as usize
}

/// Appends the compressed form of `input` to `out` if it takes at most
/// `max_out` bytes; false (and `out` unchanged) otherwise.
pub fn compress(input: &[u8], out: &mut Vec<u8>, max_out: usize) -> bool {
    let start = out.len();
    let ok = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        compress_with(input, out, start + max_out, &mut t)
    });
    if !ok {
        out.truncate(start);
    }
    ok
}

fn compress_with(input: &[u8], out: &mut Vec<u8>, limit: usize, table: &mut [u32]) -> bool {
    let n = input.len();
    let mut lit = 0usize;
    out.push(0);
    let mut lit_at = out.len() - 1;
    let mut ip = 0usize;
    while ip < n {
        if ip + 2 < n {
            let h = hash(&input[ip..]);
            let cand = table[h] as usize;
            table[h] = (ip + 1) as u32;
            if cand != 0 {
                let r = cand - 1;
                if r < ip && ip - r <= MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                    let max = MAX_REF.min(n - ip);
                    let mut len = 3;
                    while len < max && input[r + len] == input[ip + len] {
                        len += 1;
                    }
                    if lit == 0 {
                        out.pop();
                    } else {
                        out[lit_at] = (lit - 1) as u8;
                    }
                    let off = ip - r - 1;
                    let l = len - 2;
                    if l < 7 {
                        out.push(((off >> 8) as u8) | ((l as u8) << 5));
                    } else {
                        out.push(((off >> 8) as u8) | (7 << 5));
                        out.push((l - 7) as u8);
                    }
                    out.push(off as u8);
                    lit = 0;
                    out.push(0);
                    lit_at = out.len() - 1;
                    ip += len;
                    if out.len() > limit {
                        return false;
                    }
                    continue;
                }
            }
        }
        out.push(input[ip]);
        ip += 1;
        lit += 1;
        if lit == MAX_LIT {
            out[lit_at] = (MAX_LIT - 1) as u8;
            lit = 0;
            out.push(0);
            lit_at = out.len() - 1;
        }
        if out.len() > limit {
            return false;
        }
    }
    if lit == 0 {
        out.pop();
    } else {
        out[lit_at] = (lit - 1) as u8;
    }
    out.len() <= limit
}

/// liblzf's decompressor: `None` unless the output is exactly `len` bytes.
pub fn decompress(input: &[u8], len: u64) -> Option<Vec<u8>> {
    // A 3-byte back reference expands to at most 264 bytes.
    if len > (input.len() as u64).saturating_mul(88) {
        return None;
    }
    let len = len as usize;
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(i)?);
                i += 1;
            }
            run += 2;
            let low = usize::from(*input.get(i)?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() || out.len() + run > len {
                return None;
            }
            let from = out.len() - back;
            // Byte by byte: the source may overlap what is being written.
            for k in 0..run {
                let c = out[from + k];
                out.push(c);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(input: &[u8]) -> Option<usize> {
        let mut out = Vec::new();
        if !compress(input, &mut out, input.len()) {
            return None;
        }
        assert_eq!(decompress(&out, input.len() as u64).as_deref(), Some(input));
        Some(out.len())
    }

    #[test]
    fn round_trips() {
        assert!(round(&[b'a'; 1000]).unwrap() < 40);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .cycle()
            .take(5000)
            .copied()
            .collect();
        assert!(round(&text).unwrap() < 500);
        // Pseudo-random bytes do not shrink.
        let mut x = 12345u64;
        let noise: Vec<u8> = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(round(&noise).is_none());
        for n in [0usize, 1, 2, 3, 31, 32, 33, 64, 300, 9000, 70_000] {
            let v: Vec<u8> = (0..n).map(|i| (i % 7) as u8 ^ (i / 300) as u8).collect();
            let mut out = Vec::new();
            if compress(&v, &mut out, n + n / 16 + 64) {
                assert_eq!(decompress(&out, n as u64).as_deref(), Some(&v[..]));
            }
        }
    }

    #[test]
    fn decodes_liblzf_output() {
        // "aaaaaaaaaa" as liblzf writes it.
        assert_eq!(
            decompress(b"\x00a\xe0\x00\x00", 10).as_deref(),
            Some(&b"aaaaaaaaaa"[..])
        );
        assert_eq!(decompress(b"\x00a\xe0\x00\x00", 11), None);
        assert_eq!(decompress(b"\x00", 1 << 40), None);
        assert_eq!(decompress(b"\x20\x05", 3), None);
    }
}

//! Base64 for the meta protocol's `b` flag (binary keys sent encoded).
//!
//! The decoder follows the one memcached ships (Jouni Malinen's): bytes
//! outside the alphabet are skipped, the remaining count must be a positive
//! multiple of four, decoding stops at the first padded block, and a block
//! with more than two `=` is refused. Decoding never grows the input, so it
//! writes into a caller's fixed buffer (keys are at most 250 bytes).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const INVALID: u8 = 0x80;

fn value(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => 0,
        _ => INVALID,
    }
}

/// Decodes `src` into `out`; returns the decoded length, or None where
/// memcached's decoder returns 0 (a failure).
pub fn decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let count = src.iter().filter(|&&c| value(c) != INVALID).count();
    if count == 0 || count % 4 != 0 || count / 4 * 3 > out.len() {
        return None;
    }
    let mut block = [0u8; 4];
    let (mut n, mut pos, mut pad) = (0, 0, 0);
    for &c in src {
        let v = value(c);
        if v == INVALID {
            continue;
        }
        if c == b'=' {
            pad += 1;
        }
        block[n] = v;
        n += 1;
        if n == 4 {
            out[pos] = (block[0] << 2) | (block[1] >> 4);
            out[pos + 1] = (block[1] << 4) | (block[2] >> 2);
            out[pos + 2] = (block[2] << 6) | block[3];
            pos += 3;
            n = 0;
            if pad > 0 {
                match pad {
                    1 => pos -= 1,
                    2 => pos -= 2,
                    _ => return None,
                }
                break;
            }
        }
    }
    (pos > 0).then_some(pos)
}

/// Appends the padded encoding of `src` to `out`.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    for chunk in src.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in [&b"f"[..], b"fo", b"foo", b"foob", b"\x00\xff\x10"] {
            let mut enc = Vec::new();
            encode(s, &mut enc);
            let mut buf = [0u8; 16];
            let n = decode(&enc, &mut buf).unwrap();
            assert_eq!(&buf[..n], s);
        }
        let mut buf = [0u8; 16];
        assert_eq!(decode(b"Zm9", &mut buf), None);
        assert_eq!(decode(b"Zm9v", &mut buf), Some(3));
        assert_eq!(decode(b"", &mut buf), None);
        assert_eq!(decode(b"Z===", &mut buf), None);
    }
}

//! memcached's number parsing (`safe_strtoul`, `safe_strtol`,
//! `safe_strtoull` in its util.c), byte for byte: the C library's `strtoul`
//! / `strtol` on a 64-bit `long`, then memcached's own checks. The quirks are
//! part of the protocol: a flags word is parsed as 64 bits and truncated to
//! 32 (`4294967297` is `1`), an exptime or length is parsed as a `long` and
//! truncated to `int32_t` (`4294967296` is `0`), `-0` is accepted but any
//! other negative number is refused by the unsigned parsers.

/// C's `isspace` in the "C" locale.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtoull`/`strtoll` core: optional leading white space and sign, then
/// decimal digits. Returns (negative, magnitude or None on overflow, index
/// just past the digits), or None when there are no digits (C sets
/// `endptr = str` then).
fn scan(s: &[u8]) -> Option<(bool, Option<u64>, usize)> {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: Option<u64> = Some(0);
    while i < s.len() && s[i].is_ascii_digit() {
        v = v
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u64::from(s[i] - b'0')));
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((neg, v, i))
}

/// memcached's end check: the number must be followed by white space, or
/// by the end of the string (a NUL in C) with at least one digit read.
/// `tail` is what follows the token in memory: a token ends in NUL, an
/// item's data in `\r\n`.
fn ends_ok(s: &[u8], end: Option<usize>, tail: u8) -> bool {
    let (at, digits) = match end {
        Some(e) => (s.get(e).copied().unwrap_or(tail), true),
        None => (s.first().copied().unwrap_or(tail), false),
    };
    is_c_space(at) || (at == 0 && digits)
}

/// `safe_strtoull` over `s` followed by the byte `tail`.
fn strtoull_tail(s: &[u8], tail: u8) -> Option<u64> {
    match scan(s) {
        None => ends_ok(s, None, tail).then_some(0),
        Some((neg, v, end)) => {
            let v = v?; // ERANGE
            let v = if neg { v.wrapping_neg() } else { v };
            if !ends_ok(s, Some(end), tail) {
                return None;
            }
            // A "negative" result is refused only if a minus sign was seen.
            if (v as i64) < 0 && neg {
                return None;
            }
            Some(v)
        }
    }
}

/// `safe_strtoull` on a protocol token (also `safe_strtoul`: `long` is 64 bits).
pub fn strtoull(tok: &[u8]) -> Option<u64> {
    strtoull_tail(tok, 0)
}

/// `safe_strtoul` into a `uint32_t` (client flags, and the 32-bit
/// arguments of `verbosity`, `cache_memlimit`, `lru_crawler`...): parsed as
/// 64 bits, then truncated, as memcached does.
pub fn strtoflags(tok: &[u8]) -> Option<u32> {
    strtoull(tok).map(|v| v as u32)
}

/// `safe_strtol` into an `int32_t` (exptime, lengths, delays): parsed as a
/// 64-bit `long`, refused on overflow, then truncated.
pub fn strtol32(tok: &[u8]) -> Option<i32> {
    match scan(tok) {
        None => ends_ok(tok, None, 0).then_some(0),
        Some((neg, v, end)) => {
            let v = v?;
            let v: i64 = if neg {
                if v > i64::MAX as u64 + 1 {
                    return None;
                }
                (v as i64).wrapping_neg()
            } else {
                i64::try_from(v).ok()?
            };
            ends_ok(tok, Some(end), 0).then_some(v as i32)
        }
    }
}

/// The number an `incr`/`decr` finds in an item's data (followed by
/// `\r\n` in memcached's memory). Empty data is never numeric.
pub fn item_number(data: &[u8]) -> Option<u64> {
    if data.is_empty() {
        return None;
    }
    strtoull_tail(data, b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(strtoull(b"-1"), None);
        assert_eq!(strtoull(b"-0"), Some(0));
        assert_eq!(strtoull(b"+5"), Some(5));
        assert_eq!(strtoull(b"5x"), None);
        assert_eq!(strtoull(b"x"), None);
        assert_eq!(strtoflags(b"4294967297"), Some(1));
        assert_eq!(strtol32(b"4294967296"), Some(0));
        assert_eq!(strtol32(b"2147483648"), Some(i32::MIN));
        assert_eq!(strtol32(b"-1"), Some(-1));
        assert_eq!(strtol32(b"9999999999999999999"), None);
        assert_eq!(strtol32(b"1\r"), Some(1));
    }

    #[test]
    fn item_data() {
        assert_eq!(item_number(b""), None);
        assert_eq!(item_number(b" 12"), Some(12));
        assert_eq!(item_number(b"99 "), Some(99));
        assert_eq!(item_number(b"+1"), Some(1));
        assert_eq!(item_number(b"-"), None);
        assert_eq!(item_number(b"1a"), None);
        assert_eq!(item_number(b" "), Some(0));
        assert_eq!(item_number(b"7\0x"), Some(7));
    }
}

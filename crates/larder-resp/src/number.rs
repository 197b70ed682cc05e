//! Number parsing and formatting exactly as Redis 7.0 does it.
//!
//! * [`string2ll`] is Redis's `string2ll()` (util.c): the strict integer
//!   syntax used for every length in the protocol and for integer arguments.
//!   No `+`, no spaces, no leading zeros (except the single digit `0`), no
//!   `-0`, at most 20 bytes, must fit an `i64`.
//! * [`write_int_to`] appends an `i64` in decimal (the `itoa` crate: no
//!   allocation, a few nanoseconds).
//! * [`fmt_double_g17`] is C's `printf("%.17g")` under glibc, which Redis 7.0
//!   uses for every double it replies with (`addReplyDouble`: ZSCORE,
//!   GEODIST, ...). It relies on Rust's exact float formatting
//!   (`{:.16e}`, correctly rounded, ties to even like glibc) for the 17
//!   significant digits and only rearranges them, so it costs one small
//!   stack-formatted string.

use std::io::Write as _;

/// Redis's `LONG_STR_SIZE`: strings of this length or longer are never numbers.
const LONG_STR_SIZE: usize = 21;

/// Parse a signed 64-bit integer with Redis's `string2ll` rules.
///
/// Returns `None` for anything Redis rejects: empty input, 21+ bytes, a sign
/// other than a single leading `-`, leading zeros, `-0`, any non-digit, or
/// overflow.
#[inline]
pub fn string2ll(s: &[u8]) -> Option<i64> {
    let slen = s.len();
    if slen == 0 || slen >= LONG_STR_SIZE {
        return None;
    }
    if slen == 1 && s[0] == b'0' {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: u64 = u64::from(first - b'0');
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        // v <= 2^63, so this wrapping negation is exact (2^63 -> i64::MIN).
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Append `v` in decimal.
#[inline]
pub fn write_int_to(v: i64, out: &mut Vec<u8>) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// Append `v` (a length) in decimal.
#[inline]
pub(crate) fn write_usize_to(v: usize, out: &mut Vec<u8>) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// A small fixed buffer that `write!` can format into without allocating.
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf {
            buf: [0; 48],
            len: 0,
        }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::io::Write for StackBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.buf.len() - self.len;
        let n = data.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if n < data.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "stack buffer full",
            ));
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Split Rust's `{:.Ne}` output ("-1.2345e-7") into (negative, mantissa
/// bytes including the '.', decimal exponent, digit count).
fn sci_parts(s: &[u8]) -> (bool, &[u8], i32, usize) {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let epos = memchr::memchr(b'e', body).unwrap_or(body.len());
    let mant = &body[..epos];
    let exp = std::str::from_utf8(body.get(epos + 1..).unwrap_or(b"0"))
        .ok()
        .and_then(|e| e.parse::<i32>().ok())
        .unwrap_or(0);
    let ndigits = mant.iter().filter(|c| c.is_ascii_digit()).count();
    (neg, mant, exp, ndigits)
}

/// Append the glibc `printf("%.*g", prec, v)` rendering of a finite or
/// non-finite `v`.
pub fn fmt_g(v: f64, prec: usize, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let mut sb = StackBuf::new();
    // At most 1 sign + prec digits + '.' + 'e' + sign + 3 exponent digits.
    if write!(sb, "{:.*e}", prec - 1, v).is_err() {
        return;
    }
    let (neg, mant, exp, _) = sci_parts(sb.as_bytes());
    // Collect the significant digits (exactly `prec` of them).
    let mut d = [0u8; 40];
    let mut nd = 0;
    for &c in mant {
        if c.is_ascii_digit() && nd < d.len() {
            d[nd] = c;
            nd += 1;
        }
    }
    // %g strips trailing zeros (no '#' flag).
    while nd > 1 && d[nd - 1] == b'0' {
        nd -= 1;
    }
    if neg {
        out.push(b'-');
    }
    if exp < -4 || exp >= prec as i32 {
        // Scientific: d.ddde[+-]XX
        out.push(d[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&d[1..nd]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push(b'0');
        }
        write_usize_to(a as usize, out);
    } else if exp < 0 {
        // 0.000ddd
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(&d[..nd]);
    } else {
        let int_digits = exp as usize + 1;
        if nd <= int_digits {
            out.extend_from_slice(&d[..nd]);
            for _ in nd..int_digits {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&d[..int_digits]);
            out.push(b'.');
            out.extend_from_slice(&d[int_digits..nd]);
        }
    }
}

/// Append `v` formatted exactly like C's `printf("%.17g", v)` with glibc:
/// 17 significant digits, scientific notation when the exponent is below -4
/// or at least 17, trailing zeros removed, at least two exponent digits
/// (`1.0000000000000001e+20`), `inf`, `-inf`, `nan`, `-nan`, `-0`.
pub fn fmt_double_g17(v: f64, out: &mut Vec<u8>) {
    fmt_g(v, 17, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g17(v: f64) -> String {
        let mut o = Vec::new();
        fmt_double_g17(v, &mut o);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn string2ll_cases() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"123"), Some(123));
        assert_eq!(string2ll(b"-123"), Some(-123));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"00",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"99999999999999999999",
            b"000000000000000000001",
            b"0x10",
            b"1.0",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ints() {
        let mut o = Vec::new();
        write_int_to(i64::MIN, &mut o);
        write_int_to(0, &mut o);
        assert_eq!(o, b"-92233720368547758080");
    }

    #[test]
    fn g17_known_values() {
        // Expected strings produced by glibc printf("%.17g").
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.10000000000000001"),
            (1.1, "1.1000000000000001"),
            (3.0, "3"),
            (1e20, "1e+20"),
            (1e20 + 16384.0, "1.0000000000000002e+20"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (12345678901234567.0, "12345678901234568"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1e-300, "1e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            (2f64.powi(-25), "2.9802322387695312e-08"),
            (123.456, "123.456"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (100.0, "100"),
            (0.5, "0.5"),
        ];
        for &(v, s) in cases {
            assert_eq!(g17(v), s, "value {v:e}");
        }
    }
}

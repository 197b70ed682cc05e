//! Software x87 `long double` (80-bit extended precision) for INCRBYFLOAT.
//!
//! Redis's INCRBYFLOAT (and HINCRBYFLOAT) parse both operands with glibc's
//! `strtold`, add them in `long double` and store `"%.17Lf"` of the sum with
//! trailing zeros trimmed. An `f64` cannot give the same text: its 53-bit
//! mantissa shows noise in the 16th digit (`3.3 + 1.23456789012345678`),
//! and its range ends near 1.8e308 where `long double` goes to 1.2e4932.
//! So this module does what the x87 does, exactly:
//!
//! * a value is `mant · 2^exp` with a 64-bit mantissa (top bit set for
//!   normal numbers; subnormals sit at the minimum exponent);
//! * every operation computes the exact result with spare bits and a sticky
//!   bit, then rounds once to nearest, ties to even — the x87 default;
//! * [`LongDouble::parse`] is `strtold` with Redis's `string2ld` acceptance
//!   (decimal and hexadecimal forms, `inf`/`infinity`; NaN, surrounding
//!   space, trailing garbage, overflow to infinity and underflow to zero are
//!   refused), correctly rounded through a small big-integer division;
//! * [`LongDouble::fmt_human`] prints the exact binary value rounded to 17
//!   decimals (glibc's `printf` is exact too) and trims it like Redis's
//!   `ld2string(LD_STR_HUMAN)`.
//!
//! Costs: adding is a few integer operations; parsing and printing use a
//! big integer as long as the number's digits (a few limbs for everyday
//! values, ~520 limbs at the extremes of the range).

use std::cmp::Ordering;

/// Exponent of the last mantissa bit of the smallest subnormal (2^-16445).
const MIN_EXP: i32 = -16445;
/// Exponent of the last mantissa bit of the largest finite value.
const MAX_EXP: i32 = 16320;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are refused.
const MAX_CHARS: usize = 5 * 1024;

/// An x87 extended-precision value (never NaN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    inf: bool,
    mant: u64,
    exp: i32,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        neg: false,
        inf: false,
        mant: 0,
        exp: 0,
    };

    fn infinity(neg: bool) -> LongDouble {
        LongDouble {
            neg,
            inf: true,
            mant: 0,
            exp: 0,
        }
    }

    pub fn is_infinite(&self) -> bool {
        self.inf
    }

    /// Exact, as `(long double)` of a `long long`.
    pub fn from_i64(v: i64) -> LongDouble {
        round(v < 0, u128::from(v.unsigned_abs()), 0, false)
    }

    /// The sum rounded to nearest-even, or `None` when it is NaN
    /// (`inf + -inf`) or infinite, which INCRBYFLOAT refuses.
    pub fn checked_add(self, o: LongDouble) -> Option<LongDouble> {
        if self.inf || o.inf {
            return None;
        }
        if o.mant == 0 {
            return Some(self);
        }
        if self.mant == 0 {
            return Some(o);
        }
        // Canonical values order by (exp, mant) in magnitude.
        let (a, b) = if (self.exp, self.mant) >= (o.exp, o.mant) {
            (self, o)
        } else {
            (o, self)
        };
        const GUARD: u32 = 62;
        let big = u128::from(a.mant) << GUARD;
        let e = a.exp - GUARD as i32;
        let d = (a.exp - b.exp) as u32;
        let full = u128::from(b.mant) << GUARD;
        let (small, sticky) = if d >= 128 {
            (0, true)
        } else {
            (full >> d, full & ((1u128 << d) - 1) != 0)
        };
        let r = if a.neg == b.neg {
            round(a.neg, big + small, e, sticky)
        } else if sticky {
            // big - (small + tail), 0 < tail < 1: one less, plus a sticky rest.
            round(a.neg, big - small - 1, e, true)
        } else if big >= small {
            round(a.neg, big - small, e, false)
        } else {
            round(b.neg, small - big, e, false)
        };
        (!r.inf).then_some(r)
    }

    /// Redis's `string2ld`: `strtold` over the whole input, refusing empty
    /// or over-long input, leading space, trailing bytes, NaN, and results
    /// that overflowed to infinity or underflowed to zero.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS || is_c_space(s[0]) {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::infinity(neg));
        }
        let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
        let (mant, scale) = if hex {
            parse_digits(&body[2..], 16, b'p')?
        } else {
            parse_digits(body, 10, b'e')?
        };
        if mant.is_zero() {
            return Some(LongDouble { neg, ..Self::ZERO });
        }
        let v = if hex {
            // mant · 2^scale
            let top = mant.bits() as i64 + scale;
            if top > i64::from(MAX_EXP) + 64 {
                return None;
            }
            if top < i64::from(MIN_EXP) - 1 {
                return None;
            }
            from_ratio(neg, mant, Big::from_u64(1), scale)
        } else {
            // mant · 10^scale = mant · 5^scale · 2^scale
            let digits = mant.decimal_digits_estimate() as i64;
            if digits + scale > 4934 {
                return None;
            }
            if digits + scale < -4952 {
                return None;
            }
            let mut five = Big::from_u64(1);
            five.mul_pow5(scale.unsigned_abs() as u32);
            if scale >= 0 {
                let mut n = mant;
                n.mul_big(&five);
                from_ratio(neg, n, Big::from_u64(1), scale)
            } else {
                from_ratio(neg, mant, five, scale)
            }
        };
        (!v.inf && v.mant != 0).then_some(v)
    }

    /// `"%.17Lf"` with trailing zeros (and then a trailing `.`) removed and
    /// `-0` printed as `0`: Redis's `ld2string(.., LD_STR_HUMAN)`.
    pub fn fmt_human(&self, out: &mut Vec<u8>) {
        if self.inf {
            out.extend_from_slice(if self.neg { b"-inf" } else { b"inf" });
            return;
        }
        let start = out.len();
        // n = |v| · 10^17, rounded to an integer (ties to even).
        let mut n = Big::from_u64(self.mant);
        n.mul_small(1_000_000_000);
        n.mul_small(100_000_000);
        if self.exp >= 0 {
            n.shl(self.exp as u64);
        } else {
            n.shr_round_even((-self.exp) as u64);
        }
        let mut digits = n.to_decimal();
        if digits.len() < 18 {
            // At least one integer digit before the 17 decimals.
            let pad = 18 - digits.len();
            digits.resize(18, b'0');
            digits.rotate_right(pad);
        }
        let (int, frac) = digits.split_at(digits.len() - 17);
        if self.neg {
            out.push(b'-');
        }
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.pop();
        }
        if &out[start..] == b"-0" {
            out.truncate(start);
            out.push(b'0');
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses `digits[.digits][<exp>[+-]digits]` in `radix` (10 or 16) as
/// `strtold` does, the whole input or nothing. Returns the digits as an
/// integer and the power of the scale to apply: of 10 for decimal, of 2 for
/// hexadecimal (each fractional hex digit is 4 bits, the exponent binary).
fn parse_digits(s: &[u8], radix: u32, exp_char: u8) -> Option<(Big, i64)> {
    let mut mant = Big::from_u64(0);
    let (mut seen, mut frac, mut dot) = (0usize, 0i64, false);
    let mut chunk = 0u32;
    let mut chunk_len = 0u32;
    let per_chunk = if radix == 10 { 9 } else { 7 };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !dot {
            dot = true;
        } else if let Some(d) = (c as char).to_digit(radix) {
            seen += 1;
            if dot {
                frac += 1;
            }
            chunk = chunk * radix + d;
            chunk_len += 1;
            if chunk_len == per_chunk {
                mant.mul_small(radix.pow(chunk_len));
                mant.add_small(chunk);
                (chunk, chunk_len) = (0, 0);
            }
        } else {
            break;
        }
        i += 1;
    }
    if chunk_len > 0 {
        mant.mul_small(radix.pow(chunk_len));
        mant.add_small(chunk);
    }
    if seen == 0 {
        return None;
    }
    let mut exp = 0i64;
    if i < s.len() {
        if (s[i] | 0x20) != exp_char {
            return None;
        }
        i += 1;
        let neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let digits = &s[i..];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &c in digits {
            // Saturate far beyond any representable scale.
            exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
        }
        if neg {
            exp = -exp;
        }
    }
    let scale = if radix == 10 {
        exp - frac
    } else {
        exp - 4 * frac
    };
    Some((mant, scale))
}

/// Rounds `n / p · 2^binexp` (n, p > 0) to a `LongDouble`.
fn from_ratio(neg: bool, mut n: Big, mut p: Big, binexp: i64) -> LongDouble {
    // Scale so that the quotient has 67 or 68 bits: enough for rounding.
    let s = 67 - (n.bits() as i64 - p.bits() as i64);
    if s >= 0 {
        n.shl(s as u64);
    } else {
        p.shl((-s) as u64);
    }
    let mut q = 0u128;
    p.shl(68);
    for bit in (0..=68).rev() {
        if n.cmp(&p) != Ordering::Less {
            n.sub_assign(&p);
            q |= 1u128 << bit;
        }
        p.shr1();
    }
    let e = binexp - s;
    let e = e.clamp(i64::from(i32::MIN / 2), i64::from(i32::MAX / 2)) as i32;
    round(neg, q, e, !n.is_zero())
}

/// Rounds `m · 2^e` (plus, when `sticky`, a nonzero tail below m's last
/// bit) to nearest-even at 64 bits, subnormal below the normal range and
/// infinite above it. Callers supply at least two bits beyond the 64 kept
/// whenever `sticky` is set.
fn round(neg: bool, m: u128, e: i32, sticky: bool) -> LongDouble {
    if m == 0 {
        return LongDouble {
            neg,
            ..LongDouble::ZERO
        };
    }
    let top = 127 - m.leading_zeros() as i32;
    let shift = (top - 63).max(MIN_EXP - e);
    let (mant, exp) = if shift <= 0 {
        ((m << (-shift) as u32) as u64, e + shift)
    } else {
        let shift = shift as u32;
        let q = if shift >= 128 { 0 } else { m >> shift };
        let rem = if shift >= 128 {
            m
        } else {
            m & ((1u128 << shift) - 1)
        };
        let up = if shift > 128 {
            false
        } else {
            let half = 1u128 << (shift - 1);
            rem > half || (rem == half && (sticky || q & 1 == 1))
        };
        let r = q + u128::from(up);
        if r >> 64 != 0 {
            // Rounding carried out of the 64 bits.
            (1 << 63, e + shift as i32 + 1)
        } else {
            (r as u64, e + shift as i32)
        }
    };
    if exp > MAX_EXP {
        return LongDouble::infinity(neg);
    }
    LongDouble {
        neg,
        inf: false,
        mant,
        exp,
    }
}

/// A non-negative big integer: little-endian 32-bit limbs, no zero limbs on
/// top. Just what parsing and printing need.
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => self.0.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    /// An upper bound of the number of decimal digits (exact within one).
    fn decimal_digits_estimate(&self) -> u64 {
        self.bits() * 30103 / 100_000 + 1
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for l in self.0.iter_mut() {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for l in self.0.iter_mut() {
            if carry == 0 {
                return;
            }
            let v = u64::from(*l) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut k: u32) {
        const P13: u32 = 1_220_703_125; // 5^13
        while k >= 13 {
            self.mul_small(P13);
            k -= 13;
        }
        self.mul_small(5u32.pow(k));
    }

    fn mul_big(&mut self, o: &Big) {
        let mut r = vec![0u32; self.0.len() + o.0.len()];
        for (i, &x) in self.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &y) in o.0.iter().enumerate() {
                let v = u64::from(x) * u64::from(y) + u64::from(r[i + j]) + carry;
                r[i + j] = v as u32;
                carry = v >> 32;
            }
            r[i + o.0.len()] = carry as u32;
        }
        self.0 = r;
        self.trim();
    }

    fn shl(&mut self, bits: u64) {
        if self.is_zero() {
            return;
        }
        let limbs = (bits / 32) as usize;
        let b = (bits % 32) as u32;
        if b > 0 {
            let mut carry = 0u32;
            for l in self.0.iter_mut() {
                let v = (*l << b) | carry;
                carry = *l >> (32 - b);
                *l = v;
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        let len = self.0.len();
        self.0.resize(len + limbs, 0);
        self.0.rotate_right(limbs);
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for l in self.0.iter_mut().rev() {
            let v = (*l >> 1) | carry;
            carry = *l << 31;
            *l = v;
        }
        self.trim();
    }

    fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    fn any_below(&self, i: u64) -> bool {
        let full = (i / 32) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let b = (i % 32) as u32;
        b > 0 && self.0.get(full).is_some_and(|&l| l & ((1 << b) - 1) != 0)
    }

    /// `self >> bits`, rounded to nearest, ties to even.
    fn shr_round_even(&mut self, bits: u64) {
        let half = self.bit(bits - 1);
        let rest = self.any_below(bits - 1);
        let limbs = ((bits / 32) as usize).min(self.0.len());
        self.0.drain(0..limbs);
        let b = (bits % 32) as u32;
        if b > 0 {
            let mut carry = 0u32;
            for l in self.0.iter_mut().rev() {
                let v = (*l >> b) | carry;
                carry = *l << (32 - b);
                *l = v;
            }
        }
        self.trim();
        let odd = self.0.first().is_some_and(|l| l & 1 == 1);
        if half && (rest || odd) {
            self.add_small(1);
        }
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// `self -= o`; requires `self >= o`.
    fn sub_assign(&mut self, o: &Big) {
        let mut borrow = 0i64;
        for (i, l) in self.0.iter_mut().enumerate() {
            let v = i64::from(*l) - i64::from(o.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(v < 0);
            *l = v.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// Decimal digits, most significant first ("0" for zero).
    fn to_decimal(&self) -> Vec<u8> {
        let mut n = self.clone();
        let mut groups = Vec::new();
        while !n.is_zero() {
            let mut rem = 0u64;
            for l in n.0.iter_mut().rev() {
                let v = (rem << 32) | u64::from(*l);
                *l = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            n.trim();
            groups.push(rem as u32);
        }
        let mut out = Vec::with_capacity(groups.len() * 9 + 1);
        match groups.pop() {
            None => out.push(b'0'),
            Some(top) => out.extend_from_slice(itoa::Buffer::new().format(top).as_bytes()),
        }
        for &g in groups.iter().rev() {
            let mut d = [b'0'; 9];
            let mut v = g;
            for c in d.iter_mut().rev() {
                *c = b'0' + (v % 10) as u8;
                v /= 10;
            }
            out.extend_from_slice(&d);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Redis's INCRBYFLOAT computes for `a + b`, or which error.
    fn incr(a: &str, b: &str) -> String {
        match (
            LongDouble::parse(a.as_bytes()),
            LongDouble::parse(b.as_bytes()),
        ) {
            (Some(x), Some(y)) => match x.checked_add(y) {
                Some(r) => {
                    let mut o = Vec::new();
                    r.fmt_human(&mut o);
                    String::from_utf8(o).unwrap()
                }
                None => "ERRNAN".into(),
            },
            _ => "ERRFLOAT".into(),
        }
    }

    #[test]
    fn matches_glibc_long_double() {
        // Expected texts produced by glibc: strtold, long double addition,
        // printf("%.17Lf") trimmed as Redis's ld2string(LD_STR_HUMAN).
        let cases: &[(&str, &str, &str)] = &[
            ("3.3", "1.23456789012345678", "4.53456789012345678"),
            ("9223372036854775807", "1", "9223372036854775808"),
            ("0x10", "1", "17"),
            ("0x1.8p1", "0", "3"),
            ("1e-5000", "1", "ERRFLOAT"),
            ("1e4933", "1", "ERRFLOAT"),
            ("0x1p-16445", "0", "0"),
            ("0x1p-16446", "0", "ERRFLOAT"),
            ("1e-4940", "0", "0"),
            ("\x0b1", "1", "ERRFLOAT"),
            (" 1", "1", "ERRFLOAT"),
            ("1 ", "1", "ERRFLOAT"),
            ("", "1", "ERRFLOAT"),
            ("nan", "1", "ERRFLOAT"),
            ("0.1", "0.2", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("-5", "5", "0"),
            ("-0", "0", "0"),
            ("0.0000000000000000001", "0", "0"),
            ("2.5e-17", "0", "0.00000000000000002"),
            ("1.5e-17", "0", "0.00000000000000002"),
            ("-1e-18", "0", "0"),
            ("1e", "1", "ERRFLOAT"),
            ("0x", "1", "ERRFLOAT"),
            ("infin", "1", "ERRFLOAT"),
            ("INFINITY", "1", "ERRNAN"),
            ("inf", "-inf", "ERRNAN"),
            ("1.5e2", "1", "151"),
            (".5", "5.", "5.5"),
            ("+1.5", "-0.25", "1.25"),
            ("1e20", "0", "100000000000000000000"),
        ];
        for &(a, b, want) in cases {
            assert_eq!(incr(a, b), want, "{a:?} + {b:?}");
        }
        // Far beyond f64's range, still exact to the last digit.
        let big = incr("1e308", "1e308");
        assert_eq!(big.len(), 309);
        assert!(big.starts_with("1999999999999999999933717593116912913211"));
        assert!(big.ends_with("49020905456510092687857156096"));
    }

    #[test]
    fn integers_are_exact() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1 << 53 | 1] {
            let mut o = Vec::new();
            LongDouble::from_i64(v).fmt_human(&mut o);
            assert_eq!(o, v.to_string().as_bytes());
        }
    }
}

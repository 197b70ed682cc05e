//! Bit-level arithmetic on string values, as Redis 7.0's `bitops.c` does it:
//! population counts, the first set/clear bit, BITOP's byte-wise operators
//! and BITFIELD's integer fields of 1..64 bits at any bit offset, with its
//! WRAP / SAT / FAIL overflow rules.
//!
//! Bits are numbered from the most significant bit of the first byte (bit 0
//! is `0x80` of byte 0), as in Redis. Reads past the end of a string see zero
//! bits; writes never grow a string (the caller sizes it first, as Redis's
//! `lookupStringForBitCommand` does).
//!
//! Costs: counting and searching run over 8-byte words (`count_ones`,
//! `leading_zeros`); BITOP is one pass over the longest operand; a bitfield
//! access touches at most 9 bytes.

/// Number of set bits in `b` (Redis's `redisPopcount`).
pub fn popcount(b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|x| u64::from(x.count_ones()))
        .sum::<u64>()
}

/// Position of the first bit equal to `bit` in `b` (Redis's `redisBitpos`):
/// -1 when looking for a 1 that is not there; when looking for a 0 in a
/// string of all ones, the position just past the end (`len * 8`), as if
/// the string were padded with zeros.
pub fn bitpos(b: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0x00 } else { 0xff };
    match b.iter().position(|&x| x != skip) {
        Some(i) => {
            let x = if bit { b[i] } else { !b[i] };
            (i as i64) * 8 + i64::from(x.leading_zeros())
        }
        None if bit => -1,
        None => (b.len() as i64) * 8,
    }
}

/// The negative masks Redis uses for BIT ranges: bits of the first byte
/// before `start` and of the last byte after `end` (both bit indexes).
pub fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u32 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u32 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

/// A BITCOUNT / BITPOS range resolved against a string of `len` bytes:
/// inclusive byte indexes plus the masks of the edge bits outside a BIT range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitRange {
    pub start: i64,
    pub end: i64,
    pub first_mask: u8,
    pub last_mask: u8,
}

/// Redis's index arithmetic for BITCOUNT / BITPOS: negative indexes count
/// from the end, both ends are clamped, and with `is_bit` the indexes are
/// bits (converted to bytes with edge masks). `start > end` means empty.
pub fn resolve_range(start: i64, end: i64, len: usize, is_bit: bool) -> BitRange {
    let mut total = len as i64;
    if is_bit {
        total <<= 3;
    }
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0, 0);
    if is_bit && start <= end {
        (first_mask, last_mask) = edge_masks(start, end);
        start >>= 3;
        end >>= 3;
    }
    BitRange {
        start,
        end,
        first_mask,
        last_mask,
    }
}

/// BITCOUNT over a resolved, non-empty range.
pub fn count_range(p: &[u8], r: &BitRange) -> u64 {
    let (s, e) = (r.start as usize, r.end as usize);
    let mut n = popcount(&p[s..=e]);
    if r.first_mask != 0 {
        n -= u64::from((p[s] & r.first_mask).count_ones());
    }
    if r.last_mask != 0 {
        n -= u64::from((p[e] & r.last_mask).count_ones());
    }
    n
}

/// BITPOS over a resolved, non-empty range (Redis's `bitposCommand` after
/// argument parsing). `end_given`: an explicit end forbids treating the
/// bits right of the range as zero padding.
pub fn pos_range(p: &[u8], r: &BitRange, bit: bool, end_given: bool) -> i64 {
    let mut start = r.start as usize;
    let end = r.end as usize;
    let mut bytes = end - start + 1;
    let apply = |c: u8, mask: u8| if bit { c & !mask } else { c | mask };
    let pos = 'found: {
        if r.first_mask != 0 {
            let mut c = apply(p[start], r.first_mask);
            if r.last_mask != 0 && bytes == 1 {
                c = apply(c, r.last_mask);
            }
            let pos = bitpos(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'found pos;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - usize::from(r.last_mask != 0);
        if cur > 0 {
            let pos = bitpos(&p[start..start + cur], bit);
            if bytes == cur || (pos != -1 && pos != (cur as i64) << 3) {
                break 'found pos;
            }
            start += cur;
            bytes -= cur;
        }
        bitpos(&[apply(p[end], r.last_mask)], bit)
    };
    if end_given && !bit && pos == (bytes as i64) << 3 {
        return -1;
    }
    if pos != -1 {
        pos + ((start as i64) << 3)
    } else {
        pos
    }
}

/// BITOP's operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP over `srcs` (missing keys are empty slices): a result as long as
/// the longest operand, shorter operands read as zero-padded. NOT takes one
/// operand.
pub fn bitop(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let Some((first, rest)) = srcs.split_first() else {
        return Vec::new();
    };
    let mut out: Vec<u8> = (0..maxlen).map(|i| byte(first, i)).collect();
    match op {
        BitOp::Not => out.iter_mut().for_each(|b| *b = !*b),
        _ => {
            for s in rest {
                for (i, o) in out.iter_mut().enumerate() {
                    let x = byte(s, i);
                    match op {
                        BitOp::And => *o &= x,
                        BitOp::Or => *o |= x,
                        BitOp::Xor => *o ^= x,
                        BitOp::Not => {}
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------

fn get_bit(p: &[u8], offset: u64) -> u64 {
    let byte = offset >> 3;
    match usize::try_from(byte).ok().and_then(|i| p.get(i)) {
        Some(&b) => u64::from((b >> (7 - (offset & 7))) & 1),
        None => 0,
    }
}

/// The unsigned integer of `bits` (1..=64) bits at bit `offset`.
pub fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |v, j| (v << 1) | get_bit(p, offset + j))
}

/// The two's complement integer of `bits` (1..=64) bits at bit `offset`.
pub fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (bits past the end
/// of `p` are dropped: the caller grows the string first).
pub fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let bitval = (value >> (u64::from(bits) - 1 - j)) & 1;
        let off = offset + j;
        if let Some(b) = usize::try_from(off >> 3).ok().and_then(|i| p.get_mut(i)) {
            let shift = 7 - (off & 7);
            *b = (*b & !(1 << shift)) | ((bitval as u8) << shift);
        }
    }
}

/// BITFIELD's OVERFLOW behaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves
/// the range of a `bits`-bit unsigned field, and the value to store then
/// (wrapped or saturated; FAIL stores nothing).
pub fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        })
    } else if incr < 0 && incr < minincr {
        Some(match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => 0,
            Overflow::Fail => 0,
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, as [`unsigned_overflow`] for a
/// two's complement field.
pub fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        let c = if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c | mask
            } else {
                c & !mask
            }
        } else {
            c
        };
        c as i64
    };
    let pick = |sat: i64| match ow {
        Overflow::Wrap => wrap(),
        Overflow::Sat => sat,
        Overflow::Fail => 0,
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(pick(max))
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(pick(min))
    } else {
        None
    }
}

/// One BITFIELD SET or INCRBY on a field: returns the reply value (the old
/// value for SET, the new one for INCRBY), or None when FAIL refused the
/// write. `p` must already be long enough for the field.
pub fn field_write(
    p: &mut [u8],
    offset: u64,
    bits: u32,
    signed: bool,
    incr: bool,
    arg: i64,
    ow: Overflow,
) -> Option<i64> {
    if signed {
        let old = get_signed(p, offset, bits);
        let (over, reply, new) = if incr {
            let o = signed_overflow(old, arg, bits, ow);
            let new = o.unwrap_or_else(|| old.wrapping_add(arg));
            (o.is_some(), new, new)
        } else {
            let o = signed_overflow(arg, 0, bits, ow);
            (o.is_some(), old, o.unwrap_or(arg))
        };
        if over && ow == Overflow::Fail {
            return None;
        }
        set_unsigned(p, offset, bits, new as u64);
        Some(reply)
    } else {
        let old = get_unsigned(p, offset, bits);
        let (over, reply, new) = if incr {
            let o = unsigned_overflow(old, arg, bits, ow);
            let new = o.unwrap_or_else(|| old.wrapping_add(arg as u64));
            (o.is_some(), new, new)
        } else {
            let o = unsigned_overflow(arg as u64, 0, bits, ow);
            (o.is_some(), old, o.unwrap_or(arg as u64))
        };
        if over && ow == Overflow::Fail {
            return None;
        }
        set_unsigned(p, offset, bits, new);
        Some(reply as i64)
    }
}

/// A BITFIELD type argument (`i1`..`i64`, `u1`..`u63`): (signed, bits).
/// Like Redis, the width is read only up to a NUL byte.
pub fn parse_field_type(arg: &[u8]) -> Option<(bool, u32)> {
    let (&t, rest) = arg.split_first()?;
    let signed = match t {
        b'i' => true,
        b'u' => false,
        _ => return None,
    };
    let rest = rest
        .iter()
        .position(|&b| b == 0)
        .map_or(rest, |n| &rest[..n]);
    let bits = parse_i64_strict(rest)?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some((signed, bits as u32))
}

/// A bit offset argument (Redis's `getBitOffsetFromArgument`): `#N` (when
/// `hash_bits` is given) means N fields of that width. Must be non-negative
/// and address a byte below `max_bytes`.
pub fn parse_bit_offset(arg: &[u8], hash_bits: Option<u32>, max_bytes: u64) -> Option<u64> {
    let (digits, mul) = match (arg, hash_bits) {
        ([b'#', rest @ ..], Some(bits)) if !rest.is_empty() => (rest, i64::from(bits)),
        _ => (arg, 1),
    };
    let v = parse_i64_strict(digits)?.wrapping_mul(mul);
    (v >= 0 && (v as u64 >> 3) < max_bytes).then_some(v as u64)
}

/// Redis's `string2ll` (canonical decimal, fits i64).
fn parse_i64_strict(b: &[u8]) -> Option<i64> {
    crate::entry::parse_canonical_i64(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popcount_and_bitpos() {
        assert_eq!(popcount(b"foobar"), 26);
        assert_eq!(popcount(&[0xff; 17]), 136);
        assert_eq!(bitpos(&[0xff, 0xf0, 0], false), 12);
        assert_eq!(bitpos(&[0, 0, 0], true), -1);
        assert_eq!(bitpos(&[0xff, 0xff], false), 16);
        assert_eq!(bitpos(&[0, 0x01], true), 15);
        assert_eq!(bitpos(&[0u8; 0], false), 0);
    }

    #[test]
    fn ranges() {
        // BITCOUNT foobar 1 1 = 6, 5 30 BIT = 17 (Redis's documentation).
        let p = b"foobar";
        let r = resolve_range(1, 1, 6, false);
        assert_eq!(count_range(p, &r), 6);
        let r = resolve_range(5, 30, 6, true);
        assert_eq!(count_range(p, &r), 17);
        let r = resolve_range(-1, -100, 6, false);
        assert!(r.start > r.end);
        // BITPOS \xff\xf0\x00 0 = 12; 1 2 -1 BYTE on \x00\xff\xf0 = 8 ...
        let p = [0xffu8, 0xf0, 0];
        assert_eq!(
            pos_range(&p, &resolve_range(0, 2, 3, false), false, false),
            12
        );
        let p = [0u8, 0xff, 0xf0];
        assert_eq!(
            pos_range(&p, &resolve_range(2, -1, 3, false), true, true),
            16
        );
        assert_eq!(pos_range(&p, &resolve_range(7, 15, 3, true), true, true), 8);
        assert_eq!(
            pos_range(&[0xff; 2], &resolve_range(0, -1, 2, false), false, true),
            -1
        );
        assert_eq!(
            pos_range(&[0xff; 2], &resolve_range(0, -1, 2, false), false, false),
            16
        );
    }

    #[test]
    fn bitop_pads() {
        assert_eq!(bitop(BitOp::And, &[b"\xff\x0f", b"\x0f"]), vec![0x0f, 0]);
        assert_eq!(bitop(BitOp::Or, &[b"", b"\x01\x02"]), vec![1, 2]);
        assert_eq!(bitop(BitOp::Xor, &[b"\x03", b"\x01", b"\x01"]), vec![3]);
        assert_eq!(bitop(BitOp::Not, &[b"\x0f"]), vec![0xf0]);
        assert!(bitop(BitOp::Or, &[b"", b""]).is_empty());
    }

    #[test]
    fn fields() {
        let mut p = [0u8; 4];
        assert_eq!(
            field_write(&mut p, 0, 8, false, false, 255, Overflow::Wrap),
            Some(0)
        );
        assert_eq!(get_signed(&p, 0, 8), -1);
        assert_eq!(get_unsigned(&p, 4, 8), 0xf0);
        assert_eq!(
            field_write(&mut p, 0, 8, false, true, 10, Overflow::Wrap),
            Some(9)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, false, true, 300, Overflow::Sat),
            Some(255)
        );
        assert_eq!(
            field_write(&mut p, 0, 8, false, true, 1, Overflow::Fail),
            None
        );
        assert_eq!(
            field_write(&mut p, 8, 5, true, true, 100, Overflow::Sat),
            Some(15)
        );
        assert_eq!(
            field_write(&mut p, 8, 5, true, true, -100, Overflow::Sat),
            Some(-16)
        );
        assert_eq!(
            field_write(&mut p, 8, 5, true, true, 17, Overflow::Wrap),
            Some(1)
        );
        let mut q = [0u8, 0, 0, 0, 0, 0, 0, 1];
        let sat = field_write(&mut q, 0, 64, true, true, i64::MAX, Overflow::Sat);
        assert_eq!(sat, Some(i64::MAX));
        assert_eq!(
            field_write(&mut q, 0, 64, true, true, 1, Overflow::Fail),
            None
        );
        assert_eq!(q, [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(unsigned_overflow(5, -6, 8, Overflow::Wrap), Some(255));
        assert_eq!(parse_field_type(b"u63"), Some((false, 63)));
        assert_eq!(parse_field_type(b"u64"), None);
        assert_eq!(parse_field_type(b"i64"), Some((true, 64)));
        assert_eq!(parse_field_type(b"I8"), None);
        assert_eq!(parse_field_type(b"i0"), None);
        assert_eq!(parse_bit_offset(b"#2", Some(8), 1 << 29), Some(16));
        assert_eq!(parse_bit_offset(b"#2", None, 1 << 29), None);
        assert_eq!(parse_bit_offset(b"4294967296", None, 1 << 29), None);
        assert_eq!(
            parse_bit_offset(b"4294967295", None, 1 << 29),
            Some(4294967295)
        );
        assert_eq!(parse_bit_offset(b"-1", None, 1 << 29), None);
    }
}

//! The blob formats found inside RDB values.
//!
//! ```text
//!   listpack  total u32 LE | count u16 LE (65535 = unknown) | entry* | 0xFF
//!             entry = encoding+data | backlen (1..5 bytes, 7 bits each)
//!             0xxxxxxx 7-bit uint   10LLLLLL 6-bit-length string
//!             110xxxxx +1 13-bit int  1110LLLL +1 12-bit-length string
//!             F0 len32 string  F1 i16  F2 i24  F3 i32  F4 i64   (little-endian)
//!   ziplist   bytes u32 | tail u32 | count u16 | entry* | 0xFF
//!             entry = prevlen (1, or FE + u32) | encoding | data
//!   zipmap    count u8 | (len key len free value pad)* | 0xFF
//!   intset    width u32 (2, 4, 8) | count u32 | values LE, ascending
//! ```
//!
//! Readers check every length against the blob and return `None` on any
//! inconsistency; the caller turns that into an error with the offset of
//! the blob. Listpacks are written the way Redis's `lpAppend` writes them:
//! strings that are canonical integers take the smallest integer encoding.

use crate::entry::parse_canonical_i64;

/// One element of a listpack or ziplist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Item<'a> {
    /// The element as bytes (integers formatted into `buf`).
    pub fn bytes<'b>(self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Item::Int(i) => buf.format(i).as_bytes(),
            Item::Str(s) => s,
        }
    }
}

// ---------------------------------------------------------------------------
// listpack
// ---------------------------------------------------------------------------

const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xFF;

/// Builds one listpack in a caller's buffer.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter {
            buf: vec![0; LP_HEADER],
            count: 0,
        }
    }
}

/// Bytes `lpEncodeBacklen` takes for an entry of `l` bytes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Appends one listpack element holding integer `v` (and its backlen).
pub fn lp_encode_int(b: &mut Vec<u8>, v: i64) {
    let start = b.len();
    if (0..=127).contains(&v) {
        b.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u16) & 0x1fff;
        b.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
    } else if let Ok(x) = i16::try_from(v) {
        b.push(0xF1);
        b.extend_from_slice(&x.to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        b.push(0xF2);
        b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if let Ok(x) = i32::try_from(v) {
        b.push(0xF3);
        b.extend_from_slice(&x.to_le_bytes());
    } else {
        b.push(0xF4);
        b.extend_from_slice(&v.to_le_bytes());
    }
    finish_element(b, start);
}

/// Appends one listpack element holding string `s` as a string.
pub fn lp_encode_str(b: &mut Vec<u8>, s: &[u8]) {
    let start = b.len();
    let n = s.len();
    if n < 64 {
        b.push(0x80 | n as u8);
    } else if n < 4096 {
        b.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
    } else {
        b.push(0xF0);
        b.extend_from_slice(&(n as u32).to_le_bytes());
    }
    b.extend_from_slice(s);
    finish_element(b, start);
}

/// Appends `s` as `lpAppend` does: canonical integers take an integer encoding.
pub fn lp_encode(b: &mut Vec<u8>, s: &[u8]) {
    match parse_canonical_i64(s) {
        Some(v) => lp_encode_int(b, v),
        None => lp_encode_str(b, s),
    }
}

/// lpEncodeBacklen: the element's length, most significant 7 bits first,
/// every byte but the first flagged with 0x80 (read from the right).
fn finish_element(b: &mut Vec<u8>, start: usize) {
    let l = b.len() - start;
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let part = ((l >> (7 * i)) & 127) as u8;
        b.push(if i == n - 1 { part } else { part | 128 });
    }
}

impl ListpackWriter {
    /// Bytes so far (the final size is one more).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn push(&mut self, s: &[u8]) {
        match parse_canonical_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        lp_encode_int(&mut self.buf, v);
        self.count += 1;
    }

    pub fn push_str(&mut self, s: &[u8]) {
        lp_encode_str(&mut self.buf, s);
        self.count += 1;
    }

    /// The finished listpack; the writer is empty again afterwards.
    pub fn finish(&mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.count = 0;
        std::mem::replace(&mut self.buf, vec![0; LP_HEADER])
    }
}

fn le(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// Sign-extends the low `bits` of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Walks a listpack, calling `visit` per element; `None` if malformed.
pub fn listpack_for_each<'a>(lp: &'a [u8], mut visit: impl FnMut(Item<'a>)) -> Option<usize> {
    if lp.len() < LP_HEADER + 1 || le(&lp[..4]) != lp.len() as u64 || lp[lp.len() - 1] != LP_EOF {
        return None;
    }
    let declared = le(&lp[4..6]) as usize;
    let end = lp.len() - 1;
    let mut p = LP_HEADER;
    let mut n = 0usize;
    while p < end {
        let (item, next) = lp_decode(lp, p, end)?;
        n += 1;
        p = next;
        visit(item);
    }
    (declared == usize::from(u16::MAX) || declared == n).then_some(n)
}

/// The listpack element at `p` (elements end at `end`, the EOF byte) and
/// the offset of the next one; `None` if malformed.
pub fn lp_decode(lp: &[u8], p: usize, end: usize) -> Option<(Item<'_>, usize)> {
    let b = *lp.get(p)?;
    let (item, size) = if b < 0x80 {
        (Item::Int(i64::from(b)), 1)
    } else if b & 0xC0 == 0x80 {
        let l = usize::from(b & 0x3f);
        (Item::Str(lp.get(p + 1..p + 1 + l)?), 1 + l)
    } else if b & 0xE0 == 0xC0 {
        let v = (u64::from(b & 0x1f) << 8) | u64::from(*lp.get(p + 1)?);
        (Item::Int(signed(v, 13)), 2)
    } else if b & 0xF0 == 0xE0 {
        let l = (usize::from(b & 0x0f) << 8) | usize::from(*lp.get(p + 1)?);
        (Item::Str(lp.get(p + 2..p + 2 + l)?), 2 + l)
    } else if b == 0xF0 {
        let l = le(lp.get(p + 1..p + 5)?) as usize;
        (Item::Str(lp.get(p + 5..(p + 5).checked_add(l)?)?), 5 + l)
    } else {
        let width = match b {
            0xF1 => 2,
            0xF2 => 3,
            0xF3 => 4,
            0xF4 => 8,
            _ => return None,
        };
        let v = le(lp.get(p + 1..p + 1 + width)?);
        (Item::Int(signed(v, 8 * width as u32)), 1 + width)
    };
    Some((item, skip_backlen(p, size, end)?))
}

/// The offset after the entry at `p` of `size` bytes and its backlen.
fn skip_backlen(p: usize, size: usize, end: usize) -> Option<usize> {
    let next = p.checked_add(size)?.checked_add(backlen_size(size))?;
    (next <= end).then_some(next)
}

// ---------------------------------------------------------------------------
// ziplist
// ---------------------------------------------------------------------------

const ZL_HEADER: usize = 10;

/// Walks a ziplist, calling `visit` per element; `None` if malformed.
pub fn ziplist_for_each<'a>(zl: &'a [u8], mut visit: impl FnMut(Item<'a>)) -> Option<usize> {
    if zl.len() < ZL_HEADER + 1 || le(&zl[..4]) != zl.len() as u64 || zl[zl.len() - 1] != 0xFF {
        return None;
    }
    let declared = le(&zl[8..10]) as usize;
    let end = zl.len() - 1;
    let mut p = ZL_HEADER;
    let mut n = 0usize;
    while p < end {
        p += match zl[p] {
            0xFE => 5,
            0xFF => return None,
            _ => 1,
        };
        let b = *zl.get(p)?;
        let (item, size) = match b >> 6 {
            0 => {
                let l = usize::from(b & 0x3f);
                (Item::Str(zl.get(p + 1..p + 1 + l)?), 1 + l)
            }
            1 => {
                let l = (usize::from(b & 0x3f) << 8) | usize::from(*zl.get(p + 1)?);
                (Item::Str(zl.get(p + 2..p + 2 + l)?), 2 + l)
            }
            2 => {
                let l = zl.get(p + 1..p + 5)?;
                let l = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (Item::Str(zl.get(p + 5..(p + 5).checked_add(l)?)?), 5 + l)
            }
            _ => {
                let width = match b {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return None,
                };
                let v = if width == 0 {
                    i64::from(b & 0x0f) - 1
                } else {
                    signed(le(zl.get(p + 1..p + 1 + width)?), 8 * width as u32)
                };
                (Item::Int(v), 1 + width)
            }
        };
        p += size;
        if p > end {
            return None;
        }
        n += 1;
        visit(item);
    }
    // The count saturates at 65535 in big ziplists.
    (declared == usize::from(u16::MAX) || declared == n).then_some(n)
}

// ---------------------------------------------------------------------------
// zipmap (hashes of RDB versions before 4)
// ---------------------------------------------------------------------------

/// Walks a zipmap's (field, value) pairs; `None` if malformed.
pub fn zipmap_for_each<'a>(zm: &'a [u8], mut visit: impl FnMut(&'a [u8], &'a [u8])) -> Option<()> {
    let mut p = 1usize;
    let len_at = |p: &mut usize| -> Option<Option<usize>> {
        let b = *zm.get(*p)?;
        match b {
            0xFF => Some(None),
            0xFE => {
                let l = zm.get(*p + 1..*p + 5)?;
                *p += 5;
                Some(Some(u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize))
            }
            _ => {
                *p += 1;
                Some(Some(usize::from(b)))
            }
        }
    };
    loop {
        let Some(klen) = len_at(&mut p)? else {
            return (p == zm.len() - 1).then_some(());
        };
        let key = zm.get(p..p.checked_add(klen)?)?;
        p += klen;
        let vlen = len_at(&mut p)??;
        let free = usize::from(*zm.get(p)?);
        p += 1;
        let value = zm.get(p..p.checked_add(vlen)?)?;
        p += vlen + free;
        visit(key, value);
    }
}

// ---------------------------------------------------------------------------
// intset
// ---------------------------------------------------------------------------

/// The values of an intset blob, checked sorted and distinct; `None` if malformed.
pub fn intset_values(b: &[u8]) -> Option<Vec<i64>> {
    if b.len() < 8 {
        return None;
    }
    let width = le(&b[..4]) as usize;
    let count = le(&b[4..8]) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width)? != b.len() - 8 {
        return None;
    }
    let vals: Vec<i64> = b[8..]
        .chunks_exact(width)
        .map(|c| signed(le(c), 8 * width as u32))
        .collect();
    vals.windows(2).all(|w| w[0] < w[1]).then_some(vals)
}

/// An intset blob of sorted, distinct `values`, at the narrowest width.
pub fn intset_blob(values: &[i64]) -> Vec<u8> {
    let count = values.len();
    let width = values
        .iter()
        .map(|&v| {
            if i16::try_from(v).is_ok() {
                2
            } else if i32::try_from(v).is_ok() {
                4
            } else {
                8
            }
        })
        .max()
        .unwrap_or(2);
    let mut out = Vec::with_capacity(8 + width * count);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp_items(lp: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = itoa::Buffer::new();
        listpack_for_each(lp, |i| out.push(i.bytes(&mut buf).to_vec())).unwrap();
        out
    }

    #[test]
    fn listpack_round_trips_every_encoding() {
        let mut w = ListpackWriter::default();
        let mut items: Vec<Vec<u8>> = Vec::new();
        for v in [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            32767,
            40000,
            -8388608,
            8388607,
            8388608,
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MIN,
            i64::MAX,
        ] {
            items.push(v.to_string().into_bytes());
        }
        for n in [0usize, 1, 63, 64, 4095, 4096, 70_000] {
            items.push(vec![b'x'; n]);
        }
        items.push(b"007".to_vec());
        for i in &items {
            w.push(i);
        }
        let lp = w.finish();
        assert_eq!(lp_items(&lp), items);
        // Redis 7.0's listpack for RPUSH l a 1 (captured from DUMP).
        let mut w = ListpackWriter::default();
        w.push(b"a");
        w.push(b"1");
        assert_eq!(w.finish(), b"\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff");
    }

    #[test]
    fn listpack_refuses_corruption() {
        let mut w = ListpackWriter::default();
        w.push(b"hello");
        w.push(b"12");
        let lp = w.finish();
        for cut in 0..lp.len() {
            assert!(listpack_for_each(&lp[..cut], |_| {}).is_none());
        }
        let mut bad = lp.clone();
        bad[4] = 3;
        assert!(listpack_for_each(&bad, |_| {}).is_none());
        let mut bad = lp;
        bad[6] = 0x80 | 60;
        assert!(listpack_for_each(&bad, |_| {}).is_none());
    }

    #[test]
    fn ziplist_and_zipmap_and_intset() {
        // A ziplist of "a", 5, 300 (int16), as Redis 6 writes it.
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0x00, 0x01, b'a']);
        zl.extend_from_slice(&[0x03, 0xF6]);
        zl.extend_from_slice(&[0x02, 0xC0, 0x2c, 0x01]);
        zl.push(0xFF);
        let n = zl.len() as u32;
        zl[..4].copy_from_slice(&n.to_le_bytes());
        zl[8..10].copy_from_slice(&3u16.to_le_bytes());
        let mut got = Vec::new();
        ziplist_for_each(&zl, |i| got.push(i)).unwrap();
        assert_eq!(got, [Item::Str(b"a"), Item::Int(5), Item::Int(300)]);
        assert!(ziplist_for_each(&zl[..zl.len() - 2], |_| {}).is_none());

        let zm = b"\x02\x01k\x02\x00v1\x02kk\x01\x02xyz\xff";
        let mut pairs = Vec::new();
        zipmap_for_each(zm, |k, v| pairs.push((k.to_vec(), v.to_vec()))).unwrap();
        assert_eq!(
            pairs,
            [
                (b"k".to_vec(), b"v1".to_vec()),
                (b"kk".to_vec(), b"x".to_vec())
            ]
        );
        assert!(zipmap_for_each(&zm[..8], |_, _| {}).is_none());

        let vals = [-5i64, 7, 70000];
        let b = intset_blob(&vals);
        assert_eq!(&b[..4], &4u32.to_le_bytes());
        assert_eq!(intset_values(&b).unwrap(), vals);
        let mut unsorted = intset_blob(&[3i64, 1]);
        assert!(intset_values(&unsorted).is_none());
        unsorted.pop();
        assert!(intset_values(&unsorted).is_none());
    }
}

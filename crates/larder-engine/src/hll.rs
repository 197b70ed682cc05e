//! Redis's HyperLogLog, byte for byte (`hyperloglog.c` of Redis 7.0).
//!
//! A HyperLogLog is an ordinary string value laid out as:
//!
//! ```text
//!   0..4   "HYLL"
//!   4      encoding: 0 = dense, 1 = sparse
//!   5..8   zero
//!   8..16  cached cardinality, little endian; bit 7 of byte 15 set = stale
//!   16..   registers
//! ```
//!
//! There are 16384 registers (the low 14 bits of MurmurHash64A with seed
//! `0xadc83b19` pick one; the run of zeros in the other 50 bits, plus one, is
//! the value it keeps the maximum of). The *dense* form packs them as 6-bit
//! fields, least significant bit first, 12288 bytes. The *sparse* form is a
//! run-length code: `00xxxxxx` ZERO (1..64 zero registers), `01xxxxxx
//! yyyyyyyy` XZERO (1..16384 zero registers), `1vvvvvxx` VAL (1..4 registers
//! of value 1..32). A sparse HLL is promoted to dense when a value above 32
//! arrives or when growing it would pass `hll-sparse-max-bytes`. Every edit
//! below follows Redis's exactly (split, merge of neighbouring VALs, the
//! five-opcode merge window), so that the same additions produce the same
//! bytes as Redis, and HLLs DUMPed from Redis load and work here.
//!
//! The estimate is Redis's: the register histogram fed to Otmar Ertl's
//! improved estimator (`hllTau` / `hllSigma`), rounded half away from zero.
//!
//! Costs: adding to a dense HLL is a hash and a two-byte read-modify-write
//! (done in place on the stored value); adding to a sparse one scans its
//! opcodes (at most `hll-sparse-max-bytes`) and may shift the tail by up to
//! three bytes. Counting walks all registers unless the cache is valid.

/// Header size in bytes.
pub const HDR: usize = 16;
/// Index bits.
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits per dense register.
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// The size of a dense HLL, header included.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// Encodings (byte 4).
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
/// Redis's default `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const SEED: u64 = 0xadc8_3b19;

/// The value is not a well-formed HLL (Redis's `INVALIDOBJ Corrupted HLL
/// object detected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Austin Appleby's MurmurHash64A, as Redis compiles it on little-endian
/// machines (the length goes in as a 32-bit `int`).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let len = key.len() as i32 as i64 as u64;
    let mut h = seed ^ len.wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let mut k = u64::from_le_bytes(w).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the value it offers it (Redis's
/// `hllPatLen`): 1 + the number of trailing zeros of the remaining 50 bits.
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> P) | (1u64 << 50);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty sparse HLL (Redis's `createHLLObject`): the header with a
/// valid cached count of 0, then XZERO opcodes covering every register.
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2 * REGISTERS.div_ceil(XZERO_MAX_LEN) + 3);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.resize(HDR, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(n));
        left -= n;
    }
    v
}

/// Redis's `isHLLObjectOrReply` test: magic, a known encoding, and the exact
/// size for a dense HLL.
pub fn is_valid(b: &[u8]) -> bool {
    b.len() >= HDR
        && &b[..4] == b"HYLL"
        && b[4] <= SPARSE
        && (b[4] != DENSE || b.len() == DENSE_SIZE)
}

/// Whether `b` (a valid HLL) is dense.
pub fn is_dense(b: &[u8]) -> bool {
    b[4] == DENSE
}

/// The cached cardinality, if valid.
pub fn cached_count(b: &[u8]) -> Option<u64> {
    if b[15] & 0x80 != 0 {
        return None;
    }
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[8..16]);
    Some(u64::from_le_bytes(w))
}

/// Stores a freshly computed cardinality in the header.
pub fn set_cached_count(b: &mut [u8], card: u64) {
    b[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(b: &mut [u8]) {
    b[15] |= 0x80;
}

// ---------------------------------------------------------------------------
// Dense registers
// ---------------------------------------------------------------------------

/// Register `i` of the dense register area `regs` (bytes past the end read
/// as zero, as the sds terminator does in Redis).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) as u8) & REGISTER_MAX
}

fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u16::from(val);
    regs[byte] &= !((u16::from(REGISTER_MAX) << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((u16::from(REGISTER_MAX) >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises dense register `i` to `count` if it is lower; true if changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// Adds an element to a dense HLL in place (the string does not change
/// size); true if a register changed. The cache is left to the caller.
pub fn dense_add(hll: &mut [u8], ele: &[u8]) -> bool {
    let (i, count) = pattern(ele);
    dense_set(&mut hll[HDR..], i, count)
}

// ---------------------------------------------------------------------------
// Sparse opcodes
// ---------------------------------------------------------------------------

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// Decodes the opcode at `p[i]` (a missing second XZERO byte reads as 0).
    fn at(p: &[u8], i: usize) -> Op {
        let b = p[i];
        if b & 0xc0 == 0 {
            Op::Zero(usize::from(b & 0x3f) + 1)
        } else if b & 0x80 == 0 {
            let lo = usize::from(p.get(i + 1).copied().unwrap_or(0));
            Op::XZero(((usize::from(b & 0x3f) << 8) | lo) + 1)
        } else {
            Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1)
        }
    }

    fn size(self) -> usize {
        if let Op::XZero(_) = self {
            2
        } else {
            1
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
}

fn val(v: u8, len: usize) -> u8 {
    (((v - 1) << 2) | (len as u8 - 1)) | 0x80
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [((l >> 8) as u8) | 0x40, (l & 0xff) as u8]
}

/// Calls `f(op)` for each opcode of a sparse body, unchecked (PFDEBUG DECODE).
fn walk_sparse(body: &[u8], mut f: impl FnMut(Op)) {
    let mut i = 0;
    while i < body.len() {
        let op = Op::at(body, i);
        f(op);
        i += op.size();
    }
}

/// Walks a sparse body like [`walk_sparse`], but as a validity check (Redis's
/// decoders with the CVE-2025-32023 bounds checks): an opcode reaching past
/// the last register, or runs that do not add up to all registers, make the
/// HLL corrupt.
fn walk_checked(body: &[u8], mut f: impl FnMut(usize, Op)) -> Result<(), Corrupt> {
    let (mut i, mut idx) = (0, 0);
    while i < body.len() {
        let op = Op::at(body, i);
        if idx + op.span() > REGISTERS {
            return Err(Corrupt);
        }
        f(idx, op);
        idx += op.span();
        i += op.size();
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Calls `f(register, value)` for every register a VAL run of a valid
/// sparse body sets.
fn sparse_values(body: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Corrupt> {
    walk_checked(body, |first, op| {
        if let Op::Val(v, n) = op {
            (first..first + n).for_each(|r| f(r, v));
        }
    })
}

/// Converts a sparse HLL to dense (Redis's `hllSparseToDense`). The header,
/// cached count included, is kept. Returns false if it was already dense.
pub fn to_dense(hll: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if is_dense(hll) {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&hll[..HDR]);
    dense[4] = DENSE;
    sparse_values(&hll[HDR..], |r, v| dense_put(&mut dense[HDR..], r, v))?;
    *hll = dense;
    Ok(true)
}

/// Raises register `index` to `count` (Redis's `hllSparseSet` for a sparse
/// HLL, `hllDenseSet` for a dense one), promoting a sparse HLL to dense when
/// needed. Returns whether a register changed; marks the cache stale when a
/// sparse HLL changes in place, as Redis does.
pub fn set_register(
    hll: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if is_dense(hll) {
        return Ok(dense_set(&mut hll[HDR..], index, count));
    }
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = hll.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let op = Op::at(hll, p);
        span = op.span();
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += op.size();
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = Op::at(hll, p);
    // Step 2: the cases that need no split.
    let simple = match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => true,
        _ => false,
    };
    if simple {
        hll[p] = val(count, 1);
    } else {
        // The general case: split the run into up to three opcodes.
        let mut seq = [0u8; 5];
        let mut n = 0;
        let last = first + span - 1;
        let push_zero = |seq: &mut [u8; 5], n: &mut usize, len: usize| {
            if len > ZERO_MAX_LEN {
                seq[*n..*n + 2].copy_from_slice(&xzero(len));
                *n += 2;
            } else {
                seq[*n] = (len - 1) as u8;
                *n += 1;
            }
        };
        match op {
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    push_zero(&mut seq, &mut n, index - first);
                }
                seq[n] = val(count, 1);
                n += 1;
                if index != last {
                    push_zero(&mut seq, &mut n, last - index);
                }
            }
            Op::Val(cur, _) => {
                if index != first {
                    seq[n] = val(cur, index - first);
                    n += 1;
                }
                seq[n] = val(count, 1);
                n += 1;
                if index != last {
                    seq[n] = val(cur, last - index);
                    n += 1;
                }
            }
        }
        // Step 3: substitute the new sequence for the old opcode.
        let old_len = op.size();
        if n > old_len && hll.len() + (n - old_len) > sparse_max {
            return promote(hll, index, count);
        }
        // A corrupt HLL may end in half an XZERO: Redis reads the string's
        // terminator as its second byte and, keeping the length arithmetic,
        // drops the last byte of the new sequence. So does this.
        let cut = p + old_len > hll.len();
        if cut {
            hll.push(0);
        }
        hll.splice(p..p + old_len, seq[..n].iter().copied());
        if cut {
            hll.pop();
        }
    }
    // Step 4: merge adjacent VALs of equal value, scanning up to five
    // opcodes from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < hll.len() && scan > 0 {
        scan -= 1;
        match Op::at(hll, p) {
            Op::XZero(_) => {
                p += 2;
                continue;
            }
            Op::Zero(_) => {
                p += 1;
                continue;
            }
            Op::Val(v1, l1) => {
                if p + 1 < hll.len() {
                    if let Op::Val(v2, l2) = Op::at(hll, p + 1) {
                        if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                            hll[p + 1] = val(v1, l1 + l2);
                            hll.remove(p);
                            continue;
                        }
                    }
                }
                p += 1;
            }
        }
    }
    invalidate_cache(hll);
    Ok(true)
}

fn promote(hll: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(hll)?;
    Ok(dense_set(&mut hll[HDR..], index, count))
}

/// Adds an element (Redis's `hllAdd`); true if a register changed.
pub fn add(hll: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set_register(hll, index, count, sparse_max)
}

// ---------------------------------------------------------------------------
// Counting and merging
// ---------------------------------------------------------------------------

/// The register histogram of an HLL; Err for a corrupt sparse one.
fn histogram(hll: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut h = [0u32; 64];
    let body = &hll[HDR..];
    if is_dense(hll) {
        for i in 0..REGISTERS {
            h[usize::from(dense_get(body, i))] += 1;
        }
        return Ok(h);
    }
    walk_checked(body, |_, op| {
        let slot = match op {
            Op::Val(v, _) => usize::from(v),
            _ => 0,
        };
        h[slot] += op.span() as u32;
    })?;
    Ok(h)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator over a register histogram (Redis's `hllCount` tail).
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = 64 - P as usize; // 50
    let mut z = m * tau((m - f64::from(h[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of one valid HLL (ignoring its cache).
pub fn count(hll: &[u8]) -> Result<u64, Corrupt> {
    histogram(hll).map(|h| estimate(&h))
}

/// The estimated cardinality of a register array (PFCOUNT over several keys).
pub fn count_registers(regs: &[u8; REGISTERS]) -> u64 {
    let mut h = [0u32; 64];
    for &r in regs.iter() {
        h[usize::from(r & 63)] += 1;
    }
    estimate(&h)
}

/// Raises `max[i]` to each register of a valid HLL (Redis's `hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], hll: &[u8]) -> Result<(), Corrupt> {
    let body = &hll[HDR..];
    if is_dense(hll) {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(body, i));
        }
        return Ok(());
    }
    sparse_values(body, |r, v| max[r] = max[r].max(v))
}

/// PFDEBUG DECODE's text for a sparse HLL: `z:N`, `Z:N`, `v:VAL,LEN`.
pub fn decode_sparse(hll: &[u8]) -> String {
    let mut out = String::new();
    walk_sparse(&hll[HDR..], |op| {
        if !out.is_empty() {
            out.push(' ');
        }
        let s = match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        };
        out.push_str(&s);
    });
    out
}

/// PFSELFTEST, reduced: every dense register keeps what is written to it
/// (neighbours untouched), and a sparse and a dense HLL fed the same
/// elements agree on every answer, within 5 standard errors of the truth.
pub fn selftest() -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut want = vec![0u8; REGISTERS];
    for round in 0..32u64 {
        for (i, w) in want.iter_mut().enumerate() {
            *w = (crate::rng::next() & u64::from(REGISTER_MAX)) as u8;
            dense_put(&mut regs, i, *w);
        }
        for (i, &w) in want.iter().enumerate() {
            if dense_get(&regs, i) != w {
                return Err(format!("register {i} round {round}"));
            }
        }
    }
    let mut sparse = new_sparse();
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| "conversion".to_string())?;
    let rel_err = 5.0 * 1.04 / (REGISTERS as f64).sqrt();
    for n in 1..=20_000u64 {
        let e = n.to_le_bytes();
        let a = add(&mut sparse, &e, usize::MAX).map_err(|_| "sparse add")?;
        let b = add(&mut dense, &e, usize::MAX).map_err(|_| "dense add")?;
        if a != b {
            return Err(format!("sparse and dense differ at element {n}"));
        }
        if n % 1000 == 0 {
            let (cs, cd) = (count(&sparse), count(&dense));
            let c = cd.map_err(|_| "dense count")?;
            if cs != Ok(c) {
                return Err(format!("counts differ at {n}"));
            }
            if (c as f64 - n as f64).abs() > n as f64 * rel_err {
                return Err(format!("estimate {c} for {n} elements"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn matches_redis_bytes() {
        // PFADD h a b c on Redis 7.0.15, then GET h.
        let mut h = new_sparse();
        for e in [&b"a"[..], b"b", b"c"] {
            assert!(add(&mut h, e, DEFAULT_SPARSE_MAX_BYTES).unwrap());
        }
        invalidate_cache(&mut h);
        assert_eq!(
            h,
            hex("48594c4c01000000000000000000008060f38050b1844bfb80425a")
        );
        assert_eq!(
            decode_sparse(&h),
            "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"
        );
        assert_eq!(count(&h), Ok(3));
    }

    #[test]
    fn empty_and_validity() {
        let h = new_sparse();
        assert_eq!(h.len(), 18);
        assert!(is_valid(&h));
        assert_eq!(cached_count(&h), Some(0));
        assert_eq!(count(&h), Ok(0));
        assert!(!is_valid(
            b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        ));
        assert!(!is_valid(
            b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
        ));
        let mut bad = h.clone();
        bad.truncate(17);
        assert_eq!(count(&bad), Err(Corrupt));
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_sparse();
        let mut d = new_sparse();
        to_dense(&mut d).unwrap();
        assert_eq!(d.len(), DENSE_SIZE);
        for i in 0..5000u32 {
            let e = i.to_string();
            let a = add(&mut s, e.as_bytes(), usize::MAX).unwrap();
            let b = add(&mut d, e.as_bytes(), usize::MAX).unwrap();
            assert_eq!(a, b, "element {i}");
        }
        assert!(!is_dense(&s));
        assert_eq!(count(&s), count(&d));
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, &s).unwrap();
        let mut max2 = [0u8; REGISTERS];
        merge_into(&mut max2, &d).unwrap();
        assert_eq!(max[..], max2[..]);
        assert_eq!(count_registers(&max), count(&d).unwrap());
        let mut s2 = s.clone();
        to_dense(&mut s2).unwrap();
        assert_eq!(s2[HDR..], d[HDR..]);
        let est = count(&d).unwrap() as f64;
        assert!((est - 5000.0).abs() < 5000.0 * 0.05, "{est}");
    }

    #[test]
    fn promotes_at_the_size_limit() {
        let mut h = new_sparse();
        let mut i = 0u32;
        while !is_dense(&h) {
            add(&mut h, i.to_string().as_bytes(), DEFAULT_SPARSE_MAX_BYTES).unwrap();
            assert!(h.len() <= DEFAULT_SPARSE_MAX_BYTES || is_dense(&h));
            i += 1;
        }
        assert_eq!(h.len(), DENSE_SIZE);
    }

    #[test]
    fn self_test_passes() {
        assert_eq!(selftest(), Ok(()));
    }

    #[test]
    fn murmur() {
        // Reference values of MurmurHash64A(seed 0xadc83b19).
        let mut regs: Vec<usize> = [&b"a"[..], b"b", b"c"]
            .iter()
            .map(|e| pattern(e).0)
            .collect();
        regs.sort_unstable();
        assert_eq!(regs, [8436, 12711, 15780]);
        assert_eq!(murmur64a(b"", 0), 0);
    }
}

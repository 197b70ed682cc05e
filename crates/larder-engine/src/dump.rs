//! The DUMP / RESTORE payload: one value in Redis's RDB object encoding.
//!
//! ```text
//!   type byte        RDB_TYPE_* (see rdb/mod.rs)
//!   value            the value as an RDB file holds it (rdb/write.rs)
//!   RDB version      u16 LE; 10 for Redis 7.0
//!   CRC64            u64 LE, CRC-64/Jones (Redis's crc64) of everything before it
//! ```
//!
//! The value encoder and decoder are the RDB file's own (`rdb::write`,
//! `rdb::read`), so every type DUMPs the way Redis 7.0 DUMPs it (strings
//! LZF-compressed over 20 bytes when `rdbcompression` is on, small hashes
//! and sorted sets as listpacks, lists as quicklists of listpacks, ...) and
//! every payload Redis 7.0 or older produces RESTOREs here. Like Redis, the
//! value is parsed from the whole payload (the footer included), and
//! lengths are checked against the bytes present before anything is
//! allocated. This module also owns the CRC64 shared with RDB files, and
//! FUNCTION DUMP / RESTORE's payload: FUNCTION2 records (opcode 245 + the
//! library's code as an RDB string) followed by the same footer.

use crc::{Crc, Digest, Table, CRC_64_REDIS};

use crate::config::Limits;
use crate::entry::EntryRef;
pub use crate::rdb::read::Loaded as Restored;
use crate::rdb::read::{load_value, Input};
pub use crate::rdb::RDB_VERSION;

const FOOTER: usize = 10;

static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// A running CRC64 (RDB files are checksummed as they stream).
pub type Crc64Digest = Digest<'static, u64, Table<16>>;

/// Redis's crc64(0, bytes).
pub fn crc64(bytes: &[u8]) -> u64 {
    CRC64.checksum(bytes)
}

pub fn crc64_digest() -> Crc64Digest {
    CRC64.digest()
}

/// Why a payload was refused; the texts are Redis's RESTORE errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    #[error("Bad data format")]
    BadFormat,
}

/// Appends the DUMP payload of an entry's value to `out`.
pub fn serialize(e: EntryRef<'_>, compress: bool, list_fill: i32, out: &mut Vec<u8>) {
    crate::rdb::write::dump_payload(out, e, compress, list_fill);
}

/// verifyDumpPayload: at least a footer, a version Redis 7.0 can read, and a
/// matching checksum.
pub fn verify(payload: &[u8]) -> Result<(), DumpError> {
    verify_with(payload, true)
}

/// [`verify`]; `check_crc` false skips the checksum (Redis's DEBUG
/// SET-SKIP-CHECKSUM-VALIDATION).
pub fn verify_with(payload: &[u8], check_crc: bool) -> Result<(), DumpError> {
    if payload.len() < FOOTER {
        return Err(DumpError::VersionOrChecksum);
    }
    let footer = &payload[payload.len() - FOOTER..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(DumpError::VersionOrChecksum);
    }
    let crc = || crc64(&payload[..payload.len() - 8]);
    if check_crc && crc().to_le_bytes() != footer[2..] {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(())
}

/// Reads the value of a payload already checked by [`verify`], building
/// collections under the encoding limits `lim`.
pub fn deserialize(payload: &[u8], lim: &Limits) -> Result<Restored, DumpError> {
    let mut inp = Input::new(payload, payload.len() as u64, false);
    let ty = inp.byte().map_err(|_| DumpError::BadFormat)?;
    load_value(&mut inp, ty, lim).map_err(|_| DumpError::BadFormat)
}

/// FUNCTION DUMP: each library as FUNCTION2 + code, then the footer.
pub fn serialize_functions(codes: &[std::sync::Arc<[u8]>], compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    crate::rdb::write::save_functions(&mut out, codes, compress);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// FUNCTION RESTORE's reading of a payload: the libraries' code, or
/// Redis's error text.
pub fn deserialize_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    verify(payload).map_err(|_| "DUMP payload version or checksum are wrong")?;
    // As Redis, records are read from the whole payload (a last string may
    // run into the footer) while they start before it.
    let end = (payload.len() - FOOTER) as u64;
    let mut inp = Input::new(payload, payload.len() as u64, false);
    let mut codes = Vec::new();
    while inp.offset() < end {
        let ty = inp.byte().map_err(|_| "can not read data type")?;
        if ty != crate::rdb::opcodes::FUNCTION2 && ty != crate::rdb::opcodes::FUNCTION_PRE_GA {
            return Err("given type is not a function");
        }
        if ty == crate::rdb::opcodes::FUNCTION_PRE_GA {
            return Err("Pre-GA function format not supported");
        }
        codes.push(inp.bytes().map_err(|_| "Failed loading library payload")?);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, StrValue};
    use crate::object::Object;
    use crate::types::{hash::Hash, list::End, list::List, set::Set, zset::ZSet};

    fn dump_entry(e: &Entry) -> Vec<u8> {
        let mut out = Vec::new();
        serialize(e.as_ref(), true, -2, &mut out);
        out
    }

    fn dump(v: StrValue<'_>) -> Vec<u8> {
        dump_entry(&Entry::new(b"k", v, 0, 0))
    }

    fn restore(p: &[u8]) -> Result<Restored, DumpError> {
        verify(p)?;
        deserialize(p, &Limits::default())
    }

    fn bytes_of(r: Restored) -> Vec<u8> {
        match r {
            Restored::Int(i) => i.to_string().into_bytes(),
            Restored::Bytes(b) => b,
            Restored::Object(o) => panic!("not a string: {o:?}"),
        }
    }

    #[test]
    fn crc64_is_jones() {
        // Redis's crc64 self-test value.
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn matches_redis_7_payloads() {
        // Captured from redis-server 7.0.15: SET foo bar; DUMP foo.
        assert_eq!(
            dump(StrValue::Auto(b"bar")),
            b"\x00\x03bar\x0a\x00\xe6\xbe\x49\x60\xee\x66\xfd\x17"
        );
        // SET n 12345; DUMP n (an int16 encoding).
        assert_eq!(
            dump(StrValue::Int(12345)),
            b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9"
        );
        assert_eq!(dump(StrValue::Raw(b"12345")), dump(StrValue::Int(12345)));
    }

    #[test]
    fn strings_round_trip() {
        for i in [
            0,
            -1,
            127,
            -128,
            40000,
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ] {
            let back = restore(&dump(StrValue::Int(i))).unwrap();
            assert_eq!(bytes_of(back), i.to_string().into_bytes());
        }
        for len in [0usize, 1, 11, 21, 63, 64, 16383, 16384, 70_000] {
            let v: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let back = restore(&dump(StrValue::Raw(&v))).unwrap();
            assert_eq!(bytes_of(back), v);
            // Compressible text goes through LZF.
            let t = vec![b'z'; len];
            let p = dump(StrValue::Raw(&t));
            if len > 20 {
                assert_eq!(p[1], 0xC3);
            }
            assert_eq!(bytes_of(restore(&p).unwrap()), t);
        }
        for s in [&b"007"[..], b"+1", b"-0", b" 1"] {
            assert_eq!(bytes_of(restore(&dump(StrValue::Raw(s))).unwrap()), s);
        }
    }

    fn obj_round_trip(o: Object) -> Object {
        let p = dump_entry(&Entry::new_object(b"k", o, 0, 0));
        match restore(&p).unwrap() {
            Restored::Object(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn collections_round_trip_in_both_encodings() {
        let lim = Limits::default();
        for n in [1usize, 5, 600, 3000] {
            let mut l = List::new();
            let mut h = Hash::new();
            let mut s = Set::new_for(b"1");
            let mut strs = Set::new_for(b"x");
            let mut z = ZSet::new();
            for i in 0..n {
                let m = format!("m{i}");
                l.push(End::Tail, m.as_bytes(), -2);
                l.push(End::Tail, i.to_string().as_bytes(), -2);
                h.set(m.as_bytes(), i.to_string().as_bytes(), &lim);
                s.add(i.to_string().as_bytes(), &lim);
                strs.add(m.as_bytes(), &lim);
                let score = if i % 3 == 0 { i as f64 } else { i as f64 / 7.0 };
                z.add(m.as_bytes(), score, Default::default(), &lim)
                    .unwrap();
            }
            let Object::List(l2) = obj_round_trip(Object::List(l.clone())) else {
                panic!()
            };
            assert!(l2.iter().eq(l.iter()));
            let Object::Hash(h2) = obj_round_trip(Object::Hash(h.clone())) else {
                panic!()
            };
            assert_eq!(h2.encoding(), h.encoding());
            let mut a: Vec<_> = h.pairs().collect();
            let mut b: Vec<_> = h2.pairs().collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
            for set in [s, strs] {
                let Object::Set(s2) = obj_round_trip(Object::Set(set.clone())) else {
                    panic!()
                };
                assert_eq!(s2.encoding(), set.encoding());
                let (mut a, mut b) = (set.members(), s2.members());
                a.sort();
                b.sort();
                assert_eq!(a, b);
            }
            let Object::ZSet(z2) = obj_round_trip(Object::ZSet(z.clone())) else {
                panic!()
            };
            assert_eq!(z2.encoding(), z.encoding());
            assert!(z2.iter().eq(z.iter()));
        }
    }

    fn with_footer(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn reads_lzf_and_long_lengths() {
        let body = b"\x00\xc3\x05\x0a\x00a\xe0\x00\x00";
        assert_eq!(
            bytes_of(restore(&with_footer(body)).unwrap()),
            b"aaaaaaaaaa"
        );
        let bad = b"\x00\xc3\x05\x0b\x00a\xe0\x00\x00";
        assert_eq!(restore(&with_footer(bad)).err(), Some(DumpError::BadFormat));
        let body = b"\x00\x80\x00\x00\x00\x02hi";
        assert_eq!(bytes_of(restore(&with_footer(body)).unwrap()), b"hi");
    }

    #[test]
    fn refuses_corrupt_payloads() {
        let mut p = dump(StrValue::Auto(b"hello"));
        assert_eq!(verify(&p[..9]), Err(DumpError::VersionOrChecksum));
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(verify(&p), Err(DumpError::VersionOrChecksum));
        // A newer RDB version is refused even with a good checksum.
        let mut body = vec![0u8, 1, b'x'];
        body.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(verify(&body), Err(DumpError::VersionOrChecksum));
        for b in [
            &b"\x08\x01x"[..],
            b"\x00\xc4",
            b"\x00\x82",
            b"\x00\x81\xff\xff\xff\xff\xff\xff\xff\xff",
            // A set claiming 2^62 members, a list of one missing node.
            b"\x02\x81\x40\x00\x00\x00\x00\x00\x00\x00",
            b"\x12\x01\x02",
            // An empty hash.
            b"\x04\x00",
            // A truncated stream.
            b"\x13\x00",
        ] {
            let p = with_footer(b);
            verify(&p).unwrap();
            assert_eq!(restore(&p).err(), Some(DumpError::BadFormat), "{b:?}");
        }
        // A huge claimed LZF size is refused without allocating it.
        let p = with_footer(b"\x00\xc3\x01\x81\x7f\xff\xff\xff\xff\xff\xff\xff\x00");
        assert_eq!(restore(&p).err(), Some(DumpError::BadFormat));
    }
}

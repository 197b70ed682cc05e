//! The DUMP / RESTORE payload: one value in Redis's RDB object encoding.
//!
//! ```text
//!   type byte        0 = RDB_TYPE_STRING (the only value type so far)
//!   value            a string in one of RDB's string encodings:
//!                      length + bytes     length is 1, 2, 5 or 9 bytes (6-bit,
//!                                         14-bit, 0x80 + u32 BE, 0x81 + u64 BE)
//!                      0xC0 i8 | 0xC1 i16 LE | 0xC2 i32 LE   integer encodings
//!                      0xC3 clen len data                     LZF-compressed
//!   RDB version      u16 LE; 10 for Redis 7.0
//!   CRC64            u64 LE, CRC-64/Jones (Redis's crc64) of everything before it
//! ```
//!
//! Serializing follows `rdbSaveObject` for strings byte for byte, except that
//! Larder never LZF-compresses (Redis compresses strings over 20 bytes when
//! `rdbcompression` is on, with a hash table it leaves uninitialised, so even
//! its own output is not reproducible). Deserializing accepts every string
//! encoding, LZF included, so a payload DUMPed by Redis RESTOREs here and one
//! DUMPed here RESTOREs into Redis. Like Redis, the value is parsed from the
//! whole payload (the footer included), and lengths are checked against the
//! bytes present before anything is allocated.

use crc::{Crc, CRC_64_REDIS};

use crate::entry::StrRef;

/// The RDB version written into payloads (Redis 7.0's RDB_VERSION).
pub const RDB_VERSION: u16 = 10;

const TYPE_STRING: u8 = 0;
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;
const LEN_32: u8 = 0x80;
const LEN_64: u8 = 0x81;
const FOOTER: usize = 10;

const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// Redis's crc64(0, bytes).
pub fn crc64(bytes: &[u8]) -> u64 {
    CRC64.checksum(bytes)
}

/// Why a payload was refused; the texts are Redis's RESTORE errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    #[error("Bad data format")]
    BadFormat,
}

/// A value read back from a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// An integer encoding (stored `int`, as Redis does).
    Int(i64),
    /// Bytes (stored with the usual int/embstr/raw choice).
    Bytes(Vec<u8>),
}

/// Appends the DUMP payload of a string value to `out`.
pub fn serialize_string(v: StrRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(TYPE_STRING);
    match v {
        StrRef::Int(i) => {
            if !encode_int(i, out) {
                save_bytes(itoa::Buffer::new().format(i).as_bytes(), out);
            }
        }
        StrRef::Bytes(b) => {
            // rdbSaveRawString: short canonical integers take an integer encoding.
            let as_int = (b.len() <= 11)
                .then(|| crate::entry::parse_canonical_i64(b))
                .flatten();
            if !as_int.is_some_and(|i| encode_int(i, out)) {
                save_bytes(b, out);
            }
        }
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// rdbEncodeInteger: false when `i` needs more than 32 bits.
fn encode_int(i: i64, out: &mut Vec<u8>) -> bool {
    let enc = |e: u8| 0xC0 | e;
    if let Ok(v) = i8::try_from(i) {
        out.extend_from_slice(&[enc(ENC_INT8), v as u8]);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(enc(ENC_INT16));
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(enc(ENC_INT32));
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

fn save_bytes(b: &[u8], out: &mut Vec<u8>) {
    save_len(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// rdbSaveLen.
fn save_len(len: u64, out: &mut Vec<u8>) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if let Ok(l) = u32::try_from(len) {
        out.push(LEN_32);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(LEN_64);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// verifyDumpPayload: at least a footer, a version Redis 7.0 can read, and a
/// matching checksum.
pub fn verify(payload: &[u8]) -> Result<(), DumpError> {
    if payload.len() < FOOTER {
        return Err(DumpError::VersionOrChecksum);
    }
    let footer = &payload[payload.len() - FOOTER..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(DumpError::VersionOrChecksum);
    }
    let crc = crc64(&payload[..payload.len() - 8]);
    if crc.to_le_bytes() != footer[2..] {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(())
}

/// Reads the value of a payload already checked by [`verify`].
pub fn deserialize(payload: &[u8]) -> Result<Restored, DumpError> {
    let mut r = Reader { buf: payload };
    match r.byte()? {
        TYPE_STRING => r.string(),
        _ => Err(DumpError::BadFormat),
    }
}

/// A cursor over the payload, as Redis's rio over a buffer.
struct Reader<'a> {
    buf: &'a [u8],
}

/// What rdbLoadLen found: a length, or the code of a special encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], DumpError> {
        let n = usize::try_from(n).map_err(|_| DumpError::BadFormat)?;
        if n > self.buf.len() {
            return Err(DumpError::BadFormat);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DumpError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DumpError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64)?);
        Ok(a)
    }

    fn len(&mut self) -> Result<Len, DumpError> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.byte()?)),
            3 => Len::Encoded(b & 0x3f),
            _ if b == LEN_32 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
            _ if b == LEN_64 => Len::Plain(u64::from_be_bytes(self.array()?)),
            _ => return Err(DumpError::BadFormat),
        })
    }

    /// rdbLoadLen without `isencoded`: an encoding byte reads as its low 6 bits.
    fn plain_len(&mut self) -> Result<u64, DumpError> {
        match self.len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(n) => Ok(u64::from(n)),
        }
    }

    /// rdbGenericLoadStringObject.
    fn string(&mut self) -> Result<Restored, DumpError> {
        match self.len()? {
            Len::Plain(n) => Ok(Restored::Bytes(self.take(n)?.to_vec())),
            Len::Encoded(ENC_INT8) => Ok(Restored::Int(i64::from(self.byte()? as i8))),
            Len::Encoded(ENC_INT16) => {
                Ok(Restored::Int(i64::from(i16::from_le_bytes(self.array()?))))
            }
            Len::Encoded(ENC_INT32) => {
                Ok(Restored::Int(i64::from(i32::from_le_bytes(self.array()?))))
            }
            Len::Encoded(ENC_LZF) => {
                let clen = self.plain_len()?;
                let len = self.plain_len()?;
                let compressed = self.take(clen)?;
                lzf_decompress(compressed, len).map(Restored::Bytes)
            }
            Len::Encoded(_) => Err(DumpError::BadFormat),
        }
    }
}

/// liblzf's decompressor; fails unless the output is exactly `len` bytes.
fn lzf_decompress(input: &[u8], len: u64) -> Result<Vec<u8>, DumpError> {
    // A back reference of 3 bytes expands to at most 264: anything claiming
    // more than that ratio is corrupt, and is refused before allocating.
    let max = (input.len() as u64).saturating_mul(88);
    if len > max {
        return Err(DumpError::BadFormat);
    }
    let len = len as usize;
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or(DumpError::BadFormat)?;
            if out.len() + run > len {
                return Err(DumpError::BadFormat);
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            // A back reference: length in the top 3 bits (7 = one more byte).
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(i).ok_or(DumpError::BadFormat)?);
                i += 1;
            }
            run += 2;
            let low = usize::from(*input.get(i).ok_or(DumpError::BadFormat)?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() || out.len() + run > len {
                return Err(DumpError::BadFormat);
            }
            let from = out.len() - back;
            // Byte by byte: the source may overlap what is being written.
            for k in 0..run {
                let c = out[from + k];
                out.push(c);
            }
        }
    }
    if out.len() == len {
        Ok(out)
    } else {
        Err(DumpError::BadFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(v: StrRef<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        serialize_string(v, &mut out);
        out
    }

    fn round_trip(v: StrRef<'_>) -> Restored {
        let p = dump(v);
        verify(&p).unwrap();
        deserialize(&p).unwrap()
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
            dump(StrRef::Bytes(b"bar")),
            b"\x00\x03bar\x0a\x00\xe6\xbe\x49\x60\xee\x66\xfd\x17"
        );
        // SET n 12345; DUMP n (an int16 encoding).
        assert_eq!(
            dump(StrRef::Int(12345)),
            b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9"
        );
        // A short canonical integer stored as bytes takes the same encoding.
        assert_eq!(dump(StrRef::Bytes(b"12345")), dump(StrRef::Int(12345)));
    }

    #[test]
    fn encodings_round_trip() {
        for i in [
            0,
            -1,
            127,
            -128,
            128,
            -129,
            32767,
            -32768,
            40000,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ] {
            let back = round_trip(StrRef::Int(i));
            let expect_int = i32::try_from(i).is_ok();
            match back {
                Restored::Int(v) => assert!(expect_int && v == i),
                Restored::Bytes(b) => {
                    assert!(!expect_int);
                    assert_eq!(b, i.to_string().into_bytes());
                }
            }
        }
        for len in [0usize, 1, 11, 63, 64, 16383, 16384, 70_000] {
            let v: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(round_trip(StrRef::Bytes(&v)), Restored::Bytes(v.clone()));
        }
        // Non-canonical numbers stay bytes.
        for s in [&b"007"[..], b"+1", b"-0", b" 1"] {
            assert_eq!(round_trip(StrRef::Bytes(s)), Restored::Bytes(s.to_vec()));
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
        // "aaaaaaaaaa" as liblzf writes it: literal "a", back reference 8 at 1, ...
        let body = b"\x00\xc3\x05\x0a\x00a\xe0\x00\x00";
        // ctrl 0xe0 = run 7 + next byte 0 -> 9 bytes, offset 1: "a" + 9 x "a".
        assert_eq!(
            deserialize(&with_footer(body)).unwrap(),
            Restored::Bytes(b"aaaaaaaaaa".to_vec())
        );
        // Wrong uncompressed length.
        let bad = b"\x00\xc3\x05\x0b\x00a\xe0\x00\x00";
        assert_eq!(deserialize(&with_footer(bad)), Err(DumpError::BadFormat));
        // A 32-bit length prefix for a short string is still valid input.
        let body = b"\x00\x80\x00\x00\x00\x02hi";
        assert_eq!(
            deserialize(&with_footer(body)).unwrap(),
            Restored::Bytes(b"hi".to_vec())
        );
    }

    #[test]
    fn refuses_corrupt_payloads() {
        let mut p = dump(StrRef::Bytes(b"hello"));
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
        // Unknown type, bad length encodings, lengths past the end.
        for b in [
            &b"\x05\x01x"[..],
            b"\x00\xc4",
            b"\x00\x82",
            b"\x00\x81\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            let p = with_footer(b);
            verify(&p).unwrap();
            assert_eq!(deserialize(&p), Err(DumpError::BadFormat), "{b:?}");
        }
        // A huge claimed LZF size is refused without allocating it.
        let p = with_footer(b"\x00\xc3\x01\x81\x7f\xff\xff\xff\xff\xff\xff\xff\x00");
        assert_eq!(deserialize(&p), Err(DumpError::BadFormat));
    }
}

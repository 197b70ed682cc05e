//! RDB encoders: everything [`rdbSaveObject`] and friends write, into a
//! `Vec<u8>`, plus [`RdbSink`], the checksumming stream a file is written
//! through.
//!
//! Each call appends to a caller's buffer (no allocation per string beyond
//! the buffer's growth; LZF compresses straight into it and rolls back when
//! the result would not be at least 4 bytes shorter, as Redis does).

use std::io::{self, Write};

use super::lzf;
use super::packed::{intset_blob, ListpackWriter};
use super::{opcodes, types, QUICKLIST_PACKED, RDB_VERSION};
use crate::access;
use crate::entry::{parse_canonical_i64, EntryRef, StrRef};
use crate::evict::{Policy, Rank};
use crate::object::Object;
use crate::types::{hash::Hash, list::List, set::Set, zset::ZSet};

/// What a writer needs to know beyond the values.
#[derive(Clone, Debug)]
pub struct RdbOptions {
    /// `rdbcompression`: LZF strings over 20 bytes.
    pub compress: bool,
    /// `rdbchecksum`: a CRC64 trailer (0 when off, as Redis writes).
    pub checksum: bool,
    /// The `aof-base` AUX field (an RDB preamble of an AOF base file).
    pub aof_base: bool,
    /// IDLE opcodes under an LRU policy, FREQ under an LFU one.
    pub policy: Policy,
    pub lfu_decay_time: u32,
    /// `list-max-listpack-size`, for the node size of lists.
    pub list_fill: i32,
    /// The `used-mem` AUX field.
    pub used_mem: u64,
    /// The `redis-ver` AUX field.
    pub redis_ver: &'static str,
    /// Function libraries' code (opaque to the engine), written after the
    /// AUX fields as FUNCTION2 records.
    pub functions: Vec<std::sync::Arc<[u8]>>,
    /// Whether the keys are written (not for a replica's `REPLCONF
    /// rdb-filter-only`).
    pub keys: bool,
}

impl Default for RdbOptions {
    fn default() -> Self {
        RdbOptions {
            compress: true,
            checksum: true,
            aof_base: false,
            policy: Policy::NoEviction,
            lfu_decay_time: 1,
            list_fill: -2,
            used_mem: 0,
            redis_ver: "7.0.15",
            functions: Vec::new(),
            keys: true,
        }
    }
}

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// rdbSaveLen.
pub fn save_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if let Ok(l) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// rdbEncodeInteger: false when `i` needs more than 32 bits.
fn save_int(out: &mut Vec<u8>, i: i64) -> bool {
    if let Ok(v) = i8::try_from(i) {
        out.extend_from_slice(&[0xC0 | ENC_INT8, v as u8]);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// rdbSaveRawString: an integer encoding for short canonical integers,
/// LZF for strings over 20 bytes when `compress`, else length + bytes.
pub fn save_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(i) = parse_canonical_i64(s) {
            if save_int(out, i) {
                return;
            }
        }
    }
    if compress && s.len() > 20 && save_lzf(out, s) {
        return;
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// rdbSaveLzfStringObject: false if it does not save at least 4 bytes.
fn save_lzf(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let mut body = Vec::with_capacity(s.len());
    if !lzf::compress(s, &mut body, s.len() - 4) {
        return false;
    }
    out.push(0xC0 | ENC_LZF);
    save_len(out, body.len() as u64);
    save_len(out, s.len() as u64);
    out.extend_from_slice(&body);
    true
}

/// rdbSaveStringObject for a stored string value.
pub fn save_str_value(out: &mut Vec<u8>, v: StrRef<'_>, compress: bool) {
    match v {
        StrRef::Int(i) => {
            if !save_int(out, i) {
                save_len(out, itoa::Buffer::new().format(i).len() as u64);
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            }
        }
        StrRef::Bytes(b) => save_string(out, b, compress),
    }
}

/// The RDB type a value is written as (rdbSaveObjectType).
pub fn value_type(e: EntryRef<'_>) -> u8 {
    match e.object() {
        None => types::STRING,
        Some(Object::List(_)) => types::LIST_QUICKLIST_2,
        Some(Object::Hash(Hash::Pack(_))) => types::HASH_LISTPACK,
        Some(Object::Hash(Hash::Table(_))) => types::HASH,
        Some(Object::Set(Set::Ints(_))) => types::SET_INTSET,
        Some(Object::Set(Set::Table(_))) => types::SET,
        Some(Object::ZSet(ZSet::Pack(_))) => types::ZSET_LISTPACK,
        Some(Object::ZSet(ZSet::Tree(_))) => types::ZSET_2,
        Some(Object::Stream(_)) => types::STREAM_LISTPACKS_2,
    }
}

/// The value in the encoding [`value_type`] names (rdbSaveObject).
pub fn save_value(out: &mut Vec<u8>, e: EntryRef<'_>, compress: bool, list_fill: i32) {
    match e.object() {
        None => save_str_value(out, e.value(), compress),
        Some(Object::List(l)) => save_list(out, l, compress, list_fill),
        Some(Object::Hash(h)) => save_hash(out, h, compress),
        Some(Object::Set(s)) => save_set(out, s, compress),
        Some(Object::ZSet(z)) => save_zset(out, z, compress),
        Some(Object::Stream(s)) => crate::types::stream_rdb::save(out, s, compress),
    }
}

/// Whether a list node of `bytes` bytes and `count` entries is within
/// `list-max-listpack-size` (quicklist's rule).
fn node_fits(fill: i32, bytes: usize, count: usize) -> bool {
    const LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    if fill < 0 {
        bytes <= LEVELS[((-(fill as i64) - 1) as usize).min(LEVELS.len() - 1)]
    } else {
        bytes <= 8192 && count <= fill as usize
    }
}

/// QUICKLIST_2: listpack nodes cut where a quicklist would cut them.
fn save_list(out: &mut Vec<u8>, l: &List, compress: bool, fill: i32) {
    let mut nodes = Vec::new();
    let mut w = ListpackWriter::default();
    for item in l.iter() {
        // quicklist's estimate: listpack bytes (with its end byte) + item + 8.
        if !w.is_empty() && !node_fits(fill, w.len() + 1 + item.len() + 8, w.count() + 1) {
            nodes.push(w.finish());
        }
        w.push(item);
    }
    if !w.is_empty() {
        nodes.push(w.finish());
    }
    save_len(out, nodes.len() as u64);
    for n in &nodes {
        save_len(out, QUICKLIST_PACKED);
        save_string(out, n, compress);
    }
}

fn save_hash(out: &mut Vec<u8>, h: &Hash, compress: bool) {
    match h {
        Hash::Pack(_) => {
            let mut w = ListpackWriter::default();
            for (f, v) in h.pairs() {
                w.push(f);
                w.push(v);
            }
            save_string(out, &w.finish(), compress);
        }
        Hash::Table(_) => {
            save_len(out, h.len() as u64);
            for (f, v) in h.pairs() {
                save_string(out, f, compress);
                save_string(out, v, compress);
            }
        }
    }
}

fn save_set(out: &mut Vec<u8>, s: &Set, compress: bool) {
    match s {
        Set::Ints(i) => {
            let vals: Vec<i64> = i.iter().collect();
            save_string(out, &intset_blob(&vals), compress);
        }
        Set::Table(_) => {
            save_len(out, s.len() as u64);
            s.for_each(|m| save_string(out, m, compress));
        }
    }
}

/// A score as a packed sorted set holds it (Redis 7.0's d2string): an
/// integer when integral within 2^52, else `%.17g` text (`inf`, `-inf`).
fn push_score(w: &mut ListpackWriter, s: f64) {
    const LIMIT: f64 = 4_503_599_627_370_496.0;
    if s > -LIMIT && s < LIMIT && s == s.trunc() {
        w.push_int(s as i64);
    } else {
        let mut text = Vec::with_capacity(24);
        larder_resp::number::fmt_double_g17(s, &mut text);
        w.push_str(&text);
    }
}

fn save_zset(out: &mut Vec<u8>, z: &ZSet, compress: bool) {
    match z {
        ZSet::Pack(_) => {
            let mut w = ListpackWriter::default();
            for (m, s) in z.iter() {
                w.push(m);
                push_score(&mut w, s);
            }
            save_string(out, &w.finish(), compress);
        }
        ZSet::Tree(_) => {
            // Tail to head, as Redis writes it (its loader then inserts at
            // the head of its skiplist every time; ours sorts first).
            save_len(out, z.len() as u64);
            let mut all: Vec<(&[u8], f64)> = z.iter().collect();
            all.reverse();
            for (m, s) in all {
                save_string(out, m, compress);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
}

/// Where the file's data stand in a replication history (Redis's
/// `repl-stream-db`, `repl-id` and `repl-offset` AUX fields): a replica
/// restarted from the file resumes from there with a partial resync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplAux {
    /// The database the stream had selected at `offset`.
    pub stream_db: usize,
    pub id: String,
    pub offset: i64,
}

/// The file header: magic and version, then Redis 7.0's AUX fields.
pub fn save_header(out: &mut Vec<u8>, o: &RdbOptions, ctime_secs: u64, repl: Option<&ReplAux>) {
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    let mut aux = |k: &str, v: &[u8]| {
        out.push(opcodes::AUX);
        save_string(out, k.as_bytes(), false);
        save_string(out, v, false);
    };
    let mut buf = itoa::Buffer::new();
    aux("redis-ver", o.redis_ver.as_bytes());
    aux("redis-bits", b"64");
    aux("ctime", buf.format(ctime_secs).as_bytes());
    aux("used-mem", buf.format(o.used_mem).as_bytes());
    if let Some(r) = repl {
        aux("repl-stream-db", buf.format(r.stream_db).as_bytes());
        aux("repl-id", r.id.as_bytes());
        aux("repl-offset", buf.format(r.offset).as_bytes());
    }
    aux("aof-base", if o.aof_base { b"1" } else { b"0" });
    save_functions(out, &o.functions, o.compress);
}

/// rdbSaveFunctions: each library's code as FUNCTION2 + string.
pub fn save_functions(out: &mut Vec<u8>, codes: &[std::sync::Arc<[u8]>], compress: bool) {
    for code in codes {
        out.push(opcodes::FUNCTION2);
        save_string(out, code, compress);
    }
}

pub fn save_selectdb(out: &mut Vec<u8>, db: usize) {
    out.push(opcodes::SELECTDB);
    save_len(out, db as u64);
}

pub fn save_resizedb(out: &mut Vec<u8>, keys: usize, expires: usize) {
    out.push(opcodes::RESIZEDB);
    save_len(out, keys as u64);
    save_len(out, expires as u64);
}

/// rdbSaveKeyValuePair: expiry, IDLE or FREQ per the policy, type, key,
/// value; a memcached item's durable trailer first, as an AUX field.
pub fn save_pair(out: &mut Vec<u8>, e: EntryRef<'_>, o: &RdbOptions, now_ms: u64) {
    if let Some(m) = e.mc().filter(|m| m.is_durable()) {
        // "<u32> <u8>": at most 14 bytes, formatted on the stack.
        let mut v = [0u8; 16];
        let mut w = &mut v[..];
        let _ = write!(w, "{} {}", m.flags, m.bits);
        let n = 16 - w.len();
        out.push(opcodes::AUX);
        save_string(out, super::MC_AUX, false);
        save_string(out, &v[..n], false);
    }
    if e.expire_at() != 0 {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&e.expire_at().to_le_bytes());
    }
    let lru_now = access::lru_clock(now_ms);
    match o.policy.rank() {
        Some(Rank::Lru) => {
            out.push(opcodes::IDLE);
            let idle = access::elapsed(lru_now, access::clock_of(e.access()));
            save_len(out, u64::from(idle));
        }
        Some(Rank::Lfu) => {
            out.push(opcodes::FREQ);
            out.push(access::lfu_decayed(e.access(), lru_now, o.lfu_decay_time));
        }
        _ => {}
    }
    out.push(value_type(e));
    save_string(out, e.key(), o.compress);
    save_value(out, e, o.compress, o.list_fill);
}

/// A DUMP payload: type, value, RDB version, CRC64 of all of it.
pub fn dump_payload(out: &mut Vec<u8>, e: EntryRef<'_>, compress: bool, list_fill: i32) {
    let start = out.len();
    out.push(value_type(e));
    save_value(out, e, compress, list_fill);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crate::dump::crc64(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The output stream of a file: counts bytes, keeps the running CRC64,
/// and ends the file with EOF and the checksum.
pub struct RdbSink<W: Write> {
    w: W,
    crc: crate::dump::Crc64Digest,
    checksum: bool,
    bytes: u64,
}

impl<W: Write> RdbSink<W> {
    pub fn new(w: W, checksum: bool) -> RdbSink<W> {
        RdbSink {
            w,
            crc: crate::dump::crc64_digest(),
            checksum,
            bytes: 0,
        }
    }

    pub fn write(&mut self, b: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc.update(b);
        }
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes EOF and the checksum, flushes, and hands the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.write(&[opcodes::EOF])?;
        let crc = if self.checksum {
            self.crc.finalize()
        } else {
            0
        };
        self.w.write_all(&crc.to_le_bytes())?;
        self.bytes += 8;
        self.w.flush()?;
        Ok(self.w)
    }
}

//! Reading RDB: a bounded, checksumming input, the value decoders, and the
//! whole-file loader.
//!
//! [`Input`] reads any `io::Read` through a 64 KB buffer, knows the total
//! length of the input (so a length field is checked against the bytes that
//! are left before anything is allocated) and folds consumed bytes into the
//! CRC64 a buffer at a time. Values decode into Larder objects through the
//! types' own APIs, so they take the encodings Larder (and Redis) would give
//! them under the current `*-max-listpack-*` limits; every type Redis 7.0
//! writes is read, plus 7.0's older forms (ziplists, zipmaps, plain lists)
//! and 7.2's SET_LISTPACK and STREAM_LISTPACKS_3. Module values are refused with the
//! key's name; FUNCTION2 libraries are returned in the report as opaque
//! code, for the server to compile.

use std::io::Read;

use super::packed::{intset_values, listpack_for_each, ziplist_for_each, zipmap_for_each, Item};
use super::RDB_VERSION_MAX_READ;
use super::{lzf, opcodes, types, RdbError, QUICKLIST_PACKED, QUICKLIST_PLAIN};
use crate::config::Limits;
use crate::entry::{Entry, StrValue};
use crate::keyspace::Engine;
use crate::object::Object;
use crate::txn::Lookup;
use crate::types::dict::{Blob, BlobDict};
use crate::types::{hash::Hash, list::End, list::List, set::Set, zset::ZSet};

type Result<T> = std::result::Result<T, RdbError>;

const BUF: usize = 64 * 1024;

/// A value read from RDB.
#[derive(Clone, Debug)]
pub enum Loaded {
    /// A string in an integer encoding (stored `int`, as Redis does).
    Int(i64),
    /// A string (stored with the usual int/embstr/raw choice).
    Bytes(Vec<u8>),
    Object(Object),
}

/// Buffered, bounded, checksumming reader (see the module comment).
pub struct Input<R: Read> {
    r: R,
    buf: Box<[u8]>,
    lo: usize,
    hi: usize,
    /// Input offset of `buf[0]`.
    base: u64,
    /// Total input length.
    limit: u64,
    crc: Option<crate::dump::Crc64Digest>,
    /// `buf[..crc_at]` is already in the checksum.
    crc_at: usize,
}

/// A string as read: integer encodings stay integers.
enum Str {
    Int(i64),
    Bytes(Vec<u8>),
}

/// What rdbLoadLen found: a length, or the code of a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> Input<R> {
    /// Reads `r`, which holds `limit` bytes; `checksum` keeps the CRC64.
    pub fn new(r: R, limit: u64, checksum: bool) -> Input<R> {
        Input {
            r,
            buf: vec![0; BUF].into_boxed_slice(),
            lo: 0,
            hi: 0,
            base: 0,
            limit,
            crc: checksum.then(crate::dump::crc64_digest),
            crc_at: 0,
        }
    }

    pub fn offset(&self) -> u64 {
        self.base + self.lo as u64
    }

    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.offset())
    }

    pub fn err(&self, msg: impl Into<String>) -> RdbError {
        RdbError::new(self.offset(), msg)
    }

    fn fold_crc(&mut self) {
        if let Some(c) = &mut self.crc {
            c.update(&self.buf[self.crc_at..self.lo]);
        }
        self.crc_at = self.lo;
    }

    /// The CRC64 of everything consumed so far.
    pub fn crc(&mut self) -> u64 {
        self.fold_crc();
        self.crc.clone().map_or(0, |c| c.finalize())
    }

    /// Makes `n` (≤ the buffer) bytes available at `lo`.
    fn ensure(&mut self, n: usize) -> Result<()> {
        if self.hi - self.lo >= n {
            return Ok(());
        }
        if n as u64 > self.remaining() {
            return Err(self.err("unexpected end of file"));
        }
        self.fold_crc();
        self.buf.copy_within(self.lo..self.hi, 0);
        self.base += self.lo as u64;
        self.hi -= self.lo;
        self.lo = 0;
        self.crc_at = 0;
        while self.hi < n {
            match self.r.read(&mut self.buf[self.hi..]) {
                Ok(0) => return Err(self.err("unexpected end of file")),
                Ok(k) => self.hi += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(format!("read error: {e}"))),
            }
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        self.ensure(n)?;
        let s = &self.buf[self.lo..self.lo + n];
        self.lo += n;
        Ok(s)
    }

    pub fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// `n` bytes into a new vector, refused before allocating if fewer are left.
    fn read_vec(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.remaining() {
            return Err(self.err(format!(
                "length {n} is past the end of the file ({} bytes left)",
                self.remaining()
            )));
        }
        let n = n as usize;
        if n <= BUF {
            return Ok(self.take(n)?.to_vec());
        }
        let mut v = Vec::with_capacity(n);
        v.extend_from_slice(&self.buf[self.lo..self.hi]);
        self.lo = self.hi;
        self.fold_crc();
        let have = v.len();
        v.resize(n, 0);
        let mut got = have;
        while got < n {
            match self.r.read(&mut v[got..]) {
                Ok(0) => {
                    self.base += (got - have) as u64;
                    return Err(self.err("unexpected end of file"));
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(format!("read error: {e}"))),
            }
        }
        if let Some(c) = &mut self.crc {
            c.update(&v[have..]);
        }
        self.base += (n - have) as u64;
        Ok(v)
    }

    fn len_or_enc(&mut self) -> Result<Len> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.byte()?)),
            3 => Len::Encoded(b & 0x3f),
            _ if b == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
            _ if b == 0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
            _ => return Err(self.err(format!("unknown length encoding {b:#04x}"))),
        })
    }

    /// rdbLoadLen without `isencoded`: an encoding byte reads as its low 6 bits.
    pub fn length(&mut self) -> Result<u64> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(n) => Ok(u64::from(n)),
        }
    }

    /// A count of elements that each take at least one byte.
    fn count(&mut self) -> Result<u64> {
        let n = self.length()?;
        if n > self.remaining() {
            return Err(self.err(format!("element count {n} is past the end of the file")));
        }
        Ok(n)
    }

    /// rdbGenericLoadStringObject: any string encoding.
    fn string(&mut self) -> Result<Str> {
        let at = self.offset();
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(Str::Bytes(self.read_vec(n)?)),
            Len::Encoded(0) => Ok(Str::Int(i64::from(self.byte()? as i8))),
            Len::Encoded(1) => Ok(Str::Int(i64::from(i16::from_le_bytes(self.array()?)))),
            Len::Encoded(2) => Ok(Str::Int(i64::from(i32::from_le_bytes(self.array()?)))),
            Len::Encoded(3) => {
                let clen = self.length()?;
                let len = self.length()?;
                let body = self.read_vec(clen)?;
                lzf::decompress(&body, len)
                    .map(Str::Bytes)
                    .ok_or_else(|| RdbError::new(at, "invalid LZF compressed string"))
            }
            Len::Encoded(e) => Err(RdbError::new(at, format!("unknown string encoding {e}"))),
        }
    }

    /// A string as bytes (integer encodings formatted).
    pub fn bytes(&mut self) -> Result<Vec<u8>> {
        Ok(match self.string()? {
            Str::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
            Str::Bytes(b) => b,
        })
    }

    /// rdbLoadDoubleValue: the text form of ZSET (type 3) scores.
    fn text_double(&mut self) -> Result<f64> {
        let at = self.offset();
        let v = match self.byte()? {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            n => {
                let s = self.take(usize::from(n))?;
                parse_double(s).ok_or_else(|| RdbError::new(at, "invalid double value"))?
            }
        };
        Ok(v)
    }
}

/// strtod on a score's text (Redis writes `%.17g`, `inf`, `-inf`).
fn parse_double(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.trim().parse().ok()
}

/// Collects a sorted set's elements, then builds it in the encoding its
/// size calls for.
struct ZBuild {
    items: Vec<(Vec<u8>, f64)>,
}

impl ZBuild {
    fn add(&mut self, at: u64, m: Vec<u8>, s: f64) -> Result<()> {
        if s.is_nan() {
            return Err(RdbError::new(at, "Zset with NAN score detected"));
        }
        self.items.push((m, s));
        Ok(())
    }

    fn finish(mut self, at: u64, lim: &Limits) -> Result<Object> {
        self.items
            .sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let mut ms: Vec<&[u8]> = self.items.iter().map(|(m, _)| &m[..]).collect();
        ms.sort_unstable();
        if ms.windows(2).any(|w| w[0] == w[1]) {
            return Err(RdbError::new(at, "Duplicate zset fields detected"));
        }
        // -0 and 0 compare equal as scores.
        for it in &mut self.items {
            if it.1 == 0.0 {
                it.1 = 0.0;
            }
        }
        Ok(Object::ZSet(ZSet::from_sorted(&self.items, lim)))
    }
}

fn hash_add(h: &mut Hash, at: u64, f: &[u8], v: &[u8], lim: &Limits) -> Result<()> {
    let new = match h {
        Hash::Table(t) => t.put(Blob::pair(f, v)),
        _ => h.set(f, v, lim),
    };
    if new {
        Ok(())
    } else {
        Err(RdbError::new(at, "Duplicate hash fields detected"))
    }
}

fn set_add(s: &mut Option<Set>, at: u64, m: &[u8], lim: &Limits) -> Result<()> {
    let set = s.get_or_insert_with(|| Set::new_for(m));
    if set.add(m, lim) {
        Ok(())
    } else {
        Err(RdbError::new(at, "Duplicate set members detected"))
    }
}

fn empty(at: u64) -> RdbError {
    RdbError {
        offset: at,
        msg: "empty key".into(),
        empty_key: true,
    }
}

/// Reads one value of RDB type `ty` (rdbLoadObject).
pub fn load_value<R: Read>(inp: &mut Input<R>, ty: u8, lim: &Limits) -> Result<Loaded> {
    let at = inp.offset();
    let fill = lim.list_max_listpack_size;
    let obj = match ty {
        types::STRING => {
            return Ok(match inp.string()? {
                Str::Int(i) => Loaded::Int(i),
                Str::Bytes(b) => Loaded::Bytes(b),
            })
        }
        types::LIST => {
            let n = inp.count()?;
            let mut l = List::new();
            for _ in 0..n {
                l.push(End::Tail, &inp.bytes()?, fill);
            }
            Object::List(l)
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = inp.count()?;
            let mut l = List::new();
            for _ in 0..nodes {
                let container = if ty == types::LIST_QUICKLIST_2 {
                    inp.length()?
                } else {
                    QUICKLIST_PACKED
                };
                let node_at = inp.offset();
                let blob = inp.bytes()?;
                match container {
                    QUICKLIST_PLAIN => l.push(End::Tail, &blob, fill),
                    QUICKLIST_PACKED => {
                        let mut buf = itoa::Buffer::new();
                        let mut push = |i: Item<'_>| l.push(End::Tail, i.bytes(&mut buf), fill);
                        let ok = if ty == types::LIST_QUICKLIST_2 {
                            listpack_for_each(&blob, &mut push)
                        } else {
                            ziplist_for_each(&blob, &mut push)
                        };
                        ok.ok_or_else(|| RdbError::new(node_at, "corrupt list node"))?;
                    }
                    c => {
                        return Err(RdbError::new(
                            node_at,
                            format!("unknown quicklist container {c}"),
                        ))
                    }
                }
            }
            Object::List(l)
        }
        types::LIST_ZIPLIST => {
            let blob = inp.bytes()?;
            let mut l = List::new();
            let mut buf = itoa::Buffer::new();
            ziplist_for_each(&blob, |i| l.push(End::Tail, i.bytes(&mut buf), fill))
                .ok_or_else(|| RdbError::new(at, "corrupt ziplist"))?;
            Object::List(l)
        }
        types::SET => {
            let n = inp.count()?;
            let mut s = None;
            for _ in 0..n {
                let m_at = inp.offset();
                let m = inp.bytes()?;
                set_add(&mut s, m_at, &m, lim)?;
            }
            Object::Set(s.ok_or_else(|| empty(at))?)
        }
        types::SET_INTSET => {
            let blob = inp.bytes()?;
            let vals = intset_values(&blob).ok_or_else(|| RdbError::new(at, "corrupt intset"))?;
            let mut s = None;
            let mut buf = itoa::Buffer::new();
            for v in vals {
                set_add(&mut s, at, buf.format(v).as_bytes(), lim)?;
            }
            Object::Set(s.ok_or_else(|| empty(at))?)
        }
        types::SET_LISTPACK => {
            let blob = inp.bytes()?;
            let mut items = Vec::new();
            let mut buf = itoa::Buffer::new();
            listpack_for_each(&blob, |i| items.push(i.bytes(&mut buf).to_vec()))
                .ok_or_else(|| RdbError::new(at, "corrupt listpack"))?;
            let mut s = None;
            for m in &items {
                set_add(&mut s, at, m, lim)?;
            }
            Object::Set(s.ok_or_else(|| empty(at))?)
        }
        types::HASH => {
            let n = inp.count()?;
            let mut h = if n as usize > lim.hash_max_listpack_entries {
                Hash::Table(Box::new(BlobDict::with_capacity(n as usize)))
            } else {
                Hash::new()
            };
            for _ in 0..n {
                let f_at = inp.offset();
                let f = inp.bytes()?;
                let v = inp.bytes()?;
                hash_add(&mut h, f_at, &f, &v, lim)?;
            }
            Object::Hash(h)
        }
        types::HASH_ZIPMAP | types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = inp.bytes()?;
            let mut flat: Vec<Vec<u8>> = Vec::new();
            let mut buf = itoa::Buffer::new();
            let ok = match ty {
                types::HASH_ZIPMAP => zipmap_for_each(&blob, |k, v| {
                    flat.push(k.to_vec());
                    flat.push(v.to_vec());
                }),
                types::HASH_ZIPLIST => {
                    ziplist_for_each(&blob, |i| flat.push(i.bytes(&mut buf).to_vec())).map(|_| ())
                }
                _ => {
                    listpack_for_each(&blob, |i| flat.push(i.bytes(&mut buf).to_vec())).map(|_| ())
                }
            };
            if ok.is_none() || flat.len() & 1 == 1 {
                return Err(RdbError::new(at, "corrupt packed hash"));
            }
            let mut h = Hash::new();
            for p in flat.chunks_exact(2) {
                hash_add(&mut h, at, &p[0], &p[1], lim)?;
            }
            Object::Hash(h)
        }
        types::ZSET | types::ZSET_2 => {
            let n = inp.count()?;
            let mut z = ZBuild {
                items: Vec::with_capacity(n.min(1 << 16) as usize),
            };
            for _ in 0..n {
                let m_at = inp.offset();
                let m = inp.bytes()?;
                let s = if ty == types::ZSET_2 {
                    f64::from_le_bytes(inp.array()?)
                } else {
                    inp.text_double()?
                };
                z.add(m_at, m, s)?;
            }
            z.finish(at, lim)?
        }
        types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let blob = inp.bytes()?;
            let mut flat: Vec<Item<'_>> = Vec::new();
            let ok = if ty == types::ZSET_ZIPLIST {
                ziplist_for_each(&blob, |i| flat.push(i))
            } else {
                listpack_for_each(&blob, |i| flat.push(i))
            };
            if ok.is_none() || flat.len() & 1 == 1 {
                return Err(RdbError::new(at, "corrupt packed sorted set"));
            }
            let mut z = ZBuild {
                items: Vec::with_capacity(flat.len() / 2),
            };
            let mut buf = itoa::Buffer::new();
            for p in flat.chunks_exact(2) {
                let s = match p[1] {
                    Item::Int(i) => i as f64,
                    Item::Str(s) => {
                        parse_double(s).ok_or_else(|| RdbError::new(at, "invalid score"))?
                    }
                };
                z.add(at, p[0].bytes(&mut buf).to_vec(), s)?;
            }
            z.finish(at, lim)?
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            Object::Stream(Box::new(crate::types::stream_rdb::load(inp, ty)?))
        }
        types::MODULE_PRE_GA | types::MODULE_2 => {
            return Err(RdbError::new(
                at,
                "module values are not supported by Larder",
            ))
        }
        t => return Err(RdbError::new(at, format!("unknown value type {t}"))),
    };
    if obj.is_empty() {
        return Err(empty(at));
    }
    Ok(Loaded::Object(obj))
}

/// What the loader needs besides the input.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `rdbchecksum`: verify the trailer (a file written with 0 is not checked).
    pub checksum: bool,
    /// Keys whose deadline is before this (Unix ms) are skipped.
    pub now_ms: u64,
    /// Redis's `key-load-delay`, for tests: microseconds after each key
    /// (a negative `-n`: 1 µs every `n` keys).
    pub key_delay_us: i64,
}

/// What a load did, for the caller's log.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub version: u16,
    pub keys: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
    /// The code of each FUNCTION2 library, in file order.
    pub functions: Vec<Vec<u8>>,
    /// Bytes consumed, up to and including the checksum.
    pub bytes: u64,
    /// The `redis-ver` AUX field, if any.
    pub redis_ver: Option<String>,
    /// The replication position, when the file names it whole.
    pub repl: Option<super::ReplAux>,
}

/// Loads an RDB file of `len` bytes from `r` into `engine` (rdbLoad). Keys
/// already present are an error ("duplicate key"), as in Redis.
pub fn load<R: Read>(engine: &Engine, r: R, len: u64, opts: &LoadOptions) -> Result<LoadReport> {
    load_with(engine, r, len, opts, false)
}

/// [`load`], where `allow_dup` (Redis's RDBFLAGS_ALLOW_DUP, DEBUG RELOAD
/// MERGE) lets a key of the file replace one already present.
pub fn load_with<R: Read>(
    engine: &Engine,
    r: R,
    len: u64,
    opts: &LoadOptions,
    allow_dup: bool,
) -> Result<LoadReport> {
    let mut inp = Input::new(r, len, opts.checksum);
    let magic = inp.take(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError::new(
            0,
            "Wrong signature trying to load DB from file",
        ));
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|v| (1..=RDB_VERSION_MAX_READ).contains(v))
        .ok_or_else(|| {
            RdbError::new(
                5,
                format!(
                    "Can't handle RDB format version {}",
                    String::from_utf8_lossy(&magic[5..])
                ),
            )
        })?;
    let mut rep = LoadReport {
        version,
        ..LoadReport::default()
    };
    let lim = engine.config.limits();
    let mut db = 0usize;
    let (mut expire_at, mut idle, mut freq) = (0u64, None, None);
    // A `larder-mc` AUX field: the next key's memcached (flags, bits).
    let mut mc: Option<(u32, u8)> = None;
    let (mut repl_db, mut repl_id, mut repl_offset) = (None, None, None);
    loop {
        let op_at = inp.offset();
        let op = inp.byte()?;
        match op {
            opcodes::EXPIRETIME => {
                expire_at = u64::from(u32::from_le_bytes(inp.array()?)) * 1000;
                continue;
            }
            opcodes::EXPIRETIME_MS => {
                expire_at = u64::from_le_bytes(inp.array()?);
                continue;
            }
            opcodes::FREQ => {
                freq = Some(inp.byte()?);
                continue;
            }
            opcodes::IDLE => {
                idle = Some(inp.length()?);
                continue;
            }
            opcodes::EOF => break,
            opcodes::SELECTDB => {
                let d = inp.length()?;
                if d >= engine.databases() as u64 {
                    return Err(RdbError::new(
                        op_at,
                        format!(
                            "FATAL: Data file was created with a Redis server configured to \
                             handle more than {} databases.",
                            engine.databases()
                        ),
                    ));
                }
                db = d as usize;
                continue;
            }
            opcodes::RESIZEDB => {
                inp.length()?;
                inp.length()?;
                continue;
            }
            opcodes::AUX => {
                let k = inp.bytes()?;
                let v = inp.bytes()?;
                let num = || {
                    std::str::from_utf8(&v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                };
                if k == b"redis-ver" {
                    rep.redis_ver = Some(String::from_utf8_lossy(&v).into_owned());
                } else if k == b"repl-stream-db" {
                    repl_db = num().and_then(|n| usize::try_from(n).ok());
                } else if k == b"repl-id" {
                    repl_id = Some(String::from_utf8_lossy(&v).into_owned());
                } else if k == b"repl-offset" {
                    repl_offset = num();
                } else if k == super::MC_AUX {
                    mc = Some(parse_mc_aux(&v).ok_or_else(|| {
                        RdbError::new(op_at, "Bad larder-mc AUX field (memcached flags)")
                    })?);
                }
                continue;
            }
            opcodes::MODULE_AUX => {
                let id = inp.length()?;
                return Err(RdbError::new(
                    op_at,
                    format!(
                        "module auxiliary data (module id {id:#x}) found: Larder has no modules"
                    ),
                ));
            }
            opcodes::FUNCTION_PRE_GA => {
                return Err(RdbError::new(
                    op_at,
                    "Pre-release function format not supported",
                ));
            }
            opcodes::FUNCTION2 => {
                rep.functions.push(inp.bytes()?);
                continue;
            }
            _ => {}
        }
        let key = inp.bytes()?;
        let val_at = inp.offset();
        let value = match op {
            types::MODULE_PRE_GA | types::MODULE_2 => {
                return Err(RdbError::new(
                    val_at,
                    format!(
                        "key '{}' holds a module value: Larder has no modules",
                        String::from_utf8_lossy(&key)
                    ),
                ));
            }
            _ => match load_value(&mut inp, op, &lim) {
                Ok(v) => Some(v),
                Err(e) if e.empty_key => None,
                Err(mut e) => {
                    e.msg = format!("{} (key '{}')", e.msg, String::from_utf8_lossy(&key));
                    return Err(e);
                }
            },
        };
        let at = std::mem::take(&mut expire_at);
        let (i, f, m) = (idle.take(), freq.take(), mc.take());
        let Some(value) = value else {
            rep.empty_skipped += 1;
            continue;
        };
        if at != 0 && at < opts.now_ms {
            rep.expired_skipped += 1;
            continue;
        }
        let k = engine.key(&key);
        let mut txn = engine.lock_key_at(db, &k, opts.now_ms);
        if !allow_dup && txn.lookup(&k, Lookup::Peek).is_some() {
            return Err(RdbError::new(
                op_at,
                format!(
                    "Duplicate key '{}' found in RDB file (db {db})",
                    String::from_utf8_lossy(&key)
                ),
            ));
        }
        let access = txn.restored_access(i, f);
        let entry = match (m, value) {
            (Some((flags, bits)), Loaded::Int(n)) => {
                let mc = engine.restored_mc(flags, bits);
                Entry::new_mc(&key, StrValue::Int(n), at, access, mc)
            }
            (Some((flags, bits)), Loaded::Bytes(b)) => {
                let mc = engine.restored_mc(flags, bits);
                Entry::new_mc(&key, StrValue::Auto(&b), at, access, mc)
            }
            (_, value) => entry_of(&key, value, at, access),
        };
        txn.put(&k, entry);
        drop(txn);
        rep.keys += 1;
        let us = match opts.key_delay_us {
            d if d > 0 => d as u64,
            d if d < 0 => u64::from(rep.keys.is_multiple_of(d.unsigned_abs())),
            _ => 0,
        };
        if us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(us));
        }
    }
    let computed = inp.crc();
    if version >= 5 {
        let end_at = inp.offset();
        let stored = u64::from_le_bytes(inp.array()?);
        if opts.checksum && stored != 0 && stored != computed {
            // Redis's words: it "expects" the checksum it computed.
            return Err(RdbError::new(
                end_at,
                format!(
                    "Wrong RDB checksum expected: ({computed:x}) got: ({stored:x}): RDB CRC error"
                ),
            ));
        }
    }
    if let (Some(stream_db), Some(id), Some(offset)) = (repl_db, repl_id, repl_offset) {
        rep.repl = Some(super::ReplAux {
            stream_db,
            id,
            offset,
        });
    }
    rep.bytes = inp.offset();
    Ok(rep)
}

/// `"<flags> <bits>"` of a `larder-mc` AUX field.
fn parse_mc_aux(v: &[u8]) -> Option<(u32, u8)> {
    let s = std::str::from_utf8(v).ok()?;
    let (f, b) = s.split_once(' ')?;
    Some((f.parse().ok()?, b.parse().ok()?))
}

/// The entry a loaded value is stored as.
pub fn entry_of(key: &[u8], v: Loaded, expire_at: u64, access: u32) -> Entry {
    match v {
        Loaded::Int(i) => Entry::new(key, StrValue::Int(i), expire_at, access),
        Loaded::Bytes(b) => Entry::new(key, StrValue::Auto(&b), expire_at, access),
        Loaded::Object(o) => Entry::new_object(key, o, expire_at, access),
    }
}

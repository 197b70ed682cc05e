//! Differential tests for the memcached binary protocol: the same frames
//! go to Larder's memcache port and to a real `memcached` started here,
//! and the reply packets must match byte for byte once CAS uniques are
//! normalized (a nonzero CAS reads `CAS`).
//!
//! * hand-written cases cover every opcode memcached 1.6.18 serves, the
//!   quiet variants, and every error path (lengths, key too long, too
//!   large, unknown opcodes, bad magic, SASL while SASL is off);
//! * the counters both servers report after the same commands;
//! * a seeded random sequence (`LARDER_DIFF_SEED`, default fixed;
//!   `LARDER_DIFF_ITERATIONS` requests, default 3000) of pipelined
//!   requests over a few keys, CAS taken from each server's own replies.
//!
//! Each exchange ends with a Noop of a sentinel opaque; what comes before
//! its reply is the exchange's answer. A case that closes the connection
//! (or leaves the sentinel swallowed) compares what arrived, then both
//! sides reconnect. `LARDER_DIFF_SELF=1` runs memcached against memcached.
//! Without memcached the tests skip with a notice, unless
//! `LARDER_REQUIRE_PEERS=1`.

mod common;
mod memcache_common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use memcache_common::{McConn, Pair, Rng};

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const REPLACE: u8 = 0x03;
const DELETE: u8 = 0x04;
const INCR: u8 = 0x05;
const DECR: u8 = 0x06;
const QUIT: u8 = 0x07;
const FLUSH: u8 = 0x08;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const VERSION: u8 = 0x0b;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const APPEND: u8 = 0x0e;
const PREPEND: u8 = 0x0f;
const STAT: u8 = 0x10;
const SETQ: u8 = 0x11;
const ADDQ: u8 = 0x12;
const REPLACEQ: u8 = 0x13;
const DELETEQ: u8 = 0x14;
const INCRQ: u8 = 0x15;
const DECRQ: u8 = 0x16;
const QUITQ: u8 = 0x17;
const FLUSHQ: u8 = 0x18;
const APPENDQ: u8 = 0x19;
const PREPENDQ: u8 = 0x1a;
const VERBOSITY: u8 = 0x1b;
const TOUCH: u8 = 0x1c;
const GAT: u8 = 0x1d;
const GATQ: u8 = 0x1e;
const SASL_LIST: u8 = 0x20;
const SASL_AUTH: u8 = 0x21;
const SASL_STEP: u8 = 0x22;
const GATK: u8 = 0x23;
const GATKQ: u8 = 0x24;

const SENTINEL: u32 = 0xfeed_face;
/// A CAS neither server hands out in a test (memcached counts from 1,
/// Larder from the clock).
const BOGUS_CAS: u64 = 0x7777_0000_0000;

/// A request frame; `bodylen` overrides the real body length when set.
#[derive(Clone, Default)]
struct Frame {
    op: u8,
    key: Vec<u8>,
    extras: Vec<u8>,
    value: Vec<u8>,
    opaque: u32,
    cas: u64,
    bodylen: Option<u32>,
    keylen: Option<u16>,
    magic: Option<u8>,
}

impl Frame {
    fn new(op: u8) -> Frame {
        Frame {
            op,
            ..Frame::default()
        }
    }
    fn key(mut self, k: &[u8]) -> Frame {
        self.key = k.to_vec();
        self
    }
    fn extras(mut self, e: &[u8]) -> Frame {
        self.extras = e.to_vec();
        self
    }
    fn value(mut self, v: &[u8]) -> Frame {
        self.value = v.to_vec();
        self
    }
    fn opaque(mut self, o: u32) -> Frame {
        self.opaque = o;
        self
    }
    fn cas(mut self, c: u64) -> Frame {
        self.cas = c;
        self
    }
    fn bodylen(mut self, b: u32) -> Frame {
        self.bodylen = Some(b);
        self
    }
    fn keylen(mut self, k: u16) -> Frame {
        self.keylen = Some(k);
        self
    }
    fn magic(mut self, m: u8) -> Frame {
        self.magic = Some(m);
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let body = (self.extras.len() + self.key.len() + self.value.len()) as u32;
        let mut b = vec![self.magic.unwrap_or(0x80), self.op];
        b.extend_from_slice(&self.keylen.unwrap_or(self.key.len() as u16).to_be_bytes());
        b.push(self.extras.len() as u8);
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(&self.bodylen.unwrap_or(body).to_be_bytes());
        b.extend_from_slice(&self.opaque.to_be_bytes());
        b.extend_from_slice(&self.cas.to_be_bytes());
        b.extend_from_slice(&self.extras);
        b.extend_from_slice(&self.key);
        b.extend_from_slice(&self.value);
        b
    }
}

fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    [flags.to_be_bytes(), exptime.to_be_bytes()].concat()
}

fn store(op: u8, key: &str, flags: u32, exptime: u32, value: &[u8]) -> Frame {
    Frame::new(op)
        .key(key.as_bytes())
        .extras(&set_extras(flags, exptime))
        .value(value)
}

fn arith(op: u8, key: &str, delta: u64, initial: u64, exptime: u32) -> Frame {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    Frame::new(op).key(key.as_bytes()).extras(&e)
}

fn keyed(op: u8, key: &str) -> Frame {
    Frame::new(op).key(key.as_bytes())
}

fn touch(op: u8, key: &str, exptime: u32) -> Frame {
    keyed(op, key).extras(&exptime.to_be_bytes())
}

fn frames(fs: &[Frame]) -> Vec<u8> {
    fs.iter().flat_map(Frame::bytes).collect()
}

/// A reply packet.
#[derive(Clone, Debug)]
struct Packet {
    header: [u8; 24],
    body: Vec<u8>,
}

impl Packet {
    fn opcode(&self) -> u8 {
        self.header[1]
    }
    fn status(&self) -> u16 {
        u16::from_be_bytes([self.header[6], self.header[7]])
    }
    fn keylen(&self) -> usize {
        usize::from(u16::from_be_bytes([self.header[2], self.header[3]]))
    }
    fn extlen(&self) -> usize {
        usize::from(self.header[4])
    }
    fn opaque(&self) -> u32 {
        u32::from_be_bytes([
            self.header[12],
            self.header[13],
            self.header[14],
            self.header[15],
        ])
    }
    fn cas(&self) -> u64 {
        u64::from_be_bytes(self.header[16..24].try_into().expect("8 bytes"))
    }
    fn key(&self) -> &[u8] {
        &self.body[self.extlen()..self.extlen() + self.keylen()]
    }
    fn value(&self) -> &[u8] {
        &self.body[self.extlen() + self.keylen()..]
    }

    /// The packet as text, its CAS normalized; `loose` also trims the
    /// space padding an in-place incr may leave in a number (whether
    /// memcached rewrites in place depends on its reference counts).
    fn show(&self, loose: bool) -> String {
        let mut h = self.header;
        if self.cas() != 0 {
            h[16..24].copy_from_slice(b"CASCASCA");
        }
        let mut value = self.value().to_vec();
        if loose {
            let t = value.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
            if t < value.len() && t > 0 && value[..t].iter().all(u8::is_ascii_digit) {
                value.truncate(t);
                let body = (self.extlen() + self.keylen() + t) as u32;
                h[8..12].copy_from_slice(&body.to_be_bytes());
            }
        }
        format!(
            "{} | {} | {} | {}",
            hex(&h),
            esc(&self.body[..self.extlen()]),
            esc(self.key()),
            esc(&value)
        )
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn esc(b: &[u8]) -> String {
    if b.len() > 80 {
        return format!("<{} bytes, {}>", b.len(), hex(&b[..8]));
    }
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

/// One binary connection.
struct BinConn {
    port: u16,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl BinConn {
    fn connect(port: u16) -> BinConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect memcache port");
        stream.set_nodelay(true).ok();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .ok();
        BinConn {
            port,
            stream,
            buf: Vec::new(),
        }
    }

    fn reconnect(&mut self) {
        *self = BinConn::connect(self.port);
    }

    /// Sends `bytes` and a sentinel Noop; the packets before the
    /// sentinel's reply, or Err with what came if the connection closed
    /// or stalled first.
    fn exchange(&mut self, bytes: &[u8]) -> Result<Vec<Packet>, Vec<Packet>> {
        let mut msg = bytes.to_vec();
        msg.extend(Frame::new(NOOP).opaque(SENTINEL).bytes());
        let mut out = Vec::new();
        if self.stream.write_all(&msg).is_err() {
            return Err(out);
        }
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            while self.buf.len() >= 24 {
                let bodylen = u32::from_be_bytes(self.buf[8..12].try_into().expect("4")) as usize;
                if self.buf.len() < 24 + bodylen {
                    break;
                }
                let p = Packet {
                    header: self.buf[..24].try_into().expect("24"),
                    body: self.buf[24..24 + bodylen].to_vec(),
                };
                self.buf.drain(..24 + bodylen);
                if p.opcode() == NOOP && p.opaque() == SENTINEL {
                    return Ok(out);
                }
                out.push(p);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(out),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) if Instant::now() < deadline => {}
                Err(_) => return Err(out),
            }
        }
    }
}

/// A Larder and a memcached (from `memcache_common::Pair`), one binary
/// connection to each.
struct BinPair {
    p: Pair,
    l: BinConn,
    m: BinConn,
    history: Vec<String>,
    loose: bool,
}

impl BinPair {
    fn start() -> Option<BinPair> {
        let p = Pair::start()?;
        let l = BinConn::connect(p.larder_port());
        let m = BinConn::connect(p.memcached_port());
        Some(BinPair {
            p,
            l,
            m,
            history: Vec::new(),
            loose: false,
        })
    }

    fn case(&mut self, bytes: &[u8]) -> (Vec<Packet>, Vec<Packet>) {
        self.case2(bytes, bytes)
    }

    /// Sends each side its bytes and asserts equal replies (and that both
    /// kept or both lost the connection).
    fn case2(&mut self, to_l: &[u8], to_m: &[u8]) -> (Vec<Packet>, Vec<Packet>) {
        self.history.push(esc(&to_m[..to_m.len().min(200)]));
        let l = self.l.exchange(to_l);
        let m = self.m.exchange(to_m);
        let show = |r: &Result<Vec<Packet>, Vec<Packet>>| -> (bool, Vec<String>) {
            let (ok, ps) = match r {
                Ok(ps) => (true, ps),
                Err(ps) => (false, ps),
            };
            (ok, ps.iter().map(|p| p.show(self.loose)).collect())
        };
        let (ls, ms) = (show(&l), show(&m));
        let n = self.history.len();
        assert_eq!(
            ls,
            ms,
            "replies differ (left Larder, right memcached) for {}\nhistory:\n{}",
            esc(&to_m[..to_m.len().min(400)]),
            self.history[n.saturating_sub(20)..].join("\n")
        );
        if l.is_err() {
            self.l.reconnect();
            self.m.reconnect();
        }
        let unwrap = |r: Result<Vec<Packet>, Vec<Packet>>| r.unwrap_or_else(|e| e);
        (unwrap(l), unwrap(m))
    }
}

#[test]
fn every_opcode_and_quiet_variant() {
    let Some(mut p) = BinPair::start() else {
        return;
    };
    let cases: Vec<Vec<Frame>> = vec![
        vec![Frame::new(NOOP).opaque(1)],
        vec![Frame::new(VERSION).opaque(2)],
        // Get family: hit and miss, loud and quiet, with and without key.
        vec![
            store(SET, "k", 5, 0, b"val").opaque(3),
            keyed(GET, "k").opaque(4),
            keyed(GETQ, "k").opaque(5),
            keyed(GETK, "k").opaque(6),
            keyed(GETKQ, "k").opaque(7),
            keyed(GET, "zz").opaque(8),
            keyed(GETQ, "zz").opaque(9),
            keyed(GETK, "zz").opaque(10),
            keyed(GETKQ, "zz").opaque(11),
        ],
        // Stores, loud and quiet, succeeding and failing.
        vec![
            store(SETQ, "s", 1, 0, b"one"),
            store(ADD, "s", 2, 0, b"two").opaque(12),
            store(ADDQ, "s", 2, 0, b"two").opaque(13),
            store(ADD, "a1", 3, 0, b"x").opaque(14),
            store(ADDQ, "a2", 3, 0, b"x").opaque(15),
            store(REPLACE, "nokey", 0, 0, b"x").opaque(16),
            store(REPLACEQ, "nokey", 0, 0, b"x").opaque(17),
            store(REPLACE, "s", 9, 0, b"rep").opaque(18),
            store(REPLACEQ, "a1", 9, 0, b"rep").opaque(19),
            keyed(GETK, "s"),
            keyed(GETK, "a1"),
            keyed(GETK, "a2"),
            store(SET, "empty", 0, 0, b""),
            keyed(GET, "empty"),
            store(SET, "flags", u32::MAX, 0, b"f"),
            keyed(GET, "flags"),
        ],
        // Append / prepend (the item's flags stay).
        vec![
            store(SET, "ap", 7, 0, b"mid"),
            keyed(APPEND, "ap").value(b">>").opaque(20),
            keyed(PREPEND, "ap").value(b"<<").opaque(21),
            keyed(APPENDQ, "ap").value(b"]"),
            keyed(PREPENDQ, "ap").value(b"["),
            keyed(APPEND, "nokey").value(b"x").opaque(22),
            keyed(PREPENDQ, "nokey").value(b"x").opaque(23),
            keyed(GET, "ap"),
        ],
        // Delete, loud and quiet.
        vec![
            store(SET, "d", 0, 0, b"x"),
            keyed(DELETE, "d").opaque(24),
            keyed(DELETE, "d").opaque(25),
            store(SET, "d", 0, 0, b"x"),
            keyed(DELETEQ, "d").opaque(26),
            keyed(DELETEQ, "d").opaque(27),
        ],
        // Incr / decr: create with the initial value, fail-if-missing,
        // wrap, floor, non-numeric, empty.
        vec![
            arith(INCR, "n", 5, 10, 0).opaque(28),
            arith(INCR, "n", 5, 10, 0).opaque(29),
            arith(DECR, "n", 100, 10, 0).opaque(30),
            arith(INCR, "m", 5, 10, u32::MAX).opaque(31),
            arith(DECRQ, "m", 5, 10, u32::MAX).opaque(32),
            arith(INCRQ, "n", 1, 0, 0).opaque(33),
            arith(DECRQ, "q", 1, 77, 0).opaque(34),
            keyed(GET, "n"),
            keyed(GET, "q"),
            store(SET, "w", 0, 0, b"18446744073709551615"),
            arith(INCR, "w", 2, 0, 0),
            keyed(GET, "w"),
            store(SET, "t", 3, 0, b"text"),
            arith(INCR, "t", 1, 0, 0),
            arith(INCRQ, "t", 1, 0, 0),
            arith(DECR, "t", 1, 0, 0),
            store(SET, "e", 0, 0, b""),
            arith(INCR, "e", 1, 0, 0),
            store(SET, "pad", 0, 0, b"100"),
            arith(DECR, "pad", 95, 0, 0),
            arith(INCR, "big", 1, 9_223_372_036_854_775_807, 0),
            arith(INCR, "big", 1, 0, 0),
        ],
        // Touch and GAT family, hit and miss.
        vec![
            store(SET, "tt", 9, 0, b"tv"),
            touch(TOUCH, "tt", 100).opaque(35),
            touch(TOUCH, "zz", 100).opaque(36),
            touch(GAT, "tt", 100).opaque(37),
            touch(GATQ, "tt", 100).opaque(38),
            touch(GATK, "tt", 100).opaque(39),
            touch(GATKQ, "tt", 100).opaque(40),
            touch(GAT, "zz", 100).opaque(41),
            touch(GATQ, "zz", 100).opaque(42),
            touch(GATK, "zz", 100).opaque(43),
            touch(GATKQ, "zz", 100).opaque(44),
        ],
        // Exptimes: an absolute time gone by expires, 0xffffffff does not
        // (unsigned: a time in 2106); touch and GAT to the past.
        vec![
            store(SET, "x1", 0, 1_000_000_000, b"gone"),
            keyed(GET, "x1"),
            store(SET, "x2", 0, u32::MAX, b"far"),
            keyed(GET, "x2"),
            store(SET, "x3", 0, 1000, b"soon"),
            touch(TOUCH, "x3", 1_000_000_000),
            keyed(GET, "x3"),
            store(SET, "x4", 0, 0, b"now"),
            touch(GAT, "x4", 1_000_000_000),
            keyed(GET, "x4"),
            arith(INCR, "x5", 1, 5, 1_000_000_000),
            keyed(GET, "x5"),
        ],
        // CAS: set/add/replace with a CAS compare (add too, as memcached),
        // a miss, a mismatch; delete, append and incr with a CAS.
        vec![
            store(SET, "c", 0, 0, b"1"),
            store(SET, "c", 0, 0, b"2").cas(BOGUS_CAS),
            store(SET, "nokey2", 0, 0, b"2").cas(BOGUS_CAS),
            store(ADD, "c", 0, 0, b"2").cas(BOGUS_CAS),
            store(REPLACEQ, "c", 0, 0, b"2").cas(BOGUS_CAS),
            keyed(DELETE, "c").cas(BOGUS_CAS + 1),
            keyed(DELETEQ, "c").cas(BOGUS_CAS + 1),
            keyed(DELETE, "nokey3").cas(BOGUS_CAS + 1),
            keyed(APPEND, "c").value(b"x").cas(BOGUS_CAS + 2),
            arith(INCR, "c", 1, 0, 0).cas(BOGUS_CAS + 2),
            keyed(GET, "c"),
        ],
        // Flush: now, quiet, with an explicit 0, with a delay (the items
        // stay until then).
        vec![
            store(SET, "f1", 0, 0, b"x"),
            Frame::new(FLUSH).opaque(45),
            keyed(GET, "f1"),
            store(SET, "f1", 0, 0, b"x"),
            Frame::new(FLUSHQ).opaque(46),
            keyed(GET, "f1"),
            store(SET, "f1", 0, 0, b"x"),
            Frame::new(FLUSH).extras(&0u32.to_be_bytes()),
            keyed(GET, "f1"),
            store(SET, "f2", 0, 0, b"x"),
            Frame::new(FLUSH).extras(&100u32.to_be_bytes()),
            keyed(GET, "f2"),
            Frame::new(FLUSH).extras(&0u32.to_be_bytes()),
        ],
        // Stat groups that answer deterministically here.
        vec![
            keyed(STAT, "nosuch").opaque(47),
            keyed(STAT, "conns").opaque(48),
            keyed(STAT, "cachedump").opaque(49),
            keyed(STAT, "reset").opaque(50),
            keyed(STAT, "detail x").opaque(51),
            keyed(STAT, "detail on").opaque(52),
            store(SET, "pfx:a", 0, 0, b"1"),
            keyed(GET, "pfx:a"),
            keyed(GET, "pfx:b"),
            keyed(DELETE, "pfx:a"),
            touch(GAT, "pfx:c", 0),
            keyed(STAT, "detail dump").opaque(53),
            keyed(STAT, "detail off").opaque(54),
            keyed(STAT, "sizes_enable").opaque(55),
            keyed(STAT, "sizes_disable").opaque(56),
        ],
        // Verbosity is no opcode memcached 1.6.18 serves; nor is SASL on.
        vec![Frame::new(VERBOSITY).extras(&1u32.to_be_bytes()).opaque(57)],
        vec![
            Frame::new(SASL_LIST).opaque(58),
            keyed(SASL_AUTH, "PLAIN").value(b"\0u\0p").opaque(59),
            keyed(SASL_STEP, "PLAIN").value(b"xx").opaque(60),
        ],
        vec![Frame::new(0x50).value(b"xyz").opaque(61)],
        vec![Frame::new(0x60).opaque(62), Frame::new(0xff).opaque(63)],
        // Unknown opcode with a key: memcached skips the body from after
        // the key, eating the sentinel's first bytes.
        vec![Frame::new(0x50).key(b"ab").value(b"xyz")],
        vec![Frame::new(VERBOSITY).extras(&1u32.to_be_bytes())],
        // A Quit closes after its reply, a QuitQ without one.
        vec![keyed(GET, "k"), Frame::new(QUIT).opaque(64)],
        vec![store(SETQ, "qq", 0, 0, b"x"), Frame::new(QUITQ).opaque(65)],
    ];
    for c in &cases {
        p.case(&frames(c));
    }
    // Stores a text client sees, and the other way round.
    p.case(&frames(&[store(SET, "shared", 42, 0, b"from binary")]));
    let mut tl = McConn::connect(p.p.larder_port());
    let mut tm = McConn::connect(p.p.memcached_port());
    let l = tl.exchange(b"get shared\r\nset text 7 0 4\r\nfrom\r\n");
    let m = tm.exchange(b"get shared\r\nset text 7 0 4\r\nfrom\r\n");
    assert_eq!(l, m);
    p.case(&frames(&[keyed(GETK, "text")]));
}

#[test]
fn length_and_framing_errors() {
    let Some(mut p) = BinPair::start() else {
        return;
    };
    let set = |k: &str, v: &[u8]| store(SET, k, 0, 0, v);
    let cases: Vec<Vec<Frame>> = vec![
        // Key longer than the body says; key + extras longer.
        vec![keyed(GET, "k").bodylen(0)],
        vec![touch(GAT, "k", 1).bodylen(3)],
        // (The header, extras and key are read before the lengths are
        // checked: here the key runs into the sentinel.)
        vec![keyed(GET, "k").keylen(2).bodylen(1)],
        // Keys: 250 is fine, 251 is refused and closes.
        vec![keyed(GET, &"k".repeat(250)), set(&"k".repeat(250), b"x")],
        vec![keyed(GET, "ok"), keyed(GET, &"k".repeat(251))],
        // Extras, keys and bodies an opcode does not take.
        vec![keyed(GET, "k").extras(&[0; 4])],
        vec![Frame::new(GET)],
        vec![keyed(GET, "k").value(b"v")],
        vec![keyed(SET, "k").value(b"v")],
        vec![store(SET, "", 0, 0, b"v")],
        vec![keyed(DELETE, "k").extras(&[0; 4])],
        vec![keyed(INCR, "k").extras(&[0; 8])],
        vec![arith(INCR, "k", 1, 0, 0).value(b"v")],
        vec![keyed(APPEND, "k").extras(&[0; 4]).value(b"v")],
        vec![keyed(APPEND, "").value(b"v")],
        vec![Frame::new(VERSION).value(b"x")],
        vec![Frame::new(NOOP).key(b"k")],
        vec![Frame::new(QUIT).extras(&[0; 4])],
        vec![Frame::new(FLUSH).extras(&[0; 3])],
        vec![Frame::new(FLUSH).key(b"k")],
        vec![Frame::new(STAT).extras(&[0; 4])],
        vec![keyed(TOUCH, "k")],
        vec![Frame::new(TOUCH).extras(&[0; 4])],
        vec![Frame::new(SASL_LIST).value(b"x")],
        vec![Frame::new(SASL_AUTH).value(b"x")],
        // Bad magic closes without a reply, and memcached drops the
        // replies it had not sent yet (a miss and a Noop send at once).
        vec![Frame::new(NOOP).magic(0x81)],
        vec![keyed(GETK, "zz"), Frame::new(NOOP).magic(0x81)],
        vec![keyed(GET, "zz"), Frame::new(NOOP).magic(0x81)],
        vec![
            keyed(GETK, "zz"),
            Frame::new(NOOP),
            keyed(GETK, "zz"),
            Frame::new(NOOP).magic(0x00),
        ],
    ];
    for c in &cases {
        p.case(&frames(c));
    }
    // A text request on a binary connection.
    let mut b = frames(&[Frame::new(NOOP)]);
    b.extend_from_slice(b"get k\r\n");
    p.case(&b);
}

#[test]
fn item_size_limit() {
    let Some(mut p) = BinPair::start() else {
        return;
    };
    let big = vec![b'x'; 1024 * 1024];
    let cases: Vec<Vec<Frame>> = vec![
        // Too large: refused, the value skipped, a set drops the old item
        // (even a set with a CAS); add and append keep it.
        vec![
            store(SET, "tl", 0, 0, b"old"),
            store(SET, "tl", 0, 0, &big).opaque(1),
            keyed(GET, "tl"),
        ],
        vec![
            store(SET, "tl", 0, 0, b"old"),
            store(SETQ, "tl", 0, 0, &big).cas(BOGUS_CAS),
            keyed(GET, "tl"),
        ],
        vec![
            store(SET, "tl", 0, 0, b"old"),
            store(ADD, "tl", 0, 0, &big),
            keyed(APPENDQ, "tl").value(&big),
            keyed(GET, "tl"),
        ],
        // The largest value that fits (48-byte header, key, CRLF, CAS).
        vec![
            store(SET, "k", 0, 0, &big[..1024 * 1024 - 48 - 2 - 2 - 8]),
            store(SET, "k", 1, 0, &big[..1024 * 1024 - 48 - 2 - 2 - 8]),
            keyed(GETK, "k").opaque(2),
        ],
        // A body of 2 GB or more: memcached's int value length goes
        // negative; refused with nothing skipped (the value is then read
        // as the next request: a bad magic, and the unsent replies go).
        vec![store(SET, "k", 0, 0, b"").bodylen(0x8000_0010)],
        vec![store(SET, "k", 0, 0, b"").bodylen(0xffff_fff0)],
        vec![store(SET, "k", 0, 0, b"v").bodylen(0xffff_fff0)],
        vec![keyed(APPEND, "k").bodylen(0x9000_0000)],
        vec![
            keyed(GET, "zz"),
            keyed(GETK, "zz"),
            keyed(APPEND, "k").value(b"v").bodylen(0x9000_0000),
        ],
    ];
    for c in &cases {
        let (l, _) = p.case(&frames(c));
        // (Also keeps the big replies out of the failure messages.)
        assert!(l.iter().all(|pk| pk.body.len() <= 1 << 20));
    }
}

/// A value announced larger than the item size limit is refused as soon
/// as the header is in, and skipped as it arrives, without being buffered:
/// the server's memory stays flat while 1.5 GB stream past.
#[test]
fn huge_announced_body_is_skipped_not_buffered() {
    let s = common::start_larder_memcache(&[]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    let len: u32 = 1_500_000_000;
    let f = store(SET, "huge", 0, 0, b"").bodylen(len + 9).bytes();
    c.write_all(&f).expect("header");
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reply = [0u8; 24 + 10];
    c.read_exact(&mut reply).expect("E2BIG before the body");
    assert_eq!(&reply[24..], b"Too large.");
    assert_eq!(reply[7], 0x03);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..300 {
        c.write_all(&chunk).expect("body");
    }
    let rss = s.proc.memory("VmRSS");
    assert!(rss < 150 << 20, "larder grew to {rss} bytes");
}

/// Under `noeviction` past `maxmemory`, a store answers memcached's
/// ENOMEM ("Out of memory allocating item"), a Set drops the old item,
/// and neither `cmd_set` nor `store_no_memory` counts it (memcached's
/// binary path fails the allocation before either). Larder only: a
/// memcached evicts or refuses depending on its slab state.
#[test]
fn noeviction_refuses_with_enomem() {
    let s =
        common::start_larder_memcache(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let mut c = BinConn::connect(s.port);
    c.exchange(&frames(&[store(SET, "old", 0, 0, b"x")]))
        .expect("set");
    let big = vec![b'v'; 100_000];
    let mut oom = None;
    for i in 0..40 {
        let r = c
            .exchange(&frames(&[store(SET, &format!("k{i}"), 0, 0, &big)]))
            .expect("reply");
        if r.len() == 1 && r[0].status() == 0x82 {
            oom = Some(i);
            assert_eq!(r[0].value(), b"Out of memory allocating item");
            break;
        }
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status(), 0);
    }
    let stored = oom.expect("never refused under noeviction");
    let r = c
        .exchange(&frames(&[store(SET, "old", 0, 0, &big), keyed(GET, "old")]))
        .expect("replies");
    let statuses: Vec<u16> = r.iter().map(Packet::status).collect();
    assert_eq!(statuses, [0x82, 0x01]);
    let stats = c.exchange(&keyed(STAT, "").bytes()).expect("stats");
    let stat = |name: &str| -> String {
        let p = stats.iter().find(|p| p.key() == name.as_bytes());
        String::from_utf8_lossy(p.expect(name).value()).into_owned()
    };
    assert_eq!(stat("cmd_set"), (1 + stored).to_string());
    assert_eq!(stat("store_no_memory"), "0");
}

/// The counters both servers keep for the same binary commands (the
/// binary protocol counts a few things its own way: a refused store
/// counts no set, a created incr is no miss).
#[test]
fn counters_match() {
    let Some(mut p) = BinPair::start() else {
        return;
    };
    let big = vec![b'x'; 2 << 20];
    p.case(&frames(&[keyed(STAT, "reset")]));
    p.case(&frames(&[
        store(SET, "a", 0, 0, b"1"),
        store(SETQ, "b", 0, 0, b"1"),
        store(ADD, "a", 0, 0, b"1"),
        store(REPLACE, "zz", 0, 0, b"1"),
        store(SET, "a", 0, 0, b"1").cas(BOGUS_CAS),
        store(SET, "zz", 0, 0, b"1").cas(BOGUS_CAS),
        store(SET, "a", 0, 0, &big),
        keyed(APPEND, "b").value(b"2"),
        // (Before any get of b: whether memcached rewrites a number in
        // place depends on whether a pending reply still holds the item.)
        arith(INCR, "b", 1, 0, 0),
        store(SET, "nine", 0, 0, b"9"),
        arith(INCR, "nine", 1, 0, 0),
        keyed(GET, "b"),
        keyed(GETQ, "zz"),
        keyed(GETK, "zz"),
        touch(TOUCH, "b", 0),
        touch(TOUCH, "zz", 0),
        touch(GAT, "b", 0),
        touch(GATKQ, "zz", 0),
        arith(INCR, "zz", 1, 0, u32::MAX),
        arith(DECR, "zz", 1, 0, u32::MAX),
        arith(DECR, "c", 1, 5, 0),
        keyed(DELETE, "b"),
        keyed(DELETE, "b"),
        keyed(DELETE, "c").cas(BOGUS_CAS),
        Frame::new(FLUSHQ),
        keyed(GET, "c"),
    ]));
    let names = [
        "cmd_get",
        "cmd_set",
        "cmd_flush",
        "cmd_touch",
        "get_hits",
        "get_misses",
        "get_flushed",
        "delete_misses",
        "delete_hits",
        "incr_misses",
        "incr_hits",
        "decr_misses",
        "decr_hits",
        "cas_misses",
        "cas_hits",
        "cas_badval",
        "touch_hits",
        "touch_misses",
        "store_too_large",
        "store_no_memory",
        // (Not curr_items: memcached's flush leaves its items counted
        // until they are reclaimed; Larder's removes them at once.)
        "total_items",
    ];
    let pick = |ps: &[Packet]| -> Vec<String> {
        ps.iter()
            .filter(|pk| names.contains(&String::from_utf8_lossy(pk.key()).as_ref()))
            .map(|pk| format!("{}={}", esc(pk.key()), esc(pk.value())))
            .collect()
    };
    let l =
        p.l.exchange(&keyed(STAT, "").bytes())
            .expect("larder stats");
    let m =
        p.m.exchange(&keyed(STAT, "").bytes())
            .expect("memcached stats");
    assert_eq!(pick(&l), pick(&m));
    assert_eq!(pick(&m).len(), names.len());
}

/// The Stat groups have memcached's names in memcached's order (values
/// differ between servers; `settings` as in diff_memcache_admin.rs).
#[test]
fn stat_groups_shape() {
    let Some(mut p) = BinPair::start() else {
        return;
    };
    p.case(&frames(&[store(SET, "x", 0, 0, b"x")]));
    let names = |ps: Vec<Packet>| -> Vec<String> {
        ps.iter()
            .map(|pk| {
                assert_eq!((pk.opcode(), pk.status(), pk.opaque()), (STAT, 0, 9));
                String::from_utf8_lossy(pk.key()).into_owned()
            })
            .filter(|n| {
                !(n.starts_with("ext_")
                    || n.starts_with("ssl_")
                    || n == "slab_automove_freeratio"
                    || n == "num_napi_ids"
                    || n == "memory_file"
                    || n == "maxmemory_policy")
            })
            .collect()
    };
    for group in ["", "settings", "items", "slabs", "sizes"] {
        let f = keyed(STAT, group).opaque(9).bytes();
        let l = names(p.l.exchange(&f).expect("larder"));
        let m = names(p.m.exchange(&f).expect("memcached"));
        assert_eq!(l, m, "stat group {group:?}");
        assert_eq!(m.last().map(String::as_str), Some(""), "{group:?}");
    }
}

const KEYS: &[&str] = &["a", "b", "c", "num", "zz"];

fn rand_value(r: &mut Rng) -> Vec<u8> {
    match r.below(4) {
        0 => r.below(1000).to_string().into_bytes(),
        1 => Vec::new(),
        2 => format!("v{}", r.below(100_000)).into_bytes(),
        _ => vec![b'x'; r.below(60) as usize],
    }
}

fn rand_exptime(r: &mut Rng) -> u32 {
    r.pick(&[0, 0, 0, 1000, u32::MAX, 1_000_000_000])
}

/// One random request; a CAS of `u64::MAX` is replaced per server by its
/// last CAS of the key.
fn rand_frame(r: &mut Rng) -> (String, Frame) {
    let k = r.pick(KEYS);
    let cas = match r.below(6) {
        0 => u64::MAX,
        1 => BOGUS_CAS,
        _ => 0,
    };
    let f = match r.below(12) {
        0..=1 => {
            let op = r.pick(&[SET, SETQ, ADD, ADDQ, REPLACE, REPLACEQ]);
            store(
                op,
                k,
                r.below(70_000) as u32,
                rand_exptime(r),
                &rand_value(r),
            )
            .cas(cas)
        }
        2 => {
            let op = r.pick(&[APPEND, APPENDQ, PREPEND, PREPENDQ]);
            keyed(op, k).value(&rand_value(r)).cas(cas)
        }
        3..=4 => keyed(r.pick(&[GET, GETQ, GETK, GETKQ]), k),
        5 => touch(r.pick(&[TOUCH, GAT, GATQ, GATK, GATKQ]), k, rand_exptime(r)),
        6 => keyed(r.pick(&[DELETE, DELETEQ]), k).cas(cas),
        7..=8 => {
            let op = r.pick(&[INCR, INCRQ, DECR, DECRQ]);
            let exp = r.pick(&[0, u32::MAX, 1000, 1_000_000_000]);
            arith(op, k, r.below(50), r.below(100), exp).cas(cas)
        }
        9 => Frame::new(r.pick(&[NOOP, VERSION])),
        10 => {
            if r.below(20) == 0 {
                Frame::new(r.pick(&[FLUSH, FLUSHQ]))
            } else {
                keyed(GETK, k)
            }
        }
        _ => keyed(GET, k),
    };
    (k.to_string(), f.opaque(r.below(1 << 32) as u32))
}

#[test]
fn random_sequences() {
    let Some(mut p) = BinPair::start() else {
        return;
    };
    p.loose = true;
    let seed = common::env_u64("LARDER_DIFF_SEED", 0xb1_7a5e);
    let iters = common::env_u64("LARDER_DIFF_ITERATIONS", 3000) as usize;
    println!("memcache binary diff seed {seed}, {iters} requests");
    let mut r = Rng(seed | 1);
    let mut cas_l: HashMap<String, u64> = HashMap::new();
    let mut cas_m: HashMap<String, u64> = HashMap::new();
    let mut done = 0;
    while done < iters {
        // A pipeline of 1 to 4 requests.
        let n = 1 + r.below(4) as usize;
        let batch: Vec<(String, Frame)> = (0..n).map(|_| rand_frame(&mut r)).collect();
        done += n;
        let with = |cas: &HashMap<String, u64>| -> Vec<u8> {
            let fs: Vec<Frame> = batch
                .iter()
                .map(|(k, f)| {
                    let mut f = f.clone();
                    if f.cas == u64::MAX {
                        f.cas = cas.get(k).copied().unwrap_or(BOGUS_CAS);
                    }
                    f
                })
                .collect();
            frames(&fs)
        };
        let (l, m) = p.case2(&with(&cas_l), &with(&cas_m));
        // A reply's CAS is its key's when the request named one key.
        for (ps, cas) in [(&l, &mut cas_l), (&m, &mut cas_m)] {
            for pk in ps.iter().filter(|pk| pk.cas() != 0) {
                if let Some((k, _)) = batch.iter().find(|(_, f)| f.opaque == pk.opaque()) {
                    cas.insert(k.clone(), pk.cas());
                }
            }
        }
    }
}

/// With a password set, a binary connection authenticates with SASL
/// `PLAIN` against the server's users (as memcached with `-S`): before
/// that only the SASL opcodes and Version are served, anything else is
/// "Auth failure." and the connection closes (so these exchanges read
/// one reply each: the usual Noop sentinel would be refused).
#[test]
fn sasl_plain_when_a_password_is_set() {
    let s = common::start_larder_memcache(&[
        "--requirepass",
        "secret",
        "--user",
        "ro",
        "on",
        ">pw",
        "~*",
        "+get",
    ]);
    let one = |c: &mut BinConn, f: Frame| -> (u8, u16, String) {
        c.stream.write_all(&f.bytes()).unwrap();
        c.stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut h = [0u8; 24];
        c.stream.read_exact(&mut h).expect("header");
        let mut body = vec![0u8; u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize];
        c.stream.read_exact(&mut body).expect("body");
        let p = Packet { header: h, body };
        (
            p.opcode(),
            p.status(),
            String::from_utf8_lossy(p.value()).into_owned(),
        )
    };
    let fail = (SASL_AUTH, 0x20, "Auth failure.".to_string());
    let mut c = BinConn::connect(s.port);
    assert_eq!(
        one(&mut c, Frame::new(SASL_LIST)),
        (SASL_LIST, 0, "PLAIN".into())
    );
    assert_eq!(one(&mut c, Frame::new(VERSION)).1, 0);
    let auth = |msg: &[u8]| keyed(SASL_AUTH, "PLAIN").value(msg);
    // A user without full access, a wrong password, a bad message, another
    // mechanism: refused, and the connection stays.
    for bad in [&b"\0default\0wrong"[..], b"\0ro\0pw", b"nonul"] {
        assert_eq!(one(&mut c, auth(bad)), fail);
    }
    assert_eq!(one(&mut c, keyed(SASL_AUTH, "CRAM-MD5").value(b"x")), fail);
    assert_eq!(
        one(&mut c, keyed(GET, "k")),
        (GET, 0x20, "Auth failure.".into())
    );
    let mut rest = Vec::new();
    c.stream.read_to_end(&mut rest).expect("closed");
    assert!(rest.is_empty());

    c.reconnect();
    assert_eq!(
        one(&mut c, auth(b"\0default\0secret")),
        (SASL_AUTH, 0, "Authenticated".into())
    );
    let r = c
        .exchange(&frames(&[store(SET, "k", 0, 0, b"v"), keyed(GET, "k")]))
        .unwrap();
    assert_eq!(
        (r[0].status(), r[1].status(), r[1].value()),
        (0, 0, &b"v"[..])
    );
    // `stats` counts the attempts (the text login below is one more).
    let mut t = memcache_common::McConn::connect(s.port);
    t.exchange(b"set x 0 0 14\r\ndefault secret\r\n").unwrap();
    assert_eq!(
        memcache_common::stats_subset(&mut t, &["auth_cmds", "auth_errors"]),
        ["STAT auth_cmds 6", "STAT auth_errors 4"]
    );
}

/// Under memcached's `-F` (`memcache-disable-flush-all`), a binary Flush
/// is refused with memcached's status and nothing is flushed.
#[test]
fn flush_disabled() {
    let Some(p) = Pair::start_with(&["--memcache-disable-flush-all", "yes"], &["-F"]) else {
        return;
    };
    let req = frames(&[
        store(SET, "k", 0, 0, b"v"),
        Frame::new(FLUSH),
        Frame::new(FLUSH).extras(&5u32.to_be_bytes()),
        keyed(GET, "k"),
    ]);
    let mut l = BinConn::connect(p.larder_port());
    let mut m = BinConn::connect(p.memcached_port());
    let show = |r: Vec<Packet>| r.iter().map(|x| x.show(false)).collect::<Vec<_>>();
    let (a, b) = (
        show(l.exchange(&req).unwrap()),
        show(m.exchange(&req).unwrap()),
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 4, "{a:?}");
}

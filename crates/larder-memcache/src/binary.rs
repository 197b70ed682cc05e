//! memcached's binary protocol (deprecated upstream since 1.6, still served
//! by 1.6.18 and spoken by older libmemcached and spymemcached clients):
//! request frames and response headers.
//!
//! A frame is a 24-byte header and a body:
//!
//! ```text
//!  0      1       2..4    4       5         6..8      8..12    12..16  16..24
//!  magic  opcode  keylen  extlen  datatype  vbucket/  bodylen  opaque  cas
//!                                           status
//!  body = extras (extlen) | key (keylen) | value (bodylen - extlen - keylen)
//! ```
//!
//! all big-endian; requests have magic 0x80, responses 0x81 (with the
//! status where the request has its vbucket). The opaque is echoed.
//!
//! [`parse`] follows memcached 1.6.18's `try_read_command_binary` and
//! `dispatch_bin_command` check for check, because clients and the
//! differential tests see the difference: a bad magic closes the connection
//! without a reply; the header, extras and key must be buffered before
//! anything is decided; lengths that do not add up answer "Unknown command"
//! and close; a key over 250 bytes, or extras / key / body lengths an opcode
//! does not take, answer "Invalid arguments" and close; an unknown opcode
//! answers "Unknown command" and skips the body — counted, as memcached does, from after the key, so a frame
//! with extras or a key skips that many bytes of what follows. A value over
//! the item size limit is refused ("Too large.") once the header is in, and
//! skipped as it arrives: the buffer never holds more than the header, the
//! extras, the key and one accepted value.
//!
//! The SASL opcodes parse into [`Cmd::SaslList`] and [`Cmd::Sasl`] (the
//! message buffered whole, at most [`crate::auth::MAX_TOKEN_BYTES`]); a
//! server that requires no password answers them "Unknown command", as
//! memcached without SASL.
//!
//! Costs: a fixed-size header read, no copy, no allocation; requests borrow
//! the connection's input buffer. Replies are encoded straight into the
//! output buffer ([`header`], [`error`], [`stats`]).

use crate::{Limits, StoreOp, KEY_MAX};

/// A request's magic byte.
pub const REQ_MAGIC: u8 = 0x80;
/// A response's magic byte.
pub const RES_MAGIC: u8 = 0x81;
/// The fixed header.
pub const HEADER_LEN: usize = 24;

/// Opcodes memcached 1.6.18 serves.
pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Response statuses, with memcached's texts ([`status_text`]).
pub mod status {
    pub const SUCCESS: u16 = 0x00;
    pub const KEY_ENOENT: u16 = 0x01;
    pub const KEY_EEXISTS: u16 = 0x02;
    pub const E2BIG: u16 = 0x03;
    pub const EINVAL: u16 = 0x04;
    pub const NOT_STORED: u16 = 0x05;
    pub const DELTA_BADVAL: u16 = 0x06;
    pub const AUTH_ERROR: u16 = 0x20;
    pub const UNKNOWN_COMMAND: u16 = 0x81;
    pub const ENOMEM: u16 = 0x82;
}

/// The body memcached's `write_bin_error` sends for a status.
pub fn status_text(s: u16) -> &'static str {
    match s {
        status::ENOMEM => "Out of memory",
        status::UNKNOWN_COMMAND => "Unknown command",
        status::KEY_ENOENT => "Not found",
        status::EINVAL => "Invalid arguments",
        status::KEY_EEXISTS => "Data exists for key.",
        status::E2BIG => "Too large.",
        status::DELTA_BADVAL => "Non-numeric server-side value for incr or decr",
        status::NOT_STORED => "Not stored.",
        status::AUTH_ERROR => "Auth failure.",
        _ => "",
    }
}

/// What [`parse`] found at the start of the buffer.
#[derive(Debug)]
pub enum Frame<'a> {
    /// More input is needed: `need` bytes in all.
    Incomplete { need: usize },
    /// Not a request (bad magic): memcached closes without a reply.
    Close,
    /// A request, `consumed` bytes long.
    Request { req: Request<'a>, consumed: usize },
}

/// A request: the header fields a reply needs, and the command.
#[derive(Debug)]
pub struct Request<'a> {
    /// The opcode as sent (a reply carries it, quiet or not).
    pub opcode: u8,
    pub opaque: u32,
    /// The header's CAS (0 = none).
    pub cas: u64,
    /// A quiet opcode: success (and a get's miss) is not answered.
    pub quiet: bool,
    pub cmd: Cmd<'a>,
}

/// The commands, quiet variants folded into their loud ones.
#[derive(Debug)]
pub enum Cmd<'a> {
    /// Get, GetK, Touch, GAT, GATK (and the quiet ones).
    Get {
        key: &'a [u8],
        /// GetK / GATK: the reply (and a miss) carries the key.
        with_key: bool,
        /// Touch / GAT: the new exptime (unsigned, as memcached reads it).
        touch: Option<u32>,
        /// Not Touch: the reply carries the value.
        value: bool,
    },
    /// Set, Add, Replace, Append, Prepend (a nonzero CAS makes the first
    /// three a compare-and-swap).
    Store {
        op: StoreOp,
        key: &'a [u8],
        flags: u32,
        exptime: u32,
        data: &'a [u8],
    },
    Delete {
        key: &'a [u8],
    },
    /// Increment / Decrement: an exptime of 0xffffffff means "fail if
    /// missing"; otherwise a missing item is created with `initial`.
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        initial: u64,
        exptime: u32,
    },
    Quit,
    /// Flush with its optional delay (0 = now).
    Flush {
        delay: u32,
    },
    Noop,
    Version,
    /// SASL list mechanisms.
    SaslList,
    /// SASL auth (or, `step`, its continuation): the mechanism (the key) and
    /// the message (the value).
    Sasl {
        step: bool,
        mech: &'a [u8],
        data: &'a [u8],
    },
    /// Stat with its group (the key; empty = general).
    Stat {
        group: &'a [u8],
    },
    /// A storage request over the item size limit: "Too large.", skip the
    /// value, and (Set) drop the old item.
    TooLarge {
        key: &'a [u8],
        unlink: bool,
        swallow: usize,
    },
    /// Answer `status` with its text, then skip `swallow` bytes; `close`
    /// after the reply.
    Error {
        status: u16,
        swallow: usize,
        close: bool,
    },
}

/// The fixed header of a request.
struct Header {
    opcode: u8,
    keylen: usize,
    extlen: usize,
    bodylen: u32,
    opaque: u32,
    cas: u64,
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u64(b: &[u8]) -> u64 {
    (u64::from(be_u32(b)) << 32) | u64::from(be_u32(&b[4..]))
}

/// Parses the next request at the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Frame<'a> {
    if buf.len() < HEADER_LEN {
        return Frame::Incomplete { need: HEADER_LEN };
    }
    if buf[0] != REQ_MAGIC {
        return Frame::Close;
    }
    let h = Header {
        opcode: buf[1],
        keylen: usize::from(u16::from_be_bytes([buf[2], buf[3]])),
        extlen: usize::from(buf[4]),
        bodylen: be_u32(&buf[8..]),
        opaque: be_u32(&buf[12..]),
        cas: be_u64(&buf[16..]),
    };
    let head = HEADER_LEN + h.extlen + h.keylen;
    if buf.len() < head {
        return Frame::Incomplete { need: head };
    }
    let extras = &buf[HEADER_LEN..HEADER_LEN + h.extlen];
    let key = &buf[HEADER_LEN + h.extlen..head];
    let bodylen = h.bodylen as usize;
    let (quiet, opcode) = loud(h.opcode);
    let req = |cmd| Request {
        opcode: h.opcode,
        opaque: h.opaque,
        cas: h.cas,
        quiet,
        cmd,
    };
    let done = |cmd| Frame::Request {
        req: req(cmd),
        consumed: head,
    };
    let error = |status, swallow, close| {
        done(Cmd::Error {
            status,
            swallow,
            close,
        })
    };
    if h.keylen + h.extlen > bodylen {
        return error(status::UNKNOWN_COMMAND, 0, true);
    }
    if h.keylen > KEY_MAX {
        return error(status::EINVAL, 0, true);
    }
    let (k, e, b) = (h.keylen, h.extlen, bodylen);
    // Each opcode's length rule, as `dispatch_bin_command`.
    let valid = match opcode {
        op::VERSION | op::NOOP | op::QUIT | op::SASL_LIST_MECHS => k == 0 && e == 0 && b == 0,
        op::FLUSH => k == 0 && b == e && (e == 0 || e == 4),
        op::SET | op::ADD | op::REPLACE => e == 8 && k != 0 && b >= k + 8,
        op::GET | op::GETK => e == 0 && b == k && k > 0,
        op::DELETE => k > 0 && e == 0 && b == k,
        op::INCREMENT | op::DECREMENT => k > 0 && e == 20 && b == k + e,
        op::APPEND | op::PREPEND => k > 0 && e == 0,
        op::STAT => e == 0,
        op::SASL_AUTH | op::SASL_STEP => e == 0 && k != 0,
        op::TOUCH | op::GAT | op::GATK => e == 4 && k != 0,
        _ => {
            // Unknown: the body is skipped from after the key.
            return error(status::UNKNOWN_COMMAND, bodylen, false);
        }
    };
    if !valid {
        return error(status::EINVAL, 0, true);
    }
    let cmd = match opcode {
        op::VERSION => Cmd::Version,
        op::NOOP => Cmd::Noop,
        op::QUIT => Cmd::Quit,
        op::FLUSH => Cmd::Flush {
            delay: if e == 4 { be_u32(extras) } else { 0 },
        },
        op::SASL_LIST_MECHS => Cmd::SaslList,
        op::SASL_AUTH | op::SASL_STEP => {
            let vlen = b - k;
            if vlen > crate::auth::MAX_TOKEN_BYTES {
                return error(status::EINVAL, vlen, false);
            }
            let end = head + vlen;
            if buf.len() < end {
                return Frame::Incomplete { need: end };
            }
            return Frame::Request {
                req: req(Cmd::Sasl {
                    step: opcode == op::SASL_STEP,
                    mech: key,
                    data: &buf[head..end],
                }),
                consumed: end,
            };
        }
        op::GET | op::GETK | op::TOUCH | op::GAT | op::GATK => Cmd::Get {
            key,
            with_key: matches!(opcode, op::GETK | op::GATK),
            touch: (e == 4).then(|| be_u32(extras)),
            value: opcode != op::TOUCH,
        },
        op::DELETE => Cmd::Delete { key },
        op::INCREMENT | op::DECREMENT => Cmd::Arith {
            incr: opcode == op::INCREMENT,
            key,
            delta: be_u64(extras),
            initial: be_u64(&extras[8..]),
            exptime: be_u32(&extras[16..]),
        },
        op::STAT => Cmd::Stat { group: key },
        _ => return store(opcode, key, extras, bodylen - k - e, head, buf, limits, req),
    };
    done(cmd)
}

/// The loud opcode of a quiet one, and whether it was quiet.
fn loud(opcode: u8) -> (bool, u8) {
    let l = match opcode {
        op::SETQ => op::SET,
        op::ADDQ => op::ADD,
        op::REPLACEQ => op::REPLACE,
        op::DELETEQ => op::DELETE,
        op::INCREMENTQ => op::INCREMENT,
        op::DECREMENTQ => op::DECREMENT,
        op::QUITQ => op::QUIT,
        op::FLUSHQ => op::FLUSH,
        op::APPENDQ => op::APPEND,
        op::PREPENDQ => op::PREPEND,
        op::GETQ => op::GET,
        op::GETKQ => op::GETK,
        op::GATQ => op::GAT,
        op::GATKQ => op::GATK,
        _ => return (false, opcode),
    };
    (true, l)
}

/// Set/Add/Replace/Append/Prepend once the header, extras and key are in.
#[allow(clippy::too_many_arguments)]
fn store<'a>(
    opcode: u8,
    key: &'a [u8],
    extras: &'a [u8],
    vlen: usize,
    head: usize,
    buf: &'a [u8],
    limits: &Limits,
    req: impl Fn(Cmd<'a>) -> Request<'a>,
) -> Frame<'a> {
    let (op, flags, exptime) = match opcode {
        op::SET => (StoreOp::Set, be_u32(extras), be_u32(&extras[4..])),
        op::ADD => (StoreOp::Add, be_u32(extras), be_u32(&extras[4..])),
        op::REPLACE => (StoreOp::Replace, be_u32(extras), be_u32(&extras[4..])),
        op::APPEND => (StoreOp::Append, 0, 0),
        _ => (StoreOp::Prepend, 0, 0),
    };
    let too_large = |swallow| Frame::Request {
        req: req(Cmd::TooLarge {
            key,
            unlink: op == StoreOp::Set,
            swallow,
        }),
        consumed: head,
    };
    // memcached computes the value length as a C int: a body of 2 GB or
    // more makes it negative, refused as too large with nothing skipped.
    if vlen > i32::MAX as usize {
        return too_large(0);
    }
    if !limits.item_fits(key.len(), flags, vlen) {
        return too_large(vlen);
    }
    let Some(data) = buf.get(head..head + vlen) else {
        return Frame::Incomplete { need: head + vlen };
    };
    Frame::Request {
        req: req(Cmd::Store {
            op,
            key,
            flags,
            exptime,
            data,
        }),
        consumed: head + vlen,
    }
}

/// A response header: `extlen` bytes of extras, then `keylen` bytes of
/// key, then the value, `bodylen` bytes in all, follow.
#[allow(clippy::too_many_arguments)]
pub fn header(
    out: &mut Vec<u8>,
    opcode: u8,
    status: u16,
    extlen: u8,
    keylen: u16,
    bodylen: u32,
    opaque: u32,
    cas: u64,
) {
    out.push(RES_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&keylen.to_be_bytes());
    out.push(extlen);
    out.push(0);
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&bodylen.to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
}

/// An error reply: `status` with `text` as its body (CAS 0).
pub fn error(out: &mut Vec<u8>, opcode: u8, opaque: u32, status: u16, text: &str) {
    header(out, opcode, status, 0, 0, text.len() as u32, opaque, 0);
    out.extend_from_slice(text.as_bytes());
}

/// One Stat reply packet: `name` as its key, `value` as its value (both
/// empty: the terminating packet).
pub fn stat(out: &mut Vec<u8>, opaque: u32, name: &[u8], value: &[u8]) {
    let bodylen = (name.len() + value.len()) as u32;
    header(out, op::STAT, 0, 0, name.len() as u16, bodylen, opaque, 0);
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// The text protocol's `STAT <name> <value>` lines as Stat packets, and
/// its `END` as the terminating packet (memcached builds both from the
/// same stat list).
pub fn stats(out: &mut Vec<u8>, opaque: u32, text: &[u8]) {
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line == b"END" {
            stat(out, opaque, b"", b"");
        } else if let Some(rest) = line.strip_prefix(b"STAT ") {
            let (name, value) = match memchr::memchr(b' ', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &b""[..]),
            };
            stat(out, opaque, name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, extras: &[u8], key: &[u8], value: &[u8], bodylen: Option<u32>) -> Vec<u8> {
        let body = (extras.len() + key.len() + value.len()) as u32;
        let mut b = vec![REQ_MAGIC, opcode];
        b.extend_from_slice(&(key.len() as u16).to_be_bytes());
        b.extend_from_slice(&[extras.len() as u8, 0, 0, 0]);
        b.extend_from_slice(&bodylen.unwrap_or(body).to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&9u64.to_be_bytes());
        b.extend_from_slice(extras);
        b.extend_from_slice(key);
        b.extend_from_slice(value);
        b
    }

    fn request(buf: &[u8]) -> (Request<'_>, usize) {
        match parse(buf, &Limits::default()) {
            Frame::Request { req, consumed } => (req, consumed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_then_body() {
        let f = frame(op::SETQ, &[0, 0, 0, 5, 0, 0, 0, 10], b"k", b"abc", None);
        for n in [0, 23, 24, 32] {
            assert!(matches!(
                parse(&f[..n], &Limits::default()),
                Frame::Incomplete { need } if need > n
            ));
        }
        let (r, consumed) = request(&f);
        assert_eq!(consumed, f.len());
        assert_eq!((r.opcode, r.opaque, r.cas, r.quiet), (op::SETQ, 7, 9, true));
        match r.cmd {
            Cmd::Store {
                op,
                key,
                flags,
                exptime,
                data,
            } => assert_eq!(
                (op, key, flags, exptime, data),
                (StoreOp::Set, &b"k"[..], 5, 10, &b"abc"[..])
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(
                b"get k\r\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                &Limits::default()
            ),
            Frame::Close
        ));
    }

    #[test]
    fn refusals() {
        let err = |f: &[u8]| match request(f).0.cmd {
            Cmd::Error {
                status,
                swallow,
                close,
            } => (status, swallow, close),
            other => panic!("{other:?}"),
        };
        // Key longer than the body; key too long; a get with a value.
        assert_eq!(
            err(&frame(op::GET, &[], b"k", &[], Some(0))),
            (status::UNKNOWN_COMMAND, 0, true)
        );
        assert_eq!(
            err(&frame(op::GET, &[], &[b'k'; 251], &[], None)),
            (status::EINVAL, 0, true)
        );
        assert_eq!(
            err(&frame(op::GET, &[], b"k", b"v", None)),
            (status::EINVAL, 0, true)
        );
        // Unknown opcodes skip the whole body length from after the key.
        assert_eq!(
            err(&frame(0x50, &[], b"ab", b"xyz", None)),
            (status::UNKNOWN_COMMAND, 5, false)
        );
        match request(&frame(op::SASL_AUTH, &[], b"PLAIN", b"\0u\0p", None)) {
            (
                Request {
                    cmd:
                        Cmd::Sasl {
                            step: false,
                            mech,
                            data,
                        },
                    ..
                },
                n,
            ) => assert_eq!((mech, data, n), (&b"PLAIN"[..], &b"\0u\0p"[..], 24 + 9)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err(&frame(op::SASL_STEP, &[], b"PLAIN", &[0; 5000], None)),
            (status::EINVAL, 5000, false)
        );
        // Too large: refused before the value is in.
        let f = frame(op::SET, &[0; 8], b"k", &[], Some(9 + (2 << 20)));
        match request(&f) {
            (
                Request {
                    cmd:
                        Cmd::TooLarge {
                            unlink, swallow, ..
                        },
                    ..
                },
                consumed,
            ) => assert_eq!((unlink, swallow, consumed), (true, 2 << 20, f.len())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stats_from_text_lines() {
        let mut out = Vec::new();
        stats(&mut out, 3, b"STAT pid 12\r\nSTAT empty\r\nEND\r\n");
        let mut want = Vec::new();
        stat(&mut want, 3, b"pid", b"12");
        stat(&mut want, 3, b"empty", b"");
        stat(&mut want, 3, b"", b"");
        assert_eq!(out, want);
        assert_eq!(&out[..8], &[RES_MAGIC, op::STAT, 0, 3, 0, 0, 0, 0]);
    }
}

//! Reply encoding: appends RESP2 or RESP3 replies to a `Vec<u8>`, with the
//! RESP2 downgrades Redis 7.0 uses (networking.c `addReply*`).
//!
//! | call | RESP3 | RESP2 |
//! |---|---|---|
//! | `simple(s)` | `+s` | same |
//! | `error(s)` | `-s` | same |
//! | `int(n)` | `:n` | same |
//! | `bulk(b)` | `$len b` | same |
//! | `null()` | `_` | `$-1` |
//! | `null_array()` | `_` | `*-1` |
//! | `array(n)` | `*n` | same |
//! | `map(n)` | `%n` | `*2n` |
//! | `set(n)` | `~n` | `*n` |
//! | `push(n)` | `>n` | `*n` |
//! | `attribute(n)` | `\|n` | nothing (returns false; see the method) |
//! | `boolean(b)` | `#t` / `#f` | `:1` / `:0` |
//! | `double(d)` | `,%.17g` (`,inf`, `,-inf`) | bulk of the same text |
//! | `big_number(s)` | `(s` | bulk |
//! | `verbatim(f, t)` | `=len f:t` | bulk of `t` |
//!
//! Every reply is written in place (each line ends in `\r\n`); numbers are
//! formatted on the stack. Cost: one `extend_from_slice` per piece, no
//! allocation beyond the output `Vec` growing.

use crate::number::{fmt_double_g17, write_int_to, write_usize_to};

/// Protocol version negotiated by HELLO (RESP2 until a `HELLO 3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Writes replies for one connection into `out`.
#[derive(Debug)]
pub struct Reply<'a> {
    pub out: &'a mut Vec<u8>,
    pub proto: Protocol,
}

const CRLF: &[u8] = b"\r\n";

impl<'a> Reply<'a> {
    /// Reply writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>, proto: Protocol) -> Self {
        Reply { out, proto }
    }

    #[inline]
    fn is3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: usize) {
        self.out.push(prefix);
        write_usize_to(n, self.out);
        self.out.extend_from_slice(CRLF);
    }

    /// Append `text` with any `\r` or `\n` replaced by a space, so a reply
    /// line can never break the protocol.
    #[inline]
    fn line_text(&mut self, text: &[u8]) {
        if memchr::memchr2(b'\r', b'\n', text).is_none() {
            self.out.extend_from_slice(text);
        } else {
            self.out.extend(
                text.iter()
                    .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
            );
        }
    }

    /// Append pre-encoded protocol bytes unchanged.
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Status reply `+text` (`\r`/`\n` inside become spaces).
    #[inline]
    pub fn simple(&mut self, text: &[u8]) {
        self.out.push(b'+');
        self.line_text(text);
        self.out.extend_from_slice(CRLF);
    }

    /// `+OK`.
    #[inline]
    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }

    /// Error reply. `text` is the whole message including its code, e.g.
    /// `b"ERR unknown command"` or `b"WRONGTYPE ..."`; `-` is prepended
    /// unless `text` already starts with one (like Redis's
    /// `addReplyErrorLength`), and `\r`/`\n` inside become spaces (like
    /// `addReplyErrorFormat`).
    pub fn error(&mut self, text: &[u8]) {
        if text.first() != Some(&b'-') {
            self.out.push(b'-');
        }
        self.line_text(text);
        self.out.extend_from_slice(CRLF);
    }

    /// Integer reply `:n`.
    #[inline]
    pub fn int(&mut self, n: i64) {
        self.out.push(b':');
        write_int_to(n, self.out);
        self.out.extend_from_slice(CRLF);
    }

    /// Bulk string `$len\r\nbytes\r\n`.
    #[inline]
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.header(b'$', bytes.len());
        self.out.extend_from_slice(bytes);
        self.out.extend_from_slice(CRLF);
    }

    /// Bulk string holding the decimal text of `n` (Redis `addReplyBulkLongLong`).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// Null bulk: RESP2 `$-1`, RESP3 `_`.
    #[inline]
    pub fn null(&mut self) {
        self.out
            .extend_from_slice(if self.is3() { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// Null array: RESP2 `*-1`, RESP3 `_`.
    #[inline]
    pub fn null_array(&mut self) {
        self.out
            .extend_from_slice(if self.is3() { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// Array header; `len` elements must follow.
    #[inline]
    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// Map header; `len` key/value pairs (2 * len elements) must follow.
    /// RESP2: an array of 2 * len.
    #[inline]
    pub fn map(&mut self, len: usize) {
        if self.is3() {
            self.header(b'%', len);
        } else {
            self.header(b'*', len.saturating_mul(2));
        }
    }

    /// Set header; RESP2: array.
    #[inline]
    pub fn set(&mut self, len: usize) {
        let p = if self.is3() { b'~' } else { b'*' };
        self.header(p, len);
    }

    /// Push header (pub/sub messages, invalidations); RESP2: array.
    #[inline]
    pub fn push(&mut self, len: usize) {
        let p = if self.is3() { b'>' } else { b'*' };
        self.header(p, len);
    }

    /// Attribute header `|len` (then 2 * len elements, then the reply they
    /// describe). Redis never sends attributes to RESP2 clients (it asserts
    /// on it), and RESP2 has no way to carry them: in RESP2 this writes
    /// nothing and returns `false`, and the caller must then skip the
    /// attribute's key/value elements. Returns `true` when written.
    #[must_use]
    pub fn attribute(&mut self, len: usize) -> bool {
        if self.is3() {
            self.header(b'|', len);
            true
        } else {
            false
        }
    }

    /// Boolean: RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    #[inline]
    pub fn boolean(&mut self, b: bool) {
        let s: &[u8] = match (self.is3(), b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        };
        self.out.extend_from_slice(s);
    }

    /// Double like Redis 7.0 `addReplyDouble`: `%.17g` (`inf`, `-inf`);
    /// RESP3 `,text`, RESP2 a bulk string of the same text.
    pub fn double(&mut self, d: f64) {
        if self.is3() {
            self.out.push(b',');
            fmt_double_g17(d, self.out);
            self.out.extend_from_slice(CRLF);
        } else {
            // The text is 1..=24 bytes, so the header is "$N\r\n" or
            // "$NN\r\n": format after a 5-byte placeholder, then fix it up
            // in place (no temporary allocation).
            let start = self.out.len();
            self.out.extend_from_slice(b"$00\r\n");
            fmt_double_g17(d, self.out);
            let n = self.out.len() - start - 5;
            if n >= 10 {
                self.out[start + 1] = b'0' + (n / 10 % 10) as u8;
                self.out[start + 2] = b'0' + (n % 10) as u8;
            } else {
                self.out[start + 1] = b'0' + n as u8;
                self.out.copy_within(start + 3.., start + 2);
                self.out.pop();
            }
            self.out.extend_from_slice(CRLF);
        }
    }

    /// Big number: RESP3 `(digits`; RESP2 bulk.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.is3() {
            self.out.push(b'(');
            self.line_text(digits);
            self.out.extend_from_slice(CRLF);
        } else {
            self.bulk(digits);
        }
    }

    /// Verbatim string: RESP3 `=len\r\nfmt:text\r\n` (len includes the 4
    /// bytes of `fmt:`); RESP2 bulk of `text` only.
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.is3() {
            self.header(b'=', text.len() + 4);
            self.out.extend_from_slice(format);
            self.out.push(b':');
            self.out.extend_from_slice(text);
            self.out.extend_from_slice(CRLF);
        } else {
            self.bulk(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(proto: Protocol, f: impl FnOnce(&mut Reply<'_>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut r = Reply::new(&mut out, proto);
        f(&mut r);
        out
    }
    use Protocol::{Resp2, Resp3};

    #[test]
    fn scalars_both_protocols() {
        for p in [Resp2, Resp3] {
            assert_eq!(enc(p, |r| r.simple(b"OK")), b"+OK\r\n");
            assert_eq!(enc(p, |r| r.ok()), b"+OK\r\n");
            assert_eq!(enc(p, |r| r.int(-42)), b":-42\r\n");
            assert_eq!(enc(p, |r| r.bulk(b"")), b"$0\r\n\r\n");
            assert_eq!(enc(p, |r| r.bulk(b"a\r\nb")), b"$4\r\na\r\nb\r\n");
            assert_eq!(enc(p, |r| r.bulk_int(-7)), b"$2\r\n-7\r\n");
            assert_eq!(enc(p, |r| r.array(3)), b"*3\r\n");
            assert_eq!(
                enc(p, |r| r.error(b"ERR unknown command")),
                b"-ERR unknown command\r\n"
            );
            assert_eq!(enc(p, |r| r.error(b"-NOAUTH x")), b"-NOAUTH x\r\n");
            assert_eq!(enc(p, |r| r.error(b"ERR a\r\nb\nc")), b"-ERR a  b c\r\n");
            assert_eq!(enc(p, |r| r.simple(b"a\nb")), b"+a b\r\n");
        }
    }

    #[test]
    fn resp2_downgrades() {
        assert_eq!(enc(Resp2, |r| r.null()), b"$-1\r\n");
        assert_eq!(enc(Resp2, |r| r.null_array()), b"*-1\r\n");
        assert_eq!(enc(Resp2, |r| r.map(2)), b"*4\r\n");
        assert_eq!(enc(Resp2, |r| r.set(2)), b"*2\r\n");
        assert_eq!(enc(Resp2, |r| r.push(3)), b"*3\r\n");
        assert_eq!(enc(Resp2, |r| assert!(!r.attribute(1))), b"");
        assert_eq!(enc(Resp2, |r| r.boolean(true)), b":1\r\n");
        assert_eq!(enc(Resp2, |r| r.boolean(false)), b":0\r\n");
        assert_eq!(enc(Resp2, |r| r.double(1.5)), b"$3\r\n1.5\r\n");
        assert_eq!(
            enc(Resp2, |r| r.double(0.1)),
            b"$19\r\n0.10000000000000001\r\n"
        );
        assert_eq!(enc(Resp2, |r| r.double(f64::INFINITY)), b"$3\r\ninf\r\n");
        assert_eq!(
            enc(Resp2, |r| r.double(f64::NEG_INFINITY)),
            b"$4\r\n-inf\r\n"
        );
        assert_eq!(enc(Resp2, |r| r.big_number(b"123")), b"$3\r\n123\r\n");
        assert_eq!(enc(Resp2, |r| r.verbatim(b"txt", b"hi")), b"$2\r\nhi\r\n");
    }

    #[test]
    fn resp3_types() {
        assert_eq!(enc(Resp3, |r| r.null()), b"_\r\n");
        assert_eq!(enc(Resp3, |r| r.null_array()), b"_\r\n");
        assert_eq!(enc(Resp3, |r| r.map(2)), b"%2\r\n");
        assert_eq!(enc(Resp3, |r| r.set(2)), b"~2\r\n");
        assert_eq!(enc(Resp3, |r| r.push(3)), b">3\r\n");
        assert_eq!(enc(Resp3, |r| assert!(r.attribute(1))), b"|1\r\n");
        assert_eq!(enc(Resp3, |r| r.boolean(true)), b"#t\r\n");
        assert_eq!(enc(Resp3, |r| r.boolean(false)), b"#f\r\n");
        assert_eq!(enc(Resp3, |r| r.double(1.5)), b",1.5\r\n");
        assert_eq!(enc(Resp3, |r| r.double(f64::INFINITY)), b",inf\r\n");
        assert_eq!(enc(Resp3, |r| r.double(f64::NEG_INFINITY)), b",-inf\r\n");
        assert_eq!(enc(Resp3, |r| r.double(1e20)), b",1e+20\r\n");
        assert_eq!(enc(Resp3, |r| r.big_number(b"-123")), b"(-123\r\n");
        assert_eq!(
            enc(Resp3, |r| r.verbatim(b"txt", b"hi")),
            b"=6\r\ntxt:hi\r\n"
        );
    }
}

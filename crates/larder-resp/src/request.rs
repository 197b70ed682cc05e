//! Request parsing: what Redis 7.0's `processInlineBuffer` and
//! `processMultibulkBuffer` (networking.c) accept, byte for byte.
//!
//! # Protocol
//!
//! A request that starts with `*` is a *multibulk*:
//! `*<count>\r\n` then `count` times `$<len>\r\n<len bytes>\r\n`. Anything
//! else is an *inline* command: one line ending in `\n` (an optional `\r`
//! before it is dropped), split into words like `sdssplitargs` does (double
//! quotes with `\n \r \t \b \a \\ \" \xHH` escapes, single quotes with only
//! `\'`).
//!
//! Redis quirks that are reproduced on purpose, because a client can see them:
//! * A multibulk line ends at the first `\r`; the byte after it is skipped
//!   without being checked, and so are the two bytes after a bulk's payload
//!   (`*1\rX$4\r\nPINGxy` is a valid PING).
//! * Redis looks for line ends with `strchr`, which stops at a NUL byte: a NUL
//!   before the end of a header/inline line means the line never ends, and
//!   the request fails with "too big ..." once more than the line limit has
//!   arrived (until then it just waits).
//! * `*0` and `*-1` (any count <= 0) and empty inline lines are skipped.
//! * A line longer than the limit is an error as soon as more than
//!   `limit` bytes are present without its end. (Redis, reading 16 KB at a
//!   time, may accept a line slightly longer when it arrives in one read; we
//!   are deterministic and behave as if it arrived byte by byte.)
//!
//! # Costs
//!
//! The parser keeps its position between calls (the caller only appends to
//! the buffer until a request completes), so a request arriving in pieces is
//! scanned once: O(n) in total. Multibulk arguments are `(start, end)` ranges
//! into the caller's buffer, kept in a `Vec` that is reused across requests:
//! no allocation per request in the steady state. Its reservation for a new
//! request is capped (1024 entries, like Redis), so an announced
//! `*2147483647` costs nothing until the arguments actually arrive. Inline
//! commands are unquoted into a reusable scratch buffer.

use crate::number::string2ll;

/// Redis 7.0 answers an unauthenticated client announcing more than this many
/// arguments with "Protocol error: unauthenticated multibulk length".
const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// ... and a bulk longer than this (16 KB) with "Protocol error: unauthenticated bulk length".
const UNAUTH_MAX_BULK: i64 = 16384;
/// Cap on the argument slots reserved up front for an announced count.
const MAX_PREALLOC_ARGS: usize = 1024;

/// Protocol limits (Redis: `proto-max-bulk-len`, `INT_MAX`, `PROTO_INLINE_MAX_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted bulk argument (`proto-max-bulk-len`, default 512 MB).
    pub max_bulk_len: usize,
    /// Largest accepted multibulk count. Default `i32::MAX` (2147483647),
    /// exactly Redis's `INT_MAX` check.
    pub max_multibulk_len: usize,
    /// Longest inline line, multibulk header line or bulk length line
    /// (`PROTO_INLINE_MAX_SIZE`, 64 KB).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A request the server must refuse. After one, the server replies
/// `-ERR <Display text>\r\n` (see [`ProtocolError::write_reply`]) and closes
/// the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Inline line longer than `max_inline_len` without a `\n`.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// Inline line with an unterminated quote or a closing quote not
    /// followed by a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// `*` header line longer than `max_inline_len` without a `\r`.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    /// `*` count not a number or above `max_multibulk_len`.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// An element line that does not start with `$`; holds the byte found.
    /// Display follows Redis's `%c` formatting: `\r`/`\n` show as a space, a
    /// NUL truncates the message, other bytes >= 0x80 are shown as the
    /// Latin-1 char (Redis sends the raw byte: use
    /// [`ProtocolError::message_bytes`] for the exact bytes).
    #[error("{}", expected_dollar_text(*.0))]
    ExpectedDollar(u8),
    /// `$` line longer than `max_inline_len` without a `\r`.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// `$` length not a number, negative, or above `max_bulk_len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// Count above 10 while [`RequestParser::set_auth_required`] is on.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// Bulk above 16384 bytes while [`RequestParser::set_auth_required`] is on.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

fn expected_dollar_text(b: u8) -> String {
    match b {
        0 => "Protocol error: expected '$', got '".to_string(),
        b'\r' | b'\n' => "Protocol error: expected '$', got ' '".to_string(),
        _ => format!("Protocol error: expected '$', got '{}'", char::from(b)),
    }
}

impl ProtocolError {
    /// The exact bytes Redis sends after `-ERR ` (differs from `Display` only
    /// for [`ProtocolError::ExpectedDollar`] with a byte >= 0x80).
    pub fn message_bytes(&self) -> Vec<u8> {
        match *self {
            ProtocolError::ExpectedDollar(b) if b >= 0x80 => {
                let mut v = b"Protocol error: expected '$', got '".to_vec();
                v.push(b);
                v.push(b'\'');
                v
            }
            _ => self.to_string().into_bytes(),
        }
    }

    /// Append the complete error reply: `-ERR <message>\r\n`.
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"-ERR ");
        out.extend_from_slice(&self.message_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Outcome of [`RequestParser::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// Need more bytes. `hint` = total bytes of buf needed to make progress,
    /// when known (the end of a bulk whose length was announced). Treat it as
    /// a hint only: grow the buffer gradually.
    Incomplete { hint: Option<usize> },
    /// A full request with >= 1 argument occupies `buf[..consumed]`. Read it
    /// with [`RequestParser::args`], then drop those bytes; the next `parse`
    /// starts a new request.
    Request { consumed: usize },
    /// `buf[..consumed]` carries no request (empty inline line, `*0`, `*-1`):
    /// drop it and call again.
    Skip { consumed: usize },
}

/// Result of looking for the end of a line.
enum Line {
    /// Index of the terminator byte.
    Found(usize),
    NeedMore,
    TooBig,
}

/// Incremental RESP request parser, one per connection. See the module docs.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Inside a multibulk whose header has been read.
    in_multibulk: bool,
    /// Elements of the current multibulk still to read.
    remaining: usize,
    /// Offset in buf of the next unread byte of the current request.
    pos: usize,
    /// Length of the bulk whose `$` line has been read, if any.
    bulklen: Option<usize>,
    /// Line search resumes here (bytes in `pos..scan` hold no terminator).
    scan: usize,
    /// A NUL came before the line end: like Redis's strchr, never find it.
    nul_blocked: bool,
    /// Argument ranges into buf (multibulk) or `scratch` (inline).
    ranges: Vec<(usize, usize)>,
    /// Unquoted inline arguments.
    scratch: Vec<u8>,
    /// The last completed request was inline (args live in `scratch`).
    inline: bool,
    /// The last `parse` returned Request or Skip: reset on the next call.
    finished: bool,
    /// The last `parse` returned Request: `args` is meaningful.
    has_request: bool,
    /// Apply Redis's tighter limits for unauthenticated clients.
    auth_required: bool,
}

#[inline]
fn is_space(c: u8) -> bool {
    // C isspace() in the "C" locale.
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

impl RequestParser {
    /// A parser in its initial state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Redis 7.0 refuses, before authentication, multibulk counts above 10
    /// and bulks above 16384 bytes. Set this while the connection still has
    /// to `AUTH` (a password is configured and the client is not
    /// authenticated); default off.
    pub fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
    }

    /// Gives back the argument table a request with many arguments grew
    /// (16 bytes per argument: 1.6 MB after a 100,000-member SADD), between
    /// requests; the connection calls it when it shrinks its input buffer.
    pub fn release_excess(&mut self) {
        const KEEP: usize = 64;
        if self.in_multibulk {
            return;
        }
        if self.ranges.capacity() > KEEP {
            self.ranges = Vec::with_capacity(KEEP);
        }
        if self.scratch.capacity() > 64 * KEEP {
            self.scratch = Vec::new();
        }
    }

    /// Forget any partial request (e.g. after the caller discarded its buffer).
    pub fn reset(&mut self) {
        self.in_multibulk = false;
        self.remaining = 0;
        self.pos = 0;
        self.bulklen = None;
        self.scan = 0;
        self.nul_blocked = false;
        self.ranges.clear();
        self.inline = false;
        self.finished = false;
        self.has_request = false;
    }

    /// Parse one request from the start of `buf`, the connection's
    /// unconsumed input. After `Incomplete`, the caller must only append to
    /// `buf` before calling again (the parser resumes from saved offsets).
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parse, ProtocolError> {
        if self.finished {
            self.reset();
        }
        self.has_request = false;
        let r = if self.in_multibulk {
            self.parse_multibulk_args(buf, limits)
        } else {
            match buf.first() {
                None => Ok(Parse::Incomplete { hint: None }),
                Some(b'*') => self.parse_multibulk(buf, limits),
                Some(_) => self.parse_inline(buf, limits),
            }
        };
        match r {
            Ok(Parse::Request { .. }) => {
                self.finished = true;
                self.has_request = true;
            }
            Ok(Parse::Skip { .. }) => self.finished = true,
            Ok(Parse::Incomplete { .. }) => {}
            Err(_) => self.reset(),
        }
        r
    }

    /// A request begun and not complete, as Redis's CLIENT LIST sees it:
    /// the bytes of it parsed so far (header lines and whole arguments,
    /// which Redis has moved out of its query buffer) and the total length
    /// of its whole arguments (`argv-mem`). `(0, 0)` between requests.
    pub fn partial(&self) -> (usize, usize) {
        if !self.in_multibulk || self.finished {
            return (0, 0);
        }
        (self.pos, self.ranges.iter().map(|&(s, e)| e - s).sum())
    }

    /// Arguments of the request last returned as [`Parse::Request`]; `buf`
    /// must be the buffer given to that `parse` call. Empty if the last call
    /// did not return a request.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if !self.has_request {
            return Args {
                src: &[],
                ranges: &[],
            };
        }
        let src = if self.inline { &self.scratch[..] } else { buf };
        Args {
            src,
            ranges: &self.ranges,
        }
    }

    /// Find `target` in the line starting at `self.pos`, looking at no more
    /// than `limit + 1` bytes and stopping at a NUL like C's strchr.
    #[inline]
    fn find_line(&mut self, buf: &[u8], target: u8, limit: usize) -> Line {
        let start = self.pos;
        let avail = buf.len().saturating_sub(start);
        if !self.nul_blocked {
            let window_end = start + avail.min(limit.saturating_add(1));
            let from = self.scan.max(start);
            if from < window_end {
                let hay = &buf[from..window_end];
                // Lines are usually a few bytes ("$3"): scan them directly.
                let quick = hay.len().min(24);
                let mut hit = None;
                for (i, &c) in hay[..quick].iter().enumerate() {
                    if c == target || c == 0 {
                        hit = Some(i);
                        break;
                    }
                }
                if hit.is_none() && quick < hay.len() {
                    hit = memchr::memchr2(target, 0, &hay[quick..]).map(|i| i + quick);
                }
                match hit {
                    Some(i) if hay[i] == target => return Line::Found(from + i),
                    Some(_) => self.nul_blocked = true,
                    None => self.scan = window_end,
                }
            }
        }
        if avail > limit {
            Line::TooBig
        } else {
            Line::NeedMore
        }
    }

    fn parse_inline(&mut self, buf: &[u8], limits: &Limits) -> Result<Parse, ProtocolError> {
        let nl = match self.find_line(buf, b'\n', limits.max_inline_len) {
            Line::Found(at) => at,
            Line::NeedMore => return Ok(Parse::Incomplete { hint: None }),
            Line::TooBig => return Err(ProtocolError::TooBigInlineRequest),
        };
        let mut end = nl;
        if end > 0 && buf[end - 1] == b'\r' {
            end -= 1;
        }
        split_args(&buf[..end], &mut self.scratch, &mut self.ranges)
            .map_err(|()| ProtocolError::UnbalancedQuotes)?;
        let consumed = nl + 1;
        if self.ranges.is_empty() {
            Ok(Parse::Skip { consumed })
        } else {
            self.inline = true;
            Ok(Parse::Request { consumed })
        }
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: &Limits) -> Result<Parse, ProtocolError> {
        let cr = match self.find_line(buf, b'\r', limits.max_inline_len) {
            Line::Found(at) if at + 1 < buf.len() => at,
            Line::Found(_) | Line::NeedMore => return Ok(Parse::Incomplete { hint: None }),
            Line::TooBig => return Err(ProtocolError::TooBigMbulkCount),
        };
        let max = i64::try_from(limits.max_multibulk_len).unwrap_or(i64::MAX);
        let count = match string2ll(&buf[1..cr]) {
            Some(n) if n <= max => n,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        if count > UNAUTH_MAX_MULTIBULK && self.auth_required {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        self.pos = cr + 2;
        self.scan = self.pos;
        if count <= 0 {
            return Ok(Parse::Skip { consumed: self.pos });
        }
        // count > 0 and <= max_multibulk_len, so it fits usize.
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        self.in_multibulk = true;
        self.inline = false;
        self.remaining = count;
        self.ranges.clear();
        self.ranges.reserve(count.min(MAX_PREALLOC_ARGS));
        self.parse_multibulk_args(buf, limits)
    }

    #[inline]
    fn parse_multibulk_args(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Parse, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulklen {
                Some(len) => len,
                None => {
                    let cr = match self.find_line(buf, b'\r', limits.max_inline_len) {
                        Line::Found(at) if at + 1 < buf.len() => at,
                        Line::Found(_) | Line::NeedMore => {
                            return Ok(Parse::Incomplete { hint: None })
                        }
                        Line::TooBig => return Err(ProtocolError::TooBigBulkCount),
                    };
                    let first = buf[self.pos];
                    if first != b'$' {
                        return Err(ProtocolError::ExpectedDollar(first));
                    }
                    let len = match string2ll(&buf[self.pos + 1..cr]) {
                        Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len as u64 => n,
                        _ => return Err(ProtocolError::InvalidBulkLength),
                    };
                    if len > UNAUTH_MAX_BULK && self.auth_required {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    self.pos = cr + 2;
                    self.scan = self.pos;
                    // 0 <= len <= max_bulk_len, so it fits usize.
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    self.bulklen = Some(len);
                    len
                }
            };
            let need = self.pos.saturating_add(len).saturating_add(2);
            if buf.len() < need {
                return Ok(Parse::Incomplete { hint: Some(need) });
            }
            self.ranges.push((self.pos, self.pos + len));
            self.pos = need;
            self.scan = need;
            self.bulklen = None;
            self.remaining -= 1;
        }
        self.in_multibulk = false;
        Ok(Parse::Request { consumed: self.pos })
    }
}

#[inline]
fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs` over a whole line (a config or manifest line):
/// its arguments, or `None` on unbalanced quotes or text right after a
/// closing quote.
pub fn split_line(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (mut scratch, mut ranges) = (Vec::new(), Vec::new());
    split_args(line, &mut scratch, &mut ranges).ok()?;
    Some(
        ranges
            .iter()
            .map(|&(s, e)| scratch[s..e].to_vec())
            .collect(),
    )
}

/// Redis's `sdssplitargs`: split `line` into arguments appended to `scratch`
/// with their ranges in `ranges`. `Err` on unbalanced quotes. A NUL byte ends
/// the line (C string semantics; the line finder never lets one through).
fn split_args(
    line: &[u8],
    scratch: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<(), ()> {
    scratch.clear();
    ranges.clear();
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Ok(());
        }
        let start = scratch.len();
        let (mut inq, mut insq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if inq {
                let (h1, h2) = (hex_val(at(p + 2)), hex_val(at(p + 3)));
                if let (b'\\', b'x', Some(h1), Some(h2)) = (c, at(p + 1), h1, h2) {
                    scratch.push(h1 * 16 + h2);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    scratch.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(());
                    }
                    done = true;
                } else if c == 0 {
                    return Err(());
                } else {
                    scratch.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(());
                    }
                    done = true;
                } else if c == 0 {
                    return Err(());
                } else {
                    scratch.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => scratch.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        ranges.push((start, scratch.len()));
    }
}

/// The arguments of one request: byte slices into the connection buffer
/// (multibulk) or into the parser's scratch (inline).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    src: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// Arguments stored elsewhere (a MULTI queue, a script's `redis.call`):
    /// argument i is `src[ranges[i].0..ranges[i].1]`.
    pub fn from_parts(src: &'a [u8], ranges: &'a [(usize, usize)]) -> Args<'a> {
        Args { src, ranges }
    }

    /// Number of arguments (the command name included).
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when there are no arguments.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`, if present.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let &(s, e) = self.ranges.get(i)?;
        self.src.get(s..e)
    }

    /// All arguments in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let src = self.src;
        self.ranges
            .iter()
            .map(move |&(s, e)| src.get(s..e).unwrap_or(&[]))
    }

    /// Copy the arguments out (for tests and slow paths).
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        self.iter().map(<[u8]>::to_vec).collect()
    }
}

impl<'a> std::ops::Index<usize> for Args<'a> {
    type Output = [u8];

    /// Argument `i`; panics when `i >= len()` like slice indexing.
    fn index(&self, i: usize) -> &[u8] {
        match self.get(i) {
            Some(a) => a,
            None => panic!("argument index {i} out of range ({} arguments)", self.len()),
        }
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

//! memcached's text and meta protocols: request parsing and reply encoding
//! (the binary protocol is in [`binary`]).
//!
//! No I/O and no keyspace: [`parse`] looks at the start of a connection's
//! input buffer and returns the next request with its arguments as slices
//! of that buffer (no copy, no allocation), or says that more bytes are
//! needed, or that memcached would close the connection ([`auth`] parses the
//! authentication a server requiring a password expects first). The server runs the
//! request and encodes replies with the helpers in [`reply`].
//!
//! The rules are memcached 1.6.18's, including its quirks, because clients
//! and the differential tests can tell: a request line ends at `\n` (a
//! preceding `\r` is dropped); it is split on spaces into at most 23 tokens
//! (the rest is ignored, except by the `get` family, which reads every key);
//! a line without `\n` past 2048 bytes closes the connection unless it is a
//! `get`/`gets` (a long multi-get, bounded here by [`MAX_GET_LINE`]); a bad
//! line is answered and never desynchronizes the stream: a storage command
//! whose length was parsed but is refused (too large, bad meta flags) has its
//! data block skipped ([`Request::Error::swallow`]).
//!
//! Costs: one `memchr` for the line end, one pass to split tokens into a
//! fixed array, no heap allocation. A binary (base64, `b` flag) meta key is
//! decoded into an inline 250-byte buffer.

pub mod auth;
pub mod base64;
pub mod binary;
pub mod meta;
pub mod num;
pub mod reply;

pub use meta::{Meta, MetaCmd, MetaFlags, MetaKey};

/// Longest key, as memcached's KEY_MAX_LENGTH.
pub const KEY_MAX: usize = 250;
/// A line without `\n` longer than this closes the connection (unless `get`).
pub const LINE_MAX_NO_NEWLINE: usize = 2048;
/// Larder's bound on a multi-get line (memcached's is unbounded).
pub const MAX_GET_LINE: usize = 16 << 20;
/// memcached's MAX_TOKENS: 23 tokens plus its terminal one.
pub const MAX_TOKENS: usize = 23;
/// The version this codec follows, reported by `version` and `stats`.
pub const MEMCACHED_COMPAT_VERSION: &str = "1.6.18";

/// Limits the parser enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// memcached's `-I` (item_size_max): key, data and item header together.
    pub item_size_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            item_size_max: 1 << 20,
        }
    }
}

impl Limits {
    /// memcached's `item_size_ok`: a 48-byte item header, the key and its NUL,
    /// 4 bytes of client flags when nonzero, the data with its `\r\n`, and
    /// the 8-byte CAS must fit in the largest item.
    pub fn item_fits(&self, nkey: usize, flags: u32, vlen: usize) -> bool {
        item_total(nkey, flags, vlen) <= self.item_size_max
    }
}

/// memcached's `ITEM_ntotal`: the size of an item of that key, flags and
/// data length (as `stats sizes` and `lru_crawler metadump` count it).
pub fn item_total(nkey: usize, flags: u32, vlen: usize) -> usize {
    48 + nkey + 1 + if flags == 0 { 0 } else { 4 } + vlen + 2 + 8
}

/// What [`parse`] found at the start of the buffer. (A meta request's
/// inline key makes `Request` large; it is moved once, never boxed.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parse<'a> {
    /// More input is needed; `need` is the total length when known.
    Incomplete { need: Option<usize> },
    /// memcached closes the connection here (an over-long line).
    Close,
    /// A request, `consumed` bytes long (line and data block).
    Request { req: Request<'a>, consumed: usize },
}

/// The storage commands of the text protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

#[derive(Debug)]
pub struct Store<'a> {
    pub op: StoreOp,
    pub key: &'a [u8],
    pub flags: u32,
    /// Raw exptime: 0 never, negative expired, up to 30 days relative
    /// seconds, beyond that absolute Unix seconds.
    pub exptime: i32,
    /// The compared CAS (`cas` only).
    pub cas: u64,
    pub data: &'a [u8],
    pub noreply: bool,
}

/// The `get` family: `get`, `gets`, `gat`, `gats` (and `bget`).
#[derive(Debug)]
pub struct Get<'a> {
    pub with_cas: bool,
    /// `gat`/`gats`: the new exptime.
    pub touch: Option<i32>,
    /// Space-separated keys, each checked to be at most [`KEY_MAX`] bytes.
    pub keys: &'a [u8],
}

impl<'a> Get<'a> {
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> {
        words(self.keys)
    }
}

// A meta request carries its decoded key inline (no allocation per
// request); the enum is moved once, from the parser to the executor.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Request<'a> {
    Get(Get<'a>),
    Store(Store<'a>),
    Delete {
        key: &'a [u8],
        noreply: bool,
    },
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: &'a [u8],
        exptime: i32,
        noreply: bool,
    },
    FlushAll {
        delay: i32,
        noreply: bool,
    },
    Version,
    Verbosity {
        level: u32,
        noreply: bool,
    },
    Quit,
    /// `shutdown [graceful]` (both stop the server); any other argument is
    /// `invalid` (`CLIENT_ERROR invalid shutdown mode`, once shutdown is
    /// enabled).
    Shutdown {
        invalid: bool,
    },
    CacheMemlimit {
        megabytes: u32,
        noreply: bool,
    },
    /// `stats [group [args]]`: the whole line's tokens.
    Stats(Tokens<'a>),
    /// The rarely used administrative commands (`lru_crawler`, `watch`,
    /// `slabs`, `lru`), left as tokens for the server to interpret.
    Admin(Tokens<'a>),
    Meta(Meta<'a>),
    /// Answer `msg` (unless `noreply`), then skip `swallow` bytes of a data
    /// block that follows the line.
    Error {
        msg: &'static str,
        noreply: bool,
        swallow: usize,
    },
    /// A storage command over the item size limit: answer
    /// `SERVER_ERROR object too large for cache`, skip the data block, and,
    /// for a plain `set`, delete the key (memcached does not leave stale data).
    TooLarge {
        key: &'a [u8],
        unlink: bool,
        noreply: bool,
        swallow: usize,
    },
}

const E_FORMAT: &str = "CLIENT_ERROR bad command line format";

fn err(msg: &'static str, noreply: bool) -> Request<'static> {
    Request::Error {
        msg,
        noreply,
        swallow: 0,
    }
}

/// Space-separated words (memcached skips empty tokens).
pub fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

/// A request line split as memcached's `tokenize_command` splits it.
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    toks: [&'a [u8]; MAX_TOKENS],
    n: usize,
    /// What follows the last token when the line had more than [`MAX_TOKENS`].
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    pub fn split(line: &'a [u8]) -> Tokens<'a> {
        let mut t = Tokens {
            toks: [&[]; MAX_TOKENS],
            n: 0,
            rest: &[],
        };
        let mut i = 0;
        while i < line.len() {
            while i < line.len() && line[i] == b' ' {
                i += 1;
            }
            if i == line.len() {
                break;
            }
            let start = i;
            while i < line.len() && line[i] != b' ' {
                i += 1;
            }
            t.toks[t.n] = &line[start..i];
            t.n += 1;
            if t.n == MAX_TOKENS {
                t.rest = &line[(i + 1).min(line.len())..];
                break;
            }
        }
        t
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        if i < self.n {
            self.toks[i]
        } else {
            &[]
        }
    }

    pub fn as_slice(&self) -> &[&'a [u8]] {
        &self.toks[..self.n]
    }

    /// memcached's `set_noreply_maybe`: the last token is `noreply`.
    pub fn noreply(&self) -> bool {
        self.n > 0 && self.toks[self.n - 1] == b"noreply"
    }
}

/// Parses the next request at the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parse<'a> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return no_newline(buf);
    };
    let mut line = &buf[..nl];
    if line.len() > 1 && line[line.len() - 1] == b'\r' {
        line = &line[..line.len() - 1];
    }
    let line_len = nl + 1;
    let req = |req| Parse::Request {
        req,
        consumed: line_len,
    };
    let t = Tokens::split(line);
    let cmd = t.get(0);
    if t.is_empty() || cmd.len() < 2 {
        return req(err("ERROR", false));
    }
    let n = t.len();
    if cmd[0] == b'm' && cmd.len() == 2 {
        return meta::parse(cmd[1], &t, &buf[line_len..], line_len, limits);
    }
    let store = |op| parse_store(op, &t, &buf[line_len..], line_len, limits);
    // WANT_TOKENS bounds below count real tokens (memcached adds one).
    let r = match cmd {
        b"get" | b"bget" | b"gets" => {
            if n < 2 {
                err("ERROR", false)
            } else {
                return parse_get(cmd == b"gets", None, line, line_len);
            }
        }
        b"gat" | b"gats" => {
            if n < 2 {
                err("ERROR", false)
            } else {
                match num::strtol32(t.get(1)) {
                    None => err("CLIENT_ERROR invalid exptime argument", false),
                    Some(e) => return parse_get(cmd == b"gats", Some(e), line, line_len),
                }
            }
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => {
            if n != 5 && n != 6 {
                err("ERROR", false)
            } else {
                return store(match cmd {
                    b"set" => StoreOp::Set,
                    b"add" => StoreOp::Add,
                    b"replace" => StoreOp::Replace,
                    b"append" => StoreOp::Append,
                    _ => StoreOp::Prepend,
                });
            }
        }
        b"cas" => {
            if n != 6 && n != 7 {
                err("ERROR", false)
            } else {
                return store(StoreOp::Cas);
            }
        }
        b"incr" | b"decr" => {
            if n != 3 && n != 4 {
                err("ERROR", false)
            } else {
                let noreply = t.noreply();
                let key = t.get(1);
                if key.len() > KEY_MAX {
                    err(E_FORMAT, noreply)
                } else {
                    match num::strtoull(t.get(2)) {
                        None => err("CLIENT_ERROR invalid numeric delta argument", noreply),
                        Some(delta) => Request::Arith {
                            incr: cmd == b"incr",
                            key,
                            delta,
                            noreply,
                        },
                    }
                }
            }
        }
        b"delete" => {
            if !(2..=4).contains(&n) {
                err("ERROR", false)
            } else {
                let key = t.get(1);
                let noreply = n > 2 && t.noreply();
                let hold_zero = n > 2 && t.get(2) == b"0";
                let valid = n == 2
                    || (n == 3 && (hold_zero || noreply))
                    || (n == 4 && hold_zero && noreply);
                if !valid {
                    err(
                        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
                        noreply,
                    )
                } else if key.len() > KEY_MAX {
                    err(E_FORMAT, noreply)
                } else {
                    Request::Delete { key, noreply }
                }
            }
        }
        b"touch" => {
            if n != 3 && n != 4 {
                err("ERROR", false)
            } else {
                let noreply = t.noreply();
                let key = t.get(1);
                if key.len() > KEY_MAX {
                    err(E_FORMAT, noreply)
                } else {
                    match num::strtol32(t.get(2)) {
                        None => err("CLIENT_ERROR invalid exptime argument", noreply),
                        Some(exptime) => Request::Touch {
                            key,
                            exptime,
                            noreply,
                        },
                    }
                }
            }
        }
        b"flush_all" => {
            if n > 3 {
                err("ERROR", false)
            } else {
                let noreply = t.noreply();
                let explicit = n - usize::from(noreply) > 1;
                if !explicit {
                    Request::FlushAll { delay: 0, noreply }
                } else {
                    match num::strtol32(t.get(1)) {
                        None => err("CLIENT_ERROR invalid exptime argument", noreply),
                        Some(delay) => Request::FlushAll { delay, noreply },
                    }
                }
            }
        }
        b"version" => Request::Version,
        b"quit" => Request::Quit,
        b"verbosity" => {
            if n != 2 && n != 3 {
                err("ERROR", false)
            } else {
                let noreply = t.noreply();
                match num::strtoflags(t.get(1)) {
                    None => err(E_FORMAT, noreply),
                    Some(level) => Request::Verbosity { level, noreply },
                }
            }
        }
        b"shutdown" => Request::Shutdown {
            invalid: n > 2 || (n == 2 && t.get(1) != b"graceful"),
        },
        b"cache_memlimit" => {
            if n != 2 && n != 3 {
                err("ERROR", false)
            } else {
                let noreply = t.noreply();
                // `safe_strtoul`: a 32-bit count of megabytes.
                match num::strtoflags(t.get(1)) {
                    None => err("ERROR", noreply),
                    Some(megabytes) => Request::CacheMemlimit { megabytes, noreply },
                }
            }
        }
        b"stats" => Request::Stats(t),
        b"lru_crawler" | b"watch" | b"slabs" | b"lru" => Request::Admin(t),
        _ => {
            // memcached hangs up on what looks like an HTTP request.
            if n >= 1 && t.get(n - 1).starts_with(b"HTTP/") {
                return Parse::Close;
            }
            err("ERROR", false)
        }
    };
    req(r)
}

/// No `\n` yet: wait, or close on an over-long line as memcached does.
fn no_newline(buf: &[u8]) -> Parse<'_> {
    if buf.len() <= LINE_MAX_NO_NEWLINE {
        return Parse::Incomplete { need: None };
    }
    let lead = buf.iter().take_while(|&&b| b == b' ').count();
    let rest = &buf[lead..];
    if lead > 100 || !(rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
        return Parse::Close;
    }
    if buf.len() > MAX_GET_LINE {
        return Parse::Close;
    }
    Parse::Incomplete { need: None }
}

fn parse_get<'a>(with_cas: bool, touch: Option<i32>, line: &'a [u8], consumed: usize) -> Parse<'a> {
    // Skip the command (and exptime) words to reach the keys.
    let mut rest = line;
    let skip = if touch.is_some() { 2 } else { 1 };
    for _ in 0..skip {
        let lead = rest.iter().take_while(|&&b| b == b' ').count();
        rest = &rest[lead..];
        let w = rest.iter().take_while(|&&b| b != b' ').count();
        rest = &rest[w..];
    }
    let req = if words(rest).any(|k| k.len() > KEY_MAX) {
        err(E_FORMAT, false)
    } else {
        Request::Get(Get {
            with_cas,
            touch,
            keys: rest,
        })
    };
    Parse::Request { req, consumed }
}

fn parse_store<'a>(
    op: StoreOp,
    t: &Tokens<'a>,
    after: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Parse<'a> {
    let noreply = t.noreply();
    let key = t.get(1);
    let line_only = |req| Parse::Request {
        req,
        consumed: line_len,
    };
    if key.len() > KEY_MAX {
        return line_only(err(E_FORMAT, noreply));
    }
    let (Some(flags), Some(exptime), Some(vlen)) = (
        num::strtoflags(t.get(2)),
        num::strtol32(t.get(3)),
        num::strtol32(t.get(4)),
    ) else {
        return line_only(err(E_FORMAT, noreply));
    };
    let mut cas = 0;
    if op == StoreOp::Cas {
        match num::strtoull(t.get(5)) {
            Some(c) => cas = c,
            None => return line_only(err(E_FORMAT, noreply)),
        }
    }
    if !(0..=i32::MAX - 2).contains(&vlen) {
        return line_only(err(E_FORMAT, noreply));
    }
    let vlen = vlen as usize;
    if !limits.item_fits(key.len(), flags, vlen) {
        return line_only(Request::TooLarge {
            key,
            unlink: op == StoreOp::Set,
            noreply,
            swallow: vlen + 2,
        });
    }
    let Some(block) = after.get(..vlen + 2) else {
        return Parse::Incomplete {
            need: Some(line_len + vlen + 2),
        };
    };
    let consumed = line_len + vlen + 2;
    let req = if &block[vlen..] != b"\r\n" {
        err("CLIENT_ERROR bad data chunk", noreply)
    } else {
        Request::Store(Store {
            op,
            key,
            flags,
            exptime,
            cas,
            data: &block[..vlen],
            noreply,
        })
    };
    Parse::Request { req, consumed }
}

#[cfg(test)]
mod tests;

//! The meta protocol: `mg`, `ms`, `md`, `ma`, `mn`, `me`.
//!
//! A meta request is a two-letter command, a key, and single-letter flags,
//! some with a value glued on (`T30`, `Oopaque`). Flags are kept in request
//! order ([`MetaFlags::tokens`]) because return flags echo in that order,
//! and their meanings are decoded once here, with memcached 1.6.18's error
//! texts: `mg`/`ms` report the specific error, `md`/`ma` always say
//! `CLIENT_ERROR invalid or duplicate flag`. Larder also accepts `E<cas>`
//! (an explicit new CAS, from memcached 1.6.21+), which 1.6.18 refuses.

use crate::{num, Limits, Parse, Request, Tokens, KEY_MAX, MAX_TOKENS};

/// memcached's MFLAG_MAX_OPT_LENGTH: a meta line of this many tokens
/// (counting its terminal one) or more is refused.
const MAX_OPT_TOKENS: usize = 20;
/// memcached's MFLAG_MAX_OPAQUE_LENGTH.
const MAX_OPAQUE: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaCmd {
    Get,
    Set,
    Delete,
    Arith,
    Debug,
    Noop,
}

/// A meta key: as sent, or decoded from base64 (`b`) into an inline
/// buffer (no allocation per request; the size difference is the point).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum MetaKey<'a> {
    Text(&'a [u8]),
    Binary { buf: [u8; KEY_MAX], len: usize },
}

impl MetaKey<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            MetaKey::Text(k) => k,
            MetaKey::Binary { buf, len } => &buf[..*len],
        }
    }

    pub fn is_binary(&self) -> bool {
        matches!(self, MetaKey::Binary { .. })
    }
}

/// A meta request's flags: the tokens in order, and what they mean.
#[derive(Clone, Copy, Debug)]
pub struct MetaFlags<'a> {
    toks: [&'a [u8]; MAX_TOKENS],
    n: usize,
    /// `v`: return the value.
    pub value: bool,
    /// `q`: quiet mode.
    pub quiet: bool,
    /// `u`: don't bump the item (no LRU update, no access time).
    pub no_update: bool,
    /// `I`: invalidate (md) / set stale (ms with CAS).
    pub invalidate: bool,
    /// `N<ttl>`: vivify on miss with this exptime.
    pub vivify: Option<i32>,
    /// `T<ttl>`: update the TTL.
    pub ttl: Option<i32>,
    /// `R<ttl>`: win a recache token when the TTL remaining is below this.
    pub recache: Option<i32>,
    /// `F<flags>`: client flags (ms).
    pub client_flags: u32,
    /// `C<cas>`: compare CAS.
    pub compare_cas: Option<u64>,
    /// `E<cas>`: explicit new CAS.
    pub new_cas: Option<u64>,
    /// `M<mode>`: the mode letter (ms: E A P R S; ma: I + D -), 0 if none.
    pub mode: u8,
    /// `J<n>`: ma's initial value on vivify.
    pub initial: u64,
    /// `D<n>`: ma's delta (default 1).
    pub delta: u64,
}

impl MetaFlags<'_> {
    /// No flags: what a request without tokens means.
    fn none() -> Self {
        MetaFlags {
            toks: [&[]; MAX_TOKENS],
            n: 0,
            value: false,
            quiet: false,
            no_update: false,
            invalidate: false,
            vivify: None,
            ttl: None,
            recache: None,
            client_flags: 0,
            compare_cas: None,
            new_cas: None,
            mode: 0,
            initial: 0,
            delta: 1,
        }
    }
}

impl<'a> MetaFlags<'a> {
    /// The flag tokens, in request order (first byte is the flag).
    pub fn tokens(&self) -> &[&'a [u8]] {
        &self.toks[..self.n]
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Meta<'a> {
    pub cmd: MetaCmd,
    pub key: MetaKey<'a>,
    pub flags: MetaFlags<'a>,
    /// `ms`'s data block (without its `\r\n`).
    pub data: &'a [u8],
}

const E_FORMAT: &str = "CLIENT_ERROR bad command line format";
const E_TOKEN: &str = "CLIENT_ERROR bad token in command line format";

/// memcached's `_meta_flag_preparse`: the flags from token 2 on.
/// `Err(text)` carries the error memcached would name.
fn preparse<'a>(t: &Tokens<'a>, from: usize) -> Result<(MetaFlags<'a>, bool), &'static str> {
    let mut f = MetaFlags::none();
    let mut seen = [false; 128];
    let mut binary = false;
    let mut error: Option<&'static str> = None;
    let fail = |error: &mut Option<&'static str>, e: &'static str| {
        error.get_or_insert(e);
    };
    for &tok in &t.as_slice()[from.min(t.len())..] {
        let o = tok[0];
        if o >= 127 || seen[o as usize] {
            return Err("CLIENT_ERROR duplicate flag");
        }
        seen[o as usize] = true;
        let arg = &tok[1..];
        let ttl = |e: &mut Option<&'static str>| match num::strtol32(arg) {
            Some(v) => Some(v),
            None => {
                e.get_or_insert(E_TOKEN);
                None
            }
        };
        match o {
            b'b' => binary = true,
            b'N' => f.vivify = ttl(&mut error).or(f.vivify),
            b'T' => f.ttl = ttl(&mut error).or(f.ttl),
            b'R' => f.recache = ttl(&mut error).or(f.recache),
            b'O' => {
                // memcached counts the flag letter too.
                if tok.len() > MAX_OPAQUE {
                    fail(&mut error, "CLIENT_ERROR opaque token too long");
                }
            }
            b'l' | b'h' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' => {}
            b'v' => f.value = true,
            b'u' => f.no_update = true,
            b'q' => f.quiet = true,
            b'I' => f.invalidate = true,
            b'F' => match num::strtoflags(arg) {
                Some(v) => f.client_flags = v,
                None => fail(&mut error, E_FORMAT),
            },
            b'C' => match num::strtoull(arg) {
                Some(v) => f.compare_cas = Some(v),
                None => fail(&mut error, E_TOKEN),
            },
            b'E' => match num::strtoull(arg) {
                Some(v) => f.new_cas = Some(v),
                None => fail(&mut error, E_TOKEN),
            },
            b'M' => {
                if tok.len() != 2 {
                    fail(&mut error, "CLIENT_ERROR incorrect length for M token");
                } else {
                    f.mode = tok[1];
                }
            }
            b'J' => match num::strtoull(arg) {
                Some(v) => f.initial = v,
                None => fail(&mut error, "CLIENT_ERROR invalid numeric initial value"),
            },
            b'D' => match num::strtoull(arg) {
                Some(v) => f.delta = v,
                None => fail(&mut error, "CLIENT_ERROR invalid numeric delta value"),
            },
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
        f.toks[f.n] = tok;
        f.n += 1;
    }
    match error {
        Some(e) => Err(e),
        None => Ok((f, binary)),
    }
}

fn decode_key(raw: &[u8], binary: bool) -> Result<MetaKey<'_>, &'static str> {
    if !binary {
        return Ok(MetaKey::Text(raw));
    }
    let mut buf = [0u8; KEY_MAX];
    match crate::base64::decode(raw, &mut buf) {
        Some(len) => Ok(MetaKey::Binary { buf, len }),
        None => Err("CLIENT_ERROR error decoding key"),
    }
}

/// Parses a meta command (`letter` is the second byte of `m?`).
pub(crate) fn parse<'a>(
    letter: u8,
    t: &Tokens<'a>,
    after: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Parse<'a> {
    let done = |req, consumed| Parse::Request { req, consumed };
    let error = |msg, swallow| Request::Error {
        msg,
        noreply: false,
        swallow,
    };
    let cmd = match letter {
        b'g' => MetaCmd::Get,
        b's' => MetaCmd::Set,
        b'd' => MetaCmd::Delete,
        b'a' => MetaCmd::Arith,
        b'e' => MetaCmd::Debug,
        b'n' => MetaCmd::Noop,
        _ => return done(error("ERROR", 0), line_len),
    };
    let n = t.len();
    let noop = |cmd| {
        let flags = MetaFlags::none();
        Meta {
            cmd,
            key: MetaKey::Text(&[]),
            flags,
            data: &[],
        }
    };
    if cmd == MetaCmd::Noop {
        return done(Request::Meta(noop(cmd)), line_len);
    }
    if n < 2 {
        let msg = if cmd == MetaCmd::Debug {
            E_FORMAT
        } else {
            "ERROR"
        };
        return done(error(msg, 0), line_len);
    }
    let raw_key = t.get(1);
    if raw_key.len() > KEY_MAX {
        return done(error(E_FORMAT, 0), line_len);
    }
    if cmd == MetaCmd::Debug {
        let binary = t.as_slice()[2..].iter().any(|f| f == b"b");
        return match decode_key(raw_key, binary) {
            Ok(key) => done(
                Request::Meta(Meta {
                    key,
                    ..noop(MetaCmd::Debug)
                }),
                line_len,
            ),
            Err(e) => done(error(e, 0), line_len),
        };
    }
    if n + 1 > MAX_OPT_TOKENS {
        // (memcached's wording differs between mg and the others.)
        let msg = if cmd == MetaCmd::Get {
            "CLIENT_ERROR options flags are too long"
        } else {
            "CLIENT_ERROR options flags too long"
        };
        return done(error(msg, 0), line_len);
    }
    let (flag_from, vlen) = if cmd == MetaCmd::Set {
        if n == 2 {
            return done(error(E_FORMAT, 0), line_len);
        }
        match num::strtol32(t.get(2)) {
            Some(v) if (0..=i32::MAX - 2).contains(&v) => (3, v as usize),
            _ => return done(error(E_FORMAT, 0), line_len),
        }
    } else {
        (2, 0)
    };
    let swallow = if cmd == MetaCmd::Set { vlen + 2 } else { 0 };
    let generic = matches!(cmd, MetaCmd::Delete | MetaCmd::Arith);
    let parsed = preparse(t, flag_from)
        .and_then(|(flags, binary)| decode_key(raw_key, binary).map(|key| (flags, key)));
    let (flags, key) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let msg = if generic {
                "CLIENT_ERROR invalid or duplicate flag"
            } else {
                e
            };
            return done(error(msg, swallow), line_len);
        }
    };
    match cmd {
        MetaCmd::Set => {
            if !matches!(flags.mode, 0 | b'E' | b'A' | b'P' | b'R' | b'S') {
                return done(
                    error("CLIENT_ERROR invalid mode for ms M token", swallow),
                    line_len,
                );
            }
            if !limits.item_fits(key.bytes().len(), flags.client_flags, vlen) {
                return done(
                    Request::TooLarge {
                        key: raw_key,
                        // A binary key would need its decoded bytes: leave it.
                        unlink: !key.is_binary(),
                        noreply: false,
                        swallow,
                    },
                    line_len,
                );
            }
            if after.len() < vlen + 2 {
                return Parse::Incomplete {
                    need: Some(line_len + vlen + 2),
                };
            }
            let consumed = line_len + vlen + 2;
            if &after[vlen..vlen + 2] != b"\r\n" {
                return done(error("CLIENT_ERROR bad data chunk", 0), consumed);
            }
            done(
                Request::Meta(Meta {
                    cmd,
                    key,
                    flags,
                    data: &after[..vlen],
                }),
                consumed,
            )
        }
        MetaCmd::Arith if !matches!(flags.mode, 0 | b'I' | b'+' | b'D' | b'-') => done(
            error("CLIENT_ERROR invalid mode for ma M token", 0),
            line_len,
        ),
        _ => done(
            Request::Meta(Meta {
                cmd,
                key,
                flags,
                data: &[],
            }),
            line_len,
        ),
    }
}

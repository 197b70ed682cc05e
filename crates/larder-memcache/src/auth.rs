//! Authentication requests, for a server that requires a password.
//!
//! Text protocol: memcached's ASCII authentication (`-Y`). Until it
//! authenticates, a connection's only accepted request is a `set` whose
//! data block is `<user> <password>`: `set <any key> <flags> <exptime>
//! <bytes>\r\n<user> <password>\r\n`. The key, flags and exptime are
//! ignored; the reply is `STORED` or `CLIENT_ERROR authentication
//! failure`, and any other line is `CLIENT_ERROR unauthenticated`.
//! [`parse_text`] follows memcached 1.6.18's `try_read_command_asciiauth`
//! — with one bound memcached lacks: a data block longer than
//! [`MAX_TOKEN_BYTES`] closes the connection instead of being buffered.
//!
//! Binary protocol: SASL `PLAIN` (RFC 4616), the message being
//! `[authzid] NUL authcid NUL password` ([`sasl_plain`]).
//!
//! No allocation: everything returned borrows the input buffer.

use crate::LINE_MAX_NO_NEWLINE;

/// The longest `<user> <password>` data block accepted.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What the start of an unauthenticated text connection's input holds.
#[derive(Debug, PartialEq, Eq)]
pub enum TextAuth<'a> {
    /// More bytes are needed.
    Incomplete,
    /// Junk without a newline, or an oversized block: close the connection.
    Close,
    /// A reply line (without `\r\n`) for a request that is not an
    /// authentication, or a malformed one; `consumed` bytes are used up.
    Refuse {
        reply: &'static [u8],
        consumed: usize,
    },
    /// Credentials to check; `consumed` bytes are used up.
    Credentials {
        user: &'a [u8],
        pass: &'a [u8],
        consumed: usize,
    },
}

pub const E_UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated";
pub const E_FAILURE: &[u8] = b"CLIENT_ERROR authentication failure";
const E_TERMINATION: &[u8] = b"CLIENT_ERROR bad command line termination";
const E_FORMAT: &[u8] = b"CLIENT_ERROR bad authentication token format";

fn words(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b' ').filter(|w| !w.is_empty())
}

/// Parses the authentication request at the start of `buf`.
pub fn parse_text(buf: &[u8]) -> TextAuth<'_> {
    // (Shorter than any authentication: wait, as memcached does.)
    if buf.len() < 2 {
        return TextAuth::Incomplete;
    }
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > LINE_MAX_NO_NEWLINE {
            TextAuth::Close
        } else {
            TextAuth::Incomplete
        };
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // `set <key> <flags> <exptime> <bytes>`: only the first and the fifth
    // matter.
    let mut w = words(line);
    let size = match (w.next(), w.nth(3)) {
        (Some(b"set"), Some(n)) => crate::num::strtoull(n).filter(|&n| n <= u64::from(u32::MAX)),
        _ => None,
    };
    let Some(size) = size else {
        return TextAuth::Refuse {
            reply: E_UNAUTHENTICATED,
            consumed: nl + 1,
        };
    };
    let size = size as usize;
    if size > MAX_TOKEN_BYTES {
        return TextAuth::Close;
    }
    let end = nl + 1 + size + 2;
    if buf.len() < end {
        return TextAuth::Incomplete;
    }
    let block = &buf[nl + 1..end];
    if &block[size..] != b"\r\n" {
        return TextAuth::Refuse {
            reply: E_TERMINATION,
            consumed: end,
        };
    }
    let mut w = words(&block[..size]);
    match (w.next(), w.next()) {
        (Some(user), Some(pass)) => TextAuth::Credentials {
            user,
            pass,
            consumed: end,
        },
        _ => TextAuth::Refuse {
            reply: E_FORMAT,
            consumed: end,
        },
    }
}

/// The user and password of a SASL `PLAIN` message (authzid ignored).
pub fn sasl_plain(msg: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = msg.splitn(3, |&c| c == 0);
    let (_authzid, user, pass) = (parts.next()?, parts.next()?, parts.next()?);
    Some((user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_authentication() {
        fn creds(b: &[u8]) -> Option<(&[u8], &[u8], usize)> {
            match parse_text(b) {
                TextAuth::Credentials {
                    user,
                    pass,
                    consumed,
                } => Some((user, pass, consumed)),
                _ => None,
            }
        }
        assert_eq!(
            creds(b"set x 0 0 7\r\nfoo bar\r\nget a\r\n"),
            Some((&b"foo"[..], &b"bar"[..], 22))
        );
        assert_eq!(
            creds(b"set x 1 2 9\r\n foo  bar\r\n").map(|c| c.1),
            Some(&b"bar"[..])
        );
        assert_eq!(parse_text(b"set x 0 0 7\r\nfoo ba"), TextAuth::Incomplete);
        assert_eq!(parse_text(b"set x 0 0"), TextAuth::Incomplete);
        let refused = |b: &[u8], reply: &'static [u8], consumed| {
            assert_eq!(parse_text(b), TextAuth::Refuse { reply, consumed })
        };
        refused(b"get foo\r\n", E_UNAUTHENTICATED, 9);
        refused(b"set foo 0 0\r\n", E_UNAUTHENTICATED, 13);
        refused(b"set foo 0 0 x\r\n", E_UNAUTHENTICATED, 15);
        refused(b"set x 0 0 3\r\nfoo\r\n", E_FORMAT, 18);
        refused(b"set x 0 0 3\r\nfooXY", E_TERMINATION, 18);
        assert_eq!(parse_text(&[b'x'; 3000]), TextAuth::Close);
        assert_eq!(parse_text(b"set x 0 0 5000\r\n"), TextAuth::Close);
    }

    #[test]
    fn plain_messages() {
        assert_eq!(sasl_plain(b"\0u\0p"), Some((&b"u"[..], &b"p"[..])));
        assert_eq!(sasl_plain(b"z\0u\0p\0q"), Some((&b"u"[..], &b"p\0q"[..])));
        assert_eq!(sasl_plain(b"u\0p"), None);
    }
}

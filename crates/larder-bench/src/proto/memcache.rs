//! The memcached text protocol: `get`/`set` requests and the reply skipper.
//!
//! A retrieval reply is zero or more `VALUE <key> <flags> <bytes> [<cas>]`
//! lines, each followed by `<bytes>` of data and CRLF, then `END`; every
//! other reply (`STORED`, `NOT_STORED`, `DELETED`, a number, `ERROR`,
//! `CLIENT_ERROR ...`, `SERVER_ERROR ...`) is one line. Hits are the `VALUE`
//! items; the caller knows how many keys it asked for, so misses are the
//! difference. Data blocks are skipped by their announced length.

use super::{Malformed, Outcome, Skip};

/// A reply line longer than this with no newline is not memcached talking.
const MAX_LINE: usize = 8192;

pub fn encode_get<'k>(out: &mut Vec<u8>, keys: impl ExactSizeIterator<Item = &'k [u8]>) {
    out.extend_from_slice(b"get");
    for k in keys {
        out.push(b' ');
        out.extend_from_slice(k);
    }
    out.extend_from_slice(b"\r\n");
}

pub fn encode_set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(b"set ");
    out.extend_from_slice(key);
    out.extend_from_slice(b" 0 0 ");
    out.extend_from_slice(itoa::Buffer::new().format(value.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

pub fn skip_reply(buf: &[u8]) -> Skip {
    let mut pos = 0;
    let mut out = Outcome::default();
    loop {
        let rest = &buf[pos..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            if rest.len() > MAX_LINE {
                return Err(Malformed("reply line too long"));
            }
            return Ok(None);
        };
        let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
        let next = pos + nl + 1;
        if let Some(fields) = line.strip_prefix(b"VALUE ") {
            let bytes = fields
                .split(|&c| c == b' ')
                .filter(|f| !f.is_empty())
                .nth(2)
                .and_then(|f| std::str::from_utf8(f).ok()?.parse::<usize>().ok())
                .ok_or(Malformed("bad VALUE line"))?;
            let end = next
                .checked_add(bytes)
                .and_then(|e| e.checked_add(2))
                .ok_or(Malformed("bad VALUE length"))?;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(Malformed("data block not followed by CRLF"));
            }
            out.hits += 1;
            pos = end;
            continue;
        }
        if line == b"END" {
            return Ok(Some((next, out)));
        }
        if out.hits > 0 {
            return Err(Malformed("expected VALUE or END"));
        }
        out.error = line == b"ERROR"
            || line.starts_with(b"CLIENT_ERROR")
            || line.starts_with(b"SERVER_ERROR");
        return Ok(Some((next, out)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_get(&mut out, [&b"a"[..], &b"b"[..]].into_iter());
        encode_set(&mut out, b"k", b"xyz");
        assert_eq!(out, b"get a b\r\nset k 0 0 3\r\nxyz\r\n");
    }

    #[test]
    fn parses_replies() {
        let buf = b"VALUE a 0 3\r\nabc\r\nVALUE c 5 2 99\r\nxy\r\nEND\r\nEND\r\nSTORED\r\n\
                    NOT_STORED\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory\r\n";
        let (n, o) = skip_reply(buf).unwrap().unwrap();
        assert_eq!((n, o.hits, o.error), (43, 2, false));
        let mut pos = n;
        for error in [false, false, false, true, true, true] {
            let (n, o) = skip_reply(&buf[pos..]).unwrap().unwrap();
            assert_eq!((o.hits, o.error), (0, error), "at {pos}");
            pos += n;
        }
        assert_eq!(pos, buf.len());
    }

    #[test]
    fn partial_and_bad_input() {
        let full = b"VALUE key 0 5\r\nhe\r\no\r\nEND\r\n";
        for cut in 0..full.len() {
            assert_eq!(skip_reply(&full[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(skip_reply(full).unwrap().unwrap().0, full.len());
        assert!(skip_reply(b"VALUE k 0 x\r\n").is_err());
        assert!(skip_reply(b"VALUE k 0 1\r\nab\r\nEND\r\n").is_err());
        assert!(skip_reply(b"VALUE k 0 1\r\na\r\nSTORED\r\n").is_err());
        assert!(skip_reply(&[b'x'; MAX_LINE + 1]).is_err());
    }
}

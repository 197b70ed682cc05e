//! RESP requests and the RESP2/RESP3 reply skipper.
//!
//! Requests are multibulk arrays written straight into the connection's
//! output buffer. [`skip_reply`] walks one reply without allocating: an
//! explicit stack of "elements left" per open aggregate (maps count two per
//! entry), attributes (`|`) skipped as a prefix of the value they annotate,
//! and out-of-band pushes (`>` at top level, RESP3) skipped entirely since
//! they answer no request. Classification looks at the top-level value only
//! (null / error / value) and, for a top-level array, at its direct
//! elements (MGET's null and non-null entries).

use super::{Malformed, Outcome, Skip};

/// Deepest nesting of aggregates the skipper follows.
const MAX_DEPTH: usize = 64;

/// The largest bulk or aggregate length accepted (Redis's proto-max-bulk-len
/// ceiling is 512 MB; anything far above is garbage, not a reply).
const MAX_LEN: i64 = 1 << 40;

pub fn write_array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn write_bulk(out: &mut Vec<u8>, b: &[u8]) {
    write_bulk_header(out, b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// `$len\r\n`; the caller writes `len` bytes and `\r\n`.
pub fn write_bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn encode_get<'k>(out: &mut Vec<u8>, keys: impl ExactSizeIterator<Item = &'k [u8]>) {
    if keys.len() == 1 {
        out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
    } else {
        write_array_header(out, keys.len() + 1);
        out.extend_from_slice(b"$4\r\nMGET\r\n");
    }
    for k in keys {
        write_bulk(out, k);
    }
}

pub fn encode_set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    write_bulk(out, key);
    write_bulk(out, value);
}

/// One complete reply at the start of `buf` (pushes before it included in
/// the length), or `Ok(None)` if more bytes are needed.
pub fn skip_reply(buf: &[u8]) -> Skip {
    let mut pos = 0;
    while buf.get(pos) == Some(&b'>') {
        match skip_value(buf, pos, &mut Outcome::default())? {
            Some(end) => pos = end,
            None => return Ok(None),
        }
    }
    let mut out = Outcome::default();
    Ok(skip_value(buf, pos, &mut out)?.map(|end| (end, out)))
}

enum Item {
    Value,
    Null,
    Error,
    /// An aggregate with this many elements to follow.
    Aggregate(u64),
    /// An attribute map: this many elements, then the annotated value.
    Attribute(u64),
}

#[derive(Clone, Copy, Default)]
struct Frame {
    left: u64,
    attribute: bool,
}

fn skip_value(buf: &[u8], mut pos: usize, out: &mut Outcome) -> Result<Option<usize>, Malformed> {
    let mut stack = [Frame::default(); MAX_DEPTH];
    let mut depth = 0usize; // frames in use
    let mut level = 0usize; // non-attribute frames: 0 = top-level value
    let mut in_attr = 0usize; // attribute frames open
    loop {
        let Some(&t) = buf.get(pos) else {
            return Ok(None);
        };
        let Some((line, next)) = line(buf, pos + 1)? else {
            return Ok(None);
        };
        let item = match t {
            b'+' | b':' | b',' | b'#' | b'(' => {
                pos = next;
                Item::Value
            }
            b'-' => {
                pos = next;
                Item::Error
            }
            b'_' => {
                pos = next;
                Item::Null
            }
            b'$' | b'=' | b'!' => {
                let n = length(line)?;
                if n < 0 {
                    if t != b'$' {
                        return Err(Malformed("negative blob length"));
                    }
                    pos = next;
                    Item::Null
                } else {
                    let end = next + n as usize + 2;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(Malformed("bulk not followed by CRLF"));
                    }
                    pos = end;
                    if t == b'!' {
                        Item::Error
                    } else {
                        Item::Value
                    }
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = length(line)?;
                pos = next;
                if n < 0 {
                    if t != b'*' {
                        return Err(Malformed("negative aggregate length"));
                    }
                    Item::Null
                } else {
                    let n = n as u64 * if t == b'%' || t == b'|' { 2 } else { 1 };
                    if t == b'|' {
                        Item::Attribute(n)
                    } else {
                        Item::Aggregate(n)
                    }
                }
            }
            _ => return Err(Malformed("unknown type byte")),
        };
        if let Item::Attribute(n) = item {
            if n > 0 {
                if depth == MAX_DEPTH {
                    return Err(Malformed("nesting too deep"));
                }
                stack[depth] = Frame {
                    left: n,
                    attribute: true,
                };
                depth += 1;
                in_attr += 1;
            }
            continue;
        }
        if in_attr == 0 {
            match (level, &item) {
                (0, Item::Null) => out.nulls = 1,
                (0, Item::Error) => out.error = true,
                (0, Item::Value) => out.hits = 1,
                (1, Item::Null) => out.nulls += 1,
                (1, _) => out.hits += 1,
                _ => {}
            }
        }
        if let Item::Aggregate(n) = item {
            if n > 0 {
                if depth == MAX_DEPTH {
                    return Err(Malformed("nesting too deep"));
                }
                stack[depth] = Frame {
                    left: n,
                    attribute: false,
                };
                depth += 1;
                level += 1;
                continue;
            }
        }
        // One element is complete: close every aggregate it completes.
        loop {
            if depth == 0 {
                return Ok(Some(pos));
            }
            let top = &mut stack[depth - 1];
            top.left -= 1;
            if top.left > 0 {
                break;
            }
            let attribute = top.attribute;
            depth -= 1;
            if attribute {
                in_attr -= 1;
                break; // the annotated value follows
            }
            level -= 1;
        }
    }
}

/// The header line starting at `pos` (without `\r\n`) and the offset after
/// it; `Ok(None)` if the line is not complete yet.
fn line(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, Malformed> {
    let rest = buf.get(pos..).unwrap_or(&[]);
    match memchr::memchr(b'\r', rest) {
        Some(i) => match rest.get(i + 1) {
            Some(b'\n') => Ok(Some((&rest[..i], pos + i + 2))),
            Some(_) => Err(Malformed("CR not followed by LF")),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

fn length(s: &[u8]) -> Result<i64, Malformed> {
    let bad = Malformed("invalid length");
    let (neg, digits) = match s.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(bad);
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(bad);
        }
        v = v * 10 + i64::from(c - b'0');
        if v > MAX_LEN {
            return Err(bad);
        }
    }
    match (neg, v) {
        (false, v) => Ok(v),
        (true, 1) => Ok(-1),
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(hits: u32, nulls: u32, error: bool) -> Outcome {
        Outcome { hits, nulls, error }
    }

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        encode_get(&mut out, [&b"k1"[..]].into_iter());
        encode_get(&mut out, [&b"a"[..], &b"bc"[..]].into_iter());
        encode_set(&mut out, b"k", b"value");
        assert_eq!(
            out,
            b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$2\r\nbc\r\n\
              *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
        );
    }

    #[test]
    fn skips_pipelined_replies_and_classifies_them() {
        let buf = b"$3\r\nabc\r\n$-1\r\n+OK\r\n-ERR no\r\n:5\r\n*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n";
        let want = [
            (9, ok(1, 0, false)),
            (5, ok(0, 1, false)),
            (5, ok(1, 0, false)),
            (9, ok(0, 0, true)),
            (4, ok(1, 0, false)),
            (22, ok(2, 1, false)),
            (5, ok(0, 1, false)),
            (4, ok(0, 0, false)),
        ];
        let mut pos = 0;
        for (len, o) in want {
            let (n, got) = skip_reply(&buf[pos..]).unwrap().unwrap();
            assert_eq!((n, got), (len, o), "at {pos}");
            pos += n;
        }
        assert_eq!(pos, buf.len());
        assert_eq!(skip_reply(&buf[pos..]), Ok(None));
    }

    #[test]
    fn skips_nested_and_resp3_values() {
        let cases: &[(&[u8], Outcome)] = &[
            (
                b"*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n$1\r\nx\r\n",
                ok(2, 0, false),
            ),
            (b"%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n_\r\n", ok(4, 0, false)),
            (b"_\r\n", ok(0, 1, false)),
            (b",3.5\r\n", ok(1, 0, false)),
            (b"#t\r\n", ok(1, 0, false)),
            (b"(123\r\n", ok(1, 0, false)),
            (b"=7\r\ntxt:abc\r\n", ok(1, 0, false)),
            (b"!5\r\nERR x\r\n", ok(0, 0, true)),
            (b"~2\r\n_\r\n+x\r\n", ok(1, 1, false)),
            // An attribute before the value is not the value.
            (b"|1\r\n+key\r\n*1\r\n:1\r\n$2\r\nhi\r\n", ok(1, 0, false)),
            // An out-of-band push before the reply is skipped.
            (b">2\r\n+message\r\n+x\r\n$-1\r\n", ok(0, 1, false)),
            (b"*1\r\n|1\r\n+a\r\n+b\r\n_\r\n", ok(0, 1, false)),
        ];
        for (bytes, want) in cases {
            let got = skip_reply(bytes).unwrap();
            assert_eq!(
                got,
                Some((bytes.len(), *want)),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
            // Every proper prefix is incomplete, never an error.
            for cut in 0..bytes.len() {
                assert_eq!(
                    skip_reply(&bytes[..cut]),
                    Ok(None),
                    "cut {cut} of {bytes:?}"
                );
            }
            // And the length agrees with larder-resp's full decoder.
            let (_, used) = larder_resp::decode_value(bytes).unwrap().unwrap();
            if bytes[0] != b'>' {
                assert_eq!(used, bytes.len());
            }
        }
    }

    #[test]
    fn partial_input_is_incomplete() {
        let full = b"*2\r\n$5\r\nhello\r\n$-1\r\n";
        for cut in 0..full.len() {
            assert_eq!(skip_reply(&full[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(skip_reply(full), Ok(Some((full.len(), ok(1, 1, false)))));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"?x\r\n"[..],
            b"$abc\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"+x\rz",
            b"~-1\r\n",
            b"$99999999999999999\r\n",
        ] {
            assert!(skip_reply(bad).is_err(), "{bad:?}");
        }
        let mut deep = Vec::new();
        for _ in 0..=MAX_DEPTH {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert!(skip_reply(&deep).is_err());
    }
}

//! A generic RESP2/RESP3 value decoder, for tests, the load generator and
//! simple clients (the server never uses it on its hot path).
//!
//! [`decode_value`] reads one complete value from the start of a buffer and
//! returns it with the number of bytes it used, or `Ok(None)` when more
//! bytes are needed. It is strict (every line must end in `\r\n`), bounds
//! nesting at [`MAX_DEPTH`], and never reserves memory for an announced
//! length before the bytes are there (aggregates reserve at most 64 slots up
//! front). An incomplete value is re-scanned from the start on the next
//! call: O(n) per call, which is fine for replies.

use crate::number::string2ll;

/// Deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 128;

/// One decoded RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+text`
    Simple(Vec<u8>),
    /// `-text` or RESP3 blob error `!len`
    Error(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$len`
    Bulk(Vec<u8>),
    /// `$-1` (RESP2 null bulk) or RESP3 `_`
    Null,
    /// `*-1` (RESP2 null array)
    NullArray,
    /// `*n`
    Array(Vec<Value>),
    /// `%n`
    Map(Vec<(Value, Value)>),
    /// `~n`
    Set(Vec<Value>),
    /// `>n`
    Push(Vec<Value>),
    /// `,d` (`inf`, `-inf`, `nan` accepted)
    Double(f64),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(digits`
    BigNumber(Vec<u8>),
    /// `=len\r\nfmt:text`
    Verbatim { format: [u8; 3], text: Vec<u8> },
    /// `|n` attributes followed by the value they describe
    Attribute {
        attrs: Vec<(Value, Value)>,
        value: Box<Value>,
    },
}

/// Malformed input for [`decode_value`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown RESP type byte {0:#04x}")]
    UnknownType(u8),
    #[error("invalid integer or length")]
    InvalidNumber,
    #[error("invalid double")]
    InvalidDouble,
    #[error("invalid boolean")]
    InvalidBoolean,
    #[error("bulk not followed by CRLF")]
    MissingCrlf,
    #[error("invalid verbatim string")]
    InvalidVerbatim,
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
}

type Step<T> = Result<Option<(T, usize)>, DecodeError>;

/// Decode one value from the start of `buf`: `Ok(Some((value, consumed)))`,
/// `Ok(None)` if `buf` holds only a prefix of a value, `Err` if malformed.
pub fn decode_value(buf: &[u8]) -> Result<Option<(Value, usize)>, DecodeError> {
    decode_at(buf, 0, 0)
}

/// The line starting at `pos` (without `\r\n`) and the offset after it.
fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let i = memchr::memmem::find(rest, b"\r\n")?;
    Some((&rest[..i], pos + i + 2))
}

fn number(s: &[u8]) -> Result<i64, DecodeError> {
    string2ll(s).ok_or(DecodeError::InvalidNumber)
}

/// `len` payload bytes at `pos` followed by `\r\n`.
fn payload(buf: &[u8], pos: usize, len: i64) -> Step<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| DecodeError::InvalidNumber)?;
    let end = pos.checked_add(len).ok_or(DecodeError::InvalidNumber)?;
    if buf.len() < end.saturating_add(2) {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(DecodeError::MissingCrlf);
    }
    Ok(Some((buf[pos..end].to_vec(), end + 2)))
}

fn elements(buf: &[u8], mut pos: usize, n: usize, depth: usize) -> Step<Vec<Value>> {
    let mut v = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        match decode_at(buf, pos, depth + 1)? {
            Some((x, next)) => {
                v.push(x);
                pos = next;
            }
            None => return Ok(None),
        }
    }
    Ok(Some((v, pos)))
}

fn pairs(buf: &[u8], pos: usize, n: usize, depth: usize) -> Step<Vec<(Value, Value)>> {
    let n2 = n.checked_mul(2).ok_or(DecodeError::InvalidNumber)?;
    Ok(elements(buf, pos, n2, depth)?.map(|(v, next)| {
        let mut out = Vec::with_capacity(v.len() / 2);
        let mut it = v.into_iter();
        while let (Some(k), Some(val)) = (it.next(), it.next()) {
            out.push((k, val));
        }
        (out, next)
    }))
}

fn count(s: &[u8]) -> Result<usize, DecodeError> {
    usize::try_from(number(s)?).map_err(|_| DecodeError::InvalidNumber)
}

fn decode_at(buf: &[u8], pos: usize, depth: usize) -> Step<Value> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((l, next)) = line(buf, pos + 1) else {
        return Ok(None);
    };
    let v = match kind {
        b'+' => (Value::Simple(l.to_vec()), next),
        b'-' => (Value::Error(l.to_vec()), next),
        b':' => (Value::Int(number(l)?), next),
        b'_' => {
            if !l.is_empty() {
                return Err(DecodeError::InvalidNumber);
            }
            (Value::Null, next)
        }
        b'#' => match l {
            b"t" => (Value::Boolean(true), next),
            b"f" => (Value::Boolean(false), next),
            _ => return Err(DecodeError::InvalidBoolean),
        },
        b',' => {
            let d = match l {
                b"inf" | b"+inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                b"nan" | b"-nan" => f64::NAN,
                _ => std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or(DecodeError::InvalidDouble)?,
            };
            (Value::Double(d), next)
        }
        b'(' => (Value::BigNumber(l.to_vec()), next),
        b'$' | b'!' | b'=' => {
            let n = number(l)?;
            if n == -1 && kind == b'$' {
                (Value::Null, next)
            } else {
                let Some((data, end)) = payload(buf, next, n)? else {
                    return Ok(None);
                };
                match kind {
                    b'$' => (Value::Bulk(data), end),
                    b'!' => (Value::Error(data), end),
                    _ => {
                        if data.len() < 4 || data[3] != b':' {
                            return Err(DecodeError::InvalidVerbatim);
                        }
                        let format = [data[0], data[1], data[2]];
                        (
                            Value::Verbatim {
                                format,
                                text: data[4..].to_vec(),
                            },
                            end,
                        )
                    }
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = number(l)?;
            if n == -1 && kind == b'*' {
                (Value::NullArray, next)
            } else {
                let n = usize::try_from(n).map_err(|_| DecodeError::InvalidNumber)?;
                let Some((items, end)) = elements(buf, next, n, depth)? else {
                    return Ok(None);
                };
                let v = match kind {
                    b'*' => Value::Array(items),
                    b'~' => Value::Set(items),
                    _ => Value::Push(items),
                };
                (v, end)
            }
        }
        b'%' => {
            let Some((p, end)) = pairs(buf, next, count(l)?, depth)? else {
                return Ok(None);
            };
            (Value::Map(p), end)
        }
        b'|' => {
            let Some((attrs, end)) = pairs(buf, next, count(l)?, depth)? else {
                return Ok(None);
            };
            let Some((value, end)) = decode_at(buf, end, depth + 1)? else {
                return Ok(None);
            };
            (
                Value::Attribute {
                    attrs,
                    value: Box::new(value),
                },
                end,
            )
        }
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Protocol, Reply};

    fn dec(b: &[u8]) -> Value {
        let (v, n) = decode_value(b).unwrap().unwrap();
        assert_eq!(n, b.len());
        v
    }

    #[test]
    fn decodes_all_types() {
        assert_eq!(dec(b"+OK\r\n"), Value::Simple(b"OK".to_vec()));
        assert_eq!(dec(b"-ERR x\r\n"), Value::Error(b"ERR x".to_vec()));
        assert_eq!(dec(b"!3\r\nERR\r\n"), Value::Error(b"ERR".to_vec()));
        assert_eq!(dec(b":-5\r\n"), Value::Int(-5));
        assert_eq!(dec(b"$3\r\na\r\n\r\n"), Value::Bulk(b"a\r\n".to_vec()));
        assert_eq!(dec(b"$-1\r\n"), Value::Null);
        assert_eq!(dec(b"*-1\r\n"), Value::NullArray);
        assert_eq!(dec(b"_\r\n"), Value::Null);
        assert_eq!(dec(b"#t\r\n"), Value::Boolean(true));
        assert_eq!(dec(b",1.5\r\n"), Value::Double(1.5));
        assert_eq!(dec(b",-inf\r\n"), Value::Double(f64::NEG_INFINITY));
        assert_eq!(dec(b"(123\r\n"), Value::BigNumber(b"123".to_vec()));
        assert_eq!(
            dec(b"=6\r\ntxt:hi\r\n"),
            Value::Verbatim {
                format: *b"txt",
                text: b"hi".to_vec()
            }
        );
        assert_eq!(
            dec(b"*2\r\n:1\r\n*1\r\n+a\r\n"),
            Value::Array(vec![
                Value::Int(1),
                Value::Array(vec![Value::Simple(b"a".to_vec())])
            ])
        );
        assert_eq!(
            dec(b"%1\r\n+k\r\n:1\r\n"),
            Value::Map(vec![(Value::Simple(b"k".to_vec()), Value::Int(1))])
        );
        assert_eq!(dec(b"~1\r\n:1\r\n"), Value::Set(vec![Value::Int(1)]));
        assert_eq!(dec(b">1\r\n:1\r\n"), Value::Push(vec![Value::Int(1)]));
        assert_eq!(
            dec(b"|1\r\n+a\r\n:1\r\n:2\r\n"),
            Value::Attribute {
                attrs: vec![(Value::Simple(b"a".to_vec()), Value::Int(1))],
                value: Box::new(Value::Int(2))
            }
        );
    }

    #[test]
    fn incomplete_prefixes_and_errors() {
        let full = b"*3\r\n$3\r\nfoo\r\n%1\r\n+k\r\n,2.5\r\n=6\r\ntxt:hi\r\n";
        for i in 0..full.len() {
            assert_eq!(decode_value(&full[..i]), Ok(None), "prefix {i}");
        }
        assert!(decode_value(full).unwrap().is_some());
        assert_eq!(decode_value(b"?x\r\n"), Err(DecodeError::UnknownType(b'?')));
        assert_eq!(decode_value(b":x\r\n"), Err(DecodeError::InvalidNumber));
        assert_eq!(decode_value(b"$-2\r\n"), Err(DecodeError::InvalidNumber));
        assert_eq!(decode_value(b"$1\r\nab\r\n"), Err(DecodeError::MissingCrlf));
        // A huge announced length costs nothing.
        assert_eq!(decode_value(b"*2147483647\r\n"), Ok(None));
        assert_eq!(decode_value(b"$9223372036854775807\r\n"), Ok(None));
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 2);
        assert_eq!(decode_value(&deep), Err(DecodeError::TooDeep));
    }

    #[test]
    fn decodes_encoder_output() {
        let mut out = Vec::new();
        let mut r = Reply::new(&mut out, Protocol::Resp3);
        r.map(1);
        r.bulk(b"k");
        r.double(0.1);
        let v = dec(&out);
        assert_eq!(
            v,
            Value::Map(vec![(Value::Bulk(b"k".to_vec()), Value::Double(0.1))])
        );
    }
}

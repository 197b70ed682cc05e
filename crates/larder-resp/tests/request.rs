//! Request parser behaviour, checked against what Redis 7.0.15 does with the
//! same bytes (each case was verified with `nc` against a real redis-server).

use larder_resp::{Limits, Parse, ProtocolError, RequestParser};

type Req = Vec<Vec<u8>>;

/// Feed `input` whole, parse everything; returns requests and the final
/// outcome (Ok(leftover bytes) or the error).
fn parse_all(input: &[u8], limits: &Limits) -> (Vec<Req>, Result<usize, ProtocolError>) {
    let mut p = RequestParser::new();
    let mut off = 0;
    let mut reqs = Vec::new();
    loop {
        match p.parse(&input[off..], limits) {
            Ok(Parse::Request { consumed }) => {
                assert!(consumed <= input.len() - off);
                reqs.push(p.args(&input[off..]).to_vec());
                off += consumed;
            }
            Ok(Parse::Skip { consumed }) => {
                assert!(consumed > 0 && consumed <= input.len() - off);
                off += consumed
            }
            Ok(Parse::Incomplete { .. }) => return (reqs, Ok(input.len() - off)),
            Err(e) => return (reqs, Err(e)),
        }
    }
}

/// Feed `input` one byte at a time (appending, consuming only after a
/// complete request), like a slow connection.
fn parse_bytewise(input: &[u8], limits: &Limits) -> (Vec<Req>, Result<usize, ProtocolError>) {
    let mut p = RequestParser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut reqs = Vec::new();
    for &b in input {
        buf.push(b);
        loop {
            match p.parse(&buf, limits) {
                Ok(Parse::Request { consumed }) => {
                    reqs.push(p.args(&buf).to_vec());
                    buf.drain(..consumed);
                }
                Ok(Parse::Skip { consumed }) => {
                    buf.drain(..consumed);
                }
                Ok(Parse::Incomplete { hint }) => {
                    if let Some(h) = hint {
                        assert!(h > buf.len());
                    }
                    break;
                }
                Err(e) => return (reqs, Err(e)),
            }
        }
    }
    (reqs, Ok(buf.len()))
}

fn v(items: &[&[u8]]) -> Req {
    items.iter().map(|s| s.to_vec()).collect()
}

fn one(input: &[u8]) -> Req {
    let (reqs, rest) = parse_all(input, &Limits::default());
    assert_eq!(rest, Ok(0), "input {:?}", String::from_utf8_lossy(input));
    assert_eq!(reqs.len(), 1);
    reqs.into_iter().next().unwrap_or_default()
}

fn err(input: &[u8], limits: &Limits) -> ProtocolError {
    let (_, r) = parse_all(input, limits);
    let e = r.expect_err("expected a protocol error");
    // Same error when the bytes trickle in.
    assert_eq!(parse_bytewise(input, limits).1, Err(e.clone()));
    e
}

fn d() -> Limits {
    Limits::default()
}

#[test]
fn multibulk_basic() {
    assert_eq!(
        one(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"),
        v(&[b"SET", b"key", b"value"])
    );
    assert_eq!(one(b"*1\r\n$0\r\n\r\n"), v(&[b""]));
    // Binary payload with CR, LF and NUL inside.
    assert_eq!(one(b"*1\r\n$5\r\na\r\n\0b\r\n"), v(&[b"a\r\n\0b"]));
}

#[test]
fn multibulk_redis_leniency() {
    // Redis skips the byte after '\r' and the two bytes after a payload
    // without checking them (verified: replies +PONG).
    assert_eq!(one(b"*1\rX$4\r\nPINGxy"), v(&[b"PING"]));
    assert_eq!(one(b"*1\r\n$4\rzPING\r\n"), v(&[b"PING"]));
}

#[test]
fn skips() {
    let (reqs, rest) = parse_all(
        b"*0\r\n*-1\r\n*-5\r\n\r\n\n   \r\n\t\n*1\r\n$4\r\nPING\r\n",
        &d(),
    );
    assert_eq!(reqs, vec![v(&[b"PING"])]);
    assert_eq!(rest, Ok(0));
    let mut p = RequestParser::new();
    assert_eq!(p.parse(b"*0\r\n", &d()), Ok(Parse::Skip { consumed: 4 }));
    assert_eq!(p.parse(b"\r\n", &d()), Ok(Parse::Skip { consumed: 2 }));
    assert_eq!(p.parse(b"\n", &d()), Ok(Parse::Skip { consumed: 1 }));
    assert!(p.args(b"\n").is_empty());
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let input =
        b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\n*1\r\n$3\r\nFOO";
    let (reqs, rest) = parse_all(input, &d());
    assert_eq!(
        reqs,
        vec![
            v(&[b"PING"]),
            v(&[b"ECHO", b"hi"]),
            v(&[b"GET", b"k"]),
            v(&[b"PING"])
        ]
    );
    assert_eq!(rest, Ok(11)); // the incomplete "*1\r\n$3\r\nFOO"
}

#[test]
fn split_at_every_byte_boundary() {
    let input: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$11\r\nva\r\nlue\0xyz\r\nSET \"a b\" 'c'\r\n*0\r\n*1\r\n$4\r\nPING\r\n";
    let expected = vec![
        v(&[b"SET", b"key", b"va\r\nlue\0xyz"]),
        v(&[b"SET", b"a b", b"c"]),
        v(&[b"PING"]),
    ];
    assert_eq!(parse_all(input, &d()), (expected.clone(), Ok(0)));
    assert_eq!(parse_bytewise(input, &d()), (expected.clone(), Ok(0)));
    // Two pieces, split at every position; the parser resumes after Incomplete.
    for split in 0..=input.len() {
        let mut p = RequestParser::new();
        let mut buf = input[..split].to_vec();
        let mut got = Vec::new();
        let mut fed_all = split == input.len();
        loop {
            match p.parse(&buf, &d()).expect("no error") {
                Parse::Request { consumed } => {
                    got.push(p.args(&buf).to_vec());
                    buf.drain(..consumed);
                }
                Parse::Skip { consumed } => {
                    buf.drain(..consumed);
                }
                Parse::Incomplete { .. } => {
                    if fed_all {
                        break;
                    }
                    buf.extend_from_slice(&input[split..]);
                    fed_all = true;
                }
            }
        }
        assert_eq!(got, expected, "split at {split}");
        assert!(buf.is_empty());
    }
}

#[test]
fn incomplete_hint_is_end_of_bulk() {
    let mut p = RequestParser::new();
    let buf = b"*2\r\n$3\r\nGET\r\n$100\r\nabc";
    assert_eq!(
        p.parse(buf, &d()),
        Ok(Parse::Incomplete {
            hint: Some(buf.len() - 3 + 102)
        })
    );
    let mut p = RequestParser::new();
    assert_eq!(
        p.parse(b"*2\r\n$3", &d()),
        Ok(Parse::Incomplete { hint: None })
    );
}

#[test]
fn multibulk_count_errors() {
    for bad in [
        &b"*abc\r\n"[..],
        b"*\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*2147483648\r\n",
        b"*99999999999999999999999\r\n",
    ] {
        assert_eq!(
            err(bad, &d()),
            ProtocolError::InvalidMultibulkLength,
            "{bad:?}"
        );
    }
    // Redis's INT_MAX is still accepted (and allocates nothing up front).
    let mut p = RequestParser::new();
    assert_eq!(
        p.parse(b"*2147483647\r\n", &d()),
        Ok(Parse::Incomplete { hint: None })
    );
    let small = Limits {
        max_multibulk_len: 3,
        ..d()
    };
    assert_eq!(
        err(b"*4\r\n", &small),
        ProtocolError::InvalidMultibulkLength
    );
    assert_eq!(parse_all(b"*3\r\n", &small).1, Ok(4));
}

#[test]
fn too_big_mbulk_count_string() {
    let l = Limits {
        max_inline_len: 16,
        ..d()
    };
    let mut input = b"*".to_vec();
    input.extend_from_slice(&[b'1'; 16]);
    // 17 bytes without '\r' > 16.
    assert_eq!(err(&input, &l), ProtocolError::TooBigMbulkCount);
    // 16 bytes: still waiting.
    assert_eq!(parse_all(&input[..16], &l).1, Ok(16));
    // Default limit: 64 KB.
    let big = vec![b'*'; 64 * 1024 + 1];
    assert_eq!(
        parse_all(&big, &d()).1,
        Err(ProtocolError::TooBigMbulkCount)
    );
    assert_eq!(parse_all(&big[..64 * 1024], &d()).1, Ok(64 * 1024));
}

#[test]
fn expected_dollar() {
    assert_eq!(
        err(b"*1\r\nX\r\n", &d()),
        ProtocolError::ExpectedDollar(b'X')
    );
    assert_eq!(
        err(b"*1\r\nX\r\n", &d()).to_string(),
        "Protocol error: expected '$', got 'X'"
    );
    // "*1\r\n\r\n": the element line is empty, the byte seen is '\r' (shown as ' ').
    let e = err(b"*1\r\n\r\n", &d());
    assert_eq!(e, ProtocolError::ExpectedDollar(b'\r'));
    assert_eq!(e.to_string(), "Protocol error: expected '$', got ' '");
    let e = err(b"*2\r\n$1\r\na\r\n:1\r\n", &d());
    assert_eq!(e.to_string(), "Protocol error: expected '$', got ':'");
    let e = err(b"*1\r\n\xff\r\n", &d());
    assert_eq!(e, ProtocolError::ExpectedDollar(0xff));
    let mut out = Vec::new();
    e.write_reply(&mut out);
    assert_eq!(out, b"-ERR Protocol error: expected '$', got '\xff'\r\n");
    // Nothing is decided before the line's '\r' arrives.
    assert_eq!(parse_all(b"*1\r\nX", &d()).1, Ok(5));
}

#[test]
fn nul_before_line_end_never_ends_the_line() {
    // Redis's strchr stops at NUL: it waits, then "too big" past the limit.
    let l = Limits {
        max_inline_len: 8,
        ..d()
    };
    assert_eq!(parse_all(b"*1\r\n\0\r\n", &l).1, Ok(7));
    assert_eq!(
        parse_all(b"*1\r\n\0\r\n123456", &l).1,
        Err(ProtocolError::TooBigBulkCount)
    );
    assert_eq!(parse_all(b"*\x001\r\n", &l).1, Ok(5));
    assert_eq!(parse_all(b"PI\0NG\r\n", &l).1, Ok(7));
    assert_eq!(
        err(b"PI\0NG\r\n\r\n\r\n", &l),
        ProtocolError::TooBigInlineRequest
    );
    // NUL inside a bulk payload is just data.
    assert_eq!(one(b"*1\r\n$3\r\n\0\0\0\r\n"), v(&[b"\0\0\0"]));
}

#[test]
fn too_big_bulk_count_string() {
    let l = Limits {
        max_inline_len: 10,
        ..d()
    };
    assert_eq!(
        err(b"*1\r\n$12345678901", &l),
        ProtocolError::TooBigBulkCount
    );
    assert_eq!(parse_all(b"*1\r\n$123456789", &l).1, Ok(14));
}

#[test]
fn invalid_bulk_length() {
    for bad in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$-5\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$+4\r\nPING\r\n",
        b"*1\r\n$04\r\nPING\r\n",
        b"*1\r\n$4 \r\nPING\r\n",
        b"*1\r\n$x\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$9223372036854775808\r\n",
    ] {
        assert_eq!(err(bad, &d()), ProtocolError::InvalidBulkLength, "{bad:?}");
    }
    // Exactly proto-max-bulk-len is accepted (waits for the data).
    assert_eq!(
        RequestParser::new().parse(b"*1\r\n$536870912\r\n", &d()),
        Ok(Parse::Incomplete {
            hint: Some(16 + 536870912 + 2)
        })
    );
    let l = Limits {
        max_bulk_len: 4,
        ..d()
    };
    assert_eq!(one(b"*1\r\n$4\r\nPING\r\n"), v(&[b"PING"]));
    assert_eq!(err(b"*1\r\n$5\r\n", &l), ProtocolError::InvalidBulkLength);
}

#[test]
fn error_texts() {
    let cases = [
        (
            ProtocolError::TooBigInlineRequest,
            "Protocol error: too big inline request",
        ),
        (
            ProtocolError::UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            ProtocolError::TooBigMbulkCount,
            "Protocol error: too big mbulk count string",
        ),
        (
            ProtocolError::InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            ProtocolError::ExpectedDollar(b'X'),
            "Protocol error: expected '$', got 'X'",
        ),
        (
            ProtocolError::ExpectedDollar(0),
            "Protocol error: expected '$', got '",
        ),
        (
            ProtocolError::TooBigBulkCount,
            "Protocol error: too big bulk count string",
        ),
        (
            ProtocolError::InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            ProtocolError::UnauthenticatedMultibulkLength,
            "Protocol error: unauthenticated multibulk length",
        ),
        (
            ProtocolError::UnauthenticatedBulkLength,
            "Protocol error: unauthenticated bulk length",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
        assert_eq!(e.message_bytes(), text.as_bytes());
    }
}

#[test]
fn unauthenticated_limits() {
    let mut p = RequestParser::new();
    p.set_auth_required(true);
    assert_eq!(
        p.parse(b"*11\r\n", &d()),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    assert_eq!(
        p.parse(b"*10\r\n$16385\r\n", &d()),
        Err(ProtocolError::UnauthenticatedBulkLength)
    );
    assert_eq!(
        p.parse(b"*10\r\n$16384\r\n", &d()),
        Ok(Parse::Incomplete {
            hint: Some(13 + 16384 + 2)
        })
    );
    p.reset();
    p.set_auth_required(false);
    assert_eq!(
        p.parse(b"*11\r\n", &d()),
        Ok(Parse::Incomplete { hint: None })
    );
}

#[test]
fn inline_basic_and_line_endings() {
    assert_eq!(one(b"PING\r\n"), v(&[b"PING"]));
    assert_eq!(one(b"PING\n"), v(&[b"PING"]));
    assert_eq!(one(b"  SET   k\tv  \r\n"), v(&[b"SET", b"k", b"v"]));
    // Only one '\r' before '\n' is the line end; others are separators.
    assert_eq!(one(b"a\rb\r\r\n"), v(&[b"a", b"b"]));
    // \v and \f are skipped between words but do not end a word.
    assert_eq!(one(b"\x0ba\x0bb \x0cc\n"), v(&[b"a\x0bb", b"c"]));
    // Non-ASCII bytes are ordinary.
    assert_eq!(
        one("sét ü\n".as_bytes()),
        v(&["sét".as_bytes(), "ü".as_bytes()])
    );
}

#[test]
fn inline_quoting() {
    assert_eq!(one(b"set \"a b\" c\n"), v(&[b"set", b"a b", b"c"]));
    assert_eq!(
        one(b"echo \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n"),
        v(&[b"echo", b"\n\r\t\x08\x07\\\"q"])
    );
    assert_eq!(one(b"echo \"\\x41\\x4g\"\n"), v(&[b"echo", b"Ax4g"]));
    assert_eq!(one(b"echo \"\\xff\\x00\"\n"), v(&[b"echo", b"\xff\x00"]));
    assert_eq!(one(b"echo 'a\\'b' x\n"), v(&[b"echo", b"a'b", b"x"]));
    assert_eq!(one(b"echo 'a\\nb'\n"), v(&[b"echo", b"a\\nb"]));
    assert_eq!(one(b"echo \"\" ''\n"), v(&[b"echo", b"", b""]));
    // A quote inside a word opens a quoted part of that word.
    assert_eq!(one(b"a\"b c\"\n"), v(&[b"ab c"]));
    assert_eq!(one(b"a'b c' d\n"), v(&[b"ab c", b"d"]));
    // Closing quote followed by \v is fine (isspace), and ends the word.
    assert_eq!(one(b"\"a\"\x0bb\n"), v(&[b"a", b"b"]));
    assert_eq!(one(b"\"a\"\r\n"), v(&[b"a"]));
}

#[test]
fn inline_unbalanced_quotes() {
    for bad in [
        &b"set \"a\"b c\r\n"[..],
        b"set 'a'b c\r\n",
        b"echo \"abc\n",
        b"echo 'abc\n",
        b"echo \"abc\\\"\n",
        b"echo \"abc\\\n",
        b"\"\n",
    ] {
        assert_eq!(err(bad, &d()), ProtocolError::UnbalancedQuotes, "{bad:?}");
    }
}

#[test]
fn too_big_inline_request() {
    let l = Limits {
        max_inline_len: 8,
        ..d()
    };
    assert_eq!(err(b"123456789", &l), ProtocolError::TooBigInlineRequest);
    // 8 bytes + '\n' is fine.
    assert_eq!(one(b"12345678\n"), v(&[b"12345678"]));
    assert_eq!(parse_bytewise(b"12345678\n", &l).0, vec![v(&[b"12345678"])]);
    let big = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(
        parse_all(&big, &d()).1,
        Err(ProtocolError::TooBigInlineRequest)
    );
    assert_eq!(parse_all(&big[..64 * 1024], &d()).1, Ok(64 * 1024));
}

#[test]
fn parser_is_reusable_after_error() {
    let mut p = RequestParser::new();
    assert!(p.parse(b"*x\r\n", &d()).is_err());
    assert_eq!(
        p.parse(b"*1\r\n$1\r\na\r\n", &d()),
        Ok(Parse::Request { consumed: 11 })
    );
    assert_eq!(&p.args(b"*1\r\n$1\r\na\r\n")[0], b"a");
}

#[test]
fn args_api() {
    let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    let mut p = RequestParser::new();
    assert_eq!(
        p.parse(buf, &d()),
        Ok(Parse::Request {
            consumed: buf.len()
        })
    );
    let a = p.args(buf);
    assert_eq!(a.len(), 3);
    assert!(!a.is_empty());
    assert_eq!(a.get(1), Some(&b"k"[..]));
    assert_eq!(a.get(3), None);
    assert_eq!(&a[2], b"v");
    let collected: Vec<&[u8]> = a.iter().collect();
    assert_eq!(collected, vec![&b"SET"[..], b"k", b"v"]);
    assert_eq!(format!("{a:?}"), r#"["SET", "k", "v"]"#);
    // Args slices point into the caller's buffer (no copy).
    let base = buf.as_ptr() as usize;
    let p0 = a[0].as_ptr() as usize;
    assert!(p0 >= base && p0 < base + buf.len());
}

#[test]
fn steady_state_reuses_capacity() {
    // Many requests through one parser: results stay correct after reuse.
    let mut p = RequestParser::new();
    for i in 0..1000 {
        let val = format!("{i}");
        let buf = format!("*2\r\n$4\r\nECHO\r\n${}\r\n{}\r\n", val.len(), val);
        let r = p.parse(buf.as_bytes(), &d());
        assert_eq!(
            r,
            Ok(Parse::Request {
                consumed: buf.len()
            })
        );
        assert_eq!(p.args(buf.as_bytes()).get(1), Some(val.as_bytes()));
    }
}

//! Property tests: multibulk encode -> parse round-trips (whole and in random
//! pieces), inline round-trips through quoting, the parser never panics on
//! arbitrary bytes, and encoder output always decodes.

use larder_resp::{decode_value, Limits, Parse, Protocol, Reply, RequestParser, Value};
use proptest::prelude::*;

fn encode_multibulk(args: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Quote an argument for an inline command (double quotes, \xHH escapes).
fn quote_inline(a: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in a {
        match c {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Feed `input` in pieces of the given sizes, parse everything.
fn parse_chunked(input: &[u8], cuts: &[usize], limits: &Limits) -> Vec<Vec<Vec<u8>>> {
    let mut p = RequestParser::new();
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut fed = 0;
    let mut cut_iter = cuts.iter().copied();
    loop {
        match p.parse(&buf, limits) {
            Ok(Parse::Request { consumed }) => {
                assert!(consumed <= buf.len());
                got.push(p.args(&buf).to_vec());
                buf.drain(..consumed);
            }
            Ok(Parse::Skip { consumed }) => {
                assert!(consumed <= buf.len());
                buf.drain(..consumed);
            }
            Ok(Parse::Incomplete { .. }) => {
                if fed == input.len() {
                    break;
                }
                let n = cut_iter.next().unwrap_or(input.len()).max(1);
                let end = (fed + n).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(buf.is_empty());
    got
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

proptest! {
    #[test]
    fn multibulk_roundtrip(reqs in prop::collection::vec(prop::collection::vec(arg(), 1..6), 1..6),
                           cuts in prop::collection::vec(1usize..20, 0..64)) {
        let mut input = Vec::new();
        for r in &reqs {
            encode_multibulk(r, &mut input);
        }
        let got = parse_chunked(&input, &cuts, &Limits::default());
        prop_assert_eq!(got, reqs);
    }

    #[test]
    fn inline_roundtrip(reqs in prop::collection::vec(prop::collection::vec(arg(), 1..5), 1..4),
                        cuts in prop::collection::vec(1usize..20, 0..64)) {
        let mut input = Vec::new();
        for r in &reqs {
            input.extend_from_slice(b"X ");
            for a in r {
                quote_inline(a, &mut input);
                input.push(b' ');
            }
            input.extend_from_slice(b"\r\n");
        }
        let expected: Vec<Vec<Vec<u8>>> = reqs
            .iter()
            .map(|r| {
                let mut v = vec![b"X".to_vec()];
                v.extend(r.iter().cloned());
                v
            })
            .collect();
        let got = parse_chunked(&input, &cuts, &Limits::default());
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300),
                                   cuts in prop::collection::vec(1usize..40, 0..32)) {
        let limits = Limits { max_bulk_len: 64, max_multibulk_len: 16, max_inline_len: 32 };
        let mut p = RequestParser::new();
        let mut buf = Vec::new();
        let mut fed = 0;
        let mut cut_iter = cuts.iter().copied();
        loop {
            match p.parse(&buf, &limits) {
                Ok(Parse::Request { consumed }) => {
                    prop_assert!(consumed > 0 && consumed <= buf.len());
                    let args = p.args(&buf);
                    prop_assert!(!args.is_empty());
                    for a in args.iter() {
                        prop_assert!(a.len() <= 64.max(buf.len()));
                    }
                    buf.drain(..consumed);
                }
                Ok(Parse::Skip { consumed }) => {
                    prop_assert!(consumed > 0 && consumed <= buf.len());
                    buf.drain(..consumed);
                }
                Ok(Parse::Incomplete { hint }) => {
                    if let Some(h) = hint {
                        prop_assert!(h > buf.len());
                    }
                    if fed == data.len() {
                        break;
                    }
                    let n = cut_iter.next().unwrap_or(data.len()).max(1);
                    let end = (fed + n).min(data.len());
                    buf.extend_from_slice(&data[fed..end]);
                    fed = end;
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn encoder_output_decodes(items in prop::collection::vec(arg(), 0..8), n in any::<i64>(),
                              d in any::<f64>(), resp3 in any::<bool>()) {
        let proto = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let mut out = Vec::new();
        let mut r = Reply::new(&mut out, proto);
        r.array(items.len() + 2);
        for it in &items {
            r.bulk(it);
        }
        r.int(n);
        r.double(d);
        let (v, used) = decode_value(&out).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        let Value::Array(vals) = v else { panic!("not an array") };
        prop_assert_eq!(vals.len(), items.len() + 2);
        for (val, it) in vals.iter().zip(&items) {
            prop_assert_eq!(val, &Value::Bulk(it.clone()));
        }
        prop_assert_eq!(&vals[items.len()], &Value::Int(n));
        // The double survives the %.17g text.
        let back = match &vals[items.len() + 1] {
            Value::Double(x) => *x,
            Value::Bulk(b) => std::str::from_utf8(b).unwrap().parse::<f64>().unwrap(),
            other => panic!("unexpected {other:?}"),
        };
        prop_assert!(back == d || (back.is_nan() && d.is_nan()));
    }

    #[test]
    fn decode_arbitrary_never_panics(data in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(Some((_, used))) = decode_value(&data) {
            prop_assert!(used <= data.len());
        }
    }
}

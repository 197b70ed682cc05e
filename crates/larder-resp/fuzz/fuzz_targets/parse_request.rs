//! Fuzz target: arbitrary bytes through `RequestParser` the way a connection
//! feeds it (appending pieces, draining after each request), with small
//! limits so every limit path is reachable. Asserts no panic, that consumed
//! byte counts stay within the buffer, that requests have arguments, and
//! that the incomplete hint always asks for more than is there.
#![no_main]

use larder_resp::{Limits, Parse, RequestParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bulk_len: 256,
        max_multibulk_len: 64,
        max_inline_len: 128,
    };
    // The first byte chooses the piece size, so splits vary with the input.
    let (step, data) = match data.split_first() {
        Some((&s, rest)) => (usize::from(s % 17) + 1, rest),
        None => return,
    };
    let mut parser = RequestParser::new();
    parser.set_auth_required(step % 5 == 0);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        match parser.parse(&buf, &limits) {
            Ok(Parse::Request { consumed }) => {
                assert!(consumed > 0 && consumed <= buf.len());
                let args = parser.args(&buf);
                assert!(!args.is_empty());
                for a in args.iter() {
                    assert!(a.len() <= buf.len());
                }
                buf.drain(..consumed);
            }
            Ok(Parse::Skip { consumed }) => {
                assert!(consumed > 0 && consumed <= buf.len());
                buf.drain(..consumed);
            }
            Ok(Parse::Incomplete { hint }) => {
                if let Some(h) = hint {
                    assert!(h > buf.len());
                }
                if fed == data.len() {
                    break;
                }
                let end = (fed + step).min(data.len());
                buf.extend_from_slice(&data[fed..end]);
                fed = end;
            }
            Err(e) => {
                let mut out = Vec::new();
                e.write_reply(&mut out);
                assert!(out.starts_with(b"-ERR Protocol error: "));
                break;
            }
        }
    }
});

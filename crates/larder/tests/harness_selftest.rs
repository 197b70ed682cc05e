//! Self-tests of the test support code in `common` (RESP reply framing and
//! comparison modes). No server needed.

mod common;
use common::{aggregate_elements, compare_replies, reply_len, Cmp};

#[test]
fn reply_framing_resp2() {
    let cases: &[(&[u8], Option<usize>)] = &[
        (b"+OK\r\n", Some(5)),
        (b"-ERR x\r\n", Some(8)),
        (b":12\r\n", Some(5)),
        (b"$3\r\nabc\r\n", Some(9)),
        (b"$0\r\n\r\n", Some(6)),
        (b"$-1\r\n", Some(5)),
        (b"*-1\r\n", Some(5)),
        (b"*0\r\n", Some(4)),
        (b"*2\r\n$1\r\na\r\n:1\r\n", Some(15)),
        (b"*1\r\n*1\r\n*0\r\n", Some(12)),
        (b"$3\r\na\r\n\r\n", Some(9)), // CRLF inside a bulk
        (b"+OK\r\n+NEXT\r\n", Some(5)),
        (b"+OK\r", None),
        (b"$3\r\nab", None),
        (b"*2\r\n:1\r\n", None),
        (b"", None),
    ];
    for (bytes, want) in cases {
        assert_eq!(reply_len(bytes).unwrap(), *want, "{}", common::esc(bytes));
    }
    assert!(reply_len(b"?x\r\n").is_err());
    assert!(reply_len(b"$3\r\nabcd\r\n").is_err());
}

#[test]
fn reply_framing_resp3() {
    let cases: &[(&[u8], usize)] = &[
        (b"_\r\n", 3),
        (b"#t\r\n", 4),
        (b",1.5\r\n", 6),
        (b"(123456789012345678901234567890\r\n", 33),
        (b"!5\r\nERR x\r\n", 11),
        (b"=7\r\ntxt:abc\r\n", 13),
        (b"%1\r\n+k\r\n:1\r\n", 12),
        (b"~2\r\n:1\r\n:2\r\n", 12),
        (b">2\r\n+message\r\n+x\r\n", 18),
        // attribute followed by the reply it decorates
        (b"|1\r\n+a\r\n:1\r\n$1\r\nx\r\n", 19),
        (b"%1\r\n*1\r\n_\r\n%0\r\n", 15),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            reply_len(bytes).unwrap(),
            Some(*want),
            "{}",
            common::esc(bytes)
        );
        assert_eq!(reply_len(&bytes[..bytes.len() - 1]).unwrap(), None);
    }
}

#[test]
fn comparison_modes() {
    assert!(compare_replies(Cmp::Exact, b"+OK\r\n", b"+OK\r\n").is_ok());
    assert!(compare_replies(Cmp::Exact, b"+OK\r\n", b"+Ok\r\n").is_err());
    assert!(compare_replies(Cmp::TypeOnly, b"$1\r\na\r\n", b"$2\r\nbb\r\n").is_ok());
    assert!(compare_replies(Cmp::TypeOnly, b"$1\r\na\r\n", b"+a\r\n").is_err());
    assert!(compare_replies(Cmp::TypeOnly, b"-ERR a\r\n", b"-ERR b\r\n").is_err());
    let a = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n";
    let b = b"*2\r\n$1\r\nb\r\n$1\r\na\r\n";
    let c = b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n";
    assert!(compare_replies(Cmp::Sorted, a, b).is_ok());
    assert!(compare_replies(Cmp::Sorted, a, c).is_err());
    assert!(compare_replies(Cmp::Exact, a, b).is_err());
    assert!(compare_replies(Cmp::IntTolerance(1), b":100\r\n", b":99\r\n").is_ok());
    assert!(compare_replies(Cmp::IntTolerance(1), b":100\r\n", b":98\r\n").is_err());
    assert!(compare_replies(Cmp::IntTolerance(1), b":-2\r\n", b":-2\r\n").is_ok());
    assert!(compare_replies(Cmp::IntTolerance(1), b":-1\r\n", b"$-1\r\n").is_err());
    assert_eq!(aggregate_elements(a).unwrap().len(), 2);
    assert!(aggregate_elements(b"*-1\r\n").is_none());
    fn lower(b: &[u8]) -> Vec<u8> {
        b.to_ascii_lowercase()
    }
    assert!(compare_replies(Cmp::Normalize(lower), b"+OK\r\n", b"+ok\r\n").is_ok());
}

#[test]
fn default_modes_cover_documented_differences() {
    use common::default_cmp;
    let is = |args: &[&[u8]], f: fn(Cmp) -> bool| f(default_cmp(args));
    assert!(is(&[b"INFO"], |m| matches!(m, Cmp::TypeOnly)));
    assert!(is(&[b"client", b"id"], |m| matches!(m, Cmp::TypeOnly)));
    assert!(is(&[b"CONFIG", b"GET", b"dir"], |m| matches!(
        m,
        Cmp::TypeOnly
    )));
    assert!(is(&[b"CONFIG", b"GET", b"maxmemory"], |m| matches!(
        m,
        Cmp::Exact
    )));
    assert!(is(&[b"keys", b"*"], |m| matches!(m, Cmp::Sorted)));
    assert!(is(&[b"PTTL", b"k"], |m| matches!(m, Cmp::IntTolerance(_))));
    assert!(is(&[b"GET", b"k"], |m| matches!(m, Cmp::Exact)));
}

#[test]
fn free_ports_are_usable() {
    let p = common::free_port();
    assert!(p > 0);
    let _l = std::net::TcpListener::bind(("127.0.0.1", p)).expect("port is free");
}

use super::*;

fn one(buf: &[u8]) -> (Request<'_>, usize) {
    match parse(buf, &Limits::default()) {
        Parse::Request { req, consumed } => (req, consumed),
        other => panic!("{other:?}"),
    }
}

fn error_of(buf: &[u8]) -> &'static str {
    match one(buf).0 {
        Request::Error { msg, .. } => msg,
        other => panic!("{other:?}"),
    }
}

#[test]
fn storage_lines_and_data() {
    let (r, n) = one(b"set k 5 0 3\r\nabc\r\nget k\r\n");
    assert_eq!(n, 18);
    match r {
        Request::Store(s) => {
            assert_eq!(
                (s.op, s.key, s.flags, s.data),
                (StoreOp::Set, &b"k"[..], 5, &b"abc"[..])
            );
            assert!(!s.noreply);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(b"set k 0 0 3\r\nab", &Limits::default()),
        Parse::Incomplete { need: Some(18) }
    ));
    assert_eq!(
        error_of(b"set k 0 0 2\r\nabc\r\n"),
        "CLIENT_ERROR bad data chunk"
    );
    assert_eq!(
        error_of(b"set k 0 0 -1\r\n"),
        "CLIENT_ERROR bad command line format"
    );
    assert_eq!(error_of(b"set k 0 0\r\n"), "ERROR");
    assert!(matches!(
        one(b"cas k 0 0 1 7 noreply\r\nx\r\n").0,
        Request::Store(Store {
            cas: 7,
            noreply: true,
            ..
        })
    ));
    match one(b"set k 0 0 2000000\r\n").0 {
        Request::TooLarge {
            swallow, unlink, ..
        } => assert_eq!((swallow, unlink), (2_000_002, true)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lines_and_limits() {
    assert_eq!(error_of(b"\r\n"), "ERROR");
    assert_eq!(error_of(b"x\n"), "ERROR");
    assert!(matches!(one(b"version\n").0, Request::Version));
    assert!(matches!(
        parse(&[b'x'; 3000], &Limits::default()),
        Parse::Close
    ));
    let mut g = b"get ".to_vec();
    g.extend_from_slice(&[b'a'; 3000]);
    assert!(matches!(
        parse(&g, &Limits::default()),
        Parse::Incomplete { .. }
    ));
    let long = [b"get a ".as_slice(), &[b'k'; 251], b"\r\n"].concat();
    assert_eq!(error_of(&long), "CLIENT_ERROR bad command line format");
    match one(b"gat 10 a  b\r\n").0 {
        Request::Get(g) => {
            assert_eq!(g.touch, Some(10));
            assert_eq!(g.keys().collect::<Vec<_>>(), vec![&b"a"[..], b"b"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_of(b"delete a 1\r\n"),
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
    );
    assert_eq!(
        error_of(b"incr a x\r\n"),
        "CLIENT_ERROR invalid numeric delta argument"
    );
}

#[test]
fn meta_flags() {
    match one(b"mg foo v k O123 T30 q\r\n").0 {
        Request::Meta(m) => {
            assert_eq!(m.cmd, MetaCmd::Get);
            assert_eq!(m.key.bytes(), b"foo");
            assert!(m.flags.value && m.flags.quiet);
            assert_eq!(m.flags.ttl, Some(30));
            assert_eq!(m.flags.tokens().len(), 5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error_of(b"mg a v v\r\n"), "CLIENT_ERROR duplicate flag");
    assert_eq!(error_of(b"mg a z\r\n"), "CLIENT_ERROR invalid flag");
    assert_eq!(
        error_of(b"md a z\r\n"),
        "CLIENT_ERROR invalid or duplicate flag"
    );
    assert_eq!(error_of(b"mg Zm9 b\r\n"), "CLIENT_ERROR error decoding key");
    match one(b"mg Zm9v b k\r\n").0 {
        Request::Meta(m) => assert_eq!((m.key.bytes(), m.key.is_binary()), (&b"foo"[..], true)),
        other => panic!("{other:?}"),
    }
    match one(b"ms a 2 Fx\r\nxx\r\n") {
        (Request::Error { swallow, .. }, n) => assert_eq!((swallow, n), (4, 11)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_of(b"ms a 1 MX\r\nx\r\n"),
        "CLIENT_ERROR invalid mode for ms M token"
    );
    assert!(matches!(
        one(b"mn\r\n").0,
        Request::Meta(Meta {
            cmd: MetaCmd::Noop,
            ..
        })
    ));
}

proptest::proptest! {
    #[test]
    fn never_panics(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let mut rest: &[u8] = &buf;
        while let Parse::Request { consumed, .. } = parse(rest, &Limits::default()) {
            proptest::prop_assert!(consumed > 0 && consumed <= rest.len());
            rest = &rest[consumed..];
        }
    }
}

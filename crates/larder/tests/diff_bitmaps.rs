//! Differential tests: bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP
//! BITFIELD BITFIELD_RO), byte-identical against Redis 7.0. Cases are data;
//! the range tests sweep many start/end pairs over fixed strings.

mod common;
use common::DiffSession;

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

const SETBIT_GETBIT: &[&[&str]] = &[
    &["SETBIT", "b", "7", "1"],
    &["GET", "b"],
    &["OBJECT", "ENCODING", "b"],
    &["SETBIT", "b", "7", "1"],
    &["SETBIT", "b", "7", "0"],
    &["SETBIT", "b", "100", "1"],
    &["STRLEN", "b"],
    &["GET", "b"],
    &["GETBIT", "b", "100"],
    &["GETBIT", "b", "101"],
    &["GETBIT", "b", "100000"],
    &["GETBIT", "nokey", "0"],
    &["SETBIT", "b", "-1", "1"],
    &["SETBIT", "b", "abc", "1"],
    &["SETBIT", "b", "1.5", "1"],
    &["SETBIT", "b", "4294967296", "1"],
    &["SETBIT", "b", "9223372036854775807", "1"],
    &["SETBIT", "b", "1", "2"],
    &["SETBIT", "b", "1", "-1"],
    &["SETBIT", "b", "1", "x"],
    &["SETBIT", "b", "x", "x"],
    &["SETBIT", "b", "+1", "1"],
    &["SETBIT", "b", " 1", "1"],
    &["GETBIT", "b", "-1"],
    &["GETBIT", "b", "4294967296"],
    &["GETBIT", "b", "4294967295"],
    &["GETBIT", "b", "x"],
    &["SETBIT", "b"],
    &["GETBIT", "b"],
    &["SET", "i", "123"],
    &["GETBIT", "i", "2"],
    &["GETBIT", "i", "3"],
    &["SETBIT", "i", "0", "1"],
    &["OBJECT", "ENCODING", "i"],
    &["GET", "i"],
    &["SET", "e", "abc"],
    &["SETBIT", "e", "1", "0"],
    &["OBJECT", "ENCODING", "e"],
    &["GET", "e"],
    &["SET", "t", "x", "EX", "1000"],
    &["SETBIT", "t", "80", "1"],
    &["TTL", "t"],
    &["GET", "t"],
    &["RPUSH", "l", "a"],
    &["SETBIT", "l", "0", "1"],
    &["GETBIT", "l", "0"],
    &["SETBIT", "l", "-1", "1"],
    &["SETBIT", "l", "0", "5"],
    &["SET", "empty", ""],
    &["GETBIT", "empty", "0"],
    &["SETBIT", "empty", "0", "0"],
    &["GET", "empty"],
];

const BITCOUNT_BITPOS: &[&[&str]] = &[
    &["SET", "k", "foobar"],
    &["BITCOUNT", "k"],
    &["BITCOUNT", "k", "0", "0"],
    &["BITCOUNT", "k", "1", "1"],
    &["BITCOUNT", "k", "1", "1", "BYTE"],
    &["BITCOUNT", "k", "5", "30", "BIT"],
    &["BITCOUNT", "k", "5", "30", "bit"],
    &["BITCOUNT", "k", "0", "-1", "FOO"],
    &["BITCOUNT", "k", "-1", "-2", "FOO"],
    &["BITCOUNT", "k", "1"],
    &["BITCOUNT", "k", "1", "2", "BIT", "x"],
    &["BITCOUNT", "k", "a", "b"],
    &["BITCOUNT", "k", "1", "b"],
    &["BITCOUNT", "nokey", "a", "b"],
    &["BITCOUNT", "nokey", "1"],
    &["BITCOUNT", "nokey"],
    &[
        "BITCOUNT",
        "k",
        "-9223372036854775808",
        "9223372036854775807",
    ],
    &["BITCOUNT", "k", "0", "-9223372036854775808"],
    &["BITCOUNT", "k", "9223372036854775807", "-1", "BIT"],
    &["SET", "n", "-12345"],
    &["BITCOUNT", "n"],
    &["BITCOUNT", "n", "1", "2", "BIT"],
    &["BITPOS", "n", "1"],
    &["SET", "p", "\u{7f}"],
    &["BITPOS", "p", "0"],
    &["BITPOS", "p", "1"],
    &["BITPOS", "nokey", "0"],
    &["BITPOS", "nokey", "1"],
    &["BITPOS", "nokey", "2"],
    &["BITPOS", "nokey", "x"],
    &["BITPOS", "nokey", "0", "a", "b", "c"],
    &["BITPOS", "k", "2"],
    &["BITPOS", "k", "-1"],
    &["BITPOS", "k", "0", "a"],
    &["BITPOS", "k", "0", "1", "a"],
    &["BITPOS", "k", "0", "a", "1", "FOO"],
    &["BITPOS", "k", "0", "1", "2", "FOO"],
    &["BITPOS", "k", "1", "1", "2", "3", "4"],
    &["BITPOS", "k", "1", "0", "1", "BIT"],
    &["BITPOS", "k", "0", "0", "1", "bit"],
    &["BITPOS", "k", "1", "2"],
    &["BITPOS", "k", "0", "2", "-1", "BYTE"],
    &["SET", "e", ""],
    &["BITPOS", "e", "0"],
    &["BITPOS", "e", "1"],
    &["BITPOS", "e", "0", "0"],
    &["BITCOUNT", "e"],
    &["BITCOUNT", "e", "0", "-1"],
    &["RPUSH", "l", "a"],
    &["BITCOUNT", "l"],
    &["BITCOUNT", "l", "a", "b"],
    &["BITPOS", "l", "1"],
    &["BITPOS", "l", "3"],
];

const BITOP_CASES: &[&[&str]] = &[
    &["SET", "a", "abc"],
    &["SET", "b", "\u{1}\u{2}"],
    &["BITOP", "AND", "d", "a", "b"],
    &["GET", "d"],
    &["OBJECT", "ENCODING", "d"],
    &["BITOP", "OR", "d", "a", "b"],
    &["GET", "d"],
    &["BITOP", "xor", "d", "a", "b", "a"],
    &["GET", "d"],
    &["BITOP", "NOT", "d", "a"],
    &["GET", "d"],
    &["BITOP", "NOT", "d", "a", "b"],
    &["BITOP", "NOT", "d"],
    &["BITOP", "FOO", "d", "a"],
    &["BITOP", "AN", "d", "a"],
    &["BITOP", "AND", "d", "a", "nokey"],
    &["GET", "d"],
    &["BITOP", "OR", "d", "nokey", "nokey2"],
    &["EXISTS", "d"],
    &["SET", "d", "x", "EX", "100"],
    &["BITOP", "OR", "d", "a"],
    &["TTL", "d"],
    &["SET", "i", "42"],
    &["BITOP", "OR", "d", "i"],
    &["GET", "d"],
    &["BITOP", "OR", "a", "a", "b"],
    &["GET", "a"],
    &["RPUSH", "l", "x"],
    &["BITOP", "OR", "d", "a", "l"],
    &["BITOP", "OR", "l", "a"],
    &["TYPE", "l"],
    &["SET", "e", ""],
    &["BITOP", "NOT", "d", "e"],
    &["EXISTS", "d"],
    &["BITOP", "AND"],
    &["BITOP", "AND", "d"],
];

const BITFIELD_CASES: &[&[&str]] = &[
    &["BITFIELD", "f", "SET", "i8", "0", "100", "GET", "i8", "0"],
    &["GET", "f"],
    &["OBJECT", "ENCODING", "f"],
    &["BITFIELD", "f", "INCRBY", "i8", "0", "100"],
    &[
        "BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100",
    ],
    &[
        "BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "1",
    ],
    &[
        "BITFIELD", "f", "OVERFLOW", "WRAP", "INCRBY", "i8", "0", "1",
    ],
    &[
        "BITFIELD", "f", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2", "102", "1",
    ],
    &[
        "BITFIELD", "f", "GET", "u4", "0", "GET", "i4", "4", "GET", "u63", "1", "GET", "i64", "3",
    ],
    &[
        "BITFIELD", "f", "SET", "u8", "#1", "255", "GET", "u8", "#1", "GET", "u8", "8",
    ],
    &["BITFIELD", "f", "SET", "i64", "64", "-9223372036854775808"],
    &["BITFIELD", "f", "INCRBY", "i64", "64", "-1"],
    &[
        "BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i64", "64", "-1",
    ],
    &[
        "BITFIELD",
        "f",
        "OVERFLOW",
        "FAIL",
        "INCRBY",
        "i64",
        "64",
        "9223372036854775807",
    ],
    &["BITFIELD", "f", "SET", "u63", "0", "-1"],
    &["BITFIELD", "f", "OVERFLOW", "SAT", "SET", "u8", "0", "1000"],
    &[
        "BITFIELD", "f", "OVERFLOW", "SAT", "SET", "i8", "0", "-1000",
    ],
    &[
        "BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "u8", "0", "256", "GET", "u8", "0",
    ],
    &[
        "BITFIELD", "f", "SET", "i3", "5", "-5", "GET", "i3", "5", "GET", "u3", "5",
    ],
    &["BITFIELD", "f", "INCRBY", "u5", "0", "-100"],
    &[
        "BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "u5", "0", "-100",
    ],
    &[
        "BITFIELD", "f", "INCRBY", "u1", "3", "1", "INCRBY", "u1", "3", "1",
    ],
    &["BITFIELD", "f"],
    &["BITFIELD", "nokey"],
    &["EXISTS", "nokey"],
    &["BITFIELD", "nokey", "GET", "u8", "0"],
    &["EXISTS", "nokey"],
    &[
        "BITFIELD", "g", "OVERFLOW", "FAIL", "INCRBY", "u8", "16", "300",
    ],
    &["GET", "g"],
    &["BITFIELD", "f", "GET", "u64", "0"],
    &["BITFIELD", "f", "GET", "i65", "0"],
    &["BITFIELD", "f", "GET", "i0", "0"],
    &["BITFIELD", "f", "GET", "I8", "0"],
    &["BITFIELD", "f", "GET", "x8", "0"],
    &["BITFIELD", "f", "GET", "u", "0"],
    &["BITFIELD", "f", "GET", "u08", "0"],
    &["BITFIELD", "f", "GET", "u8", "-1"],
    &["BITFIELD", "f", "GET", "u8", "#-1"],
    &["BITFIELD", "f", "GET", "u8", "#"],
    &["BITFIELD", "f", "GET", "u8", "4294967296"],
    &["BITFIELD", "f", "GET", "u8", "#536870912"],
    &["BITFIELD", "f", "GET", "u8", "#536870911"],
    &["BITFIELD", "f", "GET", "u8", "x"],
    &["BITFIELD", "f", "GET", "u8"],
    &["BITFIELD", "f", "SET", "u8", "0"],
    &["BITFIELD", "f", "SET", "u8", "0", "x"],
    &["BITFIELD", "f", "INCRBY", "u8", "0", "1.5"],
    &["BITFIELD", "f", "OVERFLOW"],
    &["BITFIELD", "f", "OVERFLOW", "FOO", "GET", "u8", "0"],
    &["BITFIELD", "f", "FOO", "u8", "0"],
    &["BITFIELD", "f", "GET", "u8", "0", "EXTRA"],
    &["BITFIELD", "f", "OVERFLOW", "sat"],
    &[
        "BITFIELD", "f", "get", "u8", "0", "set", "u8", "0", "1", "incrby", "u8", "0", "1",
    ],
    &["BITFIELD", "f", "GET", "u8", "0", "SET", "x8", "0", "1"],
    &["BITFIELD_RO", "f", "GET", "u8", "0", "GET", "i16", "3"],
    &["BITFIELD_RO", "f", "SET", "u8", "0", "1"],
    &[
        "BITFIELD_RO",
        "f",
        "INCRBY",
        "u8",
        "0",
        "1",
        "GET",
        "x",
        "0",
    ],
    &["BITFIELD_RO", "f", "OVERFLOW", "SAT"],
    &["BITFIELD_RO", "nokey", "GET", "u8", "0"],
    &["BITFIELD_RO", "f"],
    &["BITFIELD_RO"],
    &["SET", "n", "1234"],
    &["BITFIELD", "n", "GET", "u8", "0", "GET", "u32", "0"],
    &["BITFIELD", "n", "SET", "u8", "0", "65"],
    &["GET", "n"],
    &["OBJECT", "ENCODING", "n"],
    &["RPUSH", "l", "a"],
    &["BITFIELD", "l", "GET", "u8", "0"],
    &["BITFIELD", "l", "SET", "u8", "0", "1"],
    &["BITFIELD_RO", "l", "GET", "u8", "0"],
    &["BITFIELD", "l"],
];

#[test]
fn setbit_getbit() {
    let mut s = session!();
    s.run(SETBIT_GETBIT);
}

#[test]
fn bitcount_bitpos() {
    let mut s = session!();
    s.run(BITCOUNT_BITPOS);
}

#[test]
fn bitop() {
    let mut s = session!();
    s.run(BITOP_CASES);
}

#[test]
fn bitfield() {
    let mut s = session!();
    s.run(BITFIELD_CASES);
    // RESP3: FAIL answers a null, not a nil bulk.
    s.run(&[
        &["HELLO", "3"],
        &[
            "BITFIELD", "r3", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "5", "GET", "u2", "0",
        ],
        &["BITFIELD_RO", "r3", "GET", "i8", "0"],
    ]);
}

/// Offsets are bounded by `proto-max-bulk-len` (checked before any
/// allocation); 1 MB is the smallest limit Redis accepts.
#[test]
fn offsets_bounded_by_proto_max_bulk_len() {
    let mut s = session!();
    s.run(&[
        &["CONFIG", "SET", "proto-max-bulk-len", "1048576"],
        &["SETBIT", "big", "8388608", "1"],
        &["EXISTS", "big"],
        &["SETBIT", "big", "8388607", "1"],
        &["STRLEN", "big"],
        &["BITCOUNT", "big"],
        &["BITPOS", "big", "1"],
        &["BITPOS", "big", "0", "-1"],
        &["GETBIT", "big", "8388608"],
        &["BITFIELD", "big", "GET", "u8", "8388608"],
        &["BITFIELD", "big", "SET", "u8", "8388600", "1"],
        &["BITFIELD", "big", "SET", "u8", "8388604", "255"],
        &["STRLEN", "big"],
        &["BITFIELD", "big", "SET", "i16", "#524288", "1"],
        &["CONFIG", "SET", "proto-max-bulk-len", "536870912"],
    ]);
    // NUL bytes in arguments: offsets are read whole, field widths up to the NUL.
    s.case_bytes(&[b"SETBIT", b"z", b"3\x00junk", b"1"]);
    s.case_bytes(&[b"GET", b"z"]);
    s.case_bytes(&[b"SETBIT", b"z", b"3\x01", b"1"]);
    s.case_bytes(&[b"BITFIELD", b"z", b"GET", b"u8\x009", b"0"]);
    s.case_bytes(&[b"BITFIELD", b"z", b"GET", b"u8", b"#1\x00x"]);
}

/// BITCOUNT and BITPOS over every start/end pair in a window, in BYTE and
/// BIT units, on strings with varied bit patterns.
#[test]
fn range_sweep() {
    let mut s = session!();
    let values: &[&[u8]] = &[
        b"\xff\xf0\x00",
        b"\x00\xff\xf0",
        b"\x00\x00\x00",
        b"\xff\xff\xff\xff",
        b"\x01\x80\x7f\xfe\x00\x10",
        b"foobar-0123456789-long-enough-for-words",
    ];
    for v in values {
        s.case_bytes(&[b"SET", b"r", v]);
        let n = v.len() as i64;
        let byte_idx: Vec<i64> = (-n - 2..=n + 1).collect();
        let bit_idx: Vec<i64> = [-8 * n - 1, -9, -8, -7, -1, 0, 1, 3, 7, 8, 9, 15, 16, 17]
            .into_iter()
            .chain([8 * n - 1, 8 * n, 8 * n + 1])
            .collect();
        for (idx, unit) in [(&byte_idx, "BYTE"), (&bit_idx, "BIT")] {
            for &a in idx.iter() {
                for &b in idx.iter() {
                    let (a, b) = (a.to_string(), b.to_string());
                    s.case(&["BITCOUNT", "r", &a, &b, unit]);
                    s.case(&["BITPOS", "r", "1", &a, &b, unit]);
                    s.case(&["BITPOS", "r", "0", &a, &b, unit]);
                }
                let a = a.to_string();
                s.case(&["BITPOS", "r", "1", &a]);
                s.case(&["BITPOS", "r", "0", &a]);
            }
        }
        for a in &byte_idx {
            let a = a.to_string();
            for b in &byte_idx {
                let b = b.to_string();
                s.case(&["BITCOUNT", "r", &a, &b]);
                s.case(&["BITPOS", "r", "0", &a, &b]);
            }
        }
    }
}

/// BITFIELD over every width and a sweep of offsets, signed and unsigned,
/// with every overflow mode.
#[test]
fn bitfield_sweep() {
    let mut s = session!();
    s.case(&["SET", "w", "\u{7f}\u{1}\u{0}"]);
    s.case_bytes(&[
        b"SET",
        b"w",
        b"\x96\x5a\xff\x00\x81\x7e\x13\x37\xc0\xde\x42",
    ]);
    let incrs = [
        "1",
        "-1",
        "100",
        "-100",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    for bits in [1u32, 2, 5, 7, 8, 9, 15, 16, 31, 32, 33, 62, 63, 64] {
        for sign in ["i", "u"] {
            if sign == "u" && bits == 64 {
                continue;
            }
            let t = format!("{sign}{bits}");
            for off in [0u32, 1, 3, 7, 13, 29] {
                let off = off.to_string();
                s.case(&["BITFIELD", "w", "GET", &t, &off]);
                for ow in ["WRAP", "SAT", "FAIL"] {
                    for inc in incrs {
                        s.case(&["BITFIELD", "w", "OVERFLOW", ow, "INCRBY", &t, &off, inc]);
                        s.case(&["BITFIELD", "w", "OVERFLOW", ow, "SET", &t, &off, inc]);
                    }
                }
            }
        }
    }
    s.case(&["GET", "w"]);
}

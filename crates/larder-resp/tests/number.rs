//! `%.17g` formatting against a table produced by C's printf (glibc), and
//! `string2ll` against a straightforward reference.

use larder_resp::{fmt_double_g17, string2ll};

#[test]
fn g17_matches_printf_table() {
    let table = include_str!("data/g17.txt");
    let mut n = 0;
    let mut out = Vec::new();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (bits, expected) = line.split_once(' ').expect("two fields");
        let v = f64::from_bits(u64::from_str_radix(bits, 16).expect("hex"));
        out.clear();
        fmt_double_g17(v, &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected, "bits {bits}");
        // -v prints with a leading '-' (except -0.0 / 0.0 handled below).
        if v != 0.0 && !v.is_nan() {
            out.clear();
            fmt_double_g17(-v, &mut out);
            let neg = expected
                .strip_prefix('-')
                .map(str::to_string)
                .unwrap_or_else(|| format!("-{expected}"));
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                neg,
                "bits {bits} negated"
            );
        }
        n += 1;
    }
    assert!(n > 3000, "table has {n} rows");
}

#[test]
fn string2ll_agrees_with_reference_on_many_inputs() {
    // Reference: canonical decimal text of an i64 is exactly what string2ll accepts.
    let samples: Vec<i64> = (-2000..2000)
        .chain([
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            i64::MAX - 1,
            1 << 40,
            -(1 << 53),
        ])
        .collect();
    for n in samples {
        let s = n.to_string();
        assert_eq!(string2ll(s.as_bytes()), Some(n));
        assert_eq!(string2ll(format!("+{s}").as_bytes()), None);
        assert_eq!(string2ll(format!("{s} ").as_bytes()), None);
        assert_eq!(string2ll(format!("0{s}").as_bytes()), None);
    }
}

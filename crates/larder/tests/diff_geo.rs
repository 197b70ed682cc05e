//! Differential tests: GEO commands (GEOADD GEODIST GEOHASH GEOPOS
//! GEORADIUS[_RO] GEORADIUSBYMEMBER[_RO] GEOSEARCH GEOSEARCHSTORE),
//! byte-identical against Redis 7.0: encodings, distances (4 decimals),
//! coordinates (`%.17Lf` trimmed), the cell search at every radius
//! (including the poles, the antimeridian and radii wider than the
//! earth), sorting, COUNT / ANY, STORE / STOREDIST, errors and WRONGTYPE,
//! in RESP2 and RESP3.

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

/// Hand-picked cases; the last ones repeat a few replies under RESP3
/// (coordinates become doubles, missing members nulls).
const CASES: &[&[&str]] = &[
    &[
        "geoadd",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &[
        "geoadd",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &[
        "geoadd",
        "Sicily",
        "ch",
        "13.361390",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &["geoadd", "Sicily", "xx", "nx", "1", "1", "a"],
    &["geoadd", "Sicily", "nx"],
    &["geoadd", "Sicily", "1", "2"],
    &["geoadd", "Sicily", "200", "1", "x"],
    &["geoadd", "Sicily", "1", "86", "x"],
    &["geoadd", "Sicily", "abc", "1", "x"],
    &["geoadd", "Sicily", "xx", "1", "1", "newone"],
    &["geoadd", "Sicily", "nx", "2", "2", "Palermo"],
    &["zrange", "Sicily", "0", "-1", "withscores"],
    &["geodist", "Sicily", "Palermo", "Catania"],
    &["geodist", "Sicily", "Palermo", "Catania", "km"],
    &["geodist", "Sicily", "Palermo", "Catania", "mi"],
    &["geodist", "Sicily", "Palermo", "Catania", "ft"],
    &["geodist", "Sicily", "Palermo", "Catania", "xx"],
    &["geodist", "Sicily", "Palermo", "Catania", "km", "x"],
    &["geodist", "Sicily", "Palermo", "nosuch"],
    &["geodist", "nokey", "a", "b"],
    &["geohash", "Sicily", "Palermo", "Catania", "nosuch"],
    &["geohash", "nokey", "a"],
    &["geopos", "Sicily", "Palermo", "Catania", "nosuch"],
    &["geopos", "nokey", "a"],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "WITHDIST",
        "WITHCOORD",
        "WITHHASH",
    ],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "WITHDIST",
        "WITHCOORD",
        "WITHHASH",
        "ASC",
    ],
    &["georadius", "Sicily", "15", "37", "200", "km", "DESC"],
    &["georadius", "Sicily", "15", "37", "200", "km", "COUNT", "1"],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "COUNT",
        "1",
        "ANY",
    ],
    &["georadius", "Sicily", "15", "37", "200", "km", "ANY"],
    &["georadius", "Sicily", "15", "37", "200", "km", "COUNT", "0"],
    &["georadius", "Sicily", "15", "37", "200", "km", "COUNT", "x"],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst",
    ],
    &["zrange", "dst", "0", "-1", "withscores"],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STOREDIST",
        "dst2",
    ],
    &["zrange", "dst2", "0", "-1", "withscores"],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst",
        "WITHDIST",
    ],
    &["georadius", "Sicily", "15", "37", "1", "m", "STORE", "dst"],
    &["exists", "dst"],
    &[
        "georadius_ro",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst",
    ],
    &["georadius", "Sicily", "15", "37", "-1", "km"],
    &["georadius", "Sicily", "15", "37", "x", "km"],
    &["georadius", "Sicily", "15", "37", "1", "parsec"],
    &["georadius", "Sicily", "181", "37", "1", "km"],
    &["georadius", "nokey", "15", "37", "200", "km"],
    &[
        "georadius",
        "nokey",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst2",
    ],
    &["exists", "dst2"],
    &[
        "georadiusbymember",
        "Sicily",
        "Palermo",
        "200",
        "km",
        "withdist",
    ],
    &["georadiusbymember", "Sicily", "nosuch", "200", "km"],
    &["georadiusbymember", "nokey", "nosuch", "x", "km"],
    &[
        "georadiusbymember_ro",
        "Sicily",
        "Palermo",
        "200",
        "km",
        "withdist",
        "withcoord",
    ],
    &[
        "geosearch",
        "Sicily",
        "frommember",
        "Palermo",
        "byradius",
        "200",
        "km",
        "withdist",
        "asc",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "bybox",
        "400",
        "400",
        "km",
        "withdist",
        "withcoord",
        "withhash",
        "desc",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "bybox",
        "400",
        "400",
        "km",
        "frommember",
        "Palermo",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "1",
        "km",
        "bybox",
        "1",
        "1",
        "km",
    ],
    &["geosearch", "Sicily", "byradius", "1", "km"],
    &["geosearch", "Sicily", "fromlonlat", "15", "37"],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "100",
        "km",
        "any",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "100",
        "km",
        "count",
        "1",
        "any",
    ],
    &[
        "geosearch",
        "Sicily",
        "frommember",
        "nosuch",
        "byradius",
        "100",
        "km",
    ],
    &[
        "geosearch",
        "nokey",
        "frommember",
        "nosuch",
        "byradius",
        "100",
        "km",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "bybox",
        "-1",
        "1",
        "km",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "bybox",
        "1",
        "x",
        "km",
    ],
    &[
        "geosearch",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "100",
        "km",
        "store",
        "x",
    ],
    &[
        "geosearchstore",
        "dst3",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "200",
        "km",
        "storedist",
    ],
    &["zrange", "dst3", "0", "-1", "withscores"],
    &[
        "geosearchstore",
        "dst3",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "200",
        "km",
    ],
    &["zrange", "dst3", "0", "-1", "withscores"],
    &[
        "geosearchstore",
        "dst3",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "200",
        "km",
        "withdist",
    ],
    &[
        "geosearchstore",
        "dst3",
        "nokey",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "200",
        "km",
    ],
    &["exists", "dst3"],
    &["set", "str", "x"],
    &["geoadd", "str", "1", "1", "a"],
    &["geopos", "str", "a"],
    &["geohash", "str", "a"],
    &["geodist", "str", "a", "b"],
    &["georadius", "str", "1", "1", "1", "km"],
    &[
        "geosearch",
        "str",
        "fromlonlat",
        "1",
        "1",
        "byradius",
        "1",
        "km",
    ],
    &[
        "geosearchstore",
        "str",
        "Sicily",
        "fromlonlat",
        "15",
        "37",
        "byradius",
        "200",
        "km",
    ],
    &["type", "str"],
    &[
        "zadd",
        "weird",
        "-1",
        "neg",
        "1e300",
        "big",
        "0",
        "zero",
        "4503599627370496",
        "max52",
        "1.5",
        "frac",
    ],
    &["geopos", "weird", "neg", "big", "zero", "max52", "frac"],
    &["geohash", "weird", "neg", "big", "zero", "max52", "frac"],
    &[
        "georadius",
        "weird",
        "0",
        "0",
        "20000",
        "km",
        "withhash",
        "withcoord",
        "withdist",
        "asc",
    ],
    &[
        "geoadd", "world", "0", "0", "origin", "179.9", "85", "ne", "-179.9", "-85", "sw",
        "0.0001", "0.0001", "close", "90", "0", "east", "-90", "0", "west", "180", "0", "edge",
        "-180", "0", "edge2",
    ],
    &["georadius", "world", "0", "0", "1", "m", "withdist"],
    &[
        "georadius",
        "world",
        "0",
        "0",
        "50",
        "km",
        "withdist",
        "asc",
    ],
    &[
        "georadius",
        "world",
        "0",
        "0",
        "10000",
        "km",
        "withdist",
        "asc",
    ],
    &[
        "georadius",
        "world",
        "0",
        "0",
        "20000",
        "km",
        "withdist",
        "asc",
    ],
    &["georadius", "world", "179", "84", "500", "km", "withdist"],
    &["georadius", "world", "0", "0", "0", "m", "withdist"],
    &[
        "geosearch",
        "world",
        "fromlonlat",
        "0",
        "0",
        "bybox",
        "20000",
        "20000",
        "km",
        "asc",
        "withdist",
    ],
    &[
        "geosearch",
        "world",
        "fromlonlat",
        "0",
        "0",
        "bybox",
        "40000",
        "20000",
        "km",
        "desc",
        "withdist",
    ],
    &[
        "geosearch",
        "world",
        "frommember",
        "origin",
        "bybox",
        "1",
        "1",
        "m",
        "asc",
    ],
    &[
        "georadius",
        "world",
        "0",
        "0",
        "100000",
        "km",
        "withdist",
        "asc",
    ],
    &[
        "geohash", "world", "origin", "ne", "sw", "close", "east", "west", "edge", "edge2",
    ],
    &[
        "geopos", "world", "origin", "ne", "sw", "close", "east", "west", "edge", "edge2",
    ],
    &["hello", "3"],
    &["geopos", "Sicily", "Palermo", "nosuch"],
    &[
        "georadius",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "WITHDIST",
        "WITHCOORD",
        "WITHHASH",
    ],
    &["geodist", "Sicily", "Palermo", "nosuch"],
    &["georadius", "nokey", "15", "37", "200", "km"],
    &[
        "geosearch",
        "Sicily",
        "frommember",
        "Palermo",
        "byradius",
        "200",
        "km",
        "withcoord",
    ],
];

#[test]
fn diff_geo_cases() {
    let mut d = session!();
    d.run(CASES);
}

/// A deterministic pseudo-random stream (64-bit LCG), so the cases are the
/// same on both servers and in every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() as f64 / (1u64 << 53) as f64) * (hi - lo)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Random points (half of them clustered) in a listpack-sized and a
/// skiplist-sized set, then random radius and box searches, by point and
/// by member, with every option mix.
#[test]
fn diff_geo_random_searches() {
    let mut d = session!();
    let mut rng = Lcg(7);
    for (key, n) in [("small", 60), ("big", 1500)] {
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let mut args: Vec<String> = vec!["GEOADD".into(), key.into()];
            for &j in chunk {
                let (lon, lat) = if rng.next().is_multiple_of(2) {
                    (rng.range(-180.0, 180.0), rng.range(-85.0, 85.0))
                } else {
                    (rng.range(5.0, 15.0), rng.range(40.0, 50.0))
                };
                args.push(format!("{lon:.6}"));
                args.push(format!("{lat:.6}"));
                args.push(format!("m{j}"));
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            d.case(&refs);
        }
        // Equal points: ties in distance.
        d.case(&[
            "GEOADD", key, "10", "45", "tieA", "10", "45", "tieB", "10", "45", "tieC",
        ]);
    }
    let opts = [
        "",
        "ASC",
        "DESC",
        "COUNT 5",
        "COUNT 3 DESC",
        "WITHHASH ASC",
        "COUNT 2 ANY",
        "WITHHASH WITHCOORD",
    ];
    for key in ["small", "big"] {
        for _ in 0..120 {
            let lon = rng.range(-60.0, 80.0);
            let lat = rng.range(-20.0, 85.0);
            let r = rng.pick(&["0.5", "5", "50", "300", "1000", "3000", "8000"]);
            let unit = rng.pick(&["km", "mi"]);
            let opt = rng.pick(&opts);
            let cmd = if rng.next().is_multiple_of(2) {
                format!("GEORADIUS {key} {lon:.4} {lat:.4} {r} {unit} WITHDIST {opt}")
            } else {
                let w = rng.pick(&["1", "10", "100", "500", "2000"]);
                let h = rng.pick(&["1", "10", "100", "500", "2000"]);
                format!(
                    "GEOSEARCH {key} FROMLONLAT {lon:.4} {lat:.4} BYBOX {w} {h} km WITHDIST {opt}"
                )
            };
            let args: Vec<&str> = cmd.split_whitespace().collect();
            d.case(&args);
        }
        for j in (0..60).step_by(7) {
            let m = format!("m{j}");
            d.case(&["GEORADIUSBYMEMBER", key, &m, "500", "km", "WITHDIST", "ASC"]);
            d.case(&[
                "GEOSEARCH",
                key,
                "FROMMEMBER",
                &m,
                "BYBOX",
                "300",
                "800",
                "km",
                "WITHDIST",
                "ASC",
            ]);
        }
        for order in ["ASC", "DESC"] {
            d.case(&[
                "GEOSEARCH",
                key,
                "FROMLONLAT",
                "10",
                "45",
                "BYRADIUS",
                "1",
                "km",
                order,
                "COUNT",
                "2",
            ]);
        }
        d.case(&[
            "GEOSEARCHSTORE",
            "dst",
            key,
            "FROMLONLAT",
            "10",
            "45",
            "BYRADIUS",
            "900",
            "km",
            "STOREDIST",
        ]);
        d.case(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]);
        d.case(&["GEORADIUS", key, "10", "45", "900", "km", "STORE", "dst"]);
        d.case(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]);
        d.case(&["OBJECT", "ENCODING", "dst"]);
    }
    let members: Vec<String> = (0..200).step_by(3).map(|i| format!("m{i}")).collect();
    for cmd in ["GEOHASH", "GEOPOS"] {
        let mut args = vec![cmd, "big"];
        args.extend(members.iter().map(String::as_str));
        d.case(&args);
    }
}

/// GEORADIUS ... STORE fires `georadiusstore`, GEOSEARCHSTORE
/// `geosearchstore`, GEOADD `zadd`, and an empty result deletes the
/// destination (`del`).
#[test]
fn diff_geo_keyspace_events() {
    let mut d = session!();
    d.case(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let (mut sub_l, mut sub_r) = d.new_clients();
    for c in [&mut sub_l, &mut sub_r] {
        c.cmd_str(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    }
    d.case(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"]);
    d.case(&["GEORADIUS", "g", "13", "38", "100", "km", "STORE", "d1"]);
    d.case(&[
        "GEOSEARCHSTORE",
        "d2",
        "g",
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "1",
        "km",
    ]);
    d.case(&[
        "GEOSEARCHSTORE",
        "d2",
        "g",
        "FROMLONLAT",
        "0",
        "0",
        "BYRADIUS",
        "1",
        "km",
    ]);
    d.case(&["GEORADIUS", "nokey", "13", "38", "100", "km", "STORE", "d1"]);
    d.case(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    for _ in 0..5 {
        let l = sub_l.read_reply();
        let r = sub_r.read_reply();
        assert_eq!(common::esc(&l), common::esc(&r));
    }
}

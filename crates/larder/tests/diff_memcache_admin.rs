//! Differential tests of memcached's administrative surface: `stats detail`,
//! `stats sizes*`, `stats cachedump`, `stats conns`, the general and
//! settings stats' shape, `lru_crawler` (with `metadump`), `slabs`, `lru`,
//! `verbosity`, `cache_memlimit` and `watch`, Larder against a real
//! memcached. Values that differ by nature (fds, ports, times, CAS, the
//! servers' own counters) are normalized; shapes and orders must match.
//!
//! `LARDER_DIFF_SELF=1` runs memcached against memcached.

mod common;
mod memcache_common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::self_mode;
use memcache_common::{McConn, Pair};

/// Both servers bound to 127.0.0.1 only (so each has one listener).
fn pair() -> Option<Pair> {
    Pair::start_with(&["--bind", "127.0.0.1"], &[])
}

fn text(lines: &[Vec<u8>]) -> Vec<String> {
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// The names of `STAT name value` lines, in order.
fn stat_names(lines: &[Vec<u8>]) -> Vec<String> {
    text(lines)
        .iter()
        .filter_map(|l| {
            l.strip_prefix("STAT ")
                .map(|r| r.split(' ').next().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
fn stats_detail_prefixes() {
    let Some(mut p) = pair() else { return };
    p.case(b"stats detail dump\r\n");
    p.case(b"stats detail\r\nstats detail maybe\r\nstats detail on extra\r\n");
    p.case(
        b"set foo:1 0 0 1\r\nx\r\nset bar:2 0 0 1\r\nx\r\nadd foo:1 0 0 1\r\nx\r\n\
          get foo:1 foo:2 x:y:z nodelim :lead\r\ngets bar:2\r\ndelete bar:2\r\ndelete nope:1\r\n\
          mg foo:1 v\r\nincr foo:1 1\r\ntouch foo:1 0\r\nstats detail dump\r\n",
    );
    // Many prefixes: the dump's order is memcached's hash-table order.
    let mut many = Vec::new();
    for i in 0..40 {
        many.extend_from_slice(
            format!("set p{i}:k 0 0 1\r\nx\r\nget p{i}:k q{i}:k\r\n").as_bytes(),
        );
    }
    many.extend_from_slice(b"stats detail dump\r\n");
    p.case(&many);
    // Too large still counts a set, as in memcached.
    let big = [
        b"set big:1 0 0 2000000\r\n".as_slice(),
        &[b'x'; 2_000_000],
        b"\r\nstats detail dump\r\n",
    ]
    .concat();
    p.case(&big);
    p.case(b"stats detail off\r\nget foo:1\r\nset foo:9 0 0 1\r\nx\r\nstats detail dump\r\n");
    p.case(b"stats reset\r\nstats detail dump\r\nstats detail on\r\nget foo:1\r\nstats detail dump\r\n");
}

#[test]
fn stats_sizes_and_cachedump_errors() {
    let Some(mut p) = pair() else { return };
    p.case(b"set before 0 0 5\r\nhello\r\nstats sizes\r\n");
    p.case(b"stats sizes_enable\r\nstats sizes_enable\r\nstats sizes\r\n");
    let mut sets = Vec::new();
    for (i, len) in [0usize, 1, 10, 31, 32, 33, 100, 500, 1000, 4000]
        .iter()
        .enumerate()
    {
        let flags = if i % 2 == 0 { 0 } else { 7 };
        sets.extend_from_slice(
            format!("set k{i} {flags} 0 {len}\r\n{}\r\n", "v".repeat(*len)).as_bytes(),
        );
    }
    sets.extend_from_slice(b"ms meta 3 F5\r\nabc\r\nstats sizes\r\n");
    p.case(&sets);
    p.case(b"stats sizes_disable\r\nstats sizes\r\nstats sizes_disable\r\n");
    p.case(
        b"stats cachedump\r\nstats cachedump 1\r\nstats cachedump x 1\r\nstats cachedump 1 y\r\n\
          stats cachedump 64 0\r\nstats cachedump 4294967296 0\r\nstats cachedump -1 0\r\n\
          stats cachedump 63 5\r\n",
    );
    p.case(b"stats extstores\r\nstats proxy\r\nstats nosuch\r\nstats reset now\r\n");
}

/// Class 1's `cachedump` lists every item here (memcached only its cold
/// LRU, which a fresh item is not in yet): checked on Larder alone.
#[test]
fn cachedump_lists_items() {
    if self_mode() {
        return;
    }
    let s = common::start_larder_memcache(&[]);
    let mut c = McConn::connect(s.port);
    let r = c
        .exchange(b"set a 0 0 3\r\nabc\r\nset b 0 100 1\r\nx\r\nstats cachedump 1 0\r\nstats cachedump 1 1\r\nstats extstore\r\n")
        .expect("reply");
    let t = text(&r);
    assert_eq!(&t[..2], ["STORED", "STORED"]);
    let dump: Vec<&String> = t[2..].iter().take_while(|l| *l != "END").collect();
    assert_eq!(dump.len(), 2, "{t:?}");
    assert!(dump.contains(&&"ITEM a [3 b; 0 s]".to_string()), "{t:?}");
    let b = dump
        .iter()
        .find(|l| l.starts_with("ITEM b "))
        .expect("b listed");
    let exp: u64 = b
        .strip_prefix("ITEM b [1 b; ")
        .and_then(|r| r.strip_suffix(" s]"))
        .and_then(|v| v.parse().ok())
        .expect("absolute exptime");
    assert!(exp > 1_600_000_000, "{b}");
    let one: Vec<&String> = t[2 + dump.len() + 1..]
        .iter()
        .take_while(|l| *l != "END")
        .collect();
    assert_eq!(one.len(), 1, "{t:?}");
    assert_eq!(
        t.last().map(String::as_str),
        Some("ERROR"),
        "stats extstore: {t:?}"
    );
}

#[test]
fn general_and_settings_stats_shape() {
    let Some(mut p) = pair() else { return };
    let l = p.l.exchange(b"stats\r\n").expect("larder");
    let m = p.m.exchange(b"stats\r\n").expect("memcached");
    assert_eq!(stat_names(&l), stat_names(&m));
    // Settings: memcached's names in memcached's order (Larder has no
    // extstore, TLS or restart file, and adds maxmemory_policy at the end).
    let keep = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| {
                !(n.starts_with("ext_")
                    || n.starts_with("ssl_")
                    || n == "slab_automove_freeratio"
                    || n == "num_napi_ids"
                    || n == "memory_file"
                    || n == "maxmemory_policy")
            })
            .collect()
    };
    let l = keep(stat_names(
        &p.l.exchange(b"stats settings\r\n").expect("larder"),
    ));
    let m = keep(stat_names(
        &p.m.exchange(b"stats settings\r\n").expect("memcached"),
    ));
    assert_eq!(l, m);
    // items/slabs: the same names for class 1.
    p.case(b"set x 0 0 1\r\nx\r\n");
    for group in [&b"stats items\r\n"[..], b"stats slabs\r\n"] {
        let l = stat_names(&p.l.exchange(group).expect("larder"));
        let m = stat_names(&p.m.exchange(group).expect("memcached"));
        assert_eq!(l, m, "{}", String::from_utf8_lossy(group));
    }
}

/// `stats conns`: a listener, an idle client, one in the middle of a data
/// block, a watcher and the asking one, in fd order with their states.
#[test]
fn stats_conns_shape() {
    let Some(p) = pair() else { return };
    let shape = |port: u16| -> Vec<String> {
        let mut idle = McConn::connect(port);
        idle.exchange(b"version\r\n").expect("version");
        let mut nread = McConn::connect(port);
        nread.send(b"set foo 0 0 6\r\n");
        let _fresh = McConn::connect(port);
        let mut w = TcpStream::connect(("127.0.0.1", port)).expect("watcher");
        w.write_all(b"watch\r\n").expect("watch");
        let mut ok = String::new();
        BufReader::new(&w).read_line(&mut ok).expect("OK");
        assert_eq!(ok, "OK\r\n");
        std::thread::sleep(Duration::from_millis(200));
        let mut s = McConn::connect(port);
        let r = s.exchange(b"stats conns\r\n").expect("stats conns");
        // STAT <fd>:<field> <value>, grouped by fd, with ports and secs as
        // N. Listeners first in fd order; clients sorted (the order of fds
        // the kernel hands out is the servers' own business).
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for l in text(&r) {
            let w: Vec<&str> = l.splitn(3, ' ').collect();
            if w.len() < 3 {
                assert_eq!(l, "END");
                continue;
            }
            let (fd, field) = w[1].split_once(':').unwrap_or(("", w[1]));
            let value = match field {
                "addr" | "listen_addr" => w[2]
                    .rsplit_once(':')
                    .map_or(w[2].to_string(), |(a, _)| format!("{a}:PORT")),
                "secs_since_last_cmd" => "N".to_string(),
                _ => w[2].to_string(),
            };
            let row = format!("{field} {value}");
            match groups.last_mut() {
                Some((f, rows)) if f == fd => rows.push(row),
                _ => groups.push((fd.to_string(), vec![row])),
            }
        }
        let fds: Vec<i64> = groups.iter().map(|g| g.0.parse().expect("fd")).collect();
        assert!(fds.windows(2).all(|w| w[0] < w[1]), "fd order: {fds:?}");
        let (listeners, mut clients): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .map(|g| g.1.join(", "))
            .partition(|g| g.contains("conn_listening"));
        clients.sort();
        [listeners, clients].concat()
    };
    let l = shape(p.larder_port());
    let m = shape(p.memcached_port());
    assert_eq!(l, m);
}

#[test]
fn lru_crawler_slabs_lru_and_settings() {
    let Some(mut p) = pair() else { return };
    p.case(
        b"lru_crawler\r\nlru_crawler foo\r\nlru_crawler crawl\r\nlru_crawler crawl 0\r\n\
          lru_crawler crawl 64\r\nlru_crawler crawl x\r\nlru_crawler crawl 1,x\r\n\
          lru_crawler crawl all extra\r\n",
    );
    // memcached's crawler runs in the background (`BUSY` until it is
    // done): one crawl at a time.
    for arg in ["all", "1", "1,2,3", "hash"] {
        p.case(format!("lru_crawler crawl {arg}\r\n").as_bytes());
        std::thread::sleep(Duration::from_millis(100));
    }
    p.case(
        b"lru_crawler tocrawl 5\r\nlru_crawler tocrawl -1\r\nlru_crawler tocrawl x\r\n\
          lru_crawler sleep 2000000\r\nlru_crawler sleep 10\r\nlru_crawler sleep x\r\n\
          lru_crawler enable\r\nlru_crawler metadump 0\r\nlru_crawler metadump 64\r\n\
          lru_crawler metadump 5\r\nlru_crawler metadump all noreply\r\n",
    );
    // (memcached's crawler thread stops in the background.)
    p.case(b"lru_crawler disable\r\nlru_crawler disable\r\n");
    std::thread::sleep(Duration::from_millis(200));
    p.case(b"lru_crawler crawl all\r\n");
    p.case(b"lru_crawler metadump all\r\n");
    p.case(b"lru_crawler enable\r\nlru_crawler enable\r\n");
    p.case(
        b"slabs\r\nslabs reassign\r\nslabs reassign 1 1\r\nslabs reassign 1 x\r\nslabs reassign 1 99\r\n\
          slabs reassign 99 1\r\nslabs reassign 1 0\r\nslabs reassign 1 2 3\r\nslabs foo 1\r\n",
    );
    p.case(
        b"slabs automove\r\nslabs automove 0\r\nslabs automove 2\r\nslabs automove 3\r\n\
          slabs automove x\r\nslabs automove ratio\r\nslabs automove ratio 0.5\r\n\
          slabs automove ratio x\r\nslabs automove 1 noreply\r\nslabs automove ratio 0.6 noreply\r\n",
    );
    p.case(
        b"lru\r\nlru x\r\nlru tune 10 20 0.1 2.0\r\nlru tune 50 40 0.1 2.0\r\nlru tune 10 20 0 2\r\n\
          lru tune x 20 0.1 2\r\nlru tune 10 20\r\nlru mode flat\r\nlru mode segmented\r\n\
          lru mode x\r\nlru mode\r\nlru temp_ttl 100\r\nlru temp_ttl -1\r\nlru temp_ttl x\r\n\
          lru mode flat noreply\r\n",
    );
    p.case(
        b"verbosity 5\r\nverbosity 4294967296\r\nverbosity -1\r\nverbosity 1 2\r\n\
          cache_memlimit 7\r\ncache_memlimit 1000000001\r\ncache_memlimit 4294967296\r\n\
          cache_memlimit -1\r\ncache_memlimit 100 noreply\r\ncache_memlimit 100\r\n",
    );
    // What these set shows in `stats settings` (the values Larder keeps).
    let pick = |lines: Vec<Vec<u8>>| -> Vec<String> {
        let names = [
            "verbosity",
            "maxbytes",
            "detail_enabled",
            "slab_automove",
            "slab_automove_ratio",
            "lru_crawler",
            "lru_crawler_sleep",
            "lru_crawler_tocrawl",
            "lru_segmented",
            "hot_lru_pct",
            "warm_lru_pct",
            "hot_max_factor",
            "warm_max_factor",
            "temp_lru",
            "temporary_ttl",
        ];
        text(&lines)
            .into_iter()
            .filter(|l| names.iter().any(|n| l.split(' ').nth(1) == Some(*n)))
            .collect()
    };
    let l = pick(p.l.exchange(b"stats settings\r\n").expect("larder"));
    let m = pick(p.m.exchange(b"stats settings\r\n").expect("memcached"));
    assert_eq!(l, m);
}

/// Reads until a line equal to `end`; lines end in `\n` (metadump) or
/// `\r\n`, returned without either.
/// With shutdown enabled (`-A`), a mode other than `graceful` is refused
/// and the server stays up.
#[test]
fn shutdown_mode_checked() {
    let Some(mut p) = Pair::start_with(&["--memcache-enable-shutdown", "yes"], &["-A"]) else {
        return;
    };
    p.case(b"shutdown foo\r\nshutdown graceful now\r\nshutdown now graceful\r\nversion x\r\n");
}

/// memcached's `-F` and `-W` as `memcache-disable-flush-all` and
/// `memcache-disable-watch`: both commands refused, nothing flushed.
#[test]
fn flush_all_and_watch_disabled() {
    let larder = [
        "--memcache-disable-flush-all",
        "yes",
        "--memcache-disable-watch",
        "yes",
    ];
    let Some(mut p) = Pair::start_with(&larder, &["-F", "-W"]) else {
        return;
    };
    p.case(b"set a 0 0 1\r\nx\r\nflush_all\r\nflush_all 0\r\nflush_all noreply\r\nget a\r\n");
    p.case(b"watch\r\nwatch mutations\r\nget a\r\n");
    let mut l = McConn::connect(p.larder_port());
    let mut m = McConn::connect(p.memcached_port());
    let names = ["cmd_flush"];
    assert_eq!(
        memcache_common::stats_subset(&mut l, &names),
        memcache_common::stats_subset(&mut m, &names)
    );
    let mut c = McConn::connect(p.larder_port());
    let settings = c.exchange(b"stats settings\r\n").unwrap();
    assert!(settings.iter().any(|l| l == b"STAT flush_enabled no"));
}

fn read_until(r: &mut BufReader<TcpStream>, end: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let mut l = String::new();
        match r.read_line(&mut l) {
            Ok(0) | Err(_) => panic!("closed or stalled before {end:?}: {out:?}"),
            Ok(_) => {}
        }
        let l = l.trim_end_matches('\n').trim_end_matches('\r').to_string();
        if l == end {
            return out;
        }
        out.push(l);
    }
}

fn raw(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let r = BufReader::new(s.try_clone().expect("clone"));
    (s, r)
}

#[test]
fn metadump_lines() {
    let Some(mut p) = pair() else { return };
    p.case(
        b"set plain 0 0 3\r\nabc\r\nset flagged 9 1000 5\r\nhello\r\nset sp%ce:x 0 0 1\r\nz\r\n\
          get plain\r\nset gone 0 -1 1\r\nx\r\n",
    );
    // A pipelined metadump is refused.
    p.case(b"version\r\nlru_crawler metadump all\r\n");
    let dump = |port: u16, arg: &str| -> Vec<String> {
        let (mut s, mut r) = raw(port);
        s.write_all(format!("lru_crawler metadump {arg}\r\n").as_bytes())
            .expect("send");
        let mut lines: Vec<String> = read_until(&mut r, "END")
            .into_iter()
            .map(|l| {
                l.split(' ')
                    .map(|f| match f.split_once('=') {
                        Some((k @ ("la" | "cas"), _)) => format!("{k}=N"),
                        Some(("exp", v)) if v != "-1" => "exp=T".to_string(),
                        _ => f.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        lines.sort();
        lines
    };
    for arg in ["all", "1", "hash", "1,2"] {
        let l = dump(p.larder_port(), arg);
        let m = dump(p.memcached_port(), arg);
        assert_eq!(l, m, "metadump {arg}");
        assert_eq!(l.len(), 3, "{l:?}");
    }
}

#[test]
fn watch_streams() {
    let Some(mut p) = pair() else { return };
    p.case(b"watch nosuchkind\r\nwatch fetchers bogus\r\n");
    p.case(b"version\r\nwatch\r\n");
    let events = |port: u16| -> Vec<String> {
        let (mut w, mut wr) = raw(port);
        w.write_all(b"watch fetchers mutations\r\n").expect("watch");
        assert_eq!(read_until(&mut wr, "OK"), Vec::<String>::new());
        let (mut cw, mut cr) = raw(port);
        cw.write_all(b"watch connevents\r\n").expect("watch");
        assert_eq!(read_until(&mut cr, "OK"), Vec::<String>::new());
        let mut c = McConn::connect(port);
        c.exchange(
            b"set w:1 0 0 3\r\nabc\r\nget w:1 w:2\r\nadd w:1 0 100 1\r\nx\r\ncas w:1 0 0 1 999999\r\ny\r\n\
              delete w:1\r\nincr w:3 1\r\ntouch w:1 10\r\nms w:4 2 T50\r\nhi\r\nmg w:4 v\r\n",
        )
        .expect("commands");
        let mut q = McConn::connect(port);
        q.exchange(b"version\r\n").expect("version");
        q.send(b"quit\r\n");
        std::thread::sleep(Duration::from_millis(300));
        // Up to `mg w:4` (the `mn` the exchange sent logs nothing).
        let n = 14;
        let mut out: Vec<String> = (0..n)
            .map(|_| {
                let mut l = String::new();
                wr.read_line(&mut l).expect("event");
                l
            })
            .collect();
        // (memcached's threads log connections in their own order.)
        let mut conns: Vec<String> = (0..3)
            .map(|_| {
                let mut l = String::new();
                cr.read_line(&mut l).expect("conn event");
                l
            })
            .collect();
        conns.sort_by_key(|l| l.contains("conn_close"));
        out.extend(conns);
        out.iter()
            .map(|l| {
                l.trim_end()
                    .split(' ')
                    .map(|f| match f.split_once('=') {
                        Some((k @ ("ts" | "gid" | "cfd" | "rport"), _)) => format!("{k}=N"),
                        _ => f.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let l = events(p.larder_port());
    let m = events(p.memcached_port());
    assert_eq!(l, m);
}

/// memcached's ASCII authentication (`-Y authfile`) against Larder with a
/// password and a user: until a `set` carrying `<user> <password>` succeeds,
/// every request is refused; the key, flags and exptime of that `set` are
/// ignored, and nothing is stored. One request at a time: memcached stalls
/// on requests pipelined behind an authentication.
#[test]
fn ascii_authentication() {
    let file = std::env::temp_dir().join(format!("larder-mc-auth-{}", std::process::id()));
    std::fs::write(&file, "foo:bar\nbaaaz:quux\n").unwrap();
    let larder = [
        "--requirepass",
        "secret",
        "--user",
        "foo",
        "on",
        ">bar",
        "~*",
        "&*",
        "+@all",
    ];
    let Some(p) = Pair::start_with(&larder, &["-Y", file.to_str().unwrap()]) else {
        return;
    };
    let (mut l, mut lr) = raw(p.larder_port());
    let (mut m, mut mr) = raw(p.memcached_port());
    let requests: &[&[u8]] = &[
        b"set foo 0 0 2\r\nhi\r\n",
        b"get foo\r\n",
        b"version\r\n",
        b"mg foo v\r\n",
        b"set foo 0 0 7\r\nfoo bab\r\n",
        b"set a b c 3\r\nfoo\r\n",
        b"set a b c 3\r\nfooXY",
        b"set a 1 2\r\n",
        b"set a 0 0 10\r\n foo  bar \r\n",
        b"get foo a\r\n",
        b"set toast 0 0 2\r\nhi\r\n",
        b"get toast\r\n",
    ];
    // One reply: its lines up to one that is not a VALUE (with its data).
    let reply = |r: &mut BufReader<TcpStream>| {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("reply");
            let value = line.starts_with("VALUE ");
            lines.push(line);
            if !value {
                return lines;
            }
            let mut data = String::new();
            r.read_line(&mut data).expect("data");
            lines.push(data);
        }
    };
    for req in requests {
        l.write_all(req).unwrap();
        m.write_all(req).unwrap();
        let (a, b) = (reply(&mut lr), reply(&mut mr));
        assert_eq!(a, b, "{}", String::from_utf8_lossy(req));
    }
    // (`requirepass`'s default user logs in too.)
    let mut c = McConn::connect(p.larder_port());
    c.exchange(b"set x 0 0 14\r\ndefault secret\r\n").unwrap();
    assert_eq!(
        memcache_common::stats_subset(&mut c, &["auth_cmds", "auth_errors"]),
        ["STAT auth_cmds 3", "STAT auth_errors 1"]
    );
    std::fs::remove_file(&file).ok();
}

//! A raw memcached client for the memcache tests: sends bytes, reads the
//! replies of a batch up to an `mn` sentinel (`MN`), and normalizes the
//! fields that legitimately differ between servers (CAS uniques, times).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self_mode, start_larder_memcache, start_memcached, McServer};

pub struct McConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl McConn {
    pub fn connect(port: u16) -> McConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect memcache port");
        stream.set_nodelay(true).ok();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok();
        McConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(_) if Instant::now() < deadline => continue,
                Err(_) => return false,
            }
        }
    }

    /// Sends `bytes` then `mn`, and returns every reply line (data blocks
    /// included, as lines) before `MN`. None if the connection closed or
    /// stalled first (what came is in the error).
    pub fn exchange(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Vec<Vec<u8>>> {
        let mut msg = bytes.to_vec();
        msg.extend_from_slice(b"mn\r\n");
        if self.stream.write_all(&msg).is_err() {
            return Err(Vec::new());
        }
        self.read_until_mn()
    }

    pub fn read_until_mn(&mut self) -> Result<Vec<Vec<u8>>, Vec<Vec<u8>>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut lines = Vec::new();
        let mut pos = 0;
        loop {
            // Parse as much as is buffered.
            let Some(nl) = self.buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                if !self.fill(deadline) {
                    self.buf.drain(..pos);
                    return Err(lines);
                }
                continue;
            };
            let line = self.buf[pos..pos + nl].to_vec();
            let data_len = data_len(&line);
            if let Some(n) = data_len {
                let end = pos + nl + 2 + n + 2;
                while self.buf.len() < end {
                    if !self.fill(deadline) {
                        return Err(lines);
                    }
                }
                lines.push(line);
                lines.push(self.buf[pos + nl + 2..end - 2].to_vec());
                pos = end;
                continue;
            }
            pos += nl + 2;
            if line == b"MN" {
                self.buf.drain(..pos);
                return Ok(lines);
            }
            lines.push(line);
        }
    }
}

/// The data length a reply line announces (`VALUE k f n [c]`, `VA n ...`).
fn data_len(line: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(line).ok()?;
    let w: Vec<&str> = s.split(' ').collect();
    match w.first() {
        Some(&"VALUE") if w.len() >= 4 => w[3].parse().ok(),
        Some(&"VA") if w.len() >= 2 => w[1].parse().ok(),
        _ => None,
    }
}

/// The CAS of the last `VALUE` line for `key` in `lines` (`gets`), or of a
/// meta reply's `c` flag.
pub fn cas_of(lines: &[Vec<u8>]) -> Option<u64> {
    let mut found = None;
    for l in lines {
        let s = String::from_utf8_lossy(l);
        let w: Vec<&str> = s.split(' ').collect();
        if w.first() == Some(&"VALUE") && w.len() == 5 {
            found = w[4].parse().ok();
        }
        if matches!(w.first(), Some(&"VA") | Some(&"HD")) {
            for f in &w[1..] {
                if let Some(c) = f.strip_prefix('c') {
                    found = c.parse().ok();
                }
            }
        }
    }
    found
}

/// [`normalize`], then also forgets what depends on memcached's internal
/// reference counts: whether a shrinking `incr`/`decr` rewrote the item in
/// place (space-padded) or made a new one depends on whether a response
/// still holds the item, and so does the fetched bit (meta `h`). Numbers
/// lose their padding (and the announced length follows); `h` flags go.
pub fn normalize_loose(lines: &[Vec<u8>]) -> Vec<String> {
    let mut out = normalize(lines);
    for i in 0..out.len() {
        let trimmed = out[i].trim_end_matches(' ').to_string();
        if i > 0
            && trimmed.len() < out[i].len()
            && !trimmed.is_empty()
            && trimmed.bytes().all(|b| b.is_ascii_digit())
        {
            let n = trimmed.len().to_string();
            let mut w: Vec<String> = out[i - 1].split(' ').map(str::to_string).collect();
            match w.first().map(String::as_str) {
                Some("VALUE") if w.len() >= 4 => w[3] = n,
                Some("VA") if w.len() >= 2 => w[1] = n,
                _ => {}
            }
            out[i - 1] = w.join(" ");
            out[i] = trimmed;
        }
    }
    for l in out.iter_mut() {
        if l.starts_with("VA ") || l.starts_with("HD") {
            *l = l
                .split(' ')
                .filter(|f| *f != "h0" && *f != "h1")
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    out
}

/// Replaces CAS uniques and time fields by placeholders.
pub fn normalize(lines: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    let mut data_next = false;
    for l in lines {
        let s = String::from_utf8_lossy(l).to_string();
        if data_next {
            out.push(s);
            data_next = false;
            continue;
        }
        data_next = data_len(l).is_some();
        let w: Vec<&str> = s.split(' ').collect();
        let norm = match w.first() {
            Some(&"VALUE") if w.len() == 5 => format!("{} {} {} {} CAS", w[0], w[1], w[2], w[3]),
            Some(&"VA") | Some(&"HD") | Some(&"EN") | Some(&"NF") | Some(&"NS") | Some(&"EX") => {
                let mut v = vec![w[0].to_string()];
                for (i, f) in w[1..].iter().enumerate() {
                    if i == 0 && w[0] == "VA" {
                        v.push(f.to_string());
                        continue;
                    }
                    let n = match f.as_bytes().first() {
                        Some(b'c') if f.len() > 1 => "cCAS".to_string(),
                        Some(b'l') if f.len() > 1 => "lTIME".to_string(),
                        Some(b't') if f.len() > 1 && *f != "t-1" => "tTTL".to_string(),
                        _ => f.to_string(),
                    };
                    v.push(n);
                }
                v.join(" ")
            }
            Some(&"ME") => {
                let v: Vec<String> = w
                    .iter()
                    .map(|f| match f.split_once('=') {
                        Some((k @ ("exp" | "la" | "cas" | "cls" | "size"), v)) => {
                            if k == "exp" && v == "-1" {
                                f.to_string()
                            } else {
                                format!("{k}=N")
                            }
                        }
                        _ => f.to_string(),
                    })
                    .collect();
                v.join(" ")
            }
            _ => s.clone(),
        };
        out.push(norm);
    }
    out
}

/// A Larder and a real memcached, one connection to each; `case` sends the
/// same bytes to both and asserts the (normalized) replies are equal.
pub struct Pair {
    _larder: McServer,
    _memcached: McServer,
    pub l: McConn,
    pub m: McConn,
    history: Vec<String>,
    /// Compare with [`normalize_loose`] (the random sequences).
    pub loose: bool,
}

impl Pair {
    pub fn start() -> Option<Pair> {
        Pair::start_with(&[], &[])
    }

    /// Larder with `larder_args`, memcached with `memcached_args` (also
    /// the "Larder" side under `LARDER_DIFF_SELF=1`).
    pub fn start_with(larder_args: &[&str], memcached_args: &[&str]) -> Option<Pair> {
        let memcached = start_memcached(memcached_args)?;
        let larder = if self_mode() {
            start_memcached(memcached_args)?
        } else {
            start_larder_memcache(larder_args)
        };
        let l = McConn::connect(larder.port);
        let m = McConn::connect(memcached.port);
        Some(Pair {
            _larder: larder,
            _memcached: memcached,
            l,
            m,
            history: Vec::new(),
            loose: false,
        })
    }

    pub fn larder_port(&self) -> u16 {
        self._larder.port
    }

    pub fn memcached_port(&self) -> u16 {
        self._memcached.port
    }

    /// Sends `req` to both and asserts equal (normalized) replies.
    pub fn case(&mut self, req: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.case2(req, req)
    }

    pub fn case2(&mut self, to_larder: &[u8], to_memcached: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.history
            .push(String::from_utf8_lossy(to_memcached).replace("\r\n", "\\r\\n"));
        let l = self.l.exchange(to_larder);
        let m = self.m.exchange(to_memcached);
        let (lo, mo) = match (&l, &m) {
            (Ok(a), Ok(b)) => (a.clone(), b.clone()),
            (Err(a), Err(b)) => (a.clone(), b.clone()),
            _ => panic!(
                "one server closed or stalled: larder {:?} memcached {:?}\nhistory:\n{}",
                l.as_ref().map(|x| normalize(x)).map_err(|x| normalize(x)),
                m.as_ref().map(|x| normalize(x)).map_err(|x| normalize(x)),
                self.tail()
            ),
        };
        let norm = if self.loose {
            normalize_loose
        } else {
            normalize
        };
        let (ln, mn) = (norm(&lo), norm(&mo));
        assert_eq!(
            ln,
            mn,
            "reply differs for {:?}\nhistory:\n{}",
            String::from_utf8_lossy(to_memcached),
            self.tail()
        );
        (lo, mo)
    }

    fn tail(&self) -> String {
        let n = self.history.len();
        self.history[n.saturating_sub(30)..].join("\n")
    }
}

/// The `STAT name value` lines of `stats` for these names, in server order.
pub fn stats_subset(conn: &mut McConn, names: &[&str]) -> Vec<String> {
    let lines = conn.exchange(b"stats\r\n").expect("stats");
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .filter(|l| names.iter().any(|n| l.split(' ').nth(1) == Some(*n)))
        .collect()
}

/// A tiny deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

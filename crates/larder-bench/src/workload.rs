//! What requests a connection sends: the command mix, keys and values.
//!
//! A [`Workload`] is built once from the arguments and shared (`Arc`); each
//! connection owns a [`Gen`] over it (its RNG, key sampler, trace follow-ups)
//! that encodes the next request straight into the output buffer and returns
//! a [`Req`] tag the driver keeps in its in-flight queue to account the reply.
//!
//! Mixes:
//! * `Ratio`: GETs and SETs interleaved as `--ratio get:set` (request `i` is a
//!   SET when `i mod (g+s) >= g`), GETs widened to `MGET`/multi-key `get` by
//!   `--multiget`.
//! * `Commands`: `--command` templates, used in turn; `__key__` and
//!   `__data__` in an argument become a key and a value.
//! * `Trace`: keys in trace order, shared by all connections through one
//!   atomic cursor; each GET that misses is followed by a SET of that key on
//!   the same connection (a cache-aside client), so the hit ratio is the one
//!   the server's eviction achieves on the trace.
//! * `Fill`: `--prepopulate`; every key once, SET, connections splitting
//!   the key space into contiguous ranges.
//!
//! Keys are `<prefix><index>` with the index zero-padded to 12 digits (as
//! redis-benchmark's `key:__rand_int__`), or `<prefix><trace line>`.

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::bail;

use crate::keys::{KeyDist, KeySampler};
use crate::proto::{resp, Protocol};
use crate::rng::Rng;
pub use crate::trace::Trace;
use crate::values::DataSize;

pub const CMD_GET: u8 = 0;
pub const CMD_SET: u8 = 1;

pub enum Mix {
    Ratio { get: u32, set: u32 },
    Commands(Vec<Template>),
    Trace(Trace),
    Fill,
}

pub struct Workload {
    pub protocol: Protocol,
    pub mix: Mix,
    pub keys: KeyDist,
    pub sizes: DataSize,
    pub pattern: Vec<u8>,
    pub prefix: Vec<u8>,
    pub multiget: usize,
    pub seed: u64,
}

impl Workload {
    /// Stats row names, indexed by [`Req::cmd`].
    pub fn command_names(&self) -> Vec<String> {
        match &self.mix {
            Mix::Commands(t) => t.iter().map(|t| t.name.clone()).collect(),
            _ if self.multiget > 1 => vec!["MGET".into(), "SET".into()],
            _ => vec!["GET".into(), "SET".into()],
        }
    }

    /// Starts a trace over (each run replays it from its first line).
    pub fn rewind(&self) {
        if let Mix::Trace(t) = &self.mix {
            t.rewind();
        }
    }

    /// The same key space and values, as a one-pass SET of every key.
    pub fn fill(&self) -> Workload {
        Workload {
            protocol: self.protocol,
            mix: Mix::Fill,
            keys: self.keys.clone(),
            sizes: self.sizes.clone(),
            pattern: self.pattern.clone(),
            prefix: self.prefix.clone(),
            multiget: 1,
            seed: self.seed,
        }
    }
}

/// How a reply counts towards hits and misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acct {
    /// Not at all (SET).
    None,
    /// A read of this many keys: hits are the values returned, misses the rest.
    Keys(u16),
    /// A `--command`: non-null replies are hits, nulls misses.
    Reply,
}

/// The tag of one request in flight.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    pub cmd: u8,
    pub acct: Acct,
    /// The trace line a GET read (for the SET after a miss), or `u32::MAX`.
    pub trace: u32,
}

/// One connection's request generator.
pub struct Gen {
    w: Arc<Workload>,
    st: State,
}

/// A connection's mutable generator state (apart from the shared workload,
/// so both can be borrowed at once).
struct State {
    rng: Rng,
    keys: KeySampler,
    n: u64,
    fill: std::ops::Range<u64>,
    keybuf: Vec<u8>,
    ends: Vec<usize>,
    follow_ups: VecDeque<u32>,
}

impl Gen {
    pub fn new(w: Arc<Workload>, conn: usize, conns: usize) -> Gen {
        let n = w.keys.keyspace();
        let conns = conns.max(1);
        let at = |c: usize| (u128::from(n) * c as u128 / conns as u128) as u64;
        let st = State {
            rng: Rng::new(w.seed.wrapping_mul(0x1_0000_0001).wrapping_add(conn as u64)),
            keys: KeySampler::new(w.keys.clone(), conn, conns),
            n: 0,
            fill: at(conn)..at(conn + 1),
            keybuf: Vec::with_capacity(64),
            ends: Vec::with_capacity(w.multiget),
            follow_ups: VecDeque::new(),
        };
        Gen { w, st }
    }

    /// Encodes the next request into `out`; `None` when there is nothing to
    /// send now (trace or fill range exhausted).
    pub fn next(&mut self, out: &mut Vec<u8>) -> Option<Req> {
        let w = &*self.w;
        let st = &mut self.st;
        st.keybuf.clear();
        st.ends.clear();
        match &w.mix {
            Mix::Ratio { get, set } => {
                let i = st.n % u64::from(get + set);
                st.n += 1;
                if i < u64::from(*get) {
                    for _ in 0..w.multiget {
                        let k = st.keys.next(&mut st.rng);
                        st.push_index_key(w, k);
                    }
                    w.protocol.encode_get(out, st.key_slices());
                    return Some(st.get_req(u32::MAX));
                }
                let k = st.keys.next(&mut st.rng);
                st.push_index_key(w, k);
                Some(st.encode_set(w, out))
            }
            Mix::Fill => {
                let k = st.fill.next()?;
                st.push_index_key(w, k);
                Some(st.encode_set(w, out))
            }
            Mix::Trace(trace) => {
                if let Some(line) = st.follow_ups.pop_front() {
                    st.push_trace_key(w, trace, line);
                    return Some(st.encode_set(w, out));
                }
                let line = trace.claim()?;
                st.push_trace_key(w, trace, line);
                w.protocol.encode_get(out, st.key_slices());
                Some(st.get_req(line))
            }
            Mix::Commands(templates) => {
                let i = (st.n % templates.len() as u64) as usize;
                st.n += 1;
                let k = st.keys.next(&mut st.rng);
                st.push_index_key(w, k);
                let len = w.sizes.sample(&mut st.rng);
                templates[i].encode(out, &st.keybuf, &w.pattern[..len]);
                Some(Req {
                    cmd: i as u8,
                    acct: Acct::Reply,
                    trace: u32::MAX,
                })
            }
        }
    }

    /// A GET of trace line `line` missed: SET it next.
    pub fn on_miss(&mut self, line: u32) {
        if line != u32::MAX {
            self.st.follow_ups.push_back(line);
        }
    }
}

impl State {
    fn get_req(&self, trace: u32) -> Req {
        Req {
            cmd: CMD_GET,
            acct: Acct::Keys(self.ends.len() as u16),
            trace,
        }
    }

    /// A SET of the (single) key in `keybuf`.
    fn encode_set(&mut self, w: &Workload, out: &mut Vec<u8>) -> Req {
        let len = w.sizes.sample(&mut self.rng);
        w.protocol.encode_set(out, &self.keybuf, &w.pattern[..len]);
        Req {
            cmd: CMD_SET,
            acct: Acct::None,
            trace: u32::MAX,
        }
    }

    fn push_index_key(&mut self, w: &Workload, k: u64) {
        self.keybuf.extend_from_slice(&w.prefix);
        let mut b = itoa::Buffer::new();
        let digits = b.format(k).as_bytes();
        for _ in digits.len()..12 {
            self.keybuf.push(b'0');
        }
        self.keybuf.extend_from_slice(digits);
        self.ends.push(self.keybuf.len());
    }

    fn push_trace_key(&mut self, w: &Workload, trace: &Trace, line: u32) {
        self.keybuf.extend_from_slice(&w.prefix);
        self.keybuf.extend_from_slice(trace.key(line));
        self.ends.push(self.keybuf.len());
    }

    fn key_slices(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.keybuf[start..self.ends[i]]
        })
    }
}

/// A `--command` template: whitespace-separated arguments, in which
/// `__key__` and `__data__` are replaced by the request's key and value.
pub struct Template {
    pub name: String,
    args: Vec<Vec<Part>>,
}

enum Part {
    Lit(Vec<u8>),
    Key,
    Data,
}

impl Template {
    pub fn parse(s: &str) -> anyhow::Result<Template> {
        let mut args = Vec::new();
        for word in s.split_whitespace() {
            let mut parts = Vec::new();
            let mut rest = word;
            while !rest.is_empty() {
                let k = rest.find("__key__");
                let d = rest.find("__data__");
                let (at, part, skip) = match (k, d) {
                    (Some(k), Some(d)) if d < k => (d, Part::Data, 8),
                    (Some(k), _) => (k, Part::Key, 7),
                    (None, Some(d)) => (d, Part::Data, 8),
                    (None, None) => (rest.len(), Part::Lit(Vec::new()), 0),
                };
                if at > 0 {
                    parts.push(Part::Lit(rest.as_bytes()[..at].to_vec()));
                }
                if skip > 0 {
                    parts.push(part);
                }
                rest = &rest[at + skip..];
            }
            args.push(parts);
        }
        let Some(first) = args.first() else {
            bail!("empty --command");
        };
        let name = match first.as_slice() {
            [Part::Lit(b)] => String::from_utf8_lossy(b).to_ascii_uppercase(),
            _ => "COMMAND".into(),
        };
        Ok(Template { name, args })
    }

    fn encode(&self, out: &mut Vec<u8>, key: &[u8], data: &[u8]) {
        resp::write_array_header(out, self.args.len());
        for arg in &self.args {
            let len: usize = arg
                .iter()
                .map(|p| match p {
                    Part::Lit(b) => b.len(),
                    Part::Key => key.len(),
                    Part::Data => data.len(),
                })
                .sum();
            resp::write_bulk_header(out, len);
            for p in arg {
                out.extend_from_slice(match p {
                    Part::Lit(b) => b,
                    Part::Key => key,
                    Part::Data => data,
                });
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(mix: Mix, multiget: usize, protocol: Protocol) -> Arc<Workload> {
        Arc::new(Workload {
            protocol,
            mix,
            keys: KeyDist::Sequential { n: 100 },
            sizes: DataSize::Fixed(3),
            pattern: DataSize::Fixed(3).pattern(),
            prefix: b"k:".to_vec(),
            multiget,
            seed: 1,
        })
    }

    #[test]
    fn ratio_interleaves_gets_and_sets() {
        let mut g = Gen::new(
            workload(Mix::Ratio { get: 2, set: 1 }, 1, Protocol::Resp),
            0,
            1,
        );
        let mut out = Vec::new();
        let cmds: Vec<u8> = (0..6).map(|_| g.next(&mut out).unwrap().cmd).collect();
        assert_eq!(cmds, [CMD_GET, CMD_GET, CMD_SET, CMD_GET, CMD_GET, CMD_SET]);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("*2\r\n$3\r\nGET\r\n$14\r\nk:000000000000\r\n"));
        assert!(text.contains("*3\r\n$3\r\nSET\r\n$14\r\nk:000000000002\r\n$3\r\nabc\r\n"));
    }

    #[test]
    fn multiget_and_memcache_encoding() {
        let mut g = Gen::new(
            workload(Mix::Ratio { get: 1, set: 0 }, 3, Protocol::Memcache),
            0,
            1,
        );
        let mut out = Vec::new();
        let r = g.next(&mut out).unwrap();
        assert_eq!(r.acct, Acct::Keys(3));
        assert_eq!(out, b"get k:000000000000 k:000000000001 k:000000000002\r\n");
    }

    #[test]
    fn fill_covers_each_connections_range_once() {
        let w = workload(Mix::Fill, 1, Protocol::Resp);
        let mut seen = 0;
        for conn in 0..3 {
            let mut g = Gen::new(w.clone(), conn, 3);
            let mut out = Vec::new();
            while g.next(&mut out).is_some() {
                seen += 1;
            }
        }
        assert_eq!(seen, 100);
    }

    #[test]
    fn trace_replays_lines_and_sets_after_a_miss() {
        let t = Trace::parse(b"10\r\n*\r\n\r\n20\n30", false);
        assert_eq!(t.len(), 3);
        let mut g = Gen::new(workload(Mix::Trace(t), 1, Protocol::Resp), 0, 1);
        let mut out = Vec::new();
        let r = g.next(&mut out).unwrap();
        assert_eq!((r.cmd, r.trace), (CMD_GET, 0));
        g.on_miss(r.trace);
        let s = g.next(&mut out).unwrap();
        assert_eq!(s.cmd, CMD_SET);
        assert_eq!(g.next(&mut out).unwrap().trace, 1);
        assert_eq!(g.next(&mut out).unwrap().trace, 2);
        assert!(g.next(&mut out).is_none());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("$4\r\nk:10\r\n$3\r\nabc"), "{text}");
        assert!(text.contains("$4\r\nk:30\r\n"), "{text}");
    }

    #[test]
    fn command_templates_substitute_placeholders() {
        let t = Template::parse("set __key__ pre__data__post").unwrap();
        assert_eq!(t.name, "SET");
        let mut out = Vec::new();
        t.encode(&mut out, b"K", b"vv");
        assert_eq!(out, b"*3\r\n$3\r\nset\r\n$1\r\nK\r\n$9\r\nprevvpost\r\n");
        assert!(Template::parse("   ").is_err());
    }
}

//! [`Pair`]: one connection to Larder and one to Redis, driven in lockstep,
//! for differential tests that need several connections (pub/sub, tracking).

use std::time::Duration;

use super::{
    aggregate_elements, compare_replies, esc, fmt_cmd, reply_len, Cmp, DiffSession, RawClient,
};

/// One connection to each server, driven in lockstep.
pub struct Pair {
    pub larder: RawClient,
    pub redis: RawClient,
    pub name: &'static str,
}

impl Pair {
    pub fn new(s: &DiffSession, name: &'static str) -> Pair {
        let (larder, redis) = s.new_clients();
        Pair {
            larder,
            redis,
            name,
        }
    }

    pub fn check(&self, what: &str, mode: Cmp, l: &[u8], r: &[u8]) {
        if let Err(why) = compare_replies(mode, l, r) {
            panic!(
                "\nDIFF MISMATCH ({why}) on {}\n  {what}\n  larder : {}\n  redis  : {}\n",
                self.name,
                esc(l),
                esc(r)
            );
        }
    }

    pub fn send(&mut self, cmd: &[&str]) {
        self.larder.send_str(cmd);
        self.redis.send_str(cmd);
    }

    /// Reads one reply (or push) from each side and compares them.
    pub fn read_with(&mut self, what: &str, mode: Cmp) -> Vec<u8> {
        let l = self.larder.read_reply();
        let r = self.redis.read_reply();
        self.check(what, mode, &l, &r);
        r
    }

    /// Sends a command and compares its reply.
    pub fn case(&mut self, cmd: &[&str]) -> Vec<u8> {
        self.case_with(cmd, Cmp::Exact)
    }

    pub fn case_with(&mut self, cmd: &[&str], mode: Cmp) -> Vec<u8> {
        self.send(cmd);
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        self.read_with(&fmt_cmd(&args), mode)
    }

    /// Sends a command that answers with `n` replies (one per channel).
    pub fn case_n(&mut self, cmd: &[&str], n: usize) {
        self.send(cmd);
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        for i in 0..n {
            self.read_with(&format!("{} (reply {i})", fmt_cmd(&args)), Cmp::Exact);
        }
    }

    /// Reads `n` pushes from each side and compares them.
    pub fn pushes(&mut self, n: usize, what: &str) {
        for i in 0..n {
            self.read_with(&format!("{what} (push {i})"), Cmp::Exact);
        }
    }

    /// Compares two streams of pushes; on a difference shows the first
    /// differing push with its neighbours.
    pub fn check_stream(&self, what: &str, l: &[u8], r: &[u8]) {
        let split = |mut b: &[u8]| {
            let mut out = Vec::new();
            while let Ok(Some(n)) = reply_len(b) {
                let elems = aggregate_elements(&b[..n]).unwrap_or_default();
                let tail: Vec<String> = elems.iter().skip(2).map(|e| esc(e)).collect();
                out.push(tail.join(" "));
                b = &b[n..];
            }
            out
        };
        let (a, b) = (split(l), split(r));
        if a != b {
            let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let from = i.saturating_sub(3);
            panic!(
                "\nDIFF MISMATCH on {}: {what}, push #{i}\n  larder: {:#?}\n  redis : {:#?}\n",
                self.name,
                &a[from..(i + 3).min(a.len())],
                &b[from..(i + 3).min(b.len())]
            );
        }
        self.check(what, Cmp::Exact, l, r);
    }

    /// Nothing more arrives on either side within `wait`.
    pub fn quiet(&mut self, wait: Duration) {
        let l = self.larder.read_reply_timeout(wait);
        let r = self.redis.read_reply_timeout(wait);
        assert!(
            l.is_none() && r.is_none(),
            "{}: unexpected extra data: larder {:?} redis {:?}",
            self.name,
            l.map(|b| esc(&b)),
            r.map(|b| esc(&b))
        );
    }
}

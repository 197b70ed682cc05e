//! The binary protocol's commands: each runs through the same [`Session`]
//! operations as its text twin (fetch, store, delete, arith, flush, stats),
//! so items, the CAS counter, flags, exptimes and counters are shared;
//! only the replies differ. Frames are parsed by
//! `larder_memcache::binary`; see there for the format.
//!
//! memcached 1.6.18's replies: a hit carries the item's CAS and 4 bytes of
//! flags as extras (GetK/GATK the key too, Touch no value); a store or an
//! incr/decr the new CAS; errors a status and its text with CAS 0. A quiet
//! opcode answers only errors — and its gets not even a miss. What
//! memcached counts differently from the text protocol is counted so here
//! too: a refused store (too large, out of memory) counts neither `cmd_set`
//! nor `store_too_large` / `store_no_memory`; an incr/decr that creates its
//! item is no miss.
//!
//! Costs are the text path's: one hash and one shard lock per key, replies
//! encoded straight into the connection's output buffer, one write per
//! batch of pipelined requests (`conn.rs`). Stat renders the text list into
//! a scratch buffer and re-frames it (rare, and no hot path).
//!
//! Authentication (a server with a password): SASL `PLAIN` only; until it
//! succeeds, anything but the SASL opcodes and Version is answered "Auth
//! failure." and the connection closed, as memcached with `-S`.
//!
//! Stat replies are the text protocol's stat lists (`stats.rs`), one packet
//! per `STAT` line and an empty one for `END`. memcached's binary Stat
//! knows fewer groups than its text `stats` (no `conns`, `cachedump`,
//! `extstore`: "Not found") and matches `reset`, `settings` and `detail`
//! as prefixes of the key.

use std::sync::atomic::Ordering::Relaxed;

use larder_memcache::binary::{self as bin, op, status, Cmd, Request};
use larder_memcache::{StoreOp, Tokens};

use super::exec::{Arith, ArithOpts, Deleted, Flow, Outcome, Session, StoreOpts};

impl Session<'_> {
    /// Runs one binary request, writing its reply to `out`.
    pub fn run_binary(&mut self, req: Request<'_>, out: &mut Vec<u8>) -> Flow {
        let (opcode, opaque) = (req.opcode, req.opaque);
        // An error reply (memcached sends it at once: `Flow::Sent`).
        let error = |out: &mut Vec<u8>, s: u16| {
            bin::error(out, opcode, opaque, s, bin::status_text(s));
            Flow::Sent
        };
        // A loud command's empty success reply.
        let ok = |out: &mut Vec<u8>, cas: u64| {
            if !req.quiet {
                bin::header(out, opcode, status::SUCCESS, 0, 0, 0, opaque, cas);
            }
            Flow::Next
        };
        if !self.authenticated {
            match req.cmd {
                Cmd::SaslList | Cmd::Sasl { .. } | Cmd::Version => {}
                // memcached's `authenticated()` gate: refuse, then close.
                _ => {
                    error(out, status::AUTH_ERROR);
                    return Flow::Close;
                }
            }
        }
        match req.cmd {
            // Without a password to check, memcached without SASL.
            Cmd::SaslList | Cmd::Sasl { .. } if !self.shared.acl.auth_required() => {
                error(out, status::UNKNOWN_COMMAND)
            }
            Cmd::SaslList => {
                bin::header(out, opcode, 0, 0, 0, 5, opaque, 0);
                out.extend_from_slice(b"PLAIN");
                Flow::Next
            }
            Cmd::Sasl { step, mech, data } => {
                let creds = (!step && mech == b"PLAIN")
                    .then(|| larder_memcache::auth::sasl_plain(data))
                    .flatten();
                match creds {
                    Some((user, pass)) if self.login(user, pass) => {
                        let text = b"Authenticated";
                        bin::header(out, opcode, 0, 0, 0, text.len() as u32, opaque, 0);
                        out.extend_from_slice(text);
                        Flow::Next
                    }
                    Some(_) => error(out, status::AUTH_ERROR),
                    None => {
                        self.local.auth_cmds += 1;
                        self.local.auth_errors += 1;
                        error(out, status::AUTH_ERROR)
                    }
                }
            }
            Cmd::Get {
                key,
                with_key,
                touch,
                value,
            } => {
                let touch = touch.map(|e| self.exp(e));
                let hit = self.fetch(key, true, touch, |flags, data, cas| {
                    let k = if with_key { key } else { &[] };
                    let v = if value { data } else { &[] };
                    let body = (4 + k.len() + v.len()) as u32;
                    let cas = cas.unwrap_or(0);
                    bin::header(out, opcode, 0, 4, k.len() as u16, body, opaque, cas);
                    out.extend_from_slice(&flags.to_be_bytes());
                    out.extend_from_slice(k);
                    out.extend_from_slice(v);
                });
                if hit || req.quiet {
                    Flow::Next
                } else if with_key {
                    let n = key.len() as u16;
                    bin::header(out, opcode, status::KEY_ENOENT, 0, n, n.into(), opaque, 0);
                    out.extend_from_slice(key);
                    Flow::Next
                } else {
                    error(out, status::KEY_ENOENT)
                }
            }
            Cmd::Store {
                op,
                key,
                flags,
                exptime,
                data,
            } => {
                self.detail(key, super::detail::Op::Set);
                // A CAS makes set/add/replace a compare-and-swap; append
                // and prepend compare it too.
                let op = match op {
                    StoreOp::Set | StoreOp::Add | StoreOp::Replace if req.cas != 0 => StoreOp::Cas,
                    op => op,
                };
                let opts = StoreOpts::compare(req.cas);
                let exp = self.exp(exptime);
                let r = self.store(key, op, flags, exp, data, opts);
                self.watch_store(key, op, &r, exp, data.len());
                match r {
                    Outcome::Stored(cas) => {
                        self.local.cmd_set += 1;
                        ok(out, cas)
                    }
                    Outcome::NoMemory => {
                        // (memcached drops a set's old item, CAS or not.)
                        if op == StoreOp::Cas && matches!(opcode, op::SET | op::SETQ) {
                            self.unlink(key);
                        }
                        // (memcached refuses before the value and skips
                        // it: the reply is not sent at once.)
                        let text = "Out of memory allocating item";
                        bin::error(out, opcode, opaque, status::ENOMEM, text);
                        Flow::Next
                    }
                    r => {
                        self.local.cmd_set += 1;
                        let s = match r {
                            Outcome::Exists => status::KEY_EEXISTS,
                            Outcome::NotFound => status::KEY_ENOENT,
                            _ if op == StoreOp::Add => status::KEY_EEXISTS,
                            _ if op == StoreOp::Replace => status::KEY_ENOENT,
                            _ => status::NOT_STORED,
                        };
                        error(out, s)
                    }
                }
            }
            Cmd::Delete { key } => match self.delete(key, req.cas) {
                Deleted::Yes => ok(out, 0),
                Deleted::NotFound => error(out, status::KEY_ENOENT),
                Deleted::Exists => error(out, status::KEY_EEXISTS),
            },
            Cmd::Arith {
                incr,
                key,
                delta,
                initial,
                exptime,
            } => {
                let opts = ArithOpts {
                    cas: req.cas,
                    vivify: (exptime != u32::MAX).then(|| (initial, self.exp(exptime))),
                    ttl: None,
                };
                match self.arith(key, incr, delta, opts) {
                    Arith::Value(v, cas, ..) => {
                        if !req.quiet {
                            bin::header(out, opcode, 0, 0, 0, 8, opaque, cas);
                            out.extend_from_slice(&v.to_be_bytes());
                        }
                        Flow::Next
                    }
                    Arith::NotFound => error(out, status::KEY_ENOENT),
                    Arith::NonNumeric => error(out, status::DELTA_BADVAL),
                    Arith::Exists => error(out, status::KEY_EEXISTS),
                }
            }
            Cmd::Quit => {
                ok(out, 0);
                Flow::Close
            }
            Cmd::Flush { delay } => match self.flush_all(delay.into()) {
                true => ok(out, 0),
                // (memcached's answer to a disabled flush.)
                false => error(out, status::AUTH_ERROR),
            },
            Cmd::Noop => {
                // memcached sends what it has at a Noop.
                bin::header(out, opcode, 0, 0, 0, 0, opaque, 0);
                Flow::Sent
            }
            Cmd::Version => {
                let v = larder_memcache::MEMCACHED_COMPAT_VERSION.as_bytes();
                bin::header(out, opcode, 0, 0, 0, v.len() as u32, opaque, 0);
                out.extend_from_slice(v);
                Flow::Next
            }
            Cmd::Stat { group } => self.binary_stats(group, opaque, out),
            Cmd::TooLarge {
                key,
                unlink,
                swallow,
            } => {
                self.detail(key, super::detail::Op::Set);
                if unlink {
                    self.unlink(key);
                }
                // (Not sent at once: memcached goes on to skip the value.)
                error(out, status::E2BIG);
                Flow::Swallow(swallow)
            }
            Cmd::Error {
                status,
                swallow,
                close,
            } => {
                let sent = error(out, status);
                if close {
                    Flow::Close
                } else if swallow > 0 {
                    Flow::Swallow(swallow)
                } else {
                    sent
                }
            }
        }
    }

    /// Stat: the text protocol's stat lists as Stat packets, for the
    /// groups memcached's binary protocol knows.
    fn binary_stats(&mut self, group: &[u8], opaque: u32, out: &mut Vec<u8>) -> Flow {
        let mut text = Vec::new();
        let words: &[u8] = if group.is_empty() {
            b"stats"
        } else if group.starts_with(b"reset") {
            b"stats reset"
        } else if group.starts_with(b"settings") {
            b"stats settings"
        } else if let Some(sub) = group.strip_prefix(b"detail") {
            if sub.starts_with(b" dump") {
                self.shared.memcache.detail.dump(&mut text);
                bin::stat(out, opaque, b"detailed", &text);
            } else if sub.starts_with(b" on") || sub.starts_with(b" off") {
                let on = sub.starts_with(b" on");
                self.shared.memcache.detail_on.store(on, Relaxed);
                self.refresh_detail();
            } else {
                bin::error(out, op::STAT, opaque, status::KEY_ENOENT, "Not found");
                return Flow::Sent;
            }
            bin::stat(out, opaque, b"", b"");
            return Flow::Next;
        } else {
            match group {
                b"items" => b"stats items",
                b"slabs" => b"stats slabs",
                b"sizes" => b"stats sizes",
                b"sizes_enable" => b"stats sizes_enable",
                b"sizes_disable" => b"stats sizes_disable",
                _ => {
                    bin::error(out, op::STAT, opaque, status::KEY_ENOENT, "Not found");
                    return Flow::Sent;
                }
            }
        };
        super::stats::stats(self.shared, &Tokens::split(words), &mut text);
        if words == b"stats reset" {
            // (`RESET` in text; the terminating packet here.)
            text.clear();
            text.extend_from_slice(b"END\r\n");
        }
        bin::stats(out, opaque, &text);
        Flow::Next
    }
}

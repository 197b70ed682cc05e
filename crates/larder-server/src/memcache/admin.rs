//! memcached's administrative commands: `lru_crawler`, `slabs`, `lru`,
//! `watch`, and the item dumps (`lru_crawler metadump`, `stats cachedump`,
//! `stats sizes`).
//!
//! Larder has no slab allocator, LRU segments or crawler thread: its
//! memcached items are database 0's strings, reported as one slab class
//! (`1`). These commands validate their arguments and answer exactly as
//! memcached 1.6.18 does, and keep the settings they set (shown by
//! `stats settings`); the settings change nothing else. `lru_crawler crawl`
//! answers `OK` (Larder's active expiry reclaims expired keys anyway).
//! `slabs reassign` between valid classes answers `NOSPARE` (there is
//! never a spare page to move).
//!
//! The dumps walk database 0 with the engine's SCAN (one shard locked at a
//! time), skipping expired items and other types: O(items), for debugging
//! tools such as `memcached-tool dump`.

use larder_engine::{EntryRef, McMeta, StrRef};
use larder_memcache::reply::line;
use larder_memcache::{num, Tokens};
use parking_lot::Mutex;

use super::exec::Flow;
use super::watch;
use crate::shared::Shared;

/// memcached's MAX_NUMBER_OF_SLAB_CLASSES.
const MAX_CLASSES: u32 = 64;
/// `stats cachedump`'s reply bound (memcached's 2 MB).
const CACHEDUMP_MAX: usize = 2 << 20;

/// Settings these commands set, with memcached's defaults.
pub struct Tunables {
    pub crawler: bool,
    pub crawler_sleep: u32,
    pub crawler_tocrawl: u32,
    pub crawler_starts: u64,
    pub slab_automove: u32,
    pub automove_ratio: f64,
    pub hot_lru_pct: u32,
    pub warm_lru_pct: u32,
    pub hot_max_factor: f64,
    pub warm_max_factor: f64,
    pub lru_segmented: bool,
    pub temp_lru: bool,
    pub temporary_ttl: i32,
    pub verbosity: u32,
    /// `stats sizes_enable`: items with a CAS from this one on are counted.
    pub sizes_from_cas: Option<u64>,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            crawler: true,
            crawler_sleep: 100,
            crawler_tocrawl: 0,
            crawler_starts: 0,
            slab_automove: 1,
            automove_ratio: 0.8,
            hot_lru_pct: 20,
            warm_lru_pct: 40,
            hot_max_factor: 0.2,
            warm_max_factor: 2.0,
            lru_segmented: true,
            temp_lru: false,
            temporary_ttl: 61,
            verbosity: 0,
            sizes_from_cas: None,
        }
    }
}

/// memcached's `safe_strtod`: a whole-token float.
fn strtod(tok: &[u8]) -> Option<f64> {
    std::str::from_utf8(tok).ok()?.trim_start().parse().ok()
}

/// Runs `lru_crawler`, `slabs`, `lru` or `watch`. `out` holds the replies
/// of earlier pipelined requests not sent yet: memcached refuses `watch`
/// and `metadump` after those.
pub fn run(shared: &Shared, t: &Tokens<'_>, out: &mut Vec<u8>) -> Flow {
    let tun = &shared.memcache.tunables;
    let n = t.len();
    match t.get(0) {
        b"lru_crawler" => return lru_crawler(shared, t, out),
        b"slabs" => {
            if n == 4 && t.get(1) == b"reassign" {
                let (Some(src), Some(dst)) = (num::strtol32(t.get(2)), num::strtol32(t.get(3)))
                else {
                    line(out, b"CLIENT_ERROR bad command line format");
                    return Flow::Next;
                };
                // Classes 0 (the global page pool) and 1 exist; none has a
                // spare page (so `-1`, "any source", finds none either).
                let valid = |c: i32| (0..=1).contains(&c);
                line(
                    out,
                    if src == dst {
                        b"SAME src and dst class are identical"
                    } else if !valid(src) || !valid(dst) {
                        b"BADCLASS invalid src or dst class id"
                    } else {
                        b"NOSPARE source class has no spare pages"
                    },
                );
            } else if n >= 3 && t.get(1) == b"automove" {
                let noreply = t.noreply();
                let reply: &[u8] = if t.get(2) == b"ratio" {
                    match strtod(t.get(3)).filter(|_| n >= 4) {
                        Some(r) => {
                            tun.lock().automove_ratio = r;
                            b"OK"
                        }
                        None => b"ERROR",
                    }
                } else {
                    match num::strtoflags(t.get(2)) {
                        None => b"CLIENT_ERROR bad command line format",
                        Some(l) if l <= 2 => {
                            tun.lock().slab_automove = l;
                            b"OK"
                        }
                        Some(_) => b"ERROR",
                    }
                };
                if !noreply {
                    line(out, reply);
                }
            } else {
                line(out, b"ERROR");
            }
        }
        b"lru" => {
            let noreply = t.noreply();
            let reply = if n < 2 {
                b"ERROR".as_slice()
            } else {
                lru(tun, t)
            };
            if !noreply {
                line(out, reply);
            }
        }
        _ => {
            // watch
            let noreply = t.noreply();
            let words = &t.as_slice()[1..n - usize::from(noreply && n > 1)];
            if shared.config.read().memcache_disable_watch {
                line(out, b"CLIENT_ERROR watch commands not allowed");
                return Flow::Next;
            }
            if !out.is_empty() {
                line(out, b"ERROR cannot pipeline other commands before watch");
                return Flow::Next;
            }
            match watch::parse_kinds(words) {
                Some(kinds) => {
                    line(out, b"OK");
                    return Flow::Watch(kinds);
                }
                None => line(out, b"ERROR"),
            }
        }
    }
    Flow::Next
}

fn lru(tun: &Mutex<Tunables>, t: &Tokens<'_>) -> &'static [u8] {
    let n = t.len();
    match t.get(1) {
        b"tune" if n >= 6 => {
            let (Some(hot), Some(warm), Some(hf), Some(f)) = (
                num::strtoflags(t.get(2)),
                num::strtoflags(t.get(3)),
                strtod(t.get(4)),
                strtod(t.get(5)),
            ) else {
                return b"ERROR";
            };
            if u64::from(hot) + u64::from(warm) > 80 {
                b"ERROR hot and warm pcts must not exceed 80"
            } else if f <= 0.0 || hf <= 0.0 {
                b"ERROR hot/warm age factors must be greater than 0"
            } else {
                let mut s = tun.lock();
                s.hot_lru_pct = hot;
                s.warm_lru_pct = warm;
                s.hot_max_factor = hf;
                s.warm_max_factor = f;
                b"OK"
            }
        }
        b"mode" if n >= 3 => match t.get(2) {
            b"flat" => {
                tun.lock().lru_segmented = false;
                b"OK"
            }
            b"segmented" => {
                tun.lock().lru_segmented = true;
                b"OK"
            }
            _ => b"ERROR",
        },
        b"temp_ttl" if n >= 3 => match num::strtol32(t.get(2)) {
            None => b"ERROR",
            Some(ttl) => {
                let mut s = tun.lock();
                s.temp_lru = ttl >= 0;
                if ttl >= 0 {
                    s.temporary_ttl = ttl;
                }
                b"OK"
            }
        },
        _ => b"ERROR",
    }
}

fn lru_crawler(shared: &Shared, t: &Tokens<'_>, out: &mut Vec<u8>) -> Flow {
    let tun = &shared.memcache.tunables;
    let n = t.len();
    let sub = t.get(1);
    match (n, sub) {
        (3, b"crawl") | (3, b"metadump") => {
            if !tun.lock().crawler {
                line(out, b"CLIENT_ERROR lru crawler disabled");
                return Flow::Next;
            }
            let metadump = sub == b"metadump";
            if metadump && !out.is_empty() {
                line(out, b"ERROR cannot pipeline other commands before metadump");
                return Flow::Next;
            }
            let Some(class1) = crawl_classes(t.get(2)) else {
                line(out, b"BADCLASS invalid class id");
                return Flow::Next;
            };
            if !metadump && t.get(2) == b"hash" {
                // memcached's crawler walks the hash table for dumps only.
                line(out, b"ERROR an unknown error happened");
                return Flow::Next;
            }
            tun.lock().crawler_starts += 1;
            if metadump {
                if class1 {
                    metadump_items(shared, out);
                }
                line(out, b"END");
            } else {
                line(out, b"OK");
            }
        }
        (3, b"tocrawl") => match num::strtoflags(t.get(2)) {
            None => line(out, b"CLIENT_ERROR bad command line format"),
            Some(v) => {
                tun.lock().crawler_tocrawl = v;
                line(out, b"OK");
            }
        },
        (3, b"sleep") => match num::strtoflags(t.get(2)) {
            None => line(out, b"CLIENT_ERROR bad command line format"),
            Some(v) if v > 1_000_000 => line(out, b"CLIENT_ERROR sleep must be one second or less"),
            Some(v) => {
                tun.lock().crawler_sleep = v;
                line(out, b"OK");
            }
        },
        (2, b"enable") => {
            let mut s = tun.lock();
            if s.crawler {
                line(out, b"ERROR failed to start lru crawler thread");
            } else {
                s.crawler = true;
                line(out, b"OK");
            }
        }
        (2, b"disable") => {
            tun.lock().crawler = false;
            line(out, b"OK");
        }
        _ => line(out, b"ERROR"),
    }
    Flow::Next
}

/// The classes of `crawl`/`metadump`: `all`, `hash`, or a comma list of
/// ids in 1..63. Some(whether class 1, the only one with items, is in), or
/// None for a bad id.
fn crawl_classes(arg: &[u8]) -> Option<bool> {
    if arg == b"all" || arg == b"hash" {
        return Some(true);
    }
    let mut class1 = false;
    for p in arg.split(|&b| b == b',').filter(|p| !p.is_empty()) {
        let id = num::strtoflags(p).filter(|&id| (1..MAX_CLASSES).contains(&id))?;
        class1 |= id == 1;
    }
    Some(class1)
}

/// A live memcached item of database 0, as the dumps see it.
struct Item<'a> {
    key: &'a [u8],
    vlen: usize,
    /// Unix seconds; 0 = never.
    exp_secs: u64,
    mc: Option<McMeta>,
}

impl Item<'_> {
    fn ntotal(&self) -> usize {
        larder_memcache::item_total(self.key.len(), self.mc.map_or(0, |m| m.flags), self.vlen)
    }
}

/// Visits database 0's live strings until `visit` returns false.
fn for_each_item(shared: &Shared, mut visit: impl FnMut(&Item<'_>) -> bool) {
    let now = larder_engine::access::now_ms();
    let mut cursor = 0;
    let mut go = true;
    loop {
        cursor = shared.engine.scan(0, cursor, 1000, |e: EntryRef<'_>| {
            if !go || e.object().is_some() || (e.expire_at() != 0 && e.expire_at() <= now) {
                return;
            }
            let vlen = match e.value() {
                StrRef::Int(i) => itoa::Buffer::new().format(i).len(),
                StrRef::Bytes(b) => b.len(),
            };
            go = visit(&Item {
                key: e.key(),
                vlen,
                exp_secs: e.expire_at() / 1000,
                mc: e.mc(),
            });
        });
        if cursor == 0 || !go {
            break;
        }
    }
}

/// `lru_crawler metadump`'s lines (memcached ends them in `\n` alone).
fn metadump_items(shared: &Shared, out: &mut Vec<u8>) {
    use std::io::Write;
    let now_secs = larder_engine::access::now_ms() / 1000;
    let mut key = String::new();
    for_each_item(shared, |it| {
        key.clear();
        watch::uriencode(it.key, &mut key);
        let exp = if it.exp_secs == 0 {
            -1
        } else {
            it.exp_secs as i64
        };
        let (la, cas, fetched) = match it.mc {
            Some(m) => (u64::from(m.atime), m.cas, m.bits & McMeta::FETCHED != 0),
            None => (now_secs, 0, false),
        };
        let _ = writeln!(
            out,
            "key={key} exp={exp} la={la} cas={cas} fetch={} cls=1 size={}",
            if fetched { "yes" } else { "no" },
            it.ntotal()
        );
        true
    });
}

/// `stats cachedump <class> <limit>`.
pub fn cachedump(shared: &Shared, t: &Tokens<'_>, out: &mut Vec<u8>) {
    use std::io::Write;
    if t.len() < 4 {
        line(out, b"CLIENT_ERROR bad command line");
        return;
    }
    let (Some(id), Some(limit)) = (num::strtoflags(t.get(2)), num::strtoflags(t.get(3))) else {
        line(out, b"CLIENT_ERROR bad command line format");
        return;
    };
    if id >= MAX_CLASSES {
        line(out, b"CLIENT_ERROR Illegal slab id");
        return;
    }
    if id == 1 {
        let start = out.len();
        let mut shown = 0u32;
        for_each_item(shared, |it| {
            if it.mc.is_some_and(|m| m.bits & McMeta::BINARY_KEY != 0) {
                return true;
            }
            let before = out.len();
            out.extend_from_slice(b"ITEM ");
            out.extend_from_slice(it.key);
            let _ = write!(out, " [{} b; {} s]\r\n", it.vlen, it.exp_secs);
            if out.len() - start + 6 > CACHEDUMP_MAX {
                out.truncate(before);
                return false;
            }
            shown += 1;
            limit == 0 || shown < limit
        });
    }
    line(out, b"END");
}

/// `stats sizes`: items stored since `sizes_enable`, by 32-byte size.
pub fn sizes(shared: &Shared, out: &mut Vec<u8>) {
    use larder_memcache::reply::stat;
    let Some(from) = shared.memcache.tunables.lock().sizes_from_cas else {
        stat(out, "sizes_status", "disabled");
        line(out, b"END");
        return;
    };
    let buckets = shared
        .memcache
        .item_max
        .load(std::sync::atomic::Ordering::Relaxed) as usize
        / 32
        + 1;
    let mut hist = std::collections::BTreeMap::<usize, u64>::new();
    for_each_item(shared, |it| {
        if it.mc.is_some_and(|m| m.cas >= from) {
            let b = it.ntotal().div_ceil(32);
            if b < buckets {
                *hist.entry(b).or_default() += 1;
            }
        }
        true
    });
    for (b, n) in hist {
        stat(out, &(b * 32).to_string(), n);
    }
    line(out, b"END");
}

/// `stats sizes_enable` / `stats sizes_disable` (memcached sends no END).
pub fn sizes_switch(shared: &Shared, enable: bool, out: &mut Vec<u8>) {
    let mut tun = shared.memcache.tunables.lock();
    if enable {
        if tun.sizes_from_cas.is_none() {
            tun.sizes_from_cas = Some(shared.engine.next_mc_cas());
        }
        line(out, b"STAT sizes_status enabled");
    } else {
        tun.sizes_from_cas = None;
        line(out, b"STAT sizes_status disabled");
    }
}

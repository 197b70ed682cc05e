//! `watch`: memcached's log stream. A connection that sends `watch [kinds]`
//! gets `OK`, then one line per event of those kinds until it closes;
//! anything else it sends is ignored, as in memcached.
//!
//! Events, in memcached 1.6.18's text: `fetchers` (the default) —
//! `type=item_get` for every key a `get`-family, meta, store, `delete`,
//! `incr`/`decr` or `touch` command looks up; `mutations` — `type=item_store`
//! for every text or meta store; `connevents` — `type=conn_new` /
//! `type=conn_close`; `evictions` — `type=eviction` for every key of
//! database 0 the engine evicts (its eviction hook, `memcache::install`).
//! The other kinds memcached knows (`rawcmds`, `sysevents`, `proxyreqs`,
//! `proxyevents`, `proxyuser`) are accepted and produce nothing: Larder's
//! background work happens in the engine, outside this front end. An
//! item_get's status is
//! `found` or `not_found` (memcached also says `expired` / `flushed`).
//!
//! Lines go through one broadcast channel; a watcher that falls behind by
//! more than [`BUFFERED`] lines loses the oldest and is told
//! `skipped=<n>` before its next line, as memcached's bounded log buffers
//! do. Cost: connections copy the active kinds ([`Logger::mask`]) once per
//! batch, so with no watcher an event costs one branch; with watchers, a
//! formatted line and a channel send.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use larder_engine::McMeta;

use super::conns::Addr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;

/// The event kinds, as memcached's LOG_* bits.
pub const RAWCMDS: u32 = 1;
pub const EVICTIONS: u32 = 1 << 1;
pub const FETCHERS: u32 = 1 << 2;
pub const MUTATIONS: u32 = 1 << 3;
pub const SYSEVENTS: u32 = 1 << 4;
pub const CONNEVENTS: u32 = 1 << 5;
const KINDS: [(&[u8], u32); 9] = [
    (b"rawcmds", RAWCMDS),
    (b"evictions", EVICTIONS),
    (b"fetchers", FETCHERS),
    (b"mutations", MUTATIONS),
    (b"sysevents", SYSEVENTS),
    (b"connevents", CONNEVENTS),
    (b"proxyreqs", 1 << 6),
    (b"proxyevents", 1 << 7),
    (b"proxyuser", 1 << 8),
];

/// Lines a watcher may fall behind before it skips.
const BUFFERED: usize = 8192;

/// The kinds named by `watch`'s arguments, or None for an unknown one.
pub fn parse_kinds(words: &[&[u8]]) -> Option<u32> {
    if words.is_empty() {
        return Some(FETCHERS);
    }
    let mut mask = 0;
    for w in words {
        mask |= KINDS.iter().find(|(name, _)| name == w)?.1;
    }
    Some(mask)
}

type Line = (u32, Arc<str>);

/// The log stream (`McState::logger`).
pub struct Logger {
    tx: broadcast::Sender<Line>,
    /// How many watchers want each kind (by bit).
    wanted: [AtomicU32; 9],
    /// Kinds at least one watcher wants.
    mask: AtomicU32,
    gid: AtomicU64,
    pub watchers: AtomicU64,
    pub sent: AtomicU64,
    pub skipped: AtomicU64,
}

impl Default for Logger {
    fn default() -> Self {
        Logger {
            tx: broadcast::channel(BUFFERED).0,
            wanted: Default::default(),
            mask: AtomicU32::new(0),
            gid: AtomicU64::new(0),
            watchers: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

/// memcached's `uriencode`: all but alphanumerics and `-._~` as `%XX`.
pub fn uriencode(key: &[u8], out: &mut String) {
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

impl Logger {
    /// The kinds some watcher wants.
    pub fn mask(&self) -> u32 {
        self.mask.load(Relaxed)
    }

    /// Sends one event: `ts=<sec>.<usec> gid=<n> ` then what `body` writes.
    pub fn emit(&self, kind: u32, body: impl FnOnce(&mut String)) {
        if self.mask() & kind == 0 {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let gid = self.gid.fetch_add(1, Relaxed) + 1;
        let mut s = String::with_capacity(128);
        let _ = write!(s, "ts={}.{} gid={gid} ", now.as_secs(), now.subsec_micros());
        body(&mut s);
        s.push('\n');
        let _ = self.tx.send((kind, s.into()));
    }

    /// `type=item_get`.
    pub fn item_get(&self, key: &[u8], found: Option<usize>, cfd: i32) {
        self.emit(FETCHERS, |s| {
            s.push_str("type=item_get key=");
            uriencode(key, s);
            let (status, cls, size) = match found {
                Some(n) => ("found", 1, n),
                None => ("not_found", 0, 0),
            };
            let _ = write!(s, " status={status} clsid={cls} cfd={cfd} size={size}");
        });
    }

    /// `type=item_store`; `ttl` is seconds left (0 = none).
    pub fn item_store(&self, key: &[u8], status: &str, cmd: &str, ttl: u64, cfd: i32, size: usize) {
        self.emit(MUTATIONS, |s| {
            s.push_str("type=item_store key=");
            uriencode(key, s);
            // (memcached allocated the item, so it has a class, stored or not.)
            let _ = write!(
                s,
                " status={status} cmd={cmd} ttl={ttl} clsid=1 cfd={cfd} size={size}"
            );
        });
    }

    /// `type=eviction`: whether it was read since stored, seconds of TTL
    /// left (-1: none), seconds since its last access, its value's size.
    pub fn eviction(&self, e: larder_engine::entry::EntryRef<'_>) {
        self.emit(EVICTIONS, |s| {
            s.push_str("type=eviction key=");
            uriencode(e.key(), s);
            let now = crate::shared::unix_secs();
            let mc = e.mc();
            let fetched = mc.is_some_and(|m| m.bits & McMeta::FETCHED != 0);
            let ttl = match e.expire_at() {
                0 => -1,
                at => (at / 1000) as i64 - now as i64,
            };
            let la = mc.map_or(0, |m| now.saturating_sub(u64::from(m.atime)));
            let size = if e.object().is_some() {
                0
            } else {
                e.value().len()
            };
            let fetch = if fetched { "yes" } else { "no" };
            let _ = write!(s, " fetch={fetch} ttl={ttl} la={la} clsid=1 size={size}");
        });
    }

    /// `type=conn_new` / `type=conn_close` (`reason`: Some for a close).
    pub fn conn_event(&self, peer: &Addr, cfd: i32, reason: Option<&str>) {
        self.emit(CONNEVENTS, |s| {
            let kind = if reason.is_some() { "close" } else { "new" };
            let _ = match peer {
                Addr::Ip(a) | Addr::Udp(a) => write!(
                    s,
                    "type=conn_{kind} rip={} rport={} transport={}",
                    a.ip(),
                    a.port(),
                    if matches!(peer, Addr::Udp(_)) {
                        "udp"
                    } else {
                        "tcp"
                    }
                ),
                Addr::Unix(_) => write!(s, "type=conn_{kind} rip=unix rport=0 transport=local"),
            };
            if let Some(r) = reason {
                let _ = write!(s, " reason={r}");
            }
            let _ = write!(s, " cfd={cfd}");
        });
    }

    fn subscribe(&self, kinds: u32) -> Watcher<'_> {
        let rx = self.tx.subscribe();
        for (i, w) in self.wanted.iter().enumerate() {
            if kinds & (1 << i) != 0 && w.fetch_add(1, Relaxed) == 0 {
                self.mask.fetch_or(1 << i, Relaxed);
            }
        }
        self.watchers.fetch_add(1, Relaxed);
        Watcher {
            logger: self,
            kinds,
            rx,
        }
    }
}

/// A subscribed watcher; dropping it unsubscribes.
struct Watcher<'a> {
    logger: &'a Logger,
    kinds: u32,
    rx: broadcast::Receiver<Line>,
}

impl Drop for Watcher<'_> {
    fn drop(&mut self) {
        for (i, w) in self.logger.wanted.iter().enumerate() {
            if self.kinds & (1 << i) != 0 && w.fetch_sub(1, Relaxed) == 1 {
                self.logger.mask.fetch_and(!(1 << i), Relaxed);
            }
        }
        self.logger.watchers.fetch_sub(1, Relaxed);
    }
}

/// Runs a watching connection: `head` (its pending replies, ending with
/// `OK`) first, then its events, until it closes or the server stops.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    logger: &Logger,
    stream: &mut S,
    kinds: u32,
    head: &[u8],
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) {
    let mut w = logger.subscribe(kinds);
    if stream.write_all(head).await.is_err() {
        return;
    }
    let mut skipped: u64 = 0;
    let mut sink = [0u8; 1024];
    loop {
        tokio::select! {
            r = w.rx.recv() => match r {
                Ok((kind, line)) => {
                    if kind & w.kinds == 0 {
                        continue;
                    }
                    if skipped > 0 {
                        let note = format!("skipped={skipped}\n");
                        skipped = 0;
                        if stream.write_all(note.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    if stream.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    logger.sent.fetch_add(1, Relaxed);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    skipped += n;
                    logger.skipped.fetch_add(n, Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            r = stream.read(&mut sink) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = shutdown.changed() => return,
        }
    }
}

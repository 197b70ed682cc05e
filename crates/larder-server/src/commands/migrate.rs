//! MIGRATE: moves keys to another Redis-protocol server, as Redis 7.0's
//! `migrateCommand` does (cluster.c), with its replies and error texts.
//!
//! ```text
//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k ...]
//! ```
//!
//! The keys present are serialized in DUMP format (with their remaining TTL)
//! under their shard locks; the locks are then let go, and one blocking
//! connection sends `[AUTH] [SELECT db] RESTORE key ttl payload [REPLACE] ...`
//! in one write and reads one reply line per command, each step bounded by
//! `timeout` ms. Keys the target acknowledged are deleted here unless COPY,
//! and propagated as one `DEL` (Redis rewrites MIGRATE into DEL). The round
//! trip blocks the connection's thread, as it blocks Redis; on a
//! multi-threaded runtime the worker's other connections move to another
//! thread meanwhile.
//!
//! Connections are cached per `host:port` as Redis does ([`Sockets`]: at
//! most 64, the least recently used dropped for a new one where Redis
//! drops a random one; closed by the cron after
//! more than 10 s unused; INFO's `migrate_cached_sockets`), with the
//! database last selected on them, so SELECT is sent only when it changes.
//! A socket error closes the cached connection and, unless it timed out or
//! a RESTORE reply was already read, the call is tried once more on a new
//! one (a cached connection the target closed is the usual cause). A call
//! using a connection takes it out of the cache meanwhile, so two clients
//! migrating to the same target at once use two connections.
//!
//! Costs: the payloads of all keys are built in memory before sending, as in
//! Redis; a reply line longer than 1 KB is cut, as Redis's 1 KB read buffer does.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use larder_engine::{dump, events};

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::cmd;
use crate::error::{CmdError, CmdResult, SYNTAX};

pub const COMMANDS: &[Command] = &[Command {
    keys: (3, 3, 1),
    ..cmd(
        "migrate",
        -6,
        WRITE,
        "keyspace write slow dangerous",
        migrate,
    )
}];

const CONNECT_ERR: CmdError = CmdError::new("IOERR error or timeout connecting to the client");
const WRITE_ERR: CmdError = CmdError::new("IOERR error or timeout writing to target instance");
const READ_ERR: CmdError = CmdError::new("IOERR error or timeout reading to target instance");

/// MIGRATE's options, in Redis's parsing order.
struct Options<'a> {
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    /// Index of the first key argument, and how many there are.
    keys: (usize, usize),
}

fn options<'a>(ctx: &Ctx<'a>) -> Result<Options<'a>, CmdError> {
    let argc = ctx.argc();
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: (3, 1),
    };
    let mut j = 6;
    while j < argc {
        let more = argc - 1 - j;
        if ctx.arg_is(j, "copy") {
            o.copy = true;
        } else if ctx.arg_is(j, "replace") {
            o.replace = true;
        } else if ctx.arg_is(j, "auth") {
            if more < 1 {
                return Err(SYNTAX);
            }
            o.auth = Some((None, ctx.arg(j + 1)));
            j += 1;
        } else if ctx.arg_is(j, "auth2") {
            if more < 2 {
                return Err(SYNTAX);
            }
            o.auth = Some((Some(ctx.arg(j + 1)), ctx.arg(j + 2)));
            j += 2;
        } else if ctx.arg_is(j, "keys") {
            if !ctx.arg(3).is_empty() {
                return Err(CmdError::new(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            o.keys = (j + 1, argc - j - 1);
            break;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

fn migrate(ctx: &mut Ctx<'_>) -> CmdResult {
    let o = options(ctx)?;
    let timeout = ctx.i64_arg(5)?;
    let db = ctx.i64_arg(4)?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

    // The keys present, each with its remaining TTL and DUMP payload.
    let (first, n) = o.keys;
    let keys: Vec<_> = (first..first + n).map(|i| ctx.key(i)).collect();
    let (compress, fill) = (
        ctx.shared.config.read().rdbcompression,
        ctx.engine().config.limits().list_max_listpack_size,
    );
    let mut found = Vec::new();
    {
        let mut txn = ctx.lock_keys(&keys);
        let now = txn.now;
        for (i, k) in keys.iter().enumerate() {
            if let Some(e) = txn.get(k) {
                let at = e.expire_at();
                let ttl = if at == 0 {
                    0
                } else {
                    at.saturating_sub(now).max(1)
                };
                let mut payload = Vec::new();
                dump::serialize(e, compress, fill, &mut payload);
                found.push((i, ttl, payload));
            }
        }
    }
    if found.is_empty() {
        ctx.out.simple(b"NOKEY");
        return Ok(());
    }

    ctx.engine().release_batch();
    let name = format!(
        "{}:{}",
        String::from_utf8_lossy(ctx.arg(1)),
        String::from_utf8_lossy(ctx.arg(2))
    );
    let restores: Vec<Vec<u8>> = found
        .iter()
        .map(|(i, ttl, payload)| {
            let ttl = ttl.to_string();
            let mut args: Vec<&[u8]> = vec![b"RESTORE", keys[*i].bytes, ttl.as_bytes(), payload];
            if o.replace {
                args.push(b"REPLACE");
            }
            let mut one = Vec::new();
            crate::propagate::encode(&mut one, args);
            one
        })
        .collect();
    let sockets = &ctx.shared.migrate;
    let trip = crate::commands::scripting::off_worker(|| {
        exchange(sockets, &name, timeout, o.auth, db, &restores)
    })?;

    // Replies: [AUTH] [SELECT], then one per RESTORE read before any socket
    // error. The first error wins; the keys whose RESTORE succeeded are
    // deleted anyway (Redis does too).
    let head = &trip.replies[..trip.head];
    let replies = &trip.replies[trip.head..];
    let head_error = head.iter().find(|l| l.first() == Some(&b'-'));
    let error = head_error.or_else(|| replies.iter().find(|l| l.first() == Some(&b'-')));
    let acked: Vec<_> = if head_error.is_some() {
        Vec::new()
    } else {
        found
            .iter()
            .zip(replies)
            .filter(|(_, r)| r.first() != Some(&b'-'))
            .map(|((i, _, _), _)| keys[*i])
            .collect()
    };
    if !o.copy && !acked.is_empty() {
        let mut txn = ctx.lock_keys(&acked);
        for k in &acked {
            if txn.remove(k).is_some() {
                ctx.notify(events::GENERIC, "del", k.bytes);
            }
        }
        ctx.propagate_as(std::iter::once(&b"DEL"[..]).chain(acked.iter().map(|k| k.bytes)));
    }
    if let Some(line) = error {
        let text = format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&line[1..])
        );
        return Err(CmdError::owned(text));
    }
    if trip.broken {
        return Err(READ_ERR);
    }
    ctx.out.ok();
    Ok(())
}

/// How long a cached connection may stay unused (Redis's
/// MIGRATE_SOCKET_CACHE_TTL: closed once more than this has passed).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Most connections cached (MIGRATE_SOCKET_CACHE_ITEMS).
const CACHE_ITEMS: usize = 64;

/// A connection to a MIGRATE target, and the database last selected on it
/// (`None`: SELECT must be sent).
struct Cached {
    stream: TcpStream,
    db: Option<i64>,
    used: Instant,
}

/// MIGRATE's connection cache, by `host:port` as the command named them.
#[derive(Default)]
pub struct Sockets {
    cached: Mutex<HashMap<String, Cached>>,
}

impl Sockets {
    /// INFO's `migrate_cached_sockets`.
    pub fn len(&self) -> usize {
        self.cached.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cron, once a second: closes the connections unused for more
    /// than [`CACHE_TTL`] (Redis's migrateCloseTimedoutSockets).
    pub fn close_idle(&self) {
        let mut m = self.cached.lock();
        if !m.is_empty() {
            m.retain(|_, c| c.used.elapsed() <= CACHE_TTL);
        }
    }

    fn take(&self, name: &str) -> Option<Cached> {
        self.cached.lock().remove(name)
    }

    /// Puts a connection (back) in the cache, dropping the least recently
    /// used other one when it is full (Redis drops a random one).
    fn keep(&self, name: &str, c: Cached) {
        let mut m = self.cached.lock();
        if m.len() >= CACHE_ITEMS && !m.contains_key(name) {
            let oldest = m.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                m.remove(&k);
            }
        }
        m.insert(name.to_string(), c);
    }
}

/// What a MIGRATE exchange read: the reply lines in order (`head` of them
/// for AUTH and SELECT), and whether a socket error cut it short after the
/// first RESTORE reply.
struct Trip {
    replies: Vec<Vec<u8>>,
    head: usize,
    broken: bool,
}

/// A socket error: which step failed, and whether it timed out (a timeout
/// is not retried).
struct SocketError {
    write: bool,
    timed_out: bool,
}

/// Sends `[AUTH] [SELECT db] restores...` to `name` over its cached
/// connection or a new one, and reads the replies; on a socket error before
/// any RESTORE reply, retries once on a new connection (not after a
/// timeout), as Redis's `try_again`.
fn exchange(
    sockets: &Sockets,
    name: &str,
    timeout: Duration,
    auth: Option<(Option<&[u8]>, &[u8])>,
    db: i64,
    restores: &[Vec<u8>],
) -> Result<Trip, CmdError> {
    let mut may_retry = true;
    loop {
        let mut conn = match sockets.take(name) {
            Some(c) => c,
            None => match connect(name, timeout) {
                Ok(stream) => Cached {
                    stream,
                    db: None,
                    used: Instant::now(),
                },
                Err(Ok(e)) => {
                    if may_retry && !e.timed_out {
                        may_retry = false;
                        continue;
                    }
                    return Err(WRITE_ERR);
                }
                Err(Err(e)) => return Err(e),
            },
        };
        conn.used = Instant::now();
        let select = conn.db != Some(db);
        let mut request = Vec::new();
        if let Some((user, pass)) = auth {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            args.extend(user);
            args.push(pass);
            crate::propagate::encode(&mut request, args);
        }
        if select {
            let db_text = db.to_string();
            crate::propagate::encode(&mut request, [&b"SELECT"[..], db_text.as_bytes()]);
        }
        for r in restores {
            request.extend_from_slice(r);
        }
        let head = usize::from(auth.is_some()) + usize::from(select);
        match round_trip(&conn.stream, &request, head + restores.len()) {
            Ok(replies) => {
                // A target's error makes the selected database unknown.
                let failed = replies.iter().any(|l| l.first() == Some(&b'-'));
                conn.db = if failed { None } else { Some(db) };
                sockets.keep(name, conn);
                return Ok(Trip {
                    replies,
                    head,
                    broken: false,
                });
            }
            // Some RESTORE replies came: no retry, the connection is closed.
            Err((replies, _)) if replies.len() > head => {
                return Ok(Trip {
                    replies,
                    head,
                    broken: true,
                });
            }
            Err((_, e)) => {
                drop(conn);
                if may_retry && !e.timed_out {
                    may_retry = false;
                    continue;
                }
                return Err(if e.write { WRITE_ERR } else { READ_ERR });
            }
        }
    }
}

/// A new connection to `name` (`host:port`), with `timeout` on each read
/// and write. Redis connects without blocking and reports a refused or
/// timed-out connection when its first write fails (`Err(Ok(..))`, a write
/// error): only an address it cannot use at all is a "connecting" error.
fn connect(name: &str, timeout: Duration) -> Result<TcpStream, Result<SocketError, CmdError>> {
    let addr = name
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Err(CONNECT_ERR))?;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        Ok(SocketError {
            write: true,
            timed_out: is_timeout(&e),
        })
    })?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|_| stream.set_read_timeout(Some(timeout)))
        .map_err(|_| Err(CONNECT_ERR))?;
    Ok(stream)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Writes `request` and reads `lines` reply lines (without CRLF), each
/// step within the stream's timeouts; on a socket error, the lines read
/// so far and the error.
#[allow(clippy::type_complexity)]
fn round_trip(
    stream: &TcpStream,
    request: &[u8],
    lines: usize,
) -> Result<Vec<Vec<u8>>, (Vec<Vec<u8>>, SocketError)> {
    let mut stream = stream;
    if let Err(e) = stream.write_all(request) {
        let e = SocketError {
            write: true,
            timed_out: is_timeout(&e),
        };
        return Err((Vec::new(), e));
    }
    // The target sends one line per command, so the reader's read-ahead
    // never takes bytes a later call on a cached connection needs.
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::with_capacity(lines);
    for _ in 0..lines {
        let mut line = Vec::new();
        // A target that never ends its line cannot make this grow past 64 KB.
        let read = (&mut reader).take(65_536).read_until(b'\n', &mut line);
        match read {
            Ok(n) if n > 0 && line.ends_with(b"\n") => {}
            Ok(_) => {
                let e = SocketError {
                    write: false,
                    timed_out: false,
                };
                return Err((replies, e));
            }
            Err(e) => {
                let e = SocketError {
                    write: false,
                    timed_out: is_timeout(&e),
                };
                return Err((replies, e));
            }
        }
        line.truncate(line.len().saturating_sub(2).min(1023));
        replies.push(line);
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(listener: &std::net::TcpListener, idle: Duration) -> Cached {
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Cached {
            stream,
            db: Some(0),
            used: Instant::now() - idle,
        }
    }

    /// Connections unused for more than 10 s are closed; a full cache
    /// makes room by dropping its least recently used one.
    #[test]
    fn idle_connections_close_and_a_full_cache_drops_the_oldest() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = Sockets::default();
        s.keep("a:1", conn(&l, Duration::from_secs(11)));
        s.keep("b:1", conn(&l, Duration::from_secs(9)));
        s.close_idle();
        assert_eq!(s.len(), 1);
        assert!(s.take("b:1").is_some());
        for i in 0..CACHE_ITEMS {
            s.keep(&format!("h{i}:1"), conn(&l, Duration::from_secs(5)));
        }
        s.keep("old:1", conn(&l, Duration::from_secs(1)));
        assert_eq!(s.len(), CACHE_ITEMS);
        assert!(s.take("old:1").is_some());
    }
}

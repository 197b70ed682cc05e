//! MIGRATE: moves keys to another Redis-protocol server, as Redis 7.0's
//! `migrateCommand` does (cluster.c), with its replies and error texts.
//!
//! ```text
//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k ...]
//! ```
//!
//! The keys present are serialized in DUMP format (with their remaining TTL)
//! under their shard locks; the locks are then let go, and one blocking
//! connection sends `[AUTH] SELECT db RESTORE key ttl payload [REPLACE] ...`
//! in one write and reads one reply line per command, each step bounded by
//! `timeout` ms. Keys the target acknowledged are deleted here unless COPY,
//! and propagated as one `DEL` (Redis rewrites MIGRATE into DEL). The round
//! trip blocks the connection's thread, as it blocks Redis; on a
//! multi-threaded runtime the worker's other connections move to another
//! thread meanwhile. Unlike Redis, no connection is cached between calls, so
//! every call sends SELECT.
//!
//! Costs: the payloads of all keys are built in memory before sending, as in
//! Redis; a reply line longer than 1 KB is cut, as Redis's 1 KB read buffer does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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

    let mut request = Vec::new();
    if let Some((user, pass)) = o.auth {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        args.extend(user);
        args.push(pass);
        crate::propagate::encode(&mut request, args);
    }
    let db_text = db.to_string();
    crate::propagate::encode(&mut request, [&b"SELECT"[..], db_text.as_bytes()]);
    for (i, ttl, payload) in &found {
        let ttl = ttl.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", keys[*i].bytes, ttl.as_bytes(), payload];
        if o.replace {
            args.push(b"REPLACE");
        }
        crate::propagate::encode(&mut request, args);
    }

    ctx.engine().release_batch();
    let host = String::from_utf8_lossy(ctx.arg(1)).into_owned();
    let port = String::from_utf8_lossy(ctx.arg(2)).into_owned();
    let lines = 1 + usize::from(o.auth.is_some()) + found.len();
    let replies = crate::commands::scripting::off_worker(|| {
        round_trip(&host, &port, timeout, &request, lines)
    })?;

    // Replies: [AUTH] SELECT, then one per RESTORE. The first error wins;
    // the keys whose RESTORE succeeded are deleted anyway (Redis does too).
    let skip = lines - found.len();
    let error = replies.iter().find(|l| l.first() == Some(&b'-'));
    let acked: Vec<_> = if replies[..skip].iter().any(|l| l.first() == Some(&b'-')) {
        Vec::new()
    } else {
        found
            .iter()
            .zip(&replies[skip..])
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
    ctx.out.ok();
    Ok(())
}

/// Connects, writes `request`, and reads `lines` reply lines (without CRLF),
/// each step within `timeout`.
fn round_trip(
    host: &str,
    port: &str,
    timeout: Duration,
    request: &[u8],
    lines: usize,
) -> Result<Vec<Vec<u8>>, CmdError> {
    let addr = format!("{host}:{port}")
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(CONNECT_ERR)?;
    // Redis connects without blocking and reports a refused or timed-out
    // connection when its first write fails: only an address it cannot
    // use at all is a "connecting" error.
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|_| WRITE_ERR)?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|_| stream.set_read_timeout(Some(timeout)))
        .map_err(|_| CONNECT_ERR)?;
    (&stream).write_all(request).map_err(|_| WRITE_ERR)?;
    let mut reader = BufReader::new(&stream);
    let mut replies = Vec::with_capacity(lines);
    for _ in 0..lines {
        let mut line = Vec::new();
        // A target that never ends its line cannot make this grow past 64 KB.
        match (&mut reader).take(65_536).read_until(b'\n', &mut line) {
            Ok(n) if n > 0 && line.ends_with(b"\n") => {}
            _ => return Err(READ_ERR),
        }
        line.truncate(line.len().saturating_sub(2).min(1023));
        replies.push(line);
    }
    Ok(replies)
}

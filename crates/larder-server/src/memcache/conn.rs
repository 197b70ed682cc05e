//! One memcached connection: read, parse, run, reply.
//!
//! As memcached's default `-B auto`: a connection whose first byte is the
//! binary protocol's request magic (0x80) speaks binary to the end
//! (`larder_memcache::binary`, run by `binary.rs`), any other text and
//! meta. `memcache-protocol ascii` or `binary` fixes the protocol instead
//! (a binary-only server closes a connection whose magic is wrong). A
//! binary frame's header, extras and key are buffered before it is decided
//! on, then its value (up to the item size limit); a refused value is
//! skipped like a refused text data block.
//!
//! Like the RESP loop: every complete request in the input buffer runs,
//! and their replies go out in one write, up to `memcache-reqs-per-event`
//! requests (memcached's `-R`): then the replies so far are sent and the
//! connection yields to the others on its thread before it goes on
//! (`conn_yields`), so a deep pipeline cannot starve them. A data block the
//! parser refused (too large, bad flags) is skipped as it arrives, without
//! buffering it (`swallow`), so the stream stays in sync and memory stays
//! bounded: the buffer holds at most one line plus one accepted data block
//! (bounded by the item size limit) plus a read's worth. The output is sent
//! whenever it passes `OUT_FLUSH`, between requests and between the keys of
//! a text get (`GetRest`), so it holds at most that plus one item.
//!
//! With an AOF, replies go out only once the writes they follow are written
//! (on disk, under `appendfsync always`; `aof_writer::settle`, as on RESP
//! connections): a batch's writes share one write and fsync, and a
//! `noreply` write holds the next reply.
//!
//! A connection that sends nothing for `timeout` seconds (memcached's
//! `idle_timeout`; 0 = never) is closed and counted in `idle_kicks`.
//!
//! The connection is registered for `stats conns` (named by its socket's
//! fd, as memcached does) and updates its state and last-command time once
//! per batch. After a `watch` it becomes a log stream (`watch::serve`).

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use larder_memcache::auth::TextAuth;
use larder_memcache::binary::{self as bin, Frame};
use larder_memcache::{Limits, Parse, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::conns::{Addr, State};
use super::exec::{Flow, GetRest, Session};
use crate::shared::{unix_secs, Shared};

const READ_CHUNK: usize = 16 * 1024;
/// Flush replies mid-batch past this size, to bound the output buffer.
pub(super) const OUT_FLUSH: usize = 1 << 20;

/// Serves a TCP client.
pub async fn serve_tcp(shared: Arc<Shared>, stream: TcpStream) {
    let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let peer = Addr::Ip(stream.peer_addr().unwrap_or(unspecified));
    let local = Addr::Ip(stream.local_addr().unwrap_or(unspecified));
    serve(shared, stream, peer, local).await
}

/// Serves a client of the unix socket at `path`.
pub async fn serve_unix(shared: Arc<Shared>, stream: UnixStream, path: String) {
    serve(shared, stream, Addr::Unix(String::new()), Addr::Unix(path)).await
}

async fn serve<S>(shared: Arc<Shared>, mut stream: S, peer: Addr, local: Addr)
where
    S: AsyncRead + AsyncWrite + AsRawFd + Unpin,
{
    let mc = &shared.memcache;
    mc.curr_connections.fetch_add(1, Relaxed);
    let fd = stream.as_raw_fd();
    let info = mc.conns.open(fd, peer.clone(), local, unix_secs() as u32);
    mc.logger.conn_event(&peer, fd, None);
    let mut shutdown = shared.shutdown.subscribe();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut session = Session::new(&shared, fd);
    let mut swallow: usize = 0;
    let mut want = READ_CHUNK;
    let mut reason = "normal";
    // Text/meta or binary, once the first byte is in (`auto`).
    let mut binary: Option<bool> = match shared.config.read().memcache_protocol.as_str() {
        "ascii" => Some(false),
        "binary" => Some(true),
        _ => None,
    };

    'conn: loop {
        if shared.stopping() {
            reason = "shutdown";
            break;
        }
        if input.capacity() - input.len() < READ_CHUNK.min(want) {
            input.reserve(want.max(READ_CHUNK));
        }
        // `timeout` is memcached's `idle_timeout` here too.
        let timeout = shared.hot.timeout_secs.load(Relaxed);
        let idle = async move {
            match timeout {
                0 => std::future::pending::<()>().await,
                t => tokio::time::sleep(std::time::Duration::from_secs(t)).await,
            }
        };
        let n = tokio::select! {
            biased;
            r = stream.read_buf(&mut input) => match r {
                Ok(0) | Err(_) => break 'conn,
                Ok(n) => n,
            },
            _ = info.events.wait() => {
                reason = "shutdown";
                break 'conn;
            }
            _ = idle => {
                reason = "idle_timeout";
                mc.counters.mine().idle_kicks.fetch_add(1, Relaxed);
                break 'conn;
            }
        };
        session.local.bytes_read += n as u64;
        info.set_state(State::ParseCmd);
        let limits = Limits {
            item_size_max: shared.memcache.item_max.load(Relaxed) as usize,
        };
        let per_event = shared.memcache.reqs_per_event.load(Relaxed);
        let mut ran = 0;
        session.begin_batch();
        info.touch(session.secs());
        let mut close = false;
        let mut watch = None;
        let mut state = State::Read;
        // Binary: how much of `out` memcached would have sent by now.
        let mut sent_mark = 0;
        loop {
            if swallow > 0 {
                let k = swallow.min(input.len());
                input.advance(k);
                swallow -= k;
                if swallow > 0 {
                    break;
                }
            }
            if binary.is_none() && !input.is_empty() {
                // memcached's `-B auto`: the first byte decides.
                binary = Some(input[0] == bin::REQ_MAGIC);
            }
            let step = step(
                &mut session,
                &input,
                binary == Some(true),
                &limits,
                &mut out,
            );
            match step {
                Step::Incomplete(need) => {
                    if need.is_some() {
                        state = State::Nread;
                    }
                    want = need.map_or(READ_CHUNK, |n| n.saturating_sub(input.len()));
                    break;
                }
                Step::Close => {
                    if binary == Some(true) {
                        // memcached drops the replies it had not sent.
                        out.truncate(sent_mark);
                    }
                    reason = "error";
                    close = true;
                    break;
                }
                Step::Ran(flow, consumed) => {
                    input.advance(consumed);
                    match flow {
                        Flow::Next => {}
                        Flow::Sent => sent_mark = out.len(),
                        Flow::Swallow(n) => swallow = n,
                        Flow::Close => {
                            close = true;
                            break;
                        }
                        Flow::Watch(kinds) => {
                            watch = Some(kinds);
                            break;
                        }
                    }
                    ran += 1;
                    let yielding = ran >= per_event && !input.is_empty() && swallow == 0;
                    if out.len() >= OUT_FLUSH || (yielding && !out.is_empty()) {
                        if send(&mut stream, &mut out, &mut session).await.is_err() {
                            break 'conn;
                        }
                        sent_mark = 0;
                    }
                    if yielding {
                        session.local.conn_yields += 1;
                        tokio::task::yield_now().await;
                        ran = 0;
                    }
                }
            }
        }
        if let Some(kinds) = watch {
            session.end_batch();
            info.set_state(State::Watch);
            super::watch::serve(&mc.logger, &mut stream, kinds, &out, &mut shutdown).await;
            break;
        }
        if !out.is_empty() && send(&mut stream, &mut out, &mut session).await.is_err() {
            break;
        }
        session.end_batch();
        info.set_state(state);
        if close {
            break;
        }
        if input.is_empty() && input.capacity() > 4 * (1 << 20) {
            input = BytesMut::with_capacity(READ_CHUNK);
        }
        if out.capacity() > 4 * OUT_FLUSH {
            out = Vec::with_capacity(READ_CHUNK);
        }
    }
    session.end_batch();
    let _ = stream.shutdown().await;
    mc.conns.close(fd);
    mc.logger.conn_event(&peer, fd, Some(reason));
    mc.curr_connections.fetch_sub(1, Relaxed);
}

/// What the parser and the executor made of the input.
pub(super) enum Step {
    /// More input is needed (the whole request's length when known).
    Incomplete(Option<usize>),
    Close,
    /// A request ran; it was this many bytes long.
    Ran(Flow, usize),
}

/// Parses and runs the first request in `input`: binary, or text and meta
/// (behind the text login when the server requires a password).
pub(super) fn step(
    session: &mut Session<'_>,
    input: &[u8],
    binary: bool,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Step {
    if binary {
        return match bin::parse(input, limits) {
            // (Reading a value, once its header is in: `conn_nread`.)
            Frame::Incomplete { need } => {
                Step::Incomplete((need > bin::HEADER_LEN).then_some(need))
            }
            Frame::Close => Step::Close,
            Frame::Request { req, consumed } => Step::Ran(session.run_binary(req, out), consumed),
        };
    }
    if !session.authenticated {
        return match larder_memcache::auth::parse_text(input) {
            TextAuth::Incomplete => Step::Incomplete(None),
            TextAuth::Close => Step::Close,
            TextAuth::Refuse { reply, consumed } => {
                out.extend_from_slice(reply);
                out.extend_from_slice(b"\r\n");
                Step::Ran(Flow::Next, consumed)
            }
            TextAuth::Credentials {
                user,
                pass,
                consumed,
            } => {
                let reply = match session.login(user, pass) {
                    true => &b"STORED"[..],
                    false => larder_memcache::auth::E_FAILURE,
                };
                out.extend_from_slice(reply);
                out.extend_from_slice(b"\r\n");
                Step::Ran(Flow::Next, consumed)
            }
        };
    }
    if let Some(rest) = session.get_rest.take() {
        return text_get(session, input, rest, out);
    }
    match larder_memcache::parse(input, limits) {
        Parse::Incomplete { need } => Step::Incomplete(need),
        Parse::Close => Step::Close,
        Parse::Request {
            req: Request::Get(g),
            consumed,
        } => {
            // (`g.keys` is a slice of `input`.)
            let start = g.keys.as_ptr() as usize - input.as_ptr() as usize;
            let rest = GetRest {
                keys: start..start + g.keys.len(),
                with_cas: g.with_cas,
                touch: g.touch.map(|e| session.exp(e)),
                consumed,
            };
            text_get(session, input, rest, out)
        }
        Parse::Request { req, consumed } => Step::Ran(session.run(req, out), consumed),
    }
}

/// Runs a text get's keys from `rest`. Cut short by a full output, it
/// consumes nothing and leaves the rest for the next step, which comes
/// once the replies so far are sent: the output then holds at most
/// `OUT_FLUSH` plus one item.
fn text_get(session: &mut Session<'_>, input: &[u8], mut rest: GetRest, out: &mut Vec<u8>) -> Step {
    let keys = &input[rest.keys.clone()];
    match session.get_keys(keys, rest.with_cas, rest.touch, out) {
        None => Step::Ran(Flow::Next, rest.consumed),
        Some(ran) => {
            rest.keys.start += ran;
            session.get_rest = Some(rest);
            Step::Ran(Flow::Next, 0)
        }
    }
}

/// Writes the replies in `out`, once the writes they acknowledge are
/// durable (see the module comment).
async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    session: &mut Session<'_>,
) -> std::io::Result<()> {
    crate::persist::aof_writer::settle(session.shared, &mut session.aof_wait).await;
    stream.write_all(out).await?;
    session.local.bytes_written += out.len() as u64;
    out.clear();
    Ok(())
}

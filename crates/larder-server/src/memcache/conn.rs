//! One memcached connection: read, parse, run, reply.
//!
//! Like the RESP loop: every complete request in the input buffer runs,
//! and their replies go out in one write. A data block the parser refused
//! (too large, bad flags) is skipped as it arrives, without buffering it
//! (`swallow`), so the stream stays in sync and memory stays bounded: the
//! buffer holds at most one line plus one accepted data block (bounded by
//! the item size limit) plus a read's worth.
//!
//! Under `appendfsync always`, replies go out only once the writes they
//! follow are on disk (`Feed::settle`, as on RESP connections): a batch's
//! writes share one fsync, and a `noreply` write holds the next reply.
//!
//! The connection is registered for `stats conns` (named by its socket's
//! fd, as memcached does) and updates its state and last-command time once
//! per batch. After a `watch` it becomes a log stream (`watch::serve`).

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use larder_memcache::{Limits, Parse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conns::State;
use super::exec::{Flow, Session};
use crate::shared::{unix_secs, Shared};

const READ_CHUNK: usize = 16 * 1024;
/// Flush replies mid-batch past this size, to bound the output buffer.
const OUT_FLUSH: usize = 1 << 20;

pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream) {
    let mc = &shared.memcache;
    mc.curr_connections.fetch_add(1, Relaxed);
    let fd = stream.as_raw_fd();
    let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let peer = stream.peer_addr().unwrap_or(unspecified);
    let local = stream.local_addr().unwrap_or(unspecified);
    let info = mc.conns.open(fd, peer, local, unix_secs() as u32);
    mc.logger.conn_event(&peer, fd, None);
    let mut shutdown = shared.shutdown.subscribe();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut session = Session::new(&shared, fd);
    let mut swallow: usize = 0;
    let mut want = READ_CHUNK;
    let mut reason = "normal";

    'conn: loop {
        if *shutdown.borrow() {
            reason = "shutdown";
            break;
        }
        if input.capacity() - input.len() < READ_CHUNK.min(want) {
            input.reserve(want.max(READ_CHUNK));
        }
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
        };
        session.local.bytes_read += n as u64;
        info.set_state(State::ParseCmd);
        let limits = Limits {
            item_size_max: shared.memcache.item_max.load(Relaxed) as usize,
        };
        session.begin_batch();
        info.touch(session.secs());
        let mut close = false;
        let mut watch = None;
        let mut state = State::Read;
        loop {
            if swallow > 0 {
                let k = swallow.min(input.len());
                input.advance(k);
                swallow -= k;
                if swallow > 0 {
                    break;
                }
            }
            match larder_memcache::parse(&input, &limits) {
                Parse::Incomplete { need } => {
                    if need.is_some() {
                        state = State::Nread;
                    }
                    want = need.map_or(READ_CHUNK, |n| n.saturating_sub(input.len()));
                    break;
                }
                Parse::Close => {
                    reason = "error";
                    close = true;
                    break;
                }
                Parse::Request { req, consumed } => {
                    let flow = session.run(req, &mut out);
                    input.advance(consumed);
                    match flow {
                        Flow::Next => {}
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
                    if out.len() >= OUT_FLUSH
                        && send(&mut stream, &mut out, &mut session).await.is_err()
                    {
                        break 'conn;
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

/// Writes the replies in `out`, once the writes they acknowledge are
/// durable (see the module comment).
async fn send(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    session: &mut Session<'_>,
) -> std::io::Result<()> {
    let feed = &session.shared.propagate.feed;
    feed.settle(&mut session.aof_wait).await;
    stream.write_all(out).await?;
    session.local.bytes_written += out.len() as u64;
    out.clear();
    Ok(())
}

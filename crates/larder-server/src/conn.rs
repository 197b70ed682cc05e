//! One client connection: read, parse, run, reply.
//!
//! The task reads into a growable input buffer, runs every complete request
//! in it, and sends all their replies with one write — so a pipeline of N
//! commands costs one read and one write system call, not N. Arguments are
//! slices of the input buffer (no copy). The buffer grows as a large bulk
//! arrives, never by more than what was received plus a bounded read-ahead,
//! so a bogus announced length cannot make the server allocate it.
//!
//! Backpressure: while replies are being written the task does not read, so
//! a client that sends without reading stalls on TCP flow control instead of
//! growing the output buffer. `client-output-buffer-limit normal` bounds the
//! replies of a batch: past `hard` the client is closed at once; past `soft`
//! it must take them within `soft-seconds`.
//!
//! Pushes (MONITOR lines, pub/sub messages, keyspace events) arrive in the
//! client's `pubsub::Outbox`, which raises the client's `signal::PUSH`: the
//! task waits on its signal beside the socket and writes what is queued;
//! pushes queued while a command runs go before that command's reply, where
//! Redis would have put them — but for client-side caching invalidations,
//! which wait until after it (see `tracking`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use larder_resp::{Limits, Parse, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::{After, Client};
use crate::dispatch::dispatch;
use crate::shared::Shared;
use crate::signal;

const READ_CHUNK: usize = 16 * 1024;
/// Flush replies mid-batch past this size, to bound the output buffer.
const OUT_FLUSH: usize = 1 << 20;
const MAX_READ_AHEAD: usize = 1 << 20;

/// Serves a connection until it closes, is killed, or the server stops.
pub async fn serve<S>(shared: Arc<Shared>, mut stream: S, addr: String, laddr: String, unix: bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handle = shared.clients.register(addr, laddr, unix);
    handle.touch();
    let needs_auth = shared.hot.requirepass.load(Relaxed);
    let mut client = Client::new(handle.clone(), !needs_auth);
    let mut parser = RequestParser::new();
    parser.set_auth_required(needs_auth);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut shutdown = shared.shutdown.subscribe();
    let mut want: usize = READ_CHUNK;
    // The input buffer was given back while idle: the next read refills it.
    let mut released = false;

    'conn: loop {
        if *shutdown.borrow() || handle.killed.load(Relaxed) {
            break;
        }
        let spare = input.capacity() - input.len();
        if !released && spare < READ_CHUNK.min(want) {
            input.reserve(want.clamp(READ_CHUNK, MAX_READ_AHEAD));
        }
        let timeout = shared.hot.timeout_secs.load(Relaxed);
        // Redis never times out monitors and subscribers.
        let monitoring = client.pushes.as_ref().is_some_and(|p| p.monitor) || client.in_pubsub();
        let idle = async move {
            if timeout == 0 || monitoring {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout)).await
            }
        };
        let n = tokio::select! {
            biased;
            r = stream.read_buf(&mut input) => match r {
                Ok(0) | Err(_) => break 'conn,
                Ok(n) => n,
            },
            events = handle.events.wait() => {
                if events & signal::STOP != 0 {
                    break 'conn;
                }
                // Redis's clientsCronResizeQueryBuffer: free it when idle
                // for 2 s, else bring a big empty one back to one chunk.
                if events & signal::SHRINK != 0 && input.is_empty() {
                    released = handle.idle_secs() >= 2;
                    input = BytesMut::with_capacity(if released { 0 } else { READ_CHUNK });
                    parser.release_excess();
                    handle.qbuf_free.store(input.capacity() as u64, Relaxed);
                }
                if !handle.outbox.pending() {
                    continue;
                }
                handle.outbox.drain(&mut out, client.proto, OUT_FLUSH);
                if handle.outbox.pending() {
                    handle.events.raise(signal::PUSH);
                }
                // A subscriber that stops reading is cut off by its push
                // queue's limit, which kills it: stop waiting on the socket then.
                let written = out.is_empty() || tokio::select! {
                    r = write_out(&shared, &mut stream, &mut out) => r.is_ok(),
                    _ = handle.kill.notified() => false,
                    _ = shutdown.changed() => false,
                };
                if !written {
                    break 'conn;
                }
                continue;
            }
            _ = idle => break 'conn,
        };
        shared
            .stats
            .total_net_input_bytes
            .fetch_add(n as u64, Relaxed);
        released = false;
        // CLIENT LIST/INFO run from this batch show it as Redis does.
        handle.qbuf.store(input.len() as u64, Relaxed);
        handle
            .qbuf_free
            .store((input.capacity() - input.len()) as u64, Relaxed);

        let limits = Limits {
            max_bulk_len: shared.hot.proto_max_bulk_len.load(Relaxed) as usize,
            ..Limits::default()
        };
        let mut close = false;
        let mut admitted = false;
        loop {
            let step = run_batch(
                &shared,
                &mut client,
                &mut parser,
                &mut input,
                &mut out,
                &limits,
                std::mem::take(&mut admitted),
            );
            match step {
                Step::Read(hint) => {
                    want = hint.map_or(READ_CHUNK, |h| h.saturating_sub(input.len()));
                    break;
                }
                Step::Close => {
                    close = true;
                    break;
                }
                Step::Yield => {}
                Step::Paused => {
                    // CLIENT PAUSE: earlier replies go out, then this waits.
                    if !out.is_empty()
                        && reply_out(&shared, &mut client, &mut stream, &mut out)
                            .await
                            .is_err()
                    {
                        break 'conn;
                    }
                    // The request run_batch stopped at, parsed again.
                    if let Ok(Parse::Request { .. }) = parser.parse(&input, &limits) {
                        let args = parser.args(&input);
                        if !crate::pause::wait(&shared, &client, &args, &mut shutdown).await {
                            break 'conn;
                        }
                    }
                    admitted = true;
                }
                Step::Blocked | Step::Replication => {
                    // Replies of the commands before it go out first.
                    if !out.is_empty()
                        && reply_out(&shared, &mut client, &mut stream, &mut out)
                            .await
                            .is_err()
                    {
                        break 'conn;
                    }
                    // A blocked client waits for its keys; SYNC/PSYNC take
                    // the socket over; WAIT waits for acks.
                    let live = if matches!(step, Step::Blocked) {
                        crate::blocking::wait(
                            &shared,
                            &mut client,
                            &mut stream,
                            &mut input,
                            &mut out,
                            &mut shutdown,
                        )
                        .await
                    } else {
                        crate::replication::serve(
                            &shared,
                            &mut client,
                            &mut stream,
                            &mut input,
                            &mut out,
                            &mut shutdown,
                        )
                        .await
                    };
                    if !live {
                        break 'conn;
                    }
                }
                Step::ServeBlocked => {}
                Step::Flush => {
                    if !over_limit(&shared, &out)
                        && reply_out(&shared, &mut client, &mut stream, &mut out)
                            .await
                            .is_err()
                    {
                        break 'conn;
                    }
                    if over_limit(&shared, &out) {
                        break 'conn;
                    }
                }
            }
            if shared.blocking.count() > 0 {
                crate::blocking::serve_ready(&shared, client.id).await;
            }
        }
        handle.touch();
        handle.db.store(client.db, Relaxed);
        handle.last_cmd.store(client.last_cmd, Relaxed);
        if input.is_empty() {
            // Take back the consumed front (no copy: nothing is left), so
            // the next read and CLIENT LIST's qbuf-free see the whole buffer.
            input.reserve(READ_CHUNK);
        }
        handle.qbuf.store(input.len() as u64, Relaxed);
        handle
            .qbuf_free
            .store((input.capacity() - input.len()) as u64, Relaxed);
        if over_limit(&shared, &out) {
            break;
        }
        if !out.is_empty()
            && reply_out(&shared, &mut client, &mut stream, &mut out)
                .await
                .is_err()
        {
            break;
        }
        if close {
            break;
        }
        if input.is_empty() && input.capacity() > 4 * MAX_READ_AHEAD {
            input = BytesMut::with_capacity(READ_CHUNK);
        }
        if out.capacity() > 4 * OUT_FLUSH {
            out = Vec::with_capacity(READ_CHUNK);
        }
    }
    let _ = stream.shutdown().await;
    shared.clients.unregister(client.id);
    shared.tracking.disable(&shared.engine, &handle);
    crate::pubsub::leave_all(&shared, &mut client);
    crate::commands::multi::discard_all(&shared, &mut client);
}

/// Commands run under one batch of shard locks at most (see `run_batch`).
const BATCH_COMMANDS: usize = 32;

/// Why [`run_batch`] stopped: each needs the socket or a wait.
enum Step {
    /// No complete request is buffered: read (the parser's size hint).
    Read(Option<usize>),
    /// Send what is buffered, then close.
    Close,
    /// `BATCH_COMMANDS` ran: let other clients at the shards, then go on.
    Yield,
    /// CLIENT PAUSE is on: the next request (not consumed) may have to wait.
    Paused,
    /// The last command blocked the client (BLPOP and co.).
    Blocked,
    /// The last command was SYNC/PSYNC/WAIT (`replication`).
    Replication,
    /// Clients are blocked somewhere: the last command may have readied them.
    ServeBlocked,
    /// The replies passed `OUT_FLUSH`: send them before going on.
    Flush,
}

/// Runs the complete requests in `input`, appending their replies to `out`,
/// until one needs the socket or a wait. All of it is one shard-lock batch
/// (`larder_engine::hold`): pipelined commands on the same shards lock them
/// once; and one clock chain (`dispatch::ClockChain`). Neither is `Send`, so
/// both end here, before any `.await`.
/// `admitted`: the first request already passed CLIENT PAUSE.
fn run_batch(
    shared: &Shared,
    client: &mut Client,
    parser: &mut RequestParser,
    input: &mut BytesMut,
    out: &mut Vec<u8>,
    limits: &Limits,
    mut admitted: bool,
) -> Step {
    let _batch = shared.engine.batch();
    let _clock = crate::dispatch::ClockChain::start();
    for _ in 0..BATCH_COMMANDS {
        let consumed = loop {
            match parser.parse(input, limits) {
                Ok(Parse::Request { consumed }) => break consumed,
                Ok(Parse::Skip { consumed }) => input.advance(consumed),
                Ok(Parse::Incomplete { hint }) => return Step::Read(hint),
                Err(e) => {
                    e.write_reply(out);
                    return Step::Close;
                }
            }
        };
        if shared.pause.on() && !std::mem::take(&mut admitted) {
            return Step::Paused;
        }
        let args = parser.args(input);
        // Pushes queued before this command began go first, invalidations
        // too: the writes they announce happened before it (the socket's
        // read may have been served before the push signal).
        client.handle.outbox.take_before_command(out, client.proto);
        let reply_at = out.len();
        dispatch(shared, client, args, out);
        // Pushes queued by now precede this reply, as in Redis.
        client
            .handle
            .outbox
            .splice_before(out, reply_at, client.proto);
        input.advance(consumed);
        parser.set_auth_required(!client.authenticated);
        if client.block.is_some() {
            return Step::Blocked;
        }
        if crate::replication::master::pending(client) {
            return Step::Replication;
        }
        if client.after == After::Close {
            return Step::Close;
        }
        if shared.blocking.count() > 0 {
            return Step::ServeBlocked;
        }
        if out.len() >= OUT_FLUSH {
            return Step::Flush;
        }
    }
    Step::Yield
}

/// `client-output-buffer-limit normal <hard>`: replies of one batch past it close the client.
pub(crate) fn over_limit(shared: &Shared, out: &[u8]) -> bool {
    let hard = shared.hot.output_hard_limit.load(Relaxed);
    hard > 0 && out.len() as u64 > hard
}

/// Writes command replies: under `appendfsync always`, first waits until
/// the AOF has fsynced the writes they acknowledge (one fsync covers every
/// client's batch waiting at that moment: group commit).
async fn reply_out<S: AsyncWrite + Unpin>(
    shared: &Shared,
    client: &mut Client,
    stream: &mut S,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    shared.propagate.feed.settle(&mut client.aof_wait).await;
    if !client.authenticated {
        return write_now(shared, stream, out);
    }
    write_out(shared, stream, out).await
}

/// Redis closes a client that must still authenticate once more than 1024
/// bytes of its replies wait to be sent, so it cannot make the server hold
/// output it does not read. Larder holds no output of its own past the
/// socket's buffer: such a client is closed when the socket will not take
/// all its replies at once (else, not reading, it would stall this task on
/// TCP flow control for good while it keeps sending).
fn write_now<S: AsyncWrite + Unpin>(
    shared: &Shared,
    stream: &mut S,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    use futures_util::FutureExt;
    let mut sent = 0;
    while sent < out.len() {
        match stream.write(&out[sent..]).now_or_never() {
            Some(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Some(Ok(n)) => sent += n,
            Some(Err(e)) => return Err(e),
            None => return Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }
    sent_all(shared, out);
    Ok(())
}

/// `out` went to the socket: counted in INFO's output bytes, cleared.
fn sent_all(shared: &Shared, out: &mut Vec<u8>) {
    shared
        .stats
        .total_net_output_bytes
        .fetch_add(out.len() as u64, Relaxed);
    out.clear();
}

/// Writes the batch's replies. Past the soft limit the client gets
/// `soft-seconds` to take them, or is disconnected as Redis would.
async fn write_out<S: AsyncWrite + Unpin>(
    shared: &Shared,
    stream: &mut S,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let soft = shared.hot.output_soft_limit.load(Relaxed);
    let secs = shared.hot.output_soft_seconds.load(Relaxed);
    if soft > 0 && out.len() as u64 > soft {
        tokio::time::timeout(Duration::from_secs(secs), stream.write_all(out))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "soft output limit")
            })??;
    } else {
        stream.write_all(out).await?;
    }
    sent_all(shared, out);
    Ok(())
}

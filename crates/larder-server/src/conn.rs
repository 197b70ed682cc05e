//! One client connection: read, parse, run, reply.
//!
//! The task reads into a growable input buffer, runs every complete request
//! in it, and sends all their replies with one write — so a pipeline of N
//! commands costs one read and one write system call, not N. Arguments are
//! slices of the input buffer (no copy). The buffer grows as a large bulk
//! arrives, never by more than what was received plus a bounded read-ahead,
//! so a bogus announced length cannot make the server allocate it.
//!
//! Replies the socket does not take at once wait in `unsent` while the
//! task goes on reading and running requests, as Redis does (a client
//! library writing a long pipeline before it reads would otherwise deadlock
//! against it); `client-output-buffer-limit normal` bounds them (`unsent`).

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

use crate::client::{After, Client, ClientHandle};
use crate::dispatch::dispatch;
use crate::shared::Shared;
use crate::signal;
use crate::unsent::{Io, Unsent};

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
    let mut unsent = Unsent::default();
    // Bytes the pending request needs in all (the parser's hint).
    let mut need: Option<usize> = None;
    // The input buffer was given back while idle: the next read refills it.
    let mut released = false;

    'conn: loop {
        if shared.stopping() || handle.killed.load(Relaxed) {
            break;
        }
        // Pushes wait in their outbox, under their own limits, while
        // replies wait to be sent.
        if !crate::client_eviction::report(&shared, &handle) {
            break;
        }
        if unsent.is_empty() && handle.outbox.pending() {
            handle.outbox.drain(&mut out, client.proto, OUT_FLUSH);
            if handle.outbox.pending() {
                handle.events.raise(signal::PUSH);
            }
            unsent.push(&mut out);
            if unsent.send_now(&mut stream, &shared).is_err() {
                break;
            }
            unsent.publish(&handle);
        }
        // A grown buffer is counted before it is filled.
        if !released && make_room(&mut input, need) {
            publish_input(&handle, &input, &parser);
            if !crate::client_eviction::report(&shared, &handle) {
                break;
            }
        }
        let timeout = shared.hot.timeout_secs.load(Relaxed);
        // Redis never times out monitors and subscribers, nor a client
        // that has replies to take.
        let never = client.pushes.as_ref().is_some_and(|p| p.monitor)
            || client.in_pubsub()
            || !unsent.is_empty();
        let idle = async move {
            if timeout == 0 || never {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout)).await
            }
        };
        let soft_deadline = unsent.soft_deadline(&shared);
        let soft = async move {
            match soft_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        let io = async {
            if unsent.is_empty() {
                match stream.read_buf(&mut input).await {
                    Ok(0) | Err(_) => Io::Closed,
                    Ok(n) => Io::Read(n),
                }
            } else {
                unsent.send_or_read(&mut stream, &mut input, &shared).await
            }
        };
        let n = tokio::select! {
            biased;
            io = io => match io {
                Io::Read(n) => n,
                Io::Drained => {
                    unsent.publish(&handle);
                    continue;
                }
                Io::Closed => break 'conn,
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
                // ...and an idle client's reply buffers, back to the base.
                if events & signal::SHRINK != 0 && unsent.is_empty() && handle.idle_secs() >= 2 {
                    if out.capacity() > READ_CHUNK {
                        out = Vec::with_capacity(READ_CHUNK);
                        handle.reply_buf.store(0, Relaxed);
                        shared.stats.reply_buffer_shrinks.fetch_add(1, Relaxed);
                    }
                    unsent.release_spare();
                    unsent.publish(&handle);
                }
                // Pushes are sent at the top of the loop.
                continue;
            }
            _ = idle => break 'conn,
            _ = soft => {
                if unsent.over_limit(&shared, &[]) {
                    break 'conn;
                }
                continue;
            }
        };
        unsent.publish(&handle);
        shared
            .stats
            .total_net_input_bytes
            .fetch_add(n as u64, Relaxed);
        shared.stats.total_reads_processed.fetch_add(1, Relaxed);
        released = false;
        // CLIENT LIST/INFO run from this batch show it as Redis does.
        publish_input(&handle, &input, &parser);
        if !crate::client_eviction::report(&shared, &handle) {
            break;
        }

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
            let mut out = Replies {
                out: &mut out,
                unsent: &mut unsent,
            };
            match step {
                Step::Read(hint) => {
                    need = hint;
                    break;
                }
                Step::Close => {
                    close = true;
                    break;
                }
                Step::Yield => {}
                Step::Paused => {
                    // CLIENT PAUSE: earlier replies go out, then this waits.
                    if out
                        .send(&shared, &mut client, &mut stream, Some(&mut shutdown))
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
                    if out
                        .send(&shared, &mut client, &mut stream, Some(&mut shutdown))
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
                            out.out,
                            &mut shutdown,
                        )
                        .await
                    } else {
                        crate::replication::serve(
                            &shared,
                            &mut client,
                            &mut stream,
                            &mut input,
                            out.out,
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
                    // Past READ_CAP the client must take its replies first.
                    let wait = out.unsent.full(out.out);
                    if out
                        .send(
                            &shared,
                            &mut client,
                            &mut stream,
                            wait.then_some(&mut shutdown),
                        )
                        .await
                        .is_err()
                    {
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
        publish_input(&handle, &input, &parser);
        let (queued, multi_mem) = client.tx.usage();
        handle.multi.store(queued, Relaxed);
        handle.multi_mem.store(multi_mem, Relaxed);
        // The output limit goes first: a client it closes is not counted
        // for client eviction (which would close another in its stead).
        if unsent.over_limit(&shared, &out) {
            break;
        }
        let room = out
            .capacity()
            .saturating_sub(crate::unsent::REPLY_ALLOWANCE) as u64;
        let before = handle.reply_buf.swap(room, Relaxed);
        if before != 0 && room > before {
            shared.stats.reply_buffer_expands.fetch_add(1, Relaxed);
        }
        // An evicted client gets no more replies (Redis frees it at once).
        if !crate::client_eviction::report(&shared, &handle) {
            break;
        }
        let mut replies = Replies {
            out: &mut out,
            unsent: &mut unsent,
        };
        let wait = close.then_some(&mut shutdown);
        if replies
            .send(&shared, &mut client, &mut stream, wait)
            .await
            .is_err()
            || close
        {
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
    crate::client_eviction::forget(&shared, &handle);
    shared.tracking.disable(&shared.engine, &handle);
    crate::pubsub::leave_all(&shared, &mut client);
    crate::commands::multi::discard_all(&shared, &mut client);
}

/// Room for the next read, for a request that needs `need` bytes in all
/// (None: unknown). Grows by doubling, as a Vec, but for a big argument
/// not past its end, so it gets a buffer of its size, as Redis sizes its
/// query buffer (and what `maxmemory-clients` counts is what it needs).
/// True if it grew.
fn make_room(input: &mut BytesMut, need: Option<usize>) -> bool {
    let len = input.len();
    let want = need.map_or(READ_CHUNK, |n| n.saturating_sub(len));
    if input.capacity() - len >= READ_CHUNK.min(want) {
        return false;
    }
    let mut cap = (2 * input.capacity()).max(len + want.clamp(READ_CHUNK, MAX_READ_AHEAD));
    if want > READ_CHUNK {
        cap = cap.min(len + want);
    }
    let mut grown = BytesMut::with_capacity(cap);
    grown.extend_from_slice(input);
    *input = grown;
    true
}

/// The input buffer as CLIENT LIST shows it: what is not parsed yet
/// (`qbuf`; Redis moves a request's parsed arguments out of its query
/// buffer), its free room, and the parsed arguments of a request begun.
fn publish_input(handle: &ClientHandle, input: &BytesMut, parser: &RequestParser) {
    let (parsed, argv) = parser.partial();
    handle
        .qbuf
        .store(input.len().saturating_sub(parsed) as u64, Relaxed);
    handle
        .qbuf_free
        .store((input.capacity() - input.len()) as u64, Relaxed);
    handle.argv_mem.store(argv as u64, Relaxed);
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

/// A batch's replies and those still waiting for the socket.
struct Replies<'a> {
    out: &'a mut Vec<u8>,
    unsent: &'a mut Unsent,
}

impl Replies<'_> {
    /// Sends the batch's replies behind those waiting: what the socket
    /// takes now, or (given the server's shutdown signal) all of it,
    /// waiting until the client takes it. With an AOF, first waits until
    /// the writes they acknowledge are in it (`aof_writer::settle`: one
    /// write, and fsync under `always`, covers the batches of every client
    /// waiting at that moment, a group commit). An error closes the connection: it broke, the client was
    /// killed, or its replies are past `client-output-buffer-limit`.
    async fn send<S: AsyncWrite + Unpin>(
        &mut self,
        shared: &Shared,
        client: &mut Client,
        stream: &mut S,
        wait: Option<&mut tokio::sync::watch::Receiver<bool>>,
    ) -> std::io::Result<()> {
        if self.unsent.over_limit(shared, self.out) {
            return Err(std::io::ErrorKind::OutOfMemory.into());
        }
        if self.out.is_empty() && (self.unsent.is_empty() || wait.is_none()) {
            return Ok(());
        }
        crate::persist::aof_writer::settle(shared, &mut client.aof_wait).await;
        if !client.authenticated && self.unsent.is_empty() {
            return write_now(shared, stream, self.out);
        }
        self.unsent.push(self.out);
        let sent = match wait {
            None => self.unsent.send_now(stream, shared),
            Some(shutdown) => tokio::select! {
                r = self.unsent.flush(stream, shared) => r,
                _ = client.handle.kill.notified() => Err(std::io::ErrorKind::Interrupted.into()),
                _ = shutdown.changed() => Err(std::io::ErrorKind::Interrupted.into()),
            },
        };
        self.unsent.publish(&client.handle);
        sent
    }
}

/// Redis closes a client that must still authenticate once more than 1024
/// bytes of its replies wait to be sent, so it cannot make the server hold
/// output it does not read. Such a client is closed when the socket will
/// not take all its replies at once.
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
    let st = &shared.stats;
    st.total_net_output_bytes
        .fetch_add(out.len() as u64, Relaxed);
    st.total_writes_processed.fetch_add(1, Relaxed);
    out.clear();
    Ok(())
}

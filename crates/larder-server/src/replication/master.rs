//! The master side: SYNC / PSYNC, REPLCONF, WAIT, and serving a replica.
//!
//! Handlers cannot await, so SYNC, PSYNC and a WAIT that has to wait store
//! an [`Action`] in the client's [`ReplClient`] and write no reply; the
//! connection task then runs [`serve`], which owns the socket while it
//! works (as `blocking::wait` does for BLPOP).
//!
//! A full resync opens the engine's fork-less snapshot (`begin_snapshot`);
//! at its start instant, with every shard locked, the feed's database is
//! forgotten (the stream's next command SELECTs, as after Redis's
//! `slaveseldb = -1`) and the replica becomes a backlog reader at the
//! current offset: every write before the instant is in the RDB, every
//! write after it in the stream, once. The RDB is streamed to the socket as
//! it is taken (`pipe.rs`; Redis's diskless sync, `$EOF:<mark>`), or, for
//! a replica without `capa eof` or under `repl-diskless-sync no`, written
//! to a temp file and sent with its length (`full_sync`): never whole in
//! memory. Then the task copies the backlog to the socket in chunks of at
//! most [`CHUNK`] bytes and reads `REPLCONF ACK` from it.
//!
//! The first replica turns propagation on (it is off without an AOF). A
//! command that read the switch before that propagates nothing, so the
//! snapshot first waits for every command already running to end
//! (`propagate::quiesce`): every command that starts later is in the
//! stream, every one before in the snapshot.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use larder_engine::snapshot::Snapshot;
use larder_resp::{Args, Limits, Parse, Reply, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::backlog::{Backlog, Dropped};
use super::pipe::Pipe;
use super::{Attached, ONLINE, SEND_BULK, WAIT_BGSAVE};
use crate::client::Client;
use crate::command::{parse_i64, Ctx};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::shared::{unix_secs, Shared};

/// Stream bytes copied out of the backlog per socket write.
const CHUNK: usize = 256 * 1024;

/// Replication state of one connection (see the module comment).
#[derive(Default)]
pub struct ReplClient {
    /// `REPLCONF listening-port`.
    listening_port: u16,
    /// `REPLCONF ip-address`.
    ip: Option<String>,
    /// The connection is a replica (after SYNC/PSYNC).
    replica: bool,
    /// `REPLCONF rdb-filter-only`: its RDB has no keys, and functions
    /// only if asked for (redis-cli's `--functions-rdb`).
    filter: Option<RdbFilter>,
    /// `REPLCONF capa eof`: it can read a streamed RDB (see `full_sync`).
    capa_eof: bool,
    action: Option<Action>,
}

#[derive(Clone, Copy)]
struct RdbFilter {
    functions: bool,
}

impl ReplClient {
    pub fn is_replica(&self) -> bool {
        self.replica
    }
}

enum Action {
    /// Serve a replica: `psync` is PSYNC's (replid, offset), None for SYNC.
    Sync { psync: Option<(String, i64)> },
    /// WAIT: until `numreplicas` acknowledge `offset`, or the deadline.
    Wait {
        numreplicas: i64,
        deadline: Option<Instant>,
        offset: u64,
    },
}

/// Whether the connection must run [`serve`] after this command.
#[inline]
pub fn pending(client: &Client) -> bool {
    client.repl.as_ref().is_some_and(|r| r.action.is_some())
}

fn repl_client<'a>(ctx: &'a mut Ctx<'_>) -> &'a mut ReplClient {
    ctx.client.repl.get_or_insert_with(Default::default)
}

/// SYNC / PSYNC replid offset.
pub(super) fn sync(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.client.repl.as_ref().is_some_and(|r| r.replica) {
        return Ok(());
    }
    if ctx.argc() > 3 && ctx.arg_is(0, "psync") && ctx.arg_is(3, "failover") {
        failover_request(ctx)?;
    }
    if super::failover::active(ctx.shared) {
        return Err(CmdError::new("NOMASTERLINK Can't SYNC while failing over"));
    }
    if let Some(l) = ctx.shared.repl.link() {
        if l.state() != super::replica::CONNECTED {
            return Err(CmdError::new(
                "NOMASTERLINK Can't SYNC while not connected with my master",
            ));
        }
    }
    let psync = if ctx.arg_is(0, "psync") {
        let offset = ctx.i64_arg(2).inspect_err(|_| {
            tracing::warn!(
                "Replica {} asks for synchronization but with a wrong offset",
                ctx.client.handle.addr
            );
        })?;
        Some((String::from_utf8_lossy(ctx.arg(1)).into_owned(), offset))
    } else {
        None
    };
    repl_client(ctx).action = Some(Action::Sync { psync });
    Ok(())
}

/// `PSYNC <replid> <offset> FAILOVER` from our master handing over to us
/// (`failover.rs`): we become a master, then answer the PSYNC as one.
fn failover_request(ctx: &mut Ctx<'_>) -> CmdResult {
    let Some(sh) = ctx.shared.repl.shared() else {
        return Err(CmdError::new("ERR replication is not available"));
    };
    tracing::warn!(
        "Failover request received for replid {}.",
        String::from_utf8_lossy(ctx.arg(1))
    );
    if !sh.repl.is_replica() {
        return Err(CmdError::new(
            "ERR PSYNC FAILOVER can't be sent to a master.",
        ));
    }
    if ctx.arg(1) != sh.repl.replid().as_bytes() {
        return Err(CmdError::new(
            "ERR PSYNC FAILOVER replid must match my replid.",
        ));
    }
    // What our master sent before it asked is applied first, as Redis
    // reads its link before this request; here the link's task may be
    // behind this one on another worker (bounded: a FORCEd hand-over to a
    // replica that never got it goes on).
    if let Some(next) = crate::command::parse_i64(ctx.arg(2)) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        crate::commands::scripting::off_worker(|| {
            while super::master_repl_offset(&sh) < next - 1 && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
    }
    super::set_master(&sh, None);
    tracing::info!(
        "MASTER MODE enabled (failover request from 'id={} addr={}')",
        ctx.client.id,
        ctx.client.handle.addr
    );
    Ok(())
}

/// REPLCONF <option> <value> ...
pub(super) fn replconf(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc().is_multiple_of(2) {
        return Err(SYNTAX);
    }
    for i in (1..ctx.argc()).step_by(2) {
        let value = ctx.arg(i + 1);
        if ctx.arg_is(i, "listening-port") {
            let port = ctx.i64_arg(i + 1)?;
            repl_client(ctx).listening_port = port.clamp(0, 65535) as u16;
        } else if ctx.arg_is(i, "ip-address") {
            if value.len() >= 46 {
                return Err(CmdError::owned(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                )));
            }
            repl_client(ctx).ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if ctx.arg_is(i, "rdb-filter-only") {
            // Redis's include list: nothing but what it names.
            let mut filter = RdbFilter { functions: false };
            for f in value
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty())
            {
                if !f.eq_ignore_ascii_case(b"functions") {
                    return Err(CmdError::owned(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(f)
                    )));
                }
                filter.functions = true;
            }
            repl_client(ctx).filter = Some(filter);
        } else if ctx.arg_is(i, "ack") || ctx.arg_is(i, "getack") {
            // Meaningful only on a replication link (handled there).
            return Ok(());
        } else if ctx.arg_is(i, "capa") {
            if value.eq_ignore_ascii_case(b"eof") {
                repl_client(ctx).capa_eof = true;
            }
        } else if !ctx.arg_is(i, "rdb-only") {
            return Err(CmdError::owned(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(ctx.arg(i))
            )));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// WAIT numreplicas timeout.
pub(super) fn wait(ctx: &mut Ctx<'_>) -> CmdResult {
    let sh = ctx.shared;
    if sh.repl.is_replica() {
        return Err(CmdError::new("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let numreplicas = ctx.i64_arg(1)?;
    let timeout = parse_i64(ctx.arg(2)).ok_or(CmdError::new(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let offset = ctx.client.repl_woff;
    let acked = sh.repl.acked_by(offset);
    // Inside MULTI or a script WAIT cannot block.
    if acked as i64 >= numreplicas || ctx.client.nesting > 1 {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    sh.propagate
        .feed
        .append_replicas_only([&b"REPLCONF"[..], b"GETACK", b"*"]);
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    repl_client(ctx).action = Some(Action::Wait {
        numreplicas,
        deadline,
        offset,
    });
    Ok(())
}

/// Runs the action a handler left (see the module comment). Returns false
/// when the connection must close (a replica's link ended).
pub async fn serve<S>(
    sh: &Arc<Shared>,
    client: &mut Client,
    stream: &mut S,
    input: &mut BytesMut,
    out: &mut Vec<u8>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(action) = client.repl.as_mut().and_then(|r| r.action.take()) else {
        return true;
    };
    match action {
        Action::Wait {
            numreplicas,
            deadline,
            offset,
        } => {
            let n = wait_acks(sh, client, numreplicas, deadline, offset, shutdown).await;
            Reply::new(out, client.proto).int(n as i64);
            true
        }
        Action::Sync { psync } => {
            let r = serve_replica(sh, client, stream, input, psync, shutdown).await;
            if let Err(e) = r {
                tracing::info!("Connection with replica {} lost: {e}", client.handle.addr);
            }
            false
        }
    }
}

async fn wait_acks(
    sh: &Shared,
    client: &Client,
    numreplicas: i64,
    deadline: Option<Instant>,
    offset: u64,
    shutdown: &mut watch::Receiver<bool>,
) -> usize {
    let sleep = crate::blocking::sleep_until(deadline);
    tokio::pin!(sleep);
    loop {
        let notified = sh.repl.acked.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = sh.repl.acked_by(offset);
        if n as i64 >= numreplicas {
            return n;
        }
        tokio::select! {
            _ = notified => {}
            _ = &mut sleep => return sh.repl.acked_by(offset),
            _ = client.handle.kill.notified() => return n,
            _ = shutdown.changed() => return n,
        }
    }
}

/// Removes a replica from the list and the backlog when its task ends.
struct Detach<'a>(&'a Shared, u64);

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        self.0.repl.replicas.lock().retain(|r| r.id != self.1);
        if let Some(b) = &mut self.0.propagate.feed.lock().backlog {
            b.remove_reader(self.1);
        }
        self.0.repl.acked.notify_waiters();
    }
}

fn io_err(msg: &str) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

async fn serve_replica<S>(
    sh: &Arc<Shared>,
    client: &mut Client,
    stream: &mut S,
    input: &mut BytesMut,
    psync: Option<(String, i64)>,
    shutdown: &mut watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // CLIENT LIST shows the connection's last command: PSYNC or SYNC.
    client.handle.last_cmd.store(client.last_cmd, Relaxed);
    let rc = client.repl.get_or_insert_with(Default::default);
    rc.replica = true;
    let ip = rc.ip.clone().unwrap_or_else(|| {
        let a = &client.handle.addr;
        a.rsplit_once(':')
            .map_or(a.as_str(), |(h, _)| h)
            .to_string()
    });
    let id = sh.repl.next_id.fetch_add(1, Relaxed);
    let att = Arc::new(Attached {
        id,
        client_id: client.id,
        ip,
        port: rc.listening_port,
        state: WAIT_BGSAVE.into(),
        ack: 0.into(),
        ack_time: unix_secs().into(),
    });
    sh.repl.replicas.lock().push(att.clone());
    let _detach = Detach(sh, id);
    let replid = sh.repl.replid();
    let partial = psync.as_ref().is_some_and(|(rid, off)| {
        sh.repl.continues(rid, *off) && {
            let mut g = sh.propagate.feed.lock();
            match &mut g.backlog {
                Some(b) if *off >= 1 && b.has(*off as u64 - 1) => {
                    b.add_reader(id, *off as u64 - 1);
                    true
                }
                _ => false,
            }
        }
    });
    if let Some((rid, _)) = psync.as_ref().filter(|_| !partial) {
        if rid != "?" {
            sh.repl.sync_partial_err.fetch_add(1, Relaxed);
        }
    }
    if partial {
        sh.repl.sync_partial_ok.fetch_add(1, Relaxed);
        stream
            .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
            .await?;
        tracing::info!(
            "Partial resynchronization request from {} accepted",
            client.handle.addr
        );
    } else if full_sync(sh, client, stream, &att, psync.is_some(), shutdown).await? {
        tracing::info!(
            "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming",
            client.handle.addr
        );
        return feed_replica(sh, client, &att, true, stream, input, shutdown).await;
    } else {
        tracing::info!(
            "Synchronization with replica {} succeeded",
            client.handle.addr
        );
    }
    att.ack_time.store(unix_secs(), Relaxed);
    att.state.store(ONLINE, Relaxed);
    feed_replica(sh, client, &att, false, stream, input, shutdown).await
}

/// Sends the replica a snapshot: streamed as it is taken, in the EOF
/// format (`$EOF:<mark>\r\n<rdb><mark>`), when the replica understands it
/// (`REPLCONF capa eof`) and `repl-diskless-sync` is on (Redis's
/// default); else written to a temp file in `dir` first and sent with its
/// length (`$<len>\r\n<rdb>`), with a `\n` keepalive each second while it
/// is written, as Redis sends to replicas waiting for a BGSAVE. Either way
/// the RDB is never whole in memory. True when it was streamed: the
/// replica then acknowledges before the stream starts (Redis's
/// `repl_start_cmd_stream_on_ack`), since it finds the RDB's end by the
/// mark being the last bytes it has read.
async fn full_sync<S>(
    sh: &Arc<Shared>,
    client: &Client,
    stream: &mut S,
    att: &Attached,
    announce: bool,
    shutdown: &mut watch::Receiver<bool>,
) -> std::io::Result<bool>
where
    S: AsyncWrite + Unpin,
{
    let eof = client.repl.as_ref().is_some_and(|r| r.capa_eof)
        && sh
            .config
            .read()
            .compat
            .get("repl-diskless-sync")
            .is_none_or(|v| v == "yes");
    if eof {
        let pipe = Pipe::new();
        let mut snap = open_snapshot(sh, client, att.id, announce, stream, shutdown, || {
            Ok(pipe.writer())
        })
        .await?;
        tracing::info!("Starting BGSAVE for SYNC with target: replicas sockets");
        let mark = super::random_id();
        att.state.store(SEND_BULK, Relaxed);
        stream
            .write_all(format!("$EOF:{mark}\r\n").as_bytes())
            .await?;
        let mut pace = crate::persist::snapshot::pace(sh, None);
        let p = pipe.clone();
        pace.throttle = Some(Arc::new(move || p.throttle()));
        snap.set_pace(pace);
        let (s, p) = (sh.clone(), pipe.clone());
        let finish = tokio::task::spawn_blocking(move || {
            let r = snap.finish(&s.engine).map(|_| ());
            p.close();
            r
        });
        let mut chunk = Vec::new();
        let send = async {
            while pipe.next(&mut chunk).await {
                stream.write_all(&chunk).await?;
                sh.repl.net_out.fetch_add(chunk.len() as u64, Relaxed);
            }
            Ok::<_, std::io::Error>(())
        };
        let sent = tokio::select! {
            r = send => r,
            _ = client.handle.kill.notified() => Err(io_err("killed")),
            _ = shutdown.changed() => Err(io_err("shutdown")),
        };
        if let Err(e) = sent {
            pipe.abandon();
            return Err(e);
        }
        finish.await.map_err(|_| io_err("snapshot task failed"))??;
        stream.write_all(mark.as_bytes()).await?;
        return Ok(true);
    }
    let (tmp, _) = crate::persist::snapshot::temp_path(sh);
    let _remove = super::RemoveOnDrop(&tmp);
    let mut snap = open_snapshot(sh, client, att.id, announce, stream, shutdown, || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(std::io::BufWriter::with_capacity(1 << 20, f))
    })
    .await?;
    tracing::info!("Starting BGSAVE for SYNC with target: disk");
    snap.set_pace(crate::persist::snapshot::pace(sh, None));
    let s = sh.clone();
    let mut finish = tokio::task::spawn_blocking(move || {
        let (w, _) = snap.finish(&s.engine)?;
        w.into_inner().map_err(|e| e.into_error())
    });
    let mut keepalive = tokio::time::interval(Duration::from_secs(1));
    keepalive.tick().await;
    let file = loop {
        tokio::select! {
            r = &mut finish => break r.map_err(|_| io_err("snapshot task failed"))??,
            _ = keepalive.tick() => stream.write_all(b"\n").await?,
        }
    };
    let len = file.metadata()?.len();
    att.state.store(SEND_BULK, Relaxed);
    stream.write_all(format!("${len}\r\n").as_bytes()).await?;
    let mut file = tokio::fs::File::from_std(file);
    file.rewind().await?;
    let copied = tokio::io::copy(&mut file, stream).await?;
    sh.repl.net_out.fetch_add(copied, Relaxed);
    if copied != len {
        return Err(io_err("the RDB file changed while it was sent"));
    }
    Ok(false)
}

/// Opens a snapshot to the writer `out` makes (the replica `id` becomes a
/// backlog reader at its start instant; another snapshot running is
/// waited for) and announces the offset (`+FULLRESYNC`).
async fn open_snapshot<S, W>(
    sh: &Arc<Shared>,
    client: &Client,
    id: u64,
    announce: bool,
    stream: &mut S,
    shutdown: &mut watch::Receiver<bool>,
    out: impl Fn() -> std::io::Result<W>,
) -> std::io::Result<Snapshot<W>>
where
    S: AsyncWrite + Unpin,
    W: std::io::Write + Send + 'static,
{
    ensure_backlog(sh, None).await;
    sh.repl.sync_full.fetch_add(1, Relaxed);
    let filter = client.repl.as_ref().and_then(|r| r.filter);
    let (snap, offset) = loop {
        let mut offset = 0;
        let mut opts = crate::persist::snapshot::rdb_options(sh);
        if let Some(f) = filter {
            opts.keys = false;
            if !f.functions {
                opts.functions.clear();
            }
        }
        let w = out()?;
        let s = sh.clone();
        let opened = tokio::task::spawn_blocking(move || {
            // On a replica, no command of the master's stream is between
            // being applied and being in the backlog.
            let _gate = s.repl.apply_gate.lock();
            s.engine
                .begin_snapshot(w, opts, || {
                    let mut g = s.propagate.feed.switch_point();
                    if let Some(b) = &mut g.backlog {
                        offset = b.end();
                        b.add_reader(id, offset);
                    }
                    // (+FULLRESYNC tells the replica where it stands.)
                    None
                })
                .ok()
                .map(|snap| (snap, offset))
        })
        .await
        .map_err(|_| io_err("snapshot task failed"))?;
        if let Some(opened) = opened {
            break opened;
        }
        // Another snapshot (BGSAVE, AOF rewrite) runs: wait for its end.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = client.handle.kill.notified() => return Err(io_err("killed")),
            _ = shutdown.changed() => return Err(io_err("shutdown")),
        }
    };
    if announce {
        let replid = sh.repl.replid();
        stream
            .write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes())
            .await?;
    }
    Ok(snap)
}

/// Creates the backlog (and turns propagation on) for the first replica,
/// then waits for the commands that started before (see the module
/// comment). Replicas arriving meanwhile wait for the same moment.
///
/// `proxy_at`: this server has just synced with its master at that offset;
/// its backlog must end there (a new one replaces one that does not, which
/// drops its readers) and holds the master's stream from now on.
pub(super) async fn ensure_backlog(sh: &Shared, proxy_at: Option<u64>) {
    let mut ready = sh.repl.stream_ready.lock().await;
    {
        let mut g = sh.propagate.feed.lock();
        if let Some(at) = proxy_at {
            g.proxy = true;
            if g.backlog.as_ref().is_some_and(|b| b.end() != at) {
                g.backlog = None;
            }
        }
        if *ready && g.backlog.is_some() {
            return;
        }
        if g.backlog.is_none() {
            let st = &sh.repl.settings;
            g.backlog = Some(Backlog::new(
                proxy_at.unwrap_or(0),
                st.backlog_size.load(Relaxed),
                st.out_hard.load(Relaxed),
            ));
        }
        sh.engine.events.writes.set_on(true);
    }
    crate::propagate::quiesce().await;
    *ready = true;
}

/// Streams the backlog to a replica and takes its ACKs, until the link
/// ends (socket closed, killed, past the output limits, shutdown).
async fn feed_replica<S>(
    sh: &Shared,
    client: &Client,
    att: &Attached,
    start_on_ack: bool,
    stream: &mut S,
    input: &mut BytesMut,
    shutdown: &mut watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(wake) = sh
        .propagate
        .feed
        .lock()
        .backlog
        .as_ref()
        .map(|b| b.wake.clone())
    else {
        return Err(io_err("no backlog"));
    };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let acked = tokio::sync::Notify::new();
    let writer = async {
        if start_on_ack {
            acked.notified().await;
            tracing::info!(
                "Synchronization with replica {} succeeded",
                client.handle.addr
            );
            att.state.store(ONLINE, Relaxed);
        }
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut soft_since: Option<std::time::Instant> = None;
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let read = match &mut sh.propagate.feed.lock().backlog {
                Some(b) => b.read(att.id, &mut chunk, CHUNK),
                None => Err(Dropped),
            };
            let Ok((n, lag)) = read else {
                return io_err("client-output-buffer-limit replica (hard) reached");
            };
            if n == 0 {
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let st = &sh.repl.settings;
            let soft = st.out_soft.load(Relaxed);
            if soft > 0 && lag > soft {
                let since = *soft_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed().as_secs() >= st.out_soft_secs.load(Relaxed) {
                    return io_err("client-output-buffer-limit replica (soft) reached");
                }
            } else {
                soft_since = None;
            }
            if let Err(e) = wr.write_all(&chunk).await {
                return e;
            }
            sh.repl.net_out.fetch_add(n as u64, Relaxed);
            chunk.clear();
        }
    };
    let reader = async {
        let mut parser = RequestParser::new();
        let limits = Limits::default();
        loop {
            loop {
                match parser.parse(input, &limits) {
                    Ok(Parse::Request { consumed }) => {
                        match on_replica_command(sh, client, att, &parser.args(input)) {
                            Ok(true) => acked.notify_one(),
                            Ok(false) => {}
                            Err(e) => return e,
                        }
                        input.advance(consumed);
                    }
                    Ok(Parse::Skip { consumed }) => input.advance(consumed),
                    Ok(Parse::Incomplete { .. }) => break,
                    Err(_) => return io_err("protocol error from replica"),
                }
            }
            if input.capacity() - input.len() < 1024 {
                input.reserve(4096);
            }
            match rd.read_buf(input).await {
                Ok(0) => return io_err("closed by the replica"),
                Ok(n) => {
                    sh.repl.net_in.fetch_add(n as u64, Relaxed);
                }
                Err(e) => return e,
            }
        }
    };
    tokio::select! {
        e = writer => Err(e),
        e = reader => Err(e),
        _ = client.handle.kill.notified() => Ok(()),
        _ = shutdown.changed() => Ok(()),
    }
}

/// A command a replica sent on its link: `REPLCONF ACK <offset>` counts
/// (true); other REPLCONFs need no answer. Anything else would make a
/// reply, which must never go down a replication link: as Redis does, the
/// master logs it and drops the link (the error); a command that touches
/// the keyspace is refused too, with Redis's CRITICAL line.
fn on_replica_command(
    sh: &Shared,
    client: &Client,
    att: &Attached,
    args: &Args<'_>,
) -> Result<bool, std::io::Error> {
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    if is(0, "replconf") {
        if let Some(off) = args.get(2).filter(|_| is(1, "ack")).and_then(parse_i64) {
            att.ack.fetch_max(off.max(0) as u64, Relaxed);
            att.ack_time.store(unix_secs(), Relaxed);
            sh.repl.acked.notify_waiters();
            return Ok(true);
        }
        return Ok(false);
    }
    let name = args.get(0).unwrap_or_default();
    let cmd = sh
        .commands
        .lookup(name)
        .map(|i| sh.commands.get(i).resolve(args));
    let name = cmd.map_or_else(
        || String::from_utf8_lossy(name).to_lowercase(),
        |c| c.name.into(),
    );
    tracing::warn!(
        "Replica generated a reply to command '{name}', disconnecting it: addr={}",
        client.handle.addr
    );
    use crate::command::flags::{MAY_REPLICATE, READONLY, WRITE};
    if cmd.is_some_and(|c| c.has(WRITE | READONLY | MAY_REPLICATE)) {
        tracing::warn!(
            "== CRITICAL == This master is sending an error to its replica: 'Replica can't interact with the keyspace' after processing the command '{name}'"
        );
    }
    Err(io_err("the replica sent a command that replies"))
}

/// Disconnects every replica (this server is becoming a replica itself).
pub(super) fn disconnect_replicas(sh: &Shared) {
    for r in sh.repl.replicas.lock().iter() {
        if let Some(h) = sh.clients.get(r.client_id) {
            h.kill();
        }
    }
}

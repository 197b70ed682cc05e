//! The replica side: the link to our master (REPLICAOF host port).
//!
//! One tokio task per link, looping until REPLICAOF changes the master:
//! connect; handshake (PING, AUTH with `masterauth`/`masteruser`, REPLCONF
//! listening-port, capa eof and capa psync2, PSYNC with the cached replid
//! and offset, or `? -1`); on `+FULLRESYNC` read the RDB (with its length,
//! or streamed up to its end mark) into a temp file, empty the keyspace
//! and load the file with the engine's loader on a blocking thread, then
//! keep it as the `dbfilename` file, as Redis does; on `+CONTINUE` keep
//! the data. Then the stream: each command is parsed
//! (the connection's RESP parser) and run through the dispatcher by the
//! *master client*, whose replies are dropped and whose writes are exempt
//! from READONLY; `offset` advances by each command's bytes. `REPLCONF
//! GETACK` is answered with the offset before it, as Redis does; an ACK
//! also goes every second. No data for `repl-timeout` seconds, or any
//! error, drops the link; the task reconnects a second later and tries a
//! partial resync from where it stopped.
//!
//! As on Redis's replicas, keys do not expire here by themselves: an
//! expired key reads as missing to clients but stays until the master's DEL
//! (`EngineConfig::replica`), and is live to the master's stream. The
//! bytes of the stream, once applied, go to our own backlog as received
//! (`Feed::proxy`), so our replicas share the master's history and offsets
//! and anyone can continue from us after a promotion.

use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed,
};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use larder_engine::rdb;
use larder_resp::{Limits, Parse, RequestParser};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::client::Client;
use crate::shared::{unix_secs, Shared};

pub const CONNECT: u8 = 0;
pub const CONNECTING: u8 = 1;
pub const HANDSHAKE: u8 = 2;
pub const TRANSFER: u8 = 3;
pub const CONNECTED: u8 = 4;

/// Longest status line accepted from a master.
const MAX_LINE: usize = 64 * 1024;

/// The link to our master, shared with INFO and ROLE.
pub struct Link {
    pub host: String,
    pub port: u16,
    state: AtomicU8,
    /// The master's stream applied so far (-1: none yet).
    offset: AtomicI64,
    /// The database the stream had selected at `offset`: a partial resync
    /// continues in it, as Redis's resurrected cached master client does
    /// (a full resync's stream SELECTs before its first write).
    db: AtomicUsize,
    /// Stream bytes read past `offset`, not applied yet (a CLIENT PAUSE
    /// holds them, or they are a partial command): INFO's
    /// `slave_read_repl_offset` counts them.
    read_ahead: AtomicU64,
    /// The master's replication ID we follow (PSYNC's first argument).
    replid: Mutex<Option<String>>,
    last_io: AtomicU64,
    down_since: AtomicU64,
    transfer_size: AtomicI64,
    transfer_read: AtomicU64,
    stopped: AtomicBool,
    stop: Notify,
}

impl Link {
    /// A link to `host:port`; `cached`: where our data stand in a history
    /// (its ID, offset and the stream's selected database), for a first
    /// PSYNC that may continue it.
    pub fn new(host: String, port: u16, cached: Option<rdb::ReplAux>) -> Arc<Link> {
        let (replid, offset, db) =
            cached.map_or((None, -1, 0), |c| (Some(c.id), c.offset, c.stream_db));
        Arc::new(Link {
            host,
            port,
            state: AtomicU8::new(CONNECT),
            offset: AtomicI64::new(offset),
            db: AtomicUsize::new(db),
            read_ahead: AtomicU64::new(0),
            replid: Mutex::new(replid),
            last_io: AtomicU64::new(0),
            down_since: AtomicU64::new(unix_secs()),
            transfer_size: AtomicI64::new(-1),
            transfer_read: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        })
    }

    pub fn state(&self) -> u8 {
        self.state.load(Relaxed)
    }

    /// The master's stream read so far (INFO `slave_read_repl_offset`).
    pub fn read_offset(&self) -> i64 {
        self.offset().max(0) + self.read_ahead.load(Relaxed) as i64
    }

    /// ROLE's name for the state.
    pub fn state_name(&self) -> &'static str {
        match self.state() {
            CONNECT => "connect",
            CONNECTING => "connecting",
            HANDSHAKE => "handshake",
            TRANSFER => "sync",
            _ => "connected",
        }
    }

    pub fn offset(&self) -> i64 {
        self.offset.load(Relaxed)
    }

    /// Where our data stand in the master's history, once synced.
    pub fn position(&self) -> Option<rdb::ReplAux> {
        let id = self.replid.lock().clone()?;
        let offset = self.offset();
        (offset >= 0).then(|| rdb::ReplAux {
            stream_db: self.db.load(Relaxed),
            id,
            offset,
        })
    }

    pub fn last_io(&self) -> u64 {
        self.last_io.load(Relaxed)
    }

    pub fn down_since(&self) -> u64 {
        self.down_since.load(Relaxed)
    }

    /// (RDB size, bytes read) of the transfer in progress.
    pub fn transfer(&self) -> (i64, u64) {
        (
            self.transfer_size.load(Relaxed),
            self.transfer_read.load(Relaxed),
        )
    }

    /// Ends the link (REPLICAOF elsewhere or NO ONE).
    pub fn stop(&self) {
        self.stopped.store(true, Relaxed);
        self.stop.notify_waiters();
        self.stop.notify_one();
    }

    fn change_state(&self, s: u8) {
        if s != CONNECTED && self.state() == CONNECTED {
            self.down_since.store(unix_secs(), Relaxed);
        }
        self.state.store(s, Relaxed);
    }
}

/// Starts the link's task (on the server's runtime).
pub fn spawn(sh: Arc<Shared>, link: Arc<Link>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("REPLICAOF outside the server's runtime: link not started");
        return;
    };
    rt.spawn(async move {
        while !link.stopped.load(Relaxed) {
            let r = tokio::select! {
                r = run_once(&sh, &link) => r,
                _ = link.stop.notified() => Ok(()),
            };
            set_state(&sh, &link, CONNECT);
            if let Err(e) = r {
                if !link.stopped.load(Relaxed) {
                    tracing::warn!("Replication link with {}:{}: {e}", link.host, link.port);
                }
            }
            if link.stopped.load(Relaxed) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = link.stop.notified() => break,
            }
        }
    });
}

/// Changes the link's state and what dispatch refuses with it (MASTERDOWN).
fn set_state(sh: &Shared, link: &Link, s: u8) {
    link.change_state(s);
    super::refresh_deny(sh);
}

type Res<T> = Result<T, String>;

/// The connection and what was read past the last parsed item.
struct Conn {
    s: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

/// The stream's read chunk.
const READ_CHUNK: usize = 64 * 1024;
/// A command bigger than this grew the read buffer: it is given back once
/// applied (see [`Conn::release`]).
const BIG_COMMAND: usize = 1 << 20;

impl Conn {
    async fn fill(&mut self, link: &Link) -> Res<()> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(READ_CHUNK);
        }
        match tokio::time::timeout(self.timeout, self.s.read_buf(&mut self.buf)).await {
            Err(_) => Err("timeout, no data from master".into()),
            Ok(Ok(0)) => Err("connection closed by master".into()),
            Ok(Ok(_)) => {
                link.last_io.store(unix_secs(), Relaxed);
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
        }
    }

    /// Gives back the room a big command needed, keeping what is buffered
    /// after it, so one large write from the master does not hold its size
    /// in the replica for good (Redis trims the master client's pending
    /// query buffer the same way). `BytesMut` would otherwise keep the
    /// whole allocation to reuse on its next `reserve`.
    fn release(&mut self) {
        let mut fresh = BytesMut::with_capacity(READ_CHUNK.max(self.buf.len()));
        fresh.extend_from_slice(&self.buf);
        self.buf = fresh;
    }

    /// One `\r\n`-terminated line, without the terminator.
    async fn line(&mut self, link: &Link) -> Res<String> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(nl + 1);
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                return Ok(String::from_utf8_lossy(text).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err("line from master too long".into());
            }
            self.fill(link).await?;
        }
    }

    async fn command(&mut self, link: &Link, args: &[&[u8]]) -> Res<String> {
        let mut out = Vec::new();
        crate::propagate::encode(&mut out, args.iter().copied());
        self.s.write_all(&out).await.map_err(|e| e.to_string())?;
        self.line(link).await
    }
}

/// Connects to the master; from `bind-source-addr` when it is set, as
/// Redis's connectWithMaster.
async fn connect(host: &str, port: u16, source: &str) -> std::io::Result<TcpStream> {
    use std::io::{Error, ErrorKind};
    if source.is_empty() {
        return TcpStream::connect((host, port)).await;
    }
    let src: std::net::IpAddr = source
        .parse()
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
    let mut last = Error::new(
        ErrorKind::AddrNotAvailable,
        "no master address of the source's family",
    );
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != src.is_ipv4() {
            continue;
        }
        let sock = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        sock.bind(std::net::SocketAddr::new(src, 0))?;
        match sock.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn run_once(sh: &Arc<Shared>, link: &Arc<Link>) -> Res<()> {
    set_state(sh, link, CONNECTING);
    let timeout = Duration::from_secs(sh.repl.settings.timeout.load(Relaxed).max(1));
    let source = super::directive(&sh.config.read(), "bind-source-addr");
    let s = tokio::time::timeout(timeout, connect(&link.host, link.port, &source))
        .await
        .map_err(|_| "timeout connecting to the master".to_string())?
        .map_err(|e| format!("error connecting to the master: {e}"))?;
    let _ = s.set_nodelay(true);
    let mut c = Conn {
        s,
        buf: BytesMut::with_capacity(READ_CHUNK),
        timeout,
    };
    tracing::info!(
        "MASTER <-> REPLICA sync started with {}:{}",
        link.host,
        link.port
    );
    set_state(sh, link, HANDSHAKE);
    let pong = c.command(link, &[b"PING"]).await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") && !pong.starts_with("-NOPERM") {
        return Err(format!("error reply to PING from master: '{pong}'"));
    }
    let (auth, user, port) = {
        let cfg = sh.config.read();
        (
            super::directive(&cfg, "masterauth"),
            super::directive(&cfg, "masteruser"),
            cfg.port,
        )
    };
    if !auth.is_empty() {
        let r = if user.is_empty() {
            c.command(link, &[b"AUTH", auth.as_bytes()]).await?
        } else {
            c.command(link, &[b"AUTH", user.as_bytes(), auth.as_bytes()])
                .await?
        };
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let port = port.to_string();
    let r = c
        .command(link, &[b"REPLCONF", b"listening-port", port.as_bytes()])
        .await?;
    if r.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    let r = c
        .command(link, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    if r.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }
    let cached = link.replid.lock().clone();
    let offset = link.offset();
    let (id, off) = match (&cached, offset) {
        (Some(id), o) if o >= 0 => (id.clone(), (o + 1).to_string()),
        _ => ("?".to_string(), "-1".to_string()),
    };
    // A master handing over to its replica asks it to take over.
    let failover = super::failover::in_progress(sh);
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), off.as_bytes()];
    if failover {
        psync.push(b"FAILOVER");
    }
    let reply = c.command(link, &psync).await?;
    let reply = skip_newlines(&mut c, link, reply).await?;
    if failover {
        let accepted = reply.starts_with("+FULLRESYNC ") || reply.starts_with("+CONTINUE");
        super::failover::answered(sh, accepted);
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut w = rest.split_whitespace();
        let (Some(id), Some(off)) = (w.next(), w.next().and_then(|o| o.parse::<i64>().ok())) else {
            return Err(format!("bad FULLRESYNC reply: '{reply}'"));
        };
        full_resync(sh, link, &mut c).await?;
        link.db.store(0, Relaxed);
        // A new history: the backlog starts again at its offset.
        sh.propagate.feed.lock().backlog = None;
        *link.replid.lock() = Some(id.to_string());
        sh.repl.set_replid(id);
        link.offset.store(off, Relaxed);
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        if !id.is_empty() {
            *link.replid.lock() = Some(id.to_string());
            if sh.repl.follow_new_history(id, link.offset()) {
                tracing::info!("Master replication ID changed to {id}");
                // Our replicas continue from us under the new ID.
                super::master::disconnect_replicas(sh);
            }
        }
        tracing::info!("Successful partial resynchronization with master.");
    } else {
        return Err(format!("unexpected reply to PSYNC from master: '{reply}'"));
    }
    super::master::ensure_backlog(sh, Some(link.offset().max(0) as u64)).await;
    set_state(sh, link, CONNECTED);
    tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    apply_stream(sh, link, &mut c).await
}

/// Skips the `\n` keepalives a master sends while it prepares the RDB.
async fn skip_newlines(c: &mut Conn, link: &Link, mut line: String) -> Res<String> {
    while line.is_empty() {
        line = c.line(link).await?;
    }
    Ok(line)
}

/// Reads the RDB payload into a temp file in `dir`, then empties the
/// keyspace and loads the file, which becomes the `dbfilename` file, as
/// Redis's replicas do (`repl-diskless-load disabled`): memory never holds
/// the payload whole. The payload comes with its length (`$<len>`), or
/// streamed (`$EOF:<40-byte mark>`, after our `capa eof`), ending with the
/// mark: the master sends nothing after it until our first ACK, so the
/// end is where the last bytes read are the mark.
async fn full_resync(sh: &Arc<Shared>, link: &Link, c: &mut Conn) -> Res<()> {
    set_state(sh, link, TRANSFER);
    let first = c.line(link).await?;
    let head = skip_newlines(c, link, first).await?;
    let bad = || format!("bad protocol from master, reading the RDB length: '{head}'");
    let size = head.strip_prefix('$').ok_or_else(bad)?;
    let (len, mark) = match size.strip_prefix("EOF:") {
        Some(mark) if mark.len() == EOF_MARK => (None, mark.as_bytes()),
        Some(_) => return Err(bad()),
        None => (Some(size.parse::<u64>().map_err(|_| bad())?), &[][..]),
    };
    link.transfer_size
        .store(len.map_or(-1, |n| n as i64), Relaxed);
    link.transfer_read.store(0, Relaxed);
    match len {
        Some(n) => {
            tracing::info!("MASTER <-> REPLICA sync: receiving {n} bytes from master to disk")
        }
        None => tracing::info!(
            "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"
        ),
    }
    let (tmp, path) = crate::persist::snapshot::temp_path(sh);
    let _remove = super::RemoveOnDrop(&tmp);
    let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| {
        format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
    })?;
    let write_err = |e: std::io::Error| {
        format!("Write error writing to the DB file in MASTER <-> REPLICA synchronization: {e}")
    };
    let mut read = 0u64;
    // The last EOF_MARK bytes read (streamed payloads).
    let mut tail: Vec<u8> = Vec::with_capacity(2 * EOF_MARK);
    loop {
        if len == Some(read) || (len.is_none() && tail == mark) {
            break;
        }
        if c.buf.is_empty() {
            c.fill(link).await?;
        }
        let take = len.map_or(c.buf.len(), |n| ((n - read) as usize).min(c.buf.len()));
        let chunk = c.buf.split_to(take);
        file.write_all(&chunk).await.map_err(write_err)?;
        read += take as u64;
        link.transfer_read.store(read, Relaxed);
        if len.is_none() {
            if chunk.len() >= EOF_MARK {
                tail.clear();
            }
            tail.extend_from_slice(&chunk[chunk.len().saturating_sub(EOF_MARK)..]);
            tail.drain(..tail.len().saturating_sub(EOF_MARK));
        }
    }
    if len.is_none() {
        // (The mark is not part of the RDB.)
        read -= EOF_MARK as u64;
        file.set_len(read).await.map_err(write_err)?;
    }
    file.sync_all().await.map_err(|e| {
        format!(
            "Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}"
        )
    })?;
    drop(file);
    sh.repl.net_in.fetch_add(read, Relaxed);
    tracing::info!("MASTER <-> REPLICA sync: received {read} bytes of RDB");
    // Our own replicas must resync with the new data.
    super::master::disconnect_replicas(sh);
    let s = sh.clone();
    let file = tmp.clone();
    tokio::task::spawn_blocking(move || load(&s, &file))
        .await
        .map_err(|_| "the loading task failed".to_string())??;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        tracing::warn!(
            "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
            path.display()
        );
    }
    Ok(())
}

/// A streamed RDB's end mark is this long (Redis's RDB_EOF_MARK_SIZE).
const EOF_MARK: usize = 40;

/// Empties the keyspace and loads the RDB file at `path`, holding every
/// shard.
fn load(sh: &Shared, path: &std::path::Path) -> Res<()> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let engine = &sh.engine;
    // Clients get LOADING meanwhile, as on Redis's replicas.
    let _loading = crate::shared::Loading::start(sh);
    let _hold = engine.hold(None);
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    {
        let mut txn = engine.lock_all(0);
        for db in 0..engine.databases() {
            drop(txn.take_db(db));
        }
    }
    engine.events.writes.set_loading(true);
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let opts = rdb::LoadOptions {
        checksum: true,
        now_ms: 0,
        key_delay_us: crate::persist::snapshot::key_load_delay(sh),
    };
    let r = rdb::load(engine, file, len, &opts);
    engine.events.writes.set_loading(false);
    let rep = r.map_err(|e| format!("failed loading the RDB from master: {e}"))?;
    crate::commands::functions::load_from_rdb(sh, &rep.functions)?;
    tracing::info!(keys = rep.keys, "MASTER <-> REPLICA sync: loaded the RDB");
    Ok(())
}

/// Applies the master's stream until the link fails.
async fn apply_stream(sh: &Arc<Shared>, link: &Link, c: &mut Conn) -> Res<()> {
    let handle = sh
        .clients
        .register(format!("{}:{}", link.host, link.port), String::new(), false);
    let mut client = Client::new(handle, true);
    client.db = link.db.load(Relaxed);
    sh.repl.master_client.store(client.id, Relaxed);
    let r = apply_loop(sh, link, c, &mut client).await;
    link.read_ahead.store(0, Relaxed);
    crate::commands::multi::discard_all(sh, &mut client);
    sh.clients.unregister(client.id);
    r
}

async fn apply_loop(sh: &Arc<Shared>, link: &Link, c: &mut Conn, client: &mut Client) -> Res<()> {
    let mut parser = RequestParser::new();
    let limits = Limits {
        max_bulk_len: sh.hot.proto_max_bulk_len.load(Relaxed) as usize,
        ..Limits::default()
    };
    let mut out = Vec::new();
    // Stream bytes applied but not yet counted: a transaction's, until EXEC.
    let mut unproxied = Vec::new();
    let mut ack = tokio::time::interval(Duration::from_secs(1));
    send_ack(c, link).await?;
    let mut pauses = sh.pause.changes();
    loop {
        let mut big = false;
        // A CLIENT PAUSE holding the next command back: until when.
        let mut held = None;
        loop {
            match parser.parse(&c.buf, &limits) {
                Ok(Parse::Request { consumed }) => {
                    big |= consumed > BIG_COMMAND;
                    let args = parser.args(&c.buf);
                    let is =
                        |i: usize, w: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w));
                    pauses.mark_unchanged();
                    // Redis pauses its master client too: the stream is
                    // read, not applied, until the pause is over.
                    held = crate::pause::holds(sh, client, &args);
                    if held.is_some() {
                        break;
                    }
                    if is(0, b"replconf") && is(1, b"getack") {
                        // The ACK tells the offset before the GETACK, as Redis's.
                        send_ack(c, link).await?;
                        applied(sh, link, client, &mut unproxied, &c.buf[..consumed]);
                    } else {
                        let _gate = sh.repl.apply_gate.lock();
                        larder_engine::txn::as_master_stream(|| {
                            if is(0, crate::memcache::aof::MCSET) {
                                // A memcached item from a Larder master (as the AOF loader does).
                                if let Err(e) =
                                    crate::memcache::aof::load_item(sh, client.db, &args)
                                {
                                    tracing::warn!("Bad memcached item from master: {e}");
                                }
                            } else {
                                out.clear();
                                let name = args.get(0).map(|a| a.to_ascii_lowercase());
                                crate::dispatch::dispatch(sh, client, args, &mut out);
                                if out.first() == Some(&b'-') {
                                    log_error_reply(sh, name.as_deref(), &out);
                                }
                            }
                        });
                        applied(sh, link, client, &mut unproxied, &c.buf[..consumed]);
                    }
                    c.buf.advance(consumed);
                    sh.repl.net_in.fetch_add(consumed as u64, Relaxed);
                }
                Ok(Parse::Skip { consumed }) => {
                    applied(sh, link, client, &mut unproxied, &c.buf[..consumed]);
                    c.buf.advance(consumed);
                }
                Ok(Parse::Incomplete { .. }) => break,
                Err(e) => return Err(format!("protocol error from master: {e:?}")),
            }
        }
        if big {
            c.release();
        }
        link.read_ahead
            .store((c.buf.len() + unproxied.len()) as u64, Relaxed);
        let paused = async {
            match held {
                Some(end) => crate::pause::until(end, &mut pauses).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = c.fill(link) => {
                r?;
            }
            _ = ack.tick() => send_ack(c, link).await?,
            _ = paused => {}
            // CLIENT KILL of the master client drops the link, as in Redis:
            // it reconnects and resumes (partial resync).
            bits = client.handle.events.wait() => {
                if bits & crate::signal::STOP != 0 {
                    return Err("the master client was killed".into());
                }
            }
        }
    }
}

/// A command of the master's stream failed here: the data may have
/// diverged. Logged as Redis logs it (its suite looks for the line), and
/// counted in INFO's `unexpected_error_replies`.
fn log_error_reply(sh: &Shared, name: Option<&[u8]>, reply: &[u8]) {
    sh.stats.unexpected_error_replies.fetch_add(1, Relaxed);
    let text = String::from_utf8_lossy(&reply[1..reply.len().min(4096)]);
    let known = name.filter(|n| sh.commands.lookup(n).is_some());
    let command = known.map_or("<unknown>".into(), String::from_utf8_lossy);
    tracing::warn!(
        "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{command}'",
        text.trim_end()
    );
}

/// Stream bytes `bytes` were applied. Outside a transaction they and any
/// held before go to our backlog and count in our offset; inside one they
/// wait for its end (Redis's `reploff` excludes an unfinished MULTI, so a
/// link lost in the middle resumes from before it).
fn applied(sh: &Shared, link: &Link, client: &Client, held: &mut Vec<u8>, bytes: &[u8]) {
    if client.tx.in_multi() || !held.is_empty() {
        held.extend_from_slice(bytes);
        if client.tx.in_multi() {
            return;
        }
    }
    let done: &[u8] = if held.is_empty() { bytes } else { held };
    sh.propagate.feed.proxy(done);
    link.offset.fetch_add(done.len() as i64, Relaxed);
    link.db.store(client.db, Relaxed);
    held.clear();
}

async fn send_ack(c: &mut Conn, link: &Link) -> Res<()> {
    let off = link.offset().max(0).to_string();
    let mut out = Vec::with_capacity(48);
    crate::propagate::encode(&mut out, [&b"REPLCONF"[..], b"ACK", off.as_bytes()]);
    c.s.write_all(&out).await.map_err(|e| e.to_string())
}

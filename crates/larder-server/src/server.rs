//! Listening sockets, accepting clients, the periodic cron, and shutdown.
//!
//! `Server::bind` opens every `bind` address (a leading `-` marks an address
//! that may be unavailable, as in Redis's default `bind * -::*`) and
//! the optional Unix socket; `Server::run` accepts until SHUTDOWN or a signal.
//! Each connection is a tokio task. The cron runs `hz` times a second: active
//! expiry with a budget of 25% of its period, and the ops/sec sampler.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_engine::{Engine, EngineOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};

use crate::config::Config;
use crate::shared::Shared;

pub use larder_engine::keyspace::MemoryGauge as Gauge;

pub struct Server {
    shared: Arc<Shared>,
    tcp: Vec<TcpListener>,
    unix: Option<UnixListener>,
    /// The memcached protocol's listeners (`memcache/`).
    memcache: crate::memcache::Listeners,
}

const PROTECTED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

impl Server {
    /// Builds the engine and binds the listeners. `gauge` measures used
    /// memory for `maxmemory` (the binary passes its allocator's count).
    pub async fn bind(config: Config, gauge: Option<Gauge>) -> io::Result<Server> {
        let mut engine = Engine::new(EngineOptions {
            databases: config.databases,
            shards: config.shards,
        });
        if let Some(g) = gauge {
            engine = engine.with_memory_gauge(g);
        }
        let tcp = bind_all(&config.bind, config.port, config.tcp_backlog, &[])?;
        let unix = match &config.unixsocket {
            Some(path) => Some(bind_unix(path, config.unixsocketperm)?),
            None => None,
        };
        if tcp.is_empty() && unix.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        }
        let memcache = crate::memcache::bind(&config)?;
        let table = crate::commands::table();
        let shared = Arc::new(Shared::new(config, engine, table));
        crate::acl::load_at_startup(&shared).map_err(std::io::Error::other)?;
        let startup = shared.engine.used_memory() as u64;
        shared.admin.mem_startup.store(startup, Relaxed);
        Ok(Server {
            shared,
            tcp,
            unix,
            memcache,
        })
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Where the memcached protocol listens (empty when off).
    pub fn memcache_addrs(&self) -> Vec<SocketAddr> {
        self.memcache
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The memcached protocol's unix socket, if any.
    pub fn memcache_unixsocket(&self) -> Option<&str> {
        self.memcache.unix.as_ref().map(|(_, path)| path.as_str())
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Loads the dataset, then serves until SHUTDOWN (or
    /// `Shared::request_shutdown`). RESP clients are served during a load
    /// that takes more than [`SHORT_LOAD`], as Redis serves them during a
    /// long one (see [`load`]); the memcached protocols, the cron and
    /// replication start once the data is in.
    pub async fn run(self) -> io::Result<()> {
        let Server {
            shared,
            tcp,
            unix,
            memcache,
        } = self;
        let mut tasks = Vec::new();
        // Before any client runs: none may see the dataset before it is in.
        shared.hot.loading.store(true, Relaxed);
        let s = shared.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            let _loading = crate::shared::Loading::start(&s);
            crate::persist::snapshot::start(&s)?;
            crate::persist::aof::start(&s)
        });
        // A short load ends before anyone is served, as in Redis, which
        // answers clients only between the chunks of a long one.
        let short = tokio::time::timeout(SHORT_LOAD, &mut task).await.ok();
        for l in tcp {
            listen(&shared, l);
        }
        if let Some(l) = unix {
            tasks.push(tokio::spawn(accept_unix(shared.clone(), l)));
        }
        let outcome = match short {
            Some(done) => loaded(done),
            None => load(&shared, task).await,
        };
        if !matches!(outcome, Ok(true)) {
            for a in shared.accepting.lock().drain(..) {
                a.task.abort();
            }
            return outcome.map(|_| ());
        }
        tracing::info!(pid = std::process::id(), "Ready to accept connections");
        if !memcache.is_empty() {
            tasks.push(tokio::spawn(crate::memcache::cron(shared.clone())));
        }
        // The memcached threads run until the server stops (UDP sockets
        // have no accept loop to hold them).
        let mut _mc_threads = None;
        if !memcache.is_empty() {
            let n = crate::memcache::threads::count(shared.config.read().memcache_threads);
            let threads = Arc::new(crate::memcache::threads::Threads::start(n).await?);
            _mc_threads = Some(threads.clone());
            for l in memcache.tcp {
                let accept = crate::memcache::accept(shared.clone(), l, threads.clone());
                tasks.push(tokio::spawn(accept));
            }
            for sock in &memcache.udp {
                threads.serve_udp(&shared, sock)?;
            }
            if let Some((l, path)) = memcache.unix {
                let accept = crate::memcache::accept_unix(shared.clone(), l, path, threads);
                tasks.push(tokio::spawn(accept));
            }
        }
        tasks.push(tokio::spawn(cron(shared.clone())));
        crate::replication::start(&shared);
        let _ = crate::oom::apply(&shared.config.read(), shared.repl.is_replica());
        tasks.push(tokio::spawn(crate::replication::cron(shared.clone())));
        let mut stop = shared.shutdown.subscribe();
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        for t in &tasks {
            t.abort();
        }
        for a in shared.accepting.lock().drain(..) {
            a.task.abort();
        }
        let c = shared.config.read();
        for p in [&c.unixsocket, &c.memcache_unixsocket]
            .into_iter()
            .flatten()
        {
            let _ = std::fs::remove_file(p);
        }
        drop(c);
        crate::persist::aof::stop(&shared);
        Ok(())
    }
}

/// How long a load may take before clients are served during it.
const SHORT_LOAD: std::time::Duration = std::time::Duration::from_millis(100);

/// The dataset loads (the AOF, or else the RDB file) on a blocking thread
/// (`task`) while RESP clients are served, as Redis's loadDataFromDisk
/// serves them between chunks: a command without the `loading` flag gets
/// `-LOADING` (INFO, CONFIG GET and the like run), INFO says `loading:1`,
/// and a shutdown meanwhile saves nothing (the data is not all in). Waits
/// for the end of the load; false when a shutdown came first. (`run`
/// raises the loading flag before anyone is served; the load's guard
/// lowers it.)
async fn load(
    shared: &Arc<Shared>,
    task: tokio::task::JoinHandle<io::Result<()>>,
) -> io::Result<bool> {
    let mut stop = shared.shutdown.subscribe();
    tokio::select! {
        done = task => loaded(done),
        _ = stop.wait_for(|stopped| *stopped) => Ok(false),
    }
}

/// The outcome of the loading thread.
fn loaded(done: Result<io::Result<()>, tokio::task::JoinError>) -> io::Result<bool> {
    done.map_err(|_| io::Error::other("the loading thread failed"))??;
    Ok(true)
}

/// A `bind` entry: whether it is optional (a leading `-`), and the address
/// it names at `port` (`*` is every IPv4 address, `::*` every IPv6 one;
/// `None` if unparsable).
pub(crate) fn parse_bind(entry: &str, port: u16) -> (bool, Option<SocketAddr>) {
    let (optional, host) = match entry.strip_prefix('-') {
        Some(h) => (true, h),
        None => (false, entry),
    };
    let ip = match host {
        "*" => Some(IpAddr::from([0, 0, 0, 0])),
        "::*" => Some(IpAddr::from([0u16; 8])),
        h => h.parse().ok(),
    };
    (optional, ip.map(|ip| SocketAddr::new(ip, port)))
}

/// A unix socket listener at `path` (replacing a stale socket file), with
/// permissions `perm` (0: as the umask leaves them).
pub(crate) fn bind_unix(path: &std::path::Path, perm: u32) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
    }
    Ok(l)
}

/// Listeners on every `bind` address at `port` (none for port 0) but those
/// in `keep` (already listening); an address marked optional (`-`) that
/// cannot be bound is skipped.
pub(crate) fn bind_all(
    bind: &[String],
    port: u16,
    backlog: u32,
    keep: &[SocketAddr],
) -> io::Result<Vec<TcpListener>> {
    let mut tcp = Vec::new();
    if port == 0 {
        return Ok(tcp);
    }
    for b in bind {
        let addr = match parse_bind(b, port) {
            (_, Some(addr)) => addr,
            (true, None) => continue,
            (false, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid bind address '{b}'"),
                ))
            }
        };
        let (optional, host) = (b.starts_with('-'), addr.ip());
        if keep.contains(&addr) {
            continue;
        }
        match bind_tcp(addr, backlog) {
            Ok(l) => tcp.push(l),
            Err(_) if optional => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    // Redis's words: harnesses retry another port on them.
                    format!(
                        "could not bind {host}:{port}: {e}. \
                         Failed listening on port {port} (TCP), aborting."
                    ),
                ));
            }
        }
    }
    Ok(tcp)
}

/// CONFIG SET port / bind: listens on the new addresses first (an error
/// leaves the old listeners and the old setting in place, as Redis's
/// rollback does), then stops accepting on the old ones. Connected clients
/// stay. (The memcached listener keeps its addresses.)
pub(crate) fn rebind(shared: &Shared, bind: &[String], port: u16) -> io::Result<()> {
    let backlog = shared.config.read().tcp_backlog;
    let me = crate::persist::snapshot::server_arc(shared)
        .ok_or_else(|| io::Error::other("the server is not running"))?;
    let mut accepting = shared.accepting.lock();
    // Addresses listened on already stay as they are (binding them again
    // would fail while their listener holds them).
    let current: Vec<SocketAddr> = accepting.iter().map(|a| a.addr).collect();
    let fresh = bind_all(bind, port, backlog, &current)?;
    accepting.retain(|a| {
        let keep = bind.iter().any(|b| parse_bind(b, port).1 == Some(a.addr));
        if !keep {
            a.task.abort();
        }
        keep
    });
    drop(accepting);
    for l in fresh {
        listen(&me, l);
    }
    Ok(())
}

/// A listening address's accept task, and a second handle on its socket
/// (a dup: valid whatever the task's state) that shutdown uses to stop
/// listening at once.
pub struct Accepting {
    pub addr: SocketAddr,
    pub task: tokio::task::AbortHandle,
    pub socket: socket2::Socket,
}

/// Accepts RESP clients on `l` from now on.
fn listen(shared: &Arc<Shared>, l: TcpListener) {
    let Ok(addr) = l.local_addr() else { return };
    let Ok(socket) = socket2::SockRef::from(&l).try_clone() else {
        return;
    };
    let task = tokio::spawn(accept_tcp(shared.clone(), l));
    shared.accepting.lock().push(Accepting {
        addr,
        task: task.abort_handle(),
        socket,
    });
}

pub(crate) fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        socket2::SockRef::from(&socket).set_only_v6(true)?;
    }
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Protected mode is on and no password is set: only loopback clients.
pub(crate) fn protected(shared: &Shared) -> bool {
    let c = shared.config.read();
    c.protected_mode && c.requirepass.is_none()
}

/// Refuses a client past `maxclients`, as Redis does, with a reply.
fn too_many(shared: &Shared) -> bool {
    let max = shared.config.read().maxclients;
    shared.clients.len() >= max
}

async fn accept_tcp(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Relaxed);
        if too_many(&shared) {
            shared.stats.rejected_connections.fetch_add(1, Relaxed);
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            continue;
        }
        let keepalive = shared.config.read().tcp_keepalive;
        if protected(&shared) && !peer.ip().is_loopback() {
            shared.stats.rejected_connections.fetch_add(1, Relaxed);
            let _ = stream.write_all(PROTECTED).await;
            continue;
        }
        let _ = stream.set_nodelay(true);
        if keepalive > 0 {
            let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
        }
        let laddr = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tokio::spawn(crate::conn::serve(
            shared.clone(),
            stream,
            peer.to_string(),
            laddr,
            false,
        ));
    }
}

async fn accept_unix(shared: Arc<Shared>, listener: UnixListener) {
    let path = shared
        .config
        .read()
        .unixsocket
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Relaxed);
        if too_many(&shared) {
            shared.stats.rejected_connections.fetch_add(1, Relaxed);
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            continue;
        }
        tokio::spawn(crate::conn::serve(
            shared.clone(),
            stream,
            format!("{path}:0"),
            path.clone(),
            true,
        ));
    }
}

/// `hz` times a second: active expiry (at most 25% of the period), output
/// buffer soft limits and stats sampling.
async fn cron(shared: Arc<Shared>) {
    let mut tick: u64 = 0;
    loop {
        let hz = shared.config.read().hz.clamp(1, 500);
        let period = Duration::from_micros(1_000_000 / u64::from(hz));
        tokio::time::sleep(period).await;
        if shared.hot.cron_paused.load(Relaxed) {
            continue;
        }
        let engine_shared = shared.clone();
        let max_tracked = shared.config.read().tracking_table_max_keys;
        // Expiry takes shard locks: run it off the async workers.
        let _ = tokio::task::spawn_blocking(move || {
            let engine = &engine_shared.engine;
            let started = Instant::now();
            engine.active_expire_cycle(period / 4);
            let took = started.elapsed();
            engine_shared.admin.event_latency("expire-cycle", took);
            engine_shared
                .stats
                .expire_cycle_us
                .fetch_add(took.as_micros() as u64, Relaxed);
            crate::persist::aof::cron(&engine_shared);
            crate::persist::snapshot::cron(&engine_shared);
            engine_shared.tracking.cron(engine, max_tracked);
        })
        .await;
        if tick.is_multiple_of(u64::from(hz)) {
            crate::commands::client_cmd::resize_buffers(&shared);
            shared.migrate.close_idle();
        }
        // Every tick, so a soft limit's seconds end on time (Redis checks in
        // clientsCron too, not only when a push arrives).
        for h in shared.clients.all() {
            h.outbox.enforce_limit(&shared.pubsub.limits);
        }
        crate::client_eviction::cron(&shared);
        tick += 1;
        let st = &shared.stats;
        let now = Instant::now();
        let mut rates = st.rates.lock();
        rates
            .ops
            .record(now, st.total_commands_processed.load(Relaxed));
        rates
            .net_input
            .record(now, st.total_net_input_bytes.load(Relaxed));
        rates
            .net_output
            .record(now, st.total_net_output_bytes.load(Relaxed));
        rates
            .repl_input
            .record(now, shared.repl.net_in.load(Relaxed));
        rates
            .repl_output
            .record(now, shared.repl.net_out.load(Relaxed));
    }
}

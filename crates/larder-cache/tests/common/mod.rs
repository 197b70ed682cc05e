//! Test support: cache servers (Larder in-process through larder-server's
//! library API, real redis-server as a peer, a 3-node Redis Cluster), and
//! databases: SQLite stores in temp dirs, and a private PostgreSQL started
//! once per test binary.
//!
//! `LARDER_REQUIRE_PEERS=1` turns a missing redis-server, redis-cli or
//! PostgreSQL into a failure instead of a skip.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use larder_cache::{Cache, CacheBuilder, SqlStore};

pub mod wb;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Something listens on `port`. A connect to a port nobody listens on can
/// succeed when the kernel picks that same port as the source (a TCP
/// self-connection); that one does not count.
fn listening(port: u16) -> bool {
    matches!(TcpStream::connect(("127.0.0.1", port)),
        Ok(s) if s.local_addr().ok() != s.peer_addr().ok())
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh directory under the system temp dir, named for this process.
/// Directories left by test processes that have ended are removed first
/// (a test binary has no teardown hook, so its own are left to the next run).
pub fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_dead_tempdirs);
    let d = std::env::temp_dir().join(format!(
        "larder-cache-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn sweep_dead_tempdirs() {
    // Whether a process is alive is read from /proc (Linux).
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("larder-cache-") else {
            continue;
        };
        // larder-cache-<tag>-<pid>-<n>
        let pid = rest.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A cache server under test.
pub enum Server {
    /// Larder on its own runtime thread; `stop` closes every connection.
    Larder {
        port: u16,
        shared: Arc<larder_server::Shared>,
    },
    Redis {
        port: u16,
        child: Child,
        dir: PathBuf,
    },
    /// A Redis Cluster (see [`cluster`]).
    Cluster(Cluster),
}

impl Server {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// The port of the server (a cluster: of its first node).
    pub fn port(&self) -> u16 {
        match self {
            Server::Larder { port, .. } | Server::Redis { port, .. } => *port,
            Server::Cluster(c) => c.ports[0],
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Server::Larder { .. } => "larder",
            Server::Redis { .. } => "redis",
            Server::Cluster(_) => "redis-cluster",
        }
    }

    /// A cache builder for namespace `ns` on this server (or cluster).
    pub fn builder(&self, ns: &str) -> CacheBuilder {
        match self {
            Server::Cluster(c) => Cache::builder(ns).cluster(c.urls()),
            _ => Cache::builder(ns).server(self.url()),
        }
    }

    /// The URLs of the cluster's nodes (the server's URL otherwise).
    pub fn seeds(&self) -> Vec<String> {
        match self {
            Server::Cluster(c) => c.urls(),
            _ => vec![self.url()],
        }
    }

    /// Kills the server (Larder: shuts its listeners and connections down).
    pub fn kill(&mut self) {
        match self {
            Server::Larder { shared, port } => {
                shared.request_shutdown();
                let deadline = Instant::now() + Duration::from_secs(5);
                while TcpStream::connect(("127.0.0.1", *port)).is_ok() && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Server::Redis { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::Cluster(c) => c.kill(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if let Server::Redis { dir, .. } = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Larder, in process, on a free port.
pub fn larder() -> Server {
    larder_on(free_port())
}

pub fn larder_on(port: u16) -> Server {
    let config = larder_server::Config {
        port,
        bind: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = larder_server::Server::bind(config, None)
                .await
                .expect("bind");
            let _ = tx.send(server.shared());
            let _ = server.run().await;
        });
    });
    let shared = rx.recv().expect("server started");
    wait_for_port(port);
    Server::Larder { port, shared }
}

fn redis_bin() -> String {
    std::env::var("LARDER_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

fn peers_required() -> bool {
    std::env::var("LARDER_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// A missing peer: fails when `LARDER_REQUIRE_PEERS=1`, else a notice.
fn missing(what: &str) -> bool {
    if peers_required() {
        panic!("{what} not found and LARDER_REQUIRE_PEERS=1");
    }
    eprintln!("SKIP: {what} not found");
    false
}

/// Whether redis-server is installed; prints a skip notice when not, and
/// fails when `LARDER_REQUIRE_PEERS=1`.
pub fn have_redis() -> bool {
    Command::new(redis_bin()).arg("--version").output().is_ok() || missing("redis-server")
}

/// A real redis-server, or None (with a notice) when it is not installed
/// and peers are not required.
pub fn redis() -> Option<Server> {
    if !have_redis() {
        return None;
    }
    redis_on(free_port())
}

/// A real redis-server on `port` (peer presence checked by [`redis`]).
pub fn redis_on(port: u16) -> Option<Server> {
    let bin = redis_bin();
    let dir = tempdir("redis");
    let child = Command::new(&bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    wait_for_port(port);
    Some(Server::Redis { port, child, dir })
}

/// Larder, then redis-server when available: the servers a test runs on.
pub fn servers() -> Vec<Server> {
    let mut v = vec![larder()];
    v.extend(redis());
    v
}

/// A Redis Cluster of three masters (no replicas), each redis-server in its
/// own temp dir; killed on drop.
pub struct Cluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Cluster {
    /// Seed URLs, one per node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Cluster {
    fn kill(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a 3-master Redis Cluster (redis-server `--cluster-enabled yes`
/// on free ports, joined with `redis-cli --cluster create`) and waits for
/// `cluster_state:ok` on every node; None (with a notice) when redis-server
/// or redis-cli is missing and peers are not required.
pub fn cluster() -> Option<Server> {
    if !have_redis() {
        return None;
    }
    if Command::new("redis-cli").arg("--version").output().is_err() && !missing("redis-cli") {
        return None;
    }
    let dir = tempdir("cluster");
    let mut cluster = Cluster {
        ports: Vec::new(),
        children: Vec::new(),
        dir: dir.clone(),
    };
    for i in 0..3 {
        let (port, bus) = (free_port(), free_port());
        let node_dir = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&node_dir).expect("node dir");
        let child = Command::new(redis_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus.to_string(),
            ])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&node_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        cluster.children.push(child);
        cluster.ports.push(port);
        wait_for_port(port);
    }
    let nodes: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let out = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        out.status.success(),
        "cluster create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for port in &cluster.ports {
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "cluster", "info"])
                .output()
                .expect("redis-cli cluster info");
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "cluster never reached state ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Some(Server::Cluster(cluster))
}

/// A private PostgreSQL: initdb'd in a temp dir (socket there too), on a
/// free port, fsync off. Started at most once per test binary by a small
/// supervisor shell that stops it and removes its directory when this
/// process exits (its stdin, a pipe from us, reaches EOF), however the
/// process ends.
pub struct Postgres {
    pub url: String,
    _supervisor: Mutex<(Child, ChildStdin)>,
}

/// The PostgreSQL binaries: `LARDER_PG_BIN`, else the newest
/// /usr/lib/postgresql/*/bin, else the PATH.
fn pg_bin() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("LARDER_PG_BIN") {
        return Some(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    })
}

/// The shared PostgreSQL, or None (with a notice) when it is not installed
/// and peers are not required.
pub fn postgres() -> Option<&'static Postgres> {
    static PG: OnceLock<Option<Postgres>> = OnceLock::new();
    PG.get_or_init(|| match pg_bin() {
        Some(bin) => Some(start_postgres(&bin)),
        None => {
            missing("PostgreSQL (initdb, pg_ctl)");
            None
        }
    })
    .as_ref()
}

fn start_postgres(bin: &Path) -> Postgres {
    let top = tempdir("pg");
    let data = top.join("data");
    let port = free_port();
    // PostgreSQL refuses to run as root: run it as the `postgres` user then.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let run_as = if root {
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&top)
            .status()
            .expect("chown");
        assert!(
            chown.success(),
            "chown of the PostgreSQL dir failed (no postgres user?)"
        );
        "runuser -u postgres --"
    } else {
        ""
    };
    let initdb = Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"{run_as} "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C"#
        ))
        .env("BIN", bin)
        .env("DATA", &data)
        .output()
        .expect("initdb");
    assert!(
        initdb.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&initdb.stderr)
    );
    let script = format!(
        r#"{run_as} "$BIN/pg_ctl" -D "$DATA" -l "$TOP/log" -w -t 60 -o "-p $PORT -k $TOP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null || {{ cat "$TOP/log" >&2; exit 1; }}
echo ready
read -r _ || true
{run_as} "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$TOP""#
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BIN", bin)
        .env("DATA", &data)
        .env("TOP", &top)
        .env("PORT", port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the PostgreSQL supervisor");
    let stdin = child.stdin.take().expect("supervisor stdin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("supervisor stdout"))
        .read_line(&mut line)
        .expect("supervisor output");
    assert_eq!(line.trim(), "ready", "PostgreSQL did not start");
    eprintln!("PostgreSQL ({}) on port {port}", bin.display());
    Postgres {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
        _supervisor: Mutex::new((child, stdin)),
    }
}

/// The databases a test runs on, each with a fresh table: SQLite, then
/// PostgreSQL when available.
pub async fn databases(tag: &str) -> Vec<(&'static str, SqlStore)> {
    let mut v = vec![("sqlite", sqlite(tag).await)];
    if let Some(pg) = postgres() {
        static N: AtomicUsize = AtomicUsize::new(0);
        let table = format!(
            "{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let store = SqlStore::connect(&pg.url, &table)
            .await
            .expect("PostgreSQL store");
        v.push(("postgres", store));
    }
    v
}

/// A SQLite key-value store in a fresh temp dir.
pub async fn sqlite(table: &str) -> SqlStore {
    let dir = tempdir("db");
    let url = format!("sqlite:{}?mode=rwc", dir.join("db.sqlite").display());
    SqlStore::connect(&url, table).await.expect("sqlite store")
}

/// A unique namespace per test (servers are shared by nothing, but keep
/// names readable in MONITOR output).
pub fn ns(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}{}", N.fetch_add(1, Ordering::SeqCst))
}

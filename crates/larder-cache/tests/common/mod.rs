//! Test support: cache servers (Larder in-process through larder-server's
//! library API, real redis-server as a peer), SQLite stores in temp dirs.
//!
//! `LARDER_REQUIRE_PEERS=1` turns a missing redis-server into a failure
//! instead of a skip.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_cache::SqlStore;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "larder-cache-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
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
}

impl Server {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    pub fn port(&self) -> u16 {
        match self {
            Server::Larder { port, .. } | Server::Redis { port, .. } => *port,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Server::Larder { .. } => "larder",
            Server::Redis { .. } => "redis",
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

/// Whether redis-server is installed; prints a skip notice when not, and
/// fails when `LARDER_REQUIRE_PEERS=1`.
pub fn have_redis() -> bool {
    if Command::new(redis_bin()).arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var("LARDER_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("redis-server not found and LARDER_REQUIRE_PEERS=1");
    }
    eprintln!("SKIP: redis-server not found");
    false
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

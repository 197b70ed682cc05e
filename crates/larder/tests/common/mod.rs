//! Shared support for Larder's integration and differential tests.
//!
//! * [`start_larder`] / [`start_redis`] start a server on a free port in its
//!   own temporary directory and wait until it accepts connections; the
//!   returned [`ServerProc`] kills the process when dropped, so tests can run
//!   in parallel.
//! * [`RawClient`] is a tiny RESP client over a `TcpStream` that returns the
//!   *exact raw bytes* of each reply, so replies can be compared byte for byte.
//! * [`DiffSession`] / [`diff_case`] send the same command to Larder and to a
//!   real `redis-server` (the oracle) and assert identical replies, with a
//!   [`Cmp`] mode for the documented, server-specific differences.
//!
//! Environment:
//! * `LARDER_REQUIRE_PEERS=1`  — a missing `redis-server` is a failure, not a skip.
//! * `LARDER_DIFF_SELF=1`      — `start_larder` starts a second `redis-server`
//!   instead of Larder (validates that the test cases are deterministic).
//! * `LARDER_REDIS_SERVER=...` — path of the redis-server binary to use.
//! * `LARDER_TEST_KEEP=1`      — keep server temp dirs (and their logs).
//! * `LARDER_DIFF_VERBOSE=1`   — print each command and Redis's reply
//!   (run with `-- --nocapture`).
#![allow(dead_code)]

pub mod pair;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1, never the same twice in this process.
///
/// Asking the OS for port 0 and dropping the listener is racy when tests
/// run in parallel: two tests can be handed the same port before either
/// server binds it, and the loser's client then talks to the winner's
/// server (and sees it vanish when that test ends). Ports come instead from
/// a per-process counter (below the ephemeral range, offset by the process
/// id), skipping any that another process holds.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = 12_000 + (std::process::id() % 200) * 100;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (base + n % 20_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn env_is(name: &str, val: &str) -> bool {
    std::env::var(name).map(|v| v == val).unwrap_or(false)
}

/// `LARDER_REQUIRE_PEERS=1`: peers (redis-server, memcached) must be present.
/// A numeric setting from the environment (decimal or `0x` hex), else
/// `default`: seeds and iteration counts of the randomized tests.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            if let Some(h) = v.strip_prefix("0x") {
                u64::from_str_radix(h, 16).ok()
            } else {
                v.parse().ok()
            }
        })
        .unwrap_or(default)
}

pub fn require_peers() -> bool {
    env_is("LARDER_REQUIRE_PEERS", "1")
}

/// `LARDER_DIFF_VERBOSE=1`: print every command and Redis's reply
/// (use with `cargo test -- --nocapture`).
pub fn verbose() -> bool {
    env_is("LARDER_DIFF_VERBOSE", "1")
}

/// `LARDER_DIFF_SELF=1`: "Larder" is really a second redis-server.
pub fn self_mode() -> bool {
    env_is("LARDER_DIFF_SELF", "1")
}

fn make_tempdir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "larder-test-{}-{}-{}-{}",
        tag,
        std::process::id(),
        n,
        nanos
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A running server process. Dropping it kills the process, waits for it and
/// removes its temporary directory.
pub struct ServerProc {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub name: String,
}

impl ServerProc {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A memory figure of the process from `/proc/<pid>/status`, in bytes:
    /// `VmRSS` (resident now) or `VmHWM` (the peak of that).
    pub fn memory(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(path).expect("proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in proc status"));
        kb * 1024
    }

    /// A new raw connection to this server.
    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// The server's stdout+stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.join("server.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send SIGTERM (via `kill`) and wait up to `timeout` for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !env_is("LARDER_TEST_KEEP", "1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Spawn `make(port, dir)` and wait until the port accepts connections.
/// Retries on a fresh port when the process dies early (e.g. port taken by a
/// parallel test between `free_port` and the bind).
pub fn spawn_and_wait(name: &str, make: &dyn Fn(u16, &Path) -> Command) -> ServerProc {
    let dir = make_tempdir(name);
    let mut last_log = String::new();
    for _attempt in 0..5 {
        let port = free_port();
        let log_path = dir.join("server.log");
        let log = File::create(&log_path).expect("create server.log");
        let log2 = log.try_clone().expect("clone log handle");
        let mut cmd = make(port, &dir);
        let cmdline = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {name}: {e} ({cmd:?})"));
        let mut proc = ServerProc {
            child,
            port,
            dir: dir.clone(),
            name: name.to_string(),
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = proc.child.try_wait() {
                last_log = format!(
                    "{name} exited early with {status}\n  command: {cmdline}\n  log:\n{}",
                    proc.log()
                );
                // Keep the directory for the next attempt.
                let dir_keep = std::mem::take(&mut proc.dir);
                drop(proc);
                let _ = dir_keep;
                break;
            }
            if listens(proc.addr()) {
                // Settle: a server that dies right after accepting (seen
                // intermittently under a loaded full run) is reported and
                // started again rather than failing the test on first use.
                std::thread::sleep(Duration::from_millis(100));
                let alive = matches!(proc.child.try_wait(), Ok(None));
                if alive && listens(proc.addr()) {
                    wait_loaded(proc.addr());
                    return proc;
                }
                eprintln!(
                    "{name} on port {port} went away right after starting; log:\n{}",
                    proc.log()
                );
                let _ = proc.child.kill();
                let dir_keep = std::mem::take(&mut proc.dir);
                drop(proc);
                let _ = dir_keep;
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!(
                    "{name} did not accept connections on port {port} within 10 s\n  command: {cmdline}\n  log:\n{}",
                    proc.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("could not start {name}: {last_log}");
}

/// Waits while a RESP server answers PING with `-LOADING` (it serves
/// while its dataset loads, as Redis does), up to a minute. Anything else
/// (PONG, NOAUTH, a memcached `ERROR`, no answer) means it is ready.
pub fn wait_loaded(addr: SocketAddr) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        let mut buf = [0u8; 64];
        let loading = s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"-LOADING"));
        if !loading {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Path of redis-server: `$LARDER_REDIS_SERVER`, else `redis-server` on PATH.
pub fn redis_server_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LARDER_REDIS_SERVER") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

fn redis_command(bin: &Path, port: u16, dir: &Path, extra: &[String]) -> Command {
    let mut c = Command::new(bin);
    c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .current_dir(dir);
    c
}

/// Start a real redis-server (the oracle). `None` (with a printed SKIP
/// notice) when it is not installed, unless `LARDER_REQUIRE_PEERS=1`.
pub fn start_redis(extra_args: &[&str]) -> Option<ServerProc> {
    let Some(bin) = redis_server_path() else {
        if require_peers() {
            panic!("redis-server not found and LARDER_REQUIRE_PEERS=1");
        }
        println!("SKIP: redis-server not found");
        eprintln!("SKIP: redis-server not found");
        return None;
    };
    let extra: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
    Some(spawn_and_wait("redis", &|port, dir| {
        redis_command(&bin, port, dir, &extra)
    }))
}

/// Start a Redis Sentinel (`redis-server <conf> --sentinel`) whose config
/// file holds `config` (lines). `None` without redis-server, as
/// [`start_redis`].
#[allow(dead_code)]
pub fn start_sentinel(config: &str) -> Option<ServerProc> {
    let Some(bin) = redis_server_path() else {
        if require_peers() {
            panic!("redis-server not found and LARDER_REQUIRE_PEERS=1");
        }
        println!("SKIP: redis-server not found");
        return None;
    };
    Some(spawn_and_wait("sentinel", &|port, dir| {
        let conf = dir.join("sentinel.conf");
        std::fs::write(&conf, config).expect("write sentinel.conf");
        let mut c = Command::new(&bin);
        c.arg(&conf)
            .args([
                "--sentinel",
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--daemonize", "no"])
            .current_dir(dir);
        c
    }))
}

/// Path of the binary under test.
pub fn larder_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_larder"))
}

/// Start `larder server --port P --bind 127.0.0.1 <extra_args>` (or, with
/// `LARDER_DIFF_SELF=1`, a second redis-server with the same extra args).
pub fn start_larder(extra_args: &[&str]) -> ServerProc {
    let extra: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
    if self_mode() {
        let bin = redis_server_path().expect("LARDER_DIFF_SELF=1 needs redis-server");
        return spawn_and_wait("larder-self", &|port, dir| {
            redis_command(&bin, port, dir, &extra)
        });
    }
    let bin = larder_bin();
    // Tests run in parallel: no server may take memcached's default port
    // unless the test asks for a memcache port.
    let mut extra = extra;
    if !extra.iter().any(|a| a == "--memcache-port") {
        extra.extend(["--memcache-port".to_string(), "0".to_string()]);
    }
    spawn_and_wait("larder", &|port, dir| {
        let mut c = Command::new(&bin);
        c.args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(&extra)
            .current_dir(dir);
        c
    })
}

/// A memcached-speaking server for the memcache tests: Larder with its
/// memcache port (`larder_port_of` tells it), or real memcached.
pub struct McServer {
    pub proc: ServerProc,
    /// The port speaking the memcached protocol.
    pub port: u16,
}

/// Something listens at `addr`. A connect to a port nobody listens on can
/// succeed when the kernel picks that same port as the source (a TCP
/// self-connection); that one does not count.
pub fn listens(addr: std::net::SocketAddr) -> bool {
    matches!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)),
        Ok(s) if s.local_addr().ok() != s.peer_addr().ok())
}

/// Larder with `--memcache-port` on a free port (and `extra_args`).
pub fn start_larder_memcache(extra_args: &[&str]) -> McServer {
    for _ in 0..5 {
        let port = free_port();
        let p = port.to_string();
        let mut args = vec!["--memcache-port", p.as_str()];
        args.extend_from_slice(extra_args);
        let proc = start_larder(&args);
        if listens(std::net::SocketAddr::from(([127, 0, 0, 1], port))) {
            return McServer { proc, port };
        }
    }
    panic!("could not start larder with a memcache port");
}

/// Path of memcached, if installed.
pub fn memcached_path() -> Option<PathBuf> {
    ["/usr/bin/memcached", "/usr/local/bin/memcached"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Real memcached (`-u root`: it refuses to run as root otherwise) on a
/// free port (memcached has no port 0), or None with a notice when it is
/// missing (a failure under `LARDER_REQUIRE_PEERS=1`).
pub fn start_memcached(extra_args: &[&str]) -> Option<McServer> {
    let Some(bin) = memcached_path() else {
        if require_peers() {
            panic!("memcached not found and LARDER_REQUIRE_PEERS=1");
        }
        eprintln!("NOTICE: memcached not installed; skipping");
        return None;
    };
    let extra: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
    let proc = spawn_and_wait("memcached", &|port, dir| {
        let mut c = Command::new(&bin);
        c.args([
            "-u",
            "root",
            "-l",
            "127.0.0.1",
            "-U",
            "0",
            "-p",
            &port.to_string(),
        ])
        .args(&extra)
        .current_dir(dir);
        c
    });
    let port = proc.port;
    Some(McServer { proc, port })
}

// ---------------------------------------------------------------------------
// RESP client
// ---------------------------------------------------------------------------

/// Encode a command as a RESP multibulk.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    if from >= buf.len() {
        return None;
    }
    buf[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

fn parse_int(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("bad length/count line {:?}", esc(line)))
}

/// Parse one RESP2/RESP3 value starting at `pos`. `Ok(Some(end))` when a
/// complete value ends at `end`, `Ok(None)` when more bytes are needed.
fn parse_at(buf: &[u8], pos: usize) -> Result<Option<usize>, String> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let t = buf[pos];
    let Some(le) = find_crlf(buf, pos + 1) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..le];
    let next = le + 2;
    match t {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Ok(Some(next)),
        b'$' | b'!' | b'=' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some(next));
            }
            let end = next + n as usize;
            if end + 2 > buf.len() {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(format!("bulk of length {n} not followed by CRLF"));
            }
            Ok(Some(end + 2))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some(next));
            }
            let elems = if t == b'%' || t == b'|' { 2 * n } else { n };
            let mut p = next;
            for _ in 0..elems {
                match parse_at(buf, p)? {
                    Some(e) => p = e,
                    None => return Ok(None),
                }
            }
            if t == b'|' {
                // An attribute is followed by the reply it decorates.
                return parse_at(buf, p);
            }
            Ok(Some(p))
        }
        _ => Err(format!(
            "unexpected RESP type byte {:?} at {pos} in {}",
            t as char,
            esc(buf)
        )),
    }
}

/// Length of the first complete reply in `buf`, if any.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, String> {
    parse_at(buf, 0)
}

/// Split a raw aggregate reply into the raw bytes of its elements.
/// `None` if `raw` is not a (non-null) aggregate.
pub fn aggregate_elements(raw: &[u8]) -> Option<Vec<Vec<u8>>> {
    let t = *raw.first()?;
    if !matches!(t, b'*' | b'~' | b'>' | b'%') {
        return None;
    }
    let le = find_crlf(raw, 1)?;
    let n = parse_int(&raw[1..le]).ok()?;
    if n < 0 {
        return None;
    }
    let elems = if t == b'%' { 2 * n } else { n };
    let mut p = le + 2;
    let mut out = Vec::new();
    for _ in 0..elems {
        let e = parse_at(raw, p).ok()??;
        out.push(raw[p..e].to_vec());
        p = e;
    }
    Some(out)
}

/// Payload of a bulk/simple/error/integer reply (without type byte and CRLF).
pub fn scalar_payload(raw: &[u8]) -> Option<Vec<u8>> {
    let t = *raw.first()?;
    let le = find_crlf(raw, 1)?;
    match t {
        b'+' | b'-' | b':' | b',' | b'(' | b'#' => Some(raw[1..le].to_vec()),
        b'$' | b'!' | b'=' => {
            let n = parse_int(&raw[1..le]).ok()?;
            if n < 0 {
                return None;
            }
            Some(raw[le + 2..le + 2 + n as usize].to_vec())
        }
        _ => None,
    }
}

/// Integer value of a `:` reply.
pub fn reply_int(raw: &[u8]) -> Option<i64> {
    if raw.first() != Some(&b':') {
        return None;
    }
    let p = scalar_payload(raw)?;
    std::str::from_utf8(&p).ok()?.parse().ok()
}

/// INFO's `blocked_clients` (-1 if missing).
pub fn blocked_clients(c: &mut RawClient) -> i64 {
    let info = c.cmd_str(&["INFO", "clients"]);
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:")?.trim().parse().ok())
        .unwrap_or(-1)
}

/// Polls until `c` counts `n` blocked clients (a command sent on another
/// connection has blocked); false after 5 s.
pub fn wait_blocked(c: &mut RawClient, n: i64) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while blocked_clients(c) != n {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Escape bytes for printing: printable ASCII as is, everything else as \xNN.
pub fn esc(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if s.len() > 2000 {
        let mut cut = 2000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(&format!("...({} bytes total)", b.len()));
    }
    s
}

/// Render a command for messages: `SET "k" "v"`.
pub fn fmt_cmd(args: &[&[u8]]) -> String {
    args.iter()
        .map(|a| format!("\"{}\"", esc(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a read ended without a complete reply.
#[derive(Debug)]
pub enum ReadError {
    Timeout,
    Closed,
    Io(std::io::Error),
    Invalid(String),
}

/// A raw RESP connection that returns each reply's exact bytes.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Default timeout for `read_reply`.
    pub timeout: Duration,
    eof: bool,
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        Self::connect_addr(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    pub fn connect_addr(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).ok();
        stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
        RawClient {
            stream,
            buf: Vec::new(),
            timeout: Duration::from_secs(10),
            eof: false,
        }
    }

    /// Write a command as a RESP multibulk.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode_command(args));
    }

    /// Write a command given as strings.
    pub fn send_str(&mut self, args: &[&str]) {
        let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&v);
    }

    /// Write raw bytes. Panics on error (use `try_send_raw` where the peer may
    /// already have closed the connection).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write failed: {e}"));
    }

    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read more bytes into the buffer, waiting until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<(), ReadError> {
        if self.eof {
            return Err(ReadError::Closed);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ReadError::Timeout);
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait)).ok();
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.eof = true;
                Err(ReadError::Closed)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(ReadError::Timeout)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                self.eof = true;
                Err(ReadError::Closed)
            }
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// Read one complete reply (raw bytes) or report why not.
    pub fn try_read_reply(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            match reply_len(&self.buf) {
                Ok(Some(n)) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => return Err(ReadError::Invalid(e)),
            }
            self.fill(deadline)?;
        }
    }

    /// Read exactly one reply; panics on timeout, close or garbage.
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply(self.timeout) {
            Ok(r) => r,
            Err(e) => panic!(
                "read_reply failed: {e:?}; buffered so far: {}",
                esc(&self.buf)
            ),
        }
    }

    /// One reply, or `None` on timeout/close.
    pub fn read_reply_timeout(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        self.try_read_reply(timeout).ok()
    }

    /// Send a command and read its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
    }

    /// `cmd` with string arguments.
    pub fn cmd_str(&mut self, args: &[&str]) -> Vec<u8> {
        self.send_str(args);
        self.read_reply()
    }

    /// Bytes received but not yet consumed as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the server has closed the connection. Waits up to 300 ms for a
    /// close that is on its way; buffered/pending data means "not closed yet".
    pub fn is_closed(&mut self) -> bool {
        self.is_closed_within(Duration::from_millis(300))
    }

    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        if self.eof {
            return true;
        }
        if !self.buf.is_empty() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .ok();
        let mut b = [0u8; 1];
        match self.stream.peek(&mut b) {
            Ok(0) => {
                self.eof = true;
                true
            }
            Ok(_) => false,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => {
                self.eof = true;
                true
            }
        }
    }

    /// Read everything until the server closes the connection or stays quiet
    /// for `quiet` (capped at `max` overall). Returns (bytes, closed).
    pub fn read_until_close_or_quiet(&mut self, quiet: Duration, max: Duration) -> (Vec<u8>, bool) {
        let start = Instant::now();
        loop {
            let deadline = (Instant::now() + quiet).min(start + max);
            match self.fill(deadline) {
                Ok(()) => continue,
                Err(ReadError::Closed) => return (std::mem::take(&mut self.buf), true),
                Err(_) => return (std::mem::take(&mut self.buf), false),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Differential comparison
// ---------------------------------------------------------------------------

/// How two replies are compared.
#[derive(Clone, Copy)]
pub enum Cmp {
    /// Byte-identical.
    Exact,
    /// Same RESP type byte; errors must still match exactly.
    TypeOnly,
    /// Aggregate replies compared as multisets of raw elements (order-free).
    Sorted,
    /// Integer replies may differ by at most this much (TTL/PTTL/...);
    /// non-integer replies must be identical.
    IntTolerance(i64),
    /// Both replies are passed through this normaliser, then compared exactly.
    Normalize(fn(&[u8]) -> Vec<u8>),
}

fn upper(s: &[u8]) -> String {
    String::from_utf8_lossy(s).to_ascii_uppercase()
}

/// CONFIG GET parameters whose values legitimately differ between servers.
pub const SERVER_SPECIFIC_CONFIG: &[&str] = &[
    "DIR",
    "PIDFILE",
    "LOGFILE",
    "PORT",
    "BIND",
    "DBFILENAME",
    "CONFIG-FILE",
    "EXECUTABLE",
    "UNIXSOCKET",
    "IO-THREADS",
    "ACLFILE",
    "APPENDDIRNAME",
    "SERVER-CPULIST",
];

/// The default comparison for a command: documented differences are
/// compared by type, time-dependent ones with tolerance, unordered ones
/// sorted. Everything else exactly.
pub fn default_cmp(args: &[&[u8]]) -> Cmp {
    let Some(name) = args.first() else {
        return Cmp::Exact;
    };
    let name = upper(name);
    let sub = args.get(1).map(|s| upper(s)).unwrap_or_default();
    match name.as_str() {
        "INFO" | "TIME" | "RANDOMKEY" | "LASTSAVE" | "COMMAND" | "HELLO" | "LOLWUT" | "SLOWLOG"
        | "LATENCY" | "DEBUG" | "MEMORY" => Cmp::TypeOnly,
        "CLIENT" if matches!(sub.as_str(), "LIST" | "ID" | "INFO") => Cmp::TypeOnly,
        "OBJECT" if matches!(sub.as_str(), "FREQ" | "IDLETIME" | "HELP") => Cmp::TypeOnly,
        "CONFIG" if sub == "GET" => {
            let specific = args[2..].iter().any(|p| {
                let p = upper(p);
                p.contains(['*', '?', '[']) || SERVER_SPECIFIC_CONFIG.contains(&p.as_str())
            });
            if specific {
                Cmp::TypeOnly
            } else {
                Cmp::Exact
            }
        }
        "KEYS" | "SMEMBERS" | "HKEYS" | "HVALS" | "HGETALL" | "SINTER" | "SUNION" | "SDIFF" => {
            Cmp::Sorted
        }
        "TTL" | "EXPIRETIME" => Cmp::IntTolerance(1),
        "PTTL" | "PEXPIRETIME" => Cmp::IntTolerance(500),
        _ => Cmp::Exact,
    }
}

/// Compare two replies under `mode`; `Err(reason)` when they differ.
pub fn compare_replies(mode: Cmp, l: &[u8], r: &[u8]) -> Result<(), String> {
    match mode {
        Cmp::Exact => (l == r).then_some(()).ok_or_else(|| "bytes differ".into()),
        Cmp::TypeOnly => {
            if l.first() != r.first() {
                return Err("reply types differ".into());
            }
            if l.first() == Some(&b'-') && l != r {
                return Err("errors differ".into());
            }
            Ok(())
        }
        Cmp::Sorted => match (aggregate_elements(l), aggregate_elements(r)) {
            (Some(mut a), Some(mut b)) => {
                a.sort();
                b.sort();
                (l[0] == r[0] && a == b)
                    .then_some(())
                    .ok_or_else(|| "sorted elements differ".into())
            }
            _ => (l == r).then_some(()).ok_or_else(|| "bytes differ".into()),
        },
        Cmp::IntTolerance(tol) => match (reply_int(l), reply_int(r)) {
            (Some(a), Some(b)) => ((a - b).abs() <= tol)
                .then_some(())
                .ok_or_else(|| format!("integers differ by more than {tol}")),
            _ => (l == r).then_some(()).ok_or_else(|| "bytes differ".into()),
        },
        Cmp::Normalize(f) => (f(l) == f(r))
            .then_some(())
            .ok_or_else(|| "normalised bytes differ".into()),
    }
}

/// Send the same command to both servers and assert identical replies
/// (with [`default_cmp`] normalisation). Returns Redis's reply.
pub fn diff_case(larder: &mut RawClient, redis: &mut RawClient, cmd: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
    diff_case_with(larder, redis, &args, default_cmp(&args))
}

/// [`diff_case`] with bytes and an explicit comparison mode.
pub fn diff_case_with(
    larder: &mut RawClient,
    redis: &mut RawClient,
    args: &[&[u8]],
    mode: Cmp,
) -> Vec<u8> {
    let l = larder.cmd(args);
    let r = redis.cmd(args);
    if let Err(why) = compare_replies(mode, &l, &r) {
        panic!(
            "\nDIFF MISMATCH ({why})\n  command: {}\n  larder : {}\n  redis  : {}\n",
            fmt_cmd(args),
            esc(&l),
            esc(&r)
        );
    }
    r
}

/// A Larder + Redis pair with one connection to each and a command history
/// for mismatch reports.
pub struct DiffSession {
    pub larder_proc: ServerProc,
    pub redis_proc: ServerProc,
    pub larder: RawClient,
    pub redis: RawClient,
    pub history: Vec<String>,
    /// Optional extra context printed on mismatch (e.g. the seed).
    pub context: String,
}

impl DiffSession {
    /// Start both servers with the same extra args. `None` = skip (no redis).
    pub fn start(extra_args: &[&str]) -> Option<DiffSession> {
        let redis_proc = start_redis(extra_args)?;
        let larder_proc = start_larder(extra_args);
        let larder = larder_proc.client();
        let redis = redis_proc.client();
        Some(DiffSession {
            larder_proc,
            redis_proc,
            larder,
            redis,
            history: Vec::new(),
            context: String::new(),
        })
    }

    /// Fresh connections to both servers (e.g. to reset SELECT / client state).
    pub fn reconnect(&mut self) {
        self.larder = self.larder_proc.client();
        self.redis = self.redis_proc.client();
    }

    /// A second, independent pair of connections.
    pub fn new_clients(&self) -> (RawClient, RawClient) {
        (self.larder_proc.client(), self.redis_proc.client())
    }

    fn fail(&self, args: &[&[u8]], why: &str, l: &[u8], r: &[u8]) -> ! {
        let start = self.history.len().saturating_sub(20);
        let mut hist = String::new();
        for (i, h) in self.history[start..].iter().enumerate() {
            let mut h = h.clone();
            if h.len() > 300 {
                let mut cut = 300;
                while !h.is_char_boundary(cut) {
                    cut -= 1;
                }
                h.truncate(cut);
                h.push_str(" ...");
            }
            hist.push_str(&format!("    #{:<5} {}\n", start + i, h));
        }
        panic!(
            "\nDIFF MISMATCH ({why}) {}\n  command: {}\n  larder : {}\n  redis  : {}\n  last commands:\n{}",
            self.context,
            fmt_cmd(args),
            esc(l),
            esc(r),
            hist
        );
    }

    /// Compare one command (bytes) under `mode`; returns Redis's reply.
    pub fn case_bytes_with(&mut self, args: &[&[u8]], mode: Cmp) -> Vec<u8> {
        self.history.push(fmt_cmd(args));
        let l = self.larder.cmd(args);
        let r = self.redis.cmd(args);
        if verbose() {
            println!("{}\n  -> {}", fmt_cmd(args), esc(&r));
        }
        if let Err(why) = compare_replies(mode, &l, &r) {
            self.fail(args, &why, &l, &r);
        }
        r
    }

    pub fn case_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.case_bytes_with(args, default_cmp(args))
    }

    /// Compare one command with default normalisation; returns Redis's reply.
    pub fn case(&mut self, cmd: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        self.case_bytes(&args)
    }

    pub fn case_with(&mut self, cmd: &[&str], mode: Cmp) -> Vec<u8> {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        self.case_bytes_with(&args, mode)
    }

    /// Run a script of commands.
    pub fn run(&mut self, cases: &[&[&str]]) {
        for c in cases {
            self.case(c);
        }
    }

    pub fn run_bytes(&mut self, cases: &[&[&[u8]]]) {
        for c in cases {
            self.case_bytes(c);
        }
    }

    /// Run on both sides without comparing (setup), asserting neither errors.
    pub fn both(&mut self, cmd: &[&str]) {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        self.history.push(format!("(setup) {}", fmt_cmd(&args)));
        let l = self.larder.cmd(&args);
        let r = self.redis.cmd(&args);
        if l.first() == Some(&b'-') || r.first() == Some(&b'-') {
            self.fail(&args, "setup command failed", &l, &r);
        }
    }

    /// FLUSHALL on both and back to DB 0.
    pub fn reset(&mut self) {
        self.case(&["SELECT", "0"]);
        self.case(&["FLUSHALL"]);
    }

    /// The full SCAN iteration (with optional MATCH/COUNT/TYPE args) on both
    /// servers; compares the *set* of keys returned, not cursors or order.
    pub fn scan_set(&mut self, extra: &[&str]) -> Vec<Vec<u8>> {
        let l = scan_all(&mut self.larder, extra);
        let r = scan_all(&mut self.redis, extra);
        self.history.push(format!("(scan all) {extra:?}"));
        match (l, r) {
            (Ok(l), Ok(r)) => {
                if l != r {
                    let lj: Vec<String> = l.iter().map(|k| esc(k)).collect();
                    let rj: Vec<String> = r.iter().map(|k| esc(k)).collect();
                    let args: Vec<&[u8]> = std::iter::once(&b"SCAN"[..])
                        .chain(extra.iter().map(|s| s.as_bytes()))
                        .collect();
                    self.fail(
                        &args,
                        "SCAN key sets differ",
                        lj.join(",").as_bytes(),
                        rj.join(",").as_bytes(),
                    );
                }
                r
            }
            (Err(l), Err(r)) => {
                if l != r {
                    self.fail(&[b"SCAN"], "SCAN errors differ", &l, &r);
                }
                Vec::new()
            }
            (l, r) => {
                let f = |x: Result<Vec<Vec<u8>>, Vec<u8>>| match x {
                    Ok(v) => format!("{} keys", v.len()).into_bytes(),
                    Err(e) => e,
                };
                self.fail(&[b"SCAN"], "SCAN: one side failed", &f(l), &f(r))
            }
        }
    }
}

/// Iterate SCAN to completion; returns the sorted, de-duplicated key set, or
/// the raw error reply.
pub fn scan_all(c: &mut RawClient, extra: &[&str]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    for _ in 0..100_000 {
        let mut args: Vec<&[u8]> = vec![b"SCAN", &cursor];
        args.extend(extra.iter().map(|s| s.as_bytes()));
        let reply = c.cmd(&args);
        if reply.first() == Some(&b'-') {
            return Err(reply);
        }
        let parts =
            aggregate_elements(&reply).unwrap_or_else(|| panic!("bad SCAN reply {}", esc(&reply)));
        assert_eq!(
            parts.len(),
            2,
            "SCAN reply must have 2 elements: {}",
            esc(&reply)
        );
        cursor = scalar_payload(&parts[0]).expect("cursor");
        for k in aggregate_elements(&parts[1]).expect("SCAN keys array") {
            keys.push(scalar_payload(&k).expect("key bulk"));
        }
        if cursor == b"0" {
            keys.sort();
            keys.dedup();
            return Ok(keys);
        }
    }
    panic!("SCAN did not terminate");
}

// ---------------------------------------------------------------------------
// Raw protocol comparison
// ---------------------------------------------------------------------------

/// What a server did with a raw byte string on a fresh connection.
#[derive(Debug, PartialEq, Eq)]
pub struct RawOutcome {
    pub bytes: Vec<u8>,
    pub closed: bool,
}

/// Send `chunks` (with `pause` between them) on a fresh connection and
/// collect everything until close or `quiet` of silence.
pub fn raw_outcome(port: u16, chunks: &[&[u8]], pause: Duration, quiet: Duration) -> RawOutcome {
    let mut c = RawClient::connect(port);
    for (i, ch) in chunks.iter().enumerate() {
        if i > 0 && !pause.is_zero() {
            std::thread::sleep(pause);
        }
        if c.try_send_raw(ch).is_err() {
            break;
        }
    }
    let (bytes, closed) = c.read_until_close_or_quiet(quiet, Duration::from_secs(20));
    RawOutcome { bytes, closed }
}

/// Run `raw_outcome` against both servers concurrently.
pub fn raw_outcome_pair(
    larder_port: u16,
    redis_port: u16,
    chunks: &[&[u8]],
    pause: Duration,
    quiet: Duration,
) -> (RawOutcome, RawOutcome) {
    std::thread::scope(|s| {
        let l = s.spawn(|| raw_outcome(larder_port, chunks, pause, quiet));
        let r = raw_outcome(redis_port, chunks, pause, quiet);
        (l.join().expect("larder raw thread"), r)
    })
}

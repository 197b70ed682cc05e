//! End-to-end runs of the load generator: against a Larder server started
//! in-process by the test (TCP and Unix socket), and against real
//! redis-server and memcached when installed (skipped with a notice unless
//! LARDER_REQUIRE_PEERS=1, which makes a missing peer a failure).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use larder_bench::{BenchArgs, Report};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn args(argv: &[&str]) -> BenchArgs {
    Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .args
}

fn measure(argv: &[&str]) -> Report {
    larder_bench::measure(&args(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e:#}"))
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
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
        assert!(
            Instant::now() < deadline,
            "nothing listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("larder-bench-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A Larder server on a background runtime, on TCP and a Unix socket.
fn start_larder(sock: &Path) -> u16 {
    let port = free_port();
    let config = larder_server::Config {
        port,
        bind: vec!["127.0.0.1".into()],
        unixsocket: Some(sock.to_path_buf()),
        ..Default::default()
    };
    let (bound, is_bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = larder_server::Server::bind(config, None).await.unwrap();
            bound.send(()).unwrap();
            server.run().await.unwrap();
        });
    });
    is_bound
        .recv()
        .expect("larder failed to bind (see its panic above)");
    port
}

fn row<'a>(r: &'a Report, cmd: &str) -> &'a larder_bench::CmdReport {
    r.commands
        .iter()
        .find(|c| c.command == cmd)
        .unwrap_or_else(|| panic!("no {cmd} row in {r:#?}"))
}

/// Ops completed, no errors, hit/miss accounting consistent.
fn check(r: &Report) {
    assert_eq!(r.total.errors, 0, "{r:#?}");
    assert!(r.total.ops > 0);
    assert_eq!(r.total.ops, r.commands.iter().map(|c| c.ops).sum::<u64>());
    let l = &r.total.latency_ms;
    assert!(
        l.min > 0.0 && l.min <= l.p50 && l.p50 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
}

#[test]
fn against_larder() {
    let dir = tmpdir("larder");
    let sock = dir.join("larder.sock");
    let port = start_larder(&sock);
    let p = port.to_string();

    // Closed loop, pipelined, prepopulated: every GET hits.
    let r = measure(&[
        "-p",
        &p,
        "-c",
        "4",
        "--threads",
        "2",
        "-P",
        "8",
        "-n",
        "20000",
        "--ratio",
        "1:1",
        "--keyspace",
        "1000",
        "--prepopulate",
    ]);
    check(&r);
    assert_eq!(r.total.ops, 20_000);
    let get = row(&r, "GET");
    assert_eq!((get.hits, get.misses), (get.ops, 0));
    assert_eq!(get.ops + row(&r, "SET").ops, 20_000);

    // Open loop over the Unix socket, multi-get over a Zipf key space of
    // which only part exists: hits + misses = 3 per MGET.
    let sock_s = sock.to_str().unwrap();
    let r = measure(&[
        "-s",
        sock_s,
        "-c",
        "2",
        "--rate",
        "2000",
        "--duration",
        "0.5",
        "--multiget",
        "3",
        "--key-pattern",
        "zipf",
        "--keyspace",
        "5000",
        "--ratio",
        "1:0",
        "--key-prefix",
        "nokey:",
    ]);
    check(&r);
    let mget = row(&r, "MGET");
    assert_eq!(mget.hits + mget.misses, 3 * mget.ops);
    assert_eq!(mget.hits, 0);
    assert!(
        (800..=1100).contains(&mget.ops),
        "offered 1000 in 0.5 s, got {}",
        mget.ops
    );
    assert!(r.generator_lag_ms.is_some());

    // RESP3, --command templates over a prepopulated key space, warm-up
    // excluded from the counts.
    let r = measure(&[
        "-p",
        &p,
        "--resp3",
        "-c",
        "2",
        "-n",
        "2000",
        "--warmup",
        "0.2",
        "--command",
        "SET __key__ __data__",
        "--command",
        "GET __key__",
        "--prepopulate",
        "--key-pattern",
        "sequential",
        "--keyspace",
        "100",
    ]);
    check(&r);
    assert_eq!(r.total.ops, 2000);
    assert_eq!(row(&r, "GET").hits, row(&r, "GET").ops);

    // Trace replay: GET each line, SET after each miss.
    let trace = dir.join("t.trace");
    let lines: String = (0..3000)
        .map(|i| format!("{}\r\n", (i * 7919) % 500))
        .collect();
    std::fs::write(&trace, format!("*\n{lines}")).unwrap();
    let r = measure(&[
        "-p",
        &p,
        "-c",
        "3",
        "--trace",
        trace.to_str().unwrap(),
        "--key-prefix",
        "tr:",
    ]);
    check(&r);
    let get = row(&r, "GET");
    assert_eq!(get.ops, 3000);
    assert_eq!(get.hits + get.misses, 3000);
    assert_eq!(row(&r, "SET").ops, get.misses);
    // 500 distinct keys, no eviction: about 500 cold misses (a few more
    // when two connections miss the same key before its SET lands).
    assert!((500..560).contains(&get.misses), "{}", get.misses);
    std::fs::remove_dir_all(&dir).ok();
}

/// A peer program, or `None` (with a notice) when it is not installed and
/// peers are not required.
fn peer(program: &str) -> Option<()> {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("LARDER_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{program} is required (LARDER_REQUIRE_PEERS=1) but not installed"
        );
        eprintln!("notice: {program} not installed; skipping its test");
        return None;
    }
    Some(())
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn against_redis_server() {
    if peer("redis-server").is_none() {
        return;
    }
    let dir = tmpdir("redis");
    let port = free_port();
    let _redis = Kill(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let url = format!("redis://127.0.0.1:{port}/2");
    let r = measure(&[
        "--url",
        &url,
        "-c",
        "4",
        "-P",
        "4",
        "-n",
        "10000",
        "--ratio",
        "2:1",
        "--key-pattern",
        "gaussian",
        "--keyspace",
        "1000",
        "--data-size",
        "10-200",
    ]);
    check(&r);
    assert_eq!(r.total.ops, 10_000);
    let get = row(&r, "GET");
    assert_eq!(get.hits + get.misses, get.ops);
    // --compare against itself: runs both, alternating (JSON to stdout).
    larder_bench::run(args(&[
        "--url",
        &url,
        "--compare",
        &url,
        "--rounds",
        "2",
        "-n",
        "2000",
        "-c",
        "2",
        "--json",
    ]))
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn against_memcached() {
    if peer("memcached").is_none() {
        return;
    }
    let port = free_port();
    let _mc = Kill(
        Command::new("memcached")
            .args([
                "-u",
                "root",
                "-U",
                "0",
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let url = format!("memcache://127.0.0.1:{port}");
    let r = measure(&[
        "--url",
        &url,
        "-c",
        "4",
        "-P",
        "4",
        "-n",
        "8000",
        "--ratio",
        "3:1",
        "--multiget",
        "2",
        "--keyspace",
        "500",
        "--prepopulate",
        "--data-size",
        "100:3,2000:1",
    ]);
    check(&r);
    assert_eq!(r.total.ops, 8000);
    let get = row(&r, "MGET");
    assert_eq!((get.hits, get.misses), (2 * get.ops, 0));
    assert_eq!(row(&r, "SET").ops, 2000);
}

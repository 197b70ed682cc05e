//! The `larder` binary: argument parsing, config loading, logging, and wiring
//! the server together. No logic worth testing on its own lives here.

mod daemon;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use larder_server::alloc::CountingAlloc;
use larder_server::{directives, Config, Server};

#[global_allocator]
static GLOBAL: CountingAlloc<tikv_jemallocator::Jemalloc> =
    CountingAlloc(tikv_jemallocator::Jemalloc);

/// jemalloc's statistics, refreshed (`epoch`) at each read: INFO's
/// `allocator_*` fields.
fn jemalloc_stats() -> Option<larder_server::alloc::AllocatorStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(larder_server::alloc::AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

#[derive(Parser)]
#[command(
    name = "larder",
    version,
    about = "A cache server that speaks the Redis protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

// Parsed once at start: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run the cache server (the default).
    ///
    /// Settings use Redis's directive names, in a config file or as flags:
    /// `larder server --port 7000 --maxmemory 1gb --maxmemory-policy allkeys-lru`.
    Server(ServerArgs),
    /// Load generator for RESP and memcached servers: throughput, latency
    /// percentiles, open-loop rates, A/B comparison (`--compare`).
    Bench(larder_bench::BenchArgs),
    /// Replay a cache trace through eviction policies and report hit ratios
    /// (`--policy all`, `--size 128,512`, `--format csv`, `--plot out.svg`).
    Sim(larder_sim::SimArgs),
    /// Caching patterns in action against a real database, with before/after
    /// numbers: blog, product, flash-sale, timeline, stampede.
    Demo(larder_demo::DemoArgs),
}

#[derive(clap::Args, Default)]
struct ServerArgs {
    /// A config file (larder.conf) with Redis directive names, one per line.
    /// As with redis-server, the file may also be given as the first
    /// positional argument: `larder server /etc/larder.conf --port 7000`.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Directives as flags, as redis-server takes them: --port 7000 --save "" ...
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "--DIRECTIVE VALUE"
    )]
    directives: Vec<String>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<directives::ConfigError>() {
                // Redis's own words: harnesses match them.
                Some(e) => eprintln!("{e}"),
                None => {
                    // In the log too (as Redis's serverLog), where harnesses
                    // that start servers look for the reason.
                    tracing::error!("{e:#}");
                    eprintln!("larder: {e:#}");
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// The config from the file (if any) then the flags, which win.
fn load_config(args: &ServerArgs) -> Result<Config> {
    let mut flags: &[String] = &args.directives;
    let mut file = args.config.clone();
    if let Some(first) = flags.first().filter(|a| !a.starts_with("--")) {
        if file.is_some() {
            anyhow::bail!("two config files given: --config and '{first}'");
        }
        file = Some(PathBuf::from(first));
        flags = &flags[1..];
    }
    // As Redis: the command line's lines are read after the file's.
    let mut text = String::new();
    if let Some(path) = &file {
        text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    }
    text.push('\n');
    text.push_str(&directives::flags_text(flags));
    let mut config = Config::default();
    directives::parse_file(&text, &mut config)?;
    if let Some(path) = &file {
        config.config_file = Some(std::fs::canonicalize(path)?);
    }
    Ok(config)
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Cmd::Server(a)) => a,
        Some(Cmd::Bench(a)) => return larder_bench::run(a),
        Some(Cmd::Sim(a)) => return larder_sim::run(a),
        Some(Cmd::Demo(a)) => return larder_demo::run(a),
        None => ServerArgs::default(),
    };
    let config = load_config(&args)?;
    larder_server::alloc::set_allocator_stats(jemalloc_stats);
    if config.daemonize {
        daemon::detach().context("daemonize")?;
    }
    init_logging(&config)?;
    let pidfile = match config.compat.get("pidfile").map(String::as_str) {
        Some(p) if !p.is_empty() => Some(p),
        _ if config.daemonize => Some(daemon::DEFAULT_PIDFILE),
        _ => None,
    };
    let _pidfile = pidfile.and_then(|p| daemon::PidFile::create(p, &config.dir));

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.worker_threads(config.workers()).enable_all();
    larder_server::idle_poll::install(&mut rt, config.idle_poll());
    // Woken connections run in the order their input came, as Redis serves
    // them: the LIFO slot ran the last one first (see .cargo/config.toml).
    #[cfg(tokio_unstable)]
    rt.disable_lifo_slot();
    let rt = rt.build()?;
    // Before binding and loading, as Redis's banner: a harness that started
    // the server knows it is up (and, if it stops, why: the log says).
    tracing::info!("Larder starting, PID: {}", std::process::id());
    let mut started = None;
    let result = rt.block_on(async {
        let server = Server::bind(config, Some(larder_server::alloc::GAUGE)).await?;
        let shared = server.shared();
        started = Some(shared.clone());
        let ports: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
        println!(
            "Larder {} (Redis {} compatible) PID: {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            larder_server::commands::connection::REDIS_COMPAT_VERSION,
            std::process::id(),
            if ports.is_empty() {
                "unix socket only".to_string()
            } else {
                ports.join(", ")
            }
        );
        let mc: Vec<String> = server
            .memcache_addrs()
            .iter()
            .map(|a| a.to_string())
            .chain(server.memcache_unixsocket().map(|p| format!("unix:{p}")))
            .collect();
        if !mc.is_empty() {
            println!("memcached protocol on {}", mc.join(", "));
        }
        let signals = shared.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            loop {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                tracing::info!("received signal, shutting down");
                // As Redis: save first when save points are configured; a
                // failed save keeps the server running.
                if larder_server::persist::snapshot::save_before_shutdown(&signals, None) {
                    signals.request_shutdown();
                    return;
                }
            }
        });
        server.run().await?;
        tracing::info!(clients = shared.clients.len(), "bye");
        anyhow::Ok(())
    });
    // A shutdown while the dataset loads does not wait for the load.
    if started.is_some_and(|s| s.hot.loading.load(std::sync::atomic::Ordering::Relaxed)) {
        rt.shutdown_background();
    }
    result
}

/// `loglevel` (debug, verbose, notice, warning) and `logfile` (empty = stdout).
fn init_logging(config: &Config) -> Result<()> {
    let level = match config.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LARDER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.logfile.is_empty() {
        // Colours only for a terminal: a harness's captured stdout is a log.
        use std::io::IsTerminal;
        builder.with_ansi(std::io::stdout().is_terminal()).init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.logfile)
            .with_context(|| format!("opening logfile {}", config.logfile))?;
        builder
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init();
    }
    Ok(())
}

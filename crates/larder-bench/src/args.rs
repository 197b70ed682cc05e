//! Command-line arguments of `larder bench`, and their validation into a
//! [`Target`] (where and how to connect) and a [`Plan`] (the load).
//!
//! Flag names follow redis-benchmark and memtier_benchmark where they mean
//! the same (`-c`, `-P`, `-n`, `--ratio`, `--key-pattern`, `--data-size`,
//! `--command`, `--test-time`-like `--duration`), so users can carry their
//! habits over. Note `--ratio` is GET:SET (memtier's is SET:GET).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::driver::Load;
use crate::keys::{KeyDist, Zipf};
use crate::proto::Protocol;
use crate::values::DataSize;
use crate::workload::{Mix, Template, Trace, Workload};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1", help_heading = "Target")]
    pub host: String,
    /// Server port [default: 6379 for resp, 11211 for memcache].
    #[arg(short = 'p', long, help_heading = "Target")]
    pub port: Option<u16>,
    /// Server URL instead of --host/--port: redis://[[USER]:PASS@]HOST[:PORT][/DB],
    /// memcache://HOST[:PORT], or unix://PATH.
    #[arg(long, help_heading = "Target")]
    pub url: Option<String>,
    /// Connect to this Unix socket instead of TCP.
    #[arg(short = 's', long, value_name = "PATH", help_heading = "Target")]
    pub unixsocket: Option<PathBuf>,
    /// Wire protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Resp, help_heading = "Target")]
    pub protocol: Protocol,
    /// Speak RESP3 (send HELLO 3 on connect).
    #[arg(long, help_heading = "Target")]
    pub resp3: bool,
    /// ACL user for AUTH.
    #[arg(long, help_heading = "Target")]
    pub user: Option<String>,
    /// Password for AUTH.
    #[arg(short = 'a', long = "pass", help_heading = "Target")]
    pub pass: Option<String>,
    /// SELECT this database after connecting.
    #[arg(long, help_heading = "Target")]
    pub dbnum: Option<u32>,

    /// Connections, in total.
    #[arg(short = 'c', long, default_value_t = 50, help_heading = "Load")]
    pub clients: usize,
    /// Worker threads the connections are spread over.
    #[arg(long, default_value_t = 1, help_heading = "Load")]
    pub threads: usize,
    /// Requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1, help_heading = "Load")]
    pub pipeline: usize,
    /// Requests to make in total (after warm-up) [default: 100000 unless
    /// --duration or --trace].
    #[arg(short = 'n', long, help_heading = "Load")]
    pub requests: Option<u64>,
    /// Run for this many seconds (after warm-up).
    #[arg(
        long,
        value_name = "SECS",
        conflicts_with = "requests",
        help_heading = "Load"
    )]
    pub duration: Option<f64>,
    /// Open loop: offer this many requests per second in total, on a fixed
    /// schedule per connection; latency counts from each request's intended
    /// send time (no coordinated omission). Without it: closed loop.
    #[arg(long, value_name = "OPS", help_heading = "Load")]
    pub rate: Option<f64>,
    /// Seconds of load before measuring (excluded from the results).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0.0,
        help_heading = "Load"
    )]
    pub warmup: f64,

    /// GET:SET mix, e.g. 10:1, 1:0 (only GETs), 0:1 (only SETs).
    #[arg(long, default_value = "10:1", help_heading = "Workload")]
    pub ratio: Ratio,
    /// Number of distinct keys.
    #[arg(
        long,
        short = 'r',
        default_value_t = 100_000,
        help_heading = "Workload"
    )]
    pub keyspace: u64,
    /// Key prefix; keys are PREFIX + a 12-digit index (or the trace line).
    #[arg(long, default_value = "key:", help_heading = "Workload")]
    pub key_prefix: String,
    /// Key distribution.
    #[arg(long, value_enum, default_value_t = KeyPattern::Uniform, help_heading = "Workload")]
    pub key_pattern: KeyPattern,
    /// Zipf exponent θ (P(rank k) ∝ 1/k^θ).
    #[arg(long, default_value_t = 0.99, help_heading = "Workload")]
    pub zipf_theta: f64,
    /// Gaussian centre [default: keyspace/2].
    #[arg(long, help_heading = "Workload")]
    pub key_median: Option<f64>,
    /// Gaussian standard deviation [default: keyspace/6].
    #[arg(long, help_heading = "Workload")]
    pub key_stddev: Option<f64>,
    /// hotscan: size of the hot set [default: keyspace/100].
    #[arg(long, help_heading = "Workload")]
    pub hot_keys: Option<u64>,
    /// hotscan: start a scan after this many hot requests (per connection).
    #[arg(long, default_value_t = 1000, help_heading = "Workload")]
    pub scan_every: u64,
    /// hotscan: keys per scan [default: keyspace/10].
    #[arg(long, help_heading = "Workload")]
    pub scan_length: Option<u64>,
    /// SET value size: N, MIN-MAX (uniform) or SIZE:WEIGHT,SIZE:WEIGHT,...
    #[arg(long, default_value = "32", help_heading = "Workload")]
    pub data_size: DataSize,
    /// Send this command instead of the GET/SET mix (RESP only; repeatable,
    /// used in turn); __key__ and __data__ are replaced, e.g.
    /// --command "HSET __key__ f __data__".
    #[arg(long = "command", value_name = "CMD", help_heading = "Workload")]
    pub commands: Vec<String>,
    /// Keys per GET (MGET / multi-key get when above 1).
    #[arg(long, default_value_t = 1, help_heading = "Workload")]
    pub multiget: usize,
    /// Replay a key trace (one key per line, plain or .gz): GET each key,
    /// SET it after a miss; reports the server's hit ratio.
    #[arg(long, value_name = "PATH", help_heading = "Workload")]
    pub trace: Option<PathBuf>,
    /// SET every key of the key space once before the run.
    #[arg(long, help_heading = "Workload")]
    pub prepopulate: bool,
    /// Seed of the request stream (same seed, same requests).
    #[arg(long, default_value_t = 1, help_heading = "Workload")]
    pub seed: u64,

    /// Run the same workload against this second server too, alternating
    /// for --rounds rounds; print per-command medians and URL2/first ratios.
    #[arg(long, value_name = "URL2", help_heading = "Output")]
    pub compare: Option<String>,
    /// Rounds for --compare.
    #[arg(long, default_value_t = 5, help_heading = "Output")]
    pub rounds: usize,
    /// Print the results as JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Write each command's latency histogram to PREFIX-<CMD>.hgrm
    /// (HdrHistogram percentile distribution, milliseconds).
    #[arg(long, value_name = "PREFIX", help_heading = "Output")]
    pub hdr_out: Option<PathBuf>,
    /// No progress line.
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyPattern {
    Uniform,
    Sequential,
    Zipf,
    Gaussian,
    /// A hot set plus periodic sequential scans of the cold keys.
    Hotscan,
}

/// `GET:SET` weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    pub get: u32,
    pub set: u32,
}

impl FromStr for Ratio {
    type Err = String;

    fn from_str(s: &str) -> Result<Ratio, String> {
        let bad = || format!("expected GET:SET weights like 10:1, got '{s}'");
        let (g, st) = s.split_once(':').ok_or_else(bad)?;
        let get: u32 = g.trim().parse().map_err(|_| bad())?;
        let set: u32 = st.trim().parse().map_err(|_| bad())?;
        if get.checked_add(set).unwrap_or(0) == 0 {
            return Err(bad());
        }
        Ok(Ratio { get, set })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp(String, u16),
    Unix(PathBuf),
}

/// Where and how to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: Addr,
    pub protocol: Protocol,
    pub resp3: bool,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub db: Option<u32>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.protocol {
            Protocol::Resp => "redis",
            Protocol::Memcache => "memcache",
        };
        match &self.addr {
            Addr::Tcp(h, p) if h.contains(':') => write!(f, "{scheme}://[{h}]:{p}")?,
            Addr::Tcp(h, p) => write!(f, "{scheme}://{h}:{p}")?,
            Addr::Unix(p) => write!(f, "unix://{}", p.display())?,
        }
        if let Some(db) = self.db {
            write!(f, "/{db}")?;
        }
        Ok(())
    }
}

impl Target {
    pub fn from_args(a: &BenchArgs) -> Result<Target> {
        let mut t = Target {
            addr: match &a.unixsocket {
                Some(p) => Addr::Unix(p.clone()),
                None => Addr::Tcp(a.host.clone(), a.port.unwrap_or(a.protocol.default_port())),
            },
            protocol: a.protocol,
            resp3: a.resp3,
            user: a.user.clone(),
            pass: a.pass.clone(),
            db: a.dbnum,
        };
        if let Some(url) = &a.url {
            t = t.with_url(url)?;
        }
        if t.protocol == Protocol::Memcache && (t.resp3 || t.pass.is_some() || t.db.is_some()) {
            bail!("--resp3, AUTH and --dbnum are RESP options; memcache has none of them");
        }
        Ok(t)
    }

    /// This target with what `url` says replaced (the rest, such as the
    /// password or RESP3, carries over: used for `--compare URL2`).
    pub fn with_url(&self, url: &str) -> Result<Target> {
        let mut t = self.clone();
        let rest = if let Some(r) = url.strip_prefix("redis://") {
            t.protocol = Protocol::Resp;
            r
        } else if let Some(r) = url
            .strip_prefix("memcache://")
            .or_else(|| url.strip_prefix("memcached://"))
        {
            t.protocol = Protocol::Memcache;
            t.resp3 = false;
            t.pass = None;
            t.user = None;
            t.db = None;
            r
        } else if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                bail!("empty socket path in '{url}'");
            }
            t.addr = Addr::Unix(PathBuf::from(path));
            return Ok(t);
        } else if url.contains("://") {
            bail!("unsupported URL scheme in '{url}' (redis://, memcache:// or unix://)");
        } else {
            url
        };
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        if let Some(auth) = auth {
            match auth.split_once(':') {
                Some((u, p)) => {
                    t.user = (!u.is_empty()).then(|| u.to_string());
                    t.pass = Some(p.to_string());
                }
                None => t.pass = Some(auth.to_string()),
            }
        }
        let (hostport, db) = match hostpart.split_once('/') {
            Some((hp, db)) if !db.is_empty() => {
                let db = db
                    .parse()
                    .with_context(|| format!("invalid database '{db}' in '{url}'"))?;
                (hp, Some(db))
            }
            Some((hp, _)) => (hp, t.db),
            None => (hostpart, t.db),
        };
        t.db = db;
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .with_context(|| format!("unclosed '[' in '{url}'"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            bail!("no host in '{url}'");
        }
        let port = match port {
            Some(p) => p
                .parse()
                .with_context(|| format!("invalid port '{p}' in '{url}'"))?,
            None => t.protocol.default_port(),
        };
        t.addr = Addr::Tcp(host.to_string(), port);
        Ok(t)
    }
}

/// The validated load.
pub struct Plan {
    pub load: Load,
    pub workload: Arc<Workload>,
    pub prepopulate: bool,
}

impl Plan {
    pub fn from_args(a: &BenchArgs, protocol: Protocol) -> Result<Plan> {
        if a.clients == 0 || a.threads == 0 || a.pipeline == 0 {
            bail!("--clients, --threads and --pipeline must be at least 1");
        }
        if a.keyspace == 0 {
            bail!("--keyspace must be at least 1");
        }
        if a.multiget == 0 || a.multiget > usize::from(u16::MAX) {
            bail!("--multiget must be in 1..=65535");
        }
        let secs = |what: &str, v: f64| -> Result<Duration> {
            Duration::try_from_secs_f64(v).map_err(|_| anyhow::anyhow!("invalid {what} {v}"))
        };
        let duration = a.duration.map(|d| secs("--duration", d)).transpose()?;
        if duration.is_some_and(|d| d.is_zero()) {
            bail!("--duration must be positive");
        }
        let warmup = secs("--warmup", a.warmup)?;
        let rate_per_conn = match a.rate {
            Some(r) if r.is_finite() && r > 0.0 => Some(r / a.clients as f64),
            Some(r) => bail!("invalid --rate {r}"),
            None => None,
        };
        let n = a.keyspace;
        let keys = match a.key_pattern {
            KeyPattern::Uniform => KeyDist::Uniform { n },
            KeyPattern::Sequential => KeyDist::Sequential { n },
            KeyPattern::Zipf => {
                if !(a.zipf_theta.is_finite() && a.zipf_theta >= 0.0) {
                    bail!("--zipf-theta must be a number >= 0");
                }
                KeyDist::Zipf(Zipf::new(n, a.zipf_theta))
            }
            KeyPattern::Gaussian => {
                let median = a.key_median.unwrap_or(n as f64 / 2.0);
                let stddev = a.key_stddev.unwrap_or(n as f64 / 6.0);
                if !(stddev.is_finite() && stddev > 0.0 && median.is_finite()) {
                    bail!("--key-stddev must be positive and --key-median finite");
                }
                KeyDist::Gaussian { n, median, stddev }
            }
            KeyPattern::Hotscan => {
                let hot = a.hot_keys.unwrap_or(n / 100).max(1);
                if hot >= n {
                    bail!("--hot-keys ({hot}) must be below --keyspace ({n})");
                }
                let length = a.scan_length.unwrap_or(n / 10).max(1);
                if a.scan_every == 0 {
                    bail!("--scan-every must be at least 1");
                }
                KeyDist::HotScan {
                    n,
                    hot,
                    every: a.scan_every,
                    length,
                }
            }
        };
        let mix = if let Some(path) = &a.trace {
            if !a.commands.is_empty() {
                bail!("--trace and --command do not mix");
            }
            let looping = a.requests.is_some() || duration.is_some();
            Mix::Trace(Trace::load(path, looping)?)
        } else if !a.commands.is_empty() {
            if protocol != Protocol::Resp {
                bail!("--command needs --protocol resp");
            }
            if a.commands.len() > 255 {
                bail!("at most 255 --command templates");
            }
            Mix::Commands(
                a.commands
                    .iter()
                    .map(|c| Template::parse(c))
                    .collect::<Result<_>>()?,
            )
        } else {
            Mix::Ratio {
                get: a.ratio.get,
                set: a.ratio.set,
            }
        };
        let requests = match (a.requests, duration, &mix) {
            (Some(r), _, _) => Some(r),
            (None, None, Mix::Trace(_)) => None,
            (None, None, _) => Some(100_000),
            (None, Some(_), _) => None,
        };
        let workload = Workload {
            protocol,
            mix,
            keys,
            pattern: a.data_size.pattern(),
            sizes: a.data_size.clone(),
            prefix: a.key_prefix.as_bytes().to_vec(),
            multiget: a.multiget,
            seed: a.seed,
        };
        Ok(Plan {
            load: Load {
                clients: a.clients,
                threads: a.threads.min(a.clients),
                pipeline: a.pipeline,
                requests,
                duration,
                rate_per_conn,
                warmup,
            },
            workload: Arc::new(workload),
            prepopulate: a.prepopulate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(argv: &[&str]) -> BenchArgs {
        Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .map(|c| c.args)
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        let t = Target::from_args(&a).unwrap();
        assert_eq!(t.addr, Addr::Tcp("127.0.0.1".into(), 6379));
        assert_eq!(t.to_string(), "redis://127.0.0.1:6379");
        let p = Plan::from_args(&a, t.protocol).unwrap().load;
        assert_eq!((p.clients, p.threads, p.pipeline), (50, 1, 1));
        assert_eq!(p.requests, Some(100_000));
        assert!(p.rate_per_conn.is_none());
        assert_eq!(a.ratio, Ratio { get: 10, set: 1 });
        assert_eq!(a.data_size, DataSize::Fixed(32));
    }

    #[test]
    fn load_and_workload_flags() {
        let a = parse(&[
            "-c",
            "8",
            "--threads",
            "2",
            "-P",
            "16",
            "--duration",
            "2.5",
            "--rate",
            "800",
            "--ratio",
            "1:0",
            "--key-pattern",
            "zipf",
            "--zipf-theta",
            "1.2",
            "--data-size",
            "10-100",
            "--multiget",
            "4",
            "--warmup",
            "1",
        ]);
        let p = Plan::from_args(&a, Protocol::Resp).unwrap();
        assert_eq!(p.load.duration, Some(Duration::from_millis(2500)));
        assert_eq!(p.load.requests, None);
        assert_eq!(p.load.rate_per_conn, Some(100.0));
        assert_eq!(p.load.warmup, Duration::from_secs(1));
        assert_eq!(p.load.threads, 2);
        assert!(matches!(p.workload.keys, KeyDist::Zipf(_)));
        assert_eq!(p.workload.command_names(), ["MGET", "SET"]);
        assert_eq!(p.workload.pattern.len(), 100);
    }

    #[test]
    fn rejects_bad_values() {
        let cli =
            |v: &[&str]| Cli::try_parse_from(std::iter::once("bench").chain(v.iter().copied()));
        assert!(cli(&["--ratio", "0:0"]).is_err());
        assert!(cli(&["--ratio", "10"]).is_err());
        assert!(cli(&["-n", "5", "--duration", "1"]).is_err());
        assert!(cli(&["--key-pattern", "pareto"]).is_err());
        let plan = |v: &[&str]| Plan::from_args(&parse(v), Protocol::Resp);
        assert!(plan(&["-c", "0"]).is_err());
        assert!(plan(&["--rate", "0"]).is_err());
        assert!(plan(&[
            "--key-pattern",
            "hotscan",
            "--keyspace",
            "10",
            "--hot-keys",
            "10"
        ])
        .is_err());
        assert!(plan(&["--key-pattern", "zipf", "--zipf-theta=-1"]).is_err());
        assert!(plan(&["--command", "   "]).is_err());
        assert!(
            Plan::from_args(&parse(&["--command", "GET __key__"]), Protocol::Memcache).is_err()
        );
        assert!(Target::from_args(&parse(&["--protocol", "memcache", "-a", "x"])).is_err());
    }

    #[test]
    fn urls() {
        let base = Target::from_args(&parse(&["--resp3"])).unwrap();
        let t = base
            .with_url("redis://bob:s3cret@example.com:7000/3")
            .unwrap();
        assert_eq!(t.addr, Addr::Tcp("example.com".into(), 7000));
        assert_eq!(
            (t.user.as_deref(), t.pass.as_deref(), t.db),
            (Some("bob"), Some("s3cret"), Some(3))
        );
        assert!(t.resp3);
        assert_eq!(t.to_string(), "redis://example.com:7000/3");
        let t = base.with_url("redis://:pw@[::1]").unwrap();
        assert_eq!(t.addr, Addr::Tcp("::1".into(), 6379));
        assert_eq!((t.user, t.pass.as_deref()), (None, Some("pw")));
        let t = base.with_url("memcache://10.0.0.1").unwrap();
        assert_eq!(
            (t.protocol, t.addr, t.resp3),
            (
                Protocol::Memcache,
                Addr::Tcp("10.0.0.1".into(), 11211),
                false
            )
        );
        let t = base.with_url("unix:///tmp/x.sock").unwrap();
        assert_eq!(t.addr, Addr::Unix("/tmp/x.sock".into()));
        let t = base.with_url("localhost:6380").unwrap();
        assert_eq!(t.addr, Addr::Tcp("localhost".into(), 6380));
        assert!(base.with_url("http://x").is_err());
        assert!(base.with_url("redis://h:notaport").is_err());
        assert!(base.with_url("redis://h/x").is_err());
        let a = parse(&["--url", "memcache://m:1234"]);
        assert_eq!(Target::from_args(&a).unwrap().protocol, Protocol::Memcache);
        let a = parse(&["-s", "/tmp/s", "-a", "pw", "--dbnum", "2"]);
        let t = Target::from_args(&a).unwrap();
        assert_eq!(
            (t.addr, t.pass.as_deref(), t.db),
            (Addr::Unix("/tmp/s".into()), Some("pw"), Some(2))
        );
    }
}

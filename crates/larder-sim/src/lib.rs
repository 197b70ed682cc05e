//! `larder sim`: replays request traces through the engine's replacement
//! policies and reports hit ratios.
//!
//! One pass over each trace drives every (size, policy) pair at once, so a
//! trace is read and decompressed once whatever the number of policies, and
//! memory is that of the caches simulated, not of the trace. `opt` (Bélády)
//! needs each request's next use: it adds a first pass that records them
//! (8 bytes per request) unless the trace carries them (oracleGeneral).
//!
//! Modules: [`trace`] (streaming readers), [`opt`] (the ceiling), [`plot`]
//! (hand-written SVG curves), [`workload`] (synthetic streams: Zipf, hot set
//! with scans, shifting popularity). The policies themselves live in
//! `larder_engine::policy`, shared with the server.

pub mod opt;
pub mod plot;
pub mod trace;
pub mod workload;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use larder_engine::policy::{self, CachePolicy, Options};

use crate::opt::Opt;
use crate::trace::TraceFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
}

/// `larder sim` arguments.
#[derive(clap::Args, Clone, Debug)]
pub struct SimArgs {
    /// Trace file (repeat for several): key per line, `key,size` CSV,
    /// libCacheSim oracleGeneral or an ARC `.lis` trace, optionally gzip'd
    /// or zstd'd.
    #[arg(long, required = true)]
    pub trace: Vec<PathBuf>,
    /// Cache sizes, in entries (or bytes with --bytes; k/m/g suffixes allowed).
    #[arg(long, required = true, value_delimiter = ',')]
    pub size: Vec<String>,
    /// Policies: lru, fifo, lfu, random, clock, sieve, s3fifo, arc, wtinylfu,
    /// adaptive, allkeys-lru, allkeys-lfu, allkeys-adaptive (the sampled
    /// forms the server runs), opt (Bélády), opt-bypass; `default` = the
    /// server's default; `all`.
    #[arg(long, value_delimiter = ',', default_value = "lru")]
    pub policy: Vec<String>,
    /// Count capacity in bytes, using the trace's object sizes.
    #[arg(long)]
    pub bytes: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write hit-ratio curves (one line per policy over the sizes) as SVG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Keys sampled per eviction by the sampled policies (maxmemory-samples).
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
    #[arg(long, value_enum, default_value_t = TraceFormat::Auto)]
    pub trace_format: TraceFormat,
    /// Replay only the first N requests.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Seed for the policies that draw random numbers.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub trace: String,
    pub size: u64,
    pub policy: String,
    pub requests: u64,
    pub hits: u64,
}

impl Row {
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.hits as f64 / self.requests as f64
        }
    }
}

/// What to replay, independent of the command line.
#[derive(Clone, Debug)]
pub struct Replay {
    pub sizes: Vec<u64>,
    pub policies: Vec<String>,
    pub bytes: bool,
    pub format: TraceFormat,
    pub limit: u64,
    pub options: Options,
    /// Print progress on stderr for passes longer than a couple of seconds.
    pub progress: bool,
}

/// Expands `all` and `default`, and checks every name.
pub fn resolve_policies(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let n = n.trim();
        let add: Vec<String> = match n.to_ascii_lowercase().as_str() {
            "all" => policy::NAMES
                .iter()
                .map(|s| s.to_string())
                .chain(["opt".to_string()])
                .collect(),
            "default" => vec![policy::SERVER_DEFAULT.to_string()],
            "opt" | "belady" => vec!["opt".to_string()],
            "opt-bypass" => vec!["opt-bypass".to_string()],
            other => {
                if policy::build(other, 1, &Options::default()).is_none() {
                    bail!(
                        "unknown policy {n:?}; known: {}, opt, default, all",
                        policy::NAMES.join(", ")
                    );
                }
                vec![other.to_string()]
            }
        };
        for a in add {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// Parses a size: digits with an optional k/m/g (powers of 1024) suffix.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, mult) = match s.as_bytes().last().map(u8::to_ascii_lowercase) {
        Some(b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .with_context(|| format!("bad cache size {s:?}"))?;
    if n == 0 {
        bail!("cache size must be positive");
    }
    n.checked_mul(mult)
        .with_context(|| format!("cache size {s:?} is too large"))
}

enum Sim {
    Policy(Box<dyn CachePolicy>),
    Opt(Opt),
}

struct Slot {
    size: u64,
    name: String,
    sim: Sim,
    hits: u64,
}

/// Replays one trace through every (size, policy) pair.
pub fn replay(path: &Path, r: &Replay) -> anyhow::Result<Vec<Row>> {
    let mut slots = Vec::new();
    for &size in &r.sizes {
        for name in &r.policies {
            let sim = if name == "opt" || name == "opt-bypass" {
                Sim::Opt(Opt::new(size, name == "opt-bypass"))
            } else {
                let p = policy::build(name, size, &r.options)
                    .with_context(|| format!("unknown policy {name:?}"))?;
                Sim::Policy(p)
            };
            let name = match &sim {
                Sim::Policy(p) => p.name(),
                Sim::Opt(_) => name.clone(),
            };
            slots.push(Slot {
                size,
                name,
                sim,
                hits: 0,
            });
        }
    }
    let format = r.format.resolve(path);
    let trace = trace::trace_name(path);
    let needs_next =
        slots.iter().any(|s| matches!(s.sim, Sim::Opt(_))) && format != TraceFormat::OracleGeneral;
    let next = if needs_next {
        let mut p = Progress::new(&trace, "future pass", r.progress);
        let n = opt::next_uses(trace::open(path, format)?, r.limit)?;
        p.finish(n.len() as u64);
        Some(n)
    } else {
        None
    };

    let mut reader = trace::open(path, format)?;
    let mut progress = Progress::new(&trace, "replay", r.progress);
    let mut n = 0u64;
    while n < r.limit {
        let Some(req) = reader.next_request()? else {
            break;
        };
        let size = if r.bytes { req.size } else { 1 };
        let next_use = match &next {
            Some(v) => v.get(n as usize).copied().unwrap_or(opt::NEVER),
            None => req.next.unwrap_or(opt::NEVER),
        };
        for s in slots.iter_mut() {
            let hit = match &mut s.sim {
                Sim::Policy(p) => p.access(req.key, size),
                Sim::Opt(o) => o.access(req.key, size, next_use),
            };
            s.hits += u64::from(hit);
        }
        n += 1;
        if n.is_multiple_of(1 << 16) {
            progress.tick(n);
        }
    }
    progress.finish(n);
    Ok(slots
        .into_iter()
        .map(|s| Row {
            trace: trace.clone(),
            size: s.size,
            policy: s.name,
            requests: n,
            hits: s.hits,
        })
        .collect())
}

/// Progress lines on stderr, only once a pass has run for two seconds.
struct Progress<'a> {
    trace: &'a str,
    what: &'static str,
    start: Instant,
    last: Instant,
    shown: bool,
    enabled: bool,
}

impl<'a> Progress<'a> {
    fn new(trace: &'a str, what: &'static str, enabled: bool) -> Progress<'a> {
        let now = Instant::now();
        Progress {
            trace,
            what,
            start: now,
            last: now,
            shown: false,
            enabled,
        }
    }

    fn tick(&mut self, n: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now - self.start < Duration::from_secs(2) || now - self.last < Duration::from_secs(1) {
            return;
        }
        self.last = now;
        self.shown = true;
        let rate = n as f64 / (now - self.start).as_secs_f64() / 1e6;
        eprint!(
            "\r{} {}: {n} requests ({rate:.1} M/s)   ",
            self.trace, self.what
        );
    }

    fn finish(&mut self, n: u64) {
        if self.shown {
            eprintln!(
                "\r{} {}: {n} requests in {:.1} s        ",
                self.trace,
                self.what,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

/// `larder sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let sizes = args
        .size
        .iter()
        .map(|s| parse_size(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let replay_args = Replay {
        sizes,
        policies: resolve_policies(&args.policy)?,
        bytes: args.bytes,
        format: args.trace_format,
        limit: args.limit.unwrap_or(u64::MAX),
        options: Options {
            samples: args.samples.clamp(1, 64),
            seed: args.seed,
        },
        progress: true,
    };
    let mut rows = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == OutputFormat::Csv {
        writeln!(out, "trace,size,policy,requests,hits,hit_ratio")?;
    }
    for path in &args.trace {
        let got = replay(path, &replay_args)?;
        match args.format {
            OutputFormat::Csv => {
                for r in &got {
                    writeln!(
                        out,
                        "{},{},{},{},{},{:.6}",
                        r.trace,
                        r.size,
                        r.policy,
                        r.requests,
                        r.hits,
                        r.hit_ratio()
                    )?;
                }
            }
            OutputFormat::Table => write_table(&mut out, &got)?,
        }
        out.flush()?;
        rows.extend(got);
    }
    if let Some(p) = &args.plot {
        let unit = if args.bytes { "bytes" } else { "entries" };
        std::fs::write(p, plot::svg(&rows, unit))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// One line per size, one column per policy, hit ratios in percent.
fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    let width = policies.iter().map(|p| p.len()).max().unwrap_or(0).max(6);
    writeln!(out, "{} ({} requests)", first.trace, first.requests)?;
    write!(out, "{:>10}", "size")?;
    for p in &policies {
        write!(out, " {p:>width$}")?;
    }
    writeln!(out)?;
    let mut sizes: Vec<u64> = rows.iter().map(|r| r.size).collect();
    sizes.dedup();
    for size in sizes {
        write!(out, "{size:>10}")?;
        for p in &policies {
            match rows.iter().find(|r| r.size == size && r.policy == *p) {
                Some(r) => write!(out, " {:>width$.2}", 100.0 * r.hit_ratio())?,
                None => write!(out, " {:>width$}", "-")?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names_parse() {
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size(" 100 ").unwrap(), 100);
        assert!(parse_size("0").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999g").is_err());
        let p = resolve_policies(&["LRU".into(), "default".into(), "opt".into()]).unwrap();
        assert_eq!(p, vec!["lru", policy::SERVER_DEFAULT, "opt"]);
        assert!(resolve_policies(&["bogus".into()]).is_err());
        assert_eq!(
            resolve_policies(&["all".into()]).unwrap().len(),
            policy::NAMES.len() + 1
        );
    }
}

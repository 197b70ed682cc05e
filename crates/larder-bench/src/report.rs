//! Results: the per-command table, `--json`, `--hdr-out` files and the
//! progress line.
//!
//! Throughput is measured over the window from the end of warm-up to the
//! last reply. Latencies are milliseconds from HDR histograms (see
//! `stats`). `.hgrm` files are HdrHistogram's percentile-distribution text
//! (value in ms, percentile, total count, 1/(1-percentile)), which the
//! HdrHistogram plotter and most tooling read.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Target;
use crate::driver::{Load, Outcome};
use crate::proto::Protocol;
use crate::stats::{CmdStats, Latency, Stats};

#[derive(Clone, Debug, Serialize)]
pub struct CmdReport {
    pub command: String,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub latency_ms: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub protocol: Protocol,
    pub mode: &'static str,
    pub clients: usize,
    pub threads: usize,
    pub pipeline: usize,
    /// Offered requests per second (open loop).
    pub offered_rate: Option<f64>,
    pub seconds: f64,
    pub commands: Vec<CmdReport>,
    pub total: CmdReport,
    /// hits / (hits + misses) over all reads, when there were any.
    pub hit_ratio: Option<f64>,
    /// Open loop: how late the generator sent requests after they were
    /// due and had a free slot (already included in the latencies).
    pub generator_lag_ms: Option<Latency>,
}

impl Report {
    pub fn new(target: &Target, load: &Load, names: &[String], out: &Outcome) -> Report {
        let secs = out.elapsed.as_secs_f64().max(1e-9);
        let row = |name: &str, c: &CmdStats| CmdReport {
            command: name.to_string(),
            ops: c.ops,
            ops_per_sec: c.ops as f64 / secs,
            hits: c.hits,
            misses: c.misses,
            errors: c.errors,
            latency_ms: Latency::of(&c.hist),
            first_error: c.first_error.clone(),
        };
        let s = &out.stats;
        let commands: Vec<CmdReport> = names
            .iter()
            .zip(&s.cmds)
            .filter(|(_, c)| c.ops > 0)
            .map(|(n, c)| row(n, c))
            .collect();
        let all = CmdStats {
            ops: s.ops(),
            hits: s.cmds.iter().map(|c| c.hits).sum(),
            misses: s.cmds.iter().map(|c| c.misses).sum(),
            errors: s.cmds.iter().map(|c| c.errors).sum(),
            hist: s.all_latencies(),
            first_error: None,
        };
        let reads = all.hits + all.misses;
        Report {
            target: target.to_string(),
            protocol: target.protocol,
            mode: if load.rate_per_conn.is_some() {
                "open-loop"
            } else {
                "closed-loop"
            },
            clients: load.clients,
            threads: load.threads,
            pipeline: load.pipeline,
            offered_rate: load.rate_per_conn.map(|r| r * load.clients as f64),
            seconds: secs,
            total: row("TOTAL", &all),
            commands,
            hit_ratio: (reads > 0).then(|| all.hits as f64 / reads as f64),
            generator_lag_ms: load.rate_per_conn.map(|_| Latency::of(&s.lag)),
        }
    }

    pub fn print(&self, w: &mut impl Write) -> io::Result<()> {
        write!(
            w,
            "== {}  {}  {} clients  {} thread{}  pipeline {}",
            self.target,
            self.mode,
            self.clients,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.pipeline
        )?;
        if let Some(r) = self.offered_rate {
            write!(w, "  offered {r:.0} ops/s")?;
        }
        writeln!(w, "  {:.2} s", self.seconds)?;
        writeln!(
            w,
            "{:<10} {:>10} {:>11} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Command",
            "Ops",
            "Ops/s",
            "Hits",
            "Misses",
            "Errors",
            "Min",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "Max"
        )?;
        for c in self.commands.iter().chain(std::iter::once(&self.total)) {
            let l = &c.latency_ms;
            writeln!(
                w,
                "{:<10} {:>10} {:>11.0} {:>10} {:>10} {:>7} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                c.command, c.ops, c.ops_per_sec, c.hits, c.misses, c.errors, l.min, l.p50,
                l.p90, l.p99, l.p999, l.max
            )?;
        }
        writeln!(w, "(latencies in ms)")?;
        if let Some(h) = self.hit_ratio {
            writeln!(w, "hit ratio: {:.2}%", h * 100.0)?;
        }
        if let Some(l) = &self.generator_lag_ms {
            writeln!(
                w,
                "generator lag (included above): p50 {:.3} p99 {:.3} max {:.3} ms",
                l.p50, l.p99, l.max
            )?;
        }
        if let Some(r) = self.offered_rate {
            if self.total.ops_per_sec < 0.95 * r {
                writeln!(
                    w,
                    "warning: the offered rate was not reached: the server fell behind, or \
                     each connection needs more than one reply per interval (add --clients \
                     or --pipeline)"
                )?;
            }
        }
        for c in &self.commands {
            if let Some(e) = &c.first_error {
                writeln!(w, "{}: first error: {e}", c.command)?;
            }
        }
        Ok(())
    }
}

/// Writes `PREFIX-<CMD>.hgrm` for each command that ran.
pub fn write_hdr_files(prefix: &Path, names: &[String], stats: &Stats) -> io::Result<()> {
    for (name, c) in names.iter().zip(&stats.cmds) {
        if c.hist.is_empty() {
            continue;
        }
        let mut path = prefix.as_os_str().to_owned();
        path.push(format!("-{name}.hgrm"));
        let mut f = io::BufWriter::new(std::fs::File::create(&path)?);
        write_hgrm(&mut f, &c.hist)?;
        f.flush()?;
    }
    Ok(())
}

/// HdrHistogram's percentile distribution text, values in milliseconds.
pub fn write_hgrm(w: &mut impl Write, h: &Histogram<u64>) -> io::Result<()> {
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / 1e6;
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(
                w,
                "{value:12.3} {q:14.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(w, "{value:12.3} {q:14.12} {total:10}")?;
        }
    }
    writeln!(
        w,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1e6,
        h.stdev() / 1e6
    )?;
    writeln!(
        w,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / 1e6,
        h.len()
    )?;
    writeln!(
        w,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
    )
}

/// The progress line: throughput since the last call, hit rate and p99 so
/// far. `prev` carries the last op count and time between calls.
pub fn progress_line(
    s: &Stats,
    since_start: Duration,
    warming: bool,
    prev: &mut (u64, Duration),
) -> String {
    if warming {
        return "warming up...".to_string();
    }
    let ops = s.ops();
    let dt = since_start.saturating_sub(prev.1).as_secs_f64().max(1e-3);
    let rate = ops.saturating_sub(prev.0) as f64 / dt;
    *prev = (ops, since_start);
    let (hits, misses) = s
        .cmds
        .iter()
        .fold((0, 0), |(h, m), c| (h + c.hits, m + c.misses));
    let mut line = format!(
        "[{:6.1}s] {:>10} ops  {:>9.0} ops/s",
        since_start.as_secs_f64(),
        ops,
        rate
    );
    if hits + misses > 0 {
        line += &format!(
            "  hit {:5.1}%",
            hits as f64 * 100.0 / (hits + misses) as f64
        );
    }
    let h = s.all_latencies();
    if !h.is_empty() {
        line += &format!("  p99 {:.3} ms", h.value_at_quantile(0.99) as f64 / 1e6);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_has_the_standard_shape() {
        let mut h = crate::stats::histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&mut out, &h).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert!(rows[0].contains("Percentile"));
        assert!(rows[1].trim_start().starts_with("0.001 0.000000000000"));
        let last_data = rows[rows.len() - 4];
        assert!(last_data.contains("1.000000000000"), "{last_data}");
        assert!(last_data.contains(" 1000"), "{last_data}");
        assert!(text.contains("Total count    =         1000"));
    }
}

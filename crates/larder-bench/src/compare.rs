//! `--compare URL2`: the same workload against two servers, alternately.
//!
//! Round `r` runs the first server then the second (odd rounds the other
//! way round, so a drift of the machine over time does not favour either),
//! each run a full run of the workload. The summary takes, per command, the
//! median over rounds of throughput and of p50/p99/p99.9 for each server,
//! and the ratio second/first: a comparison made side by side in one
//! invocation on a noisy machine, as bench/redis-compare.sh does with
//! redis-benchmark.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::args::{BenchArgs, Plan, Target};
use crate::report::Report;
use crate::stats::Stats;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Medians {
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub command: String,
    pub first: Medians,
    pub second: Medians,
    /// second / first, per field.
    pub ratio: Medians,
}

#[derive(Serialize)]
struct CompareReport<'a> {
    first: String,
    second: String,
    rounds: usize,
    medians: &'a [Row],
    runs_first: &'a [Report],
    runs_second: &'a [Report],
}

pub fn run(args: &BenchArgs, first: Target, second: Target) -> Result<()> {
    let targets = [first, second];
    let plans = [
        Plan::from_args(args, targets[0].protocol)?,
        Plan::from_args(args, targets[1].protocol)?,
    ];
    let quiet = args.quiet || args.json;
    for (t, p) in targets.iter().zip(&plans) {
        if p.prepopulate {
            crate::prepopulate(t, p, quiet)?;
        }
    }
    let rounds = args.rounds.max(1);
    let mut reports: [Vec<Report>; 2] = [Vec::new(), Vec::new()];
    let names = plans[0].workload.command_names();
    let mut merged = [Stats::new(names.len()), Stats::new(names.len())];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let out = crate::run_once(&targets[i], &plans[i], !quiet)?;
            let r = Report::new(&targets[i], &plans[i].load, &names, &out);
            if !quiet {
                eprintln!(
                    "round {}/{rounds}  {:<32} {:>10.0} ops/s  p50 {:.3}  p99 {:.3} ms  errors {}",
                    round + 1,
                    r.target,
                    r.total.ops_per_sec,
                    r.total.latency_ms.p50,
                    r.total.latency_ms.p99,
                    r.total.errors
                );
            }
            merged[i].merge(&out.stats);
            reports[i].push(r);
        }
    }
    if let Some(prefix) = &args.hdr_out {
        for (tag, stats) in ["first", "second"].iter().zip(&merged) {
            let mut p = prefix.as_os_str().to_owned();
            p.push(format!("-{tag}"));
            crate::report::write_hdr_files(p.as_ref(), &names, stats)?;
        }
    }
    let rows = summarize(&reports[0], &reports[1]);
    let mut w = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut w,
            &CompareReport {
                first: targets[0].to_string(),
                second: targets[1].to_string(),
                rounds,
                medians: &rows,
                runs_first: &reports[0],
                runs_second: &reports[1],
            },
        )?;
        writeln!(w)?;
    } else {
        writeln!(
            w,
            "== compare: first {}  second {}  ({rounds} rounds, medians; ratio = second/first)",
            targets[0], targets[1]
        )?;
        writeln!(
            w,
            "{:<8} {:>12} {:>12} {:>7}  {:>8} {:>8} {:>6}  {:>8} {:>8} {:>6}  {:>8} {:>8} {:>6}",
            "Command",
            "ops/s 1st",
            "ops/s 2nd",
            "ratio",
            "p50 1st",
            "p50 2nd",
            "ratio",
            "p99 1st",
            "p99 2nd",
            "ratio",
            "p99.9 1",
            "p99.9 2",
            "ratio"
        )?;
        for r in &rows {
            writeln!(
                w,
                "{:<8} {:>12.0} {:>12.0} {:>7.3}  {:>8.3} {:>8.3} {:>6.2}  {:>8.3} {:>8.3} {:>6.2}  {:>8.3} {:>8.3} {:>6.2}",
                r.command, r.first.ops_per_sec, r.second.ops_per_sec, r.ratio.ops_per_sec,
                r.first.p50_ms, r.second.p50_ms, r.ratio.p50_ms, r.first.p99_ms,
                r.second.p99_ms, r.ratio.p99_ms, r.first.p999_ms, r.second.p999_ms,
                r.ratio.p999_ms
            )?;
        }
        writeln!(w, "(latencies in ms)")?;
    }
    Ok(())
}

/// Per command (and TOTAL), the medians of each side and their ratios.
pub fn summarize(first: &[Report], second: &[Report]) -> Vec<Row> {
    let mut names: Vec<String> = Vec::new();
    for r in first.iter().chain(second) {
        for c in &r.commands {
            if !names.contains(&c.command) {
                names.push(c.command.clone());
            }
        }
    }
    names.push("TOTAL".into());
    let medians = |runs: &[Report], name: &str| {
        let rows: Vec<_> = runs
            .iter()
            .filter_map(|r| {
                std::iter::once(&r.total)
                    .chain(&r.commands)
                    .find(|c| c.command == name)
            })
            .collect();
        Medians {
            ops_per_sec: median(rows.iter().map(|c| c.ops_per_sec).collect()),
            p50_ms: median(rows.iter().map(|c| c.latency_ms.p50).collect()),
            p99_ms: median(rows.iter().map(|c| c.latency_ms.p99).collect()),
            p999_ms: median(rows.iter().map(|c| c.latency_ms.p999).collect()),
        }
    };
    let ratio = |b: f64, a: f64| if a > 0.0 { b / a } else { f64::NAN };
    names
        .into_iter()
        .map(|name| {
            let (a, b) = (medians(first, &name), medians(second, &name));
            Row {
                ratio: Medians {
                    ops_per_sec: ratio(b.ops_per_sec, a.ops_per_sec),
                    p50_ms: ratio(b.p50_ms, a.p50_ms),
                    p99_ms: ratio(b.p99_ms, a.p99_ms),
                    p999_ms: ratio(b.p999_ms, a.p999_ms),
                },
                first: a,
                second: b,
                command: name,
            }
        })
        .collect()
}

/// The median (mean of the middle two for an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}

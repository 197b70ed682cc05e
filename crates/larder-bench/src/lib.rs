//! # larder-bench: Larder's load generator (`larder bench`)
//!
//! Drives a RESP server (Larder, Redis, Valkey) or a memcached server with a
//! configurable workload and reports throughput, hits/misses and latency
//! percentiles from HDR histograms; `--compare` runs two servers side by
//! side. See `larder bench --help`.
//!
//! Modules, in the order a request flows:
//! * [`args`]: flags, target URLs, validation into a plan.
//! * `keys`, `values`, `rng`: key distributions (uniform, sequential, Zipf,
//!   Gaussian, hot set + scans), value sizes, the per-connection RNG.
//! * `workload`, `trace`: the command mix, `--command` templates, trace
//!   replay.
//! * `proto`: request encoders and reply skippers (RESP2/3, memcached).
//! * `conn`, `driver`, `timer`: connections and the closed/open-loop driver
//!   on per-thread runtimes; a precise timer for open-loop arrivals.
//! * `stats`, `report`, `compare`: histograms, output, A/B comparison.

pub mod args;
mod compare;
mod conn;
mod driver;
mod keys;
mod proto;
mod report;
mod rng;
mod stats;
mod timer;
mod trace;
mod values;
mod workload;

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Result;

pub use args::BenchArgs;
use args::{Plan, Target};
use driver::Outcome;
pub use report::{CmdReport, Report};
pub use stats::Latency;

/// Runs `larder bench` with parsed arguments.
pub fn run(args: BenchArgs) -> Result<()> {
    let target = Target::from_args(&args)?;
    if let Some(url2) = &args.compare {
        let second = target.with_url(url2)?;
        return compare::run(&args, target, second);
    }
    let plan = Plan::from_args(&args, target.protocol)?;
    let quiet = args.quiet || args.json;
    if plan.prepopulate {
        prepopulate(&target, &plan, quiet)?;
    }
    let out = run_once(&target, &plan, !quiet)?;
    let names = plan.workload.command_names();
    let report = Report::new(&target, &plan.load, &names, &out);
    if let Some(prefix) = &args.hdr_out {
        report::write_hdr_files(prefix, &names, &out.stats)?;
    }
    let mut w = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut w, &report)?;
        writeln!(w)?;
    } else {
        report.print(&mut w)?;
    }
    Ok(())
}

/// Runs the benchmark described by `args` (prepopulating if asked) without
/// printing anything, and returns its report. `--compare`, `--json`,
/// `--hdr-out` and the progress line are for [`run`] and ignored here.
pub fn measure(args: &BenchArgs) -> Result<Report> {
    let target = Target::from_args(args)?;
    let plan = Plan::from_args(args, target.protocol)?;
    if plan.prepopulate {
        prepopulate(&target, &plan, true)?;
    }
    let out = run_once(&target, &plan, false)?;
    let names = plan.workload.command_names();
    Ok(Report::new(&target, &plan.load, &names, &out))
}

/// One measured run, with a progress line on a terminal's stderr.
fn run_once(target: &Target, plan: &Plan, progress: bool) -> Result<Outcome> {
    plan.workload.rewind();
    let show = progress && std::io::stderr().is_terminal();
    let mut prev = (0, std::time::Duration::ZERO);
    let out = driver::run_load(target, &plan.load, &plan.workload, |s, t, warming| {
        if show {
            let line = report::progress_line(s, t, warming, &mut prev);
            eprint!("\r{line}\x1b[K");
        }
    });
    if show {
        eprint!("\r\x1b[K");
    }
    out
}

/// SETs every key of the key space once (pipelined), before measuring.
fn prepopulate(target: &Target, plan: &Plan, quiet: bool) -> Result<()> {
    if matches!(plan.workload.mix, workload::Mix::Trace(_)) {
        if !quiet {
            eprintln!("--prepopulate does not apply to --trace; skipped");
        }
        return Ok(());
    }
    let fill = std::sync::Arc::new(plan.workload.fill());
    let load = driver::Load {
        pipeline: plan.load.pipeline.max(32),
        requests: None,
        duration: None,
        rate_per_conn: None,
        warmup: std::time::Duration::ZERO,
        ..plan.load.clone()
    };
    let t = Instant::now();
    let out = driver::run_load(target, &load, &fill, |_, _, _| {})?;
    let errors: u64 = out.stats.cmds.iter().map(|c| c.errors).sum();
    if errors > 0 {
        let e = out.stats.cmds.iter().find_map(|c| c.first_error.clone());
        anyhow::bail!(
            "prepopulate: {errors} errors, first: {}",
            e.unwrap_or_default()
        );
    }
    if !quiet {
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "prepopulated {} keys on {target} in {secs:.2} s",
            out.stats.ops()
        );
    }
    Ok(())
}

//! `larder-bench`: the load generator as a stand-alone program, for testing
//! the crate before `larder bench` is wired into the `larder` binary.
//!
//! `cargo run --release -p larder-bench --example larder-bench -- --help`

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "larder-bench",
    about = "Load generator for RESP and memcached servers"
)]
struct Cli {
    #[command(flatten)]
    args: larder_bench::BenchArgs,
}

fn main() -> anyhow::Result<()> {
    larder_bench::run(Cli::parse().args)
}

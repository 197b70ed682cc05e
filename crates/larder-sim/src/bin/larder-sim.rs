//! Stand-alone `larder sim` for testing the simulator before the main binary
//! wires it in: `larder-sim --trace PATH --size N --policy lru,arc`.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "larder-sim",
    about = "Replay a cache trace through eviction policies"
)]
struct Cli {
    #[command(flatten)]
    args: larder_sim::SimArgs,
}

fn main() -> anyhow::Result<()> {
    larder_sim::run(Cli::parse().args)
}

//! Smoke runs of the demos with small request counts: each sets up its
//! tables, runs both phases against an embedded Larder and passes its own
//! correctness check (an Err means the check failed).

use clap::Parser;
use larder_demo::DemoArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: DemoArgs,
}

fn run(argv: &[&str]) {
    let cli = Cli::try_parse_from(std::iter::once("demo").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    larder_demo::run(cli.args).unwrap_or_else(|e| panic!("{argv:?}: {e:#}"));
}

#[test]
fn flash_sale() {
    run(&["flash-sale", "--requests", "2000"]);
}

#[test]
fn blog() {
    run(&["blog", "--requests", "3000"]);
}

#[test]
fn timeline() {
    run(&["timeline", "--requests", "2000"]);
}

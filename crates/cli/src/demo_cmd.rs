//! `custodia demo`: the whole story on one machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the same story quietly, check every log, proof, signature and count, print one
    /// summary line, and exit 0 only when all hold.
    #[arg(long)]
    check: bool,
    /// Keep the nodes' data in DIR for inspection (for example with `custodia log verify`).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Keep the nodes up after the story and print each node's URL with demo logins for
    /// each role, to click through the same cases in a browser (Ctrl-C stops them).
    #[arg(long, conflicts_with = "check")]
    ui: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(k) = &args.keep
        && k.exists()
        && std::fs::read_dir(k).map(|mut d| d.next().is_some()).unwrap_or(true)
    {
        anyhow::bail!("--keep {}: the directory exists and is not empty", k.display());
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let started = std::time::Instant::now();
    let report = runtime
        .block_on(node::demo::run(node::demo::Options { keep: args.keep.clone(), quiet: args.check, ui: args.ui }))
        .map_err(|e| anyhow::anyhow!("the demo stopped: {e}"))?;
    let passed = report.checks.iter().filter(|(_, ok)| *ok).count();
    let total = report.checks.len();
    if args.check {
        for (what, ok) in &report.checks {
            if !ok {
                eprintln!("FAIL: {what}");
            }
        }
    }
    if !args.check {
        println!();
    }
    println!("demo check: {passed} passed, {} failed ({:.1} s)", total - passed, started.elapsed().as_secs_f64());
    Ok(if report.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

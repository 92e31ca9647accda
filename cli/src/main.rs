//! The `odradek` binary; see the crate docs of `odradek_cli`.

use clap::Parser;
use odradek_cli::args::{Cli, Command};
use std::process::ExitCode;

/// `--features alloc-stats`: count the heap (`odradek perf` prints the counts at the end).
#[cfg(feature = "alloc-stats")]
#[global_allocator]
static GLOBAL: odradek_cli::alloc_stats::Counting = odradek_cli::alloc_stats::Counting;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(args) => odradek_cli::produce::run(args).map(|s| s.exit_code()),
        Command::Perf(args) => odradek_cli::perf::run(args).map(|r| {
            println!("{}", r.final_line());
            #[cfg(feature = "alloc-stats")]
            eprintln!("{}", odradek_cli::alloc_stats::report());
            if r.failed > 0 {
                eprintln!("odradek perf: {} of {} records failed", r.failed, r.records);
                1
            } else {
                0
            }
        }),
        Command::BenchChart(args) => std::fs::read_to_string(&args.rounds)
            .map_err(|e| format!("{}: {e}", args.rounds.display()))
            .and_then(|text| odradek_cli::chart::parse_rounds(&text))
            .and_then(|rounds| odradek_cli::chart::draw(&rounds, &args.title, &args.out))
            .map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("odradek: {e}");
            ExitCode::from(2)
        }
    }
}

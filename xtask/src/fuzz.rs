//! `cargo xtask fuzz`: builds the cargo-fuzz targets of `fuzz/` (libFuzzer, nightly Rust) and
//! runs each for a while, one at a time, from its corpus (`fuzz/corpus/<target>`, kept between
//! runs, git-ignored) and its committed seeds (`fuzz/seeds/<target>`). Installs what is missing
//! first: the nightly toolchain (`rustup toolchain install nightly --profile minimal`) and
//! cargo-fuzz (`cargo install cargo-fuzz --locked`).
//!
//! Built without a sanitizer (`-s none`): the core forbids `unsafe`, so AddressSanitizer would
//! only slow the runs; panics, overflow checks and debug assertions are what the targets
//! assert with. One line per target: seconds, executions (libFuzzer's count), and the crash
//! input if any, with the command that replays it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every target, in the order they run (the decoders first, the whole core last).
pub const TARGETS: [&str; 12] = [
    "frame",
    "api_versions",
    "metadata",
    "produce",
    "init_producer_id",
    "txn",
    "sasl",
    "scram",
    "records",
    "records_roundtrip",
    "decompress",
    "core",
];

/// The rustup proxy for `cargo +nightly`, without the variables the outer cargo set (which
/// would pin the stable toolchain).
fn nightly(root: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly")
        .current_dir(root.join("fuzz"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO_TARGET_DIR");
    c
}

fn quiet_ok(mut c: Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let s = c
        .status()
        .map_err(|e| format!("could not start {what}: {e}"))?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("{what} exited with {s}"))
    }
}

/// Installs the nightly toolchain and cargo-fuzz when they are missing.
fn ensure_tools(root: &Path) -> Result<(), String> {
    let mut v = nightly(root);
    v.arg("--version");
    if !quiet_ok(v) {
        eprintln!("fuzz: installing the nightly toolchain");
        let mut c = Command::new("rustup");
        c.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        run(c, "rustup toolchain install nightly")?;
    }
    let mut v = nightly(root);
    v.args(["fuzz", "--version"]);
    if !quiet_ok(v) {
        eprintln!("fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
        let t = Instant::now();
        let mut c = Command::new("cargo");
        c.args(["install", "cargo-fuzz", "--locked"])
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("CARGO_TARGET_DIR");
        run(c, "cargo install cargo-fuzz")?;
        eprintln!("fuzz: cargo-fuzz installed in {:.1?}", t.elapsed());
    }
    Ok(())
}

/// What one run did.
struct Ran {
    target: &'static str,
    seconds: f64,
    executions: Option<u64>,
    crash: Option<String>,
}

/// libFuzzer's execution count: `stat::number_of_executed_units`, else the last `#N`.
fn executions(log: &str) -> Option<u64> {
    let stat = log.lines().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        log.lines()
            .rev()
            .filter_map(|l| l.strip_prefix('#'))
            .find_map(|l| l.split_whitespace().next()?.parse().ok())
    })
}

/// `cargo xtask fuzz [--seconds N] [--target T]... [--dev]`: every target (or the named ones)
/// for N seconds each (default 60). `dev` builds without optimisations (`cargo fuzz --dev`):
/// a build about 40 % cheaper, runs 10-100x slower (the core target: a few per second).
pub fn fuzz(root: &Path, seconds: u64, only: &[&str], dev: bool) -> Result<(), String> {
    let profile: &[&str] = if dev { &["--dev"] } else { &[] };
    for t in only {
        if !TARGETS.contains(t) {
            return Err(format!(
                "unknown fuzz target {t}; targets: {}",
                TARGETS.join(", ")
            ));
        }
    }
    let targets: Vec<&'static str> = TARGETS
        .iter()
        .copied()
        .filter(|t| only.is_empty() || only.contains(t))
        .collect();
    ensure_tools(root)?;
    let t = Instant::now();
    let mut build = nightly(root);
    build.args(["fuzz", "build", "-s", "none"]).args(profile);
    if only.len() == 1 {
        build.arg(only[0]);
    }
    run(build, "cargo fuzz build")?;
    eprintln!("fuzz: built in {:.1?}", t.elapsed());

    let mut ran = Vec::new();
    for target in targets {
        let corpus = root.join("fuzz").join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = root.join("fuzz").join("seeds").join(target);
        let mut c = nightly(root);
        c.args(["fuzz", "run", "-s", "none"])
            .args(profile)
            .arg(target)
            .arg(&corpus)
            .args(seeds.is_dir().then_some(&seeds))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args(["-rss_limit_mb=2048", "-print_final_stats=1"]);
        if target == "core" {
            // Whole runs of actions need room from the start.
            c.args(["-max_len=4096", "-len_control=0"]);
        }
        let t = Instant::now();
        let out = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("could not start cargo fuzz run {target}: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let crash = (!out.status.success()).then(|| {
            let artifact = log
                .lines()
                .find_map(|l| l.split("Test unit written to ").nth(1))
                .map(str::trim)
                .unwrap_or("(no artifact; see the log above)");
            eprintln!("{log}");
            format!(
                "{artifact}; replay: (cd fuzz && cargo +nightly fuzz run -s none {}{target} \
                 {artifact})",
                if dev { "--dev " } else { "" }
            )
        });
        let r = Ran {
            target,
            seconds: t.elapsed().as_secs_f64(),
            executions: executions(&log),
            crash,
        };
        eprintln!(
            "fuzz: {:<18} {:>6.0} s, {:>11} executions, crash: {}",
            r.target,
            r.seconds,
            r.executions.map_or("?".to_owned(), |n| n.to_string()),
            r.crash.as_deref().unwrap_or("none")
        );
        ran.push(r);
    }
    let crashed: Vec<&str> = ran
        .iter()
        .filter(|r| r.crash.is_some())
        .map(|r| r.target)
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets crashed: {}", crashed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_are_read_from_the_final_stats_or_the_last_status_line() {
        let log = "#2\tINITED cov: 1\n#1024\tpulse  cov: 2\n#5000\tDONE   cov: 3\n\
                   stat::number_of_executed_units: 5001\n";
        assert_eq!(executions(log), Some(5001));
        assert_eq!(executions("#7\tNEW\n#12\tREDUCE\nDone 12 runs\n"), Some(12));
        assert_eq!(executions("no fuzzing here"), None);
    }

    #[test]
    fn every_target_has_a_source_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("fuzz");
        for t in TARGETS {
            let src = root.join("fuzz_targets").join(format!("{t}.rs"));
            assert!(src.is_file(), "{} missing", src.display());
        }
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let bins = manifest.matches("[[bin]]").count();
        assert_eq!(bins, TARGETS.len(), "fuzz/Cargo.toml and TARGETS disagree");
    }
}

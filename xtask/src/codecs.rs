//! `cargo xtask codecs`: odradek's compression codecs against the Go Kafka clients' (franz-go
//! and Sarama: klauspost/compress for gzip and zstd, pierrec/lz4 for lz4, klauspost's s2 for
//! snappy) on the same bytes, at the same levels, one batch at a time.
//!
//! Each side is its own process compressing one ~16 KiB records section (core/benches/codecs.rs
//! writes it, `ODRADEK_CODEC_INPUT`) a fixed number of times; its CPU time (user + sys, from
//! GNU time) divided by the rounds is the cost of one batch. The two alternate over rounds and
//! the best round of each counts, which is the figure least disturbed by other load on a shared
//! machine. Writes `target/bench/codecs.md`.

use crate::status;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (case, rounds at 100 B, rounds at 1 KiB): about a second of CPU per run on a quiet host
/// (GNU time reports CPU time in 10 ms steps: under a second a run, the steps show).
const CASES: [(&str, u32, u32); 5] = [
    ("gzip-6", 20_000, 20_000),
    ("gzip-1", 30_000, 30_000),
    ("zstd-3", 30_000, 30_000),
    ("lz4", 80_000, 80_000),
    ("snappy", 80_000, 80_000),
];
const SIZES: [usize; 2] = [100, 1024];

/// One measured run: CPU µs per batch and the compressed size.
struct Run {
    us_per_batch: f64,
    out_bytes: u64,
}

/// Runs the comparison: `--rounds R` alternations (default 3), `--cases a,b` to pick cases
/// (default: those of `CASES`; any gzip or zstd level, e.g. `gzip-4`).
pub fn codecs(args: &[&str]) -> Result<(), String> {
    let o = crate::Opts::parse(args, &["--rounds", "--cases"], &[])?;
    let rounds: u32 = o.num("--rounds", 3)?;
    let picked: Vec<&str> = o
        .get("--cases")
        .map(|c| c.split(',').collect())
        .unwrap_or_else(|| CASES.iter().map(|c| c.0).collect());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf();
    let out_dir = root.join("target").join("bench");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let rust = build_rust_bench(&root)?;
    let go = build_go(&root, &out_dir)?;

    let mut table = String::from(
        "| case | record size | odradek µs/batch | Go µs/batch | odradek / Go | odradek bytes | Go bytes |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for case in picked {
        // Any other gzip or zstd level: gzip's or zstd's default rounds.
        let family = |c: &str| c.split('-').next().unwrap_or(c).to_owned();
        let (_, rounds_100, rounds_1k) = CASES
            .iter()
            .find(|c| c.0 == case)
            .or_else(|| CASES.iter().find(|c| family(c.0) == family(case)))
            .copied()
            .ok_or_else(|| format!("case {case:?}: gzip-LEVEL, zstd-LEVEL, lz4 or snappy"))?;
        for size in SIZES {
            let n = if size == 100 { rounds_100 } else { rounds_1k };
            let input = out_dir.join(format!("records-{size}.bin"));
            let (mut best_rust, mut best_go): (Option<Run>, Option<Run>) = (None, None);
            for _ in 0..rounds {
                let r = time_rust(&rust, case, size, n, &out_dir)?;
                let g = time_go(&go, case, n, &input, &out_dir)?;
                eprintln!(
                    "{case} {size} B: odradek {:.2} µs, go {:.2} µs",
                    r.us_per_batch, g.us_per_batch
                );
                best_rust = Some(best(best_rust, r));
                best_go = Some(best(best_go, g));
            }
            let (r, g) = (
                best_rust.expect("rounds >= 1"),
                best_go.expect("rounds >= 1"),
            );
            let _ = writeln!(
                table,
                "| {case} | {size} B | {:.2} | {:.2} | {:.2}x | {} | {} |",
                r.us_per_batch,
                g.us_per_batch,
                r.us_per_batch / g.us_per_batch,
                r.out_bytes,
                g.out_bytes
            );
        }
    }
    let report = format!(
        "# Codecs: odradek vs the Go clients' codecs\n\n\
         One ~16 KiB RecordBatch v2 records section of JSON-like values (core/benches/codecs.rs),\n\
         compressed one batch at a time; CPU time per batch, best of {rounds} alternating runs.\n\
         Go: klauspost/compress (gzip, zstd level 3 = SpeedDefault, s2 snappy), pierrec/lz4 v4\n\
         (64 KiB blocks), one goroutine. Command: `cargo xtask codecs`.\n\n{table}"
    );
    print!("{report}");
    let path = out_dir.join("codecs.md");
    fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn best(a: Option<Run>, b: Run) -> Run {
    match a {
        Some(a) if a.us_per_batch <= b.us_per_batch => a,
        _ => b,
    }
}

/// Builds odradek-core's codecs bench (bench profile) and returns its executable.
fn build_rust_bench(root: &Path) -> Result<PathBuf, String> {
    eprintln!("==> building odradek-core's codecs bench");
    let out = crate::cargo()
        .args([
            "bench",
            "-p",
            "odradek-core",
            "--bench",
            "codecs",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo bench --no-run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    executable(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "cargo bench printed no executable for the codecs bench".into())
}

/// The `"executable":"..."` of the codecs bench in cargo's JSON messages.
fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter(|l| l.contains("\"name\":\"codecs\""))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + 14..];
            Some(PathBuf::from(&rest[..rest.find('"')?]))
        })
}

/// Builds xtask/codecs-go with the machine's Go (modules from the Go proxy).
fn build_go(root: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    eprintln!("==> building xtask/codecs-go");
    let exe = out_dir.join("codecs-go");
    let mut c = Command::new("go");
    c.args(["build", "-o"])
        .arg(&exe)
        .arg(".")
        .current_dir(root.join("xtask").join("codecs-go"));
    status(c).map_err(|e| format!("go build (is Go installed?): {e}"))?;
    Ok(exe)
}

fn time_rust(exe: &Path, case: &str, size: usize, n: u32, dir: &Path) -> Result<Run, String> {
    let mut c = Command::new(exe);
    c.env("ODRADEK_CODEC_ROUNDS", n.to_string())
        .env("ODRADEK_CODEC_CASE", format!("{case}/{size}B"))
        .env("ODRADEK_CODEC_INPUT", dir);
    timed(c, n, dir)
}

fn time_go(exe: &Path, case: &str, n: u32, input: &Path, dir: &Path) -> Result<Run, String> {
    let mut c = Command::new(exe);
    c.arg(case).arg(n.to_string()).arg(input);
    timed(c, n, dir)
}

/// Runs `inner` under GNU time; both sides print `... -> OUT bytes` as their last words.
fn timed(inner: Command, n: u32, dir: &Path) -> Result<Run, String> {
    let time_file = dir.join("codecs-time.txt");
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%U %S", "-o"])
        .arg(&time_file)
        .arg(inner.get_program())
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let out = c.output().map_err(|e| format!("{inner:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{inner:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let times = fs::read_to_string(&time_file).map_err(|e| e.to_string())?;
    let cpu: f64 = times
        .split_whitespace()
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    let out_bytes = stdout
        .split_whitespace()
        .rev()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("no output size in {stdout:?}"))?;
    Ok(Run {
        us_per_batch: cpu * 1e6 / f64::from(n),
        out_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_codecs_executable_in_cargo_messages() {
        let msgs = "{\"reason\":\"compiler-artifact\",\"target\":{\"name\":\"records\"},\"executable\":\"/t/records-1\"}\n\
                    {\"reason\":\"compiler-artifact\",\"target\":{\"kind\":[\"bench\"],\"name\":\"codecs\"},\"executable\":\"/t/release/deps/codecs-ab12\",\"fresh\":true}\n";
        assert_eq!(
            executable(msgs),
            Some(PathBuf::from("/t/release/deps/codecs-ab12"))
        );
        assert_eq!(executable("{\"name\":\"codecs\"}"), None);
    }

    #[test]
    fn keeps_the_faster_run() {
        let run = |us_per_batch, out_bytes| Run {
            us_per_batch,
            out_bytes,
        };
        assert_eq!(best(Some(run(9.0, 1)), run(3.0, 2)).out_bytes, 2);
        assert_eq!(best(Some(run(3.0, 2)), run(4.0, 3)).out_bytes, 2);
        assert_eq!(best(None, run(4.0, 3)).out_bytes, 3);
    }
}

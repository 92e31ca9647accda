//! `cargo xtask ...`: project automation. Run `cargo xtask help` for the commands.
//!
//! Its one dependency is the Kafka harness (`odradek-kafka-harness`, which the
//! `odradek-tests` library re-exports as `odradek_tests::kafka`).

mod bench;
mod chaos;
mod codecs;
mod fuzz;
mod mutants;
mod package;
mod structure;

use odradek_kafka_harness as kafka;
use odradek_kafka_harness::{KafkaCluster, Lifetime, StartOptions, Version};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const HELP: &str = "\
cargo xtask <command>

  demo [ARGS...]               the main job: start a local Kafka 4.4 (fetched if needed), produce
                               a million records through each runtime (tokio, async-std, smol, mio)
                               with a progress bar, read them all back with Kafka's own Java
                               consumer to verify, print records/s and MB/s per runtime; ARGS go
                               to the demo binary (`cargo xtask demo --help`)
  test                         fmt check, clippy, the shape rules (`structure` below), docs
                               (-D warnings), cargo package of the published crates, the
                               MSRV check (Rust 1.85), cargo deny (deny.toml), unit +
                               simulation tests, a 3 s smoke run of
                               every fuzz target (`fuzz` below), then the real-Kafka
                               suites (Kafka 4.4, 4.1 and 3.9, fetched if needed; the secured
                               SSL / SASL / SASL_SSL suites on one 4.4 broker) and a short chaos
                               run (below); exits non-zero on any failure and checks that no
                               broker is left running
  bench [--partitions P[,P...]] [--keys K[,K...]] [--records N] [--rounds R] [--warmup N]
        [--compression C] [--record-size B] [--producers LIST] [--bootstrap ADDR]
        [--transactional [--txn-records N]]
                               odradek perf (tokio, async-std, mio) against Kafka's Java client
                               (kafka/KeyedPerf.java) and kcat -P on a local Kafka 4.1: one case
                               per --partitions entry (default 6), each on a fresh topic; --keys
                               one value or one per case (default 0 = null keys; K > 0: key
                               i % K, the same for every producer); acks=all, idempotent, linger
                               5 ms, batch 16384, buffer.memory 32 MiB; default 1000000 records
                               of 100 B, 3 alternating rounds after an unmeasured warm-up of
                               200000 (--warmup); CPU and peak RSS of each producer
                               process, with issue 22's goal ratios, the RSS budget check and
                               slow-run flags; writes target/bench/report.md, rounds-*.tsv,
                               chart-*.png and logs/. --transactional: each producer but kcat
                               also runs in transactions of --txn-records (1000) records
                               (`<producer>+txn`), reported beside its idempotent run. Not part
                               of `test`
  codecs [--rounds R] [--cases gzip-6,zstd-3,...]
                               odradek's codecs against the Go clients' (klauspost/compress,
                               pierrec/lz4) on the same 16 KiB batches, same levels: CPU per
                               batch of each as its own process, best of R alternating runs
                               (default 3); needs Go; writes target/bench/codecs.md. Not part of
                               `test`
  structure                    the shape rules of core/src (issue 22): no file over 800 lines
                               (but an allow-list of files being split, empty now), no type
                               whose inherent methods are in more than 3 files (see
                               core/ARCHITECTURE.md); a step of `test`
  fuzz [--seconds N] [--target T]... [--dev]
                               build the cargo-fuzz targets of fuzz/ (nightly; installs the
                               nightly toolchain and cargo-fuzz when missing) and run each
                               (or only T) for N seconds (default 60), one at a time, from
                               fuzz/corpus/<T> and the seeds in fuzz/seeds/<T>; one line per
                               target: seconds, executions, crash. --dev: unoptimised build
                               (cheaper to build, 10-100x slower to run). `test` runs each
                               for 3 s
  mutants [--seeds N] [--file F]
                               apply each mutation of xtask/mutants.txt (or F) in turn, run the
                               simulation suite (N seeds, default the suite's CI budget), expect
                               it to fail, restore the file; one line per mutation, non-zero exit
                               if any is not caught
  chaos [--runtime tokio|async-std|mio|all] [--records N] [--kills K] [--kill-every S]
        [--mode kill|stop|blackhole|stall|lossy] [--stop-runs RUNTIMES] [--value-size B]
        [--collect ordered|unordered] [--blackhole-runs RUNTIMES] [--stall-runs RUNTIMES]
        [--lossy-runs RUNTIMES] [--net-records N] [--no-idempotence]
        [--transactional] [--txn-size N] [--txn-runs RUNTIMES] [--txn-records N] [--txn-kills K]
                               a 3-node Kafka 4.4 (ODRADEK_KAFKA_VERSION=4.1 for another;
                               replication 3, min.insync.replicas 2):
                               while each runtime produces (acks=all, its own process), SIGKILL
                               the leader of a partition being written or a random broker,
                               restart it, wait until it is back in every ISR, repeat; read
                               everything back and print `chaos: <runtime> <N> records, <K>
                               kills, lost 0, duplicated 0, reordered 0, failed 0, peak rss <M>
                               MiB`; `--mode stop` freezes the leader (SIGSTOP) past the request
                               timeout instead (`--stop-runs` adds such runs after the others).
                               Network faults (root; iptables installed if missing): each
                               broker behind a TCP proxy, the producer as user odradek-chaos;
                               `--blackhole-runs` drops its packets to one leader for 10 s
                               (past its 5 s request timeout) while the cluster sees it alive,
                               `--stall-runs` holds back one leader's answers for 10 s while
                               its requests go through (half-open connections),
                               `--lossy-runs` adds 15-45 ms delay per hop, 3% loss, TCP resets
                               mid-request and cut connections for a whole run.
                               --transactional: tokio and async-std produce in transactions of
                               --txn-size (100) records while odd kills hit the transaction
                               coordinator's broker; abort on an abortable error, a new
                               producer with the same transactional.id on a fatal one or an
                               operation over 30 s; read back read_committed and print `chaos
                               txn: ... committed C, aborted A, unknown U (V visible), torn 0,
                               duplicated 0, lost 0, aborted visible 0, ...` (--txn-runs adds
                               such runs after the others)
                               Defaults: all runtimes, 200000 records, 3 kills every 10 s. Exits
                               non-zero on any non-zero figure or a peak RSS above
                               buffer.memory + 64 MiB
  kafka fetch [--version V]    fetch Kafka's jars with Maven into .kafka/<V>/lib (default: all)
  kafka start [--version 4.4|4.1|3.9] [--nodes 1|3] [--name N]
                               start a local KRaft cluster in the background (default 4.4, one
                               node, name \"default\"); prints its bootstrap address
  kafka stop [--name N | --all]
                               stop it (SIGTERM, SIGKILL after 20 s)
  kafka status                 list clusters under .kafka/run and whether they run
  kafka topic create <topic> --partitions P [--replication R] [--config k=v]... [--name N]
  kafka consume <topic> [--max M] [--name N]
                               print records with Kafka's ConsoleConsumer (timestamp, partition,
                               offset, headers, key, value; TAB-separated)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => test(rest),
        ["demo", rest @ ..] => demo(rest),
        ["bench", rest @ ..] => bench::bench(rest),
        ["codecs", rest @ ..] => codecs::codecs(rest),
        ["chaos", rest @ ..] => chaos_cmd(rest),
        ["kafka", rest @ ..] => kafka_cmd(rest),
        ["mutants", rest @ ..] => mutants_cmd(rest),
        ["fuzz", rest @ ..] => fuzz_cmd(rest),
        ["structure"] => structure::check(&kafka::workspace_root()).map(|()| {
            eprintln!(
                "core/src: no file over {} lines, no type's methods in more than {} files",
                structure::MAX_LINES,
                structure::MAX_IMPL_FILES
            );
        }),
        [] | ["help" | "--help" | "-h", ..] => {
            print!("{HELP}");
            Ok(())
        }
        [other, ..] => Err(format!("unknown command {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask chaos`: fetches Kafka (the newest, or `ODRADEK_KAFKA_VERSION`) if needed,
/// then runs the chaos binary.
fn chaos_cmd(args: &[&str]) -> Result<(), String> {
    fetch_timed(Version::from_env().map_err(|e| e.0)?)?;
    status(chaos::command(cargo(), args))
}

/// Parsed `--flag value` options plus positional arguments.
struct Opts<'a> {
    positional: Vec<&'a str>,
    flags: Vec<(&'a str, &'a str)>,
    switches: Vec<&'a str>,
}

impl<'a> Opts<'a> {
    /// `valued` lists the flags that take a value; `switches` those that do not.
    fn parse(args: &[&'a str], valued: &[&str], switches: &[&str]) -> Result<Self, String> {
        let mut o = Opts {
            positional: Vec::new(),
            flags: Vec::new(),
            switches: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(&a) = it.next() {
            if let Some((k, v)) = a.split_once('=').filter(|(k, _)| valued.contains(k)) {
                o.flags.push((k, v));
            } else if valued.contains(&a) {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                o.flags.push((a, v));
            } else if switches.contains(&a) {
                o.switches.push(a);
            } else if a.starts_with("--") {
                return Err(format!("unknown option {a}"));
            } else {
                o.positional.push(a);
            }
        }
        Ok(o)
    }

    fn get(&self, flag: &str) -> Option<&'a str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| *k == flag)
            .map(|(_, v)| *v)
    }

    fn all(&self, flag: &str) -> Vec<&'a str> {
        self.flags
            .iter()
            .filter(|(k, _)| *k == flag)
            .map(|(_, v)| *v)
            .collect()
    }

    fn num<T: std::str::FromStr>(&self, flag: &str, default: T) -> Result<T, String> {
        match self.get(flag) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{flag}: not a number: {v:?}")),
        }
    }

    fn version(&self) -> Result<Version, String> {
        self.get("--version")
            .map_or(Ok(Version::NEWEST), |v| Version::parse(v).map_err(|e| e.0))
    }
}

fn kafka_cmd(args: &[&str]) -> Result<(), String> {
    match args {
        ["fetch", rest @ ..] => {
            let o = Opts::parse(rest, &["--version"], &[])?;
            let versions = match o.get("--version") {
                Some(v) => vec![Version::parse(v).map_err(|e| e.0)?],
                None => Version::ALL.to_vec(),
            };
            for v in versions {
                fetch_timed(v)?;
            }
            Ok(())
        }
        ["start", rest @ ..] => {
            let o = Opts::parse(rest, &["--version", "--nodes", "--name"], &[])?;
            let mut opts = StartOptions::new(o.version()?, o.num("--nodes", 1)?);
            opts.name = Some(o.get("--name").unwrap_or("default").to_owned());
            opts.lifetime = Lifetime::Detached;
            fetch_timed(opts.version)?;
            let t = Instant::now();
            let cluster = KafkaCluster::start_with(opts).map_err(|e| e.0)?;
            eprintln!(
                "Kafka {} cluster {:?} with {} node(s) ready in {:.1?}; pids {:?}; logs in {}",
                cluster.version(),
                cluster.name(),
                cluster.nodes().len(),
                t.elapsed(),
                cluster.nodes().iter().map(|n| n.pid).collect::<Vec<_>>(),
                kafka::run_root().join(cluster.name()).display()
            );
            println!("{}", cluster.bootstrap());
            Ok(())
        }
        ["stop", rest @ ..] => {
            let o = Opts::parse(rest, &["--name"], &["--all"])?;
            let names = if o.switches.contains(&"--all") {
                cluster_names()
            } else {
                vec![o.get("--name").unwrap_or("default").to_owned()]
            };
            for name in names {
                let t = Instant::now();
                match kafka::stop_by_name(&name) {
                    Ok(pids) if pids.is_empty() => eprintln!("{name}: was not running"),
                    Ok(pids) => eprintln!("{name}: stopped pids {pids:?} in {:.1?}", t.elapsed()),
                    Err(e) => return Err(format!("{name}: {e}")),
                }
            }
            Ok(())
        }
        ["status"] => {
            for name in cluster_names() {
                let dir = kafka::run_root().join(&name);
                match kafka::State::read(&dir) {
                    Some(s) => {
                        let alive: Vec<u32> = s
                            .nodes
                            .iter()
                            .filter(|n| kafka::is_our_broker(n.pid, &n.dir))
                            .map(|n| n.pid)
                            .collect();
                        println!(
                            "{name}: Kafka {} bootstrap {} ({} of {} nodes running)",
                            s.version,
                            s.bootstrap,
                            alive.len(),
                            s.nodes.len()
                        );
                    }
                    None => println!("{name}: stopped"),
                }
            }
            Ok(())
        }
        ["topic", "create", rest @ ..] => {
            let o = Opts::parse(
                rest,
                &["--partitions", "--replication", "--config", "--name"],
                &[],
            )?;
            let [topic] = o.positional.as_slice() else {
                return Err("usage: kafka topic create <topic> --partitions P ...".into());
            };
            let cluster =
                KafkaCluster::attach(o.get("--name").unwrap_or("default")).map_err(|e| e.0)?;
            let mut configs = Vec::new();
            for c in o.all("--config") {
                configs.push(
                    c.split_once('=')
                        .ok_or_else(|| format!("--config {c}: not k=v"))?,
                );
            }
            let partitions = o.num("--partitions", 1)?;
            let replication = o.num("--replication", 1)?;
            cluster
                .create_topic(topic, partitions, replication, &configs)
                .map_err(|e| e.0)?;
            eprintln!("created topic {topic} ({partitions} partitions, replication {replication})");
            Ok(())
        }
        ["consume", rest @ ..] => {
            let o = Opts::parse(rest, &["--max", "--name"], &[])?;
            let [topic] = o.positional.as_slice() else {
                return Err("usage: kafka consume <topic> [--max M]".into());
            };
            let cluster =
                KafkaCluster::attach(o.get("--name").unwrap_or("default")).map_err(|e| e.0)?;
            let out = kafka::console_consume(
                cluster.version(),
                &cluster.bootstrap(),
                topic,
                o.num("--max", 100)?,
            )
            .map_err(|e| e.0)?;
            print!("{out}");
            Ok(())
        }
        _ => Err(format!("unknown kafka command {args:?}\n\n{HELP}")),
    }
}

fn cluster_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(kafka::run_root())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("state").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn fetch_timed(v: Version) -> Result<(), String> {
    let t = Instant::now();
    match kafka::fetch(v).map_err(|e| e.0)? {
        kafka::Fetched::Cached(lib) => {
            eprintln!("Kafka {v}: jars up to date in {}", lib.display())
        }
        kafka::Fetched::Downloaded(lib) => eprintln!(
            "Kafka {v}: fetched jars into {} in {:.1?}",
            lib.display(),
            t.elapsed()
        ),
    }
    Ok(())
}

/// One step of `cargo xtask test` and how it went.
struct Step {
    name: String,
    ok: bool,
    took: Duration,
}

/// `cargo xtask fuzz`.
fn fuzz_cmd(args: &[&str]) -> Result<(), String> {
    let o = Opts::parse(args, &["--seconds", "--target"], &["--dev"])?;
    if let Some(p) = o.positional.first() {
        return Err(format!("unexpected argument {p}"));
    }
    let seconds = o.num("--seconds", 60u64)?;
    let dev = o.switches.contains(&"--dev");
    fuzz::fuzz(&kafka::workspace_root(), seconds, &o.all("--target"), dev)
}

/// `cargo xtask mutants`.
fn mutants_cmd(args: &[&str]) -> Result<(), String> {
    let o = Opts::parse(args, &["--seeds", "--file"], &[])?;
    let seeds = match o.get("--seeds") {
        None => None,
        Some(_) => Some(o.num("--seeds", 0u64)?),
    };
    let root = kafka::workspace_root();
    let file = o.get("--file").map_or_else(
        || root.join("xtask").join("mutants.txt"),
        std::path::PathBuf::from,
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    mutants::run(&root, &file, seeds, &cargo)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(kafka::workspace_root());
    c
}

fn run_step(steps: &mut Vec<Step>, name: &str, f: impl FnOnce() -> Result<(), String>) -> bool {
    eprintln!("\n==> {name}");
    let t = Instant::now();
    let r = f();
    let took = t.elapsed();
    match &r {
        Ok(()) => eprintln!("==> {name}: ok ({took:.1?})"),
        Err(e) => eprintln!("==> {name}: FAILED ({took:.1?}): {e}"),
    }
    steps.push(Step {
        name: name.to_owned(),
        ok: r.is_ok(),
        took,
    });
    r.is_ok()
}

fn status(mut cmd: Command) -> Result<(), String> {
    let s = cmd
        .status()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("exited with {s}"))
    }
}

/// `cargo xtask demo`: the demo binary of odradek-examples, built with optimisations.
fn demo(args: &[&str]) -> Result<(), String> {
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "-p",
        "odradek-examples",
        "--bin",
        "demo",
        "--",
    ]);
    c.args(args);
    status(c)
}

/// Seconds per fuzz target in `cargo xtask test`.
const FUZZ_SMOKE_SECONDS: u64 = 3;

fn test(args: &[&str]) -> Result<(), String> {
    let o = Opts::parse(args, &[], &["--no-broker"])?;
    let with_broker = !o.switches.contains(&"--no-broker");
    let run_id = format!("xtask-{}", std::process::id());
    let total = Instant::now();
    let mut steps = Vec::new();

    run_step(&mut steps, "cargo fmt --all -- --check", || {
        let mut c = cargo();
        c.args(["fmt", "--all", "--", "--check"]);
        status(c)
    });
    run_step(
        &mut steps,
        "cargo clippy --workspace --all-targets -- -D warnings",
        || {
            let mut c = cargo();
            c.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            status(c)
        },
    );
    run_step(
        &mut steps,
        "cargo xtask structure (core/src shape rules)",
        || structure::check(&kafka::workspace_root()),
    );
    // Docs with -D warnings, cargo package, the MSRV, cargo deny (xtask/src/package.rs).
    package::steps(&mut steps);
    run_step(
        &mut steps,
        "cargo test --workspace (unit + simulation)",
        || {
            let mut c = cargo();
            c.args(["test", "--workspace", "--no-fail-fast"])
                .env_remove(kafka::ENABLE_ENV);
            status(c)
        },
    );
    // A smoke run of every fuzz target; `cargo xtask fuzz` runs them longer. Optimised: an
    // unoptimised build (--dev) is cheaper, but its core target runs at a few executions a
    // second, too few to be a test.
    run_step(
        &mut steps,
        &format!("cargo xtask fuzz --seconds {FUZZ_SMOKE_SECONDS} (smoke)"),
        || fuzz::fuzz(&kafka::workspace_root(), FUZZ_SMOKE_SECONDS, &[], false),
    );
    if with_broker {
        let mut fetched = true;
        for v in Version::ALL {
            fetched &= run_step(&mut steps, &format!("fetch Kafka {v}"), || fetch_timed(v));
        }
        if fetched {
            run_step(
                &mut steps,
                // Includes the secured suites (tests/tests/tls.rs: SSL, SASL_PLAINTEXT,
                // SASL_SSL on every runtime), one secured Kafka 4.4 start for all of them.
                "cargo test -p odradek-tests -p odradek-cli (real Kafka 4.4, 4.1 and 3.9, secured 4.4)",
                || {
                    let mut c = cargo();
                    c.args([
                        "test",
                        "-p",
                        "odradek-tests",
                        "-p",
                        "odradek-cli",
                        "--no-fail-fast",
                    ])
                    .env(kafka::ENABLE_ENV, "1")
                    .env(kafka::RUN_ID_ENV, &run_id);
                    status(c)
                },
            );
            let args = chaos::test_args();
            run_step(
                &mut steps,
                &format!("cargo xtask chaos {}", args.join(" ")),
                || {
                    let mut c = chaos::command(cargo(), &args);
                    c.env(kafka::RUN_ID_ENV, &run_id);
                    status(c)
                },
            );
        }
        run_step(&mut steps, "no Kafka process left behind", || {
            // Watchdogs stop brokers once the test processes exit; give them time to.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = kafka::brokers_of_run(&run_id);
                if left.is_empty() {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    for &pid in &left {
                        kafka::signal(pid, "KILL");
                    }
                    return Err(format!(
                        "brokers still running after tests (killed): {left:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }

    eprintln!("\n==> summary");
    for s in &steps {
        eprintln!(
            "  {:<6} {:>8.1?}  {}",
            if s.ok { "ok" } else { "FAILED" },
            s.took,
            s.name
        );
    }
    eprintln!("  total  {:>8.1?}", total.elapsed());
    let failed = steps.iter().filter(|s| !s.ok).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} step(s) failed"))
    }
}

//! Command-line arguments (clap derive).

use crate::RuntimeKind;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `odradek`: a Kafka producer on the command line.
#[derive(Debug, Parser)]
#[command(name = "odradek", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Produce one record per line from stdin or a file (like `kcat -P`).
    Produce(ProduceArgs),
    /// Measure producer throughput and latency (like Kafka's `kafka-producer-perf-test`).
    Perf(PerfArgs),
    /// Draw the PNG chart of `cargo xtask bench` from its rounds file (used by xtask).
    #[command(hide = true)]
    BenchChart(BenchChartArgs),
}

/// `odradek produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Bootstrap servers, `host:port[,host:port...]` (or `-X bootstrap.servers=...`).
    #[arg(short = 'b', long = "bootstrap-server", alias = "broker-list")]
    pub bootstrap_server: Option<String>,
    /// The topic.
    #[arg(short, long)]
    pub topic: String,
    /// A producer setting with its Kafka name, `key=value` (repeatable): `-X acks=1 -X
    /// linger.ms=20`.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = crate::split_pair)]
    pub config: Vec<(String, String)>,
    /// A `.properties` file of producer settings (read before `-X`).
    #[arg(long = "producer.config", alias = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Read records from this file instead of stdin.
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Split each line at the first occurrence of this delimiter into key and value; a line
    /// without it has no key.
    #[arg(short = 'K', long)]
    pub key_delimiter: Option<String>,
    /// A header added to every record, `key=value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = crate::split_pair)]
    pub headers: Vec<(String, String)>,
    /// Send every record to this partition (default: the partitioner decides).
    #[arg(short, long)]
    pub partition: Option<i32>,
    /// The line delimiter (default: newline; a trailing `\r` is dropped too).
    #[arg(short = 'D', long, default_value = "\n")]
    pub delimiter: String,
    /// Produce empty lines as records with an empty value (by default they are skipped).
    #[arg(long)]
    pub keep_empty: bool,
    /// Which adapter to use.
    #[arg(long, value_enum, default_value = "tokio")]
    pub runtime: RuntimeKind,
    /// No progress lines, only the summary (and failures).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `odradek perf`, with `kafka-producer-perf-test`'s names.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// The topic.
    #[arg(long)]
    pub topic: String,
    /// How many records to send.
    #[arg(long = "num-records")]
    pub num_records: u64,
    /// The value size in bytes: every record carries a copy of one payload of this many random
    /// letters.
    #[arg(
        long = "record-size",
        required_unless_present = "payload_file",
        conflicts_with = "payload_file"
    )]
    pub record_size: Option<usize>,
    /// Values from this file instead: its entries (split at `--payload-delimiter`, empty ones
    /// skipped) are sent in turn, from the first, wrapping around.
    #[arg(long = "payload-file", value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// Keyed records (not in the Java tool): record `i` gets the key `i % KEYS` in decimal,
    /// zero-padded to 8 digits (`00012345`); 0 (the default) sends null keys.
    #[arg(long, default_value_t = 0)]
    pub keys: u64,
    /// The delimiter of `--payload-file`'s entries.
    #[arg(long = "payload-delimiter", default_value = "\\n")]
    pub payload_delimiter: String,
    /// Records per second to aim at; `-1` (or any value ≤ 0) means as fast as possible.
    #[arg(long, allow_negative_numbers = true)]
    pub throughput: f64,
    /// Producer settings with their Kafka names: `--producer-props bootstrap.servers=h:9092
    /// acks=all linger.ms=5`.
    #[arg(long = "producer-props", num_args = 1.., value_name = "KEY=VALUE", value_parser = crate::split_pair)]
    pub producer_props: Vec<(String, String)>,
    /// A `.properties` file of producer settings (read before `--producer-props`).
    #[arg(long = "producer.config", value_name = "FILE")]
    pub producer_config: Option<PathBuf>,
    /// Bootstrap servers (or `bootstrap.servers=` in `--producer-props`).
    #[arg(long = "bootstrap-server")]
    pub bootstrap_server: Option<String>,
    /// Which adapter to use.
    #[arg(long, value_enum, default_value = "tokio")]
    pub runtime: RuntimeKind,
    /// Seconds between progress lines.
    #[arg(long = "reporting-interval", default_value_t = 5.0)]
    pub reporting_interval: f64,
    /// When no outcome has arrived for this many seconds while records are pending, print the
    /// producer's state (its stats: connections, requests in flight, retries, the partitions
    /// holding records) to stderr, and again every such period while it lasts; 0 (the
    /// default) never does. A stall detector for `cargo xtask bench`.
    #[arg(long = "stall-report", default_value_t = 0.0)]
    pub stall_report: f64,
    /// Transactional: begin a transaction, send this many records in it, commit, and again
    /// (the last one may be shorter); `transactional.id` from the settings, or
    /// `odradek-perf-<pid>`. The time includes every commit.
    #[arg(long = "transaction-records", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_records: Option<u64>,
}

/// `odradek bench-chart` (hidden): `cargo xtask bench`'s chart.
#[derive(Debug, Args)]
pub struct BenchChartArgs {
    /// The rounds file xtask wrote (TSV: producer, round, records/s, CPU µs/record, peak RSS KiB).
    pub rounds: PathBuf,
    /// The PNG to write.
    pub out: PathBuf,
    /// A title line.
    #[arg(long, default_value = "odradek bench")]
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("odradek").chain(args.iter().copied()))
    }

    #[test]
    fn produce_arguments() {
        let cli = parse(&[
            "produce",
            "-b",
            "h1:9092,h2:9092",
            "--topic",
            "t",
            "-X",
            "acks=1",
            "-X",
            "linger.ms=20",
            "--key-delimiter",
            ":",
            "--header",
            "source=cli",
            "-H",
            "x=y=z",
            "--partition",
            "3",
            "--file",
            "in.txt",
        ])
        .unwrap();
        let Command::Produce(p) = cli.command else {
            panic!("not produce")
        };
        assert_eq!(p.bootstrap_server.as_deref(), Some("h1:9092,h2:9092"));
        assert_eq!(p.topic, "t");
        assert_eq!(
            p.config,
            [
                ("acks".into(), "1".into()),
                ("linger.ms".into(), "20".into())
            ]
        );
        assert_eq!(p.key_delimiter.as_deref(), Some(":"));
        assert_eq!(
            p.headers,
            [("source".into(), "cli".into()), ("x".into(), "y=z".into())]
        );
        assert_eq!(p.partition, Some(3));
        assert_eq!(p.file, Some(PathBuf::from("in.txt")));
        assert_eq!(p.runtime, RuntimeKind::Tokio);
        assert_eq!(p.delimiter, "\n");

        assert!(parse(&["produce", "--topic", "t", "-X", "acks"]).is_err());
        assert!(
            parse(&["produce", "-b", "h:1"]).is_err(),
            "topic is required"
        );
        assert!(parse(&["produce", "-t", "t", "--partition", "x"]).is_err());
    }

    #[test]
    fn perf_arguments_use_kafka_names() {
        let cli = parse(&[
            "perf",
            "--topic",
            "t",
            "--num-records",
            "1000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            "bootstrap.servers=h:9092",
            "acks=all",
            "linger.ms=5",
            "--runtime",
            "async-std",
        ])
        .unwrap();
        let Command::Perf(p) = cli.command else {
            panic!("not perf")
        };
        assert_eq!(p.num_records, 1000);
        assert_eq!(p.record_size, Some(100));
        assert_eq!(p.payload_file, None);
        assert_eq!(p.throughput, -1.0);
        assert_eq!(p.producer_props.len(), 3);
        assert_eq!(p.producer_props[0].1, "h:9092");
        assert_eq!(p.runtime, RuntimeKind::AsyncStd);
        assert_eq!(p.reporting_interval, 5.0);
        assert_eq!(p.keys, 0);
        assert_eq!(p.stall_report, 0.0);

        // `perf --topic t --num-records 1` and then `rest`.
        let perf = |rest: &[&'static str]| {
            let head = ["perf", "--topic", "t", "--num-records", "1"];
            parse(&[&head[..], rest].concat())
        };
        let one = ["--record-size", "1", "--throughput"];
        let mio = perf(&[&one[..], &["500", "--runtime", "mio"]].concat()).unwrap();
        let Command::Perf(p) = mio.command else {
            panic!("not perf")
        };
        assert_eq!(p.runtime, RuntimeKind::Mio);
        assert_eq!(p.throughput, 500.0);
        let file = ["--payload-file", "p.txt", "--throughput", "-1"];
        let Command::Perf(p) = perf(&file).unwrap().command else {
            panic!("not perf")
        };
        assert_eq!(
            (p.record_size, p.payload_file),
            (None, Some("p.txt".into()))
        );
        assert_eq!(p.payload_delimiter, "\\n");
        let keyed = perf(&[&file[..], &["--keys", "100000"]].concat()).unwrap();
        let Command::Perf(p) = keyed.command else {
            panic!("not perf")
        };
        assert_eq!(p.keys, 100_000);
        assert!(perf(&[&file[..], &["--keys", "-1"]].concat()).is_err());
        // One or the other, as the Java tool.
        assert!(perf(&[&file[..], &["--record-size", "5"]].concat()).is_err());
        assert!(perf(&[]).is_err());
        assert!(perf(&[&one[..], &["-1", "--runtime", "smol"]].concat()).is_err());
    }
}

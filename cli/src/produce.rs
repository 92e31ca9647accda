//! `odradek produce`: one record per line from stdin or a file, like `kcat -P`.
//!
//! Progress goes to stderr every five seconds (unless `--quiet`), each failed record is
//! reported on stderr with its line number (the first 20; then only counted), and the run
//! ends with a summary line; the exit code is 0 when every record was delivered, 1 when any
//! failed.

use crate::args::ProduceArgs;
use crate::lines::{split_key, LineReader};
use crate::RuntimeKind;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use odradek_core::{Config, Header, Record, TopicName};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

/// How many failures are printed one by one.
const SHOWN_FAILURES: u64 = 20;
/// Outcomes awaited in a queue between reading and collecting.
const QUEUE: usize = 16 * 1024;

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records read and handed to the producer (or refused by it).
    pub sent: u64,
    /// Delivered.
    pub delivered: u64,
    /// Failed (refused at send or failed later).
    pub failed: u64,
}

impl Summary {
    /// The process exit code: 0 when nothing failed, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed > 0)
    }
}

/// Turns input lines into records.
#[derive(Debug, Clone)]
pub struct RecordTemplate {
    topic: TopicName,
    key_delimiter: Option<Vec<u8>>,
    headers: Vec<Header>,
    partition: Option<i32>,
}

impl RecordTemplate {
    /// From the command's arguments.
    pub fn new(args: &ProduceArgs) -> Self {
        RecordTemplate {
            topic: TopicName::new(args.topic.as_str()),
            key_delimiter: args.key_delimiter.as_ref().map(|d| d.as_bytes().to_vec()),
            headers: args
                .headers
                .iter()
                .map(|(k, v)| Header::new(k.clone(), v.clone().into_bytes()))
                .collect(),
            partition: args.partition,
        }
    }

    /// The record for one line.
    pub fn record(&self, line: &[u8]) -> Record {
        let (key, value) = split_key(line, self.key_delimiter.as_deref());
        let mut r = Record::new(self.topic.clone()).value(Bytes::copy_from_slice(value));
        if let Some(k) = key {
            r = r.key(Bytes::copy_from_slice(k));
        }
        for h in &self.headers {
            r = r.header(h.clone());
        }
        if let Some(p) = self.partition {
            r = r.partition(p);
        }
        r
    }
}

/// Counts outcomes, reports failures and progress on stderr.
#[derive(Debug)]
struct Progress {
    summary: Summary,
    quiet: bool,
    start: Instant,
    last_print: Instant,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let now = Instant::now();
        Progress {
            summary: Summary::default(),
            quiet,
            start: now,
            last_print: now,
        }
    }

    fn sent(&mut self) {
        self.summary.sent += 1;
    }

    fn outcome(&mut self, line: u64, result: Result<(), String>) {
        match result {
            Ok(()) => self.summary.delivered += 1,
            Err(e) => {
                self.summary.failed += 1;
                if self.summary.failed <= SHOWN_FAILURES {
                    eprintln!("odradek: line {line}: {e}");
                } else if self.summary.failed == SHOWN_FAILURES + 1 {
                    eprintln!("odradek: more records failed; counting only");
                }
            }
        }
        if !self.quiet && self.last_print.elapsed() >= Duration::from_secs(5) {
            self.last_print = Instant::now();
            eprintln!(
                "odradek: {} sent, {} delivered, {} failed ({:.0?})",
                self.summary.sent,
                self.summary.delivered,
                self.summary.failed,
                self.start.elapsed()
            );
        }
    }

    fn finish(self) -> Summary {
        eprintln!(
            "odradek: {} records: {} delivered, {} failed in {:.2?}",
            self.summary.sent,
            self.summary.delivered,
            self.summary.failed,
            self.start.elapsed()
        );
        self.summary
    }
}

/// The producer configuration of a `produce` run.
pub fn config(args: &ProduceArgs) -> Result<Config, String> {
    crate::build_config(
        Config::new(Vec::<String>::new()),
        args.config_file.as_deref(),
        &args.config,
        args.bootstrap_server.as_deref(),
    )
}

/// Runs `odradek produce`.
pub fn run(args: ProduceArgs) -> Result<Summary, String> {
    let config = config(&args)?;
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())),
    };
    let lines = LineReader::new(input, args.delimiter.as_bytes()).map_err(|e| e.to_string())?;
    let job = Job {
        template: RecordTemplate::new(&args),
        keep_empty: args.keep_empty,
        quiet: args.quiet,
    };
    match args.runtime {
        RuntimeKind::Tokio => {
            let rt = crate::tokio_runtime().map_err(|e| format!("tokio runtime: {e}"))?;
            rt.block_on(async {
                let p = odradek_tokio::Producer::connect(config)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                job.run_async(p, lines).await
            })
        }
        RuntimeKind::AsyncStd => async_std::task::block_on(async {
            let p = odradek_async_std::Producer::connect(config)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            job.run_async(p, lines).await
        }),
        RuntimeKind::Mio => {
            let p = odradek_mio::BlockingProducer::connect(config)
                .map_err(|e| format!("connect: {e}"))?;
            job.run_blocking(p, lines)
        }
    }
}

struct Job {
    template: RecordTemplate,
    keep_empty: bool,
    quiet: bool,
}

impl Job {
    /// Reads stdin synchronously inside the task: the driver runs on the runtime's other
    /// threads, and outcomes are collected whenever the queue is full or the input ends.
    /// The next record to send and its line number, skipping empty lines unless they are
    /// kept; `None` at the end of the input or on a read error (left in `read_error`).
    fn next_record(
        &self,
        lines: &mut LineReader<Box<dyn BufRead>>,
        read_error: &mut Option<String>,
    ) -> Option<(u64, Record)> {
        loop {
            match lines.next_line() {
                Ok(Some(line)) if line.is_empty() && !self.keep_empty => {}
                Ok(Some(line)) => {
                    let record = self.template.record(line);
                    return Some((lines.line, record));
                }
                Ok(None) => return None,
                Err(e) => {
                    *read_error = Some(format!("reading input: {e}"));
                    return None;
                }
            }
        }
    }

    async fn run_async<R: odradek_driver::Runtime>(
        &self,
        producer: odradek_driver::Producer<R>,
        mut lines: LineReader<Box<dyn BufRead>>,
    ) -> Result<Summary, String> {
        let (mut tx, mut rx) = futures_channel::mpsc::channel(QUEUE);
        let mut progress = Progress::new(self.quiet);
        let mut read_error = None;
        let mut refused = Vec::new();
        let reader = async {
            while let Some((n, record)) = self.next_record(&mut lines, &mut read_error) {
                match producer.send(record).await {
                    Ok(delivery) => {
                        if tx.send((n, delivery)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => refused.push((n, e.to_string())),
                }
            }
            tx.close_channel();
        };
        let collector = async {
            while let Some((n, delivery)) = rx.next().await {
                progress.sent();
                progress.outcome(n, delivery.await.map(|_| ()).map_err(|e| e.to_string()));
            }
        };
        futures_util::future::join(reader, collector).await;
        for (n, e) in refused {
            progress.sent();
            progress.outcome(n, Err(e));
        }
        producer.close().await;
        let summary = progress.finish();
        match read_error {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    fn run_blocking(
        &self,
        producer: odradek_mio::BlockingProducer,
        mut lines: LineReader<Box<dyn BufRead>>,
    ) -> Result<Summary, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, odradek_mio::Receipt)>(QUEUE);
        let mut progress = Progress::new(self.quiet);
        let collector = std::thread::spawn(move || {
            for (n, receipt) in rx {
                progress.sent();
                progress.outcome(n, receipt.wait().map(|_| ()).map_err(|e| e.to_string()));
            }
            progress
        });
        let mut read_error = None;
        let mut refused = Vec::new();
        while let Some((n, record)) = self.next_record(&mut lines, &mut read_error) {
            match producer.send(record) {
                Ok(receipt) => {
                    if tx.send((n, receipt)).is_err() {
                        break;
                    }
                }
                Err(e) => refused.push((n, e.to_string())),
            }
        }
        drop(tx);
        let mut progress = collector
            .join()
            .map_err(|_| "the collector thread panicked".to_owned())?;
        for (n, e) in refused {
            progress.sent();
            progress.outcome(n, Err(e));
        }
        producer.close();
        let summary = progress.finish();
        match read_error {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn produce_args(extra: &[&str]) -> ProduceArgs {
        let args = ["odradek", "produce", "-b", "h:9092", "-t", "events"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::try_parse_from(args).unwrap().command {
            Command::Produce(p) => p,
            _ => unreachable!(),
        }
    }

    #[test]
    fn lines_become_records_with_key_headers_and_partition() {
        let t = RecordTemplate::new(&produce_args(&[
            "-K", "\t", "-H", "a=1", "-H", "b=2", "-p", "4",
        ]));
        let r = t.record(b"user-1\thello\tworld");
        assert_eq!(r.topic.as_str(), "events");
        assert_eq!(r.key.as_deref(), Some(&b"user-1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"hello\tworld"[..]));
        assert_eq!(r.partition, Some(4));
        let h: Vec<(&str, &[u8])> = r
            .headers
            .iter()
            .map(|h| (h.key.as_str(), h.value.as_deref().unwrap()))
            .collect();
        assert_eq!(h, [("a", &b"1"[..]), ("b", &b"2"[..])]);

        let plain = RecordTemplate::new(&produce_args(&[])).record(b"k\tv");
        assert_eq!(plain.key, None);
        assert_eq!(plain.value.as_deref(), Some(&b"k\tv"[..]));
        assert_eq!(plain.partition, None);
        assert!(plain.headers.is_empty());
    }

    #[test]
    fn config_takes_x_flags_and_refuses_bad_ones() {
        let c = config(&produce_args(&[
            "-X",
            "acks=0",
            "-X",
            "compression.type=zstd",
        ]))
        .unwrap();
        assert_eq!(c.acks, odradek_core::Acks::None);
        assert_eq!(c.bootstrap_servers, ["h:9092"]);
        let e = config(&produce_args(&["-X", "acks=maybe"])).unwrap_err();
        assert!(e.contains("acks") && e.contains("maybe"), "{e}");
        let e = config(&produce_args(&["-X", "sasl.kerberos.service.name=kafka"])).unwrap_err();
        assert!(e.contains("not supported yet"), "{e}");
    }

    #[test]
    fn exit_code_is_one_when_anything_failed() {
        let ok = Summary {
            sent: 3,
            delivered: 3,
            failed: 0,
        };
        assert_eq!(ok.exit_code(), 0);
        let bad = Summary {
            failed: 1,
            delivered: 2,
            ..ok
        };
        assert_eq!(bad.exit_code(), 1);
    }
}

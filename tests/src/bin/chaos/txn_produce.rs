//! The transactional producer process (`chaos produce --transactional N ...`): sends its
//! records in transactions of `N` on tokio or async-std, and writes one line per transaction
//! (its records and whether the commit returned `Ok`, the abort did, or neither is known) for
//! the orchestrator to check against a `read_committed` read.
//!
//! On an abortable error it aborts and goes on; on a fatal one (fenced, say, after the
//! coordinator aborted a transaction it timed out), or an operation that does not end within
//! [`TXN_OP_TIMEOUT`], it closes the producer and starts a new one with the same
//! `transactional.id` (whose `init_transactions` completes or aborts what the old one left),
//! and goes on with the next records.

use crate::options::Options;
use crate::produce::{peak_rss_kib, record, Pace};
use odradek_core::{Config, TransactionError, TxnErrorClass};
use odradek_driver::{Producer, Runtime as DriverRuntime};
use odradek_tests::chaos_txn::{txn_line, Txn, TxnEnd};
use odradek_tests::Runtime;
use std::future::Future;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Longest a transaction operation may take before its outcome is called unknown and the
/// producer replaced (the core itself retries until the coordinator answers).
const TXN_OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a new producer may take to connect and `init_transactions`, in all its tries.
const INIT_TIMEOUT: Duration = Duration::from_secs(180);
/// Longest `close` of a replaced producer may take before it is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the transactional producer on `o.runtimes[0]` and writes its outcome file.
pub(crate) fn produce_txn(
    config: Config,
    o: &Options,
    pace: &Pace,
    size: u64,
) -> Result<(), String> {
    let buffer_memory = config.buffer_memory;
    let run = match o.runtimes[..] {
        [Runtime::Tokio] => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(txn_loop::<odradek_tokio::TokioRuntime>(
                config, o, pace, size,
            ))?
        }
        [Runtime::AsyncStd] => async_std::task::block_on(txn_loop::<
            odradek_async_std::AsyncStdRuntime,
        >(config, o, pace, size))?,
        _ => return Err("--transactional runs on tokio or async-std".into()),
    };
    let peak = peak_rss_kib();
    let mut text: String = run.txns.iter().map(txn_line).collect();
    text.push_str(&format!(
        "producers {}\nmisreported {}\nrss {peak}\nbuffer {buffer_memory}\n",
        run.producers, run.misreported
    ));
    std::fs::File::create(&o.out)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("writing {}: {e}", o.out))
}

struct Run {
    txns: Vec<Txn>,
    producers: u64,
    misreported: u64,
}

/// `op`, or `None` when it took longer than `limit`.
async fn within<R: DriverRuntime + Default, T>(
    limit: Duration,
    op: impl Future<Output = T>,
) -> Option<T> {
    use futures_util::future::{select, Either};
    let op = std::pin::pin!(op);
    match select(op, R::default().sleep(limit)).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// A new producer with the config's `transactional.id`, initialised (retried until
/// [`INIT_TIMEOUT`]: the coordinator may be down or moving).
async fn start<R: DriverRuntime + Default>(config: &Config) -> Result<Producer<R>, String> {
    let deadline = Instant::now() + INIT_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match within::<R, _>(TXN_OP_TIMEOUT, Producer::<R>::connect(config.clone())).await {
            Some(Ok(p)) => match within::<R, _>(TXN_OP_TIMEOUT, p.init_transactions()).await {
                Some(Ok(())) => return Ok(p),
                Some(Err(e)) => last = format!("init_transactions: {e}"),
                None => last = "init_transactions timed out".into(),
            },
            Some(Err(e)) => last = format!("connect: {e}"),
            None => last = "connect timed out".into(),
        }
        eprintln!("chaos produce: starting a transactional producer: {last}; again");
        R::default().sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "no transactional producer within {INIT_TIMEOUT:?}: {last}"
    ))
}

async fn stop<R: DriverRuntime + Default>(producer: Producer<R>) {
    if within::<R, _>(CLOSE_TIMEOUT, producer.close())
        .await
        .is_none()
    {
        eprintln!("chaos produce: close took over {CLOSE_TIMEOUT:?}; dropped");
    }
}

/// How one transaction went, and whether the producer must be replaced.
async fn one_txn<R: DriverRuntime + Default>(
    producer: &Producer<R>,
    o: &Options,
    pace: &Pace,
    first: u64,
    n: u64,
    misreported: &mut u64,
) -> (Txn, bool) {
    let mut deliveries = Vec::with_capacity(n as usize);
    let mut failed: Option<String> = None;
    for seq in first..first + n {
        loop {
            let wait = pace.wait_before(seq);
            if wait.is_zero() {
                break;
            }
            R::default().sleep(wait).await;
        }
        match producer.send(record(&o.topic, seq, o.value_size)).await {
            Ok(d) => deliveries.push(d),
            Err(e) => {
                failed = Some(format!("send refused: {e}"));
                break;
            }
        }
        pace.sent(seq + 1);
    }
    let count = deliveries.len() as u64;
    let txn = |end| Txn { first, count, end };
    if failed.is_none() {
        match within::<R, _>(TXN_OP_TIMEOUT, producer.commit_transaction()).await {
            Some(Ok(())) => {
                for d in deliveries {
                    if let Err(e) = d.await {
                        *misreported += 1;
                        eprintln!(
                            "chaos produce: record {first}+ of a committed transaction failed: {}",
                            e.error
                        );
                    }
                }
                return (txn(TxnEnd::Committed), false);
            }
            Some(Err(e)) if e.class() == TxnErrorClass::Abortable => {
                failed = Some(format!("commit: {e}"));
            }
            Some(Err(e)) => return (txn(TxnEnd::Unknown), fatal("commit", &e)),
            None => {
                let stats = producer.stats();
                eprintln!(
                    "chaos produce: commit of {first}+ took over {TXN_OP_TIMEOUT:?}: unknown \
                     (state {:?}, {} records pending, {} batches retried)",
                    producer.transaction_state(),
                    producer.pending_records(),
                    stats.retries.total(),
                );
                return (txn(TxnEnd::Unknown), true);
            }
        }
    }
    let why = failed.unwrap_or_default();
    eprintln!("chaos produce: aborting the transaction of {first}+ ({why})");
    match within::<R, _>(TXN_OP_TIMEOUT, producer.abort_transaction()).await {
        Some(Ok(())) => (txn(TxnEnd::Aborted), false),
        Some(Err(e)) => (txn(TxnEnd::Unknown), fatal("abort", &e)),
        None => (txn(TxnEnd::Unknown), true),
    }
}

/// Reports a non-abortable error; always `true` (replace the producer).
fn fatal(op: &str, e: &TransactionError) -> bool {
    eprintln!(
        "chaos produce: {op}: {e} ({:?}{}): a new producer",
        e.class(),
        if e.is_fenced() { ", fenced" } else { "" }
    );
    true
}

async fn txn_loop<R: DriverRuntime + Default>(
    config: Config,
    o: &Options,
    pace: &Pace,
    size: u64,
) -> Result<Run, String> {
    let mut run = Run {
        txns: Vec::new(),
        producers: 1,
        misreported: 0,
    };
    let mut producer = start::<R>(&config).await?;
    let mut seq = 0;
    while seq < o.records {
        let n = size.min(o.records - seq);
        // The gate opens for whole transactions: one held open while a broker restarts
        // would outlive transaction.timeout.ms.
        while pace.allowed.load(Ordering::Relaxed) < seq + n {
            R::default().sleep(Duration::from_millis(5)).await;
        }
        let replace = match producer.begin_transaction() {
            Ok(()) => {
                let (txn, replace) =
                    one_txn(&producer, o, pace, seq, n, &mut run.misreported).await;
                // Records refused by `send` were never in the transaction: the next one
                // starts after them.
                seq += n;
                run.txns.push(txn);
                replace
            }
            Err(e) => fatal("begin_transaction", &e),
        };
        if replace {
            stop(producer).await;
            producer = start::<R>(&config).await?;
            run.producers += 1;
        }
    }
    pace.sent(o.records);
    let report = producer.close().await;
    eprintln!(
        "chaos produce: {} transactions, {} producers; close: {} delivered, {} failed",
        run.txns.len(),
        run.producers,
        report.delivered,
        report.failed
    );
    Ok(run)
}

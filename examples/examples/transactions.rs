//! # transactions — consume–transform–produce, exactly once, with tokio
//!
//! ```text
//! export ODRADEK_BOOTSTRAP=$(cargo xtask kafka start)       # a local Kafka 4.1; prints its address
//! cargo xtask kafka topic create txn-input --partitions 2
//! cargo xtask kafka topic create txn-orders --partitions 3
//! cargo xtask kafka topic create txn-audit --partitions 1
//! cargo run -p odradek-examples --example transactions
//! cargo xtask kafka stop
//! ```
//!
//! A transactional producer (`transactional.id` set) writes each batch of "consumed" input
//! records to two topics, `txn-orders` (the transformed record) and `txn-audit` (one line per
//! record), and commits the consumer group's offsets for the batch in the same transaction
//! (`send_offsets_to_transaction`): a `read_committed` consumer sees the outputs of a batch and
//! its offsets move together, or neither. This crate has no consumer: the input records and
//! their offsets stand for what the application's consumer gives it.
//!
//! Errors are handled by their class (KIP-1050, `TransactionError::class()`): an *abortable*
//! error (a record of the transaction failed, say) aborts the transaction and the producer
//! goes on with the next batch (a real application would rewind its consumer to the last
//! committed offsets and process the batch again); anything else is *fatal* (fenced by a newer
//! instance with the same `transactional.id`, for one) and the producer is closed. The third
//! batch is aborted on purpose, to show the abort path: its records reach the logs but a
//! `read_committed` consumer never sees them, and the group's offsets skip it.
//!
//! Bootstrap address from `ODRADEK_BOOTSTRAP` (default `127.0.0.1:9092`); topics from the
//! arguments (`input orders audit`, defaults as above); the transactional id from
//! `ODRADEK_TXN_ID` (default `odradek-example-txn`).

use odradek_tokio::{
    Config, GroupMetadata, Producer, Record, TransactionError, TxnErrorClass, TxnOffset,
};

/// A record the application's consumer handed over: where it was read, and its value.
struct Consumed {
    partition: i32,
    offset: i64,
    value: String,
}

/// Batches of consumed records (three, of four records over two input partitions).
fn consumed_batches() -> Vec<Vec<Consumed>> {
    (0..3)
        .map(|batch| {
            (0..4)
                .map(|i| Consumed {
                    partition: i % 2,
                    offset: i64::from(batch * 2 + i / 2),
                    value: format!("order {batch}.{i}"),
                })
                .collect()
        })
        .collect()
}

/// The offsets to commit after `batch`: per input partition, the next offset to read.
fn next_offsets(input: &str, batch: &[Consumed]) -> Vec<TxnOffset> {
    let mut next: Vec<(i32, i64)> = Vec::new();
    for c in batch {
        match next.iter_mut().find(|(p, _)| *p == c.partition) {
            Some((_, o)) => *o = (*o).max(c.offset + 1),
            None => next.push((c.partition, c.offset + 1)),
        }
    }
    next.into_iter()
        .map(|(partition, offset)| TxnOffset {
            topic: input.to_owned(),
            partition,
            offset,
            leader_epoch: None,
            metadata: None,
        })
        .collect()
}

/// Why a batch was not committed.
#[derive(Debug)]
enum BatchError {
    /// A transaction operation failed; its class says what to do.
    Txn(TransactionError),
    /// A record was refused at `send` (too large, say): the batch cannot be written whole.
    Refused(String),
    /// The application decided the batch must not be committed.
    OnPurpose,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Txn(e) => write!(f, "{e}"),
            BatchError::Refused(why) => write!(f, "a record was refused: {why}"),
            BatchError::OnPurpose => write!(f, "aborted on purpose"),
        }
    }
}

impl From<TransactionError> for BatchError {
    fn from(e: TransactionError) -> Self {
        BatchError::Txn(e)
    }
}

/// One transaction: the batch's outputs to both topics and its offsets, then commit (which
/// flushes first). `abort_on_purpose` stops before the commit with an abortable error.
async fn process(
    producer: &Producer,
    batch: &[Consumed],
    topics: &Topics,
    group: &GroupMetadata,
    abort_on_purpose: bool,
) -> Result<(), BatchError> {
    producer.begin_transaction()?;
    let mut deliveries = Vec::new();
    for c in batch {
        let order = Record::new(topics.orders.as_str())
            .key(c.value.clone())
            .value(c.value.to_uppercase());
        let audit = Record::new(topics.audit.as_str()).value(format!(
            "processed {}:{}@{}",
            topics.input, c.partition, c.offset
        ));
        for record in [order, audit] {
            match producer.send(record).await {
                Ok(delivery) => deliveries.push(delivery),
                // A refused record (too large, say) cannot be part of this transaction.
                Err(e) => return Err(BatchError::Refused(e.to_string())),
            }
        }
    }
    producer
        .send_offsets_to_transaction(next_offsets(&topics.input, batch), group.clone())
        .await?;
    if abort_on_purpose {
        // Stands for a failure of the transformation: the batch must not be committed.
        producer.flush().await;
        return Err(BatchError::OnPurpose);
    }
    producer.commit_transaction().await?;
    for delivery in deliveries {
        let m = delivery
            .await
            .map_err(|e| TransactionError::RecordFailed(e.error))?; // not after an Ok commit
        println!(
            "  committed {} partition {} offset {}",
            m.topic, m.partition, m.offset
        );
    }
    Ok(())
}

struct Topics {
    input: String,
    orders: String,
    audit: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let topics = Topics {
        input: args.next().unwrap_or_else(|| "txn-input".into()),
        orders: args.next().unwrap_or_else(|| "txn-orders".into()),
        audit: args.next().unwrap_or_else(|| "txn-audit".into()),
    };
    let mut config = Config::new(odradek_examples::bootstrap());
    config.transactional_id =
        Some(std::env::var("ODRADEK_TXN_ID").unwrap_or_else(|_| "odradek-example-txn".into()));
    let producer = Producer::connect(config).await?;
    // Fences any older producer with this transactional.id and finishes its transaction.
    producer.init_transactions().await?;
    let group = GroupMetadata::new("odradek-example-group");

    for (n, batch) in consumed_batches().iter().enumerate() {
        println!("batch {n}: {} records", batch.len());
        match process(&producer, batch, &topics, &group, n == 2).await {
            Ok(()) => println!("batch {n}: committed"),
            // An abortable error (a record failed, TRANSACTION_ABORTABLE, ...), a refused
            // record, or on purpose: abort; the producer stays usable.
            Err(e @ (BatchError::Refused(_) | BatchError::OnPurpose)) => {
                println!("batch {n}: aborting ({e})");
                producer.abort_transaction().await?;
                println!("batch {n}: aborted");
            }
            Err(BatchError::Txn(e)) if e.class() == TxnErrorClass::Abortable => {
                println!("batch {n}: aborting ({e})");
                producer.abort_transaction().await?;
                println!("batch {n}: aborted");
            }
            // Fenced, unsupported, not authorized: only closing helps.
            Err(BatchError::Txn(e)) => {
                eprintln!("batch {n}: fatal ({e}); closing");
                producer.close().await;
                return Err(e.into());
            }
        }
    }
    let report = producer.close().await;
    println!(
        "closed: {} delivered, {} failed (the aborted batch's records were delivered into \
         the logs, then aborted)",
        report.delivered, report.failed
    );
    Ok(())
}

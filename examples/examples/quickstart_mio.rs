//! # quickstart_mio — produce a few records from plain threads (`BlockingProducer`)
//!
//! ```text
//! export ODRADEK_BOOTSTRAP=$(cargo xtask kafka start)       # a local Kafka 4.1; prints its address
//! cargo xtask kafka topic create quickstart --partitions 3
//! cargo run -p odradek-examples --example quickstart_mio -- quickstart
//! cargo xtask kafka stop
//! ```
//!
//! No async runtime: `BlockingProducer` runs the producer on its own thread (a mio loop), and
//! `send` blocks only while the buffer is full. Sends five keyed records with a header, keeps
//! the receipts, then waits on each and prints where the record landed, and closes.
//! Bootstrap address from `ODRADEK_BOOTSTRAP` (default `127.0.0.1:9092`), topic from the
//! first argument or `ODRADEK_TOPIC` (default `quickstart`).

use odradek_mio::{BlockingProducer, Config, Header, Record};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = odradek_examples::topic("quickstart");
    let config = Config::new(odradek_examples::bootstrap());
    let producer = BlockingProducer::connect(config)?;

    // Hand records over without waiting for each delivery: keep the receipts.
    let mut receipts = Vec::new();
    for i in 0..5 {
        let record = Record::new(topic.as_str())
            .key(format!("user-{i}"))
            .value(format!("hello from mio #{i}"))
            .header(Header::new("source", "quickstart_mio"));
        receipts.push(producer.send(record)?);
    }

    // Then wait for the outcomes.
    for (i, receipt) in receipts.into_iter().enumerate() {
        let metadata = receipt.wait()?;
        println!(
            "record {i}: {} partition {} offset {}",
            metadata.topic, metadata.partition, metadata.offset
        );
    }

    // Graceful close: every accepted record gets its outcome first; the thread ends.
    let report = producer.close();
    println!(
        "closed: {} delivered, {} failed",
        report.delivered, report.failed
    );
    Ok(())
}

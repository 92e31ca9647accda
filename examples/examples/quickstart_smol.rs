//! # quickstart_smol — produce a few records with smol
//!
//! ```text
//! export ODRADEK_BOOTSTRAP=$(cargo xtask kafka start)       # a local Kafka 4.1; prints its address
//! cargo xtask kafka topic create quickstart --partitions 3
//! cargo run -p odradek-examples --example quickstart_smol -- quickstart
//! cargo xtask kafka stop
//! ```
//!
//! Connects, sends five keyed records with a header without waiting for each one (`send` only
//! waits while the buffer is full), then awaits every delivery and prints where each record
//! landed, and closes, giving the
//! broker at most ten seconds (`close_timeout`: what is still outstanding then fails with
//! `CloseTimedOut`). Bootstrap address from `ODRADEK_BOOTSTRAP` (default
//! `127.0.0.1:9092`), topic from the first argument or `ODRADEK_TOPIC` (default `quickstart`).

use odradek_smol::{Config, Header, Producer, Record};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let topic = odradek_examples::topic("quickstart");
    let config = Config::new(odradek_examples::bootstrap());
    let producer = Producer::connect(config).await?;

    // Hand records over without awaiting each delivery: many sends stay outstanding.
    let mut deliveries = Vec::new();
    for i in 0..5 {
        let record = Record::new(topic.as_str())
            .key(format!("user-{i}"))
            .value(format!("hello from smol #{i}"))
            .header(Header::new("source", "quickstart_smol"));
        deliveries.push(producer.send(record).await?);
    }

    // Then await the outcomes.
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let metadata = delivery.await?;
        println!(
            "record {i}: {} partition {} offset {}",
            metadata.topic, metadata.partition, metadata.offset
        );
    }

    // Close: every accepted record gets its outcome first, within ten seconds.
    let report = producer.close_timeout(Duration::from_secs(10)).await;
    println!(
        "closed: {} delivered, {} failed",
        report.delivered, report.failed
    );
    Ok(())
}

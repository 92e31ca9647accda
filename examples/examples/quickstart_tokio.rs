//! # quickstart_tokio — produce a few records with tokio
//!
//! ```text
//! export ODRADEK_BOOTSTRAP=$(cargo xtask kafka start)       # a local Kafka 4.1; prints its address
//! cargo xtask kafka topic create quickstart --partitions 3
//! cargo run -p odradek-examples --example quickstart_tokio -- quickstart
//! cargo xtask kafka stop
//! ```
//!
//! Connects, sends five keyed records with a header without waiting for each one (`send` only
//! waits while the buffer is full), then awaits every delivery and prints where each record
//! landed, and closes gracefully. Bootstrap address from `ODRADEK_BOOTSTRAP` (default
//! `127.0.0.1:9092`), topic from the first argument or `ODRADEK_TOPIC` (default `quickstart`).

use odradek_tokio::{Config, Header, Producer, Record};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = odradek_examples::topic("quickstart");
    let config = Config::new(odradek_examples::bootstrap());
    let producer = Producer::connect(config).await?;

    // Hand records over without awaiting each delivery: many sends stay outstanding.
    let mut deliveries = Vec::new();
    for i in 0..5 {
        let record = Record::new(topic.as_str())
            .key(format!("user-{i}"))
            .value(format!("hello from tokio #{i}"))
            .header(Header::new("source", "quickstart_tokio"));
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

    // Graceful close: every accepted record gets its outcome first.
    let report = producer.close().await;
    println!(
        "closed: {} delivered, {} failed",
        report.delivered, report.failed
    );
    Ok(())
}

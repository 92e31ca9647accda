//! The conformance suite on odradek-tokio (see `odradek_tests::conformance`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

use odradek_tests::conformance::{CloseCounts, Failure, Outcome, Runtime};
use odradek_tokio::{Config, Producer, Record};

struct Tokio;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

impl Runtime for Tokio {
    fn name() -> &'static str {
        "tokio"
    }

    fn produce(config: Config, records: Vec<Record>) -> Vec<Outcome> {
        block_on(async {
            let producer = Producer::connect(config).await.expect("valid config");
            let mut pending = Vec::new();
            for r in records {
                pending.push(producer.send(r).await);
            }
            let mut outcomes = Vec::new();
            for p in pending {
                outcomes.push(match p {
                    Ok(delivery) => delivery.await.map_err(Failure::Delivery),
                    Err(e) => Err(Failure::Refused(e)),
                });
            }
            producer.close().await;
            outcomes
        })
    }

    fn produce_then_close(config: Config, records: Vec<Record>) -> (Vec<Outcome>, CloseCounts) {
        block_on(async {
            let producer = Producer::connect(config).await.expect("valid config");
            let mut pending = Vec::new();
            for r in records {
                pending.push(producer.send(r).await);
            }
            let report = producer.close().await;
            let mut outcomes = Vec::new();
            for p in pending {
                outcomes.push(match p {
                    Ok(delivery) => delivery.await.map_err(Failure::Delivery),
                    Err(e) => Err(Failure::Refused(e)),
                });
            }
            let counts = CloseCounts {
                delivered: report.delivered,
                failed: report.failed,
            };
            (outcomes, counts)
        })
    }
}

odradek_tests::conformance_tests!(Tokio);

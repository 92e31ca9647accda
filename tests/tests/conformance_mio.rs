//! The conformance suite on odradek-mio's `BlockingProducer` (see `odradek_tests::conformance`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

use odradek_mio::{BlockingProducer, Config, Record};
use odradek_tests::conformance::{CloseCounts, Failure, Outcome, Runtime};

struct Mio;

impl Runtime for Mio {
    fn name() -> &'static str {
        "mio"
    }

    fn produce(config: Config, records: Vec<Record>) -> Vec<Outcome> {
        let producer = BlockingProducer::connect(config).expect("valid config");
        let pending: Vec<_> = records.into_iter().map(|r| producer.send(r)).collect();
        let outcomes = pending
            .into_iter()
            .map(|p| match p {
                Ok(receipt) => receipt.wait().map_err(Failure::Delivery),
                Err(e) => Err(Failure::Refused(e)),
            })
            .collect();
        producer.close();
        outcomes
    }

    fn produce_then_close(config: Config, records: Vec<Record>) -> (Vec<Outcome>, CloseCounts) {
        let producer = BlockingProducer::connect(config).expect("valid config");
        let pending: Vec<_> = records.into_iter().map(|r| producer.send(r)).collect();
        let report = producer.close();
        let outcomes = pending
            .into_iter()
            .map(|p| match p {
                Ok(receipt) => receipt.wait().map_err(Failure::Delivery),
                Err(e) => Err(Failure::Refused(e)),
            })
            .collect();
        let counts = CloseCounts {
            delivered: report.delivered,
            failed: report.failed,
        };
        (outcomes, counts)
    }
}

odradek_tests::conformance_tests!(Mio);

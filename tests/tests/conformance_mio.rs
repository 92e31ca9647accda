//! The conformance suite on odradek-mio's `BlockingProducer` (see `odradek_tests::conformance`;
//! the `Runtime` implementation is `odradek_tests::conformance::Mio`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

use odradek_tests::conformance::Mio;

odradek_tests::conformance_tests!(Mio);

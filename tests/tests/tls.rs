//! TLS and SASL on every runtime against one secured Kafka (`odradek_tests::secure`): the
//! conformance runs over the mutual-TLS `SSL` listener and the TLS failures, the shortened
//! runs over `SASL_PLAINTEXT` (PLAIN, SCRAM-SHA-256/512) and `SASL_SSL` and the wrong
//! password, for tokio, async-std and mio, sharing one broker start.
//! Runs only with `ODRADEK_KAFKA=1` (`cargo xtask test`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

// The harness's own checks with Kafka's console clients, on the same broker.
#[path = "tls/harness.rs"]
mod harness;

fn block_on_tokio<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

odradek_tests::async_runtime!(Tokio, "tokio", odradek_tokio, block_on_tokio);
odradek_tests::async_runtime!(
    AsyncStd,
    "async-std",
    odradek_async_std,
    async_std::task::block_on
);
use odradek_tests::conformance::Mio;

odradek_tests::tls_tests!(Tokio, tokio_rt);
odradek_tests::tls_tests!(AsyncStd, async_std_rt);
odradek_tests::tls_tests!(Mio, mio_rt);

odradek_tests::sasl_tests!(Tokio, tokio_sasl);
odradek_tests::sasl_tests!(AsyncStd, async_std_sasl);
odradek_tests::sasl_tests!(Mio, mio_sasl);

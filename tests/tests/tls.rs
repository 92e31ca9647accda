//! TLS on every runtime against one secured Kafka (`odradek_tests::secure`): the conformance
//! runs over the mutual-TLS `SSL` listener and the TLS failures, for tokio, async-std and
//! mio, sharing one broker start. Runs only with `ODRADEK_KAFKA=1` (`cargo xtask test`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

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

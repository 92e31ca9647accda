//! The conformance suite on odradek-tokio (see `odradek_tests::conformance`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

odradek_tests::async_runtime!(Tokio, "tokio", odradek_tokio, block_on);
odradek_tests::conformance_tests!(Tokio);

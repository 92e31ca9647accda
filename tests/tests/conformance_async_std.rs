//! The conformance suite on odradek-async-std (see `odradek_tests::conformance`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

odradek_tests::async_runtime!(
    AsyncStd,
    "async-std",
    odradek_async_std,
    async_std::task::block_on
);
odradek_tests::conformance_tests!(AsyncStd);

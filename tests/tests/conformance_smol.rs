//! The conformance suite on odradek-smol (see `odradek_tests::conformance`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

odradek_tests::async_runtime!(Smol, "smol", odradek_smol, smol::block_on);
odradek_tests::conformance_tests!(Smol);

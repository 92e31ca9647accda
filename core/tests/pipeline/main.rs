//! ProducerCore against odradek-sim's simulated cluster, which decodes the core's real request
//! frames with the crate's codecs and answers like a broker, with scripted faults. Virtual
//! time only.

mod coordinator;
mod harness;

mod audit;
mod basic;
mod close_now;
mod idempotence;
mod kip;
mod observability;
mod transactions;

//! # odradek-core
//!
//! A Kafka producer as a sans-IO state machine. [`ProducerCore`] holds every decision — which
//! partition, which broker, when to flush, what to retry, in what order, when to give up — and
//! does no I/O: time comes in as `now`, bytes come in as slices, randomness comes from the seed
//! given to [`ProducerCore::new`], and everything the core wants done comes out as [`Output`]
//! values.
//!
//! Inside, the producer is a set of stages (accept, accumulator, sender, responses, metadata,
//! connections, idempotence, outbox); `ARCHITECTURE.md` in this crate is their map: each
//! stage's file and state, the order of work per input, and where the 2015 Sarama
//! AsyncProducer's stages live now.
//!
//! ## Delivery guarantees
//!
//! With idempotence (on by default with acks=all, see [`Config::enable_idempotence`]) each
//! partition's batches carry a producer id, epoch and sequence, up to
//! `max.in.flight.requests.per.connection` (≤ 5) of them in flight per partition, and the
//! broker writes each batch once, in order. Without it a partition has at most one batch in
//! flight, which keeps the order, but a retry after a lost answer may write a batch twice. The
//! module docs of `producer::partition` and `producer::idempotence` say how.
//!
//! ## Memory
//!
//! [`buffer.memory`](Config::buffer_memory) bounds what the core holds for records between
//! `send` and their outcome: each record's encoded size bound plus the capacity of the batch
//! buffers and record lists holding them, which start small (a 256-byte or larger power of
//! two) and double as records join, so 5,000 partitions with one record each hold a few
//! hundred bytes apiece, not `batch.size`. Each record is charged at least what a batch of it
//! alone would take, so a record can always join a batch within what it was charged at
//! `send`: the bytes in use never pass the budget, except by one record sent when nothing
//! else was held. Not covered, bounded apart: buffers kept for reuse (at most 4 MiB), about
//! 600 bytes per partition with an open batch, compressed copies while a request is built,
//! and connection buffers. The field's docs give the rule in full.
//!
//! ## The drive contract
//!
//! * **Inputs** (each takes `now`): [`send`](ProducerCore::send) (fast refusals — too large,
//!   invalid topic or partition, closed, buffer full — come back at once with the record),
//!   [`handle_connected`](ProducerCore::handle_connected),
//!   [`handle_received`](ProducerCore::handle_received) (raw bytes; the core does the framing),
//!   [`handle_written`](ProducerCore::handle_written) (how many transmitted bytes a socket
//!   write took), [`handle_disconnected`](ProducerCore::handle_disconnected),
//!   [`handle_timeout`](ProducerCore::handle_timeout), [`flush`](ProducerCore::flush) and
//!   [`close`](ProducerCore::close).
//! * **Outputs**: after *any* input, drain [`poll_output`](ProducerCore::poll_output) until it
//!   returns `None`, then re-arm your single timer from
//!   [`poll_timeout`](ProducerCore::poll_timeout) (a deadline and its [`TimeoutReason`]; always
//!   later than the latest `now` given; `None` means no timer).
//! * **Connections**: the core emits [`Output::Connect`] with a [`ConnId`] it chose; report
//!   `handle_connected` or `handle_disconnected` for it. Write every [`Output::Transmit`] in
//!   order, and report each write's byte count with `handle_written` (an `acks=0` request
//!   ends when it is written; no answer comes). On [`Output::Disconnect`] close the socket at
//!   once, dropping whatever of it is still unwritten (the core has given up on those
//!   requests, and may already have sent them again elsewhere), and do not report it back. The core
//!   negotiates versions (ApiVersions v3, v0 fallback), fetches metadata and connects to
//!   leaders by itself.
//! * **Outcomes**: every record accepted by `send` gets exactly one outcome, named by its
//!   [`RecordId`]: a place in an [`Output::Delivered`] (one per batch, a [`Delivery`] of all
//!   its records) or an [`Output::Failed`] (one per record). Per partition, records are
//!   appended in send order, across retries and leader changes.
//! * **Close**: after `close`, `send` is refused; everything accepted still gets its outcome,
//!   then every connection is disconnected and [`Output::Closed`] comes, once, last.
//! * **Reuse** (optional): an emptied `Transmit` or `Delivered` handed back with
//!   [`recycle`](ProducerCore::recycle) serves a later request or batch; a driver that does
//!   so gets a core that allocates nothing in steady state.
//! * Observers: [`pending_records`](ProducerCore::pending_records),
//!   [`buffered_bytes`](ProducerCore::buffered_bytes), [`is_closing`](ProducerCore::is_closing).
//!
//! A complete driver loop over a toy transport (a real adapter puts sockets and a timer here):
//!
//! ```no_run
//! use odradek_core::{Config, ConnId, Instant, Output, ProducerCore, Record};
//! use std::collections::HashMap;
//!
//! /// Whatever moves bytes: here a trait so the loop compiles without a runtime.
//! trait Transport {
//!     fn connect(&mut self, conn: ConnId, host: &str, port: u16) -> bool;
//!     /// Writes every chunk (blocking, for the sketch); returns how many bytes it wrote.
//!     fn write(&mut self, conn: ConnId, chunks: &[bytes::Bytes]) -> usize;
//!     fn close(&mut self, conn: ConnId);
//!     /// Waits until `deadline` (or forever) for bytes; returns them or a closed connection.
//!     fn wait(&mut self, deadline: Option<Instant>) -> Option<(ConnId, Option<Vec<u8>>)>;
//!     fn now(&self) -> Instant;
//! }
//!
//! fn drive(net: &mut impl Transport) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut core = ProducerCore::new(Config::new(["localhost:9092"]), 42, net.now())?;
//!     let mut ids = HashMap::new();
//!     for i in 0..100 {
//!         let id = core.send(Record::new("events").value(format!("event {i}")), net.now())?;
//!         ids.insert(id, i);
//!     }
//!     core.close(net.now());
//!     loop {
//!         // 1. Drain every output.
//!         while let Some(out) = core.poll_output() {
//!             match out {
//!                 Output::Connect { conn, address } => {
//!                     if net.connect(conn, &address.host, address.port) {
//!                         core.handle_connected(conn, net.now());
//!                     } else {
//!                         core.handle_disconnected(conn, net.now());
//!                     }
//!                 }
//!                 Output::Transmit { conn, data } => {
//!                     let wrote = net.write(conn, &data);
//!                     core.handle_written(conn, wrote, net.now());
//!                 }
//!                 Output::Disconnect { conn } => net.close(conn),
//!                 Output::Delivered(batch) => {
//!                     for d in batch {
//!                         println!("#{} at offset {}", ids[&d.id], d.metadata.offset)
//!                     }
//!                 }
//!                 Output::Failed { id, error, .. } => eprintln!("#{} failed: {error}", ids[&id]),
//!                 Output::Closed => return Ok(()),
//!                 Output::Transaction { .. } => {} // only with a transactional.id
//!             }
//!         }
//!         // 2. Re-arm the one timer and wait for I/O or the deadline.
//!         let deadline = core.poll_timeout().map(|(at, _reason)| at);
//!         match net.wait(deadline) {
//!             Some((conn, Some(bytes))) => core.handle_received(conn, &bytes, net.now()),
//!             Some((conn, None)) => core.handle_disconnected(conn, net.now()),
//!             None => core.handle_timeout(net.now()),
//!         }
//!     }
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compression;
pub mod config;
pub mod error;
pub mod message;
pub mod output;
pub mod partitioner;
mod producer;
pub mod properties;
pub mod protocol;
pub mod record;
pub mod rng;
pub mod sasl;
pub mod security;
pub mod stats;
pub mod time;
pub mod transaction;

pub use compression::Compression;
pub use config::{Acks, Config, ConfigError, MessageFormat};
pub use error::{
    ConnectionError, ConnectionErrorKind, DeliveryError, ProduceError, RetryCause, SendError,
    SendErrorKind,
};
pub use message::{Header, Record, RecordId, RecordMetadata, TopicName};
pub use output::{
    BrokerAddress, ConnId, DeliveredRecord, Delivery, DeliveryDrain, DeliveryIter, Output,
    TimeoutReason,
};
pub use partitioner::{Partitioner, PartitionerConfig};
pub use producer::ProducerCore;
pub use properties::parse as parse_properties;
pub use sasl::{SaslConfig, SaslMechanism};
pub use security::{Pem, SecurityProtocol, TlsConfig};
pub use stats::{Event, Stats};
pub use time::Instant;
pub use transaction::{
    GroupMetadata, TransactionError, TransactionState, TxnErrorClass, TxnOffset, TxnOp,
};

//! # odradek-driver
//!
//! The runtime-agnostic driver for [`odradek_core::ProducerCore`], shared by
//! `odradek-tokio`, `odradek-async-std`, `odradek-smol` and `odradek-mio` (whose embedded producer polls the
//! driver task from the user's own `mio::Poll` loop, and whose blocking producer runs it on a
//! thread). Users normally depend on one of those; this crate is for writing an adapter for
//! another runtime or event loop.
//!
//! ## Shape
//!
//! As in quinn, the runtime sits behind one small trait, [`Runtime`] (connect, sleep, spawn)
//! with a byte stream [`AsyncIo`] (poll-based read and vectored write). Everything else is
//! here:
//!
//! * one **driver task** per producer, a hand-written future that owns every connection and
//!   the single timer and runs the core's drive contract: feed an input (`handle_connected`,
//!   `handle_received`, `handle_disconnected`, `handle_timeout`), drain `poll_output` fully,
//!   write transmits with vectored writes from a per-connection queue, compare the clock with
//!   `poll_timeout` before polling the runtime timer, re-arm that timer only when the deadline
//!   changes, and yield after a capped amount of work per wake-up;
//! * **handles** ([`Producer`], [`InputSender`]) that call the core directly under one mutex
//!   (so refusals are the core's own typed [`SendError`]s, synchronously) and wake the task;
//! * **outcomes** routed by [`outcomes::Router`] to a [`DeliveryFuture`] (or the blocking
//!   receipt made from its [`Ticket`](outcomes::Ticket)), a callback ([`Producer::send_with`]),
//!   the channel shape's [`Successes`] / [`Errors`] streams, whose buffering policy is
//!   documented on [`channels`], or an event queue a polling front end drains
//!   ([`Producer::try_send_event`]); none of them allocates per record.
//!
//! Connections exist only here: the core asks with `Output::Connect { address }`, the runtime
//! resolves `host:port` with its own resolver and connects with `TCP_NODELAY`, under a connect
//! timeout of 10 s (Kafka's `socket.connection.setup.timeout.ms` default) capped by
//! `request.timeout.ms`. A failed connect, EOF or I/O error becomes `handle_disconnected`.
//!
//! TLS: with `security.protocol` `SSL` (or `SASL_SSL`), each connection is wrapped in a
//! [`tls::TlsStream`] (rustls' sans-IO `ClientConnection` over the runtime's stream, the
//! same code for every runtime) and the handshake runs inside that connect timeout, before
//! `handle_connected`: the core only ever sees plaintext Kafka frames. A TLS failure
//! (untrusted certificate, hostname mismatch, an alert) goes to the core as
//! `handle_connection_error` with a typed [`ConnectionError`]
//! (a handshake still unfinished at the connect timeout is `TimedOut`),
//! so records that expire behind it fail with that cause; unusable TLS settings are a
//! [`ConnectError::Tls`] at `connect`.
//!
//! Time: the core's [`Instant`](odradek_core::Instant) comes from [`Clock`], anchored once to
//! the wall clock and advanced monotonically.
//!
//! ## Writing an adapter
//!
//! ```
//! use odradek_driver::{AsyncIo, BoxFuture, Runtime};
//! use odradek_core::BrokerAddress;
//! use std::io::{self, IoSlice};
//! use std::task::{Context, Poll};
//! use std::time::Duration;
//!
//! /// A runtime that cannot connect anywhere (a real one wraps its TCP stream).
//! #[derive(Default)]
//! struct Nowhere;
//! struct NoStream;
//!
//! impl AsyncIo for NoStream {
//!     fn poll_read(&mut self, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
//!         Poll::Ready(Ok(0))
//!     }
//!     fn poll_write_vectored(&mut self, _: &mut Context<'_>, _: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
//!         Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
//!     }
//! }
//!
//! impl Runtime for Nowhere {
//!     type Tcp = NoStream;
//!     fn connect(&self, _: &BrokerAddress) -> BoxFuture<io::Result<NoStream>> {
//!         Box::pin(async { Err(io::ErrorKind::ConnectionRefused.into()) })
//!     }
//!     fn sleep(&self, _: Duration) -> BoxFuture<()> {
//!         Box::pin(std::future::pending())
//!     }
//!     fn spawn(&self, _future: BoxFuture<()>) {
//!         // hand the future to an executor here
//!     }
//! }
//!
//! type Producer = odradek_driver::Producer<Nowhere>;
//! ```
#![warn(missing_docs)]
// `SendError` hands the refused record back by value (the core's API): large, and on purpose.
#![allow(clippy::result_large_err)]

pub mod bootstrap;
pub mod channels;
mod clock;
mod driver;
pub mod observe;
pub mod outcomes;
mod producer;
mod report;
mod runtime;
mod state;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
pub mod tls;
mod txn;
pub mod write_queue;

pub use bootstrap::BootstrapError;
pub use channels::{Errors, InputSender, Successes};
pub use clock::Clock;
pub use outcomes::DeliveryResult;
pub use producer::{ConnectError, CoreRef, DeliveryFuture, Producer};
pub use report::{ChannelOptions, CloseReport};
pub use runtime::{AsyncIo, BoxFuture, Runtime};
pub use state::{RECORD_OVERHEAD, TRANSIT_OVERHEAD};

/// The names every async adapter (odradek-tokio, odradek-async-std, odradek-smol) re-exports beside its
/// `Producer` and its runtime, kept in one list: `pub use odradek_driver::adapter_exports::*;`.
pub mod adapter_exports {
    pub use crate::{
        channels, observe, odradek_core, Acks, BootstrapError, BrokerAddress, ChannelOptions,
        CloseReport, Compression, Config, ConfigError, ConnectError, ConnectionError,
        ConnectionErrorKind, DeliveryError, DeliveryFuture, Errors, GroupMetadata, Header,
        InputSender, MessageFormat, PartitionerConfig, Pem, ProduceError, Record, RecordMetadata,
        RetryCause, SaslConfig, SaslMechanism, SecurityProtocol, SendError, SendErrorKind,
        Successes, TlsConfig, TopicName, TransactionError, TransactionState, TxnErrorClass,
        TxnOffset, TxnOp,
    };
}

pub use odradek_core;
pub use odradek_core::{
    Acks, BrokerAddress, Compression, Config, ConfigError, ConnectionError, ConnectionErrorKind,
    DeliveryError, GroupMetadata, Header, MessageFormat, PartitionerConfig, Pem, ProduceError,
    Record, RecordMetadata, RetryCause, SaslConfig, SaslMechanism, SecurityProtocol, SendError,
    SendErrorKind, TlsConfig, TopicName, TransactionError, TransactionState, TxnErrorClass,
    TxnOffset, TxnOp,
};

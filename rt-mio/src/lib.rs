//! # odradek-mio
//!
//! The odradek Kafka producer for [mio](https://docs.rs/mio), in two layers over the sans-IO
//! [`odradek_core::ProducerCore`]:
//!
//! * [`MioProducer`] lives **inside your own `mio::Poll` loop**. You reserve a [`TokenRange`];
//!   it registers its broker sockets on your registry under those tokens only, you pass it the
//!   events for them, poll with its [`timeout`](MioProducer::timeout), call
//!   [`after_poll`](MioProducer::after_poll) after each poll and drain outcomes with
//!   [`poll_event`](MioProducer::poll_event). Nothing in it blocks except host-name resolution
//!   (see [`MioProducer`]).
//! * [`BlockingProducer`] is ready-made: its own thread runs the loop, and any thread can
//!   [`send`](BlockingProducer::send) (blocking while the buffer is full),
//!   [`try_send`](BlockingProducer::try_send), wait on a [`Receipt`],
//!   [`flush`](BlockingProducer::flush) and [`close`](BlockingProducer::close). The original
//!   Sarama channel shape (input, successes, errors) is there too, without the original's
//!   deadlock on an unread channel: [`BlockingProducer::channels`].
//!
//! The API matches `odradek-tokio` and `odradek-async-std` (connect, send → receipt, try_send,
//! flush, close → report, channels), with blocking calls in place of futures, and so does the
//! code behind it: both layers run `odradek-driver`'s driver task (connections, TLS, write
//! queues, the core's drive contract, outcome routing), the one odradek-tokio and
//! odradek-async-std run, on a small mio runtime (non-blocking sockets under the
//! [`TokenRange`]'s tokens, timers as deadlines for the poll timeout). A fix to the driver
//! lands in every front end at once.
//!
//! Time: the core is fed nanoseconds since the UNIX epoch, read from the wall clock once at
//! start and advanced with the monotonic [`std::time::Instant`].
//!
//! TLS (`security.protocol` `SSL` or `SASL_SSL`): each broker socket carries the driver's
//! rustls stream (`odradek_driver::tls`, the async adapters' own); the handshake runs after
//! the TCP connect and before the core hears the connection is open, so the core only sees
//! plaintext (SASL included: it is the core's). TCP connect plus handshake get 10 s, capped by
//! `request.timeout.ms`; a TLS failure reaches the core as a typed
//! [`ConnectionError`], and records behind it fail with it.
//!
//! Work per wake-up is capped (the driver's 32 rounds, each at most 256 KiB read per
//! connection); what is left is resumed on the next [`after_poll`](MioProducer::after_poll),
//! and [`timeout`](MioProducer::timeout) returns zero meanwhile so the loop comes straight
//! back.
//!
//! ## Embedding in your own mio loop
//!
//! ```no_run
//! use mio::net::TcpListener;
//! use mio::{Events, Interest, Poll, Token};
//! use odradek_mio::{Config, MioProducer, ProducerEvent, Record, TokenRange};
//!
//! fn main() -> std::io::Result<()> {
//!     let mut poll = Poll::new()?;
//!     // Your own sources use your own tokens...
//!     const LISTENER: Token = Token(0);
//!     let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//!     poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
//!     // ...and the producer gets a range of its own.
//!     let tokens = TokenRange::new(1_000, 64);
//!     let config = Config::new(["127.0.0.1:9092"]);
//!     let mut producer = MioProducer::new(config, poll.registry(), tokens)
//!         .expect("valid configuration");
//!
//!     let mut events = Events::with_capacity(256);
//!     let mut sent = 0;
//!     loop {
//!         // Hand records over between polls; a full buffer refuses at once.
//!         while sent < 100 {
//!             match producer.send(Record::new("events").value(format!("event {sent}"))) {
//!                 Ok(_id) => sent += 1,
//!                 Err(e) => {
//!                     eprintln!("not now: {e}");
//!                     break;
//!                 }
//!             }
//!         }
//!         if sent == 100 && !producer.core().is_closing() {
//!             producer.close(); // graceful: every record gets its outcome first
//!         }
//!
//!         poll.poll(&mut events, producer.timeout())?;
//!         for event in events.iter() {
//!             if producer.owns(event.token()) {
//!                 producer.handle_event(event);
//!             } else if event.token() == LISTENER {
//!                 // your own work
//!             }
//!         }
//!         producer.after_poll();
//!
//!         while let Some(outcome) = producer.poll_event() {
//!             match outcome {
//!                 ProducerEvent::Delivered { metadata, .. } => {
//!                     println!("at {}-{} offset {}", metadata.topic, metadata.partition, metadata.offset)
//!                 }
//!                 ProducerEvent::Failed { id, error } => eprintln!("{id:?} failed: {error}"),
//!                 ProducerEvent::Closed => return Ok(()),
//!                 ProducerEvent::Transaction { .. } => {} // only with transactional.id
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! ## The ready-made producer thread
//!
//! ```no_run
//! use odradek_mio::{BlockingProducer, ChannelOptions, Config, Record, SendErrorKind};
//!
//! let producer = BlockingProducer::connect(Config::new(["127.0.0.1:9092"]))?;
//! // Blocks while buffer.memory is full; the receipt tells the outcome.
//! let receipt = producer.send(Record::new("events").key("k").value("hello"))?;
//! let metadata = receipt.wait()?;
//! println!("partition {} offset {}", metadata.partition, metadata.offset);
//!
//! // Never blocks: refuses with BufferFull instead.
//! match producer.try_send(Record::new("events").value("maybe")) {
//!     Ok(_receipt) => {} // dropping a receipt is fine
//!     Err(e) if e.kind == SendErrorKind::BufferFull => { /* back off */ }
//!     Err(e) => return Err(e.into()),
//! }
//!
//! producer.flush(); // everything sent so far has its outcome
//! let report = producer.close();
//! println!("{} delivered, {} failed", report.delivered, report.failed);
//!
//! // The channel shape: records in, outcomes out, on any threads.
//! let options = ChannelOptions { return_successes: true, capacity: 256 };
//! let (input, successes, errors) =
//!     BlockingProducer::channels(Config::new(["127.0.0.1:9092"]), options)?;
//! let errors_thread = std::thread::spawn(move || errors.count());
//! let successes_thread = std::thread::spawn(move || successes.map_or(0, |s| s.count()));
//! for i in 0..1_000 {
//!     input.send(Record::new("events").value(format!("event {i}")))?;
//! }
//! let report = input.close(); // the receivers end once read
//! assert_eq!(errors_thread.join().unwrap() as u64, report.failed);
//! assert_eq!(successes_thread.join().unwrap() as u64, report.delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
// `SendError` and `DeliveryError` hand the record back by value; that is the API every odradek
// crate shares, and boxing them here would make this crate the odd one out.
#![allow(clippy::result_large_err)]

mod blocking;
mod embedded;
mod runtime;

pub use blocking::{
    BlockingProducer, ChannelOptions, CloseReport, Errors, InputSender, Receipt, Successes,
};
pub use embedded::{MioProducer, ProducerEvent, TokenRange};

/// The driver's runtime on mio, for the driver's shared test scenarios (`tests/driver.rs`);
/// not part of the API.
#[doc(hidden)]
pub mod testing {
    pub use crate::runtime::MioRuntime;
}
pub use odradek_driver::{observe, BootstrapError};

/// The ready-made producer under the name the other adapters use (`odradek_tokio::Producer`,
/// `odradek_async_std::Producer`), with blocking calls in place of futures.
pub type Producer = BlockingProducer;
pub use odradek_core;
pub use odradek_core::{
    Acks, BrokerAddress, Compression, Config, ConfigError, ConnectionError, ConnectionErrorKind,
    DeliveryError, GroupMetadata, Header, MessageFormat, PartitionerConfig, Pem, ProduceError,
    Record, RecordId, RecordMetadata, RetryCause, SaslConfig, SaslMechanism, SecurityProtocol,
    SendError, SendErrorKind, TlsConfig, TopicName, TransactionError, TransactionState,
    TxnErrorClass, TxnOffset, TxnOp,
};
pub use odradek_driver::tls::TlsError;

use std::fmt;

impl From<odradek_driver::ConnectError> for ConnectError {
    fn from(e: odradek_driver::ConnectError) -> Self {
        match e {
            odradek_driver::ConnectError::Config(e) => ConnectError::Config(e),
            odradek_driver::ConnectError::Tls(e) => ConnectError::Tls(e),
            odradek_driver::ConnectError::Bootstrap(e) => ConnectError::Bootstrap(e),
            // `ConnectError` is non-exhaustive; every variant today is above.
            #[allow(unreachable_patterns)]
            e => ConnectError::Io(std::io::Error::other(e.to_string())),
        }
    }
}

/// Why a producer could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The poller, its waker or the producer thread could not be set up.
    Io(std::io::Error),
    /// The TLS settings could not be used (a CA, certificate or key file missing or not
    /// PEM, a key that does not match its certificate).
    Tls(TlsError),
    /// No entry of `bootstrap.servers` resolves.
    Bootstrap(odradek_driver::BootstrapError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Config(e) => write!(f, "invalid configuration: {e}"),
            ConnectError::Io(e) => write!(f, "cannot start the producer: {e}"),
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
            ConnectError::Bootstrap(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Config(e) => Some(e),
            ConnectError::Io(e) => Some(e),
            ConnectError::Tls(e) => Some(e),
            ConnectError::Bootstrap(e) => Some(e),
        }
    }
}

impl From<ConfigError> for ConnectError {
    fn from(e: ConfigError) -> Self {
        ConnectError::Config(e)
    }
}

impl From<odradek_driver::bootstrap::BootstrapOrConfig> for ConnectError {
    fn from(e: odradek_driver::bootstrap::BootstrapOrConfig) -> Self {
        match e {
            odradek_driver::bootstrap::BootstrapOrConfig::Config(e) => ConnectError::Config(e),
            odradek_driver::bootstrap::BootstrapOrConfig::Bootstrap(e) => {
                ConnectError::Bootstrap(e)
            }
        }
    }
}

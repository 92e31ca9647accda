//! # odradek-smol
//!
//! A Kafka producer for [smol]: the sans-IO [`odradek_core::ProducerCore`] driven by
//! one background task (the loop lives in [`odradek_driver`]; this crate is the ~100-line
//! [`SmolRuntime`] behind it).
//!
//! smol is where async-std's maintainers point its users (async-std is discontinued), and it
//! is built from the same parts: the driver task runs on smol's global executor
//! ([`smol::spawn`]), its timer is an [`smol::Timer`], and connections are
//! [`smol::net::TcpStream`]s (async-net, on async-io's reactor).
//!
//! ## Quickstart
//!
//! ```no_run
//! use odradek_smol::{Config, Producer, Record};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     smol::block_on(async {
//!         let producer = Producer::connect(Config::new(["localhost:9092"])).await?;
//!
//!         // `send` waits while the buffer is full; the future it returns resolves with the
//!         // record's outcome.
//!         let delivery = producer.send(Record::new("events").key("user-1").value("hello")).await?;
//!         let metadata = delivery.await?;
//!         println!("appended at {}:{}", metadata.partition, metadata.offset);
//!
//!         // Graceful close: every accepted record gets its outcome first.
//!         let report = producer.close().await;
//!         assert_eq!(report.failed, 0);
//!         Ok(())
//!     })
//! }
//! ```
//!
//! The original's channel shape (an input, a successes stream, an errors stream) is
//! [`Producer::channels`]; its buffering policy (an unread stream never blocks the producer)
//! is described in [`channels`].
//!
//! Broker host names are resolved with smol's resolver ([`smol::net::resolve`], which runs
//! the system resolver on smol's blocking thread pool); `TCP_NODELAY` is on. The global
//! executor's thread count follows smol's `SMOL_THREADS` environment variable (1 by default).
#![warn(missing_docs)]

use odradek_driver::{AsyncIo, BoxFuture, Runtime};
use smol::io::{AsyncRead, AsyncWrite};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

// The same names in every async adapter: one list, in odradek-driver.
pub use odradek_driver::adapter_exports::*;

/// A Kafka producer on smol. See [`odradek_driver::Producer`] for every method:
/// `connect`, `send`, `try_send`, `flush`, `close`, `close_timeout`, `channels`.
pub type Producer = odradek_driver::Producer<SmolRuntime>;

/// The smol [`Runtime`]: `smol::spawn` (the global executor), `smol::Timer`,
/// `smol::net::TcpStream`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    type Tcp = SmolTcp;

    fn connect(&self, address: &BrokerAddress) -> BoxFuture<io::Result<SmolTcp>> {
        let host = address.host.clone();
        let port = address.port;
        Box::pin(async move {
            // Resolves with smol's resolver and tries each address in turn.
            let stream = smol::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(SmolTcp(stream))
        })
    }

    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<std::net::SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { smol::net::resolve((host.as_str(), port)).await })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        let timer = smol::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn spawn(&self, future: BoxFuture<()>) {
        // Detached: the driver task owns its end (the handles wait on shared state, not on
        // the task), as with tokio's and async-std's spawn.
        smol::spawn(future).detach();
    }
}

/// A smol TCP stream as the driver's [`AsyncIo`].
#[derive(Debug)]
pub struct SmolTcp(smol::net::TcpStream);

impl AsyncIo for SmolTcp {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

//! # odradek-async-std
//!
//! A Kafka producer for [async-std](async_std): the sans-IO [`odradek_core::ProducerCore`]
//! driven by one background task (the loop lives in [`odradek_driver`]; this crate is the
//! ~100-line [`AsyncStdRuntime`] behind it).
//!
//! ## Quickstart
//!
//! ```no_run
//! use odradek_async_std::{Config, Producer, Record};
//!
//! #[async_std::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let producer = Producer::connect(Config::new(["localhost:9092"])).await?;
//!
//!     // `send` waits while the buffer is full; the future it returns resolves with the
//!     // record's outcome.
//!     let delivery = producer.send(Record::new("events").key("user-1").value("hello")).await?;
//!     let metadata = delivery.await?;
//!     println!("appended at {}:{}", metadata.partition, metadata.offset);
//!
//!     // Graceful close: every accepted record gets its outcome first.
//!     let report = producer.close().await;
//!     assert_eq!(report.failed, 0);
//!     Ok(())
//! }
//! ```
//!
//! The original's channel shape (an input, a successes stream, an errors stream) is
//! [`Producer::channels`]; its buffering policy (an unread stream never blocks the producer)
//! is described in [`channels`].
//!
//! Broker host names are resolved with async-std's resolver; `TCP_NODELAY` is on.
#![warn(missing_docs)]

use async_std::io::{Read, Write};
use odradek_driver::{AsyncIo, BoxFuture, Runtime};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

// The same names in every async adapter: one list, in odradek-driver.
pub use odradek_driver::adapter_exports::*;

/// A Kafka producer on async-std. See [`odradek_driver::Producer`] for every method:
/// `connect`, `send`, `try_send`, `flush`, `close`, `channels`.
pub type Producer = odradek_driver::Producer<AsyncStdRuntime>;

/// The async-std [`Runtime`]: `task::spawn`, `task::sleep`, `net::TcpStream`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AsyncStdRuntime;

impl Runtime for AsyncStdRuntime {
    type Tcp = AsyncStdTcp;

    fn connect(&self, address: &BrokerAddress) -> BoxFuture<io::Result<AsyncStdTcp>> {
        let host = address.host.clone();
        let port = address.port;
        Box::pin(async move {
            // Resolves with async-std's resolver and tries each address in turn.
            let stream = async_std::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(AsyncStdTcp(stream))
        })
    }

    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<std::net::SocketAddr>>> {
        use async_std::net::ToSocketAddrs;
        let host = host.to_owned();
        Box::pin(async move { Ok((host.as_str(), port).to_socket_addrs().await?.collect()) })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(async_std::task::sleep(duration))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        async_std::task::spawn(future);
    }
}

/// An async-std TCP stream as the driver's [`AsyncIo`].
#[derive(Debug)]
pub struct AsyncStdTcp(async_std::net::TcpStream);

impl AsyncIo for AsyncStdTcp {
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

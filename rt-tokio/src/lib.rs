//! # odradek-tokio
//!
//! A Kafka producer for [tokio]: the sans-IO [`odradek_core::ProducerCore`] driven by one
//! background task (the loop lives in [`odradek_driver`]; this crate is the ~100-line
//! [`TokioRuntime`] behind it).
//!
//! ## Quickstart
//!
//! ```no_run
//! use odradek_tokio::{Config, Producer, Record};
//!
//! #[tokio::main]
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
//! ## Requirements
//!
//! [`Producer::connect`] must run inside a tokio runtime with the IO and time drivers enabled
//! (`#[tokio::main]`, or a builder with `enable_all()`): the driver task is spawned on it.
//! Broker host names are resolved with tokio's resolver; `TCP_NODELAY` is on.
#![warn(missing_docs)]

use odradek_driver::{AsyncIo, BoxFuture, Runtime};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

// The same names in every async adapter: one list, in odradek-driver.
pub use odradek_driver::adapter_exports::*;

/// A Kafka producer on tokio. See [`odradek_driver::Producer`] for every method:
/// `connect`, `send`, `try_send`, `flush`, `close`, `channels`.
pub type Producer = odradek_driver::Producer<TokioRuntime>;

/// The tokio [`Runtime`]: `tokio::spawn`, `tokio::time::sleep`, `tokio::net::TcpStream`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    type Tcp = TokioTcp;

    fn connect(&self, address: &BrokerAddress) -> BoxFuture<io::Result<TokioTcp>> {
        let host = address.host.clone();
        let port = address.port;
        Box::pin(async move {
            // Resolves with tokio's resolver and tries each address in turn.
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(TokioTcp(stream))
        })
    }

    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<std::net::SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        tokio::spawn(future);
    }
}

/// A tokio TCP stream as the driver's [`AsyncIo`].
#[derive(Debug)]
pub struct TokioTcp(tokio::net::TcpStream);

impl AsyncIo for TokioTcp {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

//! The runtime behind the driver: one small trait ([`Runtime`]) and one byte-stream trait
//! ([`AsyncIo`]). An adapter crate implements both in about a hundred lines.

use odradek_core::BrokerAddress;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A boxed, sendable, `'static` future: what the runtime hands back and what it spawns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What the driver needs from an async runtime: open TCP connections, sleep, spawn a task.
///
/// The driver never blocks and never reads a clock through the runtime: the runtime only
/// moves bytes and wakes the driver.
pub trait Runtime: Send + Sync + 'static {
    /// A connected TCP stream.
    type Tcp: AsyncIo;

    /// Resolves `address` with the runtime's resolver, connects to the first address that
    /// accepts, and turns `TCP_NODELAY` on. The driver puts its own timeout around it.
    fn connect(&self, address: &BrokerAddress) -> BoxFuture<io::Result<Self::Tcp>>;

    /// Resolves `host`:`port` to its addresses with the runtime's resolver (used at `connect`
    /// to check `bootstrap.servers`). The default uses [`std::net::ToSocketAddrs`], which
    /// blocks the calling task on DNS; runtimes with a resolver of their own override it.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        let result = (host, port).to_socket_addrs().map(|it| it.collect());
        Box::pin(std::future::ready(result))
    }

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<()>;

    /// Runs `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<()>);
}

/// A byte stream with poll-based reads and vectored writes, so that both tokio's and the
/// `futures` IO traits can stand behind it.
///
/// Like the runtimes' own traits, `Poll::Pending` means the current task will be woken when
/// the stream is ready again.
pub trait AsyncIo: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` means the peer closed the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Writes some prefix of `bufs` (taken back to back) and tells how many bytes.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
}

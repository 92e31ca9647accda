//! [`ProducerCore`]: the whole producer pipeline as plain state.

use crate::config::{Config, ConfigError};
use crate::error::SendError;
use crate::message::{Record, RecordId};
use crate::output::{ConnId, Output, TimeoutReason};
use crate::time::Instant;

/// The sans-IO producer. See the crate docs for the drive contract.
#[derive(Debug)]
pub struct ProducerCore {
    config: Config,
}

impl ProducerCore {
    /// A producer with `config`, drawing all its randomness from `seed`, starting at `now`.
    /// It asks for its first connection (to a bootstrap server) at once.
    pub fn new(config: Config, seed: u64, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let _ = (seed, now);
        Ok(ProducerCore { config })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Accepts a record, or refuses it at once (too large, bad topic, closed, buffer full),
    /// handing it back.
    pub fn send(&mut self, record: Record, now: Instant) -> Result<RecordId, SendError> {
        let _ = (record, now);
        todo!("core: send")
    }

    /// A connection asked for by [`Output::Connect`] is open.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let _ = (conn, now);
        todo!("core: handle_connected")
    }

    /// Bytes arrived on a connection. The core does the framing.
    pub fn handle_received(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let _ = (conn, data, now);
        todo!("core: handle_received")
    }

    /// A connection failed to open, or closed, or errored.
    pub fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        let _ = (conn, now);
        todo!("core: handle_disconnected")
    }

    /// The timer armed from [`poll_timeout`](Self::poll_timeout) fired (calling it early is
    /// harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!("core: handle_timeout")
    }

    /// Seals every open batch now, ignoring `linger.ms`, until everything sent before this call
    /// has its outcome.
    pub fn flush(&mut self, now: Instant) {
        let _ = now;
        todo!("core: flush")
    }

    /// Graceful close: refuse new records, deliver or fail every one already accepted, close
    /// the connections, then emit [`Output::Closed`].
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        todo!("core: close")
    }

    /// The next output, or `None` when there is nothing to do until the next input.
    pub fn poll_output(&mut self) -> Option<Output> {
        todo!("core: poll_output")
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, and why; `None` when no
    /// timer is needed.
    pub fn poll_timeout(&self) -> Option<(Instant, TimeoutReason)> {
        todo!("core: poll_timeout")
    }

    /// Records accepted and not yet given an outcome.
    pub fn pending_records(&self) -> usize {
        todo!("core: pending_records")
    }

    /// Bytes of `buffer.memory` in use.
    pub fn buffered_bytes(&self) -> usize {
        todo!("core: buffered_bytes")
    }

    /// Whether `close` was called.
    pub fn is_closing(&self) -> bool {
        todo!("core: is_closing")
    }
}

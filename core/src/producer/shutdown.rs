//! Shutdown (Sarama's `shutdown` and the dispatcher's `shuttingDown`): `close` refuses new
//! records, seals every open batch, lets everything accepted reach its outcome (retries still
//! apply), then disconnects every connection and emits [`Output::Closed`] exactly once, last.

use super::ProducerCore;
use crate::output::{ConnId, Output};
use crate::time::Instant;

impl ProducerCore {
    /// Starts the graceful close.
    pub(super) fn begin_close(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.flush_upto = self.next_record_id;
        // Every open batch seals now (as for a flush).
        self.mark_open_batches();
        self.advance(now);
    }

    /// Closing with nothing left: no more metadata, connections or requests are needed.
    pub(super) fn is_idle_closing(&self) -> bool {
        self.closing && self.pending_records == 0
    }

    /// Finishes the close once every record has its outcome.
    pub(super) fn maybe_finish_close(&mut self) {
        if !self.is_idle_closing() || self.closed {
            return;
        }
        let conns: Vec<ConnId> = self.conns.conns.keys().copied().collect();
        for conn in conns {
            self.conns.conns.remove(&conn);
            self.outputs.push_back(Output::Disconnect { conn });
        }
        self.conns.by_target.clear();
        self.metadata.in_flight = None;
        self.closed = true;
        self.outputs.push_back(Output::Closed);
    }
}

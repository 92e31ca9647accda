//! The close that stops waiting: [`ProducerCore::close_now`], what an adapter's
//! `close(timeout)` calls once its timeout passed (the core reads no clock: the adapter keeps
//! the timeout, as it keeps every other timer).

use super::connection::Report;
use super::ProducerCore;
use crate::error::{ProduceError, RetryCause};
use crate::output::ConnId;
use crate::time::Instant;

/// [`ProducerCore::close_now`]: refuses new records, ends every connection (their requests
/// are given up: an answer that still comes is never read), fails every record without an
/// outcome with [`ProduceError::CloseTimedOut`], and finishes the close,
/// [`Output::Closed`](crate::Output::Closed) last.
pub(super) fn close_now(core: &mut ProducerCore, now: Instant) {
    if core.closed {
        return;
    }
    core.closing = true;
    core.flush_upto = core.accept.next_record_id;
    core.clock.last_now = core.clock.last_now.max(now);
    // Every outcome from here on is this close's: a failure with the close's error, whatever
    // the step that produced it (a batch whose connection ends may fail at once with its
    // retries exhausted; it fails with the close's error instead, in the stats too).
    core.outbox.fail_as = Some(ProduceError::CloseTimedOut);
    let conns: Vec<ConnId> = core.conns.conns.keys().copied().collect();
    for conn in conns {
        // `Report::Emit`: the driver is told to drop the connection with whatever it still
        // has queued on it.
        core.drop_conn(conn, RetryCause::ConnectionLost, Report::Emit, now);
    }
    // What the ended requests gave back, and everything never sent (waiting for metadata,
    // in batches, in retry buffers).
    core.fail_unsent(&ProduceError::CloseTimedOut);
    debug_assert_eq!(
        core.outbox.pending, 0,
        "close_now left a record without outcome"
    );
    // With nothing pending, the pass finishes the close: the connections opened since are
    // disconnected and `Output::Closed` comes last.
    core.advance(now);
}

//! The original's channel shape: [`InputSender`], [`Successes`], [`Errors`].
//!
//! # Buffering policy (no deadlock on an unread stream)
//!
//! In the 2015 original, a producer whose successes or errors channel was not read stopped
//! dead: its goroutines blocked writing outcomes, and so stopped reading input. Here the
//! driver task **never** waits on a stream. Outcomes go into queues shared with the streams;
//! what keeps those queues bounded is the *input* side:
//!
//! * [`InputSender::send`] waits (and [`InputSender::try_send`] refuses with
//!   [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull)) while the
//!   outcomes not yet read from the streams number [`ChannelOptions::capacity`] or more — as
//!   well as while `buffer.memory` is full. At most `capacity` + the records in flight
//!   (themselves bounded by `buffer.memory`) are ever queued.
//! * Records already accepted always get their outcome: the driver keeps working, delivering,
//!   retrying and failing them whether or not anyone reads.
//! * Dropping a stream means "not interested": a dropped [`Successes`] discards successes
//!   (queued and future); a dropped [`Errors`] sends failures to the
//!   [`CloseReport`] as unobserved instead. Neither counts against
//!   `capacity` any more.
//! * Successes are only queued when [`ChannelOptions::return_successes`] is set (Sarama's
//!   `Return.Successes`).
//!
//! Both streams end (`None`) once the producer has closed and their queue is read.

use crate::outcomes::ChannelQueues;
pub use crate::report::ChannelOptions;
use crate::report::CloseReport;
use crate::state::{Handle, Sender, Shared, WhenFull};
use futures_util::stream::Stream;
use odradek_core::{DeliveryError, Record, RecordMetadata, SendError};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The input of the channel shape: send records; their outcomes go to the [`Successes`] and
/// [`Errors`] streams. Cloneable; when every clone is dropped the producer closes gracefully
/// and the streams end after their last outcome.
pub struct InputSender {
    handle: Handle,
}

impl Clone for InputSender {
    fn clone(&self) -> Self {
        InputSender {
            handle: self.handle.clone(),
        }
    }
}

impl fmt::Debug for InputSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputSender").finish_non_exhaustive()
    }
}

impl InputSender {
    pub(crate) fn new(handle: Handle) -> Self {
        InputSender { handle }
    }

    /// Sends a record. Waits while `buffer.memory` is full or `capacity` outcomes wait
    /// unread (see the [module docs](self)); refuses at once, handing the record back, for
    /// every other reason (too large, invalid topic, closed).
    pub async fn send(&self, record: Record) -> Result<(), SendError> {
        let mut slot = Some(record);
        poll_fn(|cx| poll_send_channel(&self.handle.shared, cx, &mut slot, WhenFull::Wait)).await
    }

    /// Sends a record without waiting: a full buffer or full output queues refuse at once
    /// with [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull).
    pub fn try_send(&self, record: Record) -> Result<(), SendError> {
        let mut slot = Some(record);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match poll_send_channel(&self.handle.shared, &mut cx, &mut slot, WhenFull::Refuse) {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("try_send does not wait"),
        }
    }

    /// Returns once every record sent before the call has its outcome (queued on a stream,
    /// or counted).
    pub async fn flush(&self) {
        self.handle.shared.flush().await
    }

    /// Closes gracefully (every accepted record gets its outcome on the streams) and reports.
    /// The streams end once read to their end.
    pub async fn close(self) -> CloseReport {
        self.handle.shared.close().await
    }

    /// Java's `close(Duration)`: [`close`](Self::close), but once `timeout` passed every
    /// record still without an outcome fails with
    /// [`ProduceError::CloseTimedOut`](odradek_core::ProduceError::CloseTimedOut) (on the
    /// errors stream, one outcome each) and the report comes.
    ///
    /// ```no_run
    /// # async fn run<R: odradek_driver::Runtime + Default>() -> Result<(), Box<dyn std::error::Error>> {
    /// use odradek_core::{Config, Record};
    /// use odradek_driver::{ChannelOptions, Producer};
    /// use std::time::Duration;
    /// let config = Config::new(["127.0.0.1:9092"]);
    /// let (input, _successes, _errors) = Producer::<R>::channels(config, ChannelOptions::default()).await?;
    /// input.send(Record::new("events").value("v")).await?;
    /// let report = input.close_timeout(Duration::from_secs(5)).await;
    /// println!("{} failed", report.failed);
    /// # Ok(()) }
    /// ```
    pub async fn close_timeout(self, timeout: std::time::Duration) -> CloseReport {
        self.handle.shared.close_within(Some(timeout)).await
    }
}

fn poll_send_channel(
    shared: &Shared,
    cx: &mut Context<'_>,
    slot: &mut Option<Record>,
    when_full: WhenFull,
) -> Poll<Result<(), SendError>> {
    let mut st = shared.lock();
    st.poll_send(cx, slot, when_full, Sender::Channel)
        .map(|r| r.map(|id| st.router.track_channel(id)))
}

/// Stream of delivered records with where they went (opt-in with
/// [`ChannelOptions::return_successes`]). Dropping it discards successes.
pub struct Successes {
    shared: Arc<Shared>,
}

impl Successes {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Successes { shared }
    }
}

impl fmt::Debug for Successes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Successes").finish_non_exhaustive()
    }
}

impl Stream for Successes {
    type Item = (RecordMetadata, Record);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_queue(&self.shared, cx, successes)
    }
}

impl Drop for Successes {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.router.close_successes();
        st.wake_space();
    }
}

/// Stream of records that failed for good, each with its reason. Dropping it sends later
/// failures to the [`CloseReport`] instead.
pub struct Errors {
    shared: Arc<Shared>,
}

impl Errors {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Errors { shared }
    }
}

impl fmt::Debug for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Errors").finish_non_exhaustive()
    }
}

impl Stream for Errors {
    type Item = DeliveryError;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_queue(&self.shared, cx, errors)
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.router.close_errors();
        st.wake_space();
    }
}

/// The successes queue and the waker of its stream.
fn successes(
    q: &mut ChannelQueues,
) -> (&mut VecDeque<(RecordMetadata, Record)>, &mut Option<Waker>) {
    (&mut q.successes, &mut q.successes_waker)
}

/// The errors queue and the waker of its stream.
fn errors(q: &mut ChannelQueues) -> (&mut VecDeque<DeliveryError>, &mut Option<Waker>) {
    (&mut q.errors, &mut q.errors_waker)
}

/// One poll of a stream over one of the outcome queues (`side` picks which): the next
/// outcome, the end once the producer finished and the queue is read, or `Pending`.
fn poll_queue<T>(
    shared: &Shared,
    cx: &mut Context<'_>,
    side: fn(&mut ChannelQueues) -> (&mut VecDeque<T>, &mut Option<Waker>),
) -> Poll<Option<T>> {
    let mut st = shared.lock();
    let finished = st.finished;
    let Some(q) = st.router.channels.as_mut() else {
        return Poll::Ready(None);
    };
    let (queue, waker) = side(q);
    if let Some(item) = queue.pop_front() {
        st.wake_space();
        return Poll::Ready(Some(item));
    }
    if finished {
        return Poll::Ready(None);
    }
    *waker = Some(cx.waker().clone());
    Poll::Pending
}

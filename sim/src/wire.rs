//! What crossed the client's edge of the network, request by request: the Produce requests
//! the core sent (with the idempotent batches they carried) and how each was resolved for the
//! core (its response delivered, or its connection reported dropped). Kept by the
//! [`Cluster`](crate::Cluster) when asked ([`Cluster::enable_wire_log`](crate::Cluster::enable_wire_log))
//! and checked by [`check`](crate::check) (promise `retries_wait_for_the_old_path`).

use bytes::{Buf, BytesMut};
use odradek_core::protocol::{self, api_key, ProduceRequest};
use odradek_core::ConnId;
use std::collections::BTreeMap;

/// One idempotent batch in a Produce request: partition, producer id, epoch, base sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchKey {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Base sequence.
    pub base_sequence: i32,
}

/// One event at the client's edge, in the order the core saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireEvent {
    /// The core transmitted a Produce request carrying idempotent batches.
    Sent {
        /// Connection.
        conn: ConnId,
        /// Correlation id.
        correlation: i32,
        /// Its idempotent batches (one per partition).
        batches: Vec<BatchKey>,
    },
    /// The whole response with this correlation id was handed to the core.
    Answered {
        /// Connection.
        conn: ConnId,
        /// Correlation id.
        correlation: i32,
    },
    /// The broker refused this batch of the request `correlation` on `conn` with
    /// UNKNOWN_PRODUCER_ID (recorded when the broker judged it; the client learns it only if
    /// the response is later [`Answered`](WireEvent::Answered)).
    RefusedUnknownProducer {
        /// Connection.
        conn: ConnId,
        /// Correlation id of the request.
        correlation: i32,
        /// The refused batch.
        batch: BatchKey,
    },
    /// The core learned the connection is gone (it closed it, or was told): nothing sent on it
    /// is outstanding any more.
    Dropped {
        /// Connection.
        conn: ConnId,
    },
}

/// Splits the client's byte streams into frames and records [`WireEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct WireLog {
    events: Vec<WireEvent>,
    /// Client-to-broker bytes not yet a whole frame, per connection.
    out: BTreeMap<ConnId, BytesMut>,
    /// Broker-to-client: per connection, the first bytes of the current frame (size and
    /// correlation id, up to 8) and how many bytes of it are still to come after those.
    inbound: BTreeMap<ConnId, AnswerFrames>,
}

/// Follows the broker-to-client byte stream of one connection and names each answer as its
/// last byte arrives: the first bytes of the current frame (size and correlation id, up to 8)
/// and how many bytes of it are still to come after those.
#[derive(Debug, Default)]
pub(crate) struct AnswerFrames {
    head: Vec<u8>,
    rest: usize,
}

impl AnswerFrames {
    /// Takes `data`, the next bytes of the stream; calls `answered` with the correlation id
    /// of each frame it completes, in order.
    pub(crate) fn feed(&mut self, mut data: &[u8], mut answered: impl FnMut(i32)) {
        while !data.is_empty() {
            let head = &mut self.head;
            if head.len() < 8 {
                let take = (8 - head.len()).min(data.len());
                head.extend_from_slice(&data[..take]);
                data = &data[take..];
                if head.len() < 8 {
                    return;
                }
                let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                self.rest = usize::try_from(size).unwrap_or(0).saturating_sub(4);
            }
            let take = self.rest.min(data.len());
            self.rest -= take;
            data = &data[take..];
            if self.rest == 0 {
                answered(i32::from_be_bytes([head[4], head[5], head[6], head[7]]));
                head.clear();
            }
        }
    }
}

impl WireLog {
    /// The core transmitted `data` on `conn`.
    pub(crate) fn transmitted(&mut self, conn: ConnId, data: &[bytes::Bytes]) {
        let buf = self.out.entry(conn).or_default();
        for d in data {
            buf.extend_from_slice(d);
        }
        loop {
            if buf.len() < 4 {
                return;
            }
            let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let Ok(size) = usize::try_from(size) else {
                buf.clear(); // the broker reports the bad frame
                return;
            };
            if buf.len() < 4 + size {
                return;
            }
            buf.advance(4);
            let frame = buf.split_to(size).freeze();
            let Ok((header, body)) = protocol::decode_request_header(&frame) else {
                continue;
            };
            if header.api_key != api_key::PRODUCE {
                continue;
            }
            let Ok(req) = protocol::decode_request_body::<ProduceRequest>(header.api_version, body)
            else {
                continue;
            };
            let mut batches = Vec::new();
            for topic in &req.topics {
                for pd in &topic.partitions {
                    if let Some((producer_id, epoch, base_sequence)) = batch_identity(&pd.records) {
                        batches.push(BatchKey {
                            topic: topic.name.to_string(),
                            partition: pd.index,
                            producer_id,
                            epoch,
                            base_sequence,
                        });
                    }
                }
            }
            if !batches.is_empty() {
                self.events.push(WireEvent::Sent {
                    conn,
                    correlation: header.correlation_id,
                    batches,
                });
            }
        }
    }

    /// `data` on `conn` was handed to the core.
    pub(crate) fn received(&mut self, conn: ConnId, data: &[u8]) {
        let events = &mut self.events;
        self.inbound
            .entry(conn)
            .or_default()
            .feed(data, |correlation| {
                events.push(WireEvent::Answered { conn, correlation })
            });
    }

    /// The broker refused `batch` of request `correlation` on `conn` with UNKNOWN_PRODUCER_ID.
    pub(crate) fn refused_unknown_producer(
        &mut self,
        conn: ConnId,
        correlation: i32,
        batch: BatchKey,
    ) {
        self.events.push(WireEvent::RefusedUnknownProducer {
            conn,
            correlation,
            batch,
        });
    }

    /// The core learned `conn` is gone.
    pub(crate) fn dropped(&mut self, conn: ConnId) {
        self.out.remove(&conn);
        self.inbound.remove(&conn);
        self.events.push(WireEvent::Dropped { conn });
    }

    /// Takes the events recorded so far.
    pub(crate) fn take(&mut self) -> Vec<WireEvent> {
        std::mem::take(&mut self.events)
    }
}

/// `(producer id, epoch, base sequence)` of a v2 record batch that has a producer id.
fn batch_identity(records: &[u8]) -> Option<(i64, i16, i32)> {
    // baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc 4, attributes 2,
    // lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8, producerEpoch 2,
    // baseSequence 4.
    if records.len() < 57 || records[16] != 2 {
        return None;
    }
    let pid = i64::from_be_bytes(records[43..51].try_into().ok()?);
    let epoch = i16::from_be_bytes(records[51..53].try_into().ok()?);
    let seq = i32::from_be_bytes(records[53..57].try_into().ok()?);
    (pid >= 0).then_some((pid, epoch, seq))
}

//! What the client sent and learned, with virtual times: every Produce request it transmitted
//! (with the records it carried), every Produce answer it received (with the error code per
//! partition), every Metadata request and answer. Kept by the [`Cluster`] when
//! asked ([`Cluster::enable_client_log`](crate::Cluster::enable_client_log)), and read by the
//! checker's timeliness promises: retries wait for their backoff, a NOT_LEADER answer leads to
//! a metadata refresh.

use crate::cluster::Cluster;
use odradek_core::{ConnId, Instant};
use std::hash::{Hash, Hasher};

/// A record's identity in the client log: a hash of its topic, key and value (the records of a
/// run are distinguishable by those, see [`Workload`](crate::Workload)).
pub fn record_key(topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    topic.hash(&mut h);
    key.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

/// One thing the client did or learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A Produce request transmitted at `at` carrying these records.
    ProduceSent {
        /// When the client transmitted it.
        at: Instant,
        /// Its records ([`record_key`]).
        records: Vec<u64>,
    },
    /// The client received, at `at`, an answer refusing one partition's batch with `code`.
    ProduceRefused {
        /// When the answer reached the client.
        at: Instant,
        /// The error code.
        code: i16,
        /// The batch's records ([`record_key`]).
        records: Vec<u64>,
    },
    /// A Metadata request transmitted at `at`.
    MetadataSent {
        /// When the client transmitted it.
        at: Instant,
    },
    /// The client received a Metadata answer at `at`.
    MetadataAnswered {
        /// When.
        at: Instant,
    },
}

impl ClientEvent {
    /// When it happened.
    pub fn at(&self) -> Instant {
        match self {
            ClientEvent::ProduceSent { at, .. }
            | ClientEvent::ProduceRefused { at, .. }
            | ClientEvent::MetadataSent { at }
            | ClientEvent::MetadataAnswered { at } => *at,
        }
    }
}

/// What an answer on its way will tell the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Note {
    /// A Produce answer: the partitions it refuses, (code, records).
    Produce(Vec<(i16, Vec<u64>)>),
    /// A Metadata answer.
    Metadata,
}

impl Cluster {
    /// Logs `event` when the client log is on.
    pub(crate) fn client_event(&mut self, event: impl FnOnce() -> ClientEvent) {
        if let Some(log) = &mut self.client_log {
            log.push(event());
        }
    }

    /// Remembers what the answer with `correlation` on `conn` will tell the client.
    pub(crate) fn push_note(&mut self, conn: ConnId, correlation: i32, note: Note) {
        if self.client_log.is_none() {
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.notes.push_back((correlation, note));
        }
    }

    /// `data` reached the client on `conn`: each answer it completes is logged with its note.
    pub(crate) fn client_received(&mut self, conn: ConnId, data: &[u8]) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut done = Vec::new();
        c.inbound_frame.feed(data, |corr| done.push(corr));
        for corr in done {
            let Some(pos) = c.notes.iter().position(|(k, _)| *k == corr) else {
                continue;
            };
            let Some((_, note)) = c.notes.remove(pos) else {
                continue;
            };
            let Some(log) = &mut self.client_log else {
                return;
            };
            match note {
                Note::Metadata => log.push(ClientEvent::MetadataAnswered { at: now }),
                Note::Produce(parts) => {
                    for (code, records) in parts {
                        log.push(ClientEvent::ProduceRefused {
                            at: now,
                            code,
                            records,
                        });
                    }
                }
            }
        }
    }
}

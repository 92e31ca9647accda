//! What the core asks its driver to do: [`Output`], and the names it uses for connections.

use crate::error::ProduceError;
use crate::message::{Record, RecordId, RecordMetadata};
use bytes::Bytes;

/// A connection the core asked for; the driver maps it to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A broker address to connect to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Host name or IP literal, as given in `bootstrap.servers` or advertised by the broker.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Something the core wants done, or something that happened to a record.
#[derive(Debug)]
pub enum Output {
    /// Open a TCP connection to `address`, then call `handle_connected(conn, now)`, or
    /// `handle_disconnected(conn, now)` if it fails.
    Connect {
        /// The id the core will use for this connection.
        conn: ConnId,
        /// Where to connect.
        address: BrokerAddress,
    },
    /// Write these bytes, in order, to the connection (a whole request, already framed).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Chunks to write back to back (vectored write friendly).
        data: Vec<Bytes>,
    },
    /// Close the connection. The core has already forgotten it: do not report it back.
    Disconnect {
        /// The connection.
        conn: ConnId,
    },
    /// A record was appended.
    Delivered {
        /// The id `send` returned.
        id: RecordId,
        /// Where and when.
        metadata: RecordMetadata,
        /// The record, handed back.
        record: Record,
    },
    /// A record failed for good.
    Failed {
        /// The id `send` returned.
        id: RecordId,
        /// Why.
        error: ProduceError,
        /// The record, handed back.
        record: Record,
    },
    /// `close` finished: every record has its outcome and every connection was disconnected.
    /// Nothing comes after this.
    Closed,
}

/// Why the core wants to be woken up; see `ProducerCore::poll_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutReason {
    /// A batch's `linger.ms` runs out.
    Linger,
    /// A retry backoff ends.
    RetryBackoff,
    /// A request's `request.timeout.ms` runs out.
    RequestTimeout,
    /// Metadata is due for refresh (`metadata.max.age.ms`, or backoff after an error).
    MetadataRefresh,
    /// A record's `delivery.timeout.ms` runs out.
    DeliveryTimeout,
    /// A reconnect backoff ends.
    ReconnectBackoff,
    /// A SASL session nears the end of its lifetime (KIP-368): its connection re-authenticates.
    Reauthenticate,
}

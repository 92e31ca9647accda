//! Connections: [`ConnId`] allocation, one [`FrameDecoder`] per connection (frames above
//! `max_response_size` are refused from their size prefix), the map of requests awaiting a
//! response by correlation id, ApiVersions negotiation, SASL authentication before any other
//! request when configured ([`super::sasl`]), reconnect backoff, and what happens to a
//! connection's requests when it ends.

use super::outbox::Outbox;
use super::Clock;
use crate::config::{parse_host_port, Config, MessageFormat};
use crate::error::RetryCause;
use crate::output::{BrokerAddress, ConnId, Output};
use crate::protocol::{
    self, api_key, ApiVersionsRequest, ApiVersionsResponse, ErrorCode, FrameDecoder,
    InitProducerIdRequest, MetadataRequest, ProduceRequest, Request, RequestHeader,
    SaslAuthenticateRequest,
};
use crate::record::RecordFormat;
use crate::time::Instant;
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether ending a connection emits [`Output::Disconnect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// The core ends it: the driver is told to close it.
    Emit,
    /// The driver reported that it ended: there is nothing to tell.
    Silent,
}

/// Names one request: the connection and the correlation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestRef {
    pub conn: ConnId,
    pub correlation_id: i32,
}

/// What a connection is for: a bootstrap address (by index) or a broker (by node id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    Bootstrap(usize),
    Node(i32),
}

/// Versions agreed with one broker.
#[derive(Debug, Clone)]
pub(crate) struct Versions {
    pub metadata: i16,
    /// Produce version and record format, or why this broker cannot take our records.
    pub produce: Result<(i16, RecordFormat), &'static str>,
    /// InitProducerId version, when the broker speaks it.
    pub init_producer_id: Option<i16>,
    /// SaslHandshake (v1 only: tokens then travel in SaslAuthenticate) and SaslAuthenticate
    /// versions, when the broker speaks them.
    pub sasl: Option<(i16, i16)>,
    /// The transaction APIs' versions and the finalized `transaction.version`.
    pub txn: super::txn::TxnVersions,
}

/// A connection's life.
#[derive(Debug)]
pub(crate) enum ConnPhase {
    /// `Output::Connect` emitted; the driver has not reported back. Times out like a request.
    Connecting { deadline: Instant },
    /// ApiVersions sent.
    Negotiating,
    /// SASL exchange in progress (first authentication, or re-authentication of a drained
    /// connection): nothing else is sent on the connection until it ends.
    Authenticating(Box<super::sasl::Auth>),
    /// Ready for Metadata and Produce.
    Ready(Versions),
}

/// One batch inside a Produce request.
#[derive(Debug)]
pub(crate) struct InFlightBatch {
    /// Whose batch it is.
    pub partition: super::PartitionRef,
    /// The records actually encoded, in batch order (offset = base + index).
    pub records: Vec<super::batch::Slot>,
    /// The batch as encoded at `send`, if it was (taken when the request is built).
    pub enc: Option<crate::record::BatchBuilder>,
    /// The finished batch bytes, between encoding and writing the request (then empty).
    pub wire: bytes::Bytes,
    /// Idempotence: the batch's sequence and finished bytes, kept for a retry.
    /// (Boxed: a batch without idempotence, the common case, then costs 8 bytes for it.)
    pub stamp: Option<Box<super::batch::Stamp>>,
}

impl InFlightBatch {
    /// Where the bytes of the batch's encoded records are: its finished bytes (the stamp's
    /// with idempotence), or the builder before it is finished.
    fn source(&self) -> super::batch::Source<'_> {
        super::batch::Source::of(self.stamp.as_deref(), self.enc.as_ref(), &self.wire)
    }

    /// The batch's records as records on their own again
    /// ([`take_records`](super::batch::take_records)), for a failure or a retry; its bytes go
    /// back to the pool (kept if nothing else holds them).
    pub(crate) fn into_records(
        mut self,
        topic: &crate::message::TopicName,
        pool: &mut super::recycle::Recycler,
    ) -> Vec<super::accept::AcceptedRecord> {
        let slots = std::mem::take(&mut self.records);
        let number = self.partition.number();
        let out = super::batch::take_records(slots, self.source(), topic, number, pool);
        pool.put_wire(std::mem::take(&mut self.wire));
        if let Some(st) = self.stamp.take() {
            pool.put_wire(st.wire);
        }
        if let Some(enc) = self.enc.take() {
            pool.put_buffer(enc.into_buffer());
        }
        out
    }
}

/// What a request was, so its response can be decoded and applied.
#[derive(Debug)]
pub(crate) enum RequestKind {
    ApiVersions {
        version: i16,
    },
    Metadata {
        version: i16,
    },
    Produce {
        version: i16,
        batches: Vec<InFlightBatch>,
    },
    InitProducerId {
        version: i16,
    },
    SaslHandshake {
        version: i16,
    },
    SaslAuthenticate {
        version: i16,
    },
    /// A request of the transaction stage ([`super::txn`]).
    Txn {
        api: super::txn::TxnApi,
        version: i16,
    },
}

/// A request awaiting its response.
#[derive(Debug)]
pub(crate) struct OutstandingRequest {
    pub deadline: Instant,
    pub kind: RequestKind,
    /// An `acks=0` Produce request, which no answer ends: it completes once the driver has
    /// written the connection's bytes up to this count ([`Conn::written`]).
    pub written_at: Option<u64>,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub target: Target,
    pub phase: ConnPhase,
    pub decoder: FrameDecoder,
    /// The requests sent on it that await their response, by correlation id.
    pub outstanding: BTreeMap<i32, OutstandingRequest>,
    /// KIP-368: when the SASL session should be renewed (85–95 % of its lifetime).
    pub reauth_at: Option<Instant>,
    /// Re-authentication is due: no new requests go out until the ones in flight are
    /// answered and the connection has authenticated again.
    pub draining: bool,
    /// Bytes handed to the driver in [`Output::Transmit`]s on this connection, in all.
    pub transmitted: u64,
    /// Bytes the driver reported written (`handle_written`), in all; at most `transmitted`.
    pub written: u64,
}

impl Conn {
    pub(crate) fn produce_in_flight(&self) -> usize {
        self.outstanding
            .values()
            .filter(|r| matches!(r.kind, RequestKind::Produce { .. }))
            .count()
    }

    /// The agreed versions, when the connection takes new requests (ready, authenticated and
    /// not draining for a re-authentication).
    pub(crate) fn versions(&self) -> Option<&Versions> {
        match &self.phase {
            ConnPhase::Ready(v) if !self.draining => Some(v),
            _ => None,
        }
    }
}

/// Capped exponential reconnect backoff for one target.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Backoff {
    pub failures: u32,
    pub not_before: Option<Instant>,
}

impl Backoff {
    /// A connection to the target ended at `now`: no new one before `base` (`retry.backoff.ms`,
    /// at least 1 ms) doubled per failure in a row, at most 64 times `base` and at most 10 s
    /// (or `base`, when that is longer).
    pub(crate) fn failed(&mut self, now: Instant, base: Duration) {
        self.failures = self.failures.saturating_add(1);
        let base = base.max(Duration::from_millis(1));
        let shift = (self.failures - 1).min(6);
        let delay = (base * (1u32 << shift)).min(base.max(Duration::from_secs(10)));
        self.not_before = Some(now + delay);
    }
}

/// All connections.
#[derive(Debug)]
pub(crate) struct Connections {
    pub conns: BTreeMap<ConnId, Conn>,
    pub by_target: BTreeMap<Target, ConnId>,
    pub backoff: BTreeMap<Target, Backoff>,
    next_id: u64,
    next_correlation_id: i32,
    /// Rotation point for choosing where to fetch metadata from.
    pub rotation: usize,
    /// The request header, reused (client id written once, not cloned per request).
    pub header: RequestHeader,
    /// The last connection failure the adapter reported with
    /// [`handle_connection_error`](super::ProducerCore::handle_connection_error), until a connection
    /// opens, or the last malformed answer, until an answer decodes: records expiring
    /// meanwhile fail with it ([`ProduceError::Connection`]).
    ///
    /// [`ProduceError::Connection`]: crate::ProduceError::Connection
    pub error: Option<crate::error::ConnectionError>,
}

impl Connections {
    pub(crate) fn may_connect(&self, target: Target, now: Instant) -> bool {
        !self.by_target.contains_key(&target)
            && self
                .backoff
                .get(&target)
                .and_then(|b| b.not_before)
                .is_none_or(|t| now >= t)
    }

    pub(crate) fn next_correlation(&mut self) -> i32 {
        let c = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(0);
        c
    }

    /// A ready connection for which `pick` finds what a request needs in its agreed
    /// versions (the version to send, say), and that; brokers are preferred over bootstrap
    /// addresses, and otherwise the lowest connection id.
    pub(crate) fn ready_for<T>(
        &self,
        pick: impl Fn(&Versions) -> Option<T>,
    ) -> Option<(ConnId, T)> {
        let mut best = None;
        for (id, c) in &self.conns {
            if let Some(found) = c.versions().and_then(&pick) {
                match c.target {
                    Target::Node(_) => return Some((*id, found)),
                    Target::Bootstrap(_) => best = best.or(Some((*id, found))),
                }
            }
        }
        best
    }

    /// A ready connection to send Metadata on, and the version to send.
    pub(crate) fn ready_for_metadata(&self) -> Option<(ConnId, i16)> {
        self.ready_for(|v| Some(v.metadata))
    }

    /// Opens a connection to `target` (the driver is asked to connect it): connecting until
    /// `deadline`, refusing frames above `max_frame` bytes.
    pub(crate) fn open(&mut self, target: Target, deadline: Instant, max_frame: usize) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        self.conns.insert(
            id,
            Conn {
                target,
                phase: ConnPhase::Connecting { deadline },
                decoder: FrameDecoder::new(max_frame),
                outstanding: BTreeMap::new(),
                reauth_at: None,
                draining: false,
                transmitted: 0,
                written: 0,
            },
        );
        self.by_target.insert(target, id);
        id
    }

    /// Forgets connection `conn` and returns it.
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<Conn> {
        let c = self.conns.remove(&conn)?;
        if self.by_target.get(&c.target) == Some(&conn) {
            self.by_target.remove(&c.target);
        }
        Some(c)
    }

    /// The connections whose connect or request deadline passed at `now`.
    pub(crate) fn expired(&self, now: Instant) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.phase, ConnPhase::Connecting { deadline } if now >= deadline)
                    || c.outstanding.values().any(|r| now >= r.deadline)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The earliest connect or request deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.conns
            .values()
            .flat_map(|c| {
                let connect = match c.phase {
                    ConnPhase::Connecting { deadline } => Some(deadline),
                    _ => None,
                };
                connect
                    .into_iter()
                    .chain(c.outstanding.values().map(|r| r.deadline))
            })
            .min()
    }

    /// The earliest re-authentication due on a connection still taking requests.
    pub(crate) fn reauth_deadline(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter(|c| !c.draining)
            .filter_map(|c| c.reauth_at)
            .min()
    }

    /// Whether some connection is still being opened or negotiated.
    pub(crate) fn any_opening(&self) -> bool {
        self.conns.values().any(|c| c.versions().is_none())
    }
}

/// The highest versions both sides speak, per [`MessageFormat`].
pub(crate) fn negotiate_versions(
    resp: &ApiVersionsResponse,
    format: MessageFormat,
) -> Option<Versions> {
    let range = |key: i16| {
        resp.api_keys
            .iter()
            .find(|r| r.api_key == key)
            .map(|r| (r.min_version, r.max_version))
    };
    let ours_md = (MetadataRequest::MIN_VERSION, MetadataRequest::MAX_VERSION);
    let metadata = protocol::negotiate(ours_md, range(api_key::METADATA)?)?;
    let produce = match range(api_key::PRODUCE) {
        None => Err("the broker does not support Produce"),
        Some(advertised) => {
            let theirs = super::produce_floor::usable_produce_range(resp, advertised);
            let ours = match format {
                MessageFormat::Auto => (ProduceRequest::MIN_VERSION, ProduceRequest::MAX_VERSION),
                MessageFormat::MessageSetV0 => (0, 1),
                MessageFormat::MessageSetV1 => (2, 2),
            };
            match protocol::negotiate(ours, theirs) {
                None if protocol::negotiate(ours, advertised).is_some() => {
                    Err(super::produce_floor::REJECTED)
                }
                None => Err("no Produce version for the configured message format"),
                Some(v) if v >= 3 => Ok((v, RecordFormat::V2)),
                Some(2) => Ok((2, RecordFormat::V1)),
                Some(v) => Ok((v, RecordFormat::V0)),
            }
        }
    };
    let init_producer_id = range(api_key::INIT_PRODUCER_ID).and_then(|theirs| {
        protocol::negotiate(
            (
                InitProducerIdRequest::MIN_VERSION,
                InitProducerIdRequest::MAX_VERSION,
            ),
            theirs,
        )
    });
    let sasl = range(api_key::SASL_HANDSHAKE)
        .and_then(|theirs| protocol::negotiate((1, 1), theirs))
        .zip(range(api_key::SASL_AUTHENTICATE).and_then(|theirs| {
            protocol::negotiate(
                (
                    SaslAuthenticateRequest::MIN_VERSION,
                    SaslAuthenticateRequest::MAX_VERSION,
                ),
                theirs,
            )
        }));
    Some(Versions {
        metadata,
        produce,
        init_producer_id,
        sasl,
        txn: super::txn::TxnVersions::negotiate(resp),
    })
}

/// The address of bootstrap server `i` of `config`.
pub(crate) fn bootstrap_address(config: &Config, i: usize) -> Option<BrokerAddress> {
    let s = config.bootstrap_servers.get(i)?;
    let (host, port) = parse_host_port(s).ok()?;
    Some(BrokerAddress { host, port })
}

/// What a stage needs besides its own state to send a request or tell the driver something:
/// a short-lived bundle of split borrows of [`ProducerCore`]'s fields.
pub(crate) struct Io<'a> {
    /// Where outputs, counters and events go.
    pub out: &'a mut Outbox,
    /// The wake-up, lowered to each new request's deadline.
    pub clock: &'a mut Clock,
    /// The configuration in force.
    pub config: &'a Config,
}

/// What an ApiVersions answer leads to.
pub(crate) enum Negotiation {
    /// Nothing more now (ApiVersions v0 was sent again).
    Pending,
    /// The answer does not decode (`detail`): the connection is malformed.
    Malformed(String),
    /// The broker refused, or we share no usable versions: the connection ends.
    Refused,
    /// Agreed: the connection goes on to SASL or is ready.
    Agreed(Versions),
}

/// What the frames received on a connection hold next.
pub(crate) enum Received {
    /// Nothing complete yet (or the connection is gone).
    Nothing,
    /// Bytes that are not a valid answer (`detail` says how).
    Malformed(String),
    /// An answer to `rref`, awaited as `kind`.
    Answer(RequestRef, RequestKind, bytes::Bytes),
}

impl Connections {
    /// The connections, with the request header our client id is written from.
    pub(crate) fn new(client_id: String) -> Self {
        Connections {
            conns: BTreeMap::new(),
            by_target: BTreeMap::new(),
            backoff: BTreeMap::new(),
            next_id: 0,
            next_correlation_id: 0,
            rotation: 0,
            header: RequestHeader {
                api_key: 0,
                api_version: 0,
                correlation_id: 0,
                client_id: Some(client_id),
            },
            error: None,
        }
    }

    /// Asks the driver for a connection to `target` (its address from `brokers` or the
    /// bootstrap list). Returns its id, or `None` when the target has no address.
    pub(crate) fn connect(
        &mut self,
        target: Target,
        brokers: &BTreeMap<i32, BrokerAddress>,
        io: &mut Io<'_>,
        now: Instant,
    ) -> Option<ConnId> {
        let address = match target {
            Target::Bootstrap(i) => bootstrap_address(io.config, i)?,
            Target::Node(n) => brokers.get(&n)?.clone(),
        };
        let deadline = now + io.config.request_timeout;
        let id = self.open(target, deadline, io.config.max_response_size);
        io.clock
            .lower_wake(deadline, crate::output::TimeoutReason::RequestTimeout);
        io.out.push(Output::Connect { conn: id, address });
        Some(id)
    }

    /// Encodes and transmits a request on `conn`, awaiting its response as `kind` (none for
    /// `None`). Returns its reference.
    pub(crate) fn transmit<R: Request>(
        &mut self,
        conn: ConnId,
        version: i16,
        body: &R,
        kind: Option<RequestKind>,
        io: &mut Io<'_>,
        now: Instant,
    ) -> Option<RequestRef> {
        let correlation_id = self.next_correlation();
        self.header.api_key = R::API_KEY;
        self.header.api_version = version;
        self.header.correlation_id = correlation_id;
        let mut buf = BytesMut::new();
        protocol::encode_request(&self.header, body, &mut buf);
        self.transmit_chunks(conn, correlation_id, vec![buf.freeze()], kind, io, now)
    }

    /// Transmits an already encoded request (`data`, correlation id `correlation_id`) on
    /// `conn`, awaiting its response as `kind` unless that is `None` (acks=0 Produce).
    pub(crate) fn transmit_chunks(
        &mut self,
        conn: ConnId,
        correlation_id: i32,
        data: Vec<bytes::Bytes>,
        kind: Option<RequestKind>,
        io: &mut Io<'_>,
        now: Instant,
    ) -> Option<RequestRef> {
        let c = self.conns.get_mut(&conn)?;
        let len: usize = data.iter().map(|d| d.len()).sum();
        c.transmitted += len as u64;
        if let Some(kind) = kind {
            let deadline = now + io.config.request_timeout;
            c.outstanding.insert(
                correlation_id,
                OutstandingRequest {
                    deadline,
                    kind,
                    written_at: None,
                },
            );
            io.clock
                .lower_wake(deadline, crate::output::TimeoutReason::RequestTimeout);
        }
        io.out.push(Output::Transmit { conn, data });
        Some(RequestRef {
            conn,
            correlation_id,
        })
    }

    /// Sends ApiVersions in `version` (3 first; 0 when the broker does not speak 3).
    pub(crate) fn send_api_versions(
        &mut self,
        conn: ConnId,
        version: i16,
        io: &mut Io<'_>,
        now: Instant,
    ) {
        let body = ApiVersionsRequest {
            client_software_name: "odradek".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = ConnPhase::Negotiating;
        }
        let kind = RequestKind::ApiVersions { version };
        self.transmit(conn, version, &body, Some(kind), io, now);
    }

    /// The ApiVersions answer: fall back to v0 on UNSUPPORTED_VERSION, else agree versions.
    pub(crate) fn on_api_versions(
        &mut self,
        conn: ConnId,
        version: i16,
        frame: &[u8],
        io: &mut Io<'_>,
        now: Instant,
    ) -> Negotiation {
        let decoded = protocol::decode_response::<ApiVersionsRequest>(version, frame)
            .map(|(_, b)| b)
            .or_else(|e| {
                // A broker that does not speak our version answers in v0.
                if version > 0 {
                    protocol::decode_response::<ApiVersionsRequest>(0, frame).map(|(_, b)| b)
                } else {
                    Err(e)
                }
            });
        let resp = match decoded {
            Ok(r) => r,
            Err(e) => {
                return Negotiation::Malformed(format!(
                    "ApiVersions v{version} answer does not decode: {e}"
                ))
            }
        };
        let code = ErrorCode(resp.error_code);
        if code == ErrorCode::UNSUPPORTED_VERSION && version > 0 {
            self.send_api_versions(conn, 0, io, now);
            return Negotiation::Pending;
        }
        if !code.is_ok() {
            return Negotiation::Refused;
        }
        match negotiate_versions(&resp, io.config.message_format) {
            Some(versions) => Negotiation::Agreed(versions),
            None => Negotiation::Refused,
        }
    }

    /// `conn` negotiated (and authenticated, with SASL): it takes requests now. Its target's
    /// reconnect backoff stays until an answer to a real request decodes
    /// ([`proved`](Self::proved)): a broker that negotiates and then answers garbage would
    /// otherwise be reconnected to without backoff, over and over.
    pub(crate) fn ready(
        &mut self,
        conn: ConnId,
        versions: Versions,
        brokers: &BTreeMap<i32, BrokerAddress>,
        io: &mut Io<'_>,
    ) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = ConnPhase::Ready(versions);
            c.draining = false;
            let target = c.target;
            let config = io.config;
            io.out.count_connected(conn, || match target {
                Target::Node(n) => (Some(n), brokers.get(&n).cloned()),
                Target::Bootstrap(i) => (None, bootstrap_address(config, i)),
            });
        }
    }

    /// An answer to a Metadata, Produce or InitProducerId request on `conn` decoded (or,
    /// with acks=0, a Produce request was written): the connection works, and its target's
    /// reconnect backoff starts over.
    pub(crate) fn proved(&mut self, conn: ConnId) {
        if let Some(target) = self.conns.get(&conn).map(|c| c.target) {
            self.backoff.remove(&target);
            self.error = None;
        }
    }

    /// Feeds bytes received on `conn` to its frame decoder.
    pub(crate) fn push_received(&mut self, conn: ConnId, data: &[u8]) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.decoder.push(data);
        }
    }

    /// The next answer framed on `conn`, taken from the requests awaiting one.
    pub(crate) fn next_answer(
        &mut self,
        conn: ConnId,
        out: &mut Outbox,
        config: &Config,
        now: Instant,
    ) -> Received {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Received::Nothing;
        };
        let frame = match c.decoder.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return Received::Nothing,
            Err(e) => return Received::Malformed(format!("bad frame: {e}")),
        };
        let Ok(correlation_id) = protocol::peek_correlation_id(&frame) else {
            let detail = format!("a frame of {} bytes, too short for a header", frame.len());
            return Received::Malformed(detail);
        };
        let awaited = c
            .outstanding
            .get(&correlation_id)
            .map(|r| r.written_at.is_none());
        if awaited != Some(true) {
            // Nothing awaits it, or it answers an acks=0 request (which a broker never
            // answers): any such request stays, and goes down the retry path with the
            // connection.
            let detail = if awaited.is_some() {
                format!("an answer to the acks=0 request {correlation_id}")
            } else {
                format!("an answer to correlation id {correlation_id}, which no request awaits")
            };
            return Received::Malformed(detail);
        }
        let Some(req) = c.outstanding.remove(&correlation_id) else {
            return Received::Nothing;
        };
        if matches!(req.kind, RequestKind::Produce { .. }) {
            let left = req.deadline.saturating_duration_since(now);
            let node = match c.target {
                Target::Node(n) => Some(n),
                Target::Bootstrap(_) => None,
            };
            let latency = config.request_timeout.saturating_sub(left);
            out.count_response(node, latency);
        }
        let rref = RequestRef {
            conn,
            correlation_id,
        };
        Received::Answer(rref, req.kind, frame)
    }

    /// Ends connection `conn`: forgets it, tells the driver as `report` says, and backs off
    /// reconnecting. Returns it, with the requests it still owed answers to.
    pub(crate) fn end(
        &mut self,
        conn: ConnId,
        cause: &RetryCause,
        report: Report,
        io: &mut Io<'_>,
        now: Instant,
    ) -> Option<Conn> {
        let c = self.remove(conn)?;
        io.out.count_disconnected(conn, c.target, cause);
        if report == Report::Emit {
            io.out.push(Output::Disconnect { conn });
        }
        let backoff = self.backoff.entry(c.target).or_default();
        backoff.failed(now, io.config.retry_backoff);
        Some(c)
    }

    /// The driver wrote `bytes` more of `conn`'s transmitted bytes.
    pub(crate) fn add_written(&mut self, conn: ConnId, bytes: usize) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        c.written = c.written.saturating_add(bytes as u64).min(c.transmitted);
        true
    }

    /// An `acks=0` request on `conn` whose bytes are now all written, taken from the
    /// outstanding ones: it is done (and proves the connection works).
    pub(crate) fn next_written(&mut self, conn: ConnId) -> Option<(RequestRef, RequestKind)> {
        let c = self.conns.get_mut(&conn)?;
        let written = c.written;
        let correlation_id = c
            .outstanding
            .iter()
            .find(|(_, r)| r.written_at.is_some_and(|at| at <= written))
            .map(|(&id, _)| id)?;
        let req = c.outstanding.remove(&correlation_id)?;
        // With acks=0 a written request is all the proof a connection gives that it
        // works (no answer comes): its reconnect backoff starts over.
        self.proved(conn);
        let rref = RequestRef {
            conn,
            correlation_id,
        };
        Some((rref, req.kind))
    }

    /// Names the broker at the other end of `conn` for errors: `broker 2 (host:port)`, or
    /// the bootstrap address.
    pub(crate) fn label(
        &self,
        conn: ConnId,
        brokers: &BTreeMap<i32, BrokerAddress>,
        config: &Config,
    ) -> String {
        match self.conns.get(&conn).map(|c| c.target) {
            Some(Target::Node(id)) => match brokers.get(&id) {
                Some(addr) => format!("broker {id} ({addr})"),
                None => format!("broker {id}"),
            },
            Some(Target::Bootstrap(i)) => match bootstrap_address(config, i) {
                Some(addr) => format!("bootstrap server {addr}"),
                None => format!("bootstrap server {i}"),
            },
            None => format!("connection {}", conn.0),
        }
    }
}

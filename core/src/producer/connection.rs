//! Connections: [`ConnId`] allocation, one [`FrameDecoder`] per connection (frames above
//! `max_response_size` are refused from their size prefix), the map of requests awaiting a
//! response by correlation id, ApiVersions negotiation, SASL authentication before any other
//! request when configured ([`super::sasl`]), reconnect backoff, and what happens to a
//! connection's requests when it ends.

use super::accept::AcceptedRecord;
use super::ProducerCore;
use crate::config::{parse_host_port, Config, MessageFormat};
use crate::error::RetryCause;
use crate::output::{BrokerAddress, ConnId, Output};
use crate::protocol::{
    self, api_key, ApiVersionsRequest, ApiVersionsResponse, ErrorCode, FrameDecoder,
    InitProducerIdRequest, MetadataRequest, ProduceRequest, Request, SaslAuthenticateRequest,
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
    pub records: Vec<AcceptedRecord>,
    /// The batch as encoded at `send`, if it was (taken when the request is built).
    pub enc: Option<crate::record::BatchBuilder>,
    /// The finished batch bytes, between encoding and writing the request (then empty).
    pub wire: bytes::Bytes,
    /// Idempotence: the batch's sequence and finished bytes, kept for a retry.
    pub stamp: Option<super::batch::Stamp>,
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
#[derive(Debug, Default)]
pub(crate) struct Connections {
    pub conns: BTreeMap<ConnId, Conn>,
    pub by_target: BTreeMap<Target, ConnId>,
    pub backoff: BTreeMap<Target, Backoff>,
    next_id: u64,
    next_correlation_id: i32,
    /// Rotation point for choosing where to fetch metadata from.
    pub rotation: usize,
}

impl Connections {
    pub(crate) fn may_connect(&self, target: Target, now: Instant) -> bool {
        !self.by_target.contains_key(&target)
            && self
                .backoff
                .get(&target)
                .and_then(|b| b.not_before)
                .map_or(true, |t| now >= t)
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
        Some(theirs) => {
            let ours = match format {
                MessageFormat::Auto => (ProduceRequest::MIN_VERSION, ProduceRequest::MAX_VERSION),
                MessageFormat::MessageSetV0 => (0, 1),
                MessageFormat::MessageSetV1 => (2, 2),
            };
            match protocol::negotiate(ours, theirs) {
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
    })
}

/// The address of bootstrap server `i` of `config`.
pub(crate) fn bootstrap_address(config: &Config, i: usize) -> Option<BrokerAddress> {
    let s = config.bootstrap_servers.get(i)?;
    let (host, port) = parse_host_port(s).ok()?;
    Some(BrokerAddress { host, port })
}

impl ProducerCore {
    /// Asks the driver for a connection to `target`. Returns its id, or `None` when the target
    /// has no address.
    pub(super) fn open_conn(&mut self, target: Target, now: Instant) -> Option<ConnId> {
        let address = match target {
            Target::Bootstrap(i) => bootstrap_address(&self.config, i)?,
            Target::Node(n) => self.metadata.brokers.get(&n)?.clone(),
        };
        let deadline = now + self.config.request_timeout;
        let id = self
            .conns
            .open(target, deadline, self.config.max_response_size);
        self.lower_wake(deadline, crate::output::TimeoutReason::RequestTimeout);
        self.outbox.push(Output::Connect { conn: id, address });
        Some(id)
    }

    /// Encodes and transmits a request on `conn`, awaiting its response as `kind` (none for
    /// `None`). Returns its reference.
    pub(super) fn transmit<R: Request>(
        &mut self,
        conn: ConnId,
        version: i16,
        body: &R,
        kind: Option<RequestKind>,
        now: Instant,
    ) -> Option<RequestRef> {
        let correlation_id = self.conns.next_correlation();
        self.header.api_key = R::API_KEY;
        self.header.api_version = version;
        self.header.correlation_id = correlation_id;
        let mut buf = BytesMut::new();
        protocol::encode_request(&self.header, body, &mut buf);
        self.transmit_chunks(conn, correlation_id, vec![buf.freeze()], kind, now)
    }

    /// Transmits an already encoded request (`data`, correlation id `correlation_id`) on
    /// `conn`, awaiting its response as `kind` unless that is `None` (acks=0 Produce).
    pub(super) fn transmit_chunks(
        &mut self,
        conn: ConnId,
        correlation_id: i32,
        data: Vec<bytes::Bytes>,
        kind: Option<RequestKind>,
        now: Instant,
    ) -> Option<RequestRef> {
        let c = self.conns.conns.get_mut(&conn)?;
        let len: usize = data.iter().map(|d| d.len()).sum();
        c.transmitted += len as u64;
        if let Some(kind) = kind {
            let deadline = now + self.config.request_timeout;
            c.outstanding.insert(
                correlation_id,
                OutstandingRequest {
                    deadline,
                    kind,
                    written_at: None,
                },
            );
            self.lower_wake(deadline, crate::output::TimeoutReason::RequestTimeout);
        }
        self.outbox.push(Output::Transmit { conn, data });
        Some(RequestRef {
            conn,
            correlation_id,
        })
    }

    /// Sends ApiVersions in `version` (3 first; 0 when the broker does not speak 3).
    pub(super) fn send_api_versions(&mut self, conn: ConnId, version: i16, now: Instant) {
        let body = ApiVersionsRequest {
            client_software_name: "odradek".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        if let Some(c) = self.conns.conns.get_mut(&conn) {
            c.phase = ConnPhase::Negotiating;
        }
        let kind = RequestKind::ApiVersions { version };
        self.transmit(conn, version, &body, Some(kind), now);
    }

    /// The ApiVersions answer: fall back to v0 on UNSUPPORTED_VERSION, else agree versions.
    pub(super) fn on_api_versions(
        &mut self,
        conn: ConnId,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
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
                let detail = format!("ApiVersions v{version} answer does not decode: {e}");
                return self.malformed(conn, detail, now);
            }
        };
        let code = ErrorCode(resp.error_code);
        if code == ErrorCode::UNSUPPORTED_VERSION && version > 0 {
            return self.send_api_versions(conn, 0, now);
        }
        if !code.is_ok() {
            return self.drop_conn(conn, RetryCause::ConnectionLost, Report::Emit, now);
        }
        let Some(versions) = negotiate_versions(&resp, self.config.message_format) else {
            return self.drop_conn(conn, RetryCause::ConnectionLost, Report::Emit, now);
        };
        if let (Target::Node(_), Ok((_, format))) = (
            self.conns
                .conns
                .get(&conn)
                .map(|c| c.target)
                .unwrap_or(Target::Bootstrap(0)),
            &versions.produce,
        ) {
            // Records are encoded at `send` in the format brokers last agreed to.
            self.limits.format = Some(*format);
        }
        self.decide_idempotence(&versions);
        if self.config.sasl.is_some() {
            // Authenticate before anything else goes out; the backoff is cleared only once
            // that succeeded, so a refused login is not retried in a hot loop.
            return self.begin_auth(conn, versions, now);
        }
        self.conn_ready(conn, versions);
    }

    /// `conn` negotiated (and authenticated, with SASL): it takes requests now. Its target's
    /// reconnect backoff stays until an answer to a real request decodes
    /// ([`conn_proved`](Self::conn_proved)): a broker that negotiates and then answers
    /// garbage would otherwise be reconnected to without backoff, over and over.
    pub(super) fn conn_ready(&mut self, conn: ConnId, versions: Versions) {
        if let Some(c) = self.conns.conns.get_mut(&conn) {
            c.phase = ConnPhase::Ready(versions);
            c.draining = false;
            let target = c.target;
            let (config, brokers) = (&self.config, &self.metadata.brokers);
            self.outbox.count_connected(conn, || match target {
                Target::Node(n) => (Some(n), brokers.get(&n).cloned()),
                Target::Bootstrap(i) => (None, bootstrap_address(config, i)),
            });
        }
    }

    /// An answer to a Metadata, Produce or InitProducerId request on `conn` decoded (or,
    /// with acks=0, a Produce request was written): the connection works, and its target's
    /// reconnect backoff starts over.
    pub(super) fn conn_proved(&mut self, conn: ConnId) {
        if let Some(target) = self.conns.conns.get(&conn).map(|c| c.target) {
            self.conns.backoff.remove(&target);
            self.conn_error = None;
        }
    }

    /// Frames the bytes received on `conn` and hands each answer to its request's handler.
    pub(super) fn receive(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let Some(c) = self.conns.conns.get_mut(&conn) else {
            return;
        };
        c.decoder.push(data);
        loop {
            let Some(c) = self.conns.conns.get_mut(&conn) else {
                return;
            };
            let frame = match c.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => return self.malformed(conn, format!("bad frame: {e}"), now),
            };
            let Ok(correlation_id) = protocol::peek_correlation_id(&frame) else {
                let detail = format!("a frame of {} bytes, too short for a header", frame.len());
                return self.malformed(conn, detail, now);
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
                return self.malformed(conn, detail, now);
            }
            let Some(req) = c.outstanding.remove(&correlation_id) else {
                return;
            };
            if matches!(req.kind, RequestKind::Produce { .. }) {
                let left = req.deadline.saturating_duration_since(now);
                let node = match c.target {
                    Target::Node(n) => Some(n),
                    Target::Bootstrap(_) => None,
                };
                let latency = self.config.request_timeout.saturating_sub(left);
                self.outbox.count_response(node, latency);
            }
            let rref = RequestRef {
                conn,
                correlation_id,
            };
            match req.kind {
                RequestKind::ApiVersions { version } => {
                    self.on_api_versions(conn, version, &frame, now)
                }
                RequestKind::Metadata { version } => self.on_metadata(rref, version, &frame, now),
                RequestKind::Produce { version, batches } => {
                    self.on_produce_response(rref, version, batches, &frame, now)
                }
                RequestKind::InitProducerId { version } => {
                    self.on_init_producer_id(rref, version, &frame, now)
                }
                RequestKind::SaslHandshake { version } => {
                    self.on_sasl_handshake(conn, version, &frame, now)
                }
                RequestKind::SaslAuthenticate { version } => {
                    self.on_sasl_authenticate(conn, version, &frame, now)
                }
            }
        }
    }

    /// Ends a connection: forgets it, tells the driver as `report` says, backs off
    /// reconnecting, and sends its outstanding requests down the retry path.
    pub(super) fn drop_conn(
        &mut self,
        conn: ConnId,
        cause: RetryCause,
        report: Report,
        now: Instant,
    ) {
        let Some(c) = self.conns.remove(conn) else {
            return;
        };
        self.outbox.count_disconnected(conn, c.target, &cause);
        if report == Report::Emit {
            self.outbox.push(Output::Disconnect { conn });
        }
        let backoff = self.conns.backoff.entry(c.target).or_default();
        backoff.failed(now, self.config.retry_backoff);
        for (correlation_id, req) in c.outstanding {
            let rref = RequestRef {
                conn,
                correlation_id,
            };
            match req.kind {
                RequestKind::ApiVersions { .. }
                | RequestKind::SaslHandshake { .. }
                | RequestKind::SaslAuthenticate { .. } => {}
                RequestKind::Metadata { .. } => self.metadata_failed(rref, now),
                RequestKind::InitProducerId { .. } => self.init_producer_id_failed(rref, now),
                RequestKind::Produce { batches, .. } => {
                    for b in batches {
                        self.batch_failed(b, rref, cause.clone(), now);
                    }
                }
            }
        }
        // Leaders may have moved: refresh after the metadata backoff as it stands (the
        // retry backoff, or longer while metadata keeps failing), so a connection that keeps
        // failing does not pull refreshes in every `retry.backoff.ms`.
        if !self.is_idle_closing() {
            let backoff = self.retry_backoff_for(self.metadata.failures.max(1));
            self.metadata.request_after_backoff(now, backoff);
        }
    }

    /// The driver wrote `bytes` more of `conn`'s transmitted bytes: `acks=0` Produce requests
    /// now wholly written are done, and their records delivered. Whether any was.
    pub(super) fn written(&mut self, conn: ConnId, bytes: usize) -> bool {
        let Some(c) = self.conns.conns.get_mut(&conn) else {
            return false;
        };
        c.written = c.written.saturating_add(bytes as u64).min(c.transmitted);
        let mut any = false;
        loop {
            let Some(c) = self.conns.conns.get_mut(&conn) else {
                return any;
            };
            let written = c.written;
            let Some(correlation_id) = c
                .outstanding
                .iter()
                .find(|(_, r)| r.written_at.is_some_and(|at| at <= written))
                .map(|(&id, _)| id)
            else {
                return any;
            };
            let Some(req) = c.outstanding.remove(&correlation_id) else {
                return any;
            };
            any = true;
            // With acks=0 a written request is all the proof a connection gives that it
            // works (no answer comes): its reconnect backoff starts over.
            self.conn_proved(conn);
            if let RequestKind::Produce { mut batches, .. } = req.kind {
                let rref = RequestRef {
                    conn,
                    correlation_id,
                };
                for mut b in batches.drain(..) {
                    // Written: the driver holds no chunk of it any more.
                    self.recycler.put_wire(std::mem::take(&mut b.wire));
                    let n = b.records.len();
                    self.partition_mut(b.partition).batch_acked(rref, None, n);
                    let name = &self.topics[b.partition.topic].name;
                    self.outbox.count_acked(b.partition, name, n, -1);
                    self.deliver_batch(b.records, b.partition, -1, -1);
                }
                self.recycler.put_batch_list(batches);
            }
        }
    }

    /// Names the broker at the other end of `conn` for errors: `broker 2 (host:port)`, or
    /// the bootstrap address.
    pub(super) fn broker_label(&self, conn: ConnId) -> String {
        match self.conns.conns.get(&conn).map(|c| c.target) {
            Some(Target::Node(id)) => match self.metadata.brokers.get(&id) {
                Some(addr) => format!("broker {id} ({addr})"),
                None => format!("broker {id}"),
            },
            Some(Target::Bootstrap(i)) => match bootstrap_address(&self.config, i) {
                Some(addr) => format!("bootstrap server {addr}"),
                None => format!("bootstrap server {i}"),
            },
            None => format!("connection {}", conn.0),
        }
    }

    /// The retry cause for a malformed answer on `conn`: which broker, and what was wrong.
    pub(super) fn malformed_cause(&self, conn: ConnId, detail: String) -> RetryCause {
        RetryCause::MalformedResponse {
            broker: self.broker_label(conn),
            detail,
        }
    }

    /// `conn` carried bytes that are not a valid answer (`detail` says how): it is dropped,
    /// its requests retried, and the cause kept for records that expire before a
    /// connection works again.
    pub(super) fn malformed(&mut self, conn: ConnId, detail: String, now: Instant) {
        let cause = self.malformed_cause(conn, detail);
        self.drop_malformed(conn, cause, now);
    }

    /// [`malformed`](Self::malformed) with its cause built already.
    pub(super) fn drop_malformed(&mut self, conn: ConnId, cause: RetryCause, now: Instant) {
        if let RetryCause::MalformedResponse { broker, detail } = &cause {
            self.conn_error = Some(crate::error::ConnectionError {
                broker: broker.clone(),
                kind: crate::error::ConnectionErrorKind::MalformedResponse,
                detail: detail.clone(),
            });
        }
        self.drop_conn(conn, cause, Report::Emit, now);
    }

    /// Connections whose connect or request deadline passed are dropped.
    pub(super) fn expire_conns(&mut self, now: Instant) {
        for id in self.conns.expired(now) {
            self.drop_conn(id, RetryCause::RequestTimeout, Report::Emit, now);
        }
    }
}

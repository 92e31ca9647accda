//! SASL in the core against a scripted broker (virtual time only): PLAIN, SCRAM-SHA-256/512
//! and OAUTHBEARER exchanges before any other request, wrong passwords, a forged SCRAM
//! server signature, hostile and truncated answers, and KIP-368 re-authentication timing.

use bytes::BytesMut;
use odradek_core::protocol::{
    self, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, FrameDecoder,
    InitProducerIdRequest, InitProducerIdResponse, MetadataBroker, MetadataPartition,
    MetadataRequest, MetadataResponse, MetadataTopic, ProducePartitionResponse, ProduceRequest,
    ProduceResponse, ProduceTopicResponse, Reader, Request, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use odradek_core::sasl::{OAuthBearerToken, OAuthBearerTokenProvider, ScramServer};
use odradek_core::{
    Config, ConnId, Instant, Output, ProduceError, ProducerCore, Record, RecordId, SaslConfig,
    SaslMechanism, SecurityProtocol, TimeoutReason,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

const SASL_KEYS: [i16; 3] = [18, 17, 36];

/// What the broker does on one connection's SASL exchange.
#[derive(Default)]
struct BrokerConn {
    decoder: Option<FrameDecoder>,
    /// API keys received, in order.
    keys: Vec<i16>,
    mechanism: Option<String>,
    scram: Option<ScramServer>,
    authenticated: bool,
    /// Client messages in SaslAuthenticate, in order.
    tokens: Vec<Vec<u8>>,
}

struct Broker {
    core: ProducerCore,
    now: Instant,
    enabled: Vec<&'static str>,
    users: HashMap<&'static str, &'static str>,
    lifetime_ms: i64,
    /// Sign SCRAM server-final with the wrong key.
    forge_signature: bool,
    /// Raw frames (without size prefix) to answer the next SaslHandshake / SaslAuthenticate
    /// with, replacing the real answer.
    hostile_handshake: Option<Vec<u8>>,
    hostile_authenticate: Option<Vec<u8>>,
    /// Fail the n-th authentication (1-based) with SASL_AUTHENTICATION_FAILED.
    refuse_auth_number: Option<usize>,
    auths_done: usize,
    /// Hold Produce answers instead of sending them.
    hold_produce: bool,
    held: Vec<(ConnId, Vec<u8>)>,
    conns: BTreeMap<ConnId, BrokerConn>,
    closed_conns: Vec<BrokerConn>,
    delivered: BTreeMap<RecordId, i64>,
    failed: BTreeMap<RecordId, (ProduceError, Instant)>,
    connects: Vec<Instant>,
    /// (time, conn) of every SaslHandshake.
    handshakes: Vec<(Instant, ConnId)>,
    /// (time, conn) of every Produce request.
    produces: Vec<(Instant, ConnId)>,
    offset: i64,
}

fn config(mechanism: SaslMechanism, user: &str, password: &str) -> Config {
    let mut c = Config::new(["b1:9092"]);
    c.security_protocol = SecurityProtocol::SaslPlaintext;
    c.sasl = Some(SaslConfig::new(mechanism, user, password));
    c.linger = Duration::ZERO;
    c
}

impl Broker {
    fn new(config: Config) -> Self {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        Broker {
            core: ProducerCore::new(config, 42, now).expect("config"),
            now,
            enabled: vec!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"],
            users: HashMap::from([("alice", "alice-secret")]),
            lifetime_ms: 0,
            forge_signature: false,
            hostile_handshake: None,
            hostile_authenticate: None,
            refuse_auth_number: None,
            auths_done: 0,
            hold_produce: false,
            held: Vec::new(),
            conns: BTreeMap::new(),
            closed_conns: Vec::new(),
            delivered: BTreeMap::new(),
            failed: BTreeMap::new(),
            connects: Vec::new(),
            handshakes: Vec::new(),
            produces: Vec::new(),
            offset: 0,
        }
    }

    fn send(&mut self, value: &str) -> RecordId {
        let id = self
            .core
            .send(Record::new("t").value(value.as_bytes().to_vec()), self.now)
            .expect("accepted");
        self.drain();
        id
    }

    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Connect { conn, .. } => {
                    self.connects.push(self.now);
                    self.conns.insert(
                        conn,
                        BrokerConn {
                            decoder: Some(FrameDecoder::new(1 << 24)),
                            ..Default::default()
                        },
                    );
                    self.core.handle_connected(conn, self.now);
                }
                Output::Transmit { conn, data } => {
                    let bytes: Vec<u8> = data.iter().flat_map(|b| b.iter().copied()).collect();
                    self.on_bytes(conn, &bytes);
                }
                Output::Disconnect { conn } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        self.closed_conns.push(c);
                    }
                }
                Output::Delivered(batch) => {
                    for (id, metadata) in batch.iter() {
                        assert!(self.delivered.insert(id, metadata.offset).is_none());
                    }
                }
                Output::Failed { id, error, .. } => {
                    assert!(self.failed.insert(id, (error, self.now)).is_none());
                }
                Output::Closed | Output::Transaction { .. } => {}
            }
        }
    }

    fn on_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let c = self
            .conns
            .get_mut(&conn)
            .expect("transmit on a known connection");
        let dec = c.decoder.as_mut().expect("decoder");
        dec.push(bytes);
        let mut frames = Vec::new();
        while let Some(f) = dec.next_frame().expect("request framing") {
            frames.push(f);
        }
        for frame in frames {
            if let Some(resp) = self.answer(conn, &frame) {
                if self.conns.contains_key(&conn) {
                    self.core.handle_received(conn, &resp, self.now);
                }
            }
        }
    }

    fn answer(&mut self, conn: ConnId, frame: &[u8]) -> Option<Vec<u8>> {
        let (header, body) = protocol::decode_request_header(frame).expect("request header");
        let (v, corr, key) = (header.api_version, header.correlation_id, header.api_key);
        let c = self.conns.get_mut(&conn).expect("conn");
        c.keys.push(key);
        assert!(
            c.authenticated || SASL_KEYS.contains(&key),
            "api key {key} sent before authentication on {conn:?} (seen {:?})",
            c.keys
        );
        let mut out = BytesMut::new();
        match key {
            18 => {
                let range = |api_key, max_version| ApiVersionRange {
                    api_key,
                    min_version: 0,
                    max_version,
                };
                let resp = ApiVersionsResponse {
                    error_code: 0,
                    api_keys: vec![
                        range(0, 11),
                        range(3, 12),
                        range(17, 1),
                        range(18, 3),
                        range(22, 4),
                        range(36, 2),
                    ],
                    throttle_time_ms: 0,
                    ..ApiVersionsResponse::default()
                };
                protocol::encode_response::<ApiVersionsRequest>(corr, v, &resp, &mut out);
            }
            17 => {
                self.handshakes.push((self.now, conn));
                let req: SaslHandshakeRequest =
                    protocol::decode_request_body(v, body).expect("handshake");
                // A re-authentication starts over.
                c.authenticated = false;
                c.scram = None;
                let ok = self.enabled.contains(&req.mechanism.as_str());
                c.mechanism = Some(req.mechanism);
                if let Some(raw) = self.hostile_handshake.take() {
                    return Some(with_correlation(corr, raw));
                }
                let resp = SaslHandshakeResponse {
                    error_code: if ok { 0 } else { 33 },
                    mechanisms: self.enabled.iter().map(|m| m.to_string()).collect(),
                };
                protocol::encode_response::<SaslHandshakeRequest>(corr, v, &resp, &mut out);
            }
            36 => {
                let req: SaslAuthenticateRequest =
                    protocol::decode_request_body(v, body).expect("authenticate");
                let token = req.auth_bytes.to_vec();
                c.tokens.push(token.clone());
                if let Some(raw) = self.hostile_authenticate.take() {
                    return Some(with_correlation(corr, raw));
                }
                let mechanism = c.mechanism.clone().expect("handshake first");
                let mut resp = SaslAuthenticateResponse {
                    error_code: 0,
                    error_message: None,
                    auth_bytes: Default::default(),
                    session_lifetime_ms: 0,
                };
                let fail = |resp: &mut SaslAuthenticateResponse| {
                    resp.error_code = 58;
                    resp.error_message =
                        Some("Authentication failed: Invalid username or password".into());
                };
                let mut done = false;
                match mechanism.as_str() {
                    "PLAIN" => {
                        let parts: Vec<&[u8]> = token.split(|&b| b == 0).collect();
                        let good = parts.len() == 3
                            && self
                                .users
                                .get(std::str::from_utf8(parts[1]).unwrap_or(""))
                                .is_some_and(|p| p.as_bytes() == parts[2]);
                        if good {
                            done = true;
                        } else {
                            fail(&mut resp);
                        }
                    }
                    "OAUTHBEARER" => {
                        if token.windows(16).any(|w| w == b"auth=Bearer good") {
                            done = true;
                        } else if token == [1] {
                            resp.error_code = 58;
                            resp.error_message = Some("invalid token".into());
                        } else {
                            resp.auth_bytes = br#"{"status":"invalid_token"}"#.to_vec().into();
                        }
                    }
                    m => {
                        let sha512 = m == "SCRAM-SHA-512";
                        match c.scram.take() {
                            None => {
                                let user = std::str::from_utf8(&token)
                                    .ok()
                                    .and_then(|t| t.split(',').find_map(|a| a.strip_prefix("n=")))
                                    .unwrap_or("");
                                let password = self.users.get(user).copied().unwrap_or("?");
                                let (srv, first) = ScramServer::new(
                                    sha512, &token, password, "srvNonce", b"salty", 4096,
                                )
                                .expect("client-first");
                                c.scram = Some(srv);
                                resp.auth_bytes = first.into_bytes().into();
                            }
                            Some(srv) => match srv.finish(&token) {
                                Ok(mut fin) => {
                                    if self.forge_signature {
                                        fin =
                                            "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
                                    }
                                    resp.auth_bytes = fin.into_bytes().into();
                                    done = true;
                                }
                                Err(()) => fail(&mut resp),
                            },
                        }
                    }
                }
                if done {
                    self.auths_done += 1;
                    if self.refuse_auth_number == Some(self.auths_done) {
                        fail(&mut resp);
                        resp.auth_bytes = Default::default();
                    } else {
                        c.authenticated = true;
                        resp.session_lifetime_ms = if v >= 1 { self.lifetime_ms } else { 0 };
                    }
                }
                protocol::encode_response::<SaslAuthenticateRequest>(corr, v, &resp, &mut out);
            }
            3 => {
                let req = MetadataRequest::decode(v, &mut Reader::new(body)).expect("metadata");
                let resp = MetadataResponse {
                    throttle_time_ms: 0,
                    brokers: vec![MetadataBroker {
                        node_id: 1,
                        host: "b1".into(),
                        port: 9092,
                        rack: None,
                    }],
                    cluster_id: Some("fake".into()),
                    controller_id: 1,
                    topics: req
                        .topics
                        .unwrap_or_default()
                        .into_iter()
                        .map(|name| MetadataTopic {
                            error_code: 0,
                            name,
                            is_internal: false,
                            partitions: vec![MetadataPartition {
                                error_code: 0,
                                partition_index: 0,
                                leader_id: 1,
                                leader_epoch: 0,
                                replica_nodes: vec![1],
                                isr_nodes: vec![1],
                                offline_replicas: vec![],
                            }],
                        })
                        .collect(),
                };
                protocol::encode_response::<MetadataRequest>(corr, v, &resp, &mut out);
            }
            22 => {
                let resp = InitProducerIdResponse {
                    throttle_time_ms: 0,
                    error_code: 0,
                    producer_id: 9,
                    producer_epoch: 0,
                };
                protocol::encode_response::<InitProducerIdRequest>(corr, v, &resp, &mut out);
            }
            0 => {
                self.produces.push((self.now, conn));
                let req = ProduceRequest::decode(v, &mut Reader::new(body)).expect("produce");
                let mut topics = Vec::new();
                for td in &req.topics {
                    let mut partitions = Vec::new();
                    for pd in &td.partitions {
                        let n: usize = odradek_core::record::decode_records(&pd.records, 1 << 24)
                            .expect("records")
                            .iter()
                            .map(|b| b.records.len())
                            .sum();
                        partitions.push(ProducePartitionResponse {
                            index: pd.index,
                            error_code: 0,
                            base_offset: self.offset,
                            log_append_time_ms: -1,
                            log_start_offset: 0,
                            error_message: None,
                            ..Default::default()
                        });
                        self.offset += n as i64;
                    }
                    topics.push(ProduceTopicResponse {
                        name: td.name.clone(),
                        partitions,
                    });
                }
                let resp = ProduceResponse {
                    topics,
                    throttle_time_ms: 0,
                    node_endpoints: Vec::new(),
                };
                protocol::encode_response::<ProduceRequest>(corr, v, &resp, &mut out);
                if self.hold_produce {
                    self.held.push((conn, out.to_vec()));
                    return None;
                }
            }
            other => panic!("unexpected api key {other}"),
        }
        Some(out.to_vec())
    }

    fn release_held(&mut self) {
        for (conn, resp) in std::mem::take(&mut self.held) {
            if self.conns.contains_key(&conn) {
                self.core.handle_received(conn, &resp, self.now);
            }
        }
        self.drain();
    }

    /// Jumps to the next deadline (if it is before `limit`) and fires it.
    fn tick_until(&mut self, limit: Instant) -> bool {
        self.drain();
        match self.core.poll_timeout() {
            Some((at, _)) if at <= limit => {
                assert!(at > self.now, "deadline not in the future: busy loop");
                self.now = at;
                self.core.handle_timeout(self.now);
                self.drain();
                true
            }
            _ => false,
        }
    }

    fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.tick_until(limit) {}
        self.now = limit;
        self.core.handle_timeout(self.now);
        self.drain();
    }

    fn all_conns(&self) -> impl Iterator<Item = &BrokerConn> {
        self.conns.values().chain(self.closed_conns.iter())
    }

    fn auth_error(&self, id: RecordId) -> (String, String) {
        match &self.failed.get(&id).expect("failed").0 {
            ProduceError::Authentication { broker, message } => (broker.clone(), message.clone()),
            other => panic!("expected an authentication error, got {other:?}"),
        }
    }
}

/// A raw response frame (without size prefix) with `corr` in front of `body`.
fn with_correlation(corr: i32, body: Vec<u8>) -> Vec<u8> {
    let mut frame = (body.len() as i32 + 4).to_be_bytes().to_vec();
    frame.extend_from_slice(&corr.to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn assert_sasl_first(b: &Broker) {
    let mut n = 0;
    for c in b.all_conns() {
        n += 1;
        assert_eq!(&c.keys[..3], &[18, 17, 36], "{:?}", c.keys);
    }
    assert!(n >= 2, "bootstrap and leader connections");
}

#[test]
fn plain_authenticates_every_connection_before_anything_else() {
    let mut b = Broker::new(config(SaslMechanism::Plain, "alice", "alice-secret"));
    let ids: Vec<RecordId> = (0..5).map(|i| b.send(&format!("v{i}"))).collect();
    b.run_for(Duration::from_secs(1));
    assert_eq!(b.delivered.len(), 5, "failed: {:?}", b.failed);
    for id in ids {
        assert!(b.delivered.contains_key(&id));
    }
    assert_sasl_first(&b);
    for c in b.all_conns() {
        assert_eq!(c.tokens[0], b"\0alice\0alice-secret");
        assert!(c.authenticated);
    }
}

#[test]
fn scram_sha256_and_sha512_authenticate_with_fresh_nonces_and_deliver() {
    for m in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
        let mut b = Broker::new(config(m, "alice", "alice-secret"));
        b.send("x");
        b.send("y");
        b.run_for(Duration::from_secs(1));
        assert_eq!(b.delivered.len(), 2, "{m}: failed {:?}", b.failed);
        assert_sasl_first(&b);
        let firsts: Vec<String> = b
            .all_conns()
            .map(|c| String::from_utf8(c.tokens[0].clone()).unwrap())
            .collect();
        for f in &firsts {
            assert!(f.starts_with("n,,n=alice,r="), "{f}");
        }
        assert_ne!(firsts[0], firsts[1], "each exchange draws its own nonce");
        for c in b.all_conns() {
            assert_eq!(c.tokens.len(), 2, "client-first and client-final");
            assert_eq!(c.mechanism.as_deref(), Some(m.name()));
        }
    }
}

#[test]
fn the_nonce_comes_from_the_seed() {
    let first_token = |seed: u64| {
        let now = Instant::from_unix_millis(0);
        let mut core = ProducerCore::new(config(SaslMechanism::ScramSha256, "u", "p"), seed, now)
            .expect("config");
        let conn = match core.poll_output() {
            Some(Output::Connect { conn, .. }) => conn,
            other => panic!("{other:?}"),
        };
        core.handle_connected(conn, now);
        while core.poll_output().is_some() {}
        // ApiVersions answer, then the handshake answer.
        let mut out = BytesMut::new();
        let resp = ApiVersionsResponse {
            error_code: 0,
            api_keys: [(0, 11), (3, 12), (17, 1), (18, 3), (36, 2)]
                .map(|(k, m)| ApiVersionRange {
                    api_key: k,
                    min_version: 0,
                    max_version: m,
                })
                .to_vec(),
            throttle_time_ms: 0,
            ..ApiVersionsResponse::default()
        };
        protocol::encode_response::<ApiVersionsRequest>(0, 3, &resp, &mut out);
        core.handle_received(conn, &out, now);
        let mut out = BytesMut::new();
        let resp = SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec!["SCRAM-SHA-256".into()],
        };
        while core.poll_output().is_some() {}
        protocol::encode_response::<SaslHandshakeRequest>(1, 1, &resp, &mut out);
        core.handle_received(conn, &out, now);
        match core.poll_output() {
            Some(Output::Transmit { data, .. }) => data
                .iter()
                .flat_map(|b| b.iter().copied())
                .collect::<Vec<u8>>(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(first_token(5), first_token(5), "same seed, same nonce");
    assert_ne!(
        first_token(5),
        first_token(6),
        "another seed, another nonce"
    );
}

#[test]
fn wrong_password_fails_waiting_records_promptly_and_does_not_reconnect_in_a_hot_loop() {
    for m in [SaslMechanism::Plain, SaslMechanism::ScramSha512] {
        let mut b = Broker::new(config(m, "alice", "wrong"));
        let sent_at = b.now;
        let id = b.send("x");
        b.run_for(Duration::from_secs(1));
        let (broker, message) = b.auth_error(id);
        assert_eq!(broker, "b1:9092");
        assert!(message.contains("SASL_AUTHENTICATION_FAILED"), "{message}");
        assert!(
            message.contains("Invalid username or password"),
            "{message}"
        );
        let failed_at = b.failed[&id].1;
        assert!(failed_at - sent_at < b.core.config().request_timeout);
        assert!(b.produces.is_empty(), "nothing produced unauthenticated");
        // Later records fail the same way; reconnects back off.
        let connects_before = b.connects.len();
        let later: Vec<RecordId> = (0..20)
            .map(|i| {
                b.run_for(Duration::from_secs(3));
                b.send(&format!("late{i}"))
            })
            .collect();
        b.run_for(Duration::from_secs(30));
        for id in later {
            assert!(
                matches!(
                    b.failed.get(&id),
                    Some((ProduceError::Authentication { .. }, _))
                ),
                "{m}: {:?}",
                b.failed.get(&id)
            );
        }
        let reconnects = b.connects.len() - connects_before;
        assert!(reconnects <= 40, "{m}: {reconnects} connects in 90 s");
        assert_eq!(b.core.pending_records(), 0);
    }
}

#[test]
fn a_forged_scram_server_signature_fails_the_records() {
    let mut b = Broker::new(config(SaslMechanism::ScramSha256, "alice", "alice-secret"));
    b.forge_signature = true;
    let id = b.send("x");
    b.run_for(Duration::from_secs(1));
    let (_, message) = b.auth_error(id);
    assert!(message.contains("server signature mismatch"), "{message}");
    assert!(b.produces.is_empty());
}

#[test]
fn an_unsupported_mechanism_names_what_the_broker_offers() {
    let mut b = Broker::new(config(SaslMechanism::ScramSha512, "alice", "alice-secret"));
    b.enabled = vec!["PLAIN"];
    let id = b.send("x");
    b.run_for(Duration::from_secs(1));
    let (_, message) = b.auth_error(id);
    assert!(message.contains("UNSUPPORTED_SASL_MECHANISM"), "{message}");
    assert!(
        message.contains("SCRAM-SHA-512") && message.contains("\"PLAIN\""),
        "{message}"
    );
}

#[test]
fn oauthbearer_sends_the_provided_token_and_a_refused_token_fails_typed() {
    struct P(&'static str);
    impl OAuthBearerTokenProvider for P {
        fn token(&self) -> Result<OAuthBearerToken, String> {
            Ok(OAuthBearerToken {
                value: self.0.into(),
                extensions: vec![],
            })
        }
    }
    let oauth = |token: &'static str| {
        let mut c = config(SaslMechanism::Plain, "", "");
        c.sasl = Some(SaslConfig::oauth_bearer(Arc::new(P(token))));
        c
    };
    let mut b = Broker::new(oauth("good"));
    let id = b.send("x");
    b.run_for(Duration::from_secs(1));
    assert!(b.delivered.contains_key(&id), "{:?}", b.failed);
    assert_sasl_first(&b);

    let mut b = Broker::new(oauth("expired"));
    let id = b.send("x");
    b.run_for(Duration::from_secs(1));
    let (_, message) = b.auth_error(id);
    assert!(
        message.contains("invalid token") && message.contains("invalid_token"),
        "{message}"
    );
    let c = b.all_conns().next().unwrap();
    assert_eq!(
        c.tokens.last().unwrap(),
        &[1],
        "the error challenge is acknowledged"
    );
}

#[test]
fn hostile_and_truncated_sasl_answers_fail_typed_without_panics() {
    // A valid handshake answer and a valid SCRAM server-first, cut at every length.
    let mut good_handshake = BytesMut::new();
    protocol::encode_response::<SaslHandshakeRequest>(
        0,
        1,
        &SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec!["SCRAM-SHA-256".into()],
        },
        &mut good_handshake,
    );
    let handshake_body = good_handshake[8..].to_vec();
    let mut good_auth = BytesMut::new();
    protocol::encode_response::<SaslAuthenticateRequest>(
        0,
        2,
        &SaslAuthenticateResponse {
            error_code: 0,
            error_message: None,
            auth_bytes: b"r=x,s=AAAA,i=4096".to_vec().into(),
            session_lifetime_ms: 0,
        },
        &mut good_auth,
    );
    // Flexible response header: correlation id then an empty tag section.
    let auth_body = good_auth[8..].to_vec();
    let mut cases: Vec<(bool, Vec<u8>)> = Vec::new();
    for cut in 0..handshake_body.len() {
        cases.push((true, handshake_body[..cut].to_vec()));
    }
    for cut in 0..auth_body.len() {
        cases.push((false, auth_body[..cut].to_vec()));
    }
    // The nonce does not extend ours; a huge length; garbage.
    cases.push((false, auth_body.clone()));
    cases.push((false, vec![0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    cases.push((true, vec![0, 0, 0x7f, 0xff, 0xff, 0xff]));
    cases.push((false, vec![0xde, 0xad, 0xbe, 0xef]));
    for (handshake, body) in cases {
        let mut b = Broker::new(config(SaslMechanism::ScramSha256, "alice", "alice-secret"));
        if handshake {
            b.hostile_handshake = Some(body.clone());
        } else {
            b.hostile_authenticate = Some(body.clone());
        }
        let id = b.send("x");
        b.run_for(Duration::from_secs(1));
        let (_, message) = b.auth_error(id);
        assert!(
            message.contains("malformed") || message.contains("nonce"),
            "{handshake} {body:?}: {message}"
        );
        assert!(b.produces.is_empty());
    }
}

#[test]
fn reauthenticates_between_85_and_95_percent_of_the_session_lifetime_after_draining() {
    let mut b = Broker::new(config(SaslMechanism::ScramSha256, "alice", "alice-secret"));
    b.lifetime_ms = 10_000;
    let start = b.now;
    b.send("first");
    b.run_for(Duration::from_millis(10));
    assert_eq!(b.delivered.len(), 1);
    let leader = b.produces[0].1;
    assert_eq!(b.handshakes.iter().filter(|(_, c)| *c == leader).count(), 1);
    let (at, why) = b.core.poll_timeout().expect("a timer");
    assert_eq!(why, TimeoutReason::Reauthenticate);
    let offset = at - start;
    assert!(
        offset >= Duration::from_millis(8_500) && offset <= Duration::from_millis(9_500),
        "{offset:?}"
    );
    // A request in flight on the leader from before the earliest renewal point (85 %) to
    // after the latest (95 %): that connection drains first.
    b.run_for(Duration::from_millis(8_400) - (b.now - start));
    b.hold_produce = true;
    b.send("in-flight");
    assert_eq!(b.held.len(), 1);
    b.run_for(Duration::from_millis(1_200)); // 9.6 s: every connection is due
    let produces_before = b.produces.len();
    let late = b.send("while-draining");
    b.run_for(Duration::from_millis(100));
    assert_eq!(
        b.produces.len(),
        produces_before,
        "no new request while draining"
    );
    assert_eq!(
        b.handshakes.iter().filter(|(_, c)| *c == leader).count(),
        1,
        "no re-authentication with a request in flight"
    );
    // The idle bootstrap connection renewed within 85-95 % of its lifetime.
    let other: Vec<Duration> = b
        .handshakes
        .iter()
        .filter(|(_, c)| *c != leader)
        .map(|(t, _)| *t - start)
        .collect();
    assert_eq!(other.len(), 2, "{other:?}");
    assert!(
        other[1] >= Duration::from_millis(8_500) && other[1] <= Duration::from_millis(9_500),
        "{other:?}"
    );
    b.hold_produce = false;
    b.release_held();
    b.run_for(Duration::from_millis(10));
    let reauths: Vec<Instant> = b
        .handshakes
        .iter()
        .filter(|(_, c)| *c == leader)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(reauths.len(), 2, "re-authenticated once drained");
    assert!(
        b.delivered.contains_key(&late),
        "resumed after: {:?}",
        b.failed
    );
    let c = &b.conns[&leader];
    assert!(c.authenticated);
    // Order on the wire: the re-authentication came before the held-back record's request.
    let k = &c.keys;
    let second_handshake = k.iter().rposition(|&x| x == 17).unwrap();
    assert_eq!(k[second_handshake + 1..second_handshake + 3], [36, 36]);
    assert!(k[second_handshake + 3..].contains(&0));
}

#[test]
fn a_refused_reauthentication_fails_waiting_records_typed() {
    let mut b = Broker::new(config(SaslMechanism::Plain, "alice", "alice-secret"));
    b.lifetime_ms = 1_000;
    // Auth 1: bootstrap, 2: leader, 3: a renewal (whichever connection renews first).
    b.refuse_auth_number = Some(3);
    b.send("a");
    b.run_for(Duration::from_millis(10));
    assert_eq!(b.delivered.len(), 1);
    b.run_for(Duration::from_millis(990));
    assert!(b.auths_done >= 3, "renewed within the lifetime");
    let id = b.send("b");
    b.run_for(Duration::from_secs(5));
    // The record either went out on a renewed connection or failed typed; never hangs.
    assert_eq!(b.core.pending_records(), 0);
    if let Some((e, _)) = b.failed.get(&id) {
        assert!(matches!(e, ProduceError::Authentication { .. }), "{e:?}");
    } else {
        assert!(b.delivered.contains_key(&id));
    }
    let refused: Vec<&BrokerConn> = b.closed_conns.iter().filter(|c| !c.authenticated).collect();
    assert_eq!(refused.len(), 1, "the refused connection was closed");
    assert_eq!(
        refused[0].keys.iter().filter(|&&k| k == 17).count(),
        2,
        "it was a renewal"
    );
}

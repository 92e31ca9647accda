//! The brokers' side of the protocol: every request frame is decoded with odradek-core's own
//! codecs and answered as Kafka would (ApiVersions, Metadata, InitProducerId, Produce, with
//! idempotent batches checked as in [`crate::idempotence`]), with per-response faults and
//! hostile values applied.

use crate::cluster::{AppendFate, AppendInfo, Cluster, StoredRecord};
use crate::config::{broker_host, BrokerVersions, BROKER_PORT};
use crate::faults::Fault;
use crate::idempotence::{next_seq, Verdict};
use crate::script::{ScriptedFault, SeenBatch};
use bytes::{Bytes, BytesMut};
use odradek_core::protocol::{
    self, api_key, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, ErrorCode,
    InitProducerIdRequest, InitProducerIdResponse, MetadataBroker, MetadataPartition,
    MetadataRequest, MetadataResponse, MetadataTopic, ProducePartitionData,
    ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopicResponse,
};
use odradek_core::record::{decode_records, RecordFormat};
use odradek_core::{Compression, ConnId};

fn in_range(v: i16, r: (i16, i16)) -> bool {
    r.0 <= v && v <= r.1
}

/// The ApiVersions answer of a broker speaking `versions`.
fn advertised_versions(versions: &BrokerVersions) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![
            ApiVersionRange {
                api_key: api_key::PRODUCE,
                min_version: versions.produce.0,
                max_version: versions.produce.1,
            },
            ApiVersionRange {
                api_key: api_key::METADATA,
                min_version: versions.metadata.0,
                max_version: versions.metadata.1,
            },
            ApiVersionRange {
                api_key: api_key::API_VERSIONS,
                min_version: versions.api_versions.0,
                max_version: versions.api_versions.1,
            },
        ],
        throttle_time_ms: 0,
        ..ApiVersionsResponse::default()
    };
    if let Some((min, max)) = versions.init_producer_id {
        resp.api_keys.push(ApiVersionRange {
            api_key: api_key::INIT_PRODUCER_ID,
            min_version: min,
            max_version: max,
        });
    }
    resp
}

impl Cluster {
    /// Answers one request frame (without its size prefix) that arrived on `conn`.
    pub(crate) fn handle_frame(&mut self, conn: ConnId, frame: Bytes) {
        let Some(broker) = self.conns.get(&conn).and_then(|c| c.broker) else {
            return;
        };
        self.stats.requests += 1;
        let (header, body) = match protocol::decode_request_header(&frame) {
            Ok(x) => x,
            Err(e) => {
                self.violation(format!("{conn:?}: undecodable request header: {e}"));
                self.kill(conn);
                return;
            }
        };
        let versions = self.config.versions;
        let (key, v, corr) = (header.api_key, header.api_version, header.correlation_id);
        self.saw_request(conn, key, v);
        let mut out = BytesMut::new();
        match key {
            api_key::API_VERSIONS => {
                let mut resp = advertised_versions(&versions);
                self.advertise_txn(&mut resp);
                resp.throttle_time_ms = self.script.throttle.unwrap_or(0);
                let mut version = v;
                if !in_range(v, versions.api_versions) {
                    // Kafka answers an ApiVersions request it cannot parse in v0 with
                    // UNSUPPORTED_VERSION and its ranges, so the client can retry lower.
                    resp.error_code = ErrorCode::UNSUPPORTED_VERSION.0;
                    version = 0;
                } else {
                    if let Err(e) = protocol::decode_request_body::<ApiVersionsRequest>(v, body) {
                        self.violation(format!("{conn:?}: bad ApiVersions v{v}: {e}"));
                        self.kill(conn);
                        return;
                    }
                }
                self.note(|| format!("broker {broker}: ApiVersions v{v} corr {corr}"));
                protocol::encode_response::<ApiVersionsRequest>(corr, version, &resp, &mut out);
                self.send_response(conn, out.freeze(), Vec::new());
            }
            api_key::METADATA => {
                if !in_range(v, versions.metadata) {
                    self.violation(format!(
                        "{conn:?}: Metadata v{v} outside the advertised {:?}",
                        versions.metadata
                    ));
                    self.kill(conn);
                    return;
                }
                let req = match protocol::decode_request_body::<MetadataRequest>(v, body) {
                    Ok(r) => r,
                    Err(e) => {
                        self.violation(format!("{conn:?}: bad Metadata v{v}: {e}"));
                        self.kill(conn);
                        return;
                    }
                };
                if let Some(names) = &req.topics {
                    self.auto_create(names);
                }
                let mut resp = self.metadata(&req);
                self.hostile_metadata(&mut resp);
                self.scripted_metadata(&mut resp);
                self.note(|| {
                    format!(
                        "broker {broker}: Metadata v{v} corr {corr} for {:?}",
                        req.topics
                    )
                });
                protocol::encode_response::<MetadataRequest>(corr, v, &resp, &mut out);
                let out = self.maybe_corrupt(api_key::METADATA, corr, out);
                let sent = self.frame_sent_at;
                self.client_event(|| crate::client_log::ClientEvent::MetadataSent { at: sent });
                self.push_note(conn, corr, crate::client_log::Note::Metadata);
                self.send_response(conn, out, Vec::new());
            }
            api_key::PRODUCE => {
                if !in_range(v, versions.produce) {
                    self.violation(format!(
                        "{conn:?}: Produce v{v} outside the advertised {:?}",
                        versions.produce
                    ));
                    self.kill(conn);
                    return;
                }
                let req = match protocol::decode_request_body::<ProduceRequest>(v, body) {
                    Ok(r) => r,
                    Err(e) => {
                        self.violation(format!("{conn:?}: bad Produce v{v}: {e}"));
                        self.kill(conn);
                        return;
                    }
                };
                self.produce(conn, broker, v, corr, req);
            }
            api_key::INIT_PRODUCER_ID => {
                let advertised = versions
                    .init_producer_id
                    .map(|(lo, hi)| (lo, if self.txn.is_some() { hi.max(5) } else { hi }));
                if !advertised.is_some_and(|r| in_range(v, r)) {
                    self.violation(format!(
                        "{conn:?}: InitProducerId v{v} outside the advertised {advertised:?}"
                    ));
                    self.kill(conn);
                    return;
                }
                let req = match protocol::decode_request_body::<InitProducerIdRequest>(v, body) {
                    Ok(r) => r,
                    Err(e) => {
                        self.violation(format!("{conn:?}: bad InitProducerId v{v}: {e}"));
                        self.kill(conn);
                        return;
                    }
                };
                let resp = if req.transactional_id.is_some() && self.txn.is_some() {
                    self.init_transactional_producer_id(broker, v, &req)
                } else {
                    self.init_producer_id(conn, &req)
                };
                self.note(|| {
                    format!(
                        "broker {broker}: InitProducerId v{v} corr {corr} ({} epoch {}) -> {} \
                         id {} epoch {}",
                        req.producer_id,
                        req.producer_epoch,
                        ErrorCode(resp.error_code).name(),
                        resp.producer_id,
                        resp.producer_epoch
                    )
                });
                protocol::encode_response::<InitProducerIdRequest>(corr, v, &resp, &mut out);
                let out = self.maybe_corrupt(api_key::INIT_PRODUCER_ID, corr, out);
                self.send_response(conn, out, Vec::new());
            }
            other => {
                if !self.handle_txn_frame(conn, broker, (other, v, corr), body) {
                    self.violation(format!("{conn:?}: unexpected api key {other} v{v}"));
                    self.kill(conn);
                }
            }
        }
    }

    pub(crate) fn send_response(&mut self, conn: ConnId, data: Bytes, appends: Vec<usize>) {
        let stalled = self.conns.get(&conn).is_some_and(|c| c.stalled);
        if stalled {
            for a in appends {
                self.appends[a].fate = AppendFate::ResponseLost;
            }
            return;
        }
        self.respond(conn, data, appends);
    }

    /// The metadata a broker reports now: live brokers, and every topic asked for.
    pub(crate) fn metadata(&self, req: &MetadataRequest) -> MetadataResponse {
        let brokers = (1..=self.up.len() as i32)
            .filter(|n| self.is_up(*n) && self.listed(*n))
            .map(|n| {
                let (host, port) = self
                    .script
                    .advertised(n)
                    .unwrap_or_else(|| (broker_host(n), BROKER_PORT));
                MetadataBroker {
                    node_id: n,
                    host,
                    port: i32::from(port),
                    rack: None,
                }
            })
            .collect();
        let names: Vec<String> = match &req.topics {
            Some(t) if !t.is_empty() => t.clone(),
            _ => self.topics.keys().cloned().collect(),
        };
        let replicas: Vec<i32> = (1..=self.up.len() as i32).collect();
        let topics = names
            .into_iter()
            .map(|name| match self.topics.get(&name) {
                None => MetadataTopic {
                    error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                    name,
                    is_internal: false,
                    partitions: Vec::new(),
                },
                Some(parts) => MetadataTopic {
                    error_code: 0,
                    is_internal: false,
                    partitions: parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let up = self.is_up(p.leader);
                            MetadataPartition {
                                error_code: if up {
                                    0
                                } else {
                                    ErrorCode::LEADER_NOT_AVAILABLE.0
                                },
                                partition_index: i as i32,
                                leader_id: if up { p.leader } else { -1 },
                                leader_epoch: p.epoch,
                                replica_nodes: replicas.clone(),
                                isr_nodes: replicas
                                    .iter()
                                    .copied()
                                    .filter(|n| self.is_up(*n))
                                    .collect(),
                                offline_replicas: replicas
                                    .iter()
                                    .copied()
                                    .filter(|n| !self.is_up(*n))
                                    .collect(),
                            }
                        })
                        .collect(),
                    name,
                },
            })
            .collect();
        MetadataResponse {
            throttle_time_ms: 0,
            brokers,
            cluster_id: Some("odradek-sim".to_owned()),
            controller_id: 1,
            topics,
        }
    }

    /// Picks an error to inject into one partition response, if any.
    fn injected_error(&mut self, acks: i16) -> Option<ErrorCode> {
        if let Some(pos) = self
            .injections
            .iter()
            .position(|f| matches!(f, Fault::FailNextPartition(_)))
        {
            if let Some(Fault::FailNextPartition(code)) = self.injections.remove(pos) {
                return Some(code);
            }
        }
        let active = self.faults_active();
        let faults = &self.config.faults;
        if !active || faults.error_rate <= 0.0 || faults.error_codes.is_empty() {
            return None;
        }
        if self.rng.unit() >= faults.error_rate {
            return None;
        }
        // NOT_ENOUGH_REPLICAS(_AFTER_APPEND) only exist for acks=all (min.insync.replicas).
        let codes: Vec<ErrorCode> = faults
            .error_codes
            .iter()
            .copied()
            .filter(|c| {
                acks == -1
                    || (*c != ErrorCode::NOT_ENOUGH_REPLICAS
                        && *c != ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND)
            })
            .collect();
        if codes.is_empty() {
            return None;
        }
        Some(codes[self.rng.below(codes.len() as u64) as usize])
    }

    fn produce(&mut self, conn: ConnId, broker: i32, v: i16, corr: i32, req: ProduceRequest) {
        self.stats.produce_requests += 1;
        if self.take_dropped_produce() {
            self.note(|| format!("script: Produce corr {corr} dropped with {conn:?}"));
            self.kill(conn);
            return;
        }
        if !matches!(req.acks, -1..=1) {
            self.violation(format!("{conn:?}: Produce with acks={}", req.acks));
        }
        let mut resp = ProduceResponse {
            topics: Vec::new(),
            throttle_time_ms: self.hostile_throttle(),
            node_endpoints: Vec::new(),
        };
        let at = ProduceAt {
            conn,
            broker,
            v,
            corr,
            acks: req.acks,
        };
        if self.txn.is_some() {
            self.produce_txn_id = req.transactional_id.clone();
        }
        let mut acked = Vec::new();
        let mut appended = Vec::new();
        let mut any_error = false;
        let logging = self.client_log.is_some();
        let mut sent_records = Vec::new();
        let mut refused = Vec::new();
        for topic in &req.topics {
            let mut parts = Vec::new();
            for pd in &topic.partitions {
                let mut keys = Vec::new();
                let keys_out = if logging { Some(&mut keys) } else { None };
                let part = self.produce_partition(
                    at,
                    &topic.name,
                    pd,
                    &mut acked,
                    &mut appended,
                    keys_out,
                );
                if let Some(p) = &part {
                    // A leader hint (KIP-951) sends a partition's retries to the new leader
                    // at once, without the backoff or a Metadata round trip first (every
                    // batch of the partition waiting, as Java does): refusals on a partition
                    // given hints are not held to those promises.
                    let hinted = p.index >= 0 && self.hints_for(&topic.name, p.index);
                    if p.error_code != 0 && !keys.is_empty() && !hinted {
                        refused.push((p.error_code, keys.clone()));
                    }
                }
                sent_records.extend(keys);
                let Some(part) = part else {
                    continue; // scripted: left out of the answer
                };
                any_error |= part.error_code != 0;
                parts.push(part);
            }
            resp.topics.push(ProduceTopicResponse {
                name: topic.name.clone(),
                partitions: parts,
            });
        }
        self.note(|| {
            let summary: Vec<String> = resp
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        format!(
                            "{}-{}:{}@{}",
                            t.name,
                            p.index,
                            ErrorCode(p.error_code).name(),
                            p.base_offset
                        )
                    })
                })
                .collect();
            format!(
                "broker {broker}: Produce v{v} corr {corr} acks {} -> [{}]",
                req.acks,
                summary.join(", ")
            )
        });
        if logging {
            let sent = self.frame_sent_at;
            self.client_event(|| crate::client_log::ClientEvent::ProduceSent {
                at: sent,
                records: sent_records,
            });
            if req.acks != 0 {
                self.push_note(conn, corr, crate::client_log::Note::Produce(refused));
            }
        }
        if req.acks == 0 {
            // No response; Kafka closes the connection when an acks=0 request fails.
            if any_error {
                self.kill(conn);
            }
            return;
        }
        let lose_next = self
            .injections
            .iter()
            .position(|f| matches!(f, Fault::LoseNextProduceResponse))
            .map(|pos| self.injections.remove(pos))
            .is_some();
        let faults = &self.config.faults;
        let (mut lost_rate, mut stall_rate) = (faults.lost_response_rate, faults.stall_rate);
        if !self.faults_active() {
            (lost_rate, stall_rate) = (0.0, 0.0);
        }
        if lose_next || (lost_rate > 0.0 && self.rng.unit() < lost_rate) {
            self.stats.lost_responses += 1;
            self.note(|| format!("fault: Produce response corr {corr} lost, {conn:?} dropped"));
            for id in acked {
                self.appends[id].fate = AppendFate::ResponseLost;
            }
            self.kill(conn);
            return;
        }
        if stall_rate > 0.0 && self.rng.unit() < stall_rate {
            self.stats.stalls += 1;
            self.note(|| format!("fault: {conn:?} stalls from Produce corr {corr} on"));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.stalled = true;
            }
        }
        self.add_node_endpoints(&mut resp);
        let mut out = BytesMut::new();
        protocol::encode_response::<ProduceRequest>(corr, v, &resp, &mut out);
        if self.conns.get(&conn).is_some_and(|c| c.stalled) {
            self.send_response(conn, out.freeze(), acked);
        } else {
            self.answer_produce(conn, out.freeze(), acked);
        }
    }

    /// One partition of a Produce request: checked, decoded, judged (idempotence),
    /// appended; the appends it made go to `appended`, those it acknowledges to `acked`.
    /// `None` when a scripted fault leaves it out of the answer.
    fn produce_partition(
        &mut self,
        at: ProduceAt,
        topic: &str,
        pd: &ProducePartitionData,
        acked: &mut Vec<usize>,
        appended: &mut Vec<usize>,
        keys: Option<&mut Vec<u64>>,
    ) -> Option<ProducePartitionResponse> {
        let scripted = self.next_scripted(topic, pd.index);
        let kip = Self::scripted_kip_answer(scripted.as_ref(), pd.index, at.v);
        let forced = match scripted {
            Some(ScriptedFault::Omit) => return None,
            Some(ScriptedFault::Error(code)) => Some(code),
            _ if kip.is_some() => kip.as_ref().map(|p| ErrorCode(p.error_code)),
            _ => self.script.produce_error,
        };
        let conn = at.conn;
        let mut code = self.check_partition(at.conn, at.broker, at.v, topic, pd.index);
        let mut decoded = Vec::new();
        if code.is_ok() || forced.is_some() {
            match decode_records(&pd.records, self.config.max_decompressed_batch) {
                Ok(b) => decoded = b,
                Err(e) => {
                    self.violation(format!(
                        "{conn:?}: undecodable records for {}-{}: {e}",
                        topic, pd.index
                    ));
                    code = ErrorCode::CORRUPT_MESSAGE;
                }
            }
        }
        if let Some(keys) = keys {
            // The client log: the records this partition's batch carried (decoded here even
            // when the broker refuses the partition before reading its records).
            let mut quiet = Vec::new();
            let batches = if decoded.is_empty() {
                quiet = decode_records(&pd.records, self.config.max_decompressed_batch)
                    .unwrap_or_default();
                &quiet
            } else {
                &decoded
            };
            for b in batches {
                keys.extend(b.records.iter().map(|r| {
                    crate::client_log::record_key(topic, r.key.as_deref(), r.value.as_deref())
                }));
            }
            drop(quiet);
        }
        if let Some(forced) = forced {
            // Scripted: refused before any other check, nothing appended.
            if let Some(mut seen) = batch_summary(&decoded) {
                seen.error_code = forced.0;
                self.saw_batch(topic, pd.index, seen);
            }
            return Some(kip.unwrap_or_else(|| partition_response(pd.index, forced, -1)));
        }
        if code.is_ok() {
            code = self.check_batches(at.conn, at.v, topic, pd.index, &decoded);
        }
        if code.is_ok() {
            code = self.check_size_caps(topic, pd.index, pd.records.len(), &decoded);
        }
        let mut record_errors = Vec::new();
        if code.is_ok() {
            record_errors = self.record_errors(topic, &decoded, at.v, at.acks);
            if !record_errors.is_empty() {
                self.stats.records_refused += record_errors.len() as u64;
                code = ErrorCode::INVALID_RECORD;
            }
        }
        if code.is_ok() {
            let producer = decoded
                .first()
                .filter(|b| b.producer_id >= 0)
                .map(|b| (b.producer_id, b.producer_epoch));
            code = self.txn_check_produce(conn, at.v, topic, pd.index, &pd.records, producer);
        }
        if code.is_ok() && scripted.is_none() {
            if let Some(injected) = self.injected_error(at.acks) {
                *self.stats.injected_errors.entry(injected.0).or_default() += 1;
                let (t, p) = (topic.to_owned(), pd.index);
                let stamp = decoded
                    .first()
                    .filter(|b| b.producer_id >= 0)
                    .map(|b| {
                        let n: usize = decoded.iter().map(|b| b.records.len()).sum();
                        format!(" (epoch {} seq {}+{n})", b.producer_epoch, b.base_sequence)
                    })
                    .unwrap_or_default();
                self.note(|| format!("fault: inject {injected} for {t}-{p}{stamp}"));
                code = injected;
            }
        }
        // Idempotent batch: (producer id, epoch, first sequence, records).
        let idem = decoded
            .first()
            .filter(|b| b.producer_id >= 0)
            .map(|b| (b.producer_id, b.producer_epoch, b.base_sequence))
            .map(|(p, e, s)| (p, e, s, decoded.iter().map(|b| b.records.len()).sum()));
        let judged = self.judge_partition(at, topic, pd.index, idem, code, acked);
        let (mut code, append_too, mut base_offset) = judged;
        let duplicate = !append_too && code.is_ok() && base_offset >= 0;
        let count: usize = decoded.iter().map(|b| b.records.len()).sum();
        let seen = batch_summary(&decoded);
        let mut append_too = append_too;
        if append_too && self.script.max_batch_records.is_some_and(|max| count > max) {
            code = ErrorCode::MESSAGE_TOO_LARGE;
            append_too = false;
        }
        if let (true, Some(ScriptedFault::AppendThenError(e))) = (append_too, &scripted) {
            code = *e;
        }
        if append_too {
            let (id, base) = self.append(conn, at.broker, topic, pd.index, decoded);
            self.txn_mark_append(topic, pd.index, &pd.records, id);
            if let Some((pid, epoch, first, count)) = idem {
                let part = self.partition_mut(topic, pd.index);
                part.producers.record(pid, epoch, first, count, base, id);
            }
            if code.is_ok() {
                base_offset = base;
                if at.acks == 0 {
                    self.appends[id].fate = AppendFate::NoResponse;
                } else {
                    acked.push(id);
                    if let Some(ScriptedFault::BaseOffset(b)) = scripted {
                        base_offset = b;
                        self.appends[id].hostile_offset = true;
                    } else {
                        base_offset = self.hostile_base_offset(id, topic, pd.index, base);
                    }
                }
            } else {
                self.appends[id].fate = AppendFate::ErrorAfterAppend;
            }
            appended.push(id);
        }
        let logged = match (append_too, duplicate) {
            (true, _) => 0,
            (false, true) => ErrorCode::DUPLICATE_SEQUENCE_NUMBER.0,
            (false, false) => code.0,
        };
        if let Some(mut seen) = seen {
            seen.error_code = logged;
            self.saw_batch(topic, pd.index, seen);
        }
        let mut answer = partition_response(pd.index, code, base_offset);
        answer.record_errors = record_errors;
        self.add_leader_hint(topic, &mut answer, (at.broker, at.v));
        Some(answer)
    }

    /// The idempotence check of one partition's batch (when it has a producer id and may be
    /// appended): `(code, whether to append, base offset answered)`. A recognised retry is
    /// answered with its original offset and acknowledges its original append.
    fn judge_partition(
        &mut self,
        at: ProduceAt,
        topic: &str,
        partition: i32,
        idem: Option<(i64, i16, i32, usize)>,
        mut code: ErrorCode,
        acked: &mut Vec<usize>,
    ) -> (ErrorCode, bool, i64) {
        let mut base_offset = -1;
        let mut append_too = code.is_ok() || code == ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND;
        let (conn, corr) = (at.conn, at.corr);
        if let (true, Some((pid, epoch, first, count))) = (append_too, idem) {
            match self.judge_idempotent(conn, topic, partition, pid, epoch, first, count) {
                JudgedBatch::Append => {}
                JudgedBatch::Duplicate(base, original) => {
                    append_too = false;
                    if code.is_ok() {
                        base_offset = base;
                        acked.extend(original);
                        let rate = self.config.faults.duplicate_answer_rate;
                        if rate > 0.0 && self.rng.unit() < rate {
                            // Recognised, answered without its offset.
                            code = ErrorCode::DUPLICATE_SEQUENCE_NUMBER;
                            base_offset = -1;
                            self.stats.duplicate_answers += 1;
                        }
                    }
                }
                JudgedBatch::Refuse(c) => {
                    append_too = false;
                    code = c;
                    if c == ErrorCode::UNKNOWN_PRODUCER_ID {
                        if let Some(w) = &mut self.wire {
                            w.refused_unknown_producer(
                                conn,
                                corr,
                                crate::wire::BatchKey {
                                    topic: topic.to_owned(),
                                    partition,
                                    producer_id: pid,
                                    epoch,
                                    base_sequence: first,
                                },
                            );
                        }
                    }
                }
            }
        }
        (code, append_too, base_offset)
    }

    /// The base offset to answer for append `id` at `base`: itself, or (hostile fault) one
    /// near `i64::MAX`.
    fn hostile_base_offset(&mut self, id: usize, topic: &str, partition: i32, base: i64) -> i64 {
        let rate = self.config.faults.hostile.base_offset_rate;
        if !(rate > 0.0 && self.faults_active() && self.rng.unit() < rate) {
            return base;
        }
        let count = self.appends[id].count as i64;
        let base_offset = i64::MAX - self.rng.below(count.max(1) as u64) as i64;
        self.appends[id].hostile_offset = true;
        self.stats.hostile_base_offsets += 1;
        let t = topic.to_owned();
        self.note(|| format!("hostile: base offset {base_offset} for {t}-{partition}"));
        base_offset
    }

    /// Whether this broker may append to `topic`/`partition` now.
    fn check_partition(
        &mut self,
        conn: ConnId,
        broker: i32,
        _v: i16,
        topic: &str,
        partition: i32,
    ) -> ErrorCode {
        let _ = conn;
        let leader = self.leader(topic, partition);
        let scripted = self.scripted_leader(topic, partition);
        match leader.map(|l| scripted.unwrap_or(Some(l))) {
            None => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            Some(None) => ErrorCode::NOT_LEADER_OR_FOLLOWER,
            Some(Some(l)) if l != broker => ErrorCode::NOT_LEADER_OR_FOLLOWER,
            Some(Some(_)) => ErrorCode::NONE,
        }
    }

    /// Checks the batches a client sent against what Kafka accepts in Produce `v`.
    fn check_batches(
        &mut self,
        conn: ConnId,
        v: i16,
        topic: &str,
        partition: i32,
        batches: &[odradek_core::record::DecodedBatch],
    ) -> ErrorCode {
        let total: usize = batches.iter().map(|b| b.records.len()).sum();
        if total == 0 {
            self.violation(format!("{conn:?}: empty records for {topic}-{partition}"));
            return ErrorCode::INVALID_RECORD;
        }
        if v >= 3 && batches.len() != 1 {
            self.violation(format!(
                "{conn:?}: Produce v{v} with {} batches for {topic}-{partition} (Kafka wants one)",
                batches.len()
            ));
            return ErrorCode::INVALID_RECORD;
        }
        for b in batches {
            let format_ok = match b.format {
                RecordFormat::V2 => v >= 3,
                RecordFormat::V0 | RecordFormat::V1 => v < 3,
            };
            if !format_ok {
                self.violation(format!(
                    "{conn:?}: {:?} records in Produce v{v} for {topic}-{partition}",
                    b.format
                ));
                return ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT;
            }
            if b.compression == Compression::Zstd && v < 7 {
                self.violation(format!("{conn:?}: zstd in Produce v{v} (needs v7+)"));
                return ErrorCode::UNSUPPORTED_COMPRESSION_TYPE;
            }
        }
        ErrorCode::NONE
    }

    /// Appends decoded batches to a partition's log; returns the append's id and base offset.
    fn append(
        &mut self,
        conn: ConnId,
        broker: i32,
        topic: &str,
        partition: i32,
        batches: Vec<odradek_core::record::DecodedBatch>,
    ) -> (usize, i64) {
        let id = self.appends.len();
        let now = self.now;
        let keep = self.config.keep_records;
        let first_key = batches
            .first()
            .and_then(|b| b.records.first())
            .map(|r| crate::client_log::record_key(topic, r.key.as_deref(), r.value.as_deref()));
        let crossed = batches.iter().any(|b| {
            let n = b.records.len();
            b.base_sequence >= 0
                && n > 0
                && i64::from(b.base_sequence) + n as i64 - 1 > i64::from(i32::MAX)
        });
        let part = &mut self.topics.get_mut(topic).expect("checked")[partition as usize];
        let crossed = crossed
            || batches.first().is_some_and(|b| {
                b.base_sequence == 0
                    && b.producer_id >= 0
                    && part
                        .producers
                        .entries
                        .get(&b.producer_id)
                        .is_some_and(|e| e.epoch == b.producer_epoch && e.last_seq == i32::MAX)
            });
        let base = part.next_offset;
        let mut count = 0;
        for b in batches {
            let mut seq = b.base_sequence;
            for r in b.records {
                if keep {
                    part.log.push(StoredRecord {
                        offset: base + count as i64,
                        timestamp: r.timestamp,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                        append: id,
                        producer_id: b.producer_id,
                        producer_epoch: b.producer_epoch,
                        sequence: seq,
                        transactional: false,
                        control: None,
                    });
                }
                if seq >= 0 {
                    seq = next_seq(seq);
                }
                count += 1;
            }
        }
        part.next_offset += count as i64;
        let first = first_key.and_then(|k| {
            let n = self
                .refused_too_large
                .remove(&(topic.to_owned(), partition, k))?;
            Some(n > count)
        });
        if first == Some(true) {
            self.stats.split_halves += 1;
        }
        if crossed {
            self.stats.wrap_crossings += 1;
        }
        self.appends.push(AppendInfo {
            topic: topic.to_owned(),
            partition,
            base_offset: base,
            count,
            broker,
            conn,
            at: now,
            fate: AppendFate::Pending,
            hostile_offset: false,
        });
        self.stats.appends += 1;
        self.stats.records_appended += count as u64;
        (id, base)
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> &mut crate::cluster::Partition {
        &mut self.topics.get_mut(topic).expect("checked")[partition as usize]
    }

    /// Checks an idempotent batch against the partition's producer state (after maybe
    /// losing that state, as a fault).
    #[allow(clippy::too_many_arguments)]
    fn judge_idempotent(
        &mut self,
        conn: ConnId,
        topic: &str,
        partition: i32,
        pid: i64,
        epoch: i16,
        first: i32,
        count: usize,
    ) -> JudgedBatch {
        if first < 0 || epoch < 0 {
            self.violation(format!(
                "{conn:?}: batch for {topic}-{partition} with producer id {pid} but epoch \
                 {epoch} and base sequence {first}"
            ));
            return JudgedBatch::Refuse(ErrorCode::INVALID_RECORD);
        }
        let active = self.faults_active();
        let rate = self.config.faults.producer_state_loss_rate;
        if active && rate > 0.0 && self.rng.unit() < rate {
            let appends = std::mem::take(&mut self.appends);
            let part = self.partition_mut(topic, partition);
            let mut lost = false;
            if let Some(e) = part.producers.entries.get_mut(&pid).filter(|e| !e.lost) {
                // An answer with a hostile offset is one the client must refuse: for it the
                // append is still unanswered, and the state needed to recognise its retry.
                e.unanswered.retain(|a| {
                    appends[*a].hostile_offset
                        || !matches!(appends[*a].fate, AppendFate::Acknowledged(_))
                });
                if e.unanswered.is_empty() {
                    part.producers.lose(pid);
                    lost = true;
                }
            }
            self.appends = appends;
            if lost {
                self.stats.producer_state_losses += 1;
                self.note(|| format!("fault: {topic}-{partition} loses producer {pid}'s state"));
            }
        }
        let rate = self.config.faults.state_rollback_rate;
        if active && rate > 0.0 && self.rng.unit() < rate {
            self.roll_back_state(topic, partition, pid);
        }
        let rate = self.config.faults.fence_rate;
        if active && rate > 0.0 && self.rng.unit() < rate {
            let part = self.partition_mut(topic, partition);
            if let Some(e) = part.producers.entries.get_mut(&pid) {
                if !e.lost && e.epoch <= epoch {
                    // Another instance took the producer id at a later epoch (as
                    // InitProducerId would hand out): far enough ahead that this producer's
                    // own epoch bumps (KIP-360, one at a time) never reach it.
                    e.epoch = epoch.saturating_add(1000);
                    e.fenced = true;
                    e.batches.clear();
                    self.stats.fenced += 1;
                    let now = self.now;
                    self.stats.first_fenced_at.get_or_insert(now);
                    self.note(|| {
                        format!("fault: {topic}-{partition}: producer {pid}'s epoch moved on")
                    });
                }
            }
        }
        let part = self.partition_mut(topic, partition);
        let verdict = part.producers.check(pid, epoch, first, count);
        let verdict = match verdict {
            Verdict::Append => JudgedBatch::Append,
            Verdict::Duplicate(base) => {
                let original = part
                    .producers
                    .entries
                    .get(&pid)
                    .and_then(|e| e.batches.iter().find(|b| b.base_offset == base))
                    .map(|b| b.append);
                self.stats.duplicate_batches += 1;
                JudgedBatch::Duplicate(base, original)
            }
            Verdict::Refuse(c) => {
                *self.stats.sequence_errors.entry(c.0).or_default() += 1;
                JudgedBatch::Refuse(c)
            }
        };
        self.note(|| {
            format!(
                "broker: {topic}-{partition} producer {pid} epoch {epoch} seq {first}+{count}: \
                 {verdict:?}"
            )
        });
        verdict
    }

    /// [`FaultConfig::state_rollback_rate`](crate::FaultConfig::state_rollback_rate): the
    /// partition's state for `pid` falls back to an older snapshot, if every append of it
    /// there was answered to the client.
    fn roll_back_state(&mut self, topic: &str, partition: i32, pid: i64) {
        let appends = std::mem::take(&mut self.appends);
        let k = 1 + self.rng.below(3) as usize;
        let part = self.partition_mut(topic, partition);
        let mut done = None;
        if let Some(e) = part.producers.entries.get_mut(&pid) {
            e.unanswered.retain(|a| {
                appends[*a].hostile_offset
                    || !matches!(appends[*a].fate, AppendFate::Acknowledged(_))
            });
            if e.unanswered.is_empty() && !e.batches.is_empty() {
                let k = k.min(e.batches.len());
                let mut oldest = e.last_seq;
                for _ in 0..k {
                    if let Some(b) = e.batches.pop_back() {
                        oldest = b.first_seq;
                    }
                }
                if e.batches.is_empty() && k == 3 {
                    // Nothing of this producer in the older snapshot.
                    part.producers.lose(pid);
                    done = Some(-1);
                } else {
                    e.last_seq = if oldest == 0 { i32::MAX } else { oldest - 1 };
                    done = Some(e.last_seq);
                }
            }
        }
        self.appends = appends;
        if let Some(last) = done {
            self.stats.state_rollbacks += 1;
            self.note(|| {
                format!(
                    "fault: {topic}-{partition}: producer {pid}'s state falls back to sequence \
                     {last} (an older snapshot)"
                )
            });
        }
    }

    /// The brokers' size caps ([`FaultConfig::max_batch_records`],
    /// [`FaultConfig::max_batch_bytes`]): MESSAGE_TOO_LARGE for a batch over either.
    ///
    /// [`FaultConfig::max_batch_records`]: crate::FaultConfig::max_batch_records
    /// [`FaultConfig::max_batch_bytes`]: crate::FaultConfig::max_batch_bytes
    fn check_size_caps(
        &mut self,
        topic: &str,
        partition: i32,
        bytes: usize,
        decoded: &[odradek_core::record::DecodedBatch],
    ) -> ErrorCode {
        let f = &self.config.faults;
        let count: usize = decoded.iter().map(|b| b.records.len()).sum();
        let over = f.max_batch_records.is_some_and(|m| count > m)
            || f.max_batch_bytes.is_some_and(|m| bytes > m);
        if !over {
            return ErrorCode::NONE;
        }
        self.stats.too_large += 1;
        if let Some(r) = decoded.first().and_then(|b| b.records.first()) {
            let k = crate::client_log::record_key(topic, r.key.as_deref(), r.value.as_deref());
            self.refused_too_large
                .insert((topic.to_owned(), partition, k), count);
        }
        let t = topic.to_owned();
        self.note(|| format!("broker: {t}-{partition}: {count} records, {bytes} bytes: too large"));
        ErrorCode::MESSAGE_TOO_LARGE
    }

    /// InitProducerId (non-transactional): always a fresh id with epoch 0, whatever id and
    /// epoch the request names, as Kafka answers it.
    fn init_producer_id(
        &mut self,
        conn: ConnId,
        req: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let mut resp = InitProducerIdResponse {
            throttle_time_ms: self.script.throttle.unwrap_or(0),
            error_code: 0,
            producer_id: -1,
            producer_epoch: -1,
        };
        self.saw_init_producer_id(req.producer_id, req.producer_epoch);
        if let Some(code) = self.next_init_error() {
            resp.error_code = code.0;
            return resp;
        }
        if req.transactional_id.is_some() {
            self.violation(format!(
                "{conn:?}: InitProducerId with transactional id {:?}",
                req.transactional_id
            ));
            resp.error_code = ErrorCode::INVALID_REQUEST.0;
            return resp;
        }
        // Non-transactional: Kafka (`TransactionCoordinator.handleInitProducerId` without a
        // transactional id) ignores the id and epoch sent and always grants a fresh id at
        // epoch 0 (unless scripted otherwise); there is nothing to fence. Epochs are checked per
        // partition on Produce.
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        resp.producer_id = id;
        resp.producer_epoch = self.script.init_epoch;
        self.stats.producer_ids += 1;
        if let Some(start) = self.config.faults.initial_sequence {
            // A long-lived producer: state on every partition, last sequence before `start`.
            let last = if start <= 0 { i32::MAX } else { start - 1 };
            let epoch = resp.producer_epoch;
            for parts in self.topics.values_mut() {
                for p in parts.iter_mut() {
                    p.producers.entries.insert(
                        id,
                        crate::idempotence::ProducerEntry {
                            epoch,
                            last_seq: last,
                            ..Default::default()
                        },
                    );
                }
            }
        }
        resp
    }

    /// A `throttle_time_ms` for an answer: 0, or (hostile fault) 1 ms to 2 s, or the
    /// scripted one (drawn the same either way).
    fn hostile_throttle(&mut self) -> i32 {
        let rate = self.config.faults.hostile.throttle_rate;
        let drawn = if rate > 0.0 && self.faults_active() && self.rng.unit() < rate {
            self.stats.throttled_responses += 1;
            1 + self.rng.below(2000) as i32
        } else {
            0
        };
        self.script.throttle.unwrap_or(drawn)
    }

    /// The answer `out` (a whole frame) to a request of `api`, or, when answers to that API
    /// are to be corrupted ([`Cluster::corrupt_answers`]), a frame with the same correlation
    /// id whose body is one byte no version decodes.
    fn maybe_corrupt(&mut self, api: i16, corr: i32, out: BytesMut) -> Bytes {
        if !self.script.corrupt_answers.contains(&api) {
            return out.freeze();
        }
        self.note(|| format!("script: answer to api {api} corr {corr} corrupted"));
        let mut bad = BytesMut::with_capacity(9);
        bad.extend_from_slice(&5i32.to_be_bytes());
        bad.extend_from_slice(&corr.to_be_bytes());
        bad.extend_from_slice(&[0xff]);
        bad.freeze()
    }

    /// Hostile values in a Metadata answer: a huge or sparse partition index, a leader that
    /// is no broker, a throttle time.
    fn hostile_metadata(&mut self, resp: &mut MetadataResponse) {
        resp.throttle_time_ms = self.hostile_throttle();
        if !self.faults_active() {
            return; // a healed cluster (FaultConfig::heal) answers straight
        }
        let h = self.config.faults.hostile.clone();
        let with_parts: Vec<usize> = resp
            .topics
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.partitions.is_empty())
            .map(|(i, _)| i)
            .collect();
        if with_parts.is_empty() {
            return;
        }
        if h.partition_index_rate > 0.0 && self.rng.unit() < h.partition_index_rate {
            let t = with_parts[self.rng.below(with_parts.len() as u64) as usize];
            let topic = &mut resp.topics[t];
            let n = topic.partitions.len() as i32;
            if self.rng.below(2) == 0 {
                let mut extra = topic.partitions[0].clone();
                extra.partition_index = 2_147_483_646;
                topic.partitions.push(extra);
            } else if let Some(last) = topic.partitions.last_mut() {
                last.partition_index = n + 2;
            }
            self.stats.hostile_partition_indices += 1;
            let name = topic.name.clone();
            self.note(|| format!("hostile: partition index in metadata for {name}"));
        }
        if h.phantom_leader_rate > 0.0 && self.rng.unit() < h.phantom_leader_rate {
            let t = with_parts[self.rng.below(with_parts.len() as u64) as usize];
            let topic = &mut resp.topics[t];
            let p = self.rng.below(topic.partitions.len() as u64) as usize;
            let phantom = 1000 + self.rng.below(1000) as i32;
            topic.partitions[p].leader_id = phantom;
            topic.partitions[p].error_code = 0;
            self.stats.phantom_leaders += 1;
            let name = topic.name.clone();
            self.note(|| format!("hostile: leader {phantom} (no broker) for {name}-{p}"));
        }
    }
}

/// [`Verdict`] with the append a duplicate repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JudgedBatch {
    Append,
    /// Base offset and the index of the original append.
    Duplicate(i64, Option<usize>),
    Refuse(ErrorCode),
}

/// Where a Produce request came from and what it asked, for each of its partitions.
#[derive(Debug, Clone, Copy)]
struct ProduceAt {
    conn: ConnId,
    broker: i32,
    v: i16,
    corr: i32,
    acks: i16,
}

/// One partition's answer.
fn partition_response(index: i32, code: ErrorCode, base_offset: i64) -> ProducePartitionResponse {
    ProducePartitionResponse {
        index,
        error_code: code.0,
        base_offset,
        log_append_time_ms: -1,
        log_start_offset: if code.is_ok() { 0 } else { -1 },
        error_message: None,
        ..Default::default()
    }
}

/// What the recording keeps of one partition's batches (its `error_code` still to be set).
fn batch_summary(decoded: &[odradek_core::record::DecodedBatch]) -> Option<SeenBatch> {
    let first = decoded.first()?;
    Some(SeenBatch {
        producer_id: first.producer_id,
        epoch: first.producer_epoch,
        base_sequence: first.base_sequence,
        records: decoded.iter().map(|b| b.records.len()).sum(),
        error_code: 0,
        format: first.format,
    })
}

//! Topics: create them with Kafka's TopicCommand, wait until every node shows their leaders
//! (Metadata) and can answer ListOffsets for them, and read partition leaders and ISR.

use crate::cluster::KafkaCluster;
use crate::fetch::{java_tool, run};
use crate::read_back::record_tool;
use crate::{err, io_ctx, Error, Result};
use bytes::{BufMut, BytesMut};
use odradek_core::protocol::{
    self, DecodeError, FrameDecoder, MetadataRequest, Reader, Request, RequestHeader,
    ResponseHeader, WireWrite,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

impl KafkaCluster {
    /// Creates a topic with TopicCommand and waits until every node's metadata shows all its
    /// partitions with a leader. `configs` are topic configs such as `("max.message.bytes", "1000")`.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let mut cmd = java_tool(self.version, "org.apache.kafka.tools.TopicCommand");
        cmd.args([
            "--bootstrap-server",
            &self.bootstrap(),
            "--create",
            "--topic",
            name,
        ])
        .args(["--partitions", &partitions.to_string()])
        .args(["--replication-factor", &replication.to_string()]);
        for (k, v) in configs {
            cmd.args(["--config", &format!("{k}={v}")]);
        }
        run(&mut cmd, &format!("TopicCommand --create {name}"))?;
        self.wait_for_topic(name, partitions, Duration::from_secs(60))
    }

    /// Polls every node with a Metadata request until `topic` has `partitions` partitions,
    /// each with a leader and no error.
    pub fn wait_for_topic(&self, topic: &str, partitions: i32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for node in &self.nodes {
            loop {
                let last = match metadata_leaders(node.port, topic) {
                    Ok(leaders)
                        if leaders.len() == partitions as usize
                            && leaders.iter().all(|&(_, l)| l >= 0) =>
                    {
                        break
                    }
                    Ok(leaders) => format!("partitions/leaders so far: {leaders:?}"),
                    Err(e) => e.0,
                };
                if Instant::now() >= deadline {
                    return err(format!(
                        "topic {topic} not ready on node {} after {timeout:?}: {last}",
                        node.id
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Metadata can name a leader before that broker has taken leadership; a Produce then
        // gets NOT_LEADER_OR_FOLLOWER (with acks=0 the broker just drops the connection and
        // the records). ListOffsets answers only from the leader, so ask each one until it does.
        let leaders = metadata_leaders(self.nodes[0].port, topic)?;
        for node in &self.nodes {
            let mine: Vec<i32> = leaders
                .iter()
                .filter(|&&(_, l)| l == node.id as i32)
                .map(|&(p, _)| p)
                .collect();
            if mine.is_empty() {
                continue;
            }
            loop {
                let last = match list_offsets_errors(node.port, topic, &mine) {
                    Ok(errors) if errors.iter().all(|&(_, e)| e == 0) => break,
                    Ok(errors) => format!("ListOffsets errors {errors:?}"),
                    Err(e) => e.0,
                };
                if Instant::now() >= deadline {
                    return err(format!(
                        "topic {topic} not led by node {} after {timeout:?}: {last}",
                        node.id
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Creates many topics with one Admin request (one JVM instead of one TopicCommand per
    /// topic), then waits until each has a leader for every partition.
    pub fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        let mut cmd = record_tool(self.version)?;
        cmd.args(["create", &self.bootstrap()]);
        for t in topics {
            let configs: Vec<String> = t.configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            cmd.arg(format!(
                "{}:{}:{}:{}",
                t.name,
                t.partitions,
                t.replication,
                configs.join(",")
            ));
        }
        run(&mut cmd, "RecordTool create")?;
        for t in topics {
            self.wait_for_topic(&t.name, t.partitions, Duration::from_secs(60))?;
        }
        Ok(())
    }

    /// `topic`'s partitions (leader, replicas, ISR) as the first live node that answers a
    /// Metadata request sees them, skipping `except` (a node that is down or frozen).
    pub fn partitions(&self, topic: &str, except: Option<u32>) -> Result<Vec<PartitionInfo>> {
        let mut last = Error(format!("no node to ask about {topic}"));
        for node in self.nodes.iter().filter(|n| Some(n.id) != except) {
            match metadata_partitions(node.port, topic) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Waits until every partition of `topic` has a leader and all its replicas in the ISR,
    /// as seen by every node.
    pub fn wait_for_full_isr(&self, topic: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for node in &self.nodes {
            loop {
                let last = match metadata_partitions(node.port, topic) {
                    Ok(parts)
                        if !parts.is_empty()
                            && parts.iter().all(|p| {
                                p.leader >= 0
                                    && p.isr.len() == p.replicas.len()
                                    && p.replicas.iter().all(|r| p.isr.contains(r))
                            }) =>
                    {
                        break
                    }
                    Ok(parts) => format!("{parts:?}"),
                    Err(e) => e.0,
                };
                if Instant::now() >= deadline {
                    return err(format!(
                        "{topic}: ISR not full on node {} after {timeout:?}: {last}",
                        node.id
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }
}

/// A topic for [`KafkaCluster::create_topics`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor.
    pub replication: i16,
    /// Topic configs, e.g. `("max.message.bytes", "1000")`.
    pub configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// A topic with no extra configs.
    pub fn new(name: impl Into<String>, partitions: i32, replication: i16) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication,
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// One partition as a Metadata response describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub index: i32,
    /// Leader's node id; -1 when none (or the partition has an error).
    pub leader: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
}

/// `topic`'s partitions as `(partition, leader)`, sorted, as the broker on `127.0.0.1:port`
/// sees them; for waiting until a new topic is usable.
fn metadata_leaders(port: u16, topic: &str) -> Result<Vec<(i32, i32)>> {
    Ok(metadata_partitions(port, topic)?
        .into_iter()
        .map(|p| (p.index, p.leader))
        .collect())
}

/// The client id the harness's own requests carry.
const CLIENT_ID: &str = "odradek-harness";

/// The correlation id of the harness's requests (one request per connection).
const CORRELATION_ID: i32 = 7;

/// The largest response the harness accepts.
const MAX_RESPONSE: usize = 1 << 20;

/// Metadata v4 for one topic from `127.0.0.1:port` (encoded and decoded with odradek-core's
/// protocol codecs): its partitions, sorted by index. A partition with an error has leader -1.
pub fn metadata_partitions(port: u16, topic: &str) -> Result<Vec<PartitionInfo>> {
    const VERSION: i16 = 4;
    let header = RequestHeader {
        api_key: MetadataRequest::API_KEY,
        api_version: VERSION,
        correlation_id: CORRELATION_ID,
        client_id: Some(CLIENT_ID.into()),
    };
    let body = MetadataRequest {
        topics: Some(vec![topic.to_string()]),
        allow_auto_topic_creation: false,
    };
    let mut buf = BytesMut::new();
    protocol::encode_request(&header, &body, &mut buf);
    let frame = exchange(port, &buf, "Metadata")?;
    let (head, response) = protocol::decode_response::<MetadataRequest>(VERSION, &frame)
        .map_err(|e| Error(format!("decoding Metadata response: {e}")))?;
    check_correlation(head.correlation_id)?;
    let mut result = Vec::new();
    for t in response.topics.into_iter().filter(|t| t.name == topic) {
        if t.error_code != 0 {
            return err(format!("topic {topic}: error code {}", t.error_code));
        }
        result = t
            .partitions
            .into_iter()
            .map(|p| PartitionInfo {
                index: p.partition_index,
                leader: if p.error_code == 0 { p.leader_id } else { -1 },
                replicas: p.replica_nodes,
                isr: p.isr_nodes,
            })
            .collect();
    }
    result.sort_unstable_by_key(|p| p.index);
    Ok(result)
}

fn check_correlation(id: i32) -> Result<()> {
    if id != CORRELATION_ID {
        return err(format!(
            "response correlation id {id}, expected {CORRELATION_ID}"
        ));
    }
    Ok(())
}

/// Sends one complete request frame on a fresh connection to `127.0.0.1:port` and returns
/// the response frame (without its size prefix), split by odradek-core's [`FrameDecoder`].
fn exchange(port: u16, request: &[u8], what: &str) -> Result<Vec<u8>> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = io_ctx(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
        || format!("connecting to {addr}"),
    )?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    io_ctx(s.write_all(request), || format!("sending {what} request"))?;
    let mut frames = FrameDecoder::new(MAX_RESPONSE);
    let mut chunk = [0u8; 8192];
    loop {
        match frames.next_frame() {
            Ok(Some(frame)) => return Ok(frame.to_vec()),
            Ok(None) => {}
            Err(e) => return err(format!("{what} response: {e}")),
        }
        let n = io_ctx(s.read(&mut chunk), || format!("reading {what} response"))?;
        if n == 0 {
            return err(format!("{what} response: connection closed"));
        }
        frames.push(&chunk[..n]);
    }
}

/// ListOffsets v1 (latest offset) for `partitions` of `topic` from `127.0.0.1:port`: each
/// partition's error code.
///
/// odradek-core does not speak ListOffsets (a producer never sends it), so this is the one
/// message the harness encodes and reads itself, with the core's wire primitives
/// ([`WireWrite`], [`Reader`]) and headers. Request v1: `replica_id`, then topics (`name`,
/// partitions (`partition_index`, `timestamp`)). Response v1: topics (`name`, partitions
/// (`partition_index`, `error_code`, `timestamp`, `offset`)).
fn list_offsets_errors(port: u16, topic: &str, partitions: &[i32]) -> Result<Vec<(i32, i16)>> {
    const API_KEY: i16 = 2;
    const VERSION: i16 = 1;
    let mut buf = BytesMut::new();
    buf.put_i32(0); // size, filled in below
    let header = RequestHeader {
        api_key: API_KEY,
        api_version: VERSION,
        correlation_id: CORRELATION_ID,
        client_id: Some(CLIENT_ID.into()),
    };
    header.encode(false, &mut buf);
    buf.put_i32(-1); // replica_id: a client
    buf.put_i32(1); // topics: one
    buf.put_string(topic);
    buf.put_i32(partitions.len() as i32);
    for &p in partitions {
        buf.put_i32(p);
        buf.put_i64(-1); // latest
    }
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    let frame = exchange(port, &buf, "ListOffsets")?;
    read_list_offsets(&frame).map_err(|e| Error(format!("decoding ListOffsets response: {e}")))
}

/// Reads a ListOffsets v1 response frame (header v0, then the body): `(partition, error)`
/// for every partition of every topic in it.
fn read_list_offsets(frame: &[u8]) -> Result<Vec<(i32, i16)>> {
    let wire = |e: DecodeError| Error(e.to_string());
    let mut r = Reader::new(frame);
    let head = ResponseHeader::decode(false, &mut r).map_err(wire)?;
    check_correlation(head.correlation_id)?;
    let mut out = Vec::new();
    // Smallest encodings: a topic is a name length and an array length; a partition is
    // index, error, timestamp and offset.
    for _ in 0..r.array_len(6).map_err(wire)? {
        r.string().map_err(wire)?;
        for _ in 0..r.array_len(22).map_err(wire)? {
            let index = r.i32().map_err(wire)?;
            let error = r.i16().map_err(wire)?;
            r.skip(16, "timestamp and offset").map_err(wire)?;
            out.push((index, error));
        }
    }
    r.finish().map_err(wire)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ListOffsets v1 response frame: header, one topic with `partitions`.
    fn list_offsets_frame(correlation_id: i32, partitions: &[(i32, i16)]) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.put_i32(correlation_id);
        buf.put_i32(1);
        buf.put_string("t");
        buf.put_i32(partitions.len() as i32);
        for &(index, error) in partitions {
            buf.put_i32(index);
            buf.put_i16(error);
            buf.put_i64(-1); // timestamp
            buf.put_i64(42); // offset
        }
        buf
    }

    #[test]
    fn reads_list_offsets_errors() {
        let frame = list_offsets_frame(CORRELATION_ID, &[(0, 0), (1, 6)]);
        assert_eq!(read_list_offsets(&frame).unwrap(), vec![(0, 0), (1, 6)]);
    }

    #[test]
    fn refuses_bad_list_offsets_responses() {
        let frame = list_offsets_frame(CORRELATION_ID + 1, &[(0, 0)]);
        assert!(read_list_offsets(&frame).is_err(), "wrong correlation id");
        let frame = list_offsets_frame(CORRELATION_ID, &[(0, 0)]);
        for n in 0..frame.len() {
            assert!(read_list_offsets(&frame[..n]).is_err(), "truncated at {n}");
        }
        let mut long = frame.clone();
        long.push(0);
        assert!(read_list_offsets(&long).is_err(), "trailing byte");
    }
}

//! Produce requests written as vectored output: the framing (size prefix, request header,
//! the fields around each partition's records) goes into one small buffer, and each batch is
//! its own [`Bytes`] chunk, so batch bytes are never copied into the request. The chunks,
//! written back to back, are byte for byte what [`protocol::encode_request`](crate::protocol::encode_request) writes for the
//! same [`ProduceRequest`](crate::protocol::ProduceRequest) (tested below).

use super::connection::InFlightBatch;
use super::topic::TopicIdx;
use crate::protocol::{RequestHeader, WireWrite};
use bytes::{BufMut, Bytes, BytesMut};

/// First flexible Produce version (compact strings, tagged fields, header v2).
const FIRST_FLEXIBLE: i16 = 9;

/// Room [`produce_chunks`] makes in its framing buffer when it runs out: the framing of
/// many requests, so that the buffer is reclaimed (not reallocated) once their chunks are gone.
const FRAMING_BLOCK: usize = 8 << 10;

/// Writes a Produce request of `header.api_version` as chunks, appended to `out`, each
/// batch's encoded bytes shared with [`InFlightBatch::wire`] (which keeps them until the
/// response, so their buffer can be reused then). `batches` must be grouped by topic
/// (consecutive batches of one topic form one topic entry); `name` gives a topic index's
/// name. The framing is written into `framing` and split off it, leaving it empty: kept
/// from one request to the next, its allocation serves again once the chunks handed out
/// before are dropped.
pub(crate) fn produce_chunks<'a>(
    header: &RequestHeader,
    (transactional_id, acks): (Option<&str>, i16),
    timeout_ms: i32,
    batches: &mut [InFlightBatch],
    name: impl Fn(TopicIdx) -> &'a str,
    framing: &mut BytesMut,
    out: &mut Vec<Bytes>,
) {
    let version = header.api_version;
    let flexible = version >= FIRST_FLEXIBLE;
    let topics = batches
        .iter()
        .enumerate()
        .filter(|(i, b)| *i == 0 || batches[i - 1].partition.topic != b.partition.topic)
        .count();
    let client_id = header.client_id.as_ref().map_or(0, String::len);
    let names: usize = batches.iter().map(|b| name(b.partition.topic).len()).sum();
    let need = 40 + client_id + names + batches.len() * 16 + transactional_id.map_or(0, str::len);
    framing.clear();
    if framing.capacity() < need {
        framing.reserve(need.max(FRAMING_BLOCK));
    }
    framing.put_i32(0); // size, filled in below
    header.encode(flexible, framing);
    if version >= 3 {
        framing.put_nullable_string_flex(flexible, transactional_id);
    }
    framing.put_i16(acks);
    framing.put_i32(timeout_ms);
    framing.put_array_len_flex(flexible, topics);
    out.reserve(2 * batches.len() + 1);
    // The first chunk (size prefix and header) stays mutable until the size is known.
    let mut first: Option<BytesMut> = None;
    let first_at = out.len();
    let mut size = 0usize;
    let mut i = 0;
    while i < batches.len() {
        let topic = batches[i].partition.topic;
        let n = batches[i..]
            .iter()
            .take_while(|b| b.partition.topic == topic)
            .count();
        framing.put_string_flex(flexible, name(topic));
        framing.put_array_len_flex(flexible, n);
        for b in &mut batches[i..i + n] {
            let records = b.wire.clone();
            framing.put_i32(b.partition.number());
            let len = records.len();
            if flexible {
                framing.put_uvarint(len.min(u32::MAX as usize - 1) as u32 + 1);
            } else {
                framing.put_i32(len.min(i32::MAX as usize) as i32);
            }
            // Framing so far becomes its own chunk (sharing `framing`'s allocation).
            let chunk = framing.split();
            size += chunk.len() + len;
            match first {
                None => {
                    first = Some(chunk);
                    out.push(Bytes::new()); // replaced below
                }
                Some(_) => out.push(chunk.freeze()),
            }
            if len > 0 {
                out.push(records);
            }
            framing.put_tagged_fields_flex(flexible);
        }
        framing.put_tagged_fields_flex(flexible);
        i += n;
    }
    framing.put_tagged_fields_flex(flexible);
    size += framing.len();
    let mut first = match first {
        Some(f) => {
            if !framing.is_empty() {
                out.push(framing.split().freeze());
            }
            f
        }
        None => {
            out.push(Bytes::new());
            framing.split()
        }
    };
    let size = size - 4;
    first[..4].copy_from_slice(&(size.min(i32::MAX as usize) as i32).to_be_bytes());
    out[first_at] = first.freeze();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::PartitionRef;
    use crate::protocol::{self, api_key, ProducePartitionData, ProduceRequest, ProduceTopicData};

    fn header(version: i16) -> RequestHeader {
        RequestHeader {
            api_key: api_key::PRODUCE,
            api_version: version,
            correlation_id: 77,
            client_id: Some("odradek-test".to_owned()),
        }
    }

    #[test]
    fn chunks_are_the_same_bytes_as_the_codec_writes() {
        let b = |n: usize, fill: u8| Bytes::from(vec![fill; n]);
        let names = ["a", "bb", "c"];
        let parts = [
            (0, 0, b(70, 1)),
            (0, 3, b(200, 2)),
            (1, 1, b(0, 0)),
            (2, 9, b(5, 3)),
        ];
        // One framing buffer for every request, as the core keeps it.
        let mut framing = BytesMut::new();
        for version in 0..=12 {
            let mut batches: Vec<InFlightBatch> = parts
                .iter()
                .map(|(t, p, wire)| InFlightBatch {
                    partition: PartitionRef {
                        topic: TopicIdx(*t),
                        index: *p,
                    },
                    records: Vec::new(),
                    enc: None,
                    wire: wire.clone(),
                    stamp: None,
                })
                .collect();
            let mut chunks = Vec::new();
            produce_chunks(
                &header(version),
                (None, -1),
                30_000,
                &mut batches,
                |t| names[t.0],
                &mut framing,
                &mut chunks,
            );
            let got: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            let mut topics: Vec<ProduceTopicData> = Vec::new();
            for (t, p, records) in &parts {
                let data = ProducePartitionData {
                    index: *p as i32,
                    records: records.clone(),
                };
                match topics.last_mut().filter(|td| td.name == names[*t]) {
                    Some(td) => td.partitions.push(data),
                    None => topics.push(ProduceTopicData {
                        name: names[*t].to_owned(),
                        partitions: vec![data],
                    }),
                }
            }
            let body = ProduceRequest {
                transactional_id: None,
                acks: -1,
                timeout_ms: 30_000,
                topics,
            };
            let mut want = BytesMut::new();
            protocol::encode_request(&header(version), &body, &mut want);
            assert_eq!(got, &want[..], "Produce v{version}");
            // The batches are their own chunks, shared, not copied; each batch keeps its bytes.
            assert!(chunks.iter().any(|c| c.as_ptr() == parts[1].2.as_ptr()));
            assert_eq!(batches[1].wire.as_ptr(), parts[1].2.as_ptr());
            assert!(framing.is_empty(), "all framing handed out");
        }
    }

    #[test]
    fn a_request_without_batches_is_still_well_framed() {
        let mut chunks = Vec::new();
        let mut framing = BytesMut::new();
        produce_chunks(
            &header(9),
            (None, 1),
            5,
            &mut [],
            |_| "",
            &mut framing,
            &mut chunks,
        );
        let got: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let body = ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 5,
            topics: vec![],
        };
        let mut want = BytesMut::new();
        protocol::encode_request(&header(9), &body, &mut want);
        assert_eq!(got, &want[..]);
    }
}

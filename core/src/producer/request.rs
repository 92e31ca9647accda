//! Produce requests written as vectored output: the framing (size prefix, request header,
//! the fields around each partition's records) goes into one small buffer, and each batch is
//! its own [`Bytes`] chunk, so batch bytes are never copied into the request. The chunks,
//! written back to back, are byte for byte what [`protocol::encode_request`] writes for the
//! same [`ProduceRequest`](crate::protocol::ProduceRequest) (tested below).

use crate::protocol::{RequestHeader, WireWrite};
use bytes::{BufMut, Bytes, BytesMut};

/// First flexible Produce version (compact strings, tagged fields, header v2).
const FIRST_FLEXIBLE: i16 = 9;

/// One partition's encoded records, for [`produce_chunks`].
pub(crate) struct PartitionChunk<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub records: Bytes,
}

/// Writes a Produce request of `header.api_version` as chunks, appended to `out`. `parts`
/// must be grouped by topic (consecutive entries of one topic form one topic entry).
pub(crate) fn produce_chunks(
    header: &RequestHeader,
    acks: i16,
    timeout_ms: i32,
    parts: &[PartitionChunk<'_>],
    out: &mut Vec<Bytes>,
) {
    let version = header.api_version;
    let flexible = version >= FIRST_FLEXIBLE;
    let topics = parts
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || parts[i - 1].topic != p.topic)
        .count();
    let client_id = header.client_id.as_ref().map_or(0, String::len);
    let names: usize = parts.iter().map(|p| p.topic.len()).sum();
    let mut framing = BytesMut::with_capacity(40 + client_id + names + parts.len() * 16);
    framing.put_i32(0); // size, filled in below
    header.encode(flexible, &mut framing);
    if version >= 3 {
        framing.put_nullable_string_flex(flexible, None);
    }
    framing.put_i16(acks);
    framing.put_i32(timeout_ms);
    framing.put_array_len_flex(flexible, topics);
    // Where each batch goes between framing bytes: (framing offset, index into parts).
    let mut records_len = 0usize;
    let mut cuts: Vec<usize> = Vec::with_capacity(parts.len());
    let mut i = 0;
    while i < parts.len() {
        let topic = parts[i].topic;
        let n = parts[i..].iter().take_while(|p| p.topic == topic).count();
        framing.put_string_flex(flexible, topic);
        framing.put_array_len_flex(flexible, n);
        for p in &parts[i..i + n] {
            framing.put_i32(p.partition);
            let len = p.records.len();
            if flexible {
                framing.put_uvarint(len.min(u32::MAX as usize - 1) as u32 + 1);
            } else {
                framing.put_i32(len.min(i32::MAX as usize) as i32);
            }
            cuts.push(framing.len());
            records_len += len;
            framing.put_tagged_fields_flex(flexible);
        }
        framing.put_tagged_fields_flex(flexible);
        i += n;
    }
    framing.put_tagged_fields_flex(flexible);
    let size = framing.len() - 4 + records_len;
    framing[..4].copy_from_slice(&(size.min(i32::MAX as usize) as i32).to_be_bytes());
    let framing = framing.freeze();
    out.reserve(2 * parts.len() + 1);
    let mut from = 0;
    for (k, p) in parts.iter().enumerate() {
        let cut = cuts[k];
        out.push(framing.slice(from..cut));
        if !p.records.is_empty() {
            out.push(p.records.clone());
        }
        from = cut;
    }
    if from < framing.len() {
        out.push(framing.slice(from..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let parts = [
            PartitionChunk {
                topic: "a",
                partition: 0,
                records: b(70, 1),
            },
            PartitionChunk {
                topic: "a",
                partition: 3,
                records: b(200, 2),
            },
            PartitionChunk {
                topic: "bb",
                partition: 1,
                records: b(0, 0),
            },
            PartitionChunk {
                topic: "c",
                partition: 9,
                records: b(5, 3),
            },
        ];
        for version in 0..=12 {
            let mut chunks = Vec::new();
            produce_chunks(&header(version), -1, 30_000, &parts, &mut chunks);
            let got: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            let mut topics: Vec<ProduceTopicData> = Vec::new();
            for p in &parts {
                let data = ProducePartitionData {
                    index: p.partition,
                    records: p.records.clone(),
                };
                match topics.last_mut().filter(|t| t.name == p.topic) {
                    Some(t) => t.partitions.push(data),
                    None => topics.push(ProduceTopicData {
                        name: p.topic.to_owned(),
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
            // The batches are their own chunks, not copies.
            let ptr = |c: &Bytes| c.as_ptr();
            assert!(chunks.iter().any(|c| ptr(c) == ptr(&parts[1].records)));
        }
    }
}

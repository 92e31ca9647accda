//! Cross-checks RecordBatch v2 against an independent implementation, the `kafka-protocol`
//! crate (which reads and writes only magic 2): our batches, with every codec, decode there to
//! the same records, and its batches (its snappy is xerial-framed, its lz4 comes from the C
//! library) decode here.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use odradek_core::record::{decode_records, BatchBuilder, RecordFormat};
use odradek_core::{Compression, Header};

const PAIRS: [(Compression, KpCompression); 5] = [
    (Compression::None, KpCompression::None),
    (Compression::Gzip, KpCompression::Gzip),
    (Compression::Snappy, KpCompression::Snappy),
    (Compression::Lz4, KpCompression::Lz4),
    (Compression::Zstd, KpCompression::Zstd),
];

struct Rec {
    ts: i64,
    key: Option<&'static [u8]>,
    value: Option<Vec<u8>>,
    headers: Vec<(&'static str, Option<&'static [u8]>)>,
}

fn sample() -> Vec<Rec> {
    vec![
        Rec {
            ts: 1_700_000_000_000,
            key: Some(b"k0"),
            value: Some(b"v0".to_vec()),
            headers: vec![("a", Some(b"1")), ("b", None)],
        },
        Rec {
            ts: 1_699_999_000_000, // negative delta
            key: None,
            value: Some(Vec::new()),
            headers: vec![],
        },
        Rec {
            ts: 1_700_000_000_500,
            key: Some(b""),
            value: None,
            headers: vec![("", Some(b""))],
        },
        Rec {
            ts: 1_700_000_000_001,
            key: Some(b"big"),
            value: Some(b"0123456789".repeat(20_000)), // several lz4 blocks
            headers: vec![],
        },
    ]
}

fn ours(compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(RecordFormat::V2);
    for r in sample() {
        let headers: Vec<Header> = r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: (*k).to_string(),
                value: v.map(Bytes::from_static),
            })
            .collect();
        b.append(r.ts, r.key, r.value.as_deref(), &headers).unwrap();
    }
    b.finish(compression, None).unwrap()
}

fn theirs(compression: KpCompression) -> Bytes {
    let records: Vec<KpRecord> = sample()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut headers = kafka_protocol::indexmap::IndexMap::new();
            for (k, v) in &r.headers {
                headers.insert(StrBytes::from_static_str(k), v.map(Bytes::from_static));
            }
            KpRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // kafka-protocol batches records whose offset - sequence is constant; with
                // base sequence -1 the record at offset i carries -1 + i.
                sequence: i as i32 - 1,
                timestamp: r.ts,
                key: r.key.map(Bytes::from_static),
                value: r.value.map(Bytes::from),
                headers,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

#[test]
fn our_batches_decode_with_kafka_protocol() {
    for (ours_c, theirs_c) in PAIRS {
        let mut bytes = ours(ours_c);
        let sets = RecordBatchDecoder::decode_all(&mut bytes)
            .unwrap_or_else(|e| panic!("{ours_c:?}: {e}"));
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].version, 2);
        assert_eq!(sets[0].compression, theirs_c);
        let recs = &sets[0].records;
        let want = sample();
        assert_eq!(recs.len(), want.len());
        for (i, (got, want)) in recs.iter().zip(&want).enumerate() {
            assert_eq!(got.offset, i as i64, "{ours_c:?}");
            assert_eq!(got.timestamp, want.ts, "{ours_c:?}");
            assert_eq!(got.timestamp_type, TimestampType::Creation);
            assert_eq!((got.producer_id, got.producer_epoch), (-1, -1));
            assert_eq!(got.key.as_deref(), want.key, "{ours_c:?}");
            assert_eq!(got.value.as_deref(), want.value.as_deref(), "{ours_c:?}");
            let headers: Vec<(String, Option<Vec<u8>>)> = got
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
                .collect();
            let want_headers: Vec<(String, Option<Vec<u8>>)> = want
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
                .collect();
            assert_eq!(headers, want_headers, "{ours_c:?}");
        }
    }
}

#[test]
fn kafka_protocol_batches_decode_with_ours() {
    for (ours_c, theirs_c) in PAIRS {
        let bytes = theirs(theirs_c);
        let batches =
            decode_records(&bytes, 16 << 20).unwrap_or_else(|e| panic!("{ours_c:?}: {e}"));
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.compression, ours_c);
        let want = sample();
        assert_eq!(batch.records.len(), want.len());
        for (i, (got, want)) in batch.records.iter().zip(&want).enumerate() {
            assert_eq!(batch.base_offset + got.offset_delta, i as i64);
            assert_eq!(got.timestamp, want.ts, "{ours_c:?}");
            assert_eq!(got.key.as_deref(), want.key);
            assert_eq!(got.value.as_deref(), want.value.as_deref());
            let headers: Vec<(&str, Option<&[u8]>)> = got
                .headers
                .iter()
                .map(|h| (h.key.as_str(), h.value.as_deref()))
                .collect();
            assert_eq!(headers, want.headers);
        }
    }
}

#[test]
fn uncompressed_batches_are_byte_identical() {
    // Same records, same header fields: the two encoders agree byte for byte once the
    // base timestamp is the same. kafka-protocol takes the minimum timestamp as the base and
    // we take the first record's, so compare on records in timestamp order.
    let mut b = BatchBuilder::new(RecordFormat::V2);
    b.append(10, Some(b"k"), Some(b"v"), &[Header::new("h", "x")])
        .unwrap();
    b.append(20, None, None, &[]).unwrap();
    let ours = b.finish(Compression::None, None).unwrap();
    let mut headers = kafka_protocol::indexmap::IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("h"),
        Some(Bytes::from_static(b"x")),
    );
    let base = KpRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 10,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers,
    };
    let second = KpRecord {
        offset: 1,
        sequence: 0,
        timestamp: 20,
        key: None,
        value: None,
        headers: Default::default(),
        ..base.clone()
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&base, &second],
        &RecordEncodeOptions {
            version: 2,
            compression: KpCompression::None,
        },
    )
    .unwrap();
    assert_eq!(&ours[..], &buf[..]);
}

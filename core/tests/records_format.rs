//! Record formats: golden bytes (computed independently, with Python's struct/zlib and a
//! bitwise CRC-32C), round trips for every format and codec, CRC and truncation checks, and
//! fuzzing with random and mutated-but-CRC-fixed bytes.

use bytes::Bytes;
use odradek_core::record::{
    decode_fetched_records, decode_records, BatchBuilder, DecodedBatch, ProducerFields,
    RecordError, RecordFormat,
};
use odradek_core::{Compression, Header};

const CODECS: [Compression; 5] = Compression::ALL;
const FORMATS: [RecordFormat; 3] = [RecordFormat::V0, RecordFormat::V1, RecordFormat::V2];
const LIMIT: usize = 16 << 20;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One test record: timestamp, key, value, headers.
type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

fn sample(format: RecordFormat) -> Vec<Rec> {
    let headers = |hs: Vec<Header>| {
        if format == RecordFormat::V2 {
            hs
        } else {
            Vec::new()
        }
    };
    vec![
        (
            1_700_000_000_000,
            Some(b"key-0".to_vec()),
            Some(b"value zero".to_vec()),
            headers(vec![
                Header::new("trace", "abc"),
                Header {
                    key: "null-valued".into(),
                    value: None,
                },
                Header::new("", ""),
            ]),
        ),
        (
            1_699_999_999_000,
            None,
            Some(b"negative delta".to_vec()),
            vec![],
        ),
        (
            1_700_000_005_000,
            Some(Vec::new()),
            Some(Vec::new()),
            vec![],
        ),
        (1_700_000_000_001, Some(b"tombstone".to_vec()), None, vec![]),
        (
            1_700_000_000_002,
            None,
            None,
            headers(vec![Header::new("h", "x")]),
        ),
        (
            1_700_000_000_003,
            Some(vec![0xAB; 300]),
            Some(b"repeat ".repeat(500)),
            vec![],
        ),
    ]
}

fn build(format: RecordFormat, recs: &[Rec], compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(format);
    append_all(&mut b, recs);
    b.finish(compression, None).unwrap()
}

fn append_all(b: &mut BatchBuilder, recs: &[Rec]) {
    for (ts, k, v, hs) in recs {
        b.append(*ts, k.as_deref(), v.as_deref(), hs).unwrap();
    }
    assert_eq!(b.len(), recs.len());
}

fn check_decoded(batch: &DecodedBatch, format: RecordFormat, recs: &[Rec]) {
    assert_eq!(batch.format, format);
    assert_eq!(batch.records.len(), recs.len());
    for (i, (r, (ts, k, v, hs))) in batch.records.iter().zip(recs).enumerate() {
        assert_eq!(r.offset_delta, i as i64);
        let want_ts = if format == RecordFormat::V0 { -1 } else { *ts };
        assert_eq!(r.timestamp, want_ts, "record {i}");
        assert_eq!(r.key.as_deref(), k.as_deref(), "record {i}");
        assert_eq!(r.value.as_deref(), v.as_deref(), "record {i}");
        assert_eq!(&r.headers, hs, "record {i}");
    }
}

#[test]
fn golden_v2_batch() {
    // Two records: (ts 1000, "k", "v", header h=x), (ts 999: delta -1, null key, empty value).
    let want = hex(
        "000000000000000000000045ffffffff0281e63e9d00000000000100000000000003e8000000000000\
         03e8ffffffffffffffffffffffffffff0000000218000000026b027602026802780c000102010000",
    );
    let mut b = BatchBuilder::new(RecordFormat::V2);
    b.append(1000, Some(b"k"), Some(b"v"), &[Header::new("h", "x")])
        .unwrap();
    b.append(999, None, Some(b""), &[]).unwrap();
    assert_eq!(b.size(), want.len());
    let got = b.finish(Compression::None, None).unwrap();
    assert_eq!(&got[..], &want[..]);
    let batches = decode_records(&got, LIMIT).unwrap();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(
        (
            batch.base_offset,
            batch.producer_id,
            batch.producer_epoch,
            batch.base_sequence
        ),
        (0, -1, -1, -1)
    );
    assert!(!batch.log_append_time);
    assert_eq!(batch.records[1].timestamp, 999);
    assert_eq!(batch.records[1].value.as_deref(), Some(&b""[..]));
}

#[test]
fn golden_v0_message_set() {
    let want = hex("0000000000000000000000101fecd70a0000000000016b0000000176\
         00000000000000010000000ea7ec68030000ffffffffffffffff");
    let mut b = BatchBuilder::new(RecordFormat::V0);
    b.append(123, Some(b"k"), Some(b"v"), &[]).unwrap();
    b.append(456, None, None, &[]).unwrap();
    assert_eq!(b.size(), want.len());
    let got = b.finish(Compression::None, None).unwrap();
    assert_eq!(&got[..], &want[..]);
    let batches = decode_records(&got, LIMIT).unwrap();
    assert_eq!(
        batches.len(),
        1,
        "consecutive uncompressed messages form one batch"
    );
    assert_eq!(batches[0].records[0].timestamp, -1);
    assert_eq!(batches[0].records[1].key, None);
    assert_eq!(batches[0].records[1].offset_delta, 1);
}

#[test]
fn golden_v1_message_set() {
    let want = hex("000000000000000000000019612526e0010000000000000003e8ffffffff00000003616263");
    let mut b = BatchBuilder::new(RecordFormat::V1);
    b.append(1000, None, Some(b"abc"), &[]).unwrap();
    let got = b.finish(Compression::None, None).unwrap();
    assert_eq!(&got[..], &want[..]);
    let batches = decode_records(&got, LIMIT).unwrap();
    assert_eq!(batches[0].records[0].timestamp, 1000);
    assert_eq!(batches[0].format, RecordFormat::V1);
}

#[test]
fn round_trip_every_format_and_codec() {
    for format in FORMATS {
        for codec in CODECS {
            if format != RecordFormat::V2 && codec == Compression::Zstd {
                continue;
            }
            let recs = sample(format);
            let bytes = build(format, &recs, codec);
            let batches = decode_records(&bytes, LIMIT)
                .unwrap_or_else(|e| panic!("{format:?} {codec:?}: {e}"));
            assert_eq!(batches.len(), 1, "{format:?} {codec:?}");
            assert_eq!(batches[0].compression, codec);
            assert_eq!(batches[0].base_offset, 0);
            check_decoded(&batches[0], format, &recs);
            if codec != Compression::None {
                // The repetitive record compresses.
                let plain = build(format, &recs, Compression::None);
                assert!(bytes.len() < plain.len(), "{format:?} {codec:?}");
            }
        }
    }
}

#[test]
fn several_batches_in_one_records_field() {
    for format in FORMATS {
        let recs = sample(format);
        let mut all = Vec::new();
        all.extend_from_slice(&build(format, &recs, Compression::Gzip));
        all.extend_from_slice(&build(format, &recs[..2], Compression::None));
        all.extend_from_slice(&build(format, &recs[2..], Compression::Snappy));
        let batches = decode_records(&all, LIMIT).unwrap();
        assert_eq!(batches.len(), 3, "{format:?}");
        check_decoded(&batches[0], format, &recs);
        check_decoded(&batches[1], format, &recs[..2]);
        check_decoded(&batches[2], format, &recs[2..]);
    }
}

#[test]
fn legacy_compressed_wrapper_follows_kip_31() {
    let recs = sample(RecordFormat::V1);
    let bytes = build(RecordFormat::V1, &recs, Compression::Gzip);
    // Wrapper offset = last inner relative offset; wrapper timestamp = max timestamp.
    assert_eq!(&bytes[..8], &(recs.len() as i64 - 1).to_be_bytes());
    assert_eq!(bytes[16], 1, "magic");
    assert_eq!(bytes[17], 1, "gzip attribute");
    let max_ts = recs.iter().map(|r| r.0).max().unwrap();
    assert_eq!(&bytes[18..26], &max_ts.to_be_bytes());
    assert_eq!(&bytes[26..30], &(-1i32).to_be_bytes(), "null key");
}

#[test]
fn producer_fields_are_written() {
    let mut b = BatchBuilder::new(RecordFormat::V2);
    b.append(5, None, Some(b"x"), &[]).unwrap();
    let fields = ProducerFields {
        producer_id: 77,
        producer_epoch: 3,
        base_sequence: 1000,
        transactional: false,
    };
    let bytes = b.finish_with(Compression::Lz4, None, fields).unwrap();
    let batch = &decode_records(&bytes, LIMIT).unwrap()[0];
    assert_eq!(
        (batch.producer_id, batch.producer_epoch, batch.base_sequence),
        (77, 3, 1000)
    );
}

#[test]
fn finish_reusing_writes_the_same_batch_into_a_used_buffer_and_hands_one_back() {
    for format in FORMATS {
        for codec in CODECS {
            if format != RecordFormat::V2 && codec == Compression::Zstd {
                continue;
            }
            let recs = sample(format);
            let want = build(format, &recs, codec);
            let mut b = BatchBuilder::with_capacity(format, 4096);
            append_all(&mut b, &recs);
            // A buffer that served an earlier batch: its old bytes must not leak in.
            let mut spare = bytes::BytesMut::with_capacity(8192);
            spare.extend_from_slice(&[0xEE; 3000]);
            let spare_ptr = spare.as_ptr();
            let (got, left) = b
                .finish_reusing(codec, None, ProducerFields::default(), spare)
                .unwrap();
            assert_eq!(got, want, "{format:?} {codec:?}");
            check_decoded(&decode_records(&got, LIMIT).unwrap()[0], format, &recs);
            assert!(left.is_empty(), "{format:?} {codec:?}: handed back empty");
            let compressed_v2 = format == RecordFormat::V2 && codec != Compression::None;
            assert_eq!(
                got.as_ptr() == spare_ptr,
                compressed_v2,
                "{format:?} {codec:?}: only a compressed v2 batch is written into the spare"
            );
            assert!(left.capacity() >= 4096 || !compressed_v2);
        }
    }
}

#[test]
fn legacy_limits_are_errors() {
    for format in [RecordFormat::V0, RecordFormat::V1] {
        let mut b = BatchBuilder::new(format);
        assert_eq!(
            b.append(1, None, Some(b"v"), &[Header::new("h", "v")]),
            Err(RecordError::HeadersNotSupported)
        );
        assert!(b.is_empty(), "nothing appended on error");
        b.append(1, None, Some(b"v"), &[]).unwrap();
        assert_eq!(
            b.finish(Compression::Zstd, None),
            Err(RecordError::CompressionNotSupported(Compression::Zstd))
        );
    }
}

#[test]
fn empty_builder_finishes_empty() {
    for format in FORMATS {
        let b = BatchBuilder::new(format);
        assert!(b.is_empty());
        let bytes = b.finish(Compression::Gzip, None).unwrap();
        assert!(bytes.is_empty());
        assert!(decode_records(&bytes, LIMIT).unwrap().is_empty());
    }
}

#[test]
fn sizes_and_bounds() {
    assert_eq!(BatchBuilder::overhead(RecordFormat::V2), 61);
    assert_eq!(BatchBuilder::overhead(RecordFormat::V0), 0);
    assert_eq!(BatchBuilder::compressed_overhead(RecordFormat::V0), 26);
    assert_eq!(BatchBuilder::compressed_overhead(RecordFormat::V1), 34);
    for format in FORMATS {
        let mut b = BatchBuilder::new(format);
        assert_eq!(b.size(), BatchBuilder::overhead(format));
        let mut recs = sample(format);
        // Extreme timestamp deltas: the bound must still hold.
        recs.push((i64::MIN / 2, None, Some(b"early".to_vec()), vec![]));
        recs.push((i64::MAX / 2, None, Some(b"late".to_vec()), vec![]));
        for (ts, k, v, hs) in &recs {
            let before = b.size();
            let bound = BatchBuilder::record_size_bound(format, k.as_deref(), v.as_deref(), hs);
            b.append(*ts, k.as_deref(), v.as_deref(), hs).unwrap();
            let added = b.size() - before;
            assert!(added <= bound, "{format:?}: added {added} > bound {bound}");
            if format != RecordFormat::V2 {
                assert_eq!(added, bound, "legacy bound is exact");
            } else {
                assert!(bound - added <= 15, "v2 bound is tight");
            }
        }
        let size = b.size();
        let bytes = b.finish(Compression::None, None).unwrap();
        assert_eq!(bytes.len(), size);
        check_decoded(&decode_records(&bytes, LIMIT).unwrap()[0], format, &recs);
    }
}

#[test]
fn reused_buffer_gives_the_same_bytes() {
    let recs = sample(RecordFormat::V2);
    let first = build(RecordFormat::V2, &recs, Compression::None);
    let mut dirty = bytes::BytesMut::with_capacity(4096);
    dirty.extend_from_slice(b"left over from the last batch");
    let mut b = BatchBuilder::with_buffer(RecordFormat::V2, dirty);
    for (ts, k, v, hs) in &recs {
        b.append(*ts, k.as_deref(), v.as_deref(), hs).unwrap();
    }
    assert_eq!(b.finish(Compression::None, None).unwrap(), first);
}

#[test]
fn any_corrupted_byte_in_a_checksummed_region_is_a_crc_error() {
    for codec in [Compression::None, Compression::Gzip] {
        let recs = sample(RecordFormat::V2);
        let bytes = build(RecordFormat::V2, &recs, codec);
        for i in 16..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x01;
            let got = decode_records(&bad, LIMIT);
            if i >= 17 {
                assert!(
                    matches!(got, Err(RecordError::Crc { .. })),
                    "byte {i}: {got:?}"
                );
            } else {
                assert!(got.is_err(), "magic byte");
            }
        }
    }
    for format in [RecordFormat::V0, RecordFormat::V1] {
        for codec in [Compression::None, Compression::Snappy] {
            // One message (or one wrapper): all of it from the magic on is checksummed.
            let recs = &sample(format)[..1];
            let bytes = build(format, recs, codec);
            for i in 16..bytes.len() {
                let mut bad = bytes.to_vec();
                bad[i] ^= 0x04;
                let got = decode_records(&bad, LIMIT);
                if i >= 17 {
                    assert!(
                        matches!(got, Err(RecordError::Crc { .. })),
                        "{format:?} {codec:?} byte {i}: {got:?}"
                    );
                } else {
                    assert!(got.is_err());
                }
            }
        }
    }
}

#[test]
fn truncation_is_an_error_for_produce_and_a_stop_for_fetch() {
    for format in FORMATS {
        let recs = sample(format);
        let one = build(format, &recs, Compression::Lz4);
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        for cut in 1..two.len() {
            let data = &two[..cut];
            if cut == one.len() {
                assert_eq!(decode_records(data, LIMIT).unwrap().len(), 1);
            } else {
                assert!(decode_records(data, LIMIT).is_err(), "{format:?} cut {cut}");
            }
            let (batches, trailing) = decode_fetched_records(data, LIMIT).unwrap();
            if cut < one.len() {
                assert!(batches.is_empty());
                assert_eq!(trailing, cut);
            } else {
                assert_eq!(batches.len(), 1);
                assert_eq!(trailing, cut - one.len());
                check_decoded(&batches[0], format, &recs);
            }
        }
    }
}

#[test]
fn decompression_limit_applies() {
    let recs = sample(RecordFormat::V2);
    let bytes = build(RecordFormat::V2, &recs, Compression::Zstd);
    let plain = build(RecordFormat::V2, &recs, Compression::None);
    let records_len = plain.len() - 61;
    assert!(decode_records(&bytes, records_len).is_ok());
    assert!(matches!(
        decode_records(&bytes, records_len - 1),
        Err(RecordError::Compression(_))
    ));
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x1234_5678);
    for round in 0..3_000 {
        let len = (rng.next() % 200) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len > 17 {
            // Make the framing plausible so decoding gets further.
            data[8..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
            data[16] = (round % 3) as u8;
        }
        let _ = decode_records(&data, 1 << 16);
        let _ = decode_fetched_records(&data, 1 << 16);
    }
}

/// Mutates bytes inside valid batches and then repairs the checksum, so the decoder has to
/// survive malformed lengths, varints and compressed data behind a good CRC.
#[test]
fn mutated_batches_with_repaired_crcs_never_panic() {
    let mut rng = XorShift(42);
    for format in FORMATS {
        for codec in CODECS {
            if format != RecordFormat::V2 && codec == Compression::Zstd {
                continue;
            }
            let recs = sample(format);
            let good = build(format, &recs, codec);
            let crc_start = if format == RecordFormat::V2 { 21 } else { 16 };
            for _ in 0..300 {
                let mut bad = good.to_vec();
                for _ in 0..1 + rng.next() % 4 {
                    let i = crc_start + (rng.next() as usize) % (bad.len() - crc_start);
                    bad[i] = rng.next() as u8;
                }
                if format == RecordFormat::V2 {
                    let crc = crc32c::crc32c(&bad[21..]);
                    bad[17..21].copy_from_slice(&crc.to_be_bytes());
                } else {
                    bad[16] = if format == RecordFormat::V0 { 0 } else { 1 };
                    let crc = crc32fast::hash(&bad[16..]);
                    bad[12..16].copy_from_slice(&crc.to_be_bytes());
                }
                let _ = decode_records(&bad, 1 << 20);
            }
        }
    }
}

//! BatchBuilder in every format and codec: arbitrary records encode and decode back to the
//! same keys, values, headers, timestamps and producer fields. Then the batch is edited (bytes
//! flipped, cut short) and, optionally, its checksums put right again so the edit reaches the
//! decompressor and the record parser: decoding must not panic and stays bounded.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use odradek_core::record::{
    decode_records, BatchBuilder, ProducerFields, RecordError, RecordFormat,
};
use odradek_core::{Compression, Header};
use odradek_fuzz::{peak_during, records_budget};

#[derive(Debug, Arbitrary)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    format: u8,
    codec: u8,
    level: Option<i8>,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    records: Vec<Rec>,
    edits: Vec<(u16, u8)>,
    cut: Option<u16>,
    fix_crc: bool,
}

const CODECS: [Compression; 5] = Compression::ALL;

const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let format =
        [RecordFormat::V0, RecordFormat::V1, RecordFormat::V2][usize::from(input.format % 3)];
    let codec = CODECS[usize::from(input.codec) % CODECS.len()];
    let level = input
        .level
        .map(i32::from)
        .filter(|&l| codec.check_level(l).is_ok());
    let producer = ProducerFields {
        producer_id: input.producer_id,
        producer_epoch: input.producer_epoch,
        base_sequence: input.base_sequence,
        transactional: input.transactional,
    };
    let mut b = BatchBuilder::new(format);
    let mut kept = Vec::new();
    for r in &input.records {
        let headers: Vec<Header> = r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k.clone(),
                value: v.clone().map(Into::into),
            })
            .collect();
        match b.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers) {
            Ok(()) => kept.push((r, headers)),
            Err(RecordError::HeadersNotSupported) => {
                assert!(format != RecordFormat::V2 && !headers.is_empty())
            }
            Err(e) => panic!("append failed: {e}"),
        }
    }
    let bytes = match b.finish_with(codec, level, producer) {
        Ok(bytes) => bytes,
        Err(RecordError::CompressionNotSupported(c)) => {
            assert!(c == Compression::Zstd && format != RecordFormat::V2);
            return;
        }
        Err(e) => panic!("finish failed: {e}"),
    };
    let decoded = decode_records(&bytes, usize::MAX).expect("our own batch decodes");
    let got: Vec<_> = decoded.iter().flat_map(|b| &b.records).collect();
    assert_eq!(got.len(), kept.len(), "record count");
    for (i, (d, (r, headers))) in got.iter().zip(&kept).enumerate() {
        assert_eq!(d.key.as_deref(), r.key.as_deref(), "key of #{i}");
        assert_eq!(d.value.as_deref(), r.value.as_deref(), "value of #{i}");
        assert_eq!(&d.headers, headers, "headers of #{i}");
        let ts = if format == RecordFormat::V0 {
            -1
        } else {
            r.timestamp
        };
        assert_eq!(d.timestamp, ts, "timestamp of #{i}");
    }
    for d in &decoded {
        assert_eq!(d.format, format);
        if format == RecordFormat::V2 {
            assert_eq!(d.compression, codec);
            assert_eq!(
                (d.producer_id, d.producer_epoch, d.base_sequence),
                (
                    producer.producer_id,
                    producer.producer_epoch,
                    producer.base_sequence
                )
            );
            assert_eq!(d.records.first().map(|r| r.offset_delta), Some(0));
        }
    }

    // Now hostile: edit, cut, and maybe put the checksums right again.
    let mut edited = bytes.to_vec();
    for &(at, x) in &input.edits {
        if !edited.is_empty() {
            let at = usize::from(at) % edited.len();
            edited[at] ^= x;
        }
    }
    if let Some(cut) = input.cut {
        edited.truncate(usize::from(cut));
    }
    if input.fix_crc {
        fix_checksums(&mut edited);
    }
    let (_, peak) = peak_during(|| decode_records(&edited, LIMIT));
    assert!(
        peak <= records_budget(edited.len(), LIMIT),
        "{peak} bytes held"
    );
});

/// Recomputes the checksum of every whole batch or message in `data` whose framing is readable.
fn fix_checksums(data: &mut [u8]) {
    let mut pos = 0;
    while data.len() >= pos + 17 {
        let size = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap());
        let Ok(size) = usize::try_from(size) else {
            return;
        };
        let end = pos + 12 + size;
        if end > data.len() {
            return;
        }
        match data[pos + 16] {
            2 if size >= 9 => {
                let crc = crc32c::crc32c(&data[pos + 21..end]);
                data[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
            }
            0 | 1 if size >= 4 => {
                let crc = crc32fast::hash(&data[pos + 16..end]);
                data[pos + 12..pos + 16].copy_from_slice(&crc.to_be_bytes());
            }
            _ => return,
        }
        pos = end;
    }
}

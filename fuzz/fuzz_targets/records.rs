//! Record batches as the simulator reads them from a Produce request (RecordBatch v2 and the
//! legacy MessageSet v0/v1, mixed, compressed with any codec) from arbitrary bytes: no panic,
//! allocation bounded by the decompression limit per batch, and what decodes survives being
//! built again by BatchBuilder and read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odradek_core::record::{decode_fetched_records, decode_records, BatchBuilder, RecordFormat};
use odradek_core::Compression;
use odradek_fuzz::{peak_during, records_budget};

const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let (fetched, peak) = peak_during(|| decode_fetched_records(data, LIMIT));
    assert!(
        peak <= records_budget(data.len(), LIMIT),
        "{peak} bytes held"
    );
    let whole = decode_records(data, LIMIT);
    let batches = match (fetched, whole) {
        (Ok((batches, 0)), Ok(whole)) => {
            assert_eq!(batches, whole);
            batches
        }
        (Ok((_, trailing)), Err(_)) => {
            assert!(
                trailing > 0,
                "decode_records failed where the fetch reader did not"
            );
            return;
        }
        (Ok(_), Ok(_)) => panic!("a partial batch at the end was accepted"),
        (Err(_), Ok(_)) => panic!("the fetch reader failed where decode_records did not"),
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            return;
        }
    };
    for b in batches {
        let mut builder = BatchBuilder::new(b.format);
        for r in &b.records {
            builder
                .append(
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &r.headers,
                )
                .expect("a decoded record can be appended again");
        }
        let codec = if b.format != RecordFormat::V2 && b.compression == Compression::Zstd {
            Compression::None
        } else {
            b.compression
        };
        let bytes = builder.finish(codec, None).expect("rebuilt");
        let again = decode_records(&bytes, usize::MAX).expect("our own batch decodes");
        let records = |bs: &[odradek_core::record::DecodedBatch]| {
            bs.iter()
                .flat_map(|b| &b.records)
                .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(records(&again), records(std::slice::from_ref(&b)));
    }
});

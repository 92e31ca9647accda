//! Every codec's decompressor on arbitrary bytes with an arbitrary output limit: no panic,
//! never more output than the limit, bounded allocation; and every compressor at every level
//! it accepts round-trips the input.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use odradek_core::compression::CompressionError;
use odradek_core::Compression;
use odradek_fuzz::{decompress_budget, peak_during};

#[derive(Debug, Arbitrary)]
struct Input {
    codec: u8,
    limit: u16,
    level: Option<i8>,
    data: Vec<u8>,
}

const CODECS: [Compression; 5] = Compression::ALL;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let codec = CODECS[usize::from(input.codec) % CODECS.len()];
    // Limits up to 4 MiB, fine-grained at the small end.
    let limit = usize::from(input.limit) * (1 + usize::from(input.codec >> 4) * 4);
    let (out, peak) = peak_during(|| codec.decompress(&input.data, limit));
    assert!(
        peak <= decompress_budget(input.data.len(), limit),
        "{codec:?}: {peak} bytes held decompressing {} bytes with a limit of {limit}",
        input.data.len()
    );
    match out {
        Ok(out) => assert!(out.len() <= limit, "{codec:?}: {} bytes > limit", out.len()),
        Err(CompressionError::TooLarge { limit: l }) => assert_eq!(l, limit),
        Err(CompressionError::Corrupt { codec: c, .. }) => assert_eq!(c, codec),
        Err(CompressionError::Unknown(_)) => panic!("a known codec reported unknown"),
    }

    // Compress and read back.
    let level = input.level.map(i32::from);
    if let Some(l) = level {
        if codec.check_level(l).is_err() {
            return;
        }
    }
    let mut packed = Vec::new();
    codec
        .compress(level, &input.data, &mut packed)
        .unwrap_or_else(|e| panic!("{codec:?} level {level:?} failed to compress: {e}"));
    let back = codec
        .decompress(&packed, input.data.len())
        .unwrap_or_else(|e| panic!("{codec:?} level {level:?}: our output does not decode: {e}"));
    assert!(
        back == input.data,
        "{codec:?} level {level:?}: round trip changed the data"
    );
});

//! lz4: levels as the Java client maps them, and the frame reader on frames written by others
//! and on malformed ones.

use super::lz4_frame::{LZ4_BLOCK_MAX, LZ4_FRAME_HEADER};
use super::*;
use std::io::Write;

/// JSON-like text that compresses, `n` bytes.
fn text(n: usize) -> Vec<u8> {
    let mut t = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while t.len() < n {
        t.extend_from_slice(
            format!("{{\"id\":{i},\"user\":\"u{}\",\"ok\":true}} ", i * 7 % 1000).as_bytes(),
        );
        i += 1;
    }
    t.truncate(n);
    t
}

fn lz4(level: Option<i32>, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compression::Lz4.compress(level, input, &mut out).unwrap();
    out
}

/// The one block of a single-block frame `frame` we wrote (header, size word, block, end mark).
fn only_block(frame: &[u8]) -> &[u8] {
    let word = u32::from_le_bytes(frame[7..11].try_into().unwrap());
    assert_eq!(word & 0x8000_0000, 0, "compressed, not raw");
    let block = &frame[11..11 + word as usize];
    assert_eq!(frame[11 + word as usize..], [0, 0, 0, 0], "end mark");
    block
}

#[test]
fn level_9_is_the_fast_compressor_and_others_are_lz4_hc_at_that_level() {
    let input = text(30_000);
    // The Java default: LZ4's fast compressor, the bytes LZ4_compress_default writes.
    let fast = lz4(None, &input);
    assert_eq!(fast, lz4(Some(LZ4_DEFAULT_LEVEL), &input));
    let reference = lz4::block::compress(&input, None, false).unwrap();
    assert_eq!(only_block(&fast), &reference[..]);
    // Any other level: LZ4-HC at that level, block for block what liblz4 writes.
    for level in [1, 4, 8, 10, 12, 17] {
        let frame = lz4(Some(level), &input);
        assert_eq!(frame[..7], LZ4_FRAME_HEADER, "level {level}");
        let hc = lz4::block::compress(
            &input,
            Some(lz4::block::CompressionMode::HIGHCOMPRESSION(level)),
            false,
        )
        .unwrap();
        assert_eq!(only_block(&frame), &hc[..], "level {level}");
        assert_eq!(
            Compression::Lz4.decompress(&frame, input.len()).unwrap(),
            input
        );
    }
    // LZ4-HC's top levels compress these records harder than the fast compressor; above 12
    // is 12 (liblz4's maximum), in Java as here.
    assert!(lz4(Some(12), &input).len() < fast.len());
    assert_eq!(lz4(Some(17), &input), lz4(Some(12), &input));
}

#[test]
fn the_level_from_the_config_reaches_the_frames() {
    let input = text(20_000);
    let level_of = |pairs: &[(&str, &str)]| {
        let mut pairs = pairs.to_vec();
        pairs.push(("compression.type", "lz4"));
        crate::Config::from_properties(pairs)
            .unwrap()
            .effective_compression_level()
    };
    assert_eq!(level_of(&[]), Some(LZ4_DEFAULT_LEVEL));
    let hc = level_of(&[("compression.lz4.level", "12")]);
    assert_eq!(hc, Some(12));
    assert_eq!(lz4(hc, &input), lz4(Some(12), &input));
    assert_ne!(lz4(hc, &input), lz4(level_of(&[]), &input));
    // Out of range: a typed config error naming the key.
    assert!(matches!(
        crate::Config::from_properties([("compression.lz4.level", "18")]),
        Err(crate::ConfigError::BadValue { ref key, .. }) if key == "compression.lz4.level"
    ));
}

#[test]
fn frames_from_liblz4s_frame_encoder_decode_with_any_block_size_and_checksums() {
    let input = text(600_000);
    for (size, block_checksum, content_checksum) in [
        (lz4::BlockSize::Max64KB, false, false),
        (lz4::BlockSize::Max256KB, true, false),
        (lz4::BlockSize::Max1MB, false, true),
        (lz4::BlockSize::Max4MB, true, true),
    ] {
        let mut enc = lz4::EncoderBuilder::new()
            .block_size(size.clone())
            .block_mode(lz4::BlockMode::Independent)
            .block_checksum(if block_checksum {
                lz4::liblz4::BlockChecksum::BlockChecksumEnabled
            } else {
                lz4::liblz4::BlockChecksum::NoBlockChecksum
            })
            .checksum(if content_checksum {
                lz4::ContentChecksum::ChecksumEnabled
            } else {
                lz4::ContentChecksum::NoChecksum
            })
            .build(Vec::new())
            .unwrap();
        enc.write_all(&input).unwrap();
        let (frame, done) = enc.finish();
        done.unwrap();
        let what =
            format!("{size:?} block checksum {block_checksum} content checksum {content_checksum}");
        assert_eq!(
            Compression::Lz4.decompress(&frame, input.len()).unwrap(),
            input,
            "{what}"
        );
        assert_eq!(
            Compression::Lz4.decompress(&frame, input.len() - 1),
            Err(CompressionError::TooLarge {
                limit: input.len() - 1
            }),
            "{what}"
        );
        // Two frames back to back read as one stream.
        let two = [frame.clone(), frame].concat();
        assert_eq!(
            Compression::Lz4
                .decompress(&two, 2 * input.len())
                .unwrap()
                .len(),
            2 * input.len()
        );
    }
}

#[test]
fn dependent_blocks_and_bad_headers_are_refused() {
    let input = text(200_000);
    let mut enc = lz4::EncoderBuilder::new()
        .block_mode(lz4::BlockMode::Linked)
        .build(Vec::new())
        .unwrap();
    enc.write_all(&input).unwrap();
    let (linked, done) = enc.finish();
    done.unwrap();
    let refused = |frame: &[u8], why: &str| match Compression::Lz4.decompress(frame, 1 << 20) {
        Err(CompressionError::Corrupt {
            codec: Compression::Lz4,
            reason,
        }) => {
            assert!(reason.contains(why), "{reason:?} should say {why:?}")
        }
        other => panic!("{why}: {other:?}"),
    };
    refused(&linked, "dependent lz4 blocks");
    let ours = lz4(None, &input);
    let with = |at: usize, byte: u8| {
        let mut f = ours.clone();
        f[at] = byte;
        f
    };
    refused(&with(0, 0x05), "bad magic");
    refused(&with(4, 0x20), "version");
    refused(&with(5, 0x30), "block size"); // 3 is no block size
                                           // A size word past the frame's 64 KiB blocks.
    let mut big = ours[..7].to_vec();
    big.extend_from_slice(&(LZ4_BLOCK_MAX as u32 + 1).to_le_bytes());
    big.extend_from_slice(&vec![0; LZ4_BLOCK_MAX + 1]);
    big.extend_from_slice(&[0; 4]);
    refused(&big, "larger than the frame's block size");
    // Trailing bytes that are not a frame.
    refused(
        &[ours.clone(), vec![1, 2, 3, 4, 5, 6, 7]].concat(),
        "bad magic",
    );
}

#[test]
fn malformed_blocks_are_corrupt_and_never_grow_the_output_past_the_limit() {
    let input = text(50_000);
    let frame = lz4(None, &input);
    let block = only_block(&frame).to_vec();
    let reframe = |block: &[u8]| {
        let mut f = LZ4_FRAME_HEADER.to_vec();
        f.extend_from_slice(&(block.len() as u32).to_le_bytes());
        f.extend_from_slice(block);
        f.extend_from_slice(&[0; 4]);
        f
    };
    assert_eq!(
        Compression::Lz4
            .decompress(&reframe(&block), input.len())
            .unwrap(),
        input
    );
    let corrupt = |b: &[u8]| {
        assert!(
            matches!(
                Compression::Lz4.decompress(&reframe(b), 1 << 20),
                Err(CompressionError::Corrupt { .. })
            ),
            "{} bytes",
            b.len()
        )
    };
    // Cut anywhere inside: either a sequence is truncated or the last one has a match.
    for cut in [1, 2, block.len() / 3, block.len() / 2, block.len() - 1] {
        corrupt(&block[..cut]);
    }
    // A match before the start of the output (offset 0 and offset past what was written).
    corrupt(&[0x10, b'a', 0, 0, 0x00]);
    corrupt(&[0x10, b'a', 2, 0, 0x00]);
    // A literal run longer than the block.
    corrupt(&[0xF0, 255, 255, 10, b'a']);
    // A block that claims more output than the 64 KiB a block holds: a 1-byte literal, then
    // a match of 70 000 bytes at offset 1.
    let mut long = vec![0x1F, b'a', 1, 0];
    long.extend(std::iter::repeat_n(255, 70_000 / 255));
    long.extend_from_slice(&[0, 0x10, b'z']);
    corrupt(&long);
    // A valid bomb (one byte repeated 64 KiB) against a small limit: refused before any
    // output is allocated.
    let bomb = lz4(None, &vec![7u8; LZ4_BLOCK_MAX]);
    assert!(bomb.len() < 400);
    assert_eq!(
        Compression::Lz4.decompress(&bomb, 1000),
        Err(CompressionError::TooLarge { limit: 1000 })
    );
    assert_eq!(
        Compression::Lz4
            .decompress(&bomb, LZ4_BLOCK_MAX)
            .unwrap()
            .len(),
        LZ4_BLOCK_MAX
    );
}

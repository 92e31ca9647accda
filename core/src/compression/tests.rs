//! Round trips, formats, limits and robustness of every codec.

use super::lz4_frame::{LZ4_BLOCK_MAX, LZ4_FRAME_HEADER};
use super::*;
use std::io::Write;

const CODECS: [Compression; 5] = Compression::ALL;

fn inputs() -> Vec<Vec<u8>> {
    let mut pseudo = Vec::with_capacity(200_000);
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        pseudo.push((x >> 16) as u8);
    }
    vec![
        Vec::new(),
        b"a".to_vec(),
        b"hello hello hello hello hello".to_vec(),
        vec![0u8; 300_000], // several lz4 64 KiB blocks
        pseudo,             // incompressible
    ]
}

#[test]
fn levels_take_the_java_defaults_and_change_the_output() {
    let input = b"odradek compresses batches of records, odradek records ".repeat(400);
    let out = |codec: Compression, level: Option<i32>| {
        let mut v = Vec::new();
        codec.compress(level, &input, &mut v).unwrap();
        assert_eq!(codec.decompress(&v, input.len()).unwrap(), input);
        v
    };
    // gzip -1 is zlib's default, 6, and is what no level means.
    let gzip_default = out(Compression::Gzip, Some(GZIP_DEFAULT_LEVEL));
    assert_eq!(gzip_default, out(Compression::Gzip, Some(6)));
    assert_eq!(gzip_default, out(Compression::Gzip, None));
    assert_ne!(
        out(Compression::Gzip, Some(1)),
        out(Compression::Gzip, Some(9))
    );
    assert_eq!(
        out(Compression::Zstd, None),
        out(Compression::Zstd, Some(ZSTD_DEFAULT_LEVEL))
    );
    assert_ne!(
        out(Compression::Zstd, Some(1)),
        out(Compression::Zstd, Some(19))
    );
    // lz4: the Java default, 9, is LZ4's fast compressor; any other level LZ4-HC.
    let lz4_default = out(Compression::Lz4, None);
    assert_eq!(lz4_default, out(Compression::Lz4, Some(LZ4_DEFAULT_LEVEL)));
    assert_ne!(lz4_default, out(Compression::Lz4, Some(12)));
    assert_ne!(
        out(Compression::Lz4, Some(1)),
        out(Compression::Lz4, Some(12))
    );
    assert!(CompressionLevels::default().check().is_ok());
    let bad = CompressionLevels {
        zstd: 23,
        ..CompressionLevels::default()
    };
    assert_eq!(
        bad.check(),
        Err(("compression.zstd.level", "zstd levels are -131072 to 22"))
    );
    assert_eq!(
        Compression::Gzip.check_level(0),
        Err("gzip levels are 1 to 9, or -1 for the default")
    );
    assert_eq!(Compression::Snappy.check_level(123), Ok(()));
}

#[test]
fn round_trip_every_codec() {
    for codec in CODECS {
        for input in inputs() {
            let mut out = vec![0xAA]; // appends, keeps what was there
            codec.compress(None, &input, &mut out).unwrap();
            assert_eq!(out[0], 0xAA);
            let back = codec.decompress(&out[1..], input.len()).unwrap();
            assert_eq!(back, input, "{codec:?} len {}", input.len());
        }
    }
}

#[test]
fn every_gzip_level_reads_back_and_higher_levels_do_not_grow() {
    let text = b"{\"id\":42,\"name\":\"odradek\",\"event\":\"view\"} ".repeat(500);
    let mut rng = crate::rng::Rng::new(3);
    let noise: Vec<u8> = (0..20_000).map(|_| rng.next_u64() as u8).collect();
    for input in [&text[..], &noise[..], b"", b"a"] {
        let mut sizes = Vec::new();
        // Levels in an order that switches the per-thread compressor back and forth.
        for level in [9, 1, 5, 2, 8, 3, 7, 4, 6, -1] {
            let mut out = b"prefix".to_vec();
            Compression::Gzip
                .compress(Some(level), input, &mut out)
                .unwrap();
            assert_eq!(&out[..6], b"prefix", "appended, not overwritten");
            let member = &out[6..];
            assert_eq!(&member[..3], &[0x1f, 0x8b, 8], "a gzip member (deflate)");
            assert_eq!(
                Compression::Gzip.decompress(member, input.len()).unwrap(),
                input,
                "level {level}, {} bytes",
                input.len()
            );
            // Kafka's level N is the compressor's level N (-1: 6), whatever ran before.
            #[cfg(feature = "gzip-libdeflate")]
            {
                let lvl =
                    libdeflater::CompressionLvl::new(if level == -1 { 6 } else { level }).unwrap();
                let mut fresh = libdeflater::Compressor::new(lvl);
                let mut theirs = vec![0; fresh.gzip_compress_bound(input.len())];
                let n = fresh.gzip_compress(input, &mut theirs).unwrap();
                assert_eq!(member, &theirs[..n], "level {level}");
            }
            sizes.push((level, member.len()));
        }
        let size = |l: i32| sizes.iter().find(|(level, _)| *level == l).unwrap().1;
        assert_eq!(size(-1), size(6));
        assert!(size(9) <= size(6) && size(6) <= size(1), "{sizes:?}");
        if input.len() == text.len() {
            assert!(size(1) < text.len() / 10, "{sizes:?}");
        }
    }
}

#[test]
fn round_trip_with_levels() {
    let input = b"level level level level level".repeat(100);
    for (codec, level) in [
        (Compression::Gzip, 1),
        (Compression::Gzip, 9),
        (Compression::Zstd, 1),
        (Compression::Zstd, 19),
        (Compression::Zstd, -5),
    ] {
        let mut out = Vec::new();
        codec.compress(Some(level), &input, &mut out).unwrap();
        assert!(out.len() < input.len());
        assert_eq!(codec.decompress(&out, input.len()).unwrap(), input);
    }
}

#[test]
fn lz4_frame_header_is_what_the_java_broker_accepts() {
    let mut out = Vec::new();
    Compression::Lz4.compress(None, b"abc", &mut out).unwrap();
    assert_eq!(&out[..4], &[0x04, 0x22, 0x4D, 0x18]); // frame magic
    let flg = out[4];
    assert_eq!(flg >> 6, 1, "version 01");
    assert_eq!(flg & 0b0010_0000, 0b0010_0000, "independent blocks");
    assert_eq!(flg & 0b0001_0100, 0, "no block / content checksum");
    assert_eq!(flg & 0b0000_1011, 0, "no content size, reserved bits clear");
    assert_eq!((out[5] >> 4) & 0x7, 4, "64 KiB max block");
}

#[test]
fn lz4_frames_match_lz4_flex_frame_encoders_header_and_decode_back() {
    // The header lz4_flex's own frame encoder writes for the same settings.
    let info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max64KB)
        .block_mode(lz4_flex::frame::BlockMode::Independent);
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(b"abc").unwrap();
    let theirs = enc.finish().unwrap();
    assert_eq!(theirs[..7], LZ4_FRAME_HEADER);

    let mut rng = crate::rng::Rng::new(7);
    let mut noise = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.next_u64() as u8).collect() };
    let text: Vec<u8> = b"{\"id\":42,\"name\":\"odradek\"} ".repeat(7000);
    let cases = [
        Vec::new(),
        b"a".to_vec(),
        noise(1000),          // does not shrink: stored raw
        noise(LZ4_BLOCK_MAX), // one full raw block
        text.clone(),         // 196 000 bytes: 3 blocks, the last partial
        text[..LZ4_BLOCK_MAX].to_vec(),
    ];
    for input in cases {
        let mut out = b"prefix".to_vec();
        Compression::Lz4.compress(None, &input, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix", "appended, not overwritten");
        let frame = &out[6..];
        assert_eq!(frame[..7], LZ4_FRAME_HEADER);
        assert_eq!(frame[frame.len() - 4..], [0, 0, 0, 0], "end mark");
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(frame)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input, "{} bytes", input.len());
        assert_eq!(
            Compression::Lz4.decompress(frame, input.len()).unwrap(),
            input
        );
        // The reference library's frame decoder (liblz4's LZ4F_decompress) reads it too.
        let mut back = Vec::new();
        lz4::Decoder::new(frame)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input, "liblz4, {} bytes", input.len());
        // Nothing carries over from one frame to the next (the table is cleared per block).
        let mut again = Vec::new();
        Compression::Lz4.compress(None, &input, &mut again).unwrap();
        assert_eq!(again, frame, "same input, same frame");
    }
    // Raw blocks: the high bit of the size word, then the bytes as they were.
    let raw = noise(1000);
    let mut out = Vec::new();
    Compression::Lz4.compress(None, &raw, &mut out).unwrap();
    assert_eq!(out[7..11], (1000u32 | 0x8000_0000).to_le_bytes());
    assert_eq!(out[11..1011], raw[..]);
    // Text shrinks.
    let mut out = Vec::new();
    Compression::Lz4.compress(None, &text, &mut out).unwrap();
    assert!(
        out.len() < text.len() / 4,
        "{} of {}",
        out.len(),
        text.len()
    );
}

#[test]
fn zstd_frames_from_the_reused_context_are_independent_and_carry_their_size() {
    let mut rng = crate::rng::Rng::new(11);
    let noise: Vec<u8> = (0..5000).map(|_| rng.next_u64() as u8).collect();
    let text: Vec<u8> = b"{\"id\":42,\"name\":\"odradek\"} ".repeat(600);
    // A fresh streaming encoder per frame (what compress did before it kept a context).
    let fresh = |level: i32, input: &[u8]| {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), level).unwrap();
        enc.set_pledged_src_size(Some(input.len() as u64)).unwrap();
        enc.include_contentsize(true).unwrap();
        enc.write_all(input).unwrap();
        enc.finish().unwrap()
    };
    let cases: [(i32, &[u8]); 7] = [
        (3, &text),
        (1, b"a"),
        (19, &text),
        (3, b""),
        (-5, &noise),
        (3, &text[..777]),
        (3, &text),
    ];
    let mut first_text = None;
    for (level, input) in cases {
        let mut out = b"prefix".to_vec();
        Compression::Zstd
            .compress(Some(level), input, &mut out)
            .unwrap();
        assert_eq!(&out[..6], b"prefix", "appended, not overwritten");
        let frame = &out[6..];
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(frame).ok(),
            Some(Some(input.len() as u64)),
            "content size in the header"
        );
        assert_eq!(
            Compression::Zstd.decompress(frame, input.len()).unwrap(),
            input
        );
        assert_eq!(
            frame,
            fresh(level, input),
            "level {level}, {} bytes",
            input.len()
        );
        if level == 3 && input.len() == text.len() {
            // The same frame again after other levels and sizes: nothing carried over.
            match &first_text {
                None => first_text = Some(frame.to_vec()),
                Some(f) => assert_eq!(frame, &f[..]),
            }
        }
    }
    assert!(first_text.is_some_and(|f| f.len() < text.len() / 10));
}

#[test]
fn snappy_from_the_reused_encoder_equals_a_fresh_encoders_output() {
    let mut rng = crate::rng::Rng::new(5);
    let noise: Vec<u8> = (0..70_000).map(|_| rng.next_u64() as u8).collect();
    let text: Vec<u8> = b"{\"id\":42,\"name\":\"odradek\"} ".repeat(3000);
    // Large then small then large again (table sizes differ), across block boundaries.
    let cases: [&[u8]; 6] = [&text, b"", b"a", &noise, &text[..900], &text];
    for input in cases {
        let mut out = b"prefix".to_vec();
        Compression::Snappy.compress(None, input, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix", "appended, not overwritten");
        let fresh = snap::raw::Encoder::new().compress_vec(input).unwrap();
        assert_eq!(&out[6..], &fresh[..], "{} bytes", input.len());
        assert_eq!(
            Compression::Snappy
                .decompress(&out[6..], input.len())
                .unwrap(),
            input
        );
    }
}

#[test]
fn snappy_output_is_raw() {
    let mut out = Vec::new();
    Compression::Snappy
        .compress(None, b"hello", &mut out)
        .unwrap();
    // varint length 5, one literal tag of length 5, the bytes.
    assert_eq!(out, b"\x05\x10hello");
}

#[test]
fn xerial_framed_snappy_decodes() {
    // Hand-built: magic, version 1, compatible version 1, then two raw blocks each with a
    // big-endian length: "hello" and "world" as literals.
    let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    framed.extend_from_slice(&[0, 0, 0, 7, 0x05, 0x10]);
    framed.extend_from_slice(b"hello");
    framed.extend_from_slice(&[0, 0, 0, 7, 0x05, 0x10]);
    framed.extend_from_slice(b"world");
    assert_eq!(
        Compression::Snappy.decompress(&framed, 100).unwrap(),
        b"helloworld"
    );
    // Limit counts across blocks.
    assert_eq!(
        Compression::Snappy.decompress(&framed, 9),
        Err(CompressionError::TooLarge { limit: 9 })
    );
    // A header with no block is an empty stream.
    assert_eq!(
        Compression::Snappy.decompress(&framed[..16], 100).unwrap(),
        b""
    );
    // Every truncation inside the framing fails.
    for cut in [8, 15, 17, 19, 22, 26, 28, 30, 33] {
        assert!(
            Compression::Snappy.decompress(&framed[..cut], 100).is_err(),
            "cut {cut}"
        );
    }
    // A block length pointing past the end.
    let mut long = framed.clone();
    long[19] = 0xFF;
    assert!(Compression::Snappy.decompress(&long, 1000).is_err());
}

#[test]
fn limit_is_enforced() {
    let input = vec![7u8; 10_000];
    for codec in CODECS {
        let mut out = Vec::new();
        codec.compress(None, &input, &mut out).unwrap();
        assert_eq!(codec.decompress(&out, 10_000).unwrap().len(), 10_000);
        assert_eq!(
            codec.decompress(&out, 9_999),
            Err(CompressionError::TooLarge { limit: 9_999 }),
            "{codec:?}"
        );
        assert!(codec.decompress(&out, 0).is_err());
    }
}

#[test]
fn garbage_and_truncation_are_errors() {
    let input = b"some moderately compressible text, some moderately compressible text".repeat(20);
    for codec in CODECS.into_iter().skip(1) {
        let mut out = Vec::new();
        codec.compress(None, &input, &mut out).unwrap();
        assert!(codec.decompress(&[], 1 << 20).is_err(), "{codec:?} empty");
        for cut in [1, out.len() / 2, out.len() - 4, out.len() - 1] {
            match codec.decompress(&out[..cut], 1 << 20) {
                Err(_) => {}
                Ok(v) => panic!("{codec:?} cut {cut} decoded {} bytes", v.len()),
            }
        }
        let garbage: Vec<u8> = (0..500u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(codec.decompress(&garbage, 1 << 20).is_err(), "{codec:?}");
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 99;
    for round in 0..2_000 {
        let len = round % 64;
        let mut buf = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        // Also try with each codec's magic in front, to get past the first check.
        let mut framed = vec![0x04, 0x22, 0x4D, 0x18];
        framed.extend_from_slice(&buf);
        let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        xerial.extend_from_slice(&buf);
        for codec in CODECS {
            let _ = codec.decompress(&buf, 4096);
        }
        let _ = Compression::Lz4.decompress(&framed, 4096);
        let _ = Compression::Snappy.decompress(&xerial, 4096);
    }
}

#[test]
fn attribute_ids_round_trip() {
    for codec in CODECS {
        assert_eq!(Compression::from_attribute(codec.attribute()), Ok(codec));
    }
    assert_eq!(
        Compression::from_attribute(5),
        Err(CompressionError::Unknown(5))
    );
}

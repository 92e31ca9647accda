//! lz4: the LZ4 frame format around the reference liblz4's block codec (the `lz4` crate), both
//! ways: blocks compressed by `LZ4_compress_default` or, at a level other than the Java
//! client's default, by LZ4-HC (`LZ4_compress_HC`), as the Java client chooses (KIP-390); blocks
//! decompressed by `LZ4_decompress_safe` into exactly the size a walk of the block's sequences
//! gives.

use super::{append_bounded, CompressSink, Compression, CompressionError, LZ4_DEFAULT_LEVEL};
use lz4::block::CompressionMode;

/// The header of every LZ4 frame [`Compression::compress`](super::Compression::compress)
/// writes: magic, FLG `0x60` (version 01, independent blocks, no block or content checksum, no
/// content size), BD `0x40` (64 KiB blocks) and the header checksum (byte 1 of the xxHash32 of
/// FLG and BD).
pub(super) const LZ4_FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];

/// The largest block of an LZ4 frame with BD `0x40`.
pub(super) const LZ4_BLOCK_MAX: usize = 64 * 1024;

/// The LZ4 frame magic number, little-endian.
const MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];

/// How a block is compressed at `level` (checked by the caller: 1 to 17). The Java client
/// (`Lz4BlockOutputStream`) uses lz4-java's fast compressor at its default level, 9, and its
/// high compressor (LZ4-HC) at that level for any other; LZ4-HC levels above 12 compress as
/// 12 (liblz4's maximum), in Java as here.
fn mode(level: i32) -> Option<CompressionMode> {
    (level != LZ4_DEFAULT_LEVEL).then_some(CompressionMode::HIGHCOMPRESSION(level))
}

/// Appends `input` to `out` as one LZ4 frame (see [`LZ4_FRAME_HEADER`]) at `level` (see
/// [`mode`]), compressing each 64 KiB block straight into `out`; a block that does not shrink
/// is stored raw (its size word's high bit set), as the frame format allows. On error nothing
/// is appended.
///
/// At the default level no heap allocation but `out`'s: `LZ4_compress_default` keeps its
/// 16 KiB match table on the C stack (liblz4's default `LZ4_HEAPMODE 0`). LZ4-HC allocates its
/// ~256 KiB state with C `malloc` per block (liblz4's default `LZ4HC_HEAPMODE 1`).
pub(super) fn lz4_frame<O: CompressSink + ?Sized>(
    level: i32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    let start = out.len();
    let written = lz4_frame_blocks(mode(level), input, out);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// [`lz4_frame`]'s work; may leave a partial frame in `out` when it fails.
fn lz4_frame_blocks<O: CompressSink + ?Sized>(
    mode: Option<CompressionMode>,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    out.reserve(LZ4_FRAME_HEADER.len() + lz4::block::compress_bound(input.len())? + 8);
    out.extend_from_slice(&LZ4_FRAME_HEADER);
    for block in input.chunks(LZ4_BLOCK_MAX) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]); // the block's size word, filled in below
        let bound = lz4::block::compress_bound(block.len())?;
        let n = append_bounded(out, bound, |dst| {
            lz4::block::compress_to_buffer(block, mode, false, dst)
        })?;
        if n < block.len() {
            // n < 64 KiB: fits the size word.
            out.as_mut_slice()[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        } else {
            out.truncate(at);
            out.extend_from_slice(&(block.len() as u32 | 0x8000_0000).to_le_bytes());
            out.extend_from_slice(block);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    Ok(())
}

/// Decompresses one or more concatenated LZ4 frames, at most `limit` bytes of output.
///
/// What the Kafka broker's `KafkaLZ4BlockInputStream` reads: the standard magic, version 01,
/// independent blocks (dependent ones are refused, as there), any block size; every frame
/// complete up to its end mark (a stream cut at a block boundary would silently lose records;
/// Java calls it "Stream ended prematurely"). Checksums (header, block, content) are skipped,
/// not verified: the RecordBatch's CRC-32C covers these bytes.
///
/// Each block's decompressed size is found first by walking its sequences ([`block_len`]), so
/// the output grows by exactly that (never past `limit`: [`CompressionError::TooLarge`]) and
/// `LZ4_decompress_safe` must fill it exactly. The output `Vec` is the only allocation.
pub(super) fn lz4_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |reason: &str| CompressionError::Corrupt {
        codec: Compression::Lz4,
        reason: reason.into(),
    };
    let mut out = Vec::new();
    let mut rest = input;
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], CompressionError> {
        if rest.len() < n {
            return Err(CompressionError::Corrupt {
                codec: Compression::Lz4,
                reason: "lz4 frame ended prematurely".into(),
            });
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Ok(head)
    }
    loop {
        let header = take(&mut rest, 7)?;
        if header[..4] != MAGIC {
            return Err(corrupt("not an lz4 frame (bad magic)"));
        }
        let (flg, bd) = (header[4], header[5]);
        if flg >> 6 != 1 {
            return Err(corrupt("lz4 frame version is not 01"));
        }
        if flg & 0b0010_0000 == 0 {
            return Err(corrupt("dependent lz4 blocks are not supported"));
        }
        let block_max = match (bd >> 4) & 0x7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            _ => return Err(corrupt("lz4 frame has an invalid block size")),
        };
        let block_checksums = flg & 0b0001_0000 != 0;
        let content_size = flg & 0b0000_1000 != 0;
        let content_checksum = flg & 0b0000_0100 != 0;
        let dict_id = flg & 0b0000_0001 != 0;
        // The 7 bytes taken hold magic, FLG, BD and HC; the optional fields sit before HC.
        take(
            &mut rest,
            if content_size { 8 } else { 0 } + if dict_id { 4 } else { 0 },
        )?;
        loop {
            let word = take(&mut rest, 4)?;
            let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            if word == 0 {
                if content_checksum {
                    take(&mut rest, 4)?;
                }
                break;
            }
            let len = (word & 0x7FFF_FFFF) as usize;
            if len > block_max {
                return Err(corrupt("lz4 block is larger than the frame's block size"));
            }
            let block = take(&mut rest, len)?;
            if block_checksums {
                take(&mut rest, 4)?;
            }
            let n = if word & 0x8000_0000 != 0 {
                len
            } else {
                block_len(block, block_max).ok_or_else(|| corrupt("corrupt lz4 block"))?
            };
            if n > limit - out.len() {
                return Err(CompressionError::TooLarge { limit });
            }
            if word & 0x8000_0000 != 0 {
                out.extend_from_slice(block);
                continue;
            }
            let at = out.len();
            out.resize(at + n, 0);
            // `n` ≤ block_max (4 MiB) fits an i32.
            match lz4::block::decompress_to_buffer(block, Some(n as i32), &mut out[at..]) {
                Ok(written) if written == n => {}
                _ => return Err(corrupt("corrupt lz4 block")),
            }
        }
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

/// The decompressed size of the LZ4 block `block`, found by walking its sequences (token,
/// literal length, literals, offset, match length) without copying any byte; `None` if the
/// walk finds it malformed (an offset of 0 or before the start, a truncated sequence, a last
/// sequence with a match) or larger than `max`. `LZ4_decompress_safe` checks the rest.
fn block_len(block: &[u8], max: usize) -> Option<usize> {
    let mut i = 0usize;
    let mut n = 0usize;
    // A length nibble of 15 continues in the bytes that follow, each added, until one < 255.
    let extend = |i: &mut usize, mut len: usize| -> Option<usize> {
        loop {
            let b = *block.get(*i)?;
            *i += 1;
            len = len.checked_add(usize::from(b))?;
            if len > max || b != 255 {
                return Some(len);
            }
        }
    };
    loop {
        let token = *block.get(i)?;
        i += 1;
        let mut literals = usize::from(token >> 4);
        if literals == 15 {
            literals = extend(&mut i, literals)?;
        }
        i = i.checked_add(literals).filter(|&end| end <= block.len())?;
        n = n.checked_add(literals).filter(|&n| n <= max)?;
        if i == block.len() {
            return Some(n); // the last sequence: literals only
        }
        let offset = block.get(i..i + 2)?;
        let offset = usize::from(u16::from_le_bytes([offset[0], offset[1]]));
        i += 2;
        if offset == 0 || offset > n {
            return None;
        }
        let mut matched = usize::from(token & 0x0F);
        if matched == 15 {
            matched = extend(&mut i, matched)?;
        }
        n = n.checked_add(matched + 4).filter(|&n| n <= max)?;
    }
}

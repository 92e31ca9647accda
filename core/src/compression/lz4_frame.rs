//! lz4: the LZ4 frame format around liblz4's block compressor, and the frame check before
//! lz4_flex decodes.

use super::{append_bounded, CompressSink};

/// The header of every LZ4 frame [`Compression::compress`](super::Compression::compress)
/// writes: magic, FLG `0x60` (version 01, independent blocks, no block or content checksum, no
/// content size), BD `0x40` (64 KiB blocks) and the header checksum (byte 1 of the xxHash32 of
/// FLG and BD).
pub(super) const LZ4_FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];

/// The largest block of an LZ4 frame with BD `0x40`.
pub(super) const LZ4_BLOCK_MAX: usize = 64 * 1024;

/// Appends `input` to `out` as one LZ4 frame (see [`LZ4_FRAME_HEADER`]), compressing each
/// 64 KiB block straight into `out` with the reference liblz4's block compressor
/// (`LZ4_compress_default`, through the `lz4` crate); a block that does not shrink is stored
/// raw (its size word's high bit set), as the frame format allows. On error nothing is
/// appended.
///
/// No heap allocation: `LZ4_compress_default` keeps its 16 KiB match table on the C stack
/// (liblz4's default `LZ4_HEAPMODE 0`) and clears it per block, and `out` is the only buffer.
/// lz4_flex's block compressor, used before, allocated and zeroed an 8 KiB table for every
/// block (and lz4_flex's `FrameEncoder` a 16 KiB table and two 64 KiB buffers per frame).
pub(super) fn lz4_frame<O: CompressSink + ?Sized>(
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    let start = out.len();
    let written = lz4_frame_blocks(input, out);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// [`lz4_frame`]'s work; may leave a partial frame in `out` when it fails.
pub(super) fn lz4_frame_blocks<O: CompressSink + ?Sized>(
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
            lz4::block::compress_to_buffer(block, None, false, dst)
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

/// Walks the structure of one or more LZ4 frames without decompressing: every frame must be
/// complete, up to and including its end mark (lz4_flex alone accepts a stream cut at a block
/// boundary, which would silently lose records; the Java reader calls that "Stream ended
/// prematurely"). Only the standard frame magic is accepted, as in Kafka.
pub(super) fn check_lz4_frames(input: &[u8]) -> Result<(), &'static str> {
    const MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<usize, &'static str> {
        let start = *pos;
        if input.len() - start < n {
            return Err("lz4 frame ended prematurely");
        }
        *pos = start + n;
        Ok(start)
    };
    loop {
        let at = take(&mut pos, 7)?;
        if input[at..at + 4] != MAGIC {
            return Err("not an lz4 frame (bad magic)");
        }
        let flg = input[at + 4];
        let content_size = flg & 0b0000_1000 != 0;
        let block_checksums = flg & 0b0001_0000 != 0;
        let content_checksum = flg & 0b0000_0100 != 0;
        let dict_id = flg & 0b0000_0001 != 0;
        // The 7 bytes taken hold magic, FLG, BD and HC; the optional fields sit before HC.
        let optional = if content_size { 8 } else { 0 } + if dict_id { 4 } else { 0 };
        take(&mut pos, optional)?;
        loop {
            let at = take(&mut pos, 4)?;
            let word = u32::from_le_bytes([input[at], input[at + 1], input[at + 2], input[at + 3]]);
            if word == 0 {
                if content_checksum {
                    take(&mut pos, 4)?;
                }
                break;
            }
            let len = (word & 0x7FFF_FFFF) as usize;
            take(&mut pos, len)?;
            if block_checksums {
                take(&mut pos, 4)?;
            }
        }
        if pos == input.len() {
            return Ok(());
        }
    }
}

//! snappy: raw on compression, raw or xerial-framed (the Java client's framing) on decompression.

use super::{Compression, CompressionError};

/// Raw snappy of `input` into `dst` (at least `max_compress_len` long), with one encoder per
/// thread: a fresh encoder allocates its hash table (8 KiB for a 16 KiB batch) on every call.
/// Output does not depend on it: each block starts from a cleared table.
pub(super) fn snappy_compress(input: &[u8], dst: &mut [u8]) -> Result<usize, snap::Error> {
    use std::cell::RefCell;
    thread_local! {
        static ENCODER: RefCell<snap::raw::Encoder> = RefCell::new(snap::raw::Encoder::new());
    }
    ENCODER.with_borrow_mut(|encoder| encoder.compress(input, dst))
}

/// The xerial snappy-java stream magic.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Magic plus the two version ints.
const XERIAL_HEADER_LEN: usize = 16;

pub(super) fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |reason: &str| CompressionError::Corrupt {
        codec: Compression::Snappy,
        reason: reason.to_string(),
    };
    let snap_err = |e: snap::Error| CompressionError::Corrupt {
        codec: Compression::Snappy,
        reason: e.to_string(),
    };
    if input.len() >= XERIAL_MAGIC.len() && input[..XERIAL_MAGIC.len()] == XERIAL_MAGIC[..] {
        if input.len() < XERIAL_HEADER_LEN {
            return Err(corrupt("truncated xerial header"));
        }
        let mut out = Vec::new();
        let mut rest = &input[XERIAL_HEADER_LEN..];
        let mut decoder = snap::raw::Decoder::new();
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(corrupt("truncated xerial block length"));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            rest = &rest[4..];
            if len > rest.len() {
                return Err(corrupt("xerial block longer than the input"));
            }
            let (block, tail) = rest.split_at(len);
            rest = tail;
            let n = snap::raw::decompress_len(block).map_err(snap_err)?;
            if n > limit - out.len() {
                return Err(CompressionError::TooLarge { limit });
            }
            let start = out.len();
            out.resize(start + n, 0);
            let written = decoder
                .decompress(block, &mut out[start..])
                .map_err(snap_err)?;
            if written != n {
                return Err(corrupt("block shorter than its declared length"));
            }
        }
        Ok(out)
    } else {
        let n = snap::raw::decompress_len(input).map_err(snap_err)?;
        if n > limit {
            return Err(CompressionError::TooLarge { limit });
        }
        let mut out = vec![0; n];
        let written = snap::raw::Decoder::new()
            .decompress(input, &mut out)
            .map_err(snap_err)?;
        if written != n {
            return Err(corrupt("shorter than its declared length"));
        }
        Ok(out)
    }
}

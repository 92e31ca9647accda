//! Compression codecs: none, gzip (every level by libdeflate, or by flate2's backend without the
//! `gzip-libdeflate` feature; decoded by flate2), snappy (snap; raw, and xerial-framed on decode),
//! lz4 (LZ4 frame format; blocks compressed, fast or LZ4-HC by level, and decompressed by the
//! reference liblz4 through the `lz4` crate) and zstd.

mod gzip;
mod lz4_frame;
mod snappy;
mod zstd_frame;

use gzip::gzip_compress;
use lz4_frame::{lz4_decompress, lz4_frame};
use snappy::{snappy_compress, snappy_decompress};
use std::io::Read;
use zstd_frame::{zstd_compress, zstd_window_log_max};

/// `compression.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4 (frame format).
    Lz4,
    /// zstd (needs RecordBatch v2 and Produce v7+).
    Zstd,
}

/// Why compressing or decompressing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The compressed bytes are malformed.
    #[error("corrupt {codec:?} data: {reason}")]
    Corrupt {
        /// The codec.
        codec: Compression,
        /// What went wrong.
        reason: String,
    },
    /// The output would exceed the limit given.
    #[error("decompressed data exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// An attribute value that names no codec.
    #[error("unknown compression attribute {0}")]
    Unknown(u8),
}

/// gzip's default level in the Java client (`Deflater.DEFAULT_COMPRESSION`): zlib's default.
pub const GZIP_DEFAULT_LEVEL: i32 = -1;
/// The level zlib's default stands for.
const ZLIB_DEFAULT_LEVEL: u32 = 6;
/// lz4's default level in the Java client.
pub const LZ4_DEFAULT_LEVEL: i32 = 9;
/// zstd's default level in the Java client (and zstd's own).
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// The level of each codec that has levels: the Java client's `compression.gzip.level`,
/// `compression.lz4.level` and `compression.zstd.level` (KIP-390), with its defaults. Only the
/// level of the codec in use matters; each is checked by [`Compression::check_level`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressionLevels {
    /// `compression.gzip.level`: 1 to 9, or -1 (the default) for zlib's default, 6.
    pub gzip: i32,
    /// `compression.lz4.level`: 1 to 17, default 9. As in the Java client, the default level
    /// compresses with LZ4's fast compressor and any other with LZ4-HC at that level (levels
    /// above 12 compress as 12).
    pub lz4: i32,
    /// `compression.zstd.level`: -131072 to 22, default 3.
    pub zstd: i32,
}

impl Default for CompressionLevels {
    fn default() -> Self {
        CompressionLevels {
            gzip: GZIP_DEFAULT_LEVEL,
            lz4: LZ4_DEFAULT_LEVEL,
            zstd: ZSTD_DEFAULT_LEVEL,
        }
    }
}

impl CompressionLevels {
    /// The level for `codec`; `None` for the codecs without levels (none, snappy).
    pub fn get(&self, codec: Compression) -> Option<i32> {
        match codec {
            Compression::Gzip => Some(self.gzip),
            Compression::Lz4 => Some(self.lz4),
            Compression::Zstd => Some(self.zstd),
            Compression::None | Compression::Snappy => None,
        }
    }

    /// Checks every level against its codec's range; the error names the property key.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let levels = [
            ("compression.gzip.level", Compression::Gzip, self.gzip),
            ("compression.lz4.level", Compression::Lz4, self.lz4),
            ("compression.zstd.level", Compression::Zstd, self.zstd),
        ];
        for (key, codec, level) in levels {
            codec.check_level(level).map_err(|reason| (key, reason))?;
        }
        Ok(())
    }
}

impl Compression {
    /// Every codec, `None` first: for tests and tools that cover them all.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec's id in a batch's attributes (low 3 bits): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn attribute(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an attribute id.
    pub fn from_attribute(id: u8) -> Result<Self, CompressionError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(CompressionError::Unknown(other)),
        })
    }

    /// Checks a compression level for this codec against the Java client's ranges (KIP-390):
    /// gzip 1 to 9, or -1 for zlib's default (6); lz4 1 to 17; zstd -131072 to 22. Snappy and
    /// none have no levels and take any value.
    pub fn check_level(self, level: i32) -> Result<(), &'static str> {
        let (ok, reason) = match self {
            Compression::None | Compression::Snappy => (true, ""),
            Compression::Gzip => (
                level == -1 || (1..=9).contains(&level),
                "gzip levels are 1 to 9, or -1 for the default",
            ),
            Compression::Lz4 => ((1..=17).contains(&level), "lz4 levels are 1 to 17"),
            Compression::Zstd => (
                (-131_072..=22).contains(&level),
                "zstd levels are -131072 to 22",
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(reason)
        }
    }

    /// Compresses `input`, appending to `out`.
    ///
    /// `level` is the codec's level (see [`check_level`](Self::check_level)); `None` takes the
    /// codec's default ([`CompressionLevels::default`]: gzip -1, which is zlib's 6, lz4 9,
    /// zstd 3). Snappy has no levels and ignores it. lz4 at its default level, 9, uses LZ4's
    /// fast compressor (liblz4's `LZ4_compress_default`) and LZ4-HC at any other, as the Java
    /// client does.
    ///
    /// Formats written, chosen so that every broker and client can read them:
    /// - gzip: one gzip member.
    /// - snappy: raw snappy (no xerial framing), as Sarama and librdkafka write it; the broker
    ///   reads it through xerial's `SnappyInputStream`, which falls back to raw when the stream
    ///   does not start with the xerial magic.
    /// - lz4: the standard LZ4 frame, version 1, *independent* blocks of at most 64 KiB, no
    ///   block or content checksum and no content size: the broker's `KafkaLZ4BlockInputStream`
    ///   refuses dependent blocks, and older brokers skip the content checksum unverified.
    /// - zstd: one frame with its content size.
    ///
    /// `out` is a `Vec<u8>` or a `BytesMut` ([`CompressSink`]); what it held is kept.
    pub fn compress<O: CompressSink + ?Sized>(
        self,
        level: Option<i32>,
        input: &[u8],
        out: &mut O,
    ) -> Result<(), CompressionError> {
        let io_err = |e: std::io::Error| CompressionError::Corrupt {
            codec: self,
            reason: e.to_string(),
        };
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip => {
                let level = match level {
                    None | Some(GZIP_DEFAULT_LEVEL) => ZLIB_DEFAULT_LEVEL,
                    Some(l) => l.clamp(0, 9) as u32,
                };
                gzip_compress(level, input, out).map_err(io_err)?;
            }
            Compression::Snappy => {
                let bound = snap::raw::max_compress_len(input.len());
                if bound == 0 && !input.is_empty() {
                    return Err(CompressionError::Corrupt {
                        codec: self,
                        reason: "input too large for snappy".into(),
                    });
                }
                append_bounded(out, bound, |dst| snappy_compress(input, dst)).map_err(|e| {
                    CompressionError::Corrupt {
                        codec: self,
                        reason: e.to_string(),
                    }
                })?;
            }
            Compression::Lz4 => {
                lz4_frame(level.unwrap_or(LZ4_DEFAULT_LEVEL), input, out).map_err(|e| {
                    CompressionError::Corrupt {
                        codec: self,
                        reason: e.to_string(),
                    }
                })?
            }
            Compression::Zstd => {
                zstd_compress(level.unwrap_or(ZSTD_DEFAULT_LEVEL), input, out).map_err(io_err)?;
            }
        }
        Ok(())
    }

    /// Decompresses `input`, refusing to produce more than `limit` bytes.
    ///
    /// Never panics and never allocates more than about `limit` bytes for the output, whatever
    /// `input` holds. Snappy is read both raw and xerial-framed (the Java client's framing:
    /// magic `82 'SNAPPY' 00`, two big-endian version ints, then blocks each prefixed with a
    /// big-endian int32 length). gzip reads concatenated members; lz4 and zstd concatenated
    /// frames. Empty input is corrupt for every codec but `None`.
    pub fn decompress(self, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
        let corrupt = |reason: String| CompressionError::Corrupt {
            codec: self,
            reason,
        };
        if self != Compression::None && input.is_empty() {
            return Err(corrupt("empty input".into()));
        }
        match self {
            Compression::None => {
                if input.len() > limit {
                    return Err(CompressionError::TooLarge { limit });
                }
                Ok(input.to_vec())
            }
            Compression::Gzip => {
                read_bounded(self, flate2::read::MultiGzDecoder::new(input), input, limit)
            }
            Compression::Snappy => snappy_decompress(input, limit),
            Compression::Lz4 => lz4_decompress(input, limit),
            Compression::Zstd => {
                let mut dec = zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| corrupt(e.to_string()))?;
                dec.window_log_max(zstd_window_log_max(limit))
                    .map_err(|e| corrupt(e.to_string()))?;
                read_bounded(self, dec, input, limit)
            }
        }
    }
}

/// A growable byte buffer [`Compression::compress`] appends to: `Vec<u8>`, or `BytesMut` (the
/// batch buffers the producer reuses from batch to batch). Sealed: implemented here only.
pub trait CompressSink: sealed::Sealed {
    /// Bytes held.
    fn len(&self) -> usize;
    /// Whether no byte is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Makes room for `additional` more bytes.
    fn reserve(&mut self, additional: usize);
    /// Grows (with `value`) or shrinks to `new_len` bytes.
    fn resize(&mut self, new_len: usize, value: u8);
    /// Shrinks to `len` bytes (no-op when already shorter).
    fn truncate(&mut self, len: usize);
    /// Appends `bytes`.
    fn extend_from_slice(&mut self, bytes: &[u8]);
    /// The bytes held, writable.
    fn as_mut_slice(&mut self) -> &mut [u8];
    /// Runs `f` with an `io::Write` appending to the buffer.
    fn with_writer(
        &mut self,
        f: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for Vec<u8> {}
    impl Sealed for bytes::BytesMut {}
}

/// The buffer methods of [`CompressSink`], forwarded to `$t`'s own.
macro_rules! forward_sink_methods {
    ($t:ty) => {
        fn len(&self) -> usize {
            <$t>::len(self)
        }
        fn reserve(&mut self, additional: usize) {
            <$t>::reserve(self, additional);
        }
        fn resize(&mut self, new_len: usize, value: u8) {
            <$t>::resize(self, new_len, value);
        }
        fn truncate(&mut self, len: usize) {
            <$t>::truncate(self, len);
        }
        fn extend_from_slice(&mut self, bytes: &[u8]) {
            <$t>::extend_from_slice(self, bytes);
        }
        fn as_mut_slice(&mut self) -> &mut [u8] {
            self
        }
    };
}

impl CompressSink for Vec<u8> {
    forward_sink_methods!(Vec<u8>);
    fn with_writer(
        &mut self,
        f: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        f(self)
    }
}

impl CompressSink for bytes::BytesMut {
    forward_sink_methods!(bytes::BytesMut);
    fn with_writer(
        &mut self,
        f: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        use bytes::BufMut;
        f(&mut <&mut bytes::BytesMut as BufMut>::writer(self))
    }
}

/// Appends what `compress` writes to `out`: gives it `bound` zeroed bytes past the end, keeps
/// the `written` it reports, and drops them all if it fails. Returns `written`.
pub(super) fn append_bounded<O: CompressSink + ?Sized, E>(
    out: &mut O,
    bound: usize,
    compress: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<usize, E> {
    let start = out.len();
    out.resize(start + bound, 0);
    let written = compress(&mut out.as_mut_slice()[start..]);
    out.truncate(start + *written.as_ref().unwrap_or(&0));
    written
}

/// Reads `reader` to its end, at most `limit` bytes; more is [`CompressionError::TooLarge`].
pub(super) fn read_bounded<R: Read>(
    codec: Compression,
    reader: R,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    // A guess at the output size, never more than the limit (the input size is trusted only
    // as a hint: it is already in memory).
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(limit));
    let cap = (limit as u64).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| CompressionError::Corrupt {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(CompressionError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod lz4_tests;

//! Compression codecs: none, gzip (every level by libdeflate, or by flate2's backend without the
//! `gzip-libdeflate` feature; decoded by flate2), snappy (snap; raw, and xerial-framed on decode),
//! lz4 (LZ4 frame format; blocks compressed by the reference liblz4 through the `lz4` crate,
//! decoded by lz4_flex) and zstd.

use std::io::Read;

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
    /// `compression.lz4.level`: 1 to 17, default 9. Checked, but not used: lz4 batches are
    /// always compressed with LZ4's fast compressor, so it does not change the bytes written.
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
    /// codec's default ([`CompressionLevels::default`]: gzip -1, which is zlib's 6, zstd 3).
    /// Snappy and lz4 ignore it: snappy has no levels, and lz4 always uses LZ4's fast compressor
    /// (liblz4's `LZ4_compress_default`; the Java client's lz4 levels select LZ4-HC, not used
    /// here).
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
            Compression::Lz4 => lz4_frame(input, out).map_err(|e| CompressionError::Corrupt {
                codec: self,
                reason: e.to_string(),
            })?,
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
            Compression::Lz4 => {
                check_lz4_frames(input).map_err(|r| corrupt(r.into()))?;
                read_bounded(
                    self,
                    lz4_flex::frame::FrameDecoder::new(input),
                    input,
                    limit,
                )
            }
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

/// Raw snappy of `input` into `dst` (at least `max_compress_len` long), with one encoder per
/// thread: a fresh encoder allocates its hash table (8 KiB for a 16 KiB batch) on every call.
/// Output does not depend on it: each block starts from a cleared table.
fn snappy_compress(input: &[u8], dst: &mut [u8]) -> Result<usize, snap::Error> {
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

/// The largest zstd window (as a power of two) accepted when decoding to at most `limit`
/// bytes. A frame never needs a window larger than its content, but a streaming encoder that
/// did not know the size (the Java client) declares its level's window (2 MiB at level 3,
/// 8 MiB at 19): allow at least 2^23 and at most the library's default cap 2^27, so a hostile
/// frame cannot make the decoder reserve more than that.
fn zstd_window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.leading_zeros();
    needed.clamp(23, 27)
}

/// Appends what `compress` writes to `out`: gives it `bound` zeroed bytes past the end, keeps
/// the `written` it reports, and drops them all if it fails. Returns `written`.
fn append_bounded<O: CompressSink + ?Sized, E>(
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

/// The header of every LZ4 frame [`Compression::compress`] writes: magic, FLG `0x60` (version
/// 01, independent blocks, no block or content checksum, no content size), BD `0x40` (64 KiB
/// blocks) and the header checksum (byte 1 of the xxHash32 of FLG and BD).
const LZ4_FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];

/// The largest block of an LZ4 frame with BD `0x40`.
const LZ4_BLOCK_MAX: usize = 64 * 1024;

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
fn lz4_frame<O: CompressSink + ?Sized>(input: &[u8], out: &mut O) -> std::io::Result<()> {
    let start = out.len();
    let written = lz4_frame_blocks(input, out);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// [`lz4_frame`]'s work; may leave a partial frame in `out` when it fails.
fn lz4_frame_blocks<O: CompressSink + ?Sized>(input: &[u8], out: &mut O) -> std::io::Result<()> {
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
fn check_lz4_frames(input: &[u8]) -> Result<(), &'static str> {
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

/// gzip-compresses `input` at zlib `level` (0 to 9) into one gzip member appended to `out`:
/// libdeflate (whole buffer, one call) with the `gzip-libdeflate` feature, flate2 otherwise.
#[cfg(feature = "gzip-libdeflate")]
fn gzip_compress<O: CompressSink + ?Sized>(
    level: u32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    use std::cell::RefCell;
    thread_local! {
        /// The last level's compressor, kept per thread: libdeflate's state (hundreds of KiB
        /// at level 6) allocated and faulted in for every 16 KiB batch would add to every
        /// compression. Output does not depend on it: every call starts afresh.
        static COMPRESSOR: RefCell<Option<(u32, libdeflater::Compressor)>> =
            const { RefCell::new(None) };
    }
    // libdeflate's levels 0 to 9 are zlib's in meaning (it also has 10 to 12, not used).
    let lvl = libdeflater::CompressionLvl::new(level as i32)
        .map_err(|e| std::io::Error::other(format!("gzip level {level}: {e:?}")))?;
    COMPRESSOR.with_borrow_mut(|cached| {
        let compressor = match cached {
            Some((l, c)) if *l == level => c,
            _ => &mut cached.insert((level, libdeflater::Compressor::new(lvl))).1,
        };
        let bound = compressor.gzip_compress_bound(input.len());
        append_bounded(out, bound, |dst| compressor.gzip_compress(input, dst))
            .map(drop)
            .map_err(|e| std::io::Error::other(format!("gzip: {e}")))
    })
}

/// gzip-compresses `input` at zlib `level` (0 to 9) into one gzip member appended to `out`:
/// libdeflate (whole buffer, one call) with the `gzip-libdeflate` feature, flate2 otherwise.
#[cfg(not(feature = "gzip-libdeflate"))]
fn gzip_compress<O: CompressSink + ?Sized>(
    level: u32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    use std::io::Write;
    out.with_writer(&mut |w| {
        let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::new(level));
        enc.write_all(input)?;
        enc.finish().map(drop)
    })
}

/// zstd-compresses `input` at `level` into one frame, its content size in the header,
/// appended to `out`, with this thread's compression context (`ZSTD_compress2`, which starts
/// every frame afresh: the output does not depend on what the context compressed before).
///
/// A context made per batch cost more than the compression itself: in callgrind of the core
/// bench at 100 B, zstd level 3, `ZSTD_resetCCtx_internal` zeroing the new context's tables
/// was 28 % of all instructions, the compression 16 %. A reused context with the same
/// parameters skips that zeroing. The context stays with the thread, sized for the largest
/// batch and level it has compressed (a few hundred KiB at level 3 and 16 KiB batches).
fn zstd_compress<O: CompressSink + ?Sized>(
    level: i32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    use std::cell::RefCell;
    use zstd::zstd_safe::{get_error_name, CCtx, CParameter};
    thread_local! {
        static CONTEXT: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    }
    let error = |code| std::io::Error::other(format!("zstd: {}", get_error_name(code)));
    CONTEXT.with_borrow_mut(|cached| {
        let ctx = match cached {
            Some(ctx) => ctx,
            None => {
                let mut ctx = CCtx::try_create().ok_or_else(|| {
                    std::io::Error::other("zstd: cannot allocate a compression context")
                })?;
                // Parameters stay set on the context from frame to frame.
                ctx.set_parameter(CParameter::ContentSizeFlag(true))
                    .map_err(error)?;
                cached.insert(ctx)
            }
        };
        ctx.set_parameter(CParameter::CompressionLevel(level))
            .map_err(error)?;
        let bound = zstd::zstd_safe::compress_bound(input.len());
        match append_bounded(out, bound, |dst| ctx.compress2(dst, input)) {
            Ok(_) => Ok(()),
            Err(code) => {
                // A failed ZSTD_compress2 leaves the context mid-frame: start the next
                // batch with a new one.
                *cached = None;
                Err(error(code))
            }
        }
    })
}

/// Reads `reader` to its end, at most `limit` bytes; more is [`CompressionError::TooLarge`].
fn read_bounded<R: Read>(
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

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
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

#[cfg(test)]
mod tests {
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
        // lz4 always uses LZ4's fast compressor: the level is checked, not used.
        assert_eq!(
            out(Compression::Lz4, Some(1)),
            out(Compression::Lz4, Some(17))
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
        let input =
            b"some moderately compressible text, some moderately compressible text".repeat(20);
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
}

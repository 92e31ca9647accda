//! Record formats: RecordBatch v2 ([`batch`], magic 2, CRC-32C, varint records, headers) and the
//! legacy MessageSet ([`legacy`], magic 0/1, CRC-32, compressed wrapper messages).
//!
//! [`BatchBuilder`] encodes each record once, into the open batch of its partition, and
//! [`decode_records`] reads any of the formats back (for the simulator and tests).

pub mod batch;
pub mod legacy;
mod wire;

pub use batch::ProducerFields;

use crate::compression::{Compression, CompressionError};
use crate::message::Header;
use crate::protocol::DecodeError;
use bytes::{Bytes, BytesMut};

/// The record format (the "magic" byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// MessageSet magic 0 (no timestamps).
    V0,
    /// MessageSet magic 1 (timestamps).
    V1,
    /// RecordBatch magic 2.
    V2,
}

/// Why records could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Headers cannot be written in a legacy message format.
    #[error("record headers need RecordBatch v2")]
    HeadersNotSupported,
    /// This codec cannot be used with this format (zstd needs v2).
    #[error("{0:?} compression needs RecordBatch v2")]
    CompressionNotSupported(Compression),
    /// Bad bytes.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A checksum did not match.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// The checksum in the bytes.
        stored: u32,
        /// The checksum computed.
        computed: u32,
    },
    /// Compression failed.
    #[error(transparent)]
    Compression(#[from] CompressionError),
}

/// Builds one batch of records for one partition, in one format.
///
/// Each record is encoded once, at [`append`](Self::append), straight into the builder's
/// buffer (no per-record allocation once the buffer has grown; pass a recycled buffer to
/// [`with_buffer`](Self::with_buffer) to skip even that). For RecordBatch v2 the buffer starts
/// with a reserved 61-byte header, which [`finish`](Self::finish) fills in place: an
/// uncompressed batch is returned without copying the records again; a compressed one costs
/// the compression output only.
///
/// Cost per record: computing the varint sizes, one `reserve` (amortised), writing the
/// fields; for legacy formats also one CRC-32 over the message. The v2 CRC-32C runs once per
/// batch at `finish`, over the whole batch (hardware accelerated).
#[derive(Debug)]
pub struct BatchBuilder {
    format: RecordFormat,
    buf: BytesMut,
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// An empty batch in `format`.
    pub fn new(format: RecordFormat) -> Self {
        Self::with_buffer(format, BytesMut::new())
    }

    /// An empty batch in `format` with room for about `capacity` bytes.
    pub fn with_capacity(format: RecordFormat, capacity: usize) -> Self {
        Self::with_buffer(format, BytesMut::with_capacity(capacity))
    }

    /// An empty batch in `format` writing into `buf` (cleared first), to reuse its capacity.
    pub fn with_buffer(format: RecordFormat, mut buf: BytesMut) -> Self {
        buf.clear();
        if format == RecordFormat::V2 {
            buf.resize(batch::HEADER_LEN, 0);
        }
        BatchBuilder {
            format,
            buf,
            count: 0,
            base_timestamp: -1,
            max_timestamp: -1,
        }
    }

    /// The format.
    pub fn format(&self) -> RecordFormat {
        self.format
    }

    /// An upper bound on the bytes one record adds to a batch in `format` (used for
    /// `message.max.bytes` and batch-size decisions before appending).
    ///
    /// v2: exact but for the timestamp and offset deltas, counted at their largest varint
    /// sizes (10 and 5 bytes). v0/v1: exact (26 / 34 bytes of framing plus key and value;
    /// headers cannot be written and are not counted).
    #[inline]
    pub fn record_size_bound(
        format: RecordFormat,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        match format {
            RecordFormat::V2 => batch::record_size_bound(key, value, headers),
            RecordFormat::V0 | RecordFormat::V1 => {
                legacy::message_overhead(format)
                    + key.map_or(0, <[u8]>::len)
                    + value.map_or(0, <[u8]>::len)
            }
        }
    }

    /// Bytes of batch framing in `format` around the records (batch header, or nothing for a
    /// MessageSet).
    ///
    /// v2: 61. v0/v1: 0 uncompressed; a compressed message set adds one wrapper message, see
    /// [`compressed_overhead`](Self::compressed_overhead).
    pub fn overhead(format: RecordFormat) -> usize {
        match format {
            RecordFormat::V2 => batch::HEADER_LEN,
            RecordFormat::V0 | RecordFormat::V1 => 0,
        }
    }

    /// Bytes of framing around the compressed records: the batch header for v2 (61), the
    /// wrapper message for v0 (26) and v1 (34).
    pub fn compressed_overhead(format: RecordFormat) -> usize {
        match format {
            RecordFormat::V2 => batch::HEADER_LEN,
            RecordFormat::V0 | RecordFormat::V1 => legacy::message_overhead(format),
        }
    }

    /// Appends one record.
    ///
    /// Errors: [`RecordError::HeadersNotSupported`] for headers in v0/v1; a length beyond
    /// `i32::MAX` (or more than `i32::MAX` records) is `RecordError::Decode(Invalid(..))`.
    /// On error nothing was appended.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<(), RecordError> {
        match self.format {
            RecordFormat::V2 => {
                let offset_delta = i32::try_from(self.count)
                    .map_err(|_| DecodeError::Invalid("more than 2^31-1 records"))?;
                let base = if self.count == 0 {
                    timestamp
                } else {
                    self.base_timestamp
                };
                batch::append_record(
                    &mut self.buf,
                    offset_delta,
                    timestamp.wrapping_sub(base),
                    key,
                    value,
                    headers,
                )?;
                self.base_timestamp = base;
            }
            RecordFormat::V0 | RecordFormat::V1 => {
                if !headers.is_empty() {
                    return Err(RecordError::HeadersNotSupported);
                }
                legacy::append_message(
                    &mut self.buf,
                    self.format,
                    self.count as i64,
                    0,
                    timestamp,
                    key,
                    value,
                )?;
            }
        }
        if self.count == 0 || timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        self.count += 1;
        Ok(())
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the builder's buffer can hold before it must grow.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Moves the bytes written so far into `larger` (cleared first) and returns the buffer
    /// used until now, emptied, for reuse: how a batch moves to a larger buffer.
    pub fn move_to(&mut self, mut larger: BytesMut) -> BytesMut {
        larger.clear();
        larger.extend_from_slice(&self.buf);
        let mut old = std::mem::replace(&mut self.buf, larger);
        old.clear();
        old
    }

    /// The builder's buffer, emptied, for reuse.
    pub(crate) fn into_buffer(self) -> BytesMut {
        let mut b = self.buf;
        b.clear();
        b
    }

    /// The records appended so far, decoded again: what a record that leaves its batch
    /// before the batch is finished is rebuilt from. v2 only (`None` for v0/v1, whose
    /// records the producer keeps whole). One copy of the records backs every key and value.
    pub(crate) fn decode_appended(&self) -> Option<Result<Vec<DecodedRecord>, RecordError>> {
        if self.format != RecordFormat::V2 {
            return None;
        }
        let raw = Bytes::copy_from_slice(self.buf.get(batch::HEADER_LEN..).unwrap_or_default());
        let base = self.base_timestamp;
        Some(batch::decode_bodies(&raw, self.count, |delta| {
            base.wrapping_add(delta)
        }))
    }

    /// Uncompressed size of the finished batch so far, in bytes: for v2 the header and the
    /// records; for v0/v1 the message set (compressed, it gains a wrapper message).
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Finishes the batch: compresses it with `compression` (a wrapper message for legacy
    /// formats), writes the header and checksum, and returns the bytes to send as a partition's
    /// `records`. Base offset 0; producer id -1, epoch -1, base sequence -1.
    ///
    /// An empty builder gives empty bytes. Zstd with v0/v1 is
    /// [`RecordError::CompressionNotSupported`].
    pub fn finish(
        self,
        compression: Compression,
        level: Option<i32>,
    ) -> Result<Bytes, RecordError> {
        self.finish_with(compression, level, ProducerFields::default())
    }

    /// [`finish`](Self::finish) with the idempotent / transactional producer fields of a v2
    /// batch header (ignored by v0/v1, which have none).
    pub fn finish_with(
        self,
        compression: Compression,
        level: Option<i32>,
        producer: ProducerFields,
    ) -> Result<Bytes, RecordError> {
        self.finish_reusing(compression, level, producer, BytesMut::new())
            .map(|(bytes, _)| bytes)
    }

    /// [`finish_with`](Self::finish_with), writing a compressed v2 batch into `spare` (cleared
    /// first) instead of a new buffer, and returning with the batch the buffer it did not
    /// keep: the uncompressed records' buffer when the batch was compressed into `spare`,
    /// `spare` itself otherwise. Both come back empty for the caller to reuse.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use odradek_core::record::{BatchBuilder, ProducerFields, RecordFormat};
    /// use odradek_core::Compression;
    ///
    /// let mut b = BatchBuilder::with_capacity(RecordFormat::V2, 1024);
    /// b.append(0, None, Some(&b"hello"[..]), &[]).unwrap();
    /// let spare = BytesMut::with_capacity(1024);
    /// let (batch, left) = b
    ///     .finish_reusing(Compression::Lz4, None, ProducerFields::default(), spare)
    ///     .unwrap();
    /// assert!(!batch.is_empty());
    /// assert!(left.is_empty() && left.capacity() >= 1024, "the records' buffer, for the next batch");
    /// ```
    pub fn finish_reusing(
        self,
        compression: Compression,
        level: Option<i32>,
        producer: ProducerFields,
        spare: BytesMut,
    ) -> Result<(Bytes, BytesMut), RecordError> {
        self.finish_keeping(compression, level, producer, spare)
            .map_err(|(e, _)| e)
    }

    /// [`finish_reusing`](Self::finish_reusing), handing the builder back untouched on an
    /// error: the producer rebuilds the records of a batch it could not finish from it.
    pub(crate) fn finish_keeping(
        mut self,
        compression: Compression,
        level: Option<i32>,
        producer: ProducerFields,
        mut spare: BytesMut,
    ) -> Result<(Bytes, BytesMut), (RecordError, BatchBuilder)> {
        spare.clear();
        if self.format != RecordFormat::V2 && compression == Compression::Zstd {
            return Err((RecordError::CompressionNotSupported(compression), self));
        }
        if self.count == 0 {
            return Ok((Bytes::new(), spare));
        }
        match self.format {
            RecordFormat::V2 => {
                let fields = batch::HeaderFields {
                    compression,
                    count: self.count as i32,
                    base_timestamp: self.base_timestamp,
                    max_timestamp: self.max_timestamp,
                    producer,
                };
                if compression == Compression::None {
                    // The header is written over its reserved bytes; the records stay.
                    if let Err(e) = batch::write_header(&mut self.buf, &fields) {
                        return Err((e, self));
                    }
                    Ok((self.buf.freeze(), spare))
                } else {
                    let records = &self.buf[batch::HEADER_LEN..];
                    spare.reserve(batch::HEADER_LEN + records.len() / 2 + 64);
                    spare.resize(batch::HEADER_LEN, 0);
                    if let Err(e) = compression.compress(level, records, &mut spare) {
                        return Err((e.into(), self));
                    }
                    if let Err(e) = batch::write_header(&mut spare, &fields) {
                        return Err((e, self));
                    }
                    let mut buf = self.buf;
                    buf.clear();
                    Ok((spare.freeze(), buf))
                }
            }
            RecordFormat::V0 | RecordFormat::V1 => {
                if compression == Compression::None {
                    Ok((self.buf.freeze(), spare))
                } else {
                    let wrapped = match legacy::wrap(
                        self.format,
                        &self.buf,
                        self.count,
                        self.max_timestamp,
                        compression,
                        level,
                    ) {
                        Ok(w) => w,
                        Err(e) => return Err((e, self)),
                    };
                    let mut buf = self.buf;
                    buf.clear();
                    Ok((wrapped, buf))
                }
            }
        }
    }
}

/// A batch read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// The format.
    pub format: RecordFormat,
    /// Base offset as written (0 from a producer).
    pub base_offset: i64,
    /// Compression codec used.
    pub compression: Compression,
    /// Producer id (-1 for legacy formats or non-idempotent batches).
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Base sequence.
    pub base_sequence: i32,
    /// Whether the timestamps are LogAppendTime.
    pub log_append_time: bool,
    /// The records.
    pub records: Vec<DecodedRecord>,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Offset relative to the batch's base offset (its position in the batch for legacy
    /// formats).
    pub offset_delta: i64,
    /// Timestamp in ms (-1 for magic 0).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers (always empty for legacy formats).
    pub headers: Vec<Header>,
}

/// Reads every batch in `data` (a partition's `records` field), decompressing with at most
/// `max_decompressed` bytes per batch. Never panics on any input.
///
/// RecordBatch v2 and legacy message sets are told apart by the magic byte at offset 16 and
/// may be mixed. Every CRC is checked ([`RecordError::Crc`]). Consecutive uncompressed legacy
/// messages of one magic are returned as one batch; each compressed wrapper message is a batch
/// of its own. A partial batch at the end is an error (as in a Produce request); see
/// [`decode_fetched_records`] for fetch data, where it is not.
pub fn decode_records(
    data: &[u8],
    max_decompressed: usize,
) -> Result<Vec<DecodedBatch>, RecordError> {
    let (batches, trailing) = decode_fetched_records(data, max_decompressed)?;
    if trailing != 0 {
        return Err(DecodeError::Truncated {
            what: "record batch",
            needed: 1,
        }
        .into());
    }
    Ok(batches)
}

/// Like [`decode_records`], but a partial batch at the end (which a Fetch response may carry)
/// is not an error: decoding stops before it, and its length is returned with the batches.
pub fn decode_fetched_records(
    data: &[u8],
    max_decompressed: usize,
) -> Result<(Vec<DecodedBatch>, usize), RecordError> {
    let mut batches: Vec<DecodedBatch> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let Some(len) = entry_len(rest)? else {
            return Ok((batches, rest.len()));
        };
        let entry = &rest[..len];
        pos += len;
        if entry[16] == 2 {
            batches.push(batch::decode(entry, max_decompressed)?);
            continue;
        }
        let decoded = legacy::decode(entry, max_decompressed)?;
        match batches.last_mut() {
            Some(prev)
                if decoded.compression == Compression::None
                    && prev.compression == Compression::None
                    && prev.format == decoded.format
                    && prev.log_append_time == decoded.log_append_time =>
            {
                for mut r in decoded.records {
                    r.offset_delta = prev.records.len() as i64;
                    prev.records.push(r);
                }
            }
            _ => batches.push(decoded),
        }
    }
    Ok((batches, 0))
}

/// The length of the whole batch or message at the start of `data` (12 + its size field), or
/// `None` when `data` ends before it does. A size too small for its magic, or an unknown
/// magic, is an error.
pub(crate) fn entry_len(data: &[u8]) -> Result<Option<usize>, RecordError> {
    if data.len() < 12 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
    // Enough to reach the magic byte (crc or partition leader epoch, then magic).
    if size < 5 {
        return Err(DecodeError::Invalid("batch or message size").into());
    }
    if data.len() < 17 {
        return Ok(None);
    }
    let min = match data[16] {
        0 => 14,
        1 => 22,
        2 => batch::HEADER_LEN - 12,
        _ => return Err(DecodeError::Invalid("magic").into()),
    };
    if (size as usize) < min {
        return Err(DecodeError::Invalid("batch or message size").into());
    }
    let total = 12 + size as usize;
    Ok((data.len() >= total).then_some(total))
}

//! Record formats: RecordBatch v2 ([`batch`], magic 2, CRC-32C, varint records, headers) and the
//! legacy MessageSet ([`legacy`], magic 0/1, CRC-32, compressed wrapper messages).
//!
//! [`BatchBuilder`] encodes each record once, into the open batch of its partition, and
//! [`decode_records`] reads any of the formats back (for the simulator and tests).

pub mod batch;
pub mod legacy;

use crate::compression::{Compression, CompressionError};
use crate::message::Header;
use crate::protocol::DecodeError;
use bytes::Bytes;

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
#[derive(Debug)]
pub struct BatchBuilder {
    format: RecordFormat,
}

impl BatchBuilder {
    /// An empty batch in `format`.
    pub fn new(format: RecordFormat) -> Self {
        BatchBuilder { format }
    }

    /// The format.
    pub fn format(&self) -> RecordFormat {
        self.format
    }

    /// An upper bound on the bytes one record adds to a batch in `format` (used for
    /// `message.max.bytes` and batch-size decisions before appending).
    pub fn record_size_bound(
        format: RecordFormat,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let _ = (format, key, value, headers);
        todo!("record: record_size_bound")
    }

    /// Bytes of batch framing in `format` around the records (batch header, or nothing for a
    /// MessageSet).
    pub fn overhead(format: RecordFormat) -> usize {
        let _ = format;
        todo!("record: overhead")
    }

    /// Appends one record.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<(), RecordError> {
        let _ = (timestamp, key, value, headers);
        todo!("record: append")
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        todo!("record: len")
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Uncompressed size of the finished batch so far, in bytes.
    pub fn size(&self) -> usize {
        todo!("record: size")
    }

    /// Finishes the batch: compresses it with `compression` (a wrapper message for legacy
    /// formats), writes the header and checksum, and returns the bytes to send as a partition's
    /// `records`. Base offset 0; producer id -1, epoch -1, base sequence -1.
    pub fn finish(
        self,
        compression: Compression,
        level: Option<i32>,
    ) -> Result<Bytes, RecordError> {
        let _ = (compression, level);
        todo!("record: finish")
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
pub fn decode_records(
    data: &[u8],
    max_decompressed: usize,
) -> Result<Vec<DecodedBatch>, RecordError> {
    let _ = (data, max_decompressed);
    todo!("record: decode_records")
}

//! Legacy MessageSet v0/v1 (magic 0 and 1, CRC-32).
//!
//! ```text
//! message: offset i64 | messageSize i32 | crc u32 (CRC-32 of magic..end) | magic i8
//!          | attributes i8 (codec in bits 0-2; v1: timestamp type in bit 3)
//!          | timestamp i64 (v1 only) | key (i32 length, -1 null) | value (same)
//! ```
//!
//! Compressed, the whole inner message set becomes the value of one wrapper message with the
//! codec in its attributes and a null key. Inner offsets are 0..n-1 — relative offsets for
//! magic 1 (KIP-31), with the wrapper carrying the last one, n-1; for magic 0 they are
//! absolute, and the broker assigns real ones anyway. Snappy is written raw, which the broker
//! reads through xerial's `SnappyInputStream` fallback for every magic.

use super::wire::Cursor;
use super::{DecodedBatch, DecodedRecord, RecordError, RecordFormat};
use crate::compression::Compression;
use crate::protocol::DecodeError;
use bytes::{BufMut, Bytes, BytesMut};

/// offset + size + crc + magic + attributes + key length + value length.
const V0_OVERHEAD: usize = 8 + 4 + 4 + 1 + 1 + 4 + 4;
/// v0 plus the timestamp.
const V1_OVERHEAD: usize = V0_OVERHEAD + 8;
/// Attribute bit (v1): timestamps are LogAppendTime.
const ATTR_LOG_APPEND_TIME: i8 = 1 << 3;

fn magic(format: RecordFormat) -> i8 {
    match format {
        RecordFormat::V0 => 0,
        _ => 1,
    }
}

/// Bytes of one message's framing (everything but key and value bytes).
pub(crate) fn message_overhead(format: RecordFormat) -> usize {
    if format == RecordFormat::V0 {
        V0_OVERHEAD
    } else {
        V1_OVERHEAD
    }
}

fn len_i32(n: usize) -> Result<i32, RecordError> {
    i32::try_from(n).map_err(|_| RecordError::Decode(DecodeError::Invalid("length over 2^31-1")))
}

/// Appends one message (offset `offset`, attributes `attributes`) to `buf`, CRC included.
pub(crate) fn append_message(
    buf: &mut BytesMut,
    format: RecordFormat,
    offset: i64,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<(), RecordError> {
    let key_len = key.map(|k| len_i32(k.len())).transpose()?;
    let value_len = value.map(|v| len_i32(v.len())).transpose()?;
    let total =
        message_overhead(format) + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    let size = len_i32(total - 12)?;
    buf.reserve(total);
    let start = buf.len();
    buf.put_i64(offset);
    buf.put_i32(size);
    buf.put_u32(0);
    buf.put_i8(magic(format));
    buf.put_i8(attributes);
    if format != RecordFormat::V0 {
        buf.put_i64(timestamp);
    }
    buf.put_i32(key_len.unwrap_or(-1));
    if let Some(k) = key {
        buf.put_slice(k);
    }
    buf.put_i32(value_len.unwrap_or(-1));
    if let Some(v) = value {
        buf.put_slice(v);
    }
    let crc = crc32fast::hash(&buf[start + 16..]);
    buf[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Builds the wrapper message around `inner` (an uncompressed message set of `count`
/// messages), compressed with `compression`.
pub(crate) fn wrap(
    format: RecordFormat,
    inner: &[u8],
    count: usize,
    max_timestamp: i64,
    compression: Compression,
    level: Option<i32>,
) -> Result<Bytes, RecordError> {
    // With a null key, the framing is everything before the value's bytes.
    let prefix = message_overhead(format);
    let mut out = Vec::with_capacity(prefix + inner.len() / 2 + 64);
    out.resize(prefix, 0);
    compression.compress(level, inner, &mut out)?;
    let value_len = len_i32(out.len() - prefix)?;
    let size = len_i32(out.len() - 12)?;
    let last_offset = count.saturating_sub(1) as i64;
    {
        let mut h = &mut out[..prefix];
        h.put_i64(last_offset);
        h.put_i32(size);
        h.put_u32(0);
        h.put_i8(magic(format));
        h.put_i8(compression.attribute() as i8);
        if format != RecordFormat::V0 {
            h.put_i64(max_timestamp);
        }
        h.put_i32(-1); // null key
        h.put_i32(value_len);
    }
    let crc = crc32fast::hash(&out[16..]);
    out[12..16].copy_from_slice(&crc.to_be_bytes());
    Ok(Bytes::from(out))
}

/// One message read back (its value may be a compressed inner set).
struct Message {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Decodes one whole message (`data` is exactly its `12 + messageSize` bytes), checking its
/// CRC. Keys and values are slices of `backing`, which `data` lies within at `base`.
fn decode_message(backing: &Bytes, base: usize, len: usize) -> Result<Message, RecordError> {
    let data = &backing[base..base + len];
    let mut c = Cursor::new(data);
    let offset = c.i64("offset")?;
    let _size = c.i32("messageSize")?;
    let stored = c.u32("crc")?;
    let computed = crc32fast::hash(&data[16..]);
    if stored != computed {
        return Err(RecordError::Crc { stored, computed });
    }
    let magic = c.i8("magic")?;
    if !(0..=1).contains(&magic) {
        return Err(DecodeError::Invalid("magic").into());
    }
    let attributes = c.i8("attributes")?;
    let timestamp = if magic == 1 { c.i64("timestamp")? } else { -1 };
    let key = c.nullable_range(false, "message key")?;
    let value = c.nullable_range(false, "message value")?;
    if c.remaining() != 0 {
        return Err(DecodeError::Trailing(c.remaining()).into());
    }
    let slice = |r: std::ops::Range<usize>| backing.slice(base + r.start..base + r.end);
    Ok(Message {
        offset,
        magic,
        attributes,
        timestamp,
        key: key.map(slice),
        value: value.map(slice),
    })
}

fn format_of(magic: i8) -> RecordFormat {
    if magic == 0 {
        RecordFormat::V0
    } else {
        RecordFormat::V1
    }
}

/// Splits `data` into whole messages: `(start, len)` pairs. A partial message at the end is an
/// error.
fn split_messages(data: &[u8]) -> Result<Vec<(usize, usize)>, RecordError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let len = super::entry_len(&data[pos..])?.ok_or(DecodeError::Truncated {
            what: "message",
            needed: 1,
        })?;
        out.push((pos, len));
        pos += len;
    }
    Ok(out)
}

/// Decodes one top-level message. `data` is exactly the message. Returns it as a batch of its
/// own (compressed: the inner records; uncompressed: the one record, for the caller to merge).
pub(crate) fn decode(data: &[u8], max_decompressed: usize) -> Result<DecodedBatch, RecordError> {
    let backing = Bytes::copy_from_slice(data);
    let m = decode_message(&backing, 0, backing.len())?;
    let compression = Compression::from_attribute((m.attributes & 0x7) as u8)?;
    let log_append_time = m.magic == 1 && m.attributes & ATTR_LOG_APPEND_TIME != 0;
    let format = format_of(m.magic);
    let batch = |base_offset, records| DecodedBatch {
        format,
        base_offset,
        compression,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        log_append_time,
        records,
    };
    if compression == Compression::None {
        let record = DecodedRecord {
            offset_delta: 0,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: Vec::new(),
        };
        return Ok(batch(m.offset, vec![record]));
    }
    if compression == Compression::Zstd {
        return Err(RecordError::CompressionNotSupported(compression));
    }
    let compressed = m.value.ok_or(DecodeError::Invalid("null wrapper value"))?;
    let inner = Bytes::from(compression.decompress(&compressed, max_decompressed)?);
    let mut records = Vec::new();
    let mut first_offset = 0;
    let mut last_offset = 0;
    for (i, (start, len)) in split_messages(&inner)?.into_iter().enumerate() {
        let im = decode_message(&inner, start, len)?;
        if im.magic != m.magic {
            return Err(DecodeError::Invalid("inner message magic").into());
        }
        if im.attributes & 0x7 != 0 {
            return Err(DecodeError::Invalid("nested compression").into());
        }
        if i == 0 {
            first_offset = im.offset;
        }
        last_offset = im.offset;
        records.push(DecodedRecord {
            offset_delta: i as i64,
            timestamp: if log_append_time {
                m.timestamp
            } else {
                im.timestamp
            },
            key: im.key,
            value: im.value,
            headers: Vec::new(),
        });
    }
    // Magic 1: inner offsets are relative, the wrapper holds the absolute last one.
    let base_offset = if m.magic == 1 {
        m.offset.wrapping_sub(last_offset)
    } else {
        first_offset
    };
    Ok(batch(base_offset, records))
}

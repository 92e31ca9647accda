//! RecordBatch v2 (magic 2): the 61-byte batch header, varint records with headers, CRC-32C
//! over everything from the attributes to the end.
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 (2) | crc u32
//! | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64
//! | producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
//! record: length varint | attributes i8 | timestampDelta varlong | offsetDelta varint
//!         | key (varint length, -1 null) | value (same) | headerCount varint
//!         | headers: key (varint length + UTF-8) | value (varint length, -1 null)
//! ```

use super::wire::{self, Cursor};
use super::{DecodedBatch, DecodedRecord, RecordError, RecordFormat};
use crate::compression::Compression;
use crate::message::Header;
use crate::protocol::DecodeError;
use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of the batch header, before the first record.
pub const HEADER_LEN: usize = 61;
/// Offset of the attributes: the CRC covers from here to the end.
const CRC_START: usize = 21;
/// Smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
/// value length, header count.
const MIN_RECORD_LEN: usize = 7;

/// Attribute bit: timestamps are LogAppendTime.
pub const ATTR_LOG_APPEND_TIME: i16 = 1 << 3;
/// Attribute bit: transactional batch.
pub const ATTR_TRANSACTIONAL: i16 = 1 << 4;
/// Attribute bit: control batch.
pub const ATTR_CONTROL: i16 = 1 << 5;

/// The producer fields of a batch header (all -1 for a producer without idempotence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerFields {
    /// Producer id, -1 for none.
    pub producer_id: i64,
    /// Producer epoch, -1 for none.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record, -1 for none.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction (attributes bit 4).
    pub transactional: bool,
}

impl Default for ProducerFields {
    fn default() -> Self {
        ProducerFields {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        }
    }
}

fn len_i32(n: usize) -> Result<i32, RecordError> {
    i32::try_from(n).map_err(|_| RecordError::Decode(DecodeError::Invalid("length over 2^31-1")))
}

/// Upper bound of one record's bytes (its length prefix included). Exact except for the
/// timestamp and offset deltas, counted at their maximum varint sizes.
#[inline]
pub(crate) fn record_size_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let field = |len: Option<usize>| match len {
        None => 1,
        Some(n) => varlen(n) + n,
    };
    let mut body = 1 + 10 + 5;
    body += field(key.map(<[u8]>::len)) + field(value.map(<[u8]>::len));
    body += varlen(headers.len());
    for h in headers {
        body += field(Some(h.key.len())) + field(h.value.as_ref().map(|v| v.len()));
    }
    varlen(body) + body
}

/// Varint size of a non-negative length (5 for anything past i32).
fn varlen(n: usize) -> usize {
    match i32::try_from(n) {
        Ok(v) => wire::varint_len(v),
        Err(_) => 5,
    }
}

/// Room for the fields before a record's key: length (5), attributes (1), timestamp delta
/// (10), offset delta (5), key length (5).
const HEAD_MAX: usize = 26;
/// Keys up to this size are copied into the head and written with it (one copy, not two).
const SMALL_KEY: usize = 64;

/// Appends one record to `buf`.
///
/// The hot path of `send`: the lengths are computed once, `buf` grows at most once, and a
/// record without headers is written in three copies (head with a small key and the value's
/// length, the value, the header count) rather than one per field.
#[inline]
pub(crate) fn append_record(
    buf: &mut BytesMut,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> Result<(), RecordError> {
    let key_len = key.map(|k| len_i32(k.len())).transpose()?;
    let value_len = value.map(|v| len_i32(v.len())).transpose()?;
    let header_count = len_i32(headers.len())?;
    let field = |len: Option<i32>| match len {
        None => 1,
        Some(n) => wire::varint_len(n) + n as usize,
    };
    let mut body = 1
        + wire::varlong_len(timestamp_delta)
        + wire::varint_len(offset_delta)
        + field(key_len)
        + field(value_len)
        + wire::varint_len(header_count);
    for h in headers {
        let hk = len_i32(h.key.len())?;
        let hv = h.value.as_ref().map(|v| len_i32(v.len())).transpose()?;
        body += field(Some(hk)) + field(hv);
    }
    let body_i32 = len_i32(body)?;
    buf.reserve(wire::varint_len(body_i32) + body);
    let mut head = [0u8; HEAD_MAX + SMALL_KEY + 5];
    let mut n = wire::varint_into(&mut head, 0, body_i32);
    // attributes: head[n] is already 0.
    n += 1;
    n = wire::varlong_into(&mut head, n, timestamp_delta);
    n = wire::varint_into(&mut head, n, offset_delta);
    match key {
        Some(k) if k.len() <= SMALL_KEY => {
            n = wire::varint_into(&mut head, n, k.len() as i32);
            head[n..n + k.len()].copy_from_slice(k);
            n += k.len();
        }
        Some(k) => {
            n = wire::varint_into(&mut head, n, k.len() as i32);
            buf.extend_from_slice(&head[..n]);
            buf.extend_from_slice(k);
            n = 0;
        }
        None => n = wire::varint_into(&mut head, n, -1),
    }
    n = wire::varint_into(&mut head, n, value.map_or(-1, |v| v.len() as i32));
    buf.extend_from_slice(&head[..n]);
    if let Some(v) = value {
        buf.extend_from_slice(v);
    }
    if headers.is_empty() {
        buf.put_u8(0);
        return Ok(());
    }
    wire::put_varint(buf, header_count);
    for h in headers {
        wire::put_varint(buf, h.key.len() as i32);
        buf.put_slice(h.key.as_bytes());
        let v = h.value.as_deref();
        put_field(buf, v, v.map(|v| v.len() as i32));
    }
    Ok(())
}

fn put_field(buf: &mut BytesMut, bytes: Option<&[u8]>, len: Option<i32>) {
    match (bytes, len) {
        (Some(b), Some(n)) => {
            wire::put_varint(buf, n);
            buf.put_slice(b);
        }
        _ => wire::put_varint(buf, -1),
    }
}

/// The header fields that `write_header` fills in.
pub(crate) struct HeaderFields {
    pub(crate) compression: Compression,
    pub(crate) count: i32,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer: ProducerFields,
}

/// Fills the first [`HEADER_LEN`] bytes of `batch` (the whole finished batch: header then
/// records, compressed or not) and computes the CRC.
pub(crate) fn write_header(batch: &mut [u8], f: &HeaderFields) -> Result<(), RecordError> {
    let batch_length = len_i32(batch.len() - 12)?;
    let mut attributes = i16::from(f.compression.attribute());
    if f.producer.transactional {
        attributes |= ATTR_TRANSACTIONAL;
    }
    let mut h = &mut batch[..HEADER_LEN];
    h.put_i64(0);
    h.put_i32(batch_length);
    h.put_i32(-1);
    h.put_i8(2);
    h.put_u32(0);
    h.put_i16(attributes);
    h.put_i32(f.count - 1);
    h.put_i64(f.base_timestamp);
    h.put_i64(f.max_timestamp);
    h.put_i64(f.producer.producer_id);
    h.put_i16(f.producer.producer_epoch);
    h.put_i32(f.producer.base_sequence);
    h.put_i32(f.count);
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Offset of `producerId` in the header (then `producerEpoch`, `baseSequence`).
const PRODUCER_ID_AT: usize = 43;

/// A copy of the finished v2 batch `batch` with other producer fields (id, epoch, base
/// sequence; the transactional bit is left as it is) and its CRC recomputed: how a sealed
/// batch is re-stamped after an epoch bump or a split, without encoding its records again.
/// `None` when `batch` is not one whole v2 batch header (too short, wrong magic).
pub fn restamp(batch: &[u8], producer: ProducerFields) -> Option<Bytes> {
    if batch.len() < HEADER_LEN || batch[16] != 2 {
        return None;
    }
    let mut out = BytesMut::with_capacity(batch.len());
    out.extend_from_slice(batch);
    let mut h = &mut out[PRODUCER_ID_AT..PRODUCER_ID_AT + 14];
    h.put_i64(producer.producer_id);
    h.put_i16(producer.producer_epoch);
    h.put_i32(producer.base_sequence);
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Some(out.freeze())
}

/// Decodes one whole v2 batch (`data` is exactly its `12 + batchLength` bytes).
pub(crate) fn decode(data: &[u8], max_decompressed: usize) -> Result<DecodedBatch, RecordError> {
    let mut c = Cursor::new(data);
    let base_offset = c.i64("baseOffset")?;
    let _batch_length = c.i32("batchLength")?;
    let _leader_epoch = c.i32("partitionLeaderEpoch")?;
    let magic = c.i8("magic")?;
    if magic != 2 {
        return Err(DecodeError::Invalid("magic").into());
    }
    let stored = c.u32("crc")?;
    if data.len() < HEADER_LEN {
        return Err(DecodeError::Truncated {
            what: "record batch header",
            needed: HEADER_LEN - data.len(),
        }
        .into());
    }
    let computed = crc32c::crc32c(&data[CRC_START..]);
    if stored != computed {
        return Err(RecordError::Crc { stored, computed });
    }
    let attributes = c.i16("attributes")?;
    let _last_offset_delta = c.i32("lastOffsetDelta")?;
    let base_timestamp = c.i64("baseTimestamp")?;
    let max_timestamp = c.i64("maxTimestamp")?;
    let producer_id = c.i64("producerId")?;
    let producer_epoch = c.i16("producerEpoch")?;
    let base_sequence = c.i32("baseSequence")?;
    let count = c.i32("recordCount")?;
    if count < 0 {
        return Err(DecodeError::Invalid("recordCount").into());
    }
    let compression = Compression::from_attribute((attributes & 0x7) as u8)?;
    let log_append_time = attributes & ATTR_LOG_APPEND_TIME != 0;
    let raw = &data[HEADER_LEN..];
    // One copy (or the decompressed buffer) backs every key and value of the batch.
    let records_bytes = if compression == Compression::None {
        Bytes::copy_from_slice(raw)
    } else {
        Bytes::from(compression.decompress(raw, max_decompressed)?)
    };
    let records = decode_bodies(&records_bytes, count as usize, |delta| {
        if log_append_time {
            max_timestamp
        } else {
            base_timestamp.wrapping_add(delta)
        }
    })?;
    Ok(DecodedBatch {
        format: RecordFormat::V2,
        base_offset,
        compression,
        producer_id,
        producer_epoch,
        base_sequence,
        log_append_time,
        records,
    })
}

/// Decodes the `count` records of a v2 batch's records section (`records_bytes`, after the
/// header and any decompression), each key and value a slice of `records_bytes`, each
/// timestamp `timestamp_of(timestampDelta)`. Never panics on any input.
pub(crate) fn decode_bodies(
    records_bytes: &Bytes,
    count: usize,
    timestamp_of: impl Fn(i64) -> i64,
) -> Result<Vec<DecodedRecord>, RecordError> {
    let mut r = Cursor::new(records_bytes);
    if count > r.remaining() / MIN_RECORD_LEN {
        return Err(DecodeError::Invalid("recordCount larger than the records").into());
    }
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.varint("record length")?;
        if len < 0 {
            return Err(DecodeError::Invalid("record length").into());
        }
        let start = r.position();
        r.take(len as usize, "record")?;
        let body = records_bytes.slice(start..start + len as usize);
        let mut b = Cursor::new(&body);
        let _attributes = b.i8("record attributes")?;
        let timestamp_delta = b.varlong("timestampDelta")?;
        let offset_delta = b.varint("offsetDelta")?;
        let key = b
            .nullable_range(true, "record key")?
            .map(|rg| body.slice(rg));
        let value = b
            .nullable_range(true, "record value")?
            .map(|rg| body.slice(rg));
        let header_count = b.varint("header count")?;
        if header_count < 0 || header_count as usize > b.remaining() / 2 {
            return Err(DecodeError::Invalid("header count").into());
        }
        let mut headers = Vec::with_capacity(header_count as usize);
        for _ in 0..header_count {
            let key_range = b
                .nullable_range(true, "header key")?
                .ok_or(DecodeError::Invalid("null header key"))?;
            let key = std::str::from_utf8(&body[key_range])
                .map_err(|_| DecodeError::Invalid("header key UTF-8"))?
                .to_owned();
            let value = b
                .nullable_range(true, "header value")?
                .map(|rg| body.slice(rg));
            headers.push(Header { key, value });
        }
        if b.remaining() != 0 {
            return Err(DecodeError::Trailing(b.remaining()).into());
        }
        let timestamp = timestamp_of(timestamp_delta);
        records.push(DecodedRecord {
            offset_delta: i64::from(offset_delta),
            timestamp,
            key,
            value,
            headers,
        });
    }
    if r.remaining() != 0 {
        return Err(DecodeError::Trailing(r.remaining()).into());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{decode_records, BatchBuilder};

    #[test]
    fn records_round_trip_around_the_small_key_limit() {
        let big = vec![7u8; 300];
        let keys: [Option<&[u8]>; 6] = [
            None,
            Some(b""),
            Some(&big[..SMALL_KEY - 1]),
            Some(&big[..SMALL_KEY]),
            Some(&big[..SMALL_KEY + 1]),
            Some(&big),
        ];
        let values: [Option<&[u8]>; 3] = [None, Some(b""), Some(&big)];
        let headers = [Header::new("h", "v"), Header::new("n", "")];
        let mut b = BatchBuilder::new(RecordFormat::V2);
        let mut want = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            for (j, value) in values.iter().enumerate() {
                let hs: &[Header] = if j == 1 { &headers } else { &[] };
                // Timestamps far apart: multi-byte varlong deltas.
                let ts = 1_700_000_000_000 + (i * 3 + j) as i64 * 1_000_000_007;
                b.append(ts, *key, *value, hs).unwrap();
                want.push((
                    ts,
                    key.map(<[u8]>::to_vec),
                    value.map(<[u8]>::to_vec),
                    hs.len(),
                ));
            }
        }
        let bytes = b.finish(Compression::None, None).unwrap();
        let d = decode_records(&bytes, 1 << 20).unwrap();
        let got: Vec<_> = d[0]
            .records
            .iter()
            .map(|r| {
                (
                    r.timestamp,
                    r.key.as_ref().map(|k| k.to_vec()),
                    r.value.as_ref().map(|v| v.to_vec()),
                    r.headers.len(),
                )
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(d[0].records[1].headers, headers);
        let deltas: Vec<i64> = d[0].records.iter().map(|r| r.offset_delta).collect();
        assert_eq!(deltas, (0..want.len() as i64).collect::<Vec<_>>());
    }

    #[test]
    fn restamp_rewrites_the_producer_fields_and_the_crc() {
        let mut b = BatchBuilder::new(RecordFormat::V2);
        b.append(5, Some(b"k"), Some(b"v"), &[]).unwrap();
        b.append(6, None, Some(b"w"), &[]).unwrap();
        let first = ProducerFields {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 40,
            transactional: false,
        };
        let bytes = b.finish_with(Compression::None, None, first).unwrap();
        let again = ProducerFields {
            producer_epoch: 2,
            base_sequence: 0,
            ..first
        };
        let re = restamp(&bytes, again).expect("a v2 batch");
        let d = decode_records(&re, 1 << 20).expect("CRC still checks");
        assert_eq!(
            (d[0].producer_id, d[0].producer_epoch, d[0].base_sequence),
            (7, 2, 0)
        );
        assert_eq!(d[0].records.len(), 2);
        assert_eq!(
            decode_records(&bytes, 1 << 20).unwrap()[0].base_sequence,
            40
        );
        assert!(restamp(&bytes[..20], again).is_none());
    }
}

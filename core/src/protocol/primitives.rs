//! Primitive types of the protocol: a bounds-checked [`Reader`] and writers on `BytesMut`.
//! Both classic (int16-length) and compact (unsigned-varint-length) forms, zig-zag varints,
//! tagged fields.
//!
//! Reading: every [`Reader`] method checks bounds and returns [`DecodeError`] instead of
//! panicking; lengths read from the wire are checked against [`Reader::remaining`] before
//! anything is allocated. Writing: the [`WireWrite`] extension trait, implemented for every
//! [`bytes::BufMut`] (so for `BytesMut` and `Vec<u8>`).

use bytes::{BufMut, Bytes};

/// Why bytes could not be decoded. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes ended before the value did.
    #[error("truncated: needed {needed} more bytes for {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many more bytes it needed.
        needed: usize,
    },
    /// A value that is not allowed (negative length, bad varint, unknown version, ...).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes left over after the message.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Reads protocol values from a byte slice, checking bounds on every read. Lengths read from
/// the wire are checked against what remains before anything is allocated.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// When built with [`Reader::from_bytes`], the shared buffer `buf` views, so that byte
    /// fields can be returned as zero-copy slices.
    origin: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`. Byte fields read with it are copied; use
    /// [`Reader::from_bytes`] to get zero-copy slices.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            origin: None,
        }
    }

    /// A reader at the start of `bytes`; [`Reader::bytes`] and friends then return slices of
    /// `bytes` without copying.
    pub fn from_bytes(bytes: &'a Bytes) -> Self {
        Reader {
            buf: bytes.as_ref(),
            pos: 0,
            origin: Some(bytes),
        }
    }

    /// The most bytes [`Reader::read_vec`] reserves before decoding any element.
    pub const MAX_PREALLOC_BYTES: usize = 4096;

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// How many bytes have been read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not yet read (without consuming them).
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// `Ok(())` when everything was read, [`DecodeError::Trailing`] otherwise.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        let rem = self.remaining();
        if n > rem {
            Err(DecodeError::Truncated {
                what,
                needed: n - rem,
            })
        } else {
            Ok(())
        }
    }

    /// Reads `n` raw bytes as a borrowed slice.
    pub fn slice(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.need(n, what)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.slice(n, what).map(|_| ())
    }

    /// Reads `n` raw bytes as [`Bytes`]: a zero-copy slice when built with
    /// [`Reader::from_bytes`], a copy otherwise (of at most `remaining()` bytes).
    pub fn raw_bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, what)?;
        let start = self.pos;
        self.pos += n;
        Ok(match self.origin {
            Some(origin) => origin.slice(start..start + n),
            None => Bytes::copy_from_slice(&self.buf[start..start + n]),
        })
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.slice(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads an `int8`.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array("int8")?))
    }

    /// Reads a big-endian `int16`.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array("int16")?))
    }

    /// Reads a big-endian `int32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array("int32")?))
    }

    /// Reads a big-endian `int64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array("int64")?))
    }

    /// Reads a big-endian `uint32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array("uint32")?))
    }

    /// Reads a `boolean` (one byte; any non-zero value is `true`, as Kafka reads it).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.array::<1>("boolean")?[0] != 0)
    }

    /// Reads a `uuid` (16 bytes).
    pub fn uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.array("uuid")
    }

    /// Reads an `unsigned_varint` (LEB128, at most 5 bytes, value fits in 32 bits).
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.array::<1>("unsigned varint")?[0];
            if i == 4 && b > 0x0f {
                return Err(DecodeError::Invalid("unsigned varint longer than 32 bits"));
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        // Unreachable in practice: the fifth byte either ends the varint or was refused.
        Err(DecodeError::Invalid("unsigned varint longer than 5 bytes"))
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes (64 bits).
    pub fn uvarlong(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.array::<1>("unsigned varlong")?[0];
            if i == 9 && b > 0x01 {
                return Err(DecodeError::Invalid("unsigned varlong longer than 64 bits"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Invalid(
            "unsigned varlong longer than 10 bytes",
        ))
    }

    /// Reads a zig-zag `varint` (signed 32-bit, as used by RecordBatch v2 records).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Reads a zig-zag `varlong` (signed 64-bit, as used by RecordBatch v2 records).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn utf8(&mut self, n: usize, what: &'static str) -> Result<String, DecodeError> {
        self.utf8_str(n, what).map(str::to_owned)
    }

    fn utf8_str(&mut self, n: usize, what: &'static str) -> Result<&'a str, DecodeError> {
        let s = self.slice(n, what)?;
        std::str::from_utf8(s).map_err(|_| DecodeError::Invalid("utf-8 in string"))
    }

    /// Reads a non-null string length in the compact form when `flexible`, the classic form
    /// otherwise; with the name of the form, for errors.
    fn string_len(&mut self, flexible: bool) -> Result<(usize, &'static str), DecodeError> {
        if flexible {
            let n = self
                .len_compact()?
                .ok_or(DecodeError::Invalid("null in non-nullable compact string"))?;
            Ok((n, "compact string"))
        } else {
            let n = self
                .len_i16()?
                .ok_or(DecodeError::Invalid("null in non-nullable string"))?;
            Ok((n, "string"))
        }
    }

    /// Reads a classic nullable length: int16 (`-1` is null).
    fn len_i16(&mut self) -> Result<Option<usize>, DecodeError> {
        match self.i16()? {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::Invalid("negative string length")),
            n => Ok(Some(n as usize)),
        }
    }

    /// Reads a compact nullable length: uvarint length+1 (`0` is null).
    fn len_compact(&mut self) -> Result<Option<usize>, DecodeError> {
        match self.uvarint()? {
            0 => Ok(None),
            n => Ok(Some((n - 1) as usize)),
        }
    }

    /// Reads a classic `string` (int16 length, not null).
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let (n, what) = self.string_len(false)?;
        self.utf8(n, what)
    }

    /// Reads a classic `nullable_string` (int16 length, `-1` is null).
    pub fn nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.len_i16()? {
            None => Ok(None),
            Some(n) => self.utf8(n, "string").map(Some),
        }
    }

    /// Reads a `compact_string` (uvarint length+1, not null).
    pub fn compact_string(&mut self) -> Result<String, DecodeError> {
        let (n, what) = self.string_len(true)?;
        self.utf8(n, what)
    }

    /// Reads a `compact_nullable_string` (uvarint length+1, `0` is null).
    pub fn compact_nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.len_compact()? {
            None => Ok(None),
            Some(n) => self.utf8(n, "compact string").map(Some),
        }
    }

    /// A string in the compact form when `flexible`, the classic form otherwise.
    pub fn string_flex(&mut self, flexible: bool) -> Result<String, DecodeError> {
        self.str_flex(flexible).map(str::to_owned)
    }

    /// [`string_flex`](Self::string_flex), borrowed from the input (no allocation).
    pub fn str_flex(&mut self, flexible: bool) -> Result<&'a str, DecodeError> {
        let (n, what) = self.string_len(flexible)?;
        self.utf8_str(n, what)
    }

    /// A nullable string in the compact form when `flexible`, the classic form otherwise.
    pub fn nullable_string_flex(&mut self, flexible: bool) -> Result<Option<String>, DecodeError> {
        if flexible {
            self.compact_nullable_string()
        } else {
            self.nullable_string()
        }
    }

    /// Reads a classic nullable length: int32 (`-1` is null).
    fn len_i32(&mut self, what: &'static str) -> Result<Option<usize>, DecodeError> {
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::Invalid(what)),
            n => Ok(Some(n as usize)),
        }
    }

    /// Reads classic `bytes` (int32 length, not null).
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self
            .len_i32("negative bytes length")?
            .ok_or(DecodeError::Invalid("null in non-nullable bytes"))?;
        self.raw_bytes(n, "bytes")
    }

    /// Reads classic `nullable_bytes` (int32 length, `-1` is null).
    pub fn nullable_bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.len_i32("negative bytes length")? {
            None => Ok(None),
            Some(n) => self.raw_bytes(n, "bytes").map(Some),
        }
    }

    /// Reads `compact_bytes` (uvarint length+1, not null).
    pub fn compact_bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self
            .len_compact()?
            .ok_or(DecodeError::Invalid("null in non-nullable compact bytes"))?;
        self.raw_bytes(n, "compact bytes")
    }

    /// Reads `compact_nullable_bytes` (uvarint length+1, `0` is null).
    pub fn compact_nullable_bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.len_compact()? {
            None => Ok(None),
            Some(n) => self.raw_bytes(n, "compact bytes").map(Some),
        }
    }

    /// Nullable bytes in the compact form when `flexible`, the classic form otherwise.
    pub fn nullable_bytes_flex(&mut self, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
        if flexible {
            self.compact_nullable_bytes()
        } else {
            self.nullable_bytes()
        }
    }

    fn check_count(&self, n: usize, min_elem_size: usize) -> Result<usize, DecodeError> {
        // Every element takes at least `min_elem_size` bytes (at least one), so a count that
        // cannot fit in what remains is refused before anyone sizes a Vec by it.
        let min = min_elem_size.max(1);
        match n.checked_mul(min) {
            Some(total) if total <= self.remaining() => Ok(n),
            _ => Err(DecodeError::Truncated {
                what: "array elements",
                needed: n.saturating_mul(min).saturating_sub(self.remaining()),
            }),
        }
    }

    /// Reads a classic nullable array length (int32, `-1` is null), checked against the
    /// remaining bytes times `min_elem_size` (the smallest encoding of one element), so the
    /// result is safe to pass to `Vec::with_capacity`.
    pub fn nullable_array_len(
        &mut self,
        min_elem_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        match self.len_i32("negative array length")? {
            None => Ok(None),
            Some(n) => self.check_count(n, min_elem_size).map(Some),
        }
    }

    /// Reads a classic array length (int32, not null); see [`Reader::nullable_array_len`].
    pub fn array_len(&mut self, min_elem_size: usize) -> Result<usize, DecodeError> {
        self.nullable_array_len(min_elem_size)?
            .ok_or(DecodeError::Invalid("null in non-nullable array"))
    }

    /// Reads a compact nullable array length (uvarint length+1, `0` is null), checked like
    /// [`Reader::nullable_array_len`].
    pub fn compact_nullable_array_len(
        &mut self,
        min_elem_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        match self.len_compact()? {
            None => Ok(None),
            Some(n) => self.check_count(n, min_elem_size).map(Some),
        }
    }

    /// Reads a compact array length (not null); see [`Reader::compact_nullable_array_len`].
    pub fn compact_array_len(&mut self, min_elem_size: usize) -> Result<usize, DecodeError> {
        self.compact_nullable_array_len(min_elem_size)?
            .ok_or(DecodeError::Invalid("null in non-nullable compact array"))
    }

    /// An array length in the compact form when `flexible`, the classic form otherwise.
    pub fn array_len_flex(
        &mut self,
        flexible: bool,
        min_elem_size: usize,
    ) -> Result<usize, DecodeError> {
        if flexible {
            self.compact_array_len(min_elem_size)
        } else {
            self.array_len(min_elem_size)
        }
    }

    /// A nullable array length in the compact form when `flexible`, the classic otherwise.
    pub fn nullable_array_len_flex(
        &mut self,
        flexible: bool,
        min_elem_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        if flexible {
            self.compact_nullable_array_len(min_elem_size)
        } else {
            self.nullable_array_len(min_elem_size)
        }
    }

    /// Reads `count` elements with `f` into a `Vec` (the count must come from one of the
    /// checked `*array_len` methods).
    ///
    /// The count is bounded only by the bytes left, and an element in memory can be far larger
    /// than its smallest encoding (a Produce topic entry: a few bytes on the wire, dozens in
    /// memory), so the up-front reservation is capped at [`Reader::MAX_PREALLOC_BYTES`] and at
    /// one element per byte left; the `Vec` grows as elements are actually decoded.
    pub fn read_vec<T>(
        &mut self,
        count: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let per_elem = std::mem::size_of::<T>().max(1);
        let cap = count
            .min(self.remaining())
            .min(Self::MAX_PREALLOC_BYTES / per_elem);
        let mut v = Vec::with_capacity(cap);
        for _ in 0..count {
            v.push(f(self)?);
        }
        Ok(v)
    }

    /// Reads a tagged-field section and skips every field in it.
    pub fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        self.tagged_fields(|_, _| Ok(()))
    }

    /// Reads a tagged-field section, calling `f(tag, data)` for each field, where `data` is a
    /// reader over exactly that field's bytes.
    pub fn tagged_fields(
        &mut self,
        mut f: impl FnMut(u32, &mut Reader<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let count = self.uvarint()?;
        // Each field takes at least two bytes (tag and size).
        self.check_count(count as usize, 2)?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.need(size, "tagged field")?;
            let mut sub = Reader {
                buf: &self.buf[..self.pos + size],
                pos: self.pos,
                origin: self.origin,
            };
            f(tag, &mut sub)?;
            self.pos += size;
        }
        Ok(())
    }

    /// Skips a tagged-field section when `flexible`, does nothing otherwise.
    pub fn tagged_fields_flex(&mut self, flexible: bool) -> Result<(), DecodeError> {
        if flexible {
            self.skip_tagged_fields()
        } else {
            Ok(())
        }
    }
}

/// Clamps a string to what an int16 length can announce (our own values, never network
/// input: a longer topic or client id would be refused by the broker anyway; this keeps the
/// frame well formed).
fn clamp_i16(b: &[u8]) -> &[u8] {
    &b[..b.len().min(i16::MAX as usize)]
}

fn clamp_i32(b: &[u8]) -> &[u8] {
    &b[..b.len().min(i32::MAX as usize)]
}

/// Writers for the protocol's types, on every [`BufMut`] (`BytesMut`, `Vec<u8>`, ...).
/// Fixed-width integers use `BufMut`'s own big-endian `put_i8`/`put_i16`/`put_i32`/`put_i64`/
/// `put_u32`.
pub trait WireWrite: BufMut {
    /// Writes a `boolean` (0 or 1).
    fn put_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }

    /// Writes a `uuid`.
    fn put_uuid(&mut self, v: &[u8; 16]) {
        self.put_slice(v);
    }

    /// Writes an `unsigned_varint`.
    fn put_uvarint(&mut self, v: u32) {
        self.put_uvarlong(u64::from(v));
    }

    /// Writes an unsigned LEB128 varint of up to 64 bits.
    fn put_uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8);
    }

    /// Writes a zig-zag `varint`.
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(((v << 1) ^ (v >> 31)) as u32);
    }

    /// Writes a zig-zag `varlong`.
    fn put_varlong(&mut self, v: i64) {
        self.put_uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Writes a classic `string` (int16 length; clamped to `i16::MAX` bytes).
    fn put_string(&mut self, s: &str) {
        let b = clamp_i16(s.as_bytes());
        self.put_i16(b.len() as i16);
        self.put_slice(b);
    }

    /// Writes a classic `nullable_string`.
    fn put_nullable_string(&mut self, s: Option<&str>) {
        match s {
            None => self.put_i16(-1),
            Some(s) => self.put_string(s),
        }
    }

    /// Writes a `compact_string`.
    fn put_compact_string(&mut self, s: &str) {
        self.put_compact_bytes(s.as_bytes());
    }

    /// Writes a `compact_nullable_string`.
    fn put_compact_nullable_string(&mut self, s: Option<&str>) {
        self.put_compact_nullable_bytes(s.map(str::as_bytes));
    }

    /// A string, compact when `flexible`.
    fn put_string_flex(&mut self, flexible: bool, s: &str) {
        if flexible {
            self.put_compact_string(s)
        } else {
            self.put_string(s)
        }
    }

    /// A nullable string, compact when `flexible`.
    fn put_nullable_string_flex(&mut self, flexible: bool, s: Option<&str>) {
        if flexible {
            self.put_compact_nullable_string(s)
        } else {
            self.put_nullable_string(s)
        }
    }

    /// Writes classic `bytes` (int32 length). Named so to stay clear of `BufMut::put_bytes`.
    fn put_bytes32(&mut self, b: &[u8]) {
        let b = clamp_i32(b);
        self.put_i32(b.len() as i32);
        self.put_slice(b);
    }

    /// Writes classic `nullable_bytes` (int32 length, `-1` for null).
    fn put_nullable_bytes32(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.put_i32(-1),
            Some(b) => self.put_bytes32(b),
        }
    }

    /// Writes `compact_bytes` (uvarint length+1).
    fn put_compact_bytes(&mut self, b: &[u8]) {
        let b = &b[..b.len().min(u32::MAX as usize - 1)];
        self.put_uvarint(b.len() as u32 + 1);
        self.put_slice(b);
    }

    /// Writes `compact_nullable_bytes` (`0` for null).
    fn put_compact_nullable_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.put_uvarint(0),
            Some(b) => self.put_compact_bytes(b),
        }
    }

    /// Nullable bytes, compact when `flexible`.
    fn put_nullable_bytes_flex(&mut self, flexible: bool, b: Option<&[u8]>) {
        if flexible {
            self.put_compact_nullable_bytes(b)
        } else {
            self.put_nullable_bytes32(b)
        }
    }

    /// Writes a classic array length (int32).
    fn put_array_len(&mut self, n: usize) {
        self.put_i32(n.min(i32::MAX as usize) as i32);
    }

    /// Writes a classic nullable array length (`-1` for null).
    fn put_nullable_array_len(&mut self, n: Option<usize>) {
        match n {
            None => self.put_i32(-1),
            Some(n) => self.put_array_len(n),
        }
    }

    /// Writes a compact array length (uvarint length+1).
    fn put_compact_array_len(&mut self, n: usize) {
        self.put_uvarint(n.min(u32::MAX as usize - 1) as u32 + 1);
    }

    /// Writes a compact nullable array length (`0` for null).
    fn put_compact_nullable_array_len(&mut self, n: Option<usize>) {
        match n {
            None => self.put_uvarint(0),
            Some(n) => self.put_compact_array_len(n),
        }
    }

    /// An array length, compact when `flexible`.
    fn put_array_len_flex(&mut self, flexible: bool, n: usize) {
        if flexible {
            self.put_compact_array_len(n)
        } else {
            self.put_array_len(n)
        }
    }

    /// A nullable array length, compact when `flexible`.
    fn put_nullable_array_len_flex(&mut self, flexible: bool, n: Option<usize>) {
        if flexible {
            self.put_compact_nullable_array_len(n)
        } else {
            self.put_nullable_array_len(n)
        }
    }

    /// Writes an empty tagged-field section (a single `0`).
    fn put_empty_tagged_fields(&mut self) {
        self.put_u8(0);
    }

    /// Writes an empty tagged-field section when `flexible`, nothing otherwise.
    fn put_tagged_fields_flex(&mut self, flexible: bool) {
        if flexible {
            self.put_empty_tagged_fields()
        }
    }
}

impl<T: BufMut + ?Sized> WireWrite for T {}

/// Bytes an unsigned varint of `v` takes.
pub fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes a zig-zag varint of `v` takes.
pub fn varint_len(v: i32) -> usize {
    uvarint_len(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

/// Bytes a zig-zag varlong of `v` takes.
pub fn varlong_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    /// Every strict prefix of `enc` must fail to decode with `f`, and the whole must succeed
    /// and consume everything.
    fn all_truncations_fail<T: std::fmt::Debug>(
        enc: &[u8],
        f: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) {
        for n in 0..enc.len() {
            let mut r = Reader::new(&enc[..n]);
            assert!(f(&mut r).is_err(), "prefix {n} of {enc:?} decoded");
        }
        let mut r = Reader::new(enc);
        f(&mut r).unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn fixed_width_integers() {
        let mut b = BytesMut::new();
        b.put_i8(-2);
        b.put_i16(-300);
        b.put_i32(0x0102_0304);
        b.put_i64(-5);
        b.put_u32(0xdead_beef);
        b.put_bool(true);
        b.put_bool(false);
        b.put_uuid(&[7; 16]);
        let mut r = Reader::new(&b);
        assert_eq!(r.i8().unwrap(), -2);
        assert_eq!(r.i16().unwrap(), -300);
        assert_eq!(r.i32().unwrap(), 0x0102_0304);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.u32().unwrap(), 0xdead_beef);
        assert!(r.bool().unwrap());
        assert!(!r.bool().unwrap());
        assert_eq!(r.uuid().unwrap(), [7; 16]);
        r.finish().unwrap();
        assert_eq!(
            r.i8(),
            Err(DecodeError::Truncated {
                what: "int8",
                needed: 1
            })
        );
        all_truncations_fail(&[1, 2, 3, 4, 5, 6, 7, 8], |r| r.i64());
        all_truncations_fail(&[1, 2, 3, 4], |r| r.i32());
        all_truncations_fail(&[1, 2, 3, 4], |r| r.u32());
        all_truncations_fail(&[1, 2], |r| r.i16());
        all_truncations_fail(&[0; 16], |r| r.uuid());
    }

    #[test]
    fn uvarint_known_encodings() {
        for (v, enc) in [
            (0u32, vec![0x00]),
            (1, vec![0x01]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (u32::MAX, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut b = BytesMut::new();
            b.put_uvarint(v);
            assert_eq!(&b[..], &enc[..], "{v}");
            assert_eq!(uvarint_len(u64::from(v)), enc.len());
            all_truncations_fail(&enc, |r| r.uvarint());
            assert_eq!(Reader::new(&enc).uvarint().unwrap(), v);
        }
        // A sixth byte, or bits beyond 32, are refused.
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f])
            .uvarint()
            .is_err());
        assert!(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00])
            .uvarint()
            .is_err());
    }

    #[test]
    fn zigzag_varints() {
        // Zig-zag: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...
        for (v, enc) in [
            (0i32, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (63, vec![0x7e]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (i32::MAX, vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut b = BytesMut::new();
            b.put_varint(v);
            assert_eq!(&b[..], &enc[..], "{v}");
            assert_eq!(varint_len(v), enc.len());
            all_truncations_fail(&enc, |r| r.varint());
            assert_eq!(Reader::new(&enc).varint().unwrap(), v);
        }
        for v in [0i64, -1, 1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN] {
            let mut b = BytesMut::new();
            b.put_varlong(v);
            assert_eq!(varlong_len(v), b.len());
            all_truncations_fail(&b, |r| r.varlong());
            assert_eq!(Reader::new(&b).varlong().unwrap(), v);
        }
        let mut b = BytesMut::new();
        b.put_varlong(i64::MIN);
        assert_eq!(b.len(), 10);
        // Eleven-byte or overflowing varlongs are refused.
        assert!(
            Reader::new(&[0xff; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>())
                .varlong()
                .is_err()
        );
        assert!(Reader::new(&[0xff; 11]).varlong().is_err());
    }

    #[test]
    fn strings_classic_and_compact() {
        let mut b = BytesMut::new();
        b.put_string("héllo");
        assert_eq!(&b[..2], &[0, 6]);
        all_truncations_fail(&b, |r| r.string());
        assert_eq!(Reader::new(&b).string().unwrap(), "héllo");

        let mut b = BytesMut::new();
        b.put_nullable_string(None);
        assert_eq!(&b[..], &[0xff, 0xff]);
        assert_eq!(Reader::new(&b).nullable_string().unwrap(), None);
        assert!(Reader::new(&b).string().is_err());

        let mut b = BytesMut::new();
        b.put_compact_string("abc");
        assert_eq!(&b[..], &[4, b'a', b'b', b'c']);
        all_truncations_fail(&b, |r| r.compact_string());
        let mut b = BytesMut::new();
        b.put_compact_nullable_string(None);
        assert_eq!(&b[..], &[0]);
        assert_eq!(Reader::new(&b).compact_nullable_string().unwrap(), None);
        assert!(Reader::new(&b).compact_string().is_err());
        let mut b = BytesMut::new();
        b.put_compact_nullable_string(Some(""));
        assert_eq!(&b[..], &[1]);
        assert_eq!(
            Reader::new(&b).compact_nullable_string().unwrap(),
            Some(String::new())
        );
        // Negative (other than -1) and huge lengths are refused; bad UTF-8 too.
        assert!(Reader::new(&[0xff, 0xfe]).nullable_string().is_err());
        assert!(Reader::new(&[0x7f, 0xff, b'a']).string().is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .compact_string()
            .is_err());
        assert_eq!(
            Reader::new(&[0, 1, 0xff]).string(),
            Err(DecodeError::Invalid("utf-8 in string"))
        );
    }

    #[test]
    fn bytes_classic_and_compact_zero_copy() {
        let mut b = BytesMut::new();
        b.put_bytes32(b"xyz");
        b.put_nullable_bytes32(None);
        b.put_compact_bytes(b"pq");
        b.put_compact_nullable_bytes(None);
        let frozen = b.freeze();
        let mut r = Reader::from_bytes(&frozen);
        let x = r.bytes().unwrap();
        assert_eq!(&x[..], b"xyz");
        // Zero copy: the slice points into the frame.
        assert_eq!(x.as_ptr(), frozen[4..].as_ptr());
        assert_eq!(r.nullable_bytes().unwrap(), None);
        assert_eq!(&r.compact_bytes().unwrap()[..], b"pq");
        assert_eq!(r.compact_nullable_bytes().unwrap(), None);
        r.finish().unwrap();

        let mut b = BytesMut::new();
        b.put_bytes32(b"hello");
        all_truncations_fail(&b, |r| r.bytes());
        all_truncations_fail(&b, |r| r.nullable_bytes());
        let mut b = BytesMut::new();
        b.put_compact_bytes(b"hello");
        all_truncations_fail(&b, |r| r.compact_bytes());
        // Huge announced lengths are refused without allocating.
        assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).bytes().is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xfe])
            .nullable_bytes()
            .is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .compact_nullable_bytes()
            .is_err());
    }

    #[test]
    fn array_lengths_are_checked_against_remaining() {
        // 3 elements of at least 4 bytes need 12 bytes.
        let mut b = BytesMut::new();
        b.put_array_len(3);
        b.put_slice(&[0; 12]);
        assert_eq!(Reader::new(&b).array_len(4).unwrap(), 3);
        assert!(Reader::new(&b[..15]).array_len(4).is_err());
        assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).array_len(1).is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xfe]).array_len(1).is_err());
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff])
                .nullable_array_len(1)
                .unwrap(),
            None
        );
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff]).array_len(1).is_err());
        // Even a zero minimum size counts as one byte per element.
        assert!(Reader::new(&[0, 0, 0, 2, 0]).array_len(0).is_err());

        let mut b = BytesMut::new();
        b.put_compact_array_len(2);
        b.put_slice(&[0; 2]);
        assert_eq!(Reader::new(&b).compact_array_len(1).unwrap(), 2);
        assert!(Reader::new(&b).compact_array_len(2).is_err());
        let mut b = BytesMut::new();
        b.put_compact_nullable_array_len(None);
        assert_eq!(&b[..], &[0]);
        assert_eq!(Reader::new(&b).compact_nullable_array_len(1).unwrap(), None);
        assert!(Reader::new(&b).compact_array_len(1).is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .compact_array_len(1)
            .is_err());
        let mut b = BytesMut::new();
        b.put_nullable_array_len(None);
        assert_eq!(&b[..], &[0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn tagged_fields_are_skipped_and_bounded() {
        let mut b = BytesMut::new();
        b.put_empty_tagged_fields();
        assert_eq!(&b[..], &[0]);
        // Two fields: tag 0 with 3 bytes, tag 5 with 0 bytes, then a trailing marker byte.
        let enc = [2u8, 0, 3, 9, 9, 9, 5, 0];
        all_truncations_fail(&enc, |r| r.skip_tagged_fields());
        let mut seen = vec![];
        let mut r = Reader::new(&enc);
        r.tagged_fields(|tag, data| {
            seen.push((tag, data.remaining()));
            data.skip(data.remaining(), "x")
        })
        .unwrap();
        assert_eq!(seen, vec![(0, 3), (5, 0)]);
        r.finish().unwrap();
        // A field reader cannot read past its field.
        let mut r = Reader::new(&enc);
        let res = r.tagged_fields(|_, data| data.i64().map(|_| ()));
        assert!(res.is_err());
        // A field longer than what remains, and a huge count, are refused.
        assert!(Reader::new(&[1, 0, 5, 1]).skip_tagged_fields().is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .skip_tagged_fields()
            .is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::rng::Rng::new(0x5eed);
        for _ in 0..3000 {
            let len = (rng.next_u64() % 24) as usize;
            let v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let mut r = Reader::new(&v);
            let _ = r.clone().compact_nullable_string();
            let _ = r.clone().nullable_bytes();
            let _ = r.clone().compact_array_len(1);
            let _ = r.clone().skip_tagged_fields();
            let _ = r.clone().varlong();
            let _ = r.string();
        }
    }
}

//! [`Reader`]: bounds-checked reads of every protocol type.

use super::DecodeError;
use bytes::Bytes;

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

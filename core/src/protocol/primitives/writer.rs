//! [`WireWrite`]: writers for every protocol type on any [`BufMut`], and the sizes of varints.

use bytes::BufMut;

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

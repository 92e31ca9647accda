//! The few wire primitives the record formats need: Kafka's zig-zag varints and a bounds-checked
//! cursor. Private to the record module so that it does not depend on `crate::protocol`'s
//! reader (only on its error type).

use crate::protocol::DecodeError;
use bytes::BufMut;

/// Bytes a zig-zag varint of `v` takes (1..=5).
#[inline]
pub(crate) fn varint_len(v: i32) -> usize {
    varlong_len(v as i64).min(5)
}

/// Bytes a zig-zag varlong of `v` takes (1..=10).
#[inline]
pub(crate) fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    // The lengths a record's fields take are nearly always one or two bytes: two compares
    // then, instead of a bit scan and a division by 7 for every field.
    if z < 1 << 7 {
        1
    } else if z < 1 << 14 {
        2
    } else {
        // Bits needed in groups of 7.
        let bits = 64 - z.leading_zeros() as usize;
        bits.div_ceil(7)
    }
}

/// Appends `v` as a zig-zag varint.
#[inline]
pub(crate) fn put_varint<B: BufMut>(buf: &mut B, v: i32) {
    put_unsigned(buf, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

/// Appends `v` as a zig-zag varlong.
#[cfg(test)]
pub(crate) fn put_varlong<B: BufMut>(buf: &mut B, v: i64) {
    put_unsigned(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Writes `v` as a zig-zag varint into `out` at `at`; returns the position after it. `out`
/// must have room for 5 bytes at `at`.
#[inline]
pub(crate) fn varint_into(out: &mut [u8], at: usize, v: i32) -> usize {
    unsigned_into(out, at, ((v << 1) ^ (v >> 31)) as u32 as u64)
}

/// Writes `v` as a zig-zag varlong into `out` at `at`; returns the position after it. `out`
/// must have room for 10 bytes at `at`.
#[inline]
pub(crate) fn varlong_into(out: &mut [u8], at: usize, v: i64) -> usize {
    unsigned_into(out, at, ((v << 1) ^ (v >> 63)) as u64)
}

#[inline]
fn unsigned_into(out: &mut [u8], mut at: usize, mut z: u64) -> usize {
    while z >= 0x80 {
        out[at] = (z as u8) | 0x80;
        z >>= 7;
        at += 1;
    }
    out[at] = z as u8;
    at + 1
}

#[inline]
fn put_unsigned<B: BufMut>(buf: &mut B, mut z: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    while z >= 0x80 {
        tmp[n] = (z as u8) | 0x80;
        z >>= 7;
        n += 1;
    }
    tmp[n] = z as u8;
    buf.put_slice(&tmp[..=n]);
}

/// A bounds-checked reader over a byte slice. Every read checks what remains first; nothing
/// is allocated here.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let left = self.remaining();
        if n > left {
            return Err(DecodeError::Truncated {
                what,
                needed: n - left,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn i8(&mut self, what: &'static str) -> Result<i8, DecodeError> {
        Ok(self.array::<1>(what)?[0] as i8)
    }

    pub(crate) fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// An unsigned base-128 value of at most `max_bytes` bytes.
    fn unsigned(&mut self, max_bytes: usize, what: &'static str) -> Result<u64, DecodeError> {
        let mut z: u64 = 0;
        for i in 0..max_bytes {
            let b = self.array::<1>(what)?[0];
            z |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(z);
            }
        }
        Err(DecodeError::Invalid(what))
    }

    /// A zig-zag varint (at most 5 bytes; bits beyond 32 are dropped, as Java does).
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let z = self.unsigned(5, what)? as u32;
        Ok(((z >> 1) as i32) ^ -((z & 1) as i32))
    }

    /// A zig-zag varlong (at most 10 bytes).
    pub(crate) fn varlong(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let z = self.unsigned(10, what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A length (`-1` = null, other negatives invalid) then that many bytes, as the range of
    /// the bytes within the cursor's slice. `varint` picks the length's encoding.
    pub(crate) fn nullable_range(
        &mut self,
        varint: bool,
        what: &'static str,
    ) -> Result<Option<std::ops::Range<usize>>, DecodeError> {
        let len = if varint {
            self.varint(what)?
        } else {
            self.i32(what)?
        };
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::Invalid(what));
        }
        let start = self.pos;
        self.take(len as usize, what)?;
        Ok(Some(start..self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_with_their_lengths() {
        let ints = [0, 1, -1, 63, -64, 64, -65, 8191, 8192, i32::MAX, i32::MIN];
        for v in ints {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut c = Cursor::new(&b);
            assert_eq!(c.varint("v").unwrap(), v);
            assert_eq!(c.remaining(), 0);
        }
        let longs = [0, 1, -1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN];
        for v in longs {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v), "{v}");
            assert_eq!(Cursor::new(&b).varlong("v").unwrap(), v);
        }
        // Every length boundary: the computed length is what the writer writes.
        for shift in 0..63 {
            let m = 1i64 << shift;
            for v in [m - 1, m, -m, -m - 1] {
                let mut b = Vec::new();
                put_varlong(&mut b, v);
                assert_eq!(b.len(), varlong_len(v), "{v}");
                if let Ok(v) = i32::try_from(v) {
                    let mut b = Vec::new();
                    put_varint(&mut b, v);
                    assert_eq!(b.len(), varint_len(v), "{v}");
                }
            }
        }
        // The in-place writers give the same bytes.
        for v in ints {
            let (mut a, mut b) = (Vec::new(), [0u8; 7]);
            put_varint(&mut a, v);
            let end = varint_into(&mut b, 2, v);
            assert_eq!(&b[2..end], &a[..], "{v}");
        }
        for v in longs {
            let (mut a, mut b) = (Vec::new(), [0u8; 11]);
            put_varlong(&mut a, v);
            let end = varlong_into(&mut b, 1, v);
            assert_eq!(&b[1..end], &a[..], "{v}");
        }
        // Known encodings (zig-zag): 0 -> 00, -1 -> 01, 1 -> 02, 300 -> d8 04.
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xd8, 0x04]);
        assert_eq!(varint_len(i32::MIN), 5);
        assert_eq!(varlong_len(i64::MIN), 10);
    }

    #[test]
    fn bad_varints_and_short_reads_are_errors() {
        assert!(Cursor::new(&[0x80; 5]).varint("v").is_err());
        assert!(Cursor::new(&[0x80, 0x80]).varint("v").is_err());
        assert!(Cursor::new(&[0x80; 10]).varlong("v").is_err());
        assert_eq!(
            Cursor::new(&[1, 2]).i32("x"),
            Err(DecodeError::Truncated {
                what: "x",
                needed: 2
            })
        );
        // Length -2 invalid; length past the end truncated; -1 null.
        assert!(Cursor::new(&[0x03]).nullable_range(true, "k").is_err());
        assert!(Cursor::new(&[0x08, 1]).nullable_range(true, "k").is_err());
        assert_eq!(Cursor::new(&[0x01]).nullable_range(true, "k"), Ok(None));
        assert_eq!(
            Cursor::new(&[0, 0, 0, 1, 9]).nullable_range(false, "k"),
            Ok(Some(4..5))
        );
    }
}

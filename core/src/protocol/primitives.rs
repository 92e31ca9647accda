//! Primitive types of the protocol: a bounds-checked [`Reader`] and writers on `BytesMut`.
//! Both classic (int16-length) and compact (unsigned-varint-length) forms, zig-zag varints,
//! tagged fields.

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
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

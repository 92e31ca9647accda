//! Primitive types of the protocol: a bounds-checked [`Reader`] and writers on `BytesMut`.
//! Both classic (int16-length) and compact (unsigned-varint-length) forms, zig-zag varints,
//! tagged fields.
//!
//! Reading: every [`Reader`] method checks bounds and returns [`DecodeError`] instead of
//! panicking; lengths read from the wire are checked against [`Reader::remaining`] before
//! anything is allocated. Writing: the [`WireWrite`] extension trait, implemented for every
//! [`bytes::BufMut`] (so for `BytesMut` and `Vec<u8>`).

mod reader;
mod writer;

pub use reader::Reader;
pub use writer::{uvarint_len, varint_len, varlong_len, WireWrite};

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

#[cfg(test)]
mod tests;

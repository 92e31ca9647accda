//! Framing: the 4-byte big-endian size prefix, with a maximum checked before any allocation.

/// Why the byte stream cannot be framed; the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {0}")]
    Negative(i32),
    /// The size prefix is above the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The announced size.
        size: usize,
        /// The maximum.
        max: usize,
    },
}

/// Splits a byte stream into frames (each without its size prefix).
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_size: usize,
    buf: bytes::BytesMut,
}

impl FrameDecoder {
    /// A decoder that refuses frames larger than `max_frame_size`.
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder {
            max_frame_size,
            buf: bytes::BytesMut::new(),
        }
    }
}

impl FrameDecoder {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        let _ = data;
        todo!("frame: push")
    }

    /// The next complete frame (without its size prefix), `Ok(None)` when more bytes are
    /// needed, or an error as soon as the size prefix is read and found bad.
    pub fn next_frame(&mut self) -> Result<Option<bytes::Bytes>, FrameError> {
        let _ = self.max_frame_size;
        todo!("frame: next_frame")
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

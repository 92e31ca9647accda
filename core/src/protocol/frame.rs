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
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame (without its size prefix), `Ok(None)` when more bytes are
    /// needed, or an error as soon as the size prefix is read and found bad.
    ///
    /// The size is checked before any allocation; once it is known to be good, room for the
    /// rest of the frame is reserved so the next pushes do not reallocate repeatedly. The
    /// frame is split off the buffer without copying. After an error the decoder keeps
    /// answering the same error: the connection must be dropped.
    pub fn next_frame(&mut self) -> Result<Option<bytes::Bytes>, FrameError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if size < 0 {
            return Err(FrameError::Negative(size));
        }
        let size = size as usize;
        if size > self.max_frame_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        let total = 4 + size;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        bytes::Buf::advance(&mut self.buf, 4);
        Ok(Some(self.buf.split_to(size).freeze()))
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in payloads {
            v.extend_from_slice(&(p.len() as i32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    #[test]
    fn byte_by_byte() {
        let stream = framed(&[b"hello", b"", b"world!"]);
        let mut d = FrameDecoder::new(100);
        let mut frames = Vec::new();
        for (i, b) in stream.iter().enumerate() {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
            assert!(d.buffered() <= i + 1);
        }
        assert_eq!(frames, vec![&b"hello"[..], &b""[..], &b"world!"[..]]);
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.next_frame(), Ok(None));
    }

    #[test]
    fn several_frames_in_one_push_and_partial_tail() {
        let mut stream = framed(&[b"a", b"bc", b"def"]);
        stream.extend_from_slice(&[0, 0, 0, 4, b'x']);
        let mut d = FrameDecoder::new(100);
        d.push(&stream);
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"a"[..]);
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"bc"[..]);
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"def"[..]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.buffered(), 5);
        d.push(b"yzw");
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"xyzw"[..]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn frame_at_exactly_max_is_accepted() {
        let mut d = FrameDecoder::new(3);
        d.push(&framed(&[b"abc"]));
        assert_eq!(d.next_frame().unwrap().unwrap(), &b"abc"[..]);
    }

    #[test]
    fn oversized_prefix_refused_before_allocation() {
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&[0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                size: 0x7fff_ffff,
                max: 1 << 20
            })
        );
        // Nothing was reserved for the announced size.
        assert!(d.buf.capacity() < 1 << 20);
        // The error sticks.
        assert!(d.next_frame().is_err());
        let mut d = FrameDecoder::new(3);
        d.push(&framed(&[b"abcd"]));
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { size: 4, max: 3 })
        );
    }

    #[test]
    fn negative_prefix_refused() {
        let mut d = FrameDecoder::new(100);
        d.push(&[0xff, 0xff, 0xff, 0xfe, 1, 2]);
        assert_eq!(d.next_frame(), Err(FrameError::Negative(-2)));
        let mut d = FrameDecoder::new(100);
        d.push(&[0x80, 0, 0]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&[0]);
        assert_eq!(d.next_frame(), Err(FrameError::Negative(i32::MIN)));
    }
}

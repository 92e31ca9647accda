//! Compression codecs: none, gzip (flate2), snappy (snap; raw, and xerial-framed on decode),
//! lz4 (lz4_flex, LZ4 frame format) and zstd.

/// `compression.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4 (frame format).
    Lz4,
    /// zstd (needs RecordBatch v2 and Produce v7+).
    Zstd,
}

/// Why compressing or decompressing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The compressed bytes are malformed.
    #[error("corrupt {codec:?} data: {reason}")]
    Corrupt {
        /// The codec.
        codec: Compression,
        /// What went wrong.
        reason: String,
    },
    /// The output would exceed the limit given.
    #[error("decompressed data exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// An attribute value that names no codec.
    #[error("unknown compression attribute {0}")]
    Unknown(u8),
}

impl Compression {
    /// The codec's id in a batch's attributes (low 3 bits): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn attribute(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an attribute id.
    pub fn from_attribute(id: u8) -> Result<Self, CompressionError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(CompressionError::Unknown(other)),
        })
    }

    /// Checks a `compression.level` for this codec.
    pub fn check_level(self, level: i32) -> Result<(), &'static str> {
        let ok = match self {
            Compression::None | Compression::Snappy => true,
            Compression::Gzip => (0..=9).contains(&level),
            Compression::Lz4 => (0..=17).contains(&level),
            Compression::Zstd => (-131072..=22).contains(&level),
        };
        if ok {
            Ok(())
        } else {
            Err("out of range for the codec")
        }
    }

    /// Compresses `input`, appending to `out`.
    pub fn compress(
        self,
        level: Option<i32>,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        let _ = (level, input, out);
        todo!("compression: compress")
    }

    /// Decompresses `input`, refusing to produce more than `limit` bytes.
    pub fn decompress(self, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
        let _ = (input, limit);
        todo!("compression: decompress")
    }
}

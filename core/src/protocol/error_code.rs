//! Kafka error codes and their retriable / non-retriable classification.

/// A Kafka error code as it appears on the wire (`0` is no error).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// No error.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// UNKNOWN_SERVER_ERROR (-1).
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    /// CORRUPT_MESSAGE (2), retriable.
    pub const CORRUPT_MESSAGE: ErrorCode = ErrorCode(2);
    /// UNKNOWN_TOPIC_OR_PARTITION (3), retriable.
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// LEADER_NOT_AVAILABLE (5), retriable.
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    /// NOT_LEADER_OR_FOLLOWER (6), retriable.
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
    /// REQUEST_TIMED_OUT (7), retriable.
    pub const REQUEST_TIMED_OUT: ErrorCode = ErrorCode(7);
    /// MESSAGE_TOO_LARGE (10).
    pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(10);
    /// NETWORK_EXCEPTION (13), retriable.
    pub const NETWORK_EXCEPTION: ErrorCode = ErrorCode(13);
    /// INVALID_TOPIC_EXCEPTION (17).
    pub const INVALID_TOPIC_EXCEPTION: ErrorCode = ErrorCode(17);
    /// RECORD_LIST_TOO_LARGE (18).
    pub const RECORD_LIST_TOO_LARGE: ErrorCode = ErrorCode(18);
    /// NOT_ENOUGH_REPLICAS (19), retriable.
    pub const NOT_ENOUGH_REPLICAS: ErrorCode = ErrorCode(19);
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND (20), retriable.
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode = ErrorCode(20);
    /// INVALID_REQUIRED_ACKS (21).
    pub const INVALID_REQUIRED_ACKS: ErrorCode = ErrorCode(21);
    /// TOPIC_AUTHORIZATION_FAILED (29).
    pub const TOPIC_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(29);
    /// UNSUPPORTED_VERSION (35).
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    /// KAFKA_STORAGE_ERROR (56), retriable.
    pub const KAFKA_STORAGE_ERROR: ErrorCode = ErrorCode(56);
    /// UNSUPPORTED_FOR_MESSAGE_FORMAT (43).
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: ErrorCode = ErrorCode(43);
    /// UNSUPPORTED_COMPRESSION_TYPE (76).
    pub const UNSUPPORTED_COMPRESSION_TYPE: ErrorCode = ErrorCode(76);
    /// FENCED_LEADER_EPOCH (74), retriable.
    pub const FENCED_LEADER_EPOCH: ErrorCode = ErrorCode(74);
    /// UNKNOWN_LEADER_EPOCH (75), retriable.
    pub const UNKNOWN_LEADER_EPOCH: ErrorCode = ErrorCode(75);
    /// INVALID_RECORD (87).
    pub const INVALID_RECORD: ErrorCode = ErrorCode(87);
}

impl ErrorCode {
    /// The code's name as Kafka spells it (`NOT_LEADER_OR_FOLLOWER`), or `UNKNOWN` for codes
    /// this crate does not name.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NONE",
            -1 => "UNKNOWN_SERVER_ERROR",
            2 => "CORRUPT_MESSAGE",
            3 => "UNKNOWN_TOPIC_OR_PARTITION",
            5 => "LEADER_NOT_AVAILABLE",
            6 => "NOT_LEADER_OR_FOLLOWER",
            7 => "REQUEST_TIMED_OUT",
            10 => "MESSAGE_TOO_LARGE",
            13 => "NETWORK_EXCEPTION",
            17 => "INVALID_TOPIC_EXCEPTION",
            18 => "RECORD_LIST_TOO_LARGE",
            19 => "NOT_ENOUGH_REPLICAS",
            20 => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            21 => "INVALID_REQUIRED_ACKS",
            29 => "TOPIC_AUTHORIZATION_FAILED",
            35 => "UNSUPPORTED_VERSION",
            43 => "UNSUPPORTED_FOR_MESSAGE_FORMAT",
            56 => "KAFKA_STORAGE_ERROR",
            74 => "FENCED_LEADER_EPOCH",
            75 => "UNKNOWN_LEADER_EPOCH",
            76 => "UNSUPPORTED_COMPRESSION_TYPE",
            87 => "INVALID_RECORD",
            _ => "UNKNOWN",
        }
    }

    /// Whether a retry may succeed (Kafka's `RetriableException` subclasses).
    pub fn is_retriable(self) -> bool {
        matches!(self.0, 2 | 3 | 5 | 6 | 7 | 13 | 19 | 20 | 56 | 74 | 75)
    }

    /// Whether this is no error.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl std::fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErrorCode({}: {})", self.0, self.name())
    }
}

//! Request and response headers.

/// A request header (v1, or v2 for flexible request versions, which adds tagged fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// API key.
    pub api_key: i16,
    /// API version of the body.
    pub api_version: i16,
    /// Correlation id, echoed by the response.
    pub correlation_id: i32,
    /// Client id (nullable string on the wire).
    pub client_id: Option<String>,
}

/// A response header (v0; v1 adds tagged fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// Correlation id of the request this answers.
    pub correlation_id: i32,
}

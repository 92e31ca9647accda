//! ApiVersions (key 18), versions 0–3.

/// ApiVersions request. v3+ carries the client software name and version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsRequest {
    /// `client_software_name` (v3+).
    pub client_software_name: String,
    /// `client_software_version` (v3+).
    pub client_software_version: String,
}

/// One supported API and its version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// API key.
    pub api_key: i16,
    /// Lowest version supported.
    pub min_version: i16,
    /// Highest version supported.
    pub max_version: i16,
}

/// ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsResponse {
    /// Top-level error (UNSUPPORTED_VERSION when the broker did not speak our version; it then
    /// still lists its ranges, answering in v0).
    pub error_code: i16,
    /// Supported APIs.
    pub api_keys: Vec<ApiVersionRange>,
    /// `throttle_time_ms` (v1+).
    pub throttle_time_ms: i32,
}

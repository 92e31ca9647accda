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
    ///
    /// Parsed and ignored: the producer does not mute the connection for it (the Java client
    /// does), so any value, negative or huge, is harmless; the broker still enforces its
    /// quota on its side (since KIP-219 it stops reading the connection for that long).
    pub throttle_time_ms: i32,
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, ErrorCode, Request, Response};
use bytes::{BufMut, BytesMut};

impl Request for ApiVersionsRequest {
    const API_KEY: i16 = api_key::API_VERSIONS;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;
    const FIRST_FLEXIBLE: i16 = 3;
    type Response = ApiVersionsResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        if version >= 3 {
            buf.put_compact_string(&self.client_software_name);
            buf.put_compact_string(&self.client_software_version);
            buf.put_empty_tagged_fields();
        }
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        if version >= 3 {
            let client_software_name = r.compact_string()?;
            let client_software_version = r.compact_string()?;
            r.skip_tagged_fields()?;
            Ok(ApiVersionsRequest {
                client_software_name,
                client_software_version,
            })
        } else {
            Ok(ApiVersionsRequest::default())
        }
    }
}

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (ApiVersionsRequest::MIN_VERSION..=ApiVersionsRequest::MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("ApiVersions version"))
    }
}

impl ApiVersionsResponse {
    /// The advertised range for `api_key`, if the broker lists it.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.api_keys
            .iter()
            .find(|k| k.api_key == api_key)
            .map(|k| (k.min_version, k.max_version))
    }

    fn decode_exact(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= 3;
        let error_code = r.i16()?;
        // Each entry takes at least 6 bytes (three int16), plus a tagged-field byte if flexible.
        let n = r.array_len_flex(flexible, if flexible { 7 } else { 6 })?;
        let api_keys = r.read_vec(n, |r| {
            let api_key = r.i16()?;
            let min_version = r.i16()?;
            let max_version = r.i16()?;
            r.tagged_fields_flex(flexible)?;
            Ok(ApiVersionRange {
                api_key,
                min_version,
                max_version,
            })
        })?;
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        // Supported/finalized features (tags 0-3) and anything newer: skipped.
        r.tagged_fields_flex(flexible)?;
        Ok(ApiVersionsResponse {
            error_code,
            api_keys,
            throttle_time_ms,
        })
    }
}

impl Response for ApiVersionsResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= 3;
        buf.put_i16(self.error_code);
        buf.put_array_len_flex(flexible, self.api_keys.len());
        for k in &self.api_keys {
            buf.put_i16(k.api_key);
            buf.put_i16(k.min_version);
            buf.put_i16(k.max_version);
            buf.put_tagged_fields_flex(flexible);
        }
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    /// Reads the body in `version`, with Kafka's fallback: a broker that does not speak the
    /// requested ApiVersions version answers UNSUPPORTED_VERSION with a **v0** body. So when
    /// the error code is UNSUPPORTED_VERSION and the body reads completely as v0, v0 wins;
    /// otherwise the body is read as `version`.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if version > 0 {
            let mut peek = r.clone();
            if peek.i16() == Ok(ErrorCode::UNSUPPORTED_VERSION.0) {
                let mut v0 = r.clone();
                if let Ok(resp) = Self::decode_exact(0, &mut v0) {
                    if v0.remaining() == 0 {
                        *r = v0;
                        return Ok(resp);
                    }
                }
            }
        }
        Self::decode_exact(version, r)
    }
}

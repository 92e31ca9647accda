//! ApiVersions (key 18), versions 0–3, with the features of KIP-584 that v3+ answers carry in
//! tagged fields: the features each broker supports (tag 0), the epoch of the cluster's
//! finalized features (tag 1) and the finalized feature levels (tag 2). The producer reads the
//! finalized `transaction.version` to choose transactions v2 (KIP-890 part 2: level 2 or more).

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

/// A feature a broker supports (ApiVersions v3+, tagged field 0), with its version range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedFeature {
    /// `name`, such as `transaction.version` or `metadata.version`.
    pub name: String,
    /// `min_version`.
    pub min_version: i16,
    /// `max_version`.
    pub max_version: i16,
}

/// A feature level finalized for the whole cluster (ApiVersions v3+, tagged field 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedFeature {
    /// `name`.
    pub name: String,
    /// `max_version_level`: the level in force (written before the min on the wire).
    pub max_version_level: i16,
    /// `min_version_level`.
    pub min_version_level: i16,
}

/// ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `SupportedFeatures` (v3+, tag 0; empty when absent).
    pub supported_features: Vec<SupportedFeature>,
    /// `FinalizedFeaturesEpoch` (v3+, tag 1): `-1` when unknown or absent, in which case the
    /// finalized features are not to be trusted.
    pub finalized_features_epoch: i64,
    /// `FinalizedFeatures` (v3+, tag 2; empty when absent).
    pub finalized_features: Vec<FinalizedFeature>,
}

impl Default for ApiVersionsResponse {
    fn default() -> Self {
        ApiVersionsResponse {
            error_code: 0,
            api_keys: Vec::new(),
            throttle_time_ms: 0,
            supported_features: Vec::new(),
            finalized_features_epoch: -1,
            finalized_features: Vec::new(),
        }
    }
}

/// Tags of the response's top-level tagged fields.
const TAG_SUPPORTED_FEATURES: u32 = 0;
const TAG_FINALIZED_EPOCH: u32 = 1;
const TAG_FINALIZED_FEATURES: u32 = 2;

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

    /// The cluster-wide finalized level of feature `name` (its `max_version_level`), or `None`
    /// when the broker does not list it or its finalized features are not valid (epoch below
    /// 0, as the schema says). `finalized_level("transaction.version") >= Some(2)` means
    /// transactions v2 (KIP-890 part 2).
    pub fn finalized_level(&self, name: &str) -> Option<i16> {
        if self.finalized_features_epoch < 0 {
            return None;
        }
        self.finalized_features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.max_version_level)
    }

    /// The range of feature `name` this broker supports, if it lists it.
    pub fn supported_feature(&self, name: &str) -> Option<(i16, i16)> {
        self.supported_features
            .iter()
            .find(|f| f.name == name)
            .map(|f| (f.min_version, f.max_version))
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
        let mut resp = ApiVersionsResponse {
            error_code,
            api_keys,
            throttle_time_ms,
            ..ApiVersionsResponse::default()
        };
        if flexible {
            // Features (tags 0-2); ZkMigrationReady (tag 3) and anything newer: skipped. Each
            // field is read from a reader bounded to its own bytes and must use all of them.
            r.tagged_fields(|tag, f| {
                match tag {
                    TAG_SUPPORTED_FEATURES => resp.supported_features = supported_features(f)?,
                    TAG_FINALIZED_EPOCH => resp.finalized_features_epoch = f.i64()?,
                    TAG_FINALIZED_FEATURES => resp.finalized_features = finalized_features(f)?,
                    _ => return Ok(()),
                }
                f.finish()
            })?;
        }
        Ok(resp)
    }
}

/// The entries of tagged field 0: compact name, two int16, tagged fields (6 bytes at least).
fn supported_features(r: &mut Reader<'_>) -> Result<Vec<SupportedFeature>, DecodeError> {
    let n = r.compact_array_len(6)?;
    r.read_vec(n, |r| {
        let name = r.compact_string()?;
        let min_version = r.i16()?;
        let max_version = r.i16()?;
        r.skip_tagged_fields()?;
        Ok(SupportedFeature {
            name,
            min_version,
            max_version,
        })
    })
}

/// The entries of tagged field 2: compact name, max level, min level, tagged fields.
fn finalized_features(r: &mut Reader<'_>) -> Result<Vec<FinalizedFeature>, DecodeError> {
    let n = r.compact_array_len(6)?;
    r.read_vec(n, |r| {
        let name = r.compact_string()?;
        let max_version_level = r.i16()?;
        let min_version_level = r.i16()?;
        r.skip_tagged_fields()?;
        Ok(FinalizedFeature {
            name,
            max_version_level,
            min_version_level,
        })
    })
}

/// Writes the top-level tagged fields of a v3+ answer: each feature field only when it differs
/// from its default (empty, or epoch -1), in tag order, as Kafka writes them.
fn put_feature_tags(resp: &ApiVersionsResponse, buf: &mut BytesMut) {
    let mut fields: Vec<(u32, BytesMut)> = Vec::new();
    if !resp.supported_features.is_empty() {
        let mut f = BytesMut::new();
        f.put_compact_array_len(resp.supported_features.len());
        for sf in &resp.supported_features {
            f.put_compact_string(&sf.name);
            f.put_i16(sf.min_version);
            f.put_i16(sf.max_version);
            f.put_empty_tagged_fields();
        }
        fields.push((TAG_SUPPORTED_FEATURES, f));
    }
    if resp.finalized_features_epoch != -1 {
        let mut f = BytesMut::new();
        f.put_i64(resp.finalized_features_epoch);
        fields.push((TAG_FINALIZED_EPOCH, f));
    }
    if !resp.finalized_features.is_empty() {
        let mut f = BytesMut::new();
        f.put_compact_array_len(resp.finalized_features.len());
        for ff in &resp.finalized_features {
            f.put_compact_string(&ff.name);
            f.put_i16(ff.max_version_level);
            f.put_i16(ff.min_version_level);
            f.put_empty_tagged_fields();
        }
        fields.push((TAG_FINALIZED_FEATURES, f));
    }
    buf.put_uvarint(fields.len() as u32);
    for (tag, data) in fields {
        buf.put_uvarint(tag);
        buf.put_uvarint(u32::try_from(data.len()).unwrap_or(u32::MAX));
        buf.put_slice(&data);
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
        if flexible {
            put_feature_tags(self, buf);
        }
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

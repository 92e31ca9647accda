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

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{
    api_key, AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiVersionsRequest, EndTxnRequest,
    FindCoordinatorRequest, InitProducerIdRequest, MetadataRequest, ProduceRequest, Request,
    SaslAuthenticateRequest, SaslHandshakeRequest, TxnOffsetCommitRequest,
};
use bytes::BufMut;

/// Whether `version` of API `api_key` is flexible (compact strings, tagged fields, request
/// header v2), for the APIs this crate knows; `false` for any other API.
pub fn is_flexible(api_key: i16, version: i16) -> bool {
    let first = match api_key {
        api_key::PRODUCE => ProduceRequest::FIRST_FLEXIBLE,
        api_key::METADATA => MetadataRequest::FIRST_FLEXIBLE,
        api_key::API_VERSIONS => ApiVersionsRequest::FIRST_FLEXIBLE,
        api_key::INIT_PRODUCER_ID => InitProducerIdRequest::FIRST_FLEXIBLE,
        api_key::SASL_HANDSHAKE => SaslHandshakeRequest::FIRST_FLEXIBLE,
        api_key::SASL_AUTHENTICATE => SaslAuthenticateRequest::FIRST_FLEXIBLE,
        api_key::FIND_COORDINATOR => FindCoordinatorRequest::FIRST_FLEXIBLE,
        api_key::ADD_PARTITIONS_TO_TXN => AddPartitionsToTxnRequest::FIRST_FLEXIBLE,
        api_key::ADD_OFFSETS_TO_TXN => AddOffsetsToTxnRequest::FIRST_FLEXIBLE,
        api_key::END_TXN => EndTxnRequest::FIRST_FLEXIBLE,
        api_key::TXN_OFFSET_COMMIT => TxnOffsetCommitRequest::FIRST_FLEXIBLE,
        _ => return false,
    };
    version >= first
}

/// Whether the response header of `version` of API `api_key` is v1 (with tagged fields):
/// flexible versions, except ApiVersions whose response header is always v0 (so a client can
/// read it whatever version the broker answered in).
pub fn response_header_has_tags(api_key: i16, version: i16) -> bool {
    api_key != api_key::API_VERSIONS && is_flexible(api_key, version)
}

impl RequestHeader {
    /// Appends the header: v1 (`api_key`, `api_version`, `correlation_id`, nullable
    /// `client_id`), plus an empty tagged-field section when `flexible` (v2). The client id
    /// stays a classic nullable string in v2.
    pub fn encode<B: BufMut>(&self, flexible: bool, buf: &mut B) {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        buf.put_nullable_string(self.client_id.as_deref());
        buf.put_tagged_fields_flex(flexible);
    }

    /// Reads a header, v2 when [`is_flexible`] says the API version is flexible, v1
    /// otherwise.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        let client_id = r.nullable_string()?;
        r.tagged_fields_flex(is_flexible(api_key, api_version))?;
        Ok(RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
        })
    }
}

impl ResponseHeader {
    /// Appends the header: v0 (`correlation_id`), plus an empty tagged-field section for v1.
    pub fn encode<B: BufMut>(&self, v1: bool, buf: &mut B) {
        buf.put_i32(self.correlation_id);
        buf.put_tagged_fields_flex(v1);
    }

    /// Reads a v0 header, or v1 (skipping its tagged fields) when `v1`.
    pub fn decode(v1: bool, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let correlation_id = r.i32()?;
        r.tagged_fields_flex(v1)?;
        Ok(ResponseHeader { correlation_id })
    }
}

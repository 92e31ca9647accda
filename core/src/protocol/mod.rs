//! The Kafka wire protocol, as far as a producer needs it: framing, request and response
//! headers, ApiVersions, Metadata, Produce, InitProducerId, SaslHandshake and SaslAuthenticate in every
//! version real brokers speak; the transactional producer's FindCoordinator,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn in the versions a client
//! sends; and the error codes.
//!
//! Every message has `encode(version, buf)` and `decode(version, reader)` for both directions,
//! so the simulator can decode what the core sends and answer like a broker. Decoders never
//! panic, never allocate more than the frame holds, and frames above a maximum are refused from
//! their size prefix alone ([`FrameDecoder`]).

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod end_txn;
pub mod error_code;
pub mod find_coordinator;
pub mod frame;
pub mod header;
pub mod init_producer_id;
pub mod metadata;
pub mod primitives;
pub mod produce;
pub mod sasl;
pub mod txn_offset_commit;

pub use add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
pub use add_partitions_to_txn::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult,
};
pub use end_txn::{EndTxnRequest, EndTxnResponse};
pub use find_coordinator::{Coordinator, FindCoordinatorRequest, FindCoordinatorResponse};
pub use txn_offset_commit::{
    TxnOffsetCommitPartition, TxnOffsetCommitPartitionResult, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse, TxnOffsetCommitTopic, TxnOffsetCommitTopicResult,
};

pub use api_versions::{
    ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, FinalizedFeature, SupportedFeature,
};
pub use error_code::{ErrorCode, TxnErrorCategory};
pub use frame::{FrameDecoder, FrameError};
pub use header::{is_flexible, response_header_has_tags};
pub use header::{RequestHeader, ResponseHeader};
pub use init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
pub use metadata::{
    MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic,
};
pub use primitives::{DecodeError, Reader, WireWrite};
pub use sasl::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use bytes::BufMut;
pub use produce::{
    LeaderIdAndEpoch, NodeEndpoint, ProducePartitionData, ProducePartitionResponse, ProduceRequest,
    ProduceResponse, ProduceTopicData, ProduceTopicResponse, RecordError,
};

/// API keys used by the producer.
pub mod api_key {
    /// Produce.
    pub const PRODUCE: i16 = 0;
    /// Metadata.
    pub const METADATA: i16 = 3;
    /// FindCoordinator.
    pub const FIND_COORDINATOR: i16 = 10;
    /// ApiVersions.
    pub const API_VERSIONS: i16 = 18;
    /// SaslHandshake.
    pub const SASL_HANDSHAKE: i16 = 17;
    /// InitProducerId.
    pub const INIT_PRODUCER_ID: i16 = 22;
    /// AddPartitionsToTxn.
    pub const ADD_PARTITIONS_TO_TXN: i16 = 24;
    /// AddOffsetsToTxn.
    pub const ADD_OFFSETS_TO_TXN: i16 = 25;
    /// EndTxn.
    pub const END_TXN: i16 = 26;
    /// TxnOffsetCommit.
    pub const TXN_OFFSET_COMMIT: i16 = 28;
    /// SaslAuthenticate.
    pub const SASL_AUTHENTICATE: i16 = 36;
}

/// A request message: its API key, the versions this crate speaks, and codecs for each.
pub trait Request: Sized {
    /// The API key.
    const API_KEY: i16;
    /// Lowest version this crate can encode and decode.
    const MIN_VERSION: i16;
    /// Highest version this crate can encode and decode.
    const MAX_VERSION: i16;
    /// First flexible (compact, tagged-field) version, or `i16::MAX` when none is.
    const FIRST_FLEXIBLE: i16;
    /// The response type.
    type Response: Response;
    /// Appends the body (no header, no size prefix) in `version`.
    fn encode(&self, version: i16, buf: &mut bytes::BytesMut);
    /// Reads the body in `version`.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A response message body.
pub trait Response: Sized {
    /// Appends the body (no header, no size prefix) in `version`.
    fn encode(&self, version: i16, buf: &mut bytes::BytesMut);
    /// Reads the body in `version`.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// Reads the body in `version` into `self`, reusing its allocations where the type can
    /// (a hot-path response decoded again and again); by default a plain [`decode`](Self::decode).
    /// On error `self` holds no meaningful value.
    fn decode_into(&mut self, version: i16, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        *self = Self::decode(version, r)?;
        Ok(())
    }
}

/// Appends one complete request frame: 4-byte size prefix, request header (v1, or v2 for
/// flexible versions), body. The body is encoded in `header.api_version`, which the caller
/// must have chosen within `R::MIN_VERSION..=R::MAX_VERSION`.
pub fn encode_request<R: Request>(header: &RequestHeader, body: &R, buf: &mut bytes::BytesMut) {
    debug_assert_eq!(
        header.api_key,
        R::API_KEY,
        "header api_key / body type mismatch"
    );
    let start = begin_frame(buf);
    header.encode(header.api_version >= R::FIRST_FLEXIBLE, buf);
    body.encode(header.api_version, buf);
    end_frame(buf, start);
}

/// Reads a request frame (without its size prefix): the header, then the body. For the
/// simulator and tests. Returns the header and the rest of the frame (the body) so the caller
/// can dispatch on `api_key`. The header version follows from the API key and version
/// (see [`header::is_flexible`]).
pub fn decode_request_header(frame: &[u8]) -> Result<(RequestHeader, &[u8]), DecodeError> {
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r)?;
    Ok((header, r.rest()))
}

/// Decodes a whole request body in `version` and checks that nothing is left over (for the
/// simulator, after [`decode_request_header`]).
pub fn decode_request_body<R: Request>(version: i16, body: &[u8]) -> Result<R, DecodeError> {
    let mut r = Reader::new(body);
    let req = R::decode(version, &mut r)?;
    r.finish()?;
    Ok(req)
}

/// Appends one complete response frame: size prefix, response header (v0; v1 for flexible
/// versions except ApiVersions, whose response header is always v0), body.
pub fn encode_response<R: Request>(
    correlation_id: i32,
    version: i16,
    body: &R::Response,
    buf: &mut bytes::BytesMut,
) {
    let start = begin_frame(buf);
    ResponseHeader { correlation_id }.encode(response_header_has_tags(R::API_KEY, version), buf);
    body.encode(version, buf);
    end_frame(buf, start);
}

/// Reads the correlation id at the front of a response frame (without its size prefix); the
/// caller looks up which request it answers to learn the API key and version.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
    Reader::new(frame).i32()
}

/// Decodes a whole response frame (without its size prefix) to request type `R` in `version`:
/// header, body, and a check that nothing is left over.
pub fn decode_response<R: Request>(
    version: i16,
    frame: &[u8],
) -> Result<(ResponseHeader, R::Response), DecodeError> {
    framed_response::<R, _>(version, frame, |r| R::Response::decode(version, r))
}

/// [`decode_response`] into a kept body, reusing its allocations
/// ([`Response::decode_into`]).
pub fn decode_response_into<R: Request>(
    version: i16,
    frame: &[u8],
    body: &mut R::Response,
) -> Result<ResponseHeader, DecodeError> {
    framed_response::<R, _>(version, frame, |r| body.decode_into(version, r)).map(|(h, ())| h)
}

/// The response header, then `body`, then a check that nothing is left over.
fn framed_response<R: Request, T>(
    version: i16,
    frame: &[u8],
    body: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<(ResponseHeader, T), DecodeError> {
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(response_header_has_tags(R::API_KEY, version), &mut r)?;
    let body = body(&mut r)?;
    r.finish()?;
    Ok((header, body))
}

fn begin_frame(buf: &mut bytes::BytesMut) -> usize {
    let start = buf.len();
    buf.put_i32(0);
    start
}

fn end_frame(buf: &mut bytes::BytesMut, start: usize) {
    let size = buf.len() - start - 4;
    let size = i32::try_from(size).unwrap_or(i32::MAX);
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Picks the version to use: the highest both sides speak, or `None` when the ranges do not
/// meet.
pub fn negotiate(ours: (i16, i16), theirs: (i16, i16)) -> Option<i16> {
    let lo = ours.0.max(theirs.0);
    let hi = ours.1.min(theirs.1);
    (lo <= hi).then_some(hi)
}

#[cfg(test)]
mod tests;

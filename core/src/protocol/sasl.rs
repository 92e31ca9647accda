//! SaslHandshake (key 17, versions 0–1) and SaslAuthenticate (key 36, versions 0–2; v2+ is
//! flexible): the SASL exchange of KIP-43 and KIP-152.
//!
//! The client names a mechanism with SaslHandshake; the broker answers with the mechanisms it
//! has enabled. With handshake v1 every SASL token then travels inside a SaslAuthenticate
//! request, so broker errors come back as error codes rather than a closed connection
//! (KIP-152). SaslAuthenticate v1 adds `session_lifetime_ms`: when positive, the broker
//! closes the session after that long unless the client re-authenticates on the same
//! connection first (KIP-368).

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, Bytes, BytesMut};

/// SaslHandshake request: the mechanism the client wants to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    /// The SASL mechanism, e.g. `PLAIN` or `SCRAM-SHA-256`.
    pub mechanism: String,
}

/// SaslHandshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    /// Error code (0, or UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE).
    pub error_code: i16,
    /// The mechanisms enabled on the broker.
    pub mechanisms: Vec<String>,
}

fn check_handshake(version: i16) -> Result<(), DecodeError> {
    if (SaslHandshakeRequest::MIN_VERSION..=SaslHandshakeRequest::MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("SaslHandshake version"))
    }
}

impl Request for SaslHandshakeRequest {
    const API_KEY: i16 = api_key::SASL_HANDSHAKE;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;
    const FIRST_FLEXIBLE: i16 = i16::MAX;
    type Response = SaslHandshakeResponse;

    fn encode(&self, _version: i16, buf: &mut BytesMut) {
        buf.put_string(&self.mechanism);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_handshake(version)?;
        Ok(SaslHandshakeRequest {
            mechanism: r.string()?,
        })
    }
}

impl Response for SaslHandshakeResponse {
    fn encode(&self, _version: i16, buf: &mut BytesMut) {
        buf.put_i16(self.error_code);
        buf.put_array_len(self.mechanisms.len());
        for m in &self.mechanisms {
            buf.put_string(m);
        }
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_handshake(version)?;
        let error_code = r.i16()?;
        // A string is at least its 2-byte length.
        let n = r.array_len(2)?;
        let mechanisms = r.read_vec(n, |r| r.string())?;
        Ok(SaslHandshakeResponse {
            error_code,
            mechanisms,
        })
    }
}

/// SaslAuthenticate request: one SASL token from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    /// The mechanism's bytes (for PLAIN, `authzid NUL user NUL password`).
    pub auth_bytes: Bytes,
}

/// SaslAuthenticate response: the broker's token, or why it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    /// Error code (0, or SASL_AUTHENTICATION_FAILED, ILLEGAL_SASL_STATE, ...).
    pub error_code: i16,
    /// The broker's explanation, if any.
    pub error_message: Option<String>,
    /// The mechanism's bytes from the broker (empty when it has nothing to say).
    pub auth_bytes: Bytes,
    /// v1+: how long the session lasts, in ms; `0` (and below v1, always) means no limit.
    pub session_lifetime_ms: i64,
}

const AUTH_FIRST_FLEXIBLE: i16 = 2;

fn check_authenticate(version: i16) -> Result<(), DecodeError> {
    if (SaslAuthenticateRequest::MIN_VERSION..=SaslAuthenticateRequest::MAX_VERSION)
        .contains(&version)
    {
        Ok(())
    } else {
        Err(DecodeError::Invalid("SaslAuthenticate version"))
    }
}

fn put_bytes_flex(buf: &mut BytesMut, flexible: bool, b: &[u8]) {
    if flexible {
        buf.put_compact_bytes(b);
    } else {
        buf.put_bytes32(b);
    }
}

fn bytes_flex(r: &mut Reader<'_>, flexible: bool) -> Result<Bytes, DecodeError> {
    if flexible {
        r.compact_bytes()
    } else {
        r.bytes()
    }
}

impl Request for SaslAuthenticateRequest {
    const API_KEY: i16 = api_key::SASL_AUTHENTICATE;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;
    const FIRST_FLEXIBLE: i16 = AUTH_FIRST_FLEXIBLE;
    type Response = SaslAuthenticateResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= AUTH_FIRST_FLEXIBLE;
        put_bytes_flex(buf, flexible, &self.auth_bytes);
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_authenticate(version)?;
        let flexible = version >= AUTH_FIRST_FLEXIBLE;
        let auth_bytes = bytes_flex(r, flexible)?;
        r.tagged_fields_flex(flexible)?;
        Ok(SaslAuthenticateRequest { auth_bytes })
    }
}

impl Response for SaslAuthenticateResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= AUTH_FIRST_FLEXIBLE;
        buf.put_i16(self.error_code);
        buf.put_nullable_string_flex(flexible, self.error_message.as_deref());
        put_bytes_flex(buf, flexible, &self.auth_bytes);
        if version >= 1 {
            buf.put_i64(self.session_lifetime_ms);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_authenticate(version)?;
        let flexible = version >= AUTH_FIRST_FLEXIBLE;
        let error_code = r.i16()?;
        let error_message = r.nullable_string_flex(flexible)?;
        let auth_bytes = bytes_flex(r, flexible)?;
        let session_lifetime_ms = if version >= 1 { r.i64()? } else { 0 };
        r.tagged_fields_flex(flexible)?;
        Ok(SaslAuthenticateResponse {
            error_code,
            error_message,
            auth_bytes,
            session_lifetime_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        decode_request_body, decode_request_header, decode_response, encode_request,
        encode_response, RequestHeader,
    };

    fn header(key: i16, version: i16) -> RequestHeader {
        RequestHeader {
            api_key: key,
            api_version: version,
            correlation_id: 3,
            client_id: Some("c".into()),
        }
    }

    #[test]
    fn handshake_round_trips_and_refuses_truncation() {
        let req = SaslHandshakeRequest {
            mechanism: "SCRAM-SHA-512".into(),
        };
        let resp = SaslHandshakeResponse {
            error_code: 33,
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
        };
        for v in 0..=1 {
            let mut buf = BytesMut::new();
            encode_request(&header(api_key::SASL_HANDSHAKE, v), &req, &mut buf);
            let (h, body) = decode_request_header(&buf[4..]).expect("header");
            assert_eq!((h.api_key, h.api_version), (17, v));
            let back: SaslHandshakeRequest = decode_request_body(v, body).expect("body");
            assert_eq!(back, req);
            let mut buf = BytesMut::new();
            encode_response::<SaslHandshakeRequest>(3, v, &resp, &mut buf);
            let (h, back) = decode_response::<SaslHandshakeRequest>(v, &buf[4..]).expect("resp");
            assert_eq!((h.correlation_id, back), (3, resp.clone()));
            for cut in 4..buf.len() - 1 {
                assert!(
                    decode_response::<SaslHandshakeRequest>(v, &buf[4..cut]).is_err(),
                    "v{v} cut at {cut}"
                );
            }
        }
        assert!(decode_response::<SaslHandshakeRequest>(2, &[0; 16]).is_err());
    }

    #[test]
    fn handshake_refuses_a_hostile_mechanism_count_before_allocating() {
        // correlation id, error 0, then an array claiming i32::MAX strings in 4 bytes.
        let mut frame = vec![0, 0, 0, 1, 0, 0];
        frame.extend_from_slice(&i32::MAX.to_be_bytes());
        frame.extend_from_slice(&[0, 1, b'A', 0]);
        assert!(decode_response::<SaslHandshakeRequest>(1, &frame).is_err());
        // A negative count is refused too.
        let mut frame = vec![0, 0, 0, 1, 0, 0];
        frame.extend_from_slice(&(-2i32).to_be_bytes());
        assert!(decode_response::<SaslHandshakeRequest>(1, &frame).is_err());
    }

    #[test]
    fn authenticate_round_trips_in_every_version_and_drops_lifetime_below_v1() {
        let req = SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"\0alice\0secret"),
        };
        let resp = SaslAuthenticateResponse {
            error_code: 0,
            error_message: Some("fine".into()),
            auth_bytes: Bytes::from_static(b"v=abc"),
            session_lifetime_ms: 60_000,
        };
        for v in 0..=2 {
            let mut buf = BytesMut::new();
            encode_request(&header(api_key::SASL_AUTHENTICATE, v), &req, &mut buf);
            let (h, body) = decode_request_header(&buf[4..]).expect("header");
            assert_eq!((h.api_key, h.api_version), (36, v));
            let back: SaslAuthenticateRequest = decode_request_body(v, body).expect("body");
            assert_eq!(back, req);
            let mut buf = BytesMut::new();
            encode_response::<SaslAuthenticateRequest>(8, v, &resp, &mut buf);
            let (h, back) = decode_response::<SaslAuthenticateRequest>(v, &buf[4..]).expect("resp");
            let want = SaslAuthenticateResponse {
                session_lifetime_ms: if v >= 1 { 60_000 } else { 0 },
                ..resp.clone()
            };
            assert_eq!((h.correlation_id, back), (8, want), "v{v}");
            for cut in 4..buf.len() - 1 {
                assert!(
                    decode_response::<SaslAuthenticateRequest>(v, &buf[4..cut]).is_err(),
                    "v{v} cut at {cut}"
                );
            }
        }
        assert!(decode_response::<SaslAuthenticateRequest>(3, &[0; 32]).is_err());
    }

    #[test]
    fn authenticate_refuses_a_length_past_the_frame() {
        // v1: correlation id, error 0, null message, auth bytes claiming 1 GiB.
        let mut frame = vec![0, 0, 0, 1, 0, 0, 0xff, 0xff];
        frame.extend_from_slice(&(1i32 << 30).to_be_bytes());
        frame.extend_from_slice(&[0; 8]);
        assert!(decode_response::<SaslAuthenticateRequest>(1, &frame).is_err());
        // v2: compact length uvarint claiming ~268 MB.
        let frame = [0, 0, 0, 1, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01, 0];
        assert!(decode_response::<SaslAuthenticateRequest>(2, &frame).is_err());
    }
}

//! FindCoordinator (key 10), versions 0–6: which broker coordinates a transactional id (key
//! type 1) or a consumer group (key type 0).
//!
//! v0 has no key type (it finds group coordinators only), so a transaction coordinator needs
//! v1+. v3+ is flexible. v4 (KIP-699) batches: the request carries `CoordinatorKeys` and the
//! answer one entry per key, each with its own error; v0–v3 carry one key and answer with one
//! top-level node, host, port and error. [`FindCoordinatorResponse::coordinator`] reads either
//! shape. v5 (KIP-890: the broker may answer TRANSACTION_ABORTABLE) and v6 (KIP-932: key type
//! 2, share groups) are v4 on the wire.

/// Coordinator key types (`KeyType`, v1+).
pub mod key_type {
    /// A consumer group (`group.id`).
    pub const GROUP: i8 = 0;
    /// A transactional id (`transactional.id`).
    pub const TRANSACTION: i8 = 1;
    /// A share-group partition (`groupId:topicId:partition`, v6+; KIP-932).
    pub const SHARE: i8 = 2;
}

/// FindCoordinator request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// `KeyType` (v1+): [`key_type::GROUP`] or [`key_type::TRANSACTION`]. Not sent in v0,
    /// which means a group.
    pub key_type: i8,
    /// The keys: `Key` in v0–v3 (exactly one is sent: the first, or an empty key when there
    /// is none), `CoordinatorKeys` in v4+.
    pub keys: Vec<String>,
}

/// One coordinator in a FindCoordinator answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// `Key` (v4+); `None` in a v0–v3 answer, which names no key (it answers the one asked).
    pub key: Option<String>,
    /// `NodeId`.
    pub node_id: i32,
    /// `Host`.
    pub host: String,
    /// `Port`.
    pub port: i32,
    /// `ErrorCode`.
    pub error_code: i16,
    /// `ErrorMessage` (v1+, nullable).
    pub error_message: Option<String>,
}

/// FindCoordinator response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorResponse {
    /// `ThrottleTimeMs` (v1+).
    pub throttle_time_ms: i32,
    /// The answers: one per key in v4+ (`Coordinators`); in v0–v3 exactly one, built from the
    /// top-level fields (an empty list is encoded as node `-1`, empty host, port `-1`, no
    /// error).
    pub coordinators: Vec<Coordinator>,
}

impl FindCoordinatorResponse {
    /// The answer for `key`: (node id, host, port, error code). A v4+ answer is looked up by
    /// key; a v0–v3 answer (whose single entry names no key) answers any key.
    pub fn coordinator(&self, key: &str) -> Option<(i32, &str, i32, i16)> {
        self.coordinators
            .iter()
            .find(|c| match &c.key {
                None => true,
                Some(k) => k == key,
            })
            .map(|c| (c.node_id, c.host.as_str(), c.port, c.error_code))
    }
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

const FIRST_FLEXIBLE: i16 = 3;
/// First version with `CoordinatorKeys` / `Coordinators` (KIP-699).
const FIRST_BATCHED: i16 = 4;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (FindCoordinatorRequest::MIN_VERSION..=FindCoordinatorRequest::MAX_VERSION)
        .contains(&version)
    {
        Ok(())
    } else {
        Err(DecodeError::Invalid("FindCoordinator version"))
    }
}

impl Request for FindCoordinatorRequest {
    const API_KEY: i16 = api_key::FIND_COORDINATOR;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 6;
    const FIRST_FLEXIBLE: i16 = FIRST_FLEXIBLE;
    type Response = FindCoordinatorResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        if version < FIRST_BATCHED {
            let key = self.keys.first().map_or("", String::as_str);
            buf.put_string_flex(flexible, key);
        }
        if version >= 1 {
            buf.put_i8(self.key_type);
        }
        if version >= FIRST_BATCHED {
            buf.put_compact_array_len(self.keys.len());
            for k in &self.keys {
                buf.put_compact_string(k);
            }
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let mut keys = Vec::new();
        if version < FIRST_BATCHED {
            keys.push(r.string_flex(flexible)?);
        }
        let key_type = if version >= 1 { r.i8()? } else { 0 };
        if version >= FIRST_BATCHED {
            // A compact string takes one byte at least.
            let n = r.compact_array_len(1)?;
            keys = r.read_vec(n, Reader::compact_string)?;
        }
        r.tagged_fields_flex(flexible)?;
        Ok(FindCoordinatorRequest { key_type, keys })
    }
}

impl Response for FindCoordinatorResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if version < FIRST_BATCHED {
            let none = Coordinator {
                key: None,
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: 0,
                error_message: None,
            };
            let c = self.coordinators.first().unwrap_or(&none);
            buf.put_i16(c.error_code);
            if version >= 1 {
                buf.put_nullable_string_flex(flexible, c.error_message.as_deref());
            }
            buf.put_i32(c.node_id);
            buf.put_string_flex(flexible, &c.host);
            buf.put_i32(c.port);
        } else {
            buf.put_compact_array_len(self.coordinators.len());
            for c in &self.coordinators {
                buf.put_compact_string(c.key.as_deref().unwrap_or(""));
                buf.put_i32(c.node_id);
                buf.put_compact_string(&c.host);
                buf.put_i32(c.port);
                buf.put_i16(c.error_code);
                buf.put_compact_nullable_string(c.error_message.as_deref());
                buf.put_empty_tagged_fields();
            }
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let coordinators = if version < FIRST_BATCHED {
            let error_code = r.i16()?;
            let error_message = if version >= 1 {
                r.nullable_string_flex(flexible)?
            } else {
                None
            };
            let node_id = r.i32()?;
            let host = r.string_flex(flexible)?;
            let port = r.i32()?;
            vec![Coordinator {
                key: None,
                node_id,
                host,
                port,
                error_code,
                error_message,
            }]
        } else {
            // key 1 + node 4 + host 1 + port 4 + error 2 + message 1 + tags 1.
            let n = r.compact_array_len(14)?;
            r.read_vec(n, |r| {
                let key = r.compact_string()?;
                let node_id = r.i32()?;
                let host = r.compact_string()?;
                let port = r.i32()?;
                let error_code = r.i16()?;
                let error_message = r.compact_nullable_string()?;
                r.skip_tagged_fields()?;
                Ok(Coordinator {
                    key: Some(key),
                    node_id,
                    host,
                    port,
                    error_code,
                    error_message,
                })
            })?
        };
        r.tagged_fields_flex(flexible)?;
        Ok(FindCoordinatorResponse {
            throttle_time_ms,
            coordinators,
        })
    }
}

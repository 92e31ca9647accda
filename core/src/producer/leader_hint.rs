//! KIP-951 leader discovery: a Produce answer (v10+) that refuses a batch with
//! NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH may name the partition's current leader and
//! its epoch (`CurrentLeader`), and the addresses of such leaders (`NodeEndpoints`). The
//! retry then goes to that leader at once, without its backoff and without waiting for a
//! Metadata answer, when the hint's epoch is newer than the one the producer knows — as the
//! Java client does (`Metadata.updatePartitionLeadership`, and `RecordAccumulator` skipping
//! the backoff when the leader changed). Metadata is still refreshed in the background (the
//! retry path asks for it), and a later Metadata answer naming an older epoch does not move
//! the leader back (see `metadata.rs`).
//!
//! The hints of one answer are applied after all its batches went down their retry path
//! (which abandons the partition's leader), so several batches of one partition in one
//! answer end with the hinted leader. A hint repeating the leader already known at the epoch
//! already known (a batch sent to the old leader before the move, answered after it) gives
//! the leader back without cutting the backoff short: it is no news.

use super::partition::PartitionRef;
use super::stage_cx::StageCx;
use crate::output::BrokerAddress;
use crate::protocol::{ErrorCode, LeaderIdAndEpoch, NodeEndpoint};

/// The newest leader epoch a partition knows and the node it names (`-1`: none known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaderEpoch {
    /// The leader epoch (Metadata v7+ `leader_epoch`, or a hint's).
    pub epoch: i32,
    /// The leader named with it.
    pub node: i32,
}

impl Default for LeaderEpoch {
    fn default() -> Self {
        LeaderEpoch {
            epoch: -1,
            node: -1,
        }
    }
}

/// A leader hint of one partition, kept until the answer's batches are handled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hint {
    /// The partition.
    pub at: PartitionRef,
    /// What the broker said.
    pub leader: LeaderIdAndEpoch,
}

/// Whether an answer with `code` may carry a usable `CurrentLeader` (as Java reads it).
pub(crate) fn carries_hint(code: ErrorCode) -> bool {
    code == ErrorCode::NOT_LEADER_OR_FOLLOWER || code == ErrorCode::FENCED_LEADER_EPOCH
}

/// Applies `hints` (drained) with the answer's `endpoints`: a hint with a leader and an epoch
/// newer than the partition's sets its leader, learning the leader's address from
/// `endpoints` when metadata did not list it, and ends its backoff; one repeating the
/// known leader and epoch gives the leader back. Others (older or equal epochs naming
/// another node, unknown nodes, `-1`s) change nothing: the metadata refresh decides.
pub(crate) fn apply_hints(cx: &mut StageCx<'_>, hints: &mut Vec<Hint>, endpoints: &[NodeEndpoint]) {
    for Hint { at, leader } in hints.drain(..) {
        let LeaderIdAndEpoch {
            leader_id: node,
            leader_epoch: epoch,
        } = leader;
        if node < 0 || epoch < 0 {
            continue;
        }
        let known = cx.partition(at).leader_epoch;
        let newer = epoch > known.epoch;
        let same = epoch == known.epoch && node == known.node;
        if !newer && !same {
            continue;
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = cx.metadata.brokers.entry(node) {
            let address = endpoints
                .iter()
                .find(|e| e.node_id == node)
                .and_then(|e| Some((e.host.clone(), u16::try_from(e.port).ok()?)));
            let Some((host, port)) = address else {
                continue; // nowhere to send it: wait for metadata
            };
            slot.insert(BrokerAddress { host, port });
        }
        let part = cx.partition_mut(at);
        part.leader = Some(node);
        if newer {
            part.leader_epoch = LeaderEpoch { epoch, node };
            // The leader changed since the attempt: no backoff (Java's `shouldBackoff`).
            part.backoff_until = None;
            cx.outbox.counters.leader_hints_used += 1;
        }
    }
}

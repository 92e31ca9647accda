//! Kafka error codes and their retriable / non-retriable classification.
//!
//! Names and codes follow Kafka's `Errors.java`; a code is retriable when Kafka's exception
//! for it extends `RetriableException` (directly, or through `InvalidMetadataException`).

/// A Kafka error code as it appears on the wire (`0` is no error).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// UNKNOWN_SERVER_ERROR (-1).
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    /// No error.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// OFFSET_OUT_OF_RANGE (1).
    pub const OFFSET_OUT_OF_RANGE: ErrorCode = ErrorCode(1);
    /// CORRUPT_MESSAGE (2), retriable.
    pub const CORRUPT_MESSAGE: ErrorCode = ErrorCode(2);
    /// UNKNOWN_TOPIC_OR_PARTITION (3), retriable.
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// INVALID_FETCH_SIZE (4).
    pub const INVALID_FETCH_SIZE: ErrorCode = ErrorCode(4);
    /// LEADER_NOT_AVAILABLE (5), retriable.
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    /// NOT_LEADER_OR_FOLLOWER (6), retriable.
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
    /// REQUEST_TIMED_OUT (7), retriable.
    pub const REQUEST_TIMED_OUT: ErrorCode = ErrorCode(7);
    /// BROKER_NOT_AVAILABLE (8).
    pub const BROKER_NOT_AVAILABLE: ErrorCode = ErrorCode(8);
    /// REPLICA_NOT_AVAILABLE (9), retriable.
    pub const REPLICA_NOT_AVAILABLE: ErrorCode = ErrorCode(9);
    /// MESSAGE_TOO_LARGE (10).
    pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(10);
    /// STALE_CONTROLLER_EPOCH (11).
    pub const STALE_CONTROLLER_EPOCH: ErrorCode = ErrorCode(11);
    /// OFFSET_METADATA_TOO_LARGE (12).
    pub const OFFSET_METADATA_TOO_LARGE: ErrorCode = ErrorCode(12);
    /// NETWORK_EXCEPTION (13), retriable.
    pub const NETWORK_EXCEPTION: ErrorCode = ErrorCode(13);
    /// COORDINATOR_LOAD_IN_PROGRESS (14), retriable.
    pub const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
    /// COORDINATOR_NOT_AVAILABLE (15), retriable.
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    /// NOT_COORDINATOR (16), retriable.
    pub const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
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
    /// ILLEGAL_GENERATION (22).
    pub const ILLEGAL_GENERATION: ErrorCode = ErrorCode(22);
    /// INCONSISTENT_GROUP_PROTOCOL (23).
    pub const INCONSISTENT_GROUP_PROTOCOL: ErrorCode = ErrorCode(23);
    /// INVALID_GROUP_ID (24).
    pub const INVALID_GROUP_ID: ErrorCode = ErrorCode(24);
    /// UNKNOWN_MEMBER_ID (25).
    pub const UNKNOWN_MEMBER_ID: ErrorCode = ErrorCode(25);
    /// INVALID_SESSION_TIMEOUT (26).
    pub const INVALID_SESSION_TIMEOUT: ErrorCode = ErrorCode(26);
    /// REBALANCE_IN_PROGRESS (27).
    pub const REBALANCE_IN_PROGRESS: ErrorCode = ErrorCode(27);
    /// INVALID_COMMIT_OFFSET_SIZE (28).
    pub const INVALID_COMMIT_OFFSET_SIZE: ErrorCode = ErrorCode(28);
    /// TOPIC_AUTHORIZATION_FAILED (29).
    pub const TOPIC_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(29);
    /// GROUP_AUTHORIZATION_FAILED (30).
    pub const GROUP_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(30);
    /// CLUSTER_AUTHORIZATION_FAILED (31).
    pub const CLUSTER_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(31);
    /// INVALID_TIMESTAMP (32).
    pub const INVALID_TIMESTAMP: ErrorCode = ErrorCode(32);
    /// UNSUPPORTED_SASL_MECHANISM (33).
    pub const UNSUPPORTED_SASL_MECHANISM: ErrorCode = ErrorCode(33);
    /// ILLEGAL_SASL_STATE (34).
    pub const ILLEGAL_SASL_STATE: ErrorCode = ErrorCode(34);
    /// UNSUPPORTED_VERSION (35).
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    /// TOPIC_ALREADY_EXISTS (36).
    pub const TOPIC_ALREADY_EXISTS: ErrorCode = ErrorCode(36);
    /// INVALID_PARTITIONS (37).
    pub const INVALID_PARTITIONS: ErrorCode = ErrorCode(37);
    /// INVALID_REPLICATION_FACTOR (38).
    pub const INVALID_REPLICATION_FACTOR: ErrorCode = ErrorCode(38);
    /// INVALID_REPLICA_ASSIGNMENT (39).
    pub const INVALID_REPLICA_ASSIGNMENT: ErrorCode = ErrorCode(39);
    /// INVALID_CONFIG (40).
    pub const INVALID_CONFIG: ErrorCode = ErrorCode(40);
    /// NOT_CONTROLLER (41), retriable.
    pub const NOT_CONTROLLER: ErrorCode = ErrorCode(41);
    /// INVALID_REQUEST (42).
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(42);
    /// UNSUPPORTED_FOR_MESSAGE_FORMAT (43).
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: ErrorCode = ErrorCode(43);
    /// POLICY_VIOLATION (44).
    pub const POLICY_VIOLATION: ErrorCode = ErrorCode(44);
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: ErrorCode = ErrorCode(45);
    /// DUPLICATE_SEQUENCE_NUMBER (46).
    pub const DUPLICATE_SEQUENCE_NUMBER: ErrorCode = ErrorCode(46);
    /// INVALID_PRODUCER_EPOCH (47).
    pub const INVALID_PRODUCER_EPOCH: ErrorCode = ErrorCode(47);
    /// INVALID_TXN_STATE (48).
    pub const INVALID_TXN_STATE: ErrorCode = ErrorCode(48);
    /// INVALID_PRODUCER_ID_MAPPING (49).
    pub const INVALID_PRODUCER_ID_MAPPING: ErrorCode = ErrorCode(49);
    /// INVALID_TRANSACTION_TIMEOUT (50).
    pub const INVALID_TRANSACTION_TIMEOUT: ErrorCode = ErrorCode(50);
    /// CONCURRENT_TRANSACTIONS (51), retriable.
    pub const CONCURRENT_TRANSACTIONS: ErrorCode = ErrorCode(51);
    /// TRANSACTION_COORDINATOR_FENCED (52).
    pub const TRANSACTION_COORDINATOR_FENCED: ErrorCode = ErrorCode(52);
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(53);
    /// SECURITY_DISABLED (54).
    pub const SECURITY_DISABLED: ErrorCode = ErrorCode(54);
    /// OPERATION_NOT_ATTEMPTED (55).
    pub const OPERATION_NOT_ATTEMPTED: ErrorCode = ErrorCode(55);
    /// KAFKA_STORAGE_ERROR (56), retriable.
    pub const KAFKA_STORAGE_ERROR: ErrorCode = ErrorCode(56);
    /// LOG_DIR_NOT_FOUND (57).
    pub const LOG_DIR_NOT_FOUND: ErrorCode = ErrorCode(57);
    /// SASL_AUTHENTICATION_FAILED (58).
    pub const SASL_AUTHENTICATION_FAILED: ErrorCode = ErrorCode(58);
    /// UNKNOWN_PRODUCER_ID (59).
    pub const UNKNOWN_PRODUCER_ID: ErrorCode = ErrorCode(59);
    /// REASSIGNMENT_IN_PROGRESS (60).
    pub const REASSIGNMENT_IN_PROGRESS: ErrorCode = ErrorCode(60);
    /// DELEGATION_TOKEN_AUTH_DISABLED (61).
    pub const DELEGATION_TOKEN_AUTH_DISABLED: ErrorCode = ErrorCode(61);
    /// DELEGATION_TOKEN_NOT_FOUND (62).
    pub const DELEGATION_TOKEN_NOT_FOUND: ErrorCode = ErrorCode(62);
    /// DELEGATION_TOKEN_OWNER_MISMATCH (63).
    pub const DELEGATION_TOKEN_OWNER_MISMATCH: ErrorCode = ErrorCode(63);
    /// DELEGATION_TOKEN_REQUEST_NOT_ALLOWED (64).
    pub const DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: ErrorCode = ErrorCode(64);
    /// DELEGATION_TOKEN_AUTHORIZATION_FAILED (65).
    pub const DELEGATION_TOKEN_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(65);
    /// DELEGATION_TOKEN_EXPIRED (66).
    pub const DELEGATION_TOKEN_EXPIRED: ErrorCode = ErrorCode(66);
    /// INVALID_PRINCIPAL_TYPE (67).
    pub const INVALID_PRINCIPAL_TYPE: ErrorCode = ErrorCode(67);
    /// NON_EMPTY_GROUP (68).
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    /// GROUP_ID_NOT_FOUND (69).
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    /// FETCH_SESSION_ID_NOT_FOUND (70), retriable.
    pub const FETCH_SESSION_ID_NOT_FOUND: ErrorCode = ErrorCode(70);
    /// INVALID_FETCH_SESSION_EPOCH (71), retriable.
    pub const INVALID_FETCH_SESSION_EPOCH: ErrorCode = ErrorCode(71);
    /// LISTENER_NOT_FOUND (72), retriable.
    pub const LISTENER_NOT_FOUND: ErrorCode = ErrorCode(72);
    /// TOPIC_DELETION_DISABLED (73).
    pub const TOPIC_DELETION_DISABLED: ErrorCode = ErrorCode(73);
    /// FENCED_LEADER_EPOCH (74), retriable.
    pub const FENCED_LEADER_EPOCH: ErrorCode = ErrorCode(74);
    /// UNKNOWN_LEADER_EPOCH (75), retriable.
    pub const UNKNOWN_LEADER_EPOCH: ErrorCode = ErrorCode(75);
    /// UNSUPPORTED_COMPRESSION_TYPE (76).
    pub const UNSUPPORTED_COMPRESSION_TYPE: ErrorCode = ErrorCode(76);
    /// STALE_BROKER_EPOCH (77).
    pub const STALE_BROKER_EPOCH: ErrorCode = ErrorCode(77);
    /// OFFSET_NOT_AVAILABLE (78), retriable.
    pub const OFFSET_NOT_AVAILABLE: ErrorCode = ErrorCode(78);
    /// MEMBER_ID_REQUIRED (79).
    pub const MEMBER_ID_REQUIRED: ErrorCode = ErrorCode(79);
    /// PREFERRED_LEADER_NOT_AVAILABLE (80), retriable.
    pub const PREFERRED_LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(80);
    /// GROUP_MAX_SIZE_REACHED (81).
    pub const GROUP_MAX_SIZE_REACHED: ErrorCode = ErrorCode(81);
    /// FENCED_INSTANCE_ID (82).
    pub const FENCED_INSTANCE_ID: ErrorCode = ErrorCode(82);
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE (83), retriable.
    pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: ErrorCode = ErrorCode(83);
    /// ELECTION_NOT_NEEDED (84), retriable.
    pub const ELECTION_NOT_NEEDED: ErrorCode = ErrorCode(84);
    /// NO_REASSIGNMENT_IN_PROGRESS (85).
    pub const NO_REASSIGNMENT_IN_PROGRESS: ErrorCode = ErrorCode(85);
    /// GROUP_SUBSCRIBED_TO_TOPIC (86).
    pub const GROUP_SUBSCRIBED_TO_TOPIC: ErrorCode = ErrorCode(86);
    /// INVALID_RECORD (87).
    pub const INVALID_RECORD: ErrorCode = ErrorCode(87);
    /// UNSTABLE_OFFSET_COMMIT (88), retriable.
    pub const UNSTABLE_OFFSET_COMMIT: ErrorCode = ErrorCode(88);
    /// THROTTLING_QUOTA_EXCEEDED (89), retriable.
    pub const THROTTLING_QUOTA_EXCEEDED: ErrorCode = ErrorCode(89);
    /// PRODUCER_FENCED (90).
    pub const PRODUCER_FENCED: ErrorCode = ErrorCode(90);
    /// RESOURCE_NOT_FOUND (91).
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(91);
    /// DUPLICATE_RESOURCE (92).
    pub const DUPLICATE_RESOURCE: ErrorCode = ErrorCode(92);
    /// UNACCEPTABLE_CREDENTIAL (93).
    pub const UNACCEPTABLE_CREDENTIAL: ErrorCode = ErrorCode(93);
    /// INCONSISTENT_VOTER_SET (94).
    pub const INCONSISTENT_VOTER_SET: ErrorCode = ErrorCode(94);
    /// INVALID_UPDATE_VERSION (95).
    pub const INVALID_UPDATE_VERSION: ErrorCode = ErrorCode(95);
    /// FEATURE_UPDATE_FAILED (96).
    pub const FEATURE_UPDATE_FAILED: ErrorCode = ErrorCode(96);
    /// PRINCIPAL_DESERIALIZATION_FAILURE (97).
    pub const PRINCIPAL_DESERIALIZATION_FAILURE: ErrorCode = ErrorCode(97);
    /// SNAPSHOT_NOT_FOUND (98).
    pub const SNAPSHOT_NOT_FOUND: ErrorCode = ErrorCode(98);
    /// POSITION_OUT_OF_RANGE (99).
    pub const POSITION_OUT_OF_RANGE: ErrorCode = ErrorCode(99);
    /// UNKNOWN_TOPIC_ID (100), retriable.
    pub const UNKNOWN_TOPIC_ID: ErrorCode = ErrorCode(100);
    /// DUPLICATE_BROKER_REGISTRATION (101).
    pub const DUPLICATE_BROKER_REGISTRATION: ErrorCode = ErrorCode(101);
    /// BROKER_ID_NOT_REGISTERED (102).
    pub const BROKER_ID_NOT_REGISTERED: ErrorCode = ErrorCode(102);
    /// INCONSISTENT_TOPIC_ID (103), retriable.
    pub const INCONSISTENT_TOPIC_ID: ErrorCode = ErrorCode(103);
    /// INCONSISTENT_CLUSTER_ID (104).
    pub const INCONSISTENT_CLUSTER_ID: ErrorCode = ErrorCode(104);
    /// TRANSACTIONAL_ID_NOT_FOUND (105).
    pub const TRANSACTIONAL_ID_NOT_FOUND: ErrorCode = ErrorCode(105);
    /// FETCH_SESSION_TOPIC_ID_ERROR (106), retriable.
    pub const FETCH_SESSION_TOPIC_ID_ERROR: ErrorCode = ErrorCode(106);
    /// INELIGIBLE_REPLICA (107).
    pub const INELIGIBLE_REPLICA: ErrorCode = ErrorCode(107);
    /// NEW_LEADER_ELECTED (108).
    pub const NEW_LEADER_ELECTED: ErrorCode = ErrorCode(108);
    /// OFFSET_MOVED_TO_TIERED_STORAGE (109).
    pub const OFFSET_MOVED_TO_TIERED_STORAGE: ErrorCode = ErrorCode(109);
    /// FENCED_MEMBER_EPOCH (110).
    pub const FENCED_MEMBER_EPOCH: ErrorCode = ErrorCode(110);
    /// UNRELEASED_INSTANCE_ID (111).
    pub const UNRELEASED_INSTANCE_ID: ErrorCode = ErrorCode(111);
    /// UNSUPPORTED_ASSIGNOR (112).
    pub const UNSUPPORTED_ASSIGNOR: ErrorCode = ErrorCode(112);
    /// STALE_MEMBER_EPOCH (113).
    pub const STALE_MEMBER_EPOCH: ErrorCode = ErrorCode(113);
    /// MISMATCHED_ENDPOINT_TYPE (114).
    pub const MISMATCHED_ENDPOINT_TYPE: ErrorCode = ErrorCode(114);
    /// UNSUPPORTED_ENDPOINT_TYPE (115).
    pub const UNSUPPORTED_ENDPOINT_TYPE: ErrorCode = ErrorCode(115);
    /// UNKNOWN_CONTROLLER_ID (116).
    pub const UNKNOWN_CONTROLLER_ID: ErrorCode = ErrorCode(116);
    /// UNKNOWN_SUBSCRIPTION_ID (117).
    pub const UNKNOWN_SUBSCRIPTION_ID: ErrorCode = ErrorCode(117);
    /// TELEMETRY_TOO_LARGE (118).
    pub const TELEMETRY_TOO_LARGE: ErrorCode = ErrorCode(118);
    /// INVALID_REGISTRATION (119).
    pub const INVALID_REGISTRATION: ErrorCode = ErrorCode(119);
    /// TRANSACTION_ABORTABLE (120).
    pub const TRANSACTION_ABORTABLE: ErrorCode = ErrorCode(120);
}

/// `(code, name, retriable)` for every code this crate names.
const TABLE: &[(i16, &str, bool)] = &[
    (-1, "UNKNOWN_SERVER_ERROR", false),
    (0, "NONE", false),
    (1, "OFFSET_OUT_OF_RANGE", false),
    (2, "CORRUPT_MESSAGE", true),
    (3, "UNKNOWN_TOPIC_OR_PARTITION", true),
    (4, "INVALID_FETCH_SIZE", false),
    (5, "LEADER_NOT_AVAILABLE", true),
    (6, "NOT_LEADER_OR_FOLLOWER", true),
    (7, "REQUEST_TIMED_OUT", true),
    (8, "BROKER_NOT_AVAILABLE", false),
    (9, "REPLICA_NOT_AVAILABLE", true),
    (10, "MESSAGE_TOO_LARGE", false),
    (11, "STALE_CONTROLLER_EPOCH", false),
    (12, "OFFSET_METADATA_TOO_LARGE", false),
    (13, "NETWORK_EXCEPTION", true),
    (14, "COORDINATOR_LOAD_IN_PROGRESS", true),
    (15, "COORDINATOR_NOT_AVAILABLE", true),
    (16, "NOT_COORDINATOR", true),
    (17, "INVALID_TOPIC_EXCEPTION", false),
    (18, "RECORD_LIST_TOO_LARGE", false),
    (19, "NOT_ENOUGH_REPLICAS", true),
    (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true),
    (21, "INVALID_REQUIRED_ACKS", false),
    (22, "ILLEGAL_GENERATION", false),
    (23, "INCONSISTENT_GROUP_PROTOCOL", false),
    (24, "INVALID_GROUP_ID", false),
    (25, "UNKNOWN_MEMBER_ID", false),
    (26, "INVALID_SESSION_TIMEOUT", false),
    (27, "REBALANCE_IN_PROGRESS", false),
    (28, "INVALID_COMMIT_OFFSET_SIZE", false),
    (29, "TOPIC_AUTHORIZATION_FAILED", false),
    (30, "GROUP_AUTHORIZATION_FAILED", false),
    (31, "CLUSTER_AUTHORIZATION_FAILED", false),
    (32, "INVALID_TIMESTAMP", false),
    (33, "UNSUPPORTED_SASL_MECHANISM", false),
    (34, "ILLEGAL_SASL_STATE", false),
    (35, "UNSUPPORTED_VERSION", false),
    (36, "TOPIC_ALREADY_EXISTS", false),
    (37, "INVALID_PARTITIONS", false),
    (38, "INVALID_REPLICATION_FACTOR", false),
    (39, "INVALID_REPLICA_ASSIGNMENT", false),
    (40, "INVALID_CONFIG", false),
    (41, "NOT_CONTROLLER", true),
    (42, "INVALID_REQUEST", false),
    (43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false),
    (44, "POLICY_VIOLATION", false),
    (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false),
    (46, "DUPLICATE_SEQUENCE_NUMBER", false),
    (47, "INVALID_PRODUCER_EPOCH", false),
    (48, "INVALID_TXN_STATE", false),
    (49, "INVALID_PRODUCER_ID_MAPPING", false),
    (50, "INVALID_TRANSACTION_TIMEOUT", false),
    (51, "CONCURRENT_TRANSACTIONS", true),
    (52, "TRANSACTION_COORDINATOR_FENCED", false),
    (53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false),
    (54, "SECURITY_DISABLED", false),
    (55, "OPERATION_NOT_ATTEMPTED", false),
    (56, "KAFKA_STORAGE_ERROR", true),
    (57, "LOG_DIR_NOT_FOUND", false),
    (58, "SASL_AUTHENTICATION_FAILED", false),
    (59, "UNKNOWN_PRODUCER_ID", false),
    (60, "REASSIGNMENT_IN_PROGRESS", false),
    (61, "DELEGATION_TOKEN_AUTH_DISABLED", false),
    (62, "DELEGATION_TOKEN_NOT_FOUND", false),
    (63, "DELEGATION_TOKEN_OWNER_MISMATCH", false),
    (64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false),
    (65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false),
    (66, "DELEGATION_TOKEN_EXPIRED", false),
    (67, "INVALID_PRINCIPAL_TYPE", false),
    (68, "NON_EMPTY_GROUP", false),
    (69, "GROUP_ID_NOT_FOUND", false),
    (70, "FETCH_SESSION_ID_NOT_FOUND", true),
    (71, "INVALID_FETCH_SESSION_EPOCH", true),
    (72, "LISTENER_NOT_FOUND", true),
    (73, "TOPIC_DELETION_DISABLED", false),
    (74, "FENCED_LEADER_EPOCH", true),
    (75, "UNKNOWN_LEADER_EPOCH", true),
    (76, "UNSUPPORTED_COMPRESSION_TYPE", false),
    (77, "STALE_BROKER_EPOCH", false),
    (78, "OFFSET_NOT_AVAILABLE", true),
    (79, "MEMBER_ID_REQUIRED", false),
    (80, "PREFERRED_LEADER_NOT_AVAILABLE", true),
    (81, "GROUP_MAX_SIZE_REACHED", false),
    (82, "FENCED_INSTANCE_ID", false),
    (83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true),
    (84, "ELECTION_NOT_NEEDED", true),
    (85, "NO_REASSIGNMENT_IN_PROGRESS", false),
    (86, "GROUP_SUBSCRIBED_TO_TOPIC", false),
    (87, "INVALID_RECORD", false),
    (88, "UNSTABLE_OFFSET_COMMIT", true),
    (89, "THROTTLING_QUOTA_EXCEEDED", true),
    (90, "PRODUCER_FENCED", false),
    (91, "RESOURCE_NOT_FOUND", false),
    (92, "DUPLICATE_RESOURCE", false),
    (93, "UNACCEPTABLE_CREDENTIAL", false),
    (94, "INCONSISTENT_VOTER_SET", false),
    (95, "INVALID_UPDATE_VERSION", false),
    (96, "FEATURE_UPDATE_FAILED", false),
    (97, "PRINCIPAL_DESERIALIZATION_FAILURE", false),
    (98, "SNAPSHOT_NOT_FOUND", false),
    (99, "POSITION_OUT_OF_RANGE", false),
    (100, "UNKNOWN_TOPIC_ID", true),
    (101, "DUPLICATE_BROKER_REGISTRATION", false),
    (102, "BROKER_ID_NOT_REGISTERED", false),
    (103, "INCONSISTENT_TOPIC_ID", true),
    (104, "INCONSISTENT_CLUSTER_ID", false),
    (105, "TRANSACTIONAL_ID_NOT_FOUND", false),
    (106, "FETCH_SESSION_TOPIC_ID_ERROR", true),
    (107, "INELIGIBLE_REPLICA", false),
    (108, "NEW_LEADER_ELECTED", false),
    (109, "OFFSET_MOVED_TO_TIERED_STORAGE", false),
    (110, "FENCED_MEMBER_EPOCH", false),
    (111, "UNRELEASED_INSTANCE_ID", false),
    (112, "UNSUPPORTED_ASSIGNOR", false),
    (113, "STALE_MEMBER_EPOCH", false),
    (114, "MISMATCHED_ENDPOINT_TYPE", false),
    (115, "UNSUPPORTED_ENDPOINT_TYPE", false),
    (116, "UNKNOWN_CONTROLLER_ID", false),
    (117, "UNKNOWN_SUBSCRIPTION_ID", false),
    (118, "TELEMETRY_TOO_LARGE", false),
    (119, "INVALID_REGISTRATION", false),
    (120, "TRANSACTION_ABORTABLE", false),
];

impl ErrorCode {
    fn entry(self) -> Option<&'static (i16, &'static str, bool)> {
        // The table is sorted by code.
        TABLE
            .binary_search_by_key(&self.0, |e| e.0)
            .ok()
            .map(|i| &TABLE[i])
    }

    /// The code's name as Kafka spells it (`NOT_LEADER_OR_FOLLOWER`), or `UNKNOWN` for codes
    /// this crate does not name.
    pub fn name(self) -> &'static str {
        self.entry().map_or("UNKNOWN", |e| e.1)
    }

    /// Whether a retry may succeed (Kafka's `RetriableException` subclasses). Unknown codes
    /// are not retriable.
    pub fn is_retriable(self) -> bool {
        self.entry().is_some_and(|e| e.2)
    }

    /// Whether this is no error.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
}

/// What the transactional producer does with an error code on the transaction path, after
/// KIP-1050 (consistent error handling for transactions): retriable, abortable, or fatal, and
/// of the fatal ones, whether the application recovers by starting a new producer.
///
/// The table follows the Java client's `TransactionManager` (Kafka 4.x) for the answers of the
/// transaction coordinator (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn), the
/// group coordinator (TxnOffsetCommit) and the partition leaders (Produce inside a
/// transaction), and Kafka's exception classes for the fatal split (the classes extending
/// `ApplicationRecoverableException`, against `InvalidConfigurationException`, the
/// authorization failures and the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnErrorCategory {
    /// `NONE`: not an error.
    NoError,
    /// The producer retries on its own (after finding the coordinator again or refreshing
    /// metadata where the code says so); the application sees it only if its timeout runs out.
    Retriable,
    /// The transaction cannot commit: the application must abort it, and the producer stays
    /// usable afterwards (on an abortable error the producer bumps its epoch where it can).
    Abortable,
    /// Fatal to this producer instance (fenced: a newer instance owns the transactional id,
    /// or this epoch is stale); the application closes it and may start a new one, which
    /// recovers ("application-recoverable" in KIP-1050).
    FatalRecoverable,
    /// Fatal, and a new producer would fail the same way until the configuration, the ACLs
    /// or the cluster change (authorization of the transactional id or cluster, unsupported
    /// versions, invalid transaction state or timeout, unknown codes).
    Fatal,
}

/// Codes that abort the transaction but leave the producer usable. Per-record failures of a
/// Produce inside a transaction (too large, invalid record or timestamp, invalid topic) and
/// the authorization of a topic or group (the Java client's `abortableError` for
/// AddPartitionsToTxn and AddOffsetsToTxn / TxnOffsetCommit); the consumer-group answers to
/// TxnOffsetCommit (stale generation or member, fenced static member, rebalance: the
/// application aborts and rejoins its group); a lost producer state (UNKNOWN_PRODUCER_ID,
/// OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_ID_MAPPING: KIP-360, the epoch is bumped
/// on abort); TRANSACTION_ABORTABLE (KIP-890). REBALANCE_IN_PROGRESS, OFFSET_METADATA_TOO_LARGE
/// and INVALID_COMMIT_OFFSET_SIZE in a TxnOffsetCommit answer are "unexpected" (fatal) to the
/// Java client; here they abort only the transaction, since the producer's own state is intact.
const TXN_ABORTABLE: &[i16] = &[
    10, 12, 17, 18, 22, 25, 27, 28, 29, 30, 32, 45, 49, 59, 82, 87, 120,
];

/// Codes that fence this producer instance: PRODUCER_FENCED, INVALID_PRODUCER_EPOCH (from a
/// coordinator; the Java client maps it to `ProducerFencedException`), and
/// TRANSACTION_COORDINATOR_FENCED.
const TXN_FENCED: &[i16] = &[47, 52, 90];

impl ErrorCode {
    /// The code's [`TxnErrorCategory`] on the transaction path. Codes this crate does not name
    /// are fatal, as the Java client fails on an unexpected error.
    ///
    /// One caveat for the stage: INVALID_PRODUCER_EPOCH in a **Produce** answer is not a
    /// fence in the Java client (KIP-588: the epoch is bumped and the transaction aborted);
    /// this function gives the coordinator's meaning.
    pub fn txn_category(self) -> TxnErrorCategory {
        if self.is_ok() {
            TxnErrorCategory::NoError
        } else if self.is_retriable() {
            TxnErrorCategory::Retriable
        } else if TXN_ABORTABLE.contains(&self.0) {
            TxnErrorCategory::Abortable
        } else if TXN_FENCED.contains(&self.0) {
            TxnErrorCategory::FatalRecoverable
        } else {
            TxnErrorCategory::Fatal
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        // Every code from -1 to 120 is named.
        for c in -1..=120 {
            assert_ne!(ErrorCode(c).name(), "UNKNOWN", "{c}");
        }
        assert_eq!(ErrorCode(121).name(), "UNKNOWN");
        assert_eq!(ErrorCode(-2).name(), "UNKNOWN");
    }

    #[test]
    fn simulator_codes_classification() {
        for c in [
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::NOT_ENOUGH_REPLICAS,
            ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ] {
            assert!(c.is_retriable(), "{c}");
        }
        for c in [
            ErrorCode::MESSAGE_TOO_LARGE,
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
        ] {
            assert!(!c.is_retriable(), "{c}");
        }
    }

    #[test]
    fn other_classifications_from_errors_java() {
        let retriable = [
            2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83,
            84, 88, 89, 100, 103, 106,
        ];
        for c in -1..=120 {
            assert_eq!(
                ErrorCode(c).is_retriable(),
                retriable.contains(&c),
                "{}",
                ErrorCode(c)
            );
        }
        assert!(!ErrorCode(9999).is_retriable());
        assert!(ErrorCode::NONE.is_ok());
        assert!(!ErrorCode::NONE.is_retriable());
        assert_eq!(
            ErrorCode::NOT_LEADER_OR_FOLLOWER.to_string(),
            "NOT_LEADER_OR_FOLLOWER (6)"
        );
        assert_eq!(
            format!("{:?}", ErrorCode(47)),
            "ErrorCode(47: INVALID_PRODUCER_EPOCH)"
        );
    }

    #[test]
    fn txn_categories_table() {
        use TxnErrorCategory::*;
        // Every code the transactional producer meets, with what it must do (KIP-1050).
        let table: &[(ErrorCode, TxnErrorCategory)] = &[
            (ErrorCode::NONE, NoError),
            // Retried by the producer (coordinator lookups, loading, concurrent transactions,
            // metadata, timeouts).
            (ErrorCode::NOT_COORDINATOR, Retriable),
            (ErrorCode::COORDINATOR_NOT_AVAILABLE, Retriable),
            (ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, Retriable),
            (ErrorCode::CONCURRENT_TRANSACTIONS, Retriable),
            (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, Retriable),
            (ErrorCode::NOT_LEADER_OR_FOLLOWER, Retriable),
            (ErrorCode::REQUEST_TIMED_OUT, Retriable),
            (ErrorCode::NOT_ENOUGH_REPLICAS, Retriable),
            (ErrorCode::UNSTABLE_OFFSET_COMMIT, Retriable),
            // The application aborts; the producer stays usable.
            (ErrorCode::TRANSACTION_ABORTABLE, Abortable),
            (ErrorCode::UNKNOWN_PRODUCER_ID, Abortable),
            (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, Abortable),
            (ErrorCode::INVALID_PRODUCER_ID_MAPPING, Abortable),
            (ErrorCode::TOPIC_AUTHORIZATION_FAILED, Abortable),
            (ErrorCode::GROUP_AUTHORIZATION_FAILED, Abortable),
            (ErrorCode::UNKNOWN_MEMBER_ID, Abortable),
            (ErrorCode::ILLEGAL_GENERATION, Abortable),
            (ErrorCode::FENCED_INSTANCE_ID, Abortable),
            (ErrorCode::REBALANCE_IN_PROGRESS, Abortable),
            (ErrorCode::OFFSET_METADATA_TOO_LARGE, Abortable),
            (ErrorCode::INVALID_COMMIT_OFFSET_SIZE, Abortable),
            (ErrorCode::MESSAGE_TOO_LARGE, Abortable),
            (ErrorCode::RECORD_LIST_TOO_LARGE, Abortable),
            (ErrorCode::INVALID_RECORD, Abortable),
            (ErrorCode::INVALID_TIMESTAMP, Abortable),
            (ErrorCode::INVALID_TOPIC_EXCEPTION, Abortable),
            // This instance is fenced; a new one recovers.
            (ErrorCode::PRODUCER_FENCED, FatalRecoverable),
            (ErrorCode::INVALID_PRODUCER_EPOCH, FatalRecoverable),
            (ErrorCode::TRANSACTION_COORDINATOR_FENCED, FatalRecoverable),
            // Fatal: configuration, authorization, versions, state, anything unexpected.
            (ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
            (ErrorCode::CLUSTER_AUTHORIZATION_FAILED, Fatal),
            (ErrorCode::INVALID_TXN_STATE, Fatal),
            (ErrorCode::INVALID_TRANSACTION_TIMEOUT, Fatal),
            (ErrorCode::UNSUPPORTED_VERSION, Fatal),
            (ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT, Fatal),
            (ErrorCode::INVALID_REQUIRED_ACKS, Fatal),
            (ErrorCode::TRANSACTIONAL_ID_NOT_FOUND, Fatal),
            (ErrorCode::UNKNOWN_SERVER_ERROR, Fatal),
            (ErrorCode::DUPLICATE_SEQUENCE_NUMBER, Fatal),
            (ErrorCode(121), Fatal),
            (ErrorCode(-2), Fatal),
            (ErrorCode(i16::MAX), Fatal),
        ];
        for &(code, want) in table {
            assert_eq!(code.txn_category(), want, "{code}");
        }
        // The abortable and fenced lists name only non-retriable codes, so every retriable
        // code is retried, and each listed code lands in its own category.
        for c in -1..=120 {
            let code = ErrorCode(c);
            let cat = code.txn_category();
            assert_eq!(cat == Retriable, code.is_retriable(), "{code}");
            assert_eq!(cat == Abortable, TXN_ABORTABLE.contains(&c), "{code}");
            assert_eq!(cat == FatalRecoverable, TXN_FENCED.contains(&c), "{code}");
        }
    }
}

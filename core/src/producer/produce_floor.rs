//! The lowest Produce version a broker really takes (KIP-896).
//!
//! Kafka 4.0 removed Produce v0–v2 (MessageSet v0/v1, KIP-896): "version 3 is the new
//! baseline". A 4.x broker still lists Produce from v0 in its ApiVersions answer (KAFKA-18659:
//! librdkafka needs the entry) but rejects those versions. Kafka's own Java client never meets
//! this: since 4.0 its lowest Produce version is 3, so it negotiates within v3 and up whatever
//! the broker lists. This producer keeps v0–v2 for brokers before 4.0 (the configured
//! [`MessageFormat::MessageSetV0`](crate::config::MessageFormat) / `V1`), so it tells a 4.x
//! broker by the other removals of KIP-896, which it does advertise as they are: Fetch v0–v3
//! (the versions that answer in MessageSet v0/v1) are gone, its Fetch range starts at v4.
//! Against such a broker the Produce range negotiated from starts at v3; a message format
//! that needs v0–v2 then has no version, and its records fail with
//! [`ProduceError::UnsupportedVersion`](crate::ProduceError) carrying [`REJECTED`].

use crate::protocol::ApiVersionsResponse;

/// Fetch's API key.
const FETCH: i16 = 1;

/// The lowest Fetch version of a Kafka 4.0+ broker (KIP-896 removed v0–v3).
const FETCH_BASELINE_4X: i16 = 4;

/// The lowest Produce version of a Kafka 4.0+ broker (KIP-896 removed v0–v2).
pub(crate) const PRODUCE_BASELINE_4X: i16 = 3;

/// Why no Produce version fits when only the floor ruled the configured format out.
pub(crate) const REJECTED: &str = "the broker is Kafka 4.0 or newer, which lists Produce v0-v2 \
     but rejects them (KIP-896): message formats MessageSet v0/v1 cannot be written to it";

/// Whether the broker removed the old message format (KIP-896, Kafka 4.0+): its Fetch range
/// starts at v4 or above.
pub(crate) fn removed_old_format(resp: &ApiVersionsResponse) -> bool {
    resp.api_keys
        .iter()
        .any(|r| r.api_key == FETCH && r.min_version >= FETCH_BASELINE_4X)
}

/// The Produce range to negotiate within: `advertised`, raised to start at v3 on a broker
/// that removed the old message format.
pub(crate) fn usable_produce_range(
    resp: &ApiVersionsResponse,
    advertised: (i16, i16),
) -> (i16, i16) {
    if removed_old_format(resp) {
        (advertised.0.max(PRODUCE_BASELINE_4X), advertised.1)
    } else {
        advertised
    }
}

#[cfg(test)]
mod tests {
    use super::super::connection::negotiate_versions;
    use super::*;
    use crate::config::MessageFormat;
    use crate::protocol::{api_key, ApiVersionRange};
    use crate::record::RecordFormat;

    fn answer(produce: (i16, i16), fetch: (i16, i16)) -> ApiVersionsResponse {
        let range = |api_key, (min_version, max_version)| ApiVersionRange {
            api_key,
            min_version,
            max_version,
        };
        ApiVersionsResponse {
            api_keys: vec![
                range(api_key::PRODUCE, produce),
                range(FETCH, fetch),
                range(api_key::METADATA, (0, 12)),
                range(api_key::API_VERSIONS, (0, 4)),
                range(api_key::INIT_PRODUCER_ID, (0, 5)),
            ],
            ..ApiVersionsResponse::default()
        }
    }

    /// What Kafka 4.1 answers: Produce 0–12 listed (KAFKA-18659), Fetch from v4.
    fn kafka_4_1() -> ApiVersionsResponse {
        answer((0, 12), (4, 17))
    }

    /// What Kafka 3.9 answers: Produce 0–11, Fetch 0–17.
    fn kafka_3_9() -> ApiVersionsResponse {
        answer((0, 11), (0, 17))
    }

    fn produce(resp: &ApiVersionsResponse, f: MessageFormat) -> Result<(i16, RecordFormat), &str> {
        negotiate_versions(resp, f)
            .expect("metadata agreed")
            .produce
    }

    #[test]
    fn a_4x_broker_is_told_by_its_fetch_floor() {
        assert!(removed_old_format(&kafka_4_1()));
        assert!(!removed_old_format(&kafka_3_9()));
        // No Fetch entry at all (a produce-only service): no claim either way, as listed.
        let mut no_fetch = kafka_4_1();
        no_fetch.api_keys.retain(|r| r.api_key != FETCH);
        assert!(!removed_old_format(&no_fetch));
        assert_eq!(usable_produce_range(&no_fetch, (0, 12)), (0, 12));
        assert_eq!(usable_produce_range(&kafka_4_1(), (0, 12)), (3, 12));
        assert_eq!(usable_produce_range(&kafka_4_1(), (5, 12)), (5, 12));
        assert_eq!(usable_produce_range(&kafka_3_9(), (0, 11)), (0, 11));
    }

    #[test]
    fn auto_picks_the_highest_against_4x() {
        assert_eq!(
            produce(&kafka_4_1(), MessageFormat::Auto),
            Ok((12, RecordFormat::V2))
        );
        // Kafka 4.4 lists Produce 0–13; we speak up to 12.
        assert_eq!(
            produce(&answer((0, 13), (4, 18)), MessageFormat::Auto),
            Ok((12, RecordFormat::V2))
        );
    }

    #[test]
    fn never_below_v3_against_4x_even_when_listed() {
        for f in [MessageFormat::MessageSetV0, MessageFormat::MessageSetV1] {
            assert_eq!(produce(&kafka_4_1(), f), Err(REJECTED), "{f:?}");
        }
        // A 4.x broker that (wrongly) listed only Produce 0–2: nothing to use, not v2.
        assert_eq!(
            produce(&answer((0, 2), (4, 17)), MessageFormat::Auto),
            Err(REJECTED)
        );
    }

    #[test]
    fn brokers_before_4_0_keep_the_legacy_versions() {
        assert_eq!(
            produce(&kafka_3_9(), MessageFormat::MessageSetV0),
            Ok((1, RecordFormat::V0))
        );
        assert_eq!(
            produce(&kafka_3_9(), MessageFormat::MessageSetV1),
            Ok((2, RecordFormat::V1))
        );
        assert_eq!(
            produce(&kafka_3_9(), MessageFormat::Auto),
            Ok((11, RecordFormat::V2))
        );
        // Kafka 0.10.0: Produce 0–2, Fetch 0–2.
        assert_eq!(
            produce(&answer((0, 2), (0, 2)), MessageFormat::Auto),
            Ok((2, RecordFormat::V1))
        );
    }
}

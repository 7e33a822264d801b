//! The APIs and versions this broker serves: what ApiVersions advertises and what the framing
//! layer accepts before anything is decoded. Only APIs that work are listed. Below both the
//! socket layer and the handlers, so neither asks the other.

use kafka_protocol::messages::ApiKey;

/// (API, min version, max version) this broker serves. The max is capped where a newer version
/// changes semantics we do not implement (topic ids in Fetch v13+, KIP-848 consumer protocol).
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    // v0 of SaslHandshake is followed by raw SASL tokens outside Kafka's framing, which this
    // broker does not read: a v0 handshake is answered UNSUPPORTED_VERSION. Every client
    // since Kafka 1.0 speaks v1 and SaslAuthenticate; v0 is listed because librdkafka takes
    // SASL support from SaslHandshake v0 being listed.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// The versions of `key` this broker serves, intersected with what kafka-protocol can decode.
pub(crate) fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    let (_, min, max) = SUPPORTED.iter().find(|(k, _, _)| *k == key)?;
    let codec = key.valid_versions();
    let (min, max) = ((*min).max(codec.min), (*max).min(codec.max));
    (min <= max).then_some((min, max))
}

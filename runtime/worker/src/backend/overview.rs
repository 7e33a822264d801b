//! The cluster as the status page shows it: topics with their partitions' bounds, consumer
//! groups with their state, members and lag. The embedded backend reads the engine's tables;
//! this module reads a Kafka cluster through librdkafka.

use std::time::Duration;

use connectd_broker::{GroupOverview, GroupPartition, PartitionOverview, TopicOverview};
use rdkafka::TopicPartitionList;
use rdkafka::client::{Client, ClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::error::{Error, Result};

/// Topics and consumer groups.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overview {
    /// Every topic, by name.
    pub topics: Vec<TopicOverview>,
    /// Every consumer group the cluster lists.
    pub groups: Vec<GroupOverview>,
}

/// How long an overview read from a Kafka cluster is shown before it is read again: a read
/// costs a request per partition and a consumer per group.
pub(super) const REREAD: Duration = Duration::from_secs(3);

/// How long each request of a read waits.
const WAIT: Duration = Duration::from_secs(5);

/// Reads the overview of the cluster `client` reaches: `Metadata`, then `ListOffsets` per
/// partition; `ListGroups` and `DescribeGroups`, then, per consumer group (not the workers'
/// own `connect` groups, which commit nothing), `OffsetFetch` through a consumer made by
/// `consumer_for` for that group.
pub(super) fn read<C: ClientContext>(
    client: &Client<C>,
    consumer_for: impl Fn(&str) -> Result<BaseConsumer>,
) -> Result<Overview> {
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: rdkafka::error::KafkaError| Error::Backend(format!("{what}: {e}"))
    };
    let metadata = client
        .fetch_metadata(None, WAIT)
        .map_err(failed("reading the cluster's metadata"))?;
    let mut topics = Vec::new();
    for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
        let mut partitions = Vec::new();
        for p in t.partitions() {
            let (low, high) = client
                .fetch_watermarks(t.name(), p.id(), WAIT)
                .map_err(failed(&format!(
                    "reading the offsets of {}/{}",
                    t.name(),
                    p.id()
                )))?;
            partitions.push(PartitionOverview {
                partition: p.id(),
                log_start_offset: low,
                end_offset: high,
            });
        }
        partitions.sort_by_key(|p| p.partition);
        topics.push(TopicOverview {
            name: t.name().to_string(),
            partitions,
        });
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let end = |topic: &str, partition: i32| {
        topics
            .iter()
            .find(|t| t.name == topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .map(|p| p.end_offset)
    };
    // Every partition, to ask each group what it committed there.
    let mut every = TopicPartitionList::new();
    for t in &topics {
        for p in &t.partitions {
            every.add_partition(&t.name, p.partition);
        }
    }
    let list = client
        .fetch_group_list(None, WAIT)
        .map_err(failed("listing the consumer groups"))?;
    let mut groups = Vec::new();
    for g in list.groups() {
        let mut partitions = Vec::new();
        if g.protocol_type() != "connect" {
            let committed = consumer_for(g.name())?
                .committed_offsets(every.clone(), WAIT)
                .map_err(failed(&format!(
                    "reading the offsets of group {}",
                    g.name()
                )))?;
            for e in committed.elements() {
                let rdkafka::Offset::Offset(at) = e.offset() else {
                    continue;
                };
                let topic = e.topic().to_string();
                let lag = end(&topic, e.partition()).map_or(0, |end| (end - at).max(0));
                partitions.push(GroupPartition {
                    topic,
                    partition: e.partition(),
                    committed: at,
                    lag,
                });
            }
        }
        groups.push(GroupOverview {
            group: g.name().to_string(),
            state: g.state().to_string(),
            members: g.members().len(),
            lag: partitions.iter().map(|p| p.lag).sum(),
            partitions,
        });
    }
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(Overview { topics, groups })
}

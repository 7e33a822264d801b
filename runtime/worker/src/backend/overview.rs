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
/// partition (not of Kafka's own `__` topics); `ListGroups` and `DescribeGroups`, then, per
/// consumer group (not the workers' own `connect` groups, which commit nothing), `OffsetFetch`
/// through a consumer made by `consumer_for` for that group. Only the metadata must answer: a
/// partition whose offsets cannot be read is left out, a group whose offsets cannot be read
/// shows none, and a cluster that does not list groups shows no groups (each logged).
pub(super) fn read<C: ClientContext>(
    client: &Client<C>,
    consumer_for: impl Fn(&str) -> Result<BaseConsumer>,
) -> Result<Overview> {
    let metadata = client
        .fetch_metadata(None, WAIT)
        .map_err(|e| Error::Backend(format!("reading the cluster's metadata: {e}")))?;
    let mut topics = Vec::new();
    let shown = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with("__"));
    for t in shown {
        let mut partitions = Vec::new();
        for p in t.partitions() {
            match client.fetch_watermarks(t.name(), p.id(), WAIT) {
                Ok((low, high)) => partitions.push(PartitionOverview {
                    partition: p.id(),
                    log_start_offset: low,
                    end_offset: high,
                }),
                Err(e) => {
                    tracing::debug!(topic = t.name(), partition = p.id(), error = %e, "could not read a partition's offsets");
                }
            }
        }
        partitions.sort_by_key(|p| p.partition);
        topics.push(TopicOverview {
            name: t.name().to_string(),
            partitions,
        });
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    // Every partition, to ask each group what it committed there.
    let mut every = TopicPartitionList::new();
    for t in &topics {
        for p in &t.partitions {
            every.add_partition(&t.name, p.partition);
        }
    }
    let list = match client.fetch_group_list(None, WAIT) {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::debug!(error = %e, "could not list the consumer groups");
            None
        }
    };
    let mut groups = Vec::new();
    for g in list.iter().flat_map(|l| l.groups()) {
        let partitions = if g.protocol_type() == "connect" {
            Vec::new()
        } else {
            committed(&topics, &every, &consumer_for, g.name()).unwrap_or_else(|e| {
                tracing::debug!(group = g.name(), error = %e, "could not read a group's offsets");
                Vec::new()
            })
        };
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

/// What `group` committed in each of `every`'s partitions, with its lag against `topics`'
/// end offsets.
fn committed(
    topics: &[TopicOverview],
    every: &TopicPartitionList,
    consumer_for: &impl Fn(&str) -> Result<BaseConsumer>,
    group: &str,
) -> Result<Vec<GroupPartition>> {
    let committed = consumer_for(group)?
        .committed_offsets(every.clone(), WAIT)
        .map_err(|e| Error::Backend(format!("reading the offsets of group {group}: {e}")))?;
    let end = |topic: &str, partition: i32| {
        topics
            .iter()
            .find(|t| t.name == topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .map(|p| p.end_offset)
    };
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| {
            let rdkafka::Offset::Offset(at) = e.offset() else {
                return None;
            };
            let lag = end(e.topic(), e.partition()).map_or(0, |end| (end - at).max(0));
            Some(GroupPartition {
                topic: e.topic().to_string(),
                partition: e.partition(),
                committed: at,
                lag,
            })
        })
        .collect())
}

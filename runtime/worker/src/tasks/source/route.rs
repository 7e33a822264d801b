//! Where a poll's records go: the topic partition of each record (by key, or by source
//! partition so one stream stays in order), and how many of each source partition each topic
//! partition holds, so records a partition already holds (sent before a crash or a failure)
//! are not sent twice.

use std::collections::HashMap;

use connectd_host::TaskError;
use connectd_records::{SourceBatch, SourceEntry, TaskId, TopicPartition};

use super::{SourceTaskContext, Tally};
use crate::state::internal_topics::InternalTopics;
use crate::state::offsets::{CountMap, Counts, SOURCE_HEADER};

/// FNV-1a: the hash that picks a record's partition.
fn fnv(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A topic partition within one poll: (index in the batch's topics, partition).
type Route = (i32, i32);

/// One source partition's records in one topic partition, within one poll.
struct PollTally {
    /// (source partition, topic, partition), as indexes into the poll's tables.
    key: (u32, i32, i32),
    /// Its records sent there so far, those found already there included.
    sent: u64,
    /// How many the partition held at start (records up to this count are not sent again).
    present: u64,
    /// Its entry in the poll's routes.
    route: usize,
}

/// Where a task's records go, and how many of each source partition went to each topic
/// partition.
pub(super) struct Routing<'a> {
    ctx: &'a SourceTaskContext,
    task: TaskId,
    /// Partition count of each topic seen.
    partitions: HashMap<String, i32>,
    /// Records of each source partition sent to each topic partition, those found already
    /// there at start included.
    sent: CountMap,
    /// Where a topic partition held more records of a source partition at start than the
    /// stored count: how many.
    present: CountMap,
}

impl<'a> Routing<'a> {
    pub(super) fn new(ctx: &'a SourceTaskContext, counts: Counts) -> Self {
        Routing {
            ctx,
            task: TaskId {
                connector: ctx.connector.name.clone(),
                task: ctx.task_id,
            },
            partitions: HashMap::new(),
            sent: counts.stored,
            present: counts.present,
        }
    }

    /// The partition count of `topic`. On first sight the topic is created if missing, and
    /// registered with the offsets so that a restart reads it (see
    /// [`SourceOffsets::register`]) before anything is sent to it.
    fn partitions(&mut self, topic: &str) -> Result<i32, TaskError> {
        if let Some(n) = self.partitions.get(topic) {
            return Ok(*n);
        }
        let retryable = |e: crate::error::Error| TaskError::Retryable(e.to_string());
        let admin = self.ctx.backend.admin();
        let n = admin.ensure_topic(topic, 1, &[]).map_err(retryable)?;
        self.ctx
            .offsets
            .register(&self.task, topic, n)
            .map_err(retryable)?;
        self.partitions.insert(topic.to_string(), n);
        self.ctx
            .status
            .topic_active(self.ctx.connector.name.as_str(), topic);
        Ok(n)
    }

    /// (sent, present) for one source partition in one topic partition.
    fn tally(&self, source: &[u8], tp: TopicPartition) -> (u64, u64) {
        let key = (source.to_vec(), tp);
        let sent = self.sent.get(&key).copied().unwrap_or(0);
        (sent, self.present.get(&key).copied().unwrap_or(0))
    }

    /// Routes a (transformed) poll: the record indexes bound for each topic partition, in
    /// order, each with its source partition's running count there, and the counts each
    /// (source partition, topic partition) reaches. Records a partition already holds are
    /// left out.
    pub(super) fn route(
        &mut self,
        batch: &SourceBatch,
        default_topic: &str,
    ) -> Result<Routed, TaskError> {
        let topic_name = |t: i32| {
            usize::try_from(t)
                .ok()
                .and_then(|t| batch.topics.get(t))
                .map_or(default_topic, String::as_str)
        };
        // Per (source partition, topic, partition) this poll touches: its counts, and its route.
        // A poll usually touches a few; the last one used is tried first.
        let mut tallies: Vec<PollTally> = Vec::new();
        let mut last = 0;
        // Record indexes per topic partition, in order, each with its source partition's count
        // there.
        let mut routes: Vec<(Route, Vec<(usize, u64)>)> = Vec::new();
        let mut dropped = 0;
        // The partition count of the last record's topic.
        let mut counted: Option<(i32, i32)> = None;
        for (i, e) in batch.records.iter().enumerate() {
            let topic = topic_name(e.topic);
            refuse_reserved(&self.ctx.internal_topics, batch, e, topic)?;
            let count = match counted {
                Some((t, n)) if t == e.topic => n,
                _ => {
                    let n = self.partitions(topic)?;
                    counted = Some((e.topic, n));
                    n
                }
            };
            // Keyed records go by key; others by source partition, so one stream stays in order.
            let by = batch
                .bytes(e.key)
                .unwrap_or_else(|| batch.source_partition_of(e));
            let partition = (fnv(by) % count.max(1) as u32) as i32;
            let key = (e.source_partition, e.topic, partition);
            if tallies.get(last).is_none_or(|t| t.key != key) {
                last = match tallies.iter().position(|t| t.key == key) {
                    Some(at) => at,
                    None => {
                        let tp = TopicPartition::new(topic, partition);
                        let (sent, present) = self.tally(batch.source_partition_of(e), tp);
                        let route = (e.topic, partition);
                        let route = match routes.iter().position(|(r, _)| *r == route) {
                            Some(at) => at,
                            None => {
                                routes.push((route, Vec::new()));
                                routes.len() - 1
                            }
                        };
                        tallies.push(PollTally {
                            key,
                            sent,
                            present,
                            route,
                        });
                        tallies.len() - 1
                    }
                };
            }
            let tally = &mut tallies[last];
            tally.sent += 1;
            if tally.sent <= tally.present {
                // Sent before a crash or a failure, and already in the partition.
                dropped += 1;
                continue;
            }
            routes[tally.route].1.push((i, tally.sent));
        }
        if dropped > 0 {
            tracing::info!(
                connector = %self.ctx.connector.name,
                task = self.ctx.task_id,
                records = dropped,
                "polled again records already in their topics; not sent twice"
            );
        }
        let mut counts = Tally::new();
        for PollTally {
            key: (source, topic, partition),
            sent,
            ..
        } in tallies
        {
            let source = batch
                .source_partitions
                .get(source as usize)
                .cloned()
                .unwrap_or_default();
            let tp = TopicPartition::new(topic_name(topic), partition);
            self.sent.insert((source.clone(), tp.clone()), sent);
            counts.push((source, tp, sent));
        }
        let routes = routes
            .into_iter()
            .map(|((topic, partition), indexes)| {
                (TopicPartition::new(topic_name(topic), partition), indexes)
            })
            .collect();
        Ok(Routed { routes, counts })
    }
}

/// A routed poll.
pub(super) struct Routed {
    /// Record indexes per topic partition, in send order, each with its source partition's
    /// count there.
    pub routes: Vec<(TopicPartition, Vec<(usize, u64)>)>,
    /// The count each (source partition, topic partition) of the poll reaches.
    pub counts: Tally,
}

/// A source whose records do not all name their topic needs the connector's `topic`.
pub(super) fn check_topics(
    ctx: &SourceTaskContext,
    default_topic: &str,
    batch: &SourceBatch,
) -> Result<(), TaskError> {
    let names_topic =
        |e: &SourceEntry| usize::try_from(e.topic).is_ok_and(|t| t < batch.topics.len());
    if default_topic.is_empty() && !batch.records.iter().all(names_topic) {
        return Err(TaskError::InvalidConfig(format!(
            "{}: missing key `topic`: the topic this source writes to",
            ctx.connector.origin
        )));
    }
    Ok(())
}

/// A source may not write connectd's internal topics, nor carry the header connectd uses to
/// record source positions: either would let a plugin rewrite another connector's offsets
/// or status.
fn refuse_reserved(
    internal: &InternalTopics,
    batch: &SourceBatch,
    e: &SourceEntry,
    topic: &str,
) -> Result<(), TaskError> {
    if internal.contains(topic) {
        return Err(TaskError::Fatal(format!(
            "the connector wrote a record to {topic}, one of connectd's internal topics ({}); sources may not write them",
            internal.list()
        )));
    }
    let forged = batch
        .headers_of(e)
        .iter()
        .any(|h| batch.bytes(h.key) == Some(SOURCE_HEADER.as_bytes()));
    if forged {
        return Err(TaskError::Fatal(format!(
            "the connector set the header {SOURCE_HEADER}, which connectd keeps for source positions; use another header name"
        )));
    }
    Ok(())
}

//! How the worker reaches topics, in the three roles it needs from any Kafka-compatible store.
//! Each role is documented against both implementations: the embedded broker engine
//! ([`Embedded`], in this process) and a Kafka cluster through librdkafka ([`Kafka`],
//! `[broker] mode = "kafka"`).
//!
//! - [`Admin`]: create the topics the worker needs (internal topics, a source's target, a
//!   dead letter queue) and learn how many partitions a topic has.
//! - [`Producer`]: send record batches to partitions, grouped into deliveries that become
//!   durable in order ([`Producer::seal`], [`Producer::durable`]), or wait at one durability
//!   point ([`Producer::flush`]); either says where every batch landed. A source stores its
//!   offsets only once the records they cover are durable.
//! - [`Consumer`]: read assigned partitions from given offsets, waiting for more when caught
//!   up, and commit and fetch a consumer group's offsets.
//!
//! Every call speaks in [`connectd_records`] types: [`ProducerBatch`]es go out, records land
//! in a [`SinkBatch`]. No method has a default body: an implementation says what each one
//! does.

mod embedded;
mod kafka;
pub mod native;
mod overview;

use std::time::Duration;

use connectd_record_batch::{ProducerBatch, ProducerRecord};
use connectd_records::{Offset, SinkBatch, SinkRecord, TopicPartition};

pub use embedded::Embedded;
pub use kafka::Kafka;
pub use overview::Overview;

use crate::error::Result;

/// A topic store the worker runs against: hands out its roles.
pub trait TopicBackend: Send + Sync {
    /// Topic administration, shared.
    fn admin(&self) -> &dyn Admin;

    /// A producer for one user (a source task, the status or offsets writer). Embedded: a
    /// handle on the engine. Kafka: an idempotent librdkafka producer.
    fn producer(&self) -> Result<Box<dyn Producer>>;

    /// A consumer for one user, committing as `group` (`None`: reads only, as when the
    /// worker replays an internal topic). Embedded: reads the engine's logs directly and
    /// commits through its group coordinator. Kafka: a librdkafka consumer with `group.id`,
    /// assigned partitions (no group membership), committing with `OffsetCommit`.
    fn consumer(&self, group: Option<&str>) -> Result<Box<dyn Consumer>>;

    /// Whether a batch sent lands whole or not at all, even when the process is killed while
    /// it is on its way. Embedded: yes, one append. Kafka: no: librdkafka cuts its own
    /// batches from the records it is handed, so a crash can leave any prefix of one of ours
    /// in a partition (never a gap: the idempotent producer keeps order).
    fn lands_batches_whole(&self) -> bool;
}

/// Topic administration.
pub trait Admin: Send + Sync {
    /// Creates `topic` with `partitions` partitions and these topic configs unless it exists;
    /// returns its partition count (the existing one if it was there). Embedded: creates it in
    /// the engine. Kafka: `CreateTopics`, treating TOPIC_ALREADY_EXISTS as success, then
    /// `Metadata`.
    fn ensure_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32>;

    /// How many partitions `topic` has, or `None` if it does not exist. Embedded: the
    /// engine's topic table. Kafka: `Metadata` for the topic.
    fn partitions(&self, topic: &str) -> Result<Option<i32>>;

    /// Every topic with its partitions' bounds, and every consumer group with its state,
    /// members and lag, for the status page. Embedded: the engine's tables. Kafka:
    /// `Metadata`, `ListOffsets`, `ListGroups`/`DescribeGroups` and `OffsetFetch`, read at most
    /// every few seconds ([`overview`]).
    fn overview(&self) -> Result<Overview>;
}

/// Sends record batches. One producer is used by one thread at a time.
pub trait Producer: Send {
    /// Queues `batch` for `tp`, after everything sent to `tp` before; a batch lands whole or
    /// not at all where [`TopicBackend::lands_batches_whole`] says so, else a prefix of it may. Not durable, and maybe not visible to readers, until [`Producer::flush`].
    /// Embedded: appended to the partition log now, its fsync deferred. Kafka: handed to
    /// librdkafka record by record, in order.
    fn send(&mut self, tp: &TopicPartition, batch: &ProducerBatch) -> Result<()>;

    /// Ends a delivery: everything sent since the last seal (maybe nothing) is one delivery,
    /// which [`Producer::durable`] reports once it is durable, after every delivery sealed
    /// before it. Returns without waiting where the store allows: sources keep polling while
    /// their records are on the way. Embedded: makes it durable now, as [`Producer::flush`].
    /// Kafka: its records are already with librdkafka, which sends them (up to 5 requests in
    /// flight, in order, idempotent) and reports each.
    fn seal(&mut self) -> Result<()>;

    /// The sealed deliveries that became durable since the last call, oldest first, each
    /// with the end offset (last offset + 1) of each partition it wrote; waits at most `wait`
    /// for one when none is. An error: a record of the oldest delivery was not delivered (or
    /// not acknowledged within 120 s): the caller must not store positions past the
    /// deliveries reported before it. Embedded: the deliveries flushed at their seal. Kafka:
    /// the deliveries whose every record's delivery report has come.
    fn durable(&mut self, wait: Duration) -> Result<Vec<Vec<(TopicPartition, Offset)>>>;

    /// The durability point: seals, and returns once everything sent so far is durable, with
    /// the end offset (last offset + 1) of each partition written since the deliveries last
    /// reported. An error means some of it may not be: the caller must not store positions
    /// past the last successful flush. Embedded: one fsync per partition (as its
    /// `flush.messages` says), then readers are woken. Kafka: waits for every delivery report
    /// (acks=all).
    fn flush(&mut self) -> Result<Vec<(TopicPartition, Offset)>>;
}

/// Reads partitions, and a consumer group's committed offsets.
pub trait Consumer: Send {
    /// Reads `positions`' partitions from these offsets on, replacing what was assigned
    /// before. An offset below the partition's log start reads from the log start.
    fn assign(&mut self, positions: &[(TopicPartition, Offset)]) -> Result<()>;

    /// Adds what the assigned partitions hold past their positions, about `max_bytes` per
    /// partition, to `into`, and moves the positions past it. When nothing is there it waits,
    /// at most `wait`, for something to arrive. Returns whether it read anything, records it
    /// dropped included (the Kafka backend drops what it fetched from before a position), so
    /// a caller can tell a reader at work from a stuck one. Embedded: reads each partition's
    /// log, then waits on the engine's append signal. Kafka: polls librdkafka's fetched
    /// messages.
    fn poll(&mut self, max_bytes: usize, wait: Duration, into: &mut SinkBatch) -> Result<bool>;

    /// The next offset to read of an assigned partition.
    fn position(&self, tp: &TopicPartition) -> Option<Offset>;

    /// The log end offset of `tp`: where a reader that has read everything stands.
    fn end_offset(&mut self, tp: &TopicPartition) -> Result<Offset>;

    /// The group's committed offset (next to read) of each partition; `None` where it has
    /// never committed. Embedded: the engine's offset store. Kafka: `OffsetFetch`.
    fn committed(&mut self, tps: &[TopicPartition]) -> Result<Vec<Option<Offset>>>;

    /// Durably commits the group's offsets (next to read, per partition). Embedded: the
    /// engine's offset store, fsynced. Kafka: `OffsetCommit`.
    fn commit(&mut self, offsets: &[(TopicPartition, Offset)]) -> Result<()>;
}

/// The position of `tp` among a consumer's assigned `positions`.
fn position_in(positions: &[(TopicPartition, Offset)], tp: &TopicPartition) -> Option<Offset> {
    positions.iter().find(|(p, _)| p == tp).map(|(_, at)| *at)
}

/// Sends `records` to `tp` as one batch and waits until they are durable; returns the
/// offset of the first.
pub fn append(
    producer: &mut dyn Producer,
    tp: &TopicPartition,
    records: &[ProducerRecord],
) -> Result<Offset> {
    producer.send(tp, &ProducerBatch::from_records(records))?;
    let ends = producer.flush()?;
    let end = ends
        .iter()
        .find(|(p, _)| p == tp)
        .map(|(_, end)| *end)
        .ok_or_else(|| crate::error::Error::Backend(format!("flush did not report {tp}")))?;
    Ok(end.plus(-(records.len() as i64)))
}

/// Every record of `tp` from `from` to its current end, owned (for replaying internal topics
/// and scanning a source's topic at start).
pub fn read_to_end(
    backend: &dyn TopicBackend,
    tp: &TopicPartition,
    from: Offset,
) -> Result<Vec<SinkRecord>> {
    Tail::new(backend, tp.clone(), from)?.read_new()
}

/// How long [`Tail::read_new`] goes on reading nothing while behind the end before it gives up.
const STUCK: Duration = Duration::from_secs(10);

/// A reader of one partition that keeps its place: each [`Tail::read_new`] returns what was
/// appended since the last (how scaled-out workers follow the internal topics).
pub struct Tail {
    tp: TopicPartition,
    consumer: Box<dyn Consumer>,
}

impl Tail {
    /// A reader of `tp` from `from`.
    pub fn new(backend: &dyn TopicBackend, tp: TopicPartition, from: Offset) -> Result<Self> {
        let mut consumer = backend.consumer(None)?;
        consumer.assign(&[(tp.clone(), from)])?;
        Ok(Tail { tp, consumer })
    }

    /// Every record from the current place to the partition's current end.
    pub fn read_new(&mut self) -> Result<Vec<SinkRecord>> {
        let tp = &self.tp;
        let end = self.consumer.end_offset(tp)?;
        let mut out = Vec::new();
        let mut last_read = std::time::Instant::now();
        while let Some(at) = self.consumer.position(tp).filter(|p| *p < end) {
            let mut batch = SinkBatch::default();
            let read = self
                .consumer
                .poll(1 << 20, Duration::from_millis(100), &mut batch)?;
            out.extend(batch.to_records());
            if read || self.consumer.position(tp) != Some(at) {
                last_read = std::time::Instant::now();
            }
            if last_read.elapsed() >= STUCK {
                return Err(crate::error::Error::Backend(format!(
                    "reading {tp}: stuck at offset {at} below its end {end} for {} s",
                    STUCK.as_secs()
                )));
            }
        }
        Ok(out)
    }
}

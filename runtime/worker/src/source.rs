//! Running one source task: poll the plugin, run the transforms, produce the records, store the
//! offsets, tell the plugin. Errors follow the WIT contract: retryable errors are retried with
//! backoff (up to `errors.retry.timeout`); a bad record follows `errors.tolerance`; a fatal
//! error or a trap fails the task, which restarts itself with backoff from its stored offsets;
//! an invalid config fails it until the config changes.
//!
//! Two threads per task: the task thread polls the plugin; its producer thread transforms,
//! encodes and appends the previous poll meanwhile (one poll in flight).
//!
//! Order of writes: the records first (fsynced), then their offsets (fsynced), then the
//! plugin's `commit`. A crash between the two writes is repaired at the next start from the
//! counts the records carry (see [`crate::offsets`]): the task polls again from the stored
//! positions and drops what each topic partition already holds, so every record is in its
//! topics once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connectd_host::{Grants, Limits, Plugin, SourceTask, TaskError};
use connectd_record_batch::{BatchBuilder, ProducerBatch};
use connectd_records::{
    ConnectRecord, SourceBatch, SourceEntry, SourceRecord, Span, TaskId, TopicPartition,
};

use crate::backend::{Producer, TopicBackend};
use crate::clock::now_ms;
use crate::connector::ConnectorConfig;
use crate::internal_topics::InternalTopics;
use crate::offsets::{CountMap, Counts, SOURCE_HEADER, SourceOffsets};
use crate::retry_with_tolerance::RetryWithTolerance;
use crate::status::{Status, TaskStatus};
use crate::task::{IDLE_WAIT, restart_loop, sleep_unless_stopped};
use crate::transforms::{Chain, TransformSpec, failures};

/// Everything one source task needs.
pub(crate) struct SourceTaskContext {
    pub connector: ConnectorConfig,
    pub task_id: u32,
    pub plugin: Arc<Plugin>,
    pub backend: Arc<dyn TopicBackend>,
    pub offsets: Arc<SourceOffsets>,
    pub status: Arc<Status>,
    pub grants: Grants,
    pub limits: Limits,
    pub transforms: Vec<TransformSpec>,
    pub stop: Arc<AtomicBool>,
    pub internal_topics: InternalTopics,
}

fn fnv(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

pub(crate) fn run(ctx: SourceTaskContext) {
    restart_loop(&ctx.connector, ctx.task_id, &ctx.status, &ctx.stop, || {
        run_once(&ctx)
    });
}

/// Runs the task until it stops (`None`) or fails.
fn run_once(ctx: &SourceTaskContext) -> Option<TaskError> {
    let name = &ctx.connector.name;
    // A connector whose records all name their topic (sql-source) needs no `topic`.
    let default_topic = ctx
        .connector
        .values
        .get("topic")
        .cloned()
        .unwrap_or_default();
    // What the topics hold past the stored positions (by a crash, or by this task before it
    // failed): polled again, and dropped where it is already there.
    let counts = match ctx.offsets.recover(name) {
        Ok(c) => c,
        Err(e) => return Some(TaskError::Retryable(e.to_string())),
    };
    let config = crate::task::task_config(&ctx.connector, ctx.task_id, &ctx.status);
    let mut resume = ctx.offsets.resume(name);
    for (partition, position) in &counts.positions {
        match resume.iter_mut().find(|(p, _)| p == partition) {
            Some(entry) => entry.1 = position.clone(),
            None => resume.push((partition.clone(), position.clone())),
        }
    }
    let at: Vec<String> = resume.iter().map(|(_, p)| crate::offsets::hex(p)).collect();
    tracing::info!(connector = %name, task = ctx.task_id, resume = %at.join(","), "starting source task");
    let opened = ctx
        .plugin
        .open_source(config, resume, &ctx.grants, &ctx.limits)
        .and_then(|task| Ok((task, Chain::open(&ctx.transforms, &ctx.limits)?)));
    let (mut task, mut chain) = match opened {
        Ok(t) => t,
        Err(e) => return Some(e),
    };
    let errors = RetryWithTolerance::new(&ctx.connector, ctx.task_id, ctx.backend.clone());
    // RUNNING once the task has polled successfully: a task that fails at once keeps showing
    // FAILED and its reason while it restarts.
    let mut running = false;
    let mut checkpoint = Checkpoint::new();
    // The task's producer: transforms, encodes and appends (and fsyncs) one poll's records
    // while the task polls the next one, as Kafka Connect's producer sends in the background.
    // One delivery in flight at a time, appended in order; its positions are committed to the
    // plugin and checkpointed only once it is back, so a failure or a crash resumes from what
    // reached the topic. A polled batch not yet handed over when the task stops is dropped: its
    // positions were never stored, so the next start polls it again.
    std::thread::scope(|scope| {
        let (to_producer, deliveries) = std::sync::mpsc::sync_channel::<SourceBatch>(0);
        let (results_tx, results) = std::sync::mpsc::channel();
        let default_topic = default_topic.as_str();
        let producer = scope.spawn(move || {
            let mut errors =
                RetryWithTolerance::new(&ctx.connector, ctx.task_id, ctx.backend.clone());
            let mut routing = Routing::new(ctx, counts);
            let mut producer = match ctx.backend.producer() {
                Ok(p) => p,
                Err(e) => {
                    let _ = results_tx.send(Err(TaskError::Retryable(e.to_string())));
                    return;
                }
            };
            for polled in deliveries {
                let result = prepare(
                    ctx,
                    default_topic,
                    polled,
                    &mut routing,
                    &mut chain,
                    &mut errors,
                )
                .and_then(|delivery| produce(ctx, producer.as_mut(), delivery, &mut errors));
                let failed = result.is_err();
                if results_tx.send(result).is_err() || failed {
                    break;
                }
            }
        });
        let mut in_flight = false;
        // Why the producer thread ended: the error it sent last, if any.
        let producer_gone =
            |results: &std::sync::mpsc::Receiver<Result<_, TaskError>>| match results.try_recv() {
                Ok(Err(e)) => e,
                _ => TaskError::Fatal("the task's producer stopped".into()),
            };
        let mut settle = |task: &mut SourceTask| -> Result<(), TaskError> {
            let delivered = results.recv().map_err(|_| producer_gone(&results))??;
            checkpoint.add(delivered);
            commit(task, checkpoint.store(ctx, false)?)
        };
        let failure = loop {
            if ctx.stop.load(Ordering::Relaxed) {
                break None;
            }
            let polled = errors.retry(&ctx.stop, "poll", || {
                task.poll(ctx.connector.poll_batch_size)
            });
            let records = match polled {
                Ok(r) => r,
                Err(_) if ctx.stop.load(Ordering::Relaxed) => break None,
                Err(e) => break Some(e),
            };
            errors.metrics.records_in.increment(records.len() as u64);
            if !running {
                running = true;
                ctx.status.set(
                    name,
                    Some(ctx.task_id),
                    TaskStatus::running(&ctx.connector.plugin),
                );
            }
            if records.is_empty() {
                // Nothing new: settle what is in flight, so its offsets are not held back.
                if std::mem::take(&mut in_flight)
                    && let Err(e) = settle(&mut task)
                {
                    break Some(e);
                }
                sleep_unless_stopped(&ctx.stop, IDLE_WAIT);
                continue;
            }
            if std::mem::take(&mut in_flight)
                && let Err(e) = settle(&mut task)
            {
                break Some(e);
            }
            if to_producer.send(records).is_err() {
                break Some(producer_gone(&results));
            }
            in_flight = true;
        };
        let settled = if in_flight { settle(&mut task) } else { Ok(()) };
        drop(to_producer);
        let _ = producer.join();
        match (failure, settled) {
            (Some(e), _) => Some(e),
            (None, Err(e)) => Some(e),
            (None, Ok(())) => checkpoint
                .store(ctx, true)
                .and_then(|stored| commit(&mut task, stored))
                .err(),
        }
    })
}

/// The records of a poll as the transforms and the dead letter queue see them: bound for
/// their topic, with no partition or offset yet.
fn as_topic_records(batch: &SourceBatch, default_topic: &str, now: i64) -> Vec<ConnectRecord> {
    batch
        .records
        .iter()
        .map(|e| {
            let r = batch.record(e);
            ConnectRecord {
                topic: r.topic.unwrap_or_else(|| default_topic.to_string()),
                partition: None,
                offset: None,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp_ms: r.timestamp_ms.unwrap_or(now),
            }
        })
        .collect()
}

/// Runs a poll's records through the transform chain: what is kept, as a batch again, each
/// record with the source partition and position it came with.
fn transform(
    batch: SourceBatch,
    default_topic: &str,
    now: i64,
    chain: &mut Chain,
    errors: &mut RetryWithTolerance,
) -> Result<SourceBatch, TaskError> {
    let originals = as_topic_records(&batch, default_topic, now);
    let (kept, failed) = chain.apply(originals.clone())?;
    errors.handle(failures(failed, &originals))?;
    Ok(kept
        .into_iter()
        .map(|(i, r)| {
            let entry = &batch.records[i];
            SourceRecord {
                topic: Some(r.topic),
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp_ms: Some(r.timestamp_ms),
                source_partition: batch.source_partition_of(entry).to_vec(),
                source_position: batch
                    .bytes(entry.source_position)
                    .unwrap_or_default()
                    .to_vec(),
            }
        })
        .collect())
}

/// (source partition, position) pairs.
type Positions = Vec<(Vec<u8>, Vec<u8>)>;

/// (source partition, topic partition, count of its records there): see [`crate::offsets`].
type Tally = Vec<(Vec<u8>, TopicPartition, u64)>;

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

/// Most bytes of records in one produced batch.
const BATCH_BYTES: usize = 512 << 10;

fn record_size(batch: &SourceBatch, e: &SourceEntry) -> usize {
    let len = |s: Span| s.len.max(0) as usize;
    let headers: usize = batch
        .headers_of(e)
        .iter()
        .map(|h| len(h.key) + len(h.value) + 8)
        .sum();
    len(e.key) + len(e.value) + headers + 24
}

/// Tells the plugin which positions were stored, if any were. A retryable refusal is
/// ignored: the next store tells it again.
fn commit(task: &mut SourceTask, stored: Option<Positions>) -> Result<(), TaskError> {
    match stored.map(|positions| task.commit(positions)) {
        None | Some(Ok(())) | Some(Err(TaskError::Retryable(_))) => Ok(()),
        Some(Err(e)) => Err(e),
    }
}

/// Where a task's records go, and how many of each source partition went to each topic
/// partition.
struct Routing<'a> {
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
    fn new(ctx: &'a SourceTaskContext, counts: Counts) -> Self {
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
}

/// One poll's records, encoded and ready to append, the latest position of each source
/// partition polled, and the counts they reach.
struct Delivery {
    /// Batches and their partitions, in send order.
    batches: Vec<(TopicPartition, ProducerBatch)>,
    positions: Positions,
    counts: Tally,
}

/// What a delivery adds to the next checkpoint once it is durable.
struct Delivered {
    positions: Positions,
    counts: Tally,
    /// End offset of each topic partition written.
    ends: Vec<(TopicPartition, i64)>,
}

/// Prepares a poll's records for the producer: transforms, then routing per topic partition
/// (order kept, records the partition already holds dropped), then encoding in batches of at
/// most [`BATCH_BYTES`].
///
/// Each batch describes itself: its last record carries, per source partition in it, the
/// running count of that source partition's records in the batch's topic partition (the
/// `connectd.source` header), so a restart can tell how far each partition got even if the
/// offsets were never stored.
fn prepare(
    ctx: &SourceTaskContext,
    default_topic: &str,
    batch: SourceBatch,
    routing: &mut Routing,
    chain: &mut Chain,
    errors: &mut RetryWithTolerance,
) -> Result<Delivery, TaskError> {
    let now = now_ms();
    let names_topic = |e: &connectd_records::SourceEntry| {
        usize::try_from(e.topic).is_ok_and(|t| t < batch.topics.len())
    };
    if default_topic.is_empty() && !batch.records.iter().all(names_topic) {
        return Err(TaskError::InvalidConfig(format!(
            "{}: missing key `topic`: the topic this source writes to",
            ctx.connector.file.display()
        )));
    }
    // The latest position of every source partition polled, whether or not its records make
    // it through the transforms.
    let mut last_of: Vec<Option<usize>> = vec![None; batch.source_partitions.len()];
    for (i, e) in batch.records.iter().enumerate() {
        if let Some(slot) = last_of.get_mut(e.source_partition as usize) {
            *slot = Some(i);
        }
    }
    let positions: Positions = last_of
        .iter()
        .flatten()
        .map(|&i| {
            let e = &batch.records[i];
            (
                batch.source_partition_of(e).to_vec(),
                batch.bytes(e.source_position).unwrap_or_default().to_vec(),
            )
        })
        .collect();
    let batch = if chain.is_empty() {
        batch
    } else {
        transform(batch, default_topic, now, chain, errors)?
    };
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
        refuse_reserved(&routing.ctx.internal_topics, &batch, e, topic)?;
        let count = match counted {
            Some((t, n)) if t == e.topic => n,
            _ => {
                let n = routing.partitions(topic)?;
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
                    let (sent, present) = routing.tally(batch.source_partition_of(e), tp);
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
            connector = %ctx.connector.name,
            task = ctx.task_id,
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
        routing.sent.insert((source.clone(), tp.clone()), sent);
        counts.push((source, tp, sent));
    }
    let mut batches = Vec::new();
    for ((topic, partition), indexes) in routes {
        let tp = TopicPartition::new(topic_name(topic), partition);
        // Batches of at most BATCH_BYTES (below the broker's max.message.bytes).
        let mut rest = indexes.as_slice();
        while !rest.is_empty() {
            // At least one record, then as many as fit.
            let (mut take, mut bytes) = (0, 0);
            for &(i, _) in rest {
                let size = record_size(&batch, &batch.records[i]);
                if take > 0 && bytes + size > BATCH_BYTES {
                    break;
                }
                take += 1;
                bytes += size;
            }
            let (chunk, after) = rest.split_at(take);
            rest = after;
            let encoded = encode_chunk(ctx, &batch, chunk, bytes, now);
            batches.push((tp.clone(), encoded));
        }
    }
    Ok(Delivery {
        batches,
        positions,
        counts,
    })
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

/// Sends a delivery's batches in order, then waits for them to be durable, retrying as
/// `errors.retry.timeout` says.
fn produce(
    ctx: &SourceTaskContext,
    producer: &mut dyn Producer,
    delivery: Delivery,
    errors: &mut RetryWithTolerance,
) -> Result<Delivered, TaskError> {
    let retryable = |e: crate::error::Error| TaskError::Retryable(e.to_string());
    let started = Instant::now();
    let (mut records, mut bytes) = (0, 0);
    for (tp, batch) in &delivery.batches {
        errors.retry(&ctx.stop, "produce", || {
            producer.send(tp, batch).map_err(retryable)
        })?;
        records += batch.len() as u64;
        bytes += batch.as_bytes().len() as u64;
    }
    // One durability point for the whole poll, not one per batch.
    let ends = errors.retry(&ctx.stop, "produce", || producer.flush().map_err(retryable))?;
    let metrics = &errors.metrics;
    metrics.records_out.increment(records);
    metrics.bytes_out.increment(bytes);
    metrics.batch_seconds.record(started.elapsed());
    Ok(Delivered {
        positions: delivery.positions,
        counts: delivery.counts,
        ends: ends.into_iter().map(|(tp, end)| (tp, end.0)).collect(),
    })
}

/// One produced batch: the records `chunk` indexes (about `bytes` of them), the last one
/// carrying the count each source partition in the batch reaches.
fn encode_chunk(
    ctx: &SourceTaskContext,
    batch: &SourceBatch,
    chunk: &[(usize, u64)],
    bytes: usize,
    now: i64,
) -> ProducerBatch {
    // Per source partition: its count and its last record's position.
    let mut reached: Vec<(u32, u64, usize)> = Vec::new();
    for &(i, n) in chunk {
        let source = batch.records[i].source_partition;
        match reached.iter_mut().find(|(s, _, _)| *s == source) {
            Some(entry) => (entry.1, entry.2) = (n, i),
            None => reached.push((source, n, i)),
        }
    }
    let header = crate::offsets::source_header(
        &ctx.connector.name,
        reached.iter().map(|&(s, n, i)| {
            let source = batch.source_partitions.get(s as usize);
            let position = batch.bytes(batch.records[i].source_position);
            (
                source.map_or(&[][..], Vec::as_slice),
                n,
                position.unwrap_or_default(),
            )
        }),
    );
    let mut builder = BatchBuilder::with_capacity(bytes + 256);
    for (at, &(i, _)) in chunk.iter().enumerate() {
        let e = &batch.records[i];
        let marker = (at + 1 == chunk.len()).then(|| (header.key.as_bytes(), &header.value[..]));
        let headers = batch
            .headers_of(e)
            .iter()
            .map(|h| {
                (
                    batch.bytes(h.key).unwrap_or_default(),
                    batch.bytes(h.value).unwrap_or_default(),
                )
            })
            .chain(marker);
        builder.push(
            e.timestamp_ms.unwrap_or(now),
            batch.bytes(e.key),
            batch.bytes(e.value),
            headers,
        );
    }
    ProducerBatch::new(builder)
}

/// How often a source task stores its offsets in `connectd-offsets` (Kafka Connect's
/// `offset.flush.interval.ms`). Between two stores, the `connectd.source` header of each
/// produced batch already says how far each partition got, and a (re)start drops what is
/// there ([`SourceOffsets::recover`]), so the interval only bounds how much a restart polls
/// again.
const OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Positions, counts and topic ends produced since the last store.
struct Checkpoint {
    positions: Positions,
    counts: Tally,
    ends: Vec<(TopicPartition, i64)>,
    since: Instant,
}

/// Sets `key`'s value in a small list of pairs.
fn upsert<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, value: V) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => list.push((key, value)),
    }
}

impl Checkpoint {
    fn new() -> Self {
        Checkpoint {
            positions: Vec::new(),
            counts: Vec::new(),
            ends: Vec::new(),
            since: Instant::now(),
        }
    }

    fn add(&mut self, delivered: Delivered) {
        for (p, pos) in delivered.positions {
            upsert(&mut self.positions, p, pos);
        }
        for (p, tp, n) in delivered.counts {
            match self.counts.iter_mut().find(|(q, u, _)| *q == p && *u == tp) {
                Some(entry) => entry.2 = n,
                None => self.counts.push((p, tp, n)),
            }
        }
        for (tp, end) in delivered.ends {
            upsert(&mut self.ends, tp, end);
        }
    }

    /// Stores what is pending if the interval has passed (or `now` is set); returns the
    /// positions stored.
    fn store(
        &mut self,
        ctx: &SourceTaskContext,
        now: bool,
    ) -> Result<Option<Positions>, TaskError> {
        if self.positions.is_empty() || (!now && self.since.elapsed() < OFFSET_FLUSH_INTERVAL) {
            return Ok(None);
        }
        let task = TaskId {
            connector: ctx.connector.name.clone(),
            task: ctx.task_id,
        };
        ctx.offsets
            .store(&task, &self.positions, &self.counts, &self.ends)
            .map_err(|e| TaskError::Retryable(e.to_string()))?;
        let stored = std::mem::take(&mut self.positions);
        *self = Checkpoint::new();
        Ok(Some(stored))
    }
}

//! Running one sink task: read its topics from the consumer group `connect-<name>`'s committed
//! offsets, `put` each batch, and, when idle or every [`FLUSH_INTERVAL`], `flush`, and only
//! then commit the offsets. A crash between `put` and the commit delivers the uncommitted tail
//! again (at-least-once), as Kafka Connect does.
//!
//! With `tasks.max` = n, task i owns the partitions p with p % n == i; the group's offsets are
//! committed through the broker, so `connectd groups describe connect-<name>` shows its lag.
//! Transforms run between the read and `put`; bad records follow `errors.tolerance`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connectd_host::{Grants, Limits, Plugin, TaskError};
use connectd_records::{ConnectRecord, Offset, SinkBatch, SinkRecord, TopicPartition};

use crate::backend::{Consumer, TopicBackend};
use crate::connectors::config::ConnectorConfig;
use crate::state::status::{Status, TaskStatus};
use crate::tasks::retry_with_tolerance::{Failed, RetryWithTolerance, Stage};
use crate::tasks::transform_stage::{Chain, Indexed, TransformSpec, Transformable};
use crate::tasks::{IDLE_WAIT, restart_loop};

/// Bytes read per partition per round.
const READ_BYTES: usize = 1 << 20;

/// Everything one sink task needs.
pub(crate) struct SinkTaskContext {
    pub connector: ConnectorConfig,
    pub task_id: u32,
    pub plugin: Arc<Plugin>,
    pub backend: Arc<dyn TopicBackend>,
    pub status: Arc<Status>,
    pub grants: Grants,
    pub limits: Limits,
    pub transforms: Vec<TransformSpec>,
    pub stop: Arc<AtomicBool>,
}

pub(crate) fn run(ctx: SinkTaskContext) {
    restart_loop(&ctx.connector, ctx.task_id, &ctx.status, &ctx.stop, || {
        run_once(&ctx)
    });
}

fn run_once(ctx: &SinkTaskContext) -> Option<TaskError> {
    let name = &ctx.connector.name;
    let group = format!("connect-{name}");
    let topics: Vec<String> = match ctx
        .connector
        .values
        .get("topics")
        .or_else(|| ctx.connector.values.get("topic"))
    {
        Some(t) => t
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => {
            return Some(TaskError::InvalidConfig(format!(
                "{}: missing key `topics`: the comma-separated topics this sink reads",
                ctx.connector.origin
            )));
        }
    };
    let config = crate::tasks::task_config(&ctx.connector, ctx.task_id, &ctx.status);
    let opened = ctx
        .plugin
        .open_sink(config, &ctx.grants, &ctx.limits)
        .and_then(|task| Ok((task, Chain::open(&ctx.transforms, &ctx.limits)?)));
    let (mut task, mut chain) = match opened {
        Ok(t) => t,
        Err(e) => return Some(e),
    };
    let mut errors = RetryWithTolerance::new(&ctx.connector, ctx.task_id, ctx.backend.clone());
    ctx.status.set_by_task(
        &ctx.stop,
        name,
        ctx.task_id,
        TaskStatus::running(&ctx.connector.plugin),
    );
    let retryable = |e: crate::error::Error| TaskError::Retryable(e.to_string());
    let mut consumer = match ctx.backend.consumer(Some(&group)) {
        Ok(c) => c,
        Err(e) => return Some(retryable(e)),
    };
    let mut owned: Vec<TopicPartition> = Vec::new();
    let mut checked: Option<Instant> = None;
    let mut lagged: Option<Instant> = None;
    // The offsets after the last batch put but not yet flushed, and when the last flush was.
    let mut unflushed: Option<Vec<(TopicPartition, Offset)>> = None;
    let mut flushed = Instant::now();
    // What the group last committed (not committed again while it stays the same).
    let mut committed: Vec<(TopicPartition, Offset)> = Vec::new();
    while !ctx.stop.load(Ordering::Relaxed) {
        // Topics and partitions can appear while the task runs: look again while it owns
        // none (a sink often starts before its topic exists), and every PARTITIONS_CHECK (a
        // metadata request each with the Kafka backend, so not on every idle poll).
        if owned.is_empty() || checked.is_none_or(|t| t.elapsed() >= PARTITIONS_CHECK) {
            checked = Some(Instant::now());
            if let Err(e) = assign(ctx, &topics, consumer.as_mut(), &mut owned) {
                return Some(retryable(e));
            }
        }
        // The lag: one end-offset read per partition a second (a metadata call each with
        // the Kafka backend), not one per idle poll.
        if lagged.is_none_or(|t| t.elapsed() >= PARTITIONS_CHECK) {
            lagged = Some(Instant::now());
            for tp in &owned {
                if let (Ok(end), Some(at)) = (consumer.end_offset(tp), consumer.position(tp)) {
                    let lag = (end.0 - at.0).max(0);
                    errors.metrics.sink_lag(tp).set(lag as f64);
                }
            }
        }
        let mut batch = SinkBatch::default();
        if let Err(e) = consumer.poll(READ_BYTES, IDLE_WAIT, &mut batch) {
            return Some(retryable(e));
        }
        errors.metrics.records_in.increment(batch.len() as u64);
        if batch.is_empty() {
            // Nothing more to read for now: make what was put durable, and commit it. An idle
            // task still flushes every FLUSH_INTERVAL: a sink that keeps files open completes
            // them on its own schedule, and says so in what it lets the group commit.
            if unflushed.is_none() && flushed.elapsed() < FLUSH_INTERVAL {
                continue;
            }
            let next = match unflushed.take() {
                Some(next) => next,
                None => positions(&owned, consumer.as_ref()),
            };
            if let Err(e) = flush_and_commit(
                ctx,
                &mut task,
                &mut errors,
                consumer.as_mut(),
                &next,
                &mut committed,
            ) {
                return (!ctx.stop.load(Ordering::Relaxed)).then_some(e);
            }
            flushed = Instant::now();
            continue;
        }
        // Where the task stands after this batch: what to commit once it is flushed, and
        // only once `put` took the batch. A put that failed (a retryable error still being
        // retried when the task is stopped, paused or moved) leaves the commit point where
        // the last good put put it, so the batch is read again.
        let next = positions(&owned, consumer.as_ref());
        let mut delivered = deliver(ctx, &mut task, &mut chain, &mut errors, batch);
        if delivered.is_ok() {
            unflushed = Some(next);
        }
        if delivered.is_ok() && flushed.elapsed() >= FLUSH_INTERVAL {
            let next = unflushed.take().unwrap_or_default();
            delivered = flush_and_commit(
                ctx,
                &mut task,
                &mut errors,
                consumer.as_mut(),
                &next,
                &mut committed,
            );
            flushed = Instant::now();
        }
        match delivered {
            Ok(()) => {}
            Err(_) if ctx.stop.load(Ordering::Relaxed) => break,
            Err(e) => return Some(e),
        }
    }
    // Stopping: what was put is flushed and committed, so a restart does not write it again.
    if let Some(next) = unflushed {
        let _ = flush_and_commit(
            ctx,
            &mut task,
            &mut errors,
            consumer.as_mut(),
            &next,
            &mut committed,
        );
    }
    None
}

/// How often a busy sink task flushes and commits its offsets (Kafka Connect's
/// `offset.flush.interval.ms`, 60 s there); an idle one does at once. Between two flushes the
/// task puts batch after batch, so a sink can keep writing while earlier puts complete.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Where the consumer stands in each partition the task owns.
fn positions(owned: &[TopicPartition], consumer: &dyn Consumer) -> Vec<(TopicPartition, Offset)> {
    owned
        .iter()
        .filter_map(|tp| consumer.position(tp).map(|at| (tp.clone(), at)))
        .collect()
}

/// Flushes the task, then commits the group offsets `next` (what the flush covers), or, where
/// the task says it holds records in open files, the lower offsets it names (never above
/// `next`, and only for partitions in it). Nothing is sent when that is what `committed`
/// already holds.
fn flush_and_commit(
    ctx: &SinkTaskContext,
    task: &mut connectd_host::SinkTask,
    errors: &mut RetryWithTolerance,
    consumer: &mut dyn Consumer,
    next: &[(TopicPartition, Offset)],
    committed: &mut Vec<(TopicPartition, Offset)>,
) -> Result<(), TaskError> {
    let committable = errors.retry(&ctx.stop, "flush", || task.flush())?;
    let commit: Vec<(TopicPartition, Offset)> = match committable {
        None => next.to_vec(),
        Some(offsets) => next
            .iter()
            .filter_map(|(tp, at)| {
                let named = offsets.iter().find(|(t, _)| t == tp)?.1;
                Some((tp.clone(), named.min(*at)))
            })
            .collect(),
    };
    if commit == *committed {
        return Ok(());
    }
    errors.retry(&ctx.stop, "committing offsets", || {
        consumer
            .commit(&commit)
            .map_err(|e| TaskError::Retryable(e.to_string()))
    })?;
    *committed = commit;
    Ok(())
}

/// How often a busy sink task looks for new topics and partitions.
const PARTITIONS_CHECK: Duration = Duration::from_secs(1);

/// Assigns the task the partitions it owns that are not yet assigned, from the group's
/// committed offsets (or the start). Task i of n owns the partitions p with p % n == i (Kafka
/// Connect spreads a sink's partitions over its tasks the same way).
fn assign(
    ctx: &SinkTaskContext,
    topics: &[String],
    consumer: &mut dyn Consumer,
    owned: &mut Vec<TopicPartition>,
) -> crate::error::Result<()> {
    let tasks = ctx.connector.tasks_max.max(1) as i32;
    let mut new = Vec::new();
    for topic in topics {
        let Some(partitions) = ctx.backend.admin().partitions(topic)? else {
            continue;
        };
        ctx.status.topic_active(ctx.connector.name.as_str(), topic);
        new.extend(
            (0..partitions)
                .filter(|p| p % tasks == ctx.task_id as i32)
                .map(|p| TopicPartition::new(topic.clone(), p))
                .filter(|tp| !owned.contains(tp)),
        );
    }
    if new.is_empty() {
        return Ok(());
    }
    let committed = consumer.committed(&new)?;
    let mut positions: Vec<(TopicPartition, Offset)> = owned
        .iter()
        .map(|tp| (tp.clone(), consumer.position(tp).unwrap_or(Offset::ZERO)))
        .collect();
    positions.extend(
        new.iter()
            .cloned()
            .zip(committed.into_iter().map(|c| c.unwrap_or(Offset::ZERO))),
    );
    consumer.assign(&positions)?;
    owned.extend(new);
    Ok(())
}

/// Transforms, then put, retrying retryable errors. A batch that `put` refuses with
/// bad-record is put again record by record under `errors.tolerance = "all"`, so only the bad
/// ones are skipped.
fn deliver(
    ctx: &SinkTaskContext,
    task: &mut connectd_host::SinkTask,
    chain: &mut Chain,
    errors: &mut RetryWithTolerance,
    batch: SinkBatch,
) -> Result<(), TaskError> {
    let mut batch = chain.run(batch, errors)?;
    let started = Instant::now();
    let (records, bytes) = (batch.len() as u64, batch.data.len() as u64);
    if !batch.is_empty() {
        match errors.retry(&ctx.stop, "put", || task.put(&mut batch)) {
            Err(TaskError::BadRecord(_)) if ctx.connector.errors.tolerate_all => {
                for record in batch.to_records() {
                    let mut one: SinkBatch = std::iter::once(&record).collect();
                    match errors.retry(&ctx.stop, "put", || task.put(&mut one)) {
                        Err(e @ TaskError::BadRecord(_)) => {
                            let class = ctx.connector.plugin.clone();
                            let failed = Failed::new(record.into(), Stage::TaskPut, class, e);
                            errors.handle(vec![failed])?
                        }
                        other => other?,
                    }
                }
            }
            Err(TaskError::BadRecord(m)) => {
                return Err(TaskError::Fatal(format!(
                    "{} refused a record: {m} (set errors.tolerance = \"all\" to skip such records)",
                    ctx.connector.plugin
                )));
            }
            other => other?,
        }
    }
    errors.metrics.records_out.increment(records);
    errors.metrics.bytes_out.increment(bytes);
    errors.metrics.batch_seconds.record(started.elapsed());
    Ok(())
}

impl Transformable for SinkBatch {
    fn records(&self) -> Vec<ConnectRecord> {
        self.to_records().into_iter().map(Into::into).collect()
    }

    /// A transform may route or rewrite a record, not move where it was read from.
    fn kept(self, kept: Vec<Indexed>) -> SinkBatch {
        let read: Vec<(i32, i64)> = self
            .records
            .iter()
            .map(|e| (e.partition, e.offset))
            .collect();
        let mut batch = SinkBatch::default();
        for (i, r) in kept {
            let (partition, offset) = read[i];
            batch.push(&SinkRecord {
                topic: r.topic,
                partition,
                offset,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp_ms: r.timestamp_ms,
            });
        }
        batch
    }
}

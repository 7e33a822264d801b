//! Running one sink task: read its topics from the consumer group `connect-<name>`'s committed
//! offsets, `put` each batch, and, when idle or every [`FLUSH_INTERVAL`], `flush`, and only
//! then commit the offsets. The task thread reads and commits; a second thread runs the
//! plugin (transforms, `put`, `flush`), so the next batch is read while one is being put. A crash between `put` and the commit delivers the uncommitted tail
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
    let consumer = match ctx.backend.consumer(Some(&group)) {
        Ok(c) => c,
        Err(e) => return Some(TaskError::Retryable(e.to_string())),
    };
    // The plugin's side (transforms, put, flush) on a thread of its own, so the task thread
    // reads the next batch while the plugin writes this one, as Kafka Connect's consumer
    // fetches while `put` runs.
    std::thread::scope(|scope| {
        let (jobs, jobs_rx) = std::sync::mpsc::sync_channel::<Job>(1);
        let (done_tx, done) = std::sync::mpsc::channel();
        // Named `put-<task>-<connector>` (Linux keeps the first 15 bytes), so `top -H` and
        // the benchmarks tell the plugin's share of a sink's CPU.
        let put = std::thread::Builder::new()
            .name(format!("put-{}-{name}", ctx.task_id))
            .spawn_scoped(scope, move || {
                for job in jobs_rx {
                    let result = match job {
                        Job::Put(batch) => {
                            deliver(ctx, &mut task, &mut chain, &mut errors, batch).map(Done::Put)
                        }
                        Job::Flush => errors
                            .retry(&ctx.stop, "flush", || task.flush())
                            .map(Done::Flush),
                    };
                    if done_tx.send(result).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = put {
            return Some(TaskError::Retryable(format!(
                "starting a sink's plugin thread: {e}"
            )));
        }
        let mut plugin = PluginThread::new(jobs, done);
        read_and_put(ctx, &topics, consumer, &mut plugin)
    })
}

/// What the task thread asks of its plugin thread.
enum Job {
    /// Transform and put a batch.
    Put(SinkBatch),
    /// Flush; answered with the offsets the plugin says the group may commit (`None`: all
    /// that was put).
    Flush,
}

/// The offsets a flush lets the group commit (`None`: all that was put).
type Committable = Option<Vec<(TopicPartition, Offset)>>;

/// What the plugin thread answers.
enum Done {
    /// The batch was put; it comes back to be filled again, so its buffers are reused.
    Put(SinkBatch),
    Flush(Committable),
}

/// The task thread's handle on its plugin thread: at most one batch is being put while the
/// next is read.
struct PluginThread {
    jobs: std::sync::mpsc::SyncSender<Job>,
    done: std::sync::mpsc::Receiver<Result<Done, TaskError>>,
    /// Where the task stands after the batch being put, until that put is settled.
    putting: Option<Vec<(TopicPartition, Offset)>>,
    /// Where the task stands after the last batch put, until it is flushed.
    unflushed: Option<Vec<(TopicPartition, Offset)>>,
    /// A batch put before, emptied, for the next read (its buffers already grown).
    spare: SinkBatch,
}

impl PluginThread {
    fn new(
        jobs: std::sync::mpsc::SyncSender<Job>,
        done: std::sync::mpsc::Receiver<Result<Done, TaskError>>,
    ) -> Self {
        PluginThread {
            jobs,
            done,
            putting: None,
            unflushed: None,
            spare: SinkBatch::default(),
        }
    }

    /// Hands a batch over to be put, once the put before it is settled; `next` is where the
    /// task stands after it.
    fn put(
        &mut self,
        batch: SinkBatch,
        next: Vec<(TopicPartition, Offset)>,
    ) -> Result<(), TaskError> {
        self.settle()?;
        self.jobs.send(Job::Put(batch)).map_err(|_| gone())?;
        self.putting = Some(next);
        Ok(())
    }

    /// Waits for the put on its way, if any. Only a put that succeeded moves `unflushed`: one
    /// that failed (a retryable error still being retried when the task is stopped, paused
    /// or moved) leaves the commit point where the last good put put it, so the batch is read
    /// again.
    fn settle(&mut self) -> Result<(), TaskError> {
        let Some(next) = self.putting.take() else {
            return Ok(());
        };
        if let Done::Put(mut batch) = self.done.recv().map_err(|_| gone())?? {
            batch.clear();
            self.spare = batch;
        }
        self.unflushed = Some(next);
        Ok(())
    }

    /// An empty batch to read into.
    fn batch(&mut self) -> SinkBatch {
        std::mem::take(&mut self.spare)
    }

    /// Flushes what was put (the put on its way must be settled first).
    fn flush(&mut self) -> Result<Committable, TaskError> {
        debug_assert!(self.putting.is_none());
        self.jobs.send(Job::Flush).map_err(|_| gone())?;
        match self.done.recv().map_err(|_| gone())?? {
            Done::Flush(committable) => Ok(committable),
            Done::Put(_) => Err(TaskError::Fatal(
                "the sink task's plugin thread answered a flush with a put".into(),
            )),
        }
    }
}

/// The plugin thread is gone (only a panic ends it while the task thread holds its channel;
/// the scope then raises that panic again once the task thread returns).
fn gone() -> TaskError {
    TaskError::Fatal("the sink task's plugin thread stopped".into())
}

/// The task thread: reads batches and hands them to the plugin thread, flushes, and commits.
fn read_and_put(
    ctx: &SinkTaskContext,
    topics: &[String],
    mut consumer: Box<dyn Consumer>,
    plugin: &mut PluginThread,
) -> Option<TaskError> {
    let retryable = |e: crate::error::Error| TaskError::Retryable(e.to_string());
    // Commits are retried here, and the reading counted.
    let errors = RetryWithTolerance::new(&ctx.connector, ctx.task_id, ctx.backend.clone());
    let mut owned: Vec<TopicPartition> = Vec::new();
    let mut checked: Option<Instant> = None;
    let mut lagged: Option<Instant> = None;
    let mut flushed = Instant::now();
    // What the group last committed (not committed again while it stays the same).
    let mut committed: Vec<(TopicPartition, Offset)> = Vec::new();
    // Flushes what was put, and commits where the task stands after it (`None`: all it read).
    let mut flush =
        |plugin: &mut PluginThread, consumer: &mut dyn Consumer, owned: &[TopicPartition]| {
            let next = match plugin.unflushed.take() {
                Some(next) => next,
                None => positions(owned, consumer),
            };
            flush_and_commit(plugin, &errors, &ctx.stop, consumer, &next, &mut committed)
        };
    while !ctx.stop.load(Ordering::Relaxed) {
        // Topics and partitions can appear while the task runs: look again while it owns
        // none (a sink often starts before its topic exists), and every PARTITIONS_CHECK (a
        // metadata request each with the Kafka backend, so not on every idle poll).
        if owned.is_empty() || checked.is_none_or(|t| t.elapsed() >= PARTITIONS_CHECK) {
            checked = Some(Instant::now());
            if let Err(e) = assign(ctx, topics, consumer.as_mut(), &mut owned) {
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
        let mut batch = plugin.batch();
        if let Err(e) = consumer.poll(READ_BYTES, IDLE_WAIT, &mut batch) {
            return Some(retryable(e));
        }
        errors.metrics.records_in.increment(batch.len() as u64);
        // Nothing more to read for now: make what was put durable, and commit it. An idle
        // task still flushes every FLUSH_INTERVAL: a sink that keeps files open completes them
        // on its own schedule, and says so in what it lets the group commit. A busy one
        // flushes every FLUSH_INTERVAL.
        let idle = batch.is_empty();
        let due = flushed.elapsed() >= FLUSH_INTERVAL;
        let handed = if idle {
            // Reused: a read of control batches alone may have named a topic in it.
            batch.clear();
            plugin.spare = batch;
            if plugin.putting.is_none() && plugin.unflushed.is_none() && !due {
                continue;
            }
            Ok(())
        } else {
            let next = positions(&owned, consumer.as_ref());
            plugin.put(batch, next)
        };
        let settled = handed.and_then(|()| match idle || due {
            true => plugin.settle(),
            false => Ok(()),
        });
        match settled {
            Ok(()) if idle || due => {}
            Ok(()) => continue,
            Err(_) if ctx.stop.load(Ordering::Relaxed) => break,
            Err(e) => return Some(e),
        }
        if let Err(e) = flush(plugin, consumer.as_mut(), &owned) {
            return (!ctx.stop.load(Ordering::Relaxed)).then_some(e);
        }
        flushed = Instant::now();
    }
    // Stopping: what was put is flushed and committed, so a restart does not write it again.
    let _ = plugin.settle();
    if plugin.unflushed.is_some() {
        let _ = flush(plugin, consumer.as_mut(), &owned);
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
    plugin: &mut PluginThread,
    errors: &RetryWithTolerance,
    stop: &AtomicBool,
    consumer: &mut dyn Consumer,
    next: &[(TopicPartition, Offset)],
    committed: &mut Vec<(TopicPartition, Offset)>,
) -> Result<(), TaskError> {
    let committable = plugin.flush()?;
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
    errors.retry(stop, "committing offsets", || {
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
) -> Result<SinkBatch, TaskError> {
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
    Ok(batch)
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

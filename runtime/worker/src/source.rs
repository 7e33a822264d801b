//! Running one source task: poll the plugin, run the transforms, produce the records, store the
//! offsets, tell the plugin. Errors follow the WIT contract: retryable errors are retried with
//! backoff (up to `errors.retry.timeout`); a bad record follows `errors.tolerance`; a fatal
//! error or a trap fails the task, which restarts itself with backoff from its stored offsets;
//! an invalid config fails it until the config changes.
//!
//! Order of writes: the records first (fsynced), then their offsets (fsynced). A crash between
//! the two is repaired at the next start from the positions the records carry (see
//! [`crate::offsets`]), so a restart resumes exactly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connectd_host::{Grants, Limits, Plugin, SinkRecord, SourceRecord, TaskError};

use crate::backend::{OutRecord, TopicBackend};
use crate::connector::ConnectorConfig;
use crate::errors::ErrorHandler;
use crate::now_ms;
use crate::offsets::SourceOffsets;
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
    let Some(default_topic) = ctx.connector.values.get("topic").cloned() else {
        return Some(TaskError::InvalidConfig(format!(
            "{}: missing key `topic`: the topic this source writes to",
            ctx.connector.file.display()
        )));
    };
    // Adopt what the topic says was produced after the last stored offsets (by a crash, or by
    // this task before it failed), then resume from there.
    let partitions = ctx.backend.partitions(&default_topic).unwrap_or(1);
    if let Err(e) = ctx
        .offsets
        .recover(name, &[(default_topic.clone(), partitions)])
    {
        return Some(TaskError::Retryable(e.to_string()));
    }
    let mut config = ctx.connector.connector_pairs();
    config.push(("task.id".into(), ctx.task_id.to_string()));
    let resume = ctx.offsets.resume(name);
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
    let mut errors = ErrorHandler::new(&ctx.connector, ctx.task_id, ctx.backend.clone());
    // RUNNING once the task has polled successfully: a task that fails at once keeps showing
    // FAILED and its reason while it restarts.
    let mut running = false;
    let mut partitions: HashMap<String, i32> = HashMap::new();
    let mut checkpoint = Checkpoint::new();
    while !ctx.stop.load(Ordering::Relaxed) {
        let polled = errors.retry(&ctx.stop, "poll", || {
            task.poll(ctx.connector.poll_batch_size)
        });
        let records = match polled {
            Ok(r) => r,
            Err(_) if ctx.stop.load(Ordering::Relaxed) => break,
            Err(e) => return Some(e),
        };
        if !running {
            running = true;
            ctx.status.set(
                name,
                Some(ctx.task_id),
                TaskStatus {
                    state: "RUNNING".into(),
                    trace: None,
                    plugin: ctx.connector.plugin.clone(),
                },
            );
        }
        if records.is_empty() {
            sleep_unless_stopped(&ctx.stop, IDLE_WAIT);
            continue;
        }
        let delivered = deliver(
            ctx,
            &default_topic,
            records,
            &mut partitions,
            &mut chain,
            &mut errors,
            &mut checkpoint,
        )
        .and_then(|latest| match task.commit(latest) {
            Ok(()) | Err(TaskError::Retryable(_)) => Ok(()),
            Err(e) => Err(e),
        })
        .and_then(|_| checkpoint.store(ctx, false));
        if let Err(e) = delivered {
            return Some(e);
        }
    }
    checkpoint.store(ctx, true).err()
}

/// A polled record as the transforms and the dead letter queue see it.
fn as_topic_record(r: SourceRecord, default_topic: &str, now: i64) -> SinkRecord {
    SinkRecord {
        topic: r.topic.unwrap_or_else(|| default_topic.to_string()),
        partition: -1,
        offset: -1,
        key: r.key,
        value: r.value,
        headers: r.headers,
        timestamp_ms: r.timestamp_ms.unwrap_or(now),
    }
}

/// (source partition, position) pairs.
type Positions = Vec<(Vec<u8>, Vec<u8>)>;

/// Most bytes of records in one produced batch.
const BATCH_BYTES: usize = 512 << 10;

fn record_size(r: &OutRecord) -> usize {
    let headers: usize = r.headers.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
    r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len) + headers + 24
}

/// One produced batch's records. The last record of each source partition in it carries its
/// position, so a restart can tell how far the topic got even if the offsets were never
/// stored: every batch describes itself, and a crash between two batches loses nothing and
/// doubles nothing.
fn marked(
    ctx: &SourceTaskContext,
    mut chunk: Vec<(OutRecord, usize)>,
    sources: &[(Vec<u8>, Vec<u8>)],
) -> Vec<OutRecord> {
    let mut seen: Vec<&[u8]> = Vec::new();
    for (record, i) in chunk.iter_mut().rev() {
        let (source_partition, position) = &sources[*i];
        if !seen.contains(&source_partition.as_slice()) {
            seen.push(source_partition);
            record.headers.push(crate::offsets::source_header(
                &ctx.connector.name,
                source_partition,
                position,
            ));
        }
    }
    chunk.into_iter().map(|(r, _)| r).collect()
}

/// Runs one poll's records through the transforms, produces them (grouped per topic
/// partition, order kept), then stores the latest position of each source partition.
/// Returns those positions, for the plugin's `commit`.
fn deliver(
    ctx: &SourceTaskContext,
    default_topic: &str,
    records: Vec<SourceRecord>,
    partitions: &mut HashMap<String, i32>,
    chain: &mut Chain,
    errors: &mut ErrorHandler,
    checkpoint: &mut Checkpoint,
) -> Result<Positions, TaskError> {
    let now = now_ms();
    // The latest position of every source partition polled, whether or not its records make
    // it through the transforms.
    let mut latest: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut sources: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(records.len());
    let mut batch: Vec<SinkRecord> = Vec::with_capacity(records.len());
    for mut r in records {
        let (p, pos) = (
            std::mem::take(&mut r.source_partition),
            std::mem::take(&mut r.source_position),
        );
        match latest.iter_mut().find(|(q, _)| *q == p) {
            Some(entry) => entry.1 = pos.clone(),
            None => latest.push((p.clone(), pos.clone())),
        }
        sources.push((p, pos));
        batch.push(as_topic_record(r, default_topic, now));
    }
    let kept: Vec<(usize, SinkRecord)> = if chain.is_empty() {
        batch.into_iter().enumerate().collect()
    } else {
        let originals = batch.clone();
        let (kept, failed) = chain.apply(batch)?;
        errors.handle(failures(failed, &originals))?;
        kept
    };
    // Per topic partition, in order: the record and the (source partition, position) it came from.
    type Sourced = (OutRecord, usize);
    let mut batches: Vec<((String, i32), Vec<Sourced>)> = Vec::new();
    for (i, r) in kept {
        let count = match partitions.get(&r.topic) {
            Some(n) => *n,
            None => {
                let n = ctx
                    .backend
                    .ensure_topic(&r.topic, 1, &[])
                    .map_err(|e| TaskError::Retryable(e.to_string()))?;
                partitions.insert(r.topic.clone(), n);
                n
            }
        };
        // Keyed records go by key; others by source partition, so one stream stays in order.
        let partition =
            (fnv(r.key.as_deref().unwrap_or(&sources[i].0)) % count.max(1) as u32) as i32;
        let topic = r.topic.clone();
        let sourced = (OutRecord::from(r), i);
        match batches
            .iter_mut()
            .find(|(k, _)| k.0 == topic && k.1 == partition)
        {
            Some((_, v)) => v.push(sourced),
            None => batches.push(((topic, partition), vec![sourced])),
        }
    }
    let mut ends = Vec::with_capacity(batches.len());
    for ((topic, partition), sourced) in batches {
        // Produced in batches of at most BATCH_BYTES (below the broker's max.message.bytes).
        let mut rest = sourced;
        while !rest.is_empty() {
            let mut bytes = 0;
            let take = rest
                .iter()
                .take_while(|(r, _)| {
                    bytes += record_size(r);
                    bytes <= BATCH_BYTES
                })
                .count()
                .max(1);
            let chunk: Vec<(OutRecord, usize)> = rest.drain(..take).collect();
            let records = marked(ctx, chunk, &sources);
            let base = errors.retry(&ctx.stop, "produce", || {
                ctx.backend
                    .append(&topic, partition, &records)
                    .map_err(|e| TaskError::Retryable(e.to_string()))
            })?;
            match ends
                .iter_mut()
                .find(|(t, p, _)| *t == topic && *p == partition)
            {
                Some(end) => end.2 = base + records.len() as i64,
                None => ends.push((topic.clone(), partition, base + records.len() as i64)),
            }
        }
    }
    checkpoint.add(&latest, ends);
    Ok(latest)
}

/// How often a source task stores its offsets in `connectd-offsets` (Kafka Connect's
/// `offset.flush.interval.ms`). Between two stores, the `connectd.source` header of each
/// produced batch already says how far the task got, and a (re)start adopts those
/// ([`SourceOffsets::recover`]), so the interval only bounds how much a restart rescans.
const OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Positions and topic ends produced since the last store.
struct Checkpoint {
    latest: Positions,
    ends: Vec<(String, i32, i64)>,
    since: Instant,
}

impl Checkpoint {
    fn new() -> Self {
        Checkpoint {
            latest: Vec::new(),
            ends: Vec::new(),
            since: Instant::now(),
        }
    }

    fn add(&mut self, latest: &[(Vec<u8>, Vec<u8>)], ends: Vec<(String, i32, i64)>) {
        for (p, pos) in latest {
            match self.latest.iter_mut().find(|(q, _)| q == p) {
                Some(entry) => entry.1 = pos.clone(),
                None => self.latest.push((p.clone(), pos.clone())),
            }
        }
        for (t, p, end) in ends {
            match self.ends.iter_mut().find(|(u, q, _)| *u == t && *q == p) {
                Some(entry) => entry.2 = end,
                None => self.ends.push((t, p, end)),
            }
        }
    }

    /// Stores what is pending if the interval has passed (or `now` is set).
    fn store(&mut self, ctx: &SourceTaskContext, now: bool) -> Result<(), TaskError> {
        if self.latest.is_empty() || (!now && self.since.elapsed() < OFFSET_FLUSH_INTERVAL) {
            return Ok(());
        }
        ctx.offsets
            .store(&ctx.connector.name, &self.latest, &self.ends)
            .map_err(|e| TaskError::Retryable(e.to_string()))?;
        *self = Checkpoint::new();
        Ok(())
    }
}

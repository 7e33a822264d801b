//! Running one sink task: read its topics from the consumer group `connect-<name>`'s committed
//! offsets, `put` each batch, `flush`, and only then commit the offsets. A crash between `put`
//! and the commit delivers the uncommitted tail again (at-least-once), as Kafka Connect does.
//!
//! With `tasks.max` = n, task i owns the partitions p with p % n == i; the group's offsets are
//! committed through the broker, so `connectd groups describe connect-<name>` shows its lag.
//! Transforms run between the read and `put`; bad records follow `errors.tolerance`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use connectd_host::{Grants, Limits, Plugin, SinkBatch, SinkRecord, TaskError};

use crate::backend::TopicBackend;
use crate::connector::ConnectorConfig;
use crate::errors::{ErrorHandler, Failed, Stage};
use crate::status::{Status, TaskStatus};
use crate::task::{IDLE_WAIT, restart_loop};
use crate::transforms::{Chain, TransformSpec, failures};

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
                ctx.connector.file.display()
            )));
        }
    };
    let mut config = ctx.connector.connector_pairs();
    config.push(("task.id".into(), ctx.task_id.to_string()));
    let opened = ctx
        .plugin
        .open_sink(config, &ctx.grants, &ctx.limits)
        .and_then(|task| Ok((task, Chain::open(&ctx.transforms, &ctx.limits)?)));
    let (mut task, mut chain) = match opened {
        Ok(t) => t,
        Err(e) => return Some(e),
    };
    let mut errors = ErrorHandler::new(&ctx.connector, ctx.task_id, ctx.backend.clone());
    ctx.status.set(
        name,
        Some(ctx.task_id),
        TaskStatus::running(&ctx.connector.plugin),
    );
    let tasks = ctx.connector.tasks_max.max(1) as i32;
    // Next offset to read per (topic, partition), from the group's commits.
    let mut positions: HashMap<(String, i32), i64> = HashMap::new();
    while !ctx.stop.load(Ordering::Relaxed) {
        let seen = ctx.backend.append_count();
        let mut batch = SinkBatch::default();
        let mut next: Vec<(String, i32, i64)> = Vec::new();
        for topic in &topics {
            let Some(partitions) = ctx.backend.partitions(topic) else {
                continue;
            };
            // Task i of n owns the partitions p with p % n == i (Kafka Connect spreads a
            // sink's partitions over its tasks the same way).
            for partition in (0..partitions).filter(|p| p % tasks == ctx.task_id as i32) {
                let from = *positions
                    .entry((topic.clone(), partition))
                    .or_insert_with(|| {
                        ctx.backend.committed(&group, topic, partition).unwrap_or(0)
                    });
                let after = match ctx
                    .backend
                    .read_batch(topic, partition, from, READ_BYTES, &mut batch)
                {
                    Ok(after) => after,
                    Err(e) => return Some(TaskError::Retryable(e.to_string())),
                };
                if after > from {
                    next.push((topic.clone(), partition, after));
                }
            }
        }
        if batch.is_empty() {
            // Nothing to put; still move past what was read (control batches), if anything.
            for (topic, partition, after) in next {
                positions.insert((topic, partition), after);
            }
            // Caught up: wait for the next append (or a moment, to see `stop`).
            ctx.backend.wait_for_append(seen, IDLE_WAIT);
            continue;
        }
        let delivered = deliver(ctx, &mut task, &mut chain, &mut errors, batch).and_then(|_| {
            errors.retry(&ctx.stop, "committing offsets", || {
                ctx.backend
                    .commit(&group, &next)
                    .map_err(|e| TaskError::Retryable(e.to_string()))
            })
        });
        match delivered {
            Ok(()) => {}
            Err(_) if ctx.stop.load(Ordering::Relaxed) => break,
            Err(e) => return Some(e),
        }
        for (topic, partition, after) in next {
            positions.insert((topic, partition), after);
        }
    }
    None
}

/// Transforms, then put and flush, retrying retryable errors. A batch that `put` refuses with
/// bad-record is put again record by record under `errors.tolerance = "all"`, so only the bad
/// ones are skipped.
fn deliver(
    ctx: &SinkTaskContext,
    task: &mut connectd_host::SinkTask,
    chain: &mut Chain,
    errors: &mut ErrorHandler,
    batch: SinkBatch,
) -> Result<(), TaskError> {
    let mut batch = if chain.is_empty() {
        batch
    } else {
        let originals = SinkRecord::from_batch(&batch);
        let (kept, failed) = chain.apply(originals.clone())?;
        errors.handle(failures(failed, &originals))?;
        let kept: Vec<SinkRecord> = kept.into_iter().map(|(_, r)| r).collect();
        SinkRecord::to_batch(&kept)
    };
    if !batch.is_empty() {
        match errors.retry(&ctx.stop, "put", || task.put(&mut batch)) {
            Err(TaskError::BadRecord(_)) if ctx.connector.errors.tolerate_all => {
                for record in SinkRecord::from_batch(&batch) {
                    let mut one = SinkRecord::to_batch(std::slice::from_ref(&record));
                    match errors.retry(&ctx.stop, "put", || task.put(&mut one)) {
                        Err(e @ TaskError::BadRecord(_)) => {
                            let class = ctx.connector.plugin.clone();
                            errors.handle(vec![Failed::new(record, Stage::TaskPut, class, e)])?
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
    errors.retry(&ctx.stop, "flush", || task.flush())
}

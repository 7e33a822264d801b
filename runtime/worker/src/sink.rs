//! Running one sink task: read its topics from the consumer group `connect-<name>`'s committed
//! offsets, `put` each batch, `flush`, and only then commit the offsets. A crash between `put`
//! and the commit delivers the uncommitted tail again (at-least-once), as Kafka Connect does.
//!
//! On one worker a sink task owns every partition of its topics; the group's offsets are
//! committed through the broker, so `connectd groups describe connect-<name>` shows its lag.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connectd_host::{Grants, Limits, Plugin, SinkRecord, TaskError};

use crate::backend::TopicBackend;
use crate::connector::ConnectorConfig;
use crate::status::{Status, TaskStatus};
use crate::task::{IDLE_WAIT, restart_loop, sleep_unless_stopped};

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
    let mut task =
        match ctx
            .plugin
            .open_sink(ctx.connector.connector_pairs(), &ctx.grants, &ctx.limits)
        {
            Ok(t) => t,
            Err(e) => return Some(e),
        };
    ctx.status.set(
        name,
        Some(ctx.task_id),
        TaskStatus {
            state: "RUNNING".into(),
            trace: None,
            plugin: ctx.connector.plugin.clone(),
        },
    );
    // Next offset to read per (topic, partition), from the group's commits.
    let mut positions: HashMap<(String, i32), i64> = HashMap::new();
    while !ctx.stop.load(Ordering::Relaxed) {
        let mut batch = Vec::new();
        let mut next: Vec<(String, i32, i64)> = Vec::new();
        for topic in &topics {
            let Some(partitions) = ctx.backend.partitions(topic) else {
                continue;
            };
            for partition in 0..partitions {
                let from = *positions
                    .entry((topic.clone(), partition))
                    .or_insert_with(|| {
                        ctx.backend.committed(&group, topic, partition).unwrap_or(0)
                    });
                let (records, after) = match ctx.backend.read(topic, partition, from, READ_BYTES) {
                    Ok(r) => r,
                    Err(e) => return Some(TaskError::Retryable(e.to_string())),
                };
                if records.is_empty() {
                    continue;
                }
                next.push((topic.clone(), partition, after));
                batch.extend(records.into_iter().map(|r| SinkRecord {
                    topic: topic.clone(),
                    partition,
                    offset: r.offset,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    timestamp_ms: r.timestamp_ms,
                }));
            }
        }
        if batch.is_empty() {
            sleep_unless_stopped(&ctx.stop, IDLE_WAIT);
            continue;
        }
        if let Err(e) = deliver(ctx, &mut task, batch) {
            return Some(e);
        }
        if let Err(e) = ctx.backend.commit(&group, &next) {
            return Some(TaskError::Retryable(e.to_string()));
        }
        for (topic, partition, after) in next {
            positions.insert((topic, partition), after);
        }
    }
    None
}

/// put then flush, retrying retryable errors with backoff.
fn deliver(
    ctx: &SinkTaskContext,
    task: &mut connectd_host::SinkTask,
    batch: Vec<SinkRecord>,
) -> Result<(), TaskError> {
    let mut wait = Duration::from_millis(100);
    loop {
        match task.put(batch.clone()).and_then(|_| task.flush()) {
            Ok(()) => return Ok(()),
            Err(TaskError::Retryable(m)) if !ctx.stop.load(Ordering::Relaxed) => {
                tracing::debug!(connector = %ctx.connector.name, reason = %m, "retrying put/flush");
                sleep_unless_stopped(&ctx.stop, wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

//! Running one source task: poll the plugin, produce the records, store the offsets, tell the
//! plugin. Errors follow the WIT contract: retryable errors are retried with backoff; a fatal
//! error or a trap fails the task, which restarts itself with backoff from its stored offsets;
//! an invalid config fails it until the config changes.
//!
//! Order of writes: the records first (fsynced), then their offsets (fsynced). A crash between
//! the two is repaired at the next start from the positions the records carry (see
//! [`crate::offsets`]), so a restart resumes exactly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connectd_host::{Grants, Limits, Plugin, SourceRecord, TaskError};

use crate::backend::{OutRecord, TopicBackend};
use crate::connector::ConnectorConfig;
use crate::now_ms;
use crate::offsets::SourceOffsets;
use crate::status::{Status, TaskStatus};
use crate::task::{IDLE_WAIT, restart_loop, sleep_unless_stopped};

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
    let mut config = ctx.connector.connector_pairs();
    config.push(("task.id".into(), ctx.task_id.to_string()));
    let mut task =
        match ctx
            .plugin
            .open_source(config, ctx.offsets.resume(name), &ctx.grants, &ctx.limits)
        {
            Ok(t) => t,
            Err(e) => return Some(e),
        };
    // RUNNING once the task has polled successfully: a task that fails at once keeps showing
    // FAILED and its reason while it restarts.
    let mut running = false;
    let mut partitions: HashMap<String, i32> = HashMap::new();
    let mut retry_wait = Duration::from_millis(100);
    while !ctx.stop.load(Ordering::Relaxed) {
        let records = match task.poll(ctx.connector.poll_batch_size) {
            Ok(r) => {
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
                r
            }
            Err(TaskError::Retryable(m)) => {
                tracing::debug!(connector = %name, reason = %m, "retryable poll error");
                sleep_unless_stopped(&ctx.stop, retry_wait);
                retry_wait = (retry_wait * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Some(e),
        };
        retry_wait = Duration::from_millis(100);
        if records.is_empty() {
            sleep_unless_stopped(&ctx.stop, IDLE_WAIT);
            continue;
        }
        if let Err(e) = deliver(ctx, &default_topic, records, &mut partitions, &mut task) {
            return Some(e);
        }
    }
    None
}

/// Produces one poll's records (grouped per topic partition, order kept), then stores the
/// latest position of each source partition, then tells the plugin.
fn deliver(
    ctx: &SourceTaskContext,
    default_topic: &str,
    records: Vec<SourceRecord>,
    partitions: &mut HashMap<String, i32>,
    task: &mut connectd_host::SourceTask,
) -> Result<(), TaskError> {
    let now = now_ms();
    // Per topic partition, in order: the record and the (source partition, position) it came from.
    type Sourced = (OutRecord, Vec<u8>, Vec<u8>);
    let mut batches: Vec<((String, i32), Vec<Sourced>)> = Vec::new();
    let mut latest: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for r in records {
        let topic = r.topic.clone().unwrap_or_else(|| default_topic.to_string());
        let count = match partitions.get(&topic) {
            Some(n) => *n,
            None => {
                let n = ctx
                    .backend
                    .ensure_topic(&topic, 1, &[])
                    .map_err(|e| TaskError::Retryable(e.to_string()))?;
                partitions.insert(topic.clone(), n);
                n
            }
        };
        // Keyed records go by key; others by source partition, so one stream stays in order.
        let partition =
            (fnv(r.key.as_deref().unwrap_or(&r.source_partition)) % count.max(1) as u32) as i32;
        match latest.iter_mut().find(|(p, _)| *p == r.source_partition) {
            Some(entry) => entry.1 = r.source_position.clone(),
            None => latest.push((r.source_partition.clone(), r.source_position.clone())),
        }
        let out = OutRecord {
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp_ms: r.timestamp_ms.unwrap_or(now),
        };
        let sourced = (out, r.source_partition, r.source_position);
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
        // The last record of each source partition in the batch carries its position, so a
        // restart can tell how far the topic got even if the offsets below were never stored.
        let mut marked: Vec<&[u8]> = Vec::new();
        let mut records: Vec<OutRecord> = Vec::with_capacity(sourced.len());
        for (record, source_partition, position) in sourced.iter().rev() {
            let mut record = record.clone();
            if !marked.contains(&source_partition.as_slice()) {
                marked.push(source_partition);
                record.headers.push(crate::offsets::source_header(
                    &ctx.connector.name,
                    source_partition,
                    position,
                ));
            }
            records.push(record);
        }
        records.reverse();
        let base = ctx
            .backend
            .append(&topic, partition, &records)
            .map_err(|e| TaskError::Retryable(e.to_string()))?;
        ends.push((topic, partition, base + records.len() as i64));
    }
    ctx.offsets
        .store(&ctx.connector.name, &latest, &ends)
        .map_err(|e| TaskError::Retryable(e.to_string()))?;
    match task.commit(latest) {
        Ok(()) | Err(TaskError::Retryable(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

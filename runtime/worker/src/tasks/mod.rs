//! Tasks: the threads that move records.
//!
//! - [`source`]: a source task polls its plugin, routes the records to topic partitions,
//!   encodes and produces them, and checkpoints its positions;
//! - [`sink`]: a sink task reads its topics as a consumer group, puts, flushes and commits;
//! - [`transform_stage`]: the transform chain, the same stage for both directions;
//! - [`retry_with_tolerance`]: retries, `errors.tolerance` and the dead letter queue.
//!
//! This module holds what every task kind shares: the restart loop with backoff, the config a
//! task opens with, and interruptible sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connectd_host::TaskError;

use crate::connectors::config::ConnectorConfig;
use crate::state::status::{State, Status, TaskStatus};

pub(crate) mod retry_with_tolerance;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod transform_stage;

/// First and largest wait before restarting a failed task.
const RESTART_BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));
/// Wait after a round that found nothing to do.
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(50);

pub(crate) fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(
            Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())),
        );
    }
}

/// Runs `once` until it returns `None` (stopped). A failure marks the task FAILED with its
/// reason and restarts it after a growing backoff, except an invalid config, which waits for
/// the config to change.
pub(crate) fn restart_loop(
    connector: &ConnectorConfig,
    task_id: u32,
    status: &Status,
    stop: &AtomicBool,
    mut once: impl FnMut() -> Option<TaskError>,
) {
    let mut backoff = RESTART_BACKOFF.0;
    let failures = crate::metrics::TaskMetrics::new(connector.name.as_str(), task_id).failures;
    while !stop.load(Ordering::Relaxed) {
        let Some(error) = once() else { break };
        failures.increment(1);
        status.set_by_task(
            stop,
            &connector.name,
            task_id,
            TaskStatus {
                state: State::Failed,
                trace: Some(connector.redact(&error.to_string())),
                plugin: connector.plugin.clone(),
                ..TaskStatus::default()
            },
        );
        if matches!(error, TaskError::InvalidConfig(_)) {
            return;
        }
        tracing::info!(connector = %connector.name, task = task_id, backoff_ms = backoff.as_millis() as u64, "restarting failed task after backoff");
        sleep_unless_stopped(stop, backoff);
        backoff = (backoff * 2).min(RESTART_BACKOFF.1);
    }
}

/// The config a task opens with: its connector's keys, then `task.id` (which task of
/// `tasks.max`), `tasks.max`, `worker.id` (the worker running it) and `task.generation` (the group
/// generation it runs under; 0 when not scaled out).
pub(crate) fn task_config(
    connector: &ConnectorConfig,
    task_id: u32,
    status: &Status,
) -> Vec<(String, String)> {
    let mut config = connector.connector_pairs();
    config.push(("task.id".into(), task_id.to_string()));
    config.push(("tasks.max".into(), connector.tasks_max.to_string()));
    config.push(("worker.id".into(), status.worker_id().to_string()));
    config.push(("task.generation".into(), status.generation().to_string()));
    config
}

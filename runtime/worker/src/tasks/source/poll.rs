//! The task thread: polls the plugin, hands each poll to the producer thread, and settles
//! each delivery (checkpoints its positions, commits them to the plugin) once it is back.

use std::sync::atomic::Ordering;

use connectd_host::{SourceTask, TaskError};
use connectd_records::SourceBatch;

use super::checkpoint::{Checkpoint, commit};
use super::route::Routing;
use super::{SourceTaskContext, deliver};
use crate::state::status::TaskStatus;
use crate::tasks::retry_with_tolerance::RetryWithTolerance;
use crate::tasks::transform_stage::Chain;
use crate::tasks::{IDLE_WAIT, sleep_unless_stopped};

/// Runs the task until it stops (`None`) or fails.
pub(super) fn run_once(ctx: &SourceTaskContext) -> Option<TaskError> {
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
    let config = crate::tasks::task_config(&ctx.connector, ctx.task_id, &ctx.status);
    let mut resume = ctx.offsets.resume(name);
    for (partition, position) in &counts.positions {
        match resume.iter_mut().find(|(p, _)| p == partition) {
            Some(entry) => entry.1 = position.clone(),
            None => resume.push((partition.clone(), position.clone())),
        }
    }
    let at: Vec<String> = resume
        .iter()
        .map(|(_, p)| crate::state::offsets::hex(p))
        .collect();
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
                let result = deliver(
                    ctx,
                    default_topic,
                    polled,
                    &mut routing,
                    &mut chain,
                    &mut errors,
                    producer.as_mut(),
                );
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
            // Stopped during the poll (paused, deleted, or its worker fenced from the group):
            // what it polled is not produced; its positions are not stored either, so the
            // task's next run, here or on another worker, polls it again.
            if ctx.stop.load(Ordering::Relaxed) {
                break None;
            }
            errors.metrics.records_in.increment(records.len() as u64);
            if !running {
                running = true;
                ctx.status.set_by_task(
                    &ctx.stop,
                    name,
                    ctx.task_id,
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

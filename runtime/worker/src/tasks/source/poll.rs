//! The task thread: polls the plugin, hands each poll to the producer thread, and settles
//! each delivery (checkpoints its positions, commits them to the plugin) once it is back.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use connectd_host::{SourceTask, TaskError};
use connectd_records::SourceBatch;

use super::checkpoint::{Checkpoint, Delivered, commit};
use super::route::Routing;
use super::{SourceTaskContext, deliver};
use crate::state::status::TaskStatus;
use crate::tasks::retry_with_tolerance::RetryWithTolerance;
use crate::tasks::transform_stage::Chain;
use crate::tasks::{IDLE_WAIT, sleep_unless_stopped};

/// Most polls a task's producer has on their way at once (each up to `poll.batch.size`
/// records); the task's next poll waits for room.
const MAX_IN_FLIGHT: usize = 16;

/// How long a stopping task waits for the acknowledgements of what it sent.
const STOP_WAIT: Duration = Duration::from_secs(120);

/// How long the producer waits for acknowledgements before looking for a new poll again.
const ACK_WAIT: Duration = Duration::from_millis(1);

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
    // The task's producer: transforms, encodes and sends the polls while the task polls the
    // next ones, as Kafka Connect's producer sends in the background. Each poll is one
    // delivery, reported back once durable, in order; its positions are committed to the
    // plugin and checkpointed only then, so a failure or a crash resumes from what reached the
    // topic. A polled batch not yet handed over when the task stops is dropped: its positions
    // were never stored, so the next start polls it again.
    std::thread::scope(|scope| {
        let (to_producer, polls) = std::sync::mpsc::sync_channel::<SourceBatch>(0);
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
            // Deliveries sent and not yet reported durable, oldest first.
            let mut sent: VecDeque<Delivered> = VecDeque::new();
            // Whether the task thread may still hand over polls.
            let mut open = true;
            // Since when the task is stopping with deliveries on their way.
            let mut stopping: Option<Instant> = None;
            loop {
                // The next poll: waited for when nothing is on its way, else taken if it is
                // there (and while fewer than MAX_IN_FLIGHT are on their way).
                let next = match sent.len() {
                    _ if !open => None,
                    0 => match polls.recv() {
                        Ok(polled) => Some(polled),
                        Err(_) => break, // the task is done, and nothing is on its way
                    },
                    n if n < MAX_IN_FLIGHT => match polls.try_recv() {
                        Ok(polled) => Some(polled),
                        Err(TryRecvError::Empty) => None,
                        Err(TryRecvError::Disconnected) => {
                            open = false;
                            None
                        }
                    },
                    _ => None,
                };
                if !open && sent.is_empty() {
                    break;
                }
                let took = next.is_some();
                if let Some(polled) = next {
                    // Stopped (paused, deleted, or fenced from the group) while the poll waited
                    // for room: it is not sent, as the task thread would not have sent it; an
                    // empty delivery keeps the order of what is reported back.
                    let delivered = match ctx.stop.load(Ordering::Relaxed) {
                        true => producer
                            .seal()
                            .map(|()| Delivered::nothing())
                            .map_err(|e| TaskError::Retryable(e.to_string())),
                        false => deliver(
                            ctx,
                            default_topic,
                            polled,
                            &mut routing,
                            &mut chain,
                            &mut errors,
                            producer.as_mut(),
                        ),
                    };
                    match delivered {
                        Ok(delivered) => sent.push_back(delivered),
                        Err(e) => {
                            let _ = results_tx.send(Err(e));
                            break;
                        }
                    }
                }
                // Waits for acknowledgements only when no poll was there to send.
                let wait = if took { Duration::ZERO } else { ACK_WAIT };
                match producer.durable(wait) {
                    Ok(done) => {
                        for ends in done {
                            let Some(mut delivered) = sent.pop_front() else {
                                break;
                            };
                            delivered.ends =
                                ends.into_iter().map(|(tp, end)| (tp, end.0)).collect();
                            if results_tx.send(Ok(delivered)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = results_tx.send(Err(TaskError::Retryable(e.to_string())));
                        break;
                    }
                }
                // A stopping task waits for its acknowledgements, but not for ever (a cluster
                // that stopped answering): librdkafka's own limit is `message.timeout.ms`.
                if !sent.is_empty() && ctx.stop.load(Ordering::Relaxed) {
                    let since = *stopping.get_or_insert_with(Instant::now);
                    if since.elapsed() > STOP_WAIT {
                        let _ = results_tx.send(Err(TaskError::Retryable(format!(
                            "stopped with records unacknowledged for {} s",
                            STOP_WAIT.as_secs()
                        ))));
                        break;
                    }
                }
            }
        });
        // Polls handed to the producer and not yet settled.
        let mut in_flight = 0usize;
        // Why the producer thread ended: the error it sent last, if any.
        let producer_gone =
            |results: &std::sync::mpsc::Receiver<Result<_, TaskError>>| match results.try_recv() {
                Ok(Err(e)) => e,
                _ => TaskError::Fatal("the task's producer stopped".into()),
            };
        // Checkpoints the deliveries reported durable; with `all`, waits for every one in flight.
        let mut settle =
            |task: &mut SourceTask, in_flight: &mut usize, all: bool| -> Result<(), TaskError> {
                while *in_flight > 0 {
                    let delivered = if all {
                        results.recv().map_err(|_| producer_gone(&results))?
                    } else {
                        match results.try_recv() {
                            Ok(d) => d,
                            Err(TryRecvError::Empty) => return Ok(()),
                            Err(TryRecvError::Disconnected) => return Err(producer_gone(&results)),
                        }
                    }?;
                    *in_flight -= 1;
                    checkpoint.add(delivered);
                    commit(task, checkpoint.store(ctx, false)?)?;
                }
                Ok(())
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
                if let Err(e) = settle(&mut task, &mut in_flight, true) {
                    break Some(e);
                }
                sleep_unless_stopped(&ctx.stop, IDLE_WAIT);
                continue;
            }
            if let Err(e) = settle(&mut task, &mut in_flight, false) {
                break Some(e);
            }
            if to_producer.send(records).is_err() {
                break Some(producer_gone(&results));
            }
            in_flight += 1;
        };
        let settled = settle(&mut task, &mut in_flight, true);
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

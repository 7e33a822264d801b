//! Kafka Connect's error handling for one task (its `RetryWithToleranceOperator`): retrying
//! retryable errors with backoff up to `errors.retry.timeout`, and, under
//! `errors.tolerance = "all"`, skipping bad records into the dead letter queue with
//! `__connect.errors.*` headers saying where they came from and why.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use connectd_host::TaskError;
use connectd_record_batch::ProducerRecord;
use connectd_records::{ConnectRecord, Header, TopicPartition};

use crate::backend::{self, Producer, TopicBackend};
use crate::connectors::config::ConnectorConfig;
use crate::metrics::TaskMetrics;
use crate::tasks::sleep_unless_stopped;

/// The first wait before a retry.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Where in the pipeline a record failed (Kafka Connect's `__connect.errors.stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// A transform refused it.
    Transformation,
    /// A sink's `put` refused it.
    TaskPut,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Transformation => "TRANSFORMATION",
            Stage::TaskPut => "TASK_PUT",
        }
    }
}

/// A record that failed, and why.
pub(crate) struct Failed {
    /// The record as it was before any transform.
    pub record: ProducerRecord,
    /// Where it was read from: topic, partition and offset (-1 for a source record, as Kafka
    /// Connect writes them).
    pub origin: (String, i32, i64),
    pub stage: Stage,
    /// The transform alias or the connector plugin that refused it.
    pub class: String,
    pub error: TaskError,
}

impl Failed {
    /// A record that failed at `stage`; it came from its own topic, partition and offset (-1
    /// for a source record not yet produced).
    pub(crate) fn new(r: ConnectRecord, stage: Stage, class: String, error: TaskError) -> Self {
        Failed {
            origin: (
                r.topic.clone(),
                r.partition.unwrap_or(-1),
                r.offset.unwrap_or(-1),
            ),
            record: ProducerRecord {
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp_ms: r.timestamp_ms,
            },
            stage,
            class,
            error,
        }
    }
}

/// One task's error handling.
pub(crate) struct RetryWithTolerance {
    connector: ConnectorConfig,
    task_id: u32,
    backend: Arc<dyn TopicBackend>,
    dlq_ready: bool,
    /// Writes the dead letter queue, made at the first dead letter.
    dlq_producer: Option<Box<dyn Producer>>,
    /// The task's metrics (retries, bad records and dead letters are counted here).
    pub(crate) metrics: TaskMetrics,
}

impl RetryWithTolerance {
    pub(crate) fn new(
        connector: &ConnectorConfig,
        task_id: u32,
        backend: Arc<dyn TopicBackend>,
    ) -> Self {
        RetryWithTolerance {
            connector: connector.clone(),
            task_id,
            backend,
            dlq_ready: false,
            dlq_producer: None,
            metrics: TaskMetrics::new(connector.name.as_str(), task_id),
        }
    }

    /// Calls `op` until it succeeds, retrying retryable errors with a doubling wait up to
    /// `errors.retry.delay.max.ms`, for at most `errors.retry.timeout`. A stop request ends the
    /// retries with the last error.
    pub(crate) fn retry<T>(
        &self,
        stop: &AtomicBool,
        what: &str,
        mut op: impl FnMut() -> Result<T, TaskError>,
    ) -> Result<T, TaskError> {
        let policy = &self.connector.errors;
        let started = Instant::now();
        let mut wait = FIRST_RETRY;
        loop {
            match op() {
                Err(TaskError::Retryable(m)) => {
                    let spent = started.elapsed().as_millis() as i64;
                    if policy.retry_timeout_ms >= 0 && spent >= policy.retry_timeout_ms {
                        return Err(TaskError::Fatal(format!(
                            "{what} still failing after {spent} ms (errors.retry.timeout = {}): {m}",
                            policy.retry_timeout_ms
                        )));
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(TaskError::Retryable(m));
                    }
                    if wait == FIRST_RETRY {
                        tracing::warn!(connector = %self.connector.name, task = self.task_id, reason = %self.connector.redact(&m), "{what} failed; retrying with backoff");
                    } else {
                        tracing::debug!(connector = %self.connector.name, task = self.task_id, reason = %self.connector.redact(&m), "retrying {what}");
                    }
                    self.metrics.retries.increment(1);
                    sleep_unless_stopped(stop, wait);
                    wait = (wait * 2).min(Duration::from_millis(policy.retry_delay_max_ms));
                }
                other => return other,
            }
        }
    }

    /// Deals with records that failed on their own: with `errors.tolerance = "all"`, a
    /// bad-record error is skipped (into the dead letter queue, if there is one); any other
    /// error, or any error under `"none"`, fails the task.
    pub(crate) fn handle(&mut self, failed: Vec<Failed>) -> Result<(), TaskError> {
        if failed.is_empty() {
            return Ok(());
        }
        let policy = &self.connector.errors;
        let mut dead = Vec::new();
        for f in failed {
            let tolerated = policy.tolerate_all && matches!(f.error, TaskError::BadRecord(_));
            if !tolerated {
                let (topic, partition, offset) = &f.origin;
                let hint = if matches!(f.error, TaskError::BadRecord(_)) {
                    " (set errors.tolerance = \"all\" to skip such records)"
                } else {
                    ""
                };
                return Err(match f.error {
                    TaskError::BadRecord(m) => TaskError::Fatal(format!(
                        "{} refused the record at {topic}/{partition}@{offset}: {m}{hint}",
                        f.class
                    )),
                    other => other,
                });
            }
            self.metrics.record_errors.increment(1);
            if policy.log_enable {
                tracing::warn!(connector = %self.connector.name, task = self.task_id, stage = f.stage.as_str(), class = %f.class, topic = %f.origin.0, partition = f.origin.1, offset = f.origin.2, error = %self.connector.redact(&f.error.to_string()), "skipping a bad record");
            }
            if policy.dlq_topic.is_some() {
                dead.push(self.dead_letter(f));
            }
        }
        if let Some(topic) = &self.connector.errors.dlq_topic
            && !dead.is_empty()
        {
            let to_retryable = |e: crate::error::Error| TaskError::Retryable(e.to_string());
            if !self.dlq_ready {
                self.backend
                    .admin()
                    .ensure_topic(topic, 1, &[])
                    .map_err(to_retryable)?;
                self.dlq_ready = true;
            }
            let producer = match &mut self.dlq_producer {
                Some(p) => p,
                None => self
                    .dlq_producer
                    .insert(self.backend.producer().map_err(to_retryable)?),
            };
            let tp = TopicPartition::new(topic.clone(), 0);
            backend::append(producer.as_mut(), &tp, &dead).map_err(to_retryable)?;
            self.metrics.dead_letters.increment(dead.len() as u64);
        }
        Ok(())
    }

    fn dead_letter(&self, f: Failed) -> ProducerRecord {
        let mut record = f.record;
        if self.connector.errors.dlq_context_headers {
            let (topic, partition, offset) = f.origin;
            let message = self.connector.redact(&match &f.error {
                TaskError::BadRecord(m) => m.clone(),
                other => other.to_string(),
            });
            let headers = [
                ("__connect.errors.topic", topic),
                ("__connect.errors.partition", partition.to_string()),
                ("__connect.errors.offset", offset.to_string()),
                (
                    "__connect.errors.connector.name",
                    self.connector.name.to_string(),
                ),
                ("__connect.errors.task.id", self.task_id.to_string()),
                ("__connect.errors.stage", f.stage.as_str().to_string()),
                ("__connect.errors.class.name", f.class),
                (
                    "__connect.errors.exception.class.name",
                    error_kind(&f.error).to_string(),
                ),
                ("__connect.errors.exception.message", message),
            ];
            record
                .headers
                .extend(headers.into_iter().map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.into_bytes(),
                }));
        }
        record
    }
}

fn error_kind(e: &TaskError) -> &'static str {
    match e {
        TaskError::InvalidConfig(_) => "invalid-config",
        TaskError::Retryable(_) => "retryable",
        TaskError::Fatal(_) => "fatal",
        TaskError::BadRecord(_) => "bad-record",
        TaskError::Trap(_) => "trap",
        TaskError::Grant(_) => "grant",
    }
}

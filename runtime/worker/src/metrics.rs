//! Task metrics, through the `metrics` facade: the binary installs a Prometheus recorder and
//! the REST API's `GET /metrics` renders it (with no recorder installed they cost nothing).
//! Names follow Prometheus' conventions; each is described in [`describe`].
//!
//! Handles are made once per task and updated once per batch, never per record.

use metrics::{Counter, Gauge, Histogram};

/// Records a source polled or a sink read.
const RECORDS_IN: &str = "connectd_task_records_in_total";
/// Records a source wrote to topics or a sink put.
const RECORDS_OUT: &str = "connectd_task_records_out_total";
/// Bytes of those records (keys, values and headers).
const BYTES_OUT: &str = "connectd_task_bytes_out_total";
/// Bad records: refused by a transform or a sink.
const RECORD_ERRORS: &str = "connectd_task_record_errors_total";
/// Retries of a retryable error.
const RETRIES: &str = "connectd_task_retries_total";
/// Records written to the dead letter queue.
const DEAD_LETTERS: &str = "connectd_task_dead_letter_records_total";
/// Times the task failed (and restarted).
const FAILURES: &str = "connectd_task_failures_total";
/// How long one batch took: a source's produce and fsync, a sink's put and flush.
const BATCH_SECONDS: &str = "connectd_task_batch_duration_seconds";
/// Records in a sink's partition not yet read.
const SINK_LAG: &str = "connectd_sink_lag_records";

/// Describes every worker metric to the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        RECORDS_IN,
        "Records a source task polled or a sink task read."
    );
    describe_counter!(
        RECORDS_OUT,
        "Records a source task wrote to topics or a sink task put."
    );
    describe_counter!(
        BYTES_OUT,
        "Bytes of the records counted in connectd_task_records_out_total."
    );
    describe_counter!(
        RECORD_ERRORS,
        "Records a transform or a sink refused as bad."
    );
    describe_counter!(RETRIES, "Retries of retryable errors.");
    describe_counter!(DEAD_LETTERS, "Records sent to the dead letter queue.");
    describe_counter!(FAILURES, "Times a task failed and was restarted.");
    describe_histogram!(
        BATCH_SECONDS,
        metrics::Unit::Seconds,
        "Time to write one batch: a source's produce (and, in-process, its fsync; over the wire it is acknowledged later), a sink's transforms and put."
    );
    describe_gauge!(SINK_LAG, "Records in a sink task's partition not yet read.");
}

/// One task's metrics.
#[derive(Clone)]
pub(crate) struct TaskMetrics {
    connector: String,
    pub records_in: Counter,
    pub records_out: Counter,
    pub bytes_out: Counter,
    pub record_errors: Counter,
    pub retries: Counter,
    pub dead_letters: Counter,
    pub failures: Counter,
    pub batch_seconds: Histogram,
}

impl TaskMetrics {
    pub(crate) fn new(connector: &str, task: u32) -> Self {
        let labels = [
            ("connector", connector.to_string()),
            ("task", task.to_string()),
        ];
        TaskMetrics {
            connector: connector.to_string(),
            records_in: metrics::counter!(RECORDS_IN, &labels),
            records_out: metrics::counter!(RECORDS_OUT, &labels),
            bytes_out: metrics::counter!(BYTES_OUT, &labels),
            record_errors: metrics::counter!(RECORD_ERRORS, &labels),
            retries: metrics::counter!(RETRIES, &labels),
            dead_letters: metrics::counter!(DEAD_LETTERS, &labels),
            failures: metrics::counter!(FAILURES, &labels),
            batch_seconds: metrics::histogram!(BATCH_SECONDS, &labels),
        }
    }

    /// The lag gauge of one partition a sink task reads.
    pub(crate) fn sink_lag(&self, tp: &connectd_records::TopicPartition) -> Gauge {
        metrics::gauge!(
            SINK_LAG,
            "connector" => self.connector.clone(),
            "topic" => tp.topic.clone(),
            "partition" => tp.partition.to_string()
        )
    }
}

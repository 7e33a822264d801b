//! `lake-sink`: topics into Parquet or JSON-lines files in a data lake (a local folder, S3 or
//! an S3-compatible store, HDFS, GCS, Azure), in Hive-style folders, exactly once, like
//! Confluent's S3 and HDFS sink connectors. Every key is declared, with its documentation,
//! in [`LakeSinkConfig`] (the README's "Data lake" table is generated from it).
//!
//! - Files are named `<topics.dir>/<topic>/<folders>/<topic>+<partition>+<first offset, 20
//!   digits>.<parquet|json>` and written through the host's `object-store` as uploads that
//!   appear whole when complete (S3 multipart, a renamed temporary file on a local disk).
//! - Record values are JSON objects (Kafka Connect's `{"schema", "payload"}` envelope is
//!   unwrapped). Their schema is declared (`schema`) or inferred; a new field starts a new file
//!   with the wider schema; a changed type is a bad record (dead letter queue, or the task
//!   fails under `errors.tolerance = none`).
//! - The group commits, per partition, the first offset of the oldest open file (the sink's
//!   `pre_commit`), so a restart replays exactly what no completed file holds and writes the
//!   same files again (see [`writer`]).

mod columns;
mod dictionary;
mod file;
mod infer;
mod partitioner;
mod settings;
mod writer;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;

use connectd_sdk::object_store::{Bucket, StoreError};
use connectd_sdk::{
    Config, Configurable, ConnectorError, Descriptor, Offset, Sink, SinkBatch, TopicPartition,
};

use settings::Settings;
use writer::PartitionWriter;

pub use settings::LakeSinkConfig;

/// The lake-sink task.
pub struct LakeSink {
    settings: Settings,
    bucket: Bucket,
    partitions: HashMap<(String, i32), PartitionWriter>,
}

/// What a failed open of the store means for the task: refused keys and a missing bucket
/// fail it (restarted with backoff, so a fix outside the config is picked up), an unreachable
/// store is retried, a wrong URL or option is config to fix.
fn opening(url: &str, e: StoreError) -> ConnectorError {
    let text = format!("store.url {url}: {e}");
    match e {
        StoreError::Invalid(_) => ConnectorError::InvalidConfig(text),
        StoreError::Unreachable(_) | StoreError::Other(_) => ConnectorError::Retryable(text),
        StoreError::Denied(_) | StoreError::NoBucket(_) | StoreError::NotFound(_) => {
            ConnectorError::Fatal(text)
        }
    }
}

/// The payload of a Kafka Connect JSON envelope (`{"schema": ..., "payload": ...}`), or the
/// value as it is.
pub(crate) fn unwrap_envelope(json: &[u8]) -> Cow<'_, [u8]> {
    if !json.trim_ascii_start().starts_with(b"{\"schema\"") {
        return Cow::Borrowed(json);
    }
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(mut m)) if m.len() == 2 && m.contains_key("payload") => {
            let payload = m.remove("payload").unwrap_or_default();
            Cow::Owned(serde_json::to_vec(&payload).unwrap_or_default())
        }
        _ => Cow::Borrowed(json),
    }
}

impl Sink for LakeSink {
    fn describe() -> Descriptor {
        Descriptor::sink(
            "lake-sink",
            env!("CARGO_PKG_VERSION"),
            &LakeSinkConfig::schema(),
        )
    }

    fn open(config: Config) -> Result<Self, ConnectorError> {
        let settings = Settings::read(&config)?;
        let bucket = Bucket::open(&settings.store_url, &settings.store_options)
            .map_err(|e| opening(&settings.store_url, e))?;
        Ok(LakeSink {
            settings,
            bucket,
            partitions: HashMap::new(),
        })
    }

    fn put(&mut self, batch: &SinkBatch) -> Result<(), ConnectorError> {
        let LakeSink {
            settings,
            bucket,
            partitions,
        } = self;
        let mut result = Ok(());
        let mut current: Option<&mut PartitionWriter> = None;
        for record in batch.iter() {
            // Batches come partition by partition: look the writer up once per run.
            let writer = match current.take() {
                Some(w) if w.is(record.topic(), record.partition()) => w,
                _ => partitions
                    .entry((record.topic().to_string(), record.partition()))
                    .or_insert_with(|| PartitionWriter::new(record.topic(), record.partition())),
            };
            if let Err(e) = writer.put(settings, bucket, &record) {
                result = Err(e);
                break;
            }
            current = Some(writer);
        }
        result
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        for writer in self.partitions.values_mut() {
            writer.rotate_on_schedule(&self.settings)?;
        }
        Ok(())
    }

    fn pre_commit(&mut self) -> Option<Vec<(TopicPartition, Offset)>> {
        Some(
            self.partitions
                .iter()
                .filter_map(|((topic, partition), w)| {
                    Some((
                        TopicPartition::new(topic.clone(), *partition),
                        Offset(w.committable()?),
                    ))
                })
                .collect(),
        )
    }
}

impl Drop for LakeSink {
    fn drop(&mut self) {
        for writer in self.partitions.values_mut() {
            writer.abort();
        }
    }
}

connectd_sdk::export_sink!(LakeSink);

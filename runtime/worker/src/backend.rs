//! How the worker reaches topics. [`TopicBackend`] is the one interface; [`Embedded`] is the
//! in-process implementation over connectd's own broker. A Kafka (rdkafka) implementation
//! slots in beside it for `mode = "kafka"`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use connectd_broker::Broker;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::{Error, Result};

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutRecord {
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

impl From<connectd_host::SinkRecord> for OutRecord {
    fn from(r: connectd_host::SinkRecord) -> Self {
        OutRecord {
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp_ms: r.timestamp_ms,
        }
    }
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRecord {
    /// Its offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

/// The worker's view of a topic store.
pub trait TopicBackend: Send + Sync {
    /// Creates the topic if it does not exist; returns its partition count.
    fn ensure_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32>;
    /// Appends records to one partition, durably, in order. Returns the first offset.
    fn append(&self, topic: &str, partition: i32, records: &[OutRecord]) -> Result<i64>;
    /// Every record of a partition from `from` on (for replaying internal topics).
    fn read_from(&self, topic: &str, partition: i32, from: i64) -> Result<Vec<InRecord>> {
        let mut out = Vec::new();
        let mut offset = from;
        loop {
            let (records, next) = self.read(topic, partition, offset, 1 << 20)?;
            if records.is_empty() {
                return Ok(out);
            }
            out.extend(records);
            offset = next;
        }
    }
    /// Records of a partition from `from`, about `max_bytes` of them, and the next offset to
    /// read. An offset below the log start reads from the log start.
    fn read(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max_bytes: usize,
    ) -> Result<(Vec<InRecord>, i64)>;
    /// Partitions of a topic, if it exists.
    fn partitions(&self, topic: &str) -> Option<i32>;
    /// A consumer group's committed offset for one partition.
    fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64>;
    /// Durably commits consumer-group offsets (next offset to read, per partition).
    fn commit(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()>;
}

/// The in-process backend: connectd's embedded broker.
pub struct Embedded {
    broker: Arc<Broker>,
}

impl Embedded {
    /// A backend over `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        Embedded { broker }
    }
}

impl TopicBackend for Embedded {
    fn ensure_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32> {
        if let Some(t) = self.broker.topics().get(name) {
            return Ok(t.partition_count());
        }
        let configs: BTreeMap<String, String> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match self
            .broker
            .topics()
            .create(name, partitions, configs, false)
        {
            Ok(t) => Ok(t.partition_count()),
            // Created meanwhile by someone else.
            Err(_) if self.broker.topics().get(name).is_some() => Ok(self
                .broker
                .topics()
                .get(name)
                .map(|t| t.partition_count())
                .unwrap_or(partitions)),
            Err(e) => Err(Error::Backend(format!("creating topic {name}: {e}"))),
        }
    }

    fn append(&self, topic: &str, partition: i32, records: &[OutRecord]) -> Result<i64> {
        let batch = encode(records)?;
        let info = self
            .broker
            .produce(topic, partition, &batch)
            .map_err(|e| Error::Backend(format!("producing to {topic}/{partition}: {e}")))?;
        Ok(info.base_offset)
    }

    fn read(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max_bytes: usize,
    ) -> Result<(Vec<InRecord>, i64)> {
        let Some(log) = self
            .broker
            .topics()
            .get(topic)
            .and_then(|t| t.partition(partition))
        else {
            return Ok((Vec::new(), from));
        };
        let from = from.max(log.log_start_offset());
        let read = log
            .read(from, max_bytes)
            .map_err(|e| Error::Backend(format!("reading {topic}/{partition}: {e}")))?;
        let Some(mut bytes) = read.records else {
            return Ok((Vec::new(), from));
        };
        let sets = RecordBatchDecoder::decode_all(&mut bytes)
            .map_err(|e| Error::Backend(format!("decoding {topic}/{partition}: {e}")))?;
        let mut out = Vec::new();
        let mut next = from;
        for record in sets.into_iter().flat_map(|s| s.records) {
            next = record.offset + 1;
            if record.offset < from {
                continue; // the first batch may start before the requested offset
            }
            out.push(InRecord {
                offset: record.offset,
                key: record.key.map(|b| b.to_vec()),
                value: record.value.map(|b| b.to_vec()),
                headers: record
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.map(|b| b.to_vec()).unwrap_or_default()))
                    .collect(),
                timestamp_ms: record.timestamp,
            });
        }
        Ok((out, next))
    }

    fn partitions(&self, topic: &str) -> Option<i32> {
        self.broker.topics().get(topic).map(|t| t.partition_count())
    }

    fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.broker.committed_offset(group, topic, partition)
    }

    fn commit(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()> {
        self.broker
            .commit_offsets(group, offsets)
            .map_err(|e| Error::Backend(format!("committing offsets of {group}: {e}")))
    }
}

/// Encodes records as one uncompressed RecordBatch v2 (one batch, so one append is all or
/// nothing, and the last record's `connectd.source` marker covers every record before it).
pub fn encode(records: &[OutRecord]) -> Result<Bytes> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch wherever offset minus sequence changes, so the
            // sequence counts up with the offset from the batch's base sequence, -1 (none):
            // one batch for all the records, not one per record.
            sequence: i as i32 - 1,
            timestamp: r.timestamp_ms,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        StrBytes::from_string(k.clone()),
                        Some(Bytes::from(v.clone())),
                    )
                })
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| Error::Backend(format!("encoding records: {e}")))?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_encode_as_one_batch() {
        let records: Vec<OutRecord> = (0..50)
            .map(|i| OutRecord {
                value: Some(format!("v{i}").into_bytes()),
                timestamp_ms: 1_700_000_000_000 + i,
                ..Default::default()
            })
            .collect();
        let mut bytes = encode(&records).unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        assert_eq!(sets.len(), 1, "one batch");
        assert_eq!(sets[0].records.len(), 50);
        assert!(sets[0].records.iter().all(|r| r.producer_id == -1));
    }
}

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
}

/// The worker's view of a topic store.
pub trait TopicBackend: Send + Sync {
    /// Creates the topic if it does not exist; returns its partition count.
    fn ensure_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32>;
    /// Appends records to one partition, durably, in order. Returns the first offset.
    fn append(&self, topic: &str, partition: i32, records: &[OutRecord]) -> Result<i64>;
    /// Every record of a partition from `from` on (for replaying internal topics).
    fn read_from(&self, topic: &str, partition: i32, from: i64) -> Result<Vec<InRecord>>;
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

    fn read_from(&self, topic: &str, partition: i32, from: i64) -> Result<Vec<InRecord>> {
        let Some(log) = self
            .broker
            .topics()
            .get(topic)
            .and_then(|t| t.partition(partition))
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut offset = from.max(log.log_start_offset());
        loop {
            let read = log
                .read(offset, 1 << 20)
                .map_err(|e| Error::Backend(format!("reading {topic}/{partition}: {e}")))?;
            let Some(mut bytes) = read.records else { break };
            let sets = RecordBatchDecoder::decode_all(&mut bytes)
                .map_err(|e| Error::Backend(format!("decoding {topic}/{partition}: {e}")))?;
            for record in sets.into_iter().flat_map(|s| s.records) {
                offset = record.offset + 1;
                if record.offset >= from {
                    out.push(InRecord {
                        offset: record.offset,
                        key: record.key.map(|b| b.to_vec()),
                        value: record.value.map(|b| b.to_vec()),
                        headers: record
                            .headers
                            .into_iter()
                            .map(|(k, v)| {
                                (k.to_string(), v.map(|b| b.to_vec()).unwrap_or_default())
                            })
                            .collect(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Encodes records as one uncompressed RecordBatch v2.
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
            sequence: -1,
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

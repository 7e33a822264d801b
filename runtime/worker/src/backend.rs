//! How the worker reaches topics. [`TopicBackend`] is the one interface; [`Embedded`] is the
//! in-process implementation over connectd's own broker. A Kafka (rdkafka) implementation
//! slots in beside it for `mode = "kafka"`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use connectd_broker::Broker;
use connectd_host::{SinkBatch, sdk::SinkEntry};
use connectd_log::BatchHeader;
use connectd_log::records::{BatchBuilder, RecordReader};
use kafka_protocol::records::RecordBatchDecoder;

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
    /// Appends one uncompressed RecordBatch v2 (built with [`BatchBuilder`]) to one
    /// partition, durably. Returns the offset of its first record.
    fn append_batch(&self, topic: &str, partition: i32, batch: &[u8]) -> Result<i64>;
    /// Like [`TopicBackend::append_batch`], but durable only once [`TopicBackend::sync`] of
    /// the partition returns, so that several appends share one sync.
    fn append_batch_deferred(&self, topic: &str, partition: i32, batch: &[u8]) -> Result<i64> {
        self.append_batch(topic, partition, batch)
    }
    /// Makes the deferred appends to a partition durable.
    fn sync(&self, _topic: &str, _partition: i32) -> Result<()> {
        Ok(())
    }
    /// Appends records to one partition, durably, in order, as one batch (all or nothing).
    /// Returns the first offset.
    fn append(&self, topic: &str, partition: i32, records: &[OutRecord]) -> Result<i64> {
        self.append_batch(topic, partition, &encode(records))
    }
    /// Adds the records of a partition from `from` on, about `max_bytes` of them, to `into`;
    /// returns the next offset to read. An offset below the log start reads from the log
    /// start.
    fn read_batch(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max_bytes: usize,
        into: &mut SinkBatch,
    ) -> Result<i64>;
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
    /// Records of a partition from `from`, about `max_bytes` of them, owned, and the next
    /// offset to read.
    fn read(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max_bytes: usize,
    ) -> Result<(Vec<InRecord>, i64)> {
        let mut batch = SinkBatch::default();
        let next = self.read_batch(topic, partition, from, max_bytes, &mut batch)?;
        let records = connectd_host::SinkRecord::from_batch(&batch)
            .into_iter()
            .map(|r| InRecord {
                offset: r.offset,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp_ms: r.timestamp_ms,
            })
            .collect();
        Ok((records, next))
    }
    /// A number that grows with every append to any topic ([`TopicBackend::wait_for_append`]).
    fn append_count(&self) -> u64 {
        0
    }
    /// Waits until something is appended after `seen` ([`TopicBackend::append_count`]), at
    /// most `timeout`: a reader that has caught up waits here instead of sleeping, and wakes
    /// as soon as there is more (Kafka's fetch long poll). Default: sleeps `timeout`.
    fn wait_for_append(&self, _seen: u64, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }
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

    fn append_batch(&self, topic: &str, partition: i32, batch: &[u8]) -> Result<i64> {
        let info = self
            .broker
            .produce(topic, partition, batch)
            .map_err(|e| Error::Backend(format!("producing to {topic}/{partition}: {e}")))?;
        Ok(info.base_offset)
    }

    fn append_batch_deferred(&self, topic: &str, partition: i32, batch: &[u8]) -> Result<i64> {
        let info = self
            .broker
            .produce_deferred(topic, partition, batch)
            .map_err(|e| Error::Backend(format!("producing to {topic}/{partition}: {e}")))?;
        Ok(info.base_offset)
    }

    fn sync(&self, topic: &str, partition: i32) -> Result<()> {
        self.broker
            .sync(topic, partition)
            .map_err(|e| Error::Backend(format!("syncing {topic}/{partition}: {e}")))
    }

    fn read_batch(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max_bytes: usize,
        into: &mut SinkBatch,
    ) -> Result<i64> {
        let Some(log) = self
            .broker
            .topics()
            .get(topic)
            .and_then(|t| t.partition(partition))
        else {
            return Ok(from);
        };
        let from = from.max(log.log_start_offset());
        let read = log
            .read(from, max_bytes)
            .map_err(|e| Error::Backend(format!("reading {topic}/{partition}: {e}")))?;
        let Some(bytes) = read.records else {
            return Ok(from);
        };
        decode_into(&bytes, from, topic, partition, into)
            .map_err(|e| Error::Backend(format!("decoding {topic}/{partition}: {e}")))
    }

    fn append_count(&self) -> u64 {
        self.broker.append_count()
    }

    fn wait_for_append(&self, seen: u64, timeout: std::time::Duration) {
        self.broker.wait_for_append(seen, timeout)
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
pub fn encode(records: &[OutRecord]) -> Vec<u8> {
    let mut builder = BatchBuilder::default();
    for r in records {
        builder.push(
            r.timestamp_ms,
            r.key.as_deref(),
            r.value.as_deref(),
            r.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())),
        );
    }
    builder.finish()
}

/// Adds the records at offset `from` and later of stored batches (`bytes`, as the log returns
/// them) to `into`; returns the offset after the last batch. An uncompressed batch is read in
/// place, its bytes copied into the batch's data once; a compressed one is decompressed by
/// kafka-protocol first. Control batches are skipped.
pub fn decode_into(
    bytes: &Bytes,
    from: i64,
    topic: &str,
    partition: i32,
    into: &mut SinkBatch,
) -> std::result::Result<i64, String> {
    let topic_name = topic;
    let topic = into.topic_index(topic);
    let mut next = from;
    let mut at = 0;
    while at < bytes.len() {
        let header = BatchHeader::parse(&bytes[at..]).map_err(|e| e.to_string())?;
        let range = at..at + header.size;
        if range.end > bytes.len() {
            break; // a partial batch at the end of the read
        }
        at = range.end;
        next = next.max(header.last_offset() + 1);
        if header.attributes & 0x20 != 0 {
            continue; // control batch (transaction markers)
        }
        if header.codec() == 0 {
            // The reader's ranges index `bytes`; the batch lands at `base` in `into.data`.
            let (base, origin) = (into.data.len(), range.start);
            into.data.extend_from_slice(&bytes[range.clone()]);
            for record in RecordReader::new(bytes, range, header.record_count) {
                let record = record.map_err(|e| e.to_string())?;
                let offset = header.base_offset + record.offset_delta;
                if offset < from {
                    continue; // the first batch may start before the requested offset
                }
                let span = |r: Option<std::ops::Range<usize>>| match r {
                    None => connectd_host::Span::NONE,
                    Some(r) => connectd_host::Span {
                        start: (base + r.start - origin) as u32,
                        len: r.len() as i32,
                    },
                };
                let headers_start = into.headers.len() as u32;
                for (k, v) in record.headers {
                    into.headers.push(connectd_host::sdk::HeaderSpan {
                        key: span(Some(k)),
                        value: span(Some(v.unwrap_or(0..0))),
                    });
                }
                into.records.push(SinkEntry {
                    topic,
                    partition,
                    offset,
                    timestamp_ms: header.base_timestamp + record.timestamp_delta,
                    key: span(record.key),
                    value: span(record.value),
                    headers_start,
                    headers_len: into.headers.len() as u32 - headers_start,
                });
            }
        } else {
            let mut one = bytes.slice(range);
            let set = RecordBatchDecoder::decode(&mut one).map_err(|e| e.to_string())?;
            for r in set.records.iter().filter(|r| r.offset >= from) {
                into.push_parts(
                    topic_name,
                    partition,
                    r.offset,
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    r.headers
                        .iter()
                        .map(|(k, v)| (k.as_bytes(), v.as_deref().unwrap_or_default())),
                );
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;

    fn records() -> Vec<OutRecord> {
        (0..50)
            .map(|i| OutRecord {
                key: (i % 2 == 0).then(|| format!("k{i}").into_bytes()),
                value: Some(format!("v{i}").into_bytes()),
                headers: vec![("h".into(), vec![i as u8])],
                timestamp_ms: 1_700_000_000_000 + i,
            })
            .collect()
    }

    #[test]
    fn records_encode_as_one_batch_that_kafka_protocol_reads() {
        let records = records();
        let mut bytes = Bytes::from(encode(&records));
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        assert_eq!(sets.len(), 1, "one batch");
        assert_eq!(sets[0].records.len(), 50);
        for (r, want) in sets[0].records.iter().zip(&records) {
            assert_eq!(r.producer_id, -1);
            assert_eq!(r.key.as_deref(), want.key.as_deref());
            assert_eq!(r.value.as_deref(), want.value.as_deref());
            assert_eq!(r.timestamp, want.timestamp_ms);
            assert_eq!(
                r.headers[&b"h"[..]].as_deref(),
                Some(&want.headers[0].1[..])
            );
        }
    }

    #[test]
    fn stored_batches_decode_from_an_offset_compressed_or_not() {
        let records = records();
        let mut plain = encode(&records[..30]);
        connectd_log::batch::set_base_offset(&mut plain, 100);
        // A gzip batch written by kafka-protocol's encoder, as a client would send it.
        let gz: Vec<Record> = records[30..]
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
                offset: 130 + i as i64,
                sequence: -1,
                timestamp: r.timestamp_ms,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: Default::default(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::Gzip,
        };
        RecordBatchEncoder::encode(&mut buf, &gz, &options).unwrap();
        plain.extend_from_slice(&buf);
        // And an uncompressed batch after the compressed one: its records lie mid-read.
        let mut last = encode(&records[..5]);
        connectd_log::batch::set_base_offset(&mut last, 150);
        plain.extend_from_slice(&last);
        let mut batch = SinkBatch::default();
        let next = decode_into(&Bytes::from(plain), 110, "t", 3, &mut batch).unwrap();
        assert_eq!(next, 155);
        let got = batch.to_records();
        assert_eq!(got.len(), 45);
        for (r, want) in got[40..].iter().zip(&records[..5]) {
            assert_eq!(r.value, want.value);
            assert_eq!(r.headers[0].value, want.headers[0].1);
        }
        for (r, (offset, want)) in got.iter().zip((110..).zip(&records[10..])) {
            assert_eq!((r.topic.as_str(), r.partition, r.offset), ("t", 3, offset));
            assert_eq!(r.key, want.key);
            assert_eq!(r.value, want.value);
            assert_eq!(r.timestamp_ms, want.timestamp_ms);
        }
        assert_eq!(got[0].headers[0].value, [10]);
    }
}

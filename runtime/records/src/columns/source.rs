//! [`SourceBatch`]: what a source task's poll returns.

use super::span::{
    HeaderSpan, Span, header_list, header_spans, intern, put, put_headers, same_bytes,
};
use crate::SourceRecord;

/// A source partition of one [`SourceBatch`], from [`SourceBatch::source_partition_index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePartitionIndex(u32);

/// One record of a [`SourceBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceEntry {
    /// Index into the batch's `topics`, or -1 for the connector's `topic`.
    pub topic: i32,
    /// Key.
    pub key: Span,
    /// Value.
    pub value: Span,
    /// First of this record's headers in the batch's `headers`.
    pub headers_start: u32,
    /// How many headers.
    pub headers_len: u32,
    /// Milliseconds since the Unix epoch; `None` lets the host stamp it.
    pub timestamp_ms: Option<i64>,
    /// Index into the batch's `source_partitions`.
    pub source_partition: u32,
    /// Where to resume after this record.
    pub source_position: Span,
}

/// What a source task's poll returns. Fill it with [`SourceBatch::push_value`] (and friends)
/// or [`SourceBatch::push`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceBatch {
    /// Every key, value, header and position of the batch.
    pub data: Vec<u8>,
    /// The records, in order.
    pub records: Vec<SourceEntry>,
    /// Headers of all records.
    pub headers: Vec<HeaderSpan>,
    /// Source partitions the records name.
    pub source_partitions: Vec<Vec<u8>>,
    /// Topics the records name.
    pub topics: Vec<String>,
}

impl SourceBatch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch has no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn source_partition(&mut self, partition: &[u8]) -> u32 {
        // Polls mostly come from one source partition: look at the last one first.
        if let Some(last) = self.source_partitions.last()
            && same_bytes(last, partition)
        {
            return (self.source_partitions.len() - 1) as u32;
        }
        match self.source_partitions.iter().position(|p| p == partition) {
            Some(i) => i as u32,
            None => {
                self.source_partitions.push(partition.to_vec());
                (self.source_partitions.len() - 1) as u32
            }
        }
    }

    /// Adds a record with a value, no key, no headers, stamped by the host, for the connector's
    /// topic, which resumes at `position` of `source_partition`.
    pub fn push_value(&mut self, value: &[u8], source_partition: &[u8], position: &[u8]) {
        self.push_keyed(None, value, source_partition, position);
    }

    /// `source_partition` as an index into this batch's partitions, added if new: for a poll
    /// that pushes many records of one partition with [`SourceBatch::push_value_to`], without
    /// comparing the partition's bytes per record.
    pub fn source_partition_index(&mut self, source_partition: &[u8]) -> SourcePartitionIndex {
        SourcePartitionIndex(self.source_partition(source_partition))
    }

    /// Like [`SourceBatch::push_value`], for a partition of this batch already looked up.
    pub fn push_value_to(
        &mut self,
        partition: SourcePartitionIndex,
        value: &[u8],
        position: &[u8],
    ) {
        debug_assert!((partition.0 as usize) < self.source_partitions.len());
        let value = put(&mut self.data, Some(value));
        let source_position = put(&mut self.data, Some(position));
        self.records.push(SourceEntry {
            topic: -1,
            key: Span::NONE,
            value,
            headers_start: self.headers.len() as u32,
            headers_len: 0,
            timestamp_ms: None,
            source_partition: partition.0,
            source_position,
        });
    }

    /// Like [`SourceBatch::push_value`], with a key.
    pub fn push_keyed(
        &mut self,
        key: Option<&[u8]>,
        value: &[u8],
        source_partition: &[u8],
        position: &[u8],
    ) {
        let partition = self.source_partition_index(source_partition);
        let key = put(&mut self.data, key);
        self.push_value_to(partition, value, position);
        self.records.last_mut().expect("just pushed").key = key;
    }

    /// Adds an owned record.
    pub fn push(&mut self, record: SourceRecord) {
        let source_partition = self.source_partition(&record.source_partition);
        let topic = match &record.topic {
            None => -1,
            Some(t) => intern(&mut self.topics, t) as i32,
        };
        let key = put(&mut self.data, record.key.as_deref());
        let value = put(&mut self.data, record.value.as_deref());
        let (headers_start, headers_len) = put_headers(
            &mut self.data,
            &mut self.headers,
            record
                .headers
                .iter()
                .map(|h| (h.key.as_bytes(), h.value.as_slice())),
        );
        let source_position = put(&mut self.data, Some(&record.source_position));
        self.records.push(SourceEntry {
            topic,
            key,
            value,
            headers_start,
            headers_len,
            timestamp_ms: record.timestamp_ms,
            source_partition,
            source_position,
        });
    }

    /// The bytes of `span` (see [`Span::get`]).
    pub fn bytes(&self, span: Span) -> Option<&[u8]> {
        span.get(&self.data)
    }

    /// The header spans of `entry`.
    pub fn headers_of(&self, entry: &SourceEntry) -> &[HeaderSpan] {
        header_spans(&self.headers, entry.headers_start, entry.headers_len)
    }

    /// The source partition `entry` names.
    pub fn source_partition_of(&self, entry: &SourceEntry) -> &[u8] {
        self.source_partitions
            .get(entry.source_partition as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The topic `entry` names, or `None` for the connector's.
    pub fn topic_of(&self, entry: &SourceEntry) -> Option<&str> {
        usize::try_from(entry.topic)
            .ok()
            .and_then(|i| self.topics.get(i))
            .map(String::as_str)
    }

    /// One owned record.
    pub fn record(&self, entry: &SourceEntry) -> SourceRecord {
        SourceRecord {
            topic: self.topic_of(entry).map(str::to_string),
            key: self.bytes(entry.key).map(<[u8]>::to_vec),
            value: self.bytes(entry.value).map(<[u8]>::to_vec),
            headers: header_list(
                &self.data,
                &self.headers,
                entry.headers_start,
                entry.headers_len,
            ),
            timestamp_ms: entry.timestamp_ms,
            source_partition: self.source_partition_of(entry).to_vec(),
            source_position: self
                .bytes(entry.source_position)
                .unwrap_or_default()
                .to_vec(),
        }
    }

    /// Every record, owned.
    pub fn to_records(&self) -> Vec<SourceRecord> {
        self.records.iter().map(|e| self.record(e)).collect()
    }
}

impl FromIterator<SourceRecord> for SourceBatch {
    fn from_iter<I: IntoIterator<Item = SourceRecord>>(records: I) -> Self {
        let mut batch = SourceBatch::default();
        for r in records {
            batch.push(r);
        }
        batch
    }
}

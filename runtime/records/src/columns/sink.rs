//! [`SinkBatch`]: what a sink task's put receives, read in place through [`SinkRecordRef`].

use super::span::{HeaderSpan, Span, header_list, header_spans, intern, put, put_headers};
use crate::SinkRecord;

/// One record of a [`SinkBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkEntry {
    /// Index into the batch's `topics`.
    pub topic: u32,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// Key.
    pub key: Span,
    /// Value.
    pub value: Span,
    /// First of this record's headers in the batch's `headers`.
    pub headers_start: u32,
    /// How many headers.
    pub headers_len: u32,
}

/// What a sink task's put receives: records in offset order within each partition. Read it
/// with [`SinkBatch::iter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkBatch {
    /// Every key, value and header of the batch.
    pub data: Vec<u8>,
    /// The records.
    pub records: Vec<SinkEntry>,
    /// Headers of all records.
    pub headers: Vec<HeaderSpan>,
    /// Topics the records name.
    pub topics: Vec<String>,
}

impl SinkBatch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch has no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Empties the batch, keeping its buffers for the next records.
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
        self.headers.clear();
        self.topics.clear();
    }

    /// The index of `topic` in `topics`, added if new.
    pub fn topic_index(&mut self, topic: &str) -> u32 {
        intern(&mut self.topics, topic) as u32
    }

    /// Adds a record from its parts, copying its bytes into the batch; `topic` is its topic's
    /// index from [`SinkBatch::topic_index`], so a reader looks a topic up once for many
    /// records.
    #[allow(clippy::too_many_arguments)]
    pub fn push_parts<'a>(
        &mut self,
        topic: u32,
        partition: i32,
        offset: i64,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        debug_assert!((topic as usize) < self.topics.len());
        let key = put(&mut self.data, key);
        let value = put(&mut self.data, value);
        let (headers_start, headers_len) = put_headers(&mut self.data, &mut self.headers, headers);
        self.records.push(SinkEntry {
            topic,
            partition,
            offset,
            timestamp_ms,
            key,
            value,
            headers_start,
            headers_len,
        });
    }

    /// Adds an owned record.
    pub fn push(&mut self, record: &SinkRecord) {
        let topic = self.topic_index(&record.topic);
        self.push_parts(
            topic,
            record.partition,
            record.offset,
            record.timestamp_ms,
            record.key.as_deref(),
            record.value.as_deref(),
            record
                .headers
                .iter()
                .map(|h| (h.key.as_bytes(), h.value.as_slice())),
        );
    }

    /// The records, borrowed.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SinkRecordRef<'_>> {
        self.records
            .iter()
            .map(move |entry| SinkRecordRef { batch: self, entry })
    }

    /// Every record, owned.
    pub fn to_records(&self) -> Vec<SinkRecord> {
        self.iter().map(|r| r.to_record()).collect()
    }
}

impl<'a> FromIterator<&'a SinkRecord> for SinkBatch {
    fn from_iter<I: IntoIterator<Item = &'a SinkRecord>>(records: I) -> Self {
        let mut batch = SinkBatch::default();
        for r in records {
            batch.push(r);
        }
        batch
    }
}

/// A record of a [`SinkBatch`], borrowed.
#[derive(Debug, Clone, Copy)]
pub struct SinkRecordRef<'a> {
    batch: &'a SinkBatch,
    entry: &'a SinkEntry,
}

impl<'a> SinkRecordRef<'a> {
    /// Topic it was read from.
    pub fn topic(&self) -> &'a str {
        self.batch
            .topics
            .get(self.entry.topic as usize)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Partition it was read from.
    pub fn partition(&self) -> i32 {
        self.entry.partition
    }

    /// Its offset.
    pub fn offset(&self) -> i64 {
        self.entry.offset
    }

    /// Timestamp, ms since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.entry.timestamp_ms
    }

    /// Key, if any.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.entry.key.get(&self.batch.data)
    }

    /// Value, if not null.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.entry.value.get(&self.batch.data)
    }

    /// Headers: key and value, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let data = &self.batch.data;
        header_spans(
            &self.batch.headers,
            self.entry.headers_start,
            self.entry.headers_len,
        )
        .iter()
        .map(move |h| {
            (
                h.key.get(data).unwrap_or_default(),
                h.value.get(data).unwrap_or_default(),
            )
        })
    }

    /// The record, owned.
    pub fn to_record(&self) -> SinkRecord {
        SinkRecord {
            topic: self.topic().to_string(),
            partition: self.partition(),
            offset: self.offset(),
            key: self.key().map(<[u8]>::to_vec),
            value: self.value().map(<[u8]>::to_vec),
            headers: header_list(
                &self.batch.data,
                &self.batch.headers,
                self.entry.headers_start,
                self.entry.headers_len,
            ),
            timestamp_ms: self.timestamp_ms(),
        }
    }
}

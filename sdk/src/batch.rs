//! Record batches as they cross the component boundary: one flat byte buffer (`data`) and, per
//! record, where its key, value, headers and position lie in it ([`Span`]s). A batch of any
//! size then crosses as a handful of copies, where a list of records would cost several
//! allocations and copies per record on each side. Mirrors the WIT's `source-batch` and
//! `sink-batch`.
//!
//! Connectors that only need convenience implement [`crate::Source::poll`] and
//! [`crate::Sink::put`] with owned records, and the SDK converts. Connectors that move a lot of
//! data write into a [`SourceBatch`] ([`crate::Source::poll_batch`]) and read a [`SinkBatch`]
//! through borrowed [`SinkRecordRef`]s ([`crate::Sink::put_batch`]).

use crate::{Header, SinkRecord, SourceRecord};

/// Where one byte string lies in a batch's `data`: `len` bytes from `start`; `len == -1` is an
/// absent key or a null value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte in `data`.
    pub start: u32,
    /// Length in bytes, or -1 for none.
    pub len: i32,
}

impl Span {
    /// An absent key, or a null value.
    pub const NONE: Span = Span { start: 0, len: -1 };

    /// The bytes this span covers in `data`; `None` for [`Span::NONE`] or a span outside
    /// `data` (a malformed batch).
    pub fn get(self, data: &[u8]) -> Option<&[u8]> {
        let len = usize::try_from(self.len).ok()?;
        let start = self.start as usize;
        data.get(start..start.checked_add(len)?)
    }
}

/// A source partition of one [`SourceBatch`], from [`SourceBatch::source_partition_index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePartitionIndex(u32);

/// A header of a batched record: key (UTF-8) and value, in the batch's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSpan {
    /// Header key.
    pub key: Span,
    /// Header value.
    pub value: Span,
}

/// Appends `bytes` to `data`, returning where they went.
fn put(data: &mut Vec<u8>, bytes: Option<&[u8]>) -> Span {
    match bytes {
        None => Span::NONE,
        Some(b) => {
            let span = Span {
                start: data.len() as u32,
                len: b.len() as i32,
            };
            data.extend_from_slice(b);
            span
        }
    }
}

fn put_headers<'a>(
    data: &mut Vec<u8>,
    headers: &mut Vec<HeaderSpan>,
    items: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> (u32, u32) {
    let start = headers.len();
    for (key, value) in items {
        let key = put(data, Some(key));
        let value = put(data, Some(value));
        headers.push(HeaderSpan { key, value });
    }
    (start as u32, (headers.len() - start) as u32)
}

/// The index of `topic` in `topics`, added if new.
fn intern(topics: &mut Vec<String>, topic: &str) -> usize {
    match topics.iter().rposition(|t| t == topic) {
        Some(i) => i,
        None => {
            topics.push(topic.to_string());
            topics.len() - 1
        }
    }
}

fn header_list(data: &[u8], headers: &[HeaderSpan], start: u32, len: u32) -> Vec<Header> {
    header_spans(headers, start, len)
        .iter()
        .map(|h| Header {
            key: String::from_utf8_lossy(h.key.get(data).unwrap_or_default()).into_owned(),
            value: h.value.get(data).unwrap_or_default().to_vec(),
        })
        .collect()
}

fn header_spans(headers: &[HeaderSpan], start: u32, len: u32) -> &[HeaderSpan] {
    let start = start as usize;
    headers
        .get(start..start.saturating_add(len as usize))
        .unwrap_or_default()
}

/// `a == b`, eight bytes at a time. Slice equality calls `memcmp`, which in a WebAssembly
/// guest is wasi-libc's byte-by-byte loop, once per record for the source partition.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails = a8.remainder() == b8.remainder();
    tails
        && a8.zip(b8).all(|(x, y)| {
            u64::from_ne_bytes(x.try_into().unwrap()) == u64::from_ne_bytes(y.try_into().unwrap())
        })
}

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

    /// The index of `topic` in `topics`, added if new.
    pub fn topic_index(&mut self, topic: &str) -> u32 {
        intern(&mut self.topics, topic) as u32
    }

    /// Adds a record from its parts, copying its bytes into the batch.
    #[allow(clippy::too_many_arguments)]
    pub fn push_parts<'a>(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        let topic = self.topic_index(topic);
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
        self.push_parts(
            &record.topic,
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

/// A [`SourceBatch`] column by column, as the WIT's `source-batch` carries it: every column a
/// list of numbers, so it crosses the component boundary in bulk copies. Spans are pairs
/// (start, length), headers quadruples. Not for connectors: the SDK and the host convert.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceColumns {
    pub data: Vec<u8>,
    pub topic: Vec<i32>,
    pub key: Vec<i32>,
    pub value: Vec<i32>,
    pub header_range: Vec<u32>,
    pub headers: Vec<i32>,
    pub timestamp: Vec<i64>,
    pub source_partition: Vec<u32>,
    pub source_position: Vec<i32>,
    pub source_partitions: Vec<Vec<u8>>,
    pub topics: Vec<String>,
}

/// A [`SinkBatch`] column by column, as the WIT's `sink-batch` carries it.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkColumns {
    pub data: Vec<u8>,
    pub topic: Vec<u32>,
    pub partition: Vec<i32>,
    pub offset: Vec<i64>,
    pub timestamp: Vec<i64>,
    pub key: Vec<i32>,
    pub value: Vec<i32>,
    pub header_range: Vec<u32>,
    pub headers: Vec<i32>,
    pub topics: Vec<String>,
}

// The conversions below run once per batch on each side of the component boundary (the
// guest's copies are compiled to WebAssembly). They are written as whole-column passes over
// slices (`collect` from zipped slice iterators, no per-element `push`), which compile to
// tight loops without a capacity or bounds check per record.

/// A span as its (start, length) column pair.
fn pair(s: Span) -> [i32; 2] {
    [s.start as i32, s.len]
}

/// A span from its column pair, whose start `spans` has checked.
fn span(p: &[i32; 2]) -> Span {
    Span {
        start: p[0] as u32,
        len: p[1],
    }
}

/// The (start, length) pairs of a column whose length was checked to be even; a negative
/// start is refused.
fn spans<'a>(what: &str, column: &'a [i32]) -> Result<&'a [[i32; 2]], String> {
    let (pairs, _) = column.as_chunks::<2>();
    if pairs.iter().any(|p| p[0] < 0) {
        return Err(format!("column `{what}`: a negative start"));
    }
    Ok(pairs)
}

fn headers_out(headers: &[HeaderSpan]) -> Vec<i32> {
    headers
        .iter()
        .map(|h| {
            [
                h.key.start as i32,
                h.key.len,
                h.value.start as i32,
                h.value.len,
            ]
        })
        .collect::<Vec<_>>()
        .into_flattened()
}

fn headers_in(quads: &[i32]) -> Result<Vec<HeaderSpan>, String> {
    let (quads, _) = quads.as_chunks::<4>();
    if quads.iter().any(|q| q[0] < 0 || q[2] < 0) {
        return Err("a header span has a negative start".to_string());
    }
    Ok(quads
        .iter()
        .map(|q| HeaderSpan {
            key: span(&[q[0], q[1]]),
            value: span(&[q[2], q[3]]),
        })
        .collect())
}

fn check_len(what: &str, len: usize, want: usize) -> Result<(), String> {
    if len == want {
        Ok(())
    } else {
        Err(format!(
            "column `{what}` has {len} entries, expected {want}"
        ))
    }
}

/// One column of a batch's records, collected in one pass.
fn column<E, T>(records: &[E], f: impl Fn(&E) -> T) -> Vec<T> {
    records.iter().map(f).collect()
}

/// A column of span pairs, collected in one pass.
fn pair_column<E>(records: &[E], f: impl Fn(&E) -> Span) -> Vec<i32> {
    records
        .iter()
        .map(|e| pair(f(e)))
        .collect::<Vec<_>>()
        .into_flattened()
}

/// The key column: empty when no record has a key.
fn key_column<E>(records: &[E], key: impl Fn(&E) -> Span) -> Vec<i32> {
    if records.iter().all(|e| key(e) == Span::NONE) {
        Vec::new()
    } else {
        pair_column(records, key)
    }
}

/// The header-range column: empty when the batch has no headers at all.
fn header_range_column<E>(
    records: &[E],
    headers: &[HeaderSpan],
    range: impl Fn(&E) -> [u32; 2],
) -> Vec<u32> {
    if headers.is_empty() {
        Vec::new()
    } else {
        column(records, range).into_flattened()
    }
}

/// Sets a field of every record from an optional column (an empty column leaves the
/// defaults).
fn fill<E, T>(records: &mut [E], column: &[T], set: impl Fn(&mut E, &T)) {
    for (e, v) in records.iter_mut().zip(column) {
        set(e, v);
    }
}

/// Checks a column that holds `per_record` entries per record, or none at all (every record
/// has the default).
fn check_optional(what: &str, len: usize, n: usize, per_record: usize) -> Result<(), String> {
    if len == 0 {
        Ok(())
    } else {
        check_len(what, len, per_record * n)
    }
}

impl SourceBatch {
    /// The batch column by column. A column in which every record has the default (the
    /// connector's topic, no key, no headers, the host's timestamp) is left empty, which the
    /// WIT contract allows: less to copy across the boundary for the common record.
    #[doc(hidden)]
    pub fn into_columns(self) -> SourceColumns {
        let r = &self.records;
        let all = |f: fn(&SourceEntry) -> bool| r.iter().all(f);
        SourceColumns {
            topic: if all(|e| e.topic == -1) {
                Vec::new()
            } else {
                column(r, |e| e.topic)
            },
            key: key_column(r, |e| e.key),
            value: pair_column(r, |e| e.value),
            header_range: header_range_column(r, &self.headers, |e| {
                [e.headers_start, e.headers_len]
            }),
            headers: headers_out(&self.headers),
            timestamp: if all(|e| e.timestamp_ms.is_none()) {
                Vec::new()
            } else {
                column(r, |e| e.timestamp_ms.unwrap_or(i64::MIN))
            },
            source_partition: column(r, |e| e.source_partition),
            source_position: pair_column(r, |e| e.source_position),
            data: self.data,
            source_partitions: self.source_partitions,
            topics: self.topics,
        }
    }

    /// The batch from its columns; an error names the column that does not fit.
    #[doc(hidden)]
    pub fn from_columns(c: SourceColumns) -> Result<SourceBatch, String> {
        if !c.value.len().is_multiple_of(2) {
            return Err(format!(
                "column `value` has {} entries, expected two per record",
                c.value.len()
            ));
        }
        let n = c.value.len() / 2;
        check_optional("topic", c.topic.len(), n, 1)?;
        check_optional("key", c.key.len(), n, 2)?;
        check_optional("header-range", c.header_range.len(), n, 2)?;
        check_optional("timestamp", c.timestamp.len(), n, 1)?;
        check_len("source-partition", c.source_partition.len(), n)?;
        check_len("source-position", c.source_position.len(), 2 * n)?;
        let mut records: Vec<SourceEntry> = spans("value", &c.value)?
            .iter()
            .zip(&c.source_partition)
            .zip(spans("source-position", &c.source_position)?)
            .map(|((value, partition), position)| SourceEntry {
                topic: -1,
                key: Span::NONE,
                value: span(value),
                headers_start: 0,
                headers_len: 0,
                timestamp_ms: None,
                source_partition: *partition,
                source_position: span(position),
            })
            .collect();
        fill(&mut records, &c.topic, |e, topic| e.topic = *topic);
        fill(&mut records, spans("key", &c.key)?, |e, key| {
            e.key = span(key)
        });
        fill(&mut records, c.header_range.as_chunks::<2>().0, |e, r| {
            (e.headers_start, e.headers_len) = (r[0], r[1])
        });
        fill(&mut records, &c.timestamp, |e, t| {
            e.timestamp_ms = Some(*t).filter(|t| *t != i64::MIN)
        });
        Ok(SourceBatch {
            data: c.data,
            records,
            headers: headers_in(&c.headers)?,
            source_partitions: c.source_partitions,
            topics: c.topics,
        })
    }
}

impl SinkBatch {
    /// The batch column by column, except `data` (left empty): the caller lends the batch's
    /// own buffer for the call.
    #[doc(hidden)]
    pub fn to_columns_without_data(&self) -> SinkColumns {
        let r = &self.records;
        SinkColumns {
            data: Vec::new(),
            // Empty when every record has the default: the only topic, no key, no headers.
            topic: if self.topics.len() <= 1 {
                Vec::new()
            } else {
                column(r, |e| e.topic)
            },
            partition: column(r, |e| e.partition),
            offset: column(r, |e| e.offset),
            timestamp: column(r, |e| e.timestamp_ms),
            key: key_column(r, |e| e.key),
            value: pair_column(r, |e| e.value),
            header_range: header_range_column(r, &self.headers, |e| {
                [e.headers_start, e.headers_len]
            }),
            headers: headers_out(&self.headers),
            topics: self.topics.clone(),
        }
    }

    /// The batch from its columns; an error names the column that does not fit.
    #[doc(hidden)]
    pub fn from_columns(c: SinkColumns) -> Result<SinkBatch, String> {
        let n = c.offset.len();
        check_optional("topic", c.topic.len(), n, 1)?;
        check_len("partition", c.partition.len(), n)?;
        check_len("timestamp", c.timestamp.len(), n)?;
        check_optional("key", c.key.len(), n, 2)?;
        check_len("value", c.value.len(), 2 * n)?;
        check_optional("header-range", c.header_range.len(), n, 2)?;
        if c.topic.is_empty() && n > 0 && c.topics.len() != 1 {
            return Err(format!(
                "column `topic` is empty, which needs exactly one entry in `topics`, not {}",
                c.topics.len()
            ));
        }
        let mut records: Vec<SinkEntry> = c
            .partition
            .iter()
            .zip(&c.offset)
            .zip(&c.timestamp)
            .zip(spans("value", &c.value)?)
            .map(|(((partition, offset), timestamp), value)| SinkEntry {
                topic: 0,
                partition: *partition,
                offset: *offset,
                timestamp_ms: *timestamp,
                key: Span::NONE,
                value: span(value),
                headers_start: 0,
                headers_len: 0,
            })
            .collect();
        fill(&mut records, &c.topic, |e, topic| e.topic = *topic);
        fill(&mut records, spans("key", &c.key)?, |e, key| {
            e.key = span(key)
        });
        fill(&mut records, c.header_range.as_chunks::<2>().0, |e, r| {
            (e.headers_start, e.headers_len) = (r[0], r[1])
        });
        Ok(SinkBatch {
            data: c.data,
            records,
            headers: headers_in(&c.headers)?,
            topics: c.topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink_columns(batch: &SinkBatch) -> SinkColumns {
        SinkColumns {
            data: batch.data.clone(),
            ..batch.to_columns_without_data()
        }
    }

    #[test]
    fn source_records_round_trip() {
        let records = vec![
            SourceRecord {
                topic: Some("other".into()),
                key: Some(b"k".to_vec()),
                value: None,
                headers: vec![Header {
                    key: "h".into(),
                    value: b"v".to_vec(),
                }],
                timestamp_ms: Some(5),
                source_partition: b"a".to_vec(),
                source_position: b"1".to_vec(),
            },
            SourceRecord::new(b"x".to_vec(), b"b".to_vec(), b"2".to_vec()),
            SourceRecord::new(Vec::new(), b"a".to_vec(), b"3".to_vec()),
        ];
        let batch: SourceBatch = records.iter().cloned().collect();
        assert_eq!(batch.source_partitions, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(batch.to_records(), records);
        let mut fast = SourceBatch::default();
        fast.push_value(b"x", b"b", b"2");
        assert_eq!(fast.to_records(), records[1..2]);
    }

    #[test]
    fn sink_records_round_trip() {
        let records = vec![
            SinkRecord {
                topic: "t".into(),
                partition: 2,
                offset: 7,
                key: None,
                value: Some(b"hello".to_vec()),
                headers: vec![Header {
                    key: "h".into(),
                    value: vec![],
                }],
                timestamp_ms: 9,
            },
            SinkRecord {
                topic: "u".into(),
                value: None,
                ..Default::default()
            },
        ];
        let batch: SinkBatch = records.iter().collect();
        assert_eq!(batch.to_records(), records);
        let first = batch.iter().next().unwrap();
        assert_eq!(first.value(), Some(&b"hello"[..]));
        assert_eq!(first.headers().collect::<Vec<_>>(), [(&b"h"[..], &b""[..])]);
    }

    #[test]
    fn batches_survive_their_columns() {
        let source: SourceBatch = [
            SourceRecord {
                topic: Some("t".into()),
                key: Some(b"k".to_vec()),
                headers: vec![Header {
                    key: "h".into(),
                    value: b"v".to_vec(),
                }],
                timestamp_ms: Some(-5),
                ..SourceRecord::new(b"x".to_vec(), b"p".to_vec(), b"1".to_vec())
            },
            SourceRecord::new(b"y".to_vec(), b"q".to_vec(), b"2".to_vec()),
        ]
        .into_iter()
        .collect();
        let back = SourceBatch::from_columns(source.clone().into_columns()).unwrap();
        assert_eq!(back, source);
        let sink: SinkBatch = source
            .to_records()
            .into_iter()
            .enumerate()
            .map(|(i, r)| SinkRecord {
                topic: "t".into(),
                partition: i as i32,
                offset: 10 + i as i64,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp_ms: 3,
            })
            .collect::<Vec<_>>()
            .iter()
            .collect();
        assert_eq!(SinkBatch::from_columns(sink_columns(&sink)).unwrap(), sink);
        let mut short = sink_columns(&sink);
        short.partition.pop();
        let err = SinkBatch::from_columns(short).unwrap_err();
        assert!(err.contains("`partition`"), "{err}");
        let mut plain = SinkBatch::default();
        for (offset, value) in [b"a", b"b"].iter().enumerate() {
            plain.push_parts(
                "t",
                0,
                offset as i64,
                5,
                None,
                Some(&value[..]),
                std::iter::empty(),
            );
        }
        let columns = sink_columns(&plain);
        assert!(columns.topic.is_empty() && columns.key.is_empty());
        assert!(columns.header_range.is_empty());
        assert_eq!(SinkBatch::from_columns(columns).unwrap(), plain);
        let mut negative = sink_columns(&sink);
        negative.value[2] = -1;
        let err = SinkBatch::from_columns(negative).unwrap_err();
        assert!(err.contains("`value`: a negative start"), "{err}");
        let mut negative = source.clone().into_columns();
        negative.source_position[0] = -7;
        let err = SourceBatch::from_columns(negative).unwrap_err();
        assert!(err.contains("`source-position`"), "{err}");
        // Columns in which every record has the default cross empty, and come back as defaults.
        let mut plain = SourceBatch::default();
        plain.push_value(b"a", b"p", b"1");
        plain.push_value(b"b", b"q", b"2");
        let columns = plain.clone().into_columns();
        assert!(columns.topic.is_empty() && columns.key.is_empty());
        assert!(columns.header_range.is_empty() && columns.timestamp.is_empty());
        assert_eq!(SourceBatch::from_columns(columns).unwrap(), plain);
        let mut odd = plain.into_columns();
        odd.value.pop();
        let err = SourceBatch::from_columns(odd).unwrap_err();
        assert!(err.contains("`value`"), "{err}");
        let mut negative = source.into_columns();
        negative.headers[2] = -3;
        let err = SourceBatch::from_columns(negative).unwrap_err();
        assert!(err.contains("header"), "{err}");
    }

    #[test]
    fn same_bytes_is_slice_equality() {
        let long = b"/var/log/some/long/path/file.log".to_vec();
        for (a, b) in [
            (&long[..], &long[..]),
            (&long[..], &long[..31]),
            (&b"abcdefgh1"[..], &b"abcdefgh2"[..]),
            (&b"abcdefgh1"[..], &b"abcdefgX1"[..]),
            (&b""[..], &b""[..]),
            (&b"short"[..], &b"shorT"[..]),
        ] {
            assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
        }
    }

    #[test]
    fn spans_outside_the_data_read_as_none() {
        let span = Span { start: 3, len: 4 };
        assert_eq!(span.get(b"abcdef"), None);
        assert_eq!(Span::NONE.get(b"abc"), None);
        assert_eq!(Span { start: 1, len: 0 }.get(b"abc"), Some(&b""[..]));
    }
}

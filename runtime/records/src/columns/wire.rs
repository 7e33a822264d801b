//! The WIT form of both batches: every column a list of numbers, so a batch crosses the
//! component boundary in bulk copies.

use super::sink::{SinkBatch, SinkEntry};
use super::source::{SourceBatch, SourceEntry};
use super::span::{HeaderSpan, Span};

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

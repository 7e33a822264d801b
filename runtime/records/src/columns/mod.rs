//! Record batches as they cross the component boundary: one flat byte buffer (`data`) and, per
//! record, where its key, value, headers and position lie in it ([`Span`]s). A batch of any
//! size then crosses as a handful of copies, where a list of records would cost several
//! allocations and copies per record on each side. Mirrors the WIT's `source-batch` and
//! `sink-batch`.
//!
//! A source's poll fills a [`SourceBatch`]: with owned records ([`SourceBatch::push`]), or, with
//! no allocation per record, straight from its parts ([`SourceBatch::push_value`] and its
//! friends). A sink's put reads a [`SinkBatch`] through borrowed [`SinkRecordRef`]s
//! ([`SinkBatch::iter`]) or owned records ([`SinkBatch::to_records`]).
//!
//! Files by purpose: [`span`] (where bytes lie in `data`), [`source`] and [`sink`] (the two
//! batches and their records), [`wire`] (the column form the WIT carries).

mod sink;
mod source;
mod span;
mod wire;

pub use sink::{SinkBatch, SinkEntry, SinkRecordRef};
pub use source::{SourceBatch, SourceEntry, SourcePartitionIndex};
pub use span::{HeaderSpan, Span};
pub use wire::{SinkColumns, SourceColumns};

#[cfg(test)]
mod tests {
    use super::span::same_bytes;
    use super::*;
    use crate::{Header, SinkRecord, SourceRecord};

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
            let topic = plain.topic_index("t");
            plain.push_parts(
                topic,
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

//! [`ProducerBatch`]: records bound for one topic partition, as a producer hands them over.

use std::ops::Range;

use super::{BatchBuilder, BatchHeader, RecordReader};
use crate::Result;
use connectd_records::Header;

/// Records bound for one topic partition, in order, all or nothing (Kafka's producer batch).
/// They are kept as the uncompressed RecordBatch v2 they will be stored as, so the embedded
/// broker appends them with no further copy, and a Kafka client reads them in place
/// ([`ProducerBatch::records`]) to send them through its own producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerBatch {
    bytes: Vec<u8>,
    count: usize,
}

/// A record to produce, owned (Kafka's `ProducerRecord`, less the topic and partition, which
/// the batch it goes into has).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One record of a [`ProducerBatch`], borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecordRef<'a> {
    /// Record timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// Key, if any.
    pub key: Option<&'a [u8]>,
    /// Value, or `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers: key and value, in order.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

impl ProducerBatch {
    /// The records added to `builder`.
    pub fn new(builder: BatchBuilder) -> Self {
        let count = builder.len();
        ProducerBatch {
            bytes: builder.finish(),
            count,
        }
    }

    /// Owned records as one batch.
    pub fn from_records(records: &[ProducerRecord]) -> Self {
        let mut builder = BatchBuilder::default();
        for r in records {
            builder.push(
                r.timestamp_ms,
                r.key.as_deref(),
                r.value.as_deref(),
                r.headers
                    .iter()
                    .map(|h| (h.key.as_bytes(), h.value.as_slice())),
            );
        }
        Self::new(builder)
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch has no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The batch as one RecordBatch v2 (base offset 0, no producer id).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The records, read in place.
    pub fn records(&self) -> Result<Vec<ProducerRecordRef<'_>>> {
        let header = BatchHeader::parse(&self.bytes)?;
        let at = |r: Option<Range<usize>>| r.map(|r| &self.bytes[r]);
        RecordReader::new(&self.bytes, 0..self.bytes.len(), header.record_count)
            .map(|r| {
                let r = r?;
                Ok(ProducerRecordRef {
                    timestamp_ms: header.base_timestamp + r.timestamp_delta,
                    key: at(r.key),
                    value: at(r.value),
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (&self.bytes[k], at(v).unwrap_or_default()))
                        .collect(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_pushed() {
        let mut b = BatchBuilder::default();
        b.push(
            7,
            Some(b"k"),
            Some(b"v"),
            [(&b"h"[..], &b"x"[..])].into_iter(),
        );
        b.push(9, None, None, std::iter::empty());
        let batch = ProducerBatch::new(b);
        assert_eq!(batch.len(), 2);
        let records = batch.records().unwrap();
        assert_eq!(
            records[0],
            ProducerRecordRef {
                timestamp_ms: 7,
                key: Some(b"k"),
                value: Some(b"v"),
                headers: vec![(b"h", b"x")],
            }
        );
        assert_eq!((records[1].timestamp_ms, records[1].value), (9, None));
        assert_eq!(
            BatchHeader::parse_checked(batch.as_bytes())
                .unwrap()
                .record_count,
            2
        );
    }
}

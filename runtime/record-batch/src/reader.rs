//! The records inside an uncompressed RecordBatch v2, read in place ([`RecordReader`]) with
//! no allocation per record.
//!
//! The worker produces and consumes millions of small records a second through the embedded
//! broker. kafka-protocol's record codec needs an owned `Record` (with `Bytes` fields and a
//! header map) per record on both sides; at 100-byte records that bookkeeping cost more than
//! the data itself. Record layout, from Kafka's `DefaultRecord` (varints are zigzag LEB128):
//!
//! ```text
//! length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! keyLength varint (-1: null), key, valueLength varint (-1: null), value,
//! headerCount varint, then per header: keyLength varint, key, valueLength varint, value
//! ```
//!
//! Compressed batches are not read here: open them first with [`super::uncompressed`], which
//! decompresses with a bound.

use std::ops::Range;

use super::decompress::{MAX_DECOMPRESSED, uncompressed};
use super::header::{HEADER_LEN, split_batches};
use crate::{Error, Result};

/// One record read in place: its fields as ranges of the buffer given to [`RecordReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    /// Offset delta from the batch's base offset.
    pub offset_delta: i64,
    /// Timestamp delta from the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Key, or `None` when null.
    pub key: Option<Range<usize>>,
    /// Value, or `None` when null.
    pub value: Option<Range<usize>>,
    /// Headers: key and value (`None` when null).
    pub headers: Vec<(Range<usize>, Option<Range<usize>>)>,
    /// The whole record, its length prefix included (a compacting log copies records whole).
    pub range: Range<usize>,
}

/// Reads the records of an uncompressed batch in place.
pub struct RecordReader<'a> {
    buf: &'a [u8],
    at: usize,
    end: usize,
    left: i32,
}

impl<'a> RecordReader<'a> {
    /// The records of the batch that is exactly `buf[range]` (header included). Ranges it
    /// yields index `buf`.
    pub fn new(buf: &'a [u8], range: Range<usize>, record_count: i32) -> Self {
        RecordReader {
            buf,
            at: range.start + HEADER_LEN,
            end: range.end,
            left: record_count,
        }
    }

    fn varint(&mut self) -> Result<i64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.at).filter(|_| self.at < self.end) else {
                return Err(corrupt("varint runs past the batch"));
            };
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        Err(corrupt("varint longer than 10 bytes"))
    }

    fn bytes(&mut self) -> Result<Option<Range<usize>>> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let start = self.at;
        let end = start
            .checked_add(len as usize)
            .filter(|e| *e <= self.end)
            .ok_or_else(|| corrupt("field runs past the batch"))?;
        self.at = end;
        Ok(Some(start..end))
    }

    fn record(&mut self) -> Result<RecordView> {
        let start = self.at;
        let length = self.varint()?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| self.at.checked_add(l))
            .filter(|e| *e <= self.end)
            .ok_or_else(|| corrupt("record runs past the batch"))?;
        self.at += 1; // attributes
        let timestamp_delta = self.varint()?;
        let offset_delta = self.varint()?;
        let key = self.bytes()?;
        let value = self.bytes()?;
        let count = self.varint()?;
        let mut headers = Vec::new();
        for _ in 0..count.max(0) {
            let k = self.bytes()?.ok_or_else(|| corrupt("null header key"))?;
            headers.push((k, self.bytes()?));
        }
        if self.at != end {
            return Err(corrupt("record length does not match its fields"));
        }
        Ok(RecordView {
            offset_delta,
            timestamp_delta,
            key,
            value,
            headers,
            range: start..end,
        })
    }
}

impl Iterator for RecordReader<'_> {
    type Item = Result<RecordView>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        let r = self.record();
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

/// The positions (from 0, counted across every batch of `records`) of the records whose key
/// is null. A compacted topic refuses them, as Kafka's broker does: compaction keeps one record
/// per key, and a record without one could never be kept or removed.
pub fn keyless_records(records: &[u8]) -> Result<Vec<i32>> {
    let mut keyless = Vec::new();
    let mut index = 0;
    for (header, range) in split_batches(records)? {
        let batch = uncompressed(&header, &records[range], MAX_DECOMPRESSED)?;
        for record in RecordReader::new(&batch, 0..batch.len(), header.record_count) {
            if record?.key.is_none() {
                keyless.push(index);
            }
            index += 1;
        }
    }
    Ok(keyless)
}

fn corrupt(what: &str) -> Error {
    Error::CorruptBatch(format!("record: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchBuilder, BatchHeader};

    #[test]
    fn keyless_records_are_counted_across_batches() {
        let mut first = BatchBuilder::default();
        first.push(1, Some(b"k"), Some(b"v"), std::iter::empty());
        first.push(1, None, Some(b"v"), std::iter::empty());
        let mut second = BatchBuilder::default();
        second.push(1, None, None, std::iter::empty());
        second.push(1, Some(b""), None, std::iter::empty());
        let set = [first.finish(), second.finish()].concat();
        assert_eq!(keyless_records(&set).unwrap(), vec![1, 2]);
        assert!(keyless_records(&set[..set.len() - 1]).is_err());
    }

    #[test]
    fn built_records_read_back_in_place() {
        let mut b = BatchBuilder::default();
        b.push(1_000, None, Some(b"first"), std::iter::empty());
        let headers = [(&b"h1"[..], &b"v1"[..]), (&b"h2"[..], &b""[..])];
        b.push(990, Some(b"key"), None, headers.iter().copied());
        let big = vec![7u8; 300];
        b.push(1_005, Some(b""), Some(&big), std::iter::empty());
        let batch = b.finish();
        let header = BatchHeader::parse_checked(&batch).unwrap();
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.base_timestamp, 1_000);
        assert_eq!(header.max_timestamp, 1_005);
        let records: Vec<RecordView> = RecordReader::new(&batch, 0..batch.len(), 3)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            records[0].value.clone().map(|r| &batch[r]),
            Some(&b"first"[..])
        );
        assert_eq!(records[0].key, None);
        assert_eq!(records[1].timestamp_delta, -10);
        assert_eq!(records[1].offset_delta, 1);
        assert_eq!(records[1].key.clone().map(|r| &batch[r]), Some(&b"key"[..]));
        assert_eq!(records[1].value, None);
        let h: Vec<_> = records[1]
            .headers
            .iter()
            .map(|(k, v)| (&batch[k.clone()], v.clone().map(|v| &batch[v])))
            .collect();
        assert_eq!(
            h,
            [(&b"h1"[..], Some(&b"v1"[..])), (&b"h2"[..], Some(&b""[..]))]
        );
        assert_eq!(records[2].value.clone().map(|r| batch[r].len()), Some(300));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let mut b = BatchBuilder::default();
        b.push(1, Some(b"k"), Some(b"value"), std::iter::empty());
        let batch = b.finish();
        for cut in HEADER_LEN..batch.len() {
            let read: Vec<_> = RecordReader::new(&batch[..cut], 0..cut, 1).collect();
            assert!(read[0].is_err(), "cut at {cut}");
        }
    }
}

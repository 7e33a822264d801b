//! The records inside an uncompressed RecordBatch v2: writing them ([`BatchBuilder`]) and
//! reading them in place ([`RecordReader`]), with no allocation per record.
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
//! Compressed batches are not read here: decompress them first (kafka-protocol does).

use std::ops::Range;

use crate::batch::{ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_LEN, LOG_OVERHEAD};
use crate::{Error, Result};

/// Builds one uncompressed RecordBatch v2 (base offset 0, no producer id), record by record.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl BatchBuilder {
    /// An empty batch with room for about `bytes` of records.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_LEN + bytes);
        buf.resize(HEADER_LEN, 0);
        BatchBuilder {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Records added so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch so far, in bytes.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Adds a record. `headers` is iterated twice (size, then bytes).
    pub fn push<'a, H>(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: H,
    ) where
        H: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        let timestamp_delta = timestamp_ms.wrapping_sub(self.base_timestamp);
        let offset_delta = i64::from(self.count);
        let header_count = headers.clone().count();
        let mut size = 1
            + varint_len(timestamp_delta)
            + varint_len(offset_delta)
            + bytes_len(key)
            + bytes_len(value)
            + varint_len(header_count as i64);
        for (k, v) in headers.clone() {
            size += bytes_len(Some(k)) + bytes_len(Some(v));
        }
        let buf = &mut self.buf;
        buf.reserve(size + 5);
        put_varint(buf, size as i64);
        buf.push(0); // record attributes
        put_varint(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, header_count as i64);
        for (k, v) in headers {
            put_bytes(buf, Some(k));
            put_bytes(buf, Some(v));
        }
        self.count += 1;
    }

    /// The finished batch: header filled in, CRC-32C computed.
    pub fn finish(self) -> Vec<u8> {
        let mut buf = self.buf;
        let max_timestamp = if self.count == 0 {
            self.base_timestamp
        } else {
            self.max_timestamp
        };
        let length = (buf.len() - LOG_OVERHEAD) as i32;
        let mut header = [0u8; HEADER_LEN];
        header[8..12].copy_from_slice(&length.to_be_bytes());
        header[12..16].copy_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
        header[16] = 2; // magic
        header[23..27].copy_from_slice(&(self.count - 1).max(0).to_be_bytes());
        header[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        header[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
        header[43..51].copy_from_slice(&(-1i64).to_be_bytes()); // producer id
        header[51..53].copy_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        header[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // base sequence
        header[57..61].copy_from_slice(&self.count.to_be_bytes());
        buf[..HEADER_LEN].copy_from_slice(&header);
        let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
        buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        buf
    }
}

fn varint_len(value: i64) -> usize {
    let v = ((value << 1) ^ (value >> 63)) as u64;
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i64) + b.len(),
    }
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
    }
}

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

fn corrupt(what: &str) -> Error {
    Error::CorruptBatch(format!("record: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchHeader;

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
    fn varint_sizes_match_what_is_written() {
        for v in [
            0i64,
            -1,
            63,
            -64,
            64,
            8191,
            8192,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
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

//! RecordBatch v2 framing: the 61-byte header Kafka clients send, validated and rewritten in
//! place. Records inside a batch stay opaque (and compressed, whatever the codec): the log only
//! reads the header, checks the CRC-32C and overwrites the base offset.
//!
//! Header layout (big-endian), from Kafka's `DefaultRecordBatch`:
//!
//! ```text
//! 0  baseOffset i64        8  batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8 (= 2)       17 crc u32 (CRC-32C of bytes 21..end)
//! 21 attributes i16       23 lastOffsetDelta i32  27 baseTimestamp i64
//! 35 maxTimestamp i64     43 producerId i64       51 producerEpoch i16
//! 53 baseSequence i32     57 recordCount i32      61 records...
//! ```

use crate::{Error, Result};

/// Size of the RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset + batchLength.
pub const LOG_OVERHEAD: usize = 12;

const MAGIC_OFFSET: usize = 16;
pub(crate) const CRC_OFFSET: usize = 17;
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;

/// The parsed header of one RecordBatch v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// First offset in the batch.
    pub base_offset: i64,
    /// Total size of the batch on disk, header included.
    pub size: usize,
    /// `lastOffsetDelta`: the batch covers `base_offset..=base_offset + last_offset_delta`.
    pub last_offset_delta: i32,
    /// Batch attributes (codec in the low 3 bits, timestamp type, transactional, control).
    pub attributes: i16,
    /// First record's timestamp.
    pub base_timestamp: i64,
    /// Largest record timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Sequence number of the last record (wraps like Kafka's).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn codec(&self) -> i16 {
        self.attributes & 0x7
    }

    /// Parses a header from the start of `buf` without checking the CRC.
    /// `buf` must hold at least [`HEADER_LEN`] bytes.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        if buf.len() < HEADER_LEN {
            return Err(Error::CorruptBatch(format!(
                "need {HEADER_LEN} header bytes, have {}",
                buf.len()
            )));
        }
        let batch_length = be_i32(buf, 8);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(Error::CorruptBatch(format!(
                "batchLength {batch_length} is shorter than the header"
            )));
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(Error::UnsupportedMagic(magic));
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, 0),
            size: batch_length as usize + LOG_OVERHEAD,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            record_count: be_i32(buf, 57),
        };
        if header.last_offset_delta < 0 || header.record_count < 0 {
            return Err(Error::CorruptBatch(format!(
                "negative lastOffsetDelta {} or recordCount {}",
                header.last_offset_delta, header.record_count
            )));
        }
        Ok(header)
    }

    /// Parses and fully validates one batch: `buf` must be exactly the batch and its CRC-32C
    /// must match.
    pub fn parse_checked(buf: &[u8]) -> Result<Self> {
        let header = Self::parse(buf)?;
        if header.size != buf.len() {
            return Err(Error::CorruptBatch(format!(
                "batchLength says {} bytes, frame holds {}",
                header.size,
                buf.len()
            )));
        }
        let stored =
            u32::from_be_bytes(buf[CRC_OFFSET..CRC_OFFSET + 4].try_into().expect("4 bytes"));
        let computed = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
        if stored != computed {
            return Err(Error::CorruptBatch(format!(
                "CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}"
            )));
        }
        Ok(header)
    }
}

/// Splits a produce payload (one or more concatenated batches) into validated batches.
pub fn split_batches(mut buf: &[u8]) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut start = 0;
    while !buf.is_empty() {
        let header = BatchHeader::parse(buf)?;
        if header.size > buf.len() {
            return Err(Error::CorruptBatch(format!(
                "batch of {} bytes truncated to {}",
                header.size,
                buf.len()
            )));
        }
        let header = BatchHeader::parse_checked(&buf[..header.size])?;
        out.push((header, start..start + header.size));
        start += header.size;
        buf = &buf[header.size..];
    }
    Ok(out)
}

/// Overwrites the base offset of the batch at the start of `buf`. The CRC does not cover it.
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Makes the batch at the start of `buf` an idempotent producer's: its producer id, epoch
/// and base sequence, with the CRC recomputed (it covers them).
pub fn set_producer(buf: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    buf[43..51].copy_from_slice(&producer_id.to_be_bytes());
    buf[51..53].copy_from_slice(&epoch.to_be_bytes());
    buf[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}
fn be_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Builds a valid, uncompressed RecordBatch v2 holding `values` (no keys, no headers).
/// Used by tests and by the broker's own internal writes.
pub fn build_batch(base_timestamp: i64, values: &[&[u8]]) -> Vec<u8> {
    let mut builder = super::BatchBuilder::default();
    for value in values {
        builder.push(base_timestamp, None, Some(value), std::iter::empty());
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batch_round_trips() {
        let batch = build_batch(1_000, &[b"a", b"bc", b"def"]);
        let header = BatchHeader::parse_checked(&batch).unwrap();
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.size, batch.len());
        assert_eq!(header.max_timestamp, 1_000);
    }

    #[test]
    fn crc_detects_a_flipped_bit() {
        let mut batch = build_batch(1_000, &[b"hello"]);
        let last = batch.len() - 2;
        batch[last] ^= 1;
        assert!(matches!(
            BatchHeader::parse_checked(&batch),
            Err(Error::CorruptBatch(_))
        ));
    }

    #[test]
    fn base_offset_rewrite_keeps_crc_valid() {
        let mut batch = build_batch(1_000, &[b"x"]);
        set_base_offset(&mut batch, 42);
        assert_eq!(BatchHeader::parse_checked(&batch).unwrap().base_offset, 42);
    }

    #[test]
    fn split_rejects_truncated_payload() {
        let mut two = build_batch(1, &[b"a"]);
        two.extend(build_batch(2, &[b"b"]));
        assert_eq!(split_batches(&two).unwrap().len(), 2);
        assert!(split_batches(&two[..two.len() - 1]).is_err());
    }
}

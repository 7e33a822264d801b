//! Writing the records of an uncompressed RecordBatch v2 ([`BatchBuilder`]), with no
//! allocation per record. The record layout is in [`super::reader`].

use super::header::{ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_LEN, LOG_OVERHEAD};

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

pub(crate) fn varint_len(value: i64) -> usize {
    let v = ((value << 1) ^ (value >> 63)) as u64;
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i64) + b.len(),
    }
}

fn put_varint(buf: &mut Vec<u8>, value: i64) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

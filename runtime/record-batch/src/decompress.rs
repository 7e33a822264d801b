//! Compressed batches opened with a bound: the records section of a gzip, snappy, lz4 or zstd
//! batch is decompressed to at most [`MAX_DECOMPRESSED`] bytes, or the batch is corrupt.
//!
//! A stored batch is whatever a client sent with a valid CRC, so its payload may be a
//! decompression bomb (a few KiB that expand to gigabytes) and its record count may claim two
//! billion records. Decompressing into an unbounded buffer, or reserving capacity for the
//! claimed count, would let one produce request make a later reader (a sink task, a
//! ListOffsets lookup) abort the process. Here the output stops at the bound, and the records
//! are read in place by [`RecordReader`](super::RecordReader), which allocates nothing per
//! claimed record.

use std::borrow::Cow;
use std::io::Read;

use super::{BatchHeader, HEADER_LEN};
use crate::{Error, Result};

/// The most bytes one batch's records may decompress to (64 MiB). Kafka's producers cap a
/// batch at `message.max.bytes` (1 MB by default) compressed; this leaves room for a
/// compression ratio of 64, several times what record data reaches.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// The batch `bytes` (exactly one batch, header included) with its records uncompressed:
/// borrowed as is when it was not compressed, else the header followed by the decompressed
/// records (at most `limit` bytes of them). Read it with `RecordReader::new(&buf, 0..buf.len(),
/// header.record_count)`.
pub fn uncompressed<'a>(
    header: &BatchHeader,
    bytes: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>> {
    if header.codec() == 0 {
        return Ok(Cow::Borrowed(bytes));
    }
    let (head, payload) = bytes.split_at(HEADER_LEN.min(bytes.len()));
    let mut out = head.to_vec();
    match header.codec() {
        1 => read_bounded(
            flate2::read::MultiGzDecoder::new(payload),
            limit,
            &mut out,
            "gzip",
        )?,
        2 => snappy(payload, limit, &mut out)?,
        3 => {
            let decoder = lz4::Decoder::new(payload).map_err(|e| corrupt("lz4", e))?;
            read_bounded(decoder, limit, &mut out, "lz4")?
        }
        4 => {
            let mut decoder =
                zstd::stream::read::Decoder::new(payload).map_err(|e| corrupt("zstd", e))?;
            // The window a frame may ask for is memory the decoder takes before any output:
            // 2^24 (16 MiB) covers every level a Kafka producer uses.
            decoder.window_log_max(24).map_err(|e| corrupt("zstd", e))?;
            read_bounded(decoder, limit, &mut out, "zstd")?
        }
        other => {
            return Err(Error::CorruptBatch(format!(
                "unknown compression codec {other}"
            )));
        }
    }
    Ok(Cow::Owned(out))
}

/// Reads `reader` to its end into `out`, failing once more than `limit` bytes come out.
fn read_bounded(reader: impl Read, limit: usize, out: &mut Vec<u8>, codec: &str) -> Result<()> {
    let start = out.len();
    reader
        .take(limit as u64 + 1)
        .read_to_end(out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() - start > limit {
        return Err(too_large(codec, limit));
    }
    Ok(())
}

/// Kafka's snappy: xerial framing (a 16-byte magic header, then blocks of a big-endian u32
/// length and a raw snappy block), or one raw snappy block when the magic is absent, as the
/// Java client accepts.
fn snappy(payload: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<()> {
    const MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
    let start = out.len();
    let block = |raw: &[u8], out: &mut Vec<u8>| -> Result<()> {
        let len = snap::raw::decompress_len(raw).map_err(|e| corrupt("snappy", e))?;
        if out.len() - start + len > limit {
            return Err(too_large("snappy", limit));
        }
        let at = out.len();
        out.resize(at + len, 0);
        snap::raw::Decoder::new()
            .decompress(raw, &mut out[at..])
            .map_err(|e| corrupt("snappy", e))?;
        Ok(())
    };
    if !payload.starts_with(MAGIC) {
        return block(payload, out);
    }
    let mut rest = payload
        .get(16..)
        .ok_or_else(|| Error::CorruptBatch("snappy: xerial header shorter than 16 bytes".into()))?;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(Error::CorruptBatch("snappy: truncated block length".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        let raw = tail
            .get(..len)
            .ok_or_else(|| Error::CorruptBatch("snappy: block runs past the batch".into()))?;
        block(raw, out)?;
        rest = &tail[len..];
    }
    Ok(())
}

fn corrupt(codec: &str, e: impl std::fmt::Display) -> Error {
    Error::CorruptBatch(format!("{codec}: {e}"))
}

fn too_large(codec: &str, limit: usize) -> Error {
    Error::CorruptBatch(format!(
        "{codec} payload expands past {limit} bytes, the most one batch may hold"
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::records::Compression;

    use super::*;
    use crate::RecordReader;
    use crate::client::client_batch;

    /// Records with keys `k{i}` and the given values, at offsets from 0.
    fn batch(values: &[Vec<u8>], compression: Compression) -> Vec<u8> {
        client_batch(
            values.iter().enumerate().map(|(i, v)| {
                let key = Some(Bytes::from(format!("k{i}")));
                (
                    i as i64,
                    1_700_000_000_000 + i as i64,
                    key,
                    Some(Bytes::from(v.clone())),
                )
            }),
            compression,
        )
    }

    /// The values of every batch in `bytes`.
    fn values(mut bytes: &[u8], limit: usize) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let header = BatchHeader::parse(bytes)?;
            let batch = uncompressed(&header, &bytes[..header.size], limit)?;
            for r in RecordReader::new(&batch, 0..batch.len(), header.record_count) {
                out.push(batch[r?.value.unwrap()].to_vec());
            }
            bytes = &bytes[header.size..];
        }
        Ok(out)
    }

    #[test]
    fn every_codec_opens_to_the_records_it_holds() {
        let want: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("value {i} {}", "x".repeat(i)).into_bytes())
            .collect();
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let got = values(&batch(&want, compression), MAX_DECOMPRESSED)
                .unwrap_or_else(|e| panic!("{compression:?}: {e}"));
            assert_eq!(got.len(), want.len(), "{compression:?}");
            assert!(got == want, "{compression:?}: values differ");
        }
    }

    #[test]
    fn raw_snappy_without_the_xerial_header_opens_too() {
        let mut bytes = batch(&[b"raw".to_vec()], Compression::None);
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&bytes[HEADER_LEN..])
            .unwrap();
        bytes.truncate(HEADER_LEN);
        bytes.extend_from_slice(&compressed);
        bytes[22] |= 2; // attributes: snappy
        let mut header = BatchHeader::parse(&bytes[..HEADER_LEN]).unwrap();
        header.size = bytes.len();
        let batch = uncompressed(&header, &bytes, MAX_DECOMPRESSED).unwrap();
        let got: Vec<_> = RecordReader::new(&batch, 0..batch.len(), 1)
            .map(|r| batch[r.unwrap().value.unwrap()].to_vec())
            .collect();
        assert_eq!(got, [b"raw".to_vec()]);
    }

    /// 4 MiB of zeros compress to a few KiB; opened with a 1 MiB bound, each codec stops at
    /// the bound and names it, instead of growing to whatever the payload claims.
    #[test]
    fn a_payload_that_expands_past_the_bound_is_corrupt() {
        let records = [vec![0u8; 4 << 20]];
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bytes = batch(&records, compression);
            assert!(
                bytes.len() < 1 << 20,
                "{compression:?}: {} bytes",
                bytes.len()
            );
            let err = values(&bytes, 1 << 20).unwrap_err().to_string();
            assert!(
                err.contains("expands past 1048576 bytes"),
                "{compression:?}: {err}"
            );
            assert_eq!(values(&bytes, 8 << 20).unwrap()[0].len(), 4 << 20);
        }
    }

    /// A batch whose CRC is valid but whose count claims 2^31 - 1 records: one record is read,
    /// then the reader reports the batch corrupt. Nothing is reserved for the claim.
    #[test]
    fn a_claimed_record_count_reserves_nothing() {
        let mut bytes = batch(&[b"only".to_vec()], Compression::Gzip);
        bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(header.record_count, i32::MAX);
        let batch = uncompressed(&header, &bytes, MAX_DECOMPRESSED).unwrap();
        let mut reader = RecordReader::new(&batch, 0..batch.len(), header.record_count);
        assert!(reader.next().unwrap().is_ok());
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
    }
}

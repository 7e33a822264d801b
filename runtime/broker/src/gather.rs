//! Encoding a response without copying its record batches: [`Gather`] is a buffer for
//! kafka-protocol's generated encoders that, when asked to copy a large slice lying inside one
//! of the [`Bytes`] it was given (the records a Fetch read from the log), keeps a reference to
//! it instead. The response then goes out with one vectored write of the small encoded parts
//! and the record batches themselves.
//!
//! Before this, a Fetch response's records were copied into the response buffer after being
//! read from the log: a gigabyte consumed was a gigabyte memcpy'd by the broker for nothing.

use std::io::IoSlice;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

/// Slices at least this large are referenced, not copied.
const REFERENCE_FROM: usize = 4096;

/// A response being encoded: parts to write in order.
#[derive(Debug, Default)]
pub(crate) struct Gather {
    /// Finished parts: encoded bytes and referenced record batches, in order.
    parts: Vec<Bytes>,
    /// Bytes in `parts`.
    done: usize,
    /// What is being encoded now.
    head: BytesMut,
    /// Buffers whose slices may be referenced.
    sources: Vec<Bytes>,
}

impl Gather {
    /// A buffer that references slices of `sources` instead of copying them.
    pub(crate) fn new(sources: Vec<Bytes>) -> Self {
        Gather {
            sources,
            ..Default::default()
        }
    }

    /// The parts to write, in order.
    pub(crate) fn finish(mut self) -> Vec<Bytes> {
        if !self.head.is_empty() {
            self.parts.push(self.head.split().freeze());
        }
        self.parts
    }

    fn source_of(&self, slice: &[u8]) -> Option<Bytes> {
        let (start, end) = (
            slice.as_ptr() as usize,
            slice.as_ptr() as usize + slice.len(),
        );
        self.sources.iter().find_map(|s| {
            let (from, to) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
            (from <= start && end <= to).then(|| s.slice_ref(slice))
        })
    }
}

// SAFETY: every method delegates to `head`, a `BytesMut`, whose own `BufMut` upholds the
// contract; `put_slice` only adds finished parts before it.
unsafe impl BufMut for Gather {
    fn remaining_mut(&self) -> usize {
        self.head.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `head.chunk_mut()`.
        unsafe { self.head.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.head.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= REFERENCE_FROM
            && let Some(part) = self.source_of(src)
        {
            if !self.head.is_empty() {
                let encoded = self.head.split().freeze();
                self.done += encoded.len();
                self.parts.push(encoded);
            }
            self.done += part.len();
            self.parts.push(part);
            return;
        }
        self.head.extend_from_slice(src);
    }
}

impl ByteBufMut for Gather {
    fn offset(&self) -> usize {
        self.done + self.head.len()
    }

    /// Gaps (length and CRC fields filled in later) only occur inside what is still in `head`
    /// for the messages encoded here; seeking into a finished part would be a bug.
    fn seek(&mut self, offset: usize) {
        assert!(offset >= self.done, "seek into a finished part");
        self.head.resize(offset - self.done, 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        assert!(r.start >= self.done, "range in a finished part");
        &mut self.head[r.start - self.done..r.end - self.done]
    }
}

/// Writes every part, in order, with vectored writes.
pub(crate) async fn write_parts<W>(writer: &mut W, parts: &[Bytes]) -> std::io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let mut index = 0;
    let mut offset = 0;
    while index < parts.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&parts[index][offset..])
            .chain(parts[index + 1..].iter().map(|p| &p[..]))
            .take(64)
            .map(IoSlice::new)
            .collect();
        let mut n = writer.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let left = parts[index].len() - offset;
            if n >= left {
                n -= left;
                index += 1;
                offset = 0;
            } else {
                offset += n;
                n = 0;
            }
        }
        // Skip empty parts so the next round starts on data.
        while index < parts.len() && parts[index].len() == offset {
            index += 1;
            offset = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    fn response(records: &[Bytes]) -> FetchResponse {
        let partitions = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                PartitionData::default()
                    .with_partition_index(i as i32)
                    .with_high_watermark(10)
                    .with_records(Some(r.clone()))
            })
            .collect();
        FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(kafka_protocol::messages::TopicName(
                    StrBytes::from_static_str("t"),
                ))
                .with_partitions(partitions),
        ])
    }

    #[tokio::test]
    async fn gathered_encoding_is_the_plain_encoding_without_the_copies() {
        let records: Vec<Bytes> = [5000usize, 10, 70_000]
            .iter()
            .map(|n| Bytes::from((0..*n).map(|i| i as u8).collect::<Vec<_>>()))
            .collect();
        for version in [4i16, 11, 12, 13] {
            let resp = response(&records);
            let mut plain = BytesMut::new();
            resp.encode(&mut plain, version).unwrap();
            let mut gather = Gather::new(records.clone());
            resp.encode(&mut gather, version).unwrap();
            let parts = gather.finish();
            // The two large record sets are referenced, not copied.
            let shared = parts
                .iter()
                .filter(|p| records.iter().any(|r| r.as_ptr() == p.as_ptr()))
                .count();
            assert_eq!(shared, 2, "version {version}");
            let mut written = Vec::new();
            write_parts(&mut written, &parts).await.unwrap();
            assert_eq!(written, plain, "version {version}");
        }
    }
}

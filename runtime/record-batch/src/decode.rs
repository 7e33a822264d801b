//! Stored batches, as the log returns them, decoded into a [`SinkBatch`].

use bytes::Bytes;

use super::decompress::{MAX_DECOMPRESSED, uncompressed};
use super::{BatchHeader, RecordReader};
use crate::Result;
use connectd_records::columns::{HeaderSpan, SinkBatch, SinkEntry, Span};

/// Adds the records at offset `from` and later of stored batches (`bytes`, as the log returns
/// them) to `into`; returns the offset after the last batch. Each batch's records are read in
/// place and copied into the batch's data once; a compressed batch is decompressed first, to
/// at most [`MAX_DECOMPRESSED`] bytes. Control batches are skipped.
pub fn decode_into(
    bytes: &Bytes,
    from: i64,
    topic: &str,
    partition: i32,
    into: &mut SinkBatch,
) -> Result<i64> {
    let topic = into.topic_index(topic);
    let mut next = from;
    let mut at = 0;
    while at < bytes.len() {
        let header = BatchHeader::parse(&bytes[at..])?;
        let range = at..at + header.size;
        if range.end > bytes.len() {
            break; // a partial batch at the end of the read
        }
        at = range.end;
        next = next.max(header.last_offset() + 1);
        if header.attributes & 0x20 != 0 {
            continue; // control batch (transaction markers)
        }
        let batch = uncompressed(&header, &bytes[range], MAX_DECOMPRESSED)?;
        // The reader's ranges index `batch`; the batch lands at `base` in `into.data`.
        let base = into.data.len();
        into.data.extend_from_slice(&batch);
        let span = |r: Option<std::ops::Range<usize>>| match r {
            None => Span::NONE,
            Some(r) => Span {
                start: (base + r.start) as u32,
                len: r.len() as i32,
            },
        };
        for record in RecordReader::new(&batch, 0..batch.len(), header.record_count) {
            let record = record?;
            let offset = header.base_offset + record.offset_delta;
            if offset < from {
                continue; // the first batch may start before the requested offset
            }
            let headers_start = into.headers.len() as u32;
            for (k, v) in record.headers {
                into.headers.push(HeaderSpan {
                    key: span(Some(k)),
                    value: span(Some(v.unwrap_or(0..0))),
                });
            }
            into.records.push(SinkEntry {
                topic,
                partition,
                offset,
                timestamp_ms: header.base_timestamp + record.timestamp_delta,
                key: span(record.key),
                value: span(record.value),
                headers_start,
                headers_len: into.headers.len() as u32 - headers_start,
            });
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::{Compression, RecordBatchDecoder};

    use super::*;
    use crate::client::client_batch;
    use crate::{ProducerBatch, ProducerRecord, set_base_offset};
    use connectd_records::Header;

    fn encode(records: &[ProducerRecord]) -> Vec<u8> {
        ProducerBatch::from_records(records).as_bytes().to_vec()
    }

    fn records() -> Vec<ProducerRecord> {
        (0..50)
            .map(|i| ProducerRecord {
                key: (i % 2 == 0).then(|| format!("k{i}").into_bytes()),
                value: Some(format!("v{i}").into_bytes()),
                headers: vec![Header {
                    key: "h".into(),
                    value: vec![i as u8],
                }],
                timestamp_ms: 1_700_000_000_000 + i,
            })
            .collect()
    }

    #[test]
    fn records_encode_as_one_batch_that_kafka_protocol_reads() {
        let records = records();
        let mut bytes = Bytes::from(encode(&records));
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        assert_eq!(sets.len(), 1, "one batch");
        assert_eq!(sets[0].records.len(), 50);
        for (r, want) in sets[0].records.iter().zip(&records) {
            assert_eq!(r.producer_id, -1);
            assert_eq!(r.key.as_deref(), want.key.as_deref());
            assert_eq!(r.value.as_deref(), want.value.as_deref());
            assert_eq!(r.timestamp, want.timestamp_ms);
            assert_eq!(
                r.headers[&b"h"[..]].as_deref(),
                Some(&want.headers[0].value[..])
            );
        }
    }

    #[test]
    fn stored_batches_decode_from_an_offset_compressed_or_not() {
        let records = records();
        let mut plain = encode(&records[..30]);
        set_base_offset(&mut plain, 100);
        // A gzip batch written by kafka-protocol's encoder, as a client would send it.
        let gz = client_batch(
            records[30..].iter().enumerate().map(|(i, r)| {
                let bytes = |b: &Option<Vec<u8>>| b.clone().map(Bytes::from);
                (
                    130 + i as i64,
                    r.timestamp_ms,
                    bytes(&r.key),
                    bytes(&r.value),
                )
            }),
            Compression::Gzip,
        );
        plain.extend_from_slice(&gz);
        // And an uncompressed batch after the compressed one: its records lie mid-read.
        let mut last = encode(&records[..5]);
        set_base_offset(&mut last, 150);
        plain.extend_from_slice(&last);
        let mut batch = SinkBatch::default();
        let next = decode_into(&Bytes::from(plain), 110, "t", 3, &mut batch).unwrap();
        assert_eq!(next, 155);
        let got = batch.to_records();
        assert_eq!(got.len(), 45);
        for (r, want) in got[40..].iter().zip(&records[..5]) {
            assert_eq!(r.value, want.value);
            assert_eq!(r.headers[0].value, want.headers[0].value);
        }
        for (r, (offset, want)) in got.iter().zip((110..).zip(&records[10..])) {
            assert_eq!((r.topic.as_str(), r.partition, r.offset), ("t", 3, offset));
            assert_eq!(r.key, want.key);
            assert_eq!(r.value, want.value);
            assert_eq!(r.timestamp_ms, want.timestamp_ms);
        }
        assert_eq!(got[0].headers[0].value, [10]);
    }
}

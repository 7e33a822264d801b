//! Stored batches, as the log returns them, decoded into a [`SinkBatch`].

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::{BatchHeader, RecordReader};
use crate::columns::{HeaderSpan, SinkBatch, SinkEntry, Span};
use crate::{Error, Result};

/// Adds the records at offset `from` and later of stored batches (`bytes`, as the log returns
/// them) to `into`; returns the offset after the last batch. An uncompressed batch is read in
/// place, its bytes copied into the batch's data once; a compressed one is decompressed by
/// kafka-protocol first. Control batches are skipped.
pub fn decode_into(
    bytes: &Bytes,
    from: i64,
    topic: &str,
    partition: i32,
    into: &mut SinkBatch,
) -> Result<i64> {
    let topic_name = topic;
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
        if header.codec() == 0 {
            // The reader's ranges index `bytes`; the batch lands at `base` in `into.data`.
            let (base, origin) = (into.data.len(), range.start);
            into.data.extend_from_slice(&bytes[range.clone()]);
            for record in RecordReader::new(bytes, range, header.record_count) {
                let record = record?;
                let offset = header.base_offset + record.offset_delta;
                if offset < from {
                    continue; // the first batch may start before the requested offset
                }
                let span = |r: Option<std::ops::Range<usize>>| match r {
                    None => Span::NONE,
                    Some(r) => Span {
                        start: (base + r.start - origin) as u32,
                        len: r.len() as i32,
                    },
                };
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
        } else {
            let mut one = bytes.slice(range);
            let set = RecordBatchDecoder::decode(&mut one)
                .map_err(|e| Error::CorruptBatch(format!("{e:#}")))?;
            for r in set.records.iter().filter(|r| r.offset >= from) {
                into.push_parts(
                    topic_name,
                    partition,
                    r.offset,
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    r.headers
                        .iter()
                        .map(|(k, v)| (k.as_bytes(), v.as_deref().unwrap_or_default())),
                );
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;
    use crate::Header;
    use crate::record_batch::{ProducerBatch, ProducerRecord, set_base_offset};

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
        let gz: Vec<Record> = records[30..]
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: 130 + i as i64,
                sequence: -1,
                timestamp: r.timestamp_ms,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: Default::default(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::Gzip,
        };
        RecordBatchEncoder::encode(&mut buf, &gz, &options).unwrap();
        plain.extend_from_slice(&buf);
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

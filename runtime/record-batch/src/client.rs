//! Batches as a Kafka client would send them, written by kafka-protocol's encoder, for tests
//! (feature `testing`): they read them back with this crate's decoders, so the two sides are
//! not the same code.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One batch (or more, as the encoder splits them) of records given as (offset, timestamp,
/// key, value), compressed with `compression`.
pub fn client_batch(
    records: impl IntoIterator<Item = (i64, i64, Option<Bytes>, Option<Bytes>)>,
    compression: Compression,
) -> Vec<u8> {
    let records: Vec<Record> = records
        .into_iter()
        .map(|(offset, timestamp, key, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.to_vec()
}

//! Kafka's RecordBatch v2, the one on-disk and on-the-wire form of records: the 61-byte
//! header ([`header`]), records written ([`builder`]) and read in place ([`reader`]), the
//! [`ProducerBatch`] a producer hands over ([`producer`]), and stored batches decoded into a
//! [`crate::SinkBatch`] ([`decode`]).
//!
//! The log stores batches exactly as producers sent them and reads only their headers; the
//! worker writes and reads the records inside. Compressed batches (gzip, snappy, lz4, zstd)
//! are decompressed with a bound ([`decompress`]), behind the `compression` feature, so a
//! WebAssembly guest that links this crate (through the SDK) carries no codec.

mod builder;
#[cfg(any(test, feature = "testing"))]
mod client;
#[cfg(feature = "compression")]
mod decode;
#[cfg(feature = "compression")]
mod decompress;
mod header;
mod producer;
mod reader;

pub use builder::BatchBuilder;
#[cfg(any(test, feature = "testing"))]
pub use client::client_batch;
#[cfg(feature = "compression")]
pub use decode::decode_into;
#[cfg(feature = "compression")]
pub use decompress::{MAX_DECOMPRESSED, uncompressed};
pub use header::{
    BatchHeader, HEADER_LEN, LOG_OVERHEAD, build_batch, set_base_offset, set_producer,
    split_batches,
};
pub use producer::{ProducerBatch, ProducerRecord, ProducerRecordRef};
pub use reader::{RecordReader, RecordView};

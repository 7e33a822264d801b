//! Kafka's RecordBatch v2, the one on-disk and on-the-wire form of records: the 61-byte
//! header ([`header`]), records written ([`builder`]) and read in place ([`reader`]), the
//! [`ProducerBatch`] a producer hands over ([`producer`]), and stored batches decoded into a
//! [`connectd_records::SinkBatch`] ([`decode`]).
//!
//! The log stores batches exactly as producers sent them and reads only their headers; the
//! worker writes and reads the records inside. Compressed batches (gzip, snappy, lz4, zstd)
//! are decompressed with a bound ([`decompress`]).
//!
//! A crate of its own, apart from the record model (`connectd-records`), which WebAssembly
//! guests link through the SDK: no guest carries this codec or its compression libraries. It
//! opens no file or socket and spawns no thread.

mod builder;
#[cfg(any(test, feature = "testing"))]
mod client;
mod decode;
mod decompress;
mod header;
mod producer;
mod reader;

pub use builder::BatchBuilder;
#[cfg(any(test, feature = "testing"))]
pub use client::client_batch;
pub use decode::decode_into;
pub use decompress::{MAX_DECOMPRESSED, uncompressed};
pub use header::{
    BatchHeader, HEADER_LEN, LOG_OVERHEAD, build_batch, set_base_offset, set_producer,
    split_batches,
};
pub use producer::{ProducerBatch, ProducerRecord, ProducerRecordRef};
pub use reader::{RecordReader, RecordView, keyless_records};

/// What can be wrong with a record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A record batch failed framing, CRC-32C or record checks (Kafka's CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// Only RecordBatch v2 (magic 2) is read.
    #[error("unsupported record batch magic {0}; only v2 (magic 2) is accepted")]
    UnsupportedMagic(i8),
}

/// Result with the codec's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

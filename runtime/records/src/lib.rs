//! connectd's record model, with no I/O and no async runtime: what every other crate speaks
//! when it moves records.
//!
//! What it owns:
//! - [`record_batch`]: Kafka's RecordBatch v2 codec (header, records written and read in
//!   place, stored batches decoded into a [`SinkBatch`]). The log stores these bytes; the
//!   broker and the worker read and write them.
//! - [`columns`]: the [`SourceBatch`] a source's poll returns and the [`SinkBatch`] a sink's
//!   put receives, one flat buffer plus spans per record, and their column form that crosses
//!   the WIT boundary.
//! - [`record`]: records by role ([`SourceRecord`], [`SinkRecord`], [`ConnectRecord`] for
//!   transforms) and the [`Descriptor`] a connector gives of itself.
//! - [`ids`]: [`TopicPartition`], [`Offset`], [`ConnectorName`], [`TaskId`].
//!
//! What it must not do: open files or sockets, spawn threads, or depend on any crate of the
//! runtime. The SDK links it into WebAssembly guests, so it stays small there too (the
//! `compression` feature, off for guests, brings in kafka-protocol's codecs).

pub mod columns;
pub mod ids;
pub mod record;
pub mod record_batch;

pub use columns::{
    HeaderSpan, SinkBatch, SinkColumns, SinkEntry, SinkRecordRef, SourceBatch, SourceColumns,
    SourceEntry, SourcePartitionIndex, Span,
};
pub use ids::{ConnectorName, Offset, TaskId, TopicPartition};
pub use record::{ConnectRecord, Descriptor, Header, Kind, SinkRecord, SourceRecord};

/// What can be wrong with records or ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A record batch failed framing, CRC-32C or record checks (Kafka's CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// Only RecordBatch v2 (magic 2) is read.
    #[error("unsupported record batch magic {0}; only v2 (magic 2) is accepted")]
    UnsupportedMagic(i8),
    /// A connector name that cannot be used.
    #[error("connector name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result with the records crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! connectd's record model, with no I/O and no async runtime: what every other crate speaks
//! when it moves records.
//!
//! What it owns:
//! - [`columns`]: the [`SourceBatch`] a source's poll returns and the [`SinkBatch`] a sink's
//!   put receives, one flat buffer plus spans per record, and their column form that crosses
//!   the WIT boundary.
//! - [`record`]: records by role ([`SourceRecord`], [`SinkRecord`], [`ConnectRecord`] for
//!   transforms) and the [`Descriptor`] a connector gives of itself.
//! - [`ids`]: [`TopicPartition`], [`Offset`], [`ConnectorName`], [`TaskId`].
//!
//! What it must not do: open files or sockets, spawn threads, or depend on any crate of the
//! runtime. The SDK links it into every WebAssembly guest, so it stays small: Kafka's
//! RecordBatch codec, which the log, the broker and the worker share, is the
//! `connectd-record-batch` crate above it.

pub mod columns;
pub mod ids;
pub mod record;
pub mod wit;

pub use columns::{
    HeaderSpan, SinkBatch, SinkColumns, SinkEntry, SinkRecordRef, SourceBatch, SourceColumns,
    SourceEntry, SourcePartitionIndex, Span,
};
pub use ids::{ConnectorName, Offset, TaskId, TopicPartition};
pub use record::{ConnectRecord, Descriptor, Header, Kind, SinkRecord, SourceRecord};

/// What can be wrong with ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
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

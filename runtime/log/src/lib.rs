//! Partition log storage for connectd: segment files named by base offset, sparse offset and
//! time indexes, crash recovery that truncates a torn tail, retention, and group-committed
//! fsync. No networking: the broker crate puts the Kafka protocol on top.
//!
//! Record batches are stored exactly as producers sent them (RecordBatch v2, any codec); the
//! log reads only the 61-byte batch header, through [`connectd_record_batch`]. See [`partition`] for the on-disk layout.

pub mod config;
pub mod partition;
mod producer;
mod segment;

pub use config::LogConfig;
pub use partition::{AppendInfo, CompactionStats, PartitionLog, ReadInfo, now_ms};
pub use segment::{write_file_atomic, write_private_file_atomic};

/// Errors from the log layer. Each maps to one Kafka error code in the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Disk I/O failed.
    #[error("log I/O: {0}")]
    Io(#[from] std::io::Error),
    /// An earlier write or fsync failed, so the partition stopped serving until a restart
    /// (Kafka takes the log directory offline; KAFKA_STORAGE_ERROR).
    #[error(
        "partition {} is offline since {reason}; fix the disk, then restart connectd",
        dir.display()
    )]
    Offline {
        /// The partition's directory.
        dir: std::path::PathBuf,
        /// The operation that failed and its error.
        reason: String,
    },
    /// A batch failed framing or CRC-32C checks (Kafka's CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// Only RecordBatch v2 (magic 2) is stored.
    #[error("unsupported record batch magic {0}; only v2 (magic 2) is accepted")]
    UnsupportedMagic(i8),
    /// The batch exceeds `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge {
        /// Batch size.
        size: usize,
        /// Configured limit.
        max: i64,
    },
    /// An offset outside `log_start..=log_end`.
    #[error("offset {offset} out of range {start}..={end}")]
    OffsetOutOfRange {
        /// Requested offset.
        offset: i64,
        /// Log start offset.
        start: i64,
        /// Log end offset.
        end: i64,
    },
    /// An idempotent producer skipped a sequence number.
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// The next sequence the log expects.
        expected: i32,
        /// The sequence the batch carries.
        got: i32,
    },
    /// An idempotent producer wrote with a fenced epoch.
    #[error("producer {0}: epoch is older than the current one")]
    InvalidProducerEpoch(i64),
    /// A topic config key or value is wrong.
    #[error("topic config {key}: {reason}")]
    InvalidConfig {
        /// The Kafka config name.
        key: String,
        /// What was expected.
        reason: String,
    },
}

impl From<connectd_record_batch::Error> for Error {
    fn from(e: connectd_record_batch::Error) -> Self {
        match e {
            connectd_record_batch::Error::UnsupportedMagic(m) => Error::UnsupportedMagic(m),
            connectd_record_batch::Error::CorruptBatch(m) => Error::CorruptBatch(m),
        }
    }
}

/// Result with the log's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! connectd's embedded broker: the Kafka wire protocol (via the `kafka-protocol` crate's
//! generated messages) over [`connectd_log`] partitions, with a classic-protocol group
//! coordinator and the admin APIs.
//!
//! Layers, each importing only those below it: [`topics`] owns topic metadata and partition
//! logs and [`groups`] owns consumer groups and committed offsets; [`engine`] is the broker
//! you can run without a socket (topics, logs, groups, producer state, and the in-process API
//! the worker's embedded backend uses); `versions` and `shape` are what the protocol accepts;
//! `handlers` turn one decoded request into one response over the engine; [`server`] owns
//! sockets and framing and sits on top. Nothing here knows about connectors, or whether the worker runs
//! against this engine or a Kafka cluster (that choice is the binary's).

pub mod auth;
mod budget;
pub mod config;
pub mod engine;
mod frame;
#[cfg(test)]
mod fuzz_tests;
mod gather;
pub mod groups;
mod handlers;
pub mod listeners;
mod low_water;
mod producer_ids;
pub mod reserved;
pub mod server;
mod shape;
pub(crate) mod topics;
mod versions;

use std::path::PathBuf;

pub use config::BrokerConfig;
pub use engine::{Broker, GroupOverview, GroupPartition, PartitionOverview, TopicOverview};
pub use reserved::Reserved;
pub use server::BoundBroker;

/// Errors from the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Log storage failed.
    #[error(transparent)]
    Log(#[from] connectd_log::Error),
    /// Disk or socket I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Persisted metadata could not be read.
    #[error("{path}: {reason}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A Kafka-level error with its code.
    #[error("{error:?}: {message}")]
    Kafka {
        /// The Kafka error.
        error: kafka_protocol::ResponseError,
        /// Details for the client and the log.
        message: String,
    },
}

impl Error {
    pub(crate) fn kafka(error: kafka_protocol::ResponseError, message: impl Into<String>) -> Self {
        Error::Kafka {
            error,
            message: message.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The Kafka error code a client sees for this error.
    pub fn code(&self) -> i16 {
        use connectd_log::Error as L;
        use kafka_protocol::ResponseError as K;
        match self {
            Error::Kafka { error, .. } => error.code(),
            Error::Log(L::CorruptBatch(_) | L::UnsupportedMagic(_)) => K::CorruptMessage.code(),
            Error::Log(L::RecordTooLarge { .. }) => K::MessageTooLarge.code(),
            Error::Log(L::OffsetOutOfRange { .. }) => K::OffsetOutOfRange.code(),
            Error::Log(L::OutOfOrderSequence { .. }) => K::OutOfOrderSequenceNumber.code(),
            Error::Log(L::InvalidProducerEpoch(_)) => K::InvalidProducerEpoch.code(),
            Error::Log(L::InvalidConfig { .. }) => K::InvalidConfig.code(),
            Error::Log(L::Io(_) | L::Offline { .. })
            | Error::Io { .. }
            | Error::Metadata { .. } => K::KafkaStorageError.code(),
        }
    }
}

/// Result with the broker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) use connectd_log::now_ms;

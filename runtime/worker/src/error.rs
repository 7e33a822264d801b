//! The worker's one error type.

use std::path::{Path, PathBuf};

/// Errors from the worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connector file is wrong.
    #[error("{file}: {key}{reason}")]
    Config {
        /// The connector file.
        file: PathBuf,
        /// The key, formatted as "key `x`: " (empty for whole-file problems).
        key: String,
        /// What was expected.
        reason: String,
    },
    /// The topic backend failed.
    #[error("topic backend: {0}")]
    Backend(String),
    /// The plugin host failed.
    #[error(transparent)]
    Host(#[from] connectd_host::Error),
    /// Group membership could not start.
    #[error(transparent)]
    Cluster(#[from] connectd_cluster::Error),
    /// Disk I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn config(file: &Path, key: &str, reason: String) -> Self {
        Error::Config {
            file: file.to_path_buf(),
            key: if key.is_empty() {
                String::new()
            } else {
                format!("key `{key}`: ")
            },
            reason,
        }
    }
}

/// Result with the worker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The worker's one error type.

/// Errors from the worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connector config is wrong.
    #[error("{origin}: {key}{reason}")]
    Config {
        /// Where the config comes from: its file, or the REST API.
        origin: String,
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
    pub(crate) fn config(origin: &dyn std::fmt::Display, key: &str, reason: String) -> Self {
        Error::Config {
            origin: origin.to_string(),
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

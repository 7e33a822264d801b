//! What a connector returns when something goes wrong.

/// What went wrong, and so what the host does next (see `wit/types.wit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// Bad config: the connector fails until its config changes.
    InvalidConfig(String),
    /// Transient: the host retries with backoff.
    Retryable(String),
    /// The task fails, and the host restarts it with backoff.
    Fatal(String),
    /// This one record cannot be handled; the task is fine. The host follows
    /// `errors.tolerance`: skip it into the dead letter queue, or fail the task.
    BadRecord(String),
}

impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectorError::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            ConnectorError::Retryable(m) => write!(f, "retryable: {m}"),
            ConnectorError::Fatal(m) => write!(f, "fatal: {m}"),
            ConnectorError::BadRecord(m) => write!(f, "bad record: {m}"),
        }
    }
}

impl std::error::Error for ConnectorError {}

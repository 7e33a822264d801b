//! The SDK's own record, error and descriptor types, mirrored 1:1 on the WIT types.

/// A record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value.
    pub value: Vec<u8>,
}

/// A record produced by a source task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceRecord {
    /// Target topic; `None` uses the connector's `topic` config.
    pub topic: Option<String>,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; `None` lets the host stamp it.
    pub timestamp_ms: Option<i64>,
    /// Kafka Connect's source partition: which stream this record came from.
    pub source_partition: Vec<u8>,
    /// Kafka Connect's source offset: where to resume after this record.
    pub source_position: Vec<u8>,
}

impl SourceRecord {
    /// A record with a value and its resume point.
    pub fn new(value: Vec<u8>, source_partition: Vec<u8>, source_position: Vec<u8>) -> Self {
        SourceRecord {
            value: Some(value),
            source_partition,
            source_position,
            ..Default::default()
        }
    }
}

/// A record delivered to a sink task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SinkRecord {
    /// Topic it was read from.
    pub topic: String,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<Header>,
    /// Record timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

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

/// Connector kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Produces records.
    Source,
    /// Consumes records.
    Sink,
    /// Rewrites records.
    Transform,
}

/// What a connector says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Connector name.
    pub name: String,
    /// Connector version.
    pub version: String,
    /// Kind.
    pub kind: Kind,
    /// JSON Schema of the config.
    pub config_schema: String,
}

impl Descriptor {
    /// A source descriptor.
    pub fn source(name: &str, version: &str, config_schema: &str) -> Self {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Source,
            config_schema: config_schema.into(),
        }
    }

    /// A transform descriptor.
    pub fn transform(name: &str, version: &str, config_schema: &str) -> Self {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Transform,
            config_schema: config_schema.into(),
        }
    }

    /// A sink descriptor.
    pub fn sink(name: &str, version: &str, config_schema: &str) -> Self {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Sink,
            config_schema: config_schema.into(),
        }
    }
}

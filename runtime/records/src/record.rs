//! Records by role, as Kafka Connect names them: a [`SourceRecord`] is what a source
//! produces (with its source partition and position), a [`SinkRecord`] what a sink receives
//! (with the topic, partition and offset it was read from), and a [`ConnectRecord`] what a
//! transform sees on either side. Also the [`Descriptor`] every connector gives of itself.
//! Each mirrors a WIT type; the batches in [`crate::columns`] carry many of them at once.

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

/// A record as a transform sees it (Kafka Connect's `ConnectRecord`): on a source, before it is
/// produced, with no partition or offset yet; on a sink, after it was read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRecord {
    /// The topic it is bound for (source) or was read from (sink); a transform that changes it
    /// routes the record.
    pub topic: String,
    /// The partition it was read from; `None` on a source.
    pub partition: Option<i32>,
    /// Its offset; `None` on a source.
    pub offset: Option<i64>,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<Header>,
    /// Record timestamp, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

impl From<SinkRecord> for ConnectRecord {
    fn from(r: SinkRecord) -> Self {
        ConnectRecord {
            topic: r.topic,
            partition: Some(r.partition),
            offset: Some(r.offset),
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp_ms: r.timestamp_ms,
        }
    }
}

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

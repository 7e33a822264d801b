//! Per-topic log configuration, under Kafka's topic-config names.
//!
//! Topic overrides are kept as the strings the user gave (that is what DescribeConfigs reports
//! and what is persisted); [`LogConfig::resolve`] turns defaults plus overrides into typed
//! values and names the key and the expected value when one is wrong.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Kafka's `segment.bytes` default: 1 GiB.
pub const DEFAULT_SEGMENT_BYTES: i64 = 1 << 30;
/// Kafka's `retention.ms` / `segment.ms` default: 7 days.
pub const SEVEN_DAYS_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Typed log settings for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment when the active one would grow past this.
    pub segment_bytes: i64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest closed segments while the partition is larger; -1 off.
    pub retention_bytes: i64,
    /// `flush.messages`: 1 fsyncs every acknowledged write (connectd's default, group-committed);
    /// any larger value is Kafka's page-cache behaviour, flushed in the background.
    pub flush_messages: i64,
    /// `flush.ms`: in page-cache mode, the longest time between two fsyncs.
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes between two sparse index entries.
    pub index_interval_bytes: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: i64,
    /// `message.timestamp.type`: `CreateTime` keeps the producer's timestamps, `LogAppendTime`
    /// stamps each batch with the broker's clock.
    pub log_append_time: bool,
    /// `cleanup.policy` contains `delete`: time and size retention apply.
    pub cleanup_delete: bool,
}

/// One config key the log understands: its name, default and validator.
struct Key {
    name: &'static str,
    default: &'static str,
    doc: &'static str,
}

const KEYS: &[Key] = &[
    Key {
        name: "segment.bytes",
        default: "1073741824",
        doc: "segment size that triggers a roll (bytes, >= 1024)",
    },
    Key {
        name: "segment.ms",
        default: "604800000",
        doc: "segment age that triggers a roll (ms, >= 1)",
    },
    Key {
        name: "retention.ms",
        default: "604800000",
        doc: "time retention (ms, -1 = forever)",
    },
    Key {
        name: "retention.bytes",
        default: "-1",
        doc: "size retention per partition (bytes, -1 = off)",
    },
    Key {
        name: "flush.messages",
        default: "1",
        doc: "1 = fsync before acknowledging; larger = page-cache mode, fsync once this many offsets are pending",
    },
    Key {
        name: "flush.ms",
        default: "1000",
        doc: "page-cache mode: fsync at least this often (ms)",
    },
    Key {
        name: "index.interval.bytes",
        default: "4096",
        doc: "bytes between sparse index entries",
    },
    Key {
        name: "max.message.bytes",
        default: "1048588",
        doc: "largest record batch accepted (bytes)",
    },
    Key {
        name: "message.timestamp.type",
        default: "CreateTime",
        doc: "CreateTime or LogAppendTime",
    },
    Key {
        name: "cleanup.policy",
        default: "delete",
        doc: "delete, compact, or compact,delete",
    },
    Key {
        name: "compression.type",
        default: "producer",
        doc: "stored batches keep the producer's codec",
    },
    Key {
        name: "min.insync.replicas",
        default: "1",
        doc: "single-node broker: only 1 is meaningful",
    },
];

impl Default for LogConfig {
    fn default() -> Self {
        Self::resolve(&BTreeMap::new(), &BTreeMap::new()).expect("built-in defaults are valid")
    }
}

impl LogConfig {
    /// Names, defaults and descriptions of every key the log understands.
    pub fn known_keys() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
        KEYS.iter().map(|k| (k.name, k.default, k.doc))
    }

    /// Checks one key and value without resolving the rest.
    pub fn validate_entry(name: &str, value: &str) -> Result<()> {
        let mut one = BTreeMap::new();
        one.insert(name.to_string(), value.to_string());
        Self::resolve(&BTreeMap::new(), &one).map(|_| ())
    }

    /// Resolves `overrides` over `defaults` (broker-level) over the built-in defaults.
    pub fn resolve(
        defaults: &BTreeMap<String, String>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self> {
        for name in defaults.keys().chain(overrides.keys()) {
            if !KEYS.iter().any(|k| k.name == name) {
                let known: Vec<_> = KEYS.iter().map(|k| k.name).collect();
                return Err(Error::InvalidConfig {
                    key: name.clone(),
                    reason: format!("unknown topic config; known keys: {}", known.join(", ")),
                });
            }
        }
        let get = |name: &str| -> &str {
            overrides
                .get(name)
                .or_else(|| defaults.get(name))
                .map(String::as_str)
                .unwrap_or_else(|| {
                    KEYS.iter()
                        .find(|k| k.name == name)
                        .map(|k| k.default)
                        .unwrap_or("")
                })
        };
        let int = |name: &str, min: i64| -> Result<i64> {
            let raw = get(name);
            let value: i64 = raw.trim().parse().map_err(|_| Error::InvalidConfig {
                key: name.to_string(),
                reason: format!("expected an integer, got {raw:?}"),
            })?;
            if value < min {
                return Err(Error::InvalidConfig {
                    key: name.to_string(),
                    reason: format!("must be at least {min}, got {value}"),
                });
            }
            Ok(value)
        };
        let retention_ms = int("retention.ms", -1)?;
        let retention_bytes = int("retention.bytes", -1)?;
        let timestamp_type = get("message.timestamp.type");
        let log_append_time = match timestamp_type {
            "CreateTime" => false,
            "LogAppendTime" => true,
            other => {
                return Err(Error::InvalidConfig {
                    key: "message.timestamp.type".into(),
                    reason: format!("expected CreateTime or LogAppendTime, got {other:?}"),
                });
            }
        };
        let policy = get("cleanup.policy");
        let parts: Vec<&str> = policy.split(',').map(str::trim).collect();
        if parts.is_empty() || parts.iter().any(|p| *p != "delete" && *p != "compact") {
            return Err(Error::InvalidConfig {
                key: "cleanup.policy".into(),
                reason: format!("expected delete, compact or compact,delete, got {policy:?}"),
            });
        }
        let compression = get("compression.type");
        if !["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains(&compression) {
            return Err(Error::InvalidConfig {
                key: "compression.type".into(),
                reason: format!(
                    "expected producer, uncompressed, gzip, snappy, lz4 or zstd, got {compression:?}"
                ),
            });
        }
        int("min.insync.replicas", 1)?;
        Ok(LogConfig {
            segment_bytes: int("segment.bytes", 1024)?,
            segment_ms: int("segment.ms", 1)?,
            retention_ms: if retention_ms < 0 { -1 } else { retention_ms },
            retention_bytes,
            flush_messages: int("flush.messages", 1)?,
            flush_ms: int("flush.ms", 0)?,
            index_interval_bytes: int("index.interval.bytes", 0)?,
            max_message_bytes: int("max.message.bytes", 0)?,
            log_append_time,
            cleanup_delete: parts.contains(&"delete"),
        })
    }

    /// True when every acknowledged write must be fsynced before the answer.
    pub fn fsync_on_ack(&self) -> bool {
        self.flush_messages <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka_names() {
        let c = LogConfig::default();
        assert_eq!(c.retention_ms, SEVEN_DAYS_MS);
        assert_eq!(c.segment_bytes, DEFAULT_SEGMENT_BYTES);
        assert!(c.fsync_on_ack());
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = LogConfig::validate_entry("retention.ms", "soon").unwrap_err();
        assert!(err.to_string().contains("retention.ms"), "{err}");
        let err = LogConfig::validate_entry("no.such.key", "1").unwrap_err();
        assert!(err.to_string().contains("no.such.key"), "{err}");
    }
}

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
#[derive(Debug, Clone, PartialEq)]
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
    /// `cleanup.policy` contains `compact`: closed segments keep the latest record per key.
    pub cleanup_compact: bool,
    /// `delete.retention.ms`: how long compaction keeps a key's tombstone (null value).
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted.
    pub min_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: the share of closed-segment bytes not yet cleaned that
    /// starts a compaction pass.
    pub min_cleanable_dirty_ratio: f64,
}

/// One topic config key: its name, default, description, and the values it takes.
struct Key {
    name: &'static str,
    default: &'static str,
    doc: &'static str,
    kind: Kind,
}

/// The values a key takes, for the keys that are stored and shown but do not change how a
/// single broker's log behaves (checked here; the keys the log uses are checked where they are
/// resolved, below).
#[derive(Clone, Copy)]
enum Kind {
    /// Resolved into [`LogConfig`] with its own checks.
    Typed,
    /// An integer of at least `min`.
    Long { min: i64 },
    /// `true` or `false`.
    Bool,
    /// A comma-separated list (replica lists such as `0:0,1:0`, or `*`).
    List,
    /// Free text (a message format version, say).
    Text,
}

/// Stored, shown by DescribeConfigs, and without effect on one broker (no followers, no
/// remote tier) or until compaction reads them.
const NO_EFFECT: &str = "stored and shown; no effect on a single broker";

const KEYS: &[Key] = &[
    Key {
        name: "segment.bytes",
        default: "1073741824",
        doc: "segment size that triggers a roll (bytes, >= 1024)",
        kind: Kind::Typed,
    },
    Key {
        name: "segment.ms",
        default: "604800000",
        doc: "segment age that triggers a roll (ms, >= 1)",
        kind: Kind::Typed,
    },
    Key {
        name: "retention.ms",
        default: "604800000",
        doc: "time retention (ms, -1 = forever)",
        kind: Kind::Typed,
    },
    Key {
        name: "retention.bytes",
        default: "-1",
        doc: "size retention per partition (bytes, -1 = off)",
        kind: Kind::Typed,
    },
    Key {
        name: "flush.messages",
        default: "1",
        doc: "1 = fsync before acknowledging; larger = page-cache mode, fsync once this many offsets are pending",
        kind: Kind::Typed,
    },
    Key {
        name: "flush.ms",
        default: "1000",
        doc: "page-cache mode: fsync at least this often (ms)",
        kind: Kind::Typed,
    },
    Key {
        name: "index.interval.bytes",
        default: "4096",
        doc: "bytes between sparse index entries",
        kind: Kind::Typed,
    },
    Key {
        name: "max.message.bytes",
        default: "1048588",
        doc: "largest record batch accepted (bytes)",
        kind: Kind::Typed,
    },
    Key {
        name: "message.timestamp.type",
        default: "CreateTime",
        doc: "CreateTime or LogAppendTime",
        kind: Kind::Typed,
    },
    Key {
        name: "cleanup.policy",
        default: "delete",
        doc: "delete, compact, or compact,delete",
        kind: Kind::Typed,
    },
    Key {
        name: "compression.type",
        default: "producer",
        doc: "stored batches keep the producer's codec",
        kind: Kind::Typed,
    },
    Key {
        name: "min.insync.replicas",
        default: "1",
        doc: "single-node broker: only 1 is meaningful",
        kind: Kind::Typed,
    },
    Key {
        name: "compression.gzip.level",
        default: "-1",
        doc: NO_EFFECT,
        kind: Kind::Long { min: -1 },
    },
    Key {
        name: "compression.lz4.level",
        default: "9",
        doc: NO_EFFECT,
        kind: Kind::Long { min: 1 },
    },
    Key {
        name: "compression.zstd.level",
        default: "3",
        doc: NO_EFFECT,
        kind: Kind::Long { min: -131072 },
    },
    Key {
        name: "delete.retention.ms",
        default: "86400000",
        doc: "compaction: how long a tombstone (null value) is kept (ms)",
        kind: Kind::Typed,
    },
    Key {
        name: "file.delete.delay.ms",
        default: "60000",
        doc: NO_EFFECT,
        kind: Kind::Long { min: 0 },
    },
    Key {
        name: "follower.replication.throttled.replicas",
        default: "",
        doc: NO_EFFECT,
        kind: Kind::List,
    },
    Key {
        name: "leader.replication.throttled.replicas",
        default: "",
        doc: NO_EFFECT,
        kind: Kind::List,
    },
    Key {
        name: "local.retention.bytes",
        default: "-2",
        doc: NO_EFFECT,
        kind: Kind::Long { min: -2 },
    },
    Key {
        name: "local.retention.ms",
        default: "-2",
        doc: NO_EFFECT,
        kind: Kind::Long { min: -2 },
    },
    Key {
        name: "max.compaction.lag.ms",
        default: "9223372036854775807",
        doc: "stored and shown; compaction runs on the dirty ratio, not on this lag",
        kind: Kind::Long { min: 1 },
    },
    Key {
        name: "message.downconversion.enable",
        default: "true",
        doc: NO_EFFECT,
        kind: Kind::Bool,
    },
    Key {
        name: "message.format.version",
        default: "3.0-IV1",
        doc: "stored and shown; batches are always RecordBatch v2",
        kind: Kind::Text,
    },
    Key {
        name: "message.timestamp.after.max.ms",
        default: "9223372036854775807",
        doc: "stored and shown; timestamps are not checked against the broker's clock",
        kind: Kind::Long { min: 0 },
    },
    Key {
        name: "message.timestamp.before.max.ms",
        default: "9223372036854775807",
        doc: "stored and shown; timestamps are not checked against the broker's clock",
        kind: Kind::Long { min: 0 },
    },
    Key {
        name: "message.timestamp.difference.max.ms",
        default: "9223372036854775807",
        doc: "stored and shown; timestamps are not checked against the broker's clock",
        kind: Kind::Long { min: 0 },
    },
    Key {
        name: "min.cleanable.dirty.ratio",
        default: "0.5",
        doc: "compaction: share of closed-segment bytes not yet cleaned that starts a pass",
        kind: Kind::Typed,
    },
    Key {
        name: "min.compaction.lag.ms",
        default: "0",
        doc: "compaction: records younger than this (ms) are not compacted",
        kind: Kind::Typed,
    },
    Key {
        name: "preallocate",
        default: "false",
        doc: NO_EFFECT,
        kind: Kind::Bool,
    },
    Key {
        name: "remote.log.copy.disable",
        default: "false",
        doc: NO_EFFECT,
        kind: Kind::Bool,
    },
    Key {
        name: "remote.log.delete.on.disable",
        default: "false",
        doc: NO_EFFECT,
        kind: Kind::Bool,
    },
    Key {
        name: "remote.storage.enable",
        default: "false",
        doc: NO_EFFECT,
        kind: Kind::Bool,
    },
    Key {
        name: "segment.index.bytes",
        default: "10485760",
        doc: "stored and shown; the sparse index lives in memory",
        kind: Kind::Long { min: 4 },
    },
    Key {
        name: "segment.jitter.ms",
        default: "0",
        doc: NO_EFFECT,
        kind: Kind::Long { min: 0 },
    },
    Key {
        name: "unclean.leader.election.enable",
        default: "false",
        doc: NO_EFFECT,
        kind: Kind::Bool,
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
        for (name, value) in defaults.iter().chain(overrides.iter()) {
            let Some(key) = KEYS.iter().find(|k| k.name == name) else {
                let known: Vec<_> = KEYS.iter().map(|k| k.name).collect();
                return Err(Error::InvalidConfig {
                    key: name.clone(),
                    reason: format!("unknown topic config; known keys: {}", known.join(", ")),
                });
            };
            check_kind(key, value)?;
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
        let ratio_raw = get("min.cleanable.dirty.ratio");
        let min_cleanable_dirty_ratio = ratio_raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| Error::InvalidConfig {
                key: "min.cleanable.dirty.ratio".into(),
                reason: format!("expected a number from 0 to 1, got {ratio_raw:?}"),
            })?;
        Ok(LogConfig {
            cleanup_compact: parts.contains(&"compact"),
            delete_retention_ms: int("delete.retention.ms", 0)?,
            min_compaction_lag_ms: int("min.compaction.lag.ms", 0)?,
            min_cleanable_dirty_ratio,
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

/// Checks a value of a key that is stored but not resolved into [`LogConfig`].
fn check_kind(key: &Key, value: &str) -> Result<()> {
    let bad = |expected: &str| Error::InvalidConfig {
        key: key.name.to_string(),
        reason: format!("expected {expected}, got {value:?}"),
    };
    match key.kind {
        Kind::Typed | Kind::List | Kind::Text => Ok(()),
        Kind::Long { min } => match value.trim().parse::<i64>() {
            Ok(v) if v >= min => Ok(()),
            _ => Err(bad(&format!("an integer of at least {min}"))),
        },
        Kind::Bool => match value.trim() {
            "true" | "false" => Ok(()),
            _ => Err(bad("true or false")),
        },
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

    /// Every topic config Kafka documents (4.x, and the ones 3.x had) is accepted with its
    /// default, so admin tools that copy a topic's configs work.
    #[test]
    fn every_documented_kafka_topic_config_is_accepted() {
        let documented = [
            "cleanup.policy",
            "compression.gzip.level",
            "compression.lz4.level",
            "compression.type",
            "compression.zstd.level",
            "delete.retention.ms",
            "file.delete.delay.ms",
            "flush.messages",
            "flush.ms",
            "follower.replication.throttled.replicas",
            "index.interval.bytes",
            "leader.replication.throttled.replicas",
            "local.retention.bytes",
            "local.retention.ms",
            "max.compaction.lag.ms",
            "max.message.bytes",
            "message.downconversion.enable",
            "message.format.version",
            "message.timestamp.after.max.ms",
            "message.timestamp.before.max.ms",
            "message.timestamp.difference.max.ms",
            "message.timestamp.type",
            "min.cleanable.dirty.ratio",
            "min.compaction.lag.ms",
            "min.insync.replicas",
            "preallocate",
            "remote.log.copy.disable",
            "remote.log.delete.on.disable",
            "remote.storage.enable",
            "retention.bytes",
            "retention.ms",
            "segment.bytes",
            "segment.index.bytes",
            "segment.jitter.ms",
            "segment.ms",
            "unclean.leader.election.enable",
        ];
        for name in documented {
            let (_, default, _) = LogConfig::known_keys()
                .find(|(n, _, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is not known"));
            LogConfig::validate_entry(name, default).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for (name, bad) in [
            ("preallocate", "yes"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("delete.retention.ms", "-4"),
            ("segment.jitter.ms", "soon"),
        ] {
            let err = LogConfig::validate_entry(name, bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(name) && err.contains(bad), "{err}");
        }
    }
}

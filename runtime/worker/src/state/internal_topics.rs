//! connectd's own topics (source offsets, status, connector configs): their names, their
//! topic configs, and making sure they exist.

use crate::backend::TopicBackend;
use crate::error::{Error, Result};
use crate::state::{configs, offsets, status};

/// The names of connectd's own topics: source offsets, status, and connector configs (Kafka
/// Connect's `offset.storage.topic`, `status.storage.topic` and `config.storage.topic`).
/// Workers sharing a cluster but not their connectors use names of their own. Connectors may
/// not write them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopics {
    /// Source offsets (default `connectd-offsets`).
    pub offsets: String,
    /// Connector and task status (default `connectd-status`).
    pub status: String,
    /// Connector configs and target states (default `connectd-configs`).
    pub configs: String,
}

impl Default for InternalTopics {
    fn default() -> Self {
        InternalTopics {
            offsets: offsets::OFFSETS_TOPIC.into(),
            status: status::STATUS_TOPIC.into(),
            configs: configs::CONFIGS_TOPIC.into(),
        }
    }
}

impl InternalTopics {
    /// Whether `topic` is one of them.
    pub fn contains(&self, topic: &str) -> bool {
        [&self.offsets, &self.status, &self.configs]
            .iter()
            .any(|t| t.as_str() == topic)
    }

    /// Their names, for messages.
    pub fn list(&self) -> String {
        format!("{}, {}, {}", self.offsets, self.status, self.configs)
    }
}

/// Topic configs of the internal topics: compacted (the latest record per key is what
/// counts), in 16 MiB segments so closed segments exist for compaction to clean, and a
/// worker's start replays a bounded amount however long it has run.
pub(crate) const INTERNAL_TOPIC_CONFIGS: &[(&str, &str)] =
    &[("cleanup.policy", "compact"), ("segment.bytes", "16777216")];

/// Creates an internal topic (compacted, one partition) unless it exists; the error names
/// the topic, what it holds and the worker.toml key that names it.
pub(crate) fn ensure_internal_topic(
    backend: &dyn TopicBackend,
    topic: &str,
    holds: &str,
    key: &str,
) -> Result<()> {
    backend
        .admin()
        .ensure_topic(topic, 1, INTERNAL_TOPIC_CONFIGS)
        .map(|_| ())
        .map_err(|e| {
            Error::Backend(format!(
                "cannot create or find the internal topic {topic:?} ({holds}; [worker] {key}): {e}"
            ))
        })
}

//! Connectors created through the REST API, and every connector's target state, in the
//! internal compacted topic `connectd-configs`, with Kafka Connect's keys:
//!
//! - `connector-<name>` → `{"properties": {...}}`, the config as submitted (`${env:}` and
//!   `${file:}` references unresolved); a tombstone when the connector is deleted;
//! - `target-state-<name>` → `{"state": "STARTED" | "PAUSED" | "STOPPED"}`; a tombstone
//!   (or nothing) means STARTED;
//! - scaled out, restart requests (KIP-745): `restart-connector-<name>` →
//!   `{"include-tasks": true, "only-failed": bool}` for a connector's tasks, and (connectd's
//!   own key) `restart-task-<name>-<task>` → `{}` for one task. Every worker of the group
//!   reads them and restarts the tasks it runs, so a request reaches the worker that runs the
//!   task whichever worker's API took it. Requests already in the topic when a worker starts
//!   are history, not asks: its tasks start fresh anyway.
//!
//! Connectors from `connectors_dir` files are not stored here (the file is their store), but
//! their target state is, so a paused file connector stays paused across restarts. Scaled
//! out (`[cluster]`), a worker publishes its files' connectors here too, marked with the file
//! (`"file": "<path>"`), because this topic is what every worker of the group runs from; each
//! worker follows the topic ([`ConfigStore::catch_up`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use connectd_record_batch::ProducerRecord;
use connectd_records::{Offset, TopicPartition};
use serde::{Deserialize, Serialize};

use crate::backend::{self, Producer, Tail, TopicBackend};
use crate::clock::now_ms;
use crate::error::Result;

/// The internal topic holding REST-created connectors and target states.
pub const CONFIGS_TOPIC: &str = "connectd-configs";

/// What a connector should be doing (Kafka Connect's target state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TargetState {
    /// Its tasks run.
    #[default]
    Started,
    /// Its tasks are stopped and its status is PAUSED; resuming continues from its offsets.
    Paused,
    /// Its tasks are stopped and its status is STOPPED (KIP-875): its offsets may be read,
    /// altered or reset.
    Stopped,
}

#[derive(Serialize, Deserialize)]
struct ConnectorValue {
    properties: BTreeMap<String, String>,
    /// The file it was published from (scaled out); absent for a REST-created connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

/// A connector as `connectd-configs` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnector {
    /// Its config as submitted (`${...}` references unresolved).
    pub properties: BTreeMap<String, String>,
    /// The connector file it was published from, on whichever worker; `None` if it was
    /// created through the REST API.
    pub file: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct TargetValue {
    state: TargetState,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RestartValue {
    #[serde(default)]
    include_tasks: bool,
    #[serde(default)]
    only_failed: bool,
}

/// A request to restart tasks, read from `connectd-configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRequest {
    /// The connector.
    pub connector: String,
    /// One task, or (`None`) all of them.
    pub task: Option<u32>,
    /// Only the FAILED ones.
    pub only_failed: bool,
}

#[derive(Default)]
struct Stored {
    connectors: BTreeMap<String, StoredConnector>,
    targets: BTreeMap<String, TargetState>,
    /// Restart requests read and not yet taken ([`ConfigStore::take_restarts`]).
    restarts: Vec<RestartRequest>,
}

impl Stored {
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        if let Some(name) = key.strip_prefix("connector-") {
            set(
                &mut self.connectors,
                name,
                key,
                value,
                |v: ConnectorValue| StoredConnector {
                    properties: v.properties,
                    file: v.file,
                },
            );
        } else if let Some(name) = key.strip_prefix("target-state-") {
            set(&mut self.targets, name, key, value, |v: TargetValue| {
                v.state
            });
        } else if let Some(request) = restart_request(key, value) {
            self.restarts.push(request);
        }
    }
}

/// The restart request a record holds, if it is one (a tombstone or an unreadable value is
/// none).
fn restart_request(key: &str, value: Option<&[u8]>) -> Option<RestartRequest> {
    let (connector, task) = if let Some(name) = key.strip_prefix("restart-connector-") {
        (name, None)
    } else {
        let (name, task) = key.strip_prefix("restart-task-")?.rsplit_once('-')?;
        (name, Some(task.parse().ok()?))
    };
    let value: RestartValue = match serde_json::from_slice(value?) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(key, error = %e, "unreadable restart request in connectd-configs");
            return None;
        }
    };
    // A connector's restart without its tasks restarts nothing in connectd: a connector
    // has no state of its own apart from its tasks.
    (task.is_some() || value.include_tasks).then(|| RestartRequest {
        connector: connector.to_string(),
        task,
        only_failed: task.is_none() && value.only_failed,
    })
}

/// Applies one record to a map by connector name: a value sets what `field` takes of it, a
/// tombstone removes the entry.
fn set<V: serde::de::DeserializeOwned, T>(
    map: &mut BTreeMap<String, T>,
    name: &str,
    key: &str,
    value: Option<&[u8]>,
    field: impl FnOnce(V) -> T,
) {
    match value.map(serde_json::from_slice::<V>) {
        Some(Ok(v)) => {
            map.insert(name.to_string(), field(v));
        }
        None => {
            map.remove(name);
        }
        Some(Err(e)) => tracing::warn!(key, error = %e, "unreadable record in connectd-configs"),
    }
}

/// REST-created connectors and target states, as `connectd-configs` holds them.
pub struct ConfigStore {
    /// Writes `connectd-configs`; one write at a time.
    producer: Mutex<Box<dyn Producer>>,
    stored: Mutex<Stored>,
    /// Follows `connectd-configs` for what other workers write.
    tail: Mutex<Tail>,
    /// The topic's one partition.
    tp: TopicPartition,
}

impl ConfigStore {
    /// Creates the topic if needed and replays it.
    pub fn load(backend: Arc<dyn TopicBackend>, topic: &str) -> Result<Self> {
        crate::state::internal_topics::ensure_internal_topic(
            backend.as_ref(),
            topic,
            "connector configs",
            "config_storage_topic",
        )?;
        let tp = TopicPartition::new(topic, 0);
        let store = ConfigStore {
            producer: Mutex::new(backend.producer()?),
            stored: Mutex::new(Stored::default()),
            tail: Mutex::new(Tail::new(backend.as_ref(), tp.clone(), Offset::ZERO)?),
            tp,
        };
        store.catch_up()?;
        // Requests made before this worker started are done with: its tasks start fresh.
        store.take_restarts();
        Ok(store)
    }

    /// The restart requests read since the last call, in the topic's order.
    pub fn take_restarts(&self) -> Vec<RestartRequest> {
        std::mem::take(&mut self.stored().restarts)
    }

    /// Asks every worker of the group to restart the tasks of `name` it runs: `task`, or
    /// all (only the FAILED ones with `only_failed`).
    pub fn request_restart(&self, name: &str, task: Option<u32>, only_failed: bool) -> Result<()> {
        let (key, value) = match task {
            Some(task) => (format!("restart-task-{name}-{task}"), b"{}".to_vec()),
            None => {
                let value = RestartValue {
                    include_tasks: true,
                    only_failed,
                };
                let value = serde_json::to_vec(&value).expect("serialises");
                (format!("restart-connector-{name}"), value)
            }
        };
        self.write(vec![(key, Some(value))])
    }

    /// Applies what was written to `connectd-configs` since the last look (by any worker);
    /// returns whether anything was.
    pub fn catch_up(&self) -> Result<bool> {
        // The reader stays locked while its records apply, so two callers apply theirs in
        // the topic's order.
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let records = tail.read_new()?;
        let mut stored = self.stored();
        for record in &records {
            if let Some(key) = &record.key {
                stored.apply(key, record.value.as_deref());
            }
        }
        Ok(!records.is_empty())
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every stored connector (REST-created, or published from a file when scaled out).
    pub fn connectors(&self) -> BTreeMap<String, StoredConnector> {
        self.stored().connectors.clone()
    }

    /// The target state of a connector.
    pub fn target(&self, name: &str) -> TargetState {
        self.stored().targets.get(name).copied().unwrap_or_default()
    }

    /// Durably writes `records` (key, value or tombstone), then applies them.
    fn write(&self, records: Vec<(String, Option<Vec<u8>>)>) -> Result<()> {
        let batch: Vec<ProducerRecord> = records
            .iter()
            .map(|(key, value)| ProducerRecord {
                key: Some(key.clone().into_bytes()),
                value: value.clone(),
                headers: Vec::new(),
                timestamp_ms: now_ms(),
            })
            .collect();
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        backend::append(producer.as_mut(), &self.tp, &batch)?;
        drop(producer);
        // Applied in the topic's order, with whatever other workers wrote before it.
        self.catch_up().map(|_| ())
    }

    /// Stores a REST-created connector's config (created or replaced).
    pub fn put_connector(&self, name: &str, properties: BTreeMap<String, String>) -> Result<()> {
        self.publish(name, properties, None)
    }

    /// Stores a connector's config, published from `file` when scaled out (`None`: created
    /// through the REST API).
    pub fn publish(
        &self,
        name: &str,
        properties: BTreeMap<String, String>,
        file: Option<String>,
    ) -> Result<()> {
        let value = serde_json::to_vec(&ConnectorValue { properties, file }).expect("serialises");
        self.write(vec![(format!("connector-{name}"), Some(value))])
    }

    /// Forgets a connector: its config (if REST-created) and its target state.
    pub fn delete_connector(&self, name: &str) -> Result<()> {
        self.write(vec![
            (format!("connector-{name}"), None),
            (format!("target-state-{name}"), None),
        ])
    }

    /// Stores a connector's target state.
    pub fn set_target(&self, name: &str, state: TargetState) -> Result<()> {
        let value = serde_json::to_vec(&TargetValue { state }).expect("serialises");
        self.write(vec![(format!("target-state-{name}"), Some(value))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_tombstones_apply_in_order() {
        let mut s = Stored::default();
        s.apply(
            b"connector-a",
            Some(br#"{"properties":{"plugin":"datagen-source"}}"#),
        );
        s.apply(b"target-state-a", Some(br#"{"state":"PAUSED"}"#));
        assert_eq!(s.connectors["a"].properties["plugin"], "datagen-source");
        assert_eq!(s.targets["a"], TargetState::Paused);
        s.apply(b"connector-a", None);
        s.apply(b"target-state-a", None);
        s.apply(b"commit-a", Some(b"ignored"));
        assert!(s.connectors.is_empty() && s.targets.is_empty());
    }

    #[test]
    fn restart_requests_name_the_connector_and_task() {
        let mut s = Stored::default();
        s.apply(
            b"restart-connector-my-conn",
            Some(br#"{"include-tasks":true,"only-failed":true}"#),
        );
        s.apply(b"restart-task-my-conn-12", Some(b"{}"));
        // Without its tasks, nothing to restart; tombstones and bad values are not asks.
        s.apply(b"restart-connector-b", Some(br#"{"include-tasks":false}"#));
        s.apply(b"restart-task-b-x", Some(b"{}"));
        s.apply(b"restart-task-b-1", None);
        s.apply(b"restart-task-b-1", Some(b"not json"));
        let request = |task, only_failed| RestartRequest {
            connector: "my-conn".into(),
            task,
            only_failed,
        };
        assert_eq!(
            std::mem::take(&mut s.restarts),
            vec![request(None, true), request(Some(12), false)]
        );
    }
}

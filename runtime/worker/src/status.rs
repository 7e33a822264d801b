//! Connector and task status, kept in memory and written to the internal topic
//! `connectd-status` (key `<connector>/<task>`, value JSON), which `connectd connectors
//! status` reads. States follow Kafka Connect: RUNNING, FAILED, UNASSIGNED.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use connectd_records::TopicPartition;
use connectd_records::record_batch::ProducerRecord;

use crate::backend::{self, Producer, TopicBackend};
use crate::now_ms;

/// The internal topic holding status.
pub const STATUS_TOPIC: &str = "connectd-status";

/// One status entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStatus {
    /// RUNNING, FAILED or UNASSIGNED.
    pub state: String,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Connector plugin.
    pub plugin: String,
}

impl TaskStatus {
    /// RUNNING, with `plugin`.
    pub fn running(plugin: &str) -> Self {
        TaskStatus {
            state: "RUNNING".into(),
            trace: None,
            plugin: plugin.to_string(),
        }
    }
}

/// Status of every connector task on this worker.
pub struct Status {
    /// Writes `connectd-status`.
    producer: Mutex<Box<dyn Producer>>,
    current: Mutex<BTreeMap<String, TaskStatus>>,
    /// Each connector's active topics (Kafka Connect's KIP-558): those its tasks wrote or
    /// read since it started or since the last reset. Kept in memory: after a restart the
    /// tasks find them again with their first write or read.
    topics: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl Status {
    /// A status store writing to `connectd-status`.
    pub fn new(backend: Arc<dyn TopicBackend>) -> crate::Result<Self> {
        backend
            .admin()
            .ensure_topic(STATUS_TOPIC, 1, crate::INTERNAL_TOPIC_CONFIGS)?;
        Ok(Status {
            producer: Mutex::new(backend.producer()?),
            current: Mutex::new(BTreeMap::new()),
            topics: Mutex::new(BTreeMap::new()),
        })
    }

    /// Records a state change (logged, kept, and written to the status topic). A task that
    /// fails again the same way is logged again; the topic gets changes only.
    pub fn set(&self, connector: impl AsRef<str>, task: Option<u32>, status: TaskStatus) {
        let connector = connector.as_ref();
        let key = Self::key(connector, task);
        match &status.trace {
            Some(trace) => {
                tracing::warn!(connector, task, state = %status.state, reason = %trace, "status")
            }
            None => tracing::info!(connector, task, state = %status.state, "status"),
        }
        {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            if current.get(&key) == Some(&status) {
                return;
            }
            current.insert(key.clone(), status.clone());
        }
        let record = ProducerRecord {
            key: Some(key.into_bytes()),
            value: Some(serde_json::to_vec(&status).expect("serialises")),
            headers: Vec::new(),
            timestamp_ms: now_ms(),
        };
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        let tp = TopicPartition::new(STATUS_TOPIC, 0);
        if let Err(e) = backend::append(producer.as_mut(), &tp, &[record]) {
            tracing::warn!(error = %e, "could not write status");
        }
    }

    /// As [`Status::set`], but a status equal to the current one is not logged again (for
    /// a connector's config error, found again at every look at its folder).
    pub fn set_changed(&self, connector: impl AsRef<str>, task: Option<u32>, status: TaskStatus) {
        let connector = connector.as_ref();
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.get(&Self::key(connector, task)) != Some(&status) {
            drop(current);
            self.set(connector, task, status);
        }
    }

    fn key(connector: &str, task: Option<u32>) -> String {
        match task {
            Some(t) => format!("{connector}/{t}"),
            None => connector.to_string(),
        }
    }

    /// Notes that `connector` uses `topic`.
    pub fn topic_active(&self, connector: &str, topic: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if topics
            .entry(connector.to_string())
            .or_default()
            .insert(topic.to_string())
        {
            tracing::debug!(connector, topic, "active topic");
        }
    }

    /// The topics `connector` used since it started or since the last reset.
    pub fn active_topics(&self, connector: &str) -> Vec<String> {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .get(connector)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets `connector`'s active topics.
    pub fn reset_topics(&self, connector: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics.remove(connector);
    }

    /// The current status of every connector and task.
    pub fn snapshot(&self) -> BTreeMap<String, TaskStatus> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

//! Connector and task status, kept in memory and written to the internal topic
//! `connectd-status` (key `<connector>/<task>`, value JSON with the worker that runs it and
//! the group generation it runs under), which `connectd connectors status` reads. States
//! follow Kafka Connect: RUNNING, FAILED, UNASSIGNED. Scaled out, each worker also follows the
//! topic ([`Status::catch_up`]) to show the tasks the others run; for each entry the one with
//! the highest generation wins.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use connectd_record_batch::ProducerRecord;
use connectd_records::{Offset, TopicPartition};

use crate::backend::{self, Producer, Tail, TopicBackend};
use crate::clock::now_ms;

/// The internal topic holding status.
pub const STATUS_TOPIC: &str = "connectd-status";

/// A connector's or task's state, as Kafka Connect names them (written in capitals in the
/// status topic and the REST API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Running.
    Running,
    /// Paused by its target state; keeps its place.
    Paused,
    /// Stopped by its target state.
    Stopped,
    /// Failed; the trace says why.
    Failed,
    /// Being restarted.
    Restarting,
    /// Not (yet) running on any worker.
    #[default]
    Unassigned,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Stopped => "STOPPED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Unassigned => "UNASSIGNED",
        })
    }
}

/// One status entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Its state.
    pub state: State,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Connector plugin.
    #[serde(default)]
    pub plugin: String,
    /// The worker that wrote it (set by [`Status::set`]).
    #[serde(default)]
    pub worker_id: String,
    /// The group generation it was written under (0 when not scaled out; set by
    /// [`Status::set`]).
    #[serde(default)]
    pub generation: i32,
}

impl TaskStatus {
    /// RUNNING, with `plugin`.
    pub fn running(plugin: &str) -> Self {
        TaskStatus {
            state: State::Running,
            trace: None,
            plugin: plugin.to_string(),
            ..TaskStatus::default()
        }
    }
}

/// Status of every connector task on this worker.
pub struct Status {
    /// Writes `connectd-status`.
    producer: Mutex<Box<dyn Producer>>,
    /// The status topic's one partition.
    tp: TopicPartition,
    current: Mutex<BTreeMap<String, TaskStatus>>,
    /// This worker's id, in every entry it writes.
    worker_id: String,
    /// The group generation its tasks run under now.
    generation: AtomicI32,
    /// Scaled out: every entry of the topic, by any worker, and the reader that follows it.
    cluster: Option<Mutex<(Tail, BTreeMap<String, TaskStatus>)>>,
    /// Each connector's active topics (Kafka Connect's KIP-558): those its tasks wrote or
    /// read since it started or since the last reset. Kept in memory: after a restart the
    /// tasks find them again with their first write or read.
    topics: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// Orders a task's own status writes with its stop: see [`Status::stop_task`].
    task_writes: Mutex<()>,
}

impl Status {
    /// A status store writing to `connectd-status` as `worker_id`; `follow`: also reading
    /// what the other workers of a group write.
    pub fn new(
        backend: Arc<dyn TopicBackend>,
        topic: &str,
        worker_id: &str,
        follow: bool,
    ) -> crate::error::Result<Self> {
        crate::state::internal_topics::ensure_internal_topic(
            backend.as_ref(),
            topic,
            "status",
            "status_storage_topic",
        )?;
        let tp = TopicPartition::new(topic, 0);
        let cluster = if follow {
            let tail = Tail::new(backend.as_ref(), tp.clone(), Offset::ZERO)?;
            Some(Mutex::new((tail, BTreeMap::new())))
        } else {
            None
        };
        let status = Status {
            producer: Mutex::new(backend.producer()?),
            tp,
            current: Mutex::new(BTreeMap::new()),
            worker_id: worker_id.to_string(),
            generation: AtomicI32::new(0),
            cluster,
            topics: Mutex::new(BTreeMap::new()),
            task_writes: Mutex::new(()),
        };
        status.catch_up()?;
        Ok(status)
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The group generation this worker's tasks run under (0 when not scaled out).
    pub fn generation(&self) -> i32 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Sets the generation written with this worker's entries from now on.
    pub fn set_generation(&self, generation: i32) {
        self.generation.store(generation, Ordering::Relaxed);
    }

    /// Scaled out: applies what every worker wrote to `connectd-status` since the last look.
    pub fn catch_up(&self) -> crate::error::Result<()> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let mut cluster = cluster.lock().unwrap_or_else(|e| e.into_inner());
        let (tail, entries) = &mut *cluster;
        for record in tail.read_new()? {
            let Some(key) = record.key.and_then(|k| String::from_utf8(k).ok()) else {
                continue;
            };
            match record
                .value
                .map(|v| serde_json::from_slice::<TaskStatus>(&v))
            {
                Some(Ok(s)) => {
                    if !late_unassigned(entries.get(&key), &s) {
                        entries.insert(key, s);
                    }
                }
                None => {
                    entries.remove(&key);
                }
                Some(Err(e)) => tracing::debug!(key, error = %e, "unreadable status record"),
            }
        }
        Ok(())
    }

    /// Records a state change (logged, kept, and written to the status topic). A task that
    /// fails again the same way is logged again; the topic gets changes only.
    pub fn set(&self, connector: impl AsRef<str>, task: Option<u32>, mut status: TaskStatus) {
        let connector = connector.as_ref();
        status.worker_id = self.worker_id.clone();
        status.generation = self.generation.load(Ordering::Relaxed);
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
        if let Err(e) = backend::append(producer.as_mut(), &self.tp, &[record]) {
            tracing::warn!(error = %e, "could not write status");
        }
    }

    /// Stops a task by its flag. Once this returns, the task writes no status of its own
    /// ([`Status::set_by_task`]), though its thread may still be finishing its current call:
    /// the supervisor can write PAUSED, or tombstones, without waiting for the thread.
    pub fn stop_task(&self, stop: &AtomicBool) {
        let _writes = self.task_writes.lock().unwrap_or_else(|e| e.into_inner());
        stop.store(true, Ordering::Relaxed);
    }

    /// [`Status::set`] from a task's own thread: nothing once the task is stopped.
    pub fn set_by_task(
        &self,
        stop: &AtomicBool,
        connector: impl AsRef<str>,
        task: u32,
        status: TaskStatus,
    ) {
        let _writes = self.task_writes.lock().unwrap_or_else(|e| e.into_inner());
        if !stop.load(Ordering::Relaxed) {
            self.set(connector, Some(task), status);
        }
    }

    /// As [`Status::set`], but a status equal to the current one is not logged again (for
    /// a connector's config error, found again at every look at its folder).
    pub fn set_changed(
        &self,
        connector: impl AsRef<str>,
        task: Option<u32>,
        mut status: TaskStatus,
    ) {
        let connector = connector.as_ref();
        status.worker_id = self.worker_id.clone();
        status.generation = self.generation.load(Ordering::Relaxed);
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.get(&Self::key(connector, task)) != Some(&status) {
            drop(current);
            self.set(connector, task, status);
        }
    }

    /// Forgets a connector that no longer exists: its entry and its tasks' are dropped here
    /// and tombstoned in the status topic (as Kafka Connect does on delete), so nothing shows
    /// or keeps a connector that is gone.
    pub fn remove(&self, connector: &str) {
        let prefix = format!("{connector}/");
        let keys: Vec<String> = {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<String> = current
                .keys()
                .filter(|k| *k == connector || k.starts_with(&prefix))
                .cloned()
                .collect();
            for key in &keys {
                current.remove(key);
            }
            keys
        };
        if keys.is_empty() {
            return;
        }
        tracing::info!(connector, "connector removed; its status is forgotten");
        let tombstones: Vec<ProducerRecord> = keys
            .into_iter()
            .map(|key| ProducerRecord {
                key: Some(key.into_bytes()),
                value: None,
                headers: Vec::new(),
                timestamp_ms: now_ms(),
            })
            .collect();
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = backend::append(producer.as_mut(), &self.tp, &tombstones) {
            tracing::warn!(error = %e, "could not write status");
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

    /// The current status of every connector and task: this worker's own, and scaled out
    /// the group's (an entry of a later generation wins; this worker's own on a tie).
    pub fn snapshot(&self) -> BTreeMap<String, TaskStatus> {
        let mut all = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(cluster) = &self.cluster {
            let cluster = cluster.lock().unwrap_or_else(|e| e.into_inner());
            for (key, s) in &cluster.1 {
                if all
                    .get(key)
                    .is_none_or(|mine| s.generation > mine.generation)
                {
                    all.insert(key.clone(), s.clone());
                }
            }
        }
        all
    }
}

/// Whether `s` is a late UNASSIGNED from the worker a task left, written under an older
/// generation than what another worker wrote since (its RUNNING): that would hide where the
/// task runs, so it is not applied.
fn late_unassigned(held: Option<&TaskStatus>, s: &TaskStatus) -> bool {
    s.state == State::Unassigned
        && held.is_some_and(|held| held.generation > s.generation && held.worker_id != s.worker_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_unassigned_does_not_hide_the_new_owner() {
        let status = |state, worker: &str, generation| TaskStatus {
            state,
            worker_id: worker.into(),
            generation,
            ..TaskStatus::default()
        };
        let running_b = status(State::Running, "b", 6);
        assert!(late_unassigned(
            Some(&running_b),
            &status(State::Unassigned, "a", 5)
        ));
        // In order, or from the same worker, or any other state: applied.
        assert!(!late_unassigned(
            Some(&running_b),
            &status(State::Unassigned, "a", 6)
        ));
        assert!(!late_unassigned(
            Some(&running_b),
            &status(State::Unassigned, "b", 5)
        ));
        assert!(!late_unassigned(
            Some(&running_b),
            &status(State::Failed, "a", 5)
        ));
        assert!(!late_unassigned(None, &status(State::Unassigned, "a", 5)));
    }

    #[test]
    fn states_are_written_and_read_as_kafka_connect_names_them() {
        for state in [
            State::Running,
            State::Paused,
            State::Stopped,
            State::Failed,
            State::Restarting,
            State::Unassigned,
        ] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
        }
        let entry: TaskStatus =
            serde_json::from_str(r#"{"state":"FAILED","trace":"boom","plugin":"p"}"#).unwrap();
        assert_eq!(
            (entry.state, entry.trace.as_deref()),
            (State::Failed, Some("boom"))
        );
        assert!(serde_json::from_str::<State>(r#""running""#).is_err());
    }
}

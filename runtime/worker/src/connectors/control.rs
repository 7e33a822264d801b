//! Managing connectors while the worker runs, as Kafka Connect's REST API does: list,
//! create, reconfigure, pause, resume, stop, restart and delete connectors, read their status
//! and offsets, and list and validate plugins. [`Control`] is a cheap handle any thread may
//! hold; every change is stored first (`connectd-configs`), then applied at once.
//!
//! Connectors from `connectors_dir` files are managed through their files: the API shows
//! them, pauses, resumes, stops and restarts them, but refuses to change or delete them
//! (409), naming the file to edit instead.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use connectd_records::{ConnectorName, Kind, Offset, TopicPartition};
use serde::Serialize;
use serde_json::{Value, json};

use crate::connectors::config::{ConnectorConfig, Origin};
use crate::connectors::validate;
use crate::state::configs::{ConfigStore, TargetState};
use crate::state::offsets::SourceOffsets;
use crate::state::status::{State, TaskStatus};
use crate::supervisor::{KnownConnector, Prepared, Supervisor};
use crate::worker::WorkerSettings;

/// Why a request could not be done, by the HTTP status Kafka Connect answers with.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// 404: no such connector, task or plugin.
    #[error("{0}")]
    NotFound(String),
    /// 409: the connector exists already, or it comes from a file.
    #[error("{0}")]
    Conflict(String),
    /// 400: the config or request is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 500: storing or applying it failed.
    #[error("{0}")]
    Internal(String),
}

type Result<T> = std::result::Result<T, ControlError>;

/// `{"connector": name, "task": id}`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRef {
    /// The connector.
    pub connector: String,
    /// The task's number.
    pub task: u32,
}

/// Kafka Connect's connector info: `GET /connectors/{name}`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    /// Its name.
    pub name: String,
    /// Its config as written.
    pub config: BTreeMap<String, String>,
    /// Its tasks.
    pub tasks: Vec<TaskRef>,
    /// `source` or `sink` (`unknown` until its plugin is found).
    #[serde(rename = "type")]
    pub kind: String,
}

/// One state in a status answer.
#[derive(Debug, Clone, Serialize)]
pub struct StateInfo {
    /// RUNNING, PAUSED, STOPPED, FAILED, RESTARTING or UNASSIGNED.
    pub state: State,
    /// Which worker it runs on.
    pub worker_id: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One task's state.
#[derive(Debug, Clone, Serialize)]
pub struct TaskState {
    /// The task's number.
    pub id: u32,
    /// Its state.
    #[serde(flatten)]
    pub state: StateInfo,
}

/// Kafka Connect's connector status: `GET /connectors/{name}/status`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorStatus {
    /// Its name.
    pub name: String,
    /// The connector's own state.
    pub connector: StateInfo,
    /// Each task's.
    pub tasks: Vec<TaskState>,
    /// `source` or `sink`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A plugin: `GET /connector-plugins`.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// Its name (Kafka Connect's `class`).
    pub class: String,
    /// `source`, `sink` or `transformation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its version.
    pub version: String,
}

/// A handle to manage the worker's connectors.
#[derive(Clone)]
pub struct Control {
    pub(crate) backend: Arc<dyn crate::backend::TopicBackend>,
    pub(crate) supervisor: Arc<Mutex<Supervisor>>,
    pub(crate) status: Arc<crate::state::status::Status>,
    pub(crate) configs: Arc<ConfigStore>,
    pub(crate) offsets: Arc<SourceOffsets>,
    pub(crate) settings: WorkerSettings,
    /// Held by each config write (create, put, patch, delete, pause/resume/stop, offset
    /// changes) from its check to its apply, so a name is checked and changed in one step: of
    /// two creates of one name, one gets 409; a pause cannot land on a connector just deleted.
    pub(crate) writes: Arc<Mutex<()>>,
}

fn kind_name(kind: Option<Kind>) -> String {
    match kind {
        Some(Kind::Source) => "source",
        Some(Kind::Sink) => "sink",
        Some(Kind::Transform) => "transformation",
        None => "unknown",
    }
    .to_string()
}

/// Offset bytes as JSON: the JSON they hold, or a string.
fn bytes_to_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The reverse of [`bytes_to_json`]: a string's own bytes, any other value's JSON text.
fn json_to_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone().into_bytes(),
        other => serde_json::to_vec(other).expect("JSON"),
    }
}

fn info_of(name: &str, known: &KnownConnector) -> ConnectorInfo {
    ConnectorInfo {
        name: name.to_string(),
        tasks: (0..known.tasks_max)
            .map(|task| TaskRef {
                connector: name.to_string(),
                task,
            })
            .collect(),
        kind: kind_name(known.kind),
        config: known.config.clone(),
    }
}

fn internal(e: crate::error::Error) -> ControlError {
    ControlError::Internal(e.to_string())
}

impl Control {
    fn supervisor(&self) -> std::sync::MutexGuard<'_, Supervisor> {
        self.supervisor.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn known(&self, name: &str) -> Result<KnownConnector> {
        self.supervisor()
            .known()
            .get(name)
            .cloned()
            .ok_or_else(|| ControlError::NotFound(format!("Connector {name} not found")))
    }

    /// A connector that may be changed through the API: not one from a file.
    fn rest_owned(&self, name: &str) -> Result<KnownConnector> {
        let known = self.known(name)?;
        if let Some(file) = known.origin.file() {
            return Err(ControlError::Conflict(format!(
                "Connector {name} is defined by the file {}; edit or remove that file instead",
                file.display()
            )));
        }
        Ok(known)
    }

    /// Applies what is stored now; `prepared` is the config just stored, as checked.
    fn apply(&self, prepared: Option<Prepared>) {
        self.supervisor().apply(prepared);
    }

    /// Scaled out, after a restart request is stored: applies what the write read from
    /// `connectd-configs` (other workers' changes too, which the follower's next look will
    /// not see as new), then the requests, to the tasks this worker runs.
    fn apply_restarts(&self) {
        let mut supervisor = self.supervisor();
        supervisor.reconcile();
        supervisor.restart_requested();
    }

    /// The cluster's topics and consumer groups (the status page's).
    pub fn overview(&self) -> Result<crate::backend::Overview> {
        self.backend.admin().overview().map_err(internal)
    }

    /// The names of every connector.
    pub fn list(&self) -> Vec<String> {
        self.supervisor().known().keys().cloned().collect()
    }

    /// A connector's config, tasks and type.
    pub fn info(&self, name: &str) -> Result<ConnectorInfo> {
        Ok(info_of(name, &self.known(name)?))
    }

    /// A connector's state and each task's.
    pub fn status(&self, name: &str) -> Result<ConnectorStatus> {
        let known = self.known(name)?;
        Ok(self.status_of(name, &known, &self.status.snapshot()))
    }

    /// Every connector's status and info, read at once (`GET /connectors?expand=...`).
    pub fn all(&self) -> Vec<(ConnectorStatus, ConnectorInfo)> {
        let known = self.supervisor().known().clone();
        let statuses = self.status.snapshot();
        known
            .iter()
            .map(|(name, k)| (self.status_of(name, k, &statuses), info_of(name, k)))
            .collect()
    }

    fn status_of(
        &self,
        name: &str,
        known: &KnownConnector,
        all: &BTreeMap<String, TaskStatus>,
    ) -> ConnectorStatus {
        let state = |s: Option<&TaskStatus>| StateInfo {
            state: s.map_or(State::Unassigned, |s| s.state),
            // The worker that runs it (scaled out, maybe another one); this one if none yet.
            worker_id: s
                .map(|s| s.worker_id.clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| self.settings.worker_id.clone()),
            trace: s.and_then(|s| s.trace.clone()),
        };
        ConnectorStatus {
            name: name.to_string(),
            connector: state(all.get(name)),
            tasks: (0..known.tasks_max)
                .map(|id| TaskState {
                    id,
                    state: state(all.get(&format!("{name}/{id}"))),
                })
                .collect(),
            kind: kind_name(known.kind),
        }
    }

    /// Checks a config as the worker would run it: the worker's keys, then the plugin's
    /// schema and each transform's (a value with a `${...}` reference is checked once it is
    /// resolved, when the connector starts: nothing here resolves one). The error lists every
    /// problem; what is returned starts as it is once stored, without being read or checked
    /// again.
    fn check(&self, name: &str, config: &BTreeMap<String, String>) -> Result<Prepared> {
        let origin = Origin::Rest(name.to_string());
        let parsed = ConnectorConfig::from_values(&origin, name, config.clone())
            .map_err(|e| ControlError::BadRequest(e.to_string()))?;
        self.supervisor()
            .prepare(parsed)
            .map_err(ControlError::BadRequest)
    }

    /// The config with its `name`, which must be the connector's if it is given.
    fn named(name: &str, mut config: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        ConnectorName::new(name).map_err(|e| ControlError::BadRequest(e.to_string()))?;
        if let Some(given) = config.get("name").filter(|given| *given != name) {
            return Err(ControlError::BadRequest(format!(
                "the config's `name` ({given}) differs from the connector's name ({name})"
            )));
        }
        config.insert("name".into(), name.to_string());
        Ok(config)
    }

    /// Creates a connector (Kafka Connect's `POST /connectors`).
    pub fn create(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
        initial: TargetState,
    ) -> Result<ConnectorInfo> {
        let config = Self::named(name, config)?;
        let _one_write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        if self.supervisor().known().contains_key(name) {
            return Err(ControlError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        let prepared = self.check(name, &config)?;
        if initial != TargetState::Started {
            self.configs.set_target(name, initial).map_err(internal)?;
        }
        self.configs.put_connector(name, config).map_err(internal)?;
        self.apply(Some(prepared));
        self.info(name)
    }

    /// Creates or replaces a connector's config (`PUT /connectors/{name}/config`); true if
    /// it was created.
    pub fn put_config(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo)> {
        let _one_write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        self.put_config_locked(name, config)
    }

    fn put_config_locked(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo)> {
        let created = match self.rest_owned(name) {
            Ok(_) => false,
            Err(ControlError::NotFound(_)) => true,
            Err(e) => return Err(e),
        };
        let config = Self::named(name, config)?;
        let prepared = self.check(name, &config)?;
        self.configs.put_connector(name, config).map_err(internal)?;
        self.apply(Some(prepared));
        Ok((created, self.info(name)?))
    }

    /// Changes some keys of a connector's config; a `None` value removes the key
    /// (`PATCH /connectors/{name}/config`).
    pub fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo> {
        let _one_write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut config = self.rest_owned(name)?.config;
        for (key, value) in patch {
            match value {
                Some(v) => config.insert(key, v),
                None => config.remove(&key),
            };
        }
        Ok(self.put_config_locked(name, config)?.1)
    }

    /// Deletes a REST-created connector; its stored offsets stay, as in Kafka Connect.
    pub fn delete(&self, name: &str) -> Result<()> {
        let _one_write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        self.rest_owned(name)?;
        self.configs.delete_connector(name).map_err(internal)?;
        self.apply(None);
        Ok(())
    }

    /// Pauses, resumes (STARTED) or stops a connector.
    pub fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        let _one_write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        self.known(name)?;
        self.configs.set_target(name, target).map_err(internal)?;
        self.apply(None);
        Ok(())
    }

    /// Restarts a connector's tasks (`POST /connectors/{name}/restart`): with
    /// `include_tasks`, every task (only the FAILED ones with `only_failed`); without, the
    /// connector alone, which in connectd has no state of its own to restart.
    /// Scaled out, the request goes to every worker of the group through `connectd-configs`,
    /// and each restarts the tasks it runs.
    pub fn restart(&self, name: &str, include_tasks: bool, only_failed: bool) -> Result<()> {
        self.known(name)?;
        if !include_tasks {
            return Ok(());
        }
        if self.settings.cluster.is_some() {
            self.configs
                .request_restart(name, None, only_failed)
                .map_err(internal)?;
            self.apply_restarts();
        } else {
            self.supervisor().restart(name, None, only_failed);
        }
        Ok(())
    }

    /// Restarts one task (`POST /connectors/{name}/tasks/{task}/restart`); scaled out, on
    /// whichever worker of the group runs it, as [`Control::restart`].
    pub fn restart_task(&self, name: &str, task: u32) -> Result<()> {
        let known = self.known(name)?;
        if task >= known.tasks_max {
            return Err(ControlError::NotFound(format!(
                "Task {name}-{task} not found (the connector has {} tasks)",
                known.tasks_max
            )));
        }
        let not_running = || {
            ControlError::Conflict(format!(
                "Connector {name} is not running (it is {:?}); resume it first",
                known.target
            ))
        };
        if self.settings.cluster.is_some() {
            if known.target != TargetState::Started {
                return Err(not_running());
            }
            self.configs
                .request_restart(name, Some(task), false)
                .map_err(internal)?;
            self.apply_restarts();
        } else if !self.supervisor().restart(name, Some(task), false) {
            return Err(not_running());
        }
        Ok(())
    }

    /// A connector's offsets as Kafka Connect's `GET /connectors/{name}/offsets` shows
    /// them: for a source, each source partition and its stored position (as JSON where the
    /// bytes are JSON, as a string otherwise); for a sink, each topic partition
    /// (`kafka_topic`, `kafka_partition`) and its committed `kafka_offset`.
    pub fn offsets(&self, name: &str) -> Result<Vec<(Value, Value)>> {
        let known = self.known(name)?;
        let connector =
            ConnectorName::new(name).map_err(|e| ControlError::NotFound(e.to_string()))?;
        if known.kind == Some(Kind::Sink) {
            let tps = self.sink_partitions(&known)?;
            let mut consumer = self
                .backend
                .consumer(Some(&format!("connect-{name}")))
                .map_err(internal)?;
            let committed = consumer.committed(&tps).map_err(internal)?;
            return Ok(tps
                .into_iter()
                .zip(committed)
                .filter_map(|(tp, c)| {
                    let c = c?;
                    Some((
                        json!({"kafka_topic": tp.topic, "kafka_partition": tp.partition}),
                        json!({"kafka_offset": c.0}),
                    ))
                })
                .collect());
        }
        Ok(self
            .offsets
            .resume(&connector)
            .into_iter()
            .map(|(p, pos)| (bytes_to_json(&p), bytes_to_json(&pos)))
            .collect())
    }

    /// Every partition of a sink's `topics`.
    fn sink_partitions(&self, known: &KnownConnector) -> Result<Vec<TopicPartition>> {
        let mut tps = Vec::new();
        let topics = known.config.get("topics").cloned().unwrap_or_default();
        for topic in topics.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let partitions = self
                .backend
                .admin()
                .partitions(topic)
                .map_err(internal)?
                .unwrap_or(0);
            tps.extend((0..partitions).map(|p| TopicPartition::new(topic, p)));
        }
        Ok(tps)
    }

    /// Alters (`Some`) or removes (`None`) a stopped connector's offsets, given as
    /// `offsets` shows them (KIP-875). With `None` for every partition: a reset.
    pub fn alter_offsets(&self, name: &str, changes: Vec<(Value, Option<Value>)>) -> Result<()> {
        // Under the write lock: a resume cannot start tasks while offsets are rewritten.
        let _one_write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let known = self.known(name)?;
        if known.target != TargetState::Stopped {
            return Err(ControlError::BadRequest(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified; `PUT /connectors/{name}/stop` first"
            )));
        }
        // STOPPED is the target at once; its tasks may still be storing their last offsets,
        // which would land after these. Wait for them (a task stuck in a call is given up
        // on after the wait timeout, as a stop is).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.supervisor().tasks_alive(name) {
            if std::time::Instant::now() >= deadline {
                return Err(ControlError::Conflict(format!(
                    "connector {name}'s tasks are still stopping; try again when its status shows them stopped"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let connector =
            ConnectorName::new(name).map_err(|e| ControlError::NotFound(e.to_string()))?;
        if known.kind == Some(Kind::Sink) {
            let mut commits = Vec::new();
            for (partition, offset) in changes {
                let topic = partition["kafka_topic"].as_str();
                let p = partition["kafka_partition"]
                    .as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .filter(|p| *p >= 0);
                let (Some(topic), Some(p)) = (topic, p) else {
                    return Err(ControlError::BadRequest(format!(
                        "sink partition {partition}: expected {{\"kafka_topic\": ..., \"kafka_partition\": <0 to {}>}}",
                        i32::MAX
                    )));
                };
                // A removed offset reads the partition from its start again.
                let at = match offset {
                    None => 0,
                    Some(o) => o["kafka_offset"]
                        .as_i64()
                        .filter(|o| *o >= 0)
                        .ok_or_else(|| {
                            ControlError::BadRequest(format!(
                                "sink offset {o}: expected {{\"kafka_offset\": <a number from 0>}}"
                            ))
                        })?,
                };
                commits.push((TopicPartition::new(topic, p), Offset(at)));
            }
            let mut consumer = self
                .backend
                .consumer(Some(&format!("connect-{name}")))
                .map_err(internal)?;
            return consumer.commit(&commits).map_err(internal);
        }
        let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = changes
            .into_iter()
            .map(|(p, o)| (json_to_bytes(&p), o.as_ref().map(json_to_bytes)))
            .collect();
        self.offsets.alter(&connector, &changes).map_err(internal)
    }

    /// Removes every offset of a stopped connector: it starts from the beginning.
    pub fn reset_offsets(&self, name: &str) -> Result<()> {
        let all = self.offsets(name)?;
        let changes = all.into_iter().map(|(p, _)| (p, None)).collect();
        self.alter_offsets(name, changes)
    }

    /// The topics a connector used since it started or since the last reset (KIP-558).
    pub fn topics(&self, name: &str) -> Result<Vec<String>> {
        self.known(name)?;
        Ok(self.status.active_topics(name))
    }

    /// Forgets the topics a connector used.
    pub fn reset_topics(&self, name: &str) -> Result<()> {
        self.known(name)?;
        self.status.reset_topics(name);
        Ok(())
    }

    /// Every loaded plugin.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.supervisor()
            .plugins()
            .iter()
            .map(|p| {
                let d = p.descriptor();
                PluginInfo {
                    class: d.name.clone(),
                    kind: kind_name(Some(d.kind)),
                    version: d.version.clone(),
                }
            })
            .collect()
    }

    /// A plugin's config schema (JSON Schema, as it describes itself).
    pub fn plugin_schema(&self, plugin: &str) -> Result<serde_json::Value> {
        let plugins = self.supervisor().plugins();
        let found = plugins
            .iter()
            .find(|p| p.descriptor().name == plugin)
            .ok_or_else(|| ControlError::NotFound(format!("Plugin {plugin} not found")))?;
        serde_json::from_str(&found.descriptor().config_schema)
            .map_err(|e| ControlError::Internal(format!("plugin {plugin}'s schema: {e}")))
    }

    /// Checks `config` against a plugin's schema: every key's problems, by key.
    pub fn validate(
        &self,
        plugin: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<Vec<validate::ConfigProblem>> {
        let plugins = self.supervisor().plugins();
        let found = plugins
            .iter()
            .find(|p| p.descriptor().name == plugin)
            .ok_or_else(|| ControlError::NotFound(format!("Plugin {plugin} not found")))?;
        let pairs: Vec<(String, String)> = config
            .iter()
            .filter(|(k, _)| !crate::connectors::config::is_worker_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let schema = &found.descriptor().config_schema;
        let mut problems = validate::check(schema, &pairs, "").map_err(ControlError::Internal)?;
        // Asked through the REST API: as a connector created there, references only in keys
        // the plugin marks secret.
        problems.extend(
            validate::references_outside_secrets(schema, &pairs, "")
                .map_err(ControlError::Internal)?,
        );
        problems.sort();
        problems.dedup();
        Ok(problems)
    }
}

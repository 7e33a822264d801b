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

use connectd_records::{ConnectorName, Kind};
use serde::Serialize;

use crate::configs::{ConfigStore, TargetState};
use crate::connector::{ConnectorConfig, SecretFiles};
use crate::offsets::SourceOffsets;
use crate::status::TaskStatus;
use crate::supervisor::{KnownConnector, Supervisor, rest_origin};
use crate::{WorkerSettings, validate};

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
    pub state: String,
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
    pub(crate) supervisor: Arc<Mutex<Supervisor>>,
    pub(crate) configs: Arc<ConfigStore>,
    pub(crate) offsets: Arc<SourceOffsets>,
    pub(crate) settings: WorkerSettings,
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

fn internal(e: crate::Error) -> ControlError {
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
        if let Some(file) = &known.file {
            return Err(ControlError::Conflict(format!(
                "Connector {name} is defined by the file {}; edit or remove that file instead",
                file.display()
            )));
        }
        Ok(known)
    }

    /// Applies what is stored now.
    fn apply(&self) {
        self.supervisor().reconcile();
    }

    /// The names of every connector.
    pub fn list(&self) -> Vec<String> {
        self.supervisor().known().keys().cloned().collect()
    }

    /// A connector's config, tasks and type.
    pub fn info(&self, name: &str) -> Result<ConnectorInfo> {
        let known = self.known(name)?;
        Ok(ConnectorInfo {
            name: name.to_string(),
            tasks: (0..known.tasks_max)
                .map(|task| TaskRef {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            kind: kind_name(known.kind),
            config: known.config,
        })
    }

    /// A connector's state and each task's.
    pub fn status(&self, name: &str) -> Result<ConnectorStatus> {
        let known = self.known(name)?;
        let all = self.supervisor().status();
        let state = |s: Option<&TaskStatus>| StateInfo {
            state: s.map_or("UNASSIGNED".to_string(), |s| s.state.clone()),
            worker_id: self.settings.worker_id.clone(),
            trace: s.and_then(|s| s.trace.clone()),
        };
        Ok(ConnectorStatus {
            name: name.to_string(),
            connector: state(all.get(name)),
            tasks: (0..known.tasks_max)
                .map(|id| TaskState {
                    id,
                    state: state(all.get(&format!("{name}/{id}"))),
                })
                .collect(),
            kind: kind_name(known.kind),
        })
    }

    /// Checks a config as the worker would run it: the worker's keys, then the plugin's
    /// schema and each transform's. The error lists every problem.
    fn check(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()> {
        let origin = rest_origin(&self.settings.connectors_dir, name);
        let secret_files = SecretFiles::new(&self.settings.secret_dirs);
        let parsed = ConnectorConfig::from_values(&origin, name, config.clone(), &secret_files)
            .map_err(|e| ControlError::BadRequest(e.to_string()))?;
        if parsed.name.as_str() != name {
            return Err(ControlError::BadRequest(format!(
                "the config's `name` ({}) differs from the connector's name ({name})",
                parsed.name
            )));
        }
        self.supervisor()
            .check(&origin, &parsed)
            .map_err(ControlError::BadRequest)
    }

    /// Creates a connector (Kafka Connect's `POST /connectors`).
    pub fn create(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
        initial: TargetState,
    ) -> Result<ConnectorInfo> {
        ConnectorName::new(name).map_err(|e| ControlError::BadRequest(e.to_string()))?;
        if self.supervisor().known().contains_key(name) {
            return Err(ControlError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        config.insert("name".into(), name.to_string());
        self.check(name, &config)?;
        if initial != TargetState::Started {
            self.configs.set_target(name, initial).map_err(internal)?;
        }
        self.configs.put_connector(name, config).map_err(internal)?;
        self.apply();
        self.info(name)
    }

    /// Creates or replaces a connector's config (`PUT /connectors/{name}/config`); true if
    /// it was created.
    pub fn put_config(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo)> {
        let created = match self.rest_owned(name) {
            Ok(_) => false,
            Err(ControlError::NotFound(_)) => true,
            Err(e) => return Err(e),
        };
        ConnectorName::new(name).map_err(|e| ControlError::BadRequest(e.to_string()))?;
        config.insert("name".into(), name.to_string());
        self.check(name, &config)?;
        self.configs.put_connector(name, config).map_err(internal)?;
        self.apply();
        Ok((created, self.info(name)?))
    }

    /// Changes some keys of a connector's config; a `None` value removes the key
    /// (`PATCH /connectors/{name}/config`).
    pub fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo> {
        let mut config = self.rest_owned(name)?.config;
        for (key, value) in patch {
            match value {
                Some(v) => config.insert(key, v),
                None => config.remove(&key),
            };
        }
        Ok(self.put_config(name, config)?.1)
    }

    /// Deletes a REST-created connector; its stored offsets stay, as in Kafka Connect.
    pub fn delete(&self, name: &str) -> Result<()> {
        self.rest_owned(name)?;
        self.configs.delete_connector(name).map_err(internal)?;
        self.apply();
        Ok(())
    }

    /// Pauses, resumes (STARTED) or stops a connector.
    pub fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        self.known(name)?;
        self.configs.set_target(name, target).map_err(internal)?;
        self.apply();
        Ok(())
    }

    /// Restarts a connector's tasks (`POST /connectors/{name}/restart`): with
    /// `include_tasks`, every task (only the FAILED ones with `only_failed`); without, the
    /// connector alone, which in connectd has no state of its own to restart.
    pub fn restart(&self, name: &str, include_tasks: bool, only_failed: bool) -> Result<()> {
        self.known(name)?;
        if include_tasks {
            self.supervisor().restart(name, None, only_failed);
        }
        Ok(())
    }

    /// Restarts one task (`POST /connectors/{name}/tasks/{task}/restart`).
    pub fn restart_task(&self, name: &str, task: u32) -> Result<()> {
        let known = self.known(name)?;
        if task >= known.tasks_max {
            return Err(ControlError::NotFound(format!(
                "Task {name}-{task} not found (the connector has {} tasks)",
                known.tasks_max
            )));
        }
        if !self.supervisor().restart(name, Some(task), false) {
            return Err(ControlError::Conflict(format!(
                "Connector {name} is not running (it is {:?}); resume it first",
                known.target
            )));
        }
        Ok(())
    }

    /// The stored source positions of a source connector, as Kafka Connect's
    /// `GET /connectors/{name}/offsets` gives them: each source partition and its position,
    /// as JSON where they are JSON and as strings otherwise.
    pub fn source_offsets(&self, name: &str) -> Result<Vec<(String, String)>> {
        let name = ConnectorName::new(name).map_err(|e| ControlError::NotFound(e.to_string()))?;
        self.known(name.as_str())?;
        Ok(self
            .offsets
            .resume(&name)
            .into_iter()
            .map(|(p, pos)| {
                (
                    String::from_utf8_lossy(&p).into_owned(),
                    String::from_utf8_lossy(&pos).into_owned(),
                )
            })
            .collect())
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
            .filter(|(k, _)| !crate::connector::WORKER_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        validate::check(&found.descriptor().config_schema, &pairs, "")
            .map_err(ControlError::Internal)
    }
}

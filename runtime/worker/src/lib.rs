//! The connectd worker: runs connectors (a plugin plus its config) as tasks.
//!
//! - Plugins are `plugin_dir/<name>.wasm` components, loaded through [`connectd_host`].
//! - Connectors are `connectors_dir/<name>.toml` files ([`connector`]).
//! - Source tasks poll their plugin and produce into topics through a [`backend::TopicBackend`];
//!   source offsets live in `connectd-offsets` ([`offsets`]), status in `connectd-status`
//!   ([`status`]).
//! - Capabilities come from the connector's own config schema: a property marked
//!   `"x-connectd-grant": "read-parent"` grants read-only access to the directory holding the
//!   path in that key (`"write-parent"`: read-write), at the same path, and nothing else;
//!   `"sql-url"` lets it open the database at the URL in that key (the host's `sql`);
//!   `"store-url"` the object store location in that key (the host's `object-store`).

pub mod backend;
mod cluster;
pub mod configs;
pub mod connector;
pub mod control;
mod errors;
pub mod metrics;
pub mod offsets;
mod sink;
mod source;
pub mod status;
mod supervisor;
mod task;
mod transforms;
pub mod validate;

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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use connectd_config::Grant;
use connectd_host::{Grants, Host, Limits};

use crate::backend::TopicBackend;
use crate::connector::ConnectorConfig;
use crate::offsets::SourceOffsets;
use crate::status::{Status, TaskStatus};

/// Errors from the worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connector file is wrong.
    #[error("{file}: {key}{reason}")]
    Config {
        /// The connector file.
        file: PathBuf,
        /// The key, formatted as "key `x`: " (empty for whole-file problems).
        key: String,
        /// What was expected.
        reason: String,
    },
    /// The topic backend failed.
    #[error("topic backend: {0}")]
    Backend(String),
    /// The plugin host failed.
    #[error(transparent)]
    Host(#[from] connectd_host::Error),
    /// Group membership could not start.
    #[error(transparent)]
    Cluster(#[from] connectd_cluster::Error),
    /// Disk I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn config(file: &Path, key: &str, reason: String) -> Self {
        Error::Config {
            file: file.to_path_buf(),
            key: if key.is_empty() {
                String::new()
            } else {
                format!("key `{key}`: ")
            },
            reason,
        }
    }
}

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

/// Result with the worker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where the worker finds plugins and connectors, and its task limits.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Folder of `.wasm` plugins.
    pub plugin_dir: PathBuf,
    /// Folder of connector `.toml` files.
    pub connectors_dir: PathBuf,
    /// Folder for the compiled-component cache.
    pub cache_dir: PathBuf,
    /// Limits every task runs under.
    pub limits: Limits,
    /// Directories `${file:}` references may read below (Kafka's
    /// `config.providers.file.param.allowed.paths`).
    pub secret_dirs: Vec<PathBuf>,
    /// How status names this worker (Kafka Connect's `worker_id`, its REST `host:port`).
    pub worker_id: String,
    /// Scaled out: the group this worker shares tasks with; `None`: it runs every task.
    pub cluster: Option<ClusterSettings>,
    /// The names of its internal topics.
    pub internal_topics: InternalTopics,
    /// The runtime the plugins' capabilities (SQL drivers, object stores) run on: the
    /// binary's, handed down to the host (see ARCHITECTURE.md).
    pub io: tokio::runtime::Handle,
}

pub use cluster::ClusterSettings;

/// A running worker: a supervisor that keeps the running tasks in line with `plugin_dir` and
/// `connectors_dir`, re-checked whenever either folder changes.
pub struct Worker {
    supervisor: Arc<Mutex<supervisor::Supervisor>>,
    control: control::Control,
    shutdown: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
    cluster: Option<cluster::Cluster>,
}

impl Worker {
    /// Loads plugins and connectors, starts every task, and watches both folders: a new or
    /// changed file applies live. A bad plugin or connector file is reported (log and status)
    /// and skipped; the rest run.
    pub fn start(settings: WorkerSettings, backend: Arc<dyn TopicBackend>) -> Result<Worker> {
        Self::start_with_builtins(settings, backend, Vec::new())
    }

    /// [`Worker::start`], with plugins given in code as well (e.g.
    /// [`connectd_host::Plugin::native_source`], to measure the WebAssembly overhead). A
    /// connector names one by the name given here.
    pub fn start_with_builtins(
        settings: WorkerSettings,
        backend: Arc<dyn TopicBackend>,
        builtins: Vec<(String, Arc<connectd_host::Plugin>)>,
    ) -> Result<Worker> {
        let host = Host::new(&settings.cache_dir, settings.io.clone())?;
        let follow = settings.cluster.is_some();
        let topics = &settings.internal_topics;
        let offsets = Arc::new(SourceOffsets::load(
            backend.clone(),
            &topics.offsets,
            follow,
        )?);
        let status = Arc::new(Status::new(
            backend.clone(),
            &topics.status,
            &settings.worker_id,
            follow,
        )?);
        let configs = Arc::new(configs::ConfigStore::load(
            backend.clone(),
            &topics.configs,
        )?);
        let mut sup = supervisor::Supervisor::new(
            settings.clone(),
            host,
            backend.clone(),
            offsets.clone(),
            status.clone(),
            configs.clone(),
        );
        for (name, plugin) in builtins {
            sup.add_builtin(&name, plugin);
        }
        sup.reconcile();
        let supervisor = Arc::new(Mutex::new(sup));
        let shutdown = Arc::new(AtomicBool::new(false));
        let watcher = supervisor::watch(&settings, supervisor.clone(), shutdown.clone())?;
        let cluster = match &settings.cluster {
            Some(c) => Some(cluster::Cluster::start(
                c,
                &settings.worker_id,
                supervisor.clone(),
                configs.clone(),
                status.clone(),
            )?),
            None => None,
        };
        Ok(Worker {
            control: control::Control {
                backend,
                supervisor: supervisor.clone(),
                status,
                configs,
                offsets,
                settings,
            },
            supervisor,
            shutdown,
            watcher: Some(watcher),
            cluster,
        })
    }

    /// A handle to manage connectors while the worker runs (the REST API's).
    pub fn control(&self) -> control::Control {
        self.control.clone()
    }

    /// Current status of every connector and task.
    pub fn status(&self) -> std::collections::BTreeMap<String, TaskStatus> {
        self.supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .status()
    }

    /// Stops watching and stops every task (each finishes its current call first).
    pub fn stop(mut self) {
        if let Some(mut c) = self.cluster.take() {
            c.leave();
        }
        self.shutdown.store(true, Ordering::Relaxed);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        self.supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop_all();
    }
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        context: format!("reading {}", dir.display()),
        source: e,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    Ok(files)
}

/// A `sqlite://` URL with a relative path made absolute against `base` (the connector file's
/// folder), its folder created; any other URL as it is.
fn sqlite_absolute(base: &Path, url: &str) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return url.to_string();
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with('/') || path.starts_with(':') {
        return url.to_string();
    }
    let absolute = std::path::absolute(base.join(rest)).unwrap_or_else(|_| base.join(rest));
    if let Some(parent) = std::path::absolute(base.join(path))
        .ok()
        .as_deref()
        .and_then(Path::parent)
    {
        let _ = std::fs::create_dir_all(parent);
    }
    format!("sqlite://{}", absolute.display())
}

/// A store location as the host opens it: URLs as they are, a local path (or `file://`
/// path) made absolute against the connector file's folder.
fn local_store_absolute(base: &Path, value: &str) -> String {
    if value.contains("://") && !value.starts_with("file://") {
        return value.to_string();
    }
    let path = value.strip_prefix("file://").unwrap_or(value);
    let absolute = std::path::absolute(base.join(path)).unwrap_or_else(|_| base.join(path));
    absolute.to_string_lossy().into_owned()
}

/// The capabilities a connector's own schema asks for, from its config values. Granted paths
/// that are relative are resolved against the connector file's folder (and passed to the
/// connector absolute), so a config works from any working directory.
fn grants_for(schema: &str, mut connector: ConnectorConfig) -> (ConnectorConfig, Grants) {
    let mut grants = Grants::default();
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(schema) else {
        return (connector, grants);
    };
    let grant_of = |spec: &serde_json::Value| {
        spec.get("x-connectd-grant")
            .and_then(|g| g.as_str())
            .map(|name| (name.to_string(), Grant::from_name(name)))
    };
    if let Some((_, Some(Grant::Stdout))) = grant_of(&schema) {
        grants.stdout = true;
    }
    let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
        return (connector, grants);
    };
    let base = connector
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for (key, spec) in properties {
        let (Some((name, kind)), Some(value)) = (grant_of(spec), connector.values.get(key)) else {
            continue;
        };
        if kind == Some(Grant::SqlUrl) {
            let url = sqlite_absolute(&base, value);
            connector.values.insert(key.clone(), url.clone());
            grants.sql_urls.push(url);
            continue;
        }
        if kind == Some(Grant::StoreUrl) {
            let url = local_store_absolute(&base, value);
            connector.values.insert(key.clone(), url.clone());
            grants.store_urls.push(url);
            continue;
        }
        let absolute = std::path::absolute(base.join(value)).unwrap_or_else(|_| base.join(value));
        connector
            .values
            .insert(key.clone(), absolute.to_string_lossy().into_owned());
        let Some(parent) = absolute.parent().filter(|p| !p.as_os_str().is_empty()) else {
            continue;
        };
        let entry = (parent.to_path_buf(), parent.to_string_lossy().into_owned());
        match kind {
            Some(Grant::ReadParent) => grants.read_dirs.push(entry),
            Some(Grant::WriteParent) => {
                // A sink's output folder may not exist yet; the grant needs it.
                if let Err(e) = std::fs::create_dir_all(parent) {
                    tracing::warn!(connector = %connector.name, dir = %parent.display(), error = %e, "cannot create granted directory");
                }
                grants.write_dirs.push(entry)
            }
            _ => {
                tracing::warn!(connector = %connector.name, key = %key, grant = %name, "unknown x-connectd-grant; granting nothing")
            }
        }
    }
    (connector, grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_urls_resolve_against_the_connector_folder() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        assert_eq!(
            sqlite_absolute(base, "sqlite://out/orders.db?mode=rwc"),
            format!("sqlite://{}/out/orders.db?mode=rwc", base.display())
        );
        assert!(
            base.join("out").is_dir(),
            "the database's folder is created"
        );
        for kept in [
            "sqlite:///var/lib/x.db",
            "sqlite://:memory:",
            "postgres://u@h/db",
        ] {
            assert_eq!(sqlite_absolute(base, kept), kept);
        }
    }
}

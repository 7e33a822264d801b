//! Keeps the running tasks in line with the two watched folders and the config store.
//!
//! [`Supervisor::reconcile`] is the one place that decides: it rescans `plugin_dir` (a new or
//! changed `.wasm` is loaded; a removed one unloads), `connectors_dir` (each valid file is a
//! connector that should run on its plugin's current version) and the REST-created connectors
//! and target states in `connectd-configs` ([`ConfigStore`]), then starts, restarts or stops
//! connectors so that what runs matches. The watcher thread calls it after every change, once
//! the folder has been quiet for a moment; the REST API calls it after every write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use connectd_host::{Host, Plugin};
use connectd_records::{Kind, TaskId};
use notify::Watcher;

use crate::backend::TopicBackend;
use crate::configs::{ConfigStore, TargetState};
use crate::connector::{ConnectorConfig, SecretFiles};
use crate::error::{Error, Result};
use crate::grants::grants_for;
use crate::offsets::SourceOffsets;
use crate::status::{State, Status, TaskStatus};
use crate::transforms::TransformSpec;
use crate::validate;
use crate::worker::WorkerSettings;
use crate::{sink, source};

mod scaled_out;

/// How long a folder must be quiet before a change is applied (editors write in steps).
const SETTLE: Duration = Duration::from_millis(300);

struct LoadedPlugin {
    /// File length and modification time when loaded.
    fingerprint: (u64, Option<SystemTime>),
    plugin: Arc<Plugin>,
    /// Bumped on every reload of this file.
    generation: u64,
}

struct RunningConnector {
    /// Its config as loaded (compared at each reconcile).
    config: ConnectorConfig,
    /// Its config as its tasks get it (granted paths made absolute).
    resolved: ConnectorConfig,
    /// The generation of its plugin, then of each transform's plugin.
    generations: Vec<u64>,
    /// What it runs with, to start a task again.
    plugin: Arc<Plugin>,
    grants: connectd_host::Grants,
    transforms: Vec<TransformSpec>,
    /// Each task's stop flag and thread (none if it could not start), by task id.
    tasks: Vec<(Arc<AtomicBool>, Option<JoinHandle<()>>)>,
}

/// A connector the worker knows of, running or not.
#[derive(Debug, Clone)]
pub struct KnownConnector {
    /// The file it comes from; `None` for a connector created through the REST API.
    pub file: Option<PathBuf>,
    /// Its config as written (`${...}` references unresolved); empty if it could not be read.
    pub config: BTreeMap<String, String>,
    /// Its plugin's kind, once the plugin is found.
    pub kind: Option<Kind>,
    /// Its `tasks.max`.
    pub tasks_max: u32,
    /// What it should be doing.
    pub target: TargetState,
}

/// A connector that should exist: (key, its file, its config as written, the validated
/// config or why it is not valid).
type Desired = (
    PathBuf,
    Option<PathBuf>,
    BTreeMap<String, String>,
    Result<ConnectorConfig>,
);

/// Where a REST-created connector's tasks are keyed and its errors are attributed (no file
/// exists there); relative paths in its config resolve against `connectors_dir`.
pub(crate) fn rest_origin(connectors_dir: &Path, name: &str) -> PathBuf {
    connectors_dir.join(format!("{name} (REST)"))
}

pub(crate) struct Supervisor {
    settings: WorkerSettings,
    host: Host,
    backend: Arc<dyn TopicBackend>,
    offsets: Arc<SourceOffsets>,
    status: Arc<Status>,
    configs: Arc<ConfigStore>,
    plugins: HashMap<PathBuf, LoadedPlugin>,
    /// Plugins given in code (native connectors for measurements), found after plugin_dir's.
    builtins: HashMap<PathBuf, LoadedPlugin>,
    running: HashMap<PathBuf, RunningConnector>,
    /// Every connector found at the last reconcile, by name.
    known: BTreeMap<String, KnownConnector>,
    next_generation: u64,
    /// Scaled out (`[cluster]`): the tasks the group gave this worker; `None`: this worker
    /// runs every task.
    assigned: Option<BTreeSet<TaskId>>,
    /// Scaled out: connectors this worker published from its files, by name.
    published: BTreeMap<String, PathBuf>,
}

fn fingerprint(path: &Path) -> (u64, Option<SystemTime>) {
    std::fs::metadata(path)
        .map(|m| (m.len(), m.modified().ok()))
        .unwrap_or((0, None))
}

impl Supervisor {
    pub(crate) fn new(
        settings: WorkerSettings,
        host: Host,
        backend: Arc<dyn TopicBackend>,
        offsets: Arc<SourceOffsets>,
        status: Arc<Status>,
        configs: Arc<ConfigStore>,
    ) -> Self {
        let settings_scaled_out = settings.cluster.is_some();
        Supervisor {
            settings,
            host,
            backend,
            offsets,
            status,
            configs,
            plugins: HashMap::new(),
            builtins: HashMap::new(),
            running: HashMap::new(),
            known: BTreeMap::new(),
            next_generation: 1,
            assigned: settings_scaled_out.then(BTreeSet::new),
            published: BTreeMap::new(),
        }
    }

    /// Every connector found at the last reconcile, by name.
    pub(crate) fn known(&self) -> &BTreeMap<String, KnownConnector> {
        &self.known
    }

    /// Every loaded plugin (plugin_dir's, then the built-in ones).
    pub(crate) fn plugins(&self) -> Vec<Arc<Plugin>> {
        let mut all: Vec<(&PathBuf, &LoadedPlugin)> = self.plugins.iter().collect();
        all.sort_by_key(|(path, _)| *path);
        all.into_iter()
            .chain(self.builtins.iter())
            .map(|(_, p)| p.plugin.clone())
            .collect()
    }

    /// Adds a plugin given in code under `name` (looked up like a `plugin_dir/<name>.wasm`).
    pub(crate) fn add_builtin(&mut self, name: &str, plugin: Arc<Plugin>) {
        self.builtins.insert(
            PathBuf::from(format!("<builtin>/{name}")),
            LoadedPlugin {
                fingerprint: (0, None),
                plugin,
                generation: self.next_generation,
            },
        );
        self.next_generation += 1;
    }

    pub(crate) fn status(&self) -> BTreeMap<String, TaskStatus> {
        self.status.snapshot()
    }

    fn failed(&self, name: impl AsRef<str>, plugin: &str, reason: String) {
        self.status.set_changed(
            name,
            None,
            TaskStatus {
                state: State::Failed,
                trace: Some(reason),
                plugin: plugin.to_string(),
                ..TaskStatus::default()
            },
        );
    }

    /// Applies the current contents of both folders.
    pub(crate) fn reconcile(&mut self) {
        self.reconcile_plugins();
        self.reconcile_connectors();
    }

    fn reconcile_plugins(&mut self) {
        let files = files_with_extension(&self.settings.plugin_dir, "wasm").unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot list plugin_dir");
            Vec::new()
        });
        self.plugins.retain(|path, _| {
            let keep = files.contains(path);
            if !keep {
                tracing::info!(plugin = %path.display(), "plugin removed");
            }
            keep
        });
        for file in files {
            let fp = fingerprint(&file);
            if self.plugins.get(&file).is_some_and(|p| p.fingerprint == fp) {
                continue;
            }
            let replacing = self.plugins.contains_key(&file);
            match self.host.load(&file) {
                Ok(plugin) => {
                    let d = plugin.descriptor();
                    tracing::info!(plugin = %file.display(), connector = %d.name, version = %d.version, kind = ?d.kind, replacing, "loaded plugin");
                    self.plugins.insert(
                        file,
                        LoadedPlugin {
                            fingerprint: fp,
                            plugin: Arc::new(plugin),
                            generation: self.next_generation,
                        },
                    );
                    self.next_generation += 1;
                }
                // A broken file leaves the previous version (if any) running.
                Err(e) => {
                    tracing::error!(error = %e, "plugin failed to load; keeping whatever version was loaded before")
                }
            }
        }
    }

    /// The plugin a connector names: its file stem in plugin_dir, or the name it describes
    /// itself with.
    fn find_plugin(&self, name: &str) -> Option<(&PathBuf, &LoadedPlugin)> {
        let all = || self.plugins.iter().chain(self.builtins.iter());
        let by_stem =
            all().find(|(path, _)| path.file_stem().and_then(|s| s.to_str()) == Some(name));
        by_stem.or_else(|| all().find(|(_, p)| p.plugin.descriptor().name == name))
    }

    fn reconcile_connectors(&mut self) {
        let files =
            files_with_extension(&self.settings.connectors_dir, "toml").unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot list connectors_dir");
                Vec::new()
            });
        let secret_files = SecretFiles::new(&self.settings.secret_dirs);
        let mut desired: Vec<Desired> = Vec::new();
        for file in files {
            let config = ConnectorConfig::load(&file, &secret_files);
            let raw = config.as_ref().map(|c| c.raw.clone()).unwrap_or_default();
            desired.push((file.clone(), Some(file), raw, config));
        }
        if self.assigned.is_some() {
            // Scaled out: the group runs what connectd-configs holds; files go there first.
            self.publish_files(&desired);
            desired.retain(|(_, _, _, c)| c.is_err());
        }
        let file_names: Vec<String> = desired
            .iter()
            .filter_map(|(_, _, _, c)| c.as_ref().ok().map(|c| c.name.to_string()))
            .collect();
        for (name, stored) in self.configs.connectors() {
            if file_names.contains(&name) {
                tracing::warn!(connector = %name, "a connector file has the name of a REST-created connector; the file's runs");
                continue;
            }
            let file = stored.file.map(PathBuf::from);
            let origin = file
                .clone()
                .unwrap_or_else(|| rest_origin(&self.settings.connectors_dir, &name));
            let raw = stored.properties;
            let config = ConnectorConfig::from_values(&origin, &name, raw.clone(), &secret_files);
            desired.push((origin, file, raw, config));
        }
        // Gone (file removed, connector deleted): stop their connectors.
        let gone: Vec<PathBuf> = self
            .running
            .keys()
            .filter(|p| !desired.iter().any(|(key, ..)| key == *p))
            .cloned()
            .collect();
        for path in gone {
            let name = self.running[&path].config.name.clone();
            self.stop_connector(&path);
            self.status.set(
                &name,
                None,
                TaskStatus {
                    state: State::Unassigned,
                    trace: Some(format!("{} was removed", path.display())),
                    plugin: String::new(),
                    ..TaskStatus::default()
                },
            );
        }
        let mut known = BTreeMap::new();
        for (key, file, raw, config) in desired {
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    let name = match &file {
                        Some(f) => f.file_stem().and_then(|s| s.to_str()).unwrap_or("?"),
                        None => key.file_name().and_then(|s| s.to_str()).unwrap_or("?"),
                    }
                    .trim_end_matches(" (REST)")
                    .to_string();
                    self.stop_connector(&key);
                    self.failed(&name, "", e.to_string());
                    known.insert(
                        name.clone(),
                        KnownConnector {
                            file,
                            config: raw,
                            kind: None,
                            tasks_max: 0,
                            target: self.configs.target(&name),
                        },
                    );
                    continue;
                }
            };
            let target = self.configs.target(config.name.as_str());
            let kind = self
                .find_plugin(&config.plugin)
                .map(|(_, p)| p.plugin.descriptor().kind);
            known.insert(
                config.name.to_string(),
                KnownConnector {
                    file,
                    config: raw,
                    kind,
                    tasks_max: config.tasks_max,
                    target,
                },
            );
            self.reconcile_one(&key, config, target);
        }
        self.known = known;
    }

    /// Starts, restarts or stops one valid connector so it runs as its config, its plugins
    /// and its target state say.
    fn reconcile_one(&mut self, key: &Path, config: ConnectorConfig, target: TargetState) {
        if target != TargetState::Started {
            self.stop_connector(key);
            let state = match target {
                TargetState::Paused => State::Paused,
                _ => State::Stopped,
            };
            let status = TaskStatus {
                state,
                trace: None,
                plugin: config.plugin.clone(),
                ..TaskStatus::default()
            };
            if self.runs(&config.name, 0) {
                self.status.set_changed(&config.name, None, status.clone());
            }
            for task in 0..config.tasks_max {
                if self.runs(&config.name, task) {
                    self.status
                        .set_changed(&config.name, Some(task), status.clone());
                }
            }
            return;
        }
        let Some((_, loaded)) = self.find_plugin(&config.plugin) else {
            let known: Vec<String> = self
                .plugins
                .values()
                .map(|p| p.plugin.descriptor().name.clone())
                .collect();
            let reason = format!(
                "{}: key `plugin`: no plugin {:?} in {} (available: {})",
                key.display(),
                config.plugin,
                self.settings.plugin_dir.display(),
                known.join(", ")
            );
            self.stop_connector(key);
            self.failed(&config.name, &config.plugin, reason);
            return;
        };
        let mut generations = vec![loaded.generation];
        let plugin = loaded.plugin.clone();
        let transforms = match self.transform_specs(key, &config) {
            Ok((specs, gens)) => {
                generations.extend(gens);
                specs
            }
            Err(reason) => {
                self.stop_connector(key);
                self.failed(&config.name, &config.plugin, reason);
                return;
            }
        };
        if let Some(r) = self.running.get(key)
            && r.config == config
            && r.generations == generations
        {
            return; // unchanged
        }
        if self.running.contains_key(key) {
            tracing::info!(connector = %config.name, "connector or a plugin it uses changed; restarting its tasks");
            self.stop_connector(key);
        }
        if let Err(reason) =
            self.start_connector(key, config.clone(), generations, plugin, transforms)
        {
            self.failed(&config.name, &config.plugin, reason);
        }
    }

    /// Checks a connector config as starting it would: its plugin exists and is a source or
    /// a sink, its transforms exist, and every key fits the schemas.
    pub(crate) fn check(&self, origin: &Path, config: &ConnectorConfig) -> Result<(), String> {
        let Some((_, loaded)) = self.find_plugin(&config.plugin) else {
            return Err(format!(
                "{}: key `plugin`: no plugin {:?} (GET /connector-plugins lists them)",
                origin.display(),
                config.plugin
            ));
        };
        if loaded.plugin.descriptor().kind == Kind::Transform {
            return Err(format!(
                "{}: key `plugin`: {:?} is a transform; name it in `transforms`",
                origin.display(),
                config.plugin
            ));
        }
        let (transforms, _) = self.transform_specs(origin, config)?;
        check_config(
            origin,
            config,
            &loaded.plugin,
            &transforms,
            &self.settings.internal_topics,
        )
    }

    /// The loaded plugins of a connector's transform chain, and their generations.
    fn transform_specs(
        &self,
        file: &Path,
        config: &ConnectorConfig,
    ) -> Result<(Vec<TransformSpec>, Vec<u64>), String> {
        let mut specs = Vec::new();
        let mut generations = Vec::new();
        for t in &config.transforms {
            let key = format!("transforms.{}.type", t.alias);
            let Some((_, loaded)) = self.find_plugin(&t.plugin) else {
                return Err(format!(
                    "{}: key `{key}`: no transform plugin {:?} in {}",
                    file.display(),
                    t.plugin,
                    self.settings.plugin_dir.display()
                ));
            };
            if loaded.plugin.descriptor().kind != Kind::Transform {
                return Err(format!(
                    "{}: key `{key}`: plugin {:?} is a {:?} connector, not a transform",
                    file.display(),
                    t.plugin,
                    loaded.plugin.descriptor().kind
                ));
            }
            specs.push(TransformSpec {
                config: t.clone(),
                plugin: loaded.plugin.clone(),
            });
            generations.push(loaded.generation);
        }
        Ok((specs, generations))
    }

    fn start_connector(
        &mut self,
        file: &Path,
        config: ConnectorConfig,
        generations: Vec<u64>,
        plugin: Arc<Plugin>,
        transforms: Vec<TransformSpec>,
    ) -> Result<(), String> {
        let kind = plugin.descriptor().kind;
        if kind == Kind::Transform {
            return Err(format!(
                "{}: plugin {:?} is a transform; name it in a connector's `transforms`, not as a connector",
                file.display(),
                config.plugin
            ));
        }
        check_config(
            file,
            &config,
            &plugin,
            &transforms,
            &self.settings.internal_topics,
        )?;
        let (connector, grants) = grants_for(&plugin.descriptor().config_schema, config.clone());
        if kind == Kind::Source
            && let Some(topic) = connector.values.get("topic")
        {
            // The topic exists from the start, even before the first record.
            self.backend
                .admin()
                .ensure_topic(topic, 1, &[])
                .map_err(|e| e.to_string())?;
        }
        if self.runs(&connector.name, 0) {
            self.status.set(
                &connector.name,
                None,
                TaskStatus::running(&connector.plugin),
            );
        }
        let mut running = RunningConnector {
            config,
            resolved: connector,
            generations,
            plugin,
            grants,
            transforms,
            tasks: Vec::new(),
        };
        for task_id in 0..running.config.tasks_max {
            if !self.runs(&running.config.name, task_id) {
                // Scaled out: another worker runs it (or nobody yet).
                running.tasks.push((Arc::new(AtomicBool::new(true)), None));
                continue;
            }
            let task = self.spawn_task(&running, task_id)?;
            running.tasks.push((task.0, Some(task.1)));
        }
        self.running.insert(file.to_path_buf(), running);
        Ok(())
    }

    /// Starts task `task_id` of a connector on a thread of its own.
    fn spawn_task(
        &self,
        running: &RunningConnector,
        task_id: u32,
    ) -> Result<(Arc<AtomicBool>, JoinHandle<()>), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let connector = &running.resolved;
        let run: Box<dyn FnOnce() + Send> = if running.plugin.descriptor().kind == Kind::Source {
            let ctx = source::SourceTaskContext {
                connector: connector.clone(),
                task_id,
                plugin: running.plugin.clone(),
                backend: self.backend.clone(),
                offsets: self.offsets.clone(),
                status: self.status.clone(),
                grants: running.grants.clone(),
                limits: self.settings.limits.clone(),
                transforms: running.transforms.clone(),
                stop: stop.clone(),
                internal_topics: self.settings.internal_topics.clone(),
            };
            Box::new(move || source::run(ctx))
        } else {
            let ctx = sink::SinkTaskContext {
                connector: connector.clone(),
                task_id,
                plugin: running.plugin.clone(),
                backend: self.backend.clone(),
                status: self.status.clone(),
                grants: running.grants.clone(),
                limits: self.settings.limits.clone(),
                transforms: running.transforms.clone(),
                stop: stop.clone(),
            };
            Box::new(move || sink::run(ctx))
        };
        let handle = std::thread::Builder::new()
            .name(format!("{}-{task_id}", connector.name))
            .spawn(run)
            .map_err(|e| format!("starting a task thread: {e}"))?;
        Ok((stop, handle))
    }

    /// Restarts the tasks of connector `name` (all, or only `task`; with `only_failed`, only
    /// those whose status is FAILED). Returns false if it is not running.
    pub(crate) fn restart(&mut self, name: &str, task: Option<u32>, only_failed: bool) -> bool {
        let Some(key) = self
            .running
            .iter()
            .find(|(_, r)| r.config.name.as_str() == name)
            .map(|(k, _)| k.clone())
        else {
            return false;
        };
        let status = self.status.snapshot();
        let mut running = self.running.remove(&key).expect("found above");
        let plugin = running.config.plugin.clone();
        let tasks = std::mem::take(&mut running.tasks);
        for (id, (stop, thread)) in tasks.into_iter().enumerate() {
            let id = id as u32;
            let failed = status
                .get(&format!("{name}/{id}"))
                .is_some_and(|s| s.state == State::Failed);
            if task.is_some_and(|t| t != id)
                || (only_failed && !failed)
                || !self.runs(&running.config.name, id)
            {
                running.tasks.push((stop, thread));
                continue;
            }
            stop.store(true, Ordering::Relaxed);
            if let Some(thread) = thread {
                let _ = thread.join();
            }
            let restarting = TaskStatus {
                state: State::Restarting,
                trace: None,
                plugin: plugin.clone(),
                ..TaskStatus::default()
            };
            self.status.set(name, Some(id), restarting);
            match self.spawn_task(&running, id) {
                Ok((stop, thread)) => running.tasks.push((stop, Some(thread))),
                Err(reason) => {
                    self.failed(name, &plugin, reason);
                    running.tasks.push((stop, None));
                }
            }
            tracing::info!(connector = name, task = id, "restarted task");
        }
        self.running.insert(key, running);
        true
    }

    /// Stops a connector's tasks and waits for them (each finishes its current call).
    fn stop_connector(&mut self, file: &Path) {
        if let Some(r) = self.running.remove(file) {
            for (stop, _) in &r.tasks {
                stop.store(true, Ordering::Relaxed);
            }
            for (_, t) in r.tasks {
                if let Some(t) = t {
                    let _ = t.join();
                }
            }
            tracing::info!(connector = %r.config.name, "stopped connector");
        }
    }

    pub(crate) fn stop_all(&mut self) {
        let files: Vec<PathBuf> = self.running.keys().cloned().collect();
        for f in files {
            self.stop_connector(&f);
        }
    }
}

/// Watches both folders (notify) and reconciles after each burst of changes.
pub(crate) fn watch(
    settings: &WorkerSettings,
    supervisor: Arc<Mutex<Supervisor>>,
    shutdown: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(|e| Error::Io {
        context: "starting the folder watcher".into(),
        source: std::io::Error::other(e),
    })?;
    for dir in [&settings.plugin_dir, &settings.connectors_dir] {
        watcher
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| Error::Io {
                context: format!("watching {}", dir.display()),
                source: std::io::Error::other(e),
            })?;
    }
    std::thread::Builder::new()
        .name("connectd-watch".into())
        .spawn(move || {
            let _watcher = watcher; // dropped (and unwatched) when the thread ends
            while !shutdown.load(Ordering::Relaxed) {
                if rx.recv_timeout(Duration::from_millis(200)).is_err() {
                    continue;
                }
                // Let the burst settle, then apply it once.
                while rx.recv_timeout(SETTLE).is_ok() {}
                if shutdown.load(Ordering::Relaxed) {
                    break;
                }
                supervisor
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reconcile();
            }
        })
        .map_err(|e| Error::Io {
            context: "starting the watcher thread".into(),
            source: e,
        })
}

/// Checks a connector's keys, and each transform's, against the config schema its plugin
/// describes ([`crate::validate`]), before any task opens. The error names the file and every
/// key that is wrong.
fn check_config(
    file: &Path,
    config: &ConnectorConfig,
    plugin: &Plugin,
    transforms: &[TransformSpec],
    internal: &crate::internal_topics::InternalTopics,
) -> Result<(), String> {
    if let Some(topic) = config
        .errors
        .dlq_topic
        .as_deref()
        .filter(|t| internal.contains(t))
    {
        return Err(format!(
            "{}: key `errors.deadletterqueue.topic.name`: {topic} is one of connectd's internal topics; choose another topic",
            file.display()
        ));
    }
    let schema_error =
        |plugin: &str, e: String| format!("{}: plugin {plugin:?}: {e}", file.display());
    let mut problems = validate::check(
        &plugin.descriptor().config_schema,
        &config.connector_pairs(),
        "",
    )
    .map_err(|e| schema_error(&config.plugin, e))?;
    for t in transforms {
        let prefix = format!("transforms.{}.", t.config.alias);
        problems.extend(
            validate::check(
                &t.plugin.descriptor().config_schema,
                &t.config.config,
                &prefix,
            )
            .map_err(|e| schema_error(&t.config.plugin, e))?,
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(validate::message(file, &problems))
    }
}

/// The files in `dir` ending in `.ext`, sorted.
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

//! Keeps the running tasks in line with the two watched folders.
//!
//! [`Supervisor::reconcile`] is the one place that decides: it rescans `plugin_dir` (a new or
//! changed `.wasm` is loaded; a removed one unloads) and `connectors_dir` (each valid file is
//! a connector that should run on its plugin's current version), then starts, restarts or
//! stops connectors so that what runs matches. The watcher thread calls it after every change,
//! once the folder has been quiet for a moment.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use connectd_host::{Host, Plugin};
use connectd_records::Kind;
use notify::Watcher;

use crate::backend::TopicBackend;
use crate::connector::{ConnectorConfig, SecretFiles};
use crate::offsets::SourceOffsets;
use crate::status::{Status, TaskStatus};
use crate::transforms::TransformSpec;
use crate::validate;
use crate::{Error, Result, WorkerSettings, files_with_extension, grants_for, sink, source};

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
    config: ConnectorConfig,
    /// The generation of its plugin, then of each transform's plugin.
    generations: Vec<u64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

pub(crate) struct Supervisor {
    settings: WorkerSettings,
    host: Host,
    backend: Arc<dyn TopicBackend>,
    offsets: Arc<SourceOffsets>,
    status: Arc<Status>,
    plugins: HashMap<PathBuf, LoadedPlugin>,
    /// Plugins given in code (native connectors for measurements), found after plugin_dir's.
    builtins: HashMap<PathBuf, LoadedPlugin>,
    running: HashMap<PathBuf, RunningConnector>,
    next_generation: u64,
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
    ) -> Self {
        Supervisor {
            settings,
            host,
            backend,
            offsets,
            status,
            plugins: HashMap::new(),
            builtins: HashMap::new(),
            running: HashMap::new(),
            next_generation: 1,
        }
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
                state: "FAILED".into(),
                trace: Some(reason),
                plugin: plugin.to_string(),
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
        // Removed files: stop their connectors.
        let gone: Vec<PathBuf> = self
            .running
            .keys()
            .filter(|p| !files.contains(p))
            .cloned()
            .collect();
        for path in gone {
            let name = self.running[&path].config.name.clone();
            self.stop_connector(&path);
            self.status.set(
                &name,
                None,
                TaskStatus {
                    state: "UNASSIGNED".into(),
                    trace: Some(format!("{} was removed", path.display())),
                    plugin: String::new(),
                },
            );
        }
        for file in files {
            let secret_files = SecretFiles::new(&self.settings.secret_dirs);
            let config = match ConnectorConfig::load(&file, &secret_files) {
                Ok(c) => c,
                Err(e) => {
                    let name = file
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("?")
                        .to_string();
                    self.stop_connector(&file);
                    self.failed(&name, "", e.to_string());
                    continue;
                }
            };
            let Some((_, loaded)) = self.find_plugin(&config.plugin) else {
                let known: Vec<String> = self
                    .plugins
                    .values()
                    .map(|p| p.plugin.descriptor().name.clone())
                    .collect();
                let reason = format!(
                    "{}: key `plugin`: no plugin {:?} in {} (available: {})",
                    file.display(),
                    config.plugin,
                    self.settings.plugin_dir.display(),
                    known.join(", ")
                );
                self.stop_connector(&file);
                self.failed(&config.name, &config.plugin, reason);
                continue;
            };
            let mut generations = vec![loaded.generation];
            let plugin = loaded.plugin.clone();
            let transforms = match self.transform_specs(&file, &config) {
                Ok((specs, gens)) => {
                    generations.extend(gens);
                    specs
                }
                Err(reason) => {
                    self.stop_connector(&file);
                    self.failed(&config.name, &config.plugin, reason);
                    continue;
                }
            };
            if let Some(r) = self.running.get(&file)
                && r.config == config
                && r.generations == generations
            {
                continue; // unchanged
            }
            if self.running.contains_key(&file) {
                tracing::info!(connector = %config.name, "connector or a plugin it uses changed; restarting its tasks");
                self.stop_connector(&file);
            }
            if let Err(reason) =
                self.start_connector(&file, config.clone(), generations, plugin, transforms)
            {
                self.failed(&config.name, &config.plugin, reason);
            }
        }
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
        check_config(file, &config, &plugin, &transforms)?;
        let (connector, grants) = grants_for(&plugin.descriptor().config_schema, config.clone());
        if kind == Kind::Source
            && let Some(topic) = connector.values.get("topic")
        {
            // Each task adopts the positions its records carry when it starts.
            self.backend
                .admin()
                .ensure_topic(topic, 1, &[])
                .map_err(|e| e.to_string())?;
        }
        self.status.set(
            &connector.name,
            None,
            TaskStatus::running(&connector.plugin),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for task_id in 0..connector.tasks_max {
            let run: Box<dyn FnOnce() + Send> = if kind == Kind::Source {
                let ctx = source::SourceTaskContext {
                    connector: connector.clone(),
                    task_id,
                    plugin: plugin.clone(),
                    backend: self.backend.clone(),
                    offsets: self.offsets.clone(),
                    status: self.status.clone(),
                    grants: grants.clone(),
                    limits: self.settings.limits.clone(),
                    transforms: transforms.clone(),
                    stop: stop.clone(),
                };
                Box::new(move || source::run(ctx))
            } else {
                let ctx = sink::SinkTaskContext {
                    connector: connector.clone(),
                    task_id,
                    plugin: plugin.clone(),
                    backend: self.backend.clone(),
                    status: self.status.clone(),
                    grants: grants.clone(),
                    limits: self.settings.limits.clone(),
                    transforms: transforms.clone(),
                    stop: stop.clone(),
                };
                Box::new(move || sink::run(ctx))
            };
            let handle = std::thread::Builder::new()
                .name(format!("{}-{task_id}", connector.name))
                .spawn(run)
                .map_err(|e| format!("starting a task thread: {e}"))?;
            threads.push(handle);
        }
        self.running.insert(
            file.to_path_buf(),
            RunningConnector {
                config,
                generations,
                stop,
                threads,
            },
        );
        Ok(())
    }

    /// Stops a connector's tasks and waits for them (each finishes its current call).
    fn stop_connector(&mut self, file: &Path) {
        if let Some(r) = self.running.remove(file) {
            r.stop.store(true, Ordering::Relaxed);
            for t in r.threads {
                let _ = t.join();
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
) -> Result<(), String> {
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

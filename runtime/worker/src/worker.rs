//! The worker: a supervisor that keeps the running tasks in line with `plugin_dir` and
//! `connectors_dir` (and, scaled out, the group's assignment), and the handle that stops it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use connectd_host::{Host, Limits};

use crate::backend::TopicBackend;
use crate::connectors::control;
use crate::error::Result;
use crate::scale_out::{self, ClusterSettings};
use crate::state::configs;
use crate::state::internal_topics::InternalTopics;
use crate::state::offsets::SourceOffsets;
use crate::state::status::{Status, TaskStatus};
use crate::supervisor;

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
    /// What connectors' `${env:}` and `${file:}` references may read.
    pub config_providers: crate::connectors::secrets::ConfigProviders,
    /// The folders a connector created through the REST API may name in granted paths.
    pub grant_allowed_paths: Vec<PathBuf>,
    /// What connectors' object-store options may name (endpoints, profiles, Hadoop settings).
    pub store_policy: Arc<connectd_host::StorePolicy>,
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

/// A running worker: a supervisor that keeps the running tasks in line with `plugin_dir` and
/// `connectors_dir`, re-checked whenever either folder changes.
pub struct Worker {
    supervisor: Arc<Mutex<supervisor::Supervisor>>,
    control: control::Control,
    shutdown: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
    cluster: Option<scale_out::Cluster>,
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
            Some(c) => Some(scale_out::Cluster::start(
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
                writes: Arc::default(),
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
        let threads = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop_all();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

//! Keeps the running tasks in line with the two watched folders and the config store.
//!
//! [`Supervisor::reconcile`] is the one place that decides: it rescans `plugin_dir`
//! ([`plugins`]: a new or changed `.wasm` is loaded; a removed one unloads), works out the
//! connectors that should exist ([`desired`]: each valid file in `connectors_dir`, and the
//! REST-created connectors and target states in `connectd-configs`), then starts, restarts or
//! stops connectors so that what runs matches ([`run`]). Connectors are keyed by name; each
//! knows its origin (a file, or the REST API). The watcher thread ([`watch`]) calls it after
//! every change, once the folder has been quiet for a moment; the REST API calls it after
//! every write. Scaled out, the group's assignment says which tasks run here
//! ([`scaled_out`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use connectd_host::Host;
use connectd_records::{ConnectorName, TaskId};

use crate::backend::TopicBackend;
use crate::state::configs::ConfigStore;
use crate::state::offsets::SourceOffsets;
use crate::state::status::{State, Status, TaskStatus};
use crate::worker::WorkerSettings;

mod desired;
mod plugins;
mod run;
mod scaled_out;
mod watch;

pub use desired::KnownConnector;
pub(crate) use run::Prepared;
pub(crate) use watch::watch;

pub(crate) struct Supervisor {
    settings: WorkerSettings,
    host: Host,
    backend: Arc<dyn TopicBackend>,
    offsets: Arc<SourceOffsets>,
    status: Arc<Status>,
    configs: Arc<ConfigStore>,
    plugins: HashMap<PathBuf, plugins::LoadedPlugin>,
    /// Plugins given in code (native connectors for measurements), found after plugin_dir's.
    builtins: HashMap<PathBuf, plugins::LoadedPlugin>,
    running: HashMap<ConnectorName, run::RunningConnector>,
    /// Threads of stopped tasks still finishing their current call, by connector and task:
    /// nothing under the supervisor's lock waits for them. A task started again under the
    /// same id waits for them on its own thread first; shutdown waits for all.
    retiring: Vec<(
        ConnectorName,
        u32,
        std::thread::JoinHandle<()>,
        run::ExitCell,
    )>,
    /// Each running task thread's last word ([`run::Exit`]), by connector and task.
    exits: HashMap<(ConnectorName, u32), run::ExitCell>,
    /// Configs the REST API checked and stored, started as they are at the next reconcile.
    accepted: HashMap<String, Prepared>,
    /// Every connector found at the last reconcile, by name.
    known: BTreeMap<String, KnownConnector>,
    next_generation: u64,
    /// Scaled out (`[cluster]`): the tasks the group gave this worker; `None`: this worker
    /// runs every task.
    assigned: Option<BTreeSet<TaskId>>,
    /// Scaled out: connectors this worker published from its files, by name.
    published: BTreeMap<String, PathBuf>,
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
            retiring: Vec::new(),
            exits: HashMap::new(),
            accepted: HashMap::new(),
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

    /// Applies the current contents of both folders and of the config store.
    pub(crate) fn reconcile(&mut self) {
        self.reconcile_plugins();
        self.reconcile_connectors();
    }

    /// Applies what is stored now, starting `prepared` (a config the REST API checked and
    /// has just stored) as it was checked.
    pub(crate) fn apply(&mut self, prepared: Option<Prepared>) {
        if let Some(p) = prepared {
            self.accepted.insert(p.config.name.to_string(), p);
        }
        self.reconcile();
    }
}
